"""Many schools on one deployment (issue 20): creating tenants, and the cost of routing calls among them.

On PostgreSQL only (a tenant is a schema). The bench makes its own database on the server of --pg-url (created
and dropped by this run, whatever happens), then:
  1. creates --tenants tenants (200) one after the other with the product's own function (server.cli.create_tenant,
     what `mcs-erp tenants create` runs after its interpreter starts): the schema built from the template schema,
     the 'admin' user and an API key. Figures: seconds per tenant (mean, p95), the first tenant apart (it migrates
     the template schema), and the catalog's growth per tenant: pg_class rows (tables, indexes, sequences) and
     pg_database_size bytes. Baseline of the same run: the median seconds to make one tenant schema by running
     every migration from nothing (`schema_s_by_migrations`) against copying the template (`schema_s_from_template`)
     for 5 more schemas each, alternating (`template_speedup`);
  2. gives each of the first --load-tenants tenants (50) and a lone tenant the same --students students;
  3. starts `mcs-erp serve --http` (one process) and runs `get_student` from --clients (16) concurrent clients
     for --seconds per load, in alternating rounds so that a neighbour's burst on a shared machine lands on both:
     `single`: every call to the lone tenant, through its key; `spread`: each call to a random tenant of the
     --load-tenants, through that tenant's key (so each pooled connection serves a different tenant nearly every
     call). Figures: calls/s and p50/p95 of each load and their ratios (`p95_ratio_vs_single`,
     `calls_per_s_ratio_vs_single`; targets: p95 overhead at most 10 %, so a ratio <= 1.10). --rounds rounds of
     each (default 8, over --seconds 120 per load), in ABBA order; each ratio is the median of the ratios of the
     blocks of two rounds (single, spread, spread, single: a drift of the machine's speed steady over a block lands
     on both loads alike), since the machine's speed drifts within minutes; the p95 of all rounds pooled
     (`p95_ratio_pooled`) and each round's own ratio (`p95_ratio_by_round`) are kept beside. Beside the latencies,
     the CPU each load
     cost per call, read from /proc around each round (bench/mcp_latency.py's CpuMeter): the server process and the
     PostgreSQL backends of the bench's database (`single_server_cpu_ms_per_call`, `spread_db_cpu_ms_per_call`,
     ...; `cpu_per_call_ratio_vs_single`, server plus database). On a shared machine a neighbour's burst moves the
     latencies much more than the CPU per call, which shows what routing among tenants itself costs;
  4. idle: the server's CPU (and its database backends') over IDLE_S seconds with nothing asked of it, all --tenants
     tenants registered (`idle_server_cpu_pct`, `idle_db_cpu_pct`, % of one core): its background loops' cost,
     which must not grow with the number of tenants (workers/tenancy.py);
  5. memory: the server's RSS after the single rounds (1 tenant), after the spread rounds (--load-tenants), and
     after one list_students call in each of the --tenants tenants (`rss_mb_1`, `rss_mb_50`, `rss_mb_all`, and
     `rss_growth_kb_per_tenant` from 1 to all; target: flat, a few KB per tenant of key cache and registry rows).

Every wait is bounded: each call by --call-timeout, the server's start, each tenant's creation, the whole load by
--deadline. The server's output goes to a file (never an unread pipe); a failed run prints the tail of it.
Prints the figures, then one line with a JSON object of them (keys: tenants, create_s_per_tenant,
p95_ratio_vs_single, calls_per_s_ratio_vs_single, rss_mb_1, rss_mb_50, ...).

The server's pool holds --pool-size connections per engine (default: --clients). Both loads are warmed up before
the rounds, unmeasured, for --warmup s (default 10) and until they made --warmup-uses calls (default 12) per
(pooled connection, tenant) pair on average: 16 x 12 calls for one tenant, 16 x 50 x 12 for 50. A connection's
first call to a tenant reads that schema's catalog and prepares that tenant's statement, and PostgreSQL plans a
prepared statement afresh for each of its first five executions before it settles on a generic plan: with 800
(connection, tenant) pairs that is about 4,000 calls planned in full before the spread load is steady, which a
server that has run for a while did long since. A warm-up of 10 s alone (about 2,500 calls on a quiet machine)
left the pairs mid-way, and the rounds measured that (the first spread round slower than the second). Twelve uses
on average leaves about 2 % of the pairs (Poisson) short of six. The warm-up's own calls/s and p95 are printed
and kept (`warmup_spread_p95_ms`, ...): what a cold server pays once.

Usage: uv run python bench/tenants.py [--tenants 200] [--load-tenants 50] [--clients 16] [--seconds 120] [--pool-size N]
                                      [--students 20] [--warmup 10] [--warmup-uses 12] [--rounds 8]
                                      [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import httpx2
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wire import WireClient  # noqa: E402
from mcp_latency import CpuMeter  # noqa: E402

START_TIMEOUT_S = 180.0  # the server answering /healthz (its start checks every tenant: slow on a loaded machine)
STOP_TIMEOUT_S = 10.0
IDLE_SETTLE_S = 3.0  # after /healthz, before the idle figure: the first rounds of the background loops are over
IDLE_S = 10.0  # the idle figure's span
CREATE_TIMEOUT_S = 120.0  # one tenant (the first migrates the template schema too)
LOG_TAIL_CHARS = 2000
BASELINE_TENANTS = 5  # schemas made both ways (every migration, the template's copy) for the baseline
DATA_KEYS = "bench:" + base64.urlsafe_b64encode(bytes(range(32))).decode()  # PostgreSQL has no default key file


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` and its children, in MB (from /proc)."""
    total_kb = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            pass
    return round(total_kb / 1024, 1)


