"""The outbox's acceptance tests (issue 21), on the selected database, in process and through Redis Streams:

- an event is never lost when the process dies between commit and delivery (a subprocess killed with SIGKILL
  after recording, and, with Redis, a relay killed between its XADDs and its commit);
- an event is never handled twice (a handler killed mid-effect, then the event delivered again);
- one aggregate's events keep their order (a property test: aggregates interleaved, deliveries failing at random;
  with Redis, two consumers sharing the stream).

Redis tests need Redis at MCS_ERP_TEST_REDIS_URL (default redis://127.0.0.1:6379/0): skipped locally when it is
down, a failure when CI=true.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from domain.kernel import outbox
from tests.conftest import IN_CI, own_runtime
from tests.events.helpers import (
    AGGREGATE,
    TOPIC,
    create_effects_table,
    effect_rows,
    record_many,
    write_effect,
)
from workers import relay

REDIS_URL = os.environ.get("MCS_ERP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[2]
HANDLER = "tests.effect"
WAIT_S = 30.0  # the longest any wait below may take (a loaded machine); nothing sleeps a fixed time


@pytest.fixture(scope="module")
async def redis():
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    yield client
    await client.aclose()


def _queue() -> str:
    return f"mcs-erp-test:{uuid.uuid4().hex[:12]}"


async def _runtime(tmp_path_factory, queue: str):
    return own_runtime(tmp_path_factory, "events", queue_name=queue, event_poll_seconds=0.05,
                       event_claim_idle_seconds=0.5, event_max_attempts=50)


def _effect_handlers() -> outbox.EventHandlers:
    async def effect(session, event):
        await write_effect(session, event, HANDLER)

    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, effect, name=HANDLER)
    return handlers


def _spawn(mode: str, url: str, queue: str, ready: Path, *, redis_url: str = "-", aggregates: str = ""):
    args = [sys.executable, "-m", "tests.events.relay_process", mode, url, redis_url, queue, str(ready)]
    return subprocess.Popen(args + ([aggregates] if aggregates else []), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


async def _kill_when_ready(proc: subprocess.Popen, ready: Path) -> None:
    """Wait until `proc` wrote `ready` (it waits to be killed there), then SIGKILL it."""
    deadline = time.monotonic() + WAIT_S
    try:
        while not ready.exists():
            if proc.poll() is not None:
                raise AssertionError(f"the process ended ({proc.returncode}) before it was ready: "
                                     f"{proc.stderr.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, f"the process was not ready within {WAIT_S} s"
            await asyncio.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait, WAIT_S)


async def _until_effects(db, count: int) -> list[tuple[int, str, str, int]]:
    deadline = time.monotonic() + WAIT_S
    while True:
        rows = await effect_rows(db)
        if len(rows) >= count:
            return rows
        assert time.monotonic() < deadline, f"{len(rows)} of {count} effects after {WAIT_S} s"
        await asyncio.sleep(0.02)


async def _pending(db) -> int:
    async with db.read() as session:
        return len(await outbox.pending_events(session, limit=10_000))


def _assert_once_in_order(rows, expected_ids) -> None:
    assert sorted(r[0] for r in rows) == sorted(expected_ids), "every event handled exactly once"
    by_aggregate = defaultdict(list)
    for _event_id, _handler, aggregate_id, sequence in rows:
        by_aggregate[aggregate_id].append(sequence)
    for aggregate_id, sequences in by_aggregate.items():
        assert sequences == list(range(1, len(sequences) + 1)), f"{aggregate_id} handled out of order: {sequences}"


class _Workers:
    """Two consumers and a publisher in this process, sharing the stream of `queue` (two workers' relays)."""

    def __init__(self, rt, redis, queue: str, handlers: outbox.EventHandlers):
        stream = relay.stream_key(queue)
        self.publisher = relay.StreamPublisher(rt, redis, stream=stream, poll_s=0.05)
        self.consumers = [relay.StreamConsumer(rt, redis, handlers, stream=stream, consumer=f"c{i}",
                                               claim_idle_s=0.3, block_s=0.1) for i in range(2)]

    async def __aenter__(self):
        await self.publisher.start()
        for consumer in self.consumers:
            await consumer.start()
        return self

    async def __aexit__(self, *exc):
        for consumer in self.consumers:
            await consumer.stop()
        await self.publisher.stop()


# -- never lost ---------------------------------------------------------------------------------------------------


async def test_events_committed_by_a_killed_process_are_delivered_in_process(tmp_path_factory, tmp_path):
    queue = _queue()
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        aggregates = [f"a{i % 4}" for i in range(20)]
        proc = _spawn("record", rt.settings.database_url, queue, tmp_path / "ready", aggregates=",".join(aggregates))
        await _kill_when_ready(proc, tmp_path / "ready")
        assert await _pending(rt.db) == 20 and await effect_rows(rt.db) == []
        async with rt.db.read() as session:
            ids = [r.id for r in await outbox.pending_events(session)]
        relay_task = relay.InProcessRelay(rt, _effect_handlers(), poll_s=0.05)
        await relay_task.start()
        try:
            rows = await _until_effects(rt.db, 20)
        finally:
            await relay_task.stop()
        _assert_once_in_order(rows, ids)
        assert await _pending(rt.db) == 0


async def test_events_survive_a_killed_recorder_and_a_relay_killed_before_its_commit(tmp_path_factory, tmp_path,
                                                                                     redis):
    queue = _queue()
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        aggregates = [f"b{i % 3}" for i in range(12)]
        proc = _spawn("record", rt.settings.database_url, queue, tmp_path / "recorded", redis_url=REDIS_URL,
                      aggregates=",".join(aggregates))
        await _kill_when_ready(proc, tmp_path / "recorded")
        proc = _spawn("publish-hang", rt.settings.database_url, queue, tmp_path / "published", redis_url=REDIS_URL)
        await _kill_when_ready(proc, tmp_path / "published")
        stream = relay.stream_key(queue)
        assert await redis.xlen(stream) == 12  # in the stream, but the killed relay never stamped them
        async with rt.db.read() as session:
            ids = [event_id for event_id, _topic in await outbox.unpublished_ids(session)]
        assert len(ids) == 12
        try:
            async with _Workers(rt, redis, queue, _effect_handlers()):
                rows = await _until_effects(rt.db, 12)
                deadline = time.monotonic() + WAIT_S
                while await redis.xlen(stream) or await _pending(rt.db):  # duplicates acknowledged, then deleted
                    assert time.monotonic() < deadline, "the stream was not drained"
                    await asyncio.sleep(0.02)
            _assert_once_in_order(await effect_rows(rt.db), ids)
            assert len(rows) == 12
        finally:
            await redis.delete(stream)


# -- never handled twice ------------------------------------------------------------------------------------------


async def test_a_handler_killed_mid_effect_leaves_nothing_and_runs_once_more_in_process(tmp_path_factory, tmp_path):
    queue = _queue()
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        ids = await record_many(rt.db, ["k1", "k2", "k1"])
        proc = _spawn("deliver-hang", rt.settings.database_url, queue, tmp_path / "started")
        await _kill_when_ready(proc, tmp_path / "started")
        assert await effect_rows(rt.db) == []  # its effect was written, and died with its transaction
        async with rt.db.read() as session:
            assert (await session.exec(select(outbox.InboxEntry))).all() == []
        relay_task = relay.InProcessRelay(rt, _effect_handlers(), poll_s=0.05)
        await relay_task.start()
        try:
            rows = await _until_effects(rt.db, 3)
            await relay.deliver_pending(rt, _effect_handlers())  # another round: nothing runs twice
        finally:
            await relay_task.stop()
        _assert_once_in_order(await effect_rows(rt.db), ids)
        assert len(rows) == 3


async def test_a_consumer_killed_mid_effect_is_claimed_by_another_and_runs_once(tmp_path_factory, tmp_path, redis):
    queue = _queue()
    stream = relay.stream_key(queue)
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        ids = await record_many(rt.db, ["m1", "m2", "m1", "m3"])
        assert await relay.publish_once(rt, redis, stream=stream) == 4
        doomed = relay.StreamConsumer(rt, redis, _effect_handlers(), stream=stream, consumer="setup")
        await doomed.ensure_group()
        proc = _spawn("consume-hang", rt.settings.database_url, queue, tmp_path / "started", redis_url=REDIS_URL)
        try:
            await _kill_when_ready(proc, tmp_path / "started")
            pending = await redis.xpending(stream, relay.GROUP)
            assert pending["pending"] == 4  # the dead consumer took them all and acknowledged none
            assert await effect_rows(rt.db) == []
            async with _Workers(rt, redis, queue, _effect_handlers()):
                await _until_effects(rt.db, 4)
                deadline = time.monotonic() + WAIT_S
                while (await redis.xpending(stream, relay.GROUP))["pending"]:
                    assert time.monotonic() < deadline, "the dead consumer's messages were never acknowledged"
                    await asyncio.sleep(0.02)
            _assert_once_in_order(await effect_rows(rt.db), ids)
        finally:
            await redis.delete(stream)


# -- order --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def order_rt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "order", event_max_attempts=50) as rt:
        await create_effects_table(rt.db)
        yield rt


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(outbox, "BACKOFF_BASE_S", 0.0)


class _Flaky:
    """A handler that fails the first `failures[event's position]` attempts of chosen events."""

    def __init__(self, failures: dict[int, int]):
        self.failures = dict(failures)

    async def __call__(self, session, event):
        left = self.failures.get(event.id, 0)
        if left:
            self.failures[event.id] = left - 1
            raise RuntimeError(f"not yet ({left} left)")
        await write_effect(session, event, HANDLER)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=20),
       per_transaction=st.integers(1, 4))
