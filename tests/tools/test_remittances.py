"""Super and PAYG remittances (issue 18, item 5): through the gate, each clears its payable account against the
bank, nothing is remitted twice, a payslip voided after remitting is carried as a negative into the next remittance,
and the SuperStream file follows the SAFF v1.0 layout. On a database of its own (payslips are school-wide).

The payslips are written here with their STP categories (domain/payroll/categories.py) and posted by the payroll's
own posting (service.post_run: each line kind to its payable account), so the figures are hand-made:

    E1: gross 6,000.00; salary sacrificed to super (salary_sacrifice:S) 200.00; PAYG 1,300.00; SG (super:L)
        720.00 (12 % of 6,000.00, SG Act 1992 s 19(2) rate from 1 July 2025); net 6,000 - 200 - 1,300 = 4,500.00.
    E2: gross 4,000.00; PAYG 600.00; SG 480.00; RESC (super:RESC) 100.00; workers' compensation (employer, not
        remitted) 50.00; net 3,400.00.
    Posting: 2110 PAYG payable 1,900.00; 2120 deductions payable 200.00; 2130 employer payable 720 + 480 + 100 +
    50 = 1,350.00.
    Super remittance: 720 + 480 + 100 + 200 = 1,500.00: Dr 2130 1,300.00, Dr 2120 200.00, Cr 1010 1,500.00; 2130
    keeps the 50.00 of workers' compensation, 2120 is cleared. PAYG remittance: Dr 2110 1,900.00 / Cr 1010.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from domain.documents.models import Document
from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, StaleAction
from domain.payroll import service
from domain.payroll.models import EmploymentContract, PayrollRun, Payslip, PayslipLine, SalaryStructure
from domain.payroll.remittance import SAFF_AT, SAFF_COLUMNS
from domain.payroll.remittance_models import Remittance, RemittancePayslip
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

E1_LINES = [("earning", "gross", 600_000), ("deduction", "salary_sacrifice:S", 20_000), ("tax", "payg", 130_000),
            ("employer_contribution", "super:L", 72_000)]
E2_LINES = [("earning", "gross", 400_000), ("tax", "payg", 60_000), ("employer_contribution", "super:L", 48_000),
            ("employer_contribution", "super:RESC", 10_000), ("employer_contribution", "employer", 5_000)]


@pytest.fixture(scope="module")
async def rrt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "remittances", in_process_jobs=True) as runtime:
        yield runtime


async def make_staff(rt, count: int = 2) -> dict:
    """A department, `count` employees each with a contract, a payroll officer and an admin."""
    async with rt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("PR"), name="Payroll reports")
        employees = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=f"Rem{i}", last_name=f"Staff{i}", work_email=f"rem{i}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for i in range(count)]
        structure = SalaryStructure(code=unique("RS"), name="Reports", currency="AUD",
                                    components=json.dumps({"components": []}))
        s.add(structure)
        await s.flush()
        contracts = []
        for employee in employees:
            contract = EmploymentContract(contract_number=unique("C"), version_no=1, employee_id=employee.id,
                                          start_date=date(2020, 1, 6), effective_from=date(2020, 1, 6),
                                          pay_basis="monthly", base_minor=600_000, currency="AUD",
                                          salary_structure_id=structure.id, department_id=dep.id)
            s.add(contract)
            contracts.append(contract)
        await s.flush()
        officer = await make_user(s, roles="payroll")
        admin = await make_user(s, roles="admin")
        return {"department_id": dep.id, "employees": [e.id for e in employees],
                "codes": [e.code for e in employees], "contracts": [c.id for c in contracts],
                "officer": officer, "admin": admin}


async def posted_run(rt, staff: dict, pay_date: date, slips: list[list[tuple[str, str, int]]], *,
                     period_start: date | None = None, leave: list[dict] | None = None,
                     hours: dict[int, dict[int, int]] | None = None) -> tuple[int, list[int]]:
    """A posted run paid on `pay_date` with one payslip per entry of `slips` (employee i gets slips[i]: lines of
    (kind, category, amount minor)), posted by the payroll's own posting; returns (run id, payslip ids)."""
    start = period_start or pay_date.replace(day=1)
    async with rt.db.write() as s:
        run = PayrollRun(period=f"{pay_date.isoformat()}", period_start=start, period_end=pay_date,
                         pay_date=pay_date, currency="AUD", status="approved", employees=len(slips))
        s.add(run)
        await s.flush()
        ids = []
        for i, lines in enumerate(slips):
            gross = sum(a for k, _, a in lines if k in ("earning", "arrears"))
            deductions = sum(a for k, _, a in lines if k in ("deduction", "tax"))
            employer = sum(a for k, _, a in lines if k == "employer_contribution")
            slip = Payslip(run_id=run.id, employee_id=staff["employees"][i], contract_id=staff["contracts"][i],
                           department_id=staff["department_id"], period=run.period,
                           number=f"PS{run.id}-{unique()}", status="draft", currency="AUD", payment_days_x100=2200,
                           working_days=22, gross_minor=gross, deductions_minor=deductions, employer_minor=employer,
                           net_minor=gross - deductions, ytd="{}", created_at=utcnow(), pay_date=pay_date,
                           period_start=start, period_end=pay_date,
                           leave=json.dumps(leave[i] if leave else {}))
            s.add(slip)
            await s.flush()
            ids.append(slip.id)
            for position, (kind, category, amount) in enumerate(lines):
                s.add(PayslipLine(payslip_id=slip.id, position=position, code=category.upper().replace(":", "_"),
                                  name=category, kind=kind, amount_minor=amount, category=category,
                                  hours_x100=(hours or {}).get(i, {}).get(position)))
        await s.flush()
        await service.post_run(s, SYSTEM_ACTOR, run.id)
        return run.id, ids


