"""Issue 20's end-to-end acceptance: two demo schools as two tenants of one `mcs-erp serve --http` server, each
over Streamable HTTP with its own keys (the official MCP client), sharing one `mcs-erp worker` on Redis. Each
school solves its timetable on the worker and publishes it through the gate, then runs June 2026's payroll
(calculated on the worker, approved and posted through the four-eyes gate). The two schools work at the same
time, so their calls and jobs interleave on the server's pool and the worker's queue.

Then nothing crossed: every job, solution, payroll run, payslip, employee and audit entry each school's tools
return, and each tenant's tables hold (read in-process, per tenant), is that school's own; ids and codes that
exist only in one school are not-found in the other. The schools differ on purpose so that a leak would show:
other seeds (other staff names and salaries), and South solves twice and hires one more paid employee.

On SQLite a tenant is its own database file, on PostgreSQL its own schema. Redis comes from
MCS_ERP_TEST_REDIS_URL: without it the test skips locally and fails under CI=true (as the timetable e2e tests).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from datetime import date
from dataclasses import dataclass, field
from typing import Any

import pytest
from mcp import Client
from sqlalchemy import text

from domain.demo.builder import build_demo_school, payday
from domain.kernel.settings import Settings
from domain.kernel.tenants import tenant_in_use
from tests.conftest import TEST_DATA_KEYS
from tests.server.e2e_helpers import E2EDatabase, call_error, call_ok, e2e_database, http_client, http_server, \
    init_database, run_cli_in_process
from tests.server.test_timetable_e2e import REDIS_URL, redis_queue, spawn_worker, worker_log  # noqa: F401
from tools.runtime import Runtime

pytestmark = pytest.mark.e2e

SEEDS = {"north": 7, "south": 11}  # two demo schools of other staff, students and salaries
PERIOD = "2026-06"  # the demo pays 2026-03 to 2026-05; the bundled ATO tables cover pay dates to 2026-06-30
SOLVE_S = 8  # the demo school's first timetable comes in about a second on a quiet machine; 3 s missed it under CI's load
WAIT_S = 120  # the shared worker runs one job at a time: a school may wait for the other's solve
HIRE = {"first_name": "Quentin", "last_name": "Southgate", "work_email": "quentin.southgate@south.example"}


@dataclass
class SchoolRun:
    """What one school's calls returned: its ids, to compare with what its tenant holds."""

    code: str
    job_ids: set[int] = field(default_factory=set)
    solution_ids: list[int] = field(default_factory=list)
    published_solution_id: int = 0
    action_ids: set[int] = field(default_factory=set)
    run_id: int = 0
    run_totals: dict[str, int] = field(default_factory=dict)
    payslip_ids: set[int] = field(default_factory=set)
    paid_codes: set[str] = field(default_factory=set)  # the employee codes of the run's payslips
    employees: dict[str, str] = field(default_factory=dict)  # code -> full name
    hire_code: str | None = None


async def build_demo_in_tenant(db: E2EDatabase, code: str, seed: int) -> None:
    """Build the demo school of `seed` in tenant `code` (domain.demo.builder, in this process, as tests.conftest
    builds the shared demo school: the `mcs-erp demo` command serves the default tenant only)."""
    runtime = Runtime.create(Settings(database_url=db.url, key_cache_seconds=0, data_keys=TEST_DATA_KEYS))
    try:
        with tenant_in_use(code):
            async with runtime.db.write() as session:
                summary = await build_demo_school(session, seed=seed)
        assert summary.created and summary.sections == 24 and summary.classes == 240, summary
    finally:
        await runtime.close()


async def tenant_rows(db: E2EDatabase, code: str, sql: str, **params: Any) -> list[tuple]:
    """Rows of `sql` run in tenant `code`'s own tables (its schema, or its SQLite file)."""
    runtime = Runtime.create(Settings(database_url=db.url, key_cache_seconds=0, data_keys=TEST_DATA_KEYS))
    try:
        with tenant_in_use(code):
            async with runtime.db.read() as session:
                return [tuple(row) for row in (await session.exec(text(sql).bindparams(**params))).all()]
    finally:
        await runtime.close()


