"""Attendance: each section's daily register, its corrections, and attendance rates.

Rules (pure, no session), then the queries (attendance's own SQL, kept beside its rules rather than in
repository.py), then the use cases. Services take the session and the actor, then keyword-only arguments;
they flush and never commit. `today` is the school's calendar date (`school_today`, in settings'
school_timezone), passed in by the entry point so a rule never reads the clock itself.

Who keeps a register: admins and registrars for every section; a teacher for a section where they teach a
class or are the homeroom teacher (row scope, like `service.ensure_teaches` for classes).

The register of a day can be taken, and taken again, on that day: each call creates or updates the
records (a normal write). After the day, existing records are history: `take_attendance` may only add the
missing ones (a late register); changing one is `correct_attendance`, a destructive call that needs a
reason and the requester's confirmation (planned by plans.plan_correct_attendance). Today's register is
changed by taking it again, so `correct_attendance` refuses today. Weekends and holidays are not refused:
the school calendar has no closed days yet.

The attendance rate is (present + late) / (present + late + absent), excused days left out: see
`attendance_rate_x100`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, or_
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import repository as repo
from domain.academics.attendance_models import AttendanceRecord, AttendanceStatus
from domain.academics.events import StudentAbsent
from domain.academics.models import AcademicYear, SchoolClass, Section, Student, StudentStatus
from domain.academics.rules import round_half_up_x100
from domain.academics.service import GRADE_MANAGERS
from domain.kernel.actor import Actor, Role
from domain.kernel.clock import utcnow
from domain.kernel import outbox
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.kernel.models import bump

MAX_ENTRIES = 200

# ---------------------------------------------------------------- pure rules


def school_today(timezone: str, now: datetime | None = None) -> date:
    """Return the calendar date in the school's time zone (an IANA name, e.g. Europe/Paris) at `now` (UTC)."""
    return (now or utcnow()).astimezone(ZoneInfo(timezone)).date()


def check_register_date(on_date: date, *, today: date, year: AcademicYear, section_code: str,
                        field_name: str = "date") -> None:
    """Rule: a register is for a day that has come (not after `today`) inside the section's academic year."""
    if on_date > today:
        raise InvalidInput(f"date {on_date} is in the future (today is {today} in the school's time zone); "
                           "attendance is taken on the day or after it", field=field_name)
    if not (year.start_date <= on_date <= year.end_date):
        raise InvalidInput(f"date {on_date} is outside the academic year {year.code} of section {section_code} "
                           f"({year.start_date} to {year.end_date})", field=field_name)


def check_unique_students(student_ids: Sequence[int], *, field_name: str = "entries") -> None:
    """Rule: one register call names each student once; raises InvalidInput naming the first repeated one."""
    seen: dict[int, int] = {}
    for index, student_id in enumerate(student_ids):
        if student_id in seen:
            raise InvalidInput(f"student_id {student_id} appears more than once in entries (entries "
                               f"{seen[student_id]} and {index}); give each student once", field=field_name)
        seen[student_id] = index


@dataclass(frozen=True)
class RegisterEntry:
    """One line of a register call: a student's status on the day and an optional note."""

    student_id: int
    status: AttendanceStatus
    note: str | None = None


@dataclass(frozen=True)
class Existing:
    """What a record already says (for planning a register call without a session)."""

    status: str
    note: str | None
    section_id: int


CREATE, UPDATE, UNCHANGED = "created", "updated", "unchanged"


def plan_register(entries: Sequence[RegisterEntry], existing: dict[int, Existing], *, section_id: int,
                  on_date: date, today: date) -> list[str]:
    """Return, per entry, whether its record is created, updated or unchanged.

    Today a record can be updated (taking the register again). On a past day an existing record whose status,
    note or section would change raises Conflict (that is correct_attendance's work); repeating what it says
    is allowed and changes nothing, so a late register can re-send the whole list with the missing students.
    """
    outcomes = []
    for entry in entries:
        before = existing.get(entry.student_id)
        if before is None:
            outcomes.append(CREATE)
            continue
        same = (before.status == entry.status.value and before.note == entry.note
                and before.section_id == section_id)
        if same:
            outcomes.append(UNCHANGED)
        elif on_date < today:
            raise Conflict(f"student_id {entry.student_id} already has '{before.status}' in the register of "
                           f"{on_date}, a past day; use correct_attendance (it needs a reason and "
                           "confirmation) to change it. take_attendance adds only the missing records of a "
                           "past day",
                           field="entries")
        else:
            outcomes.append(UPDATE)
    return outcomes


