"""Operations: request ids and access lines, JSON logs without secrets, /readyz and /metrics.

The routes and the middleware are mounted on a small Starlette app around a trivial endpoint; tool metrics are
driven through tools.invoke like every channel does. Tests that need Redis read MCS_ERP_TEST_REDIS_URL
(default redis://127.0.0.1:6379/0) and skip without it, except under CI where they fail.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import date, timedelta

import httpx
import pytest
from alembic.script import ScriptDirectory
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.jobs.models import Job, JobStatus
from domain.kernel.clock import utcnow
from domain.migrations.schema import alembic_config, migrate
from domain.kernel.settings import Settings
from server.observability import (
    RequestIdMiddleware,
    ToolCallMetrics,
    configure_logging,
    current_request_id,
    flush_logs,
    observability_routes,
    process_metrics,
    redact,
)
from tests.conftest import IN_CI, drop_pg_database, fresh_database_url
from tests.factories import make_user, unique
from tools.invoke import add_call_observer, invoke
from tools.runtime import Runtime

REDIS_URL = os.environ.get("MCS_ERP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DEAD_DATABASE = "postgresql+asyncpg://mcs:db-password-42@127.0.0.1:1/mcs_erp"  # nothing listens on port 1
DEAD_REDIS = "redis://127.0.0.1:1/0"
API_KEY = "mcs_" + "Zq3xY9" * 7  # the shape of a real key: "mcs_" + token_urlsafe(32)

app_log = logging.getLogger("mcs_erp.test_app")


# ---------------------------------------------------------------- helpers and fixtures


def build_app(runtime: Runtime, metrics: ToolCallMetrics) -> RequestIdMiddleware:
    """Our routes and middleware around a trivial endpoint, as server/app.py wires them."""

    async def hello(request: Request) -> JSONResponse:
        app_log.info("hello from %s", request.url.path, extra={"tenant": "school-1"})
        return JSONResponse({"request_id": current_request_id()})

    async def boom(request: Request) -> JSONResponse:
        raise RuntimeError("the endpoint failed")

    app = Starlette(routes=[Route("/hello", hello), Route("/boom", boom),
                            *observability_routes(runtime, metrics=metrics)])
    return RequestIdMiddleware(app)


def client_for(app, *, raise_app_exceptions: bool = True) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def samples(exposition: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text exposition, by (name, labels)."""
    out = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(scraped: dict, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


async def scrape(client: httpx.AsyncClient) -> dict:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


@pytest.fixture
def metrics() -> Iterator[ToolCallMetrics]:
    """Tool-call metrics of this test alone (a registry of their own), fed by tools.invoke."""
    tool_metrics = ToolCallMetrics()
    remove = add_call_observer(tool_metrics.observe)
    yield tool_metrics
    remove()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and uvicorn's loggers back as they were after a test configured logging."""
    names = ["", "uvicorn", "uvicorn.error", "uvicorn.access"]
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level,
                    logging.getLogger(name).propagate) for name in names}
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()  # a queued handler's listener thread stops with it
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """A reachable Redis (MCS_ERP_TEST_REDIS_URL); skips without one, fails under CI."""
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as exc:
        if IN_CI:
            raise
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    yield REDIS_URL


@pytest.fixture
async def other_runtime(database_url) -> AsyncIterator[Callable[..., Runtime]]:
    """A runtime on the session database whose settings a test chooses (closed afterwards)."""
    made: list[Runtime] = []

    def make(**settings) -> Runtime:
        rt = Runtime.create(Settings(**{"database_url": database_url, "redis_url": None, **settings}))
        made.append(rt)
        return rt

    yield make
    for rt in made:
        await rt.close()


# ---------------------------------------------------------------- request ids and logs


