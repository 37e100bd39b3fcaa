"""Single Touch Payroll Phase 2: the pay event data of a run and the end-of-year finalisation, as reports and files.

Source: ATO, "Single Touch Payroll Phase 2 employer reporting guidelines" (QC 68146): payee identifiers, the income
stream (here always SAW, salary and wages), year-to-date amounts disaggregated into gross, paid leave, allowances,
overtime, bonuses and commissions, directors' fees, lump sums, salary sacrifice, deductions, PAYG withheld, super
liability and RESC, and the finalisation indicator at the end of the financial year. Lodging needs an ATO-registered
gateway (SBR2, a sending service provider): out of scope; this module builds the data and the files.

Names and units: amounts in integer minor units of the payroll's currency (AUD), hours as decimal strings (two
places); the year to date runs over the payroll's financial year (domain/payroll/jurisdiction.py, AU: 1 July to
30 June) up to the run's pay date inclusive. Every posted payslip counts (done, paid, and a voided one with its
reversing payslip, whose negative lines take it out again), plus the run's own payslips whatever their status.

Rules (each pure, below):
- Line categories (domain/payroll/categories.py) decide the field: gross; overtime; bonus; directors_fees;
  paid_leave:<code>; allowance:<code>; lump_sum:<code>; salary_sacrifice:<code>; deduction:<code>; payg; super:L
  (the super liability); super:RESC. "deduction" and "employer" lines are not reported. A line stored without a
  category takes its kind's (earnings, arrears, leave and termination: gross).
- Gross (income type SAW) is reported after salary sacrifice: the gross lines less the salary_sacrifice:S and :O
  amounts, which are reported on their own (the guidelines, "Salary sacrifice": "the gross amount ... is reduced
  by the salary sacrificed amount").
- Ordinary time earnings (OTE, Superannuation Guarantee (Administration) Act 1992 s 6(1) and ATO ruling SGR 2009/2:
  earnings for ordinary hours, including paid leave taken, performance bonuses, directors' fees, and allowances
  that are not expense or overtime allowances; not overtime, car, transport, laundry, overtime meal, travel or
  tool allowances, or lump sums paid on termination; salary sacrificed amounts count since 1 January 2020, s 15A):
  the gross lines before sacrifice, bonus, directors_fees, paid_leave:O, allowance:KN, :QN and :OD. The engine's
  `ote` (the super guarantee's base) counts the same.
- Leave paid by type: the hours and amounts of the paid leave lines (codes LEAVE_<type> with their hours,
  LOADING_<type> the loading paid with it).
- TFN: shown masked in answers (last three digits); the files, readable by payroll staff and admins only, carry it
  whole, or 000000000 when the payee gave none (the guidelines, "Payee TFN").

Errors: NotFound (run), InvalidInput (a financial year not written like 2026-27; a format other than json or csv).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.documents import service as documents
from domain.hr import service as hr
from domain.kernel.actor import Actor
from domain.kernel.csv_writer import render_csv
from domain.kernel.errors import InvalidInput
from domain.kernel.schemas import OutputModel, Sensitive
from domain.kernel.settings import current_settings
from domain.payroll import repository as repo
from domain.payroll.jurisdiction import AU, jurisdiction
from domain.payroll.remittance import payees as read_payees
from domain.payroll.service import current_contracts, get_run, run_calendar

INCOME_TYPE = "SAW"
NO_TFN = "000000000"
OTE_CATEGORIES = frozenset({"gross", "bonus", "directors_fees", "paid_leave:O", "allowance:KN", "allowance:QN",
                            "allowance:OD"})
SCALARS = {"overtime": "overtime_minor", "bonus": "bonuses_minor", "directors_fees": "directors_fees_minor",
           "payg": "payg_withheld_minor", "super:L": "super_liability_minor", "super:RESC": "resc_minor"}
GROUPS = {"paid_leave": "paid_leave_minor", "allowance": "allowances_minor", "lump_sum": "lump_sums_minor",
          "salary_sacrifice": "salary_sacrifice_minor", "deduction": "deductions_minor"}
UNREPORTED = frozenset({"deduction", "employer"})
GROSS_KINDS = frozenset({"earning", "arrears", "leave", "termination"})
PAY_EVENT = "stp_pay_event"
FINALISATION = "stp_finalisation"
MAX_EXPORT_PAYEES = 20_000


# ---------------------------------------------------------------- pure rules


def line_category(kind: str, category: str | None) -> str:
    """Rule: a line's category, or its kind's when it has none (earnings, arrears, leave, termination: gross; tax:
    payg; deduction: deduction; employer contribution: employer)."""
    if category:
        return category
    if kind in GROSS_KINDS:
        return "gross"
    return {"tax": "payg", "deduction": "deduction"}.get(kind, "employer")


def _hours(x100: int) -> str:
    return str(Decimal(x100) / 100)


def disaggregate(lines: list[tuple[str, str | None, str, int, int]]) -> dict[str, Any]:
    """Rule: one payee's year-to-date STP Phase 2 amounts from the sums of their lines, given as (kind, category,
    code, amount minor, hours x100): gross after salary sacrifice, the disaggregated groups by ATO code, PAYG
    withheld, super liability, RESC, OTE and leave paid by type. Zero amounts are left out of the groups."""
    gross = 0
    ote = 0
    scalars = {name: 0 for name in SCALARS.values()}
    groups: dict[str, dict[str, int]] = {name: defaultdict(int) for name in GROUPS.values()}
    leave: dict[str, dict[str, int]] = defaultdict(lambda: {"hours_x100": 0, "amount_minor": 0})
    for kind, stored, code, amount, hours in lines:
        category = line_category(kind, stored)
        if category in OTE_CATEGORIES:
            ote += amount
        if category == "gross":
            gross += amount
        elif category in SCALARS:
            scalars[SCALARS[category]] += amount
        elif ":" in category and category.split(":")[0] in GROUPS:
            group, ato_code = category.split(":", 1)
            groups[GROUPS[group]][ato_code] += amount
        if category.startswith("paid_leave:"):
            for prefix in ("LEAVE_", "LOADING_"):
                if code.startswith(prefix):
                    leave_type = code[len(prefix):]
                    break
            else:
                leave_type = "OTHER"
            leave[leave_type]["amount_minor"] += amount
            if code.startswith("LEAVE_"):
                leave[leave_type]["hours_x100"] += hours
    sacrificed = sum(groups["salary_sacrifice_minor"].values())
    out: dict[str, Any] = {"income_type": INCOME_TYPE, "gross_minor": gross - sacrificed, **scalars}
    for name, values in groups.items():
        out[name] = {k: v for k, v in sorted(values.items()) if v}
    out["ote_minor"] = ote
    out["leave_paid"] = {t: {"hours": _hours(v["hours_x100"]), "amount_minor": v["amount_minor"]}
                         for t, v in sorted(leave.items()) if v["amount_minor"] or v["hours_x100"]}
    return out


def mask_tfn(tfn: str | None) -> str | None:
    """Rule: a TFN as answers show it: its last three digits ("*** *** 782"), None when there is none."""
    digits = re.sub(r"\D", "", tfn or "")
    return f"*** *** {digits[-3:]}" if digits else None


def parse_financial_year(text: str) -> tuple[date, date]:
    """Rule: a financial year written like 2026-27 (AU: 1 July 2026 to 30 June 2027) as its first and last day.
    Raises InvalidInput (field financial_year)."""
    match = re.fullmatch(r"\s*(\d{4})-(\d{2})\s*", text or "")
    if not match or (int(match.group(1)) + 1) % 100 != int(match.group(2)):
        raise InvalidInput(f"financial_year {text!r} is not a financial year; write it like 2026-27 (1 July 2026 to "
                           "30 June 2027)", field="financial_year")
    return AU.financial_year(date(int(match.group(1)), AU.fy_start_month, AU.fy_start_day))


CSV_HEADER = ("payroll_id", "field_group", "code", "amount_minor", "amount", "hours", "value")


def _money(amount: int) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def csv_rows(payee: dict[str, Any]) -> list[list[str]]:
    """Rule: one payee's rows of the CSV export: its identity fields (group payee), then one row per field group
    and code of its year to date (amounts in minor units and in dollars and cents, leave hours)."""
    pid = payee["payee"]["payroll_id"]
    rows = [[pid, "payee", name, "", "", "", "" if value is None else str(value)]
            for name, value in payee["payee"].items()]
    ytd = payee["ytd"]
    for name, value in ytd.items():
        group = name.removesuffix("_minor")
        if isinstance(value, int):
            rows.append([pid, group, "", str(value), _money(value), "", ""])
        elif name == "leave_paid":
            rows += [[pid, "leave_paid", t, str(v["amount_minor"]), _money(v["amount_minor"]), v["hours"], ""]
                     for t, v in value.items()]
        elif isinstance(value, dict):
            rows += [[pid, group, code, str(a), _money(a), "", ""] for code, a in value.items()]
        else:
            rows.append([pid, group, "", "", "", "", str(value)])
    return rows


def render(report: dict[str, Any], fmt: str) -> tuple[bytes, str]:
    """Rule: a report (header and payees with their whole TFN) as a file: JSON, or CSV (CSV_HEADER, one row per
    payee per field group, every cell through domain.kernel.csv_writer, which neutralises formula cells). Returns
    (bytes, content type). Raises InvalidInput for another format."""
    if fmt == "json":
        return json.dumps(report, indent=1).encode(), "application/json"
    if fmt != "csv":
        raise InvalidInput(f"format {fmt!r} is not allowed; use json or csv", field="format")
    rows = [row for payee in report["payees"] for row in csv_rows(payee)]
    return render_csv(CSV_HEADER, rows).encode(), "text/csv"


# ---------------------------------------------------------------- reading


class StpPayeeOut(OutputModel):
    employee_id: int
    employee_code: str | None = None
    payee: Sensitive[dict[str, Any] | None] = None
    ytd: Sensitive[dict[str, Any] | None] = None


class StpReportOut(OutputModel):
    kind: Literal["pay_event", "finalisation"]
    run_id: int | None = None
    run_period: str | None = None
    pay_date: date | None = None
    financial_year: str
    year_from: date
    year_to: date
    final: bool
    currency: str
    payer: dict[str, Any]
    payees: list[StpPayeeOut]
    next_cursor: str | None = None


class StpExportOut(OutputModel):
    document_id: int
    filename: str
    format: str
    payees: int
    size: int = Field(description="Bytes.")


async def _payee_blocks(session: AsyncSession, employee_ids: list[int], *, until: date,
                        whole_tfn: bool) -> dict[int, dict[str, Any]]:
    """Each payee's STP identity: payroll id, TFN, names, birth date, address, employment basis, tax treatment,
    commencement date, and cessation date and type when employment ended on or before `until`."""
    people = await read_payees(session, employee_ids)
    employees = await hr.employees_by_id(session, employee_ids)
    latest: dict[int, Any] = {}
    for contract in await current_contracts(session, employee_ids=employee_ids):
        if contract.employee_id not in latest or contract.start_date > latest[contract.employee_id].start_date:
            latest[contract.employee_id] = contract
    out = {}
    for employee_id in employee_ids:
        person, employee, contract = people[employee_id], employees.get(employee_id), latest.get(employee_id)
        ended = (contract.end_date if contract is not None and contract.end_date else None) or (
            employee.termination_date if employee is not None else None)
        ceased = ended is not None and ended <= until
        tfn = person["tfn"]
        out[employee_id] = {
            "payroll_id": person["payroll_number"], "tfn": (tfn or NO_TFN) if whole_tfn else mask_tfn(tfn),
            "family_name": person["family_name"], "given_name": person["given_name"],
            "birth_date": person["birth_date"], "address": person["address_1"], "suburb": person["locality"],
            "state": person["state"], "postcode": person["postcode"],
            "employment_basis": person["employment_basis"], "tax_treatment": person["tax_treatment"],
            "commencement_date": person["commencement_date"],
            "cessation_date": ended.isoformat() if ceased and ended else None,
            "cessation_type": (contract.cessation_type if contract is not None else None) if ceased else None}
        if person["details_unavailable"]:
            out[employee_id]["details_unavailable"] = person["details_unavailable"]
    return out


async def _payees(session: AsyncSession, employee_ids: list[int], *, ytd_from: date, ytd_to: date,
                  run_id: int | None, whole_tfn: bool) -> list[dict[str, Any]]:
    sums: dict[int, list] = defaultdict(list)
    for employee_id, kind, category, code, amount, hours in await repo.ytd_line_sums(
            session, employee_ids, pay_date_from=ytd_from, pay_date_to=ytd_to, run_id=run_id):
        sums[employee_id].append((kind, category, code, amount, hours))
    blocks = await _payee_blocks(session, employee_ids, until=ytd_to, whole_tfn=whole_tfn)
    return [{"employee_id": e, "employee_code": blocks[e]["payroll_id"], "payee": blocks[e],
             "ytd": disaggregate(sums.get(e, []))} for e in employee_ids]


def _payer() -> dict[str, Any]:
    settings = current_settings()
    return {"name": settings.school_name, "abn": settings.school_abn}


async def pay_event(session: AsyncSession, *, run_id: int, after_id: int = 0, limit: int = 20,
                    whole_tfn: bool = False) -> tuple[StpReportOut, bool]:
    """A run's STP Phase 2 pay event, one page of payees (employee id above `after_id`, at most `limit`): per payee
    the identity block and the financial-year-to-date amounts as of the run's pay date (disaggregate). Returns the
    report and whether more payees follow. Raises NotFound for an unknown run."""
    run = await get_run(session, run_id)
    place = jurisdiction((await run_calendar(session, run)).jurisdiction)
    ytd_from, _ = place.financial_year(run.pay_date)
    ids = await repo.run_employee_ids(session, run_id, after_id=after_id, limit=limit + 1)
    more = len(ids) > limit
    payees = await _payees(session, ids[:limit], ytd_from=ytd_from, ytd_to=run.pay_date, run_id=run_id,
                           whole_tfn=whole_tfn)
    return StpReportOut(kind="pay_event", run_id=run.id, run_period=run.period, pay_date=run.pay_date,
                        financial_year=place.financial_year_label(run.pay_date), year_from=ytd_from,
                        year_to=run.pay_date,
                        final=False, currency=run.currency, payer=_payer(),
                        payees=[StpPayeeOut(**p) for p in payees]), more


async def finalisation(session: AsyncSession, *, financial_year: str, after_id: int = 0, limit: int = 20,
                       whole_tfn: bool = False) -> tuple[StpReportOut, bool]:
    """The end-of-year finalisation of a financial year (e.g. 2026-27): one page of the payees with a posted payslip
    paid in it, each with the year's final amounts (disaggregate) and the finalisation indicator. Returns the report
    and whether more payees follow. Raises InvalidInput (parse_financial_year)."""
    ytd_from, ytd_to = parse_financial_year(financial_year)
    ids = await repo.paid_employee_ids(session, pay_date_from=ytd_from, pay_date_to=ytd_to, after_id=after_id,
                                       limit=limit + 1)
    more = len(ids) > limit
    payees = await _payees(session, ids[:limit], ytd_from=ytd_from, ytd_to=ytd_to, run_id=None, whole_tfn=whole_tfn)
    return StpReportOut(kind="finalisation", financial_year=AU.financial_year_label(ytd_from), year_from=ytd_from,
                        year_to=ytd_to, final=True, currency=AU.currency, payer=_payer(),
                        payees=[StpPayeeOut(**p) for p in payees]), more


async def export(session: AsyncSession, actor: Actor, *, fmt: str, run_id: int | None = None,
                 financial_year: str | None = None) -> StpExportOut:
    """Store a run's pay event (`run_id`) or a year's finalisation (`financial_year`) as a document (kind
    stp_pay_event or stp_finalisation, readable by payroll staff and admins) in `fmt` (json or csv; render), every
    payee with the whole TFN. Returns the document's id, name, format, payee count and size. Raises NotFound,
    InvalidInput (format, financial year)."""
    if fmt not in ("json", "csv"):
        raise InvalidInput(f"format {fmt!r} is not allowed; use json or csv", field="format")
    if run_id is not None:
        report, _ = await pay_event(session, run_id=run_id, limit=MAX_EXPORT_PAYEES, whole_tfn=True)
        kind, name = PAY_EVENT, f"stp-pay-event-{report.run_period}-run{run_id}.{fmt}"
    else:
        report, _ = await finalisation(session, financial_year=financial_year or "", limit=MAX_EXPORT_PAYEES,
                                       whole_tfn=True)
        kind, name = FINALISATION, f"stp-finalisation-{report.financial_year}.{fmt}"
    data, content_type = render(report.model_dump(mode="json", exclude={"next_cursor"}), fmt)
    row = await documents.store(session, kind=kind, filename=name, content_type=content_type, data=data,
                                created_by=actor.id or None, actor=actor, tool=f"export_{kind}")
    return StpExportOut(document_id=row.id or 0, filename=name, format=fmt, payees=len(report.payees),
                        size=len(data))
