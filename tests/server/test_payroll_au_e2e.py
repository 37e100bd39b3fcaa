"""Issue 18's acceptance, end to end over MCP (Streamable HTTP, API keys): Australian payroll a school can run.

An admin hires Pat, paid fortnightly (a FORTNIGHTLY calendar from Monday 1 June 2026, Victoria's public holidays,
paid two days before each period ends) on 98,800.00 a year with a 17.5 % annual leave loading, a 5 % salary
sacrifice to super and the super guarantee at the dated rate on ordinary time earnings. HR records an opening
balance of 76 hours of annual leave and approves leave from Friday 5 to Tuesday 9 June: two working days, since
Monday 8 June is the King's Birthday in Victoria. The payroll agent pays the fortnight through the four-eyes gate.
Pat gets a raise to 104,000.00 from Monday 22 June and resigns on Friday 26 June; the second fortnight pays the
blended salary, the unused annual leave and its loading with ATO Schedule 7 withholding. Super and PAYG are
remitted; the ledger balances and the payables are cleared; the ABA bank file and the STP Phase 2 pay event are
checked field by field against figures worked out by hand here:

- hourly rate 98,800 / (52 x 38) = 50.00; fortnight 98,800 / 26 = 3,800.00; 9 working days (10 less 8 June);
- leave 15.2 h x 50.00 = 760.00, loading 133.00; basic (3,800 - 760) x 9/9 = 3,040.00; salary sacrifice 152.00;
  gross 3,933.30; super 12 % x 3,933.30 = 471.96; PAYG from Schedule 1 (fortnightly, scale 2) on 3,781.30;
- second fortnight: 3,800 x 5/10 + 4,000 x 5/10 = 3,900.00; salary sacrifice 195.00; unused annual leave
  76 + 5.85 - 15.2 + 76/13 = 72.50 h at 104,000 / 1,976 an hour = 3,815.79, loading 667.76; Schedule 7's marginal
  method on normal earnings of 4,000.00.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from fractions import Fraction
from typing import Any

import pytest
from mcp import Client

from domain.kernel.crypto import generate_key
from domain.payroll.tax import bundled_tax_tables, round_half_up, withholding
from tests.server.e2e_helpers import (
    KeySpec,
    call_ok,
    create_keys,
    e2e_database,
    http_clients,
    http_server,
    init_database,
    verify_audit,
)

pytestmark = pytest.mark.e2e

ADMIN_A, ADMIN_B, AGENT, HR = "admin", "admin-b", "payroll-agent", "hr-officer"
ABA = {"MCS_ERP_ABA_BSB": "083-004", "MCS_ERP_ABA_ACCOUNT": "987654321", "MCS_ERP_ABA_ACCOUNT_TITLE": "ST MARYS SCHOOL",
       "MCS_ERP_ABA_BANK": "NAB", "MCS_ERP_ABA_USER_NAME": "ST MARYS SCHOOL", "MCS_ERP_ABA_USER_ID": "123456",
       "MCS_ERP_ABA_DESCRIPTION": "PAYROLL"}
STRUCTURE = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
     "of": "base", "prorate": True},
    {"code": "SALSAC", "name": "Salary sacrifice (super)", "kind": "deduction", "method": "percentage",
     "percent": 5, "of": "BASIC", "pre_tax": True, "category": "salary_sacrifice:S"},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution", "method": "formula",
     "expression": "ote * super_guarantee_rate", "category": "super:L"},
]
WAIT_S = 60


async def gated(requester: Client, approver: Client | None, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call a gated tool, confirm it, and when it is queued for an admin, approve it as `approver`."""
    pending = await call_ok(requester, tool, arguments)
    assert pending["pending"] is True, pending
    decided = await call_ok(requester, "confirm_action", {"action_id": pending["action_id"]})
    if decided["status"] == "queued":
        assert approver is not None, pending
        decided = await call_ok(approver, "approve_action", {"action_id": pending["action_id"], "reason": "checked"})
    assert decided["status"] == "executed", decided
    return {"pending": pending, "result": decided["result"]}


