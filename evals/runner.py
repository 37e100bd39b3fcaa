"""Run the task suite against a model through the product's agent loop, one fresh demo school per task.

The demo school (`mcs-erp demo`'s build, plus the personas it lacks: see PERSONAS) is built once into a SQLite
file and copied for each task, so every task starts from the same state and none sees another's writes. A task
runs as a user of the agent API would run it: a thread, the persona's message, the run executed as a job by the
in-process runner (workers/agent_loop.py, the model reached through workers/agent_providers.py). When the run
stops at the confirmation gate, the persona confirms the pending action (they asked for it), and the run goes
on; an action that then waits for a second admin (four eyes) stays queued, as it would in the office. Then the
task's grader checks the database and the answer.

Per task: whether it passed (and why not), the run's status, tool calls, tokens and seconds; then the success
rate. Any OpenAI-compatible server (Ollama, vLLM, llama.cpp) is reached with provider openai and a base URL.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr
from sqlmodel import select

from domain.agent import service as agent
from domain.agent.models import AgentRun, RunStatus
from domain.agent.service import Limits
from domain.hr.models import Employee
from domain.identity.service import actor_for, ensure_user, get_user_by_username
from domain.kernel.actor import Channel
from domain.kernel.settings import Settings
from evals.grading import Grading
from evals.tasks import TASKS, Task
from server.agent_api import decide_action
from server.cli import prepare_database
from server.demo import build_demo
from tools.registry import Effect
from tools.runtime import Runtime
from workers.runner import InProcessRunner

log = logging.getLogger(__name__)
# Personas the demo has no user for: (username, roles, position of the employee they are).
PERSONAS = (("payroll", "payroll", "Payroll officer"),)
MAX_CONFIRMATIONS = 10  # confirmations per run; a run still waiting after them is graded as it stands
DEFAULT_LIMITS = Limits(max_steps=20, max_tokens=400_000, max_seconds=300)


@dataclass(frozen=True)
class Model:
    """The model a suite runs against: provider (anthropic | openai), model name, optional base URL and key."""

    provider: str
    name: str
    base_url: str | None = None
    api_key: str | None = None


@dataclass
class TaskResult:
    """One task's outcome: passed, the grader's failures, the run's status, and what the run cost."""

    task: str
    persona: str
    passed: bool
    status: str
    failures: list[str] = field(default_factory=list)
    tool_calls: int = 0
    tools: list[str] = field(default_factory=list)
    enabled_toolsets: list[list[str]] = field(default_factory=list)  # enable_toolsets calls, in order
    write_calls: list[str] = field(default_factory=list)  # the calls of tools that are not reads (may change data)
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    answer: str = ""
    error: str | None = None

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


async def prepare_school(database_url: str, *, seed: int = 42) -> None:
    """Build the eval school into the empty database `database_url`: the demo school, then the PERSONAS."""
    runtime = Runtime.create(Settings(database_url=database_url))
    try:
        await prepare_database(runtime)
        await build_demo(runtime, seed=seed)
        async with runtime.db.write() as session:
            for username, roles, position in PERSONAS:
                employee = (await session.exec(select(Employee).where(Employee.position == position))).first()
                await ensure_user(session, username=username, roles=roles,
                                  display_name=employee.full_name if employee else position,
                                  employee_id=employee.id if employee else None)
    finally:
        await runtime.close()