async def balances(rt, *codes: str) -> dict[str, int]:
    async with rt.db.read() as s:
        out = {}
        for code in codes:
            account = await finance.find_account_by_code(s, code)
            out[code] = await finance.account_balance(s, account.id) if account else 0
        return out


async def remit(rt, staff, tool: str, pay_date_from: date, pay_date_to: date, paid_on: date) -> dict:
    pending = await invoke(rt, tool, {"pay_date_from": pay_date_from.isoformat(),
                                      "pay_date_to": pay_date_to.isoformat(), "paid_on": paid_on.isoformat()},
                           staff["officer"])
    assert pending.level == "approve", pending
    return {"preview": pending.preview, "result": await released(rt, pending, staff["officer"], staff["admin"])}


async def void(rt, staff, payslip_id: int, on: date) -> None:
    pending = await invoke(rt, "void_payslip", {"payslip_id": payslip_id, "on": on.isoformat(),
                                                "reason": "paid to the wrong employee"}, staff["officer"])
    await released(rt, pending, staff["officer"], staff["admin"])


async def links(rt, kind: str) -> dict[int, int]:
    async with rt.db.read() as s:
        rows = (await s.exec(select(RemittancePayslip).where(RemittancePayslip.kind == kind))).all()
        return {r.payslip_id: r.amount_minor for r in rows}


async def document_text(rt, document_id: int) -> str:
    async with rt.db.read() as s:
        return (await s.get(Document, document_id)).data.decode()


