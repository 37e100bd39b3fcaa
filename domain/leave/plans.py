"""Plans of leave's gated commands (domain.kernel.plan): approving a leave request and adjusting a balance.

- `plan_approve_leave_request`: the request row requested -> approved (who and when: the releasing user, the time
  of applying), at the version previewed. Its inputs are the employee's balance of the type and the approved
  leave not yet taken: a movement posted since the preview (a payslip's accrual or leave taken, an adjustment)
  makes the action stale.
- `plan_adjust_leave_balance`: one `adjustment` movement (an opening balance when a school starts using mcs-erp,
  or a correction) with its reason; its input is the balance it adjusts, so a movement since the preview makes it
  stale.

Errors are the services' (domain.leave.service.check_approval, check_adjustment): NotFound, Conflict,
InvalidInput.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import service as hr
from domain.kernel.actor import Actor
from domain.kernel.plan import DECIDED_BY, NOW, Insert, Plan, Update, inserted_rows
from domain.leave import service
from domain.leave.models import MovementKind, RequestStatus
from domain.leave.rules import days_of, from_x100, hours_decimal, to_x100


def _hours(value: Fraction) -> str:
    """Hours for a person and for the hashed inputs: two decimals ("68.40")."""
    return f"{hours_decimal(value)}"


def _standing_inputs(code: str, held: service.Standing) -> dict[str, Any]:
    return {f"{code} balance (hours)": _hours(held.balance),
            f"{code} approved and not yet taken (hours)": _hours(held.committed)}


async def plan_approve_leave_request(session: AsyncSession, actor: Actor, *, request_id: int) -> Plan:
    """Plan approving a requested leave request: its status approved, decided by whoever releases the action, at
    the version previewed. The preview shows the request, its hours and days, and the employee's balance of the
    type before and after (after: less this request and the other approved leave not yet taken). Raises NotFound,
    Conflict (not requested; above the available balance of a paid type: leave in advance is not supported; LSL
    before 7 years of service) (service.check_approval)."""
    req = await service.get_request(session, request_id)
    kind, held = await service.check_approval(session, req)
    employee = await hr.get_employee(session, req.employee_id)
    hours = from_x100(req.hours_x100)
    change = Update("leave_requests", req.id or 0, req.version, before={"status": req.status},
                    after={"status": RequestStatus.APPROVED.value, "decided_by": DECIDED_BY, "decided_at": NOW})
    after = held.available - hours if kind.paid else None
    preview = {"request_id": req.id, "employee": f"{employee.code} {employee.full_name}",
               "leave_type": f"{kind.code} ({kind.name})", "paid": kind.paid,
               "start_date": req.start_date.isoformat(), "end_date": req.end_date.isoformat(),
               "working_days": req.working_days, "hours": _hours(hours),
               "days": str(hours_decimal(days_of(hours))),
               "hours_per_day": _hours(from_x100(req.hours_per_day_x100)),
               "public_holidays_of": f"{req.country}{'-' + req.subdivision if req.subdivision else ''}",
               "reason": req.reason,
               "balance_before_hours": _hours(held.balance) if kind.paid else None,
               "approved_not_taken_hours": _hours(held.committed) if kind.paid else None,
               "balance_after_hours": _hours(after) if after is not None else None,
               "before": {"status": req.status}, "after": {"status": RequestStatus.APPROVED.value},
               "note": ("the hours are taken from the balance when a payslip pays them" if kind.paid else
                        "unpaid leave: payroll treats its days as unpaid days")}
    return Plan(command="approve_leave_request",
                summary=f"Approve {kind.code} leave for {employee.full_name} ({employee.code}) from {req.start_date} "
                        f"to {req.end_date}: {_hours(hours)} h",
                preview=preview, changes=[change], inputs=_standing_inputs(kind.code, held) if kind.paid else {})


async def plan_adjust_leave_balance(session: AsyncSession, actor: Actor, *, employee_id: int, leave_type: str,
                                    hours: Fraction, on: date, reason: str) -> Plan:
    """Plan adjusting an employee's balance of a paid leave type by `hours` (positive adds, negative removes;
    hundredths of an hour) on `on`: one adjustment movement (source "adjustment") carrying the reason. The preview
    shows the balance before and after. Raises NotFound (employee_id, leave_type), InvalidInput
    (service.check_adjustment: an unpaid type, 0 hours, more than two decimals, a balance below 0)."""
    employee = await hr.get_employee(session, employee_id)
    kind = await service.get_leave_type(session, leave_type)
    held = await service.standing(session, employee_id=employee_id, leave_type=kind)
    change = Fraction(hours)
    service.check_adjustment(kind, held, change)
    insert = Insert("leave_movements", {"employee_id": employee_id, "leave_type_id": kind.id,
                                        "kind": MovementKind.ADJUSTMENT.value, "hours_x100": to_x100(change),
                                        "on_date": on, "source": "adjustment", "request_id": None,
                                        "note": reason}, ref="movement")
    preview = {"employee": f"{employee.code} {employee.full_name}", "leave_type": f"{kind.code} ({kind.name})",
               "on": on.isoformat(), "reason": reason, "change_hours": _hours(change),
               "before": {"balance_hours": _hours(held.balance)},
               "after": {"balance_hours": _hours(held.balance + change)},
               "approved_not_taken_hours": _hours(held.committed)}
    return Plan(command="adjust_leave_balance",
                summary=f"Adjust {employee.full_name}'s ({employee.code}) {kind.code} balance by {_hours(change)} h "
                        f"on {on}: {_hours(held.balance)} -> {_hours(held.balance + change)} h",
                preview=preview, changes=[insert], inputs=_standing_inputs(kind.code, held))


def approved_request_id(plan: Plan) -> int:
    """The id of the request an applied approval plan approved."""
    return next(c.id for c in plan.changes if isinstance(c, Update) and c.table == "leave_requests")


def adjusted_employee_id(plan: Plan) -> int:
    """The employee whose balance an applied adjustment plan adjusted."""
    return int(inserted_rows(plan, "leave_movements")[0].values["employee_id"])
