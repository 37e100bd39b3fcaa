"""Payroll's gated commands apply exactly their approved plan (issue 15): for each, a change between the preview
and the release makes the action stale and writes nothing; planned again, it writes what its plan says. On its own
database (runs are per month for the whole school), with a low salary-change threshold so both levels occur."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from domain.actions.models import PendingAction
from domain.finance import service as finance
from domain.finance.models import JournalEntry
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import PermissionDenied, StaleAction
from domain.payroll.models import EmploymentContract, PayrollRun, TaxTableRecord
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.tools.test_payroll import STRUCTURE, next_year_document, payslips_of
from tools.invoke import invoke

THRESHOLD = 100_000  # minor units of annual pay: 1,000.00 AUD a year


@pytest.fixture(scope="module")
async def prt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "payroll_plans", in_process_jobs=True,
                           salary_change_approve_above_minor=THRESHOLD) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def staff(prt):
    """One department, three employees on AUD contracts, a payroll officer and two admins."""
    async with prt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("MA"), name="Mathematics")
        employees = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=f"Ann{i}", last_name="Planned", work_email=f"ann{i}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for i in range(3)]
        officer = await make_user(s, roles="payroll")
        admin = await make_user(s, roles="admin")
    structure = await invoke(prt, "create_salary_structure", {"code": "AU_PLAN", "name": "Teachers (AU)",
                                                              "currency": "AUD", "components": STRUCTURE}, officer)
    contracts = [await invoke(prt, "create_employment_contract", {
        "employee_id": e.id, "start_date": "2026-01-01", "base_minor": base, "currency": "AUD",
        "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, officer)
        for e, base in zip(employees, (650000, 720000, 480000), strict=True)]
    return {"employees": employees, "officer": officer, "admin": admin, "contracts": contracts}


async def release(prt, staff, pending):
    """Confirm as the requester and, for an approve-level action, approve as the admin; return the result."""
    done = await invoke(prt, "confirm_action", {"action_id": pending.action_id}, staff["officer"])
    if done.status == "queued":
        done = await invoke(prt, "approve_action", {"action_id": pending.action_id}, staff["admin"])
    assert done.status == "executed", done
    return done


async def stale(prt, staff, pending) -> str:
    """Release an action expected to be stale; return the error's message."""
    queued = await invoke(prt, "confirm_action", {"action_id": pending.action_id}, staff["officer"]) \
        if pending.level == "approve" else None
    with pytest.raises(StaleAction) as info:
        if queued is None:
            await invoke(prt, "confirm_action", {"action_id": pending.action_id}, staff["officer"])
        else:
            await invoke(prt, "approve_action", {"action_id": pending.action_id}, staff["admin"])
    return info.value.message


async def calculated(prt, staff, period: str, pay_date: str):
    run = await invoke(prt, "create_payroll_run", {"period": period, "pay_date": pay_date, "currency": "AUD"},
                       staff["officer"])
    job = await invoke(prt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 30}, staff["officer"])
    assert job.status == "succeeded", job
    return run.run_id


async def gated(prt, staff, tool: str, args: dict):
    pending = await invoke(prt, tool, args, staff["officer"])
    assert pending.pending and pending.status == "proposed", pending
    return pending


async def through(prt, staff, tool: str, run_id: int):
    return await release(prt, staff, await gated(prt, staff, tool, {"run_id": run_id}))


async def run_row(prt, run_id: int) -> PayrollRun:
    async with prt.db.read() as s:
        return await s.get(PayrollRun, run_id)


async def stored_plan(prt, action_id: int) -> dict:
    async with prt.db.read() as s:
        return json.loads((await s.get(PendingAction, action_id)).plan)


async def entries(prt) -> list[JournalEntry]:
    async with prt.db.read() as s:
        return list((await s.exec(select(JournalEntry).order_by(JournalEntry.id))).all())


