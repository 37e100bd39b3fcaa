"""All SQL of the academics context."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import cache

from sqlalchemy import Integer, bindparam, case, exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics.attendance_models import AttendanceRecord
from domain.academics.models import (
    AcademicYear,
    Assessment,
    Enrollment,
    EnrollmentStatus,
    Grade,
    GradeChange,
    GradingCategory,
    GradingScaleRecord,
    Guardian,
    GuardianAccount,
    SchoolClass,
    Section,
    Student,
    StudentStatus,
    Subject,
    Term,
    TermComment,
    TermGrade,
    YearLevel,
)
from domain.kernel.db import codes_by_id
from domain.kernel.errors import NotFound
from domain.kernel.sql import id_in
from domain.kernel.text import name_search

_HINTS = {
    AcademicYear: ("academic year", "list_academic_years"),
    Term: ("term", "list_terms"),
    YearLevel: ("year level", "list_year_levels"),
    Section: ("section", "list_sections"),
    Subject: ("subject", "list_subjects"),
    SchoolClass: ("class", "list_classes"),
    Student: ("student", "list_students or search_students"),
    Guardian: ("guardian record", "get_student (a student's guardians, with their ids)"),
    Assessment: ("assessment", "list_assessments"),
    Grade: ("grade", "get_gradebook"),
}


async def get_live(session: AsyncSession, model: type[SQLModel], row_id: int):
    """Return the live row of `model` with that id, or None."""
    row = await session.get(model, row_id)
    return None if row is None or getattr(row, "deleted_at", None) is not None else row


async def get_or_raise(session: AsyncSession, model: type[SQLModel], row_id: int, *, field: str | None = None):
    """Return the live row or raise NotFound naming the tool that lists valid ids."""
    row = await get_live(session, model, row_id)
    if row is None:
        raise not_found(model, row_id, field=field)
    return row


def not_found(model: type[SQLModel], row_id: int, *, field: str | None = None) -> NotFound:
    """NotFound for no live `model` row with id `row_id`, naming the tool that lists valid ids."""
    what, hint = _HINTS.get(model, (model.__name__, "the list tools"))
    return NotFound(f"no {what} with id {row_id}; {hint} shows valid ids", field=field)


async def by_code(session: AsyncSession, model, code: str, **filters):
    stmt = select(model).where(func.upper(model.code) == code.upper(), model.deleted_at.is_(None))
    for key, value in filters.items():
        stmt = stmt.where(getattr(model, key) == value)
    return (await session.exec(stmt)).first()


async def list_rows(session: AsyncSession, model, *, after_id: int, limit: int, order=None, **filters) -> list:
    """Return up to limit + 1 live rows of `model` after `after_id` matching equality filters (None = any)."""
    stmt = select(model).where(model.id > after_id, model.deleted_at.is_(None))
    for key, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(model, key) == value)
    return list((await session.exec(stmt.order_by(model.id).limit(limit + 1))).all())


async def count_students_by_section(session: AsyncSession, section_ids: list[int]) -> dict[int, int]:
    if not section_ids:
        return {}
    stmt = (select(Student.section_id, func.count()).where(Student.section_id.in_(section_ids),  # type: ignore
                                                            Student.deleted_at.is_(None))  # type: ignore
            .group_by(Student.section_id))
    return {sid: n for sid, n in (await session.exec(stmt)).all()}


# The columns of a student summary: list tools select only these (no ORM objects to build, no personal data).
STUDENT_SUMMARY_COLUMNS = (Student.id, Student.code, Student.first_name, Student.last_name, Student.year_level_id,
                           YearLevel.code.label("year_level_code"), Student.section_id,  # type: ignore[attr-defined]
                           Section.code.label("section_code"), Student.status)  # type: ignore[attr-defined]


def _with_codes(stmt):
    """`stmt` over students joined to what STUDENT_SUMMARY_COLUMNS names: the year level and the section."""
    return stmt.join(YearLevel, YearLevel.id == Student.year_level_id).outerjoin(
        Section, Section.id == Student.section_id)
STUDENT_DETAIL_COLUMNS = (*STUDENT_SUMMARY_COLUMNS, Student.version, Student.date_of_birth)
GUARDIAN_COLUMNS = (Guardian.id.label("guardian_id"), Guardian.name.label("guardian_name"),  # type: ignore
                    Guardian.relationship.label("guardian_relationship"),
                    Guardian.phone.label("guardian_phone"), Guardian.email.label("guardian_email"))


def taught_by(employee_id: int):
    """The condition 'this student is one a teacher (employee `employee_id`) works with': actively enrolled in a
    live class they teach, or in a section they are the homeroom teacher of or teach a live class of. Aliases
    keep the subqueries from correlating with the caller's own joins of these tables."""
    enrollment, cls, section = aliased(Enrollment), aliased(SchoolClass), aliased(Section)
    their_class = select(enrollment.id).join(cls, cls.id == enrollment.class_id).where(
        enrollment.student_id == Student.id, enrollment.status == EnrollmentStatus.ACTIVE.value,
        enrollment.deleted_at.is_(None), cls.teacher_id == employee_id, cls.deleted_at.is_(None))
    homeroom = select(section.id).where(section.id == Student.section_id, section.homeroom_teacher_id == employee_id)
    in_section = select(cls.id).where(cls.section_id == Student.section_id, cls.teacher_id == employee_id,
                                      cls.deleted_at.is_(None))
    return or_(their_class.exists(), homeroom.exists(), in_section.exists())


