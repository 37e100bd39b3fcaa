"""Users and API keys: create, list, revoke, and resolve a presented key to an Actor."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.identity.models import ApiKey, SignInLink, User
from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.clock import utcnow
from domain.kernel.db import tenant_options
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.tenants import CODE_PATTERN, current_tenant

KEY_PREFIX = "mcs_"
TENANT_MARK = "."  # a tenant's keys read `mcs_<code>.<secret>`; the default tenant's `mcs_<secret>` (no dot)


def hash_key(raw: str) -> str:
    """Return the SHA-256 hex digest under which a key is stored (keys are 256-bit random, so no salt)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def tenant_of_key(raw: str) -> str | None:
    """The tenant code a presented key names (`mcs_<code>.<secret>`), or None for a default tenant's key. A key
    naming a malformed code also gives None: it is then looked up, and not found, in the default tenant. The code is
    only where to look: the key's hash, prefix included, must still be stored in that tenant."""
    if not raw.startswith(KEY_PREFIX):
        return None
    code, mark, _secret = raw[len(KEY_PREFIX):].partition(TENANT_MARK)
    if not mark or CODE_PATTERN.fullmatch(code) is None:
        return None
    return code


def parse_roles(raw: str | list[str] | set[str]) -> frozenset[Role]:
    """Parse roles from 'a,b' or a list; raises InvalidInput naming the allowed roles."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    roles: set[Role] = set()
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        try:
            roles.add(Role(item))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise InvalidInput(f"unknown role {item!r}; allowed roles are: {allowed}", field="roles") from None
    if not roles:
        raise InvalidInput("at least one role is required", field="roles")
    return frozenset(roles)


def actor_for(user: Any, channel: Channel) -> Actor:
    """Build the Actor of `user` (a User, or a row with its id, username, roles, employee_id and display_name, as
    _KEY_OWNER's) calling through `channel`, in the tenant of the context (the user's own)."""
    return Actor(id=user.id or 0, username=user.username, roles=parse_roles(user.roles), channel=channel,
                 employee_id=user.employee_id, display_name=user.display_name, tenant=current_tenant())


async def get_user_by_username(session: AsyncSession, username: str) -> User | None:
    """Return the live user with that username, or None."""
    stmt = select(User).where(User.username == username, User.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def ensure_user(session: AsyncSession, *, username: str, display_name: str, roles: str,
                      employee_id: int | None = None) -> User:
    """Return the user `username`, creating it with `roles` when absent (roles of an existing user stay)."""
    user = await get_user_by_username(session, username)
    if user is None:
        parse_roles(roles)
        user = User(username=username, display_name=display_name, roles=roles, employee_id=employee_id)
        session.add(user)
        await session.flush()
    return user


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key: ApiKey
    user: User
    secret: str


async def create_api_key(session: AsyncSession, *, username: str, roles: str | None = None,
                         name: str = "default", display_name: str | None = None,
                         employee_id: int | None = None, demo: bool = False) -> IssuedKey:
    """Create an API key for `username` (creating the user with `roles` if needed) and return its secret.

    `demo` marks a key `mcs-erp demo` issues (the next demo run revokes it; see rotate_demo_key). A key made for
    a tenant (domain.kernel.tenants.current_tenant) reads `mcs_<code>.<secret>` (see tenant_of_key).
    Raises InvalidInput for unknown roles, Conflict when `roles` differ from an existing user's roles.
    """
    user = await get_user_by_username(session, username)
    if user is None:
        if not roles:
            raise InvalidInput(f"user {username!r} does not exist; give --roles to create it", field="roles")
        parse_roles(roles)
        user = User(username=username, display_name=display_name or username, roles=roles,
                    employee_id=employee_id)
        session.add(user)
        await session.flush()
    elif roles and parse_roles(roles) != parse_roles(user.roles):
        raise Conflict(f"user {username!r} already exists with roles {user.roles}; keys carry the user's roles")
    tenant = current_tenant()  # the key names its tenant, so an edge finds where to look it up from the key alone
    secret = KEY_PREFIX + (f"{tenant}{TENANT_MARK}" if tenant else "") + secrets.token_urlsafe(32)
    key = ApiKey(user_id=user.id or 0, name=name, prefix=secret[:10], key_hash=hash_key(secret), demo=demo)
    session.add(key)
    await session.flush()
    return IssuedKey(key=key, user=user, secret=secret)


@dataclass(frozen=True)
class DemoKey:
    """The key a demo run issued, and the ids of the earlier demo keys it revoked (oldest first)."""

    issued: IssuedKey
    revoked: list[int]


async def rotate_demo_key(session: AsyncSession, *, username: str = "admin") -> DemoKey:
    """Revoke every active demo key (of any user), then issue a new demo key named 'demo' for `username`.

    Keys are stored hashed, so a demo run cannot show an earlier key again; it replaces it instead, leaving
    exactly one active demo key. Keys not marked `demo` (made by `mcs-erp keys create`, the admin pages or
    tests) are never touched. Raises InvalidInput when `username` does not exist.
    """
    stmt = (select(ApiKey).where(ApiKey.demo.is_(True), ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
            .order_by(ApiKey.id))  # type: ignore[arg-type]
    now = utcnow()
    revoked = []
    for key in (await session.exec(stmt)).all():
        key.revoked_at = now
        session.add(key)
        revoked.append(key.id or 0)
    await session.flush()
    issued = await create_api_key(session, username=username, name="demo", demo=True)
    return DemoKey(issued=issued, revoked=revoked)


async def list_api_keys(session: AsyncSession) -> list[tuple[ApiKey, User]]:
    """Return every key with its user, newest first."""
    stmt = select(ApiKey, User).join(User, User.id == ApiKey.user_id).order_by(ApiKey.id.desc())  # type: ignore
    return [(k, u) for k, u in (await session.exec(stmt)).all()]


async def revoke_api_key(session: AsyncSession, *, key_id: int) -> ApiKey:
    """Revoke a key by id; raises NotFound for an unknown id, Conflict if already revoked."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key with id {key_id}")
    if key.revoked_at is not None:
        raise Conflict(f"API key {key_id} was already revoked at {key.revoked_at.isoformat()}")
    key.revoked_at = utcnow()
    session.add(key)
    await session.flush()
    return key


