"""Fees at scale: invoice 10,000 students for a term and post the entries, on PostgreSQL.

Creates a fresh PostgreSQL database (dropped afterwards): 13 year levels, --students enrolled students in
families (about a third with two or three children, so sibling discounts apply), 5 % of them on a 50 % tuition
scholarship, a term's fee schedule (tuition per year level, transport and meals for every level, a technology
levy from Year 7). Then measures, as the generate_invoices job does it (one transaction):
- invoice_and_post_s: `generate_invoices(issue=True)`: plan every invoice (fees less discounts), insert the
  invoices and their lines, post one balanced journal entry per invoice (Dr Fees receivable, Dr discounts / Cr
  income), mark them issued, audit.
The process first freezes its start-up heap as a job worker does once started (domain/kernel/heap.py; --no-freeze
leaves it in the collector's scans), so the step runs in the process state of a generate_invoices job.
Checks afterwards that there is one invoice and one entry per student and that the Fees receivable balance
equals the invoices' total.

Baseline, in the same run: every row that step wrote (each table with an `id` column, rows above its high-water
mark taken before the step: invoices, invoice lines, journal entries and lines, audit entries, ...), read back and
written again with asyncpg's `copy_records_to_table` into scratch tables made `LIKE` the real ones (same columns,
defaults and indexes): copy_s, the same number of rows of the same widths. Target (issue 19): invoice_and_post_s
at most 4 x copy_s (these machines' absolute speed drifts 2x from day to day, so the figure is a ratio). When the
server runs on this machine (its backends' /proc/<pid>/stat readable), the CPU both spent is reported too: this
process's CPU plus the server backend's, for the step and for the baseline, and their ratio `cpu_ratio_vs_copy`
(steadier than the wall-clock ratio while other work shares the machine; null when the server is elsewhere). Every
wait is bounded (--timeout per statement, and the whole run); a run that overstays prints what it was waiting for
and exits 1. Prints the figures, then one line holding a JSON object of them, with `ratio_vs_copy`.

Usage: uv run python bench/fees.py [--students 10000] [--timeout 600] [--no-freeze]
       [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg
from sqlalchemy import func, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from domain.academics import service as academics
from domain.academics.models import Student, YearLevel
from domain.fees import service as fees
from domain.fees.models import Family, FamilyMember, Invoice, InvoiceLine
from domain.finance import service as finance
from domain.finance.models import JournalEntry, JournalLine
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel import heap
from domain.kernel.audit import ensure_audit_head
from domain.kernel.clock import utcnow
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from tools.runtime import Runtime

LEVELS = 13  # Prep (0) to Year 12


async def build(runtime: Runtime, students: int) -> int:
    """The school's students, families and fee policy; returns the fee schedule's id."""
    rng = random.Random(11)
    now = utcnow()
    base = {"version": 1, "created_at": now, "updated_at": now, "deleted_at": None}
    async with runtime.db.write() as session:
        await ensure_audit_head(session)
        year = await academics.create_academic_year(session, SYSTEM_ACTOR, code="2026", name="2026",
                                                    start_date=date(2026, 1, 27), end_date=date(2026, 12, 18))
        term = await academics.create_term(session, SYSTEM_ACTOR, academic_year_id=year.id, number=2,
                                           name="Term 2 2026", start_date=date(2026, 4, 20),
                                           end_date=date(2026, 6, 26))
        await session.exec(insert(YearLevel), params=[  # type: ignore[call-overload]
            {**base, "code": f"Y{n:02d}", "name": "Prep" if n == 0 else f"Year {n}", "ordinal": n}
            for n in range(LEVELS)])
        levels = list((await session.exec(select(YearLevel.id).order_by(YearLevel.ordinal))).all())
        rows = []
        for i in range(students):
            level = i % LEVELS
            born = date(2020 - level, 1, 1) + timedelta(days=rng.randrange(365))
            rows.append({**base, "code": f"S2026-{i:05d}", "first_name": f"Student{i}", "last_name": f"Family{i // 3}",
                         "date_of_birth": born, "year_level_id": levels[level], "section_id": None,
                         "status": "enrolled"})
        await session.exec(insert(Student), params=rows)  # type: ignore[call-overload]
        student_ids = list((await session.exec(select(Student.id).order_by(Student.id))).all())
        rng.shuffle(student_ids)
        groups, at = [], 0
        while at < len(student_ids):
            size = rng.choices((1, 2, 3), weights=(67, 23, 10))[0]
            groups.append(student_ids[at:at + size])
            at += size
        await session.exec(insert(Family), params=[  # type: ignore[call-overload]
            {**base, "code": f"F{n + 1:05d}", "name": f"Family {n + 1}", "billing_name": f"Parent {n + 1}",
             "billing_email": f"parent{n + 1}@bench.example.org", "billing_address": None}
            for n in range(len(groups))])
        family_ids = list((await session.exec(select(Family.id).order_by(Family.id))).all())
        await session.exec(insert(FamilyMember), params=[  # type: ignore[call-overload]
            {**base, "family_id": family_id, "student_id": student_id}
            for family_id, group in zip(family_ids, groups, strict=True) for student_id in group])
        await fees.fee_accounts(session, SYSTEM_ACTOR, "AUD")
        items = {}
        for code, name, account in (("TUITION", "Tuition", "4100"), ("TRANSPORT", "Transport", "4110"),
                                    ("MEALS", "Meals", "4120"), ("TECH", "Technology levy", "4130")):
            income = await finance.create_account(session, SYSTEM_ACTOR, code=account, name=f"{name} fees",
                                                  type="income", currency="AUD")
            items[code] = await fees.create_fee_item(session, SYSTEM_ACTOR, code=code, name=name,
                                                     income_account_id=income.id)
        lines = [fees.ScheduleLineInput(fee_item_id=items["TUITION"].id, amount=380_000 + 15_000 * n,
                                        year_level_id=levels[n]) for n in range(LEVELS)]
        lines += [fees.ScheduleLineInput(fee_item_id=items["TRANSPORT"].id, amount=42_000),
                  fees.ScheduleLineInput(fee_item_id=items["MEALS"].id, amount=36_500)]
        lines += [fees.ScheduleLineInput(fee_item_id=items["TECH"].id, amount=25_000, year_level_id=levels[n])
                  for n in range(7, LEVELS)]
        schedule, _ = await fees.create_fee_schedule(session, SYSTEM_ACTOR, code="T2-2026", name="Term 2 2026 fees",
                                                     term_id=term.id, currency="AUD", due_date=date(2026, 5, 15),
                                                     lines=lines)
        await fees.create_discount(session, SYSTEM_ACTOR, code="SIBLING2", name="Sibling discount (2nd child)",
                                   kind="sibling", percent_bp=1000, fee_item_id=items["TUITION"].id,
                                   sibling_position=2)
        await fees.create_discount(session, SYSTEM_ACTOR, code="SIBLING3", name="Sibling discount (3rd child)",
                                   kind="sibling", percent_bp=500, fee_item_id=items["TUITION"].id,
                                   sibling_position=3)
        scholarship = await fees.create_discount(session, SYSTEM_ACTOR, code="SCHOLAR50",
                                                 name="Academic scholarship", kind="scholarship", percent_bp=5000,
                                                 fee_item_id=items["TUITION"].id)
    async with runtime.db.write() as session:
        for student_id in rng.sample(student_ids, students // 20):
            await fees.award_discount(session, SYSTEM_ACTOR, student_id=student_id, discount_id=scholarship.id)
    return schedule.id or 0


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) PostgreSQL backend `pid` has used, from /proc; None when the server runs elsewhere
    (or /proc is not readable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_used(pid: int, client_before: float, server_before: float | None) -> dict[str, float | None]:
    """{client_cpu_s, server_cpu_s} since the readings given (this process's CPU; backend `pid`'s, or None)."""
    server_now = backend_cpu_s(pid)
    server = None if server_now is None or server_before is None else round(server_now - server_before, 3)
    return {"client_cpu_s": round(time.process_time() - client_before, 3), "server_cpu_s": server}


async def high_water(runtime: Runtime) -> dict[str, int]:
    """{table: max(id)} for every table of the database with an integer `id` column (0 when empty)."""
    async with runtime.db.read() as session:
        tables = [r[0] for r in (await session.exec(text(  # type: ignore[call-overload]
            "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() AND "
            "column_name = 'id' AND data_type IN ('integer', 'bigint') ORDER BY table_name"))).all()]
        return {t: int((await session.exec(text(f'SELECT coalesce(max(id), 0) FROM "{t}"'))).one()[0])  # type: ignore
                for t in tables}


async def copy_baseline(url: str, since: dict[str, int], timeout: float
                        ) -> tuple[float, dict[str, int], dict[str, float | None]]:
    """Read back every row written since `since` (ids above each table's high-water mark) and time writing them
    again with asyncpg's copy_records_to_table into scratch tables LIKE the real ones (INCLUDING ALL: defaults and
    indexes), all in one transaction as the measured step was. Returns (seconds, rows copied per table, CPU used:
    cpu_used's)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=60, command_timeout=timeout)
    try:
        batches = []
        for table, mark in since.items():
            rows = await conn.fetch(f'SELECT * FROM "{table}" WHERE id > $1 ORDER BY id', mark)
            if rows:
                await conn.execute(f'CREATE TABLE "copy_{table}" (LIKE "{table}" INCLUDING ALL)')
                batches.append((table, [tuple(r.values()) for r in rows], list(rows[0].keys())))
        pid = conn.get_server_pid()
        client_before, server_before = time.process_time(), backend_cpu_s(pid)
        started = time.perf_counter()
        async with conn.transaction():
            for table, records, columns in batches:
                await conn.copy_records_to_table(f"copy_{table}", records=records, columns=columns,
                                                 timeout=timeout)
        seconds = time.perf_counter() - started
        return seconds, {table: len(records) for table, records, _ in batches}, cpu_used(pid, client_before,
                                                                                         server_before)
    finally:
        await conn.close(timeout=30)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds any one step may take (the whole run: four times that)")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server URL; a fresh database is created on it and dropped after")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the start-up heap in the garbage collector's scans (a worker freezes it)")
    args = parser.parse_args()
    if not 13 <= args.students <= 200_000 or not 1 <= args.timeout <= 3600:
        parser.error("--students must be 13..200000 and --timeout 1..3600")
    step = ["the start"]
    try:
        return await asyncio.wait_for(run(args, step), 4 * args.timeout)
    except TimeoutError:
        print(f"fees: a bounded wait ran out (or the run passed {4 * args.timeout:.0f} s) while waiting for "
              f"{step[0]}", flush=True)
        return 1


