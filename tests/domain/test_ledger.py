"""The double-entry ledger: pure rules, the services on the session database, and property tests.

Every test makes its own accounts with unique codes (the session database is shared). Writes run in
`runtime.db.write()` units of work, as an entry point would; a refused write must leave nothing behind.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, text
from sqlmodel import select

from domain.finance import rules, service
from domain.finance.models import Account, EntryStatus, JournalEntry, JournalLine
from domain.finance.rules import LineInput
from domain.hr import service as hr
from domain.kernel import money
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.audit import AuditEntry, verify_audit_chain
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from tests.conftest import BACKEND
from tests.factories import make_user, unique

D = dt.date(2026, 10, 1)
UNKNOWN_ID = 2_000_000_000


# ---------------------------------------------------------------- factories


@dataclass
class Books:
    """A small chart of accounts of one test, by role, plus the finance user who posts."""

    cash: Account
    bank: Account
    payable: Account
    equity: Account
    fees: Account
    salaries: Account
    euro_cash: Account
    clerk: Actor

    @property
    def usd(self) -> list[Account]:
        return [self.cash, self.bank, self.payable, self.equity, self.fees, self.salaries]


async def make_books(runtime) -> Books:
    """Create a user with the finance role and seven accounts with unique codes, committed."""
    tag = unique()
    async with runtime.db.write() as s:
        clerk = await make_user(s, roles="finance")

        async def account(suffix: str, name: str, kind: str, currency: str = "USD") -> Account:
            return await service.create_account(s, clerk, code=f"{tag}-{suffix}", name=name, type=kind,
                                                currency=currency)

        return Books(cash=await account("1000", "Cash", "asset"),
                     bank=await account("1100", "Bank", "asset"),
                     payable=await account("2000", "Accounts payable", "liability"),
                     equity=await account("3000", "Retained earnings", "equity"),
                     fees=await account("4100", "Tuition fees", "income"),
                     salaries=await account("5100", "Salaries", "expense"),
                     euro_cash=await account("1001", "Cash (EUR)", "asset", "EUR"), clerk=clerk)


def debit(account: Account, amount: int, **kw) -> LineInput:
    return LineInput(account_id=account.id or 0, debit=amount, **kw)


def credit(account: Account, amount: int, **kw) -> LineInput:
    return LineInput(account_id=account.id or 0, credit=amount, **kw)


async def post(runtime, actor: Actor, lines: list[LineInput], *, key: str | None = None, date: dt.date = D,
               memo: str = "Test entry", source: str = "manual",
               currency: str | None = None) -> service.PostedEntry:
    async with runtime.db.write() as s:
        return await service.post_entry(s, actor, date=date, memo=memo, lines=lines, source=source,
                                        idempotency_key=key or unique("key-"), currency=currency)


async def reverse(runtime, actor: Actor, entry_id: int, *, date: dt.date = D, reason: str = "Posted in error",
                  key: str | None = None) -> service.PostedEntry:
    async with runtime.db.write() as s:
        return await service.reverse_entry(s, actor, entry_id, date=date, reason=reason, idempotency_key=key)


async def balances(runtime, accounts: list[Account], *, as_of: dt.date | None = None) -> dict[int, int]:
    """Each account's balance in its normal direction, from the trial balance."""
    async with runtime.db.read() as s:
        tb = await service.trial_balance(s, as_of=as_of)
    found = {row.account.id: row.balance for row in tb.rows}
    return {a.id or 0: found.get(a.id, 0) for a in accounts}


async def counts(runtime) -> tuple[int, int, int]:
    """Rows of journal_entries and journal_lines, and the newest audit id: any write changes one."""
    async with runtime.db.read() as s:
        entries = (await s.exec(select(func.count()).select_from(JournalEntry))).one()
        lines = (await s.exec(select(func.count()).select_from(JournalLine))).one()
        audit = (await s.exec(select(func.coalesce(func.max(AuditEntry.id), 0)))).one()
    return int(entries), int(lines), int(audit)


async def new_clerk(runtime) -> Actor:
    async with runtime.db.write() as s:
        return await make_user(s, roles="finance")


# ---------------------------------------------------------------- pure rules


def test_normal_balance_follows_the_account_type():
    assert rules.normal_balance("asset", 100, 30) == 70
    assert rules.normal_balance("expense", 100, 30) == 70
    for kind in ("liability", "equity", "income"):
        assert rules.normal_balance(kind, 100, 30) == -70
        assert rules.normal_balance(kind, 30, 100) == 70


def test_the_ledger_takes_the_kernels_currencies():
    # Currency codes, their exponents and the formatter are domain.kernel.money's (tests/domain/test_money.py).
    assert rules.MAX_AMOUNT == money.MAX_AMOUNT
    assert money.parse_currency(" usd ") == "USD" and money.format_money(1234, "BHD") == "1.234 BHD"


