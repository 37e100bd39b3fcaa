"""The bursar's financial statements through tools.invoke on the session database: the income statement of a
period, the balance sheet (assets = liabilities + equity, with net income to date in equity) after entries
including a reversal, the CSV renderings read back with csv.reader, bad input, roles, and a property test that
random balanced entries always give a balanced balance sheet.

The session database is shared: every test makes its own accounts (unique codes) in a currency no other test
uses, and compares per-currency totals as before/after differences.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.finance import rules, service
from domain.finance.rules import LineInput
from domain.kernel import money
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.errors import InvalidInput, PermissionDenied
from tests.factories import make_user, unique
from tools.invoke import invoke

CHART = (("cash", "1000", "Cash at bank", "asset"), ("receivable", "1200", "Fees receivable", "asset"),
         ("payable", "2000", "Salaries payable", "liability"), ("capital", "3000", "Capital fund", "equity"),
         ("tuition", "4100", "Tuition fees", "income"), ("discounts", "4190", "Fee discounts", "income"),
         ("salaries", "5100", "Teaching salaries", "expense"), ("utilities", "5200", "Utilities", "expense"))


@dataclass
class Bursary:
    """A finance office for one test: its people, a chart of accounts in one currency (ids by role) and the
    accounts' codes."""

    finance: Actor
    admin: Actor
    payroll: Actor
    viewer: Actor
    currency: str
    ids: dict[str, int]
    codes: dict[str, str]


async def make_bursary(runtime, currency: str) -> Bursary:
    async with runtime.db.write() as s:
        actors = {role: await make_user(s, roles=role) for role in ("finance", "admin", "payroll", "viewer")}
    tag = unique("R")
    ids, codes = {}, {}
    for role, suffix, name, kind in CHART:
        out = await invoke(runtime, "create_account", {"code": f"{tag}-{suffix}", "name": f"{name} {tag}",
                                                       "type": kind, "currency": currency}, actors["finance"])
        ids[role], codes[role] = out.id, out.code
    return Bursary(finance=actors["finance"], admin=actors["admin"], payroll=actors["payroll"],
                   viewer=actors["viewer"], currency=currency, ids=ids, codes=codes)


async def post(runtime, books: Bursary, day: str, *legs: tuple[str, int, int]) -> int:
    """Post an entry of (account role, debit, credit) legs dated `day`; return its id."""
    lines = [LineInput(account_id=books.ids[role], debit=debit, credit=credit) for role, debit, credit in legs]
    async with runtime.db.write() as s:
        posted = await service.post_entry(s, books.finance, date=dt.date.fromisoformat(day), memo="report test",
                                          lines=lines, source="manual", idempotency_key=unique("rep-"))
    return posted.id


async def reverse(runtime, books: Bursary, entry_id: int, day: str) -> None:
    async with runtime.db.write() as s:
        await service.reverse_entry(s, books.finance, entry_id, date=dt.date.fromisoformat(day),
                                    reason="Posted twice by mistake")


async def post_school_year(runtime, books: Bursary) -> None:
    """Capital paid in, a term's invoicing with a discount, a payment, salaries, a utilities bill posted
    wrongly and reversed, the right bill, and an April receipt after the end of March."""
    await post(runtime, books, "2026-01-05", ("cash", 500000, 0), ("capital", 0, 500000))
    await post(runtime, books, "2026-02-01", ("receivable", 300000, 0), ("discounts", 20000, 0),
               ("tuition", 0, 320000))
    await post(runtime, books, "2026-02-15", ("cash", 250000, 0), ("receivable", 0, 250000))
    await post(runtime, books, "2026-03-01", ("salaries", 150000, 0), ("payable", 0, 150000))
    wrong = await post(runtime, books, "2026-03-10", ("utilities", 9999, 0), ("cash", 0, 9999))
    await reverse(runtime, books, wrong, "2026-03-12")
    await post(runtime, books, "2026-03-31", ("utilities", 8000, 0), ("cash", 0, 8000))
    await post(runtime, books, "2026-04-10", ("cash", 1000, 0), ("tuition", 0, 1000))


