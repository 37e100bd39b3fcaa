"""Scale-out: compose.yaml's services run natively, and two workers share the long work.

The test reads compose.yaml and starts every service it names on this machine, with the service's own command
and environment. Only what exists inside compose alone is translated:

- `postgres` and `redis` are this machine's PostgreSQL (a fresh database of the test server) and Redis
  (MCS_ERP_TEST_REDIS_URL): the URLs naming the hosts `postgres` and `redis` point at them instead;
- `${VAR:-default}` is interpolated as compose does, from the environment;
- the image's `mcs-erp` is this virtual environment's console script, and the server binds 127.0.0.1 on a free
  port where its container binds 0.0.0.0:8000 (the port compose publishes);
- MCS_ERP_QUEUE_NAME is unique, so parallel runs sharing a Redis do not take each other's jobs.

Then, in compose's order, `migrate` runs to completion (services wait on it with
service_completed_successfully), the `server` starts, and `deploy.replicas` (2) `worker` processes. Over MCP a
payroll calculation of 3000 employees and a CP-SAT solve of ITC2007 comp01 are started at the same moment:
both succeed, each on a different `mcs-erp worker` (the job's `worker` names its process), neither in the
server, and they ran at the same time. Last, compose's healthcheck of the server passes against it.

PostgreSQL and Redis are required: with the SQLite test backend the test is skipped; with PostgreSQL and
without Redis it skips locally and fails when CI=true (the `redis_queue` fixture).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.agent.test_agent_worker import rows
from tests.conftest import BACKEND, itc2007_dir
from tests.server.e2e_helpers import (
    REPO_ROOT,
    E2EDatabase,
    HttpServer,
    call_ok,
    e2e_database,
    free_port,
    http_client,
)
from tests.server.test_payroll_e2e import CALC_PAY_DATE, CALC_PERIOD, seed_many
from tests.server.test_timetable_e2e import REDIS_URL, redis_queue  # noqa: F401

pytestmark = pytest.mark.e2e

COMPOSE = REPO_ROOT / "compose.yaml"
MCS_ERP = Path(sys.executable).parent / "mcs-erp"  # the console script the image puts on PATH
PROVIDED = ("postgres", "redis")  # compose services this machine provides natively
NATIVE_HOST = "127.0.0.1"
EMPLOYEES = 3000  # the payroll calculation takes a few seconds, overlapping the solve
SOLVE_S = 6
START_TIMEOUT = 60.0
JOB_TIMEOUT = 90.0
ONE_SHOT_TIMEOUT = 120.0
FINAL = ("succeeded", "failed", "cancelled")


# ---------------------------------------------------------------- reading compose.yaml

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\})")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Resolve compose's `$$`, `${VAR}`, `${VAR-default}` and `${VAR:-default}` in `value` from `variables`."""

    def resolve(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        current = variables.get(match["name"])
        if match["op"] == ":-":
            return current or match["default"]
        if match["op"] == "-":
            return match["default"] if current is None else current
        return current or ""

    assert "${" not in _VARIABLE.sub("", value), f"compose.yaml uses an interpolation not resolved here: {value!r}"
    return _VARIABLE.sub(resolve, value)


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """The service's dependencies and their conditions (compose's short list form means service_started)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def start_order(services: dict[str, dict[str, Any]]) -> list[str]:
    """Service names, every one after the services it depends on."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name in services, f"compose.yaml: {path[-1]} depends on unknown service {name}"
        assert name not in path, f"compose.yaml: dependency cycle {' -> '.join((*path, name))}"
        if name not in order:
            for dep in depends_on(services[name]):
                visit(dep, (*path, name))
            order.append(name)

    for name in services:
        visit(name, ())
    return order


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment (mapping or KEY=VALUE list), interpolated from this process's environment."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {name: interpolate(str(value), os.environ) for name, value in raw.items()}


def native_environment(service: dict[str, Any], *, database_url: str, redis_url: str, queue: str) -> dict[str, str]:
    """The service's environment for this machine: its database and Redis instead of compose's hosts."""
    env = environment_of(service)
    compose_db = make_url(env["MCS_ERP_DATABASE_URL"])
    assert compose_db.host == "postgres" and compose_db.drivername == "postgresql+asyncpg", compose_db
    env["MCS_ERP_DATABASE_URL"] = database_url
    assert urlsplit(env["MCS_ERP_REDIS_URL"]).hostname == "redis", env["MCS_ERP_REDIS_URL"]
    env["MCS_ERP_REDIS_URL"] = redis_url
    env["MCS_ERP_QUEUE_NAME"] = queue
    return env


def http_port(command: list[str]) -> int | None:
    """The port of a command's `--http HOST:PORT`, or None."""
    if "--http" not in command:
        return None
    return int(command[command.index("--http") + 1].rpartition(":")[2])


def native_command(service: dict[str, Any], *, port: int) -> list[str]:
    """The service's command on this machine: the venv's `mcs-erp`, and `--http` on 127.0.0.1:`port`."""
    argv = [interpolate(str(arg), os.environ) for arg in service["command"]]
    assert argv[0] == "mcs-erp", f"compose command {argv} does not run mcs-erp; start it natively here"
    argv[0] = str(MCS_ERP)
    if "--http" in argv:
        argv[argv.index("--http") + 1] = f"{NATIVE_HOST}:{port}"
    return argv


def native_healthcheck(service: dict[str, Any], *, compose_port: int, port: int) -> list[str]:
    """The service's healthcheck command on this machine: this interpreter, the native port."""
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python", test
    return [sys.executable, *(arg.replace(f":{compose_port}/", f":{port}/") for arg in test[2:])]


# ---------------------------------------------------------------- running the services natively


@dataclass
class NativeProcess:
    """One running replica of a compose service."""

    service: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class NativeStack:
    """compose's services on this machine: the one-shot results and the long-running processes."""

    compose: dict[str, Any]
    db: E2EDatabase
    env: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> its native environment
    completed: dict[str, str] = field(default_factory=dict)  # one-shot service -> its output
    running: list[NativeProcess] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    def processes(self, service: str) -> list[NativeProcess]:
        return [p for p in self.running if p.service == service]

    def logs(self) -> str:
        return "\n".join(f"--- {p.service} (pid {p.process.pid}):\n{p.log()}" for p in self.running)

    def process_env(self, service: str) -> dict[str, str]:
        """This process's environment without MCS_ERP_* settings, plus the service's own."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("MCS_ERP_")}
        return {**base, **self.env[service], "PYTHONUNBUFFERED": "1"}

    async def run_to_completion(self, service: str, argv: list[str]) -> str:
        """Run `argv` with the service's environment; fail unless it exits 0; return its output."""
        proc = await asyncio.create_subprocess_exec(*argv, env=self.process_env(service), cwd=self.db.workdir,
                                                    stdin=asyncio.subprocess.DEVNULL,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), ONE_SHOT_TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        text = out.decode(errors="replace")
        assert proc.returncode == 0, f"{service}: `{' '.join(argv)}` exited {proc.returncode}:\n{text}"
        return text

    def spawn(self, service: str, argv: list[str]) -> NativeProcess:
        log_path = self.db.workdir / f"{service}-{len(self.processes(service)) + 1}.log"
        with log_path.open("wb") as log:
            # A session of its own: the server's uvicorn workers are stopped with it.
            process = subprocess.Popen(argv, env=self.process_env(service), cwd=self.db.workdir,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        native = NativeProcess(service, process, log_path)
        self.running.append(native)
        return native

    def stop(self) -> None:
        for native in reversed(self.running):
            if native.process.poll() is None:
                native.process.terminate()
        for native in reversed(self.running):
            try:
                native.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(native.process.pid, signal.SIGKILL)
                native.process.wait(timeout=20)


@asynccontextmanager
async def native_stack(db: E2EDatabase, *, queue: str) -> AsyncIterator[NativeStack]:
    """Start compose.yaml's services natively in dependency order and stop them afterwards.

    A service another depends on with `service_completed_successfully` is one-shot: it runs to completion (exit
    0) before its dependents start. The others start `deploy.replicas` processes each.
    """
    compose = yaml.safe_load(COMPOSE.read_text())
    services: dict[str, dict[str, Any]] = compose["services"]
    stack = NativeStack(compose=compose, db=db)
    one_shot = {dep for s in services.values() for dep, condition in depends_on(s).items()
                if condition == "service_completed_successfully"}
    try:
        for name in start_order(services):
            if name in PROVIDED:
                continue  # this machine's PostgreSQL and Redis: the fixtures made sure they answer
            service = services[name]
            stack.env[name] = native_environment(service, database_url=db.url, redis_url=REDIS_URL, queue=queue)
            argv = native_command(service, port=stack.port)
            if name in one_shot:
                stack.completed[name] = await stack.run_to_completion(name, argv)
                continue
            for _ in range(int((service.get("deploy") or {}).get("replicas", 1))):
                stack.spawn(name, argv)
        yield stack
    except BaseException:
        print(stack.logs())  # shown with the failing test
        raise
    finally:
        await asyncio.to_thread(stack.stop)


async def wait_until(condition, what: str, stack: NativeStack, *, timeout: float = START_TIMEOUT) -> None:
    """Poll `condition()` (async) until it is true; fail after `timeout` seconds or when a process died."""
    deadline = time.monotonic() + timeout
    while not await condition():
        dead = [p for p in stack.running if p.process.poll() is not None]
        assert not dead, f"{dead[0].service} exited with {dead[0].process.returncode} before {what}:\n{stack.logs()}"
        assert time.monotonic() < deadline, f"not {what} after {timeout:.0f}s:\n{stack.logs()}"
        await asyncio.sleep(0.1)


def worker_identity(process: NativeProcess) -> str:
    """The `jobs.worker` value of a `mcs-erp worker` process (workers/execute.py process_identity)."""
    return f"worker:{socket.gethostname()[:80]}:{process.process.pid}"


async def create_key(stack: NativeStack, user: str, roles: str | None = None) -> str:
    """`mcs-erp keys create` with the server's environment (compose: `docker compose exec server ...`)."""
    args = [str(MCS_ERP), "keys", "create", "--user", user, *(["--roles", roles] if roles else [])]
    out = await stack.run_to_completion("server", args)
    secrets = [line.strip() for line in out.splitlines() if line.strip().startswith("mcs_")]
    assert len(secrets) == 1, out
    return secrets[0]


async def wait_for_job(client, job_id: int, stack: NativeStack) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        job = await call_ok(client, "get_job", {"job_id": job_id})
        if job["status"] in FINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job['status']}:\n{stack.logs()}"
        await asyncio.sleep(0.2)


# ---------------------------------------------------------------- the test


def test_compose_services_agree_with_what_runs_natively():
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    native = [name for name in services if name not in PROVIDED]
    assert native, "compose.yaml runs no mcs-erp service"
    for name in native:
        assert services[name]["command"][0] == "mcs-erp", f"{name} is not an mcs-erp command: start it here too"
    # The server's published port, its --http port and its healthcheck agree.
    server = services["server"]
    port = http_port(server["command"])
    assert [str(p) for p in server["ports"]] == [f"{port}:{port}"], server["ports"]
    assert f"127.0.0.1:{port}/" in " ".join(server["healthcheck"]["test"])
    # Every mcs-erp service shares the same environment, and it names PostgreSQL and Redis.
    environments = [environment_of(services[name]) for name in native]
    assert all(env == environments[0] for env in environments), environments
    assert {"MCS_ERP_DATABASE_URL", "MCS_ERP_REDIS_URL"} <= set(environments[0])
    assert int(services["worker"]["deploy"]["replicas"]) >= 2


def test_interpolation_follows_compose():
    variables = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET:-d}/${EMPTY:-d}/${UNSET:-d}", variables) == "value/d/d"
    assert interpolate("${SET-d}/${EMPTY-d}/${UNSET-d}", variables) == "value//d"
    assert interpolate("$${SET} ${SET}", variables) == "${SET} value"


