"""Academics use cases: the year's structure, students, classes, enrollments, assessments and grades.

Services take the session and the actor, then keyword-only arguments, flush when they need ids and never
commit. Teachers act only on the classes they teach; admins and registrars on every class.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from fractions import Fraction
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal, NamedTuple

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import gradebook, grading, rules
from domain.academics import repository as repo
from domain.academics.models import (
    AcademicYear,
    Assessment,
    Enrollment,
    EnrollmentStatus,
    Grade,
    GradeStatus,
    Guardian,
    GuardianAccount,
    SchoolClass,
    Section,
    Student,
    StudentStatus,
    Subject,
    Term,
    TermGrade,
    YearLevel,
)
from domain.actions import service as actions
from domain.hr import service as hr
from domain.kernel.actor import Actor, Role
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, GradeLocked, InvalidInput, NotFound, PermissionDenied
from domain.kernel.models import bump
from domain.kernel.references import Candidate, pick
from domain.kernel.schemas import CLEARANCE, DataClass

GRADE_MANAGERS = frozenset({Role.ADMIN, Role.REGISTRAR})
ROSTER_READERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.VIEWER})  # every roster; teachers only theirs


def _check_dates(start: date, end: date) -> None:
    if end <= start:
        raise InvalidInput(f"end_date {end} must be after start_date {start}", field="end_date")


async def create_academic_year(session: AsyncSession, actor: Actor, *, code: str, name: str, start_date: date,
                               end_date: date) -> AcademicYear:
    """Create an academic year; raises Conflict for a taken code, InvalidInput for reversed dates."""
    _check_dates(start_date, end_date)
    if await repo.by_code(session, AcademicYear, code):
        raise Conflict(f"academic year code {code!r} is already used", field="code")
    row = AcademicYear(code=code, name=name, start_date=start_date, end_date=end_date)
    session.add(row)
    await session.flush()
    return row


async def create_term(session: AsyncSession, actor: Actor, *, academic_year_id: int, number: int, name: str,
                      start_date: date, end_date: date) -> Term:
    """Create a term inside its academic year's dates; raises Conflict when the number is taken."""
    _check_dates(start_date, end_date)
    year = await repo.get_or_raise(session, AcademicYear, academic_year_id, field="academic_year_id")
    if start_date < year.start_date or end_date > year.end_date:
        raise InvalidInput(f"the term must lie within the academic year {year.code} ({year.start_date} to "
                           f"{year.end_date})", field="start_date")
    existing = await repo.list_rows(session, Term, after_id=0, limit=100, academic_year_id=academic_year_id)
    if any(t.number == number for t in existing):
        raise Conflict(f"academic year {year.code} already has a term {number}", field="number")
    row = Term(academic_year_id=academic_year_id, number=number, name=name, start_date=start_date,
               end_date=end_date)
    session.add(row)
    await session.flush()
    return row


async def create_year_level(session: AsyncSession, actor: Actor, *, code: str, name: str, ordinal: int) -> YearLevel:
    """Create a year level; raises Conflict for a taken code."""
    if await repo.by_code(session, YearLevel, code):
        raise Conflict(f"year level code {code!r} is already used", field="code")
    row = YearLevel(code=code.upper(), name=name, ordinal=ordinal)
    session.add(row)
    await session.flush()
    return row


async def create_section(session: AsyncSession, actor: Actor, *, code: str, name: str, year_level_id: int,
                         academic_year_id: int, homeroom_teacher_id: int | None) -> Section:
    """Create a section of a year level in an academic year; raises NotFound, Conflict."""
    await repo.get_or_raise(session, YearLevel, year_level_id, field="year_level_id")
    await repo.get_or_raise(session, AcademicYear, academic_year_id, field="academic_year_id")
    if homeroom_teacher_id is not None:
        await hr.get_employee(session, homeroom_teacher_id, field="homeroom_teacher_id")
    if await repo.by_code(session, Section, code, academic_year_id=academic_year_id):
        raise Conflict(f"section code {code!r} already exists in this academic year", field="code")
    row = Section(code=code.upper(), name=name, year_level_id=year_level_id, academic_year_id=academic_year_id,
                  homeroom_teacher_id=homeroom_teacher_id)
    session.add(row)
    await session.flush()
    return row


async def create_subject(session: AsyncSession, actor: Actor, *, code: str, name: str,
                         weekly_lessons: int = 4, credits_x100: int = 100) -> Subject:
    """Create a subject with its lessons per week (0 = not timetabled) and credits (hundredths, the GPA weight
    of its term grades); raises Conflict for a taken code."""
    if await repo.by_code(session, Subject, code):
        raise Conflict(f"subject code {code!r} is already used", field="code")
    row = Subject(code=code.upper(), name=name, weekly_lessons=weekly_lessons, credits_x100=credits_x100)
    session.add(row)
    await session.flush()
    return row


async def create_class(session: AsyncSession, actor: Actor, *, section_id: int, subject_id: int,
                       teacher_id: int, weekly_lessons: int | None = None) -> SchoolClass:
    """Create the class of a subject in a section, taught by an active employee; code is SECTION-SUBJECT.

    `weekly_lessons` None means the subject's lessons per week.
    """
    section = await repo.get_or_raise(session, Section, section_id, field="section_id")
    subject = await repo.get_or_raise(session, Subject, subject_id, field="subject_id")
    teacher = await hr.get_employee(session, teacher_id, field="teacher_id")
    if teacher.status == "terminated":
        raise InvalidInput(f"employee {teacher.code} is terminated and cannot teach a class", field="teacher_id")
    existing = await repo.list_classes(session, after_id=0, limit=1, section_id=section_id, teacher_id=None,
                                       subject_id=subject_id)
    if existing:
        raise Conflict(f"section {section.code} already has a {subject.code} class ({existing[0][0].code})",
                       field="subject_id")
    row = SchoolClass(code=f"{section.code}-{subject.code}", section_id=section_id, subject_id=subject_id,
                      teacher_id=teacher_id, academic_year_id=section.academic_year_id,
                      weekly_lessons=weekly_lessons)
    session.add(row)
    await session.flush()
    return row


async def set_weekly_lessons(session: AsyncSession, actor: Actor, *, weekly_lessons: int | None,
                             subject_id: int | None = None, class_id: int | None = None) -> Subject | SchoolClass:
    """Set the lessons per week of a subject (every class without its own) or of one class; return the row.

    Exactly one of `subject_id`, `class_id`. For a class, None goes back to the subject's number. Raises
    InvalidInput (neither or both ids, a subject set to None), NotFound.
    """
    if (subject_id is None) == (class_id is None):
        raise InvalidInput("give subject_id (every class of the subject) or class_id (one class), not both",
                           field="subject_id")
    row: Subject | SchoolClass
    if subject_id is not None:
        if weekly_lessons is None:
            raise InvalidInput("a subject needs a number of lessons per week (0 = not timetabled)",
                               field="weekly_lessons")
        row = await repo.get_or_raise(session, Subject, subject_id, field="subject_id")
    else:
        row = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    row.weekly_lessons = weekly_lessons
    bump(row)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class TimetableClass:
    """One class as a timetable sees it: codes people say aloud, its teacher, lessons per week and students."""

    class_id: int
    class_code: str
    section_code: str
    subject_code: str
    teacher_id: int
    teacher_code: str
    weekly_lessons: int
    students: int


