"""The MCP server: the registry's tools, prompts and resources on the official SDK's `MCPServer`.

Tools are served from the registry through `tools.invoke` (one call path), not through the SDK's
function-signature tools: tools/list and tools/call are registered on the low-level server so the input and
output schemas, annotations and errors are exactly the registry's. The actor of a call comes from
`resolve_actor`: the configured user over stdio, the API key's user over HTTP.

tools/list shows the caller's listing (tools/toolsets.py): the tools its roles allow, of its roles' default
toolsets and those widened by MCS_ERP_TOOLSETS, the URL's `?toolsets=` and enable_toolsets (`Listings` keeps each
connection's). tools/call runs any tool the roles allow, listed or not.

Prompts are declared once in `prompts.MCP_PROMPTS` and served the same way: prompts/get answers a wrong call
(an unknown prompt or argument, a required argument missing, a value too long) with the protocol's
invalid-params error (-32602) naming what was wrong, never an internal error. completion/complete offers the
values of a prompt argument that start with what the user typed (class and section codes, terms, students,
pay periods), read through the list tools as the caller, so nobody is offered what their roles may not list.
"""

from __future__ import annotations

import importlib.util
import logging
import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import mcp_types as types
from mcp.server import MCPServer, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from domain.kernel.actor import Actor
from domain.kernel.errors import DomainError, PermissionDenied, Unauthenticated, concurrent_write
from prompts import MCP_PROMPTS, PromptSpec, Suggestion, render
from tools.invoke import invoke
from tools.registry import ProgressReporter, ToolSpec
from tools.runtime import Runtime
from server.auth import token_toolsets
from tools.toolsets import ALL, DISCOVERY, Listing, listed_tools, parse_toolsets

log = logging.getLogger("mcs_erp.mcp")

ActorResolver = Callable[[ServerRequestContext], Awaitable[Actor]]

INSTRUCTIONS = render("guide")

MAX_COMPLETION_VALUES = 100  # the most values one completion/complete result may carry (MCP spec, utilities/completion)
COMPLETION_SCAN_ROWS = 1000  # list-tool rows read at most to answer one completion request (10 pages of 100)
NO_COMPLETION = types.Completion(values=[], total=0, has_more=False)


def mcp_tool(spec: ToolSpec) -> types.Tool:
    """The MCP declaration of a registry tool, saying only what a client cannot already know.

    - No `title`: every tool's title is its name in words ("list_classes" -> "List classes"), which a client
      shows from the name; a tool declared with a title of its own publishes it.
    - Annotations: destructiveHint and openWorldHint always (a client deciding whether to ask before a call
      should not depend on knowing the spec's defaults, true for both); readOnlyHint and idempotentHint only when
      true (their default, false, is the cautious reading). A read-only tool carries no destructive or
      idempotent hint, which the spec makes meaningful only when readOnlyHint is false.
    """
    hints = spec.annotations()
    read_only = hints["readOnlyHint"]
    annotations = types.ToolAnnotations(
        read_only_hint=True if read_only else None, open_world_hint=False,
        destructive_hint=None if read_only else hints["destructiveHint"],
        idempotent_hint=True if not read_only and hints["idempotentHint"] else None)
    derived = spec.name.replace("_", " ").capitalize()
    return types.Tool(name=spec.name, title=None if spec.title == derived else spec.title,
                      description=spec.full_description(), input_schema=spec.input_schema,
                      output_schema=spec.output_schema, annotations=annotations)


def error_result(exc: DomainError) -> types.CallToolResult:
    """An MCP error result (isError) whose text a model can act on: code, field, message."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=exc.as_text())], is_error=True)


async def _outcome(runtime: Runtime, actor: Actor, name: str, arguments: dict[str, Any] | None, *,
                   progress: ProgressReporter | None, listing: Listing | None) -> BaseModel | types.CallToolResult:
    """The tool's output, or the MCP error result (isError) its failure is answered with."""
    try:
        return await invoke(runtime, name, arguments, actor, progress=progress, listing=listing)
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


