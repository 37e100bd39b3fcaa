"""The HTTP app: MCP over Streamable HTTP at /mcp, the agent API and the OpenAI-compatible chat completions under
/v1 (API key required on both), the admin pages under /admin (signed-in session), timetable calendars at
/calendar/<secret>.ics and notifications' unsubscribe links (the secret URL is the credential), OAuth sign-in for
remote MCP clients (server/oauth.py: /authorize, /token, /register, /revoke, the metadata, /oauth/...), /healthz, /readyz
and the Prometheus /metrics; every request gets a request id (X-Request-ID) that its log lines carry."""

from __future__ import annotations

import contextlib

from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, Router

from domain.kernel import heap
from domain.kernel.actor import Channel
from domain.kernel.errors import DomainError
from server.admin import admin_app
from server.agent_api import agent_routes, error_response
from server.auth import ApiKeyMiddleware, actor_from_request
from server.host_check import HostCheckMiddleware, host_policy
from server.mcp_server import build_mcp_server, url_toolsets
from server.notifications_http import unsubscribe_routes
from server.oauth import build_oauth
from server.observability import RequestIdMiddleware, observability_routes
from server.openai_compat import openai_compat_routes
from server.parents import parents_app  # the parent pages: a guardian's own children, by emailed sign-in link
from tools.runtime import Runtime
from tools.timetable import calendar_of_url


def create_app(runtime: Runtime, *, host: str = "127.0.0.1", port: int | None = None,
               own_runtime: bool = True) -> Starlette:
    """Build the ASGI app serving `runtime` bound to `host`:`port` (port None: not known, any port of an allowed
    host is accepted); its lifespan runs the MCP session manager, starts the runtime and, when it owns it
    (`own_runtime`, the default), closes it at shutdown.

    Every request but /healthz, /readyz and /metrics must name an allowed host (server/host_check.py: loopback
    names, the bound host, MCS_ERP_ALLOWED_HOSTS) or gets 421; a foreign Origin gets 403."""

    async def resolve(ctx):
        return actor_from_request(ctx.request)

    policy = host_policy(host, port, runtime.settings.allowed_hosts)
    mcp = build_mcp_server(runtime, resolve)
    # HostCheckMiddleware applies the Host/Origin policy to the whole app, /mcp included; the SDK's own copy of
    # the check is switched off rather than run twice (it still checks a POST's Content-Type).
    mcp_app = mcp.streamable_http_app(streamable_http_path="/", host=host,
                                      transport_security=TransportSecuritySettings(
                                          enable_dns_rebinding_protection=False))
    # The SDK app's own routes are wrapped, but its lifespan is run from ours (mounted apps' lifespans aren't).
    # OAuth (server/oauth.py): /mcp also takes the access tokens it issues, and its 401 points at the metadata.
    oauth = build_oauth(runtime)
    mcp_endpoint = ApiKeyMiddleware(mcp_app, runtime, Channel.MCP_HTTP, tokens=oauth)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        async with mcp.session_manager.run():
            try:
                if own_runtime:  # a server process of its own (mcs-erp serve --http), not an app a caller embeds
                    await runtime.start(serving=True)
                    heap.freeze_startup_heap()  # what start-up imported and built lives as long as the process
                yield
            finally:
                if own_runtime:
                    await runtime.close()

    class _McpPath:
        """Serve /mcp and /mcp/ alike without a redirect (MCP clients do not follow cross-path redirects)."""

        async def __call__(self, scope, receive, send):
            scope = dict(scope, path="/", raw_path=b"/", root_path=scope.get("root_path", "") + "/mcp")
            try:  # ?toolsets= names toolsets to list (server/mcp_server.py); a wrong name is refused up front
                url_toolsets(Request(scope))
            except DomainError as exc:
                await error_response(exc)(scope, receive, send)
                return
            await mcp_endpoint(scope, receive, send)

    endpoint = _McpPath()
    v1 = ApiKeyMiddleware(Router(routes=agent_routes(runtime) + openai_compat_routes(runtime)), runtime,
                          Channel.AGENT)

    async def calendar(request: Request) -> Response:
        """A timetable's iCalendar feed for a calendar app (tools.timetable.calendar_of_url); 404 when revoked."""
        try:
            text = await calendar_of_url(runtime, request.path_params["secret"])
        except DomainError as exc:
            return error_response(exc)
        return Response(text, media_type="text/calendar; charset=utf-8", headers={"Cache-Control": "private"})

    async def to_admin(request: Request) -> RedirectResponse:
        return RedirectResponse("/admin/", status_code=303)

    async def to_parents(request: Request) -> RedirectResponse:
        return RedirectResponse("/parents/", status_code=303)

    return Starlette(routes=[Route("/healthz", healthz), *observability_routes(runtime),
                             Route("/parents", to_parents), Mount("/parents", app=parents_app(runtime)),
                             Route("/mcp", endpoint, methods=None), Mount("/mcp", app=endpoint),
                             Mount("/v1", app=v1), Route("/", to_admin), Route("/admin", to_admin),
                             Mount("/admin", app=admin_app(runtime)),
                             Route("/calendar/{secret}.ics", calendar), *unsubscribe_routes(runtime),
                             *(oauth.routes() if oauth is not None else [])],
                     middleware=[Middleware(RequestIdMiddleware), Middleware(HostCheckMiddleware, policy=policy)],
                     lifespan=lifespan)


def create_app_from_env() -> Starlette:
    """App factory for `uvicorn --factory` worker processes: settings, bind host and port from the environment
    (MCS_ERP_HTTP_HOST and MCS_ERP_HTTP_PORT, set by `mcs-erp serve`)."""
    import os

    from domain.kernel.settings import Settings
    from server.runtime import build_runtime

    port = os.environ.get("MCS_ERP_HTTP_PORT", "")
    return create_app(build_runtime(Settings()), host=os.environ.get("MCS_ERP_HTTP_HOST", "127.0.0.1"),
                      port=int(port) if port.isdigit() else None)
