"""A run that fails ends every client's wait with an error, pushed within 2 s of the failure, never a hang.

The failures: no provider key, a provider that cannot be reached (a closed port), a provider answering 401, a
provider failing in the middle of its streamed reply (FakeLLM's mid-stream error event), and a worker killed
mid-run. The clients: a streaming chat completion and a non-streaming one through the real openai SDK, and the
run's own event stream (`GET /v1/runs/{id}/events`) with `GET /v1/runs/{id}`. Jobs run in-process and on an arq
worker on a real Redis (whose run changes reach the server's streams over Redis pub/sub).

Every wait is bounded (`asyncio.wait_for`, client timeouts): a stream that hangs again fails the test instead of
hanging it. The bound is WITHIN_S after the failure; the server's followers re-read a quiet run only once a job
heartbeat (10 s by default here), so meeting the bound takes the pushed wake-up.

What a client sees when the worker running its run is killed (decided here, README "Agent API"): the run's job
goes silent; after ORPHAN_AFTER_BEATS heartbeats a live worker takes it over and the run goes on (the streams
follow it: test_agent_worker.py); when none has after LOST_AFTER_BEATS heartbeats, the follower closes the run
and its job as failed, naming the lost worker, and every stream ends with that error.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anthropic  # noqa: F401  (imported before the clock starts: see WITHIN_S)
import httpx
import openai
import pytest
from redis.asyncio import Redis
from sqlmodel import select

from domain.agent.models import AgentRun
from domain.identity.service import create_api_key
from domain.jobs.models import Job
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from tests.agent.conftest import Api, key_for, point_at, serve_app
from tests.agent.fake_llm import FakeLLM, Turn
from tests.agent.test_agent_runs import grade_school
from tests.agent.test_agent_worker import rows
from tests.conftest import IN_CI, drop_pg_database, fresh_database_url
from tests.factories import make_school
from tests.server.e2e_helpers import e2e_database, free_port, http_server, init_database
from tests.server.test_timetable_e2e import spawn_worker, worker_log
from tools.runtime import Runtime
from workers.arq_worker import create_worker
from workers.recovery import LOST_AFTER_BEATS
from workers.runner import runner_for

REDIS_URL = os.environ.get("MCS_ERP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WITHIN_S = 2.0  # a failure reaches every client within this; the SDKs' first import (1.7 s for anthropic on a slow
# day) is paid when this module loads, as a worker pays it in load_handlers before its first job
SDK_RETRIES_S = 3.0  # a closed port: the provider SDK's own 2 retries (0.5 s then 1 s, jittered) before it gives up
MODES = ["no_key", "unreachable", "unauthorized", "broken_stream"]
EXPECTED = {"no_key": "no API key for the model provider",
            "unreachable": "could not reach the",
            "unauthorized": "answered 401: invalid x-api-key",
            "broken_stream": "failed in the middle of its reply: Internal server error"}
QUESTION = [{"role": "user", "content": "How many terms are there this year?"}]


def bound_s(mode: str) -> float:
    """How long a client may wait for the error: the failure itself (the SDK's retries of a closed port), then
    WITHIN_S."""
    return WITHIN_S + (SDK_RETRIES_S if mode == "unreachable" else 0.0)


def arrange(runtimes: list[Runtime], llm: FakeLLM, mode: str, provider: str, monkeypatch, *, runs: int) -> None:
    """Point `runtimes` at the FakeLLM through `provider`, broken as `mode` says, for `runs` runs."""
    for rt in runtimes:
        point_at(rt, llm, provider)
        if mode == "no_key":
            rt.settings = rt.settings.model_copy(update={"agent_api_key": None})
        elif mode == "unreachable":
            closed = f"http://127.0.0.1:{free_port()}"
            rt.settings = rt.settings.model_copy(
                update={"agent_base_url": closed if provider == "anthropic" else f"{closed}/v1"})
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # A short delay: the clients are already waiting when the provider fails (the wake-up is pushed, not found).
    if mode == "unauthorized":
        llm.extend([Turn(error_status=401, error_message="invalid x-api-key", delay_s=0.3)] * runs)
    elif mode == "broken_stream":
        llm.extend([Turn(text="There are three terms in the year, I think", error_after=4,
                         error_message="Internal server error", delay_s=0.3)] * runs)


def run_id_of(completion_id: str) -> int:
    assert completion_id.startswith("chatcmpl-mcs-"), completion_id
    return int(completion_id.removeprefix("chatcmpl-mcs-"))


async def streamed_failure(client: openai.AsyncOpenAI, first: asyncio.Future[int] | None = None,
                           ) -> tuple[int, list[Any], openai.APIError]:
    """Stream a chat completion that must fail; return the run id, the chunks before the error, and the error.
    `first` gets the run id as soon as the first chunk arrives."""
    chunks: list[Any] = []
    stream = await client.chat.completions.create(model="mcs-erp", stream=True, messages=QUESTION)
    try:
        async for chunk in stream:
            chunks.append(chunk)
            if first is not None and not first.done():
                first.set_result(run_id_of(chunk.id))
    except openai.APIError as exc:
        assert chunks, "the stream failed before its first chunk"
        return run_id_of(chunks[0].id), chunks, exc
    raise AssertionError(f"the stream ended without an error after {len(chunks)} chunks: {chunks[-1:]}")


async def check_every_client_fails(rt: Runtime, api: Api, client: openai.AsyncOpenAI, mode: str) -> None:
    """The three clients of a failing run each get the failure as an error, within the bound."""
    expected = EXPECTED[mode]
    # 1. A streaming chat completion: the role chunk, then an error chunk (no finish chunk), within the bound.
    run_id, chunks, error = await asyncio.wait_for(streamed_failure(client), bound_s(mode))
    assert expected in error.message and f"agent run {run_id} failed" in error.message
    assert error.code == "run_failed" and error.type == "server_error"
    assert [c.choices[0].finish_reason for c in chunks if c.choices] == [None] * len(chunks), \
        "a failed run has no finish chunk"
    async with rt.db.read() as session:  # the run and its job say failed at once, nobody had to ask
        run = await session.get(AgentRun, run_id)
        job = await session.get(Job, run.job_id)
    assert run.status == "failed" and expected in run.error and job.status == "failed"

    # 2. Not streamed: an error status and an OpenAI error body, which the SDK raises without retrying.
    with pytest.raises(openai.InternalServerError) as caught:
        await asyncio.wait_for(client.chat.completions.create(model="mcs-erp", messages=QUESTION), bound_s(mode))
    assert caught.value.status_code == 502 and caught.value.code == "run_failed"
    assert expected in caught.value.message
    assert caught.value.response.headers["x-should-retry"] == "false"

    # 3. The run's own event stream ends with run.failed and its reason; GET /v1/runs/{id} says failed.
    run = await api.ask("How many terms are there this year?")
    events = await asyncio.wait_for(api.events(run["id"]), bound_s(mode))
    last_type, last_data = events[-1][1], events[-1][2]
    assert last_type == "run.failed" and expected in last_data["error"], events
    seen = await api.get(f"/v1/runs/{run['id']}")
    assert seen["status"] == "failed" and expected in seen["error"]


# -- jobs in the server process -------------------------------------------------------------------------------


@pytest.fixture
async def client_for(base_url) -> AsyncIterator:
    clients: list[openai.AsyncOpenAI] = []

    def make(key: str, url: str = base_url) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.mark.usefixtures("agent_settings")
@pytest.mark.parametrize("provider", ["anthropic", "openai"])
@pytest.mark.parametrize("mode", MODES)
async def test_a_failing_run_ends_every_client_with_an_error(rt, llm, api_for, client_for, monkeypatch, mode,
                                                             provider):
    school = await grade_school(rt)
    key = await key_for(rt, school.teacher)
    arrange([rt], llm, mode, provider, monkeypatch, runs=3)
    await check_every_client_fails(rt, await api_for(key), client_for(key), mode)
    assert llm.remaining == 0, "each client's run asked the model once"


@pytest.mark.usefixtures("agent_settings")
async def test_a_failed_job_fails_its_run_in_the_same_moment(rt, llm, api_for, monkeypatch):
    """Nobody follows the run: the job's failure alone closes it (it once stayed running until a reader came)."""
    school = await grade_school(rt)
    arrange([rt], llm, "no_key", "anthropic", monkeypatch, runs=0)
    api = await api_for(await key_for(rt, school.teacher))
    run = await api.ask("Hello?")
    await asyncio.wait_for(rt.jobs.join(run["job_id"]), WITHIN_S)
    async with rt.db.read() as session:
        stored = await session.get(AgentRun, run["id"])
        job = await session.get(Job, run["job_id"])
    assert (stored.status, job.status) == ("failed", "failed")
    assert stored.error == job.error and "MCS_ERP_AGENT_API_KEY" in stored.error


@pytest.mark.usefixtures("agent_settings")
async def test_a_cancelled_run_is_an_error_too(rt, llm, client_for, api_for):
    school = await grade_school(rt)
    point_at(rt, llm, "anthropic")
    llm.extend([Turn(text="(cut short)", delay_s=1.0)])
    key = await key_for(rt, school.teacher)
    client, api = client_for(key), await api_for(key)

    async def cancel_when_running() -> None:
        while not llm.requests:  # the run is waiting for the model
            await asyncio.sleep(0.01)
        async with rt.db.read() as session:
            run = (await session.exec(select(AgentRun).where(AgentRun.requested_by == school.teacher.id)
                                      .order_by(AgentRun.id.desc()))).first()
        await api.post(f"/v1/runs/{run.id}/cancel")

    canceller = asyncio.create_task(cancel_when_running())
    with pytest.raises(openai.ConflictError) as caught:
        await asyncio.wait_for(client.chat.completions.create(model="mcs-erp", messages=QUESTION), 10)
    await canceller
    assert caught.value.code == "run_cancelled" and "was cancelled" in caught.value.message


# -- jobs on an arq worker (Redis) ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def arq_setup(tmp_path_factory) -> AsyncIterator[dict[str, Any]]:
    """A database of its own, a server runtime enqueueing on a fresh arq queue and serving the app, and an arq
    worker in this process with a runtime of its own: the worker's commits reach the server's streams only
    through Redis pub/sub."""
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:
        await redis.aclose()
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    queue = f"mcs-erp-test:{uuid.uuid4().hex[:12]}"
    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("arq-agent"))
    settings = Settings(database_url=url, redis_url=REDIS_URL, queue_name=queue, key_cache_seconds=0)
    server_rt = Runtime.create(settings, jobs=runner_for)
    worker_rt = Runtime.create(settings, jobs=runner_for)
    await migrate(server_rt.db.write_engine)
    await server_rt.start(serving=True)
    worker = create_worker(REDIS_URL, queue_name=queue, ctx={"runtime": worker_rt}, handle_signals=False)
    task = asyncio.create_task(worker.main())
    try:
        async with serve_app(server_rt) as base:
            yield {"server": server_rt, "worker": worker_rt, "url": base}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await worker.close()
        await worker_rt.close()
        await server_rt.close()
        keys = [k async for k in redis.scan_iter(match=f"*{queue}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
        if pg_name:
            await drop_pg_database(pg_name)


@pytest.fixture
async def on_arq(arq_setup) -> AsyncIterator[dict[str, Any]]:
    """arq_setup, with both runtimes' settings restored after the test."""
    saved = {name: arq_setup[name].settings for name in ("server", "worker")}
    yield arq_setup
    for name, settings in saved.items():
        arq_setup[name].settings = settings


@pytest.mark.parametrize("mode", MODES)
async def test_a_failing_run_on_an_arq_worker_ends_every_client_with_an_error(on_arq, llm, client_for, monkeypatch,
                                                                             mode):
    server_rt, worker_rt = on_arq["server"], on_arq["worker"]
    school = await make_school(server_rt, students=1)
    async with server_rt.db.write() as session:
        key = (await create_api_key(session, username=school.teacher.username)).secret
    arrange([server_rt, worker_rt], llm, mode, "openai", monkeypatch, runs=3)
    async with httpx.AsyncClient(base_url=on_arq["url"], headers={"Authorization": f"Bearer {key}"},
                                 timeout=30) as http:
        await check_every_client_fails(server_rt, Api(http), client_for(key, on_arq["url"]), mode)
    async with server_rt.db.read() as session:
        workers = {job.worker for job in (await session.exec(select(Job))).all()}
    assert workers and all(w.startswith("worker:") for w in workers), workers


# -- a worker killed mid-run ----------------------------------------------------------------------------------


HEARTBEAT_S = 0.5  # a worker is taken for lost after LOST_AFTER_BEATS silent beats (3 s); at 0.2 (1.2 s) a live
# worker starting its first two jobs on a CI machine running three test processes on 2 cores was taken for lost


@pytest.mark.e2e
async def test_a_killed_worker_ends_the_streams_with_an_error(tmp_path):
    """`mcs-erp serve --http` and one `mcs-erp worker` (arq, Redis); the worker is SIGKILLed while the model is
    answering two runs. No other worker takes them over, so within LOST_AFTER_BEATS heartbeats (+ WITHIN_S) of
    the kill the streaming chat completion, the run's event stream and a non-streaming chat completion end with
    the lost worker's error, and both runs and their jobs are failed."""
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await redis.aclose()
    queue = f"mcs-erp-e2e:{uuid.uuid4().hex[:12]}"
    bound = LOST_AFTER_BEATS * HEARTBEAT_S + WITHIN_S
    async with e2e_database(tmp_path) as db, FakeLLM() as llm:
        db.extra_env.update(MCS_ERP_REDIS_URL=REDIS_URL, MCS_ERP_QUEUE_NAME=queue,
                            MCS_ERP_JOB_HEARTBEAT_SECONDS=str(HEARTBEAT_S), MCS_ERP_WORKER_MAX_JOBS="2",
                            MCS_ERP_AGENT_PROVIDER="anthropic",
                            MCS_ERP_AGENT_BASE_URL=llm.anthropic_base_url, MCS_ERP_AGENT_API_KEY="sk-test",
                            MCS_ERP_AGENT_MODEL="claude-scripted")
        await init_database(db)
        rt = Runtime.create(Settings(database_url=db.url))
        try:
            school = await make_school(rt, students=1)
            async with rt.db.write() as session:
                key = (await create_api_key(session, username=school.teacher.username)).secret
        finally:
            await rt.close()
        llm.extend([Turn(text="(never delivered: the worker dies first)", delay_s=20)] * 2)
        worker: subprocess.Popen | None = None
        try:
            async with (http_server(db) as server,
                        openai.AsyncOpenAI(base_url=f"{server.base_url}/v1", api_key=key, max_retries=0,
                                           timeout=60) as client,
                        httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"},
                                          timeout=60) as http):
                # One worker running two runs at once: one followed by a streaming chat completion and its own
                # event stream, one by a non-streaming chat completion.
                worker = spawn_worker(db, burst=False, log_name="worker.log")
                first: asyncio.Future[int] = asyncio.get_running_loop().create_future()
                chat = asyncio.create_task(streamed_failure(client, first))
                run_id = await asyncio.wait_for(first, 60)  # the chunks' id names the run
                events = asyncio.create_task(Api(http).events(run_id))
                plain = asyncio.create_task(client.chat.completions.create(model="mcs-erp", messages=QUESTION))
                deadline = time.monotonic() + 60
                while len(llm.requests) < 2:  # the worker is inside both model calls
                    assert time.monotonic() < deadline, worker_log(db, "worker.log")
                    assert worker.poll() is None, worker_log(db, "worker.log")
                    await asyncio.sleep(0.02)
                worker.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                await asyncio.to_thread(worker.wait, 30)

                def left() -> float:
                    return bound - (time.monotonic() - killed_at)

                done_id, _chunks, error = await asyncio.wait_for(chat, left())
                streamed = await asyncio.wait_for(events, left())
                with pytest.raises(openai.InternalServerError) as caught:
                    await asyncio.wait_for(plain, left())
                assert done_id == run_id
                assert "stopped answering" in error.message and error.code == "run_failed", error.message
                assert streamed[-1][1] == "run.failed" and "worker:" in streamed[-1][2]["error"], streamed
                assert caught.value.status_code == 502 and "stopped answering" in caught.value.message
                run = (await http.get(f"/v1/runs/{run_id}")).json()
                assert run["status"] == "failed" and "no other worker took the run over" in run["error"]
                jobs = await rows(db.url, "SELECT status, error FROM jobs WHERE kind = 'agent_run'")
                assert len(jobs) == 2 and all(status == "failed" and "stopped answering" in error
                                              for status, error in jobs), jobs
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()

