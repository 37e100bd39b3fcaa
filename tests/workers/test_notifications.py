"""Notifications end to end through a real SMTP server (aiosmtpd, in this process): queued in the caller's
transaction, sent once by the sender with text and HTML parts, attachments and RFC 8058 unsubscribe headers;
retried with backoff while the server is down and sent when it is back; bounced on a permanent refusal; suppressed
after an unsubscribe, while required categories still go; bad input refused with nothing queued."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from sqlmodel import select

from domain.documents import service as documents
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.notifications import rules
from domain.notifications import service as notifications
from domain.notifications.models import Notification
from tests.conftest import own_runtime
from workers.notifications import send_due

RESULTS = [{"subject": "Mathematics", "grade": "A", "comment": "Excellent <b>work</b>"},
           {"subject": "English", "grade": "B", "comment": None}]


class Inbox:
    """An aiosmtpd handler that keeps what it receives, or refuses every message with `refuse` (an SMTP reply)."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.refuse: str | None = None

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        if self.refuse:
            return self.refuse
        self.messages.append((envelope, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real SMTP server on a fixed local port that can be stopped and started again (a new aiosmtpd Controller
    each time: one cannot restart)."""

    def __init__(self, inbox: Inbox) -> None:
        self.inbox, self.port, self.controller = inbox, free_port(), None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
async def smtp():
    inbox = Inbox()
    server = Server(inbox)
    inbox.server = server  # type: ignore[attr-defined]
    server.start()
    try:
        yield inbox
    finally:
        server.stop()


@pytest.fixture
async def nrt(tmp_path_factory, smtp):
    async with own_runtime(tmp_path_factory, "notifications", smtp_host="127.0.0.1",
                           smtp_port=smtp.server.port, smtp_tls="none",
                           mail_from="Hillview office <office@hillview.example>",
                           public_url="https://erp.hillview.example", notification_send_seconds=0.1) as runtime:
        yield runtime


async def queue_grades(runtime, to: str, *, key: str | None = None, name: str = "Sam Guardian") -> Notification:
    async with runtime.db.write() as s:
        return await notifications.queue(
            s, to=to, name=name, category="grades", template="term_grades_published",
            context={"student_name": "Alex Lee", "term_name": "Term 1 2026", "results": RESULTS},
            public_url=runtime.settings.public_url, school_name="Hillview", person_kind="guardian", person_id=7,
            dedupe_key=key)


async def rows(runtime) -> list[Notification]:
    async with runtime.db.read() as s:
        return list((await s.exec(select(Notification).order_by(Notification.id))).all())


async def received(smtp, count: int, runtime, *, timeout: float = 30.0, settle: float = 0.0) -> None:
    """Wait until the SMTP server holds `count` messages (fail after `timeout` seconds, showing the log), then
    `settle` seconds more: further relay and sender rounds, in which nothing may be sent twice."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(smtp.messages) < count:
        assert loop.time() < deadline, (smtp.messages, await rows(runtime))
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle)


async def test_a_queued_notification_is_sent_once_with_both_parts_and_the_unsubscribe_headers(nrt, smtp):
    first = await queue_grades(nrt, "Sam@Hillview.Example", key="event:1:grades")
    again = await queue_grades(nrt, "SAM@hillview.example", key="event:1:grades")
    assert again.id == first.id, "the same event delivered twice queues one notification"
    assert first.recipient_email == "sam@hillview.example" and first.status == "queued"

    assert await send_due(nrt) == {"sent": 1, "queued": 0, "bounced": 0, "failed": 0}
    assert await send_due(nrt) == {"sent": 0, "queued": 0, "bounced": 0, "failed": 0}, "sent once, never again"
    assert len(smtp.messages) == 1
    envelope, message = smtp.messages[0]
    assert envelope.rcpt_tos == ["sam@hillview.example"] and envelope.mail_from == "office@hillview.example"
    assert message["Subject"] == "Alex Lee: Term 1 2026 results are published"
    assert message["To"] == "Sam Guardian <sam@hillview.example>"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content()
    assert "- Mathematics: A (Excellent <b>work</b>)" in text and "- English: B\n" in text
    assert "Excellent &lt;b&gt;work&lt;/b&gt;" in html and "<b>work" not in html, "the HTML part escapes data"
    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://erp.hillview.example/notifications/unsubscribe?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe.strip("<>") in text
    [row] = await rows(nrt)
    assert (row.status, row.attempts, row.message_id) == ("sent", 1, message["Message-ID"]) and row.sent_at


async def test_a_server_that_is_down_is_retried_with_backoff_and_a_refusal_bounces(nrt, smtp):
    await queue_grades(nrt, "pat@hillview.example")
    smtp.server.stop()
    assert (await send_due(nrt))["queued"] == 1
    [row] = await rows(nrt)
    assert row.status == "queued" and row.attempts == 1 and "Error" in (row.last_error or "")
    wait = row.next_attempt_at - row.updated_at
    assert timedelta(seconds=59) <= wait <= timedelta(seconds=61), wait
    assert (await send_due(nrt))["queued"] == 0, "not retried before its time"

    smtp.server.start()
    async with nrt.db.write() as s:  # its time comes
        row = await s.get(Notification, row.id)
        row.next_attempt_at = utcnow() - timedelta(seconds=1)
        s.add(row)
    assert (await send_due(nrt))["sent"] == 1
    assert [m["To"] for _, m in smtp.messages] == ["Sam Guardian <pat@hillview.example>"]
    assert (await rows(nrt))[0].attempts == 2

    smtp.refuse = "550 5.1.1 No such mailbox"
    await queue_grades(nrt, "gone@hillview.example")
    assert (await send_due(nrt))["bounced"] == 1
    bounced = (await rows(nrt))[-1]
    assert bounced.status == "bounced" and bounced.last_error.startswith("550")
    async with nrt.db.write() as s:
        with pytest.raises(Conflict, match="only failed or bounced"):
            await notifications.retry(s, (await rows(nrt))[0].id)
        retried = await notifications.retry(s, bounced.id)
    assert retried.status == "queued" and retried.attempts == 0


async def test_failing_transiently_gives_up_after_max_attempts(nrt, smtp):
    smtp.refuse = "451 4.3.0 Try again later"
    await queue_grades(nrt, "kim@hillview.example")
    for attempt in range(1, nrt.settings.notification_max_attempts + 1):
        async with nrt.db.write() as s:
            row = (await s.exec(select(Notification))).one()
            row.next_attempt_at = utcnow() - timedelta(seconds=1)
            s.add(row)
        outcome = await send_due(nrt)
        expected = "failed" if attempt == nrt.settings.notification_max_attempts else "queued"
        assert outcome[expected] == 1, (attempt, outcome)
    [row] = await rows(nrt)
    assert row.status == "failed" and row.attempts == nrt.settings.notification_max_attempts
    assert smtp.messages == []


async def test_unsubscribing_suppresses_optional_mail_but_not_required_mail(nrt, smtp):
    first = await queue_grades(nrt, "lee@hillview.example")
    token = first.unsubscribe_url.rpartition("token=")[2]
    async with nrt.db.write() as s:
        target = await notifications.unsubscribe_target(s, token)
        assert (target.email, target.category) == ("lee@hillview.example", "grades")
        await notifications.unsubscribe(s, token)
        await notifications.unsubscribe(s, token)  # a second click changes nothing
        with pytest.raises(NotFound):
            await notifications.unsubscribe(s, token[:-1] + ("A" if token[-1] != "A" else "B"))
        with pytest.raises(NotFound):
            await notifications.unsubscribe(s, "x" * 65)
        assert (await notifications.preferences(s, "lee@hillview.example"))["grades"] is False
    suppressed = await queue_grades(nrt, "lee@hillview.example")
    assert suppressed.status == "suppressed" and suppressed.next_attempt_at is None
    async with nrt.db.write() as s:
        required = await notifications.queue(
            s, to="lee@hillview.example", category="attendance", template="student_absent",
            context={"student_name": "Alex Lee", "date": "2026-03-02", "period": None},
            public_url=nrt.settings.public_url)
        with pytest.raises(InvalidInput, match="required"):
            await notifications.set_preference(s, email="lee@hillview.example", category="attendance",
                                               receive=False)
    assert required.unsubscribe_url is None
    assert (await send_due(nrt))["sent"] == 2, "the grades mail queued before the unsubscribe and the absence"
    assert [m["Subject"] for _, m in smtp.messages][-1] == "Alex Lee was marked absent on 2026-03-02"
    assert smtp.messages[-1][1]["List-Unsubscribe"] is None
    async with nrt.db.write() as s:
        await notifications.set_preference(s, email="lee@hillview.example", category="grades", receive=True)
    assert (await queue_grades(nrt, "lee@hillview.example")).status == "queued"


async def test_an_attachment_goes_with_the_message(nrt, smtp):
    pdf = b"%PDF-1.4 payslip"
    async with nrt.db.write() as s:
        doc = await documents.store(s, kind="payslip", filename="PS202606-1-E0001.pdf",
                                    content_type="application/pdf", data=pdf)
        await notifications.queue(s, to="staff@hillview.example", name="Jo Staff", category="payroll",
                                  template="payslip", context={"period": "2026-06", "number": "PS202606-1-E0001",
                                                               "net": "4,512.30", "currency": "AUD",
                                                               "pay_date": "2026-06-26"},
                                  public_url=nrt.settings.public_url, document_id=doc.id)
    assert (await send_due(nrt))["sent"] == 1
    message = smtp.messages[0][1]
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "PS202606-1-E0001.pdf" and attachment.get_content() == pdf


@pytest.mark.parametrize(("field", "kwargs"), [
    ("recipient_email", {"to": "not an address"}),
    ("recipient_email", {"to": "a@b.example\r\nBcc: everyone@b.example"}),
    ("recipient_email", {"to": "x" * 250 + "@b.example"}),
    ("recipient_name", {"name": "Sam\r\nBcc: everyone@b.example"}),
    ("recipient_name", {"name": "n" * 201}),
    ("category", {"category": "spam"}),
    ("template", {"template": "../../etc/passwd"}),
    ("context", {"context": {"student_name": "Alex"}}),  # term_name and results missing
    ("context", {"context": {"student_name": "x" * 70_000, "term_name": "T1", "results": []}}),
    ("dedupe_key", {"dedupe_key": "k" * 201}),
])
async def test_bad_input_is_refused_and_nothing_is_queued(nrt, field, kwargs):
    args = {"to": "sam@hillview.example", "name": "Sam", "category": "grades", "template": "term_grades_published",
            "context": {"student_name": "Alex Lee", "term_name": "Term 1", "results": RESULTS},
            "public_url": nrt.settings.public_url, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        async with nrt.db.write() as s:
            await notifications.queue(s, **args)
    assert caught.value.field == field, caught.value
    assert await rows(nrt) == []


def test_backoff_doubles_and_is_capped_and_5yz_is_permanent():
    now = utcnow()
    assert [(rules.next_attempt(n, now) - now).total_seconds() for n in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert rules.next_attempt(50, now) - now == timedelta(hours=6)
    assert rules.is_permanent(550) and rules.is_permanent(554)
    assert not rules.is_permanent(451) and not rules.is_permanent(None) and not rules.is_permanent(250)


async def test_two_senders_at_once_send_each_notification_once(nrt, smtp):
    for n in range(12):
        await queue_grades(nrt, f"parent{n}@hillview.example")
    results = await asyncio.gather(send_due(nrt, batch=5), send_due(nrt, batch=5), send_due(nrt, batch=5))
    assert sum(r["sent"] for r in results) + (await send_due(nrt))["sent"] == 12
    assert sorted(e.rcpt_tos[0] for e, _ in smtp.messages) == sorted(f"parent{n}@hillview.example"
                                                                      for n in range(12))


async def test_a_serving_process_sends_queued_mail_on_its_own(nrt, smtp):
    from workers.runner import InProcessRunner

    runner = InProcessRunner(nrt)
    await runner.start(serving=True)
    try:
        await queue_grades(nrt, "ash@hillview.example")
        await received(smtp, 1, nrt, timeout=20)
    finally:
        await runner.stop()  # lets the sender record what it sent before it ends
    assert [e.rcpt_tos for e, _ in smtp.messages] == [["ash@hillview.example"]]
    assert (await rows(nrt))[0].status == "sent"


async def test_published_term_grades_reach_each_guardian_once_with_their_own_childs_grade(tmp_path_factory, smtp):
    """Issue 21's acceptance: grades published through the gate, then every guardian of the class receives one email
    through the SMTP server, with the right child's results and nobody else's (relay -> handler -> sender, all in
    a serving process)."""
    from sqlalchemy import update

    from domain.academics.models import Guardian
    from tests.factories import make_school
    from tests.gate_helpers import released
    from tools.invoke import invoke
    from workers.runner import InProcessRunner

    async with own_runtime(tmp_path_factory, "grades-mail", smtp_host="127.0.0.1", smtp_port=smtp.server.port,
                           smtp_tls="none", public_url="https://erp.hillview.example", school_name="Hillview",
                           notification_send_seconds=0.1, event_poll_seconds=0.1) as runtime:
        school = await make_school(runtime, students=3)
        async with runtime.db.write() as s:  # each family its own address; the third has none
            for n, student in enumerate(school.student_ids):
                await s.exec(update(Guardian).where(Guardian.student_id == student).values(  # type: ignore
                    email=None if n == 2 else f"parent{n}@hillview.example", name=f"Parent {n}"))
        for student, score in zip(school.student_ids, (92, 55, 70), strict=True):
            await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": student,
                                                   "score": score}, school.teacher)
        runner = InProcessRunner(runtime)
        await runner.start(serving=True)
        try:
            pending = await invoke(runtime, "publish_term_grades", {"class_id": school.class_id,
                                                                    "term_id": school.term_id}, school.registrar)
            await released(runtime, pending, school.registrar, school.admin)
            await received(smtp, 2, runtime, settle=1.0)
        finally:
            await runner.stop()
    assert sorted(e.rcpt_tos[0] for e, _ in smtp.messages) == ["parent0@hillview.example", "parent1@hillview.example"]
    names = {n: f"Stu{n} " for n in range(3)}
    for envelope, message in smtp.messages:
        n = int(envelope.rcpt_tos[0][len("parent")])
        text = message.get_body(("plain",)).get_content()
        assert message["Subject"].startswith(names[n]) and "Term 1" in message["Subject"]
        assert f"Dear Parent {n}," in text and "- Mathematics:" in text
        assert all(names[other] not in text for other in names if other != n), "nobody else's child"
        assert message["List-Unsubscribe"] is not None


async def test_overdue_fees_are_reminded_once_per_family_and_interval(nrt, smtp):
    """Issue 21's acceptance: invoices cross their due date and the next reminders run queues one reminder per
    overdue family, to its billing contact, naming its own invoices; running again sends nothing twice; a family
    still overdue is reminded again after fee_reminder_every_days; a newly overdue invoice is told at once."""
    from datetime import date

    from domain.fees import service as fees
    from domain.kernel.actor import SYSTEM_ACTOR
    from tests.fees_helpers import CURRENCY, make_fee_school
    from workers.notifications import queue_fee_reminders

    nrt.settings.currency = CURRENCY
    world = await make_fee_school(nrt, due=date(2026, 2, 15), due2=date(2026, 5, 15))
    async with nrt.db.write() as s:
        await fees.generate_invoices(s, SYSTEM_ACTOR, schedule_id=world.schedule_id, issue=True,
                                     issue_date=date(2026, 1, 20))
    assert await queue_fee_reminders(nrt, date(2026, 2, 15)) == 0, "due today is not overdue yet"
    assert await queue_fee_reminders(nrt, date(2026, 2, 16)) == 3, "Kim, Lee and Moe each owe Term 1's fees"
    assert await queue_fee_reminders(nrt, date(2026, 2, 16)) == 0
    assert await queue_fee_reminders(nrt, date(2026, 2, 20)) == 0, "within the interval: not again"
    assert (await send_due(nrt))["sent"] == 3
    to = sorted(e.rcpt_tos[0].split(".")[0] for e, _ in smtp.messages)
    assert to == ["kim", "lee", "moe"]
    kim = next(m for e, m in smtp.messages if e.rcpt_tos[0].startswith("kim."))
    text = kim.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Dear Kim Parent,") and text.count("\n- INV") == 3, text  # Ana's, Ben's and Cai's
    assert "Dee" not in text and "Eli" not in text and kim["List-Unsubscribe"] is not None

    assert await queue_fee_reminders(nrt, date(2026, 3, 2)) == 3, "14 days on, still overdue: reminded again"
    async with nrt.db.write() as s:  # Term 2's invoices, due 15 May
        await fees.generate_invoices(s, SYSTEM_ACTOR, schedule_id=world.schedule2_id, issue=True,
                                     issue_date=date(2026, 4, 20))
    assert await queue_fee_reminders(nrt, date(2026, 5, 16)) == 3, "a newly overdue invoice is told at once"
    assert await queue_fee_reminders(nrt, date(2026, 5, 16)) == 0


def test_the_reminder_schedule_runs_once_a_day_from_its_hour_in_the_schools_zone():
    from datetime import UTC, datetime

    from domain.kernel.settings import Settings
    from workers.notifications import ReminderSchedule

    schedule = ReminderSchedule(Settings(school_timezone="Australia/Melbourne", fee_reminder_hour=9))
    assert schedule.due(datetime(2026, 3, 1, 21, 59, tzinfo=UTC)) is None  # 08:59 on 2 March in Melbourne
    day = schedule.due(datetime(2026, 3, 1, 22, 0, tzinfo=UTC))
    assert str(day) == "2026-03-02"
    schedule.done_on = day
    assert schedule.due(datetime(2026, 3, 2, 5, 0, tzinfo=UTC)) is None, "once a day"
    assert str(schedule.due(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))) == "2026-03-03"
    assert ReminderSchedule(Settings(fee_reminder_hour=-1)).due(datetime(2026, 3, 2, 12, tzinfo=UTC)) is None


