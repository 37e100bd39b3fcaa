"""Output schemas of the payroll context: what its tools return, and the mappers from its rows."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field

from domain.kernel.schemas import OutputModel, Sensitive
from domain.payroll.models import EmploymentContract, PayCalendar, PayrollRun, Payslip, PayslipLine, SalaryStructure


class StructureOut(OutputModel):
    salary_structure_id: int
    code: str
    name: str
    currency: str
    components: list[dict[str, Any]]
    inputs: list[str]


def structure_out(row: SalaryStructure) -> StructureOut:
    """A salary structure with its components in evaluation order and the inputs they read."""
    data = json.loads(row.components)
    return StructureOut(salary_structure_id=row.id or 0, code=row.code, name=row.name, currency=row.currency,
                        components=data["components"], inputs=data.get("inputs", []))


class TaxTableOut(OutputModel):
    code: str
    filing_status: str | None
    effective_from: date
    effective_to: date | None
    currency: str
    bands: int
    source: str
    origin: Literal["bundled", "added"]


class ContractOut(OutputModel):
    contract_id: int
    contract_number: str
    version_no: int
    employee_id: int
    employee_code: str | None = None
    start_date: date
    end_date: date | None
    effective_from: date
    pay_basis: str
    base_minor: Sensitive[int | None]
    currency: str
    salary_structure_id: int
    salary_structure_code: str | None = None
    department_id: int | None
    department_code: str | None = None
    filing_status: str | None
    superseded: bool
    reason: str | None
    pay_calendar_id: int | None = None
    pay_calendar_code: str | None = None
    hours_per_week: Decimal = Field(description="Ordinary hours a week (leave accrues on them).")
    leave_loading_percent: Decimal | None = None
    cessation_type: str | None = Field(default=None, description="Set when ended: STP code V, I, D, R, F, C or T.")


def contract_out(row: EmploymentContract) -> ContractOut:
    """One version of an employment contract; superseded once a later version replaced it."""
    return ContractOut(contract_id=row.id or 0, contract_number=row.contract_number, version_no=row.version_no,
                       employee_id=row.employee_id, start_date=row.start_date, end_date=row.end_date,
                       effective_from=row.effective_from, pay_basis=row.pay_basis, base_minor=row.base_minor,
                       currency=row.currency, salary_structure_id=row.salary_structure_id,
                       department_id=row.department_id, filing_status=row.filing_status,
                       superseded=row.superseded_at is not None, reason=row.reason,
                       pay_calendar_id=row.pay_calendar_id, hours_per_week=Decimal(row.hours_per_week_x100) / 100,
                       leave_loading_percent=None if row.leave_loading_x100 is None
                       else Decimal(row.leave_loading_x100) / 100, cessation_type=row.cessation_type)


class PayCalendarOut(OutputModel):
    pay_calendar_id: int
    code: str
    name: str
    frequency: str
    anchor_date: date
    pay_day_offset: int
    jurisdiction: str
    subdivision: str | None
    current_period: str | None = Field(default=None, description="The period holding today, for create_payroll_run.")


def pay_calendar_out(row: PayCalendar, current_period: str | None = None) -> PayCalendarOut:
    """A pay calendar; `current_period` the label of the period holding today."""
    return PayCalendarOut(pay_calendar_id=row.id or 0, code=row.code, name=row.name, frequency=row.frequency,
                          anchor_date=row.anchor_date, pay_day_offset=row.pay_day_offset,
                          jurisdiction=row.jurisdiction, subdivision=row.subdivision, current_period=current_period)


class UnpaidLeaveOut(OutputModel):
    employee_id: int
    employee_code: str | None = None
    period: str
    days: Decimal


class RunOut(OutputModel):
    run_id: int
    period: str
    pay_calendar_id: int | None = None
    pay_calendar_code: str | None = None
    pay_date: date
    currency: str
    status: str = Field(description="draft, calculated, approved, posted, paid, cancelled or reversed.")
    employees: int
    gross_minor: int
    deductions_minor: int
    employer_contributions_minor: int
    net_minor: int
    journal_entry_id: int | None = None
    journal_entry_number: str | None = None
    payment_entry_id: int | None = None
    payment_entry_number: str | None = None
    preview: Sensitive[dict[str, Any] | None] = Field(default=None, description="Totals against the previous "
                                                                                "period and the largest changes in "
                                                                                "net pay.")


def run_out(run: PayrollRun, preview: dict[str, Any] | None = None) -> RunOut:
    """A payroll run's totals; `preview` (against the previous period) when the caller computed one."""
    return RunOut(run_id=run.id or 0, period=run.period, pay_date=run.pay_date, currency=run.currency,
                  status=run.status, employees=run.employees, gross_minor=run.gross_minor,
                  deductions_minor=run.deductions_minor, employer_contributions_minor=run.employer_minor,
                  net_minor=run.net_minor, journal_entry_id=run.journal_entry_id, pay_calendar_id=run.pay_calendar_id,
                  payment_entry_id=run.payment_entry_id, preview=preview)


class PayslipOut(OutputModel):
    payslip_id: int
    number: str
    run_id: int
    run_period: str | None = None
    employee_id: int
    employee_code: str | None = None
    period: str
    status: str = Field(description="draft, done, paid or void.")
    currency: str
    gross_minor: Sensitive[int | None]
    deductions_minor: Sensitive[int | None]
    employer_contributions_minor: Sensitive[int | None]
    net_minor: Sensitive[int | None]
    payment_days: Decimal
    working_days: int
    reverses_payslip_id: int | None = None
    reverses_payslip_number: str | None = None
    lines: Sensitive[list[dict[str, Any]] | None] = None
    ytd: Sensitive[dict[str, Any] | None] = None


def payslip_out(row: Payslip, lines: list[PayslipLine] | None = None) -> PayslipOut:
    """A payslip; its lines and year-to-date totals when `lines` are given."""
    return PayslipOut(payslip_id=row.id or 0, number=row.number, run_id=row.run_id, employee_id=row.employee_id,
                      period=row.period, status=row.status, currency=row.currency, gross_minor=row.gross_minor,
                      deductions_minor=row.deductions_minor, employer_contributions_minor=row.employer_minor,
                      net_minor=row.net_minor, payment_days=Decimal(row.payment_days_x100) / 100,
                      working_days=row.working_days, reverses_payslip_id=row.reverses_payslip_id,
                      lines=None if lines is None else [{"code": ln.code, "name": ln.name, "kind": ln.kind,
                                                         "amount_minor": ln.amount_minor} for ln in lines],
                      ytd=json.loads(row.ytd) if lines is not None else None)


# ---------------------------------------------------------------- bank files (issue 18 item 6; domain/payroll/bank_file.py)


class BankFileOut(OutputModel):
    """A stored ABA bank file of a run's net pays: the document holding it (get_document), the payments in it and
    their total (integer minor units of `currency`, AUD), whether it ends with a balancing debit, and who was left
    out for lack of a bank account."""

    document_id: int
    run_id: int
    run_period: str | None = None
    filename: str
    payments: int = Field(description="Type 1 credit records, one per employee paid.")
    total_minor: Sensitive[int | None] = Field(description="The credits' total.")
    currency: str
    balancing_record: bool
    missing_employee_codes: list[str] = Field(default_factory=list)