async def test_request_id_is_taken_from_the_caller_or_made_and_logged(runtime, metrics, caplog):
    app = build_app(runtime, metrics)
    caplog.set_level(logging.INFO, logger="mcs_erp.access")
    async with client_for(app) as client:
        given = await client.get("/hello?token=s3cret-in-query", headers={"X-Request-ID": "edge-7f3a.Retry_2"})
        assert given.headers["x-request-id"] == "edge-7f3a.Retry_2"
        assert given.json() == {"request_id": "edge-7f3a.Retry_2"}

        for bad in ("has space", "x" * 101, "semi;colon", ""):
            made = await client.get("/hello", headers={"X-Request-ID": bad})
            assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"]), (bad, made.headers)
            assert made.json() == {"request_id": made.headers["x-request-id"]}
        none_given = await client.get("/hello")
        assert re.fullmatch(r"[0-9a-f]{32}", none_given.headers["x-request-id"])
        assert none_given.headers["x-request-id"] != made.headers["x-request-id"]
    assert current_request_id() is None  # the context variable does not outlive the request

    access = [r for r in caplog.records if r.name == "mcs_erp.access"]
    assert len(access) == 6
    first = access[0]
    assert (first.levelno, first.method, first.path, first.status) == (logging.INFO, "GET", "/hello", 200)
    assert first.request_id == "edge-7f3a.Retry_2"
    assert isinstance(first.duration_ms, float)
    assert "s3cret" not in first.getMessage() and "token" not in first.path
    assert all(re.fullmatch(r"[0-9a-f]{32}", r.request_id) for r in access[1:])


async def test_a_failing_request_is_logged_as_500_with_its_id(runtime, metrics, caplog):
    caplog.set_level(logging.INFO, logger="mcs_erp.access")
    async with client_for(build_app(runtime, metrics)) as client:
        with pytest.raises(RuntimeError, match="the endpoint failed"):
            await client.get("/boom", headers={"X-Request-ID": "req-500"})
    (line,) = [r for r in caplog.records if r.name == "mcs_erp.access"]
    assert (line.path, line.status, line.request_id) == ("/boom", 500, "req-500")


async def test_json_logs_carry_request_id_and_fields_and_never_secrets(runtime, metrics, restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=stream)
    async with client_for(build_app(runtime, metrics)) as client:
        await client.get("/hello", headers={"X-Request-ID": "json-req-1"})
    app_log.debug("below the level")
    app_log.warning("caller sent %s and Bearer eyJhbGciOi.payload.sig", API_KEY,
                    extra={"authorization": f"Bearer {API_KEY}", "session_secret": "do-not-log-me",
                           "agent_api_key": "sk-ant-very-secret", "input_tokens": 1234,
                           "database": "postgresql+asyncpg://mcs:pg-pass-99@postgres:5432/mcs_erp",
                           "headers": {"X-API-Key": API_KEY, "accept": "application/json"}})
    try:
        raise ValueError(f"bad key {API_KEY} in password=hunter2-secret")
    except ValueError:
        app_log.exception("it failed")
    logging.getLogger("uvicorn.error").warning("uvicorn speaks JSON too")

    assert flush_logs(), "the log listener did not write the queued records within its timeout"
    output = stream.getvalue()
    lines = [json.loads(line) for line in output.splitlines()]
    hello = next(line for line in lines if line["logger"] == "mcs_erp.test_app" and "hello" in line["message"])
    assert hello["request_id"] == "json-req-1" and hello["tenant"] == "school-1" and hello["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", hello["time"])
    access = next(line for line in lines if line["logger"] == "mcs_erp.access")
    assert access["request_id"] == "json-req-1" and access["path"] == "/hello" and access["status"] == 200
    assert not any(line["message"] == "below the level" for line in lines)

    warning = next(line for line in lines if line["level"] == "WARNING" and line["logger"] == "mcs_erp.test_app")
    assert "request_id" not in warning  # logged outside any request
    assert warning["input_tokens"] == 1234 and warning["headers"]["accept"] == "application/json"
    assert warning["authorization"] == warning["session_secret"] == warning["agent_api_key"] == "[REDACTED]"
    assert warning["headers"]["X-API-Key"] == "[REDACTED]"
    assert warning["database"] == "postgresql+asyncpg://mcs:[REDACTED]@postgres:5432/mcs_erp"
    assert "Bearer [REDACTED]" in warning["message"] and "mcs_[REDACTED]" in warning["message"]
    failed = next(line for line in lines if line["message"] == "it failed")
    assert "ValueError" in failed["exception"] and "mcs_[REDACTED]" in failed["exception"]
    assert any(line["logger"] == "uvicorn.error" for line in lines)
    for secret in (API_KEY, "eyJhbGciOi", "do-not-log-me", "sk-ant-very-secret", "pg-pass-99", "hunter2-secret"):
        assert secret not in output, secret


