"""Tenants: one school per tenant, a schema `tenant_<code>` on PostgreSQL or a file `<stem>.<code>.db` on SQLite.

The registry `tenants` (code, name, schema, status, database_url, created_at) lives in the default tenant's
database: `public` on PostgreSQL, the default file on SQLite. The default tenant is what a deployment with no
tenant configured has always had (the `public` schema, the default file); it has no registry row and no code.

The tenant of the code running now is a context variable (`current_tenant`), bound by the edges: the HTTP
middleware from the API key's tenant, tools.invoke from the actor's, the stdio server from MCS_ERP_TENANT, the job
runners from the job's queue message. `Database.read()` and `Database.write()` (domain/kernel/db.py) route every
unit of work to it: on PostgreSQL the tenant's schema first on the search_path, on SQLite the tenant's own file.
asyncio tasks copy the context they were created in, so work a request spawns stays in its tenant.

Errors: InvalidInput for a code outside CODE_PATTERN or a name too long, Conflict for a code already registered,
NotFound for an unknown code, TenantSuspended (403) for a call to a suspended tenant.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Column, String
from sqlalchemy.engine import make_url
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied

CODE_PATTERN = re.compile(r"[a-z][a-z0-9_]{1,30}")
"""A tenant code: a lower-case letter, then 1 to 30 lower-case letters, digits or underscores (2 to 31 characters,
so `tenant_<code>` fits PostgreSQL's 63-byte identifiers and a file name on every platform)."""
SCHEMA_PREFIX = "tenant_"
MAX_NAME = 200


class TenantStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(SQLModel, table=True):
    """A school of this deployment: its code (said aloud, part of its API keys), name, schema, status and the
    database it lives on (None: the default database, the only one this release serves)."""

    __tablename__ = "tenants"

    code: str = Field(primary_key=True, max_length=31)
    name: str = Field(max_length=MAX_NAME, nullable=False)
    schema_name: str = Field(sa_column=Column("schema", String(63), nullable=False, unique=True))
    status: str = Field(default=TenantStatus.ACTIVE.value, max_length=16, nullable=False)
    database_url: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


class TenantSuspended(PermissionDenied):
    """The tenant of the call is suspended: nothing of it is served until `mcs-erp tenants resume CODE`."""

    code = "tenant_suspended"


def check_code(code: str) -> str:
    """Return `code` when it is a valid tenant code; raise InvalidInput saying what codes look like."""
    if not isinstance(code, str) or CODE_PATTERN.fullmatch(code) is None:
        shown = repr(code) if len(str(code)) <= 40 else repr(str(code)[:40]) + f"... ({len(str(code))} characters)"
        raise InvalidInput(f"tenant code {shown} is not valid: use 2 to 31 characters, a lower-case letter first, "
                           "then lower-case letters, digits or underscores (e.g. 'north_campus')", field="code")
    return code


def check_name(name: str) -> str:
    """Return `name` stripped when it has 1 to MAX_NAME characters; raise InvalidInput saying so otherwise."""
    name = (name or "").strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"a tenant's name must have 1 to {MAX_NAME} characters, got {len(name)}", field="name")
    return name


def schema_of(code: str) -> str:
    """The PostgreSQL schema of tenant `code`: `tenant_<code>`."""
    return SCHEMA_PREFIX + check_code(code)


def sqlite_url_of(default_url: str, code: str) -> str:
    """The SQLite URL of tenant `code`: the file `<stem>.<code>.db` beside the default file of `default_url`.
    Raises InvalidInput for an in-memory default database (its tenants would have no file)."""
    url = make_url(default_url)
    if not url.database or url.database == ":memory:":
        raise InvalidInput("tenants on SQLite are files beside the default database file; an in-memory database "
                           "has none (set MCS_ERP_DATABASE_URL to a file)")
    path = Path(url.database)
    return url.set(database=str(path.with_name(f"{path.stem}.{check_code(code)}.db"))).render_as_string(
        hide_password=False)


_current: ContextVar[str | None] = ContextVar("mcs_erp_tenant", default=None)


def current_tenant() -> str | None:
    """The code of the tenant the running code acts for; None for the default tenant."""
    return _current.get()


@contextmanager
def tenant_in_use(code: str | None) -> Iterator[None]:
    """Run the block for tenant `code` (None: the default tenant): every unit of work opened inside is routed to
    it. Raises InvalidInput for a malformed code."""
    token = _current.set(None if code is None else check_code(code))
    try:
        yield
    finally:
        _current.reset(token)


async def get_tenant(session: AsyncSession, code: str) -> Tenant | None:
    """Return the registered tenant `code`, or None (a session of the default tenant's database)."""
    return await session.get(Tenant, code)


async def get_tenant_or_raise(session: AsyncSession, code: str) -> Tenant:
    """Return the registered tenant `code`; raises InvalidInput for a malformed code, NotFound for an unknown one."""
    tenant = await get_tenant(session, check_code(code))
    if tenant is None:
        raise NotFound(f"no tenant with code {code!r}; `mcs-erp tenants list` shows them", field="code")
    return tenant


async def list_tenants(session: AsyncSession) -> list[Tenant]:
    """Return every registered tenant, by code."""
    return list((await session.exec(select(Tenant).order_by(Tenant.code))).all())  # type: ignore[arg-type]


async def active_codes(session: AsyncSession) -> list[str]:
    """Return the codes of the active registered tenants, in order."""
    stmt = select(Tenant.code).where(Tenant.status == TenantStatus.ACTIVE.value).order_by(Tenant.code)
    return list((await session.exec(stmt)).all())  # type: ignore[arg-type]


async def register_tenant(session: AsyncSession, *, code: str, name: str) -> Tenant:
    """Register tenant `code` named `name` (active, on the default database). Raises InvalidInput for a bad code
    or a name empty or over MAX_NAME characters, Conflict when the code is taken."""
    check_code(code)
    name = check_name(name)
    if await get_tenant(session, code) is not None:
        raise Conflict(f"tenant {code!r} already exists; `mcs-erp tenants migrate {code}` brings it up to date")
    tenant = Tenant(code=code, name=name, schema_name=schema_of(code))
    session.add(tenant)
    await session.flush()
    return tenant


async def set_status(session: AsyncSession, *, code: str, status: TenantStatus) -> Tenant:
    """Set tenant `code`'s status and return it; raises NotFound for an unknown code."""
    tenant = await get_tenant_or_raise(session, code)
    tenant.status = status.value
    session.add(tenant)
    await session.flush()
    return tenant


def refuse_suspended(tenant: Tenant) -> None:
    """Raise TenantSuspended when `tenant` is suspended."""
    if tenant.status == TenantStatus.SUSPENDED.value:
        raise TenantSuspended(f"tenant {tenant.code!r} ({tenant.name}) is suspended; an operator resumes it with "
                              f"`mcs-erp tenants resume {tenant.code}`")
