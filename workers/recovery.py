"""Orphaned jobs: a job whose process died (a killed worker, a crashed server) is handed to a worker again.

A running job stamps `heartbeat_at` every `job_heartbeat_seconds` (workers/execute.py); a job silent for
ORPHAN_AFTER_BEATS heartbeats, or queued that long without being claimed, is orphaned. arq keeps a killed
worker's claim (its in-progress key) for the job timeout, so the recovery deletes that claim and the next poll of
any worker runs the job again; `mark_running` counts the attempt and handlers are idempotent, so the job ends
once. The in-process runner, with no Redis, simply starts the job again in its own process.

An agent run has someone waiting on it (a stream, a chat client): when its job stays silent for LOST_AFTER_BEATS
heartbeats, twice the time after which a live worker takes it over, no worker did, and whoever follows the run
closes it and its job as failed (`lost_before`, domain/agent/service.py `reconcile`) rather than wait for a
worker that may never come.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from domain.jobs import service as jobs
from domain.kernel.clock import utcnow
from domain.kernel.settings import Settings
from domain.kernel.tenants import current_tenant
from tools.runtime import Runtime
from workers.tenancy import served_tenants, tenants_with

if TYPE_CHECKING:  # arq (with redis) is imported where a queue is used: an embedded server has none
    from arq.connections import ArqRedis

log = logging.getLogger(__name__)
ORPHAN_AFTER_BEATS = 3
LOST_AFTER_BEATS = 2 * ORPHAN_AFTER_BEATS  # an agent run whose job is silent this long has lost its worker for good
RUN_JOB = "run_job"  # the arq function name (workers/arq_worker.py)


def arq_job_id(queue_name: str, job_id: int, tenant: str | None = None) -> str:
    """The arq job id of job `job_id` of `tenant` (None: the default tenant): namespaced by queue and tenant, so
    two databases or two tenants sharing a Redis do not collide."""
    return f"{queue_name}:job-{job_id}" if tenant is None else f"{queue_name}:{tenant}:job-{job_id}"


def lost_before(settings: Settings, now: datetime | None = None) -> datetime:
    """The time before which a running job's last heartbeat means its worker is lost for good (LOST_AFTER_BEATS
    heartbeats of `job_heartbeat_seconds` ago)."""
    return (now or utcnow()) - timedelta(seconds=LOST_AFTER_BEATS * settings.job_heartbeat_seconds)


UNFINISHED = "status IN ('queued', 'running') AND deleted_at IS NULL"  # a job that may be orphaned (its index: status)


async def tenants_with_unfinished_jobs(runtime: Runtime) -> list[str | None]:
    """The tenants this process serves (workers.tenancy.served_tenants) with a queued or running job: the only ones
    a recovery round looks into (workers.tenancy.tenants_with: one statement per cluster on PostgreSQL)."""
    return await tenants_with(runtime, await served_tenants(runtime), "jobs", UNFINISHED)


async def orphaned_job_ids(runtime: Runtime) -> list[int]:
    """Return the ids of the jobs silent (or unclaimed) for ORPHAN_AFTER_BEATS heartbeats."""
    window = ORPHAN_AFTER_BEATS * runtime.settings.job_heartbeat_seconds
    async with runtime.db.read() as session:
        return [job.id for job in await jobs.orphaned_jobs(session, silent_for_s=window) if job.id is not None]


async def requeue_on_arq(runtime: Runtime, redis: ArqRedis, queue_name: str, *,
                         running_here: frozenset[int] = frozenset()) -> list[int]:
    """Make every orphaned job of the context's tenant runnable again on `queue_name`; return their ids. Jobs in
    `running_here` (this process runs them) are never handed back, whatever their heartbeat says.

    A job still in arq's queue loses its dead worker's claim; a job arq no longer knows (lost enqueue, expired)
    is enqueued again under its own arq id.
    """
    from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix

    tenant = current_tenant()  # the jobs, arq ids and messages of the context's tenant
    args = () if tenant is None else (tenant,)
    ids = [i for i in await orphaned_job_ids(runtime) if i not in running_here]
    for job_id in ids:
        arq_id = arq_job_id(queue_name, job_id, tenant)
        if await redis.zscore(queue_name, arq_id) is not None:
            await redis.delete(in_progress_key_prefix + arq_id)
        else:
            await redis.delete(result_key_prefix + arq_id, job_key_prefix + arq_id)
            await redis.enqueue_job(RUN_JOB, job_id, *args, _job_id=arq_id, _queue_name=queue_name)
    return ids


async def recovery_loop(every_s: float, recover: Callable[[], Awaitable[list[int]]], *,
                        first_after_s: float = 0.0) -> None:
    """Run `recover()` after `first_after_s`, then every `every_s` seconds until cancelled, logging what it
    handed back; a failed round is logged and retried."""
    await asyncio.sleep(first_after_s)
    while True:
        try:
            ids = await recover()
            if ids:
                log.warning("jobs %s had lost their process; they run again", ids)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("orphaned-job recovery failed; retrying in %ss", every_s)
        await asyncio.sleep(every_s)