async def test_text_logs_show_the_request_id(runtime, metrics, restore_logging):
    stream = io.StringIO()
    configure_logging(Settings(log_format="text", log_level="WARNING"), stream=stream)
    async with client_for(build_app(runtime, metrics)) as client:
        await client.get("/hello", headers={"X-Request-ID": "text-req-1"})  # INFO lines: below WARNING
        app_log.info("not shown")
    app_log.error("key %s leaked", API_KEY)
    assert flush_logs(), "the log listener did not write the queued records within its timeout"
    output = stream.getvalue()
    assert "not shown" not in output and "text-req-1" not in output
    (line,) = output.splitlines()
    assert re.fullmatch(r"\S+Z ERROR mcs_erp\.test_app key mcs_\[REDACTED\] leaked", line), line


def test_redact_hides_keys_tokens_and_passwords_but_not_names():
    assert redact(f"X-API-Key: {API_KEY}") == "X-API-Key: [REDACTED]"
    assert redact(f"key={API_KEY}!") == "key=mcs_[REDACTED]!"
    assert redact("authorization: bearer abc.DEF-123_x=") == "authorization: [REDACTED] [REDACTED]"
    assert redact("sent Bearer abc.DEF-123_x= to it") == "sent Bearer [REDACTED] to it"
    assert redact('{"password": "pa55", "user": "ann"}') == '{"password": "[REDACTED]", "user": "ann"}'
    assert redact("session_secret=abc agent_api_key='sk-1'") == "session_secret=[REDACTED] agent_api_key='[REDACTED]'"
    assert redact("redis://:redispw@redis:6379/0") == "redis://:[REDACTED]@redis:6379/0"
    assert redact("http://host:8000/readyz") == "http://host:8000/readyz"
    assert redact("postgresql://u:p%40ss@db/x") == "postgresql://u:[REDACTED]@db/x"
    kept = "mcs_erp_tool_calls_total mcs_erp.access mcs_erp_job_duration_seconds_bucket list_students"
    assert redact(kept) == kept


# ---------------------------------------------------------------- /readyz


async def test_readyz_is_ready_on_a_migrated_database(runtime, metrics):
    async with client_for(build_app(runtime, metrics)) as client:
        response = await client.get("/readyz")
    body = response.json()
    expected_redis = "ok" if runtime.settings.redis_url else "not configured"
    assert response.status_code == 200, body
    assert body == {"status": "ready", "checks": {"database": "ok", "schema": "ok", "redis": expected_redis}}


async def test_readyz_fails_while_the_schema_is_behind(tmp_path, metrics):
    url, pg_name = await fresh_database_url(tmp_path)
    rt = Runtime.create(Settings(database_url=url, redis_url=None))
    try:
        async with client_for(build_app(rt, metrics)) as client:
            empty = await client.get("/readyz")
            scripts = ScriptDirectory.from_config(alembic_config())
            (base,) = scripts.get_bases()
            await migrate(rt.db.write_engine, base)
            behind = await client.get("/readyz")
            await migrate(rt.db.write_engine)
            current = await client.get("/readyz")
    finally:
        await rt.close()
        if pg_name:
            await drop_pg_database(pg_name)
    assert empty.status_code == 503 and empty.json()["status"] == "not ready"
    assert empty.json()["checks"]["database"] == "ok"
    assert empty.json()["checks"]["schema"].startswith("database at revision none, code expects ")
    assert behind.status_code == 503
    assert behind.json()["checks"]["schema"].startswith(f"database at revision {base}, code expects ")
    assert current.status_code == 200 and current.json()["checks"]["schema"] == "ok"


