"""Cancelling a running timetable solve stops the job and its solver thread."""

from __future__ import annotations

import asyncio
import time

from domain.timetable import repository as timetable_repo
from domain.timetable import service as timetable
from tests.conftest import itc2007_dir
from tests.factories import make_school
from tools.invoke import invoke
from workers.timetable import STOP_WAIT_S


async def test_cancelling_a_running_solve_stops_it_long_before_its_time_limit(rt):
    school = await make_school(rt, students=1)
    async with rt.db.write() as s:
        row, _ = await timetable.import_ctt(s, text=(itc2007_dir() / "comp07.ctt").read_text())
        problem_id = row.id
    job = await invoke(rt, "solve_timetable", {"problem_id": problem_id, "time_limit_s": 300}, school.registrar)
    deadline = time.monotonic() + 120
    while True:
        seen = await invoke(rt, "get_job", {"job_id": job.job_id}, school.registrar)
        if seen.status == "running" and seen.progress_message and "lectures" not in seen.progress_message:
            break  # the solver thread is searching
        assert time.monotonic() < deadline, seen
        await asyncio.sleep(0.1)
    asked = time.monotonic()
    await invoke(rt, "cancel_job", {"job_id": job.job_id}, school.registrar)
    while True:
        done = await invoke(rt, "get_job", {"job_id": job.job_id}, school.registrar)
        if done.status != "running":
            break
        assert time.monotonic() - asked < 60, "the cancelled solve kept running"
        await asyncio.sleep(0.1)
    assert done.status == "cancelled" and done.result is None
    # The job closes once its solver thread has stopped, or after STOP_WAIT_S if the thread ignored the stop.
    assert time.monotonic() - asked < STOP_WAIT_S, "the solver thread did not stop when the job was cancelled"
    async with rt.db.read() as s:
        assert await timetable_repo.solution_of_job(s, job.job_id) is None
