"""Operations: structured logs with request ids (secrets redacted), /readyz and Prometheus /metrics.

Wiring (server/app.py): `RequestIdMiddleware` around the app, `observability_routes(runtime)` beside /healthz,
and `logging_config(settings)` / `configure_logging(settings)` in the entry points (server/cli.py).

Metrics are per process: with `serve --workers N` every uvicorn worker process counts its own tool calls, and a
scrape through a shared port reaches one of them at random (scrape each process, or sum what you see over
time). Prometheus' multiprocess mode is deliberately not used. The job and pending-action gauges are read from
the database at scrape time, so every process reports the same values for them.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import json
import logging
import logging.config
import logging.handlers
import math
import os
import queue
import re
import threading
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import IO, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.actions import repository as actions_repo
from domain.actions.models import OPEN_STATUSES
from domain.jobs import repository as jobs_repo
from domain.jobs.models import JobStatus
from domain.kernel.clock import utcnow
from domain.kernel.settings import Settings
from tools.invoke import add_call_observer
from tools.runtime import Runtime

__all__ = [
    "CHECK_TIMEOUT_S", "JobStats", "JsonFormatter", "LogContextFilter", "MAX_QUEUED_LOG_RECORDS",
    "QueuedLogHandler", "Readiness", "RequestIdMiddleware", "TextFormatter", "ToolCallMetrics",
    "collect_job_stats", "configure_logging", "current_request_id", "dropped_log_records", "flush_logs",
    "logging_config", "observability_routes", "process_metrics", "readiness", "redact", "render_metrics",
]

log = logging.getLogger("mcs_erp.observability")
access_log = logging.getLogger("mcs_erp.access")

CHECK_TIMEOUT_S = 2.0  # each readiness check and each scrape-time query gives up after this long
JOB_DURATION_WINDOW = timedelta(hours=1)
JOB_DURATION_SAMPLE_LIMIT = 10_000  # finished jobs read per scrape at most (the most recent ones)
JOB_DURATION_QUANTILES = (0.5, 0.9, 0.99)
TOOL_CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# ---------------------------------------------------------------- request ids

_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._-]{1,100}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("mcs_erp_request_id", default=None)


def current_request_id() -> str | None:
    """Return the id of the HTTP request being served, or None outside a request."""
    return _request_id.get()


def _incoming_request_id(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _REQUEST_ID_OK.fullmatch(candidate) else None
    return None


class RequestIdMiddleware:
    """Pure ASGI middleware: give every HTTP request an id and log one access line for it.

    The id is the caller's `X-Request-ID` when it is 1..100 characters of [A-Za-z0-9._-], else a new uuid4 hex.
    It is set in a context variable for the request (every log line written while serving it carries it),
    returned in the response's `X-Request-ID`, and logged with method, path (no query string: it may carry
    secrets), status and duration in milliseconds on the `mcs_erp.access` logger at INFO.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope.get("headers") or ()) or uuid.uuid4().hex
        token = _request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before it answered

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = dict(message, headers=headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            method, path = scope.get("method", ""), scope.get("path", "")
            access_log.info("%s %s %s %.1fms", method, path, status, duration_ms,
                            extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms,
                                   "request_id": request_id})
            _request_id.reset(token)


# ---------------------------------------------------------------- logs

REDACTED = "[REDACTED]"
# An API key is "mcs_" + token_urlsafe(32) (domain/identity/service.py); requiring a capital or a digit keeps
# metric and logger names (mcs_erp_tool_calls_total) readable.
_API_KEY = re.compile(r"\bmcs_(?=[A-Za-z0-9_-]*[A-Z0-9])[A-Za-z0-9_-]{20,}")
_BEARER = re.compile(r"\b(bearer)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^/\s:@]*:)[^@\s/]+@")
_SECRET_NAMES = r"(?:password|passwd|secret|session_secret|agent_api_key|api_key|apikey|x-api-key|authorization)"
_SECRET_ASSIGNMENT = re.compile(rf"(\b{_SECRET_NAMES}\b['\"]?\s*[=:]\s*['\"]?)[^\s'\",;}}]+", re.IGNORECASE)
# Extra fields named like a secret (session_secret, agent_api_key, authorization, x-api-key, ...) are dropped
# whatever their value; input_tokens and the like are not.
_SECRET_KEY = re.compile(r"(?:^|[_-])(?:password|passwd|secret|token|api[_-]?key|authorization|cookie)(?:$|[_-])",
                         re.IGNORECASE)


