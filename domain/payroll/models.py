"""Payroll tables: contracts (versioned), salary structures, tax tables, unpaid leave, runs, payslips and lines.

Money columns are integer minor units (`*_minor`) of the row's ISO 4217 `currency`. A contract is never edited
in place: a change is a new version (`version_no` + 1, `effective_from` the day it applies from) and the older
one gets `superseded_at`; a run pays each employee by the version in force, and a version recorded after a
period was paid (a backdated change) makes arrears lines in the next run. A payslip is never deleted: it is
voided by a reversing payslip (negative lines) and the period can be paid again. Exactly one live payslip per
employee and period: a partial UNIQUE index over the payslips that are neither void nor reversals.

The index reads a payslip's `voided` flag (set with the status void, and only then: ck_payslips_voided) rather than
its status, and the table keeps half of each page free on PostgreSQL (fillfactor 50, migration d9f2a4c6e8b1): posting
and paying a run change only the status, so PostgreSQL rewrites each payslip in place, beside its old version,
without a new entry in any index (a heap-only tuple).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Column, Index, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from domain.kernel.models import Entity


class PayBasis(StrEnum):
    """What a contract's `base_minor` is: a month's salary, an hourly rate (paid for the contract's ordinary hours),
    or a year's salary. Each is paid per period of the contract's pay calendar as its annual amount / periods a
    year (monthly x 12, hourly x ordinary hours a week x 52)."""

    MONTHLY = "monthly"
    HOURLY = "hourly"
    ANNUAL = "annual"


class CessationType(StrEnum):
    """Why employment ended, as Single Touch Payroll Phase 2 reports it (ATO, STP Phase 2 employer reporting
    guidelines, "Cessation type"): voluntary, ill health, deceased, redundancy, dismissal, contract cessation,
    transfer."""

    VOLUNTARY = "V"
    ILL_HEALTH = "I"
    DECEASED = "D"
    REDUNDANCY = "R"
    DISMISSAL = "F"
    CONTRACT_CESSATION = "C"
    TRANSFER = "T"


class PayCalendar(Entity, table=True):
    """When a group of employees is paid: weekly, fortnightly or monthly periods, and where (the jurisdiction's
    financial year and rules; its public holidays, with a state's when `subdivision` is set, are not working days).

    Weekly and fortnightly periods start on `anchor_date` and every 7 or 14 days from it (before and after);
    monthly periods are calendar months. A period's pay date is its last day plus `pay_day_offset` days (-31..31).
    """

    __tablename__ = "pay_calendars"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    frequency: str = Field(max_length=12, nullable=False)
    anchor_date: date = Field(nullable=False)
    pay_day_offset: int = Field(default=0, nullable=False)
    jurisdiction: str = Field(default="AU", max_length=2, nullable=False)
    subdivision: str | None = Field(default=None, max_length=10)


class RunStatus(StrEnum):
    """draft -> calculated -> approved -> posted -> paid; draft or calculated -> cancelled; a posted or paid run is
    undone only by reversing it (its entries reversed, its payslips voided)."""

    DRAFT = "draft"
    CALCULATED = "calculated"
    APPROVED = "approved"
    POSTED = "posted"
    PAID = "paid"
    CANCELLED = "cancelled"
    REVERSED = "reversed"


class PayslipStatus(StrEnum):
    """draft (a calculated run's) -> done (posted) -> paid; void (reversed by another payslip)."""

    DRAFT = "draft"
    DONE = "done"
    PAID = "paid"
    VOID = "void"


class SalaryStructure(Entity, table=True):
    """A named list of components (earnings, deductions, taxes, employer contributions) evaluated in order.

    `components` is JSON validated by domain/payroll/structure.py when written.
    """

    __tablename__ = "salary_structures"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    components: str = Field(sa_column=Column(Text, nullable=False))


class TaxTableRecord(Entity, table=True):
    """A withholding table as data (bands or coefficients, effective dates, rounding, source); JSON in `data`."""

    __tablename__ = "tax_tables"
    __table_args__ = (UniqueConstraint("code", "effective_from"),)

    code: str = Field(max_length=60, nullable=False, index=True)
    effective_from: date = Field(nullable=False)
    effective_to: date | None = Field(default=None)
    data: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=500, nullable=False)


class EmploymentContract(Entity, table=True):
    """One version of an employee's contract. `contract_number` names the contract across its versions."""

    __tablename__ = "employment_contracts"
    __table_args__ = (UniqueConstraint("contract_number", "version_no"),)

    contract_number: str = Field(max_length=20, nullable=False, index=True)
    version_no: int = Field(nullable=False)
    employee_id: int = Field(foreign_key="employees.id", nullable=False, index=True)
    start_date: date = Field(nullable=False)
    end_date: date | None = Field(default=None)
    effective_from: date = Field(nullable=False)
    pay_basis: str = Field(max_length=10, nullable=False)
    base_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    hours_per_month_x100: int | None = Field(default=None)
    currency: str = Field(max_length=3, nullable=False)
    salary_structure_id: int = Field(foreign_key="salary_structures.id", nullable=False)
    department_id: int | None = Field(default=None, foreign_key="departments.id")
    filing_status: str | None = Field(default=None, max_length=40)  # the tax table's status, e.g. scale_2 (ATO)
    superseded_at: datetime | None = Field(default=None)
    reason: str | None = Field(default=None, max_length=500)
    pay_calendar_id: int | None = Field(default=None, foreign_key="pay_calendars.id")  # None: the MONTHLY calendar
    hours_per_week_x100: int = Field(default=3800, sa_column_kwargs={"server_default": "3800"}, nullable=False)
    leave_loading_x100: int | None = Field(default=None)  # annual leave loading, hundredths of a percent: 1750
    cessation_type: str | None = Field(default=None, max_length=1)  # CessationType, set when the contract is ended


class UnpaidLeave(Entity, table=True):
    """Unpaid leave days of an employee in a pay period (they reduce payment days)."""

    __tablename__ = "unpaid_leave"
    __table_args__ = (UniqueConstraint("employee_id", "period"),)

    employee_id: int = Field(foreign_key="employees.id", nullable=False, index=True)
    period: str = Field(max_length=7, nullable=False)  # YYYY-MM
    days_x100: int = Field(nullable=False)


class PayrollRun(Entity, table=True):
    """A payroll run for one pay period of a pay calendar, with its totals once calculated."""

    __tablename__ = "payroll_runs"

    period: str = Field(max_length=10, nullable=False, index=True)  # YYYY-MM (monthly) or the start YYYY-MM-DD
    period_start: date = Field(nullable=False)
    period_end: date = Field(nullable=False)
    pay_date: date = Field(nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    status: str = Field(max_length=12, nullable=False, index=True)
    employees: int = Field(default=0, nullable=False)
    gross_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    deductions_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    employer_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    net_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    job_id: int | None = Field(default=None, foreign_key="jobs.id")
    calculated_at: datetime | None = Field(default=None)
    journal_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    payment_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    created_by: int | None = Field(default=None, foreign_key="users.id")
    pay_calendar_id: int | None = Field(default=None, foreign_key="pay_calendars.id")


class Payslip(SQLModel, table=True):
    """One employee's pay for a run's period. Totals are sums of its lines (rounded once each)."""

    __tablename__ = "payslips"
    __table_args__ = (
        Index("uq_payslips_live_per_period", "employee_id", "period", unique=True,
              sqlite_where=text("NOT voided AND reverses_payslip_id IS NULL"),
              postgresql_where=text("NOT voided AND reverses_payslip_id IS NULL")),
        CheckConstraint("voided = (status = 'void')", name="ck_payslips_voided"),  # PostgreSQL's (the migration)
        # Deleting a payslip looks for reversals pointing at it (the foreign key below): without this index, a scan
        # of every payslip per payslip deleted (migration e3b9c5d7a1f2).
        Index("ix_payslips_reverses_payslip_id", "reverses_payslip_id",
              sqlite_where=text("reverses_payslip_id IS NOT NULL"),
              postgresql_where=text("reverses_payslip_id IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=1, nullable=False)
    run_id: int = Field(foreign_key="payroll_runs.id", nullable=False, index=True)
    employee_id: int = Field(foreign_key="employees.id", nullable=False, index=True)
    contract_id: int = Field(foreign_key="employment_contracts.id", nullable=False)
    department_id: int | None = Field(default=None, foreign_key="departments.id")
    period: str = Field(max_length=10, nullable=False)
    number: str = Field(max_length=40, nullable=False, unique=True)
    status: str = Field(max_length=8, nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    payment_days_x100: int = Field(nullable=False)
    working_days: int = Field(nullable=False)
    gross_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    deductions_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    employer_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    net_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    ytd: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    reverses_payslip_id: int | None = Field(default=None, foreign_key="payslips.id")
    created_at: datetime = Field(nullable=False)
    pay_date: date | None = Field(default=None, index=True)
    period_start: date | None = Field(default=None)
    period_end: date | None = Field(default=None)
    leave: str = Field(default="{}", sa_column=Column(Text, nullable=False, server_default="{}"))
    voided: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False,
                                                         server_default=false()))  # status void: the index's


class PayslipLine(SQLModel, table=True):
    """A line of a payslip: a component's code, name, kind and amount (minor units, negative on a reversal)."""

    __tablename__ = "payslip_lines"

    id: int | None = Field(default=None, primary_key=True)
    payslip_id: int = Field(foreign_key="payslips.id", nullable=False, index=True)
    position: int = Field(nullable=False)
    code: str = Field(max_length=40, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    kind: str = Field(max_length=24, nullable=False)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    category: str | None = Field(default=None, max_length=24)  # domain/payroll/categories.py (STP Phase 2)
    hours_x100: int | None = Field(default=None)  # leave lines: the hours paid