@cache
def _student_page_statement(filters: frozenset[str]):
    """The statement of a page of list_student_summaries without a query, for the filters given (`filters` names
    them; their values, `after_id` and `limit` are bind parameters): built once per combination (32 at most)
    rather than per call, which cost about as much CPU as the rest of the call's SQLAlchemy work."""
    stmt = _with_codes(select(*STUDENT_SUMMARY_COLUMNS)).where(Student.deleted_at.is_(None))  # type: ignore
    if "teacher_id" in filters:
        stmt = stmt.where(taught_by(bindparam("teacher_id")))
    for name, column in (("section_id", Student.section_id), ("year_level_id", Student.year_level_id),
                         ("status", Student.status)):
        if name in filters:
            stmt = stmt.where(column == bindparam(name))
    if "class_id" in filters:
        stmt = stmt.join(Enrollment, Enrollment.student_id == Student.id).where(
            Enrollment.class_id == bindparam("class_id"), Enrollment.status == EnrollmentStatus.ACTIVE.value,
            Enrollment.deleted_at.is_(None))  # type: ignore[union-attr]
    return stmt.where(Student.id > bindparam("after_id")).order_by(Student.id).limit(  # type: ignore[operator]
        bindparam("limit", type_=Integer))


async def list_student_summaries(session: AsyncSession, *, after_id: int, limit: int,
                                 section_id: int | None = None, year_level_id: int | None = None,
                                 class_id: int | None = None, query: str | None = None,
                                 status: str | None = None, teacher_id: int | None = None) -> list:
    """Return up to limit + 1 rows of STUDENT_SUMMARY_COLUMNS after `after_id`, in id order. With `query`
    (domain.kernel.text.name_search: case and accents ignored) the rows are ranked instead: the name or code is
    the query, then starts with it, then holds it, then a guardian's name holds it; `after_id` is then the
    number of rows already returned. With `teacher_id` (an employee id), only the students `taught_by` them."""
    if not query:
        filters = {"teacher_id": teacher_id, "section_id": section_id, "year_level_id": year_level_id,
                   "status": status, "class_id": class_id}
        given = {name: value for name, value in filters.items() if value is not None}
        stmt = _student_page_statement(frozenset(given))
        return list((await session.exec(stmt, params={**given, "after_id": after_id, "limit": limit + 1})).all())
    stmt = _with_codes(select(*STUDENT_SUMMARY_COLUMNS)).where(Student.deleted_at.is_(None))  # type: ignore
    if teacher_id is not None:
        stmt = stmt.where(taught_by(teacher_id))
    if section_id is not None:
        stmt = stmt.where(Student.section_id == section_id)
    if year_level_id is not None:
        stmt = stmt.where(Student.year_level_id == year_level_id)
    if status is not None:
        stmt = stmt.where(Student.status == status)
    if class_id is not None:
        stmt = stmt.join(Enrollment, Enrollment.student_id == Student.id).where(
            Enrollment.class_id == class_id, Enrollment.status == EnrollmentStatus.ACTIVE.value,
            Enrollment.deleted_at.is_(None))  # type: ignore[union-attr]
    where, rank = name_search(query, Student.name_folded, Student.code)
    by_guardian = exists().where(Guardian.student_id == Student.id, Guardian.deleted_at.is_(None),  # type: ignore
                                 name_search(query, Guardian.name_folded)[0])
    stmt = stmt.where(or_(where, by_guardian))
    order = (case((where, rank), else_=4), Student.name_folded, Student.id)
    return list((await session.exec(stmt.order_by(*order).offset(after_id).limit(limit + 1))).all())


async def next_student_number(session: AsyncSession, prefix: str) -> int:
    stmt = select(func.count()).select_from(Student).where(Student.code.like(f"{prefix}%"))  # type: ignore
    return int((await session.exec(stmt)).one()) + 1


def _student_detail_statement(*, with_guardians: bool):
    columns = (*STUDENT_DETAIL_COLUMNS, *GUARDIAN_COLUMNS) if with_guardians else STUDENT_DETAIL_COLUMNS
    stmt = _with_codes(select(*columns)).where(Student.id == bindparam("student_id"),
                                               Student.deleted_at.is_(None))  # type: ignore[union-attr]
    if with_guardians:
        stmt = stmt.outerjoin(Guardian, (Guardian.student_id == Student.id)
                              & Guardian.deleted_at.is_(None)).order_by(Guardian.id)  # type: ignore[union-attr]
    return stmt


# get_student is the hottest read: its two statements are built once, not per call (building a select of these
# columns cost about 1 ms of CPU a call, half of the tool's; bench/mcp_latency.py).
_STUDENT_DETAIL = {with_guardians: _student_detail_statement(with_guardians=with_guardians)
                   for with_guardians in (False, True)}


_TAUGHT_STUDENT = select(Student.id).where(Student.id == bindparam("student_id"),
                                          taught_by(bindparam("teacher_id")))  # built once: get_student's


async def teaches_student(session: AsyncSession, teacher_id: int, student_id: int) -> bool:
    """Whether student `student_id` is one teacher `teacher_id` (an employee id) works with (`taught_by`)."""
    return (await session.exec(_TAUGHT_STUDENT, params={"student_id": student_id, "teacher_id": teacher_id})
            ).first() is not None


async def get_student_detail(session: AsyncSession, student_id: int, *, with_guardians: bool) -> list:
    """Return rows of STUDENT_DETAIL_COLUMNS (plus GUARDIAN_COLUMNS, one row per guardian, via a LEFT JOIN) for
    a live student, in one query; an empty list when there is no such student."""
    return list((await session.exec(_STUDENT_DETAIL[with_guardians], params={"student_id": student_id})).all())


