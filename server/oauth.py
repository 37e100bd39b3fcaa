"""mcs-erp as its own OAuth 2.1 authorization server for remote MCP clients (Claude and ChatGPT connectors), on
the official `mcp` SDK's auth support: its provider protocol (`OAuthAuthorizationServerProvider`), its handlers of
/authorize, /token, /register and /revoke and of the metadata documents, and its bearer-token verification.

    GET  /.well-known/oauth-protected-resource/mcp   RFC 9728: the resource (<public_url>/mcp) and its issuer
    GET  /.well-known/oauth-authorization-server     RFC 8414: endpoints, S256 only, scopes (toolset names)
    POST /register                                   RFC 7591 dynamic client registration
    GET  /authorize                                  authorization code + PKCE (S256), RFC 8707 `resource`
    POST /token                                      authorization_code | refresh_token (rotated)
    POST /revoke                                     RFC 7009
    GET  /oauth/consent?request=...  POST /oauth/sign-in  POST /oauth/consent   sign in, then allow or deny
    GET  /oauth/clients  POST /oauth/clients/revoke  POST /oauth/sign-out        the apps a user connected

The issuer is MCS_ERP_PUBLIC_URL (https, or http on a loopback host: RFC 8414 and the SDK refuse anything else;
the routes are then not served); the protected resource is <public_url>/mcp. An access token is refused for any
other resource (RFC 8707: `AuthSettings.validate_token_resource`, the SDK's BearerAuthBackend compares the
token's resource with ours), and /authorize refuses a `resource` other than ours with `invalid_target`.

Sign-in uses what the admin pages use (server/admin/sessions.py): a user's API key, a signed HttpOnly
SameSite=Strict cookie (its own name and salt, path /oauth), a CSRF token on every form and an Origin check;
the session names the key's tenant, and ends when that key is revoked. Any role may sign in here (a teacher
connects Claude as a teacher); the consent page names the client, the user, their roles and the toolsets the
token may use.

Scopes are toolset names (tools/toolsets.py): a token lists and calls only tools of its toolsets, and only those
its user's roles allow; the gate, row scopes and data-access policy apply to it unchanged, since a token resolves
to the same Actor (user, roles, tenant) as the user's API key. Tokens live in the user's tenant and name it
(`mcsat_<tenant>.<secret>`), as keys do; clients live in the default tenant (domain/oauth/models.py).

Errors answer with the RFCs' codes: invalid_request, invalid_client, invalid_grant, invalid_scope,
invalid_target, unsupported_grant_type, access_denied (RFC 6749 sections 4.1.2.1 and 5.2, RFC 8707 section 2),
invalid_redirect_uri and invalid_client_metadata (RFC 7591 section 3.2.2), invalid_token (RFC 6750 section 3.1).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import secrets
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from mcp.server.auth.handlers.authorize import AuthorizationHandler
from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.handlers.register import RegistrationHandler
from mcp.server.auth.handlers.revoke import RevocationHandler
from mcp.server.auth.handlers.token import TokenHandler
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend
from mcp.server.auth.middleware.client_auth import AuthenticationError, ClientAuthenticator
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    ProviderTokenVerifier,
    RefreshToken,
    RegistrationError,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import build_metadata, create_protected_resource_routes, validate_issuer_url
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, RequestBodyLimitMiddleware
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.datastructures import FormData
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route, request_response

from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel
from domain.kernel.errors import DomainError
from domain.kernel.tenants import tenant_in_use
from domain.oauth import rules
from domain.oauth import service as oauth
from server.admin.routes import CSP, SecurityHeaders
from server.admin.sessions import SESSION_SECONDS, csrf_matches, new_token, same_origin
from tools.runtime import Runtime
from tools.toolsets import TOOLSETS, callable_count

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "oauth_templates"
COOKIE = "mcs_erp_oauth"
COOKIE_PATH = "/oauth"
SESSION_SALT = "mcs-erp.oauth-session"
REQUEST_SALT = "mcs-erp.oauth-request"
REQUEST_SECONDS = 600  # a pending authorization request (sign-in and consent) lasts ten minutes
MCP_PATH = "/mcp"
MAX_FORM_FIELD = 4000
SAFE_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|http://\[::1\](:[0-9]{1,5})?")


class McsAuthorizationCode(AuthorizationCode):
    """An authorization code as the SDK's token handler needs it, with where it lives."""

    code_id: int
    tenant: str | None


class McsRefreshToken(RefreshToken):
    """A refresh token as the SDK needs it, with where it lives."""

    token_id: int
    tenant: str | None


