"""The outbox and inbox in the kernel (domain/kernel/outbox.py), on the selected backend: events are recorded with
their transaction and numbered per aggregate, bad events are refused, a handler's effects and its inbox row are
kept together, failures are counted into a dead letter that a retry revives, and an aggregate's events wait for
their predecessor."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from sqlalchemy import text
from sqlmodel import select

from domain.kernel import outbox
from domain.kernel.errors import InvalidInput, NotFound
from tests.conftest import BACKEND, own_runtime
from tests.events.helpers import AGGREGATE, OTHER_TOPIC, TOPIC, create_effects_table, effect_rows, effect_writer


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "outbox") as runtime:
        await create_effects_table(runtime.db)
        yield runtime


def _key() -> str:
    return uuid.uuid4().hex[:10]


class Boom(Exception):
    pass


async def _deliver(rt, event_id: int, handlers: outbox.EventHandlers, *, max_attempts: int = 3) -> outbox.Delivery:
    async with rt.db.write() as session:
        row = await session.get(outbox.OutboxEvent, event_id)
        return await outbox.deliver(session, row, handlers, max_attempts=max_attempts)


async def _inbox(rt, event_id: int, handler: str) -> outbox.InboxEntry | None:
    async with rt.db.read() as session:
        return await session.get(outbox.InboxEntry, (event_id, handler))


async def test_events_are_numbered_per_aggregate_in_their_transaction(rt):
    a, b = _key(), _key()
    async with rt.db.write() as session:
        rows = [await outbox.record_event(session, TOPIC, AGGREGATE, agg, {"i": i}, schema_version=2)
                for i, agg in enumerate([a, b, a, a])]
    assert [r.sequence for r in rows] == [1, 1, 2, 3]
    assert all(r.schema_version == 2 and r.occurred_at.tzinfo is not None for r in rows)
    with pytest.raises(RuntimeError):
        async with rt.db.write() as session:
            await outbox.record_event(session, TOPIC, AGGREGATE, a, {"i": 9})
            raise RuntimeError("the change fails")
    async with rt.db.write() as session:
        row = await outbox.record_event(session, TOPIC, AGGREGATE, a, {"i": 4})
    assert row.sequence == 4  # the rolled-back event took no number and left no row
    async with rt.db.read() as session:
        kept = (await session.exec(select(outbox.OutboxEvent).where(outbox.OutboxEvent.aggregate_id == a)
                                   .order_by(outbox.OutboxEvent.sequence))).all()
    assert [(e.sequence, outbox.event_of(e).payload) for e in kept] == [(1, {"i": 0}), (2, {"i": 2}), (3, {"i": 3}),
                                                                        (4, {"i": 4})]


@pytest.mark.parametrize(("topic", "aggregate", "aggregate_id", "payload", "version", "field"), [
    ("EmployeeTerminated", AGGREGATE, "1", {}, 1, "topic"),
    ("hr.employeeTerminated", AGGREGATE, "1", {}, 1, "topic"),
    ("hr." + "E" * 61, AGGREGATE, "1", {}, 1, "topic"),
    (TOPIC, "employee", "1", {}, 1, "aggregate"),
    (TOPIC, "hr.Employee", "1", {}, 1, "aggregate"),
    (TOPIC, AGGREGATE, "", {}, 1, "aggregate_id"),
    (TOPIC, AGGREGATE, "x" * 61, {}, 1, "aggregate_id"),
    (TOPIC, AGGREGATE, "1", {}, 0, "schema_version"),
    (TOPIC, AGGREGATE, "1", {"blob": "x" * outbox.MAX_PAYLOAD_BYTES}, 1, "payload"),
])
async def test_bad_events_are_refused_and_nothing_is_written(rt, topic, aggregate, aggregate_id, payload, version,
                                                             field):
    async with rt.db.read() as session:
        before = len((await session.exec(select(outbox.OutboxEvent.id))).all())
    with pytest.raises(InvalidInput) as refused:
        async with rt.db.write() as session:
            await outbox.record_event(session, topic, aggregate, aggregate_id, payload, schema_version=version)
    assert refused.value.field == field
    async with rt.db.read() as session:
        assert len((await session.exec(select(outbox.OutboxEvent.id))).all()) == before


async def test_a_payload_at_the_limit_is_kept():
    body = {"blob": ""}
    body["blob"] = "x" * (outbox.MAX_PAYLOAD_BYTES - len('{"blob":""}'))
    outbox._check_event(TOPIC, AGGREGATE, "1", body, 1)  # exactly MAX_PAYLOAD_BYTES: accepted
    with pytest.raises(InvalidInput):
        outbox._check_event(TOPIC, AGGREGATE, "1", {"blob": body["blob"] + "x"}, 1)


async def test_commit_wakes_relays_and_a_rollback_does_not(rt):
    woken: list[int] = []
    remove = outbox.on_recorded(rt.db.write_engine.sync_engine, lambda: woken.append(1))
    try:
        with pytest.raises(RuntimeError):
            async with rt.db.write() as session:
                await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})
                raise RuntimeError("rolled back")
        assert woken == []
        async with rt.db.write() as session:
            await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})
            await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})
            assert woken == []
        assert woken == [1]  # once per unit of work
    finally:
        remove()


async def test_a_handled_event_is_skipped_when_delivered_again(rt):
    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, effect_writer("tests.once"), name="tests.once")
    async with rt.db.write() as session:
        event_id = (await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})).id
    first = await _deliver(rt, event_id, handlers)
    again = await _deliver(rt, event_id, handlers)
    assert first.outcomes == {"tests.once": "handled"} and first.done
    assert again.outcomes == {"tests.once": "skipped"} and again.done
    assert [r[:2] for r in await effect_rows(rt.db) if r[0] == event_id] == [(event_id, "tests.once")]
    async with rt.db.read() as session:
        assert (await session.get(outbox.OutboxEvent, event_id)).done_at is not None


async def test_failures_are_counted_into_a_dead_letter_that_a_retry_revives(rt):
    fail = {"on": True}

    async def flaky(session, event):
        from tests.events.helpers import write_effect

        await write_effect(session, event, "tests.flaky")  # written, then rolled back with the failure
        if fail["on"]:
            raise Boom("the mail server said no")

    handlers = outbox.EventHandlers()
    handlers.add(OTHER_TOPIC, flaky, name="tests.flaky")
    async with rt.db.write() as session:
        event_id = (await outbox.record_event(session, OTHER_TOPIC, AGGREGATE, _key(), {})).id
    first = await _deliver(rt, event_id, handlers, max_attempts=2)
    assert first.outcomes == {"tests.flaky": "failed"} and not first.done
    entry = await _inbox(rt, event_id, "tests.flaky")
    assert entry.status == "failed" and entry.attempts == 1 and "Boom: the mail server said no" in entry.last_error
    assert entry.next_attempt_at > entry.updated_at
    waiting = await _deliver(rt, event_id, handlers, max_attempts=2)
    assert waiting.outcomes == {"tests.flaky": "waiting"}  # its backoff is not over
    await _due_now(rt, event_id, "tests.flaky")
    second = await _deliver(rt, event_id, handlers, max_attempts=2)
    assert second.outcomes == {"tests.flaky": "dead"} and second.done
    async with rt.db.read() as session:
        letters = [d for d in await outbox.dead_letters(session) if d.event_id == event_id]
    assert [(d.handler, d.attempts, d.topic) for d in letters] == [("tests.flaky", 2, OTHER_TOPIC)]
    assert [r for r in await effect_rows(rt.db) if r[0] == event_id] == []  # every failed effect rolled back
    assert (await _deliver(rt, event_id, handlers)).outcomes == {"tests.flaky": "skipped"}
    with pytest.raises(NotFound):
        async with rt.db.write() as session:
            await outbox.retry_dead_letter(session, event_id=event_id, handler="tests.other")
    fail["on"] = False
    async with rt.db.write() as session:
        assert await outbox.retry_dead_letter(session, event_id=event_id) == ["tests.flaky"]
    async with rt.db.read() as session:
        row = await session.get(outbox.OutboxEvent, event_id)
        assert row.done_at is None and row.published_at is None
    assert (await _deliver(rt, event_id, handlers)).outcomes == {"tests.flaky": "handled"}
    assert len([r for r in await effect_rows(rt.db) if r[0] == event_id]) == 1
    with pytest.raises(NotFound):
        async with rt.db.write() as session:
            await outbox.retry_dead_letter(session, event_id=event_id)


async def _due_now(rt, event_id: int, handler: str) -> None:
    from sqlalchemy import update

    from domain.kernel.clock import utcnow

    async with rt.db.write() as session:
        await session.exec(update(outbox.InboxEntry).where(outbox.InboxEntry.event_id == event_id,
                                                           outbox.InboxEntry.handler == handler)
                           .values(next_attempt_at=utcnow()))


async def test_an_event_waits_for_its_aggregates_previous_event(rt):
    fail = {"ids": set()}

    async def picky(session, event):
        if event.id in fail["ids"]:
            raise Boom("not now")

    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, picky, name="tests.picky")
    agg = _key()
    async with rt.db.write() as session:
        first = (await outbox.record_event(session, TOPIC, AGGREGATE, agg, {})).id
        other = (await outbox.record_event(session, OTHER_TOPIC, AGGREGATE, agg, {})).id  # not picky's topic
        second = (await outbox.record_event(session, TOPIC, AGGREGATE, agg, {})).id
        elsewhere = (await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})).id
    assert (await _deliver(rt, second, handlers)).outcomes == {"tests.picky": "waiting"}
    fail["ids"] = {first}
    assert (await _deliver(rt, first, handlers)).outcomes == {"tests.picky": "failed"}
    assert (await _deliver(rt, second, handlers)).outcomes == {"tests.picky": "waiting"}
    assert (await _deliver(rt, elsewhere, handlers)).outcomes == {"tests.picky": "handled"}  # another aggregate
    assert (await _deliver(rt, other, handlers)).outcomes == {}  # nobody subscribes: done at once
    fail["ids"] = set()
    await _due_now(rt, first, "tests.picky")
    assert (await _deliver(rt, first, handlers)).outcomes == {"tests.picky": "handled"}
    assert (await _deliver(rt, second, handlers)).outcomes == {"tests.picky": "handled"}


def test_handlers_refuse_bad_topics_and_duplicate_names():
    handlers = outbox.EventHandlers()
    handler = effect_writer("x")
    handlers.add(TOPIC, handler, name="tests.x")
    with pytest.raises(ValueError, match="already subscribes"):
        handlers.add(TOPIC, handler, name="tests.x")
    with pytest.raises(ValueError, match="is not"):
        handlers.add("bad topic", handler)
    with pytest.raises(ValueError, match="longer than 120"):
        handlers.add(OTHER_TOPIC, handler, name="x" * 121)
    handlers.add(OTHER_TOPIC, handler, name="tests.x")
    assert handlers.topics_of("tests.x") == sorted([TOPIC, OTHER_TOPIC]) and len(handlers) == 2


class _Thing(outbox.DomainEvent):
    topic = TOPIC
    aggregate = AGGREGATE
    aggregate_field = "thing_id"
    schema_version = 3

    thing_id: str
    note: str


async def test_record_all_numbers_each_aggregate_on_from_its_last_event(rt):
    a, b = _key(), _key()
    async with rt.db.write() as session:
        await outbox.record(session, _Thing(thing_id=a, note="first"))
    async with rt.db.write() as session:
        ids = await outbox.record_all(session, [_Thing(thing_id=b, note="x"), _Thing(thing_id=a, note="y"),
                                                _Thing(thing_id=a, note="z")])
        assert await outbox.record_all(session, []) == []
    async with rt.db.read() as session:
        rows = (await session.exec(select(outbox.OutboxEvent).where(outbox.OutboxEvent.aggregate_id.in_([a, b]))
                                   .order_by(outbox.OutboxEvent.id))).all()
    assert ids == [r.id for r in rows[1:]]  # the ids, in the order of the events given
    assert [(r.aggregate_id, r.sequence, outbox.event_of(r).payload["note"], r.schema_version) for r in rows] == [
        (a, 1, "first", 3), (b, 1, "x", 3), (a, 2, "y", 3), (a, 3, "z", 3)]
    with pytest.raises(InvalidInput, match="bytes"):
        async with rt.db.write() as session:
            await outbox.record_all(session, [_Thing(thing_id=a, note="ok"),
                                              _Thing(thing_id=b, note="x" * outbox.MAX_PAYLOAD_BYTES)])
    async with rt.db.read() as session:
        assert len((await session.exec(select(outbox.OutboxEvent.id).where(
            outbox.OutboxEvent.aggregate_id.in_([a, b])))).all()) == 4  # the refused batch wrote nothing


async def test_record_all_past_one_insert_copies_with_reserved_ids_in_the_order_given(rt, monkeypatch):
    """Beyond RETURNING_MAX events, record_all writes with reserved ids (one COPY on PostgreSQL): the ids come back
    in the order of the events, and each aggregate's sequences go on from its last event as with one INSERT."""
    a, b = _key(), _key()
    async with rt.db.write() as session:
        first = await outbox.record_all(session, [_Thing(thing_id=a, note="0")])
    monkeypatch.setattr(outbox, "RETURNING_MAX", 2)
    notes = ["1", "2", "3", "4", "5"]
    async with rt.db.write() as session:
        ids = await outbox.record_all(session, [_Thing(thing_id=(a if n in "135" else b), note=n) for n in notes])
    async with rt.db.read() as session:
        rows = {r.id: r for r in (await session.exec(select(outbox.OutboxEvent).where(
            outbox.OutboxEvent.aggregate_id.in_([a, b])))).all()}
    assert len(ids) == 5 and ids == sorted(ids) and first[0] < ids[0]
    assert [(rows[i].aggregate_id, rows[i].sequence, outbox.event_of(rows[i]).payload["note"]) for i in ids] == [
        (a, 2, "1"), (b, 1, "2"), (a, 3, "3"), (b, 2, "4"), (a, 4, "5")]


