"""Remittances and STP over a run the payroll engine calculated (issue 18, items 5 and 7), with HR's payment
details (super funds, TFNs) read through their keys: the super remittance per fund and member, field by field in
the SAFF file; PAYG; the payables cleared in the ledger; the STP pay event's figures and masked TFN. Own database.

Hand figures for July 2026 (a full month, pay date 28 July 2026, super guarantee 12 % from 1 July 2025: SGAA 1992
s 19(2)), the demo's structure (basic, 100.00 allowance OD, 5 % salary sacrifice S of basic, PAYG, union fees
min(30.00, 0.5 % of gross) F, super 12 % of OTE):
    E1: basic 6,500.00, allowance 100.00 -> gross 6,600.00; salary sacrifice 325.00; union min(30.00, 33.00) =
        30.00; super 12 % x 6,600.00 = 792.00; STP gross (salary and wages: the allowance is reported on its own,
        after sacrifice) 6,500.00 - 325.00 = 6,175.00; OTE 6,600.00 (the allowance is OTE: SGR 2009/2).
    E2: basic 4,800.00, allowance 100.00 -> gross 4,900.00; salary sacrifice 240.00; union min(30.00, 24.50) =
        24.50; super 12 % x 4,900.00 = 588.00.
    Super remitted: 792.00 + 325.00 + 588.00 + 240.00 = 1,945.00; 2120 keeps the union fees 54.50.
"""

from __future__ import annotations

import base64
import csv
import io
from datetime import date

import pytest
from pydantic import SecretStr
from sqlmodel import select

from domain.documents.models import Document
from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.payroll.models import Payslip, PayslipLine
from domain.payroll.remittance import SAFF_AT
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

KEYS = "k1:" + base64.urlsafe_b64encode(bytes(range(32))).decode()
COMPONENTS = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
     "of": "base", "prorate": True},
    {"code": "ALLOW", "name": "Professional development allowance", "kind": "earning", "method": "fixed",
     "amount_minor": 10000, "category": "allowance:OD"},
    {"code": "SALSAC", "name": "Salary sacrifice (super)", "kind": "deduction", "method": "percentage",
     "percent": 5, "of": "BASIC", "pre_tax": True, "category": "salary_sacrifice:S"},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "UNION", "name": "Union fees", "kind": "deduction", "method": "formula",
     "expression": "min(3000, gross * 0.005)", "category": "deduction:F"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution",
     "method": "formula", "expression": "ote * super_guarantee_rate", "category": "super:L"},
]
DETAILS = [
    {"bsb": "062-111", "account_number": "987654321", "account_name": "ANN FUNDED", "tfn": "123 456 782",
     "date_of_birth": "1985-03-14", "address_line": "1 George St", "address_suburb": "Sydney",
     "address_state": "NSW", "address_postcode": "2000", "super_fund_name": "AustralianSuper",
     "super_fund_abn": "51 824 753 556", "super_fund_usi": "STA0100AU", "super_member_number": "1234567",
     "employment_basis": "F", "tax_treatment": "RTXXXX"},
    {"bsb": "062-222", "account_number": "123456789", "account_name": "BEN FUNDED", "super_fund_name": "Hostplus",
     "super_fund_usi": "HOS0100AU", "super_member_number": "7654321", "employment_basis": "P"},
]


@pytest.fixture(scope="module")
async def ert(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "payroll_reports_e2e", in_process_jobs=True,
                           data_keys=SecretStr(KEYS)) as runtime:
        yield runtime


async def through(ert, people, tool: str, args: dict) -> dict:
    pending = await invoke(ert, tool, args, people["officer"])
    return await released(ert, pending, people["officer"], people["admin"])


