"""The acceptance flow over stdio: `mcs-erp serve --stdio` subprocesses driven by the MCP SDK's client.

Each user gets their own stdio server process (MCS_ERP_STDIO_USER differs) on the same fresh database, as
Claude Desktop users on one machine would.
"""

from __future__ import annotations

import pytest

from tests.server.e2e_helpers import (
    ADMIN_A,
    ADMIN_B,
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
