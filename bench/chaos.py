"""Chaos: the mixed load of bench/load.py while PostgreSQL restarts once and Redis restarts once; nothing lost.

Starts its own PostgreSQL (initdb into a temporary directory, run as the postgres OS user, on a free port, its
socket in that directory) and its own redis-server (a free port, no persistence: `--save "" --appendonly no`),
never the shared ones. Builds the demo school there (`mcs-erp demo --no-serve`), starts the deployment of
compose.yaml natively (`mcs-erp serve --http ... --workers 2` and two `mcs-erp worker` processes, logs in files)
and runs --clients MCP clients of bench/load.py's mix (reads, writes, export jobs, deliberate bad input) for
--seconds. A third of the way in, PostgreSQL restarts (`pg_ctl restart -m fast`: every connection is cut); two
thirds of the way in, Redis is killed (SIGKILL: its queue is lost with it) and started again on the same port
--redis-down seconds later.
Each outage window runs from the moment the service is stopped to the moment it answers again. During each, a
probe client calls a write (create_family for PostgreSQL, export_term_grades for Redis) every PROBE_EVERY_S
until the first success after the service's return.

It counts, from every call's answer and the database read back afterwards (after the jobs drained):
- `acked_lost`: writes the server said succeeded that are not in the database as sent (must be 0);
- `jobs_lost`: jobs the run recorded (every job whose start was answered, and every job a call cut off by an
  outage recorded) that did not end succeeded (must be 0);
- `jobs_twice`: jobs whose handler ran to success more than once (`run_job` answered 'succeeded' twice in the
  workers' logs; must be 0);
- `errors_outside_outage`: error answers, transport failures and broken sessions of calls that did not overlap
  an outage window (must be 0); errors inside a window are expected (`unavailable`, or HTTP 503 when the API
  key could not be looked up) and printed by kind, and any internal error or timeout among them fails the run;
- `recovery_s`: per service, seconds from its return to the end of the first successful call that needed it
  (a write for PostgreSQL, a job start for Redis), as {"postgres": s, "redis": s}.
It also prints how many audit entries the workers' sequencer has not integrated into the audit tree once the run
is over (at most AUDIT_DRAIN_S later; it must be 0 too: the sequencer outlives both outages). Writes answered
`unavailable` count neither as told succeeded nor as told failed (a write cut off while
committing may have been saved). Every call is bounded (--call-timeout), every other wait too, and the run has an
overall deadline (--deadline); a run that overstays one prints what it was waiting for and exits 1. Both
private services and every child process are stopped, and the directory removed, whatever happens.

Usage: uv run python bench/chaos.py [--clients 20] [--seconds 60] [--call-timeout 30] [--redis-down 3]
       [--deadline S] [--keep]
(run as root: PostgreSQL runs as the postgres user through runuser; needs /usr/lib/postgresql/*/bin and
redis-server on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (bench/load.py: the clients' mix, the deployment, the read-back)
from load import Deployment, LoadClient, School, Tally, TransportError, Write, free_port, read_school, verify  # noqa: E402

CALL_TIMEOUT_S = 30.0  # one tool call's bound (--call-timeout)
CLI_TIMEOUT_S = 300.0  # one `mcs-erp` command
READY_TIMEOUT_S = 300.0  # the server and workers to start (each imports the whole catalogue; slow on a busy machine)
SETUP_TIMEOUT_S = 300.0  # every client's session open and its assessments created
SERVICE_TIMEOUT_S = 90.0  # PostgreSQL or Redis to start, stop or restart
JOBS_DRAIN_S = 180.0  # the run's jobs to end afterwards (a lost enqueue waits ORPHAN_AFTER_BEATS heartbeats)
AUDIT_DRAIN_S = 60.0  # the workers' audit sequencer to integrate what the run wrote
HEARTBEAT_S = 2  # MCS_ERP_JOB_HEARTBEAT_SECONDS of the deployment: recovery hands a lost job back after 3 beats
PROBE_EVERY_S = 0.25
REDIS_DOWN_S = 3.0  # between Redis's kill and its new start (--redis-down)
REOPEN_PAUSE_S = 0.2  # between two attempts to open a session that broke
WRITE_TOOLS = frozenset({"record_grade", "take_attendance", "record_payment", "create_family", "export_term_grades"})
RETRYABLE = "unavailable"


class Stuck(Exception):
    """A bounded wait ran out; the message says what for."""


# ---------------------------------------------------------------- what each call did


@dataclass
class Call:
    """One answered or failed request: when it started and ended (monotonic seconds) and how it went."""

    t0: float
    t1: float
    tool: str
    outcome: str  # ok, refused (an expected refusal of bad input), or an error kind (TOOL:code, transport:...)
    sample: str = ""

    @property
    def error(self) -> bool:
        return self.outcome not in ("ok", "refused")


@dataclass
class Record:
    calls: list[Call] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)  # service -> (down at, answers again)


class ChaosClient(LoadClient):
    """bench/load.py's client, recording every call's time and outcome; a write answered `unavailable` is neither
    told succeeded nor told failed (it may have committed), and every call is bounded by `call_timeout`."""

    def __init__(self, *args: Any, record: Record, call_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.record = record
        self.timeout_s = call_timeout
        self.last_code: str | None = None
        self.prepared = False

    async def call(self, client: Any, tool: str, args: dict[str, Any], *, refusal: bool = False
                   ) -> dict[str, Any] | None:
        t0 = time.monotonic()
        self.last_code = None
        try:
            result = await asyncio.wait_for(client.call_tool(tool, args), self.timeout_s)
        except Exception as exc:  # TimeoutError included: no answer within the call's bound
            self.record.calls.append(Call(t0, time.monotonic(), tool, f"transport:{type(exc).__name__}",
                                          f"{tool}: {exc!r}"[:400]))
            raise TransportError(tool) from exc
        t1 = time.monotonic()
        if not result.is_error:
            if not isinstance(result.structured_content, dict):
                self.record.calls.append(Call(t0, t1, tool, f"{tool}:no_structured_content"))
                return None
            self.record.calls.append(Call(t0, t1, tool, "ok"))
            return result.structured_content
        message = result.content[0].text if result.content else ""
        match = re.match(r"error: (\w+)", message)
        self.last_code = code = match[1] if match else "unparsed"
        if refusal and code in load.EXPECTED_REFUSALS:
            self.record.calls.append(Call(t0, t1, tool, "refused"))
        else:
            self.record.calls.append(Call(t0, t1, tool, f"{tool}:{code}", message[:400]))
        return None

    async def write(self, client: Any, tool: str, args: dict[str, Any], write: Write, *,
                    refusal: bool = False) -> dict[str, Any] | None:
        try:
            out = await self.call(client, tool, args, refusal=refusal)
        except TransportError:
            self.tally.unknown += 1
            raise
        if out is None and self.last_code == RETRYABLE:
            self.tally.unknown += 1
        else:
            (self.tally.succeeded if out is not None else self.tally.failed).append(write)
        if out is not None and refusal:
            self.record.calls.append(Call(time.monotonic(), time.monotonic(), tool, f"{tool}:accepted_bad_input"))
        return out

    async def session(self, url: str, key: str, *, until: float) -> None:
        """Open a session (again whenever one breaks), prepare once (before anything else, whatever `until`
        says; given up after SETUP_TIMEOUT_S), then step until `until`."""
        first = time.monotonic()
        while True:
            t0 = time.monotonic()
            try:
                async with load.mcp_client(url, key, self.timeout_s) as client:
                    if not self.prepared:
                        await self.prepare(client)
                        self.prepared = True
                    while time.monotonic() < until:
                        await self.step(client)
                    return
            except Exception as exc:  # noqa: BLE001 - counted (with its time), then the session reopens
                if not isinstance(exc, TransportError):
                    self.record.calls.append(Call(t0, time.monotonic(), "session", f"session:{type(exc).__name__}",
                                                  repr(exc)[:400]))
                if (self.prepared and time.monotonic() >= until) or time.monotonic() - first > SETUP_TIMEOUT_S:
                    return
                await asyncio.sleep(REOPEN_PAUSE_S)


# ---------------------------------------------------------------- the private services


def _run(cmd: list[str], what: str, *, timeout: float = SERVICE_TIMEOUT_S, log: Path | None = None) -> None:
    """Run `cmd` (its output to `log` or discarded); raise Stuck naming `what` when it fails or overstays."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise Stuck(f"{what} (more than {timeout:.0f} s)") from exc
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-1500:] if log is not None else ""
        raise Stuck(f"{what}: exited {done.returncode}\n{tail}")


