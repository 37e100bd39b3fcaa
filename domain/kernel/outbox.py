"""Domain events: a transactional outbox, an inbox that makes each handler's effects happen once, dead letters.

    record(session, EmployeeTerminated(...))   an `outbox` row in the caller's transaction: committed with the
                                               change or rolled back with it, never one without the other
    COMMIT                                     the relays of this process (workers/relay.py) are woken (after_commit)
    deliver(session, event, subscriptions)     each handler's effects and its `inbox` row (event id, handler) commit
                                               in one transaction (a savepoint each): a redelivered event finds the
                                               row and is skipped, a handler that died mid-effect left nothing

Names and shapes:
- topic: `{context}.{EventName}` (`hr.EmployeeTerminated`); aggregate: `{context}.{entity}` (`hr.employee`) and
  its id as text; sequence: 1, 2, 3 ... per aggregate, assigned here; schema_version: the event model's, bumped
  when a payload changes incompatibly (a handler reads `event.schema_version` before the payload).
- payload: the event model's JSON, at most MAX_PAYLOAD_BYTES (ids and the few facts handlers need, not documents);
  occurred_at: UTC, when it was recorded.
- outbox.published_at: when a relay handed the row to Redis (Redis transport only); outbox.done_at: when every
  handler of its topic had handled it or given up on it. A row is pending while done_at is NULL.
- inbox.status: `handled` (its effects committed), `failed` (attempts so far, retried after a backoff) or
  `dead` (max attempts reached: a dead letter an admin may retry).

Order: one aggregate's events reach a handler in sequence order. A handler is given an event only when the
aggregate's previous event of a topic it subscribes to has been handled by it (or is a dead letter: a dead letter
does not hold its aggregate's later events back, so a retried dead letter arrives after them). The transport may
deliver out of order (two workers, a redelivery); the gate holds an early arrival back and it is tried again.

Errors: record() raises InvalidInput for a malformed topic or aggregate, or a payload above MAX_PAYLOAD_BYTES;
retry_dead_letter raises NotFound for an event and handler that are no dead letter.

The kernel imports no context: consuming contexts declare `HANDLERS: dict[topic, handler]` in their
`handlers.py`, which the entry points collect into an EventHandlers through the module registry.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict
from pydantic import Field as Describe
from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint, and_, delete, func, text, tuple_, update
from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.clock import utcnow
from domain.kernel.db import after_commit, bulk_insert
from domain.kernel.errors import InvalidInput, NotFound
from domain.kernel.sql import id_in
from domain.kernel.plan import ApplyContext, Effect, register_effect
from domain.kernel.schemas import OutputModel

MAX_PAYLOAD_BYTES = 16_384
"""The largest payload (UTF-8 JSON) an event may carry: events carry ids and facts, handlers read the rest."""
MAX_ERROR_CHARS = 2000  # a failed handler's error kept in its inbox row
TOPIC = re.compile(r"^[a-z][a-z_]{0,39}\.[A-Z][A-Za-z0-9]{0,59}$")
AGGREGATE = re.compile(r"^[a-z][a-z_]{0,39}\.[a-z][a-z_]{0,39}$")
MAX_AGGREGATE_ID = 60
BACKOFF_BASE_S = 1.0  # a failed delivery waits BACKOFF_BASE_S * 2^(attempts-1), at most BACKOFF_MAX_S
BACKOFF_MAX_S = 300.0

HANDLED, FAILED, DEAD = "handled", "failed", "dead"
ENDED = (HANDLED, DEAD)


class OutboxEvent(SQLModel, table=True):
    """One recorded event: topic, aggregate and its per-aggregate sequence, schema version, JSON payload, when it
    occurred (UTC), when a relay published it to Redis and when every handler was done with it."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("aggregate", "aggregate_id", "sequence", name="uq_outbox_aggregate_sequence"),
        # Partial: what relays scan (pending, unpublished) stays small however long the history grows.
        Index("ix_outbox_pending", "id", postgresql_where=text("done_at IS NULL"),
              sqlite_where=text("done_at IS NULL")),
        Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL"),
              sqlite_where=text("published_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=100, nullable=False)
    aggregate: str = Field(max_length=81, nullable=False)
    aggregate_id: str = Field(max_length=MAX_AGGREGATE_ID, nullable=False)
    sequence: int = Field(sa_column=Column(BigInteger, nullable=False))
    schema_version: int = Field(default=1, nullable=False)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(default_factory=utcnow, nullable=False)
    published_at: datetime | None = Field(default=None, nullable=True)
    done_at: datetime | None = Field(default=None, nullable=True)


class OutboxRow(Protocol):
    """What delivering an event reads of its outbox row: an OutboxEvent, or a plain row of the outbox table."""

    id: int | None
    topic: str
    aggregate: str
    aggregate_id: str
    sequence: int
    schema_version: int
    payload: str
    occurred_at: datetime


class InboxEntry(SQLModel, table=True):
    """One handler's record of one event: handled (its effects committed with this row), failed (attempts so
    far, the last error, when to try again) or dead (a dead letter)."""

    __tablename__ = "inbox"

    event_id: int = Field(foreign_key="outbox.id", primary_key=True)
    handler: str = Field(max_length=120, primary_key=True)
    status: str = Field(max_length=10, nullable=False, index=True)
    attempts: int = Field(default=0, nullable=False)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: datetime | None = Field(default=None, nullable=True)
    updated_at: datetime = Field(default_factory=utcnow, nullable=False)


class DomainEvent(BaseModel):
    """Base of the events a context declares in its events.py: the class names its topic, aggregate, the field
    holding the aggregate's id, and its schema version; the fields are the payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str]
    aggregate: ClassVar[str]
    aggregate_field: ClassVar[str]
    schema_version: ClassVar[int] = 1


@dataclass(frozen=True)
class Event:
    """An event as a handler receives it (the payload decoded: `Model.model_validate(event.payload)`)."""

    id: int
    topic: str
    aggregate: str
    aggregate_id: str
    sequence: int
    schema_version: int
    payload: dict[str, Any]
    occurred_at: datetime


EventHandler = Callable[[AsyncSession, Event], Awaitable[None]]
"""`await handler(session, event)`: the handler's effects, written in `session` (never committed by it). Its only
effects are those writes: a handler may run more than once before one run commits (a batch rolled back, a worker
killed), so what leaves the database (an email) is queued by it and sent by a worker, never sent from it."""


@dataclass(frozen=True)
class Subscription:
    """A handler of one topic, under the name its inbox rows carry (unique in the process)."""

    topic: str
    name: str
    handler: EventHandler


@dataclass
class EventHandlers:
    """The handlers of this process by topic, registered at start-up (workers/relay.py collects each enabled
    context's `handlers.HANDLERS`)."""

    _by_topic: dict[str, list[Subscription]] = field(default_factory=dict)

    def add(self, topic: str, handler: EventHandler, *, name: str | None = None) -> Subscription:
        """Subscribe `handler` to `topic` under `name` (default: its module and qualified name). Raises ValueError
        for a malformed topic or a name already subscribed to the topic."""
        if not TOPIC.match(topic):
            raise ValueError(f"topic {topic!r} is not '{{context}}.{{EventName}}'")
        name = name or f"{handler.__module__}.{handler.__qualname__}"
        if len(name) > 120:
            raise ValueError(f"handler name {name!r} is longer than 120 characters")
        subs = self._by_topic.setdefault(topic, [])
        if any(s.name == name for s in subs):
            raise ValueError(f"handler {name!r} already subscribes to {topic}")
        sub = Subscription(topic, name, handler)
        subs.append(sub)
        return sub

    def for_topic(self, topic: str) -> list[Subscription]:
        """The subscriptions of `topic`, in registration order (none: the event is done at once)."""
        return list(self._by_topic.get(topic, ()))

    def topics_of(self, name: str) -> list[str]:
        """The topics handler `name` subscribes to."""
        return sorted(t for t, subs in self._by_topic.items() if any(s.name == name for s in subs))

    def __len__(self) -> int:
        return sum(len(subs) for subs in self._by_topic.values())


# Wake-ups: a relay of this process registers a callback per write engine; a unit of work that recorded an event
# calls them after its commit (one after_commit hook per unit of work, however many events it recorded).
_WAKERS: weakref.WeakKeyDictionary[Engine, list[Callable[[], None]]] = weakref.WeakKeyDictionary()
_WAKE_HOOKED = "outbox.wake_hooked"  # session.info key: this unit of work already registered the wake-up


def on_recorded(engine: Engine, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback()` (synchronous, must not block) after each commit through `engine` (a write engine's sync
    engine) that recorded events; returns the function that unregisters it."""
    callbacks = _WAKERS.setdefault(engine, [])
    callbacks.append(callback)

    def remove() -> None:
        if callback in callbacks:
            callbacks.remove(callback)

    return remove


def _wake_after_commit(session: AsyncSession) -> None:
    # Once per unit of work; again when the (nested) transaction that registered the wake-up is no longer active:
    # a savepoint rolled back took its hook with it (a released one leaves two hooks: one wake-up more, harmless).
    sync = session.sync_session
    registered = session.info.get(_WAKE_HOOKED)
    if registered is not None and registered.is_active:
        return
    session.info[_WAKE_HOOKED] = sync.get_nested_transaction() or sync.get_transaction()
    engine = sync.get_bind()

    async def wake() -> None:
        session.info.pop(_WAKE_HOOKED, None)
        for callback in list(_WAKERS.get(engine, ())):  # type: ignore[arg-type]
            callback()

    after_commit(session, wake)


def _check_event(topic: str, aggregate: str, aggregate_id: str | int, payload: dict[str, Any],
                 schema_version: int) -> tuple[str, str]:
    if not TOPIC.match(topic):
        raise InvalidInput(f"event topic {topic!r} is not '{{context}}.{{EventName}}' (e.g. hr.EmployeeTerminated)",
                           field="topic")
    if not AGGREGATE.match(aggregate):
        raise InvalidInput(f"event aggregate {aggregate!r} is not '{{context}}.{{entity}}' (e.g. hr.employee)",
                           field="aggregate")
    key = str(aggregate_id)
    if not key or len(key) > MAX_AGGREGATE_ID:
        raise InvalidInput(f"an aggregate id has 1 to {MAX_AGGREGATE_ID} characters, not {len(key)}",
                           field="aggregate_id")
    if not 1 <= schema_version <= 1000:
        raise InvalidInput(f"schema_version {schema_version} is outside 1..1000", field="schema_version")
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    if len(body.encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidInput(f"the {topic} payload has {len(body.encode())} bytes; at most {MAX_PAYLOAD_BYTES} are "
                           "allowed (carry ids, not documents)", field="payload")
    return key, body


async def record_event(session: AsyncSession, topic: str, aggregate: str, aggregate_id: str | int,
                       payload: dict[str, Any], schema_version: int = 1) -> OutboxEvent:
    """Record an event in the outbox in the caller's transaction (committed with the change, or not at all), as the
    aggregate's next sequence; the relays of this process are woken after the commit.

    `payload` is JSON-ready (at most MAX_PAYLOAD_BYTES encoded). On PostgreSQL, events of one aggregate are
    numbered under a transaction-scoped advisory lock of that aggregate (see _lock_aggregates), so two transactions
    recording for it concurrently take turns instead of one failing on the unique sequence. Raises InvalidInput (see
    module).
    """
    key, body = _check_event(topic, aggregate, aggregate_id, payload, schema_version)
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await _lock_aggregates(conn, aggregate, [key])
    last = (await session.exec(select(func.max(OutboxEvent.sequence)).where(
        OutboxEvent.aggregate == aggregate, OutboxEvent.aggregate_id == key))).one()
    row = OutboxEvent(topic=topic, aggregate=aggregate, aggregate_id=key, sequence=(last or 0) + 1,
                      schema_version=schema_version, payload=body, occurred_at=utcnow())
    session.add(row)
    await session.flush()
    _wake_after_commit(session)
    return row


async def record(session: AsyncSession, event: DomainEvent) -> OutboxEvent:
    """Record a context's event model (its topic, aggregate, aggregate id field and schema version) with
    record_event."""
    return await record_event(session, event.topic, event.aggregate, getattr(event, event.aggregate_field),
                              event.model_dump(mode="json"), event.schema_version)


AGGREGATE_LOCKS_MAX = 64
"""The most aggregates of one kind a transaction locks one by one when it records their events (PostgreSQL); for
more, it locks the kind (see _lock_aggregates)."""

_LOCK_ONE = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:kind, 0)), "
                 "pg_advisory_xact_lock(hashtextextended(:key, 0))")
_LOCK_SOME = text("SELECT pg_advisory_xact_lock_shared(hashtextextended(:kind, 0)) UNION ALL "
                  "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM "
                  "(SELECT k FROM unnest(CAST(:keys AS text[])) AS k ORDER BY k) AS ordered")
_LOCK_KIND = text("SELECT pg_advisory_xact_lock(hashtextextended(:kind, 0))")


async def _lock_aggregates(conn: Any, aggregate: str, keys: list[str]) -> None:
    """Take, until the transaction ends, the locks under which the events of aggregate kind `aggregate` (`hr.employee`)
    and ids `keys` (sorted, distinct) are numbered (PostgreSQL advisory locks; SQLite has one writer at a time):
    the kind's lock shared and each aggregate's exclusively, or for more than AGGREGATE_LOCKS_MAX aggregates the
    kind's alone, exclusively (it excludes every other transaction numbering events of that kind until this one
    ends). Advisory locks live in PostgreSQL's shared lock table, of max_locks_per_transaction x max_connections
    entries (6,400 by default) for every session together: a term's invoices, 10,000 locks in one transaction,
    failed with "out of shared memory" when other sessions held locks too."""
    if len(keys) > AGGREGATE_LOCKS_MAX:
        await conn.execute(_LOCK_KIND, {"kind": aggregate})
    elif len(keys) == 1:
        await conn.execute(_LOCK_ONE, {"kind": aggregate, "key": f"{aggregate}:{keys[0]}"})
    else:
        await conn.execute(_LOCK_SOME, {"kind": aggregate, "keys": [f"{aggregate}:{k}" for k in keys]})


RETURNING_MAX = 200
"""record_all writes at most this many events with one INSERT ... RETURNING (one round trip); more go by reserved
ids and one COPY (domain.kernel.db.bulk_insert), which is faster in bulk."""

_LAST_SEQUENCES: Any = None  # the PostgreSQL query of record_all, built once (see _last_sequences_statement)


def _last_sequences_statement() -> Any:
    """(aggregate id, its highest sequence or NULL) for each key of the array parameter `keys` of aggregate
    `aggregate`: one subquery per key, which PostgreSQL answers from the end of the (aggregate, aggregate_id,
    sequence) unique index in one step, however many events the aggregate has (a MAX over a GROUP BY reads all of
    them: a student's absences over years)."""
    global _LAST_SEQUENCES
    if _LAST_SEQUENCES is None:
        keys = func.unnest(bindparam("keys", type_=ARRAY(Text))).table_valued("k").render_derived(name="wanted")
        last = (select(func.max(OutboxEvent.sequence))
                .where(OutboxEvent.aggregate == bindparam("aggregate"), OutboxEvent.aggregate_id == keys.c.k)
                .scalar_subquery())
        _LAST_SEQUENCES = select(keys.c.k, last)
    return _LAST_SEQUENCES


async def _last_sequences(session: AsyncSession, aggregate: str, keys: list[str]) -> dict[tuple[str, str], int]:
    """{(aggregate, key): highest sequence} of the keys of `aggregate` that have events (keys without are left out)."""
    conn = await session.connection()
    found: dict[tuple[str, str], int] = {}
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        if conn.dialect.name == "postgresql":
            rows = await conn.execute(_last_sequences_statement(), {"keys": chunk, "aggregate": aggregate})
        else:
            rows = await conn.execute(select(OutboxEvent.aggregate_id, func.max(OutboxEvent.sequence))
                                      .where(OutboxEvent.aggregate == aggregate, OutboxEvent.aggregate_id.in_(chunk))
                                      .group_by(OutboxEvent.aggregate_id))
        found.update({(aggregate, k): n for k, n in rows.all() if n is not None})
    return found


async def record_all(session: AsyncSession, events: Sequence[DomainEvent]) -> list[int]:
    """Record many events in the caller's transaction in one write (a batch of issued invoices), numbered per
    aggregate as record_event does (several events of one aggregate take consecutive sequences, in the order
    given); returns their ids, in the order of `events`. Up to RETURNING_MAX events are one INSERT ... RETURNING,
    more are one COPY with reserved ids. Raises InvalidInput as record_event does, before anything is written."""
    if not events:
        return []
    checked = [(e, *_check_event(e.topic, e.aggregate, getattr(e, e.aggregate_field), e.model_dump(mode="json"),
                                 e.schema_version)) for e in events]
    conn = await session.connection()
    wanted = sorted({(e.aggregate, key) for e, key, _body in checked})
    last: dict[tuple[str, str], int] = {}
    for aggregate in sorted({a for a, _k in wanted}):
        keys = [k for a, k in wanted if a == aggregate]
        if conn.dialect.name == "postgresql":
            await _lock_aggregates(conn, aggregate, keys)
        last.update(await _last_sequences(session, aggregate, keys))
    now = utcnow()
    values = []
    for event, key, body in checked:
        sequence = last[(event.aggregate, key)] = last.get((event.aggregate, key), 0) + 1
        values.append({"topic": event.topic, "aggregate": event.aggregate, "aggregate_id": key,
                       "sequence": sequence, "schema_version": event.schema_version, "payload": body,
                       "occurred_at": now})
    table = OutboxEvent.__table__
    if len(values) <= RETURNING_MAX:
        result = await conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), values)
        ids = [row[0] for row in result.all()]
    else:
        ids = await bulk_insert(session, table, values, with_ids=True)
    _wake_after_commit(session)
    return ids


EVENT_EFFECT = "outbox.event"
"""The plan change (domain.kernel.plan.Effect) recording an event when a gated command's plan is applied."""


def event_effect(event: DomainEvent) -> Effect:
    """The change that records `event` when the plan holding it is applied: a gated command's events are part
    of what was approved (hashed with the plan) and written in the same transaction. Raises InvalidInput as
    record_event does, when the plan is made."""
    key, _body = _check_event(event.topic, event.aggregate, getattr(event, event.aggregate_field),
                              event.model_dump(mode="json"), event.schema_version)
    return Effect(EVENT_EFFECT, {"topic": event.topic, "aggregate": event.aggregate, "aggregate_id": key,
                                 "schema_version": event.schema_version, "payload": event.model_dump(mode="json")})


async def _apply_event(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int | None:
    row = await record_event(session, payload["topic"], payload["aggregate"], payload["aggregate_id"],
                             dict(payload["payload"]), payload["schema_version"])
    return row.id


register_effect(EVENT_EFFECT, _apply_event)


def event_of(row: OutboxRow) -> Event:
    """The handler's view of an outbox row."""
    return Event(id=row.id or 0, topic=row.topic, aggregate=row.aggregate, aggregate_id=row.aggregate_id,
                 sequence=row.sequence, schema_version=row.schema_version, payload=json.loads(row.payload),
                 occurred_at=row.occurred_at)


async def pending_events(session: AsyncSession, *, after_id: int = 0, limit: int = 100) -> list[OutboxEvent]:
    """Events some handler has not finished with (done_at NULL), id above `after_id`, oldest first."""
    rows = await session.exec(select(OutboxEvent).where(OutboxEvent.done_at.is_(None), OutboxEvent.id > after_id)
                              .order_by(OutboxEvent.id).limit(limit))
    return list(rows.all())


async def unpublished_ids(session: AsyncSession, *, limit: int = 500) -> list[tuple[int, str]]:
    """(id, topic) of the events no relay has published to Redis yet, oldest first: what a message carries, without
    loading the rows (a publisher's batch of 500)."""
    rows = await session.exec(select(OutboxEvent.id, OutboxEvent.topic).where(OutboxEvent.published_at.is_(None))
                              .order_by(OutboxEvent.id).limit(limit))
    return [(event_id, topic) for event_id, topic in rows.all()]


async def events_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, OutboxRow]:
    """{id: event} of the outbox rows of `ids` (ids no row has are left out), as plain rows (OutboxRow), not
    session objects: what a consumer delivers it only reads, and making and tracking ORM objects was about a
    tenth of a consumer's CPU per event."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    columns = OutboxEvent.__table__.c  # type: ignore[attr-defined]
    rows = await session.exec(select(*columns).where(id_in(OutboxEvent.id, wanted)))  # type: ignore[call-overload]
    return {row.id: row for row in rows.all()}


async def mark_published(session: AsyncSession, ids: Sequence[int]) -> None:
    """Stamp the events of `ids` as published to Redis now."""
    if ids:
        await session.exec(update(OutboxEvent)  # type: ignore[call-overload]
                           .where(id_in(OutboxEvent.id, ids))
                           .values(published_at=utcnow()).execution_options(synchronize_session=False))


async def republish_stale(session: AsyncSession, *, published_before: datetime) -> int:
    """Mark unpublished again the events published to Redis before `published_before` that some handler has still
    not finished with (Redis lost them with its data, or they wait long): the relay publishes them again, and a
    duplicate is skipped by the inbox. Returns how many."""
    result = await session.exec(update(OutboxEvent).where(  # type: ignore[call-overload]
        OutboxEvent.done_at.is_(None), OutboxEvent.published_at < published_before)
        .values(published_at=None).execution_options(synchronize_session=False))
    return result.rowcount or 0


def backoff(attempts: int) -> timedelta:
    """How long a delivery that failed `attempts` times waits before the next try (doubling, capped)."""
    return timedelta(seconds=min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** max(attempts - 1, 0)))


Outcome = Literal["handled", "skipped", "failed", "dead", "waiting"]


@dataclass
class Delivery:
    """What deliver() did for one event: per handler name, handled (now), skipped (handled or dead before),
    failed (to be retried), dead (gave up now) or waiting (a backoff not over, or the aggregate's previous event
    not handled yet); `done` when no handler has anything left to do with it."""

    event_id: int
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return all(o in ("handled", "skipped", "dead") for o in self.outcomes.values())


async def _previous_unfinished(session: AsyncSession, event: OutboxRow, sub: Subscription,
                               topics: list[str]) -> bool:
    """Whether the aggregate's previous event of `topics` is not yet handled (nor dead) by `sub`'s handler."""
    previous = (await session.exec(
        select(OutboxEvent.id).where(OutboxEvent.aggregate == event.aggregate,
                                     OutboxEvent.aggregate_id == event.aggregate_id,
                                     OutboxEvent.sequence < event.sequence, OutboxEvent.topic.in_(topics))
        .order_by(OutboxEvent.sequence.desc()).limit(1))).first()
    if previous is None:
        return False
    status = (await session.exec(select(InboxEntry.status).where(
        InboxEntry.event_id == previous, InboxEntry.handler == sub.name))).first()
    return status not in ENDED


async def deliver(session: AsyncSession, row: OutboxRow, handlers: EventHandlers, *,
                  max_attempts: int) -> Delivery:
    """Deliver one event to each handler of its topic in the caller's (write) transaction, a savepoint each: the
    inbox row (handled) and the handler's effects are kept together, or, when the handler raises, both are
    rolled back and the failure is recorded (failed with a backoff, or dead after `max_attempts`). An event every
    handler is done with is stamped done. A handler is skipped while the aggregate's previous event of its topics
    is not handled by it (see the module)."""
    now = utcnow()
    result = Delivery(row.id or 0)
    event = event_of(row)
    for sub in handlers.for_topic(row.topic):
        entry = await session.get(InboxEntry, (row.id, sub.name))
        if entry is not None and entry.status in ENDED:
            result.outcomes[sub.name] = "skipped"
            continue
        if entry is not None and entry.next_attempt_at is not None and entry.next_attempt_at > now:
            result.outcomes[sub.name] = "waiting"
            continue
        if await _previous_unfinished(session, row, sub, handlers.topics_of(sub.name)):
            result.outcomes[sub.name] = "waiting"
            continue
        attempts = (entry.attempts if entry is not None else 0) + 1
        try:
            async with session.begin_nested():
                if entry is None:
                    session.add(InboxEntry(event_id=row.id or 0, handler=sub.name, status=HANDLED, attempts=attempts,
                                           updated_at=now))
                    try:
                        await session.flush()
                    except IntegrityError as exc:  # another consumer's row: it handled the event, or is doing so
                        raise _TakenElsewhere from exc
                else:
                    taken = await session.exec(update(InboxEntry).where(  # type: ignore[call-overload]
                        InboxEntry.event_id == row.id, InboxEntry.handler == sub.name,
                        InboxEntry.status == FAILED, InboxEntry.attempts == entry.attempts)
                        .values(status=HANDLED, attempts=attempts, next_attempt_at=None, updated_at=now)
                        .execution_options(synchronize_session=False))
                    if taken.rowcount != 1:
                        raise _TakenElsewhere
                await sub.handler(session, event)
            result.outcomes[sub.name] = "handled"
        except _TakenElsewhere:  # another consumer handled it concurrently: its commit decides
            result.outcomes[sub.name] = "skipped"
        except Exception as exc:  # the handler's failure: its effects are rolled back, the attempt is kept
            status = DEAD if attempts >= max_attempts else FAILED
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
            await _record_failure(session, row.id or 0, sub.name, entry, status=status, attempts=attempts,
                                  error=error, now=now)
            result.outcomes[sub.name] = "dead" if status == DEAD else "failed"
        if entry is not None:
            session.expunge(entry)  # the update above went around the session: read it afresh next time
    if result.done:
        await session.exec(update(OutboxEvent).where(OutboxEvent.id == row.id)  # type: ignore[call-overload]
                           .values(done_at=now))
    return result


_Key = tuple[str, str, int]  # (aggregate, aggregate id, sequence)


@dataclass
class _Predecessors:
    """The order gate of a batch, with one query for the predecessors outside the batch: for each event, the
    aggregate's event just before it (sequence - 1) and each handler's status of it; what the batch itself does
    is noted as it goes. A predecessor of a topic the handler does not subscribe to is asked the slow way
    (_previous_unfinished: the previous event of its topics)."""

    topics: dict[_Key, str]  # the topic of each predecessor (in the batch or loaded)
    ended: dict[tuple[_Key, str], bool]  # (predecessor, handler) -> handled or dead

    @classmethod
    async def load(cls, session: AsyncSession, rows: Sequence[OutboxRow]) -> _Predecessors:
        in_batch = {(r.aggregate, r.aggregate_id, r.sequence): r.topic for r in rows}
        wanted = sorted({(r.aggregate, r.aggregate_id, r.sequence - 1) for r in rows if r.sequence > 1}
                        - set(in_batch))
        gate = cls(dict(in_batch), {})
        ids: dict[int, _Key] = {}
        postgresql = (await session.connection()).dialect.name == "postgresql"
        for start in range(0, len(wanted), 300):
            chunk = wanted[start:start + 300]
            if postgresql:  # the keys as three arrays: one statement text whatever their number (its plan kept)
                found = await session.exec(text(
                    "SELECT o.id, o.aggregate, o.aggregate_id, o.sequence, o.topic FROM outbox AS o "
                    "JOIN unnest(CAST(:aggregates AS text[]), CAST(:aggregate_ids AS text[]), "
                    "CAST(:sequences AS bigint[])) AS w(aggregate, aggregate_id, sequence) "
                    "ON o.aggregate = w.aggregate AND o.aggregate_id = w.aggregate_id AND o.sequence = w.sequence"
                ).bindparams(aggregates=[k[0] for k in chunk], aggregate_ids=[k[1] for k in chunk],
                             sequences=[k[2] for k in chunk]))  # type: ignore[call-overload]
            else:
                found = await session.exec(select(OutboxEvent.id, OutboxEvent.aggregate, OutboxEvent.aggregate_id,
                                                  OutboxEvent.sequence, OutboxEvent.topic).where(
                    tuple_(OutboxEvent.aggregate, OutboxEvent.aggregate_id, OutboxEvent.sequence).in_(chunk)))
            for event_id, aggregate, aggregate_id, sequence, topic in found.all():
                gate.topics[(aggregate, aggregate_id, sequence)] = topic
                ids[event_id] = (aggregate, aggregate_id, sequence)
        if ids:
            statuses = await session.exec(select(InboxEntry.event_id, InboxEntry.handler, InboxEntry.status)
                                          .where(id_in(InboxEntry.event_id, ids)))
            for event_id, handler, status in statuses.all():
                gate.ended[(ids[event_id], handler)] = status in ENDED
        return gate

    def note(self, row: OutboxRow, handler: str, *, ended: bool) -> None:
        """Record what the batch did with `row` for `handler`."""
        self.ended[((row.aggregate, row.aggregate_id, row.sequence), handler)] = ended

    async def unfinished(self, session: AsyncSession, row: OutboxRow, sub: Subscription,
                         handlers: EventHandlers) -> bool:
        """Whether the aggregate's previous event of `sub`'s topics is not yet handled (nor dead) by it."""
        if row.sequence <= 1:
            return False
        key = (row.aggregate, row.aggregate_id, row.sequence - 1)
        if self.topics.get(key) in handlers.topics_of(sub.name):
            return not self.ended.get((key, sub.name), False)
        return await _previous_unfinished(session, row, sub, handlers.topics_of(sub.name))


class HandlerFailed(Exception):
    """A handler raised during deliver_batch: the caller rolls the batch back and delivers it again with deliver
    (a savepoint per handler, the failure recorded)."""


async def deliver_batch(session: AsyncSession, rows: Sequence[OutboxRow], handlers: EventHandlers) -> list[Delivery]:
    """Deliver `rows` (oldest first) in the caller's write transaction the fast way, for the common case where
    every handler succeeds: the inbox rows read in one query and written in one INSERT, the events stamped done in
    one UPDATE, no savepoint. The order gate holds as in deliver (the previous event handled earlier in the batch is
    known without a query). Raises HandlerFailed when a handler raises, and IntegrityError (at the INSERT) when
    another consumer handled one of the events meanwhile: either way the caller must roll the transaction back
    (the effects written so far would be partial) and deliver the batch again with deliver()."""
    if not rows:
        return []
    now = utcnow()
    ids = [row.id or 0 for row in rows]
    existing = {(e.event_id, e.handler): e for e in (await session.exec(
        select(InboxEntry).where(id_in(InboxEntry.event_id, ids)))).all()}
    gate = await _Predecessors.load(session, rows)
    results: list[Delivery] = []
    new_entries: list[dict[str, Any]] = []
    for row in rows:
        result = Delivery(row.id or 0)
        event = event_of(row)
        for sub in handlers.for_topic(row.topic):
            entry = existing.get((row.id, sub.name))
            if entry is not None and entry.status in ENDED:
                result.outcomes[sub.name] = "skipped"
                gate.note(row, sub.name, ended=True)
                continue
            if entry is not None and entry.next_attempt_at is not None and entry.next_attempt_at > now:
                result.outcomes[sub.name] = "waiting"
                gate.note(row, sub.name, ended=False)
                continue
            if await gate.unfinished(session, row, sub, handlers):
                result.outcomes[sub.name] = "waiting"
                gate.note(row, sub.name, ended=False)
                continue
            if entry is not None:  # a failed delivery's retry: the careful path (its row is updated, not inserted)
                raise HandlerFailed(f"event {row.id} is a retry for {sub.name}")
            try:
                await sub.handler(session, event)
            except Exception as exc:  # not chained: the edges would take a handler's refused connection for ours
                raise HandlerFailed(f"{sub.name} failed on event {row.id}: {type(exc).__name__}") from None
            new_entries.append({"event_id": row.id, "handler": sub.name, "status": HANDLED, "attempts": 1,
                                "last_error": None, "next_attempt_at": None, "updated_at": now})
            gate.note(row, sub.name, ended=True)
            result.outcomes[sub.name] = "handled"
        results.append(result)
    await bulk_insert(session, InboxEntry.__table__, new_entries)
    done = [r.event_id for r in results if r.done]
    if done:
        await session.exec(update(OutboxEvent)  # type: ignore[call-overload]
                           .where(id_in(OutboxEvent.id, done))
                           .values(done_at=now).execution_options(synchronize_session=False))
    return results


PRUNE_BATCH = 5000
"""prune_done deletes at most this many events per call (one short transaction each)."""


async def prune_done(session: AsyncSession, *, before: datetime, limit: int = PRUNE_BATCH) -> int:
    """Delete, in the caller's transaction, up to `limit` of the oldest events every handler was done with before
    `before` (done_at), with their inbox rows; an event with a dead letter is kept (it stays visible and
    retryable). Returns how many events were deleted. Order is kept: an event whose predecessor is gone has none
    to wait for (it was done), and an aggregate's next event is numbered after the highest sequence left."""
    if limit < 1:
        raise InvalidInput(f"limit must be 1 or more, got {limit}", field="limit")
    dead = select(InboxEntry.event_id).where(InboxEntry.event_id == OutboxEvent.id, InboxEntry.status == DEAD)
    ids = list((await session.exec(
        select(OutboxEvent.id).where(OutboxEvent.done_at.is_not(None), OutboxEvent.done_at < before,  # type: ignore
                                     ~dead.exists()).order_by(OutboxEvent.id).limit(limit))).all())
    if not ids:
        return 0
    await session.exec(delete(InboxEntry).where(id_in(InboxEntry.event_id, ids)))  # type: ignore[call-overload]
    await session.exec(delete(OutboxEvent).where(id_in(OutboxEvent.id, ids)))  # type: ignore[call-overload]
    return len(ids)


class _TakenElsewhere(Exception):
    """Another consumer moved the inbox row on first."""


async def _record_failure(session: AsyncSession, event_id: int, handler: str, entry: InboxEntry | None, *,
                          status: str, attempts: int, error: str, now: datetime) -> None:
    next_at = None if status == DEAD else now + backoff(attempts)
    try:
        async with session.begin_nested():
            if entry is None:
                session.add(InboxEntry(event_id=event_id, handler=handler, status=status, attempts=attempts,
                                       last_error=error, next_attempt_at=next_at, updated_at=now))
                await session.flush()
            else:
                await session.exec(update(InboxEntry).where(  # type: ignore[call-overload]
                    InboxEntry.event_id == event_id, InboxEntry.handler == handler, InboxEntry.status == FAILED)
                    .values(status=status, attempts=attempts, last_error=error, next_attempt_at=next_at,
                            updated_at=now).execution_options(synchronize_session=False))
    except IntegrityError:  # another consumer recorded this delivery meanwhile: its row stands
        pass


@dataclass(frozen=True)
class DeadLetter:
    """An event a handler gave up on: the event, the handler, its attempts and last error, when it died."""

    event_id: int
    topic: str
    aggregate: str
    aggregate_id: str
    sequence: int
    occurred_at: datetime
    handler: str
    attempts: int
    last_error: str | None
    died_at: datetime


async def dead_letters(session: AsyncSession, *, before_event_id: int | None = None,
                       limit: int = 50) -> list[DeadLetter]:
    """Dead letters, newest event first, an event's handlers by name (`before_event_id`: the events older than
    that one); at most `limit` rows."""
    query = (select(InboxEntry, OutboxEvent).join(OutboxEvent, and_(OutboxEvent.id == InboxEntry.event_id))
             .where(InboxEntry.status == DEAD))
    if before_event_id:
        query = query.where(InboxEntry.event_id < before_event_id)
    rows = (await session.exec(query.order_by(InboxEntry.event_id.desc(), InboxEntry.handler).limit(limit))).all()
    return [DeadLetter(event_id=e.id or 0, topic=e.topic, aggregate=e.aggregate, aggregate_id=e.aggregate_id,
                       sequence=e.sequence, occurred_at=e.occurred_at, handler=i.handler, attempts=i.attempts,
                       last_error=i.last_error, died_at=i.updated_at) for i, e in rows]


async def dead_letter_page(session: AsyncSession, *, before_event_id: int = 0,
                           limit: int = 50) -> tuple[list[DeadLetter], int | None]:
    """A page of dead letters (see dead_letters) that never splits one event's handlers across pages (unless a
    single event has more than `limit`), and the `before_event_id` of the next page (None: this is the last)."""
    rows = await dead_letters(session, before_event_id=before_event_id, limit=limit + 1)
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    cut = rows[limit].event_id
    if page[-1].event_id == cut and page[0].event_id != cut:
        page = [row for row in page if row.event_id != cut]
    return page, page[-1].event_id


class DeadLetterOut(OutputModel):
    """An event a handler gave up on."""

    event_id: int
    topic: str
    aggregate: str = Describe(description="With aggregate_id and sequence: which entity, its nth event.")
    aggregate_id: str
    sequence: int
    occurred_at: datetime = Describe(description="UTC.")
    handler: str
    attempts: int
    last_error: str | None = None
    died_at: datetime


class DeadLettersOut(OutputModel):
    """A page of dead letters, newest event first."""

    items: list[DeadLetterOut]
    next_cursor: str | None = None


class RetriedOut(OutputModel):
    """The handlers that will get the event again."""

    event_id: int
    handlers: list[str]


async def retry_dead_letter(session: AsyncSession, *, event_id: int, handler: str | None = None) -> list[str]:
    """Give a dead letter its attempts back: the handler (every dead handler of the event when None) gets the
    event again, once the commit wakes the relays. Returns the handler names retried. Raises NotFound when the
    event has no such dead letter."""
    query = select(InboxEntry).where(InboxEntry.event_id == event_id, InboxEntry.status == DEAD)
    if handler is not None:
        query = query.where(InboxEntry.handler == handler)
    entries = list((await session.exec(query)).all())
    if not entries:
        which = f" for handler {handler}" if handler else ""
        raise NotFound(f"no dead letter with id {event_id}{which}; list_dead_letters shows them", field="event_id")
    now = utcnow()
    for entry in entries:
        entry.status, entry.attempts, entry.next_attempt_at, entry.updated_at = FAILED, 0, now, now
        session.add(entry)
    await session.exec(update(OutboxEvent).where(OutboxEvent.id == event_id)  # type: ignore[call-overload]
                       .values(done_at=None, published_at=None))
    await session.flush()
    _wake_after_commit(session)
    return [e.handler for e in entries]
