"""The annealer's compactness table and its start check: pure, no solve, no database."""

from __future__ import annotations

import pytest

from domain.timetable.problem import Assignment, Course, Curriculum, Problem, Room, Solution
from domain.timetable.scoring import score
from domain.timetable.solver_anneal import Annealer, isolated_counts
from domain.timetable.solver_common import structure_of


def test_isolated_counts_by_hand() -> None:
    table = isolated_counts(4)
    assert len(table) == 16
    assert table[0b0000] == 0
    assert table[0b0001] == 1
    assert table[0b0101] == 2  # periods 0 and 2, a gap between them
    assert table[0b1011] == 1  # periods 0 and 1 adjacent, period 3 alone
    assert table[0b1111] == 0
    assert table[0b1001] == 2  # the day's first and last periods


def test_isolated_counts_agree_with_the_scorer_on_every_day_of_six_periods() -> None:
    # One curriculum of six one-lecture courses, one room per lecture: the scorer's compactness (weight 2 per
    # isolated lecture) of each day pattern must be twice the table's count.
    ppd = 6
    courses = tuple(Course(f"c{t}", f"t{t}", 1, 1, 10) for t in range(ppd))
    p = Problem(name="day", days=1, periods_per_day=ppd, courses=courses,
                rooms=tuple(Room(f"r{t}", 10) for t in range(ppd)),
                curricula=(Curriculum("q", tuple(c.id for c in courses)),))
    table = isolated_counts(ppd)
    for mask in range(1 << ppd):
        held = [t for t in range(ppd) if mask >> t & 1]
        # Courses left out are a hard violation (missing lectures), not a compactness term.
        solution = Solution(tuple(Assignment(f"c{k}", f"r{k}", 0, t) for k, t in enumerate(held)))
        assert score(p, solution).soft.curriculum_compactness == 2 * table[mask], bin(mask)


def test_a_start_with_a_curriculum_clash_is_refused() -> None:
    courses = (Course("a", "t1", 1, 1, 10), Course("b", "t2", 1, 1, 10))
    p = Problem(name="clash", days=1, periods_per_day=2, courses=courses, rooms=(Room("r1", 10), Room("r2", 10)),
                curricula=(Curriculum("q", ("a", "b")),))
    clash = Solution((Assignment("a", "r1", 0, 0), Assignment("b", "r2", 0, 0)))
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    with pytest.raises(ValueError, match="two lectures of one curriculum in period 0"):
        annealer.run(clash, deadline=0.0)
