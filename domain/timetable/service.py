"""Timetable use cases: import a problem, store a solver's result, publish a solution, read the timetable.

Services take the session, flush when they need ids and never commit (the entry point owns the transaction).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.timetable import repository as repo
from domain.timetable.itc2007 import parse_ctt
from domain.timetable.models import ProblemSource, Room, TimetableProblem, TimetableSolution
from domain.timetable.problem import Problem, Solution
from domain.timetable.problem import Room as ProblemRoom
from domain.timetable.rules import lessons_moved
from domain.timetable.school import ClassBlock, SchoolClassLoad, SchoolWeek, TeacherAbsence, school_problem
from domain.timetable.scoring import score
from domain.timetable.serialize import (
    assignments_from_json,
    assignments_to_json,
    breakdown_of,
    problem_from_json,
    problem_to_json,
)

if TYPE_CHECKING:  # the solver (OR-Tools, with pandas) is imported by the jobs that solve, not by every reader
    from domain.timetable.solver import SolveResult


async def store_problem(session: AsyncSession, *, problem: Problem, source: ProblemSource) -> TimetableProblem:
    """Store `problem` and return its row (flushed, with an id)."""
    return await repo.add(session, TimetableProblem(name=problem.name[:120], source=source.value, days=problem.days,
                                                    periods_per_day=problem.periods_per_day,
                                                    data=problem_to_json(problem)))


async def import_ctt(session: AsyncSession, *, text: str) -> tuple[TimetableProblem, Problem]:
    """Parse an ITC2007 Track 3 .ctt text and store it; raises InvalidInput naming the bad line."""
    try:
        problem = parse_ctt(text)
    except ValueError as exc:
        raise InvalidInput(f"not a valid ITC2007 .ctt file: {exc}", field="file") from None
    return await store_problem(session, problem=problem, source=ProblemSource.ITC2007), problem


MAX_ROOM_CAPACITY = 10_000


async def create_room(session: AsyncSession, *, code: str, name: str, capacity: int) -> Room:
    """Create a room (code upper-cased); raises Conflict for a taken code, InvalidInput for a bad capacity."""
    if not (1 <= capacity <= MAX_ROOM_CAPACITY):
        raise InvalidInput(f"capacity is the room's seats, 1..{MAX_ROOM_CAPACITY}; got {capacity}", field="capacity")
    if await repo.room_by_code(session, code):
        raise Conflict(f"room code {code.upper()!r} is already used", field="code")
    return await repo.add(session, Room(code=code.upper(), name=name, capacity=capacity))


async def build_school_problem(session: AsyncSession, *, academic_year_id: int | None, week: SchoolWeek,
                               teacher_max_periods_per_day: int | None,
                               teacher_absences: list[TeacherAbsence],
                               class_blocks: list[ClassBlock] | None = None) -> tuple[TimetableProblem, Problem]:
    """Build the timetable problem of an academic year's classes in the school's rooms, store it, return it.

    The year defaults to the current one (academics.timetable_classes). Raises NotFound, or InvalidInput
    naming what makes a timetable impossible (domain.timetable.school.school_problem).
    """
    year, classes = await academics.timetable_classes(session, academic_year_id=academic_year_id)
    rooms = await repo.list_rooms(session)
    loads = [SchoolClassLoad(code=c.class_code, section=c.section_code, teacher=c.teacher_code,
                             weekly_lessons=c.weekly_lessons, students=c.students) for c in classes]
    problem = school_problem(f"{year.name} timetable", classes=loads,
                             rooms=[ProblemRoom(id=r.code, capacity=r.capacity) for r in rooms], week=week,
                             teacher_max_periods_per_day=teacher_max_periods_per_day,
                             teacher_absences=teacher_absences, class_blocks=class_blocks or ())
    return await store_problem(session, problem=problem, source=ProblemSource.SCHOOL), problem


async def list_rooms(session: AsyncSession, *, after_id: int, limit: int, min_capacity: int = 0) -> list[Room]:
    """Return up to `limit + 1` live rooms after `after_id` in id order with at least `min_capacity` seats (the
    extra row tells the caller another page exists)."""
    return await repo.list_rooms(session, after_id=after_id, limit=limit, min_capacity=min_capacity)


async def list_problems(session: AsyncSession, *, after_id: int, limit: int) -> list[TimetableProblem]:
    """Return up to `limit + 1` live stored problems after `after_id`, oldest first (problem_of reads each)."""
    return await repo.list_problems(session, after_id=after_id, limit=limit)


async def get_problem(session: AsyncSession, problem_id: int) -> TimetableProblem:
    """Return the live stored problem; raises NotFound (field problem_id) naming list_timetable_problems."""
    return await repo.get_problem_or_raise(session, problem_id)


async def get_solution(session: AsyncSession, solution_id: int) -> tuple[TimetableSolution, bool]:
    """Return a live stored solution and whether it is its problem's published timetable; raises NotFound
    (field solution_id, or problem_id when its problem was removed)."""
    row = await repo.get_solution_or_raise(session, solution_id)
    problem = await repo.get_problem_or_raise(session, row.problem_id)
    return row, problem.published_solution_id == row.id


async def problem_to_solve(session: AsyncSession, problem_id: int) -> TimetableProblem:
    """Return the live stored problem `problem_id` if a solve may start on it; raises NotFound, or InvalidInput
    (field problem_id) naming what exceeds domain.timetable.problem.SIZE_LIMITS (a problem stored before the
    limits, e.g. an ITC2007 file declaring a million days)."""
    row = await repo.get_problem_or_raise(session, problem_id)
    too_large = problem_of(row).size_problems()
    if too_large:
        raise InvalidInput(f"problem {row.id} is too large to solve: {', '.join(too_large)}", field="problem_id")
    return row


def problem_of(row: TimetableProblem) -> Problem:
    """Return the Problem a stored row holds."""
    return problem_from_json(row.data)


def solution_of(row: TimetableSolution) -> Solution:
    """Return the Solution a stored row holds."""
    return assignments_from_json(row.assignments)


async def resolve_problem(session: AsyncSession, problem_id: int | None) -> TimetableProblem:
    """Return the problem `problem_id`, or the newest problem when it is None; raises NotFound."""
    if problem_id is not None:
        return await repo.get_problem_or_raise(session, problem_id)
    row = await repo.latest_problem(session)
    if row is None:
        raise NotFound("no timetable problem stored yet; build_timetable_problem builds one from the school's "
                       "classes (or `mcs-erp timetable import-ctt FILE` imports one)",
                       field="problem_id")
    return row


async def save_solution(session: AsyncSession, *, problem_row: TimetableProblem, result: SolveResult,
                        job_id: int | None = None) -> TimetableSolution:
    """Store a solver result for `problem_row` (rescored with the pure scorer); raises Conflict with no solution.

    A result without a solution (status infeasible or unknown) is not stored: its explanation is the error.
    """
    if result.solution is None:
        raise Conflict(f"the solver found no timetable ({result.status})"
                       + (f": {result.explanation}" if result.explanation else ""))
    sc = score(problem_of(problem_row), result.solution)
    return await repo.add(session, TimetableSolution(
        problem_id=problem_row.id or 0, job_id=job_id, status=result.status, hard_violations=sc.hard_violations,
        soft_cost=sc.soft_cost, breakdown=json.dumps(breakdown_of(sc)), assignments=assignments_to_json(result.solution),
        seconds=float(result.seconds)))


@dataclass(frozen=True)
class Publication:
    """What publishing a solution would do: the problem, the solution, the current one and lessons that move."""

    problem: TimetableProblem
    solution: TimetableSolution
    current: TimetableSolution | None
    moved: int
    lessons: int


async def check_publication(session: AsyncSession, *, solution_id: int) -> Publication:
    """Compare a solution with its problem's published timetable (nothing written; plans.plan_publish_timetable
    plans the publication); raises NotFound, or Conflict when infeasible."""
    solution = await repo.get_solution_or_raise(session, solution_id)
    if solution.hard_violations:
        raise Conflict(f"solution {solution_id} breaks {solution.hard_violations} hard constraints; only a "
                       "feasible timetable (0 hard violations) can be published")
    problem = await repo.get_problem_or_raise(session, solution.problem_id)
    current = (await repo.get_solution(session, problem.published_solution_id)
               if problem.published_solution_id else None)
    new = solution_of(solution)
    moved = lessons_moved(solution_of(current) if current else None, new)
    return Publication(problem=problem, solution=solution, current=current, moved=moved,
                       lessons=len(new.assignments))


async def publish(session: AsyncSession, *, solution_id: int) -> Publication:
    """Make a solution its problem's current timetable without the gate (tests and scripts that set a school up);
    the publish_timetable tool goes through the gate (plans.plan_publish_timetable). Same rules."""
    pub = await check_publication(session, solution_id=solution_id)
    pub.problem.published_solution_id = pub.solution.id
    bump(pub.problem)
    session.add(pub.problem)
    await session.flush()
    return pub


async def published(session: AsyncSession, *, problem_id: int | None) -> tuple[TimetableProblem, Problem, Solution]:
    """Return a problem and its published timetable; raises NotFound when nothing is published yet."""
    row = await resolve_problem(session, problem_id)
    if row.published_solution_id is None:
        raise NotFound(f"timetable problem {row.id} has no published timetable; solve_timetable then "
                       "publish_timetable first", field="problem_id")
    sol = await repo.get_solution_or_raise(session, row.published_solution_id)
    return row, problem_of(row), solution_of(sol)
