"""Payroll at scale: calculate and post a month for 10,000 employees on PostgreSQL.

Creates a fresh PostgreSQL database (dropped afterwards): 20 departments, --employees employees with AUD contracts
on a six-component structure (prorated basic salary, a fixed allowance, a pre-tax salary sacrifice, PAYG
withholding from the ATO's Schedule 1, a formula deduction, the superannuation guarantee), 3 % of them with
unpaid leave. Then measures, as the job and the approved action do them:
- calculate_s: `compute_run` (every payslip with the engine) + `store_run` (payslips and lines written, one
  transaction);
- post_s: `post_run` (the journal entry: salary expense per department, contributions, taxes, deductions and
  net pay payable; payslips marked done).
Target (the payroll issue): both together under 10 s on this 2-core machine (Frappe HRMS: 7,000 slips in
646 s). Prints the figures, then one line holding a JSON object of them.

Usage: uv run python bench/payroll.py [--employees 10000] [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]
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

from sqlalchemy import func, insert
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from domain.hr.models import Department, Employee
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import ensure_audit_head
from domain.kernel.clock import utcnow
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from domain.payroll import service as payroll
from domain.payroll.models import EmploymentContract, PayslipLine, UnpaidLeave
from tools.runtime import Runtime

STRUCTURE = [
    {"code": "BASIC", "name": "Basic salary", "kind": "earning", "method": "percentage", "percent": 100,
     "of": "base", "prorate": True},
    {"code": "ALLOW", "name": "Teaching allowance", "kind": "earning", "method": "fixed", "amount_minor": 25000},
    {"code": "SALSAC", "name": "Salary sacrifice", "kind": "deduction", "method": "percentage", "percent": 5,
     "of": "BASIC", "pre_tax": True},
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "UNION", "name": "Union fees", "kind": "deduction", "method": "formula",
     "expression": "min(3000, gross * 0.005)"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution", "method": "percentage",
     "percent": "11.5", "of": "BASIC"},
]


async def build(runtime: Runtime, employees: int) -> None:
    """The school's staff, contracts and leave, written with Core inserts."""
    rng = random.Random(7)
    now = utcnow()
    base = {"version": 1, "created_at": now, "updated_at": now, "deleted_at": None}
    async with runtime.db.write() as session:
        await ensure_audit_head(session)
        await session.exec(insert(Department), params=[  # type: ignore[call-overload]
            {**base, "code": f"D{i:02d}", "name": f"Department {i}"} for i in range(20)])
        departments = list((await session.exec(select(Department.id))).all())
        await session.exec(insert(Employee), params=[  # type: ignore[call-overload]
            {**base, "code": f"E{i:05d}", "first_name": "Staff", "last_name": f"Member {i}",
             "work_email": f"staff{i}@bench.example.org", "position": "Teacher",
             "department_id": departments[i % len(departments)], "hire_date": date(2020, 1, 6),
             "employment_type": "full_time", "status": "active", "termination_date": None,
             "termination_reason": None} for i in range(employees)])
        structure = await payroll.create_structure(session, SYSTEM_ACTOR, code="BENCH", name="Bench teachers",
                                                   currency="AUD", components=STRUCTURE)
        staff = list((await session.exec(select(Employee.id, Employee.department_id))).all())
        await session.exec(insert(EmploymentContract), params=[  # type: ignore[call-overload]
            {**base, "contract_number": f"C{i:06d}", "version_no": 1, "employee_id": employee_id,
             "start_date": date(2026, 1, 1), "end_date": None, "effective_from": date(2026, 1, 1),
             "pay_basis": "monthly", "base_minor": rng.randrange(450_000, 1_100_000, 100),
             "hours_per_month_x100": None, "currency": "AUD", "salary_structure_id": structure.id,
             "department_id": department_id, "filing_status": "scale_2", "superseded_at": None, "reason": None}
            for i, (employee_id, department_id) in enumerate(staff)])
        await session.exec(insert(UnpaidLeave), params=[  # type: ignore[call-overload]
            {**base, "employee_id": employee_id, "period": "2026-06", "days_x100": rng.choice((50, 100, 200))}
            for employee_id, _ in rng.sample(staff, len(staff) * 3 // 100)])


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server URL; a fresh database is created on it and dropped after")
    args = parser.parse_args()
    name = f"mcs_bench_payroll_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    runtime = Runtime.create(Settings(database_url=url))
    try:
        await migrate(runtime.db.write_engine)
        started = time.perf_counter()
        await build(runtime, args.employees)
        setup_s = time.perf_counter() - started
        async with runtime.db.write() as session:
            run = await payroll.create_run(session, SYSTEM_ACTOR, period="2026-06", pay_date=date(2026, 6, 26),
                                           currency="AUD")
        started = time.perf_counter()
        async with runtime.db.read() as session:
            computation = await payroll.compute_run(session, run.id or 0)
        compute_s = time.perf_counter() - started
        async with runtime.db.write() as session:
            done = await payroll.store_run(session, computation)
        calculate_s = time.perf_counter() - started
        async with runtime.db.write() as session:
            await payroll.approve_run(session, SYSTEM_ACTOR, run.id or 0)
        started = time.perf_counter()
        async with runtime.db.write() as session:
            posted = await payroll.post_run(session, SYSTEM_ACTOR, run.id or 0)
        post_s = time.perf_counter() - started
        async with runtime.db.read() as session:
            lines = (await session.exec(select(func.count()).select_from(PayslipLine))).one()
        assert done.payslips == args.employees and posted.status == "posted", (done.payslips, posted.status)
    finally:
        await runtime.close()
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()
    total = calculate_s + post_s
    print(f"setup: {args.employees} employees with contracts in {setup_s:.1f} s")
    print(f"calculate: {calculate_s:.2f} s ({compute_s:.2f} s computing {args.employees} payslips, "
          f"{calculate_s - compute_s:.2f} s writing them and {lines} lines) = "
          f"{args.employees / calculate_s:.0f} employees/s")
    print(f"post: {post_s:.2f} s (one journal entry, payslips done) = {args.employees / post_s:.0f} employees/s")
    print(f"calculate + post: {total:.2f} s (target < 10 s)")
    print(json.dumps({"employees": args.employees, "calculate_s": round(calculate_s, 2), "post_s": round(post_s, 2),
                      "total_s": round(total, 2), "employees_per_s": round(args.employees / total, 1),
                      "payslip_lines": lines}))


if __name__ == "__main__":
    asyncio.run(main())
