"""Output schemas of the actions context: a pending action in one line, as list_pending_actions returns it."""

from __future__ import annotations

from datetime import datetime

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