def copy_sqlite(source: Path, target: Path) -> None:
    """Copy the SQLite database `source` to `target` with the backup API (a consistent copy, WAL included)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _settings(database_url: str, model: Model | None, limits: Limits) -> Settings:
    update: dict = {"database_url": database_url, "key_cache_seconds": 0}
    if model is not None:
        update |= {"agent_provider": model.provider, "agent_model": model.name, "agent_base_url": model.base_url,
                   "agent_api_key": SecretStr(model.api_key) if model.api_key else None,
                   "agent_max_steps": limits.max_steps, "agent_max_tokens": limits.max_tokens,
                   "agent_max_seconds": limits.max_seconds}
    return Settings(**update)


async def run_task(task: Task, *, database_url: str, model: Model, limits: Limits = DEFAULT_LIMITS) -> TaskResult:
    """Run `task` on the prepared school at `database_url` (it is changed: pass a copy) and grade it."""
    runtime = Runtime.create(_settings(database_url, model, limits))
    runtime.jobs = InProcessRunner(runtime)
    started = time.monotonic()
    try:
        async with runtime.db.write() as session:
            user = await get_user_by_username(session, task.persona)
            if user is None:
                raise LookupError(f"task {task.name}: no user {task.persona!r} in the eval school")
            actor = actor_for(user, Channel.AGENT)
            thread = await agent.create_thread(session, actor, title=task.name)
            run = await agent.start_run(session, actor, thread, text=task.request, provider=model.provider,
                                        model=model.name, limits=limits)
            run_id, job_id = run.id or 0, run.job_id or 0
        await runtime.jobs.enqueue(job_id)
        await runtime.jobs.join(job_id)
        for _ in range(MAX_CONFIRMATIONS):
            run = await _run(runtime, run_id)
            if run.status != RunStatus.AWAITING_CONFIRMATION.value:
                break
            for action_id in agent.awaiting_ids(run):
                run = await decide_action(runtime, actor, run_id, confirm=True, action_id=action_id, reason=None)
            await runtime.jobs.join(run.job_id or 0)
        for other in list(runtime.jobs.active()):  # jobs the tools started (a payroll calculation)
            await runtime.jobs.join(other)
        seconds = time.monotonic() - started
        run = await _run(runtime, run_id)
        async with runtime.db.read() as session:
            answer = await agent.run_text(session, run)
            calls = [call for entry in (await agent.transcript(session, run.thread_id)).entries
                     if entry["role"] == "assistant" for call in entry.get("tool_calls") or []]
        tools = [call["name"] for call in calls]
        enabled = [list((call.get("input") or {}).get("toolsets") or []) for call in calls
                   if call["name"] == "enable_toolsets"]
        specs = [runtime.catalogue.get(name) for name in tools]
        write_calls = [spec.name for spec in specs if spec is not None and spec.effect is not Effect.READ]
        result = TaskResult(task=task.name, persona=task.persona, passed=False, status=run.status,
                            tool_calls=len(tools), tools=tools, enabled_toolsets=enabled, write_calls=write_calls,
                            input_tokens=run.input_tokens,
                            output_tokens=run.output_tokens, seconds=seconds, answer=answer, error=run.error)
        result.failures = await grade(task, runtime, answer, tools)
        if run.status != RunStatus.COMPLETED.value:
            result.failures.insert(0, f"the run ended {run.status}" + (f": {run.error}" if run.error else ""))
        result.passed = not result.failures
        return result
    finally:
        await runtime.jobs.stop()
        await runtime.close()


async def _run(runtime: Runtime, run_id: int) -> AgentRun:
    async with runtime.db.read() as session:
        return await agent.get_run(session, run_id)


async def grade(task: Task, runtime: Runtime, answer: str, tools: Sequence[str] = ()) -> list[str]:
    """Return what is wrong with the final state of `runtime`'s database and `answer` for `task` (empty: pass)."""
    grading = Grading(runtime, answer, list(tools))
    try:
        await task.check(grading)
    except Exception as exc:  # a grader reading a state it did not expect: the task failed, say where
        grading.failures.append(f"the grader failed: {type(exc).__name__}: {exc}")
    return grading.failures


async def grade_at(task: Task, database_url: str, answer: str) -> list[str]:
    """Grade `answer` against the database at `database_url` as it is (e.g. the untouched school)."""
    runtime = Runtime.create(_settings(database_url, None, DEFAULT_LIMITS))
    try:
        return await grade(task, runtime, answer)
    finally:
        await runtime.close()


def select_tasks(names: Sequence[str] | None) -> list[Task]:
    """Return the tasks named (all when none); raises ValueError naming the unknown ones and the known ones."""
    if not names:
        return list(TASKS)
    by_name = {task.name: task for task in TASKS}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; the tasks are: {', '.join(by_name)}")
    return [by_name[name] for name in names]


async def run_suite(tasks: Sequence[Task], model: Model, *, limits: Limits = DEFAULT_LIMITS,
                    on_result=None, school: Path | None = None) -> list[TaskResult]:
    """Build the eval school once (SQLite), run each task on a fresh copy, and return the results in order;
    `on_result(result)` is called as each task ends (to print it). `school`: a SQLite file holding the eval
    school, copied instead of building one (built there first when the file does not exist)."""
    workdir = Path(tempfile.mkdtemp(prefix="mcs-erp-eval-"))
    try:
        template = school or workdir / "school.db"
        if not template.exists():
            await prepare_school(f"sqlite+aiosqlite:///{template}")
        results = []
        for task in tasks:
            copy = workdir / f"{task.name}.db"
            await asyncio.to_thread(copy_sqlite, template, copy)
            started = time.monotonic()
            try:
                result = await run_task(task, database_url=f"sqlite+aiosqlite:///{copy}", model=model,
                                        limits=limits)
            except Exception as exc:  # one task's crash is that task's failure, and the suite goes on
                log.exception("eval task %s crashed", task.name)
                result = TaskResult(task=task.name, persona=task.persona, passed=False, status="crashed",
                                    failures=[f"{type(exc).__name__}: {exc}"], seconds=time.monotonic() - started)
            finally:
                copy.unlink(missing_ok=True)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def result_line(result: TaskResult) -> str:
    """One task's line: PASS/FAIL, name, persona, status, tool calls, tokens, seconds; failures indented below."""
    head = (f"{'PASS' if result.passed else 'FAIL'}  {result.task:<34} {result.persona:<16} {result.status:<22} "
            f"{result.tool_calls:>3} calls {result.tokens:>8} tokens {result.seconds:>6.1f} s")
    return "\n".join([head, *(f"      - {failure}" for failure in result.failures)])


def summary_line(results: Sequence[TaskResult]) -> str:
    """The suite's last line: the success rate and totals."""
    passed = sum(r.passed for r in results)
    rate = passed / len(results) if results else 0.0
    return (f"success rate {passed}/{len(results)} = {rate:.0%}; {sum(r.tool_calls for r in results)} tool calls, "
            f"{sum(r.tokens for r in results)} tokens, {sum(r.seconds for r in results):.1f} s")
