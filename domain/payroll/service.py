"""Payroll use cases: salary structures, versioned contracts, unpaid leave, runs, payslips and ledger postings.

Every function works inside the caller's unit of work and never commits. A run moves
draft -> calculated -> approved -> posted -> paid (or cancelled before approval; a posted or paid run is undone
by reversing it). The gated commands (approve, post, mark paid, cancel, reverse, void a payslip, change a salary,
add a tax table) are plans in domain/payroll/plans.py built from the rules here (`journal_lines`,
`reversing_payslip`, `check_voidable`, ...); `approve_run`, `post_run` and `mark_run_paid` stay as direct writes
for the demo builder and the benchmark, with the same rules. Calculation (`calculate_run`, or `compute_run` then
`store_run`, run by a job) computes every payslip with the pure engine (domain/payroll/engine.py) and writes them
in ONE transaction, replacing the run's draft payslips, so a worker killed mid-calculation leaves nothing behind
and the retry writes exactly one payslip per employee. Nothing reaches the ledger before `post_run`: one balanced
journal entry (salary expense per department, employer contributions, taxes and deductions payable, net pay
payable) posted with the idempotency key `payroll_run:<id>:post`, so it can never be posted twice; marking it paid
clears net pay payable against the bank (`payroll_run:<id>:paid`). Reads go through domain/payroll/repository.py.

Rules (issue 18; each function cites its source): a run's period follows its pay calendar (weekly, fortnightly,
monthly, quarterly); working days are Monday to Friday less the calendar's public holidays; a period's pay is
blended over the working days each contract version is in force; days before a contract starts, after it ends or
after the employee's termination are unpaid; the year to date is the jurisdiction's financial year of the pay
date (1 July to 30 June in Australia).
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import json
import pickle
import sys
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any, NamedTuple

from sqlalchemy import delete, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.service import EmployeeFacts
from domain.kernel import heap, money, offload
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.audit import append_audit, append_audit_rendered
from domain.kernel.audit import write_pending as write_pending_audit
from domain.kernel.clock import utcnow
from domain.kernel.db import bulk_insert_records
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.plan import ApplyContext, register_effect
from domain.kernel.references import Candidate, pick
from domain.kernel.sql import id_in
from domain.kernel.workdays import working_dates
from domain.leave import service as leave
from domain.payroll import engine
from domain.payroll import repository as repo
from domain.payroll.categories import default_category
from domain.payroll.jurisdiction import SUPER_GUARANTEE, DatedRate, Jurisdiction, jurisdiction
from domain.payroll.models import (
    CessationType,
    PayCalendar,
    EmploymentContract,
    PayBasis,
    PayrollRun,
    Payslip,
    PayslipLine,
    PayslipStatus,
    RunStatus,
    SalaryStructure,
    TaxTableRecord,
    UnpaidLeave,
)
from domain.payroll.periods import CalendarRules
from domain.payroll.tax import (
    PayFrequency,
    TaxTable,
    TaxTableSet,
    bundled_tax_tables,
    load_tax_tables,
    unused_leave_withholding,
)

# Accounts a payroll posting uses, created on first use when the chart has no account with the code.
PAYROLL_ACCOUNTS = {
    "salary_expense": ("5100", "Salaries and wages", "expense"),
    "employer_expense": ("5150", "Employer payroll contributions", "expense"),
    "net_payable": ("2100", "Net pay payable", "liability"),
    "tax_payable": ("2110", "PAYG withholding payable", "liability"),
    "deductions_payable": ("2120", "Payroll deductions payable", "liability"),
    "employer_payable": ("2130", "Employer contributions payable", "liability"),
    "bank": ("1010", "Bank - operating account", "asset"),
}
HOURS_SCALE = 100


# ---------------------------------------------------------------- structures


def components_json(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Normalise components as given by a caller (dicts of the engine's fields) for storage."""
    out = []
    for c in components:
        item = {k: v for k, v in c.items() if v is not None}
        if "percent" in item:
            item["percent"] = str(item["percent"])
        out.append(item)
    return out


def engine_structure(row: SalaryStructure) -> engine.SalaryStructure:
    """The engine's structure for a stored one (validated again)."""
    data = json.loads(row.components)
    comps = []
    for c in data["components"]:
        c = dict(c)
        if "percent" in c:
            c["percent"] = Decimal(c["percent"])
        comps.append(engine.Component(**c))
    return engine.SalaryStructure(code=row.code, currency=row.currency, components=tuple(comps),
                                  inputs=tuple(data.get("inputs", ())), name=row.name)


async def tax_tables(session: AsyncSession) -> TaxTableSet:
    """The tax tables: those shipped with mcs-erp (domain/payroll/tables) and those an admin added
    (`add_tax_table`), as one set. Raises InvalidInput if they overlap (add_tax_table refuses that first)."""
    stored = (await session.exec(select(TaxTableRecord).where(col(TaxTableRecord.deleted_at).is_(None)))).all()
    tables = list(bundled_tax_tables().tables)
    for row in stored:
        tables.extend(load_tax_tables(json.loads(row.data)))
    return TaxTableSet(tuple(tables))


async def check_new_tax_table(session: AsyncSession, document: dict[str, Any]) -> tuple[TaxTable, ...]:
    """Load a tax table document (the shape of domain/payroll/tables/*.json) and check it fits with the tables
    in force (no two tables of one code and status on a common day, one currency per code). Raises
    InvalidInput naming what is wrong."""
    new = load_tax_tables(document)
    TaxTableSet(tuple((await tax_tables(session)).tables) + tuple(new))
    return new


async def create_structure(session: AsyncSession, actor: Actor, *, code: str, name: str, currency: str,
                           components: list[dict[str, Any]], inputs: list[str] | None = None) -> SalaryStructure:
    """Store a salary structure after the engine checked it in full (formulas, order, tax tables).

    `components`: dicts with the engine Component fields (code, name, kind, method, amount_minor, percent,
    of, expression, table, prorate, taxable, pre_tax). Raises InvalidInput naming the component, Conflict for
    a code in use.
    """
    stored = {"components": components_json(components), "inputs": list(inputs or [])}
    row = SalaryStructure(code=code.strip().upper(), name=name, currency=money.parse_currency(currency),
                          components=json.dumps(stored))
    await check_structure(session, row)
    existing = (await session.exec(select(SalaryStructure).where(SalaryStructure.code == row.code))).first()
    if existing is not None:
        raise Conflict(f"salary structure {row.code} already exists", field="code")
    session.add(row)
    await session.flush()
    return row


async def check_structure(session: AsyncSession, row: SalaryStructure) -> None:
    """Check a structure's stored components in full, as creating or editing one does: the engine compiles the
    whole list (formulas may use only values known at their position) and every tax table named exists in the
    structure's currency. Raises InvalidInput naming the component or the unknown field."""
    try:
        # A user's formulas are compiled in a worker thread, never on the event loop (issue 17, finding 1), even
        # though domain.payroll.formula's bounds keep one cheap.
        checked = await asyncio.to_thread(engine_structure, row)
    except TypeError as exc:
        raise InvalidInput(f"a component has an unknown field: {exc}; allowed: code, name, kind, method, "
                           "amount_minor, percent, of, expression, table, prorate, taxable, pre_tax, category",
                           field="components") from None
    checked.check_tables(await tax_tables(session))


async def get_structure(session: AsyncSession, structure_id: int) -> SalaryStructure:
    row = await session.get(SalaryStructure, structure_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no salary structure with id {structure_id}; list_salary_structures shows them",
                       field="salary_structure_id")
    return row


# ---------------------------------------------------------------- contracts


async def create_contract(session: AsyncSession, actor: Actor, *, employee_id: int, start_date: date,
                          end_date: date | None, pay_basis: str, base_minor: int, currency: str,
                          salary_structure_id: int, department_id: int | None = None,
                          hours_per_month: Decimal | None = None,
                          filing_status: str | None = None, pay_calendar_id: int | None = None,
                          hours_per_week: Decimal = Decimal(38),
                          leave_loading_percent: Decimal | None = None) -> EmploymentContract:
    """Create version 1 of a new contract (number C0001, ...). `base_minor` is the monthly salary (monthly basis),
    the annual salary (annual basis) or the hourly rate (hourly basis, paid for `hours_per_month`, or else for its
    ordinary hours a week), minor units of `currency`, which must be the structure's. `pay_calendar_id`: the
    calendar it is paid by (default MONTHLY); `hours_per_week`: ordinary hours (1 to 38 for full time, NES s 62;
    up to 60 allowed), on which leave accrues; `leave_loading_percent`: the annual leave loading its award or
    agreement gives (17.5 in most awards), paid with annual leave and on its payout. Raises NotFound, InvalidInput
    (dates, basis, hours, loading, currency), Conflict when the employee already has a contract overlapping these
    dates."""
    employee = await hr.get_employee(session, employee_id)
    structure = await get_structure(session, salary_structure_id)
    calendar_row = await get_calendar(session, pay_calendar_id)
    if pay_basis not in tuple(PayBasis):
        raise InvalidInput(f"pay_basis {pay_basis!r} is not allowed; use monthly, annual or hourly", field="pay_basis")
    if pay_basis == PayBasis.HOURLY and not hours_per_month and not hours_per_week:
        raise InvalidInput("an hourly contract needs hours_per_month or hours_per_week", field="hours_per_month")
    if not Decimal(0) < Decimal(hours_per_week) <= 60 or Decimal(hours_per_week) * 100 % 1:
        raise InvalidInput(f"hours_per_week {hours_per_week} must be above 0 and at most 60, in hundredths",
                           field="hours_per_week")
    if leave_loading_percent is not None and (not 0 <= Decimal(leave_loading_percent) <= 100
                                              or Decimal(leave_loading_percent) * 100 % 1):
        raise InvalidInput(f"leave_loading_percent {leave_loading_percent} must be from 0 to 100 (17.5 for "
                           "17.5 %), in hundredths", field="leave_loading_percent")
    if end_date is not None and end_date < start_date:
        raise InvalidInput(f"end_date {end_date} is before start_date {start_date}", field="end_date")
    money.check_amount(base_minor, field="base_minor")
    currency = money.parse_currency(currency)
    if currency != structure.currency:
        raise InvalidInput(f"the contract is in {currency} but structure {structure.code} pays in "
                           f"{structure.currency}", field="currency")
    if department_id is not None and await hr.get_department(session, department_id) is None:
        raise NotFound(f"no department with id {department_id}", field="department_id")
    for other in await current_contracts(session, employee_ids=[employee_id]):
        if (other.end_date is None or other.end_date >= start_date) and (end_date is None or
                                                                          end_date >= other.start_date):
            raise Conflict(f"{employee.code} already has contract {other.contract_number} from {other.start_date}"
                           f"{' to ' + str(other.end_date) if other.end_date else ''}; change it instead",
                           field="employee_id")
    count = await session.scalar(select(func.count(func.distinct(EmploymentContract.contract_number))))
    row = EmploymentContract(
        contract_number=f"C{(count or 0) + 1:05d}", version_no=1, employee_id=employee_id, start_date=start_date,
        end_date=end_date, effective_from=start_date, pay_basis=pay_basis, base_minor=base_minor,
        hours_per_month_x100=None if hours_per_month is None else int(Decimal(hours_per_month) * HOURS_SCALE),
        currency=currency, salary_structure_id=salary_structure_id,
        department_id=department_id or employee.department_id, filing_status=filing_status,
        pay_calendar_id=calendar_row.id, hours_per_week_x100=int(Decimal(hours_per_week) * 100),
        leave_loading_x100=None if leave_loading_percent is None else int(Decimal(leave_loading_percent) * 100))
    session.add(row)
    await session.flush()
    return row


