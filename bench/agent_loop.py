"""The agent loop's own cost: server-side overhead per step with a zero-latency model, and short runs per second.

A scripted in-process model answers every turn at once (no network, no tokens to wait for), so what is left is
mcs-erp's work per step: building the turn's request from the conversation, recording the assistant turn with
its usage and events and the job's progress (one transaction), running the tool call through `tools.invoke`
(the tool's own time is measured and subtracted), recording its result and event, and the job around the run.

The cost per step is mostly the database driver's round trips (a read step writes one transaction of three
statements); on SQLite each is a hop to aiosqlite's thread, whose latency is higher on an idle machine than on
a busy one, so the figure varies by a few tenths of a millisecond between runs.

- overhead_ms_per_step: a run of STEPS tool steps (each calls `ping`, a read that touches no school data) plus
  the final answer, executed through the job path (`execute_job`, as a worker does); (wall time - the tools'
  own time) / model turns, median of --repeat runs. Target (the agent API issue): under 5 ms.
- runs_per_s: short runs (one tool step, then the answer) end to end: post the message (thread, run, job in one
  transaction), enqueue on the in-process runner, run, and wait until the run completed; --runs runs,
  --concurrency at a time.

Runs on a fresh SQLite file (the embedded default) or --database-url (e.g. a fresh PostgreSQL database).
Prints the figures, then one line holding a JSON object of them.

Usage: uv run python bench/agent_loop.py [--steps 20] [--repeat 5] [--runs 200] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func
from sqlmodel import select

from domain.agent import service as agent
from domain.agent.models import AgentRun, AgentToolCall
from domain.agent.service import Limits, ToolCallRequest
from domain.identity.service import actor_for, ensure_user
from domain.kernel.actor import Channel
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from tools.runtime import Runtime
from workers import agent_loop
from workers.agent_providers import ModelTurn
from workers.execute import execute_job
from workers.runner import InProcessRunner


class ZeroLatencyModel:
    """A scripted model answering at once: `steps` turns calling `ping`, then a final answer."""

    name = "scripted"
    model = "zero-latency"

    def __init__(self, steps: int):
        self.steps = steps

    async def complete(self, *, system, entries, tools, max_output_tokens, on_text=None) -> ModelTurn:
        last_user = max(i for i, e in enumerate(entries) if e["role"] == "user")
        done = sum(1 for e in entries[last_user:] if e["role"] == "assistant")
        if done < self.steps:
            return ModelTurn(text="", tool_calls=[ToolCallRequest(f"call_{done}", "ping", {}, "{}")],
                             input_tokens=1200 + 40 * done, output_tokens=12, stop_reason="tool_use")
        if on_text is not None:
            await on_text("All done.")
        return ModelTurn(text="All done.", input_tokens=1300, output_tokens=4, stop_reason="end_turn")


async def setup(url: str) -> tuple[Runtime, object]:
    runtime = Runtime.create(Settings(database_url=url, agent_max_steps=500))
    await migrate(runtime.db.write_engine)
    async with runtime.db.write() as session:
        user = await ensure_user(session, username="bench-teacher", display_name="Bench Teacher", roles="teacher")
        actor = actor_for(user, Channel.AGENT)
    runtime.jobs = InProcessRunner(runtime)
    return runtime, actor


async def post(runtime: Runtime, actor, text: str, limits: Limits) -> AgentRun:
    async with runtime.db.write() as session:
        thread = await agent.create_thread(session, actor, title="bench")
        return await agent.start_run(session, actor, thread, text=text, provider="scripted", model="zero-latency",
                                     limits=limits)


async def overhead_per_step(runtime: Runtime, actor, steps: int, repeat: int) -> tuple[float, float]:
    """Return (median overhead ms per model turn, median tool ms per call) over `repeat` runs."""
    agent_loop.provider_for = lambda _runtime, _name, _model: ZeroLatencyModel(steps)
    limits = Limits(max_steps=steps + 5, max_tokens=10_000_000, max_seconds=600)
    overheads, tool_times = [], []
    for _ in range(repeat):
        run = await post(runtime, actor, "Ping the server repeatedly.", limits)
        started = time.perf_counter()
        outcome = await execute_job(runtime, run.job_id or 0)
        wall_ms = (time.perf_counter() - started) * 1000
        async with runtime.db.read() as session:
            done = await agent.get_run(session, run.id or 0)
            tool_ms = (await session.exec(select(func.sum(AgentToolCall.tool_ms)).where(
                AgentToolCall.run_id == run.id))).one()
        assert outcome == "succeeded" and done.status == "completed" and done.steps == steps + 1, (outcome, done)
        overheads.append((wall_ms - tool_ms) / done.steps)
        tool_times.append(tool_ms / steps)
    return statistics.median(overheads), statistics.median(tool_times)


async def short_runs(runtime: Runtime, actor, runs: int, concurrency: int) -> float:
    """Post `runs` one-step runs, `concurrency` at a time, each waited for until completed; return runs/s."""
    agent_loop.provider_for = lambda _runtime, _name, _model: ZeroLatencyModel(1)
    limits = Limits(max_steps=5, max_tokens=100_000, max_seconds=60)
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            run = await post(runtime, actor, "Is the server up?", limits)
            await runtime.jobs.enqueue(run.job_id or 0)
            await runtime.jobs.join(run.job_id or 0)  # type: ignore[attr-defined]  # the in-process runner
            async with runtime.db.read() as session:
                status = (await agent.get_run(session, run.id or 0)).status
            assert status == "completed", status

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(runs)))
    return runs / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        runtime, actor = await setup(url)
        try:
            await overhead_per_step(runtime, actor, 3, 1)  # warm up: imports, connections, statement caches
            overhead, tool_ms = await overhead_per_step(runtime, actor, args.steps, args.repeat)
            rate = await short_runs(runtime, actor, args.runs, args.concurrency)
        finally:
            await runtime.close()
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(f"backend: {backend}")
    print(f"overhead per step: {overhead:.2f} ms (target < 5 ms; {args.steps} tool steps + answer, median of "
          f"{args.repeat}; the tool's own time, {tool_ms:.2f} ms per call, excluded)")
    print(f"short runs: {rate:.1f} runs/s ({args.runs} runs of one tool step, {args.concurrency} at a time, "
          "post -> job -> completed)")
    print(json.dumps({"overhead_ms_per_step": round(overhead, 3), "runs_per_s": round(rate, 1),
                      "tool_ms_per_call": round(tool_ms, 3), "steps": args.steps, "backend": backend}))


if __name__ == "__main__":
    asyncio.run(main())