async def test_super_and_payg_remittances_clear_their_payables_and_nothing_is_remitted_twice(rrt):
    staff = await make_staff(rrt)
    pay_date = date(2026, 7, 28)
    _, (slip1, slip2) = await posted_run(rrt, staff, pay_date, [E1_LINES, E2_LINES])
    assert await balances(rrt, "2110", "2120", "2130") == {"2110": 190_000, "2120": 20_000, "2130": 135_000}

    done = await remit(rrt, staff, "remit_super", pay_date, pay_date, date(2026, 7, 30))
    preview, result = done["preview"], done["result"]
    assert preview["total_minor"] == 150_000 and preview["payslips"] == 2
    assert preview["by_account_minor"] == {"2120": 20_000, "2130": 130_000}
    assert (result["number"], result["kind"], result["total_minor"], result["payslips"]) == ("SUP00001", "super",
                                                                                             150_000, 2)
    # 2120 cleared; 2130 keeps only the workers' compensation (not super); the bank paid 1,500.00.
    assert await balances(rrt, "2110", "2120", "2130") == {"2110": 190_000, "2120": 0, "2130": 5_000}
    assert await links(rrt, "super") == {slip1: 72_000 + 20_000, slip2: 48_000 + 10_000}
    async with rrt.db.read() as s:
        entry = await finance.get_entry(s, result["journal_entry_id"])
        codes = {ln.account_id: (await finance.get_account(s, ln.account_id)).code for ln in entry.lines}
        assert sorted((codes[ln.account_id], ln.debit, ln.credit) for ln in entry.lines) == [
            ("1010", 0, 150_000), ("2120", 20_000, 0), ("2130", 130_000, 0)]
        assert entry.entry.entry_date == date(2026, 7, 30)

    # The SAFF v1.0 CSV, field by field: header record, section row, the 133 column names, one row per member.
    rows = list(csv.reader(io.StringIO(await document_text(rrt, result["csv_document_id"]))))
    assert rows[0] == ["VERSION", "1.0", "NEGATIVES SUPPORTED", "FALSE", "FILE ID", "SUP00001"]
    assert rows[1][0] == "Line ID" and rows[1][5] == "Sender" and rows[1][57] == "Super Fund Member Contributions"
    assert rows[2] == list(SAFF_COLUMNS) and len(rows[2]) == 133
    members = {r[SAFF_AT["payroll_number"]]: r for r in rows[3:]}
    assert set(members) == set(staff["codes"]) and all(len(r) == 133 for r in rows[3:])
    e1, e2 = members[staff["codes"][0]], members[staff["codes"][1]]
    assert (e1[59], e1[60], e1[62], e1[25]) == ("720.00", "0.00", "200.00", "920.00")
    assert (e2[59], e2[60], e2[62], e2[25]) == ("480.00", "100.00", "0.00", "580.00")
    assert (e1[36], e1[37], e1[57], e1[58], e1[22]) == ("Staff0", "Rem0", "2026-07-01", "2026-07-28", "2026-07-30")
    data = json.loads(await document_text(rrt, result["json_document_id"]))
    assert data["total_minor"] == 150_000 and sum(f["total_minor"] for f in data["funds"]) == 150_000

    # Remitting the same range again: nothing left.
    with pytest.raises(Conflict, match="nothing to remit as super"):
        await invoke(rrt, "remit_super", {"pay_date_from": "2026-07-28", "pay_date_to": "2026-07-28",
                                          "paid_on": "2026-07-31"}, staff["officer"])

    payg = (await remit(rrt, staff, "remit_payg", pay_date, pay_date, date(2026, 8, 21)))["result"]
    assert (payg["number"], payg["total_minor"], payg["csv_document_id"]) == ("PAYG00001", 190_000, None)
    assert await balances(rrt, "2110", "2120", "2130") == {"2110": 0, "2120": 0, "2130": 5_000}

    report = await invoke(rrt, "get_remittance_report", {"pay_date_from": "2026-07-01", "pay_date_to": "2026-07-31"},
                          staff["officer"])
    assert (report.withheld_minor, report.withheld_remitted_minor, report.withheld_outstanding_minor) == (
        190_000, 190_000, 0)
    assert (report.super_minor, report.super_remitted_minor, report.super_outstanding_minor) == (150_000, 150_000, 0)
    assert report.super_by_category_minor == {"salary_sacrifice:S": 20_000, "super:L": 120_000, "super:RESC": 10_000}
    payables = {p.account[:4]: p for p in report.payables}
    assert all(p.ledger_agrees and p.cleared for p in payables.values())
    assert (payables["2130"].ledger_balance_minor, payables["2130"].other_minor) == (5_000, 5_000)
    # Only the super remittance was paid in July; the PAYG one on 21 August.
    assert [r.number for r in report.remittances] == ["SUP00001"]


async def test_a_payslip_voided_after_remitting_is_carried_as_a_negative_into_the_next_remittance(rrt):
    staff = await make_staff(rrt)
    first, second = date(2026, 9, 10), date(2026, 9, 24)
    _, (slip1, _) = await posted_run(rrt, staff, first, [E1_LINES, E2_LINES])
    await remit(rrt, staff, "remit_super", first, first, date(2026, 9, 11))
    before = await balances(rrt, "2120", "2130")
    await void(rrt, staff, slip1, date(2026, 9, 20))
    # The void mirrors E1's posting: 2130 -720.00 and 2120 -200.00 owed back by the fund's side until carried.
    after_void = await balances(rrt, "2120", "2130")
    assert (after_void["2120"] - before["2120"], after_void["2130"] - before["2130"]) == (-20_000, -72_000)
    await posted_run(rrt, staff, second, [E1_LINES, E2_LINES], period_start=date(2026, 9, 11))
    done = await remit(rrt, staff, "remit_super", second, second, date(2026, 9, 25))
    # 1,500.00 for the new pay less E1's voided 920.00: 580.00; the reversing payslip is linked once.
    assert done["result"]["total_minor"] == 150_000 - 92_000 and done["preview"]["reversals_carried"] == 1
    carried = await links(rrt, "super")
    async with rrt.db.read() as s:
        reversal = (await s.exec(select(Payslip).where(Payslip.reverses_payslip_id == slip1))).one()
    assert carried[reversal.id] == -92_000 and carried[slip1] == 92_000
    # 2120: -200.00 (void) +200.00 (new pay) -0 (E1's new 200.00 less the carried 200.00); 2130: -720.00 (void)
    # +1,350.00 (new pay) -580.00 (remitted): the workers' compensation 50.00 more than before.
    assert await balances(rrt, "2120", "2130") == {"2120": before["2120"], "2130": before["2130"] + 5_000}