def test_line_shapes_are_refused_naming_the_line():
    ok = LineInput(2, credit=5)
    cases = [
        ([LineInput(1, debit=5)], "lines", "at least 2 lines"),
        ([], "lines", "got 0"),
        ([LineInput(1, debit=5, credit=5), ok], "lines.0", "both a debit (5) and a credit (5)"),
        ([LineInput(1, debit=5), LineInput(2)], "lines.1", "neither a debit nor a credit"),
        ([LineInput(1, debit=-5), ok], "lines.0.debit", "negative"),
        ([LineInput(1, debit=5), LineInput(2, credit=2.5)], "lines.1.credit", "integer number of minor"),
        ([LineInput(1, debit=True), ok], "lines.0.debit", "integer number of minor units"),
        ([LineInput(1, debit=rules.MAX_AMOUNT + 1), ok], "lines.0.debit", "above the largest"),
        ([LineInput(1, debit=5, memo="x" * 501), ok], "lines.0.memo", "at most 500"),
        ([LineInput(0, debit=5), ok], "lines.0.account_id", "positive integer id"),
        ([LineInput("1", debit=5), ok], "lines.0.account_id", "positive integer id"),
        ([LineInput(1, debit=5, department_id=-1), ok], "lines.0.department_id", "positive integer id"),
    ]
    for lines, field_name, rule in cases:
        with pytest.raises(InvalidInput) as info:
            rules.check_line_shapes(lines)
        assert info.value.field == field_name, (lines, info.value.message)
        assert rule in info.value.message


def test_balance_rule_names_both_totals():
    rules.check_balanced([LineInput(1, debit=700), LineInput(2, credit=300), LineInput(3, credit=400)], "USD")
    with pytest.raises(InvalidInput) as info:
        rules.check_balanced([LineInput(1, debit=1000), LineInput(2, credit=900)], "USD")
    message = info.value.message
    assert "debits total 1000 and credits total 900" in message and "difference 100" in message
    assert "10.00 USD vs 9.00 USD" in message
    assert info.value.details == {"total_debit": 1000, "total_credit": 900, "currency": "USD"}


def test_mirror_swaps_sides_and_keeps_everything_else():
    lines = [LineInput(1, debit=5, department_id=3, memo="a"), LineInput(2, credit=5)]
    assert rules.mirror(lines) == [LineInput(1, credit=5, department_id=3, memo="a"), LineInput(2, debit=5)]
    assert rules.mirror(rules.mirror(lines)) == lines


# ---------------------------------------------------------------- chart of accounts


async def test_create_account_normalizes_and_audits(runtime):
    tag = unique()
    async with runtime.db.write() as s:
        account = await service.create_account(s, SYSTEM_ACTOR, code=f"{tag.lower()}-1000", name=" Cash ",
                                               type="asset", currency="usd")
    assert account.code == f"{tag}-1000" and account.name == "Cash" and account.currency == "USD"
    assert account.active and account.version == 1 and account.parent_id is None
    async with runtime.db.read() as s:
        row = (await s.exec(select(AuditEntry).where(AuditEntry.entity == "accounts",
                                                     AuditEntry.entity_id == account.id))).one()
        assert row.event == "account_created" and row.tool == "finance.create_account"
        assert (await verify_audit_chain(s)).ok
        assert (await service.find_account_by_code(s, f"{tag}-1000".lower())).id == account.id
        assert (await service.get_account(s, account.id)).code == account.code
        with pytest.raises(NotFound):
            await service.get_account(s, UNKNOWN_ID)


async def test_an_account_found_by_code_is_read_again_only_when_it_changed(runtime):
    """issue 19: a second lookup of a code in one unit of work answers from the account the first one loaded, unless
    the account changed since (its code, its deletion) or was expired; a code not found is always looked up."""
    tag = unique()
    sql: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        sql.append(statement)

    engine = runtime.db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        async with runtime.db.write() as s:
            assert await service.find_account_by_code(s, f"{tag}-7000") is None
            made = await service.create_account(s, SYSTEM_ACTOR, code=f"{tag}-7000", name="Till", type="asset",
                                                currency="USD")
            sql.clear()
            found = await service.find_account_by_code(s, f"{tag}-7000")
            assert found is made and len(sql) == 1, "the first lookup of the code reads it"
            assert await service.find_account_by_code(s, f"{tag}-7000".lower()) is made and len(sql) == 1
            made.code = f"{tag}-7001"
            await s.flush()
            sql.clear()
            assert await service.find_account_by_code(s, f"{tag}-7000") is None and len(sql) == 1
            assert await service.find_account_by_code(s, f"{tag}-7001") is made
            made.deleted_at = made.created_at
            await s.flush()
            assert await service.find_account_by_code(s, f"{tag}-7001") is None
            made.deleted_at = None
            await s.flush()
            assert await service.find_account_by_code(s, f"{tag}-7001") is made
            s.expire(made)
            sql.clear()
            assert await service.find_account_by_code(s, f"{tag}-7001") is made and len(sql) == 1
    finally:
        event.remove(engine, "before_cursor_execute", note)


