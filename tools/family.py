"""Family tools (toolset `family`): what a parent or guardian reads and changes, over MCP with their own key, through
the agent API, and on the parent pages (server/parents).

A guardian (role guardian) reads only their own children (the students whose guardian records are linked to their
account) and their family's account: published grades, the transcript, report cards, attendance, invoices, balance
and statement. Children and families are named by id only (`ChildRef`, `OwnFamilyRef`): a code is never resolved,
so nothing answers whether another family's student exists. Another family's id answers NotFound exactly as a missing
one. A guardian changes only their own contact details and email preferences. The office (admin, registrar)
invites a guardian: an account linked to their records, and a one-time sign-in link by email.

Money is integer minor units of the ISO 4217 currency beside it; percentages and GPA points are decimals.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints

from domain.academics.attendance import AttendanceCounts, attendance_rate_x100, count_statuses
from domain.academics.schemas import from_x100_or_none
from domain.family import service as family
from domain.family.schemas import (
    AttendanceCountsOut,
    AttendanceDayOut,
    ChildAttendanceOut,
    ChildOut,
    ChildLessonOut,
    ChildrenOut,
    ChildTimetableOut,
    FamilyStatementOut,
    InvitedOut,
    MyDetailsOut,
    MyPreferencesOut,
    MyRecordOut,
    PublishedGradeOut,
    ReportCardLineOut,
    ReportCardOut,
    StatementLineOut,
    TranscriptOut,
)
from domain.fees.schemas import FamilyAccountOut, InvoiceOut, OpenInvoiceOut, family_out, invoice_out
from domain.kernel import money
from domain.kernel.actor import Role
from domain.kernel.clock import utcnow
from domain.notifications import rules as notification_rules
from tools.references import ChildRef, GuardianRef, OwnFamilyRef, TermRef
from tools.registry import Effect, Module, ToolContext
from tools.types import Code, Currency, Email, Page, PageInput, ToolInput, page_of

module = Module("family", depends_on=("academics", "fees", "notifications"),
                description="Parents and guardians: their own children's grades, attendance and the family's fees.")
GUARDIANS = frozenset({Role.GUARDIAN})
OFFICE = frozenset({Role.ADMIN, Role.REGISTRAR})
MAX_ATTENDANCE_DAYS = 400
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40)]


class NoInput(ToolInput):
    pass


def _today() -> dt.date:
    return utcnow().date()


def _counts(counts: AttendanceCounts) -> AttendanceCountsOut:
    return AttendanceCountsOut(present=counts.present, absent=counts.absent, late=counts.late,
                               excused=counts.excused, rate=from_x100_or_none(attendance_rate_x100(counts)))


def _two(value) -> float | None:
    return None if value is None else round(float(value), 2)


# ---------------------------------------------------------------- children


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_my_children(ctx: ToolContext, args: NoInput) -> ChildrenOut:
    """List your children at the school (their student ids, names, year level, section) and the family their fees
    are billed to. Call this first: the other family tools take these ids."""
    children = await family.my_children(ctx.session, ctx.actor)
    return ChildrenOut(children=[ChildOut(
        student_id=c.student.id or 0, student_code=c.student.code, first_name=c.student.first_name,
        last_name=c.student.last_name, date_of_birth=c.student.date_of_birth, status=c.student.status,
        year_level=c.year_level, section_id=c.student.section_id, section_code=c.section_code,
        family_id=None if c.family is None else c.family.id, family_code=None if c.family is None else c.family.code)
        for c in children])


class ChildIn(ToolInput):
    student_id: ChildRef = Field(description="One of your children (get_my_children).")


MAX_GRADE_LINES = 400


class ChildTermIn(ToolInput):
    student_id: ChildRef = Field(description="One of your children (get_my_children).")
    term_id: TermRef | None = Field(default=None, description="Only this term's grades; omitted: every term.")
    limit: int = Field(default=40, ge=1, le=MAX_GRADE_LINES, description="At most this many grades, the most "
                                                                          "recent; the GPA and credits count all.")


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_child_transcript(ctx: ToolContext, args: ChildTermIn) -> TranscriptOut:
    """Get your child's published grades: each class's term grade (percentage, letter, GPA points) as the school
    published it, oldest term first (the most recent `limit` of them), each term's GPA, the cumulative GPA and the
    credits earned. Marks not yet published are not shown."""
    t = await family.transcript(ctx.session, ctx.actor, student_id=args.student_id, term_id=args.term_id)
    grades = [PublishedGradeOut(academic_year=year.name, term_id=term.id or 0, term=term.name, class_id=cls.id or 0,
                                subject=subject.name, percentage=from_x100_or_none(tg.percentage_x100),
                                letter=tg.letter, gpa_points=from_x100_or_none(tg.gpa_points_x100),
                                credits=subject.credits_x100 / 100, earns_credit=tg.earns_credit,
                                published_at=tg.published_at)
              for tg, cls, subject, term, year in t.grades[-args.limit:]]
    return TranscriptOut(student_id=t.student.id or 0, student_name=t.student.full_name, grades=grades,
                         grades_total=len(t.grades), term_gpa={str(k): _two(v) for k, v in t.term_gpa.items()},
                         gpa=_two(t.gpa), credits_earned=t.credits_earned_x100 / 100)


class ReportCardIn(ToolInput):
    student_id: ChildRef = Field(description="One of your children (get_my_children).")
    term_id: TermRef


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_child_report_card(ctx: ToolContext, args: ReportCardIn) -> ReportCardOut:
    """Get your child's report card for a published term: each class's grade and the teacher's comment, the term
    GPA, and the term's attendance (days present, absent, late, excused)."""
    card = await family.report_card(ctx.session, ctx.actor, student_id=args.student_id, term_id=args.term_id)
    term = card.term
    _student, days = await family.attendance(ctx.session, ctx.actor, student_id=args.student_id,
                                             from_date=term.start_date, to_date=term.end_date,
                                             limit=MAX_ATTENDANCE_DAYS)
    t = card.transcript
    return ReportCardOut(
        student_id=t.student.id or 0, student_name=t.student.full_name, term_id=term.id or 0, term=term.name,
        lines=[ReportCardLineOut(class_id=cls.id or 0, subject=subject.name,
                                 percentage=from_x100_or_none(tg.percentage_x100), letter=tg.letter,
                                 comment=card.comments.get(cls.id or 0))
               for tg, cls, subject, _term, _year in t.grades],
        gpa=_two(t.term_gpa.get(term.id or 0)), attendance=_counts(count_statuses(d.status for d in days)))


