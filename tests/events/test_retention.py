"""Old events leave the outbox (outbox.prune_done, run by the relays every PRUNE_EVERY_S): an event every handler
was done with longer ago than event_retention_days goes, with its inbox rows; a dead letter, an event not yet done,
and a recent one stay; an aggregate whose old events went keeps its order for its next event."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import func, select

from domain.kernel import outbox
from domain.kernel.clock import utcnow
from domain.kernel.errors import InvalidInput
from tests.conftest import own_runtime
from tests.events.helpers import AGGREGATE, TOPIC, create_effects_table, effect_rows, effect_writer
from workers import relay


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "retention") as runtime:
        await create_effects_table(runtime.db)
        yield runtime


class Boom(Exception):
    pass


async def _failing(session, event) -> None:
    raise Boom("always")


async def _record(rt, aggregate_id: str, count: int = 1) -> list[int]:
    async with rt.db.write() as session:
        return [(await outbox.record_event(session, TOPIC, AGGREGATE, aggregate_id, {"i": i})).id
                for i in range(count)]


async def _deliver(rt, event_id: int, handlers: outbox.EventHandlers) -> outbox.Delivery:
    async with rt.db.write() as session:
        row = await session.get(outbox.OutboxEvent, event_id)
        return await outbox.deliver(session, row, handlers, max_attempts=1)


async def _age(rt, event_ids: list[int], days: int) -> None:
    async with rt.db.write() as session:
        await session.exec(update(outbox.OutboxEvent).where(outbox.OutboxEvent.id.in_(event_ids))
                           .values(done_at=utcnow() - timedelta(days=days)))


async def _exists(rt, event_id: int) -> tuple[bool, int]:
    async with rt.db.read() as session:
        row = await session.get(outbox.OutboxEvent, event_id)
        inbox = (await session.exec(select(func.count()).select_from(outbox.InboxEntry)
                                    .where(outbox.InboxEntry.event_id == event_id))).one()
    return row is not None, inbox


async def test_old_done_events_go_with_their_inbox_and_the_rest_stay(rt):
    ok = outbox.EventHandlers()
    ok.add(TOPIC, effect_writer("retention.ok"), name="retention.ok")
    dead = outbox.EventHandlers()
    dead.add(TOPIC, _failing, name="retention.dead")
    old, recent, pending, dead_old = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8], uuid.uuid4().hex[:8], \
        uuid.uuid4().hex[:8]
    old_ids = await _record(rt, old, 3)
    recent_id, = await _record(rt, recent)
    pending_id, = await _record(rt, pending)
    dead_id, = await _record(rt, dead_old)
    for event_id in (*old_ids, recent_id):
        assert (await _deliver(rt, event_id, ok)).done
    delivery = await _deliver(rt, dead_id, dead)
    assert delivery.outcomes == {"retention.dead": "dead"} and delivery.done
    await _age(rt, [*old_ids, dead_id], days=40)
    await _age(rt, [recent_id], days=5)

    async with rt.db.write() as session:
        deleted = await outbox.prune_done(session, before=utcnow() - timedelta(days=30))
    assert deleted >= 3  # other tests' old events in this database may go too; these three must
    for event_id in old_ids:
        assert await _exists(rt, event_id) == (False, 0)
    assert await _exists(rt, recent_id) == (True, 1)  # done 5 days ago: kept, with its inbox row
    assert await _exists(rt, pending_id) == (True, 0)  # never delivered: kept
    assert await _exists(rt, dead_id) == (True, 1)  # a dead letter: kept until retried
    async with rt.db.read() as session:
        letters = await outbox.dead_letters(session)
    assert any(letter.event_id == dead_id for letter in letters)

    # The aggregate's next event is numbered after what is left and is not held behind a deleted predecessor.
    next_id, = await _record(rt, old)
    assert (await _deliver(rt, next_id, ok)).outcomes == {"retention.ok": "handled"}
    assert any(row[0] == next_id for row in await effect_rows(rt.db))

    async with rt.db.write() as session:
        assert await outbox.prune_done(session, before=utcnow() - timedelta(days=30)) == 0  # nothing more is due


async def test_prune_deletes_in_bounded_batches_and_refuses_a_bad_limit(rt):
    ok = outbox.EventHandlers()
    ok.add(TOPIC, effect_writer("retention.batch"), name="retention.batch")
    ids = await _record(rt, uuid.uuid4().hex[:8], 5)
    for event_id in ids:
        await _deliver(rt, event_id, ok)
    await _age(rt, ids, days=400)
    async with rt.db.write() as session:
        assert await outbox.prune_done(session, before=utcnow() - timedelta(days=30), limit=2) == 2
    assert [(await _exists(rt, i))[0] for i in ids] == [False, False, True, True, True]  # the oldest first
    with pytest.raises(InvalidInput, match="limit"):
        async with rt.db.write() as session:
            await outbox.prune_done(session, before=utcnow(), limit=0)


async def test_a_relay_prunes_with_the_retention_setting(rt, monkeypatch):
    ok = outbox.EventHandlers()
    ok.add(TOPIC, effect_writer("retention.relay"), name="retention.relay")
    ids = await _record(rt, uuid.uuid4().hex[:8], 2)
    for event_id in ids:
        await _deliver(rt, event_id, ok)
    await _age(rt, ids[:1], days=31)
    await _age(rt, ids[1:], days=29)
    relay_ = relay.InProcessRelay(rt, ok)
    monkeypatch.setattr(rt.settings, "event_retention_days", 0)
    assert await relay_.prune() == 0 and (await _exists(rt, ids[0]))[0]  # 0: events are kept for ever
    monkeypatch.setattr(rt.settings, "event_retention_days", 30)
    assert await relay_.prune() >= 1
    assert not (await _exists(rt, ids[0]))[0] and (await _exists(rt, ids[1]))[0]
