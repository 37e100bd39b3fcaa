"""Payroll end to end, as a school runs a month: over MCP (Streamable HTTP, API keys) and on a real arq worker.

First the acceptance flow of the payroll issue: an admin sets up the staff, the salary structure and the contracts
through tool calls; the payroll agent (a `payroll` user) creates the month's run, calculates it with
`calculate_payroll_run` + `wait_s`, reads the preview, and asks to approve and then to post it. Each request waits
at the gate until an admin who is not the requester approves it; the ledger then shows the posting entry exactly
once, and a second confirmation or approval of the same action is refused and changes nothing.

Then a real `mcs-erp worker` is SIGKILLed while it calculates a run of several thousand employees: a restarted
worker finishes the job (two attempts), which leaves exactly one payslip per employee and nothing in the ledger
until the run is posted.

Both run on the test backend (SQLite, or PostgreSQL with MCS_ERP_TEST_BACKEND=postgresql). Redis comes from
MCS_ERP_TEST_REDIS_URL like the timetable e2e tests: without it the worker test skips locally and fails in CI.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import subprocess
import time
from datetime import date
from typing import Any

import httpx
import pytest
from mcp import Client
from sqlalchemy import insert
from sqlmodel import select

from domain.hr.models import Department, Employee
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.clock import utcnow
from domain.kernel.settings import Settings
from domain.payroll import service as payroll
from domain.payroll.models import EmploymentContract
from tests.agent.test_agent_worker import rows
from tests.server.e2e_helpers import (
    E2EDatabase,
    HttpServer,
    KeySpec,
    audit_events,
    call_error,
    call_ok,
    create_keys,
    e2e_database,
    http_clients,
    http_server,
    init_database,
    verify_audit,
)
from tests.server.test_timetable_e2e import REDIS_URL, redis_queue, spawn_worker, worker_log  # noqa: F401
from tests.tools.test_payroll import STRUCTURE
from tools.runtime import Runtime

pytestmark = pytest.mark.e2e

ADMIN_A, ADMIN_B, AGENT = "admin", "admin-b", "payroll-agent"
# The bundled ATO tables cover pay dates up to 2026-06-30, so the months paid are in the first half of 2026.
PERIOD, PAY_DATE = "2026-05", "2026-05-28"
BASES = (650000, 720000, 480000)  # monthly salaries, AUD cents
LIABILITY_ACCOUNTS = ("2100", "2110", "2120", "2130")  # net pay, PAYG, deductions, employer contributions payable
WAIT_S = 60


# ---------------------------------------------------------------- the school's staff and the gate


async def seed_staff(admin: Client) -> list[dict[str, Any]]:
    """As an admin over MCP: two departments, three employees, the AU teachers' structure and a contract each
    from 2026-01-01 (salaries BASES). Return the employees."""
    maths = await call_ok(admin, "create_department", {"code": "MATH", "name": "Mathematics"})
    office = await call_ok(admin, "create_department", {"code": "OFFICE", "name": "School office"})
    employees = []
    for i, department in enumerate((maths, maths, office)):
        employees.append(await call_ok(admin, "create_employee", {
            "first_name": f"Pat{i}", "last_name": "Payee", "work_email": f"pat{i}@school.example.org",
            "position": "Teacher" if department is maths else "Bursar", "department_id": department["id"],
            "hire_date": "2020-01-06", "employment_type": "full_time"}))
    structure = await call_ok(admin, "create_salary_structure", {"code": "AU_TEACHERS", "name": "Teachers (AU)",
                                                                 "currency": "AUD", "components": STRUCTURE})
    for employee, base in zip(employees, BASES, strict=True):
        contract = await call_ok(admin, "create_employment_contract", {
            "employee_id": employee["id"], "start_date": "2026-01-01", "base_minor": base, "currency": "AUD",
            "salary_structure_id": structure["salary_structure_id"], "filing_status": "scale_2"})
        assert contract["version_no"] == 1 and contract["department_id"] == employee["department_id"], contract
    return employees


async def request_and_queue(requester: Client, tool: str, run_id: int) -> dict[str, Any]:
    """Call a gated run tool as the requester (a pending action, nothing changed) and confirm it: queued for an
    admin who is not the requester. Return the proposal."""
    pending = await call_ok(requester, tool, {"run_id": run_id})
    assert pending["pending"] is True and pending["status"] == "proposed" and pending["level"] == "approve", pending
    assert pending["tool"] == tool and pending["arguments"] == {"run_id": run_id}
    queued = await call_ok(requester, "confirm_action", {"action_id": pending["action_id"]})
    assert queued["status"] == "queued", queued
    return pending


async def through_the_gate(requester: Client, approver: Client, tool: str, run_id: int) -> dict[str, Any]:
    """Request, confirm and approve (as another admin) a gated run tool; return the executed action."""
    pending = await request_and_queue(requester, tool, run_id)
    done = await call_ok(approver, "approve_action", {"action_id": pending["action_id"], "reason": "checked"})
    assert done["status"] == "executed", done
    return done


async def books(client: Client, account_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The trial balance and the ledger of one account, as get_trial_balance and get_account_ledger show them."""
    return (await call_ok(client, "get_trial_balance", {}),
            await call_ok(client, "get_account_ledger", {"account_id": account_id, "limit": 100}))