async def test_readyz_fails_when_the_database_does_not_answer(metrics, other_runtime):
    rt = other_runtime(database_url=DEAD_DATABASE)
    async with client_for(build_app(rt, metrics)) as client:
        response = await client.get("/readyz")
    checks = response.json()["checks"]
    assert response.status_code == 503
    assert checks["database"] != "ok" and checks["schema"] != "ok" and checks["redis"] == "not configured"
    assert "db-password-42" not in response.text


async def test_readyz_checks_redis_when_configured(metrics, other_runtime, redis_url):
    up = other_runtime(redis_url=redis_url)
    down = other_runtime(redis_url=DEAD_REDIS)
    async with client_for(build_app(up, metrics)) as client:
        ready = await client.get("/readyz")
    async with client_for(build_app(down, metrics)) as client:
        not_ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    assert not_ready.status_code == 503
    checks = not_ready.json()["checks"]
    assert checks["database"] == "ok" and checks["schema"] == "ok" and checks["redis"] != "ok"


# ---------------------------------------------------------------- /metrics


async def _employee(runtime: Runtime, admin) -> int:
    dep = await invoke(runtime, "create_department", {"code": unique("D"), "name": "Metrics"}, admin)
    tag = unique().lower()
    emp = await invoke(runtime, "create_employee", {
        "first_name": "Mia", "last_name": "Metric", "work_email": f"mia.{tag}@example.org",
        "position": "Clerk", "department_id": dep.id, "hire_date": "2024-01-08",
        "employment_type": "full_time"}, admin)
    return emp.id


async def test_tool_calls_are_counted_by_tool_and_outcome(runtime, metrics, monkeypatch):
    async with runtime.db.write() as session:
        admin = await make_user(session, roles="admin")
        viewer = await make_user(session, roles="viewer")
    employee_id = await _employee(runtime, admin)
    await invoke(runtime, "list_departments", {}, admin)
    await invoke(runtime, "list_departments", {"limit": 5}, viewer)
    with pytest.raises(Exception, match="invalid arguments for create_department"):
        await invoke(runtime, "create_department", {}, admin)
    with pytest.raises(Exception, match="create_department needs one of the roles"):
        await invoke(runtime, "create_department", {"code": unique("D"), "name": "No"}, viewer)
    with pytest.raises(Exception, match="unknown tool"):
        await invoke(runtime, "drop_all_tables", {}, admin)
    terminate = {"employee_id": employee_id, "termination_date": date(2025, 6, 30).isoformat(),
                 "reason": "end of contract"}
    proposed = await invoke(runtime, "terminate_employee", terminate, admin)
    with pytest.raises(Exception, match="no employee"):
        await invoke(runtime, "terminate_employee", dict(terminate, employee_id=987_654_321), admin)

    async def broken(ctx, args):
        raise RuntimeError("a bug")

    spec = runtime.catalogue.tools["list_departments"]
    monkeypatch.setitem(runtime.catalogue.tools, "list_departments", dataclasses.replace(spec, run=broken))
    with pytest.raises(RuntimeError):
        await invoke(runtime, "list_departments", {}, admin)
    monkeypatch.undo()
    await invoke(runtime, "cancel_action", {"action_id": proposed.action_id}, admin)

    get = metrics.registry.get_sample_value
    calls = "mcs_erp_tool_calls_total"
    assert proposed.pending is True
    assert get(calls, {"tool": "create_department", "outcome": "ok"}) == 1
    assert get(calls, {"tool": "create_employee", "outcome": "ok"}) == 1
    assert get(calls, {"tool": "list_departments", "outcome": "ok"}) == 2
    assert get(calls, {"tool": "create_department", "outcome": "invalid_input"}) == 1
    assert get(calls, {"tool": "create_department", "outcome": "permission_denied"}) == 1
    assert get(calls, {"tool": "unknown", "outcome": "not_found"}) == 1
    assert get(calls, {"tool": "drop_all_tables", "outcome": "not_found"}) is None  # no label per bad name
    assert get(calls, {"tool": "terminate_employee", "outcome": "pending"}) == 1
    assert get(calls, {"tool": "terminate_employee", "outcome": "not_found"}) == 1
    assert get(calls, {"tool": "list_departments", "outcome": "internal"}) == 1
    assert get(calls, {"tool": "cancel_action", "outcome": "ok"}) == 1
    assert get("mcs_erp_tool_call_seconds_count", {"tool": "create_department"}) == 3
    assert get("mcs_erp_tool_call_seconds_count", {"tool": "list_departments"}) == 3
    assert get("mcs_erp_tool_call_seconds_bucket", {"tool": "list_departments", "le": "+Inf"}) == 3

    async with client_for(build_app(runtime, metrics)) as client:
        scraped = await scrape(client)
    assert value(scraped, calls, tool="terminate_employee", outcome="pending") == 1
    assert value(scraped, "mcs_erp_tool_call_seconds_count", tool="create_department") == 3