async def admin_sql(admin_url: str, sql: str) -> None:
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def catalog(runtime) -> tuple[int, int]:
    """(pg_class rows, database bytes) of the bench's database."""
    async with runtime.db.write_engine.connect() as conn:
        rows = (await conn.execute(text("SELECT count(*) FROM pg_catalog.pg_class"))).scalar_one()
        size = (await conn.execute(text("SELECT pg_catalog.pg_database_size(current_database())"))).scalar_one()
    return rows, size


async def build(url: str, *, tenants: int, load_tenants: int, students: int) -> tuple[dict, dict[str, str],
                                                                                         dict[str, list[int]]]:
    """Create the tenants and their students; return (figures, {code: admin key}, {code: student ids})."""
    from domain.academics import service as academics
    from domain.kernel.settings import Settings
    from domain.kernel.tenants import tenant_in_use
    from server.auth import CLI_OPERATOR
    from server.cli import create_tenant, prepare_database
    from tools.runtime import Runtime

    runtime = Runtime.create(Settings(database_url=url, data_keys=DATA_KEYS))
    figures: dict = {}
    keys: dict[str, str] = {}
    ids: dict[str, list[int]] = {}
    try:
        await prepare_database(runtime)
        rows_before, bytes_before = await catalog(runtime)
        times: list[float] = []
        codes = [f"school_{i:03d}" for i in range(tenants)]
        for code in codes:
            started = time.perf_counter()
            _schema, keys[code] = await asyncio.wait_for(create_tenant(runtime, code, f"School {code}"),
                                                         CREATE_TIMEOUT_S)
            times.append(time.perf_counter() - started)
            if len(times) % 25 == 0:
                print(f"  {len(times)} tenants created, last {times[-1]:.3f} s", flush=True)
        rows_after, bytes_after = await catalog(runtime)
        # Baseline, same run: a tenant schema made by running every migration from nothing (what create did before
        # the template), for a few more codes, alternating with copies from the template.
        from domain.migrations.schema import migrate
        from domain.migrations.template import clone_template

        by_migrations: list[float] = []
        by_template: list[float] = []
        for n in range(BASELINE_TENANTS):
            started = time.perf_counter()
            await asyncio.wait_for(migrate(runtime.db.write_engine, tenant=f"baseline_{n}"), CREATE_TIMEOUT_S)
            by_migrations.append(time.perf_counter() - started)
            started = time.perf_counter()
            await asyncio.wait_for(clone_template(runtime.db, f"copied_{n}"), CREATE_TIMEOUT_S)
            by_template.append(time.perf_counter() - started)
        figures["tenants"] = tenants
        figures["create_s_total"] = round(sum(times), 1)
        figures["create_s_per_tenant"] = round(statistics.mean(times), 4)
        figures["create_s_first"] = round(times[0], 3)
        figures["create_s_per_tenant_after_first"] = round(statistics.mean(times[1:]), 4) if tenants > 1 else None
        figures["create_s_p95"] = round(percentile(times, 95), 4)
        figures["schema_s_by_migrations"] = round(statistics.median(by_migrations), 3)
        figures["schema_s_from_template"] = round(statistics.median(by_template), 3)
        figures["template_speedup"] = round(figures["schema_s_by_migrations"] / figures["schema_s_from_template"], 1)
        figures["catalog_pg_class_rows_per_tenant"] = round((rows_after - rows_before) / tenants, 1)
        figures["catalog_kb_per_tenant"] = round((bytes_after - bytes_before) / tenants / 1024, 1)
        figures["pg_class_rows_total"] = rows_after
        figures["database_mb_total"] = round(bytes_after / 1024 / 1024, 1)

        for code in codes[:load_tenants] + [codes[-1]]:  # the load's tenants, and the lone tenant (the last one)
            with tenant_in_use(code):
                async with runtime.db.write() as session:
                    level = await academics.create_year_level(session, CLI_OPERATOR, code="Y7", name="Year 7",
                                                              ordinal=7)
                    made = []
                    for n in range(students):
                        student = await academics.create_student(
                            session, CLI_OPERATOR, first_name=f"Student{n}", last_name=code.title(),
                            date_of_birth=date(2012, 1 + n % 12, 1 + n % 28), year_level_id=level.id,
                            section_id=None, guardians=[])
                        made.append(student.id)
                    ids[code] = made
    finally:
        await runtime.close()
    return figures, keys, ids


