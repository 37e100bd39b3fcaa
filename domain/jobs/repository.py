"""All SQL of the job system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, or_, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.jobs.models import Job, JobStatus
from domain.kernel.errors import NotFound


async def get_job(session: AsyncSession, job_id: int, *, for_update: bool = False) -> Job | None:
    """Return the job with that id, or None; `for_update` locks the row on PostgreSQL (SQLite writers are serial)."""
    stmt = select(Job).where(Job.id == job_id, Job.deleted_at.is_(None))  # type: ignore[union-attr]
    if for_update and session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def get_job_or_raise(session: AsyncSession, job_id: int, *, for_update: bool = False) -> Job:
    """Return the job or raise NotFound naming the field."""
    job = await get_job(session, job_id, for_update=for_update)
    if job is None:
        raise NotFound(f"no job with id {job_id}; list_jobs shows your jobs", field="job_id")
    return job


async def get_job_by_idempotency_key(session: AsyncSession, key: str) -> Job | None:
    """Return the job created with `key`, or None."""
    return (await session.exec(select(Job).where(Job.idempotency_key == key))).first()


async def list_jobs(session: AsyncSession, *, after_id: int, limit: int, requested_by: int | None = None,
                    status: str | None = None, kind: str | None = None) -> list[Job]:
    """Return up to `limit + 1` jobs after `after_id`, oldest first, optionally filtered."""
    stmt = select(Job).where(Job.id > after_id, Job.deleted_at.is_(None))  # type: ignore[union-attr]
    if requested_by is not None:
        stmt = stmt.where(Job.requested_by == requested_by)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    return list((await session.exec(stmt.order_by(Job.id).limit(limit + 1))).all())


async def touch_heartbeat(session: AsyncSession, job_id: int, at: datetime) -> None:
    """Set a running job's heartbeat_at to `at`."""
    await session.exec(update(Job).where(Job.id == job_id, Job.status == JobStatus.RUNNING.value)  # type: ignore
                       .values(heartbeat_at=at))


async def orphaned(session: AsyncSession, *, before: datetime) -> list[Job]:
    """Return running jobs whose heartbeat (or start) is older than `before`, and queued jobs created before it."""
    running = and_(Job.status == JobStatus.RUNNING.value,
                   or_(Job.heartbeat_at < before,  # type: ignore[operator]
                       and_(Job.heartbeat_at.is_(None), Job.started_at < before)))  # type: ignore
    queued = and_(Job.status == JobStatus.QUEUED.value, Job.created_at < before, Job.cancel_requested.is_(False))
    stmt = select(Job).where(or_(running, queued), Job.deleted_at.is_(None)).order_by(Job.id)  # type: ignore
    return list((await session.exec(stmt)).all())


async def count_by_status(session: AsyncSession) -> dict[str, int]:
    """Return how many live jobs have each status; statuses without jobs are absent."""
    stmt = (select(Job.status, func.count()).where(Job.deleted_at.is_(None))  # type: ignore[union-attr]
            .group_by(Job.status))
    return {status: count for status, count in (await session.exec(stmt)).all()}


async def finished_since(session: AsyncSession, *, since: datetime,
                         limit: int) -> list[tuple[str, datetime, datetime]]:
    """Return (kind, started_at, finished_at) of the live jobs that started and finished at or after `since`,
    most recently finished first, at most `limit` of them."""
    stmt = (select(Job.kind, Job.started_at, Job.finished_at)
            .where(Job.finished_at >= since, Job.started_at.is_not(None),  # type: ignore[operator, union-attr]
                   Job.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Job.finished_at.desc()).limit(limit))  # type: ignore[union-attr]
    return [(kind, started, finished) for kind, started, finished in (await session.exec(stmt)).all()]
