"""The hash-chained audit log detects tampering: an edited row, a deleted middle row, a deleted newest row.

Each test tampers with its own fresh database (never the shared session database, whose chain other tests
verify), made with tests.conftest.fresh_database_url and server.cli.prepare_database; PostgreSQL databases are
dropped at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditHead,
    _entry_hash,
    append_audit,
    verify_audit_chain,
)
from domain.kernel.settings import Settings
from server.cli import prepare_database
from tests.conftest import drop_pg_database, fresh_database_url
from tests.factories import make_school
from tools.invoke import invoke
from tools.runtime import Runtime

CLERK = Actor(id=7, username="clerk", roles=frozenset({Role.REGISTRAR}), channel=Channel.CLI)
COLUMNS = ("id", "at", "actor_id", "actor_username", "channel", "tool", "event", "entity", "entity_id",
           "action_id", "arguments", "before", "after", "prev_hash", "hash")


@pytest.fixture
async def fresh_runtime(tmp_path) -> AsyncIterator[Runtime]:
    url, pg_name = await fresh_database_url(tmp_path)
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
    await prepare_database(runtime)
    yield runtime
    await runtime.close()
    if pg_name:
        await drop_pg_database(pg_name)


async def _append(runtime: Runtime, count: int) -> list[int]:
    """Append `count` entries directly, each in its own transaction, and return their ids (set at commit)."""
    ids = []
    for n in range(count):
        async with runtime.db.write() as s:
            entry = await append_audit(s, CLERK, tool="record_grade", event="write",
                                       arguments={"assessment_id": 1, "student_id": n, "score": 50 + n},
                                       entity="grades", entity_id=100 + n, before=None,
                                       after={"score": 50 + n, "comment": f"entry {n}"})
            assert entry.id is None  # chained when the transaction commits
        ids.append(entry.id)
    return ids


async def _verify(runtime: Runtime):
    async with runtime.db.read() as s:
        return await verify_audit_chain(s)


async def _sql(runtime: Runtime, statement: str, **params: Any) -> None:
    async with runtime.db.write() as s:
        await (await s.connection()).execute(text(statement), params)


async def _row(runtime: Runtime, row_id: int) -> dict[str, Any]:
    async with runtime.db.read() as s:
        columns = ", ".join(_quoted(c) for c in COLUMNS)
        conn = await s.connection()
        result = await conn.execute(text(f"SELECT {columns} FROM audit_log WHERE id = :id"), {"id": row_id})
        return dict(zip(COLUMNS, result.one(), strict=True))


async def _insert(runtime: Runtime, row: dict[str, Any]) -> None:
    """Put a deleted row back exactly as it was (same id, same content)."""
    names = ", ".join(_quoted(c) for c in COLUMNS)
    values = ", ".join(f":{c}" for c in COLUMNS)
    await _sql(runtime, f"INSERT INTO audit_log ({names}) VALUES ({values})", **row)


def _quoted(column: str) -> str:
    return f'"{column}"'  # `before` and `after` read as keywords to some SQL parsers


async def test_untouched_chain_verifies(fresh_runtime):
    runtime = fresh_runtime
    empty = await _verify(runtime)
    assert empty.ok and empty.rows == 0
    ids = await _append(runtime, 4)
    school = await make_school(runtime, students=1)
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id,
                                           "student_id": school.student_ids[0], "score": 61}, school.teacher)
    result = await _verify(runtime)
    assert result.ok and result.problem is None and result.rows == 5
    async with runtime.db.read() as s:
        rows = (await s.exec(select(AuditEntry).order_by(AuditEntry.id))).all()
        head = (await s.exec(select(AuditHead))).one()
    assert rows[0].id == ids[0] and rows[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(rows, rows[1:]))
    assert all(_entry_hash(row) == row.hash for row in rows)
    assert (head.last_id, head.last_hash) == (rows[-1].id, rows[-1].hash)
    assert rows[-1].tool == "record_grade" and rows[-1].actor_username == school.teacher.username


async def test_edited_row_is_detected_and_named(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 5)
    middle = ids[2]
    original = await _row(runtime, middle)
    await _sql(runtime, 'UPDATE audit_log SET "after" = :after WHERE id = :id',
               after='{"comment":"entry 2","score":99}', id=middle)
    result = await _verify(runtime)
    assert not result.ok
    assert result.bad_id == middle
    assert f"audit row {middle}" in result.problem and "edited" in result.problem
    assert result.rows == 2  # the rows before it were fine

    await _sql(runtime, 'UPDATE audit_log SET "after" = :after WHERE id = :id', after=original["after"],
               id=middle)
    assert (await _verify(runtime)).ok, "restoring the original content restores the chain"

    for column, value in (("actor_username", "someone-else"), ("event", "approved"), ("arguments", "{}"),
                          ("before", '{"score":1}')):
        await _sql(runtime, f"UPDATE audit_log SET {_quoted(column)} = :value WHERE id = :id", value=value,
                   id=middle)
        edited = await _verify(runtime)
        assert not edited.ok and edited.bad_id == middle, column
        await _sql(runtime, f"UPDATE audit_log SET {_quoted(column)} = :value WHERE id = :id",
                   value=original[column], id=middle)
    assert (await _verify(runtime)).ok


async def test_edit_with_a_recomputed_hash_breaks_the_next_link(fresh_runtime):
    """A tamperer who also rewrites the row's own hash is caught by the next row's previous-hash."""
    runtime = fresh_runtime
    ids = await _append(runtime, 4)
    target = ids[1]
    async with runtime.db.write() as s:
        row = await s.get(AuditEntry, target)
        row.after = '{"comment":"entry 1","score":100}'
        row.hash = _entry_hash(row)
        s.add(row)
    result = await _verify(runtime)
    assert not result.ok and result.bad_id == ids[2]
    assert "previous-hash" in result.problem and f"audit row {ids[2]}" in result.problem


async def test_deleted_middle_row_is_detected(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 5)
    middle = ids[2]
    saved = await _row(runtime, middle)
    await _sql(runtime, "DELETE FROM audit_log WHERE id = :id", id=middle)
    result = await _verify(runtime)
    assert not result.ok
    assert result.bad_id == ids[3], "the row after the gap no longer links to its predecessor"
    assert "previous-hash" in result.problem and "deleted" in result.problem

    await _insert(runtime, saved)
    assert (await _verify(runtime)).ok, "putting the row back restores the chain"


async def test_deleted_newest_row_is_a_head_mismatch(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 3)
    newest = ids[-1]
    saved = await _row(runtime, newest)
    await _sql(runtime, "DELETE FROM audit_log WHERE id = :id", id=newest)
    result = await _verify(runtime)
    assert not result.ok
    assert result.bad_id == newest
    assert f"ends at row {ids[-2]}" in result.problem and f"head records row {newest}" in result.problem

    await _insert(runtime, saved)
    assert (await _verify(runtime)).ok

    # Deleting every row but keeping the head is caught too, and so is a forged head.
    await _sql(runtime, "UPDATE audit_head SET last_hash = :h WHERE id = 1", h="f" * 64)
    forged = await _verify(runtime)
    assert not forged.ok and forged.bad_id == newest and "head" in forged.problem
    await _sql(runtime, "UPDATE audit_head SET last_hash = :h WHERE id = 1", h=saved["hash"])
    assert (await _verify(runtime)).ok
    await _sql(runtime, "DELETE FROM audit_log")
    wiped = await _verify(runtime)
    assert not wiped.ok and wiped.rows == 0 and wiped.bad_id == newest


async def test_appending_after_a_restore_extends_the_same_chain(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 2)
    more = await _append(runtime, 2)
    assert more[0] > ids[-1]
    result = await _verify(runtime)
    assert result.ok and result.rows == 4
    async with runtime.db.read() as s:
        first_new = await s.get(AuditEntry, more[0])
        last_old = await s.get(AuditEntry, ids[-1])
    assert first_new.prev_hash == last_old.hash


async def test_a_rolled_back_transaction_appends_nothing_and_one_transaction_keeps_its_order(fresh_runtime):
    """Entries are chained at commit: a failed write leaves no row and no gap; the entries of one transaction
    are chained in the order they were appended."""
    with pytest.raises(RuntimeError):
        async with fresh_runtime.db.write() as s:
            await append_audit(s, CLERK, tool="record_grade", event="write", arguments={"n": 0})
            raise RuntimeError("the write fails after its audit entry was appended")
    async with fresh_runtime.db.write() as s:
        first = await append_audit(s, CLERK, tool="first", event="write", arguments={"n": 1})
        second = await append_audit(s, CLERK, tool="second", event="write", arguments={"n": 2})
    assert second.id == first.id + 1 and second.prev_hash == first.hash
    result = await _verify(fresh_runtime)
    assert result.ok and result.rows == 2