async def load(port: int, who_keys: list[tuple[str, list[int]]], *, clients: int, seconds: float,
               call_timeout: float, at_least_calls: int = 0) -> tuple[int, int, list[float], float]:
    """`clients` clients calling get_student for `seconds` (and on until `at_least_calls` calls were made), each
    call through a random (key, student ids) of `who_keys`; returns (calls, errors, latencies in ms, elapsed s)."""
    stop_at = time.perf_counter() + seconds
    counts = [0] * clients
    errors = [0] * clients
    latencies: list[float] = []

    async def worker(i: int) -> None:
        rng = random.Random(i)
        w = WireClient("127.0.0.1", port, "/mcp", who_keys[0][0])
        await asyncio.wait_for(w.__aenter__(), call_timeout)
        try:
            while time.perf_counter() < stop_at or sum(counts) < at_least_calls:
                key, student_ids = rng.choice(who_keys)
                w.key = key
                started = time.perf_counter()
                try:
                    await asyncio.wait_for(w.call_tool("get_student", {"student_id": rng.choice(student_ids)}),
                                           call_timeout)
                    latencies.append((time.perf_counter() - started) * 1000)
                except RuntimeError:
                    errors[i] += 1
                counts[i] += 1
        finally:
            await w.__aexit__(None, None, None)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    return sum(counts), sum(errors), latencies, time.perf_counter() - started