async def timetable_classes(session: AsyncSession, *, academic_year_id: int | None, today: date | None = None
                            ) -> tuple[AcademicYear, list[TimetableClass]]:
    """Return an academic year (default: the one `today` falls in, else the latest) and its classes to timetable.

    A class's lessons per week are its own or else its subject's; classes with 0 are left out. `students` is
    the class's active enrollments (the section's size when nobody is enrolled yet). Raises NotFound.
    """
    if academic_year_id is not None:
        year = await repo.get_or_raise(session, AcademicYear, academic_year_id, field="academic_year_id")
    else:
        found = await repo.year_on(session, today or utcnow().date())
        if found is None:
            raise NotFound("no academic year exists yet; create_academic_year first", field="academic_year_id")
        year = found
    rows = await repo.classes_with_load(session, academic_year_id=year.id)
    section_sizes = await repo.section_sizes(session, academic_year_id=year.id)
    teachers = await hr.employees_by_id(session, {cls.teacher_id for cls, _, _, _ in rows})
    out = []
    for cls, section, subject, enrolled in rows:
        weekly = cls.weekly_lessons if cls.weekly_lessons is not None else subject.weekly_lessons
        if weekly <= 0:
            continue
        out.append(TimetableClass(class_id=cls.id, class_code=cls.code, section_code=section.code,
                                  subject_code=subject.code, teacher_id=cls.teacher_id,
                                  teacher_code=teachers[cls.teacher_id].code,
                                  weekly_lessons=weekly, students=enrolled or section_sizes.get(section.id, 0)))
    return year, out


@dataclass(frozen=True)
class GuardianInput:
    name: str
    relationship: str
    phone: str | None = None
    email: str | None = None


async def create_student(session: AsyncSession, actor: Actor, *, first_name: str, last_name: str,
                         date_of_birth: date, year_level_id: int, section_id: int | None,
                         guardians: list[GuardianInput], code: str | None = None,
                         enroll_in_section_classes: bool = True) -> Student:
    """Admit a student (code S<year>-NNNN unless given), with guardians; by default enrolls them in every
    class of their section. Raises NotFound, Conflict, InvalidInput (section of another year level)."""
    level = await repo.get_or_raise(session, YearLevel, year_level_id, field="year_level_id")
    section = None
    if section_id is not None:
        section = await repo.get_or_raise(session, Section, section_id, field="section_id")
        if section.year_level_id != year_level_id:
            raise InvalidInput(f"section {section.code} belongs to another year level than {level.code}",
                               field="section_id")
    if date_of_birth >= date.today():
        raise InvalidInput(f"date_of_birth {date_of_birth} is not in the past", field="date_of_birth")
    if code is None:
        prefix = f"S{utcnow().year}-"
        number = await repo.next_student_number(session, prefix)
        code = f"{prefix}{number:04d}"
        while await repo.by_code(session, Student, code):
            number += 1
            code = f"{prefix}{number:04d}"
    elif await repo.by_code(session, Student, code):
        raise Conflict(f"student code {code!r} is already used", field="code")
    student = Student(code=code.upper(), first_name=first_name, last_name=last_name, date_of_birth=date_of_birth,
                      year_level_id=year_level_id, section_id=section_id, status=StudentStatus.ENROLLED.value)
    session.add(student)
    await session.flush()
    for g in guardians:
        session.add(Guardian(student_id=student.id or 0, name=g.name, relationship=g.relationship, phone=g.phone,
                             email=g.email))
    if section is not None and enroll_in_section_classes:
        classes = await repo.list_classes(session, after_id=0, limit=1000, section_id=section.id, teacher_id=None,
                                          subject_id=None)
        for cls, _ in classes:
            session.add(Enrollment(student_id=student.id or 0, class_id=cls.id or 0,
                                   status=EnrollmentStatus.ACTIVE.value, enrolled_on=date.today()))
            touch_class(session, cls)
    await session.flush()
    return student


async def update_student(session: AsyncSession, actor: Actor, *, student_id: int, changes: dict) -> Student:
    """Change a student's names, date of birth or status; raises NotFound."""
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    if "date_of_birth" in changes and changes["date_of_birth"] >= date.today():
        raise InvalidInput(f"date_of_birth {changes['date_of_birth']} is not in the past", field="date_of_birth")
    for key, value in changes.items():
        setattr(student, key, value.value if hasattr(value, "value") else value)
    bump(student)
    session.add(student)
    await session.flush()
    return student


MAX_GUARDIANS = 6  # live guardian records a student may have (create_student takes at most as many)
GUARDIAN_FIELDS = ("name", "relationship", "phone", "email")


async def add_guardian(session: AsyncSession, actor: Actor, *, student_id: int, guardian: GuardianInput) -> Guardian:
    """Add a guardian record (name, relationship, contacts: personal data) to a live student and return it. The
    record is the guardian on this child's file; invite_guardian then gives them an account reading every child
    whose records carry their email. Raises NotFound (student_id), Conflict when the student has MAX_GUARDIANS live
    records already."""
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    if len(await repo.guardians_of(session, student_id)) >= MAX_GUARDIANS:
        raise Conflict(f"student {student.code} has {MAX_GUARDIANS} guardians already, the most a student may have",
                       field="student_id")
    record = Guardian(student_id=student_id, name=guardian.name, relationship=guardian.relationship,
                      phone=guardian.phone, email=guardian.email)
    session.add(record)
    await session.flush()
    return record


async def update_guardian(session: AsyncSession, actor: Actor, *, guardian_id: int, changes: dict[str, Any]
                          ) -> Guardian:
    """Change a live guardian record's name, relationship, phone or email (the keys of `changes`, GUARDIAN_FIELDS)
    and return it. A record linked to a guardian's account stays linked: the account is the person's, and the email
    is where the school writes to them (their sign-in links go to the account's own address). Raises NotFound
    (guardian_id), InvalidInput for no change or a field not in GUARDIAN_FIELDS."""
    unknown = sorted(set(changes) - set(GUARDIAN_FIELDS))
    if unknown or not changes:
        raise InvalidInput(f"give at least one of {', '.join(GUARDIAN_FIELDS)} to change"
                           + (f"; {', '.join(unknown)} cannot be changed here" if unknown else ""), field="guardian_id")
    record = await repo.get_or_raise(session, Guardian, guardian_id, field="guardian_id")
    for key, value in changes.items():
        setattr(record, key, value)
    bump(record)
    session.add(record)
    await session.flush()
    return record


async def enroll_student(session: AsyncSession, actor: Actor, *, student_id: int, class_id: int,
                         enrolled_on: date | None = None) -> Enrollment:
    """Enroll a student in a class of their year level; re-activates a dropped enrollment.

    Raises NotFound, Conflict (already enrolled), InvalidInput (another year level, not enrolled status).
    """
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    section = await repo.get_or_raise(session, Section, cls.section_id)
    if student.status != StudentStatus.ENROLLED.value:
        raise InvalidInput(f"student {student.code} is {student.status}; only enrolled students join classes",
                           field="student_id")
    if section.year_level_id != student.year_level_id:
        raise InvalidInput(f"class {cls.code} is for another year level than student {student.code}",
                           field="class_id")
    existing = await repo.get_enrollment(session, student_id, class_id)
    if existing is not None:
        if existing.status == EnrollmentStatus.ACTIVE.value:
            raise Conflict(f"student {student.code} is already enrolled in {cls.code}")
        existing.status = EnrollmentStatus.ACTIVE.value
        bump(existing)
        session.add(existing)
        touch_class(session, cls)
        await session.flush()
        return existing
    row = Enrollment(student_id=student_id, class_id=class_id, status=EnrollmentStatus.ACTIVE.value,
                     enrolled_on=enrolled_on or date.today())
    session.add(row)
    touch_class(session, cls)
    await session.flush()
    return row


