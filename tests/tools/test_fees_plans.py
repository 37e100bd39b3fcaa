"""The fees gate applies exactly what was approved (issue 15), on a database of its own: a payment recorded after a
void or a credit note was previewed, and a family's credit changed after a refund was previewed, each make the
approval stale and write nothing; an approval that plans the same writes exactly the plan's rows and lines."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func
from sqlmodel import select

from domain.actions.models import PendingAction
from domain.fees.models import CreditNote, FamilyCredit, Invoice, Refund
from domain.finance.models import JournalEntry, JournalLine
from domain.kernel.errors import StaleAction
from tests.conftest import own_runtime
from tests.factories import unique
from tests.fees_helpers import make_fee_school
from tools.invoke import invoke


@pytest.fixture(scope="module")
async def prt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "fees_plans", in_process_jobs=True, currency="AUD") as runtime:
        yield runtime


@pytest.fixture
async def school(prt):
    """A new school (its own families and schedule) with Year 7 invoiced and issued on 2026-01-20."""
    world = await make_fee_school(prt)
    job = await invoke(prt, "generate_invoices", {"schedule_id": world.schedule_id, "issue_date": "2026-01-20",
                                                  "year_level_id": world.y7, "wait_s": 30}, world.bursar)
    assert job.status == "succeeded" and job.result["created"] == 3, job
    return world


async def invoice_of(prt, world, student: str):
    out = await invoke(prt, "list_invoices", {"student_id": world.students[student]}, world.bursar)
    return out.items[0]


async def rows(prt) -> dict[str, int]:
    """Rows per table the fees commands write: nothing may change when an action is stale."""
    async with prt.db.read() as s:
        out = {}
        for model in (JournalEntry, JournalLine, CreditNote, Refund, FamilyCredit):
            out[model.__tablename__] = int((await s.exec(select(func.count()).select_from(model))).one())
        out["invoice_versions"] = int((await s.exec(select(func.sum(Invoice.version)))).one())
    return out


async def pay(prt, world, family: str, amount: int, **args):
    return await invoke(prt, "record_payment", {"family_id": world.families[family], "amount_minor": amount,
                                                "method": "bank_transfer", "received_on": "2026-02-01",
                                                "idempotency_key": unique("pay-"), **args}, world.bursar)


async def test_a_payment_recorded_after_a_void_was_previewed_makes_the_void_stale(prt, school):
    dee = await invoice_of(prt, school, "Dee")
    pending = await invoke(prt, "void_invoice", {"invoice_id": dee.invoice_id, "on": "2026-02-02",
                                                 "reason": "Billed to the wrong family"}, school.bursar)
    assert pending.preview["before"]["status"] == "issued"
    assert (await invoke(prt, "confirm_action", {"action_id": pending.action_id}, school.bursar)).status == "queued"
    await pay(prt, school, "Lee", 10_000, allocations=[{"invoice_id": dee.invoice_id, "amount_minor": 10_000}])
    before = await rows(prt)
    with pytest.raises(StaleAction) as info:
        await invoke(prt, "approve_action", {"action_id": pending.action_id}, school.admin)
    assert "10000 paid" in info.value.message and "nothing was changed" in info.value.message.lower()
    assert await rows(prt) == before
    after = await invoke(prt, "get_invoice", {"invoice_id": dee.invoice_id}, school.bursar)
    assert after.status == "partially_paid" and after.void_entry_id is None


async def test_a_payment_recorded_after_a_credit_note_was_previewed_makes_it_stale(prt, school):
    ben = await invoice_of(prt, school, "Ben")
    pending = await invoke(prt, "issue_credit_note", {"invoice_id": ben.invoice_id, "amount_minor": 5_000,
                                                      "on": "2026-02-03", "reason": "Bus not used in week 1"},
                           school.bursar)
    assert pending.preview["applied_to_invoice_minor"] == 5_000
    await pay(prt, school, "Kim", ben.balance_minor, allocations=[{"invoice_id": ben.invoice_id,
                                                                   "amount_minor": ben.balance_minor}])
    before = await rows(prt)
    with pytest.raises(StaleAction) as info:
        await invoke(prt, "confirm_action", {"action_id": pending.action_id}, school.bursar)
    # Paid in full since the preview: the note would now become family credit, not come off the balance.
    assert "invoices" in info.value.message
    assert await rows(prt) == before
    async with prt.db.read() as s:
        action = await s.get(PendingAction, pending.action_id)
    assert action.status == "stale"


async def test_a_change_to_the_family_credit_after_a_refund_was_previewed_makes_it_stale(prt, school):
    await pay(prt, school, "Lee", 900_000)  # more than Dee's invoice: the rest is Lee's credit
    credit = (await invoke(prt, "get_family_account", {"family_id": school.families["Lee"], "as_of": "2026-02-01"},
                           school.bursar)).credit_minor
    assert credit > 0
    pending = await invoke(prt, "refund_family_credit", {"family_id": school.families["Lee"], "amount_minor": credit,
                                                         "on": "2026-02-05", "method": "bank_transfer",
                                                         "reason": "Overpaid by mistake",
                                                         "idempotency_key": unique("rf-")}, school.bursar)
    assert pending.preview["after"]["family_credit_minor"] == 0
    await invoke(prt, "confirm_action", {"action_id": pending.action_id}, school.bursar)
    await pay(prt, school, "Lee", 1_000)  # nothing left to pay: all of it becomes credit
    before = await rows(prt)
    with pytest.raises(StaleAction) as info:
        await invoke(prt, "approve_action", {"action_id": pending.action_id}, school.admin)
    assert "family credit changed since the preview" in info.value.message
    assert "credit movement" in info.value.message
    assert await rows(prt) == before


async def test_an_approved_plan_writes_exactly_its_rows_and_lines(prt, school):
    cai = await invoice_of(prt, school, "Cai")
    await pay(prt, school, "Kim", cai.balance_minor, allocations=[{"invoice_id": cai.invoice_id,
                                                                   "amount_minor": cai.balance_minor}])
    pending = await invoke(prt, "issue_credit_note", {"invoice_id": cai.invoice_id, "amount_minor": 7_500,
                                                      "on": "2026-02-10", "reason": "Excursion {cancelled}"},
                           school.bursar)
    before = await rows(prt)
    done = await invoke(prt, "confirm_action", {"action_id": pending.action_id}, school.bursar)
    assert done.status == "executed", done
    after = await rows(prt)
    assert {k: after[k] - before[k] for k in after} == {
        "journal_entries": 1, "journal_lines": 2, "fee_credit_notes": 1, "fee_refunds": 0, "family_credits": 1,
        "invoice_versions": 1}
    async with prt.db.read() as s:
        action = await s.get(PendingAction, pending.action_id)
        plan = json.loads(action.plan)
        note = await s.get(CreditNote, done.result["credit_note_id"])
        entry = await s.get(JournalEntry, note.entry_id)
        lines = (await s.exec(select(JournalLine).where(JournalLine.entry_id == note.entry_id)
                              .order_by(JournalLine.line_no))).all()
        movement = (await s.exec(select(FamilyCredit).where(FamilyCredit.credit_note_id == note.id))).one()
    document, posting, link, credit, invoice = plan["changes"]
    assert document["payload"]["values"] | {"issued_on": note.issued_on.isoformat()} == {
        "invoice_id": note.invoice_id, "family_id": note.family_id, "issued_on": note.issued_on.isoformat(),
        "currency": note.currency, "amount": 7_500, "applied": 0, "reason": "Excursion {cancelled}",
        "account_id": note.account_id, "issued_by": school.bursar.id}
    assert [(line["account_id"], line["debit"], line["credit"]) for line in posting["payload"]["lines"]] == [
        (line.account_id, line.debit, line.credit) for line in lines]
    assert entry.memo == f"Credit note {note.credit_note_number} on invoice {cai.number}: Excursion {{cancelled}}"
    assert entry.idempotency_key == f"credit_note:{note.id}" and link["payload"]["entry_id"] == {"$new": "entry"}
    assert (credit["values"]["amount"], movement.amount, movement.entry_id) == (7_500, 7_500, entry.id)
    assert invoice["after"] == {"amount_credited": 0, "status": "paid"} and invoice["version"] == cai.version + 1
