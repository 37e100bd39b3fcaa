"""Payroll tools: salary structures, contracts, unpaid leave, payroll runs and payslips, behind the gate.

Calculating a draft run is a write (a job). Approving, posting, marking paid and reversing a run, voiding a payslip
and adding a tax table need an admin other than the requester (four eyes); cancelling a run (it deletes its draft
payslips) needs the requester's confirmation, and so does a salary change, unless annual pay moves by more than the
setting salary_change_approve_above_minor (then an admin approves). Each gated tool declares a domain plan
(domain/payroll/plans.py): what was approved is exactly what is written. This module holds no SQL.
Money is integer minor units of the ISO 4217 currency named beside it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, StringConstraints, WithJsonSchema
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import service as hr
from domain.kernel.actor import Actor, Role
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict
from domain.kernel.plan import Plan
from domain.kernel.settings import current_settings
from domain.payroll import plans, service
from domain.payroll.schemas import (
    ContractOut,
    PayCalendarOut,
    PayslipOut,
    RunOut,
    StructureOut,
    TaxTableOut,
    UnpaidLeaveOut,
    contract_out,
    pay_calendar_out,
    payslip_out,
    run_out,
    structure_out,
)
from domain.payroll.tax import bundled_tax_tables, load_tax_tables
from tools.jobs import IdempotencyKey, JobKind, JobOut, WaitSeconds, start_job
from tools.references import (
    DepartmentRef,
    EmployeeRef,
    PayCalendarRef,
    PayrollRunRef,
    PayslipRef,
    SalaryStructureRef,
)
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import (
    Code,
    Currency,
    MinorAmount,
    Name,
    Page,
    PageInput,
    Reason,
    ToolInput,
    encode_cursor,
    page_of,
)

module = Module("payroll", depends_on=("hr", "finance", "jobs"),
                description="Contracts, salary structures, payroll runs, payslips and their ledger postings.")
PAYROLL = frozenset({Role.ADMIN, Role.PAYROLL})
PAYROLL_HR = frozenset({Role.ADMIN, Role.PAYROLL, Role.HR})
Period = Annotated[str, StringConstraints(strip_whitespace=True, max_length=7, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
CalendarPeriod = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10,
                                                  pattern=r"^\d{4}-(0[1-9]|1[0-2])(-\d{2})?$")]
Category = Annotated[str, StringConstraints(strip_whitespace=True, max_length=24, pattern=r"^[a-z_]+(:[A-Z]+)?$")]


def _decimal(low: int, high: int, places: int, description: str):
    return Annotated[Decimal, Field(ge=low, le=high, max_digits=12, decimal_places=places),
                     WithJsonSchema({"type": "number", "minimum": low, "maximum": high, "description": description})]


Percent = _decimal(0, 1000, 4, "Percent: 12 means 12 %, up to four decimal places.")
Days = _decimal(0, 31, 2, "Days, up to two decimal places.")
Hours = _decimal(0, 744, 2, "Hours a month, up to two decimal places.")
WeekHours = _decimal(1, 60, 2, "Ordinary hours a week (38 full time).")
LoadingPercent = _decimal(0, 100, 2, "Percent: 17.5 means 17.5 %.")
Expression = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


# ---------------------------------------------------------------- structures


class ComponentIn(ToolInput):
    code: Code = Field(description="How payslips and formulas name it.")
    name: Name = Field(description="Printed on the payslip.")
    kind: Literal["earning", "deduction", "employer_contribution", "tax"]
    method: Literal["fixed", "percentage", "formula", "tax_table"]
    amount_minor: MinorAmount | None = Field(default=None, description="fixed: the amount.")
    percent: Percent | None = Field(default=None, description="percentage: 12 means 12 %.")
    of: Code | None = Field(default=None, description="percentage: base, gross, taxable or an earlier code.")
    expression: Expression | None = Field(
        default=None, description="formula: e.g. max(0, base - 100000) * 0.02 over base, payment_days, earlier "
                                  "codes, gross, ote, taxable, ytd_*, super_guarantee_rate; tax_table: its base.")
    table: Code | None = Field(default=None, description="tax_table: the tax table code, e.g. AU_PAYGW.")
    prorate: bool = Field(default=False, description="fixed/percentage: multiply by payment_days / working_days.")
    taxable: bool = Field(default=True, description="earning: counts in taxable pay.")
    pre_tax: bool = Field(default=False, description="deduction: taken off taxable pay.")
    category: Category | None = Field(default=None, description="STP category, e.g. allowance:CD, super:L.")


class CreateStructureIn(ToolInput):
    code: Code
    name: Name
    currency: Currency = Field(description="e.g. AUD.")
    components: list[ComponentIn] = Field(min_length=1, max_length=60, description="Evaluated in this order.")


@module.tool(effect=Effect.WRITE, roles=PAYROLL)
async def create_salary_structure(ctx: ToolContext, args: CreateStructureIn) -> StructureOut:
    """Create a salary structure: its ordered components (earnings, deductions, taxes, employer contributions), checked
    as a whole first: formulas may use only values known at their position; tax tables must exist."""
    row = await service.create_structure(
        ctx.session, ctx.actor, code=args.code, name=args.name, currency=args.currency,
        components=[c.model_dump(exclude_none=True) for c in args.components])
    return structure_out(row)


@module.tool(effect=Effect.READ, roles=PAYROLL_HR)
async def list_salary_structures(ctx: ToolContext, args: PageInput) -> Page[StructureOut]:
    """List the salary structures."""
    rows = await service.list_structures(ctx.session, after_id=args.after_id(), limit=args.limit + 1)
    page, cursor = page_of(rows, args.limit)
    return Page[StructureOut](items=[structure_out(r) for r in page], next_cursor=cursor)


# ---------------------------------------------------------------- tax tables


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def list_tax_tables(ctx: ToolContext, args: PageInput) -> Page[TaxTableOut]:
    """List the withholding tax tables in force or scheduled; a structure's tax component names one by code."""
    bundled = {(t.code, t.filing_status, t.effective_from) for t in bundled_tax_tables().tables}
    tables = sorted((await service.tax_tables(ctx.session)).tables,
                    key=lambda t: (t.code, t.effective_from, t.filing_status or ""))
    start = args.after_id()
    chunk = tables[start:start + args.limit]
    items = [TaxTableOut(code=t.code, filing_status=t.filing_status, effective_from=t.effective_from,
                         effective_to=t.effective_to, currency=t.currency, bands=len(t.bands), source=t.source[:300],
                         origin="bundled" if (t.code, t.filing_status, t.effective_from) in bundled else "added")
             for t in chunk]
    more = start + args.limit < len(tables)
    return Page[TaxTableOut](items=items, next_cursor=encode_cursor(start + args.limit) if more else None)