async def contract_versions(session: AsyncSession, contract_number: str) -> list[EmploymentContract]:
    stmt = (select(EmploymentContract).where(EmploymentContract.contract_number == contract_number)
            .order_by(col(EmploymentContract.version_no)))
    rows = list((await session.exec(stmt)).all())
    if not rows:
        raise NotFound(f"no contract {contract_number}; list_employment_contracts shows them",
                       field="contract_number")
    return rows


async def current_contracts(session: AsyncSession, *, employee_ids: list[int] | None = None
                            ) -> list[EmploymentContract]:
    """The latest version of every contract (optionally of some employees)."""
    stmt = select(EmploymentContract).where(col(EmploymentContract.superseded_at).is_(None))
    if employee_ids is not None:
        stmt = stmt.where(col(EmploymentContract.employee_id).in_(employee_ids))
    return list((await session.exec(stmt.order_by(col(EmploymentContract.id)))).all())


_NOT_CARRIED = frozenset({"id", "version", "created_at", "updated_at", "deleted_at"})


def next_version(current: EmploymentContract, *, reason: str, **changes: Any) -> dict[str, Any]:
    """Rule: the column values of the version after `current`: every term carried over (the pay calendar, hours,
    loading and any term added later included), version_no + 1, not superseded, the change's `reason`, and
    `changes` (column: value) applied."""
    values = {k: v for k, v in current.model_dump().items() if k not in _NOT_CARRIED}
    values.update(version_no=current.version_no + 1, superseded_at=None, reason=reason)
    values.update(changes)
    return values


def check_contract_change(current: EmploymentContract, *, effective_from: date, base_minor: int | None,
                          end_date: date | None) -> None:
    """Rules of a contract change; raises InvalidInput naming the field."""
    if effective_from < current.start_date:
        raise InvalidInput(f"effective_from {effective_from} is before the contract starts ({current.start_date})",
                           field="effective_from")
    if base_minor is not None and base_minor < 0:
        raise InvalidInput("base_minor must be 0 or more", field="base_minor")
    if end_date is not None and end_date < current.start_date:
        raise InvalidInput(f"end_date {end_date} is before the contract starts ({current.start_date})",
                           field="end_date")


async def change_contract(session: AsyncSession, actor: Actor, *, contract_number: str, effective_from: date,
                          base_minor: int | None = None, end_date: date | None = None,
                          reason: str) -> EmploymentContract:
    """Record a new version of a contract from `effective_from` (it may be in the past: the next run pays the
    arrears); the previous version is kept, marked superseded. Raises NotFound, InvalidInput."""
    versions = await contract_versions(session, contract_number)
    current = versions[-1]
    check_contract_change(current, effective_from=effective_from, base_minor=base_minor, end_date=end_date)
    changes: dict[str, Any] = {"effective_from": effective_from}
    if end_date is not None:
        changes["end_date"] = end_date
    if base_minor is not None:
        changes["base_minor"] = base_minor
    row = EmploymentContract(**next_version(current, reason=reason, **changes))
    current.superseded_at = utcnow()
    bump(current)
    session.add(current)
    session.add(row)
    await session.flush()
    return row


async def record_unpaid_leave(session: AsyncSession, actor: Actor, *, employee_id: int, period: str,
                              days: Decimal) -> UnpaidLeave:
    """Set an employee's unpaid leave days in a period (YYYY-MM), replacing what was recorded."""
    await hr.get_employee(session, employee_id)
    start, end = month_bounds(period)
    days_x100 = int(Decimal(days) * 100)
    if days_x100 < 0 or days_x100 > working_days(start, end) * 100 or Decimal(days) * 100 != days_x100:
        raise InvalidInput(f"days must be 0 to the period's {working_days(start, end)} working days, in "
                           "hundredths at most", field="days")
    row = (await session.exec(select(UnpaidLeave).where(UnpaidLeave.employee_id == employee_id,
                                                        UnpaidLeave.period == period))).first()
    if row is None:
        row = UnpaidLeave(employee_id=employee_id, period=period, days_x100=days_x100)
    else:
        row.days_x100 = days_x100
        bump(row)
    session.add(row)
    await session.flush()
    return row


# ---------------------------------------------------------------- periods


def month_bounds(period: str) -> tuple[date, date]:
    """First and last day of a YYYY-MM period; raises InvalidInput (field period)."""
    try:
        year, month = (int(p) for p in period.split("-"))
        start = date(year, month, 1)
    except (ValueError, TypeError):
        raise InvalidInput(f"period {period!r} must be a month as YYYY-MM, e.g. 2026-11", field="period") from None
    return start, date(year, month, calendar.monthrange(year, month)[1])


def working_days(start: date, end: date) -> int:
    """Monday to Friday days from `start` to `end` inclusive."""
    days = 0
    day = start
    while day <= end:
        if day.weekday() < 5:
            days += 1
        day += timedelta(days=1)
    return days


def previous_period(period: str, rules: CalendarRules | None = None) -> str:
    """The label of the period before `period` on a calendar (by default: calendar months)."""
    if rules is not None:
        return rules.previous(period)
    start, _ = month_bounds(period)
    prior = start - timedelta(days=1)
    return f"{prior.year:04d}-{prior.month:02d}"


# ---------------------------------------------------------------- pay calendars

DEFAULT_CALENDAR = "MONTHLY"
"""The calendar of contracts and runs that name none: calendar months, AU, national public holidays (made by the
migration that introduced calendars)."""


def calendar_rules(row: PayCalendar) -> CalendarRules:
    """The period rules of a stored calendar."""
    return CalendarRules(frequency=row.frequency, anchor_date=row.anchor_date,  # type: ignore[arg-type]
                         pay_day_offset=row.pay_day_offset)


async def default_calendar(session: AsyncSession) -> PayCalendar:
    """The MONTHLY calendar (DEFAULT_CALENDAR). Raises NotFound when the database has none (not migrated)."""
    row = await repo.calendar_by_code(session, DEFAULT_CALENDAR)
    if row is None:
        raise NotFound(f"no {DEFAULT_CALENDAR} pay calendar; run mcs-erp init to migrate the database",
                       field="pay_calendar_id")
    return row


async def ensure_default_calendar(session: AsyncSession) -> PayCalendar:
    """The MONTHLY calendar, created when missing (a database built from the models rather than the migrations, as
    the demo builder's tests do)."""
    row = await repo.calendar_by_code(session, DEFAULT_CALENDAR)
    if row is None:
        row = PayCalendar(code=DEFAULT_CALENDAR, name="Monthly (calendar months)", frequency="monthly",
                          anchor_date=date(2000, 1, 1), pay_day_offset=0, jurisdiction="AU", subdivision=None)
        session.add(row)
        await session.flush()
    return row


async def get_calendar(session: AsyncSession, calendar_id: int | None) -> PayCalendar:
    """The pay calendar with that id, or the default (MONTHLY) for None. Raises NotFound."""
    if calendar_id is None:
        return await default_calendar(session)
    row = await session.get(PayCalendar, calendar_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no pay calendar with id {calendar_id}; list_pay_calendars shows them",
                       field="pay_calendar_id")
    return row


async def run_calendar(session: AsyncSession, run: PayrollRun) -> PayCalendar:
    """The pay calendar of a run (runs from before calendars existed: the default)."""
    return await get_calendar(session, run.pay_calendar_id)


async def _of_calendar(session: AsyncSession, column: Any, cal: PayCalendar) -> Any:
    """The SQL condition that `column` (a pay_calendar_id) names `cal`; a row naming none is on the default
    (MONTHLY) calendar."""
    if cal.id != (await default_calendar(session)).id:
        return column == cal.id
    return col(column).is_(None) | (column == cal.id)


async def create_pay_calendar(session: AsyncSession, actor: Actor, *, code: str, name: str, frequency: str,
                              anchor_date: date, pay_day_offset: int = 0, jurisdiction_code: str = "AU",
                              subdivision: str | None = None) -> PayCalendar:
    """Create a pay calendar: `frequency` weekly, fortnightly or monthly; weekly and fortnightly periods start on
    `anchor_date` and every 7 or 14 days from it; a period is paid `pay_day_offset` days (-31..31) after its last
    day; public holidays of `jurisdiction_code` (AU) and its `subdivision` (a state: VIC, NSW, ...) are not working
    days. Raises InvalidInput (frequency, offset, unknown jurisdiction or state), Conflict (code in use)."""
    rules = CalendarRules(frequency=frequency, anchor_date=anchor_date,  # type: ignore[arg-type]
                          pay_day_offset=pay_day_offset)
    place = jurisdiction(jurisdiction_code)
    subdivision = subdivision.upper() if subdivision else None
    working_dates(anchor_date, anchor_date, country=place.holidays_country, subdivision=subdivision)  # checks it
    code = code.strip().upper()
    if await repo.calendar_by_code(session, code) is not None:
        raise Conflict(f"pay calendar {code} already exists", field="code")
    row = PayCalendar(code=code, name=name, frequency=rules.frequency.value, anchor_date=anchor_date,
                      pay_day_offset=pay_day_offset, jurisdiction=place.code, subdivision=subdivision)
    session.add(row)
    await session.flush()
    return row


async def list_calendars(session: AsyncSession) -> list[PayCalendar]:
    """Every pay calendar, by id."""
    return await repo.calendars(session)


async def added_rates(session: AsyncSession, jurisdiction_code: str) -> list[DatedRate]:
    """The dated rates an admin added for a jurisdiction (domain/payroll/rates.py adds them), oldest first."""
    return [DatedRate(r.name, r.effective_from, Fraction(Decimal(r.rate)), r.source)
            for r in await repo.added_rate_rows(session, jurisdiction_code)]


# ---------------------------------------------------------------- runs


