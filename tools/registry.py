"""The tool registry: each capability declared once, published to MCP and to LLM tool schemas.

A bounded context declares a `Module` (its name, the contexts it depends on) and registers its tools on it
with `@module.tool(...)`. `build_catalogue` orders modules with `graphlib` (dependencies first), refuses a
cycle or a dependency on a disabled module with a clear error, and returns the `Catalogue` of enabled tools.
From a `ToolSpec` come the MCP tool (inputSchema, outputSchema, annotations), the Anthropic tool and the
OpenAI function.
"""

from __future__ import annotations

import graphlib
import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, get_type_hints

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.actions.models import GateLevel
from domain.jobs.schemas import JobOut
from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Applied, Plan
from tools.schema import compact


class Effect(StrEnum):
    """What a tool does to the school's data; decides the unit of work and the gate."""

    READ = "read"
    WRITE = "write"
    DESTRUCTIVE = "destructive"


ProgressReporter = Callable[[float, "float | None", "str | None"], Awaitable[None]]
"""`await report(progress, total, message)`: tells the caller how far a long call got (MCP notifications/progress)."""


@dataclass(frozen=True)
class ActionContext:
    """The pending action a destructive tool runs for, once released: its id, who released it and why."""

    action_id: int
    decided_by: int | None
    decision_reason: str | None


@dataclass
class ToolContext:
    """What a tool function receives besides its input: the unit of work's session, the actor (the requester,
    for a released pending action), the runtime; when the channel can show it (an MCP request with a progress
    token), a progress reporter; for a destructive tool run by the gate, the action it runs for; and, where the
    channel keeps one (MCP, an agent run), the listing of toolsets the discovery tools read and widen."""

    session: AsyncSession
    actor: Actor
    runtime: Any = None
    progress: ProgressReporter | None = None
    action: ActionContext | None = None
    applied: Applied | None = None
    plan: Plan | None = None
    listing: Any = None  # tools.toolsets.Listing: the toolsets the caller's connection lists (discovery tools)


ToolFn = Callable[[ToolContext, Any], Awaitable[BaseModel]]
PlanFn = Callable[[AsyncSession, Actor, Any], Awaitable[Plan]]
"""`await plan_<command>(session, actor, args) -> Plan`: a gated command's domain plan function."""


@dataclass(frozen=True)
class ToolSpec:
    """One tool: name, model-facing description, typed input and output, effect, roles and gate."""

    name: str
    title: str
    description: str
    module: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    effect: Effect
    roles: frozenset[Role]
    run: ToolFn
    plan: PlanFn | None = None
    gate: GateLevel | None = None
    idempotent: bool = False
    destructive_hint: bool | None = None
    offered_to_agents: bool = True
    starts_job: bool = False
    audited_by_domain: bool = False
    toolset: str = ""
    """The toolset it is listed in (tools/toolsets.py), set by `Module.tool`."""

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        """The input's JSON Schema as published (tools.schema.compact: no titles, no empty defaults)."""
        return compact(_input_schema(self.input_model))

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        """The output's JSON Schema as published (tools.schema.compact: the answer's shape); a destructive tool's
        is the pending action, the same for all of them."""
        from domain.actions.schemas import PendingActionOut

        model = PendingActionOut if self.effect is Effect.DESTRUCTIVE else self.output_model
        return compact(_object_schema(model.model_json_schema(mode="serialization")), output=True)

    def annotations(self) -> dict[str, Any]:
        """MCP annotations derived from the effect (readOnlyHint, destructiveHint, idempotentHint)."""
        read_only = self.effect is Effect.READ
        destructive = self.destructive_hint if self.destructive_hint is not None else (
            self.effect is Effect.DESTRUCTIVE)
        return {
            "title": self.title,
            "readOnlyHint": read_only,
            "destructiveHint": False if read_only else destructive,
            "idempotentHint": True if read_only else self.idempotent,
            "openWorldHint": False,
        }

    def full_description(self) -> str:
        """The description as published: the tool's own text, then, for a destructive tool, its gate. The roles
        are not repeated there: a caller is only shown the tools its roles allow (`mcs-erp tools` and the
        catalogue resource list them)."""
        if self.effect is not Effect.DESTRUCTIVE:
            return self.description.strip()
        then = ("confirm_action queues it for another admin to approve" if self.gate is GateLevel.APPROVE
                else "confirm_action runs it")
        return f"{self.description.strip()}\n\nGated: the call only previews it; {then}."

    def anthropic_tool(self) -> dict[str, Any]:
        """The tool as the Anthropic Messages API expects it."""
        return {"name": self.name, "description": self.full_description(), "input_schema": self.input_schema}

    def openai_tool(self) -> dict[str, Any]:
        """The tool as an OpenAI Chat Completions function."""
        return {"type": "function", "function": {"name": self.name, "description": self.full_description(),
                                                 "parameters": self.input_schema}}


