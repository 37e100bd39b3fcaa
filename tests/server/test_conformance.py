"""The official MCP conformance suite (npm `@modelcontextprotocol/conformance`) against `mcs-erp serve --http`.

The suite runs once, in one session (`conformance server --suite all -o DIR`), against one server subprocess, and
each scenario's result is read from the `checks.json` the suite writes for it: a scenario passes when it has
checks and none is FAILURE or WARNING (the suite counts a warning as a failure too). The failing checks are
printed on failure.

The suite cannot send headers, and every /mcp request needs an API key. It talks to a small reverse proxy on
127.0.0.1 (`AuthProxy`) that adds `Authorization: Bearer <admin key>` and forwards everything else as sent,
Host and Origin included, so dns-rebinding-protection tests the server's own Host/Origin checks behind a
valid key; authentication is never switched off. As behind any reverse proxy, the server is told the name its
clients use (MCS_ERP_ALLOWED_HOSTS=127.0.0.1:<proxy port>).

Scenarios asserted to pass (APPLICABLE): server-initialize, ping, tools-list, tools-call-error (an unknown tool is
a tool error with a text a model can read), resources-list, prompts-list, completion-complete (the suite asks
about a prompt of its fixture server: the answer is an empty completion, not an error),
server-sse-multiple-streams and dns-rebinding-protection.

Scenarios that do not apply (EXCLUDED, run but not asserted; `conformance list --server` is checked against
both lists, so a scenario a new version adds fails this test until it is classified):
- logging-set-level, tools-call-with-logging: the server does not offer the logging capability; its logs go to
  its own log (JSON lines with request ids), not to clients.
- tools-call-simple-text, tools-call-image, tools-call-audio, tools-call-embedded-resource,
  tools-call-mixed-content, tools-call-with-progress, tools-call-sampling, tools-call-elicitation,
  elicitation-sep1034-defaults, elicitation-sep1330-enums, json-schema-2020-12 and server-sse-polling: each
  calls or lists a tool only the suite's fixture server has (test_simple_text, test_tool_with_progress,
  test_reconnection, ...). The school's tools are typed ERP tools; progress is covered by the timetable e2e test,
  and the server never samples or elicits (DESIGN.md: the confirm tool is the path that always works).
  tools-call-simple-text "passes" by accident (it accepts any text, even our unknown-tool error).
- resources-read-text, resources-read-binary, resources-templates-read, resources-subscribe,
  resources-unsubscribe: they read or watch the fixture's test:// resources; ours are mcs-erp://guide and
  mcs-erp://catalogue.
- prompts-get-simple, prompts-get-with-args, prompts-get-embedded-resource, prompts-get-with-image: they get the
  fixture's test_* prompts. Our prompts/get is tested with the SDK client here and in test_completion.py.

The pinned Node 22 and the suite are installed by the test into ~/.cache/mcs-erp-test-node (see
tests/server/e2e_helpers.py: node_tool); under CI a failed install fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mcp_types as types
import pytest
import uvicorn
from mcp.shared.exceptions import MCPError

from tests.server.e2e_helpers import (
    E2EDatabase,
    HttpServer,
    KeySpec,
    NodeTool,
    call_ok,
    create_keys,
    e2e_database,
    free_port,
    http_client,
    http_server,
    init_database,
    node_tool,
    run_process,
)

pytestmark = pytest.mark.e2e

CONFORMANCE_VERSION = "0.1.16"  # the newest 0.1.x on npm (2026-12); its Node engine is >= 22.19
SUITE_TIMEOUT = 180.0  # seconds for the whole suite (about 3 s here)

APPLICABLE = ("server-initialize", "ping", "tools-list", "tools-call-error", "resources-list", "prompts-list",
              "completion-complete", "server-sse-multiple-streams", "dns-rebinding-protection")
EXCLUDED = ("logging-set-level", "tools-call-with-logging", "tools-call-simple-text", "tools-call-image",
            "tools-call-audio", "tools-call-embedded-resource", "tools-call-mixed-content",
            "tools-call-with-progress", "tools-call-sampling", "tools-call-elicitation",
            "elicitation-sep1034-defaults", "elicitation-sep1330-enums", "json-schema-2020-12",
            "server-sse-polling", "resources-read-text", "resources-read-binary", "resources-templates-read",
            "resources-subscribe", "resources-unsubscribe", "prompts-get-simple", "prompts-get-with-args",
            "prompts-get-embedded-resource", "prompts-get-with-image")

# Framing headers: the proxy's own server and client set them for each hop.
HOP_BY_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade",
              b"proxy-connection", b"proxy-authorization", b"content-length"}


class AuthProxy:
    """ASGI reverse proxy: forwards each request to `upstream` with `headers` added (replacing any the client sent
    with those names) and every other header unchanged, Host and Origin included; streams the response back
    (SSE too) and closes the upstream response when the client goes away."""

    def __init__(self, upstream: str, headers: dict[str, str]):
        self.upstream = upstream.rstrip("/")
        self.added = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))  # SSE streams stay open
        self.http.headers.clear()  # no httpx defaults (User-Agent, Accept, ...): only what the client sent

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await self.http.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        names = {name for name, _ in self.added}
        headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP and k not in names] + self.added
        url = self.upstream + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        request = self.http.build_request(scope["method"], url, headers=headers, content=bytes(body))
        response = await self.http.send(request, stream=True)

        async def relay() -> None:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

        async def client_gone() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        tasks = {asyncio.ensure_future(relay()), asyncio.ensure_future(client_gone())}
        try:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None and not isinstance(task.exception(), OSError):
                    raise task.exception()
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            await response.aclose()


@contextlib.asynccontextmanager
async def auth_proxy(port: int, upstream: str, headers: dict[str, str]) -> AsyncIterator[str]:
    """Run AuthProxy on 127.0.0.1:`port` in this event loop; yield its base URL."""
    server = uvicorn.Server(uvicorn.Config(AuthProxy(upstream, headers), host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=2))
    task = asyncio.ensure_future(server.serve())
    try:
        async with asyncio.timeout(30):
            while not server.started:
                if task.done():
                    task.result()
                    raise AssertionError("the proxy stopped before it started")
                await asyncio.sleep(0.01)  # polls uvicorn's started flag, bounded by the timeout above
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


@dataclass
class Served:
    db: E2EDatabase
    server: HttpServer
    keys: dict[str, str]
    proxy_url: str
    suite: NodeTool


@pytest.fixture(scope="module")
async def served(tmp_path_factory) -> AsyncIterator[Served]:
    """One HTTP server on a fresh database, keys for an admin and a finance user, the proxy and the suite."""
    async with e2e_database(tmp_path_factory.mktemp("conformance")) as db:
        suite, _ = await asyncio.gather(
            node_tool("@modelcontextprotocol/conformance", CONFORMANCE_VERSION, "dist/index.js"),
            init_database(db))
        # Clients name the proxy in Host, as behind any reverse proxy: the server is told to answer to it.
        proxy_port = free_port()
        db.extra_env["MCS_ERP_ALLOWED_HOSTS"] = f"127.0.0.1:{proxy_port}"
        # The keys are made while the server starts (each is a CLI subprocess, mostly interpreter start-up).
        making_keys = asyncio.ensure_future(create_keys(db, [KeySpec("admin"), KeySpec("bursar", "finance")]))
        try:
            async with http_server(db) as server:
                keys = await making_keys
                async with auth_proxy(proxy_port, server.base_url,
                                      {"Authorization": f"Bearer {keys['admin']}"}) as proxy_url:
                    yield Served(db, server, keys, proxy_url, suite)
        finally:
            if not making_keys.done():  # the server failed to start: stop the key subprocesses too
                making_keys.cancel()
                with contextlib.suppress(BaseException):
                    await making_keys


def scenario_results(out_dir: Path) -> dict[str, list[dict]]:
    """The checks of each scenario the suite saved: `<out>/server-<scenario>-<timestamp>/checks.json`."""
    results: dict[str, list[dict]] = {}
    for checks in out_dir.glob("server-*/checks.json"):
        name = re.sub(r"-\d{4}-\d\d-\d\dT[\d-]+Z$", "", checks.parent.name.removeprefix("server-"))
        results[name] = json.loads(checks.read_text())
    return results


def failing(checks: list[dict]) -> list[str]:
    return [f"{c['id']} {c['status']}: {c.get('errorMessage') or c.get('description')}\n"
            f"    details: {json.dumps(c.get('details'))[:600]}" for c in checks if c["status"] in ("FAILURE", "WARNING")]


async def test_the_suite_lists_only_classified_scenarios(served: Served, tmp_path):
    result = await run_process(*served.suite.command("list", "--server"), timeout=60, cwd=tmp_path,
                               env=served.suite.env())
    assert result.returncode == 0, result.stdout + result.stderr
    listed = set(re.findall(r"^\s*- ([a-z0-9-]+)", result.stdout, re.MULTILINE))
    assert listed, result.stdout
    assert not set(APPLICABLE) & set(EXCLUDED)
    unclassified = listed - set(APPLICABLE) - set(EXCLUDED)
    assert not unclassified, f"classify these new scenarios in APPLICABLE or EXCLUDED (with why): {unclassified}"
    assert set(APPLICABLE) <= listed, set(APPLICABLE) - listed


async def test_conformance_scenarios_pass(served: Served, tmp_path):
    out_dir = tmp_path / "results"
    result = await run_process(*served.suite.command("server", "--url", f"{served.proxy_url}/mcp", "--suite", "all",
                                                     "-o", str(out_dir)),
                               timeout=SUITE_TIMEOUT, cwd=tmp_path, env=served.suite.env())
    results = scenario_results(out_dir)
    report = []
    for scenario in APPLICABLE:
        checks = results.get(scenario)
        if not checks:
            report.append(f"{scenario}: no checks saved")
        elif problems := failing(checks):
            report.append(f"{scenario}:\n  " + "\n  ".join(problems))
    assert not report, ("conformance scenarios failed:\n" + "\n".join(report) +
                        f"\n--- suite output (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    # The rebinding check was refused by the server's Host check behind a valid key (the proxy added it), not by
    # the API key middleware's 401.
    rebinding = {c["id"]: c for c in results["dns-rebinding-protection"]}
    assert rebinding["localhost-host-rebinding-rejected"]["details"]["statusCode"] == 421
    # Nothing the suite sent (unknown tools, prompts and resources of its fixture server included) made the
    # server log a traceback.
    assert "Traceback" not in served.server.log(), served.server.log()[-4000:]


async def test_prompts_and_completion_over_http(served: Served):
    """The SDK client over Streamable HTTP: a missing prompt argument is invalid params; terms are completed for a
    role that may list them and not for one that may not."""
    async with http_client(served.server, {"Authorization": f"Bearer {served.keys['admin']}"}) as admin:
        year = await call_ok(admin, "create_academic_year", {"code": "2030-31", "name": "Academic year 2030-31",
                                                            "start_date": "2030-09-01", "end_date": "2031-06-30"})
        await call_ok(admin, "create_term", {"academic_year_id": year["id"], "number": 1, "name": "Autumn term",
                                             "start_date": "2030-09-01", "end_date": "2030-12-18"})
        with pytest.raises(MCPError) as missing:
            await admin.get_prompt("review_class_grades", {"class_code": "7B-MATH"})
        assert missing.value.code == types.INVALID_PARAMS and "'term'" in missing.value.message

        ref = types.PromptReference(type="ref/prompt", name="review_class_grades")
        got = (await admin.complete(ref, {"name": "term", "value": "aut"})).completion
        assert got.values == ["Autumn term"] and got.total == 1 and got.has_more is False
    async with http_client(served.server, {"Authorization": f"Bearer {served.keys['bursar']}"}) as bursar:
        got = (await bursar.complete(ref, {"name": "term", "value": "aut"})).completion
        assert got.values == [] and got.total == 0
    assert "Traceback" not in served.server.log(), served.server.log()[-4000:]
