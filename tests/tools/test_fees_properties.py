"""Property tests of the receivables: after any sequence of invoicing, payments (partial, full, over), credit
notes, voids, credit applications and refunds (the gated ones planned and applied as the gate applies them), on a
database of their own,

- the open invoices' balances add up to the ledger's 1200 Fees receivable balance, on every day;
- the families' credit adds up to the ledger's 2200 Family credit balance;
- the trial balance balances, and so does the balance sheet (assets = liabilities + equity + income - expenses);
- an operation the rules refuse (voiding a paid invoice, refunding more than the credit...) writes nothing.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func
from sqlmodel import select

from domain.fees import plans as fee_plans
from domain.fees import repository as fees_repo
from domain.fees import service as fees
from domain.fees.models import Invoice
from domain.finance import reports
from domain.finance import service as finance
from domain.finance.models import JournalEntry
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import AuditEntry
from domain.kernel.errors import DomainError
from domain.kernel.plan import ApplyContext, Plan, apply_plan
from domain.kernel.settings import Settings
from server.cli import prepare_database
from tests.conftest import drop_pg_database, fresh_database_url
from tests.factories import unique
from tests.fees_helpers import CURRENCY, make_fee_school
from tools.runtime import Runtime

START = dt.date(2026, 1, 20)
KINDS = ("generate_y7", "generate_y8", "generate_term2", "pay", "overpay", "credit_note", "void", "apply_credit",
         "refund")


@pytest.fixture(scope="module")
async def prop_rt(tmp_path_factory):
    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("fees_properties"))
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0, currency=CURRENCY))
    await prepare_database(runtime)
    yield runtime
    await runtime.close()
    if pg_name:
        await drop_pg_database(pg_name)


async def footprint(rt) -> tuple[int, int, int]:
    async with rt.db.read() as s:
        entries = (await s.exec(select(func.count()).select_from(JournalEntry))).one()
        versions = (await s.exec(select(func.coalesce(func.sum(Invoice.version), 0)))).one()
        audit = (await s.exec(select(func.coalesce(func.max(AuditEntry.id), 0)))).one()
    return int(entries), int(versions), int(audit)


async def planned(s, plan: Plan) -> None:
    """Apply a gated command's plan as the gate does once it is released."""
    await apply_plan(s, plan, ApplyContext(actor=SYSTEM_ACTOR, action_id=None, decided_by=None))


async def apply(rt, world, kind: str, a: int, b: int, day: dt.date) -> None:
    """Run one operation chosen by `kind`, its targets picked with `a` and `b` (0..99) among the candidates."""
    families = sorted(world.families.values())
    family = families[a % len(families)]
    async with rt.db.write() as s:
        if kind.startswith("generate"):
            schedule = world.schedule2_id if kind == "generate_term2" else world.schedule_id
            level = {"generate_y7": world.y7, "generate_y8": world.y8}.get(kind)
            await fees.generate_invoices(s, SYSTEM_ACTOR, schedule_id=schedule, year_level_id=level, issue=True,
                                         issue_date=day, rebill_voided=b % 2 == 0)
            return
        account = await fees.family_account(s, family_id=family, currency=CURRENCY, as_of=day)
        invoices = (await fees_repo.list_invoices(s, after_id=0, limit=100, family_id=family, student_id=None,
                                                  schedule_id=None, statuses=None, overdue_on=None))
        invoices = [i for i in invoices if i.status != "void"]
        target = invoices[b % len(invoices)] if invoices else None
        if kind in ("pay", "overpay"):
            owed = account.owed
            amount = (owed * (b + 1) // 100 or 1) if kind == "pay" else owed + 1000 * (b + 1)
            await fees.record_payment(s, SYSTEM_ACTOR, family_id=family, amount=amount, currency=CURRENCY,
                                      received_on=day, method="bank_transfer", idempotency_key=unique("p-"))
        elif kind == "credit_note" and target is not None:
            room = await fees.credit_note_room(s, target)
            note = {"invoice_id": target.id, "amount": max(room * (b + 1) // 100, 1), "on": day,
                    "reason": "property test credit"}
            if b % 2:  # the gate's plan, or the service the demo builder calls: the same rules
                await planned(s, await fee_plans.plan_issue_credit_note(s, SYSTEM_ACTOR, **note))
            else:
                await fees.issue_credit_note(s, SYSTEM_ACTOR, **note)
        elif kind == "void" and target is not None:
            await planned(s, await fee_plans.plan_void_invoice(s, SYSTEM_ACTOR, invoice_id=target.id, on=day,
                                                               reason="property test void"))
        elif kind == "apply_credit":
            await fees.apply_family_credit(s, SYSTEM_ACTOR, family_id=family, currency=CURRENCY, on=day)
        elif kind == "refund":
            amount = account.credit * (b + 1) // 100 if b < 90 else account.credit + 1  # sometimes too much
            await planned(s, await fee_plans.plan_refund_family_credit(
                s, SYSTEM_ACTOR, family_id=family, amount=max(amount, 1), currency=CURRENCY, on=day,
                method="bank_transfer", reason="property test refund", idempotency_key=unique("r-")))


async def check_books(rt, days: list[dt.date]) -> None:
    async with rt.db.read() as s:
        receivable = await finance.find_account_by_code(s, "1200")
        credit_account = await finance.find_account_by_code(s, "2200")
        for day in days:
            owed = sum(b.balance for b in await fees.open_balances(s, as_of=day, currency=CURRENCY))
            assert owed == await finance.account_balance(s, receivable.id, as_of=day), day
            aging = await fees.receivables_aging(s, as_of=day, currency=CURRENCY)
            assert aging.agrees and aging.total == owed, day
        credits = await fees_repo.credit_balances(s)
        assert all(amount >= 0 for amount in credits.values()), credits
        assert sum(credits.values()) == await finance.account_balance(s, credit_account.id)
        tb = await finance.trial_balance(s)
        assert tb.balanced
        by_type: dict[str, int] = {}
        for row in tb.rows:
            by_type[row.account.type] = by_type.get(row.account.type, 0) + row.balance
        assets, liabilities, equity = (by_type.get(t, 0) for t in ("asset", "liability", "equity"))
        net_income = by_type.get("income", 0) - by_type.get("expense", 0)
        assert assets == liabilities + equity + net_income
        for day in days:
            sheet = await reports.balance_sheet(s, as_of=day, currency=CURRENCY)
            assert sheet.balanced, day
        for invoice in (await s.exec(select(Invoice))).all():
            assert 0 <= invoice.amount_paid + invoice.amount_credited <= invoice.total
            if invoice.status == "void":
                assert invoice.amount_paid == invoice.amount_credited == 0


OPS = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=16)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
async def test_open_balances_always_equal_the_receivables_account_and_the_books_balance(prop_rt, ops):
    world = await make_fee_school(prop_rt)
    days = [START]
    for step, (kind, a, b) in enumerate([("generate_y7", 0, 1), *ops]):
        day = START + dt.timedelta(days=5 * step)
        before = await footprint(prop_rt)
        try:
            await apply(prop_rt, world, kind, a, b, day)
        except DomainError:
            assert await footprint(prop_rt) == before, f"a refused {kind} wrote something"
        days.append(day)
    await check_books(prop_rt, [days[0], days[len(days) // 2], days[-1], days[-1] + dt.timedelta(days=120)])