def block(report, currency: str):
    """The report's block of `currency`, or None when it has no postings in it."""
    return next((c for c in report.currencies if c.currency == currency), None)


def amounts(lines, books: Bursary) -> dict[str, int]:
    """{account role: amount} of the lines of this test's accounts."""
    roles = {account_id: role for role, account_id in books.ids.items()}
    return {roles[line.account_id]: line.amount for line in lines if line.account_id in roles}


def totals(report, currency: str, names: tuple[str, ...]) -> dict[str, int]:
    found = block(report, currency)
    return {name: getattr(found, name) if found else 0 for name in names}


def minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


INCOME_TOTALS = ("total_income", "total_expenses", "net_income")
SHEET_TOTALS = ("total_assets", "total_liabilities", "total_equity", "net_income_to_date")


# ---------------------------------------------------------------- income statement


async def test_income_statement_counts_only_the_period(runtime):
    books = await make_bursary(runtime, "MUR")
    q1 = {"from_date": "2026-01-01", "to_date": "2026-03-31", "currency": "MUR"}
    march = {"from_date": "2026-03-01", "to_date": "2026-03-31", "currency": "mur"}
    before_q1 = totals(await invoke(runtime, "get_income_statement", q1, books.finance), "MUR", INCOME_TOTALS)
    before_march = totals(await invoke(runtime, "get_income_statement", march, books.finance), "MUR",
                          INCOME_TOTALS)
    await post_school_year(runtime, books)

    stmt = await invoke(runtime, "get_income_statement", q1, books.finance)
    assert (stmt.from_date, stmt.to_date) == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert [c.currency for c in stmt.currencies] == ["MUR"] and stmt.csv is None
    mur = block(stmt, "MUR")
    assert amounts(mur.income, books) == {"tuition": 320000, "discounts": -20000}, "April's receipt is out"
    assert amounts(mur.expenses, books) == {"salaries": 150000, "utilities": 8000}, "the reversal cancels"
    assert all(line.type == "income" for line in mur.income) and all(line.type == "expense"
                                                                   for line in mur.expenses)
    assert minus(totals(stmt, "MUR", INCOME_TOTALS), before_q1) == {
        "total_income": 300000, "total_expenses": 158000, "net_income": 142000}
    assert mur.net_income == mur.total_income - mur.total_expenses

    only_march = block(await invoke(runtime, "get_income_statement", march, books.admin), "MUR")
    assert amounts(only_march.income, books) == {}, "no income was posted in March"
    assert amounts(only_march.expenses, books) == {"salaries": 150000, "utilities": 8000}
    assert minus(totals(await invoke(runtime, "get_income_statement", march, books.admin), "MUR", INCOME_TOTALS),
                 before_march) == {"total_income": 0, "total_expenses": 158000, "net_income": -158000}

    whole = block(await invoke(runtime, "get_income_statement", {"currency": "MUR"}, books.payroll), "MUR")
    assert amounts(whole.income, books) == {"tuition": 321000, "discounts": -20000}
    codes = [line.code for line in whole.income]
    assert codes == sorted(codes)


# ---------------------------------------------------------------- balance sheet