class McsAccessToken(AccessToken):
    """An access token as the SDK's bearer backend needs it, with its user and where it lives."""

    token_id: int
    tenant: str | None
    user_id: int


def oauth_urls(public_url: str) -> tuple[AnyHttpUrl, AnyHttpUrl] | None:
    """The issuer (`public_url`) and the protected resource (`public_url`/mcp), or None when `public_url` may not
    be an issuer (RFC 8414 section 2: https, or http on a loopback host for testing; no query or fragment)."""
    base = public_url.rstrip("/")
    try:  # AuthSettings keeps a path-less issuer without a trailing slash (RFC 8414 compares issuers as strings)
        urls = AuthSettings(issuer_url=base, resource_server_url=base + MCP_PATH,  # type: ignore[arg-type]
                            validate_token_resource=True)
        validate_issuer_url(urls.issuer_url)
    except ValueError as exc:
        log.warning("OAuth sign-in is off: MCS_ERP_PUBLIC_URL %r cannot be an issuer (%s)", public_url, exc)
        return None
    assert urls.resource_server_url is not None
    return urls.issuer_url, urls.resource_server_url


def same_resource(requested: str, ours: str) -> bool:
    """Whether the RFC 8707 `resource` a client asked for names our MCP endpoint: the same scheme, host, port and
    path (a trailing slash aside, scheme and host in any case). The query is not compared: on /mcp it only picks
    the toolsets listed (`?toolsets=`), and MCP clients send the URL they were given."""
    if len(requested) > rules.MAX_URI:
        return False
    a, b = urlsplit(requested), urlsplit(ours)
    return (a.scheme.lower(), a.netloc.lower(), a.path.rstrip("/")) == (b.scheme.lower(), b.netloc.lower(),
                                                                          b.path.rstrip("/")) and not a.fragment


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be a registered redirect URI, or None. OAuth 2.1 section 2.3.1 and RFC 8252: https, or
    http on a loopback host (a native app's local listener); no fragment; at most rules.MAX_URI characters."""
    if len(uri) > rules.MAX_URI:
        return f"a redirect URI has {len(uri)} characters; at most {rules.MAX_URI} are allowed"
    parts = urlsplit(uri)
    if parts.fragment:
        return f"redirect URI {uri!r} has a fragment; fragments are not allowed (RFC 6749 section 3.1.2)"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return None
    return (f"redirect URI {uri!r} is not allowed: use https, or http on localhost, 127.0.0.1 or [::1] "
            "(OAuth 2.1 section 2.3.1, RFC 8252 section 7.3)")


class McsOAuthProvider:
    """The SDK's OAuthAuthorizationServerProvider over domain/oauth: clients in the default tenant, grants, codes
    and tokens in the tenant their value names. Each method is one unit of work."""

    def __init__(self, runtime: Runtime, issuer: AnyHttpUrl, resource: AnyHttpUrl, requests: URLSafeTimedSerializer):
        self.runtime = runtime
        self.issuer = issuer
        self.resource = str(resource)
        self.requests = requests

    # ------------------------------------------------------------ clients

    async def client_record(self, client_id: str) -> tuple[OAuthClientInformationFull, str | None] | None:
        """The registered client `client_id` as the SDK knows it (no secret: only its hash is stored), and that
        hash; None for an unknown id."""
        with tenant_in_use(None):
            async with self.runtime.db.read() as session:
                found = await oauth.get_client(session, client_id)
        if found is None:
            return None
        client, metadata = found
        info = OAuthClientInformationFull.model_validate({**metadata, "client_id": client.client_id,
                                                          "client_secret": None})
        return info, client.secret_hash

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        found = await self.client_record(client_id)
        return None if found is None else found[0]

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        """Store a client the SDK's registration handler validated, after our own bounds: 1 to MAX_REDIRECT_URIS
        redirect URIs each allowed by `redirect_uri_problem`, a name of at most MAX_CLIENT_NAME characters."""
        uris = [str(u) for u in client_info.redirect_uris or []]
        if not uris or len(uris) > rules.MAX_REDIRECT_URIS:
            raise RegistrationError("invalid_redirect_uri",
                                    f"register 1 to {rules.MAX_REDIRECT_URIS} redirect URIs, not {len(uris)}")
        for uri in uris:
            if (problem := redirect_uri_problem(uri)) is not None:
                raise RegistrationError("invalid_redirect_uri", problem)
        name = client_info.client_name or ""
        if len(name) > rules.MAX_CLIENT_NAME:
            raise RegistrationError("invalid_client_metadata",
                                    f"client_name has {len(name)} characters; at most {rules.MAX_CLIENT_NAME}")
        if client_info.token_endpoint_auth_method not in ("none", "client_secret_post", "client_secret_basic"):
            raise RegistrationError("invalid_client_metadata", "token_endpoint_auth_method must be one of none, "
                                    "client_secret_post, client_secret_basic")
        metadata = client_info.model_dump(mode="json", exclude_none=True, exclude={"client_secret"})
        if len(str(metadata)) > 20_000:
            raise RegistrationError("invalid_client_metadata", "the client metadata is over 20000 characters")
        with tenant_in_use(None):
            async with self.runtime.db.write() as session:
                await oauth.register_client(session, client_id=client_info.client_id, client_name=name,
                                            secret=client_info.client_secret, client_metadata=metadata)

    # ------------------------------------------------------------ authorization

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        """Check what the SDK leaves to us (the resource, the sizes), then send the browser to sign in and consent
        with the request signed into the URL (REQUEST_SECONDS to finish)."""
        if params.resource is not None and not same_resource(params.resource, self.resource):
            raise AuthorizeError("invalid_target", f"this server issues tokens for the resource {self.resource} "
                                                   f"only, not {params.resource[:200]!r} (RFC 8707)")
        if len(params.code_challenge) != rules.PKCE_CHALLENGE_LENGTH:
            raise AuthorizeError("invalid_request", "code_challenge must be the 43-character base64url S256 "
                                                    "challenge of RFC 7636 section 4.2")
        if params.state is not None and len(params.state) > rules.MAX_STATE:
            raise AuthorizeError("invalid_request", f"state is over {rules.MAX_STATE} characters")
        scopes = params.scopes if params.scopes is not None else (client.scope or "").split()
        scopes = [s for s in scopes if s] or [t.name for t in TOOLSETS]
        if len(scopes) > rules.MAX_SCOPES:
            raise AuthorizeError("invalid_scope", f"at most {rules.MAX_SCOPES} scopes may be requested")
        known = {t.name for t in TOOLSETS}
        if unknown := [s for s in scopes if s not in known]:
            raise AuthorizeError("invalid_scope", f"unknown scope(s) {', '.join(unknown)[:200]}; the scopes are "
                                                  f"the toolsets: {', '.join(sorted(known))}")
        token = self.requests.dumps({
            "client_id": client.client_id, "redirect_uri": str(params.redirect_uri),
            "explicit": params.redirect_uri_provided_explicitly, "challenge": params.code_challenge,
            "state": params.state, "scopes": scopes, "resource": self.resource})
        return f"{str(self.issuer).rstrip('/')}/oauth/consent?{urlencode({'request': token})}"

    async def _tenant_ok(self, tenant: str | None) -> bool:
        try:
            await self.runtime.check_tenant(tenant)
        except DomainError:  # unknown or suspended: nothing of it is served
            return False
        return True

    async def load_authorization_code(self, client: OAuthClientInformationFull,
                                      authorization_code: str) -> McsAuthorizationCode | None:
        ok, tenant = rules.tenant_of(authorization_code, rules.CODE_PREFIX)
        if not ok or not await self._tenant_ok(tenant):
            return None
        with tenant_in_use(tenant):
            async with self.runtime.db.write() as session:  # a replayed code revokes its grant
                record = await oauth.load_code(session, authorization_code)
        if record is None:
            return None
        return McsAuthorizationCode(code=authorization_code, scopes=record.scopes, expires_at=record.expires_at,
                                    client_id=record.client_id, code_challenge=record.code_challenge,
                                    redirect_uri=record.redirect_uri,
                                    redirect_uri_provided_explicitly=record.redirect_uri_explicit,
                                    resource=record.resource, subject=str(record.user_id), code_id=record.id,
                                    tenant=tenant)

    @staticmethod
    def _token(issued: oauth.IssuedTokens) -> OAuthToken:
        return OAuthToken(access_token=issued.access_token, token_type="Bearer", expires_in=issued.expires_in,
                          scope=" ".join(issued.scopes), refresh_token=issued.refresh_token)

    async def _refused(self, exc: oauth.OAuthRefused, tenant: str | None) -> TokenError:
        """The token endpoint's answer to a refusal; a replay found by losing a race revokes its grant in a unit of
        work of its own (the refused one rolled back)."""
        grant_id = exc.details.get("replayed_grant")
        if isinstance(grant_id, int):
            with tenant_in_use(tenant):
                async with self.runtime.db.write() as session:
                    await oauth.revoke_replayed_grant(session, grant_id=grant_id, reason=exc.details["reason"])
            self.runtime._key_cache.clear()
        return TokenError("invalid_grant", exc.message)

    async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: McsAuthorizationCode) -> OAuthToken:
        try:
            with tenant_in_use(authorization_code.tenant):
                async with self.runtime.db.write() as session:
                    issued = await oauth.exchange_code(session, code_id=authorization_code.code_id,
                                                       client_id=client.client_id)
        except oauth.OAuthRefused as exc:
            raise await self._refused(exc, authorization_code.tenant) from None
        return self._token(issued)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> McsRefreshToken | None:
        ok, tenant = rules.tenant_of(refresh_token, rules.REFRESH_PREFIX)
        if not ok or not await self._tenant_ok(tenant):
            return None
        with tenant_in_use(tenant):
            async with self.runtime.db.write() as session:  # a replayed refresh token revokes its grant
                record = await oauth.load_refresh_token(session, refresh_token)
        if record is None:
            return None
        return McsRefreshToken(token=refresh_token, client_id=record.client_id, scopes=record.scopes,
                               expires_at=record.expires_at, resource=record.resource, subject=str(record.user_id),
                               token_id=record.id, tenant=tenant)

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: McsRefreshToken,
                                     scopes: list[str]) -> OAuthToken:
        try:
            with tenant_in_use(refresh_token.tenant):
                async with self.runtime.db.write() as session:
                    issued = await oauth.rotate_refresh_token(session, token_id=refresh_token.token_id,
                                                              client_id=client.client_id, scopes=scopes)
        except oauth.OAuthRefused as exc:
            raise await self._refused(exc, refresh_token.tenant) from None
        return self._token(issued)

    async def load_access_token(self, token: str) -> McsAccessToken | None:
        ok, tenant = rules.tenant_of(token, rules.ACCESS_PREFIX)
        if not ok or not await self._tenant_ok(tenant):
            return None
        with tenant_in_use(tenant):
            async with self.runtime.db.read() as session:
                record = await oauth.load_access_token(session, token)
        if record is None:
            return None
        return McsAccessToken(token=token, client_id=record.client_id, scopes=record.scopes,
                              expires_at=record.expires_at, resource=record.resource, subject=str(record.user_id),
                              token_id=record.id, tenant=tenant, user_id=record.user_id)

    async def revoke_token(self, token: McsAccessToken | McsRefreshToken) -> None:
        with tenant_in_use(token.tenant):
            async with self.runtime.db.write() as session:
                await oauth.revoke_token(session, token_id=token.token_id, client_id=token.client_id)
        # This process forgets its lookups at once (the grant's other tokens included); other processes within
        # key_cache_seconds, as for a revoked API key.
        self.runtime._key_cache.clear()

    async def exchange_identity_assertion(self, client, params) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "this server supports authorization_code and refresh_token only")


