"""Bulk writes of rows given as tuples, with their new ids: a helper beside domain/kernel/db.py's bulk_insert.

db.bulk_insert(with_ids=True) takes a dict per row and makes the COPY records of them; at a school's scale (a
payroll run's 10,000 payslips) the dicts and their conversion cost the writing process more than the database's
COPY of the same rows. `insert_returning_ids` takes the rows as tuples in the order of `columns`, as
db.bulk_insert_records does, and gives them ids:

- PostgreSQL: the ids from the table's id sequence in one round trip (db.reserve_ids), then one binary COPY of
  (id, *record) on the session's own connection, in the caller's transaction;
- SQLite: one executemany INSERT ... RETURNING id, the ids in the order of the records.

Either way a constraint's refusal raises SQLAlchemy's IntegrityError, as an INSERT's does, and nothing commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.db import bulk_insert_records, reserve_ids


async def insert_returning_ids(session: AsyncSession, table: Any, columns: Sequence[str],
                               records: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert `records` (tuples of the values of `columns`, without the id) into `table` in the caller's
    transaction and return their new ids in the order of `records` (ascending). One id query and one COPY on
    PostgreSQL, one executemany INSERT ... RETURNING on SQLite; raises IntegrityError for a constraint's refusal."""
    if not records:
        return []
    if "id" in columns:
        raise ValueError("insert_returning_ids gives the ids; `columns` must not name id")
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        result = await conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True),
                                    [dict(zip(columns, record, strict=True)) for record in records])
        return [row.id for row in result.all()]
    ids = await reserve_ids(session, table, len(records))
    await bulk_insert_records(session, table, ["id", *columns],
                              [(row_id, *record) for row_id, record in zip(ids, records, strict=True)])
    return ids
