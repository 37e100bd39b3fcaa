"""Timetable tools: solve a stored problem as a job, read a solution, publish it through the gate, and ask the
published timetable who teaches what when, what a section or a room has, and which rooms are free.

Days and periods count from 0 (day 0 is Monday); a problem imported from ITC2007 keeps the instance's own
course, teacher, room and curriculum ids.
"""

from __future__ import annotations

import base64
import datetime as dt
import difflib
import json
from collections.abc import Awaitable
from zoneinfo import ZoneInfo
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import service as hr
from domain.kernel.actor import STAFF_ROLES, Actor, Role
from domain.kernel.errors import InvalidInput, NotFound
from domain.kernel.plan import Plan
from domain.kernel.settings import current_settings
from domain.kernel.tenants import tenant_in_use
from domain.timetable import plans
from domain.timetable import service as timetable
from domain.timetable.problem import Problem
from domain.timetable.rules import Lesson, curriculum_lessons, free_rooms, room_lessons, teacher_lessons
from domain.timetable.schemas import (
    CalendarOut,
    CoverLoadOut,
    CoverOut,
    CoverPublishedOut,
    FeedOut,
    LessonOut,
    PrintedTimetableOut,
    PublishOut,
    RoomOut,
    RoomRead,
    SolutionOut,
    TimetableProblemOut,
    problem_out,
    room_read,
)
from domain.timetable.school import ClassBlock, SchoolWeek, TeacherAbsence
from tools.jobs import IdempotencyKey, JobKind, JobOut, WaitSeconds, start_job
from tools.references import AcademicYearRef, TimetableFeedRef, TimetableProblemRef, TimetableSolutionRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import Code, Name, Page, PageInput, ToolInput, decode_cursor, encode_cursor, page_of

# Depends on academics: a school's timetable problem is built from its classes, sections and teachers.
module = Module("timetable", depends_on=("academics",),
                description="Rooms and course timetables: build from the school's classes (or import ITC2007), "
                            "solve (CP-SAT), publish, and look up lessons.")
EVERYONE = STAFF_ROLES  # every member of staff; guardians reach the family tools only
PLANNERS = frozenset({Role.ADMIN, Role.REGISTRAR})
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TimetableCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
ProblemIdField = Field(default=None, description="omitted: the newest problem.")


# ---------------------------------------------------------------- rooms and problems


class CreateRoomIn(ToolInput):
    code: Code = Field(description="e.g. R101 or LAB1 (stored upper-case).")
    name: Name
    capacity: int = Field(ge=1, le=10_000, description="Seats.")


@module.tool(effect=Effect.WRITE, roles=PLANNERS)
async def create_room(ctx: ToolContext, args: CreateRoomIn) -> RoomRead:
    """Create a teaching room with its seats; build_timetable_problem places lessons in the school's rooms."""
    return room_read(await timetable.create_room(ctx.session, code=args.code, name=args.name,
                                                  capacity=args.capacity))


class ListRoomsIn(PageInput):
    min_capacity: int = Field(default=0, ge=0, le=10_000)


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def list_rooms(ctx: ToolContext, args: ListRoomsIn) -> Page[RoomRead]:
    """List the school's rooms."""
    rows = await timetable.list_rooms(ctx.session, after_id=args.after_id(), limit=args.limit,
                                      min_capacity=args.min_capacity)
    page, cursor = page_of(rows, args.limit)
    return Page[RoomRead](items=[room_read(r) for r in page], next_cursor=cursor)


class TeacherAbsenceIn(ToolInput):
    teacher: TimetableCode = Field(description="Employee code of the teacher, e.g. E0042.")
    weekday: Weekday
    period: int = Field(ge=0, le=15, description="Period of the day, from 0.")


class ClassBlockIn(ToolInput):
    class_code: TimetableCode = Field(description="e.g. 7A-PE.")
    weekday: Weekday
    period: int = Field(ge=0, le=15, description="Period of the day, from 0.")


