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