async def get_run(session: AsyncSession, run_id: int, *, for_update: bool = False) -> PayrollRun:
    stmt = select(PayrollRun).where(PayrollRun.id == run_id)
    if for_update and session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    run = (await session.exec(stmt)).first()
    if run is None:
        raise NotFound(f"no payroll run with id {run_id}; list_payroll_runs shows them", field="run_id")
    return run


async def create_run(session: AsyncSession, actor: Actor, *, period: str, currency: str,
                     pay_date: date | None = None, pay_calendar_id: int | None = None) -> PayrollRun:
    """Create the draft run of one period of a pay calendar (default: MONTHLY): `period` is YYYY-MM for a monthly
    calendar, the period's first day YYYY-MM-DD for a weekly or fortnightly one; `pay_date` defaults to the
    calendar's (the period's last day plus its offset). Raises Conflict when the calendar's period already has a
    live run (one that is not cancelled or reversed), InvalidInput for a malformed period, one on which no period
    of the calendar starts, or a pay date before the period starts."""
    cal = await get_calendar(session, pay_calendar_id)
    rules = calendar_rules(cal)
    start, end = rules.bounds(period)
    pay_date = pay_date or rules.pay_date(end)
    if pay_date < start:
        raise InvalidInput(f"pay_date {pay_date} is before the period starts ({start})", field="pay_date")
    live = (await session.exec(select(PayrollRun).where(
        PayrollRun.period == period, await _of_calendar(session, PayrollRun.pay_calendar_id, cal),
        col(PayrollRun.status).not_in((RunStatus.CANCELLED.value, RunStatus.REVERSED.value))))).first()
    if live is not None:
        raise Conflict(f"period {period} of pay calendar {cal.code} already has payroll run {live.id} "
                       f"({live.status}); recalculate, cancel or reverse it", field="period")
    run = PayrollRun(period=period, period_start=start, period_end=end, pay_date=pay_date,
                     currency=money.parse_currency(currency), status=RunStatus.DRAFT.value,
                     created_by=actor.id or None, pay_calendar_id=cal.id)
    session.add(run)
    await session.flush()
    return run


def ensure_status(run: PayrollRun, *allowed: RunStatus, doing: str) -> None:
    if run.status not in {s.value for s in allowed}:
        wanted = " or ".join(s.value for s in allowed)
        raise Conflict(f"payroll run {run.id} is {run.status}; {doing} needs it {wanted}", field="run_id")


@dataclass
class Calculated:
    """The outcome of a calculation: the run, payslips written, and employees skipped with the reason."""

    run: PayrollRun
    payslips: int
    skipped: list[dict[str, Any]]


@dataclass
class Computation:
    """Every payslip of a run, computed (not yet written), and the run version it was computed from."""

    run_id: int
    run_version: int
    payslips: list[tuple[EmploymentContract, engine.Payslip]]
    employees: Mapping[int | None, EmployeeFacts]
    skipped: list[dict[str, Any]]
    leave: list[str] | None = None  # per payslip, as JSON: accrued, taken and paid-out hours by leave type
    ytd: list[str] | None = None  # per payslip, as JSON: its year to date and withholding working (_ytd_json)


Progress = Callable[[int, int], Awaitable[None]]


async def _ytd_before(session: AsyncSession, employee_ids: list[int], run: PayrollRun, fy_start: date
                      ) -> dict[int, engine.YearToDate]:
    """Year to date per employee from the posted payslips (reversals count) of other runs paid in the financial
    year of `run`'s pay date, from `fy_start` up to its pay date (issue 18, M3: AU years run 1 July to 30 June):
    gross, net and taxable pay summed over the payslips, tax (the lines of kind tax) and each line code over their
    lines. Summed in the database (repository.year_to_date_sums): a run late in the year reads one row per employee
    and line code, not every earlier payslip and line of the year."""
    counted = (PayslipStatus.DONE.value, PayslipStatus.PAID.value, PayslipStatus.VOID.value)
    totals, line_sums = await repo.year_to_date_sums(session, employee_ids, statuses=counted,
                                                     other_than_run=run.id or 0, pay_date_from=fy_start,
                                                     pay_date_to=run.pay_date)
    tax: dict[int, int] = defaultdict(int)
    components: dict[int, dict[str, int]] = defaultdict(dict)
    for employee_id, code, kind, amount in line_sums:
        if kind == "tax":
            tax[employee_id] += amount
        comps = components[employee_id]
        comps[code] = comps.get(code, 0) + amount
    return {employee_id: engine.YearToDate(gross, taxable, tax.get(employee_id, 0), net,
                                           components.get(employee_id, {}))
            for employee_id, gross, net, taxable in totals}


def _version_for(versions: list[EmploymentContract], day: date) -> EmploymentContract | None:
    """The contract version in force on `day`: the highest version effective by then (a later version with an
    earlier effective date, a backdated change, wins from its date)."""
    if len(versions) == 1:  # most contracts
        return versions[0] if versions[0].effective_from <= day else None
    inforce = [v for v in versions if v.effective_from <= day]
    return max(inforce, key=lambda v: v.version_no) if inforce else None


def annual_pay(contract: EmploymentContract) -> Fraction:
    """Rule: a contract version's pay for a year, minor units, exact: a monthly salary x 12; an hourly rate x its
    hours a month x 12 (contracts that give hours a month) or x its ordinary hours a week x 52; an annual salary."""
    if contract.pay_basis == PayBasis.HOURLY:
        if contract.hours_per_month_x100:
            return Fraction(contract.base_minor) * Fraction(contract.hours_per_month_x100, HOURS_SCALE) * 12
        return Fraction(contract.base_minor) * Fraction(contract.hours_per_week_x100, HOURS_SCALE) * 52
    if contract.pay_basis == PayBasis.ANNUAL:
        return Fraction(contract.base_minor)
    return Fraction(contract.base_minor) * 12


def period_pay(contract: EmploymentContract, frequency: PayFrequency) -> Fraction:
    """Rule: a contract version's pay for one full period of `frequency`: its annual pay / the periods a year
    (52, 26, 12), exact; a monthly salary paid monthly is the salary itself."""
    if contract.pay_basis == PayBasis.ANNUAL:
        return Fraction(contract.base_minor, frequency.periods_per_year)  # one Fraction made, not two
    return annual_pay(contract) / frequency.periods_per_year


def hourly_rate(contract: EmploymentContract) -> Fraction:
    """Rule: the ordinary hourly rate (minor units, exact): annual pay / (52 x ordinary hours a week); the rate
    leave is paid and valued at (Fair Work Act 2009 s 90(1): the base rate of pay for the ordinary hours)."""
    if contract.pay_basis == PayBasis.HOURLY:
        return Fraction(contract.base_minor)
    hours = Fraction(contract.hours_per_week_x100 or 3800, HOURS_SCALE)
    return annual_pay(contract) / (52 * hours)


def blended_pay(versions: list[EmploymentContract], days: list[date], frequency: PayFrequency) -> Fraction:
    """Rule (issue 18, M1): a period's pay when contract versions change inside it: each version's full-period pay
    weighted by the working days (`days`, those employed) it is in force, e.g. a raise from 17,940.00 to 18,940.00
    a month effective on the 12th of 22 working days pays 17,940 x 11/22 + 18,940 x 11/22 = 18,440.00."""
    if not days:
        return Fraction(0)
    if len(versions) == 1 and versions[0].effective_from <= days[0]:
        return period_pay(versions[0], frequency)  # one version, in force all period: most contracts
    first = _version_for(versions, days[0])
    if first is not None and first is _version_for(versions, days[-1]) and all(
            v.effective_from <= days[0] or v.version_no < first.version_no for v in versions):
        return period_pay(first, frequency)  # one version in force all period: the common case, without a day loop
    counts: dict[int, int] = defaultdict(int)
    by_id = {}
    for day in days:
        version = _version_for(versions, day)
        if version is not None:
            counts[version.id or 0] += 1
            by_id[version.id or 0] = version
    return sum((period_pay(by_id[i], frequency) * n for i, n in counts.items()), Fraction(0)) / len(days)


def _hours_text(hours: Fraction) -> str:
    """Hours as the leave record stores them: rounded to hundredths as domain.leave stores every movement."""
    return str(Decimal(leave.to_x100(hours)) / 100)


def _leave_json(accrued: Mapping[str, Fraction], taken: Mapping[str, Fraction], paid_out: Mapping[str, Fraction],
                requests: list[Any]) -> dict[str, Any]:
    """A payslip's leave record: hours accrued, taken and paid out by leave type, and the hours of each approved
    request it paid (what posting records against the request)."""
    def show(values: Mapping[str, Fraction]) -> dict[str, str]:
        return {code: _hours_text(h) for code, h in sorted(values.items()) if h}
    return {"accrued": show(accrued), "taken": show(taken), "paid_out": show(paid_out),
            "requests": [{"request_id": r.request_id, "type": r.type_code, "hours": _hours_text(r.hours)}
                         for r in requests if r.hours]}


_ZERO = Fraction(0)
"""Zero as the Fraction the rules compute with, made once (a Fraction is immutable): 10,000 payslips a run."""


@dataclass
class _Employment:
    """What compute_run knows of one contract in one period before computing its payslip."""

    contract: EmploymentContract
    versions: list[EmploymentContract]
    employed: list[date]  # the working days employed; read only (often the period's own list, shared)
    ends_on: date | None
    cessation_type: str | None


PROGRESS_EVERY = 500
"""compute_run reports its progress after each this many employees (one batch for the compute process)."""


SWITCH_INTERVAL_S = 0.0005
"""The interpreter's switch interval (sys.setswitchinterval) while compute_run's batches compute in a thread of
this process (offload with compute_processes 0). A thread waiting for the GIL asks the holder to drop it only after
the interval, 5 ms by default: the event loop, writing the previous batch, waits for the GIL after each poll and
each socket send or receive while the computing thread holds it, so each of a batch's round trips cost it up to
5 ms more (a profile of bench/payroll.py's event loop: 116 sends of COPY data taking 6.2 ms each, 0.72 s of a
4,000-payslip run). At 0.5 ms the loop waits a tenth of that; the computing thread loses the GIL only when another
thread asks for it."""

_switch_depth = 0
_switch_saved = 0.005


@contextmanager
def _prompt_gil_switching() -> Iterator[None]:
    """Lower the interpreter's switch interval to SWITCH_INTERVAL_S while a run computes (nested and concurrent
    runs share one lowering; the last to finish puts the interval back)."""
    global _switch_depth, _switch_saved
    if _switch_depth == 0:
        _switch_saved = sys.getswitchinterval()
        sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL_S))
    _switch_depth += 1
    try:
        yield
    finally:
        _switch_depth -= 1
        if _switch_depth == 0:
            sys.setswitchinterval(_switch_saved)