class PrivatePostgres:
    """A PostgreSQL cluster of this run: initdb in `root/pg`, run by the postgres OS user on `port`."""

    def __init__(self, root: Path, port: int):
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise Stuck("PostgreSQL's binaries (/usr/lib/postgresql/*/bin/pg_ctl) to be installed")
        self.bin = Path(found[-1]).parent
        self.root, self.port = root, port
        self.data, self.sockets, self.log = root / "pg", root / "pg-sockets", root / "postgresql.log"
        self.started = False

    def _as_postgres(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args]

    def start(self) -> None:
        self.sockets.mkdir()
        shutil.chown(self.root, "postgres")
        shutil.chown(self.sockets, "postgres")
        _run(self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--no-sync"), "initdb of the private PostgreSQL",
             log=self.root / "initdb.log")
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c max_connections=300 "
                   "-c shared_buffers=64MB")
        self.started = True
        _run(self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options,
                               "-w", "-t", str(int(SERVICE_TIMEOUT_S)), "start"),
             "the private PostgreSQL to start", log=self.root / "pg_ctl.log")

    def restart(self) -> None:
        """Fast shutdown (every session is cut, a checkpoint is written) then start; returns once it accepts."""
        _run(self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t",
                               str(int(SERVICE_TIMEOUT_S)), "restart"),
             "the private PostgreSQL to restart", log=self.root / "pg_ctl.log")

    def stop(self) -> None:
        if not self.started:
            return
        try:
            _run(self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "-t",
                                   "30", "stop"), "the private PostgreSQL to stop", timeout=40,
                 log=self.root / "pg_ctl.log")
        except Stuck:
            pid_file = self.data / "postmaster.pid"
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass


class PrivateRedis:
    """A redis-server of this run on `port`, without persistence (a kill loses its data, as a crash would)."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.root / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.root)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    async def wait_answers(self, timeout: float = SERVICE_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        client = Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)
        try:
            while True:
                try:
                    if await client.ping():
                        return
                except Exception:  # noqa: BLE001 - not up yet
                    pass
                if time.monotonic() > deadline:
                    raise Stuck(f"the private Redis on port {self.port} to answer PING")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()


# ---------------------------------------------------------------- the run


async def probe(client_: ChaosClient, url: str, key: str, op: str, *, opened: asyncio.Event, after: list[float],
                stop_by: float) -> None:
    """Open a session (then set `opened`), and call `op` (create_family or export_grades) every PROBE_EVERY_S
    until a call that began after the service came back (`after[0]`, set once it answers) succeeds, or until
    `stop_by`; a session that breaks is opened again."""
    while time.monotonic() < stop_by:
        try:
            async with load.mcp_client(url, key, client_.timeout_s) as client:
                opened.set()
                while time.monotonic() < stop_by:
                    before = len(client_.record.calls)
                    await getattr(client_, op)(client)
                    answered = client_.record.calls[before:]
                    if answered and answered[-1].outcome == "ok" and answered[-1].t0 >= after[0]:
                        return
                    await asyncio.sleep(PROBE_EVERY_S)
        except Exception:  # noqa: BLE001 - the probe's failures are recorded by its client; it tries again
            await asyncio.sleep(PROBE_EVERY_S)


async def chaos(args: argparse.Namespace, waiting: list[str]) -> int:
    run = uuid.uuid4().hex[:8]
    root = Path(tempfile.mkdtemp(prefix="mcs-chaos-"))
    pg = PrivatePostgres(root, free_port())
    redis = PrivateRedis(root, free_port())
    work = root / "work"
    work.mkdir()
    engine: AsyncEngine | None = None
    deployment: Deployment | None = None
    record = Record()
    try:
        waiting[0] = "the private PostgreSQL to be created and started"
        await asyncio.to_thread(pg.start)
        redis.start()
        waiting[0] = "the private Redis to answer"
        await redis.wait_answers()
        base = f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}"
        admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT", connect_args={"timeout": 10})
        async with admin.connect() as conn:
            await conn.exec_driver_sql('CREATE DATABASE "chaos"')
        await admin.dispose()
        url = f"{base}/chaos"
        engine = create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": 10, "command_timeout": 120})
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MCS_ERP_")}
        env.update(MCS_ERP_DATABASE_URL=url, MCS_ERP_REDIS_URL=f"redis://127.0.0.1:{redis.port}/0",
                   MCS_ERP_QUEUE_NAME=f"mcs-erp-chaos:{run}", MCS_ERP_JOB_HEARTBEAT_SECONDS=str(HEARTBEAT_S),
                   PYTHONUNBUFFERED="1")
        deployment = Deployment(env=env, workdir=work)
        waiting[0] = "`mcs-erp demo --no-serve` to build the demo school"
        built = await asyncio.to_thread(deployment.cli, "demo", "--no-serve")
        keys = {"admin": re.search(r"API key \(admin\): (\S+)", built)[1]}  # type: ignore[index]
        for role, user, extra in (("registrar", "registrar", ()),
                                  ("bursar", "chaos-bursar", ("--roles", "finance,viewer"))):
            waiting[0] = f"`mcs-erp keys create --user {user}`"
            made = await asyncio.to_thread(deployment.cli, "keys", "create", "--user", user, *extra)
            keys[role] = next(line.strip() for line in made.splitlines() if line.strip().startswith("mcs_"))
        deployment.spawn("server", "serve", "--http", f"127.0.0.1:{port}", "--workers", "2")
        deployment.spawn("worker-1", "worker")
        deployment.spawn("worker-2", "worker")
        waiting[0] = "the server's /healthz and both workers' ready lines (see their logs in " + str(work) + ")"
        await asyncio.to_thread(deployment.wait_ready, port, READY_TIMEOUT_S)
        school = await read_school(engine)
        mcp_url = f"http://127.0.0.1:{port}/mcp?toolsets=all"
        tally = Tally()
        elapsed = await run_load(args, mcp_url, keys, school, run, tally, record, pg, redis, waiting)
        waiting[0] = f"the run's jobs to end (at most {JOBS_DRAIN_S:.0f} s)"
        job_counts = await load.drain_jobs(engine, run, JOBS_DRAIN_S)
        waiting[0] = f"the audit sequencer to integrate every entry (at most {AUDIT_DRAIN_S:.0f} s)"
        audit_pending = await audit_not_integrated(engine, AUDIT_DRAIN_S)
        waiting[0] = "the database to be read back"
        acked_lost, acked_examples = await verify(engine, Tally(succeeded=tally.succeeded), run)
        refused_present, refused_examples = await verify(engine, Tally(failed=tally.failed), run)
        async with engine.connect() as conn:
            attempts = dict((await conn.execute(text(
                "SELECT attempts, count(*) FROM jobs WHERE idempotency_key LIKE :k GROUP BY attempts"),
                {"k": f"load-{run}-%"})).all())
        logs = "\n".join(deployment.log(name) for name in ("worker-1", "worker-2"))
    finally:
        waiting[0] = "the deployment and the private services to stop"
        if deployment is not None:
            await asyncio.to_thread(deployment.stop)
        if engine is not None:
            await engine.dispose()
        redis.kill()
        await asyncio.to_thread(pg.stop)
        if args.keep:
            print(f"kept {root}", flush=True)
        else:
            shutil.rmtree(root, ignore_errors=True)

    succeeded_runs = Counter(re.findall(r"job-(\d+):run_job ● '?succeeded", logs))
    jobs_twice = sum(1 for n in succeeded_runs.values() if n > 1)
    jobs_lost = sum(n for status, n in job_counts.items() if status != "succeeded")
    return report(args, record, tally, elapsed=elapsed, acked_lost=acked_lost, acked_examples=acked_examples,
                  refused_present=refused_present, refused_examples=refused_examples, job_counts=job_counts,
                  jobs_lost=jobs_lost, jobs_twice=jobs_twice, attempts=attempts,
                  logged_runs=sum(succeeded_runs.values()), audit_pending=audit_pending)


async def audit_not_integrated(engine: AsyncEngine, timeout: float) -> int | None:
    """Wait until the audit sequencer (in the workers) has integrated every committed audit entry into the tree
    (`audit_log.leaf_index` set), at most `timeout` seconds; return how many are still waiting (None when this
    schema has no sequencer)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with engine.connect() as conn:
                pending = (await conn.execute(text("SELECT count(*) FROM audit_log WHERE leaf_index IS NULL"))).scalar()
        except Exception:  # noqa: BLE001 - a schema without audit log v2
            return None
        if not pending or time.monotonic() > deadline:
            return int(pending or 0)
        await asyncio.sleep(0.5)