async def pay_fortnight(agent: Client, approver: Client, period: str, calendar_id: int) -> dict[str, Any]:
    run = await call_ok(agent, "create_payroll_run", {"period": period, "currency": "AUD",
                                                      "pay_calendar_id": calendar_id})
    job = await call_ok(agent, "calculate_payroll_run", {"run_id": run["run_id"], "wait_s": WAIT_S})
    assert job["status"] == "succeeded" and job["result"]["payslips"] == 1, job
    for tool in ("approve_payroll_run", "post_payroll_run", "mark_payroll_run_paid"):
        await gated(agent, approver, tool, {"run_id": run["run_id"]})
    return await call_ok(agent, "get_payroll_run", {"run_id": run["run_id"]})


async def lines_of(agent: Client, run_id: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    slip = (await call_ok(agent, "list_payslips", {"run_id": run_id}))["items"][0]
    full = await call_ok(agent, "get_payslip", {"payslip_id": slip["payslip_id"]})
    return full, {line["code"]: line for line in full["lines"]}


def paygw(taxable_minor: int, pay_date: date) -> int:
    table = bundled_tax_tables().pick("AU_PAYGW", on=pay_date, filing_status="scale_2")
    return withholding(table, taxable_minor=taxable_minor, frequency="fortnightly").amount_minor


async def balance(client: Client, code: str) -> int:
    rows = (await call_ok(client, "get_trial_balance", {}))["rows"]
    row = next((r for r in rows if r["code"] == code), None)
    return 0 if row is None else row["debit_total"] - row["credit_total"]


async def document_text(client: Client, document_id: int) -> str:
    doc = await call_ok(client, "get_document", {"document_id": document_id})
    return base64.b64decode(doc["content_base64"]).decode()


async def test_a_fortnightly_employee_with_leave_a_raise_and_a_resignation_over_mcp(tmp_path):
    async with e2e_database(tmp_path) as db:
        db.extra_env.update(ABA, MCS_ERP_DATA_KEYS=f"k1:{generate_key()}")
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN_A), KeySpec(ADMIN_B, "admin"), KeySpec(AGENT, "payroll"),
                                      KeySpec(HR, "hr")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with (clients(ADMIN_A) as admin, clients(ADMIN_B) as admin_b, clients(AGENT) as agent,
                        clients(HR) as hr):
                await australian_payroll(admin, admin_b, agent, hr)
        assert await verify_audit(db) > 0


