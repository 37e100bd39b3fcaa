"""Solve a course timetabling problem with OR-Tools CP-SAT, in two phases.

Formulation: ITC2007 Track 3 with UD2 soft constraints (Bonutti, De Cesco, Di Gaspero, Schaerf,
"Benchmarking curriculum-based course timetabling", Annals of OR 2012).

Phase 1 (periods): boolean x[c, p] says course c has a lecture in period p. Hard constraints are
linear (lecture counts, one course per curriculum/teacher and period, at most |rooms| lectures per
period, unavailable periods have no variable). The objective holds min working days (day indicators),
curriculum compactness (isolated-lecture indicators per curriculum and period) and the exact minimum
room-capacity cost of each period: rooms differ only by capacity, so pairing the period's courses and
rooms both sorted by size is optimal and its overflow equals the sum over thresholds t of
max(0, #courses with more than t students - #rooms with more than t seats). Since only room stability
is left out, the phase-1 bound is a lower bound for the whole problem.

Phase 2 (rooms): with periods fixed, boolean y[lecture, room] minimises room capacity + room
stability (course-uses-room indicators). Phase 3 (large-neighbourhood search): the whole problem as one
model over y[c, p, r]; a few days, a few curricula's courses or a few periods are freed, the rest is
fixed, and each neighbourhood is re-solved until the time limit. Every solution found is re-scored by domain.timetable.scoring;
the reported cost is the scorer's.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.scoring import Score, score, timetable_of

ProgressCallback = Callable[[float, int, int], None]


@dataclass(frozen=True)
class SolveResult:
    """Outcome of `solve`: status, best solution and its scorer Score, time used and cost over time.

    status is "optimal" (scorer cost equals the proven lower bound), "feasible", "infeasible" (see
    `explanation`) or "unknown" (no solution within the time limit). `progress` lists
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

    def offer(self, solution: Solution, *, model_cost: int | None = None) -> Score:
        s = score(self.problem, solution)
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
    """Phase-1 CP-SAT model over x[c, p]; optionally every hard-constraint group behind an assumption."""

    def __init__(self, problem: Problem, *, with_assumptions: bool = False) -> None:
        self.problem = problem
        m = self.model = cp_model.CpModel()
        P, ppd, D = problem.periods, problem.periods_per_day, problem.days
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

        # Minimum working days: day indicators.
        for i, c in enumerate(courses):
            if c.min_working_days <= 0 or not w.min_working_days:
                continue
            used = []
            for d in range(D):
                vs = [x[i, p] for p in range(d * ppd, (d + 1) * ppd) if (i, p) in x]
                if not vs:
                    continue
                z = m.new_bool_var(f"day_{c.id}_{d}")
                m.add(z <= sum(vs))
                used.append(z)
            short = m.new_int_var(0, c.min_working_days, f"short_{c.id}")
            m.add(short >= c.min_working_days - sum(used))
            terms.append(w.min_working_days * short)

        # Curriculum compactness: isolated-lecture indicators per distinct curriculum and period.
        if w.curriculum_compactness:
            for members, ids in curricula.items():
                occ = {p: sum(x[i, p] for i in members if (i, p) in x) for p in range(P)}
                present = {p for p in range(P) if any((i, p) in x for i in members)}
                for p in present:
                    neighbours = [occ[q] for q in (p - 1, p + 1)
                                  if 0 <= q < P and q // ppd == p // ppd and q in present]
                    iso = m.new_bool_var(f"iso_{ids[0]}_{p}")
                    m.add(iso >= occ[p] - sum(neighbours))
                    terms.append(w.curriculum_compactness * len(ids) * iso)

        # School extension: lectures beyond a teacher's daily limit.
        limit = w.teacher_max_periods_per_day
        if limit is not None and limit.weight:
            for t, members in teachers.items():
                for d in range(D):
                    vs = [x[i, p] for i in members for p in range(d * ppd, (d + 1) * ppd) if (i, p) in x]
                    if len(vs) > limit.limit:
                        e = m.new_int_var(0, len(vs) - limit.limit, f"tday_{t}_{d}")
                        m.add(e >= sum(vs) - limit.limit)
                        terms.append(limit.weight * e)

        if not with_assumptions:
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
                time_limit_s: float, seed: int, workers: int, best: _Best) -> None:
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
    solver.solve(m, Callback())


