"""Typed, immutable description of a course timetabling problem and of a solution.

The formulation is ITC2007 Track 3 (curriculum-based course timetabling) with the UD2 soft constraints:
Bonutti, De Cesco, Di Gaspero, Schaerf, "Benchmarking curriculum-based course timetabling",
Annals of OR 2012. Days and periods count from 0; the linear period index is `day * periods_per_day +
period`. `teacher_max_periods_per_day` is a school extension outside UD2 and is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


SIZE_LIMITS: dict[str, int] = {
    "Days": 7, "Periods_per_day": 16, "Courses": 2_000, "Rooms": 500, "Curricula": 2_000,
    "Constraints": 100_000, "Lectures": 10_000, "NumStudents": 100_000, "Capacity": 100_000,
}
"""The largest timetabling problem the product takes (an imported .ctt file, a stored problem to solve), by the
ITC2007 header's names: a week of at most 7 days of 16 periods (as build_timetable_problem), and counts well
above the competition's largest instances (131 courses, 20 rooms, 434 lectures) and a large school's, yet small
enough that the solver's model (lectures x rooms x periods) fits in memory and a time limit means something.
`Lectures` is the total over all courses; a course has at most Days x Periods_per_day lectures and a curriculum
at most Courses courses (the courses exist, so that follows)."""


def size_problems(*, days: int, periods_per_day: int, courses: int, rooms: int, curricula: int,
                  constraints: int, lectures: int = 0) -> list[str]:
    """Return what exceeds SIZE_LIMITS, each as 'Name N (at most L)'; empty when all is within the limits."""
    declared = {"Days": days, "Periods_per_day": periods_per_day, "Courses": courses, "Rooms": rooms,
                "Curricula": curricula, "Constraints": constraints, "Lectures": lectures}
    return [f"{name} {value:,} (at most {SIZE_LIMITS[name]:,})" for name, value in declared.items()
            if value > SIZE_LIMITS[name]]


@dataclass(frozen=True)
class Course:
    """A course (a lesson series): `lectures` lectures taught by `teacher` to `students` students."""

    id: str
    teacher: str
    lectures: int
    min_working_days: int
    students: int


@dataclass(frozen=True)
class Room:
    """A room; every room suits every course, capacity is only a soft constraint."""

    id: str
    capacity: int


@dataclass(frozen=True)
class Curriculum:
    """A group of courses taken by the same students: none of them may share a period."""

    id: str
    course_ids: tuple[str, ...]


@dataclass(frozen=True)
class Unavailability:
    """Course `course_id` may not be taught in `period` of `day`."""

    course_id: str
    day: int
    period: int


@dataclass(frozen=True)
class TeacherDayLimit:
    """School extension: `weight` per lecture a teacher teaches beyond `limit` periods in one day."""

    weight: int
    limit: int


@dataclass(frozen=True)
class Weights:
    """Soft-constraint weights; the defaults are UD2 (Bonutti et al. 2012)."""

    room_capacity: int = 1
    min_working_days: int = 5
    curriculum_compactness: int = 2
    room_stability: int = 1
    teacher_max_periods_per_day: TeacherDayLimit | None = None


@dataclass(frozen=True)
class Problem:
    """A timetabling instance: courses, rooms, curricula, unavailable periods and soft weights."""

    name: str
    days: int
    periods_per_day: int
    courses: tuple[Course, ...]
    rooms: tuple[Room, ...]
    curricula: tuple[Curriculum, ...]
    unavailability: tuple[Unavailability, ...] = ()
    weights: Weights = field(default_factory=Weights)
    period_times: tuple[str, ...] = ()  # "HH:MM-HH:MM" per period of the day, for school timetables; () = none

    @property
    def periods(self) -> int:
        """Return the number of periods in the week (days x periods per day)."""
        return self.days * self.periods_per_day

    @cached_property
    def course_by_id(self) -> dict[str, Course]:
        """Return the courses keyed by id."""
        return {c.id: c for c in self.courses}

    @cached_property
    def room_by_id(self) -> dict[str, Room]:
        """Return the rooms keyed by id."""
        return {r.id: r for r in self.rooms}

    @cached_property
    def unavailable(self) -> frozenset[tuple[str, int, int]]:
        """Return the set of (course id, day, period) in which a course may not be taught."""
        return frozenset((u.course_id, u.day, u.period) for u in self.unavailability)

    @property
    def total_lectures(self) -> int:
        """Return the number of lectures to schedule."""
        return sum(c.lectures for c in self.courses)

    def size_problems(self) -> list[str]:
        """Return what of this problem exceeds SIZE_LIMITS (see `size_problems`), a course's lectures or
        min_working_days beyond the week, a course's students or a room's capacity beyond its limit."""
        found = size_problems(days=self.days, periods_per_day=self.periods_per_day, courses=len(self.courses),
                              rooms=len(self.rooms), curricula=len(self.curricula),
                              constraints=len(self.unavailability), lectures=self.total_lectures)
        for course in self.courses:
            if course.lectures > self.periods:
                found.append(f"course {course.id} NumLectures {course.lectures:,} (at most the week's {self.periods}"
                             " periods)")
            if course.min_working_days > self.days:
                found.append(f"course {course.id} MinWorkingDays {course.min_working_days:,} (at most the "
                             f"{self.days} days)")
            if course.students > SIZE_LIMITS["NumStudents"]:
                found.append(f"course {course.id} NumStudents {course.students:,} (at most "
                             f"{SIZE_LIMITS['NumStudents']:,})")
        found += [f"room {room.id} Capacity {room.capacity:,} (at most {SIZE_LIMITS['Capacity']:,})"
                  for room in self.rooms if room.capacity > SIZE_LIMITS["Capacity"]]
        return found[:5] + ([f"and {len(found) - 5} more"] if len(found) > 5 else [])


@dataclass(frozen=True)
class Assignment:
    """One lecture of `course_id` in `room_id` at (`day`, `period`)."""

    course_id: str
    room_id: str
    day: int
    period: int


@dataclass(frozen=True)
class Solution:
    """A timetable: one assignment per lecture, in any order."""

    assignments: tuple[Assignment, ...]
