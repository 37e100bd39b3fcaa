"""The MCP server: the registry's tools, prompts and resources on the official SDK's `MCPServer`.

Tools are served from the registry through `tools.invoke` (one call path), not through the SDK's
function-signature tools: tools/list and tools/call are registered on the low-level server so the input and
output schemas, annotations and errors are exactly the registry's. The actor of a call comes from
`resolve_actor`: the configured user over stdio, the API key's user over HTTP.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import mcp_types as types
from mcp.server import MCPServer, ServerRequestContext
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from domain.kernel.actor import Actor
from domain.kernel.errors import DomainError, Unauthenticated, concurrent_write
from prompts import render
from tools.invoke import invoke
from tools.registry import ProgressReporter, ToolSpec
from tools.runtime import Runtime

log = logging.getLogger("mcs_erp.mcp")

ActorResolver = Callable[[ServerRequestContext], Awaitable[Actor]]

INSTRUCTIONS = render("guide")


def mcp_tool(spec: ToolSpec) -> types.Tool:
    """The MCP declaration of a registry tool."""
    return types.Tool(name=spec.name, title=spec.title, description=spec.full_description(),
                      input_schema=spec.input_schema, output_schema=spec.output_schema,
                      annotations=types.ToolAnnotations(title=spec.title, read_only_hint=spec.annotations()["readOnlyHint"], destructive_hint=spec.annotations()["destructiveHint"], idempotent_hint=spec.annotations()["idempotentHint"], open_world_hint=False))


def error_result(exc: DomainError) -> types.CallToolResult:
    """An MCP error result (isError) whose text a model can act on: code, field, message."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=exc.as_text())], is_error=True)


async def call_tool(runtime: Runtime, actor: Actor, name: str, arguments: dict[str, Any] | None, *,
                    progress: ProgressReporter | None = None) -> types.CallToolResult:
    """Invoke a tool and shape the outcome as an MCP result: structuredContent plus the same JSON as text."""
    try:
        out = await invoke(runtime, name, arguments, actor, progress=progress)
    except DomainError as exc:
        return error_result(exc)
    except IntegrityError:
        return error_result(concurrent_write())
    except Exception:  # a bug must not take the server down, nor leak internals to the client
        ref = uuid.uuid4().hex[:12]
        log.exception("tool %s failed unexpectedly (ref %s)", name, ref)
        return types.CallToolResult(content=[types.TextContent(
            type="text", text=f"error: internal\nThe server failed unexpectedly (reference {ref}); nothing was "
                              "changed. Report the reference to the administrator.")], is_error=True)
    text = out.model_dump_json()  # compact JSON, serialized once in pydantic-core; the text block mirrors it
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                structured_content=json.loads(text))


