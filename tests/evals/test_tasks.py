"""The agent task suite in CI: every task run with its scripted policy through the real anthropic and openai SDKs
against a scripted model (tests/agent/fake_llm.py) that answers each turn from the task's policy, through the same
`evals.runner.run_task` as `mcs-erp eval`; each grader must pass the run and fail a wrong final state.

The eval school (the demo school and its personas) is built once per test process and copied for each run
(tests/conftest.py TEMPLATES: the SQLite backup API, or CREATE DATABASE ... TEMPLATE on PostgreSQL).

The scripted model refuses a call to a tool the request did not offer, so a passing run also proves the task can
be done with the tools the agent loop offers the persona; each run's calls are also checked against the persona's
default toolsets and those the run enabled with enable_toolsets (tools/toolsets.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from domain.kernel.actor import Role
from evals.runner import Model, TaskResult, grade_at, prepare_school, run_suite, run_task
from evals.scripted import Policy, Seen, next_turn
from evals.tasks import BALANCE, TASKS, Task
from server.cli import app
from tests.agent.fake_llm import FakeLLM, RecordedRequest, ToolCall, Turn, error_turn, text_turn, tool_turn
from tests.conftest import BACKEND, TEMPLATES, drop_pg_database, fresh_database_url

PROVIDERS = ("anthropic", "openai")
TEMPLATE_KEY = "eval-school"
WRONG_ANSWER = "I looked into it and everything is in order."


class PolicyLLM(FakeLLM):
    """A FakeLLM whose next turn is computed from the request by the scripted policy of the task asked (found by
    the user's message); `policies` may replace a task's policy (by task name)."""

    def __init__(self) -> None:
        super().__init__()
        self.policies: dict[str, Policy] = {}

    def _take_turn(self, request: RecordedRequest) -> tuple[int, Turn]:
        if request.provider is not None and isinstance(request.body, dict):
            self.extend([self._turn(Seen.from_request(request.provider, request.body))])
        return super()._take_turn(request)

    def _turn(self, seen: Seen) -> Turn:
        task = BY_REQUEST.get(seen.request)
        if task is None:
            return error_turn(400, f"scripted policy: no task asks {seen.request[:100]!r}")
        return _turn(self.policies.get(task.name, task.policy), seen)


BY_REQUEST = {task.request: task for task in TASKS}


def _turn(policy: Policy, seen: Seen) -> Turn:
    try:
        step = next_turn(policy, seen)
    except Exception as exc:  # the run fails with the policy's reason as its error
        return error_turn(400, f"scripted policy, step {seen.turns + 1}: {type(exc).__name__}: {exc}")
    if isinstance(step, str):
        return text_turn(step)
    return tool_turn(*(ToolCall(name=call.name, input=json.loads(json.dumps(call.input))) for call in step))


@pytest.fixture(scope="module")
async def llm() -> AsyncIterator[PolicyLLM]:
    async with PolicyLLM() as fake:
        yield fake


async def _copy(tmp_path_factory) -> tuple[str, str | None]:
    """A fresh copy of the eval school: (database URL, PostgreSQL database name to drop or None)."""
    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("eval"))
    await TEMPLATES.fill(TEMPLATE_KEY, url, prepare_school)
    return url, pg_name


@pytest.fixture(scope="module")
async def shared_school(tmp_path_factory) -> AsyncIterator[str]:
    """One copy the read-only tasks share: their runs call read tools only (asserted), so none sees another's
    writes; a copy per run would double the file's time on PostgreSQL."""
    url, pg_name = await _copy(tmp_path_factory)
    yield url
    if pg_name:
        await drop_pg_database(pg_name)


@pytest.fixture
async def school(tmp_path_factory, shared_school):
    """`school(task)` returns the database URL a task runs on: a fresh copy for a task that writes, else the
    shared copy."""
    made: list[str | None] = []

    async def for_task(task: Task) -> str:
        if not task.writes:
            return shared_school
        url, pg_name = await _copy(tmp_path_factory)
        made.append(pg_name)
        return url

    yield for_task
    for pg_name in made:
        if pg_name:
            await drop_pg_database(pg_name)


def _model(llm: FakeLLM, provider: str) -> Model:
    return Model(provider=provider, name=f"{provider}-scripted", api_key="sk-test",
                 base_url=llm.anthropic_base_url if provider == "anthropic" else llm.openai_base_url)


async def run_scripted(llm: PolicyLLM, task: Task, provider: str, url: str) -> TaskResult:
    return await run_task(task, database_url=url, model=_model(llm, provider))


# Each task runs on one provider, the two alternating, so both wire formats serve half the suite each and the whole
# file stays near its time budget (every run copies the school; on PostgreSQL a copy takes about a second).
RUNS = [pytest.param(task, PROVIDERS[i % 2], id=f"{task.name}-{PROVIDERS[i % 2]}") for i, task in enumerate(TASKS)]


@pytest.mark.parametrize(("task", "provider"), RUNS)
async def test_scripted_policy_passes_and_the_grader_fails_a_wrong_state(llm, school, task, provider):
    url = await school(task)
    # Before the run: a write task's grader fails the untouched school (its graders check state only), a question's
    # grader fails an answer without the facts (the school is the same after a read-only run).
    before = await grade_at(task, url, WRONG_ANSWER)
    assert before, f"{task.name}: the grader passes before the task was done"
    if task.writes:
        assert any(not failure.startswith("the answer") for failure in before), f"{task.name}: {before}"
    result = await run_scripted(llm, task, provider, url)
    assert result.passed, f"{task.name}: {result.failures}\nanswer: {result.answer}"
    assert result.status == "completed" and result.tool_calls == len(result.tools) > 0
    assert result.input_tokens > 0 and result.output_tokens > 0 and result.seconds > 0
    check_toolsets(task, result)
    if not task.writes:
        assert not result.write_calls, f"{task.name} answers a question but called {result.write_calls}"
        assert await grade_at(task, url, WRONG_ANSWER), f"{task.name}: the grader passes an answer without facts"


ROLE_OF = {"lian.zhou": Role.TEACHER, "registrar": Role.REGISTRAR, "bursar": Role.FINANCE, "payroll": Role.PAYROLL,
           "principal": Role.ADMIN}


def check_toolsets(task: Task, result: TaskResult) -> None:
    """Every tool the run called is in its persona's default toolsets or in one it enabled (tools/toolsets.py), and
    the task names every toolset it used beyond the always-listed ones."""
    from tools import toolsets

    listed = set(toolsets.default_toolsets([ROLE_OF[task.persona]])) | {n for e in result.enabled_toolsets for n in e}
    used = {name: toolsets.toolsets_of(name) for name in result.tools}
    outside = {name: owners for name, owners in used.items() if not set(owners) & listed}
    assert not outside, f"{task.name}: {task.persona} calls tools outside its listing: {outside}"
    named = {owner for owners in used.values() for owner in owners} - {"discovery", "me", "actions"}
    assert named <= set(task.toolsets), f"{task.name}: uses toolsets {sorted(named)}, names {task.toolsets}"


@pytest.fixture(scope="module")
async def school_file(tmp_path_factory) -> Path:
    """The eval school as a SQLite file, as `mcs-erp eval --school` takes it."""
    if BACKEND != "sqlite":
        pytest.skip("mcs-erp eval runs on a SQLite school of its own; the SQLite run of this file covers it")
    url, _ = await _copy(tmp_path_factory)
    return Path(make_url(url).database or "")


def test_the_eval_command_runs_tasks_and_reports_them(llm, school_file):
    llm.policies = {"bursar-family-balance": (BALANCE.policy[0], lambda s: "The Rao family owes nothing.")}
    try:
        result = CliRunner().invoke(app, [
            "eval", "--provider", "openai", "--model", "scripted", "--base-url", llm.openai_base_url,
            "--school", str(school_file), "--tasks", "registrar-fix-surname,bursar-family-balance"])
    finally:
        llm.policies = {}
    lines = result.output.splitlines()
    assert result.exit_code == 1, result.output  # one task failed
    assert lines[0] == f"running 2 task(s) on openai:scripted at {llm.openai_base_url}"
    passed, failed = lines[1], lines[2]
    assert re.match(r"PASS  registrar-fix-surname +registrar +completed +2 calls +\d+ tokens +[\d.]+ s$", passed)
    assert re.match(r"FAIL  bursar-family-balance +bursar +completed +1 calls", failed)
    assert "the answer does not mention" in lines[3]
    assert lines[-1].startswith("success rate 1/2 = 50%; 3 tool calls, ")
    assert school_file.exists(), "the school given is copied, never changed or removed"


def test_the_eval_command_refuses_unknown_tasks_and_providers():
    unknown = CliRunner().invoke(app, ["eval", "--provider", "openai", "--model", "m", "--tasks", "no-such-task"])
    assert unknown.exit_code == 2 and "unknown task(s) no-such-task; the tasks are: " in unknown.output
    assert "teacher-change-retake-score" in unknown.output
    provider = CliRunner().invoke(app, ["eval", "--provider", "mistral", "--model", "m"])
    assert provider.exit_code == 2 and "unknown provider 'mistral'; use one of anthropic, openai" in provider.output


async def test_a_task_that_crashes_fails_alone_and_the_suite_goes_on(llm, school_file):
    ghost = dataclasses.replace(BALANCE, name="ghost-task", persona="nobody")
    results = await run_suite([ghost, BALANCE], _model(llm, "anthropic"), school=school_file)
    assert [(r.task, r.status, r.passed) for r in results] == [("ghost-task", "crashed", False),
                                                              ("bursar-family-balance", "completed", True)]
    assert results[0].failures == ["LookupError: task ghost-task: no user 'nobody' in the eval school"]