async def test_each_aggregates_events_are_handled_in_order_whatever_fails(order_rt, no_backoff, plan,
                                                                          per_transaction):
    """Aggregates interleaved, each event failing 0-2 times before it succeeds: every event is handled once, and
    each aggregate's in sequence order (a failed event holds its aggregate's later ones back)."""
    tag = uuid.uuid4().hex[:6]
    ids = await record_many(order_rt.db, [f"{tag}-{aggregate}" for aggregate, _ in plan],
                            per_transaction=per_transaction)
    flaky = _Flaky({event_id: fails for event_id, (_, fails) in zip(ids, plan, strict=True)})
    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, flaky, name=HANDLER)
    for _ in range(3 * len(plan) + 3):
        await relay.deliver_pending(order_rt, handlers)
        if not await _pending(order_rt.db):
            break
    rows = [r for r in await effect_rows(order_rt.db) if r[2].startswith(tag)]
    _assert_once_in_order(rows, ids)


async def test_two_consumers_keep_each_aggregates_order(tmp_path_factory, redis, no_backoff):
    """Through Redis with two consumers taking from one stream, events of 5 aggregates interleaved and a third of
    them failing once: each aggregate's events are handled once each, in order."""
    queue = _queue()
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        rng = random.Random(21)
        ids = await record_many(rt.db, [f"o{rng.randrange(5)}" for _ in range(60)], per_transaction=4)
        flaky = _Flaky({event_id: 1 for event_id in ids if rng.random() < 0.33})
        handlers = outbox.EventHandlers()
        handlers.add(TOPIC, flaky, name=HANDLER)
        try:
            async with _Workers(rt, redis, queue, handlers):
                await _until_effects(rt.db, 60)
            _assert_once_in_order(await effect_rows(rt.db), ids)
        finally:
            await redis.delete(relay.stream_key(queue))


