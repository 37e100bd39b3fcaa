"""A tenant's export and import: what `mcs-erp tenants move` copies between clusters, and what a gated drop writes
first so that the school can be imported back.

An export is one zip file:
  - `manifest.json`: {"format": FORMAT, "backend", "code", "revision" (Alembic), "exported_at" (UTC ISO 8601),
    "tables": [{"name", "rows", "file"}] in an order that loads with every foreign key satisfied, "sequences":
    {name: last value or null}};
  - PostgreSQL: `tables/<name>.copy`, each table's rows in COPY's text format (exact for every type);
  - SQLite: `tenant.db`, the tenant's file (SQLite's backup API: a consistent copy).
Import builds the tenant's schema (or file) from the template when absent, then, in one transaction on PostgreSQL,
empties it and loads every table and sets every sequence: a failed import leaves nothing half-loaded. The export
and the code must be at the same revision (InvalidInput otherwise, saying which to migrate).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import zipfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from domain.kernel.clock import utcnow
from domain.kernel.db import Database
from domain.kernel.errors import InvalidInput
from domain.kernel.tenants import check_code, schema_of, sqlite_url_of
from domain.migrations.template import clone_template, migrate_template, tenant_exists

FORMAT = "mcs-erp-tenant-export/1"


def _tenant_file(db: Database, code: str) -> Path:
    return Path(make_url(sqlite_url_of(db.url, code)).database or "")


async def _revision(db: Database, code: str) -> str | None:
    if db.is_sqlite:
        async with db.tenant_database(code).write_engine.connect() as conn:
            return (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    async with db.write_engine.connect() as conn:
        return (await conn.exec_driver_sql(
            f"SELECT version_num FROM {schema_of(code)}.alembic_version")).scalar_one_or_none()


async def _load_order(conn, schema: str) -> list[str]:
    """The schema's tables, each after every table its foreign keys reference (self-references aside)."""
    tables = [row[0] for row in (await conn.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :s AND c.relkind = 'r' ORDER BY c.relname"), {"s": schema})).all()]
    needs: dict[str, set[str]] = {table: set() for table in tables}
    for child, parent in (await conn.execute(text(
            "SELECT c.relname, p.relname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
            "JOIN pg_class p ON p.oid = con.confrelid JOIN pg_namespace n ON n.oid = con.connamespace "
            "WHERE n.nspname = :s AND con.contype = 'f'"), {"s": schema})).all():
        if child != parent and child in needs:
            needs[child].add(parent)
    order: list[str] = []
    while needs:
        ready = sorted(table for table, parents in needs.items() if not parents - set(order))
        if not ready:
            raise RuntimeError(f"foreign keys of {schema} form a cycle among {sorted(needs)}: no load order")
        for table in ready:
            order.append(table)
            del needs[table]
    return order


async def export_tenant(db: Database, code: str, path: Path) -> dict:
    """Write tenant `code` of the cluster `db` (its schema, or its SQLite file) to the zip file `path` (created; an
    existing file is refused with FileExistsError) and return its manifest. Read in one REPEATABLE READ transaction
    on PostgreSQL, so the export is one consistent snapshot; suspend the tenant first so nothing changes after it."""
    check_code(code)
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists: an export never overwrites a file")
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest: dict = {"format": FORMAT, "backend": db.dialect, "code": code, "revision": await _revision(db, code),
                      "exported_at": utcnow().isoformat(), "tables": [], "sequences": {}}
    if db.is_sqlite:
        source = _tenant_file(db, code)
        copy = path.with_suffix(".tmp.db")
        await asyncio.to_thread(_sqlite_backup, source, copy)
        try:
            with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.write(copy, "tenant.db")
                archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        finally:
            copy.unlink(missing_ok=True)
        return manifest
    schema = schema_of(code)
    async with db.write_engine.connect() as conn:
        await conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        order = await _load_order(conn, schema)
        manifest["sequences"] = {name: last for name, last in (await conn.execute(text(
            "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = :s"), {"s": schema})).all()}
        raw = (await conn.get_raw_connection()).driver_connection
        with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in order:
                member = f"tables/{table}.copy"
                with archive.open(member, "w", force_zip64=True) as out:
                    async def write(chunk: bytes, out=out) -> None:
                        out.write(chunk)
                    status = await raw.copy_from_table(table, schema_name=schema, output=write,  # type: ignore
                                                       format="text")
                rows = int(status.split()[-1]) if status else 0
                manifest["tables"].append({"name": table, "rows": rows, "file": member})
            archive.writestr("manifest.json", json.dumps(manifest, indent=1))
        await conn.rollback()
    return manifest


def read_manifest(path: Path) -> dict:
    """The manifest of the export at `path`; raises InvalidInput for a file that is not a tenant export."""
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{path} is not an mcs-erp tenant export ({type(exc).__name__}: {exc})",
                           field="path") from exc
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"{path} has format {manifest.get('format')!r}; this release reads {FORMAT!r}",
                           field="path")
    return manifest


async def import_tenant(db: Database, code: str, path: Path) -> dict:
    """Load the export at `path` as tenant `code` of the cluster `db` (its schema built from the template when
    absent, emptied first otherwise) and return its manifest. Raises InvalidInput for a file that is no export, one
    of another backend, or one at another revision than this code's newest (migrate the source first)."""
    check_code(code)
    manifest = read_manifest(Path(path))
    if manifest["backend"] != db.dialect:
        raise InvalidInput(f"the export is of a {manifest['backend']} tenant; this database is {db.dialect}",
                           field="path")
    await migrate_template(db)
    if db.is_sqlite:
        target = _tenant_file(db, code)
        await db.dispose()  # the tenant's engines, if open, before its file is replaced
        staged = target.with_suffix(".importing.db")
        with zipfile.ZipFile(path) as archive, archive.open("tenant.db") as source, staged.open("wb") as out:
            shutil.copyfileobj(source, out)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        staged.replace(target)
    else:
        if not await tenant_exists(db, code):
            await clone_template(db, code)
        revision = await _revision(db, code)
        if revision != manifest["revision"]:
            raise InvalidInput(f"the export is at revision {manifest['revision']}, the target at {revision}: migrate "
                               "the source (`mcs-erp tenants migrate CODE`) and export again", field="path")
        schema = schema_of(code)
        tables = [t for t in manifest["tables"] if t["name"] != "alembic_version"]
        async with db.write_engine.begin() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            if tables:
                await raw.execute("TRUNCATE " + ", ".join(f'{schema}."{t["name"]}"' for t in tables))  # type: ignore
            with zipfile.ZipFile(path) as archive:
                for table in tables:
                    with archive.open(table["file"]) as source:
                        await raw.copy_to_table(table["name"], schema_name=schema, source=source,  # type: ignore
                                                format="text")
            for name, last in manifest["sequences"].items():
                if last is not None:
                    await conn.execute(text("SELECT pg_catalog.setval(:seq, :last, true)"),
                                       {"seq": f'{schema}."{name}"', "last": int(last)})
    return manifest


async def drop_tenant_storage(db: Database, code: str) -> None:
    """Remove tenant `code`'s schema (with everything in it) from the cluster `db`, or its SQLite file."""
    check_code(code)
    if db.is_sqlite:
        target = _tenant_file(db, code)
        await db.dispose()
        for each in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
            each.unlink(missing_ok=True)
        return
    async with db.write_engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema_of(code)} CASCADE")


def _sqlite_backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
