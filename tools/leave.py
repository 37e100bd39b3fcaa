"""Leave tools: leave types, requests (request, approve through the gate, reject, cancel), balances and their
adjustment through the gate. Declarations only: the rules and SQL are domain/leave's.

Approving a request and adjusting a balance are gated (the requester confirms; the plans are in
domain/leave/plans.py): a movement of the balance since the preview makes the action stale. Hours are decimal hours
with two places; a day is 7.6 hours unless a request says otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Annotated

from pydantic import Field, WithJsonSchema
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from domain.kernel.settings import current_settings
from domain.leave import plans, service
from domain.leave.models import RequestStatus
from domain.leave.schemas import (
    LeaveBalancesOut,
    LeaveRequestOut,
    LeaveTypeOut,
    leave_balance_out,
    leave_request_out,
    leave_type_out,
)
from tools.references import EmployeeRef, LeaveRequestRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import Code, Page, PageInput, Reason, ToolInput, encode_cursor, page_of

module = Module("leave", depends_on=("hr",), description="Leave types, requests, approvals and balances.")
LEAVE_STAFF = frozenset({Role.ADMIN, Role.HR, Role.PAYROLL})
APPROVERS = frozenset({Role.ADMIN, Role.HR})

HoursPerDay = Annotated[Decimal, Field(gt=0, le=24, max_digits=5, decimal_places=2),
                        WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 24})]
PartHours = Annotated[Decimal, Field(gt=0, le=8784, max_digits=7, decimal_places=2),
                      WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 8784})]
SignedHours = Annotated[Decimal, Field(ge=-10000, le=10000, max_digits=7, decimal_places=2),
                        WithJsonSchema({"type": "number", "minimum": -10000, "maximum": 10000})]
LeaveTypeCode = Annotated[Code, Field(description="ANNUAL, PERSONAL, LSL or UNPAID (list_leave_types).")]


class RequestLeaveIn(ToolInput):
    employee_id: EmployeeRef
    leave_type: LeaveTypeCode
    start_date: date
    end_date: date = Field(description="Inclusive.")
    hours_per_day: HoursPerDay = Field(default=Decimal("7.6"), description="Hours a working day.")
    hours: PartHours | None = Field(default=None, description="A part day's hours.")
    reason: Reason | None = None
    subdivision: Code | None = Field(default=None, description="State whose holidays are skipped, e.g. VIC.")


class RequestIdIn(ToolInput):
    request_id: LeaveRequestRef


class RejectIn(ToolInput):
    request_id: LeaveRequestRef
    reason: Reason


class CancelIn(ToolInput):
    request_id: LeaveRequestRef
    reason: Reason | None = None


class ListRequestsIn(PageInput):
    employee_id: EmployeeRef | None = None
    status: RequestStatus | None = None
    from_date: date | None = None
    to_date: date | None = None


class EmployeeIdIn(ToolInput):
    employee_id: EmployeeRef


class AdjustIn(ToolInput):
    employee_id: EmployeeRef
    leave_type: LeaveTypeCode
    hours: SignedHours = Field(description="Added (positive) or removed (negative).")
    on: date
    reason: Reason


async def _request_outs(ctx: ToolContext, rows: list) -> list[LeaveRequestOut]:
    codes = await service.type_codes(ctx.session)
    return [leave_request_out(row, codes.get(row.leave_type_id, "?")) for row in rows]


@module.tool(effect=Effect.READ, roles=LEAVE_STAFF)
async def list_leave_types(ctx: ToolContext, args: PageInput) -> Page[LeaveTypeOut]:
    """List the leave types with their accrual and the law each follows."""
    rows = await service.leave_type_rows(ctx.session)
    start = args.after_id()
    chunk = rows[start:start + args.limit]
    more = start + args.limit < len(rows)
    return Page[LeaveTypeOut](items=[leave_type_out(r) for r in chunk],
                              next_cursor=encode_cursor(start + args.limit) if more else None)


@module.tool(effect=Effect.WRITE, roles=LEAVE_STAFF)
async def request_leave(ctx: ToolContext, args: RequestLeaveIn) -> LeaveRequestOut:
    """Record an employee's leave request: working days (public holidays skipped) x hours a day, or part-day hours.
    Refused when it overlaps another request. Approve it with approve_leave_request."""
    row = await service.request_leave(
        ctx.session, ctx.actor, employee_id=args.employee_id, leave_type=args.leave_type, start_date=args.start_date,
        end_date=args.end_date, hours_per_day=Fraction(args.hours_per_day),
        hours=Fraction(args.hours) if args.hours is not None else None, reason=args.reason,
        subdivision=args.subdivision or current_settings().leave_subdivision)
    return (await _request_outs(ctx, [row]))[0]


def _plan_approval(session: AsyncSession, actor: Actor, args: RequestIdIn) -> Awaitable[Plan]:
    return plans.plan_approve_leave_request(session, actor, request_id=args.request_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=APPROVERS, gate=GateLevel.CONFIRM, plan=_plan_approval)
async def approve_leave_request(ctx: ToolContext, args: RequestIdIn) -> LeaveRequestOut:
    """Approve a leave request; the preview shows the balance before and after. Paid leave above the balance is
    refused."""
    return (await _request_outs(ctx, [await service.get_request(ctx.session, args.request_id)]))[0]


@module.tool(effect=Effect.WRITE, roles=LEAVE_STAFF)
async def reject_leave_request(ctx: ToolContext, args: RejectIn) -> LeaveRequestOut:
    """Reject a requested leave request with a reason."""
    row = await service.reject_request(ctx.session, ctx.actor, request_id=args.request_id, reason=args.reason)
    return (await _request_outs(ctx, [row]))[0]


@module.tool(effect=Effect.WRITE, roles=LEAVE_STAFF)
async def cancel_leave_request(ctx: ToolContext, args: CancelIn) -> LeaveRequestOut:
    """Cancel a requested or approved leave request that no payslip has paid yet."""
    row = await service.cancel_request(ctx.session, ctx.actor, request_id=args.request_id, reason=args.reason)
    return (await _request_outs(ctx, [row]))[0]


@module.tool(effect=Effect.READ, roles=LEAVE_STAFF)
async def list_leave_requests(ctx: ToolContext, args: ListRequestsIn) -> Page[LeaveRequestOut]:
    """List leave requests, of one employee or status, or touching a date range."""
    rows = await service.list_requests(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       employee_id=args.employee_id,
                                       status=args.status.value if args.status else None,
                                       from_date=args.from_date, to_date=args.to_date)
    page, cursor = page_of(rows, args.limit)
    return Page[LeaveRequestOut](items=await _request_outs(ctx, page), next_cursor=cursor)


async def _balances(ctx: ToolContext, employee_id: int) -> LeaveBalancesOut:
    standings = await service.employee_standings(ctx.session, employee_id)
    return LeaveBalancesOut(employee_id=employee_id,
                            balances=[leave_balance_out(kind, s.balance, s.committed) for kind, s in standings])


@module.tool(effect=Effect.READ, roles=LEAVE_STAFF)
async def get_leave_balances(ctx: ToolContext, args: EmployeeIdIn) -> LeaveBalancesOut:
    """Get an employee's leave balances per type, in hours and days, with approved leave not yet taken."""
    return await _balances(ctx, args.employee_id)


def _plan_adjustment(session: AsyncSession, actor: Actor, args: AdjustIn) -> Awaitable[Plan]:
    return plans.plan_adjust_leave_balance(session, actor, employee_id=args.employee_id, leave_type=args.leave_type,
                                           hours=Fraction(args.hours), on=args.on, reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=LEAVE_STAFF, gate=GateLevel.CONFIRM, plan=_plan_adjustment)
async def adjust_leave_balance(ctx: ToolContext, args: AdjustIn) -> LeaveBalancesOut:
    """Add or remove hours of an employee's leave balance with a reason, e.g. opening balances."""
    return await _balances(ctx, args.employee_id)
