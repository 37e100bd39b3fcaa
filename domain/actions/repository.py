"""SQL for pending actions and for the version check of the rows an action touches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.actions.models import OPEN_STATUSES, PendingAction
from domain.kernel.errors import NotFound


async def get_action(session: AsyncSession, action_id: int, *, for_update: bool = False) -> PendingAction | None:
    """Return the action with that id, or None; `for_update` locks it on PostgreSQL."""
    stmt = select(PendingAction).where(PendingAction.id == action_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def get_action_or_raise(session: AsyncSession, action_id: int, *, for_update: bool = False) -> PendingAction:
    """Return the action or raise NotFound."""
    action = await get_action(session, action_id, for_update=for_update)
    if action is None:
        raise NotFound(f"no pending action with id {action_id}; list_pending_actions shows the open ones",
                       field="action_id")
    return action


async def list_actions(session: AsyncSession, *, after_id: int, limit: int, statuses: list[str] | None,
                       requested_by: int | None, tool: str | None = None) -> list[PendingAction]:
    """Return actions after `after_id` in id order (limit + 1 rows so the caller can tell if more exist),
    optionally only those of one tool."""
    stmt = select(PendingAction).where(PendingAction.id > after_id)
    if tool is not None:
        stmt = stmt.where(PendingAction.tool == tool)
    if statuses:
        stmt = stmt.where(PendingAction.status.in_(statuses))  # type: ignore[attr-defined]
    if requested_by is not None:
        stmt = stmt.where(PendingAction.requested_by == requested_by)
    return list((await session.exec(stmt.order_by(PendingAction.id).limit(limit + 1))).all())


async def list_expired_open(session: AsyncSession, now: datetime) -> list[PendingAction]:
    """Return open actions whose expiry has passed."""
    stmt = select(PendingAction).where(PendingAction.status.in_([s.value for s in OPEN_STATUSES]),  # type: ignore
                                       PendingAction.expires_at < now)
    return list((await session.exec(stmt)).all())


async def count_open_by_status(session: AsyncSession) -> dict[str, int]:
    """Return how many actions are open in each open status (proposed, queued); statuses without any are absent."""
    stmt = (select(PendingAction.status, func.count())
            .where(PendingAction.status.in_([s.value for s in OPEN_STATUSES]))  # type: ignore[attr-defined]
            .group_by(PendingAction.status))
    return {status: count for status, count in (await session.exec(stmt)).all()}


async def current_version(session: AsyncSession, table: str, row_id: int) -> int | None:
    """Return the version of a live row of `table`, or None when it is gone or soft-deleted."""
    tbl = SQLModel.metadata.tables.get(table)
    if tbl is None:
        raise NotFound(f"unknown table {table!r}")
    stmt = sa_select(tbl.c.version).where(tbl.c.id == row_id)
    if "deleted_at" in tbl.c:
        stmt = stmt.where(tbl.c.deleted_at.is_(None))
    conn = await session.connection()
    return (await conn.execute(stmt)).scalar_one_or_none()
