"""Migration b8e4d2a6c9f3 on a SQLite school that has billed (whatever the test backend: the embedded default is
SQLite): its invoices and their lines survive the upgrade, with foreign keys enforced as the server runs it, and a
charge without a fee schedule can be written afterwards; a downgrade puts NOT NULL back."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import create_async_engine

from domain.migrations.schema import migrate

BEFORE = "c4f8a2e6d1b9"
NOW = "2026-01-01 00:00:00"


def invoice_columns(path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        return {row[1]: row[3] for row in db.execute("PRAGMA table_info(invoices)")}  # name: NOT NULL


def insert_invoice(path, number: str, schedule: int | None) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = OFF")  # the school's other rows are not needed to show the upgrade keeps these
    with db:
        cursor = db.execute(
            "INSERT INTO invoices (version, created_at, updated_at, invoice_number, family_id, student_id, "
            "fee_schedule_id, term_id, currency, status, due_date, total, amount_paid, amount_credited) "
            "VALUES (1, ?, ?, ?, 1, 1, ?, ?, 'AUD', 'issued', '2026-02-15', 1000, 0, 0)",
            (NOW, NOW, number, schedule, schedule))
        db.execute("INSERT INTO invoice_lines (version, created_at, updated_at, invoice_id, line_no, kind, "
                   "description, amount, account_id) VALUES (1, ?, ?, ?, 1, 'fee', 'Tuition', 1000, 1)",
                   (NOW, NOW, cursor.lastrowid))
    db.close()


async def test_a_billed_sqlite_school_upgrades_and_takes_charges_without_a_schedule(tmp_path):
    path = tmp_path / "school.db"
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")

    @event.listens_for(engine.sync_engine, "connect")
    def _foreign_keys(dbapi_conn, _record):  # as domain.kernel.db's engines (and so `mcs-erp init`) connect
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    try:
        await migrate(engine, BEFORE)
        insert_invoice(path, "INV000001", 1)
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
            insert_invoice(path, "INV000002", None)
        await migrate(engine, "head")  # foreign keys on: a copy-and-drop of invoices would be refused here
    finally:
        await engine.dispose()
    columns = invoice_columns(path)
    assert (columns["fee_schedule_id"], columns["term_id"], columns["memo"]) == (0, 0, 0)
    assert columns["family_id"] == 1 and columns["status"] == 1
    insert_invoice(path, "INV000003", None)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT invoice_number, fee_schedule_id FROM invoices ORDER BY id").fetchall()
        lines = db.execute("SELECT count(*) FROM invoice_lines").fetchone()[0]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert rows == [("INV000001", 1), ("INV000003", None)] and lines == 2
