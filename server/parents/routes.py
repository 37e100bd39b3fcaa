"""The parent pages, server-rendered under /parents: a guardian signs in by a one-time link sent by email, then
reads their children, each child's published grades and attendance, and their family's balance, invoices and
statement. Read-only: nothing but signing in and out is posted.

    GET  /parents/                       -> the guardian's children and family balance (or the sign-in page)
    GET  /parents/sign-in  POST /parents/sign-in  {email}   emails a sign-in link (the same answer for any address)
    GET  /parents/sign-in/link?token=    asks to confirm (mail scanners open links: a GET never signs in)
    POST /parents/sign-in/link  {token}  uses the link once and starts the session
    POST /parents/sign-out
    GET  /parents/children/{student_id}  a child's published grades, attendance, week and the family's balance
    GET  /parents/family/{family_id}     the family's statement of account (the last 365 days)

Security is the admin pages' (server/admin/sessions.py): a signed, HttpOnly, SameSite=Strict cookie of its own name
and salt, expiring after SESSION_SECONDS, a CSRF token on every POST, the same-origin check, the strict CSP and no
caching. The session names the user and the sign-in link used; the user is read again on every request (deleted,
or no longer a guardian: signed out). Every read goes through tools.invoke as the guardian on Channel.PARENT_PAGE,
so the family tools' scope holds here as over MCP: another family's student or family id answers 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp

from domain.family import service as family
from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.errors import DomainError, InvalidInput, NotFound
from domain.kernel.money import format_money
from server.admin.routes import SecurityHeaders
from server.admin.sessions import CSRF_FIELD, AdminSession, SessionCookies, csrf_matches, same_origin
from tools.family import MAX_GRADE_LINES
from tools.invoke import invoke
from tools.runtime import Runtime

if TYPE_CHECKING:
    from jinja2 import Environment

SESSION_COOKIE = "mcs_erp_parent"
SESSION_SALT = "mcs-erp.parent-session"
TEMPLATES = Path(__file__).parent / "templates"
CSS = (Path(__file__).parent / "static" / "parents.css").read_bytes()
ATTENDANCE_DAYS = 30
WEEKDAY_ORDER = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class WeekGrid:
    """A child's week as the parent page draws it: a column per teaching day (in week order), a row per period of
    the day (its number and times), and the lessons in each (day, period) cell; an empty cell is a free period."""

    days: tuple[str, ...]
    periods: tuple[tuple[int, str], ...]  # (period from 0, "08:30–09:20" or "")
    cells: dict[tuple[str, int], tuple[Any, ...]]


def week_grid(lessons: list[Any]) -> WeekGrid:
    """Arrange a child's lessons (ChildLessonOut: weekday, period, starts_at, ends_at, class_code, room) as a
    week grid: the days that have lessons, Monday first; every period from the first to the last that has one (a
    free period in between keeps its row); a period's times from its lessons."""
    days = tuple(d for d in WEEKDAY_ORDER if any(lesson.weekday.lower() == d for lesson in lessons))
    cells: dict[tuple[str, int], list[Any]] = {}
    times: dict[int, str] = {}
    for lesson in sorted(lessons, key=lambda x: (x.period, x.class_code)):
        cells.setdefault((lesson.weekday.lower(), lesson.period), []).append(lesson)
        if lesson.starts_at and lesson.period not in times:
            times[lesson.period] = f"{lesson.starts_at}–{lesson.ends_at}" if lesson.ends_at else lesson.starts_at
    numbers = [lesson.period for lesson in lessons]
    periods = tuple((p, times.get(p, "")) for p in range(min(numbers), max(numbers) + 1)) if numbers else ()
    return WeekGrid(days=days, periods=periods, cells={k: tuple(v) for k, v in cells.items()})
MAX_EMAIL_CHARS = 254
NOTICES = {"signed-out": "You are signed out.",
           "expired": "Your session has ended; ask for a new sign-in link."}


def _money(minor: int | None, currency: str) -> str:
    return "" if minor is None else format_money(minor, currency)


