"""Shared fixtures: one fresh database per test session, on SQLite (default) or PostgreSQL.

Set MCS_ERP_TEST_BACKEND=postgresql (and optionally MCS_ERP_TEST_PG_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/test) to run the suite on PostgreSQL: a database named
mcs_test_<random> is created for the session and dropped at its end. When CI=true a missing PostgreSQL is a
failure, never a skip.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from domain.kernel.settings import Settings
from tools.runtime import Runtime
from workers.runner import InProcessRunner, runner_for

BACKEND = os.environ.get("MCS_ERP_TEST_BACKEND", "sqlite").lower()
PG_ADMIN_URL = os.environ.get("MCS_ERP_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def create_pg_database(name: str) -> str:
    """Create database `name` on the test server and return its URL; fails (never skips) under CI."""
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:
        if IN_CI:
            raise
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}")
    finally:
        await engine.dispose()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(name: str) -> None:
    engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await engine.dispose()


async def fresh_database_url(tmp_dir: Path) -> tuple[str, str | None]:
    """Return (url, pg_name) of a new empty database of the selected backend."""
    if BACKEND == "postgresql":
        name = f"mcs_test_{uuid.uuid4().hex[:12]}"
        return await create_pg_database(name), name
    return f"sqlite+aiosqlite:///{tmp_dir / f'mcs-{uuid.uuid4().hex[:8]}.db'}", None


def pytest_xdist_auto_num_workers(config) -> int:
    """How many pytest-xdist workers `-n auto` (pyproject's addopts) starts: one more than the CPUs, at most 4,
    when a directory or the whole suite runs; none (one process, as plain pytest) when only test files or test
    ids are named, or on one CPU. One more than the CPUs because the end-to-end tests spend much of their time
    waiting for the subprocesses and servers they start: with one worker per CPU, two CPUs were 75 % busy.
    MCS_ERP_TEST_WORKERS=N overrides (0: no workers). Each worker has its own session database and templates;
    tests of one file run on one worker (--dist loadfile)."""
    override = os.environ.get("MCS_ERP_TEST_WORKERS")
    if override is not None:
        return int(override)
    args = [arg for arg in config.args if not arg.startswith("-")]
    if args and all(".py" in arg for arg in args):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 0 if cpus < 2 else min(cpus + 1, 4)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Run the files holding end-to-end tests (marked e2e: subprocesses, the longest tests) first, each file's
    tests together and in their order: the workers then share the long files and finish on the many short ones.

    On PostgreSQL, the tests marked no_database (pure rules, engines, solvers, renderers: they make no database,
    so the backend cannot change what they check) are deselected: they ran on the SQLite leg, and running them
    again was minutes of CI for nothing. The guard below (_no_database_guard) fails a marked test that makes a
    database, on either backend, so the mark cannot hide a test the PostgreSQL leg needs.

    The tests of TRANSPORT_FILES are marked transport and run on the SQLite leg only as well: see there."""
    root = Path(__file__).resolve().parent
    for item in items:
        path = item.path.relative_to(root).as_posix()
        if path in NO_DATABASE_FILES:
            item.add_marker(pytest.mark.no_database)
        elif path in TRANSPORT_FILES:
            item.add_marker(pytest.mark.transport)
    if BACKEND == "postgresql":
        def sqlite_leg_only(item) -> bool:
            return any(item.get_closest_marker(mark) is not None for mark in ("no_database", "transport"))

        deselected = [item for item in items if sqlite_leg_only(item)]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not sqlite_leg_only(item)]
    e2e_files = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items.sort(key=lambda item: item.path not in e2e_files)