@dataclass(frozen=True)
class AttendanceCounts:
    """Days of a student (or summed over a section) by status over a period."""

    present: int = 0
    late: int = 0
    absent: int = 0
    excused: int = 0

    @property
    def days_recorded(self) -> int:
        return self.present + self.late + self.absent + self.excused

    @property
    def rate_x100(self) -> int | None:
        return attendance_rate_x100(self)

    def __add__(self, other: AttendanceCounts) -> AttendanceCounts:
        return AttendanceCounts(self.present + other.present, self.late + other.late, self.absent + other.absent,
                                self.excused + other.excused)


def count_statuses(statuses: Iterable[str]) -> AttendanceCounts:
    """Count a sequence of status values ('present', 'late', 'absent', 'excused')."""
    tally = {s.value: 0 for s in AttendanceStatus}
    for status in statuses:
        tally[AttendanceStatus(status).value] += 1
    return AttendanceCounts(present=tally["present"], late=tally["late"], absent=tally["absent"],
                            excused=tally["excused"])


def attendance_rate_x100(counts: AttendanceCounts) -> int | None:
    """Return the attendance rate in hundredths of a percent (9333 = 93.33%), or None without counted days.

    rate = (present + late) / (present + late + absent) x 100, rounded half up to two decimals.

    It is the ratio behind "average daily attendance" (20 U.S.C. 7801(1)(A), ESEA section 8101(1): the
    aggregate days of attendance divided by the days counted): a late student attended, so late counts as
    attended. Excused days are left out of both terms (this school's choice, from the attendance issue; the
    federal ratio counts every day in session), so an excused absence neither lowers nor raises the rate.
    """
    attended = counts.present + counts.late
    counted = attended + counts.absent
    if counted == 0:
        return None
    return round_half_up_x100(Fraction(attended * 100, counted))


# ---------------------------------------------------------------- queries


async def teaches_in_section(session: AsyncSession, employee_id: int, section_id: int) -> bool:
    """Return True when the employee teaches a live class of the section."""
    stmt = select(SchoolClass.id).where(SchoolClass.section_id == section_id,
                                        SchoolClass.teacher_id == employee_id,
                                        SchoolClass.deleted_at.is_(None)).limit(1)  # type: ignore[union-attr]
    return (await session.exec(stmt)).first() is not None


async def enrolled_students_of_section(session: AsyncSession, section_id: int) -> list[Student]:
    """Return the section's live students with status enrolled, by last name, first name."""
    stmt = (select(Student).where(Student.section_id == section_id, Student.deleted_at.is_(None),  # type: ignore
                                  Student.status == StudentStatus.ENROLLED.value)
            .order_by(Student.last_name, Student.first_name, Student.id))
    return list((await session.exec(stmt)).all())


async def students_by_ids(session: AsyncSession, student_ids: Iterable[int]) -> dict[int, Student]:
    ids = sorted(set(student_ids))
    if not ids:
        return {}
    stmt = select(Student).where(Student.id.in_(ids))  # type: ignore[union-attr]
    return {s.id or 0: s for s in (await session.exec(stmt)).all()}


async def records_on(session: AsyncSession, on_date: date, *, student_ids: Iterable[int] = (),
                     section_id: int | None = None) -> list[AttendanceRecord]:
    """Return the live records of `on_date` of these students, or (with section_id) also of that section."""
    ids = sorted(set(student_ids))
    conditions = []
    if ids:
        conditions.append(AttendanceRecord.student_id.in_(ids))  # type: ignore[attr-defined]
    if section_id is not None:
        conditions.append(AttendanceRecord.section_id == section_id)
    if not conditions:
        return []
    stmt = select(AttendanceRecord).where(AttendanceRecord.on_date == on_date, or_(*conditions),
                                          AttendanceRecord.deleted_at.is_(None))  # type: ignore[union-attr]
    return list((await session.exec(stmt.order_by(AttendanceRecord.student_id))).all())


async def insert_records(session: AsyncSession, rows: list[dict]) -> list[int]:
    """Insert attendance records (column dicts, every column but id) with one INSERT; return their ids in order.

    Core rows, not ORM objects: building, adding and flushing a section's 25 AttendanceRecord objects was about
    half of take_attendance's CPU, and nothing in the call reads them again but their ids."""
    if not rows:
        return []
    table = AttendanceRecord.__table__  # type: ignore[attr-defined]
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return [row[0] for row in (await session.exec(stmt, params=rows)).all()]  # type: ignore[call-overload]


