"""A school's timetable problem, built from its academics data: classes become courses, sections curricula.

The mapping onto the ITC2007 Track 3 formulation (Bonutti et al. 2012):
- a class (one subject taught to one section by one teacher, code 7B-MATH) is a course; its lessons per week
  are the course's lectures, its active enrollments the course's students, and its lessons should spread
  over `min(lessons, days)` days (the minimum-working-days constraint);
- a section is a curriculum: its classes may not share a period, and its day should have no gaps
  (curriculum compactness);
- a teacher's classes may not share a period (hard, as in ITC2007), and a teacher teaching more than
  `teacher_max_periods_per_day` periods in a day costs `TEACHER_LIMIT_WEIGHT` per extra period (our school
  extension, off in ITC2007);
- a teacher's unavailable periods make every class of that teacher unavailable then.
Pure functions: the timetable service gathers the inputs and stores the result.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from domain.kernel.errors import InvalidInput
from domain.timetable.problem import (
    Course,
    Curriculum,
    Problem,
    Room,
    TeacherDayLimit,
    Unavailability,
    Weights,
)

TEACHER_LIMIT_WEIGHT = 5  # as heavy as one missing working day (UD2's weight 5): a real burden on the teacher
MAX_DAYS = 7
MAX_PERIODS_PER_DAY = 16


@dataclass(frozen=True)
class SchoolWeek:
    """The teaching week: `days` days from Monday with `periods_per_day` periods of `period_minutes` minutes,
    the first starting at `starts_at`, with `break_minutes` between two periods."""

    days: int = 5
    periods_per_day: int = 7
    starts_at: time = time(8, 0)
    period_minutes: int = 45
    break_minutes: int = 5

    def period_times(self) -> tuple[str, ...]:
        """Return "HH:MM-HH:MM" for each period of the day; raises InvalidInput when the day runs past midnight."""
        if not (1 <= self.days <= MAX_DAYS):
            raise InvalidInput(f"a week has 1..{MAX_DAYS} teaching days, got {self.days}", field="days")
        if not (1 <= self.periods_per_day <= MAX_PERIODS_PER_DAY):
            raise InvalidInput(f"a day has 1..{MAX_PERIODS_PER_DAY} periods, got {self.periods_per_day}",
                               field="periods_per_day")
        start = datetime.combine(datetime(2000, 1, 3).date(), self.starts_at)
        out = []
        for p in range(self.periods_per_day):
            begin = start + timedelta(minutes=p * (self.period_minutes + self.break_minutes))
            end = begin + timedelta(minutes=self.period_minutes)
            if end.date() != start.date():
                raise InvalidInput(f"{self.periods_per_day} periods of {self.period_minutes} minutes from "
                                   f"{self.starts_at:%H:%M} run past midnight", field="periods_per_day")
            out.append(f"{begin:%H:%M}-{end:%H:%M}")
        return tuple(out)


@dataclass(frozen=True)
class SchoolClassLoad:
    """A class to timetable: its code, section, teacher code, lessons per week and students."""

    code: str
    section: str
    teacher: str
    weekly_lessons: int
    students: int


@dataclass(frozen=True)
class TeacherAbsence:
    """Teacher `teacher` (employee code) cannot teach in `period` of `day` (both from 0; day 0 is Monday)."""

    teacher: str
    day: int
    period: int


@dataclass(frozen=True)
class ClassBlock:
    """Class `class_code`'s lessons may not be in `period` of `day` (both from 0), e.g. no PE right after lunch."""

    class_code: str
    day: int
    period: int


