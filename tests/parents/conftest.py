"""The parents tests' fixtures: the agent API's (a scripted model, the HTTP app, the agent API's client) for the
guardian's chat, and a module's own families' school (`grt`, its runtime, and `world`: tests/parents/world.py)."""

import pytest

from tests.agent.conftest import agent_settings, api_for, base_url, llm  # noqa: F401 (pytest fixtures)
from tests.conftest import own_runtime
from tests.parents.world import World, build_world


@pytest.fixture(scope="module")
async def grt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "parents", in_process_jobs=True, currency="AUD") as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def world(grt) -> World:
    return await build_world(grt)
