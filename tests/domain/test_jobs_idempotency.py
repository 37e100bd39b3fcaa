"""A job's idempotency key under concurrency: two requests with one key at the same time get one job (the
jobs issue: a repeated key returns the job it created; issue 19: writes keep their promises under load)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, text
from sqlmodel import select

from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.kernel.errors import Conflict
from tests.conftest import own_runtime
from tests.factories import make_user

WAIT_S = 30  # every wait here is bounded
KIND = "export_term_grades"


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "jobs-idempotency") as runtime:
        yield runtime


async def create(rt, actor, key: str, params: dict) -> Job:
    async with rt.db.write() as s:
        return await jobs.create_job(s, actor, kind=KIND, params=params, idempotency_key=key)


async def lock_waiters(rt) -> int:
    async with rt.db.read() as s:
        return int((await s.exec(text(  # type: ignore[call-overload]
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"))).one()[0])


async def jobs_with_key(rt, key: str) -> int:
    async with rt.db.read() as s:
        return int((await s.exec(select(func.count()).select_from(Job).where(Job.idempotency_key == key))).one())


async def test_requests_racing_with_one_key_get_the_job_that_won(rt):
    async with rt.db.write() as s:
        actor = await make_user(s, roles="registrar")
    params = {"term_id": 1, "section_id": 2}
    if rt.db.dialect == "postgresql":
        # A first request holds its new job uncommitted until two more with the same key are queued on the key's
        # UNIQUE index (both checked the key before it was committed): the race, made certain.
        async with rt.db.write() as s:
            held = await jobs.create_job(s, actor, kind=KIND, params=params, idempotency_key="race-1")
            racing = [asyncio.create_task(create(rt, actor, "race-1", params)) for _ in range(2)]
            async with asyncio.timeout(WAIT_S):
                while await lock_waiters(rt) < 2:
                    await asyncio.sleep(0.02)
        async with asyncio.timeout(WAIT_S):
            answers = await asyncio.gather(*racing)
        assert [a.id for a in answers] == [held.id, held.id]
    else:  # SQLite: writers queue on BEGIN IMMEDIATE
        async with asyncio.timeout(WAIT_S):
            answers = await asyncio.gather(*(create(rt, actor, "race-1", params) for _ in range(3)))
        assert len({a.id for a in answers}) == 1
    assert await jobs_with_key(rt, "race-1") == 1


async def test_a_racing_request_with_other_arguments_is_refused_with_conflict(rt):
    async with rt.db.write() as s:
        actor = await make_user(s, roles="registrar")
    if rt.db.dialect == "postgresql":
        async with rt.db.write() as s:
            await jobs.create_job(s, actor, kind=KIND, params={"term_id": 1}, idempotency_key="race-2")
            racing = asyncio.create_task(create(rt, actor, "race-2", {"term_id": 9}))
            async with asyncio.timeout(WAIT_S):
                while await lock_waiters(rt) < 1:
                    await asyncio.sleep(0.02)
    else:
        await create(rt, actor, "race-2", {"term_id": 1})
        racing = asyncio.create_task(create(rt, actor, "race-2", {"term_id": 9}))
    with pytest.raises(Conflict, match="with other arguments"):
        async with asyncio.timeout(WAIT_S):
            await racing
    assert await jobs_with_key(rt, "race-2") == 1
