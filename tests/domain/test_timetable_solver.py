"""The timetable solver: a hand-solved optimum, comp01 within seconds, infeasibility, progress, stopping.

No database. Kept short (about 30 s on 2 cores); quality is measured by bench/itc2007.py, not here.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import threading
import time

from domain.timetable.itc2007 import parse_ctt
from domain.timetable.problem import Course, Curriculum, Problem, Room, Solution, TeacherDayLimit, Weights
from domain.timetable.scoring import score
from domain.timetable.solver import solve
from domain.timetable.solver_anneal import _UNAVAILABLE, Annealer, SideChain, _ParentStop
from domain.timetable.solver_common import structure_of
from tests.conftest import itc2007_dir

DATA = itc2007_dir()


def problem(*, courses: tuple[Course, ...], curricula: tuple[Curriculum, ...] = (), days: int = 2,
            periods_per_day: int = 2, rooms: tuple[Room, ...] = (Room("rS", 10), Room("rL", 20))) -> Problem:
    """A small problem with UD2 weights."""
    return Problem(name="hand", days=days, periods_per_day=periods_per_day, courses=courses, rooms=rooms,
                   curricula=curricula)


def first_timetable(p: Problem) -> Solution | None:
    """Return the solver's first feasible timetable of `p`: stopped at its first solution, whatever the load.

    A fixed 2 s limit found none on a machine at load 12 (2 cores), failing the annealing tests before they began.
    """
    stop = threading.Event()
    return solve(p, time_limit_s=120, seed=0, stop=stop, on_progress=lambda *_: stop.set()).solution


def test_small_problem_solved_to_its_hand_computed_optimum() -> None:
    # 2 days x 2 periods. A: 3 lectures on at least 3 days, 30 students; B: 1 lecture, 5 students; one
    # curriculum {A, B}. Rooms hold 10 and 20. A can use at most 2 days -> 5. Each A lecture in the 20-seat
    # room costs 10 (in the small one 20) -> 30. A and B fill all 4 periods, so both days hold an adjacent
    # pair: compactness 0; A stays in the large room: stability 0. Optimum 35.
    p = problem(courses=(Course("A", "t1", 3, 3, 30), Course("B", "t2", 1, 1, 5)),
                curricula=(Curriculum("q", ("A", "B")),))
    result = solve(p, time_limit_s=10)
    assert result.status == "optimal"
    assert result.score is not None and result.score.hard_violations == 0
    assert result.score.soft_cost == 35
    assert (result.score.soft.room_capacity, result.score.soft.min_working_days) == (30, 5)
    assert result.lower_bound == 35


def test_comp01_feasible_in_ten_seconds_and_cost_is_the_scorers() -> None:
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    calls: list[tuple[float, int, int]] = []
    result = solve(p, time_limit_s=10, seed=1, on_progress=lambda s, c, b: calls.append((s, c, b)))
    assert result.status in ("feasible", "optimal")
    assert result.solution is not None and result.score is not None
    rescored = score(p, result.solution)
    assert rescored.hard_violations == 0
    assert rescored == result.score
    assert len(result.solution.assignments) == p.total_lectures
    # progress: at least one callback, costs never increase, last one is the reported cost
    assert calls
    costs = [c for _, c, _ in calls]
    assert costs == sorted(costs, reverse=True)
    assert costs[-1] == rescored.soft_cost == result.progress[-1][1]
    assert all(b <= rescored.soft_cost for _, _, b in calls)


def test_hint_is_accepted_and_never_made_worse() -> None:
    p = problem(courses=(Course("A", "t1", 3, 3, 30), Course("B", "t2", 1, 1, 5)),
                curricula=(Curriculum("q", ("A", "B")),))
    first = solve(p, time_limit_s=5)
    assert first.solution is not None
    again = solve(p, time_limit_s=5, hint=first.solution)
    assert again.score is not None and again.score.soft_cost == first.score.soft_cost


def test_too_many_lectures_for_the_periods_is_infeasible_with_a_reason() -> None:
    p = problem(courses=(Course("A", "t1", 5, 1, 5),))
    result = solve(p, time_limit_s=5)
    assert result.status == "infeasible"
    assert result.solution is None
    assert result.explanation is not None and "course A has 5 lectures but only 4 available periods" in \
        result.explanation


def test_too_many_lectures_for_the_rooms_is_infeasible_with_a_reason() -> None:
    p = problem(courses=tuple(Course(f"c{i}", f"t{i}", 3, 1, 5) for i in range(3)), rooms=(Room("r1", 10),))
    result = solve(p, time_limit_s=5)
    assert result.status == "infeasible"
    assert result.explanation is not None and "9 lectures need more room slots" in result.explanation


def test_conflict_triangle_is_infeasible_and_names_the_curricula() -> None:
    # A, B, C pairwise share a curriculum, 2 lectures each: 6 distinct periods needed but only 4 exist.
    # Every single curriculum needs only 4, so the counting pre-checks pass; CP-SAT finds the core.
    courses = tuple(Course(c, f"t{c}", 2, 1, 5) for c in "ABC")
    curricula = (Curriculum("qAB", ("A", "B")), Curriculum("qBC", ("B", "C")), Curriculum("qAC", ("A", "C")))
    result = solve(problem(courses=courses, curricula=curricula, rooms=(Room("r1", 10), Room("r2", 10),
                                                                        Room("r3", 10))), time_limit_s=5)
    assert result.status == "infeasible"
    assert result.explanation is not None
    assert all(q in result.explanation for q in ("qAB", "qBC", "qAC"))


def test_empty_solution_types() -> None:
    p = problem(courses=(Course("A", "t1", 1, 1, 5),))
    result = solve(p, time_limit_s=2)
    assert result.status == "optimal"
    assert isinstance(result.solution, Solution) and len(result.solution.assignments) == 1


def test_stop_event_ends_the_search_early_with_the_best_so_far() -> None:
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    stop, first, returned = threading.Event(), threading.Event(), threading.Event()

    def stop_three_seconds_after_the_first_solution() -> None:
        if first.wait(30) and not returned.wait(3):
            stop.set()

    stopper = threading.Thread(target=stop_three_seconds_after_the_first_solution, daemon=True)
    stopper.start()
    began = time.monotonic()
    result = solve(p, time_limit_s=60, seed=2, stop=stop, on_progress=lambda s, c, b: first.set())
    took = time.monotonic() - began
    returned.set()
    stopper.join()
    assert stop.is_set(), "the solver returned before it was stopped"
    assert took < 10
    assert result.status in ("feasible", "optimal")
    assert result.score is not None and result.score.hard_violations == 0
    assert result.solution is not None and len(result.solution.assignments) == p.total_lectures


def test_stop_before_a_first_solution_gives_unknown_and_says_so() -> None:
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    stop = threading.Event()
    stop.set()
    result = solve(p, time_limit_s=60, stop=stop)
    assert result.status in ("unknown", "feasible", "optimal")
    if result.status == "unknown":
        assert result.solution is None
        assert result.explanation is not None and "stopped" in result.explanation


def test_teacher_daily_limit_is_respected_when_it_can_be() -> None:
    # One teacher, two courses of 2 lectures on 2 days x 3 periods, at most 2 lectures a day: any
    # timetable with 2 lectures a day costs nothing, and the solver must find one.
    p = Problem(name="tday", days=2, periods_per_day=3, rooms=(Room("r", 10),), curricula=(),
                courses=(Course("A", "t", 2, 1, 5), Course("B", "t", 2, 1, 5)),
                weights=Weights(teacher_max_periods_per_day=TeacherDayLimit(weight=3, limit=2)))
    result = solve(p, time_limit_s=5)
    assert result.score is not None and result.score.soft.teacher_max_periods_per_day == 0


def test_annealing_running_cost_matches_the_scorer_with_a_teacher_limit() -> None:
    # The annealer computes each move's delta without applying it and checks its running best against the
    # scorer at the end (raising if they drift apart); the teacher limit exercises every delta term.
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    p = dataclasses.replace(p, weights=dataclasses.replace(
        p.weights, teacher_max_periods_per_day=TeacherDayLimit(weight=3, limit=2)))
    start = first_timetable(p)
    assert start is not None
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    best = annealer.run(start, deadline=time.monotonic() + 1.0)
    assert annealer.evaluated > 1000
    assert score(p, best).hard_violations == 0
    assert score(p, best).soft_cost <= score(p, start).soft_cost


def test_hot_annealing_keeps_its_running_cost_equal_to_the_scorers() -> None:
    # At a temperature that accepts most uphill moves the walk ends far from its best; its running cost (the sum
    # of every accepted move's delta) must still equal the scorer's cost of its last state, and that state must
    # be feasible: moves are only tried when they keep every hard constraint.
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    start = first_timetable(p)
    assert start is not None
    annealer = Annealer(p, structure_of(p), seed=0, offer=lambda solution, s: None, stop=None)
    best = annealer.run(start, deadline=time.monotonic() + 1.0, t_start=6.0, t_end=5.0)
    final = score(p, annealer.final)
    assert final.hard_violations == 0
    assert final.soft_cost == annealer.final_cost > score(p, best).soft_cost
    assert score(p, best).soft_cost <= score(p, start).soft_cost


def test_hot_annealing_keeps_its_blocked_counts_equal_to_a_recount() -> None:
    # Moves are proposed and rejected on `blocked` (per course and period: its own lecture, conflicting lectures,
    # unavailability), updated by each accepted move; after a hot walk it must equal a count from scratch.
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    start = first_timetable(p)
    assert start is not None
    annealer = Annealer(p, structure_of(p), seed=1, offer=lambda solution, s: None, stop=None)
    annealer.run(start, deadline=time.monotonic() + 1.0, t_start=6.0, t_end=5.0)
    P = p.periods
    recount = [0 if ok else _UNAVAILABLE for ok in annealer.avail]
    for i, period in zip(annealer.course, annealer.period):
        for k in (i, *annealer.conflicts[i]):
            recount[k * P + period] += 1
    assert annealer.evaluated > 1000
    assert annealer.blocked == recount


def test_side_chain_anneals_in_a_child_process_and_stops_when_told() -> None:
    # The second chain runs in a spawned child until its deadline or until finish() stops it; it sends back a
    # feasible timetable no worse than the start. Stopped early (deadline 60 s away), it still answers at once
    # once it anneals (starting, the child imports the domain: about a second, far more on a loaded machine).
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    start = first_timetable(p)
    assert start is not None
    side = SideChain.start(p, start, seed=0, deadline=time.monotonic() + 60.0)
    assert side is not None
    assert side.wait_started(timeout_s=60.0)
    began = time.monotonic()
    other = side.finish(timeout_s=5.0)
    assert time.monotonic() - began < 2.0
    assert other is not None
    assert score(p, other).hard_violations == 0
    assert score(p, other).soft_cost <= score(p, start).soft_cost


def test_side_chain_stops_when_told_or_when_its_parent_is_gone() -> None:
    # A killed parent re-parents the child (its parent pid changes): the chain then stops instead of annealing
    # on to its deadline. Seen from this process, "parent" is this process's own parent.
    event = multiprocessing.get_context("spawn").Event()
    assert not _ParentStop(event, os.getppid()).is_set()
    assert _ParentStop(event, os.getppid() + 1).is_set()
    event.set()
    assert _ParentStop(event, os.getppid()).is_set()
