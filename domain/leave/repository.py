"""All SQL of the leave context. Bulk paths (movements, balances, approved requests of many employees) are one
Core statement per chunk of at most CHUNK ids, and movements are written by COPY on PostgreSQL (an executemany of
INSERTs on SQLite): no ORM object per row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.db import bulk_insert, bulk_insert_records
from domain.kernel.errors import NotFound
from domain.kernel.sql import id_in
from domain.leave.models import LeaveMovement, LeaveRequest, LeaveType, MovementKind, RequestStatus

CHUNK = 30_000
"""Ids bound in one IN list: under PostgreSQL's 32,767 parameters and SQLite's 32,766 variables."""

def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


async def leave_types(session: AsyncSession) -> list[LeaveType]:
    """Every live leave type, in id order."""
    stmt = select(LeaveType).where(col(LeaveType.deleted_at).is_(None)).order_by(col(LeaveType.id))
    return list((await session.exec(stmt)).all())


async def type_ids(session: AsyncSession) -> dict[str, int]:
    """{code: id} of every live leave type (one query)."""
    stmt = select(LeaveType.code, LeaveType.id).where(col(LeaveType.deleted_at).is_(None))
    return {code: type_id for code, type_id in (await session.exec(stmt)).all()}  # type: ignore[call-overload]


async def get_request(session: AsyncSession, request_id: int) -> LeaveRequest | None:
    row = await session.get(LeaveRequest, request_id)
    return None if row is None or row.deleted_at is not None else row


async def get_request_or_raise(session: AsyncSession, request_id: int) -> LeaveRequest:
    row = await get_request(session, request_id)
    if row is None:
        raise NotFound(f"no leave request with id {request_id}; list_leave_requests shows them", field="request_id")
    return row


async def overlapping_requests(session: AsyncSession, *, employee_id: int, start: date, end: date,
                               exclude_id: int | None = None) -> list[LeaveRequest]:
    """The employee's requested or approved requests sharing a day with start..end."""
    stmt = select(LeaveRequest).where(
        LeaveRequest.employee_id == employee_id, col(LeaveRequest.deleted_at).is_(None),
        col(LeaveRequest.status).in_([RequestStatus.REQUESTED.value, RequestStatus.APPROVED.value]),
        LeaveRequest.start_date <= end, LeaveRequest.end_date >= start)
    if exclude_id is not None:
        stmt = stmt.where(LeaveRequest.id != exclude_id)
    return list((await session.exec(stmt.order_by(col(LeaveRequest.id)))).all())


async def list_requests(session: AsyncSession, *, after_id: int, limit: int, employee_id: int | None,
                        status: str | None, from_date: date | None, to_date: date | None) -> list[LeaveRequest]:
    """Up to `limit + 1` live requests after `after_id` in id order: of one employee, in one status, and/or
    sharing a day with from_date..to_date."""
    stmt = select(LeaveRequest).where(col(LeaveRequest.deleted_at).is_(None), col(LeaveRequest.id) > after_id)
    if employee_id is not None:
        stmt = stmt.where(LeaveRequest.employee_id == employee_id)
    if status is not None:
        stmt = stmt.where(LeaveRequest.status == status)
    if from_date is not None:
        stmt = stmt.where(LeaveRequest.end_date >= from_date)
    if to_date is not None:
        stmt = stmt.where(LeaveRequest.start_date <= to_date)
    return list((await session.exec(stmt.order_by(col(LeaveRequest.id)).limit(limit + 1))).all())


async def approved_in(session: AsyncSession, *, employee_ids: Sequence[int], start: date,
                      end: date) -> list[tuple[LeaveRequest, str]]:
    """The approved requests of these employees sharing a day with start..end, each with its type's code; one
    query per CHUNK employees."""
    out: list[tuple[LeaveRequest, str]] = []
    for chunk in _chunks(sorted(set(employee_ids))):
        stmt = (select(LeaveRequest, LeaveType.code).join(LeaveType, LeaveType.id == LeaveRequest.leave_type_id)
                .where(id_in(LeaveRequest.employee_id, chunk), col(LeaveRequest.deleted_at).is_(None),
                       LeaveRequest.status == RequestStatus.APPROVED.value,
                       LeaveRequest.start_date <= end, LeaveRequest.end_date >= start)
                .order_by(col(LeaveRequest.employee_id), col(LeaveRequest.start_date), col(LeaveRequest.id)))
        out += [(row[0], row[1]) for row in (await session.exec(stmt)).all()]  # type: ignore[call-overload]
    return out


