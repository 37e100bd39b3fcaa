"""Payroll use cases: salary structures, versioned contracts, unpaid leave, runs, payslips and ledger postings.

Every function works inside the caller's unit of work and never commits. A run moves
draft -> calculated -> approved -> posted -> paid (or cancelled before approval; a posted or paid run is undone
by reversing it). The gated commands (approve, post, mark paid, cancel, reverse, void a payslip, change a salary,
add a tax table) are plans in domain/payroll/plans.py built from the rules here (`journal_lines`,
`reversing_payslip`, `check_voidable`, ...); `approve_run`, `post_run` and `mark_run_paid` stay as direct writes
for the demo builder and the benchmark, with the same rules. Calculation (`calculate_run`, run by a job) computes every payslip with the pure engine
(domain/payroll/engine.py) and writes them in ONE transaction, replacing the run's draft payslips, so a worker
killed mid-calculation leaves nothing behind and the retry writes exactly one payslip per employee. Nothing
reaches the ledger before `post_run`: one balanced journal entry (salary expense per department, employer
contributions, taxes and deductions payable, net pay payable) posted with the idempotency key
`payroll_run:<id>:post`, so it can never be posted twice; marking it paid clears net pay payable against the
bank (`payroll_run:<id>:paid`). Reads go through domain/payroll/repository.py.

Rules stated here (not found in the issue): the pay period is a calendar month, paid monthly; working days are
Monday to Friday of the month; days before a contract starts or after it ends are unpaid days; a month is
paid entirely by the contract version in force on its last day (a version takes effect from its
`effective_from`); the year to date is the calendar year of the pay date.
"""

from __future__ import annotations

import asyncio
import calendar
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import delete, func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.service import Employee
from domain.kernel import money
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.audit import append_audit
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.references import Candidate, pick
from domain.payroll import engine
from domain.payroll.categories import default_category
from domain.payroll import repository as repo
from domain.payroll.models import (
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
from domain.payroll.tax import TaxTable, TaxTableSet, bundled_tax_tables, load_tax_tables

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
    try:
        # A user's formulas are compiled in a worker thread, never on the event loop (issue 17, finding 1), even
        # though domain.payroll.formula's bounds keep one cheap.
        checked = await asyncio.to_thread(engine_structure, row)
    except TypeError as exc:
        raise InvalidInput(f"a component has an unknown field: {exc}; allowed: code, name, kind, method, "
                           "amount_minor, percent, of, expression, table, prorate, taxable, pre_tax",
                           field="components") from None
    checked.check_tables(await tax_tables(session))
    existing = (await session.exec(select(SalaryStructure).where(SalaryStructure.code == row.code))).first()
    if existing is not None:
        raise Conflict(f"salary structure {row.code} already exists", field="code")
    session.add(row)
    await session.flush()
    return row


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
                          filing_status: str | None = None) -> EmploymentContract:
    """Create version 1 of a new contract (number C0001, ...). `base_minor` is the monthly salary (monthly
    basis) or the hourly rate (hourly basis, paid for `hours_per_month`), minor units of `currency`, which must
    be the structure's. Raises NotFound, InvalidInput (dates, basis, currency), Conflict when the employee
    already has a contract overlapping these dates."""
    employee = await hr.get_employee(session, employee_id)
    structure = await get_structure(session, salary_structure_id)
    if pay_basis not in (PayBasis.MONTHLY, PayBasis.HOURLY):
        raise InvalidInput(f"pay_basis {pay_basis!r} is not allowed; use monthly or hourly", field="pay_basis")
    if pay_basis == PayBasis.HOURLY and not hours_per_month:
        raise InvalidInput("an hourly contract needs hours_per_month", field="hours_per_month")
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
        department_id=department_id or employee.department_id, filing_status=filing_status)
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
    current.superseded_at = utcnow()
    bump(current)
    session.add(current)
    row = EmploymentContract(
        contract_number=current.contract_number, version_no=current.version_no + 1,
        employee_id=current.employee_id, start_date=current.start_date,
        end_date=end_date if end_date is not None else current.end_date, effective_from=effective_from,
        pay_basis=current.pay_basis, base_minor=current.base_minor if base_minor is None else base_minor,
        hours_per_month_x100=current.hours_per_month_x100, currency=current.currency,
        salary_structure_id=current.salary_structure_id, department_id=current.department_id,
        filing_status=current.filing_status, reason=reason)
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