def _object_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema = dict(schema)
    schema.setdefault("type", "object")
    return schema


def _input_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = _object_schema(model.model_json_schema(mode="validation"))
    schema.setdefault("properties", {})
    return schema


def _unbounded_strings(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> list[str]:
    found: list[str] = []
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        return _unbounded_strings(defs.get(ref, {}), defs, path)
    if schema.get("type") == "string" and "maxLength" not in schema and "enum" not in schema \
            and "format" not in schema and "const" not in schema:
        found.append(path or "<root>")
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += _unbounded_strings(sub, defs, path)
    for name, sub in schema.get("properties", {}).items():
        found += _unbounded_strings(sub, defs, f"{path}.{name}" if path else name)
    if "items" in schema and isinstance(schema["items"], dict):
        found += _unbounded_strings(schema["items"], defs, f"{path}[]")
    return found


class Module:
    """A bounded context as the registry sees it: a name, the contexts it needs, its tools.

    A product module's tools take their toolset from tools/toolsets.py; a module outside the product (a test's)
    names the one `toolset` of all its tools instead.
    """

    def __init__(self, name: str, *, depends_on: Iterable[str] = (), core: bool = False, description: str = "",
                 toolset: str | None = None):
        self.name = name
        self.depends_on = tuple(depends_on)
        self.core = core
        self.description = description
        self.toolset = toolset
        self.tools: list[ToolSpec] = []

    def toolset_of(self, tool: str) -> str:
        """The one toolset of `tool`; raises TypeError when it has none or more than one (declared in
        tools/toolsets.py and by this module, or twice in tools/toolsets.py)."""
        from tools.toolsets import toolsets_of

        declared = toolsets_of(tool) + ([self.toolset] if self.toolset else [])
        if len(declared) != 1:
            found = f"is in {len(declared)} ({', '.join(declared)})" if declared else "is in none"
            raise TypeError(f"tool {tool} must belong to exactly one toolset but {found}: list it once in "
                            "tools/toolsets.py")
        return declared[0]

    def tool(
        self,
        *,
        effect: Effect,
        roles: Iterable[Role],
        name: str | None = None,
        title: str | None = None,
        gate: GateLevel | None = None,
        plan: PlanFn | None = None,
        idempotent: bool = False,
        destructive_hint: bool | None = None,
        offered_to_agents: bool = True,
        starts_job: bool = False,
        audited_by_domain: bool = False,
    ) -> Callable[[ToolFn], ToolFn]:
        """Register `async def fn(ctx, args: InputModel) -> OutputModel` as a tool; its docstring describes it.

        `starts_job`: a write tool that records a job (domain.jobs.service.start_job, enqueued after the commit)
        and returns it as a JobOut; its audit row names the job, and when its input's `wait_s` is above 0,
        tools.invoke waits for the job after the commit. `audited_by_domain`: the tool's domain service appends
        the audit rows of everything it does (the gate's decisions), so tools.invoke appends none.
        """

        def decorate(fn: ToolFn) -> ToolFn:
            hints = get_type_hints(fn)
            params = list(inspect.signature(fn).parameters)
            if len(params) != 2:
                raise TypeError(f"tool {fn.__name__} must take (ctx, args)")
            input_model = hints[params[1]]
            output_model = hints["return"]
            tool_name = name or fn.__name__
            if effect is Effect.DESTRUCTIVE and (gate is None or plan is None):
                raise TypeError(f"destructive tool {tool_name} needs a gate level (gate=GateLevel.CONFIRM or "
                                "APPROVE) and a plan function (plan=, a domain plan_<command>(session, actor, "
                                "args) -> Plan)")
            if effect is not Effect.DESTRUCTIVE and (gate is not None or plan is not None):
                raise TypeError(f"only destructive tools take a gate: {tool_name}")
            if (starts_job or audited_by_domain) and effect is not Effect.WRITE:
                raise TypeError(f"starts_job and audited_by_domain are for write tools: {tool_name}")
            if starts_job and (output_model is not JobOut or "wait_s" not in input_model.model_fields):
                raise TypeError(f"job-starting tool {tool_name} must return JobOut and take wait_s")
            toolset = self.toolset_of(tool_name)
            description = inspect.cleandoc(fn.__doc__ or "")
            if not description:
                raise TypeError(f"tool {tool_name} needs a docstring written for a model")
            schema = _input_schema(input_model)
            unbounded = _unbounded_strings(schema, schema.get("$defs", {}))
            if unbounded:
                raise TypeError(f"tool {tool_name}: string fields without a maximum length: {unbounded}")
            spec = ToolSpec(
                name=tool_name,
                title=title or tool_name.replace("_", " ").capitalize(),
                description=description,
                module=self.name,
                input_model=input_model,
                output_model=output_model,
                effect=effect,
                roles=frozenset(roles),
                run=fn,
                plan=plan,
                gate=gate,
                idempotent=idempotent,
                destructive_hint=destructive_hint,
                offered_to_agents=offered_to_agents,
                starts_job=starts_job,
                audited_by_domain=audited_by_domain,
                toolset=toolset,
            )
            self.tools.append(spec)
            return fn

        return decorate


class ModuleConfigError(ValueError):
    """The modules cannot be ordered or enabled as configured."""


@dataclass(frozen=True)
class Catalogue:
    """The enabled tools in module dependency order, looked up by name."""

    modules: tuple[str, ...]
    tools: dict[str, ToolSpec]

    def get(self, name: str) -> ToolSpec | None:
        return self.tools.get(name)

    def for_actor(self, actor: Actor) -> list[ToolSpec]:
        """The tools `actor`'s roles may call, in catalogue order."""
        return [spec for spec in self.tools.values() if actor.has_any(spec.roles)]


def build_catalogue(modules: Iterable[Module], *, disabled: Iterable[str] = ()) -> Catalogue:
    """Order `modules` by dependency and return the catalogue of the enabled ones.

    Raises ModuleConfigError for an unknown dependency, a cycle (naming it), a disabled core module, a
    module that depends on a disabled one, or a tool name declared twice.
    """
    by_name: dict[str, Module] = {}
    for module in modules:
        if module.name in by_name:
            raise ModuleConfigError(f"module {module.name!r} is declared twice")
        by_name[module.name] = module
    off = set(disabled)
    unknown_off = off - set(by_name)
    if unknown_off:
        raise ModuleConfigError(f"cannot disable unknown module(s) {sorted(unknown_off)}; "
                                f"modules are {sorted(by_name)}")
    for module in by_name.values():
        for dep in module.depends_on:
            if dep not in by_name:
                raise ModuleConfigError(f"module {module.name!r} depends on {dep!r}, which does not exist")
        if module.name in off and module.core:
            raise ModuleConfigError(f"module {module.name!r} is part of the platform core and cannot be disabled")
    sorter = graphlib.TopologicalSorter({m.name: set(m.depends_on) for m in by_name.values()})
    try:
        order = tuple(sorter.static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise ModuleConfigError(f"module dependencies form a cycle: {cycle}; a context may only depend on "
                                "contexts that do not depend back on it") from None
    enabled: list[str] = []
    for name in order:
        if name in off:
            continue
        missing = [dep for dep in by_name[name].depends_on if dep in off]
        if missing:
            raise ModuleConfigError(f"module {name!r} depends on disabled module(s) {missing}; "
                                    f"disable {name!r} too or enable them")
        enabled.append(name)
    tools: dict[str, ToolSpec] = {}
    for name in enabled:
        for spec in by_name[name].tools:
            if spec.name in tools:
                raise ModuleConfigError(f"tool {spec.name!r} is declared by both {tools[spec.name].module!r} "
                                        f"and {name!r}")
            tools[spec.name] = spec
    return Catalogue(modules=tuple(enabled), tools=tools)
