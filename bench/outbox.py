"""Outbox throughput and latency: events per second through the outbox to a no-op handler on PostgreSQL + Redis
with two workers, and the p95 from an event's commit to the commit of its handling (issue 21: at least 1,000
events/s, p95 under 200 ms).

A fresh PostgreSQL database (dropped after) and a Redis stream of its own. Two worker processes (this script with
--worker) each run what `mcs-erp worker` runs for events, a publisher and a consumer (workers/relay.py), with a
no-op handler; this process is the server: --producers tasks record events, --per-commit to a transaction (with
outbox.record_all, as a service records a batch: one INSERT ... RETURNING; --one-by-one: a record_event per event),
and its publisher, woken by each commit, moves them to the stream. Each event's commit time is taken right after
its COMMIT; a worker stamps the events it handled right after the commit of the transaction that handled them and
appends them to its file.

Two phases, one after the other on the same workers:
  1. saturated: --events events recorded as fast as the producers can. `events_per_s` counts from the first commit
     to the last handling: the throughput. Its latencies (`saturated_p95_ms`) are mostly the backlog: the
     producers record faster than two workers on this machine's two cores handle, and the events queue.
  2. paced: --paced-events events offered at --rate events per second (default 1,000: the throughput the issue
     asks for), each producer committing on a fixed schedule. `commit_to_handler_p95_ms` is this phase's p95: the
     latency at the target rate. A latency target means something at a given load; at saturation any queue grows
     without bound.

Every wait is bounded (--timeout for each step; the run: six times that); the workers are killed whatever happens.
The last line printed is JSON with `events_per_s` and `commit_to_handler_p95_ms`, and both phases' figures.

Usage: uv run python bench/outbox.py [--events 20000] [--paced-events 10000] [--rate 1000] [--per-commit 10]
       [--producers 4] [--one-by-one] [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test]
       [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from redis.asyncio import Redis  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from domain.kernel import outbox  # noqa: E402
from domain.kernel.settings import Settings  # noqa: E402
from domain.migrations.schema import migrate  # noqa: E402
from tools.runtime import Runtime  # noqa: E402
from workers import relay  # noqa: E402

TOPIC = "bench.Happened"
AGGREGATE = "bench.thing"


async def _noop(session, event) -> None:
    return None


class _StampingConsumer(relay.StreamConsumer):
    """A consumer that appends `event_id time` for each event it handled, right after the handling committed."""

    def __init__(self, *args, out: Path, **kwargs):
        super().__init__(*args, **kwargs)
        self.out = out.open("a", buffering=1)

    async def handle(self, messages):
        result = await super().handle(messages)
        now = time.time()
        if result.done:
            self.out.write("".join(f"{i} {now}\n" for i in result.done))
        return result


async def worker(url: str, redis_url: str, queue: str, out: Path, name: str) -> None:
    runtime = Runtime.create(Settings(database_url=url, redis_url=redis_url, queue_name=queue,
                                      event_poll_seconds=0.5, event_claim_idle_seconds=5.0))
    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, _noop, name="bench.noop")
    redis = Redis.from_url(redis_url)
    stream = relay.stream_key(queue)
    publisher = relay.StreamPublisher(runtime, redis, stream=stream)
    consumer = _StampingConsumer(runtime, redis, handlers, stream=stream, consumer=name, block_s=0.05, out=out)
    await publisher.start()
    await consumer.start()
    out.with_suffix(".ready").write_text("ready")
    await asyncio.Event().wait()


class Happened(outbox.DomainEvent):
    """The bench's event: a thing of a producer happened (its n-th event)."""

    topic = TOPIC
    aggregate = AGGREGATE
    aggregate_field = "thing"

    thing: str
    i: int


