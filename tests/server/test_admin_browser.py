"""The admin pages in a real browser (Playwright driving Debian's Chromium) against `mcs-erp serve --http`.

A payroll agent queues the approval of a calculated payroll run over MCP; an admin signs in with their API key,
opens the queued approval, reads its totals, approves it with a reason and sees it executed. Then the admin asks
to post the run themself: their own queued action shows no approve button, and forged POSTs (without the CSRF
token, and with it) are refused, leaving it queued. A screenshot of the approval page is kept as a test artifact
(MCS_ERP_TEST_ARTIFACTS, default test-artifacts/ at the repository root).

Chromium comes from the system (`apt-get install chromium`, as .ci/run does), never `playwright install`: the
test skips without it locally and fails without it in CI.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from domain.kernel.money import format_money
from tests.conftest import IN_CI
from tests.server.e2e_helpers import (
    REPO_ROOT,
    KeySpec,
    call_ok,
    create_keys,
    e2e_database,
    http_clients,
    http_server,
    init_database,
    verify_audit,
)
from tests.server.test_payroll_e2e import PAY_DATE, PERIOD, request_and_queue, seed_staff

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
ADMIN, AGENT = "admin", "payroll-agent"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT_MS = 20_000


def artifacts_dir() -> Path:
    """Where test artifacts go: $MCS_ERP_TEST_ARTIFACTS, or test-artifacts/ at the repository root."""
    path = Path(os.environ.get("MCS_ERP_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def require_chromium() -> None:
    if CHROMIUM.is_file():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(message + "; CI must run the browser test")
    pytest.skip(message)


async def test_an_admin_approves_a_queued_payroll_run_in_the_browser(tmp_path):
    require_chromium()
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN), KeySpec(AGENT, "payroll")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with clients(ADMIN) as admin_mcp, clients(AGENT) as agent:
                await seed_staff(admin_mcp)
                run = await call_ok(agent, "create_payroll_run", {"period": PERIOD, "pay_date": PAY_DATE,
                                                                  "currency": "AUD"})
                run_id = run["run_id"]
                job = await call_ok(agent, "calculate_payroll_run", {"run_id": run_id, "wait_s": 60})
                assert job["status"] == "succeeded", job
                approval = await request_and_queue(agent, "approve_payroll_run", run_id)
                action_id = approval["action_id"]
                totals = approval["preview"]["totals"]
                assert totals["employees"] == 3 and 0 < totals["net_minor"] < totals["gross_minor"], totals

                async with async_playwright() as playwright:
                    browser = await playwright.chromium.launch(
                        executable_path=str(CHROMIUM), headless=True,
                        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                    try:
                        context = await browser.new_context(base_url=server.base_url,
                                                            viewport={"width": 1280, "height": 900})
                        context.set_default_timeout(TIMEOUT_MS)
                        page = await context.new_page()

                        # Sign in: / leads to the sign-in page; the admin's key opens the approvals queue.
                        await page.goto("/")
                        await expect(page).to_have_url(re.compile(r"/admin/sign-in$"), timeout=TIMEOUT_MS)
                        await page.fill("#api_key", keys[ADMIN])
                        await page.click("form[action='/admin/sign-in'] button[type=submit]")
                        await expect(page).to_have_url(re.compile(r"/admin/actions$"), timeout=TIMEOUT_MS)
                        row_link = page.locator(f"a[href='/admin/actions/{action_id}']").first
                        await expect(row_link).to_be_visible(timeout=TIMEOUT_MS)

                        # The queued approval: who asked, through which channel, and the run's totals.
                        await row_link.click()
                        await expect(page.locator("#action-status")).to_have_text("queued", timeout=TIMEOUT_MS)
                        await expect(page.locator("#requester")).to_have_text(AGENT, timeout=TIMEOUT_MS)
                        await expect(page.locator("#channel")).to_have_text("mcp-http", timeout=TIMEOUT_MS)
                        preview = page.locator("#preview")
                        for key in ("gross_minor", "net_minor", "deductions_minor", "employer_contributions_minor"):
                            entry = preview.locator("dt", has_text=re.compile(f"^{key}$")).locator(
                                "xpath=following-sibling::dd[1]")
                            # The minor units as stored, and the amount in AUD beside them.
                            shown = f"{totals[key]} ({format_money(totals[key], 'AUD')})"
                            await expect(entry).to_have_text(shown, timeout=TIMEOUT_MS)
                        await expect(preview).to_contain_text(PERIOD, timeout=TIMEOUT_MS)
                        shot = artifacts_dir() / "admin-approval.png"
                        await page.screenshot(path=str(shot), full_page=True)
                        assert shot.is_file() and shot.read_bytes()[:8] == PNG_SIGNATURE

                        # Approve with a reason: executed, by this admin, through the admin pages.
                        await page.fill("#approve-reason", "May payroll checked against the contracts")
                        await page.click("#approve-form button[type=submit]")
                        await expect(page.locator("#action-status")).to_have_text("executed", timeout=TIMEOUT_MS)
                        await expect(page.locator(".notice").first).to_contain_text("Approved", timeout=TIMEOUT_MS)
                        await expect(page.locator("#approve-form")).to_have_count(0, timeout=TIMEOUT_MS)
                        executed = await call_ok(admin_mcp, "get_action", {"action_id": action_id})
                        assert executed["status"] == "executed" and executed["decided_by"] == ADMIN, executed
                        assert executed["decision_reason"] == "May payroll checked against the contracts"
                        assert (await call_ok(agent, "get_payroll_run", {"run_id": run_id}))["status"] == "approved"

                        # The admin's own request: no approve button, and forged approvals change nothing.
                        own = (await request_and_queue(admin_mcp, "post_payroll_run", run_id))["action_id"]
                        await page.goto(f"/admin/actions/{own}")
                        await expect(page.locator("#action-status")).to_have_text("queued", timeout=TIMEOUT_MS)
                        await expect(page.locator("#own-action")).to_be_visible(timeout=TIMEOUT_MS)
                        await expect(page.locator("#approve-form")).to_have_count(0, timeout=TIMEOUT_MS)
                        await expect(page.locator("#reject-form")).to_have_count(0, timeout=TIMEOUT_MS)
                        token = await page.locator("input[name='csrf_token']").first.get_attribute("value")
                        assert token
                        without_token = await page.request.post(f"/admin/actions/{own}/approve",
                                                                form={"reason": "forged approval"})
                        assert without_token.status == 403, await without_token.text()
                        assert "security token" in await without_token.text()
                        with_token = await page.request.post(f"/admin/actions/{own}/approve",
                                                             form={"csrf_token": token})
                        assert with_token.status == 403, await with_token.text()
                        assert "four-eyes rule" in await with_token.text()
                        assert (await call_ok(admin_mcp, "get_action", {"action_id": own}))["status"] == "queued"
                        assert (await call_ok(agent, "get_payroll_run", {"run_id": run_id}))["status"] == "approved"
                    finally:
                        await browser.close()
        assert await verify_audit(db) > 0