async def run_load(args: argparse.Namespace, url: str, keys: dict[str, str], school: School, run: str, tally: Tally,
                   record: Record, pg: PrivatePostgres, redis: PrivateRedis, waiting: list[str]) -> float:
    """Run the clients for --seconds with PostgreSQL's restart at a third and Redis's at two thirds; return the
    seconds the load ran."""
    roles = ("registrar", "bursar", "admin")
    clients = [ChaosClient(i, roles[i % 3], clients=args.clients, school=school, tally=tally, run=run,
                           record=record, call_timeout=args.call_timeout) for i in range(args.clients)]
    readies = [asyncio.Event() for _ in clients]
    start = asyncio.Event()
    until = [float("inf")]

    tasks = [asyncio.create_task(_stepping(c, url, keys[c.role], ready, start, until))
             for c, ready in zip(clients, readies, strict=True)]
    waiting[0] = "every client to open its session and create its assessments"
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), SETUP_TIMEOUT_S)
    record.calls.clear()  # the setup's calls are not part of the run
    started = time.monotonic()
    until[0] = started + args.seconds
    start.set()
    probe_client = ChaosClient(10_000, "admin", clients=args.clients, school=school, tally=tally, run=run,
                               record=record, call_timeout=args.call_timeout)

    for service, at, op in (("postgres", 1 / 3, "create_family"), ("redis", 2 / 3, "export_grades")):
        await asyncio.sleep(max(0.0, started + args.seconds * at - time.monotonic()))
        back = [float("inf")]
        opened = asyncio.Event()
        prober = asyncio.create_task(probe(probe_client, url, keys["admin"], op, opened=opened, after=back,
                                           stop_by=time.monotonic() + SERVICE_TIMEOUT_S + args.call_timeout))
        waiting[0] = f"the {service} probe's session to open"
        await asyncio.wait_for(opened.wait(), args.call_timeout)
        waiting[0] = f"the private {service} to restart"
        down = time.monotonic()
        if service == "postgres":
            await asyncio.to_thread(pg.restart)
        else:
            redis.kill()
            await asyncio.sleep(args.redis_down)  # a crash and a restart by a supervisor, a few seconds later
            redis.start()
            await redis.wait_answers()
        back[0] = time.monotonic()
        record.windows[service] = (down, back[0])
        print(f"{service}: down at {down - started:.2f} s, answering again at {back[0] - started:.2f} s "
              f"({back[0] - down:.2f} s out)", flush=True)
        waiting[0] = f"the probe's first {op} after {service} came back"
        await asyncio.wait_for(prober, SERVICE_TIMEOUT_S + 2 * args.call_timeout)
    waiting[0] = "the clients to finish their last calls"
    await asyncio.wait_for(asyncio.gather(*tasks), max(0.0, until[0] - time.monotonic()) + 2 * args.call_timeout + 30)
    return time.monotonic() - started


