"""Timetable tools: solve a stored problem as a job, read a solution, publish it through the gate, and ask the
published timetable who teaches what when, what a section or a room has, and which rooms are free.

Days and periods count from 0 (day 0 is Monday); a problem imported from ITC2007 keeps the instance's own
course, teacher, room and curriculum ids.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from domain.kernel.actor import Role
from domain.kernel.errors import InvalidInput, NotFound
from domain.timetable import repository as repo
from domain.timetable import service as timetable
from domain.timetable.problem import Problem
from domain.timetable.rules import Lesson, curriculum_lessons, free_rooms, room_lessons, teacher_lessons
from tools.jobs import IdempotencyKey, JobOut, start_job
from tools.registry import Effect, GateLevel, Module, Proposal, ToolContext, Touched
from tools.types import Id, Page, PageInput, ToolInput, ToolOutput, decode_cursor, encode_cursor

# No depends_on yet: these tools read only timetable tables, and a school must be able to disable academics alone
# (tests/tools/test_registry.py). Building a problem from academics data will add depends_on=("academics",).
module = Module("timetable",
                description="Course timetables: solve (CP-SAT, ITC2007 formulation), publish, and look up lessons.")
EVERYONE = frozenset(Role)
PLANNERS = frozenset({Role.ADMIN, Role.REGISTRAR})
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TimetableCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
SOLVE_TIMETABLE = "solve_timetable"  # the job kind; workers/timetable.py registers its handler
ProblemIdField = Field(default=None, description="The timetable problem (default: the newest one).")


class SolveTimetableIn(ToolInput):
    problem_id: Id = Field(description="The timetable problem to solve (`mcs-erp timetable import-ctt` prints it).")
    time_limit_s: int = Field(default=30, ge=1, le=600, description="Seconds the solver searches, 1..600.")
    seed: int = Field(default=0, ge=0, le=2_147_483_647, description="Random seed; same seed, same search.")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="Any unique string (1..100 chars); repeating a call with the same key returns "
                                  "the same job instead of starting another.")


async def _solve_params(session, args: SolveTimetableIn) -> dict[str, Any]:
    row = await repo.get_problem_or_raise(session, args.problem_id)
    return {"problem_id": row.id, "time_limit_s": args.time_limit_s, "seed": args.seed}


@module.tool(effect=Effect.WRITE, roles=PLANNERS, manages_transaction=True)
async def solve_timetable(ctx: ToolContext, args: SolveTimetableIn) -> JobOut:
    """Start a job that timetables a stored problem with the CP-SAT solver within time_limit_s seconds.

    Returns the job at once (status queued). Poll get_job(job_id): while running, progress_message says the best
    soft cost so far; once succeeded, result holds solution_id, hard_violations (0 = feasible), soft_cost and
    best_cost_over_time. Then get_timetable_solution(solution_id) for the breakdown and publish_timetable to
    make it the current timetable. Nothing is published by solving. Soft cost: ITC2007 UD2 weights.
    """
    return await start_job(ctx, tool=SOLVE_TIMETABLE, arguments=json.loads(args.model_dump_json()),
                           kind=SOLVE_TIMETABLE, params_from_session=lambda s: _solve_params(s, args),
                           idempotency_key=args.idempotency_key)


class SolutionIdIn(ToolInput):
    solution_id: Id = Field(description="A stored solution (a succeeded solve_timetable job's result names it).")


class SolutionOut(ToolOutput):
    solution_id: int
    problem_id: int
    job_id: int | None = None
    status: str = Field(description="feasible, optimal (cost equals the proven lower bound).")
    hard_violations: int = Field(description="Broken hard constraints; 0 means the timetable is valid.")
    soft_cost: int = Field(description="Weighted soft cost (ITC2007 UD2 weights); lower is better.")
    breakdown: dict[str, int] = Field(description="Hard violations (hard_*) and weighted soft costs by constraint.")
    lessons: int = Field(description="Lessons (lectures) scheduled.")
    seconds: float = Field(description="Solver wall time in seconds.")
    published: bool = Field(description="Whether this is the problem's current timetable.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_timetable_solution(ctx: ToolContext, args: SolutionIdIn) -> SolutionOut:
    """Get a stored timetable solution: hard violations, soft cost and its breakdown by constraint
    (room_capacity, min_working_days, curriculum_compactness, room_stability, teacher_max_periods_per_day), and
    whether it is the published timetable."""
    row = await repo.get_solution_or_raise(ctx.session, args.solution_id)
    problem = await repo.get_problem_or_raise(ctx.session, row.problem_id)
    return SolutionOut(solution_id=row.id or 0, problem_id=row.problem_id, job_id=row.job_id, status=row.status,
                       hard_violations=row.hard_violations, soft_cost=row.soft_cost,
                       breakdown=json.loads(row.breakdown), lessons=len(json.loads(row.assignments)),
                       seconds=row.seconds, published=problem.published_solution_id == row.id)


class PublishOut(ToolOutput):
    problem_id: int
    solution_id: int
    previous_solution_id: int | None = Field(default=None, description="The timetable this one replaced.")
    lessons: int
    lessons_moved: int = Field(description="Lessons not at the same room, day and period as before.")


async def _propose_publish(ctx: ToolContext, args: SolutionIdIn) -> Proposal:
    plan = await timetable.plan_publish(ctx.session, solution_id=args.solution_id)
    previous = plan.current.id if plan.current else None
    preview = {"problem": plan.problem.name, "problem_id": plan.problem.id, "lessons": plan.lessons,
               "lessons_moved": plan.moved,
               "before": {"published_solution_id": previous,
                          "soft_cost": plan.current.soft_cost if plan.current else None},
               "after": {"published_solution_id": plan.solution.id, "soft_cost": plan.solution.soft_cost}}
    summary = (f"Publish solution {plan.solution.id} as the timetable of {plan.problem.name}: "
               + (f"{plan.moved} of {plan.lessons} lessons move" if previous else
                  f"first timetable, {plan.lessons} lessons"))
    return Proposal(summary=summary, preview=preview,
                    touched=[Touched("timetable_problems", plan.problem.id or 0, plan.problem.version)])


@module.tool(effect=Effect.DESTRUCTIVE, roles=PLANNERS, gate=GateLevel.CONFIRM, propose=_propose_publish)
async def publish_timetable(ctx: ToolContext, args: SolutionIdIn) -> PublishOut:
    """Publish a feasible solution as its problem's current timetable, replacing the published one.

    Goes through the confirmation gate: the preview says how many lessons move compared with the current
    timetable. Schedules (get_teacher_schedule, get_section_timetable, ...) answer from the published one.
    """
    plan = await timetable.publish(ctx.session, solution_id=args.solution_id)
    return PublishOut(problem_id=plan.problem.id or 0, solution_id=plan.solution.id or 0,
                      previous_solution_id=plan.current.id if plan.current else None, lessons=plan.lessons,
                      lessons_moved=plan.moved)


class LessonOut(ToolOutput):
    course: str = Field(description="Course (lesson series) id.")
    teacher: str
    room: str
    day: int = Field(description="0 = Monday.")
    weekday: str
    period: int = Field(description="Period of the day, from 0.")


def _page(lessons: list[Any], args: PageInput, convert, model: type) -> Page:
    start = decode_cursor(args.cursor)
    chunk = lessons[start:start + args.limit]
    more = start + args.limit < len(lessons)
    return Page[model](items=[convert(x) for x in chunk], next_cursor=encode_cursor(start + args.limit) if more else None)


def _lesson(lesson: Lesson) -> LessonOut:
    return LessonOut(course=lesson.course_id, teacher=lesson.teacher, room=lesson.room_id, day=lesson.day,
                     weekday=WEEKDAYS[lesson.day % 7], period=lesson.period)


def _check(found: bool, what: str, value: str, field: str, tool_hint: str) -> None:
    if not found:
        raise NotFound(f"no {what} {value!r} in this timetable problem; {tool_hint}", field=field)


class SectionTimetableIn(PageInput):
    problem_id: Id | None = ProblemIdField
    curriculum: TimetableCode = Field(description="Curriculum id: the courses one section attends (e.g. q001).")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_section_timetable(ctx: ToolContext, args: SectionTimetableIn) -> Page[LessonOut]:
    """List the published lessons of one section's curriculum, by day and period (paginated)."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    _check(any(c.id == args.curriculum for c in problem.curricula), "curriculum", args.curriculum, "curriculum",
           "curricula are the ids of the problem's sections")
    return _page(curriculum_lessons(problem, solution, curriculum_id=args.curriculum), args, _lesson, LessonOut)