def ensure_teaches(actor: Actor, cls: SchoolClass) -> None:
    """Raise PermissionDenied unless the actor manages grades or teaches `cls` (row scope)."""
    if actor.has_any(GRADE_MANAGERS):
        return
    if Role.TEACHER in actor.roles and actor.employee_id is not None and actor.employee_id == cls.teacher_id:
        return
    raise PermissionDenied(f"class {cls.code} is not one of your classes; teachers work only on the classes "
                           "they teach (list_classes with your teacher_id shows them)")


async def _term_of_class(session: AsyncSession, cls: SchoolClass, term_id: int) -> Term:
    term = await repo.get_or_raise(session, Term, term_id, field="term_id")
    if term.academic_year_id != cls.academic_year_id:
        raise InvalidInput(f"term {term.name} is not in the academic year of class {cls.code}", field="term_id")
    return term


async def create_assessment(session: AsyncSession, actor: Actor, *, class_id: int, term_id: int, title: str,
                            max_score_x100: int, weight_x100: int, category: str | None,
                            due_date: date | None) -> Assessment:
    """Create an assessment of a class in a term. Raises GradeLocked when the term is published, InvalidInput
    when the class has categories and `category` is not one of them (the weight then does not count)."""
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    ensure_teaches(actor, cls)
    term = await _term_of_class(session, cls, term_id)
    codes = [c.code for c in await repo.categories_of(session, class_id)]
    if codes:
        if category is None or category.upper() not in codes:
            raise InvalidInput(f"{cls.code} grades by category; category must be one of {', '.join(codes)} "
                               f"(got {category!r})", field="category")
        category = category.upper()
    if await repo.is_published(session, class_id, term_id):
        raise GradeLocked(f"{term.name} grades of {cls.code} are published; no assessments can be added")
    if due_date is not None and not (term.start_date <= due_date <= term.end_date):
        raise InvalidInput(f"due_date {due_date} is outside {term.name} ({term.start_date} to {term.end_date})",
                           field="due_date")
    row = Assessment(class_id=class_id, term_id=term_id, title=title, category=category,
                     max_score_x100=max_score_x100, weight_x100=weight_x100, due_date=due_date)
    session.add(row)
    touch_class(session, cls)
    await session.flush()
    return row


@dataclass(frozen=True)
class GradeTarget:
    """The assessment, class and student a grade belongs to, checked for scope and enrollment."""

    assessment: Assessment
    cls: SchoolClass
    student: Student
    grade: Grade | None
    published: bool


async def grade_enrollment(session: AsyncSession, cls: SchoolClass, student_id: int) -> Student:
    """Return the student, or raise NotFound / InvalidInput unless they are actively enrolled in the class."""
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    enrollment = await repo.get_enrollment(session, student_id, cls.id or 0)
    if enrollment is None or enrollment.status != EnrollmentStatus.ACTIVE.value:
        raise not_enrolled(student, cls)
    return student


def not_enrolled(student: Student, cls: SchoolClass) -> InvalidInput:
    """The refusal of a grade for a student not actively enrolled in the class."""
    return InvalidInput(f"student {student.code} is not enrolled in {cls.code}; list_students with class_id shows who "
                        "is", field="student_id")


async def grade_target(session: AsyncSession, actor: Actor, *, assessment_id: int, student_id: int) -> GradeTarget:
    """Load and check what a grade call is about: scope (teacher's own class) and an active enrollment.

    One query (repository.grade_target_row). Raises, in this order: NotFound for no live assessment, NotFound for
    its class gone, PermissionDenied outside a teacher's classes, NotFound for no live student, InvalidInput for a
    student not actively enrolled in the class."""
    row = await repo.grade_target_row(session, assessment_id, student_id)
    if row is None:
        raise repo.not_found(Assessment, assessment_id, field="assessment_id")
    assessment, cls, student, enrollment_status, grade, published = row
    if cls is None:
        raise repo.not_found(SchoolClass, assessment.class_id)
    ensure_teaches(actor, cls)
    if student is None:
        raise repo.not_found(Student, student_id, field="student_id")
    if enrollment_status != EnrollmentStatus.ACTIVE.value:
        raise not_enrolled(student, cls)
    return GradeTarget(assessment, cls, student, grade, bool(published))


def check_result(status: GradeStatus, score_x100: int | None, max_score_x100: int) -> None:
    """Rule: a scored result has a score within 0..max; a missing or excused one has none."""
    if status is GradeStatus.SCORED:
        if score_x100 is None:
            raise InvalidInput("a scored result needs a score; give score, or status missing or excused",
                               field="score")
        rules.check_score(score_x100, max_score_x100)
    elif score_x100 is not None:
        raise InvalidInput(f"a {status.value} result has no score ({status.value} work counts as "
                           f"{'0' if status is GradeStatus.MISSING else 'nothing'}); leave score out", field="score")


def describe_result(grade: Grade | None) -> str:
    """'42.5', 'missing', 'excused' or 'none' for messages and previews."""
    if grade is None:
        return "none"
    return rules.format_x100(grade.score_x100) if grade.status == GradeStatus.SCORED.value else grade.status


async def record_grade(session: AsyncSession, actor: Actor, *, assessment_id: int, student_id: int,
                       score_x100: int | None, comment: str | None,
                       status: GradeStatus = GradeStatus.SCORED) -> GradeTarget:
    """Record a first result for a student on an assessment: a score (status scored), or missing (counts as 0)
    or excused (left out of the grade). Return what it is about (assessment, class, student) with the new grade.

    Raises Conflict when a result exists (changing it is change_grade), GradeLocked after publication,
    InvalidInput for a score outside 0..max, a score with missing/excused, or a student not enrolled,
    PermissionDenied outside scope.
    """
    target = await grade_target(session, actor, assessment_id=assessment_id, student_id=student_id)
    if target.published or (target.grade is not None and target.grade.locked):
        raise GradeLocked(f"grades of {target.cls.code} for this term are published and locked; a change needs "
                          "change_locked_grade with a reason and an admin's approval")
    if target.grade is not None:
        raise Conflict(f"{target.student.full_name} ({target.student.code}) already has a score of "
                       f"{describe_result(target.grade)} on '{target.assessment.title}'; use change_grade "
                       "to change it (it asks for confirmation)")
    check_result(status, score_x100, target.assessment.max_score_x100)
    grade = Grade(assessment_id=assessment_id, student_id=student_id, score_x100=score_x100, status=status.value,
                  comment=comment, locked=False, recorded_by=actor.id or None)
    session.add(grade)
    touch_class(session, target.cls)
    await session.flush()
    return replace(target, grade=grade)


def touch_class(session: AsyncSession, cls: SchoolClass) -> None:
    """Bump a class's version when its gradebook gains a row (a grade, an assessment, a student), so a pending
    publication whose preview did not include that row becomes stale instead of locking what nobody saw."""
    bump(cls)
    session.add(cls)


