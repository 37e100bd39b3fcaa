"""Simulated annealing over single-lecture moves and swaps, with incremental cost, for course timetabling.

A move takes one lecture to another (period, room); if that room is taken there, the two lectures swap.
Only moves that keep every hard constraint (availability, one lecture per room, no curriculum or teacher
conflict) are tried, so the timetable stays feasible throughout. The cost is UD2's (room capacity, min
working days, curriculum compactness, room stability; Bonutti, De Cesco, Di Gaspero, Schaerf, Annals of
OR 2012) plus the optional teacher daily limit; a move's delta is computed from the courses, curriculum
days and teacher days it touches. The temperature falls geometrically with elapsed time.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable

from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.scoring import Score, score, timetable_of
from domain.timetable.solver_common import Structure


class Annealer:
    """Anneal a feasible timetable of `problem`; report improvements through `offer`."""

    def __init__(self, problem: Problem, structure: Structure, *, seed: int,
                 offer: Callable[[Solution, Score], None], stop: threading.Event | None) -> None:
        self.problem, self.offer, self.stop = problem, offer, stop
        self.rng = random.Random(seed)
        pr = problem
        self.P, self.R, self.D, self.ppd = pr.periods, len(pr.rooms), pr.days, pr.periods_per_day
        n, P = len(pr.courses), self.P
        w = pr.weights
        self.w = w
        unavailable = pr.unavailable
        self.avail = [(c.id, p // self.ppd, p % self.ppd) not in unavailable for c in pr.courses for p in range(P)]
        self.over = [w.room_capacity * max(0, c.students - room.capacity) for c in pr.courses for room in pr.rooms]
        self.mwd = [c.min_working_days for c in pr.courses]
        self.conflicts = [sorted(cs) for cs in structure.conflicts]
        self.conflict_sets = structure.conflicts
        self.curricula = list(structure.curricula)
        self.q_weight = [w.curriculum_compactness * structure.curricula[q] for q in self.curricula]
        q_index = {q: k for k, q in enumerate(self.curricula)}
        self.q_of = [[q_index[q] for q in structure.curricula_of[i]] for i in range(n)]
        teachers = sorted({c.teacher for c in pr.courses})
        t_index = {t: k for k, t in enumerate(teachers)}
        self.teacher = [t_index[c.teacher] for c in pr.courses]
        limit = w.teacher_max_periods_per_day
        self.t_limit = limit.limit if limit is not None and limit.weight else None
        self.t_weight = limit.weight if limit is not None else 0
        self.n_teachers = len(teachers)
        self.n = n

    # -- state ----------------------------------------------------------------------------------------

    def _load(self, solution: Solution) -> None:
        pr, P, R, D = self.problem, self.P, self.R, self.D
        table, _ = timetable_of(pr, solution)
        items = sorted(table.items())
        self.course = [i for (i, _), _ in items]
        self.period = [p for (_, p), _ in items]
        self.room = [r for _, r in items]
        self.grid = [-1] * (P * R)
        self.present = [0] * (self.n * P)
        self.confl = [0] * (self.n * P)
        self.day_cnt = [0] * (self.n * D)
        self.room_cnt = [0] * (self.n * R)
        self.n_days = [0] * self.n
        self.n_rooms = [0] * self.n
        self.q_occ = [0] * (len(self.curricula) * P)
        self.t_cnt = [0] * (self.n_teachers * D)
        for lec, (i, p, r) in enumerate(zip(self.course, self.period, self.room)):
            self.grid[p * R + r] = lec
            self._add(i, p, r)
            for j in self.conflicts[i]:
                self.confl[j * P + p] += 1
        self.pending: list[tuple[int, int]] = []
        self.q_day_cost = [self._day_cost(q, d) for q in range(len(self.curricula)) for d in range(D)]

    def _add(self, i: int, p: int, r: int) -> None:
        P, d = self.P, p // self.ppd
        self.present[i * P + p] = 1
        k = i * self.D + d
        if not self.day_cnt[k]:
            self.n_days[i] += 1
        self.day_cnt[k] += 1
        k = i * self.R + r
        if not self.room_cnt[k]:
            self.n_rooms[i] += 1
        self.room_cnt[k] += 1
        for q in self.q_of[i]:
            self.q_occ[q * P + p] += 1
        self.t_cnt[self.teacher[i] * self.D + d] += 1

    def _remove(self, i: int, p: int, r: int) -> None:
        P, d = self.P, p // self.ppd
        self.present[i * P + p] = 0
        k = i * self.D + d
        self.day_cnt[k] -= 1
        if not self.day_cnt[k]:
            self.n_days[i] -= 1
        k = i * self.R + r
        self.room_cnt[k] -= 1
        if not self.room_cnt[k]:
            self.n_rooms[i] -= 1
        for q in self.q_of[i]:
            self.q_occ[q * P + p] -= 1
        self.t_cnt[self.teacher[i] * self.D + d] -= 1

    def _day_cost(self, q: int, d: int) -> int:
        """Return the compactness cost of curriculum q on day d from its occupancy."""
        occ, ppd = self.q_occ, self.ppd
        base = q * self.P + d * ppd
        isolated, prev = 0, 0
        for k in range(ppd):
            cur = occ[base + k]
            if cur and not prev and not (k + 1 < ppd and occ[base + k + 1]):
                isolated += 1
            prev = cur
        return isolated * self.q_weight[q]

    def _local(self, courses: tuple[int, ...], days: tuple[int, ...], fresh: bool) -> int:
        """Return the cost of `courses` (days and rooms) and of their curricula and teachers on `days`.

        Curriculum-day costs come from the cache unless `fresh`; fresh ones are kept in `self.pending` for
        `_commit` to store once the move is accepted.
        """
        w, D = self.w, self.D
        cost = 0
        qs: set[int] = set()
        for i in courses:
            short = self.mwd[i] - self.n_days[i]
            if short > 0:
                cost += w.min_working_days * short
            cost += w.room_stability * (self.n_rooms[i] - 1)
            qs.update(self.q_of[i])
        cache = self.q_day_cost
        if fresh:
            pending = self.pending = []
            for q in qs:
                for d in days:
                    c = self._day_cost(q, d)
                    pending.append((q * D + d, c))
                    cost += c
        else:
            for q in qs:
                for d in days:
                    cost += cache[q * D + d]
        if self.t_limit is not None:
            for t in {self.teacher[i] for i in courses}:
                for d in days:
                    extra = self.t_cnt[t * D + d] - self.t_limit
                    if extra > 0:
                        cost += self.t_weight * extra
        return cost

    def _commit(self) -> None:
        """Store the curriculum-day costs of the accepted move."""
        cache = self.q_day_cost
        for k, c in self.pending:
            cache[k] = c

    def _solution(self, period: list[int], room: list[int]) -> Solution:
        pr, ppd = self.problem, self.ppd
        return Solution(tuple(Assignment(pr.courses[i].id, pr.rooms[r].id, p // ppd, p % ppd)
                              for i, p, r in zip(self.course, period, room)))

    # -- search ---------------------------------------------------------------------------------------

    def run(self, start: Solution, *, deadline: float, t_start: float = 1.0, t_end: float = 0.05) -> Solution:
        """Anneal from the feasible `start` until `deadline` (time.monotonic()) or the stop event; return the best."""
        self._load(start)
        pr, rng, P, R, ppd = self.problem, self.rng, self.P, self.R, self.ppd
        cost = score(pr, start).soft_cost
        best_cost, best_period, best_room = cost, list(self.period), list(self.room)
        offered = cost
        began = last_offer = time.monotonic()
        total = max(1e-3, deadline - began)
        temperature = t_start
        n_lec = len(self.course)
        grid, present, confl, avail, over = self.grid, self.present, self.confl, self.avail, self.over
        course, period, room = self.course, self.period, self.room
        random_ = rng.random
        randrange = rng.randrange
        iteration = evaluated = 0
        while True:
            iteration += 1
            if not iteration & 1023:
                now = time.monotonic()
                if now >= deadline or (self.stop is not None and self.stop.is_set()):
                    break
                temperature = t_start * (t_end / t_start) ** ((now - began) / total)
                if best_cost < offered and now - last_offer > 0.5:  # report progress twice a second at most
                    offered, last_offer = best_cost, now
                    solution = self._solution(best_period, best_room)
                    self.offer(solution, score(pr, solution))
            lec = randrange(n_lec)
            i, p, r = course[lec], period[lec], room[lec]
            p2 = randrange(P)
            r2 = r if random_() < 0.5 else randrange(R)
            if p2 == p and r2 == r:
                continue
            other = grid[p2 * R + r2]
            if other < 0:
                if p2 != p and (present[i * P + p2] or confl[i * P + p2] or not avail[i * P + p2]):
                    continue
                j = -1
            else:
                j = course[other]
                if j == i:
                    continue
                if p2 != p:
                    if present[i * P + p2] or not avail[i * P + p2] or present[j * P + p] or not avail[j * P + p]:
                        continue
                    clash = 1 if j in self.conflict_sets[i] else 0
                    if confl[i * P + p2] - clash or confl[j * P + p] - clash:
                        continue
            evaluated += 1
            days = (p // ppd,) if p // ppd == p2 // ppd else (p // ppd, p2 // ppd)
            courses = (i,) if j < 0 else (i, j)
            before = self._local(courses, days, False)
            delta = over[i * R + r2] - over[i * R + r]
            self._remove(i, p, r)
            if j >= 0:
                self._remove(j, p2, r2)
                delta += over[j * R + r] - over[j * R + r2]
            self._add(i, p2, r2)
            if j >= 0:
                self._add(j, p, r)
            delta += self._local(courses, days, True) - before
            if delta <= 0 or random_() < math.exp(-delta / temperature):
                grid[p * R + r] = other
                grid[p2 * R + r2] = lec
                period[lec], room[lec] = p2, r2
                if j >= 0:
                    period[other], room[other] = p, r
                if p2 != p:
                    for k in self.conflicts[i]:
                        confl[k * P + p] -= 1
                        confl[k * P + p2] += 1
                    if j >= 0:
                        for k in self.conflicts[j]:
                            confl[k * P + p2] -= 1
                            confl[k * P + p] += 1
                self._commit()
                cost += delta
                if cost < best_cost:
                    best_cost = cost
                    best_period[:] = period
                    best_room[:] = room
            else:
                self._remove(i, p2, r2)
                if j >= 0:
                    self._remove(j, p, r)
                self._add(i, p, r)
                if j >= 0:
                    self._add(j, p2, r2)
        self.iterations, self.evaluated = iteration, evaluated  # moves drawn, moves feasible and costed
        best = self._solution(best_period, best_room)
        s = score(pr, best)
        if s.hard_violations or s.soft_cost != best_cost:
            raise RuntimeError(f"annealing lost track: cost {best_cost} but scorer {s.soft_cost}, hard {s.hard}")
        if best_cost < offered:
            self.offer(best, s)
        return best