def secret_in(output: str) -> str:
    found = re.findall(r"^(mcs_\w+\.\S+)$", output, flags=re.MULTILINE)
    assert len(found) == 1, output
    return found[0]


async def solve(client: Client, school: SchoolRun, problem_id: int) -> dict[str, Any]:
    """solve_timetable on the worker, waited on; return the finished job."""
    job = await call_ok(client, "solve_timetable", {"problem_id": problem_id, "time_limit_s": SOLVE_S, "seed": 3,
                                                    "idempotency_key": f"two-schools-{uuid.uuid4().hex}",
                                                    "wait_s": WAIT_S})
    assert job["kind"] == "solve_timetable" and job["status"] == "succeeded", json.dumps(job)  # the whole job: its error
    assert job["result"]["hard_violations"] == 0, job
    school.job_ids.add(job["job_id"])
    school.solution_ids.append(job["result"]["solution_id"])
    return job


async def gate(requester: Client, approver: Client, tool: str, run_id: int, school: SchoolRun) -> dict[str, Any]:
    """A four-eyes run tool: requested and confirmed by `requester`, approved by the other admin."""
    pending = await call_ok(requester, tool, {"run_id": run_id})
    assert pending["pending"] is True and pending["level"] == "approve", pending
    assert (await call_ok(requester, "confirm_action", {"action_id": pending["action_id"]}))["status"] == "queued"
    done = await call_ok(approver, "approve_action", {"action_id": pending["action_id"], "reason": "checked"})
    assert done["status"] == "executed", done
    school.action_ids.add(pending["action_id"])
    return done


async def school_day(school: SchoolRun, admin: Client, principal: Client) -> None:
    """One school's timetable and payroll month, as its own admin and principal."""
    # South hires one more paid member of staff, so its payslips outnumber North's by one.
    if school.code == "south":
        department = (await call_ok(admin, "list_departments", {"limit": 100}))["items"][0]
        hire = await call_ok(admin, "create_employee", {**HIRE, "position": "Teacher", "hire_date": "2026-05-04",
                                                        "department_id": department["id"],
                                                        "employment_type": "full_time"})
        structure = [s for s in (await call_ok(admin, "list_salary_structures", {"limit": 100}))["items"]
                     if s["code"] == "AU_STAFF"]
        assert len(structure) == 1, structure
        await call_ok(admin, "create_employment_contract", {
            "employee_id": hire["id"], "start_date": "2026-05-04", "base_minor": 700_000, "currency": "AUD",
            "salary_structure_id": structure[0]["salary_structure_id"], "filing_status": "scale_2"})
        school.hire_code = hire["code"]

    # The timetable: built, solved on the shared worker (South twice), the last solution published at the gate.
    problem = await call_ok(admin, "build_timetable_problem", {})
    assert (problem["courses"], problem["curricula"], problem["rooms"]) == (240, 24, 27), problem
    for _ in range(2 if school.code == "south" else 1):
        job = await solve(admin, school, problem["problem_id"])
    pending = await call_ok(admin, "publish_timetable", {"solution_id": job["result"]["solution_id"]})
    assert pending["status"] == "proposed", pending
    assert (await call_ok(admin, "confirm_action", {"action_id": pending["action_id"]}))["status"] == "executed"
    school.action_ids.add(pending["action_id"])
    school.published_solution_id = job["result"]["solution_id"]

    # June's payroll: created, calculated on the worker, approved and posted through the four-eyes gate.
    run = await call_ok(admin, "create_payroll_run", {"period": PERIOD, "pay_date": payday(PERIOD).isoformat(),
                                                      "currency": "AUD"})
    calc = await call_ok(admin, "calculate_payroll_run", {"run_id": run["run_id"], "wait_s": WAIT_S})
    assert calc["status"] == "succeeded" and calc["result"]["payslips"] > 0, calc
    school.job_ids.add(calc["job_id"])
    await gate(admin, principal, "approve_payroll_run", run["run_id"], school)
    posted = await gate(principal, admin, "post_payroll_run", run["run_id"], school)
    assert posted["result"]["journal_entry_id"] is not None, posted
    final = await call_ok(admin, "get_payroll_run", {"run_id": run["run_id"]})
    assert final["status"] == "posted" and final["employees"] == calc["result"]["payslips"], final
    school.run_id = run["run_id"]
    school.run_totals = {k: final[k] for k in ("employees", "gross_minor", "net_minor")}
    slips = (await call_ok(admin, "list_payslips", {"run_id": run["run_id"], "limit": 100}))["items"]
    assert len(slips) == final["employees"] and {s["status"] for s in slips} == {"done"}
    school.payslip_ids = {s["payslip_id"] for s in slips}
    school.paid_codes = {s["employee_code"] for s in slips}
    staff = (await call_ok(admin, "list_employees", {"limit": 100}))["items"]
    school.employees = {e["code"]: f"{e['first_name']} {e['last_name']}" for e in staff}


