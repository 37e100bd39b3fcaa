"""The append-only, hash-chained audit log.

Each row stores the SHA-256 of its own canonical content plus the previous row's hash, and the single
`audit_head` row holds the id and hash of the newest entry. Editing any row breaks its hash; deleting a
row breaks the next row's `prev_hash` (or, for the newest row, the head). Rows are written in the same
transaction as the change they describe, just before it commits. On PostgreSQL the head row is locked
(`SELECT ... FOR UPDATE`) so concurrent writers extend one chain instead of forking it; SQLite writers are
already serialized.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Text, func, text
from sqlalchemy.event import listen as event_listen
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.errors import InvalidInput, NotFound

GENESIS_HASH = "0" * 64
COPY_FROM = 100
"""A transaction appending more entries than this writes them with COPY on PostgreSQL."""


class AuditEntry(SQLModel, table=True):
    """One audited step: who, through which channel, which tool, its arguments, before/after, action id."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, nullable=False)
    actor_id: int = Field(nullable=False)
    actor_username: str = Field(max_length=120, nullable=False)
    channel: str = Field(max_length=20, nullable=False)
    tool: str = Field(max_length=80, nullable=False, index=True)
    event: str = Field(max_length=40, nullable=False)
    entity: str | None = Field(default=None, max_length=60)
    entity_id: int | None = Field(default=None)
    action_id: int | None = Field(default=None, index=True)
    arguments: str = Field(sa_column=Column(Text, nullable=False))
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    prev_hash: str = Field(max_length=64, nullable=False)
    hash: str = Field(max_length=64, nullable=False)