def school_problem(name: str, *, classes: Sequence[SchoolClassLoad], rooms: Sequence[Room], week: SchoolWeek,
                   teacher_max_periods_per_day: int | None = None,
                   teacher_absences: Iterable[TeacherAbsence] = (),
                   class_blocks: Iterable[ClassBlock] = ()) -> Problem:
    """Return the timetabling problem of a school's classes, rooms and week (see the module docstring).

    Raises InvalidInput, naming the class, section, teacher or room, when the data cannot make a timetable
    whatever the solver does: no classes or rooms, a section or a teacher with more lessons than free periods,
    more lessons than room-periods, an absence of an unknown teacher or a block of an unknown class, or one
    outside the week.
    """
    times = week.period_times()
    periods = week.days * week.periods_per_day
    if not classes:
        raise InvalidInput("there are no classes with lessons to timetable: create classes (create_class) and "
                           "give their subjects lessons per week (set_weekly_lessons)", field="academic_year_id")
    if not rooms:
        raise InvalidInput("there are no rooms to hold lessons; create_room first", field="rooms")
    absences = list(teacher_absences)
    teachers = {c.teacher for c in classes}
    blocked: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for a in absences:
        if a.teacher not in teachers:
            raise InvalidInput(f"teacher {a.teacher!r} teaches no class this year; absences name the employee "
                               f"code of a teacher (list_teachers)", field="teacher_absences")
        if not (0 <= a.day < week.days and 0 <= a.period < week.periods_per_day):
            raise InvalidInput(f"absence of {a.teacher} at day {a.day}, period {a.period} is outside the week "
                               f"({week.days} days of {week.periods_per_day} periods, from 0)",
                               field="teacher_absences")
        blocked[a.teacher].add((a.day, a.period))
    _check_loads(classes, week, periods, blocked)
    if sum(c.weekly_lessons for c in classes) > periods * len(rooms):
        raise InvalidInput(f"{sum(c.weekly_lessons for c in classes)} lessons a week do not fit in {len(rooms)} "
                           f"rooms x {periods} periods; add rooms or periods", field="rooms")
    courses = tuple(Course(id=c.code, teacher=c.teacher, lectures=c.weekly_lessons,
                           min_working_days=min(c.weekly_lessons, week.days), students=c.students) for c in classes)
    by_section: dict[str, list[str]] = defaultdict(list)
    for c in classes:
        by_section[c.section].append(c.code)
    curricula = tuple(Curriculum(id=s, course_ids=tuple(codes)) for s, codes in sorted(by_section.items()))
    by_code = {c.code for c in classes}
    unavailable = {(c.code, d, p) for c in classes for d, p in blocked.get(c.teacher, ())}
    for b in class_blocks:
        if b.class_code not in by_code:
            raise InvalidInput(f"class {b.class_code!r} has no lessons to timetable this year; blocked periods "
                               "name a class code (list_classes)", field="class_blocks")
        if not (0 <= b.day < week.days and 0 <= b.period < week.periods_per_day):
            raise InvalidInput(f"block of {b.class_code} at day {b.day}, period {b.period} is outside the week "
                               f"({week.days} days of {week.periods_per_day} periods, from 0)", field="class_blocks")
        unavailable.add((b.class_code, b.day, b.period))
    free = {c.code: periods - sum(1 for u in unavailable if u[0] == c.code) for c in classes}
    for c in classes:
        if c.weekly_lessons > free[c.code]:
            raise InvalidInput(f"class {c.code} has {c.weekly_lessons} lessons a week but only {free[c.code]} "
                               "periods left once its teacher's absences and its blocked periods are taken out",
                               field="class_blocks")
    unavailability = tuple(Unavailability(course_id=code, day=d, period=p) for code, d, p in sorted(unavailable))
    limit = (TeacherDayLimit(weight=TEACHER_LIMIT_WEIGHT, limit=teacher_max_periods_per_day)
             if teacher_max_periods_per_day is not None else None)
    return Problem(name=name, days=week.days, periods_per_day=week.periods_per_day, courses=courses,
                   rooms=tuple(rooms), curricula=curricula, unavailability=unavailability,
                   weights=Weights(teacher_max_periods_per_day=limit), period_times=times)


def _check_loads(classes: Sequence[SchoolClassLoad], week: SchoolWeek, periods: int,
                 blocked: dict[str, set[tuple[int, int]]]) -> None:
    section_load: dict[str, int] = defaultdict(int)
    teacher_load: dict[str, int] = defaultdict(int)
    for c in classes:
        if c.weekly_lessons > periods:
            raise InvalidInput(f"class {c.code} has {c.weekly_lessons} lessons a week but the week has only "
                               f"{periods} periods", field="weekly_lessons")
        section_load[c.section] += c.weekly_lessons
        teacher_load[c.teacher] += c.weekly_lessons
    for section, load in sorted(section_load.items()):
        if load > periods:
            raise InvalidInput(f"section {section} has {load} lessons a week but the week has only {periods} "
                               f"periods ({week.days} days x {week.periods_per_day}); lower some subjects' "
                               "lessons per week or add periods", field="weekly_lessons")
    for teacher, load in sorted(teacher_load.items()):
        free = periods - len(blocked.get(teacher, ()))
        if load > free:
            raise InvalidInput(f"teacher {teacher} has {load} lessons a week but only {free} periods they can "
                               "teach; move a class to another teacher or lower lessons per week",
                               field="weekly_lessons")
