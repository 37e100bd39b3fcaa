"""Latency of domain tools against a trivial ping over Streamable HTTP, and throughput at 16 clients.

Builds the demo school in a temporary SQLite database (the embedded default; `--database-url` for
PostgreSQL), starts `mcs-erp serve --http` as a subprocess (`--workers` processes), and measures:
  1. sequential calls, interleaved in one run: ping, get_student (random student), list_students
     (limit 50, random section); p50 and p95 of each in milliseconds;
  2. 16 concurrent clients for a fixed duration calling get_student and list_students (limit 50)
     alternately; calls per second and errors.
Both use the lean wire client of bench/_wire.py (the SDK client's own CPU, mostly JSON-schema validation
of every result, would otherwise be measured on the same 2 cores); the official SDK client is also timed
on the sequential run (`sdk_*` figures) so its overhead is visible.
Prints the figures, then one line with a JSON object of them.

Usage: uv run python bench/mcp_latency.py [--calls 300] [--seconds 15] [--clients 16] [--workers 1]
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

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _wire import WireClient

ROOT = Path(__file__).resolve().parent.parent
RECONNECT_EVERY = 25


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@asynccontextmanager
async def client(url: str, key: str):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with http, Client(streamable_http_client(url, http_client=http)) as c:
        yield c


async def call(c, name: str, args: dict) -> float:
    start = time.perf_counter()
    result = await c.call_tool(name, args)
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


async def measure(port: int, key: str, *, calls: int, seconds: float, clients: int) -> dict:
    url = f"http://127.0.0.1:{port}/mcp"
    rng = random.Random(7)
    async with client(url, key) as c:
        ids = [s["id"] for s in (await c.call_tool("list_students", {"limit": 100})).structured_content["items"]]
        section_ids = [s["id"] for s in
                       (await c.call_tool("list_sections", {"limit": 100})).structured_content["items"]]
        await sequential(c, ids, section_ids, 20, rng)
        sdk_times = await sequential(c, ids, section_ids, max(20, calls // 5), rng)
    async with WireClient("127.0.0.1", port, "/mcp", key) as w:
        await sequential(w, ids, section_ids, 30, rng)
        times = await sequential(w, ids, section_ids, calls, rng)

    stop_at = time.perf_counter() + seconds
    counts = [0] * clients
    errors = [0] * clients

    async def worker(i: int) -> None:
        # Each client reconnects every RECONNECT_EVERY calls, as pooled HTTP clients recycle connections: with
        # several server processes sharing one listening socket, 16 connections opened at once can all land on
        # one process, which would measure the kernel's accept race rather than the server.
        local = random.Random(i)
        n = 0
        while time.perf_counter() < stop_at:
            async with WireClient("127.0.0.1", port, "/mcp", key) as w:
                for _ in range(RECONNECT_EVERY):
                    if time.perf_counter() >= stop_at:
                        break
                    try:
                        if n % 2 == 0:
                            await w.call_tool("get_student", {"student_id": local.choice(ids)})
                        else:
                            await w.call_tool("list_students", {"limit": 50,
                                                                "section_id": local.choice(section_ids)})
                    except RuntimeError:
                        errors[i] += 1
                    n += 1
        counts[i] = n

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    figures: dict = {}
    for name, values in times.items():
        figures[f"{name}_p50_ms"] = round(statistics.median(values), 2)
        figures[f"{name}_p95_ms"] = round(percentile(values, 95), 2)
    for name in ("get_student", "list_students"):
        figures[f"{name}_p95_over_ping_p95"] = round(figures[f"{name}_p95_ms"] / figures["ping_p95_ms"], 2)
    for name, values in sdk_times.items():
        figures[f"sdk_{name}_p50_ms"] = round(statistics.median(values), 2)
    figures["calls_sequential_each"] = calls
    figures[f"calls_per_s_{clients}"] = round(sum(counts) / elapsed, 1)
    figures["concurrent_errors"] = sum(errors)
    figures["concurrent_seconds"] = round(elapsed, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MCS_ERP_DATABASE_URL=args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db")
        out = subprocess.run([sys.executable, "-m", "server.cli", "demo", "--no-serve"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
        key = re.search(r"API key \(admin\): (\S+)", out).group(1)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--http", f"127.0.0.1:{port}",
                                   "--workers", str(args.workers)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.time() + 30
            while True:
                try:
                    if httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                        break
                except Exception:
                    if time.time() > deadline:
                        raise
                time.sleep(0.05)
            figures = asyncio.run(measure(port, key, calls=args.calls, seconds=args.seconds,
                                          clients=args.clients))
            figures["server_workers"] = args.workers
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name, value in figures.items():
        print(f"{name:28} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
