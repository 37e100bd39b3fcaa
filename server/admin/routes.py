"""The admin pages, server-rendered under /admin: sign-in with an admin's API key, the approvals queue, an
action's preview with approve/reject, the audit log with its chain verification, and the jobs monitor.

    GET  /admin/                          -> the queue (or the sign-in page)
    GET  /admin/sign-in  POST /admin/sign-in  {api_key}    an admin's API key; other roles are refused
    POST /admin/sign-out
    GET  /admin/actions?status=&tool=&requester=&cursor=  the approvals queue (default: queued)
    GET  /admin/actions/{id}              preview (before/after, totals, affected records), requester, channel
    POST /admin/actions/{id}/approve      {reason?}  -> approve_action as the signed-in admin
    POST /admin/actions/{id}/reject       {reason}   -> reject_action
    GET  /admin/audit?tool=&action_id=&after=         the audit log, its newest checkpoint, and whether it verifies
    GET  /admin/jobs?status=&kind=&cursor=            jobs with status, progress, requester and timings
    GET  /admin/timetable?kind=&code=&week=           the published timetable's week of a section, teacher or
                                                      room: periods and times, lessons, that week's cover

Decisions go through `tools.invoke` as the signed-in admin on Channel.ADMIN_PAGE, so the gate's rules (admin
only, never the requester) hold here as everywhere; a refused decision is shown with the gate's message. Every
POST needs the session's CSRF token; state never changes on a GET (GET on approve/reject is 405).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.actions.schemas import ActionSummaryOut
from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel
from domain.kernel.audit import AuditKeyError, list_audit_entries, load_public_key, newest_checkpoint, verify_audit_log
from domain.kernel.errors import DomainError, InvalidInput, NotFound
from domain.kernel.tenants import TenantSuspended, tenant_in_use
from domain.kernel.settings import Settings
from domain.timetable import service as timetable
from server.admin.sessions import CSRF_FIELD, AdminSession, SessionCookies, csrf_matches, same_origin
from server.admin.views import build_environment
from tools.invoke import invoke
from tools.registry import Effect
from tools.runtime import Runtime
from tools.types import MAX_PAGE_SIZE, encode_cursor

if TYPE_CHECKING:
    from jinja2 import Environment

PAGE_SIZE = 50
MAX_ID = 2_147_483_647
MAX_SCANNED_PAGES = 20  # a filtered queue page reads at most this many pages of list_pending_actions
ACTION_STATUSES = ("queued", "open", "proposed", "executed", "rejected", "cancelled", "expired", "stale",
                   "failed", "all")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
MAX_CODE = 60  # a section, teacher or room code of a timetable
NOTICES = {"approved": "Approved: the action was executed.",
           "rejected": "Rejected: nothing was changed.",
           "signed-out": "You are signed out."}
CSS = (Path(__file__).parent / "static" / "admin.css").read_bytes()
CSP = (b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       b"base-uri 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def school_today(settings: Settings) -> date:
    """Today in the school's time zone (UTC when the zone is unknown)."""
    try:
        return datetime.now(ZoneInfo(settings.school_timezone)).date()
    except (KeyError, ValueError):
        return datetime.now(ZoneInfo("UTC")).date()