def build_mcp_server(runtime: Runtime, resolve_actor: ActorResolver) -> MCPServer:
    """Build the MCP server for `runtime`; every request's actor comes from `resolve_actor`."""
    server = MCPServer("mcs-erp", title="mcs-erp school ERP", instructions=INSTRUCTIONS, version="0.1.0",
                       description="HR, academics and grades of a school as typed tools, with a confirmation gate.")
    lowlevel = server._lowlevel_server  # the SDK exposes no public hook to serve tools from our own registry
    declarations = {spec.name: mcp_tool(spec) for spec in runtime.catalogue.tools.values()}

    async def list_tools(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        actor = await resolve_actor(ctx)
        return types.ListToolsResult(tools=[declarations[s.name] for s in runtime.catalogue.for_actor(actor)])

    async def handle_call(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        try:
            actor = await resolve_actor(ctx)
        except Unauthenticated as exc:
            return error_result(exc)
        # A job-starting tool asked to wait (wait_s) reports the job's progress as notifications/progress when the
        # client sent a progress token; without one, the SDK's report_progress does nothing.
        wants_progress = bool(ctx.meta and ctx.meta.get("progress_token") is not None)
        return await call_tool(runtime, actor, params.name, params.arguments,
                               progress=ctx.session.report_progress if wants_progress else None)

    def input_schema(name: str) -> dict[str, Any] | None:
        # The SDK asks for the schema to check `Mcp-Param-*` headers against `x-mcp-header` annotations. No
        # tool of ours declares one, so there is nothing to check: answering None skips a schema walk per call
        # (and without this hook the SDK would run a whole tools/list to find the schema).
        return None

    lowlevel.add_request_handler("tools/list", types.PaginatedRequestParams, list_tools)
    lowlevel.add_request_handler("tools/call", types.CallToolRequestParams, handle_call)
    lowlevel.get_tool_input_schema = input_schema

    @server.prompt(name="review_class_grades", title="Review a class's grades before publication",
                   description="Check a class's term grades for missing or suspicious scores before they are "
                               "published; changes nothing.")
    def review_class_grades(
        class_code: Annotated[str, Field(description="The class code, e.g. 7B-MATH.", max_length=40)],
        term: Annotated[str, Field(description="The term's name or number, e.g. Term 1.", max_length=60)],
    ) -> str:
        return render("review_class_grades", class_code=class_code, term=term)

    @server.prompt(name="missing_grades", title="Who has no grade yet",
                   description="List, class by class, the students of a section who still lack a score this term.")
    def missing_grades(
        section_code: Annotated[str, Field(description="The section code, e.g. 7B.", max_length=40)],
    ) -> str:
        return render("missing_grades", section_code=section_code)

    @server.prompt(name="timetable_question", title="Answer a parent's question about a timetable",
                   description="Find a student's section and its published timetable, and answer a parent's "
                               "question about it (days, times, subjects, rooms); changes nothing.")
    def timetable_question(
        student: Annotated[str, Field(description="The student's name or code, e.g. Amira Haddad or "
                                                  "S2026-0117.", max_length=120)],
        question: Annotated[str, Field(description="The parent's question, e.g. When does maths start on "
                                                   "Tuesday?", max_length=1000)],
    ) -> str:
        return render("timetable_question", student=student, question=question)

    if "get_payroll_run" in runtime.catalogue.tools:  # offered once the payroll module is enabled
        @server.prompt(name="payroll_review", title="Monthly payroll review",
                       description="Compare a month's payroll run with the previous one and flag what looks wrong "
                                   "before it is approved; approves and posts nothing.")
        def payroll_review(
            period: Annotated[str, Field(description="The pay period, e.g. 2026-11.", max_length=20)],
            threshold_percent: Annotated[str, Field(description="Flag net pay changes above this percentage "
                                                                "(default 10).", max_length=5)] = "10",
        ) -> str:
            return render("payroll_review", period=period, threshold_percent=threshold_percent)

    if "get_receivables_aging" in runtime.catalogue.tools:  # offered once the fees module is enabled
        @server.prompt(name="receivables_review", title="Who owes the school what",
                       description="Age the fees owed on a day, list the families to remind and what was "
                                   "collected since a date; changes nothing.")
        def receivables_review(
            as_of: Annotated[str, Field(description="The day to age on, e.g. 2026-12-04.", max_length=10)],
            since: Annotated[str, Field(description="Collections from this day, e.g. the term's first day "
                                                    "2026-09-01.", max_length=10)],
            days: Annotated[str, Field(description="Remind families this many days overdue or more "
                                                   "(default 30).", max_length=4)] = "30",
        ) -> str:
            return render("receivables_review", school=runtime.settings.school_name, as_of=as_of, since=since,
                          days=days)

    @server.resource("mcs-erp://guide", name="guide", title="How to use mcs-erp's tools", mime_type="text/markdown",
                     description="How ids, pagination, scores and the confirmation gate work; read before acting.")
    def guide() -> str:
        return INSTRUCTIONS

    @server.resource("mcs-erp://catalogue", name="catalogue", title="Tool catalogue", mime_type="text/markdown",
                     description="Every enabled tool with its effect, gate level and roles, as Markdown.")
    def catalogue() -> str:
        return catalogue_markdown(runtime)

    return server


def catalogue_markdown(runtime: Runtime) -> str:
    """The tool catalogue as a Markdown table (used by `mcs-erp tools --markdown`, the README and a resource)."""
    lines = ["| tool | module | effect | gate | roles | what it does |", "|---|---|---|---|---|---|"]
    for spec in runtime.catalogue.tools.values():
        first = spec.description.strip().split("\n\n")[0].replace("\n", " ")
        lines.append(f"| `{spec.name}` | {spec.module} | {spec.effect.value} | {spec.gate.value if spec.gate else ''} "
                     f"| {', '.join(sorted(r.value for r in spec.roles))} | {first} |")
    return "\n".join(lines) + "\n"