class HashedSecretAuthenticator(ClientAuthenticator):
    """The SDK's client authentication at /token and /revoke (client_secret_basic, client_secret_post, or none for
    a public client), against the stored SHA-256 of the secret instead of the secret itself."""

    provider: McsOAuthProvider

    async def authenticate_request(self, request: Request) -> OAuthClientInformationFull:
        form = await request.form()
        client_id = form.get("client_id")
        if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            raise AuthenticationError("client_id is missing or longer than 64 characters")
        found = await self.provider.client_record(client_id)
        if found is None:
            raise AuthenticationError("unknown client_id; register the client first (POST /register)")
        client, secret_hash = found
        method = client.token_endpoint_auth_method or "client_secret_post"
        if method == "none":
            return client
        presented: str | None = None
        if method == "client_secret_basic":
            header = request.headers.get("authorization", "")
            if not header.startswith("Basic "):
                raise AuthenticationError("this client authenticates with HTTP Basic (client_secret_basic)")
            try:
                basic_id, _, presented = base64.b64decode(header[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError, binascii.Error):
                raise AuthenticationError("the Basic authorization header is malformed") from None
            if unquote(basic_id) != client_id:
                raise AuthenticationError("the client id in the Basic header differs from client_id")
            presented = unquote(presented)
        else:
            value = form.get("client_secret")
            presented = value if isinstance(value, str) else None
        if secret_hash is None or not rules.secret_matches(secret_hash, presented):
            raise AuthenticationError("the client secret is missing or wrong")
        return client


class PublicClientRevocationHandler(RevocationHandler):
    """The SDK's RFC 7009 revocation handler, taking a public client's request without a client_secret field: the
    SDK's RevocationRequest declares `client_secret: str | None` without a default, so it refuses a request that
    RFC 7009 section 2.1 allows (a public client sends only client_id). The missing field is read as empty; our
    authenticator still requires the secret of a confidential client."""

    async def handle(self, request: Request) -> Response:
        form = await request.form()
        if "client_secret" not in form:
            # Starlette keeps the parsed form on the request (`_form`); the SDK's handler reads it from there.
            request._form = FormData([*form.multi_items(), ("client_secret", "")])
        return await super().handle(request)


class OAuthPages:
    """Sign-in, consent and the connected-apps pages, with the admin pages' session security."""

    def __init__(self, runtime: Runtime, provider: McsOAuthProvider, secret: str):
        self.runtime = runtime
        self.provider = provider
        self.sessions = URLSafeTimedSerializer(secret, salt=SESSION_SALT)
        self.secure = runtime.settings.cookie_secure

    @cached_property
    def env(self) -> Environment:
        from jinja2 import Environment, FileSystemLoader, select_autoescape

        return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))

    # ------------------------------------------------------------ session

    def load_session(self, request: Request) -> dict[str, Any]:
        """The session: {'csrf'} before sign-in; with 'uid', 'user', 'kid' and 'tenant' after. A forged, expired
        or malformed cookie gives a new anonymous session."""
        raw = request.cookies.get(COOKIE)
        if raw and len(raw) < 4000:
            try:
                data = self.sessions.loads(raw, max_age=SESSION_SECONDS)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("csrf"), str) and data["csrf"]:
                return data
        return {"csrf": new_token()}

    def store(self, response: Response, session: dict[str, Any]) -> None:
        response.set_cookie(COOKIE, self.sessions.dumps(session), max_age=SESSION_SECONDS, path=COOKIE_PATH,
                            secure=self.secure, httponly=True, samesite="strict")

    async def signed_in(self, session: dict[str, Any]) -> Actor | None:
        """The user of the session, read again (a deleted user or a revoked key ends it), or None."""
        uid, user, kid, tenant = (session.get(k) for k in ("uid", "user", "kid", "tenant"))
        if not isinstance(uid, int) or not isinstance(user, str) or not isinstance(kid, int):
            return None
        if tenant is not None and (not isinstance(tenant, str) or not await self.provider._tenant_ok(tenant)):
            return None
        with tenant_in_use(tenant):
            actor = await self.runtime.actor_for_user(user, Channel.MCP_HTTP)
            if actor is None or actor.id != uid:
                return None
            async with self.runtime.db.read() as db:
                if not await identity.key_is_active(db, key_id=kid, user_id=uid):
                    return None
        return actor

    def render(self, template: str, *, status: int = 200, session: dict[str, Any], me: Actor | None = None,
               **context: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(csrf_token=session["csrf"], me=me, **context)
        response = HTMLResponse(html, status_code=status)
        self.store(response, session)
        return response

    def error(self, status: int, title: str, message: str, session: dict[str, Any],
              me: Actor | None = None) -> HTMLResponse:
        return self.render("error.html", status=status, session=session, me=me, title=title, message=message)

    def pending(self, token: object) -> dict[str, Any] | None:
        """The authorization request signed by McsOAuthProvider.authorize, or None when forged or expired."""
        if not isinstance(token, str) or not token or len(token) > MAX_FORM_FIELD:
            return None
        try:
            data = self.provider.requests.loads(token, max_age=REQUEST_SECONDS)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    async def posted(self, request: Request) -> tuple[dict[str, Any], Any] | Response:
        """The session and form of a POST from our own pages with the session's CSRF token; the 403 page else."""
        session = self.load_session(request)
        if not same_origin(request):
            return self.error(403, "Request refused", "This form was sent from another site.", session)
        form = await request.form(max_fields=20, max_files=0)
        if not csrf_matches(_Csrf(session["csrf"]), form.get("csrf_token")):
            return self.error(403, "Request refused", "The form's security token is missing or does not match "
                              "your session (it may have expired); go back to the app and connect again.",
                              {"csrf": new_token()})
        return session, form

    # ------------------------------------------------------------ pages

    async def consent_page(self, request: Request) -> Response:
        """GET /oauth/consent?request=...: sign in first if needed, then the consent form."""
        session = self.load_session(request)
        token = request.query_params.get("request")
        pending = self.pending(token)
        if pending is None:
            return self.error(400, "Link expired", "This sign-in link is invalid or has expired (they last "
                              f"{REQUEST_SECONDS // 60} minutes); go back to the app and connect again.", session)
        found = await self.provider.client_record(pending["client_id"])
        if found is None:
            return self.error(400, "Unknown app", "The app asking to connect is no longer registered.", session)
        client = found[0]
        me = await self.signed_in(session)
        if me is None:
            return self.render("sign_in.html", session=session, next=token, client_name=client.client_name)
        return await self._consent_form(session, me, token or "", pending, client)

    async def _consent_form(self, session: dict[str, Any], me: Actor, token: str, pending: dict[str, Any],
                            client: OAuthClientInformationFull, *, status: int = 200) -> Response:
        counts = callable_count(self.runtime.catalogue, me)
        toolsets = [{"name": t.name, "description": t.description, "count": counts.get(t.name, 0)}
                    for t in TOOLSETS if t.name in pending["scopes"] and counts.get(t.name, 0) > 0]
        target = urlsplit(pending["redirect_uri"])
        response = self.render("consent.html", status=status, session=session, me=me, request_token=token,
                               client_name=client.client_name or client.client_id, client_id=client.client_id,
                               redirect_host=target.netloc, roles=sorted(r.value for r in me.roles),
                               toolsets=toolsets, resource=pending["resource"])
        # The answer redirects the form's POST to the client: browsers hold that redirect to CSP's form-action, so
        # this page allows the client's origin (registered redirect URIs are https or loopback http).
        origin = f"{target.scheme}://{target.netloc}"
        if SAFE_ORIGIN.fullmatch(origin):
            response.headers["content-security-policy"] = CSP.decode().replace(
                "form-action 'self'", f"form-action 'self' {origin}")
        return response

    async def sign_in(self, request: Request) -> Response:
        """POST /oauth/sign-in {api_key, next}: sign in with an API key of any role, then back to the consent."""
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        next_token = form.get("next")
        pending = self.pending(next_token)
        key = form.get("api_key")
        key = key.strip() if isinstance(key, str) and len(key) <= 200 else ""
        found = None
        if key:
            try:
                tenant = identity.tenant_of_key(key)
                if await self.provider._tenant_ok(tenant):
                    with tenant_in_use(tenant):
                        async with self.runtime.db.read() as db:
                            found = await identity.authenticate_key_with_id(db, key, Channel.MCP_HTTP)
            except DomainError:
                found = None
        if found is None:
            client = None if pending is None else await self.provider.get_client(pending["client_id"])
            return self.render("sign_in.html", status=401, session=session, next=next_token or "",
                               client_name=client.client_name if client else None,
                               error="This API key is unknown or revoked." if key else "Enter your API key.")
        actor, key_id = found
        signed = {"csrf": new_token(), "uid": actor.id, "user": actor.username, "kid": key_id,
                  "tenant": actor.tenant, "at": int(time.time())}  # a new CSRF token after sign-in
        target = (f"{COOKIE_PATH}/consent?{urlencode({'request': next_token})}" if pending is not None
                  else f"{COOKIE_PATH}/clients")
        response = RedirectResponse(target, status_code=303)
        self.store(response, signed)
        return response

    async def consent(self, request: Request) -> Response:
        """POST /oauth/consent {request, decision}: allow (a grant and its code, back to the client) or deny
        (access_denied, back to the client)."""
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        me = await self.signed_in(session)
        pending = self.pending(form.get("request"))
        if me is None or pending is None:
            return self.error(403, "Not signed in", "Your session or this request expired; nothing was granted. "
                              "Go back to the app and connect again.", session)
        client = await self.provider.get_client(pending["client_id"])
        if client is None:
            return self.error(400, "Unknown app", "The app asking to connect is no longer registered.", session)
        redirect = pending["redirect_uri"]
        state = pending.get("state")
        iss = str(self.provider.issuer)
        if form.get("decision") != "approve":
            return RedirectResponse(construct_redirect_uri(redirect, error="access_denied",
                                                           error_description="the user denied access",
                                                           state=state, iss=iss), status_code=303)
        with tenant_in_use(me.tenant):
            async with self.runtime.db.write() as db:
                code, _grant = await oauth.grant_consent(
                    db, me, key_id=session["kid"], client_id=client.client_id, client_name=client.client_name or client.client_id,
                    scopes=pending["scopes"], resource=pending["resource"], code_challenge=pending["challenge"],
                    redirect_uri=redirect, redirect_uri_explicit=bool(pending["explicit"]))
        return RedirectResponse(construct_redirect_uri(redirect, code=code, state=state, iss=iss), status_code=303)

    async def clients_page(self, request: Request, *, notice: str | None = None, error: str | None = None,
                           status: int = 200) -> Response:
        """GET /oauth/clients: the apps the signed-in user connected, each with a revoke button."""
        session = self.load_session(request)
        me = await self.signed_in(session)
        if me is None:
            return self.render("sign_in.html", session=session, next="", client_name=None)
        with tenant_in_use(me.tenant):
            async with self.runtime.db.read() as db:
                clients = await oauth.list_authorised_clients(db, me)
        return self.render("clients.html", status=status, session=session, me=me, clients=clients,
                           notice=notice or ({"revoked": "Revoked: the app's tokens no longer work."}
                                             .get(request.query_params.get("notice", ""))), error=error)

    async def revoke_client(self, request: Request) -> Response:
        """POST /oauth/clients/revoke {client_id}: revoke the signed-in user's grants to that client."""
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        session, form = posted
        me = await self.signed_in(session)
        if me is None:
            return self.error(403, "Not signed in", "Sign in first; nothing was revoked.", session)
        client_id = form.get("client_id")
        try:
            with tenant_in_use(me.tenant):
                async with self.runtime.db.write() as db:
                    await oauth.revoke_authorised_client(db, me, client_id=client_id if isinstance(client_id, str)
                                                         else "")
        except DomainError as exc:
            return await self.clients_page(request, error=exc.message, status=exc.http_status)
        self.runtime._key_cache.clear()  # this process stops accepting the tokens at once (others: the delay)
        return RedirectResponse(f"{COOKIE_PATH}/clients?notice=revoked", status_code=303)

    async def sign_out(self, request: Request) -> Response:
        posted = await self.posted(request)
        if isinstance(posted, Response):
            return posted
        response = RedirectResponse(f"{COOKIE_PATH}/clients", status_code=303)
        response.delete_cookie(COOKIE, path=COOKIE_PATH, secure=self.secure, httponly=True, samesite="strict")
        return response


class _Csrf:
    """What csrf_matches reads of a session: its token."""

    def __init__(self, csrf: str):
        self.csrf = csrf


class OAuthServer:
    """Everything OAuth of one app: the provider, the SDK's routes and ours, and resolving a bearer token on /mcp
    to the Actor of its user."""

    def __init__(self, runtime: Runtime, issuer: AnyHttpUrl, resource: AnyHttpUrl):
        settings = runtime.settings
        # As the admin pages: without a configured secret each process signs with its own (requests and sessions
        # then end at restart, and several workers need MCS_ERP_SESSION_SECRET).
        secret = (settings.session_secret.get_secret_value() if settings.session_secret is not None
                  else secrets.token_urlsafe(48))
        self.runtime = runtime
        self.issuer = issuer
        self.resource = resource
        self.provider = McsOAuthProvider(runtime, issuer, resource, URLSafeTimedSerializer(secret, salt=REQUEST_SALT))
        self.pages = OAuthPages(runtime, self.provider, secret)
        scopes = [t.name for t in TOOLSETS]
        self.settings = AuthSettings(issuer_url=issuer, resource_server_url=resource, validate_token_resource=True,
                                     client_registration_options=ClientRegistrationOptions(
                                         enabled=True, valid_scopes=scopes, default_scopes=scopes),
                                     revocation_options=RevocationOptions(enabled=True))
        self.backend = BearerAuthBackend(ProviderTokenVerifier(self.provider),  # type: ignore[arg-type]
                                         resource_server_url=resource)
        self.metadata_url = f"{str(issuer).rstrip('/')}/.well-known/oauth-protected-resource{MCP_PATH}"

    def routes(self) -> list[BaseRoute]:
        """The SDK's endpoints (with our client authenticator) and the metadata documents, then our pages."""
        s = self.settings
        assert s.client_registration_options is not None and s.revocation_options is not None
        metadata = build_metadata(s.issuer_url, None, s.client_registration_options, s.revocation_options)
        metadata.authorization_response_iss_parameter_supported = True  # RFC 9207: redirects carry `iss`
        authenticator = HashedSecretAuthenticator(self.provider)  # type: ignore[arg-type]

        def api(handler, methods: list[str]):
            app = RequestBodyLimitMiddleware(request_response(handler), DEFAULT_MAX_REQUEST_BODY_SIZE)
            return CORSMiddleware(app, allow_origins="*", allow_methods=methods, allow_headers=["mcp-protocol-version"])

        pages = self.pages
        return [
            Route("/.well-known/oauth-authorization-server", api(MetadataHandler(metadata).handle, ["GET", "OPTIONS"]),
                  methods=["GET", "OPTIONS"]),
            Route("/authorize", RequestBodyLimitMiddleware(
                request_response(AuthorizationHandler(self.provider).handle),  # type: ignore[arg-type]
                DEFAULT_MAX_REQUEST_BODY_SIZE), methods=["GET", "POST"]),
            Route("/token", api(TokenHandler(self.provider, authenticator).handle,  # type: ignore[arg-type]
                                ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"]),
            Route("/register", api(RegistrationHandler(self.provider,  # type: ignore[arg-type]
                                                       s.client_registration_options).handle, ["POST", "OPTIONS"]),
                  methods=["POST", "OPTIONS"]),
            Route("/revoke", api(PublicClientRevocationHandler(self.provider,  # type: ignore[arg-type]
                                                               authenticator).handle,
                                 ["POST", "OPTIONS"]), methods=["POST", "OPTIONS"]),
            *create_protected_resource_routes(self.resource, [self.issuer], scopes_supported=None,
                                              resource_name="mcs-erp school ERP"),
            Route(f"{COOKIE_PATH}/consent", SecurityHeaders(request_response(pages.consent_page)), methods=["GET"]),
            Route(f"{COOKIE_PATH}/consent", SecurityHeaders(request_response(pages.consent)), methods=["POST"]),
            Route(f"{COOKIE_PATH}/sign-in", SecurityHeaders(request_response(pages.sign_in)), methods=["POST"]),
            Route(f"{COOKIE_PATH}/sign-out", SecurityHeaders(request_response(pages.sign_out)), methods=["POST"]),
            Route(f"{COOKIE_PATH}/clients", SecurityHeaders(request_response(pages.clients_page)), methods=["GET"]),
            Route(f"{COOKIE_PATH}/clients/revoke", SecurityHeaders(request_response(pages.revoke_client)),
                  methods=["POST"]),
        ]

    def challenge(self, *, invalid: bool) -> bytes:
        """The WWW-Authenticate of a 401 on /mcp: where the protected-resource metadata is (RFC 9728 section 5.1),
        and `invalid_token` when a token was sent (RFC 6750 section 3.1)."""
        error = 'error="invalid_token", ' if invalid else ""
        return f'Bearer realm="mcs-erp", {error}resource_metadata="{self.metadata_url}"'.encode()

    async def actor_for_request(self, scope: dict[str, Any], raw: str, channel: Channel) -> Actor | None:
        """The Actor of the bearer token of this request: its user (roles read now), in its tenant, with the
        token's client and toolsets in `extra`; None when the SDK's backend refuses the token (unknown, revoked,
        expired, issued for another resource). Lookups are reused for key_cache_seconds, as API keys'."""
        cache_key = f"oauth:{channel}:{rules.hash_secret(raw)}"
        now = time.monotonic()
        hit = self.runtime._key_cache.get(cache_key)
        if hit is not None and now - hit[0] < self.runtime.settings.key_cache_seconds:
            actor = hit[1]
            if actor is None or float(actor.extra.get("oauth_expires_at", "0")) > time.time():
                return actor
        actor = None
        result = await self.backend.authenticate(HTTPConnection(scope))
        if result is not None:
            token = result[1].access_token
            assert isinstance(token, McsAccessToken)
            with tenant_in_use(token.tenant):
                async with self.runtime.db.read() as db:
                    user = await identity.get_user(db, token.user_id)
                    if user is not None and user.deleted_at is None:
                        base = identity.actor_for(user, channel)
                        actor = Actor(id=base.id, username=base.username, roles=base.roles, channel=channel,
                                      employee_id=base.employee_id, display_name=base.display_name,
                                      tenant=base.tenant,
                                      extra={"oauth_client": token.client_id, "toolsets": ",".join(token.scopes),
                                             "oauth_expires_at": str(token.expires_at or 0)})
        if len(self.runtime._key_cache) > 10_000:
            self.runtime._key_cache.clear()
        self.runtime._key_cache[cache_key] = (now, actor)
        return actor


def build_oauth(runtime: Runtime) -> OAuthServer | None:
    """The OAuth server of `runtime`, or None when MCS_ERP_PUBLIC_URL cannot be an issuer (see oauth_urls)."""
    urls = oauth_urls(runtime.settings.public_url)
    return None if urls is None else OAuthServer(runtime, *urls)
