"""Two schools on one `mcs-erp serve --http` server, each through its own tenant's API key over Streamable HTTP:
what one writes the other never sees, and a suspended tenant's key is refused with 403."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.server.e2e_helpers import call_ok, e2e_database, http_client, http_server, init_database, \
    run_cli_in_process

pytestmark = pytest.mark.e2e


async def test_two_tenants_on_one_http_server(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = {}
        for code in ("north", "south"):
            out = await run_cli_in_process(db, "tenants", "create", code, "--name", f"{code.title()} Campus")
            keys[code] = re.search(r"(mcs_\w+\.\S+)", out.stdout).group(1)
        async with http_server(db) as server:
            async with http_client(server, {"Authorization": f"Bearer {keys['north']}"}) as north, \
                    http_client(server, {"X-API-Key": keys["south"]}) as south:
                await call_ok(north, "create_department", {"code": "NORTH-SCI", "name": "Science"})
                await call_ok(south, "create_department", {"code": "SOUTH-ART", "name": "Art"})
                assert [d["code"] for d in (await call_ok(north, "list_departments"))["items"]] == ["NORTH-SCI"]
                assert [d["code"] for d in (await call_ok(south, "list_departments"))["items"]] == ["SOUTH-ART"]
                events = await call_ok(north, "list_audit_events")
                assert {e["tool"] for e in events["items"]} >= {"create_department"}
                assert "SOUTH-ART" not in str(events)
            await run_cli_in_process(db, "tenants", "suspend", "south")
            async with httpx.AsyncClient(base_url=server.base_url) as client:
                refused = await client.post("/mcp", headers={"Authorization": f"Bearer {keys['south']}"},
                                            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                assert refused.status_code == 403 and refused.json()["error"] == "tenant_suspended", refused.text
                forged = keys["north"].replace("mcs_north.", "mcs_south.")  # not a key of south: 401, not 403
                assert (await client.post("/mcp", headers={"Authorization": f"Bearer {forged}"},
                                          json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                        ).status_code == 401
