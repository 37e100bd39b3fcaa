"""Read models of the leave context, as tools return them. Hours are decimal hours with two places (7.60); days
are days of 7.6 hours (38 hours a week, Fair Work Act 2009 s 62, over 5 days) unless a request says otherwise."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from pydantic import Field

from domain.kernel.schemas import OutputModel, Sensitive
from domain.leave.models import LeaveRequest, LeaveType
from domain.leave.rules import STANDARD_DAY_HOURS, days_of, from_x100, hours_decimal


def _two(value: Fraction) -> Decimal:
    return hours_decimal(value)


class LeaveTypeOut(OutputModel):
    code: str
    name: str
    paid: bool
    accrual_per_ordinary_hour: str | None = Field(description="Hours accrued per ordinary hour paid, e.g. 1/13.")
    loading: bool = Field(description="Annual leave loading applies (its rate is the contract's).")
    payable_on_termination: bool
    service_years: int | None = Field(description="Years of continuous service before it may be taken or paid out.")
    stp_code: str | None = Field(description="STP Phase 2 paid leave code.")
    source: str


def leave_type_out(row: LeaveType) -> LeaveTypeOut:
    """A leave type and the source of its rules."""
    accrual = (f"{row.accrual_numerator}/{row.accrual_denominator}"
               if row.accrual_numerator is not None and row.accrual_denominator else None)
    return LeaveTypeOut(code=row.code, name=row.name, paid=row.paid, accrual_per_ordinary_hour=accrual,
                        loading=row.loading, payable_on_termination=row.payable_on_termination,
                        service_years=row.service_years, stp_code=row.stp_code, source=row.source)


class LeaveRequestOut(OutputModel):
    request_id: int
    employee_id: int
    employee_code: str | None = None
    leave_type: str
    start_date: date
    end_date: date
    working_days: int
    hours: Decimal
    hours_per_day: Decimal
    public_holidays_of: str = Field(description="The country and state whose public holidays are not leave.")
    status: str = Field(description="requested, approved, rejected or cancelled.")
    reason: Sensitive[str | None] = None
    decided_at: datetime | None = None
    decision_reason: Sensitive[str | None] = None


def leave_request_out(row: LeaveRequest, type_code: str) -> LeaveRequestOut:
    """A leave request with its type's code (the employee's code is filled by the caller, tools.output_codes)."""
    return LeaveRequestOut(request_id=row.id or 0, employee_id=row.employee_id, leave_type=type_code,
                           start_date=row.start_date, end_date=row.end_date, working_days=row.working_days,
                           hours=_two(from_x100(row.hours_x100)), hours_per_day=_two(from_x100(row.hours_per_day_x100)),
                           public_holidays_of=row.country + (f"-{row.subdivision}" if row.subdivision else ""),
                           status=row.status, reason=row.reason, decided_at=row.decided_at,
                           decision_reason=row.decision_reason)


class LeaveBalanceOut(OutputModel):
    leave_type: str
    name: str
    paid: bool
    hours: Decimal = Field(description="The balance: accrued, adjusted, less taken and paid out.")
    days: Decimal = Field(description="The balance in days of 7.6 hours.")
    approved_not_taken_hours: Decimal
    available_hours: Decimal = Field(description="The balance less approved leave not yet taken.")


class LeaveBalancesOut(OutputModel):
    employee_id: int
    employee_code: str | None = None
    balances: list[LeaveBalanceOut]


def leave_balance_out(kind: LeaveType, balance: Fraction, committed: Fraction) -> LeaveBalanceOut:
    """One type's balance for an answer: hours, days of 7.6 hours, and what is available."""
    return LeaveBalanceOut(leave_type=kind.code, name=kind.name, paid=kind.paid, hours=_two(balance),
                           days=_two(days_of(balance, STANDARD_DAY_HOURS)), approved_not_taken_hours=_two(committed),
                           available_hours=_two(balance - committed))