class BuildTimetableProblemIn(ToolInput):
    academic_year_id: AcademicYearRef | None = Field(default=None, description="omitted: the current one.")
    days: int = Field(default=5, ge=1, le=7, description="Teaching days a week from Monday.")
    periods_per_day: int = Field(default=7, ge=1, le=16)
    starts_at: str = Field(default="08:00", max_length=5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                           examples=["08:00"], description="The first period's start, HH:MM (24-hour).")
    period_minutes: int = Field(default=45, ge=10, le=240)
    break_minutes: int = Field(default=5, ge=0, le=120, description="Minutes between two periods.")
    teacher_max_periods_per_day: int | None = Field(
        default=6, ge=1, le=16, description="Soft limit on one teacher's periods a day: each period beyond it "
                                            "costs 5 (null: no limit).")
    teacher_absences: list[TeacherAbsenceIn] = Field(
        default_factory=list, max_length=2000, description="Periods a teacher cannot teach.")
    class_blocks: list[ClassBlockIn] = Field(
        default_factory=list, max_length=2000, description="Periods a class's lessons may not take, "
                                                           "e.g. no PE in the last period.")


@module.tool(effect=Effect.WRITE, roles=PLANNERS)
async def build_timetable_problem(ctx: ToolContext, args: BuildTimetableProblemIn) -> TimetableProblemOut:
    """Build a timetable problem from the school's data: each class of the academic year with its lessons a week,
    teacher and section, in the school's rooms, over days x periods_per_day; teacher_absences and class_blocks rule
    periods out. Then solve_timetable(problem_id). Refuses data no timetable can satisfy, naming the section, teacher or
    class."""
    week = SchoolWeek(days=args.days, periods_per_day=args.periods_per_day,
                      starts_at=dt.time.fromisoformat(args.starts_at),
                      period_minutes=args.period_minutes, break_minutes=args.break_minutes)
    for a in args.teacher_absences:
        if WEEKDAYS.index(a.weekday) >= args.days or a.period >= args.periods_per_day:
            raise InvalidInput(f"absence of {a.teacher} on {a.weekday} period {a.period} is outside the week "
                               f"({args.days} days of {args.periods_per_day} periods, from 0)",
                               field="teacher_absences")
    absences = [TeacherAbsence(teacher=a.teacher.upper(), day=WEEKDAYS.index(a.weekday), period=a.period)
                for a in args.teacher_absences]
    blocks = [ClassBlock(class_code=b.class_code.upper(), day=WEEKDAYS.index(b.weekday), period=b.period)
              for b in args.class_blocks]
    row, problem = await timetable.build_school_problem(
        ctx.session, academic_year_id=args.academic_year_id, week=week,
        teacher_max_periods_per_day=args.teacher_max_periods_per_day, teacher_absences=absences,
        class_blocks=blocks)
    return problem_out(row, problem)


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def list_timetable_problems(ctx: ToolContext, args: PageInput) -> Page[TimetableProblemOut]:
    """List stored timetable problems (built or imported)."""
    rows = await timetable.list_problems(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[TimetableProblemOut](items=[problem_out(r, timetable.problem_of(r)) for r in page],
                                     next_cursor=cursor)


# ---------------------------------------------------------------- solving and publishing


class SolveTimetableIn(ToolInput):
    problem_id: TimetableProblemRef = Field(description="Built, or imported by `mcs-erp timetable import-ctt`.")
    time_limit_s: int = Field(default=30, ge=1, le=600, description="Seconds the solver searches.")
    seed: int = Field(default=0, ge=0, le=2_147_483_647, description="Random seed; same seed, same search.")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="The same key returns the same job.")
    wait_s: WaitSeconds = 0


async def _solve_params(session, args: SolveTimetableIn) -> dict[str, Any]:
    row = await timetable.problem_to_solve(session, args.problem_id)
    return {"problem_id": row.id, "time_limit_s": args.time_limit_s, "seed": args.seed}


