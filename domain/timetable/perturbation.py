"""Re-solve a changed timetable problem moving as few published lessons as possible (minimal perturbation).

The minimal perturbation problem (T. Müller, H. Rudová, R. Barták, "Minimal perturbation problem in course
timetabling", PATAT 2004, LNCS 3616, Springer 2005; T. Müller, "Constraint-based timetabling", PhD thesis,
Charles University, Prague, 2005, ch. 5): given a solution of the original problem and a changed problem, find a
solution of the changed problem that satisfies every hard constraint and differs from the original in as few
assignments as possible; the soft costs come second. Müller solves it by iterative forward search with the
perturbation count in the objective; we state it as one CP-SAT model, solved lexicographically:

1. Moves. The period model of domain.timetable.solver (x[c, p]: course c has a lecture in period p, with every
   hard constraint) minimises K x (published lessons that could stay but leave their period) + (lessons that must
   move anyway, because their teacher changed or their room closed, but still leave their period), with
   K = 1 + the number of the latter: a lesson that can be kept weighs more than any number of the others, and a
   lesson that moves anyway keeps its time when it can. The published timetable is the search's hint.
2. Soft costs. With the moves fixed at stage 1's best, the UD2 soft costs (Bonutti et al. 2012) are minimised.
3. Rooms. A lesson kept in its period keeps its published room when that room is still open (published lessons
   of one period hold distinct rooms, so they never clash); the others take, period by period, the largest first,
   the course's usual room when free, else the smallest free room that seats the class, else the largest free.

So a published lesson whose teacher is unchanged and whose room is open keeps (period, room, teacher) exactly when
stage 1 keeps it in its period. domain.timetable.changes.compare counts what moved.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from ortools.sat.python import cp_model

from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.scoring import score
from domain.timetable.solver import SolveResult, _explain_by_counting, _PeriodModel
from domain.timetable.solver_common import run_stoppable

MOVES_SHARE = 0.6
"""Share of the time limit for stage 1 (moves); stage 2 (soft costs) takes the rest, and stage 1's unused time."""

ProgressCallback = Callable[[float, int, int], None]


