"""Remittances: paying what payroll withheld and owes to super funds and to the ATO, and the report of what is left.

Names and units: amounts are integer minor units of the payroll's ISO 4217 currency; a range of pay dates is
inclusive at both ends; a payslip's pay date is its own (payslips.pay_date), else its run's. Only posted payslips
count (done, paid, and voided ones with their reversing payslips): what reached the ledger.

- Super (`plan_remit_super`): the lines of categories super:L (the super guarantee) and super:RESC (reportable
  employer super contributions), posted to 2130 Employer contributions payable, and salary_sacrifice:S (salary
  sacrificed to super), posted to 2120 Payroll deductions payable (domain/payroll/categories.py), summed per fund
  and member. One journal entry Dr 2130 / Dr 2120 / Cr 1010 Bank; the remittance row; each payslip linked once
  (remittance_payslips, UNIQUE(payslip_id, kind)), so nothing is remitted twice; the SuperStream contribution data
  stored as documents: a CSV in the layout of the ATO's "SuperStream - Alternative File Format" (SAFF) standard,
  version 1.0 (three header rows, then one row per fund and member, the standard's column names), and the same data
  as JSON. Payday Super (Treasury Laws Amendment (Payday Superannuation) Act 2025): from 1 July 2026 an employer's
  contributions must reach the fund within 7 days of payday, so one remittance per run (its pay date as the range)
  is the expected use.
- PAYG withholding (`plan_remit_payg`): the payg lines (posted to 2110 PAYG withholding payable): one journal entry
  Dr 2110 / Cr 1010 Bank and the remittance row. Its total is the amount for label W2 ("amounts withheld from
  salary, wages and other payments") of the BAS or IAS for the period (ATO, "PAYG withholding labels on the BAS").
- A payslip voided after its amounts were remitted: its reversing payslip (negative lines) is carried into the next
  remittance of that kind, whatever its pay date's range, reducing it.

Errors: InvalidInput (a range that ends before it starts, or longer than 400 days; paid_on before the range's
first pay date), Conflict (nothing to remit, or less than nothing: reversals exceed what is owed; a payroll account
that does not exist yet or is in another currency; payslips in several currencies).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.documents import service as documents
from domain.finance import service as finance
from domain.hr import service as hr
from domain.kernel.actor import Actor
from domain.kernel.csv_writer import render_csv
from domain.kernel.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.kernel.plan import ApplyContext, Effect, Insert, NewId, Plan, register_effect
from domain.kernel.schemas import OutputModel, Sensitive
from domain.kernel.settings import current_settings
from domain.payroll import repository as repo
from domain.payroll.remittance_models import Remittance, RemittanceKind
from domain.payroll.service import PAYROLL_ACCOUNTS, existing_payroll_accounts

MAX_RANGE_DAYS = 400
SUPER_CATEGORIES = {"super:L": "super_guarantee", "super:RESC": "resc", "salary_sacrifice:S": "salary_sacrifice"}
"""The super remittance's line categories and the amount each goes to (SAFF: Superannuation Guarantee Amount,
Award or Productivity Amount for RESC above the guarantee, Salary Sacrificed Amount)."""
PAYG_CATEGORIES = {"payg": "withheld"}
ACCOUNT_OF_CATEGORY = {"super:L": "employer_payable", "super:RESC": "employer_payable",
                       "salary_sacrifice:S": "deductions_payable", "payg": "tax_payable"}
"""Where each category's amount was posted (PAYROLL_ACCOUNTS roles): what a remittance debits."""
DOCUMENT = "payroll.document"
"""The plan effect storing a generated file (documents context): payload {"kind", "filename", "content_type",
"text", "tool"}; the document's id is known when applied."""
SUPERSTREAM_CSV = "superstream_saff"
SUPERSTREAM_JSON = "superstream_json"
PREFIX = {RemittanceKind.SUPER.value: "SUP", RemittanceKind.PAYG.value: "PAYG"}

