"""Editing a salary structure and moving contracts between structures (issue 18, item 8), through tools.invoke and
the gate: update_salary_structure (approve: it changes what every later payroll pays) checks the whole new list as
create_salary_structure does, is refused while a run using the structure is calculated or approved, and is stale
when the structure changed after the preview; move_contracts_to_structure (confirm) writes new contract versions
from a date after the last paid period, every other term copied, and is stale when the target structure or a
contract changed after the preview. On its own database (runs are per month for the whole school)."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from domain.hr import service as hr
from domain.hr.models import Employee, EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleAction
from domain.payroll import rates
from domain.payroll.models import EmploymentContract, SalaryStructure
from domain.payroll.periods import CalendarRules
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tests.tools.test_payroll import payslips_of
from tools.invoke import invoke

BASIC = {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
         "of": "base"}
PAYG = {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
        "expression": "taxable"}
SUPER = {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution",
         "method": "percentage", "percent": 12, "of": "BASIC"}
ALLOW = {"code": "ALLOW", "name": "Teaching allowance", "kind": "earning", "method": "fixed", "amount_minor": 25000}
BASES = (650000, 720000, 480000)


@pytest.fixture(scope="module")
async def srt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "structure_changes", in_process_jobs=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def school(srt):
    """Three employees on AUD contracts of structure TEACH_A from 2026-01-01; TEACH_B (AUD) and TEACH_US (USD) beside
    it; a payroll officer, an HR officer and an admin."""
    async with srt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("SC"), name="Science")
        employees = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=f"Sam{i}", last_name="Structured", work_email=f"sam{i}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for i in range(3)]
        officer = await make_user(s, roles="payroll")
        hr_officer = await make_user(s, roles="hr")
        admin = await make_user(s, roles="admin")
    structures = {}
    for code, currency, components in (("TEACH_A", "AUD", [BASIC, PAYG, SUPER]),
                                       ("TEACH_B", "AUD", [BASIC, ALLOW, PAYG, SUPER]),
                                       ("TEACH_US", "USD", [BASIC])):
        structures[code] = (await invoke(srt, "create_salary_structure", {
            "code": code, "name": f"Teachers {code}", "currency": currency, "components": components},
            officer)).salary_structure_id
    contracts = [await invoke(srt, "create_employment_contract", {
        "employee_id": e.id, "start_date": "2026-01-01", "base_minor": base, "currency": "AUD",
        "salary_structure_id": structures["TEACH_A"], "filing_status": "scale_2"}, officer)
        for e, base in zip(employees, BASES, strict=True)]
    return {"officer": officer, "hr": hr_officer, "admin": admin, "structures": structures,
            "numbers": [c.contract_number for c in contracts], "employees": employees}


async def structure_row(srt, structure_id: int) -> SalaryStructure:
    async with srt.db.read() as s:
        return await s.get(SalaryStructure, structure_id)


async def versions(srt, number: str) -> list[EmploymentContract]:
    async with srt.db.read() as s:
        return list((await s.exec(select(EmploymentContract).where(EmploymentContract.contract_number == number)
                                  .order_by(EmploymentContract.version_no))).all())


async def calculated(srt, school, period: str, pay_date: str) -> int:
    run = await invoke(srt, "create_payroll_run", {"period": period, "pay_date": pay_date, "currency": "AUD"},
                       school["officer"])
    job = await invoke(srt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 30}, school["officer"])
    assert job.status == "succeeded", job
    return run.run_id


async def step(srt, school, tool: str, run_id: int) -> None:
    pending = await invoke(srt, tool, {"run_id": run_id}, school["officer"])
    await released(srt, pending, school["officer"], school["admin"])


def update_args(school, code: str, components: list[dict], **extra) -> dict:
    return {"salary_structure_id": school["structures"][code], "components": components, **extra}


async def test_an_edit_is_refused_while_a_run_using_the_structure_awaits_posting(srt, school):
    officer = school["officer"]
    run_id = await calculated(srt, school, "2026-01", "2026-01-28")
    lowered = [BASIC, PAYG, dict(SUPER, percent="11.5")]
    with pytest.raises(Conflict, match=rf"payroll run\(s\) 2026-01 \(run {run_id}, calculated\) pay contracts of "
                                       "structure TEACH_A and are not posted") as info:
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_A", lowered), officer)
    assert info.value.field == "salary_structure_id"
    await step(srt, school, "approve_payroll_run", run_id)
    with pytest.raises(Conflict, match=rf"2026-01 \(run {run_id}, approved\)"):
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_A", lowered), officer)
    # Another structure's edit is not held up by this run: no payslip of it uses TEACH_B.
    async with srt.db.read() as s:
        plan = await rates.plan_update_salary_structure(s, officer, structure_id=school["structures"]["TEACH_B"],
                                                        components=[BASIC, PAYG, SUPER])
    assert plan.preview["removed"] == ["ALLOW"] and plan.preview["contracts_using"] == 0
    await step(srt, school, "post_payroll_run", run_id)
    pending = await invoke(srt, "update_salary_structure", update_args(school, "TEACH_A", lowered), officer)
    assert pending.level == "approve" and pending.preview["changed"] == {"SUPER": {"percent": ["12", "11.5"]}}


async def test_an_edit_previews_what_changes_needs_four_eyes_and_later_runs_pay_by_it(srt, school):
    officer, admin = school["officer"], school["admin"]
    before = await structure_row(srt, school["structures"]["TEACH_A"])
    # ALLOW added after BASIC, SUPER's rate lowered; nothing removed.
    new = [BASIC, ALLOW, PAYG, dict(SUPER, percent="11.5")]
    pending = await invoke(srt, "update_salary_structure", update_args(school, "TEACH_A", new, name="Teachers 2026"),
                           officer)
    assert pending.preview["added"] == ["ALLOW"] and pending.preview["removed"] == []
    # Matched by code: PAYG moved from position 2 to 3 and SUPER from 3 to 4; SUPER's percent changed.
    assert pending.preview["changed"] == {"PAYG": {"position": [2, 3]},
                                          "SUPER": {"percent": ["12", "11.5"], "position": [3, 4]}}
    assert pending.preview["contracts_using"] == 3
    assert pending.preview["before"] == {"name": "Teachers TEACH_A", "components": 3}
    assert pending.preview["after"] == {"name": "Teachers 2026", "components": 4}
    assert (await structure_row(srt, before.id)).components == before.components  # nothing written yet
    await invoke(srt, "confirm_action", {"action_id": pending.action_id}, officer)
    with pytest.raises(PermissionDenied):
        await invoke(srt, "approve_action", {"action_id": pending.action_id}, officer)
    done = await invoke(srt, "approve_action", {"action_id": pending.action_id}, admin)
    assert done.status == "executed" and done.result["name"] == "Teachers 2026"
    assert [c["code"] for c in done.result["components"]] == ["BASIC", "ALLOW", "PAYG", "SUPER"]
    after = await structure_row(srt, before.id)
    assert after.version == before.version + 1 and (after.code, after.currency) == ("TEACH_A", "AUD")
    # The posted January payslips keep their lines (no ALLOW); February's are computed with the new list.
    january = (await invoke(srt, "list_payroll_runs", {"limit": 10}, officer)).items[0]
    assert all("ALLOW" not in {ln.code for ln in lines} for _, lines in await payslips_of(srt, january.run_id))
    run_id = await calculated(srt, school, "2026-02", "2026-02-26")
    slips = await payslips_of(srt, run_id)
    assert len(slips) == 3
    for slip, lines in slips:
        amounts = {ln.code: ln.amount_minor for ln in lines}
        assert amounts["ALLOW"] == 25000
        # SUPER is 11.5 % of BASIC, rounded half up: 650,000 x 0.115 = 74,750; 720,000 -> 82,800; 480,000 -> 55,200.
        assert amounts["SUPER"] == {650000: 74750, 720000: 82800, 480000: 55200}[amounts["BASIC"]]
    await step(srt, school, "approve_payroll_run", run_id)
    await step(srt, school, "post_payroll_run", run_id)


@pytest.mark.parametrize(("components", "error", "says"), [
    # create_salary_structure's checks, reused: a formula may read only values known at its position ...
    ([BASIC, {"code": "BONUS", "name": "Bonus", "kind": "earning", "method": "formula", "expression": "LATER * 2"},
      {"code": "LATER", "name": "Later", "kind": "earning", "method": "fixed", "amount_minor": 1}], InvalidInput,
     "LATER"),
    # ... a tax component names a tax table that exists ...
    ([BASIC, dict(PAYG, table="NZ_PAYE")], InvalidInput, "no tax table has code 'NZ_PAYE'"),
    # ... a percentage names its base ...
    ([dict(BASIC, of="NOPE")], InvalidInput, "NOPE"),
    # ... and codes are unique.
    ([BASIC, BASIC], InvalidInput, "BASIC"),
])
async def test_a_bad_component_list_is_refused_as_on_create(srt, school, components, error, says):
    before = await structure_row(srt, school["structures"]["TEACH_B"])
    with pytest.raises(error, match=says):
        await invoke(srt, "create_salary_structure", {"code": unique("X"), "name": "x", "currency": "AUD",
                                                      "components": components}, school["officer"])
    with pytest.raises(error, match=says):
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", components), school["officer"])
    assert (await structure_row(srt, before.id)).version == before.version


async def test_an_edit_that_changes_nothing_or_names_no_structure_is_refused(srt, school):
    officer = school["officer"]
    current = json.loads((await structure_row(srt, school["structures"]["TEACH_B"])).components)["components"]
    with pytest.raises(InvalidInput, match="structure TEACH_B already has exactly these components") as info:
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", current), officer)
    assert info.value.field == "components"
    with pytest.raises(NotFound, match="salary"):
        await invoke(srt, "update_salary_structure", {"salary_structure_id": 2_000_000, "components": [BASIC]},
                     officer)
    with pytest.raises(InvalidInput, match="components"):  # an empty list
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", []), officer)
    with pytest.raises(InvalidInput, match="unknown argument"):  # a field the engine does not know
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", [dict(BASIC, rate=1)]), officer)
    with pytest.raises(PermissionDenied):  # HR moves contracts but does not edit structures
        await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", [BASIC]), school["hr"])


async def test_an_edit_is_stale_when_the_structure_changed_after_the_preview(srt, school):
    officer, admin = school["officer"], school["admin"]
    first = await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", [BASIC, PAYG]), officer)
    second = await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", [BASIC, ALLOW]), officer)
    await released(srt, second, officer, admin)
    await invoke(srt, "confirm_action", {"action_id": first.action_id}, officer)
    with pytest.raises(StaleAction, match=r"salary_structures: components \(before\) for 1 of 1, version for 1 of 1"):
        await invoke(srt, "approve_action", {"action_id": first.action_id}, admin)
    stored = json.loads((await structure_row(srt, school["structures"]["TEACH_B"])).components)
    assert [c["code"] for c in stored["components"]] == ["BASIC", "ALLOW"]  # the second edit, not the first
    # Put TEACH_B back to a full structure for the moves below.
    again = await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", [BASIC, ALLOW, PAYG, SUPER]),
                         officer)
    await released(srt, again, officer, admin)


async def test_contracts_move_from_a_date_after_their_last_paid_period_as_new_versions(srt, school):
    hr_officer, numbers = school["hr"], school["numbers"]
    target = school["structures"]["TEACH_B"]
    args = {"contract_numbers": numbers[:2], "salary_structure_id": target, "effective_from": "2026-02-01",
            "reason": "New pay scale for science"}
    # February 2026 was posted: a move inside it is refused, naming the first day it may start from.
    with pytest.raises(Conflict, match="was paid for 2026-02 .*move from 2026-03-01 "
                                       r"\(the day after the last paid period\) or later") as info:
        await invoke(srt, "move_contracts_to_structure", args, hr_officer)
    assert info.value.field == "effective_from"
    old = [(await versions(srt, n))[-1] for n in numbers[:2]]
    pending = await invoke(srt, "move_contracts_to_structure", dict(args, effective_from="2026-03-01"), hr_officer)
    assert pending.level == "confirm" and pending.preview["contracts"] == 2
    assert [(m["contract"], m["from"], m["version_no"]) for m in pending.preview["moves"]] == [
        (numbers[0], "TEACH_A", 2), (numbers[1], "TEACH_A", 2)]
    assert [len(await versions(srt, n)) for n in numbers[:2]] == [1, 1]  # nothing written yet
    with pytest.raises(PermissionDenied):  # confirm-level: only the requester releases it
        await invoke(srt, "confirm_action", {"action_id": pending.action_id}, school["admin"])
    result = await released(srt, pending, hr_officer)
    assert result == {"salary_structure_id": target, "salary_structure_code": "TEACH_B",
                      "effective_from": "2026-03-01", "moved": 2, "contract_numbers": numbers[:2]}
    for before, number in zip(old, numbers[:2], strict=True):
        first, second = await versions(srt, number)
        assert first.superseded_at is not None and second.superseded_at is None
        assert (second.version_no, second.salary_structure_id, second.effective_from, second.reason) == (
            2, target, date(2026, 3, 1), "New pay scale for science")
        # Every other term is copied: pay, dates, currency, department, tax scale, hours.
        for term in ("employee_id", "start_date", "end_date", "pay_basis", "base_minor", "currency",
                     "department_id", "filing_status", "hours_per_month_x100"):
            assert getattr(second, term) == getattr(before, term), term
    assert (await versions(srt, numbers[2]))[-1].salary_structure_id == school["structures"]["TEACH_A"]
    # March pays the moved two by TEACH_B (SUPER 12 % of BASIC: 650,000 -> 78,000, 720,000 -> 86,400), the third by
    # TEACH_A as edited above (SUPER 11.5 %: 480,000 -> 55,200).
    run_id = await calculated(srt, school, "2026-03", "2026-03-27")
    supers = {}
    for _, lines in await payslips_of(srt, run_id):
        amounts = {ln.code: ln.amount_minor for ln in lines}
        supers[amounts["BASIC"]] = amounts["SUPER"]
    assert supers == {650000: 78000, 720000: 86400, 480000: 55200}
    # While March is calculated, a move inside it is refused, naming the run.
    with pytest.raises(Conflict, match=rf"payroll run\(s\) 2026-03 \(run {run_id}, calculated\) pay these contracts "
                                       "and are not posted") as info:
        await invoke(srt, "move_contracts_to_structure", dict(args, contract_numbers=numbers[2:],
                                                              effective_from="2026-03-01"), hr_officer)
    assert info.value.field == "contract_numbers"
    cancel = await invoke(srt, "cancel_payroll_run", {"run_id": run_id}, school["officer"])
    await released(srt, cancel, school["officer"])


@pytest.mark.parametrize(("change", "error", "field", "says"), [
    ({"salary_structure_id": "TEACH_US"}, InvalidInput, "salary_structure_id", "is in AUD, structure TEACH_US in USD"),
    ({"salary_structure_id": "TEACH_A"}, InvalidInput, "salary_structure_id", "is already on structure TEACH_A"),
    ({"contract_numbers": ["C99999"]}, NotFound, "contract_numbers", "no contract C99999"),
    ({"contract_numbers": ["{n}", "{n}"]}, InvalidInput, "contract_numbers", "names {n} more than once"),
    ({"effective_from": "2025-12-31"}, InvalidInput, "effective_from", "starts on 2026-01-01, after 2025-12-31"),
    ({"contract_numbers": []}, InvalidInput, "contract_numbers", "at least 1"),
    ({"contract_numbers": [f"C{i:05d}" for i in range(501)]}, InvalidInput, "contract_numbers", "at most 500"),
    ({"reason": "x"}, InvalidInput, "reason", "at least 5"),
    # A structure pays whole periods: the monthly calendar's periods are calendar months.
    ({"effective_from": "2026-04-15"}, InvalidInput, "effective_from",
     "a salary structure pays whole pay periods: 2026-04-15 is inside {n}'s monthly pay period 2026-04-01 to "
     "2026-04-30; start on 2026-04-01 or 2026-05-01"),
])
async def test_bad_moves_are_refused_naming_the_field(srt, school, change, error, field, says):
    number = school["numbers"][2]  # still on TEACH_A
    args = {"contract_numbers": [number], "salary_structure_id": "TEACH_B", "effective_from": "2026-04-01",
            "reason": "New pay scale", **change}
    args["contract_numbers"] = [n.format(n=number) for n in args["contract_numbers"]]
    with pytest.raises(error) as info:
        await invoke(srt, "move_contracts_to_structure", args, school["hr"])
    assert says.format(n=number) in info.value.message and info.value.field == field, info.value
    assert len(await versions(srt, number)) == 1


async def test_the_domain_refuses_more_than_500_and_a_date_before_the_current_version(srt, school):
    async with srt.db.read() as s:
        with pytest.raises(InvalidInput, match="1 to 500 contracts, not 501"):
            await rates.plan_move_contracts_to_structure(
                s, SYSTEM_ACTOR, contract_numbers=[f"C{i:05d}" for i in range(501)],
                structure_id=school["structures"]["TEACH_A"], effective_from=date(2026, 4, 1), reason="bulk move")
        # The first moved contract's current version runs from 2026-03-01: a move must not start before it.
        with pytest.raises(InvalidInput, match="current version is in force from 2026-03-01, after 2026-02-20"):
            await rates.plan_move_contracts_to_structure(
                s, SYSTEM_ACTOR, contract_numbers=[school["numbers"][0]],
                structure_id=school["structures"]["TEACH_A"], effective_from=date(2026, 2, 20), reason="back")


async def test_a_move_is_stale_when_the_structure_or_a_contract_changed_after_the_preview(srt, school):
    officer, hr_officer, admin = school["officer"], school["hr"], school["admin"]
    number = school["numbers"][2]
    args = {"contract_numbers": [number], "salary_structure_id": "TEACH_B", "effective_from": "2026-04-01",
            "reason": "New pay scale"}
    pending = await invoke(srt, "move_contracts_to_structure", args, hr_officer)
    edit = await invoke(srt, "update_salary_structure", update_args(school, "TEACH_B", [BASIC, ALLOW, PAYG]),
                        officer)
    await released(srt, edit, officer, admin)
    with pytest.raises(StaleAction, match="salary structure TEACH_B changed since the preview"):
        await invoke(srt, "confirm_action", {"action_id": pending.action_id}, hr_officer)
    assert len(await versions(srt, number)) == 1

    pending = await invoke(srt, "move_contracts_to_structure", args, hr_officer)
    raise_ = await invoke(srt, "change_contract_salary", {"contract_number": number, "base_minor": 481000,
                                                          "effective_from": "2026-04-01", "reason": "Step rise"},
                          officer)
    await released(srt, raise_, officer, admin)
    with pytest.raises(StaleAction, match="employment_contracts"):
        await invoke(srt, "confirm_action", {"action_id": pending.action_id}, hr_officer)
    assert [v.salary_structure_id for v in await versions(srt, number)] == [school["structures"]["TEACH_A"]] * 2

    again = await invoke(srt, "move_contracts_to_structure", args, hr_officer)
    await released(srt, again, hr_officer)
    latest = (await versions(srt, number))[-1]
    assert (latest.version_no, latest.base_minor, latest.salary_structure_id) == (
        3, 481000, school["structures"]["TEACH_B"])


def test_component_changes_match_components_by_code():
    """The preview's rule (domain.payroll.rates.component_changes): added and removed by code, in list order; per
    kept code the fields that differ as [before, after], and its 1-based position when it moved."""
    before = [{"code": "A", "percent": "10"}, {"code": "B", "amount_minor": 5}, {"code": "C", "taxable": True}]
    after = [{"code": "B", "amount_minor": 6}, {"code": "D"}, {"code": "A", "percent": "10", "prorate": True}]
    assert rates.component_changes(before, after) == {
        "added": ["D"], "removed": ["C"],
        "changed": {"B": {"amount_minor": [5, 6], "position": [2, 1]},
                    "A": {"prorate": [None, True], "position": [1, 3]}}}
    assert rates.component_changes(before, before) == {"added": [], "removed": [], "changed": {}}


async def test_a_rename_alone_is_an_edit(srt, school):
    officer = school["officer"]
    row = await structure_row(srt, school["structures"]["TEACH_US"])
    current = json.loads(row.components)["components"]
    pending = await invoke(srt, "update_salary_structure",
                           update_args(school, "TEACH_US", current, name="Teachers (USD)"), officer)
    assert pending.preview["added"] == pending.preview["removed"] == [] and pending.preview["changed"] == {}
    assert "renamed" in pending.summary
    result = await released(srt, pending, officer, school["admin"])
    assert result["name"] == "Teachers (USD)" and result["components"] == current


def test_check_move_names_the_field_at_fault():
    """domain.payroll.rates.check_move on plain rows: the first rule broken, as (field, reason), or None."""
    target = SalaryStructure(id=7, code="TEACH_B", name="B", currency="AUD", components="{}")

    def contract(**changes) -> EmploymentContract:
        terms = {"contract_number": "C00001", "version_no": 2, "employee_id": 1, "start_date": date(2026, 1, 1),
                 "end_date": date(2026, 6, 30), "effective_from": date(2026, 3, 1), "pay_basis": "monthly",
                 "base_minor": 1, "currency": "AUD", "salary_structure_id": 3}
        return EmploymentContract(**{**terms, **changes})

    assert rates.check_move(contract(), target, date(2026, 3, 1)) is None  # from the current version's first day
    assert rates.check_move(contract(), target, date(2026, 6, 30)) is None  # up to the contract's last day
    assert rates.check_move(contract(currency="USD"), target, date(2026, 4, 1)) == (
        "salary_structure_id", "C00001 is in USD, structure TEACH_B in AUD")
    assert rates.check_move(contract(salary_structure_id=7), target, date(2026, 4, 1)) == (
        "salary_structure_id", "C00001 is already on structure TEACH_B")
    assert rates.check_move(contract(), target, date(2025, 12, 31)) == (
        "effective_from", "C00001 starts on 2026-01-01, after 2025-12-31")
    assert rates.check_move(contract(), target, date(2026, 2, 28)) == (
        "effective_from", "C00001's current version is in force from 2026-03-01, after 2026-02-28")
    assert rates.check_move(contract(), target, date(2026, 7, 1)) == (
        "effective_from", "C00001 ended on 2026-06-30, before 2026-07-01")


async def test_the_largest_move_500_contracts_is_previewed_in_part_and_applied_whole(srt, school):
    """The input bound (500 contracts, domain.payroll.rates.MAX_MOVED) in one action: the preview lists the first
    100 and counts the rest; applying writes 500 superseded versions and 500 new ones in one transaction. The 500
    employees and contracts are inserted as rows (through the services they take seconds)."""
    from domain.payroll import service as payroll

    tag = unique()
    async with srt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("BK"), name="Bulk")
        a = await payroll.create_structure(s, SYSTEM_ACTOR, code="BULK_A", name="Bulk A", currency="AUD",
                                           components=[BASIC])
        b = await payroll.create_structure(s, SYSTEM_ACTOR, code="BULK_B", name="Bulk B", currency="AUD",
                                           components=[BASIC, ALLOW])
        employees = [Employee(code=f"BK{tag}{i:03d}", first_name=f"Bo{i}", last_name="Bulk",
                              work_email=f"bo{i}.{tag}@ex.org".lower(), position="Aide", department_id=dep.id,
                              hire_date=date(2026, 5, 1), employment_type=EmploymentType.PART_TIME.value)
                     for i in range(rates.MAX_MOVED)]
        s.add_all(employees)
        await s.flush()
        numbers = [f"BK{tag}{i:03d}" for i in range(rates.MAX_MOVED)]
        s.add_all([EmploymentContract(contract_number=number, version_no=1, employee_id=e.id,
                                      start_date=date(2026, 5, 1), effective_from=date(2026, 5, 1),
                                      pay_basis="monthly", base_minor=100000 + i, currency="AUD",
                                      salary_structure_id=a.id, department_id=dep.id)
                   for i, (number, e) in enumerate(zip(numbers, employees, strict=True))])
    args = {"contract_numbers": numbers, "salary_structure_id": b.id, "effective_from": "2026-06-01",
            "reason": "Aides move to the bulk B scale"}
    pending = await invoke(srt, "move_contracts_to_structure", args, school["hr"])
    assert pending.preview["contracts"] == 500 and pending.preview["more"] == 400
    assert [m["contract"] for m in pending.preview["moves"]] == numbers[:100]
    result = await released(srt, pending, school["hr"])
    assert result["moved"] == 500 and result["contract_numbers"] == numbers
    async with srt.db.read() as s:
        rows = (await s.exec(select(EmploymentContract).where(EmploymentContract.contract_number.in_(numbers)))).all()
    current = {r.contract_number: r for r in rows if r.superseded_at is None}
    assert len(rows) == 1000 and len(current) == 500
    assert {r.salary_structure_id for r in current.values()} == {b.id}
    assert [current[n].base_minor for n in numbers] == [100000 + i for i in range(500)]


def test_a_move_starts_on_the_first_day_of_a_pay_period():
    """domain.payroll.rates.check_period_start with the calendars' own period rules (domain.payroll.periods): a
    fortnightly calendar anchored on Monday 29 June 2026 has periods 29 June - 12 July, 13 - 26 July, ..."""
    fortnightly = CalendarRules(frequency="fortnightly", anchor_date=date(2026, 6, 29))  # type: ignore[arg-type]
    assert rates.check_period_start("C00001", fortnightly, date(2026, 7, 13)) is None
    assert rates.check_period_start("C00001", fortnightly, date(2026, 6, 15)) is None  # periods run back too
    assert rates.check_period_start("C00001", fortnightly, date(2026, 7, 20)) == (
        "2026-07-20 is inside C00001's fortnightly pay period 2026-07-13 to 2026-07-26; start on 2026-07-13 or "
        "2026-07-27")
    monthly = CalendarRules(frequency="monthly", anchor_date=date(2000, 1, 1))  # type: ignore[arg-type]
    assert rates.check_period_start("C00002", monthly, date(2026, 2, 1)) is None
    assert rates.check_period_start("C00002", monthly, date(2026, 2, 28)) == (
        "2026-02-28 is inside C00002's monthly pay period 2026-02-01 to 2026-02-28; start on 2026-02-01 or "
        "2026-03-01")