async def australian_payroll(admin: Client, admin_b: Client, agent: Client, hr: Client) -> None:
    # ------------------------------------------------ setting up: calendar, structure, contract, bank, leave
    department = await call_ok(admin, "create_department", {"code": "MATH", "name": "Mathematics"})
    pat = await call_ok(admin, "create_employee", {
        "first_name": "Pat", "last_name": "Payee", "work_email": "pat@school.example.org", "position": "Teacher",
        "department_id": department["id"], "hire_date": "2025-07-01", "employment_type": "full_time"})
    calendar = await call_ok(admin, "create_pay_calendar", {
        "code": "FORTNIGHTLY", "name": "Fortnightly", "frequency": "fortnightly", "anchor_date": "2026-06-01",
        "pay_day_offset": -2, "subdivision": "VIC"})
    structure = await call_ok(admin, "create_salary_structure", {"code": "AU_FN", "name": "Fortnightly staff",
                                                                 "currency": "AUD", "components": STRUCTURE})
    contract = await call_ok(admin, "create_employment_contract", {
        "employee_id": pat["code"], "start_date": "2025-07-01", "pay_basis": "annual", "base_minor": 9_880_000,
        "currency": "AUD", "salary_structure_id": structure["salary_structure_id"], "filing_status": "scale_2",
        "pay_calendar_id": "FORTNIGHTLY", "leave_loading_percent": 17.5})
    assert contract["pay_calendar_id"] == calendar["pay_calendar_id"] and Fraction(contract["hours_per_week"]) == 38
    details = await gated(agent, admin_b, "set_employee_payment_details", {
        "employee_id": pat["code"], "bsb": "062-000", "account_number": "12345678", "account_name": "PAT PAYEE",
        "tfn": "123456782", "date_of_birth": "1990-02-03", "address_line": "1 School Road",
        "address_suburb": "Fitzroy", "address_state": "VIC", "address_postcode": "3065",
        "super_fund_name": "Teachers Super", "super_fund_abn": "51824753556", "super_fund_usi": "STA0100AU",
        "super_member_number": "M123456", "employment_basis": "F", "tax_treatment": "RTXXXX"})
    assert "12345678" not in json.dumps(details), "the account number is never shown whole"
    await gated(hr, None, "adjust_leave_balance", {"employee_id": pat["code"], "leave_type": "ANNUAL", "hours": 76,
                                                   "on": "2026-05-31", "reason": "opening balance"})
    request = await call_ok(hr, "request_leave", {"employee_id": pat["code"], "leave_type": "ANNUAL",
                                                  "start_date": "2026-06-05", "end_date": "2026-06-09",
                                                  "subdivision": "VIC", "reason": "family visit"})
    assert request["hours"] in (15.2, "15.2", "15.20"), request  # Fri 5 and Tue 9 June; Mon 8 is a public holiday
    await gated(hr, None, "approve_leave_request", {"request_id": request["request_id"]})

    # ------------------------------------------------ fortnight 1: leave over a public holiday
    first = await pay_fortnight(agent, admin_b, "2026-06-01", calendar["pay_calendar_id"])
    assert first["pay_date"] == "2026-06-12"
    slip, lines = await lines_of(agent, first["run_id"])
    assert slip["working_days"] == 9
    assert lines["LEAVE_ANNUAL"]["amount_minor"] == 76_000 and lines["LOADING_ANNUAL"]["amount_minor"] == 13_300
    assert lines["BASIC"]["amount_minor"] == 304_000 and lines["SALSAC"]["amount_minor"] == 15_200
    assert slip["gross_minor"] == 393_300
    assert lines["PAYG"]["amount_minor"] == paygw(393_300 - 15_200, date(2026, 6, 12))
    assert lines["SUPER"]["amount_minor"] == 47_196  # 12 % of ordinary time earnings, the leave included

    # ------------------------------------------------ a raise inside fortnight 2, and a resignation at its end
    await gated(agent, admin_b, "change_contract_salary", {
        "contract_number": contract["contract_number"], "base_minor": 10_400_000, "effective_from": "2026-06-22",
        "reason": "promotion"})
    ended = await gated(agent, admin_b, "end_employment_contract", {
        "contract_number": contract["contract_number"], "end_date": "2026-06-26", "cessation_type": "V",
        "reason": "resigned"})
    assert ended["result"]["cessation_type"] == "V"
    second = await pay_fortnight(agent, admin_b, "2026-06-15", calendar["pay_calendar_id"])
    slip2, lines2 = await lines_of(agent, second["run_id"])
    assert lines2["BASIC"]["amount_minor"] == 390_000  # 3,800 x 5/10 + 4,000 x 5/10
    assert lines2["SALSAC"]["amount_minor"] == 19_500
    hours = Fraction(7250, 100)  # 76 + 5.85 - 15.2 posted, + 76/13 accrued this fortnight, to hundredths
    rate = Fraction(10_400_000, 52 * 38)
    assert lines2["UNUSED_ANNUAL"]["amount_minor"] == round_half_up(rate * hours) == 381_579
    assert lines2["UNUSED_ANNUAL_LOADING"]["amount_minor"] == round_half_up(rate * hours * Fraction(175, 1000))
    payout = lines2["UNUSED_ANNUAL"]["amount_minor"] + lines2["UNUSED_ANNUAL_LOADING"]["amount_minor"]
    per_period = payout // 26 // 100 * 100  # Schedule 7: a 26th of the payment, cents ignored
    assert lines2["PAYG_TERMINATION"]["amount_minor"] == 26 * (
        paygw(400_000 + per_period, date(2026, 6, 26)) - paygw(400_000, date(2026, 6, 26)))
    assert lines2["PAYG"]["amount_minor"] == paygw(390_000 - 19_500, date(2026, 6, 26))
    assert lines2["SUPER"]["amount_minor"] == round_half_up(Fraction(390_000 * 12, 100))  # the payout is not OTE
    balances = await call_ok(hr, "get_leave_balances", {"employee_id": pat["code"]})
    annual = next(b for b in balances["balances"] if b["leave_type"] == "ANNUAL")
    assert Fraction(str(annual["hours"])) == 0, "the final pay paid out every unused hour"

    # ------------------------------------------------ remittances clear the payables
    payg = await gated(agent, admin_b, "remit_payg", {"pay_date_from": "2026-06-01", "pay_date_to": "2026-06-30",
                                                      "paid_on": "2026-07-07"})
    withheld = sum(ln["amount_minor"] for ln in (*lines.values(), *lines2.values()) if ln["kind"] == "tax")
    assert payg["result"]["total_minor"] == withheld
    sup = await gated(agent, admin_b, "remit_super", {"pay_date_from": "2026-06-01", "pay_date_to": "2026-06-30",
                                                      "paid_on": "2026-07-02"})
    assert sup["result"]["total_minor"] == 47_196 + lines2["SUPER"]["amount_minor"] + 15_200 + 19_500
    saff = (await document_text(agent, sup["result"]["csv_document_id"])).splitlines()
    member = [row for row in saff if "M123456" in row]
    assert len(member) == 1 and "51824753556" in member[0] and "STA0100AU" in member[0], saff
    sg, sacrificed = 47_196 + lines2["SUPER"]["amount_minor"], 15_200 + 19_500
    assert f",{sg // 100}.{sg % 100:02d},0.00,,{sacrificed // 100}.{sacrificed % 100:02d}," in member[0], member
    for code in ("2110", "2120", "2130", "2100"):
        assert await balance(agent, code) == 0, f"account {code} is cleared"
    assert (await call_ok(agent, "get_trial_balance", {}))["balanced"] is True

    # ------------------------------------------------ the ABA file, field by field
    exported = await call_ok(agent, "export_payroll_bank_file", {"run_id": second["run_id"],
                                                                "processing_date": "2026-06-26"})
    records = (await document_text(agent, exported["document_id"])).split("\r\n")
    assert records[-1] == "" and all(len(r) == 120 for r in records[:-1]), [len(r) for r in records]
    header, detail, total = records[0], records[1], records[-2]
    assert header[0] == "0" and header[18:20] == "01" and header[20:23] == "NAB"
    assert header[30:56] == "ST MARYS SCHOOL".ljust(26) and header[56:62] == "123456"
    assert header[62:74] == "PAYROLL".ljust(12) and header[74:80] == "260626"
    assert detail[0] == "1" and detail[1:8] == "062-000" and detail[8:17] == " 12345678" and detail[18:20] == "53"
    assert int(detail[20:30]) == slip2["net_minor"] and detail[30:62] == "PAT PAYEE".ljust(32)
    assert detail[80:87] == "083-004" and detail[87:96] == "987654321" and detail[112:120] == "00000000"
    balancing = records[2] if len(records) == 5 else None
    if balancing is not None:  # the school's account debited by the same total (transaction code 13)
        assert balancing[0] == "1" and balancing[18:20] == "13" and int(balancing[20:30]) == slip2["net_minor"]
    assert total[0] == "7" and total[1:8] == "999-999"
    credits, debits = int(total[30:40]), int(total[40:50])
    assert credits == slip2["net_minor"] and int(total[20:30]) == abs(credits - debits)
    assert int(total[74:80]) == (2 if balancing else 1)

    # ------------------------------------------------ STP Phase 2: the pay event of fortnight 2
    event = await call_ok(agent, "get_stp_pay_event", {"run_id": second["run_id"]})
    assert event["financial_year"] == "2025-26" and event["final"] is False
    payee = event["payees"][0]
    assert payee["payee"]["payroll_id"] == pat["code"] and payee["payee"]["tfn"] == "*** *** 782"
    assert payee["payee"]["cessation_date"] == "2026-06-26" and payee["payee"]["cessation_type"] == "V"
    assert payee["payee"]["employment_basis"] == "F" and payee["payee"]["tax_treatment"] == "RTXXXX"
    ytd = payee["ytd"]
    assert ytd["income_type"] == "SAW"
    assert ytd["paid_leave_minor"] == {"O": 76_000 + 13_300}
    assert ytd["salary_sacrifice_minor"] == {"S": 15_200 + 19_500}
    assert ytd["gross_minor"] == 304_000 + 390_000 + payout - (15_200 + 19_500)
    assert ytd["payg_withheld_minor"] == withheld
    assert ytd["super_liability_minor"] == 47_196 + lines2["SUPER"]["amount_minor"]
    assert ytd["leave_paid"]["ANNUAL"]["amount_minor"] == 89_300