async def test_balance_sheet_balances_with_net_income_to_date_in_equity(runtime):
    books = await make_bursary(runtime, "TTD")
    march = {"as_of": "2026-03-31", "currency": "TTD"}
    before = totals(await invoke(runtime, "get_balance_sheet", march, books.finance), "TTD", SHEET_TOTALS)
    await post_school_year(runtime, books)

    sheet = await invoke(runtime, "get_balance_sheet", march, books.finance)
    assert sheet.as_of == dt.date(2026, 3, 31) and sheet.balanced and sheet.csv is None
    ttd = block(sheet, "TTD")
    assert amounts(ttd.assets, books) == {"cash": 742000, "receivable": 50000}
    assert amounts(ttd.liabilities, books) == {"payable": 150000}
    assert amounts(ttd.equity, books) == {"capital": 500000}
    earnings = ttd.equity[-1]
    assert (earnings.code, earnings.name, earnings.account_id) == ("net_income_to_date", "Net income to date",
                                                                   None)
    assert earnings.amount == ttd.net_income_to_date
    assert minus(totals(sheet, "TTD", SHEET_TOTALS), before) == {
        "total_assets": 792000, "total_liabilities": 150000, "total_equity": 642000,
        "net_income_to_date": 142000}
    assert ttd.balanced and ttd.total_assets == ttd.total_liabilities + ttd.total_equity
    assert ttd.total_liabilities_and_equity == ttd.total_assets
    income_to_date = block(await invoke(runtime, "get_income_statement", {"to_date": "2026-03-31",
                                                                          "currency": "TTD"}, books.finance),
                           "TTD")
    assert ttd.net_income_to_date == income_to_date.net_income, "net income to date is the income statement's"

    later = block(await invoke(runtime, "get_balance_sheet", {"currency": "TTD"}, books.admin), "TTD")
    assert amounts(later.assets, books)["cash"] == 743000 and later.balanced
    assert later.net_income_to_date - ttd.net_income_to_date == 1000
    earlier = await invoke(runtime, "get_balance_sheet", {"as_of": "2025-12-31", "currency": "TTD"},
                           books.finance)
    assert all(amounts(c.assets + c.liabilities + c.equity, books) == {} for c in earlier.currencies), (
        "nothing of this test is dated before 2026")


async def test_every_currency_is_its_own_block(runtime):
    books = await make_bursary(runtime, "GHS")
    await post(runtime, books, "2026-05-01", ("cash", 700, 0), ("tuition", 0, 700))
    sheet = await invoke(runtime, "get_balance_sheet", {}, books.finance)
    currencies = [c.currency for c in sheet.currencies]
    assert "GHS" in currencies and currencies == sorted(currencies) and len(set(currencies)) == len(currencies)
    assert sheet.balanced == all(c.balanced for c in sheet.currencies)
    for found in sheet.currencies:
        for item in found.assets + found.liabilities + found.equity:
            assert item.currency == found.currency
    stmt = await invoke(runtime, "get_income_statement", {}, books.finance)
    assert amounts(block(stmt, "GHS").income, books) == {"tuition": 700}


# ---------------------------------------------------------------- CSV


def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def check_money(row: dict[str, str], column: str, minor: int, currency: str) -> None:
    assert int(row[f"{column}_minor"]) == minor, (column, row)
    assert Decimal(row[column]) == Decimal(minor).scaleb(-money.MINOR_UNITS[currency]), (column, row)