async def test_create_account_refusals(runtime):
    books = await make_books(runtime)
    cases = [
        ({"code": books.cash.code.lower()}, Conflict, "code", "already used"),
        ({"type": "revenue"}, InvalidInput, "type", "asset, liability, equity, income, expense"),
        ({"currency": "ZZZ"}, InvalidInput, "currency", "ISO 4217"),
        ({"code": "10 00"}, InvalidInput, "code", "letters, digits"),
        ({"code": "x" * 21}, InvalidInput, "code", "1 to 20"),
        ({"name": ""}, InvalidInput, "name", "non-empty"),
        ({"name": "n" * 121}, InvalidInput, "name", "at most 120"),
        ({"parent_id": UNKNOWN_ID}, NotFound, "parent_id", f"no account with id {UNKNOWN_ID}"),
        ({"parent_id": books.payable.id}, InvalidInput, "parent_id", "parent's type"),
        ({"parent_id": books.euro_cash.id}, InvalidInput, "parent_id", "parent's currency"),
    ]
    before = await counts(runtime)
    for change, error, field_name, rule in cases:
        args = {"code": unique("C"), "name": "Petty cash", "type": "asset", "currency": "USD"} | change
        with pytest.raises(error) as info:
            async with runtime.db.write() as s:
                await service.create_account(s, books.clerk, **args)
        assert info.value.field == field_name, info.value.message
        assert rule in info.value.message, info.value.message
    assert await counts(runtime) == before


async def test_child_account_and_inactive_parent(runtime):
    books = await make_books(runtime)
    async with runtime.db.write() as s:
        child = await service.create_account(s, books.clerk, code=unique("C"), name="Petty cash",
                                             type="asset", currency="USD", parent_id=books.cash.id)
        cash = await service.set_account_active(s, books.clerk, account_id=books.cash.id, active=False)
        same = await service.set_account_active(s, books.clerk, account_id=books.cash.id, active=False)
    assert child.parent_id == books.cash.id
    assert not cash.active and cash.version == 2 and same.version == 2, "an unchanged flag is not a change"
    with pytest.raises(InvalidInput) as info:
        async with runtime.db.write() as s:
            await service.create_account(s, books.clerk, code=unique("C"), name="Till", type="asset",
                                         currency="USD", parent_id=books.cash.id)
    assert info.value.field == "parent_id" and "inactive" in info.value.message


async def test_concurrent_creation_of_one_code_makes_one_account(runtime):
    code = unique("C")

    async def create() -> int:
        async with runtime.db.write() as s:
            account = await service.create_account(s, SYSTEM_ACTOR, code=code, name="Cash", type="asset",
                                                   currency="USD")
            return account.id or 0

    results = await asyncio.gather(create(), create(), return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, Conflict) for r in results) == 1, results


# ---------------------------------------------------------------- posting