class AuditHead(SQLModel, table=True):
    """The single row that points at the newest audit entry, so a deleted tail is detected too."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = Field(default=0, nullable=False)
    last_hash: str = Field(default=GENESIS_HASH, max_length=64, nullable=False)


@dataclass(slots=True)
class AppendedEntry:
    """An entry appended in the current transaction, with AuditEntry's columns: a plain object (building a table
    model costs more than hashing it, which counts when a payroll run appends 10,000), whose `id`, `prev_hash` and
    `hash` are set when the transaction commits."""

    at: datetime
    actor_id: int
    actor_username: str
    channel: str
    tool: str
    event: str
    entity: str | None
    entity_id: int | None
    action_id: int | None
    arguments: str
    before: str | None
    after: str | None
    prev_hash: str = ""
    hash: str = ""
    id: int | None = None


def canonical_json(value: Any) -> str:
    """The JSON form hashed by the audit chain and the gate: sorted keys, compact separators."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _entry_hash(entry: AuditEntry | AppendedEntry) -> str:
    payload = {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_username": entry.actor_username,
        "channel": entry.channel,
        "tool": entry.tool,
        "event": entry.event,
        "entity": entry.entity,
        "entity_id": entry.entity_id,
        "action_id": entry.action_id,
        "arguments": entry.arguments,
        "before": entry.before,
        "after": entry.after,
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


async def ensure_audit_head(session: AsyncSession) -> None:
    """Create the head row of an empty chain, so the first concurrent writers lock one row instead of racing to
    insert it."""
    if (await session.exec(select(AuditHead).where(AuditHead.id == 1))).first() is None:
        session.add(AuditHead(id=1, last_id=0, last_hash=GENESIS_HASH))
        await session.flush()


_PENDING = "mcs_erp_audit_pending"
_LISTENING = "mcs_erp_audit_listening"


async def append_audit(
    session: AsyncSession,
    actor: Actor,
    *,
    tool: str,
    event: str,
    arguments: dict[str, Any],
    entity: str | None = None,
    entity_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    action_id: int | None = None,
) -> AppendedEntry:
    """Append one entry to the chain in the caller's transaction and return it (its id, previous hash and hash are
    set when the transaction commits).

    `arguments`, `before` and `after` are stored as canonical JSON; callers pass them without secrets. The entry
    is chained when the transaction commits, not now: the head row's lock (PostgreSQL) is then held only for the
    last statements before the commit, instead of from the first change a write makes, so concurrent writers
    queue on the chain for a few milliseconds rather than for their whole transaction. The entries of one
    transaction keep the order they were appended in; a rolled-back transaction appends nothing.
    """
    entry = AppendedEntry(
        at=utcnow(),
        actor_id=actor.id,
        actor_username=actor.username,
        channel=str(actor.channel),
        tool=tool,
        event=event,
        entity=entity,
        entity_id=entity_id,
        action_id=action_id,
        arguments=canonical_json(arguments),
        before=None if before is None else canonical_json(before),
        after=None if after is None else canonical_json(after),
    )
    sync = session.sync_session
    if not sync.info.get(_LISTENING):  # once per session (a unit of work); listeners cannot be removed mid-dispatch
        sync.info[_LISTENING] = True
        event_listen(sync, "before_commit", _chain_pending)
        event_listen(sync, "after_rollback", _drop_pending)
    sync.info.setdefault(_PENDING, []).append(entry)
    return entry


def _chain_pending(sync: Session) -> None:
    """before_commit: lock the head, give each pending entry its id, previous hash and hash, move the head."""
    pending = sync.info.pop(_PENDING, None)
    if not pending:
        return
    head_stmt = select(AuditHead).where(AuditHead.id == 1)
    if sync.bind is not None and sync.bind.dialect.name == "postgresql":
        head_stmt = head_stmt.with_for_update()
    head = sync.execute(head_stmt).scalars().first()
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS_HASH)
        sync.add(head)
    # The ids first (the hash covers the id), then every row in one multi-row INSERT: a payroll run of 10,000
    # payslips appends 10,000 entries, which row by row (an INSERT, then an UPDATE of its hash) took 40 s. Ids come
    # from the table's sequence on PostgreSQL; SQLite serializes writers, so the next ids are free there.
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    if sync.bind is not None and sync.bind.dialect.name == "postgresql":
        ids = list(sync.execute(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id')) "
                                     "FROM generate_series(1, :n)"), {"n": len(pending)}).scalars())
    else:
        first = (sync.execute(select(func.max(table.c.id))).scalar() or 0) + 1
        ids = list(range(first, first + len(pending)))
    rows = []
    for entry, entry_id in zip(pending, sorted(ids), strict=True):
        entry.id = entry_id
        entry.prev_hash = head.last_hash
        entry.hash = _entry_hash(entry)
        head.last_id = entry_id
        head.last_hash = entry.hash
        rows.append({column.name: getattr(entry, column.name) for column in table.columns})
    if sync.bind is not None and sync.bind.dialect.name == "postgresql" and len(rows) > COPY_FROM:
        # Many entries (a whole school's payroll): one binary COPY in this transaction, run from this synchronous
        # hook on the async driver the way SQLAlchemy's own asyncio layer does (await_only).
        columns = [column.name for column in table.columns]
        raw = sync.connection().connection.driver_connection
        await_only(raw.copy_records_to_table(table.name, records=[tuple(r[c] for c in columns) for r in rows],
                                             columns=columns))
    else:
        sync.execute(table.insert(), rows)
    sync.add(head)
    sync.flush()