async def produce(runtime: Runtime, *, events: int, per_commit: int, producers: int,
                  one_by_one: bool = False, rate: float | None = None) -> dict[int, float]:
    """Record `events` events, `per_commit` to a transaction, from `producers` concurrent tasks (each its own 50
    aggregates), as a service records a batch: outbox.record_all (one INSERT ... RETURNING, the aggregates numbered
    under their advisory locks), or with `one_by_one` one record_event each. As fast as they can, or with `rate`
    offering that many events per second in all (each producer's commits on a fixed schedule; one that fell behind
    goes on at once). Returns {event id: commit time}."""
    committed: dict[int, float] = {}
    per_producer = events // producers
    every_s = per_commit * producers / rate if rate else 0.0

    async def one(index: int) -> None:
        begun = time.monotonic() + every_s * index / producers  # the producers' commits spread over the interval
        for number, start in enumerate(range(0, per_producer, per_commit)):
            if every_s:
                await asyncio.sleep(max(0.0, begun + number * every_s - time.monotonic()))
            count = min(per_commit, per_producer - start)
            keys = [f"p{index}-{(start + i) % 50}" for i in range(count)]
            async with runtime.db.write() as session:
                if one_by_one:
                    ids = [(await outbox.record_event(session, TOPIC, AGGREGATE, key, {"i": start + i})).id
                           for i, key in enumerate(keys)]
                else:
                    ids = await outbox.record_all(session, [Happened(thing=key, i=start + i)
                                                            for i, key in enumerate(keys)])
            now = time.time()
            committed.update((i, now) for i in ids)

    await asyncio.gather(*(one(i) for i in range(producers)))
    return committed


async def phase(runtime: Runtime, work: Path, args: argparse.Namespace, step: list[str], *, rate: float | None,
                events: int) -> dict:
    """Record `events` events (as fast as the producers can, or offered at `rate` a second), wait until the workers
    handled each (bounded by --timeout), and return the figures: events/s from the first commit to the last
    handling, and the commit-to-handler latencies."""
    step[0] = f"{events} events to be recorded"
    started = time.time()
    committed = await asyncio.wait_for(produce(runtime, events=events, per_commit=args.per_commit,
                                               producers=args.producers, one_by_one=args.one_by_one, rate=rate),
                                       args.timeout)
    record_s = time.time() - started
    step[0] = "the workers to handle every event"
    deadline = time.monotonic() + args.timeout
    while True:
        handled: dict[int, float] = {}
        for i in range(2):
            path = work / f"worker{i}.txt"
            if path.exists():
                for line in path.read_text().splitlines():
                    event_id, at = line.split()
                    handled.setdefault(int(event_id), float(at))
        if all(i in handled for i in committed):
            break
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(0.2)
    latencies = sorted(max(0.0, handled[i] - at) * 1000 for i, at in committed.items())
    first, last = min(committed.values()), max(handled[i] for i in committed)
    step[0] = "the events' publishing times"
    published = await asyncio.wait_for(published_at(runtime, list(committed)), args.timeout)
    to_publish = sorted(max(0.0, published[i] - at) * 1000 for i, at in committed.items() if i in published)
    to_handle = sorted(max(0.0, handled[i] - published[i]) * 1000 for i in committed if i in published)
    return {"events": len(committed), "record_s": round(record_s, 3),
            "events_per_s": round(len(committed) / max(last - first, 1e-9), 1),
            "p50_ms": round(statistics.median(latencies), 1), "p95_ms": _p95(latencies),
            "max_ms": round(latencies[-1], 1),
            "publish_p50_ms": round(statistics.median(to_publish), 1), "publish_p95_ms": _p95(to_publish),
            "handle_p50_ms": round(statistics.median(to_handle), 1), "handle_p95_ms": _p95(to_handle)}


def _p95(sorted_ms: list[float]) -> float:
    return round(sorted_ms[int(0.95 * (len(sorted_ms) - 1))], 1)


async def published_at(runtime: Runtime, ids: list[int]) -> dict[int, float]:
    """{event id: when a publisher stamped it published (the XADDs done, before its commit), epoch seconds}."""
    found: dict[int, float] = {}
    async with runtime.db.read() as session:
        for start in range(0, len(ids), 5000):
            rows = await session.execute(text("SELECT id, published_at FROM outbox WHERE id = ANY(:ids)"),
                                         {"ids": ids[start:start + 5000]})
            found.update((event_id, at.timestamp()) for event_id, at in rows if at is not None)
    return found