async def test_batches_racing_for_one_key_post_it_once(runtime):
    """post_entries: a batch whose key a concurrent batch posts first (not yet committed when it looked) is
    refused with Conflict and writes nothing (its COPY's refusal by the key's UNIQUE index rolls back its
    savepoint); repeating it returns the entry posted and posts the rest."""
    books = await make_books(runtime)
    key, other_key = unique("race"), unique("race")
    request = service.EntryRequest(date=D, memo="Race", lines=[debit(books.cash, 500), credit(books.fees, 500)],
                                   source="test", idempotency_key=key)
    other = service.EntryRequest(date=D, memo="Other", lines=[debit(books.bank, 700), credit(books.fees, 700)],
                                 source="test", idempotency_key=other_key)

    async def post(requests: list) -> dict[str, int]:
        async with runtime.db.write() as s:
            return await service.post_entries(s, books.clerk, requests, batch="test.race")

    if BACKEND == "postgresql":
        async with runtime.db.write() as holder:
            first = await service.post_entries(holder, books.clerk, [request], batch="test.race")
            racing = asyncio.create_task(post([other, request]))
            async with asyncio.timeout(30):
                while True:  # until the racing batch waits on the key's index for the holder's commit
                    async with runtime.db.read() as s:
                        waiting = (await s.exec(text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock'"))).one()[0]
                    if waiting:
                        break
                    await asyncio.sleep(0.02)
        with pytest.raises(Conflict, match="concurrent request posted"):
            async with asyncio.timeout(30):
                await racing
    else:  # SQLite: writers queue on BEGIN IMMEDIATE, so the second batch sees the first's entry
        first = await post([request])
    retry = await post([other, request])
    assert retry[key] == first[key]
    async with runtime.db.read() as s:
        posted = dict((await s.exec(select(JournalEntry.idempotency_key, func.count()).where(
            JournalEntry.idempotency_key.in_([key, other_key])).group_by(JournalEntry.idempotency_key))).all())
        lines = (await s.exec(select(func.count()).select_from(JournalLine).where(
            JournalLine.entry_id == retry[other_key]))).one()
    assert posted == {key: 1, other_key: 1} and lines == 2


async def test_post_entry_returns_the_numbered_entry_and_audits_it(runtime):
    books = await make_books(runtime)
    async with runtime.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("D"), name="Science")
    lines = [debit(books.salaries, 250000, department_id=dep.id, memo=" Oct "), credit(books.bank, 200000),
             credit(books.payable, 50000)]
    posted = await post(runtime, books.clerk, lines, memo="  October salaries  ", source="payroll_run:12",
                        currency="usd")
    entry = posted.entry
    assert entry.entry_number == f"JE{entry.id:06d}" and entry.status == EntryStatus.POSTED
    assert entry.memo == "October salaries" and entry.source == "payroll_run:12" and entry.currency == "USD"
    assert entry.entry_date == D and entry.posted_by == books.clerk.id and not posted.replayed
    assert posted.total_debit == posted.total_credit == 250000
    assert [(line.line_no, line.debit, line.credit) for line in posted.lines] == [
        (1, 250000, 0), (2, 0, 200000), (3, 0, 50000)]
    assert posted.lines[0].department_id == dep.id and posted.lines[0].memo == "Oct"
    assert await balances(runtime, [books.salaries, books.bank, books.payable]) == {
        books.salaries.id: 250000, books.bank.id: -200000, books.payable.id: 50000}
    async with runtime.db.read() as s:
        audit = (await s.exec(select(AuditEntry).where(AuditEntry.entity == "journal_entries",
                                                       AuditEntry.entity_id == entry.id))).all()
        assert [a.event for a in audit] == ["entry_posted"]
        assert (await service.get_entry(s, entry.id)).total_debit == 250000
        assert await service.account_balance(s, books.bank.id) == -200000
        assert await service.account_balance(s, books.bank.id, as_of=D - dt.timedelta(days=1)) == 0


async def test_lines_may_be_mappings(runtime):
    """Other contexts may pass plain mappings; the system actor posts with no user recorded."""
    books = await make_books(runtime)
    async with runtime.db.write() as s:
        posted = await service.post_entry(s, SYSTEM_ACTOR, date=D, memo="Fees", source="fees_run:3",
                                          idempotency_key=unique("fees-"),
                                          lines=[{"account_id": books.cash.id, "debit": 10},
                                                 {"account_id": books.fees.id, "credit": 10,
                                                  "memo": "term 1"}])
        with pytest.raises(InvalidInput) as info:
            await service.post_entry(s, SYSTEM_ACTOR, date=D, memo="Fees", source="manual",
                                     idempotency_key=unique("fees-"),
                                     lines=[{"account_id": books.cash.id, "amount": 10},
                                            {"account_id": books.fees.id, "credit": 10}])
    assert posted.entry.posted_by is None and posted.lines[1].memo == "term 1"
    assert info.value.field == "lines.0" and "amount" in info.value.message


async def test_post_entry_refusals_write_nothing(runtime):
    books = await make_books(runtime)
    async with runtime.db.write() as s:
        await service.set_account_active(s, books.clerk, account_id=books.equity.id, active=False)
    cash, bank = books.cash, books.bank
    pair = [debit(cash, 5), credit(bank, 5)]
    cases = [
        ({"lines": [debit(cash, 1000), credit(bank, 900)]}, InvalidInput, "lines",
         "debits total 1000 and credits total 900"),
        ({"lines": [debit(cash, 1000)]}, InvalidInput, "lines", "at least 2 lines"),
        ({"lines": [LineInput(cash.id, debit=5, credit=5), credit(bank, 5)]}, InvalidInput, "lines.0",
         "both a debit"),
        ({"lines": [debit(cash, 5), LineInput(bank.id)]}, InvalidInput, "lines.1", "neither"),
        ({"lines": [debit(cash, -5), credit(bank, -5)]}, InvalidInput, "lines.0.debit", "negative"),
        ({"lines": [debit(cash, 5), LineInput(UNKNOWN_ID, credit=5)]}, NotFound, "lines.1.account_id",
         f"no account with id {UNKNOWN_ID}"),
        ({"lines": [debit(cash, 5), credit(books.equity, 5)]}, InvalidInput, "lines.1.account_id",
         "inactive"),
        ({"lines": [debit(cash, 5), credit(books.euro_cash, 5)]}, InvalidInput, "lines",
         "different currencies"),
        ({"lines": pair, "currency": "EUR"}, InvalidInput, "currency", "not EUR"),
        ({"lines": pair, "currency": "EURO"}, InvalidInput, "currency", "ISO 4217"),
        ({"lines": [debit(cash, 5, department_id=UNKNOWN_ID), credit(bank, 5)]}, NotFound,
         "lines.0.department_id", "no department"),
        ({"lines": pair, "memo": "  "}, InvalidInput, "memo", "non-empty"),
        ({"lines": pair, "memo": "m" * 1001}, InvalidInput, "memo", "at most 1000"),
        ({"lines": pair, "source": "Payroll Run"}, InvalidInput, "source", "payroll_run:12"),
        ({"lines": pair, "key": " "}, InvalidInput, "idempotency_key", "non-empty"),
        ({"lines": pair, "key": "k" * 201}, InvalidInput, "idempotency_key", "at most 200"),
        ({"lines": pair, "date": dt.datetime(2026, 10, 1, 9)}, InvalidInput, "date", "calendar date"),
        ({"lines": "cash 5, bank 5"}, InvalidInput, "lines", "list of journal lines"),
    ]
    before = await counts(runtime)
    for kw, error, field_name, rule in cases:
        with pytest.raises(error) as info:
            await post(runtime, books.clerk, **kw)
        assert info.value.field == field_name, (kw, info.value.message)
        assert rule in info.value.message, info.value.message
    assert await counts(runtime) == before


async def test_same_idempotency_key_returns_the_entry_or_conflicts(runtime):
    books = await make_books(runtime)
    key = unique("rent-")
    lines = [debit(books.salaries, 1200), credit(books.cash, 1200)]
    first = await post(runtime, books.clerk, lines, key=key, memo="Rent")
    other = await new_clerk(runtime)
    before = await counts(runtime)
    again = await post(runtime, books.clerk, list(lines), key=key, memo="Rent")
    assert again.replayed and again.id == first.id and again.entry.entry_number == first.entry.entry_number
    assert await counts(runtime) == before, "a replay writes nothing, not even an audit row"
    assert (await post(runtime, other, lines, key=key, memo=" Rent ")).id == first.id, "a key names a posting"
    for change, differs in [({"lines": [debit(books.salaries, 1300), credit(books.cash, 1300)]}, "lines"),
                            ({"lines": list(reversed(lines))}, "lines"),
                            ({"memo": "Rent for November"}, "memo"),
                            ({"date": dt.date(2026, 10, 2)}, "date 2026-10-01 vs 2026-10-02"),
                            ({"source": "fees_run:1"}, "source"),
                            ({"currency": "EUR"}, "currency")]:
        args = {"lines": lines, "key": key, "memo": "Rent"} | change
        with pytest.raises(Conflict) as info:
            await post(runtime, books.clerk, **args)
        assert info.value.field == "idempotency_key" and differs in info.value.message, info.value.message
        assert first.entry.entry_number in info.value.message
    assert await counts(runtime) == before


async def _wait_for_lock_waiter(runtime, *, timeout: float = 10.0) -> None:
    """Return once a backend of this PostgreSQL database waits on a lock (the racing transaction)."""
    deadline = time.monotonic() + timeout
    while True:
        async with runtime.db.read() as s:
            conn = await s.connection()
            waiting = (await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))).scalar_one()
        if waiting:
            return
        assert time.monotonic() < deadline, "the racing transaction never waited on a lock"
        await asyncio.sleep(0.01)