# ---------------------------------------------------------------- over MCP


async def test_a_payroll_month_over_mcp_through_the_four_eyes_gate(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN_A), KeySpec(ADMIN_B, "admin"), KeySpec(AGENT, "payroll")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with clients(ADMIN_A) as admin_a, clients(ADMIN_B) as admin_b, clients(AGENT) as agent:
                await payroll_month(db, admin_a=admin_a, admin_b=admin_b, agent=agent)
                await hostile_formula_leaves_the_server_responsive(server, agent)
        assert await verify_audit(db) > 0


async def hostile_formula_leaves_the_server_responsive(server: HttpServer, agent: Client) -> None:
    """Issue 17: on 8be5377 `base * 1e10000000` kept the server's event loop busy for 13 s (/healthz waited that
    long) and was stored. /healthz is polled every 20 ms while the call runs; the call is refused naming the bound."""
    waits: list[float] = []
    calling = True

    async def poll() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            while calling or not waits:
                started = time.monotonic()
                assert (await http.get(f"{server.base_url}/healthz")).status_code == 200
                waits.append(time.monotonic() - started)
                await asyncio.sleep(0.02)

    polling = asyncio.create_task(poll())
    try:
        message = await call_error(agent, "create_salary_structure", {
            "code": "HOSTILE", "name": "Hostile", "currency": "AUD", "components": [
                {"code": "PF", "name": "PF", "kind": "deduction", "method": "formula",
                 "expression": "base * 1e10000000"}]})
    finally:
        calling = False
        await polling
    assert "the number 1e10000000 is too large" in message and "expression" in message, message
    assert max(waits) < 1.0, waits
    structures = (await call_ok(agent, "list_salary_structures", {"limit": 100}))["items"]
    assert "HOSTILE" not in [s["code"] for s in structures]


