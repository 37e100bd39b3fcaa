"""The annealer's compactness table, its start check and its Kempe-chain interchange. No database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from domain.timetable.itc2007 import parse_ctt
from domain.timetable.problem import Assignment, Course, Curriculum, Problem, Room, Solution
from domain.timetable.scoring import score
from domain.timetable.solver import solve
from domain.timetable.solver_anneal import _UNAVAILABLE, Annealer, EitherStop, isolated_counts
from domain.timetable.solver_common import structure_of
from tests.conftest import itc2007_dir


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


def test_a_kempe_rate_outside_zero_to_one_is_refused() -> None:
    p = Problem(name="one", days=1, periods_per_day=1, courses=(Course("a", "t1", 1, 1, 10),),
                rooms=(Room("r1", 10),), curricula=())
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    with pytest.raises(ValueError, match="kempe_rate 1.5 is outside 0 to 1"):
        annealer.run(Solution((Assignment("a", "r1", 0, 0),)), deadline=0.0, kempe_rate=1.5)


def test_kempe_interchange_moves_the_whole_chain_and_reports_the_scorers_delta() -> None:
    # a and b share curriculum q1, b and c share q2: moving a from period 0 to period 1 must take b (in period 1)
    # to period 0, and then c (in period 0, conflicting with b) to period 1.
    courses = (Course("a", "t1", 1, 1, 10), Course("b", "t2", 1, 1, 30), Course("c", "t3", 1, 1, 10))
    p = Problem(name="chain", days=1, periods_per_day=3, courses=courses, rooms=(Room("r1", 10), Room("r2", 30)),
                curricula=(Curriculum("q1", ("a", "b")), Curriculum("q2", ("b", "c"))))
    start = Solution((Assignment("a", "r1", 0, 0), Assignment("c", "r2", 0, 0), Assignment("b", "r2", 0, 1)))
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    annealer._load(start)
    a = annealer.course.index(0)
    delta = annealer._kempe(a, 1, 1e9, lambda: 0.0)
    assert delta is not None
    moved = annealer._solution(annealer.period, annealer.room)
    assert {(x.course_id, x.period) for x in moved.assignments} == {("a", 1), ("b", 0), ("c", 1)}
    assert score(p, moved).hard_violations == 0
    assert delta == score(p, moved).soft_cost - score(p, start).soft_cost


def test_annealing_with_kempe_moves_keeps_its_cost_and_counts_exact() -> None:
    # A hot walk mixing Kempe interchanges with single moves and swaps: its running cost must equal the scorer's
    # view of its last state, and the grid and blocked counts a recount.
    p = parse_ctt((itc2007_dir() / "comp01.ctt").read_text())
    stop = threading.Event()
    start = solve(p, time_limit_s=120, seed=0, stop=stop, on_progress=lambda *_: stop.set()).solution
    assert start is not None
    annealer = Annealer(p, structure_of(p), seed=2, offer=lambda solution, s: None, stop=None)
    annealer.run(start, deadline=time.monotonic() + 1.0, t_start=4.0, t_end=2.0, kempe_rate=0.2)
    assert annealer.kempe_tried > 100
    final = score(p, annealer.final)
    assert final.hard_violations == 0
    assert final.soft_cost == annealer.final_cost
    P, R = p.periods, len(p.rooms)
    recount = [0 if ok else _UNAVAILABLE for ok in annealer.avail]
    for i, period in zip(annealer.course, annealer.period):
        for k in (i, *annealer.conflicts[i]):
            recount[k * P + period] += 1
    assert annealer.blocked == recount
    assert all(annealer.grid[q * R + r] == lec for lec, (q, r) in enumerate(zip(annealer.period, annealer.room)))


def test_a_walk_stops_once_its_best_is_at_the_floor() -> None:
    """A proven lower bound (`floor`) reached means an optimal timetable: the walk ends there, long before its
    deadline, where without a floor under its cost it anneals on to the deadline."""
    p = parse_ctt((itc2007_dir() / "comp01.ctt").read_text())
    start = solve(p, time_limit_s=10, seed=0).solution
    assert start is not None
    cost = score(p, start).soft_cost
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    began = time.monotonic()
    best = annealer.run(start, deadline=began + 60, floor=cost)
    assert time.monotonic() - began < 5  # a look every 256 moves, not the minute to the deadline
    assert score(p, best).soft_cost <= cost
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    began = time.monotonic()
    annealer.run(start, deadline=began + 1.0, floor=-1)  # below any cost: only the deadline ends it
    assert time.monotonic() - began >= 1.0


def test_the_main_chain_stops_when_the_side_chain_reached_the_floor() -> None:
    class Reached:
        def reached_floor(self) -> bool:
            return True

    stop = EitherStop(None, Reached())  # type: ignore[arg-type]
    assert stop.is_set()
    caller = threading.Event()
    assert not EitherStop(caller, None).is_set()
    caller.set()
    assert EitherStop(caller, None).is_set()


def first_timetable(name: str) -> tuple[Problem, Solution]:
    """Return the ITC2007 instance `name` and the solver's first feasible timetable of it (stopped there)."""
    p = parse_ctt((itc2007_dir() / f"{name}.ctt").read_text())
    stop = threading.Event()
    start = solve(p, time_limit_s=120, seed=0, stop=stop, on_progress=lambda *_: stop.set()).solution
    assert start is not None
    return p, start


def test_a_move_budget_gives_the_same_walk_whatever_the_clock() -> None:
    """With `moves`, the schedule follows the moves tried, not the time: two walks of one seed end alike, at the
    budget (checked every 256 moves), though they run at different times and speeds."""
    p, start = first_timetable("comp01")
    walks = []
    for _ in range(2):
        annealer = Annealer(p, structure_of(p), seed=3, offer=lambda solution, s: None, stop=None)
        best = annealer.run(start, deadline=time.monotonic() + 600, moves=100_000)
        walks.append((score(p, best).soft_cost, annealer.final_cost, annealer.tried, annealer.final))
    assert walks[0] == walks[1]
    assert 100_000 <= walks[0][2] < 100_000 + 256
    annealer = Annealer(p, structure_of(p), seed=3, offer=lambda solution, s: None, stop=None)
    with pytest.raises(ValueError, match="moves 0 is below 1"):
        annealer.run(start, deadline=time.monotonic() + 1, moves=0)


def test_the_annealer_imports_no_or_tools() -> None:
    """A side chain's spawned child imports the annealer's module: OR-Tools (with pandas) took it about 2 s of CPU,
    4-7 s at load 8, before it annealed; the annealer needs neither, so its imports must not pull them in."""
    code = "import sys, domain.timetable.solver_anneal; print(sorted({'ortools', 'pandas'} & set(sys.modules)))"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip() == "[]"