async def test_events_redis_lost_with_its_data_are_published_again(tmp_path_factory, redis):
    """Redis loses the stream and its group (a restart without persistence) while a consumer runs, and with them
    events the outbox had stamped published: the consumer makes its group again, the publisher publishes the
    events again once they are overdue, and each is handled once."""
    queue = _queue()
    stream = relay.stream_key(queue)
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        consumer = relay.StreamConsumer(rt, redis, _effect_handlers(), stream=stream, consumer="c1", block_s=0.1)
        publisher = relay.StreamPublisher(rt, redis, stream=stream, poll_s=0.05, republish_after_s=0.3)
        try:
            await consumer.start()
            warm = await record_many(rt.db, ["r0"])
            assert await relay.publish_once(rt, redis, stream=stream) == 1
            await _until_effects(rt.db, 1)  # the consumer runs
            await redis.delete(stream)  # Redis lost its data: the stream and the group
            ids = await record_many(rt.db, ["r1", "r2", "r1"])
            async with rt.db.write() as session:  # published before the loss: in no stream now
                await outbox.mark_published(session, ids)
            await publisher.start()
            await _until_effects(rt.db, 4)
        finally:
            await consumer.stop()
            await publisher.stop()
            await redis.delete(stream)
        _assert_once_in_order(await effect_rows(rt.db), warm + ids)


