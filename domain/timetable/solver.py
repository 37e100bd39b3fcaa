"""Solve a course timetabling problem with OR-Tools CP-SAT: periods, then rooms, then large-neighbourhood search.

Formulation: ITC2007 Track 3 with UD2 soft constraints (Bonutti, De Cesco, Di Gaspero, Schaerf,
"Benchmarking curriculum-based course timetabling", Annals of OR 2012).

Phase 1 (periods): boolean x[c, p] says course c has a lecture in period p. Hard constraints are
linear (lecture counts, one course per curriculum/teacher and period, at most |rooms| lectures per
period, unavailable periods have no variable). The objective holds min working days (day indicators),
curriculum compactness (isolated-lecture indicators per curriculum and period) and the exact minimum
room-capacity cost of each period: rooms differ only by capacity, so pairing the period's courses and
rooms both sorted by size is optimal and its overflow equals the sum over thresholds t of
max(0, #courses with more than t students - #rooms with more than t seats). Since only room stability
is left out, the phase-1 bound is a lower bound for the whole problem. Phase 1 runs until a first
solution exists and then for a small share of the time limit.

Phase 2 (rooms): with periods fixed, boolean y[lecture, room] minimises room capacity + room
stability (course-uses-room indicators). Phase 3 (domain.timetable.solver_anneal): simulated annealing over
single-lecture moves, swaps and Kempe-chain interchanges that keep the timetable feasible; with `workers` >= 2
and at least `_SIDE_CHAIN_MIN_S` seconds to anneal, a second chain with another seed (and the start temperature
solver_anneal.SIDE_T_START) anneals the same start in a child process (solver_anneal.SideChain: the
pure-Python chain holds one core while CP-SAT is idle) and the better of the two goes on. Phase 4
(domain.timetable.lns): small CP-SAT sub-models over a few dozen freed lectures at a time, the rest fixed,
until the time limit. Shares of the time limit: phase 1 `_PHASE1_SHARE`
(once a first solution exists), phase 2 `_ROOM_SHARE`, phase 4 `_LNS_SHARE`, phase 3 the rest. Annealing
gets most of the time, measured at 60 s on a loaded 2-core machine (issue 24): from a first CP-SAT solution
it beats letting CP-SAT improve it (comp05, seed 0: 363 with a quarter of the time in phase 1 and annealing
from temperature 1, 310 with 2% and annealing from 8), and annealing to 95% of the time beats handing over
to the LNS at 85% or once the best stalls (seed 1: comp05 364 against 390, comp07 49 against 54; comp01
still 5). The start decides much of the result (issue 24, comp05, one chain of 8M annealing moves tried from each
start; load 5-15): from six starts made as solve makes them (seeds 0-5), 323 and 353 (means of 12 chains each, the
walk variants solver_anneal lists), 345, 351, 335, 344; 16M moves instead of 8M kept each start's level (321/324,
344/349, 329/345 from seeds 0, 1, 4). Other starts did not do better: CP-SAT's first solution with one worker (2.7 s
of CPU each on comp05, 11-16 s on comp07) 327, 393, 375, 337; phase 1 at 20% of the time (60 s; start costs 422,
725, 836, 1618 at load 12, against 762-1119 at 2%) 318, 383, 356, 367 (comp07, 8M moves: 29, 32, 43 against 42, 31,
28 from seeds 0-2). A short walk does not tell the better starts: from each of those 14 starts, one walk of 2M moves
and one of 8M correlate at -0.06 (ranks: 0.2), so racing starts on short walks is no way to choose among them. Every
solution is re-scored by domain.timetable.scoring; the reported cost is the scorer's. Every phase stops within about
a second once the caller's `stop` event is set.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from domain.timetable.lns import Lns
from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.scoring import Score, score, timetable_of
from domain.timetable.solver_anneal import Annealer, EitherStop, SideChain
from domain.timetable.solver_common import (
    compactness_terms,
    min_working_days_terms,
    run_stoppable,
    structure_of,
    teacher_day_terms,
)

ProgressCallback = Callable[[float, int, int], None]

_PHASE1_SHARE = 0.02  # share of the time limit for the period model once it has a solution
_ROOM_SHARE = 0.02  # share of the time limit for the room model
_LNS_SHARE = 0.05  # share of the time limit left to the LNS after annealing
_SIDE_CHAIN_MIN_S = 8.0  # a second annealing chain (workers >= 2) only for an annealing phase at least this long


@dataclass(frozen=True)
class SolveResult:
    """Outcome of `solve`: status, best solution and its scorer Score, time used and cost over time.

    status is "optimal" (scorer cost equals the proven lower bound), "feasible", "infeasible" (see
    `explanation`) or "unknown" (no solution within the time limit or before `stop` was set; then
    `explanation` says it was stopped). `progress` lists
    (seconds since start, best soft cost) each time the best improved.
    """

    status: str
    solution: Solution | None
    score: Score | None
    seconds: float
    progress: tuple[tuple[float, int], ...]
    explanation: str | None = None
    lower_bound: int | None = None


class _Best:
    """Best solution seen so far across phases, updated from CP-SAT callback threads."""

    def __init__(self, problem: Problem, start: float, on_progress: ProgressCallback | None) -> None:
        self.problem = problem
        self.start = start
        self.on_progress = on_progress
        self.solution: Solution | None = None
        self.score: Score | None = None
        self.bound = 0
        self.progress: list[tuple[float, int]] = []
        self._lock = threading.Lock()

    def offer(self, solution: Solution, *, model_cost: int | None = None, scored: Score | None = None) -> Score:
        """Keep `solution` if it beats the best; check it is feasible and not above its model's cost."""
        s = scored or score(self.problem, solution)
        if s.hard_violations:
            raise RuntimeError(f"solver produced a solution with hard violations {s.hard}: modelling bug")
        if model_cost is not None and s.soft_cost > model_cost:
            raise RuntimeError(f"scorer cost {s.soft_cost} above model cost {model_cost}: modelling bug")
        with self._lock:
            if self.score is None or s.soft_cost < self.score.soft_cost:
                self.solution, self.score = solution, s
                elapsed = time.monotonic() - self.start
                self.progress.append((round(elapsed, 3), s.soft_cost))
                if self.on_progress is not None:
                    self.on_progress(elapsed, s.soft_cost, self.bound)
        return s


