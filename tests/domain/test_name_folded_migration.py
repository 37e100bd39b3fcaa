"""The name_folded revision: rows written before it are backfilled with the folded name (case and accents
removed), so search finds them at once; downgrading removes the columns."""

from __future__ import annotations

from sqlalchemy import inspect, text

from domain.kernel.settings import Settings
from domain.migrations.schema import migrate
from tests.conftest import drop_pg_database, fresh_database_url
from tests.tools.test_jobs_migration import _downgrade
from tools.runtime import Runtime

BEFORE = "6b3d9e2a4c10"
REVISION = "a7c3e9f1d2b4"


async def test_existing_names_are_backfilled_folded(tmp_path) -> None:
    url, pg_name = await fresh_database_url(tmp_path)
    runtime = Runtime.create(Settings(database_url=url))
    engine = runtime.db.write_engine
    try:
        await migrate(engine, BEFORE)
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO departments (code, name, version, created_at, updated_at) "
                                    "VALUES ('D', 'Dep', 1, '2026-01-01', '2026-01-01')"))
            await conn.execute(text(
                "INSERT INTO employees (code, first_name, last_name, work_email, position, department_id, hire_date, "
                "employment_type, status, version, created_at, updated_at) VALUES ('E1', 'Zoë', 'HERNÁNDEZ  Ruiz', "
                "'z@x.org', 'Teacher', (SELECT id FROM departments), '2020-01-01', 'full_time', 'active', 1, "
                "'2026-01-01', '2026-01-01')"))
            await conn.execute(text("INSERT INTO families (code, name, version, created_at, updated_at) "
                                    "VALUES ('F1', 'Famille Lefèvre', 1, '2026-01-01', '2026-01-01')"))
        await migrate(engine, REVISION)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT name_folded FROM employees"))).scalar_one() == \
                "zoe hernandez ruiz"
            assert (await conn.execute(text("SELECT name_folded FROM families"))).scalar_one() == "famille lefevre"
            indexes = await conn.run_sync(lambda c: [i["name"] for i in inspect(c).get_indexes("students")])
        assert "ix_students_name_folded" in indexes
        await _downgrade(engine, BEFORE)
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns("employees")])
        assert "name_folded" not in columns
    finally:
        await runtime.close()
        if pg_name:
            await drop_pg_database(pg_name)


def test_the_revision_folds_as_the_domain_does() -> None:
    """The revision carries its own copy of the folding (a revision never changes); it must agree with
    domain.kernel.text.fold, which folds the queries, for the rows it backfills to be found."""
    import importlib.util
    from pathlib import Path

    import domain.migrations
    from domain.kernel.text import fold

    path = Path(domain.migrations.__file__).parent / "versions" / f"{REVISION}_name_folded.py"
    spec = importlib.util.spec_from_file_location("name_folded_revision", path)
    assert spec is not None and spec.loader is not None
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)
    for text in ("Hernández", "Zoë  O'Neil", "Straße", "Łukasz Øystein", "ĐORĐE", "ﬁona Æsir", "Nguyễn Thị"):
        assert revision._fold(text) == fold(text), text