async def check_grade_change(session: AsyncSession, actor: Actor, *, assessment_id: int, student_id: int,
                             score_x100: int, locked: bool) -> GradeTarget:
    """Check a change of an existing score: it must exist, be locked or not as the tool expects, fit the max."""
    target = await grade_target(session, actor, assessment_id=assessment_id, student_id=student_id)
    if target.grade is None:
        raise NotFound(f"{target.student.code} has no score on '{target.assessment.title}' yet; use record_grade",
                       field="student_id")
    if locked and not target.grade.locked:
        raise InvalidInput("this grade is not locked (its term is not published); use change_grade")
    if not locked and target.grade.locked:
        raise GradeLocked(f"the grade of {target.student.code} on '{target.assessment.title}' is locked since "
                          "publication; use change_locked_grade with a reason (needs an admin's approval)")
    rules.check_score(score_x100, target.assessment.max_score_x100)
    if score_x100 == target.grade.score_x100 and target.grade.status == GradeStatus.SCORED.value:
        raise InvalidInput(f"the score is already {rules.format_x100(score_x100)}; nothing to change", field="score")
    return target


def term_grade_values(result: gradebook.StudentResult, policy: gradebook.Policy) -> dict[str, Any]:
    """The columns of a term grade row for a computed result: the rounded and the exact percentage ("n/d"),
    letter, GPA points (hundredths), pass and credit, and the scale's code."""
    grade = result.grade
    exact = result.unrounded
    return {"percentage_x100": result.percentage_x100, "letter": grade.letter if grade else None,
            "percentage_exact": f"{exact.numerator}/{exact.denominator}" if exact is not None else None,
            "gpa_points_x100": gradebook.x100(grade.gpa_points) if grade else None,
            "passing": grade.passing if grade else None, "earns_credit": grade.earns_credit if grade else None,
            "scale_code": policy.scale.code}


@dataclass(frozen=True, slots=True)
class TermGradeLine:
    student: Student
    result: gradebook.StudentResult
    cells: tuple[gradebook.ResultCell, ...] = ()
    """The student's stored result on each of the computation's assessments, in their order: (status,
    score_x100), or None where nothing is recorded (the rows the grading read; a gradebook shows them)."""

    @property
    def percentage_x100(self) -> int | None:
        return self.result.percentage_x100

    @property
    def letter(self) -> str | None:
        return self.result.letter

    @property
    def missing(self) -> int:
        """Assessments without a result yet (not the ones marked missing, which count as 0)."""
        return self.result.not_graded


@dataclass(frozen=True)
class TermGradeComputation:
    cls: SchoolClass
    term: Term
    assessments: list[Assessment]
    grades: list[Grade]
    lines: list[TermGradeLine]
    published: bool
    policy: gradebook.Policy

    @property
    def missing(self) -> int:
        return sum(line.missing for line in self.lines)

    @property
    def class_average_x100(self) -> int | None:
        """The mean of the students' unrounded percentages, rounded once by the class's scale."""
        return gradebook.class_average_x100((line.result for line in self.lines), self.policy.scale)


async def compute_term_grades(session: AsyncSession, actor: Actor, *, class_id: int, term_id: int,
                              with_grade_rows: bool = True) -> TermGradeComputation:
    """Compute every enrolled student's term grade in a class under its grading policy (nothing written);
    `with_grade_rows` as compute_all_term_grades takes it.
    Raises NotFound (class, term), InvalidInput (a term of another year), PermissionDenied outside scope."""
    return (await compute_all_term_grades(session, actor, class_ids=[class_id], term_id=term_id,
                                          with_grade_rows=with_grade_rows))[0]


async def compute_all_term_grades(session: AsyncSession, actor: Actor, *, class_ids: list[int], term_id: int,
                                  with_grade_rows: bool = True) -> list[TermGradeComputation]:
    """Compute the term grades of many classes at once (a section, a year level, the school), in the order of
    `class_ids`, with a handful of queries whatever their number: the students' results are read with one query
    as plain rows (repository.term_results_of_classes) and each class's students graded by its
    gradebook.ClassGrader, which answers what gradebook.student_result answers. With `with_grade_rows` each
    computation's `grades` also holds the class's Grade rows (publishing needs them); without, it is empty
    (enough to report grades, or to show them: each line's `cells` holds the student's stored results). Classes of another academic year than the term's are refused
    (InvalidInput); unknown ones raise NotFound; PermissionDenied outside a teacher's scope; InvalidInput as
    the grading engine raises it for a class whose policy or results it refuses.
    """
    classes = await repo.classes_by_ids(session, class_ids)
    for class_id in class_ids:
        if class_id not in classes:
            raise NotFound(f"no class with id {class_id}; list_classes shows valid ids", field="class_id")
        ensure_teaches(actor, classes[class_id])
    term = await repo.get_or_raise(session, Term, term_id, field="term_id")
    for class_id in class_ids:
        if classes[class_id].academic_year_id != term.academic_year_id:
            raise InvalidInput(f"term {term.name} is not in the academic year of class {classes[class_id].code}",
                               field="term_id")
    policies = await gradebook.policies_for(session, classes.values())
    assessments = await repo.assessments_of_classes(session, class_ids, term_id)
    students = await repo.students_of_classes(session, class_ids)
    rows = await repo.term_results_of_classes(session, class_ids, term_id)
    by_class: dict[int, list[Grade]] = {}
    if with_grade_rows:
        class_of = {a.id or 0: a.class_id for group in assessments.values() for a in group}
        for g in await repo.grades_for_assessments(session, list(class_of)):
            by_class.setdefault(class_of[g.assessment_id], []).append(g)
    published = await repo.published_classes(session, class_ids, term_id)
    graders = {class_id: gradebook.ClassGrader(policies[class_id], assessments.get(class_id, []))
               for class_id in class_ids}
    lines: dict[int, list[TermGradeLine]] = {class_id: [] for class_id in class_ids}
    # The rows come by class and student: each (class, student) run is one student's results in that class.
    for (class_id, student_id), run in groupby(rows, key=itemgetter(0, 1)):
        student = students.get(student_id)
        if student is None:
            continue
        grader = graders[class_id]
        cells: list[gradebook.ResultCell] = [None] * grader.size
        position = grader.position
        for _, _, assessment_id, score_x100, status in run:
            if assessment_id is not None and assessment_id in position:
                cells[position[assessment_id]] = (status, score_x100)
        stored = tuple(cells)
        lines[class_id].append(TermGradeLine(student, grader.result(stored), stored))
    return [TermGradeComputation(classes[class_id], term, assessments.get(class_id, []), by_class.get(class_id, []),
                                 lines[class_id], class_id in published, policies[class_id])
            for class_id in class_ids]


def check_publishable(comp: TermGradeComputation) -> None:
    """Rule: a class's term is published once, and only when it has assessments and enrolled students."""
    if comp.published:
        raise Conflict(f"{comp.term.name} grades of {comp.cls.code} are already published")
    if not comp.assessments:
        raise InvalidInput(f"{comp.cls.code} has no assessments in {comp.term.name}; nothing to publish")
    if not comp.lines:
        raise InvalidInput(f"{comp.cls.code} has no enrolled students; nothing to publish")




