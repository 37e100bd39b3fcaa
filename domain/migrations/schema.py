"""The schema: every table's metadata, and migrating a database to the newest Alembic revision.

This is a composition root, like the demo builder: it imports every context's models so that
`SQLModel.metadata` (Alembic's target, the tests' table lists) holds every table. It lives beside the
migrations, which must know every table anyway, and not in the kernel, which imports no context
(the import contracts in pyproject.toml check both).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

from domain.kernel.db import Database

import domain.academics.attendance_models
import domain.academics.models
import domain.actions.models
import domain.agent.models
import domain.documents.models
import domain.fees.models
import domain.finance.models
import domain.hr.models
import domain.identity.models
import domain.inventory.models
import domain.jobs.models
import domain.kernel.audit
import domain.kernel.outbox
import domain.kernel.tenants
import domain.leave.models
import domain.notifications.models
import domain.oauth.models
import domain.payroll.models
import domain.payroll.rates_models
import domain.payroll.remittance_models
import domain.purchasing.models
import domain.timetable.models  # noqa: F401

target_metadata = SQLModel.metadata
MIGRATIONS = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """Return an Alembic config pointing at domain/migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head", *, tenant: str | None = None,
                  schema: str | None = None) -> None:
    """Upgrade the database behind `engine` to `revision` (creating it from nothing if empty).

    `tenant`: migrate that tenant's tables instead of the default tenant's: on PostgreSQL its schema
    `tenant_<code>` (or `schema` when given: the tenant template's, domain/migrations/template.py; created if
    absent, alone on the search_path, with its own `alembic_version`), on SQLite `engine` is already the tenant's
    own file. Either way the registry (`tenants`) is left out: it lives with the default tenant. Raises
    InvalidInput for a malformed code."""

    def run(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        cfg.attributes["tenant"] = tenant
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        if tenant is not None and conn.dialect.name == "postgresql":
            schema = schema or domain.kernel.tenants.schema_of(tenant)
            await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.exec_driver_sql(f'SET LOCAL search_path TO "{schema}"')
        await conn.run_sync(run)


async def migrate_tenant(db: Database, code: str, revision: str = "head") -> None:
    """Upgrade tenant `code`'s tables to `revision`: its schema in `db` on PostgreSQL, its own file on SQLite.

    The tenant template (domain/migrations/template.py) is migrated first, so a migration that fails does so
    there before any tenant is touched. A tenant that has no schema (or file) yet is built as a copy of the
    template when `revision` is head, instead of running every migration."""
    from domain.migrations.template import clone_template, migrate_template, tenant_exists

    domain.kernel.tenants.check_code(code)
    if revision == "head":
        await migrate_template(db)
        if not await tenant_exists(db, code):
            await clone_template(db, code)
            return
    engine = db.tenant_database(code).write_engine if db.is_sqlite else db.write_engine
    await migrate(engine, revision, tenant=code)


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the database's Alembic revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
