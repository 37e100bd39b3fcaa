"""Authentication at the edges: an API key (or, on /mcp, an OAuth access token: server/oauth.py) over HTTP, the
configured user over stdio and the CLI."""

from __future__ import annotations

import json
from typing import Any, Protocol

from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.errors import ServiceUnavailable, Unauthenticated
from domain.kernel.tenants import TenantSuspended, tenant_in_use
from tools.runtime import Runtime

ACTOR_SCOPE_KEY = "mcs_erp.actor"
# Key management and the demo run as whoever holds the machine's shell and database credentials; audited as such.
CLI_OPERATOR = Actor(id=0, username="cli-operator", roles=frozenset({Role.ADMIN}), channel=Channel.CLI)
ACCESS_TOKEN_PREFIX = "mcsat_"  # domain/oauth/rules.py: an OAuth access token, never an API key (`mcs_...`)


class BearerTokens(Protocol):
    """Resolves OAuth access tokens (server/oauth.py's OAuthServer)."""

    async def actor_for_request(self, scope: dict[str, Any], raw: str, channel: Channel) -> Actor | None: ...

    def challenge(self, *, invalid: bool) -> bytes: ...


def token_toolsets(actor: Actor) -> frozenset[str] | None:
    """The toolsets an OAuth token's scopes allow its actor (None: an API key or stdio, no such limit)."""
    raw = actor.extra.get("toolsets")
    return None if raw is None else frozenset(t for t in raw.split(",") if t)


def key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """Return the API key from `Authorization: Bearer KEY` or `X-API-Key: KEY`, or None."""
    for name, value in headers:
        lname = name.lower()
        if lname == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif lname == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


class ApiKeyMiddleware:
    """ASGI middleware: refuse requests without a valid API key (401), else put the Actor in the scope and run
    the request in the key's tenant; 403 `tenant_suspended` for a key of a suspended tenant; 503 with Retry-After
    when the database is unavailable to look the key up.

    With `tokens` (on /mcp when OAuth is on), a bearer token `mcsat_...` is an OAuth access token resolved by it to
    its user's Actor, and a 401 names the protected-resource metadata (RFC 9728 section 5.1) so an MCP client can
    sign in."""

    def __init__(self, app, runtime: Runtime, channel: Channel = Channel.MCP_HTTP, *,
                 tokens: BearerTokens | None = None):
        self.app = app
        self.runtime = runtime
        self.channel = channel
        self.tokens = tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = key_from_headers(scope.get("headers", []))
        try:
            if key and self.tokens is not None and key.startswith(ACCESS_TOKEN_PREFIX):
                actor = await self.tokens.actor_for_request(scope, key, self.channel)
            else:
                actor = await self.runtime.actor_for_key(key, self.channel) if key else None
        except ServiceUnavailable as exc:  # the key could not be looked up: the client should retry, not re-auth
            body = json.dumps({"error": exc.code, "detail": exc.message}).encode()
            await send({"type": "http.response.start", "status": exc.http_status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"retry-after", str(exc.retry_after_s).encode()),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        except TenantSuspended as exc:  # a valid key of a suspended school: nothing of it is served
            body = json.dumps({"error": exc.code, "detail": exc.message}).encode()
            await send({"type": "http.response.start", "status": exc.http_status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if actor is None:
            detail = ("an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>' "
                      "(create one with `mcs-erp keys create`)") if key is None else "the API key is unknown or revoked"
            challenge = b'Bearer realm="mcs-erp"'
            if self.tokens is not None:
                challenge = self.tokens.challenge(invalid=key is not None)
                if key is not None and key.startswith(ACCESS_TOKEN_PREFIX):
                    detail = "the access token is unknown, expired, revoked or issued for another resource"
            body = json.dumps({"error": "unauthenticated", "detail": detail}).encode()
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"www-authenticate", challenge),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        scope[ACTOR_SCOPE_KEY] = actor
        with tenant_in_use(actor.tenant):  # every unit of work of this request runs in the key's tenant
            await self.app(scope, receive, send)


def actor_from_request(request) -> Actor:
    """Return the Actor the middleware stored for this HTTP request; raises Unauthenticated without one."""
    actor = None if request is None else request.scope.get(ACTOR_SCOPE_KEY)
    if actor is None:
        raise Unauthenticated("no authenticated actor for this request")
    return actor


async def configured_actor(runtime: Runtime, username: str, channel: Channel) -> Actor:
    """Return the Actor of a configured user; raises Unauthenticated naming how to create it."""
    actor = await runtime.actor_for_user(username, channel)
    if actor is None:
        raise Unauthenticated(f"user {username!r} does not exist; run `mcs-erp init` (creates 'admin') or "
                              f"`mcs-erp keys create --user {username} --roles ...`")
    return actor