async def test_messages_naming_no_event_are_acknowledged_and_dropped(tmp_path_factory, redis):
    """A message without a numeric id, with a malformed tenant code, or naming an event the database does not have
    (another deployment's stream, a dropped database) is acknowledged and deleted, not retried forever; a good one
    beside them is handled."""
    queue = _queue()
    stream = relay.stream_key(queue)
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        good = await record_many(rt.db, ["g1"])
        consumer = relay.StreamConsumer(rt, redis, _effect_handlers(), stream=stream, consumer="c1", block_s=0.1)
        try:
            await consumer.ensure_group()
            for fields in ({"id": "x"}, {"topic": TOPIC}, {"id": "1", "tenant": "Bad Code!"}, {"id": "999999"},
                           {"id": str(good[0])}):
                await redis.xadd(stream, fields)
            messages = await consumer.take()
            assert len(messages) == 5
            result = await consumer.handle(messages)
            assert result.done == good
            assert (await redis.xpending(stream, relay.GROUP))["pending"] == 0 and await redis.xlen(stream) == 0
            assert [r[0] for r in await effect_rows(rt.db)] == good
        finally:
            await redis.delete(stream)


async def test_a_delivery_waiting_for_another_consumers_event_is_retried_soon_not_after_the_claim(
        tmp_path_factory, redis):
    """Consumer c2 takes an aggregate's second event while c1 holds its first: c2's delivery waits. Once c1 has
    handled the first, c2 tries the second again within a fraction of a second, by itself, instead of leaving it
    to be claimed after claim_idle (here 60 s: the test would time out waiting for that). Retries double and end
    before claim_idle: a message nobody can deliver is left to the claim."""
    queue = _queue()
    stream = relay.stream_key(queue)
    async with await _runtime(tmp_path_factory, queue) as rt:
        await create_effects_table(rt.db)
        ids = await record_many(rt.db, ["w1", "w1"])
        c1, c2 = (relay.StreamConsumer(rt, redis, _effect_handlers(), stream=stream, consumer=name,
                                       claim_idle_s=60, block_s=0.1, batch=1) for name in ("c1", "c2"))
        try:
            await c1.ensure_group()
            assert await relay.publish_once(rt, redis, stream=stream) == 2
            first, second = await c1.take(), await c2.take()
            assert [int(m[1][b"id"]) for m in first + second] == ids
            waited = await c2.handle(second)
            assert waited.done == [] and waited.outcomes == {"waiting": 1} and len(c2._held) == 1
            assert (await c1.handle(first)).done == [ids[0]]
            started = time.monotonic()
            while True:  # c2's own loop, as run() does it
                messages = await c2.take()
                if messages and (await c2.handle(messages)).done == [ids[1]]:
                    break
                assert time.monotonic() - started < 2.0, "the waiting delivery was not retried soon"
            assert not c2._held
            _assert_once_in_order(await effect_rows(rt.db), ids)
            assert (await redis.xpending(stream, relay.GROUP))["pending"] == 0

            # Retries double from RETRY_FIRST_S and stop before claim_idle (0.3 s: 0.02, 0.04, 0.08, then the claim).
            short = relay.StreamConsumer(rt, redis, _effect_handlers(), stream=stream, consumer="c3",
                                         claim_idle_s=0.3)
            delays = []
            for _ in range(6):
                short._hold(b"1-0", {b"id": b"1"})
                if b"1-0" not in short._held:
                    break
                delays.append(short._held[b"1-0"][2])
            assert delays == [0.02, 0.04, 0.08] and not short._held
        finally:
            await redis.delete(stream)
