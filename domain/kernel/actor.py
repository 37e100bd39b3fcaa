"""Who is calling: every tool call runs on behalf of an `Actor` built by the server's authentication."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """The roles of DESIGN.md's security section; a tool lists the roles allowed to call it."""

    ADMIN = "admin"
    HR = "hr"
    PAYROLL = "payroll"
    FINANCE = "finance"
    REGISTRAR = "registrar"
    TEACHER = "teacher"
    VIEWER = "viewer"
    GUARDIAN = "guardian"
    """A parent or guardian: reads their own children's records and their family's account, nothing else
    (domain/family). Never a member of staff."""


STAFF_ROLES = frozenset(Role) - {Role.GUARDIAN}
"""Every role of the school's staff: the tools "for everyone" at the school are for them, not for guardians, who
reach only the family toolset (and who they are)."""


class Channel(StrEnum):
    """The edge a call came through; recorded on every audit row."""

    MCP_STDIO = "mcp-stdio"
    MCP_HTTP = "mcp-http"
    AGENT = "agent"
    CLI = "cli"
    ADMIN_PAGE = "admin-page"
    PARENT_PAGE = "parent-page"
    SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """A caller: the user's id and username, their roles, the employee they are (teachers), the channel, and the
    tenant (school) it acts in (None: the default tenant; domain/kernel/tenants.py)."""

    id: int
    username: str
    roles: frozenset[Role]
    channel: Channel
    employee_id: int | None = None
    display_name: str = ""
    tenant: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def has_any(self, roles: frozenset[Role] | set[Role]) -> bool:
        """Return True when the actor holds at least one of `roles`."""
        return bool(self.roles & roles)

    @property
    def is_admin(self) -> bool:
        return Role.ADMIN in self.roles


SYSTEM_ACTOR = Actor(id=0, username="system", roles=frozenset({Role.ADMIN}), channel=Channel.SYSTEM,
                     display_name="mcs-erp system")