_CONTRACTS_TABLE: Any = EmploymentContract.__table__  # type: ignore[attr-defined]
_PAYSLIPS_TABLE: Any = Payslip.__table__  # type: ignore[attr-defined]
COMPUTED_CONTRACT_COLUMNS = tuple(column for column in _CONTRACTS_TABLE.columns if column.name not in (
    "version", "created_at", "updated_at", "deleted_at", "superseded_at", "reason"))
"""The employment_contracts columns compute_run reads for a run (every one but the row's version, timestamps and
reason for the change, which no payslip is computed from)."""


BatchSink = Callable[["Computation"], Awaitable[None]]
"""Called by compute_run with each batch of payslips computed (a Computation of that batch only, its `skipped`
empty) while the next batch is computed (domain.kernel.offload)."""


async def compute_run(session: AsyncSession, run_id: int, *, progress: Progress | None = None,
                      sink: BatchSink | None = None) -> Computation:
    """Compute (without writing) every payslip of a draft or calculated run; with `sink`, hand each batch of
    PROGRESS_EVERY payslips to it as soon as it is computed, while the next batch is computed (calculate_run
    writes them so).

    Employees paid: those whose contract is on the run's pay calendar and who are employed on a working day of the
    period (working days: Monday to Friday less the calendar's public holidays, domain.kernel.workdays). Their
    pay: `blended_pay` over the working days each contract version is in force (M1); days before the contract
    starts, after it ends or after the employee's termination date are unpaid (M2); approved leave in the period
    (domain.leave) is paid by its own lines at the ordinary hourly rate, with the contract's leave loading on
    annual leave, and taken out of `base`; unpaid leave adds unpaid days. When employment ends in the period, the
    final pay adds the unused leave payable on termination (FWA s 90(2); Victoria's LSL after 7 years) and its
    withholding (ATO Schedule 7, `tax.unused_leave_withholding`). Leave accrues on the ordinary hours paid
    (domain.leave accrual rules). Year to date: the financial year of the pay date (M3). Arrears: for earlier
    posted payslips whose period a backdated contract version now covers, the difference not yet paid, pro rata
    by working days. Raises Conflict for a run in another status or a period without working days; InvalidInput
    naming the employee the engine refuses (e.g. no tax table in force on the pay date) or whose net pay would be
    negative."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.DRAFT, RunStatus.CALCULATED, doing="calculating")
    cal = await run_calendar(session, run)
    rules = calendar_rules(cal)
    place = jurisdiction(cal.jurisdiction)
    start, end = run.period_start, run.period_end
    dates = working_dates(start, end, country=place.holidays_country, subdivision=cal.subdivision)
    if not dates:
        raise Conflict(f"period {run.period} has no working days (weekends and public holidays only)", field="run_id")
    total_days = len(dates)
    frequency = rules.frequency
    period = engine.PayPeriod(start=start, end=end, pay_date=run.pay_date, frequency=frequency)
    on_calendar = select(EmploymentContract.contract_number).where(
        col(EmploymentContract.superseded_at).is_(None),
        await _of_calendar(session, EmploymentContract.pay_calendar_id, cal))
    # Plain rows (attribute access by column name, read only), not ORM objects: 10,000 contracts' objects cost more
    # to build than their payslips' arithmetic; run as Core on the unit of work's connection (its tenant schema),
    # which skips the ORM's handling of each row (its loading ran about as long as the rows' own processing). Only
    # the columns a payslip is computed from (COMPUTED_CONTRACT_COLUMNS): not the row's timestamps, whose 40,000
    # values a run the column type converted for nothing.
    all_versions = (await (await session.connection()).execute(
        select(*COMPUTED_CONTRACT_COLUMNS).where(
            EmploymentContract.start_date <= end, col(EmploymentContract.contract_number).in_(on_calendar))
        .order_by(col(EmploymentContract.id)))).all()
    by_contract: dict[str, list[EmploymentContract]] = defaultdict(list)
    for version in all_versions:
        by_contract[version.contract_number].append(version)
    employee_ids = sorted({v.employee_id for v in all_versions})
    employees: dict[int | None, EmployeeFacts] = dict(await hr.employee_facts(session, employee_ids))
    plans: list[_Employment] = []
    for versions in by_contract.values():
        versions.sort(key=lambda v: v.version_no)
        last = versions[-1]
        employee = employees.get(last.employee_id)
        ends = [d for d in (last.end_date, employee.termination_date if employee else None) if d is not None]
        ends_on = min(ends) if ends else None
        if ends_on is not None and ends_on < start:
            continue
        if last.start_date <= dates[0] and (ends_on is None or ends_on >= dates[-1]):
            employed = dates  # employed all period (most contracts): the period's own list, shared and read only
        else:
            employed = [d for d in dates if d >= last.start_date and (ends_on is None or d <= ends_on)]
        if not employed and not (ends_on is not None and start <= ends_on <= end):
            continue
        contract = _version_for(versions, employed[-1] if employed else min(end, ends_on or end)) or last
        cessation = last.cessation_type or (CessationType.VOLUNTARY.value if employee is not None
                                            and employee.termination_date is not None else None)
        plans.append(_Employment(contract, versions, employed, ends_on if ends_on and ends_on <= end else None,
                                 cessation))
    plans.sort(key=lambda p: p.contract.employee_id)
    paid_ids = sorted({p.contract.employee_id for p in plans})
    structure_rows = (await session.exec(select(SalaryStructure))).all()
    unpaid_rows = {row.employee_id: Fraction(row.days_x100, 100) for row in (await session.exec(select(UnpaidLeave).where(
        UnpaidLeave.period == run.period))).all()} if frequency is PayFrequency.MONTHLY else {}
    fy_start, _ = place.financial_year(run.pay_date)
    ytd = await _ytd_before(session, paid_ids, run, fy_start)
    arrears = await _arrears(session, plans, run, rules, place, cal.subdivision)
    tables = await tax_tables(session)
    leave_types = {t.code: t for t in await leave.leave_types(session)}
    taken = await leave.taken_in_period(session, employee_ids=paid_ids, start=start, end=end,
                                        country=place.holidays_country, subdivision=cal.subdivision)
    leaving = [p for p in plans if p.ends_on is not None]
    balances = await leave.balances(session, employee_ids=[p.contract.employee_id for p in leaving]) if leaving else {}
    rates = {SUPER_GUARANTEE: place.rate(SUPER_GUARANTEE, run.pay_date, added=await added_rates(session, place.code)
                                         ).rate}
    computed: list[tuple[EmploymentContract, engine.Payslip]] = []
    leave_records: list[str] = []
    ytd_records: list[str] = []
    skipped: list[dict[str, Any]] = []
    # What every payslip is computed with, pickled once for the compute process (offload.run_pure): each batch
    # carries these bytes (unpickled once per process) and only its own employees' facts.
    shared = pickle.dumps(_RunShared(
        currency=run.currency, period=period, total_days=total_days,
        structures=tuple((row.id, row.code, row.currency, row.components, row.name) for row in structure_rows),
        leave_types=leave_types, tables=tables, rates=rates), protocol=pickle.HIGHEST_PROTOCOL)
    shared_key = hashlib.blake2b(shared, digest_size=16).hexdigest()  # once per run, not per batch
    no_ytd = engine.YearToDate()  # the year to date of an employee with no payslip before this run: one, immutable

    async def compute(batch: list[_Employment]) -> None:
        """Compute `batch`'s payslips in the compute process (domain.kernel.offload): pure computation on what was
        read above, so no user's formula runs on, or holds the GIL of, the event loop's process (issue 17,
        finding 1; issue 18's bench)."""
        items = [_Item(job, employees.get(job.contract.employee_id),
                       unpaid_rows.get(job.contract.employee_id, _ZERO), taken.get(job.contract.employee_id, []),
                       balances.get(job.contract.employee_id, {}), arrears.get(job.contract.employee_id, ()),
                       ytd.get(job.contract.employee_id, no_ytd)) for job in batch]
        outcomes = await offload.run_pure(_compute_batch, shared_key, shared, items)
        for job, outcome in zip(batch, outcomes, strict=True):
            if outcome[0] == "skip":
                skipped.append(outcome[1])
            elif outcome[0] == "error":
                raise InvalidInput(outcome[1], field=outcome[2])
            else:
                computed.append((job.contract, outcome[1]))
                leave_records.append(outcome[2])
                ytd_records.append(outcome[3])

    def batch_since(first: int, last: int) -> Computation:
        return Computation(run_id=run_id, run_version=run.version, payslips=computed[first:last],
                           employees=employees, skipped=[], leave=leave_records[first:last],
                           ytd=ytd_records[first:last])

    handed = 0  # computed[:handed] went to the sink
    with _prompt_gil_switching():
        for first in range(0, max(len(plans), 1), PROGRESS_EVERY):
            batch = plans[first:first + PROGRESS_EVERY]
            ready = len(computed)  # the thread only appends: computed[:ready] stays as it is while it runs
            computing = asyncio.ensure_future(compute(batch))
            try:
                if sink is not None and handed < ready:
                    await sink(batch_since(handed, ready))  # the database writes it while the thread computes
                    handed = ready
            except BaseException:
                await asyncio.wait([computing])  # never leave the thread running behind an error
                raise
            await computing
            if progress is not None and len(batch) == PROGRESS_EVERY:
                await progress(first + PROGRESS_EVERY, len(plans))
    if sink is not None and handed < len(computed):
        await sink(batch_since(handed, len(computed)))
    return Computation(run_id=run_id, run_version=run.version, payslips=computed, employees=employees,
                       skipped=skipped, leave=leave_records, ytd=ytd_records)


@dataclass(frozen=True)
class _RunShared:
    """What every payslip of a run is computed with (pickled once per run; its hash names it in the cache)."""

    currency: str
    period: engine.PayPeriod
    total_days: int
    structures: tuple[tuple[int | None, str, str, str, str], ...]  # (id, code, currency, components JSON, name)
    leave_types: Mapping[str, Any]
    tables: TaxTableSet
    rates: Mapping[str, Fraction]


class _Item(NamedTuple):
    """One employee's facts for `_compute_batch` (a named tuple: 10,000 are made a run, on the event loop)."""

    job: _Employment
    employee: EmployeeFacts | None
    unpaid: Fraction
    taken: list[Any]
    balance: Mapping[str, Fraction]
    arrears: tuple[engine.PayslipLine, ...]
    ytd: engine.YearToDate


_shared_cache: dict[str, tuple[_RunShared, dict[int | None, engine.SalaryStructure], dict[Any, Any]]] = {}
"""A compute process's (or thread's) runs: the shared facts unpickled and their structures compiled, once per run,
and the run's accruals by the ordinary hours paid (`_compute_one`: most of a run's employees are paid the same
hours, so accrue the same leave, recorded with the same text)."""

offload.preload(__name__)


def _compute_batch(key: str, blob: bytes, items: list[_Item]) -> list[tuple[Any, ...]]:
    """Compute each item's payslip (in a compute process: domain.kernel.offload). Returns, per item in order,
    ("ok", payslip, its leave record as JSON, its year to date as JSON), ("skip", reason) or ("error", message,
    field): the first error stops the run (InvalidInput naming the employee), raised by the caller, since not every
    exception pickles. The JSON is rendered here, off the writing process."""
    shared, structures, accruals = _unpickled(key, blob)
    out: list[tuple[Any, ...]] = []
    for item in items:
        contract, employee = item.job.contract, item.employee
        if employee is None or employee.deleted_at is not None:
            out.append(("skip", {"contract": contract.contract_number, "reason": "the employee record was deleted"}))
            continue
        if contract.currency != shared.currency:
            out.append(("skip", {"employee": employee.code, "reason": f"contract in {contract.currency}, run in "
                                                                      f"{shared.currency}"}))
            continue
        try:
            slip, record = _compute_one(item.job, employee, structures[contract.salary_structure_id], shared.period,
                                        shared.total_days, item.unpaid, item.taken, shared.leave_types, item.balance,
                                        item.arrears, item.ytd, shared.tables, shared.rates, accruals)
        except InvalidInput as exc:
            out.append(("error", f"{employee.code} {employee.full_name}: {exc.message}", exc.field))
            return out
        if slip.net_minor < 0:
            out.append(("error", f"{employee.code} {employee.full_name}: net pay would be {slip.net_minor} "
                                 "(deductions exceed gross pay); fix the contract or the leave before calculating",
                        "run_id"))
            return out
        out.append(("ok", slip, record, _ytd_json(slip)))
    return out


def _ytd_json(slip: engine.Payslip) -> str:
    """A payslip's `ytd` column: year to date after it, its taxable pay, and which published table each tax line
    came from (its citation) with the working, for the record."""
    # The text json.dumps gives ({"gross_minor": ..., "withholding": [record, ...]}, its default separators; the
    # totals are ints, checked by the engine), each withholding's record from its step's rendered JSON.
    ytd = slip.ytd
    return (f'{{"gross_minor": {ytd.gross_minor}, "taxable_minor": {ytd.taxable_minor}, "tax_minor": {ytd.tax_minor}, '
            f'"net_minor": {ytd.net_minor}, "period_taxable_minor": {slip.taxable_minor}, '
            f'"withholding": [{", ".join([w.record_json() for w in slip.withholdings])}]}}')


def _unpickled(key: str, blob: bytes) -> tuple[_RunShared, dict[int | None, engine.SalaryStructure], dict[Any, Any]]:
    """The run's shared facts (`blob`, named by `key`, its hash) and compiled structures, from the cache when this
    process has seen the run."""
    hit = _shared_cache.get(key)
    if hit is None:
        shared: _RunShared = pickle.loads(blob)
        structures = {sid: engine_structure(SalaryStructure(id=sid, code=code, currency=currency,
                                                            components=components, name=name))
                      for sid, code, currency, components, name in shared.structures}
        while len(_shared_cache) >= 4:  # runs computed at once by one process: a few
            _shared_cache.pop(next(iter(_shared_cache)))
        hit = _shared_cache[key] = (shared, structures, {})
    return hit


def _compute_one(job: _Employment, employee: EmployeeFacts, structure: engine.SalaryStructure, period: engine.PayPeriod,
                 total_days: int, unpaid_recorded: Fraction, taken: list[Any], leave_types: Mapping[str, Any],
                 balance: Mapping[str, Fraction], arrears: tuple[engine.PayslipLine, ...], ytd: engine.YearToDate,
                 tables: TaxTableSet, rates: Mapping[str, Fraction], accruals: dict[Any, Any] | None = None
                 ) -> tuple[engine.Payslip, str]:
    """One employee's payslip and its leave record as JSON (accrued, taken and paid-out hours by leave type).
    `accruals`: the run's accruals computed so far, by the ordinary hours paid (read and added to)."""
    contract, frequency = job.contract, period.frequency
    base = blended_pay(job.versions, job.employed, frequency)
    # The hourly rate and the leave loading pay leave taken and unused leave paid on termination; most payslips have
    # neither.
    rate = loading = _ZERO
    if taken or job.ends_on is not None:
        rate = hourly_rate(contract)
        loading = Fraction(contract.leave_loading_x100 or 0, 10_000)
    leave_lines: list[engine.PayslipLine] = []
    taken_hours: dict[str, Fraction] = defaultdict(Fraction)
    unpaid_days: int | Fraction = total_days - len(job.employed)  # exact: an int while it is whole
    if unpaid_recorded:
        unpaid_days += unpaid_recorded
    paid_leave_total = 0
    for item in taken:
        taken_hours[item.type_code] += item.hours
        if not item.paid:
            unpaid_days += item.days
            continue
        amount = engine.round_half_up(rate * item.hours)
        paid_leave_total += amount
        category = f"paid_leave:{item.stp_code or 'O'}"
        name = leave_types[item.type_code].name if item.type_code in leave_types else item.type_code
        leave_lines.append(engine.PayslipLine(f"LEAVE_{item.type_code}"[:40], name, engine.LineKind.LEAVE, amount,
                                              category=category, hours=item.hours))
        if item.loading and loading:
            leave_lines.append(engine.PayslipLine(
                f"LOADING_{item.type_code}"[:40], f"{name} loading {(Decimal(contract.leave_loading_x100 or 0) / 100).normalize():f} %",
                engine.LineKind.LEAVE, engine.round_half_up(rate * item.hours * loading), category=category))
    leave_lines = _merge_lines(leave_lines)
    unpaid_days = min(total_days, unpaid_days)
    payment_days = total_days - unpaid_days
    # The ordinary hours paid: hours a week x 52 / periods a year x payment days / working days, on integers.
    accrual_key = (contract.hours_per_week_x100 * 52 * payment_days.numerator,
                   HOURS_SCALE * frequency.periods_per_year * total_days * payment_days.denominator)
    known = accruals.get(accrual_key) if accruals is not None else None  # by integers: a Fraction's hash is slow
    if known is None:
        accrued = leave.accrual_hours(list(leave_types.values()), Fraction(*accrual_key))
        # The record of a payslip without leave taken or paid out, which depends on nothing else.
        known = (accrued, json.dumps(_leave_json(accrued, {}, {}, [])))
        if accruals is not None and len(accruals) < 10_000:
            accruals[accrual_key] = known
    accrued, plain_record = known
    termination: list[engine.PayslipLine] = []
    termination_tax: list[engine.PayslipLine] = []
    paid_out: dict[str, Fraction] = {}
    if job.ends_on is not None:
        redundancy = job.cessation_type in (CessationType.REDUNDANCY.value, CessationType.ILL_HEALTH.value)
        category = "lump_sum:A" if redundancy else "gross"
        years = leave.completed_years(employee.hire_date, job.ends_on)
        for code, kind in leave_types.items():
            if not kind.payable_on_termination or (kind.service_years and years < kind.service_years):
                continue
            hours = leave.from_x100(leave.to_x100(balance.get(code, Fraction(0)) + accrued.get(code, Fraction(0))
                                                  - taken_hours.get(code, Fraction(0))))
            if hours <= 0:
                continue
            paid_out[code] = hours
            amount = engine.round_half_up(rate * hours)
            termination.append(engine.PayslipLine(f"UNUSED_{code}"[:40], f"Unused {kind.name.lower()} paid out",
                                                  engine.LineKind.TERMINATION, amount, category=category, hours=hours))
            if kind.loading and loading:
                termination.append(engine.PayslipLine(
                    f"UNUSED_{code}_LOADING"[:40], f"Loading on unused {kind.name.lower()}",
                    engine.LineKind.TERMINATION, engine.round_half_up(rate * hours * loading), category=category))
        payout = sum(line.amount_minor for line in termination)
        table_code = next(iter(structure.tax_tables_used), None)
        if payout and table_code is not None:
            status = contract.filing_status if tables.filing_statuses(table_code) else None
            table = tables.pick(table_code, on=period.pay_date, filing_status=status)
            withheld = unused_leave_withholding(table, normal_minor=engine.round_half_up(period_pay(contract,
                                                                                               frequency)),
                                                payment_minor=payout, frequency=frequency,
                                                genuine_redundancy=redundancy)
            termination_tax.append(engine.PayslipLine("PAYG_TERMINATION", "PAYG withholding on unused leave "
                                                      "(ATO Schedule 7)", engine.LineKind.TAX, withheld,
                                                      category="payg"))
    slip = engine.compute_payslip(
        structure, period,
        # Made here as PayInputs.trusted documents (leave and termination lines of their kinds, the arrears lines
        # of _arrears, a year to date): the days and rates checked, the rest not again.
        engine.PayInputs.trusted(base_minor=(base if not paid_leave_total and base >= 0
                                             else max(Fraction(0), base - paid_leave_total)), working_days=total_days,
                                 unpaid_leave_days=unpaid_days, filing_status=contract.filing_status,
                                 arrears=arrears, leave=tuple(leave_lines), termination=tuple(termination),
                                 termination_tax=tuple(termination_tax), rates=rates, ytd=ytd), tax_tables=tables)
    if not taken and not paid_out:
        return slip, plain_record
    return slip, json.dumps(_leave_json(accrued, taken_hours, paid_out, taken))


def _merge_lines(lines: list[engine.PayslipLine]) -> list[engine.PayslipLine]:
    """Lines of one code added into one (two requests of the same type in a period make one line)."""
    merged: dict[str, engine.PayslipLine] = {}
    for line in lines:
        if line.code in merged:
            was = merged[line.code]
            hours = None if was.hours is None else was.hours + (line.hours or 0)
            line = engine.PayslipLine(line.code, line.name, line.kind, was.amount_minor + line.amount_minor,
                                      category=line.category, hours=hours)
        merged[line.code] = line
    return list(merged.values())


async def store_run(session: AsyncSession, computation: Computation, *, actor: Actor = SYSTEM_ACTOR,
                    tool: str = "calculate_payroll_run") -> Calculated:
    """Write a computation in the caller's transaction: the run's draft payslips replaced, its totals set, status
    calculated, and one audit row per payslip written (event payslip_written, entity payslips, as `actor` under
    `tool`). Raises Conflict when the run changed since it was computed (calculate again)."""
    run = await get_run(session, computation.run_id, for_update=True)
    ensure_status(run, RunStatus.DRAFT, RunStatus.CALCULATED, doing="calculating")
    if run.version != computation.run_version:
        raise Conflict(f"payroll run {run.id} changed while it was being calculated; calculate it again",
                       field="run_id")
    await _delete_drafts(session, run)
    await _store_payslips(session, run, computation, actor=actor, tool=tool)
    return await _calculated(session, run, computation)


async def calculate_run(session: AsyncSession, run_id: int, *, actor: Actor = SYSTEM_ACTOR,
                        tool: str = "calculate_payroll_run", progress: Progress | None = None) -> Calculated:
    """compute_run and store_run in the caller's write transaction, pipelined: the run is locked, its draft
    payslips deleted, and each batch of payslips written (with its audit rows) while the next batch is computed,
    so the database's share of the writing overlaps the computation. Returns and raises what the two do; the
    outcome is the same as store_run(compute_run(...)). Holds the run's row lock, and on SQLite every other
    writer, for the whole calculation: the job uses it on PostgreSQL and computes before it writes on SQLite.

    Tried for bench/payroll.py and not kept (issue 18; the run's three calendars in one process, calculated and
    rolled back, old and new alternated run by run, load 1.7-6): the thread computing batch after batch without
    waiting for the writes, the sink writing everything computed since its last write (a first batch of 100),
    median wall 2.23 against 2.21 s, pairs either way (2.16/1.68, 1.95/2.21, 2.48/2.76); first and last batches
    of 100 (less computing before the first write and writing after the last computation) 2.25 against 2.29 s,
    pairs within 0.1 s. The writes (PostgreSQL's COPY with each row's foreign-key checks) are as long as the
    computation or longer, and neither ordering made them shorter."""
    run = await get_run(session, run_id, for_update=True)
    ensure_status(run, RunStatus.DRAFT, RunStatus.CALCULATED, doing="calculating")
    await _delete_drafts(session, run)

    async def store(batch: Computation) -> None:
        await _store_payslips(session, run, batch, actor=actor, tool=tool)

    with heap.collection_paused():  # a run's payslips, lines and records live until it ends (compute_run)
        return await _calculated(session, run, await compute_run(session, run_id, progress=progress, sink=store))


async def _delete_drafts(session: AsyncSession, run: PayrollRun) -> None:
    # Deleting a payslip checks payslips.reverses_payslip_id (its own foreign key): the partial index
    # ix_payslips_reverses_payslip_id answers it (without it, each draft deleted scanned the whole table: a bench
    # database of 10,000 payslips, 200 drafts 467 ms against 7 ms; recalculating a 4,000-payslip run took minutes).
    drafts = select(Payslip.id).where(Payslip.run_id == run.id, Payslip.status == PayslipStatus.DRAFT.value)
    await session.exec(delete(PayslipLine).where(col(PayslipLine.payslip_id).in_(drafts)))  # type: ignore[call-overload]
    await session.exec(delete(Payslip).where(Payslip.run_id == run.id,  # type: ignore[call-overload]
                                             Payslip.status == PayslipStatus.DRAFT.value))


async def _store_payslips(session: AsyncSession, run: PayrollRun, computation: Computation, *, actor: Actor,
                          tool: str) -> None:
    """Write `computation`'s payslips, their lines and one audit row each (event payslip_written)."""
    computed = computation.payslips
    ids, numbers = await _write_payslips(session, run, computed, computation.employees, computation.leave,
                                         computation.ytd)
    # Each entry's arguments {"employee_id", "run_id"} and after {"currency", "gross_minor", "net_minor", "number",
    # "period"} rendered as canonical_json renders them (keys sorted, compact, ASCII; tests compare the two), in
    # one pass rather than two json.dumps per payslip.
    text = encode_basestring_ascii
    run_id, currency, period = int(run.id or 0), text(run.currency), text(run.period)
    append_audit_rendered(session, actor, tool=tool, event="payslip_written", entity="payslips", entries=(
        (payslip_id, f'{{"employee_id":{int(contract.employee_id)},"run_id":{run_id}}}',
         f'{{"currency":{currency},"gross_minor":{int(slip.gross_minor)},"net_minor":{int(slip.net_minor)},'
         f'"number":{text(number)},"period":{period}}}')
        for payslip_id, number, (contract, slip) in zip(ids, numbers, computed, strict=True)))
    await write_pending_audit(session)


async def _calculated(session: AsyncSession, run: PayrollRun, computation: Computation) -> Calculated:
    """Set the run's totals from every payslip of `computation`, mark it calculated."""
    computed = computation.payslips
    run.employees = len(computed)
    gross = deductions = employer = net = 0
    for _, slip in computed:  # one pass over 10,000 payslips, not four
        gross += slip.gross_minor
        deductions += slip.deductions_minor
        employer += slip.employer_contributions_minor
        net += slip.net_minor
    run.gross_minor, run.deductions_minor, run.employer_minor, run.net_minor = gross, deductions, employer, net
    run.status = RunStatus.CALCULATED.value
    run.calculated_at = utcnow()
    bump(run)
    session.add(run)
    await session.flush()
    return Calculated(run=run, payslips=len(computed), skipped=computation.skipped)


async def _arrears(session: AsyncSession, plans: list[_Employment], run: PayrollRun, rules: CalendarRules,
                   place: Jurisdiction, subdivision: str | None) -> dict[int, tuple[engine.PayslipLine, ...]]:
    """Arrears lines per employee (issue 18, M1 and M3): for each earlier live posted payslip of a contract that has
    a later version effective inside that payslip's period, the difference between what the versions in force now
    pay for that period and what the versions known when it was paid paid (both `blended_pay` over its working
    days, prorated by its payment days), less arrears already paid for it. A raise from the 16th of a 20-working-day
    April paying 1,000.00 more a month is 1,000 x 11/20 = 550.00. Looks back over every period the new version
    covers, whatever the year (a raise backdated into December and paid in January keeps its arrears line)."""
    candidates = {p.contract.employee_id: p for p in plans if len(p.versions) > 1}
    if not candidates:
        return {}
    earliest = min(v.effective_from for p in candidates.values() for v in p.versions[1:])
    slips = (await session.exec(select(Payslip).where(
        id_in(Payslip.employee_id, candidates), col(Payslip.status).in_(("done", "paid")),
        col(Payslip.reverses_payslip_id).is_(None), col(Payslip.period_start) < run.period_start,
        col(Payslip.period_end) >= earliest))).all()
    if not slips:
        return {}
    paid_arrears: dict[tuple[int, str], int] = defaultdict(int)
    arrears_lines = (await session.exec(select(PayslipLine, Payslip).where(
        PayslipLine.payslip_id == Payslip.id, PayslipLine.kind == "arrears",
        id_in(Payslip.employee_id, candidates), col(Payslip.status).in_(("done", "paid", "void"))))).all()
    for line, slip in arrears_lines:
        paid_arrears[(slip.employee_id, line.code)] += line.amount_minor
    out: dict[int, list[engine.PayslipLine]] = defaultdict(list)
    for slip in sorted(slips, key=lambda s: (s.period_start or date.min)):
        job = candidates[slip.employee_id]
        paid_with = next((v for v in job.versions if v.id == slip.contract_id), None)
        if paid_with is None or slip.period_start is None or slip.period_end is None or not slip.working_days:
            continue
        last = job.versions[-1]
        days = [d for d in working_dates(slip.period_start, slip.period_end, country=place.holidays_country,
                                         subdivision=subdivision)
                if d >= last.start_date and (last.end_date is None or d <= last.end_date)]
        known = [v for v in job.versions if v.version_no <= paid_with.version_no]
        difference = blended_pay(job.versions, days, rules.frequency) - blended_pay(known, days, rules.frequency)
        if not difference:
            continue
        exact = difference * Fraction(slip.payment_days_x100, 100) / slip.working_days
        code = f"ARR_{slip.period.replace('-', '_')}"
        owed = engine.round_half_up(exact) - paid_arrears.get((slip.employee_id, code), 0)
        if owed:
            out[slip.employee_id].append(engine.PayslipLine(code, f"Arrears {slip.period}", engine.LineKind.ARREARS,
                                                            owed, category="gross"))
    return {k: tuple(v) for k, v in out.items()}


LINE_COLUMNS = ("payslip_id", "position", "code", "name", "kind", "amount_minor", "category", "hours_x100")
"""The payslip_lines columns _write_payslips writes, in its records' order."""
PAYSLIP_COLUMNS = ("version", "run_id", "employee_id", "contract_id", "department_id", "period", "number", "status",
                   "currency", "payment_days_x100", "working_days", "gross_minor", "deductions_minor",
                   "employer_minor", "net_minor", "ytd", "reverses_payslip_id", "created_at", "pay_date",
                   "period_start", "period_end", "leave")
"""The payslips columns _write_payslips writes (the id is given by bulk_insert_records(with_ids=True)), in its
records' order."""


async def _write_payslips(session: AsyncSession, run: PayrollRun, computed: list[tuple[EmploymentContract,
                          engine.Payslip]], employees: Mapping[int | None, EmployeeFacts],
                          leave_records: list[str] | None = None, ytd_records: list[str] | None = None
                          ) -> tuple[list[int], list[str]]:
    """Insert the payslips (with their leave record, JSON: hours accrued, taken and paid out by leave type; and their
    year to date, JSON, `_ytd_json` when not given) and their lines (with their STP category and hours) with two bulk
    inserts of tuples (db.bulk_insert_records: COPY on PostgreSQL, for speed at 10,000 employees); return the
    payslips' ids and numbers, in the order of `computed`."""
    if not computed:
        return [], []
    now = utcnow()
    run_id, period, currency, draft = run.id, run.period, run.currency, PayslipStatus.DRAFT.value
    pay_date, period_start, period_end = run.pay_date, run.period_start, run.period_end
    prefix = f"PS{period.replace('-', '')}-{run_id}-"
    numbers = [prefix + employees[contract.employee_id].code for contract, _ in computed]
    # One tuple per payslip in PAYSLIP_COLUMNS' order; int(payment days x 100) on the integers (payment days are 0
    # or more): no Fraction made.
    records = [(1, run_id, contract.employee_id, contract.id, contract.department_id, period, number, draft,
                currency, slip.payment_days.numerator * 100 // slip.payment_days.denominator, int(slip.working_days),
                slip.gross_minor, slip.deductions_minor, slip.employer_contributions_minor, slip.net_minor,
                ytd_records[index] if ytd_records else _ytd_json(slip), None, now, pay_date, period_start, period_end,
                leave_records[index] if leave_records else "{}")
               for index, ((contract, slip), number) in enumerate(zip(computed, numbers, strict=True))]
    ids = await bulk_insert_records(session, Payslip.__table__, PAYSLIP_COLUMNS,  # type: ignore[attr-defined]
                                    records, with_ids=True)
    # `_value_`: the kind's text without the enum's `value` descriptor (60,000 lines a run).
    lines = [(payslip_id, position, line.code, line.name, line.kind._value_, line.amount_minor,
              line.category or default_category(line.kind._value_),
              None if line.hours is None else leave.to_x100(line.hours))
             for payslip_id, (_, slip) in zip(ids, computed, strict=True)
             for position, line in enumerate(slip.lines)]
    await bulk_insert_records(session, PayslipLine.__table__, LINE_COLUMNS, lines)  # type: ignore[attr-defined]
    return ids, numbers


# ---------------------------------------------------------------- approval, posting, payment


async def approve_run(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    """calculated -> approved (the gate requires an admin other than the requester)."""
    run = await get_run(session, run_id, for_update=True)
    ensure_status(run, RunStatus.CALCULATED, doing="approving")
    run.status = RunStatus.APPROVED.value
    bump(run)
    session.add(run)
    return run


async def payroll_accounts(session: AsyncSession, actor: Actor, currency: str) -> dict[str, int]:
    """The ids of the payroll accounts (PAYROLL_ACCOUNTS), creating the missing ones in `currency`."""
    return await finance.ensure_accounts(session, actor, PAYROLL_ACCOUNTS, currency,
                                         mismatch="the payroll in {currency}")


async def existing_payroll_accounts(session: AsyncSession, roles: list[str], currency: str) -> dict[str, int]:
    """The ids of existing payroll accounts (PAYROLL_ACCOUNTS roles), by role; plans never create accounts. Raises
    Conflict when one is missing or in another currency."""
    out = {}
    for role in roles:
        code, name, _ = PAYROLL_ACCOUNTS[role]
        account = await finance.find_account_by_code(session, code)
        if account is None:
            raise Conflict(f"account {code} ({name}) does not exist; post a payroll run first, which creates it")
        if account.currency != currency:
            raise Conflict(f"account {code} ({account.name}) is in {account.currency}, the payroll in {currency}")
        out[role] = account.id or 0
    return out


def journal_lines(accounts: Mapping[str, Any], slips: list[tuple[int | None, int, int]], kinds: Mapping[str, int],
                  *, sign: int = 1) -> list[dict[str, Any]]:
    """Rule: the journal lines posting payslips, from (department id, gross, net) per payslip (or summed per
    department: the same lines) and their line sums per kind (minor units): salary expense per department (gross,
    debit, by department id), employer contributions expense (debit), taxes, deductions and employer contributions
    payable and net pay payable (credits); zero lines left out. `accounts` maps PAYROLL_ACCOUNTS roles to account
    ids (or a plan's NewId). `sign` -1 gives the mirror lines (a void or a reversal); a negative amount swaps its
    side."""
    gross_by_department: dict[int | None, int] = defaultdict(int)
    for department_id, gross, _ in slips:
        gross_by_department[department_id] += gross
    employer = int(kinds.get("employer_contribution", 0) or 0)
    net = sum(n for *_, n in slips)

    def line(role: str, amount: int, side: str, department_id: int | None = None) -> dict[str, Any] | None:
        if amount == 0:
            return None
        if (amount < 0) != (sign < 0):
            side = "credit" if side == "debit" else "debit"
        return {"account_id": accounts[role], side: abs(amount), "department_id": department_id}

    out = [line("salary_expense", g, "debit", d) for d, g in sorted(gross_by_department.items(),
                                                                     key=lambda kv: kv[0] or 0)]
    out += [line("employer_expense", employer, "debit"), line("tax_payable", int(kinds.get("tax", 0) or 0), "credit"),
            line("deductions_payable", int(kinds.get("deduction", 0) or 0), "credit"),
            line("employer_payable", employer, "credit"), line("net_payable", net, "credit")]
    return [x for x in out if x is not None]


async def post_run(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    """approved -> posted: one balanced journal entry (idempotency key payroll_run:<id>:post) and the payslips
    done. Raises Conflict for a run in another status."""
    # The cyclic collector paused as calculate_run pauses it: the 10,000 rows the UPDATE returns and the 30,000
    # movement records made from them live until the run is posted, and in bench/payroll.py they set off gen1 and
    # gen2 collections (a full one of 25-50 ms) that freed nothing.
    with heap.collection_paused():
        return await _post_run(session, actor, run_id)


async def _post_run(session: AsyncSession, actor: Actor, run_id: int) -> PayrollRun:
    run = await get_run(session, run_id, for_update=True)
    ensure_status(run, RunStatus.APPROVED, doing="posting")
    # The payslips done first, by one UPDATE returning what posting them needs (department, gross and net: the
    # journal entry; employee and leave record: the leave movements), so the rows just written are not read again
    # (an approved run's payslips are its calculated drafts, every one an original). Their line sums per kind are
    # the one read, by those payslips' ids. Run as Core on the unit of work's connection, as compute_run reads
    # contracts: the session holds no payslip to synchronize, and the ORM's handling of the rows returned took 24-89
    # ms of CPU per 10,000 against Core's 14-21 ms (the same UPDATE, alternated, rolled back).
    slips = _PAYSLIPS_TABLE.c
    marked = (await (await session.connection()).execute(
        update(_PAYSLIPS_TABLE).where(slips.run_id == run_id, slips.status == PayslipStatus.DRAFT.value)
        .values(status=PayslipStatus.DONE.value, version=slips.version + 1)
        .returning(slips.id, slips.employee_id, slips.leave, slips.department_id, slips.gross_minor,
                   slips.net_minor, slips.reverses_payslip_id))).all()
    originals = sorted((row for row in marked if row[6] is None), key=lambda row: row[0])  # by id
    accounts = await payroll_accounts(session, actor, run.currency)
    lines = journal_lines(accounts, [(row[3], row[4], row[5]) for row in originals],
                          await repo.line_sums_of(session, [row[0] for row in originals]))
    if not lines:
        raise Conflict(f"payroll run {run_id} has no payslips to post", field="run_id")
    posted = await finance.post_entry(session, actor, date=run.pay_date, memo=f"Payroll {run.period}",
                                      lines=lines, source=f"payroll_run:{run.id}",
                                      idempotency_key=f"payroll_run:{run.id}:post", currency=run.currency)
    # The movements of leave_movements, written in set form (each distinct leave record's rows worked out once).
    records = [(row[0], row[1], row[2]) for row in originals]
    await leave.post_payslip_movements(session, ((employee_id, f"payslip:{payslip_id}", record)
                                                 for payslip_id, employee_id, record in payslip_leave(records)),
                                       on=run.pay_date)
    run.journal_entry_id = posted.id
    run.status = RunStatus.POSTED.value
    bump(run)
    session.add(run)
    return run


LEAVE_MOVEMENTS = "payroll.leave_movements"
"""Plan effect: the leave movements of posted payslips (payload {"movements": [...]}), applied by domain.leave."""
LEAVE_REVERSAL = "payroll.leave_reversal"
"""Plan effect: the leave movements of voided payslips reversed (payload {"sources": [...], "on": date})."""


def payslip_leave(records: Iterable[tuple[int, int, str | None]]) -> Iterator[tuple[int, int, leave.PayslipLeave]]:
    """Rule: each (payslip id, employee id, leave record JSON) read as (payslip id, employee id, its PayslipLeave):
    hours accrued and paid out by leave type, and each approved request taken (carrying the request's id). A record
    is read once per distinct text: most payslips of a run accrue the same hours and take no leave, and share one
    PayslipLeave (read only)."""
    parsed: dict[str | None, leave.PayslipLeave] = {}
    for payslip_id, employee_id, text in records:
        known = parsed.get(text)
        if known is None:
            record = json.loads(text or "{}")

            def hours(key: str) -> dict[str, Fraction]:
                return {code: Fraction(Decimal(h)) for code, h in (record.get(key) or {}).items()}
            taken = tuple(leave.LeaveTaken(request_id=r["request_id"], type_code=r["type"], paid=True, loading=False,
                                           stp_code=None, hours=Fraction(Decimal(r["hours"])), days=Fraction(0))
                          for r in record.get("requests") or [])
            known = parsed[text] = leave.PayslipLeave(accrued=hours("accrued"), taken=taken,
                                                      paid_out=hours("paid_out"))
        yield payslip_id, employee_id, known


def leave_movements(records: Iterable[tuple[int, int, str | None]], on: date) -> list[leave.Movement]:
    """Rule: the leave movements of posting payslips, from (payslip id, employee id, leave record JSON): + the hours
    accrued by leave type, - the hours of each approved request taken (carrying the request's id, so its hours stop
    counting as approved and not yet taken) and - the hours paid out on termination by leave type
    (domain.leave.service.payslip_movements), dated `on` (the pay date), each with the source payslip:<id> (what a
    void reverses). post_run writes the same rows with leave.post_payslip_movements."""
    out: list[leave.Movement] = []
    for payslip_id, employee_id, record in payslip_leave(records):
        out += leave.payslip_movements(employee_id=employee_id, source=f"payslip:{payslip_id}", on=on,
                                       accrued=record.accrued, taken=record.taken, paid_out=record.paid_out)
    return out


def movements_payload(movements: list[leave.Movement]) -> dict[str, Any]:
    """A LEAVE_MOVEMENTS effect's payload: the movements as JSON values (hours as decimal strings)."""
    return {"movements": [{"employee_id": m.employee_id, "type_code": m.type_code, "kind": m.kind,
                           "hours": str(Decimal(m.hours.numerator) / m.hours.denominator), "on": m.on.isoformat(),
                           "source": m.source, "request_id": m.request_id} for m in movements]}


async def _apply_leave_movements(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> None:
    await leave.post_movements(session, [
        leave.Movement(employee_id=m["employee_id"], type_code=m["type_code"], kind=m["kind"],
                       hours=Fraction(Decimal(m["hours"])), on=date.fromisoformat(str(m["on"])[:10]),
                       source=m["source"], request_id=m.get("request_id")) for m in payload["movements"]])
    return None


async def _apply_leave_reversal(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> None:
    await leave.reverse_movements(session, sources=list(payload["sources"]),
                                  on=date.fromisoformat(str(payload["on"])[:10]))
    return None


register_effect(LEAVE_MOVEMENTS, _apply_leave_movements)
register_effect(LEAVE_REVERSAL, _apply_leave_reversal)


async def mark_run_paid(session: AsyncSession, actor: Actor, run_id: int, *, paid_on: date | None = None
                        ) -> PayrollRun:
    """posted -> paid: net pay payable cleared against the bank (key payroll_run:<id>:paid); payslips paid."""
    run = await get_run(session, run_id, for_update=True)
    ensure_status(run, RunStatus.POSTED, doing="marking paid")
    accounts = await payroll_accounts(session, actor, run.currency)
    posted = await finance.post_entry(
        session, actor, date=paid_on or run.pay_date, memo=f"Payroll {run.period} paid", source=f"payroll_run:{run.id}",
        idempotency_key=f"payroll_run:{run.id}:paid", currency=run.currency,
        lines=[{"account_id": accounts["net_payable"], "debit": run.net_minor},
               {"account_id": accounts["bank"], "credit": run.net_minor}])
    await session.exec(update(Payslip).where(Payslip.run_id == run_id,  # type: ignore[call-overload]
                                             Payslip.status == PayslipStatus.DONE.value)
                       .values(status=PayslipStatus.PAID.value, version=Payslip.version + 1))
    run.payment_entry_id = posted.id
    run.status = RunStatus.PAID.value
    bump(run)
    session.add(run)
    return run


def reversing_payslip(slip: Payslip) -> dict[str, Any]:
    """Rule: the values of the payslip voiding `slip` (never deleted): its number with -R, status void (voided), every
    amount and the payment days negated, the period's taxable pay negated in its year to date, pointing at it."""
    return {"run_id": slip.run_id, "employee_id": slip.employee_id, "contract_id": slip.contract_id,
            "department_id": slip.department_id, "period": slip.period, "number": f"{slip.number}-R",
            "status": PayslipStatus.VOID.value, "voided": True, "currency": slip.currency,
            "payment_days_x100": -slip.payment_days_x100, "working_days": slip.working_days,
            "gross_minor": -slip.gross_minor, "deductions_minor": -slip.deductions_minor,
            "employer_minor": -slip.employer_minor, "net_minor": -slip.net_minor,
            "ytd": json.dumps({"period_taxable_minor": -json.loads(slip.ytd or "{}").get("period_taxable_minor",
                                                                                          slip.gross_minor)}),
            "reverses_payslip_id": slip.id, "pay_date": slip.pay_date, "period_start": slip.period_start,
            "period_end": slip.period_end, "leave": "{}"}


def reversing_lines(lines: list[PayslipLine]) -> list[dict[str, Any]]:
    """Rule: the lines of a reversing payslip: each line of the original with the opposite amount (minor units),
    without the payslip id (the reversing payslip's, known once it is written)."""
    return [{"position": ln.position, "code": ln.code, "name": ln.name, "kind": ln.kind,
             "amount_minor": -ln.amount_minor, "category": ln.category,
             "hours_x100": None if ln.hours_x100 is None else -ln.hours_x100} for ln in lines]


async def paid_payslips(session: AsyncSession, run_id: int) -> list[Payslip]:
    """The run's original payslips that are paid (not reversing ones, not voided), by id."""
    return await repo.run_payslips(session, run_id, statuses=[PayslipStatus.PAID.value], originals=True)


async def payslip_pdfs(session: AsyncSession, payslip_ids: Iterable[int], *, school_name: str
                       ) -> dict[int, tuple[str, bytes]]:
    """The payslips' PDFs as their runs' documents print them, {payslip id: (filename, bytes)}: what they print is
    read once per run, and each is rendered in a worker thread (CPU work). Raises NotFound naming an unknown id."""
    from domain.payroll import documents as payroll_documents
    from domain.payroll.payslip_document import render_payslip_pdf

    wanted = sorted(set(payslip_ids))
    if not wanted:
        return {}
    slips = {s.id: s for s in (await session.exec(select(Payslip).where(id_in(Payslip.id, wanted)))).all()}
    for payslip_id in wanted:
        if payslip_id not in slips:
            raise NotFound(f"no payslip with id {payslip_id}", field="payslip_id")
    by_run: dict[int, list[int]] = defaultdict(list)
    for slip in slips.values():
        by_run[slip.run_id].append(slip.id or 0)
    out = {}
    for run_id, ids in sorted(by_run.items()):
        run = await get_run(session, run_id)
        for slip, doc in await payroll_documents.run_documents(session, run, school_name=school_name,
                                                               payslip_ids=ids):
            out[slip.id or 0] = (payroll_documents.payslip_filename(slip),
                                 await asyncio.to_thread(render_payslip_pdf, doc))
    return out


async def get_payslip(session: AsyncSession, payslip_id: int) -> Payslip:
    slip = await session.get(Payslip, payslip_id)
    if slip is None:
        raise NotFound(f"no payslip with id {payslip_id}; list_payslips shows a run's", field="payslip_id")
    return slip


def check_voidable(slip: Payslip, run: PayrollRun) -> None:
    """Rule: only a posted (done) or paid original payslip of a posted or paid run can be voided."""
    if slip.reverses_payslip_id is not None:
        raise Conflict(f"payslip {slip.number} is itself a reversal; it cannot be voided", field="payslip_id")
    if slip.status not in (PayslipStatus.DONE.value, PayslipStatus.PAID.value):
        raise Conflict(f"payslip {slip.number} is {slip.status}; only done or paid payslips are voided (a draft "
                       "one changes by recalculating its run)", field="payslip_id")
    ensure_status(run, RunStatus.POSTED, RunStatus.PAID, doing="voiding a payslip")


# ---------------------------------------------------------------- reading


async def list_structures(session: AsyncSession, *, after_id: int, limit: int) -> list[SalaryStructure]:
    """Salary structures after `after_id`, by id, at most `limit`."""
    return await repo.structures_page(session, after_id=after_id, limit=limit)


async def list_contracts(session: AsyncSession, *, after_id: int, limit: int, employee_id: int | None = None,
                         history: bool = False) -> list[EmploymentContract]:
    """Contracts after `after_id` (current versions, or every version with `history`), optionally of one
    employee, by id, at most `limit`. Raises NotFound for an unknown employee."""
    if employee_id is not None:
        await hr.get_employee(session, employee_id)
    return await repo.contracts_page(session, after_id=after_id, limit=limit, employee_id=employee_id,
                                     history=history)


async def get_contract(session: AsyncSession, contract_id: int) -> EmploymentContract:
    """The contract version with that id; raises NotFound."""
    row = await repo.get_contract(session, contract_id)
    if row is None:
        raise NotFound(f"no contract version with id {contract_id}", field="contract_id")
    return row


async def tax_table_records(session: AsyncSession, ids: list[int]) -> list[TaxTableRecord]:
    """The tax tables an admin added, by id."""
    return await repo.tax_table_records(session, ids)


async def list_runs(session: AsyncSession, *, after_id: int, limit: int) -> list[PayrollRun]:
    """Payroll runs after `after_id`, oldest first, at most `limit`."""
    return await repo.runs_page(session, after_id=after_id, limit=limit)


async def list_payslips(session: AsyncSession, *, run_id: int, after_id: int, limit: int) -> list[Payslip]:
    """A run's payslips after `after_id`, by id, at most `limit`. Raises NotFound for an unknown run."""
    await get_run(session, run_id)
    return await repo.payslips_page(session, run_id=run_id, after_id=after_id, limit=limit)


async def payslip_lines(session: AsyncSession, payslip_id: int) -> list[PayslipLine]:
    """A payslip's lines in position order."""
    return await repo.payslip_lines(session, [payslip_id])


# ---------------------------------------------------------------- previews


async def run_preview(session: AsyncSession, run: PayrollRun, *, largest: int = 5) -> dict[str, Any]:
    """What an approver needs: employees and totals (minor units, currency), the totals of the previous period's
    run of the same pay calendar, and the largest changes in net pay per employee against it."""
    totals = {"employees": run.employees, "gross_minor": run.gross_minor, "deductions_minor": run.deductions_minor,
              "employer_contributions_minor": run.employer_minor, "net_minor": run.net_minor,
              "currency": run.currency}
    cal = await run_calendar(session, run)
    prior = (await session.exec(select(PayrollRun).where(
        PayrollRun.period == previous_period(run.period, calendar_rules(cal)),
        await _of_calendar(session, PayrollRun.pay_calendar_id, cal),
        col(PayrollRun.status).in_((RunStatus.POSTED.value, RunStatus.PAID.value))))).first()
    out: dict[str, Any] = {"run_id": run.id, "period": run.period, "status": run.status, "totals": totals,
                           "previous": None, "largest_changes": []}
    if prior is None:
        return out
    out["previous"] = {"run_id": prior.id, "period": prior.period, "employees": prior.employees,
                       "gross_minor": prior.gross_minor, "net_minor": prior.net_minor}
    nets = defaultdict(lambda: [0, 0])
    for rid, index in ((prior.id, 0), (run.id, 1)):
        for employee_id, net in (await session.exec(select(Payslip.employee_id, Payslip.net_minor).where(
                Payslip.run_id == rid, col(Payslip.reverses_payslip_id).is_(None)))).all():
            nets[employee_id][index] = net
    codes = {i: e.code for i, e in (await hr.employees_by_id(session, nets)).items()}
    changes = sorted(((abs(b - a), codes.get(k, str(k)), a, b) for k, (a, b) in nets.items() if a != b),
                     reverse=True)[:largest]
    out["largest_changes"] = [{"employee": code, "before_net_minor": a, "after_net_minor": b, "change_minor": b - a}
                              for _, code, a, b in changes]
    return out


REFERENCE_KINDS = {
    "salary_structure": "a salary structure id or code",
    "payroll_run": "a payroll run id or its pay period like 2026-05",
    "payslip": "a payslip id or number like PS202605-3-E0042",
    "pay_calendar": "a pay calendar id or code like FORTNIGHTLY",
}
"""The records of payroll a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    if kind == "payroll_run":
        closed = (RunStatus.CANCELLED.value, RunStatus.REVERSED.value)
        candidates = [Candidate(r[0], r[1], f"{r[1]} ({r[2]})", current=r[2] not in closed) for r in rows]
    elif kind in ("payslip", "pay_calendar"):
        candidates = [Candidate(r[0], r[1]) for r in rows]
    else:
        candidates = [Candidate(r[0], r[1], r[2]) for r in rows]
    return candidates


async def resolve_reference(session: AsyncSession, kind: str, text: str, *, field: str,
                            names: bool = True) -> int:
    """Return the id of the `kind` (a REFERENCE_KINDS key) that `text` names (domain.kernel.references: code,
    then name, then digits as an id). A pay period names its run; a cancelled or reversed run only when no
    other run has the period. Raises NotFound with the closest matches, or InvalidInput when `text` names
    several. `names=False` lists them by code only (domain.kernel.references.pick)."""
    return pick(await reference_candidates(session, kind), text, field=field, kind=kind.replace("_", " "),
                expected=REFERENCE_KINDS[kind], names=names)


async def reference_codes(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code of each `kind` record (a REFERENCE_KINDS key) of `ids`, in one query: what an answer shows beside
    an id (tools.output_codes), and what a reference to it accepts."""
    return await repo.codes_of(session, kind, ids)
