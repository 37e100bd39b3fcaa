"""Dead letters end to end: a handler failing event_max_attempts times makes its event a dead letter, which an
admin sees with list_dead_letters (paged, never splitting an event's handlers) and revives with
retry_dead_letter; the relay then delivers it once. Other roles may do neither; bad arguments are refused."""

from __future__ import annotations

import uuid

import pytest

from domain.kernel import outbox
from domain.kernel.errors import InvalidInput, NotFound, PermissionDenied
from tests.conftest import own_runtime
from tests.events.helpers import AGGREGATE, TOPIC, create_effects_table, effect_rows, record_many, write_effect
from tests.factories import make_user
from tools.invoke import invoke
from workers import relay


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "dead", event_max_attempts=3) as runtime:
        await create_effects_table(runtime.db)
        yield runtime


@pytest.fixture(scope="module")
async def people(rt):
    async with rt.db.write() as session:
        return (await make_user(session, roles="admin"), await make_user(session, roles="hr"))


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(outbox, "BACKOFF_BASE_S", 0.0)


class Broken:
    def __init__(self, name: str):
        self.name = name
        self.broken = True

    async def __call__(self, session, event):
        if self.broken:
            raise ConnectionRefusedError(f"smtp down for {event.aggregate_id}")
        await write_effect(session, event, self.name)


async def test_a_dead_letter_is_listed_and_a_retry_delivers_it_once(rt, people, no_backoff):
    admin, hr = people
    first, second = Broken("tests.first"), Broken("tests.second")
    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, first, name="tests.first")
    handlers.add(TOPIC, second, name="tests.second")
    tag = uuid.uuid4().hex[:6]
    ids = await record_many(rt.db, [f"{tag}-1", f"{tag}-2", f"{tag}-3"])
    rounds = 0
    for rounds in range(1, 10):  # noqa: B007
        await relay.deliver_pending(rt, handlers)
        async with rt.db.read() as session:
            if not await outbox.pending_events(session):
                break
    assert rounds == 3  # event_max_attempts: three failed deliveries each, then nothing pending
    listed = await invoke(rt, "list_dead_letters", {"limit": 5}, admin)
    assert [(d.event_id, d.handler) for d in listed.items] == [(ids[2], "tests.first"), (ids[2], "tests.second"),
                                                               (ids[1], "tests.first"), (ids[1], "tests.second")]
    assert listed.next_cursor is not None  # the fifth row's event (ids[1]) would have split: its pair comes whole
    assert all(d.attempts == 3 and "ConnectionRefusedError: smtp down" in d.last_error for d in listed.items)
    rest = await invoke(rt, "list_dead_letters", {"limit": 5, "cursor": listed.next_cursor}, admin)
    assert [(d.event_id, d.handler) for d in rest.items] == [(ids[0], "tests.first"), (ids[0], "tests.second")]
    assert rest.next_cursor is None

    first.broken = False
    retried = await invoke(rt, "retry_dead_letter", {"event_id": ids[1], "handler": "tests.first"}, admin)
    assert retried.handlers == ["tests.first"]
    await relay.deliver_pending(rt, handlers)
    await relay.deliver_pending(rt, handlers)
    handled = [r[:2] for r in await effect_rows(rt.db) if r[2].startswith(tag)]
    assert handled == [(ids[1], "tests.first")]  # once; tests.second stays dead
    remaining = await invoke(rt, "list_dead_letters", {"limit": 50}, admin)
    assert (ids[1], "tests.first") not in {(d.event_id, d.handler) for d in remaining.items}
    assert (ids[1], "tests.second") in {(d.event_id, d.handler) for d in remaining.items}
    with pytest.raises(NotFound, match="no dead letter with id"):
        await invoke(rt, "retry_dead_letter", {"event_id": ids[1], "handler": "tests.first"}, admin)


async def test_only_admins_and_only_good_arguments(rt, people):
    admin, hr = people
    with pytest.raises(PermissionDenied):
        await invoke(rt, "list_dead_letters", {}, hr)
    with pytest.raises(PermissionDenied):
        await invoke(rt, "retry_dead_letter", {"event_id": 1}, hr)
    for bad in ({"event_id": 0}, {"event_id": "x"}, {"event_id": 1, "handler": "h" * 81}, {"event_id": 1, "x": 1},
                {}):
        with pytest.raises(InvalidInput):
            await invoke(rt, "retry_dead_letter", bad, admin)
    for bad in ({"limit": 0}, {"limit": 10_000}, {"cursor": "not-a-cursor"}):
        with pytest.raises(InvalidInput):
            await invoke(rt, "list_dead_letters", bad, admin)
    with pytest.raises(NotFound):
        await invoke(rt, "retry_dead_letter", {"event_id": 2_000_000_000}, admin)
