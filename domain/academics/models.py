"""Academics tables: the school year's structure, students, classes, enrollments, assessments and grades.

Scores, maxima, weights and percentages are stored as integer hundredths (`*_x100`) so every computation
is exact on SQLite and PostgreSQL alike; tools show them as decimals with two places.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field

from domain.kernel.models import Entity
from domain.kernel.text import folded_column, keep_folded


class StudentStatus(StrEnum):
    ENROLLED = "enrolled"
    WITHDRAWN = "withdrawn"
    GRADUATED = "graduated"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    DROPPED = "dropped"


class AcademicYear(Entity, table=True):
    """A school year, e.g. code 2026-27, with its first and last day."""

    __tablename__ = "academic_years"

    code: str = Field(max_length=40, unique=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    start_date: date = Field(nullable=False)
    end_date: date = Field(nullable=False)


class Term(Entity, table=True):
    """A term of an academic year (number 1, 2, ...)."""

    __tablename__ = "terms"
    __table_args__ = (UniqueConstraint("academic_year_id", "number"),)

    academic_year_id: int = Field(foreign_key="academic_years.id", nullable=False, index=True)
    number: int = Field(nullable=False)
    name: str = Field(max_length=120, nullable=False)
    start_date: date = Field(nullable=False)
    end_date: date = Field(nullable=False)


class YearLevel(Entity, table=True):
    """A year level (grade), e.g. code Y7, name Year 7, ordinal 7."""

    __tablename__ = "year_levels"

    code: str = Field(max_length=40, unique=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    ordinal: int = Field(nullable=False)


class Section(Entity, table=True):
    """A section (homeroom group) of a year level in an academic year, e.g. 7B."""

    __tablename__ = "sections"
    __table_args__ = (UniqueConstraint("academic_year_id", "code"),)

    code: str = Field(max_length=40, nullable=False, index=True)
    name: str = Field(max_length=120, nullable=False)
    year_level_id: int = Field(foreign_key="year_levels.id", nullable=False, index=True)
    academic_year_id: int = Field(foreign_key="academic_years.id", nullable=False, index=True)
    homeroom_teacher_id: int | None = Field(default=None, foreign_key="employees.id")


class Subject(Entity, table=True):
    """A subject of the curriculum, e.g. MATH Mathematics.

    `weekly_lessons` is how many lessons (periods) a week each class of the subject gets in the timetable
    unless the class sets its own; 0 means the subject is not timetabled.
    """

    __tablename__ = "subjects"

    code: str = Field(max_length=40, unique=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    weekly_lessons: int = Field(default=4, nullable=False, sa_column_kwargs={"server_default": "4"})
    credits_x100: int = Field(default=100, nullable=False, sa_column_kwargs={"server_default": "100"})


class SchoolClass(Entity, table=True):
    """A class: one subject taught to one section by one teacher in an academic year (7B-MATH).

    `weekly_lessons` overrides the subject's lessons per week for this class; None means the subject's.
    """

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("section_id", "subject_id"),)

    code: str = Field(max_length=90, nullable=False, index=True)
    section_id: int = Field(foreign_key="sections.id", nullable=False, index=True)
    subject_id: int = Field(foreign_key="subjects.id", nullable=False, index=True)
    teacher_id: int = Field(foreign_key="employees.id", nullable=False, index=True)
    academic_year_id: int = Field(foreign_key="academic_years.id", nullable=False, index=True)
    weekly_lessons: int | None = Field(default=None, nullable=True)
    grading_scale_id: int | None = Field(default=None, foreign_key="grading_scales.id", nullable=True)


class Student(Entity, table=True):
    """A student; `code` is the human id (S2026-0117). Date of birth is personal data."""

    __tablename__ = "students"

    code: str = Field(max_length=40, unique=True, index=True, nullable=False)
    first_name: str = Field(max_length=120, nullable=False)
    last_name: str = Field(max_length=120, nullable=False, index=True)
    date_of_birth: date = Field(nullable=False)
    year_level_id: int = Field(foreign_key="year_levels.id", nullable=False, index=True)
    section_id: int | None = Field(default=None, foreign_key="sections.id", index=True)
    status: str = Field(max_length=20, nullable=False, default=StudentStatus.ENROLLED.value)
    name_folded: str = folded_column("first_name", "last_name")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


keep_folded(Student, "first_name", "last_name")


class Guardian(Entity, table=True):
    """A parent or guardian of a student, with contacts (personal data)."""

    __tablename__ = "guardians"

    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    name: str = Field(max_length=160, nullable=False)
    relationship: str = Field(max_length=40, nullable=False)
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    name_folded: str = folded_column("name")


keep_folded(Guardian, "name")


class GuardianAccount(Entity, table=True):
    """A guardian record linked to the user who signs in as that guardian (role guardian): a parent of two
    children has a guardian record for each, both linked to their one user. What the user may read is the
    students of their live linked records (domain.academics.service.guardian_children), nothing else."""

    __tablename__ = "guardian_accounts"
    __table_args__ = (
        Index("uq_guardian_accounts_live_guardian", "guardian_id", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
    )

    guardian_id: int = Field(foreign_key="guardians.id", nullable=False)
    user_id: int = Field(foreign_key="users.id", nullable=False, index=True)


class Enrollment(Entity, table=True):
    """A student in a class."""

    __tablename__ = "enrollments"
    __table_args__ = (UniqueConstraint("student_id", "class_id"),)

    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    class_id: int = Field(foreign_key="classes.id", nullable=False, index=True)
    status: str = Field(max_length=20, nullable=False, default=EnrollmentStatus.ACTIVE.value)
    enrolled_on: date = Field(nullable=False)


class Assessment(Entity, table=True):
    """An assessment of a class in a term: a maximum score and a weight in the term grade."""

    __tablename__ = "assessments"

    class_id: int = Field(foreign_key="classes.id", nullable=False, index=True)
    term_id: int = Field(foreign_key="terms.id", nullable=False, index=True)
    title: str = Field(max_length=200, nullable=False)
    category: str | None = Field(default=None, max_length=60)
    max_score_x100: int = Field(nullable=False)
    weight_x100: int = Field(nullable=False)
    due_date: date | None = Field(default=None)


class GradeStatus(StrEnum):
    """A recorded result: points (scored), work marked missing (counts as 0), or excused (left out)."""

    SCORED = "scored"
    MISSING = "missing"
    EXCUSED = "excused"


class Grade(Entity, table=True):
    """A student's result on an assessment: a score (status scored), or missing or excused (no score);
    `locked` once the term's grades are published."""

    __tablename__ = "grades"
    __table_args__ = (UniqueConstraint("assessment_id", "student_id"),)

    assessment_id: int = Field(foreign_key="assessments.id", nullable=False, index=True)
    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    score_x100: int | None = Field(default=None, nullable=True)
    status: str = Field(default=GradeStatus.SCORED.value, max_length=20, nullable=False,
                        sa_column_kwargs={"server_default": GradeStatus.SCORED.value})
    comment: str | None = Field(default=None, max_length=2000)
    locked: bool = Field(default=False, nullable=False)
    recorded_by: int | None = Field(default=None, foreign_key="users.id")