def test_an_event_effect_is_checked_when_the_plan_is_made():
    effect = outbox.event_effect(_Thing(thing_id="t1", note="n"))
    assert effect.kind == "outbox.event" and effect.payload["aggregate_id"] == "t1"
    assert effect.payload["payload"] == {"thing_id": "t1", "note": "n"} and effect.payload["schema_version"] == 3
    with pytest.raises(InvalidInput):
        outbox.event_effect(_Thing(thing_id="", note="n"))


async def test_an_event_recorded_after_a_rolled_back_savepoint_still_wakes_the_relays(rt):
    woken: list[int] = []
    remove = outbox.on_recorded(rt.db.write_engine.sync_engine, lambda: woken.append(1))
    try:
        async with rt.db.write() as session:
            with pytest.raises(RuntimeError):
                async with session.begin_nested():
                    await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})
                    raise RuntimeError("the savepoint rolls back, its wake-up with it")
            await outbox.record_event(session, TOPIC, AGGREGATE, _key(), {})
        assert woken == [1]
    finally:
        remove()


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite has one writer at a time: no locks to count or race")
async def test_many_aggregates_lock_their_kind_not_each_one_and_numbering_still_waits_its_turn(rt):
    """record_all of more than AGGREGATE_LOCKS_MAX aggregates of a kind holds one advisory lock, not one per
    aggregate (PostgreSQL's shared lock table holds 6,400 for all sessions: a term's 10,000 invoices ran it out),
    and a transaction recording an event of one of those aggregates meanwhile waits for it and is numbered after
    it; a few aggregates are locked one by one, and another aggregate of the kind is not held up by them."""
    many = [_key() for _ in range(outbox.AGGREGATE_LOCKS_MAX + 36)]
    few = [_key() for _ in range(3)]
    started = asyncio.Event()

    async def advisory_locks(session) -> int:
        return (await session.exec(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                        "AND pid = pg_backend_pid()"))).one()[0]

    async def one_more(key: str) -> int:
        await started.wait()
        async with rt.db.write() as session:
            return (await outbox.record_event(session, TOPIC, AGGREGATE, key, {"late": True})).sequence

    async def batch(keys: list[str], others: list[str]) -> tuple[int, list[int], list[bool]]:
        async with rt.db.write() as session:
            await outbox.record_all(session, [_Thing(thing_id=k, note="batch") for k in keys])
            held = await advisory_locks(session)
            late = [asyncio.create_task(one_more(k)) for k in others]
            started.set()
            await asyncio.sleep(0.5)  # the others run meanwhile: those that wait for this transaction are not done
            finished = [t.done() for t in late]
        return held, [await asyncio.wait_for(t, 30) for t in late], finished

    held, sequences, finished = await batch(many, [many[7]])
    assert held == 1 and finished == [False] and sequences == [2]
    started.clear()
    held, sequences, finished = await batch(few, [few[1], _key()])
    assert held == 1 + len(few) and finished == [False, True] and sequences == [2, 1]


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite has one writer at a time: no concurrent numbering")
@pytest.mark.parametrize("seed", range(3))
async def test_concurrent_recording_numbers_every_aggregate_one_to_n_without_gaps(rt, seed):
    """Property: transactions recording events of overlapping aggregates at once, one by one and in batches of
    either side of AGGREGATE_LOCKS_MAX, all commit (no unique sequence refused) and leave each aggregate
    numbered 1..n in the order they committed."""
    rng = random.Random(seed)
    pool = [_key() for _ in range(120)]

    async def writer(index: int) -> None:
        for _ in range(4):
            keys = rng.sample(pool, rng.choice([1, 3, 40, outbox.AGGREGATE_LOCKS_MAX + 1, 100]))
            async with rt.db.write() as session:
                if len(keys) == 1:
                    await outbox.record_event(session, TOPIC, AGGREGATE, keys[0], {"w": index})
                else:
                    await outbox.record_all(session, [_Thing(thing_id=k, note=str(index)) for k in keys])
                await asyncio.sleep(rng.random() / 50)

    await asyncio.wait_for(asyncio.gather(*(writer(i) for i in range(6))), 120)
    async with rt.db.read() as session:
        rows = (await session.exec(select(outbox.OutboxEvent.aggregate_id, outbox.OutboxEvent.sequence,
                                          outbox.OutboxEvent.id).where(outbox.OutboxEvent.aggregate_id.in_(pool))
                                   )).all()
    by_key: dict[str, list[tuple[int, int]]] = {}
    for key, sequence, event_id in rows:
        by_key.setdefault(key, []).append((sequence, event_id))
    assert by_key
    for key, numbered in by_key.items():
        assert sorted(s for s, _ in numbered) == list(range(1, len(numbered) + 1)), key
