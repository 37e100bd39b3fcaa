"""The PostgreSQL layout is one Citus 12+ can distribute with schema-based sharding
(`citus.enable_schema_based_sharding`: each tenant schema becomes a distributed schema, moved whole between
nodes): no foreign key crosses schemas, nothing of a tenant's tables lives outside its schema (sequences, types,
defaults), and the only shared table, the registry, lives in `public`. Citus cannot be installed here, so the test
inspects the catalog of a migrated database with two tenants (and the template schema they were built from)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from domain.migrations.schema import target_metadata
from domain.migrations.template import TEMPLATE_SCHEMA
from tests.tenants.helpers import tenants_runtime

TENANT_SCHEMAS = ("tenant_north", "tenant_south", TEMPLATE_SCHEMA)  # the template is laid out as a tenant is


@pytest.fixture(scope="module")
async def conn(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "citus", ["north", "south"]) as runtime:
        if runtime.db.is_sqlite:
            pytest.skip("schema-based sharding is PostgreSQL's (a SQLite tenant is a file)")
        async with runtime.db.write_engine.connect() as connection:
            yield connection


async def rows(conn, sql: str) -> list[tuple]:
    return [tuple(row) for row in (await conn.execute(text(sql))).all()]


async def test_no_foreign_key_crosses_a_schema(conn):
    keys = await rows(conn, """
        SELECT c.conname, src.nspname, dst.nspname
        FROM pg_constraint c
        JOIN pg_class s ON s.oid = c.conrelid JOIN pg_namespace src ON src.oid = s.relnamespace
        JOIN pg_class d ON d.oid = c.confrelid JOIN pg_namespace dst ON dst.oid = d.relnamespace
        WHERE c.contype = 'f'""")
    assert keys, "the schema has foreign keys: the check below would be empty otherwise"
    crossing = [key for key in keys if key[1] != key[2]]
    assert crossing == []
    per_schema = {schema: sum(1 for key in keys if key[1] == schema) for schema in ("public", *TENANT_SCHEMAS)}
    assert len(set(per_schema.values())) == 1, per_schema  # every tenant has the default tenant's keys


async def test_each_tenant_schema_holds_its_tables_and_only_public_holds_the_registry(conn):
    tables = await rows(conn, """
        SELECT table_schema, table_name FROM information_schema.tables
        WHERE table_schema NOT IN ('pg_catalog', 'information_schema')""")
    by_schema: dict[str, set[str]] = {}
    for schema, name in tables:
        by_schema.setdefault(schema, set()).add(name)
    expected = set(target_metadata.tables) | {"alembic_version"}
    assert set(by_schema) == {"public", *TENANT_SCHEMAS}
    assert by_schema["public"] == expected
    for schema in TENANT_SCHEMAS:
        assert by_schema[schema] == expected - {"tenants"}, schema


async def test_a_tenants_sequences_types_and_defaults_are_its_own(conn):
    # Every column default (serial ids: nextval of a sequence) names the table's own schema or none.
    defaults = await rows(conn, """
        SELECT table_schema, table_name, column_name, column_default FROM information_schema.columns
        WHERE table_schema LIKE 'tenant\\_%' AND column_default IS NOT NULL""")
    assert any("nextval" in d[3] for d in defaults)
    foreign = [d for d in defaults if "public." in d[3] or any(f"{s}." in d[3] for s in TENANT_SCHEMAS
                                                                 if s != d[0])]
    assert foreign == []
    # Every sequence a tenant's table owns lives in that tenant's schema.
    owned = await rows(conn, """
        SELECT tn.nspname, sn.nspname
        FROM pg_depend dep
        JOIN pg_class seq ON seq.oid = dep.objid AND seq.relkind = 'S' JOIN pg_namespace sn ON sn.oid = seq.relnamespace
        JOIN pg_class t ON t.oid = dep.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace
        WHERE dep.deptype IN ('a', 'i') AND tn.nspname LIKE 'tenant\\_%'""")
    assert owned and all(table_schema == seq_schema for table_schema, seq_schema in owned)
    # Column types: built-in (pg_catalog) or the tenant's own.
    types = await rows(conn, """
        SELECT DISTINCT table_schema, udt_schema FROM information_schema.columns
        WHERE table_schema LIKE 'tenant\\_%'""")
    assert all(udt in ("pg_catalog", schema) for schema, udt in types), types
    # A tenant has tables, their indexes and sequences, no views; its functions (trigger functions a migration
    # creates) are its own, named nothing outside it, and its tables' triggers call only those.
    kinds = await rows(conn, """
        SELECT DISTINCT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname LIKE 'tenant\\_%'""")
    assert {kind for (kind,) in kinds} <= {"r", "i", "S"}, kinds
    functions = await rows(conn, """
        SELECT n.nspname, p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname LIKE 'tenant\\_%'""")
    for schema, name, source in functions:
        others = [s for s in ("public", *TENANT_SCHEMAS) if s != schema and f"{s}." in source]
        assert not others, (schema, name, others)
    triggers = await rows(conn, """
        SELECT tn.nspname, fn.nspname FROM pg_trigger tg
        JOIN pg_class t ON t.oid = tg.tgrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
        JOIN pg_proc f ON f.oid = tg.tgfoid JOIN pg_namespace fn ON fn.oid = f.pronamespace
        WHERE NOT tg.tgisinternal AND tn.nspname LIKE 'tenant\\_%'""")
    assert all(table_schema == function_schema for table_schema, function_schema in triggers), triggers