# ---------------------------------------------------------------- SAFF v1.0 layout
# ATO, "SuperStream - Alternative File Format (SAFF)", version 1.0: row 1 the header record (VERSION 1.0,
# NEGATIVES SUPPORTED, FILE ID), row 2 the section names over their first column, row 3 the column names, then one
# row per contribution. The 133 columns, in order (sections: Header, Sender, Payer, Payee/Receiver, Employer, Super
# Fund Member Common, Super Fund Member Contributions, Super Fund Member Registration, Defined Benefits
# Contributions, Super Defined Benefit Registration).
SAFF_COLUMNS: tuple[str, ...] = (
    "ID", "SourceEntityID", "SourceEntityIDType", "SourceElectronicServiceAddress", "ElectronicErrorMessaging",
    # Sender (5)
    "ABN", "Organisational Name Text", "Family Name", "Given Name", "Other Given Name", "E-mail Address Text",
    "Telephone Minimal Number",
    # Payer (12)
    "ABN", "Organisational Name Text", "BSB Number", "Account Number", "Account Name Text",
    # Payee/Receiver (17)
    "ABN", "USI", "Organisational Name Text", "TargetElectronicServiceAddress", "Payment Method Code",
    "Transaction Date", "Payment/Customer Reference Number", "Bpay Biller Code", "Payment Amount", "BSB Number",
    "Account Number", "Account Name Text",
    # Employer (29)
    "ABN", "Location ID", "Organisational Name Text", "Superannuation Fund Generated Employer Identifier",
    # Super Fund Member Common (33)
    "TFN", "Person Name Title Text", "Person Name Suffix text", "Family Name", "Given Name", "Other Given Name",
    "Sex Code", "Birth Date", "Address Usage Code", "Address Details Line 1 Text", "Address Details Line 2 Text",
    "Address Details Line 3 Text", "Address Details Line 4 Text", "Locality Name Text", "Postcode Text",
    "State or Territory Code", "Country Code", "E-mail Address Text", "Telephone Minimal Number Landline",
    "Telephone Minimal Number Mobile", "Member Client Identifier", "Payroll Number Identifier",
    "Employment End Date", "Employment End Reason Text",
    # Super Fund Member Contributions (57)
    "Pay Period Start Date", "Pay Period End Date", "Superannuation Guarantee Amount", "Award or Productivity Amount",
    "Personal Contributions Amount", "Salary Sacrificed Amount", "Voluntary Amount", "Spouse Contributions Amount",
    "Child Contributions Amount", "Other Third Party Contributions Amount",
    # Super Fund Member Registration (67)
    "Employment Start Date", "At Work Indicator", "Annual Salary for Benefits Amount",
    "Annual Salary for Contributions Amount", "Annual Salary for Contributions Effective Start Date",
    "Annual Salary for Contributions Effective End Date", "Annual Salary for Insurance Amount",
    "Weekly Hours Worked Number", "Occupation Description", "Insurance Opt Out Indicator", "Fund Registration Date",
    "Benefit Category Text", "Employment Status Code", "Super Contribution Commence Date",
    "Super Contribution Cease Date", "Member Registration Amendment Reason Text",
    # Defined Benefits Contributions (83)
    "Defined Benefit Member Pre Tax Contribution", "Defined Benefit Member Post Tax Contribution",
    "Defined Benefit Employer Contribution", "Defined Benefit Notional Member Pre Tax Contribution",
    "Defined Benefit Notional Member Post Tax Contribution", "Defined Benefit Notional Employer Contribution",
    "Ordinary Time Earnings", "Actual Periodic Salary or Wages Earned", "Superannuable Allowances Paid",
    "Notional Superannuable Allowances", "Service Fraction", "Service Fraction Effective Date", "Full Time Hours",
    "Contracted Hours", "Actual Hours Paid", "Employee Location Identifier",
    # Super Defined Benefit Registration (99)
    "Service Fraction", "Service Fraction Start Date", "Service Fraction End Date", "Defined Benefit Employer Rate",
    "Defined Benefit Employer Rate Start Date", "Defined Benefit Employer Rate End Date",
    "Defined Benefit Member Rate", "Defined Benefit Member Rate Start Date", "Defined Benefit Member Rate End Date",
    *(f"Defined Benefit Annual Salary {i}{suffix}" for i in range(1, 6) for suffix in ("", " Start Date",
                                                                                      " End Date")),
    "Leave Without Pay Code", "Leave Without Pay Code Start Date", "Leave Without Pay Code End Date",
    "Annual Salary for Insurance Effective Date", "Annual Salary for Benefits Effective Date",
    "Employee Status Effective Date", "Employee Benefit Category Effective Date", "Employee Location Identifier",
    "Employee Location Identifier Start Date", "Employee Location Identifier End Date",
)
SAFF_SECTIONS = {0: "Line ID", 1: "Header", 5: "Sender", 12: "Payer", 17: "Payee/Receiver", 29: "Employer",
                 33: "Super Fund Member Common", 57: "Super Fund Member Contributions",
                 67: "Super Fund Member Registration", 83: "Defined Benefits Contributions",
                 99: "SuperDefined Benefit Registration"}
