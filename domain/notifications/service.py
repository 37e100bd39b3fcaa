"""Notifications use cases: queue a message for a recipient (rendered now, in the caller's transaction, so it
exists exactly when the change that caused it commits), claim due ones for a sender, record the outcome with
retries and backoff, preferences and unsubscribing, and the log an admin reads.

Sending is not here: workers/notifications.py claims due notifications (`claim_due`), sends them over SMTP and
records each outcome (`record_sent`, `record_failure`). Every function works inside the caller's unit of work and
never commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.fees import service as fees
from domain.kernel import money

from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.tenants import current_tenant
from domain.notifications import repository as repo
from domain.notifications import rules
from domain.notifications.models import Notification, NotificationPreference, NotificationStatus

UNSUBSCRIBE_PATH = "/notifications/unsubscribe"
"""The HTTP route (server/app.py) an unsubscribe link opens: GET shows a confirmation form, POST applies it (the
RFC 8058 one-click POST of a mail client, too)."""
MAX_ATTEMPTS = 8
"""Tries before a transiently failing notification is given up as failed (1+2+4+...+64 minutes: about two hours)."""
LEASE = timedelta(minutes=5)
"""How long a claimed notification is the claiming sender's; after that another sender may claim it again (the
first one died mid-send: it may have been delivered, so at least once, never silently lost)."""


async def queue(session: AsyncSession, *, to: str, name: str | None = None, category: str, template: str,
                context: dict[str, Any], public_url: str, school_name: str | None = None,
                person_kind: str | None = None, person_id: int | None = None, dedupe_key: str | None = None,
                document_id: int | None = None, attachment: str | None = None,
                now: datetime | None = None) -> Notification:
    """Queue one email to `to` in the caller's transaction and return its row.

    Renders `template` (domain/notifications/templates) with `context` plus recipient_name, school_name and, for
    an optional category, unsubscribe_url (`public_url` + UNSUBSCRIBE_PATH + the recipient's token for the
    category; `<tenant>.<token>` for a tenant other than the default). A recipient who opted out of an optional
    category gets a row with status suppressed and nothing is sent. With `dedupe_key` (an event id and what it is for), the same key and address queue one notification:
    the existing row is returned. `document_id` (a stored document) is attached when sent; `attachment` names one
    made when sent instead ("payslip:<id>": its PDF, rendered by the sender). Raises InvalidInput for a bad
    address, name, category, template, attachment or data (rules)."""
    if attachment is not None and not rules.ATTACHMENT.match(attachment):
        raise InvalidInput(f"attachment {attachment[:80]!r} is not one the sender makes; it makes payslip:<id>",
                           field="attachment")
    email = rules.check_address(to)
    display = rules.check_name(name)
    kind = rules.category(category)
    if dedupe_key is not None:
        if len(dedupe_key) > 200:
            raise InvalidInput("dedupe_key is at most 200 characters", field="dedupe_key")
        existing = await repo.by_dedupe(session, dedupe_key, email)
        if existing is not None:
            return existing
    status = NotificationStatus.QUEUED
    unsubscribe_url = None
    if not kind.required:
        pref = await repo.preference(session, email, kind.code)
        if pref.opted_out:
            status = NotificationStatus.SUPPRESSED
        tenant = current_tenant()
        token = pref.token if tenant is None else f"{tenant}.{pref.token}"  # the link names its tenant
        unsubscribe_url = f"{public_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={quote(token)}"
    rendered = rules.render(template, {**context, "recipient_name": display, "school_name": school_name,
                                       "unsubscribe_url": unsubscribe_url})
    moment = now or utcnow()
    row = Notification(recipient_email=email, recipient_name=display, person_kind=person_kind, person_id=person_id,
                       category=kind.code, template=template, subject=rendered.subject, body_text=rendered.text,
                       body_html=rendered.html, document_id=document_id, attachment=attachment,
                       unsubscribe_url=unsubscribe_url,
                       status=status.value, next_attempt_at=moment if status is NotificationStatus.QUEUED else None,
                       dedupe_key=dedupe_key, created_at=moment, updated_at=moment)
    session.add(row)
    await session.flush()
    return row


async def claim_due(session: AsyncSession, *, limit: int = 50, now: datetime | None = None) -> list[Notification]:
    """Claim up to `limit` (1..500) notifications due now for this sender (see repository.claim_due): commit this
    transaction before sending them, then record each outcome in its own."""
    if not 1 <= limit <= 500:
        raise InvalidInput("limit is 1 to 500", field="limit")
    moment = now or utcnow()
    return await repo.claim_due(session, now=moment, limit=limit, lease_until=moment + LEASE)


async def _claimed(session: AsyncSession, notification_id: int) -> Notification | None:
    row = await session.get(Notification, notification_id, with_for_update=True)
    if row is None or row.status != NotificationStatus.SENDING.value:
        return None  # another sender took it over after our lease ran out and already recorded it
    return row


async def record_sent(session: AsyncSession, notification_id: int, *, message_id: str,
                      now: datetime | None = None) -> None:
    """Mark a claimed notification sent, with the Message-ID it went out with."""
    row = await _claimed(session, notification_id)
    if row is None:
        return
    row.status = NotificationStatus.SENT.value
    row.sent_at = now or utcnow()
    row.message_id = message_id[:200]
    row.next_attempt_at = None
    row.last_error = None
    bump(row)
    session.add(row)


async def record_failure(session: AsyncSession, notification_id: int, *, error: str, permanent: bool,
                         now: datetime | None = None, max_attempts: int = MAX_ATTEMPTS) -> str | None:
    """Record a failed attempt: a permanent refusal (SMTP 5yz) bounces it; a transient one queues it again after
    rules.next_attempt, or fails it after `max_attempts` tries. Returns the new status (None when the row was no
    longer this sender's)."""
    row = await _claimed(session, notification_id)
    if row is None:
        return None
    moment = now or utcnow()
    row.last_error = error[:500]
    if permanent:
        row.status = NotificationStatus.BOUNCED.value
        row.next_attempt_at = None
    elif row.attempts >= max_attempts:
        row.status = NotificationStatus.FAILED.value
        row.next_attempt_at = None
    else:
        row.status = NotificationStatus.QUEUED.value
        row.next_attempt_at = rules.next_attempt(row.attempts, moment)
    bump(row)
    session.add(row)
    return row.status


async def retry(session: AsyncSession, notification_id: int) -> Notification:
    """Queue a failed or bounced notification again, now, with its attempts reset. Raises NotFound, and Conflict
    for one in another status."""
    row = await session.get(Notification, notification_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no notification with id {notification_id}; list_notifications shows them",
                       field="notification_id")
    if row.status not in (NotificationStatus.FAILED.value, NotificationStatus.BOUNCED.value):
        raise Conflict(f"notification {notification_id} is {row.status}; only failed or bounced ones are retried",
                       field="notification_id")
    row.status = NotificationStatus.QUEUED.value
    row.attempts = 0
    row.next_attempt_at = utcnow()
    bump(row)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class Unsubscribed:
    email: str
    category: str
    description: str


async def unsubscribe_target(session: AsyncSession, token: str) -> Unsubscribed:
    """What an unsubscribe link's token switches off; raises NotFound for an unknown token (bounded: at most 64
    characters)."""
    pref = await _by_token(session, token)
    return Unsubscribed(pref.recipient_email, pref.category, rules.CATEGORIES[pref.category].description)


async def unsubscribe(session: AsyncSession, token: str) -> Unsubscribed:
    """Opt the token's address out of the token's category (idempotent); raises NotFound for an unknown token."""
    pref = await _by_token(session, token, for_update=True)
    if not pref.opted_out:
        pref.opted_out = True
        bump(pref)
        session.add(pref)
    return Unsubscribed(pref.recipient_email, pref.category, rules.CATEGORIES[pref.category].description)


async def _by_token(session: AsyncSession, token: str, *, for_update: bool = False) -> NotificationPreference:
    if not token or len(token) > 64:
        raise NotFound("this unsubscribe link is not valid", field="token")
    pref = await repo.preference_by_token(session, token)
    if pref is None:
        raise NotFound("this unsubscribe link is not valid (it may have been mistyped)", field="token")
    if for_update:
        await session.refresh(pref, with_for_update=True)
    return pref


async def set_preference(session: AsyncSession, *, email: str, category: str, receive: bool) -> NotificationPreference:
    """Set whether `email` receives the optional `category`. Raises InvalidInput for a bad address, an unknown
    category, or a required one (it cannot be switched off)."""
    address = rules.check_address(email, field="email")
    kind = rules.category(category)
    if kind.required:
        raise InvalidInput(f"{kind.code} messages are required ({kind.description}) and cannot be switched off",
                           field="category")
    pref = await repo.preference(session, address, kind.code)
    if pref.opted_out == receive:
        pref.opted_out = not receive
        bump(pref)
        session.add(pref)
        await session.flush()
    return pref


async def preferences(session: AsyncSession, email: str) -> dict[str, bool]:
    """{category: receives} for every category (required ones always True) of `email`."""
    address = rules.check_address(email, field="email")
    chosen = {p.category: not p.opted_out for p in await repo.preferences_of(session, address)}
    return {code: True if c.required else chosen.get(code, True) for code, c in rules.CATEGORIES.items()}


async def listing(session: AsyncSession, *, after_id: int = 0, limit: int = 50, status: str | None = None,
                  email: str | None = None, category: str | None = None, person_kind: str | None = None,
                  person_id: int | None = None) -> list[Notification]:
    """The notification log in id order, filtered: up to `limit` + 1 rows (the extra one says a next page exists);
    `limit` 1..200. Raises InvalidInput for an unknown status or category, or a bad address."""
    if not 1 <= limit <= 200:
        raise InvalidInput("limit is 1 to 200", field="limit")
    if status is not None and status not in {s.value for s in NotificationStatus}:
        raise InvalidInput(f"status {status!r} is unknown; use one of "
                           f"{', '.join(s.value for s in NotificationStatus)}", field="status")
    if category is not None:
        rules.category(category)
    address = rules.check_address(email, field="email") if email is not None else None
    return await repo.listing(session, after_id=after_id, limit=limit + 1, status=status, email=address,
                              category=category, person_kind=person_kind, person_id=person_id)


@dataclass(frozen=True)
class RemindersQueued:
    """What one reminders run did: families reminded, families already reminded in this interval, and families
    with no address to write to."""

    queued: int
    already: int
    no_address: int


async def queue_fee_reminders(session: AsyncSession, *, as_of: dt.date, currency: str, public_url: str,
                              school_name: str | None = None, every_days: int = 14) -> RemindersQueued:
    """Queue one reminder per family with fees overdue on `as_of` (fees.fee_reminders: at least one day past due)
    to its billing contact, else the first guardian with an address (category fees: optional). A family is reminded
    once per `every_days` (1..90) while it stays overdue: the dedupe key names the family, its overdue invoices and
    the interval since the oldest due date, so running this again the same day, or every day, sends nothing twice,
    and a newly overdue invoice is told at once. Each family's row is written in its own savepoint: a concurrent run
    (another worker) that queued it first is counted as already, not an error."""
    if not 1 <= every_days <= 90:
        raise InvalidInput("every_days is 1 to 90", field="every_days")
    queued = already = no_address = 0
    for reminder in await fees.fee_reminders(session, as_of=as_of, currency=currency):
        contact = next((c for c in reminder.contacts if c.email), None)
        if contact is None:
            no_address += 1
            continue
        invoices = sorted(reminder.invoices, key=lambda i: (i.invoice.due_date, i.invoice.id or 0))
        interval = (as_of - reminder.oldest_due_date).days // every_days
        ids = ",".join(str(i.invoice.id) for i in invoices)
        key = f"fees.overdue:{reminder.family.id}:{interval}:{hashlib.sha256(ids.encode()).hexdigest()[:24]}"
        rows = [{"number": i.invoice.invoice_number, "due_date": i.invoice.due_date.isoformat(),
                 "balance": money.format_money(i.balance, currency, code=False),
                 "student": _student_name(reminder.students.get(i.invoice.student_id))} for i in invoices]
        context = {"family_name": reminder.family.name, "currency": currency, "invoices": rows,
                   "overdue": money.format_money(reminder.overdue, currency, code=False),
                   "total_owed": money.format_money(reminder.total_owed, currency, code=False),
                   "credit": money.format_money(reminder.credit_available, currency, code=False)
                   if reminder.credit_available else None,
                   "oldest_due_date": reminder.oldest_due_date.isoformat()}
        try:
            async with session.begin_nested():
                existing = await repo.by_dedupe(session, key, rules.check_address(contact.email or ""))
                if existing is not None:
                    already += 1
                    continue
                await queue(session, to=contact.email or "", name=contact.name, category="fees",
                            template="invoice_overdue", context=context, public_url=public_url,
                            school_name=school_name, person_kind="family", person_id=reminder.family.id,
                            dedupe_key=key)
        except IntegrityError:  # another run queued it between our look and our insert
            already += 1
            continue
        except InvalidInput:  # the contact's stored address is not one: nothing to send it to
            no_address += 1
            continue
        queued += 1
    return RemindersQueued(queued=queued, already=already, no_address=no_address)


def _student_name(student) -> str:
    return "" if student is None else f"{student.first_name} {student.last_name}"
