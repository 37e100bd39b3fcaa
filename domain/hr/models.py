"""HR tables: departments and employees."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlmodel import Field

from domain.kernel.models import Entity
from domain.kernel.text import folded_column, keep_folded


class EmploymentType(StrEnum):
    FULL_TIME = "full_time"
    PART_TIME = "part_time"
    CONTRACT = "contract"
    TEMPORARY = "temporary"


class EmployeeStatus(StrEnum):
    ACTIVE = "active"
    ON_LEAVE = "on_leave"
    TERMINATED = "terminated"


class Department(Entity, table=True):
    """A department of the school (Mathematics, Administration, ...); `code` is short and spoken (MATH)."""

    __tablename__ = "departments"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)


class Employee(Entity, table=True):
    """A member of staff; `code` is the human id people say aloud (E0042)."""

    __tablename__ = "employees"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    first_name: str = Field(max_length=120, nullable=False)
    last_name: str = Field(max_length=120, nullable=False, index=True)
    work_email: str = Field(max_length=254, unique=True, nullable=False)
    position: str = Field(max_length=200, nullable=False)
    department_id: int = Field(foreign_key="departments.id", nullable=False, index=True)
    hire_date: date = Field(nullable=False)
    employment_type: str = Field(max_length=20, nullable=False)
    status: str = Field(max_length=20, nullable=False, default=EmployeeStatus.ACTIVE.value, index=True)
    termination_date: date | None = Field(default=None)
    termination_reason: str | None = Field(default=None, max_length=1000)
    name_folded: str = folded_column("first_name", "last_name")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


keep_folded(Employee, "first_name", "last_name")


# ---------------------------------------------------------------- payment details (issue 18 item 6)


class EmploymentBasis(StrEnum):
    """STP Phase 2 employment basis (ATO, STP Phase 2 employer reporting guidelines)."""

    FULL_TIME = "F"
    PART_TIME = "P"
    CASUAL = "C"
    LABOUR_HIRE = "L"
    VOLUNTARY_AGREEMENT = "V"
    DEATH_BENEFICIARY = "D"
    NON_EMPLOYEE = "N"


class EmployeePaymentDetails(Entity, table=True):
    """Where and how an employee is paid: bank account, tax file number, address and date of birth, super fund,
    and the STP codes. One row per employee.

    `*_enc` columns hold AES-256-GCM tokens (domain.kernel.crypto), bound to this row by the purpose
    "employee_payment_details.<column>:<employee_id>"; never plaintext. `bank_account_name` is at most 32
    characters of the BECS character set (the ABA file's account title)."""

    __tablename__ = "employee_payment_details"

    employee_id: int = Field(foreign_key="employees.id", unique=True, nullable=False, index=True)
    bank_bsb_enc: str = Field(max_length=200, nullable=False)
    bank_account_number_enc: str = Field(max_length=200, nullable=False)
    bank_account_name: str = Field(max_length=32, nullable=False)
    tfn_enc: str | None = Field(default=None, max_length=200)
    date_of_birth: date | None = Field(default=None)
    address_line: str | None = Field(default=None, max_length=200)
    address_suburb: str | None = Field(default=None, max_length=60)
    address_state: str | None = Field(default=None, max_length=3)
    address_postcode: str | None = Field(default=None, max_length=4)
    super_fund_name: str | None = Field(default=None, max_length=200)
    super_fund_abn: str | None = Field(default=None, max_length=11)
    super_fund_usi: str | None = Field(default=None, max_length=20)
    super_member_number: str | None = Field(default=None, max_length=20)
    employment_basis: str | None = Field(default=None, max_length=1)
    tax_treatment: str | None = Field(default=None, max_length=6)
