"""Dropping a tenant is gated (issue 20): approve-level, only by the operator's (default tenant's) admins, only for a
suspended tenant, with an export first that imports back to an identical school; a change to the tenant's registry
row after the preview makes the action stale (both backends)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select

from domain.kernel import tenants
from domain.kernel.errors import Conflict, NotFound, PermissionDenied, StaleAction
from domain.migrations.schema import target_metadata
from domain.migrations.tenant_drop import check_export
from domain.migrations.transfer import import_tenant
from server.cli import move_tenant
from tests.conftest import BACKEND, create_pg_database, drop_pg_database
from tests.factories import make_user
from tests.tenants.helpers import add_tenant, admin_of, tenants_runtime
from tests.tenants.test_move import add_year_level, schemas, year_levels
from tools.invoke import invoke
from tools.runtime import Runtime


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    exports = tmp_path_factory.mktemp("tenant-exports")
    async with tenants_runtime(tmp_path_factory, "drop", ["north", "south"], tenant_export_dir=exports) as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def admins(rt):
    """Two admins of the default (operator) tenant: a requester and an approver."""
    with tenants.tenant_in_use(None):
        async with rt.db.write() as session:
            return (await make_user(session, roles="admin"), await make_user(session, roles="admin"))


async def set_status(rt: Runtime, code: str, status: tenants.TenantStatus) -> None:
    with tenants.tenant_in_use(None):
        async with rt.db.write() as session:
            await tenants.set_status(session, code=code, status=status)


async def registered(rt: Runtime, code: str) -> tenants.Tenant | None:
    with tenants.tenant_in_use(None):
        async with rt.db.read() as session:
            return await tenants.get_tenant(session, code)


async def storage_exists(rt: Runtime, code: str) -> bool:
    """Whether tenant `code`'s schema (PostgreSQL) or file (SQLite) is there."""
    if rt.db.is_sqlite:
        return Path(make_url(tenants.sqlite_url_of(rt.db.url, code)).database or "").exists()
    async with rt.db.write_engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"),
                                   {"s": tenants.schema_of(code)})).scalar_one() == 1