@module.tool(effect=Effect.WRITE, roles=PLANNERS, starts_job=True)
async def solve_timetable(ctx: ToolContext, args: SolveTimetableIn) -> JobOut:
    """Start a job that timetables a stored problem with the CP-SAT solver (soft cost: ITC2007 UD2 weights); get_job
    shows the best cost so far. Solving publishes nothing: get_timetable_solution (the result's solution_id) gives the
    breakdown, publish_timetable makes it current."""
    return await start_job(ctx, kind=JobKind.SOLVE_TIMETABLE, params=await _solve_params(ctx.session, args),
                           idempotency_key=args.idempotency_key)


class SolutionIdIn(ToolInput):
    solution_id: TimetableSolutionRef = Field(description="From a solve_timetable job's result.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_timetable_solution(ctx: ToolContext, args: SolutionIdIn) -> SolutionOut:
    """Get a stored timetable solution: hard violations, soft cost by constraint, and whether it is the published
    timetable."""
    row, published = await timetable.get_solution(ctx.session, args.solution_id)
    return SolutionOut(solution_id=row.id or 0, problem_id=row.problem_id, job_id=row.job_id, status=row.status,
                       hard_violations=row.hard_violations, soft_cost=row.soft_cost,
                       breakdown=json.loads(row.breakdown), lessons=len(json.loads(row.assignments)),
                       seconds=row.seconds, published=published)


def _plan_publish(session: AsyncSession, actor: Actor, args: SolutionIdIn) -> Awaitable[Plan]:
    return plans.plan_publish_timetable(session, actor, solution_id=args.solution_id)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PLANNERS, gate=GateLevel.CONFIRM, plan=_plan_publish)
async def publish_timetable(ctx: ToolContext, args: SolutionIdIn) -> PublishOut:
    """Publish a feasible solution as its problem's current timetable, replacing the published one (a changed
    problem's: its base's); the preview counts and lists the lessons that move. The schedule tools answer from it."""
    assert ctx.plan is not None
    return PublishOut(**plans.publish_outcome(ctx.plan))


class ReassignIn(ToolInput):
    class_code: TimetableCode = Field(description="The class, e.g. 7B-MATH.")
    teacher: TimetableCode = Field(description="Employee code of its new teacher, e.g. E0017.")


class ProposeTimetableChangeIn(ToolInput):
    problem_id: TimetableProblemRef | None = Field(default=None, description="omitted: the newest published one.")
    teachers_leaving: list[TimetableCode] = Field(
        default_factory=list, max_length=20, description="Employee codes of teachers who teach no more; each of "
                                                         "their classes goes to `reassign`'s teacher, else to a "
                                                         "qualified one chosen to keep its lessons in place.")
    reassign: list[ReassignIn] = Field(default_factory=list, max_length=200,
                                       description="Classes that change teacher.")
    rooms_closed: list[TimetableCode] = Field(default_factory=list, max_length=50,
                                              description="Room codes no lesson may use any more.")
    classes_added: list[TimetableCode] = Field(
        default_factory=list, max_length=200, description="Class codes of this year's classes not yet timetabled.")
    sections_added: list[TimetableCode] = Field(
        default_factory=list, max_length=50, description="Section codes: all their classes not yet timetabled.")
    time_limit_s: int = Field(default=30, ge=1, le=600, description="Seconds the solver searches.")
    seed: int = Field(default=0, ge=0, le=2_147_483_647, description="Random seed; same seed, same search.")
    idempotency_key: IdempotencyKey | None = Field(default=None, description="The same key returns the same job.")
    wait_s: WaitSeconds = 0


