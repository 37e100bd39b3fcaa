"""Timetable tables: stored problems, their solutions, and which solution is a problem's published timetable."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from sqlalchemy import Column, Float, Index, Text, text
from sqlmodel import Field

from domain.kernel.models import Entity


class ProblemSource(StrEnum):
    """Where a stored problem came from: an ITC2007 .ctt file or a school's academics data."""

    ITC2007 = "itc2007"
    SCHOOL = "school"


class Room(Entity, table=True):
    """A teaching room: a code people say aloud (R101, LAB1), a name and its seats.

    Rooms are what a school timetable built from academics data places lessons in; every room suits every
    lesson (ITC2007 has no room features), and a lesson larger than its room costs one point per student
    over capacity.
    """

    __tablename__ = "rooms"

    code: str = Field(max_length=40, unique=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    capacity: int = Field(nullable=False)


class TimetableProblem(Entity, table=True):
    """A timetabling problem (a `domain.timetable.problem.Problem` as JSON) and its published solution, if any.

    `published_solution_id` names the solution that is the current timetable; publishing replaces it.
    `academic_year_id` is the year whose classes a school problem was built from (None for an imported one): its
    terms bound cover and calendar feeds. A problem changed after publication (propose_timetable_change) names the
    problem it changed (`based_on_id`) and the change as JSON (`change`: domain.timetable.changes.TimetableChange);
    its solutions are compared with the base problem's published timetable.
    """

    __tablename__ = "timetable_problems"

    name: str = Field(max_length=120, nullable=False)
    source: str = Field(max_length=20, nullable=False)
    days: int = Field(nullable=False)
    periods_per_day: int = Field(nullable=False)
    data: str = Field(sa_column=Column(Text, nullable=False))
    published_solution_id: int | None = Field(default=None, nullable=True)
    academic_year_id: int | None = Field(default=None, nullable=True)
    based_on_id: int | None = Field(default=None, foreign_key="timetable_problems.id", nullable=True)
    change: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class TimetableSolution(Entity, table=True):
    """A solver's answer to a problem: status, hard violations, soft cost with its breakdown, assignments (JSON)."""

    __tablename__ = "timetable_solutions"

    problem_id: int = Field(foreign_key="timetable_problems.id", nullable=False, index=True)
    job_id: int | None = Field(default=None, foreign_key="jobs.id", nullable=True, index=True)
    status: str = Field(max_length=20, nullable=False)
    hard_violations: int = Field(nullable=False)
    soft_cost: int = Field(nullable=False)
    breakdown: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    assignments: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    seconds: float = Field(default=0.0, sa_column=Column(Float, nullable=False))


class TimetableCover(Entity, table=True):
    """Who takes one lesson of an absent teacher on one date (domain.timetable.cover): a covering teacher, a study
    period in `study_room` supervised by `cover_teacher`, or nobody (kind uncovered). One live row per lesson and
    date; `action_id` is the gated action that published it."""

    __tablename__ = "timetable_covers"
    __table_args__ = (Index("ix_timetable_covers_lesson", "problem_id", "on_date", "period", "course_id",
                            unique=True, postgresql_where=text("deleted_at IS NULL"),
                            sqlite_where=text("deleted_at IS NULL")),)

    problem_id: int = Field(foreign_key="timetable_problems.id", nullable=False)
    on_date: date = Field(nullable=False, index=True)
    period: int = Field(nullable=False)
    course_id: str = Field(max_length=90, nullable=False)
    room: str = Field(max_length=40, nullable=False)
    absent_teacher: str = Field(max_length=60, nullable=False)
    kind: str = Field(max_length=20, nullable=False)
    cover_teacher: str | None = Field(default=None, max_length=60, nullable=True, index=True)
    study_room: str | None = Field(default=None, max_length=40, nullable=True)
    action_id: int | None = Field(default=None, nullable=True)


class TimetableFeed(Entity, table=True):
    """A secret calendar URL of one teacher's, section's or room's timetable: the SHA-256 of its token (the token
    itself is shown once, when the feed is made); revoking it soft-deletes the row. `problem_id` None follows the
    newest timetable problem."""

    __tablename__ = "timetable_feeds"

    kind: str = Field(max_length=20, nullable=False)
    code: str = Field(max_length=90, nullable=False)
    problem_id: int | None = Field(default=None, foreign_key="timetable_problems.id", nullable=True)
    token_hash: str = Field(max_length=64, nullable=False, unique=True)
    created_by: int | None = Field(default=None, nullable=True)
