"""Notification tools: the log of emails queued and sent (per person, by status), retrying a failed one, and a
recipient's preferences. Declarations only: the rules are domain/notifications'; sending is the worker's
(workers/notifications.py)."""

from __future__ import annotations

from pydantic import Field

from domain.kernel.actor import Role
from domain.notifications import rules
from domain.notifications import service as notifications
from domain.notifications.models import NotificationStatus
from domain.notifications.schemas import NotificationOut, PreferencesOut, notification_out
from tools.references import NotificationRef
from tools.registry import Effect, Module, ToolContext
from tools.types import Code, Email, Page, PageInput, ToolInput, page_of

module = Module("notifications", core=False, description="Emails to families and staff: the log, retries, "
                                                         "preferences.")
ADMINS = frozenset({Role.ADMIN})


class ListNotificationsIn(PageInput):
    status: NotificationStatus | None = None
    email: Email | None = None
    category: Code | None = Field(default=None, description=", ".join(rules.CATEGORIES))


@module.tool(effect=Effect.READ, roles=ADMINS)
async def list_notifications(ctx: ToolContext, args: ListNotificationsIn) -> Page[NotificationOut]:
    """List emails to families and staff (one person's: filter by email), oldest first, with status and the last
    error."""
    rows = await notifications.listing(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       status=None if args.status is None else args.status.value, email=args.email,
                                       category=args.category)
    page, cursor = page_of(rows, args.limit)
    return Page[NotificationOut](items=[notification_out(r) for r in page], next_cursor=cursor)


class NotificationIdIn(ToolInput):
    notification_id: NotificationRef


@module.tool(effect=Effect.WRITE, roles=ADMINS)
async def retry_notification(ctx: ToolContext, args: NotificationIdIn) -> NotificationOut:
    """Queue a failed or bounced email again now."""
    return notification_out(await notifications.retry(ctx.session, args.notification_id))


class PreferenceIn(ToolInput):
    email: Email
    category: Code = Field(description="An optional category: grades, fees or announcements.")
    receive: bool


@module.tool(effect=Effect.WRITE, roles=ADMINS)
async def set_notification_preference(ctx: ToolContext, args: PreferenceIn) -> PreferencesOut:
    """Switch an optional email category on or off for an address."""
    pref = await notifications.set_preference(ctx.session, email=args.email, category=args.category,
                                              receive=args.receive)
    return PreferencesOut(email=pref.recipient_email,
                          receives=await notifications.preferences(ctx.session, pref.recipient_email))
