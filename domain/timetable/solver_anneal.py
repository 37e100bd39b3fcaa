"""Simulated annealing over single-lecture moves, swaps and Kempe chains, with incremental cost, for course
timetabling.

A move takes one lecture to another (period, room); if that room is taken there, the two lectures swap.
The target room is the lecture's own half of the time, often one its course already uses (towards room
stability), else any room. A share `kempe_rate` (default 2%) of the moves are Kempe-chain interchanges
between two periods (Lü and Hao, "Adaptive Tabu Search for course timetabling", EJOR 200(1), 2010): they
reach timetables that single moves and swaps cannot, where a lecture's target period holds two or more
conflicting lectures. Measured for issue 24 (one chain from one CP-SAT start, 12 s of CPU, seeds 0-2, load
10-14): comp05 428, 380, 534 without, 357, 362, 346 at 2% and 370, 329, 334 at 10%; comp07 42, 45 without,
31, 32 at 2% and 40, 44 at 10% (Kempe moves cost more than single ones: 2% takes costed moves per CPU second
from about 200k to 150k on comp05).
Only moves that keep every hard constraint (availability, one lecture per room, no curriculum or teacher
conflict) are tried, so the timetable stays feasible throughout. (Letting the walk cross conflicts at a
price, as Bellio, Ceschia, Di Gaspero, Schaerf, Urli, Computers & OR 2016, do, was tried for issue 24 and
measured worse here: 30 s from one start, comp05 367 and 796 against 331 and 320, comp07 93 against 67.)
The cost is UD2's (room capacity, min working days, curriculum compactness, room stability; Bonutti,
De Cesco, Di Gaspero, Schaerf, Annals of OR 2012) plus the optional teacher daily limit; a move's delta is
computed from the courses, curriculum days and teacher days it touches, without applying the move
(a curriculum's lectures on a day are a bit mask, and a table gives the isolated lectures of every mask).
The temperature falls geometrically with elapsed time (or moves tried: run's `moves`) from `t_start` to `t_end`
(defaults 8 and 0.03, in cost units: an uphill move of 5, one day short of a course's minimum, is accepted at first
with probability e^(-5/8) = 0.54 and at the end with e^(-5/0.03), never). The defaults were tuned on ITC2007 comp05
and comp07 (issue 24): annealing 30 s from the same start, a start of 1 (the earlier default) gave 445 and 67, a
start of 8 gave 322 and 40. A side chain (SideChain, solver.py's second core) starts at SIDE_T_START (8: a
hotter side chain was measured, see there).
On a move budget (issue 24, comp05, one chain of 16M moves tried, about 25 s of CPU, from each of the CP-SAT starts
of solve's seeds 0-5), the temperatures were within the chains' spread (standard deviation about 15): t_start 8,
18 chains, mean 338.8; 14, 8 chains, 333.1; 20, 6 chains, 334.8; 11-13 (probed per instance: the temperature
accepting the start's mean uphill move with probability 0.17), 7 chains, 337.4. The start mattered more: the three
chains of each start at 8 averaged 314, 328, 358, 340, 350, 342. At 8M moves, t_end 0.3 and 0.6 (6 chains each:
334.7, 336.2) did no better than 0.03 (333.2), though from 0.03 the best was found by 60% of the schedule. The
budget's knee: 2M moves 374 (3 chains), 4M 351, 8M 333, 16M 332 (6 each).
Tried on a move budget and not kept (issue 24, comp05, 8M moves tried, two CP-SAT starts of solve, three chain
seeds each, load 5-15; the plain walk: 333, 312, 323 from one start, 356, 353, 356 from the other, mean 338.8):
swapping with the one lecture blocking the drawn period in whichever room it holds (not only when the drawn room
is its room; 25% more CPU per move tried) 339.7 (314, 318, 327; 371, 371, 337); a Kempe rate of 10% (50% more CPU)
336.0; two halves of 4M, the second reheated to 3 from the first's best (iterated annealing) 337.5; a random walk
of 1M moves at temperature 1e5 first (it forgets the start: the bad start once gave 321) 349.3. The start decides
more than any of these: every variant kept each start's level (about 323 and 353 over the 12 chains of each).
"""

