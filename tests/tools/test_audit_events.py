"""list_audit_events: the audit log read by an admin, filtered, paged newest first, with the chain's status.

The module's log is written once on a database of its own (tests.conftest.own_runtime) and only read by its
tests; the test that tampers with a row has another database of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.audit import append_audit, integrate_pending
from domain.kernel.clock import utcnow
from domain.kernel.errors import InvalidInput, NotFound, PermissionDenied
from tests.conftest import own_runtime
from tools.invoke import invoke

ADMIN = Actor(id=1, username="admin", roles=frozenset({Role.ADMIN}), channel=Channel.CLI)
CLERK = Actor(id=7, username="clerk", roles=frozenset({Role.REGISTRAR}), channel=Channel.CLI)
BURSAR = Actor(id=8, username="bursar", roles=frozenset({Role.FINANCE}), channel=Channel.MCP_HTTP)
NOT_ADMINS = (CLERK, BURSAR, Actor(id=9, username="teacher", roles=frozenset({Role.TEACHER}), channel=Channel.CLI),
              Actor(id=10, username="hr", roles=frozenset({Role.HR, Role.PAYROLL, Role.VIEWER}),
                    channel=Channel.CLI))


@dataclass(frozen=True)
class Logged:
    """One appended entry: its id, who, tool, entity and id, and the time window it was written in."""

    id: int
    actor: Actor
    tool: str
    entity: str | None
    entity_id: int | None
    after_time: datetime
    before_time: datetime


async def log(runtime, actor: Actor, tool: str, *, entity: str | None = None, entity_id: int | None = None,
              after: dict | None = None) -> Logged:
    """Append one audit entry in its own transaction, noting the time just before and just after it."""
    start = utcnow()
    async with runtime.db.write() as session:
        entry = await append_audit(session, actor, tool=tool, event="write", arguments={"n": entity_id},
                                   entity=entity, entity_id=entity_id, after=after or {"ok": True})
    async with runtime.db.write() as session:  # integrated into the tree at once, as the sequencer would be
        await integrate_pending(session)
    end = utcnow()
    return Logged(entry.id or 0, actor, tool, entity, entity_id, start, end)


@pytest.fixture(scope="module")
async def art(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "audit") as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def entries(art) -> list[Logged]:
    """Nine entries, oldest first: two actors, three tools, three invoices and a journal entry, one long one."""
    return [
        await log(art, CLERK, "record_grade", entity="grades", entity_id=1),
        await log(art, BURSAR, "record_payment", entity="invoices", entity_id=11),
        await log(art, BURSAR, "record_payment", entity="invoices", entity_id=12),
        await log(art, CLERK, "record_grade", entity="grades", entity_id=2),
        await log(art, BURSAR, "void_invoice", entity="invoices", entity_id=11),
        await log(art, BURSAR, "post_journal_entry", entity="journal_entries", entity_id=11),
        await log(art, CLERK, "create_student"),
        await log(art, BURSAR, "record_payment", entity="invoices", entity_id=13,
                  after={"note": "x" * 2000}),
        await log(art, CLERK, "record_grade", entity="grades", entity_id=3),
    ]


async def events(runtime, args: dict, actor: Actor = ADMIN):
    return await invoke(runtime, "list_audit_events", args, actor)


def ids(page) -> list[int]:
    return [item.event_id for item in page.items]


async def test_the_log_comes_newest_first_with_the_chain_verified(art, entries):
    page = await events(art, {})
    assert ids(page) == [e.id for e in reversed(entries)]
    assert page.chain.verified is True and page.chain.rows_checked == len(entries) and page.chain.problem is None
    newest, first = page.items[1], page.items[-1]
    assert (newest.actor, newest.actor_id, newest.tool, newest.entity, newest.entity_id, newest.channel) == (
        "bursar", 8, "record_payment", "invoices", 13, "mcp-http")
    assert (first.arguments, first.after, first.before, first.details_cut) == ({"n": 1}, {"ok": True}, None, False)
    assert all(a.at >= b.at for a, b in zip(page.items, page.items[1:]))
    unchecked = await events(art, {"verify": False})
    assert unchecked.chain.verified is None and ids(unchecked) == ids(page)


async def test_filters_by_actor_tool_entity_and_time(art, entries):
    def expected(keep) -> list[int]:
        return [e.id for e in reversed(entries) if keep(e)]

    assert ids(await events(art, {"actor": "clerk"})) == expected(lambda e: e.actor is CLERK)
    assert ids(await events(art, {"actor": "8"})) == expected(lambda e: e.actor is BURSAR)  # a user id
    assert ids(await events(art, {"tool": "record_payment"})) == expected(lambda e: e.tool == "record_payment")
    assert ids(await events(art, {"entity": "invoices"})) == expected(lambda e: e.entity == "invoices")
    eleven = await events(art, {"entity": "invoices", "entity_id": 11})
    assert ids(eleven) == expected(lambda e: (e.entity, e.entity_id) == ("invoices", 11))
    assert len(eleven.items) == 2  # the journal entry 11 is another entity's
    both = await events(art, {"actor": "bursar", "tool": "record_payment", "entity": "invoices"})
    assert ids(both) == expected(lambda e: e.actor is BURSAR and e.tool == "record_payment")
    # Time range: since inclusive, until exclusive; a naive time is UTC.
    since, until = entries[2].after_time, entries[5].before_time
    window = await events(art, {"since": since.isoformat(), "until": until.isoformat()})
    assert ids(window) == [e.id for e in reversed(entries[2:6])]
    naive = await events(art, {"since": since.replace(tzinfo=None).isoformat()})
    assert ids(naive) == [e.id for e in reversed(entries[2:])]
    shifted = since.astimezone(timezone(timedelta(hours=5)))  # same instant, +05:00
    assert ids(await events(art, {"since": shifted.isoformat()})) == ids(naive)
    for none in ({"actor": "nobody"}, {"tool": "approve_action"}, {"entity": "payslips"},
                 {"until": entries[0].after_time.isoformat()}):
        empty = await events(art, none)
        assert empty.items == [] and empty.next_cursor is None and empty.chain.verified is True, none
    # An id that names nothing is not found (an empty page would read as "nothing happened to it"); an event
    # that exists but is filtered out is an empty page.
    with pytest.raises(NotFound, match="no audit event with id 999999") as unknown:
        await events(art, {"event_id": 999_999})
    assert unknown.value.field == "event_id"
    with pytest.raises(NotFound, match="no audit event names invoices with id 99") as unnamed:
        await events(art, {"entity": "invoices", "entity_id": 99})
    assert unnamed.value.field == "entity_id"
    assert (await events(art, {"event_id": entries[0].id, "actor": "bursar"})).items == []
    assert (await events(art, {"entity": "invoices", "entity_id": 11, "tool": "create_student"})).items == []


async def test_a_long_event_is_cut_from_the_list_and_whole_by_its_id(art, entries):
    long = entries[7]
    listed = next(i for i in (await events(art, {})).items if i.event_id == long.id)
    assert listed.details_cut is True and (listed.arguments, listed.after) == (None, None)
    whole = await events(art, {"event_id": long.id})
    assert ids(whole) == [long.id]
    assert whole.items[0].details_cut is False and whole.items[0].after == {"note": "x" * 2000}
    assert whole.items[0].arguments == {"n": 13}


async def test_pages_follow_the_cursor_without_gaps_or_repeats(art, entries):
    seen, cursor, pages = [], None, 0
    while True:
        page = await events(art, {"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert len(page.items) <= 2 and page.chain.verified is True
        seen += ids(page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [e.id for e in reversed(entries)] and pages == 5
    filtered = await events(art, {"actor": "clerk", "limit": 3})
    rest = await events(art, {"actor": "clerk", "limit": 3, "cursor": filtered.next_cursor})
    assert ids(filtered) + ids(rest) == [e.id for e in reversed(entries) if e.actor is CLERK]
    assert rest.next_cursor is None


@pytest.mark.parametrize("actor", NOT_ADMINS, ids=lambda a: a.username)
async def test_only_admins_read_the_audit_log(art, entries, actor):
    with pytest.raises(PermissionDenied, match="list_audit_events needs one of the roles: admin"):
        await events(art, {}, actor)


@pytest.mark.parametrize(("args", "field", "message"), [
    ({"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, "until", "must be after since"),
    ({"since": "2026-05-01T00:00:00Z", "until": "2026-05-01T00:00:00Z"}, "until", "must be after since"),
    ({"entity_id": 11}, "entity_id", "needs entity"),
    ({"actor": "a" * 121}, "actor", "at most 120 characters"),
    ({"tool": "t" * 81}, "tool", "at most 80 characters"),
    ({"entity": "e" * 61}, "entity", "at most 60 characters"),
    ({"actor": "   "}, "actor", "at least 1 character"),
    ({"since": "yesterday"}, "since", "valid datetime"),
    ({"entity": "invoices", "entity_id": 0}, "entity_id", "greater than or equal to 1"),
    ({"event_id": "12"}, "event_id", "valid integer"),
    ({"limit": 0}, "limit", "greater than or equal to 1"),
    ({"limit": 101}, "limit", "less than or equal to 100"),
    ({"cursor": "not-a-cursor"}, "cursor", "not one this server issued"),
    ({"who": "clerk"}, "who", "unknown argument"),
])
async def test_bad_input_is_refused_naming_the_field(art, entries, args, field, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        await events(art, args)
    assert refused.value.field == field


async def test_a_tampered_row_turns_the_verification_bad(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "audit-tampered") as runtime:
        written = [await log(runtime, CLERK, "record_grade", entity="grades", entity_id=n) for n in (1, 2, 3)]
        assert (await events(runtime, {})).chain.verified is True
        async with runtime.db.write() as session:
            await (await session.connection()).execute(
                text('UPDATE audit_log SET "after" = :after WHERE id = :id'),
                {"after": '{"ok":false}', "id": written[1].id})
        page = await events(runtime, {"actor": "clerk"})
        assert page.chain.verified is False and page.chain.bad_event_id == written[1].id
        assert page.chain.rows_checked == 1 and "edited" in page.chain.problem
        assert ids(page) == [w.id for w in reversed(written)]  # the log is still readable, flagged
        assert (await events(runtime, {"verify": False})).chain.verified is None
