"""DNS-rebinding protection across the whole HTTP app (server/host_check.py): a foreign Host gets 421 and a foreign
Origin 403 on /v1, /admin and /mcp alike; the app's own names are served; probes stay open to any Host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette

from domain.identity.service import create_api_key
from domain.kernel.settings import Settings
from server.app import create_app
from server.host_check import host_policy
from tests.factories import unique
from tests.server.e2e_helpers import e2e_database, http_server, init_database
from tools.runtime import Runtime

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "host-test", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
FOREIGN_HOSTS = ("evil.example", "evil.example:8000", "127.0.0.1.evil.example:8000", "localhost:8001", "")


@pytest.fixture(scope="module")
async def admin_key(rt) -> str:
    async with rt.db.write() as session:
        return (await create_api_key(session, username=unique("host-admin-").lower(), roles="admin")).secret


@asynccontextmanager
async def client_of(app: Starlette, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the ASGI app with its lifespan running (the MCP session manager needs it)."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
        yield client


async def _requests(client: httpx.AsyncClient, key: str, headers: dict[str, str]) -> dict[str, httpx.Response]:
    """One request to each protected surface, with `headers` (Host, Origin) added."""
    auth = {"Authorization": f"Bearer {key}"}
    return {
        "v1": await client.get("/v1/threads", headers={**auth, **headers}),
        "admin sign-in": await client.get("/admin/sign-in", headers=headers),
        "admin root": await client.get("/admin", headers=headers),
        "mcp": await client.post("/mcp", json=INITIALIZE, headers={**auth, **MCP_HEADERS, **headers}),
    }


async def test_a_foreign_host_is_refused_everywhere_and_the_servers_names_are_served(rt, admin_key):
    app = create_app(rt, host="127.0.0.1", port=8000, own_runtime=False)
    async with client_of(app, "http://127.0.0.1:8000") as client:
        for good in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"):
            served = await _requests(client, admin_key, {"Host": good})
            assert served["v1"].status_code == 200 and "items" in served["v1"].json(), (good, served["v1"].text)
            assert served["admin sign-in"].status_code == 200 and "<form" in served["admin sign-in"].text
            assert served["admin root"].status_code == 303
            assert served["mcp"].status_code == 200, (good, served["mcp"].text)
        for foreign in FOREIGN_HOSTS:
            for surface, response in (await _requests(client, admin_key, {"Host": foreign})).items():
                assert response.status_code == 421, (foreign, surface, response.status_code)
                body = response.json()
                assert body["error"] == "misdirected_request", body
                assert ("MCS_ERP_ALLOWED_HOSTS" in body["detail"]) if foreign else "Host header is required" in \
                    body["detail"]


async def test_a_foreign_origin_is_refused_and_the_pages_own_origin_is_not(rt, admin_key):
    app = create_app(rt, host="127.0.0.1", port=8000, own_runtime=False)
    async with client_of(app, "http://127.0.0.1:8000") as client:
        for origin in ("http://evil.example", "http://127.0.0.1:8000.evil.example", "null", "http://localhost:9"):
            for surface, response in (await _requests(client, admin_key, {"Origin": origin})).items():
                assert response.status_code == 403, (origin, surface, response.status_code)
                assert response.json()["error"] == "forbidden"
        for origin in ("http://127.0.0.1:8000", "http://localhost:8000", "https://127.0.0.1:8000"):
            served = await _requests(client, admin_key, {"Origin": origin})
            assert {s: r.status_code for s, r in served.items()} == {
                "v1": 200, "admin sign-in": 200, "admin root": 303, "mcp": 200}, origin


async def test_probes_answer_any_host(rt):
    """Orchestrators probe by pod or container IP (a kubelet sends the pod IP as Host), so these stay open."""
    app = create_app(rt, host="127.0.0.1", port=8000, own_runtime=False)
    async with client_of(app, "http://10.1.2.3:8000") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).json()["status"] == "ready"
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/v1/threads")).status_code == 421


async def test_bound_to_all_interfaces_the_allowed_hosts_setting_decides(database_url, admin_key):
    runtime = Runtime.create(Settings(database_url=database_url, key_cache_seconds=0,
                                      allowed_hosts="erp.school.example, 10.0.0.5:8000"))
    try:
        app = create_app(runtime, host="0.0.0.0", port=8000, own_runtime=False)
        async with client_of(app, "http://erp.school.example") as client:
            for good in ("erp.school.example", "erp.school.example:8443", "10.0.0.5:8000", "localhost:8000"):
                served = await _requests(client, admin_key, {"Host": good})
                assert {s: r.status_code for s, r in served.items()} == {
                    "v1": 200, "admin sign-in": 200, "admin root": 303, "mcp": 200}, good
            for foreign in ("evil.example", "10.0.0.5:8001", "0.0.0.0:8000", "10.0.0.6:8000"):
                served = await _requests(client, admin_key, {"Host": foreign})
                assert {r.status_code for r in served.values()} == {421}, foreign
            refused = await client.get("/v1/threads", headers={"Host": "erp.school.example",
                                                               "Origin": "https://evil.example"})
            assert refused.status_code == 403
    finally:
        await runtime.close()


def test_the_policy_of_each_kind_of_bind():
    loopback = host_policy("127.0.0.1", 8000, [])
    assert loopback.enable_dns_rebinding_protection
    assert loopback.allowed_hosts == ["127.0.0.1:8000", "localhost:8000", "[::1]:8000"]
    assert "http://localhost:8000" in loopback.allowed_origins and "https://[::1]:8000" in loopback.allowed_origins
    named = host_policy("erp.school.example", 443, ["[2001:db8::5]:*"])
    assert named.allowed_hosts[-2:] == ["erp.school.example:443", "[2001:db8::5]:*"]
    assert "[2001:db8::5]" not in named.allowed_hosts  # ':*' means an explicit port, as in the MCP SDK
    assert host_policy("::1", 80, []).allowed_hosts[:2] == ["127.0.0.1", "127.0.0.1:80"]
    assert "0.0.0.0:8000" not in host_policy("0.0.0.0", 8000, []).allowed_hosts
    assert not host_policy("0.0.0.0", 8000, ["*"]).enable_dns_rebinding_protection


def test_a_bad_allowed_host_names_what_is_accepted():
    with pytest.raises(ValueError, match=r"allowed host 'https://erp.example' is not a host name or address with "
                                         r"an optional :PORT"):
        Settings(allowed_hosts="https://erp.example")
    assert Settings(allowed_hosts='["A.example", "b.example:*"]').allowed_hosts == ["a.example", "b.example:*"]


@pytest.mark.e2e
async def test_the_served_app_knows_its_port_and_the_setting(tmp_path):
    """`mcs-erp serve --http` hands host, port and MCS_ERP_ALLOWED_HOSTS to its worker processes."""
    async with e2e_database(tmp_path) as db:
        db.extra_env["MCS_ERP_ALLOWED_HOSTS"] = "erp.school.example"
        await init_database(db)
        async with http_server(db) as server, httpx.AsyncClient(base_url=server.base_url) as client:
            port = int(server.base_url.rsplit(":", 1)[1])
            for host, status in ((f"127.0.0.1:{port}", 200), (f"localhost:{port}", 200),
                                 ("erp.school.example", 200), (f"127.0.0.1:{port + 1}", 421), ("evil.example", 421)):
                assert (await client.get("/admin/sign-in", headers={"Host": host})).status_code == status, host