async def test_cancelling_a_run_is_gated_and_a_recalculation_after_the_preview_makes_it_stale(prt, staff):
    officer = staff["officer"]
    run_id = await calculated(prt, staff, "2026-01", "2026-01-28")
    pending = await gated(prt, staff, "cancel_payroll_run", {"run_id": run_id})
    assert pending.level == "confirm" and pending.preview["removes"]["payslips"] == 3
    assert len(await payslips_of(prt, run_id)) == 3 and (await run_row(prt, run_id)).status == "calculated"
    with pytest.raises(PermissionDenied):  # only the requester confirms a confirm-level action
        await invoke(prt, "confirm_action", {"action_id": pending.action_id}, staff["admin"])

    job = await invoke(prt, "calculate_payroll_run", {"run_id": run_id, "wait_s": 30}, officer)
    assert job.status == "succeeded"
    message = await stale(prt, staff, pending)
    assert "payroll_runs: version" in message, message  # recalculated: the run is at another version
    assert len(await payslips_of(prt, run_id)) == 3 and (await run_row(prt, run_id)).status == "calculated"

    again = await gated(prt, staff, "cancel_payroll_run", {"run_id": run_id})
    plan = await stored_plan(prt, again.action_id)
    deleted = {c["table"]: 0 for c in plan["changes"]}
    for c in plan["changes"]:
        deleted[c["table"]] += c["op"] == "delete"
    slips = await payslips_of(prt, run_id)
    assert deleted == {"payslip_lines": sum(len(lines) for _, lines in slips), "payslips": 3, "payroll_runs": 0}
    done = await release(prt, staff, again)
    assert done.result["status"] == "cancelled" and await payslips_of(prt, run_id) == []


async def test_approving_a_run_recalculated_after_the_preview_is_stale(prt, staff):
    officer = staff["officer"]
    run_id = await calculated(prt, staff, "2026-02", "2026-02-26")
    pending = await gated(prt, staff, "approve_payroll_run", {"run_id": run_id})
    before = await run_row(prt, run_id)
    await invoke(prt, "record_unpaid_leave", {"employee_id": staff["employees"][0].id, "period": "2026-02",
                                              "days": 1}, officer)
    await invoke(prt, "calculate_payroll_run", {"run_id": run_id, "wait_s": 30}, officer)
    message = await stale(prt, staff, pending)
    assert "run totals changed" in message and "payroll_runs" in message, message
    assert (await run_row(prt, run_id)).status == "calculated"

    again = await gated(prt, staff, "approve_payroll_run", {"run_id": run_id})
    recalculated = await run_row(prt, run_id)
    assert recalculated.net_minor < before.net_minor
    await release(prt, staff, again)
    approved = await run_row(prt, run_id)
    assert (approved.status, approved.version) == ("approved", recalculated.version + 1)
    assert approved.net_minor == recalculated.net_minor


async def test_posting_creates_the_missing_accounts_it_previewed_and_an_account_made_since_makes_it_stale(prt, staff):
    run_id = await calculated(prt, staff, "2026-03", "2026-03-27")
    await through(prt, staff, "approve_payroll_run", run_id)
    pending = await gated(prt, staff, "post_payroll_run", {"run_id": run_id})
    assert len(pending.preview["accounts_created"]) == 7, pending.preview
    assert "1010 Bank - operating account (asset, AUD)" in pending.preview["accounts_created"]
    async with prt.db.read() as s:  # the plan created nothing
        assert await finance.find_account_by_code(s, "2100") is None
    async with prt.db.write() as s:  # meanwhile, finance opens the bank account itself
        await finance.create_account(s, SYSTEM_ACTOR, code="1010", name="Bank - main", type="asset", currency="AUD")
    message = await stale(prt, staff, pending)
    assert "finance.account: 1 row(s) of the preview are no longer part of it" in message, message
    assert await entries(prt) == [] and (await run_row(prt, run_id)).status == "approved"

    again = await gated(prt, staff, "post_payroll_run", {"run_id": run_id})
    assert len(again.preview["accounts_created"]) == 6
    plan = await stored_plan(prt, again.action_id)
    await release(prt, staff, again)
    run = await run_row(prt, run_id)
    assert run.status == "posted"
    async with prt.db.read() as s:
        posted = await finance.get_entry(s, run.journal_entry_id)
        codes = {a: (await finance.get_account(s, a)).code for a in {ln.account_id for ln in posted.lines}}
    # Exactly the approved lines: the planned ones, new accounts by the code of the account effect naming them.
    planned = [c for c in plan["changes"] if c["op"] == "effect" and c["kind"] == "finance.posting"]
    assert len(planned) == 1
    refs = {c["ref"]: c["payload"]["code"] for c in plan["changes"] if c.get("kind") == "finance.account"}

    def code(account):
        return refs[account["$new"]] if isinstance(account, dict) else codes[account]

    assert [(code(ln["account_id"]), ln["debit"], ln["credit"], ln["department_id"])
            for ln in planned[0]["payload"]["lines"]] == [
        (codes[ln.account_id], ln.debit, ln.credit, ln.department_id) for ln in posted.lines]
    assert all(slip.status == "done" for slip, _ in await payslips_of(prt, run_id))