class AddTaxTableIn(ToolInput):
    document: dict[str, Any] = Field(description="Shaped like the bundled tables "
                                                 "(domain/payroll/tables/au_ato_schedule_1.json): code, name, "
                                                 "currency, method, tables with effective dates, source and "
                                                 "bands; numbers as decimal strings.")


def _plan_tax_table(session: AsyncSession, actor: Actor, args: AddTaxTableIn) -> Awaitable[Plan]:
    return plans.plan_add_tax_table(session, actor, document=args.document)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_tax_table)
async def add_tax_table(ctx: ToolContext, args: AddTaxTableIn) -> Page[TaxTableOut]:
    """Add a withholding tax table as data (e.g. next year's published schedule); refused if it overlaps a table of the
    same code and filing status. It changes every later payroll's withholding."""
    assert ctx.plan is not None and ctx.applied is not None
    rows = await service.tax_table_records(ctx.session, plans.added_tax_table_ids(ctx.plan, ctx.applied.ids))
    return Page[TaxTableOut](items=[TaxTableOut(
        code=t.code, filing_status=t.filing_status, effective_from=t.effective_from, effective_to=t.effective_to,
        currency=t.currency, bands=len(t.bands), source=t.source[:300], origin="added")
        for row in rows for t in load_tax_tables(json.loads(row.data))])