"""Row 2 of a SAFF file: each section's name over its first column (column 0 names the line id)."""
SAFF_AT = {"sender_abn": 5, "sender_name": 6, "payer_abn": 12, "payer_name": 13, "fund_abn": 17, "fund_usi": 18,
           "fund_name": 19, "payment_method": 21, "transaction_date": 22, "reference": 23, "payment_amount": 25,
           "employer_abn": 29, "employer_name": 31, "tfn": 33, "family_name": 36, "given_name": 37, "birth_date": 40,
           "address_usage": 41, "address_1": 42, "address_2": 43, "locality": 46, "postcode": 47, "state": 48,
           "country": 49, "member_number": 53, "payroll_number": 54, "employment_end_date": 55,
           "period_start": 57, "period_end": 58, "super_guarantee": 59, "resc": 60, "salary_sacrifice": 62,
           "employment_start_date": 67}
"""Where the values mcs-erp fills go (0-based columns of SAFF_COLUMNS); the rest stay empty."""


def _check_saff_layout() -> None:
    assert len(SAFF_COLUMNS) == 133, len(SAFF_COLUMNS)
    assert SAFF_COLUMNS[59] == "Superannuation Guarantee Amount" and SAFF_COLUMNS[62] == "Salary Sacrificed Amount"


_check_saff_layout()


# ---------------------------------------------------------------- pure rules


@dataclass
class MemberContribution:
    """One member's contributions to one fund in a remittance: amounts in minor units (negative when reversals
    exceed), the pay periods they cover and the payslips carried."""

    employee_id: int
    fund: dict[str, str | None]
    member: dict[str, Any]
    period_start: date
    period_end: date
    amounts: dict[str, int] = field(default_factory=lambda: {name: 0 for name in SUPER_CATEGORIES.values()})
    payslip_ids: list[int] = field(default_factory=list)

    @property
    def total_minor(self) -> int:
        return sum(self.amounts.values())


def check_range(pay_date_from: date, pay_date_to: date, paid_on: date) -> None:
    """Rule: a range of pay dates ends on or after it starts and spans at most MAX_RANGE_DAYS; the money is paid on
    or after the range's first pay date. Raises InvalidInput naming the field."""
    if pay_date_to < pay_date_from:
        raise InvalidInput(f"pay_date_to {pay_date_to} is before pay_date_from {pay_date_from}", field="pay_date_to")
    if (pay_date_to - pay_date_from).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"the range of pay dates spans {(pay_date_to - pay_date_from).days} days; at most "
                           f"{MAX_RANGE_DAYS}", field="pay_date_to")
    if paid_on < pay_date_from:
        raise InvalidInput(f"paid_on {paid_on} is before the first pay date of the range ({pay_date_from})",
                           field="paid_on")