async def measure(port: int, pid: int, keys: dict[str, str], ids: dict[str, list[int]], *, load_tenants: int,
                  clients: int, seconds: float, call_timeout: float, warmup: float, warmup_uses: int,
                  pool_size: int, rounds: int, database_url: str) -> dict:
    codes = sorted(keys)
    lone = codes[-1]
    single = [(keys[lone], ids[lone])]
    spread = [(keys[code], ids[code]) for code in codes[:load_tenants]]
    # Warm-up of both loads, not measured (see the module): each for --warmup s and until it made --warmup-uses
    # calls per (pooled connection, tenant) pair on average. Its figures are printed: the cold server's cost.
    warm: dict = {}
    for kind, who in (("single", single), ("spread", spread)):
        n, _errs, lats, elapsed = await load(port, who, clients=clients, seconds=warmup, call_timeout=call_timeout,
                                             at_least_calls=warmup_uses * pool_size * len(who))
        print(f"  warm-up, {kind}: {n} calls in {elapsed:.1f} s, {n / elapsed:.1f} calls/s, p95 "
              f"{percentile(lats, 95):.2f} ms", flush=True)
        warm[f"warmup_{kind}_calls"] = n
        warm[f"warmup_{kind}_p95_ms"] = round(percentile(lats, 95), 2)
    totals = {"single": [0, 0, [], 0.0], "spread": [0, 0, [], 0.0]}
    cpu = {kind: {"server": 0.0, "db": 0.0, "client": 0.0} for kind in totals}
    meter = CpuMeter(pid, database_url)
    rss: dict[str, float] = {}
    by_round: list[dict[str, tuple[float, float]]] = []  # each round's {kind: (p95 ms, calls/s)}
    by_block: list[dict[str, list]] = []  # each ABBA block's (two rounds') {kind: [calls, elapsed s, latencies]}
    for round_no in range(rounds):
        by_round.append({})
        if round_no % 2 == 0:
            by_block.append({kind: [0, 0.0, []] for kind in totals})
        order = (("single", single), ("spread", spread))
        for kind, who in order if round_no % 2 == 0 else order[::-1]:  # ABBA: a drift lands on both alike
            print(f"  round {round_no + 1} of {rounds}: {kind}", flush=True)
            before = await asyncio.wait_for(meter.snapshot(), call_timeout)
            n, errs, lats, elapsed = await load(port, who, clients=clients, seconds=seconds / rounds,
                                                call_timeout=call_timeout)
            spent = CpuMeter.spent(before, await asyncio.wait_for(meter.snapshot(), call_timeout))
            for part, used in spent.items():
                cpu[kind][part] += used or 0.0
            print(f"    {n / elapsed:.1f} calls/s, p50 {statistics.median(lats):.2f} ms, "
                  f"p95 {percentile(lats, 95):.2f} ms, CPU per call: server {1000 * (spent['server'] or 0) / n:.2f} "
                  f"ms, PostgreSQL {1000 * (spent['db'] or 0) / n:.2f} ms", flush=True)
            by_round[-1][kind] = (percentile(lats, 95), n / elapsed)
            block = by_block[-1][kind]
            block[0] += n
            block[1] += elapsed
            block[2].extend(lats)
            total = totals[kind]
            total[0] += n
            total[1] += errs
            total[2].extend(lats)
            total[3] += elapsed
            if round_no == 0:
                rss[kind] = rss_mb(pid)
    figures: dict = dict(warm)
    for kind, (n, errs, lats, elapsed) in totals.items():
        figures[f"{kind}_calls_per_s"] = round(n / elapsed, 1)
        figures[f"{kind}_p50_ms"] = round(statistics.median(lats), 2)
        figures[f"{kind}_p95_ms"] = round(percentile(lats, 95), 2)
        figures[f"{kind}_errors"] = errs
    for kind, (n, *_rest) in totals.items():
        figures[f"{kind}_server_cpu_ms_per_call"] = round(1000 * cpu[kind]["server"] / n, 3)
        figures[f"{kind}_db_cpu_ms_per_call"] = round(1000 * cpu[kind]["db"] / n, 3)
    figures["cpu_per_call_ratio_vs_single"] = round(
        (cpu["spread"]["server"] + cpu["spread"]["db"]) / totals["spread"][0]
        / max(1e-9, (cpu["single"]["server"] + cpu["single"]["db"]) / totals["single"][0]), 3)
    # The ratios compare the two loads block by block and take the median of the blocks' ratios. A block is two
    # rounds, single-spread then spread-single (ABBA), so a drift of the machine's speed that is steady over the
    # block lands on both loads alike; a round's own ratio carries it whole, with the sign of the round's order
    # (a round's CPU per call for the same single load went from 1.9 to 2.9 ms in one run, and `top` showed half
    # of the machine's CPU stolen by its hypervisor at times). The p95 of all rounds' calls pooled mixes the fast
    # and slow minutes of the run: kept beside (p95_ratio_pooled, calls_per_s_ratio_pooled), with each round's
    # own ratio (p95_ratio_by_round).
    def block_p95(block: dict[str, list], kind: str) -> float:
        return percentile(block[kind][2], 95)

    p95_ratios = [block_p95(b, "spread") / block_p95(b, "single") for b in by_block]
    calls_ratios = [(b["spread"][0] / b["spread"][1]) / (b["single"][0] / b["single"][1]) for b in by_block]
    figures["p95_ratio_by_round"] = [round(r["spread"][0] / r["single"][0], 3) for r in by_round]
    figures["p95_ratio_by_block"] = [round(x, 3) for x in p95_ratios]
    figures["p95_ratio_vs_single"] = round(statistics.median(p95_ratios), 3)
    figures["calls_per_s_ratio_vs_single"] = round(statistics.median(calls_ratios), 3)
    figures["p95_ratio_pooled"] = round(figures["spread_p95_ms"] / figures["single_p95_ms"], 3)
    figures["calls_per_s_ratio_pooled"] = round(figures["spread_calls_per_s"] / figures["single_calls_per_s"], 3)
    # Memory: after one tenant's load, after the spread's, and after a call in every tenant of the deployment.
    w = WireClient("127.0.0.1", port, "/mcp", keys[lone])
    await asyncio.wait_for(w.__aenter__(), call_timeout)
    try:
        for code in codes:
            w.key = keys[code]
            await asyncio.wait_for(w.call_tool("list_students", {"limit": 1}), call_timeout)
    finally:
        await w.__aexit__(None, None, None)
    figures["rss_mb_1"] = rss["single"]
    figures[f"rss_mb_{load_tenants}"] = rss["spread"]
    figures["rss_mb_all"] = rss_mb(pid)
    figures["rss_growth_kb_per_tenant"] = round((figures["rss_mb_all"] - rss["single"]) * 1024 / max(1, len(codes) - 1),
                                                1)
    return figures


