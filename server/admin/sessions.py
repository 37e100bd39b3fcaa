"""Sessions and CSRF protection of the admin pages.

A session is a cookie signed with itsdangerous (HttpOnly, SameSite=Strict, Secure when `cookie_secure`): the
signed-in admin's user id and username, the id of the API key they signed in with (revoking it ends the
session), a random per-session CSRF token and the time it was issued. It holds no API key. The signature's timestamp makes it expire (SESSION_SECONDS after sign-in); signing out deletes it.
Every POST must carry the session's token in a hidden field (compared in constant time) and, when the browser
sends Origin or Referer, come from the pages' own origin.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from domain.kernel.actor import Actor
from domain.kernel.settings import Settings
from domain.kernel.tenants import CODE_PATTERN

SESSION_COOKIE = "mcs_erp_admin"
SESSION_SECONDS = 8 * 3600
CSRF_FIELD = "csrf_token"
SESSION_SALT = "mcs-erp.admin-session"


def new_token() -> str:
    """Return a fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class AdminSession:
    """What the session cookie holds: the CSRF token, and once signed in the admin's user id and username."""

    csrf: str
    user_id: int | None = None
    username: str | None = None
    signed_in_at: float | None = None
    key_id: int | None = None  # the API key signed in with: revoking it ends the session
    tenant: str | None = None  # the school (tenant) of that key: every page of the session is that tenant's

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None and self.username is not None and self.key_id is not None


class SessionCookies:
    """Issue, read and delete the signed session cookie of the admin pages."""

    def __init__(self, settings: Settings, *, max_age: int = SESSION_SECONDS, cookie: str = SESSION_COOKIE,
                 salt: str = SESSION_SALT):
        # Without a configured secret each process signs with its own random one: sessions end at restart. Pages
        # with their own sign-in (the parent pages) pass their own cookie name and salt: a cookie of one is never
        # a session of the other.
        secret = (settings.session_secret.get_secret_value() if settings.session_secret is not None
                  else secrets.token_urlsafe(48))
        self.cookie = cookie
        self._serializer = URLSafeTimedSerializer(secret, salt=salt)
        self.secure = settings.cookie_secure
        self.max_age = max_age

    def load(self, request: Request) -> AdminSession | None:
        """Return the request's session, or None when the cookie is absent, forged, malformed or expired."""
        raw = request.cookies.get(self.cookie)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str) or not data["csrf"]:
            return None
        user_id, username, at, key_id = data.get("uid"), data.get("user"), data.get("at"), data.get("kid")
        tenant = data.get("tn")
        if user_id is None:
            return AdminSession(csrf=data["csrf"])
        if (not isinstance(user_id, int) or not isinstance(username, str) or not isinstance(at, int | float)
                or not isinstance(key_id, int)
                or not (tenant is None or (isinstance(tenant, str) and CODE_PATTERN.fullmatch(tenant)))):
            return None
        return AdminSession(csrf=data["csrf"], user_id=user_id, username=username, signed_in_at=float(at),
                            key_id=key_id, tenant=tenant)

    @staticmethod
    def anonymous() -> AdminSession:
        """A session before sign-in: only a CSRF token, so the sign-in form is protected too."""
        return AdminSession(csrf=new_token())

    @staticmethod
    def signed_in_as(actor: Actor, key_id: int) -> AdminSession:
        """A new session for `actor`, signed in with API key `key_id`, with a new CSRF token (never the one used
        before sign-in)."""
        return AdminSession(csrf=new_token(), user_id=actor.id, username=actor.username, signed_in_at=time.time(),
                            key_id=key_id, tenant=actor.tenant)

    def store(self, response: Response, session: AdminSession, *, path: str) -> None:
        """Set the cookie carrying `session` on `response`, for the pages under `path`."""
        data: dict = {"csrf": session.csrf}
        if session.signed_in:
            data.update(uid=session.user_id, user=session.username, at=session.signed_in_at, kid=session.key_id)
            if session.tenant is not None:
                data["tn"] = session.tenant
        response.set_cookie(self.cookie, self._serializer.dumps(data), max_age=self.max_age, path=path or "/",
                            secure=self.secure, httponly=True, samesite="strict")

    def clear(self, response: Response, *, path: str) -> None:
        """Delete the session cookie."""
        response.delete_cookie(self.cookie, path=path or "/", secure=self.secure, httponly=True,
                               samesite="strict")


def csrf_matches(session: AdminSession | None, submitted: object) -> bool:
    """Return True when `submitted` is the session's CSRF token (constant-time comparison)."""
    if session is None or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode())


def same_origin(request: Request) -> bool:
    """Return True unless the request's Origin (or, without it, its Referer) names another site than the Host
    it was sent to. Requests carrying neither header pass; the CSRF token still guards them."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if claimed is None:
        return True
    if claimed == "null":  # sandboxed frames, cross-origin redirects, file:// pages
        return False
    parts = urlsplit(claimed)
    host = request.headers.get("host", "")
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()