async def test_a_same_day_absence_tells_each_guardian_once(tmp_path_factory, smtp):
    """Issue 21: a student marked absent on today's register makes one email to each guardian (required: no
    unsubscribe link), once however often the register is retaken; a past day's absence and a present mark tell
    nobody."""
    from datetime import date

    from sqlalchemy import update

    from domain.academics import attendance
    from domain.academics.attendance_models import AttendanceStatus
    from domain.academics.models import Guardian
    from tests.factories import make_school
    from workers.runner import InProcessRunner

    today = date(2026, 10, 5)
    async with own_runtime(tmp_path_factory, "absence-mail", smtp_host="127.0.0.1", smtp_port=smtp.server.port,
                           smtp_tls="none", notification_send_seconds=0.1, event_poll_seconds=0.1) as runtime:
        school = await make_school(runtime, students=3)
        async with runtime.db.write() as s:
            for n, student in enumerate(school.student_ids):
                await s.exec(update(Guardian).where(Guardian.student_id == student).values(  # type: ignore
                    email=f"parent{n}@hillview.example", name=f"Parent {n}"))

        async def register(on: date, *statuses: AttendanceStatus) -> None:
            async with runtime.db.write() as s:
                await attendance.take_attendance(
                    s, school.teacher, section_id=school.section_id, on_date=on, today=today,
                    entries=[attendance.RegisterEntry(student, status)
                             for student, status in zip(school.student_ids, statuses, strict=True)])

        absent, present = AttendanceStatus.ABSENT, AttendanceStatus.PRESENT
        runner = InProcessRunner(runtime)
        await runner.start(serving=True)
        try:
            await register(date(2026, 10, 2), absent, absent, absent)  # a past day: nobody is told
            await register(today, absent, present, present)
            await register(today, absent, present, present)  # retaken unchanged
            await register(today, present, absent, present)  # corrected: Stu1 absent, Stu0 was not after all
            await register(today, absent, absent, present)  # Stu0 absent again: told once already
            await received(smtp, 2, runtime, settle=1.0)
        finally:
            await runner.stop()
    assert sorted(e.rcpt_tos[0] for e, _ in smtp.messages) == ["parent0@hillview.example", "parent1@hillview.example"]
    for envelope, message in smtp.messages:
        n = envelope.rcpt_tos[0][len("parent")]
        subject = message["Subject"]
        assert subject.startswith(f"Stu{n} ") and subject.endswith(" was marked absent on 2026-10-05"), subject
        assert message["List-Unsubscribe"] is None


