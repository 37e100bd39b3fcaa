"""Report cards from the gradebook: gather students' term grades, attendance and grading scale into the
renderer's ReportCardData (domain.academics.report_card renders it), a whole batch at once.

A class's line shows its published term grade, or, before publication, the grade computed now under the
class's policy. GPA is the credit-weighted mean of GPA points over the graded classes (as grading.gpa).
Attendance counts the student's registers within the term's dates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import attendance, gradebook, grading
from domain.academics import repository as repo
from domain.academics.models import AcademicYear, SchoolClass, Section, Student, Subject, Term
from domain.academics.report_card import (
    AttendanceSummary,
    GradingBand,
    ReportCardData,
    StudentLine,
    SubjectLine,
)
from domain.hr import service as hr

REPORT_CARD = "report_card"  # the document kind


def _decimal(value_x100: int | None) -> str | None:
    return None if value_x100 is None else f"{value_x100 / 100:.2f}"


@dataclass(frozen=True)
class ReportCardTarget:
    """A student to make a report card for, and the section they are in."""

    student_id: int
    student_code: str
    section_code: str


async def report_cards_data(session: AsyncSession, *, section_ids: list[int], term_id: int, school_name: str,
                            issued_on: date) -> list[tuple[ReportCardTarget, ReportCardData]]:
    """Gather the report cards of every enrolled student of the sections at once (a few queries for the whole
    batch: the classes' term grades are computed together)."""
    from domain.academics.service import compute_all_term_grades
    from domain.kernel.actor import SYSTEM_ACTOR

    term = await repo.get_or_raise(session, Term, term_id, field="term_id")
    year = await repo.get_or_raise(session, AcademicYear, term.academic_year_id)
    sections = await repo.sections_by_ids(session, section_ids)
    wanted: list[tuple[Student, Section]] = []  # the enrolled students, by section code then name
    for section in sorted(sections.values(), key=lambda s: s.code):
        wanted += [(student, section) for student in
                   await attendance.enrolled_students_of_section(session, section.id or 0)]
    classes = await repo.classes_of_sections(session, section_ids, academic_year_id=term.academic_year_id)
    comps = {c.cls.id: c for c in await compute_all_term_grades(
        session, SYSTEM_ACTOR, class_ids=[cls.id or 0 for cls, _ in classes], term_id=term_id,
        with_grade_rows=False)}
    published = await repo.term_grades_of_classes(session, list(comps), term_id)
    comments = await repo.term_comments_of_classes(session, list(comps), term_id)
    # Teachers' and homeroom teachers' names from HR, in one lookup (removed employees keep their name here).
    staff = await hr.employees_by_id(session, {cls.teacher_id for cls, _ in classes}
                                     | {s.homeroom_teacher_id for s in sections.values() if s.homeroom_teacher_id})
    lines_of: dict[int, list[tuple[SchoolClass, Subject, str, gradebook.StudentResult]]] = {}
    for cls, subject in classes:
        for line in comps[cls.id].lines:
            lines_of.setdefault(line.student.id or 0, []).append((cls, subject, staff[cls.teacher_id].full_name,
                                                                  line.result))
    levels = await repo.year_levels_by_id(session)
    counts: dict[int, attendance.AttendanceCounts] = {}
    for section_id in section_ids:
        counts.update(await attendance.status_counts(session, from_date=term.start_date, to_date=term.end_date,
                                                     section_id=section_id, student_id=None))
    out = []
    for student, section in wanted:
        target = ReportCardTarget(student.id or 0, student.code, section.code)
        level = levels.get(student.year_level_id)
        homeroom = staff.get(section.homeroom_teacher_id) if section.homeroom_teacher_id else None
        subject_lines, weighted, scale = [], [], gradebook.BASIC_SCALE
        for index, (cls, subject, teacher_name, result) in enumerate(lines_of.get(target.student_id, [])):
            row = published.get((cls.id, target.student_id))
            if row is not None:
                pct, letter, points = row.percentage_x100, row.letter, row.gpa_points_x100
            else:
                pct, letter = result.percentage_x100, result.letter
                points = gradebook.x100(result.grade.gpa_points) if result.grade else None
            if index == 0:
                scale = comps[cls.id].policy.scale
            weighted.append((None if points is None else Fraction(points, 100), Fraction(subject.credits_x100, 100)))
            subject_lines.append(SubjectLine(class_code=cls.code, subject_name=subject.name,
                                             teacher_name=teacher_name, percentage=_decimal(pct), letter=letter,
                                             comment=comments.get((cls.id, target.student_id))))
        gpa = grading.weighted_gpa(weighted)
        c = counts.get(target.student_id, attendance.AttendanceCounts())
        out.append((target, ReportCardData(
            school_name=school_name, academic_year=year.name, term=term.name, issued_on=issued_on,
            student=StudentLine(code=student.code, full_name=student.full_name,
                                year_level=level.name if level else "", section=section.code,
                                homeroom_teacher=homeroom.full_name if homeroom else None),
            subjects=tuple(subject_lines),
            attendance=AttendanceSummary(days_present=c.present, days_absent=c.absent, days_late=c.late,
                                         days_excused=c.excused, attendance_rate=_decimal(
                                             attendance.attendance_rate_x100(c))),
            grading_scale=tuple(GradingBand(min_percentage=_band_number(b.min_percentage), letter=b.letter,
                                            gpa_points=_band_number(b.gpa_points)) for b in scale.bands),
            gpa=None if gpa is None else f"{float(gpa):.2f}")))
    return out


def _band_number(value: Fraction) -> str:
    return f"{float(value):.2f}".rstrip("0").rstrip(".")