async def check_own_tables(db: E2EDatabase, school: SchoolRun, other: SchoolRun) -> None:
    """The tenant's tables hold exactly what its school's calls made, and nothing of the other school's."""
    code = school.code
    jobs = await tenant_rows(db, code, "SELECT id, kind, status FROM jobs ORDER BY id")
    assert {r[0] for r in jobs} == school.job_ids and {r[2] for r in jobs} == {"succeeded"}, jobs
    assert sorted(r[1] for r in jobs) == sorted(["calculate_payroll_run"]
                                                + ["solve_timetable"] * len(school.solution_ids)), jobs
    solutions = await tenant_rows(db, code, "SELECT id FROM timetable_solutions ORDER BY id")
    assert [r[0] for r in solutions] == school.solution_ids
    published = await tenant_rows(db, code, "SELECT published_solution_id FROM timetable_problems "
                                            "WHERE published_solution_id IS NOT NULL")
    assert published == [(school.published_solution_id,)]
    runs = await tenant_rows(db, code, "SELECT id, status FROM payroll_runs WHERE period = :p", p=PERIOD)
    assert runs == [(school.run_id, "posted")]
    slips = await tenant_rows(db, code, "SELECT id FROM payslips WHERE run_id = :r", r=school.run_id)
    assert {r[0] for r in slips} == school.payslip_ids
    # One payslip for each of its own employees under contract in June (its demo staff, and South's hire).
    contracted = await tenant_rows(db, code, "SELECT DISTINCT e.code FROM employment_contracts c JOIN employees e "
                                             "ON e.id = c.employee_id WHERE c.start_date <= :end AND "
                                             "(c.end_date IS NULL OR c.end_date >= :start)",
                                   start=date(2026, 6, 1), end=date(2026, 6, 30))
    assert {r[0] for r in contracted} == school.paid_codes and len(slips) == school.run_totals["employees"]
    staff = await tenant_rows(db, code, "SELECT code, first_name, last_name FROM employees")
    assert {c: f"{f} {la}" for c, f, la in staff} == school.employees
    # Its audit log: its own admin key, its own gated actions, never the other school's hire or code.
    audit = await tenant_rows(db, code, "SELECT tool, event, action_id, arguments FROM audit_log ORDER BY id")
    started = await tenant_rows(db, code, "SELECT tool, entity_id FROM audit_log WHERE entity = 'jobs'")
    assert sorted(started) == sorted((kind, job_id) for job_id, kind, _ in jobs), started  # each start, here only
    created = [json.loads(a) for t, _, _, a in audit if t == "tenants create"]
    assert created == [{"code": code, "name": f"{code.title()} School"}], created
    gated = {action for t, _, action, _ in audit if action is not None}
    assert gated == school.action_ids, (gated, school.action_ids)
    text_of_log = json.dumps(audit)
    assert f'"{other.code}"' not in text_of_log
    assert (HIRE["last_name"] in text_of_log) == (code == "south")


