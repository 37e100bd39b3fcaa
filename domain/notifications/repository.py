"""All of the notifications context's SQL."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.clock import utcnow
from domain.notifications.models import Notification, NotificationPreference, NotificationStatus


def _postgres(session: AsyncSession) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql"


async def preference(session: AsyncSession, email: str, category: str) -> NotificationPreference:
    """The preference row of (email, category), created (opted in, a new random token) when missing; safe against a
    concurrent creation (INSERT ... ON CONFLICT DO NOTHING, then read)."""
    now = utcnow()
    dialect = postgresql if _postgres(session) else sqlite
    table = NotificationPreference.__table__  # type: ignore[attr-defined]
    await session.exec(dialect.insert(table).values(  # type: ignore[call-overload]
        version=1, created_at=now, updated_at=now, recipient_email=email, category=category, opted_out=False,
        token=secrets.token_urlsafe(32)).on_conflict_do_nothing(index_elements=["recipient_email", "category"]))
    row = (await session.exec(select(NotificationPreference).where(
        NotificationPreference.recipient_email == email, NotificationPreference.category == category))).one()
    return row


async def preference_by_token(session: AsyncSession, token: str) -> NotificationPreference | None:
    return (await session.exec(select(NotificationPreference).where(NotificationPreference.token == token))).first()


async def preferences_of(session: AsyncSession, email: str) -> list[NotificationPreference]:
    return list((await session.exec(select(NotificationPreference).where(
        NotificationPreference.recipient_email == email).order_by(NotificationPreference.category))).all())


async def by_dedupe(session: AsyncSession, key: str, email: str) -> Notification | None:
    return (await session.exec(select(Notification).where(Notification.dedupe_key == key,
                                                          Notification.recipient_email == email))).first()


async def claim_due(session: AsyncSession, *, now: datetime, limit: int, lease_until: datetime) -> list[Notification]:
    """Queued notifications whose time has come, and sending ones whose lease ran out (their sender died), oldest
    first: each is marked sending until `lease_until`, its attempts counted. On PostgreSQL the rows are locked with
    SKIP LOCKED, so concurrent senders claim different ones; SQLite serializes writers."""
    stmt = select(Notification).where(
        or_(Notification.status == NotificationStatus.QUEUED.value,
            Notification.status == NotificationStatus.SENDING.value),
        col(Notification.next_attempt_at) <= now).order_by(col(Notification.next_attempt_at), col(Notification.id)
                                                          ).limit(limit)
    if _postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = list((await session.exec(stmt)).all())
    if rows:
        await session.exec(update(Notification).where(col(Notification.id).in_([r.id for r in rows])).values(  # type: ignore[call-overload]
            status=NotificationStatus.SENDING.value, next_attempt_at=lease_until,
            attempts=Notification.attempts + 1, version=Notification.version + 1, updated_at=now))
        for row in rows:
            await session.refresh(row)
    return rows


async def listing(session: AsyncSession, *, after_id: int, limit: int, status: str | None, email: str | None,
                  category: str | None, person_kind: str | None, person_id: int | None) -> list[Notification]:
    stmt = select(Notification).where(col(Notification.id) > after_id)
    if status is not None:
        stmt = stmt.where(Notification.status == status)
    if email is not None:
        stmt = stmt.where(Notification.recipient_email == email)
    if category is not None:
        stmt = stmt.where(Notification.category == category)
    if person_kind is not None:
        stmt = stmt.where(Notification.person_kind == person_kind)
    if person_id is not None:
        stmt = stmt.where(Notification.person_id == person_id)
    return list((await session.exec(stmt.order_by(col(Notification.id)).limit(limit))).all())