async def insert_movements(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert movement rows (dicts of the leave_movements columns, all with the same keys) with db.bulk_insert: one
    COPY on PostgreSQL (several times faster than INSERTs for a whole school's run), one executemany on SQLite;
    return how many."""
    await bulk_insert(session, LeaveMovement.__table__, rows)  # type: ignore[attr-defined]
    return len(rows)


async def insert_movement_records(session: AsyncSession, columns: Sequence[str], records: list[tuple[Any, ...]]) -> int:
    """Insert movement rows given as tuples of the values of `columns` (leave_movements columns) with
    db.bulk_insert_records: one COPY on PostgreSQL, one executemany on SQLite; return how many."""
    await bulk_insert_records(session, LeaveMovement.__table__, columns, records)  # type: ignore[attr-defined]
    return len(records)


async def balances(session: AsyncSession, employee_ids: Sequence[int], *,
                   on: date | None = None) -> list[tuple[int, str, int]]:
    """(employee id, type code, hundredths of an hour) summed over the movements of these employees, up to `on`
    inclusive when given; one grouped query per CHUNK employees."""
    out: list[tuple[int, str, int]] = []
    total = func.sum(LeaveMovement.hours_x100)
    for chunk in _chunks(sorted(set(employee_ids))):
        stmt = (select(LeaveMovement.employee_id, LeaveType.code, total)
                .join(LeaveType, LeaveType.id == LeaveMovement.leave_type_id)
                .where(id_in(LeaveMovement.employee_id, chunk))
                .group_by(LeaveMovement.employee_id, LeaveType.code))
        if on is not None:
            stmt = stmt.where(LeaveMovement.on_date <= on)
        out += [(int(e), c, int(h or 0)) for e, c, h in (await session.exec(stmt)).all()]  # type: ignore
    return out


async def movements_of_sources(session: AsyncSession, sources: Sequence[str]) -> list[Any]:
    """Every movement whose source is one of `sources` (id, employee, type, kind, hours, source, request)."""
    out: list[Any] = []
    table = LeaveMovement.__table__  # type: ignore[attr-defined]
    conn = await session.connection()
    for chunk in _chunks(sorted(set(sources))):
        stmt = (select(table.c.id, table.c.employee_id, table.c.leave_type_id, table.c.kind, table.c.hours_x100,
                       table.c.source, table.c.request_id)
                .where(table.c.source.in_(chunk)).order_by(table.c.id))
        out += list((await conn.execute(stmt)).all())
    return out


async def taken_by_request(session: AsyncSession, request_ids: Sequence[int]) -> dict[int, int]:
    """{request id: hundredths of an hour taken} (the taken movements and their reversals, as a positive figure)."""
    if not request_ids:
        return {}
    stmt = (select(LeaveMovement.request_id, func.sum(LeaveMovement.hours_x100))
            .where(col(LeaveMovement.request_id).in_(sorted(set(request_ids))),
                   col(LeaveMovement.kind).in_([MovementKind.TAKEN.value, MovementKind.REVERSAL.value]))
            .group_by(LeaveMovement.request_id))
    return {int(r): -int(h or 0) for r, h in (await session.exec(stmt)).all()}  # type: ignore[call-overload]


async def approved_hours(session: AsyncSession, *, employee_id: int, leave_type_id: int | None = None,
                         exclude_id: int | None = None) -> list[tuple[int, int, int]]:
    """(request id, leave type id, hours_x100) of the employee's approved requests (of one type when given)."""
    stmt = select(LeaveRequest.id, LeaveRequest.leave_type_id, LeaveRequest.hours_x100).where(
        LeaveRequest.employee_id == employee_id, LeaveRequest.status == RequestStatus.APPROVED.value,
        col(LeaveRequest.deleted_at).is_(None))
    if leave_type_id is not None:
        stmt = stmt.where(LeaveRequest.leave_type_id == leave_type_id)
    if exclude_id is not None:
        stmt = stmt.where(LeaveRequest.id != exclude_id)
    return [(int(i), int(t), int(h)) for i, t, h in (await session.exec(stmt)).all()]  # type: ignore[call-overload]
