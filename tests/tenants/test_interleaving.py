"""A property test: requests of three tenants and the default one interleaved over one small pool (pool_size=2),
with errors and cancellations in the middle of their transactions, and every read sees its own tenant's rows and
no other's.

Seeded random schedules (SEEDS x STEPS operations, run in concurrent batches): each operation picks a tenant and
one of: a read, a write (a new user named for its tenant), a write that fails after inserting (rolled back), a
read that fails (an unknown table), or a read or write cancelled while its unit of work is open (after its first
statement: SQLite's driver can lose a connection cancelled while the pool hands it out, which is not what this
tests). After each batch every tenant is read back: exactly its committed users, nothing of the rolled back or
cancelled ones, nothing of another tenant's."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import text
from sqlmodel import select

from domain.identity.models import User
from domain.kernel.db import Database
from domain.kernel.tenants import tenant_in_use
from tests.tenants.helpers import tenants_runtime

NAMED = ("t_one", "t_two", "t_three")
CODES = (None, *NAMED)  # the default tenant too: its reads must reset what a tenant's read set
SEEDS = (1, 2, 3)
STEPS = 60
BATCH = 6  # operations run at once: three times the pool's connections
OPERATIONS = ("read", "write", "failed_write", "failed_read", "cancelled_read", "cancelled_write")


@pytest.fixture(scope="module")
async def db(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "interleaving", NAMED) as runtime:
        small = Database(runtime.db.url, pool_size=2)
        try:
            yield small
        finally:
            await small.dispose()


class Cancelled(Exception):
    """The operation was cancelled as planned."""


async def seen_users(session) -> set[str]:
    stmt = select(User.username).where(User.username.like("p\\_%", escape="\\"))  # type: ignore[attr-defined]
    return set((await session.exec(stmt)).all())


async def run(db: Database, code: str | None, operation: str, name: str, committed: dict[str | None, set[str]],
              inside: asyncio.Event) -> None:
    """Run one operation of tenant `code`; `name` is the user a write adds. Reads check they see their own. A
    cancelled operation sets `inside` once its unit of work has run a statement, then waits to be cancelled: in a
    statement on PostgreSQL (pg_sleep), at an await on SQLite."""
    own_prefix = f"p_{code or 'default'}_"

    async def hold(session) -> None:
        inside.set()
        if db.is_sqlite:
            await asyncio.sleep(5)
        else:
            await session.exec(text("SELECT pg_sleep(5)"))  # type: ignore[call-overload]

    with tenant_in_use(code):
        if operation in ("read", "cancelled_read"):
            before = set(committed[code])
            async with db.read() as session:
                users = await seen_users(session)
                assert all(u.startswith(own_prefix) for u in users), (code, sorted(users))
                assert before <= users, (code, sorted(before - users))
                if operation == "cancelled_read":
                    await hold(session)
        elif operation == "failed_read":
            with pytest.raises(Exception, match="no_such_table"):
                async with db.read() as session:
                    await session.exec(text("SELECT * FROM no_such_table"))  # type: ignore[call-overload]
        else:
            async with db.write() as session:
                users = await seen_users(session)
                assert all(u.startswith(own_prefix) for u in users), (code, sorted(users))
                session.add(User(username=name, display_name=name, roles="viewer"))
                await session.flush()
                if operation == "failed_write":
                    raise ValueError("planned failure after the insert")
                if operation == "cancelled_write":
                    await hold(session)
            committed[code].add(name)


@pytest.mark.parametrize("seed", SEEDS)
async def test_interleaved_tenants_each_see_only_their_own(db, seed):
    rng = random.Random(seed)
    committed: dict[str | None, set[str]] = {code: set() for code in CODES}
    with_prefix = {code: f"p_{code or 'default'}_" for code in CODES}
    for code in CODES:  # start from what earlier seeds committed
        with tenant_in_use(code):
            async with db.read() as session:
                committed[code] = await seen_users(session)
    outcomes: dict[str, int] = {}
    for step in range(0, STEPS, BATCH):
        plan = [(rng.choice(CODES), rng.choice(OPERATIONS)) for _ in range(BATCH)]
        insides = [asyncio.Event() for _ in plan]
        tasks = [asyncio.create_task(run(db, code, operation, f"{with_prefix[code]}{seed}_{step + i}", committed,
                                         insides[i]))
                 for i, (code, operation) in enumerate(plan)]
        for task, inside, (_code, operation) in zip(tasks, insides, plan, strict=True):
            if operation.startswith("cancelled"):
                await asyncio.wait_for(inside.wait(), 30)
                await asyncio.sleep(rng.choice((0, 0.001, 0.01)))
                task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result, (code, operation) in zip(results, plan, strict=True):
            if isinstance(result, AssertionError):
                raise result
            if operation == "failed_write":
                assert isinstance(result, ValueError), (operation, result)
            elif operation.startswith("cancelled"):
                assert isinstance(result, asyncio.CancelledError), (operation, result)
            else:
                assert result is None, (code, operation, result)
            outcome = type(result).__name__ if result is not None else "ok"
            outcomes[f"{operation}:{outcome}"] = outcomes.get(f"{operation}:{outcome}", 0) + 1
        for code in CODES:  # each tenant: exactly its committed users, from either unit of work
            with tenant_in_use(code):
                async with db.read() as session:
                    read_back = await seen_users(session)
                async with db.write() as session:
                    assert await seen_users(session) == read_back
            assert read_back == committed[code], (code, sorted(read_back ^ committed[code]))
    assert outcomes.get("cancelled_read:CancelledError", 0) > 0, outcomes
    assert outcomes.get("cancelled_write:CancelledError", 0) > 0, outcomes
    assert outcomes.get("failed_write:ValueError", 0) > 0 and outcomes.get("write:ok", 0) > 0, outcomes
