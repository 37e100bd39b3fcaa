"""The guardian's use cases (role guardian): every read is of the caller's own children or family, the scope put
into the queries of academics (guardian_children, published_grades_of_child, ...) and fees (family_of_students);
another family's student or family answers NotFound exactly as a missing one does. A guardian changes only their
own contact details and email preferences. The office invites a guardian (an account linked to their records),
and the parent pages sign a guardian in by a one-time link sent by email.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.academics.service import Guardian, Student
from domain.fees import service as fees
from domain.fees.service import Family, FamilyStatement, Invoice
from domain.identity import service as identity
from domain.kernel import money
from domain.kernel.actor import Actor, Role
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.notifications import rules as notification_rules
from domain.notifications import service as notifications
from domain.timetable import rules as timetable_rules
from domain.timetable import service as timetable

ISSUED_STATUSES = ["issued", "partially_paid", "paid", "void"]
"""What a family is shown of its invoices: those issued to it (a draft is the office's work in progress)."""
MAX_STATEMENT_DAYS = 732
"""A statement covers at most two years (a statement's usual span is a term or a year)."""
MAX_LINKS_PER_WINDOW = 3
"""At most this many sign-in links go to one guardian per link lifetime (identity.SIGN_IN_LINK_MINUTES): asking
again and again cannot fill their inbox; the page answers the same."""
SIGN_IN_PATH = "/parents/sign-in/link"
"""Where an emailed sign-in link points (server/parents): GET asks to confirm, POST signs in."""


def _guardian(actor: Actor) -> None:
    if Role.GUARDIAN not in actor.roles:
        raise PermissionDenied("these are a guardian's own records; staff read students and families with the "
                               "students and fees tools")


# ---------------------------------------------------------------- children and their records


@dataclass(frozen=True)
class Child:
    """One of the guardian's children, with their year level's name, section and family (None: none yet)."""

    student: Student
    year_level: str | None
    section_code: str | None
    family: Family | None


async def my_children(session: AsyncSession, actor: Actor) -> list[Child]:
    """Return the caller's children (academics.guardian_children), each with their family. Raises
    PermissionDenied for a caller who is not a guardian."""
    _guardian(actor)
    students = await academics.guardian_children(session, actor)
    ids = [s.id or 0 for s in students]
    families = await fees.families_billing(session, ids)
    members = await fees.family_student_ids(session, [f.id or 0 for f in families])
    family_of = {sid: f for f in families for sid in members.get(f.id or 0, [])}
    levels = await academics.year_level_names(session)
    sections = {sid: (await academics.get_section(session, sid)).code
                for sid in {s.section_id for s in students if s.section_id is not None}}
    return [Child(student=s, year_level=levels.get(s.year_level_id),
                  section_code=sections.get(s.section_id) if s.section_id is not None else None,
                  family=family_of.get(s.id or 0)) for s in students]


async def transcript(session: AsyncSession, actor: Actor, *, student_id: int, term_id: int | None = None
                     ) -> academics.ChildTranscript:
    """Return one of the caller's children's published term grades (of one term when `term_id` is given) with the
    GPA per term and overall and the credits earned (academics.published_grades_of_child). Raises NotFound (not one
    of your children; term_id), PermissionDenied for a caller who is not a guardian."""
    _guardian(actor)
    return await academics.published_grades_of_child(session, actor, student_id=student_id, term_id=term_id)


@dataclass(frozen=True)
class ReportCard:
    """One term of a child: the published grades (as in a transcript), the teachers' comments by class id, the
    term (its row) and its dates, for the register days of the term."""

    transcript: academics.ChildTranscript
    comments: dict[int, str]
    term: Any


async def report_card(session: AsyncSession, actor: Actor, *, student_id: int, term_id: int) -> ReportCard:
    """Return one of the caller's children's report card for a term: the published grades of the term (none until
    the school publishes them) and the teachers' comments. Raises NotFound (not one of your children; term_id),
    PermissionDenied."""
    _guardian(actor)
    found = await academics.published_grades_of_child(session, actor, student_id=student_id, term_id=term_id)
    term = await academics.get_term(session, term_id)
    comments = await academics.term_comments_of_child(session, actor, student_id=student_id, term_id=term_id)
    return ReportCard(transcript=found, comments=comments, term=term)


async def attendance(session: AsyncSession, actor: Actor, *, student_id: int, from_date: dt.date, to_date: dt.date,
                     limit: int) -> tuple[Student, list[Any]]:
    """Return one of the caller's children and up to `limit` (1..400) of their register days between the dates
    inclusive, newest first (records: on_date, status, note). Raises NotFound (not one of your children),
    InvalidInput (to_date before from_date, limit), PermissionDenied."""
    _guardian(actor)
    if not 1 <= limit <= 400:
        raise InvalidInput("limit is 1 to 400 days", field="limit")
    return await academics.attendance_of_child(session, actor, student_id=student_id, from_date=from_date,
                                               to_date=to_date, limit=limit)


@dataclass(frozen=True)
class ChildWeek:
    """A child's week in the school's newest published timetable: their section's lessons (timetable Lessons, by
    day and period) and the period times; `section_code` None when the child is in no section, `published` False
    when no timetable is published yet (no lessons then)."""

    student: Student
    section_code: str | None
    published: bool
    lessons: list[Any]
    period_times: tuple[str, ...]


async def timetable_week(session: AsyncSession, actor: Actor, *, student_id: int) -> ChildWeek:
    """Return one of the caller's children's week: the lessons of their section (the curriculum the school's
    timetable builds from it, domain/timetable/school.py) in the newest published timetable. Raises NotFound (not
    one of your children), PermissionDenied."""
    _guardian(actor)
    student = await academics.guardian_child(session, actor, student_id=student_id)
    if student.section_id is None:
        return ChildWeek(student=student, section_code=None, published=False, lessons=[], period_times=())
    section = await academics.get_section(session, student.section_id)
    try:
        _row, problem, solution = await timetable.published(session, problem_id=None)
    except NotFound:  # nothing stored or published yet
        return ChildWeek(student=student, section_code=section.code, published=False, lessons=[], period_times=())
    lessons = timetable_rules.curriculum_lessons(problem, solution, curriculum_id=section.code)
    return ChildWeek(student=student, section_code=section.code, published=True, lessons=lessons,
                     period_times=tuple(problem.period_times))


# ---------------------------------------------------------------- the family's account


async def my_family(session: AsyncSession, actor: Actor, *, family_id: int | None) -> Family:
    """Return the caller's family `family_id` (one billing any of their children), or with none their only family.
    Raises NotFound with one message for another family's id and a missing one; InvalidInput when the children are
    in several families and none is named; PermissionDenied."""
    _guardian(actor)
    children = await academics.guardian_children(session, actor)
    return await fees.family_of_students(session, [s.id or 0 for s in children], family_id=family_id)


async def family_account(session: AsyncSession, actor: Actor, *, family_id: int | None, currency: str,
                         as_of: dt.date) -> fees.FamilyAccount:
    """Return the caller's family's account on `as_of` in `currency` (fees.family_account: open invoices, credit,
    balance in minor units). Raises as my_family and fees.family_account."""
    family = await my_family(session, actor, family_id=family_id)
    return await fees.family_account(session, family_id=family.id or 0, currency=currency, as_of=as_of)


async def family_invoices(session: AsyncSession, actor: Actor, *, family_id: int | None, after_id: int,
                          limit: int) -> list[Invoice]:
    """Return up to `limit + 1` invoices issued to the caller's family after `after_id` in id order (drafts are
    never shown). Raises as my_family."""
    family = await my_family(session, actor, family_id=family_id)
    return await fees.list_invoices(session, after_id=after_id, limit=limit, family_id=family.id or 0,
                                    statuses=ISSUED_STATUSES)


async def family_statement(session: AsyncSession, actor: Actor, *, family_id: int | None, currency: str,
                           from_date: dt.date, to_date: dt.date, issued_on: dt.date,
                           school_name: str) -> FamilyStatement:
    """Return the caller's family's statement of account for from_date..to_date inclusive (fees.family_statement:
    balance brought forward, each transaction with the running balance, closing balance; minor units of
    `currency`). Nothing is stored. Raises InvalidInput for a period over MAX_STATEMENT_DAYS days, and as
    my_family and fees.family_statement."""
    if (to_date - from_date).days > MAX_STATEMENT_DAYS:
        raise InvalidInput(f"a statement covers at most {MAX_STATEMENT_DAYS} days; shorten the period",
                           field="from_date")
    family = await my_family(session, actor, family_id=family_id)
    return await fees.family_statement(session, family_id=family.id or 0, currency=money.parse_currency(currency),
                                       from_date=from_date, to_date=to_date, issued_on=issued_on,
                                       school_name=school_name)


# ---------------------------------------------------------------- what a guardian may change


async def my_records(session: AsyncSession, actor: Actor) -> list[tuple[Guardian, Student]]:
    """Return the caller's own guardian records with each one's child, in record id order."""
    _guardian(actor)
    records = await academics.guardian_records(session, actor)
    students = await academics.students_by_id(session, sorted({r.student_id for r in records}))
    return [(r, students[r.student_id]) for r in records if r.student_id in students]


async def update_my_contacts(session: AsyncSession, actor: Actor, *, phone: str | None,
                             email: str | None) -> list[tuple[Guardian, Student]]:
    """Change the caller's phone and/or email on each of their guardian records (one per child) and return the
    records. The email must be one plain address (notifications' rule: it is where the school writes); the
    caller's sign-in name stays as it is (the office changes it). Raises InvalidInput (nothing given, a bad
    address), NotFound (no record), PermissionDenied."""
    _guardian(actor)
    address = None if email is None else notification_rules.check_address(email, field="email")
    await academics.update_guardian_contacts(session, actor, phone=phone, email=address)
    return await my_records(session, actor)


async def my_addresses(session: AsyncSession, actor: Actor) -> list[str]:
    """The distinct email addresses on the caller's records, and their sign-in name when it is an address."""
    found = {r.email.strip().lower() for r, _ in await my_records(session, actor) if r.email}
    try:
        found.add(notification_rules.check_address(actor.username, field="username"))
    except InvalidInput:
        pass
    return sorted(found)


async def set_my_preference(session: AsyncSession, actor: Actor, *, category: str,
                            receive: bool) -> tuple[list[str], dict[str, bool]]:
    """Switch an optional email category (notifications.rules.CATEGORIES: grades, fees, announcements) on or off
    for every address of the caller (my_addresses); return the addresses and what the first receives. Raises
    InvalidInput (unknown or required category; no address), PermissionDenied."""
    _guardian(actor)
    addresses = await my_addresses(session, actor)
    if not addresses:
        raise InvalidInput("the school holds no email address of yours; add one with update_my_contact_details",
                           field="category")
    for address in addresses:
        await notifications.set_preference(session, email=address, category=category, receive=receive)
    return addresses, await notifications.preferences(session, addresses[0])


# ---------------------------------------------------------------- the office: inviting a guardian; signing in


@dataclass(frozen=True)
class Invited:
    """A guardian's account, the children it reads, and the sign-in link emailed (None: none asked for)."""

    user: Any
    students: list[Student]
    link_queued: bool


async def invite_guardian(session: AsyncSession, actor: Actor, *, guardian_id: int, send_link: bool,
                          public_url: str, school_name: str) -> Invited:
    """Give a guardian an account: the user named by their email (role guardian; created when absent), linked to
    the record `guardian_id` and every other record with that email (one per child: academics
    .guardian_records_of_person), and when `send_link` a one-time sign-in link emailed to them. The records an
    address is on are the children it reads, so the office keeps guardians' addresses their own. Raises
    PermissionDenied (not admin or registrar), InvalidInput (no email on the record), Conflict (a user of that name
    with other roles, or a record linked to another account), NotFound (guardian_id)."""
    if not actor.has_any(academics.GUARDIAN_LINKERS):
        raise PermissionDenied("only admins and registrars invite guardians")
    records = await academics.guardian_records_of_person(session, guardian_id=guardian_id)
    address = notification_rules.check_address(records[0].email or "", field="guardian_id")
    user = await identity.get_user_by_username(session, address)
    if user is None:
        user = await identity.ensure_user(session, username=address, display_name=records[0].name[:200],
                                          roles=Role.GUARDIAN.value)
    elif identity.parse_roles(user.roles) != frozenset({Role.GUARDIAN}):
        raise Conflict(f"a user named {address} exists with the roles {user.roles}; a guardian's account is for "
                       "the guardian role only", field="guardian_id")
    await academics.link_guardian_account(session, actor, guardian_ids=[r.id or 0 for r in records],
                                          user_id=user.id or 0)
    if send_link:
        await send_sign_in_link(session, user=user, public_url=public_url, school_name=school_name)
    students = await academics.students_by_id(session, sorted({r.student_id for r in records}))
    return Invited(user=user, students=[students[i] for i in sorted(students)], link_queued=send_link)


async def send_sign_in_link(session: AsyncSession, *, user: Any, public_url: str, school_name: str) -> None:
    """Issue a one-time sign-in link for guardian `user` and queue it by email to their address (category
    account: required), valid for identity.SIGN_IN_LINK_MINUTES."""
    issued = await identity.issue_sign_in_link(session, user=user)
    link = f"{public_url.rstrip('/')}{SIGN_IN_PATH}?token={issued.token}"
    await notifications.queue(session, to=user.username, name=user.display_name, category="account",
                              template="sign_in_link", context={"link": link,
                                                                "minutes": identity.SIGN_IN_LINK_MINUTES},
                              public_url=public_url, school_name=school_name, person_kind="user",
                              person_id=user.id)


async def request_sign_in_link(session: AsyncSession, *, email: str, public_url: str, school_name: str) -> bool:
    """Email a sign-in link to `email` when it is a guardian's account sent fewer than MAX_LINKS_PER_WINDOW in the
    last link lifetime; return whether one was queued. The parent pages tell the person the same either way, so an
    address cannot be probed. Raises InvalidInput for something
    that is not an email address."""
    address = notification_rules.check_address(email, field="email")
    user = await identity.get_user_by_username(session, address)
    if user is None or identity.parse_roles(user.roles) != frozenset({Role.GUARDIAN}):
        return False
    since = utcnow() - dt.timedelta(minutes=identity.SIGN_IN_LINK_MINUTES)
    if await identity.sign_in_links_since(session, user_id=user.id or 0, since=since) >= MAX_LINKS_PER_WINDOW:
        return False
    await send_sign_in_link(session, user=user, public_url=public_url, school_name=school_name)
    return True