@module.tool(effect=Effect.WRITE, roles=PLANNERS, starts_job=True)
async def propose_timetable_change(ctx: ToolContext, args: ProposeTimetableChangeIn) -> JobOut:
    """Re-solve a published timetable after a change (teachers leaving, rooms closing, classes or sections added),
    moving as few published lessons as possible (minimal perturbation, Müller 2005), then at the least soft cost.
    Starts a job; its result gives solution_id and lessons moved. publish_timetable(solution_id) previews every
    move per section and teacher before anything changes."""
    if len({c.class_code.upper() for c in args.reassign}) != len(args.reassign):
        raise InvalidInput("a class appears twice in reassign", field="reassign")
    proposal = await timetable.propose_change(
        ctx.session, problem_id=args.problem_id, teachers_leaving=args.teachers_leaving,
        reassign={r.class_code: r.teacher for r in args.reassign}, rooms_closed=args.rooms_closed,
        classes_added=args.classes_added, sections_added=args.sections_added)
    params = {"problem_id": proposal.base.id, "base_solution_id": proposal.base_solution_id,
              "change": json.loads(timetable.change_to_json(proposal.change)), "time_limit_s": args.time_limit_s,
              "seed": args.seed}
    return await start_job(ctx, kind=JobKind.SOLVE_TIMETABLE, params=params, idempotency_key=args.idempotency_key)


def _page(lessons: list[Any], args: PageInput, convert, model: type) -> Page:
    start = decode_cursor(args.cursor)
    chunk = lessons[start:start + args.limit]
    more = start + args.limit < len(lessons)
    return Page[model](items=[convert(x) for x in chunk], next_cursor=encode_cursor(start + args.limit) if more else None)


def _lessons(problem: Problem):
    """Return a converter of Lessons to LessonOut with the problem's period times."""
    times = problem.period_times

    def convert(lesson: Lesson) -> LessonOut:
        start, end = times[lesson.period].split("-") if lesson.period < len(times) else (None, None)
        return LessonOut(course=lesson.course_id, teacher=lesson.teacher, room=lesson.room_id, day=lesson.day,
                         weekday=WEEKDAYS[lesson.day % 7], period=lesson.period, starts_at=start, ends_at=end)
    return convert


def _check(found: bool, what: str, value: str, field: str, tool_hint: str) -> None:
    if not found:
        raise NotFound(f"no {what} {value!r} in this timetable problem; {tool_hint}", field=field)