def _explain_by_counting(problem: Problem) -> list[str]:
    """Return reasons the problem is infeasible found by counting periods (empty if none found)."""
    reasons: list[str] = []
    P = problem.periods
    blocked: dict[str, int] = defaultdict(int)
    for cid, _, _ in problem.unavailable:
        blocked[cid] += 1
    for c in problem.courses:
        free = P - blocked[c.id]
        if c.lectures > free:
            reasons.append(f"course {c.id} has {c.lectures} lectures but only {free} available periods")
    for q in problem.curricula:
        need = sum(problem.course_by_id[cid].lectures for cid in set(q.course_ids))
        if need > P:
            reasons.append(f"curriculum {q.id} needs {need} distinct periods for its courses but the week has {P}")
    by_teacher: dict[str, int] = defaultdict(int)
    for c in problem.courses:
        by_teacher[c.teacher] += c.lectures
    for t, need in sorted(by_teacher.items()):
        if need > P:
            reasons.append(f"teacher {t} has {need} lectures but the week has {P} periods")
    slots = P * len(problem.rooms)
    if problem.total_lectures > slots:
        reasons.append(f"{problem.total_lectures} lectures need more room slots than the "
                       f"{len(problem.rooms)} rooms x {P} periods = {slots} available")
    return reasons


