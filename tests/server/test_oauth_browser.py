"""OAuth sign-in in a real browser (issue 23's acceptance): the official SDK's OAuthClientProvider connects over
Streamable HTTP, discovers the metadata from the 401, registers and starts PKCE; its redirect handler hands the
authorization URL to headless Chromium (Playwright), where the user signs in with their API key, reads the consent
page (client, user, roles, toolsets) and allows; the browser lands on the client's redirect URI with the code,
and the client lists tools and calls one as that user.

Chromium comes from the system (`apt-get install chromium`, as .ci/run does): the test skips without it locally
and fails without it in CI (tests/server/test_admin_browser.py's rule).
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata
from playwright.async_api import async_playwright, expect

from tests.server.test_admin_browser import CHROMIUM, require_chromium
from tests.server.test_oauth import CALLBACK, MemoryStorage, served  # noqa: F401  (the served app fixture)

TIMEOUT_MS = 20_000

pytestmark = pytest.mark.e2e


async def test_a_user_signs_in_and_consents_in_the_browser_and_the_sdk_client_calls_tools(served):  # noqa: F811
    require_chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                                   args=["--no-sandbox", "--disable-gpu",
                                                         "--disable-background-networking"])
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 900})
            context.set_default_timeout(TIMEOUT_MS)
            page = await context.new_page()
            landed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            async def callback_route(route) -> None:  # the client's redirect URI: note where the browser lands
                if not landed.done():
                    landed.set_result(route.request.url)
                await route.fulfill(status=200, content_type="text/plain", body="You can close this window.")

            await context.route(f"{CALLBACK}**", callback_route)
            seen: dict[str, str] = {}

            async def redirect_handler(url: str) -> None:
                await page.goto(url)
                await expect(page.locator("#api_key")).to_be_visible()
                await page.fill("#api_key", served.keys["oa_viewer"])
                await page.click("form[action='/oauth/sign-in'] button[type=submit]")
                await expect(page.locator("#client-name")).to_have_text("Claude in a browser")
                seen["user"] = await page.locator("#user").inner_text()
                seen["roles"] = await page.locator("#roles").inner_text()
                seen["toolsets"] = await page.locator("#toolsets").inner_text()
                await page.click("button[name=decision][value=approve]")

            async def callback_handler() -> AuthorizationCodeResult:
                q = parse_qs(urlsplit(await asyncio.wait_for(landed, TIMEOUT_MS / 1000)).query)
                return AuthorizationCodeResult(code=q["code"][0], state=q["state"][0], iss=q["iss"][0])

            storage = MemoryStorage()
            provider = OAuthClientProvider(
                served.mcp, OAuthClientMetadata(redirect_uris=[CALLBACK], client_name="Claude in a browser",
                                                grant_types=["authorization_code", "refresh_token"],
                                                token_endpoint_auth_method="none"),
                storage, redirect_handler=redirect_handler, callback_handler=callback_handler)
            async with (httpx2.AsyncClient(auth=provider, timeout=httpx2.Timeout(30.0)) as http,
                        Client(streamable_http_client(served.mcp, http_client=http),
                               read_timeout_seconds=30) as client):
                tools = {t.name for t in (await client.list_tools()).tools}
                me = await client.call_tool("get_me", {})
        finally:
            await browser.close()
    assert "oa_viewer" in seen["user"] and seen["roles"] == "viewer"
    assert "me:" in seen["toolsets"] and "payroll:" not in seen["toolsets"]  # only toolsets a viewer may use
    assert "get_me" in tools and not me.is_error
    assert me.structured_content["username"] == "oa_viewer" and me.structured_content["roles"] == ["viewer"]
    assert storage.tokens is not None and storage.tokens.access_token.startswith("mcsat_")
