"""`mcs-erp serve --stdio` in a tenant (MCS_ERP_TENANT): its calls read and write that tenant only; a suspended,
unknown or malformed tenant stops the server with a clear error."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from tests.server.e2e_helpers import (CALL_TIMEOUT, E2EDatabase, call_ok, e2e_database, init_database, run_cli,
                                      run_cli_in_process)

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def stdio_in(db: E2EDatabase, tenant: str | None) -> AsyncIterator[Client]:
    env = db.server_env(MCS_ERP_STDIO_USER="admin", **({"MCS_ERP_TENANT": tenant} if tenant else {}))
    params = StdioServerParameters(command=sys.executable, args=["-m", "server.cli", "serve", "--stdio"], env=env,
                                   cwd=db.workdir)
    async with Client(params, read_timeout_seconds=CALL_TIMEOUT) as client:
        yield client


async def test_a_stdio_server_acts_in_its_tenant(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        for code in ("north", "south"):
            await run_cli_in_process(db, "tenants", "create", code, "--name", f"{code.title()} Campus")
        async with stdio_in(db, "north") as north:
            created = await call_ok(north, "create_department", {"code": "NORTH-SCI", "name": "Science"})
            listed = await call_ok(north, "list_departments")
            assert [d["code"] for d in listed["items"]] == ["NORTH-SCI"] and listed["items"][0]["id"] == created["id"]
        for other in ("south", None):
            async with stdio_in(db, other) as client:
                assert (await call_ok(client, "list_departments"))["items"] == [], other

        await run_cli_in_process(db, "tenants", "suspend", "south")
        suspended = await run_cli(db, "serve", "--stdio", check=False, env={"MCS_ERP_TENANT": "south"})
        assert suspended.returncode == 2 and "tenant 'south' (South Campus) is suspended" in suspended.stderr
        unknown = await run_cli(db, "serve", "--stdio", check=False, env={"MCS_ERP_TENANT": "nowhere"})
        assert unknown.returncode == 2 and "no tenant with code 'nowhere'" in unknown.stderr, unknown.stderr
        malformed = await run_cli(db, "serve", "--stdio", check=False, env={"MCS_ERP_TENANT": "North!"})
        assert malformed.returncode == 2 and "MCS_ERP_TENANT" in malformed.stderr, malformed.stderr