async def _race(runtime, first, second) -> list:
    """Run `first(session)` in a transaction held open until `second(session)`, in its own transaction, waits
    behind it (PostgreSQL: on a row or index lock, seen in pg_stat_activity; SQLite: for the one write
    connection), then commit it; return both outcomes (a result or the exception)."""
    first_done = asyncio.Event()
    release = asyncio.Event()

    async def run_first():
        async with runtime.db.write() as s:
            out = await first(s)
            first_done.set()
            await release.wait()
        return out

    async def run_second():
        await first_done.wait()
        async with runtime.db.write() as s:
            return await second(s)

    tasks = [asyncio.create_task(run_first()), asyncio.create_task(run_second())]
    await asyncio.wait_for(first_done.wait(), 10)
    if BACKEND == "postgresql":
        await _wait_for_lock_waiter(runtime)
    release.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_concurrent_identical_postings_post_once(runtime):
    books = await make_books(runtime)
    key = unique("race-")

    async def posting(s):
        return await service.post_entry(s, books.clerk, date=D, memo="Race", source="manual",
                                        idempotency_key=key,
                                        lines=[debit(books.cash, 77), credit(books.fees, 77)])

    first, second = await _race(runtime, posting, posting)
    assert not isinstance(second, BaseException), second
    assert second.replayed and second.id == first.id
    assert await balances(runtime, [books.cash]) == {books.cash.id: 77}
    async with runtime.db.read() as s:
        assert len((await s.exec(select(JournalEntry).where(JournalEntry.idempotency_key == key))).all()) == 1


async def test_concurrent_postings_with_one_key_and_other_content_conflict(runtime):
    books = await make_books(runtime)
    key = unique("race-")

    def posting(amount):
        async def run(s):
            return await service.post_entry(s, books.clerk, date=D, memo="Race", source="manual",
                                            idempotency_key=key,
                                            lines=[debit(books.cash, amount), credit(books.fees, amount)])
        return run

    first, second = await _race(runtime, posting(10), posting(20))
    assert isinstance(first, service.PostedEntry)
    assert isinstance(second, Conflict) and second.field == "idempotency_key"
    assert await balances(runtime, [books.cash]) == {books.cash.id: 10}


# ---------------------------------------------------------------- reversal


