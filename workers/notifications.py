"""The notification sender: claims due notifications, sends each over SMTP (aiosmtplib), records the outcome.

Like the audit sequencer it is a task, not an arq job: it runs in the server process on the embedded default and
beside the job loop of every `mcs-erp worker` (several senders claim different rows: SKIP LOCKED on PostgreSQL),
for the default tenant and every active registered one.
Without `smtp_host` configured it does nothing and notifications stay queued (visible with list_notifications).
Each round: claim up to a batch (one transaction, committed before any send), send them one by one on one SMTP
connection, record each outcome in its own transaction: sent; queued again after a backoff on a transient failure
(4yz, no connection: RFC 5321 s 4.2.1); bounced on a permanent refusal (5yz); failed after MAX_ATTEMPTS. A sender
that dies mid-round leaves its claimed rows to be claimed again when their lease ends (at least once). Once a day,
from fee_reminder_hour in the school's time zone, a round first queues the overdue-fee reminders
(ReminderSchedule): the scheduled job of issue 21, run as a round of this loop rather than an arq cron job so the
embedded default runs it too, and made safe to run in several processes by the reminders' dedupe keys.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import date, datetime
from zoneinfo import ZoneInfo
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import aiosmtplib

from domain.documents import service as documents
from domain.kernel.clock import utcnow
from domain.kernel.settings import Settings
from domain.kernel.tenants import tenant_in_use
from domain.notifications import rules
from domain.notifications import service as notifications
from domain.notifications.models import Notification
from domain.payroll import service as payroll
from tools.runtime import Runtime
from workers.tenancy import served_tenants, tenants_with

log = logging.getLogger(__name__)
BATCH = 50


def build_message(row: Notification, settings: Settings, attachment: tuple[str, str, bytes] | None = None
                  ) -> EmailMessage:
    """The email of a notification: From the configured address, To the recipient, a plain-text part and the HTML
    alternative when there is one, the attachment (filename, content type, bytes), and for an optional category
    the List-Unsubscribe and List-Unsubscribe-Post headers of RFC 8058 (one-click unsubscribe)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr((row.recipient_name, row.recipient_email)) if row.recipient_name else row.recipient_email
    message["Subject"] = row.subject
    domain = settings.mail_from.rpartition("@")[2].rstrip(">") or "mcs-erp.invalid"
    message["Message-ID"] = make_msgid(idstring=f"n{row.id}", domain=domain)
    if row.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    if attachment is not None:
        filename, content_type, data = attachment
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                               filename=filename)
    return message


def _smtp(settings: Settings) -> aiosmtplib.SMTP:
    tls = settings.smtp_tls
    context = ssl.create_default_context() if tls != "none" else None
    return aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port, use_tls=tls == "tls",
                           start_tls=tls == "starttls", tls_context=context, timeout=settings.smtp_timeout_seconds)


async def send_due(runtime: Runtime, *, batch: int = BATCH) -> dict[str, int]:
    """One round: claim up to `batch` due notifications, send them, record each outcome; return counts by outcome
    ({"sent": n, "queued": n, "bounced": n, "failed": n}). Does nothing without smtp_host."""
    settings = runtime.settings
    counts = {"sent": 0, "queued": 0, "bounced": 0, "failed": 0}
    if not settings.smtp_host:
        return counts
    async with runtime.db.write() as session:
        claimed = await notifications.claim_due(session, limit=batch)
    if not claimed:
        return counts
    attachments: dict[int, tuple[str, str, bytes]] = {}
    payslips = {row.id or 0: int(row.attachment.partition(":")[2]) for row in claimed
                if row.document_id is None and row.attachment and row.attachment.startswith("payslip:")}
    async with runtime.db.read() as session:  # outside the claim: rendering a payslip takes a few milliseconds
        for row in claimed:
            if row.document_id is not None:
                doc = await documents.get(session, row.document_id)
                attachments[row.id or 0] = (doc.filename, doc.content_type, bytes(doc.data))
        pdfs = await payroll.payslip_pdfs(session, payslips.values(), school_name=settings.school_name)
    for notification_id, payslip_id in payslips.items():
        filename, pdf = pdfs[payslip_id]
        attachments[notification_id] = (filename, "application/pdf", pdf)
    client = _smtp(settings)
    connected = False
    for row in claimed:
        message = build_message(row, settings, attachments.get(row.id or 0))
        code: int | None = None
        try:
            if not connected:
                await client.connect()
                if settings.smtp_username:
                    password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                    await client.login(settings.smtp_username, password)
                connected = True
            await client.send_message(message)
        except aiosmtplib.SMTPResponseException as exc:
            code, error = exc.code, f"{exc.code} {exc.message}"
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            connected = False
            client = _smtp(settings)
        else:
            async with runtime.db.write() as session:
                await notifications.record_sent(session, row.id or 0, message_id=message["Message-ID"])
            counts["sent"] += 1
            continue
        async with runtime.db.write() as session:
            status = await notifications.record_failure(session, row.id or 0, error=error,
                                                        permanent=rules.is_permanent(code),
                                                        max_attempts=settings.notification_max_attempts)
        if status in counts:
            counts[status] += 1
        log.warning("notification %s to %s not sent (%s): %s", row.id, row.recipient_email, status, error)
    if connected:
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
            pass
    return counts


