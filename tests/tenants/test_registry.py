"""The tenant registry and `mcs-erp tenants`: codes, create (schema or file, migrated, admin key once), list,
migrate, suspend and resume; the registry stays with the default tenant."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from domain.identity.service import get_user_by_username, tenant_of_key
from domain.kernel import tenants
from domain.kernel.actor import Channel
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.settings import Settings
from domain.kernel.tenants import TenantStatus, tenant_in_use
from domain.migrations.schema import current_revision, target_metadata
from tests.server.e2e_helpers import e2e_database, run_cli_in_process
from tests.tenants.helpers import admin_of, tenants_runtime
from tools.runtime import Runtime

BAD_CODES = ["", "a", "A1", "1ab", "_ab", "ab-c", "ab c", "ab;drop", "ab.c", "é" + "b", "a" * 32, "ab\n", "Ab"]


@pytest.mark.parametrize("code", BAD_CODES)
def test_a_bad_code_is_refused_with_what_codes_look_like(code):
    with pytest.raises(InvalidInput, match="2 to 31 characters, a lower-case letter first") as refused:
        tenants.check_code(code)
    assert refused.value.field == "code"
    with pytest.raises(InvalidInput):
        tenants.schema_of(code)
    with pytest.raises(InvalidInput):
        with tenant_in_use(code):
            pass


def test_good_codes_name_their_schema_and_file():
    for code in ("ab", "north_2", "a" * 31):
        assert tenants.check_code(code) == code
    assert tenants.schema_of("north") == "tenant_north"
    url = tenants.sqlite_url_of("sqlite+aiosqlite:////var/lib/mcs/school.db", "north")
    assert make_url(url).database == "/var/lib/mcs/school.north.db"
    with pytest.raises(InvalidInput, match="in-memory"):
        tenants.sqlite_url_of("sqlite+aiosqlite:///:memory:", "north")
    shown = str(pytest.raises(InvalidInput, tenants.check_code, "x" * 5000).value)
    assert len(shown) < 300  # a huge code is cut in the message


def test_a_key_names_its_tenant_only_when_well_formed():
    assert tenant_of_key("mcs_north.abcDEF-_12") == "north"
    assert tenant_of_key("mcs_abcDEF-_12") is None  # the default tenant's keys have no dot
    assert tenant_of_key("mcs_North.abc") is None and tenant_of_key("mcs_.abc") is None
    assert tenant_of_key("xyz_north.abc") is None and tenant_of_key("mcs_" + "a" * 40 + ".x") is None


async def test_the_registry_refuses_duplicates_unknown_codes_and_bad_names(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "registry", ["north"]) as rt:
        async with rt.db.write() as session:
            with pytest.raises(Conflict, match="tenant 'north' already exists"):
                await tenants.register_tenant(session, code="north", name="again")
        for name in ("", "   ", "x" * 201):
            async with rt.db.write() as session:
                with pytest.raises(InvalidInput, match="1 to 200 characters"):
                    await tenants.register_tenant(session, code="south", name=name)
        async with rt.db.write() as session:
            with pytest.raises(NotFound, match="no tenant with code 'south'"):
                await tenants.set_status(session, code="south", status=TenantStatus.SUSPENDED)
            suspended = await tenants.set_status(session, code="north", status=TenantStatus.SUSPENDED)
            assert suspended.status == "suspended"
        async with rt.db.read() as session:
            listed = await tenants.list_tenants(session)
        assert [(t.code, t.schema_name, t.status, t.database_url) for t in listed] == [
            ("north", "tenant_north", "suspended", None)]
        # The tenant's admin exists in the tenant only; the default tenant's admin is another user.
        north_admin, default_admin = await admin_of(rt, "north"), await admin_of(rt, None)
        assert north_admin.tenant == "north" and default_admin.tenant is None


async def test_a_tenant_has_every_table_but_the_registry(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "layout", ["north"]) as rt:
        expected = set(target_metadata.tables) - {"tenants"}

        def tables(conn, schema=None):
            return set(inspect(conn).get_table_names(schema=schema)) - {"alembic_version"}

        if rt.db.is_sqlite:
            north = rt.db.tenant_database("north")
            async with north.write_engine.connect() as conn:
                assert await conn.run_sync(tables) == expected
            assert await current_revision(north.write_engine) == await current_revision(rt.db.write_engine)
            path = Path(make_url(north.url).database)
            assert path.name.endswith(".north.db") and path.parent == Path(make_url(rt.db.url).database).parent
        else:
            async with rt.db.write_engine.connect() as conn:
                assert await conn.run_sync(tables, "tenant_north") == expected
                assert "tenants" in await conn.run_sync(tables, "public")
                version = (await conn.exec_driver_sql("SELECT version_num FROM tenant_north.alembic_version")
                           ).scalar_one()
            assert version == await current_revision(rt.db.write_engine)


async def test_the_tenants_commands(tmp_path):
    async with e2e_database(tmp_path) as db:
        created = await run_cli_in_process(db, "tenants", "create", "north", "--name", "North Campus")
        key = re.search(r"(mcs_north\.\S+)", created.stdout)
        assert key is not None and "Store it now" in created.stdout, created.stdout
        again = await run_cli_in_process(db, "tenants", "create", "north", "--name", "North", check=False)
        assert again.returncode == 1 and "tenant 'north' already exists" in again.stderr
        bad = await run_cli_in_process(db, "tenants", "create", "North!", "--name", "x", check=False)
        assert bad.returncode == 1 and "is not valid" in bad.stderr
        no_name = await run_cli_in_process(db, "tenants", "create", "south", "--name", "", check=False)
        assert no_name.returncode == 1 and "1 to 200 characters" in no_name.stderr
        await run_cli_in_process(db, "tenants", "create", "south", "--name", "South")

        listed = (await run_cli_in_process(db, "tenants", "list")).stdout.splitlines()
        assert [line.split()[:3] for line in listed] == [["north", "active", "tenant_north"],
                                                          ["south", "active", "tenant_south"]]
        assert listed[0].endswith("North Campus")
        suspended = await run_cli_in_process(db, "tenants", "suspend", "north")
        assert "tenant north: suspended" in suspended.stdout
        listed = (await run_cli_in_process(db, "tenants", "list")).stdout
        assert re.search(r"^north\s+suspended", listed, re.M) and re.search(r"^south\s+active", listed, re.M)
        await run_cli_in_process(db, "tenants", "resume", "north")
        assert re.search(r"^north\s+active", (await run_cli_in_process(db, "tenants", "list")).stdout, re.M)
        unknown = await run_cli_in_process(db, "tenants", "suspend", "nowhere", check=False)
        assert unknown.returncode == 1 and "no tenant with code 'nowhere'" in unknown.stderr

        teacher = await run_cli_in_process(db, "keys", "create", "--tenant", "south", "--user", "t1", "--roles",
                                           "teacher")
        teacher_key = re.search(r"(mcs_south\.\S+)", teacher.stdout)
        assert teacher_key is not None, teacher.stdout
        runtime = Runtime.create(Settings(database_url=db.url, key_cache_seconds=0))
        try:
            actor = await runtime.actor_for_key(teacher_key.group(1), Channel.MCP_HTTP)
            assert actor is not None and actor.tenant == "south" and actor.username == "t1"
            with tenant_in_use(None):  # no such user in the default school
                async with runtime.db.read() as session:
                    assert await get_user_by_username(session, "t1") is None
        finally:
            await runtime.close()
        for refused_tenant, message in (("north", "is suspended"), ("nowhere", "no tenant with code 'nowhere'"),
                                        ("Bad!", "is not valid")):
            if refused_tenant == "north":
                await run_cli_in_process(db, "tenants", "suspend", "north")
            out = await run_cli_in_process(db, "keys", "create", "--tenant", refused_tenant, "--user", "t2",
                                           "--roles", "teacher", check=False)
            assert out.returncode == 1 and message in out.stderr, (refused_tenant, out.stderr)
        await run_cli_in_process(db, "tenants", "resume", "north")

        migrated = await run_cli_in_process(db, "tenants", "migrate", "--all")
        assert "tenant north: migrated" in migrated.stdout and "tenant south: migrated" in migrated.stdout
        assert "2 tenant(s) up to date" in migrated.stdout
        # The template first: a migration that fails stops there, before any tenant is touched.
        assert migrated.stdout.index("tenant template: migrated") < migrated.stdout.index("tenant north: migrated")
        one = await run_cli_in_process(db, "tenants", "migrate", "south")
        assert "1 tenant(s) up to date" in one.stdout
        neither = await run_cli_in_process(db, "tenants", "migrate", check=False)
        assert neither.returncode != 0 and "give either a tenant CODE or --all" in neither.stderr
        both = await run_cli_in_process(db, "tenants", "migrate", "south", "--all", check=False)
        assert both.returncode != 0
