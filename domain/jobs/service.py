"""Use cases of the job system. Every function but `wait_for_job` works inside the caller's unit of work and
never commits.

A job moves queued -> running -> succeeded | failed | cancelled. A queued job is cancelled at once; a running
one gets `cancel_requested` and its handler stops at its next progress report (`report_progress` raises
JobCancelled). A worker that dies leaves its job `running`; the next run of that job id starts it again from
its params (`mark_running` counts the attempt), which is why handlers must be idempotent.

Starting a job (`start_job`) records it in the caller's write transaction and enqueues it in an after-commit hook
(domain.kernel.db.after_commit), so a runner in another process never looks for a row that is not committed yet;
`wait_for_job` polls a job from outside any unit of work, each poll its own read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.jobs import repository as repo
from domain.jobs.errors import JobCancelled
from domain.jobs.models import PROGRESS_SCALE, WORKER_MAX, Job, JobStatus
from domain.jobs.schemas import JobKind, JobOut, job_out
from domain.kernel.actor import Actor
from domain.kernel.audit import canonical_json
from domain.kernel.clock import utcnow
from domain.kernel.db import Database, after_commit
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied
from domain.kernel.models import bump

MAX_MESSAGE = 500
MAX_ERROR = 4000
POLL_S = 0.25  # how often wait_for_job reads the job

Enqueue = Callable[[int], Awaitable[None]]
"""`await enqueue(job_id)`: hands a committed job to the runner (the runtime's JobRunner.enqueue, idempotent)."""

Progress = Callable[[float, "float | None", "str | None"], Awaitable[None]]
"""`await progress(value, total, message)`: told how far a waited-for job got (MCP notifications/progress)."""


def params_of(job: Job) -> dict[str, Any]:
    """Return the job's params as a dict."""
    return json.loads(job.params or "{}")


def result_of(job: Job) -> Any:
    """Return the job's result (decoded JSON), or None before it succeeded."""
    return None if job.result is None else json.loads(job.result)


async def create_job(session: AsyncSession, actor: Actor, *, kind: JobKind | str, params: dict[str, Any],
                     idempotency_key: str | None = None) -> Job:
    """Record a queued job of `kind` with JSON-ready `params` and return it (flushed, so it has an id).

    A repeated `idempotency_key` returns the job it created, whatever its status, also when the two requests run
    at the same time: the key's UNIQUE index decides, and the loser (on PostgreSQL it waits for the winner's
    commit) returns the winner's job. Raises Conflict when the key was used by another user or for another kind
    or other params (a key names one request).
    """
    canonical = canonical_json(params)
    if idempotency_key is not None:
        existing = await repo.get_job_by_idempotency_key(session, idempotency_key)
        if existing is not None:
            return _same_request(existing, actor, kind=str(kind), canonical=canonical)
    job = Job(kind=str(kind), params=canonical, requested_by=actor.id or None, idempotency_key=idempotency_key,
              status=JobStatus.QUEUED.value)
    if idempotency_key is None:
        session.add(job)
        await session.flush()
        return job
    try:
        async with session.begin_nested():  # a savepoint: the transaction stays usable when the key is taken
            session.add(job)
            await session.flush()
    except IntegrityError:
        winner = await repo.get_job_by_idempotency_key(session, idempotency_key)
        if winner is None:  # pragma: no cover - the key is the only UNIQUE column a new job can collide on
            raise
        return _same_request(winner, actor, kind=str(kind), canonical=canonical)
    return job


def _same_request(existing: Job, actor: Actor, *, kind: str, canonical: str) -> Job:
    """`existing`, the job of a repeated key, when the request is the same (user, kind, params); else Conflict."""
    if existing.requested_by != (actor.id or None):
        raise Conflict("idempotency_key is already used by another user's job; choose a new key",
                       field="idempotency_key")
    if existing.kind != kind or existing.params != canonical:
        raise Conflict(f"idempotency_key already names job {existing.id} ({existing.kind}) with other "
                       "arguments; use a new key for a different request", field="idempotency_key")
    return existing


async def start_job(session: AsyncSession, actor: Actor, *, kind: JobKind, params: dict[str, Any],
                    idempotency_key: str | None, enqueue: Enqueue) -> Job:
    """Record a job of `kind` in the caller's write transaction (see create_job) and enqueue it once that
    transaction commits; return it (flushed, queued unless a repeated `idempotency_key` names an older job).

    The enqueue is an after-commit hook: never run after a rollback, and run for a repeated key whose job is still
    queued (enqueueing is idempotent, so a job whose first enqueue was lost is handed over again). Raises Conflict
    for a reused key (create_job), and after the commit the runner's error if enqueueing fails (the job stays
    queued: a serving process hands queued jobs to a runner again).
    """
    job = await create_job(session, actor, kind=kind, params=params, idempotency_key=idempotency_key)
    if job.status == JobStatus.QUEUED.value:
        job_id = job.id or 0

        async def hand_over() -> None:
            await enqueue(job_id)

        after_commit(session, hand_over)
    return job


async def wait_for_job(db: Database, job_id: int, *, wait_s: float, progress: Progress | None = None) -> JobOut:
    """Poll a job every POLL_S seconds until it ends or `wait_s` seconds pass, and return it as it stands.

    Runs outside any unit of work: each poll is its own read, so a job running in another process (arq) is seen
    as it commits. Each change of progress goes to `progress` (total 1.0): the value never decreases and strictly
    increases between calls, as MCP's notifications/progress requires. Raises NotFound for an unknown job.
    """
    deadline = time.monotonic() + wait_s
    seen: tuple[float, str | None] | None = None  # the job's (progress, message) last reported
    sent = -1.0  # the last progress value sent
    while True:
        async with db.read() as session:
            out = job_out(await repo.get_job_or_raise(session, job_id))
        final = out.is_final
        message = f"job {job_id} {out.status}" if final else out.progress_message
        if progress is not None and (out.progress, message) != seen:
            value = 1.0 if final else min(max(out.progress, sent + 1e-6), 1.0)
            if value > sent:
                await progress(value, 1.0, message)
                sent = value
            seen = (out.progress, message)
        remaining = deadline - time.monotonic()
        if final or remaining <= 0:
            return out
        await asyncio.sleep(min(POLL_S, remaining))


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
