"""The jobs revision: a database at the initial revision is upgraded by `prepare_database` (what `mcs-erp init`
runs), matches the models exactly, and downgrades and upgrades again (SQLite batch mode included)."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from domain.migrations.schema import alembic_config, current_revision, migrate, target_metadata
from domain.kernel.settings import Settings
from tests.conftest import drop_pg_database, fresh_database_url
from tools.runtime import Runtime

INITIAL = "2b7dea0b2e90"
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest revision; one head only


async def _downgrade(engine, revision: str) -> None:
    def run(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def _tables(engine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_init_upgrades_a_database_from_the_initial_revision(tmp_path):
    from server.cli import prepare_database

    url, pg_name = await fresh_database_url(tmp_path)
    runtime = Runtime.create(Settings(database_url=url))
    engine = runtime.db.write_engine
    try:
        await migrate(engine, INITIAL)
        assert "jobs" not in await _tables(engine)
        await prepare_database(runtime)
        assert await current_revision(engine) == HEAD
        assert "jobs" in await _tables(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), target_metadata))
        assert diff == []
        await _downgrade(engine, INITIAL)
        assert "jobs" not in await _tables(engine) and await current_revision(engine) == INITIAL
        await migrate(engine)
        assert "jobs" in await _tables(engine) and await current_revision(engine) == HEAD
    finally:
        await runtime.close()
        if pg_name:
            await drop_pg_database(pg_name)