CLAIMABLE = "status IN ('queued', 'sending')"  # a notification send_due may claim (its index: ix_notifications_due)


async def send_all_tenants(runtime: Runtime) -> dict[str, int]:
    """send_due for each tenant this process serves (workers.tenancy.served_tenants) with a queued notification, or
    one being sent (tenants_with: one statement per cluster on PostgreSQL); the counts summed. Nothing without
    smtp_host."""
    total = {"sent": 0, "queued": 0, "bounced": 0, "failed": 0}
    if not runtime.settings.smtp_host:
        return total
    for code in await tenants_with(runtime, await served_tenants(runtime), "notifications", CLAIMABLE):
        with tenant_in_use(code):
            for key, value in (await send_due(runtime)).items():
                total[key] += value
    return total


async def queue_fee_reminders(runtime: Runtime, as_of: date) -> int:
    """Queue `as_of`'s overdue-fee reminders (notifications.queue_fee_reminders, in the school's currency) for each
    tenant this process serves, each in its own transaction; return how many were queued."""
    settings = runtime.settings
    queued = 0
    for code in await served_tenants(runtime):
        with tenant_in_use(code):
            async with runtime.db.write() as session:
                done = await notifications.queue_fee_reminders(
                    session, as_of=as_of, currency=settings.currency, public_url=settings.public_url,
                    school_name=settings.school_name, every_days=settings.fee_reminder_every_days)
            queued += done.queued
    return queued


class ReminderSchedule:
    """When this process queues the day's fee reminders: once a day, at the first round from fee_reminder_hour in
    the school's time zone (the reminders' dedupe keys make a second process's run, or a restart's, send nothing
    twice)."""

    def __init__(self, settings: Settings) -> None:
        self.hour = settings.fee_reminder_hour
        try:
            self.zone = ZoneInfo(settings.school_timezone)
        except (KeyError, ValueError):
            self.zone = ZoneInfo("UTC")
        self.done_on: date | None = None

    def due(self, now: datetime) -> date | None:
        """The school's date to run for, when a run is due at `now` (UTC); else None."""
        local = now.astimezone(self.zone)
        if self.hour < 0 or local.hour < self.hour or self.done_on == local.date():
            return None
        return local.date()


async def sender_loop(runtime: Runtime, stopping: asyncio.Event, *, every: float | None = None) -> None:
    """Run rounds every `every` seconds (notification_send_seconds), at once again while full batches come, until
    `stopping` is set; a round in progress finishes first (a message sent is recorded as sent, not left to be sent
    again after its lease). A failed round is logged once while it keeps failing the same way."""
    every = runtime.settings.notification_send_seconds if every is None else every
    last_error = None
    schedule = ReminderSchedule(runtime.settings)
    while not stopping.is_set():
        full = False
        try:
            if (day := schedule.due(utcnow())) is not None:
                queued = await queue_fee_reminders(runtime, day)
                schedule.done_on = day
                log.info("fee reminders for %s: %d queued", day, queued)
            counts = await send_all_tenants(runtime)
            full = sum(counts.values()) >= BATCH
            last_error = None
        except Exception as exc:
            if repr(exc) != last_error:
                log.exception("notification round failed; retrying every %.1f s", every)
            last_error = repr(exc)
        if not full:
            try:
                await asyncio.wait_for(stopping.wait(), every)
            except asyncio.TimeoutError:
                pass


class Sender:
    """A running sender_loop task and the event that asks it to stop after its round."""

    def __init__(self, runtime: Runtime) -> None:
        self.stopping = asyncio.Event()
        self.task = asyncio.create_task(sender_loop(runtime, self.stopping), name="mcs-erp-notification-sender")

    async def stop(self, *, grace: float = 10.0) -> None:
        """Let the round in progress finish (at most `grace` seconds, then cancel it) and end the loop."""
        self.stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace)
        except asyncio.TimeoutError:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def start_sender(runtime: Runtime) -> Sender | None:
    """Start the sender in this process when smtp_host is set (else None)."""
    if not runtime.settings.smtp_host:
        return None
    return Sender(runtime)


async def stop_sender(sender: Sender | None) -> None:
    """Stop a sender start_sender made (nothing for None)."""
    if sender is not None:
        await sender.stop()
