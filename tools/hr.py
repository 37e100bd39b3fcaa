"""HR tools: departments and employees."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import TypeVar

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import plans, service
from domain.hr.models import Employee, EmployeeStatus, EmploymentType
from domain.hr.schemas import DepartmentRead, EmployeeRead, EmployeeSummary
from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from tools.references import DepartmentRef, EmployeeRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import (
    ChangeInput,
    Code,
    Email,
    Name,
    Page,
    PageInput,
    Query,
    Reason,
    ShortText,
    ToolInput,
    page_of,
    ranked_page_of,
)

module = Module("hr", description="Departments and employees.")

STAFF_READERS = frozenset({Role.ADMIN, Role.HR, Role.PAYROLL, Role.REGISTRAR, Role.VIEWER})
HR_WRITERS = frozenset({Role.ADMIN, Role.HR})


class ListDepartmentsIn(PageInput):
    pass


class CreateDepartmentIn(ToolInput):
    code: Code = Field(description="Short code, e.g. MATH.")
    name: Name


class ListEmployeesIn(PageInput):
    department_id: DepartmentRef | None = None
    status: EmployeeStatus | None = None


class SearchEmployeesIn(PageInput):
    query: Query


class EmployeeIdIn(ToolInput):
    employee_id: EmployeeRef


class CreateEmployeeIn(ToolInput):
    first_name: Name
    last_name: Name
    work_email: Email
    position: ShortText = Field(description="e.g. 'Mathematics teacher'.")
    department_id: DepartmentRef
    hire_date: date
    employment_type: EmploymentType
    code: Code | None = Field(default=None, description="omitted: the next free code (E0001...).")


class UpdateEmployeeIn(ChangeInput):
    target = "employee_id"
    employee_id: EmployeeRef
    first_name: Name | None = None
    last_name: Name | None = None
    work_email: Email | None = None
    position: ShortText | None = None
    department_id: DepartmentRef | None = None
    employment_type: EmploymentType | None = None
    status: EmployeeStatus | None = None


class TerminateEmployeeIn(ToolInput):
    employee_id: EmployeeRef
    termination_date: date
    reason: Reason


@module.tool(effect=Effect.READ, roles=STAFF_READERS)
async def list_departments(ctx: ToolContext, args: ListDepartmentsIn) -> Page[DepartmentRead]:
    """List the school's departments."""
    rows = await service.list_departments(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda row: row[0].id)
    items = [DepartmentRead(id=d.id, code=d.code, name=d.name, employee_count=n) for d, n in page]
    return Page[DepartmentRead](items=items, next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=HR_WRITERS)
async def create_department(ctx: ToolContext, args: CreateDepartmentIn) -> DepartmentRead:
    """Create a department with a unique short code."""
    dep = await service.create_department(ctx.session, ctx.actor, code=args.code, name=args.name)
    return DepartmentRead.model_validate(dep)


EmployeeOut = TypeVar("EmployeeOut", EmployeeSummary, EmployeeRead)


async def _outs(ctx: ToolContext, employees: list[Employee], model: type[EmployeeOut]) -> list[EmployeeOut]:
    """`employees` as `model`, each with its department's code beside the id (one query)."""
    codes = await service.department_codes(ctx.session, {e.department_id for e in employees})
    return [model.model_validate(e).model_copy(update={"department_code": codes.get(e.department_id)})
            for e in employees]


@module.tool(effect=Effect.READ, roles=STAFF_READERS)
async def list_employees(ctx: ToolContext, args: ListEmployeesIn) -> Page[EmployeeSummary]:
    """List employees; get_employee has the full record."""
    rows = await service.list_employees(ctx.session, after_id=args.after_id(), limit=args.limit,
                                        department_id=args.department_id,
                                        status=args.status.value if args.status else None)
    if not rows and args.department_id is not None:
        await service.get_department_or_raise(ctx.session, args.department_id)
    page, cursor = page_of(rows, args.limit)
    return Page[EmployeeSummary](items=await _outs(ctx, page, EmployeeSummary), next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=STAFF_READERS)
async def search_employees(ctx: ToolContext, args: SearchEmployeesIn) -> Page[EmployeeSummary]:
    """Find employees by part of a name, code, work email or position, case and accents ignored, nearest first."""
    start = args.after_id()
    rows = await service.list_employees(ctx.session, after_id=start, limit=args.limit, query=args.query)
    page, cursor = ranked_page_of(rows, args.limit, start)
    return Page[EmployeeSummary](items=await _outs(ctx, page, EmployeeSummary), next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=STAFF_READERS)
async def get_employee(ctx: ToolContext, args: EmployeeIdIn) -> EmployeeRead:
    """Get one employee's full record."""
    return (await _outs(ctx, [await service.get_employee(ctx.session, args.employee_id)], EmployeeRead))[0]


@module.tool(effect=Effect.WRITE, roles=HR_WRITERS)
async def create_employee(ctx: ToolContext, args: CreateEmployeeIn) -> EmployeeRead:
    """Hire an employee: an active record with the next free code (E0001...) unless one is given."""
    emp = await service.create_employee(ctx.session, ctx.actor, **args.model_dump(exclude={"code"}),
                                        code=args.code)
    return (await _outs(ctx, [emp], EmployeeRead))[0]


@module.tool(effect=Effect.WRITE, roles=HR_WRITERS)
async def update_employee(ctx: ToolContext, args: UpdateEmployeeIn) -> EmployeeRead:
    """Change an employee's record; only the fields given change. Status is active or on_leave: terminating is
    terminate_employee."""
    changes = args.model_dump(exclude_none=True, exclude={"employee_id"})
    emp = await service.update_employee(ctx.session, ctx.actor, employee_id=args.employee_id, changes=changes)
    return (await _outs(ctx, [emp], EmployeeRead))[0]


def _plan_termination(session: AsyncSession, actor: Actor, args: TerminateEmployeeIn) -> Awaitable[Plan]:
    return plans.plan_terminate_employee(session, actor, employee_id=args.employee_id,
                                         termination_date=args.termination_date, reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=HR_WRITERS, gate=GateLevel.CONFIRM, plan=_plan_termination)
async def terminate_employee(ctx: ToolContext, args: TerminateEmployeeIn) -> EmployeeRead:
    """Terminate an employee as of a date, with a reason. The record is kept (status terminated)."""
    return (await _outs(ctx, [await service.get_employee(ctx.session, args.employee_id)], EmployeeRead))[0]