async def test_reverse_entry_posts_the_mirror_and_restores_balances(runtime):
    books = await make_books(runtime)
    accounts = [books.cash, books.fees, books.payable]
    await post(runtime, books.clerk, [debit(books.cash, 5000), credit(books.fees, 5000)])
    before = await balances(runtime, accounts)
    original = await post(runtime, books.clerk, [debit(books.cash, 900), credit(books.fees, 600),
                                                 credit(books.payable, 300, memo="deposit")],
                          date=dt.date(2026, 10, 5))
    assert await balances(runtime, accounts) != before
    reversal = await reverse(runtime, books.clerk, original.id, date=dt.date(2026, 10, 9),
                             reason="Wrong student")
    assert await balances(runtime, accounts) == before
    entry = reversal.entry
    assert entry.reverses_entry_id == original.id and entry.entry_date == dt.date(2026, 10, 9)
    assert entry.memo == f"Reversal of {original.entry.entry_number}: Wrong student"
    assert entry.source == f"reversal:{original.id}"
    assert entry.idempotency_key == service.reversal_key(original.id)
    assert [(line.account_id, line.debit, line.credit, line.memo) for line in reversal.lines] == [
        (books.cash.id, 0, 900, None), (books.fees.id, 600, 0, None), (books.payable.id, 300, 0, "deposit")]
    async with runtime.db.read() as s:
        reread = (await service.get_entry(s, original.id)).entry
        assert reread.status == EntryStatus.REVERSED and reread.reversed_by_entry_id == reversal.id
        assert reread.version == 2
        audit = (await s.exec(select(AuditEntry).where(AuditEntry.event == "entry_reversed",
                                                       AuditEntry.entity_id == original.id))).all()
        assert len(audit) == 1
    # Up to the day before the reversal the original still counts; from the reversal day on, nothing does.
    assert (await balances(runtime, [books.cash], as_of=dt.date(2026, 10, 8)))[books.cash.id] == 5900
    assert (await balances(runtime, [books.cash], as_of=dt.date(2026, 10, 9)))[books.cash.id] == 5000


async def test_reversal_refusals(runtime):
    books = await make_books(runtime)
    original = await post(runtime, books.clerk, [debit(books.cash, 10), credit(books.fees, 10)],
                          date=dt.date(2026, 10, 5))
    with pytest.raises(InvalidInput) as info:
        await reverse(runtime, books.clerk, original.id, date=dt.date(2026, 10, 4))
    assert info.value.field == "date" and "before the entry's date 2026-10-05" in info.value.message
    with pytest.raises(NotFound) as info:
        await reverse(runtime, books.clerk, UNKNOWN_ID, date=D)
    assert info.value.field == "entry_id"
    with pytest.raises(InvalidInput) as info:
        await reverse(runtime, books.clerk, original.id, reason=" ")
    assert info.value.field == "reason"
    reversal = await reverse(runtime, books.clerk, original.id, date=dt.date(2026, 10, 6))
    before = await counts(runtime)
    with pytest.raises(Conflict) as info:
        await reverse(runtime, books.clerk, original.id, date=dt.date(2026, 10, 6))
    assert info.value.field == "entry_id" and "already reversed by entry" in info.value.message
    with pytest.raises(Conflict) as info:
        await reverse(runtime, books.clerk, reversal.id, date=dt.date(2026, 10, 7))
    assert "cannot be reversed" in info.value.message
    assert await counts(runtime) == before


async def test_reversal_with_a_key_is_idempotent(runtime):
    books = await make_books(runtime)
    original = await post(runtime, books.clerk, [debit(books.cash, 10), credit(books.fees, 10)])
    key = unique("undo-")
    first = await reverse(runtime, books.clerk, original.id, key=key, reason="Duplicate")
    other = await post(runtime, books.clerk, [debit(books.cash, 10), credit(books.fees, 10)])
    before = await counts(runtime)
    again = await reverse(runtime, books.clerk, original.id, key=key, reason="Duplicate")
    assert again.replayed and again.id == first.id
    with pytest.raises(Conflict):
        await reverse(runtime, books.clerk, original.id, key=key, reason="Another reason")
    with pytest.raises(Conflict) as info:
        await reverse(runtime, books.clerk, other.id, key=key, reason="Duplicate")
    assert info.value.field == "idempotency_key"
    assert await counts(runtime) == before


async def test_reversal_posts_to_an_account_deactivated_since(runtime):
    books = await make_books(runtime)
    original = await post(runtime, books.clerk, [debit(books.cash, 10), credit(books.fees, 10)])
    async with runtime.db.write() as s:
        await service.set_account_active(s, books.clerk, account_id=books.fees.id, active=False)
    with pytest.raises(InvalidInput):
        await post(runtime, books.clerk, [debit(books.cash, 10), credit(books.fees, 10)])
    await reverse(runtime, books.clerk, original.id)
    assert await balances(runtime, [books.cash, books.fees]) == {books.cash.id: 0, books.fees.id: 0}


async def test_concurrent_reversals_reverse_once(runtime):
    books = await make_books(runtime)
    original = await post(runtime, books.clerk, [debit(books.cash, 10), credit(books.fees, 10)])

    async def reversing(s):
        return await service.reverse_entry(s, books.clerk, original.id, date=D, reason="Twice?")

    first, second = await _race(runtime, reversing, reversing)
    assert isinstance(first, service.PostedEntry)
    assert isinstance(second, Conflict) and "already reversed" in second.message
    async with runtime.db.read() as s:
        rows = (await s.exec(select(JournalEntry).where(JournalEntry.reverses_entry_id == original.id))).all()
        assert len(rows) == 1


