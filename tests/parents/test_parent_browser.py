"""The parent pages in a real browser (issue 21's acceptance): Playwright drives Debian's Chromium against
`mcs-erp serve --http`, whose notification sender mails through a real SMTP server in this process (aiosmtpd).

A parent asks for a sign-in link, opens the link that arrived by email, sees their children, one child's published
grades (not the unpublished class) and the family's balance; another family's student id in the URL gives 404, and
the used link does not sign in again. A screenshot of the child's page is kept as a test artifact.

Chromium comes from the system (`apt-get install chromium`, as .ci/run does): the test skips without it locally
and fails without it in CI (tests/server/test_admin_browser.require_chromium).
"""

from __future__ import annotations

import asyncio
import re
from email import message_from_bytes, policy
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from playwright.async_api import async_playwright, expect

from domain.kernel.money import format_money
from domain.kernel.settings import Settings
from tests.parents.world import build_world
from tests.server.e2e_helpers import (
    KeySpec,
    call_error,
    call_ok,
    create_key,
    e2e_database,
    free_port,
    http_client,
    http_server,
    init_database,
)
from tests.server.test_admin_browser import CHROMIUM, PNG_SIGNATURE, TIMEOUT_MS, artifacts_dir, require_chromium
from tools.invoke import invoke
from tools.modules import all_modules
from tools.registry import build_catalogue
from tools.runtime import Runtime
from tools.toolsets import listed_tools
from workers.runner import InProcessRunner

pytestmark = pytest.mark.e2e

PUBLIC_URL = "https://parents.hillview.example"
LINK_RE = re.compile(r"(https://\S+/parents/sign-in/link\?token=\S+)")
MAIL_TIMEOUT = 60.0


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


async def link_mailed_to(inbox: Inbox, address: str) -> str:
    """The sign-in link of the first sign-in message to `address`, waited for (bounded); the address gets its
    child's published grades too."""
    deadline = asyncio.get_running_loop().time() + MAIL_TIMEOUT
    while True:
        for envelope, message in inbox.messages:
            if address in envelope.rcpt_tos and message["Subject"].startswith("Your sign-in link"):
                found = LINK_RE.search(message.get_body(("plain",)).get_content())
                assert found, message
                return found.group(1)
        assert asyncio.get_running_loop().time() < deadline, f"no email to {address} in {MAIL_TIMEOUT}s"
        await asyncio.sleep(0.2)


async def test_a_parent_signs_in_by_the_emailed_link_and_sees_their_childs_grades_and_balance(tmp_path):
    require_chromium()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        async with e2e_database(tmp_path) as db:
            await init_database(db)
            runtime = Runtime.create(Settings(database_url=db.url, key_cache_seconds=0, currency="AUD"))
            runtime.jobs = InProcessRunner(runtime)
            try:
                world = await build_world(runtime)
                kim = world.guardians["kim"]
                balance = await invoke(runtime, "get_my_family_balance", {}, kim)
                assert balance.balance_minor > 0
            finally:
                await runtime.close()
            db.extra_env.update(MCS_ERP_SMTP_HOST="127.0.0.1", MCS_ERP_SMTP_PORT=str(smtp.port),
                                MCS_ERP_SMTP_TLS="none", MCS_ERP_NOTIFICATION_SEND_SECONDS="0.2",
                                MCS_ERP_PUBLIC_URL=PUBLIC_URL, MCS_ERP_SCHOOL_NAME="Hillview",
                                MCS_ERP_CURRENCY="AUD")
            async with http_server(db) as server, async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=str(CHROMIUM), headless=True,
                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                try:
                    context = await browser.new_context(base_url=server.base_url,
                                                        viewport={"width": 1280, "height": 900})
                    context.set_default_timeout(TIMEOUT_MS)
                    page = await context.new_page()

                    # Ask for a link: the page says the same for any address; the email brings the link.
                    await page.goto("/parents/")
                    await expect(page).to_have_url(re.compile(r"/parents/sign-in$"), timeout=TIMEOUT_MS)
                    await page.fill("#email", world.emails["kim"])
                    await page.click("#sign-in-form button[type=submit]")
                    await expect(page.locator("#sent")).to_contain_text(world.emails["kim"], timeout=TIMEOUT_MS)
                    link = await link_mailed_to(inbox, world.emails["kim"])
                    assert link.startswith(PUBLIC_URL + "/parents/sign-in/link?token=")
                    parts = urlsplit(link)  # the public URL names the school's site; the test server is local
                    await page.goto(f"{parts.path}?{parts.query}")
                    await page.click("#confirm-form button[type=submit]")
                    await expect(page).to_have_url(re.compile(r"/parents/$"), timeout=TIMEOUT_MS)
                    await expect(page.locator("#children")).to_contain_text("Ana", timeout=TIMEOUT_MS)
                    await expect(page.locator("#children")).not_to_contain_text("Dee", timeout=TIMEOUT_MS)

                    # One child's published grades and the family's balance.
                    await page.click(f"a[href='/parents/children/{world.students['Ana']}']")
                    grades = page.locator("#grades")
                    await expect(grades).to_contain_text("Mathematics", timeout=TIMEOUT_MS)
                    await expect(grades).to_contain_text("91.00", timeout=TIMEOUT_MS)
                    await expect(grades).not_to_contain_text("Science", timeout=TIMEOUT_MS)  # not published
                    await expect(page.locator("#balance-amount")).to_have_text(
                        format_money(balance.balance_minor, "AUD"), timeout=TIMEOUT_MS)
                    shot = artifacts_dir() / "parent-child.png"
                    await page.screenshot(path=str(shot), full_page=True)
                    assert shot.is_file() and shot.read_bytes()[:8] == PNG_SIGNATURE

                    # Another family's student in the URL: 404, nothing of theirs shown.
                    other = await page.goto(f"/parents/children/{world.students['Dee']}")
                    assert other is not None and other.status == 404
                    await expect(page.locator("#error")).to_contain_text("no such page", timeout=TIMEOUT_MS)
                    assert "Dee" not in await page.content()
                    missing = await page.goto("/parents/children/999999")
                    assert missing is not None and missing.status == 404

                    # The link was used: in a new browser it signs nobody in.
                    again = await (await browser.new_context(base_url=server.base_url)).new_page()
                    await again.goto(f"{parts.path}?{parts.query}")
                    await again.click("#confirm-form button[type=submit]")
                    await expect(again.locator("#error")).to_contain_text("used already", timeout=TIMEOUT_MS)
                finally:
                    await browser.close()

                # The parent's own assistant over MCP: `mcs-erp keys create --user <their email>` makes their key.
                key = await create_key(db, KeySpec(world.emails["kim"]))
                async with http_client(server, {"Authorization": f"Bearer {key}"}) as mcp:
                    listed = {tool.name for tool in (await mcp.list_tools()).tools}
                    assert listed == {s.name for s in listed_tools(build_catalogue(all_modules()), kim)}
                    assert "get_child_transcript" in listed and "list_students" not in listed
                    children = await call_ok(mcp, "get_my_children")
                    assert {c["student_id"] for c in children["children"]} == world.children("kim")
                    refused = await call_error(mcp, "get_child_transcript", {"student_id": world.students["Dee"]})
                    assert refused.startswith("error: not_found") and "Dee" not in refused, refused
                    staff = await call_error(mcp, "list_students", {})
                    assert staff.startswith("error: permission_denied"), staff
    finally:
        smtp.stop()
