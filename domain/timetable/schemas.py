"""Output schemas of the timetable context: what its tools return, and the mappers from its rows."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from domain.kernel.schemas import OutputModel
from domain.timetable.models import Room, TimetableProblem
from domain.timetable.problem import Problem


class RoomRead(OutputModel):
    room_id: int
    code: str
    name: str
    capacity: int = Field(description="Seats.")


def room_read(row: Room) -> RoomRead:
    """The tools' view of a room row."""
    return RoomRead(room_id=row.id or 0, code=row.code, name=row.name, capacity=row.capacity)


class TimetableProblemOut(OutputModel):
    problem_id: int
    name: str
    source: str = Field(description="school (built from academics data) or itc2007 (imported .ctt).")
    days: int
    periods_per_day: int
    period_times: list[str] = Field(description="HH:MM-HH:MM of each period of the day (empty for ITC2007).")
    courses: int = Field(description="Classes (ITC2007: courses) to timetable.")
    curricula: int = Field(description="Sections (ITC2007: curricula), whose lessons may not overlap.")
    teachers: int
    rooms: int
    lessons: int = Field(description="Lessons a week to place.")
    published_solution_id: int | None = None
    created_at: dt.datetime = Field(description="UTC.")


def problem_out(row: TimetableProblem, problem: Problem) -> TimetableProblemOut:
    """A stored problem with the sizes of its loaded `problem` (courses, curricula, teachers, lessons...)."""
    return TimetableProblemOut(problem_id=row.id or 0, name=row.name, source=row.source, days=problem.days,
                               periods_per_day=problem.periods_per_day, period_times=list(problem.period_times),
                               courses=len(problem.courses), curricula=len(problem.curricula),
                               teachers=len({c.teacher for c in problem.courses}), rooms=len(problem.rooms),
                               lessons=problem.total_lectures, published_solution_id=row.published_solution_id,
                               created_at=row.created_at)


class SolutionOut(OutputModel):
    solution_id: int
    problem_id: int
    job_id: int | None = None
    status: str = Field(description="feasible, optimal (cost equals the proven lower bound).")
    hard_violations: int = Field(description="Broken hard constraints; 0 means the timetable is valid.")
    soft_cost: int = Field(description="Weighted soft cost (ITC2007 UD2 weights); lower is better.")
    breakdown: dict[str, int] = Field(description="Hard violations (hard_*) and weighted soft costs by constraint.")
    lessons: int = Field(description="Lessons (lectures) scheduled.")
    seconds: float = Field(description="Solver wall time in seconds.")
    published: bool = Field(description="Whether this is the problem's current timetable.")


class PublishOut(OutputModel):
    problem_id: int
    solution_id: int
    previous_solution_id: int | None = Field(default=None, description="The timetable this one replaced.")
    lessons: int
    lessons_moved: int = Field(description="Lessons not at the same room, day and period as before.")


class LessonOut(OutputModel):
    course: str = Field(description="Course (lesson series) id.")
    teacher: str
    room: str
    day: int = Field(description="0 = Monday.")
    weekday: str
    period: int = Field(description="Period of the day, from 0.")
    starts_at: str | None = Field(default=None, description="HH:MM, when the problem has period times.")
    ends_at: str | None = Field(default=None, description="HH:MM, when the problem has period times.")


class RoomOut(OutputModel):
    room: str
    capacity: int = Field(description="Seats.")


class CoverOut(OutputModel):
    date: dt.date
    period: int = Field(description="Period of the day, from 0.")
    time: str | None = Field(default=None, description="HH:MM-HH:MM.")
    course: str = Field(description="Class code.")
    room: str = Field(description="Where the class is: the study room for a study period.")
    absent_teacher: str
    kind: str = Field(description="teacher, study (supervised study period) or uncovered.")
    cover_teacher: str | None = Field(default=None, description="Covering teacher or supervisor.")


class CoverLoadOut(OutputModel):
    teacher: str
    week_start: dt.date = Field(description="Monday.")
    week_covers: int
    max_covers_per_week: int
    term: str | None = Field(default=None, description="null: the date is outside the terms.")
    term_covers: int | None = None


class CoverPublishedOut(OutputModel):
    teacher: str
    start_date: dt.date
    end_date: dt.date
    counts: dict[str, int] = Field(description="Lessons by kind: teacher, study, uncovered.")
    rows: int = Field(description="Cover rows written.")


class CalendarOut(OutputModel):
    filename: str
    events: int = Field(description="VEVENTs: weekly series per lesson and term, and single covers.")
    size: int = Field(description="Characters of the whole file.")
    offset: int
    ics: str = Field(description="This chunk of the text/calendar file (RFC 5545).")
    next_offset: int | None = Field(default=None, description="Call again with it for the rest; null: the end.")


class PrintedTimetableOut(OutputModel):
    filename: str
    content_type: str
    size: int = Field(description="Characters (html) or bytes (pdf) of the whole file.")
    offset: int
    text: str | None = Field(default=None, description="This chunk of the HTML page (format html).")
    content_base64: str | None = Field(default=None, description="This chunk of the PDF's bytes (format pdf).")
    next_offset: int | None = Field(default=None, description="Call again with it for the rest; null: the end.")


class FeedOut(OutputModel):
    feed_id: int
    kind: str
    code: str
    url_path: str | None = Field(default=None, description="GET it from this server: the secret URL, shown once.")
    revoked: bool = False