async def get_record(session: AsyncSession, student_id: int, on_date: date) -> AttendanceRecord | None:
    stmt = select(AttendanceRecord).where(AttendanceRecord.student_id == student_id,
                                          AttendanceRecord.on_date == on_date,
                                          AttendanceRecord.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def status_counts(session: AsyncSession, *, from_date: date, to_date: date, section_id: int | None,
                        student_id: int | None) -> dict[int, AttendanceCounts]:
    """Return {student id: counts by status} of the live records between the dates (inclusive)."""
    stmt = (select(AttendanceRecord.student_id, AttendanceRecord.status, func.count(AttendanceRecord.id))
            .where(AttendanceRecord.on_date >= from_date, AttendanceRecord.on_date <= to_date,
                   AttendanceRecord.deleted_at.is_(None))  # type: ignore[union-attr]
            .group_by(AttendanceRecord.student_id, AttendanceRecord.status))
    if section_id is not None:
        stmt = stmt.where(AttendanceRecord.section_id == section_id)
    if student_id is not None:
        stmt = stmt.where(AttendanceRecord.student_id == student_id)
    out: dict[int, AttendanceCounts] = {}
    for sid, status, n in (await session.exec(stmt)).all():
        out[sid] = out.get(sid, AttendanceCounts()) + AttendanceCounts(**{AttendanceStatus(status).value: int(n)})
    return out


# ---------------------------------------------------------------- use cases


async def ensure_keeps_register(session: AsyncSession, actor: Actor, section: Section) -> None:
    """Raise PermissionDenied unless the actor may keep the section's register (row scope).

    Admins and registrars keep every register; a teacher, the registers of sections where they teach a class
    or are the homeroom teacher.
    """
    if actor.has_any(GRADE_MANAGERS):
        return
    if Role.TEACHER in actor.roles and actor.employee_id is not None:
        if section.homeroom_teacher_id == actor.employee_id:
            return
        if await teaches_in_section(session, actor.employee_id, section.id or 0):
            return
    raise PermissionDenied(f"section {section.code} is not one of your sections; teachers keep the attendance "
                           "of sections where they teach a class or are the homeroom teacher (list_classes with "
                           "your teacher_id shows them)")


async def _section_and_year(session: AsyncSession, section_id: int) -> tuple[Section, AcademicYear]:
    """The live section and its live academic year, in one query; raises NotFound."""
    stmt = (select(Section, AcademicYear)
            .join(AcademicYear, AcademicYear.id == Section.academic_year_id)  # type: ignore[arg-type]
            .where(Section.id == section_id))
    found = (await session.exec(stmt)).first()
    if found is None or found[0].deleted_at is not None:
        raise repo.not_found(Section, section_id, field="section_id")
    section, year = found
    if year.deleted_at is not None:
        raise repo.not_found(AcademicYear, year.id or 0)
    return section, year


@dataclass(frozen=True, slots=True)
class WrittenRecord:
    """A record take_attendance has just inserted (insert_records): what a register line shows of it."""

    id: int
    status: str
    note: str | None
    version: int = 1


@dataclass(frozen=True)
class RegisterLine:
    """A student on a day's register: their record (None when not taken) and what a call did to it."""

    student: Student
    record: AttendanceRecord | WrittenRecord | None
    outcome: str | None = None
    enrolled: bool = True


@dataclass(frozen=True)
class Register:
    """A section's register of a day, one line per student."""

    section: Section
    on_date: date
    lines: list[RegisterLine] = field(default_factory=list)

    @property
    def counts(self) -> AttendanceCounts:
        return count_statuses(line.record.status for line in self.lines if line.record is not None)

    @property
    def not_taken(self) -> int:
        return sum(1 for line in self.lines if line.record is None)


async def take_attendance(session: AsyncSession, actor: Actor, *, section_id: int, on_date: date,
                          entries: Sequence[RegisterEntry], today: date) -> Register:
    """Record the register of a section on a day: one entry per student (status, optional note).

    Returns the lines of the entries, in their order, each saying whether its record was created, updated or
    left unchanged. Raises NotFound (section), PermissionDenied (scope), InvalidInput (a date in the future or
    outside the section's academic year, a repeated student, a student not enrolled in the section), Conflict
    (changing an existing record of a past day: that is correct_attendance).
    """
    section, year = await _section_and_year(session, section_id)
    await ensure_keeps_register(session, actor, section)
    check_register_date(on_date, today=today, year=year, section_code=section.code)
    if not entries:
        raise InvalidInput("entries is empty; give at least one student's status", field="entries")
    check_unique_students([e.student_id for e in entries])
    students = await students_by_ids(session, [e.student_id for e in entries])
    for index, entry in enumerate(entries):
        student = students.get(entry.student_id)
        if student is None or student.deleted_at is not None:
            raise NotFound(f"no student with id {entry.student_id} (entries {index}); list_students with "
                           f"section_id {section_id} shows the section's students",
                           field=f"entries.{index}.student_id")
        if student.section_id != section.id or student.status != StudentStatus.ENROLLED.value:
            where = ("is in another section" if student.status == StudentStatus.ENROLLED.value
                     else f"is {student.status}")
            raise InvalidInput(f"student {student.code} (entries {index}) {where}; only students enrolled in "
                               f"section {section.code} are on its register (list_students with section_id "
                               f"{section_id} shows them)", field=f"entries.{index}.student_id")
    records = {r.student_id: r for r in await records_on(session, on_date, student_ids=students)}
    existing = {sid: Existing(r.status, r.note, r.section_id) for sid, r in records.items()}
    outcomes = plan_register(entries, existing, section_id=section.id or 0, on_date=on_date, today=today)
    now = utcnow()
    new_rows = []
    for entry, outcome in zip(entries, outcomes, strict=True):
        if outcome == CREATE:
            new_rows.append({"version": 1, "created_at": now, "updated_at": now, "deleted_at": None,
                             "section_id": section.id or 0, "student_id": entry.student_id, "on_date": on_date,
                             "status": entry.status.value, "note": entry.note, "recorded_by": actor.id or None})
        elif outcome == UPDATE:
            record = records[entry.student_id]
            record.status, record.note, record.section_id = entry.status.value, entry.note, section.id or 0
            record.recorded_by = actor.id or None
            bump(record)
            session.add(record)
    await session.flush()
    new_ids = iter(await insert_records(session, new_rows))
    lines = []
    for entry, outcome in zip(entries, outcomes, strict=True):
        record = (WrittenRecord(next(new_ids), entry.status.value, entry.note) if outcome == CREATE
                  else records[entry.student_id])
        lines.append(RegisterLine(students[entry.student_id], record, outcome))
    if on_date == today:  # a same-day absence is told to the guardians (notifications' handler)
        newly_absent = [StudentAbsent(student_id=entry.student_id, section_id=section.id or 0, on_date=on_date)
                        for entry, outcome in zip(entries, outcomes, strict=True)
                        if entry.status == AttendanceStatus.ABSENT and outcome != UNCHANGED
                        and (entry.student_id not in existing
                             or existing[entry.student_id].status != AttendanceStatus.ABSENT.value)]
        await outbox.record_all(session, newly_absent)
    return Register(section, on_date, lines)


async def attendance_register(session: AsyncSession, actor: Actor, *, section_id: int, on_date: date) -> Register:
    """Return a section's register of a day: every enrolled student with their record or None (not taken).

    Students who have a record of that day in this section but have left it since are listed too, with
    `enrolled` False. Raises NotFound, PermissionDenied (scope).
    """
    section, _ = await _section_and_year(session, section_id)
    await ensure_keeps_register(session, actor, section)
    students = await enrolled_students_of_section(session, section.id or 0)
    records = await records_on(session, on_date, student_ids=[s.id or 0 for s in students], section_id=section.id)
    by_student = {r.student_id: r for r in records}
    lines = [RegisterLine(s, by_student.get(s.id or 0)) for s in students]
    enrolled_ids = {s.id for s in students}
    former_ids = [r.student_id for r in records
                  if r.student_id not in enrolled_ids and r.section_id == section.id]
    former = await students_by_ids(session, former_ids)
    lines += [RegisterLine(former[sid], by_student[sid], enrolled=False) for sid in former_ids if sid in former]
    return Register(section, on_date, lines)


@dataclass(frozen=True)
class CorrectionTarget:
    """The past-day record a correction changes, checked for scope and for a real change."""

    record: AttendanceRecord
    student: Student
    section: Section


async def check_correction(session: AsyncSession, actor: Actor, *, student_id: int, on_date: date,
                           status: AttendanceStatus, note: str | None, today: date) -> CorrectionTarget:
    """Check a correction of a past day's record: it exists, the actor keeps its section, something changes.

    Raises NotFound (student, or no record that day: take_attendance adds it), InvalidInput (today or a future
    day, the same status and note), PermissionDenied (scope).
    """
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    if on_date > today:
        raise InvalidInput(f"date {on_date} is in the future (today is {today} in the school's time zone); only "
                           "past days are corrected", field="date")
    if on_date == today:
        raise InvalidInput(f"date {on_date} is today: today's register is still open, so take_attendance changes "
                           "it directly; correct_attendance is for past days", field="date")
    record = await get_record(session, student_id, on_date)
    if record is None:
        raise NotFound(f"{student.code} has no attendance record on {on_date}; take_attendance adds a missing "
                       "record of a past day (a late register)", field="date")
    section = await repo.get_or_raise(session, Section, record.section_id)
    await ensure_keeps_register(session, actor, section)
    if record.status == status.value and (note is None or note == record.note):
        raise InvalidInput(f"{student.code} is already '{record.status}' on {on_date}"
                           + ("" if note is None else " with that note") + "; nothing to change", field="status")
    return CorrectionTarget(record, student, section)


async def correction_target(session: AsyncSession, *, student_id: int, on_date: date) -> CorrectionTarget:
    """Return a student's record of a day with its section (after a correction, to show it); raises NotFound."""
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    record = await get_record(session, student_id, on_date)
    if record is None:
        raise NotFound(f"{student.code} has no attendance record on {on_date}", field="date")
    return CorrectionTarget(record, student, await repo.get_or_raise(session, Section, record.section_id))


@dataclass(frozen=True)
class RateLine:
    student: Student
    counts: AttendanceCounts
    enrolled: bool


@dataclass(frozen=True)
class Rates:
    """Attendance counts and rates over a period, per student and summed."""

    section: Section | None
    student: Student | None
    from_date: date
    to_date: date
    lines: list[RateLine]

    @property
    def total(self) -> AttendanceCounts:
        out = AttendanceCounts()
        for line in self.lines:
            out = out + line.counts
        return out


async def attendance_rates(session: AsyncSession, actor: Actor, *, section_id: int | None, student_id: int | None,
                           from_date: date | None, to_date: date | None, today: date) -> Rates:
    """Count each student's days by status between two dates (inclusive) and their attendance rate.

    With section_id: the section's records, one line per enrolled student (and per former student with records
    there). With student_id: that student's records (in the section too when both are given). The period
    defaults to the academic year so far: from its first day to today (or its last day if it is over) —
    the section's year, else the student's section's year, else the year around today. Raises InvalidInput
    (neither id, reversed dates), NotFound, PermissionDenied (a teacher outside their sections).
    """
    section = await repo.get_or_raise(session, Section, section_id, field="section_id") if section_id else None
    student = await repo.get_or_raise(session, Student, student_id, field="student_id") if student_id else None
    if section is None and student is None:
        raise InvalidInput("give section_id (its students and the section total) or student_id (one student)",
                           field="section_id")
    scope = section
    if scope is None and student is not None and student.section_id is not None:
        scope = await repo.get_or_raise(session, Section, student.section_id)
    if scope is None:
        if not actor.has_any(GRADE_MANAGERS):
            raise PermissionDenied(f"student {student.code if student else ''} is in no section; only admins and "
                                   "registrars read their attendance")
    else:
        await ensure_keeps_register(session, actor, scope)
    if from_date is None or to_date is None:
        year = (await repo.get_or_raise(session, AcademicYear, scope.academic_year_id) if scope is not None
                else await repo.year_on(session, today))
        if year is None:
            raise InvalidInput("there is no academic year to default the period to; give from_date and to_date",
                               field="from_date")
        from_date = from_date or year.start_date
        to_date = to_date or max(min(today, year.end_date), from_date)
    if to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    counts = await status_counts(session, from_date=from_date, to_date=to_date,
                                 section_id=section.id if section else None,
                                 student_id=student.id if student else None)
    if student is not None:
        lines = [RateLine(student, counts.get(student.id or 0, AttendanceCounts()),
                          section is None or (student.section_id == section.id
                                              and student.status == StudentStatus.ENROLLED.value))]
    else:
        assert section is not None
        enrolled = await enrolled_students_of_section(session, section.id or 0)
        lines = [RateLine(s, counts.get(s.id or 0, AttendanceCounts()), True) for s in enrolled]
        known = {s.id for s in enrolled}
        former = await students_by_ids(session, [sid for sid in counts if sid not in known])
        lines += [RateLine(s, counts[sid], False) for sid, s in sorted(former.items(),
                                                                       key=lambda kv: (kv[1].last_name, kv[0]))]
    return Rates(section, student, from_date, to_date, lines)
