"""Dropping a tenant, gated at approve level (issue 20): an operator's admin asks, another admin approves, and the
school is exported before it goes.

The plan (`plan_drop_tenant`) refuses
  - PermissionDenied: a caller who is not an admin of the default (operator) tenant (a school's own admin cannot
    drop its school, nor another);
  - InvalidInput: a malformed code; NotFound: an unknown one;
  - Conflict: a tenant that is not suspended (`mcs-erp tenants suspend CODE` first, so nothing writes to it while
    it is exported).
It holds one effect, `tenants.drop`, whose payload is the tenant's whole registry row, the export directory and the
action's id: any change to the row (resumed, renamed, moved to another cluster) makes the pending action stale,
and planning again gives the same plan, since the export's file name is `tenant-<code>-action-<action id>.zip`
(the id known only when applied).

Applying, in the gate's one write transaction (savepoint):
  1. the effect locks the registry row (FOR UPDATE on PostgreSQL), checks it is still the planned one and still
     suspended (StaleAction otherwise), and deletes it;
  2. `export_and_drop` writes the export (domain.migrations.transfer.export_tenant: one consistent snapshot),
     checks it reads back as an export of this tenant at the tenant's revision with every member intact (zip
     CRCs), which is what import_tenant needs, then drops the tenant's storage: on the default PostgreSQL cluster
     `DROP SCHEMA tenant_<code> CASCADE` in the same transaction (a failure later rolls it back with the row); on
     another cluster, or on SQLite (the file `<stem>.<code>.db`), after the commit.
A failure before the commit leaves the tenant registered, suspended and whole, and removes the partial export.
Undoing a drop: `mcs-erp tenants import CODE FILE --name NAME` (import_tenant, then the registry row, suspended).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from pydantic import Field
from sqlalchemy.engine import make_url
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor, Role
from domain.kernel.db import Database, after_commit
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied, StaleAction
from domain.kernel.plan import ACTION_ID, ApplyContext, Effect, Plan, register_effect
from domain.kernel.schemas import OutputModel
from domain.kernel.settings import Settings
from domain.kernel.tenants import Tenant, TenantStatus, check_code, get_tenant_or_raise, schema_of, sqlite_url_of
from domain.migrations.transfer import FORMAT, export_tenant, read_manifest


class TenantExportOut(OutputModel):
    """The export a drop wrote before dropping: its file, size, format, the schema revision, tables and rows."""

    path: str = Field(description="The export's zip file on the server (tenant-<code>-action-<id>.zip).")
    bytes: int = Field(description="Its size in bytes.")
    format: str
    revision: str | None = Field(description="The Alembic revision of the exported tables.")
    tables: int = Field(description="Tables exported (PostgreSQL; 0 on SQLite, where the whole file is).")
    rows: int = Field(description="Rows exported over all tables (PostgreSQL; 0 on SQLite).")


class DroppedTenantOut(OutputModel):
    """What drop_tenant did: the tenant, where it lived, its export, and when its storage went."""

    code: str
    name: str
    database: str = Field(description="Where the tenant lived (a schema of a database, or a SQLite file).")
    export: TenantExportOut
    storage_dropped: str = Field(description="`now`: its schema was dropped in the same transaction; `after "
                                             "commit`: its file, or its schema on another database, right after.")

DROP = "tenants.drop"


def export_dir(settings: Settings, database_url: str) -> Path:
    """Where drop exports go: settings.tenant_export_dir; unset, `tenant-exports` beside the SQLite database file,
    or in the user's data directory on PostgreSQL."""
    if settings.tenant_export_dir is not None:
        return Path(settings.tenant_export_dir).expanduser().resolve()
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().resolve().parent / "tenant-exports"
    return Path(user_data_dir("mcs-erp", appauthor=False)) / "tenant-exports"


def export_file_name(code: str, action_id: int) -> str:
    """The export's file name: `tenant-<code>-action-<action id>.zip`."""
    return f"tenant-{check_code(code)}-action-{int(action_id)}.zip"


def registry_row(tenant: Tenant) -> dict[str, Any]:
    """The registry row of `tenant` as plain JSON values (created_at as ISO 8601 UTC)."""
    return {"code": tenant.code, "name": tenant.name, "schema": tenant.schema_name, "status": tenant.status,
            "database_url": tenant.database_url, "created_at": tenant.created_at.isoformat()}


def shown_database(database_url: str | None, default_url: str, code: str) -> str:
    """Where the tenant lives, for a person, never with credentials: a schema of a database, or a SQLite file."""
    if make_url(default_url).get_backend_name() == "sqlite":
        return f"the SQLite file {make_url(sqlite_url_of(default_url, code)).database}"
    url = make_url(database_url or default_url)
    where = f"{url.host or 'localhost'}{f':{url.port}' if url.port else ''}/{url.database}"
    return (f"schema {schema_of(code)} of the " + ("default database " if database_url is None else "database ")
            + where)


