"""OAuth sign-in's use cases: register clients, record a user's consent as a grant with its authorization code,
exchange codes and refresh tokens for tokens (rotating refresh tokens), load tokens, revoke them, and list and
revoke the clients a user authorised.

Where rows live (domain/oauth/models.py): clients in the default tenant, everything else in the tenant of the
user who signed in; the caller runs each call in the right tenant (domain.kernel.tenants.tenant_in_use).

Defences (each one refuses by returning None or raising OAuthRefused, which the server turns into the RFC's error
code):
- a code is used once (RFC 6749 section 4.1.2): presenting a used code again revokes its grant and every token
  issued from it; an exchange that loses a race to the same code is refused;
- a refresh token is used once (OAuth 2.1 section 4.3.1, RFC 9700 section 4.14.2): refreshing rotates it; a
  rotated refresh token presented again revokes the whole grant (the family), the thief's tokens and the
  rightful client's alike;
- a revoked grant, a revoked or expired token, a deleted user or a revoked sign-in API key loads as nothing.

Audited in the tenant's audit log (tool `oauth`), never with a value: consent (`granted`), tokens `issued`,
`refreshed`, `revoked`, and a detected reuse (`code_reused`, `refresh_reused`); each row names the grant, the
client and the scopes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel
from domain.kernel.audit import append_audit
from domain.kernel.clock import utcnow
from domain.kernel.errors import DomainError, InvalidInput, NotFound
from domain.kernel.tenants import current_tenant
from domain.oauth import repository as repo
from domain.oauth.models import OAuthClient, OAuthCode, OAuthGrant, OAuthToken
from domain.oauth.rules import (
    ACCESS_PREFIX,
    ACCESS_TOKEN_SECONDS,
    CODE_PREFIX,
    CODE_SECONDS,
    MAX_CLIENT_NAME,
    REFRESH_PREFIX,
    REFRESH_TOKEN_SECONDS,
    hash_secret,
    new_secret,
    scope_text,
)
from domain.oauth.schemas import AuthorisedClient, CodeRecord, IssuedTokens, TokenRecord

AUDIT_TOOL = "oauth"


class OAuthRefused(DomainError):
    """A grant that may not be used (a code or refresh token already used, a grant revoked meanwhile): the
    token endpoint answers `invalid_grant` (RFC 6749 section 5.2)."""

    code = "invalid_grant"
    http_status = 400


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _scopes(text: str) -> list[str]:
    return [s for s in text.split(" ") if s]


# ---------------------------------------------------------------- clients (the default tenant)


async def register_client(session: AsyncSession, *, client_id: str, client_name: str, secret: str | None,
                          client_metadata: dict[str, Any]) -> OAuthClient:
    """Store a client registered by RFC 7591 dynamic registration: its metadata (JSON, without the secret) and
    the SHA-256 of `secret` (None: a public client). Raises InvalidInput for a name over MAX_CLIENT_NAME
    characters or metadata carrying a secret."""
    if len(client_name) > MAX_CLIENT_NAME:
        raise InvalidInput(f"client_name has {len(client_name)} characters; at most {MAX_CLIENT_NAME} are allowed",
                           field="client_name")
    if "client_secret" in client_metadata:
        raise InvalidInput("the stored metadata of a client must not carry its secret", field="client_secret")
    client = OAuthClient(client_id=client_id, client_name=client_name or client_id,
                         secret_hash=None if secret is None else hash_secret(secret),
                         client_metadata=json.dumps(client_metadata, sort_keys=True))
    session.add(client)
    await session.flush()
    return client


async def get_client(session: AsyncSession, client_id: str) -> tuple[OAuthClient, dict[str, Any]] | None:
    """Return the registered client `client_id` and its metadata, or None."""
    client = await repo.get_client(session, client_id) if 0 < len(client_id) <= 64 else None
    return None if client is None else (client, json.loads(client.client_metadata))


# ---------------------------------------------------------------- consent and codes (the user's tenant)


def _audit_args(grant: OAuthGrant, **extra: Any) -> dict[str, Any]:
    return {"grant_id": grant.id, "client_id": grant.client_id, "client_name": grant.client_name,
            "scopes": _scopes(grant.scopes), "resource": grant.resource, **extra}


async def grant_consent(session: AsyncSession, actor: Actor, *, key_id: int, client_id: str, client_name: str,
                        scopes: list[str], resource: str, code_challenge: str, redirect_uri: str,
                        redirect_uri_explicit: bool) -> tuple[str, OAuthGrant]:
    """Record that `actor`, signed in with API key `key_id`, consented to `client_id` using `scopes` (toolset
    names) on `resource`, and issue the authorization code the client exchanges (CODE_SECONDS long, single use,
    bound to the S256 `code_challenge` and `redirect_uri`). Returns (the code's value, shown once; the grant).
    Revoking the key later ends the grant's tokens. Audited `granted`."""
    grant = OAuthGrant(user_id=actor.id, key_id=key_id, client_id=client_id,
                       client_name=client_name[:MAX_CLIENT_NAME], scopes=scope_text(scopes), resource=resource)
    session.add(grant)
    await session.flush()
    raw = new_secret(CODE_PREFIX, current_tenant())
    session.add(OAuthCode(code_hash=hash_secret(raw), grant_id=grant.id or 0, code_challenge=code_challenge,
                          redirect_uri=redirect_uri, redirect_uri_explicit=redirect_uri_explicit,
                          expires_at=utcnow() + timedelta(seconds=CODE_SECONDS)))
    await session.flush()
    await append_audit(session, actor, tool=AUDIT_TOOL, event="granted", arguments=_audit_args(grant),
                       entity="oauth_grant", entity_id=grant.id)
    return raw, grant


async def _user_actor(session: AsyncSession, user_id: int) -> Actor:
    user = await identity.get_user(session, user_id)
    if user is None:
        return Actor(id=user_id, username=f"user {user_id}", roles=frozenset(), channel=Channel.MCP_HTTP,
                     tenant=current_tenant())
    return Actor(id=user.id or 0, username=user.username, roles=frozenset(), channel=Channel.MCP_HTTP,
                 display_name=user.display_name, tenant=current_tenant())


async def _revoke_grant(session: AsyncSession, grant: OAuthGrant, *, reason: str, event: str) -> None:
    now = utcnow()
    if grant.revoked_at is None:
        grant.revoked_at = now
        grant.revoked_reason = reason
        session.add(grant)
    await session.flush()
    revoked = await repo.revoke_grant_tokens(session, grant.id or 0, now)
    await append_audit(session, await _user_actor(session, grant.user_id), tool=AUDIT_TOOL, event=event,
                       arguments=_audit_args(grant, reason=reason, tokens_revoked=revoked),
                       entity="oauth_grant", entity_id=grant.id)


async def load_code(session: AsyncSession, raw: str) -> CodeRecord | None:
    """Return the authorization code `raw`, or None when unknown, its grant revoked or its user deleted. A code
    already used is a replay: its grant and every token issued from it are revoked (audited `code_reused`), and
    None is returned. Expiry is left to the caller (the record carries `expires_at`)."""
    found = await repo.code_with_grant(session, hash_secret(raw))
    if found is None:
        return None
    code, grant = found
    if code.used_at is not None:
        if grant.revoked_at is None:
            await _revoke_grant(session, grant, reason="code_reused", event="code_reused")
        return None
    if not await repo.grant_is_live(session, grant):
        return None
    return CodeRecord(id=code.id or 0, grant_id=grant.id or 0, client_id=grant.client_id, user_id=grant.user_id,
                      scopes=_scopes(grant.scopes), resource=grant.resource, code_challenge=code.code_challenge,
                      redirect_uri=code.redirect_uri, redirect_uri_explicit=code.redirect_uri_explicit,
                      expires_at=_aware(code.expires_at).timestamp())


async def _issue_pair(session: AsyncSession, grant: OAuthGrant, scopes: list[str]) -> IssuedTokens:
    tenant = current_tenant()
    access, refresh = new_secret(ACCESS_PREFIX, tenant), new_secret(REFRESH_PREFIX, tenant)
    now = utcnow()
    text = scope_text(scopes)
    session.add(OAuthToken(token_hash=hash_secret(access), kind="access", grant_id=grant.id or 0, scopes=text,
                           expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS)))
    session.add(OAuthToken(token_hash=hash_secret(refresh), kind="refresh", grant_id=grant.id or 0, scopes=text,
                           expires_at=now + timedelta(seconds=REFRESH_TOKEN_SECONDS)))
    await session.flush()
    return IssuedTokens(access_token=access, refresh_token=refresh, expires_in=ACCESS_TOKEN_SECONDS,
                        scopes=list(_scopes(text)), grant_id=grant.id or 0)


