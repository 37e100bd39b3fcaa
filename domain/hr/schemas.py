"""Read models of the hr context, as tools return them."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    employee_count: int | None = None


class EmployeeSummary(BaseModel):
    """What list tools return: enough to pick the right person, nothing personal."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    first_name: str
    last_name: str
    position: str
    department_id: int
    department_code: str | None = None
    status: str


class EmployeeRead(EmployeeSummary):
    work_email: str
    hire_date: date
    employment_type: str
    termination_date: date | None = None
    termination_reason: str | None = None
    version: int
