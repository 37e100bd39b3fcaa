"""Issue 18's regressions M1 to M4, each failing on a822fb5 (before issue 18), with hand-computed figures.

One school of its own, paid monthly (the MONTHLY calendar: calendar months, national public holidays of Australia
only) from December 2025 to July 2026, through the tools and the gate. Working days are Monday to Friday less
public holidays (domain.kernel.workdays, the `holidays` package): December 2025 has 21 (23 weekdays less Christmas
Day and Boxing Day), March and June 2026 have 22 (no national holiday), so the figures below count them by hand.

- M1, a mid-month raise: 17,940.00 a month raised to 18,940.00 from Tuesday 16 June 2026 pays June
  17,940 x 11/22 + 18,940 x 11/22 = 18,440.00 (11 working days each side), not all of June at the new rate; and a
  raise of 1,000.00 from Monday 16 March 2026, recorded after March was paid, pays April an arrears line of
  1,000 x 12/22 = 545.45 for March, not 1,000.00.
- M2, a termination on Wednesday 10 June 2026 pays 3,150 x 8/22 + 100 = 1,245.45 of salary and allowance, the
  unused annual leave (FWA s 90(2)) with ATO Schedule 7 withholding, and nothing after June.
- M3, the financial year: July 2026's year to date starts again (AU: 1 July to 30 June); a raise backdated into
  December 2025 (from Monday 15 December: 11 of its 21 working days) and paid in January 2026 keeps its arrears
  line 1,000 x 11/21 = 523.81.
- M4, a reversal: reversing a paid run keeps the bank payment (the money left the bank) and leaves the net owed
  back on net pay payable, as void_payslip does.
"""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput
from domain.payroll import service as payroll
from domain.payroll.engine import YearToDate
from domain.payroll.models import Payslip, PayslipLine
from domain.payroll.tax import bundled_tax_tables, round_half_up, withholding
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

STRUCTURE = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
     "of": "base", "prorate": True},
    {"code": "ALLOW", "name": "Professional development allowance", "kind": "earning", "method": "fixed",
     "amount_minor": 10000, "category": "allowance:OD"},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution", "method": "formula",
     "expression": "ote * super_guarantee_rate", "category": "super:L"},
]
BASES = {"raise_june": 1_794_000, "raise_march": 1_000_000, "leaver": 315_000, "raise_december": 800_000}


@pytest.fixture(scope="module")
async def school(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "payroll_au", in_process_jobs=True) as rt:
        async with rt.db.write() as s:
            dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("AU"), name="Teaching")
            employees = {}
            for key in BASES:
                employees[key] = await hr.create_employee(
                    s, SYSTEM_ACTOR, first_name=key.replace("_", " ").title(), last_name="Payee",
                    work_email=f"{key}.{unique()}@ex.org", position="Teacher", department_id=dep.id,
                    hire_date=date(2025, 12, 1), employment_type=EmploymentType.FULL_TIME)
            officer = await make_user(s, roles="payroll")
            admin = await make_user(s, roles="admin")
        structure = await invoke(rt, "create_salary_structure", {"code": "AU_M", "name": "Monthly staff",
                                                                 "currency": "AUD", "components": STRUCTURE}, officer)
        contracts = {}
        for key, base in BASES.items():
            contracts[key] = await invoke(rt, "create_employment_contract", {
                "employee_id": employees[key].id, "start_date": "2025-12-01", "base_minor": base,
                "currency": "AUD", "salary_structure_id": structure.salary_structure_id,
                "filing_status": "scale_2"}, officer)
        yield {"rt": rt, "officer": officer, "admin": admin, "employees": employees, "contracts": contracts,
               "runs": {}}


async def pay_month(school, period: str, *, pay: bool = True):
    rt, officer, admin = school["rt"], school["officer"], school["admin"]
    run = await invoke(rt, "create_payroll_run", {"period": period, "currency": "AUD"}, officer)
    job = await invoke(rt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 60}, officer)
    assert job.status == "succeeded", job
    for tool in ("approve_payroll_run", "post_payroll_run") + (("mark_payroll_run_paid",) if pay else ()):
        await released(rt, await invoke(rt, tool, {"run_id": run.run_id}, officer), officer, admin)
    school["runs"][period] = run.run_id
    return await invoke(rt, "get_payroll_run", {"run_id": run.run_id}, officer)