class _FullModel:
    """The whole problem in one CP-SAT model over y[c, p, r] (course c in room r in period p), for LNS.

    Objective terms are exact at the optimum of the auxiliary variables: room capacity per lecture, day
    indicators for min working days, isolated-lecture indicators per distinct curriculum, course-uses-room
    indicators for room stability, and the optional teacher daily limit.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        m = self.model = cp_model.CpModel()
        P, ppd, D = problem.periods, problem.periods_per_day, problem.days
        courses, w = problem.courses, problem.weights
        R = range(len(problem.rooms))
        unavailable = problem.unavailable
        self.y: dict[tuple[int, int, int], cp_model.IntVar] = {}
        for i, c in enumerate(courses):
            for p in range(P):
                if (c.id, p // ppd, p % ppd) not in unavailable:
                    for r in R:
                        self.y[i, p, r] = m.new_bool_var(f"y_{i}_{p}_{r}")
        y = self.y
        x: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        for (i, p, r), v in y.items():
            x[i, p].append(v)
        for i, c in enumerate(courses):
            m.add(sum(v for p in range(P) for v in x.get((i, p), ())) == c.lectures)
        for (i, p), vs in x.items():
            m.add_at_most_one(vs)
        by_room: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        for (i, p, r), v in y.items():
            by_room[p, r].append(v)
        for vs in by_room.values():
            m.add_at_most_one(vs)
        index = {c.id: i for i, c in enumerate(courses)}
        curricula: dict[frozenset[int], list[str]] = defaultdict(list)
        for q in problem.curricula:
            curricula[frozenset(index[cid] for cid in q.course_ids)].append(q.id)
        teachers: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(courses):
            teachers[c.teacher].append(i)
        for members in [*curricula, *teachers.values()]:
            if len(members) < 2:
                continue
            for p in range(P):
                vs = [v for i in members for v in x.get((i, p), ())]
                if len(vs) > 1:
                    m.add_at_most_one(vs)
        terms: list[cp_model.LinearExprT] = []
        for (i, p, r), v in y.items():
            over = courses[i].students - problem.rooms[r].capacity
            if over > 0 and w.room_capacity:
                terms.append(w.room_capacity * over * v)
        for i, c in enumerate(courses):
            if c.min_working_days > 0 and w.min_working_days:
                used = []
                for d in range(D):
                    vs = [v for p in range(d * ppd, (d + 1) * ppd) for v in x.get((i, p), ())]
                    if vs:
                        z = m.new_bool_var(f"day_{i}_{d}")
                        m.add(z <= sum(vs))
                        used.append(z)
                short = m.new_int_var(0, c.min_working_days, f"short_{i}")
                m.add(short >= c.min_working_days - sum(used))
                terms.append(w.min_working_days * short)
            if w.room_stability:
                uses = []
                for r in R:
                    vs = [y[i, p, r] for p in range(P) if (i, p, r) in y]
                    u = m.new_bool_var(f"u_{i}_{r}")
                    for v in vs:
                        m.add_implication(v, u)
                    uses.append(u)
                terms.append(w.room_stability * (sum(uses) - 1))
        if w.curriculum_compactness:
            for members, ids in curricula.items():
                occ = {p: sum(v for i in members for v in x.get((i, p), ())) for p in range(P)}
                present = {p for p in range(P) if any((i, p) in x for i in members)}
                for p in present:
                    neighbours = [occ[q] for q in (p - 1, p + 1)
                                  if 0 <= q < P and q // ppd == p // ppd and q in present]
                    iso = m.new_bool_var(f"iso_{ids[0]}_{p}")
                    m.add(iso >= occ[p] - sum(neighbours))
                    terms.append(w.curriculum_compactness * len(ids) * iso)
        limit = w.teacher_max_periods_per_day
        if limit is not None and limit.weight:
            for t, members in teachers.items():
                for d in range(D):
                    vs = [v for i in members for p in range(d * ppd, (d + 1) * ppd) for v in x.get((i, p), ())]
                    if len(vs) > limit.limit:
                        e = m.new_int_var(0, len(vs) - limit.limit, f"tday_{t}_{d}")
                        m.add(e >= sum(vs) - limit.limit)
                        terms.append(limit.weight * e)
        m.minimize(sum(terms))

    def values(self, solution: Solution) -> dict[tuple[int, int, int], int]:
        """Return the y values of a (feasible) solution."""
        table, _ = timetable_of(self.problem, solution)
        return {key: int(table.get(key[:2]) == key[2]) for key in self.y}

    def solution(self, value: Callable[[cp_model.IntVar], int]) -> Solution:
        """Return the Solution of a CP-SAT assignment."""
        ppd = self.problem.periods_per_day
        return Solution(tuple(
            Assignment(self.problem.courses[i].id, self.problem.rooms[r].id, p // ppd, p % ppd)
            for (i, p, r), v in self.y.items() if value(v)))


def _lns(problem: Problem, *, deadline: float, seed: int, workers: int, best: _Best) -> None:
    """Improve best.solution by re-solving neighbourhoods of the full model with everything else fixed.

    Neighbourhoods: all lectures of a few days; all lectures of the courses of a few curricula (or of a
    teacher); a few periods' room assignments together with the courses in them.
    """
    rng = random.Random(seed)
    fm = _FullModel(problem)
    P, ppd = problem.periods, problem.periods_per_day
    courses = problem.courses
    index = {c.id: i for i, c in enumerate(courses)}
    groups = [tuple(index[c] for c in q.course_ids) for q in problem.curricula]
    keys = list(fm.y)
    size = 0.12  # share of the problem freed, adapted to how often sub-solves finish
    while time.monotonic() < deadline - 0.2:
        assert best.solution is not None
        current = fm.values(best.solution)
        kind = rng.random()
        if kind < 0.4:
            days = set(rng.sample(range(problem.days), max(1, min(problem.days, round(size * problem.days)))))
            free = {key for key in keys if key[1] // ppd in days}
        elif kind < 0.8:
            chosen: set[int] = set()
            while len(chosen) < max(2, size * len(courses)):
                if groups and rng.random() < 0.8:
                    chosen.update(rng.choice(groups))
                else:
                    chosen.add(rng.randrange(len(courses)))
            free = {key for key in keys if key[0] in chosen}
        else:
            periods = set(rng.sample(range(P), max(2, round(size * P))))
            movers = {i for (i, p, _), v in current.items() if v and p in periods}
            free = {key for key in keys if key[0] in movers and (key[1] in periods or not current[key])}
        m = fm.model.clone()
        proto = m.proto
        for key in keys:
            v = fm.y[key]
            if key not in free:
                dom = proto.variables[v.index].domain
                dom[0] = dom[1] = current[key]
            m.add_hint(v, current[key])
        solver = cp_model.CpSolver()
        budget = min(2.0, deadline - time.monotonic())
        if budget <= 0.2:
            break
        solver.parameters.max_time_in_seconds = budget
        solver.parameters.num_workers = workers
        solver.parameters.random_seed = rng.randrange(1 << 30)
        status = solver.solve(m)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            sol = fm.solution(solver.boolean_value)
            best.offer(sol, model_cost=round(solver.objective_value))
        # Grow the neighbourhood while sub-problems close quickly, shrink it when they time out.
        size = min(0.6, size * 1.1) if status == cp_model.OPTIMAL else max(0.05, size * 0.85)


def _explain_with_assumptions(problem: Problem, *, time_limit_s: float, seed: int) -> str | None:
    """Return the hard-constraint groups CP-SAT reports as jointly infeasible, or None if it cannot tell."""
    pm = _PeriodModel(problem, with_assumptions=True)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(1.0, time_limit_s)
    solver.parameters.num_workers = 1  # sufficient assumptions are only reported by a single worker
    solver.parameters.random_seed = seed
    if solver.solve(pm.model) != cp_model.INFEASIBLE:
        return None
    core = [pm.groups[k] for k in solver.sufficient_assumptions_for_infeasibility() if k in pm.groups]
    if not core:
        return None
    return "these hard constraints cannot all hold together: " + "; ".join(core)


def solve(problem: Problem, *, time_limit_s: float, seed: int = 0, workers: int = 2,
          on_progress: ProgressCallback | None = None, hint: Solution | None = None) -> SolveResult:
    """Timetable `problem` within `time_limit_s` seconds with CP-SAT; return the best solution, scored (UD2).

    on_progress(seconds since start, best soft cost, lower bound) is called each time the best improves;
    `hint` seeds the search. Formulation: ITC2007 Track 3, Bonutti, De Cesco, Di Gaspero, Schaerf,
    'Benchmarking curriculum-based course timetabling', Annals of OR 2012 (UD2).
    """
    start = time.monotonic()
    best = _Best(problem, start, on_progress)

    def result(status: str, explanation: str | None = None) -> SolveResult:
        return SolveResult(status=status, solution=best.solution, score=best.score,
                           seconds=round(time.monotonic() - start, 3), progress=tuple(best.progress),
                           explanation=explanation, lower_bound=best.bound if best.solution else None)

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
    # Periods get a share of the time once a solution exists; the rest goes to rooms and LNS.
    phase1_end = start + 0.5 * time_limit_s
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(0.05):
            if time.monotonic() >= phase1_end and best.solution is not None:
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        status = solver.solve(pm.model, callback)
    finally:
        finished.set()
        watcher.join()

    if status == cp_model.INFEASIBLE:
        remaining = time_limit_s - (time.monotonic() - start)
        return result("infeasible", _explain_with_assumptions(problem, time_limit_s=remaining, seed=seed)
                      or "CP-SAT proved the hard constraints (lectures, curriculum and teacher conflicts, "
                         "room count per period, availability) cannot all hold")
    if callback.last is None or best.solution is None:
        return result("unknown")
    if status == cp_model.OPTIMAL:
        best.bound = max(best.bound, round(solver.objective_value))
    else:
        best.bound = max(best.bound, _ceil(solver.best_objective_bound))

    # Rooms for the best period assignment (the one whose greedy rooms are best so far).
    best_periods: dict[int, list[int]] = defaultdict(list)
    index = {c.id: i for i, c in enumerate(problem.courses)}
    for a in best.solution.assignments:
        best_periods[index[a.course_id]].append(a.day * problem.periods_per_day + a.period)
    deadline = start + time_limit_s
    room_budget = min(deadline - time.monotonic(), max(1.0, 0.1 * time_limit_s))
    _room_phase(problem, best_periods, start_from=best.solution, time_limit_s=room_budget, seed=seed,
                workers=workers, best=best)
    assert best.score is not None
    if best.score.soft_cost > best.bound:
        _lns(problem, deadline=deadline, seed=seed, workers=workers, best=best)

    optimal = best.score.soft_cost <= best.bound
    return result("optimal" if optimal else "feasible")