async def revoke_replayed_grant(session: AsyncSession, *, grant_id: int, reason: str) -> None:
    """Revoke grant `grant_id` and all its tokens because a code or refresh token of it was used twice at once
    (`reason`: code_reused | refresh_reused; audited under that name). Called in a unit of work of its own after
    OAuthRefused carrying `details['replayed_grant']`, since the refused call's own transaction rolls back."""
    grant = await session.get(OAuthGrant, grant_id)
    if grant is not None and grant.revoked_at is None:
        await _revoke_grant(session, grant, reason=reason, event=reason)


async def exchange_code(session: AsyncSession, *, code_id: int, client_id: str) -> IssuedTokens:
    """Use authorization code `code_id` of `client_id` (PKCE, redirect URI and expiry already checked) and issue
    an access and refresh token pair of its grant. Raises OAuthRefused when its grant was revoked or belongs to
    another client, or when the code was used meanwhile (a concurrent exchange won: the error's
    `details['replayed_grant']` names the grant to revoke with revoke_replayed_grant). Audited `issued`."""
    code = await session.get(OAuthCode, code_id)
    grant = None if code is None else await session.get(OAuthGrant, code.grant_id)
    if code is None or grant is None or grant.client_id != client_id or grant.revoked_at is not None:
        raise OAuthRefused("the authorization code is unknown, revoked or not this client's")
    if not await repo.mark_code_used(session, code_id, utcnow()):  # a concurrent exchange won: a replay
        raise OAuthRefused("the authorization code was already used; its grant is revoked",
                           details={"replayed_grant": grant.id, "reason": "code_reused"})
    issued = await _issue_pair(session, grant, _scopes(grant.scopes))
    await append_audit(session, await _user_actor(session, grant.user_id), tool=AUDIT_TOOL, event="issued",
                       arguments=_audit_args(grant, grant_type="authorization_code"),
                       entity="oauth_grant", entity_id=grant.id)
    return issued


