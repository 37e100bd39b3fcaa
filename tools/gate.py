"""The confirmation gate of DESIGN.md.

A destructive call records a PendingAction (preview, argument hash, versions of the rows it touches,
expiry) and returns it. `confirm` by the requester executes a confirm-level action, or queues an
approve-level one for an admin who is not the requester. Execution re-checks every touched row's version:
if any changed, the action becomes stale and nothing is changed. Every transition writes an audit row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from domain.actions import repository as actions_repo
from domain.actions.models import ActionStatus, PendingAction
from domain.identity.models import User
from domain.identity.service import actor_for
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit, canonical_json
from domain.kernel.clock import utcnow
from domain.kernel.errors import ActionClosed, DomainError, PermissionDenied, StaleAction
from domain.kernel.models import bump
from tools.actions_schema import ActionOut, PendingActionOut, action_out, pending_out
from tools.invoke import audit_json
from tools.registry import ActionContext, GateLevel, ToolContext, ToolSpec, Touched
from tools.runtime import Runtime


def _args_hash(args: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(args).encode()).hexdigest()


async def propose(runtime: Runtime, spec: ToolSpec, args: BaseModel, actor: Actor, *,
                  record=None) -> PendingActionOut:
    """Record a pending action for a destructive call and return it; the school's data is not changed.
    `record(session, out)` (tools.invoke.Recorder) runs in the same transaction."""
    assert spec.propose is not None and spec.gate is not None
    arguments = audit_json(args)
    async with runtime.db.write() as session:
        proposal = await spec.propose(ToolContext(session, actor, runtime), args)
        action = PendingAction(
            tool=spec.name, level=spec.gate.value, status=ActionStatus.PROPOSED.value,
            summary=proposal.summary[:500], arguments=json.dumps(arguments, sort_keys=True),
            args_hash=_args_hash(arguments), preview=json.dumps(proposal.preview, default=str),
            touched=json.dumps([asdict(t) for t in proposal.touched]), requested_by=actor.id,
            requested_by_username=actor.username, channel=str(actor.channel),
            expires_at=utcnow() + timedelta(minutes=runtime.settings.action_ttl_minutes))
        session.add(action)
        await session.flush()
        await append_audit(session, actor, tool=spec.name, event="proposed", arguments=arguments,
                           entity="pending_actions", entity_id=action.id, before=proposal.preview.get("before"),
                           after=proposal.preview.get("after"), action_id=action.id)
        out = pending_out(action)
        if record is not None:
            await record(session, out)
        return out


def _ensure_open(action: PendingAction, expected: tuple[ActionStatus, ...]) -> None:
    if action.status not in {s.value for s in expected}:
        wanted = " or ".join(s.value for s in expected)
        raise ActionClosed(f"action {action.id} is {action.status}; this step needs it to be {wanted}")


async def _expire_if_due(runtime: Runtime, actor: Actor, action_id: int) -> None:
    """Close the action as expired (in its own transaction) when its expiry has passed."""
    async with runtime.db.write() as session:
        action = await actions_repo.get_action_or_raise(session, action_id, for_update=True)
        if action.status in (ActionStatus.PROPOSED, ActionStatus.QUEUED) and action.expires_at < utcnow():
            action.status = ActionStatus.EXPIRED.value
            bump(action)
            session.add(action)
            await append_audit(session, actor, tool=action.tool, event="expired", arguments={"action_id": action_id},
                               entity="pending_actions", entity_id=action.id, action_id=action.id)
            expired_at = action.expires_at
        else:
            return
    raise ActionClosed(f"action {action_id} expired at {expired_at.isoformat()}; nothing was changed. "
                       "Call the original tool again for a new preview.")


async def _stale_rows(session, action: PendingAction) -> list[str]:
    changed = []
    for raw in json.loads(action.touched):
        touched = Touched(**raw)
        current = await actions_repo.current_version(session, touched.table, touched.id)
        if current != touched.version:
            now = "deleted" if current is None else f"now version {current}"
            changed.append(f"{touched.table} {touched.id} (version {touched.version} at preview, {now})")
    return changed


async def _execute(runtime: Runtime, actor: Actor, action_id: int, *, event: str, expected: ActionStatus,
                   reason: str | None = None) -> ActionOut:
    """Run an open action's tool in one transaction, or mark it stale or failed; audit every outcome.

    The action's status is checked again under the row lock: of two decisions racing (two admins approving at
    once), the second finds it executed and gets ActionClosed, changing nothing.
    """
    stale: list[str] = []
    try:
        async with runtime.db.write() as session:
            action = await actions_repo.get_action_or_raise(session, action_id, for_update=True)
            _ensure_open(action, (expected,))
            stale = await _stale_rows(session, action)
            now = utcnow()
            action.decided_by = actor.id
            action.decided_by_username = actor.username
            action.decided_at = now
            action.decision_reason = reason
            bump(action)
            if stale:
                action.status = ActionStatus.STALE.value
                action.error = "rows changed after the preview: " + "; ".join(stale)
                session.add(action)
                await append_audit(session, actor, tool=action.tool, event="stale", arguments={"action_id": action_id},
                                   entity="pending_actions", entity_id=action.id, action_id=action.id,
                                   after={"changed": stale})
                closed = action_out(action)
            else:
                spec = runtime.catalogue.get(action.tool)
                if spec is None:
                    raise ActionClosed(f"tool {action.tool} is not enabled in this server; the action cannot run")
                args = spec.input_model.model_validate(json.loads(action.arguments))
                requester_user = await session.get(User, action.requested_by)
                if requester_user is None or requester_user.deleted_at is not None:
                    raise ActionClosed(f"the requester of action {action_id} no longer exists")
                requester = actor_for(requester_user, actor.channel)
                if not requester.has_any(spec.roles):
                    raise PermissionDenied(f"the requester {requester.username} no longer holds a role allowed to "
                                           f"call {spec.name}")
                released = ActionContext(action_id=action.id or 0, decided_by=actor.id or None,
                                         decision_reason=reason)
                out = await spec.run(ToolContext(session, requester, runtime, action=released), args)
                result = audit_json(out)
                action.status = ActionStatus.EXECUTED.value
                action.result = json.dumps(result, default=str)
                session.add(action)
                preview = json.loads(action.preview)
                await append_audit(session, actor, tool=action.tool, event=event, arguments=json.loads(action.arguments),
                                   entity="pending_actions", entity_id=action.id, action_id=action.id,
                                   before=preview.get("before"), after=result)
                return action_out(action)
    except Exception as exc:
        # Nothing of the tool's work was committed; record why the action failed so it is not left open.
        message = exc.message if isinstance(exc, DomainError) else (
            f"the action failed unexpectedly ({type(exc).__name__}); nothing was changed")
        async with runtime.db.write() as session:
            action = await actions_repo.get_action_or_raise(session, action_id, for_update=True)
            if action.status in (ActionStatus.PROPOSED, ActionStatus.QUEUED):
                action.status = ActionStatus.FAILED.value
                action.error = message[:2000]
                action.decided_by, action.decided_by_username, action.decided_at = actor.id, actor.username, utcnow()
                bump(action)
                session.add(action)
                await append_audit(session, actor, tool=action.tool, event="failed",
                                   arguments={"action_id": action_id}, entity="pending_actions",
                                   entity_id=action.id, action_id=action.id, after={"error": message})
        raise
    raise StaleAction(f"action {action_id} is stale: {closed.error}. Nothing was changed; call {closed.tool} "
                      "again for a new preview.", details={"action_id": action_id})


async def confirm(runtime: Runtime, actor: Actor, action_id: int) -> ActionOut:
    """Confirm an action as its requester: execute a confirm-level one, queue an approve-level one.

    Raises PermissionDenied when `actor` is not the requester, ActionClosed when the action is not
    proposed or has expired, StaleAction when a touched row changed since the preview.
    """
    await _expire_if_due(runtime, actor, action_id)
    async with runtime.db.write() as session:
        action = await actions_repo.get_action_or_raise(session, action_id, for_update=True)
        if action.requested_by != actor.id:
            raise PermissionDenied(f"only the requester ({action.requested_by_username}) can confirm action "
                                   f"{action_id}; admins decide queued actions with approve_action/reject_action")
        _ensure_open(action, (ActionStatus.PROPOSED,))
        if action.level == GateLevel.APPROVE.value:
            action.status = ActionStatus.QUEUED.value
            action.confirmed_at = utcnow()
            action.expires_at = utcnow() + timedelta(hours=runtime.settings.approval_ttl_hours)
            bump(action)
            session.add(action)
            await append_audit(session, actor, tool=action.tool, event="queued", arguments={"action_id": action_id},
                               entity="pending_actions", entity_id=action.id, action_id=action.id)
            return action_out(action)
    return await _execute(runtime, actor, action_id, event="executed", expected=ActionStatus.PROPOSED)


async def approve(runtime: Runtime, actor: Actor, action_id: int, reason: str | None) -> ActionOut:
    """Approve a queued action as an admin who is not its requester, executing it.

    Raises PermissionDenied for a non-admin or the requester, ActionClosed when it is not queued or has
    expired, StaleAction when a touched row changed since the preview.
    """
    await _expire_if_due(runtime, actor, action_id)
    async with runtime.db.read() as session:
        action = await actions_repo.get_action_or_raise(session, action_id)
        if not actor.is_admin:
            raise PermissionDenied("only an admin can approve actions")
        if action.requested_by == actor.id:
            raise PermissionDenied(f"you requested action {action_id}; four-eyes rule: another admin must approve it")
        _ensure_open(action, (ActionStatus.QUEUED,))
    return await _execute(runtime, actor, action_id, event="approved", expected=ActionStatus.QUEUED, reason=reason)


async def close(runtime: Runtime, actor: Actor, action_id: int, *, status: ActionStatus,
                reason: str | None) -> ActionOut:
    """Reject (admin, not the requester; queued or proposed) or cancel (requester or admin) an open action."""
    await _expire_if_due(runtime, actor, action_id)
    async with runtime.db.write() as session:
        action = await actions_repo.get_action_or_raise(session, action_id, for_update=True)
        _ensure_open(action, (ActionStatus.PROPOSED, ActionStatus.QUEUED))
        if status is ActionStatus.REJECTED:
            if not actor.is_admin:
                raise PermissionDenied("only an admin can reject actions; the requester can cancel_action instead")
            if action.requested_by == actor.id:
                raise PermissionDenied(f"you requested action {action_id}; use cancel_action to withdraw it")
        elif action.requested_by != actor.id and not actor.is_admin:
            raise PermissionDenied(f"only the requester ({action.requested_by_username}) or an admin can cancel "
                                   f"action {action_id}")
        action.status = status.value
        action.decided_by, action.decided_by_username, action.decided_at = actor.id, actor.username, utcnow()
        action.decision_reason = reason
        bump(action)
        session.add(action)
        await append_audit(session, actor, tool=action.tool, event=status.value,
                           arguments={"action_id": action_id, "reason": reason}, entity="pending_actions",
                           entity_id=action.id, action_id=action.id)
        return action_out(action)
