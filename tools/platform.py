"""Platform tools: who am I, and a trivial ping used to measure the server's own overhead."""

from __future__ import annotations

from domain.identity.schemas import MeOut, PingOut, ToolAccess
from domain.kernel.actor import Role
from domain.kernel.clock import utcnow
from tools.registry import Effect, Module, ToolContext
from tools.types import ToolInput

module = Module("platform", core=True, description="Identity and health of the server.")


class NoInput(ToolInput):
    pass


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def get_me(ctx: ToolContext, args: NoInput) -> MeOut:
    """Say who the caller is (user, roles, channel) and which tools they may call, with each tool's effect.

    Call this first when unsure what you are allowed to do.
    """
    actor = ctx.actor
    tools = [ToolAccess(name=s.name, effect=s.effect.value, gate=s.gate.value if s.gate else None)
             for s in ctx.runtime.catalogue.for_actor(actor)]
    return MeOut(user_id=actor.id, username=actor.username, display_name=actor.display_name or actor.username,
                 roles=sorted(r.value for r in actor.roles), channel=str(actor.channel),
                 employee_id=actor.employee_id, tools=tools)


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def ping(ctx: ToolContext, args: NoInput) -> PingOut:
    """Check that the server answers; returns ok and the server's UTC time. Touches no school data."""
    return PingOut(ok=True, server_time=utcnow())