async def test_csv_reads_back_as_the_structured_reports(runtime):
    books = await make_bursary(runtime, "OMR")  # three decimals: 1234567 baisa is 1234.567 OMR
    await post(runtime, books, "2026-02-01", ("cash", 1234567, 0), ("tuition", 0, 1254567),
               ("discounts", 20000, 0))
    await post(runtime, books, "2026-02-02", ("salaries", 1001, 0), ("cash", 0, 1001))
    args = {"from_date": "2026-01-01", "to_date": "2026-12-31", "currency": "OMR", "as_csv": True}

    stmt = await invoke(runtime, "get_income_statement", args, books.finance)
    header, rows = read_csv(stmt.csv)
    assert header == ["section", "code", "name", "type", "currency", "amount_minor", "amount"]
    omr = block(stmt, "OMR")
    expected = ([("income", item) for item in omr.income] + [("expense", item) for item in omr.expenses])
    accounts = [row for row in rows if row["section"] != "total"]
    assert [(r["section"], r["code"], r["name"], r["type"]) for r in accounts] == [
        (section, item.code, item.name, item.type) for section, item in expected]
    for row, (_, item) in zip(accounts, expected, strict=True):
        assert row["currency"] == "OMR"
        check_money(row, "amount", item.amount, "OMR")
    by_code = {r["code"]: r for r in rows if r["section"] == "total"}
    assert list(by_code) == ["total_income", "total_expenses", "net_income"]
    check_money(by_code["total_income"], "amount", omr.total_income, "OMR")
    check_money(by_code["total_expenses"], "amount", omr.total_expenses, "OMR")
    check_money(by_code["net_income"], "amount", omr.net_income, "OMR")
    ours = {r["code"]: r["amount"] for r in accounts}
    assert ours[books.codes["tuition"]] == "1254.567" and ours[books.codes["discounts"]] == "-20.000"

    sheet = await invoke(runtime, "get_balance_sheet", {"currency": "OMR", "as_csv": True}, books.admin)
    header, rows = read_csv(sheet.csv)
    assert header == ["section", "code", "name", "type", "currency", "amount_minor", "amount"]
    omr = block(sheet, "OMR")
    expected = ([("asset", item) for item in omr.assets] + [("liability", item) for item in omr.liabilities]
                + [("equity", item) for item in omr.equity])
    accounts = [row for row in rows if row["section"] != "total"]
    assert [(r["section"], r["code"]) for r in accounts] == [(section, item.code) for section, item in expected]
    for row, (_, item) in zip(accounts, expected, strict=True):
        check_money(row, "amount", item.amount, "OMR")
    assert accounts[-1]["code"] == "net_income_to_date" and accounts[-1]["name"] == "Net income to date"
    by_code = {r["code"]: r for r in rows if r["section"] == "total"}
    for name in ("total_assets", "total_liabilities", "total_equity", "total_liabilities_and_equity"):
        check_money(by_code[name], "amount", getattr(omr, name), "OMR")
    assert by_code["total_assets"]["amount_minor"] == by_code["total_liabilities_and_equity"]["amount_minor"]

    tb = await invoke(runtime, "get_trial_balance", {"currency": "OMR", "as_csv": True}, books.payroll)
    header, rows = read_csv(tb.csv)
    assert header[:5] == ["section", "code", "name", "type", "currency"]
    money = ("debit_total", "credit_total", "debit_balance", "credit_balance")
    assert header[5:] == [name for column in money for name in (f"{column}_minor", column)]
    accounts = [row for row in rows if row["section"] == "account"]
    assert [r["code"] for r in accounts] == [item.code for item in tb.rows]
    for row, item in zip(accounts, tb.rows, strict=True):
        assert (row["name"], row["type"], row["currency"]) == (item.name, item.type, item.currency)
        for column in money:
            check_money(row, column, getattr(item, column), "OMR")
    [total] = [row for row in rows if row["section"] == "total"]
    [omr_totals] = tb.totals
    grand = {"debit_total": omr_totals.total_debit, "credit_total": omr_totals.total_credit,
             "debit_balance": omr_totals.total_debit_balance, "credit_balance": omr_totals.total_credit_balance}
    for column in money:
        check_money(total, column, grand[column], "OMR")
    assert (total["code"], total["name"]) == ("total", "Total OMR") and omr_totals.balanced

    assert (await invoke(runtime, "get_trial_balance", {"currency": "OMR"}, books.payroll)).csv is None
    plain = await invoke(runtime, "get_income_statement", {**args, "as_csv": False}, books.finance)
    assert plain.csv is None and plain.currencies == stmt.currencies


# ---------------------------------------------------------------- bad input and roles