@pytest.fixture(scope="module")
async def paid(ert):
    """Two employees with payment details, paid for July 2026 by the engine: calculated, approved, posted, paid."""
    async with ert.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("E2E"), name="Teaching")
        employees = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=name, last_name="Funded", work_email=f"{name}.{unique()}@ex.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for name in ("Ann", "Ben")]
        officer = await make_user(s, roles="payroll")
        admin = await make_user(s, roles="admin")
    people = {"employees": employees, "officer": officer, "admin": admin}
    for employee, details in zip(employees, DETAILS, strict=True):
        await through(ert, people, "set_employee_payment_details", {"employee_id": employee.id, **details})
    structure = await invoke(ert, "create_salary_structure", {"code": "E2E", "name": "Teachers", "currency": "AUD",
                                                              "components": COMPONENTS}, officer)
    for employee, base in zip(employees, (650_000, 480_000), strict=True):
        await invoke(ert, "create_employment_contract", {
            "employee_id": employee.id, "start_date": "2026-01-01", "base_minor": base, "currency": "AUD",
            "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, officer)
    run = await invoke(ert, "create_payroll_run", {"period": "2026-07", "pay_date": "2026-07-28",
                                                   "currency": "AUD"}, officer)
    job = await invoke(ert, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 60}, officer)
    assert job.status == "succeeded", job
    for tool in ("approve_payroll_run", "post_payroll_run", "mark_payroll_run_paid"):
        await through(ert, people, tool, {"run_id": run.run_id})
    async with ert.db.read() as s:
        slips = (await s.exec(select(Payslip).where(Payslip.run_id == run.run_id).order_by(Payslip.id))).all()
        lines = {slip.employee_id: {ln.code: ln.amount_minor for ln in (await s.exec(
            select(PayslipLine).where(PayslipLine.payslip_id == slip.id))).all()} for slip in slips}
    return {**people, "run_id": run.run_id, "lines": lines}


async def test_the_engines_lines_are_remitted_per_fund_and_member_and_clear_the_payables(ert, paid):
    ann, ben = paid["employees"]
    assert {code: paid["lines"][ann.id][code] for code in ("BASIC", "ALLOW", "SALSAC", "UNION", "SUPER")} == {
        "BASIC": 650_000, "ALLOW": 10_000, "SALSAC": 32_500, "UNION": 3_000, "SUPER": 79_200}
    assert {code: paid["lines"][ben.id][code] for code in ("SALSAC", "UNION", "SUPER")} == {
        "SALSAC": 24_000, "UNION": 2_450, "SUPER": 58_800}
    done = await through(ert, paid, "remit_super", {"pay_date_from": "2026-07-28", "pay_date_to": "2026-07-28",
                                                    "paid_on": "2026-08-03"})
    assert done["total_minor"] == 194_500
    assert sorted((f["name"], f["usi"], f["total_minor"], f["members"]) for f in done["funds"]) == [
        ("AustralianSuper", "STA0100AU", 111_700, 1), ("Hostplus", "HOS0100AU", 82_800, 1)]
    async with ert.db.read() as s:
        text = (await s.get(Document, done["csv_document_id"])).data.decode()
    rows = {r[SAFF_AT["payroll_number"]]: r for r in list(csv.reader(io.StringIO(text)))[3:]}
    a = rows[ann.code]
    assert [a[SAFF_AT[k]] for k in ("fund_abn", "fund_usi", "fund_name", "tfn", "family_name", "given_name",
                                    "birth_date", "address_1", "locality", "postcode", "state", "member_number",
                                    "super_guarantee", "salary_sacrifice", "payment_amount")] == [
        "51824753556", "STA0100AU", "AustralianSuper", "123456782", "Funded", "Ann", "1985-03-14", "1 George St",
        "Sydney", "2000", "NSW", "1234567", "792.00", "325.00", "1117.00"]
    b = rows[ben.code]
    assert (b[SAFF_AT["fund_usi"]], b[SAFF_AT["tfn"]], b[SAFF_AT["super_guarantee"]],
            b[SAFF_AT["salary_sacrifice"]]) == ("HOS0100AU", "", "588.00", "240.00")

    payg_total = paid["lines"][ann.id]["PAYG"] + paid["lines"][ben.id]["PAYG"]
    payg = await through(ert, paid, "remit_payg", {"pay_date_from": "2026-07-01", "pay_date_to": "2026-07-31",
                                                   "paid_on": "2026-08-21"})
    assert payg["total_minor"] == payg_total
    async with ert.db.read() as s:
        balances = {code: await finance.account_balance(s, (await finance.find_account_by_code(s, code)).id)
                    for code in ("2110", "2120", "2130", "2100")}
    # PAYG and super cleared; 2120 keeps the union fees (3,000 + 2,450), net pay was paid when the run was.
    assert balances == {"2110": 0, "2120": 5_450, "2130": 0, "2100": 0}
    report = await invoke(ert, "get_remittance_report", {"pay_date_from": "2026-07-01", "pay_date_to": "2026-07-31"},
                          paid["officer"])
    assert (report.withheld_outstanding_minor, report.super_outstanding_minor) == (0, 0)
    assert all(p.ledger_agrees and p.cleared for p in report.payables)


async def test_the_stp_pay_event_carries_the_engines_figures_and_masks_the_tfn(ert, paid):
    ann, _ = paid["employees"]
    event = await invoke(ert, "get_stp_pay_event", {"run_id": paid["run_id"]}, paid["officer"])
    payee = {p.employee_code: p for p in event.payees}[ann.code]
    assert payee.payee["tfn"] == "*** *** 782" and payee.payee["employment_basis"] == "F"
    assert payee.payee["tax_treatment"] == "RTXXXX"
    ytd = payee.ytd
    assert (ytd["gross_minor"], ytd["allowances_minor"], ytd["salary_sacrifice_minor"]) == (
        650_000 - 32_500, {"OD": 10_000}, {"S": 32_500})
    assert (ytd["deductions_minor"], ytd["super_liability_minor"], ytd["ote_minor"]) == ({"F": 3_000}, 79_200,
                                                                                         660_000)
    assert ytd["payg_withheld_minor"] == paid["lines"][ann.id]["PAYG"]
    out = await invoke(ert, "export_stp_pay_event", {"run_id": paid["run_id"], "format": "csv"}, paid["officer"])
    async with ert.db.read() as s:
        rows = list(csv.reader(io.StringIO((await s.get(Document, out.document_id)).data.decode())))
    assert [ann.code, "payee", "tfn", "", "", "", "123456782"] in rows