async def guardians_of(session: AsyncSession, student_id: int) -> list[Guardian]:
    stmt = select(Guardian).where(Guardian.student_id == student_id, Guardian.deleted_at.is_(None)).order_by(
        Guardian.id)  # type: ignore[union-attr]
    return list((await session.exec(stmt)).all())


async def get_enrollment(session: AsyncSession, student_id: int, class_id: int) -> Enrollment | None:
    stmt = select(Enrollment).where(Enrollment.student_id == student_id, Enrollment.class_id == class_id,
                                    Enrollment.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


async def list_enrollments(session: AsyncSession, *, after_id: int, limit: int, class_id: int | None,
                           student_id: int | None, teacher_id: int | None = None
                           ) -> list[tuple[Enrollment, Student, SchoolClass]]:
    """Return up to limit + 1 live enrollments after `after_id` in id order, each with its student and class;
    with `teacher_id` (an employee id), only those of classes they teach."""
    stmt = (select(Enrollment, Student, SchoolClass)
            .join(Student, Student.id == Enrollment.student_id)
            .join(SchoolClass, SchoolClass.id == Enrollment.class_id)
            .where(Enrollment.id > after_id, Enrollment.deleted_at.is_(None)))  # type: ignore[union-attr]
    if teacher_id is not None:
        stmt = stmt.where(SchoolClass.teacher_id == teacher_id)
    if class_id is not None:
        stmt = stmt.where(Enrollment.class_id == class_id)
    if student_id is not None:
        stmt = stmt.where(Enrollment.student_id == student_id)
    return [tuple(r) for r in (await session.exec(stmt.order_by(Enrollment.id).limit(limit + 1))).all()]


async def active_students_of_class(session: AsyncSession, class_id: int) -> list[Student]:
    stmt = (select(Student).join(Enrollment, Enrollment.student_id == Student.id)
            .where(Enrollment.class_id == class_id, Enrollment.status == EnrollmentStatus.ACTIVE.value,
                   Enrollment.deleted_at.is_(None), Student.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Student.id))
    return list((await session.exec(stmt)).all())


async def list_classes(session: AsyncSession, *, after_id: int, limit: int, section_id: int | None,
                       teacher_id: int | None, subject_id: int | None) -> list[tuple[SchoolClass, Subject]]:
    """Return up to limit + 1 live classes after `after_id` in id order, each with its subject, matching the
    filters (None = any). The teacher is `teacher_id`, an employee id (HR's; hr.service names them)."""
    stmt = (select(SchoolClass, Subject)
            .join(Subject, Subject.id == SchoolClass.subject_id)
            .where(SchoolClass.id > after_id, SchoolClass.deleted_at.is_(None)))  # type: ignore[union-attr]
    if section_id is not None:
        stmt = stmt.where(SchoolClass.section_id == section_id)
    if teacher_id is not None:
        stmt = stmt.where(SchoolClass.teacher_id == teacher_id)
    if subject_id is not None:
        stmt = stmt.where(SchoolClass.subject_id == subject_id)
    return [tuple(r) for r in (await session.exec(stmt.order_by(SchoolClass.id).limit(limit + 1))).all()]


async def teacher_class_counts(session: AsyncSession, *, after_id: int, limit: int) -> list[tuple[int, int]]:
    """Return up to limit + 1 (teacher's employee id, live classes they teach) pairs with an employee id after
    `after_id`, in employee id order."""
    stmt = (select(SchoolClass.teacher_id, func.count(SchoolClass.id))  # type: ignore[arg-type]
            .where(SchoolClass.teacher_id > after_id, SchoolClass.deleted_at.is_(None))  # type: ignore[union-attr]
            .group_by(SchoolClass.teacher_id).order_by(SchoolClass.teacher_id).limit(limit + 1))
    return [(teacher_id, n) for teacher_id, n in (await session.exec(stmt)).all()]


async def assessments_of(session: AsyncSession, class_id: int, term_id: int | None = None) -> list[Assessment]:
    stmt = select(Assessment).where(Assessment.class_id == class_id, Assessment.deleted_at.is_(None))  # type: ignore
    if term_id is not None:
        stmt = stmt.where(Assessment.term_id == term_id)
    return list((await session.exec(stmt.order_by(Assessment.id))).all())


async def get_grade(session: AsyncSession, assessment_id: int, student_id: int) -> Grade | None:
    stmt = select(Grade).where(Grade.assessment_id == assessment_id, Grade.student_id == student_id,
                               Grade.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt)).first()


@cache
def _grade_target_statement():
    # Built once, the ids bound at execution: building the joins on every call cost about as much as running them.
    # Each join is the lookup grade_target made on its own before (a live class, student, enrollment and result);
    # the unique constraints (student, class) and (assessment, student) leave at most one row.
    assessment_id, student_id = bindparam("assessment_id", type_=Integer), bindparam("student_id", type_=Integer)
    published = exists().where(TermGrade.class_id == Assessment.class_id, TermGrade.term_id == Assessment.term_id,
                               TermGrade.deleted_at.is_(None))  # type: ignore[union-attr]
    return (select(Assessment, SchoolClass, Student, Enrollment.status, Grade, published.label("published"))
            .outerjoin(SchoolClass, (SchoolClass.id == Assessment.class_id)
                       & SchoolClass.deleted_at.is_(None))  # type: ignore[union-attr]
            .outerjoin(Student, (Student.id == student_id) & Student.deleted_at.is_(None))  # type: ignore
            .outerjoin(Enrollment, (Enrollment.student_id == student_id) & (Enrollment.class_id == Assessment.class_id)
                       & Enrollment.deleted_at.is_(None))  # type: ignore[union-attr]
            .outerjoin(Grade, (Grade.assessment_id == Assessment.id) & (Grade.student_id == student_id)
                       & Grade.deleted_at.is_(None))  # type: ignore[union-attr]
            .where(Assessment.id == assessment_id, Assessment.deleted_at.is_(None)))  # type: ignore[union-attr]


