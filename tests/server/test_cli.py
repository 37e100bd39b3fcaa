"""The `mcs-erp` command as a user runs it: demo, actions, keys, audit verify and tools.

The first command of each test, and each that must fail with an exit status and a message on stderr, runs as a
real `mcs-erp` subprocess (run_cli); the others run the same command through the CLI's own code in this process
(run_cli_in_process: the same settings from the same variables), sparing an interpreter's start-up (about a second
of CPU) each."""

from __future__ import annotations

import json
import re
import socket

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.kernel.actor import Channel
from domain.kernel.settings import Settings
from tests.server.e2e_helpers import e2e_database, run_cli, run_cli_in_process
from tools.invoke import invoke
from tools.runtime import Runtime

pytestmark = pytest.mark.e2e


async def test_demo_then_actions_through_the_cli(tmp_path):
    async with e2e_database(tmp_path) as db:
        first = await run_cli(db, "demo", "--no-serve", "--seed", "7")
        assert "demo school created: 600 students in 24 sections over 6 year levels" in first.stdout
        key = re.search(r"API key \(admin\): (mcs_\S+)", first.stdout)
        assert key is not None, first.stdout
        assert '"Authorization": "Bearer ' + key.group(1) in first.stdout
        assert '"serve",' in first.stdout and '"--stdio"' in first.stdout
        # --no-serve: nothing listens, so the output says how to serve instead of announcing an endpoint
        assert "MCP endpoint:" not in first.stdout
        assert "Nothing is serving (--no-serve)" in first.stdout and "mcs-erp serve --http 127.0.0.1:8000" in first.stdout
        first_key = int(re.search(r"API keys: created demo key #(\d+) for admin", first.stdout).group(1))
        if db.url.startswith("sqlite"):
            path = db.url.split("///", 1)[1]
            assert f"database: the SQLite file {path} (MCS_ERP_DATABASE_URL); to start over, stop the server and " \
                   "delete that file" in first.stdout, first.stdout

        listed = await run_cli_in_process(db, "actions", "list")
        rows = [line for line in listed.stdout.splitlines() if line.startswith("#")]
        assert len(rows) == 3 and all(" queued " in row for row in rows), listed.stdout
        by_requester = {re.search(r"by (\S+)", row).group(1): int(row[1:].split()[0]) for row in rows}
        principal_action = by_requester["principal"]
        registrar_action = next(int(r[1:].split()[0]) for r in rows if "by registrar" in r)

        shown = json.loads((await run_cli_in_process(db, "actions", "show", str(principal_action))).stdout)
        assert shown["tool"] == "publish_term_grades" and shown["preview"]["students"] == 25

        not_admin = await run_cli(db, "actions", "approve", str(registrar_action), "--as", "registrar", check=False)
        assert not_admin.returncode == 1 and "approve_action needs one of the roles: admin" in not_admin.stderr
        own = await run_cli(db, "actions", "approve", str(principal_action), "--as", "principal", check=False)
        assert own.returncode == 1 and "four-eyes" in own.stderr, own.stderr
        # The CLI is an operator tool (issue 17, finding 8): --as is who it acts as, never the requester.
        own_reject = await run_cli(db, "actions", "reject", str(principal_action), "--reason", "not my own",
                                   "--as", "principal", check=False)
        assert own_reject.returncode == 1 and "you requested action" in own_reject.stderr, own_reject.stderr
        helped = await run_cli_in_process(db, "actions", "--help")
        assert "operator tool" in helped.stdout and "four eyes" in helped.stdout, helped.stdout

        approved = await run_cli_in_process(db, "actions", "approve", str(principal_action), "--reason",
                                            "checked with HoD")
        assert f"action {principal_action}: executed" in approved.stdout
        rejected = await run_cli_in_process(db, "actions", "reject", str(registrar_action), "--reason",
                                            "two grades missing")
        assert f"action {registrar_action}: rejected" in rejected.stdout
        again = await run_cli(db, "actions", "approve", str(registrar_action), check=False)
        assert again.returncode == 1 and "rejected" in again.stderr

        second = await run_cli_in_process(db, "demo", "--no-serve", "--seed", "7")
        assert "demo school already present" in second.stdout
        replaced = re.search(r"API keys: revoked the previous demo key #(\d+); created demo key #(\d+)", second.stdout)
        assert replaced is not None and int(replaced.group(1)) == first_key, second.stdout
        keys = (await run_cli_in_process(db, "keys", "list")).stdout
        demo_rows = [line for line in keys.splitlines() if " demo " in line]
        assert len(demo_rows) == 2 and sum("active" in line for line in demo_rows) == 1, keys
        assert f"#{replaced.group(2)}" in next(line for line in demo_rows if "active" in line), keys
        assert (await run_cli(db, "audit", "verify")).stdout.startswith("audit log intact: ")