def _drop_pending(sync: Session) -> None:
    """after_rollback: the transaction's entries are dropped with it."""
    sync.info.pop(_PENDING, None)


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of walking the chain: `ok`, rows checked, and the first problem found (if any)."""

    ok: bool
    rows: int
    problem: str | None = None
    bad_id: int | None = None


async def verify_audit_chain(session: AsyncSession, *, batch: int = 5000) -> AuditVerification:
    """Walk the whole chain in id order and report the first edited, deleted or reordered row."""
    expected_prev = GENESIS_HASH
    last_id = 0
    count = 0
    while True:
        rows = (await session.exec(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        )).all()
        if not rows:
            break
        for row in rows:
            if row.prev_hash != expected_prev:
                return AuditVerification(False, count, f"audit row {row.id}: its previous-hash does not match "
                                         "the row before it (a row was deleted or altered before it)", row.id)
            if _entry_hash(row) != row.hash:
                return AuditVerification(False, count, f"audit row {row.id}: its content does not match its "
                                         "hash (the row was edited)", row.id)
            expected_prev = row.hash
            last_id = row.id or 0
            count += 1
    head = (await session.exec(select(AuditHead).where(AuditHead.id == 1))).first()
    head_id, head_hash = (head.last_id, head.last_hash) if head else (0, GENESIS_HASH)
    if head_id != last_id or head_hash != expected_prev:
        return AuditVerification(False, count, f"the chain ends at row {last_id} but the head records row "
                                 f"{head_id}: the newest rows were deleted or the head was altered", head_id)
    return AuditVerification(True, count)


async def list_audit_entries(session: AsyncSession, *, after_id: int = 0, limit: int = 50,
                             tool: str | None = None, action_id: int | None = None) -> list[AuditEntry]:
    """Return audit entries with id greater than `after_id`, oldest first, optionally filtered."""
    stmt = select(AuditEntry).where(AuditEntry.id > after_id)
    if tool:
        stmt = stmt.where(AuditEntry.tool == tool)
    if action_id is not None:
        stmt = stmt.where(AuditEntry.action_id == action_id)
    return list((await session.exec(stmt.order_by(AuditEntry.id).limit(limit))).all())


def _utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def search_audit_entries(session: AsyncSession, *, before_id: int = 0, limit: int = 20,
                               actor: str | None = None, tool: str | None = None, entity: str | None = None,
                               entity_id: int | None = None, since: datetime | None = None,
                               until: datetime | None = None, event_id: int | None = None) -> list[AuditEntry]:
    """Return up to `limit` audit entries newest first, with id below `before_id` (0: from the newest).

    Filters: `actor` (a username, or a user id given as digits), `tool`, `entity` (a table name such as
    invoices or pending_actions) with optionally its `entity_id`, the time range `since` (inclusive) to `until`
    (exclusive; naive datetimes are UTC), and `event_id` (that one entry). Raises InvalidInput for `until` not
    after `since`, or `entity_id` without `entity` (ids are per entity type).
    """
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})", field="until")
    if entity_id is not None and entity is None:
        raise InvalidInput("entity_id needs entity (the entity type, e.g. invoices): ids are per type",
                           field="entity_id")
    stmt = select(AuditEntry)
    if before_id > 0:
        stmt = stmt.where(AuditEntry.id < before_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor_id == int(actor) if actor.isdigit()
                          else AuditEntry.actor_username == actor)
    if tool:
        stmt = stmt.where(AuditEntry.tool == tool)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if event_id is not None:
        stmt = stmt.where(AuditEntry.id == event_id)
    return list((await session.exec(stmt.order_by(AuditEntry.id.desc()).limit(limit))).all())


@dataclass(frozen=True)
class AuditLogPage:
    """A page of audit entries (newest first) with the chain's verification, None when it was not walked."""

    entries: list[AuditEntry]
    verification: AuditVerification | None


async def read_audit_log(session: AsyncSession, *, verify: bool = True, before_id: int = 0, limit: int = 20,
                         actor: str | None = None, tool: str | None = None, entity: str | None = None,
                         entity_id: int | None = None, since: datetime | None = None,
                         until: datetime | None = None, event_id: int | None = None) -> AuditLogPage:
    """Return a page of audit entries (search_audit_entries: newest first, the same filters) and, with `verify`,
    the whole chain's verification (verify_audit_chain: it reads every row, so it costs one pass over the log).
    Raises what search_audit_entries raises, and NotFound (on a first page with nothing) for an `event_id` that
    is no event, or an `entity`'s `entity_id` that no event names."""
    entries = await search_audit_entries(session, before_id=before_id, limit=limit, actor=actor, tool=tool,
                                         entity=entity, entity_id=entity_id, since=since, until=until,
                                         event_id=event_id)
    if not entries and before_id == 0:
        await _check_named(session, entity=entity, entity_id=entity_id, event_id=event_id)
    return AuditLogPage(entries, await verify_audit_chain(session) if verify else None)


async def _check_named(session: AsyncSession, *, entity: str | None, entity_id: int | None,
                       event_id: int | None) -> None:
    """Raise NotFound for an event id that is no event, or an entity no event names: an empty page would read
    as 'nothing happened to it'."""
    if event_id is not None and await session.get(AuditEntry, event_id) is None:
        raise NotFound(f"no audit event with id {event_id}", field="event_id")
    if entity is not None and entity_id is not None:
        named = (await session.exec(select(AuditEntry.id).where(AuditEntry.entity == entity,
                                                                AuditEntry.entity_id == entity_id).limit(1))).first()
        if named is None:
            raise NotFound(f"no audit event names {entity} with id {entity_id}", field="entity_id")