def previous_period(period: str) -> str:
    start, _ = month_bounds(period)
    prior = start - timedelta(days=1)
    return f"{prior.year:04d}-{prior.month:02d}"


# ---------------------------------------------------------------- runs


async def get_run(session: AsyncSession, run_id: int, *, for_update: bool = False) -> PayrollRun:
    stmt = select(PayrollRun).where(PayrollRun.id == run_id)
    if for_update and session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    run = (await session.exec(stmt)).first()
    if run is None:
        raise NotFound(f"no payroll run with id {run_id}; list_payroll_runs shows them", field="run_id")
    return run


async def create_run(session: AsyncSession, actor: Actor, *, period: str, pay_date: date,
                     currency: str) -> PayrollRun:
    """Create the draft run of a period. Raises Conflict when the period already has a live run (one that is not
    cancelled or reversed), InvalidInput for a pay date before the period starts."""
    start, end = month_bounds(period)
    if pay_date < start:
        raise InvalidInput(f"pay_date {pay_date} is before the period starts ({start})", field="pay_date")
    live = (await session.exec(select(PayrollRun).where(
        PayrollRun.period == period,
        col(PayrollRun.status).not_in((RunStatus.CANCELLED.value, RunStatus.REVERSED.value))))).first()
    if live is not None:
        raise Conflict(f"period {period} already has payroll run {live.id} ({live.status}); recalculate, cancel or "
                       "reverse it", field="period")
    run = PayrollRun(period=period, period_start=start, period_end=end, pay_date=pay_date,
                     currency=money.parse_currency(currency), status=RunStatus.DRAFT.value,
                     created_by=actor.id or None)
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
    employees: dict[int | None, Employee]
    skipped: list[dict[str, Any]]


Progress = Callable[[int, int], Awaitable[None]]


async def _ytd_before(session: AsyncSession, employee_ids: list[int], year: int, period: str
                      ) -> dict[int, engine.YearToDate]:
    """Year to date per employee from the posted payslips of `year` before `period` (reversals count)."""
    counted = (PayslipStatus.DONE.value, PayslipStatus.PAID.value, PayslipStatus.VOID.value)
    slips = (await session.exec(select(Payslip).where(
        col(Payslip.employee_id).in_(employee_ids), col(Payslip.status).in_(counted),
        col(Payslip.period) >= f"{year:04d}-01", col(Payslip.period) < period))).all()
    by_employee: dict[int, list[Payslip]] = defaultdict(list)
    for slip in slips:
        by_employee[slip.employee_id].append(slip)
    ids = [s.id for s in slips]
    lines = (await session.exec(select(PayslipLine).where(col(PayslipLine.payslip_id).in_(ids)))).all() if ids else []
    lines_of: dict[int, list[PayslipLine]] = defaultdict(list)
    for line in lines:
        lines_of[line.payslip_id].append(line)
    out: dict[int, engine.YearToDate] = {}
    for employee_id, rows in by_employee.items():
        ytd = engine.YearToDate()
        for slip in rows:
            tax = sum(ln.amount_minor for ln in lines_of[slip.id or 0] if ln.kind == "tax")
            comps: dict[str, int] = dict(ytd.components)
            for ln in lines_of[slip.id or 0]:
                comps[ln.code] = comps.get(ln.code, 0) + ln.amount_minor
            taxable = json.loads(slip.ytd or "{}").get("period_taxable_minor", slip.gross_minor)
            ytd = engine.YearToDate(ytd.gross_minor + slip.gross_minor, ytd.taxable_minor + taxable,
                                    ytd.tax_minor + tax, ytd.net_minor + slip.net_minor, comps)
        out[employee_id] = ytd
    return out