async def test_keys_and_audit_verify_detects_tampering(tmp_path):
    async with e2e_database(tmp_path) as db:
        await run_cli(db, "init")
        bad_role = await run_cli(db, "keys", "create", "--user", "sam", "--roles", "janitor", check=False)
        assert bad_role.returncode == 1 and "unknown role 'janitor'" in bad_role.stderr
        assert "registrar" in bad_role.stderr
        made = await run_cli_in_process(db, "keys", "create", "--user", "sam", "--roles", "registrar", "--name",
                                        "laptop")
        key_id = int(re.search(r"key #(\d+)", made.stdout).group(1))
        listed = await run_cli_in_process(db, "keys", "list")
        assert re.search(rf"#{key_id}\s+mcs_\S+\s+laptop\s+sam\s+registrar.*active", listed.stdout), listed.stdout
        revoked = await run_cli_in_process(db, "keys", "revoke", str(key_id))
        assert revoked.stdout.strip() == f"key #{key_id} revoked"
        twice = await run_cli(db, "keys", "revoke", str(key_id), check=False)
        assert twice.returncode == 1 and "already revoked" in twice.stderr
        assert "revoked" in (await run_cli_in_process(db, "keys", "list")).stdout

        # One audited change through the call path, then an edit of its audit row behind the tool's back.
        runtime = Runtime.create(Settings(database_url=db.url))
        admin = await runtime.actor_for_user("admin", Channel.CLI)
        await invoke(runtime, "create_department", {"code": "ARTS", "name": "Arts"}, admin)
        await runtime.close()
        # keys create, keys revoke and create_department: three audited changes
        assert "3 entries verified" in (await run_cli_in_process(db, "audit", "verify")).stdout

        engine = create_async_engine(db.url)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE audit_log SET after = :a"), {"a": '{"code":"HACK"}'})
        await engine.dispose()
        broken = await run_cli(db, "audit", "verify", check=False)
        assert broken.returncode == 1 and "BROKEN" in broken.stderr and "edited" in broken.stderr


async def test_tools_catalogue_from_the_registry(tmp_path):
    async with e2e_database(tmp_path) as db:
        printed = json.loads((await run_cli(db, "tools", "--json")).stdout)
        assert len(printed) >= 30
        for tool in printed:
            assert tool["inputSchema"]["type"] == "object" and tool["outputSchema"]["type"] == "object"
            assert tool["description"]
        destructive = {t["name"] for t in printed if t["annotations"].get("destructiveHint")}
        assert {"change_grade", "publish_term_grades", "change_locked_grade", "terminate_employee",
                "confirm_action", "approve_action"} <= destructive
        table = (await run_cli(db, "tools")).stdout
        assert re.search(r"publish_term_grades\s+term_reports\s+destructive \(approve\)", table)
        # The toolsets: name, tool count, the roles listing it by default, description (tools/toolsets.py).
        assert re.search(r"\nterm_reports\s+4 tools\s+default for: registrar\s+The end of a term", table), table
        assert re.search(r"\nbilling\s+14 tools\s+default for: -\s+", table)


async def test_a_busy_port_is_refused_before_anything_claims_to_serve(tmp_path):
    """`serve --http` and `demo` on a port another program listens on: a one-line error naming the port and the
    option that picks another, exit 1, no traceback and no 'serving' line; the demo builds nothing."""
    async with e2e_database(tmp_path) as db:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
            blocker.bind(("127.0.0.1", 0))
            blocker.listen()
            port = blocker.getsockname()[1]
            served = await run_cli(db, "serve", "--http", f"127.0.0.1:{port}", check=False)
            demo = await run_cli(db, "demo", "--port", str(port), check=False)
        assert served.returncode == 1, served
        assert served.stderr.strip() == (f"error: port {port} on 127.0.0.1 is already in use (another mcs-erp server "
                                         f"or another program); choose another with --http 127.0.0.1:{port + 1}")
        assert served.stdout == ""
        assert demo.returncode == 1 and "Traceback" not in demo.stderr and demo.stdout == "", demo
        assert f"port {port} on 127.0.0.1 is already in use" in demo.stderr
        assert f"choose another with --port {port + 1} (or --no-serve)" in demo.stderr
        bad = await run_cli(db, "serve", "--http", "127.0.0.1:99999", check=False)
        assert bad.returncode == 2 and "a port from 1 to 65535" in bad.stderr, bad


def test_clients_are_pointed_at_loopback_when_the_server_binds_all_interfaces():
    """A Host of 0.0.0.0 is refused (server/host_check.py), so the printed endpoint is the loopback one, while the
    serve command keeps the interface the user chose."""
    from server.cli import _client_configs

    printed = _client_configs("0.0.0.0", 8123, "mcs_test", serving=False)
    assert "mcs-erp serve --http 0.0.0.0:8123\nthen the MCP endpoint is http://127.0.0.1:8123/mcp" in printed
    assert '"url": "http://127.0.0.1:8123/mcp"' in printed and "http://0.0.0.0" not in printed
    assert "MCP endpoint: http://[::1]:8000/mcp (serving now" in _client_configs("::", 8000, "k", serving=True)
