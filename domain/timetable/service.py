"""Timetable use cases: import a problem, store a solver's result, publish a solution, read the timetable.

Services take the session, flush when they need ids and never commit (the entry point owns the transaction).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.kernel.clock import utcnow
from domain.hr import service as hr
from domain.kernel.actor import Actor, Role
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.kernel.models import bump
from domain.kernel.workdays import public_holidays
from domain.timetable import repository as repo
from domain.timetable.changes import (
    Comparison,
    TimetableChange,
    changed_problem,
    check_sizes,
    choose_replacements,
    compare,
    describe,
    total_moved,
)
from domain.timetable.cover import Booking, CoverDecision, CoverKind, CoverNeed, CoverState, assign_cover, week_of
from domain.timetable.ical import CoverView, FeedCover, FeedTerm, timetable_calendar
from domain.timetable.itc2007 import parse_ctt
from domain.timetable.models import (
    ProblemSource,
    Room,
    TimetableCover,
    TimetableFeed,
    TimetableProblem,
    TimetableSolution,
)
from domain.timetable.problem import Problem, Solution
from domain.timetable.problem import Room as ProblemRoom
from domain.timetable.rules import Lesson, curriculum_lessons, room_lessons, teacher_lessons
from domain.timetable.school import ClassBlock, SchoolClassLoad, SchoolWeek, TeacherAbsence, school_problem
from domain.timetable.scoring import score
from domain.timetable.serialize import (
    assignments_from_json,
    assignments_to_json,
    breakdown_of,
    problem_from_json,
    problem_to_json,
)
from domain.timetable.week_grid import CoverNote, WeekView, render_html, render_pdf, week_grid, week_view

if TYPE_CHECKING:  # the solver (OR-Tools, with pandas) is imported by the jobs that solve, not by every reader
    from domain.timetable.solver import SolveResult


async def store_problem(session: AsyncSession, *, problem: Problem, source: ProblemSource,
                        academic_year_id: int | None = None) -> TimetableProblem:
    """Store `problem` (built from `academic_year_id`'s classes, when given) and return its row (flushed)."""
    return await repo.add(session, TimetableProblem(name=problem.name[:120], source=source.value, days=problem.days,
                                                    periods_per_day=problem.periods_per_day,
                                                    data=problem_to_json(problem), academic_year_id=academic_year_id))


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
    return await store_problem(session, problem=problem, source=ProblemSource.SCHOOL,
                               academic_year_id=year.id), problem


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
    """What publishing a solution would do: the problem, the solution, the timetable it replaces (`current`, of
    `current_problem`: the base problem's for a changed problem), lessons that move (`moved`: moved or removed
    published lessons) and the lesson-by-lesson comparison (domain.timetable.changes.compare; None when nothing
    is published yet)."""

    problem: TimetableProblem
    solution: TimetableSolution
    current: TimetableSolution | None
    moved: int
    lessons: int
    current_problem: TimetableProblem | None = None
    comparison: Comparison | None = None
    change: list[str] = field(default_factory=list)


async def check_publication(session: AsyncSession, *, solution_id: int) -> Publication:
    """Compare a solution with the timetable it would replace (nothing written; plans.plan_publish_timetable
    plans the publication): its problem's published one, or, for a problem changed after publication that has
    none yet, the published timetable of the problem it changed. Raises NotFound, or Conflict when infeasible."""
    solution = await repo.get_solution_or_raise(session, solution_id)
    if solution.hard_violations:
        raise Conflict(f"solution {solution_id} breaks {solution.hard_violations} hard constraints; only a "
                       "feasible timetable (0 hard violations) can be published")
    problem = await repo.get_problem_or_raise(session, solution.problem_id)
    base = problem
    if problem.published_solution_id is None and problem.based_on_id is not None:
        base = await repo.get_problem_or_raise(session, problem.based_on_id)
    current = (await repo.get_solution(session, base.published_solution_id)
               if base.published_solution_id else None)
    new = solution_of(solution)
    comparison = (compare(problem_of(base), solution_of(current), problem_of(problem), new)
                  if current is not None else None)
    moved = total_moved(comparison) if comparison is not None else len(new.assignments)
    return Publication(problem=problem, solution=solution, current=current, moved=moved,
                       lessons=len(new.assignments), current_problem=base if current is not None else None,
                       comparison=comparison, change=change_lines(problem, base))


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


# ---------------------------------------------------------------- changes after publication (minimal perturbation)


def change_to_json(change: TimetableChange) -> str:
    """Return a change as the JSON stored in timetable_problems.change."""
    return json.dumps({"teachers_leaving": list(change.teachers_leaving), "reassign": dict(change.reassign),
                       "rooms_closed": list(change.rooms_closed),
                       "classes_added": [{"code": c.code, "section": c.section, "teacher": c.teacher,
                                          "weekly_lessons": c.weekly_lessons, "students": c.students}
                                         for c in change.classes_added],
                       "added_unavailable": [list(u) for u in change.added_unavailable]}, separators=(",", ":"))


def change_from_json(text: str) -> TimetableChange:
    """Rebuild a TimetableChange from `change_to_json` output."""
    d = json.loads(text)
    return TimetableChange(teachers_leaving=tuple(d["teachers_leaving"]), reassign=dict(d["reassign"]),
                           rooms_closed=tuple(d["rooms_closed"]),
                           classes_added=tuple(SchoolClassLoad(**c) for c in d["classes_added"]),
                           added_unavailable=tuple((u[0], u[1], u[2]) for u in d["added_unavailable"]))


def change_lines(row: TimetableProblem, base: TimetableProblem | None = None) -> list[str]:
    """Return the change a changed problem was made by (`base`: the problem it changed, which names a leaver's
    classes), one line per change for a person; empty for a problem that is no change."""
    if row.change is None:
        return []
    return describe(problem_of(base or row), change_from_json(row.change))


@dataclass(frozen=True)
class ProposedChange:
    """A change of a published timetable's problem, checked: the base problem's row, the changed Problem, the
    change (with the teachers chosen for a leaver's classes) and the published solution a re-solve starts from."""

    base: TimetableProblem
    problem: Problem
    change: TimetableChange
    base_solution_id: int


async def propose_change(session: AsyncSession, *, problem_id: int | None, teachers_leaving: list[str],
                         reassign: dict[str, str], rooms_closed: list[str], classes_added: list[str],
                         sections_added: list[str]) -> ProposedChange:
    """Return the problem of a published timetable (`problem_id`; None: the newest published one) after a change,
    for domain.timetable.perturbation.resolve to re-solve with the fewest moves; nothing is written (the solve
    job stores it with store_changed_problem).

    - `teachers_leaving` (employee codes): each of their classes goes to `reassign[class]` when given, else to the
      qualified teacher (teaching the class's subject in the timetable's academic year) free in most of the class's
      published periods, then with the fewest lessons (changes.choose_replacements);
    - `reassign` (class code -> employee code) may give any class another teacher;
    - `rooms_closed` (room codes) leave the problem;
    - `classes_added` (class codes) and `sections_added` (section codes: all their classes) are read from the
      academic year's classes (academics.timetable_classes) that the timetable does not hold yet.
    The timetable's class, teacher and room codes match in any case (a teacher not in it yet is taken as given).
    Raises NotFound (problem, nothing published, an unknown class or section to add), InvalidInput (nothing
    changed, sizes over changes.MAX_*, an unknown teacher, class or room, a class no qualified teacher can take, a
    class already timetabled, too few rooms left; changes.changed_problem), and InvalidInput (field reassign) for
    a leaver of an imported problem (no subjects) without `reassign`.
    """
    row, problem, _ = await published(session, problem_id=problem_id)
    sol = await repo.get_solution_or_raise(session, row.published_solution_id or 0)
    solution = solution_of(sol)
    if not (teachers_leaving or reassign or rooms_closed or classes_added or sections_added):
        raise InvalidInput("name a change: teachers_leaving, reassign, rooms_closed, classes_added or "
                           "sections_added", field="teachers_leaving")
    teachers = {t.upper(): t for t in {c.teacher for c in problem.courses}}
    courses = {c.upper(): c for c in problem.course_by_id}
    leaving = tuple(teachers.get(t.upper(), t) for t in teachers_leaving)
    given = {courses.get(c.upper(), c): teachers.get(t.upper(), t) for c, t in reassign.items()}
    rooms = {r.upper(): r for r in problem.room_by_id}
    closed = tuple(rooms.get(r.upper(), r) for r in rooms_closed)
    classes = []
    if row.academic_year_id is not None:
        _, classes = await academics.timetable_classes(session, academic_year_id=row.academic_year_id)
    subject_of = {c.class_code: c.subject_code for c in classes}
    by_subject: dict[str, set[str]] = defaultdict(set)
    for c in classes:
        by_subject[c.subject_code].add(c.teacher_code)
    chosen = dict(given)
    for t in leaving:
        if t not in teachers.values():
            raise InvalidInput(f"teacher {t!r} teaches no class in timetable problem {row.id}",
                               field="teachers_leaving")
        open_classes = [c.id for c in problem.courses if c.teacher == t and c.id not in given]
        if not open_classes:
            continue
        if not classes:
            raise InvalidInput(f"timetable problem {row.id} has no subjects (imported): give each class of {t} its "
                               f"new teacher in reassign ({', '.join(open_classes)})", field="reassign")
        qualified = {c: frozenset(by_subject.get(subject_of.get(c, ""), set()) - set(leaving)) for c in open_classes}
        chosen.update(choose_replacements(problem, solution, teacher=t, qualified=qualified, given=chosen))
    added = await _added_classes(session, problem, classes, classes_added=classes_added,
                                 sections_added=sections_added, year=row.academic_year_id)
    change = TimetableChange(teachers_leaving=leaving, reassign=chosen, rooms_closed=closed,
                             classes_added=tuple(added))
    check_sizes(change)
    new = changed_problem(problem, change)
    return ProposedChange(base=row, problem=new, change=change, base_solution_id=sol.id or 0)


async def store_changed_problem(session: AsyncSession, *, base: TimetableProblem, change: TimetableChange
                                ) -> tuple[TimetableProblem, Problem]:
    """Store the problem `base` becomes after `change` (changes.changed_problem), naming its base and the change;
    return its row (flushed) and Problem. Raises what changed_problem raises."""
    new = changed_problem(problem_of(base), change)
    row = await repo.add(session, TimetableProblem(
        name=base.name, source=base.source, days=new.days, periods_per_day=new.periods_per_day,
        data=problem_to_json(new), academic_year_id=base.academic_year_id, based_on_id=base.id,
        change=change_to_json(change)))
    return row, new


async def _added_classes(session: AsyncSession, problem: Problem, classes: list[Any], *, classes_added: list[str],
                         sections_added: list[str], year: int | None) -> list[SchoolClassLoad]:
    if (classes_added or sections_added) and year is None:
        raise InvalidInput("an imported timetable problem has no academic year to add classes from",
                           field="classes_added")
    new = [c for c in classes if c.class_code not in problem.course_by_id]
    by_code = {c.class_code.upper(): c for c in new}
    out = {}
    for code in classes_added:
        found = by_code.get(code.upper())
        if found is None:
            state = "is already timetabled" if code.upper() in {k.upper() for k in problem.course_by_id} else \
                "is not a class with lessons this year (list_classes; set_class_weekly_lessons)"
            raise (InvalidInput if "already" in state else NotFound)(f"class {code!r} {state}", field="classes_added")
        out[found.class_code] = found
    for code in sections_added:
        mine = [c for c in new if c.section_code.upper() == code.upper()]
        if not mine:
            raise NotFound(f"section {code!r} has no class with lessons this year that the timetable lacks "
                           "(list_sections, list_classes)", field="sections_added")
        out.update({c.class_code: c for c in mine})
    return [SchoolClassLoad(code=c.class_code, section=c.section_code, teacher=c.teacher_code,
                            weekly_lessons=c.weekly_lessons, students=c.students) for c in out.values()]


# ---------------------------------------------------------------- cover for absent teachers

MAX_COVER_DAYS = 31
"""The longest absence one cover proposal takes (dates inclusive): a month, a bound on what a caller's dates cost."""
MAX_TERMS = 50


@dataclass(frozen=True)
class SchoolTerm:
    """A term of the timetable's academic year: id, name and its first and last day."""

    id: int
    name: str
    start: date
    end: date


async def school_terms(session: AsyncSession, row: TimetableProblem, *, on: date) -> tuple[Any, list[SchoolTerm]]:
    """Return the academic year of a timetable (the one it was built from, else the one `on` falls in) and its
    terms by start date; raises NotFound when no academic year exists."""
    year, _ = await academics.timetable_classes(session, academic_year_id=row.academic_year_id, today=on)
    terms = await academics.list_terms(session, after_id=0, limit=MAX_TERMS, academic_year_id=year.id)
    return year, sorted((SchoolTerm(t.id, t.name, t.start_date, t.end_date) for t in terms), key=lambda t: t.start)


def term_on(terms: list[SchoolTerm], day: date) -> SchoolTerm | None:
    """Return the term `day` falls in, or None."""
    return next((t for t in terms if t.start <= day <= t.end), None)


def check_cover_dates(start: date, end: date, terms: list[SchoolTerm], year_name: str) -> list[date]:
    """Return the dates `start`..`end`; raises InvalidInput (start_date, end_date) when the range is reversed,
    longer than MAX_COVER_DAYS, or holds a date outside every term of the year."""
    if end < start:
        raise InvalidInput(f"end_date {end} is before start_date {start}", field="end_date")
    if (end - start).days >= MAX_COVER_DAYS:
        raise InvalidInput(f"an absence covers at most {MAX_COVER_DAYS} days at once; {start}..{end} is "
                           f"{(end - start).days + 1}: propose it in parts", field="end_date")
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    outside = [d for d in days if term_on(terms, d) is None]
    if outside:
        known = "; ".join(f"{t.name} {t.start}..{t.end}" for t in terms) or "none"
        raise InvalidInput(f"{outside[0]} is outside the terms of {year_name} ({known}); cover is for term days",
                           field="start_date" if outside[0] == start else "end_date")
    return days


@dataclass
class CoverProposal:
    """What covering `teacher` from `start` to `end` would do: one decision per lesson to cover (`decisions`),
    the published covers they replace (by id), the lessons already covered and kept, the weekly cap, and the
    published covers the proposal read (`read`: ids, for the plan's inputs)."""

    problem: TimetableProblem
    teacher: str
    start: date
    end: date
    decisions: list[CoverDecision]
    replaced: dict[int, TimetableCover]
    kept: list[TimetableCover]
    max_per_week: int
    read: list[int] = field(default_factory=list)
    period_times: tuple[str, ...] = ()


async def propose_cover(session: AsyncSession, *, problem_id: int | None, teacher: str, start: date, end: date,
                        max_per_week: int, holidays_country: str | None = None,
                        holidays_subdivision: str | None = None) -> CoverProposal:
    """Decide cover for `teacher` (the timetable's teacher name: an employee code) absent from `start` to `end`
    inclusive, on the published timetable of `problem_id` (None: the newest problem), by domain.timetable.cover's
    rules; nothing is written (plans.plan_publish_cover publishes it through the gate).

    The lessons to cover are the teacher's lessons on those dates' weekdays, and the covers the teacher was to
    give on those dates; lessons already covered stay as published, lessons left uncovered are tried again. Public
    holidays of `holidays_country` (domain.kernel.workdays) have no lessons.
    Qualified teachers are those teaching a class of the lesson's subject in the timetable's academic year
    (academics.timetable_classes). Raises NotFound (problem, nothing published, no academic year, a teacher not
    in the timetable), InvalidInput (dates: reversed, over MAX_COVER_DAYS, outside the year's terms; no lesson to
    cover on those dates), Conflict (every lesson already covered)."""
    row, problem, solution = await published(session, problem_id=problem_id)
    teachers = frozenset(c.teacher for c in problem.courses)
    if teacher not in teachers:
        raise NotFound(f"no teacher {teacher!r} in timetable problem {row.id}", field="teacher")
    year, terms = await school_terms(session, row, on=start)
    days = check_cover_dates(start, end, terms, year.name)
    _, classes = await academics.timetable_classes(session, academic_year_id=year.id)
    subject_of = {c.class_code: c.subject_code for c in classes}
    qualified: dict[str, set[str]] = defaultdict(set)
    for c in classes:
        qualified[c.subject_code].add(c.teacher_code)
    students = {c.id: c.students for c in problem.courses}
    involved = [term_on(terms, d) for d in days]
    span_start = min(t.start for t in involved if t)
    span_end = max(t.end for t in involved if t)
    published_covers = await repo.covers_between(session, start=span_start, end=span_end)
    in_range = [c for c in published_covers if start <= c.on_date <= end]
    mine = {(c.on_date, c.period, c.course_id): c for c in in_range if c.problem_id == row.id}

    closed = (public_holidays(start, end, country=holidays_country, subdivision=holidays_subdivision)
              if holidays_country else {})
    needs: list[CoverNeed] = []
    kept: list[TimetableCover] = []
    replaced: dict[int, TimetableCover] = {}
    for day in days:
        if day.weekday() >= problem.days or day in closed:
            continue
        for lesson in teacher_lessons(problem, solution, teacher=teacher, day=day.weekday()):
            existing = mine.get((day, lesson.period, lesson.course_id))
            if existing is not None and existing.kind != CoverKind.UNCOVERED.value:
                kept.append(existing)
                continue
            if existing is not None:
                replaced[existing.id or 0] = existing
            needs.append(CoverNeed(on=day, period=lesson.period, course_id=lesson.course_id, room_id=lesson.room_id,
                                   absent_teacher=teacher, subject=subject_of.get(lesson.course_id),
                                   students=students.get(lesson.course_id, 0),
                                   replaces=existing.id if existing is not None else None))
    for c in in_range:  # the covers the absent teacher was to give: someone else takes them
        if c.cover_teacher == teacher and c.problem_id == row.id:
            replaced[c.id or 0] = c
            needs.append(CoverNeed(on=c.on_date, period=c.period, course_id=c.course_id, room_id=c.room,
                                   absent_teacher=c.absent_teacher, subject=subject_of.get(c.course_id),
                                   students=students.get(c.course_id, 0), replaces=c.id))
    if not needs:
        if kept:
            raise Conflict(f"all {len(kept)} lessons of {teacher} from {start} to {end} are already covered; "
                           "get_cover_sheet shows them")
        holidays = "".join(f"; {d} is a public holiday ({name})" for d, name in closed.items())
        raise InvalidInput(f"{teacher} has no lessons from {start} to {end} in the published timetable "
                           f"(teaching days: {_teaching_days(problem, solution, teacher)}){holidays}",
                           field="start_date")

    standing = [c for c in published_covers if (c.id or 0) not in replaced]
    absent: dict[date, set[str]] = defaultdict(set)
    for c in published_covers:  # a replaced cover's absent teacher is still away
        absent[c.on_date].add(c.absent_teacher)
    for day in days:
        absent[day].add(teacher)
    teaching: dict[tuple[int, int], set[str]] = defaultdict(set)
    rooms_used: dict[tuple[int, int], set[str]] = defaultdict(set)
    for a in solution.assignments:
        if a.course_id in problem.course_by_id:
            teaching[(a.day, a.period)].add(problem.course_by_id[a.course_id].teacher)
        rooms_used[(a.day, a.period)].add(a.room_id)
    week_load: Counter[tuple[str, date]] = Counter()
    term_load: Counter[tuple[str, int]] = Counter()
    for c in standing:
        if c.cover_teacher and c.kind != CoverKind.UNCOVERED.value:
            week_load[(c.cover_teacher, week_of(c.on_date))] += 1
            term = term_on(terms, c.on_date)
            term_load[(c.cover_teacher, term.id if term else 0)] += 1
    state = CoverState(
        teachers=teachers, qualified={k: frozenset(v) for k, v in qualified.items()},
        teaching={k: frozenset(v) for k, v in teaching.items()},
        rooms={r.id: r.capacity for r in problem.rooms},
        rooms_used={k: frozenset(v) for k, v in rooms_used.items()},
        absent={k: frozenset(v) for k, v in absent.items()},
        term_of={d: t.id for d, t in zip(days, involved, strict=True) if t},
        max_per_week=max_per_week,
        bookings=[Booking(c.on_date, c.period, c.cover_teacher, c.study_room) for c in standing
                  if start <= c.on_date <= end],
        week_load=week_load, term_load=term_load)
    return CoverProposal(problem=row, teacher=teacher, start=start, end=end, decisions=assign_cover(needs, state),
                         replaced=replaced, kept=kept, max_per_week=max_per_week,
                         read=sorted(c.id or 0 for c in published_covers), period_times=problem.period_times)


def _teaching_days(problem: Problem, solution: Solution, teacher: str) -> str:
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    days = sorted({lesson.day for lesson in teacher_lessons(problem, solution, teacher=teacher)})
    return ", ".join(names[d % 7] for d in days) or "none"


async def cover_sheet(session: AsyncSession, *, on: date) -> list[TimetableCover]:
    """Return the published covers of date `on` (every timetable), by period and class code."""
    return await repo.covers_between(session, start=on, end=on)


@dataclass(frozen=True)
class CoverLoad:
    """A teacher's covers (supervisions included) in the week of a date and in its term (None outside terms)."""

    teacher: str
    week_start: date
    week_covers: int
    max_per_week: int
    term: SchoolTerm | None
    term_covers: int | None


async def cover_load(session: AsyncSession, *, problem_id: int | None, teacher: str, on: date,
                     max_per_week: int) -> CoverLoad:
    """Return how many lessons `teacher` covers in the week of `on` and in its term (the timetable's academic
    year's terms). Raises NotFound (problem, no academic year, a teacher not in the timetable)."""
    row = await resolve_problem(session, problem_id)
    if teacher not in {c.teacher for c in problem_of(row).courses}:
        raise NotFound(f"no teacher {teacher!r} in timetable problem {row.id}", field="teacher")
    _, terms = await school_terms(session, row, on=on)
    term = term_on(terms, on)
    monday = week_of(on)
    start, end = (min(monday, term.start), max(monday + timedelta(days=6), term.end)) if term else \
        (monday, monday + timedelta(days=6))
    rows = [c for c in await repo.covers_between(session, start=start, end=end, teacher=teacher)
            if c.kind != CoverKind.UNCOVERED.value]
    week = sum(1 for c in rows if monday <= c.on_date <= monday + timedelta(days=6))
    in_term = sum(1 for c in rows if term.start <= c.on_date <= term.end) if term else None
    return CoverLoad(teacher=teacher, week_start=monday, week_covers=week, max_per_week=max_per_week, term=term,
                     term_covers=in_term)


# ---------------------------------------------------------------- calendar feeds

MAX_FEED_BYTES = 500_000
"""The largest calendar feed returned (a teacher's full week over four terms is about 50 KB)."""
FEED_KINDS = ("teacher", "section", "room")


def lessons_of(problem: Problem, solution: Solution, *, kind: str, code: str, problem_id: int) -> list[Lesson]:
    """Return the published lessons of a teacher, a section (curriculum) or a room, by day and period; raises
    InvalidInput (kind), NotFound (code: not in the timetable)."""
    if kind == "teacher":
        found = code in {c.teacher for c in problem.courses}
        lessons = teacher_lessons(problem, solution, teacher=code)
    elif kind == "section":
        found = any(c.id == code for c in problem.curricula)
        lessons = curriculum_lessons(problem, solution, curriculum_id=code)
    elif kind == "room":
        found = code in problem.room_by_id
        lessons = room_lessons(problem, solution, room_id=code)
    else:
        raise InvalidInput(f"a timetable is printed or exported for a {', '.join(FEED_KINDS)}; got {kind!r}",
                           field="kind")
    if not found:
        raise NotFound(f"no {kind} {code!r} in timetable problem {problem_id}", field="code")
    return lessons


async def timetable_sheet(session: AsyncSession, *, problem_id: int | None, kind: str, code: str,
                          output: str) -> tuple[bytes, str]:
    """Return the printable week of a teacher, section or room (domain.timetable.week_grid) as `output` "html" or
    "pdf", with its content type. Raises NotFound (problem, nothing published, code), InvalidInput (kind, output,
    a character the PDF font cannot draw)."""
    row, problem, solution = await published(session, problem_id=problem_id)
    grid = week_grid(kind=kind, code=code, problem_name=problem.name, days=problem.days,
                     periods_per_day=problem.periods_per_day, period_times=problem.period_times,
                     lessons=lessons_of(problem, solution, kind=kind, code=code, problem_id=row.id or 0))
    if output == "html":
        return render_html(grid).encode(), "text/html; charset=utf-8"
    if output == "pdf":
        sol = await repo.get_solution_or_raise(session, row.published_solution_id or 0)
        return render_pdf(grid, printed_on=sol.created_at), "application/pdf"
    raise InvalidInput(f"a timetable prints as html or pdf; got {output!r}", field="format")


async def timetable_week(session: AsyncSession, *, problem_id: int | None, kind: str, code: str, on: date
                         ) -> WeekView:
    """Return the week (Monday to the timetable's last day) holding `on` of a teacher, section or room of the
    published timetable (`problem_id`; None: the newest published one), with the cover published for those dates
    (domain.timetable.week_grid.week_view). Raises NotFound (problem, nothing published, code), InvalidInput
    (kind)."""
    row, problem, solution = await published(session, problem_id=problem_id)
    lessons = lessons_of(problem, solution, kind=kind, code=code, problem_id=row.id or 0)
    monday = week_of(on)
    covers = [CoverNote(c.on_date, c.period, c.course_id, c.room, c.absent_teacher, c.kind, c.cover_teacher,
                        c.study_room)
              for c in await repo.covers_between(session, start=monday, end=monday + timedelta(days=6))
              if c.problem_id == row.id]
    return week_view(kind=kind, code=code, problem_name=problem.name, days=problem.days,
                     periods_per_day=problem.periods_per_day, period_times=problem.period_times, lessons=lessons,
                     monday=monday, covers=covers)


async def timetable_feed(session: AsyncSession, *, problem_id: int | None, kind: str, code: str, timezone: str,
                         holidays_country: str | None, holidays_subdivision: str | None = None,
                         today: date | None = None) -> tuple[bytes, int]:
    """Return the iCalendar feed of a teacher's, a section's (curriculum's) or a room's published lessons over the
    timetable's academic year's terms (domain.timetable.ical), and its number of events. Public holidays of
    `holidays_country` are skipped (none when None); a teacher's feed holds the covers they give and leaves out the
    lessons covered while they are away; a section's names the cover of each covered occurrence. Raises NotFound (problem, nothing published, no such teacher, section or
    room, no academic year), InvalidInput (kind, time zone, no period times), Conflict (feed over MAX_FEED_BYTES)."""
    row, problem, solution = await published(session, problem_id=problem_id)
    lessons = lessons_of(problem, solution, kind=kind, code=code, problem_id=row.id or 0)
    year, terms = await school_terms(session, row, on=today or utcnow().date())
    if not terms:
        raise NotFound(f"{year.name} has no terms; create_term first", field="problem_id")
    first, last = terms[0].start, max(t.end for t in terms)
    holidays = (public_holidays(first, last, country=holidays_country, subdivision=holidays_subdivision)
                if holidays_country else {})
    covers: list[FeedCover] = []
    courses = {lesson.course_id for lesson in lessons}
    for c in await repo.covers_between(session, start=first, end=last) if kind != "room" else ():
        if c.problem_id != row.id:
            continue
        view = None
        if kind == "teacher" and c.cover_teacher == code and c.kind != CoverKind.UNCOVERED.value:
            view = CoverView.GIVEN
        elif kind == "teacher" and c.absent_teacher == code:
            view = CoverView.AWAY
        elif kind == "section" and c.course_id in courses:
            view = CoverView.CHANGED
        if view is not None:
            covers.append(FeedCover(c.id or 0, c.on_date, c.period, c.course_id, c.study_room or c.room,
                                    c.absent_teacher, view, c.cover_teacher))
    sol = await repo.get_solution_or_raise(session, row.published_solution_id or 0)
    text = timetable_calendar(name=f"{problem.name}: {kind} {code}", lessons=lessons,
                              period_times=problem.period_times,
                              terms=[FeedTerm(t.id, t.name, t.start, t.end) for t in terms], timezone=timezone,
                              holidays=holidays, covers=covers, stamp=sol.created_at)
    if len(text) > MAX_FEED_BYTES:
        raise Conflict(f"the {kind} {code} feed is {len(text):,} bytes, over {MAX_FEED_BYTES:,}")
    return text, text.count(b"BEGIN:VEVENT")


# ---------------------------------------------------------------- secret calendar URLs

FEED_MANAGERS = frozenset({Role.ADMIN, Role.REGISTRAR})
"""Who makes and revokes any feed; a teacher only their own timetable's."""


async def _own_code(session: AsyncSession, actor: Actor) -> str | None:
    if actor.employee_id is None:
        return None
    return (await hr.get_employee(session, actor.employee_id, field="teacher")).code


async def create_feed(session: AsyncSession, actor: Actor, *, problem_id: int | None, kind: str, code: str
                      ) -> tuple[TimetableFeed, str]:
    """Make a secret calendar URL of a teacher's, section's or room's published timetable; return the feed and its
    token (shown once: only its SHA-256 is stored). `problem_id` None follows the newest timetable problem.
    Admins and registrars make any feed, a teacher only their own timetable's. Raises PermissionDenied, NotFound
    (problem, nothing published, code), InvalidInput (kind)."""
    if not actor.has_any(FEED_MANAGERS) and (kind != "teacher" or code != await _own_code(session, actor)):
        raise PermissionDenied("a teacher makes a calendar URL of their own timetable only (kind teacher, their "
                               "employee code)")
    row, problem, solution = await published(session, problem_id=problem_id)
    lessons_of(problem, solution, kind=kind, code=code, problem_id=row.id or 0)
    token = secrets.token_urlsafe(24)
    feed = await repo.add(session, TimetableFeed(kind=kind, code=code, problem_id=problem_id,
                                                 token_hash=hashlib.sha256(token.encode()).hexdigest(),
                                                 created_by=actor.id or None))
    return feed, token


async def revoke_feed(session: AsyncSession, actor: Actor, *, feed_id: int) -> TimetableFeed:
    """Revoke a calendar URL (its row soft-deleted: the URL answers 404 from now on). Its maker or an admin or
    registrar may. Raises NotFound (feed_id, also for a feed already revoked), PermissionDenied."""
    feed = await repo.get_feed(session, feed_id)
    if feed is None:
        raise NotFound(f"no live calendar feed with id {feed_id}", field="feed_id")
    if not actor.has_any(FEED_MANAGERS) and feed.created_by != actor.id:
        raise PermissionDenied(f"feed {feed_id} was made by another user; an admin or registrar may revoke it")
    feed.deleted_at = utcnow()
    bump(feed)
    session.add(feed)
    await session.flush()
    return feed


MAX_TOKEN_LENGTH = 100


async def feed_of_token(session: AsyncSession, token: str) -> TimetableFeed:
    """Return the live feed of a presented token; raises NotFound (the same answer for a wrong, malformed or
    revoked token: nothing tells them apart)."""
    row = (await repo.feed_by_hash(session, hashlib.sha256(token.encode()).hexdigest())
           if 0 < len(token) <= MAX_TOKEN_LENGTH else None)
    if row is None:
        raise NotFound("no such calendar feed (the URL is wrong or was revoked)", field="token")
    return row