NO_DATABASE_FILES = frozenset({
    # Test files (relative to tests/) every test of which is no_database: a file's own `pytestmark` does as well.
    "agent/test_fake_llm.py", "tools/test_declarations_only.py", "tools/test_schema.py", "tools/test_types.py",
    "domain/test_inventory_rules.py", "domain/test_attendance_rules.py", "domain/test_leave_rules.py",
    "domain/test_audit_merkle.py", "domain/test_payroll_engine.py", "domain/test_offload.py",
    "domain/test_timetable_school.py", "domain/test_money.py", "domain/test_aba.py", "domain/test_payroll_tax.py",
    "domain/test_timetable_itc2007.py", "domain/test_timetable_scoring.py", "domain/test_text_fold.py",
    "domain/test_gradebook_grader.py", "domain/test_stp.py", "domain/test_financial_reports.py",
    "domain/test_ledger_line_rules.py", "domain/test_grading.py", "domain/test_workdays.py",
    "domain/test_payroll_formula.py", "domain/test_grading_rules.py", "domain/test_timetable_cover.py",
    "domain/test_pdf_tables.py", "domain/test_statement_document.py", "domain/test_payslip_document.py",
    "domain/test_timetable_solver.py", "domain/test_report_card.py", "domain/test_payroll_leave_movements.py",
    "domain/test_heap.py",
})
TRANSPORT_FILES = frozenset({
    # Test files (relative to tests/) whose subject is a transport, a client or a browser in front of the tools:
    # the MCP Inspector and the conformance suite (npm), the Host check, stdio's acceptance flow (the same
    # grading_flow runs over HTTP on both legs: test_e2e_http.py), toolset listings, and the OAuth, admin and
    # parent pages driven by Chromium. The database behind them is incidental: every tool, command and page they
    # reach runs the same Database code whose PostgreSQL behaviour the in-process tests and the HTTP end-to-end
    # tests check on the PostgreSQL leg. Running them twice cost about six minutes of CI's worker time for
    # nothing the backend can change, so they are marked transport and run on the SQLite leg only. A test of
    # another file whose twin over HTTP runs on both legs (a flow over stdio) carries the mark itself.
    "server/test_inspector.py", "server/test_conformance.py", "server/test_host_protection.py",
    "server/test_e2e_stdio.py", "server/test_toolsets_e2e.py", "server/test_oauth_browser.py",
    "server/test_admin_browser.py", "parents/test_parent_browser.py",
})
DATABASE_FIXTURES = frozenset({"database_url", "runtime", "rt"})


@pytest.fixture(autouse=True)
def _no_database_guard(request) -> None:
    """A test marked no_database must make no database: it may not use the database fixtures, and building a
    Database (domain.kernel.db: every runtime, engine and subprocess-free path to SQL goes through it) fails it."""
    if request.node.get_closest_marker("no_database") is None:
        return
    used = DATABASE_FIXTURES.intersection(request.fixturenames)
    if used:
        pytest.fail(f"{request.node.nodeid} is marked no_database but uses {sorted(used)}")
    from domain.kernel import db

    monkeypatch = request.getfixturevalue("monkeypatch")  # only for a marked test, not the 10,000 others

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"{request.node.nodeid} is marked no_database but builds a database")

    monkeypatch.setattr(db.Database, "__init__", refuse)
    monkeypatch.setattr(db, "create_async_engine", refuse)


