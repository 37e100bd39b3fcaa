"""Cover on the demo school (issue 24's acceptance): random absences, each published through the gate, never
double-book a teacher or a room, cover every lesson of an absent teacher exactly once (by a qualified teacher, a
supervised study period, or reported uncovered), and keep every teacher at or under the weekly cap."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, timedelta

import pytest

from domain.academics import service as academics
from domain.kernel.errors import Conflict
from domain.kernel.settings import Settings
from domain.timetable import repository as timetable_repo
from domain.timetable import service as timetable
from domain.timetable.cover import week_of
from domain.timetable.problem import Assignment, Problem, Solution
from domain.timetable.rules import teacher_lessons
from domain.timetable.school import SchoolWeek
from domain.timetable.solver import SolveResult
from tests.conftest import demo_school_url
from tests.factories import make_user
from tools.invoke import invoke
from tools.runtime import Runtime

TERM_DAYS = [date(2026, 9, 7) + timedelta(days=i) for i in range(60)]  # inside the demo's Term 1


def greedy_timetable(problem: Problem) -> Solution:
    """A feasible timetable placed lesson by lesson (busiest teachers first, a new day before a used one), enough
    for cover to work on without the solver's time."""
    sections: dict[str, list[str]] = defaultdict(list)
    for cur in problem.curricula:
        for course in cur.course_ids:
            sections[course].append(cur.id)
    load = Counter()
    for c in problem.courses:
        load[c.teacher] += c.lectures
    slots = [(d, p) for d in range(problem.days) for p in range(problem.periods_per_day)]
    rooms = sorted(problem.rooms, key=lambda r: (r.capacity, r.id))
    taken: set[tuple[str, tuple[int, int]]] = set()
    placed = []
    rnd = random.Random(0)
    for c in sorted(problem.courses, key=lambda c: (-load[c.teacher], -c.lectures, c.id)):
        days: set[int] = set()
        for _ in range(c.lectures):
            free = [s for s in slots if ("t" + c.teacher, s) not in taken
                    and all(("s" + q, s) not in taken for q in sections[c.id])]
            free.sort(key=lambda s: (s[0] in days, rnd.random()))
            for s in free:
                room = next((r for r in rooms if ("r" + r.id, s) not in taken and r.capacity >= c.students),
                            next((r for r in rooms if ("r" + r.id, s) not in taken), None))
                if room is not None:
                    taken.update({("t" + c.teacher, s), ("r" + room.id, s), *(("s" + q, s) for q in sections[c.id])})
                    days.add(s[0])
                    placed.append(Assignment(c.id, room.id, s[0], s[1]))
                    break
            else:
                raise AssertionError(f"the greedy timetable could not place {c.id}")
    return Solution(tuple(placed))


@pytest.fixture(scope="module")
async def demo(tmp_path_factory):
    async with demo_school_url(tmp_path_factory.mktemp("cover-demo")) as url:
        runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
        try:
            async with runtime.db.write() as s:
                row, problem = await timetable.build_school_problem(
                    s, academic_year_id=await _year(s), week=SchoolWeek(), teacher_max_periods_per_day=None,
                    teacher_absences=[])
                sol = await timetable.save_solution(s, problem_row=row, result=SolveResult(
                    status="feasible", solution=greedy_timetable(problem), score=None, seconds=0.0, progress=()))
                assert sol.hard_violations == 0
                await timetable.publish(s, solution_id=sol.id)
                registrar = await make_user(s, roles="registrar")
            yield runtime, row.id, registrar
        finally:
            await runtime.close()


async def _year(session) -> int:
    years = await academics.list_academic_years(session, after_id=0, limit=10)
    return next(y.id for y in years if y.start_date <= TERM_DAYS[0] <= y.end_date)


async def test_random_absences_on_the_demo_school_keep_every_rule(demo):
    runtime, problem_id, registrar = demo
    rnd = random.Random(24)
    async with runtime.db.read() as s:
        row, problem, solution = await timetable.published(s, problem_id=problem_id)
        _, classes = await academics.timetable_classes(s, academic_year_id=row.academic_year_id)
    teachers = sorted({c.teacher for c in problem.courses})
    subject_of = {c.class_code: c.subject_code for c in classes}
    qualified = defaultdict(set)
    for c in classes:
        qualified[c.subject_code].add(c.teacher_code)
    teaching = defaultdict(set)
    rooms_used = defaultdict(set)
    for a in solution.assignments:
        teaching[(a.day, a.period)].add(problem.course_by_id[a.course_id].teacher)
        rooms_used[(a.day, a.period)].add(a.room_id)
    absences: list[tuple[str, date]] = []
    for _ in range(12):
        teacher = rnd.choice(teachers)
        start = rnd.choice(TERM_DAYS)
        end = start + timedelta(days=rnd.randint(0, 4))
        if not any(teacher_lessons(problem, solution, teacher=teacher, day=d.weekday())
                   for d in (start + timedelta(days=i) for i in range((end - start).days + 1)) if d.weekday() < 5):
            continue
        try:
            pending = await invoke(runtime, "publish_cover", {"problem_id": problem_id, "teacher": teacher,
                                                              "start_date": start.isoformat(),
                                                              "end_date": end.isoformat()}, registrar)
        except Conflict as exc:  # every lesson of that absence already covered: a refusal, not a failure
            assert "already covered" in exc.message, exc
            continue
        done = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, registrar)
        assert done.status == "executed"
        absences += [(teacher, start + timedelta(days=i)) for i in range((end - start).days + 1)]

    async with runtime.db.read() as s:
        covers = [c for c in await timetable_repo.covers_between(s, start=TERM_DAYS[0], end=TERM_DAYS[-1] +
                                                                 timedelta(days=5)) if c.problem_id == problem_id]
    assert len(covers) > 20, len(covers)
    away = defaultdict(set)
    for teacher, day in absences:
        away[day].add(teacher)
    # Every lesson of every absent teacher has exactly one cover row (the unique index holds the "at most").
    lessons = Counter((c.on_date, c.period, c.course_id) for c in covers)
    assert set(lessons.values()) == {1}
    for teacher, day in set(absences):
        if day.weekday() < 5:
            for lesson in teacher_lessons(problem, solution, teacher=teacher, day=day.weekday()):
                assert (day, lesson.period, lesson.course_id) in lessons, (teacher, day, lesson)
    booked = Counter()
    rooms = Counter()
    week = Counter()
    for c in covers:
        assert c.kind in ("teacher", "study", "uncovered")
        if c.kind == "uncovered":
            assert c.cover_teacher is None
            continue
        slot = (c.on_date.weekday(), c.period)
        assert c.cover_teacher not in away[c.on_date] and c.cover_teacher not in teaching[slot]
        booked[(c.on_date, c.period, c.cover_teacher)] += 1
        week[(c.cover_teacher, week_of(c.on_date))] += 1
        if c.kind == "teacher":
            assert c.cover_teacher in qualified[subject_of[c.course_id]]
        else:
            assert c.study_room not in rooms_used[slot]
            rooms[(c.on_date, c.period, c.study_room)] += 1
    assert max(booked.values()) == 1 and (not rooms or max(rooms.values()) == 1)
    assert max(week.values()) <= runtime.settings.cover_max_per_week
    assert Counter(c.kind for c in covers)["teacher"] > 0
