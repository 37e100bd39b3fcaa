"""Payroll at scale: calculate and post one pay period of 10,000 employees on mixed pay frequencies, on PostgreSQL.

Creates a fresh PostgreSQL database (dropped afterwards): 20 departments and --employees employees with AUD
contracts on three pay calendars (20 % WEEKLY, 40 % FORTNIGHTLY, 40 % MONTHLY; Victoria's public holidays) and one
six-component structure (prorated basic salary, a fixed allowance, a pre-tax salary sacrifice, PAYG withholding from
the ATO's Schedule 1 for the calendar's frequency, a formula deduction, the super guarantee at the dated rate on
ordinary time earnings); 3 % of them have approved annual leave in the period (paid by its own lines with a 17.5 %
loading) and 3 % unpaid leave. Then measures, as the job and the approved action do them, summed over the three
calendars' runs (the week of 22 June 2026, the fortnight from 15 June, June):
- calculate_s: `calculate_run` as the job runs it on PostgreSQL (every payslip with the engine, leave taken and
  accrued; payslips, lines and one audit entry each, each batch written while the next is computed; one
  transaction per run);
- post_s: `post_run` (the journal entry; payslips done; the leave movements: accruals and leave taken).
Baseline, in the same run: every row those steps wrote (payslips, payslip lines, audit entries, leave movements,
journal entries and lines), read back and written again with asyncpg's `copy_records_to_table` into tables made
`LIKE` the real ones (same columns, defaults and indexes): copy_s. Target (issue 18): calculate_s + post_s at most
4 x copy_s (these machines' absolute speed drifts 2x from day to day). `LIKE` copies no foreign key, so copy_s is
the rows written into tables that check nothing against other tables, where the real writes check each row's
foreign keys (a payslip line's payslip, a payslip's run, employee, contract and department, a movement's employee,
type and request: about 150,000 checks); copy_fk_s times the same COPY into tables that also carry the real ones'
foreign keys, the database's own cost of holding these rows in this schema, and ratio_vs_copy_with_foreign_keys is
the run against it. Also the bench process's own CPU time in the two steps (its event loop and the compute
thread: calculate_cpu_s, post_cpu_s), which a loaded machine inflates far less than the wall time, for comparing
two versions of payroll there (the database server's share is not in it). Prints the figures, then one line
holding a JSON object of them: employees, calculate_s, post_s, copy_s, ratio_vs_copy, copy_fk_s,
ratio_vs_copy_with_foreign_keys, calculate_cpu_s, post_cpu_s.

The process freezes its start-up heap as a job worker does once started (domain/kernel/heap.py; --no-freeze leaves
it in the garbage collector's scans), so the steps run in the process state of a job.

Usage: uv run python bench/payroll.py [--employees 10000] [--no-freeze]
                                      [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg
from sqlalchemy import func, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from domain.hr.models import Department, Employee
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel import heap, offload
from domain.kernel.audit import ensure_audit_head
from domain.kernel.clock import utcnow
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from domain.payroll import service as payroll
from domain.leave.models import LeaveMovement, LeaveRequest, LeaveType
from domain.payroll.models import EmploymentContract, PayCalendar, PayslipLine
from tools.runtime import Runtime

STRUCTURE = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
     "of": "base", "prorate": True},
    {"code": "ALLOW", "name": "Teaching allowance", "kind": "earning", "method": "fixed", "amount_minor": 2500,
     "category": "allowance:OD"},
    {"code": "SALSAC", "name": "Salary sacrifice", "kind": "deduction", "method": "percentage", "percent": 5,
     "of": "BASIC", "pre_tax": True, "category": "salary_sacrifice:S"},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "UNION", "name": "Union fees", "kind": "deduction", "method": "formula",
     "expression": "min(3000, gross * 0.005)", "category": "deduction:F"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution", "method": "formula",
     "expression": "ote * super_guarantee_rate", "category": "super:L"},
]
CALENDARS = (  # code, frequency, share of the staff, the period measured
    ("WEEKLY", "weekly", 20, "2026-06-22"),
    ("FORTNIGHTLY", "fortnightly", 40, "2026-06-15"),
    ("MONTHLY", "monthly", 40, "2026-06"),
)
ANCHOR = date(2026, 6, 1)
TABLES = ("payslips", "payslip_lines", "audit_log", "leave_movements", "journal_entries", "journal_lines")
TIMEOUT_S = 900  # every wait in the bench ends, even when the database hangs


async def build(runtime: Runtime, employees: int) -> dict[str, int]:
    """The school's staff, calendars, contracts and leave, written with Core inserts; the calendars' ids by code."""
    rng = random.Random(7)
    now = utcnow()
    base = {"version": 1, "created_at": now, "updated_at": now, "deleted_at": None}
    async with runtime.db.write() as session:
        await ensure_audit_head(session)
        await payroll.ensure_default_calendar(session)
        calendars = {"MONTHLY": (await payroll.default_calendar(session)).id or 0}
        for code, frequency, _, _ in CALENDARS[:2]:
            row = await payroll.create_pay_calendar(session, SYSTEM_ACTOR, code=code, name=code.title(),
                                                    frequency=frequency, anchor_date=ANCHOR, pay_day_offset=-2,
                                                    subdivision="VIC")
            calendars[code] = row.id or 0
        monthly = await session.get(PayCalendar, calendars["MONTHLY"])
        assert monthly is not None
        monthly.subdivision = "VIC"
        session.add(monthly)
        await session.exec(insert(Department), params=[  # type: ignore[call-overload]
            {**base, "code": f"D{i:02d}", "name": f"Department {i}"} for i in range(20)])
        departments = list((await session.exec(select(Department.id))).all())
        await session.exec(insert(Employee), params=[  # type: ignore[call-overload]
            {**base, "code": f"E{i:05d}", "first_name": "Staff", "last_name": f"Member {i}",
             "work_email": f"staff{i}@bench.example.org", "position": "Teacher",
             "department_id": departments[i % len(departments)], "hire_date": date(2020, 1, 6),
             "employment_type": "full_time", "status": "active", "termination_date": None,
             "termination_reason": None, "name_folded": f"staff member {i}"} for i in range(employees)])
        structure = await payroll.create_structure(session, SYSTEM_ACTOR, code="BENCH", name="Bench teachers",
                                                   currency="AUD", components=STRUCTURE)
        staff = list((await session.exec(select(Employee.id, Employee.department_id))).all())
        shares = [code for code, _, share, _ in CALENDARS for _ in range(share)]
        await session.exec(insert(EmploymentContract), params=[  # type: ignore[call-overload]
            {**base, "contract_number": f"C{i:06d}", "version_no": 1, "employee_id": employee_id,
             "start_date": date(2026, 1, 1), "end_date": None, "effective_from": date(2026, 1, 1),
             "pay_basis": "annual", "base_minor": rng.randrange(5_400_000, 13_200_000, 100),
             "hours_per_month_x100": None, "currency": "AUD", "salary_structure_id": structure.id,
             "department_id": department_id, "filing_status": "scale_2", "superseded_at": None, "reason": None,
             "pay_calendar_id": calendars[shares[i % len(shares)]], "hours_per_week_x100": 3800,
             "leave_loading_x100": 1750, "cessation_type": None}
            for i, (employee_id, department_id) in enumerate(staff)])
        annual = (await session.exec(select(LeaveType.id).where(LeaveType.code == "ANNUAL"))).one()
        unpaid = (await session.exec(select(LeaveType.id).where(LeaveType.code == "UNPAID"))).one()
        on_leave = rng.sample(staff, len(staff) * 6 // 100)
        await session.exec(insert(LeaveRequest), params=[  # type: ignore[call-overload]
            {**base, "employee_id": employee_id, "leave_type_id": annual if n % 2 else unpaid,
             "start_date": date(2026, 6, 23), "end_date": date(2026, 6, 24), "hours_per_day_x100": 760,
             "hours_x100": 1520, "working_days": 2, "explicit_hours": False, "country": "AU", "subdivision": "VIC",
             "reason": "bench", "status": "approved", "requested_by": None, "decided_by": None, "decided_at": now,
             "decision_reason": None} for n, (employee_id, _) in enumerate(on_leave)])
    return calendars


async def copy_baseline(url: str, since: dict[str, int], *, foreign_keys: bool = False) -> tuple[float, int]:
    """Read back every row the measured steps wrote (ids above `since`, per table) and time writing them again with
    asyncpg's copy_records_to_table into tables LIKE the real ones (INCLUDING ALL: defaults and indexes) and, with
    `foreign_keys`, the real tables' foreign keys too (LIKE copies no foreign key; each copied row is then checked
    against the same parent rows, as the real write's are). Returns (seconds, rows)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=60)
    prefix = "copyfk" if foreign_keys else "copy"
    try:
        batches = []
        for table in TABLES:
            rows = await conn.fetch(f"SELECT * FROM {table} WHERE id > $1 ORDER BY id", since[table],
                                    timeout=TIMEOUT_S)
            await conn.execute(f"CREATE TABLE {prefix}_{table} (LIKE {table} INCLUDING ALL)", timeout=60)
            if foreign_keys:
                for definition in await conn.fetch("SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint "
                                                   "WHERE conrelid = $1::regclass AND contype = 'f'", table):
                    await conn.execute(f"ALTER TABLE {prefix}_{table} ADD {definition['d']}", timeout=60)
            batches.append((table, [tuple(r.values()) for r in rows], list(rows[0].keys()) if rows else []))
        started = time.perf_counter()
        for table, records, columns in batches:
            if records:
                await conn.copy_records_to_table(f"{prefix}_{table}", records=records, columns=columns,
                                                 timeout=TIMEOUT_S)
        return time.perf_counter() - started, sum(len(r) for _, r, _ in batches)
    finally:
        await conn.close(timeout=30)