def redact(value: str) -> str:
    """Return `value` with API keys (mcs_...), bearer tokens, URL passwords and `password=...`-style values
    replaced by [REDACTED]."""
    value = _API_KEY.sub("mcs_" + REDACTED, value)
    value = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", value)
    value = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", value)
    return _SECRET_ASSIGNMENT.sub(lambda m: f"{m.group(1)}{REDACTED}", value)


def _redact_field(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_field(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_field("", v) for v in value]
    return value


_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime",
                                                                                    "request_id", "request_tag"}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and not k.startswith("_")}


class LogContextFilter(logging.Filter):
    """Stamp each record with the current request id and redact secrets from its message, extra fields and
    traceback (attach it to handlers: a logger's filters do not see records propagated from child loggers)."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed call: the formatter reports it as logging does
            return True
        record.msg, record.args = redact(message), None
        for key, value in _extra_fields(record).items():
            setattr(record, key, _redact_field(key, value))
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _utc_iso(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO 8601), level, logger, message, request_id inside a request, the
    record's extra fields, and exception (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {"time": _utc_iso(record.created), "level": record.levelname, "logger": record.name,
                               "message": record.getMessage()}
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            out["request_id"] = request_id
        for key, value in _extra_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable lines: `time level logger [request id] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(request_tag)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_iso(record.created)

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request_tag = f" [{request_id}]" if request_id else ""
        return super().format(record)


MAX_QUEUED_LOG_RECORDS = 10_000  # records waiting for the log sink at most; beyond, new ones are dropped (counted)
LOG_FLUSH_TIMEOUT_S = 5.0  # flush_logs and process exit wait at most this long for the sink to take the queue

_dropped_total = 0  # records dropped by every QueuedLogHandler of this process (a full queue)
_dropped_lock = threading.Lock()


def dropped_log_records() -> int:
    """Return how many log records this process dropped because the log sink fell MAX_QUEUED_LOG_RECORDS behind."""
    return _dropped_total


class QueuedLogHandler(logging.handlers.QueueHandler):
    """A `QueueHandler` in front of the real handler (a StreamHandler on `stream`), whose `QueueListener` thread
    formats and writes the records: the thread that logs (the event loop) never waits for the sink.

    On the logging thread it only stamps the record with the request id (a context variable, so it must be read
    there), renders the message with its arguments and the traceback to text (both may change later), and puts
    the record on a bounded queue of `capacity` records. Redaction (LogContextFilter) and formatting run on the
    listener thread: `setFormatter` and `addFilter` go to the real handler. When the queue is full the record
    is dropped and counted (`dropped`, dropped_log_records(), the metric mcs_erp_log_records_dropped_total);
    the next record that fits is preceded by a WARNING saying how many were lost. A bounded queue is the
    point: an unbounded one would turn a blocked sink (a pipe nobody reads) into unbounded memory.

    The listener starts with the handler (again in a forked child, with a queue of its own) and stops in
    `close()` (logging.shutdown at process exit, or a dictConfig replacing it), after writing what is queued,
    waiting at most LOG_FLUSH_TIMEOUT_S for a blocked sink.
    """

    def __init__(self, stream: IO[str] | None = None, capacity: int = MAX_QUEUED_LOG_RECORDS):
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1 record, got {capacity}")
        super().__init__(queue.Queue(capacity))
        self.target = logging.StreamHandler(stream)
        self.dropped = 0
        self._unreported = 0
        self._start_listener()
        _queued_handlers.add(self)

    def _start_listener(self) -> None:
        self.listener = logging.handlers.QueueListener(self.queue, self.target, respect_handler_level=True)
        self.listener.start()

    def _restart_after_fork(self) -> None:
        """In a forked child: a new queue and listener thread (the parent's thread does not exist here, and its
        queue's lock may have been held at the fork)."""
        if self.listener._thread is None:
            return  # closed before the fork
        self.queue = queue.Queue(self.queue.maxsize)
        self._start_listener()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        """Format on the listener thread: the formatter is the real handler's."""
        self.target.setFormatter(fmt)

    def addFilter(self, filter: Any) -> None:  # noqa: A002 - logging's own parameter name
        """Filter (redact) on the listener thread: the filter is the real handler's."""
        self.target.addFilter(filter)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """Return a copy of `record` that is safe to format later on another thread."""
        record = copy.copy(record)
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        try:
            record.msg, record.args = record.getMessage(), None
        except Exception:  # noqa: BLE001 - a malformed call: the real handler reports it as logging does
            pass
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = LogContextFilter._formatter.formatException(record.exc_info)
            record.exc_info = None  # the traceback's frames stay with the thread that raised
        return record

    def enqueue(self, record: logging.LogRecord) -> None:
        """Put `record` on the queue without ever waiting; drop and count it when the queue is full."""
        global _dropped_total
        try:
            if self._unreported:
                self.queue.put_nowait(self._drop_report(record))
                self._unreported = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self._unreported += 1
            with _dropped_lock:
                _dropped_total += 1

    def _drop_report(self, after: logging.LogRecord) -> logging.LogRecord:
        report = logging.LogRecord("mcs_erp.observability", logging.WARNING, __file__, 0,
                                   "dropped %d log records: the log sink fell %d records behind", None, None)
        report.msg, report.args = report.msg % (self._unreported, self.queue.maxsize), None
        report.created = after.created
        return report

    def flush(self, timeout: float = LOG_FLUSH_TIMEOUT_S) -> bool:
        """Wait until the listener has written every queued record, at most `timeout` seconds; return whether
        it did."""
        deadline = time.monotonic() + timeout
        while self.queue.unfinished_tasks:  # type: ignore[attr-defined]  # queue.Queue counts them
            if time.monotonic() >= deadline or self.listener._thread is None:
                return False
            time.sleep(0.002)
        self.target.flush()
        return True

    def close(self) -> None:
        """Write what is queued (at most LOG_FLUSH_TIMEOUT_S) and stop the listener thread."""
        thread = self.listener._thread
        if thread is not None:
            self.flush()
            try:
                self.queue.put_nowait(self.listener._sentinel)  # type: ignore[attr-defined]
            except queue.Full:
                pass  # the sink is blocked: the daemon thread is left behind, and its records with it
            thread.join(LOG_FLUSH_TIMEOUT_S)
            self.listener._thread = None
        self.target.close()
        super().close()


_queued_handlers: weakref.WeakSet[QueuedLogHandler] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _dropped_lock
    _dropped_lock = threading.Lock()  # another thread of the parent may have held it at the fork
    for handler in list(_queued_handlers):
        handler._restart_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def flush_logs(timeout: float = LOG_FLUSH_TIMEOUT_S) -> bool:
    """Wait until the root logger's queued handlers have written what they hold (at most `timeout` seconds);
    return whether they all did."""
    deadline = time.monotonic() + timeout
    return all(handler.flush(max(0.0, deadline - time.monotonic())) for handler in logging.getLogger().handlers
               if isinstance(handler, QueuedLogHandler))


def logging_config(settings: Settings, *, stream: IO[str] | None = None) -> dict[str, Any]:
    """Return the `logging.config.dictConfig` of a process: one handler on the root logger writing
    `settings.log_format` (text or json) at `settings.log_level` to stderr (or `stream`), with request ids
    and secret redaction; uvicorn's loggers propagate to it. Give it to `uvicorn.run(log_config=...)` so
    every worker process logs the same way.

    The handler is a QueuedLogHandler: records go through a bounded queue to a listener thread that redacts,
    formats and writes them, so a slow or blocked stderr costs the event loop nothing (records beyond the
    queue's MAX_QUEUED_LOG_RECORDS are dropped and counted, never waited for)."""
    formatter = "json" if settings.log_format == "json" else "text"
    handler: dict[str, Any] = {"()": f"{__name__}.QueuedLogHandler", "formatter": formatter,
                               "filters": ["context"], "stream": stream if stream is not None else "ext://sys.stderr"}
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.LogContextFilter"}},
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}, "text": {"()": f"{__name__}.TextFormatter"}},
        "handlers": {"mcs_erp": handler},
        "root": {"level": settings.log_level, "handlers": ["mcs_erp"]},
        "loggers": {"uvicorn": dict(propagate), "uvicorn.error": dict(propagate),
                    "uvicorn.access": dict(propagate)},
    }


