"""The `mcs-erp` command: init, demo, serve, worker, tools, actions, keys, tenants, audit, timetable."""

from __future__ import annotations

import asyncio
import errno
import json
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from domain.kernel.actor import Actor, Channel
from domain.kernel.errors import DomainError

if TYPE_CHECKING:
    from domain.kernel.settings import Settings

# Only light modules at the top: `mcs-erp --help` and a stdio server's `initialize` do not wait for the database
# layer, the domain or the tool catalogue; each command imports what it uses.

app = typer.Typer(help="mcs-erp: a school ERP built for AI agents first.", no_args_is_help=True,
                  add_completion=False)
actions_app = typer.Typer(help="Pending actions waiting at the confirmation gate. An operator tool: it uses the "
                                "database directly, with no API key; --as names the user it acts as (approve and "
                                "reject refuse the action's requester: four eyes).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys for HTTP clients (each belongs to a user with roles); the data keys that "
                             "encrypt bank accounts at rest (new-data-key, rotate).", no_args_is_help=True)
audit_app = typer.Typer(help="The audit log: a Merkle tree (RFC 9162) with Ed25519-signed checkpoints kept outside "
                              "the database.", no_args_is_help=True)
app.add_typer(actions_app, name="actions")
app.add_typer(keys_app, name="keys")
timetable_app = typer.Typer(help="Course timetabling: ITC2007 instances and the CP-SAT solver.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(timetable_app, name="timetable")
tenants_app = typer.Typer(help="Tenants: the schools of this deployment, each a PostgreSQL schema `tenant_<code>` or a "
                               "SQLite file `<stem>.<code>.db`; the default school needs none.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")

AsUser = Annotated[str, typer.Option("--as", help="The user this command acts as (an existing username).")]


def _settings() -> Settings:
    """Read the settings; a bad MCS_ERP_* variable or mcs-erp.toml entry is printed as such (exit 2), no traceback."""
    from pydantic import ValidationError

    from domain.kernel.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"MCS_ERP_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
                             for e in exc.errors())
        typer.secho(f"error: invalid setting: {problems}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def _runtime():
    from server.runtime import build_runtime

    return build_runtime(_settings())


def _run(coro_fn: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run `coro_fn(runtime)` with a fresh runtime, printing DomainErrors as clean messages (exit 1)."""

    async def main():
        runtime = _runtime()
        try:
            await runtime.start()
            return await coro_fn(runtime)
        finally:
            await runtime.close()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


async def prepare_database(runtime) -> None:
    """Migrate the database to the newest schema; make sure the audit tree's state row and the 'admin' user exist."""
    from domain.identity.service import ensure_user
    from domain.kernel.audit import ensure_audit_tree
    from domain.migrations.schema import migrate

    await migrate(runtime.db.write_engine)
    async with runtime.db.write() as session:
        await ensure_audit_tree(session)
        await ensure_user(session, username="admin", display_name="Administrator", roles="admin")


@app.command()
def init() -> None:
    """Create or migrate the database (MCS_ERP_DATABASE_URL) and the 'admin' user."""

    async def go(runtime):
        await prepare_database(runtime)
        return runtime.settings.database_url

    url = _run(go)
    typer.echo(f"database ready: {_redact(url)}")


def _where(url: str | None) -> str:
    """A tenant's database as `tenants list` shows it: host/name of its URL, never credentials; `default`."""
    from sqlalchemy.engine import make_url

    if url is None:
        return "default"
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}{f':{parsed.port}' if parsed.port else ''}/{parsed.database}"


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Seed of the deterministic demo data.")] = 42,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve MCP after building.")] = True,
) -> None:
    """Build the demo school if absent (deterministic with --seed), replace the demo API key, then serve MCP over
    Streamable HTTP."""
    from server.demo import build_demo

    # The port is taken before the demo is built, so a busy port fails at once, with nothing built yet.
    sock = _bind(host, port, command="demo") if serve_after else None

    async def go(runtime):
        await prepare_database(runtime)
        return await build_demo(runtime, seed=seed)

    try:
        report = _run(go)
    except BaseException:
        if sock is not None:
            sock.close()
        raise
    typer.echo(report.describe())
    typer.echo(_database_line(_settings().database_url))
    typer.echo(_client_configs(host, port, report.key.secret, serving=serve_after))
    if sock is not None:
        _serve_http(host, port, sock=sock)


