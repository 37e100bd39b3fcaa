"""Latency of domain tools against a trivial ping over Streamable HTTP, and throughput at 16 clients.

Builds the demo school in a temporary SQLite database (the embedded default; `--database-url` for
PostgreSQL), starts `mcs-erp serve --http` as a subprocess (`--workers` processes), and measures:
  1. sequential calls, interleaved in one run: ping, get_student (random student), list_students
     (limit 50, random section); p50 and p95 of each in milliseconds;
  2. `--clients` concurrent clients (16) in alternating rounds of the same length: the bare `ping` tool only,
     then domain reads (get_student and list_students, limit 50, alternately), twice each; calls per second and
     p95 of each load, and the domain load's figures relative to ping's of the same run
     (`calls_per_s_ratio_vs_ping`, `p95_ratio_vs_ping`; targets of issue 19: >= 0.7 and <= 2.0).
     With each concurrent round, the CPU it cost (CpuMeter, from /proc): the server's processes, the database's
     backends serving it (PostgreSQL on this machine) and this process (the clients), per call of each load
     (`ping_server_cpu_ms_per_call`, `domain_db_cpu_ms_per_call`, ...), and `cpu_per_call_ratio_vs_ping`, ping's
     total CPU per call over the domain reads': the calls/s ratio a machine busy with this run alone approaches,
     steadier than the wall-clock one when neighbours share the cores (`server_cpu_per_call_ratio_vs_ping`: the
     server's part alone).
Both use the lean wire client of bench/_wire.py (the SDK client's own CPU, mostly JSON-schema validation
of every result, would otherwise be measured on the same 2 cores); the official SDK client is also timed
on the sequential run (`sdk_*` figures) so its overhead is visible.

Every wait is bounded: each client call by --call-timeout, server start and the demo build by their own
limits, the whole run by --deadline. A run that overruns prints what it was waiting for (the phase, and each
client's call in flight) and the tail of the server's log, and exits 1. The server's stdout and stderr go to a
file (never an unread pipe: a full pipe once blocked the server's logging and hung this bench for ever).
Prints the figures, then one line with a JSON object of them.

Where a get_student call spends its CPU (issue 19, measured 2026-12-06 on PostgreSQL, one server process, the
app driven in process through ASGI with cProfile on process time, min of 6 interleaved rounds of 300 calls; a
shared 2-core machine, so +-30%):
  - the HTTP app and the SDK's request handling, paid by ping alike: about 1.1-1.5 ms (middleware, request-id,
    host check, key cache hit, the SDK's envelope validation, classify, anyio task group and memory stream per
    request, JSON-RPC response dump); uvicorn's HTTP parsing comes on top for both;
  - the tool through tools.invoke (call_tool, no HTTP): ping 0.08 ms, get_student 1.16 ms, of which the
    repository's query 0.79 ms (a unit of work: session, pool checkout with its pre-ping round trip, 0.27 ms;
    the ORM execute and result 0.5 ms) and the tool layer (validation, fill_codes, redaction, JSON) 0.37 ms.
Cut: building get_student's select on every call (1.2 ms; now built once), list_students' select (now once per
filter combination), fill_codes walking every field of every row (about 9% of list_students), the SDK's no-op
OpenTelemetry span per message (about 20 us), the access log written on the event loop (now a QueueListener
thread), the CallToolResult built and dumped again by the SDK (the handler returns the wire dict: about 0.2 ms
for a page of 50 students). Already lean: arguments are validated once (the registry's input model; the SDK
checks only the envelope), the answer is made by pydantic-core as text and as its structured twin (no
json.loads of the text), and a verified API key is a cache hit for MCS_ERP_KEY_CACHE_SECONDS. What remains is
the ORM unit of work per read (with its pool pre-ping round trip) and the SDK's per-request machinery (its
`json_response=True` mode would skip the task group and stream, at the cost of progress notifications during a
call).

Where a domain read's CPU beyond ping's goes (the ratio's T; 2026-12-07, PostgreSQL demo school, in process,
process time, min of 5-7 rounds of 150-300 calls at load 7-13, so +-30%). ping runs a read unit of work too (its
tool is a READ), so session, pool checkout and close are in both; what only the domain reads pay:
  - the query, through Core (execute, cursor, result set-up) and asyncpg, with its round trip: about 0.25 ms
    (get_student and list_students alike); the same SQL run on the unit of work's asyncpg connection directly
    took about 0.1 ms less;
  - PostgreSQL's backend: list_students (a section, 25 rows) 0.13 ms, get_student 0.06 ms per execution of the
    prepared statements (generic plans; joining the year level and section costs nothing measurable);
  - the tool layer: list_students' page 0.04 ms since its rows are validated from dicts (0.12 before: a Row's
    attributes are read by name in Python), get_student's model 0.02 ms, fill_codes and redaction a few us;
  - the answer's size, on the SDK's side: a 25-row page is validated and dumped as a CallToolResult (69 us;
    ping's 15), its JSON-RPC response dumped (53 us; 4) and json.dumps'ed (110-130 us; 15), about 0.2 ms more
    than ping's; get_student's about 0.03 ms more;
  - through the whole ASGI app in process a get_student cost about 0.25 ms more again than call_tool_wire's
    difference says (its size explains 0.03 ms; the handler's awaits on the database inside the SDK's task
    group are the likely rest, not measured apart).

The server's database pool is sized to the calls each of its processes serves at once (--pool-size, default
--clients / --workers), as README's MCS_ERP_DATABASE_POOL_SIZE says to size it and as bench/tenants.py does.

Usage: uv run python bench/mcp_latency.py [--calls 300] [--seconds 15] [--clients 16] [--workers 1]
                                         [--database-url URL] [--pool-size N] [--call-timeout 30] [--deadline 300]
                                         [--demo-timeout 300] [--start-timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wire import WireClient

ROOT = Path(__file__).resolve().parent.parent
RECONNECT_EVERY = 25
DEMO_TIMEOUT_S = 300.0  # building the demo school (a cold interpreter, migrations, seeding)
START_TIMEOUT_S = 60.0  # the server answering /healthz
STOP_TIMEOUT_S = 10.0
LOG_TAIL_CHARS = 2000


class Watch:
    """What the run is doing now, for the report of a run that overran its deadline."""

    def __init__(self) -> None:
        self.phase = "starting"
        self.in_flight: dict[str, tuple[str, float]] = {}  # client -> (call, started at)

    def report(self) -> str:
        now = time.perf_counter()
        calls = "; ".join(f"{who}: {what} for {now - since:.1f}s" for who, (what, since) in
                          sorted(self.in_flight.items())) or "no call in flight"
        return f"phase {self.phase!r}; {calls}"


WATCH = Watch()
CALL_TIMEOUT_S = 30.0  # set from --call-timeout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of process `pid` (Linux /proc; None when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def descendants(pid: int) -> list[int]:
    """The live descendants of process `pid` (uvicorn's worker processes with --workers > 1)."""
    try:
        entries = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []
    parents: dict[int, list[int]] = {}
    for child in entries:
        try:
            with open(f"/proc/{child}/stat", "rb") as f:
                parent = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class CpuMeter:
    """CPU seconds spent by the server's processes, by the database's backends serving it (PostgreSQL on this
    machine) and by this process (the clients), read from /proc around each concurrent round. Wall-clock calls
    per second on a shared machine move with the neighbours' load; CPU per call does much less, and the ratio of
    ping's to the domain reads' total CPU per call is the throughput ratio a machine busy with this run alone
    would approach. Backends that connect or leave during a round are not counted (the pool is sized to the clients,
    so its connections live through the run); each figure is None where /proc or pg_stat_activity is not there."""

    def __init__(self, server_pid: int, database_url: str | None):
        self.server_pid = server_pid
        self.dsn = None
        if database_url and database_url.startswith("postgresql"):
            self.dsn = "postgresql" + database_url[database_url.index("://"):]
            self.database = database_url.rsplit("/", 1)[1].split("?")[0]

    async def _backends(self) -> list[int]:
        if self.dsn is None:
            return []
        import asyncpg

        conn = await asyncpg.connect(self.dsn, timeout=10)
        try:
            return [row[0] for row in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()", self.database, timeout=10)]
        finally:
            await conn.close(timeout=10)

    async def snapshot(self) -> dict[str, Any]:
        """{server, client: CPU seconds so far (None: unknown); db: {backend pid: CPU seconds so far}, or None}."""
        server = [process_cpu_s(pid) for pid in (self.server_pid, *descendants(self.server_pid))]
        db = None if self.dsn is None else {pid: process_cpu_s(pid) for pid in await self._backends()}
        return {"server": None if server[0] is None else sum(c for c in server if c is not None), "db": db,
                "client": time.process_time()}

    @staticmethod
    def spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
        """CPU seconds of each part between two snapshots (db: the backends seen in both; None when there were
        none, or /proc could not be read)."""
        out: dict[str, float | None] = {}
        for part in ("server", "client"):
            out[part] = None if before[part] is None or after[part] is None else after[part] - before[part]
        both = [(used, after["db"].get(pid)) for pid, used in (before["db"] or {}).items()
                if used is not None and after["db"] and after["db"].get(pid) is not None]
        out["db"] = sum(later - used for used, later in both) if both else None
        return out


@asynccontextmanager
async def client(url: str, key: str):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=CALL_TIMEOUT_S)
    async with http, Client(streamable_http_client(url, http_client=http)) as c:
        yield c


async def bounded(who: str, what: str, awaitable):
    """Await `awaitable` within CALL_TIMEOUT_S, noting it in WATCH while it runs; raises TimeoutError naming it."""
    WATCH.in_flight[who] = (what, time.perf_counter())
    try:
        return await asyncio.wait_for(awaitable, CALL_TIMEOUT_S)
    except TimeoutError:
        raise TimeoutError(f"{who}: {what} got no answer within {CALL_TIMEOUT_S:g}s") from None
    finally:
        WATCH.in_flight.pop(who, None)


async def call(c, name: str, args: dict, who: str = "sequential") -> float:
    start = time.perf_counter()
    result = await bounded(who, name, c.call_tool(name, args))
    elapsed = (time.perf_counter() - start) * 1000
    if getattr(result, "is_error", False):
        raise RuntimeError(f"{name} failed: {result.content[0].text}")
    return elapsed


async def sequential(c, ids: list[int], section_ids: list[int], calls: int, rng: random.Random) -> dict:
    times: dict[str, list[float]] = {"ping": [], "get_student": [], "list_students": []}
    for _ in range(calls):
        times["ping"].append(await call(c, "ping", {}))
        times["get_student"].append(await call(c, "get_student", {"student_id": rng.choice(ids)}))
        times["list_students"].append(await call(c, "list_students", {"limit": 50,
                                                                      "section_id": rng.choice(section_ids)}))
    return times


async def concurrent(port: int, key: str, *, clients: int, seconds: float, domain: bool, ids: list[int],
                     section_ids: list[int]) -> tuple[int, int, list[float], float]:
    """Run `clients` clients for `seconds`: ping only, or get_student and list_students alternately (`domain`).
    Return (calls, errors, latencies in ms, elapsed seconds)."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * clients
    errors = [0] * clients
    latencies: list[float] = []

    async def worker(i: int) -> None:
        # Each client reconnects every RECONNECT_EVERY calls, as pooled HTTP clients recycle connections: with
        # several server processes sharing one listening socket, 16 connections opened at once can all land on
        # one process, which would measure the kernel's accept race rather than the server.
        local = random.Random(i)
        who = f"client {i}"
        n = 0
        while time.perf_counter() < stop_at:
            w = WireClient("127.0.0.1", port, "/mcp", key)
            await bounded(who, "connect", w.__aenter__())
            try:
                for _ in range(RECONNECT_EVERY):
                    if time.perf_counter() >= stop_at:
                        break
                    if not domain:
                        name, args = "ping", {}
                    elif n % 2 == 0:
                        name, args = "get_student", {"student_id": local.choice(ids)}
                    else:
                        name, args = "list_students", {"limit": 50, "section_id": local.choice(section_ids)}
                    started = time.perf_counter()
                    try:
                        await bounded(who, name, w.call_tool(name, args))
                        latencies.append((time.perf_counter() - started) * 1000)
                    except RuntimeError:
                        errors[i] += 1
                    n += 1
            finally:
                await w.__aexit__(None, None, None)
        counts[i] = n

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    return sum(counts), sum(errors), latencies, time.perf_counter() - started


async def measure(port: int, key: str, *, calls: int, seconds: float, clients: int,
                  meter: CpuMeter | None = None) -> dict:
    url = f"http://127.0.0.1:{port}/mcp"
    rng = random.Random(7)
    WATCH.phase = "sequential calls through the SDK client"
    async with client(url, key) as c:
        ids = [s["id"] for s in
               (await bounded("setup", "list_students", c.call_tool("list_students", {"limit": 100})))
               .structured_content["items"]]
        section_ids = [s["id"] for s in
                       (await bounded("setup", "list_sections", c.call_tool("list_sections", {"limit": 100})))
                       .structured_content["items"]]
        await sequential(c, ids, section_ids, 20, rng)
        sdk_times = await sequential(c, ids, section_ids, max(20, calls // 5), rng)
    WATCH.phase = "sequential calls through the wire client"
    w = WireClient("127.0.0.1", port, "/mcp", key)
    await bounded("sequential", "connect", w.__aenter__())
    try:
        await sequential(w, ids, section_ids, 30, rng)
        times = await sequential(w, ids, section_ids, calls, rng)
    finally:
        await w.__aexit__(None, None, None)

    # Ping and domain loads alternate in rounds of the same length, so a neighbour's burst on a shared machine
    # lands on both rather than on one of them.
    totals = {"ping": [0, 0, [], 0.0], "domain": [0, 0, [], 0.0]}
    cpu: dict[str, dict[str, float | None]] = {kind: {"server": 0.0, "db": 0.0, "client": 0.0} for kind in totals}
    for round_no in range(2):
        for kind in ("ping", "domain"):
            WATCH.phase = f"{clients} concurrent clients, {kind} round {round_no + 1} of 2"
            before = await bounded("meter", "pg_stat_activity", meter.snapshot()) if meter else None
            n, errs, lats, elapsed = await concurrent(port, key, clients=clients, seconds=seconds / 2,
                                                      domain=kind == "domain", ids=ids, section_ids=section_ids)
            if meter and before:
                for part, used in CpuMeter.spent(before, await bounded("meter", "/proc", meter.snapshot())).items():
                    so_far = cpu[kind][part]
                    cpu[kind][part] = None if so_far is None or used is None else so_far + used
            total = totals[kind]
            total[0] += n
            total[1] += errs
            total[2].extend(lats)
            total[3] += elapsed

    figures: dict = {}
    for name, values in times.items():
        figures[f"{name}_p50_ms"] = round(statistics.median(values), 2)
        figures[f"{name}_p95_ms"] = round(percentile(values, 95), 2)
    for name in ("get_student", "list_students"):
        figures[f"{name}_p95_over_ping_p95"] = round(figures[f"{name}_p95_ms"] / figures["ping_p95_ms"], 2)
    for name, values in sdk_times.items():
        figures[f"sdk_{name}_p50_ms"] = round(statistics.median(values), 2)
    figures["calls_sequential_each"] = calls
    for kind, (n, errs, lats, elapsed) in totals.items():
        figures[f"{kind}_calls_per_s_{clients}"] = round(n / elapsed, 1)
        figures[f"{kind}_p50_ms_{clients}"] = round(statistics.median(lats), 2) if lats else None
        figures[f"{kind}_p95_ms_{clients}"] = round(percentile(lats, 95), 2) if lats else None
        figures[f"{kind}_errors_{clients}"] = errs
    figures[f"calls_per_s_{clients}"] = figures[f"domain_calls_per_s_{clients}"]  # the earlier figure
    figures["concurrent_errors"] = totals["ping"][1] + totals["domain"][1]
    figures["concurrent_seconds"] = round(totals["ping"][3] + totals["domain"][3], 1)
    figures["calls_per_s_ratio_vs_ping"] = round(
        figures[f"domain_calls_per_s_{clients}"] / figures[f"ping_calls_per_s_{clients}"], 3)
    if figures[f"domain_p95_ms_{clients}"] and figures[f"ping_p95_ms_{clients}"]:
        figures["p95_ratio_vs_ping"] = round(figures[f"domain_p95_ms_{clients}"] / figures[f"ping_p95_ms_{clients}"],
                                             3)
    if meter is not None:
        per_call: dict[str, float | None] = {}
        known = [part for part in ("server", "db", "client") if all(cpu[kind][part] is not None for kind in cpu)]
        for kind, parts in cpu.items():  # the total: of the parts known for both loads
            calls_made = totals[kind][0] or 1
            for part, used in parts.items():
                figures[f"{kind}_{part}_cpu_ms_per_call"] = None if used is None else round(used / calls_made * 1000, 3)
            per_call[kind] = sum(parts[part] for part in known) / calls_made if known else None  # type: ignore[misc]
            figures[f"{kind}_cpu_ms_per_call"] = None if per_call[kind] is None else round(per_call[kind] * 1000, 3)
        if per_call["ping"] and per_call["domain"]:  # CPU for one call: fewer per call, more calls per second
            figures["cpu_per_call_ratio_vs_ping"] = round(per_call["ping"] / per_call["domain"], 3)
        if figures["ping_server_cpu_ms_per_call"] and figures["domain_server_cpu_ms_per_call"]:
            figures["server_cpu_per_call_ratio_vs_ping"] = round(
                figures["ping_server_cpu_ms_per_call"] / figures["domain_server_cpu_ms_per_call"], 3)
    return figures


async def within(deadline_s: float, coro):
    """Run `coro` for at most `deadline_s` seconds; on overrun raise TimeoutError saying what it was waiting for
    (read before cancelling it, which unwinds the calls in flight)."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=deadline_s)
    if task in done:
        return task.result()
    waiting = WATCH.report()
    task.cancel()
    await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
    raise TimeoutError(f"the run overran its {deadline_s:g}s deadline; it was waiting for: {waiting}")


def log_tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    return text[-LOG_TAIL_CHARS:] or "(the server logged nothing)"


def fail(message: str, server_log: Path) -> None:
    print(f"mcp_latency: {message}", file=sys.stderr)
    print(f"--- tail of the server's log ({server_log}) ---\n{log_tail(server_log)}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    global CALL_TIMEOUT_S
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15, help="concurrent load per kind (ping, domain)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--pool-size", type=int, default=None,
                        help="the server's MCS_ERP_DATABASE_POOL_SIZE (default: the concurrent calls each server "
                             "process serves, --clients / --workers rounded up, as a deployment sizes it)")
    parser.add_argument("--call-timeout", type=float, default=30.0, help="seconds one client call may take")
    parser.add_argument("--deadline", type=float, default=300.0,
                        help="seconds the measurement may take once the server answers")
    parser.add_argument("--demo-timeout", type=float, default=DEMO_TIMEOUT_S,
                        help="seconds building the demo school may take (longer on a loaded machine)")
    parser.add_argument("--start-timeout", type=float, default=START_TIMEOUT_S,
                        help="seconds the server may take to answer /healthz")
    args = parser.parse_args()
    pool_size = args.pool_size or max(1, -(-args.clients // max(1, args.workers)))
    if args.calls < 1 or args.seconds <= 0 or args.clients < 1 or args.call_timeout <= 0 or args.deadline <= 0 \
            or min(args.demo_timeout, args.start_timeout) <= 0 or not 1 <= pool_size <= 200:
        parser.error("--calls and --clients must be at least 1; --seconds, --call-timeout, --deadline, "
                     "--demo-timeout and --start-timeout positive; --pool-size between 1 and 200")
    CALL_TIMEOUT_S = args.call_timeout
    with tempfile.TemporaryDirectory() as tmp:
        server_log = Path(tmp) / "server.log"
        # A pool smaller than the calls in flight opens a connection for a burst and closes it after: 16 clients on
        # the default 10 opened about 150 PostgreSQL sessions in 4,000 reads, each about 7 ms of the server's CPU
        # (connect, codecs, statements prepared again) and a backend's start-up, which ping never pays.
        env = dict(os.environ, MCS_ERP_DATABASE_URL=args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db",
                   MCS_ERP_DATABASE_POOL_SIZE=str(pool_size))
        try:
            out = subprocess.run([sys.executable, "-m", "server.cli", "demo", "--no-serve"], cwd=ROOT, env=env,
                                 stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True,
                                 timeout=args.demo_timeout).stdout
        except subprocess.TimeoutExpired:
            fail(f"waited {args.demo_timeout:g}s for `mcs-erp demo --no-serve` to build the school", server_log)
        except subprocess.CalledProcessError as exc:
            fail(f"`mcs-erp demo --no-serve` failed: {exc.stderr[-LOG_TAIL_CHARS:]}", server_log)
        key = re.search(r"API key \(admin\): (\S+)", out).group(1)
        port = free_port()
        with server_log.open("wb") as log_file:
            server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--http", f"127.0.0.1:{port}",
                                       "--workers", str(args.workers)], cwd=ROOT, env=env,
                                      stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + args.start_timeout
            while True:
                try:
                    if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except Exception:
                    pass
                if server.poll() is not None:
                    fail(f"the server exited with status {server.returncode} before answering /healthz",
                         server_log)
                if time.monotonic() > deadline:
                    fail(f"waited {args.start_timeout:g}s for the server to answer /healthz", server_log)
                time.sleep(0.05)
            try:
                meter = CpuMeter(server.pid, env["MCS_ERP_DATABASE_URL"])
                figures = asyncio.run(within(args.deadline, measure(port, key, calls=args.calls, seconds=args.seconds,
                                                                    clients=args.clients, meter=meter)))
            except TimeoutError as exc:  # the deadline, or one call's timeout (each names what it waited for)
                fail(str(exc), server_log)
            except Exception as exc:  # noqa: BLE001 - e.g. the SDK client's own timeout, inside a task group
                fail(f"{type(exc).__name__}: {exc} (in {WATCH.phase!r})", server_log)
            figures["server_workers"] = args.workers
            figures["server_pool_size"] = pool_size
        finally:
            server.terminate()
            try:
                server.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=STOP_TIMEOUT_S)
    for name, value in figures.items():
        print(f"{name:28} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
