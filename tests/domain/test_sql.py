"""domain.kernel.sql.id_in: the same rows as an IN list, on the session's backend (PostgreSQL's ANY(array) too)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, select

from domain.kernel.sql import id_in

_META = MetaData()
_ROWS = Table("test_sql_id_in_rows", _META, Column("id", Integer, primary_key=True), Column("n", Integer))
_STORED = list(range(1, 400, 3))


@pytest.fixture(scope="module")
async def table(runtime):
    async with runtime.db.write() as session:
        conn = await session.connection()
        await conn.run_sync(lambda sync: _ROWS.create(sync, checkfirst=True))
        if not (await conn.execute(select(_ROWS.c.id).limit(1))).first():
            await conn.execute(_ROWS.insert(), [{"id": i, "n": i % 7} for i in _STORED])
    return runtime


@given(ids=st.lists(st.integers(-5, 450), max_size=60))
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_id_in_selects_exactly_the_rows_an_in_list_selects(table, ids):
    """Property: for any list of ids (repeats, absent ids, empty), id_in selects the rows whose id is in it."""
    async with table.db.read() as session:
        conn = await session.connection()
        got = (await conn.execute(select(_ROWS.c.id).where(id_in(_ROWS.c.id, ids), _ROWS.c.id < 1000)
                                  .order_by(_ROWS.c.id))).scalars()
        assert list(got) == sorted(set(ids) & set(_STORED))


async def test_id_in_combines_with_other_conditions_and_takes_many_ids(table):
    """10,000 ids (one array parameter on PostgreSQL), ANDed with another condition, negated."""
    many = list(range(0, 20_000, 2))
    async with table.db.read() as session:
        conn = await session.connection()
        both = (await conn.execute(select(_ROWS.c.id).where(id_in(_ROWS.c.id, many), _ROWS.c.n == 0)
                                      .order_by(_ROWS.c.id))).scalars().all()
        outside = (await conn.execute(select(_ROWS.c.id).where(~id_in(_ROWS.c.id, many), _ROWS.c.id < 1000)
                                         .order_by(_ROWS.c.id))).scalars().all()
    assert both == [i for i in _STORED if i % 2 == 0 and i % 7 == 0]
    assert outside == [i for i in _STORED if i % 2]


def test_a_statement_with_id_in_is_cached_whatever_its_ids():
    """The ids are bound parameters: statements differing only in them share one cache key (SQLAlchemy compiles
    the statement once), and each carries its own ids as the key's parameter values."""
    first = select(_ROWS.c.id).where(id_in(_ROWS.c.id, [1, 2]))._generate_cache_key()
    second = select(_ROWS.c.id).where(id_in(_ROWS.c.id, [3, 4, 5]))._generate_cache_key()
    assert first is not None and second is not None
    assert first.key == second.key
    assert [p.value for p in second.bindparams] == [[3, 4, 5], [3, 4, 5]]  # the IN list's and the array's


async def test_id_in_answers_each_execution_with_its_own_ids(table):
    """One compiled statement, executed with other ids each time, selects each time's rows (a cached compilation
    that kept the first ids would answer the first rows again)."""
    async with table.db.read() as session:
        conn = await session.connection()
        for ids in ([1, 4], [7], [10, 13, 16], [], [4]):
            got = (await conn.execute(select(_ROWS.c.id).where(id_in(_ROWS.c.id, ids)).order_by(_ROWS.c.id)))
            assert list(got.scalars()) == ids


@pytest.mark.parametrize("bad", [[1, "2"], [True], [1.0], [None]])
def test_id_in_refuses_what_is_not_an_int(bad):
    with pytest.raises(TypeError, match="integer ids"):
        id_in(_ROWS.c.id, bad)


async def test_bulk_insert_records_writes_tuples_and_refuses_a_duplicate_as_an_integrity_error(table):
    """db.bulk_insert_records (COPY on PostgreSQL, executemany on SQLite): rows as tuples in the columns' order; a
    duplicate key is refused as SQLAlchemy's IntegrityError (what the edges turn into a conflict), nothing kept."""
    from sqlalchemy.exc import IntegrityError

    from domain.kernel.db import bulk_insert_records

    async with table.db.write() as session:
        await bulk_insert_records(session, _ROWS, ("id", "n"), [(1001, 5), (1002, 6)])
    with pytest.raises(IntegrityError):
        async with table.db.write() as session:
            await bulk_insert_records(session, _ROWS, ("n", "id"), [(7, 1003), (8, 1001)])
    async with table.db.read() as session:
        conn = await session.connection()
        rows = (await conn.execute(select(_ROWS.c.id, _ROWS.c.n).where(_ROWS.c.id > 1000).order_by(_ROWS.c.id))).all()
    assert [tuple(r) for r in rows] == [(1001, 5), (1002, 6)]