async def call_tool(runtime: Runtime, actor: Actor, name: str, arguments: dict[str, Any] | None, *,
                    progress: ProgressReporter | None = None, listing: Listing | None = None) -> types.CallToolResult:
    """Invoke a tool and shape the outcome as an MCP result: structuredContent plus the same JSON as text."""
    out = await _outcome(runtime, actor, name, arguments, progress=progress, listing=listing)
    if isinstance(out, types.CallToolResult):
        return out
    # Both made by pydantic-core from the model: the compact JSON text and its structured twin (parsing the text
    # back with json.loads cost about twice as much).
    return types.CallToolResult(content=[types.TextContent(type="text", text=out.model_dump_json())],
                                structured_content=out.model_dump(mode="json"))


async def call_tool_wire(runtime: Runtime, actor: Actor, name: str, arguments: dict[str, Any] | None, *,
                         progress: ProgressReporter | None = None, listing: Listing | None = None) -> dict[str, Any]:
    """call_tool's result as the dict the SDK would make of it (`model_dump(by_alias=True, mode="json",
    exclude_none=True)`), built straight from the tool's output; tests/server/test_read_path.py checks they are
    equal.

    The tools/call handler returns it: the SDK takes a handler's dict as it is, where a CallToolResult was first
    built (validating the structured content as untyped data) and then dumped, about 0.2 ms for a page of 50
    students. The SDK still checks the dict against the protocol version's result shape."""
    out = await _outcome(runtime, actor, name, arguments, progress=progress, listing=listing)
    if isinstance(out, types.CallToolResult):  # an error: rare, shaped by the SDK's own model
        return out.model_dump(by_alias=True, mode="json", exclude_none=True)
    return {"content": [{"type": "text", "text": out.model_dump_json()}],
            "structuredContent": out.model_dump(mode="json"), "isError": False, "resultType": "complete"}


def invalid_params(message: str, **data: Any) -> MCPError:
    """The JSON-RPC invalid-params error (-32602) with `message` for a person and `data` for a program."""
    return MCPError(types.INVALID_PARAMS, message, data or None)


def mcp_prompt(spec: PromptSpec) -> types.Prompt:
    """The MCP declaration of a prompt of prompts.MCP_PROMPTS."""
    return types.Prompt(name=spec.name, title=spec.title, description=spec.description,
                        arguments=[types.PromptArgument(name=arg.name, description=arg.description,
                                                        required=arg.required) for arg in spec.arguments])


def prompt_values(spec: PromptSpec, arguments: dict[str, str] | None) -> dict[str, str]:
    """Return every argument's value for rendering `spec` (defaults for optional ones left out or empty).

    Raises MCPError INVALID_PARAMS (-32602) naming an argument the prompt does not have, a required argument
    missing or blank (with what it is), or a value longer than the argument's maximum.
    """
    given = dict(arguments or {})
    names = ", ".join(arg.name for arg in spec.arguments)
    unknown = sorted(set(given) - {arg.name for arg in spec.arguments})
    if unknown:
        raise invalid_params(f"prompt {spec.name!r} has no argument {', '.join(map(repr, unknown))}; its arguments "
                             f"are: {names}", prompt=spec.name, unknown=unknown)
    missing = [arg for arg in spec.arguments if arg.required and not given.get(arg.name, "").strip()]
    if missing:
        what = "; ".join(f"{arg.name!r} ({arg.description})" for arg in missing)
        raise invalid_params(f"prompt {spec.name!r} needs the argument{'s' if len(missing) > 1 else ''} {what}",
                             prompt=spec.name, missing=[arg.name for arg in missing])
    for arg in spec.arguments:
        value = given.get(arg.name, "")
        if len(value) > arg.max_length:
            raise invalid_params(f"argument {arg.name!r} of prompt {spec.name!r} is {len(value)} characters long; "
                                 f"at most {arg.max_length} are allowed", prompt=spec.name, argument=arg.name)
    return {arg.name: given.get(arg.name, "").strip() or (arg.default or "") for arg in spec.arguments}


async def _list_all(runtime: Runtime, actor: Actor, tool: str, arguments: dict[str, Any] | None = None
                    ) -> tuple[list[Any], bool]:
    """Read a list tool's pages as `actor`, up to COMPLETION_SCAN_ROWS rows; return the items and whether that
    was all of them. Raises the tool's DomainError (PermissionDenied when the actor's roles may not call it)."""
    items: list[Any] = []
    cursor = None
    while len(items) < COMPLETION_SCAN_ROWS:
        page = await invoke(runtime, tool, {**(arguments or {}), "limit": 100, "cursor": cursor}, actor)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, True
    return items, False


