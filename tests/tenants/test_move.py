"""Past one machine (issue 20): tenants on several PostgreSQL clusters (two databases of the local server here), one
pool per cluster, `mcs-erp tenants move` by export and import with the tenant suspended meanwhile, and an export
that imports back (both backends)."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select

from domain.academics import service as academics
from domain.academics.models import YearLevel
from domain.identity.service import create_api_key
from domain.kernel import tenants
from domain.kernel.actor import Channel
from domain.kernel.errors import InvalidInput
from domain.kernel.settings import Settings
from domain.migrations.transfer import drop_tenant_storage, export_tenant, import_tenant, read_manifest
from server.auth import CLI_OPERATOR
from server.cli import move_tenant
from tests.conftest import BACKEND, create_pg_database, drop_pg_database
from tests.tenants.helpers import tenants_runtime
from tools.runtime import Runtime


async def add_year_level(rt: Runtime, code: str | None, level: str) -> int:
    with tenants.tenant_in_use(code):
        async with rt.db.write() as session:
            return (await academics.create_year_level(session, CLI_OPERATOR, code=level, name=f"Year {level}",
                                                      ordinal=int(level[1:]))).id


async def year_levels(rt: Runtime, code: str | None) -> list[tuple[int, str]]:
    with tenants.tenant_in_use(code):
        async with rt.db.read() as session:
            rows = (await session.exec(select(YearLevel).order_by(YearLevel.id))).all()  # type: ignore[arg-type]
            return [(row.id, row.code) for row in rows]


async def new_key(rt: Runtime, code: str) -> str:
    with tenants.tenant_in_use(code):
        async with rt.db.write() as session:
            return (await create_api_key(session, username="admin", name="test")).secret


async def schemas(url: str) -> set[str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return {row[0] for row in (await conn.exec_driver_sql(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'")).all()}
    finally:
        await engine.dispose()


async def test_an_export_imports_back(tmp_path_factory, tmp_path):
    async with tenants_runtime(tmp_path_factory, "export", ["north", "south"]) as rt:
        first = await add_year_level(rt, "north", "Y7")
        await add_year_level(rt, "south", "Y9")
        before = await year_levels(rt, "north")
        manifest = await export_tenant(rt.db, "north", tmp_path / "north.zip")
        assert read_manifest(tmp_path / "north.zip") == manifest and manifest["code"] == "north"
        with pytest.raises(FileExistsError):
            await export_tenant(rt.db, "north", tmp_path / "north.zip")
        if not rt.db.is_sqlite:
            by_name = {t["name"]: t["rows"] for t in manifest["tables"]}
            assert by_name["year_levels"] == 1 and by_name["users"] == 1
            order = [t["name"] for t in manifest["tables"]]
            assert order.index("users") < order.index("api_keys")  # parents load first
        await drop_tenant_storage(rt.db, "north")
        with pytest.raises(Exception):
            await year_levels(rt, "north")
        await import_tenant(rt.db, "north", tmp_path / "north.zip")
        assert await year_levels(rt, "north") == before
        assert await add_year_level(rt, "north", "Y8") > first  # the sequences carried on
        assert [c for _, c in await year_levels(rt, "south")] == ["Y9"]  # the other tenant untouched
        (tmp_path / "junk.zip").write_bytes(b"not a zip")
        with pytest.raises(InvalidInput, match="not an mcs-erp tenant export"):
            await import_tenant(rt.db, "north", tmp_path / "junk.zip")


@pytest.mark.skipif(BACKEND != "postgresql", reason="on SQLite a tenant is a file; tested below")
async def test_a_tenant_moves_to_another_cluster_and_back(tmp_path_factory, tmp_path):
    other_name = f"mcs_test_{uuid.uuid4().hex[:12]}"
    other = await create_pg_database(other_name)
    try:
        async with tenants_runtime(tmp_path_factory, "move", ["north", "south"]) as rt:
            await add_year_level(rt, None, "Y1")
            first = await add_year_level(rt, "north", "Y7")
            await add_year_level(rt, "south", "Y9")
            key = await new_key(rt, "north")
            north_before = await year_levels(rt, "north")
            seen: list[str] = []

            async def on_step(name: str) -> None:
                seen.append(name)
                if name in ("suspended", "exported", "imported"):  # meanwhile: the tenant's calls are refused
                    with pytest.raises(tenants.TenantSuspended, match="tenant 'north' .* is suspended"):
                        await rt.actor_for_key(key, Channel.MCP_HTTP)

            manifest = await move_tenant(rt, "north", other, tmp_path / "north.zip", on_step=on_step)
            assert seen == ["migrated", "suspended", "exported", "imported", "placed", "dropped", "resumed"]
            assert manifest["code"] == "north" and (tmp_path / "north.zip").exists()
            async with rt.db.read() as session:
                north = await tenants.get_tenant_or_raise(session, "north")
            assert (north.database_url, north.status) == (other, "active")
            assert await schemas(other) >= {"tenant_north"} and "tenant_south" not in await schemas(other)
            assert "tenant_north" not in await schemas(rt.db.url) and "tenant_south" in await schemas(rt.db.url)
            # The tenant is served from the other cluster: its rows, its key, its sequences.
            assert await year_levels(rt, "north") == north_before
            assert (await rt.actor_for_key(key, Channel.MCP_HTTP)).tenant == "north"
            assert await add_year_level(rt, "north", "Y8") > first
            assert [c for _, c in await year_levels(rt, "south")] == ["Y9"]
            assert [c for _, c in await year_levels(rt, None)] == ["Y1"]
            # A new process finds it there from the registry.
            fresh = Runtime.create(Settings(database_url=rt.db.url, key_cache_seconds=0))
            try:
                assert [c for _, c in await year_levels(fresh, "north")] == ["Y7", "Y8"]
            finally:
                await fresh.close()
            # Two tenants on that cluster share one pool.
            await move_tenant(rt, "south", other, tmp_path / "south.zip")
            assert [c for _, c in await year_levels(rt, "south")] == ["Y9"]
            assert rt.db.cluster_database(other) is rt.db.cluster_database(other)
            assert rt.db.cluster_urls() == [other]
            # Back home: the registry names no other database again.
            with pytest.raises(InvalidInput, match="in that database already"):
                await move_tenant(rt, "north", other, tmp_path / "again.zip")
            await move_tenant(rt, "north", rt.db.url, tmp_path / "back.zip")
            async with rt.db.read() as session:
                assert (await tenants.get_tenant_or_raise(session, "north")).database_url is None
            assert [c for _, c in await year_levels(rt, "north")] == ["Y7", "Y8"]
            assert "tenant_north" not in await schemas(other)
    finally:
        await drop_pg_database(other_name)


@pytest.mark.skipif(BACKEND != "sqlite", reason="the refusal of SQLite")
async def test_a_sqlite_tenant_is_not_moved(tmp_path_factory, tmp_path):
    async with tenants_runtime(tmp_path_factory, "move_sqlite", ["north"]) as rt:
        with pytest.raises(InvalidInput, match="on SQLite a tenant is its own file"):
            await move_tenant(rt, "north", "postgresql+asyncpg://x@127.0.0.1/y", tmp_path / "x.zip")


async def test_a_move_to_a_url_that_is_not_postgresql_is_refused(tmp_path_factory, tmp_path):
    if BACKEND != "postgresql":
        pytest.skip("SQLite refuses every move (above)")
    async with tenants_runtime(tmp_path_factory, "move_bad", ["north"]) as rt:
        for bad, message in (("sqlite+aiosqlite:///x.db", "must be a PostgreSQL URL"),
                             ("not a url", "not a database URL")):
            with pytest.raises(InvalidInput, match=message):
                await move_tenant(rt, "north", bad, tmp_path / "x.zip")
        async with rt.db.read() as session:  # nothing happened to it
            assert (await tenants.get_tenant_or_raise(session, "north")).status == "active"


@pytest.mark.skipif(BACKEND != "postgresql", reason="on SQLite a tenant is a file (refused above)")
async def test_the_move_command(tmp_path):
    from sqlalchemy.engine import make_url

    from tests.server.e2e_helpers import e2e_database, run_cli_in_process

    other_name = f"mcs_test_{uuid.uuid4().hex[:12]}"
    other = await create_pg_database(other_name)
    try:
        async with e2e_database(tmp_path) as db:
            await run_cli_in_process(db, "tenants", "create", "north", "--name", "North Campus")
            export = tmp_path / "north.zip"
            moved = await run_cli_in_process(db, "tenants", "move", "north", "--to", other, "--export", str(export))
            steps = [line.split(": ", 1)[1] for line in moved.stdout.splitlines() if line.startswith("tenant north: ")]
            assert steps == ["migrated", "suspended", "exported", "imported", "placed", "dropped", "resumed"]
            assert "tenant north moved to" in moved.stdout and export.exists()
            assert make_url(other).password is None or make_url(other).password not in moved.stdout
            listed = (await run_cli_in_process(db, "tenants", "list")).stdout.split()
            assert listed[:3] == ["north", "active", "tenant_north"] and listed[3].endswith(f"/{other_name}")
            again = await run_cli_in_process(db, "tenants", "move", "north", "--to", other, check=False)
            assert again.returncode == 1 and "in that database already" in again.stderr
            home = await run_cli_in_process(db, "tenants", "move", "north", "--to", db.url,
                                            "--export", str(tmp_path / "home.zip"))
            assert "tenant north: resumed" in home.stdout
            assert (await run_cli_in_process(db, "tenants", "list")).stdout.split()[3] == "default"
    finally:
        await drop_pg_database(other_name)