# ---------------------------------------------------------------- tokens


def _record(token: OAuthToken, grant: OAuthGrant) -> TokenRecord:
    return TokenRecord(id=token.id or 0, kind=token.kind, grant_id=grant.id or 0, client_id=grant.client_id,
                       user_id=grant.user_id, scopes=_scopes(token.scopes), resource=grant.resource,
                       expires_at=int(_aware(token.expires_at).timestamp()))


async def load_access_token(session: AsyncSession, raw: str) -> TokenRecord | None:
    """Return the access token `raw`, or None when unknown, revoked, of a revoked grant, a deleted user or a
    revoked sign-in key. Expiry is left to the caller (the record carries `expires_at`)."""
    found = await repo.token_with_grant(session, hash_secret(raw), "access")
    if found is None:
        return None
    token, grant = found
    if token.revoked_at is not None or not await repo.grant_is_live(session, grant):
        return None
    return _record(token, grant)


async def load_refresh_token(session: AsyncSession, raw: str) -> TokenRecord | None:
    """Return the refresh token `raw`, or None when unknown, revoked, of a revoked grant or a deleted user. A
    refresh token already rotated is a replay: the whole grant is revoked (audited `refresh_reused`) and None is
    returned."""
    found = await repo.token_with_grant(session, hash_secret(raw), "refresh")
    if found is None:
        return None
    token, grant = found
    if token.rotated_at is not None:
        if grant.revoked_at is None:
            await _revoke_grant(session, grant, reason="refresh_reused", event="refresh_reused")
        return None
    if token.revoked_at is not None or not await repo.grant_is_live(session, grant):
        return None
    return _record(token, grant)