class ParentPages:
    """The handlers of the parent pages over one runtime."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self.cookies = SessionCookies(runtime.settings, cookie=SESSION_COOKIE, salt=SESSION_SALT)

    @cached_property
    def env(self) -> Environment:
        """The templates' environment (autoescaped; undefined names are errors), made at the first page drawn."""
        from jinja2 import Environment, FileSystemLoader, StrictUndefined

        env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)
        env.globals.update(money=_money, school_name=self.runtime.settings.school_name)
        return env

    def routes(self) -> list[Route]:
        """The routes, relative to where the pages are mounted."""
        return [
            Route("/", self.home, methods=["GET"]),
            Route("/sign-in", self.sign_in_form, methods=["GET"]),
            Route("/sign-in", self.sign_in, methods=["POST"]),
            Route("/sign-in/link", self.confirm_form, methods=["GET"]),
            Route("/sign-in/link", self.confirm, methods=["POST"]),
            Route("/sign-out", self.sign_out, methods=["POST"]),
            Route("/children/{student_id:int}", self.child, methods=["GET"]),
            Route("/family/{family_id:int}", self.statement, methods=["GET"]),
            Route("/static/parents.css", self.stylesheet, methods=["GET"]),
        ]

    # ------------------------------------------------------------ plumbing

    @staticmethod
    def base(request: Request) -> str:
        """The path the pages are mounted at (/parents), for links and the cookie's path."""
        return request.scope.get("root_path", "").rstrip("/")

    def render(self, request: Request, template: str, *, status: int = 200, actor: Actor | None = None,
               session: AdminSession | None = None, **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(
            base=self.base(request), me=actor, csrf_field=CSRF_FIELD,
            csrf_token=session.csrf if session is not None else "", minutes=identity.SIGN_IN_LINK_MINUTES,
            **context)
        return HTMLResponse(html, status_code=status)

    def error_page(self, request: Request, status: int, title: str, message: str, *, actor: Actor | None = None,
                   session: AdminSession | None = None) -> HTMLResponse:
        return self.render(request, "error.html", status=status, actor=actor, session=session, title=title,
                           message=message)

    def not_found(self, request: Request, actor: Actor, session: AdminSession) -> HTMLResponse:
        """The one 404 page for anything outside the guardian's family, or missing (told apart by nothing)."""
        return self.error_page(request, 404, "Not found", "There is no such page among your children's and "
                               "family's records.", actor=actor, session=session)

    def to_sign_in(self, request: Request, notice: str | None = None) -> RedirectResponse:
        query = f"?notice={notice}" if notice else ""
        return RedirectResponse(f"{self.base(request)}/sign-in{query}", status_code=303)

    async def signed_in(self, request: Request) -> tuple[Actor, AdminSession] | None:
        """The guardian signed in on this request, read again from the database (a user deleted or no longer a
        guardian is signed out at once), with the session; None when nobody is."""
        session = self.cookies.load(request)
        if session is None or not session.signed_in:
            return None
        actor = await self.runtime.actor_for_user(session.username or "", Channel.PARENT_PAGE)
        if actor is None or actor.id != session.user_id or Role.GUARDIAN not in actor.roles:
            return None
        async with self.runtime.db.read() as db:
            if not await identity.sign_in_link_is_live(db, link_id=session.key_id or 0, user_id=actor.id):
                return None
        return actor, session

    async def checked_form(self, request: Request) -> tuple[AdminSession | None, Any] | Response:
        """The session and form of a POST from these pages, or the 403 page (another origin, no or wrong CSRF
        token)."""
        if not same_origin(request):
            return self.error_page(request, 403, "Request refused", "This form was sent from another site.")
        form = await request.form()
        session = self.cookies.load(request)
        if not csrf_matches(session, form.get(CSRF_FIELD)):
            return self.error_page(request, 403, "Request refused",
                                   "The form expired or your browser did not send its cookie; open the page again.")
        return session, form

    def with_session(self, request: Request, response: Response, loaded: AdminSession | None,
                     session: AdminSession) -> Response:
        if session is not loaded:
            self.cookies.store(response, session, path=self.base(request) or "/")
        return response

    # ------------------------------------------------------------ signing in and out

    async def sign_in_form(self, request: Request) -> Response:
        """GET /sign-in: the email form, with a pre-sign-in session carrying its CSRF token."""
        if await self.signed_in(request) is not None:
            return RedirectResponse(f"{self.base(request)}/", status_code=303)
        loaded = self.cookies.load(request)
        session = loaded if loaded is not None and not loaded.signed_in else self.cookies.anonymous()
        notice = NOTICES.get(request.query_params.get("notice", ""))
        return self.with_session(request, self.render(request, "sign_in.html", session=session, notice=notice,
                                                      error=None), loaded, session)

    async def sign_in(self, request: Request) -> Response:
        """POST /sign-in {email}: email a sign-in link when the address is a guardian's account; the page says the
        same for any address, so an address cannot be probed."""
        checked = await self.checked_form(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        email = form.get("email")
        email = email.strip()[:MAX_EMAIL_CHARS + 1] if isinstance(email, str) else ""
        try:
            async with self.runtime.db.write() as db:
                await family.request_sign_in_link(db, email=email, public_url=self.runtime.settings.public_url,
                                                  school_name=self.runtime.settings.school_name)
        except InvalidInput:
            return self.render(request, "sign_in.html", status=422, session=session, notice=None,
                               error="Enter one email address, such as name@example.org.")
        return self.render(request, "sent.html", session=session, email=email)

    async def confirm_form(self, request: Request) -> Response:
        """GET /sign-in/link?token=: a page asking to sign in (the POST uses the link)."""
        token = request.query_params.get("token", "")[:identity.MAX_TOKEN_CHARS + 1]
        loaded = self.cookies.load(request)
        session = loaded if loaded is not None and not loaded.signed_in else self.cookies.anonymous()
        return self.with_session(request, self.render(request, "confirm.html", session=session, token=token),
                                 loaded, session)

    async def confirm(self, request: Request) -> Response:
        """POST /sign-in/link {token}: use the one-time link and start a session with a new CSRF token."""
        checked = await self.checked_form(request)
        if isinstance(checked, Response):
            return checked
        _session, form = checked
        token = form.get("token")
        try:
            async with self.runtime.db.write() as db:
                actor, link_id = await identity.redeem_sign_in_link(db, token if isinstance(token, str) else "",
                                                                    Channel.PARENT_PAGE)
        except NotFound as exc:
            return self.error_page(request, 400, "This link does not work", exc.message)
        if Role.GUARDIAN not in actor.roles:
            return self.error_page(request, 403, "Not a parent account",
                                   "These pages are for parents and guardians.")
        response = RedirectResponse(f"{self.base(request)}/", status_code=303)
        self.cookies.store(response, self.cookies.signed_in_as(actor, link_id), path=self.base(request) or "/")
        return response

    async def sign_out(self, request: Request) -> Response:
        """POST /sign-out: delete the session cookie."""
        checked = await self.checked_form(request)
        if isinstance(checked, Response):
            return checked
        response = self.to_sign_in(request, "signed-out")
        self.cookies.clear(response, path=self.base(request) or "/")
        return response

    # ------------------------------------------------------------ the guardian's pages

    async def home(self, request: Request) -> Response:
        """GET /: the guardian's children and their family's balance."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        children = (await invoke(self.runtime, "get_my_children", {}, actor)).children
        accounts, account_error = [], None
        for family_id in sorted({c.family_id for c in children if c.family_id is not None}):
            try:
                accounts.append(await invoke(self.runtime, "get_my_family_balance", {"family_id": family_id}, actor))
            except DomainError as exc:
                account_error = exc.message
        return self.render(request, "home.html", actor=actor, session=session, children=children,
                           accounts=accounts, account_error=account_error)

    async def child(self, request: Request) -> Response:
        """GET /children/{student_id}: one child's published grades, attendance and the family's balance; 404 for
        a student who is not the guardian's child (whether or not it exists)."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        student_id = request.path_params["student_id"]
        try:
            transcript = await invoke(self.runtime, "get_child_transcript",
                                      {"student_id": student_id, "limit": MAX_GRADE_LINES}, actor)
            attendance = await invoke(self.runtime, "get_child_attendance", {"student_id": student_id}, actor)
            week = await invoke(self.runtime, "get_child_timetable", {"student_id": student_id}, actor)
            children = (await invoke(self.runtime, "get_my_children", {}, actor)).children
        except (NotFound, InvalidInput):  # an id out of range is as unknown as another family's
            return self.not_found(request, actor, session)
        family_id = next((c.family_id for c in children if c.student_id == student_id), None)
        account = None
        if family_id is not None:
            account = await invoke(self.runtime, "get_my_family_balance", {"family_id": family_id}, actor)
        return self.render(request, "child.html", actor=actor, session=session, transcript=transcript,
                           attendance=attendance, week=week, grid=week_grid(week.lessons), account=account,
                           days=ATTENDANCE_DAYS)

    async def statement(self, request: Request) -> Response:
        """GET /family/{family_id}: the family's statement of account for the last 365 days; 404 for another
        family's id."""
        who = await self.signed_in(request)
        if who is None:
            return self.to_sign_in(request)
        actor, session = who
        try:
            statement = await invoke(self.runtime, "get_my_family_statement",
                                     {"family_id": request.path_params["family_id"]}, actor)
        except (NotFound, InvalidInput):
            return self.not_found(request, actor, session)
        return self.render(request, "family.html", actor=actor, session=session, statement=statement)

    async def stylesheet(self, request: Request) -> Response:
        """GET /static/parents.css."""
        return Response(CSS, media_type="text/css", headers={"cache-control": "public, max-age=3600"})


def parents_app(runtime: Runtime) -> ASGIApp:
    """The parent pages as an ASGI app, to mount at /parents (server/app.py)."""
    return SecurityHeaders(Router(routes=ParentPages(runtime).routes()))
