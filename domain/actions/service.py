"""The confirmation gate's life cycle (DESIGN.md, "The confirmation gate: plan, then apply").

```
gated call      --> plan = command.plan(requester, arguments): the exact changes, a preview derived from them
                --> PendingAction(proposed): preview, hash(arguments), plan (canonical JSON) and hash(plan), expiry
confirm         --> level confirm: apply now; level approve: queued for an admin
approve         --> only an admin, never the requester (four eyes)
applying        --> in the decision's one write transaction: check hash(arguments) against the stored arguments;
                    plan again from the current state as the requester; apply only if hash(new plan) equals the
                    approved hash, else the action is stale (nothing applied; its error says what differs)
reject / cancel / expiry --> closed, nothing changed
```

Each decision is one unit of work owned by the caller (tools/gate.py), who commits it and then raises
`Decision.refusal` when there is one: a stale, failed or expired action is recorded as such in the same
transaction that found it so. A command's own failure (its plan raises, say the run is no longer posted) runs
inside a savepoint, so the failure is recorded without anything of the command's work.

Commands are given to the gate by the tools layer as `GatedCommand`s: this module imports no tool, transport or
registry. Every transition appends an audit row (the only audit rows a gated command writes for its action).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.actions import repository as repo
from domain.actions.models import ActionStatus, GateLevel, PendingAction
from domain.identity.service import actor_for, get_user
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit, canonical_json
from domain.kernel.clock import utcnow
from domain.kernel.errors import ActionClosed, DomainError, PermissionDenied, StaleAction
from domain.kernel.models import bump
from domain.kernel.plan import ApplyContext, Plan, differences, plan_digest

MAX_ERROR = 2000
MAX_SUMMARY = 500


class GatedCommand(Protocol):
    """A gated command as the gate sees it (the tools layer adapts each gated tool to this)."""

    name: str
    level: GateLevel

    def allowed(self, actor: Actor) -> bool:
        """Whether `actor` (the requester, when released) still holds a role that may run the command."""

    async def plan(self, session: AsyncSession, actor: Actor, arguments: Mapping[str, Any]) -> Plan:
        """Plan the command for `actor` from the current state; raises the command's DomainErrors."""

    async def apply(self, session: AsyncSession, context: ApplyContext, plan: Plan,
                    arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Write exactly `plan` and return the command's result as JSON."""


CommandLookup = Callable[[str], "GatedCommand | None"]


async def list_actions_for(session: AsyncSession, actor: Actor, *, after_id: int, limit: int,
                           statuses: list[str] | None, mine: bool = False) -> list[PendingAction]:
    """Return the pending actions `actor` may see after `after_id`, in id order (limit + 1 rows, so the caller
    can tell whether more exist); `statuses` None means every status.

    Rule: admins see everyone's actions (only their own with `mine`); other roles only the ones they requested.
    """
    requested_by = actor.id if (mine or not actor.is_admin) else None
    return await repo.list_actions(session, after_id=after_id, limit=limit, statuses=statuses,
                                   requested_by=requested_by)


async def list_actions_of_command(session: AsyncSession, *, command: str, after_id: int, limit: int,
                                  statuses: list[str] | None, requested_by: int | None) -> list[PendingAction]:
    """Return the pending actions of one gated command (its tool's name, e.g. change_locked_grade) after
    `after_id`, in id order (limit + 1 rows, so the caller can tell whether more exist); `statuses` None means
    every status, `requested_by` None everyone's. The context that owns the command decides who may see them."""
    return await repo.list_actions(session, after_id=after_id, limit=limit, statuses=statuses,
                                   requested_by=requested_by, tool=command)


async def get_action_for(session: AsyncSession, actor: Actor, *, action_id: int) -> PendingAction:
    """Return one pending action `actor` may read: admins any, other roles only their own.

    Raises NotFound (field action_id) or PermissionDenied.
    """
    action = await repo.get_action_or_raise(session, action_id)
    if not actor.is_admin and action.requested_by != actor.id:
        raise PermissionDenied(f"action {action_id} was requested by someone else; only admins can read it")
    return action


class _Unplannable(Exception):
    """The command's plan raised when planned again at release: the action is stale, not failed."""

    def __init__(self, error: DomainError):
        super().__init__(error.message)
        self.error = error


def arguments_hash(arguments: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of the canonical JSON of a call's arguments."""
    return hashlib.sha256(canonical_json(arguments).encode()).hexdigest()


@dataclasses.dataclass
class Decision:
    """The outcome of a decision: the action as it now is, and the error the caller raises after committing
    (stale, expired, failed), if any."""

    action: PendingAction
    refusal: Exception | None = None


async def propose(session: AsyncSession, actor: Actor, command: GatedCommand, arguments: dict[str, Any], *,
                  ttl_minutes: int) -> PendingAction:
    """Plan `command` with `arguments` (already validated, as JSON) and record the pending action at the higher of
    the command's declared level and the plan's own (`Plan.level`); nothing of the school's data changes. Raises
    the plan's DomainErrors (nothing is recorded then)."""
    plan = await command.plan(session, actor, arguments)
    canonical = plan.canonical()
    level = command.level
    if plan.level is not None and GateLevel(plan.level) is GateLevel.APPROVE:
        level = GateLevel.APPROVE
    action = PendingAction(
        tool=command.name, level=level.value, status=ActionStatus.PROPOSED.value,
        summary=plan.summary[:MAX_SUMMARY], arguments=json.dumps(arguments, sort_keys=True),
        args_hash=arguments_hash(arguments), preview=json.dumps(plan.preview, default=str), touched="[]",
        plan=canonical_json(canonical), plan_hash=plan_digest(canonical), requested_by=actor.id,
        requested_by_username=actor.username, channel=str(actor.channel),
        expires_at=utcnow() + timedelta(minutes=ttl_minutes))
    session.add(action)
    await session.flush()
    await append_audit(session, actor, tool=command.name, event="proposed", arguments=arguments,
                       entity="pending_actions", entity_id=action.id, before=plan.preview.get("before"),
                       after=plan.preview.get("after"), action_id=action.id)
    return action


def _ensure_open(action: PendingAction, *expected: ActionStatus) -> None:
    if action.status not in {s.value for s in expected}:
        wanted = " or ".join(s.value for s in expected)
        raise ActionClosed(f"action {action.id} is {action.status}; this step needs it to be {wanted}")


def _decided(action: PendingAction, actor: Actor, reason: str | None = None) -> None:
    action.decided_by, action.decided_by_username, action.decided_at = actor.id, actor.username, utcnow()
    action.decision_reason = reason
    bump(action)


async def _expired(session: AsyncSession, actor: Actor, action: PendingAction) -> Decision | None:
    """Close an open action whose expiry has passed (in the caller's transaction) and say so."""
    if action.status not in (ActionStatus.PROPOSED, ActionStatus.QUEUED) or action.expires_at >= utcnow():
        return None
    action.status = ActionStatus.EXPIRED.value
    bump(action)
    session.add(action)
    await append_audit(session, actor, tool=action.tool, event="expired", arguments={"action_id": action.id},
                       entity="pending_actions", entity_id=action.id, action_id=action.id)
    return Decision(action, ActionClosed(f"action {action.id} expired at {action.expires_at.isoformat()}; nothing "
                                         "was changed. Call the original tool again for a new preview."))


async def _close_refused(session: AsyncSession, actor: Actor, action: PendingAction, *, status: ActionStatus,
                         event: str, error: str, audit_after: dict[str, Any], reason: str | None) -> None:
    action.status = status.value
    action.error = error[:MAX_ERROR]
    _decided(action, actor, reason)
    session.add(action)
    await append_audit(session, actor, tool=action.tool, event=event, arguments={"action_id": action.id},
                       entity="pending_actions", entity_id=action.id, action_id=action.id, after=audit_after)


async def _release(session: AsyncSession, actor: Actor, action: PendingAction, commands: CommandLookup, *,
                   event: str, reason: str | None) -> Decision:
    """Apply an open action (locked by the caller) if its arguments and plan are unchanged; otherwise record it
    stale or failed. Runs in the caller's transaction; the command's work runs in a savepoint."""
    if action.plan is None or action.plan_hash is None:
        await _close_refused(session, actor, action, status=ActionStatus.STALE, event="stale", reason=reason,
                             error="proposed before previews carried their plan; call the tool again",
                             audit_after={"changed": ["no stored plan"]})
        return Decision(action, StaleAction(f"action {action.id} was proposed by an older version of the server "
                                            f"and holds no plan; nothing was changed. Call {action.tool} again.",
                                            details={"action_id": action.id}))
    arguments = json.loads(action.arguments)
    if arguments_hash(arguments) != action.args_hash:
        await _close_refused(session, actor, action, status=ActionStatus.FAILED, event="failed", reason=reason,
                             error="the stored arguments do not match the arguments previewed; refused",
                             audit_after={"error": "arguments hash mismatch"})
        return Decision(action, PermissionDenied(
            f"action {action.id}'s arguments were changed after its preview; nothing was changed. Call "
            f"{action.tool} again for a new preview.", details={"action_id": action.id}))
    approved = json.loads(action.plan)
    try:
        async with session.begin_nested():
            command = commands(action.tool)
            if command is None:
                raise ActionClosed(f"tool {action.tool} is not enabled in this server; the action cannot run")
            requester_user = await get_user(session, action.requested_by)
            if requester_user is None or requester_user.deleted_at is not None:
                raise ActionClosed(f"the requester of action {action.id} no longer exists")
            requester = actor_for(requester_user, actor.channel)
            if not command.allowed(requester):
                raise PermissionDenied(f"the requester {requester.username} no longer holds a role allowed to "
                                       f"call {action.tool}")
            try:
                plan = await command.plan(session, requester, arguments)
            except DomainError as exc:  # the state changed so that the command no longer plans at all
                raise _Unplannable(exc) from exc
            canonical = plan.canonical()
            if plan_digest(canonical) != action.plan_hash:
                what = differences(approved, canonical) or ["the plan differs"]
                refusal: Exception = StaleAction(
                    f"action {action.id} is stale: {'; '.join(what)}. Nothing was changed; call {action.tool} "
                    "again for a new preview.", details={"action_id": action.id, "differences": what})
                stale: list[str] | None = what
            else:
                stale = None
                context = ApplyContext(actor=requester, action_id=action.id,
                                       decided_by=actor.id if actor.id else None, reason=reason)
                result = await command.apply(session, context, plan, arguments)
    except _Unplannable as unplannable:
        exc = unplannable.error
        what = [f"the command can no longer be planned: {exc.message}"]
        await _close_refused(session, actor, action, status=ActionStatus.STALE, event="stale", reason=reason,
                             error="the state changed after the preview: " + what[0], audit_after={"changed": what})
        return Decision(action, StaleAction(
            f"action {action.id} is stale: {what[0]}. Nothing was changed; call {action.tool} again for a new "
            "preview.", field=exc.field, details={"action_id": action.id, "differences": what}))
    except DomainError as exc:
        await _close_refused(session, actor, action, status=ActionStatus.FAILED, event="failed", reason=reason,
                             error=exc.message, audit_after={"error": exc.message})
        return Decision(action, exc)
    except Exception as exc:  # a bug: record the action as failed (nothing of it was written), then re-raise
        message = f"the action failed unexpectedly ({type(exc).__name__}); nothing was changed"
        await _close_refused(session, actor, action, status=ActionStatus.FAILED, event="failed", reason=reason,
                             error=message, audit_after={"error": message})
        return Decision(action, exc)
    if stale is not None:
        await _close_refused(session, actor, action, status=ActionStatus.STALE, event="stale", reason=reason,
                             error="the plan changed after the preview: " + "; ".join(stale),
                             audit_after={"changed": stale})
        return Decision(action, refusal)
    action.status = ActionStatus.EXECUTED.value
    action.result = json.dumps(result, default=str)
    _decided(action, actor, reason)
    session.add(action)
    preview = json.loads(action.preview)
    await append_audit(session, actor, tool=action.tool, event=event, arguments=arguments,
                       entity="pending_actions", entity_id=action.id, action_id=action.id,
                       before=preview.get("before"), after=result)
    return Decision(action)


async def confirm(session: AsyncSession, actor: Actor, action_id: int, commands: CommandLookup, *,
                  approval_ttl_hours: int) -> Decision:
    """Confirm an action as its requester: apply a confirm-level one, queue an approve-level one.

    Raises PermissionDenied when `actor` is not the requester, ActionClosed when the action is not proposed;
    returns a Decision whose refusal is ActionClosed (expired), StaleAction (the plan changed since the preview:
    the error lists what differs) or the command's own error."""
    action = await repo.get_action_or_raise(session, action_id, for_update=True)
    if action.requested_by != actor.id:
        raise PermissionDenied(f"only the requester ({action.requested_by_username}) can confirm action "
                               f"{action_id}; admins decide queued actions with approve_action/reject_action")
    expired = await _expired(session, actor, action)
    if expired is not None:
        return expired
    _ensure_open(action, ActionStatus.PROPOSED)
    if action.level == GateLevel.APPROVE.value:
        action.status = ActionStatus.QUEUED.value
        action.confirmed_at = utcnow()
        action.expires_at = utcnow() + timedelta(hours=approval_ttl_hours)
        bump(action)
        session.add(action)
        await append_audit(session, actor, tool=action.tool, event="queued", arguments={"action_id": action_id},
                           entity="pending_actions", entity_id=action.id, action_id=action.id)
        return Decision(action)
    return await _release(session, actor, action, commands, event="executed", reason=None)


async def approve(session: AsyncSession, actor: Actor, action_id: int, commands: CommandLookup, *,
                  reason: str | None) -> Decision:
    """Approve a queued action as an admin who is not its requester, applying it.

    Raises PermissionDenied for a non-admin or the requester, ActionClosed when it is not queued; returns a
    Decision whose refusal is ActionClosed (expired), StaleAction or the command's own error."""
    action = await repo.get_action_or_raise(session, action_id, for_update=True)
    if not actor.is_admin:
        raise PermissionDenied("only an admin can approve actions")
    if action.requested_by == actor.id:
        raise PermissionDenied(f"you requested action {action_id}; four-eyes rule: another admin must approve it")
    expired = await _expired(session, actor, action)
    if expired is not None:
        return expired
    _ensure_open(action, ActionStatus.QUEUED)
    return await _release(session, actor, action, commands, event="approved", reason=reason)


async def close(session: AsyncSession, actor: Actor, action_id: int, *, status: ActionStatus,
                reason: str | None) -> Decision:
    """Reject (an admin, not the requester) or cancel (the requester or an admin) an open action; nothing of the
    school's data changes. Raises PermissionDenied, ActionClosed."""
    action = await repo.get_action_or_raise(session, action_id, for_update=True)
    expired = await _expired(session, actor, action)
    if expired is not None:
        return expired
    _ensure_open(action, ActionStatus.PROPOSED, ActionStatus.QUEUED)
    if status is ActionStatus.REJECTED:
        if not actor.is_admin:
            raise PermissionDenied("only an admin can reject actions; the requester can cancel_action instead")
        if action.requested_by == actor.id:
            raise PermissionDenied(f"you requested action {action_id}; use cancel_action to withdraw it")
    elif action.requested_by != actor.id and not actor.is_admin:
        raise PermissionDenied(f"only the requester ({action.requested_by_username}) or an admin can cancel "
                               f"action {action_id}")
    action.status = status.value
    _decided(action, actor, reason)
    session.add(action)
    await append_audit(session, actor, tool=action.tool, event=status.value,
                       arguments={"action_id": action_id, "reason": reason}, entity="pending_actions",
                       entity_id=action.id, action_id=action.id)
    return Decision(action)