async def slip_of(school, period: str, key: str) -> tuple[Payslip, dict[str, PayslipLine]]:
    employee_id = school["employees"][key].id
    async with school["rt"].db.read() as s:
        slip = (await s.exec(select(Payslip).where(Payslip.run_id == school["runs"][period],
                                                   Payslip.employee_id == employee_id,
                                                   Payslip.reverses_payslip_id == None))).first()  # noqa: E711
        assert slip is not None, f"{key} has no payslip in {period}"
        lines = (await s.exec(select(PayslipLine).where(PayslipLine.payslip_id == slip.id))).all()
    return slip, {ln.code: ln for ln in lines}


async def change_salary(school, key: str, base_minor: int, effective_from: str) -> None:
    rt, officer = school["rt"], school["officer"]
    pending = await invoke(rt, "change_contract_salary", {
        "contract_number": school["contracts"][key].contract_number, "base_minor": base_minor,
        "effective_from": effective_from, "reason": "salary review"}, officer)
    await released(rt, pending, officer, school["admin"])


async def test_m3_a_raise_backdated_into_december_is_paid_as_arrears_in_january(school):
    december = await pay_month(school, "2025-12")
    slip, lines = await slip_of(school, "2025-12", "raise_december")
    assert lines["BASIC"].amount_minor == 800_000 and slip.working_days == 21
    await change_salary(school, "raise_december", 900_000, "2025-12-15")
    await pay_month(school, "2026-01")
    _, lines = await slip_of(school, "2026-01", "raise_december")
    # 100,000 a month more for the 11 working days from 15 December of December's 21: 100,000 x 11/21.
    assert lines["ARR_2025_12"].amount_minor == round_half_up(Fraction(100_000 * 11, 21)) == 52_381
    assert lines["BASIC"].amount_minor == 900_000
    assert december.status == "paid"


async def test_m1_a_raise_inside_a_month_is_paid_pro_rata_and_its_arrears_too(school):
    await pay_month(school, "2026-03")
    await change_salary(school, "raise_march", 1_100_000, "2026-03-16")
    await pay_month(school, "2026-04")
    _, lines = await slip_of(school, "2026-04", "raise_march")
    # March 2026: 22 working days, 12 of them from Monday the 16th: 100,000 x 12/22 = 54,545.45 -> 54,545.
    assert lines["ARR_2026_03"].amount_minor == 54_545
    await pay_month(school, "2026-05")
    await change_salary(school, "raise_june", 1_894_000, "2026-06-16")
    await end_the_leaver(school)
    june = await pay_month(school, "2026-06")
    _, lines = await slip_of(school, "2026-06", "raise_june")
    # 17,940 x 11/22 + 18,940 x 11/22 = 18,440.00 (June 2026: 22 working days, 11 before the 16th).
    assert lines["BASIC"].amount_minor == 1_844_000
    assert june.status == "paid"


async def end_the_leaver(school) -> None:
    rt, officer = school["rt"], school["officer"]
    number = school["contracts"]["leaver"].contract_number
    with pytest.raises(InvalidInput, match="cessation_type"):
        await invoke(rt, "end_employment_contract", {"contract_number": number, "end_date": "2026-06-10",
                                                     "cessation_type": "X", "reason": "resigned"}, officer)
    with pytest.raises(Conflict, match="void them"):
        await invoke(rt, "end_employment_contract", {"contract_number": number, "end_date": "2026-04-10",
                                                     "cessation_type": "V", "reason": "resigned"}, officer)
    pending = await invoke(rt, "end_employment_contract", {"contract_number": number, "end_date": "2026-06-10",
                                                           "cessation_type": "V", "reason": "resigned"}, officer)
    assert pending.preview["after"] == {"end_date": "2026-06-10", "cessation_type": "V", "version_no": 2}
    ended = await released(rt, pending, officer, school["admin"])
    assert ended["end_date"] == "2026-06-10" and ended["cessation_type"] == "V"


