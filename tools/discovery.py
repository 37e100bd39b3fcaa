"""The discovery tools: list the toolsets, and add toolsets to this connection's tools (tools/toolsets.py)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from domain.kernel.actor import Role
from domain.kernel.errors import PermissionDenied
from domain.kernel.schemas import OutputModel
from tools.registry import Effect, Module, ToolContext
from tools.toolsets import ALL, TOOLSETS, Listing, callable_count, default_toolsets, parse_toolsets
from tools.types import ToolInput

module = Module("discovery", core=True, description="Toolsets: which exist, and adding one to this connection.")

BY_NAME_NOTE = ("A tool your roles allow works when called by name even outside your listing; enabling its toolset "
                "only lists it.")


class NoInput(ToolInput):
    pass


class ToolsetOut(OutputModel):
    name: str
    description: str
    tools: int = Field(description="Tools of it your roles may call.")
    listed: bool = Field(description="Its tools are in your tools/list now.")
    default: bool = Field(description="Listed by default for your roles.")


class ToolsetsOut(OutputModel):
    items: list[ToolsetOut]
    note: str


ToolsetName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class EnableToolsetsIn(ToolInput):
    toolsets: list[ToolsetName] = Field(min_length=1, max_length=30,
                                        description='Toolset names from list_toolsets, or ["all"].')


class EnableToolsetsOut(OutputModel):
    enabled: list[str] = Field(description="Toolsets newly added to your listing.")
    listed: list[str] = Field(description="Every toolset your listing holds now.")
    tools_added: list[str] = Field(description="Tools now listed that were not.")
    session: bool = Field(description="False: this connection keeps no session, so nothing was kept; reconnect.")
    reconnect: str | None = Field(default=None, description="Where to reconnect with these toolsets listed.")
    note: str


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def list_toolsets(ctx: ToolContext, args: NoInput) -> ToolsetsOut:
    """List the toolsets: how many of each one's tools your roles may call, and whether it is listed now (your roles'
    daily toolsets are; enable_toolsets adds others). A tool your roles allow also works when called by name without
    enabling."""
    listing: Listing = ctx.listing or Listing()
    listed = listing.listed(ctx.actor)
    defaults = default_toolsets(ctx.actor.roles)
    counts = callable_count(ctx.runtime.catalogue, ctx.actor)
    return ToolsetsOut(items=[ToolsetOut(name=t.name, description=t.description, tools=counts[t.name],
                                         listed=t.name in listed, default=t.name in defaults) for t in TOOLSETS],
                       note=BY_NAME_NOTE)


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def enable_toolsets(ctx: ToolContext, args: EnableToolsetsIn) -> EnableToolsetsOut:
    """Add toolsets to your tool list for this session; the client is told the list changed or, on a connection without
    a session, given the URL to reconnect with. Refused: an unknown name, or a toolset none of whose tools your roles
    may call."""
    names = parse_toolsets(args.toolsets, source="toolsets")
    catalogue, actor = ctx.runtime.catalogue, ctx.actor
    counts = callable_count(catalogue, actor)
    explicit = {name.strip().lower() for name in args.toolsets} - {ALL}
    refused = sorted(name for name in explicit if counts.get(name, 0) == 0)
    if refused:
        open_ones = ", ".join(t.name for t in TOOLSETS if counts[t.name])
        roles = ", ".join(sorted(r.value for r in actor.roles)) or "none"
        raise PermissionDenied(f"your roles ({roles}) may call no tool of {', '.join(refused)}; the toolsets "
                               f"you can use are: {open_ones}", field="toolsets")
    names = frozenset(name for name in names if counts[name])
    listing: Listing = ctx.listing or Listing(session=False)
    before = {spec.name for spec in catalogue.for_actor(actor) if spec.toolset in listing.listed(actor)}
    added = listing.enable(actor, names)
    listed = listing.listed(actor) | (frozenset(added) if not listing.session else frozenset())
    now = [spec.name for spec in catalogue.for_actor(actor) if spec.toolset in listed]
    tools_added = [name for name in now if name not in before]
    if listing.session:
        note = (f"Listed now: {', '.join(tools_added)}." if tools_added else "Those toolsets were listed already.")
        return EnableToolsetsOut(enabled=added, listed=sorted(listed), tools_added=tools_added, session=True,
                                 note=note + " " + BY_NAME_NOTE)
    reconnect = listing.reconnect(sorted((listed - default_toolsets(actor.roles)))) if listing.reconnect else None
    how = f"reconnect to {reconnect}" if reconnect else "set MCS_ERP_TOOLSETS (stdio) or ?toolsets= on the /mcp URL"
    return EnableToolsetsOut(enabled=added, listed=sorted(listed), tools_added=tools_added, session=False,
                             reconnect=reconnect,
                             note=f"This connection has no session, so the list cannot change here: {how} to "
                                  f"list them. {BY_NAME_NOTE}")