async def payroll_month(db: E2EDatabase, *, admin_a: Client, admin_b: Client, agent: Client) -> None:
    employees = await seed_staff(admin_a)

    # The agent creates the month's run and calculates it, waiting on the job.
    run = await call_ok(agent, "create_payroll_run", {"period": PERIOD, "pay_date": PAY_DATE, "currency": "AUD"})
    assert run["status"] == "draft" and run["employees"] == 0 and run["journal_entry_id"] is None, run
    run_id = run["run_id"]
    job = await call_ok(agent, "calculate_payroll_run", {"run_id": run_id, "wait_s": WAIT_S})
    assert job["kind"] == "calculate_payroll_run" and job["status"] == "succeeded", job
    assert job["attempts"] == 1 and job["result"]["payslips"] == 3 and job["result"]["skipped"] == [], job

    # The preview: totals of the three payslips, in minor units of AUD; no earlier month to compare with.
    calculated = await call_ok(agent, "get_payroll_run", {"run_id": run_id})
    assert calculated["status"] == "calculated" and calculated["employees"] == 3, calculated
    totals = {key: calculated[key] for key in ("gross_minor", "deductions_minor", "employer_contributions_minor",
                                               "net_minor")}
    assert calculated["preview"]["totals"] == {"employees": 3, **totals, "currency": "AUD"}
    assert job["result"]["totals"] == {**totals, "currency": "AUD"}
    assert calculated["preview"]["previous"] is None and calculated["preview"]["largest_changes"] == []
    slips = (await call_ok(agent, "list_payslips", {"run_id": run_id}))["items"]
    assert sorted(s["employee_id"] for s in slips) == sorted(e["id"] for e in employees)
    assert {s["status"] for s in slips} == {"draft"} and {s["period"] for s in slips} == {PERIOD}
    for key, total in totals.items():
        assert sum(s[key] for s in slips) == total, key
    assert totals["gross_minor"] > sum(BASES) and 0 < totals["net_minor"] < totals["gross_minor"]
    # Calculating posted nothing: the ledger is empty and has no payroll accounts yet.
    empty = await call_ok(agent, "get_trial_balance", {})
    assert empty["rows"] == [] and empty["balanced"] is True, empty

    # Approving: the agent's request waits at the gate; the agent cannot approve it (not an admin).
    approve = await request_and_queue(agent, "approve_payroll_run", run_id)
    assert approve["preview"]["totals"] == calculated["preview"]["totals"], approve["preview"]
    refused = await call_error(agent, "approve_action", {"action_id": approve["action_id"]})
    assert refused.startswith("error: permission_denied"), refused
    assert (await call_ok(agent, "get_payroll_run", {"run_id": run_id}))["status"] == "calculated"
    approved = await call_ok(admin_b, "approve_action", {"action_id": approve["action_id"],
                                                         "reason": "May payroll checked"})
    assert approved["status"] == "executed" and approved["decided_by"] == ADMIN_B, approved
    assert approved["result"]["status"] == "approved" and approved["result"]["journal_entry_id"] is None
    assert (await call_ok(agent, "get_trial_balance", {}))["rows"] == [], "approving posts nothing"

    # Posting: queued until an admin (here admin, any admin but the requester) approves it; then one entry.
    post = await request_and_queue(agent, "post_payroll_run", run_id)
    assert post["preview"]["totals"] == calculated["preview"]["totals"]
    assert (await call_ok(agent, "get_trial_balance", {}))["rows"] == [], "a queued posting posts nothing"
    posted_action = await call_ok(admin_a, "approve_action", {"action_id": post["action_id"]})
    assert posted_action["status"] == "executed" and posted_action["decided_by"] == ADMIN_A, posted_action
    posted = await call_ok(agent, "get_payroll_run", {"run_id": run_id})
    entry_id = posted["journal_entry_id"]
    assert posted["status"] == "posted" and entry_id is not None and posted["net_minor"] == totals["net_minor"]
    assert posted_action["result"]["journal_entry_id"] == entry_id
    slips = (await call_ok(agent, "list_payslips", {"run_id": run_id}))["items"]
    assert len(slips) == 3 and {s["status"] for s in slips} == {"done"}

    # The ledger shows the posting once: one credit of the net pay to 2100 Net pay payable, a balanced trial
    # balance whose salary expense is the gross pay, and one journal entry in the database.
    accounts = (await call_ok(agent, "list_accounts", {"query": "2100"}))["items"]
    assert [(a["code"], a["name"], a["currency"]) for a in accounts] == [("2100", "Net pay payable", "AUD")]
    net_payable = accounts[0]["id"]
    trial, ledger = await books(agent, net_payable)
    assert [(line["entry_id"], line["debit"], line["credit"], line["source"]) for line in ledger["items"]] == [
        (entry_id, 0, totals["net_minor"], f"payroll_run:{run_id}")]
    assert ledger["closing_balance"] == totals["net_minor"]
    by_code = {row["code"]: row for row in trial["rows"]}
    assert trial["balanced"] is True and by_code["2100"]["balance"] == totals["net_minor"]
    assert by_code["5100"]["debit_total"] == totals["gross_minor"]
    assert by_code["5150"]["debit_total"] == totals["employer_contributions_minor"]
    assert sum(by_code[code]["balance"] for code in LIABILITY_ACCOUNTS) == (
        totals["gross_minor"] + totals["employer_contributions_minor"])
    assert await rows(db.url, "SELECT id, source FROM journal_entries") == [(entry_id, f"payroll_run:{run_id}")]

    # A second confirmation or approval of the executed posting is refused and changes nothing; posting again
    # is refused at the proposal.
    for client, tool in ((agent, "confirm_action"), (admin_a, "approve_action"), (admin_b, "approve_action")):
        again = await call_error(client, tool, {"action_id": post["action_id"]})
        assert again.startswith("error: action_closed") and "is executed" in again, (tool, again)
    twice = await call_error(agent, "post_payroll_run", {"run_id": run_id})
    assert twice.startswith("error: conflict") and "is posted" in twice, twice
    assert await books(agent, net_payable) == (trial, ledger)
    assert await rows(db.url, "SELECT count(*) FROM journal_entries") == [(1,)]
    action = await call_ok(admin_b, "get_action", {"action_id": post["action_id"]})
    assert action["status"] == "executed" and action["decided_by"] == ADMIN_A, action
    assert await audit_events(db, post["action_id"]) == [("post_payroll_run", "proposed"),
                                                         ("post_payroll_run", "queued"),
                                                         ("post_payroll_run", "approved")]

    # Four eyes: an admin who requests the payment cannot approve it; another admin can.
    pay = await request_and_queue(admin_a, "mark_payroll_run_paid", run_id)
    own = await call_error(admin_a, "approve_action", {"action_id": pay["action_id"]})
    assert own.startswith("error: permission_denied") and "four-eyes" in own, own
    assert (await call_ok(agent, "get_payroll_run", {"run_id": run_id}))["status"] == "posted"
    assert await books(agent, net_payable) == (trial, ledger)
    paid = await call_ok(admin_b, "approve_action", {"action_id": pay["action_id"]})
    assert paid["status"] == "executed" and paid["result"]["status"] == "paid", paid
    _, cleared = await books(agent, net_payable)
    assert [(line["debit"], line["credit"]) for line in cleared["items"]] == [(0, totals["net_minor"]),
                                                                               (totals["net_minor"], 0)]
    assert cleared["closing_balance"] == 0 and cleared["items"][0]["entry_id"] == entry_id


