"""Platform tools: who am I, and a trivial ping used to measure the server's own overhead."""

from __future__ import annotations

from domain.identity.schemas import AreaAccess, MeOut, PingOut
from domain.kernel.actor import Role
from domain.kernel.clock import utcnow
from tools.modules import all_modules
from tools.registry import Effect, Module, ToolContext
from tools.types import ToolInput

module = Module("platform", core=True, description="Identity and health of the server.")


class NoInput(ToolInput):
    pass


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def get_me(ctx: ToolContext, args: NoInput) -> MeOut:
    """Say who the caller is (user, roles, channel, employee) and, per area of the product, how many tools they
    may call that read or write, and which destructive (gated) tools. tools/list describes each tool.

    Call this first when unsure what you are allowed to do.
    """
    actor = ctx.actor
    allowed = ctx.runtime.catalogue.for_actor(actor)
    about = {m.name: m.description for m in all_modules()}
    areas: dict[str, AreaAccess] = {}
    for spec in allowed:
        area = areas.setdefault(spec.module, AreaAccess(area=spec.module, about=about.get(spec.module, ""),
                                                        reads=0, writes=0, gated=[]))
        if spec.effect is Effect.READ:
            area.reads += 1
        elif spec.effect is Effect.WRITE:
            area.writes += 1
        else:
            area.gated.append(spec.name)
    approver = ctx.runtime.catalogue.get("approve_action")
    return MeOut(user_id=actor.id, username=actor.username, display_name=actor.display_name or actor.username,
                 roles=sorted(r.value for r in actor.roles), channel=str(actor.channel),
                 employee_id=actor.employee_id, tools_total=len(allowed),
                 approves_actions=approver is not None and actor.has_any(approver.roles),
                 areas=list(areas.values()))


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def ping(ctx: ToolContext, args: NoInput) -> PingOut:
    """Check that the server answers; returns ok and the server's UTC time. Touches no school data."""
    return PingOut(ok=True, server_time=utcnow())