@pytest.mark.skipif(BACKEND != "postgresql", reason="the scale-out check runs on PostgreSQL "
                                                     "(MCS_ERP_TEST_BACKEND=postgresql)")
async def test_compose_services_run_natively_and_spread_jobs_across_workers(tmp_path, redis_queue):  # noqa: F811
    async with e2e_database(tmp_path) as db, native_stack(db, queue=redis_queue) as stack:
        assert "database ready" in stack.completed["migrate"], stack.completed["migrate"]
        servers, workers = stack.processes("server"), stack.processes("worker")
        assert len(servers) == 1 and len(workers) == 2, [p.service for p in stack.running]

        # While the services start: 3000 staff with contracts, an ITC2007 instance to timetable, the admin's key
        # (as compose.yaml's header says: `docker compose exec server mcs-erp keys create --user admin`).
        seeded = asyncio.create_task(seed_many(db.url, employees=EMPLOYEES))
        imported, admin_key = await asyncio.gather(
            stack.run_to_completion("migrate", [str(MCS_ERP), "timetable", "import-ctt",
                                                str(itc2007_dir() / "comp01.ctt")]),
            create_key(stack, "admin"))
        await seeded
        problem_id = int(re.search(r"problem #(\d+) ", imported)[1])  # type: ignore[index]

        base_url = f"http://{NATIVE_HOST}:{stack.port}"
        async with httpx.AsyncClient(timeout=2.0) as http:

            async def healthy() -> bool:
                try:
                    return (await http.get(f"{base_url}/healthz")).status_code == 200
                except httpx.TransportError:
                    return False

            await wait_until(healthy, "the server answered /healthz", stack)
            health = await http.get(f"{base_url}/healthz")
            assert health.status_code == 200 and health.json() == {"status": "ok"}, health.text

        identities = {worker_identity(w) for w in workers}

        async def workers_ready() -> bool:
            return all(worker_identity(w) in w.log() for w in workers)

        await wait_until(workers_ready, "both workers were ready", stack)

        server = HttpServer(base_url=base_url, process=servers[0].process, log_path=servers[0].log_path)
        headers = {"Authorization": f"Bearer {admin_key}"}
        async with http_client(server, headers) as payroll_agent, http_client(server, headers) as planner:
            run = await call_ok(payroll_agent, "create_payroll_run", {
                "period": CALC_PERIOD, "pay_date": CALC_PAY_DATE.isoformat(), "currency": "AUD"})
            payroll_job, solve_job = await asyncio.gather(
                call_ok(payroll_agent, "calculate_payroll_run", {"run_id": run["run_id"]}),
                call_ok(planner, "solve_timetable", {"problem_id": problem_id, "time_limit_s": SOLVE_S, "seed": 3}))
            assert payroll_job["status"] in ("queued", "running") and solve_job["status"] in ("queued", "running")
            payroll_done, solve_done = await asyncio.gather(wait_for_job(payroll_agent, payroll_job["job_id"], stack),
                                                            wait_for_job(planner, solve_job["job_id"], stack))

        assert payroll_done["status"] == "succeeded", (payroll_done, stack.logs())
        assert solve_done["status"] == "succeeded", (solve_done, stack.logs())
        assert payroll_done["result"]["payslips"] == EMPLOYEES, payroll_done["result"]
        assert solve_done["result"]["solution_id"] and solve_done["attempts"] == 1, solve_done

        # Each ran on its own `mcs-erp worker` process, none in the server; get_job and the table agree.
        ran_on = {payroll_done["worker"], solve_done["worker"]}
        assert len(ran_on) == 2 and ran_on <= identities, (ran_on, identities)
        assert await rows(db.url, "SELECT id, worker FROM jobs ORDER BY id") == sorted(
            [(payroll_done["job_id"], payroll_done["worker"]), (solve_done["job_id"], solve_done["worker"])])
        assert not any(w.startswith("server:") for w in ran_on)

        # ... at the same time: each started before the other finished.
        started = [datetime.fromisoformat(j["started_at"]) for j in (payroll_done, solve_done)]
        finished = [datetime.fromisoformat(j["finished_at"]) for j in (payroll_done, solve_done)]
        assert started[0] < finished[1] and started[1] < finished[0], (started, finished)

        # compose's healthcheck of the server passes natively too.
        server_service = stack.compose["services"]["server"]
        check = native_healthcheck(server_service, compose_port=http_port(server_service["command"]) or 0,
                                   port=stack.port)
        await stack.run_to_completion("server", check)