async def authenticate_key_with_id(session: AsyncSession, raw: str, channel: Channel) -> tuple[Actor, int] | None:
    """Return the Actor of a presented key and the key's id (for a session that must end when the key is
    revoked), or None when the key is unknown, revoked or its user deleted."""
    row = (await session.exec(_KEY_OWNER, params={"key_hash": hash_key(raw)})).first()
    return None if row is None else (actor_for(row, channel), row.key_id)


async def key_is_active(session: AsyncSession, *, key_id: int, user_id: int) -> bool:
    """Return True when key `key_id` belongs to user `user_id` and is not revoked."""
    key = await session.get(ApiKey, key_id)
    return key is not None and key.user_id == user_id and key.revoked_at is None


# The live key's owner: the columns an Actor is made of and the key's id. Built once rather than per lookup:
# building it was about a third of a lookup's CPU, and a server of 50 schools looks up each school's keys again
# every key_cache_seconds (tools.runtime.Runtime.actor_for_key; bench/tenants.py).
_KEY_OWNER = (select(User.id, User.username, User.roles, User.employee_id, User.display_name,  # type: ignore
                     ApiKey.id.label("key_id"))  # type: ignore[union-attr]
              .join(User, User.id == ApiKey.user_id)  # type: ignore[arg-type]
              .where(ApiKey.key_hash == bindparam("key_hash"), ApiKey.revoked_at.is_(None),  # type: ignore
                     User.deleted_at.is_(None)))  # type: ignore[union-attr]