def log_tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-LOG_TAIL_CHARS:] or "(the server logged nothing)"
    except OSError:
        return "(no server log)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--load-tenants", type=int, default=50)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=120, help="load per kind (single, spread), over --rounds")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds of each load (ABBA order; even)")
    parser.add_argument("--students", type=int, default=20, help="students per loaded tenant")
    parser.add_argument("--pg-url", default=os.environ.get("MCS_ERP_TEST_PG_URL",
                                                           "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL server where this run may create and drop a database")
    parser.add_argument("--pool-size", type=int, default=None,
                        help="the server's MCS_ERP_DATABASE_POOL_SIZE (default: --clients, one connection per "
                             "concurrent call, as a deployment sizes it)")
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds the load may take")
    parser.add_argument("--warmup", type=float, default=10.0, help="unmeasured seconds of each load before the rounds")
    parser.add_argument("--warmup-uses", type=int, default=12,
                        help="the warm-up goes on until it made this many calls per (pooled connection, tenant) pair")
    args = parser.parse_args()
    if not (1 <= args.load_tenants <= args.tenants <= 2000) or args.clients < 1 or args.seconds <= 0 \
            or not 1 <= args.students <= 1000 or args.call_timeout <= 0 or args.deadline <= 0 \
            or not 1 <= (args.pool_size or args.clients) <= 200 or not 0 <= args.warmup <= 600 \
            or not 2 <= args.rounds <= 20 or args.rounds % 2 or not 0 <= args.warmup_uses <= 1000:
        parser.error("need 1 <= --load-tenants <= --tenants <= 2000, 1 <= --students <= 1000, --clients >= 1, "
                     "positive --seconds, --call-timeout and --deadline, 1 <= --pool-size <= 200 and "
                     "0 <= --warmup <= 600, --rounds even and 2 to 20, 0 <= --warmup-uses <= 1000")
    name = f"mcs_bench_tenants_{uuid.uuid4().hex[:8]}"
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    asyncio.run(admin_sql(args.pg_url, f'CREATE DATABASE "{name}"'))
    figures: dict = {}
    try:
        print(f"creating {args.tenants} tenants in database {name}", flush=True)
        built, keys, ids = asyncio.run(build(url, tenants=args.tenants, load_tenants=args.load_tenants,
                                             students=args.students))
        figures.update(built)
        with tempfile.TemporaryDirectory() as tmp:
            server_log = Path(tmp) / "server.log"
            env = dict(os.environ, MCS_ERP_DATABASE_URL=url, MCS_ERP_DATA_KEYS=DATA_KEYS,
                       MCS_ERP_DATABASE_POOL_SIZE=str(args.pool_size or args.clients),
                       MCS_ERP_AUDIT_KEY_FILE=str(Path(tmp) / "audit.key"))
            port = free_port()
            with server_log.open("wb") as log_file:
                server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--http",
                                           f"127.0.0.1:{port}"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                          stdout=log_file, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + START_TIMEOUT_S
                while True:
                    try:
                        if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                            break
                    except Exception:
                        pass
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"the server did not answer /healthz (exit status {server.poll()}):\n"
                                           f"{log_tail(server_log)}")
                    time.sleep(0.05)
                # An idle server's CPU with every tenant: its background loops (relay, audit sequencer, job
                # recovery) ask which tenants have work in one statement (workers/tenancy.py), so this stays flat in
                # the number of tenants (100 tenants cost 28 % of a core before, 2.6 % after, on an idle server).
                time.sleep(IDLE_SETTLE_S)
                meter = CpuMeter(server.pid, url)
                before = asyncio.run(meter.snapshot())
                started = time.monotonic()
                time.sleep(IDLE_S)
                idle = CpuMeter.spent(before, asyncio.run(meter.snapshot()))
                elapsed = time.monotonic() - started
                figures["idle_server_cpu_pct"] = (None if idle["server"] is None
                                                  else round(100 * idle["server"] / elapsed, 2))
                figures["idle_db_cpu_pct"] = None if idle["db"] is None else round(100 * idle["db"] / elapsed, 2)
                try:
                    figures.update(asyncio.run(asyncio.wait_for(
                        measure(port, server.pid, keys, ids, load_tenants=args.load_tenants, clients=args.clients,
                                seconds=args.seconds, call_timeout=args.call_timeout,
                                warmup=args.warmup, warmup_uses=args.warmup_uses,
                                pool_size=args.pool_size or args.clients, rounds=args.rounds, database_url=url),
                        args.deadline)))
                except Exception as exc:
                    raise RuntimeError(f"{type(exc).__name__}: {exc}\n{log_tail(server_log)}") from exc
            finally:
                server.terminate()
                try:
                    server.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait(timeout=STOP_TIMEOUT_S)
    finally:
        asyncio.run(admin_sql(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    figures["load_tenants"] = args.load_tenants
    figures["clients"] = args.clients
    figures["pool_size"] = args.pool_size or args.clients
    for key, value in figures.items():
        print(f"{key:36} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