async def check_not_across(client: Client, school: SchoolRun, other: SchoolRun) -> None:
    """Over MCP as `school`: the other school's ids and codes that `school` does not have are not-found; ids both
    have (each numbers its own rows) show `school`'s own rows."""
    for job_id in other.job_ids - school.job_ids:
        assert (await call_error(client, "get_job", {"job_id": job_id})).startswith("error: not_found")
    for solution_id in set(other.solution_ids) - set(school.solution_ids):
        message = await call_error(client, "get_timetable_solution", {"solution_id": solution_id})
        assert message.startswith("error: not_found"), message
    for employee_code in set(other.employees) - set(school.employees):
        message = await call_error(client, "get_employee", {"employee_id": employee_code})
        assert message.startswith("error: not_found"), message
    for job_id in school.job_ids:
        assert (await call_ok(client, "get_job", {"job_id": job_id}))["status"] == "succeeded"
    listed = (await call_ok(client, "list_jobs", {"limit": 100}))["items"]
    assert {j["job_id"] for j in listed} == school.job_ids
    run = await call_ok(client, "get_payroll_run", {"run_id": school.run_id})
    assert {k: run[k] for k in school.run_totals} == school.run_totals
    assert school.run_totals != other.run_totals
    slips = (await call_ok(client, "list_payslips", {"run_id": school.run_id, "limit": 100}))["items"]
    assert {s["payslip_id"] for s in slips} == school.payslip_ids
    staff = (await call_ok(client, "list_employees", {"limit": 100}))["items"]
    names = {f"{e['first_name']} {e['last_name']}" for e in staff}
    assert names == set(school.employees.values())
    if school.code == "north":
        events = await call_ok(client, "list_audit_events", {"limit": 100})
        assert events["items"] and HIRE["last_name"] not in json.dumps(events)


async def test_two_demo_schools_share_a_server_and_a_worker_and_nothing_crosses(tmp_path, redis_queue):  # noqa: F811
    async with e2e_database(tmp_path) as db:
        db.extra_env.update(MCS_ERP_REDIS_URL=REDIS_URL, MCS_ERP_QUEUE_NAME=redis_queue,
                            MCS_ERP_DATA_KEYS=TEST_DATA_KEYS.get_secret_value())
        await init_database(db)
        keys: dict[str, dict[str, str]] = {}
        for code, seed in SEEDS.items():
            created = await run_cli_in_process(db, "tenants", "create", code, "--name", f"{code.title()} School")
            await build_demo_in_tenant(db, code, seed)
            principal = await run_cli_in_process(db, "keys", "create", "--user", "principal", "--tenant", code)
            keys[code] = {"admin": secret_in(created.stdout), "principal": secret_in(principal.stdout)}
        assert keys["north"]["admin"].startswith("mcs_north.") and keys["south"]["admin"].startswith("mcs_south.")

        worker: subprocess.Popen = spawn_worker(db, burst=False, log_name="worker.log")
        schools = {code: SchoolRun(code) for code in SEEDS}
        try:
            async with http_server(db) as server:
                def client(code: str, user: str):
                    return http_client(server, {"Authorization": f"Bearer {keys[code][user]}"})

                async with client("north", "admin") as north, client("north", "principal") as north_p, \
                        client("south", "admin") as south, client("south", "principal") as south_p:
                    await asyncio.gather(school_day(schools["north"], north, north_p),
                                         school_day(schools["south"], south, south_p))
                    await check_not_across(north, schools["north"], schools["south"])
                    await check_not_across(south, schools["south"], schools["north"])
        finally:
            if worker.poll() is None:
                worker.terminate()
                try:
                    await asyncio.to_thread(worker.wait, 20)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    await asyncio.to_thread(worker.wait, 20)
        log = worker_log(db, "worker.log")
        assert log.count("run_job") >= 5, log  # North's 2 jobs and South's 3, on the one shared worker

        north, south = schools["north"], schools["south"]
        assert len(south.solution_ids) == 2 and len(north.solution_ids) == 1
        assert south.hire_code in south.paid_codes and south.hire_code not in north.employees  # South's hire
        # South has ids North has not, so check_not_across's not-found checks on North's side were not vacuous.
        assert south.job_ids - north.job_ids and set(south.solution_ids) - set(north.solution_ids)
        await check_own_tables(db, north, south)
        await check_own_tables(db, south, north)