# ---------------------------------------------------------------- a worker killed mid-calculation

EMPLOYEES = 3000  # enough for the calculation to report progress for a second or more before it writes
CALC_PERIOD, CALC_PAY_DATE = "2026-06", date(2026, 6, 26)
PROGRESS = re.compile(r"^(\d+) of (\d+) employees calculated$")


async def seed_many(url: str, *, employees: int, departments: int = 10) -> None:
    """Departments, `employees` employees and a contract each on the AU teachers' structure, written in-process
    with Core inserts (as bench/payroll.py does: thousands of tool calls would take minutes)."""
    runtime = Runtime.create(Settings(database_url=url))
    rng = random.Random(11)
    now = utcnow()
    base = {"version": 1, "created_at": now, "updated_at": now, "deleted_at": None}
    try:
        async with runtime.db.write() as session:
            await session.exec(insert(Department), params=[  # type: ignore[call-overload]
                {**base, "code": f"D{i:02d}", "name": f"Department {i}"} for i in range(departments)])
            department_ids = list((await session.exec(select(Department.id))).all())
            await session.exec(insert(Employee), params=[  # type: ignore[call-overload]
                {**base, "code": f"E{i:05d}", "first_name": "Staff", "last_name": f"Member {i}",
                 "work_email": f"staff{i}@school.example.org", "position": "Teacher",
                 "department_id": department_ids[i % departments], "hire_date": date(2020, 1, 6),
                 "employment_type": "full_time", "status": "active", "termination_date": None,
                 "termination_reason": None} for i in range(employees)])
            structure = await payroll.create_structure(session, SYSTEM_ACTOR, code="AU_TEACHERS",
                                                       name="Teachers (AU)", currency="AUD", components=STRUCTURE)
            staff = (await session.exec(select(Employee.id, Employee.department_id))).all()
            await session.exec(insert(EmploymentContract), params=[  # type: ignore[call-overload]
                {**base, "contract_number": f"C{i:06d}", "version_no": 1, "employee_id": employee_id,
                 "start_date": date(2026, 1, 1), "end_date": None, "effective_from": date(2026, 1, 1),
                 "pay_basis": "monthly", "base_minor": rng.randrange(450_000, 1_100_000, 100),
                 "hours_per_month_x100": None, "currency": "AUD", "salary_structure_id": structure.id,
                 "department_id": department_id, "filing_status": "scale_2", "superseded_at": None,
                 "reason": None} for i, (employee_id, department_id) in enumerate(staff)])
    finally:
        await runtime.close()