async def _candidates(runtime: Runtime, actor: Actor, kind: Suggestion, typed: str) -> tuple[list[str], bool]:
    """The values of `kind` the actor may list, in the order to offer them, and whether the list is whole."""
    if kind == "class_code":
        rows, whole = await _list_all(runtime, actor, "list_classes")
        return sorted(row.code for row in rows), whole
    if kind == "section_code":
        rows, whole = await _list_all(runtime, actor, "list_sections")
        return sorted(row.code for row in rows), whole
    if kind == "term":  # newest first: the term a user means is most often the current one
        rows, whole = await _list_all(runtime, actor, "list_terms")
        return [row.name for row in reversed(rows)], whole
    if kind == "pay_period":
        rows, whole = await _list_all(runtime, actor, "list_payroll_runs")
        return [row.period for row in reversed(rows)], whole
    # A student by code (S2026-0117) or by first and last name, as the timetable_question prompt takes them.
    query = typed.strip()[:100]
    rows, whole = await (_list_all(runtime, actor, "search_students", {"query": query}) if query
                         else _list_all(runtime, actor, "list_students"))
    prefix = query.casefold()
    return [row.code if row.code.casefold().startswith(prefix) else f"{row.first_name} {row.last_name}"
            for row in rows], whole


async def suggest(runtime: Runtime, actor: Actor, kind: Suggestion, typed: str) -> types.Completion:
    """Complete `typed` with the values of `kind` that start with it (case-insensitive), read through the list
    tools as `actor`, so a caller is offered only what its roles may list.

    At most MAX_COMPLETION_VALUES values; `total` is the number of matches when every row could be read (at
    most COMPLETION_SCAN_ROWS), else None; `has_more` says values were left out. A caller whose roles may not
    list these values is offered none.
    """
    try:
        candidates, whole = await _candidates(runtime, actor, kind, typed)
    except DomainError:  # not allowed to list them (permission_denied), or nothing to list: offer nothing
        return NO_COMPLETION
    prefix = typed.strip().casefold()
    matches = list(dict.fromkeys(value for value in candidates if value.casefold().startswith(prefix)))
    return types.Completion(values=matches[:MAX_COMPLETION_VALUES], total=len(matches) if whole else None,
                            has_more=len(matches) > MAX_COMPLETION_VALUES or not whole)


TOOLSETS_PARAM = "toolsets"  # the query parameter of the Streamable HTTP URL: /mcp?toolsets=fees,ledger or all
MAX_HTTP_LISTINGS = 10_000  # MCP sessions whose enabled toolsets are kept; the oldest is forgotten beyond this


def url_toolsets(request: Any) -> frozenset[str]:
    """The toolsets named by the `toolsets` query parameter of an HTTP request (none without one); raises
    InvalidInput naming the unknown ones and the known ones."""
    raw = request.query_params.get(TOOLSETS_PARAM) if request is not None else None
    return parse_toolsets(raw, source=f"?{TOOLSETS_PARAM}=") if raw else frozenset()


def reconnect_url(request: Any, toolsets: list[str]) -> str:
    """The /mcp URL of `request` with `?toolsets=` naming `toolsets` (`all` when that is every toolset)."""
    from tools.toolsets import BY_NAME

    value = ALL if set(toolsets) >= set(BY_NAME) else ",".join(toolsets)
    url = request.url
    base = f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '') or '/mcp'}"
    return f"{base}?{TOOLSETS_PARAM}={value}" if value else base