# ---------------------------------------------------------------- contracts


class CreateContractIn(ToolInput):
    employee_id: EmployeeRef
    start_date: date
    end_date: date | None = None
    pay_basis: Literal["monthly", "annual", "hourly"] = "monthly"
    base_minor: MinorAmount = Field(description="Monthly or annual salary, or hourly rate.")
    currency: Currency
    salary_structure_id: SalaryStructureRef
    department_id: DepartmentRef | None = Field(default=None, description="Cost centre; omitted: the employee's.")
    hours_per_month: Hours | None = Field(default=None, description="hourly: hours paid a month.")
    filing_status: Code | None = Field(default=None, description="The tax table's status, e.g. scale_2 (ATO: "
                                                                 "tax-free threshold claimed).")
    pay_calendar_id: PayCalendarRef | None = Field(default=None, description="omitted: MONTHLY.")
    hours_per_week: WeekHours = Decimal(38)
    leave_loading_percent: LoadingPercent | None = Field(default=None, description="Annual leave loading, e.g. 17.5.")


@module.tool(effect=Effect.WRITE, roles=PAYROLL_HR)
async def create_employment_contract(ctx: ToolContext, args: CreateContractIn) -> ContractOut:
    """Create an employee's contract (version 1); refused when the employee already has a contract over these dates."""
    row = await service.create_contract(ctx.session, ctx.actor, **args.model_dump())
    return (await _with_employee_codes(ctx, [contract_out(row)]))[0]


Out = TypeVar("Out", ContractOut, PayslipOut)


async def _with_employee_codes(ctx: ToolContext, outs: list[Out]) -> list[Out]:
    """`outs` (contracts, payslips) with the employee code beside each employee id (one HR lookup)."""
    employees = await hr.employees_by_id(ctx.session, {out.employee_id for out in outs})
    return [out.model_copy(update={"employee_code": employees[out.employee_id].code})
            if out.employee_id in employees else out for out in outs]


class ListContractsIn(PageInput):
    employee_id: EmployeeRef | None = None
    history: bool = Field(default=False, description="Include superseded versions.")


@module.tool(effect=Effect.READ, roles=PAYROLL_HR)
async def list_employment_contracts(ctx: ToolContext, args: ListContractsIn) -> Page[ContractOut]:
    """List contracts (current versions, or every version)."""
    rows = await service.list_contracts(ctx.session, after_id=args.after_id(), limit=args.limit + 1,
                                        employee_id=args.employee_id, history=args.history)
    page, cursor = page_of(rows, args.limit)
    return Page[ContractOut](items=await _with_employee_codes(ctx, [contract_out(r) for r in page]),
                             next_cursor=cursor)


class ChangeSalaryIn(ToolInput):
    contract_number: Code = Field(description="e.g. C00012.")
    base_minor: MinorAmount = Field(description="The new monthly salary or hourly rate.")
    effective_from: date = Field(description="The day it applies from; a past date is paid as arrears next run.")
    reason: Reason


def _plan_salary(session: AsyncSession, actor: Actor, args: ChangeSalaryIn) -> Awaitable[Plan]:
    return plans.plan_change_contract_salary(
        session, actor, contract_number=args.contract_number, base_minor=args.base_minor,
        effective_from=args.effective_from, reason=args.reason,
        approve_above_minor=current_settings().salary_change_approve_above_minor)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL_HR, gate=GateLevel.CONFIRM, plan=_plan_salary)
async def change_contract_salary(ctx: ToolContext, args: ChangeSalaryIn) -> ContractOut:
    """Change a contract's salary from a date as a new contract version (the old one is kept); a date in a paid month
    makes arrears in the next run. When annual pay moves by more than the school's threshold an admin must approve it
    too."""
    assert ctx.applied is not None
    out = contract_out(await service.get_contract(ctx.session, plans.new_contract_id(ctx.applied.ids)))
    return (await _with_employee_codes(ctx, [out]))[0]