# ---------------------------------------------------------------- lookups other contexts use (fees)


async def get_student(session: AsyncSession, student_id: int, *, field: str = "student_id") -> Student:
    """Return the live student; raises NotFound naming list_students."""
    return await repo.get_or_raise(session, Student, student_id, field=field)


async def students_by_id(session: AsyncSession, student_ids: list[int]) -> dict[int, Student]:
    """Return {id: Student} for the live students among `student_ids` (missing ids are left out)."""
    return await repo.students_by_ids(session, student_ids)


async def enrolled_students(session: AsyncSession, *, year_level_id: int | None = None) -> list[Student]:
    """Return the students currently enrolled at the school (status enrolled), of one year level when given,
    in id order."""
    return await repo.students_with_status(session, status=StudentStatus.ENROLLED.value,
                                           year_level_id=year_level_id)


class EnrolledStudent(NamedTuple):
    """An enrolled student as billing reads them (enrolled_student_rows): the id, the human code (S2026-0117),
    the names, the year level and the date of birth (siblings are ranked eldest first)."""

    id: int
    code: str
    first_name: str
    last_name: str
    year_level_id: int | None
    date_of_birth: date

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


async def enrolled_student_rows(session: AsyncSession, *, year_level_id: int | None = None) -> list[EnrolledStudent]:
    """Return the students enrolled_students returns (status enrolled, of one year level when given, in id order) as
    EnrolledStudent rows, read as six columns instead of whole records: a school's fee run reads all 10,000 and
    needs no more."""
    rows = await repo.student_rows_with_status(session, status=StudentStatus.ENROLLED.value,
                                               year_level_id=year_level_id)
    return [EnrolledStudent._make(row) for row in rows]


async def get_term(session: AsyncSession, term_id: int, *, field: str = "term_id") -> Term:
    """Return the live term; raises NotFound naming list_terms."""
    return await repo.get_or_raise(session, Term, term_id, field=field)


async def get_year_level(session: AsyncSession, year_level_id: int, *, field: str = "year_level_id") -> YearLevel:
    """Return the live year level; raises NotFound."""
    return await repo.get_or_raise(session, YearLevel, year_level_id, field=field)


async def get_section(session: AsyncSession, section_id: int, *, field: str = "section_id") -> Section:
    """Return the live section; raises NotFound naming list_sections."""
    return await repo.get_or_raise(session, Section, section_id, field=field)


async def section_ids(session: AsyncSession, *, year_level_id: int, academic_year_id: int) -> list[int]:
    """Return the ids of the live sections of a year level in an academic year, in id order."""
    rows = await repo.list_rows(session, Section, after_id=0, limit=100_000, year_level_id=year_level_id,
                                academic_year_id=academic_year_id)
    return [row.id or 0 for row in rows]


async def year_level_names(session: AsyncSession) -> dict[int, str]:
    """Return {year level id: name} of every live year level."""
    rows = await repo.list_rows(session, YearLevel, after_id=0, limit=100_000)
    return {row.id: row.name for row in rows}


async def guardians_of_students(session: AsyncSession, student_ids: list[int]) -> dict[int, list[Guardian]]:
    """Return {student id: guardians} (name, relationship, phone, email) for the students."""
    return await repo.guardians_of_students(session, student_ids)


# ---------------------------------------------------------------- reads (the list and get tools)
#
# List functions return up to `limit + 1` rows after `after_id` in id order (the extra row tells the caller that
# another page exists). A filter id that matches nothing raises NotFound naming its field when the page is empty,
# rather than answering "nothing here" for a mistyped id.


async def _check_filters(session: AsyncSession, rows: list, **filters: tuple[type | None, int | None]) -> None:
    """On an empty page, raise NotFound for the first filter id with no live row (model None: an employee)."""
    if rows:
        return
    for field_name, (model, value) in filters.items():
        if value is None:
            continue
        if model is None:
            await hr.get_employee(session, value, field=field_name)
        else:
            await repo.get_or_raise(session, model, value, field=field_name)


async def list_academic_years(session: AsyncSession, *, after_id: int, limit: int) -> list[AcademicYear]:
    """Return a page of live academic years (code, name, first and last day)."""
    return await repo.list_rows(session, AcademicYear, after_id=after_id, limit=limit)


async def list_terms(session: AsyncSession, *, after_id: int, limit: int,
                     academic_year_id: int | None = None) -> list[Term]:
    """Return a page of live terms, of one academic year when given; raises NotFound (academic_year_id)."""
    rows = await repo.list_rows(session, Term, after_id=after_id, limit=limit, academic_year_id=academic_year_id)
    await _check_filters(session, rows, academic_year_id=(AcademicYear, academic_year_id))
    return rows


async def list_year_levels(session: AsyncSession, *, after_id: int, limit: int) -> list[YearLevel]:
    """Return a page of live year levels."""
    return await repo.list_rows(session, YearLevel, after_id=after_id, limit=limit)


async def list_sections(session: AsyncSession, *, after_id: int, limit: int, academic_year_id: int | None = None,
                        year_level_id: int | None = None) -> list[tuple[Section, int]]:
    """Return a page of live sections, each with its number of live students (any status); raises NotFound
    (academic_year_id, year_level_id)."""
    rows = await repo.list_rows(session, Section, after_id=after_id, limit=limit, academic_year_id=academic_year_id,
                                year_level_id=year_level_id)
    await _check_filters(session, rows, academic_year_id=(AcademicYear, academic_year_id),
                         year_level_id=(YearLevel, year_level_id))
    counts = await repo.count_students_by_section(session, [s.id for s in rows])
    return [(s, counts.get(s.id, 0)) for s in rows]


async def section_with_size(session: AsyncSession, *, section_id: int) -> tuple[Section, int]:
    """Return a live section and its number of live students; raises NotFound (section_id)."""
    section = await repo.get_or_raise(session, Section, section_id, field="section_id")
    counts = await repo.count_students_by_section(session, [section.id])
    return section, counts.get(section.id, 0)


async def list_subjects(session: AsyncSession, *, after_id: int, limit: int) -> list[Subject]:
    """Return a page of live subjects."""
    return await repo.list_rows(session, Subject, after_id=after_id, limit=limit)


async def list_teachers(session: AsyncSession, *, after_id: int, limit: int) -> list[tuple[Any, int]]:
    """Return a page of (employee, live classes they teach) for the live employees who teach a class, in employee
    id order (`after_id` is an employee id). The employees are HR's (hr.service.employees_by_id), read in one
    lookup per batch of teachers; an employee removed from HR is left out, so a batch is read again after the
    last one when some were."""
    out: list[tuple[Any, int]] = []
    while len(out) <= limit:
        counts = await repo.teacher_class_counts(session, after_id=after_id, limit=limit)
        if not counts:
            break
        employees = await hr.employees_by_id(session, [teacher_id for teacher_id, _ in counts])
        out += [(employees[teacher_id], n) for teacher_id, n in counts
                if teacher_id in employees and employees[teacher_id].deleted_at is None]
        if len(counts) <= limit:
            break
        after_id = counts[-1][0]
    return out[:limit + 1]


@dataclass(frozen=True)
class ClassListing:
    """A class with its teacher's full name and code (HR's) and its subject's name, as list_classes shows it."""

    cls: SchoolClass
    teacher_name: str
    subject_name: str
    teacher_code: str = ""