class Listings:
    """The toolset listing of each connection of a server (tools/toolsets.py).

    - stdio (and an in-process client): one connection per process, one listing, widened by MCS_ERP_TOOLSETS;
      enable_toolsets keeps its toolsets whatever the protocol version;
    - Streamable HTTP with a session (protocol versions with `initialize`: the Mcp-Session-Id header): one listing
      per session, widened by the setting and the URL's `?toolsets=`;
    - Streamable HTTP without a session (2026-07-28): a listing per request from the setting and the URL; the
      discovery tools answer with the URL to reconnect with.
    """

    def __init__(self, widened: frozenset[str]):
        self.widened = widened
        self.process = Listing(widened=widened)
        self.sessions: dict[str, Listing] = {}

    def for_request(self, ctx: ServerRequestContext) -> Listing:
        request = ctx.request
        if request is None:
            return self.process
        widened = self.widened | url_toolsets(request)
        session_id = request.headers.get("mcp-session-id")
        if not session_id:
            return Listing(widened=widened, session=False, reconnect=lambda names: reconnect_url(request, names))
        listing = self.sessions.get(session_id)
        if listing is None:
            if len(self.sessions) >= MAX_HTTP_LISTINGS:
                self.sessions.pop(next(iter(self.sessions)))
            listing = self.sessions[session_id] = Listing(widened=widened)
        return listing


async def announce_list_changed(ctx: ServerRequestContext, bus: Any) -> None:
    """Tell the client its tool list changed: notifications/tools/list_changed on the request's stream where the
    protocol version has a session (initialize), on the subscriptions/listen streams at 2026-07-28 (stdio)."""
    from mcp.shared.subscriptions import ToolsListChanged
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
        await bus.publish(ToolsListChanged())
    else:
        await ctx.session.send_notification(types.ToolListChangedNotification(), related_request_id=ctx.request_id)


@cache
def tracing_installed() -> bool:
    """Return whether the OpenTelemetry SDK is installed (only then can the SDK's per-message spans be recorded:
    the API alone gives no-op tracers)."""
    return importlib.util.find_spec("opentelemetry.sdk") is not None