class EndContractIn(ToolInput):
    contract_number: Code = Field(description="e.g. C00012.")
    end_date: date = Field(description="The last day employed and paid.")
    cessation_type: Literal["V", "I", "D", "R", "F", "C", "T"] = Field(
        description="STP: V voluntary, I ill health, D deceased, R redundancy, F dismissal, C contract end, "
                    "T transfer.")
    reason: Reason


def _plan_end(session: AsyncSession, actor: Actor, args: EndContractIn) -> Awaitable[Plan]:
    return plans.plan_end_employment_contract(session, actor, contract_number=args.contract_number,
                                              end_date=args.end_date, cessation_type=args.cessation_type,
                                              reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL_HR, gate=GateLevel.CONFIRM, plan=_plan_end)
async def end_employment_contract(ctx: ToolContext, args: EndContractIn) -> ContractOut:
    """End a contract on a date: pay stops after it, and that period's run makes the final pay (unused leave paid
    out with its withholding)."""
    assert ctx.applied is not None
    out = contract_out(await service.get_contract(ctx.session, plans.new_contract_id(ctx.applied.ids)))
    return (await _with_employee_codes(ctx, [out]))[0]


class UnpaidLeaveIn(ToolInput):
    employee_id: EmployeeRef
    period: Period = Field(description="The pay month, YYYY-MM.")
    days: Days = Field(description="Unpaid days in the month (hundredths allowed).")


@module.tool(effect=Effect.WRITE, roles=PAYROLL_HR, idempotent=True)
async def record_unpaid_leave(ctx: ToolContext, args: UnpaidLeaveIn) -> UnpaidLeaveOut:
    """Set an employee's unpaid leave days in a pay month (replacing the earlier figure); they prorate that month's
    pay."""
    row = await service.record_unpaid_leave(ctx.session, ctx.actor, employee_id=args.employee_id,
                                            period=args.period, days=args.days)
    return UnpaidLeaveOut(employee_id=row.employee_id, period=row.period, days=Decimal(row.days_x100) / 100)


# ---------------------------------------------------------------- runs


class CreateRunIn(ToolInput):
    period: CalendarPeriod = Field(description="YYYY-MM (monthly) or the period's first day YYYY-MM-DD.")
    pay_date: date | None = Field(default=None, description="omitted: the calendar's.")
    currency: Currency
    pay_calendar_id: PayCalendarRef | None = Field(default=None, description="omitted: MONTHLY.")


@module.tool(effect=Effect.WRITE, roles=PAYROLL)
async def create_payroll_run(ctx: ToolContext, args: CreateRunIn) -> RunOut:
    """Create the draft payroll run of one period of a pay calendar. Then calculate_payroll_run computes its
    payslips."""
    return run_out(await service.create_run(ctx.session, ctx.actor, period=args.period, pay_date=args.pay_date,
                                            currency=args.currency, pay_calendar_id=args.pay_calendar_id))


class CreateCalendarIn(ToolInput):
    code: Code
    name: Name
    frequency: Literal["weekly", "fortnightly", "monthly"]
    anchor_date: date = Field(description="weekly/fortnightly: the first day of a period.")
    pay_day_offset: int = Field(default=0, ge=-31, le=31, description="Pay date: days after a period's last day.")
    subdivision: Annotated[str, StringConstraints(max_length=10, pattern=r"^[A-Za-z]{2,3}$")] | None = Field(
        default=None, description="State whose public holidays also close days, e.g. VIC.")


@module.tool(effect=Effect.WRITE, roles=PAYROLL)
async def create_pay_calendar(ctx: ToolContext, args: CreateCalendarIn) -> PayCalendarOut:
    """Create a weekly, fortnightly or monthly pay calendar (AU); contracts name the one they are paid by."""
    row = await service.create_pay_calendar(ctx.session, ctx.actor, code=args.code, name=args.name,
                                            frequency=args.frequency, anchor_date=args.anchor_date,
                                            pay_day_offset=args.pay_day_offset, subdivision=args.subdivision)
    return await _calendar_out(row)