async def test_bad_periods_and_currencies_are_refused_clearly(runtime):
    books = await make_bursary(runtime, "MUR")
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "get_income_statement", {"from_date": "2026-12-31", "to_date": "2026-01-01"},
                     books.finance)
    assert info.value.field == "from_date"
    assert "from_date 2026-12-31 is after to_date 2026-01-01" in info.value.message
    for tool, args in (("get_income_statement", {}), ("get_balance_sheet", {"as_of": "2026-03-31"})):
        with pytest.raises(InvalidInput) as info:
            await invoke(runtime, tool, {**args, "currency": "ABC"}, books.finance)
        assert info.value.field == "currency" and "'ABC' is not an ISO 4217 currency code" in info.value.message
        with pytest.raises(InvalidInput) as info:
            await invoke(runtime, tool, {**args, "currency": "DOLLARS"}, books.finance)
        assert info.value.field == "currency" and "at most 3 characters" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "get_balance_sheet", {"as_of": "2026-02-30"}, books.finance)
    assert info.value.field == "as_of"
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "get_income_statement", {"as_of": "2026-02-01"}, books.finance)
    assert info.value.field == "as_of" and "unknown argument" in info.value.message


async def test_only_finance_readers_see_the_statements(runtime):
    books = await make_bursary(runtime, "MUR")
    for tool in ("get_income_statement", "get_balance_sheet", "get_trial_balance"):
        with pytest.raises(PermissionDenied) as info:
            await invoke(runtime, tool, {"as_csv": True}, books.viewer)
        assert tool in info.value.message and "finance" in info.value.message
        for actor in (books.finance, books.admin, books.payroll):
            out = await invoke(runtime, tool, {"currency": "MUR", "as_csv": True}, actor)
            assert out.csv and out.csv.startswith("section,code,name,type,currency,")


# ---------------------------------------------------------------- property: the books always balance

PROPERTY_CURRENCY = "SGD"
PROPERTY_TYPES = ("asset", "asset", "liability", "equity", "income", "expense")
START = dt.date(2026, 1, 1)

legs = st.lists(st.tuples(st.integers(0, len(PROPERTY_TYPES) - 1), st.integers(0, len(PROPERTY_TYPES) - 1),
                          st.integers(1, 10**9)), min_size=1, max_size=3)
entries = st.lists(st.tuples(st.integers(0, 364), legs, st.one_of(st.none(), st.integers(0, 60))),
                   min_size=1, max_size=5)


def expected_balances(posted: list[tuple[int, list[tuple[int, int, int]]]], *, first: int,
                      last: int) -> list[int]:
    """Each property account's balance in its normal direction over entries dated on days first..last."""
    debit, credit = [0] * len(PROPERTY_TYPES), [0] * len(PROPERTY_TYPES)
    for day, entry_legs in posted:
        if first <= day <= last:
            for dr, cr, amount in entry_legs:
                debit[dr] += amount
                credit[cr] += amount
    return [rules.normal_balance(kind, d, c) for kind, d, c in zip(PROPERTY_TYPES, debit, credit, strict=True)]


@pytest.fixture(scope="module")
async def property_actor(runtime) -> Actor:
    async with runtime.db.write() as s:
        return await make_user(s, roles="finance")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=entries, as_of_day=st.integers(0, 400), period=st.tuples(st.integers(0, 400), st.integers(0, 120)))
