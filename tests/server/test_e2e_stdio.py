"""The acceptance flow over stdio: `mcs-erp serve --stdio` subprocesses driven by the MCP SDK's client.

Each user gets their own stdio server process (MCS_ERP_STDIO_USER differs) on the same fresh database, as
Claude Desktop users on one machine would.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.server.e2e_helpers import (
    ADMIN_A,
    ADMIN_B,
    CALL_TIMEOUT,
    CLI,
    CLI_TIMEOUT,
    TEACHER,
    KeySpec,
    call_error,
    call_ok,
    check_catalogue,
    create_keys,
    e2e_database,
    grading_flow,
    init_database,
    run_cli,
    seed_school,
    stdio_client,
    teacher_keys,
    verify_audit,
)

pytestmark = pytest.mark.e2e


async def test_acceptance_flow_over_stdio(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        async with stdio_client(db, ADMIN_A) as admin_a:
            me = await call_ok(admin_a, "get_me")
            assert me["username"] == ADMIN_A and me["roles"] == ["admin"] and me["channel"] == "mcp-stdio"
            await check_catalogue(admin_a)
            school = await seed_school(admin_a)
            # Users of the other stdio servers: a second admin, and teachers linked to their employee records.
            await create_keys(db, [KeySpec(ADMIN_B, "admin"), *teacher_keys(school)])
            async with stdio_client(db, TEACHER) as teacher, stdio_client(db, ADMIN_B) as admin_b:
                teacher_me = await call_ok(teacher, "get_me")
                assert teacher_me["roles"] == ["teacher"] and teacher_me["employee_id"] == school.teacher_ids[0]
                await grading_flow(db, school, admin_a=admin_a, admin_b=admin_b, teacher=teacher)
                # Teachers cannot create school structure even if they try.
                refused = await call_error(teacher, "create_subject", {"code": "ART", "name": "Art"})
                assert refused.startswith("error: permission_denied"), refused
        assert await verify_audit(db) > 20


async def test_stdio_server_refuses_an_unknown_user(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        result = await run_cli(db, "serve", "--stdio", check=False, env={"MCS_ERP_STDIO_USER": "nobody"})
        assert result.returncode == 2, result
        assert "user 'nobody' does not exist" in result.stderr and "keys create" in result.stderr, result.stderr


async def exchange(proc: asyncio.subprocess.Process, message: dict[str, Any]) -> dict[str, Any]:
    """Send one JSON-RPC request over the server's stdin and return its answer (skipping notifications)."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    await proc.stdin.drain()
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), CALL_TIMEOUT)
        assert line, f"the server closed stdout before answering {message['method']}"
        answer = json.loads(line)
        if answer.get("id") == message["id"]:
            return answer


async def test_initialize_is_answered_before_the_start_and_a_failed_start_answers_each_request(tmp_path):
    """A stdio server answers `initialize` before its start (database, user, catalogue, job runner), which follows
    the client's next message: even with an unknown user, initialize is answered; then each request says what is
    wrong, stderr says it once, and the server exits 2 when the client leaves."""
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        proc = await asyncio.create_subprocess_exec(
            *CLI, "serve", "--stdio", cwd=db.workdir, env=db.env(MCS_ERP_STDIO_USER="nobody"),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            hello = await exchange(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}})
            assert hello["result"]["serverInfo"]["name"] == "mcs-erp", hello
            assert "tools" in hello["result"]["capabilities"], hello
            proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
            listed = await exchange(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            assert "user 'nobody' does not exist" in listed["error"]["message"], listed
            called = await exchange(proc, {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                           "params": {"name": "get_me", "arguments": {}}})
            assert called["result"]["isError"], called
            assert "user 'nobody' does not exist" in called["result"]["content"][0]["text"], called
            proc.stdin.close()  # the client leaves
            await asyncio.wait_for(proc.wait(), CLI_TIMEOUT)
            err = await proc.stderr.read()
            assert proc.returncode == 2, err
            assert err.decode().count("error: user 'nobody' does not exist; run `mcs-erp init`") == 1, err
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
