"""After-commit hooks of the unit of work (domain/kernel/db.py `after_commit`) on a real database: a hook runs
once its transaction committed, in registration order, never after a rollback (of the unit of work or of the
savepoint it was registered in), and a hook that raises leaves the commit in place."""

from __future__ import annotations

import pytest
from sqlmodel import select

from domain.jobs.models import Job
from domain.kernel.db import after_commit
from tests.factories import unique


async def _job_kinds(runtime, kind: str) -> list[str]:
    async with runtime.db.read() as session:
        return [job.kind for job in (await session.exec(select(Job).where(Job.kind == kind))).all()]


async def test_hooks_run_after_the_commit_in_order(runtime):
    kind = unique("hook")
    ran: list[tuple[str, list[str]]] = []

    def hook(name: str):
        async def run() -> None:  # what another process would see: the row must already be committed
            ran.append((name, await _job_kinds(runtime, kind)))
        return run

    async with runtime.db.write() as session:
        session.add(Job(kind=kind))
        await session.flush()
        after_commit(session, hook("first"))
        after_commit(session, hook("second"))
        assert ran == []  # nothing runs before the commit
    assert ran == [("first", [kind]), ("second", [kind])]


async def test_no_hook_runs_after_a_rollback(runtime):
    kind = unique("hook")
    ran: list[str] = []

    async def hook() -> None:
        ran.append("ran")

    with pytest.raises(RuntimeError, match="boom"):
        async with runtime.db.write() as session:
            session.add(Job(kind=kind))
            await session.flush()
            after_commit(session, hook)
            raise RuntimeError("boom")
    assert ran == [] and await _job_kinds(runtime, kind) == []


async def test_a_hook_of_a_rolled_back_savepoint_never_runs(runtime):
    kind = unique("hook")
    ran: list[str] = []

    def hook(name: str):
        async def run() -> None:
            ran.append(name)
        return run

    async with runtime.db.write() as session:
        after_commit(session, hook("outer"))
        with pytest.raises(RuntimeError):
            async with session.begin_nested():
                session.add(Job(kind=kind))
                await session.flush()
                after_commit(session, hook("rolled back"))
                raise RuntimeError("undo the savepoint")
        async with session.begin_nested():
            after_commit(session, hook("released"))
    assert ran == ["outer", "released"] and await _job_kinds(runtime, kind) == []


async def test_a_raising_hook_keeps_the_commit_and_the_later_hooks(runtime):
    kind = unique("hook")
    ran: list[str] = []

    async def refuse() -> None:
        raise LookupError("refused after the commit")

    async def later() -> None:
        ran.append("later")

    with pytest.raises(LookupError, match="refused after the commit"):
        async with runtime.db.write() as session:
            session.add(Job(kind=kind))
            await session.flush()
            after_commit(session, refuse)
            after_commit(session, later)
    assert ran == ["later"]
    assert await _job_kinds(runtime, kind) == [kind]


async def test_a_read_unit_of_work_refuses_hooks(runtime):
    async def hook() -> None:
        raise AssertionError("never runs")

    async with runtime.db.read() as session:
        await session.exec(select(Job).limit(1))
        with pytest.raises(ValueError, match="read unit of work never commits"):
            after_commit(session, hook)
