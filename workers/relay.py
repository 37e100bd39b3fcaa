"""The outbox relay: delivers recorded domain events (domain/kernel/outbox.py) to the handlers contexts register.

Two transports, the same handlers and the same inbox:

- Embedded default (no Redis): `InProcessRelay`, a task of the server process. Woken after each commit that
  recorded events (the unit of work's after_commit hook) and every event_poll_seconds (events other processes
  committed, retries whose backoff is over), it pages through the pending events in id order and delivers each,
  a page per write transaction (a savepoint per handler: domain/kernel/outbox.py `deliver`).
- Redis configured: `StreamPublisher` (in the server and in every worker) moves unpublished events to one Redis
  Stream, `{queue_name}:events`, one XADD per event, and stamps them published in the same transaction: a relay
  that dies before that commit publishes them again (a duplicate the inbox skips), never loses one. Publishers take
  turns on an advisory lock (PostgreSQL) or the write lock (SQLite), so the stream holds events in id order.
  `StreamConsumer` (in every worker) reads the stream through one consumer group (XREADGROUP) and claims what a
  dead or slow consumer left unacknowledged for event_claim_idle_seconds (XAUTOCLAIM); it acknowledges (and
  deletes) a message only after the transaction that handled the event committed, and leaves a failed or waiting
  delivery unacknowledged, to be claimed again. Events published more than max(60 s, 6 x event_claim_idle_seconds)
  ago and still not handled are published again (Redis lost them with its data; the inbox skips a duplicate), and
  a consumer whose group vanished with Redis's data makes it again.

Order (the choice, documented in README "Domain events"): the transport does not carry it. Several workers
take messages from one stream, and a redelivered message arrives late; instead a handler is given an aggregate's
event only once it handled the aggregate's previous event of its topics (the gate in outbox.deliver), and an early
arrival is left pending and tried again (in-process: the next round; Redis: soon by the consumer that took it,
else at the next claim: StreamConsumer.take).

Tenants: a relay serves the default tenant and every active registered one (domain/kernel/tenants.py), in turn,
each in its own units of work; a Redis message names its event's tenant, and the consumer handles it there. A round
serves only the tenants with something to do: those whose commits in this process woke it, and, every poll, those
whose outbox a probe finds work in (on PostgreSQL one statement per cluster looks into every tenant's schema:
workers.tenancy.tenants_with), where every round served every tenant with a unit of work of its own before.

Handlers: each enabled context's `domain/<context>/handlers.py` may declare `HANDLERS: dict[topic, handler]` (or
a list of handlers per topic); `collect_handlers` gathers them at start-up for the module names the catalogue
enabled.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel import outbox, tenants
from domain.kernel.clock import utcnow
from domain.kernel.errors import InvalidInput
from domain.kernel.outbox import EventHandlers
from domain.kernel.tenants import check_code, current_tenant, tenant_in_use
from domain.oauth import service as oauth
from tools.runtime import Runtime
from workers.tenancy import tenants_with

if TYPE_CHECKING:  # redis is imported by the transport that uses it: the embedded default has no Redis
    from redis.asyncio import Redis

log = logging.getLogger(__name__)
PAGE = 100  # events a round delivers per write transaction (on SQLite the process's writes wait that long)
PUBLISH_BATCH = 500  # events a publisher moves to Redis per transaction
CONSUME_BATCH = 100  # messages a consumer takes at a time
GROUP = "mcs-erp-handlers"
PUBLISH_LOCK = 0x6d63735f6f7574  # the advisory lock publishers take turns on (PostgreSQL)
REDIS_TIMEOUT_S = 5.0  # the longest a publisher waits for Redis to take a batch
REPUBLISH_MIN_S = 60.0  # an event published this long ago and still not handled is published again (at least)
RETRY_FIRST_S = 0.02  # a consumer tries a waiting delivery of its own again this soon, then twice as late each time
HELD_MAX = 10 * CONSUME_BATCH  # waiting messages a consumer retries itself at most; more are left to the claim
LINGER_S = 0.01
"""How long a publisher woken by a commit, and a consumer that took fewer messages than a batch, wait for more
before their round (Kafka's linger.ms): under load a round then carries many events instead of one commit's, and
a round's fixed cost (its transactions, Redis round trips) is shared. bench/outbox.py measured rounds of about five
events without it, most of each worker's CPU going to that fixed cost."""
CLAIMS_PER_IDLE = 4  # a consumer looks for messages left idle (XAUTOCLAIM) this many times per claim_idle


def stream_key(queue_name: str) -> str:
    """The Redis Stream of a deployment's events (its queue name's, so two schools sharing a Redis never mix)."""
    return f"{queue_name}:events"


def collect_handlers(module_names: Iterable[str]) -> EventHandlers:
    """Gather `HANDLERS` from `domain.<name>.handlers` of each module name that has one (contexts without a
    handlers module, or module names that are no domain package, contribute nothing). Raises ValueError for a
    malformed topic or a handler subscribed twice."""
    handlers = EventHandlers()
    for name in dict.fromkeys(module_names):
        try:
            spec = importlib.util.find_spec(f"domain.{name}.handlers")
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        declared: dict[str, Any] = getattr(importlib.import_module(f"domain.{name}.handlers"), "HANDLERS", {})
        for topic, fns in declared.items():
            for fn in fns if isinstance(fns, list | tuple) else [fns]:
                handlers.add(topic, fn)
    return handlers


PRUNE_EVERY_S = 3600.0  # how often a relay deletes old done events (event_retention_days) and expired sign-ins
PRUNE_BATCHES = 20  # at most this many outbox.prune_done batches (one transaction each) per tenant per pruning
TENANTS_TTL_S = 5.0  # how long a relay reuses the list of tenants it serves (a new tenant waits at most that)


async def tenant_codes(runtime: Runtime) -> list[str | None]:
    """The tenants a relay serves: the default one (None) and every active registered tenant, by code."""
    with tenant_in_use(None):
        async with runtime.db.read() as session:
            return [None, *await tenants.active_codes(session)]


def handlers_of(runtime: Runtime) -> EventHandlers:
    """The handlers of the contexts this runtime's catalogue enabled."""
    return collect_handlers(runtime.catalogue.modules)


@dataclass
class RoundResult:
    """What one round did: events looked at, deliveries per outcome, the events done."""

    events: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    done: list[int] = field(default_factory=list)  # the events no handler has anything left to do with

    def add(self, delivery: outbox.Delivery) -> None:
        self.events += 1
        for outcome in delivery.outcomes.values():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if delivery.done:
            self.done.append(delivery.event_id)


class _Wakeable:
    """A loop task woken by this process's commits that recorded events, and every `poll_s` seconds; a round that
    a commit woke starts `linger_s` later (the commits meanwhile join it).

    A round serves the tenants whose commits woke it and those whose previous round had more to do at once; once
    every `poll_s` (and at the first round) also the tenants `tenants_with` finds `pending` work in (events of other
    processes, retries whose backoff is over)."""

    name = "mcs-erp-relay"
    linger_s = 0.0
    pending = "done_at IS NULL"  # the outbox condition of a tenant with something to do (tenants_with)

    def __init__(self, runtime: Runtime, *, poll_s: float | None = None):
        self.runtime = runtime
        self.poll_s = runtime.settings.event_poll_seconds if poll_s is None else poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unhook: list[Callable[[], None]] = []
        self._tenants: tuple[float, list[str | None]] = (0.0, [])
        self._pruned_at = float("-inf")  # the first round prunes, then every PRUNE_EVERY_S
        self._woken: set[str | None] = set()  # tenants whose commits woke the loop since its last round
        self._again: set[str | None] = set()  # tenants whose last round had more to do at once
        self._polled_at = float("-inf")  # when a round last probed every tenant (the first round does)

    def wake(self) -> None:
        """Run a round now for the tenant of the calling context (safe from any thread or event loop; a wake-up
        from another thread that races the round's start is served by the next poll at the latest)."""
        self._woken.add(current_tenant())
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        """Start the loop as a task of this process (its first round at once)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._unhook.append(outbox.on_recorded(self.runtime.db.write_engine.sync_engine, self.wake))

        def hook_tenant(engine: Any) -> None:  # a SQLite tenant's own file has its own write engine
            self._unhook.append(outbox.on_recorded(engine.sync_engine, self.wake))

        listeners = self.runtime.db.engine_listeners
        listeners.append(hook_tenant)

        def unlisten() -> None:
            if hook_tenant in listeners:
                listeners.remove(hook_tenant)

        self._unhook.append(unlisten)
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait for it (a round cut short rolls back; its events are delivered later)."""
        while self._unhook:
            self._unhook.pop()()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def round(self, codes: Sequence[str | None]) -> bool:
        """One round for the tenants `codes`; True when there may be more to do at once (each_tenant keeps for whom,
        and the next round serves them)."""
        raise NotImplementedError

    async def round_codes(self) -> list[str | None]:
        """The tenants the next round serves: those woken and those with more to do; when a poll is due, also
        those `tenants_with` finds `pending` work in, among the tenants served (`tenants`). Takes the wake-ups."""
        woken, self._woken = self._woken, set()
        wanted = woken | self._again
        self._again = set()
        if time.monotonic() - self._polled_at >= self.poll_s:
            self._polled_at = time.monotonic()
            codes = await self.tenants()
            found = set(await tenants_with(self.runtime, [c for c in codes if c not in wanted], "outbox",
                                           self.pending))
            return [c for c in codes if c in wanted or c in found] + [c for c in wanted if c not in codes]
        return sorted(wanted, key=lambda c: (c is not None, c or ""))

    async def tenants(self) -> list[str | None]:
        """The tenants whose outboxes a round serves (tenant_codes), looked up at most every TENANTS_TTL_S."""
        at, codes = self._tenants
        now = time.monotonic()
        if not codes or now - at > TENANTS_TTL_S:
            codes = await tenant_codes(self.runtime)
            self._tenants = (now, codes)
        return codes

    async def each_tenant(self, work: Callable[[], Awaitable[bool]], codes: Sequence[str | None] | None = None
                          ) -> bool:
        """Run `work()` in each tenant of `codes` (default: every tenant served) in turn; a tenant that fails (a
        lagging migration) is logged and the others still served; True when any tenant may have more to do at
        once (those tenants are served again by the next round)."""
        more = False
        if codes is None:
            codes = await self.tenants()
        for code in codes:
            try:
                with tenant_in_use(code):
                    if await work():
                        more = True
                        self._again.add(code)
            except asyncio.CancelledError:
                raise
            except Exception:
                if code is None or len(codes) == 1:
                    raise
                log.exception("%s: tenant %s failed; the others are served", self.name, code)
        return more

    async def prune(self) -> int:
        """Delete each tenant's events that every handler was done with more than event_retention_days ago, with
        their inbox rows (outbox.prune_done: dead letters stay), a batch per transaction and at most PRUNE_BATCHES
        per tenant; returns how many. With event_retention_days 0, nothing."""
        days = self.runtime.settings.event_retention_days
        if days <= 0:
            return 0
        before = utcnow() - timedelta(days=days)
        return await self._delete_in_batches(lambda session: outbox.prune_done(session, before=before),
                                             outbox.PRUNE_BATCH)

    async def purge_sign_ins(self) -> int:
        """Delete each tenant's OAuth authorization codes and tokens expired more than a day ago
        (domain.oauth.service.purge_expired), a batch per transaction and at most PRUNE_BATCHES per tenant; returns
        how many. The relay's hourly housekeeping runs it beside `prune`."""
        return await self._delete_in_batches(oauth.purge_expired, oauth.PURGE_BATCH)

    async def _delete_in_batches(self, delete: Callable[[AsyncSession], Awaitable[int]], batch: int) -> int:
        """Run `delete` (a batch of at most `batch` rows deleted, their count returned) in each tenant, a write
        transaction per call, until a call deletes fewer than `batch` or PRUNE_BATCHES calls ran; return the total."""
        deleted = 0

        async def work() -> bool:
            nonlocal deleted
            for _ in range(PRUNE_BATCHES):
                async with self.runtime.db.write() as session:
                    count = await delete(session)
                deleted += count
                if count < batch:
                    break
            return False

        await self.each_tenant(work)
        return deleted

    async def _run(self) -> None:
        last_error = None
        while True:
            self._wake.clear()
            if time.monotonic() - self._pruned_at >= PRUNE_EVERY_S:
                self._pruned_at = time.monotonic()
                try:
                    if deleted := await self.prune():
                        log.info("%s: deleted %d events done with over %d days ago", self.name, deleted,
                                 self.runtime.settings.event_retention_days)
                    if purged := await self.purge_sign_ins():
                        log.info("%s: deleted %d expired OAuth codes and tokens", self.name, purged)
                except asyncio.CancelledError:
                    raise
                except Exception:  # an outage: the next pruning tries again; delivery goes on meanwhile
                    log.exception("%s: pruning old events failed", self.name)
            try:
                more = await self.round(await self.round_codes())
                last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: logged once while it lasts, tried again every poll
                if repr(exc) != last_error:
                    log.exception("%s round failed; retrying every %.1f s", self.name, self.poll_s)
                last_error, more = repr(exc), False
            if more:
                await asyncio.sleep(0)
                continue
            try:
                async with asyncio.timeout(self.poll_s):
                    await self._wake.wait()
                if self.linger_s:
                    await asyncio.sleep(self.linger_s)
            except TimeoutError:
                pass


class InProcessRelay(_Wakeable):
    """Deliver pending events to `handlers` in this process (the embedded default: no Redis). `handlers` may be a
    function that makes them, called when the first event is pending: a server starts without importing what
    the handlers use (templates, PDF), as it starts without the job handlers' libraries."""

    name = "mcs-erp-relay"

    def __init__(self, runtime: Runtime, handlers: EventHandlers | Callable[[], EventHandlers], *,
                 poll_s: float | None = None, page: int = PAGE):
        super().__init__(runtime, poll_s=poll_s)
        self._handlers = handlers
        self.page = page
        self.last = RoundResult()

    @property
    def handlers(self) -> EventHandlers:
        """The handlers, made at the first use."""
        if not isinstance(self._handlers, EventHandlers):
            self._handlers = self._handlers()
        return self._handlers

    async def round(self, codes: Sequence[str | None]) -> bool:
        async def work() -> bool:
            self.last = await deliver_pending(self.runtime, lambda: self.handlers, page=self.page)
            return False

        return await self.each_tenant(work, codes)


async def deliver_rows(runtime: Runtime, handlers: EventHandlers,
                       load: Callable[[AsyncSession], Awaitable[Sequence[outbox.OutboxRow]]]) -> tuple[
                           Sequence[outbox.OutboxRow], list[outbox.Delivery]]:
    """Deliver the events `load(session)` reads, in one write transaction: the fast way first (outbox.deliver_batch:
    no savepoint, the inbox written in one INSERT), and when a handler failed or another consumer got there
    first, that transaction is rolled back and the events are delivered again with a savepoint per handler
    (outbox.deliver: failures recorded, duplicates skipped). Returns the events read and what was done."""
    try:
        async with runtime.db.write() as session:
            rows = await load(session)
            return rows, await outbox.deliver_batch(session, rows, handlers)
    except (outbox.HandlerFailed, IntegrityError):
        pass  # rolled back: nothing of the fast attempt was kept
    max_attempts = runtime.settings.event_max_attempts
    async with runtime.db.write() as session:
        rows = await load(session)
        return rows, [await outbox.deliver(session, row, handlers, max_attempts=max_attempts) for row in rows]


async def deliver_pending(runtime: Runtime, handlers: EventHandlers | Callable[[], EventHandlers], *,
                          page: int = PAGE) -> RoundResult:
    """Deliver every pending event once, oldest first, a page per write transaction (events that wait for a
    backoff or for their aggregate's previous event stay pending for the next round). `handlers` may be a function
    making them, called only once an event is pending."""
    result = RoundResult()
    after = 0
    while True:
        async with runtime.db.read() as session:  # the write transaction (SQLite: the write lock) only when needed
            if not await outbox.pending_events(session, after_id=after, limit=1):
                return result

        async def load(session: AsyncSession, after_id: int = after) -> list[outbox.OutboxEvent]:
            return await outbox.pending_events(session, after_id=after_id, limit=page)

        if not isinstance(handlers, EventHandlers):
            handlers = handlers()
        rows, deliveries = await deliver_rows(runtime, handlers, load)
        for delivery in deliveries:
            result.add(delivery)
        if len(rows) < page:
            return result
        after = rows[-1].id or after
        await asyncio.sleep(0)


class StreamPublisher(_Wakeable):
    """Move unpublished events to the Redis Stream (see the module); in the server and in every worker. A round a
    commit woke starts LINGER_S later."""

    name = "mcs-erp-event-publisher"
    linger_s = LINGER_S

    def __init__(self, runtime: Runtime, redis: Redis, *, stream: str, poll_s: float | None = None,
                 batch: int = PUBLISH_BATCH, republish_after_s: float | None = None):
        super().__init__(runtime, poll_s=poll_s)
        self.redis = redis
        self.stream = stream
        self.batch = batch
        self.republish_after_s = (max(REPUBLISH_MIN_S, 6 * runtime.settings.event_claim_idle_seconds)
                                  if republish_after_s is None else republish_after_s)
        self._swept = time.monotonic()

    pending = "published_at IS NULL"  # events to publish (ix_outbox_unpublished answers it)

    async def round(self, codes: Sequence[str | None]) -> bool:
        sweep = time.monotonic() - self._swept >= self.republish_after_s / 2

        async def work() -> bool:
            if sweep:
                async with self.runtime.db.write() as session:
                    again = await outbox.republish_stale(
                        session, published_before=utcnow() - timedelta(seconds=self.republish_after_s))
                if again:
                    log.warning("%d events published more than %.0f s ago are still not handled (Redis lost them, or "
                                "they wait long): publishing them again", again, self.republish_after_s)
            return await publish_once(self.runtime, self.redis, stream=self.stream, batch=self.batch) >= self.batch

        # A sweep looks into every tenant with an event not done (tenants_with), not only the round's.
        if sweep:
            codes = await tenants_with(self.runtime, await self.tenants(), "outbox", "done_at IS NULL")
        more = await self.each_tenant(work, codes)
        if sweep:
            self._swept = time.monotonic()
        return more


async def publish_once(runtime: Runtime, redis: Redis, *, stream: str, batch: int = PUBLISH_BATCH,
                       after_xadd: Any = None) -> int:
    """Publish up to `batch` unpublished events of the current tenant to `stream` (each message names the event and
    its tenant) and stamp them published, in one transaction taken in turns with the other publishers; returns how
    many. A read looks for an unpublished event first, so a tenant with none takes no transaction and no turn.
    `after_xadd` (tests) is awaited between the XADDs and the commit, where a crash leaves published events
    unstamped."""
    async with runtime.db.read() as session:
        if not await outbox.unpublished_ids(session, limit=1):
            return 0
    async with runtime.db.write() as session:
        conn = await session.connection()
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PUBLISH_LOCK})
        rows = await outbox.unpublished_ids(session, limit=batch)
        if not rows:
            return 0
        tenant = current_tenant() or ""
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            pipe = redis.pipeline(transaction=False)
            for event_id, topic in rows:
                pipe.xadd(stream, {"id": str(event_id), "tenant": tenant, "topic": topic})
            await pipe.execute()
        if after_xadd is not None:
            await after_xadd()
        await outbox.mark_published(session, [event_id for event_id, _topic in rows])
    return len(rows)