async def test_voiding_a_payslip_paid_since_the_preview_is_stale(prt, staff):
    run_id = await calculated(prt, staff, "2026-04", "2026-04-28")
    for tool in ("approve_payroll_run", "post_payroll_run"):
        await through(prt, staff, tool, run_id)
    slip, _ = (await payslips_of(prt, run_id))[0]
    pending = await gated(prt, staff, "void_payslip", {"payslip_id": slip.id, "on": "2026-04-29",
                                                       "reason": "wrong bank account"})
    assert pending.preview["paid_net_owed_back"] == 0 and pending.preview["entry"]["total_minor"] > 0
    count = len(await entries(prt))
    await through(prt, staff, "mark_payroll_run_paid", run_id)
    message = await stale(prt, staff, pending)
    assert "payslips" in message and "payroll run 2026-04 changed" in message, message
    assert len(await entries(prt)) == count + 1  # the payment only
    assert all(s.status == "paid" for s, _ in await payslips_of(prt, run_id))

    again = await gated(prt, staff, "void_payslip", {"payslip_id": slip.id, "on": "2026-04-29",
                                                     "reason": "wrong bank account"})
    assert again.preview["paid_net_owed_back"] == slip.net_minor
    done = await release(prt, staff, again)
    assert done.result["status"] == "void"
    slips = await payslips_of(prt, run_id)
    mirror = next((s, lines) for s, lines in slips if s.reverses_payslip_id == slip.id)
    original = next(lines for s, lines in slips if s.id == slip.id)
    assert mirror[0].net_minor == -slip.net_minor and mirror[0].number == f"{slip.number}-R"
    assert sorted((ln.position, ln.code, -ln.amount_minor) for ln in mirror[1]) == sorted(
        (ln.position, ln.code, ln.amount_minor) for ln in original)


async def test_reversing_a_run_after_one_of_its_payslips_was_voided_since_the_preview_is_stale(prt, staff):
    run_id = await calculated(prt, staff, "2026-05", "2026-05-28")
    for tool in ("approve_payroll_run", "post_payroll_run"):
        await through(prt, staff, tool, run_id)
    pending = await gated(prt, staff, "reverse_payroll_run", {"run_id": run_id, "on": "2026-05-29",
                                                              "reason": "wrong month"})
    assert pending.preview["reversal"]["payslips_voided"] == 3
    slip, _ = (await payslips_of(prt, run_id))[0]
    await release(prt, staff, await gated(prt, staff, "void_payslip", {"payslip_id": slip.id, "on": "2026-05-29",
                                                                       "reason": "left the school"}))
    count = len(await entries(prt))
    message = await stale(prt, staff, pending)
    assert "finance.reversal" in message and "payslips" in message, message
    assert len(await entries(prt)) == count and (await run_row(prt, run_id)).status == "posted"

    again = await gated(prt, staff, "reverse_payroll_run", {"run_id": run_id, "on": "2026-05-29",
                                                            "reason": "wrong month"})
    assert again.preview["reversal"]["payslips_voided"] == 2
    await release(prt, staff, again)
    assert (await run_row(prt, run_id)).status == "reversed"
    slips = await payslips_of(prt, run_id)
    assert len(slips) == 6 and all(s.status == "void" for s, _ in slips)
    async with prt.db.read() as s:
        assert (await finance.trial_balance(s)).balanced