async def authenticate_key(session: AsyncSession, raw: str, channel: Channel, *,
                           schema: str | None = None) -> Actor | None:
    """Return the Actor of a presented key, or None when the key is unknown, revoked or its user deleted.

    `schema` (PostgreSQL): read the key from that tenant schema, whatever the session is routed to (the caller
    reads the tenant registry in the same unit of work, and sets the context's tenant for the Actor)."""
    row = (await session.exec(_KEY_OWNER, params={"key_hash": hash_key(raw)},
                              execution_options=tenant_options(schema) or {})).first()
    return None if row is None else actor_for(row, channel)


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    """Return the user with that id (live or soft-deleted: the caller checks `deleted_at`), or None."""
    return await session.get(User, user_id)


# ---------------------------------------------------------------- one-time sign-in links (the parent pages)

SIGN_IN_LINK_MINUTES = 15
"""How long an emailed sign-in link works: long enough to open the email, short enough that a forwarded or
leaked one is soon useless (OWASP Forgot Password Cheat Sheet: tokens single use and short-lived)."""
MAX_TOKEN_CHARS = 100


@dataclass(frozen=True)
class IssuedLink:
    """A new sign-in link: `token` goes in the emailed URL, shown once and never stored (its hash is)."""

    link: SignInLink
    user: User
    token: str


async def issue_sign_in_link(session: AsyncSession, *, user: User, now: datetime | None = None,
                             minutes: int = SIGN_IN_LINK_MINUTES) -> IssuedLink:
    """Record a one-time sign-in link for `user` (256-bit random token, stored as its SHA-256 hash), valid for
    `minutes` (1..60). Raises InvalidInput for minutes out of range."""
    if not 1 <= minutes <= 60:
        raise InvalidInput("a sign-in link is valid for 1 to 60 minutes", field="minutes")
    moment = now or utcnow()
    token = secrets.token_urlsafe(32)
    link = SignInLink(user_id=user.id or 0, token_hash=hash_key(token), created_at=moment,
                      expires_at=moment + timedelta(minutes=minutes))
    session.add(link)
    await session.flush()
    return IssuedLink(link=link, user=user, token=token)


async def redeem_sign_in_link(session: AsyncSession, token: str, channel: Channel, *,
                              now: datetime | None = None) -> tuple[Actor, int]:
    """Use a sign-in link: return the Actor of its user and the link's id, and mark it used (once: a second use,
    even a concurrent one, fails). Raises NotFound with one message for an unknown, used or expired link, or one
    whose user was deleted (which of these is not told)."""
    invalid = NotFound("this sign-in link is not valid: it was used already, has expired or was mistyped; ask "
                       "for a new one", field="token")
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise invalid
    moment = now or utcnow()
    stmt = (select(SignInLink).where(SignInLink.token_hash == hash_key(token),
                                     SignInLink.used_at.is_(None))  # type: ignore[union-attr]
            .with_for_update())
    link = (await session.exec(stmt)).first()
    if link is None or link.expires_at <= moment:
        raise invalid
    user = await session.get(User, link.user_id)
    if user is None or user.deleted_at is not None:
        raise invalid
    link.used_at = moment
    session.add(link)
    await session.flush()
    return actor_for(user, channel), link.id or 0


async def sign_in_links_since(session: AsyncSession, *, user_id: int, since: datetime) -> int:
    """How many sign-in links user `user_id` was sent from `since` on (to bound how often one is emailed)."""
    stmt = select(func.count()).select_from(SignInLink).where(SignInLink.user_id == user_id,
                                                             SignInLink.created_at >= since)
    return int((await session.exec(stmt)).one())


async def sign_in_link_is_live(session: AsyncSession, *, link_id: int, user_id: int) -> bool:
    """Return True when link `link_id` was used to sign user `user_id` in (a session's credential: a session lives
    while its user does)."""
    link = await session.get(SignInLink, link_id)
    return link is not None and link.user_id == user_id and link.used_at is not None
