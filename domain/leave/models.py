"""Leave tables: leave types, leave requests and the movements ledger of leave hours.

Hours are stored as integer hundredths of an hour (`*_x100`): 7.6 h is 760. A balance is never stored: it is the
sum of an employee's movements of a type. Movements are never edited or deleted; a correction is a reversal (the
opposite rows, kind `reversal`, same source). Leave types are seeded by the migration (ANNUAL, PERSONAL, LSL,
UNPAID; domain/leave/rules.py cites each rule).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow
from domain.kernel.models import Entity


class RequestStatus(StrEnum):
    """requested -> approved (through the gate) | rejected | cancelled; approved -> cancelled (nothing taken yet)."""

    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class MovementKind(StrEnum):
    """Why a leave balance moved: accrued with ordinary hours paid, taken (paid in a payslip), paid out on
    termination, adjusted (an opening balance, a correction), or reversed (the opposite of earlier rows)."""

    ACCRUAL = "accrual"
    TAKEN = "taken"
    PAYOUT = "payout"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


class LeaveType(Entity, table=True):
    """A kind of leave and its rules: paid or not, the hours accrued per ordinary hour (a fraction
    `accrual_numerator / accrual_denominator`, none when it does not accrue), whether annual leave loading applies,
    whether it is paid out on termination, the years of continuous service before it may be taken or paid out
    (LSL: 7), and its Single Touch Payroll Phase 2 paid leave code (O: other paid leave)."""

    __tablename__ = "leave_types"

    code: str = Field(max_length=20, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    paid: bool = Field(nullable=False)
    accrual_numerator: int | None = Field(default=None)
    accrual_denominator: int | None = Field(default=None)
    loading: bool = Field(default=False, nullable=False)
    payable_on_termination: bool = Field(default=False, nullable=False)
    service_years: int | None = Field(default=None)
    stp_code: str | None = Field(default=None, max_length=2)
    source: str = Field(default="", max_length=500, nullable=False)


class LeaveRequest(Entity, table=True):
    """An employee's request for leave of one type from `start_date` to `end_date` inclusive. `hours_x100` is what
    it takes: its working days (Monday to Friday less the public holidays of `country`/`subdivision`) x
    `hours_per_day_x100`, or an explicit figure for a part day (`explicit_hours`)."""

    __tablename__ = "leave_requests"
    __table_args__ = (Index("ix_leave_requests_employee_dates", "employee_id", "start_date", "end_date"),)

    employee_id: int = Field(foreign_key="employees.id", nullable=False)
    leave_type_id: int = Field(foreign_key="leave_types.id", nullable=False)
    start_date: date = Field(nullable=False)
    end_date: date = Field(nullable=False)
    hours_per_day_x100: int = Field(nullable=False)
    hours_x100: int = Field(nullable=False)
    working_days: int = Field(nullable=False)
    explicit_hours: bool = Field(default=False, nullable=False)
    country: str = Field(default="AU", max_length=2, nullable=False)
    subdivision: str | None = Field(default=None, max_length=10)
    reason: str | None = Field(default=None, max_length=1000)
    status: str = Field(default=RequestStatus.REQUESTED.value, max_length=10, nullable=False, index=True)
    requested_by: int | None = Field(default=None, foreign_key="users.id")
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_at: datetime | None = Field(default=None)
    decision_reason: str | None = Field(default=None, max_length=1000)


class LeaveMovement(SQLModel, table=True):
    """One signed change of an employee's leave balance of one type, in hundredths of an hour: + accrues or adds,
    - takes or pays out. `source` says what made it ("payslip:123", "adjustment", "request:7"); a reversal has the
    source of the rows it reverses. Append-only: no version, never updated or deleted."""

    __tablename__ = "leave_movements"
    __table_args__ = (Index("ix_leave_movements_employee_type", "employee_id", "leave_type_id"),)

    id: int | None = Field(default=None, primary_key=True)
    employee_id: int = Field(foreign_key="employees.id", nullable=False)
    leave_type_id: int = Field(foreign_key="leave_types.id", nullable=False)
    kind: str = Field(max_length=12, nullable=False)
    hours_x100: int = Field(sa_column=Column(BigInteger, nullable=False))
    on_date: date = Field(nullable=False)
    source: str = Field(max_length=80, nullable=False, index=True)
    request_id: int | None = Field(default=None, foreign_key="leave_requests.id", index=True)
    note: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