def _version_for(versions: list[EmploymentContract], period_end: date) -> EmploymentContract | None:
    """The contract version in force on the period's last day: the highest version effective by then."""
    inforce = [v for v in versions if v.effective_from <= period_end]
    return max(inforce, key=lambda v: v.version_no) if inforce else None


def _month_base(contract: EmploymentContract) -> int:
    if contract.pay_basis == PayBasis.HOURLY:
        return engine.round_half_up(Fraction(contract.base_minor) * Fraction(contract.hours_per_month_x100 or 0,
                                                                              HOURS_SCALE))
    return contract.base_minor


PROGRESS_EVERY = 500
"""compute_run reports its progress after each this many employees (and computes them in one worker thread)."""


async def compute_run(session: AsyncSession, run_id: int, *, progress: Progress | None = None) -> Computation:
    """Compute (without writing) every payslip of a draft or calculated run. Employees paid: those with a
    contract overlapping the period, by the version in force on its last day. Arrears: for each earlier posted
    payslip of the year whose contract version has since been superseded by one effective in that period, the
    difference not yet paid. Raises Conflict for a run in another status; InvalidInput naming the employee the
    engine refuses (e.g. no tax table in force on the pay date) or whose net pay would be negative."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.DRAFT, RunStatus.CALCULATED, doing="calculating")
    start, end = run.period_start, run.period_end
    period = engine.PayPeriod(start=start, end=end, pay_date=run.pay_date, frequency="monthly")
    total_days = working_days(start, end)
    all_versions = (await session.exec(select(EmploymentContract).where(
        EmploymentContract.start_date <= end).order_by(col(EmploymentContract.id)))).all()
    by_contract: dict[str, list[EmploymentContract]] = defaultdict(list)
    for version in all_versions:
        by_contract[version.contract_number].append(version)
    chosen: list[EmploymentContract] = []
    for versions in by_contract.values():
        version = _version_for(versions, end)
        if version is not None and (version.end_date is None or version.end_date >= start):
            chosen.append(version)
    chosen.sort(key=lambda c: c.employee_id)
    employee_ids = sorted({c.employee_id for c in chosen})
    employees: dict[int | None, Employee] = dict(await hr.employees_by_id(session, employee_ids))
    structure_rows = (await session.exec(select(SalaryStructure))).all()
    leave = {row.employee_id: Fraction(row.days_x100, 100) for row in (await session.exec(select(UnpaidLeave).where(
        UnpaidLeave.period == run.period))).all()}
    ytd = await _ytd_before(session, employee_ids, run.pay_date.year, run.period)
    arrears = await _arrears(session, employee_ids, by_contract, run)
    tables = await tax_tables(session)
    computed: list[tuple[EmploymentContract, engine.Payslip]] = []
    skipped: list[dict[str, Any]] = []
    structures: dict[int | None, engine.SalaryStructure] = {}

    def compute(batch: list[EmploymentContract]) -> None:
        """Compile the structures (first batch) and compute `batch`'s payslips: pure computation on what was read
        above, run in a worker thread so no user's formula runs on the event loop (issue 17, finding 1)."""
        if not structures:
            structures.update({row.id: engine_structure(row) for row in structure_rows})
        for contract in batch:
            employee = employees.get(contract.employee_id)
            if employee is None or employee.deleted_at is not None:
                skipped.append({"contract": contract.contract_number, "reason": "the employee record was deleted"})
                continue
            if contract.currency != run.currency:
                skipped.append({"employee": employee.code, "reason": f"contract in {contract.currency}, run in "
                                                                     f"{run.currency}"})
                continue
            outside = (working_days(start, contract.start_date - timedelta(days=1))
                       if contract.start_date > start else 0)
            if contract.end_date is not None and contract.end_date < end:
                outside += working_days(contract.end_date + timedelta(days=1), end)
            unpaid = min(Fraction(total_days), leave.get(contract.employee_id, Fraction(0)) + outside)
            try:
                slip = engine.compute_payslip(
                    structures[contract.salary_structure_id], period,
                    engine.PayInputs(base_minor=_month_base(contract), working_days=total_days,
                                     unpaid_leave_days=unpaid, filing_status=contract.filing_status,
                                     arrears=arrears.get(contract.employee_id, ()),
                                     ytd=ytd.get(contract.employee_id, engine.YearToDate())), tax_tables=tables)
            except InvalidInput as exc:
                raise InvalidInput(f"{employee.code} {employee.full_name}: {exc.message}", field=exc.field) from None
            if slip.net_minor < 0:
                raise InvalidInput(f"{employee.code} {employee.full_name}: net pay would be {slip.net_minor} "
                                   "(deductions exceed gross pay); fix the contract or the leave before calculating",
                                   field="run_id")
            computed.append((contract, slip))

    for first in range(0, max(len(chosen), 1), PROGRESS_EVERY):
        batch = chosen[first:first + PROGRESS_EVERY]
        await asyncio.to_thread(compute, batch)
        if progress is not None and len(batch) == PROGRESS_EVERY:
            await progress(first + PROGRESS_EVERY, len(chosen))
    return Computation(run_id=run_id, run_version=run.version, payslips=computed, employees=employees,
                       skipped=skipped)


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
    drafts = select(Payslip.id).where(Payslip.run_id == run.id, Payslip.status == PayslipStatus.DRAFT.value)
    await session.exec(delete(PayslipLine).where(col(PayslipLine.payslip_id).in_(drafts)))  # type: ignore[call-overload]
    await session.exec(delete(Payslip).where(Payslip.run_id == run.id,  # type: ignore[call-overload]
                                             Payslip.status == PayslipStatus.DRAFT.value))
    computed = computation.payslips
    ids, numbers = await _write_payslips(session, run, computed, computation.employees)
    for payslip_id, number, (contract, slip) in zip(ids, numbers, computed, strict=True):
        await append_audit(session, actor, tool=tool, event="payslip_written",
                           arguments={"run_id": run.id, "employee_id": contract.employee_id},
                           entity="payslips", entity_id=payslip_id,
                           after={"number": number, "period": run.period, "currency": run.currency,
                                  "gross_minor": slip.gross_minor, "net_minor": slip.net_minor})
    run.employees = len(computed)
    run.gross_minor = sum(s.gross_minor for _, s in computed)
    run.deductions_minor = sum(s.deductions_minor for _, s in computed)
    run.employer_minor = sum(s.employer_contributions_minor for _, s in computed)
    run.net_minor = sum(s.net_minor for _, s in computed)
    run.status = RunStatus.CALCULATED.value
    run.calculated_at = utcnow()
    bump(run)
    session.add(run)
    await session.flush()
    return Calculated(run=run, payslips=len(computed), skipped=computation.skipped)