class SectionTimetableIn(PageInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    curriculum: TimetableCode = Field(description="Curriculum id: the courses one section attends (e.g. q001).")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_section_timetable(ctx: ToolContext, args: SectionTimetableIn) -> Page[LessonOut]:
    """List the published lessons of one section's curriculum, by day and period."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    _check(any(c.id == args.curriculum for c in problem.curricula), "curriculum", args.curriculum, "curriculum",
           "curricula are the ids of the problem's sections")
    lessons = curriculum_lessons(problem, solution, curriculum_id=args.curriculum)
    return _page(lessons, args, _lessons(problem), LessonOut)


def _day_of(problem: Problem, *, weekday: str | None, on: dt.date | None) -> int | None:
    if weekday is not None and on is not None:
        raise InvalidInput("give weekday or date, not both", field="date")
    day = WEEKDAYS.index(weekday) if weekday is not None else (on.weekday() if on is not None else None)
    if day is not None and day >= problem.days:
        raise InvalidInput(f"the timetable has {problem.days} days (monday..{WEEKDAYS[problem.days - 1]}); "
                           f"{WEEKDAYS[day]} has no lessons", field="weekday" if weekday else "date")
    return day


async def _teacher(ctx: ToolContext, problem: Problem, teacher: int | str) -> str:
    """The problem's name of `teacher`: an employee id becomes its code; a code matches in any case. Raises
    NotFound naming the closest teachers of the problem (never another teacher's lessons)."""
    if isinstance(teacher, int):
        teacher = (await hr.get_employee(ctx.session, teacher, field="teacher")).code
    names = sorted({c.teacher for c in problem.courses})
    found = [t for t in names if t == teacher] or [t for t in names if t.casefold() == teacher.casefold()]
    if len(found) == 1:
        return found[0]
    near = difflib.get_close_matches(teacher, names, n=5, cutoff=0.5)
    raise NotFound(f"no teacher {teacher!r} in this timetable problem; teachers are named by employee code "
                   "(get_class shows teacher_code)" + (f"; closest: {', '.join(near)}" if near else ""),
                   field="teacher")


class TeacherScheduleIn(PageInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    teacher: Annotated[int, Field(strict=True, ge=1, le=2_147_483_647)] | TimetableCode = Field(
        description="An employee (E0042), or an imported problem's teacher id (t000).")
    weekday: Weekday | None = None
    date: dt.date | None = None


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_teacher_schedule(ctx: ToolContext, args: TeacherScheduleIn) -> Page[LessonOut]:
    """List a teacher's published lessons for the week, a weekday or a date's weekday: "what does this teacher teach on
    Tuesday"."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    teacher = await _teacher(ctx, problem, args.teacher)
    day = _day_of(problem, weekday=args.weekday, on=args.date)
    lessons = teacher_lessons(problem, solution, teacher=teacher, day=day)
    return _page(lessons, args, _lessons(problem), LessonOut)


class RoomScheduleIn(PageInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    room: TimetableCode = Field(description="Room id as the timetable names it.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_room_schedule(ctx: ToolContext, args: RoomScheduleIn) -> Page[LessonOut]:
    """List the published lessons held in one room, by day and period."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    _check(args.room in problem.room_by_id, "room", args.room, "room", "find_free_rooms lists rooms")
    lessons = room_lessons(problem, solution, room_id=args.room)
    return _page(lessons, args, _lessons(problem), LessonOut)


class FreeRoomsIn(PageInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    weekday: Weekday
    period: int = Field(ge=0, le=23, description="Period of the day, from 0.")
    min_capacity: int = Field(default=0, ge=0, le=100_000)


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def find_free_rooms(ctx: ToolContext, args: FreeRoomsIn) -> Page[RoomOut]:
    """List the rooms no published lesson uses in one period of a weekday."""
    _row, problem, solution = await timetable.published(ctx.session, problem_id=args.problem_id)
    day = _day_of(problem, weekday=args.weekday, on=None)
    if args.period >= problem.periods_per_day:
        raise InvalidInput(f"period {args.period} is past the last period of the day "
                           f"({problem.periods_per_day - 1}); periods count from 0", field="period")
    rooms = free_rooms(problem, solution, day=day or 0, period=args.period, min_capacity=args.min_capacity)
    return _page(rooms, args, lambda r: RoomOut(room=r.id, capacity=r.capacity), RoomOut)


# ---------------------------------------------------------------- cover for absent teachers

TeacherRef = Annotated[int, Field(strict=True, ge=1, le=2_147_483_647)] | TimetableCode


class PublishCoverIn(ToolInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    teacher: TeacherRef = Field(description="The absent teacher (E0042).")
    start_date: dt.date
    end_date: dt.date | None = Field(default=None, description="omitted: start_date; at most 31 days.")


async def _teacher_name(session: AsyncSession, problem_id: int | None, teacher: int | str) -> str:
    """The timetable's name of `teacher`: an employee id becomes its code, a code is matched in any case."""
    if isinstance(teacher, int):
        return (await hr.get_employee(session, teacher, field="teacher")).code
    _row, problem, _ = await timetable.published(session, problem_id=problem_id)
    names = {c.teacher for c in problem.courses}
    return next((t for t in sorted(names) if t.casefold() == teacher.casefold()), teacher)


async def _plan_cover(session: AsyncSession, actor: Actor, args: PublishCoverIn) -> Plan:
    teacher = await _teacher_name(session, args.problem_id, args.teacher)
    settings = current_settings()  # the runtime's (the gate plans with its settings in use)
    return await plans.plan_publish_cover(session, actor, problem_id=args.problem_id, teacher=teacher,
                                          start=args.start_date, end=args.end_date or args.start_date,
                                          max_per_week=settings.cover_max_per_week,
                                          holidays_country=settings.timetable_holidays_country,
                                          holidays_subdivision=settings.timetable_holidays_subdivision)


@module.tool(effect=Effect.DESTRUCTIVE, roles=PLANNERS, gate=GateLevel.CONFIRM, plan=_plan_cover)
async def publish_cover(ctx: ToolContext, args: PublishCoverIn) -> CoverPublishedOut:
    """Cover an absent teacher's lessons: per lesson a qualified free teacher (fewest covers this term first, weekly
    cap kept), else a supervised study period, else uncovered. The preview lists each."""
    assert ctx.plan is not None
    return CoverPublishedOut(**{k: v for k, v in plans.cover_outcome(ctx.plan).items()
                                if k in CoverPublishedOut.model_fields})


def _school_today(ctx: ToolContext) -> dt.date:
    name = ctx.runtime.settings.school_timezone
    try:
        return dt.datetime.now(ZoneInfo(name)).date()
    except (KeyError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r} (MCS_ERP_SCHOOL_TIMEZONE): use an IANA name such as "
                           "Australia/Melbourne", field="school_timezone") from None


class CoverSheetIn(PageInput):
    date: dt.date | None = Field(default=None, description="omitted: today.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_cover_sheet(ctx: ToolContext, args: CoverSheetIn) -> Page[CoverOut]:
    """List a day's published cover by period: who takes each absent teacher's lesson, and where."""
    rows = await timetable.cover_sheet(ctx.session, on=args.date or _school_today(ctx))
    times: dict[int, tuple[str, ...]] = {}
    for r in rows:
        if r.problem_id not in times:
            times[r.problem_id] = timetable.problem_of(await timetable.get_problem(ctx.session, r.problem_id)
                                                       ).period_times

    def convert(r) -> CoverOut:
        t = times[r.problem_id]
        return CoverOut(date=r.on_date, period=r.period, time=t[r.period] if r.period < len(t) else None,
                        course=r.course_id, room=r.study_room or r.room, absent_teacher=r.absent_teacher,
                        kind=r.kind, cover_teacher=r.cover_teacher)
    return _page(rows, args, convert, CoverOut)


class CoverLoadIn(ToolInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    teacher: TeacherRef
    date: dt.date | None = Field(default=None, description="Week and term of; omitted: today.")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_cover_load(ctx: ToolContext, args: CoverLoadIn) -> CoverLoadOut:
    """Count a teacher's covers in a week and its term."""
    teacher = await _teacher_name(ctx.session, args.problem_id, args.teacher)
    load = await timetable.cover_load(ctx.session, problem_id=args.problem_id, teacher=teacher,
                                      on=args.date or _school_today(ctx),
                                      max_per_week=ctx.runtime.settings.cover_max_per_week)
    return CoverLoadOut(teacher=load.teacher, week_start=load.week_start, week_covers=load.week_covers,
                        max_covers_per_week=load.max_per_week, term=load.term.name if load.term else None,
                        term_covers=load.term_covers)


# ---------------------------------------------------------------- calendars


class TimetableCalendarIn(ToolInput):
    problem_id: TimetableProblemRef | None = ProblemIdField
    kind: Literal["teacher", "section", "room"]
    code: TimetableCode = Field(description="Teacher (E0042), curriculum (7A) or room (R101).")


CHUNK = 9_000
"""Characters (or PDF bytes) a calendar or printed timetable answer holds by default: one answer stays near 4k
tokens; `offset` and `max_chars` read the rest, as get_document does."""


class TimetableChunkIn(TimetableCalendarIn):
    offset: int = Field(default=0, ge=0, le=10_000_000)
    max_chars: int = Field(default=CHUNK, ge=1, le=10_000_000)


def _chunk(size: int, args: TimetableChunkIn) -> tuple[int, int | None]:
    """The end of the chunk from `args.offset` and the next offset (None at the end); raises InvalidInput for an
    offset past the end."""
    if args.offset and args.offset >= size:
        raise InvalidInput(f"offset {args.offset} is past the end ({size}); offsets run from 0 to {size - 1}",
                           field="offset")
    end = min(size, args.offset + args.max_chars)
    return end, end if end < size else None


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_timetable_calendar(ctx: ToolContext, args: TimetableChunkIn) -> CalendarOut:
    """Export a teacher's, section's or room's published timetable as an iCalendar (.ics) for the year's terms."""
    code = await _teacher_name(ctx.session, args.problem_id, args.code) if args.kind == "teacher" else args.code
    feed = ctx.runtime.settings
    data, events = await timetable.timetable_feed(
        ctx.session, problem_id=args.problem_id, kind=args.kind, code=code,
        timezone=ctx.runtime.settings.school_timezone, holidays_country=feed.timetable_holidays_country,
        holidays_subdivision=feed.timetable_holidays_subdivision, today=_school_today(ctx))
    text = data.decode()
    end, after = _chunk(len(text), args)
    return CalendarOut(filename=f"timetable-{args.kind}-{code}.ics", events=events, size=len(text),
                       offset=args.offset, ics=text[args.offset:end], next_offset=after)


class PrintTimetableIn(TimetableChunkIn):
    format: Literal["pdf", "html"] = "pdf"


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def print_timetable(ctx: ToolContext, args: PrintTimetableIn) -> PrintedTimetableOut:
    """Print a teacher's, section's or room's published week as a grid with the period times: A4 PDF or HTML."""
    code = await _teacher_name(ctx.session, args.problem_id, args.code) if args.kind == "teacher" else args.code
    data, content_type = await timetable.timetable_sheet(ctx.session, problem_id=args.problem_id, kind=args.kind,
                                                         code=code, output=args.format)
    pdf = args.format == "pdf"
    whole: bytes | str = data if pdf else data.decode()
    end, after = _chunk(len(whole), args)
    part = whole[args.offset:end]
    return PrintedTimetableOut(filename=f"timetable-{args.kind}-{code}.{args.format}", content_type=content_type,
                               size=len(whole), offset=args.offset, text=None if pdf else str(part),
                               content_base64=base64.b64encode(part).decode() if isinstance(part, bytes) else None,
                               next_offset=after)


# ---------------------------------------------------------------- secret calendar URLs

FEED_MAKERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER})


@module.tool(effect=Effect.WRITE, roles=FEED_MAKERS)
async def create_timetable_feed(ctx: ToolContext, args: TimetableCalendarIn) -> FeedOut:
    """Make a secret calendar URL (phones subscribe to it) of a published timetable; teachers: their own only."""
    code = await _teacher_name(ctx.session, args.problem_id, args.code) if args.kind == "teacher" else args.code
    feed, token = await timetable.create_feed(ctx.session, ctx.actor, problem_id=args.problem_id, kind=args.kind,
                                              code=code)
    secret = f"{ctx.actor.tenant}.{token}" if ctx.actor.tenant else token
    return FeedOut(feed_id=feed.id or 0, kind=feed.kind, code=feed.code, url_path=f"/calendar/{secret}.ics")


class FeedIdIn(ToolInput):
    feed_id: TimetableFeedRef


@module.tool(effect=Effect.WRITE, roles=FEED_MAKERS)
async def revoke_timetable_feed(ctx: ToolContext, args: FeedIdIn) -> FeedOut:
    """Revoke a calendar URL: it answers 404 from now on."""
    feed = await timetable.revoke_feed(ctx.session, ctx.actor, feed_id=args.feed_id)
    return FeedOut(feed_id=feed.id or 0, kind=feed.kind, code=feed.code, revoked=True)


async def calendar_of_url(runtime, secret: str) -> bytes:
    """The iCalendar text a secret calendar URL serves (`<tenant>.<token>` or `<token>`), read in the feed's tenant;
    raises NotFound for a wrong or revoked URL or an unknown tenant, TenantSuspended, and timetable_feed's errors."""
    tenant, _, token = secret.rpartition(".")
    await runtime.check_tenant(tenant or None)
    feed = runtime.settings
    with tenant_in_use(tenant or None):
        async with runtime.db.read() as session:
            row = await timetable.feed_of_token(session, token)
            zone = runtime.settings.school_timezone
            try:
                today = dt.datetime.now(ZoneInfo(zone)).date()
            except (KeyError, ValueError):
                today = None
            text, _ = await timetable.timetable_feed(
                session, problem_id=row.problem_id, kind=row.kind, code=row.code, timezone=zone,
                holidays_country=feed.timetable_holidays_country,
                holidays_subdivision=feed.timetable_holidays_subdivision, today=today)
    return text
