"""The relays start with the processes that run them: a serving in-process runner delivers events (woken by the
commit), a serving arq runner publishes them to Redis, and an arq worker's start-up consumes them; handlers come
from the enabled contexts' `handlers.py` through the module registry."""

from __future__ import annotations

import asyncio
import time
import types
import uuid

import pytest

from domain.kernel import outbox
from tests.conftest import own_runtime
from tests.events.helpers import AGGREGATE, TOPIC
from tests.events.test_delivery import REDIS_URL, redis  # noqa: F401 (the fixture)
from workers import relay
from workers.runner import ArqRunner, InProcessRunner

WAIT_S = 30.0


async def _record(rt) -> int:
    async with rt.db.write() as session:
        return (await outbox.record_event(session, TOPIC, AGGREGATE, uuid.uuid4().hex[:8], {})).id


async def _until_done(rt, event_id: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while True:
        async with rt.db.read() as session:
            row = await session.get(outbox.OutboxEvent, event_id)
        if row.done_at is not None:
            return
        assert time.monotonic() < deadline, f"event {event_id} not done after {WAIT_S} s"
        await asyncio.sleep(0.02)


async def test_a_serving_in_process_runner_delivers_events_woken_by_the_commit(tmp_path_factory):
    # a poll far longer than the wait: only the after-commit wake-up can deliver in time
    async with own_runtime(tmp_path_factory, "wiring", event_poll_seconds=3600) as rt:
        runner = rt.jobs = InProcessRunner(rt)
        await runner.start(serving=True)
        try:
            await _until_done(rt, await _record(rt))
        finally:
            await runner.stop()


async def test_a_worker_consumes_what_a_serving_arq_runner_publishes(tmp_path_factory, redis):  # noqa: F811
    from arq.connections import RedisSettings, create_pool

    from workers.arq_worker import shutdown, startup

    queue = f"mcs-erp-test:{uuid.uuid4().hex[:12]}"
    async with own_runtime(tmp_path_factory, "wiring-redis", queue_name=queue, redis_url=REDIS_URL,
                           event_poll_seconds=3600) as rt:
        runner = ArqRunner(REDIS_URL, queue_name=queue, runtime=rt)
        await runner.start(serving=True)
        pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
        ctx = {"runtime": rt, "redis": pool, "queue_name": queue, "worker_name": "worker:test"}
        try:
            await startup(ctx)
            event_id = await _record(rt)
            await _until_done(rt, event_id)
            assert await redis.xlen(relay.stream_key(queue)) == 0  # acknowledged and deleted
        finally:
            await shutdown(ctx)
            await runner.stop()
            await redis.delete(relay.stream_key(queue), f"{queue}:recovery")
            await pool.aclose()


def test_handlers_are_collected_from_the_enabled_contexts(monkeypatch):
    async def on_thing(session, event):
        return None

    fake = types.ModuleType("domain.hr.handlers")
    fake.HANDLERS = {TOPIC: on_thing, "tests.OtherThing": [on_thing]}
    monkeypatch.setitem(__import__("sys").modules, "domain.hr.handlers", fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: object() if name == "domain.hr.handlers" else None)
    handlers = relay.collect_handlers(["platform", "hr", "payroll_banking", "hr"])
    assert [s.handler for s in handlers.for_topic(TOPIC)] == [on_thing] and len(handlers) == 2
    assert len(relay.collect_handlers(["platform", "payroll"])) == 0  # hr disabled: its handlers are not run
    fake.HANDLERS = {"not a topic": on_thing}
    with pytest.raises(ValueError, match="is not"):
        relay.collect_handlers(["hr"])
