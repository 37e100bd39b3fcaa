"""Releasing gated calls in tests: confirm as the requester, then approve as an admin when the action is queued."""

from __future__ import annotations

from typing import Any

from domain.kernel.actor import Actor
from tools.invoke import invoke
from tools.runtime import Runtime


async def released(rt: Runtime, pending: Any, requester: Actor, approver: Actor | None = None) -> dict[str, Any]:
    """Confirm `pending` (a PendingActionOut) as `requester`; when it is queued (approve-level), approve it as
    `approver`. Asserts it executed and returns the tool's result (JSON)."""
    assert getattr(pending, "pending", False), f"{pending!r} was not held at the gate"
    decided = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, requester)
    if decided.status == "queued":
        assert approver is not None, f"{pending.tool} needs an admin's approval ({pending.summary})"
        decided = await invoke(rt, "approve_action", {"action_id": pending.action_id}, approver)
    assert decided.status == "executed", decided
    assert decided.result is not None
    return decided.result