def _day_of(problem: Problem, *, weekday: str | None, on: dt.date | None) -> int | None:
    if weekday is not None and on is not None:
        raise InvalidInput("give weekday or date, not both", field="date")
    day = WEEKDAYS.index(weekday) if weekday is not None else (on.weekday() if on is not None else None)
    if day is not None and day >= problem.days:
        raise InvalidInput(f"the timetable has {problem.days} days (monday..{WEEKDAYS[problem.days - 1]}); "
                           f"{WEEKDAYS[day]} has no lessons", field="weekday" if weekday else "date")
    return day


class TeacherScheduleIn(PageInput):
    problem_id: Id | None = ProblemIdField
    teacher: TimetableCode = Field(description="Teacher id as the timetable names them (an employee code or "
                                               "the ITC2007 teacher id, e.g. t000).")
    weekday: Weekday | None = Field(default=None, description="Only this weekday.")
    date: dt.date | None = Field(default=None, description="Only the weekday of this calendar date.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_teacher_schedule(ctx: ToolContext, args: TeacherScheduleIn) -> Page[LessonOut]:
    """List a teacher's published lessons, for the whole week or one weekday (or the weekday of a date), by day
    and period. Answers "what does this teacher teach on Tuesday"."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    _check(any(c.teacher == args.teacher for c in problem.courses), "teacher", args.teacher, "teacher",
           "teacher ids are those of the problem's courses")
    day = _day_of(problem, weekday=args.weekday, on=args.date)
    return _page(teacher_lessons(problem, solution, teacher=args.teacher, day=day), args, _lesson, LessonOut)


class RoomScheduleIn(PageInput):
    problem_id: Id | None = ProblemIdField
    room: TimetableCode = Field(description="Room id as the timetable names it.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_room_schedule(ctx: ToolContext, args: RoomScheduleIn) -> Page[LessonOut]:
    """List the published lessons held in one room, by day and period (paginated)."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    _check(args.room in problem.room_by_id, "room", args.room, "room", "find_free_rooms lists rooms")
    return _page(room_lessons(problem, solution, room_id=args.room), args, _lesson, LessonOut)


class FreeRoomsIn(PageInput):
    problem_id: Id | None = ProblemIdField
    weekday: Weekday = Field(description="The weekday.")
    period: int = Field(ge=0, le=23, description="Period of the day, from 0.")
    min_capacity: int = Field(default=0, ge=0, le=100_000, description="Seats the room must have at least.")


class RoomOut(ToolOutput):
    room: str
    capacity: int = Field(description="Seats.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def find_free_rooms(ctx: ToolContext, args: FreeRoomsIn) -> Page[RoomOut]:
    """List the rooms no published lesson uses in one period of a weekday, with at least min_capacity seats,
    by room id (paginated)."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    day = _day_of(problem, weekday=args.weekday, on=None)
    if args.period >= problem.periods_per_day:
        raise InvalidInput(f"period {args.period} is past the last period of the day "
                           f"({problem.periods_per_day - 1}); periods count from 0", field="period")
    rooms = free_rooms(problem, solution, day=day or 0, period=args.period, min_capacity=args.min_capacity)
    return _page(rooms, args, lambda r: RoomOut(room=r.id, capacity=r.capacity), RoomOut)
