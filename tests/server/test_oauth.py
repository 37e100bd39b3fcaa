"""OAuth sign-in for remote MCP clients (issue 23), against the app served by a real uvicorn on this event loop.

End to end with the official SDK's OAuthClientProvider over Streamable HTTP: a 401 points at the metadata, the
client discovers, registers, runs PKCE; an HTTP client plays the browser (sign-in with an API key, consent); then
it lists tools and calls one, refreshes, and revocation ends its access. Then the attacks, each refused with its
RFC's error code: a wrong PKCE verifier, a reused code (which also revokes what the code gave), an expired code, a
redirect URI not registered, a token or code presented by another client, a token for another resource, a
rotated (reused) refresh token revoking its family, revoked tokens, another user's grant, tenants' walls, and
scopes limiting the toolsets.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from sqlalchemy import text

from domain.hr.models import Department
from domain.identity.service import create_api_key, revoke_api_key
from domain.kernel.actor import Channel
from domain.kernel.audit import list_audit_entries
from domain.kernel.clock import utcnow
from domain.kernel.tenants import CODE_PATTERN, TenantStatus, set_status, tenant_in_use
from domain.oauth import rules
from domain.oauth import service as oauth
from server.app import create_app
from tests.conftest import own_runtime
from tests.server.e2e_helpers import free_port
from tests.tenants.helpers import add_tenant
from tools.toolsets import DISCOVERY, TOOLSETS

CALLBACK = "http://127.0.0.1:33418/callback"  # never listened on: the test reads the redirect's Location
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUEST_RE = re.compile(r'name="(?:request|next)" value="([^"]+)"')
META = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "oauth-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {}}


@dataclass
class Served:
    base: str
    rt: object
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"


@pytest.fixture(scope="module")
async def served(tmp_path_factory) -> AsyncIterator[Served]:
    """The app on a real socket whose public URL is its own address (the issuer), with three users' keys."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with own_runtime(tmp_path_factory, "oauth", public_url=base) as rt:
        s = Served(base=base, rt=rt)
        async with rt.db.write() as db:
            for user, roles in (("oa_admin", "admin"), ("oa_viewer", "viewer"), ("oa_other", "teacher")):
                issued = await create_api_key(db, username=user, roles=roles, name="oauth-test")
                s.keys[user], s.key_ids[user] = issued.secret, issued.key.id
        app = create_app(rt, port=port, own_runtime=False)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve())
        for _ in range(1000):
            if server.started:
                break
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start within 10 s"
        try:
            yield s
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 15)


# ---------------------------------------------------------------- the browser and a hand-driven client


async def browser_consent(base: str, authorize_url: str, api_key: str, *, decision: str = "approve") -> str:
    """Play the user's browser: follow /authorize to the sign-in page, sign in with `api_key`, answer the consent
    page with `decision`; return the Location the server sent the browser back to (the client's redirect URI)."""
    async with httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=30) as browser:
        r = await browser.get(authorize_url)
        assert r.status_code == 302, r.text
        consent_url = r.headers["location"]
        assert consent_url.startswith(f"{base}/oauth/consent?request="), consent_url
        r = await browser.get(consent_url)
        assert r.status_code == 200 and "API key" in r.text, r.text
        r = await browser.post("/oauth/sign-in", data={"csrf_token": CSRF_RE.search(r.text).group(1),
                                                        "next": REQUEST_RE.search(r.text).group(1),
                                                        "api_key": api_key})
        assert r.status_code == 303, r.text
        r = await browser.get(r.headers["location"])
        assert r.status_code == 200 and "Allow" in r.text, r.text
        browser.last_consent_page = r.text  # type: ignore[attr-defined]
        r2 = await browser.post("/oauth/consent", data={"csrf_token": CSRF_RE.search(r.text).group(1),
                                                         "request": REQUEST_RE.search(r.text).group(1),
                                                         "decision": decision})
        assert r2.status_code == 303, r2.text
        return r2.headers["location"]


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge (RFC 7636 section 4.2)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


@dataclass
class Grant:
    client_id: str
    verifier: str
    code: str
    redirect_uri: str


async def register(http: httpx.AsyncClient, *, redirect_uris: list[str] | None = None, scope: str | None = None,
                   name: str = "Hand client") -> dict:
    body = {"redirect_uris": redirect_uris or [CALLBACK], "client_name": name, "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"]}
    if scope is not None:
        body["scope"] = scope
    r = await http.post("/register", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def authorized(s: Served, http: httpx.AsyncClient, user: str = "oa_admin", *, scope: str | None = None,
                     client: dict | None = None, resource: str | None = None) -> Grant:
    """Register a public client (unless given) and run authorize + consent as `user`; return the code."""
    client = client or await register(http)
    verifier, challenge = pkce()
    params = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": CALLBACK,
              "code_challenge": challenge, "code_challenge_method": "S256", "state": "st-1",
              "resource": resource or s.mcp}
    if scope:
        params["scope"] = scope
    url = str(httpx.URL(f"{s.base}/authorize", params=params))
    back = await browser_consent(s.base, url, s.keys[user])
    query = parse_qs(urlsplit(back).query)
    assert back.startswith(CALLBACK) and query["state"] == ["st-1"] and query["iss"] == [s.base], back
    return Grant(client["client_id"], verifier, query["code"][0], CALLBACK)


