"""The admin pages through the ASGI app (httpx, no browser) on the test database: sign-in with an admin's API
key, the approvals queue, an action's preview, approve and reject with CSRF protection and the four-eyes rule,
the audit log's chain verification, the jobs monitor, cookies and HTML escaping."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pydantic import SecretStr
from sqlalchemy import text

from domain.identity import service as identity
from domain.identity.service import create_api_key
from domain.kernel.actor import SYSTEM_ACTOR, Actor, Channel
from domain.kernel.audit import integrate_pending, list_audit_entries
from domain.kernel.settings import Settings
from server.admin.sessions import SESSION_COOKIE, SESSION_SALT, SESSION_SECONDS
from server.app import create_app
from server.cli import prepare_database
from tests.conftest import drop_pg_database, fresh_database_url, wait_for
from tests.factories import SchoolSlice, make_school
from tools.invoke import invoke
from tools.runtime import Runtime

BASE = "http://127.0.0.1:8000"  # a loopback Host: the app answers no other (server/host_check.py)
SCRIPT_TITLE = '<script>alert("pwned")</script> Quiz'
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the forms on a page."""
    match = CSRF_RE.search(html)
    assert match, f"no CSRF field on the page:\n{html[:2000]}"
    return match.group(1)


async def key_for(rt: Runtime, actor: Actor) -> str:
    """A new API key of `actor`'s user."""
    async with rt.db.write() as session:
        return (await create_api_key(session, username=actor.username, name="admin-pages-test")).secret


@pytest.fixture(scope="module")
async def app(rt):
    return create_app(rt, own_runtime=False)


@pytest.fixture
async def browser(app) -> AsyncIterator:
    """A fresh cookie jar per call: each is one person's browser."""
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    """Open the sign-in page and send the key with its CSRF token; return the POST's response."""
    form = await client.get("/admin/sign-in")
    assert form.status_code == 200, form.text
    return await client.post("/admin/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": key})


@dataclass
class Queued:
    """A school whose admin requested publishing its term grades (queued for another admin)."""

    school: SchoolSlice
    action_id: int
    summary: str


@pytest.fixture
async def queued(rt) -> Queued:
    school = await make_school(rt, students=2)
    await invoke(rt, "create_assessment", {"class_id": school.class_id, "term_id": school.term_id,
                                           "title": SCRIPT_TITLE, "max_score": 10}, school.admin)
    for student_id, score in zip(school.student_ids, (91, 67), strict=True):
        await invoke(rt, "record_grade", {"assessment_id": school.assessment_id, "student_id": student_id,
                                          "score": score}, school.teacher)
    pending = await invoke(rt, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.admin)
    queued = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, school.admin)
    assert queued.status == "queued"
    return Queued(school=school, action_id=pending.action_id, summary=pending.summary)


async def status_of(rt: Runtime, action_id: int, admin: Actor) -> str:
    return (await invoke(rt, "get_action", {"action_id": action_id}, admin)).status


# ---------------------------------------------------------------- sign-in, sessions, cookies


