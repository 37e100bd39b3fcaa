"""OAuth tables. Clients live in the default tenant's database (a client registers before anyone signs in, so
before any tenant is known); grants, codes and tokens live in the tenant of the user who signed in, beside the
users and API keys they belong to. The tables exist in every tenant (one schema for all); a tenant's
`oauth_clients` stays empty.

Token and code values are never stored: only their SHA-256 (`rules.hash_secret`), as for API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow


class OAuthClient(SQLModel, table=True):
    """A client registered by RFC 7591 dynamic registration: its metadata as registered (JSON, without the
    secret), and the SHA-256 of its client secret (None for a public client, `token_endpoint_auth_method`
    'none', which proves itself with PKCE alone)."""

    __tablename__ = "oauth_clients"

    client_id: str = Field(primary_key=True, max_length=64)
    client_name: str = Field(max_length=200, nullable=False)
    secret_hash: str | None = Field(default=None, max_length=64)
    client_metadata: str = Field(sa_column=Column("metadata", Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


class OAuthGrant(SQLModel, table=True):
    """A user's consent to a client: the toolsets (scopes) and the resource it was given, and the API key the user
    signed in with. Codes and tokens hang off a grant; revoking the grant (the user, a reused refresh token or
    code) ends all of them at once, and so does revoking that key (as it ends an admin page session): an office
    that revokes a leaver's keys disconnects their apps too."""

    __tablename__ = "oauth_grants"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    key_id: int = Field(foreign_key="api_keys.id", nullable=False, index=True)  # signed in with; revoking it ends
    client_id: str = Field(max_length=64, nullable=False, index=True)
    client_name: str = Field(max_length=200, nullable=False)
    scopes: str = Field(max_length=2000, nullable=False)
    resource: str = Field(max_length=500, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    revoked_at: datetime | None = Field(default=None)
    revoked_reason: str | None = Field(default=None, max_length=40)


class OAuthCode(SQLModel, table=True):
    """An authorization code: single use (`used_at`), short-lived, bound to its PKCE challenge (S256) and
    redirect URI."""

    __tablename__ = "oauth_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True, nullable=False)
    grant_id: int = Field(foreign_key="oauth_grants.id", nullable=False, index=True)
    code_challenge: str = Field(max_length=128, nullable=False)
    redirect_uri: str = Field(max_length=2000, nullable=False)
    redirect_uri_explicit: bool = Field(nullable=False)
    expires_at: datetime = Field(nullable=False)
    used_at: datetime | None = Field(default=None)


class OAuthToken(SQLModel, table=True):
    """An access or refresh token of a grant. A refresh token is used once: refreshing stamps `rotated_at` and
    issues the next pair; a rotated refresh token presented again revokes the whole grant (RFC 9700 4.14.2)."""

    __tablename__ = "oauth_tokens"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, nullable=False)
    kind: str = Field(max_length=10, nullable=False)  # access | refresh
    grant_id: int = Field(foreign_key="oauth_grants.id", nullable=False, index=True)
    scopes: str = Field(max_length=2000, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    expires_at: datetime = Field(nullable=False)
    rotated_at: datetime | None = Field(default=None)
    revoked_at: datetime | None = Field(default=None)