def test_no_function_edits_or_deletes_a_posted_entry():
    public = {name for name in dir(service) if not name.startswith("_")}
    assert not {n for n in public if n.startswith(("update_", "delete_", "edit_", "remove_", "amend_"))}


# ---------------------------------------------------------------- reports


async def test_trial_balance_per_account_and_per_currency(runtime):
    books = await make_books(runtime)
    await post(runtime, books.clerk, [debit(books.bank, 10000), credit(books.equity, 10000)],
               date=dt.date(2026, 9, 1))
    await post(runtime, books.clerk, [debit(books.cash, 3000), credit(books.fees, 3000)],
               date=dt.date(2026, 9, 15))
    await post(runtime, books.clerk, [debit(books.salaries, 2500), credit(books.bank, 2500)],
               date=dt.date(2026, 10, 1))
    euro = await post(runtime, books.clerk, [debit(books.euro_cash, 400), credit(books.euro_cash, 400)])
    assert euro.entry.currency == "EUR"
    async with runtime.db.read() as s:
        tb = await service.trial_balance(s)
        sept = await service.trial_balance(s, as_of=dt.date(2026, 9, 30))
        october = await service.trial_balance(s, from_date=dt.date(2026, 10, 1), as_of=dt.date(2026, 10, 31))
        only_eur = await service.trial_balance(s, currency="eur")
    assert tb.balanced and sept.balanced and october.balanced and only_eur.balanced
    rows = {row.account.id: row for row in tb.rows}
    bank = rows[books.bank.id]
    assert (bank.debit_total, bank.credit_total, bank.balance) == (10000, 2500, 7500)
    assert (bank.debit_balance, bank.credit_balance) == (7500, 0)
    equity = rows[books.equity.id]
    assert (equity.balance, equity.debit_balance, equity.credit_balance) == (10000, 0, 10000)
    assert rows[books.fees.id].balance == 3000 and rows[books.salaries.id].balance == 2500
    assert {t.currency for t in tb.totals} >= {"USD", "EUR"}
    for totals in tb.totals:
        assert totals.total_debit == totals.total_credit
        assert totals.total_debit_balance == totals.total_credit_balance
    assert books.salaries.id not in {row.account.id for row in sept.rows}
    oct_rows = {row.account.id: row for row in october.rows}
    assert books.equity.id not in oct_rows and oct_rows[books.bank.id].balance == -2500
    assert {row.account.currency for row in only_eur.rows} == {"EUR"}
    with pytest.raises(InvalidInput) as info:
        async with runtime.db.read() as s:
            await service.trial_balance(s, from_date=dt.date(2026, 10, 2), as_of=dt.date(2026, 10, 1))
    assert info.value.field == "from_date"


async def test_account_ledger_pages_with_a_running_balance(runtime):
    books = await make_books(runtime)
    movements = [(dt.date(2026, 9, 3), 100), (dt.date(2026, 9, 1), -40), (dt.date(2026, 9, 3), -10),
                 (dt.date(2026, 9, 2), 300), (dt.date(2026, 9, 5), 5)]
    for day, amount in movements:
        if amount > 0:
            lines = [debit(books.cash, amount), credit(books.fees, amount)]
        else:
            lines = [credit(books.cash, -amount), debit(books.salaries, -amount)]
        await post(runtime, books.clerk, lines, date=day)
    expected = [(dt.date(2026, 9, 1), -40), (dt.date(2026, 9, 2), 260), (dt.date(2026, 9, 3), 360),
                (dt.date(2026, 9, 3), 350), (dt.date(2026, 9, 5), 355)]
    seen: list[tuple[dt.date, int]] = []
    after = 0
    async with runtime.db.read() as s:
        while True:
            page = await service.account_ledger(s, books.cash.id, after_id=after, limit=2)
            assert page.opening_balance == (seen[-1][1] if seen else 0)
            seen += [(row.entry.entry_date, row.balance) for row in page.lines]
            assert page.closing_balance == seen[-1][1]
            if page.next_after_id is None:
                break
            after = page.next_after_id
        assert seen == expected
        window = await service.account_ledger(s, books.cash.id, from_date=dt.date(2026, 9, 2),
                                              to_date=dt.date(2026, 9, 3))
        assert window.opening_balance == -40 and [row.balance for row in window.lines] == [260, 360, 350]
        fees = await service.account_ledger(s, books.fees.id)
        assert [row.balance for row in fees.lines] == [300, 400, 405], "income runs credit - debit"
        with pytest.raises(InvalidInput) as info:
            await service.account_ledger(s, books.fees.id, after_id=page.lines[0].line.id)
        assert info.value.field == "cursor"
        with pytest.raises(InvalidInput) as info:
            await service.account_ledger(s, books.cash.id, from_date=dt.date(2026, 9, 3),
                                         to_date=dt.date(2026, 9, 2))
        assert info.value.field == "to_date"
        with pytest.raises(InvalidInput) as info:
            await service.account_ledger(s, books.cash.id, limit=0)
        assert info.value.field == "limit"
        with pytest.raises(NotFound):
            await service.account_ledger(s, UNKNOWN_ID)


