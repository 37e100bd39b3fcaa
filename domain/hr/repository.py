"""All SQL of the hr context."""

from __future__ import annotations

from collections.abc import Iterable

from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr.models import Department, Employee, EmployeePaymentDetails
from domain.kernel.db import codes_by_id
from domain.kernel.errors import NotFound
from domain.kernel.sql import id_in
from domain.kernel.text import name_search


async def get_department(session: AsyncSession, department_id: int) -> Department | None:
    row = await session.get(Department, department_id)
    return None if row is None or row.deleted_at is not None else row


async def get_department_or_raise(session: AsyncSession, department_id: int) -> Department:
    row = await get_department(session, department_id)
    if row is None:
        raise NotFound(f"no department with id {department_id}; list_departments shows them", field="department_id")
    return row


async def get_department_by_code(session: AsyncSession, code: str) -> Department | None:
    stmt = select(Department).where(func.upper(Department.code) == code.upper(),
                                    Department.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def list_departments(session: AsyncSession, *, after_id: int, limit: int) -> list[Department]:
    stmt = (select(Department).where(Department.id > after_id, Department.deleted_at.is_(None))  # type: ignore
            .order_by(Department.id).limit(limit + 1))
    return list((await session.exec(stmt)).all())


async def count_employees_by_department(session: AsyncSession) -> dict[int, int]:
    stmt = (select(Employee.department_id, func.count()).where(Employee.deleted_at.is_(None))  # type: ignore
            .group_by(Employee.department_id))
    return {dep: n for dep, n in (await session.exec(stmt)).all()}


async def get_employee(session: AsyncSession, employee_id: int) -> Employee | None:
    row = await session.get(Employee, employee_id)
    return None if row is None or row.deleted_at is not None else row


async def get_employee_or_raise(session: AsyncSession, employee_id: int, *, field: str = "employee_id") -> Employee:
    row = await get_employee(session, employee_id)
    if row is None:
        raise NotFound(f"no employee with id {employee_id}; list_employees or search_employees finds them",
                       field=field)
    return row


async def get_employee_by_code(session: AsyncSession, code: str) -> Employee | None:
    stmt = select(Employee).where(func.upper(Employee.code) == code.upper(),
                                  Employee.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def get_employee_by_email(session: AsyncSession, email: str) -> Employee | None:
    stmt = select(Employee).where(func.lower(Employee.work_email) == email.lower())
    return (await session.exec(stmt)).first()


async def list_employees(session: AsyncSession, *, after_id: int, limit: int, department_id: int | None = None,
                         status: str | None = None, query: str | None = None,
                         ids: list[int] | None = None) -> list[Employee]:
    stmt = select(Employee).where(Employee.deleted_at.is_(None))  # type: ignore[union-attr]
    if department_id is not None:
        stmt = stmt.where(Employee.department_id == department_id)
    if status is not None:
        stmt = stmt.where(Employee.status == status)
    if ids is not None:
        stmt = stmt.where(Employee.id.in_(ids))  # type: ignore[union-attr]
    if query:
        # Ranked (domain.kernel.text.name_search), `after_id` being the number of rows already returned.
        where, rank = name_search(query, Employee.name_folded, Employee.code, Employee.work_email,
                                  others=(Employee.position,))
        stmt = stmt.where(where).order_by(rank, Employee.name_folded, Employee.id).offset(after_id)
        return list((await session.exec(stmt.limit(limit + 1))).all())
    stmt = stmt.where(col(Employee.id) > after_id)
    return list((await session.exec(stmt.order_by(Employee.id).limit(limit + 1))).all())


async def department_codes(session: AsyncSession, department_ids: Iterable[int]) -> dict[int, str]:
    """Return {department id: code} for these ids, deleted departments included (one query)."""
    ids = sorted(set(department_ids))
    if not ids:
        return {}
    rows = (await session.exec(select(Department.id, Department.code).where(col(Department.id).in_(ids)))).all()
    return {row[0]: row[1] for row in rows}


async def next_employee_number(session: AsyncSession) -> int:
    count = (await session.exec(select(func.count()).select_from(Employee))).one()
    return int(count) + 1


async def employees_by_id(session: AsyncSession, employee_ids: Iterable[int]) -> dict[int, Employee]:
    """Return the employees with these ids, deleted ones included, by id (one query)."""
    ids = sorted(set(employee_ids))
    if not ids:
        return {}
    rows = (await session.exec(select(Employee).where(id_in(Employee.id, ids)))).all()
    return {row.id or 0: row for row in rows}


async def employee_rows(session: AsyncSession, employee_ids: Iterable[int]) -> list[Any]:
    """Rows (id, code, first_name, last_name, hire_date, termination_date, deleted_at) of the employees with these
    ids, deleted ones included; one query, no ORM object per row (a payroll run reads 10,000)."""
    ids = sorted(set(employee_ids))
    if not ids:
        return []
    return list((await session.exec(select(  # type: ignore[call-overload]
        Employee.id, Employee.code, Employee.first_name, Employee.last_name, Employee.hire_date,
        Employee.termination_date, Employee.deleted_at).where(id_in(Employee.id, ids)))).all())


async def department_names(session: AsyncSession) -> dict[int, str]:
    """Return every department's name by id."""
    return {row.id or 0: row.name for row in (await session.exec(select(Department))).all()}


async def reference_rows(session: AsyncSession, kind: str) -> list:
    """Rows a reference to a live `kind` ("employee": id, code, first_name, last_name; "department": id, code,
    name) is matched against (domain.kernel.references)."""
    if kind == "employee":
        stmt = select(Employee.id, Employee.code, Employee.first_name, Employee.last_name)
        stmt = stmt.where(col(Employee.deleted_at).is_(None))
    else:
        stmt = select(Department.id, Department.code, Department.name).where(col(Department.deleted_at).is_(None))
    return list((await session.exec(stmt)).all())


CODE_COLUMNS = {"employee": (Employee.id, Employee.code), "department": (Department.id, Department.code)}
"""Each kind's id column and the column of the code people use (codes_of)."""


async def codes_of(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code people use for each `kind` record of `ids` (deleted ones too: an old answer still names them), in
    one query: {id: code}. Ids no row has are left out."""
    return await codes_by_id(session, *CODE_COLUMNS[kind], ids)

# ---------------------------------------------------------------- payment details (issue 18 item 6)


async def get_payment_details(session: AsyncSession, employee_id: int) -> EmployeePaymentDetails | None:
    """The employee's live payment details row, or None."""
    stmt = select(EmployeePaymentDetails).where(EmployeePaymentDetails.employee_id == employee_id,
                                                col(EmployeePaymentDetails.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def payment_details_of(session: AsyncSession, employee_ids: Iterable[int]) -> list[EmployeePaymentDetails]:
    """The live payment details rows of these employees, by employee id (one query)."""
    ids = sorted(set(employee_ids))
    if not ids:
        return []
    stmt = select(EmployeePaymentDetails).where(col(EmployeePaymentDetails.employee_id).in_(ids),
                                                col(EmployeePaymentDetails.deleted_at).is_(None))
    return list((await session.exec(stmt.order_by(col(EmployeePaymentDetails.employee_id)))).all())


async def all_payment_details(session: AsyncSession) -> list[EmployeePaymentDetails]:
    """Every payment details row, deleted ones too, by id (a key rotation re-encrypts them all)."""
    stmt = select(EmployeePaymentDetails).order_by(col(EmployeePaymentDetails.id)).with_for_update()
    return list((await session.exec(stmt)).all())