async def _arrears(session: AsyncSession, employee_ids: list[int], by_contract: dict[str, list[EmploymentContract]],
                   run: PayrollRun) -> dict[int, tuple[engine.PayslipLine, ...]]:
    """Arrears lines per employee: for each earlier live posted payslip of the year, the difference between the
    amount paid (its contract's base plus arrears already paid for that period) and what the contract version
    now in force for that period pays."""
    if not employee_ids:
        return {}
    slips = (await session.exec(select(Payslip).where(
        col(Payslip.employee_id).in_(employee_ids), col(Payslip.status).in_(("done", "paid")),
        col(Payslip.reverses_payslip_id).is_(None), col(Payslip.period) < run.period,
        col(Payslip.period) >= f"{run.pay_date.year:04d}-01"))).all()
    if not slips:
        return {}
    versions_by_id = {v.id: v for vs in by_contract.values() for v in vs}
    paid_arrears: dict[tuple[int, str], int] = defaultdict(int)
    arrears_lines = (await session.exec(select(PayslipLine, Payslip).where(
        PayslipLine.payslip_id == Payslip.id, PayslipLine.kind == "arrears",
        col(Payslip.employee_id).in_(employee_ids), col(Payslip.status).in_(("done", "paid", "void"))))).all()
    for line, slip in arrears_lines:
        paid_arrears[(slip.employee_id, line.code)] += line.amount_minor
    out: dict[int, list[engine.PayslipLine]] = defaultdict(list)
    for slip in sorted(slips, key=lambda s: s.period):
        paid_with = versions_by_id.get(slip.contract_id)
        if paid_with is None:
            continue
        _, p_end = month_bounds(slip.period)
        now = _version_for(by_contract[paid_with.contract_number], p_end)
        if now is None or now.id == paid_with.id:
            continue
        code = f"ARR_{slip.period.replace('-', '_')}"
        already = paid_arrears.get((slip.employee_id, code), 0)
        period_arrears = engine.ArrearsPeriod(label=slip.period, old_minor=_month_base(paid_with),
                                              new_minor=_month_base(now),
                                              payment_days=Fraction(slip.payment_days_x100, 100),
                                              working_days=slip.working_days)
        lines = engine.compute_arrears([period_arrears], code=code)
        for line in lines:
            owed = line.amount_minor - already
            if owed:
                out[slip.employee_id].append(engine.PayslipLine(code, line.name, engine.LineKind.ARREARS, owed))
    return {k: tuple(v) for k, v in out.items()}


