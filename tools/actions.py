"""Tools of the confirmation gate: list, inspect, confirm, cancel, approve and reject pending actions.

The four decisions are write tools whose domain (domain.actions.service) audits every transition itself
(`audited_by_domain`); a refused decision (stale, expired, failed) is committed as such, then its error raised.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domain.actions import service as actions
from domain.actions.models import ActionStatus
from domain.actions.schemas import ActionSummaryOut, action_summary_out
from domain.kernel.actor import Role
from tools import gate
from domain.actions.schemas import ActionOut, action_out
from tools.references import ActionRef
from tools.registry import Effect, Module, ToolContext
from tools.types import Page, PageInput, Reason, ToolInput, page_of

module = Module("actions", core=True, description="The confirmation gate for destructive tools.")
EVERYONE = frozenset(Role)


class ListPendingActionsIn(PageInput):
    status: Literal["open", "proposed", "queued", "executed", "cancelled", "rejected", "expired", "stale",
                    "failed", "all"] = Field(default="open", description="open = proposed or queued.")
    mine: bool = Field(default=False, description="Only actions I requested (for an admin).")


class ActionIdIn(ToolInput):
    action_id: ActionRef


class DecideIn(ToolInput):
    action_id: ActionRef
    reason: Reason | None = Field(default=None, description="Why; recorded in the audit log.")


class RejectIn(ToolInput):
    action_id: ActionRef
    reason: Reason = Field(description="Why it is rejected; recorded and shown to the requester.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def list_pending_actions(ctx: ToolContext, args: ListPendingActionsIn) -> Page[ActionSummaryOut]:
    """List pending actions (destructive calls waiting at the gate), oldest first, one line each; get_action has the
    preview. Admins see everyone's; other roles only the actions they requested."""
    if args.status == "open":
        statuses = [ActionStatus.PROPOSED.value, ActionStatus.QUEUED.value]
    elif args.status == "all":
        statuses = None
    else:
        statuses = [args.status]
    rows = await actions.list_actions_for(ctx.session, ctx.actor, after_id=args.after_id(), limit=args.limit,
                                          statuses=statuses, mine=args.mine)
    page, cursor = page_of(rows, args.limit)
    return Page[ActionSummaryOut](items=[action_summary_out(a) for a in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_action(ctx: ToolContext, args: ActionIdIn) -> ActionOut:
    """Get one pending action with its arguments, preview and outcome. Admins may read any; other roles only their
    own."""
    return action_out(await actions.get_action_for(ctx.session, ctx.actor, action_id=args.action_id))


@module.tool(effect=Effect.WRITE, roles=EVERYONE, destructive_hint=True, offered_to_agents=False,
             audited_by_domain=True)
async def confirm_action(ctx: ToolContext, args: ActionIdIn) -> ActionOut:
    """Confirm a pending action you requested, after the user has seen its preview and agreed.

    A confirm-level action executes now, in one transaction; an approve-level one is queued for another admin. If
    any row it touches changed since the preview, nothing changes and it is marked stale.
    """
    return await gate.decide_confirm(ctx.session, ctx.runtime, ctx.actor, args.action_id)


@module.tool(effect=Effect.WRITE, roles=EVERYONE, idempotent=False, audited_by_domain=True)
async def cancel_action(ctx: ToolContext, args: DecideIn) -> ActionOut:
    """Cancel a proposed or queued action (its requester, or an admin). Nothing is changed."""
    return await gate.decide_close(ctx.session, ctx.actor, args.action_id, status=ActionStatus.CANCELLED,
                                   reason=args.reason)


@module.tool(effect=Effect.WRITE, roles={Role.ADMIN}, destructive_hint=True, offered_to_agents=False,
             audited_by_domain=True)
async def approve_action(ctx: ToolContext, args: DecideIn) -> ActionOut:
    """Approve a queued action as an admin who did not request it (four eyes), executing it now."""
    return await gate.decide_approve(ctx.session, ctx.runtime, ctx.actor, args.action_id, args.reason)


@module.tool(effect=Effect.WRITE, roles={Role.ADMIN}, offered_to_agents=False, audited_by_domain=True)
async def reject_action(ctx: ToolContext, args: RejectIn) -> ActionOut:
    """Reject a proposed or queued action as an admin who did not request it, with a reason. Nothing changes."""
    return await gate.decide_close(ctx.session, ctx.actor, args.action_id, status=ActionStatus.REJECTED,
                                   reason=args.reason)