async def _stepping(c: ChaosClient, url: str, key: str, ready: asyncio.Event, start: asyncio.Event,
                    until: list[float]) -> None:
    """Prepare in a first session (the stop time is not known yet), then step in sessions until `until[0]`."""
    await c.session(url, key, until=0.0)
    ready.set()
    await start.wait()
    await c.session(url, key, until=until[0])


def overlaps(call: Call, windows: dict[str, tuple[float, float]]) -> str | None:
    """The service whose outage window the call overlapped, or None."""
    for service, (down, back) in windows.items():
        if call.t0 <= back and call.t1 >= down:
            return service
    return None


def recovery(calls: list[Call], windows: dict[str, tuple[float, float]]) -> dict[str, float | None]:
    """Per service: seconds from its return to the end of the first successful call that needed it and began
    after it stopped (a write for PostgreSQL, a job start for Redis)."""
    needs = {"postgres": WRITE_TOOLS, "redis": frozenset({"export_term_grades"})}
    out: dict[str, float | None] = {}
    for service, (down, back) in windows.items():
        ends = [c.t1 for c in calls if c.outcome == "ok" and c.tool in needs[service] and c.t1 >= back and c.t0 >= down]
        out[service] = round(min(ends) - back, 3) if ends else None
    return out


def report(args: argparse.Namespace, record: Record, tally: Tally, *, elapsed: float, acked_lost: int,
           acked_examples: list[str], refused_present: int, refused_examples: list[str], job_counts: dict[str, int],
           jobs_lost: int, jobs_twice: int, attempts: dict[int, int], logged_runs: int,
           audit_pending: int | None) -> int:
    inside: Counter = Counter()
    outside: Counter = Counter()
    samples: dict[str, str] = {}
    for call in record.calls:
        if not call.error:
            continue
        service = overlaps(call, record.windows)
        (inside if service else outside)[f"{service or 'outside'} {call.outcome}"] += 1
        samples.setdefault(call.outcome, call.sample)
    recovered = recovery(record.calls, record.windows)
    calls = len(record.calls)
    print(f"{args.clients} MCP clients for {elapsed:.1f} s, server --workers 2 and two workers, on a private "
          f"PostgreSQL and Redis; {calls} calls ({calls / elapsed:.1f}/s)")
    for service, (down, back) in record.windows.items():
        print(f"outage {service}: {back - down:.2f} s; first success {recovered.get(service)} s after its return")
    print(f"writes: {len(tally.succeeded)} told succeeded, {len(tally.failed)} told failed, {tally.unknown} "
          f"unanswered or answered unavailable; acked and lost {acked_lost}; told failed yet present "
          f"{refused_present}")
    for example in acked_examples + refused_examples:
        print(f"  {example}")
    print(f"jobs: {job_counts}; attempts: {attempts}; 'succeeded' answers of run_job in the workers' logs: "
          f"{logged_runs}")
    print(f"audit entries the sequencer had not integrated {AUDIT_DRAIN_S:.0f} s after the run: {audit_pending}")
    # Inside a window the answer must be the clear "try again" (`unavailable`, or HTTP 503 from the API key check,
    # which the SDK raises as MCPError), never an internal error or a call left without an answer.
    unclear = sum(n for kind, n in inside.items() if kind.endswith((":internal", ":TimeoutError", ":unparsed")))
    print(f"errors inside the outage windows: {sum(inside.values())} (internal errors or timeouts: {unclear})")
    for kind, n in inside.most_common():
        print(f"  {kind}: {n}  e.g. {samples.get(kind.split(' ', 1)[1], '')[:160]!r}")
    print(f"errors outside them: {sum(outside.values())}")
    for kind, n in outside.most_common():
        print(f"  {kind}: {n}  e.g. {samples.get(kind.split(' ', 1)[1], '')[:300]!r}")
    figures = {"acked_lost": acked_lost, "jobs_lost": jobs_lost, "jobs_twice": jobs_twice,
               "errors_outside_outage": sum(outside.values()), "recovery_s": recovered}
    print(json.dumps(figures))
    failed = acked_lost or jobs_lost or jobs_twice or figures["errors_outside_outage"] or \
        any(v is None for v in recovered.values()) or len(recovered) < 2 or bool(audit_pending) or unclear
    return 1 if failed else 0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="the load's length; the restarts at 1/3 and 2/3")
    parser.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT_S,
                        help="seconds a client waits for one answer before counting a transport error")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds the whole run may take (default: every bounded step added up)")
    parser.add_argument("--redis-down", type=float, default=REDIS_DOWN_S,
                        help="seconds between Redis's kill and its new start")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs) for a look")
    args = parser.parse_args()
    if not 1 <= args.clients <= 200 or not 15 <= args.seconds <= 3600 or not 1 <= args.call_timeout <= 600 \
            or not 0 <= args.redis_down <= 60:
        parser.error("--clients must be 1..200, --seconds 15..3600, --call-timeout 1..600 and --redis-down 0..60")
    if os.geteuid() != 0:
        parser.error("run as root: the private PostgreSQL is run as the postgres user through runuser")
    deadline = args.deadline or (args.redis_down + 4 * SERVICE_TIMEOUT_S + 3 * CLI_TIMEOUT_S + READY_TIMEOUT_S + SETUP_TIMEOUT_S
                                 + args.seconds + 4 * args.call_timeout + JOBS_DRAIN_S + 120)
    waiting = ["the start"]
    try:
        return await asyncio.wait_for(chaos(args, waiting), deadline)
    except (TimeoutError, Stuck, SystemExit) as exc:  # SystemExit: bench/load.py's Deployment gave up
        print(f"chaos: stopped ({exc or f'deadline of {deadline:.0f} s, or a bounded wait, ran out'}) while "
              f"waiting for {waiting[0]}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
