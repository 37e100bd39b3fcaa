"""CP-SAT pieces shared by the timetable models: conflict structure, day-based soft terms, stoppable solves.

The soft terms are UD2's min working days and curriculum compactness (Bonutti, De Cesco, Di Gaspero,
Schaerf, "Benchmarking curriculum-based course timetabling", Annals of OR 2012) and the school extension
`teacher_max_periods_per_day`. Each builder reads the timetable through an `Occupancy`: for course index i
and linear period p, a 0/1 CP-SAT expression (the model decides) or an int 0/1 (fixed). The period model
passes its x[i, p]; an LNS sub-model passes its variables for freed lectures and constants for the rest.
Terms whose value cannot change (all their inputs constant) are left out: they do not move the optimum.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.timetable.problem import Problem

if TYPE_CHECKING:  # annotations only: the annealer's child process (Structure) imports no OR-Tools, with pandas
    from ortools.sat.python import cp_model

Occupancy = Callable[[int, int], "cp_model.LinearExprT | int"]


@dataclass(frozen=True)
class Structure:
    """Who conflicts with whom, by course index.

    `curricula` maps each distinct curriculum course set to how many curricula have it (identical curricula
    constrain alike and cost alike, so each set is modelled once with that multiplicity); `teachers` maps a
    teacher to their courses; `conflicts[i]` holds the courses sharing a curriculum or teacher with i, and
    `curricula_of[i]` the distinct course sets holding i.
    """

    curricula: dict[frozenset[int], int]
    teachers: dict[str, frozenset[int]]
    conflicts: tuple[frozenset[int], ...]
    curricula_of: tuple[tuple[frozenset[int], ...], ...]

    @property
    def groups(self) -> list[frozenset[int]]:
        """Return every course set whose members must fall in distinct periods (curricula, then teachers)."""
        return [*self.curricula, *self.teachers.values()]


def structure_of(problem: Problem) -> Structure:
    """Return the conflict structure of `problem`."""
    index = {c.id: i for i, c in enumerate(problem.courses)}
    curricula: dict[frozenset[int], int] = defaultdict(int)
    for q in problem.curricula:
        curricula[frozenset(index[cid] for cid in q.course_ids)] += 1
    teachers: dict[str, set[int]] = defaultdict(set)
    for i, c in enumerate(problem.courses):
        teachers[c.teacher].add(i)
    conflicts: list[set[int]] = [set() for _ in problem.courses]
    of: list[list[frozenset[int]]] = [[] for _ in problem.courses]
    for members in curricula:
        for i in members:
            conflicts[i] |= members
            of[i].append(members)
    for members in teachers.values():
        for i in members:
            conflicts[i] |= members
    for i, cs in enumerate(conflicts):
        cs.discard(i)
    return Structure(curricula=dict(curricula), teachers={t: frozenset(ms) for t, ms in teachers.items()},
                     conflicts=tuple(frozenset(cs) for cs in conflicts), curricula_of=tuple(tuple(q) for q in of))


def _split(values: Iterable[cp_model.LinearExprT | int]) -> tuple[int, list[cp_model.LinearExprT]]:
    """Return the constant part and the variable parts of 0/1 occupancies."""
    const, parts = 0, []
    for v in values:
        if isinstance(v, int):
            const += v
        else:
            parts.append(v)
    return const, parts


def min_working_days_terms(m: cp_model.CpModel, problem: Problem, courses: Iterable[int],
                           occ: Occupancy) -> list[cp_model.LinearExprT]:
    """Return weighted days-short terms of `courses`: one day indicator per day the model decides."""
    w, ppd = problem.weights.min_working_days, problem.periods_per_day
    terms: list[cp_model.LinearExprT] = []
    if not w:
        return terms
    for i in courses:
        mwd = problem.courses[i].min_working_days
        used_const, indicators = 0, []
        for d in range(problem.days):
            const, parts = _split(occ(i, p) for p in range(d * ppd, (d + 1) * ppd))
            if const:
                used_const += 1
            elif parts:
                z = m.new_bool_var(f"day_{i}_{d}")
                m.add(z <= sum(parts))
                indicators.append(z)
        need = mwd - used_const
        if need <= 0 or not indicators:
            continue
        short = m.new_int_var(0, need, f"short_{i}")
        m.add(short >= need - sum(indicators))
        terms.append(w * short)
    return terms


def compactness_terms(m: cp_model.CpModel, problem: Problem, curricula: Iterable[tuple[frozenset[int], int]],
                      occ: Occupancy) -> list[cp_model.LinearExprT]:
    """Return weighted isolated-lecture indicators of (course set, multiplicity) curricula, per period.

    A curriculum's courses are in distinct periods (hard), so its occupancy of a period is 0 or 1 and one
    boolean per period says "a lecture here with no curriculum lecture just before or after on that day".
    """
    w, P, ppd = problem.weights.curriculum_compactness, problem.periods, problem.periods_per_day
    terms: list[cp_model.LinearExprT] = []
    if not w:
        return terms
    for members, multiplicity in curricula:
        split = [_split(occ(i, p) for i in members) for p in range(P)]
        for p, (const, parts) in enumerate(split):
            if not const and not parts:
                continue
            near = [split[q] for q in (p - 1, p + 1) if 0 <= q < P and q // ppd == p // ppd]
            if any(c for c, _ in near):
                continue  # a fixed neighbour: never isolated
            near_parts = [v for _, vs in near for v in vs]
            if not parts and not near_parts:
                continue  # constant
            iso = m.new_bool_var(f"iso_{min(members)}_{p}")
            m.add(iso >= const + sum(parts) - sum(near_parts))
            terms.append(w * multiplicity * iso)
    return terms


def teacher_day_terms(m: cp_model.CpModel, problem: Problem, teachers: Iterable[frozenset[int]],
                      occ: Occupancy) -> list[cp_model.LinearExprT]:
    """Return weighted excess-lecture terms of the school extension `teacher_max_periods_per_day`."""
    limit, ppd = problem.weights.teacher_max_periods_per_day, problem.periods_per_day
    terms: list[cp_model.LinearExprT] = []
    if limit is None or not limit.weight:
        return terms
    for members in teachers:
        for d in range(problem.days):
            const, parts = _split(occ(i, p) for i in members for p in range(d * ppd, (d + 1) * ppd))
            if not parts or const + len(parts) <= limit.limit:
                continue
            e = m.new_int_var(0, const + len(parts) - limit.limit, f"tday_{min(members)}_{d}")
            m.add(e >= const + sum(parts) - limit.limit)
            terms.append(limit.weight * e)
    return terms


def run_stoppable(solver: cp_model.CpSolver, model: cp_model.CpModel,
                  callback: cp_model.CpSolverSolutionCallback | None = None, *,
                  stop: threading.Event | None = None, until: Callable[[], bool] | None = None,
                  poll_s: float = 0.05) -> cp_model.CpSolverStatus:
    """Solve `model`, stopping the search within about `poll_s` seconds once `stop` is set or `until()` holds.

    A watcher thread polls both and calls `solver.stop_search()`; the solve then returns its best so far.
    """
    if stop is None and until is None:
        return solver.solve(model, callback)
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(poll_s):
            if (stop is not None and stop.is_set()) or (until is not None and until()):
                solver.stop_search()
                return

    watcher = threading.Thread(target=watch, name="cp-sat-watcher", daemon=True)
    watcher.start()
    try:
        return solver.solve(model, callback)
    finally:
        finished.set()
        watcher.join()


def seconds_left(deadline: float) -> float:
    """Return the seconds until `deadline` (a time.monotonic() value), never negative."""
    return max(0.0, deadline - time.monotonic())