async def _calendar_out(row) -> PayCalendarOut:
    rules = service.calendar_rules(row)
    return pay_calendar_out(row, rules.label(rules.period_containing(utcnow().date())[0]))


@module.tool(effect=Effect.READ, roles=PAYROLL_HR)
async def list_pay_calendars(ctx: ToolContext, args: PageInput) -> Page[PayCalendarOut]:
    """List the pay calendars with the period holding today."""
    rows = [r for r in await service.list_calendars(ctx.session) if (r.id or 0) > args.after_id()]
    page, cursor = page_of(rows[:args.limit + 1], args.limit)
    return Page[PayCalendarOut](items=[await _calendar_out(r) for r in page], next_cursor=cursor)


class RunIdIn(ToolInput):
    run_id: PayrollRunRef


class CalculateIn(RunIdIn):
    idempotency_key: IdempotencyKey | None = None
    wait_s: WaitSeconds = 0


async def _calculate_params(session, args: CalculateIn) -> dict[str, Any]:
    run = await service.get_run(session, args.run_id)
    service.ensure_status(run, service.RunStatus.DRAFT, service.RunStatus.CALCULATED, doing="calculating")
    return {"run_id": run.id}


@module.tool(effect=Effect.WRITE, roles=PAYROLL, starts_job=True)
async def calculate_payroll_run(ctx: ToolContext, args: CalculateIn) -> JobOut:
    """Start a job computing every payslip of a draft or calculated run, replacing its draft payslips; then
    get_payroll_run shows the totals and the largest changes against last month. Posts nothing."""
    return await start_job(ctx, kind=JobKind.CALCULATE_PAYROLL_RUN,
                           params=await _calculate_params(ctx.session, args), idempotency_key=args.idempotency_key)


@module.tool(effect=Effect.WRITE, roles=PAYROLL, starts_job=True)
async def generate_payroll_documents(ctx: ToolContext, args: CalculateIn) -> JobOut:
    """Start a job that makes a payslip PDF per payslip of a run and the run's summary CSV (major units, with a TOTAL
    row), stored as documents (get_document); the job's result names them. Only payroll staff and admins can read
    them."""
    return await start_job(ctx, kind=JobKind.GENERATE_PAYROLL_DOCUMENTS,
                           params=await _documents_params(ctx.session, args), idempotency_key=args.idempotency_key)


async def _documents_params(session, args: CalculateIn) -> dict[str, Any]:
    run = await service.get_run(session, args.run_id)
    if run.status in (service.RunStatus.DRAFT.value, service.RunStatus.CANCELLED.value):
        raise Conflict(f"payroll run {run.id} is {run.status}: calculate it first", field="run_id")
    return {"run_id": run.id}


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def get_payroll_run(ctx: ToolContext, args: RunIdIn) -> RunOut:
    """Get a payroll run with its totals and a comparison with the previous month."""
    run = await service.get_run(ctx.session, args.run_id)
    return run_out(run, await service.run_preview(ctx.session, run))


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def list_payroll_runs(ctx: ToolContext, args: PageInput) -> Page[RunOut]:
    """List payroll runs, oldest first."""
    rows = await service.list_runs(ctx.session, after_id=args.after_id(), limit=args.limit + 1)
    page, cursor = page_of(rows, args.limit)
    return Page[RunOut](items=[run_out(r) for r in page], next_cursor=cursor)


class ListPayslipsIn(PageInput):
    run_id: PayrollRunRef


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def list_payslips(ctx: ToolContext, args: ListPayslipsIn) -> Page[PayslipOut]:
    """List a run's payslips (totals only; get_payslip has the lines)."""
    rows = await service.list_payslips(ctx.session, run_id=args.run_id, after_id=args.after_id(),
                                       limit=args.limit + 1)
    page, cursor = page_of(rows, args.limit)
    return Page[PayslipOut](items=await _with_employee_codes(ctx, [payslip_out(r) for r in page]),
                            next_cursor=cursor)


