"""The confirmation gate's entry points: one unit of work per proposal and per decision.

The life cycle itself (plan, hash, re-plan, apply or stale, four eyes, expiry, audit) is
`domain.actions.service`; this module adapts each gated tool to its `GatedCommand`. A decision runs in one write
unit of work: the caller's (`decide_confirm`, `decide_approve`, `decide_close`: the gate's tools, run by
tools.invoke) or its own (`confirm`, `approve`, `close`: the agent API's and the OpenAI-compatible endpoint's).
A decision's refusal (stale, expired, failed) is raised by an after-commit hook (domain.kernel.db.after_commit),
so what the refusal records is committed first and the caller still gets the error.

A gated tool declares `plan=` (a domain `plan_<command>(session, actor, args) -> Plan`); the gate applies the plan
with `domain.kernel.plan.apply_plan` and the tool function then reads the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.actions import service as actions
from domain.actions.models import ActionStatus, GateLevel
from domain.kernel.actor import Actor
from domain.kernel.db import after_commit
from domain.kernel.plan import ApplyContext, Plan, apply_plan
from domain.kernel.settings import settings_in_use
from domain.actions.schemas import ActionOut, PendingActionOut, action_out, pending_out
from tools.invoke import audit_json, parse_arguments
from tools.output_codes import fill_codes
from tools.registry import ActionContext, ToolContext, ToolSpec
from tools.runtime import Runtime


@dataclasses.dataclass(frozen=True)
class ToolCommand:
    """A gated tool as the gate's GatedCommand."""

    spec: ToolSpec
    runtime: Runtime

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def level(self) -> GateLevel:
        assert self.spec.gate is not None
        return self.spec.gate

    def allowed(self, actor: Actor) -> bool:
        return actor.has_any(self.spec.roles)

    async def plan(self, session: AsyncSession, actor: Actor, arguments: Mapping[str, Any]) -> Plan:
        args = parse_arguments(self.spec, dict(arguments))
        assert self.spec.plan is not None  # the registry refuses a gated tool without one
        with settings_in_use(self.runtime.settings):  # a plan may depend on a setting (an approval threshold)
            return await self.spec.plan(session, actor, args)

    async def apply(self, session: AsyncSession, context: ApplyContext, plan: Plan,
                    arguments: Mapping[str, Any]) -> dict[str, Any]:
        with settings_in_use(self.runtime.settings):  # as the plan: arguments may hold sealed secrets
            args = parse_arguments(self.spec, dict(arguments))
            released = ActionContext(action_id=context.action_id or 0, decided_by=context.decided_by,
                                     decision_reason=context.reason)
            applied = await apply_plan(session, plan, context)
            out = await self.spec.run(ToolContext(session, context.actor, self.runtime, action=released,
                                                  applied=applied, plan=plan), args)
            return audit_json(await fill_codes(session, out))  # the codes beside the ids, as tools.invoke shows


def commands(runtime: Runtime):
    """The lookup of gated commands the gate needs: the enabled gated tool of that name, or None."""

    def lookup(name: str) -> ToolCommand | None:
        spec = runtime.catalogue.get(name)
        if spec is None or spec.gate is None:
            return None
        return ToolCommand(spec, runtime)

    return lookup


async def propose(runtime: Runtime, spec: ToolSpec, args: BaseModel, actor: Actor, *,
                  record=None) -> PendingActionOut:
    """Plan a gated call and record its pending action; the school's data is not changed. `record(session, out)`
    (tools.invoke.Recorder) runs in the same transaction."""
    async with runtime.db.write() as session:
        action = await actions.propose(session, actor, ToolCommand(spec, runtime), audit_json(args),
                                       ttl_minutes=runtime.settings.action_ttl_minutes)
        out = pending_out(action)
        if record is not None:
            await record(session, out)
        return out


def _settle(session: AsyncSession, decision: actions.Decision) -> ActionOut:
    """Return the decided action; its refusal, if any, is raised once the decision has committed."""
    refusal = decision.refusal
    if refusal is not None:
        async def refuse() -> None:
            raise refusal

        after_commit(session, refuse)
    return action_out(decision.action)


async def decide_confirm(session: AsyncSession, runtime: Runtime, actor: Actor, action_id: int) -> ActionOut:
    """Confirm an action as its requester in the caller's write unit of work (domain.actions.service.confirm);
    a refusal (StaleAction, ActionClosed for an expired action, the command's error) is raised after the commit."""
    decision = await actions.confirm(session, actor, action_id, commands(runtime),
                                     approval_ttl_hours=runtime.settings.approval_ttl_hours)
    return _settle(session, decision)


async def decide_approve(session: AsyncSession, runtime: Runtime, actor: Actor, action_id: int,
                         reason: str | None) -> ActionOut:
    """Approve a queued action as an admin who is not its requester, in the caller's write unit of work
    (domain.actions.service.approve); a refusal is raised after the commit."""
    decision = await actions.approve(session, actor, action_id, commands(runtime), reason=reason)
    return _settle(session, decision)


async def decide_close(session: AsyncSession, actor: Actor, action_id: int, *, status: ActionStatus,
                       reason: str | None) -> ActionOut:
    """Reject (admin, not the requester) or cancel (requester or admin) an open action in the caller's write unit
    of work; an expired action's refusal (ActionClosed) is raised after the commit."""
    decision = await actions.close(session, actor, action_id, status=status, reason=reason)
    return _settle(session, decision)


async def confirm(runtime: Runtime, actor: Actor, action_id: int) -> ActionOut:
    """Confirm an action as its requester in a unit of work of its own (see decide_confirm)."""
    async with runtime.db.write() as session:
        return await decide_confirm(session, runtime, actor, action_id)


async def approve(runtime: Runtime, actor: Actor, action_id: int, reason: str | None) -> ActionOut:
    """Approve a queued action in a unit of work of its own (see decide_approve)."""
    async with runtime.db.write() as session:
        return await decide_approve(session, runtime, actor, action_id, reason)


async def close(runtime: Runtime, actor: Actor, action_id: int, *, status: ActionStatus,
                reason: str | None) -> ActionOut:
    """Reject or cancel an open action in a unit of work of its own (see decide_close)."""
    async with runtime.db.write() as session:
        return await decide_close(session, actor, action_id, status=status, reason=reason)
