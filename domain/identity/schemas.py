"""Output schemas of the identity context: who the caller is and what they may call; the ping answer."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from domain.kernel.schemas import OutputModel


class ToolAccess(OutputModel):
    name: str
    effect: str
    gate: str | None = None


class MeOut(OutputModel):
    user_id: int
    username: str
    display_name: str
    roles: list[str]
    channel: str
    employee_id: int | None = Field(default=None,
                                    description="Set for staff users; teachers grade their classes.")
    tools: list[ToolAccess] = Field(
        description="Every tool these roles may call, with its effect and gate level.")


class PingOut(OutputModel):
    ok: bool
    server_time: datetime = Field(description="UTC.")
