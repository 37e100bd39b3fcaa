"""The MCP Inspector's CLI lists and calls the tools of `mcs-erp serve --stdio`.

The Inspector is an npm package. It is installed once per checkout into `.cache/mcp-inspector-<version>/`
(about 30 s from a clean machine, 10 s with a warm npm cache, nothing afterwards) instead of `npx -y` on every
run, which re-resolves the package each time. Without Node.js the test skips locally and fails under CI.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import IN_CI
from tests.server.e2e_helpers import REPO_ROOT, E2EDatabase, e2e_database, init_database

pytestmark = pytest.mark.e2e

# 0.15.0 is the newest Inspector that runs on Node 20; 0.16 and later need Node >= 22.7.5 and npm would
# otherwise pick a different release depending on the machine's Node.
INSPECTOR_VERSION = "0.15.0"
INSPECTOR_PACKAGE = f"@modelcontextprotocol/inspector@{INSPECTOR_VERSION}"
CACHE_DIR = REPO_ROOT / ".cache"
INSPECTOR_DIR = CACHE_DIR / f"mcp-inspector-{INSPECTOR_VERSION}"
INSPECTOR_BIN = INSPECTOR_DIR / "node_modules" / "@modelcontextprotocol" / "inspector" / "cli" / "build" / "cli.js"
INSTALL_TIMEOUT = 300.0
RUN_TIMEOUT = 120.0


def _require_node() -> tuple[str, str]:
    """Return the paths of node and npm; skip without them, but fail under CI where they must be installed."""
    node, npm, npx = shutil.which("node"), shutil.which("npm"), shutil.which("npx")
    if node and npm and npx:
        return node, npm
    missing = ", ".join(name for name, path in (("node", node), ("npm", npm), ("npx", npx)) if not path)
    if IN_CI:
        pytest.fail(f"{missing} not found: CI must install Node.js and npm for the MCP Inspector test")
    pytest.skip(f"{missing} not found: install Node.js to run the MCP Inspector test")


async def _run(*cmd: str, timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*cmd, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        raise AssertionError(f"{' '.join(cmd)} did not finish within {timeout:.0f}s") from None
    finally:
        if proc.returncode is None:  # timed out or cancelled: do not leave the process behind
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode(), err.decode()


async def install_inspector(npm: str) -> Path:
    """Install the pinned Inspector under .cache/ unless it is there; return its launcher script."""
    if INSPECTOR_BIN.exists():
        return INSPECTOR_BIN
    CACHE_DIR.mkdir(exist_ok=True)
    # Install into a private directory, then rename it into place: concurrent test runs never see a half install.
    staging = CACHE_DIR / f".mcp-inspector-{uuid.uuid4().hex[:8]}"
    try:
        code, out, err = await _run(npm, "install", "--prefix", str(staging), "--no-save", "--no-package-lock",
                                    "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error",
                                    INSPECTOR_PACKAGE, timeout=INSTALL_TIMEOUT)
        assert code == 0, f"npm install {INSPECTOR_PACKAGE} failed:\n{out}\n{err}"
        try:
            staging.rename(INSPECTOR_DIR)
        except OSError:
            if not INSPECTOR_BIN.exists():  # not a concurrent run that won the rename
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    assert INSPECTOR_BIN.exists(), f"{INSPECTOR_PACKAGE} installed without {INSPECTOR_BIN}"
    return INSPECTOR_BIN


async def inspector(node: str, launcher: Path, db: E2EDatabase, *args: str) -> dict:
    """Run `mcp-inspector --cli -e ... <python -m server.cli serve --stdio> ARGS` and return its JSON output."""
    # The server's settings reach it only through -e: the Inspector's own environment carries no MCS_ERP_*.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCS_ERP_")}
    server_env = db.server_env(MCS_ERP_STDIO_USER="admin")
    options = [arg for key, value in server_env.items() for arg in ("-e", f"{key}={value}")]
    target = [sys.executable, "-m", "server.cli", "serve", "--stdio"]
    code, out, err = await _run(node, str(launcher), "--cli", *options, *target, *args, timeout=RUN_TIMEOUT,
                                cwd=db.workdir, env=env)
    assert code == 0, f"inspector {' '.join(args)} exited {code}:\n{out}\n{err}"
    start = out.find("{")
    assert start >= 0, f"no JSON in the inspector's output:\n{out}\n{err}"
    return json.loads(out[start:])


async def department_codes(db: E2EDatabase) -> set[str]:
    engine = create_async_engine(db.url)
    try:
        async with engine.connect() as conn:
            return {row.code for row in await conn.execute(text("SELECT code FROM departments"))}
    finally:
        await engine.dispose()


async def test_inspector_cli_lists_and_calls_tools(tmp_path):
    node, npm = _require_node()
    async with e2e_database(tmp_path) as db:
        launcher, _ = await asyncio.gather(install_inspector(npm), init_database(db))
        listing, me, created = await asyncio.gather(
            inspector(node, launcher, db, "--method", "tools/list"),
            inspector(node, launcher, db, "--method", "tools/call", "--tool-name", "get_me"),
            inspector(node, launcher, db, "--method", "tools/call", "--tool-name", "create_department",
                      "--tool-arg", "code=ARTS", "name=Visual arts"))

        tools = {tool["name"]: tool for tool in listing["tools"]}
        assert len(tools) >= 30, sorted(tools)
        assert tools["change_grade"]["annotations"]["destructiveHint"] is True
        assert tools["list_students"]["annotations"]["readOnlyHint"] is True
        assert all("inputSchema" in t and "outputSchema" in t for t in tools.values())

        assert me.get("isError") is not True, me
        assert me["structuredContent"]["username"] == "admin"
        assert me["structuredContent"]["channel"] == "mcp-stdio"
        assert json.loads(me["content"][0]["text"])["username"] == "admin"

        assert created.get("isError") is not True, created
        assert created["structuredContent"]["code"] == "ARTS"
        assert created["structuredContent"]["name"] == "Visual arts"
        # The department is in the test's database, so the -e settings reached the server.
        assert "ARTS" in await department_codes(db)
