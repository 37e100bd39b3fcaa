"""Pure questions asked of a timetable: who teaches what when, which rooms are free, how many lessons moved."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from domain.timetable.problem import Assignment, Problem, Room, Solution


@dataclass(frozen=True)
class Lesson:
    """One scheduled lecture with its course's teacher: day and period count from 0."""

    course_id: str
    teacher: str
    room_id: str
    day: int
    period: int


def _ordered(problem: Problem, assignments: list[Assignment]) -> list[Lesson]:
    return [Lesson(course_id=a.course_id, teacher=problem.course_by_id[a.course_id].teacher, room_id=a.room_id,
                   day=a.day, period=a.period)
            for a in sorted(assignments, key=lambda a: (a.day, a.period, a.course_id, a.room_id))
            if a.course_id in problem.course_by_id]


def teacher_lessons(problem: Problem, solution: Solution, *, teacher: str, day: int | None = None) -> list[Lesson]:
    """Return the lessons `teacher` teaches (on `day` only, when given), by day and period."""
    courses = {c.id for c in problem.courses if c.teacher == teacher}
    return _ordered(problem, [a for a in solution.assignments
                              if a.course_id in courses and (day is None or a.day == day)])


def curriculum_lessons(problem: Problem, solution: Solution, *, curriculum_id: str) -> list[Lesson]:
    """Return the lessons of the courses of one curriculum (what one section attends), by day and period."""
    curriculum = next((c for c in problem.curricula if c.id == curriculum_id), None)
    courses = set(curriculum.course_ids) if curriculum else set()
    return _ordered(problem, [a for a in solution.assignments if a.course_id in courses])


def room_lessons(problem: Problem, solution: Solution, *, room_id: str) -> list[Lesson]:
    """Return the lessons held in `room_id`, by day and period."""
    return _ordered(problem, [a for a in solution.assignments if a.room_id == room_id])


def free_rooms(problem: Problem, solution: Solution, *, day: int, period: int, min_capacity: int = 0) -> list[Room]:
    """Return the rooms with at least `min_capacity` seats that no lesson uses at (`day`, `period`), by id."""
    used = {a.room_id for a in solution.assignments if a.day == day and a.period == period}
    return sorted((r for r in problem.rooms if r.id not in used and r.capacity >= min_capacity), key=lambda r: r.id)


def lessons_moved(before: Solution | None, after: Solution) -> int:
    """Return how many lessons of `after` are not at the same (course, room, day, period) in `before`.

    With no `before` (nothing published yet), every lesson counts as moved.
    """
    if before is None:
        return len(after.assignments)
    old = Counter((a.course_id, a.room_id, a.day, a.period) for a in before.assignments)
    new = Counter((a.course_id, a.room_id, a.day, a.period) for a in after.assignments)
    return sum((new - old).values())