class AttendanceIn(ToolInput):
    student_id: ChildRef = Field(description="One of your children (get_my_children).")
    from_date: dt.date | None = Field(default=None, description="omitted: 30 days before to_date.")
    to_date: dt.date | None = Field(default=None, description="omitted: today (UTC).")
    limit: int = Field(default=100, ge=1, le=MAX_ATTENDANCE_DAYS, description="At most this many days, newest "
                                                                                "first.")


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_child_attendance(ctx: ToolContext, args: AttendanceIn) -> ChildAttendanceOut:
    """Get your child's attendance: each school day the register recorded in a period (present, absent, late,
    excused, with the note), newest first, and the counts and attendance rate of those days."""
    to_date = args.to_date or _today()
    from_date = args.from_date or to_date - dt.timedelta(days=30)
    student, days = await family.attendance(ctx.session, ctx.actor, student_id=args.student_id, from_date=from_date,
                                            to_date=to_date, limit=args.limit + 1)
    shown = days[:args.limit]
    return ChildAttendanceOut(student_id=student.id or 0, from_date=from_date, to_date=to_date,
                              days=[AttendanceDayOut(on_date=d.on_date, status=d.status, note=d.note) for d in shown],
                              counts=_counts(count_statuses(d.status for d in shown)),
                              truncated=len(days) > args.limit)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_child_timetable(ctx: ToolContext, args: ChildIn) -> ChildTimetableOut:
    """Get your child's week: the lessons of their section in the school's published timetable (class, teacher,
    room, day and period, with the times when the school set them)."""
    week = await family.timetable_week(ctx.session, ctx.actor, student_id=args.student_id)

    def times(period: int) -> tuple[str | None, str | None]:
        if period < len(week.period_times) and "-" in week.period_times[period]:
            start, end = week.period_times[period].split("-", 1)
            return start, end
        return None, None

    return ChildTimetableOut(
        student_id=week.student.id or 0, section_code=week.section_code, published=week.published,
        lessons=[ChildLessonOut(class_code=x.course_id, teacher=x.teacher, room=x.room_id,
                                weekday=WEEKDAYS[x.day % 7], period=x.period, starts_at=times(x.period)[0],
                                ends_at=times(x.period)[1]) for x in week.lessons])