async def _write_payslips(session: AsyncSession, run: PayrollRun, computed: list[tuple[EmploymentContract,
                          engine.Payslip]], employees: dict[int | None, Employee]) -> tuple[list[int], list[str]]:
    """Insert the payslips and their lines with two multi-row INSERTs (Core, for speed at 10,000 employees);
    return the payslips' ids and numbers, in the order of `computed`."""
    if not computed:
        return [], []
    now = utcnow()
    table = Payslip.__table__  # type: ignore[attr-defined]
    rows = []
    for contract, slip in computed:
        ytd = {"gross_minor": slip.ytd.gross_minor, "taxable_minor": slip.ytd.taxable_minor,
               "tax_minor": slip.ytd.tax_minor, "net_minor": slip.ytd.net_minor,
               "period_taxable_minor": slip.taxable_minor,
               # Which published table each tax line came from (its citation) and the working, for the record.
               "withholding": [w.record() for w in slip.withholdings]}
        rows.append({"version": 1, "run_id": run.id, "employee_id": contract.employee_id,
                     "contract_id": contract.id, "department_id": contract.department_id, "period": run.period,
                     "number": f"PS{run.period.replace('-', '')}-{run.id}-{employees[contract.employee_id].code}",
                     "status": PayslipStatus.DRAFT.value, "currency": run.currency,
                     "payment_days_x100": int(slip.payment_days * 100), "working_days": int(slip.working_days),
                     "gross_minor": slip.gross_minor, "deductions_minor": slip.deductions_minor,
                     "employer_minor": slip.employer_contributions_minor, "net_minor": slip.net_minor,
                     "ytd": json.dumps(ytd), "reverses_payslip_id": None, "created_at": now,
                     "pay_date": run.pay_date, "period_start": run.period_start, "period_end": run.period_end})
    result = await session.exec(insert(table).returning(table.c.id, table.c.employee_id,  # type: ignore[call-overload]
                                                        sort_by_parameter_order=True), params=rows)
    ids = [row.id for row in result.all()]
    lines = [{"payslip_id": payslip_id, "position": position, "code": line.code, "name": line.name,
              "kind": line.kind.value, "amount_minor": line.amount_minor,
              "category": default_category(line.kind.value), "hours_x100": None}
             for payslip_id, (_, slip) in zip(ids, computed, strict=True)
             for position, line in enumerate(slip.lines)]
    if lines:
        await session.exec(insert(PayslipLine.__table__), params=lines)  # type: ignore[attr-defined,call-overload]
    return ids, [row["number"] for row in rows]


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


