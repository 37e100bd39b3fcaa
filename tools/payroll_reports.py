"""Payroll reports and remittances: paying super and PAYG withholding, the remittance report, Single Touch Payroll
Phase 2 pay event data and finalisation, and the leave liability (issue 18, items 2, 5 and 7).

Declarations only: the rules and plans are in domain/payroll/remittance.py, stp.py and liability.py. Remitting moves
money from the bank, so an admin other than the requester approves it. Money is integer minor units of the ISO 4217
currency named beside it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from domain.payroll import liability, remittance, stp
from domain.payroll.liability import LeaveLiabilityOut, ProvisionOut
from domain.payroll.remittance import RemittanceOut, RemittanceReportOut, remittance_out
from domain.payroll.stp import StpExportOut, StpReportOut
from tools.references import PayrollRunRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import MAX_PAGE_SIZE, Page, PageInput, ToolInput, encode_cursor, page_of

module = Module("payroll_reports", depends_on=("payroll",),
                description="Super and PAYG remittances, STP Phase 2 pay event data, the leave liability.")
PAYROLL = frozenset({Role.ADMIN, Role.PAYROLL})
PAYROLL_FINANCE = frozenset({Role.ADMIN, Role.PAYROLL, Role.FINANCE})


# ---------------------------------------------------------------- remittances


class RemitIn(ToolInput):
    pay_date_from: date = Field(description="First pay date covered.")
    pay_date_to: date = Field(description="Last pay date covered (inclusive).")
    paid_on: date = Field(description="The day the money leaves the bank.")


def _plan_super(session: AsyncSession, actor: Actor, args: RemitIn) -> Awaitable[Plan]:
    return remittance.plan_remit_super(session, actor, pay_date_from=args.pay_date_from,
                                       pay_date_to=args.pay_date_to, paid_on=args.paid_on)


def _plan_payg(session: AsyncSession, actor: Actor, args: RemitIn) -> Awaitable[Plan]:
    return remittance.plan_remit_payg(session, actor, pay_date_from=args.pay_date_from,
                                      pay_date_to=args.pay_date_to, paid_on=args.paid_on)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_super)
async def remit_super(ctx: ToolContext, args: RemitIn) -> RemittanceOut:
    """Pay the super (SG, RESC, salary sacrifice) of posted payslips paid in the range, not yet remitted, per fund and
    member, with its SuperStream (SAFF) file."""
    assert ctx.applied is not None
    return remittance_out(await remittance.get_remittance(ctx.session, remittance.remittance_id(ctx.applied.ids)))


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL, gate=GateLevel.APPROVE, plan=_plan_payg)
async def remit_payg(ctx: ToolContext, args: RemitIn) -> RemittanceOut:
    """Pay the ATO the PAYG withheld by posted payslips paid in the range, not yet remitted (BAS W2)."""
    assert ctx.applied is not None
    return remittance_out(await remittance.get_remittance(ctx.session, remittance.remittance_id(ctx.applied.ids)))


class ListRemittancesIn(PageInput):
    kind: Literal["super", "payg"] | None = None


@module.tool(effect=Effect.READ, roles=PAYROLL_FINANCE)
async def list_remittances(ctx: ToolContext, args: ListRemittancesIn) -> Page[RemittanceOut]:
    """List super and PAYG remittances, oldest first."""
    rows = await remittance.list_remittances(ctx.session, after_id=args.after_id(), limit=args.limit + 1,
                                             kind=args.kind)
    page, cursor = page_of(rows, args.limit)
    return Page[RemittanceOut](items=[remittance_out(r) for r in page], next_cursor=cursor)


class RemittanceReportIn(ToolInput):
    pay_date_from: date
    pay_date_to: date = Field(description="Inclusive; at most 400 days after pay_date_from.")


@module.tool(effect=Effect.READ, roles=PAYROLL_FINANCE)
async def get_remittance_report(ctx: ToolContext, args: RemittanceReportIn) -> RemittanceReportOut:
    """PAYG withheld and super owed by payslips paid in a period, what was remitted and what is outstanding, checked
    against the payable accounts' ledger balances."""
    return await remittance.remittance_report(ctx.session, pay_date_from=args.pay_date_from,
                                              pay_date_to=args.pay_date_to)


# ---------------------------------------------------------------- STP Phase 2