async def plan_drop_tenant(session: AsyncSession, actor: Actor, *, code: str, settings: Settings,
                           database_url: str) -> Plan:
    """Plan dropping tenant `code` after exporting it (see the module docstring for the refusals and the effect).

    `session` is a unit of work of the default tenant (where the registry lives); `database_url` is the default
    database's URL (for the preview and the export directory's default)."""
    if actor.tenant is not None or Role.ADMIN not in actor.roles:
        raise PermissionDenied("dropping a tenant is for an admin of the operator's (default) tenant; a school's own "
                               "admins cannot drop a school", field="code")
    tenant = await get_tenant_or_raise(session, code)
    if tenant.status != TenantStatus.SUSPENDED.value:
        raise Conflict(f"tenant {code!r} ({tenant.name}) is {tenant.status}: only a suspended tenant can be dropped; "
                       f"suspend it first (`mcs-erp tenants suspend {code}`) so nothing changes while it is exported",
                       field="code")
    directory = export_dir(settings, database_url)
    where = shown_database(tenant.database_url, database_url, code)
    summary = f"Drop tenant {code} ({tenant.name}) after exporting it to {directory}"
    preview = {
        "tenant": {"code": tenant.code, "name": tenant.name, "status": tenant.status,
                   "created_at": tenant.created_at.isoformat()},
        "database": where,
        "export": {"directory": str(directory), "file": f"tenant-{code}-action-<this action's id>.zip",
                   "format": FORMAT},
        "then": [f"delete tenant {code} from the registry (its API keys stop working)",
                 f"drop {where} with every table and row in it"],
        "undo": f"this cannot be undone except by importing the export: `mcs-erp tenants import {code} FILE "
                "--name NAME`",
    }
    return Plan(command="drop_tenant", summary=summary, preview=preview,
                changes=[Effect(DROP, {"tenant": registry_row(tenant), "export_dir": str(directory),
                                       "action_id": ACTION_ID})],
                inputs={"tenant": f"{code} ({tenant.name}), {tenant.status}, {where}"})


async def _apply_drop(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> None:
    """Delete the planned registry row, still as planned and suspended (locked first); StaleAction otherwise."""
    planned = payload["tenant"]
    code = planned["code"]
    stmt = select(Tenant).where(Tenant.code == code).with_for_update()
    tenant = (await session.exec(stmt)).first()  # type: ignore[call-overload]
    if tenant is None:
        raise StaleAction(f"tenant {code!r} is no longer registered; nothing was changed")
    now = registry_row(tenant)
    if now != dict(planned):
        what = ", ".join(f"{k} {planned.get(k)!r} -> {now.get(k)!r}" for k in sorted(now) if now[k] != planned.get(k))
        raise StaleAction(f"tenant {code!r} changed since the preview ({what}); nothing was changed")
    if tenant.status != TenantStatus.SUSPENDED.value:  # the planned row was suspended: a programming error otherwise
        raise StaleAction(f"tenant {code!r} is {tenant.status}, not suspended; nothing was changed")
    await session.delete(tenant)
    await session.flush()


register_effect(DROP, _apply_drop)


def check_export(path: Path, *, code: str, dialect: str, revision: str | None) -> dict:
    """Return the manifest of the export at `path` after checking it is one import_tenant loads: the format, the
    tenant `code`, the backend `dialect`, the revision, and every member's CRC. Raises InvalidInput otherwise."""
    manifest = read_manifest(path)
    if manifest.get("code") != code or manifest.get("backend") != dialect or manifest.get("revision") != revision:
        raise InvalidInput(f"the export {path} is of tenant {manifest.get('code')!r} on {manifest.get('backend')} at "
                           f"revision {manifest.get('revision')}, not {code!r} on {dialect} at {revision}")
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
        names = set(archive.namelist())
    if bad is not None:
        raise InvalidInput(f"the export {path} is damaged: member {bad} fails its CRC")
    wanted = {"tenant.db"} if dialect == "sqlite" else {t["file"] for t in manifest["tables"]}
    if not wanted <= names:
        raise InvalidInput(f"the export {path} lacks {sorted(wanted - names)}")
    return manifest


async def _revision_of(db: Database, code: str) -> str | None:
    if db.is_sqlite:
        async with db.tenant_database(code).write_engine.connect() as conn:
            return (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    async with db.write_engine.connect() as conn:
        return (await conn.exec_driver_sql(
            f"SELECT version_num FROM {schema_of(code)}.alembic_version")).scalar_one_or_none()


async def export_and_drop(session: AsyncSession, db: Database, payload: Mapping[str, Any]) -> dict:
    """Export the tenant of a released `tenants.drop` effect (`payload` with the action id resolved) and drop its
    storage (module docstring: in this transaction on the default PostgreSQL cluster, after the commit otherwise).
    Return {"path", "manifest", "bytes", "storage_dropped": "now" | "after commit"}.

    `session` is the gate's write unit of work of the default tenant; `db` the process's Database. Raises
    InvalidInput when the export does not read back as importable (the partial file is removed, nothing dropped);
    Conflict when the export's file is already there (an export never overwrites)."""
    planned = payload["tenant"]
    code = check_code(planned["code"])
    path = Path(payload["export_dir"]) / export_file_name(code, payload["action_id"])
    source = db.cluster_database(planned["database_url"]) if planned["database_url"] else db
    if path.exists():
        raise Conflict(f"{path} exists: an export never overwrites a file; move it away and ask again")
    written = False
    try:
        revision = await _revision_of(source, code)
        written = True
        manifest = await export_tenant(source, code, path)
        check_export(path, code=code, dialect=source.dialect, revision=revision)
        if not source.is_sqlite and source is db:
            conn = await session.connection()
            await conn.exec_driver_sql(f"DROP SCHEMA {schema_of(code)} CASCADE")
            when = "now"
        else:
            async def drop() -> None:
                if source.is_sqlite:
                    tenant_db = source.tenant_database(code)
                    await tenant_db.dispose()  # its pooled connections, before the file goes
                    target = Path(make_url(sqlite_url_of(source.url, code)).database or "")
                    for each in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
                        each.unlink(missing_ok=True)
                else:
                    async with source.write_engine.begin() as conn:
                        await conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema_of(code)} CASCADE")

            after_commit(session, drop)
            when = "after commit"
    except BaseException:
        if written and path.exists():
            path.unlink(missing_ok=True)  # the drop failed: no export of a tenant that is still there
        raise
    return {"path": str(path), "manifest": manifest, "bytes": path.stat().st_size, "storage_dropped": when}
