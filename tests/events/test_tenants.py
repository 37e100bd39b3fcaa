"""Events of every tenant are delivered in that tenant: its outbox, its inbox and its handlers' effects, never
another's; in process and through Redis (a message names its event's tenant)."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import insert, select

from domain.kernel import outbox
from domain.kernel.tenants import tenant_in_use
from tests.events.helpers import AGGREGATE, TOPIC, effects, effects_metadata
from tests.events.test_delivery import REDIS_URL, redis  # noqa: F401 (the fixture)
from tests.tenants.helpers import tenants_runtime
from workers import relay

WAIT_S = 30.0


async def _prepare(rt, code: str | None) -> None:
    with tenant_in_use(code):
        async with rt.db.write() as session:
            conn = await session.connection()
            await conn.run_sync(lambda c: effects_metadata.create_all(c))


def _handlers() -> outbox.EventHandlers:
    async def effect(session, event):
        await session.exec(insert(effects).values(event_id=event.id, handler="tests.effect",
                                                  aggregate_id=event.aggregate_id, sequence=event.sequence))

    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, effect, name="tests.effect")
    return handlers


async def _record(rt, code: str | None, key: str) -> int:
    with tenant_in_use(code):
        async with rt.db.write() as session:
            return (await outbox.record_event(session, TOPIC, AGGREGATE, key, {"tenant": code})).id


async def _effects(rt, code: str | None) -> list[tuple[int, str]]:
    with tenant_in_use(code):
        async with rt.db.read() as session:
            return [tuple(r) for r in (await session.exec(select(effects.c.event_id, effects.c.aggregate_id))).all()]


async def _until(rt, expected: dict[str | None, list[tuple[int, str]]]) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        found = {code: await _effects(rt, code) for code in expected}
        if all(len(found[c]) >= len(rows) for c, rows in expected.items()):
            assert found == expected
            return
        assert time.monotonic() < deadline, f"after {WAIT_S} s: {found}"
        await asyncio.sleep(0.02)


async def test_each_tenants_events_are_handled_in_that_tenant(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "events-tenants", ["north", "south"],
                               event_poll_seconds=0.05) as rt:
        for code in (None, "north", "south"):
            await _prepare(rt, code)
        relay_task = relay.InProcessRelay(rt, _handlers(), poll_s=0.05)
        await relay_task.start()
        try:
            expected = {None: [(await _record(rt, None, "d1"), "d1")],
                        "north": [(await _record(rt, "north", "n1"), "n1"), (await _record(rt, "north", "n2"), "n2")],
                        "south": []}
            await _until(rt, expected)
        finally:
            await relay_task.stop()
        with tenant_in_use("south"):
            async with rt.db.read() as session:
                assert (await session.exec(select(outbox.InboxEntry))).all() == []


async def test_each_tenants_events_go_through_redis_and_back_to_that_tenant(tmp_path_factory, redis):  # noqa: F811
    queue = f"mcs-erp-test:{uuid.uuid4().hex[:12]}"
    stream = relay.stream_key(queue)
    async with tenants_runtime(tmp_path_factory, "events-tenants-redis", ["north"], queue_name=queue) as rt:
        for code in (None, "north"):
            await _prepare(rt, code)
        expected = {None: [(await _record(rt, None, "d1"), "d1")], "north": [(await _record(rt, "north", "n1"), "n1")]}
        publisher = relay.StreamPublisher(rt, redis, stream=stream, poll_s=0.05)
        consumer = relay.StreamConsumer(rt, redis, _handlers(), stream=stream, consumer="c1", block_s=0.1)
        try:
            await publisher.start()
            await consumer.start()
            await _until(rt, expected)
            messages = await redis.xrange(stream)
            assert messages == []  # acknowledged and deleted
        finally:
            await consumer.stop()
            await publisher.stop()
            await redis.delete(stream)
        with tenant_in_use("north"):
            async with rt.db.read() as session:
                assert (await session.exec(select(outbox.OutboxEvent.published_at))).one() is not None