class _PeriodModel:
    """Phase-1 CP-SAT model over x[c, p]; optionally every hard-constraint group behind an assumption.

    `soft_terms` holds the soft-cost terms; with `objective` False the model minimises nothing yet (the minimal
    perturbation re-solve, domain.timetable.perturbation, sets its own objectives)."""

    def __init__(self, problem: Problem, *, with_assumptions: bool = False, objective: bool = True) -> None:
        self.problem = problem
        m = self.model = cp_model.CpModel()
        P, ppd = problem.periods, problem.periods_per_day
        courses = problem.courses
        w = problem.weights
        self.groups: dict[int, str] = {}  # assumption literal index -> description

        def guard(ct: cp_model.Constraint, lit: cp_model.IntVar | None) -> None:
            if lit is not None:
                ct.only_enforce_if(lit)

        def assumption(text: str) -> cp_model.IntVar | None:
            if not with_assumptions:
                return None
            lit = m.new_bool_var(text)
            self.groups[lit.index] = text
            return lit

        unavailable = problem.unavailable
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        for i, c in enumerate(courses):
            for p in range(P):
                if (c.id, p // ppd, p % ppd) not in unavailable:
                    self.x[i, p] = m.new_bool_var(f"x_{c.id}_{p}")
        x = self.x
        at: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        of: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        for (i, p), v in x.items():
            at[p].append((i, v))
            of[i].append((p, v))

        for i, c in enumerate(courses):
            lit = assumption(f"course {c.id} has {c.lectures} lectures in its available periods")
            guard(m.add(sum(v for _, v in of[i]) == c.lectures), lit)

        index = {c.id: i for i, c in enumerate(courses)}
        # Identical curricula constrain and cost alike, so each distinct course set is modelled once.
        curricula: dict[frozenset[int], list[str]] = defaultdict(list)
        for q in problem.curricula:
            curricula[frozenset(index[cid] for cid in q.course_ids)].append(q.id)
        teachers: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(courses):
            teachers[c.teacher].append(i)
        conflict_groups = [(members, f"curriculum {', '.join(ids)}: its courses in distinct periods")
                           for members, ids in curricula.items()]
        conflict_groups += [(frozenset(members), f"teacher {t}: their courses in distinct periods")
                            for t, members in teachers.items()]
        for members, text in conflict_groups:
            if len(members) < 2:
                continue
            lit = assumption(text)
            for p in range(P):
                vs = [x[i, p] for i in members if (i, p) in x]
                if len(vs) > 1:
                    guard(m.add_at_most_one(vs) if lit is None else m.add(sum(vs) <= 1), lit)

        R = len(problem.rooms)
        lit = assumption(f"at most {R} lectures per period (one per room)")
        for p in range(P):
            if len(at[p]) > R:
                guard(m.add(sum(v for _, v in at[p]) <= R), lit)

        terms: list[cp_model.LinearExprT] = []

        # Room capacity: exact per-period minimum via size thresholds (see module docstring).
        if w.room_capacity:
            caps = sorted(r.capacity for r in problem.rooms)
            points = sorted({0, *(c.students for c in courses), *caps})
            for j in range(len(points) - 1):
                t, length = points[j], points[j + 1] - points[j]
                seats = sum(1 for cap in caps if cap > t)
                big = {i for i, c in enumerate(courses) if c.students > t}
                if len(big) <= seats:
                    continue
                for p in range(P):
                    vs = [v for i, v in at[p] if i in big]
                    if len(vs) <= seats:
                        continue
                    e = m.new_int_var(0, len(vs) - seats, f"over_{t}_{p}")
                    m.add(e >= sum(vs) - seats)
                    terms.append(w.room_capacity * length * e)

        # Min working days, curriculum compactness and the teacher daily limit, shared with the LNS.
        def occ(i: int, p: int) -> cp_model.LinearExprT | int:
            return x.get((i, p), 0)

        terms += min_working_days_terms(m, problem, range(len(courses)), occ)
        terms += compactness_terms(m, problem, [(members, len(ids)) for members, ids in curricula.items()], occ)
        terms += teacher_day_terms(m, problem, [frozenset(ms) for ms in teachers.values()], occ)

        self.soft_terms = terms
        if not with_assumptions and objective:
            m.minimize(sum(terms))
        else:
            m.add_assumptions([m.get_bool_var_from_proto_index(k) for k in self.groups])

    def periods_of(self, value: Callable[[cp_model.IntVar], int]) -> dict[int, list[int]]:
        """Return {course index: periods} from a solution accessor."""
        out: dict[int, list[int]] = defaultdict(list)
        for (i, p), v in self.x.items():
            if value(v):
                out[i].append(p)
        return out


def _ceil(value: float) -> int:
    """Return the smallest integer not below `value`, tolerant of floating-point noise."""
    return int(-(-(value - 1e-6) // 1))


def _greedy_rooms(problem: Problem, periods: dict[int, list[int]]) -> Solution:
    """Assign rooms period by period: capacity-optimal (largest course first), keeping each course's room.

    The largest courses go first; a course takes its home room (the first room it got) when that room is
    free and costs no more capacity than the room sorted pairing would give it, else the free room closest
    to that pairing's capacity.
    """
    ppd = problem.periods_per_day
    rooms = sorted(range(len(problem.rooms)), key=lambda r: -problem.rooms[r].capacity)
    capacity = [r.capacity for r in problem.rooms]
    at: dict[int, list[int]] = defaultdict(list)
    for i, ps in periods.items():
        for p in ps:
            at[p].append(i)
    home: dict[int, int] = {}
    out: list[Assignment] = []
    # Fullest periods first: they have the least freedom, so they should fix the home rooms.
    for p in sorted(at, key=lambda p: -len(at[p])):
        members = sorted(at[p], key=lambda i: -problem.courses[i].students)
        free = list(rooms)
        for rank, i in enumerate(members):
            students = problem.courses[i].students
            # The room of the sorted pairing; any free room at least as large costs no more capacity.
            paired = rooms[rank]
            over = max(0, students - capacity[paired])
            choice = home.get(i)
            if choice not in free or max(0, students - capacity[choice]) > over:
                fitting = [r for r in free if max(0, students - capacity[r]) <= over]
                # Prefer the smallest room that costs no more, leaving large rooms to later courses.
                choice = min(fitting, key=lambda r: capacity[r]) if fitting else free[0]
            free.remove(choice)
            home.setdefault(i, choice)
            out.append(Assignment(problem.courses[i].id, problem.rooms[choice].id, p // ppd, p % ppd))
    return Solution(assignments=tuple(out))


def _course_rooms(problem: Problem, periods: dict[int, list[int]]) -> Solution:
    """Assign rooms course by course (most lectures first): one room for all lectures where one is free.

    A course takes the free-in-all-its-periods room with the least capacity cost (then the smallest),
    unless lecture-by-lecture choices save more capacity than the extra rooms cost. Every period holds
    at most |rooms| lectures, so a free room always exists.
    """
    ppd, w = problem.periods_per_day, problem.weights
    capacity = [r.capacity for r in problem.rooms]
    taken: set[tuple[int, int]] = set()
    out: list[Assignment] = []
    order = sorted(periods, key=lambda i: (-len(periods[i]), -problem.courses[i].students))
    for i in order:
        students = problem.courses[i].students
        ps = periods[i]

        def over(r: int, students: int = students) -> int:
            return w.room_capacity * max(0, students - capacity[r])

        whole = [r for r in range(len(capacity)) if all((p, r) not in taken for p in ps)]
        per_lecture = {p: min((r for r in range(len(capacity)) if (p, r) not in taken),
                              key=lambda r: (over(r), capacity[r])) for p in ps}
        split_cost = sum(over(r) for r in per_lecture.values()) + w.room_stability * (
            len(set(per_lecture.values())) - 1)
        if whole:
            r = min(whole, key=lambda r: (over(r), capacity[r]))
            if len(ps) * over(r) <= split_cost:
                per_lecture = dict.fromkeys(ps, r)
        for p, r in per_lecture.items():
            taken.add((p, r))
            out.append(Assignment(problem.courses[i].id, problem.rooms[r].id, p // ppd, p % ppd))
    return Solution(assignments=tuple(out))


def _rooms(problem: Problem, periods: dict[int, list[int]]) -> Solution:
    """Return the better of the period-major and the course-major room assignments."""
    a, b = _greedy_rooms(problem, periods), _course_rooms(problem, periods)
    return a if score(problem, a).soft_cost <= score(problem, b).soft_cost else b


def _room_phase(problem: Problem, periods: dict[int, list[int]], *, start_from: Solution,
                time_limit_s: float, seed: int, workers: int, best: _Best,
                stop: threading.Event | None = None) -> None:
    """Phase 2: choose rooms for fixed periods, minimising room capacity + room stability."""
    if time_limit_s <= 0.05:
        return
    ppd, w = problem.periods_per_day, problem.weights
    m = cp_model.CpModel()
    lectures = [(i, p) for i, ps in periods.items() for p in ps]
    R = range(len(problem.rooms))
    y = {(k, r): m.new_bool_var(f"y_{k}_{r}") for k in range(len(lectures)) for r in R}
    for k in range(len(lectures)):
        m.add_exactly_one(y[k, r] for r in R)
    by_period: dict[int, list[int]] = defaultdict(list)
    by_course: dict[int, list[int]] = defaultdict(list)
    for k, (i, p) in enumerate(lectures):
        by_period[p].append(k)
        by_course[i].append(k)
    for ks in by_period.values():
        for r in R:
            m.add_at_most_one(y[k, r] for k in ks)
    terms: list[cp_model.LinearExprT] = []
    for k, (i, _) in enumerate(lectures):
        for r in R:
            over = problem.courses[i].students - problem.rooms[r].capacity
            if over > 0 and w.room_capacity:
                terms.append(w.room_capacity * over * y[k, r])
    for i, ks in by_course.items():
        uses = []
        for r in R:
            u = m.new_bool_var(f"u_{i}_{r}")
            for k in ks:
                m.add_implication(y[k, r], u)
            uses.append(u)
        terms.append(w.room_stability * (sum(uses) - 1))
    m.minimize(sum(terms))

    table, _ = timetable_of(problem, start_from)
    for k, (i, p) in enumerate(lectures):
        for r in R:
            m.add_hint(y[k, r], table.get((i, p)) == r)

    class Callback(cp_model.CpSolverSolutionCallback):
        def on_solution_callback(self) -> None:
            out = []
            for k, (i, p) in enumerate(lectures):
                r = next(r for r in R if self.boolean_value(y[k, r]))
                out.append(Assignment(problem.courses[i].id, problem.rooms[r].id, p // ppd, p % ppd))
            rest = best.score.soft.min_working_days + best.score.soft.curriculum_compactness \
                + best.score.soft.teacher_max_periods_per_day if best.score else 0
            best.offer(Solution(tuple(out)), model_cost=round(self.objective_value) + rest)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    run_stoppable(solver, m, Callback(), stop=stop)


def _explain_with_assumptions(problem: Problem, *, time_limit_s: float, seed: int,
                              stop: threading.Event | None = None) -> str | None:
    """Return the hard-constraint groups CP-SAT reports as jointly infeasible, or None if it cannot tell."""
    pm = _PeriodModel(problem, with_assumptions=True)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(1.0, time_limit_s)
    solver.parameters.num_workers = 1  # sufficient assumptions are only reported by a single worker
    solver.parameters.random_seed = seed
    if run_stoppable(solver, pm.model, stop=stop) != cp_model.INFEASIBLE:
        return None
    core = [pm.groups[k] for k in solver.sufficient_assumptions_for_infeasibility() if k in pm.groups]
    if not core:
        return None
    return "these hard constraints cannot all hold together: " + "; ".join(core)


def solve(problem: Problem, *, time_limit_s: float, seed: int = 0, workers: int = 2,
          on_progress: ProgressCallback | None = None, hint: Solution | None = None,
          stop: threading.Event | None = None) -> SolveResult:
    """Timetable `problem` within `time_limit_s` seconds with CP-SAT; return the best solution, scored (UD2).

    on_progress(seconds since start, best soft cost, lower bound) is called each time the best improves;
    `hint` seeds the search; setting `stop` ends the search within about a second with the best solution
    so far (status "unknown" and no solution if there was none yet). `seed` fixes the neighbourhood
    choices; CP-SAT's multi-worker timing still varies results between runs. Formulation: ITC2007 Track 3,
    Bonutti, De Cesco, Di Gaspero, Schaerf, 'Benchmarking curriculum-based course timetabling', Annals
    of OR 2012 (UD2).
    """
    start = time.monotonic()
    deadline = start + time_limit_s
    best = _Best(problem, start, on_progress)

    def result(status: str, explanation: str | None = None) -> SolveResult:
        return SolveResult(status=status, solution=best.solution, score=best.score,
                           seconds=round(time.monotonic() - start, 3), progress=tuple(best.progress),
                           explanation=explanation, lower_bound=best.bound if best.solution else None)

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    def final() -> SolveResult:
        assert best.score is not None
        return result("optimal" if best.score.soft_cost <= best.bound else "feasible")

    reasons = _explain_by_counting(problem)
    if reasons:
        return result("infeasible", "; ".join(reasons))

    pm = _PeriodModel(problem)
    if hint is not None:
        table, _ = timetable_of(problem, hint)
        for key, v in pm.x.items():
            pm.model.add_hint(v, key in table)

    class Callback(cp_model.CpSolverSolutionCallback):
        def __init__(self) -> None:
            super().__init__()
            self.last: dict[int, list[int]] | None = None

        def on_solution_callback(self) -> None:
            best.bound = max(best.bound, _ceil(self.best_objective_bound))
            periods = pm.periods_of(self.boolean_value)
            self.last = periods
            sol = _rooms(problem, periods)
            rooms = score(problem, sol).soft
            # The model's capacity term is the minimum; a room choice may trade capacity for stability.
            best.offer(sol, model_cost=round(self.objective_value) + rooms.room_stability + rooms.room_capacity)

    callback = Callback()
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # Periods get a small share of the time once a solution exists; the rest goes to rooms and LNS.
    phase1_end = start + _PHASE1_SHARE * time_limit_s
    status = run_stoppable(solver, pm.model, callback, stop=stop,
                           until=lambda: time.monotonic() >= phase1_end and best.solution is not None)

    if status == cp_model.INFEASIBLE:
        remaining = time_limit_s - (time.monotonic() - start)
        return result("infeasible", _explain_with_assumptions(problem, time_limit_s=remaining, seed=seed, stop=stop)
                      or "CP-SAT proved the hard constraints (lectures, curriculum and teacher conflicts, "
                         "room count per period, availability) cannot all hold")
    if callback.last is None or best.solution is None:
        if stopped():
            return result("unknown", "stopped before a first timetable was found")
        return result("unknown")
    if status == cp_model.OPTIMAL:
        best.bound = max(best.bound, round(solver.objective_value))
    else:
        best.bound = max(best.bound, _ceil(solver.best_objective_bound))
    assert best.score is not None
    if stopped() or best.score.soft_cost <= best.bound:
        return final()

    # Rooms for the best period assignment (the one whose greedy rooms are best so far).
    best_periods: dict[int, list[int]] = defaultdict(list)
    index = {c.id: i for i, c in enumerate(problem.courses)}
    for a in best.solution.assignments:
        best_periods[index[a.course_id]].append(a.day * problem.periods_per_day + a.period)
    room_budget = min(deadline - time.monotonic(), _ROOM_SHARE * time_limit_s)
    _room_phase(problem, best_periods, start_from=best.solution, time_limit_s=room_budget, seed=seed,
                workers=workers, best=best, stop=stop)
    if stopped() or best.score.soft_cost <= best.bound:
        return final()

    structure = structure_of(problem)
    anneal_deadline = deadline - _LNS_SHARE * time_limit_s
    if time.monotonic() < anneal_deadline:
        side = None
        if workers >= 2 and anneal_deadline - time.monotonic() >= _SIDE_CHAIN_MIN_S:
            side = SideChain.start(problem, best.solution, seed=seed, deadline=anneal_deadline, floor=best.bound)
        annealer = Annealer(problem, structure, seed=seed, stop=EitherStop(stop, side),
                            offer=lambda solution, s: best.offer(solution, scored=s))
        annealer.run(best.solution, deadline=anneal_deadline, floor=best.bound)  # optimal: either chain stops there
        if side is not None:
            other = side.finish(timeout_s=0.5 if stopped() else 5.0)
            if other is not None:
                best.offer(other)
    if stopped() or best.score.soft_cost <= best.bound:
        return final()
    lns = Lns(problem, structure, seed=seed, workers=workers, stop=stop,
              offer=lambda solution, s: best.offer(solution, scored=s))
    lns.run(best.solution, deadline=deadline)
    return final()