async def test_the_process_metrics_count_every_invoke_once(runtime):
    first = process_metrics()
    assert process_metrics() is first
    async with runtime.db.write() as session:
        admin = await make_user(session, roles="admin")
    labels = {"tool": "list_departments", "outcome": "ok"}
    before = first.registry.get_sample_value("mcs_erp_tool_calls_total", labels) or 0
    await invoke(runtime, "list_departments", {}, admin)
    assert first.registry.get_sample_value("mcs_erp_tool_calls_total", labels) == before + 1
    assert first.registry.get_sample_value("process_cpu_seconds_total") is not None


async def test_job_and_pending_action_figures_are_read_at_scrape_time(runtime, metrics):
    kind = f"metrics_test_{uuid.uuid4().hex[:8]}"
    now = utcnow()
    rows = [
        Job(kind=kind, status=JobStatus.QUEUED.value),
        Job(kind=kind, status=JobStatus.RUNNING.value, started_at=now - timedelta(seconds=5)),
        Job(kind=kind, status=JobStatus.SUCCEEDED.value, started_at=now - timedelta(seconds=90),
            finished_at=now - timedelta(seconds=30)),
        Job(kind=kind, status=JobStatus.FAILED.value, started_at=now - timedelta(seconds=12),
            finished_at=now - timedelta(seconds=10)),
        Job(kind=kind, status=JobStatus.SUCCEEDED.value, started_at=now - timedelta(hours=2, seconds=40),
            finished_at=now - timedelta(hours=2)),  # outside the last hour's window
    ]
    async with runtime.db.write() as session:
        admin = await make_user(session, roles="admin")
    employee_id = await _employee(runtime, admin)

    async with client_for(build_app(runtime, metrics)) as client:
        before = await scrape(client)
        async with runtime.db.write() as session:
            session.add_all(rows)
        proposed = await invoke(runtime, "terminate_employee", {
            "employee_id": employee_id, "termination_date": "2025-07-31", "reason": "moving abroad"}, admin)
        during = await scrape(client)
        await invoke(runtime, "cancel_action", {"action_id": proposed.action_id}, admin)
        async with runtime.db.write() as session:
            for row in rows:
                row.deleted_at = utcnow()
                session.add(row)
        after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(during, name, **labels) - value(before, name, **labels)

    assert value(during, "mcs_erp_metrics_source_up", source="database") == 1
    assert delta("mcs_erp_jobs", status="queued") == 1
    assert delta("mcs_erp_jobs", status="running") == 1
    assert delta("mcs_erp_jobs", status="succeeded") == 2
    assert delta("mcs_erp_jobs", status="failed") == 1
    assert delta("mcs_erp_jobs", status="cancelled") == 0
    assert delta("mcs_erp_job_queue_depth", source="database") == 1
    assert delta("mcs_erp_pending_actions", status="proposed") == 1
    assert delta("mcs_erp_pending_actions", status="queued") == 0
    assert value(during, "mcs_erp_job_duration_seconds_count", kind=kind) == 2
    assert value(during, "mcs_erp_job_duration_seconds_sum", kind=kind) == pytest.approx(62.0)
    assert value(during, "mcs_erp_job_duration_seconds", kind=kind, quantile="0.5") == pytest.approx(2.0)
    assert value(during, "mcs_erp_job_duration_seconds", kind=kind, quantile="0.99") == pytest.approx(60.0)
    assert value(before, "mcs_erp_job_duration_seconds_count", kind=kind) is None
    assert value(after, "mcs_erp_job_duration_seconds_count", kind=kind) is None
    assert value(after, "mcs_erp_jobs", status="queued") == value(before, "mcs_erp_jobs", status="queued")
    assert value(after, "mcs_erp_pending_actions", status="proposed") == value(
        before, "mcs_erp_pending_actions", status="proposed")