def _database_line(url: str) -> str:
    """Where the data lives, and for the embedded SQLite file how to start over."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return (f"database: the SQLite file {parsed.database} (MCS_ERP_DATABASE_URL); to start over, stop the "
                "server and delete that file")
    return f"database: {_redact(url)} (MCS_ERP_DATABASE_URL)"


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _local_base_url(host: str, port: int) -> str:
    """The URL a client on this machine uses: a server bound to all interfaces (0.0.0.0, ::) is reached through
    loopback, and a Host header of 0.0.0.0 would be refused (server/host_check.py)."""
    return _base_url({"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host), port)


def _client_configs(host: str, port: int, key: str, *, serving: bool) -> str:
    base_url = _local_base_url(host, port)
    url = f"{base_url}/mcp"
    project = Path(__file__).resolve().parent.parent
    desktop = {"mcpServers": {"mcs-erp": {"command": "uv", "args": ["--directory", str(project), "run", "mcs-erp",
                                                                     "serve", "--stdio"]}}}
    cursor = {"mcpServers": {"mcs-erp": {"url": url, "headers": {"Authorization": f"Bearer {key}"}}}}
    hostport = _base_url(host, port).removeprefix("http://")
    where = (f"MCP endpoint: {url} (serving now; Ctrl-C to stop)" if serving else
             f"Nothing is serving (--no-serve). To serve MCP and the agent API over HTTP, run:\n"
             f"  mcs-erp serve --http {hostport}\nthen the MCP endpoint is {url}")
    return (f"\n{where}\nAPI key (admin): {key}\n\n"
            f"Claude Desktop (claude_desktop_config.json), stdio as the 'admin' user:\n{json.dumps(desktop, indent=2)}\n\n"
            f"Cursor (.cursor/mcp.json), Streamable HTTP with the key:\n{json.dumps(cursor, indent=2)}\n\n"
            f"Agent API (set MCS_ERP_AGENT_PROVIDER and MCS_ERP_AGENT_API_KEY first): {base_url}/v1 "
            "with the same key; chat front ends speaking the OpenAI API use it as their base URL (model mcs-erp).\n")


def _parse_hostport(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise typer.BadParameter(f"expected HOST:PORT with a port from 1 to 65535, got {value!r}",
                                 param_hint="--http")
    return host.strip("[]"), int(port)


def _bind(host: str, port: int, *, command: str) -> socket.socket:
    """Bind the server's TCP socket on host:port, before anything says it serves; on failure print what went wrong,
    naming the port and the option of `command` ('demo' or 'serve') that chooses another, and exit 1."""
    other_port = port + 1 if port < 65535 else 8000
    if command == "demo":
        new_port, new_host = f"--port {other_port} (or --no-serve)", "--host 127.0.0.1"
    else:
        new_port = f"--http {_base_url(host, other_port).removeprefix('http://')}"
        new_host = f"--http 127.0.0.1:{port}"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart at once after a stop
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror):
            message = (f"cannot listen on {host}:{port}: no such host name ({exc.strerror}); "
                       f"choose one with {new_host}")
        elif exc.errno == errno.EADDRNOTAVAIL:
            message = (f"cannot listen on {host}:{port}: {host} is not an address of this machine; "
                       f"choose one with {new_host}")
        elif exc.errno == errno.EADDRINUSE:
            message = (f"port {port} on {host} is already in use (another mcs-erp server or another program); "
                       f"choose another with {new_port}")
        elif exc.errno == errno.EACCES:
            message = (f"not allowed to listen on port {port} on {host} (ports below 1024 need privileges); "
                       f"choose another with {new_port}")
        else:
            message = f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another with {new_port}"
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    sock.set_inheritable(True)  # worker processes inherit it
    return sock


def _serve_http(host: str, port: int, workers: int = 1, *, sock: socket.socket | None = None) -> None:
    """Serve the HTTP app on host:port (on `sock` when the caller already bound it); exit 1 with a clear message
    when the port cannot be bound."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from server.observability import logging_config

    if sock is None:
        sock = _bind(host, port, command="serve")

    async def prepare():
        runtime = _runtime()
        try:
            await prepare_database(runtime)
        finally:
            await runtime.close()

    try:
        asyncio.run(prepare())
    except BaseException:
        sock.close()
        raise
    if host not in ("127.0.0.1", "localhost", "::1"):
        names = "localhost, 127.0.0.1, [::1]" + ("" if host in ("0.0.0.0", "::") else f", {host}")
        typer.secho(f"warning: binding {host}: the server is reachable from other machines (API keys are still "
                    f"required). It answers only requests whose Host header is {names} or a name in "
                    "MCS_ERP_ALLOWED_HOSTS (e.g. MCS_ERP_ALLOWED_HOSTS=erp.school.example); others get 421.",
                    fg=typer.colors.YELLOW, err=True)
    # The worker processes build the app from the environment (server.app.create_app_from_env).
    os.environ["MCS_ERP_HTTP_HOST"] = host
    os.environ["MCS_ERP_HTTP_PORT"] = str(port)
    # Our logging config, given to uvicorn so that every worker process it starts logs the same way (JSON or
    # text, request ids, secrets redacted); the access lines come from server.observability's middleware.
    config = uvicorn.Config("server.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                            log_level="warning", access_log=False, lifespan="on",
                            log_config=logging_config(_settings()))
    server = uvicorn.Server(config)
    local = "" if _local_base_url(host, port) == _base_url(host, port) else \
        f" (all interfaces; from this machine {_local_base_url(host, port)}/mcp)"
    typer.echo(f"serving MCP on {_base_url(host, port)}/mcp{local} with {workers} worker process(es) "
               "(Ctrl-C to stop)", err=True)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    if workers == 1 and not server.started:  # the app's startup failed; uvicorn logged why
        raise typer.Exit(1)