async def run(args: argparse.Namespace, step: list[str]) -> int:
    name = f"mcs_bench_outbox_{uuid.uuid4().hex[:8]}"
    queue = f"mcs-erp-bench:{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 30})
    step[0] = "PostgreSQL to create the database"
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    runtime = Runtime.create(Settings(database_url=url, redis_url=args.redis_url, queue_name=queue))
    redis = Redis.from_url(args.redis_url)
    work = Path(tempfile.mkdtemp(prefix="mcs-bench-outbox-"))
    procs: list[subprocess.Popen] = []
    publisher = None
    try:
        step[0] = "the migrations"
        await asyncio.wait_for(migrate(runtime.db.write_engine), args.timeout)
        step[0] = "the two workers to start"
        for i in range(2):
            out = work / f"worker{i}.txt"
            procs.append(subprocess.Popen([sys.executable, __file__, "--worker", url, args.redis_url, queue, str(out),
                                           f"w{i}"], stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + args.timeout
        while not all((work / f"worker{i}.ready").exists() for i in range(2)):
            if any(p.poll() is not None for p in procs):
                print("outbox: a worker died at start-up", flush=True)
                return 1
            if time.monotonic() > deadline:
                raise TimeoutError
            await asyncio.sleep(0.05)
        publisher = relay.StreamPublisher(runtime, redis, stream=relay.stream_key(queue), poll_s=0.5)
        await publisher.start()
        saturated = await phase(runtime, work, args, step, rate=None, events=args.events)
        paced = await phase(runtime, work, args, step, rate=args.rate, events=args.paced_events)
        result = {"events": saturated["events"], "per_commit": args.per_commit, "producers": args.producers,
                  "workers": 2, "record_s": saturated["record_s"], "events_per_s": saturated["events_per_s"],
                  "commit_to_handler_p95_ms": paced["p95_ms"], "rate": args.rate,
                  "paced_events_per_s": paced["events_per_s"], "paced_p50_ms": paced["p50_ms"],
                  "paced_max_ms": paced["max_ms"], "saturated_p50_ms": saturated["p50_ms"],
                  "saturated_p95_ms": saturated["p95_ms"], "saturated_max_ms": saturated["max_ms"],
                  "paced_publish_p95_ms": paced["publish_p95_ms"], "paced_handle_p95_ms": paced["handle_p95_ms"]}
        print(f"outbox, as fast as {args.producers} producers record: {saturated['events']} events recorded in "
              f"{saturated['record_s']:.2f} s, handled by 2 workers: {saturated['events_per_s']} events/s, commit to "
              f"handler p50 {saturated['p50_ms']} ms, p95 {saturated['p95_ms']} ms (the outbox's backlog included)",
              flush=True)
        print(f"outbox, {args.rate:g} events/s offered: {paced['events']} events, {paced['events_per_s']} events/s "
              f"handled, commit to handler p50 {paced['p50_ms']} ms, p95 {paced['p95_ms']} ms, max "
              f"{paced['max_ms']} ms", flush=True)
        for label, figures in (("saturated", saturated), ("paced", paced)):
            print(f"  {label}: commit to published p50 {figures['publish_p50_ms']} ms, p95 {figures['publish_p95_ms']} "
                  f"ms; published to handled p50 {figures['handle_p50_ms']} ms, p95 {figures['handle_p95_ms']} ms",
                  flush=True)
        print(json.dumps(result), flush=True)
        return 0
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        if publisher is not None:
            await publisher.stop()
        await redis.delete(relay.stream_key(queue))
        await redis.aclose()
        await runtime.close()
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()
        for path in work.iterdir():
            path.unlink()
        os.rmdir(work)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-commit", type=int, default=10)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="events per second offered in the second phase, where the latency is measured")
    parser.add_argument("--paced-events", type=int, default=10_000, help="events of the second phase")
    parser.add_argument("--one-by-one", action="store_true",
                        help="record each event with its own record_event (default: each commit's with record_all)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds any one step may take")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if not (100 <= args.events <= 1_000_000 and 100 <= args.paced_events <= 1_000_000 and 1 <= args.per_commit <= 1000
            and 1 <= args.producers <= 64 and 1 <= args.timeout <= 3600 and 1 <= args.rate <= 1_000_000):
        parser.error("--events and --paced-events 100..1000000, --per-commit 1..1000, --producers 1..64, "
                     "--timeout 1..3600, --rate 1..1000000")
    step = ["the start"]
    try:
        return await asyncio.wait_for(run(args, step), 6 * args.timeout)
    except TimeoutError:
        print(f"outbox: a bounded wait ran out while waiting for {step[0]}", flush=True)
        return 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        asyncio.run(worker(sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5]), sys.argv[6]))
    else:
        sys.exit(asyncio.run(main()))