def minor_text(amount: int) -> str:
    """An amount in minor units (2-decimal currency) as SAFF writes money: 1234.50, -12.00."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def saff_csv(contributions: list[MemberContribution], *, file_id: str, paid_on: date, employer_name: str,
             employer_abn: str | None) -> str:
    """Rule: the SuperStream contribution data as a SAFF v1.0 CSV (ATO, "SuperStream - Alternative File Format"
    v1.0): the header record (negatives supported: TRUE when a row is negative), the section row, the column names,
    then one row per fund and member with the fund (ABN, USI, name), the member (TFN, names, birth date, address,
    member number, payroll number) and the super guarantee, RESC and salary sacrificed amounts (dollars and cents)
    for the pay periods covered. Every cell goes through the kernel's writer (domain.kernel.csv_writer): a name a
    spreadsheet would run as a formula is written with a leading apostrophe; negative amounts stay numbers."""
    negative = any(v < 0 for c in contributions for v in c.amounts.values())
    header_record = ["VERSION", "1.0", "NEGATIVES SUPPORTED", "TRUE" if negative else "FALSE", "FILE ID", file_id]
    rows = [[SAFF_SECTIONS.get(i, "") for i in range(len(SAFF_COLUMNS))], list(SAFF_COLUMNS)]
    for index, c in enumerate(contributions, start=1):
        row = [""] * len(SAFF_COLUMNS)
        values = {"sender_abn": employer_abn, "sender_name": employer_name, "payer_abn": employer_abn,
                  "payer_name": employer_name, "fund_abn": c.fund.get("abn"), "fund_usi": c.fund.get("usi"),
                  "fund_name": c.fund.get("name"), "payment_method": "DirectCredit",
                  "transaction_date": paid_on.isoformat(), "reference": file_id,
                  "payment_amount": minor_text(c.total_minor), "employer_abn": employer_abn,
                  "employer_name": employer_name, "tfn": c.member.get("tfn"),
                  "family_name": c.member.get("family_name"), "given_name": c.member.get("given_name"),
                  "birth_date": c.member.get("birth_date"), "address_usage": "RES" if c.member.get("address_1")
                  else None, "address_1": c.member.get("address_1"), "address_2": c.member.get("address_2"),
                  "locality": c.member.get("locality"), "postcode": c.member.get("postcode"),
                  "state": c.member.get("state"), "country": c.member.get("country"),
                  "member_number": c.member.get("member_number"), "payroll_number": c.member.get("payroll_number"),
                  "period_start": c.period_start.isoformat(), "period_end": c.period_end.isoformat(),
                  "super_guarantee": minor_text(c.amounts["super_guarantee"]),
                  "resc": minor_text(c.amounts["resc"]),
                  "salary_sacrifice": minor_text(c.amounts["salary_sacrifice"])}
        for name, value in values.items():
            row[SAFF_AT[name]] = "" if value is None else str(value)
        row[0] = str(index)
        rows.append(row)
    # The header record is narrower than the rows under it; render_csv writes each row at its own width.
    return render_csv(header_record, rows)


def contributions_json(contributions: list[MemberContribution], *, number: str, paid_on: date, currency: str,
                       employer_name: str, employer_abn: str | None) -> dict[str, Any]:
    """Rule: the same contribution data as JSON: per fund (ABN, USI, name, total) its members with their amounts
    (minor units), periods and payslip ids."""
    funds: dict[tuple, dict[str, Any]] = {}
    for c in contributions:
        key = (c.fund.get("abn"), c.fund.get("usi"), c.fund.get("name"))
        fund = funds.setdefault(key, {**c.fund, "total_minor": 0, "members": []})
        fund["total_minor"] += c.total_minor
        fund["members"].append({"employee_id": c.employee_id, **c.member, "period_start": c.period_start.isoformat(),
                                "period_end": c.period_end.isoformat(), **{f"{k}_minor": v for k, v in
                                                                          c.amounts.items()},
                                "total_minor": c.total_minor, "payslip_ids": c.payslip_ids})
    return {"standard": "SuperStream - Alternative File Format v1.0 (ATO)", "remittance": number,
            "paid_on": paid_on.isoformat(), "currency": currency,
            "employer": {"name": employer_name, "abn": employer_abn},
            "total_minor": sum(c.total_minor for c in contributions), "funds": list(funds.values())}


# ---------------------------------------------------------------- reading payees


async def payees(session: AsyncSession, employee_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What a remittance or STP report says of each employee: payroll id (employee code), names, and, when HR
    records them (hr.payment_details), TFN, birth date, address, employment basis, tax treatment, super fund and
    member number. {employee id: dict}; fields HR does not record are None, and "details_unavailable" says why
    HR's details could not be read (no data key configured, a value that does not decrypt), else None."""
    employees = await hr.employees_by_id(session, employee_ids)
    unavailable = None
    try:
        details = await hr.payment_details(session, employee_ids)
    except DomainError as exc:  # KeyUnavailable, DecryptionFailed (domain.kernel.crypto): report without them
        details, unavailable = {}, exc.message
    out = {}
    for employee_id in employee_ids:
        employee = employees.get(employee_id)
        d = details.get(employee_id)

        def get(name: str, d: Any = d) -> Any:
            value = getattr(d, name, None) if d is not None else None
            return value.isoformat() if isinstance(value, date) else value

        out[employee_id] = {
            "payroll_number": employee.code if employee else str(employee_id),
            "family_name": employee.last_name if employee else None,
            "given_name": employee.first_name if employee else None,
            "commencement_date": employee.hire_date.isoformat() if employee else None,
            "tfn": get("tfn"), "birth_date": get("date_of_birth"),
            "address_1": get("address_line"), "address_2": None, "locality": get("address_suburb"),
            "postcode": get("address_postcode"), "state": get("address_state"),
            "country": "AU" if d is not None and get("address_line") else None,
            "employment_basis": get("employment_basis"), "tax_treatment": get("tax_treatment"),
            "member_number": get("super_member_number"),
            "fund": {"name": get("super_fund_name"), "abn": get("super_fund_abn"), "usi": get("super_fund_usi")},
            "details_unavailable": unavailable}
    return out