async def test_paid_payslips_reach_each_employee_with_the_pdf_attached(tmp_path_factory, smtp):
    """Issue 21: a run marked paid (through the gate) sends each employee their payslip at their work address, the
    PDF attached, once."""
    from datetime import date

    from pypdf import PdfReader

    from domain.hr import service as hr
    from domain.hr.models import EmploymentType
    from domain.kernel.actor import SYSTEM_ACTOR
    from tests.factories import make_user, unique
    from tests.tools.test_payroll import STRUCTURE, run_month
    from tools.invoke import invoke

    async with own_runtime(tmp_path_factory, "payslip-mail", in_process_jobs=True, smtp_host="127.0.0.1",
                           smtp_port=smtp.server.port, smtp_tls="none", notification_send_seconds=0.1,
                           event_poll_seconds=0.1, school_name="Hillview") as runtime:
        async with runtime.db.write() as s:
            office = await hr.create_department(s, SYSTEM_ACTOR, code=unique("OF"), name="Office")
            staff = [await hr.create_employee(s, SYSTEM_ACTOR, first_name=f"Jo{i}", last_name="Staff",
                                              work_email=f"jo{i}@hillview.example", position="Teacher",
                                              department_id=office.id, hire_date=date(2020, 1, 6),
                                              employment_type=EmploymentType.FULL_TIME) for i in range(2)]
            officer = await make_user(s, roles="payroll")
            admin = await make_user(s, roles="admin")
            admin2 = await make_user(s, roles="admin")
        structure = await invoke(runtime, "create_salary_structure", {
            "code": "AU_TEACHERS", "name": "Teachers (AU)", "currency": "AUD", "components": STRUCTURE}, officer)
        for employee, base in zip(staff, (650000, 720000), strict=True):
            await invoke(runtime, "create_employment_contract", {
                "employee_id": employee.id, "start_date": "2026-01-01", "base_minor": base, "currency": "AUD",
                "salary_structure_id": structure.salary_structure_id, "filing_status": "scale_2"}, officer)
        await runtime.jobs.start(serving=True)  # the relay and the sender of a serving process
        try:
            run = await run_month(runtime, {"officer": officer, "admin": admin, "admin2": admin2}, "2026-03",
                                  "2026-03-26")
            await received(smtp, 2, runtime, settle=1.0)
        finally:
            await runtime.jobs.stop()
    assert run.status == "paid"
    assert sorted(e.rcpt_tos[0] for e, _ in smtp.messages) == ["jo0@hillview.example", "jo1@hillview.example"]
    for envelope, message in smtp.messages:
        assert message["Subject"] == "Your payslip for 2026-03" and message["List-Unsubscribe"] is None
        [pdf] = list(message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf" and pdf.get_filename().startswith("payslip-PS202603")
        import io

        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.get_content())).pages)
        name = "Jo0 Staff" if envelope.rcpt_tos[0].startswith("jo0") else "Jo1 Staff"
        assert name in text and "Hillview" in text
        body = message.get_body(("plain",)).get_content()
        assert pdf.get_filename().removeprefix("payslip-").removesuffix(".pdf") in body