async def test_bad_ranges_are_refused_naming_the_field(rrt):
    staff = await make_staff(rrt, 1)
    cases = [({"pay_date_from": "2026-10-31", "pay_date_to": "2026-10-01", "paid_on": "2026-11-01"}, "pay_date_to",
              "before pay_date_from"),
             ({"pay_date_from": "2025-01-01", "pay_date_to": "2026-10-01", "paid_on": "2026-11-01"}, "pay_date_to",
              "at most 400"),
             ({"pay_date_from": "2026-10-01", "pay_date_to": "2026-10-31", "paid_on": "2026-09-30"}, "paid_on",
              "before the first pay date")]
    for args, field, message in cases:
        for tool in ("remit_super", "remit_payg"):
            with pytest.raises(InvalidInput, match=message) as info:
                await invoke(rrt, tool, args, staff["officer"])
            assert info.value.field == field
    with pytest.raises(InvalidInput, match="at most 400"):
        await invoke(rrt, "get_remittance_report", {"pay_date_from": "2024-01-01", "pay_date_to": "2026-01-01"},
                     staff["officer"])
    async with rrt.db.read() as s:
        assert (await s.exec(select(Remittance).where(Remittance.pay_date_from == date(2026, 10, 1)))).all() == []


OPS = st.lists(st.sampled_from(["remit_super", "remit_payg", "void_0", "void_1"]), min_size=1, max_size=5)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, day=st.integers(0, 10_000))
async def test_whatever_the_order_of_voids_and_remittances_nothing_is_remitted_twice_and_the_ledger_agrees(
        rrt, ops, day):
    staff = await make_staff(rrt)
    pay_date = date(2030, 1, 1) + timedelta(days=day * 3)  # a pay date of this example's own
    _, slips = await posted_run(rrt, staff, pay_date, [E1_LINES, E2_LINES])
    voided = set()
    for op in ops:
        if op.startswith("void"):
            index = int(op[-1])
            if index in voided:
                continue
            await void(rrt, staff, slips[index], pay_date + timedelta(days=1))
            voided.add(index)
        else:
            try:
                await remit(rrt, staff, op, pay_date, pay_date, pay_date + timedelta(days=2))
            except Conflict:  # nothing (or less than nothing) to remit for this example's payslips
                pass
    for kind, categories in (("super", {"super:L", "super:RESC", "salary_sacrifice:S"}), ("payg", {"payg"})):
        linked = await links(rrt, kind)
        async with rrt.db.read() as s:
            for payslip_id, amount in linked.items():
                slip = await s.get(Payslip, payslip_id)
                # A reversing payslip owes exactly the negative of its original (whose lines name the categories).
                original, sign = (slip.reverses_payslip_id, -1) if slip.reverses_payslip_id else (payslip_id, 1)
                lines = (await s.exec(select(PayslipLine).where(PayslipLine.payslip_id == original))).all()
                assert amount == sign * sum(ln.amount_minor for ln in lines if ln.category in categories)
            rows = (await s.exec(select(RemittancePayslip).where(RemittancePayslip.kind == kind))).all()
        assert len(rows) == len({r.payslip_id for r in rows})  # each payslip at most once per kind
    report = await invoke(rrt, "get_remittance_report", {"pay_date_from": pay_date.isoformat(),
                                                         "pay_date_to": pay_date.isoformat()}, staff["officer"])
    assert all(p.ledger_agrees for p in report.payables), report.payables


async def test_a_payslip_posted_after_the_preview_makes_the_remittance_stale_and_nothing_is_written(rrt):
    staff = await make_staff(rrt)
    day = date(2027, 3, 25)
    await posted_run(rrt, staff, day, [E1_LINES, E2_LINES])
    pending = await invoke(rrt, "remit_super", {"pay_date_from": "2027-03-01", "pay_date_to": "2027-03-31",
                                                "paid_on": "2027-04-01"}, staff["officer"])
    assert pending.preview["total_minor"] == 150_000
    await posted_run(rrt, staff, date(2027, 3, 30), [E1_LINES, E2_LINES])  # another pay in the range meanwhile
    queued = await invoke(rrt, "confirm_action", {"action_id": pending.action_id}, staff["officer"])
    assert queued.status == "queued"
    before = await links(rrt, "super")
    with pytest.raises(StaleAction):
        await invoke(rrt, "approve_action", {"action_id": pending.action_id}, staff["admin"])
    assert await links(rrt, "super") == before
    again = await remit(rrt, staff, "remit_super", date(2027, 3, 1), date(2027, 3, 31), date(2027, 4, 1))
    assert again["result"]["total_minor"] == 2 * 150_000 and again["result"]["payslips"] == 4
