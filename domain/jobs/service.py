"""Use cases of the job system. Every function works inside the caller's unit of work and never commits.

A job moves queued -> running -> succeeded | failed | cancelled. A queued job is cancelled at once; a running
one gets `cancel_requested` and its handler stops at its next progress report (`report_progress` raises
JobCancelled). A worker that dies leaves its job `running`; the next run of that job id starts it again from
its params (`mark_running` counts the attempt), which is why handlers must be idempotent.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.jobs import repository as repo
from domain.jobs.errors import JobCancelled
from domain.jobs.models import PROGRESS_SCALE, WORKER_MAX, Job, JobStatus
from domain.kernel.actor import Actor
from domain.kernel.audit import canonical_json
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied
from domain.kernel.models import bump

MAX_MESSAGE = 500
MAX_ERROR = 4000


def params_of(job: Job) -> dict[str, Any]:
    """Return the job's params as a dict."""
    return json.loads(job.params or "{}")


def result_of(job: Job) -> Any:
    """Return the job's result (decoded JSON), or None before it succeeded."""
    return None if job.result is None else json.loads(job.result)


async def create_job(session: AsyncSession, actor: Actor, *, kind: str, params: dict[str, Any],
                     idempotency_key: str | None = None) -> Job:
    """Record a queued job of `kind` with JSON-ready `params` and return it (flushed, so it has an id).

    A repeated `idempotency_key` returns the job it created, whatever its status. Raises Conflict when the key
    was used by another user or for another kind or other params (a key names one request).
    """
    canonical = canonical_json(params)
    if idempotency_key is not None:
        existing = await repo.get_job_by_idempotency_key(session, idempotency_key)
        if existing is not None:
            if existing.requested_by != (actor.id or None):
                raise Conflict("idempotency_key is already used by another user's job; choose a new key",
                               field="idempotency_key")
            if existing.kind != kind or existing.params != canonical:
                raise Conflict(f"idempotency_key already names job {existing.id} ({existing.kind}) with other "
                               "arguments; use a new key for a different request", field="idempotency_key")
            return existing
    job = Job(kind=kind, params=canonical, requested_by=actor.id or None, idempotency_key=idempotency_key,
              status=JobStatus.QUEUED.value)
    session.add(job)
    await session.flush()
    return job


def ensure_can_see(actor: Actor, job: Job) -> None:
    """Rule: a job is visible to (and cancellable by) its requester and admins only."""
    if actor.is_admin or (job.requested_by is not None and job.requested_by == actor.id):
        return
    raise PermissionDenied(f"job {job.id} was requested by someone else; only its requester or an admin can "
                           "see or cancel it")


async def get_job_for(session: AsyncSession, actor: Actor, *, job_id: int) -> Job:
    """Return a job the actor may see. Raises NotFound (field job_id) or PermissionDenied."""
    job = await repo.get_job_or_raise(session, job_id)
    ensure_can_see(actor, job)
    return job


async def get_job(session: AsyncSession, job_id: int) -> Job | None:
    """Return the live job with that id, or None (no visibility check: for the system's own bookkeeping)."""
    return await repo.get_job(session, job_id)


async def get_job_or_raise(session: AsyncSession, job_id: int) -> Job:
    """Return the live job with that id (no visibility check). Raises NotFound (field job_id)."""
    return await repo.get_job_or_raise(session, job_id)


async def list_jobs_for(session: AsyncSession, actor: Actor, *, after_id: int, limit: int, status: str | None = None,
                        kind: str | None = None, mine: bool = False) -> list[Job]:
    """Return the jobs `actor` may see after `after_id`, oldest first, optionally of one status or kind (limit + 1
    rows, so the caller can tell whether more exist). Rule (`ensure_can_see`): admins see everyone's (only their
    own with `mine`), other roles only the ones they requested."""
    requested_by = actor.id if (mine or not actor.is_admin) else None
    return await repo.list_jobs(session, after_id=after_id, limit=limit, status=status, kind=kind,
                                requested_by=requested_by)


