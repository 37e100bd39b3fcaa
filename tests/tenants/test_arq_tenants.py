"""One arq worker runs the jobs of several tenants in turn, each in its own tenant: the queue message carries the
tenant, and jobs with the same id in two tenants are two arq jobs. Needs Redis (MCS_ERP_TEST_REDIS_URL, as
tests/workers/test_arq_worker.py; skipped locally when it is down)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from domain.identity.models import User
from domain.jobs import service as jobs
from domain.kernel.tenants import current_tenant, tenant_in_use
from tests.tenants.helpers import admin_of, tenants_runtime
from tests.workers.test_arq_worker import REDIS_URL, redis_up  # noqa: F401 (a fixture)
from tools.invoke import invoke
from workers.arq_worker import create_worker
from workers.handlers import register, unregister
from workers.runner import ArqRunner

QUEUE = f"mcs-erp-test:{uuid.uuid4().hex[:12]}"
CODES = ("alpha", "beta", "gamma")


@pytest.fixture(scope="module")
async def rt(tmp_path_factory, redis_up):  # noqa: F811
    async with tenants_runtime(tmp_path_factory, "arq-tenants", CODES, redis_url=REDIS_URL) as runtime:
        runtime.jobs = ArqRunner(REDIS_URL, queue_name=QUEUE)
        await runtime.jobs.start()
        yield runtime
        keys = [key async for key in redis_up.scan_iter(match=f"*{QUEUE}*")]
        if keys:
            await redis_up.delete(*keys)


async def test_a_worker_runs_each_tenants_jobs_in_that_tenant(rt):
    ran: list[str | None] = []

    async def probe(ctx, job_id, params):
        ran.append(current_tenant())
        async with ctx.runtime.db.read() as session:
            admins = (await session.exec(select(User.display_name).where(User.username == "admin"))).all()
        return {"tenant": current_tenant(), "params": params, "admins": len(admins)}

    register("tenant-probe")(probe)
    try:
        started: dict[str, int] = {}
        for code in CODES:
            admin = await admin_of(rt, code)
            with tenant_in_use(code):
                async with rt.db.write() as session:
                    job = await jobs.start_job(session, admin, kind="tenant-probe", params={"for": code},
                                               idempotency_key=None, enqueue=rt.jobs.enqueue)
                started[code] = job.id
        assert len(set(started.values())) == 1  # each tenant numbers its own jobs: the same id three times
        worker = create_worker(REDIS_URL, queue_name=QUEUE, burst=True, ctx={"runtime": rt}, handle_signals=False)
        try:
            await worker.main()
        finally:
            await worker.close()
        assert worker.jobs_complete == len(CODES) and sorted(ran) == sorted(CODES)
        for code in CODES:
            out = await invoke(rt, "get_job", {"job_id": started[code]}, await admin_of(rt, code))
            assert out.status == "succeeded" and out.result == {"tenant": code, "params": {"for": code},
                                                                 "admins": 1}, out
        # The default tenant has no such job: nothing ran there.
        async with rt.db.read() as session:
            assert await jobs.get_job(session, started["alpha"]) is None
    finally:
        unregister("tenant-probe")
