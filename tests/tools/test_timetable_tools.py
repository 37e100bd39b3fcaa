"""Timetable tools on a real database: solve as a job (in-process runner), publish through the gate, schedules."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func
from sqlmodel import select

from domain.jobs import service as jobs_service
from domain.jobs.models import Job
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.migrations.schema import migrate, target_metadata
from domain.kernel.settings import Settings
from domain.timetable import service as timetable
from domain.timetable.models import ProblemSource, TimetableCover
from domain.timetable.problem import Assignment, Course, Curriculum, Problem, Room, Solution
from domain.timetable.rules import lessons_moved
from domain.timetable.solver import SolveResult
from tests.conftest import drop_pg_database, fresh_database_url, wait_for
from tests.factories import make_school
from tools.invoke import invoke
from tools.runtime import Runtime
from workers.handlers import JobContext, get_handler

JOBS_REVISION = "7c1f3a9d5e21"


def tiny_problem() -> Problem:
    """Two days of two periods, three rooms; t1 teaches c1 (twice) and c3, t2 teaches c2; q1 = c1+c2, q2 = c3."""
    return Problem(name="tiny", days=2, periods_per_day=2,
                   courses=(Course("c1", "t1", 2, 2, 20), Course("c2", "t2", 1, 1, 10), Course("c3", "t1", 1, 1, 25)),
                   rooms=(Room("r1", 30), Room("r2", 10), Room("r3", 50)),
                   curricula=(Curriculum("q1", ("c1", "c2")), Curriculum("q2", ("c3",))))


def tiny_solution(*, c3_room: str = "r3") -> Solution:
    """A feasible timetable of `tiny_problem`: Monday c1@r1 p0, c2@r2 p1; Tuesday c1@r1 p0, c3 p1."""
    return Solution((Assignment("c1", "r1", 0, 0), Assignment("c2", "r2", 0, 1), Assignment("c1", "r1", 1, 0),
                     Assignment("c3", c3_room, 1, 1)))


async def make_published_timetable(runtime) -> tuple[int, int]:
    """Store `tiny_problem` (with period times, for calendars) with `tiny_solution` published; return (problem id,
    solution id)."""
    problem = replace(tiny_problem(), period_times=("09:00-09:45", "09:50-10:35"))
    async with runtime.db.write() as s:
        row = await timetable.store_problem(s, problem=problem, source=ProblemSource.SCHOOL)
        sol = await timetable.save_solution(s, problem_row=row, result=SolveResult(
            status="feasible", solution=tiny_solution(), score=None, seconds=0.0, progress=()))
        await timetable.publish(s, solution_id=sol.id)
        return row.id, sol.id


COVER_SHEET_DATE = date(2026, 10, 13)
"""A Tuesday of the test schools' Term 1 (tests.factories.make_school) with a cover on `make_timetable_extras`'s
timetable."""


async def make_timetable_extras(runtime, problem_id: int) -> int:
    """On `make_published_timetable`'s timetable: a published cover (t1 away on COVER_SHEET_DATE, c1's period-0
    lesson a study period in r2 supervised by t2) and a calendar feed of room r1; return the feed's id."""
    async with runtime.db.write() as s:
        s.add(TimetableCover(problem_id=problem_id, on_date=COVER_SHEET_DATE, period=0, course_id="c1", room="r1",
                             absent_teacher="t1", kind="study", cover_teacher="t2", study_room="r2"))
        feed, _ = await timetable.create_feed(s, SYSTEM_ACTOR, problem_id=problem_id, kind="room", code="r1")
        return feed.id


def test_lessons_moved_counts_changed_placements():
    assert lessons_moved(None, tiny_solution()) == 4
    assert lessons_moved(tiny_solution(), tiny_solution()) == 0
    assert lessons_moved(tiny_solution(), tiny_solution(c3_room="r2")) == 1


