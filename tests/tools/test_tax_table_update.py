"""Next year's tax tables, the admin's documented path (README "Payroll: keeping tax tables and rates current";
issue 18, item 8), end to end through tools.invoke and the gate: before the table is added a payslip paid on or
after 1 July 2027 cannot be calculated (the bundled tables end on 30 June 2027); add_tax_table adds a 2027-28
AU_PAYGW document, an admin other than the requester approves it, and then a payslip paid on or after 1 July 2027
withholds by it while one paid before still withholds by the bundled 2026-27 table. Overlapping and malformed
documents are refused with errors naming what is wrong, and nothing is written.

The 2027-28 document here is SYNTHETIC (a test fixture, labelled so in its source): the 2026-27 schedule with
scale 2 replaced by one flat band, y = 0.1 x, so the expected figures are easy to check by hand. It is not what the
ATO will publish."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import select

from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import InvalidInput, PermissionDenied
from domain.payroll.models import TaxTableRecord
from domain.payroll.tax import load_tax_tables, withholding
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tests.tools.test_payroll import payslips_of
from tools.invoke import invoke

BUNDLED = Path(__file__).resolve().parents[2] / "domain/payroll/tables/au_ato_schedule_1.json"
SYNTHETIC = "SYNTHETIC TEST TABLE for 2027-28 (not ATO figures): scale 2 is one flat band y = 0.1 x"
STRUCTURE = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100, "of": "base"},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
]
BASE = 500000  # 5,000.00 AUD a month, scale 2 (tax-free threshold claimed)
# ATO Schedule 1 (NAT 1004), "Working out the weekly earnings": monthly 5,000.00 x 3 / 13 = 1,153.846..., cents
# ignored, plus 99 cents: x = 1,153.99.
# 2026-27 scale 2 (bundled), band less than 1,282: y = 0.3227 x - 185.1935 = 187.199073 -> 187 (nearest dollar);
# monthly = 187 x 13 / 3 = 810.33 -> 810 (nearest dollar).
BUNDLED_PAYG = 81000
# Synthetic 2027-28 scale 2: y = 0.1 x = 115.399 -> 115; monthly = 115 x 13 / 3 = 498.33 -> 498.
SYNTHETIC_PAYG = 49800


def next_year(**changes) -> dict:
    """The synthetic 2027-28 AU_PAYGW document: the bundled document's shape and method, one period."""
    document = json.loads(BUNDLED.read_text())
    period = copy.deepcopy(next(t for t in document["tables"] if t["effective_from"] == "2026-07-01"))
    period.update(effective_from="2027-07-01", effective_to="2028-06-30", source=SYNTHETIC,
                  citation={"publication": SYNTHETIC, "url": "https://example.org/not-the-ato"})
    period["filing_statuses"]["scale_2"]["bands"] = [{"less_than": None, "a": "0.1000", "b": "0"}]
    period.update(changes)
    return dict(document, tables=[period])


