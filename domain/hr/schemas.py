"""Read models of the hr context, as tools return them."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from domain.kernel.schemas import OutputModel, Sensitive


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


# ---------------------------------------------------------------- payment details (issue 18 item 6)


class PaymentDetailsRead(OutputModel):
    """An employee's payment details as tools show them: the BSB hidden, the account number and tax file number
    masked to their last 3 digits, always (they are stored encrypted and never leave the server whole). Every
    field but the ids and the version is sensitive: admin, HR and payroll see it, other roles get null."""

    employee_id: int
    employee_code: str | None = None
    on_record: bool = Field(description="false: none set yet (every other field null).")
    bsb: Sensitive[str | None] = Field(default=None, description="Always '***-***'.")
    account_number: Sensitive[str | None] = Field(default=None, description="Last 3 digits, e.g. '...789'.")
    account_name: Sensitive[str | None] = None
    tfn: Sensitive[str | None] = Field(default=None, description="Last 3 digits, or null when none is held.")
    date_of_birth: Sensitive[date | None] = None
    address_line: Sensitive[str | None] = None
    address_suburb: Sensitive[str | None] = None
    address_state: Sensitive[str | None] = None
    address_postcode: Sensitive[str | None] = None
    super_fund_name: Sensitive[str | None] = None
    super_fund_abn: Sensitive[str | None] = None
    super_fund_usi: Sensitive[str | None] = None
    super_member_number: Sensitive[str | None] = None
    employment_basis: Sensitive[str | None] = Field(default=None, description="STP code: F, P, C, L, V, D or N.")
    tax_treatment: Sensitive[str | None] = Field(default=None, description="STP code, e.g. RTXXXX.")
    version: int | None = None