async def mark_running(session: AsyncSession, *, job_id: int, alive_after: datetime | None = None,
                       worker: str | None = None) -> Job | None:
    """Claim a job for a run and return it, or None when there is nothing to run.

    Nothing runs for a final job (succeeded, failed, cancelled); a queued job whose cancellation was requested
    becomes cancelled; nor for a running job whose heartbeat is newer than `alive_after` (its process lives:
    two recoveries racing must not run it twice). A queued job, or one left `running` by a process that died,
    starts a new attempt: status running, attempts + 1, progress reset, and `worker` (the claiming process,
    e.g. "worker:HOST:PID"; cut to WORKER_MAX characters) recorded as the one running it.
    """
    job = await repo.get_job(session, job_id, for_update=True)
    if job is None or job.is_final:
        return None
    if (alive_after is not None and job.status == JobStatus.RUNNING.value and job.heartbeat_at is not None
            and job.heartbeat_at > alive_after):
        return None
    if job.cancel_requested:
        _close(job, JobStatus.CANCELLED)
        session.add(job)
        await session.flush()
        return None
    job.status = JobStatus.RUNNING.value
    job.attempts += 1
    job.started_at = utcnow()
    job.progress_permille = 0
    job.progress_message = None if job.attempts == 1 else f"attempt {job.attempts}"
    job.heartbeat_at = job.started_at
    job.worker = None if worker is None else worker[:WORKER_MAX]
    bump(job)
    session.add(job)
    await session.flush()
    return job


async def report_progress(session: AsyncSession, *, job_id: int, fraction: float, message: str | None = None) -> Job:
    """Store a running job's progress (`fraction` 0..1) and message; raises JobCancelled when asked to stop."""
    if not 0 <= fraction <= 1:
        raise InvalidInput(f"progress {fraction} is outside 0..1", field="fraction")
    job = await repo.get_job_or_raise(session, job_id, for_update=True)
    if job.cancel_requested or job.status != JobStatus.RUNNING.value:
        raise JobCancelled(job_id)
    job.progress_permille = round(fraction * PROGRESS_SCALE)
    job.progress_message = None if message is None else message[:MAX_MESSAGE]
    job.heartbeat_at = utcnow()
    bump(job)
    session.add(job)
    await session.flush()
    return job


async def heartbeat(session: AsyncSession, *, job_id: int) -> None:
    """Stamp a running job's `heartbeat_at` (no version bump: nothing a reader compares changes)."""
    await repo.touch_heartbeat(session, job_id, utcnow())


async def orphaned_jobs(session: AsyncSession, *, silent_for_s: float, now: datetime | None = None) -> list[Job]:
    """Return the jobs whose process is gone: running with no heartbeat for `silent_for_s` seconds, or queued
    (never claimed) for that long. Runners hand them to a worker again; `mark_running` starts a new attempt."""
    return await repo.orphaned(session, before=(now or utcnow()) - timedelta(seconds=silent_for_s))


def _close(job: Job, status: JobStatus) -> None:
    job.status = status.value
    job.finished_at = utcnow()
    bump(job)


async def finish(session: AsyncSession, *, job_id: int, result: Any) -> Job:
    """Mark a running job succeeded with its JSON-ready `result` (progress 1)."""
    job = await repo.get_job_or_raise(session, job_id, for_update=True)
    job.result = canonical_json(result)
    job.progress_permille = PROGRESS_SCALE
    job.error = None
    _close(job, JobStatus.SUCCEEDED)
    session.add(job)
    await session.flush()
    return job


async def fail(session: AsyncSession, *, job_id: int, error: str) -> Job:
    """Mark a job failed with an error message written for the requester."""
    job = await repo.get_job_or_raise(session, job_id, for_update=True)
    job.error = error[:MAX_ERROR]
    _close(job, JobStatus.FAILED)
    session.add(job)
    await session.flush()
    return job


async def mark_cancelled(session: AsyncSession, *, job_id: int) -> Job:
    """Mark a job cancelled (its handler stopped after cancellation was requested)."""
    job = await repo.get_job_or_raise(session, job_id, for_update=True)
    if not job.is_final:
        _close(job, JobStatus.CANCELLED)
        session.add(job)
        await session.flush()
    return job


async def request_cancel(session: AsyncSession, actor: Actor, *, job_id: int) -> Job:
    """Cancel a job as its requester or an admin: a queued job at once, a running one at its next progress report.

    Raises NotFound, PermissionDenied, or Conflict when the job already ended (naming its final status).
    """
    job = await repo.get_job_or_raise(session, job_id, for_update=True)
    ensure_can_see(actor, job)
    if job.is_final:
        raise Conflict(f"job {job_id} already ended ({job.status}); only queued or running jobs can be cancelled",
                       field="job_id")
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED.value:
        _close(job, JobStatus.CANCELLED)
    else:
        bump(job)
    session.add(job)
    await session.flush()
    return job
