"""Background loops serve only the tenants with something to do (workers/tenancy.py `tenants_with`): the outbox relay,
the audit sequencer, job recovery and the notification sender ask which tenants have work, in one statement per
PostgreSQL cluster, instead of opening a unit of work in every tenant every second.

The promise is tried as a property: whatever subset of tenants holds pending events, the probe names exactly that
subset, in order; a relay round serves exactly the tenants a commit woke plus, when a poll is due, those with
pending events; and an idle poll over every tenant costs the database one probe statement, not a unit of work each.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text

from domain.kernel import outbox
from domain.kernel.tenants import tenant_in_use
from tests.conftest import BACKEND
from tests.tenants.helpers import tenants_runtime
from workers import relay
from workers.tenancy import PROBE_CHUNK, tenants_with

CODES = ["north", "south", "east", "west"]
ALL: list[str | None] = [None, *CODES]


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "background-probe", CODES) as runtime:
        yield runtime


async def _pending(rt, code: str | None, key: str) -> int:
    """Record an event in tenant `code` and return its id (no relay runs: it stays pending)."""
    with tenant_in_use(code):
        async with rt.db.write() as session:
            return (await outbox.record_event(session, "tests.Probed", "tests.thing", key, {})).id


async def _done(rt, code: str | None) -> None:
    """Mark every event of tenant `code` done, as a relay would once every handler is."""
    with tenant_in_use(code):
        async with rt.db.write() as session:
            await session.exec(text("UPDATE outbox SET done_at = CURRENT_TIMESTAMP WHERE done_at IS NULL"))


async def _clear(rt) -> None:
    for code in ALL:
        await _done(rt, code)


@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(busy=st.sets(st.sampled_from(ALL)), order=st.permutations(ALL))
async def test_the_probe_names_exactly_the_tenants_with_pending_events_in_order(rt, busy, order):
    await _clear(rt)
    for code in busy:
        await _pending(rt, code, f"k-{code}")
    found = await tenants_with(rt, order, "outbox", "done_at IS NULL")
    if BACKEND == "sqlite":  # each tenant is a file: its own round's first read is the probe
        assert found == order
    else:
        assert found == [code for code in order if code in busy]
    assert await tenants_with(rt, [], "outbox", "done_at IS NULL") == []


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite's tenants are files: nothing to probe in one statement")
async def test_a_probe_that_fails_serves_each_of_its_tenants_and_bad_names_are_refused(rt):
    await _clear(rt)
    # A tenant listed but whose schema is gone (dropped meanwhile): the chunk's statement fails, so every tenant of
    # the chunk is answered and served the long way, where its own unit of work says what is wrong.
    assert await tenants_with(rt, ["north", "ghost"], "outbox", "done_at IS NULL") == ["north", "ghost"]
    with pytest.raises(ValueError, match="not a table name"):
        await tenants_with(rt, ["north"], "outbox; DROP TABLE outbox", "true")
    assert PROBE_CHUNK >= len(ALL)


async def test_a_relay_round_serves_the_tenants_a_commit_woke_and_polls_the_others_only_when_due(rt):
    await _clear(rt)
    relay_ = relay.InProcessRelay(rt, outbox.EventHandlers(), poll_s=3600)
    served = await relay_.tenants()
    assert sorted(served, key=str) == sorted(ALL, key=str)
    assert await relay_.round_codes() == ([] if BACKEND == "postgresql" else served), "first round: a poll"
    with tenant_in_use("south"):
        relay_.wake()  # what a commit in south that recorded an event does (outbox.on_recorded)
    await _pending(rt, "west", "w1")  # another process's event: the next poll finds it
    assert await relay_.round_codes() == ["south"], "no poll due: the woken tenant only"
    assert await relay_.round_codes() == [], "nothing woken, no poll due"
    relay_._polled_at = time.monotonic() - 3601
    with tenant_in_use(None):
        relay_.wake()
    expected = [None, "west"] if BACKEND == "postgresql" else served
    assert await relay_.round_codes() == expected, "a poll: the woken tenant and those with pending events"


@pytest.mark.skipif(BACKEND != "postgresql", reason="the one-statement probe is PostgreSQL's")
async def test_an_idle_poll_over_every_tenant_costs_one_statement(rt):
    await _clear(rt)
    relay_ = relay.InProcessRelay(rt, outbox.EventHandlers(), poll_s=3600)
    await relay_.tenants()  # the list of tenants, read once per TENANTS_TTL_S
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    engines = [rt.db.read_engine.sync_engine, rt.db.write_engine.sync_engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        assert await relay_.round(await relay_.round_codes()) is False
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    probes = [s for s in sent if "UNION ALL" in s]
    assert len(probes) == 1 and all(f"tenant_{code}.outbox" in probes[0] for code in CODES), sent
    assert len(sent) <= 2, sent  # the probe, and at most the read's search_path reset
