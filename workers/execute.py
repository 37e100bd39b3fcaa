"""Run one job by id: the single code path of both runners (in-process tasks and arq workers)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import timedelta

from domain.jobs import service as jobs
from domain.jobs.errors import JobCancelled
from domain.kernel.clock import utcnow
from domain.kernel.errors import DomainError, NotFound, ServiceUnavailable
from domain.kernel.tenants import TenantSuspended, current_tenant, tenant_in_use
from tools.runtime import Runtime
from workers.handlers import JobContext, get_handler
from workers.recovery import ORPHAN_AFTER_BEATS

log = logging.getLogger(__name__)
_RUNNING_HERE: set[tuple[str, str | None, int]] = set()  # (database URL, tenant, job id) of the jobs run here


def process_identity(role: str) -> str:
    """Name this process for `jobs.worker`: "ROLE:HOST:PID", e.g. "worker:app-2:4121" for an arq worker or
    "server:app-1:88" for a server running jobs in-process (the host name is cut so the pid always fits)."""
    return f"{role}:{socket.gethostname()[:80]}:{os.getpid()}"


def running_here(runtime: Runtime) -> frozenset[int]:
    """The ids of the jobs of `runtime`'s database, in the tenant of the context, this process is executing now;
    recovery never hands these back, whatever their heartbeat says (a busy event loop can delay a beat)."""
    tenant = current_tenant()
    return frozenset(job_id for url, of, job_id in _RUNNING_HERE if url == runtime.db.url and of == tenant)


async def execute_job(runtime: Runtime, job_id: int, *, worker: str | None = None,
                      tenant: str | None = None) -> str:
    """Run job `job_id` of `tenant` (None: the default tenant) once, every unit of work of it in that tenant, and
    return its outcome: succeeded, failed, cancelled, interrupted or skipped. A job of a suspended tenant fails
    with the reason; one of a tenant not registered is skipped.

    `worker` names this process in the job's row (`process_identity`; default "process:HOST:PID").

    Idempotent: a job already final (or unknown) is skipped, and so is a running one whose heartbeat shows its
    process alive; a queued job whose cancellation was requested is closed as cancelled without running. A DomainError from the handler fails the job with its message; any
    other exception fails it with a reference to the log. If the task itself is cancelled (shutdown), or the handler
    loses the database or Redis (ServiceUnavailable: returns "interrupted"), the job is left running, so the next
    run of this id (recovery, once its heartbeat is old) starts it again.
    """
    key = (runtime.db.url, tenant, job_id)
    if key in _RUNNING_HERE:
        return "skipped"  # arq delivered it again while this process runs it
    _RUNNING_HERE.add(key)  # before the first await: recovery in this process must never hand it back
    try:
        with tenant_in_use(tenant):  # the heartbeat task and whatever the handler spawns inherit it
            if tenant is not None:
                try:
                    await runtime.check_tenant(tenant)
                except TenantSuspended as exc:  # the job fails with the reason; started again after resume
                    await _fail(runtime, job_id, f"{exc.message}; start the job again once it is resumed")
                    return "failed"
                except NotFound:  # no such tenant (any more): there is no job row to record anything in
                    log.warning("job %s names tenant %r, which is not registered; skipped", job_id, tenant)
                    return "skipped"
            return await _execute(runtime, job_id, worker or process_identity("process"))
    finally:
        _RUNNING_HERE.discard(key)


async def _execute(runtime: Runtime, job_id: int, worker: str) -> str:
    # The job's handler module is imported (its first time in this process) after the claim, by get_handler(kind)
    # below: one module, whose heavy libraries load where they are used, so the claim's heartbeat stays fresh.
    # arq workers import every handler at startup (workers/arq_worker.py).
    async with runtime.db.write() as session:
        alive_after = utcnow() - timedelta(seconds=ORPHAN_AFTER_BEATS * runtime.settings.job_heartbeat_seconds)
        job = await jobs.mark_running(session, job_id=job_id, alive_after=alive_after, worker=worker)
        claimed = None if job is None else (job.kind, jobs.params_of(job), job.attempts)
    if claimed is None:
        return "skipped"
    kind, params, attempt = claimed
    handler = get_handler(kind)
    if handler is None:
        await _fail(runtime, job_id, f"no handler for job kind {kind!r} in this worker; is it up to date?")
        return "failed"
    beat = asyncio.create_task(_heartbeat(runtime, job_id), name=f"mcs-erp-heartbeat-{job_id}")
    try:
        result = await handler(JobContext(runtime, job_id, attempt), job_id, params)
    except JobCancelled:
        async with runtime.db.write() as session:
            await jobs.mark_cancelled(session, job_id=job_id)
        return "cancelled"
    except asyncio.CancelledError:
        raise
    except ServiceUnavailable as exc:  # not the job's fault: it stays running, and recovery runs it again
        log.warning("job %s (%s) interrupted: %s; it runs again once its heartbeat is %s beats old", job_id, kind,
                    exc.message, ORPHAN_AFTER_BEATS)
        return "interrupted"
    except DomainError as exc:
        await _fail(runtime, job_id, exc.message)
        return "failed"
    except Exception:
        ref = uuid.uuid4().hex[:12]
        log.exception("job %s (%s) failed unexpectedly (ref %s)", job_id, kind, ref)
        await _fail(runtime, job_id, f"the job failed unexpectedly (reference {ref}); report the reference to "
                                     "the administrator")
        return "failed"
    finally:
        beat.cancel()
    async with runtime.db.write() as session:
        await jobs.finish(session, job_id=job_id, result=result)
    return "succeeded"


async def _heartbeat(runtime: Runtime, job_id: int) -> None:
    """Stamp the job's heartbeat every `job_heartbeat_seconds` while its handler runs (recovery.py reads it)."""
    every = runtime.settings.job_heartbeat_seconds
    while True:
        await asyncio.sleep(every)
        try:
            async with runtime.db.write() as session:
                await jobs.heartbeat(session, job_id=job_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # a missed beat is harmless; three in a row make the job look orphaned
            log.warning("could not record the heartbeat of job %s", job_id, exc_info=True)


async def _fail(runtime: Runtime, job_id: int, message: str) -> None:
    async with runtime.db.write() as session:
        await jobs.fail(session, job_id=job_id, error=message)
