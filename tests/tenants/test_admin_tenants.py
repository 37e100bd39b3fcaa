"""The admin pages per tenant (issue 20): an admin of school A signs in with A's key and sees and decides only A's
pending actions, audit log and jobs; B's action ids answer 404 and cannot be approved from A's session; a
suspended school's session is refused with the reason (SQLite files and PostgreSQL schemas)."""

from __future__ import annotations

import httpx
import pytest

from domain.actions.models import PendingAction
from domain.identity.service import create_api_key
from domain.kernel import tenants
from domain.kernel.actor import Actor
from server.app import create_app
from tests.factories import make_school
from tests.server.test_admin_pages import BASE, csrf_of, sign_in
from tests.tenants.helpers import tenants_runtime
from tools.invoke import invoke
from tools.runtime import Runtime


async def queue_action(rt: Runtime, code: str) -> tuple[int, Actor]:
    """A term-grade publication queued for approval in tenant `code`; (its id, the approving admin)."""
    with tenants.tenant_in_use(code):
        school = await make_school(rt, students=1)
        await invoke(rt, "create_assessment", {"class_id": school.class_id, "term_id": school.term_id,
                                               "title": f"Quiz of {code}", "max_score": 10}, school.admin)
        pending = await invoke(rt, "publish_term_grades", {"class_id": school.class_id,
                                                           "term_id": school.term_id}, school.admin)
        queued = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, school.admin)
        assert queued.status == "queued"
        return pending.action_id, school.admin2


async def key_of(rt: Runtime, code: str, actor: Actor) -> str:
    with tenants.tenant_in_use(code):
        async with rt.db.write() as session:
            return (await create_api_key(session, username=actor.username, name="admin-tenant-test")).secret


@pytest.fixture(scope="module")
async def schools(tmp_path_factory):
    """North has two queued actions (ids 1 and 2), south one (id 1): the same id names each school's own."""
    async with tenants_runtime(tmp_path_factory, "admin_tenants", ["north", "south"]) as rt:
        north_first, north_admin = await queue_action(rt, "north")
        north_second, _ = await queue_action(rt, "north")
        south_first, south_admin = await queue_action(rt, "south")
        assert (north_first, north_second, south_first) == (1, 2, 1)
        yield rt, {"north": await key_of(rt, "north", north_admin), "south": await key_of(rt, "south", south_admin)}


async def status_in(rt: Runtime, code: str, action_id: int) -> str | None:
    with tenants.tenant_in_use(code):
        async with rt.db.read() as session:
            action = await session.get(PendingAction, action_id)
            return None if action is None else action.status


async def test_an_admin_sees_and_decides_only_their_schools_actions(schools):
    rt, keys = schools
    app = create_app(rt, own_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as south:
        assert (await sign_in(south, keys["south"])).status_code == 303
        queue = await south.get("/admin/actions")
        assert queue.status_code == 200
        assert "/admin/actions/1" in queue.text and "/admin/actions/2" not in queue.text  # north's 2 is not south's
        assert (await south.get("/admin/actions/2")).status_code == 404
        page = await south.get("/admin/actions/1")
        assert page.status_code == 200
        forged = await south.post("/admin/actions/2/approve", data={"csrf_token": csrf_of(page.text)})
        assert forged.status_code == 404 and await status_in(rt, "north", 2) == "queued"
        approved = await south.post("/admin/actions/1/approve", data={"csrf_token": csrf_of(page.text)})
        assert approved.status_code == 303, approved.text
    # South's approval of its action 1 left north's action 1 queued.
    assert await status_in(rt, "south", 1) == "executed"
    assert (await status_in(rt, "north", 1), await status_in(rt, "north", 2)) == ("queued", "queued")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as north:
        assert (await sign_in(north, keys["north"])).status_code == 303
        queue = await north.get("/admin/actions")
        assert "/admin/actions/1" in queue.text and "/admin/actions/2" in queue.text
        audit = await north.get("/admin/audit")
        assert audit.status_code == 200 and "publish_term_grades" in audit.text
        assert (await north.get("/admin/jobs")).status_code == 200


async def test_a_session_of_a_suspended_school_is_refused(schools):
    rt, keys = schools
    app = create_app(rt, own_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as browser:
        assert (await sign_in(browser, keys["south"])).status_code == 303
        with tenants.tenant_in_use(None):
            async with rt.db.write() as session:
                await tenants.set_status(session, code="south", status=tenants.TenantStatus.SUSPENDED)
        try:
            refused = await browser.get("/admin/actions")
            assert refused.status_code == 403 and "suspended" in refused.text
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as other:
                again = await sign_in(other, keys["south"])
            assert again.status_code == 403 and "suspended" in again.text
        finally:
            with tenants.tenant_in_use(None):
                async with rt.db.write() as session:
                    await tenants.set_status(session, code="south", status=tenants.TenantStatus.ACTIVE)


async def test_a_key_naming_another_or_no_school_is_unknown(schools):
    rt, keys = schools
    app = create_app(rt, own_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as browser:
        # A key naming an unregistered school is unknown, not looked up in the default school.
        forged = await sign_in(browser, "mcs_nowhere." + keys["north"].split(".", 1)[1])
        assert forged.status_code == 401 and "unknown or revoked" in forged.text
        # North's secret under south's name is south's unknown key.
        swapped = await sign_in(browser, "mcs_south." + keys["north"].split(".", 1)[1])
        assert swapped.status_code == 401