FinancialYear = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\d{4}-\d{2}$", max_length=7)]


STP_PAGE = 10
"""Payees a page of an STP report shows by default: each carries its identity and every field group, so 20 of the
demo's payees came to 17,600 characters, over the 16,000 of a default answer."""


class PayEventIn(PageInput):
    run_id: PayrollRunRef
    limit: int = Field(default=STP_PAGE, ge=1, le=MAX_PAGE_SIZE)


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def get_stp_pay_event(ctx: ToolContext, args: PayEventIn) -> StpReportOut:
    """A run's STP Phase 2 pay event, a page of payees: identity (TFN masked) and financial-year-to-date amounts by
    STP field as of its pay date."""
    report, more = await stp.pay_event(ctx.session, run_id=args.run_id, after_id=args.after_id(), limit=args.limit)
    last = report.payees[-1].employee_id if report.payees else 0
    return report.model_copy(update={"next_cursor": encode_cursor(last) if more else None})


class FinalisationIn(PageInput):
    financial_year: FinancialYear = Field(description="e.g. 2026-27.")
    limit: int = Field(default=STP_PAGE, ge=1, le=MAX_PAGE_SIZE)


@module.tool(effect=Effect.READ, roles=PAYROLL)
async def get_stp_finalisation(ctx: ToolContext, args: FinalisationIn) -> StpReportOut:
    """The STP end-of-year finalisation of a financial year, a page of payees with their final amounts."""
    report, more = await stp.finalisation(ctx.session, financial_year=args.financial_year, after_id=args.after_id(),
                                          limit=args.limit)
    last = report.payees[-1].employee_id if report.payees else 0
    return report.model_copy(update={"next_cursor": encode_cursor(last) if more else None})


Format = Literal["json", "csv"]


class ExportPayEventIn(ToolInput):
    run_id: PayrollRunRef
    format: Format = "json"


@module.tool(effect=Effect.WRITE, roles=PAYROLL)
async def export_stp_pay_event(ctx: ToolContext, args: ExportPayEventIn) -> StpExportOut:
    """Store a run's STP pay event as a JSON or CSV document (whole TFNs; payroll and admins only). Lodging needs an
    ATO-registered gateway."""
    return await stp.export(ctx.session, ctx.actor, fmt=args.format, run_id=args.run_id)


class ExportFinalisationIn(ToolInput):
    financial_year: FinancialYear = Field(description="e.g. 2026-27.")
    format: Format = "json"


@module.tool(effect=Effect.WRITE, roles=PAYROLL)
async def export_stp_finalisation(ctx: ToolContext, args: ExportFinalisationIn) -> StpExportOut:
    """Store a financial year's STP finalisation as a JSON or CSV document (whole TFNs; payroll and admins only)."""
    return await stp.export(ctx.session, ctx.actor, fmt=args.format, financial_year=args.financial_year)


# ---------------------------------------------------------------- leave liability


class LiabilityIn(PageInput):
    as_of: date


@module.tool(effect=Effect.READ, roles=PAYROLL_FINANCE)
async def get_leave_liability(ctx: ToolContext, args: LiabilityIn) -> LeaveLiabilityOut:
    """Annual and long service leave held on a date, valued at the ordinary rate plus loading, by employee, type and
    department, against the ledger's provision (2140)."""
    report, more = await liability.leave_liability(ctx.session, as_of=args.as_of, after_id=args.after_id(),
                                                   limit=args.limit)
    last = report.employees[-1].employee_id if report.employees else 0
    return report.model_copy(update={"next_cursor": encode_cursor(last) if more else None})


class ProvisionIn(ToolInput):
    as_of: date = Field(description="The entry's date and the liability's.")


def _plan_provision(session: AsyncSession, actor: Actor, args: ProvisionIn) -> Awaitable[Plan]:
    return liability.plan_post_leave_provision(session, actor, as_of=args.as_of)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PAYROLL_FINANCE, gate=GateLevel.APPROVE, plan=_plan_provision)
async def post_leave_provision(ctx: ToolContext, args: ProvisionIn) -> ProvisionOut:
    """Post the difference between the leave liability and the provision (Dr 5160 Leave expense / Cr 2140, or back),
    creating those accounts on first use."""
    assert ctx.applied is not None
    return await liability.provision_out(ctx.session, as_of=args.as_of, applied_ids=ctx.applied.ids)