async def test_m2_a_termination_stops_pay_and_pays_the_unused_leave(school):
    slip, lines = await slip_of(school, "2026-06", "leaver")
    # Employed 1 to 10 June: 8 of June's 22 working days. 315,000 x 8/22 = 114,545.45 -> 114,545, + 10,000.
    assert lines["BASIC"].amount_minor == 114_545 and lines["ALLOW"].amount_minor == 10_000
    assert lines["BASIC"].amount_minor + lines["ALLOW"].amount_minor == 124_545  # 1,245.45
    # Annual leave accrues 1/13 hour per ordinary hour (FWA s 87): 38 h x 52 / 12 = 164.67 h a month. Posted:
    # December, January, March, April and May (no February run): five months of 12.67 h (each rounded to hundredths
    # when posted) = 63.35 h; June: 8/22 of a
    # month, 164.67 x 8/22 / 13 = 4.606 h. Paid out: 63.35 + 4.606 = 67.96 h at the ordinary rate
    # 315,000 x 12 / (52 x 38) = 1,912.955 cents an hour.
    monthly = Fraction(38 * 52, 12) / 13
    posted = 5 * Fraction(round_half_up(monthly * 100), 100)
    hours = Fraction(round_half_up((posted + monthly * Fraction(8, 22)) * 100), 100)
    assert hours == Fraction(6796, 100)
    rate = Fraction(315_000 * 12, 52 * 38)
    assert lines["UNUSED_ANNUAL"].amount_minor == round_half_up(rate * hours) == 130_004
    assert lines["UNUSED_ANNUAL"].hours_x100 == 6796 and lines["UNUSED_ANNUAL"].category == "gross"
    # ATO Schedule 7, normal termination: the marginal rate method on the normal month's 3,150.00.
    table = bundled_tax_tables().pick("AU_PAYGW", on=date(2026, 6, 30), filing_status="scale_2")
    normal = withholding(table, taxable_minor=315_000, frequency="monthly").amount_minor
    topped = withholding(table, taxable_minor=315_000 + 130_004 // 12 // 100 * 100, frequency="monthly").amount_minor
    assert lines["PAYG_TERMINATION"].amount_minor == (topped - normal) * 12
    assert json.loads(slip.leave)["paid_out"] == {"ANNUAL": "67.96"}
    july = await pay_month(school, "2026-07")
    assert july.employees == 3, "the leaver is not paid after June"


async def test_m3_the_year_to_date_starts_again_on_1_july(school):
    june, _ = await slip_of(school, "2026-06", "raise_march")
    july, _ = await slip_of(school, "2026-07", "raise_march")
    june_ytd, july_ytd = json.loads(june.ytd), json.loads(july.ytd)
    assert july_ytd["gross_minor"] == july.gross_minor, "the 2026-27 financial year starts with July"
    async with school["rt"].db.read() as s:
        fy_slips = (await s.exec(select(Payslip).where(
            Payslip.employee_id == school["employees"]["raise_march"].id, Payslip.pay_date >= date(2025, 7, 1),
            Payslip.pay_date <= date(2026, 6, 30)))).all()
    assert june_ytd["gross_minor"] == sum(p.gross_minor for p in fy_slips) > june.gross_minor


async def test_m4_reversing_a_paid_run_keeps_the_payment_owed_back_like_a_void(school):
    rt, officer = school["rt"], school["officer"]
    july = await invoke(rt, "get_payroll_run", {"run_id": school["runs"]["2026-07"]}, officer)
    async with rt.db.read() as s:
        before = {r.account.code: r.balance for r in (await finance.trial_balance(s)).rows}
    pending = await invoke(rt, "reverse_payroll_run", {"run_id": july.run_id, "on": "2026-07-31",
                                                       "reason": "wrong month's rates"}, officer)
    assert pending.preview["reversal"]["paid_net_owed_back"] == july.net_minor
    await released(rt, pending, officer, school["admin"])
    async with rt.db.read() as s:
        tb = await finance.trial_balance(s)
        after = {r.account.code: r.balance for r in tb.rows}
    assert tb.balanced
    assert after["1010"] == before["1010"], "the bank payment is not reversed: that money did not come back"
    assert after["2100"] - before["2100"] == -july.net_minor, "July's net pay is owed back by the staff"
    assert before["5100"] - after["5100"] == july.gross_minor


async def test_the_year_to_date_summed_in_the_database_is_the_sum_over_every_payslip_and_line(school):
    """_ytd_before (sums worked in SQL) against the payslips and lines of the financial year added up one by one:
    June 2026 (December to May's payslips, arrears and a final pay) and August 2026 (July, paid then reversed)."""
    rt, officer = school["rt"], school["officer"]
    august = await invoke(rt, "create_payroll_run", {"period": "2026-08", "currency": "AUD"}, officer)
    employee_ids = sorted(e.id for e in school["employees"].values())
    counted = ("done", "paid", "void")
    async with rt.db.read() as s:
        for run_id, fy_start in ((school["runs"]["2026-06"], date(2025, 7, 1)), (august.run_id, date(2026, 7, 1))):
            run = await payroll.get_run(s, run_id)
            expected: dict[int, YearToDate] = {}
            slips = (await s.exec(select(Payslip).where(
                col(Payslip.employee_id).in_(employee_ids), col(Payslip.status).in_(counted),
                Payslip.run_id != run.id, col(Payslip.pay_date) >= fy_start,
                col(Payslip.pay_date) <= run.pay_date))).all()
            for slip in sorted(slips, key=lambda p: p.id):
                lines = (await s.exec(select(PayslipLine).where(PayslipLine.payslip_id == slip.id))).all()
                before = expected.get(slip.employee_id, YearToDate())
                components = dict(before.components)
                for line in lines:
                    components[line.code] = components.get(line.code, 0) + line.amount_minor
                taxable = json.loads(slip.ytd or "{}").get("period_taxable_minor", slip.gross_minor)
                expected[slip.employee_id] = YearToDate(
                    before.gross_minor + slip.gross_minor, before.taxable_minor + taxable,
                    before.tax_minor + sum(ln.amount_minor for ln in lines if ln.kind == "tax"),
                    before.net_minor + slip.net_minor, components)
            got = await payroll._ytd_before(s, employee_ids, run, fy_start)
            assert got == expected and len(got) >= 3
    # A payslip whose record gives taxable pay other than its gross (a pre-tax deduction) counts that, in a write
    # rolled back.
    june = await payroll_run(rt, school["runs"]["2026-06"])
    with pytest.raises(_RolledBack):
        async with rt.db.write() as s:
            first = (await s.exec(select(Payslip).where(col(Payslip.status).in_(counted), Payslip.run_id != june.id,
                                                        col(Payslip.pay_date) >= date(2025, 7, 1),
                                                        col(Payslip.pay_date) <= june.pay_date)
                                  .order_by(col(Payslip.id)))).first()
            assert first is not None
            before = (await payroll._ytd_before(s, [first.employee_id], june, date(2025, 7, 1)))[first.employee_id]
            recorded = json.loads(first.ytd)["period_taxable_minor"]
            await s.exec(update(Payslip).where(col(Payslip.id) == first.id).values(  # type: ignore[call-overload]
                ytd=json.dumps({**json.loads(first.ytd), "period_taxable_minor": recorded - 12_345})))
            after = (await payroll._ytd_before(s, [first.employee_id], june, date(2025, 7, 1)))[first.employee_id]
            assert (after.taxable_minor, after.gross_minor) == (before.taxable_minor - 12_345, before.gross_minor)
            raise _RolledBack


class _RolledBack(Exception):
    """Raised to roll a test's write back."""


async def payroll_run(rt, run_id: int):
    async with rt.db.read() as s:
        return await payroll.get_run(s, run_id)
