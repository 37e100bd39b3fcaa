"""Output schemas of the notifications context: the log an admin reads, and preferences."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from domain.kernel.schemas import OutputModel, Personal
from domain.notifications.models import Notification


class NotificationOut(OutputModel):
    notification_id: int
    recipient_email: Personal[str | None] = None
    recipient_name: Personal[str | None] = None
    person_kind: str | None = Field(default=None, description="guardian, employee or user.")
    person_id: int | None = None
    category: str
    template: str
    subject: Personal[str | None] = Field(default=None, description="Names the child or employee.")
    status: str = Field(description="queued, sending, sent, failed, bounced or suppressed (opted out).")
    attempts: int
    next_attempt_at: datetime | None = Field(default=None, description="UTC; when a queued one is tried next.")
    last_error: str | None = Field(default=None, description="The SMTP server's reply or the connection error.")
    sent_at: datetime | None = None
    has_attachment: bool
    created_at: datetime


def notification_out(row: Notification) -> NotificationOut:
    """A notification's log entry, without its body (it may hold an unsubscribe link: a credential)."""
    return NotificationOut(notification_id=row.id or 0, recipient_email=row.recipient_email,
                           recipient_name=row.recipient_name or None, person_kind=row.person_kind,
                           person_id=row.person_id, category=row.category, template=row.template,
                           subject=row.subject, status=row.status, attempts=row.attempts,
                           next_attempt_at=row.next_attempt_at, last_error=row.last_error, sent_at=row.sent_at,
                           has_attachment=row.document_id is not None, created_at=row.created_at)


class PreferencesOut(OutputModel):
    email: Personal[str | None] = None
    receives: dict[str, bool] = Field(description="Category -> receives it; required ones are always true.")
