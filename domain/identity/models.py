"""Users (who can act) and their API keys (stored as SHA-256 hashes, never in clear)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import false
from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow
from domain.kernel.models import Entity


class User(Entity, table=True):
    """A person or integration that acts in mcs-erp; `roles` is a comma-separated list of Role values."""

    __tablename__ = "users"

    username: str = Field(max_length=80, unique=True, index=True, nullable=False)
    display_name: str = Field(max_length=200, nullable=False)
    roles: str = Field(max_length=200, nullable=False)
    employee_id: int | None = Field(default=None, foreign_key="employees.id")


class ApiKey(SQLModel, table=True):
    """An API key of a user: only its SHA-256 hash and a short prefix (to tell keys apart) are stored.

    `demo` marks the keys `mcs-erp demo` issued: each demo run revokes the previous ones, and never a key made
    any other way (`mcs-erp keys create`, the admin pages, tests)."""

    __tablename__ = "api_keys"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    name: str = Field(max_length=120, nullable=False)
    prefix: str = Field(max_length=16, nullable=False)
    key_hash: str = Field(max_length=64, unique=True, index=True, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    revoked_at: datetime | None = Field(default=None)
    demo: bool = Field(default=False, nullable=False, sa_column_kwargs={"server_default": false()})


class SignInLink(SQLModel, table=True):
    """A one-time sign-in link emailed to a user (the parent pages): only the SHA-256 hash of its token is stored.
    It signs in once (`used_at`), before `expires_at`; a newer link does not revoke an older one still unused."""

    __tablename__ = "sign_in_links"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    token_hash: str = Field(max_length=64, unique=True, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
    expires_at: datetime = Field(nullable=False)
    used_at: datetime | None = Field(default=None)
