"""The timetable acceptance flow end to end, as a school runs it: `mcs-erp demo` builds the school, an MCP client
builds its timetable problem, starts `solve_timetable`, waits on it with progress notifications, reads the
solution, publishes it through the confirmation gate and asks what a teacher teaches on Tuesday.

Twice: on the embedded default (the test backend, jobs in the server process, MCP over stdio) and with Redis
(`mcs-erp serve --http` enqueues on arq, a real `mcs-erp worker --burst` subprocess runs the solve). Then the
worker is killed mid-solve: after a restart the job ends once, with one stored solution, nothing published.

Redis comes from MCS_ERP_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); without it the Redis tests skip
locally and fail in CI. Each test uses its own arq queue name.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from mcp import Client
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.demo.builder import WEEKLY_LESSONS
from tests.conftest import IN_CI, TEMPLATES
from tests.server.e2e_helpers import (
    CLI,
    E2EDatabase,
    KeySpec,
    call_error,
    call_ok,
    create_key,
    e2e_database,
    http_client,
    http_server,
    run_cli,
    stdio_client,
)

pytestmark = pytest.mark.e2e

REDIS_URL = os.environ.get("MCS_ERP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SOLVE_S = 6  # the demo school's first timetable comes in about a second; its optimum (cost 0) in a few
WAIT_S = 150
KILLED_SOLVE_S = 20  # the solve a worker is killed in: its first timetable comes in about a second
DEMO_LESSONS = 24 * sum(WEEKLY_LESSONS.values())  # 24 sections


@pytest.fixture
async def redis_queue() -> AsyncIterator[str]:
    """A fresh arq queue name on a reachable Redis; its keys are deleted afterwards."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    queue = f"mcs-erp-e2e:{uuid.uuid4().hex[:12]}"
    yield queue
    keys = [key async for key in client.scan_iter(match=f"*{queue}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def demo_school(db: E2EDatabase) -> None:
    """`mcs-erp init` then `mcs-erp demo --no-serve`: the 24-section demo school with rooms and lessons a week.

    The two subprocesses run once per test process; later calls get a copy of the database they made
    (tests.conftest.TEMPLATES): the demo is deterministic, so a copy is what another build would make."""

    async def build(_url: str) -> None:
        await run_cli(db, "init")
        built = await run_cli(db, "demo", "--no-serve")
        assert "240 classes" in built.stdout and "27 rooms" in built.stdout, built.stdout

    await TEMPLATES.fill("demo", db.url, build)


def spawn_worker(db: E2EDatabase, *, burst: bool, log_name: str) -> subprocess.Popen:
    """Start `mcs-erp worker` (burst: run the queue, then exit) as a subprocess logging to the workdir."""
    log = (db.workdir / log_name).open("wb")
    try:
        return subprocess.Popen([*CLI, "worker", *(["--burst"] if burst else [])], env=db.env(), cwd=db.workdir,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def worker_log(db: E2EDatabase, name: str) -> str:
    path = db.workdir / name
    return path.read_text(errors="replace") if path.exists() else ""


async def solve_with_progress(client: Client, problem_id: int, *, key: str,
                              after_queued: Callable[[], Awaitable[None]] | None = None) -> dict:
    """Start solve_timetable (returns queued), then call it again with the same idempotency key and wait_s:
    the same job is awaited while the server sends progress notifications. Return the finished job."""
    args = {"problem_id": problem_id, "time_limit_s": SOLVE_S, "seed": 3, "idempotency_key": key}
    queued = await call_ok(client, "solve_timetable", args)
    assert queued["status"] in ("queued", "running") and queued["kind"] == "solve_timetable"
    if after_queued is not None:
        await after_queued()
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    result = await client.call_tool("solve_timetable", {**args, "wait_s": WAIT_S}, progress_callback=on_progress,
                                    read_timeout_seconds=WAIT_S + 30)
    assert not result.is_error, result.content[0].text
    job = result.structured_content
    assert job["job_id"] == queued["job_id"], "the same idempotency key must wait on the same job"
    assert job["status"] == "succeeded", job
    # Progress: notifications with strictly increasing values (MCP), the solver's messages, 1.0 at the end.
    values = [u[0] for u in updates]
    assert len(updates) >= 2 and values == sorted(values) and len(set(values)) == len(values), updates
    assert updates[-1][0] == 1.0 and updates[-1][1] == 1.0 and "succeeded" in (updates[-1][2] or "")
    messages = " | ".join(u[2] or "" for u in updates)
    assert "solving" in messages or "best soft cost" in messages, messages
    return job


async def timetable_flow(client: Client, *, after_queued: Callable[[], Awaitable[None]] | None = None) -> None:
    """Build, solve, publish through the gate, and ask a teacher's Tuesday."""
    problem = await call_ok(client, "build_timetable_problem", {})
    assert (problem["courses"], problem["curricula"], problem["rooms"], problem["lessons"]) == (240, 24, 27,
                                                                                             DEMO_LESSONS)
    assert problem["period_times"][0] == "08:00-08:45" and problem["source"] == "school"

    job = await solve_with_progress(client, problem["problem_id"], key=f"e2e-{uuid.uuid4().hex}",
                                    after_queued=after_queued)
    solution = await call_ok(client, "get_timetable_solution", {"solution_id": job["result"]["solution_id"]})
    assert solution["hard_violations"] == 0 and solution["lessons"] == DEMO_LESSONS
    assert solution["soft_cost"] == job["result"]["soft_cost"] and not solution["published"]

    teachers = (await call_ok(client, "list_teachers", {"limit": 100}))["items"]
    teacher = teachers[0]
    assert "no published timetable" in await call_error(client, "get_teacher_schedule",
                                                        {"teacher": teacher["code"], "weekday": "tuesday"})

    pending = await call_ok(client, "publish_timetable", {"solution_id": solution["solution_id"]})
    assert pending["status"] == "proposed" and pending["preview"]["lessons_moved"] == DEMO_LESSONS, pending
    done = await call_ok(client, "confirm_action", {"action_id": pending["action_id"]})
    assert done["status"] == "executed", done
    assert (await call_ok(client, "get_timetable_solution", {"solution_id": solution["solution_id"]}))["published"]

    # "What does this teacher teach on Tuesday?" Every Tuesday lesson is theirs and on Tuesday; the week's
    # lessons, day by day, add up to the lessons a week of their classes.
    classes = (await call_ok(client, "list_classes", {"teacher_id": teacher["employee_id"], "limit": 100}))["items"]
    weekly = sum(WEEKLY_LESSONS[c["code"].split("-", 1)[1]] for c in classes)
    tuesday = (await call_ok(client, "get_teacher_schedule", {"teacher": teacher["code"], "weekday": "tuesday",
                                                              "limit": 100}))["items"]
    assert tuesday and all(x["weekday"] == "tuesday" and x["day"] == 1 and x["teacher"] == teacher["code"]
                           for x in tuesday), tuesday
    assert {x["course"] for x in tuesday} <= {c["code"] for c in classes}
    assert all(x["starts_at"] and x["ends_at"] for x in tuesday)
    per_day = [len((await call_ok(client, "get_teacher_schedule", {"teacher": teacher["code"], "weekday": day,
                                                                   "limit": 100}))["items"])
               for day in ("monday", "tuesday", "wednesday", "thursday", "friday")]
    assert sum(per_day) == weekly and per_day[1] == len(tuesday)
    # A date works as well as a weekday: 2026-11-24 is a Tuesday.
    on_date = await call_ok(client, "get_teacher_schedule", {"teacher": teacher["code"], "date": "2026-11-24",
                                                             "limit": 100})
    assert on_date["items"] == tuesday


@pytest.mark.transport  # stdio and in-process jobs; the same flow runs on PostgreSQL over HTTP on an arq worker below
async def test_demo_school_timetable_on_the_embedded_default(tmp_path):
    async with e2e_database(tmp_path) as db:
        await demo_school(db)
        async with stdio_client(db, "registrar") as client:
            await timetable_flow(client)
        assert (await run_cli(db, "audit", "verify")).stdout.startswith("audit log intact")


async def test_demo_school_timetable_on_an_arq_worker(tmp_path, redis_queue):
    async with e2e_database(tmp_path) as db:
        db.extra_env.update(MCS_ERP_REDIS_URL=REDIS_URL, MCS_ERP_QUEUE_NAME=redis_queue)
        await demo_school(db)
        key = await create_key(db, KeySpec(user="registrar"))
        workers: list[subprocess.Popen] = []

        async def start_burst_worker() -> None:
            workers.append(spawn_worker(db, burst=True, log_name="worker.log"))

        try:
            async with http_server(db) as server, http_client(server, {"Authorization": f"Bearer {key}"}) as client:
                await timetable_flow(client, after_queued=start_burst_worker)
            code = await asyncio.to_thread(workers[0].wait, 60)
            assert code == 0, worker_log(db, "worker.log")
            assert "run_job" in worker_log(db, "worker.log")  # the solve ran on the worker, not in the server
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
                    w.wait()


async def _job_row(url: str, job_id: int) -> tuple[str, int]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT status, attempts FROM jobs WHERE id = :id"), {"id": job_id})).one()
            return row.status, row.attempts
    finally:
        await engine.dispose()


async def _solutions_of(url: str, problem_id: int) -> tuple[int, int | None]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            n = (await conn.execute(text("SELECT count(*) FROM timetable_solutions WHERE problem_id = :p"),
                                    {"p": problem_id})).scalar_one()
            published = (await conn.execute(text("SELECT published_solution_id FROM timetable_problems "
                                                 "WHERE id = :p"), {"p": problem_id})).scalar_one()
            return n, published
    finally:
        await engine.dispose()


async def test_killing_the_worker_mid_solve_finishes_the_job_once(tmp_path, redis_queue):
    async with e2e_database(tmp_path) as db:
        # Heartbeats every second: a killed worker's job is orphaned after 3 s instead of 30.
        db.extra_env.update(MCS_ERP_REDIS_URL=REDIS_URL, MCS_ERP_QUEUE_NAME=redis_queue,
                            MCS_ERP_JOB_HEARTBEAT_SECONDS="1")
        await demo_school(db)
        key = await create_key(db, KeySpec(user="registrar"))
        first = spawn_worker(db, burst=False, log_name="worker-1.log")
        second: subprocess.Popen | None = None
        try:
            async with http_server(db) as server, http_client(server, {"Authorization": f"Bearer {key}"}) as client:
                problem = await call_ok(client, "build_timetable_problem", {})
                # Long enough to outlast the wait for the first worker's first timetable, short because the
                # second worker runs the whole solve again (two cores' worth of annealing for its time limit).
                job = await call_ok(client, "solve_timetable", {"problem_id": problem["problem_id"],
                                                                "time_limit_s": KILLED_SOLVE_S, "seed": 5})
                job_id = job["job_id"]
                deadline = time.monotonic() + 90
                while True:  # until the solver on the first worker has reported a timetable
                    seen = await call_ok(client, "get_job", {"job_id": job_id})
                    if seen["status"] == "running" and "best soft cost" in (seen["progress_message"] or ""):
                        break
                    assert time.monotonic() < deadline, (seen, worker_log(db, "worker-1.log"))
                    assert first.poll() is None, worker_log(db, "worker-1.log")
                    await asyncio.sleep(0.2)
                first.send_signal(signal.SIGKILL)
                await asyncio.to_thread(first.wait, 30)

                assert await _job_row(db.url, job_id) == ("running", 1)  # left running by the dead worker
                assert await _solutions_of(db.url, problem["problem_id"]) == (0, None)

                second = spawn_worker(db, burst=True, log_name="worker-2.log")
                code = await asyncio.to_thread(second.wait, 150)
                assert code == 0, worker_log(db, "worker-2.log")
                done = await call_ok(client, "get_job", {"job_id": job_id})
                assert done["status"] == "succeeded" and done["attempts"] == 2, (done, worker_log(db, "worker-2.log"))
                assert done["result"]["hard_violations"] == 0
                # One job, one stored solution, nothing published by solving.
                assert await _solutions_of(db.url, problem["problem_id"]) == (1, None)
                listed = await call_ok(client, "list_jobs", {"kind": "solve_timetable"})
                assert [j["job_id"] for j in listed["items"]] == [job_id]
                assert "no published timetable" in await call_error(client, "get_section_timetable",
                                                                    {"curriculum": "7A"})
        finally:
            for w in (first, second):
                if w is not None and w.poll() is None:
                    w.kill()
                    w.wait()