# ---------------------------------------------------------------- plans


def _currency(rows: list[tuple]) -> str:
    currencies = sorted({r[5] for r in rows})
    if len(currencies) > 1:
        raise Conflict(f"the payslips to remit are in several currencies ({', '.join(currencies)}); a remittance "
                       "pays one", field="pay_date_from")
    return currencies[0]


def _link_amounts(rows: list[tuple]) -> dict[int, int]:
    amounts: dict[int, int] = defaultdict(int)
    for row in rows:
        amounts[row[0]] += row[8]
    return amounts


async def _posting(session: AsyncSession, *, rows: list[tuple], kind: str, number: str, paid_on: date,
                   currency: str, memo: str) -> tuple[Effect, dict[str, int]]:
    by_role: dict[str, int] = defaultdict(int)
    for row in rows:
        by_role[ACCOUNT_OF_CATEGORY[row[7]]] += row[8]
    accounts = await existing_payroll_accounts(session, [*sorted(by_role), "bank"], currency)
    total = sum(by_role.values())
    lines: list[dict[str, Any]] = []
    for role in sorted(by_role):
        amount = by_role[role]
        if amount:
            lines.append({"account_id": accounts[role], "debit" if amount > 0 else "credit": abs(amount)})
    lines.append({"account_id": accounts["bank"], "credit": total})
    posting = await finance.plan_posting(session, date=paid_on, memo=memo, lines=lines,
                                         source=f"remittance:{number}", idempotency_key=f"remittance:{kind}:{number}",
                                         currency=currency, ref="posting")
    return posting, dict(by_role)


def _check_total(total: int, kind: str, pay_date_from: date, pay_date_to: date) -> None:
    if total == 0:
        raise Conflict(f"nothing to remit as {kind}: no posted payslip paid from {pay_date_from} to {pay_date_to} "
                       "owes an unremitted amount", field="pay_date_from")
    if total < 0:
        raise Conflict(f"the reversals carried exceed what the payslips paid from {pay_date_from} to {pay_date_to} "
                       f"owe as {kind} ({total} minor units); remit with the next pay's amounts", field="pay_date_to")


async def _number(session: AsyncSession, kind: str) -> str:
    return f"{PREFIX[kind]}{await repo.count_remittances(session, kind) + 1:05d}"


def _links(rows: list[tuple], kind: str) -> list[Insert]:
    return [Insert("remittance_payslips", {"remittance_id": NewId("remittance"), "payslip_id": payslip_id,
                                           "kind": kind, "amount_minor": amount})
            for payslip_id, amount in sorted(_link_amounts(rows).items())]


def _range_text(pay_date_from: date, pay_date_to: date) -> str:
    return str(pay_date_from) if pay_date_from == pay_date_to else f"{pay_date_from} to {pay_date_to}"


