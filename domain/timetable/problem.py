"""Typed, immutable description of a course timetabling problem and of a solution.

The formulation is ITC2007 Track 3 (curriculum-based course timetabling) with the UD2 soft constraints:
Bonutti, De Cesco, Di Gaspero, Schaerf, "Benchmarking curriculum-based course timetabling",
Annals of OR 2012. Days and periods count from 0; the linear period index is `day * periods_per_day +
period`. `teacher_max_periods_per_day` is a school extension outside UD2 and is off by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property


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
