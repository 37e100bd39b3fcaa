"""The unsubscribe link of optional notifications (domain/notifications): GET shows what the link switches off and
a button; POST switches it off (also the one-click POST a mail client sends, RFC 8058 s 3.1). GET never changes
anything, since mail scanners open links. The token is the credential: `<tenant>.<token>` or `<token>`; a wrong
one answers 404 and reveals nothing."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from domain.kernel.errors import DomainError
from domain.kernel.tenants import tenant_in_use
from domain.notifications import service as notifications
from tools.runtime import Runtime

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 36em; margin: 3em auto"><h1>{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status,
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def unsubscribe_routes(runtime: Runtime) -> list[Route]:
    """The GET and POST of notifications.UNSUBSCRIBE_PATH."""

    async def unsubscribe(request: Request) -> HTMLResponse:
        secret = request.query_params.get("token", "")
        tenant, _, token = secret.rpartition(".")
        try:
            await runtime.check_tenant(tenant or None)
            with tenant_in_use(tenant or None):
                if request.method == "POST":
                    async with runtime.db.write() as session:
                        done = await notifications.unsubscribe(session, token)
                    return _page("Unsubscribed", f"<p>{escape(done.email)} will no longer receive these emails: "
                                                 f"{escape(done.description)}</p>")
                async with runtime.db.read() as session:
                    target = await notifications.unsubscribe_target(session, token)
        except DomainError as exc:
            if exc.code in ("not_found", "invalid_input"):  # an unknown token or tenant, a malformed tenant code
                return _page("Link not valid", "<p>This unsubscribe link is not valid. It may have been copied "
                                               "incompletely.</p>", status=404)
            return _page("Try again later", f"<p>{escape(exc.message)}</p>", status=exc.http_status)
        return _page("Unsubscribe", f"<p>Stop sending these emails to {escape(target.email)}: "
                                    f"{escape(target.description)}</p><form method=\"post\"><button type=\"submit\">"
                                    "Unsubscribe</button></form>")

    return [Route(notifications.UNSUBSCRIBE_PATH, unsubscribe, methods=["GET", "POST"])]