async def test_only_admins_sign_in(rt, browser, queued):
    viewer = browser()
    refused = await sign_in(viewer, await key_for(rt, queued.school.viewer))
    assert refused.status_code == 403
    assert "Only admins can sign in here" in refused.text and "viewer" in refused.text
    assert (await viewer.get("/admin/actions")).headers["location"] == "/admin/sign-in"

    unknown = await sign_in(browser(), "mcs_not-a-key")
    assert unknown.status_code == 401 and "unknown or revoked" in unknown.text

    admin = browser()
    key = await key_for(rt, queued.school.admin2)
    signed_in = await sign_in(admin, key)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/admin/actions"
    cookie = signed_in.headers["set-cookie"]
    attributes = {part.strip().lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert {"httponly", "samesite=strict", "path=/admin", f"max-age={SESSION_SECONDS}"} <= attributes
    assert "secure" not in attributes  # cookie_secure is off in tests
    assert key not in cookie and key[4:] not in cookie, "the API key never goes into the cookie"
    page = await admin.get("/admin/actions")
    assert page.status_code == 200 and f"Signed in as <strong>{queued.school.admin2.username}</strong>" in page.text
    assert (await admin.get("/admin/")).headers["location"] == "/admin/actions"
    assert (await admin.get("/")).headers["location"] == "/admin/"


async def test_sign_in_form_needs_its_csrf_token(rt, browser, queued):
    client = browser()
    await client.get("/admin/sign-in")
    response = await client.post("/admin/sign-in", data={"api_key": await key_for(rt, queued.school.admin2)})
    assert response.status_code == 403 and "sign in again" in response.text
    assert (await client.get("/admin/actions")).status_code == 303, "not signed in"


async def test_the_cookie_is_secure_when_configured_and_expires(rt, queued):
    saved = rt.settings
    secret = "test-secret-" + "x" * 40
    rt.settings = saved.model_copy(update={"cookie_secure": True, "session_secret": SecretStr(secret)})
    try:
        app = create_app(rt, own_runtime=False)
    finally:
        rt.settings = saved
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1:8443") as client:
        signed_in = await sign_in(client, await key_for(rt, queued.school.admin2))
        assert signed_in.status_code == 303
        assert "secure" in {p.strip().lower() for p in signed_in.headers["set-cookie"].split(";")}
        assert (await client.get("/admin/actions")).status_code == 200

    class NineHoursAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 9 * 3600

    admin2 = queued.school.admin2
    async with rt.db.read() as session:
        found = await identity.authenticate_key_with_id(session, await key_for(rt, admin2), Channel.ADMIN_PAGE)
    kid = found[1]
    old = URLSafeTimedSerializer(secret, salt=SESSION_SALT, signer=NineHoursAgo).dumps(
        {"csrf": "t" * 43, "uid": admin2.id, "user": admin2.username, "at": time.time() - 9 * 3600, "kid": kid})
    fresh = URLSafeTimedSerializer(secret, salt=SESSION_SALT).dumps(
        {"csrf": "t" * 43, "uid": admin2.id, "user": admin2.username, "at": time.time(), "kid": kid})
    forged = URLSafeTimedSerializer("another-secret", salt=SESSION_SALT).dumps(
        {"csrf": "t" * 43, "uid": admin2.id, "user": admin2.username, "at": time.time(), "kid": kid})
    for cookie, expected in ((fresh, 200), (old, 303), (forged, 303)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://127.0.0.1:8443",
                                     cookies={SESSION_COOKIE: cookie}) as client:
            assert (await client.get("/admin/actions")).status_code == expected


async def test_sign_out_needs_the_token_and_ends_the_session(rt, browser, queued):
    client = browser()
    await sign_in(client, await key_for(rt, queued.school.admin2))
    page = await client.get("/admin/actions")
    assert (await client.post("/admin/sign-out", data={})).status_code == 403
    assert (await client.get("/admin/actions")).status_code == 200, "still signed in"
    out = await client.post("/admin/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/sign-in?notice=signed-out"
    assert f"{SESSION_COOKIE}=" in out.headers["set-cookie"] and "max-age=0" in out.headers["set-cookie"].lower()
    assert (await client.get("/admin/actions")).headers["location"] == "/admin/sign-in"


async def test_revoking_the_key_ends_the_session_at_once(rt, browser, queued):
    """A session remembers which API key signed it in: revoking that key signs the admin out on the next page,
    without waiting for the session to expire; their other keys do not keep it alive."""
    client = browser()
    key = await key_for(rt, queued.school.admin2)
    await key_for(rt, queued.school.admin2)  # a second key of the same admin
    assert (await sign_in(client, key)).status_code == 303
    assert (await client.get("/admin/actions")).status_code == 200
    async with rt.db.write() as session:
        found = await identity.authenticate_key_with_id(session, key, Channel.ADMIN_PAGE)
        assert found is not None
        await identity.revoke_api_key(session, key_id=found[1])
    after = await client.get(f"/admin/actions/{queued.action_id}")
    assert after.status_code == 303 and after.headers["location"] == "/admin/sign-in"
    assert (await sign_in(client, key)).status_code == 401, "the revoked key cannot sign in again"


# ---------------------------------------------------------------- the queue and the action page


async def test_the_queue_lists_queued_actions_with_filters(rt, browser, queued):
    client = browser()
    await sign_in(client, await key_for(rt, queued.school.admin2))
    link = f'href="/admin/actions/{queued.action_id}"'
    page = await client.get("/admin/actions")
    assert page.status_code == 200 and link in page.text
    assert queued.school.admin.username in page.text and "publish_term_grades" in page.text
    by_tool = await client.get("/admin/actions", params={"tool": "publish_term_grades",
                                                         "requester": queued.school.admin.username})
    assert link in by_tool.text
    assert link not in (await client.get("/admin/actions", params={"tool": "void_invoice"})).text
    assert link not in (await client.get("/admin/actions", params={"requester": "nobody-here"})).text
    assert link not in (await client.get("/admin/actions", params={"status": "executed"})).text
    bad = await client.get("/admin/actions", params={"status": "everything"})
    assert bad.status_code == 422 and "unknown status" in bad.text


async def test_the_action_page_shows_the_preview_requester_and_channel_escaped(rt, browser, queued):
    client = browser()
    await sign_in(client, await key_for(rt, queued.school.admin2))
    page = await client.get(f"/admin/actions/{queued.action_id}")
    assert page.status_code == 200
    html = page.text
    action = await invoke(rt, "get_action", {"action_id": queued.action_id}, queued.school.admin2)
    preview = action.preview
    assert preview["students"] == 2 and preview["after"]["locked_grades"] == 2
    assert f'<dd id="requester">{queued.school.admin.username}</dd>' in html
    assert '<dd id="channel">mcp-stdio</dd>' in html
    assert f'<span class="num">{preview["class_average"]}</span>' in html
    for line in preview["term_grades"]:  # a list of records is a table of them
        assert f"<td>{line['student']}</td>" in html and f"<td>{line['letter']}</td>" in html
    # before/after as a comparison table: published no -> yes, locked grades 0 -> 2 (the changed rows marked)
    assert re.search(r'<tr class="changed"><th scope="row">locked_grades</th><td><span class="num">0</span></td>'
                     r'<td><span class="num">2</span></td></tr>', html), html
    assert 'id="approve-form"' in html and 'id="reject-form"' in html
    # the assessment's title is user text: escaped, never markup
    assert SCRIPT_TITLE in preview["assessments"]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; Quiz" in html
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    missing = await client.get("/admin/actions/999999999")
    assert missing.status_code == 404 and "no pending action with id 999999999" in missing.text


# ---------------------------------------------------------------- decisions


async def test_approve_is_a_post_with_the_csrf_token(rt, browser, queued):
    admin2 = queued.school.admin2
    client = browser()
    await sign_in(client, await key_for(rt, admin2))
    url = f"/admin/actions/{queued.action_id}/approve"
    token = csrf_of((await client.get(f"/admin/actions/{queued.action_id}")).text)

    assert (await client.get(url)).status_code == 405
    assert (await client.get(f"/admin/actions/{queued.action_id}/reject")).status_code == 405
    no_token = await client.post(url, data={"reason": "looks right"})
    assert no_token.status_code == 403 and "security token" in no_token.text
    wrong = await client.post(url, data={"csrf_token": token[:-2] + "xx", "reason": "looks right"})
    assert wrong.status_code == 403
    cross_site = await client.post(url, data={"csrf_token": token}, headers={"origin": "https://evil.example"})
    assert cross_site.status_code == 403 and "another site" in cross_site.text
    anonymous = await browser().post(url, data={"csrf_token": token})
    assert anonymous.status_code == 403 and "not signed in" in anonymous.text
    assert await status_of(rt, queued.action_id, admin2) == "queued"

    done = await client.post(url, data={"csrf_token": token, "reason": "grades checked with the teacher"},
                             headers={"origin": BASE, "referer": f"{BASE}/admin/actions/{queued.action_id}"})
    assert done.status_code == 303 and done.headers["location"] == f"/admin/actions/{queued.action_id}?done=approved"
    page = await client.get(done.headers["location"])
    assert '<span class="status status-executed" id="action-status">executed</span>' in page.text
    assert "Approved: the action was executed." in page.text and "grades checked with the teacher" in page.text
    assert 'id="approve-form"' not in page.text and 'id="result"' in page.text
    action = await invoke(rt, "get_action", {"action_id": queued.action_id}, admin2)
    assert action.status == "executed" and action.decided_by == admin2.username
    assert action.result is not None and action.result["published_students"] == 2
    async with rt.db.read() as session:
        trail = await list_audit_entries(session, action_id=queued.action_id)
    assert [(e.event, e.channel, e.actor_username) for e in trail][-1] == ("approved", "admin-page",
                                                                           admin2.username)


async def test_reject_needs_a_reason(rt, browser, queued):
    admin2 = queued.school.admin2
    client = browser()
    await sign_in(client, await key_for(rt, admin2))
    token = csrf_of((await client.get(f"/admin/actions/{queued.action_id}")).text)
    url = f"/admin/actions/{queued.action_id}/reject"
    for reason in ("", "no"):
        refused = await client.post(url, data={"csrf_token": token, "reason": reason})
        assert refused.status_code == 422 and "5 to 1000 characters" in refused.text
        assert 'id="decision-error"' in refused.text and 'id="reject-form"' in refused.text
    assert await status_of(rt, queued.action_id, admin2) == "queued"
    done = await client.post(url, data={"csrf_token": token, "reason": "the term is not over yet"})
    assert done.status_code == 303
    action = await invoke(rt, "get_action", {"action_id": queued.action_id}, admin2)
    assert action.status == "rejected" and action.decision_reason == "the term is not over yet"
    page = await client.get(done.headers["location"])
    assert "Rejected: nothing was changed." in page.text and 'id="reject-form"' not in page.text


async def test_the_requester_sees_no_approve_button_and_a_forged_approval_is_refused(rt, browser, queued):
    requester = queued.school.admin
    client = browser()
    await sign_in(client, await key_for(rt, requester))
    page = await client.get(f"/admin/actions/{queued.action_id}")
    assert page.status_code == 200
    assert 'id="own-action"' in page.text and "(you)" in page.text
    assert 'id="approve-form"' not in page.text and 'id="reject-form"' not in page.text
    token = csrf_of(page.text)
    forged = await client.post(f"/admin/actions/{queued.action_id}/approve", data={"csrf_token": token})
    assert forged.status_code == 403
    assert "four-eyes rule: another admin must approve it" in forged.text
    assert 'id="decision-error"' in forged.text
    rejected = await client.post(f"/admin/actions/{queued.action_id}/reject",
                                 data={"csrf_token": token, "reason": "changed my mind"})
    assert rejected.status_code == 403 and "use cancel_action to withdraw it" in rejected.text
    assert await status_of(rt, queued.action_id, queued.school.admin2) == "queued"


# ---------------------------------------------------------------- audit log and jobs


async def test_the_audit_page_shows_the_chain_verified(rt, browser, queued):
    client = browser()
    await sign_in(client, await key_for(rt, queued.school.admin2))
    page = await client.get("/admin/audit")
    assert page.status_code == 200
    assert re.search(r'id="chain">Hash chain verified: all \d+ rows are intact\.', page.text), page.text
    trail = await client.get("/admin/audit", params={"action_id": queued.action_id})
    rows = re.findall(r"<td><code>publish_term_grades</code></td>\s*<td>(\w+)</td>", trail.text)
    assert rows == ["proposed", "queued"]
    assert (await client.get("/admin/audit", params={"after": "x"})).status_code == 422


async def test_the_audit_page_names_a_broken_chain(tmp_path):
    url, pg_name = await fresh_database_url(tmp_path)
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
    try:
        await prepare_database(runtime)
        async with runtime.db.write() as session:
            key = (await create_api_key(session, username="chain-admin", roles="admin")).secret
        for code in ("AUD1", "AUD2"):
            await invoke(runtime, "create_department", {"code": code, "name": "Audited"}, SYSTEM_ACTOR)
        async with runtime.db.write() as session:  # integrated into the tree, then edited
            await integrate_pending(session)
        async with runtime.db.write() as session:
            first = (await list_audit_entries(session, limit=1))[0]
            await (await session.connection()).execute(text("UPDATE audit_log SET event = 'edited' WHERE id = :id"),
                                                       {"id": first.id})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(runtime, own_runtime=False)),
                                     base_url=BASE) as client:
            await sign_in(client, key)
            page = await client.get("/admin/audit")
        assert page.status_code == 200
        assert f"Hash chain BROKEN after 0 good rows: audit row {first.id}: its content does not match" in page.text
        assert 'id="checkpoint">No checkpoint signed yet' in page.text
    finally:
        await runtime.close()
        if pg_name:
            await drop_pg_database(pg_name)


