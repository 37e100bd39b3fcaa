"""domain.kernel.db.bulk_insert_records(with_ids=True): rows as tuples get new ids, in order, on the session's
backend (one id
query and a COPY on PostgreSQL, INSERT ... RETURNING on SQLite), in the caller's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError

from domain.kernel.db import bulk_insert_records

_META = MetaData()
_ROWS = Table("test_bulk_rows", _META, Column("id", Integer, primary_key=True, autoincrement=True),
              Column("code", String(20), nullable=False, unique=True), Column("n", Integer))


@pytest.fixture(scope="module")
async def table(runtime):
    async with runtime.db.write() as session:
        conn = await session.connection()
        await conn.run_sync(lambda sync: _ROWS.create(sync, checkfirst=True))
    return runtime


async def _stored(db, codes: list[str]) -> list[tuple[int, str, int | None]]:
    async with db.read() as session:
        conn = await session.connection()
        rows = (await conn.execute(select(_ROWS.c.id, _ROWS.c.code, _ROWS.c.n).where(_ROWS.c.code.in_(codes))
                                   .order_by(_ROWS.c.id))).all()
    return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_rows_get_ascending_ids_in_their_order(table):
    codes = [f"A{i:04d}" for i in range(250)]
    async with table.db.write() as session:
        ids = await bulk_insert_records(session, _ROWS, ("code", "n"), [(c, i) for i, c in enumerate(codes)],
                                        with_ids=True)
        again = await bulk_insert_records(session, _ROWS, ("n", "code"), [(None, "A9999")], with_ids=True)
    assert len(ids) == 250 and ids == sorted(ids) and len(set(ids)) == 250
    assert again[0] > ids[-1]
    assert await _stored(table.db, codes) == [(row_id, c, i) for row_id, (i, c) in zip(ids, enumerate(codes))]
    assert await _stored(table.db, ["A9999"]) == [(again[0], "A9999", None)]


async def test_nothing_to_insert_returns_no_ids(table):
    async with table.db.write() as session:
        assert await bulk_insert_records(session, _ROWS, ("code", "n"), [], with_ids=True) == []


async def test_a_duplicate_is_an_integrity_error_and_nothing_is_kept(table):
    async with table.db.write() as session:
        await bulk_insert_records(session, _ROWS, ("code", "n"), [("B0001", 1)], with_ids=True)
    with pytest.raises(IntegrityError):
        async with table.db.write() as session:
            await bulk_insert_records(session, _ROWS, ("code", "n"), [("B0002", 2), ("B0001", 3)], with_ids=True)
    assert [code for _, code, _ in await _stored(table.db, ["B0001", "B0002"])] == ["B0001"]


async def test_the_rows_are_rolled_back_with_the_transaction(table):
    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        async with table.db.write() as session:
            await bulk_insert_records(session, _ROWS, ("code", "n"), [("C0001", 1), ("C0002", 2)], with_ids=True)
            raise Stop
    assert await _stored(table.db, ["C0001", "C0002"]) == []


async def test_columns_must_not_name_the_id(table):
    async with table.db.write() as session:
        with pytest.raises(ValueError, match="must not name id"):
            await bulk_insert_records(session, _ROWS, ("id", "code"), [(1, "D0001")], with_ids=True)