async def plan_remit_super(session: AsyncSession, actor: Actor, *, pay_date_from: date, pay_date_to: date,
                           paid_on: date) -> Plan:
    """Plan paying the super owed by posted payslips paid from pay_date_from to pay_date_to (inclusive) and not
    remitted yet, plus the reversals of remitted payslips voided since (negative): the super:L, super:RESC and
    salary_sacrifice:S lines summed per fund and member (hr.payment_details names the fund; a member without one is
    listed under an unnamed fund and in the preview's warnings). Writes, when applied: the SAFF v1.0 CSV and the
    JSON of the contributions as documents (kinds superstream_saff and superstream_json), one journal entry dated
    paid_on (key remittance:super:<number>) Dr 2130 Employer contributions payable (SG and RESC), Dr 2120 Payroll
    deductions payable (salary sacrifice), Cr 1010 Bank, the remittance (number SUP00001 ...), and a
    remittance_payslips row per payslip carried. Amounts in minor units. Payday Super (Treasury Laws Amendment
    (Payday Superannuation) Act 2025): from 1 July 2026 super is due within 7 days of payday, so remit each run.
    Raises InvalidInput (check_range), Conflict (nothing to remit; a missing account; several currencies)."""
    check_range(pay_date_from, pay_date_to, paid_on)
    kind = RemittanceKind.SUPER.value
    rows = await repo.remittable_lines(session, kind=kind, categories=list(SUPER_CATEGORIES),
                                       pay_date_from=pay_date_from, pay_date_to=pay_date_to)
    total = sum(r[8] for r in rows)
    _check_total(total, "super", pay_date_from, pay_date_to)
    currency = _currency(rows)
    number = await _number(session, kind)
    people = await payees(session, sorted({r[1] for r in rows}))
    members: dict[tuple, MemberContribution] = {}
    for payslip_id, employee_id, _, start, end, _, _, category, amount in rows:
        person = people[employee_id]
        fund = person["fund"]
        key = (fund["abn"], fund["usi"], fund["name"], person["member_number"], employee_id)
        member = members.get(key)
        if member is None:
            member = members[key] = MemberContribution(
                employee_id=employee_id, fund=dict(fund), period_start=start, period_end=end,
                member={k: person[k] for k in ("payroll_number", "family_name", "given_name", "tfn", "birth_date",
                                               "address_1", "address_2", "locality", "postcode", "state", "country",
                                               "member_number")})
        member.period_start, member.period_end = min(member.period_start, start), max(member.period_end, end)
        member.amounts[SUPER_CATEGORIES[category]] += amount
        if payslip_id not in member.payslip_ids:
            member.payslip_ids.append(payslip_id)
    contributions = sorted(members.values(), key=lambda c: (str(c.fund.get("usi") or c.fund.get("abn") or ""),
                                                            c.member["payroll_number"]))
    settings = current_settings()
    employer_abn = settings.school_abn
    text = saff_csv(contributions, file_id=number, paid_on=paid_on, employer_name=settings.school_name,
                    employer_abn=employer_abn)
    data = contributions_json(contributions, number=number, paid_on=paid_on, currency=currency,
                              employer_name=settings.school_name, employer_abn=employer_abn)
    posting, by_role = await _posting(session, rows=rows, kind=kind, number=number, paid_on=paid_on,
                                      currency=currency, memo=f"Super remittance {number} "
                                                              f"({_range_text(pay_date_from, pay_date_to)})")
    files = [Effect(DOCUMENT, {"kind": SUPERSTREAM_CSV, "filename": f"{number}-saff.csv", "content_type": "text/csv",
                               "text": text, "tool": "remit_super"}, ref="csv"),
             Effect(DOCUMENT, {"kind": SUPERSTREAM_JSON, "filename": f"{number}-superstream.json",
                               "content_type": "application/json", "text": json.dumps(data, indent=1),
                               "tool": "remit_super"}, ref="json")]
    links = _links(rows, kind)
    remittance = Insert("remittances", {
        "number": number, "kind": kind, "pay_date_from": pay_date_from, "pay_date_to": pay_date_to,
        "paid_on": paid_on, "currency": currency, "total_minor": total, "payslips": len(links),
        "journal_entry_id": NewId("posting"), "csv_document_id": NewId("csv"), "json_document_id": NewId("json"),
        "data": json.dumps(data), "created_by": actor.id or None}, ref="remittance")
    warnings = [f"{c.member['payroll_number']}: no super fund recorded (HR payment details)"
                for c in contributions if not (c.fund.get("usi") or c.fund.get("abn"))]
    unavailable = {p["details_unavailable"] for p in people.values() if p["details_unavailable"]}
    warnings = [f"HR payment details could not be read: {reason}" for reason in sorted(unavailable)] + warnings
    preview = {"remittance": number, "kind": kind, "pay_dates": _range_text(pay_date_from, pay_date_to),
               "paid_on": paid_on.isoformat(), "currency": currency, "total_minor": total,
               "payslips": len(links), "reversals_carried": sum(1 for r in {(r[0], r[6]) for r in rows} if r[1]),
               "by_account_minor": {PAYROLL_ACCOUNTS[role][0]: amount for role, amount in sorted(by_role.items())},
               "funds": [{"fund": f.get("name") or f.get("usi") or "(no fund recorded)", "usi": f.get("usi"),
                          "members": len(f["members"]), "total_minor": f["total_minor"]} for f in data["funds"]],
               "warnings": warnings[:20]}
    return Plan(command="remit_super",
                summary=f"Pay super {number}: {total} {currency} (minor units) for {len(links)} payslips paid "
                        f"{_range_text(pay_date_from, pay_date_to)}, from the bank on {paid_on}",
                preview=preview, changes=[*files, posting, remittance, *links])