# ---------------------------------------------------------------- the family's account


class FamilyIn(ToolInput):
    family_id: OwnFamilyRef | None = Field(default=None, description="Your family (get_my_children shows it); "
                                                                     "omitted: your only family.")
    currency: Currency | None = Field(default=None, description="ISO 4217; omitted: the school's currency.")


def _currency(ctx: ToolContext, given: str | None) -> str:
    return money.parse_currency(given or ctx.runtime.settings.currency)


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_my_family_balance(ctx: ToolContext, args: FamilyIn) -> FamilyAccountOut:
    """Get your family's fees balance today: each open invoice with what is left to pay and days overdue, what the
    family owes, the credit the school holds for it, and the balance (owed - credit), in minor units."""
    account = await family.family_account(ctx.session, ctx.actor, family_id=args.family_id,
                                          currency=_currency(ctx, args.currency), as_of=_today())
    return FamilyAccountOut(
        family=family_out(account.family, [s.id or 0 for s in account.students]), as_of=account.as_of,
        currency=account.currency, owed_minor=account.owed, credit_minor=account.credit,
        balance_minor=account.balance,
        open_invoices=[OpenInvoiceOut(invoice_id=i.invoice.id or 0, number=i.invoice.invoice_number,
                                      student_id=i.invoice.student_id, due_date=i.invoice.due_date,
                                      total_minor=i.invoice.total, balance_minor=i.balance,
                                      days_overdue=i.days_overdue) for i in account.open_invoices])