async def grade_target_row(session: AsyncSession, assessment_id: int, student_id: int
                           ) -> tuple[Assessment, SchoolClass | None, Student | None, str | None, Grade | None, bool
                                      ] | None:
    """What a grade call is about, in one query: (the live assessment, its live class, the live student, the status
    of the student's live enrollment in the class, their live result on the assessment, whether the class's
    term grades of the assessment's term are published), each None when there is none; None when there is no live
    assessment with that id."""
    row = (await session.exec(_grade_target_statement(), params={"assessment_id": assessment_id,
                                                                 "student_id": student_id})).first()
    return None if row is None else tuple(row)  # type: ignore[return-value]


async def grades_for_assessments(session: AsyncSession, assessment_ids: list[int],
                                 student_ids: list[int] | None = None) -> list[Grade]:
    if not assessment_ids:
        return []
    stmt = select(Grade).where(Grade.assessment_id.in_(assessment_ids), Grade.deleted_at.is_(None))  # type: ignore
    if student_ids is not None:
        stmt = stmt.where(Grade.student_id.in_(student_ids))  # type: ignore[attr-defined]
    return list((await session.exec(stmt.order_by(Grade.id))).all())


async def term_grades_of(session: AsyncSession, class_id: int, term_id: int) -> list[TermGrade]:
    stmt = select(TermGrade).where(TermGrade.class_id == class_id, TermGrade.term_id == term_id,
                                   TermGrade.deleted_at.is_(None)).order_by(TermGrade.student_id)  # type: ignore
    return list((await session.exec(stmt)).all())


async def is_published(session: AsyncSession, class_id: int, term_id: int) -> bool:
    stmt = select(TermGrade.id).where(TermGrade.class_id == class_id, TermGrade.term_id == term_id,
                                      TermGrade.deleted_at.is_(None)).limit(1)  # type: ignore[union-attr]
    return (await session.exec(stmt)).first() is not None


async def get_term_grade(session: AsyncSession, class_id: int, term_id: int, student_id: int) -> TermGrade | None:
    stmt = select(TermGrade).where(TermGrade.class_id == class_id, TermGrade.term_id == term_id,
                                   TermGrade.student_id == student_id, TermGrade.deleted_at.is_(None))  # type: ignore
    return (await session.exec(stmt)).first()


async def classes_with_load(session: AsyncSession, *, academic_year_id: int
                            ) -> list[tuple[SchoolClass, Section, Subject, int]]:
    """Return the live classes of an academic year with their section, subject and active enrollments, by
    section code, subject code and id (the teacher is the class's `teacher_id`, an employee id)."""
    enrolled = (select(Enrollment.class_id, func.count(Enrollment.id).label("n"))
                .where(Enrollment.status == EnrollmentStatus.ACTIVE.value,
                       Enrollment.deleted_at.is_(None))  # type: ignore[union-attr]
                .group_by(Enrollment.class_id).subquery())
    stmt = (select(SchoolClass, Section, Subject, func.coalesce(enrolled.c.n, 0))
            .join(Section, Section.id == SchoolClass.section_id)
            .join(Subject, Subject.id == SchoolClass.subject_id)
            .outerjoin(enrolled, enrolled.c.class_id == SchoolClass.id)
            .where(SchoolClass.academic_year_id == academic_year_id,
                   SchoolClass.deleted_at.is_(None), Section.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Section.code, Subject.code, SchoolClass.id))
    return [tuple(r) for r in (await session.exec(stmt)).all()]  # type: ignore[misc]


async def year_on(session: AsyncSession, day) -> AcademicYear | None:
    """Return the live academic year whose dates include `day`, else the latest-starting one, else None."""
    live = AcademicYear.deleted_at.is_(None)  # type: ignore[union-attr]
    stmt = select(AcademicYear).where(live, AcademicYear.start_date <= day, AcademicYear.end_date >= day)
    row = (await session.exec(stmt.order_by(AcademicYear.start_date.desc()).limit(1))).first()  # type: ignore
    if row is None:
        stmt = select(AcademicYear).where(live).order_by(AcademicYear.start_date.desc()).limit(1)  # type: ignore
        row = (await session.exec(stmt)).first()
    return row


async def section_sizes(session: AsyncSession, *, academic_year_id: int) -> dict[int, int]:
    """Return {section id: its enrolled students} for an academic year's sections."""
    stmt = (select(Student.section_id, func.count(Student.id))
            .join(Section, Section.id == Student.section_id)
            .where(Section.academic_year_id == academic_year_id, Student.deleted_at.is_(None),  # type: ignore
                   Student.status == StudentStatus.ENROLLED.value)
            .group_by(Student.section_id))
    return {sid: n for sid, n in (await session.exec(stmt)).all()}


async def categories_of(session: AsyncSession, class_id: int, *, include_deleted: bool = False
                        ) -> list[GradingCategory]:
    """Return a class's assessment categories by code (live ones, or all with `include_deleted`)."""
    stmt = select(GradingCategory).where(GradingCategory.class_id == class_id)
    if not include_deleted:
        stmt = stmt.where(GradingCategory.deleted_at.is_(None))  # type: ignore[union-attr]
    return list((await session.exec(stmt.order_by(GradingCategory.code))).all())