async def plan_remit_payg(session: AsyncSession, actor: Actor, *, pay_date_from: date, pay_date_to: date,
                          paid_on: date) -> Plan:
    """Plan paying the PAYG withheld by posted payslips paid from pay_date_from to pay_date_to (inclusive) and not
    remitted yet (plus reversals of remitted payslips voided since, negative): one journal entry dated paid_on (key
    remittance:payg:<number>) Dr 2110 PAYG withholding payable / Cr 1010 Bank, the remittance (PAYG00001 ...) and a
    remittance_payslips row per payslip. The total is the amount for label W2 of the BAS or IAS for the period
    (ATO, "PAYG withholding labels on the BAS"). Amounts in minor units. Raises InvalidInput (check_range),
    Conflict (nothing to remit; a missing account; several currencies)."""
    check_range(pay_date_from, pay_date_to, paid_on)
    kind = RemittanceKind.PAYG.value
    rows = await repo.remittable_lines(session, kind=kind, categories=list(PAYG_CATEGORIES),
                                       pay_date_from=pay_date_from, pay_date_to=pay_date_to)
    total = sum(r[8] for r in rows)
    _check_total(total, "PAYG withholding", pay_date_from, pay_date_to)
    currency = _currency(rows)
    number = await _number(session, kind)
    by_date: dict[str, int] = defaultdict(int)
    for row in rows:
        by_date[row[2].isoformat()] += row[8]
    posting, _ = await _posting(session, rows=rows, kind=kind, number=number, paid_on=paid_on, currency=currency,
                                memo=f"PAYG withholding remittance {number} "
                                     f"({_range_text(pay_date_from, pay_date_to)})")
    links = _links(rows, kind)
    data = {"bas_label": "W2", "withheld_minor": total, "by_pay_date_minor": dict(sorted(by_date.items()))}
    remittance = Insert("remittances", {
        "number": number, "kind": kind, "pay_date_from": pay_date_from, "pay_date_to": pay_date_to,
        "paid_on": paid_on, "currency": currency, "total_minor": total, "payslips": len(links),
        "journal_entry_id": NewId("posting"), "csv_document_id": None, "json_document_id": None,
        "data": json.dumps(data), "created_by": actor.id or None}, ref="remittance")
    preview = {"remittance": number, "kind": kind, "pay_dates": _range_text(pay_date_from, pay_date_to),
               "paid_on": paid_on.isoformat(), "currency": currency, "total_minor": total, "bas_w2_minor": total,
               "payslips": len(links), "by_pay_date_minor": data["by_pay_date_minor"],
               "posting": {"debit": "2110 PAYG withholding payable", "credit": "1010 Bank - operating account"}}
    return Plan(command="remit_payg",
                summary=f"Pay PAYG withholding {number}: {total} {currency} (minor units, BAS W2) for {len(links)} "
                        f"payslips paid {_range_text(pay_date_from, pay_date_to)}, from the bank on {paid_on}",
                preview=preview, changes=[posting, remittance, *links])