class PayslipIdIn(ToolInput):
    payslip_id: PayslipRef


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def get_payslip(ctx: ToolContext, args: PayslipIdIn) -> PayslipOut:
    """Get one payslip."""
    row = await service.get_payslip(ctx.session, args.payslip_id)
    out = payslip_out(row, await service.payslip_lines(ctx.session, row.id or 0))
    return (await _with_employee_codes(ctx, [out]))[0]


class VoidPayslipIn(PayslipIdIn):
    on: date = Field(description="The voiding journal entry's date.")
    reason: Reason


def _plan_void(session: AsyncSession, actor: Actor, args: VoidPayslipIn) -> Awaitable[Plan]:
    return plans.plan_void_payslip(session, actor, payslip_id=args.payslip_id, on=args.on, reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_void)
async def void_payslip(ctx: ToolContext, args: VoidPayslipIn) -> PayslipOut:
    """Void one posted or paid payslip: a reversing payslip with the opposite lines and a journal entry undoing its
    share of the run's posting. A paid payslip's net pay then shows as owed back on net pay payable."""
    return (await _with_employee_codes(ctx, [payslip_out(await service.get_payslip(ctx.session,
                                                                                   args.payslip_id))]))[0]


def _plan_approve(session: AsyncSession, actor: Actor, args: RunIdIn) -> Awaitable[Plan]:
    return plans.plan_approve_payroll_run(session, actor, run_id=args.run_id)


def _plan_post(session: AsyncSession, actor: Actor, args: RunIdIn) -> Awaitable[Plan]:
    return plans.plan_post_payroll_run(session, actor, run_id=args.run_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_approve)
async def approve_payroll_run(ctx: ToolContext, args: RunIdIn) -> RunOut:
    """Approve a calculated payroll run (an admin other than the requester must approve). Nothing is posted."""
    return run_out(await service.get_run(ctx.session, args.run_id))


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_post)
async def post_payroll_run(ctx: ToolContext, args: RunIdIn) -> RunOut:
    """Post an approved run to the ledger exactly once, in one journal entry, creating the payroll accounts the chart
    lacks; payslips become done."""
    return run_out(await service.get_run(ctx.session, args.run_id))


def _plan_mark_paid(session: AsyncSession, actor: Actor, args: RunIdIn) -> Awaitable[Plan]:
    return plans.plan_mark_payroll_run_paid(session, actor, run_id=args.run_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_mark_paid)
async def mark_payroll_run_paid(ctx: ToolContext, args: RunIdIn) -> RunOut:
    """Record that a posted run's net pay left the bank (net pay payable cleared against the bank, less payslips voided
    since posting), exactly once; payslips become paid."""
    return run_out(await service.get_run(ctx.session, args.run_id))


def _plan_cancel(session: AsyncSession, actor: Actor, args: RunIdIn) -> Awaitable[Plan]:
    return plans.plan_cancel_payroll_run(session, actor, run_id=args.run_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.CONFIRM, plan=_plan_cancel)
async def cancel_payroll_run(ctx: ToolContext, args: RunIdIn) -> RunOut:
    """Cancel a draft or calculated run (nothing was posted); its draft payslips are deleted, so the requester
    confirms."""
    return run_out(await service.get_run(ctx.session, args.run_id))


class ReverseRunIn(RunIdIn):
    on: date = Field(description="The reversal entries' date.")
    reason: Reason


def _plan_reverse(session: AsyncSession, actor: Actor, args: ReverseRunIn) -> Awaitable[Plan]:
    return plans.plan_reverse_payroll_run(session, actor, run_id=args.run_id, on=args.on, reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_reverse)
async def reverse_payroll_run(ctx: ToolContext, args: ReverseRunIn) -> RunOut:
    """Reverse a posted or paid run: its journal entries reversed on the given date and every payslip voided. The month
    can then be run again."""
    return run_out(await service.get_run(ctx.session, args.run_id))