def resolve(problem: Problem, *, before_problem: Problem, before: Solution, time_limit_s: float, seed: int = 0,
            workers: int = 2, stop: threading.Event | None = None,
            on_progress: ProgressCallback | None = None) -> SolveResult:
    """Timetable the changed `problem` within `time_limit_s` seconds moving as few lessons of `before` (the
    published timetable of `before_problem`) as possible, then at the least soft cost (see the module docstring).

    Returns a SolveResult like domain.timetable.solver.solve: status "feasible" (or "optimal" when both stages
    proved their optimum), "infeasible" with the reason, or "unknown" (no timetable within the limit, or stopped).
    `progress` holds (seconds, soft cost) after each stage; on_progress(seconds, soft cost, 0) is called then.
    """
    start = time.monotonic()
    deadline = start + time_limit_s
    progress: list[tuple[float, int]] = []

    def result(status: str, solution: Solution | None = None, explanation: str | None = None) -> SolveResult:
        sc = score(problem, solution) if solution is not None else None
        return SolveResult(status=status, solution=solution, score=sc, seconds=round(time.monotonic() - start, 3),
                           progress=tuple(progress), explanation=explanation)

    reasons = _explain_by_counting(problem)
    if reasons:
        return result("infeasible", explanation="; ".join(reasons))

    pm = _PeriodModel(problem, objective=False)
    m, x = pm.model, pm.x
    ppd = problem.periods_per_day
    index = {c.id: i for i, c in enumerate(problem.courses)}
    published: dict[tuple[int, int], str] = {}  # (course index, linear period) -> published room
    keepable: list[tuple[int, int]] = []
    anyway: list[tuple[int, int]] = []
    for a in before.assignments:
        i = index.get(a.course_id)
        old = before_problem.course_by_id.get(a.course_id)
        if i is None or old is None or not (0 <= a.day < problem.days and 0 <= a.period < ppd):
            continue
        key = (i, a.day * ppd + a.period)
        published[key] = a.room_id
        same = old.teacher == problem.courses[i].teacher and a.room_id in problem.room_by_id
        (keepable if same else anyway).append(key)
    for key in x:
        m.add_hint(x[key], key in published)
    weight = len(anyway) + 1
    stays = weight * sum(x[k] for k in keepable if k in x) + sum(x[k] for k in anyway if k in x)

    def solver_for(limit: float) -> cp_model.CpSolver:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.1, limit)
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = seed
        return solver

    m.maximize(stays)
    first = solver_for(MOVES_SHARE * time_limit_s)
    status = run_stoppable(first, m, stop=stop)
    if status == cp_model.INFEASIBLE:
        return result("infeasible", explanation="CP-SAT proved the changed problem's hard constraints (lectures, "
                                                "section and teacher conflicts, rooms per period, availability) "
                                                "cannot all hold")
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return result("unknown", explanation="stopped before a timetable was found" if stop and stop.is_set()
                      else "no timetable within the time limit")
    periods = pm.periods_of(first.boolean_value)
    solution = _rooms(problem, periods, published)
    proved = status == cp_model.OPTIMAL
    _note(progress, on_progress, start, score(problem, solution).soft_cost)

    kept = round(first.objective_value)
    if (stop is None or not stop.is_set()) and deadline - time.monotonic() > 0.2 and pm.soft_terms:
        m.add(stays >= kept)
        m.clear_hints()
        for key, var in x.items():
            m.add_hint(var, first.boolean_value(var))
        m.minimize(sum(pm.soft_terms))
        second = solver_for(deadline - time.monotonic())
        status2 = run_stoppable(second, m, stop=stop)
        if status2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            candidate = _rooms(problem, pm.periods_of(second.boolean_value), published)
            if score(problem, candidate).soft_cost <= score(problem, solution).soft_cost:
                solution = candidate
            proved = proved and status2 == cp_model.OPTIMAL
            _note(progress, on_progress, start, score(problem, solution).soft_cost)
        else:
            proved = False
    return result("optimal" if proved else "feasible", solution)


def _note(progress: list[tuple[float, int]], on_progress: ProgressCallback | None, start: float, cost: int) -> None:
    elapsed = time.monotonic() - start
    progress.append((round(elapsed, 3), cost))
    if on_progress is not None:
        on_progress(elapsed, cost, 0)


def _rooms(problem: Problem, periods: dict[int, list[int]], published: dict[tuple[int, int], str]) -> Solution:
    """Rooms for fixed periods: a lesson kept in its published period keeps its open published room; the others
    (largest class first) take the course's usual room, else the smallest free room that seats them, else the
    largest free room (every period holds at most one lecture per room, so a free room exists)."""
    ppd = problem.periods_per_day
    capacity = {r.id: r.capacity for r in problem.rooms}
    usual: dict[int, str] = {}
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for (i, _), room in published.items():
        if room in capacity:
            counts[i][room] += 1
    for i, c in counts.items():
        usual[i] = min(c, key=lambda r: (-c[r], r))
    at: dict[int, list[int]] = defaultdict(list)
    for i, ps in periods.items():
        for p in ps:
            at[p].append(i)
    out: list[Assignment] = []
    for p, members in sorted(at.items()):
        taken: set[str] = set()
        rest: list[int] = []
        for i in members:
            room = published.get((i, p))
            if room in capacity and room not in taken:
                taken.add(room)
                out.append(Assignment(problem.courses[i].id, room, p // ppd, p % ppd))
            else:
                rest.append(i)
        for i in sorted(rest, key=lambda i: (-problem.courses[i].students, problem.courses[i].id)):
            free = sorted((r for r in capacity if r not in taken), key=lambda r: (capacity[r], r))
            students = problem.courses[i].students
            home = usual.get(i)
            if home in free and capacity[home] >= students:
                room = home
            else:
                room = next((r for r in free if capacity[r] >= students), free[-1])
            taken.add(room)
            out.append(Assignment(problem.courses[i].id, room, p // ppd, p % ppd))
    return Solution(assignments=tuple(out))