async def _apply_document(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    row = await documents.store(session, kind=payload["kind"], filename=payload["filename"],
                                content_type=payload["content_type"], data=payload["text"].encode(),
                                created_by=context.actor.id or None, actor=context.actor, tool=payload["tool"])
    return row.id or 0


register_effect(DOCUMENT, _apply_document)


def remittance_id(applied_ids: Mapping[str, int | None]) -> int:
    """The id of the remittance a released remit_super or remit_payg created."""
    return applied_ids["remittance"] or 0


# ---------------------------------------------------------------- reading


class RemittanceOut(OutputModel):
    remittance_id: int
    number: str
    kind: str = Field(description="super or payg.")
    pay_date_from: date
    pay_date_to: date
    paid_on: date
    currency: str
    total_minor: int
    payslips: int
    journal_entry_id: int | None = None
    journal_entry_number: str | None = None
    csv_document_id: int | None = Field(default=None, description="super: the SAFF CSV.")
    json_document_id: int | None = None
    funds: Sensitive[list[dict[str, Any]] | None] = None


def remittance_out(row: Remittance) -> RemittanceOut:
    """A remittance; for super, its funds with their totals and member counts (member detail is in the files)."""
    data = json.loads(row.data or "{}")
    funds = [{"name": f.get("name"), "abn": f.get("abn"), "usi": f.get("usi"), "total_minor": f.get("total_minor"),
              "members": len(f.get("members", []))} for f in data.get("funds", [])] if row.kind == "super" else None
    return RemittanceOut(remittance_id=row.id or 0, number=row.number, kind=row.kind, pay_date_from=row.pay_date_from,
                         pay_date_to=row.pay_date_to, paid_on=row.paid_on, currency=row.currency,
                         total_minor=row.total_minor, payslips=row.payslips, journal_entry_id=row.journal_entry_id,
                         csv_document_id=row.csv_document_id, json_document_id=row.json_document_id, funds=funds)


async def list_remittances(session: AsyncSession, *, after_id: int, limit: int, kind: str | None = None
                           ) -> list[Remittance]:
    """Remittances after `after_id` (of one kind, super or payg, when given), by id, at most `limit`."""
    return await repo.remittances_page(session, after_id=after_id, limit=limit, kind=kind)


async def get_remittance(session: AsyncSession, remittance_id: int) -> Remittance:
    """The remittance with that id; raises NotFound."""
    row = await session.get(Remittance, remittance_id)
    if row is None:
        raise NotFound(f"no remittance with id {remittance_id}; list_remittances shows them", field="remittance_id")
    return row


class PayableOut(OutputModel):
    account: str
    ledger_balance_minor: int
    unremitted_minor: int = Field(description="Still owed by posted payslips of any date.")
    other_minor: int = Field(description="Lines of categories not remitted here.")
    ledger_agrees: bool = Field(description="balance = unremitted + other.")
    cleared: bool


class RemittanceReportOut(OutputModel):
    pay_date_from: date
    pay_date_to: date
    currency: str | None
    withheld_minor: int = Field(description="BAS W2.")
    withheld_remitted_minor: int
    withheld_outstanding_minor: int
    super_minor: int
    super_remitted_minor: int
    super_outstanding_minor: int
    super_by_category_minor: dict[str, int]
    remittances: list[RemittanceOut] = Field(description="Paid in the period, at most 20.")
    payables: list[PayableOut]


REMITTED_BY = {"payg": "payg", "super:L": "super", "super:RESC": "super", "salary_sacrifice:S": "super"}
ACCOUNT_OF_KIND = {"tax": "tax_payable", "deduction": "deductions_payable", "employer_contribution": "employer_payable"}
"""Which payable account a payslip line of each kind is posted to (service.journal_lines)."""


async def remittance_report(session: AsyncSession, *, pay_date_from: date, pay_date_to: date
                            ) -> RemittanceReportOut:
    """The remittance report of a period of pay dates (inclusive): PAYG withheld and super owed by posted payslips
    paid in it, how much of each was remitted and what is outstanding; the remittances paid in it; and per payable
    account (2110, 2120, 2130) its ledger balance (domain.finance.service) against what payslips of any date still
    owe through it, so "cleared" is checked against the ledger. Minor units. Raises InvalidInput (a range that
    ends before it starts or spans more than 400 days)."""
    check_range(pay_date_from, pay_date_to, pay_date_to)
    period = await repo.category_sums(session, pay_date_from=pay_date_from, pay_date_to=pay_date_to)
    every = await repo.category_sums(session, pay_date_from=None, pay_date_to=None)
    withheld = sum(a for _, c, _, a in period if c == "payg")
    withheld_remitted = sum(a for _, c, r, a in period if c == "payg" and r)
    by_category: dict[str, int] = defaultdict(int)
    super_remitted = 0
    for _, category, remitted, amount in period:
        if category in SUPER_CATEGORIES:
            by_category[category] += amount
            super_remitted += amount if remitted else 0
    super_total = sum(by_category.values())
    rows = await repo.remittances_paid(session, paid_from=pay_date_from, paid_to=pay_date_to, limit=20)
    payables = []
    currency = rows[0].currency if rows else None
    for kind, role in ACCOUNT_OF_KIND.items():
        code, name, _ = PAYROLL_ACCOUNTS[role]
        account = await finance.find_account_by_code(session, code)
        balance = await finance.account_balance(session, account.id or 0) if account is not None else 0
        currency = currency or (account.currency if account is not None else None)
        unremitted = sum(a for k, c, r, a in every if k == kind and c in REMITTED_BY and not r)
        other = sum(a for k, c, _, a in every if k == kind and c not in REMITTED_BY)
        payables.append(PayableOut(account=f"{code} {name}", ledger_balance_minor=balance,
                                   unremitted_minor=unremitted, other_minor=other,
                                   ledger_agrees=balance == unremitted + other, cleared=unremitted == 0))
    return RemittanceReportOut(
        pay_date_from=pay_date_from, pay_date_to=pay_date_to, currency=currency, withheld_minor=withheld,
        withheld_remitted_minor=withheld_remitted, withheld_outstanding_minor=withheld - withheld_remitted,
        super_minor=super_total, super_remitted_minor=super_remitted,
        super_outstanding_minor=super_total - super_remitted, super_by_category_minor=dict(sorted(by_category.items())),
        remittances=[remittance_out(r) for r in rows], payables=payables)
