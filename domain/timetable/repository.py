"""All SQL of the timetable context."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.errors import NotFound
from domain.timetable.models import Room, TimetableCover, TimetableFeed, TimetableProblem, TimetableSolution


async def get_problem(session: AsyncSession, problem_id: int) -> TimetableProblem | None:
    """Return the live problem with that id, or None."""
    row = await session.get(TimetableProblem, problem_id)
    return None if row is None or row.deleted_at is not None else row


async def get_problem_or_raise(session: AsyncSession, problem_id: int, *, field: str | None = "problem_id"
                               ) -> TimetableProblem:
    """Return the live problem or raise NotFound."""
    row = await get_problem(session, problem_id)
    if row is None:
        raise NotFound(f"no timetable problem with id {problem_id}; list_timetable_problems lists them",
                       field=field)
    return row


async def latest_problem(session: AsyncSession) -> TimetableProblem | None:
    """Return the most recently created live problem with a published timetable, else the most recently created
    live problem, or None (a problem built or changed but not yet published does not hide the published one)."""
    stmt = (select(TimetableProblem).where(TimetableProblem.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(TimetableProblem.published_solution_id.is_(None),  # type: ignore[union-attr]
                      TimetableProblem.id.desc()).limit(1))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def get_solution(session: AsyncSession, solution_id: int) -> TimetableSolution | None:
    """Return the live solution with that id, or None."""
    row = await session.get(TimetableSolution, solution_id)
    return None if row is None or row.deleted_at is not None else row


async def get_solution_or_raise(session: AsyncSession, solution_id: int, *, field: str | None = "solution_id"
                                ) -> TimetableSolution:
    """Return the live solution or raise NotFound."""
    row = await get_solution(session, solution_id)
    if row is None:
        raise NotFound(f"no timetable solution with id {solution_id}; solve_timetable's finished job names it",
                       field=field)
    return row


async def solution_of_job(session: AsyncSession, job_id: int) -> TimetableSolution | None:
    """Return the solution a job stored, or None."""
    stmt = select(TimetableSolution).where(TimetableSolution.job_id == job_id,
                                           TimetableSolution.deleted_at.is_(None))
    return (await session.exec(stmt)).first()


async def add(session: AsyncSession, row: TimetableProblem | TimetableSolution | Room | TimetableFeed):
    """Insert `row` and flush so it has an id."""
    session.add(row)
    await session.flush()
    return row


async def room_by_code(session: AsyncSession, code: str) -> Room | None:
    """Return the live room with that code (case-insensitive), or None."""
    stmt = select(Room).where(func.upper(Room.code) == code.upper(), Room.deleted_at.is_(None))  # type: ignore
    return (await session.exec(stmt)).first()


async def list_rooms(session: AsyncSession, *, after_id: int = 0, limit: int | None = None,
                     min_capacity: int = 0) -> list[Room]:
    """Return live rooms by id after `after_id` with at least `min_capacity` seats (`limit` + 1 rows when given)."""
    stmt = (select(Room).where(Room.id > after_id, Room.capacity >= min_capacity,
                               Room.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Room.id))
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    return list((await session.exec(stmt)).all())


async def list_problems(session: AsyncSession, *, after_id: int, limit: int) -> list[TimetableProblem]:
    """Return live problems by id after `after_id` (`limit` + 1 rows, for paging)."""
    stmt = (select(TimetableProblem).where(TimetableProblem.id > after_id,
                                           TimetableProblem.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(TimetableProblem.id).limit(limit + 1))
    return list((await session.exec(stmt)).all())


async def covers_between(session: AsyncSession, *, start: date, end: date, teacher: str | None = None,
                         on_date: date | None = None) -> list[TimetableCover]:
    """Return the live covers dated `start`..`end` inclusive (of `teacher` as covering teacher or supervisor, when
    given), by date, period, class code and id."""
    stmt = select(TimetableCover).where(TimetableCover.on_date >= start, TimetableCover.on_date <= end,
                                        TimetableCover.deleted_at.is_(None))  # type: ignore[union-attr]
    if teacher is not None:
        stmt = stmt.where(TimetableCover.cover_teacher == teacher)
    stmt = stmt.order_by(TimetableCover.on_date, TimetableCover.period, TimetableCover.course_id,  # type: ignore
                         TimetableCover.id)
    return list((await session.exec(stmt)).all())


async def feed_by_hash(session: AsyncSession, token_hash: str) -> TimetableFeed | None:
    """Return the live (not revoked) feed whose token has that SHA-256, or None."""
    stmt = select(TimetableFeed).where(TimetableFeed.token_hash == token_hash,
                                       TimetableFeed.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def get_feed(session: AsyncSession, feed_id: int) -> TimetableFeed | None:
    """Return the live feed with that id, or None."""
    row = await session.get(TimetableFeed, feed_id)
    return None if row is None or row.deleted_at is not None else row