async def test_solve_publish_and_ask_the_timetable(rt):
    school = await make_school(rt, students=1)
    async with rt.db.write() as s:
        row = await timetable.store_problem(s, problem=tiny_problem(), source=ProblemSource.SCHOOL)
        problem_id = row.id
    with pytest.raises(PermissionDenied):
        await invoke(rt, "solve_timetable", {"problem_id": problem_id}, school.teacher)
    job = await invoke(rt, "solve_timetable", {"problem_id": problem_id, "time_limit_s": 2, "seed": 3},
                       school.registrar)
    assert job.kind == "solve_timetable" and job.params == {"problem_id": problem_id, "time_limit_s": 2, "seed": 3}
    done = await wait_for(rt, school.registrar, job.job_id, timeout=60.0)
    assert done.status == "succeeded", done.error
    assert done.result["hard_violations"] == 0 and done.result["problem_id"] == problem_id
    assert done.result["best_cost_over_time"], done.result
    solution_id = done.result["solution_id"]

    got = await invoke(rt, "get_timetable_solution", {"solution_id": solution_id}, school.viewer)
    assert got.job_id == job.job_id and got.lessons == 4 and not got.published
    assert got.soft_cost == done.result["soft_cost"] == sum(v for k, v in got.breakdown.items()
                                                              if not k.startswith("hard_"))
    with pytest.raises(NotFound, match="has no published timetable"):
        await invoke(rt, "get_teacher_schedule", {"problem_id": problem_id, "teacher": "t1"}, school.viewer)

    pending = await invoke(rt, "publish_timetable", {"solution_id": solution_id}, school.registrar)
    assert pending.status == "proposed" and pending.preview["lessons_moved"] == 4
    assert "first timetable, 4 lessons" in pending.summary
    done_action = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    assert done_action.status == "executed" and done_action.result["lessons_moved"] == 4

    week = await invoke(rt, "get_teacher_schedule", {"problem_id": problem_id, "teacher": "t1"}, school.viewer)
    assert sorted(x.course for x in week.items) == ["c1", "c1", "c3"]
    assert [(x.day, x.period) for x in week.items] == sorted((x.day, x.period) for x in week.items)
    tuesday = await invoke(rt, "get_teacher_schedule", {"problem_id": problem_id, "teacher": "t1",
                                                        "weekday": "tuesday"}, school.viewer)
    assert all(x.weekday == "tuesday" and x.day == 1 for x in tuesday.items)
    assert len(tuesday.items) == sum(1 for x in week.items if x.day == 1)
    section = await invoke(rt, "get_section_timetable", {"problem_id": problem_id, "curriculum": "q1"},
                           school.viewer)
    assert sorted(x.course for x in section.items) == ["c1", "c1", "c2"]

    # Publishing a hand-made timetable next: the preview counts the lessons that move, the gate executes it.
    async with rt.db.write() as s:
        row = await timetable.resolve_problem(s, problem_id)
        mine = await timetable.save_solution(s, problem_row=row, result=SolveResult(
            status="feasible", solution=tiny_solution(), score=None, seconds=0.0, progress=()))
    async with rt.db.read() as s:
        expected = lessons_moved(timetable.solution_of(await timetable.repo.get_solution(s, solution_id)),
                                 tiny_solution())
    second = await invoke(rt, "publish_timetable", {"solution_id": mine.id}, school.admin)
    assert second.preview["lessons_moved"] == expected
    assert second.preview["before"]["published_solution_id"] == solution_id
    await invoke(rt, "confirm_action", {"action_id": second.action_id}, school.admin)

    monday = await invoke(rt, "get_teacher_schedule", {"problem_id": problem_id, "teacher": "t1",
                                                       "date": "2026-11-23"}, school.viewer)  # a Monday
    assert [(x.course, x.room, x.period) for x in monday.items] == [("c1", "r1", 0)]
    room = await invoke(rt, "get_room_schedule", {"problem_id": problem_id, "room": "r1", "limit": 1},
                        school.viewer)
    assert len(room.items) == 1 and room.next_cursor
    rest = await invoke(rt, "get_room_schedule", {"problem_id": problem_id, "room": "r1", "cursor": room.next_cursor},
                        school.viewer)
    assert [(x.day, x.course) for x in room.items + rest.items] == [(0, "c1"), (1, "c1")] and not rest.next_cursor
    free = await invoke(rt, "find_free_rooms", {"problem_id": problem_id, "weekday": "monday", "period": 0,
                                                "min_capacity": 20}, school.viewer)
    assert [(r.room, r.capacity) for r in free.items] == [("r3", 50)]

    with pytest.raises(NotFound, match="no teacher 't9'"):
        await invoke(rt, "get_teacher_schedule", {"problem_id": problem_id, "teacher": "t9"}, school.viewer)
    with pytest.raises(InvalidInput, match="the timetable has 2 days"):
        await invoke(rt, "get_teacher_schedule", {"problem_id": problem_id, "teacher": "t1", "weekday": "friday"},
                     school.viewer)
    with pytest.raises(InvalidInput, match="period 2 is past the last period"):
        await invoke(rt, "find_free_rooms", {"problem_id": problem_id, "weekday": "monday", "period": 2},
                     school.viewer)
    with pytest.raises(NotFound, match="no curriculum 'q9'"):
        await invoke(rt, "get_section_timetable", {"problem_id": problem_id, "curriculum": "q9"}, school.viewer)


