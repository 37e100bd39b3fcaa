"""Pending actions: a destructive tool call recorded with its preview, waiting to be released."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field

from domain.kernel.models import Entity


class ActionStatus(StrEnum):
    """proposed -> (confirm) executed | queued -> (approve) executed; or cancelled, rejected, expired, stale,
    failed. Only proposed and queued are open."""

    PROPOSED = "proposed"
    QUEUED = "queued"
    EXECUTED = "executed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    STALE = "stale"
    FAILED = "failed"


OPEN_STATUSES = (ActionStatus.PROPOSED, ActionStatus.QUEUED)


class GateLevel(StrEnum):
    """How a gated command is released: the requester confirms, or an admin (not the requester) approves."""

    CONFIRM = "confirm"
    APPROVE = "approve"


class PendingAction(Entity, table=True):
    """A gated call held at the gate: tool, arguments (and their hash), preview, and the plan it would apply
    (`plan`: canonical JSON of domain.kernel.plan.Plan, `plan_hash`: its SHA-256). `touched` is kept for actions
    proposed before plans existed (always "[]" now)."""

    __tablename__ = "pending_actions"

    tool: str = Field(max_length=80, nullable=False, index=True)
    level: str = Field(max_length=10, nullable=False)
    status: str = Field(max_length=12, nullable=False, index=True)
    summary: str = Field(max_length=500, nullable=False)
    arguments: str = Field(sa_column=Column(Text, nullable=False))
    args_hash: str = Field(max_length=64, nullable=False)
    preview: str = Field(sa_column=Column(Text, nullable=False))
    touched: str = Field(sa_column=Column(Text, nullable=False))
    plan: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    plan_hash: str | None = Field(default=None, max_length=64)
    requested_by: int = Field(foreign_key="users.id", nullable=False, index=True)
    requested_by_username: str = Field(max_length=80, nullable=False)
    channel: str = Field(max_length=20, nullable=False)
    expires_at: datetime = Field(nullable=False)
    confirmed_at: datetime | None = Field(default=None)
    decided_by: int | None = Field(default=None, foreign_key="users.id")
    decided_by_username: str | None = Field(default=None, max_length=80)
    decided_at: datetime | None = Field(default=None)
    decision_reason: str | None = Field(default=None, max_length=1000)
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, max_length=2000)