# ---------------------------------------------------------------- properties

amounts = st.integers(min_value=1, max_value=10**9)
line_specs = st.lists(st.tuples(st.integers(0, 5), st.booleans(), amounts), min_size=1, max_size=5)
days = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 31))
PROPERTY_SETTINGS = settings(max_examples=15, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])


def balanced_lines(accounts: list[Account], specs, closing: int) -> list[LineInput]:
    """Lines from (account index, is_debit, amount) specs, plus a line on accounts[closing] balancing them."""
    lines = [debit(accounts[i], amount) if is_debit else credit(accounts[i], amount)
             for i, is_debit, amount in specs]
    dr, cr = rules.totals(lines)
    if dr > cr:
        lines.append(credit(accounts[closing], dr - cr))
    elif cr > dr:
        lines.append(debit(accounts[closing], cr - dr))
    return lines


@dataclass
class Expected:
    """What the books should hold: (debit, credit) per account, and each posted entry's status and lines."""

    totals: dict[int, list[int]]
    entries: dict[int, dict] = field(default_factory=dict)

    def apply(self, lines: list[LineInput]) -> None:
        for line in lines:
            self.totals[line.account_id][0] += line.debit
            self.totals[line.account_id][1] += line.credit


async def assert_books(runtime, books: Books, expected: Expected) -> None:
    accounts = {a.id: a for a in books.usd}
    async with runtime.db.read() as s:
        tb = await service.trial_balance(s)
        assert tb.balanced, tb.totals
        rows = {row.account.id: row for row in tb.rows}
        for account_id, (dr, cr) in expected.totals.items():
            row = rows.get(account_id)
            assert ((row.debit_total, row.credit_total) if row else (0, 0)) == (dr, cr)
            assert (row.balance if row else 0) == rules.normal_balance(accounts[account_id].type, dr, cr)
        for entry_id, wanted in expected.entries.items():
            posted = await service.get_entry(s, entry_id)
            assert posted.total_debit == posted.total_credit > 0
            assert posted.entry.status == wanted["status"]


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_random_postings_and_reversals_keep_every_entry_and_the_books_balanced(runtime, data):
    books = await make_books(runtime)
    accounts = books.usd
    expected = Expected(totals={a.id: [0, 0] for a in accounts})
    for _ in range(data.draw(st.integers(1, 8), label="steps")):
        step = data.draw(st.sampled_from(["post", "post", "unbalanced", "reverse"]), label="step")
        if step == "post":
            lines = balanced_lines(accounts, data.draw(line_specs), data.draw(st.integers(0, 5)))
            if len(lines) < 2:
                continue
            posted = await post(runtime, books.clerk, lines, date=data.draw(days))
            expected.apply(lines)
            expected.entries[posted.id] = {"status": "posted", "lines": lines,
                                           "date": posted.entry.entry_date, "reversal": False}
        elif step == "unbalanced":
            lines = balanced_lines(accounts, data.draw(line_specs), 0)
            lines.append(debit(accounts[data.draw(st.integers(0, 5))], data.draw(amounts)))
            with pytest.raises(InvalidInput) as info:
                await post(runtime, books.clerk, lines)
            assert "does not balance" in info.value.message
        elif expected.entries:
            entry_id = data.draw(st.sampled_from(sorted(expected.entries)), label="reverse")
            target = expected.entries[entry_id]
            day = max(target["date"], data.draw(days))
            if target["reversal"] or target["status"] == "reversed":
                with pytest.raises(Conflict):
                    await reverse(runtime, books.clerk, entry_id, date=day)
            else:
                reversal = await reverse(runtime, books.clerk, entry_id, date=day)
                mirrored = rules.mirror(target["lines"])
                expected.apply(mirrored)
                target["status"] = "reversed"
                expected.entries[reversal.id] = {"status": "posted", "lines": mirrored, "date": day,
                                                 "reversal": True}
        await assert_books(runtime, books, expected)


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_reversing_an_entry_restores_every_balance(runtime, data):
    books = await make_books(runtime)
    accounts = books.usd
    for _ in range(data.draw(st.integers(0, 3), label="earlier entries")):
        lines = balanced_lines(accounts, data.draw(line_specs), data.draw(st.integers(0, 5)))
        if len(lines) >= 2:
            await post(runtime, books.clerk, lines, date=data.draw(days))
    before = await balances(runtime, accounts)
    lines = balanced_lines(accounts, data.draw(line_specs), data.draw(st.integers(0, 5)))
    if len(lines) < 2:
        return
    day = data.draw(days)
    posted = await post(runtime, books.clerk, lines, date=day)
    await reverse(runtime, books.clerk, posted.id, date=max(day, data.draw(days)))
    assert await balances(runtime, accounts) == before
