"""What OAuth sign-in's service returns: records of codes and tokens as loaded (never their values), newly issued
values, and a user's authorised clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CodeRecord:
    """An authorization code as loaded: its grant's client, user, scopes and resource, its PKCE challenge and
    redirect URI, and when it expires (seconds since the epoch)."""

    id: int
    grant_id: int
    client_id: str
    user_id: int
    scopes: list[str]
    resource: str
    code_challenge: str
    redirect_uri: str
    redirect_uri_explicit: bool
    expires_at: float


@dataclass(frozen=True)
class TokenRecord:
    """An access or refresh token as loaded: its kind, grant, client, user, scopes, resource and expiry (whole
    seconds since the epoch)."""

    id: int
    kind: str
    grant_id: int
    client_id: str
    user_id: int
    scopes: list[str]
    resource: str
    expires_at: int


@dataclass(frozen=True)
class IssuedTokens:
    """A new access and refresh token pair: the values are shown to the client once and never stored."""

    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token lives
    scopes: list[str]
    grant_id: int


@dataclass(frozen=True)
class AuthorisedClient:
    """A client a user authorised (one of their live grants): what it may use and since when."""

    grant_id: int
    client_id: str
    client_name: str
    scopes: list[str]
    resource: str
    created_at: datetime