async def test_the_jobs_page_lists_a_job(rt, browser, queued):
    admin2 = queued.school.admin2
    client = browser()
    await sign_in(client, await key_for(rt, admin2))
    job = await invoke(rt, "export_term_grades", {"term_id": queued.school.term_id,
                                                  "section_id": queued.school.section_id}, admin2)
    done = await wait_for(rt, admin2, job.job_id)
    assert done.status == "succeeded"
    page = await client.get("/admin/jobs", params={"kind": "export_term_grades", "status": "succeeded"})
    assert page.status_code == 200
    row = re.search(rf"<tr>\s*<td>{job.job_id}</td>(.*?)</tr>", page.text, re.DOTALL)
    assert row, page.text
    cells = row.group(1)
    assert "<code>export_term_grades</code>" in cells and "status-succeeded" in cells
    assert '<progress max="1" value="1.0">' in cells and "100%" in cells
    assert f"<td>{admin2.username}</td>" in cells
    assert (await client.get("/admin/jobs", params={"status": "done"})).status_code == 422


def test_money_in_minor_units_is_also_shown_in_major_units():
    """A key ending in _minor inside an object naming its currency gets its major units beside it; other numbers,
    and minor units without a currency, are shown as given."""
    from server.admin.views import build_environment

    template = build_environment().from_string('{% from "macros.html" import show %}{{ show(value) }}')
    html = template.render(value={"totals": {"employees": 3, "gross_minor": 1925000, "currency": "AUD"},
                                  "lines": [{"amount_minor": 1250, "currency": "JPY"}],
                                  "loose_minor": 500})
    assert '<span class="num">1925000</span> <span class="major">(19,250.00 AUD)</span>' in html
    assert '<span class="num">1250</span> <span class="major">(1,250 JPY)</span>' in html
    assert '<span class="num">3</span> <span class="major">' not in html
    assert '<span class="num">500</span> <span class="major">' not in html