class SecurityHeaders:
    """ASGI middleware: strict CSP, no framing, no sniffing; pages are never cached."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                headers += [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AdminPages:
    """The handlers of the admin pages over one runtime."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.cookies = SessionCookies(runtime.settings)

    @cached_property
    def env(self) -> Environment:
        """The templates' environment, made at the first page drawn (jinja2 is not imported before)."""
        return build_environment()

    def routes(self) -> list[Route]:
        """The routes, relative to where the pages are mounted."""
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/sign-in", self.sign_in_form, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Route("/actions", self.queue, methods=["GET"]),
            Route("/actions/{action_id:int}", self.action, methods=["GET"]),
            Route("/actions/{action_id:int}/approve", self.approve, methods=["POST"]),
            Route("/actions/{action_id:int}/reject", self.reject, methods=["POST"]),
            Route("/audit", self.audit, methods=["GET"]),
            Route("/jobs", self.jobs, methods=["GET"]),
            Route("/timetable", self.timetable, methods=["GET"]),
            Route("/static/admin.css", self.stylesheet, methods=["GET"]),
        ]

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def base(request: Request) -> str:
        """The path the pages are mounted at (e.g. /admin), for links and the cookie's path."""
        return request.scope.get("root_path", "").rstrip("/")

    def render(self, request: Request, template: str, *, status: int = 200, actor: Actor | None = None,
               session: AdminSession | None = None, section: str = "", **context: Any) -> HTMLResponse:
        """Render a template with what every page needs: the mount path, the admin, the CSRF token."""
        html = self.env.get_template(template).render(
            base=self.base(request), me=actor, section=section, csrf_field=CSRF_FIELD,
            csrf_token=session.csrf if session is not None else "", **context)
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, status: int, title: str, message: str, *,
                   actor: Actor | None = None, session: AdminSession | None = None) -> HTMLResponse:
        """Render the error page with `status`."""
        return self.render(request, "error.html", status=status, actor=actor, session=session, title=title,
                           message=message)

    def to_sign_in(self, request: Request) -> RedirectResponse:
        """Redirect to the sign-in page."""
        return RedirectResponse(f"{self.base(request)}/sign-in", status_code=303)

    async def signed_in(self, request: Request) -> tuple[Actor, AdminSession] | None:
        """The admin signed in on this request, read again from the database each time (a user deleted or no
        longer an admin is signed out at once), with the session; None when nobody is signed in."""
        session = self.cookies.load(request)
        if session is None or not session.signed_in:
            return None
        actor = await self.runtime.actor_for_user(session.username or "", Channel.ADMIN_PAGE)
        if actor is None or actor.id != session.user_id or not actor.is_admin or actor.tenant != session.tenant:
            return None  # (the tenant: InSessionTenant runs the request in the session's)
        async with self.runtime.db.read() as db:
            if not await identity.key_is_active(db, key_id=session.key_id or 0, user_id=actor.id or 0):
                return None  # the key it was signed in with was revoked
        return actor, session

    async def checked_post(self, request: Request) -> tuple[Actor, AdminSession, Any] | Response:
        """The signed-in admin, the session and the form of a POST; or the 403 page when the request is not from
        the pages' origin, nobody is signed in, or the CSRF token is missing or wrong."""
        if not same_origin(request):
            return self.error_page(request, 403, "Request refused",
                                   "This form was sent from another site; nothing was changed.")
        form = await request.form()
        who = await self.signed_in(request)
        if who is None:
            return self.error_page(request, 403, "Not signed in",
                                   "Your session has ended or you are not signed in; nothing was changed. "
                                   "Sign in again with your API key.")
        actor, session = who
        if not csrf_matches(session, form.get(CSRF_FIELD)):
            return self.error_page(request, 403, "Request refused",
                                   "The form's security token is missing or does not match your session; nothing "
                                   "was changed. Reload the page and try again.", actor=actor, session=session)
        return actor, session, form

    # ------------------------------------------------------------ sign-in and out

    async def home(self, request: Request) -> Response:
        """GET /: the queue when signed in, else the sign-in page."""
        if await self.signed_in(request) is None:
            return self.to_sign_in(request)
        return RedirectResponse(f"{self.base(request)}/actions", status_code=303)

    async def sign_in_form(self, request: Request, *, status: int = 200, error: str | None = None) -> Response:
        """GET /sign-in: the form, with a pre-sign-in session carrying its CSRF token."""
        if error is None and await self.signed_in(request) is not None:
            return RedirectResponse(f"{self.base(request)}/actions", status_code=303)
        loaded = self.cookies.load(request)
        session = loaded if loaded is not None and not loaded.signed_in else self.cookies.anonymous()
        notice = NOTICES.get(request.query_params.get("notice", ""))
        response = self.render(request, "sign_in.html", status=status, session=session, error=error,
                               notice=notice)
        if session is not loaded:
            self.cookies.store(response, session, path=self.base(request) or "/")
        return response

    async def sign_in(self, request: Request) -> Response:
        """POST /sign-in: start a session for an admin's API key; other roles and unknown keys are refused."""
        if not same_origin(request):
            return self.error_page(request, 403, "Request refused", "This form was sent from another site.")
        form = await request.form()
        if not csrf_matches(self.cookies.load(request), form.get(CSRF_FIELD)):
            return await self.sign_in_form(
                request, status=403, error="The sign-in form expired or your browser did not send its cookie; "
                                           "the page was reloaded, please sign in again.")
        key = form.get("api_key")
        key = key.strip() if isinstance(key, str) else ""
        if not key:
            return await self.sign_in_form(request, status=422, error="Enter your API key.")
        code = identity.tenant_of_key(key)  # a school's key signs in to that school's pages only
        try:
            await self.runtime.check_tenant(code)
        except TenantSuspended as exc:
            return await self.sign_in_form(request, status=403, error=exc.message)
        except NotFound:
            code = None  # no such tenant: looked up (and refused) as an unknown key of the default school
        with tenant_in_use(code):
            async with self.runtime.db.read() as db:
                found = await identity.authenticate_key_with_id(db, key, Channel.ADMIN_PAGE)
        if found is None:
            return await self.sign_in_form(request, status=401, error="This API key is unknown or revoked.")
        actor, key_id = found
        if not actor.is_admin:
            roles = ", ".join(sorted(r.value for r in actor.roles))
            return await self.sign_in_form(
                request, status=403, error=f"Only admins can sign in here; {actor.username} has the roles: {roles}.")
        response = RedirectResponse(f"{self.base(request)}/actions", status_code=303)
        self.cookies.store(response, self.cookies.signed_in_as(actor, key_id), path=self.base(request) or "/")
        return response

    async def sign_out(self, request: Request) -> Response:
        """POST /sign-out: delete the session cookie."""
        checked = await self.checked_post(request)
        if isinstance(checked, Response):
            return checked
        response = RedirectResponse(f"{self.base(request)}/sign-in?notice=signed-out", status_code=303)
        self.cookies.clear(response, path=self.base(request) or "/")
        return response

    # ------------------------------------------------------------ the queue and one action

    def gated_tools(self) -> list[str]:
        """The names of the tools that wait at the gate (destructive ones), sorted."""
        return sorted(s.name for s in self.runtime.catalogue.tools.values() if s.effect is Effect.DESTRUCTIVE)

    async def scan_actions(self, actor: Actor, *, status: str, tool: str | None, requester: str | None,
                           cursor: str | None) -> tuple[list[ActionSummaryOut], str | None]:
        """One page of the queue through list_pending_actions, keeping only `tool`'s and `requester`'s actions;
        returns the page and the cursor of the next one (None at the end)."""
        found: list[ActionSummaryOut] = []
        for _ in range(MAX_SCANNED_PAGES):
            args: dict[str, Any] = {"status": status, "limit": MAX_PAGE_SIZE}
            if cursor:
                args["cursor"] = cursor
            page = await invoke(self.runtime, "list_pending_actions", args, actor)
            for i, item in enumerate(page.items):
                if (tool is None or item.tool == tool) and (requester is None or item.requested_by == requester):
                    found.append(item)
                    if len(found) == PAGE_SIZE:
                        last = i == len(page.items) - 1 and page.next_cursor is None
                        return found, None if last else encode_cursor(item.action_id)
            if page.next_cursor is None:
                return found, None
            cursor = page.next_cursor
        return found, cursor  # bounded work per request; the next page continues the scan

    async def queue(self, request: Request) -> Response:
        """GET /actions: the actions of a status (default queued), optionally of one tool or requester."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        q = request.query_params
        status = q.get("status") or "queued"
        tool = q.get("tool") or None
        requester = (q.get("requester") or "").strip() or None
        cursor = q.get("cursor") or None
        error = None
        items: list[ActionSummaryOut] = []
        next_cursor = None
        if status not in ACTION_STATUSES:
            error = f"unknown status {status!r}; choose one of: {', '.join(ACTION_STATUSES)}"
        elif tool is not None and tool not in self.gated_tools():
            error = f"{tool!r} is not a tool that waits at the gate"
        else:
            try:
                items, next_cursor = await self.scan_actions(actor, status=status, tool=tool, requester=requester,
                                                             cursor=cursor)
            except DomainError as exc:
                error = exc.message
        return self.render(request, "actions.html", status=422 if error else 200, actor=actor, session=session,
                           section="actions", items=items, next_cursor=next_cursor, error=error,
                           statuses=ACTION_STATUSES, tools=self.gated_tools(),
                           filters={"status": status, "tool": tool or "", "requester": requester or ""})

    async def action(self, request: Request) -> Response:
        """GET /actions/{id}: one action's preview, requester, channel, outcome and audit trail."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await self.action_page(request, actor, session, request.path_params["action_id"], notice=notice)

    async def action_page(self, request: Request, actor: Actor, session: AdminSession, action_id: int, *,
                          status: int = 200, error: str | None = None, notice: str | None = None,
                          reason: str = "") -> Response:
        """Render an action's page, with a decision's error when one was refused."""
        try:
            action = await invoke(self.runtime, "get_action", {"action_id": action_id}, actor)
        except DomainError as exc:
            return self.error_page(request, exc.http_status, "Action not shown", exc.message, actor=actor,
                                   session=session)
        async with self.runtime.db.read() as db:
            trail = await list_audit_entries(db, action_id=action_id, limit=200)
        mine = action.requested_by == actor.username
        return self.render(request, "action.html", status=status, actor=actor, session=session, section="actions",
                           action=action, trail=trail, mine=mine,
                           can_approve=action.status == "queued" and not mine,
                           can_reject=action.status in ("proposed", "queued") and not mine,
                           error=error, notice=notice, reason=reason)

    async def decide(self, request: Request, tool: str, done: str) -> Response:
        """Call approve_action or reject_action as the signed-in admin; show the gate's error if it refuses."""
        checked = await self.checked_post(request)
        if isinstance(checked, Response):
            return checked
        actor, session, form = checked
        action_id = request.path_params["action_id"]
        reason = form.get("reason")
        reason = reason.strip() if isinstance(reason, str) else ""
        args: dict[str, Any] = {"action_id": action_id}
        if reason:
            args["reason"] = reason
        try:
            await invoke(self.runtime, tool, args, actor)
        except DomainError as exc:
            message = exc.message
            if isinstance(exc, InvalidInput) and exc.field == "reason":
                message = ("A reason of 5 to 1000 characters is required to reject an action." if not reason
                           else "The reason must be 5 to 1000 characters long.")
            return await self.action_page(request, actor, session, action_id, status=exc.http_status,
                                          error=message, reason=reason)
        return RedirectResponse(f"{self.base(request)}/actions/{action_id}?done={done}", status_code=303)

    async def approve(self, request: Request) -> Response:
        """POST /actions/{id}/approve."""
        return await self.decide(request, "approve_action", "approved")

    async def reject(self, request: Request) -> Response:
        """POST /actions/{id}/reject (a reason is required)."""
        return await self.decide(request, "reject_action", "rejected")

    # ------------------------------------------------------------ audit log and jobs

    async def audit(self, request: Request) -> Response:
        """GET /audit: whether the log verifies against its newest checkpoint (and that checkpoint), and its rows from
        `after`, filtered by tool or action."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        q = request.query_params
        tool = (q.get("tool") or "").strip() or None
        error = None
        try:
            after = int(q.get("after") or 0)
            action_id = int(q["action_id"]) if q.get("action_id") else None
            if not 0 <= after <= MAX_ID or (action_id is not None and not 1 <= action_id <= MAX_ID):
                raise ValueError
        except ValueError:
            error, after, action_id = f"after and action_id must be whole numbers (ids, at most {MAX_ID})", 0, None
        key = None
        if self.runtime.settings.audit_key_file is not None:
            try:
                key = load_public_key(self.runtime.settings.audit_key_file)
            except AuditKeyError:
                key = None  # shown as a signature not checked
        async with self.runtime.db.read() as db:
            checkpoint = await newest_checkpoint(db)
            verification = await verify_audit_log(db, checkpoints=[checkpoint] if checkpoint else [], public_key=key)
            rows = await list_audit_entries(db, after_id=after, limit=PAGE_SIZE + 1, tool=tool, action_id=action_id)
        signature_ok = None if key is None or checkpoint is None else checkpoint.signature_ok(key)
        entries = rows[:PAGE_SIZE]
        next_after = entries[-1].id if len(rows) > PAGE_SIZE else None
        return self.render(request, "audit.html", status=422 if error else 200, actor=actor, session=session,
                           section="audit", verification=verification, checkpoint=checkpoint,
                           signature_ok=signature_ok, entries=entries, next_after=next_after,
                           error=error, filters={"tool": tool or "", "after": after,
                                                 "action_id": "" if action_id is None else action_id})

    async def jobs(self, request: Request) -> Response:
        """GET /jobs: jobs with status, progress, requester and timings, filtered by status or kind."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        q = request.query_params
        args: dict[str, Any] = {"limit": PAGE_SIZE}
        status = q.get("status") or ""
        kind = (q.get("kind") or "").strip()
        if status:
            args["status"] = status
        if kind:
            args["kind"] = kind
        if q.get("cursor"):
            args["cursor"] = q["cursor"]
        error = None
        items: list[Any] = []
        next_cursor = None
        try:
            page = await invoke(self.runtime, "list_jobs", args, actor)
            items, next_cursor = page.items, page.next_cursor
        except DomainError as exc:
            error = exc.message
        async with self.runtime.db.read() as db:
            # Job rows carry the requester's user id; name them by the users who hold API keys.
            usernames = {user.id: user.username for _, user in await identity.list_api_keys(db)}
        running = any(job.status in ("queued", "running") for job in items)
        return self.render(request, "jobs.html", status=422 if error else 200, actor=actor, session=session,
                           section="jobs", items=items, next_cursor=next_cursor, error=error, usernames=usernames,
                           statuses=JOB_STATUSES, running=running, filters={"status": status, "kind": kind})

    async def timetable(self, request: Request) -> Response:
        """GET /timetable: the week (of `week`, a date; default today in the school's time zone) of a section,
        teacher or room (`kind`, `code`) of the newest published timetable, with that week's cover; without a code,
        the codes to choose from."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        q = request.query_params
        kind = q.get("kind") or "section"
        code = (q.get("code") or "").strip()[:MAX_CODE]
        error, view, choices = None, None, {}
        try:
            on = date.fromisoformat(q["week"]) if q.get("week") else school_today(self.runtime.settings)
        except ValueError:
            on, error = school_today(self.runtime.settings), "week must be a date, YYYY-MM-DD"
        if kind not in timetable.FEED_KINDS:
            kind, error = "section", f"kind must be one of: {', '.join(timetable.FEED_KINDS)}"
        async with self.runtime.db.read() as db:
            try:
                row, problem, _ = await timetable.published(db, problem_id=None)
                choices = {"section": sorted(c.id for c in problem.curricula),
                           "teacher": sorted({c.teacher for c in problem.courses}),
                           "room": sorted(r.id for r in problem.rooms)}
                if code and error is None:
                    view = await timetable.timetable_week(db, problem_id=row.id, kind=kind, code=code, on=on)
            except DomainError as exc:
                error = exc.message
        return self.render(request, "timetable.html", status=422 if error and choices else 200, actor=actor,
                           session=session, section="timetable", view=view, choices=choices, error=error,
                           filters={"kind": kind, "code": code, "week": on.isoformat()},
                           previous=(on - timedelta(days=7)).isoformat(),
                           following=(on + timedelta(days=7)).isoformat())

    async def stylesheet(self, request: Request) -> Response:
        """GET /static/admin.css."""
        return Response(CSS, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


class InSessionTenant:
    """ASGI middleware: run each request of the admin pages in the tenant (school) of its session's cookie, so an
    admin of school A reads and decides A's actions, audit log and jobs only. A session of a suspended or removed
    tenant gets a 403 page naming why, never the default school's pages."""

    def __init__(self, app: ASGIApp, pages: AdminPages):
        self.app = app
        self.pages = pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = self.pages.cookies.load(Request(scope)) if scope["type"] == "http" else None
        code = session.tenant if session is not None and session.signed_in else None
        if code is not None:
            try:
                await self.pages.runtime.check_tenant(code)
            except (TenantSuspended, NotFound) as exc:
                response = self.pages.error_page(Request(scope), 403, "School unavailable", exc.message)
                await response(scope, receive, send)
                return
        with tenant_in_use(code):
            await self.app(scope, receive, send)


def admin_app(runtime: Runtime) -> ASGIApp:
    """The admin pages as an ASGI app, to mount at /admin (server/app.py)."""
    pages = AdminPages(runtime)
    return SecurityHeaders(InSessionTenant(Router(routes=pages.routes()), pages))
