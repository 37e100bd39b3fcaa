"""The acceptance flow over Streamable HTTP: one `mcs-erp serve --http` process, API keys per user.

The server, its database, the users' keys and the seeded school are shared by the module's tests; each test
touches only what it asserts on (the grading flow is the only one that changes grades).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.server.e2e_helpers import (
    ADMIN_A,
    ADMIN_B,
    OTHER_TEACHER,
    TEACHER,
    E2EDatabase,
    HttpServer,
    KeySpec,
    School,
    call_error,
    call_ok,
    check_catalogue,
    create_keys,
    e2e_database,
    grading_flow,
    http_client,
    http_clients,
    http_server,
    init_database,
    seed_school,
    teacher_keys,
    verify_audit,
)

pytestmark = pytest.mark.e2e

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@dataclass
class ServedSchool:
    db: E2EDatabase
    server: HttpServer
    keys: dict[str, str]
    school: School


@pytest.fixture(scope="module")
async def served(tmp_path_factory) -> AsyncIterator[ServedSchool]:
    """A fresh database with a seeded school behind one HTTP server, and keys for two admins and two teachers."""
    async with e2e_database(tmp_path_factory.mktemp("e2e-http")) as db:
        await init_database(db)
        # The admins' keys are made while the server starts; the teachers' need the seeded employees.
        # Made by `mcs-erp keys create` subprocesses, as a user makes them (other e2e tests make theirs in-process).
        admin_keys = asyncio.ensure_future(create_keys(db, [KeySpec(ADMIN_A), KeySpec(ADMIN_B, "admin")],
                                                       as_subprocess=True))
        try:
            async with http_server(db) as server:
                keys = await admin_keys
                async with http_client(server, {"Authorization": f"Bearer {keys[ADMIN_A]}"}) as admin:
                    school = await seed_school(admin)
                keys |= await create_keys(db, teacher_keys(school))
                yield ServedSchool(db, server, keys, school)
        finally:
            if not admin_keys.done():  # the server failed to start: stop the key subprocesses too
                admin_keys.cancel()
                with contextlib.suppress(BaseException):
                    await admin_keys


async def test_acceptance_flow_over_http(served: ServedSchool):
    connect = http_clients(served.server, served.keys)
    async with connect(ADMIN_A) as admin_a, connect(ADMIN_B) as admin_b, connect(TEACHER) as teacher:
        me = await call_ok(admin_a, "get_me")
        assert me["username"] == ADMIN_A and me["channel"] == "mcp-http"
        await check_catalogue(admin_a)
        await grading_flow(served.db, served.school, admin_a=admin_a, admin_b=admin_b, teacher=teacher)
    assert await verify_audit(served.db) > 20


async def test_a_request_without_an_api_key_gets_401_with_a_json_body(served: ServedSchool):
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(served.server.mcp_url, json=LIST_TOOLS, headers=MCP_HEADERS)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    body = response.json()
    assert body["error"] == "unauthenticated"
    assert "Authorization: Bearer" in body["detail"] and "X-API-Key" in body["detail"]


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
async def test_a_wrong_api_key_gets_401(served: ServedSchool, header: str):
    wrong = "mcs_" + "x" * 43
    value = f"Bearer {wrong}" if header == "Authorization" else wrong
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(served.server.mcp_url, json=LIST_TOOLS, headers={**MCP_HEADERS, header: value})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthenticated" and "unknown or revoked" in body["detail"]
    assert wrong not in response.text


async def test_the_x_api_key_header_authenticates_too(served: ServedSchool):
    async with http_client(served.server, {"X-API-Key": served.keys[ADMIN_B]}) as client:
        me = await call_ok(client, "get_me")
    assert me["username"] == ADMIN_B and me["roles"] == ["admin"]


async def test_a_teacher_sees_only_the_tools_of_their_role(served: ServedSchool):
    async with http_clients(served.server, served.keys)(OTHER_TEACHER) as teacher:
        names = {tool.name for tool in (await teacher.list_tools()).tools}
        me = await call_ok(teacher, "get_me")
        # Row scope: the other teacher cannot grade a class they do not teach.
        refused = await call_error(teacher, "record_grade", {"assessment_id": served.school.assessment_ids[1],
                                                             "student_id": served.school.student_ids[2],
                                                             "score": 10})
    assert me["username"] == OTHER_TEACHER and me["employee_id"] == served.school.teacher_ids[1]
    assert {"record_grade", "change_grade", "confirm_action", "list_classes", "get_me"} <= names
    assert not names & {"approve_action", "reject_action", "publish_term_grades", "create_employee",
                        "terminate_employee"}
    assert refused.startswith("error: permission_denied"), refused
