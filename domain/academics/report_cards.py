"""Report cards from the gradebook: gather a student's term grades, attendance and grading scale into the
renderer's ReportCardData (domain.academics.report_card renders it).

A class's line shows its published term grade, or, before publication, the grade computed now under the
class's policy (marked on the card by the term's status in the job's result, not on the card itself). GPA is
the credit-weighted mean of GPA points over the graded classes (as grading.gpa). Attendance counts the
student's registers within the term's dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import attendance, gradebook
from domain.academics import repository as repo
from domain.academics.models import (
    AcademicYear,
    Enrollment,
    EnrollmentStatus,
    SchoolClass,
    Section,
    Student,
    Subject,
    Term,
    YearLevel,
)
from domain.academics.report_card import (
    AttendanceSummary,
    GradingBand,
    ReportCardData,
    StudentLine,
    SubjectLine,
)
from domain.hr.models import Employee

REPORT_CARD = "report_card"  # the document kind


def _decimal(value_x100: int | None) -> str | None:
    return None if value_x100 is None else f"{value_x100 / 100:.2f}"


@dataclass(frozen=True)
class ReportCardTarget:
    """A student to make a report card for, and the section they are in."""

    student_id: int
    student_code: str
    section_code: str


async def targets(session: AsyncSession, *, section_ids: list[int]) -> list[ReportCardTarget]:
    """Return the enrolled students of the sections, by section code then name."""
    out = []
    sections = {s.id: s for s in (await session.exec(select(Section).where(
        Section.id.in_(section_ids)))).all()}  # type: ignore[union-attr]
    for section_id in sorted(section_ids, key=lambda i: sections[i].code if i in sections else ""):
        for student in await attendance.enrolled_students_of_section(session, section_id):
            out.append(ReportCardTarget(student.id or 0, student.code, sections[section_id].code))
    return out


async def _classes_of(session: AsyncSession, student_id: int, academic_year_id: int
                      ) -> list[tuple[SchoolClass, Subject, Employee]]:
    stmt = (select(SchoolClass, Subject, Employee)
            .join(Enrollment, Enrollment.class_id == SchoolClass.id)
            .join(Subject, Subject.id == SchoolClass.subject_id)
            .join(Employee, Employee.id == SchoolClass.teacher_id)
            .where(Enrollment.student_id == student_id, Enrollment.status == EnrollmentStatus.ACTIVE.value,
                   Enrollment.deleted_at.is_(None), SchoolClass.deleted_at.is_(None),  # type: ignore[union-attr]
                   SchoolClass.academic_year_id == academic_year_id)
            .order_by(SchoolClass.code))
    return [tuple(r) for r in (await session.exec(stmt)).all()]  # type: ignore[misc]


async def report_card_data(session: AsyncSession, *, student_id: int, term_id: int, school_name: str,
                           issued_on: date) -> ReportCardData:
    """Gather one student's report card for a term. Raises NotFound for the student or term."""
    from domain.academics.service import student_term_result

    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    term = await repo.get_or_raise(session, Term, term_id, field="term_id")
    year = await repo.get_or_raise(session, AcademicYear, term.academic_year_id)
    level = await repo.get_live(session, YearLevel, student.year_level_id)
    section = await repo.get_live(session, Section, student.section_id) if student.section_id else None
    homeroom = (await session.get(Employee, section.homeroom_teacher_id)
                if section is not None and section.homeroom_teacher_id else None)
    lines: list[SubjectLine] = []
    weighted: list[tuple[Fraction, Fraction]] = []
    scale = gradebook.BASIC_SCALE
    for cls, subject, teacher in await _classes_of(session, student_id, term.academic_year_id):
        published = await repo.get_term_grade(session, cls.id or 0, term_id, student_id)
        if published is not None:
            pct, letter, points = published.percentage_x100, published.letter, published.gpa_points_x100
            policy = await gradebook.policy_for(session, cls, scale_code=published.scale_code)
        else:
            policy = await gradebook.policy_for(session, cls)
            result = await student_term_result(session, cls, term_id, student_id, policy=policy)
            pct, letter = result.percentage_x100, result.letter
            points = gradebook.x100(result.grade.gpa_points) if result.grade else None
        scale = policy.scale if not lines else scale
        if points is not None:
            weighted.append((Fraction(points, 100), Fraction(subject.credits_x100, 100)))
        lines.append(SubjectLine(class_code=cls.code, subject_name=subject.name, teacher_name=teacher.full_name,
                                 percentage=_decimal(pct), letter=letter))
    credits = sum((c for _, c in weighted), Fraction(0))
    gpa = sum((p * c for p, c in weighted), Fraction(0)) / credits if credits else None
    counts = (await attendance.status_counts(session, from_date=term.start_date, to_date=term.end_date,
                                             section_id=None, student_id=student_id)).get(
        student_id, attendance.AttendanceCounts())
    rate = attendance.attendance_rate_x100(counts)
    return ReportCardData(
        school_name=school_name, academic_year=year.name, term=term.name, issued_on=issued_on,
        student=StudentLine(code=student.code, full_name=student.full_name,
                            year_level=level.name if level else "", section=section.code if section else "",
                            homeroom_teacher=homeroom.full_name if homeroom else None),
        subjects=tuple(lines),
        attendance=AttendanceSummary(days_present=counts.present, days_absent=counts.absent, days_late=counts.late,
                                     days_excused=counts.excused, attendance_rate=_decimal(rate)),
        grading_scale=tuple(GradingBand(min_percentage=_band_number(b.min_percentage), letter=b.letter,
                                        gpa_points=_band_number(b.gpa_points)) for b in scale.bands),
        gpa=None if gpa is None else f"{float(gpa):.2f}")


def _band_number(value: Fraction) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")
