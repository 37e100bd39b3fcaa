"""HR use cases: departments and employees. Services take the session and actor, never commit."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import repository as repo
from domain.hr.models import Department, Employee, EmployeeStatus, EmploymentType
from domain.kernel.actor import Actor
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.models import bump
from domain.kernel.references import Candidate, pick


async def get_department(session: AsyncSession, department_id: int) -> Department | None:
    """Return the live department with that id, or None (for other contexts, e.g. a ledger line's cost centre)."""
    return await repo.get_department(session, department_id)


async def get_employee(session: AsyncSession, employee_id: int, *, field: str = "employee_id") -> Employee:
    """Return the live employee with that id (payroll's contracts, a class's teacher); raises NotFound naming
    `field`."""
    return await repo.get_employee_or_raise(session, employee_id, field=field)


async def employees_by_id(session: AsyncSession, employee_ids: Iterable[int]) -> dict[int, Employee]:
    """Return the employees with these ids (deleted ones included: a payslip keeps naming who it paid), by id;
    one query, for other contexts that handle many at once (a payroll run)."""
    return await repo.employees_by_id(session, employee_ids)


async def department_codes(session: AsyncSession, department_ids: Iterable[int]) -> dict[int, str]:
    """Return {department id: department code} (deleted ones included), for outputs that show a department's id
    beside the code people use; one query."""
    return await repo.department_codes(session, department_ids)


async def list_departments(session: AsyncSession, *, after_id: int, limit: int) -> list[tuple[Department, int]]:
    """Return up to `limit + 1` live departments after `after_id` in id order, each with its number of live
    employees."""
    rows = await repo.list_departments(session, after_id=after_id, limit=limit)
    counts = await repo.count_employees_by_department(session)
    return [(row, counts.get(row.id or 0, 0)) for row in rows]


async def get_department_or_raise(session: AsyncSession, department_id: int) -> Department:
    """Return the live department; raises NotFound (department_id) naming list_departments."""
    return await repo.get_department_or_raise(session, department_id)


async def list_employees(session: AsyncSession, *, after_id: int, limit: int, department_id: int | None = None,
                         status: str | None = None, query: str | None = None) -> list[Employee]:
    """Return up to `limit + 1` live employees after `after_id` in id order, of one department or status
    (active, on_leave, terminated), or with `query` in the names, code, work email or position
    (case-insensitive)."""
    return await repo.list_employees(session, after_id=after_id, limit=limit, department_id=department_id,
                                     status=status, query=query)


async def department_names(session: AsyncSession) -> dict[int, str]:
    """Return every department's name by id (for documents that print them)."""
    return await repo.department_names(session)


async def create_department(session: AsyncSession, actor: Actor, *, code: str, name: str) -> Department:
    """Create a department; raises Conflict when the code is taken."""
    if await repo.get_department_by_code(session, code):
        raise Conflict(f"department code {code!r} is already used", field="code")
    dep = Department(code=code.upper(), name=name)
    session.add(dep)
    await session.flush()
    return dep


async def create_employee(session: AsyncSession, actor: Actor, *, first_name: str, last_name: str,
                          work_email: str, position: str, department_id: int, hire_date: date,
                          employment_type: EmploymentType, code: str | None = None) -> Employee:
    """Create an active employee with the next free code (E0001...) unless one is given.

    Raises NotFound for an unknown department, Conflict for a taken code or work email.
    """
    await repo.get_department_or_raise(session, department_id)
    if code is None:
        number = await repo.next_employee_number(session)
        code = f"E{number:04d}"
        while await repo.get_employee_by_code(session, code):
            number += 1
            code = f"E{number:04d}"
    elif await repo.get_employee_by_code(session, code):
        raise Conflict(f"employee code {code!r} is already used", field="code")
    if await repo.get_employee_by_email(session, work_email):
        raise Conflict(f"work email {work_email!r} already belongs to another employee", field="work_email")
    emp = Employee(code=code.upper(), first_name=first_name, last_name=last_name, work_email=work_email.lower(),
                   position=position, department_id=department_id, hire_date=hire_date,
                   employment_type=EmploymentType(employment_type).value, status=EmployeeStatus.ACTIVE.value)
    session.add(emp)
    await session.flush()
    return emp


async def update_employee(session: AsyncSession, actor: Actor, *, employee_id: int, changes: dict) -> Employee:
    """Apply `changes` (a subset of names, work_email, position, department_id, employment_type, status).

    Raises NotFound, Conflict (email taken) and InvalidInput (terminated employees or status 'terminated',
    which only terminate_employee sets).
    """
    emp = await repo.get_employee_or_raise(session, employee_id)
    if emp.status == EmployeeStatus.TERMINATED.value:
        raise InvalidInput(f"employee {emp.code} is terminated; their record can no longer be edited")
    if changes.get("status") == EmployeeStatus.TERMINATED.value:
        raise InvalidInput("status 'terminated' is set only by terminate_employee (it needs confirmation)",
                           field="status")
    if "department_id" in changes:
        await repo.get_department_or_raise(session, changes["department_id"])
    if "work_email" in changes:
        other = await repo.get_employee_by_email(session, changes["work_email"])
        if other and other.id != emp.id:
            raise Conflict(f"work email {changes['work_email']!r} already belongs to {other.code}",
                           field="work_email")
        changes["work_email"] = changes["work_email"].lower()
    for key, value in changes.items():
        setattr(emp, key, value.value if hasattr(value, "value") else value)
    bump(emp)
    session.add(emp)
    await session.flush()
    return emp


def check_termination(emp: Employee, termination_date: date) -> None:
    """Rule: an employee is terminated once, on or after their hire date."""
    if emp.status == EmployeeStatus.TERMINATED.value:
        raise Conflict(f"employee {emp.code} was already terminated on {emp.termination_date}")
    if termination_date < emp.hire_date:
        raise InvalidInput(f"termination date {termination_date} is before the hire date {emp.hire_date}",
                           field="termination_date")


REFERENCE_KINDS = {
    "employee": "an employee id or code like E0042 (or the full name)",
    "department": "a department id or code like MATH",
}
"""The records of hr a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    if kind == "employee":
        candidates = [Candidate(r[0], r[1], f"{r[2]} {r[3]}", aliases=(f"{r[3]} {r[2]}", f"{r[3]}, {r[2]}"))
                      for r in rows]
    else:
        candidates = [Candidate(r[0], r[1], r[2]) for r in rows]
    return candidates


async def resolve_reference(session: AsyncSession, kind: str, text: str, *, field: str,
                            names: bool = True) -> int:
    """Return the id of the live `kind` (a REFERENCE_KINDS key) that `text` names: a code ("E0042", any case),
    a name ("Pablo Hernández", accents and case ignored; "Hernández Pablo" too) or an id in digits. Raises
    NotFound with the closest matches, or InvalidInput when it names several (two people of one name).
    `names=False` lists them by code only (domain.kernel.references.pick)."""
    return pick(await reference_candidates(session, kind), text, field=field, kind=kind,
                expected=REFERENCE_KINDS[kind], names=names)


async def reference_codes(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code of each `kind` record (a REFERENCE_KINDS key) of `ids`, in one query: what an answer shows beside
    an id (tools.output_codes), and what a reference to it accepts."""
    return await repo.codes_of(session, kind, ids)