class FamilyInvoicesIn(PageInput):
    family_id: OwnFamilyRef | None = Field(default=None, description="Your family; omitted: your only family.")


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def list_my_family_invoices(ctx: ToolContext, args: FamilyInvoicesIn) -> Page[InvoiceOut]:
    """List the invoices issued to your family, oldest first, with what each totals, what was paid and credited, and
    what is left, in minor units."""
    rows = await family.family_invoices(ctx.session, ctx.actor, family_id=args.family_id, after_id=args.after_id(),
                                        limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[InvoiceOut](items=[invoice_out(r) for r in page], next_cursor=cursor)


class StatementIn(ToolInput):
    family_id: OwnFamilyRef | None = Field(default=None, description="Your family; omitted: your only family.")
    from_date: dt.date | None = Field(default=None, description="omitted: 365 days before to_date.")
    to_date: dt.date | None = Field(default=None, description="omitted: today (UTC).")
    currency: Currency | None = Field(default=None, description="ISO 4217; omitted: the school's currency.")


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_my_family_statement(ctx: ToolContext, args: StatementIn) -> FamilyStatementOut:
    """Get your family's statement of account for a period (at most two years): the balance brought forward, each
    invoice, payment, credit note and refund with the running balance, and the closing balance, in minor units."""
    to_date = args.to_date or _today()
    from_date = args.from_date or to_date - dt.timedelta(days=365)
    s = await family.family_statement(ctx.session, ctx.actor, family_id=args.family_id,
                                      currency=_currency(ctx, args.currency), from_date=from_date, to_date=to_date,
                                      issued_on=_today(), school_name=ctx.runtime.settings.school_name)
    found = await family.my_family(ctx.session, ctx.actor, family_id=args.family_id)
    return FamilyStatementOut(family_id=found.id or 0, currency=s.currency, from_date=s.from_date,
                              to_date=s.to_date, opening_balance_minor=s.opening_balance,
                              closing_balance_minor=s.closing_balance,
                              lines=[StatementLineOut(on_date=x.date, kind=x.kind, reference=x.reference,
                                                      description=x.description, charge_minor=x.charge,
                                                      payment_minor=x.payment, balance_minor=x.balance)
                                     for x in s.lines])


# ---------------------------------------------------------------- what a guardian changes


def _details(ctx: ToolContext, rows) -> MyDetailsOut:
    return MyDetailsOut(name=rows[0][0].name if rows else ctx.actor.display_name,
                        records=[MyRecordOut(student_id=student.id or 0, relationship=record.relationship,
                                             phone=record.phone, email=record.email) for record, student in rows])


@module.tool(effect=Effect.READ, roles=GUARDIANS)
async def get_my_details(ctx: ToolContext, args: NoInput) -> MyDetailsOut:
    """Get the contact details the school holds for you, on each of your children's records."""
    return _details(ctx, await family.my_records(ctx.session, ctx.actor))


class ContactIn(ToolInput):
    phone: Phone | None = Field(default=None, description="omitted: unchanged.")
    email: Email | None = Field(default=None, description="omitted: unchanged. Where the school writes to you; "
                                                          "you still sign in with the address you were invited at.")


@module.tool(effect=Effect.WRITE, roles=GUARDIANS, idempotent=True)
async def update_my_contact_details(ctx: ToolContext, args: ContactIn) -> MyDetailsOut:
    """Change your phone number and/or email on each of your children's records."""
    return _details(ctx, await family.update_my_contacts(ctx.session, ctx.actor, phone=args.phone,
                                                          email=args.email))


class MyPreferenceIn(ToolInput):
    category: Code = Field(description="An optional category: " + ", ".join(
        c.code for c in notification_rules.CATEGORIES.values() if not c.required) + ".")
    receive: bool


@module.tool(effect=Effect.WRITE, roles=GUARDIANS, idempotent=True)
async def set_my_notification_preference(ctx: ToolContext, args: MyPreferenceIn) -> MyPreferencesOut:
    """Switch an optional kind of email from the school on or off for your addresses (grades, fees,
    announcements); sign-in links and same-day absences are always sent."""
    addresses, receives = await family.set_my_preference(ctx.session, ctx.actor, category=args.category,
                                                          receive=args.receive)
    return MyPreferencesOut(emails=addresses, receives=receives)


# ---------------------------------------------------------------- the office


class InviteIn(ToolInput):
    guardian_id: GuardianRef = Field(description=(
        "A guardian's record (get_student shows a student's guardians with their ids). Every record with the same "
        "email (the guardian on each of their children's files) is linked too."))
    send_sign_in_link: bool = Field(default=True, description="Email the guardian a one-time link to the parent "
                                                              "pages.")


@module.tool(effect=Effect.WRITE, roles=OFFICE)
async def invite_guardian(ctx: ToolContext, args: InviteIn) -> InvitedOut:
    """Give a parent or guardian an account: the user named by their email, with the guardian role, reading only the
    children whose guardian records carry that email; optionally email them a one-time sign-in link to the parent
    pages. For their own assistant over MCP, `mcs-erp keys create --user <their email>` then makes them a key."""
    invited = await family.invite_guardian(ctx.session, ctx.actor, guardian_id=args.guardian_id,
                                           send_link=args.send_sign_in_link,
                                           public_url=ctx.runtime.settings.public_url,
                                           school_name=ctx.runtime.settings.school_name)
    return InvitedOut(user_id=invited.user.id or 0, username=invited.user.username,
                      student_ids=[s.id or 0 for s in invited.students], sign_in_link_queued=invited.link_queued)


__all__ = ["module"]