@pytest.fixture(scope="module")
async def trt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "tax_table_update", in_process_jobs=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def office(trt):
    """One employee on 5,000.00 AUD a month (scale 2) from 1 June 2027, a payroll officer and an admin."""
    async with trt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("TX"), name="Office")
        employee = await hr.create_employee(
            s, SYSTEM_ACTOR, first_name="Terry", last_name="Taxed", work_email=f"terry.{unique()}@ex.org",
            position="Bursar", department_id=dep.id, hire_date=date(2027, 6, 1),
            employment_type=EmploymentType.FULL_TIME)
        officer = await make_user(s, roles="payroll")
        admin = await make_user(s, roles="admin")
    structure = await invoke(trt, "create_salary_structure", {"code": "OFFICE", "name": "Office staff",
                                                              "currency": "AUD", "components": STRUCTURE}, officer)
    await invoke(trt, "create_employment_contract", {
        "employee_id": employee.id, "start_date": "2027-06-01", "base_minor": BASE, "currency": "AUD",
        "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, officer)
    return {"officer": officer, "admin": admin}


async def added_rows(trt) -> list[TaxTableRecord]:
    async with trt.db.read() as s:
        return list((await s.exec(select(TaxTableRecord).order_by(TaxTableRecord.id))).all())


async def calculate(trt, office, period: str, pay_date: str):
    run = await invoke(trt, "create_payroll_run", {"period": period, "pay_date": pay_date, "currency": "AUD"},
                       office["officer"])
    job = await invoke(trt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 30}, office["officer"])
    return run.run_id, job


async def payg_of(trt, run_id: int) -> int:
    ((_, lines),) = await payslips_of(trt, run_id)
    return next(ln.amount_minor for ln in lines if ln.code == "PAYG")


async def cancel(trt, office, run_id: int) -> None:
    pending = await invoke(trt, "cancel_payroll_run", {"run_id": run_id}, office["officer"])
    await released(trt, pending, office["officer"])


def test_the_expected_figures_follow_the_schedule_s_formula():
    """The hand-computed figures above, checked against the table loader and the withholding steps."""
    bundled = next(t for t in load_tax_tables(json.loads(BUNDLED.read_text()))
                   if t.filing_status == "scale_2" and t.effective_from == date(2026, 7, 1))
    synthetic = next(t for t in load_tax_tables(next_year()) if t.filing_status == "scale_2")
    assert withholding(bundled, taxable_minor=BASE, frequency="monthly").amount_minor == BUNDLED_PAYG
    assert withholding(synthetic, taxable_minor=BASE, frequency="monthly").amount_minor == SYNTHETIC_PAYG


async def test_a_pay_date_after_the_bundled_tables_needs_next_year_s_table(trt, office):
    run_id, job = await calculate(trt, office, "2027-07", "2027-07-28")
    assert job.status == "failed"
    assert "AU_PAYGW" in job.error and "2027-07-28" in job.error, job.error
    await cancel(trt, office, run_id)


@pytest.mark.parametrize(("document", "says"), [
    # Overlapping the bundled 2026-27 table (to 30 June 2027) for the same code and statuses.
    (lambda: next_year(effective_from="2027-06-01"),
     "AU_PAYGW scale_1 2026-07-01..2027-06-30 and AU_PAYGW scale_1 2027-06-01..2028-06-30 are both in force on "
     "2027-06-01; end the earlier one the day before"),
    # Malformed: a band without its coefficient, a coefficient that is not a number or a float, limits that fall,
    # a closed last band, a date that is not ISO, a period ending before it starts, another currency, no period.
    (lambda: _scale_2(next_year(), [{"less_than": "100", "a": "0.1"}, {"less_than": None, "a": "0.2", "b": "10"}]),
     "tax tables AU_PAYGW from 2027-07-01 scale_2: 'b' is missing"),
    (lambda: _scale_2(next_year(), [{"less_than": None, "a": "ten percent", "b": "0"}]), "ten percent"),
    (lambda: _scale_2(next_year(), [{"less_than": None, "a": 0.1, "b": "0"}]), "not float 0.1"),
    (lambda: _scale_2(next_year(), [{"less_than": "500", "a": "0.1", "b": "0"}, {"less_than": "400", "a": "0.2",
                                                                                   "b": "50"},
                                    {"less_than": None, "a": "0.3", "b": "90"}]), "band limits must rise"),
    (lambda: _scale_2(next_year(), [{"less_than": "500", "a": "0.1", "b": "0"}]), "the last band is open"),
    (lambda: next_year(effective_from="1 July 2027"), "is not a date; write YYYY-MM-DD"),
    (lambda: next_year(effective_to="2027-06-30"), "effective_to 2027-06-30 is before effective_from 2027-07-01"),
    (lambda: dict(next_year(), currency="NZD"), "AU_PAYGW has tables in AUD, NZD; one code is one currency"),
    (lambda: dict(next_year(), tables=[]), "tables must be a non-empty list"),
])
async def test_overlapping_or_malformed_documents_are_refused_clearly(trt, office, document, says):
    before = await added_rows(trt)
    with pytest.raises(InvalidInput) as info:
        await invoke(trt, "add_tax_table", {"document": document()}, office["officer"])
    assert says in info.value.message, info.value.message
    assert await added_rows(trt) == before


def _scale_2(document: dict, bands: list[dict]) -> dict:
    document["tables"][0]["filing_statuses"]["scale_2"]["bands"] = bands
    return document


async def test_next_year_s_table_is_added_with_four_eyes_and_pays_from_1_july_2027(trt, office):
    officer, admin = office["officer"], office["admin"]
    pending = await invoke(trt, "add_tax_table", {"document": next_year()}, officer)
    assert pending.level == "approve" and pending.preview["periods"] == [["2027-07-01", "2028-06-30"]]
    assert pending.preview["sources"] == [SYNTHETIC]
    assert await added_rows(trt) == []  # previewed: nothing written
    await invoke(trt, "confirm_action", {"action_id": pending.action_id}, officer)
    with pytest.raises(PermissionDenied):
        await invoke(trt, "approve_action", {"action_id": pending.action_id}, officer)
    done = await invoke(trt, "approve_action", {"action_id": pending.action_id}, admin)
    assert done.status == "executed", done
    listed = (await invoke(trt, "list_tax_tables", {"limit": 100}, officer)).items
    added = [t for t in listed if t.origin == "added"]
    assert {(t.effective_from, t.effective_to) for t in added} == {(date(2027, 7, 1), date(2028, 6, 30))}
    assert all(t.source == SYNTHETIC for t in added)
    rows = await added_rows(trt)
    assert [(r.code, r.effective_from, r.effective_to) for r in rows] == [
        ("AU_PAYGW", date(2027, 7, 1), date(2028, 6, 30))]

    # Paid on 30 June 2027: the bundled 2026-27 table. Paid on 1 July 2027 (the same June period): the new one.
    june, job = await calculate(trt, office, "2027-06", "2027-06-30")
    assert job.status == "succeeded", job
    assert await payg_of(trt, june) == BUNDLED_PAYG
    await cancel(trt, office, june)
    june_late, job = await calculate(trt, office, "2027-06", "2027-07-01")
    assert job.status == "succeeded", job
    assert await payg_of(trt, june_late) == SYNTHETIC_PAYG
    july, job = await calculate(trt, office, "2027-07", "2027-07-28")
    assert job.status == "succeeded", job
    assert await payg_of(trt, july) == SYNTHETIC_PAYG

    # Adding the same year again overlaps the table just added: refused, naming the code.
    with pytest.raises(InvalidInput, match="AU_PAYGW"):
        await invoke(trt, "add_tax_table", {"document": next_year()}, officer)
    assert await added_rows(trt) == rows