async def wait_until_calculating(client: Client, job_id: int, worker: subprocess.Popen, db: E2EDatabase,
                                 *, timeout: float = 60.0) -> str:
    """Poll get_job until the worker reports employees calculated but not all of them (so it is computing and
    has written nothing); return that progress message."""
    deadline = time.monotonic() + timeout
    while True:
        job = await call_ok(client, "get_job", {"job_id": job_id})
        match = PROGRESS.match(job["progress_message"] or "")
        if job["status"] == "running" and match and int(match[1]) < int(match[2]):
            return job["progress_message"]
        assert job["status"] in ("queued", "running") and not (job["progress_message"] or "").startswith(
            "writing"), f"the calculation went past its computing phase before it was caught: {job}"
        assert time.monotonic() < deadline, (job, worker_log(db, "worker-1.log"))
        assert worker.poll() is None, worker_log(db, "worker-1.log")
        await asyncio.sleep(0.02)


async def test_killing_the_worker_mid_calculation_writes_each_payslip_once(tmp_path, redis_queue):  # noqa: F811
    async with e2e_database(tmp_path) as db:
        # Heartbeats every second: a killed worker's job is orphaned after 3 s instead of 30. A fresh worker's
        # first job blocks its event loop about that long while get_handler imports every handler module, so the
        # restarted worker may hand its own live job back to arq (workers/execute.py) and fail this test.
        db.extra_env.update(MCS_ERP_REDIS_URL=REDIS_URL, MCS_ERP_QUEUE_NAME=redis_queue,
                            MCS_ERP_JOB_HEARTBEAT_SECONDS="1")
        await init_database(db)
        await seed_many(db.url, employees=EMPLOYEES)
        keys = await create_keys(db, [KeySpec(ADMIN_B, "admin"), KeySpec(AGENT, "payroll")])
        first = spawn_worker(db, burst=False, log_name="worker-1.log")
        second: subprocess.Popen | None = None
        try:
            async with http_server(db) as server:
                clients = http_clients(server, keys)
                async with clients(AGENT) as agent, clients(ADMIN_B) as admin_b:
                    run = await call_ok(agent, "create_payroll_run", {"period": CALC_PERIOD,
                                                                      "pay_date": CALC_PAY_DATE.isoformat(),
                                                                      "currency": "AUD"})
                    run_id = run["run_id"]
                    job = await call_ok(agent, "calculate_payroll_run", {"run_id": run_id})
                    assert job["status"] in ("queued", "running"), job
                    job_id = job["job_id"]
                    caught = await wait_until_calculating(agent, job_id, first, db)
                    first.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(first.wait, 30)

                    # The dead worker left the job running and wrote nothing.
                    assert await rows(db.url, "SELECT status, attempts FROM jobs WHERE id = :j", j=job_id) == [
                        ("running", 1)], caught
                    assert await rows(db.url, "SELECT count(*) FROM payslips") == [(0,)], caught
                    assert await rows(db.url, "SELECT status FROM payroll_runs WHERE id = :r", r=run_id) == [
                        ("draft",)]

                    second = spawn_worker(db, burst=True, log_name="worker-2.log")
                    code = await asyncio.to_thread(second.wait, 90)
                    assert code == 0, worker_log(db, "worker-2.log")
                    done = await call_ok(agent, "get_job", {"job_id": job_id})
                    assert done["status"] == "succeeded" and done["attempts"] == 2, (done,
                                                                                     worker_log(db, "worker-2.log"))
                    assert done["result"]["payslips"] == EMPLOYEES and done["result"]["skipped"] == []

                    # Exactly one payslip per employee, each with its lines; one calculation audited; no ledger.
                    assert await rows(db.url, "SELECT count(*), count(DISTINCT employee_id) FROM payslips "
                                              "WHERE run_id = :r", r=run_id) == [(EMPLOYEES, EMPLOYEES)]
                    assert await rows(db.url, "SELECT count(*) FROM payslips") == [(EMPLOYEES,)]
                    assert await rows(db.url, "SELECT count(DISTINCT payslip_id) FROM payslip_lines") == [
                        (EMPLOYEES,)]
                    assert await rows(db.url, "SELECT count(*) FROM payslip_lines WHERE payslip_id NOT IN "
                                              "(SELECT id FROM payslips)") == [(0,)]
                    assert await rows(db.url, "SELECT count(*) FROM audit_log WHERE tool = 'calculate_payroll_run'"
                                              " AND event = 'calculated'") == [(1,)]
                    assert await rows(db.url, "SELECT count(*) FROM journal_entries") == [(0,)]
                    assert await rows(db.url, "SELECT status, employees, journal_entry_id FROM payroll_runs "
                                              "WHERE id = :r", r=run_id) == [("calculated", EMPLOYEES, None)]
                    calculated = await call_ok(agent, "get_payroll_run", {"run_id": run_id})
                    assert calculated["preview"]["totals"]["employees"] == EMPLOYEES
                    assert calculated["net_minor"] == done["result"]["totals"]["net_minor"]
                    assert await rows(db.url, "SELECT sum(net_minor) FROM payslips") == [(calculated["net_minor"],)]

                    # Until posting: approved, still nothing in the ledger; posted, one balanced entry.
                    await through_the_gate(agent, admin_b, "approve_payroll_run", run_id)
                    assert await rows(db.url, "SELECT count(*) FROM journal_entries") == [(0,)]
                    await through_the_gate(agent, admin_b, "post_payroll_run", run_id)
                    posted = await call_ok(agent, "get_payroll_run", {"run_id": run_id})
                    assert posted["status"] == "posted"
                    assert await rows(db.url, "SELECT id FROM journal_entries") == [(posted["journal_entry_id"],)]
                    trial = await call_ok(agent, "get_trial_balance", {})
                    by_code = {row["code"]: row for row in trial["rows"]}
                    assert trial["balanced"] and by_code["2100"]["balance"] == posted["net_minor"]
        finally:
            for w in (first, second):
                if w is not None and w.poll() is None:
                    w.kill()
                    w.wait()