async def rotate_refresh_token(session: AsyncSession, *, token_id: int, client_id: str,
                               scopes: list[str]) -> IssuedTokens:
    """Use refresh token `token_id` of `client_id` once and issue the next pair with `scopes` (a subset of the
    grant's, checked by the caller); the grant's earlier access tokens are revoked. Raises OAuthRefused when the
    token belongs to another client or its grant was revoked, or when it was rotated or revoked meanwhile (a
    concurrent use, a replay: `details['replayed_grant']` names the grant to revoke with revoke_replayed_grant).
    Audited `refreshed`."""
    token = await session.get(OAuthToken, token_id)
    grant = None if token is None else await session.get(OAuthGrant, token.grant_id)
    if token is None or grant is None or token.kind != "refresh" or grant.client_id != client_id:
        raise OAuthRefused("the refresh token is unknown or not this client's")
    if grant.revoked_at is not None:
        raise OAuthRefused("the refresh token's grant was revoked")
    if not await repo.mark_refresh_rotated(session, token_id, utcnow()):  # a concurrent refresh won: a replay
        raise OAuthRefused("the refresh token was already used; its grant is revoked",
                           details={"replayed_grant": grant.id, "reason": "refresh_reused"})
    await repo.revoke_grant_tokens(session, grant.id or 0, utcnow(), kind="access")
    issued = await _issue_pair(session, grant, scopes)
    await append_audit(session, await _user_actor(session, grant.user_id), tool=AUDIT_TOOL, event="refreshed",
                       arguments=_audit_args(grant, granted=scopes), entity="oauth_grant", entity_id=grant.id)
    return issued


async def revoke_token(session: AsyncSession, *, token_id: int, client_id: str) -> None:
    """Revoke token `token_id` presented by `client_id` at the revocation endpoint (RFC 7009): the whole grant
    goes, access and refresh tokens alike (section 2.1 lets a server do so). A token of another client, or one
    already revoked, is left as it is (RFC 7009 answers 200 either way). Audited `revoked`."""
    token = await session.get(OAuthToken, token_id)
    grant = None if token is None else await session.get(OAuthGrant, token.grant_id)
    if token is None or grant is None or grant.client_id != client_id or grant.revoked_at is not None:
        return
    await _revoke_grant(session, grant, reason="revoked_by_client", event="revoked")


# ---------------------------------------------------------------- a user's authorised clients


async def list_authorised_clients(session: AsyncSession, actor: Actor, *, limit: int = 200) -> list[AuthorisedClient]:
    """Return the clients `actor` authorised and has not revoked (one row per grant), newest first, at most
    `limit` (1..200; InvalidInput outside)."""
    if not 1 <= limit <= 200:
        raise InvalidInput(f"limit {limit} is outside 1..200", field="limit")
    return [AuthorisedClient(grant_id=g.id or 0, client_id=g.client_id, client_name=g.client_name,
                             scopes=_scopes(g.scopes), resource=g.resource, created_at=_aware(g.created_at))
            for g in await repo.live_grants(session, user_id=actor.id, limit=limit)]


async def revoke_authorised_client(session: AsyncSession, actor: Actor, *, client_id: str) -> int:
    """Revoke every grant `actor` gave `client_id`, with all their tokens; return how many grants. Raises NotFound
    when `actor` has no live grant for that client (another user's grants are never touched). Audited
    `revoked` per grant."""
    grants = await repo.live_grants(session, user_id=actor.id, client_id=client_id[:64])
    if not grants:
        raise NotFound(f"you have not authorised a client {client_id[:64]!r} (or it was already revoked); "
                       "your authorised clients are listed on /oauth/clients", field="client_id")
    for grant in grants:
        await _revoke_grant(session, grant, reason="revoked_by_user", event="revoked")
    return len(grants)


PURGE_AFTER = timedelta(days=1)
"""How long an authorization code or a token is kept past its expiry before purge_expired deletes it. Expired,
it loads as nothing; kept a day longer, a code or rotated refresh token replayed soon after its expiry still
revokes its grant (RFC 6749 section 4.1.2; RFC 9700 section 4.14.2) rather than being merely unknown."""
PURGE_BATCH = 5000
"""purge_expired deletes at most this many codes and this many tokens per call (one short transaction each)."""


async def purge_expired(session: AsyncSession, *, now: datetime | None = None, limit: int = PURGE_BATCH) -> int:
    """Delete, in the caller's transaction (the current tenant's), up to `limit` codes and `limit` tokens that
    expired more than PURGE_AFTER before `now` (default: the clock); return how many. Grants stay: they carry the
    consent's history and the audit log names them. Without this every sign-in's code and every hour's access
    token would stay in the tables for ever. Raises InvalidInput for a limit below 1."""
    if limit < 1:
        raise InvalidInput(f"limit must be 1 or more, got {limit}", field="limit")
    return await repo.delete_expired(session, before=(now or utcnow()) - PURGE_AFTER, limit=limit)