async def test_random_balanced_entries_always_give_a_balanced_balance_sheet(runtime, property_actor, plan,
                                                                            as_of_day, period):
    """Property: whatever balanced entries (and reversals) are posted, the balance sheet balances on any day;
    each account's line is its normal balance through that day; the totals move by exactly what was posted;
    net income to date is the income statement's net income through that day."""
    as_of = START + dt.timedelta(days=as_of_day)
    first = START + dt.timedelta(days=period[0])
    last = first + dt.timedelta(days=period[1])
    sheet_args = {"as_of": as_of.isoformat(), "currency": PROPERTY_CURRENCY}
    stmt_args = {"from_date": first.isoformat(), "to_date": last.isoformat(), "currency": PROPERTY_CURRENCY}
    before = totals(await invoke(runtime, "get_balance_sheet", sheet_args, property_actor), PROPERTY_CURRENCY,
                    SHEET_TOTALS)
    before_stmt = totals(await invoke(runtime, "get_income_statement", stmt_args, property_actor),
                         PROPERTY_CURRENCY, INCOME_TOTALS)
    tag = unique("P")
    async with runtime.db.write() as s:
        ids = [(await service.create_account(s, SYSTEM_ACTOR, code=f"{tag}-{i}", name=f"Property {kind} {i}",
                                             type=kind, currency=PROPERTY_CURRENCY)).id
               for i, kind in enumerate(PROPERTY_TYPES)]
        posted: list[tuple[int, list[tuple[int, int, int]]]] = []
        for day, entry_legs, reversal_after in plan:
            lines = [line for dr, cr, amount in entry_legs
                     for line in (LineInput(account_id=ids[dr], debit=amount),
                                  LineInput(account_id=ids[cr], credit=amount))]
            entry = await service.post_entry(s, property_actor, date=START + dt.timedelta(days=day),
                                             memo="property", lines=lines, source="manual",
                                             idempotency_key=unique("prop-"))
            posted.append((day, entry_legs))
            if reversal_after is not None:
                back = day + reversal_after
                await service.reverse_entry(s, property_actor, entry.id, date=START + dt.timedelta(days=back),
                                            reason="property reversal")
                posted.append((back, [(cr, dr, amount) for dr, cr, amount in entry_legs]))

    sheet = await invoke(runtime, "get_balance_sheet", sheet_args, property_actor)
    assert sheet.balanced
    found = block(sheet, PROPERTY_CURRENCY)
    expected = expected_balances(posted, first=0, last=as_of_day)
    wanted = {ids[i]: amount for i, amount in enumerate(expected) if PROPERTY_TYPES[i] in ("asset", "liability",
                                                                                            "equity")}
    if found is None:
        assert before == dict.fromkeys(SHEET_TOTALS, 0) and not any(wanted.values())
        return
    assert found.balanced and found.total_assets == found.total_liabilities + found.total_equity
    shown = {line.account_id: line.amount for line in found.assets + found.liabilities + found.equity
             if line.account_id in ids}
    assert {i: shown.get(i, 0) for i in wanted} == wanted
    net = (sum(a for i, a in enumerate(expected) if PROPERTY_TYPES[i] == "income")
           - sum(a for i, a in enumerate(expected) if PROPERTY_TYPES[i] == "expense"))
    assert minus(totals(sheet, PROPERTY_CURRENCY, SHEET_TOTALS), before) == {
        "total_assets": sum(a for i, a in enumerate(expected) if PROPERTY_TYPES[i] == "asset"),
        "total_liabilities": sum(a for i, a in enumerate(expected) if PROPERTY_TYPES[i] == "liability"),
        "total_equity": sum(a for i, a in enumerate(expected) if PROPERTY_TYPES[i] == "equity") + net,
        "net_income_to_date": net}
    through = block(await invoke(runtime, "get_income_statement", {"to_date": as_of.isoformat(),
                                                                   "currency": PROPERTY_CURRENCY},
                                 property_actor), PROPERTY_CURRENCY)
    assert (through.net_income if through else 0) == found.net_income_to_date

    in_period = expected_balances(posted, first=period[0], last=period[0] + period[1])
    stmt = await invoke(runtime, "get_income_statement", stmt_args, property_actor)
    moved = minus(totals(stmt, PROPERTY_CURRENCY, INCOME_TOTALS), before_stmt)
    income = sum(a for i, a in enumerate(in_period) if PROPERTY_TYPES[i] == "income")
    expenses = sum(a for i, a in enumerate(in_period) if PROPERTY_TYPES[i] == "expense")
    assert moved == {"total_income": income, "total_expenses": expenses, "net_income": income - expenses}