async def run(args: argparse.Namespace, step: list[str]) -> int:
    name = f"mcs_bench_fees_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 30})
    step[0] = "PostgreSQL to create the database"
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    runtime = Runtime.create(Settings(database_url=url))
    try:
        step[0] = "the migrations"
        await asyncio.wait_for(migrate(runtime.db.write_engine), args.timeout)
        if not args.no_freeze:  # as a worker does once started (workers/arq_worker.py), before any job
            heap.freeze_startup_heap()
        step[0] = f"the school of {args.students} students to be built"
        started = time.perf_counter()
        schedule_id = await asyncio.wait_for(build(runtime, args.students), args.timeout)
        setup_s = time.perf_counter() - started
        since = await high_water(runtime)
        step[0] = "generate_invoices(issue=True) (the measured step)"
        readings: dict[str, Any] = {}
        started = time.perf_counter()

        async def invoice_and_post() -> Any:
            async with runtime.db.write() as session:
                # The backend's CPU so far (one round trip of well under a millisecond, in a step of seconds).
                pid = (await session.exec(text("SELECT pg_backend_pid()"))).one()[0]  # type: ignore[call-overload]
                readings.update(pid=pid, client=time.process_time(), server=backend_cpu_s(pid))
                return await fees.generate_invoices(session, SYSTEM_ACTOR, schedule_id=schedule_id, issue=True,
                                                    issue_date=date(2026, 4, 20))

        result = await asyncio.wait_for(invoice_and_post(), args.timeout)
        invoice_and_post_s = time.perf_counter() - started
        step_cpu = cpu_used(readings["pid"], readings["client"], readings["server"])
        step[0] = "the checks' queries"
        async with runtime.db.read() as session:
            invoices = (await session.exec(select(func.count()).select_from(Invoice))).one()
            invoice_lines = (await session.exec(select(func.count()).select_from(InvoiceLine))).one()
            entries = (await session.exec(select(func.count()).select_from(JournalEntry).where(
                JournalEntry.source.like("invoice:%")))).one()  # type: ignore[attr-defined]
            journal_lines = (await session.exec(select(func.count()).select_from(JournalLine))).one()
            billed = (await session.exec(select(func.sum(Invoice.total)))).one()
            receivable = await finance.find_account_by_code(session, "1200")
            ar = await finance.account_balance(session, receivable.id or 0)
            tb = await finance.trial_balance(session)
        assert len(result.invoice_ids) == args.students == invoices == entries, (result.skipped[:3], invoices)
        assert ar == int(billed) == result.total and tb.balanced, (ar, billed, result.total)
        step[0] = "the copy baseline (copy_records_to_table into scratch tables)"
        copy_s, copied, copy_cpu = await copy_baseline(url, since, args.timeout)
    finally:
        step[0] = "the database to be dropped"
        await runtime.close()
        with contextlib.suppress(Exception):
            async with admin.connect() as conn:
                await asyncio.wait_for(conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), 60)
        await admin.dispose()
    ratio = invoice_and_post_s / copy_s
    cpu_ratio = None
    if step_cpu["server_cpu_s"] is not None and copy_cpu["server_cpu_s"] is not None:
        cpu_ratio = round((step_cpu["client_cpu_s"] + step_cpu["server_cpu_s"])  # type: ignore[operator]
                          / (copy_cpu["client_cpu_s"] + copy_cpu["server_cpu_s"]), 2)  # type: ignore[operator]
    print(f"setup: {args.students} students in families, a fee schedule and discounts in {setup_s:.1f} s")
    print(f"invoice and post: {invoice_and_post_s:.2f} s for {invoices} invoices ({invoice_lines} lines) and "
          f"{entries} journal entries ({journal_lines} lines) = {args.students / invoice_and_post_s:.0f} students/s")
    print(f"billed: {int(billed) / 100:,.2f} AUD = the Fees receivable balance; trial balance balanced")
    print(f"baseline: {sum(copied.values())} rows ({', '.join(f'{t} {n}' for t, n in copied.items())}) written "
          f"again with copy_records_to_table in {copy_s:.2f} s")
    print(f"invoice and post: {ratio:.2f} x the copy baseline (target at most 4)")
    if cpu_ratio is not None:
        print(f"CPU (this process + the server backend): invoice and post {step_cpu['client_cpu_s']:.2f} + "
              f"{step_cpu['server_cpu_s']:.2f} s, baseline {copy_cpu['client_cpu_s']:.2f} + "
              f"{copy_cpu['server_cpu_s']:.2f} s = {cpu_ratio:.2f} x")
    print(json.dumps({"startup_heap_frozen": not args.no_freeze, "students": args.students,
                      "invoice_and_post_s": round(invoice_and_post_s, 2),
                      "copy_s": round(copy_s, 3), "ratio_vs_copy": round(ratio, 2), "rows_copied": copied,
                      "invoices": invoices, "journal_entries": entries, "invoice_lines": invoice_lines,
                      "journal_lines": journal_lines, "students_per_s": round(args.students / invoice_and_post_s, 1),
                      "cpu_s": step_cpu, "copy_cpu_s": copy_cpu, "cpu_ratio_vs_copy": cpu_ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
