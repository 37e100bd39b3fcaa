"""Finance tools through tools.invoke on the session database: the chart of accounts, manual journal entries
through the gate (propose -> confirm -> executed), reversals with four eyes (an admin other than the requester
approves), the trial balance and account ledgers, roles, and bad input that must write nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from domain.actions.models import PendingAction
from domain.finance import service
from domain.finance.models import JournalEntry
from domain.kernel.actor import Actor
from domain.kernel.audit import AuditEntry, verify_audit_chain
from domain.kernel.errors import ActionClosed, Conflict, InvalidInput, NotFound, PermissionDenied, StaleAction
from tests.factories import make_user, unique
from tools.invoke import invoke


@dataclass
class Office:
    """The people of a finance office and a few accounts (ids), made for one test."""

    finance: Actor
    admin: Actor
    admin2: Actor
    payroll: Actor
    viewer: Actor
    cash: int
    fees: int
    payable: int
    tag: str


async def make_office(runtime) -> Office:
    async with runtime.db.write() as s:
        actors = {role: await make_user(s, roles=role) for role in ("finance", "admin", "payroll", "viewer")}
        admin2 = await make_user(s, roles="admin")
    tag = unique("F")
    ids = {}
    for suffix, name, kind in (("1000", "Cash", "asset"), ("4100", "Tuition fees", "income"),
                               ("2000", "Accounts payable", "liability")):
        out = await invoke(runtime, "create_account", {"code": f"{tag}-{suffix}", "name": f"{name} {tag}",
                                                       "type": kind}, actors["finance"])
        ids[suffix] = out.id
    return Office(finance=actors["finance"], admin=actors["admin"], admin2=admin2, payroll=actors["payroll"],
                  viewer=actors["viewer"], cash=ids["1000"], fees=ids["4100"], payable=ids["2000"], tag=tag)


def entry_args(office: Office, amount: int = 12500, **change: Any) -> dict[str, Any]:
    args = {"date": "2026-10-01", "memo": "Tuition received from family 17",
            "lines": [{"account_id": office.cash, "debit": amount, "memo": "bank transfer"},
                      {"account_id": office.fees, "credit": amount}],
            "idempotency_key": unique("fees-")}
    return args | change


async def post_confirmed(runtime, office: Office, args: dict[str, Any]):
    pending = await invoke(runtime, "post_journal_entry", args, office.finance)
    return await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)


async def writes(runtime) -> tuple[int, int, int]:
    """Journal entries, pending actions and the newest audit id: a refused call changes none of them."""
    async with runtime.db.read() as s:
        entries = (await s.exec(select(func.count()).select_from(JournalEntry))).one()
        actions = (await s.exec(select(func.count()).select_from(PendingAction))).one()
        audit = (await s.exec(select(func.coalesce(func.max(AuditEntry.id), 0)))).one()
    return int(entries), int(actions), int(audit)


async def ledger(runtime, office: Office, account_id: int, **args: Any):
    return await invoke(runtime, "get_account_ledger", {"account_id": account_id, **args}, office.finance)


# ---------------------------------------------------------------- chart of accounts


async def test_create_and_list_accounts(runtime):
    office = await make_office(runtime)
    page = await invoke(runtime, "list_accounts", {"query": office.tag, "limit": 2}, office.payroll)
    assert len(page.items) == 2 and page.next_cursor
    rest = await invoke(runtime, "list_accounts", {"query": office.tag, "cursor": page.next_cursor},
                        office.payroll)
    listed = page.items + rest.items
    assert [a.id for a in listed] == [office.cash, office.fees, office.payable] and rest.next_cursor is None
    cash = listed[0]
    assert cash.code == f"{office.tag}-1000" and cash.currency == runtime.settings.currency
    assert cash.normal_balance == "debit" and listed[1].normal_balance == "credit" and cash.active
    only_income = await invoke(runtime, "list_accounts", {"query": office.tag, "type": "income"},
                               office.finance)
    assert [a.id for a in only_income.items] == [office.fees]
    child = await invoke(runtime, "create_account", {"code": unique("C"), "name": "Petty cash",
                                                     "type": "asset", "currency": "usd",
                                                     "parent_id": office.cash}, office.admin)
    assert child.parent_id == office.cash and child.currency == "USD"


async def test_account_refusals(runtime):
    office = await make_office(runtime)
    before = await writes(runtime)
    with pytest.raises(Conflict) as info:
        await invoke(runtime, "create_account", {"code": f"{office.tag}-1000", "name": "Again",
                                                 "type": "asset"}, office.finance)
    assert info.value.field == "code"
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_account", {"code": unique("C"), "name": "X", "type": "revenue"},
                     office.finance)
    assert info.value.field == "type"
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_account", {"code": unique("C"), "name": "X", "type": "asset",
                                                 "currency": "ABC"}, office.finance)
    assert info.value.field == "currency" and "ISO 4217" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_account", {"code": "x" * 21, "name": "X", "type": "asset"},
                     office.finance)
    assert info.value.field == "code" and "at most 20 characters" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_account", {"code": unique("C"), "name": "X", "type": "income",
                                                 "parent_id": office.cash}, office.finance)
    assert info.value.field == "parent_id" and "parent's type" in info.value.message
    with pytest.raises(NotFound) as info:
        await invoke(runtime, "create_account", {"code": unique("C"), "name": "X", "type": "asset",
                                                 "parent_id": 2_000_000_000}, office.finance)
    assert info.value.field == "parent_id"
    for actor in (office.payroll, office.viewer):
        with pytest.raises(PermissionDenied):
            await invoke(runtime, "create_account", {"code": unique("C"), "name": "X", "type": "asset"},
                         actor)
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "list_accounts", {}, office.viewer)
    assert await writes(runtime) == before


# ---------------------------------------------------------------- posting through the gate


async def test_post_journal_entry_waits_for_confirmation(runtime):
    office = await make_office(runtime)
    await post_confirmed(runtime, office, entry_args(office, 1000))
    args = entry_args(office, 12500)
    pending = await invoke(runtime, "post_journal_entry", args, office.finance)
    assert pending.pending and pending.status == "proposed" and pending.level == "confirm"
    preview = pending.preview
    assert preview["totals"] == {"debit": 12500, "credit": 12500, "balanced": True, "amount": "125.00 USD"}
    assert [(line["account_id"], line["debit"], line["credit"]) for line in preview["lines"]] == [
        (office.cash, 12500, 0), (office.fees, 0, 12500)]
    assert preview["lines"][0]["account"] == f"{office.tag}-1000 Cash {office.tag}"
    cash_label = f"{office.tag}-1000 Cash {office.tag}"
    fees_label = f"{office.tag}-4100 Tuition fees {office.tag}"
    assert preview["before"]["balances"] == {cash_label: 1000, fees_label: 1000}
    assert preview["after"]["balances"] == {cash_label: 13500, fees_label: 13500}
    assert "125.00 USD" in pending.summary
    assert (await ledger(runtime, office, office.cash)).closing_balance == 1000, "not posted before confirm"
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.admin)
    done = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    assert done.status == "executed"
    entry = done.result
    assert entry["entry_number"].startswith("JE") and entry["status"] == "posted"
    assert entry["source"] == "manual" and entry["date"] == "2026-10-01"
    assert entry["total_debit"] == entry["total_credit"] == 12500 and entry["currency"] == "USD"
    assert entry["posted_by"] == office.finance.id and entry["replayed"] is False
    assert entry["lines"][0]["memo"] == "bank transfer"
    assert entry["lines"][1]["account_code"] == f"{office.tag}-4100"
    cash = await ledger(runtime, office, office.cash)
    assert [item.balance for item in cash.items] == [1000, 13500] and cash.items[1].entry_id == entry["id"]
    with pytest.raises(ActionClosed):
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    async with runtime.db.read() as s:
        events = [e.event for e in (await s.exec(select(AuditEntry).where(
            AuditEntry.action_id == pending.action_id).order_by(AuditEntry.id))).all()]
        assert events == ["proposed", "executed"]
        posted = (await s.exec(select(AuditEntry).where(AuditEntry.entity == "journal_entries",
                                                        AuditEntry.entity_id == entry["id"]))).all()
        assert [a.event for a in posted] == ["entry_posted"]
        assert (await verify_audit_chain(s)).ok


async def test_repeated_key_returns_the_entry_and_other_content_conflicts(runtime):
    office = await make_office(runtime)
    args = entry_args(office, 500)
    first = (await post_confirmed(runtime, office, args)).result
    again = await invoke(runtime, "post_journal_entry", args, office.finance)
    assert again.preview["already_posted"] == first["entry_number"]
    assert again.preview["after"] == again.preview["before"]
    second = (await invoke(runtime, "confirm_action", {"action_id": again.action_id}, office.finance)).result
    assert second["id"] == first["id"] and second["replayed"] is True
    assert (await ledger(runtime, office, office.cash)).closing_balance == 500
    before = await writes(runtime)
    with pytest.raises(Conflict) as info:
        await invoke(runtime, "post_journal_entry",
                     entry_args(office, 600, idempotency_key=args["idempotency_key"]), office.finance)
    assert info.value.field == "idempotency_key" and first["entry_number"] in info.value.message
    assert await writes(runtime) == before


async def test_bad_entries_are_refused_at_the_proposal(runtime):
    office = await make_office(runtime)
    unbalanced = entry_args(office)
    unbalanced["lines"][1]["credit"] = 12000
    one_line = entry_args(office)
    one_line["lines"] = one_line["lines"][:1]
    both = entry_args(office)
    both["lines"][0]["credit"] = 5
    unknown = entry_args(office)
    unknown["lines"][1]["account_id"] = 2_000_000_000
    fraction = entry_args(office)
    fraction["lines"][0]["debit"] = 125.5
    negative = entry_args(office)
    negative["lines"][1]["credit"] = -12500
    cases = [
        (unbalanced, InvalidInput, "lines", "debits total 12500 and credits total 12000"),
        (one_line, InvalidInput, "lines", "at least 2 items"),
        (both, InvalidInput, "lines.0", "both a debit (12500) and a credit (5)"),
        (unknown, NotFound, "lines.1.account_id", "no account with id 2000000000"),
        (fraction, InvalidInput, "lines.0.debit", "valid integer"),
        (negative, InvalidInput, "lines.1.credit", "greater than or equal to 0"),
        (entry_args(office, currency="EUR"), InvalidInput, "currency", "not EUR"),
        (entry_args(office, memo=""), InvalidInput, "memo", "at least 1 character"),
        (entry_args(office, idempotency_key="k" * 201), InvalidInput, "idempotency_key", "at most 200"),
    ]
    before = await writes(runtime)
    for args, error, field_name, rule in cases:
        with pytest.raises(error) as info:
            await invoke(runtime, "post_journal_entry", args, office.finance)
        assert info.value.field == field_name, info.value.message
        assert rule in info.value.message, info.value.message
    for actor in (office.payroll, office.viewer):
        with pytest.raises(PermissionDenied):
            await invoke(runtime, "post_journal_entry", entry_args(office), actor)
    assert await writes(runtime) == before


async def test_posting_is_stale_when_an_account_changed_after_the_preview(runtime):
    office = await make_office(runtime)
    pending = await invoke(runtime, "post_journal_entry", entry_args(office), office.finance)
    async with runtime.db.write() as s:
        await service.set_account_active(s, office.admin, account_id=office.fees, active=False)
    with pytest.raises(StaleAction):
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    assert (await ledger(runtime, office, office.cash)).items == []
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "post_journal_entry", entry_args(office), office.finance)
    assert info.value.field == "lines.1.account_id" and "inactive" in info.value.message


# ---------------------------------------------------------------- reversal with four eyes


async def test_reversal_needs_an_admin_other_than_the_requester(runtime):
    office = await make_office(runtime)
    entry = (await post_confirmed(runtime, office, entry_args(office, 4000, date="2026-10-03"))).result
    pending = await invoke(runtime, "reverse_journal_entry", {"entry_id": entry["id"], "date": "2026-10-05",
                                                              "reason": "Posted to the wrong family"},
                           office.finance)
    assert pending.level == "approve"
    preview = pending.preview
    assert preview["entry"] == entry["entry_number"] and preview["before"]["status"] == "posted"
    assert [(line["account_id"], line["debit"], line["credit"]) for line in preview["reversal"]["lines"]] == [
        (office.cash, 0, 4000), (office.fees, 4000, 0)]
    assert preview["reversal"]["memo"] == f"Reversal of {entry['entry_number']}: Posted to the wrong family"
    assert set(preview["after"]["balances"].values()) == {0}
    queued = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    assert queued.status == "queued"
    for actor in (office.finance, office.payroll):
        with pytest.raises(PermissionDenied):
            await invoke(runtime, "approve_action", {"action_id": pending.action_id}, actor)
    assert (await ledger(runtime, office, office.cash)).closing_balance == 4000
    done = await invoke(runtime, "approve_action", {"action_id": pending.action_id, "reason": "Checked"},
                        office.admin)
    reversal = done.result
    assert done.status == "executed" and reversal["reverses_entry_id"] == entry["id"]
    assert reversal["date"] == "2026-10-05" and reversal["source"] == f"reversal:{entry['id']}"
    cash = await ledger(runtime, office, office.cash)
    assert [item.balance for item in cash.items] == [4000, 0] and cash.items[0].entry_status == "reversed"
    tb = await invoke(runtime, "get_trial_balance", {"as_of": "2026-10-31"}, office.payroll)
    assert tb.balanced
    rows = {row.account_id: row for row in tb.rows}
    assert (rows[office.cash].debit_total, rows[office.cash].credit_total, rows[office.cash].balance) == (
        4000, 4000, 0)

    before = await writes(runtime)
    with pytest.raises(Conflict) as info:
        await invoke(runtime, "reverse_journal_entry", {"entry_id": entry["id"], "date": "2026-10-06",
                                                        "reason": "Once more"}, office.finance)
    assert "already reversed" in info.value.message
    with pytest.raises(Conflict) as info:
        await invoke(runtime, "reverse_journal_entry", {"entry_id": reversal["id"], "date": "2026-10-06",
                                                        "reason": "Undo the undo"}, office.finance)
    assert "cannot be reversed" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "reverse_journal_entry", {"entry_id": entry["id"], "date": "2026-10-06",
                                                        "reason": "Why"}, office.finance)
    assert info.value.field == "reason"
    with pytest.raises(NotFound) as info:
        await invoke(runtime, "reverse_journal_entry", {"entry_id": 2_000_000_000, "date": "2026-10-06",
                                                        "reason": "Does not exist"}, office.finance)
    assert info.value.field == "entry_id"
    assert await writes(runtime) == before


async def test_an_admin_requester_cannot_approve_their_own_reversal(runtime):
    office = await make_office(runtime)
    entry = (await post_confirmed(runtime, office, entry_args(office, 10))).result
    pending = await invoke(runtime, "reverse_journal_entry", {"entry_id": entry["id"], "date": "2026-10-01",
                                                              "reason": "Duplicate entry"}, office.admin)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.admin)
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "approve_action", {"action_id": pending.action_id}, office.admin)
    done = await invoke(runtime, "approve_action", {"action_id": pending.action_id}, office.admin2)
    assert done.status == "executed"


async def test_two_pending_reversals_of_one_entry_execute_once(runtime):
    office = await make_office(runtime)
    entry = (await post_confirmed(runtime, office, entry_args(office, 10))).result
    args = {"entry_id": entry["id"], "date": "2026-10-02", "reason": "Duplicate entry"}
    first = await invoke(runtime, "reverse_journal_entry", args, office.finance)
    second = await invoke(runtime, "reverse_journal_entry", args, office.finance)
    for pending in (first, second):
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    await invoke(runtime, "approve_action", {"action_id": first.action_id}, office.admin)
    with pytest.raises(StaleAction):
        await invoke(runtime, "approve_action", {"action_id": second.action_id}, office.admin)
    assert (await ledger(runtime, office, office.cash)).closing_balance == 0
    assert len((await ledger(runtime, office, office.cash)).items) == 2


# ---------------------------------------------------------------- reports


async def test_trial_balance_and_ledger_tools(runtime):
    office = await make_office(runtime)
    for day, amount in (("2026-09-10", 300), ("2026-09-01", 100), ("2026-10-01", 50)):
        await post_confirmed(runtime, office, entry_args(office, amount, date=day))
    tb = await invoke(runtime, "get_trial_balance", {"currency": "usd"}, office.payroll)
    assert tb.balanced and all(t.balanced for t in tb.totals) and [t.currency for t in tb.totals] == ["USD"]
    rows = {row.account_id: row for row in tb.rows}
    assert (rows[office.cash].balance, rows[office.cash].debit_balance) == (450, 450)
    assert (rows[office.fees].balance, rows[office.fees].credit_balance, rows[office.fees].type) == (450, 450,
                                                                                                       "income")
    september = await invoke(runtime, "get_trial_balance", {"from_date": "2026-09-01", "as_of": "2026-09-30"},
                             office.admin)
    assert {row.account_id: row.balance for row in september.rows}[office.cash] == 400
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "get_trial_balance", {"from_date": "2026-10-01", "as_of": "2026-09-30"},
                     office.admin)
    assert info.value.field == "from_date"
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "get_trial_balance", {}, office.viewer)

    first = await ledger(runtime, office, office.cash, limit=2)
    assert [(str(i.date), i.debit, i.balance) for i in first.items] == [("2026-09-01", 100, 100),
                                                                        ("2026-09-10", 300, 400)]
    assert first.account.id == office.cash and first.opening_balance == 0 and first.next_cursor
    rest = await ledger(runtime, office, office.cash, limit=2, cursor=first.next_cursor)
    assert [(i.balance, i.entry_memo, i.line_memo) for i in rest.items] == [
        (450, "Tuition received from family 17", "bank transfer")]
    assert rest.opening_balance == 400 and rest.next_cursor is None
    october = await ledger(runtime, office, office.fees, from_date="2026-10-01")
    assert october.opening_balance == 400 and [i.balance for i in october.items] == [450]
    with pytest.raises(InvalidInput) as info:
        await ledger(runtime, office, office.fees, cursor=first.next_cursor)
    assert info.value.field == "cursor"
    with pytest.raises(NotFound) as info:
        await ledger(runtime, office, 2_000_000_000)
    assert info.value.field == "account_id"
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "get_account_ledger", {"account_id": office.cash}, office.viewer)


# ---------------------------------------------------------------- the approval threshold of manual entries


async def test_a_manual_entry_above_the_threshold_needs_an_admin(runtime, monkeypatch):
    monkeypatch.setattr(runtime.settings, "journal_approve_above_minor", 10000)
    office = await make_office(runtime)
    small = await invoke(runtime, "post_journal_entry", entry_args(office, 10_000), office.finance)
    assert small.level == "confirm" and small.preview["approval"] == {"needs_admin": False,
                                                                     "approve_above_minor": 10_000}
    assert (await invoke(runtime, "confirm_action", {"action_id": small.action_id}, office.finance)).status == \
        "executed"
    large = await invoke(runtime, "post_journal_entry", entry_args(office, 10_001), office.finance)
    assert large.level == "approve" and large.preview["approval"]["needs_admin"] is True
    assert (await invoke(runtime, "confirm_action", {"action_id": large.action_id}, office.finance)).status == "queued"
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "approve_action", {"action_id": large.action_id}, office.finance)
    done = await invoke(runtime, "approve_action", {"action_id": large.action_id}, office.admin)
    assert done.status == "executed" and done.result["total_debit"] == 10_001
    assert (await ledger(runtime, office, office.cash)).closing_balance == 20_001


async def test_a_threshold_changed_after_the_preview_makes_the_entry_stale(runtime, monkeypatch):
    monkeypatch.setattr(runtime.settings, "journal_approve_above_minor", 50000)
    office = await make_office(runtime)
    pending = await invoke(runtime, "post_journal_entry", entry_args(office, 40_000), office.finance)
    assert pending.level == "confirm"
    monkeypatch.setattr(runtime.settings, "journal_approve_above_minor", 30000)
    before = await writes(runtime)
    with pytest.raises(StaleAction) as info:
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    assert "approval threshold changed since the preview" in info.value.message
    assert (await ledger(runtime, office, office.cash)).items == []
    assert (await writes(runtime))[0] == before[0]


async def test_an_approved_entry_posts_exactly_the_planned_lines(runtime):
    office = await make_office(runtime)
    args = entry_args(office, 700, lines=[{"account_id": office.cash, "debit": 700, "memo": "  cash  "},
                                          {"account_id": office.fees, "credit": 300},
                                          {"account_id": office.payable, "credit": 400}])
    pending = await invoke(runtime, "post_journal_entry", args, office.finance)
    done = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, office.finance)
    async with runtime.db.read() as s:
        plan = json.loads((await s.get(PendingAction, pending.action_id)).plan)
        posted = await service.get_entry(s, done.result["id"])
    [posting] = plan["changes"]
    assert posting["kind"] == "finance.posting" and posting["payload"]["idempotency_key"] == args["idempotency_key"]
    assert posting["payload"]["lines"] == [
        {"account_id": line.account_id, "debit": line.debit, "credit": line.credit,
         "department_id": line.department_id, "memo": line.memo} for line in posted.lines]
    assert posted.lines[0].memo == "cash" and posted.entry.source == "manual"