def build_mcp_server(runtime: Runtime, resolve_actor: ActorResolver) -> MCPServer:
    """Build the MCP server for `runtime`; every request's actor comes from `resolve_actor`.

    tools/list shows a caller the tools its roles may call, of the toolsets its connection lists (its roles'
    defaults, MCS_ERP_TOOLSETS, the URL's `?toolsets=`, enable_toolsets); tools/call runs any tool the roles allow,
    listed or not. Raises InvalidInput for an unknown toolset in MCS_ERP_TOOLSETS.
    """
    from mcp.server.subscriptions import InMemorySubscriptionBus

    listings = Listings(parse_toolsets(runtime.settings.toolsets, source="MCS_ERP_TOOLSETS"))
    bus = InMemorySubscriptionBus()
    server = MCPServer("mcs-erp", title="mcs-erp school ERP", instructions=INSTRUCTIONS, version="0.1.0",
                       description="A school's HR and leave, payroll (with bank files, remittances and STP), "
                                   "ledger (finance), academics (grades, attendance), timetables, fees, the school "
                                   "shop's stock, purchasing from suppliers, emails to families and staff, parents' view of "
                                   "their own children, and documents as typed tools in toolsets, with jobs and a "
                                   "confirmation gate.",
                       subscriptions=bus)
    lowlevel = server._lowlevel_server  # the SDK exposes no public hook to serve tools from our own registry
    if not tracing_installed():
        # The SDK wraps every message in an OpenTelemetry span (Server.middleware, "drop it from this list to opt
        # out"). Without the OpenTelemetry SDK no tracer provider can record one, so each is a no-op that still
        # costs the span's set-up on every call.
        lowlevel.middleware = [m for m in lowlevel.middleware if type(m).__name__ != "OpenTelemetryMiddleware"]
    # Tool declarations and the prompts are made at their first request, not here: runtime.catalogue is built at
    # its first use, so a stdio server answers `initialize` before importing every tool module (server/cli.py).
    declarations: dict[str, types.Tool] = {}

    def declaration(spec: ToolSpec) -> types.Tool:
        if spec.name not in declarations:
            declarations[spec.name] = mcp_tool(spec)
        return declarations[spec.name]

    async def list_tools(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        actor = await resolve_actor(ctx)
        listed = listed_tools(runtime.catalogue, actor, listings.for_request(ctx))
        if (scoped := token_toolsets(actor)) is not None:  # an OAuth token lists only its scopes' toolsets
            listed = [s for s in listed if s.toolset in scoped or s.toolset == DISCOVERY]
        return types.ListToolsResult(tools=[declaration(s) for s in listed])

    async def handle_call(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> dict[str, Any]:
        try:
            actor = await resolve_actor(ctx)
        except Unauthenticated as exc:
            return error_result(exc).model_dump(by_alias=True, mode="json", exclude_none=True)
        scoped = token_toolsets(actor)
        spec = runtime.catalogue.tools.get(params.name) if scoped is not None else None
        if spec is not None and scoped is not None and spec.toolset not in scoped and spec.toolset != DISCOVERY:
            refused = PermissionDenied(f"this OAuth token may use the toolsets {', '.join(sorted(scoped))}; "
                                       f"{params.name} is in {spec.toolset} (connect the app again and allow it)")
            return error_result(refused).model_dump(by_alias=True, mode="json", exclude_none=True)
        # A job-starting tool asked to wait (wait_s) reports the job's progress as notifications/progress when the
        # client sent a progress token; without one, the SDK's report_progress does nothing.
        wants_progress = bool(ctx.meta and ctx.meta.get("progress_token") is not None)
        listing = listings.for_request(ctx)
        result = await call_tool_wire(runtime, actor, params.name, params.arguments, listing=listing,
                                      progress=ctx.session.report_progress if wants_progress else None)
        if listing.changed:
            listing.changed = False
            await announce_list_changed(ctx, bus)
        return result

    def input_schema(name: str) -> dict[str, Any] | None:
        # The SDK asks for the schema to check `Mcp-Param-*` headers against `x-mcp-header` annotations. No
        # tool of ours declares one, so there is nothing to check: answering None skips a schema walk per call
        # (and without this hook the SDK would run a whole tools/list to find the schema).
        return None

    lowlevel.add_request_handler("tools/list", types.PaginatedRequestParams, list_tools)
    lowlevel.add_request_handler("tools/call", types.CallToolRequestParams, handle_call)
    lowlevel.get_tool_input_schema = input_schema

    @cache
    def enabled_prompts() -> dict[str, PromptSpec]:
        return {spec.name: spec for spec in MCP_PROMPTS
                if spec.requires_tool is None or spec.requires_tool in runtime.catalogue.tools}

    @cache
    def prompt_list() -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[mcp_prompt(spec) for spec in enabled_prompts().values()])

    async def list_prompts(ctx: ServerRequestContext, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return prompt_list()

    async def get_prompt(ctx: ServerRequestContext, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        prompts = enabled_prompts()
        spec = prompts.get(params.name)
        if spec is None:
            raise invalid_params(f"unknown prompt {params.name!r}; the prompts are: {', '.join(prompts)} "
                                 "(prompts/list describes them)", prompt=params.name)
        values = prompt_values(spec, params.arguments)
        text = render(spec.name, school=runtime.settings.school_name, **values)
        return types.GetPromptResult(description=spec.description, messages=[types.PromptMessage(
            role="user", content=types.TextContent(type="text", text=text))])

    async def complete(ctx: ServerRequestContext, params: types.CompleteRequestParams) -> types.CompleteResult:
        spec = enabled_prompts().get(params.ref.name) if isinstance(params.ref, types.PromptReference) else None
        argument = spec.argument(params.argument.name) if spec else None
        typed = params.argument.value
        # An unknown prompt or argument, a resource template (there are none) or free text gets no values rather
        # than an error: a client asks while its user types, and the conformance suite's completion-complete
        # scenario asks about a prompt of its own fixture server.
        if argument is None or argument.suggest is None or len(typed) > argument.max_length:
            return types.CompleteResult(completion=NO_COMPLETION)
        try:
            actor = await resolve_actor(ctx)
        except Unauthenticated as exc:
            raise MCPError(types.INVALID_REQUEST, exc.message) from None
        return types.CompleteResult(completion=await suggest(runtime, actor, argument.suggest, typed))

    lowlevel.add_request_handler("prompts/list", types.PaginatedRequestParams, list_prompts)
    lowlevel.add_request_handler("prompts/get", types.GetPromptRequestParams, get_prompt)
    lowlevel.add_request_handler("completion/complete", types.CompleteRequestParams, complete)

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
