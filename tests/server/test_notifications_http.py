"""Notifications through the tools and the unsubscribe link over HTTP: an admin reads the log (bodies never shown:
they carry the link), retries a bounced email and switches a category; other roles are refused. The link's GET
only asks (mail scanners open links), its POST (a button, or a mail client's RFC 8058 one-click) switches the
category off; a wrong or truncated token answers 404."""

from __future__ import annotations

import httpx
import pytest

from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied
from domain.notifications import service as notifications
from server.app import create_app
from tests.conftest import own_runtime
from tests.factories import make_user
from tools.invoke import invoke

BASE = "http://127.0.0.1"


@pytest.fixture(scope="module")
async def nrt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "notify-http", public_url="https://erp.hillview.example") as runtime:
        yield runtime


async def queue(runtime, to: str, category: str = "grades"):
    async with runtime.db.write() as s:
        if category == "grades":
            return await notifications.queue(
                s, to=to, name="Sam", category="grades", template="term_grades_published",
                context={"student_name": "Alex Lee", "term_name": "Term 1", "results": []},
                public_url=runtime.settings.public_url)
        return await notifications.queue(s, to=to, category="attendance", template="student_absent",
                                         context={"student_name": "Alex Lee", "date": "2026-03-02", "period": None},
                                         public_url=runtime.settings.public_url)


async def test_admins_read_the_log_retry_and_switch_categories_and_no_one_else_does(nrt):
    async with nrt.db.write() as s:
        admin = await make_user(s, roles="admin")
        registrar = await make_user(s, roles="registrar")
    grades = await queue(nrt, "sam@hillview.example")
    absent = await queue(nrt, "sam@hillview.example", "attendance")
    async with nrt.db.write() as s:
        await notifications.claim_due(s)
        await notifications.record_failure(s, absent.id, error="550 5.1.1 No such mailbox", permanent=True)

    page = await invoke(nrt, "list_notifications", {"email": "SAM@hillview.example"}, admin)
    assert [(n.notification_id, n.status) for n in page.items] == [(grades.id, "sending"), (absent.id, "bounced")]
    assert page.items[1].last_error.startswith("550") and page.items[1].recipient_email == "sam@hillview.example"
    dumped = page.model_dump_json()
    assert "token=" not in dumped and "unsubscribe" not in dumped, "the log never shows the link's credential"
    bounced = await invoke(nrt, "list_notifications", {"status": "bounced", "limit": 1}, admin)
    assert [n.notification_id for n in bounced.items] == [absent.id] and bounced.next_cursor is None

    retried = await invoke(nrt, "retry_notification", {"notification_id": absent.id}, admin)
    assert (retried.status, retried.attempts) == ("queued", 0)
    with pytest.raises(Conflict):
        await invoke(nrt, "retry_notification", {"notification_id": absent.id}, admin)

    prefs = await invoke(nrt, "set_notification_preference", {"email": "sam@hillview.example", "category": "grades",
                                                              "receive": False}, admin)
    assert prefs.receives["grades"] is False and prefs.receives["attendance"] is True
    with pytest.raises(InvalidInput, match="required"):
        await invoke(nrt, "set_notification_preference", {"email": "sam@hillview.example",
                                                          "category": "payroll", "receive": False}, admin)
    with pytest.raises(InvalidInput):
        await invoke(nrt, "set_notification_preference", {"email": "sam@hillview.example",
                                                          "category": "lottery", "receive": False}, admin)
    for tool, args in (("list_notifications", {}), ("retry_notification", {"notification_id": absent.id}),
                       ("set_notification_preference", {"email": "sam@hillview.example", "category": "grades",
                                                        "receive": True})):
        with pytest.raises(PermissionDenied):
            await invoke(nrt, tool, args, registrar)


async def test_the_link_asks_on_get_and_unsubscribes_on_post(nrt):
    row = await queue(nrt, "lee@hillview.example")
    path = row.unsubscribe_url.removeprefix("https://erp.hillview.example")
    token = path.partition("token=")[2]
    app = create_app(nrt, own_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        asked = await http.get(path)
        assert asked.status_code == 200 and "lee@hillview.example" in asked.text and "<form" in asked.text
        assert (await queue(nrt, "lee@hillview.example")).status == "queued", "a GET changed nothing"
        done = await http.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "no longer receive" in done.text
        assert (await queue(nrt, "lee@hillview.example")).status == "suppressed"
        assert (await http.post(path)).status_code == 200, "a second click is harmless"
        for bad in (token[:-2], "", "x" * 5000, f"nosuchschool.{token}", "<script>"):
            answer = await http.post("/notifications/unsubscribe", params={"token": bad})
            assert answer.status_code == 404 and "<script>" not in answer.text, bad


async def test_an_unsubscribe_link_switches_only_its_own_tenants_choice(tmp_path_factory):
    """A tenant's walls: the same address in two schools has a link per school; a link's token moved to another
    school's prefix (or stripped of its own) answers 404, and a click changes its own school's choice only."""
    from domain.kernel.tenants import tenant_in_use
    from tests.tenants.helpers import tenants_runtime

    async with tenants_runtime(tmp_path_factory, "notify-tenants", ["north"],
                               public_url="https://erp.example") as runtime:
        rows = {}
        for code in (None, "north"):
            with tenant_in_use(code):
                rows[code] = await queue(runtime, "sam@example.org")
        default_token = rows[None].unsubscribe_url.partition("token=")[2]
        north_token = rows["north"].unsubscribe_url.partition("token=")[2]
        assert north_token.startswith("north.") and "." not in default_token
        app = create_app(runtime, own_runtime=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
            for forged in (f"north.{default_token}", north_token.removeprefix("north.")):
                answer = await http.post("/notifications/unsubscribe", params={"token": forged})
                assert answer.status_code == 404, forged
            assert (await http.post("/notifications/unsubscribe", params={"token": north_token})).status_code == 200

        async def receives(code):
            with tenant_in_use(code):
                async with runtime.db.read() as s:
                    return (await notifications.preferences(s, "sam@example.org"))["grades"]

        assert await receives("north") is False and await receives(None) is True
