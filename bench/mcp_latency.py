"""Latency of domain tools against a trivial ping over Streamable HTTP, and throughput at 16 clients.

Builds the demo school in a temporary SQLite database (the embedded default), starts
`mcs-erp serve --http` as a subprocess, and drives it with the official MCP SDK client:
  1. sequential calls, interleaved: ping, get_student (random student), list_students (limit 50);
     p50 and p95 of each in milliseconds, measured in the same run;
  2. 16 concurrent clients for a fixed duration calling get_student and list_students (limit 50)
     alternately; calls per second.
Prints the figures, then one line with a JSON object of them.

Usage: uv run python bench/mcp_latency.py [--calls 300] [--seconds 15] [--clients 16]
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

ROOT = Path(__file__).resolve().parent.parent


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
    if result.is_error:
        raise RuntimeError(f"{name} failed: {result.content[0].text}")
    return elapsed


async def measure(url: str, key: str, *, calls: int, seconds: float, clients: int) -> dict:
    rng = random.Random(7)
    async with client(url, key) as c:
        students = (await c.call_tool("list_students", {"limit": 100})).structured_content["items"]
        ids = [s["id"] for s in students]
        sections = (await c.call_tool("list_sections", {"limit": 100})).structured_content["items"]
        section_ids = [s["id"] for s in sections]
        for _ in range(30):  # warm-up: connections, caches, code paths
            await call(c, "ping", {})
            await call(c, "get_student", {"student_id": rng.choice(ids)})
            await call(c, "list_students", {"limit": 50, "section_id": rng.choice(section_ids)})
        times: dict[str, list[float]] = {"ping": [], "get_student": [], "list_students": []}
        for _ in range(calls):
            times["ping"].append(await call(c, "ping", {}))
            times["get_student"].append(await call(c, "get_student", {"student_id": rng.choice(ids)}))
            times["list_students"].append(await call(c, "list_students", {"limit": 50}))

    stop_at = time.perf_counter() + seconds
    counts = [0] * clients

    async def worker(i: int) -> None:
        local = random.Random(i)
        async with client(url, key) as c:
            n = 0
            while time.perf_counter() < stop_at:
                if n % 2 == 0:
                    await call(c, "get_student", {"student_id": local.choice(ids)})
                else:
                    await call(c, "list_students", {"limit": 50, "section_id": local.choice(section_ids)})
                n += 1
            counts[i] = n

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    figures = {}
    for name, values in times.items():
        figures[f"{name}_p50_ms"] = round(statistics.median(values), 2)
        figures[f"{name}_p95_ms"] = round(percentile(values, 95), 2)
    figures["calls_sequential_each"] = calls
    figures[f"calls_per_s_{clients}"] = round(sum(counts) / elapsed, 1)
    figures["concurrent_clients"] = clients
    figures["concurrent_seconds"] = round(elapsed, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MCS_ERP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/bench.db")
        out = subprocess.run([sys.executable, "-m", "server.cli", "demo", "--no-serve"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stdout
        key = re.search(r"API key \(admin\): (\S+)", out).group(1)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--http", f"127.0.0.1:{port}"],
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
            figures = asyncio.run(measure(f"http://127.0.0.1:{port}/mcp", key, calls=args.calls,
                                          seconds=args.seconds, clients=args.clients))
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name, value in figures.items():
        print(f"{name:28} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