async def published_changes_of_student(session: AsyncSession, student_id: int) -> list[GradeChange]:
    """Return the changes made to a student's published (locked) results, oldest first."""
    stmt = (select(GradeChange).where(GradeChange.student_id == student_id, GradeChange.published.is_(True),  # type: ignore
                                      GradeChange.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(GradeChange.id))
    return list((await session.exec(stmt)).all())


async def published_grades_of_student(session: AsyncSession, student_id: int
                                      ) -> list[tuple[TermGrade, SchoolClass, Subject, Term, AcademicYear]]:
    """Return a student's published term grades with class, subject, term and year, oldest term first."""
    stmt = (select(TermGrade, SchoolClass, Subject, Term, AcademicYear)
            .join(SchoolClass, SchoolClass.id == TermGrade.class_id)
            .join(Subject, Subject.id == SchoolClass.subject_id)
            .join(Term, Term.id == TermGrade.term_id)
            .join(AcademicYear, AcademicYear.id == Term.academic_year_id)
            .where(TermGrade.student_id == student_id, TermGrade.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(AcademicYear.start_date, Term.number, SchoolClass.code))
    return [tuple(r) for r in (await session.exec(stmt)).all()]  # type: ignore[misc]


async def default_scale(session: AsyncSession) -> GradingScaleRecord | None:
    """Return the school's default grading scale, or None when it has not set one."""
    stmt = select(GradingScaleRecord).where(GradingScaleRecord.is_default.is_(True),  # type: ignore[attr-defined]
                                            GradingScaleRecord.deleted_at.is_(None))  # type: ignore[union-attr]
    return (await session.exec(stmt.order_by(GradingScaleRecord.id.desc()))).first()  # type: ignore[union-attr]


# ---------------------------------------------------------------- many classes at once (term grades in bulk)
#
# A school's 800 class ids are bound as one array on PostgreSQL (kernel.sql.id_in), not 800 IN parameters each.


async def classes_by_ids(session: AsyncSession, class_ids: list[int]) -> dict[int, SchoolClass]:
    """Return the live classes with these ids, by id."""
    stmt = select(SchoolClass).where(id_in(SchoolClass.id, class_ids), SchoolClass.deleted_at.is_(None))  # type: ignore
    return {c.id or 0: c for c in (await session.exec(stmt)).all()}


async def categories_of_classes(session: AsyncSession, class_ids: list[int]) -> dict[int, list[GradingCategory]]:
    """Return the live categories of these classes, by class id, each list by code."""
    stmt = (select(GradingCategory).where(id_in(GradingCategory.class_id, class_ids),
                                          GradingCategory.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(GradingCategory.class_id, GradingCategory.code))
    out: dict[int, list[GradingCategory]] = {}
    for row in (await session.exec(stmt)).all():
        out.setdefault(row.class_id, []).append(row)
    return out


async def assessments_of_classes(session: AsyncSession, class_ids: list[int], term_id: int
                                 ) -> dict[int, list[Assessment]]:
    """Return the live assessments of these classes in a term, by class id, each list by id."""
    stmt = (select(Assessment).where(id_in(Assessment.class_id, class_ids), Assessment.term_id == term_id,
                                     Assessment.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Assessment.id))
    out: dict[int, list[Assessment]] = {}
    for row in (await session.exec(stmt)).all():
        out.setdefault(row.class_id, []).append(row)
    return out


async def students_of_classes(session: AsyncSession, class_ids: list[int]) -> dict[int, Student]:
    """Return {id: Student} of the live students actively enrolled in any of these classes (each built once)."""
    enrolled = select(Enrollment.student_id).where(
        id_in(Enrollment.class_id, class_ids), Enrollment.status == EnrollmentStatus.ACTIVE.value,
        Enrollment.deleted_at.is_(None))  # type: ignore[union-attr]
    stmt = select(Student).where(Student.id.in_(enrolled), Student.deleted_at.is_(None))  # type: ignore
    return {s.id or 0: s for s in (await session.exec(stmt)).all()}


async def term_results_of_classes(session: AsyncSession, class_ids: list[int], term_id: int) -> list:
    """Return the stored results of every active enrollment of these classes in a term, with one query, as plain
    rows (class_id, student_id, assessment_id, score_x100, status) ordered by class id then student id.

    An enrollment has a row per live assessment of its class in the term; the last three are None where the
    student has no live result on that assessment, and the enrollment's only row is all None after the ids
    when the class has no assessment in the term. Enrollments of removed students are included
    (students_of_classes leaves those students out)."""
    e, a, g = Enrollment.__table__, Assessment.__table__, Grade.__table__  # type: ignore[attr-defined]
    # SQLite, which keeps no statistics here, looked each enrollment's assessments up by the term's index (every
    # assessment of the term, for each of 20,000 enrollments: 9 s for bench/gradebook.py's school) instead of by
    # the class's. A column inside an expression is not looked up by an index, so `term_id + 0` leaves it the
    # class's (0.2 s): SQLite's documented way to steer a plan (https://sqlite.org/optoverview.html, "Manual
    # Control Of Query Plans Using Unary-'+'"). PostgreSQL did the same for tables not analyzed yet (a new school,
    # a restored one, or autovacuum off): one class's gradebook on the demo school scanned the term's 1,105
    # assessments for each of its 25 enrollments (16 ms; 0.4 ms by the class's index). Analyzed, it plans a hash
    # join either way (the whole school's 21,000 rows: 48 ms with and without the `+ 0`).
    term = a.c.term_id + 0
    stmt = (select(e.c.class_id, e.c.student_id, g.c.assessment_id, g.c.score_x100, g.c.status)
            .select_from(e.outerjoin(a, (a.c.class_id == e.c.class_id) & (term == term_id)
                                     & a.c.deleted_at.is_(None))
                         .outerjoin(g, (g.c.assessment_id == a.c.id) & (g.c.student_id == e.c.student_id)
                                    & g.c.deleted_at.is_(None)))
            .where(id_in(e.c.class_id, class_ids), e.c.status == EnrollmentStatus.ACTIVE.value,
                   e.c.deleted_at.is_(None))
            .order_by(e.c.class_id, e.c.student_id))
    # Core rows straight from the connection (no ORM loading step for 80,000 rows of plain values); a write unit
    # of work's pending changes are flushed first, as the session's own queries do.
    await session.flush()
    return list((await (await session.connection()).execute(stmt)).all())


async def published_classes(session: AsyncSession, class_ids: list[int], term_id: int) -> set[int]:
    """Return the ids of these classes whose term grades are published."""
    stmt = select(TermGrade.class_id).where(id_in(TermGrade.class_id, class_ids),
                                            TermGrade.term_id == term_id, TermGrade.deleted_at.is_(None)).distinct()
    return set((await session.exec(stmt)).all())


async def term_comment(session: AsyncSession, class_id: int, term_id: int, student_id: int) -> TermComment | None:
    """Return the comment row (live or removed) of a student's term in a class, or None."""
    stmt = select(TermComment).where(TermComment.class_id == class_id, TermComment.term_id == term_id,
                                     TermComment.student_id == student_id)
    return (await session.exec(stmt)).first()


async def term_comments_of_classes(session: AsyncSession, class_ids: list[int], term_id: int
                                   ) -> dict[tuple[int, int], str]:
    """Return {(class id, student id): comment} of the live term comments of these classes."""
    stmt = select(TermComment).where(TermComment.class_id.in_(class_ids),  # type: ignore[attr-defined]
                                     TermComment.term_id == term_id, TermComment.deleted_at.is_(None))  # type: ignore
    return {(c.class_id, c.student_id): c.comment for c in (await session.exec(stmt)).all()}


async def students_by_ids(session: AsyncSession, ids: list[int]) -> dict[int, Student]:
    """Return {id: Student} of the live students among `ids` (chunked: SQLite caps bound parameters)."""
    wanted = sorted(set(ids))
    out: dict[int, Student] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start:start + 5000]
        stmt = select(Student).where(id_in(Student.id, chunk), Student.deleted_at.is_(None))  # type: ignore[union-attr]
        out.update({row.id: row for row in (await session.exec(stmt)).all()})
    return out


async def students_with_status(session: AsyncSession, *, status: str,
                               year_level_id: int | None = None) -> list[Student]:
    """Return the live students with `status` (of one year level when given), in id order."""
    stmt = select(Student).where(Student.status == status, Student.deleted_at.is_(None))  # type: ignore[union-attr]
    if year_level_id is not None:
        stmt = stmt.where(Student.year_level_id == year_level_id)
    return list((await session.exec(stmt.order_by(Student.id))).all())  # type: ignore[arg-type]


async def student_rows_with_status(session: AsyncSession, *, status: str, year_level_id: int | None = None) -> list:
    """Return the live students with `status` (of one year level when given), in id order, as rows of six columns:
    (id, code, first_name, last_name, year_level_id, date_of_birth)."""
    stmt = select(Student.id, Student.code, Student.first_name, Student.last_name, Student.year_level_id,
                  Student.date_of_birth).where(Student.status == status, col(Student.deleted_at).is_(None))
    if year_level_id is not None:
        stmt = stmt.where(Student.year_level_id == year_level_id)
    return list((await session.exec(stmt.order_by(Student.id))).all())


async def guardians_of_students(session: AsyncSession, student_ids: list[int]) -> dict[int, list[Guardian]]:
    """Return {student id: guardians in id order} for the students (live guardians only)."""
    out: dict[int, list[Guardian]] = {}
    wanted = sorted(set(student_ids))
    for start in range(0, len(wanted), 5000):
        stmt = select(Guardian).where(Guardian.student_id.in_(wanted[start:start + 5000]),  # type: ignore[attr-defined]
                                      Guardian.deleted_at.is_(None)).order_by(Guardian.id)  # type: ignore[union-attr]
        for row in (await session.exec(stmt)).all():
            out.setdefault(row.student_id, []).append(row)
    return out


# ---------------------------------------------------------------- what a grading policy's results depend on


async def published_terms_of_class(session: AsyncSession, class_id: int) -> list[Term]:
    """Return the terms whose term grades of the class are published, oldest first."""
    stmt = (select(Term).where(Term.id.in_(  # type: ignore[union-attr]
        select(TermGrade.term_id).where(TermGrade.class_id == class_id,
                                        TermGrade.deleted_at.is_(None))))  # type: ignore[union-attr]
        .order_by(Term.start_date, Term.id))
    return list((await session.exec(stmt)).all())


async def count_results_of_class(session: AsyncSession, class_id: int) -> int:
    """Return how many live results (scores, missing, excused) the class's assessments have."""
    stmt = (select(func.count()).select_from(Grade).join(Assessment, Assessment.id == Grade.assessment_id)
            .where(Assessment.class_id == class_id, Assessment.deleted_at.is_(None),  # type: ignore[union-attr]
                   Grade.deleted_at.is_(None)))  # type: ignore[union-attr]
    return int((await session.exec(stmt)).one())


async def classes_on_default_scale(session: AsyncSession) -> list[SchoolClass]:
    """Return the live classes without a grading scale of their own (graded by the school's default), by code."""
    stmt = select(SchoolClass).where(SchoolClass.grading_scale_id.is_(None),  # type: ignore[union-attr]
                                     SchoolClass.deleted_at.is_(None))  # type: ignore[union-attr]
    return list((await session.exec(stmt.order_by(SchoolClass.code, SchoolClass.id))).all())


# ---------------------------------------------------------------- report cards (a batch of sections at once)


async def sections_by_ids(session: AsyncSession, section_ids: list[int]) -> dict[int, Section]:
    """Return the sections with these ids, removed ones included (a card names the section it was made for), by
    id."""
    stmt = select(Section).where(Section.id.in_(section_ids))  # type: ignore[union-attr]
    return {s.id or 0: s for s in (await session.exec(stmt)).all()}


async def classes_of_sections(session: AsyncSession, section_ids: list[int], *, academic_year_id: int
                              ) -> list[tuple[SchoolClass, Subject]]:
    """Return the live classes of these sections in an academic year with their subjects, by class code."""
    stmt = (select(SchoolClass, Subject)
            .join(Subject, Subject.id == SchoolClass.subject_id)
            .where(SchoolClass.section_id.in_(section_ids),  # type: ignore[attr-defined]
                   SchoolClass.academic_year_id == academic_year_id,
                   SchoolClass.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(SchoolClass.code))
    return [tuple(r) for r in (await session.exec(stmt)).all()]  # type: ignore[misc]


async def term_grades_of_classes(session: AsyncSession, class_ids: list[int], term_id: int
                                 ) -> dict[tuple[int, int], TermGrade]:
    """Return {(class id, student id): published term grade} of these classes in a term (live rows)."""
    stmt = select(TermGrade).where(TermGrade.term_id == term_id,
                                   TermGrade.class_id.in_(class_ids),  # type: ignore[attr-defined]
                                   TermGrade.deleted_at.is_(None))  # type: ignore[union-attr]
    return {(tg.class_id, tg.student_id): tg for tg in (await session.exec(stmt)).all()}


async def year_levels_by_id(session: AsyncSession) -> dict[int, YearLevel]:
    """Return every year level, removed ones included (a card names a student's level), by id."""
    return {lv.id or 0: lv for lv in (await session.exec(select(YearLevel))).all()}


def _live(model):
    return model.deleted_at.is_(None)  # type: ignore[union-attr]


async def reference_rows(session: AsyncSession, kind: str) -> list:
    """Rows a reference to a live `kind` is matched against (domain.kernel.references); the columns per kind are
    those domain.academics.service.resolve_reference reads (the year's id comes last where a kind has one)."""
    if kind == "student":
        stmt = select(Student.id, Student.code, Student.first_name, Student.last_name).where(_live(Student))
    elif kind == "academic_year":
        stmt = select(AcademicYear.id, AcademicYear.code, AcademicYear.name).where(_live(AcademicYear))
    elif kind == "term":
        stmt = (select(Term.id, Term.number, Term.name, AcademicYear.code, Term.academic_year_id)
                .join(AcademicYear, AcademicYear.id == Term.academic_year_id).where(_live(Term)))
    elif kind == "year_level":
        stmt = select(YearLevel.id, YearLevel.code, YearLevel.name).where(_live(YearLevel))
    elif kind == "section":
        stmt = (select(Section.id, Section.code, Section.name, AcademicYear.code, Section.academic_year_id)
                .join(AcademicYear, AcademicYear.id == Section.academic_year_id).where(_live(Section)))
    elif kind == "subject":
        stmt = select(Subject.id, Subject.code, Subject.name).where(_live(Subject))
    elif kind == "class":
        stmt = (select(SchoolClass.id, SchoolClass.code, Subject.name, AcademicYear.code,
                       SchoolClass.academic_year_id, Section.code, Subject.code)
                .join(Subject, Subject.id == SchoolClass.subject_id).join(Section, Section.id == SchoolClass.section_id)
                .join(AcademicYear, AcademicYear.id == SchoolClass.academic_year_id).where(_live(SchoolClass)))
    elif kind == "assessment":
        stmt = (select(Assessment.id, Assessment.title, SchoolClass.code, SchoolClass.academic_year_id)
                .join(SchoolClass, SchoolClass.id == Assessment.class_id).where(_live(Assessment)))
    elif kind == "grading_scale":
        stmt = select(GradingScaleRecord.id, GradingScaleRecord.code, GradingScaleRecord.name).where(
            _live(GradingScaleRecord))
    else:
        raise ValueError(f"academics has no reference kind {kind!r}")
    return list((await session.exec(stmt)).all())


async def codes_of(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code people use for each `kind` record of `ids` (deleted ones too: an old answer still names them), in
    one query: {id: code}. Ids no row has are left out."""
    if kind not in ("term", "assessment"):
        model = {"student": Student, "academic_year": AcademicYear, "year_level": YearLevel, "section": Section,
                 "subject": Subject, "class": SchoolClass, "grading_scale": GradingScaleRecord}[kind]
        return await codes_by_id(session, model.id, model.code, ids)
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if kind == "term":  # "2026-27 T1": unique across years, and a term reference accepts it
        stmt = (select(Term.id, AcademicYear.code, Term.number)
                .join(AcademicYear, AcademicYear.id == Term.academic_year_id).where(col(Term.id).in_(wanted)))
    else:  # "7A-MATH Unit test 1"
        stmt = (select(Assessment.id, SchoolClass.code, Assessment.title)
                .join(SchoolClass, SchoolClass.id == Assessment.class_id).where(col(Assessment.id).in_(wanted)))
    rows = (await session.exec(stmt)).all()
    if kind == "term":
        return {row[0]: f"{row[1]} T{row[2]}" for row in rows}
    return {row[0]: f"{row[1]} {row[2]}" for row in rows}


# ---------------------------------------------------------------- a guardian's own children (the guardian role's scope)


def children_of_user(user_id: int):
    """The subquery of the ids of the students whose live guardian records are linked to user `user_id` (a live
    link): the guardian role's row scope, put into each query of a guardian's reads (never filtered after)."""
    return (select(Guardian.student_id)
            .join(GuardianAccount, GuardianAccount.guardian_id == Guardian.id)  # type: ignore[arg-type]
            .where(GuardianAccount.user_id == user_id, GuardianAccount.deleted_at.is_(None),  # type: ignore[union-attr]
                   Guardian.deleted_at.is_(None)))  # type: ignore[union-attr]


async def guardian_children(session: AsyncSession, user_id: int, *, student_id: int | None = None) -> list[Student]:
    """Return the live students in user `user_id`'s scope (children_of_user), by last name, first name and id; only
    `student_id` when given (empty when it is not theirs)."""
    stmt = select(Student).where(Student.id.in_(children_of_user(user_id)),  # type: ignore[union-attr]
                                 Student.deleted_at.is_(None))  # type: ignore[union-attr]
    if student_id is not None:
        stmt = stmt.where(Student.id == student_id)
    return list((await session.exec(stmt.order_by(Student.last_name, Student.first_name, Student.id))).all())


async def guardian_records_of_user(session: AsyncSession, user_id: int, *, for_update: bool = False) -> list[Guardian]:
    """Return the live guardian records linked to user `user_id` by a live link, in id order."""
    stmt = (select(Guardian).join(GuardianAccount, GuardianAccount.guardian_id == Guardian.id)  # type: ignore[arg-type]
            .where(GuardianAccount.user_id == user_id, GuardianAccount.deleted_at.is_(None),  # type: ignore[union-attr]
                   Guardian.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Guardian.id))
    if for_update:
        stmt = stmt.with_for_update(of=Guardian)  # type: ignore[arg-type]
    return list((await session.exec(stmt)).all())


async def guardian_records_with_email(session: AsyncSession, email: str) -> list[Guardian]:
    """Return the live guardian records whose email is `email` (compared lower-cased), in id order."""
    stmt = select(Guardian).where(func.lower(Guardian.email) == email.lower(),
                                  Guardian.deleted_at.is_(None)).order_by(Guardian.id)  # type: ignore[union-attr]
    return list((await session.exec(stmt)).all())


async def live_guardian_accounts(session: AsyncSession, guardian_ids: list[int]) -> list[GuardianAccount]:
    """Return the live links of these guardian records."""
    stmt = select(GuardianAccount).where(GuardianAccount.guardian_id.in_(guardian_ids),  # type: ignore[attr-defined]
                                         GuardianAccount.deleted_at.is_(None))  # type: ignore[union-attr]
    return list((await session.exec(stmt)).all())


async def published_grades_of_child(session: AsyncSession, user_id: int, student_id: int, term_id: int | None
                                    ) -> list[tuple[TermGrade, SchoolClass, Subject, Term, AcademicYear]]:
    """Return the published term grades of `student_id` when that student is in user `user_id`'s scope (none
    otherwise), with class, subject, term and year, oldest term first; of one term when `term_id` is given."""
    stmt = (select(TermGrade, SchoolClass, Subject, Term, AcademicYear)
            .join(SchoolClass, SchoolClass.id == TermGrade.class_id)
            .join(Subject, Subject.id == SchoolClass.subject_id)
            .join(Term, Term.id == TermGrade.term_id)
            .join(AcademicYear, AcademicYear.id == Term.academic_year_id)
            .where(TermGrade.student_id == student_id,
                   TermGrade.student_id.in_(children_of_user(user_id)),  # type: ignore[attr-defined]
                   TermGrade.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(AcademicYear.start_date, Term.number, SchoolClass.code))
    if term_id is not None:
        stmt = stmt.where(TermGrade.term_id == term_id)
    return [tuple(r) for r in (await session.exec(stmt)).all()]  # type: ignore[misc]


async def term_comments_of_child(session: AsyncSession, user_id: int, student_id: int, term_id: int
                                 ) -> dict[int, str]:
    """Return {class id: the teacher's comment} of `student_id`'s term when in user `user_id`'s scope."""
    scope = TermComment.student_id.in_(children_of_user(user_id))  # type: ignore[attr-defined]
    stmt = select(TermComment).where(TermComment.student_id == student_id, TermComment.term_id == term_id, scope,
                                     TermComment.deleted_at.is_(None))  # type: ignore[union-attr]
    return {c.class_id: c.comment for c in (await session.exec(stmt)).all()}


async def attendance_of_child(session: AsyncSession, user_id: int, student_id: int, from_date: date, to_date: date,
                              *, limit: int) -> list[AttendanceRecord]:
    """Return up to `limit` live attendance records of `student_id` between the dates (inclusive, newest first)
    when that student is in user `user_id`'s scope (none otherwise)."""
    stmt = (select(AttendanceRecord)
            .where(AttendanceRecord.student_id == student_id,
                   AttendanceRecord.student_id.in_(children_of_user(user_id)),  # type: ignore[attr-defined]
                   AttendanceRecord.on_date >= from_date, AttendanceRecord.on_date <= to_date,
                   AttendanceRecord.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(AttendanceRecord.on_date.desc()).limit(limit))  # type: ignore[attr-defined]
    return list((await session.exec(stmt)).all())
