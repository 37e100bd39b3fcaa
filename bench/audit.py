"""Audited writes under concurrency: the audit log's cost to 32 concurrent writers, on PostgreSQL.

Creates a fresh PostgreSQL database (dropped afterwards). --writers tasks (default 32) call the real tool path
(`tools.invoke.invoke`, `create_department`: one insert and its audit entry in one transaction) back to back for
--seconds each phase. Phases alternate, audit off then on, then on then off, for --rounds rounds: with audit on, entries are written as
every tool writes them and the audit sequencer (workers/audit_sequencer.py) integrates them into the Merkle tree
in this process meanwhile, as it does in the server on the embedded default; with audit off (the benchmark-only
`domain.kernel.audit._DISABLED`, no setting), the same writes record no entry. The baseline is thus the same
writes, in the same run, on the same database.

Figures: audited_per_s and unaudited_per_s (writes acknowledged per second, summed over the rounds), audited_ratio
= audited_per_s / unaudited_per_s (target, issue 19: at least 0.7). Afterwards every audited write's entry must be
integrated (tree size = audited writes acknowledged, no gap) and the log must verify; `verified` says so.

Every wait is bounded: each call by --call-timeout, the whole run by --deadline; a run that overstays prints what it
was waiting for and exits 1. Prints the figures, then one line holding a JSON object of them, with `audited_ratio`.

Usage: uv run python bench/audit.py [--writers 32] [--seconds 8] [--rounds 2] [--call-timeout 30] [--deadline 300]
       [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from domain.kernel import audit
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.settings import Settings
from server.cli import prepare_database
from tools.invoke import invoke
from tools.runtime import Runtime
from workers.audit_sequencer import integrate_all, sequencer_loop

WAITING = {"for": "start"}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=32, choices=range(1, 257), metavar="1..256")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase (1..120)")
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 11), metavar="1..10")
    parser.add_argument("--call-timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=300.0, help="the whole run, seconds")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120 or not 1 <= args.call_timeout <= 600 or not 10 <= args.deadline <= 3600:
        parser.error("--seconds 1..120, --call-timeout 1..600, --deadline 10..3600")
    return args


async def phase(runtime: Runtime, args: argparse.Namespace, label: str) -> int:
    """Run the writers for args.seconds; return the writes acknowledged. A call that fails or overstays raises."""
    stop_at = time.monotonic() + args.seconds
    counts = [0] * args.writers

    async def writer(w: int) -> None:
        n = 0
        while time.monotonic() < stop_at:
            code = f"{label}{w}-{n}"
            await asyncio.wait_for(invoke(runtime, "create_department", {"code": code, "name": "Bench"},
                                          SYSTEM_ACTOR), args.call_timeout)
            n += 1
            counts[w] = n

    WAITING["for"] = f"phase {label}: {args.writers} writers"
    await asyncio.gather(*(writer(w) for w in range(args.writers)))
    return sum(counts)


async def run(args: argparse.Namespace, url: str) -> dict:
    runtime = Runtime.create(Settings(database_url=url, audit_checkpoint_seconds=0))
    try:
        WAITING["for"] = "migrations"
        await asyncio.wait_for(prepare_database(runtime), args.call_timeout * 4)
        WAITING["for"] = "warm-up"
        runtime.catalogue  # noqa: B018  (import every tool module before the clock starts)
        await asyncio.wait_for(invoke(runtime, "create_department", {"code": "warm", "name": "Warm"},
                                      SYSTEM_ACTOR), args.call_timeout)
        await integrate_all(runtime)
        audited = unaudited = 0
        for r in range(args.rounds):  # off-on, then on-off, ...: neither mode always runs on the warmer database
            for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
                if mode == "off":
                    audit._DISABLED = True
                    try:
                        unaudited += await phase(runtime, args, f"u{r}-")
                    finally:
                        audit._DISABLED = False
                    continue
                sequencer = asyncio.create_task(sequencer_loop(runtime))  # every audit_sequencer_seconds, as served
                try:
                    audited += await phase(runtime, args, f"a{r}-")
                finally:
                    sequencer.cancel()
                    await asyncio.gather(sequencer, return_exceptions=True)
            print(f"round {r + 1}: unaudited {unaudited} writes, audited {audited} writes so far", flush=True)
        WAITING["for"] = "the last integration"
        await asyncio.wait_for(integrate_all(runtime), args.call_timeout * 4)
        WAITING["for"] = "verification"
        async with runtime.db.read() as session:
            result = await asyncio.wait_for(audit.verify_audit_log(session), args.call_timeout * 4)
        seconds = args.seconds * args.rounds
        expected = audited + 1  # and the warm-up's entry
        return {"writers": args.writers, "seconds_per_mode": seconds,
                "audited_per_s": round(audited / seconds, 1), "unaudited_per_s": round(unaudited / seconds, 1),
                "audited_ratio": round((audited / seconds) / max(unaudited / seconds, 1e-9), 3),
                "integrated": result.tree_size, "pending": result.pending,
                "verified": bool(result.ok and result.tree_size == expected and result.pending == 0)}
    finally:
        await runtime.close()


async def main() -> int:
    args = parse_args()
    logging.basicConfig(level=logging.WARNING)
    name = f"mcs_bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await asyncio.wait_for(conn.exec_driver_sql(f'CREATE DATABASE "{name}"'), 60)
        url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
        try:
            figures = await asyncio.wait_for(run(args, url), args.deadline)
        except TimeoutError:
            print(f"bench/audit.py: the run overstayed its {args.deadline:.0f} s deadline while waiting for "
                  f"{WAITING['for']}", file=sys.stderr)
            return 1
        finally:
            with contextlib.suppress(Exception):
                async with admin.connect() as conn:
                    await asyncio.wait_for(conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'),
                                           60)
    finally:
        await admin.dispose()
    print(f"{figures['writers']} writers, {figures['seconds_per_mode']:.0f} s per mode: audited "
          f"{figures['audited_per_s']}/s, unaudited {figures['unaudited_per_s']}/s, ratio {figures['audited_ratio']} "
          f"(target >= 0.7); integrated {figures['integrated']}, verified {figures['verified']}")
    print(json.dumps(figures))
    return 0 if figures["verified"] else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