from __future__ import annotations

import functools
import logging
import math
import multiprocessing
import os
import random
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event as ProcessEvent

from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.scoring import Score, score, timetable_of
from domain.timetable.solver_common import Structure, structure_of

log = logging.getLogger(__name__)

_UNAVAILABLE = 1 << 20
"""Added to `blocked` for a course's unavailable period: no count of lectures brings it back to zero."""


@functools.cache
def isolated_counts(periods_per_day: int) -> tuple[int, ...]:
    """Return, for every bit mask of a day's periods (bit t: a lecture in period t), how many are isolated.

    A lecture is isolated when neither neighbouring period of the same day holds one (UD2's curriculum
    compactness, Bonutti et al. 2012); e.g. mask 0b1011 has one isolated lecture (period 3). 2**periods_per_day
    entries: at most 65,536 under SIZE_LIMITS' 16 periods a day.
    """
    return tuple((m & ~(m << 1) & ~(m >> 1)).bit_count() for m in range(1 << periods_per_day))


KEMPE_RATE = 0.02
"""Share of annealing moves that are Kempe-chain interchanges (issue 24, measured: see the module docstring)."""


class Annealer:
    """Anneal a feasible timetable of `problem`; report improvements through `offer`."""

    def __init__(self, problem: Problem, structure: Structure, *, seed: int,
                 offer: Callable[[Solution, Score], None],
                 stop: threading.Event | ProcessEvent | _ParentStop | None) -> None:
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
        # Where the rows of `blocked` start for course i and for every course conflicting with it
        self.rows = [[k * P for k in (i, *self.conflicts[i])] for i in range(n)]
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
        """Build the flat counters of `solution`.

        Curriculum occupancy is a bit mask per (distinct curriculum, day): `q_mask[q * D + d]` has bit t set
        when one of the curriculum's courses has a lecture in period t of day d (a feasible timetable has at
        most one there), so the day's isolated lectures are `isolated_counts(ppd)[mask]`.
        `blocked[i * P + p]` counts what keeps a lecture of course i out of period p: course i's own lecture
        there, each lecture there of a conflicting course, and _UNAVAILABLE if i may not be taught then. A
        lecture of i can move to p when the count is 0, or swap with a conflicting lecture there when it is 1.
        """
        pr, P, R, D, ppd = self.problem, self.P, self.R, self.D, self.ppd
        table, _ = timetable_of(pr, solution)
        items = sorted(table.items())
        self.course = [i for (i, _), _ in items]
        self.period = [p for (_, p), _ in items]
        self.room = [r for _, r in items]
        self.grid = [-1] * (P * R)
        self.blocked = [0 if ok else _UNAVAILABLE for ok in self.avail]
        self.day_cnt = [0] * (self.n * D)
        self.room_cnt = [0] * (self.n * R)
        self.n_days = [0] * self.n
        self.n_rooms = [0] * self.n
        self.bit = [1 << (p % ppd) for p in range(P)]
        self.q_mask = [0] * (len(self.curricula) * D)
        self.t_cnt = [0] * (self.n_teachers * D)
        seen: set[tuple[int, int]] = set()
        for lec, (i, p, r) in enumerate(zip(self.course, self.period, self.room)):
            for q in self.q_of[i]:
                if (q, p) in seen:
                    raise ValueError(f"the start is infeasible: two lectures of one curriculum in period {p}; "
                                     "annealing needs a feasible start")
                seen.add((q, p))
            self.grid[p * R + r] = lec
            self._add(i, p, r)
            for row in self.rows[i]:
                self.blocked[row + p] += 1

    def _add(self, i: int, p: int, r: int) -> None:
        d = p // self.ppd
        k = i * self.D + d
        if not self.day_cnt[k]:
            self.n_days[i] += 1
        self.day_cnt[k] += 1
        k = i * self.R + r
        if not self.room_cnt[k]:
            self.n_rooms[i] += 1
        self.room_cnt[k] += 1
        b = self.bit[p]
        for q in self.q_of[i]:
            self.q_mask[q * self.D + d] |= b
        self.t_cnt[self.teacher[i] * self.D + d] += 1

    def _remove(self, i: int, p: int, r: int) -> None:
        d = p // self.ppd
        k = i * self.D + d
        self.day_cnt[k] -= 1
        if not self.day_cnt[k]:
            self.n_days[i] -= 1
        k = i * self.R + r
        self.room_cnt[k] -= 1
        if not self.room_cnt[k]:
            self.n_rooms[i] -= 1
        b = self.bit[p]
        for q in self.q_of[i]:
            self.q_mask[q * self.D + d] &= ~b
        self.t_cnt[self.teacher[i] * self.D + d] -= 1

    def _solution(self, period: list[int], room: list[int]) -> Solution:
        pr, ppd = self.problem, self.ppd
        return Solution(tuple(Assignment(pr.courses[i].id, pr.rooms[r].id, p // ppd, p % ppd)
                              for i, p, r in zip(self.course, period, room)))

    def _kempe(self, lec: int, p2: int, temperature: float, random_: Callable[[], float]) -> int | None:
        """Try the Kempe-chain interchange of `lec`'s period and `p2`; return its delta if accepted (and applied).

        The chain is the connected part, holding `lec`, of the conflict graph between the lectures in `lec`'s
        period p and those in p2 (same course, curriculum or teacher); all of its p lectures go to p2 and all of
        its p2 lectures to p, so no conflict arises (Lü and Hao, "Adaptive Tabu Search for course timetabling",
        EJOR 200(1), 2010, after Thompson and Dowsland's Kempe chains in exam timetabling). A lecture keeps its
        room where that is free after the interchange, else takes the free room of least capacity cost. The
        delta is the cost of the touched courses, curricula and teachers after minus before, with the moves
        applied to the counters and undone when rejected (Metropolis, at `temperature`). None when the chain
        meets an unavailable period, lacks rooms or is rejected.
        """
        P, R, D = self.P, self.R, self.D
        course, period, room, grid, over = self.course, self.period, self.room, self.grid, self.over
        p = period[lec]
        at = {p: [x for x in grid[p * R:(p + 1) * R] if x >= 0], p2: [x for x in grid[p2 * R:(p2 + 1) * R] if x >= 0]}
        chain = {lec: p2}  # lecture -> the period it goes to
        queue = [lec]
        k = 0
        while k < len(queue):
            x = queue[k]
            k += 1
            cx, to = course[x], chain[x]
            conflicts = self.conflict_sets[cx]
            for y in at[to]:
                if y not in chain:
                    cy = course[y]
                    if cy == cx or cy in conflicts:
                        chain[y] = period[x]
                        queue.append(y)
        avail = self.avail
        for x, to in chain.items():
            if not avail[course[x] * P + to]:
                return None
        # Rooms: own room if free after the interchange, else the free room of least capacity cost.
        target: dict[int, int] = {}
        for q in (p, p2):
            moving = [x for x, to in chain.items() if to == q]
            free = [r for r in range(R) if grid[q * R + r] < 0 or grid[q * R + r] in chain]
            if len(moving) > len(free):
                return None
            free_set = set(free)
            rest = []
            for x in moving:
                if room[x] in free_set:
                    target[x] = room[x]
                    free_set.discard(room[x])
                else:
                    rest.append(x)
            for x in rest:
                r = min(free_set, key=lambda r, i=course[x]: (over[i * R + r], r))
                target[x] = r
                free_set.discard(r)
        courses = {course[x] for x in chain}
        curricula = {q for i in courses for q in self.q_of[i]}
        days = {p // self.ppd, p2 // self.ppd}
        teachers = {self.teacher[i] for i in courses} if self.t_limit is not None else set()
        before = self._part_cost(courses, curricula, teachers, days)
        delta = sum(over[course[x] * R + target[x]] - over[course[x] * R + room[x]] for x in chain)
        for x in chain:
            self._remove(course[x], period[x], room[x])
        for x, to in chain.items():
            self._add(course[x], to, target[x])
        delta += self._part_cost(courses, curricula, teachers, days) - before
        if delta <= 0 or random_() < math.exp(-delta / temperature):
            for x in chain:
                grid[period[x] * R + room[x]] = -1
            blocked, rows = self.blocked, self.rows
            for x, to in chain.items():
                grid[to * R + target[x]] = x
                for row in rows[course[x]]:
                    blocked[row + period[x]] -= 1
                    blocked[row + to] += 1
                period[x], room[x] = to, target[x]
            return delta
        for x, to in chain.items():
            self._remove(course[x], to, target[x])
        for x in chain:
            self._add(course[x], period[x], room[x])
        return None

    def _part_cost(self, courses: set[int], curricula: set[int], teachers: set[int], days: set[int]) -> int:
        """Return the soft cost of `courses` (min working days, room stability), of `curricula` and `teachers`
        on `days` (compactness, daily limit): the part of the cost a Kempe interchange can change."""
        w, D = self.w, self.D
        iso = isolated_counts(self.ppd)
        total = 0
        for i in courses:
            total += w.min_working_days * max(0, self.mwd[i] - self.n_days[i]) + w.room_stability * self.n_rooms[i]
        for q in curricula:
            for d in days:
                total += self.q_weight[q] * iso[self.q_mask[q * D + d]]
        if self.t_limit is not None:
            for t in teachers:
                for d in days:
                    total += self.t_weight * max(0, self.t_cnt[t * D + d] - self.t_limit)
        return total

    # -- search ---------------------------------------------------------------------------------------

    def run(self, start: Solution, *, deadline: float, t_start: float = 8.0, t_end: float = 0.03,
            stall_s: float | None = None, kempe_rate: float = KEMPE_RATE, floor: int = 0,
            moves: int | None = None) -> Solution:
        """Anneal from the feasible `start` until `deadline` (time.monotonic()) or the stop event; return the best.

        `floor` is a proven lower bound of the soft cost (0, or the solver's CP-SAT bound): a walk whose best
        reaches it holds an optimal timetable and stops there (checked with the deadline, every 256 moves).

        With `stall_s`, stop early once the best has not improved for `stall_s` seconds in the cooler second
        part of the schedule (after 40% of the time), leaving the rest of the time to the caller's next phase.

        With `moves`, the schedule runs on a move budget instead of the clock: the temperature falls with the
        share of `moves` tried (moves drawn open or one swap away, as `tried` counts them below) and the walk
        stops once they are tried (or at `deadline`, whichever comes first). A budget makes a walk's result
        independent of the CPU it gets, so variants can be compared on a loaded machine (issue 24).

        `kempe_rate` (0 to 1) is the share of moves that are Kempe-chain interchanges (see `_kempe`), drawn
        uniformly over (lecture, period) pairs as the other moves are.

        After the run, `final` and `final_cost` describe the walk's last state, `iterations` and `evaluated`
        count moves drawn and costed, `tried` the moves `moves` counts, `kempe_tried` the Kempe interchanges tried.

        A move's delta is computed without applying it: capacity from a table, min working days and room
        stability from the day and room counts of the one or two courses moved, compactness from the
        isolated-lecture table of the day masks before and after, for each curriculum whose occupancy changes.
        """
        if not 0.0 <= kempe_rate <= 1.0:
            raise ValueError(f"kempe_rate {kempe_rate} is outside 0 to 1 (a share of the moves)")
        if moves is not None and moves < 1:
            raise ValueError(f"moves {moves} is below 1 (a budget of moves tried)")
        self._load(start)
        pr, rng, P, R, D, ppd = self.problem, self.rng, self.P, self.R, self.D, self.ppd
        cost = score(pr, start).soft_cost
        best_cost, best_period, best_room = cost, list(self.period), list(self.room)
        offered = cost
        began = last_offer = time.monotonic()
        total = max(1e-3, deadline - began)
        temperature = t_start
        n_lec = len(self.course)
        grid, blocked, rows, over = self.grid, self.blocked, self.rows, self.over
        course, period, room = self.course, self.period, self.room
        day_cnt, room_cnt, n_days = self.day_cnt, self.room_cnt, self.n_days
        q_mask, q_of, q_weight, bit = self.q_mask, self.q_of, self.q_weight, self.bit
        iso = isolated_counts(ppd)
        t_cnt, teacher, t_limit, t_weight = self.t_cnt, self.teacher, self.t_limit, self.t_weight
        mwd, conflict_sets = self.mwd, self.conflict_sets
        w_mwd, w_stab = self.w.min_working_days, self.w.room_stability
        day_of = [p // ppd for p in range(P)]
        q_set = [frozenset(qs) for qs in q_of]
        lectures_of: list[list[int]] = [[] for _ in range(self.n)]
        for lec, i in enumerate(course):
            lectures_of[i].append(lec)
        random_ = rng.random
        exp = math.exp
        # One draw u in [0, n_lec * P) picks the lecture u // P and the period u % P together; cell[u] is where
        # that pair's count sits in `blocked`, so the common rejection costs one random number and two lookups.
        # The lectures of a course share one row of ints: at SIZE_LIMITS' 10,000 lectures of 112 periods the table
        # is 1.1M pointers (9 MB), not as many int objects.
        n_draw = n_lec * P
        row_cells = [list(range(i * P, (i + 1) * P)) for i in range(self.n)]
        cell = [u for i in course for u in row_cells[i]]
        only: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}  # i * n + j -> curricula of i alone, of j alone
        n = self.n
        iteration = evaluated = tried = 0
        seen_best, improved_at = best_cost, began
        stall_from = began + 0.4 * total
        kempe = 0
        while True:
            if kempe_rate and random_() < kempe_rate:  # a Kempe interchange besides this round's single move
                lec = int(random_() * n_lec)
                p2 = int(random_() * P)
                if p2 != period[lec]:
                    kempe += 1
                    change = self._kempe(lec, p2, temperature, random_)
                    if change is not None:
                        cost += change
                        if cost < best_cost:
                            best_cost = cost
                            best_period[:] = period
                            best_room[:] = room
            # Draw until the pair is open or one swap away (blocked count at most 1): the common case is a
            # rejection, so this loop does nothing else. Uniform over pairs, as drawing the lecture and then the
            # period is (the move mix of earlier versions).
            u = int(random_() * n_draw)
            while blocked[cell[u]] > 1:
                iteration += 1
                u = int(random_() * n_draw)
            iteration += 1
            tried += 1
            if not tried & 255:
                now = time.monotonic()
                if now >= deadline or best_cost <= floor or (self.stop is not None and self.stop.is_set()):
                    break
                if best_cost < seen_best:
                    seen_best, improved_at = best_cost, now
                elif stall_s is not None and now > stall_from and now - max(improved_at, stall_from) > stall_s:
                    break
                if moves is not None and tried >= moves:
                    break
                frac = (now - began) / total if moves is None else tried / moves
                temperature = t_start * (t_end / t_start) ** frac
                if best_cost < offered and now - last_offer > 0.5:  # report progress twice a second at most
                    offered, last_offer = best_cost, now
                    solution = self._solution(best_period, best_room)
                    self.offer(solution, score(pr, solution))
            lec = u // P
            p2 = u - lec * P
            i = course[lec]
            obstacles = blocked[i * P + p2]
            p, r = period[lec], room[lec]
            x = random_()
            if x < 0.5:
                r2 = r
            elif x < 0.7:  # a room another lecture of the course holds: moves towards room stability
                mates = lectures_of[i]
                r2 = room[mates[int(random_() * len(mates))]]
            else:
                r2 = int(random_() * R)
            other = grid[p2 * R + r2]
            if p2 == p:  # another room in the same period (the one obstacle is the lecture itself)
                if r2 == r:
                    continue
                j = course[other] if other >= 0 else -1
            elif other < 0:
                if obstacles:
                    continue
                j = -1
            else:
                # A swap: with no obstacle p2 is open to i and j's one obstacle must be none either; with one, it
                # must be j, a conflicting course, and i must be j's one obstacle at p.
                j = course[other]
                if obstacles and j not in conflict_sets[i]:
                    continue
                if blocked[j * P + p] != obstacles:
                    continue
            evaluated += 1
            # -- delta --
            delta = over[i * R + r2] - over[i * R + r]
            if j >= 0:
                delta += over[j * R + r] - over[j * R + r2]
            if r != r2 and w_stab:
                k, k2 = i * R + r, i * R + r2
                delta += w_stab * ((room_cnt[k2] == 0) - (room_cnt[k] == 1))
                if j >= 0:
                    k, k2 = j * R + r2, j * R + r
                    delta += w_stab * ((room_cnt[k2] == 0) - (room_cnt[k] == 1))
            if p != p2:
                d, d2 = day_of[p], day_of[p2]
                if d != d2:
                    if w_mwd:
                        n0 = n_days[i]
                        n1 = n0 - (day_cnt[i * D + d] == 1) + (day_cnt[i * D + d2] == 0)
                        if n1 != n0:
                            m = mwd[i]
                            delta += w_mwd * ((m - n1 if m > n1 else 0) - (m - n0 if m > n0 else 0))
                        if j >= 0:
                            n0 = n_days[j]
                            n1 = n0 - (day_cnt[j * D + d2] == 1) + (day_cnt[j * D + d] == 0)
                            if n1 != n0:
                                m = mwd[j]
                                delta += w_mwd * ((m - n1 if m > n1 else 0) - (m - n0 if m > n0 else 0))
                    if t_limit is not None:
                        ti = teacher[i]
                        tj = teacher[j] if j >= 0 else -1
                        if ti != tj:
                            delta += t_weight * ((t_cnt[ti * D + d2] >= t_limit) - (t_cnt[ti * D + d] > t_limit))
                            if tj >= 0:
                                delta += t_weight * ((t_cnt[tj * D + d] >= t_limit)
                                                     - (t_cnt[tj * D + d2] > t_limit))
                # Compactness: curricula of i alone lose p and gain p2; of j alone the reverse. On one day both
                # flip the same two bits; across days, one bit leaves one day's mask and another enters the other's.
                if j >= 0:
                    key = i * n + j
                    pair = only.get(key)
                    if pair is None:
                        qi, qj = q_set[i], q_set[j]
                        pair = only[key] = (tuple(q for q in q_of[i] if q not in qj),
                                            tuple(q for q in q_of[j] if q not in qi))
                    fwd, back = pair
                else:
                    fwd, back = q_of[i], ()
                b1, b2 = bit[p], bit[p2]
                if d == d2:
                    flip = b1 | b2
                    for q in fwd:
                        m = q_mask[q * D + d]
                        c = iso[m ^ flip] - iso[m]
                        if c:
                            delta += q_weight[q] * c
                    for q in back:
                        m = q_mask[q * D + d]
                        c = iso[m ^ flip] - iso[m]
                        if c:
                            delta += q_weight[q] * c
                else:
                    for q in fwd:
                        m, m2 = q_mask[q * D + d], q_mask[q * D + d2]
                        c = iso[m ^ b1] - iso[m] + iso[m2 | b2] - iso[m2]
                        if c:
                            delta += q_weight[q] * c
                    for q in back:
                        m, m2 = q_mask[q * D + d2], q_mask[q * D + d]
                        c = iso[m ^ b2] - iso[m] + iso[m2 | b1] - iso[m2]
                        if c:
                            delta += q_weight[q] * c
            if delta <= 0 or random_() < exp(-delta / temperature):
                self._remove(i, p, r)
                if j >= 0:
                    self._remove(j, p2, r2)
                self._add(i, p2, r2)
                if j >= 0:
                    self._add(j, p, r)
                grid[p * R + r] = other
                grid[p2 * R + r2] = lec
                period[lec], room[lec] = p2, r2
                if j >= 0:
                    period[other], room[other] = p, r
                if p2 != p:
                    for k in rows[i]:
                        blocked[k + p] -= 1
                        blocked[k + p2] += 1
                    if j >= 0:
                        for k in rows[j]:
                            blocked[k + p2] -= 1
                            blocked[k + p] += 1
                cost += delta
                if cost < best_cost:
                    best_cost = cost
                    best_period[:] = period
                    best_room[:] = room
        self.iterations, self.evaluated = iteration, evaluated  # moves drawn, moves feasible and costed
        self.tried = tried  # moves drawn open or one swap away (what `moves` budgets)
        self.kempe_tried = kempe
        self.final_cost = cost  # the walk's last state (checked by the tests)
        self.final = self._solution(period, room)
        best = self._solution(best_period, best_room)
        s = score(pr, best)
        if s.hard_violations or s.soft_cost != best_cost:
            raise RuntimeError(f"annealing lost track: cost {best_cost} but scorer {s.soft_cost}, hard {s.hard}")
        if best_cost < offered:
            self.offer(best, s)
        return best


SIDE_SEED_OFFSET = 1_000_003
"""A side chain anneals with seed `seed + SIDE_SEED_OFFSET`, so its moves differ from the main chain's."""

SIDE_T_START = 8.0
"""A side chain's starting temperature (the main chain's is Annealer.run's default, 8): the same, by measurement.

A hotter side chain (20) looked better on comp05 in short runs from the solver's own starts (one chain of 30 s of
CPU from each of the three CP-SAT starts of seeds 0-2, two chain seeds, load 6-11: mean 335 against 344; the best
of an 8 and a 20 chain 325, 341, 330 against 325, 351, 344) and worse on comp07 (40, 44 against 36, 39). The full
bench on a quiet machine (bench/itc2007.py --time-limit 60 --seeds 3, 2026-12-07) then gave, with 20: comp05 308,
324, 329 (median 324) and comp07 27, 15, 22 (median 22, over the winner's 20); with 8 (2026-12-06): comp05 303,
341, 348 and comp07 15, 13, 17. The side chain's schedule stays a parameter (SideChain.start's t_start).
"""


class EitherStop:
    """A chain's stop signal: the caller's stop event (None: none) is set, or the side chain beside it stopped at
    the floor (an optimal timetable: nothing is left to find)."""

    def __init__(self, stop: threading.Event | None, side: SideChain | None) -> None:
        self.stop, self.side = stop, side

    def is_set(self) -> bool:
        """Return whether the chain should stop."""
        return (self.stop is not None and self.stop.is_set()) or (self.side is not None and self.side.reached_floor())


class _ParentStop:
    """A side chain's stop signal: the parent's stop event is set, or the parent is gone (killed, the child is
    re-parented, so its parent pid changes); an orphaned chain must not anneal on to its deadline."""

    def __init__(self, stop: ProcessEvent, parent_pid: int) -> None:
        self.stop, self.parent_pid = stop, parent_pid

    def is_set(self) -> bool:
        """Return whether the chain should stop."""
        return self.stop.is_set() or os.getppid() != self.parent_pid


def _side_chain(problem: Problem, start: Solution, seed: int, deadline: float, stall_s: float | None,
                stop: ProcessEvent, started: ProcessEvent, conn: Connection, floor: int = 0,
                reached: ProcessEvent | None = None, t_start: float = SIDE_T_START) -> None:
    """Child process entry: anneal `start` until `deadline`, `stop` or a best of `floor` (see Annealer.run); send
    the best Solution, or an error's text.

    `started` is set once the chain is about to anneal (the domain imported, the annealer built); `reached` once
    its best is at `floor` (optimal: the parent's chain can stop too)."""
    try:
        annealer = Annealer(problem, structure_of(problem), seed=seed, offer=lambda solution, s: None,
                            stop=_ParentStop(stop, os.getppid()))
        started.set()
        best = annealer.run(start, deadline=deadline, stall_s=stall_s, floor=floor, t_start=t_start)
        if reached is not None and score(problem, best).soft_cost <= floor:
            reached.set()
        try:
            conn.send(best)
        except OSError:  # the parent is gone or stopped listening
            pass
    except Exception as exc:  # the parent logs it and keeps its own chain's result
        try:
            conn.send(f"{type(exc).__name__}: {exc}")
        except OSError:
            pass
    finally:
        conn.close()


class SideChain:
    """A second annealing chain in a child process, so the caller's second core anneals too.

    The main chain is pure Python and holds one core; with CP-SAT idle meanwhile, a caller allowed two workers has
    a core to spare. The child is started with the 'spawn' method (no fork of a process that may run threads;
    as domain.kernel.offload), anneals the same start with seed `seed + SIDE_SEED_OFFSET` from temperature
    SIDE_T_START until the same deadline (time.monotonic() is system-wide on Linux), and `finish` returns its best.
    Independent chains from one start are the simplest parallel annealing ("multiple independent runs", Aarts and
    Korst, Simulated Annealing and Boltzmann Machines, 1989): the better of two chains is at least as good and
    varies less between seeds; a hotter start makes the two differ more.
    Starting takes about half a second (the child imports the annealer, which imports no OR-Tools, and the caller's
    main module: one importing the solver at its top, as bench/itc2007.py did, costs the child about 2 s of CPU more,
    4-7 s of wall time at load 8), so callers start one only for longer runs.
    """

    def __init__(self, proc: multiprocessing.process.BaseProcess, stop: ProcessEvent, started: ProcessEvent,
                 conn: Connection, reached: ProcessEvent | None = None) -> None:
        self._proc, self._stop, self._started, self._conn = proc, stop, started, conn
        self._reached = reached

    def reached_floor(self) -> bool:
        """Whether the chain stopped at its `floor` (an optimal timetable): the caller's chain may stop too."""
        return self._reached is not None and self._reached.is_set()

    @classmethod
    def start(cls, problem: Problem, start: Solution, *, seed: int, deadline: float,
              stall_s: float | None = None, floor: int = 0, t_start: float = SIDE_T_START) -> SideChain | None:
        """Start a chain annealing `start` from temperature `t_start` until `deadline` (or a best of `floor`:
        Annealer.run); return None where no child process can be started."""
        ctx = multiprocessing.get_context("spawn")
        stop, started, reached = ctx.Event(), ctx.Event(), ctx.Event()
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_side_chain, name="timetable-anneal", daemon=True,
                           args=(problem, start, seed + SIDE_SEED_OFFSET, deadline, stall_s, stop, started, send,
                                 floor, reached, t_start))
        try:
            proc.start()
        except (OSError, AssertionError) as exc:  # AssertionError: a daemonic process may not have children
            log.warning("timetable: no side annealing chain (%s); annealing on one core", exc)
            receive.close()
            return None
        finally:
            send.close()
        return cls(proc, stop, started, receive, reached)

    def wait_started(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` seconds for the chain to start annealing; return whether it has."""
        return self._started.wait(timeout_s)

    def finish(self, timeout_s: float = 5.0) -> Solution | None:
        """Stop the chain and return its best timetable (None if it failed or sent nothing within `timeout_s`)."""
        self._stop.set()
        out: object = None
        try:
            if self._conn.poll(timeout_s):
                out = self._conn.recv()
        except (EOFError, OSError):
            out = None
        finally:
            self._conn.close()
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        if isinstance(out, str):
            log.warning("timetable: side annealing chain failed: %s", out)
        return out if isinstance(out, Solution) else None