async def high_water(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.read() as session:
        return {t: int((await session.exec(text(f"SELECT coalesce(max(id), 0) FROM {t}"))).one()[0])  # type: ignore
                for t in TABLES}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server URL; a fresh database is created on it and dropped after")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the start-up heap in the garbage collector's scans (a worker freezes it)")
    args = parser.parse_args()
    await asyncio.wait_for(run(args), TIMEOUT_S * 2)


async def run(args: argparse.Namespace) -> None:
    name = f"mcs_bench_payroll_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    runtime = Runtime.create(Settings(database_url=url))
    try:
        await migrate(runtime.db.write_engine)
        await offload.warm()  # as `mcs-erp worker` does at start-up: the compute process is up before the first job
        if not args.no_freeze:  # as a worker does once started (workers/arq_worker.py), before any job
            heap.freeze_startup_heap()
        started = time.perf_counter()
        calendars = await build(runtime, args.employees)
        setup_s = time.perf_counter() - started
        since = await high_water(runtime)
        calculate_s = post_s = calculate_cpu_s = post_cpu_s = 0.0
        payslips = 0
        for code, _, _, period in CALENDARS:
            async with runtime.db.write() as session:
                run_row = await payroll.create_run(session, SYSTEM_ACTOR, period=period, currency="AUD",
                                                   pay_calendar_id=calendars[code])
            started, cpu = time.perf_counter(), time.process_time()
            async with runtime.db.write() as session:
                done = await payroll.calculate_run(session, run_row.id or 0)
            calculate_s += time.perf_counter() - started
            calculate_cpu_s += time.process_time() - cpu
            payslips += done.payslips
            async with runtime.db.write() as session:
                await payroll.approve_run(session, SYSTEM_ACTOR, run_row.id or 0)
            started, cpu = time.perf_counter(), time.process_time()
            async with runtime.db.write() as session:
                posted = await payroll.post_run(session, SYSTEM_ACTOR, run_row.id or 0)
            post_s += time.perf_counter() - started
            post_cpu_s += time.process_time() - cpu
            assert posted.status == "posted", posted.status
        async with runtime.db.read() as session:
            lines = (await session.exec(select(func.count()).select_from(PayslipLine))).one()
            movements = (await session.exec(select(func.count()).select_from(LeaveMovement))).one()
            leave_lines = (await session.exec(select(func.count()).select_from(PayslipLine).where(
                PayslipLine.kind == "leave"))).one()
        assert payslips == args.employees, (payslips, args.employees)
        copy_s, copied = await copy_baseline(url, since)
        copy_fk_s, _ = await copy_baseline(url, since, foreign_keys=True)
    finally:
        await runtime.close()
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()
    total = calculate_s + post_s
    ratio = total / copy_s
    ratio_fk = total / copy_fk_s
    print(f"setup: {args.employees} employees on 3 pay calendars with contracts and leave in {setup_s:.1f} s")
    print(f"calculate: {calculate_s:.2f} s ({payslips} payslips computed and written, {lines} lines ({leave_lines} "
          f"of paid leave) and their audit entries)")
    print(f"post: {post_s:.2f} s (3 journal entries, payslips done, {movements} leave movements)")
    print(f"this process's CPU: calculate {calculate_cpu_s:.2f} s, post {post_cpu_s:.2f} s")
    print(f"baseline: {copied} rows written again with copy_records_to_table in {copy_s:.2f} s "
          f"({copy_fk_s:.2f} s into tables with the real ones' foreign keys too)")
    print(f"calculate + post: {total:.2f} s = {ratio:.2f} x the copy baseline (target at most 4), "
          f"{ratio_fk:.2f} x the copy with foreign keys")
    print(json.dumps({"startup_heap_frozen": not args.no_freeze, "employees": args.employees,
                      "calculate_s": round(calculate_s, 2), "post_s": round(post_s, 2),
                      "copy_s": round(copy_s, 2), "ratio_vs_copy": round(ratio, 2), "copy_fk_s": round(copy_fk_s, 2),
                      "ratio_vs_copy_with_foreign_keys": round(ratio_fk, 2), "payslip_lines": lines,
                      "leave_movements": movements, "calculate_cpu_s": round(calculate_cpu_s, 2),
                      "post_cpu_s": round(post_cpu_s, 2)}))


if __name__ == "__main__":
    asyncio.run(main())