async def snapshot(rt: Runtime, code: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table of tenant `code` (the registry aside), as text, in primary-key order."""
    rows: dict[str, list[tuple[str, ...]]] = {}
    with tenants.tenant_in_use(code):
        async with rt.db.read() as session:
            for name, table in target_metadata.tables.items():
                if name == "tenants":
                    continue
                order = list(table.primary_key.columns) or list(table.columns)
                result = await session.exec(select(*table.columns).order_by(*order))  # type: ignore[call-overload]
                rows[name] = [tuple(str(v) for v in row) for row in result.all()]
    return rows


async def pending_count(rt: Runtime) -> int:
    with tenants.tenant_in_use(None):
        async with rt.db.read() as session:
            return (await session.exec(text("SELECT count(*) FROM pending_actions"))).one()[0]  # type: ignore


async def test_an_approved_drop_exports_then_removes_the_tenant_and_the_export_imports_back(rt, admins):
    requester, approver = admins
    await add_tenant(rt, "gone_school")
    for level in ("Y7", "Y8", "Y9"):
        await add_year_level(rt, "gone_school", level)
    before = await snapshot(rt, "gone_school")
    assert sum(len(r) for r in before.values()) > 3 and len(before["year_levels"]) == 3
    await set_status(rt, "gone_school", tenants.TenantStatus.SUSPENDED)

    pending = await invoke(rt, "drop_tenant", {"code": "gone_school"}, requester)
    assert pending.pending and pending.level == "approve"
    preview = pending.preview
    assert preview["tenant"]["code"] == "gone_school" and "School gone_school" in pending.summary
    assert ("SQLite file" if rt.db.is_sqlite else "schema tenant_gone_school") in preview["database"]
    assert "cannot be undone except by importing the export" in preview["undo"]
    assert await registered(rt, "gone_school") is not None and await storage_exists(rt, "gone_school")

    # Four eyes: the requester confirms (queued), cannot approve their own drop; another admin can.
    confirmed = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, requester)
    assert confirmed.status == "queued"
    with pytest.raises(PermissionDenied):
        await invoke(rt, "approve_action", {"action_id": pending.action_id}, requester)
    assert await registered(rt, "gone_school") is not None and await storage_exists(rt, "gone_school")
    done = await invoke(rt, "approve_action", {"action_id": pending.action_id}, approver)
    assert done.status == "executed", done
    result: dict[str, Any] = done.result
    path = Path(result["export"]["path"])
    assert path.name == f"tenant-gone_school-action-{pending.action_id}.zip"
    assert path.parent == Path(rt.settings.tenant_export_dir).resolve()
    assert path.exists() and path.stat().st_size == result["export"]["bytes"] > 0
    assert result["storage_dropped"] == ("after commit" if rt.db.is_sqlite else "now")
    assert await registered(rt, "gone_school") is None
    assert not await storage_exists(rt, "gone_school")
    manifest = check_export(path, code="gone_school", dialect=rt.db.dialect, revision=result["export"]["revision"])

    # The export imports back to an identical school.
    await import_tenant(rt.db, "gone_school", path)
    with tenants.tenant_in_use(None):
        async with rt.db.write() as session:
            await tenants.register_tenant(session, code="gone_school", name="School gone_school")
    assert await snapshot(rt, "gone_school") == before
    assert [c for _, c in await year_levels(rt, "gone_school")] == ["Y7", "Y8", "Y9"]
    assert manifest["code"] == "gone_school"


async def test_an_active_tenant_is_refused(rt, admins):
    requester, _ = admins
    count = await pending_count(rt)
    with pytest.raises(Conflict) as info:
        await invoke(rt, "drop_tenant", {"code": "north"}, requester)
    assert "only a suspended tenant can be dropped" in info.value.message
    assert "tenants suspend north" in info.value.message
    assert await pending_count(rt) == count


async def test_an_unknown_tenant_is_not_found(rt, admins):
    with pytest.raises(NotFound):
        await invoke(rt, "drop_tenant", {"code": "nowhere"}, admins[0])


async def test_a_school_admin_cannot_drop_a_tenant(rt):
    await set_status(rt, "south", tenants.TenantStatus.SUSPENDED)
    try:
        north_admin = await admin_of(rt, "north")
        for code in ("south", "north"):
            with tenants.tenant_in_use("north"), pytest.raises(PermissionDenied) as info:
                await invoke(rt, "drop_tenant", {"code": code}, north_admin)
            assert "operator" in info.value.message
        assert await registered(rt, "south") is not None and await storage_exists(rt, "south")
    finally:
        await set_status(rt, "south", tenants.TenantStatus.ACTIVE)


async def test_a_tenant_resumed_after_the_preview_makes_the_drop_stale(rt, admins):
    requester, approver = admins
    await add_tenant(rt, "resumed")
    await set_status(rt, "resumed", tenants.TenantStatus.SUSPENDED)
    pending = await invoke(rt, "drop_tenant", {"code": "resumed"}, requester)
    assert (await invoke(rt, "confirm_action", {"action_id": pending.action_id}, requester)).status == "queued"
    await set_status(rt, "resumed", tenants.TenantStatus.ACTIVE)
    with pytest.raises(StaleAction):
        await invoke(rt, "approve_action", {"action_id": pending.action_id}, approver)
    action = await invoke(rt, "get_action", {"action_id": pending.action_id}, requester)
    assert action.status == "stale"
    assert await registered(rt, "resumed") is not None and await storage_exists(rt, "resumed")
    # Suspended again, the old action stays closed; a renamed tenant is another row than the one previewed.
    await set_status(rt, "resumed", tenants.TenantStatus.SUSPENDED)
    again = await invoke(rt, "drop_tenant", {"code": "resumed"}, requester)
    with tenants.tenant_in_use(None):
        async with rt.db.write() as session:
            row = await tenants.get_tenant_or_raise(session, "resumed")
            row.name = "Renamed school"
            session.add(row)
    await invoke(rt, "confirm_action", {"action_id": again.action_id}, requester)
    with pytest.raises(StaleAction):
        await invoke(rt, "approve_action", {"action_id": again.action_id}, approver)
    assert await registered(rt, "resumed") is not None and await storage_exists(rt, "resumed")
    assert not list(Path(rt.settings.tenant_export_dir).glob("tenant-resumed-*"))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(who=st.sampled_from(["operator_admin", "operator_registrar", "school_admin"]),
       status=st.sampled_from(list(tenants.TenantStatus)))
async def test_only_an_operator_admin_proposes_and_only_for_a_suspended_tenant(rt, admins, who, status):
    """Whoever asks and whatever the tenant's status, a drop is proposed only by an operator's admin for a
    suspended tenant; every other call is refused with nothing written, and a proposal alone changes nothing."""
    await set_status(rt, "south", status)
    try:
        if who == "operator_admin":
            actor, tenant = admins[0], None
        elif who == "operator_registrar":
            with tenants.tenant_in_use(None):
                async with rt.db.write() as session:
                    actor, tenant = await make_user(session, roles="registrar"), None
        else:
            actor, tenant = await admin_of(rt, "north"), "north"
        count = await pending_count(rt)
        allowed = who == "operator_admin" and status is tenants.TenantStatus.SUSPENDED
        with tenants.tenant_in_use(tenant):
            if allowed:
                out = await invoke(rt, "drop_tenant", {"code": "south"}, actor)
                assert out.pending
                await invoke(rt, "cancel_action", {"action_id": out.action_id}, actor)
            else:
                with pytest.raises((PermissionDenied, Conflict)):
                    await invoke(rt, "drop_tenant", {"code": "south"}, actor)
        assert await pending_count(rt) == count + (1 if allowed else 0)
        assert (await registered(rt, "south")).status == status.value and await storage_exists(rt, "south")
    finally:
        await set_status(rt, "south", tenants.TenantStatus.ACTIVE)


async def test_a_drop_whose_export_cannot_be_written_changes_nothing(rt, admins):
    requester, approver = admins
    await add_tenant(rt, "kept")
    await set_status(rt, "kept", tenants.TenantStatus.SUSPENDED)
    before = await snapshot(rt, "kept")
    pending = await invoke(rt, "drop_tenant", {"code": "kept"}, requester)
    await invoke(rt, "confirm_action", {"action_id": pending.action_id}, requester)
    squatter = Path(rt.settings.tenant_export_dir).resolve() / f"tenant-kept-action-{pending.action_id}.zip"
    squatter.write_bytes(b"not ours")
    with pytest.raises(Conflict) as info:
        await invoke(rt, "approve_action", {"action_id": pending.action_id}, approver)
    assert "never overwrites" in info.value.message
    assert (await invoke(rt, "get_action", {"action_id": pending.action_id}, requester)).status == "failed"
    assert squatter.read_bytes() == b"not ours"
    assert (await registered(rt, "kept")).status == "suspended" and await storage_exists(rt, "kept")
    assert await snapshot(rt, "kept") == before


@pytest.mark.skipif(BACKEND != "postgresql", reason="clusters are PostgreSQL databases; a SQLite tenant is a file")
async def test_a_tenant_on_another_cluster_is_exported_from_there_and_dropped_after_the_commit(tmp_path_factory,
                                                                                               tmp_path):
    other_name = f"mcs_test_{uuid.uuid4().hex[:12]}"
    other = await create_pg_database(other_name)
    try:
        async with tenants_runtime(tmp_path_factory, "drop-far", ["far"], tenant_export_dir=tmp_path) as far_rt:
            await add_year_level(far_rt, "far", "Y11")
            await move_tenant(far_rt, "far", other, tmp_path / "move.zip")
            before = await snapshot(far_rt, "far")
            await set_status(far_rt, "far", tenants.TenantStatus.SUSPENDED)
            with tenants.tenant_in_use(None):
                async with far_rt.db.write() as session:
                    requester, approver = (await make_user(session, roles="admin"),
                                           await make_user(session, roles="admin"))
            pending = await invoke(far_rt, "drop_tenant", {"code": "far"}, requester)
            assert make_url(other).database in pending.preview["database"]
            assert "tenant_far" in await schemas(other)
            await invoke(far_rt, "confirm_action", {"action_id": pending.action_id}, requester)
            done = await invoke(far_rt, "approve_action", {"action_id": pending.action_id}, approver)
            assert done.status == "executed" and done.result["storage_dropped"] == "after commit"
            assert "tenant_far" not in await schemas(other)
            assert await registered(far_rt, "far") is None
            path = Path(done.result["export"]["path"])
            await import_tenant(far_rt.db, "far", path)  # back, on the default cluster this time
            with tenants.tenant_in_use(None):
                async with far_rt.db.write() as session:
                    await tenants.register_tenant(session, code="far", name="School far")
            assert await snapshot(far_rt, "far") == before
    finally:
        await drop_pg_database(other_name)


async def test_the_drop_and_import_commands(tmp_path):
    """`mcs-erp tenants drop` proposes and confirms, another admin approves with `actions approve`, and `tenants
    import` brings the school back from the export, suspended."""
    import json
    import re

    from tests.server.e2e_helpers import e2e_database, run_cli_in_process

    async with e2e_database(tmp_path) as db:
        await run_cli_in_process(db, "tenants", "create", "north", "--name", "North Campus")
        await run_cli_in_process(db, "keys", "create", "--user", "admin2", "--roles", "admin")
        active = await run_cli_in_process(db, "tenants", "drop", "north", "--yes", check=False)
        assert active.returncode == 1 and "tenants suspend north" in active.stderr
        await run_cli_in_process(db, "tenants", "suspend", "north")
        asked = await run_cli_in_process(db, "tenants", "drop", "north", "--yes")
        match = re.search(r"action (\d+): queued", asked.stdout)
        assert match and "cannot be undone except by importing the export" in asked.stdout, asked.stdout
        action_id = match.group(1)
        own = await run_cli_in_process(db, "actions", "approve", action_id, check=False)
        assert own.returncode == 1  # the requester ('admin') cannot approve their own drop
        assert "north" in (await run_cli_in_process(db, "tenants", "list")).stdout
        approved = await run_cli_in_process(db, "actions", "approve", action_id, "--as", "admin2")
        assert f"action {action_id}: executed" in approved.stdout
        shown = json.loads((await run_cli_in_process(db, "actions", "show", action_id)).stdout)
        export = Path(shown["result"]["export"]["path"])
        try:
            assert export.exists() and "north" not in (await run_cli_in_process(db, "tenants", "list")).stdout
            await run_cli_in_process(db, "tenants", "import", "north", str(export), "--name", "North Campus")
            listed = (await run_cli_in_process(db, "tenants", "list")).stdout.split()
            assert listed[:3] == ["north", "suspended", "tenant_north"]
            again = await run_cli_in_process(db, "tenants", "import", "north", str(export), "--name", "N",
                                             check=False)
            assert again.returncode == 1 and "never replaces a tenant" in again.stderr
        finally:
            export.unlink(missing_ok=True)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(change=st.sampled_from(["name", "status", "database_url", "created_at", "none"]))
async def test_any_change_to_the_registry_row_after_the_preview_makes_the_drop_stale(rt, admins, change):
    """Whatever column of the tenant's registry row changes between the preview and the approval, the drop is
    stale and nothing is dropped or exported; with no change, the plan is the same again (a new proposal, cancelled
    here, previews the same)."""
    requester, approver = admins
    if await registered(rt, "target") is None:
        await add_tenant(rt, "target")
    await set_status(rt, "target", tenants.TenantStatus.SUSPENDED)
    pending = await invoke(rt, "drop_tenant", {"code": "target"}, requester)
    await invoke(rt, "confirm_action", {"action_id": pending.action_id}, requester)
    with tenants.tenant_in_use(None):
        async with rt.db.write() as session:
            row = await tenants.get_tenant_or_raise(session, "target")
            original = (row.name, row.status, row.database_url, row.created_at)
            if change == "name":
                row.name = "Another name"
            elif change == "status":
                row.status = tenants.TenantStatus.ACTIVE.value
            elif change == "database_url":
                row.database_url = "postgresql+asyncpg://elsewhere.invalid/nowhere"
            elif change == "created_at":
                row.created_at = row.created_at.replace(year=row.created_at.year - 1)
            session.add(row)
    try:
        if change == "none":
            again = await invoke(rt, "drop_tenant", {"code": "target"}, requester)
            assert again.preview == pending.preview and again.summary == pending.summary
            await invoke(rt, "cancel_action", {"action_id": again.action_id}, requester)
            await invoke(rt, "cancel_action", {"action_id": pending.action_id}, requester)
        else:
            with pytest.raises(StaleAction):
                await invoke(rt, "approve_action", {"action_id": pending.action_id}, approver)
            assert (await invoke(rt, "get_action", {"action_id": pending.action_id}, requester)).status == "stale"
    finally:
        with tenants.tenant_in_use(None):
            async with rt.db.write() as session:
                row = await tenants.get_tenant_or_raise(session, "target")
                row.name, row.status, row.database_url, row.created_at = original
                session.add(row)
    assert await registered(rt, "target") is not None and await storage_exists(rt, "target")
    assert not list(Path(rt.settings.tenant_export_dir).glob("tenant-target-*"))
