"""Toolsets through the real MCP SDK client over Streamable HTTP and stdio (issue 16, acceptance): the default
listing of each role, the `?toolsets=` URL parameter and the MCS_ERP_TOOLSETS setting, the discovery tools with
notifications/tools/list_changed on a protocol with a session (and the reconnect URL without one), and a tool
called by name outside the listing (it works; the roles still decide).

One HTTP server and its database serve the module; the stdio test runs its own `mcs-erp serve --stdio` on it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from domain.kernel.actor import Actor, Channel, Role
from tests.server.e2e_helpers import (
    CALL_TIMEOUT,
    DESTRUCTIVE_TOOLS,
    E2EDatabase,
    HttpServer,
    KeySpec,
    call_error,
    call_ok,
    create_keys,
    e2e_database,
    http_server,
    init_database,
)
from tools.modules import all_modules
from tools.registry import build_catalogue
from tools.toolsets import Listing, listed_tools, parse_toolsets

pytestmark = pytest.mark.e2e

CATALOGUE = build_catalogue(all_modules())
USERS = {"admin": Role.ADMIN, "ts-teacher": Role.TEACHER, "ts-registrar": Role.REGISTRAR, "ts-bursar": Role.FINANCE,
         "ts-payroll": Role.PAYROLL, "ts-hr": Role.HR, "ts-viewer": Role.VIEWER}
MODERN = "2026-07-28"  # the sessionless protocol version (no initialize, no Mcp-Session-Id)


def actor_with(role: Role) -> Actor:
    return Actor(id=1, username="x", roles=frozenset({role}), channel=Channel.MCP_HTTP)


def expected(role: Role, widened: str = "") -> set[str]:
    listing = Listing(widened=parse_toolsets(widened))
    return {spec.name for spec in listed_tools(CATALOGUE, actor_with(role), listing)}


@dataclass
class Served:
    db: E2EDatabase
    server: HttpServer
    keys: dict[str, str]


@pytest.fixture(scope="module")
async def served(tmp_path_factory) -> AsyncIterator[Served]:
    async with e2e_database(tmp_path_factory.mktemp("e2e-toolsets")) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(user, None if user == "admin" else role.value)
                                      for user, role in USERS.items()])
        async with http_server(db) as server:
            yield Served(db, server, keys)


class Notes:
    """The server notifications a client received."""

    def __init__(self) -> None:
        self.items: list[object] = []

    async def __call__(self, message) -> None:
        if isinstance(message, types.ServerNotification):
            self.items.append(getattr(message, "root", message))

    def list_changed(self) -> int:
        return sum(isinstance(item, types.ToolListChangedNotification) for item in self.items)


@asynccontextmanager
async def connect(served: Served, user: str, *, query: str = "", mode: str = "auto",
                  notes: Notes | None = None) -> AsyncIterator[Client]:
    timeout = httpx2.Timeout(30.0, read=CALL_TIMEOUT)
    async with (httpx2.AsyncClient(headers={"Authorization": f"Bearer {served.keys[user]}"}, timeout=timeout) as http,
                Client(streamable_http_client(served.server.mcp_url + query, http_client=http), mode=mode,
                       read_timeout_seconds=CALL_TIMEOUT, message_handler=notes) as client):
        yield client


async def listed(client: Client) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def test_the_default_listing_of_each_role(served: Served):
    for user, role in USERS.items():
        async with connect(served, user) as client:
            shown = await listed(client)
        assert shown == expected(role), (user, sorted(shown ^ expected(role)))
        assert {"list_toolsets", "enable_toolsets", "get_me", "list_pending_actions"} <= shown, user
    assert "record_grade" in expected(Role.TEACHER) and "list_invoices" in expected(Role.FINANCE)


async def test_the_url_widens_the_listing_within_the_roles(served: Served):
    async with connect(served, "admin", query="?toolsets=fees,ledger") as admin:
        shown = await listed(admin)
    assert shown == expected(Role.ADMIN, "fees,ledger")
    assert {"list_invoices", "get_trial_balance", "approve_action"} <= shown and "create_subject" not in shown
    async with connect(served, "admin", query="?toolsets=all") as admin:
        tools = {tool.name: tool for tool in (await admin.list_tools()).tools}
    # every tool an admin may call: all of them but a guardian's own (tools/family.py)
    assert set(tools) == {s.name for s in CATALOGUE.for_actor(actor_with(Role.ADMIN))}
    assert set(CATALOGUE.tools) - set(tools) == {s.name for s in CATALOGUE.tools.values()
                                                 if s.roles == frozenset({Role.GUARDIAN})}
    for name in DESTRUCTIVE_TOOLS:
        assert tools[name].annotations.destructive_hint is True and not tools[name].annotations.read_only_hint
    async with connect(served, "ts-teacher", query="?toolsets=all") as teacher:
        assert await listed(teacher) == {s.name for s in CATALOGUE.for_actor(actor_with(Role.TEACHER))}


async def test_an_unknown_toolset_in_the_url_is_refused_naming_the_known_ones(served: Served):
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(served.server.mcp_url + "?toolsets=fees,feez", headers={
            "Authorization": f"Bearer {served.keys['admin']}", "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json"}, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert response.status_code == 422  # invalid_input, as every refused argument
    body = response.json()
    assert body["error"] == "invalid_input" and "'feez'" in body["detail"] and "gradebook" in body["detail"]


async def test_enable_toolsets_on_an_http_session_sends_list_changed(served: Served):
    notes = Notes()
    async with connect(served, "ts-teacher", mode="legacy", notes=notes) as teacher, \
            connect(served, "ts-teacher", mode="legacy") as other_session:
        assert "list_students" not in await listed(teacher)
        out = await call_ok(teacher, "enable_toolsets", {"toolsets": ["students"]})
        assert out["session"] is True and out["enabled"] == ["students"] and "list_students" in out["tools_added"]
        assert notes.list_changed() == 1, notes.items
        assert await listed(teacher) == expected(Role.TEACHER, "students")
        assert "list_students" not in await listed(other_session)  # another session keeps its own listing
        rows = {row["name"]: row for row in (await call_ok(teacher, "list_toolsets"))["items"]}
        assert rows["students"]["listed"] is True and rows["students"]["default"] is False


async def test_enable_toolsets_without_a_session_gives_the_url_to_reconnect_with(served: Served):
    notes = Notes()
    async with connect(served, "ts-teacher", mode=MODERN, notes=notes) as teacher:
        assert teacher.protocol_version == MODERN
        out = await call_ok(teacher, "enable_toolsets", {"toolsets": ["students"]})
        assert out["session"] is False and out["enabled"] == ["students"]
        assert out["reconnect"] == served.server.mcp_url + "?toolsets=students", out
        assert "list_students" not in await listed(teacher) and notes.list_changed() == 0
    async with connect(served, "ts-teacher", query="?toolsets=students", mode=MODERN) as again:
        assert await listed(again) == expected(Role.TEACHER, "students")


async def test_a_tool_outside_the_listing_works_by_name(served: Served):
    async with connect(served, "ts-teacher") as teacher:
        shown = await listed(teacher)
        assert "list_students" not in shown and "create_subject" not in shown
        page = await call_ok(teacher, "list_students", {"limit": 5})
        assert page["items"] == [] and page["next_cursor"] is None
        refused = await call_error(teacher, "create_subject", {"code": "ART", "name": "Art"})
        assert refused.startswith("error: permission_denied"), refused


async def test_over_stdio_the_setting_widens_and_enable_sends_list_changed(served: Served):
    env = served.db.server_env(MCS_ERP_STDIO_USER="ts-registrar", MCS_ERP_TOOLSETS="gradebook,fees")
    params = StdioServerParameters(command=sys.executable, args=["-m", "server.cli", "serve", "--stdio"], env=env,
                                   cwd=served.db.workdir)
    notes = Notes()
    async with Client(params, mode="legacy", read_timeout_seconds=CALL_TIMEOUT, message_handler=notes) as registrar:
        shown = await listed(registrar)
        # The setting adds gradebook; fees has no tool a registrar may call, so nothing of it is listed.
        assert shown == expected(Role.REGISTRAR, "gradebook,fees")
        assert "record_grade" in shown and "list_invoices" not in shown and "create_subject" not in shown
        created = await call_ok(registrar, "create_subject", {"code": "ART", "name": "Art"})  # by name
        assert created["code"] == "ART"
        out = await call_ok(registrar, "enable_toolsets", {"toolsets": ["school_setup", "gradebook"]})
        assert out["session"] is True and out["enabled"] == ["school_setup"], out
        assert notes.list_changed() == 1, notes.items
        assert await listed(registrar) == expected(Role.REGISTRAR, "gradebook,school_setup")
    bad = served.db.server_env(MCS_ERP_STDIO_USER="admin", MCS_ERP_TOOLSETS="fees,feez")
    from tests.server.e2e_helpers import run_process

    result = await run_process(sys.executable, "-m", "server.cli", "serve", "--stdio", timeout=60,
                               cwd=served.db.workdir, env={**served.db.env(), **bad})
    assert result.returncode == 2 and "unknown toolset 'feez' in MCS_ERP_TOOLSETS" in result.stderr, result
