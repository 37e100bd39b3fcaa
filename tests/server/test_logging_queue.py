"""Logging off the event loop (server/observability.py QueuedLogHandler): a blocked log sink costs a request
nothing, a full queue drops and counts instead of waiting, and what was queued arrives once the sink moves.

The sink is a stream whose `write` waits on a threading.Event (at most WRITE_BOUND_S, so a failing test still
ends); a write from the event loop's thread, the bug this guards against, is counted and never waits.
Tool calls go through the real HTTP app (server.app.create_app) in process, over the MCP wire.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from domain.identity.service import create_api_key
from domain.kernel.settings import Settings
from server.app import create_app
from server.observability import (
    QueuedLogHandler,
    TextFormatter,
    configure_logging,
    dropped_log_records,
    flush_logs,
)
from tests.factories import unique

WRITE_BOUND_S = 60.0  # a blocked write gives up after this long (only ever reached when the test fails)
CALL_TIMEOUT_S = 30.0  # one tool call through the app
CALLS = 12
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "log-queue-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}


class BlockedSink(io.StringIO):
    """A text stream whose writes wait until `release()` (at most WRITE_BOUND_S each)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()
        self.entered = threading.Event()  # a write has started waiting
        self.writers: set[str] = set()
        self.timed_out = 0
        self.loop_writes = 0  # writes made on the main thread (where the tests' event loop runs)

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread().name)
        if threading.current_thread() is threading.main_thread():  # the event loop's thread: the bug
            self.loop_writes += 1
            return super().write(text)
        self.entered.set()
        if not self.released.wait(WRITE_BOUND_S):
            self.timed_out += 1
        return super().write(text)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def sink() -> Iterator[BlockedSink]:
    stream = BlockedSink()
    yield stream
    stream.release()  # never leave a listener thread stuck


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger back as it was, closing the handlers a test configured."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="module")
async def admin_key(rt) -> str:
    async with rt.db.write() as session:
        return (await create_api_key(session, username=unique("log-admin-").lower(), roles="admin")).secret


@asynccontextmanager
async def app_client(rt) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the product's HTTP app with its lifespan running (the MCP session manager needs it)."""
    app = create_app(rt, host="127.0.0.1", port=8000, own_runtime=False)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        yield http


async def call_tool(client: httpx.AsyncClient, key: str, name: str, arguments: dict, request_id: str) -> dict:
    """One tools/call over the MCP wire (2026-07-28, no session); return its result, failing on an error."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": META}}
    response = await asyncio.wait_for(client.post(
        "/mcp", json=body, headers={"Authorization": f"Bearer {key}", "X-Request-ID": request_id,
                                    "Accept": "application/json, text/event-stream",
                                    "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
                                    "Mcp-Name": name}), CALL_TIMEOUT_S)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert not result.get("isError"), result
    return result


async def test_requests_complete_while_the_log_sink_is_blocked_and_their_lines_arrive_after(
        rt, admin_key, sink, restore_logging):
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=sink)
    logging.getLogger("mcs_erp.test").info("before the calls")  # the listener takes it and blocks in write
    assert sink.loop_writes == 0, "the event loop's thread wrote to the log sink itself"
    assert await asyncio.to_thread(sink.entered.wait, CALL_TIMEOUT_S), "the listener never wrote"

    ids = [f"blocked-sink-{i}" for i in range(CALLS)]
    async with app_client(rt) as client:
        for request_id in ids:
            result = await call_tool(client, admin_key, "ping", {}, request_id)
            assert result["structuredContent"]["ok"] is True, result
            listed = await call_tool(client, admin_key, "list_classes", {"limit": 5}, request_id + "-list")
            assert "items" in listed["structuredContent"], listed

    assert sink.loop_writes == 0, "a request's own thread wrote to the log sink"
    assert not sink.released.is_set() and sink.getvalue() == ""  # every call answered with the sink still stuck
    sink.release()
    assert await asyncio.to_thread(flush_logs), "the queued records were not written after the sink moved"
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    logged = {line.get("request_id") for line in lines if line["logger"] == "mcs_erp.access"}
    assert set(ids) | {i + "-list" for i in ids} <= logged
    assert lines[0]["message"] == "before the calls"
    assert sink.timed_out == 0, "a write was released by its time bound, not by the test"
    assert sink.writers and threading.main_thread().name not in sink.writers, sink.writers


def test_a_full_queue_drops_and_counts_and_says_so_once_the_sink_moves(sink):
    handler = QueuedLogHandler(stream=sink, capacity=3)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger(f"mcs_erp.test.queue.{unique('q')}")
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    try:
        before = dropped_log_records()
        logger.info("first")
        assert sink.entered.wait(CALL_TIMEOUT_S), "the listener never wrote"  # it holds "first", blocked
        for i in range(3):
            logger.info("queued %d", i)
        for i in range(4):
            logger.info("dropped %d", i)  # returns at once: the queue is full
        assert handler.dropped == 4 and dropped_log_records() - before == 4
        sink.release()
        assert handler.flush(), "the listener did not catch up"
        logger.warning("after")
        assert handler.flush(), "the listener did not catch up"
        messages = [line.split(" ", 3)[3] for line in sink.getvalue().splitlines()]
        assert messages == ["first", "queued 0", "queued 1", "queued 2",
                            "dropped 4 log records: the log sink fell 3 records behind", "after"], messages
        assert sink.timed_out == 0
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert handler.listener._thread is None  # close() stopped the listener thread


def test_reconfiguring_stops_the_old_listener_after_it_wrote_what_it_held(restore_logging):
    first = io.StringIO()
    configure_logging(Settings(log_format="text", log_level="INFO"), stream=first)
    (old,) = [h for h in logging.getLogger().handlers if isinstance(h, QueuedLogHandler)]
    logging.getLogger("mcs_erp.test").info("to the first stream")
    configure_logging(Settings(log_format="text", log_level="INFO"), stream=io.StringIO())
    assert old.listener._thread is None
    assert "to the first stream" in first.getvalue()


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity must be at least 1 record, got 0"):
        QueuedLogHandler(stream=io.StringIO(), capacity=0)


def test_a_forked_child_logs_through_a_listener_of_its_own(tmp_path):
    import os

    path = tmp_path / "child.log"
    with path.open("w") as stream:
        handler = QueuedLogHandler(stream=stream)
        handler.setFormatter(TextFormatter())
        logger = logging.getLogger(f"mcs_erp.test.fork.{unique('f')}")
        logger.propagate, logger.level = False, logging.INFO
        logger.addHandler(handler)
        try:
            pid = os.fork()
            if pid == 0:  # the child: log, write it out, and leave without running the parent's cleanup
                logger.info("from the child")
                os._exit(0 if handler.flush() else 1)
            _, status = os.waitpid(pid, 0)
        finally:
            logger.removeHandler(handler)
            handler.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert "from the child" in path.read_text()