class TermGrade(Entity, table=True):
    """A student's published term grade in a class: the weighted percentage and its letter, frozen."""

    __tablename__ = "term_grades"
    __table_args__ = (UniqueConstraint("class_id", "term_id", "student_id"),)

    class_id: int = Field(foreign_key="classes.id", nullable=False, index=True)
    term_id: int = Field(foreign_key="terms.id", nullable=False, index=True)
    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    percentage_x100: int | None = Field(default=None)
    letter: str | None = Field(default=None, max_length=4)
    percentage_exact: str | None = Field(default=None, max_length=80)  # unrounded, as a fraction "n/d"
    gpa_points_x100: int | None = Field(default=None)
    passing: bool | None = Field(default=None)
    earns_credit: bool | None = Field(default=None)
    scale_code: str | None = Field(default=None, max_length=40)
    published_at: datetime = Field(nullable=False)
    published_by: int | None = Field(default=None, foreign_key="users.id")


class GradingScaleRecord(Entity, table=True):
    """A grading scale the school defined: bands (JSON: min percentage, letter, GPA points, passing, earns
    credit; decimals as strings) and the rounding applied once before the band lookup. `is_default` marks the
    school's scale for classes without their own (domain.academics.grading.GradingScale validates it)."""

    __tablename__ = "grading_scales"

    code: str = Field(max_length=40, unique=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    rounding: str = Field(max_length=20, nullable=False)
    decimals: int = Field(nullable=False)
    bands: str = Field(sa_column=Column(Text, nullable=False))
    is_default: bool = Field(default=False, nullable=False)


class GradingCategory(Entity, table=True):
    """An assessment category of a class (HW, QUIZ, EXAM): its weight in hundredths of a percent and how many
    of a student's lowest results in it are dropped. A class without categories weights each assessment."""

    __tablename__ = "grading_categories"
    __table_args__ = (UniqueConstraint("class_id", "code"),)

    class_id: int = Field(foreign_key="classes.id", nullable=False, index=True)
    code: str = Field(max_length=40, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    weight_x100: int = Field(nullable=False)
    drop_lowest: int = Field(default=0, nullable=False)


class GradeChange(Entity, table=True):
    """The history of a result: one row per change of a recorded score or status, with the term grade before
    and after when the term was published, why, who asked and who released it (the pending action)."""

    __tablename__ = "grade_changes"

    grade_id: int = Field(foreign_key="grades.id", nullable=False, index=True)
    class_id: int = Field(foreign_key="classes.id", nullable=False, index=True)
    term_id: int = Field(foreign_key="terms.id", nullable=False)
    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    before_score_x100: int | None = Field(default=None)
    before_status: str = Field(max_length=20, nullable=False)
    after_score_x100: int | None = Field(default=None)
    after_status: str = Field(max_length=20, nullable=False)
    published: bool = Field(default=False, nullable=False)
    term_percentage_before_x100: int | None = Field(default=None)
    term_letter_before: str | None = Field(default=None, max_length=4)
    term_percentage_after_x100: int | None = Field(default=None)
    term_letter_after: str | None = Field(default=None, max_length=4)
    reason: str | None = Field(default=None, max_length=1000)
    requested_by: int | None = Field(default=None, foreign_key="users.id")
    approved_by: int | None = Field(default=None, foreign_key="users.id")
    action_id: int | None = Field(default=None, foreign_key="pending_actions.id")


class TermComment(Entity, table=True):
    """A teacher's comment on a student's term in a class, printed on the report card."""

    __tablename__ = "term_comments"
    __table_args__ = (UniqueConstraint("class_id", "term_id", "student_id"),)

    class_id: int = Field(foreign_key="classes.id", nullable=False, index=True)
    term_id: int = Field(foreign_key="terms.id", nullable=False)
    student_id: int = Field(foreign_key="students.id", nullable=False, index=True)
    comment: str = Field(max_length=1000, nullable=False)
    written_by: int | None = Field(default=None, foreign_key="users.id")