async def test_a_salary_change_above_the_threshold_needs_an_admin_and_is_stale_when_the_threshold_moves(prt, staff):
    contract = staff["contracts"][2]
    small = await gated(prt, staff, "change_contract_salary", {
        "contract_number": contract.contract_number, "base_minor": 485000, "effective_from": "2026-06-01",
        "reason": "step increase"})  # 5,000 a month: 60,000 a year, under the threshold
    assert small.level == "confirm" and small.preview["annual_change_minor"] == 60000
    large = await gated(prt, staff, "change_contract_salary", {
        "contract_number": contract.contract_number, "base_minor": 500000, "effective_from": "2026-06-01",
        "reason": "promotion"})
    assert large.level == "approve" and large.preview["approval"]["level"] == "approve"
    queued = await invoke(prt, "confirm_action", {"action_id": large.action_id}, staff["officer"])
    assert queued.status == "queued"
    prt.settings.salary_change_approve_above_minor = 10**9
    try:
        with pytest.raises(StaleAction) as info:
            await invoke(prt, "approve_action", {"action_id": large.action_id}, staff["admin"])
    finally:
        prt.settings.salary_change_approve_above_minor = THRESHOLD
    assert "gate level changed" in info.value.message and "threshold" in info.value.message, info.value.message

    # The small change, confirmed after the larger one was refused, writes exactly its plan.
    plan = await stored_plan(prt, small.action_id)
    done = await release(prt, staff, small)
    assert done.result["base_minor"] == 485000 and done.result["version_no"] == 2
    async with prt.db.read() as s:
        rows = (await s.exec(select(EmploymentContract).where(
            EmploymentContract.contract_number == contract.contract_number)
            .order_by(EmploymentContract.version_no))).all()
    inserted = next(c for c in plan["changes"] if c["op"] == "insert")["values"]
    assert {k: json.loads(json.dumps(getattr(rows[1], k), default=str)) for k in inserted} == inserted
    assert rows[0].superseded_at is not None and rows[1].superseded_at is None


async def test_a_salary_change_superseded_since_the_preview_is_stale(prt, staff):
    contract = staff["contracts"][1]
    first = await gated(prt, staff, "change_contract_salary", {
        "contract_number": contract.contract_number, "base_minor": 721000, "effective_from": "2026-06-01",
        "reason": "indexation"})
    second = await gated(prt, staff, "change_contract_salary", {
        "contract_number": contract.contract_number, "base_minor": 722000, "effective_from": "2026-06-01",
        "reason": "indexation, corrected"})
    await release(prt, staff, second)
    message = await stale(prt, staff, first)
    assert "employment_contracts" in message, message
    current = await invoke(prt, "list_employment_contracts", {"employee_id": contract.employee_id},
                           staff["officer"])
    assert [(c.version_no, c.base_minor) for c in current.items] == [(2, 722000)]


async def test_a_tax_table_overlapped_by_one_added_since_the_preview_is_stale(prt, staff):
    first = await gated(prt, staff, "add_tax_table", {"document": next_year_document()})
    second = await gated(prt, staff, "add_tax_table", {"document": next_year_document()})
    await release(prt, staff, second)
    message = await stale(prt, staff, first)
    assert "can no longer be planned" in message and "AU_PAYGW" in message, message
    async with prt.db.read() as s:
        rows = (await s.exec(select(TaxTableRecord))).all()
    assert [r.effective_from for r in rows] == [date(2027, 7, 1)]
