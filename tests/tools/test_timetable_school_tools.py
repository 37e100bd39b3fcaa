"""A school's own timetable through the tools: rooms, lessons a week, build_timetable_problem, solving with
wait_s and progress, and orphaned jobs run again by a serving in-process runner."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest
from sqlalchemy import update

from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from domain.timetable import repository as timetable_repo
from domain.timetable import service as timetable
from tests.conftest import drop_pg_database, fresh_database_url
from tests.factories import make_school, unique
from tools.invoke import invoke
from tools.runtime import Runtime
from workers.handlers import register, unregister
from workers.runner import InProcessRunner


async def school_with_rooms(rt, *, math_lessons: int = 4, science_lessons: int = 2):
    school = await make_school(rt, students=3)
    for _ in range(2):
        await invoke(rt, "create_room", {"code": unique("R"), "name": "Classroom", "capacity": 30}, school.registrar)
    await invoke(rt, "set_subject_weekly_lessons", {"subject_id": school.subject_id,
                                                    "weekly_lessons": math_lessons}, school.registrar)
    await invoke(rt, "set_class_weekly_lessons", {"class_id": school.other_class_id,
                                                  "weekly_lessons": science_lessons}, school.registrar)
    return school


async def test_build_timetable_problem_from_the_school(rt):
    school = await school_with_rooms(rt)
    out = await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id, "days": 5,
                                                       "periods_per_day": 6, "starts_at": "08:30",
                                                       "period_minutes": 50, "break_minutes": 10}, school.registrar)
    assert (out.courses, out.curricula, out.teachers, out.lessons, out.source) == (2, 1, 2, 6, "school")
    assert out.period_times[:2] == ["08:30-09:20", "09:30-10:20"] and out.rooms >= 2
    async with rt.db.read() as s:
        problem = timetable.problem_of(await timetable_repo.get_problem_or_raise(s, out.problem_id))
    lectures = sorted((c.lectures, c.min_working_days, c.students) for c in problem.courses)
    assert lectures == [(2, 2, 3), (4, 4, 3)]  # 3 students each; lessons spread over as many days as lessons
    listed = await invoke(rt, "list_timetable_problems", {"limit": 100}, school.viewer)
    assert out.problem_id in [p.problem_id for p in listed.items]

    # A class set to 0 lessons a week leaves the timetable; null goes back to the subject's number.
    await invoke(rt, "set_class_weekly_lessons", {"class_id": school.other_class_id, "weekly_lessons": 0},
                 school.registrar)
    fewer = await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id}, school.registrar)
    assert (fewer.courses, fewer.lessons) == (1, 4)
    back = await invoke(rt, "set_class_weekly_lessons", {"class_id": school.other_class_id, "weekly_lessons": None},
                        school.registrar)
    assert back.weekly_lessons is None
    again = await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id}, school.registrar)
    assert (again.courses, again.lessons) == (2, 8)  # science falls back to its subject's default, 4


async def test_impossible_school_data_and_bad_input_are_refused(rt):
    school = await school_with_rooms(rt, math_lessons=30, science_lessons=10)
    with pytest.raises(InvalidInput) as info:
        await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id}, school.registrar)
    assert info.value.field == "weekly_lessons" and "has 40 lessons a week but the week has only 35" in \
        info.value.message
    with pytest.raises(NotFound):
        await invoke(rt, "build_timetable_problem", {"academic_year_id": 999_999}, school.registrar)
    with pytest.raises(PermissionDenied):
        await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id}, school.teacher)
    with pytest.raises(InvalidInput) as info:
        await invoke(rt, "set_subject_weekly_lessons", {"subject_id": school.subject_id, "weekly_lessons": 41},
                     school.registrar)
    assert info.value.field == "weekly_lessons"
    code = unique("R")
    await invoke(rt, "create_room", {"code": code.lower(), "name": "Lab", "capacity": 20}, school.registrar)
    with pytest.raises(Conflict) as info:
        await invoke(rt, "create_room", {"code": code, "name": "Lab again", "capacity": 20}, school.registrar)
    assert info.value.field == "code"
    rooms = await invoke(rt, "list_rooms", {"min_capacity": 20, "limit": 100}, school.viewer)
    assert code in [r.code for r in rooms.items] and all(r.capacity >= 20 for r in rooms.items)


async def test_solve_with_wait_reports_progress_then_the_finished_job(rt):
    school = await school_with_rooms(rt)
    problem = await invoke(rt, "build_timetable_problem", {"academic_year_id": school.year_id}, school.registrar)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress, total, message):
        updates.append((progress, total, message))

    job = await invoke(rt, "solve_timetable", {"problem_id": problem.problem_id, "time_limit_s": 5, "wait_s": 60},
                       school.registrar, progress=on_progress)
    assert job.status == "succeeded" and job.result["hard_violations"] == 0
    values = [u[0] for u in updates]
    assert values == sorted(values) and len(set(values)) == len(values) and values[-1] == 1.0
    assert updates[-1][2] == f"job {job.job_id} succeeded" and all(u[1] == 1.0 for u in updates)


async def test_wait_returns_the_running_job_when_time_is_up(rt):
    school = await make_school(rt, students=1)
    kind = unique("test_slow_").lower()
    release = asyncio.Event()

    @register(kind)
    async def handler(ctx, job_id, params):
        await ctx.progress(0.25, "a quarter")
        await release.wait()
        return {"done": True}

    try:
        async with rt.db.write() as s:
            job = await jobs.create_job(s, school.registrar, kind=kind, params={})
        await rt.jobs.enqueue(job.id)
        from tools.jobs import wait_for_job
        from tools.registry import ToolContext

        seen = []

        async def on_progress(progress, total, message):
            seen.append((progress, message))

        started = time.monotonic()
        out = await wait_for_job(ToolContext(None, school.registrar, rt, on_progress), job.id, wait_s=1)
        assert out.status == "running" and time.monotonic() - started < 30
        assert (0.25, "a quarter") in seen
        release.set()
        final = await wait_for_job(ToolContext(None, school.registrar, rt, on_progress), job.id, wait_s=30)
        assert final.status == "succeeded" and seen[-1] == (1.0, f"job {job.id} succeeded")
    finally:
        release.set()
        unregister(kind)


async def _orphan(rt, actor, kind: str, *, silent_for: dt.timedelta) -> int:
    async with rt.db.write() as s:
        job = await jobs.create_job(s, actor, kind=kind, params={"n": 4})
        await jobs.mark_running(s, job_id=job.id)  # claimed by a process that then died
        await s.exec(update(Job).where(Job.id == job.id).values(heartbeat_at=utcnow() - silent_for))
        return job.id


async def test_a_serving_runner_runs_orphaned_jobs_again_once(tmp_path):
    # Its own database: recovery takes every orphaned job, and the session database holds other tests' jobs.
    url, pg_name = await fresh_database_url(tmp_path)
    own = Runtime.create(Settings(database_url=url, job_heartbeat_seconds=0.2))
    kind = unique("test_orphan_").lower()
    runs: list[int] = []

    @register(kind)
    async def handler(ctx, job_id, params):
        runs.append(job_id)
        return {"value": params["n"] * 10}

    runner = InProcessRunner(own)
    try:
        await migrate(own.db.write_engine)
        school = await make_school(own, students=1)
        orphan = await _orphan(own, school.registrar, kind, silent_for=dt.timedelta(hours=1))
        alive = await _orphan(own, school.registrar, kind, silent_for=dt.timedelta(seconds=-3600))
        await runner.start()  # a CLI command's runner recovers nothing
        await asyncio.sleep(0.5)
        assert runs == []
        await runner.start(serving=True)
        deadline = time.monotonic() + 20
        while True:
            done = await invoke(own, "get_job", {"job_id": orphan}, school.registrar)
            if done.status == "succeeded":
                break
            assert time.monotonic() < deadline, f"the orphaned job was not run again: {done}"
            await asyncio.sleep(0.05)
        assert done.attempts == 2 and done.result == {"value": 40} and runs == [orphan]
        await asyncio.sleep(1.0)  # several more recovery rounds: nothing runs twice
        still = await invoke(own, "get_job", {"job_id": alive}, school.registrar)
        assert runs == [orphan] and still.status == "running" and still.attempts == 1  # its process lives
    finally:
        await runner.stop()
        unregister(kind)
        await own.close()
        if pg_name:
            await drop_pg_database(pg_name)


async def test_a_running_job_with_a_live_heartbeat_is_not_claimed_twice(rt):
    school = await make_school(rt, students=1)
    alive = await _orphan(rt, school.registrar, "export_term_grades", silent_for=dt.timedelta(seconds=1))
    dead = await _orphan(rt, school.registrar, "export_term_grades", silent_for=dt.timedelta(minutes=5))
    window = utcnow() - dt.timedelta(seconds=30)
    async with rt.db.write() as s:
        assert await jobs.mark_running(s, job_id=alive, alive_after=window) is None  # its process lives
        claimed = await jobs.mark_running(s, job_id=dead, alive_after=window)
        assert claimed is not None and claimed.attempts == 2
        assert await jobs.mark_running(s, job_id=dead, alive_after=window) is None  # just claimed: alive now