class DatabaseTemplates:
    """Databases made once per test process (per pytest-xdist worker) and copied for each test that needs one.

    `await TEMPLATES.fill(key, url, make)`: the first call runs `make(url)` on the empty database `url` (e.g.
    the real `mcs-erp init` subprocess, asserting its output) and keeps a copy of the result as template `key`;
    later calls put a copy of that template into the empty database `url` instead. A copy is cheap: the SQLite
    backup API into the new file, or `CREATE DATABASE ... TEMPLATE` on PostgreSQL. Templates are removed when
    the session ends (`pytest_sessionfinish`).
    """

    def __init__(self) -> None:
        self._urls: dict[str, str] = {}
        self._pg_names: list[str] = []
        self._dir: Path | None = None
        self._lock: asyncio.Lock | None = None

    async def fill(self, key: str, url: str, make: Callable[[str], Awaitable[None]]) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            template = self._urls.get(key)
            if template is None:
                await make(url)
                self._urls[key] = await self._copy(url, None)
                return
        await self._copy(template, url)

    async def _copy(self, source: str, target: str | None) -> str:
        """Copy database `source` into `target` (an empty database of the same backend; None: a new template)."""
        if BACKEND == "postgresql":
            source_name = make_url(source).database
            if target is None:
                target_name = f"mcs_tpl_{uuid.uuid4().hex[:12]}"
                self._pg_names.append(target_name)
            else:
                target_name = make_url(target).database
            engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            try:
                async with engine.connect() as conn:
                    if target is not None:
                        await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{target_name}"')
                    await conn.exec_driver_sql(f'CREATE DATABASE "{target_name}" TEMPLATE "{source_name}"')
            finally:
                await engine.dispose()
            return make_url(PG_ADMIN_URL).set(database=target_name).render_as_string(hide_password=False)
        if target is None:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="mcs-erp-templates-"))
            target = f"sqlite+aiosqlite:///{self._dir / f'{uuid.uuid4().hex[:8]}.db'}"
        source_path, target_path = make_url(source).database, make_url(target).database
        await asyncio.to_thread(_sqlite_copy, source_path, target_path)
        return target

    async def remove_all(self) -> None:
        for name in self._pg_names:
            await drop_pg_database(name)
        self._pg_names.clear()
        self._urls.clear()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def _sqlite_copy(source: str, target: str) -> None:
    """Copy a SQLite database file, WAL included, with the backup API."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


TEMPLATES = DatabaseTemplates()


def pytest_sessionfinish(session, exitstatus):
    asyncio.run(TEMPLATES.remove_all())


@asynccontextmanager
async def own_runtime(tmp_path_factory, name: str, *, in_process_jobs: bool = False,
                      **settings: Any) -> AsyncIterator[Runtime]:
    """A runtime on a fresh, migrated database of the selected backend, dropped at the end: for tests that must
    see every row or change school-wide state (the default grading scale, a month's payroll run). `settings` are
    Settings fields; `in_process_jobs` runs its jobs in this process whatever the environment says."""
    from server.cli import prepare_database

    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp(name))
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0, **settings))
    if in_process_jobs:
        runtime.jobs = InProcessRunner(runtime)
    try:
        await prepare_database(runtime)
        yield runtime
    finally:
        await runtime.close()
        if pg_name:
            await drop_pg_database(pg_name)


DEMO_SEED = 42
TEST_DATA_KEYS = SecretStr("test:" + base64.urlsafe_b64encode(bytes(range(32))).decode())
"""The session runtime's data keys (domain.kernel.crypto): PostgreSQL has no default key file."""


@asynccontextmanager
async def demo_school_url(tmp_dir: Path) -> AsyncIterator[str]:
    """A database of its own (a SQLite file in the existing folder `tmp_dir`, or a PostgreSQL database dropped
    at the end) holding the demo school of seed 42, migrated as
    `mcs-erp init` does and built by domain.demo.builder, without the `mcs-erp demo` command's queued actions and
    API key. The school is built once per test process (pytest-xdist worker) and copied for each caller
    (TEMPLATES), so the many tests that need a realistic school share one 10-second build."""
    url, pg_name = await fresh_database_url(tmp_dir)
    try:
        await TEMPLATES.fill("demo-school", url, _build_demo_school)
        yield url
    finally:
        if pg_name:
            await drop_pg_database(pg_name)


async def _build_demo_school(url: str) -> None:
    from domain.demo.builder import build_demo_school
    from server.cli import prepare_database

    rt = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
    try:
        await prepare_database(rt)
        async with rt.db.write() as s:
            await build_demo_school(s, seed=DEMO_SEED)
    finally:
        await rt.close()


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory) -> AsyncIterator[str]:
    """A migrated, empty database for the whole session."""
    from server.cli import prepare_database

    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("db"))
    runtime = Runtime.create(Settings(database_url=url))
    await prepare_database(runtime)
    await runtime.close()
    yield url
    if pg_name:
        await drop_pg_database(pg_name)


@pytest.fixture(scope="session")
async def runtime(database_url) -> AsyncIterator[Runtime]:
    """The session's runtime on the session database. Tests create their own rows with unique codes. Its queue
    name is its own: with MCS_ERP_REDIS_URL set, xdist workers (each with its own database, so with the same run
    and job ids) must not share arq queues or the run-feed channel, as two schools sharing a Redis must not."""
    rt = Runtime.create(Settings(database_url=database_url, key_cache_seconds=0, data_keys=TEST_DATA_KEYS,
                                 queue_name=f"mcs-erp-test:{uuid.uuid4().hex[:12]}"), jobs=runner_for)
    yield rt
    await rt.close()


@pytest.fixture(scope="module")
async def rt(runtime):
    """The session runtime, made to run jobs in-process whatever the environment says (module scope; a test
    module may define its own `rt`, e.g. on arq)."""
    saved = runtime.jobs
    if not isinstance(saved, InProcessRunner):
        runtime.jobs = InProcessRunner(runtime)
    yield runtime
    if runtime.jobs is not saved:
        await runtime.jobs.stop()
        runtime.jobs = saved


FINAL_JOB_STATUSES = ("succeeded", "failed", "cancelled")


async def wait_for(rt, actor, job_id: int, statuses=FINAL_JOB_STATUSES, *, timeout: float = 20.0):
    """Poll get_job as `actor` until the job's status is one of `statuses`; fail after `timeout` seconds."""
    from tools.invoke import invoke

    deadline = time.monotonic() + timeout
    while True:
        job = await invoke(rt, "get_job", {"job_id": job_id}, actor)
        if job.status in statuses:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} after {timeout}s"
        await asyncio.sleep(0.01)


def itc2007_dir() -> Path:
    """The ITC2007 Track 3 instances the repository carries (tests/data/itc2007, with their source and terms)."""
    return Path(__file__).resolve().parent / "data" / "itc2007"