def configure_logging(settings: Settings, *, stream: IO[str] | None = None) -> None:
    """Configure this process's logging from settings (replaces the root logger's handlers, closing the old ones
    after they wrote what they held); see logging_config."""
    logging.config.dictConfig(logging_config(settings, stream=stream))


# ---------------------------------------------------------------- readiness


PASSING = ("ok", "not configured")


@dataclass
class Readiness:
    """The outcome of the readiness checks: each check's "ok" or what failed."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(result in PASSING for result in self.checks.values())


@cache
def _schema_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from domain.migrations.schema import alembic_config  # alembic: imported by /readyz, not by every start

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def _failure(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {CHECK_TIMEOUT_S:g}s"
    return redact(f"{type(exc).__name__}: {exc}")[:300]


async def _check(name: str, probe: Any) -> tuple[str, str]:
    try:
        return name, await asyncio.wait_for(probe, CHECK_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - any failure makes the check fail, with its reason
        return name, _failure(exc)


async def _database_answers(runtime: Runtime) -> str:
    async with runtime.db.read_engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    return "ok"


async def _schema_is_current(runtime: Runtime) -> str:
    from domain.migrations.schema import current_revision

    heads = await asyncio.to_thread(_schema_heads)
    revision = await current_revision(runtime.db.read_engine)
    if revision in heads:
        return "ok"
    return f"database at revision {revision or 'none'}, code expects {', '.join(sorted(heads))}: run mcs-erp init"


def _redis_client(url: str) -> Any:
    from redis.asyncio import Redis

    return Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT_S, socket_timeout=CHECK_TIMEOUT_S)


async def _redis_answers(url: str) -> str:
    client = _redis_client(url)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


async def readiness(runtime: Runtime) -> Readiness:
    """Check, concurrently and within CHECK_TIMEOUT_S each: the database answers SELECT 1, its schema is at
    the newest Alembic revision, and Redis answers PING when MCS_ERP_REDIS_URL is set."""
    probes = [_check("database", _database_answers(runtime)), _check("schema", _schema_is_current(runtime))]
    if runtime.settings.redis_url:
        probes.append(_check("redis", _redis_answers(runtime.settings.redis_url)))
    checks = dict(await asyncio.gather(*probes))
    if not runtime.settings.redis_url:
        checks["redis"] = "not configured"
    return Readiness(checks=checks)


# ---------------------------------------------------------------- metrics


class ToolCallMetrics:
    """Tool-call counters of this process, in a registry of their own (never prometheus_client's global one):
    `mcs_erp_tool_calls_total{tool,outcome}` and the `mcs_erp_tool_call_seconds{tool}` histogram, fed by
    tools.invoke's call observers (`observe`). `process_collector` adds the process_* metrics (CPU, memory)."""

    def __init__(self, *, process_collector: bool = False):
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter("mcs_erp_tool_calls", "Tool calls through tools.invoke by tool and outcome (ok, "
                             "pending, or the error code: invalid_input, not_found, permission_denied, conflict, "
                             "..., internal).", ["tool", "outcome"], registry=self.registry)
        self.seconds = Histogram("mcs_erp_tool_call_seconds", "Duration of tool calls through tools.invoke, "
                                 "seconds.", ["tool"], buckets=TOOL_CALL_BUCKETS, registry=self.registry)
        if process_collector:
            ProcessCollector(registry=self.registry)

    def observe(self, tool: str, outcome: str, seconds: float) -> None:
        """Count one finished call (a tools.invoke.CallObserver)."""
        self.calls.labels(tool, outcome).inc()
        self.seconds.labels(tool).observe(seconds)


@cache
def process_metrics() -> ToolCallMetrics:
    """Return this process's tool-call metrics, created and hooked into tools.invoke on first use."""
    metrics = ToolCallMetrics(process_collector=True)
    add_call_observer(metrics.observe)
    return metrics


@dataclass
class JobStats:
    """What the scrape read from the database and Redis; None where that source did not answer."""

    jobs_by_status: dict[str, int] | None = None
    durations_by_kind: dict[str, list[float]] | None = None
    pending_actions: dict[str, int] | None = None
    arq_queue_length: int | None = None
    sources_up: dict[str, bool] = field(default_factory=dict)


async def _read_database_stats(runtime: Runtime, stats: JobStats) -> None:
    since = utcnow() - JOB_DURATION_WINDOW
    async with runtime.db.read() as session:
        stats.jobs_by_status = await jobs_repo.count_by_status(session)
        finished = await jobs_repo.finished_since(session, since=since, limit=JOB_DURATION_SAMPLE_LIMIT)
        stats.pending_actions = await actions_repo.count_open_by_status(session)
    durations: dict[str, list[float]] = defaultdict(list)
    for kind, started_at, finished_at in finished:
        durations[kind].append(max(0.0, (finished_at - started_at).total_seconds()))
    stats.durations_by_kind = dict(durations)


async def _read_arq_queue_length(url: str, queue_name: str) -> int:
    client = _redis_client(url)
    try:
        return int(await client.zcard(queue_name))  # arq's queue is a sorted set of job ids by run time
    finally:
        await client.aclose()


async def collect_job_stats(runtime: Runtime) -> JobStats:
    """Read the job and pending-action figures (and the arq queue length when Redis is configured), each
    source within CHECK_TIMEOUT_S; a source that fails is logged and reported down, not raised."""
    stats = JobStats()

    async def database() -> None:
        try:
            await asyncio.wait_for(_read_database_stats(runtime, stats), CHECK_TIMEOUT_S)
            stats.sources_up["database"] = True
        except Exception as exc:  # noqa: BLE001 - a scrape reports the source down instead of failing
            stats.sources_up["database"] = False
            log.warning("metrics: the database did not answer: %s", _failure(exc))

    async def redis() -> None:
        settings = runtime.settings
        try:
            stats.arq_queue_length = await asyncio.wait_for(
                _read_arq_queue_length(settings.redis_url or "", settings.queue_name), CHECK_TIMEOUT_S)
            stats.sources_up["redis"] = True
        except Exception as exc:  # noqa: BLE001 - a scrape reports the source down instead of failing
            stats.sources_up["redis"] = False
            log.warning("metrics: Redis did not answer: %s", _failure(exc))

    await asyncio.gather(database(), *([redis()] if runtime.settings.redis_url else []))
    return stats


def _quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of a sorted, non-empty list: the smallest value with at least q of them at or
    below it."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[index]


def job_families(stats: JobStats) -> list[Metric]:
    """Turn scraped figures into metric families (gauges, and a summary over the last hour's finished jobs)."""
    families: list[Metric] = []
    up = GaugeMetricFamily("mcs_erp_metrics_source_up", "1 when the source (database, redis) answered this "
                           "scrape, 0 when its figures are missing.", labels=["source"])
    for source, ok in sorted(stats.sources_up.items()):
        up.add_metric([source], 1 if ok else 0)
    families.append(up)
    if stats.jobs_by_status is not None:
        jobs = GaugeMetricFamily("mcs_erp_jobs", "Jobs in the jobs table by status.", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], stats.jobs_by_status.get(status.value, 0))
        families.append(jobs)
    depth = GaugeMetricFamily("mcs_erp_job_queue_depth", "Jobs waiting for a worker: queued rows of the jobs "
                              "table (source=database) and entries of the arq queue on Redis (source=arq, when "
                              "Redis is configured). The two count the same jobs: do not add them up.",
                              labels=["source"])
    if stats.jobs_by_status is not None:
        depth.add_metric(["database"], stats.jobs_by_status.get(JobStatus.QUEUED.value, 0))
    if stats.arq_queue_length is not None:
        depth.add_metric(["arq"], stats.arq_queue_length)
    families.append(depth)
    if stats.durations_by_kind is not None:
        durations = Metric("mcs_erp_job_duration_seconds", "Run time (started to finished) of the jobs that "
                           f"finished in the last {int(JOB_DURATION_WINDOW.total_seconds())} s, by kind: a "
                           "window read from the jobs table, not a cumulative counter (do not rate() it).",
                           "summary")
        for kind, values in sorted(stats.durations_by_kind.items()):
            values = sorted(values)
            for q in JOB_DURATION_QUANTILES:
                durations.add_sample("mcs_erp_job_duration_seconds", {"kind": kind, "quantile": str(q)},
                                     _quantile(values, q))
            durations.add_sample("mcs_erp_job_duration_seconds_count", {"kind": kind}, len(values))
            durations.add_sample("mcs_erp_job_duration_seconds_sum", {"kind": kind}, sum(values))
        families.append(durations)
    if stats.pending_actions is not None:
        pending = GaugeMetricFamily("mcs_erp_pending_actions", "Open pending actions at the confirmation gate: "
                                    "proposed (waiting for the requester's confirm) and queued (waiting for an "
                                    "admin's approval).", labels=["status"])
        for status in OPEN_STATUSES:
            pending.add_metric([status.value], stats.pending_actions.get(status.value, 0))
        families.append(pending)
    return families


