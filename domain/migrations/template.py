"""The tenant template: migrations run on it first, and a new tenant is built as a copy of it.

PostgreSQL: the template is the schema `tenant__template` (no tenant can have it: a code starts with a letter).
`migrate_template` runs the Alembic migrations on it (the `tenant` attribute set, as for every tenant, so the
registry stays in `public`); `clone_template` then builds a tenant's schema from it in one transaction, without
running a single migration: the template's catalog is read once per revision (tables and their columns,
defaults, constraints, indexes, sequences with their owners and values, functions, triggers) into a DDL script
naming the template, and each new tenant runs that script with its own schema's name in one round trip, copying
the rows the migrations seeded (`alembic_version`, leave types, pay calendars) with `INSERT ... SELECT` (their
timestamps are the template's migration's). An object kind the script does not copy (a view, a type, a policy,
a procedure...) makes the clone refuse with TemplateUnsupported rather than build a tenant that lacks it;
tests/tenants/test_template.py compares a cloned tenant's catalog with a migrated one's, object by object.

SQLite: the template is the file `<stem>._template.db` beside the default file; a tenant's file is a copy of it
(SQLite's backup API).

A tenant whose schema or file exists already is never rebuilt: `migrate_tenant` (domain/migrations/schema.py)
migrates it in place, as `mcs-erp tenants migrate` does.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import weakref
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.kernel.db import Database
from domain.kernel.tenants import schema_of

TEMPLATE_SCHEMA = "tenant__template"
TEMPLATE_MARK = "_template"
"""The `tenant` attribute the migrations see while migrating the template (any non-None value: a tenant's)."""


class TemplateUnsupported(RuntimeError):
    """The template schema holds an object kind `clone_template` does not copy: a migration added one; teach the
    cloner that kind (and tests/tenants/test_template.py checks it) before tenants are built from it."""


# Per Database: the template's revision this process migrated it to, and the DDL script read from it.
_ready: weakref.WeakKeyDictionary[Database, tuple[str, str | None]] = weakref.WeakKeyDictionary()


def template_sqlite_path(db: Database) -> Path:
    """The template file of a SQLite deployment: `<stem>._template.db` beside the default file."""
    path = Path(make_url(db.url).database or "")
    return path.with_name(f"{path.stem}._template.db")


async def migrate_template(db: Database, revision: str = "head") -> None:
    """Migrate the template (schema or file) to `revision`, creating it if absent. Idempotent; after the first call
    in a process for the same revision it returns at once. Raises what the migration raises: no tenant is touched."""
    from domain.migrations.schema import migrate

    if revision in (_ready.get(db) or ("",))[:1]:
        return
    if db.is_sqlite:
        template = Database(make_url(db.url).set(database=str(template_sqlite_path(db))).render_as_string(
            hide_password=False), pool_size=1, tenant=TEMPLATE_MARK)
        try:
            await migrate(template.write_engine, revision, tenant=TEMPLATE_MARK)
        finally:
            await template.dispose()
    else:
        await migrate(db.write_engine, revision, tenant=TEMPLATE_MARK, schema=TEMPLATE_SCHEMA)
    _ready[db] = (revision, None)


async def tenant_exists(db: Database, code: str) -> bool:
    """Whether tenant `code` has its schema (PostgreSQL) or a non-empty file (SQLite) already."""
    if db.is_sqlite:
        path = Path(make_url(db.url).database or "")
        own = path.with_name(f"{path.stem}.{code}.db")
        return own.exists() and own.stat().st_size > 0
    async with db.write_engine.connect() as conn:
        return (await conn.execute(text("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = :n"),
                                   {"n": schema_of(code)})).first() is not None


async def clone_template(db: Database, code: str) -> None:
    """Build tenant `code`'s schema (or file) as a copy of the template, migrated to head first. Raises
    FileExistsError when the tenant's schema or file exists already (migrate it instead), TemplateUnsupported for
    a template holding an object kind the copy would miss."""
    await migrate_template(db)
    target = schema_of(code)
    if await tenant_exists(db, code):
        raise FileExistsError(f"tenant {code!r} has its {'file' if db.is_sqlite else 'schema'} already")
    if db.is_sqlite:
        path = Path(make_url(db.url).database or "")
        await asyncio.to_thread(_sqlite_copy, template_sqlite_path(db), path.with_name(f"{path.stem}.{code}.db"))
        return
    revision, script = _ready[db]
    if script is None:
        async with db.write_engine.connect() as conn:
            script = await _clone_script(conn)
        _ready[db] = (revision, script)
    async with db.write_engine.begin() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(  # type: ignore[union-attr]
            _PLACEHOLDER.sub(target + ".", script).replace(_SCHEMA_TOKEN, target))


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


_SCHEMA_TOKEN = "\x00schema\x00"
_PLACEHOLDER = re.compile(r"\x00qualified\x00\.")
_TEMPLATE_PREFIX = re.compile(rf"\b{TEMPLATE_SCHEMA}\.")


def _retarget(definition: str) -> str:
    """A catalog definition with every `tenant__template.` qualifier turned into the placeholder of the target."""
    return _TEMPLATE_PREFIX.sub("\x00qualified\x00.", definition)


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _rows(conn: AsyncConnection, sql: str) -> list:
    return list((await conn.execute(text(sql), {"s": TEMPLATE_SCHEMA})).all())


async def _clone_script(conn: AsyncConnection) -> str:
    """The DDL and data copy that build a schema like the template, with placeholders for the target schema."""
    # With only pg_catalog on the path, every definition read below names the template's objects qualified.
    # (SET LOCAL: `conn`'s transaction, rolled back when it closes, ends it.)
    await conn.exec_driver_sql("SET LOCAL search_path TO pg_catalog")
    unsupported = await _rows(conn, """
        SELECT 'relation ' || c.relname || ' of kind ' || c.relkind::text FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND c.relkind NOT IN ('r', 'i', 'S')
        UNION ALL SELECT 'type ' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = :s AND t.typtype NOT IN ('b', 'c') AND t.typrelid = 0
        UNION ALL SELECT 'routine ' || p.proname || ' of kind ' || p.prokind::text FROM pg_proc p
         JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = :s AND p.prokind <> 'f'
        UNION ALL SELECT 'policy ' || pol.polname FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s
        UNION ALL SELECT 'constraint trigger ' || con.conname FROM pg_constraint con
         JOIN pg_namespace n ON n.oid = con.connamespace WHERE n.nspname = :s AND con.contype = 't'
        UNION ALL SELECT 'generated or identity column ' || c.relname || '.' || a.attname FROM pg_attribute a
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :s AND (a.attidentity <> '' OR a.attgenerated <> '')""")
    if unsupported:
        raise TemplateUnsupported("the tenant template holds what a copy would miss: "
                                  + ", ".join(row[0] for row in unsupported))
    tables = [row[0] for row in await _rows(conn, """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :s AND c.relkind = 'r' ORDER BY c.relname""")]
    # Storage parameters (payslips' fillfactor, migration d9f2a4c6e8b1), which LIKE does not copy: each an
    # identifier = a number or word as pg_class stores it (name=value), set again as they are.
    options = await _rows(conn, """
        SELECT c.relname, array_to_string(c.reloptions, ', ') FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :s AND c.relkind = 'r' AND c.reloptions IS NOT NULL ORDER BY c.relname""")
    sequences = await _rows(conn, """
        SELECT c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
               s.seqcache, s.seqcycle, ps.last_value
          FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_sequences ps ON ps.schemaname = n.nspname AND ps.sequencename = c.relname
         WHERE n.nspname = :s ORDER BY c.relname""")
    owners = await _rows(conn, """
        SELECT s.relname, t.relname, a.attname FROM pg_depend d
          JOIN pg_class s ON s.oid = d.objid AND d.classid = 'pg_class'::regclass
          JOIN pg_class t ON t.oid = d.refobjid AND d.refclassid = 'pg_class'::regclass
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
          JOIN pg_namespace n ON n.oid = s.relnamespace
         WHERE n.nspname = :s AND s.relkind = 'S' AND d.deptype = 'a' ORDER BY s.relname""")
    defaults = await _rows(conn, """
        SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
          JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
         WHERE n.nspname = :s ORDER BY c.relname, a.attnum""")
    constraints = await _rows(conn, """
        SELECT c.relname, con.conname, con.contype::text, pg_get_constraintdef(con.oid) FROM pg_constraint con
          JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = con.connamespace
         WHERE n.nspname = :s
         ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3 ELSE 4 END,
                  c.relname, con.conname""")
    indexes = [row[0] for row in await _rows(conn, """
        SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_namespace n ON n.oid = ic.relnamespace
         WHERE n.nspname = :s AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                                              AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
         ORDER BY ic.relname""")]
    functions = [row[0] for row in await _rows(conn, """
        SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = :s ORDER BY p.proname""")]
    triggers = [row[0] for row in await _rows(conn, """
        SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = :s AND NOT t.tgisinternal ORDER BY c.relname, t.tgname""")]

    tpl = _q(TEMPLATE_SCHEMA)
    new = "\x00qualified\x00."
    out = ["SET LOCAL check_function_bodies = off", f"CREATE SCHEMA {_SCHEMA_TOKEN}"]
    for name, type_, start, increment, minimum, maximum, cache, cycle, _last in sequences:
        out.append(f"CREATE SEQUENCE {new}{_q(name)} AS {type_} INCREMENT BY {increment} MINVALUE {minimum} "
                   f"MAXVALUE {maximum} START WITH {start} CACHE {cache}{' CYCLE' if cycle else ''}")
    for function in functions:
        out.append(_retarget(function))
    for table in tables:
        out.append(f"CREATE TABLE {new}{_q(table)} (LIKE {tpl}.{_q(table)} INCLUDING CONSTRAINTS INCLUDING COMMENTS "
                   "INCLUDING STORAGE INCLUDING COMPRESSION)")
        out.append(f"INSERT INTO {new}{_q(table)} SELECT * FROM {tpl}.{_q(table)}")
    for table, settings in options:
        out.append(f"ALTER TABLE {new}{_q(table)} SET ({settings})")
    for table, column, expression in defaults:
        out.append(f"ALTER TABLE {new}{_q(table)} ALTER COLUMN {_q(column)} SET DEFAULT {_retarget(expression)}")
    for table, name, kind, definition in constraints:  # CHECKs came with LIKE, as parsed (their text re-parsed
        if kind not in ("f", "c"):                        # would read differently)
            out.append(f"ALTER TABLE {new}{_q(table)} ADD CONSTRAINT {_q(name)} {_retarget(definition)}")
    out.extend(_retarget(index) for index in indexes)
    for table, name, kind, definition in constraints:
        if kind == "f":
            out.append(f"ALTER TABLE {new}{_q(table)} ADD CONSTRAINT {_q(name)} {_retarget(definition)}")
    for sequence, table, column in owners:
        out.append(f"ALTER SEQUENCE {new}{_q(sequence)} OWNED BY {new}{_q(table)}.{_q(column)}")
    for name, *_rest, last in sequences:
        if last is not None:
            out.append(f"SELECT pg_catalog.setval('{new}{_q(name)}', {int(last)}, true)")
    out.extend(_retarget(trigger) for trigger in triggers)
    return ";\n".join(out) + ";\n"
