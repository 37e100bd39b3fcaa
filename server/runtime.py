"""The runtime as the entry points build it: with the job runner the settings ask for."""

from __future__ import annotations

from domain.kernel.settings import Settings
from tools.runtime import Runtime
from workers.runner import runner_for


def build_runtime(settings: Settings | None = None) -> Runtime:
    """Build a runtime from `settings` (the environment when not given) whose jobs run on arq when
    MCS_ERP_REDIS_URL is set, and as asyncio tasks of this process otherwise."""
    return Runtime.create(settings or Settings(), jobs=runner_for)
