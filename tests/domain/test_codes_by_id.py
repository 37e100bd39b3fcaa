"""codes_by_id (domain/kernel/db.py), behind every answer's codes (tools/output_codes.py): a write unit of work
answers from the rows it loaded or inserted without a query, with the value the transaction would read back, and
queries what it has not seen; a read unit of work queries. On a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import gc

from sqlalchemy import event
from sqlmodel import select

from domain.hr.models import Department
from domain.kernel.db import MAX_SEEN, codes_by_id
from tests.factories import unique


class _Statements:
    """Count the statements run on `engine` while in use."""

    def __init__(self, engine):
        self.engine = engine.sync_engine
        self.sql: list[str] = []

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.sql.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._count)


def _department() -> Department:
    code = unique("D").upper()[:40]
    return Department(code=code, name=f"Department {code}")


async def _committed(runtime, count: int) -> list[Department]:
    async with runtime.db.write() as session:
        rows = [_department() for _ in range(count)]
        session.add_all(rows)
        await session.flush()
        return [Department(id=row.id, code=row.code, name=row.name) for row in rows]


async def test_a_write_answers_from_what_it_loaded_and_inserted_without_a_query(runtime):
    loaded, other = await _committed(runtime, 2)
    async with runtime.db.write() as session:
        await session.exec(select(Department).where(Department.id == loaded.id))
        inserted = _department()
        session.add(inserted)
        await session.flush()
        with _Statements(runtime.db.write_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [loaded.id, inserted.id])
        assert codes == {loaded.id: loaded.code, inserted.id: inserted.code}
        assert run.sql == []
        # a row it has not seen is queried (and only that one), a row that does not exist is left out
        with _Statements(runtime.db.write_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [loaded.id, other.id, 2_000_000_000])
        assert codes == {loaded.id: loaded.code, other.id: other.code}
        assert len(run.sql) == 1


async def test_a_change_not_flushed_yet_is_what_a_query_would_read_back(runtime):
    (row,) = await _committed(runtime, 1)
    async with runtime.db.write() as session:
        department = (await session.exec(select(Department).where(Department.id == row.id))).one()
        new_code = department.code = unique("R").upper()[:40]
        session.add(department)
        answered = await codes_by_id(session, Department.id, Department.code, [row.id])  # not flushed yet
        await session.flush()
        session.expire(department)  # forget the object: the next answer is a query
        queried = await codes_by_id(session, Department.id, Department.code, [row.id])
        assert answered == queried == {row.id: new_code}
        assert new_code != row.code


async def test_a_pending_deletion_and_a_read_unit_of_work_query(runtime):
    kept, deleted = await _committed(runtime, 2)
    async with runtime.db.write() as session:
        rows = (await session.exec(select(Department).where(Department.id.in_([kept.id, deleted.id])))).all()
        await session.delete(next(r for r in rows if r.id == deleted.id))
        with _Statements(runtime.db.write_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [kept.id, deleted.id])
        assert codes == {kept.id: kept.code}  # the deletion was flushed by the query's autoflush
        assert len(run.sql) == 2  # the DELETE, then the query
    async with runtime.db.read() as session:
        await session.exec(select(Department).where(Department.id == kept.id))
        with _Statements(runtime.db.read_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [kept.id, deleted.id])
        assert codes == {kept.id: kept.code}
        assert len(run.sql) == 1  # a read unit of work keeps nothing: it queries


async def test_a_bulk_unit_of_work_keeps_at_most_max_seen_rows(runtime):
    rows = await _committed(runtime, MAX_SEEN + 5)
    async with runtime.db.write() as session:
        await session.exec(select(Department).where(Department.id.in_([r.id for r in rows])))
        with _Statements(runtime.db.write_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [r.id for r in rows])
        assert codes == {r.id: r.code for r in rows}
        assert len(run.sql) == 1  # the rows beyond MAX_SEEN were queried, in one statement


async def test_a_row_inserted_in_a_rolled_back_savepoint_is_not_answered(runtime):
    async with runtime.db.write() as session:
        savepoint = await session.begin_nested()
        gone = _department()
        session.add(gone)
        await session.flush()
        gone_id = gone.id
        await savepoint.rollback()
        with _Statements(runtime.db.write_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [gone_id])
        assert codes == {}
        assert len(run.sql) == 1


async def test_the_session_does_not_keep_the_objects_it_answers_for(runtime):
    """Only the values are remembered: the identity map still drops an object nobody holds, so selecting its row
    again (FOR UPDATE, after waiting for a lock) loads it fresh, as without codes_by_id's memory."""
    (row,) = await _committed(runtime, 1)
    async with runtime.db.write() as session:
        await session.exec(select(Department).where(Department.id == row.id))
        gc.collect()
        assert not any(isinstance(obj, Department) and obj.id == row.id
                       for obj in session.sync_session.identity_map.values())
        with _Statements(runtime.db.write_engine) as run:
            codes = await codes_by_id(session, Department.id, Department.code, [row.id])
        assert codes == {row.id: row.code}
        assert run.sql == []