async def employee_codes(session: AsyncSession, employee_ids: set[int]) -> dict[int, str]:
    """Return {employee id: employee code} (HR's, removed employees included) in one lookup, for outputs that
    show a teacher's id beside the code people use."""
    return {i: e.code for i, e in (await hr.employees_by_id(session, employee_ids)).items()}


async def _listings(session: AsyncSession, rows: list[tuple[SchoolClass, Subject]]) -> list[ClassListing]:
    """Name each class's teacher from HR in one lookup (an employee removed from HR keeps their name here)."""
    teachers = await hr.employees_by_id(session, {cls.teacher_id for cls, _ in rows})
    return [ClassListing(cls, teachers[cls.teacher_id].full_name, subject.name, teachers[cls.teacher_id].code)
            for cls, subject in rows]


async def list_classes(session: AsyncSession, *, after_id: int, limit: int, section_id: int | None = None,
                       teacher_id: int | None = None, subject_id: int | None = None) -> list[ClassListing]:
    """Return a page of live classes with teacher and subject names, filtered by section, teacher (an employee
    id) or subject; raises NotFound (section_id, teacher_id, subject_id)."""
    rows = await repo.list_classes(session, after_id=after_id, limit=limit, section_id=section_id,
                                   teacher_id=teacher_id, subject_id=subject_id)
    await _check_filters(session, rows, section_id=(Section, section_id), teacher_id=(None, teacher_id),
                         subject_id=(Subject, subject_id))
    return await _listings(session, rows)


async def class_listing(session: AsyncSession, *, class_id: int) -> ClassListing:
    """Return one live class with its teacher's and subject's names; raises NotFound (class_id)."""
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    rows = await repo.list_classes(session, after_id=(cls.id or 0) - 1, limit=1, section_id=None, teacher_id=None,
                                   subject_id=None)
    return (await _listings(session, rows[:1]))[0]


async def get_class(session: AsyncSession, class_id: int, *, field: str = "class_id") -> SchoolClass:
    """Return the live class; raises NotFound naming list_classes."""
    return await repo.get_or_raise(session, SchoolClass, class_id, field=field)


async def get_subject(session: AsyncSession, subject_id: int, *, field: str = "subject_id") -> Subject:
    """Return the live subject; raises NotFound naming list_subjects."""
    return await repo.get_or_raise(session, Subject, subject_id, field=field)


def roster_scope(actor: Actor) -> int | None:
    """Return the employee id whose students `actor` may list, or None when they may list every student.

    Admins, registrars and viewers read every roster; a teacher (with none of those roles) only the students
    they work with: those of the classes they teach (the gradebook's rule, ensure_teaches) and of the sections
    whose register they keep (homeroom teacher, or a class of theirs in the section). A teacher account linked
    to no employee reads none (0 matches no employee)."""
    if actor.has_any(ROSTER_READERS) or Role.TEACHER not in actor.roles:
        return None
    return actor.employee_id or 0


async def _ensure_reads_section(session: AsyncSession, actor: Actor, section_id: int) -> None:
    teacher = roster_scope(actor)
    if teacher is None:
        return
    section = await repo.get_or_raise(session, Section, section_id, field="section_id")
    if section.homeroom_teacher_id == teacher or await repo.list_classes(
            session, after_id=0, limit=1, section_id=section_id, teacher_id=teacher, subject_id=None):
        return
    raise PermissionDenied(f"section {section.code} is not one of your sections; teachers see the students of "
                           "sections where they teach a class or are the homeroom teacher, and of their classes "
                           "(list_classes with your teacher_id shows them)", field="section_id")


async def list_students(session: AsyncSession, actor: Actor, *, after_id: int, limit: int,
                        section_id: int | None = None, year_level_id: int | None = None, class_id: int | None = None,
                        status: StudentStatus | None = None, query: str | None = None) -> list:
    """Return a page of student summaries (rows of id, code, first_name, last_name, year_level_id, section_id,
    status: no personal data), filtered by section, year level, active enrollment in a class, status, or `query`
    (part of a name or the code, case-insensitive); a teacher's page holds only their students (roster_scope).
    Raises NotFound (section_id, year_level_id, class_id), PermissionDenied when a teacher names a class they
    do not teach or a section that is not theirs."""
    teacher = roster_scope(actor)
    if teacher is not None and class_id is not None:
        ensure_teaches(actor, await repo.get_or_raise(session, SchoolClass, class_id, field="class_id"))
    if teacher is not None and section_id is not None:
        await _ensure_reads_section(session, actor, section_id)
    rows = await repo.list_student_summaries(session, after_id=after_id, limit=limit, section_id=section_id,
                                             year_level_id=year_level_id, class_id=class_id, query=query,
                                             status=status.value if status else None, teacher_id=teacher)
    await _check_filters(session, rows, section_id=(Section, section_id), year_level_id=(YearLevel, year_level_id),
                         class_id=(SchoolClass, class_id))
    return rows


# Who may read a student's date of birth and guardians' contacts: the data-access policy's personal class (the
# service loads guardians only for them; tools.invoke's redaction would null them for anyone else anyway).
PERSONAL_DATA_ROLES = CLEARANCE[DataClass.PERSONAL]


@dataclass(frozen=True)
class StudentDetail:
    """A student's record for `actor`: `row` has id, code, first_name, last_name, year_level_id, section_id,
    status, version and date_of_birth; `guardians` (rows of guardian_id, guardian_name, guardian_relationship,
    guardian_phone, guardian_email, in id order) is None unless `personal_data` is True."""

    row: Any
    personal_data: bool
    guardians: list[Any] | None


async def student_detail(session: AsyncSession, actor: Actor, *, student_id: int) -> StudentDetail:
    """Return a live student's record in one query; the date of birth (in `row`, to be left out when
    `personal_data` is False) and the guardians' contacts only for PERSONAL_DATA_ROLES. A teacher reads only the
    students list_students shows them (roster_scope): one query more. Raises NotFound (student_id);
    PermissionDenied when a teacher asks for a student they do not work with."""
    personal = actor.has_any(PERSONAL_DATA_ROLES)
    rows = await repo.get_student_detail(session, student_id, with_guardians=personal)
    if not rows:
        await repo.get_or_raise(session, Student, student_id, field="student_id")
    teacher = roster_scope(actor)
    if teacher is not None and not await repo.teaches_student(session, teacher, student_id):
        raise PermissionDenied(f"student {student_id} is not one of your students; teachers see the students of "
                               "their classes and of the sections where they teach a class or are the homeroom "
                               "teacher (list_students shows them)", field="student_id")
    guardians = [r for r in rows if r.guardian_id is not None] if personal else None
    return StudentDetail(row=rows[0], personal_data=personal, guardians=guardians)


async def list_enrollments(session: AsyncSession, actor: Actor, *, after_id: int, limit: int,
                           class_id: int | None = None, student_id: int | None = None
                           ) -> list[tuple[Enrollment, Student, SchoolClass]]:
    """Return a page of live enrollments (any status) of a class or a student, each with its student and class;
    a teacher's page holds only enrollments in classes they teach (roster_scope). Raises NotFound (class_id,
    student_id), PermissionDenied when a teacher names a class they do not teach."""
    teacher = roster_scope(actor)
    if teacher is not None and class_id is not None:
        ensure_teaches(actor, await repo.get_or_raise(session, SchoolClass, class_id, field="class_id"))
    rows = await repo.list_enrollments(session, after_id=after_id, limit=limit, class_id=class_id,
                                       student_id=student_id, teacher_id=teacher)
    await _check_filters(session, rows, class_id=(SchoolClass, class_id), student_id=(Student, student_id))
    return rows