class StreamConsumer:
    """Take events from the Redis Stream through the consumer group and deliver them (see the module)."""

    def __init__(self, runtime: Runtime, redis: Redis, handlers: EventHandlers, *, stream: str, consumer: str,
                 claim_idle_s: float | None = None, block_s: float = 1.0, batch: int = CONSUME_BATCH,
                 linger_s: float = LINGER_S):
        self.runtime = runtime
        self.redis = redis
        self.handlers = handlers
        self.stream = stream
        self.consumer = consumer
        self.claim_idle_ms = int(1000 * (runtime.settings.event_claim_idle_seconds if claim_idle_s is None
                                         else claim_idle_s))
        self.block_ms = int(1000 * block_s)
        self.batch = batch
        self.linger_s = linger_s
        self._claimed_at = float("-inf")  # when take() last looked for idle messages (XAUTOCLAIM)
        self._grouped = False  # whether the consumer group is known to exist (made by start, or by run())
        self._task: asyncio.Task[None] | None = None
        # Messages this consumer took whose delivery waits (the aggregate's previous event is being handled by
        # another consumer, most often): message id -> (fields, when to try again, the delay before that).
        self._held: dict[bytes, tuple[dict[bytes, bytes], float, float]] = {}

    async def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless it exists."""
        from redis.exceptions import ResponseError

        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def take(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Messages to handle: those left unacknowledged for claim_idle (this consumer's or a dead one's), else
        new ones (waiting up to block_s, or until a held message is due); and the held messages now due.

        Idle messages are looked for CLAIMS_PER_IDLE times per claim_idle (a message is claimed at most a quarter
        of claim_idle late), and at once again while a look finds a whole batch. New messages fewer than a batch
        are topped up with those arriving within linger_s (LINGER_S).

        Held: a delivery that waited (outbox.deliver: the aggregate's previous event not handled yet, which on two
        workers is mostly the other worker handling it right now) is tried again by this consumer after
        RETRY_FIRST_S, then twice as late each time, while the doubled delay stays within claim_idle; after that
        (or beyond HELD_MAX held) it is left to the claim. Without this, such an event waited claim_idle (10 s by
        default) behind a predecessor handled milliseconds later: bench/outbox.py's p95 of 5 s."""
        messages: list[tuple[bytes, dict[bytes, bytes]]] = []
        now = time.monotonic()
        if 1000 * (now - self._claimed_at) * CLAIMS_PER_IDLE >= self.claim_idle_ms:
            claimed = await self.redis.xautoclaim(self.stream, GROUP, self.consumer, self.claim_idle_ms, "0-0",
                                                  count=self.batch)
            messages = [m for m in claimed[1] if m and m[1]]
            # A whole batch claimed: there may be more, look again next time.
            self._claimed_at = float("-inf") if len(messages) >= self.batch else now
        if not messages:
            block: int | None = self.block_ms
            if self._held:
                next_due = min(at for _fields, at, _delay in self._held.values())
                wait_ms = int(1000 * (next_due - time.monotonic()))
                block = None if wait_ms < 1 else min(block, wait_ms)  # None: answer at once (0 would block forever)
            messages = await self._read(self.batch, block)
            if messages and len(messages) < self.batch and self.linger_s:
                await asyncio.sleep(self.linger_s)
                messages.extend(await self._read(self.batch - len(messages), None))
        now = time.monotonic()
        taken = {message_id for message_id, _fields in messages}
        messages.extend((message_id, fields) for message_id, (fields, at, _delay) in self._held.items()
                        if at <= now and message_id not in taken)
        return messages

    async def _read(self, count: int, block: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Up to `count` new messages of the group (XREADGROUP), waiting up to `block` ms for one (None: not)."""
        fresh = await self.redis.xreadgroup(GROUP, self.consumer, {self.stream: ">"}, count=count, block=block)
        return [m for _stream, entries in fresh or [] for m in entries]

    def _hold(self, message_id: bytes, fields: dict[bytes, bytes]) -> None:
        """Note a message whose delivery waits, to be tried again soon (see take)."""
        held = self._held.get(message_id)
        delay = RETRY_FIRST_S if held is None else 2 * held[2]
        if 2000 * delay > self.claim_idle_ms or (held is None and len(self._held) >= HELD_MAX):
            self._held.pop(message_id, None)  # the claim takes it from here
            return
        self._held[message_id] = (fields, time.monotonic() + delay, delay)

    async def handle(self, messages: list[tuple[bytes, dict[bytes, bytes]]]) -> RoundResult:
        """Deliver the events of `messages` in one write transaction, then acknowledge (and delete) the messages
        of the events every handler is done with, and those naming no event of this database."""
        result = RoundResult()
        by_tenant: dict[str | None, dict[int, list[bytes]]] = {}
        ack: list[bytes] = []
        for message_id, fields in messages:
            raw, tenant = fields.get(b"id"), (fields.get(b"tenant") or b"").decode() or None
            try:
                by_tenant.setdefault(check_code(tenant) if tenant else None, {}).setdefault(
                    int(raw), []).append(message_id)  # type: ignore[arg-type]
            except (TypeError, ValueError, InvalidInput):
                log.warning("event stream %s: message %r names no event; dropped", self.stream, message_id)
                ack.append(message_id)
        for tenant, by_event in by_tenant.items():
            with tenant_in_use(tenant):
                async def load(session: AsyncSession, wanted: dict[int, list[bytes]] = by_event
                               ) -> list[outbox.OutboxRow]:
                    found = await outbox.events_by_id(session, wanted)
                    return [found[i] for i in sorted(found)]

                rows, deliveries = await deliver_rows(self.runtime, self.handlers, load)
            for event_id in set(by_event) - {row.id for row in rows}:
                log.warning("event stream %s: event %s of tenant %s is not in its database; dropped", self.stream,
                            event_id, tenant or "(default)")
                ack.extend(by_event[event_id])
            for delivery in deliveries:
                result.add(delivery)
                if delivery.done:
                    ack.extend(by_event[delivery.event_id])
        acked = set(ack)
        for message_id, fields in messages:
            if message_id in acked:
                self._held.pop(message_id, None)
            else:
                self._hold(message_id, fields)
        if ack:
            pipe = self.redis.pipeline(transaction=False)
            pipe.xack(self.stream, GROUP, *ack)
            pipe.xdel(self.stream, *ack)
            await pipe.execute()
        return result

    async def run(self) -> None:
        """Take and handle messages until cancelled; a failing round (an outage) is logged and tried again. The
        consumer group is made (ensure_group) in the first round that reaches Redis: a consumer started while
        Redis is down waits for it instead of ending."""
        last_error = None
        while True:
            try:
                if not self._grouped:
                    await self.ensure_group()
                    self._grouped = True
                messages = await self.take()
                if messages:
                    await self.handle(messages)
                last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if repr(exc) != last_error:
                    log.exception("event consumer %s failed; retrying", self.consumer)
                last_error = repr(exc)
                await asyncio.sleep(1.0)
                if "NOGROUP" in str(exc):  # Redis lost its data: the group goes with it; the next round makes it
                    self._grouped = False

    async def start(self) -> None:
        """Run as a task of this process. The consumer group is made now when Redis answers, else by the task
        once it does (a worker starting during a Redis outage, or losing Redis half way through its start-up,
        goes on starting: tests/workers/test_redis_outage.py)."""
        if self._task is None:
            try:
                await self.ensure_group()
                self._grouped = True
            except Exception as exc:  # noqa: BLE001 - an outage (or a refused command): run() makes the group
                log.warning("event consumer %s: Redis did not answer at start (%s: %s); the consumer waits for it",
                            self.consumer, type(exc).__name__, exc)
            self._task = asyncio.create_task(self.run(), name=f"mcs-erp-event-consumer-{self.consumer}")

    async def stop(self) -> None:
        """Cancel the task; the messages it held stay pending and are claimed by another consumer."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._held.clear()


class WorkerRelay:
    """What a `mcs-erp worker` runs beside its jobs: a publisher and a consumer."""

    def __init__(self, publisher: StreamPublisher, consumer: StreamConsumer):
        self.publisher = publisher
        self.consumer = consumer

    async def start(self) -> None:
        await self.publisher.start()
        await self.consumer.start()

    async def stop(self) -> None:
        await self.consumer.stop()
        await self.publisher.stop()


async def start_server_relay(runtime: Runtime, redis: Redis | None = None) -> InProcessRelay | StreamPublisher:
    """Start what a server process runs: the in-process relay without Redis, the publisher with it (`redis`: the
    client to publish with)."""
    relay: InProcessRelay | StreamPublisher
    if redis is None:
        relay = InProcessRelay(runtime, lambda: handlers_of(runtime))
    else:
        relay = StreamPublisher(runtime, redis, stream=stream_key(runtime.settings.queue_name))
    await relay.start()
    return relay


async def start_worker_relay(runtime: Runtime, redis: Redis, *, consumer: str,
                             queue_name: str | None = None) -> WorkerRelay:
    """Start a worker's publisher and consumer on the stream of `queue_name` (default: the settings')."""
    stream = stream_key(queue_name or runtime.settings.queue_name)
    relay = WorkerRelay(StreamPublisher(runtime, redis, stream=stream),
                        StreamConsumer(runtime, redis, handlers_of(runtime), stream=stream, consumer=consumer))
    await relay.start()
    return relay