async def posting_lines(session: AsyncSession, actor: Actor, run: PayrollRun, *, sign: int = 1,
                        payslip_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """The journal lines of posting payslips of a run (by default every original payslip; `payslip_ids` some),
    creating missing payroll accounts (journal_lines says which lines). `sign` -1 gives the mirror lines."""
    accounts = await payroll_accounts(session, actor, run.currency)
    slips, kinds = await repo.posting_sums(session, run.id or 0, payslip_ids)
    return journal_lines(accounts, slips, kinds, sign=sign)


def journal_lines(accounts: Mapping[str, Any], slips: list[tuple[int | None, int, int]], kinds: Mapping[str, int],
                  *, sign: int = 1) -> list[dict[str, Any]]:
    """Rule: the journal lines posting payslips, from (department id, gross, net) per payslip and their line
    sums per kind (minor units): salary expense per department (gross, debit, by department id), employer
    contributions expense (debit), taxes, deductions and employer contributions payable and net pay payable
    (credits); zero lines left out. `accounts` maps PAYROLL_ACCOUNTS roles to account ids (or a plan's NewId).
    `sign` -1 gives the mirror lines (a void or a reversal); a negative amount swaps its side."""
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
    run = await get_run(session, run_id, for_update=True)
    ensure_status(run, RunStatus.APPROVED, doing="posting")
    lines = await posting_lines(session, actor, run)
    if not lines:
        raise Conflict(f"payroll run {run_id} has no payslips to post", field="run_id")
    posted = await finance.post_entry(session, actor, date=run.pay_date, memo=f"Payroll {run.period}",
                                      lines=lines, source=f"payroll_run:{run.id}",
                                      idempotency_key=f"payroll_run:{run.id}:post", currency=run.currency)
    await session.exec(update(Payslip).where(Payslip.run_id == run_id,  # type: ignore[call-overload]
                                             Payslip.status == PayslipStatus.DRAFT.value)
                       .values(status=PayslipStatus.DONE.value, version=Payslip.version + 1))
    run.journal_entry_id = posted.id
    run.status = RunStatus.POSTED.value
    bump(run)
    session.add(run)
    return run


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
    """Rule: the values of the payslip voiding `slip` (never deleted): its number with -R, status void, every
    amount and the payment days negated, the period's taxable pay negated in its year to date, pointing at it."""
    return {"run_id": slip.run_id, "employee_id": slip.employee_id, "contract_id": slip.contract_id,
            "department_id": slip.department_id, "period": slip.period, "number": f"{slip.number}-R",
            "status": PayslipStatus.VOID.value, "currency": slip.currency,
            "payment_days_x100": -slip.payment_days_x100, "working_days": slip.working_days,
            "gross_minor": -slip.gross_minor, "deductions_minor": -slip.deductions_minor,
            "employer_minor": -slip.employer_minor, "net_minor": -slip.net_minor,
            "ytd": json.dumps({"period_taxable_minor": -json.loads(slip.ytd or "{}").get("period_taxable_minor",
                                                                                          slip.gross_minor)}),
            "reverses_payslip_id": slip.id}


def reversing_lines(lines: list[PayslipLine]) -> list[dict[str, Any]]:
    """Rule: the lines of a reversing payslip: each line of the original with the opposite amount (minor units),
    without the payslip id (the reversing payslip's, known once it is written)."""
    return [{"position": ln.position, "code": ln.code, "name": ln.name, "kind": ln.kind,
             "amount_minor": -ln.amount_minor} for ln in lines]


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
    run, and the largest changes in net pay per employee against it."""
    totals = {"employees": run.employees, "gross_minor": run.gross_minor, "deductions_minor": run.deductions_minor,
              "employer_contributions_minor": run.employer_minor, "net_minor": run.net_minor,
              "currency": run.currency}
    prior = (await session.exec(select(PayrollRun).where(
        PayrollRun.period == previous_period(run.period),
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
}
"""The records of payroll a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    if kind == "payroll_run":
        closed = (RunStatus.CANCELLED.value, RunStatus.REVERSED.value)
        candidates = [Candidate(r[0], r[1], f"{r[1]} ({r[2]})", current=r[2] not in closed) for r in rows]
    elif kind == "payslip":
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
