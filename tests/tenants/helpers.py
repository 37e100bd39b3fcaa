"""Tenants for tests: a runtime on a fresh database with tenants created as `mcs-erp tenants create` does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from domain.identity.service import actor_for, get_user_by_username
from domain.kernel import tenants
from domain.kernel.actor import Actor, Channel
from server.cli import prepare_tenant
from tests.conftest import own_runtime
from tools.runtime import Runtime


async def add_tenant(runtime: Runtime, code: str, name: str | None = None) -> None:
    """Create tenant `code` as the CLI does: migrated, with its 'admin' user, then registered."""
    await prepare_tenant(runtime, code)
    with tenants.tenant_in_use(None):
        async with runtime.db.write() as session:
            await tenants.register_tenant(session, code=code, name=name or f"School {code}")


@asynccontextmanager
async def tenants_runtime(tmp_path_factory, name: str, codes: Sequence[str], **settings: Any
                          ) -> AsyncIterator[Runtime]:
    """A runtime on a fresh migrated database (the default tenant) holding the tenants `codes`."""
    async with own_runtime(tmp_path_factory, name, in_process_jobs=True, **settings) as runtime:
        for code in codes:
            await add_tenant(runtime, code)
        yield runtime


async def admin_of(runtime: Runtime, code: str | None, channel: Channel = Channel.CLI) -> Actor:
    """The 'admin' user of tenant `code` (None: the default tenant) as an Actor of that tenant."""
    with tenants.tenant_in_use(code):
        async with runtime.db.read() as session:
            user = await get_user_by_username(session, "admin")
            assert user is not None, code
            return actor_for(user, channel)