async def list_assessments(session: AsyncSession, actor: Actor, *, class_id: int, term_id: int | None,
                           after_id: int, limit: int) -> list[Assessment]:
    """Return a page of a live class's live assessments, of one term when given. Raises NotFound (class_id,
    term_id), PermissionDenied when a teacher names a class they do not teach (roster_scope)."""
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    if roster_scope(actor) is not None:
        ensure_teaches(actor, cls)
    rows = [a for a in await repo.assessments_of(session, class_id, term_id) if (a.id or 0) > after_id]
    await _check_filters(session, rows, term_id=(Term, term_id))
    return rows[:limit + 1]


async def get_assessment(session: AsyncSession, assessment_id: int, *, field: str = "assessment_id") -> Assessment:
    """Return the live assessment; raises NotFound naming list_assessments."""
    return await repo.get_or_raise(session, Assessment, assessment_id, field=field)


async def term_grades(session: AsyncSession, actor: Actor, *, class_id: int, term_id: int
                      ) -> tuple[TermGradeComputation, dict[int, TermGrade]]:
    """Return a class's term grades computed now (compute_term_grades) and its published (frozen) term grade rows
    by student id (empty before publication). Raises as compute_term_grades."""
    comp = await compute_term_grades(session, actor, class_id=class_id, term_id=term_id)
    published = {tg.student_id: tg for tg in await repo.term_grades_of(session, class_id, term_id)}
    return comp, published


# ---------------------------------------------------------------- grade change requests

CHANGE_LOCKED_GRADE = "change_locked_grade"  # the gated command whose pending actions are grade change requests
OPEN_REQUEST_STATUSES = ["proposed", "queued"]  # waiting for the requester's confirmation, or for an admin


async def grade_change_requests(session: AsyncSession, actor: Actor, *, status: Literal["open", "decided", "all"],
                                student_id: int | None, after_id: int, limit: int) -> list[Any]:
    """Return up to `limit + 1` grade change requests (the pending actions of change_locked_grade) after
    `after_id`, oldest first: open ones (proposed, queued), decided ones (every other status) or all, about one
    student when given. Rule: admins and registrars see everyone's, other roles only the ones they requested.
    Raises NotFound (student_id). Returns ChangeRequestOut items."""
    from domain.academics.schemas import change_request_out  # schemas imports this module's rules

    if student_id is not None:
        await repo.get_or_raise(session, Student, student_id, field="student_id")
    statuses = OPEN_REQUEST_STATUSES if status == "open" else None
    requested_by = None if actor.has_any(GRADE_MANAGERS) else actor.id
    items: list[Any] = []
    while len(items) <= limit:  # filter decided/student here, fetching more pages as needed
        batch = await actions.list_actions_of_command(session, command=CHANGE_LOCKED_GRADE, after_id=after_id,
                                                      limit=limit, statuses=statuses, requested_by=requested_by)
        for action in batch:
            if status == "decided" and action.status in OPEN_REQUEST_STATUSES:
                continue
            if student_id is not None and json.loads(action.arguments).get("student_id") != student_id:
                continue
            items.append(action)
        if len(batch) <= limit:
            break
        after_id = batch[-1].id or 0
    return [change_request_out(action) for action in items[:limit + 1]]


REFERENCE_KINDS = {
    "student": "a student id or code like S2026-0117 (or the full name)",
    "academic_year": "an academic year id or code like 2026-27",
    "term": "a term id or name like 'Term 1' (T1, or '2026-27 T1' for another year)",
    "year_level": "a year level id or code like Y7 (or its name, Year 7)",
    "section": "a section id or code like 7A (of the current academic year; '2025-26 7A' for another)",
    "subject": "a subject id or code like MATH",
    "class": "a class id or code like 7A-MATH, or '7A Mathematics' (of the current academic year)",
    "assessment": "an assessment id, or its class code and title like '7A-MATH Unit test 1'",
    "grading_scale": "a grading scale id or code",
}
"""The records of academics a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    year = await repo.year_on(session, utcnow().date()) if kind in ("term", "section", "class", "assessment") \
        else None
    current_year = year.id if year is not None else None
    if kind == "student":
        candidates = [Candidate(r[0], r[1], f"{r[2]} {r[3]}", aliases=(f"{r[3]} {r[2]}", f"{r[3]}, {r[2]}"))
                      for r in rows]
    elif kind == "term":
        candidates = [Candidate(r[0], f"{r[3]} T{r[1]}", r[2],
                                aliases=(f"T{r[1]}", f"Term {r[1]}", f"{r[3]} {r[2]}", f"{r[3]}/{r[1]}"),
                                current=r[4] == current_year) for r in rows]
    elif kind == "section":
        candidates = [Candidate(r[0], r[1], r[2], aliases=(f"{r[3]} {r[1]}", f"{r[3]}/{r[1]}"),
                                current=r[4] == current_year) for r in rows]
    elif kind == "class":  # 7A-MATH is also "7A Mathematics", "7A MATH" and "2026-27 7A-MATH"
        candidates = [Candidate(r[0], r[1], f"{r[5]} {r[2]}", aliases=(f"{r[5]} {r[6]}", f"{r[3]} {r[1]}",
                                                                       f"{r[3]}/{r[1]}"),
                                current=r[4] == current_year) for r in rows]
    elif kind == "assessment":
        candidates = [Candidate(r[0], f"{r[2]} {r[1]}", r[1], current=r[3] == current_year) for r in rows]
    else:
        candidates = [Candidate(r[0], r[1], r[2]) for r in rows]
    return candidates


async def resolve_reference(session: AsyncSession, kind: str, text: str, *, field: str,
                            names: bool = True) -> int:
    """Return the id of the live `kind` (a REFERENCE_KINDS key) that `text` names (domain.kernel.references:
    code, then name, then digits as an id; case and accents ignored). Sections, classes, terms and assessments
    repeat across academic years: the current year's (the one today falls in, else the latest) is preferred.
    Raises NotFound with the closest matches, or InvalidInput when `text` names several. `names=False` lists
    them by code only (domain.kernel.references.pick)."""
    return pick(await reference_candidates(session, kind), text, field=field, kind=kind.replace("_", " "),
                expected=REFERENCE_KINDS[kind], names=names)


async def reference_codes(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code of each `kind` record (a REFERENCE_KINDS key) of `ids`, in one query: what an answer shows beside
    an id (tools.output_codes), and what a reference to it accepts."""
    return await repo.codes_of(session, kind, ids)


# ---------------------------------------------------------------- guardians (the guardian role's own children)
#
# A guardian user reads only the students whose guardian records are linked to them (GuardianAccount). Every read
# below puts that scope into its query (repository.children_of_user), so another family's student answers exactly
# as a student that does not exist: NotFound with the same message, nothing of it read.

GUARDIAN_LINKERS = frozenset({Role.ADMIN, Role.REGISTRAR})
MAX_LINKED_RECORDS = 20


