"""A Redis outage: the worker keeps running through it, a job started meanwhile is answered `unavailable` yet
kept, and once Redis is back (empty, as after a crash) the worker takes jobs again and the kept job runs once.

Uses a redis-server of its own on a free port, started, killed and started again here (never the shared
Redis); skipped locally when redis-server is not installed, a failure when CI=true. A Redis that never answers is
a socket of the test's own.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis.exceptions
from redis.asyncio import Redis

import workers.runner
from domain.kernel import outbox
from domain.kernel.errors import ServiceUnavailable, unavailable_service
from domain.kernel.settings import Settings
from domain.migrations.schema import migrate
from tests.conftest import IN_CI, drop_pg_database, fresh_database_url
from tests.factories import make_school
from tools.invoke import invoke
from tools.runtime import Runtime
from workers import relay
from workers.arq_worker import Worker, create_worker
from workers.runner import ArqRunner

QUEUE = f"mcs-erp-test-outage:{uuid.uuid4().hex[:12]}"
HEARTBEAT_S = 0.3  # recovery hands a job whose enqueue was lost back after 3 heartbeats
WAIT_S = 120.0  # a bound on each wait (a busy machine imports the handlers slowly), never a timing


class PrivateRedis:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    async def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            await until(client.ping, "the private redis-server to answer PING")
        finally:
            await client.aclose()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


async def until(check: Callable[[], Awaitable[object] | object], what: str, timeout: float = WAIT_S) -> None:
    """Wait until `check()` is true (awaited when it is a coroutine; an exception counts as false)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
        except Exception:  # noqa: BLE001 - not yet
            pass
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        await asyncio.sleep(0.02)


@pytest.fixture
async def redis_server():
    if shutil.which("redis-server") is None:
        if IN_CI:
            raise AssertionError("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    await server.start()
    yield server
    server.kill()


@pytest.fixture
async def rt(tmp_path_factory, redis_server):
    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("outage"))
    runtime = Runtime.create(Settings(database_url=url, redis_url=redis_server.url, key_cache_seconds=0,
                                      job_heartbeat_seconds=HEARTBEAT_S),
                             jobs=lambda _rt: ArqRunner(redis_server.url, queue_name=QUEUE))
    await migrate(runtime.db.write_engine)
    yield runtime
    await runtime.close()
    if pg_name:
        await drop_pg_database(pg_name)


async def test_a_worker_outlives_a_redis_restart_and_a_job_started_meanwhile_runs_once(rt, redis_server):
    school = await make_school(rt, students=1)
    worker: Worker = create_worker(redis_server.url, queue_name=QUEUE, ctx={"runtime": rt}, handle_signals=False)
    running = asyncio.create_task(worker.async_run())
    try:
        await until(lambda: "recovery" in worker.ctx or running.done(), "the worker's start-up")
        assert not running.done(), running.exception()

        redis_server.kill()
        await until(lambda: worker._down_since is not None or running.done(), "the worker to notice the outage")
        assert not running.done(), running.exception()  # the worker must outlive the outage, not end with it
        with pytest.raises(ServiceUnavailable) as caught:  # recorded, not enqueued: the caller is told to retry
            await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id,
                                                    "idempotency_key": "outage-export"}, school.registrar)
        assert caught.value.service == "redis"
        assert not running.done()  # arq's own Worker would have ended on the first failed poll

        await redis_server.start()  # empty: whatever was queued is gone, as after a crash
        await until(lambda: worker._down_since is None or running.done(), "the worker to poll again")
        assert not running.done(), running.exception()
        # The retried call names the job the outage cut off; recovery hands it to the worker, which runs it once.
        kept = await invoke(rt, "export_term_grades", {"section_id": school.section_id, "term_id": school.term_id,
                                                       "idempotency_key": "outage-export"}, school.registrar)
        await until(lambda: job_status(rt, school, kept.job_id, "succeeded"), "the job started during the outage")
        done = await invoke(rt, "get_job", {"job_id": kept.job_id}, school.registrar)
        assert done.attempts == 1 and done.result["rows"] > 0
        assert not running.done()
    finally:  # each step bounded: a worker that does not end fails the test instead of hanging it
        running.cancel()
        await asyncio.wait_for(asyncio.gather(running, return_exceptions=True), WAIT_S)
        await asyncio.wait_for(worker.close(), WAIT_S)


async def job_status(rt, school, job_id: int, status: str) -> bool:
    job = await invoke(rt, "get_job", {"job_id": job_id}, school.registrar)
    assert job.status not in {"failed", "cancelled"} or job.status == status, job.error
    return job.status == status


async def test_a_stalled_redis_is_unavailable_within_the_enqueue_bound(monkeypatch):
    """A Redis that accepts the connection and never answers (a stopped process, a full network buffer) must
    not hang a job's start: the enqueue gives up after ENQUEUE_TIMEOUT_S with redis' TimeoutError, which a unit
    of work reports as the job queue being unavailable."""
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads every command, answers none, until the client hangs up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(workers.runner, "ENQUEUE_TIMEOUT_S", 0.3)
    runner = ArqRunner(f"redis://127.0.0.1:{port}/0", queue_name=QUEUE)
    try:
        with pytest.raises(redis.exceptions.TimeoutError) as caught:
            await asyncio.wait_for(runner.enqueue(1), WAIT_S)  # the outer bound only stops a broken test
        assert "did not take job 1 within 0.3 s" in str(caught.value)
        assert unavailable_service(caught.value) == "redis"
    finally:
        await runner.stop()
        server.close()


async def test_a_worker_relay_started_while_redis_is_down_consumes_once_it_is_back(rt, redis_server):
    """A worker that loses Redis half way through its start-up goes on starting: start_worker_relay returns though
    the consumer group cannot be made (the worker above died that way on a busy machine, killed between its
    recovery and its relay), and the consumer makes the group and delivers once Redis answers again."""
    redis_server.kill()
    client = Redis.from_url(redis_server.url, socket_connect_timeout=1, socket_timeout=1)
    handled: list[int] = []

    async def note(_session, event) -> None:
        handled.append(event.payload["n"])

    try:
        started = await asyncio.wait_for(relay.start_worker_relay(rt, client, consumer="outage-test",
                                                                  queue_name=QUEUE), WAIT_S)
        try:
            started.consumer.handlers = outbox.EventHandlers()
            started.consumer.handlers.add("test.Noted", note, name="test.note")
            assert not started.consumer._task.done()  # waiting for Redis, not ended
            await redis_server.start()
            async with rt.db.write() as session:
                await outbox.record_event(session, "test.Noted", "test.thing", "one", {"n": 7})
            started.publisher.wake()
            await until(lambda: handled == [7], "the event to be handled once Redis is back")
            groups = await client.xinfo_groups(relay.stream_key(QUEUE))
            assert [g["name"] for g in groups] == [relay.GROUP.encode()]
        finally:
            await asyncio.wait_for(started.stop(), WAIT_S)
    finally:
        await asyncio.wait_for(client.aclose(), WAIT_S)
