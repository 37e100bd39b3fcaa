"""Jobs through arq on a real Redis: a burst worker runs the export once, duplicates and restarts run it once.

Needs Redis at MCS_ERP_TEST_REDIS_URL (default redis://127.0.0.1:6379/0): skipped locally when it is down, a
failure when CI=true. Each run uses its own arq queue name (and job ids namespaced by it) so parallel runs
sharing a Redis do not see each other's jobs.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import update

from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.kernel.clock import utcnow
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from tests.conftest import IN_CI, drop_pg_database, fresh_database_url
from tests.factories import make_school, unique
from tools.invoke import invoke
from tools.runtime import Runtime
from workers.arq_worker import create_worker, run_job
from workers.handlers import register, unregister
from workers.runner import ArqRunner

REDIS_URL = os.environ.get("MCS_ERP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE = f"mcs-erp-test:{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
async def redis_up():
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield client
    keys = [key async for key in client.scan_iter(match=f"*{QUEUE}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture(scope="module")
async def rt(tmp_path_factory, redis_up):
    """A runtime on a database of its own whose jobs go to this run's arq queue. Not the session database: a
    worker recovers every orphaned job of its database, and the session database holds other tests' jobs."""
    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("arq"))
    runtime = Runtime.create(Settings(database_url=url, redis_url=REDIS_URL, key_cache_seconds=0),
                             jobs=lambda _rt: ArqRunner(REDIS_URL, queue_name=QUEUE))
    await migrate(runtime.db.write_engine)
    await runtime.start()
    yield runtime
    await runtime.close()
    if pg_name:
        await drop_pg_database(pg_name)


async def burst(rt):
    """Run every job of this run's queue in an in-process burst worker; return the worker (for its counters)."""
    worker = create_worker(REDIS_URL, queue_name=QUEUE, burst=True, ctx={"runtime": rt}, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


async def get(rt, actor, job_id):
    return await invoke(rt, "get_job", {"job_id": job_id}, actor)


async def test_export_runs_once_on_a_burst_worker(rt):
    assert isinstance(rt.jobs, ArqRunner)
    school = await make_school(rt, students=2)
    await invoke(rt, "record_grade", {"assessment_id": school.assessment_id, "student_id": school.student_ids[0],
                                      "score": 90}, school.teacher)
    job = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                       school.registrar)
    assert job.status == "queued"  # nothing runs in this process with arq
    worker = await burst(rt)
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0
    done = await get(rt, school.registrar, job.job_id)
    assert done.status == "succeeded", done.error
    assert done.attempts == 1 and done.result["rows"] == 4
    assert done.result["csv"].splitlines()[0] == "class_code,student_code,student_name,percentage,letter"

    # The same id again, directly and through Redis: nothing runs twice.
    ctx = {"runtime": rt}
    assert await run_job(ctx, job.job_id) == "skipped"
    assert await run_job(ctx, job.job_id) == "skipped"
    await rt.jobs.enqueue(job.job_id)  # arq keeps the result under the same _job_id: refused
    again = await burst(rt)
    assert again.jobs_complete == 0
    after = await get(rt, school.registrar, job.job_id)
    assert after.attempts == 1 and after.finished_at == done.finished_at


async def test_a_job_left_running_by_a_dead_worker_is_finished_once(rt):
    school = await make_school(rt, students=1)
    runs = []
    kind = unique("test_count_").lower()

    @register(kind)
    async def handler(ctx, job_id, params):
        runs.append((job_id, ctx.attempt))
        await ctx.progress(0.5, "half way")
        return {"value": params["n"] * 2}

    try:
        async with rt.db.write() as s:
            job = await jobs.create_job(s, school.registrar, kind=kind, params={"n": 21})
            job_id = job.id
        async with rt.db.write() as s:  # a worker claimed it, then was killed: the row stays running, silent
            await jobs.mark_running(s, job_id=job_id)
            await s.exec(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - timedelta(hours=1)))
        killed = await get(rt, school.registrar, job_id)
        assert killed.status == "running" and killed.attempts == 1
        await rt.jobs.enqueue(job_id)
        await rt.jobs.enqueue(job_id)  # a duplicate delivery is refused by its _job_id
        worker = await burst(rt)
        assert worker.jobs_complete == 1
        done = await get(rt, school.registrar, job_id)
        assert done.status == "succeeded" and done.result == {"value": 42}
        assert done.attempts == 2 and runs == [(job_id, 2)]
        assert await run_job({"runtime": rt}, job_id) == "skipped" and len(runs) == 1
    finally:
        unregister(kind)


async def test_a_cancelled_queued_job_does_not_run_on_the_worker(rt):
    school = await make_school(rt, students=1)
    job = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id},
                       school.registrar)
    assert (await invoke(rt, "cancel_job", {"job_id": job.job_id}, school.registrar)).status == "cancelled"
    worker = await burst(rt)
    assert worker.jobs_complete == 1  # delivered, and returned "skipped" at once
    done = await get(rt, school.registrar, job.job_id)
    assert done.status == "cancelled" and done.attempts == 0 and done.result is None


async def test_a_worker_enqueues_a_job_whose_enqueue_was_lost(rt):
    school = await make_school(rt, students=1)
    kind = unique("test_lost_").lower()
    runs = []

    @register(kind)
    async def handler(ctx, job_id, params):
        runs.append(job_id)
        return {"ok": True}

    try:
        async with rt.db.write() as s:  # committed, then the server died before enqueueing it
            job = await jobs.create_job(s, school.registrar, kind=kind, params={})
            job.created_at = utcnow() - timedelta(hours=1)
            s.add(job)
            job_id = job.id
        worker = await burst(rt)
        assert worker.jobs_complete == 1 and runs == [job_id]
        done = await get(rt, school.registrar, job_id)
        assert done.status == "succeeded" and done.attempts == 1
        again = await burst(rt)  # handed back once: nothing left to recover
        assert again.jobs_complete == 0 and runs == [job_id]
    finally:
        unregister(kind)