async def token(http: httpx.AsyncClient, **form: str) -> httpx.Response:
    return await http.post("/token", data=form)


async def exchange(http: httpx.AsyncClient, g: Grant, **override: str) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": g.code, "redirect_uri": g.redirect_uri,
            "client_id": g.client_id, "code_verifier": g.verifier} | override
    return await token(http, **form)


async def mcp_status(s: Served, access_token: str) -> int:
    """The status of a ping tool call on /mcp with `access_token` (2026-07-28, no session): 200 accepted, 401
    refused."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ping", "arguments": {},
                                                                          "_meta": META}}
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.post(s.mcp, json=body, headers={
            "Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "ping"})
        assert r.status_code in (200, 401), r.text
        return r.status_code


@pytest.fixture
async def http(served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as client:
        yield client


# ---------------------------------------------------------------- end to end with the SDK's client


class MemoryStorage:
    """The SDK's TokenStorage in memory."""

    def __init__(self):
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def test_the_sdk_client_discovers_registers_signs_in_calls_refreshes_and_is_revoked(served):
    storage = MemoryStorage()
    pages: list[str] = []
    result: dict[str, AuthorizationCodeResult] = {}

    async def redirect_handler(url: str) -> None:
        back = await browser_consent(served.base, url, served.keys["oa_admin"])
        q = parse_qs(urlsplit(back).query)
        result["r"] = AuthorizationCodeResult(code=q["code"][0], state=q["state"][0], iss=q["iss"][0])
        pages.append(url)

    async def callback_handler() -> AuthorizationCodeResult:
        return result.pop("r")

    provider = OAuthClientProvider(
        served.mcp, OAuthClientMetadata(redirect_uris=[CALLBACK], client_name="Claude (test)",
                                        grant_types=["authorization_code", "refresh_token"],
                                        token_endpoint_auth_method="client_secret_post"),
        storage, redirect_handler=redirect_handler, callback_handler=callback_handler)
    async with (httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0)) as http2,
                Client(streamable_http_client(served.mcp, http_client=http2), read_timeout_seconds=30) as client):
        tools = {t.name for t in (await client.list_tools()).tools}
        me = await client.call_tool("get_me", {})
        assert not me.is_error, me
        assert me.structured_content["username"] == "oa_admin"
    assert pages and "get_me" in tools
    assert storage.client is not None and storage.client.client_secret  # confidential: a secret was issued
    first = storage.tokens
    assert first is not None and first.access_token.startswith("mcsat_") and first.refresh_token
    assert await mcp_status(served, first.access_token) == 200

    # Only hashes are stored: no row holds a value.
    async with served.rt.db.read() as db:
        values = " ".join(str(v) for row in (await db.exec(text("SELECT * FROM oauth_tokens"))).all() for v in row)
        stored_secret = (await db.exec(text("SELECT secret_hash FROM oauth_clients WHERE client_id = :c"),
                                       params={"c": storage.client.client_id})).one()[0]
    assert first.access_token not in values and first.refresh_token not in values
    assert stored_secret == rules.hash_secret(storage.client.client_secret)

    # Refresh (client_secret_post): a new pair; the old access token stops working (rotation revokes it).
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
        r = await token(http, grant_type="refresh_token", refresh_token=first.refresh_token,
                        client_id=storage.client.client_id, client_secret=storage.client.client_secret)
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["refresh_token"] != first.refresh_token and second["access_token"] != first.access_token
        assert await mcp_status(served, second["access_token"]) == 200
        assert await mcp_status(served, first.access_token) == 401
        # Without the client's secret the refresh is refused as an unauthenticated client.
        r = await token(http, grant_type="refresh_token", refresh_token=second["refresh_token"],
                        client_id=storage.client.client_id, client_secret="wrong")
        assert r.status_code == 401 and r.json()["error"] == "invalid_client"
        # RFC 7009 revocation ends access (the key cache is 0 s in tests).
        r = await http.post("/revoke", data={"token": second["access_token"], "client_id": storage.client.client_id,
                                             "client_secret": storage.client.client_secret})
        assert r.status_code == 200
    assert await mcp_status(served, second["access_token"]) == 401

    # Audited at issue, refresh and revocation, never with a value.
    async with served.rt.db.read() as db:
        entries = [e for e in await list_audit_entries(db, tool="oauth", limit=200)]
    events = {e.event for e in entries}
    assert {"granted", "issued", "refreshed", "revoked"} <= events, events
    blob = " ".join(f"{e.arguments} {e.before} {e.after}" for e in entries)
    for value in (first.access_token, first.refresh_token, second["access_token"], second["refresh_token"]):
        assert value not in blob