@app.command()
def serve(
    stdio: Annotated[bool, typer.Option("--stdio", help="Serve MCP over stdio (Claude Desktop, Cursor).")] = False,
    http: Annotated[str | None, typer.Option("--http", help="Serve MCP over Streamable HTTP on HOST:PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="HTTP worker processes (one per core).")] = 1,
) -> None:
    """Serve the MCP server over stdio (as MCS_ERP_STDIO_USER, default admin) or Streamable HTTP."""
    from server.observability import configure_logging

    if stdio == (http is not None):
        raise typer.BadParameter("choose exactly one of --stdio or --http HOST:PORT")
    configure_logging(_settings())  # on stderr: stdout is the stdio transport's
    if http is not None:
        host, port = _parse_hostport(http)
        _serve_http(host, port, workers)
        return
    asyncio.run(_serve_stdio())


async def _serve_stdio() -> None:
    """Serve MCP over stdio as MCS_ERP_STDIO_USER (of tenant MCS_ERP_TENANT, if set), answering `initialize` at once.

    The rest of the start (the database migrated, the user looked up, the tool catalogue built, the job runner
    started) begins with the client's first message after `initialize`, so it never delays that answer; every
    request that needs the user waits for it. Should it fail (an unknown user, a database out of reach), the
    error goes to stderr at once, every request that needs the user is answered with it, and the server exits
    with code 2 (a DomainError) when the client leaves, as it did when it checked before serving. A client that
    leaves before asking anything still gets the configuration checked.
    """
    from domain.kernel import heap
    from domain.kernel.tenants import tenant_in_use
    from server.auth import configured_actor
    from server.mcp_server import build_mcp_server

    runtime = _runtime()
    started: list[asyncio.Task[Actor]] = []

    def report(task: asyncio.Task[Actor]) -> None:
        exc = None if task.cancelled() else task.exception()
        if isinstance(exc, DomainError):
            print(f"error: {exc.message}", file=sys.stderr)
        elif exc is not None:
            print(f"error: the server could not start: {exc!r}", file=sys.stderr)

    async def start() -> Actor:
        await prepare_database(runtime)
        tenant = runtime.settings.tenant  # MCS_ERP_TENANT: the actor, and so every call, acts in that tenant
        await runtime.check_tenant(tenant)
        if tenant is not None:
            await prepare_tenant(runtime, tenant)
        with tenant_in_use(tenant):  # the job runner's recovery and audit sequencer serve this tenant too
            actor = await configured_actor(runtime, runtime.settings.stdio_user, Channel.MCP_STDIO)
            await runtime.start(serving=True)  # builds the catalogue, then the job runner: no job runs for a bad start
        heap.freeze_startup_heap()  # what start-up imported and built lives as long as the server
        return actor

    def starting() -> asyncio.Task[Actor]:
        if not started:
            task = asyncio.create_task(start(), name="mcs-erp-stdio-start")
            task.add_done_callback(report)
            started.append(task)
        return started[0]

    async def resolve(ctx) -> Actor:
        return await asyncio.shield(starting())

    async def start_after_initialize(ctx, call_next):
        if ctx.method != "initialize":
            starting()
        return await call_next(ctx)

    try:
        server = build_mcp_server(runtime, resolve)
        server.middleware.append(start_after_initialize)
        await server.run_stdio_async()
        await starting()
    except DomainError as exc:
        if not started or not started[0].done():  # a failed start was reported when it failed
            print(f"error: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if started and not started[0].done():
            started[0].cancel()
            await asyncio.gather(started[0], return_exceptions=True)
        await runtime.close()


@app.command()
def worker(
    burst: Annotated[bool, typer.Option("--burst", help="Run the queued jobs, then exit (tests, cron).")] = False,
    queue: Annotated[str | None, typer.Option(help="arq queue name (default MCS_ERP_QUEUE_NAME, mcs-erp:jobs).")] = None,
) -> None:
    """Run an arq worker that executes jobs from Redis (needs MCS_ERP_REDIS_URL)."""
    from server.observability import configure_logging
    from workers.arq_worker import WorkerSettings, run_worker, worker_options

    settings = _settings()
    configure_logging(settings)
    if not settings.redis_url:
        typer.secho("error: MCS_ERP_REDIS_URL is not set; `mcs-erp worker` takes jobs from Redis (e.g. "
                    "MCS_ERP_REDIS_URL=redis://127.0.0.1:6379/0). Without Redis, jobs run inside the server "
                    "process and no worker is needed.", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    options = worker_options(settings.redis_url, queue_name=queue or settings.queue_name, burst=burst,
                             max_jobs=settings.worker_max_jobs)
    worker_obj = run_worker(WorkerSettings, **options)
    if burst and worker_obj.jobs_failed:
        raise typer.Exit(1)


@app.command("tools")
def tools_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the MCP tool declarations as JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print a Markdown table.")] = False,
) -> None:
    """Print the tool catalogue from the registry."""
    from server.mcp_server import catalogue_markdown, mcp_tool

    runtime = _runtime()
    if as_json:
        typer.echo(json.dumps([mcp_tool(s).model_dump(mode="json", by_alias=True, exclude_none=True)
                               for s in runtime.catalogue.tools.values()], indent=2))
    elif markdown:
        typer.echo(catalogue_markdown(runtime))
    else:
        from tools.toolsets import TOOLSETS, default_roles

        for spec in runtime.catalogue.tools.values():
            effect = spec.effect.value + (f" ({spec.gate.value})" if spec.gate else "")
            typer.echo(f"{spec.name:28} {spec.toolset:20} {effect:22} {','.join(sorted(r.value for r in spec.roles))}")
        typer.echo(f"{len(runtime.catalogue.tools)} tools in modules: {', '.join(runtime.catalogue.modules)}")
        counts = {t.name: sum(1 for s in runtime.catalogue.tools.values() if s.toolset == t.name) for t in TOOLSETS}
        typer.echo(f"\n{len(TOOLSETS)} toolsets (listed by default to the roles named; MCS_ERP_TOOLSETS, "
                   "/mcp?toolsets= or enable_toolsets add others):")
        for toolset in TOOLSETS:
            roles = ",".join(default_roles(toolset.name)) or "-"
            typer.echo(f"{toolset.name:20} {counts[toolset.name]:3} tools  default for: {roles:40} "
                       f"{toolset.description}")


async def _cli_call(runtime, username: str, tool: str, arguments: dict) -> dict:
    from server.auth import configured_actor
    from tools.invoke import invoke

    actor = await configured_actor(runtime, username, Channel.CLI)
    out = await invoke(runtime, tool, arguments, actor)
    return out.model_dump(mode="json")


@actions_app.command("list")
def actions_list(
    as_user: AsUser = "admin",
    status: Annotated[str, typer.Option(help="open, queued, proposed, executed, ... or all")] = "open",
) -> None:
    """List pending actions (admins see all)."""
    result = _run(lambda rt: _cli_call(rt, as_user, "list_pending_actions", {"status": status, "limit": 100}))
    for item in result["items"]:
        typer.echo(f"#{item['action_id']:<5} {item['status']:9} {item['level']:8} {item['tool']:24} "
                   f"by {item['requested_by']:14} {item['summary']}")
    if not result["items"]:
        typer.echo("no actions")


@actions_app.command("show")
def actions_show(action_id: int, as_user: AsUser = "admin") -> None:
    """Show one action with its preview."""
    typer.echo(json.dumps(_run(lambda rt: _cli_call(rt, as_user, "get_action", {"action_id": action_id})), indent=2))


@actions_app.command("approve")
def actions_approve(action_id: int, as_user: AsUser = "admin",
                    reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None) -> None:
    """Approve a queued action as an admin who did not request it; it executes now."""
    args: dict = {"action_id": action_id}
    if reason:
        args["reason"] = reason
    result = _run(lambda rt: _cli_call(rt, as_user, "approve_action", args))
    typer.echo(f"action {action_id}: {result['status']}")


@actions_app.command("reject")
def actions_reject(action_id: int, reason: Annotated[str, typer.Option(help="Why (recorded, 5+ characters).")],
                   as_user: AsUser = "admin") -> None:
    """Reject an open action as an admin who did not request it."""
    result = _run(lambda rt: _cli_call(rt, as_user, "reject_action", {"action_id": action_id, "reason": reason}))
    typer.echo(f"action {action_id}: {result['status']}")


@keys_app.command("create")
def keys_create(
    user: Annotated[str, typer.Option(help="Username the key acts as (created if absent).")],
    roles: Annotated[str | None, typer.Option(help="Comma-separated roles for a new user: admin, hr, payroll, "
                                                   "finance, registrar, teacher, viewer.")] = None,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    employee_code: Annotated[str | None, typer.Option(help="Link a new user to an employee (teachers).")] = None,
    tenant: Annotated[str | None, typer.Option(help="The tenant (school) of the user and key (`mcs-erp tenants "
                                                    "list`); default: the default school.")] = None,
) -> None:
    """Create an API key; the secret is printed once and only its hash is stored."""
    from domain.hr.repository import get_employee_by_code
    from domain.identity.service import create_api_key
    from domain.kernel.audit import append_audit
    from domain.kernel.errors import NotFound
    from domain.kernel.tenants import tenant_in_use
    from server.auth import CLI_OPERATOR

    async def go(runtime):
        await prepare_database(runtime)
        await runtime.check_tenant(tenant)  # NotFound for an unknown tenant, TenantSuspended for a suspended one
        with tenant_in_use(tenant):
            return await issue(runtime)

    async def issue(runtime):
        async with runtime.db.write() as session:
            employee_id = None
            if employee_code:
                emp = await get_employee_by_code(session, employee_code)
                if emp is None:
                    raise NotFound(f"no employee with code {employee_code}")
                employee_id = emp.id
            issued = await create_api_key(session, username=user, roles=roles, name=name, employee_id=employee_id)
            await append_audit(session, CLI_OPERATOR, tool="keys create", event="write", entity="api_keys",
                               entity_id=issued.key.id, arguments={"user": user, "roles": roles, "name": name},
                               after={"key_id": issued.key.id, "prefix": issued.key.prefix, "user": user})
            return issued.key.id, issued.user.username, issued.user.roles, issued.secret

    key_id, username, user_roles, secret = _run(go)
    typer.echo(f"key #{key_id} for {username} ({user_roles}):\n{secret}\nStore it now; it is not shown again.")


@keys_app.command("list")
def keys_list() -> None:
    """List API keys (prefix, user, roles, created, revoked; which ones the demo issued)."""
    from domain.identity.service import list_api_keys

    async def go(runtime):
        async with runtime.db.read() as session:
            return [(k.id, k.prefix, k.name, u.username, u.roles, k.created_at, k.revoked_at, k.demo)
                    for k, u in await list_api_keys(session)]

    for key_id, prefix, name, username, roles, created, revoked, demo_key in _run(go):
        state = f"revoked {revoked:%Y-%m-%d %H:%M}" if revoked else "active"
        origin = "  (issued by `mcs-erp demo`; the next demo run revokes it)" if demo_key and not revoked else ""
        typer.echo(f"#{key_id:<4} {prefix}…  {name:12} {username:16} {roles:20} {created:%Y-%m-%d %H:%M}  "
                   f"{state}{origin}")


@keys_app.command("revoke")
def keys_revoke(key_id: int) -> None:
    """Revoke an API key by id (HTTP servers stop accepting it within MCS_ERP_KEY_CACHE_SECONDS)."""
    from domain.identity.service import revoke_api_key
    from domain.kernel.audit import append_audit
    from server.auth import CLI_OPERATOR

    async def go(runtime):
        async with runtime.db.write() as session:
            key = await revoke_api_key(session, key_id=key_id)
            await append_audit(session, CLI_OPERATOR, tool="keys revoke", event="write", entity="api_keys",
                               entity_id=key.id, arguments={"key_id": key_id}, after={"revoked": True})

    _run(go)
    typer.echo(f"key #{key_id} revoked")


@keys_app.command("new-data-key")
def keys_new_data_key(key_id: Annotated[str, typer.Option("--id", help="The new key's id (1-32 letters, digits, "
                                                                      "- or _), unique in the list.")]) -> None:
    """Print a new random 256-bit data key as 'id:base64key', to put FIRST in MCS_ERP_DATA_KEYS (or the key file)
    before `mcs-erp keys rotate` (README "Bank accounts and keys"). Nothing is stored."""
    from domain.kernel.crypto import KeyUnavailable, generate_key, parse_keys

    line = f"{key_id}:{generate_key()}"
    try:
        parse_keys(line, source="--id")
    except KeyUnavailable as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    typer.echo(line)


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every encrypted value (bank BSBs and account numbers, TFNs) with the first data key, in one
    transaction (audited with counts, never values); afterwards the keys after it can be removed."""
    from domain.hr.service import rotate_encrypted
    from domain.kernel.audit import append_audit
    from domain.kernel.crypto import keyring_for
    from server.auth import CLI_OPERATOR

    async def go(runtime):
        ring = keyring_for(runtime.settings)
        async with runtime.db.write() as session:
            done = await rotate_encrypted(session, ring=ring)
            await append_audit(session, CLI_OPERATOR, tool="keys rotate", event="write",
                               entity="employee_payment_details", arguments={},
                               after={"key_id": done.key_id, "reencrypted": done.reencrypted,
                                      "unchanged": done.unchanged})
            return done, list(ring.keys)

    done, key_ids = _run(go)
    others = [k for k in key_ids if k != done.key_id]
    removable = f"; the key(s) {', '.join(others)} can now be removed" if others else ""
    typer.echo(f"{done.reencrypted} value(s) re-encrypted with key {done.key_id} ({done.unchanged} already used it)"
               f"{removable}")


@audit_app.command("keygen")
def audit_keygen(
    out: Annotated[Path | None, typer.Option("--out", help="Where to create the key (default: the audit_key_file "
                                                            "setting).")] = None,
) -> None:
    """Create the Ed25519 key that signs audit checkpoints (mode 0600) and its public key beside it (.pub); refuse
    to overwrite either. Keep the key outside the database and its backups; give verifiers the .pub file."""
    from domain.kernel.audit import AuditKeyError, generate_key_file

    path = out or _settings().audit_key_file
    if path is None:
        typer.secho("error: name the key file: --out PATH, or set MCS_ERP_AUDIT_KEY_FILE", fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(2)
    try:
        pub = generate_key_file(path)
    except AuditKeyError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"audit key created: {path} (keep it secret; set MCS_ERP_AUDIT_KEY_FILE={path}); public key: {pub}")


AuditTenant = Annotated[str | None, typer.Option("--tenant", help="The tenant (school) whose log it is (default: "
                                                                  "MCS_ERP_TENANT, else the default tenant).")]


@audit_app.command("checkpoint")
def audit_checkpoint(
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the checkpoint line instead of appending it to "
                                                          "the checkpoint file.")] = False,
    tenant: AuditTenant = None,
) -> None:
    """Integrate the entries committed so far, then sign a checkpoint of the tree (size, root, time) with the
    audit key and append it to the checkpoint file (audit_checkpoint_file; a tenant's: that name + '.<tenant>'), or
    print it (--stdout)."""
    from domain.kernel.tenants import tenant_in_use
    from workers.audit_sequencer import checkpoint_sink, integrate_all, write_checkpoint_now

    async def go(runtime):
        code = tenant or runtime.settings.tenant
        await runtime.check_tenant(code)
        with tenant_in_use(code):
            await integrate_all(runtime)
            sink = sys.stdout if stdout else checkpoint_sink(runtime.settings)
            return await write_checkpoint_now(runtime, sink), sink

    checkpoint, sink = _run(go)
    if sink is not sys.stdout:
        typer.echo(f"checkpoint of {checkpoint.tree_size} entries (root {checkpoint.root}) appended to {sink}",
                   err=True)


@audit_app.command("verify")
def audit_verify(
    checkpoints: Annotated[Path | None, typer.Option("--checkpoints", help="A checkpoint file (JSON lines) to "
                                                                           "prove today's log consistent with.")] = None,
    public_key: Annotated[Path | None, typer.Option("--public-key", help="The checkpoints' public key (default: "
                                                                         "from the audit_key_file setting).")] = None,
    integrate: Annotated[bool, typer.Option("--integrate/--no-integrate", help="First integrate the entries "
                                                                               "committed so far, as the sequencer "
                                                                               "would (--no-integrate: only read)."
                                            )] = True,
    tenant: AuditTenant = None,
) -> None:
    """Recompute the audit tree from every entry's content and check it against the stored hashes and tree state
    and, with --checkpoints, against each signed checkpoint; exit 1 naming the first entry that differs or the
    missing tail. Entries not integrated yet are counted, not verified. Each tenant's log is its own (--tenant)."""
    from domain.kernel.tenants import tenant_in_use
    from workers.audit_sequencer import integrate_all
    from domain.kernel.audit import load_public_key, read_checkpoints, verify_audit_log

    settings = _settings()
    key = None
    if checkpoints is not None:
        key_path = public_key or settings.audit_key_file
        if key_path is None:
            typer.secho("error: checking checkpoints needs their public key: --public-key FILE or "
                        "MCS_ERP_AUDIT_KEY_FILE", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)

    async def go(runtime):
        nonlocal key
        signed = read_checkpoints(checkpoints) if checkpoints is not None else []
        if checkpoints is not None:
            key = load_public_key(key_path)
        code = tenant or runtime.settings.tenant
        await runtime.check_tenant(code)
        with tenant_in_use(code):
            if integrate:
                await integrate_all(runtime)
            async with runtime.db.read() as session:
                return await verify_audit_log(session, checkpoints=signed, public_key=key), len(signed)

    result, count = _run(go)
    against = f" and consistent with {count} checkpoint(s)" if checkpoints is not None else ""
    pending = f"; {result.pending} entries not yet integrated" if result.pending else ""
    if result.ok:
        typer.echo(f"audit log intact: {result.rows} entries verified{against}{pending}")
    else:
        typer.secho(f"audit log BROKEN: {result.problem}", fg=typer.colors.RED, err=True)
        for other in result.problems[1:]:
            typer.secho(f"  also: {other}", fg=typer.colors.RED, err=True)
        if pending:
            typer.secho(pending[2:], err=True)
        raise typer.Exit(1)


@timetable_app.command("import-ctt")
def timetable_import_ctt(file: Annotated[Path, typer.Argument(help="An ITC2007 Track 3 .ctt instance.")]) -> None:
    """Store an ITC2007 .ctt instance as a timetable problem; print its id and counts."""
    from domain.kernel.audit import append_audit
    from domain.timetable import service as timetable
    from server.auth import CLI_OPERATOR

    try:
        text = file.read_text()
    except OSError as exc:
        typer.secho(f"error: cannot read {file}: {exc.strerror}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None

    async def go(runtime):
        await prepare_database(runtime)
        async with runtime.db.write() as session:
            row, problem = await timetable.import_ctt(session, text=text)
            counts = {"courses": len(problem.courses), "lectures": problem.total_lectures,
                      "rooms": len(problem.rooms), "curricula": len(problem.curricula),
                      "unavailability": len(problem.unavailability)}
            await append_audit(session, CLI_OPERATOR, tool="timetable import-ctt", event="write",
                               entity="timetable_problems", entity_id=row.id, arguments={"file": file.name},
                               after={"name": row.name, **counts})
            return row.id, problem, counts

    problem_id, problem, counts = _run(go)
    typer.echo(f"problem #{problem_id} {problem.name}: {counts['courses']} courses, {counts['lectures']} lectures, "
               f"{counts['rooms']} rooms, {counts['curricula']} curricula, {counts['unavailability']} unavailable "
               f"periods, {problem.days} days x {problem.periods_per_day} periods")


@timetable_app.command("solve")
def timetable_solve(
    out: Annotated[Path, typer.Option("--out", help="Write the solution here in the ITC2007 validator format.")],
    time_limit: Annotated[float, typer.Option("--time-limit", min=1, max=3600, help="Seconds to search.")] = 60,
    problem_id: Annotated[int | None, typer.Option("--problem", help="Problem id (default: the newest).")] = None,
    seed: Annotated[int, typer.Option(help="Solver random seed.")] = 0,
    workers: Annotated[int, typer.Option(min=1, max=64, help="CP-SAT search workers (one per core).")] = 2,
) -> None:
    """Solve a stored problem in this process, store the solution, write the .sol file; print hard and soft."""
    from domain.kernel.audit import append_audit
    from domain.timetable import service as timetable
    from domain.timetable.itc2007 import write_sol
    from domain.timetable.solver import solve
    from server.auth import CLI_OPERATOR

    async def go(runtime):
        async with runtime.db.read() as session:
            row = await timetable.resolve_problem(session, problem_id)
            problem = timetable.problem_of(row)
        result = await asyncio.to_thread(solve, problem, time_limit_s=time_limit, seed=seed, workers=workers)
        async with runtime.db.write() as session:
            row = await timetable.resolve_problem(session, row.id)
            saved = await timetable.save_solution(session, problem_row=row, result=result)
            await append_audit(session, CLI_OPERATOR, tool="timetable solve", event="write",
                               entity="timetable_solutions", entity_id=saved.id,
                               arguments={"problem": row.id, "time_limit": time_limit, "seed": seed},
                               after={"status": saved.status, "hard_violations": saved.hard_violations,
                                      "soft_cost": saved.soft_cost})
            return row.id, saved.id, problem, result, saved

    pid, solution_id, problem, result, saved = _run(go)
    out.write_text(write_sol(problem, result.solution))
    typer.echo(f"solution #{solution_id} of problem #{pid} ({result.status}, {saved.seconds:.1f}s): "
               f"hard={saved.hard_violations} soft={saved.soft_cost} breakdown={saved.breakdown}")
    typer.echo(f"wrote {out}")


@app.command("eval")
def eval_cmd(
    provider: Annotated[str, typer.Option(help="The model API: anthropic, or openai (also any OpenAI-compatible "
                                               "server: Ollama, vLLM, llama.cpp, with --base-url).")],
    model: Annotated[str, typer.Option(help="The model name, as the provider knows it.")],
    base_url: Annotated[str | None, typer.Option(help="The API's base URL, e.g. http://localhost:11434/v1 for "
                                                      "Ollama.")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="MCS_ERP_AGENT_API_KEY", show_envvar=True,
                                                help="The API key (default: ANTHROPIC_API_KEY / OPENAI_API_KEY; "
                                                     "a local server takes any).")] = None,
    tasks: Annotated[list[str] | None, typer.Option("--tasks", help="Run only these tasks (repeat the option or "
                                                                    "give a comma list).")] = None,
    max_steps: Annotated[int, typer.Option(min=1, max=500, help="Model turns a task may take.")] = 20,
    school: Annotated[Path | None, typer.Option(help="A SQLite file holding the eval school, copied for each task "
                                                     "instead of building the demo again (built there when "
                                                     "missing; delete it after upgrading mcs-erp).")] = None,
) -> None:
    """Run the agent task suite (evals/) against a model: each task on a fresh demo school, through the agent
    loop; print per task success, tool calls, tokens and seconds, then the success rate (exit 1 below 100 %)."""
    from domain.agent.service import Limits
    from evals.runner import Model, result_line, run_suite, select_tasks, summary_line
    from workers.agent_providers import PROVIDERS

    if provider not in PROVIDERS:
        typer.secho(f"error: unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}", fg=typer.colors.RED,
                    err=True)
        raise typer.Exit(2)
    if base_url and provider == "openai" and not api_key:
        api_key = "not-needed"  # a local OpenAI-compatible server takes any key, the SDK wants one
    try:
        chosen = select_tasks([name.strip() for entry in tasks or [] for name in entry.split(",") if name.strip()])
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    building = "" if school is not None and school.exists() else "; building the demo school first ..."
    typer.echo(f"running {len(chosen)} task(s) on {provider}:{model}{f' at {base_url}' if base_url else ''}"
               f"{building}")
    results = asyncio.run(run_suite(chosen, Model(provider, model, base_url, api_key),
                                    limits=Limits(max_steps=max_steps, max_tokens=400_000, max_seconds=300),
                                    on_result=lambda result: typer.echo(result_line(result)), school=school))
    typer.echo(summary_line(results))
    if not all(result.passed for result in results):
        raise typer.Exit(1)


TenantCode = Annotated[str, typer.Argument(help="The tenant's code: 2 to 31 characters, a-z first, then a-z, 0-9, _.")]


async def prepare_tenant(runtime, code: str) -> None:
    """Migrate tenant `code`'s tables to the newest schema; make sure its audit tree's state row and its 'admin'
    user exist (as `prepare_database` does for the default tenant)."""
    from domain.identity.service import ensure_user
    from domain.kernel.audit import ensure_audit_tree
    from domain.kernel.tenants import tenant_in_use
    from domain.migrations.schema import migrate_tenant

    await migrate_tenant(runtime.db, code)
    with tenant_in_use(code):
        async with runtime.db.write() as session:
            await ensure_audit_tree(session)
            await ensure_user(session, username="admin", display_name="Administrator", roles="admin")


async def create_tenant(runtime, code: str, name: str) -> tuple[str, str]:
    """Create tenant `code` named `name` as `mcs-erp tenants create` does and return (its schema, the admin key's
    secret): migrated (from the template, domain/migrations/schema.py) before it is registered, so a registered
    tenant is usable; its 'admin' user and an admin key made and audited in the tenant. Raises InvalidInput for a
    bad code or name, Conflict for a code already registered."""
    from domain.identity.service import create_api_key
    from domain.kernel import tenants
    from domain.kernel.audit import append_audit
    from domain.kernel.errors import Conflict
    from server.auth import CLI_OPERATOR

    tenants.check_code(code)
    tenants.check_name(name)
    with tenants.tenant_in_use(None):
        async with runtime.db.read() as session:
            if await tenants.get_tenant(session, code) is not None:
                raise Conflict(f"tenant {code!r} already exists; `mcs-erp tenants migrate {code}` brings it "
                               "up to date")
        await prepare_tenant(runtime, code)
        async with runtime.db.write() as session:
            tenant = await tenants.register_tenant(session, code=code, name=name)
            schema = tenant.schema_name
    with tenants.tenant_in_use(code):
        async with runtime.db.write() as session:
            issued = await create_api_key(session, username="admin", name="tenants create")
            await append_audit(session, CLI_OPERATOR, tool="tenants create", event="write", entity="api_keys",
                               entity_id=issued.key.id, arguments={"code": code, "name": name},
                               after={"key_id": issued.key.id, "prefix": issued.key.prefix, "user": "admin"})
    return schema, issued.secret


@tenants_app.command("create")
def tenants_create(code: TenantCode,
                   name: Annotated[str, typer.Option(help="The school's name (1 to 200 characters).")]) -> None:
    """Create tenant CODE: build its schema (or file) from the template, create its 'admin' user and print an admin
    API key once."""

    async def go(runtime):
        await prepare_database(runtime)
        return await create_tenant(runtime, code, name)

    schema, secret = _run(go)
    where = schema if not _settings().database_url.startswith("sqlite") else "its own SQLite file"
    typer.echo(f"tenant {code} ready ({where}); the API key of its 'admin' user:\n{secret}\n"
               "Store it now; it is not shown again.")


@tenants_app.command("list")
def tenants_list() -> None:
    """List the tenants: code, status, schema, database (host/name; `default`: MCS_ERP_DATABASE_URL's), created,
    name."""
    from domain.kernel import tenants

    async def go(runtime):
        await prepare_database(runtime)
        async with runtime.db.read() as session:
            return [(t.code, t.status, t.schema_name, _where(t.database_url), t.created_at, t.name)
                    for t in await tenants.list_tenants(session)]

    rows = _run(go)
    if not rows:
        typer.echo("no tenants: the default school only (`mcs-erp tenants create CODE --name NAME` adds one)")
    for code, status, schema, where, created, name in rows:
        typer.echo(f"{code:31} {status:9} {schema:38} {where:24} {created:%Y-%m-%d %H:%M}  {name}")


@tenants_app.command("migrate")
def tenants_migrate(code: Annotated[str | None, typer.Argument(help="The tenant to migrate.")] = None,
                    all_tenants: Annotated[bool, typer.Option("--all", help="The default school, then every "
                                                                           "tenant.")] = False) -> None:
    """Migrate tenant CODE (or, with --all, the default school and every tenant) to the newest schema; the tenant
    template first, so a failing migration stops there before any tenant is touched."""
    from domain.kernel import tenants
    from domain.migrations.template import migrate_template

    if (code is None) == (not all_tenants):
        raise typer.BadParameter("give either a tenant CODE or --all")

    async def go(runtime):
        if code is not None:
            tenants.check_code(code)
        await prepare_database(runtime)
        await migrate_template(runtime.db)
        typer.echo("tenant template: migrated")
        async with runtime.db.read() as session:
            codes = ([t.code for t in await tenants.list_tenants(session)] if all_tenants
                     else [(await tenants.get_tenant_or_raise(session, code)).code])
        for each in codes:
            await prepare_tenant(runtime, each)
            typer.echo(f"tenant {each}: migrated")
        return codes

    codes = _run(go)
    typer.echo(f"{len(codes)} tenant(s) up to date" + (" (and the default school)" if all_tenants else ""))


def _set_tenant_status(code: str, status: str) -> None:
    from domain.kernel import tenants
    from domain.kernel.audit import append_audit
    from server.auth import CLI_OPERATOR

    async def go(runtime):
        tenants.check_code(code)
        await prepare_database(runtime)
        async with runtime.db.write() as session:
            before = (await tenants.get_tenant_or_raise(session, code)).status
            tenant = await tenants.set_status(session, code=code, status=tenants.TenantStatus(status))
            await append_audit(session, CLI_OPERATOR, tool=f"tenants {'resume' if status == 'active' else 'suspend'}",
                                event="write", entity="tenants", entity_id=None, arguments={"code": code},
                                before={"status": before}, after={"status": tenant.status})

    _run(go)
    typer.echo(f"tenant {code}: {status} (API servers follow within MCS_ERP_KEY_CACHE_SECONDS)")


async def move_tenant(runtime, code: str, url: str, export: Path,
                      on_step: Callable[[str], Awaitable[None]] | None = None) -> dict:
    """Move tenant `code` to the PostgreSQL database `url` (another cluster, or back to the default database) by
    export and import, as `mcs-erp tenants move` does, and return the export's manifest.

    Steps, each told to `on_step(name)` when done: `migrated` (the source brought to the newest revision),
    `suspended` (its keys and jobs refused with `tenant_suspended`; then it waits key_cache_seconds, how long a
    server may still serve a key it looked up, or route to a cluster it read), `exported` (the zip `export`),
    `imported` (the target schema built from the target's template, loaded in one transaction), `placed` (the
    registry's database_url; then it waits key_cache_seconds again, for every process to re-read it), `dropped`
    (the source schema) and `resumed` (when it was active before). A failure
    before `placed` leaves the tenant suspended where it was, the export on disk; running the move again redoes it.
    Raises InvalidInput on SQLite (a tenant is a file there), for a URL that is not PostgreSQL or is where the tenant
    is already; NotFound for an unknown tenant."""
    from sqlalchemy.engine import make_url

    from domain.kernel import tenants
    from domain.kernel.audit import append_audit
    from domain.kernel.errors import InvalidInput
    from domain.migrations.schema import migrate_tenant
    from domain.migrations.transfer import drop_tenant_storage, export_tenant, import_tenant
    from server.auth import CLI_OPERATOR

    async def step(name: str) -> None:
        if on_step is not None:
            await on_step(name)

    tenants.check_code(code)
    db = runtime.db
    if db.is_sqlite:
        raise InvalidInput("on SQLite a tenant is its own file: stop the server and copy the file "
                           "(`<stem>.<code>.db`); `tenants move` moves PostgreSQL schemas between clusters")
    try:
        target_url = make_url(url)
    except Exception as exc:
        raise InvalidInput(f"--to is not a database URL: {exc}", field="to") from exc
    if target_url.get_backend_name() != "postgresql":
        raise InvalidInput(f"--to must be a PostgreSQL URL (postgresql+asyncpg://...), not {target_url.drivername}",
                           field="to")
    url = target_url.render_as_string(hide_password=False)
    placed_url = None if url == db.url else url
    with tenants.tenant_in_use(None):
        async with db.read() as session:
            tenant = await tenants.get_tenant_or_raise(session, code)
            before_url, before_status = tenant.database_url, tenant.status
    if before_url == placed_url:
        raise InvalidInput(f"tenant {code!r} is in that database already", field="to")
    source = db.cluster_database(before_url) if before_url else db
    target = db.cluster_database(url)
    await migrate_tenant(source, code)
    await step("migrated")
    with tenants.tenant_in_use(None):
        async with db.write() as session:
            await tenants.set_status(session, code=code, status=tenants.TenantStatus.SUSPENDED)
            await append_audit(session, CLI_OPERATOR, tool="tenants move", event="write", entity="tenants",
                               entity_id=None, arguments={"code": code, "step": "suspend for the move"},
                               before={"status": before_status}, after={"status": "suspended"})
    await asyncio.sleep(runtime.settings.key_cache_seconds)
    await step("suspended")
    manifest = await export_tenant(source, code, export)
    await step("exported")
    await import_tenant(target, code, export)
    await step("imported")
    redacted = {"from": _redact(before_url or db.url), "to": _redact(url)}
    with tenants.tenant_in_use(None):
        async with db.write() as session:
            tenant = await tenants.get_tenant_or_raise(session, code)
            tenant.database_url = placed_url
            session.add(tenant)
            await append_audit(session, CLI_OPERATOR, tool="tenants move", event="write", entity="tenants",
                               entity_id=None, arguments={"code": code, "export": str(export), **redacted},
                               before={"database": redacted["from"]}, after={"database": redacted["to"]})
    db.forget_placement(code)
    await step("placed")
    # Every process re-reads the tenant's cluster within key_cache_seconds: wait that long again before the old
    # schema goes, so that nothing still routed there (a worker's job) finds it gone, nor a resumed call the old one.
    await asyncio.sleep(runtime.settings.key_cache_seconds)
    await drop_tenant_storage(source, code)
    await step("dropped")
    if before_status == tenants.TenantStatus.ACTIVE.value:
        with tenants.tenant_in_use(None):
            async with db.write() as session:
                await tenants.set_status(session, code=code, status=tenants.TenantStatus.ACTIVE)
                await append_audit(session, CLI_OPERATOR, tool="tenants move", event="write", entity="tenants",
                                   entity_id=None, arguments={"code": code, "step": "resume after the move"},
                                   before={"status": "suspended"}, after={"status": "active"})
        await step("resumed")
    return manifest


@tenants_app.command("move")
def tenants_move(code: TenantCode,
                 to: Annotated[str, typer.Option("--to", help="The PostgreSQL database to move the tenant to "
                                                              "(postgresql+asyncpg://user:password@host/db).")],
                 export: Annotated[Path | None, typer.Option(help="Where to write the export (a zip; default: "
                                                                  "tenant-CODE-<UTC time>.zip here).")] = None
                 ) -> None:
    """Move tenant CODE to another PostgreSQL cluster by export and import, the tenant suspended meanwhile (its
    requests get 403 tenant_suspended); its old schema is dropped once the registry points at the new one."""
    from domain.kernel.clock import utcnow

    path = export or Path(f"tenant-{code}-{utcnow():%Y%m%dT%H%M%SZ}.zip")

    async def go(runtime):
        async def say(name: str) -> None:
            typer.echo(f"tenant {code}: {name}")

        await prepare_database(runtime)
        return await move_tenant(runtime, code, to, path, on_step=say)

    manifest = _run(go)
    rows = sum(table["rows"] for table in manifest["tables"])
    typer.echo(f"tenant {code} moved to {_redact(to)}: {len(manifest['tables'])} tables, {rows} rows; "
               f"the export stays at {path}")


@tenants_app.command("drop")
def tenants_drop(code: TenantCode, as_user: AsUser = "admin",
                 yes: Annotated[bool, typer.Option("--yes", help="Confirm without asking (the preview is printed "
                                                                 "first all the same).")] = False) -> None:
    """Ask to drop suspended tenant CODE (the gated tool drop_tenant, approve level): print the preview, confirm it
    as --as (an admin of the default tenant; asked first unless --yes), and print the action's id for another admin's
    `mcs-erp actions approve ID --as OTHER`, which exports the tenant and drops it."""
    from domain.kernel import tenants

    tenants.check_code(code)

    async def propose(runtime):
        await prepare_database(runtime)
        return await _cli_call(runtime, as_user, "drop_tenant", {"code": code})

    pending = _run(propose)
    action_id = pending["action_id"]
    typer.echo(f"action {action_id}: {pending['summary']}")
    typer.echo(json.dumps(pending["preview"], indent=2))
    if not yes and not typer.confirm(f"confirm action {action_id}?"):
        typer.echo(f"action {action_id} left proposed (`mcs-erp actions reject {action_id}` closes it)")
        return
    decided = _run(lambda rt: _cli_call(rt, as_user, "confirm_action", {"action_id": action_id}))
    typer.echo(f"action {action_id}: {decided['status']}; another admin approves it with "
               f"`mcs-erp actions approve {action_id} --as USER`")


@tenants_app.command("import")
def tenants_import(code: TenantCode,
                   export: Annotated[Path, typer.Argument(help="The export (zip) of `tenants move` or drop_tenant.",
                                                          exists=True, dir_okay=False)],
                   name: Annotated[str, typer.Option(help="The school's name in the registry.")]) -> None:
    """Load an export as tenant CODE (not registered) and register it, suspended: how a dropped tenant comes back
    (`mcs-erp tenants resume CODE` serves it again). The export must be of this backend and at this release's
    revision."""
    from domain.kernel import tenants
    from domain.kernel.audit import append_audit
    from domain.kernel.errors import Conflict
    from domain.migrations.transfer import import_tenant
    from server.auth import CLI_OPERATOR

    async def go(runtime):
        tenants.check_code(code)
        tenants.check_name(name)
        await prepare_database(runtime)
        with tenants.tenant_in_use(None):
            async with runtime.db.read() as session:
                if await tenants.get_tenant(session, code) is not None:
                    raise Conflict(f"tenant {code!r} is registered: an import never replaces a tenant")
        manifest = await import_tenant(runtime.db, code, export)
        with tenants.tenant_in_use(None):
            async with runtime.db.write() as session:
                await tenants.register_tenant(session, code=code, name=name)
                await tenants.set_status(session, code=code, status=tenants.TenantStatus.SUSPENDED)
                await append_audit(session, CLI_OPERATOR, tool="tenants import", event="write", entity="tenants",
                                   entity_id=None, arguments={"code": code, "export": str(export)},
                                   before=None, after={"status": "suspended"})
        return manifest

    manifest = _run(go)
    typer.echo(f"tenant {code} imported from {export} (revision {manifest['revision']}), suspended: "
               f"`mcs-erp tenants resume {code}` serves it")


@tenants_app.command("suspend")
def tenants_suspend(code: TenantCode) -> None:
    """Suspend tenant CODE: its keys and jobs are refused (403 tenant_suspended) until it is resumed."""
    _set_tenant_status(code, "suspended")


@tenants_app.command("resume")
def tenants_resume(code: TenantCode) -> None:
    """Resume suspended tenant CODE."""
    _set_tenant_status(code, "active")


if __name__ == "__main__":  # pragma: no cover
    app()
