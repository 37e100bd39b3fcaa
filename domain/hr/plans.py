"""Plans of HR's gated commands (domain.kernel.plan): terminating an employee.

`plan_terminate_employee(session, actor, args) -> Plan` reads the employee, raises the command's errors, and
returns the one row it writes with the values it writes; the gate applies exactly that plan.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import repository as repo
from domain.hr.models import EmployeeStatus
from domain.hr.service import check_termination
from domain.kernel.actor import Actor
from domain.kernel.models import snapshot
from domain.kernel.plan import Plan, Update


async def plan_terminate_employee(session: AsyncSession, actor: Actor, *, employee_id: int, termination_date: date,
                                  reason: str) -> Plan:
    """Plan terminating an employee as of a date: the employee row's status (terminated), termination date and
    reason, at the version previewed (the record is kept). The preview shows the whole record before and after.
    Raises NotFound, Conflict (already terminated), InvalidInput (a date before the hire date)
    (service.check_termination)."""
    emp = await repo.get_employee_or_raise(session, employee_id)
    check_termination(emp, termination_date)
    after: dict[str, Any] = {"status": EmployeeStatus.TERMINATED.value, "termination_date": termination_date,
                             "termination_reason": reason}
    change = Update("employees", emp.id or 0, emp.version,
                    before={k: getattr(emp, k) for k in after}, after=after)
    before = snapshot(emp, exclude={"created_at", "updated_at", "deleted_at"})
    shown_after = dict(before, **{k: v.isoformat() if isinstance(v, date) else v for k, v in change.after.items()})
    return Plan(command="terminate_employee",
                summary=f"Terminate {emp.full_name} ({emp.code}, {emp.position}) as of {termination_date}",
                preview={"employee": f"{emp.code} {emp.full_name}", "before": before, "after": shown_after},
                changes=[change])