async def test_an_infeasible_solution_cannot_be_published(rt):
    school = await make_school(rt, students=1)
    clash = Solution((Assignment("c1", "r1", 0, 0), Assignment("c2", "r2", 0, 0), Assignment("c1", "r1", 1, 0),
                      Assignment("c3", "r3", 1, 0)))  # q1 and t1 clash
    async with rt.db.write() as s:
        row = await timetable.store_problem(s, problem=tiny_problem(), source=ProblemSource.SCHOOL)
        bad = await timetable.save_solution(s, problem_row=row, result=SolveResult(
            status="feasible", solution=clash, score=None, seconds=0.0, progress=()))
    assert bad.hard_violations > 0
    with pytest.raises(Conflict, match="breaks .* hard constraints"):
        await invoke(rt, "publish_timetable", {"solution_id": bad.id}, school.admin)


async def test_a_stored_problem_over_the_size_limits_cannot_be_solved(rt):
    """Issue 17: an ITC2007 file declaring 10^6 days x 10^6 periods and 99,999,999 lectures was stored on 8be5377 and
    any registrar could start a solve on it. parse_ctt now refuses it; one stored before is refused at solve time."""
    school = await make_school(rt, students=1)
    absurd = Problem(name="absurd", days=1_000_000, periods_per_day=1_000_000,
                     courses=(Course("c1", "t1", 99_999_999, 1, 10),), rooms=(Room("r1", 30),), curricula=())
    async with rt.db.write() as s:
        row = await timetable.store_problem(s, problem=absurd, source=ProblemSource.ITC2007)
        jobs_before = (await s.exec(select(func.count()).select_from(Job))).one()
    with pytest.raises(InvalidInput) as err:
        await invoke(rt, "solve_timetable", {"problem_id": row.id, "time_limit_s": 1,
                                             "idempotency_key": f"absurd-{row.id}"}, school.admin)
    assert err.value.field == "problem_id"
    for named in ("too large to solve", "Days 1,000,000 (at most 7)", "Periods_per_day 1,000,000 (at most 16)",
                  "Lectures 99,999,999 (at most 10,000)"):
        assert named in err.value.message
    async with rt.db.read() as s:
        assert (await s.exec(select(func.count()).select_from(Job))).one() == jobs_before  # no solve started


async def test_the_solve_handler_is_idempotent(rt):
    async with rt.db.write() as s:
        row = await timetable.store_problem(s, problem=tiny_problem(), source=ProblemSource.SCHOOL)
        params = {"problem_id": row.id, "time_limit_s": 1, "seed": 0}
        job = await jobs_service.create_job(s, SYSTEM_ACTOR, kind="solve_timetable", params=params)
        await jobs_service.mark_running(s, job_id=job.id)
    handler = get_handler("solve_timetable")
    assert handler is not None
    first = await handler(JobContext(runtime=rt, job_id=job.id, attempt=1), job.id, params)
    started = time.monotonic()
    again = await handler(JobContext(runtime=rt, job_id=job.id, attempt=2), job.id, params)
    assert again["solution_id"] == first["solution_id"] and first["hard_violations"] == 0
    assert time.monotonic() - started < 1.0  # answered from the stored row, not solved again


async def test_the_migration_matches_the_models_and_downgrades(tmp_path):
    from domain.migrations.schema import alembic_config

    url, pg_name = await fresh_database_url(tmp_path)
    runtime = Runtime.create(Settings(database_url=url))
    engine = runtime.db.write_engine
    try:
        await migrate(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), target_metadata))
        assert diff == []

        def down(connection) -> None:
            from alembic import command

            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, JOBS_REVISION)

        async with engine.begin() as conn:
            await conn.run_sync(down)
        await migrate(engine)
    finally:
        await runtime.close()
        if pg_name:
            await drop_pg_database(pg_name)