class _Families:
    """A collector that yields families gathered beforehand (the scrape reads the database asynchronously)."""

    def __init__(self, families: list[Metric]):
        self._families = families

    def collect(self) -> list[Metric]:
        return self._families


async def render_metrics(runtime: Runtime, metrics: ToolCallMetrics) -> bytes:
    """Return the Prometheus text exposition of `metrics`, of the job figures read now and of the log records
    dropped (mcs_erp_log_records_dropped_total)."""
    stats = await collect_job_stats(runtime)
    registry = CollectorRegistry(auto_describe=False)
    dropped = CounterMetricFamily("mcs_erp_log_records_dropped", "Log records this process dropped because the "
                                  f"log sink fell {MAX_QUEUED_LOG_RECORDS} records behind (a slow or blocked "
                                  "stderr).", value=dropped_log_records())
    registry.register(_Families(list(metrics.registry.collect()) + job_families(stats) + [dropped]))
    return generate_latest(registry)


def observability_routes(runtime: Runtime, *, metrics: ToolCallMetrics | None = None) -> list[Route]:
    """Return the routes GET /readyz (200 {"status": "ready", "checks"} or 503 naming the failed checks) and
    GET /metrics (Prometheus text format; `metrics` defaults to this process's, see process_metrics)."""
    tool_metrics = metrics if metrics is not None else process_metrics()

    async def readyz(request: Request) -> JSONResponse:
        result = await readiness(runtime)
        if not result.ready:
            failed = {name: outcome for name, outcome in result.checks.items() if outcome not in PASSING}
            log.warning("not ready: %s", "; ".join(f"{name}: {outcome}" for name, outcome in failed.items()),
                        extra={"checks": failed})
        return JSONResponse({"status": "ready" if result.ready else "not ready", "checks": result.checks},
                            status_code=200 if result.ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(await render_metrics(runtime, tool_metrics), media_type=CONTENT_TYPE_LATEST)

    return [Route("/readyz", readyz, methods=["GET"]), Route("/metrics", metrics_endpoint, methods=["GET"])]
