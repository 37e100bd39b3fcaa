"""STP Phase 2 pay event data and finalisation through the tools (issue 18, item 7): the year to date resets on
1 July (the AU financial year), a voided payslip's reversal nets it out, pages of payees, masked TFNs in answers,
and the JSON and CSV exports read back field by field. On a database of its own; payslips written with their
categories and posted by the payroll's posting (tests/tools/test_remittances.py).

Hand figures: E1 is paid E1_LINES (gross 6,000.00, salary sacrificed 200.00, PAYG 1,300.00, SG 720.00) on
25 June 2026, 23 July 2026 and 27 August 2026; E2 is paid E2_LINES (gross 4,000.00, PAYG 600.00, SG 480.00, RESC
100.00) on the same days. STP gross is after salary sacrifice: E1 5,800.00 a pay.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlmodel import select

from domain.documents.models import Document
from domain.kernel.errors import InvalidInput, NotFound
from domain.payroll.models import EmploymentContract, PayslipLine
from tests.conftest import own_runtime
from tests.tools.test_remittances import E1_LINES, E2_LINES, make_staff, posted_run, void
from tools.invoke import invoke


@pytest.fixture(scope="module")
async def srt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "stp", in_process_jobs=True) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def year(srt):
    """Three pays across 1 July 2026 for two employees; E1's July payslip is voided."""
    staff = await make_staff(srt)
    june, _ = await posted_run(srt, staff, date(2026, 6, 25), [E1_LINES, E2_LINES])
    july, july_slips = await posted_run(srt, staff, date(2026, 7, 23), [E1_LINES, E2_LINES])
    august, _ = await posted_run(srt, staff, date(2026, 8, 27), [E1_LINES, E2_LINES])
    return {"staff": staff, "june": june, "july": july, "august": august, "july_slips": july_slips}


def by_code(report) -> dict:
    return {p.employee_code: p for p in report.payees}


async def test_the_year_to_date_resets_on_1_july_and_a_void_nets_out(srt, year):
    staff = year["staff"]
    e1, e2 = staff["codes"]
    june = by_code(await invoke(srt, "get_stp_pay_event", {"run_id": year["june"]}, staff["officer"]))
    july = await invoke(srt, "get_stp_pay_event", {"run_id": year["july"]}, staff["officer"])
    assert (july.financial_year, july.year_from, july.year_to, july.final) == ("2026-27", date(2026, 7, 1),
                                                                            date(2026, 7, 23), False)
    # June (2025-26) holds one pay; July starts the new year with one pay, not two.
    assert june[e1].ytd["gross_minor"] == 580_000 and by_code(july)[e1].ytd["gross_minor"] == 580_000
    august = by_code(await invoke(srt, "get_stp_pay_event", {"run_id": year["august"]}, staff["officer"]))
    assert august[e1].ytd["gross_minor"] == 2 * 580_000 and august[e2].ytd["gross_minor"] == 2 * 400_000
    assert august[e1].ytd["payg_withheld_minor"] == 2 * 130_000
    assert august[e1].ytd["super_liability_minor"] == 2 * 72_000
    assert august[e1].ytd["salary_sacrifice_minor"] == {"S": 2 * 20_000}
    assert august[e2].ytd["resc_minor"] == 2 * 10_000
    assert august[e1].ytd["ote_minor"] == 2 * 600_000  # OTE counts the sacrificed amount (SGAA s 15A)

    await void(srt, staff, year["july_slips"][0], date(2026, 8, 28))
    after = by_code(await invoke(srt, "get_stp_pay_event", {"run_id": year["august"]}, staff["officer"]))
    assert after[e1].ytd["gross_minor"] == 580_000 and after[e1].ytd["payg_withheld_minor"] == 130_000
    assert after[e2].ytd == august[e2].ytd  # E2 untouched
    final = by_code(await invoke(srt, "get_stp_finalisation", {"financial_year": "2026-27"}, staff["officer"]))
    assert final[e1].ytd == after[e1].ytd and final[e2].ytd == after[e2].ytd
    last_year = await invoke(srt, "get_stp_finalisation", {"financial_year": "2025-26"}, staff["officer"])
    assert last_year.final and by_code(last_year)[e1].ytd["gross_minor"] == 580_000


async def test_payees_come_a_page_at_a_time_with_the_tfn_masked(srt, year):
    staff = year["staff"]
    first = await invoke(srt, "get_stp_pay_event", {"run_id": year["june"], "limit": 1}, staff["officer"])
    assert len(first.payees) == 1 and first.next_cursor is not None
    second = await invoke(srt, "get_stp_pay_event", {"run_id": year["june"], "limit": 1,
                                                     "cursor": first.next_cursor}, staff["officer"])
    assert len(second.payees) == 1 and second.next_cursor is None
    assert [first.payees[0].employee_code, second.payees[0].employee_code] == staff["codes"]
    payee = first.payees[0].payee
    assert payee["payroll_id"] == staff["codes"][0] and payee["family_name"] == "Staff0"
    assert payee["commencement_date"] == "2020-01-06" and payee["cessation_date"] is None
    assert payee["tfn"] is None  # no TFN recorded: nothing to mask (the file says 000000000)


