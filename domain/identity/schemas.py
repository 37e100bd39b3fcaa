"""Output schemas of the identity context: who the caller is and what they may call; the ping answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from domain.kernel.schemas import OutputModel


class ToolsetAccess(OutputModel):
    """What the caller may do in one toolset, in a line: how many of its tools of each effect."""

    toolset: str
    listed: bool = Field(description="In this connection's tool list now (else enable_toolsets adds it; its tools "
                                     "also work when called by name).")
    reads: int = Field(description="Tools that only read.")
    writes: int = Field(description="Tools that change data at once (audited).")
    gated: list[str] = Field(description="Destructive tools: each returns a pending action with a preview, and "
                                         "changes nothing until confirm_action (and, for some, an admin's "
                                         "approval).")


class MeOut(OutputModel):
    """Who the caller is and, in a few lines, what it may do; list_toolsets describes the toolsets, tools/list
    each tool."""

    user_id: int
    username: str
    display_name: str
    roles: list[str]
    channel: str
    employee_id: int | None = Field(default=None,
                                    description="Set for staff users; teachers grade their classes.")
    employee_code: str | None = None
    tools_total: int = Field(description="Tools these roles may call.")
    approves_actions: bool = Field(description="May approve or reject actions other users queued (admins).")
    toolsets: list[ToolsetAccess] = Field(description="Per toolset, the tools these roles may call.")


class PingOut(OutputModel):
    ok: bool
    server_time: datetime = Field(description="UTC.")
