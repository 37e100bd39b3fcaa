"""Output schemas of the actions context: a destructive call held at the gate (PendingActionOut, what every
destructive tool returns), an action's full record (ActionOut, get_action and the decisions), and a pending
action in one line (ActionSummaryOut, list_pending_actions)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import Field

from domain.actions.models import PendingAction
from domain.kernel.schemas import OutputModel

SUMMARY_CHARS = 200
"""A listed action's summary is cut to this many characters (get_action has it whole, with the preview)."""


class ActionSummaryOut(OutputModel):
    """One pending action in a line: what, its status, who asked and when. get_action has its preview."""

    action_id: int
    tool: str
    status: str = Field(description="proposed | queued | executed | cancelled | rejected | expired | stale | failed")
    level: str = Field(description="confirm (the requester releases it) or approve (an admin other than the "
                                   "requester does).")
    summary: str = Field(description=f"One line, at most {SUMMARY_CHARS} characters.")
    requested_by: str
    channel: str
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None


def one_line(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Return `text` on one line (whitespace runs become one space), cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


def action_summary_out(action: PendingAction) -> ActionSummaryOut:
    """A pending action as one line of a list: no preview, arguments or result."""
    return ActionSummaryOut(action_id=action.id or 0, tool=action.tool, status=action.status, level=action.level,
                            summary=one_line(action.summary), requested_by=action.requested_by_username,
                            channel=action.channel, created_at=action.created_at, expires_at=action.expires_at,
                            decided_by=action.decided_by_username, decided_at=action.decided_at)


class PendingActionOut(OutputModel):
    """A destructive call held at the gate. Nothing has changed yet."""

    pending: bool = Field(default=True, description="Always true: the call is waiting, nothing was changed.")
    action_id: int
    tool: str
    status: str = Field(description="proposed | queued | executed | cancelled | rejected | expired | stale | failed")
    level: str = Field(description="confirm: the requester's confirm_action executes it; approve: confirm "
                                   "queues it for an admin other than the requester.")
    summary: str
    preview: dict[str, Any] = Field(description="What would change: before/after values and totals.")
    arguments: dict[str, Any]
    requested_by: str
    expires_at: datetime
    next_step: str


class ActionOut(OutputModel):
    """A pending action's full record, including its outcome once decided."""

    action_id: int
    tool: str
    status: str
    level: str
    summary: str
    preview: dict[str, Any]
    arguments: dict[str, Any]
    requested_by: str
    channel: str
    created_at: datetime
    expires_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    result: dict[str, Any] | None = Field(default=None, description="The tool's output once executed.")
    error: str | None = None
    next_step: str | None = None


def next_step(action: PendingAction) -> str | None:
    """Say what the caller can do next with this action."""
    if action.status == "proposed":
        if action.level == "approve":
            return (f"Show the preview to the user. If they agree, call confirm_action(action_id={action.id}) to "
                    "queue it for an admin's approval (an admin other than the requester must approve it); "
                    f"cancel_action(action_id={action.id}) drops it.")
        return (f"Show the preview to the user. If they agree, call confirm_action(action_id={action.id}) to "
                f"execute it; cancel_action(action_id={action.id}) drops it.")
    if action.status == "queued":
        return ("Waiting for an admin other than the requester: approve_action or reject_action "
                f"(action_id={action.id}).")
    if action.status == "stale":
        return "Rows changed after the preview; nothing was changed. Call the original tool again for a new preview."
    return None


def pending_out(action: PendingAction) -> PendingActionOut:
    return PendingActionOut(
        action_id=action.id or 0, tool=action.tool, status=action.status, level=action.level,
        summary=action.summary, preview=json.loads(action.preview), arguments=json.loads(action.arguments),
        requested_by=action.requested_by_username, expires_at=action.expires_at,
        next_step=next_step(action) or "")


def action_out(action: PendingAction) -> ActionOut:
    return ActionOut(
        action_id=action.id or 0, tool=action.tool, status=action.status, level=action.level,
        summary=action.summary, preview=json.loads(action.preview), arguments=json.loads(action.arguments),
        requested_by=action.requested_by_username, channel=action.channel, created_at=action.created_at,
        expires_at=action.expires_at, decided_by=action.decided_by_username, decided_at=action.decided_at,
        decision_reason=action.decision_reason,
        result=json.loads(action.result) if action.result else None, error=action.error,
        next_step=next_step(action))