async def test_exports_are_documents_read_back_field_by_field(srt, year):
    staff = year["staff"]
    e1 = staff["codes"][0]
    out = await invoke(srt, "export_stp_pay_event", {"run_id": year["june"], "format": "csv"}, staff["officer"])
    assert (out.format, out.payees) == ("csv", 2) and out.filename.endswith(".csv")
    async with srt.db.read() as s:
        doc = await s.get(Document, out.document_id)
    assert (doc.kind, doc.size) == ("stp_pay_event", out.size)
    rows = list(csv.reader(io.StringIO(doc.data.decode())))
    assert rows[0] == ["payroll_id", "field_group", "code", "amount_minor", "amount", "hours", "value"]
    mine = {(r[1], r[2]): r for r in rows[1:] if r[0] == e1}
    assert mine[("payee", "tfn")][6] == "000000000"
    assert mine[("gross", "")][3:5] == ["580000", "5800.00"]
    assert mine[("payg_withheld", "")][3:5] == ["130000", "1300.00"]
    assert mine[("salary_sacrifice", "S")][3:5] == ["20000", "200.00"]

    out = await invoke(srt, "export_stp_finalisation", {"financial_year": "2025-26"}, staff["officer"])
    async with srt.db.read() as s:
        doc = await s.get(Document, out.document_id)
    data = json.loads(doc.data)
    assert (doc.kind, data["kind"], data["final"], data["financial_year"]) == ("stp_finalisation", "finalisation",
                                                                              True, "2025-26")
    assert {p["employee_code"]: p["ytd"]["gross_minor"] for p in data["payees"]} == {e1: 580_000,
                                                                                     staff["codes"][1]: 400_000}


async def test_bad_references_and_years_are_refused(srt, year):
    staff = year["staff"]
    with pytest.raises(NotFound):
        await invoke(srt, "get_stp_pay_event", {"run_id": 999_999}, staff["officer"])
    with pytest.raises(InvalidInput) as info:
        await invoke(srt, "get_stp_finalisation", {"financial_year": "2026-28"}, staff["officer"])
    assert info.value.field == "financial_year"
    with pytest.raises(InvalidInput):
        await invoke(srt, "export_stp_pay_event", {"run_id": year["june"], "format": "xml"}, staff["officer"])
    empty = await invoke(srt, "get_stp_finalisation", {"financial_year": "2019-20"}, staff["officer"])
    assert empty.payees == [] and empty.next_cursor is None


async def test_a_ceased_employee_reports_the_cessation_date_and_type(srt, year):
    staff = year["staff"]
    async with srt.db.write() as s:
        contract = await s.get(EmploymentContract, staff["contracts"][1])
        contract.end_date, contract.cessation_type = date(2026, 8, 14), "V"
        s.add(contract)
    event = by_code(await invoke(srt, "get_stp_pay_event", {"run_id": year["august"]}, staff["officer"]))
    assert (event[staff["codes"][1]].payee["cessation_date"], event[staff["codes"][1]].payee["cessation_type"]) == (
        "2026-08-14", "V")
    july = by_code(await invoke(srt, "get_stp_pay_event", {"run_id": year["july"]}, staff["officer"]))
    assert july[staff["codes"][1]].payee["cessation_date"] is None  # not yet ceased on 23 July
    assert event[staff["codes"][0]].payee["cessation_type"] is None


async def test_leave_paid_is_reported_by_type_with_its_hours_and_a_void_takes_it_out(srt):
    # A day of annual leave, 7.6 h at 60.00 an hour = 456.00, and its 17.5 % loading 79.80 (paid_leave:O, the
    # guidelines' "Paid leave": O for annual, personal and long service leave taken, loading included).
    staff = await make_staff(srt, 1)
    lines = [("earning", "gross", 400_000), ("leave", "paid_leave:O", 45_600), ("leave", "paid_leave:O", 7_980),
             ("tax", "payg", 90_000)]
    run_id, (slip,) = await posted_run(srt, staff, date(2026, 9, 24), [lines], hours={0: {1: 760}})
    async with srt.db.write() as s:  # the leave lines' codes as the payroll writes them
        rows = (await s.exec(select(PayslipLine).where(PayslipLine.payslip_id == slip)
                             .order_by(PayslipLine.position))).all()
        rows[1].code, rows[2].code = "LEAVE_ANNUAL", "LOADING_ANNUAL"
        s.add_all(rows)
    event = await invoke(srt, "get_stp_pay_event", {"run_id": run_id}, staff["officer"])
    ytd = event.payees[0].ytd
    assert ytd["leave_paid"] == {"ANNUAL": {"hours": "7.6", "amount_minor": 53_580}}
    assert ytd["paid_leave_minor"] == {"O": 53_580} and ytd["gross_minor"] == 400_000
    assert ytd["ote_minor"] == 400_000 + 53_580
    await void(srt, staff, slip, date(2026, 9, 25))
    after = (await invoke(srt, "get_stp_pay_event", {"run_id": run_id}, staff["officer"])).payees[0].ytd
    assert (after["leave_paid"], after["paid_leave_minor"], after["gross_minor"]) == ({}, {}, 0)
