"""Large-neighbourhood search for course timetabling: small CP-SAT sub-models over freed lectures only.

Each iteration frees a few dozen lectures (the rest of the timetable stays as it is), builds a CP-SAT model
over the freed lectures alone, the fixed ones entering as constants, and re-solves it for at most about a
second from the current timetable as hint. A result that the scorer (domain.timetable.scoring) rates no
worse than the current timetable replaces it, so equal-cost moves walk plateaus. Neighbourhoods
(Bonutti et al. 2012 describe the UD2 costs they target):

- curricula: every lecture of the courses of a few connected curricula, to any period;
- days: the lectures of a few connected curricula within two days, to periods of those days;
- periods: every lecture in a few periods, to those periods (swaps and room changes).

Seed courses are drawn mostly among the courses that currently cost something. The number of freed
lectures adapts: it grows while sub-models are solved to optimality well within their time and shrinks
when they are not.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable

from ortools.sat.python import cp_model

from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.scoring import Score, score, timetable_of
from domain.timetable.solver_common import (
    Structure,
    compactness_terms,
    min_working_days_terms,
    run_stoppable,
    teacher_day_terms,
)

Table = dict[tuple[int, int], int]  # (course index, linear period) -> room index
Targets = Callable[[int], list[int]]  # course index -> periods its freed lectures may take


class Lns:
    """Improve a feasible timetable by re-solving small neighbourhoods until a deadline or a stop event."""

    def __init__(self, problem: Problem, structure: Structure, *, seed: int, workers: int,
                 offer: Callable[[Solution, Score], None], stop: threading.Event | None,
                 sub_time_s: float = 1.0) -> None:
        self.problem, self.structure = problem, structure
        self.rng = random.Random(seed)
        self.workers, self.offer, self.stop, self.sub_time_s = workers, offer, stop, sub_time_s
        ppd, R = problem.periods_per_day, len(problem.rooms)
        unavailable = problem.unavailable
        self.available = [frozenset(p for p in range(problem.periods)
                                    if (c.id, p // ppd, p % ppd) not in unavailable) for c in problem.courses]
        self.over = [[max(0, c.students - problem.rooms[r].capacity) for r in range(R)] for c in problem.courses]
        self.capacity = [r.capacity for r in problem.rooms]
        self.room_choices = 2
        self.patience_s = 0.25
        self.size = min(30.0, problem.total_lectures / 2)  # freed lectures per neighbourhood, adapted
        self.table: Table = {}
        self.cost = 0
        self.stats: Counter[str] = Counter()  # iterations and improvements per neighbourhood, for tuning

    # -- neighbourhoods -------------------------------------------------------------------------------

    def _penalised(self) -> list[int]:
        """Return the courses that currently cost something (capacity, days, isolation, rooms)."""
        pr, ppd = self.problem, self.problem.periods_per_day
        periods: dict[int, list[int]] = defaultdict(list)
        rooms: dict[int, set[int]] = defaultdict(set)
        out: set[int] = set()
        for (i, p), r in self.table.items():
            periods[i].append(p)
            rooms[i].add(r)
            if self.over[i][r]:
                out.add(i)
        for i, ps in periods.items():
            if len(rooms[i]) > 1 or len({p // ppd for p in ps}) < pr.courses[i].min_working_days:
                out.add(i)
        for members in self.structure.curricula:
            busy = {p: i for i in members for p in periods.get(i, ())}
            for p, i in busy.items():
                before = p % ppd and (p - 1) in busy
                after = p % ppd != ppd - 1 and (p + 1) in busy
                if not before and not after:
                    out.add(i)
        return sorted(out)

    def _seed_course(self, penalised: list[int]) -> int:
        if penalised and self.rng.random() < 0.8:
            return self.rng.choice(penalised)
        return self.rng.randrange(len(self.problem.courses))

    def _grow(self, seed: int, count: Callable[[int], int], limit: int) -> set[int]:
        """Return courses reached from `seed` through shared curricula (or teachers) until `limit` lectures."""
        rng, st = self.rng, self.structure
        chosen = {seed}
        total = count(seed)
        frontier = [seed]
        while total < limit:
            groups = [q for i in frontier for q in st.curricula_of[i]]
            groups += [st.teachers[self.problem.courses[i].teacher] for i in frontier]
            new = [i for q in groups for i in q if i not in chosen]
            if not new:
                new = [i for i in range(len(self.problem.courses)) if i not in chosen and count(i)]
                if not new:
                    break
            i = rng.choice(new)
            # Take the whole curriculum of the chosen course when it fits, else the course alone.
            q = rng.choice(st.curricula_of[i]) if st.curricula_of[i] else frozenset((i,))
            for j in sorted(q - chosen):
                if total >= limit and j != i:
                    break
                chosen.add(j)
                total += count(j)
            frontier = sorted(chosen)
        return chosen

    def _neighbourhood(self) -> tuple[set[tuple[int, int]], Targets, str]:
        """Return freed lectures, their target periods and the neighbourhood's name."""
        pr, rng, ppd = self.problem, self.rng, self.problem.periods_per_day
        limit = max(4, round(self.size))
        penalised = self._penalised()
        periods_of: dict[int, list[int]] = defaultdict(list)
        for i, p in self.table:
            periods_of[i].append(p)
        kind = rng.random()
        if kind < 0.45:
            chosen = self._grow(self._seed_course(penalised), lambda i: len(periods_of[i]), limit)
            freed = {(i, p) for i in chosen for p in periods_of[i]}
            every = list(range(pr.periods))
            return freed, lambda i: every, "curricula"
        if kind < 0.75 and pr.days > 1:
            seed = self._seed_course(penalised)
            days = {p // ppd for p in periods_of[seed]} or {rng.randrange(pr.days)}
            days = {rng.choice(sorted(days))}
            days.add(rng.choice([d for d in range(pr.days) if d not in days]))
            in_days = {i: [p for p in ps if p // ppd in days] for i, ps in periods_of.items()}
            chosen = self._grow(seed, lambda i: len(in_days.get(i, ())), limit)
            freed = {(i, p) for i in chosen for p in in_days.get(i, ())}
            span = [p for p in range(pr.periods) if p // ppd in days]
            return freed, lambda i: span, "days"
        per_period = max(1.0, len(self.table) / pr.periods)
        k = max(2, min(pr.periods, round(limit / per_period)))
        seed = self._seed_course(penalised)
        picked = set(rng.sample(periods_of[seed], min(len(periods_of[seed]), k // 2 + 1)))
        rest = [p for p in range(pr.periods) if p not in picked]
        picked.update(rng.sample(rest, max(0, min(len(rest), k - len(picked)))))
        freed = {(i, p) for (i, p) in self.table if p in picked}
        span = sorted(picked)
        return freed, lambda i: span, "periods"

    # -- sub-model ------------------------------------------------------------------------------------

    def _rooms(self, i: int, free: list[int], homes: set[int]) -> list[int]:
        """Return the rooms a lecture of course i may take among `free`: its course's current rooms and the
        best fits (the two smallest rooms that hold it, or the two largest if none does)."""
        fits = [r for r in free if not self.over[i][r]]
        if fits:
            best = sorted(fits, key=lambda r: self.capacity[r])[:self.room_choices]
        else:
            best = sorted(free, key=lambda r: -self.capacity[r])[:self.room_choices]
        return sorted({*best, *(r for r in free if r in homes)})

    def _improve(self, freed: set[tuple[int, int]], targets: Targets, time_s: float) -> tuple[Table | None, bool]:
        """Re-solve the freed lectures; return (new table or None, solved to optimality)."""
        pr, st = self.problem, self.structure
        w = pr.weights
        R = range(len(pr.rooms))
        m = cp_model.CpModel()
        fixed = {k: r for k, r in self.table.items() if k not in freed}
        busy = {(p, r) for (_, p), r in fixed.items()}
        present: dict[int, set[int]] = defaultdict(set)
        for i, p in fixed:
            present[p].add(i)
        need = Counter(i for i, _ in freed)
        homes: dict[int, set[int]] = defaultdict(set)
        for (i, _), r in self.table.items():
            if i in need:
                homes[i].add(r)
        x: dict[tuple[int, int], cp_model.IntVar] = {}
        y: dict[tuple[int, int, int], cp_model.IntVar] = {}
        by_room: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        for i in sorted(need):
            conflicts, own = st.conflicts[i], []
            for p in targets(i):
                if p not in self.available[i] or (i, p) in fixed or not conflicts.isdisjoint(present[p]):
                    continue
                rooms = self._rooms(i, [r for r in R if (p, r) not in busy], homes[i])
                if not rooms:
                    continue
                xv = x[i, p] = m.new_bool_var(f"x_{i}_{p}")
                ys = []
                for r in rooms:
                    v = y[i, p, r] = m.new_bool_var(f"y_{i}_{p}_{r}")
                    by_room[p, r].append(v)
                    ys.append(v)
                m.add(sum(ys) == xv)
                own.append(xv)
            m.add(sum(own) == need[i])
        for vs in by_room.values():
            if len(vs) > 1:
                m.add_at_most_one(vs)
        groups = {q for i in need for q in st.curricula_of[i]}
        teachers = {st.teachers[pr.courses[i].teacher] for i in need}
        for members in groups | teachers:
            free = [i for i in members if i in need]
            if len(free) < 2:
                continue
            for p in range(pr.periods):
                vs = [x[i, p] for i in free if (i, p) in x]
                if len(vs) > 1:
                    m.add_at_most_one(vs)

        def occ(i: int, p: int) -> cp_model.LinearExprT | int:
            v = x.get((i, p))
            if v is not None:
                return v
            return 1 if (i, p) in fixed else 0

        terms: list[cp_model.LinearExprT] = []
        if w.room_capacity:
            terms += [w.room_capacity * self.over[i][r] * v for (i, _, r), v in y.items() if self.over[i][r]]
        if w.room_stability:
            home: dict[int, set[int]] = defaultdict(set)
            for (i, _), r in fixed.items():
                if i in need:
                    home[i].add(r)
            uses: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
            for (i, _, r), v in y.items():
                if r not in home[i]:
                    uses[i, r].append(v)
            for (i, r), vs in uses.items():
                u = m.new_bool_var(f"u_{i}_{r}")
                for v in vs:
                    m.add_implication(v, u)
                terms.append(w.room_stability * u)
        terms += min_working_days_terms(m, pr, sorted(need), occ)
        terms += compactness_terms(m, pr, [(q, st.curricula[q]) for q in sorted(groups, key=min)], occ)
        terms += teacher_day_terms(m, pr, sorted(teachers, key=min), occ)
        m.minimize(sum(terms))
        for (i, p, r), v in y.items():
            m.add_hint(v, self.table.get((i, p)) == r and (i, p) in freed)
        for (i, p), v in x.items():
            m.add_hint(v, (i, p) in freed)

        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = time_s
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = self.rng.randrange(1 << 30)
        # Stop a sub-solve that has found nothing better for a while: proofs are slow, iterations cheap.
        last = [time.monotonic()]

        class Callback(cp_model.CpSolverSolutionCallback):
            def on_solution_callback(self) -> None:
                last[0] = time.monotonic()

        status = run_stoppable(solver, m, Callback(), stop=self.stop, poll_s=0.02,
                               until=lambda: time.monotonic() - last[0] > self.patience_s)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, False
        table = dict(fixed)
        for (i, p, r), v in y.items():
            if solver.boolean_value(v):
                table[i, p] = r
        return table, status == cp_model.OPTIMAL

    # -- loop -----------------------------------------------------------------------------------------

    def _solution(self, table: Table) -> Solution:
        ppd, pr = self.problem.periods_per_day, self.problem
        return Solution(tuple(Assignment(pr.courses[i].id, pr.rooms[r].id, p // ppd, p % ppd)
                              for (i, p), r in sorted(table.items())))

    def run(self, start: Solution, *, deadline: float) -> None:
        """Search from the feasible `start` until `deadline` (time.monotonic()) or the stop event."""
        self.table, _ = timetable_of(self.problem, start)
        self.cost = score(self.problem, start).soft_cost
        while not (self.stop is not None and self.stop.is_set()):
            budget = min(self.sub_time_s, deadline - time.monotonic())
            if budget < 0.1 or self.cost == 0:
                return
            freed, targets, kind = self._neighbourhood()
            if not freed:
                continue
            began = time.monotonic()
            table, optimal = self._improve(freed, targets, budget)
            took = time.monotonic() - began
            self.stats[kind] += 1
            self.stats[f"{kind} optimal"] += optimal
            if optimal and took < 0.5 * budget:
                self.size = min(self.size * 1.05, len(self.table) / 2)
            elif not optimal:
                self.size = max(8.0, self.size * 0.93)
            if table is None:
                continue
            solution = self._solution(table)
            s = score(self.problem, solution)
            if s.hard_violations or len(table) != len(self.table):
                raise RuntimeError(f"LNS sub-model produced hard violations {s.hard}: modelling bug")
            if s.soft_cost <= self.cost:
                if s.soft_cost < self.cost:
                    self.stats[f"{kind} better"] += 1
                    self.offer(solution, s)
                self.table, self.cost = table, s.soft_cost
