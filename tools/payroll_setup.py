"""Payroll setup tools: dated payroll rates (the super guarantee rate from a date), editing a salary structure and
moving contracts between structures (issue 18, item 8). Declarations only: the rules and plans are in
domain/payroll/rates.py. Adding a rate and editing a structure change what every later payroll pays, so an admin
other than the requester approves them; moving contracts is confirmed by the requester.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field, StringConstraints, WithJsonSchema
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from domain.payroll import rates, service
from domain.payroll.jurisdiction import AU
from domain.payroll.rates import MAX_MOVED, MovedContractsOut, PayrollRateOut
from domain.payroll.schemas import StructureOut, structure_out
from tools.payroll import ComponentIn
from tools.references import SalaryStructureRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import Code, Name, Page, PageInput, Reason, ToolInput, encode_cursor

module = Module("payroll_setup", depends_on=("payroll",),
                description="Dated payroll rates, editing salary structures, moving contracts between them.")
PAYROLL = frozenset({Role.ADMIN, Role.PAYROLL})
PAYROLL_HR = frozenset({Role.ADMIN, Role.PAYROLL, Role.HR})

RatePercent = Annotated[Decimal, Field(ge=0, le=100, max_digits=10, decimal_places=4),
                        WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100, "description": "12 is 12 %."})]
Source = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=500)]


# ---------------------------------------------------------------- dated rates


class AddRateIn(ToolInput):
    name: Code = Field(description="super_guarantee_rate")
    percent: RatePercent
    effective_from: date = Field(description="First pay date it applies to.")
    source: Source = Field(description="The law or publication setting it.")


def _plan_rate(session: AsyncSession, actor: Actor, args: AddRateIn) -> Awaitable[Plan]:
    return rates.plan_add_payroll_rate(session, actor, jurisdiction_code=AU.code, name=args.name,
                                       effective_from=args.effective_from, rate=args.percent / 100,
                                       source=args.source)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_rate)
async def add_payroll_rate(ctx: ToolContext, args: AddRateIn) -> PayrollRateOut:
    """Add a dated payroll rate, e.g. next year's super guarantee rate, for pay dates from its date."""
    assert ctx.applied is not None
    return await rates.added_rate(ctx.session, ctx.applied.ids)


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def list_payroll_rates(ctx: ToolContext, args: PageInput) -> Page[PayrollRateOut]:
    """List the dated payroll rates, bundled and added, with sources; a payslip uses the latest by its pay date."""
    rows = await rates.list_rates(ctx.session, jurisdiction_code=AU.code)
    start = args.after_id()
    more = start + args.limit < len(rows)
    return Page[PayrollRateOut](items=rows[start:start + args.limit],
                                next_cursor=encode_cursor(start + args.limit) if more else None)


# ---------------------------------------------------------------- structures and contracts


class UpdateStructureIn(ToolInput):
    salary_structure_id: SalaryStructureRef
    components: list[ComponentIn] = Field(min_length=1, max_length=60, description="The whole new list, in order.")
    name: Name | None = None


def _plan_structure(session: AsyncSession, actor: Actor, args: UpdateStructureIn) -> Awaitable[Plan]:
    return rates.plan_update_salary_structure(
        session, actor, structure_id=args.salary_structure_id, name=args.name,
        components=[c.model_dump(exclude_none=True) for c in args.components])


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_structure)
async def update_salary_structure(ctx: ToolContext, args: UpdateStructureIn) -> StructureOut:
    """Replace a salary structure's components (checked as on create) for later calculations."""
    return structure_out(await service.get_structure(ctx.session, args.salary_structure_id))


class MoveContractsIn(ToolInput):
    contract_numbers: list[Code] = Field(min_length=1, max_length=MAX_MOVED, description="e.g. C00012.")
    salary_structure_id: SalaryStructureRef
    effective_from: date
    reason: Reason


def _plan_move(session: AsyncSession, actor: Actor, args: MoveContractsIn) -> Awaitable[Plan]:
    return rates.plan_move_contracts_to_structure(
        session, actor, contract_numbers=args.contract_numbers, structure_id=args.salary_structure_id,
        effective_from=args.effective_from, reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL_HR, gate=GateLevel.CONFIRM, plan=_plan_move)
async def move_contracts_to_structure(ctx: ToolContext, args: MoveContractsIn) -> MovedContractsOut:
    """Move contracts to another salary structure from a date after their last paid period, as new versions."""
    assert ctx.plan is not None
    return rates.moved_out(ctx.plan, await service.get_structure(ctx.session, args.salary_structure_id))