def not_your_child(student_id: int) -> NotFound:
    """The one answer for a student outside a guardian's scope, whether or not it exists."""
    return NotFound(f"no student with id {student_id} is one of your children; get_my_children shows them",
                    field="student_id")


async def guardian_children(session: AsyncSession, actor: Actor) -> list[Student]:
    """Return the live students whose guardian records are linked to `actor` (the guardian role's scope), by name.
    Empty for a user linked to no guardian record."""
    return await repo.guardian_children(session, actor.id)


async def guardian_child(session: AsyncSession, actor: Actor, *, student_id: int) -> Student:
    """Return the student `student_id` when it is one of `actor`'s children (one scoped query). Raises NotFound
    (not_your_child) otherwise: another family's student and a missing one are told apart by nothing."""
    found = await repo.guardian_children(session, actor.id, student_id=student_id)
    if not found:
        raise not_your_child(student_id)
    return found[0]


async def guardian_records(session: AsyncSession, actor: Actor) -> list[Guardian]:
    """Return `actor`'s own live guardian records (one per child), in id order."""
    return await repo.guardian_records_of_user(session, actor.id)


async def update_guardian_contacts(session: AsyncSession, actor: Actor, *, phone: str | None = None,
                                   email: str | None = None) -> list[Guardian]:
    """Set the phone and/or email on every guardian record of `actor` (the same person on each child's record) and
    return them. Only the guardian's own records are written; a field not given is left as it is. Raises
    InvalidInput when nothing is given, NotFound when the user is linked to no guardian record."""
    if phone is None and email is None:
        raise InvalidInput("give phone, email or both: the contact details to change", field="phone")
    records = await repo.guardian_records_of_user(session, actor.id, for_update=True)
    if not records:
        raise NotFound("your account is linked to no guardian record; ask the school office to invite you again",
                       field="user")
    for record in records:
        changed = False
        if phone is not None and record.phone != phone:
            record.phone, changed = phone, True
        if email is not None and record.email != email:
            record.email, changed = email, True
        if changed:
            bump(record)
            session.add(record)
    await session.flush()
    return records


@dataclass(frozen=True)
class ChildTranscript:
    """A guardian's child's published term grades (rows of TermGrade, SchoolClass, Subject, Term, AcademicYear;
    oldest term first), each term's GPA by term id, the cumulative GPA and the credits earned (hundredths)."""

    student: Student
    grades: list[Any]
    term_gpa: dict[int, Fraction | None]
    gpa: Fraction | None
    credits_earned_x100: int


def _gpa_of(rows: list[Any]) -> Fraction | None:
    return grading.weighted_gpa((None if tg.gpa_points_x100 is None else Fraction(tg.gpa_points_x100, 100),
                                 Fraction(subject.credits_x100, 100)) for tg, _cls, subject, _term, _year in rows)


async def published_grades_of_child(session: AsyncSession, actor: Actor, *, student_id: int,
                                    term_id: int | None = None) -> ChildTranscript:
    """Return one of `actor`'s children's published term grades, of one term when `term_id` is given, with each
    term's GPA and the cumulative GPA (credit-weighted mean of the stored GPA points, as gradebook.transcript
    computes them) and the credits earned. Grades not yet published are never shown: only the frozen term grades
    of a publication. Raises NotFound (not_your_child; term_id)."""
    student = await guardian_child(session, actor, student_id=student_id)
    if term_id is not None:
        await repo.get_or_raise(session, Term, term_id, field="term_id")
    rows = await repo.published_grades_of_child(session, actor.id, student_id, term_id)
    terms = sorted({term.id or 0 for _tg, _cls, _subject, term, _year in rows})
    return ChildTranscript(student=student, grades=rows,
                           term_gpa={t: _gpa_of([r for r in rows if r[3].id == t]) for t in terms},
                           gpa=_gpa_of(rows),
                           credits_earned_x100=sum(subject.credits_x100 for tg, _c, subject, _t, _y in rows
                                                   if tg.earns_credit))


async def term_comments_of_child(session: AsyncSession, actor: Actor, *, student_id: int, term_id: int
                                 ) -> dict[int, str]:
    """Return {class id: teacher's comment} of one of `actor`'s children for a term (empty otherwise)."""
    return await repo.term_comments_of_child(session, actor.id, student_id, term_id)


async def attendance_of_child(session: AsyncSession, actor: Actor, *, student_id: int, from_date: date,
                              to_date: date, limit: int) -> tuple[Student, list[Any]]:
    """Return one of `actor`'s children and up to `limit` of their attendance records (AttendanceRecord: on_date,
    status, note) between the dates inclusive, newest first. Raises NotFound (not_your_child), InvalidInput when
    to_date is before from_date."""
    if to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    student = await guardian_child(session, actor, student_id=student_id)
    return student, await repo.attendance_of_child(session, actor.id, student_id, from_date, to_date, limit=limit)


async def link_guardian_account(session: AsyncSession, actor: Actor, *, guardian_ids: list[int], user_id: int
                                ) -> list[Guardian]:
    """Link guardian records (one per child of the same person) to user `user_id`, who then reads those children.

    Records already linked to this user stay linked; a record linked to another user raises Conflict (unlink is
    not offered: a record belongs to one person). Raises PermissionDenied unless `actor` is an admin or registrar,
    InvalidInput for no records or more than MAX_LINKED_RECORDS, NotFound (guardian_ids)."""
    if not actor.has_any(GUARDIAN_LINKERS):
        raise PermissionDenied("only admins and registrars link guardian records to accounts")
    wanted = sorted(set(guardian_ids))
    if not wanted or len(wanted) > MAX_LINKED_RECORDS:
        raise InvalidInput(f"give 1 to {MAX_LINKED_RECORDS} guardian records", field="guardian_id")
    records = [await repo.get_or_raise(session, Guardian, gid, field="guardian_id") for gid in wanted]
    existing = {a.guardian_id: a for a in await repo.live_guardian_accounts(session, wanted)}
    for record in records:
        link = existing.get(record.id or 0)
        if link is not None and link.user_id != user_id:
            raise Conflict(f"guardian record {record.id} ({record.name}) is already linked to another account",
                           field="guardian_id")
        if link is None:
            session.add(GuardianAccount(guardian_id=record.id or 0, user_id=user_id))
    await session.flush()
    return records


async def guardian_records_of_person(session: AsyncSession, *, guardian_id: int) -> list[Guardian]:
    """Return the guardian record `guardian_id` and every other live record with its email (the same person on
    each of their children's files), in id order, at most MAX_LINKED_RECORDS. Raises NotFound (guardian_id),
    InvalidInput when the record has no email or the address is on more than MAX_LINKED_RECORDS records."""
    record = await repo.get_or_raise(session, Guardian, guardian_id, field="guardian_id")
    if not (record.email or "").strip():
        raise InvalidInput(f"guardian record {guardian_id} ({record.name}) has no email: the account and its "
                           "sign-in links go to the guardian's address (update_guardian sets it)", field="guardian_id")
    records = await repo.guardian_records_with_email(session, record.email.strip())
    if len(records) > MAX_LINKED_RECORDS:
        raise InvalidInput(f"{record.email} is on {len(records)} guardian records, more than one person's "
                           f"{MAX_LINKED_RECORDS}; give each guardian their own address", field="guardian_id")
    return records
