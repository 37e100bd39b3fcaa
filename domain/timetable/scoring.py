"""Score a timetable exactly as the ITC2007 Track 3 validator does (UD2 weights by default).

Definitions from Bonutti, De Cesco, Di Gaspero, Schaerf, "Benchmarking curriculum-based course
timetabling", Annals of OR 2012 (UD2), and the competition validator (tests/data/itc2007/FORMAT.md).
Like the validator, the scorer first builds a (course, period) -> room table: an assignment naming an
unknown course or room or a day/period out of range is skipped, and a second assignment of the same
course in the same period is skipped as a repeated entry; skipped lines show up as Lectures violations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from domain.timetable.problem import Problem, Solution


@dataclass(frozen=True)
class HardViolations:
    """Hard-constraint violations, counted as the ITC2007 validator counts them."""

    lectures: int = 0
    conflicts: int = 0
    room_occupancy: int = 0
    availability: int = 0

    @property
    def total(self) -> int:
        """Return the number of hard violations."""
        return self.lectures + self.conflicts + self.room_occupancy + self.availability


@dataclass(frozen=True)
class SoftCost:
    """Weighted soft-constraint costs (each already multiplied by its weight)."""

    room_capacity: int = 0
    min_working_days: int = 0
    curriculum_compactness: int = 0
    room_stability: int = 0
    teacher_max_periods_per_day: int = 0

    @property
    def total(self) -> int:
        """Return the weighted soft cost."""
        return (self.room_capacity + self.min_working_days + self.curriculum_compactness
                + self.room_stability + self.teacher_max_periods_per_day)


@dataclass(frozen=True)
class Score:
    """Hard violations and soft cost of a solution; `skipped` counts assignments the validator would skip."""

    hard: HardViolations
    soft: SoftCost
    skipped: int = 0

    @property
    def hard_violations(self) -> int:
        """Return the total number of hard violations."""
        return self.hard.total

    @property
    def soft_cost(self) -> int:
        """Return the total weighted soft cost."""
        return self.soft.total

    @property
    def feasible(self) -> bool:
        """Return whether the solution has no hard violation."""
        return self.hard.total == 0


def timetable_of(problem: Problem, solution: Solution) -> tuple[dict[tuple[int, int], int], int]:
    """Return the validator's table {(course index, linear period): room index} and the skipped-line count."""
    course_index = {c.id: i for i, c in enumerate(problem.courses)}
    room_index = {r.id: i for i, r in enumerate(problem.rooms)}
    table: dict[tuple[int, int], int] = {}
    skipped = 0
    for a in solution.assignments:
        c, r = course_index.get(a.course_id), room_index.get(a.room_id)
        if (c is None or r is None or not 0 <= a.day < problem.days
                or not 0 <= a.period < problem.periods_per_day):
            skipped += 1
            continue
        key = (c, a.day * problem.periods_per_day + a.period)
        if key in table:
            skipped += 1
            continue
        table[key] = r
    return table, skipped


def score(problem: Problem, solution: Solution) -> Score:
    """Score `solution` on `problem`: hard violations and weighted soft cost as the ITC2007 validator defines them."""
    table, skipped = timetable_of(problem, solution)
    ppd = problem.periods_per_day
    w = problem.weights
    courses = problem.courses
    course_index = {c.id: i for i, c in enumerate(courses)}

    periods_of: dict[int, list[int]] = defaultdict(list)
    courses_at: dict[int, list[int]] = defaultdict(list)
    for (c, p) in table:
        periods_of[c].append(p)
        courses_at[p].append(c)

    # Lectures: each missing and each extra lecture is one violation.
    lectures = sum(abs(len(periods_of.get(i, ())) - c.lectures) for i, c in enumerate(courses))

    # Conflicts: each conflicting pair of courses meeting in a period is one violation.
    conflicting: set[tuple[int, int]] = set()
    by_teacher: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(courses):
        by_teacher[c.teacher].append(i)
    groups = list(by_teacher.values()) + [[course_index[cid] for cid in q.course_ids] for q in problem.curricula]
    for group in groups:
        for a in group:
            for b in group:
                if a < b:
                    conflicting.add((a, b))
    conflicts = 0
    for present in courses_at.values():
        present = sorted(present)
        for i, a in enumerate(present):
            for b in present[i + 1:]:
                if (a, b) in conflicting:
                    conflicts += 1

    # RoomOccupancy: each lecture beyond the first in a (room, period).
    in_room: dict[tuple[int, int], int] = defaultdict(int)
    for (c, p), r in table.items():
        in_room[(r, p)] += 1
    room_occupancy = sum(n - 1 for n in in_room.values() if n > 1)

    # Availability: each lecture in an unavailable period.
    unavailable = problem.unavailable
    availability = sum(1 for (c, p) in table if (courses[c].id, p // ppd, p % ppd) in unavailable)

    # RoomCapacity: students above capacity, per lecture.
    room_capacity = sum(max(0, courses[c].students - problem.rooms[r].capacity) for (c, _), r in table.items())

    # MinimumWorkingDays: days short of the minimum, per course.
    mwd = 0
    for i, c in enumerate(courses):
        used_days = {p // ppd for p in periods_of.get(i, ())}
        mwd += max(0, c.min_working_days - len(used_days))

    # CurriculumCompactness: a curriculum lecture with no curriculum lecture adjacent on the same day;
    # all k lectures of the curriculum in such a period count.
    compactness = 0
    for q in problem.curricula:
        count: dict[int, int] = defaultdict(int)
        for cid in q.course_ids:
            for p in periods_of.get(course_index[cid], ()):
                count[p] += 1
        for p, k in count.items():
            before = count.get(p - 1, 0) if p % ppd != 0 else 0
            after = count.get(p + 1, 0) if p % ppd != ppd - 1 else 0
            if before == 0 and after == 0:
                compactness += k

    # RoomStability: distinct rooms minus one, per course.
    rooms_of: dict[int, set[int]] = defaultdict(set)
    for (c, _), r in table.items():
        rooms_of[c].add(r)
    stability = sum(len(rs) - 1 for rs in rooms_of.values())

    # School extension: lectures of a teacher beyond the daily limit.
    teacher_excess = 0
    if w.teacher_max_periods_per_day is not None:
        per_day: dict[tuple[str, int], int] = defaultdict(int)
        for (c, p) in table:
            per_day[(courses[c].teacher, p // ppd)] += 1
        limit = w.teacher_max_periods_per_day.limit
        teacher_excess = w.teacher_max_periods_per_day.weight * sum(max(0, n - limit) for n in per_day.values())

    return Score(
        hard=HardViolations(lectures=lectures, conflicts=conflicts, room_occupancy=room_occupancy,
                            availability=availability),
        soft=SoftCost(
            room_capacity=w.room_capacity * room_capacity,
            min_working_days=w.min_working_days * mwd,
            curriculum_compactness=w.curriculum_compactness * compactness,
            room_stability=w.room_stability * stability,
            teacher_max_periods_per_day=teacher_excess,
        ),
        skipped=skipped,
    )
