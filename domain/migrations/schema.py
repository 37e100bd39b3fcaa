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

import domain.academics.attendance_models
import domain.academics.models
import domain.actions.models
import domain.agent.models
import domain.documents.models
import domain.fees.models
import domain.finance.models
import domain.hr.models
import domain.identity.models
import domain.jobs.models
import domain.kernel.audit
import domain.kernel.outbox
import domain.leave.models
import domain.payroll.models
import domain.payroll.rates_models
import domain.payroll.remittance_models
import domain.timetable.models  # noqa: F401

target_metadata = SQLModel.metadata
MIGRATIONS = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """Return an Alembic config pointing at domain/migrations (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def migrate(engine: AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database behind `engine` to `revision` (creating it from nothing if empty)."""

    def run(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def current_revision(engine: AsyncEngine) -> str | None:
    """Return the database's Alembic revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
