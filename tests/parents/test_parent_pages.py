"""The parent pages through the ASGI app (httpx, no browser): sign-in by a one-time emailed link (single use, short
expiry, only its hash stored, the same answer for any address), the children, a child's published grades,
attendance and balance, the statement, and 404 for another family's student or family id."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlmodel import select

from domain.identity import service as identity
from domain.identity.models import SignInLink
from domain.kernel.clock import utcnow
from domain.notifications.models import Notification
from server.app import create_app
from tests.conftest import own_runtime
from tests.parents.world import World, build_world

BASE = "http://127.0.0.1:8000"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
LINK_RE = re.compile(r"(https?://\S+/parents/sign-in/link\?token=(\S+))")


@pytest.fixture(scope="module")
async def prt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "parent-pages", in_process_jobs=True, currency="AUD",
                           public_url=BASE, school_name="Hillview") as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def world(prt) -> World:
    return await build_world(prt)


@pytest.fixture
async def browser(prt) -> AsyncIterator:
    app = create_app(prt, own_runtime=False)
    clients: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, html[:2000]
    return match.group(1)


async def emailed_links(rt, email: str) -> list[str]:
    async with rt.db.read() as s:
        rows = (await s.exec(select(Notification).where(Notification.recipient_email == email,
                                                        Notification.template == "sign_in_link")
                             .order_by(Notification.id))).all()
    return [LINK_RE.search(r.body_text).group(2) for r in rows]


async def ask_link(client: httpx.AsyncClient, email: str) -> httpx.Response:
    form = await client.get("/parents/sign-in")
    assert form.status_code == 200
    return await client.post("/parents/sign-in", data={"email": email, "csrf_token": csrf_of(form.text)})


async def use_link(client: httpx.AsyncClient, token: str) -> httpx.Response:
    confirm = await client.get(f"/parents/sign-in/link?token={token}")
    assert confirm.status_code == 200 and "confirm-form" in confirm.text
    return await client.post("/parents/sign-in/link", data={"token": token, "csrf_token": csrf_of(confirm.text)})


async def signed_in(prt, browser, world: World, who: str) -> httpx.AsyncClient:
    client = browser()
    before = len(await emailed_links(prt, world.emails[who]))
    sent = await ask_link(client, world.emails[who])
    assert sent.status_code == 200 and "sent" in sent.text
    tokens = await emailed_links(prt, world.emails[who])
    assert len(tokens) == before + 1
    done = await use_link(client, tokens[-1])
    assert done.status_code == 303 and done.headers["location"] == "/parents/"
    return client


async def test_a_guardian_signs_in_by_the_emailed_link_once(prt, browser, world):
    client = await signed_in(prt, browser, world, "kim")
    home = await client.get("/parents/")
    assert home.status_code == 200 and "Ana " in home.text and "Ben " in home.text and "Cai " not in home.text
    assert home.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in home.headers[
        "content-security-policy"]
    token = (await emailed_links(prt, world.emails["kim"]))[-1]
    again = await use_link(browser(), token)  # used: refused, and no session
    assert again.status_code == 400 and "used already" in again.text
    async with prt.db.read() as s:
        link = (await s.exec(select(SignInLink).where(SignInLink.token_hash == identity.hash_key(token)))).one()
        assert link.used_at is not None and link.expires_at - link.created_at == timedelta(
            minutes=identity.SIGN_IN_LINK_MINUTES)
        assert not (await s.exec(select(SignInLink).where(SignInLink.token_hash == token))).all()  # only the hash


async def test_an_expired_link_and_an_unknown_address_sign_nobody_in(prt, browser, world):
    async with prt.db.write() as s:
        user = await identity.get_user_by_username(s, world.emails["lee"])
        old = await identity.issue_sign_in_link(s, user=user, now=utcnow() - timedelta(minutes=16))
    expired = await use_link(browser(), old.token)
    assert expired.status_code == 400 and "expired" in expired.text
    async with prt.db.read() as s:
        before = len((await s.exec(select(Notification))).all())
    unknown = await ask_link(browser(), "nobody.here@example.org")
    staff = await ask_link(browser(), world.registrar.username + "@example.org")
    assert unknown.status_code == staff.status_code == 200 and "sent" in unknown.text
    async with prt.db.read() as s:
        assert len((await s.exec(select(Notification))).all()) == before  # no mail, the same answer
    lee_links = len(await emailed_links(prt, world.emails["lee"]))
    for _ in range(5):  # asked again and again: at most MAX_LINKS_PER_WINDOW mails in a link's lifetime
        assert "sent" in (await ask_link(browser(), world.emails["lee"])).text
    from domain.family.service import MAX_LINKS_PER_WINDOW
    assert len(await emailed_links(prt, world.emails["lee"])) == lee_links + MAX_LINKS_PER_WINDOW
    bad = await ask_link(browser(), "not an address")
    assert bad.status_code == 422
    assert (await browser().get("/parents/")).headers["location"] == "/parents/sign-in"


async def test_a_child_page_shows_published_grades_attendance_and_balance(prt, browser, world):
    client = await signed_in(prt, browser, world, "kim")
    page = await client.get(f"/parents/children/{world.students['Ana']}")
    assert page.status_code == 200
    assert "Mathematics" in page.text and "91.00" in page.text and "Science" not in page.text  # unpublished
    assert "Not in a section yet." in page.text and "id=\"balance-amount\"" in page.text
    balance = await client.get(f"/parents/family/{world.families['Kim']}")
    assert balance.status_code == 200 and "Closing balance" in balance.text
    for path in (f"/parents/children/{world.students['Dee']}", f"/parents/children/{world.students['Cai']}",
                 "/parents/children/999999", "/parents/children/99999999999",
                 f"/parents/family/{world.families['Lee']}", "/parents/family/999999"):
        refused = await client.get(path)
        assert refused.status_code == 404, path
        assert "Dee" not in refused.text and "Lee family" not in refused.text


async def test_forged_posts_and_foreign_cookies_are_refused(prt, browser, world):
    client = await signed_in(prt, browser, world, "moe")
    out = await client.post("/parents/sign-out", data={})
    assert out.status_code == 403
    home = await client.get("/parents/")
    out = await client.post("/parents/sign-out", data={"csrf_token": csrf_of(home.text)},
                            headers={"origin": "https://evil.example"})
    assert out.status_code == 403
    out = await client.post("/parents/sign-out", data={"csrf_token": csrf_of(home.text)})
    assert out.status_code == 303 and (await client.get("/parents/")).status_code == 303
    admin = browser()  # the admin pages' cookie is no parent session, whatever it holds
    admin.cookies.set("mcs_erp_admin", client.cookies.get("mcs_erp_parent") or "x")
    assert (await admin.get("/parents/")).status_code == 303
