"""The tenant template (domain/migrations/template.py): migrations run on it first, and a new tenant built as a copy
of it is the tenant the migrations would have built: every table, column, default, constraint, index, sequence
(its owner and value), function, trigger and seeded row alike, whatever the tenant's code. A template holding what
the copy would miss is refused, and an existing tenant is migrated, never rebuilt."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import make_url

from domain.kernel import tenants
from domain.migrations import template
from domain.migrations.schema import current_revision, migrate, migrate_tenant
from tests.conftest import BACKEND, own_runtime
from tests.tenants.helpers import add_tenant, admin_of

CATALOG = """
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || coalesce(' collate ' || co.collname, '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
 WHERE n.nspname = :s AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'S')
UNION ALL SELECT 'columns ' || c.relname || ' ' || string_agg(a.attname, ', ' ORDER BY a.attnum)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :s AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind = 'r' GROUP BY c.relname
UNION ALL SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' '
       || coalesce(obj_description(c.oid, 'pg_class'), '') || coalesce(' with ' || array_to_string(c.reloptions, ','), '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s
UNION ALL SELECT 'constraint ' || c.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
  FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = con.connamespace
 WHERE n.nspname = :s
UNION ALL SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s
UNION ALL SELECT 'sequence ' || s.sequencename || ' ' || s.data_type || ' ' || s.start_value || ' ' || s.increment_by
       || ' ' || s.max_value || ' ' || coalesce(s.last_value::text, 'unused')
  FROM pg_sequences s WHERE s.schemaname = :s
UNION ALL SELECT 'owned ' || s.relname || ' by ' || t.relname || '.' || a.attname FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND d.classid = 'pg_class'::regclass
  JOIN pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
  JOIN pg_namespace n ON n.oid = s.relnamespace WHERE n.nspname = :s AND s.relkind = 'S' AND d.deptype = 'a'
UNION ALL SELECT 'function ' || pg_get_functiondef(p.oid) FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s
UNION ALL SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT t.tgisinternal
"""


async def pg_catalog_of(conn, schema: str) -> list[str]:
    """Every object of `schema` as a line, its schema's name replaced by `{S}`, sorted; then every row of every
    table, as text."""
    await conn.exec_driver_sql("SET LOCAL search_path TO pg_catalog")  # definitions name the schema: replaced below
    lines = [row[0] for row in (await conn.execute(text(CATALOG), {"s": schema})).all()]
    tables = [row[0] for row in (await conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind = 'r'"), {"s": schema})).all()]
    for table in tables:
        rows = (await conn.exec_driver_sql(f'SELECT t::text FROM "{schema}"."{table}" t')).all()
        lines.extend(f"row {table} {row[0]}" for row in rows)
    pattern = re.compile(rf"\b{re.escape(schema)}\b")
    return sorted(pattern.sub("{S}", line) for line in lines)


def sqlite_catalog_of(path: str) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        # A table's clauses sorted: batch migrations rebuild tables with their constraints in set order.
        lines = [f"{kind} {name} {sorted(part.strip().rstrip(',') for part in (sql or '').splitlines())}"
                 for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master")]
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            lines.extend(f"row {name} {row!r}" for row in conn.execute(f'SELECT * FROM "{name}"'))
    finally:
        conn.close()
    return sorted(lines)


TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:\d\d)?)?")


def same_rows(lines: list[str]) -> list[str]:
    """`lines` with the seeded rows' timestamps (when the migration ran: the template's, or the tenant's) hidden."""
    return sorted(TIMESTAMP.sub("{T}", line) if line.startswith("row ") else line for line in lines)


def tenant_file(url: str, code: str) -> str:
    return make_url(tenants.sqlite_url_of(url, code)).database


async def catalog(runtime, code: str) -> list[str]:
    if runtime.db.is_sqlite:
        await runtime.db.dispose()  # the tenant's engines (a checkpointed file to read)
        return sqlite_catalog_of(tenant_file(runtime.db.url, code))
    async with runtime.db.write_engine.connect() as conn:
        return await pg_catalog_of(conn, tenants.schema_of(code))


async def test_a_tenant_built_from_the_template_is_the_migrated_tenant(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "template") as rt:
        db = rt.db
        await migrate_tenant(db, "copied")  # built from the template
        engine = db.tenant_database("migrated").write_engine if db.is_sqlite else db.write_engine
        await migrate(engine, tenant="migrated")  # every migration, from nothing
        copied, migrated = await catalog(rt, "copied"), await catalog(rt, "migrated")
        assert any(line.startswith(("row alembic_version", "row leave_types")) for line in copied)
        if not db.is_sqlite:
            kinds = {line.split(" ", 1)[0] for line in copied}
            assert {"column", "constraint", "index", "sequence", "owned", "function", "trigger", "row"} <= kinds
        assert same_rows(copied) == same_rows(migrated)
        # The copy was built from the template schema (or file), which is at the newest revision.
        if db.is_sqlite:
            assert template.template_sqlite_path(db).exists()
        else:
            async with db.write_engine.connect() as conn:
                version = (await conn.exec_driver_sql(
                    f"SELECT version_num FROM {template.TEMPLATE_SCHEMA}.alembic_version")).scalar_one()
            assert version == await current_revision(db.write_engine)


def tenant_codes() -> list[str]:
    """Codes drawn by hypothesis (derandomized, so every run checks the same ones): any valid code, and codes that
    look like the template's schema or contain its name, the longest codes."""
    codes: list[str] = ["template", "tenant_template", "x" * 31, "t_" + "template" * 3]

    @settings(max_examples=8, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(st.from_regex(tenants.CODE_PATTERN, fullmatch=True))
    def draw(code: str) -> None:
        if code not in codes and code != "first":
            codes.append(code)

    draw()
    return codes


CODES = tenant_codes()


@pytest.mark.skipif(BACKEND != "postgresql", reason="a SQLite tenant is a copy of the template file, names and all")
async def test_any_tenant_code_gets_the_same_schema(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "template_codes") as rt:
        await migrate_tenant(rt.db, "first")
        reference = await catalog(rt, "first")
        for code in CODES:
            await migrate_tenant(rt.db, code)
            assert await catalog(rt, code) == reference, code


@pytest.mark.skipif(BACKEND != "postgresql", reason="the template's catalog is PostgreSQL's")
async def test_a_template_holding_what_a_copy_would_miss_is_refused(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "template_refused") as rt:
        await template.migrate_template(rt.db)
        async with rt.db.write_engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE TYPE {template.TEMPLATE_SCHEMA}.mood AS ENUM ('ok')")
            await conn.exec_driver_sql(f"CREATE VIEW {template.TEMPLATE_SCHEMA}.v AS SELECT 1 AS one")
        with pytest.raises(template.TemplateUnsupported, match="holds what a copy would miss") as refused:
            await template.clone_template(rt.db, "north")
        assert "type mood" in str(refused.value) and "relation v of kind v" in str(refused.value)
        async with rt.db.write_engine.connect() as conn:  # nothing half-built
            assert (await conn.exec_driver_sql(
                "SELECT count(*) FROM pg_namespace WHERE nspname = 'tenant_north'")).scalar_one() == 0


async def test_an_existing_tenant_is_migrated_not_rebuilt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "template_existing") as rt:
        await add_tenant(rt, "north")
        admin = await admin_of(rt, "north")
        with pytest.raises(FileExistsError, match="tenant 'north' has its"):
            await template.clone_template(rt.db, "north")
        await migrate_tenant(rt.db, "north")  # up to date already: the rows stay
        assert (await admin_of(rt, "north")).id == admin.id
