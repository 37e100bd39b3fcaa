"""Notification tables: the log of every message queued (one row per recipient and message, with its status) and
each recipient's preferences by category (with the token of their unsubscribe link).

A notification moves queued -> sending (claimed by a sender, with a lease) -> sent | queued again (a transient
failure, retried later) | failed (attempts exhausted) | bounced (refused permanently); suppressed is recorded
instead of queued when the recipient opted out of an optional category. Rows are never deleted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field

from domain.kernel.models import Entity


class NotificationStatus(StrEnum):
    """Where a notification is (see the module docstring)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"


class Notification(Entity, table=True):
    """One email to one recipient. `dedupe_key` (e.g. an event id and a template) makes queueing idempotent: the
    same key and address queue one notification, however often an event is delivered."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedupe_key", "recipient_email", name="uq_notifications_dedupe"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_recipient", "recipient_email", "id"),
    )

    recipient_email: str = Field(max_length=254, nullable=False)
    recipient_name: str = Field(default="", max_length=200, nullable=False)
    person_kind: str | None = Field(default=None, max_length=20)  # guardian, employee, user
    person_id: int | None = Field(default=None)
    category: str = Field(max_length=40, nullable=False)
    template: str = Field(max_length=60, nullable=False)
    subject: str = Field(max_length=200, nullable=False)
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    document_id: int | None = Field(default=None)  # an attachment stored in the documents context
    attachment: str | None = Field(default=None, max_length=80)  # one made when sent: "payslip:<id>" (its PDF)
    unsubscribe_url: str | None = Field(default=None, max_length=600)  # None for a required category
    status: str = Field(default=NotificationStatus.QUEUED.value, max_length=20, nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None)
    message_id: str | None = Field(default=None, max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=200)


class NotificationPreference(Entity, table=True):
    """Whether an address receives an optional category, and the token of the unsubscribe link sent with it: a
    random bearer credential for this one switch only, the same in every message of the category (so each
    message's link works), never shown by a tool."""

    __tablename__ = "notification_preferences"
    __table_args__ = (
        UniqueConstraint("recipient_email", "category", name="uq_notification_preferences"),
        UniqueConstraint("token", name="uq_notification_preferences_token"),
    )

    recipient_email: str = Field(max_length=254, nullable=False)
    category: str = Field(max_length=40, nullable=False)
    opted_out: bool = Field(default=False, nullable=False)
    token: str = Field(max_length=64, nullable=False)