async def test_a_401_names_the_protected_resource_metadata_and_the_metadata_documents(served, http):
    r = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert r.status_code == 401
    challenge = r.headers["www-authenticate"]
    assert f'resource_metadata="{served.base}/.well-known/oauth-protected-resource/mcp"' in challenge
    prm = (await http.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert prm["resource"] == served.mcp and prm["authorization_servers"] == [served.base]
    asm = (await http.get("/.well-known/oauth-authorization-server")).json()
    assert asm["issuer"] == served.base and asm["code_challenge_methods_supported"] == ["S256"]
    assert asm["registration_endpoint"] == f"{served.base}/register"
    assert asm["revocation_endpoint"] == f"{served.base}/revoke"
    assert {"me", "students", "payroll"} <= set(asm["scopes_supported"])
    r = await http.post("/mcp", json={}, headers={"Authorization": "Bearer mcsat_nope"})
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


# ---------------------------------------------------------------- attacks


async def test_a_wrong_pkce_verifier_is_refused_and_the_right_one_then_works(served, http):
    g = await authorized(served, http)
    r = await exchange(http, g, code_verifier=pkce()[0])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await exchange(http, g)
    assert r.status_code == 200, r.text


async def test_a_reused_code_is_refused_and_revokes_what_it_gave(served, http):
    g = await authorized(served, http)
    first = await exchange(http, g)
    assert first.status_code == 200
    access = first.json()["access_token"]
    assert await mcp_status(served, access) == 200
    again = await exchange(http, g)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert await mcp_status(served, access) == 401  # RFC 6749 4.1.2: the replay revoked the tokens
    r = await token(http, grant_type="refresh_token", refresh_token=first.json()["refresh_token"],
                    client_id=g.client_id)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_an_expired_code_is_refused(served, http):
    g = await authorized(served, http)
    async with served.rt.db.write() as db:
        await db.exec(text("UPDATE oauth_codes SET expires_at = :t WHERE code_hash = :h"),
                      params={"t": utcnow() - timedelta(seconds=1), "h": rules.hash_secret(g.code)})
    r = await exchange(http, g)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert "expired" in r.json()["error_description"]


async def test_a_redirect_uri_not_registered_is_refused_at_authorize_and_at_token(served, http):
    client = await register(http)
    _verifier, challenge = pkce()
    r = await http.get("/authorize", params={"response_type": "code", "client_id": client["client_id"],
                                             "redirect_uri": "https://evil.example/cb", "code_challenge": challenge,
                                             "code_challenge_method": "S256", "state": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"  # never redirected to evil.example
    assert "evil.example" not in r.headers.get("location", "")
    g = await authorized(served, http, client=client)
    r = await exchange(http, g, redirect_uri="https://evil.example/cb")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    # Registration refuses redirect URIs that are neither https nor loopback http.
    r = await http.post("/register", json={"redirect_uris": ["http://evil.example/cb"], "client_name": "x",
                                           "token_endpoint_auth_method": "none"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri"


async def test_a_code_or_refresh_token_of_another_client_is_refused(served, http):
    g = await authorized(served, http)
    thief = await register(http, name="Thief")
    r = await exchange(http, g, client_id=thief["client_id"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    tokens = (await exchange(http, g)).json()
    r = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"],
                    client_id=thief["client_id"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # The thief's revocation request is ignored (RFC 7009 answers 200), and the token still works.
    r = await http.post("/revoke", data={"token": tokens["access_token"], "client_id": thief["client_id"]})
    assert r.status_code == 200 and await mcp_status(served, tokens["access_token"]) == 200


async def test_a_token_for_another_resource_is_refused(served, http):
    _verifier, challenge = pkce()
    client = await register(http)
    r = await http.get("/authorize", params={"response_type": "code", "client_id": client["client_id"],
                                             "redirect_uri": CALLBACK, "code_challenge": challenge,
                                             "code_challenge_method": "S256", "state": "x",
                                             "resource": "https://other-school.example/mcp"})
    assert r.status_code == 302
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_target"]
    # A token this database holds but minted for another server (another resource) is not accepted here.
    user = await served.rt.actor_for_key(served.keys["oa_admin"], Channel.MCP_HTTP)
    async with served.rt.db.write() as db:
        code, _grant = await oauth.grant_consent(db, user, key_id=served.key_ids["oa_admin"],
                                                 client_id=client["client_id"], client_name="x",
                                                 scopes=["me"], resource="https://other-school.example/mcp",
                                                 code_challenge=challenge, redirect_uri=CALLBACK,
                                                 redirect_uri_explicit=True)
        record = await oauth.load_code(db, code)
        issued = await oauth.exchange_code(db, code_id=record.id, client_id=client["client_id"])
    assert await mcp_status(served, issued.access_token) == 401


async def test_a_rotated_refresh_token_used_again_revokes_the_family(served, http):
    g = await authorized(served, http)
    first = (await exchange(http, g)).json()
    r = await token(http, grant_type="refresh_token", refresh_token=first["refresh_token"], client_id=g.client_id)
    assert r.status_code == 200
    second = r.json()
    replay = await token(http, grant_type="refresh_token", refresh_token=first["refresh_token"],
                         client_id=g.client_id)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The whole family is gone: the rightful client's new tokens too.
    assert await mcp_status(served, second["access_token"]) == 401
    r = await token(http, grant_type="refresh_token", refresh_token=second["refresh_token"], client_id=g.client_id)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_a_public_client_revokes_its_refresh_token_and_the_grant_ends(served, http):
    """RFC 7009 section 2.1: a public client sends only client_id; revoking the refresh token ends the access
    token of the same grant too."""
    g = await authorized(served, http)
    tokens = (await exchange(http, g)).json()
    assert await mcp_status(served, tokens["access_token"]) == 200
    r = await http.post("/revoke", data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token",
                                         "client_id": g.client_id})
    assert r.status_code == 200, r.text
    assert await mcp_status(served, tokens["access_token"]) == 401
    r = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=g.client_id)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


async def test_an_expired_access_token_is_refused(served, http):
    g = await authorized(served, http)
    tokens = (await exchange(http, g)).json()
    async with served.rt.db.write() as db:
        await db.exec(text("UPDATE oauth_tokens SET expires_at = :t WHERE token_hash = :h"),
                      params={"t": utcnow() - timedelta(seconds=1), "h": rules.hash_secret(tokens["access_token"])})
    assert await mcp_status(served, tokens["access_token"]) == 401


async def test_a_denied_consent_returns_access_denied_and_grants_nothing(served, http):
    client = await register(http)
    _verifier, challenge = pkce()
    url = str(httpx.URL(f"{served.base}/authorize", params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": CALLBACK,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "d"}))
    back = await browser_consent(served.base, url, served.keys["oa_viewer"], decision="deny")
    q = parse_qs(urlsplit(back).query)
    assert q["error"] == ["access_denied"] and "code" not in q and q["state"] == ["d"]


async def test_the_consent_page_names_client_user_roles_and_toolsets_and_scopes_limit_the_tools(served, http):
    client = await register(http, scope="me students", name="Scoped <b>app</b>")
    g = await authorized(served, http, "oa_viewer", scope="me", client=client)
    tokens = (await exchange(http, g)).json()
    assert tokens["scope"] == "me"
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['access_token']}"}) as h2, \
            Client(streamable_http_client(served.mcp, http_client=h2), read_timeout_seconds=30) as c:
        listed = {t.name for t in (await c.list_tools()).tools}
        assert "get_me" in listed and "list_students" not in listed
        assert listed <= {"get_me", "ping", "list_toolsets", "enable_toolsets"}, listed
        me = await c.call_tool("get_me", {})
        assert not me.is_error and me.structured_content["username"] == "oa_viewer"
        refused = await c.call_tool("list_students", {})
        assert refused.is_error and "toolsets me" in refused.content[0].text
    # A scope the client did not register is refused at /authorize.
    _v, challenge = pkce()
    r = await http.get("/authorize", params={"response_type": "code", "client_id": client["client_id"],
                                             "redirect_uri": CALLBACK, "code_challenge": challenge,
                                             "scope": "payroll", "state": "s"})
    assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_scope"]


async def test_consent_page_content(served, http):
    client = await register(http, name='Evil <script>alert(1)</script>')
    _verifier, challenge = pkce()
    url = str(httpx.URL(f"{served.base}/authorize", params={
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": CALLBACK,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": "c", "scope": "me students"}))
    async with httpx.AsyncClient(base_url=served.base, follow_redirects=False, timeout=30) as browser:
        page = await browser.get((await browser.get(url)).headers["location"])
        r = await browser.post("/oauth/sign-in", data={"csrf_token": CSRF_RE.search(page.text).group(1),
                                                        "next": REQUEST_RE.search(page.text).group(1),
                                                        "api_key": served.keys["oa_viewer"]})
        consent_page = await browser.get(r.headers["location"])
        consent = consent_page.text
        # The consent form's answer redirects to the client: the page's CSP lets the form go there, nowhere else.
        assert "form-action 'self' http://127.0.0.1:33418;" in consent_page.headers["content-security-policy"]
        assert "<script>alert(1)</script>" not in consent and "&lt;script&gt;" in consent
        assert "oa_viewer" in consent and ">viewer<" in consent
        assert "<strong>me</strong>" in consent and "<strong>students</strong>" in consent
        assert "<strong>payroll</strong>" not in consent
        # A POST without the session's CSRF token grants nothing.
        r = await browser.post("/oauth/consent", data={"csrf_token": "forged", "decision": "approve",
                                                        "request": REQUEST_RE.search(consent).group(1)})
        assert r.status_code == 403
        # A foreign Origin is refused too.
        r = await browser.post("/oauth/consent", headers={"Origin": "https://evil.example"},
                               data={"csrf_token": CSRF_RE.search(consent).group(1), "decision": "approve",
                                     "request": REQUEST_RE.search(consent).group(1)})
        assert r.status_code in (403, 421)


async def test_a_user_lists_and_revokes_their_clients_and_never_anothers(served, http):
    g = await authorized(served, http, "oa_other")
    tokens = (await exchange(http, g)).json()
    admin = await served.rt.actor_for_key(served.keys["oa_admin"], Channel.MCP_HTTP)
    other = await served.rt.actor_for_key(served.keys["oa_other"], Channel.MCP_HTTP)
    async with served.rt.db.write() as db:
        with pytest.raises(Exception) as refused:
            await oauth.revoke_authorised_client(db, admin, client_id=g.client_id)
        assert getattr(refused.value, "code", "") == "not_found"
    assert await mcp_status(served, tokens["access_token"]) == 200
    async with httpx.AsyncClient(base_url=served.base, follow_redirects=False, timeout=30) as browser:
        page = await browser.get("/oauth/clients")
        r = await browser.post("/oauth/sign-in", data={"csrf_token": CSRF_RE.search(page.text).group(1),
                                                        "next": "", "api_key": served.keys["oa_other"]})
        assert r.headers["location"] == "/oauth/clients"
        listing = (await browser.get("/oauth/clients")).text
        assert g.client_id in listing
        r = await browser.post("/oauth/clients/revoke", data={"csrf_token": CSRF_RE.search(listing).group(1),
                                                               "client_id": g.client_id})
        assert r.status_code == 303
        assert g.client_id not in (await browser.get("/oauth/clients")).text
    assert await mcp_status(served, tokens["access_token"]) == 401
    async with served.rt.db.read() as db:
        assert [c for c in await oauth.list_authorised_clients(db, other) if c.client_id == g.client_id] == []


async def test_a_token_is_its_users_actor_through_the_gate(served, http):
    """A viewer's token carries the viewer's roles: a tool outside them is refused like the viewer's key is."""
    g = await authorized(served, http, "oa_viewer")
    tokens = (await exchange(http, g)).json()
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['access_token']}"}) as h2, \
            Client(streamable_http_client(served.mcp, http_client=h2), read_timeout_seconds=30) as c:
        me = await c.call_tool("get_me", {})
        assert me.structured_content["roles"] == ["viewer"]
        refused = await c.call_tool("create_department", {"code": "OAX", "name": "OAuth dept"})
        assert refused.is_error and "permission" in refused.content[0].text.lower()
    assert await mcp_status(served, tokens["access_token"]) == 200
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as v1:  # not an API key: /v1 refuses it
        r = await v1.get("/v1/tools", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.status_code == 401


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(st.text(max_size=300), st.builds(lambda p, t: p + t, st.sampled_from(
    [rules.ACCESS_PREFIX, rules.REFRESH_PREFIX, rules.CODE_PREFIX, "mcs_"]), st.text(max_size=250))))
async def test_no_made_up_value_is_a_token_code_or_key(served, raw):
    """Property: whatever a caller sends as a bearer token, a code or a refresh token, none is accepted."""
    header_safe = raw.isascii() and raw.isprintable() and raw.strip() == raw and raw
    if header_safe:
        assert await mcp_status(served, raw) == 401
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
        if "prop_client" not in served.__dict__:
            served.__dict__["prop_client"] = await register(http)
        client = served.__dict__["prop_client"]
        r = await token(http, grant_type="authorization_code", code=raw or "x", redirect_uri=CALLBACK,
                        client_id=client["client_id"], code_verifier="v" * 43)
        assert r.status_code == 400 and r.json()["error"] in ("invalid_grant", "invalid_request")
        r = await token(http, grant_type="refresh_token", refresh_token=raw or "x", client_id=client["client_id"])
        assert r.status_code == 400 and r.json()["error"] in ("invalid_grant", "invalid_request")


async def test_a_token_belongs_to_its_users_tenant_and_keeps_the_walls(served, http):
    """A north user's token names north, lives in north's database, acts in north; a value re-labelled with
    another tenant is unknown there; a suspended tenant's token is refused."""
    await add_tenant(served.rt, "north")
    with tenant_in_use("north"):
        async with served.rt.db.write() as db:
            key = (await create_api_key(db, username="oa_north", roles="viewer", name="oauth-test")).secret
            db.add(Department(code="NORTHONLY", name="North only"))
    served.keys["oa_north"] = key
    g = await authorized(served, http, "oa_north")
    assert g.code.startswith("mcsac_north.")
    tokens = (await exchange(http, g)).json()
    access = tokens["access_token"]
    assert access.startswith("mcsat_north.") and tokens["refresh_token"].startswith("mcsrt_north.")
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {access}"}) as h2, \
            Client(streamable_http_client(served.mcp, http_client=h2), read_timeout_seconds=30) as c:
        me = await c.call_tool("get_me", {})
        assert me.structured_content["username"] == "oa_north"
        departments = await c.call_tool("list_departments", {})
        assert "NORTHONLY" in departments.content[0].text
    # The grant lives in north only; the default tenant has none of north's user.
    async with served.rt.db.read() as db:
        default_grants = (await db.exec(text("SELECT count(*) FROM oauth_grants WHERE client_id = :c"),
                                        params={"c": g.client_id})).one()[0]
    with tenant_in_use("north"):
        async with served.rt.db.read() as db:
            north_grants = (await db.exec(text("SELECT count(*) FROM oauth_grants WHERE client_id = :c"),
                                          params={"c": g.client_id})).one()[0]
    assert (default_grants, north_grants) == (0, 1)
    # Re-labelled values are unknown: north's secret under the default tenant's prefix, or under another tenant.
    secret = access.split(".", 1)[1]
    assert await mcp_status(served, f"mcsat_{secret}") == 401
    assert await mcp_status(served, f"mcsat_south.{secret}") == 401
    assert await mcp_status(served, access) == 200
    with tenant_in_use(None):
        async with served.rt.db.write() as db:
            await set_status(db, code="north", status=TenantStatus.SUSPENDED)
    try:
        assert await mcp_status(served, access) == 401
        r = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"],
                        client_id=g.client_id)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    finally:
        with tenant_in_use(None):
            async with served.rt.db.write() as db:
                await set_status(db, code="north", status=TenantStatus.ACTIVE)
    assert await mcp_status(served, access) == 200


async def list_tool_names(s: Served, access_token: str) -> set[str]:
    """The tools a tools/list on /mcp shows `access_token` (2026-07-28, no session)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}}
    async with httpx.AsyncClient(timeout=30) as h:
        r = await h.post(s.mcp, json=body, headers={
            "Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
        assert r.status_code == 200, r.text
        return {t["name"] for t in r.json()["result"]["tools"]}


TOOLSET_NAMES = sorted(t.name for t in TOOLSETS if t.name != DISCOVERY)


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(scopes=st.lists(st.sampled_from(TOOLSET_NAMES), min_size=1, max_size=6, unique=True),
       outside=st.sampled_from(sorted(t for t in TOOLSET_NAMES)))
async def test_property_a_token_lists_and_calls_only_its_scopes_toolsets(served, scopes, outside):
    """Property: whatever scopes a grant holds, its token lists only tools of those toolsets (and discovery) that
    the user's roles allow, and a call of a tool of another toolset is refused before it runs."""
    admin = await served.rt.actor_for_key(served.keys["oa_admin"], Channel.MCP_HTTP)
    async with served.rt.db.write() as db:
        code, _grant = await oauth.grant_consent(db, admin, key_id=served.key_ids["oa_admin"],
                                                 client_id="prop-scopes", client_name="p", scopes=scopes,
                                                 resource=served.mcp, code_challenge=pkce()[1],
                                                 redirect_uri=CALLBACK, redirect_uri_explicit=True)
        record = await oauth.load_code(db, code)
        issued = await oauth.exchange_code(db, code_id=record.id, client_id="prop-scopes")
    catalogue = served.rt.catalogue
    listed = await list_tool_names(served, issued.access_token)
    assert listed, scopes
    for name in listed:
        assert catalogue.tools[name].toolset in {*scopes, DISCOVERY}, (name, scopes)
    if outside not in scopes:
        victim = next((spec.name for spec in catalogue.for_actor(admin) if spec.toolset == outside), None)
        if victim is not None:
            body = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": victim, "arguments": {}, "_meta": META}}
            async with httpx.AsyncClient(timeout=30) as h:
                r = await h.post(served.mcp, json=body, headers={
                    "Authorization": f"Bearer {issued.access_token}", "Accept": "application/json, text/event-stream",
                    "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": victim})
            result = r.json()["result"]
            assert result["isError"] and "this OAuth token may use the toolsets" in result["content"][0]["text"]


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(st.one_of(st.just(-1), st.integers(min_value=0, max_value=4)), min_size=1, max_size=5))
async def test_property_refresh_rotation_never_lets_a_replayed_token_live(served, steps):
    """Property: a grant refreshed by any sequence of steps (-1: refresh with the newest refresh token; k: replay
    the k-th refresh token issued, when there is one) keeps exactly its newest access token working until a
    replay, and after a replay none of its tokens works, whatever comes next."""
    async with httpx.AsyncClient(base_url=served.base, timeout=30) as h:
        if "rot_client" not in served.__dict__:
            served.__dict__["rot_client"] = await register(h)
        g = await authorized(served, h, client=served.__dict__["rot_client"])
        first = (await exchange(h, g)).json()
        refresh_tokens, access_tokens = [first["refresh_token"]], [first["access_token"]]
        revoked = False
        for step in steps:
            replay = 0 <= step < len(refresh_tokens) - 1
            presented = refresh_tokens[step] if replay else refresh_tokens[-1]
            r = await token(h, grant_type="refresh_token", refresh_token=presented, client_id=g.client_id)
            if replay or revoked:
                assert r.status_code == 400 and r.json()["error"] == "invalid_grant", (steps, step)
                revoked = True
            else:
                assert r.status_code == 200, r.text
                refresh_tokens.append(r.json()["refresh_token"])
                access_tokens.append(r.json()["access_token"])
        for i, access in enumerate(access_tokens):
            alive = not revoked and i == len(access_tokens) - 1
            assert await mcp_status(served, access) == (200 if alive else 401), (steps, i, revoked)


async def test_oversized_or_malformed_requests_are_refused_with_the_rfc_codes(served, http):
    """Bounds: what a client sends at /register and /authorize is held to sizes, each refusal saying what is
    allowed."""
    r = await http.post("/register", json={"redirect_uris": [f"https://app.example/cb{i}" for i in range(11)],
                                           "client_name": "x", "token_endpoint_auth_method": "none"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri" and "1 to 10" in r.text
    r = await http.post("/register", json={"redirect_uris": [CALLBACK], "client_name": "n" * 201,
                                           "token_endpoint_auth_method": "none"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_client_metadata" and "200" in r.text
    r = await http.post("/register", json={"redirect_uris": ["https://app.example/" + "p" * 2001],
                                           "client_name": "x", "token_endpoint_auth_method": "none"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri"
    r = await http.post("/register", json={"redirect_uris": ["https://app.example/cb#frag"], "client_name": "x"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_redirect_uri"
    client = await register(http)
    _verifier, challenge = pkce()
    base = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": CALLBACK,
            "code_challenge": challenge, "code_challenge_method": "S256", "state": "s"}
    for override, error in (({"state": "s" * 1025}, "invalid_request"),
                            ({"code_challenge": challenge[:-1]}, "invalid_request"),
                            ({"code_challenge_method": "plain"}, "invalid_request"),
                            ({"scope": "me no_such_toolset"}, "invalid_scope")):
        r = await http.get("/authorize", params=base | override)
        assert r.status_code == 302, (override, r.text)
        q = parse_qs(urlsplit(r.headers["location"]).query)
        assert q["error"] == [error], (override, q)
    # A forged or expired pending request shows an error page, not a consent.
    r = await http.get("/oauth/consent", params={"request": "forged.value"})
    assert r.status_code == 400 and "expired" in r.text


async def test_revocation_ends_a_cached_token_at_once_in_this_process(served, http):
    """With lookups cached (MCS_ERP_KEY_CACHE_SECONDS), a token revoked at /revoke or on the connected-apps page
    stops working at once in the process that revoked it (other processes follow within the cache delay)."""
    saved = served.rt.settings
    served.rt.settings = saved.model_copy(update={"key_cache_seconds": 300.0})
    try:
        g = await authorized(served, http)
        tokens = (await exchange(http, g)).json()
        assert await mcp_status(served, tokens["access_token"]) == 200  # now cached for 300 s
        r = await http.post("/revoke", data={"token": tokens["access_token"], "client_id": g.client_id})
        assert r.status_code == 200
        assert await mcp_status(served, tokens["access_token"]) == 401
    finally:
        served.rt.settings = saved


async def test_a_connector_url_with_toolsets_is_the_same_resource(served, http):
    """A client given /mcp?toolsets=... (README: Toolsets) sends that URL as its resource: it names our endpoint,
    and the token works there; another path or host does not."""
    url = f"{served.mcp}?toolsets=all"
    g = await authorized(served, http, resource=url)
    tokens = (await exchange(http, g)).json()
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ping", "arguments": {},
                                                                          "_meta": META}}
    async with httpx.AsyncClient(timeout=30) as h:
        r = await h.post(url, json=body, headers={
            "Authorization": f"Bearer {tokens['access_token']}", "Accept": "application/json, text/event-stream",
            "Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "ping"})
    assert r.status_code == 200, r.text
    client = await register(http)
    for other in (f"{served.base}/mcp/other", served.mcp.replace("127.0.0.1", "localhost"), f"{served.mcp}#x"):
        r = await http.get("/authorize", params={"response_type": "code", "client_id": client["client_id"],
                                                 "redirect_uri": CALLBACK, "code_challenge": pkce()[1],
                                                 "state": "s", "resource": other})
        assert parse_qs(urlsplit(r.headers["location"]).query)["error"] == ["invalid_target"], other


async def test_concurrent_uses_of_one_refresh_token_issue_one_pair_and_revoke_the_family(served, http):
    """Six refreshes with the same refresh token at once: exactly one is answered with a new pair (the rotation is
    one conditional UPDATE, so two cannot both win); the others are replays, which revoke the grant, so in the
    end no token of it works."""
    g = await authorized(served, http)
    first = (await exchange(http, g)).json()
    answers = await asyncio.gather(*(token(http, grant_type="refresh_token", refresh_token=first["refresh_token"],
                                           client_id=g.client_id) for _ in range(6)))
    ok = [r for r in answers if r.status_code == 200]
    assert len(ok) == 1, [r.text for r in answers]
    assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code != 200)
    assert await mcp_status(served, ok[0].json()["access_token"]) == 401
    assert await mcp_status(served, first["access_token"]) == 401


async def test_concurrent_exchanges_of_one_code_issue_one_pair_and_revoke_it(served, http):
    """Four exchanges of one code at once: exactly one gets tokens, the others are refused as replays, and the
    replay revokes what the code gave (RFC 6749 section 4.1.2)."""
    g = await authorized(served, http)
    answers = await asyncio.gather(*(exchange(http, g) for _ in range(4)))
    ok = [r for r in answers if r.status_code == 200]
    assert len(ok) == 1, [r.text for r in answers]
    assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code != 200)
    assert await mcp_status(served, ok[0].json()["access_token"]) == 401


@settings(max_examples=200, deadline=None)
@given(tenant=st.one_of(st.none(), st.from_regex(CODE_PATTERN, fullmatch=True)),
       prefix=st.sampled_from([rules.ACCESS_PREFIX, rules.REFRESH_PREFIX, rules.CODE_PREFIX]),
       other=st.sampled_from([rules.ACCESS_PREFIX, rules.REFRESH_PREFIX, rules.CODE_PREFIX, "mcs_"]),
       junk=st.text(max_size=40))
def test_property_a_value_names_its_tenant_and_kind_and_nothing_else(tenant, prefix, other, junk):
    """Property (pure): a new value is well formed for its own kind and names its tenant; it is never well formed
    as another kind; its hash matches it and not a changed value; a value over MAX_SECRET never parses."""
    raw = rules.new_secret(prefix, tenant)
    assert rules.tenant_of(raw, prefix) == (True, tenant)
    if other != prefix:
        assert rules.tenant_of(raw, other)[0] is False
    assert rules.secret_matches(rules.hash_secret(raw), raw)
    assert not rules.secret_matches(rules.hash_secret(raw), raw + junk) or junk == ""
    assert rules.tenant_of(prefix + "a" * rules.MAX_SECRET, prefix) == (False, None)


async def test_revoking_the_sign_in_key_disconnects_the_users_apps(served, http):
    """An office revoking a leaver's API key ends the apps they connected with it (as it ends an admin page
    session): the access token, the refresh token and an unused code all stop working."""
    async with served.rt.db.write() as db:
        issued = await create_api_key(db, username="oa_leaver", roles="teacher", name="oauth-test")
    served.keys["oa_leaver"] = issued.secret
    g = await authorized(served, http, "oa_leaver")
    tokens = (await exchange(http, g)).json()
    unused = await authorized(served, http, "oa_leaver")
    assert await mcp_status(served, tokens["access_token"]) == 200
    async with served.rt.db.write() as db:
        await revoke_api_key(db, key_id=issued.key.id)
    assert await mcp_status(served, tokens["access_token"]) == 401
    r = await token(http, grant_type="refresh_token", refresh_token=tokens["refresh_token"], client_id=g.client_id)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = await exchange(http, unused)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