async def test_metrics_report_a_database_that_does_not_answer(metrics, other_runtime):
    rt = other_runtime(database_url=DEAD_DATABASE)
    async with client_for(build_app(rt, metrics)) as client:
        scraped = await scrape(client)
    assert value(scraped, "mcs_erp_metrics_source_up", source="database") == 0
    assert not any(name == "mcs_erp_jobs" for name, _ in scraped)
    assert not any(name == "mcs_erp_pending_actions" for name, _ in scraped)


async def test_metrics_read_the_arq_queue_length_on_redis(metrics, other_runtime, redis_url):
    queue = f"mcs-erp-metrics:{uuid.uuid4().hex[:12]}"
    rt = other_runtime(redis_url=redis_url, queue_name=queue)
    client_redis = Redis.from_url(redis_url)
    try:
        await client_redis.zadd(queue, {f"{queue}:job-{i}": i for i in range(3)})
        async with client_for(build_app(rt, metrics)) as client:
            scraped = await scrape(client)
    finally:
        await client_redis.delete(queue)
        await client_redis.aclose()
    assert value(scraped, "mcs_erp_metrics_source_up", source="redis") == 1
    assert value(scraped, "mcs_erp_job_queue_depth", source="arq") == 3
    assert value(scraped, "mcs_erp_job_queue_depth", source="database") is not None

    down = other_runtime(redis_url=DEAD_REDIS)
    async with client_for(build_app(down, metrics)) as client:
        scraped = await scrape(client)
    assert value(scraped, "mcs_erp_metrics_source_up", source="redis") == 0
    assert value(scraped, "mcs_erp_job_queue_depth", source="arq") is None


async def test_the_product_app_serves_readyz_metrics_and_request_ids(runtime):
    """server.app.create_app wires it all: /readyz, /metrics counting tool calls made through the one call path,
    and a request id on every response (an MCP or admin URL as much as /healthz)."""
    from server.app import create_app

    async with runtime.db.write() as s:
        user = await make_user(s, roles="admin")
    app = create_app(runtime, own_runtime=False)  # its metrics count the calls made from now on
    await invoke(runtime, "ping", {}, user)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
        metrics = await client.get("/metrics")
        families = {f.name: f for f in text_string_to_metric_families(metrics.text)}
        calls = [s for s in families["mcs_erp_tool_calls"].samples
                 if s.labels.get("tool") == "ping" and s.labels.get("outcome") == "ok" and s.name.endswith("_total")]
        assert calls and calls[0].value >= 1, families.get("mcs_erp_tool_calls")
        echoed = await client.get("/healthz", headers={"X-Request-ID": "req-42.a"})
        assert echoed.headers["X-Request-ID"] == "req-42.a"
        made = await client.get("/admin/sign-in")
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-ID"]), made.headers
