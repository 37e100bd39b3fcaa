"""Load: concurrent MCP clients over Streamable HTTP against PostgreSQL with two job workers; nothing lost.

Creates a fresh PostgreSQL database (dropped afterwards), builds the demo school in it (`mcs-erp demo
--no-serve`: 600 students, 24 sections, 483 families with a term of invoices), starts the deployment of
compose.yaml natively (`mcs-erp serve --http 127.0.0.1:PORT --workers 2` and two `mcs-erp worker` processes
on a queue of their own), creates API keys with `mcs-erp keys create` and runs --clients concurrent clients of
the official MCP SDK (Streamable HTTP, a session each) for --seconds. A third of the clients act as the
registrar, a third as the bursar, a third as an admin. The same clients (the same sessions) run two phases of
--seconds each, one after the other:
1. read-only: get_student only, on students drawn from the whole school: the same-run baseline;
2. mixed, each client with a mix of:
- reads: list_students, get_student, get_gradebook, list_invoices, get_family_account, get_receivables_aging,
  get_trial_balance, list_jobs, get_job, get_me;
- writes: record_grade (on assessments the client created before the clock started), take_attendance (a
  past day's register of a section, each (section, day) by one client only), record_payment (a unique
  idempotency key), create_family;
- jobs: export_term_grades, run by the workers;
- deliberate bad input, refused by the server (a score above the maximum, a payment to a family that does not
  exist): counted as expected refusals, not errors.
Every call's latency and outcome is recorded. Afterwards (once the jobs ended) the database is read back with
SQL: every write the server said succeeded must be there as sent, and every write it refused must not be;
`lost` counts the mismatches. `errors` counts what no client should see: transport failures (a call unanswered
after --call-timeout included), HTTP errors, internal errors, refusals of valid requests, failed jobs.

During each phase a sampler reads pg_stat_activity and pg_locks every second: the backends waiting on a lock,
grouped by the relation and the waiting statement's prefix (a row lock's wait is on the holder's transaction id;
its relation comes from the tuple lock the waiter holds), and the other busy backends by state and wait event.
The top waits are printed: they name what writers queue on.

Each phase's CPU is read from /proc at its start and end (CpuMeter): the server's processes, the job workers, the
database's backends and this process (the clients), in milliseconds per call of the phase (`cpu_ms_per_call`).
All of them share this machine's cores, so the read-only CPU per call over the mixed phase's
(`cpu_per_call_ratio_vs_reads`) is the calls/s ratio this run alone would approach: a figure that holds still
when neighbours load a shared machine, and that names the part (server, workers, database, clients) to cut.

Prints p50/p95/p99 (ms), calls per second, CPU per call, the lock waits, errors by kind, then, last, one line
holding a JSON object of the figures, with `calls_per_s_ratio_vs_reads` (mixed calls/s over read-only calls/s;
target at least 0.6) and `write_p95_ratio_vs_reads` (the mixed phase's valid writes' p95 over the read-only p95;
target at most 3), `errors` and `lost` (targets 0). Every call is bounded (--call-timeout), every other wait
too, and the run has an overall deadline (--deadline); a run that overstays one prints what it was waiting for
and exits 1.
Servers and workers log to files in the run's temporary directory, never to an unread pipe.

The clients run in this process on the same machine as the server, workers and PostgreSQL, so their own CPU
(the SDK validates every result against the tool's output schema) is part of the latencies.

Usage: uv run python bench/load.py [--clients 50] [--seconds 60] [--call-timeout 60] [--deadline S]
       [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/test] [--redis-url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mcp_latency import descendants, process_cpu_s  # noqa: E402  (the /proc readers CpuMeter uses)

MCS_ERP = Path(sys.executable).parent / "mcs-erp"
CALL_TIMEOUT_S = 60.0  # one tool call's bound (--call-timeout)
JOBS_DRAIN_S = 180.0  # how long the jobs started during the run may take to end afterwards
CLI_TIMEOUT_S = 300.0  # one `mcs-erp` command (the demo build, a key)
READY_TIMEOUT_S = 120.0  # the server and workers to start
SETUP_TIMEOUT_S = 300.0  # every client's session open and its assessments created
SAMPLE_TIMEOUT_S = 5.0  # one lock-wait sample
ASSESSMENTS_PER_CLIENT = 3
ACADEMIC_TOOLS = ("list_students", "get_gradebook", "record_grade", "take_attendance", "export_term_grades",
                  "create_assessment")
FEES_TOOLS = ("list_invoices", "get_family_account", "get_receivables_aging", "get_trial_balance", "record_payment",
              "create_family")
COMMON_TOOLS = ("get_student", "list_jobs", "get_job", "get_me")
LOAD_TOOLS = {"registrar": ACADEMIC_TOOLS + COMMON_TOOLS, "bursar": FEES_TOOLS + COMMON_TOOLS,
              "admin": ACADEMIC_TOOLS + FEES_TOOLS + COMMON_TOOLS}  # what each role's clients call
EXPECTED_REFUSALS = ("invalid_input", "not_found")  # what the deliberate bad calls must be answered with


# ---------------------------------------------------------------- what happened


@dataclass
class Write:
    """A write the server answered: what identifies it, and whether it said it succeeded."""

    kind: str  # grade, attendance, payment, family, job
    key: Any
    expected: Any = None  # what the database must hold for it (score, statuses, amount)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    by_tool_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)  # kind -> count
    error_samples: dict[str, str] = field(default_factory=dict)
    refusals: Counter = field(default_factory=Counter)
    succeeded: list[Write] = field(default_factory=list)
    failed: list[Write] = field(default_factory=list)
    unknown: int = 0  # writes whose answer never came (a transport error): neither told succeeded nor failed
    sessions: int = 0
    write_ms: list[float] = field(default_factory=list)  # valid writes' latencies (deliberate bad input excluded)

    def error(self, kind: str, sample: str) -> None:
        self.errors[kind] += 1
        self.error_samples.setdefault(kind, sample[:400])


class TransportError(Exception):
    """The call got no MCP answer (connection, HTTP or timeout error); the session is opened again."""


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


# ---------------------------------------------------------------- the school as the clients see it


@dataclass
class School:
    term_id: int
    year_start: date
    sections: list[int]
    students_by_section: dict[int, list[int]]
    classes_by_section: dict[int, list[int]]
    family_ids: list[int]  # families with invoices
    student_ids: list[int]


async def read_school(engine: AsyncEngine) -> School:
    async with engine.connect() as conn:
        term_id, year_start = (await conn.execute(text(
            "SELECT t.id, y.start_date FROM terms t JOIN academic_years y ON y.id = t.academic_year_id "
            "WHERE t.number = 1 ORDER BY t.id LIMIT 1"))).one()
        sections = [r[0] for r in await conn.execute(text("SELECT id FROM sections ORDER BY id"))]
        students: dict[int, list[int]] = {s: [] for s in sections}
        for sid, section_id in await conn.execute(text(
                "SELECT id, section_id FROM students WHERE section_id IS NOT NULL ORDER BY id")):
            students[section_id].append(sid)
        classes: dict[int, list[int]] = {s: [] for s in sections}
        for cid, section_id in await conn.execute(text("SELECT id, section_id FROM classes ORDER BY id")):
            classes[section_id].append(cid)
        families = [r[0] for r in await conn.execute(text(
            "SELECT DISTINCT family_id FROM invoices ORDER BY family_id"))]
    return School(term_id=term_id, year_start=year_start, sections=sections, students_by_section=students,
                  classes_by_section=classes, family_ids=families,
                  student_ids=[s for ids in students.values() for s in ids])


# ---------------------------------------------------------------- one client


@asynccontextmanager
async def mcp_client(url: str, key: str, call_timeout: float = CALL_TIMEOUT_S) -> AsyncIterator[Client]:
    """An MCP SDK client on `url` over Streamable HTTP with the API key (as tests/server/e2e_helpers.py); every
    HTTP exchange and every request (initialisation included) is bounded by `call_timeout` seconds."""
    timeout = httpx2.Timeout(min(30.0, call_timeout), read=call_timeout)
    async with (httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=timeout) as http,
                Client(streamable_http_client(url, http_client=http), read_timeout_seconds=call_timeout) as c):
        yield c


class LoadClient:
    """One simulated user: a role, its own MCP session, its own writes (nothing another client writes)."""

    def __init__(self, index: int, role: str, *, clients: int, school: School, tally: Tally, run: str,
                 call_timeout: float = CALL_TIMEOUT_S):
        self.index, self.role, self.school, self.tally, self.run_id = index, role, school, tally, run
        self.call_timeout = call_timeout
        self.rng = random.Random(index)
        self.section = school.sections[index % len(school.sections)]
        self.sequence = 0
        self.attendance_days = 0
        self.day_stride = math.ceil(clients / len(school.sections))
        self.grade_slots: list[tuple[int, int, int]] = []  # (assessment, student, max score) not yet graded
        self.refusal_assessment: int | None = None
        self.jobs: list[int] = []

    def next_key(self, kind: str) -> str:
        self.sequence += 1
        return f"load-{self.run_id}-{kind}-{self.index}-{self.sequence}"

    async def call(self, client: Client, tool: str, args: dict[str, Any], *, refusal: bool = False
                   ) -> dict[str, Any] | None:
        """Call a tool, recording its latency; return its structured result, or None when it was refused.

        A refusal of a deliberate bad call (`refusal`) with an expected code is an expected refusal; any other
        error result is an error. A transport failure is an error and raises TransportError."""
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(client.call_tool(tool, args), self.call_timeout)
        except Exception as exc:  # TimeoutError included: no answer within the call's bound
            self.tally.error(f"transport:{type(exc).__name__}", f"{tool}: {exc!r}")
            raise TransportError(tool) from exc
        elapsed = (time.perf_counter() - started) * 1000
        self.tally.latencies_ms.append(elapsed)
        self.tally.by_tool_ms.setdefault(tool, []).append(elapsed)
        if not result.is_error:
            if not isinstance(result.structured_content, dict):
                self.tally.error(f"{tool}:no_structured_content", str(result.content)[:300])
                return None
            return result.structured_content
        message = result.content[0].text if result.content else ""
        match = re.match(r"error: (\w+)", message)
        code = match[1] if match else "unparsed"
        if refusal and code in EXPECTED_REFUSALS:
            self.tally.refusals[f"{tool}:{code}"] += 1
        else:
            self.tally.error(f"{tool}:{code}", message)
        return None

    async def write(self, client: Client, tool: str, args: dict[str, Any], write: Write, *,
                    refusal: bool = False) -> dict[str, Any] | None:
        """A write: remember it as told succeeded or told failed (unknown when no answer came)."""
        started = time.perf_counter()
        try:
            out = await self.call(client, tool, args, refusal=refusal)
        except TransportError:
            self.tally.unknown += 1
            raise
        if not refusal:
            self.tally.write_ms.append((time.perf_counter() - started) * 1000)
        (self.tally.succeeded if out is not None else self.tally.failed).append(write)
        if out is not None and refusal:
            self.tally.error(f"{tool}:accepted_bad_input", json.dumps(args)[:300])
        return out

    # ------------------------------------------------------------ setup (before the clock starts)

    async def list_tools(self, client: Client) -> None:
        """Fetch every page of the session's tool listing, so the SDK holds every output schema it validates
        results against (for a tool it has not seen it lists the tools again before each result)."""
        cursor, listed = None, set()
        for _ in range(100):
            page = await asyncio.wait_for(client.list_tools(cursor=cursor), self.call_timeout)
            listed |= {t.name for t in page.tools}
            cursor = page.next_cursor
            if cursor is None:
                break
        missing = sorted(set(LOAD_TOOLS[self.role]) - listed)
        assert not missing, f"tools/list?toolsets=all did not list {missing}"

    async def prepare(self, client: Client) -> None:
        """Registrars and admins: assessments of their own in a class of their section, with its students."""
        if self.role == "bursar" or self.grade_slots or self.refusal_assessment:
            return
        class_id = self.rng.choice(self.school.classes_by_section[self.section])
        students = (await self.call(client, "list_students", {"class_id": class_id, "limit": 100}) or {})["items"]
        for n in range(ASSESSMENTS_PER_CLIENT + 1):
            max_score = 10 if n == ASSESSMENTS_PER_CLIENT else self.rng.choice((20, 50, 100))
            made = await self.call(client, "create_assessment", {
                "class_id": class_id, "term_id": self.school.term_id, "max_score": max_score,
                "title": f"Load quiz {self.run_id} {self.index}.{n}", "weight": 10})
            assert made is not None, "could not create the load test's assessments"
            if n == ASSESSMENTS_PER_CLIENT:
                self.refusal_assessment = made["id"]
            else:
                self.grade_slots += [(made["id"], s["id"], max_score) for s in students]
        self.rng.shuffle(self.grade_slots)

    # ------------------------------------------------------------ operations

    async def read(self, client: Client) -> None:
        school, rng = self.school, self.rng
        academic = [
            ("list_students", lambda: {"section_id": rng.choice(school.sections), "limit": 50}, 4),
            ("get_student", lambda: {"student_id": rng.choice(school.student_ids)}, 4),
            ("get_gradebook", lambda: {"class_id": rng.choice(school.classes_by_section[self.section]),
                                       "term_id": school.term_id}, 1),
        ]
        fees = [
            ("list_invoices", lambda: {"family_id": rng.choice(school.family_ids)}, 3),
            ("get_family_account", lambda: {"family_id": rng.choice(school.family_ids)}, 3),
            ("get_receivables_aging", lambda: {"limit": 20}, 1),
            ("get_trial_balance", dict, 1),
        ]
        common = [
            ("list_jobs", lambda: {"limit": 20, "mine": True}, 1),
            ("get_me", dict, 1),
        ]
        menu = {"registrar": academic + common, "bursar": fees + common}.get(self.role, academic + fees + common)
        if self.jobs:
            menu = [*menu, ("get_job", lambda: {"job_id": rng.choice(self.jobs)}, 2)]
        tool, args, _ = rng.choices(menu, weights=[w for *_, w in menu])[0]
        await self.call(client, tool, args())

    async def record_grade(self, client: Client) -> bool:
        if not self.grade_slots:
            return False
        assessment_id, student_id, max_score = self.grade_slots.pop()
        score = round(self.rng.uniform(0, max_score), 2)
        await self.write(client, "record_grade", {"assessment_id": assessment_id, "student_id": student_id,
                                                  "score": score},
                         Write("grade", (assessment_id, student_id), round(score * 100)))
        return True

    async def bad_grade(self, client: Client) -> bool:
        if self.refusal_assessment is None:
            return False
        student_id = self.rng.choice(self.school.students_by_section[self.section])
        score = self.rng.randint(11, 40)  # the refusal assessment's maximum is 10
        await self.write(client, "record_grade", {"assessment_id": self.refusal_assessment,
                                                  "student_id": student_id, "score": score},
                         Write("grade", (self.refusal_assessment, student_id)), refusal=True)
        return True

    async def take_attendance(self, client: Client) -> bool:
        # (section, day) pairs are this client's alone: section index % sections, day by index // sections.
        offset = 1 + self.index // len(self.school.sections) + self.attendance_days * self.day_stride
        on_date = datetime.now(UTC).date() - timedelta(days=offset)
        if on_date < self.school.year_start:
            return False
        self.attendance_days += 1
        statuses = {s: self.rng.choices(("present", "absent", "late", "excused"), weights=(90, 5, 4, 1))[0]
                    for s in self.school.students_by_section[self.section]}
        await self.write(client, "take_attendance", {
            "section_id": self.section, "date": on_date.isoformat(),
            "entries": [{"student_id": s, "status": st} for s, st in statuses.items()]},
            Write("attendance", (self.section, on_date), statuses))
        return True

    async def record_payment(self, client: Client) -> bool:
        key = self.next_key("payment")
        family_id = self.rng.choice(self.school.family_ids)
        amount = self.rng.randrange(1_000, 20_000)
        await self.write(client, "record_payment", {
            "family_id": family_id, "amount_minor": amount, "method": "bank_transfer", "idempotency_key": key,
            "reference": key[-40:]}, Write("payment", key, (family_id, amount)))
        return True

    async def bad_payment(self, client: Client) -> bool:
        key = self.next_key("payment")
        await self.write(client, "record_payment", {
            "family_id": 2_000_000_000, "amount_minor": 5_000, "method": "cash", "idempotency_key": key},
            Write("payment", key), refusal=True)
        return True

    async def create_family(self, client: Client) -> bool:
        name = f"Load family {self.next_key('family')}"
        await self.write(client, "create_family", {"name": name, "billing_email": "load@example.org"},
                         Write("family", name))
        return True

    async def export_grades(self, client: Client) -> bool:
        key = self.next_key("export")
        out = await self.write(client, "export_term_grades", {
            "term_id": self.school.term_id, "section_id": self.section, "idempotency_key": key},
            Write("job", key))
        if out is not None:
            self.jobs.append(out["job_id"])
        return True

    async def step(self, client: Client) -> None:
        """One call: 70 % reads, 27 % writes, 1 % jobs, 2 % deliberate bad input."""
        draw = self.rng.random()
        if draw < 0.70:
            return await self.read(client)
        if self.role == "bursar" or (self.role == "admin" and self.rng.random() < 0.5):
            ops = [(self.record_payment, 3), (self.create_family, 1)]
            bad = self.bad_payment
        else:
            ops = [(self.record_grade, 3), (self.take_attendance, 1)]
            bad = self.bad_grade
        if draw < 0.97:
            op = self.rng.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
        elif draw < 0.98 and self.role != "bursar":
            op = self.export_grades
        else:
            op = bad
        if not await op(client):  # nothing left to write of that kind: a read instead
            await self.read(client)

    async def read_student(self, client: Client) -> None:
        """The read-only load's one call: get_student on a student drawn from the whole school."""
        await self.call(client, "get_student", {"student_id": self.rng.choice(self.school.student_ids)})

    async def run(self, url: str, key: str, *, plan: Plan) -> None:
        """Open a session, prepare, then take part in each phase of `plan` in turn; a session that breaks is
        opened again (its error counted), and a client whose sessions keep breaking before any phase ran gives
        up (so setup never waits for it for ever)."""
        prepared = False
        phase_at = 0
        failures = 0
        while phase_at < len(plan.phases):
            try:
                async with mcp_client(url, key, self.call_timeout) as client:
                    self.tally.sessions += 1
                    await self.list_tools(client)
                    if not prepared:
                        await self.prepare(client)
                        prepared = True
                        plan.client_ready()
                    while phase_at < len(plan.phases):
                        phase = plan.phases[phase_at]
                        await phase.start.wait()
                        self.tally = phase.tally
                        op = self.step if phase.mode == "mixed" else self.read_student
                        while time.perf_counter() < phase.stop_at:
                            await op(client)
                        phase.client_done()
                        phase_at += 1
                    return
            except Exception as exc:  # noqa: BLE001 - whatever broke the session is counted, then it reopens
                if not isinstance(exc, TransportError):
                    self.tally.error(f"session:{type(exc).__name__}", repr(exc))
                failures += 1
                if not prepared and failures >= 5:
                    plan.client_ready()  # counted as ready, so the others start; it sits the phases out
                    for phase in plan.phases[phase_at:]:
                        phase.client_done()
                    return
                while phase_at < len(plan.phases) and plan.phases[phase_at].start.is_set() and \
                        time.perf_counter() >= plan.phases[phase_at].stop_at:
                    plan.phases[phase_at].client_done()  # that phase ended while the session was broken
                    phase_at += 1


@dataclass
class Phase:
    """One timed phase of the run: every client calls `mode`'s operations from `start` until `stop_at`."""

    name: str
    mode: str  # "reads" (get_student only) or "mixed" (reads, writes, jobs, bad input)
    clients: int
    tally: Tally = field(default_factory=Tally)
    start: asyncio.Event = field(default_factory=asyncio.Event)
    stop_at: float = math.inf
    started: float = 0.0
    elapsed: float = 0.0
    done: int = 0
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    cpu: dict[str, float | None] = field(default_factory=dict)  # CPU seconds of each part (CpuMeter)

    def client_done(self) -> None:
        self.done += 1
        if self.done >= self.clients:
            self.all_done.set()


@dataclass
class Plan:
    """The run's phases, and the count of clients that have opened a session and prepared."""

    clients: int
    phases: list[Phase]
    prepared: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def client_ready(self) -> None:
        self.prepared += 1
        if self.prepared >= self.clients:
            self.ready.set()


# ---------------------------------------------------------------- checking the database


async def verify(engine: AsyncEngine, tally: Tally, run: str) -> tuple[int, list[str]]:
    """Return (lost, examples): writes told succeeded that are not in the database as sent, and writes told
    failed that are."""
    lost: list[str] = []
    async with engine.connect() as conn:
        grades = {(a, s): (score, status) for a, s, score, status in await conn.execute(text(
            "SELECT g.assessment_id, g.student_id, g.score_x100, g.status FROM grades g "
            "JOIN assessments a ON a.id = g.assessment_id WHERE a.title LIKE :t"), {"t": f"Load quiz {run} %"})}
        attendance: dict[tuple[int, date], dict[int, str]] = {}
        for section_id, on_date, student_id, status in await conn.execute(text(
                "SELECT section_id, on_date, student_id, status FROM attendance_records")):
            attendance.setdefault((section_id, on_date), {})[student_id] = status
        payments = {k: (f, a) for k, f, a in await conn.execute(text(
            "SELECT idempotency_key, family_id, amount FROM fee_payments WHERE idempotency_key LIKE :k"),
            {"k": f"load-{run}-%"})}
        families = {r[0] for r in await conn.execute(text("SELECT name FROM families WHERE name LIKE :n"),
                                                     {"n": f"Load family load-{run}-%"})}
        jobs = {r[0] for r in await conn.execute(text("SELECT idempotency_key FROM jobs WHERE idempotency_key "
                                                      "LIKE :k"), {"k": f"load-{run}-%"})}
    for write in tally.succeeded:
        if write.kind == "grade":
            held = grades.get(write.key)
            ok = held is not None and held[0] == write.expected and held[1] == "scored"
        elif write.kind == "attendance":
            ok = attendance.get(write.key) == write.expected
        elif write.kind == "payment":
            ok = payments.get(write.key) == write.expected
        elif write.kind == "family":
            ok = write.key in families
        else:
            ok = write.key in jobs
        if not ok:
            lost.append(f"told succeeded, not in the database as sent: {write.kind} {write.key}")
    for write in tally.failed:
        if write.kind == "grade":
            present = write.key in grades
        elif write.kind == "attendance":
            present = bool(attendance.get(write.key))
        elif write.kind == "payment":
            present = write.key in payments
        elif write.kind == "family":
            present = write.key in families
        else:
            present = write.key in jobs
        if present:
            lost.append(f"told failed, yet in the database: {write.kind} {write.key}")
    return len(lost), lost[:10]


async def drain_jobs(engine: AsyncEngine, run: str, timeout: float) -> dict[str, int]:
    """Wait until every job the run started has ended (or `timeout` passed); return the count per status."""
    deadline = time.monotonic() + timeout
    while True:
        async with engine.connect() as conn:
            counts = dict((await conn.execute(text(
                "SELECT status, count(*) FROM jobs WHERE idempotency_key LIKE :k GROUP BY status"),
                {"k": f"load-{run}-%"})).all())
        if not counts.get("queued") and not counts.get("running") or time.monotonic() > deadline:
            return {k: int(v) for k, v in counts.items()}
        await asyncio.sleep(0.5)


async def jobs_per_worker(engine: AsyncEngine, run: str) -> dict[str, int]:
    """How many of the run's jobs each process ran (`jobs.worker`: worker:HOST:PID or server:HOST:PID)."""
    async with engine.connect() as conn:
        return {str(w): int(n) for w, n in await conn.execute(text(
            "SELECT worker, count(*) FROM jobs WHERE idempotency_key LIKE :k GROUP BY worker ORDER BY worker"),
            {"k": f"load-{run}-%"})}


async def ledger_balanced(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        debit, credit = (await conn.execute(text(
            "SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0) FROM journal_lines"))).one()
    return debit == credit


# ---------------------------------------------------------------- the deployment


CPU_PARTS = ("server", "workers", "database", "clients")


class CpuMeter:
    """CPU seconds each part of the run spent during a phase, read from /proc at its start and end: the server's
    processes, the job workers' (their audit sequencer and the export jobs), the bench database's PostgreSQL
    backends (those alive at both ends: the pools keep theirs) and this process (the clients, whose SDK validates
    every result). Everything shares this machine's cores, so the read-only phase's CPU per call over the mixed
    phase's is the calls/s ratio a machine busy with this run alone approaches; unlike wall-clock figures it holds
    still when neighbours load the machine. A part that /proc cannot read is None."""

    def __init__(self, engine: AsyncEngine, server_pid: int, worker_pids: list[int]):
        self.engine, self.server_pid, self.worker_pids = engine, server_pid, worker_pids

    async def snapshot(self) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            backends = [r[0] for r in await conn.execute(text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"))]
        return {"server": [process_cpu_s(p) for p in (self.server_pid, *descendants(self.server_pid))],
                "workers": [process_cpu_s(p) for p in self.worker_pids],
                "database": {pid: process_cpu_s(pid) for pid in backends}, "clients": time.process_time()}

    async def bounded_snapshot(self) -> dict[str, Any] | None:
        """snapshot() within SAMPLE_TIMEOUT_S; None when it failed (the phase then reports no CPU, never fails)."""
        try:
            return await asyncio.wait_for(self.snapshot(), SAMPLE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a missed measurement is reported as missing
            return None

    @staticmethod
    def spent(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float | None]:
        def total(values: list[float | None]) -> float | None:
            return None if not values or values[0] is None else sum(v for v in values if v is not None)

        out: dict[str, float | None] = {}
        for part in ("server", "workers"):
            start, end = total(before[part]), total(after[part])
            out[part] = None if start is None or end is None else max(0.0, end - start)
        both = [(used, after["database"].get(pid)) for pid, used in before["database"].items()
                if used is not None and after["database"].get(pid) is not None]
        out["database"] = sum(later - used for used, later in both) if both else None
        out["clients"] = after["clients"] - before["clients"]
        return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Deployment:
    env: dict[str, str]
    workdir: Path
    processes: list[tuple[str, subprocess.Popen, Path]] = field(default_factory=list)

    def cli(self, *args: str) -> str:
        done = subprocess.run([str(MCS_ERP), *args], env=self.env, cwd=self.workdir, capture_output=True,
                              text=True, timeout=CLI_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise SystemExit(f"`mcs-erp {' '.join(args)}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([str(MCS_ERP), *args], env=self.env, cwd=self.workdir,
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append((name, process, log_path))
        return process

    def log(self, name: str) -> str:
        return next(p.read_text(errors="replace") for n, _, p in self.processes if n == name)

    def wait_ready(self, port: int, timeout: float = 120) -> None:
        """Until /healthz answers and each worker said it is ready (its identity, with its pid, in its log)."""
        host = socket.gethostname()[:80]
        deadline = time.monotonic() + timeout
        while True:
            dead = [(n, p.returncode) for n, p, _ in self.processes if p.poll() is not None]
            if dead:
                raise SystemExit(f"{dead[0][0]} exited with {dead[0][1]}:\n{self.log(dead[0][0])}")
            try:
                healthy = httpx2.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except httpx2.TransportError:
                healthy = False
            workers = [(n, p) for n, p, _ in self.processes if n.startswith("worker")]
            if healthy and all(f"worker:{host}:{p.pid}" in self.log(n) for n, p in workers):
                return
            if time.monotonic() > deadline:
                raise SystemExit("the deployment was not ready in time:\n" + "\n".join(
                    f"--- {n}:\n{self.log(n)[-2000:]}" for n, _, _ in self.processes))
            time.sleep(0.2)

    def stop(self) -> None:
        for _, process, _ in self.processes:
            if process.poll() is None:
                process.terminate()
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


class Progress:
    """What the run is waiting for now, printed when the overall deadline passes."""

    def __init__(self) -> None:
        self.waiting_for: str | Callable[[], str] = "the start"

    def now(self) -> str:
        return self.waiting_for() if callable(self.waiting_for) else self.waiting_for


# Backends of the bench's database waiting for a lock: what they wait on (a row lock shows as a wait on the holder's
# transaction id; the relation then comes from the tuple lock the waiter holds) and the statement that waits.
LOCK_WAITS_SQL = text(r"""
SELECT a.wait_event, coalesce(c.relname, tc.relname, l.locktype) AS target,
       left(regexp_replace(coalesce(a.query, ''), '\s+', ' ', 'g'), 100) AS query, count(DISTINCT a.pid)
FROM pg_stat_activity a
JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted
LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_locks t ON t.pid = a.pid AND t.granted AND t.locktype = 'tuple'
LEFT JOIN pg_class tc ON tc.oid = t.relation
WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
GROUP BY 1, 2, 3
""")
# Every other backend of the database by state and wait event (CPU when it waits on nothing): 'idle in
# transaction' is a transaction held open while its client (the server's Python) works.
BACKENDS_SQL = text("""
SELECT a.state || ' ' || coalesce(a.wait_event_type || ':' || a.wait_event, 'CPU'), count(*)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid() AND a.state <> 'idle'
  AND coalesce(a.wait_event_type, '') <> 'Lock'
GROUP BY 1
""")


class LockSampler:
    """Every second, the count of backends waiting on locks grouped by (wait event, relation, query prefix), and
    the other busy backends by state and wait event; each sample is bounded (`SAMPLE_TIMEOUT_S`)."""

    def __init__(self, engine: AsyncEngine, interval: float = 1.0):
        self.engine, self.interval = engine, interval
        self.waits: Counter = Counter()  # (wait_event, relation, query) -> backends summed over the samples
        self.backends: Counter = Counter()  # "state wait" -> backends summed over the samples
        self.samples = self.failed = self.peak = 0

    async def sample(self) -> None:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(LOCK_WAITS_SQL)).all()
            busy = (await conn.execute(BACKENDS_SQL)).all()
        self.samples += 1
        self.peak = max(self.peak, sum(int(n) for *_, n in rows))
        for wait, target, query, n in rows:
            self.waits[(wait, target, query)] += int(n)
        for state, n in busy:
            self.backends[state] += int(n)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(self.sample(), SAMPLE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - a missed sample is counted, never fatal to the bench
                self.failed += 1
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass

    def top(self, n: int = 8) -> list[dict[str, Any]]:
        """The `n` largest lock waits: mean backends waiting per sample, the wait event, relation and query."""
        per = max(1, self.samples)
        return [{"waiting": round(count / per, 2), "wait_event": wait, "relation": target, "query": query}
                for (wait, target, query), count in self.waits.most_common(n)]

    def busy(self, n: int = 6) -> dict[str, float]:
        per = max(1, self.samples)
        return {state: round(count / per, 2) for state, count in self.backends.most_common(n)}

    def waiting_mean(self) -> float:
        return round(sum(self.waits.values()) / max(1, self.samples), 2)


async def load(url: str, keys: dict[str, str], school: School, *, clients: int, seconds: float, run: str,
               call_timeout: float, engine: AsyncEngine, progress: Progress, meter: CpuMeter | None = None
               ) -> tuple[Tally, list[Phase], dict[str, LockSampler]]:
    """Open `clients` sessions, let each prepare, then run the read-only phase and the mixed phase for `seconds`
    each with the same clients, sampling lock waits in each; return the setup's tally, the phases, the samplers."""
    setup = Tally()
    roles = ("registrar", "bursar", "admin")
    users = [LoadClient(i, roles[i % 3], clients=clients, school=school, tally=setup, run=run,
                        call_timeout=call_timeout) for i in range(clients)]
    plan = Plan(clients, [Phase("read-only (get_student)", "reads", clients), Phase("mixed", "mixed", clients)])
    tasks = [asyncio.create_task(u.run(url, keys[u.role], plan=plan)) for u in users]
    samplers: dict[str, LockSampler] = {}
    try:
        progress.waiting_for = lambda: (f"{clients - plan.prepared} of {clients} clients to open a session and "
                                        "create their assessments")
        await asyncio.wait_for(plan.ready.wait(), SETUP_TIMEOUT_S)
        for phase in plan.phases:
            sampler = samplers[phase.mode] = LockSampler(engine)
            stop = asyncio.Event()
            sampling = asyncio.create_task(sampler.run(stop))
            cpu_before = None if meter is None else await meter.bounded_snapshot()
            phase.started = time.perf_counter()
            phase.stop_at = phase.started + seconds
            phase.start.set()
            progress.waiting_for = lambda phase=phase: (  # type: ignore[misc]
                f"{clients - phase.done} of {clients} clients to end the {phase.name} phase")
            try:
                await asyncio.wait_for(phase.all_done.wait(), seconds + 2 * call_timeout + 30)
            finally:
                phase.elapsed = time.perf_counter() - phase.started
                cpu_after = None if meter is None or cpu_before is None else await meter.bounded_snapshot()
                if cpu_before is not None and cpu_after is not None:
                    phase.cpu = CpuMeter.spent(cpu_before, cpu_after)
                stop.set()
                await asyncio.wait_for(sampling, SAMPLE_TIMEOUT_S + 2)
        progress.waiting_for = "the clients to close their sessions"
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return setup, plan.phases, samplers


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60, help="the length of each phase (read-only, mixed)")
    parser.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT_S,
                        help="seconds a client waits for one answer before counting a transport error")
    parser.add_argument("--deadline", type=float, default=None,
                        help="seconds the whole run may take (default: setup, both phases and the jobs' drain)")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server URL; a fresh database is created on it and dropped after")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    if not 1 <= args.clients <= 500 or not 1 <= args.seconds <= 3600 or not 1 <= args.call_timeout <= 600:
        parser.error("--clients must be 1..500, --seconds 1..3600 and --call-timeout 1..600")
    deadline = args.deadline or (CLI_TIMEOUT_S * 3 + READY_TIMEOUT_S + SETUP_TIMEOUT_S + 2 * args.seconds
                                 + 4 * args.call_timeout + JOBS_DRAIN_S + 180)
    progress = Progress()
    try:
        return await asyncio.wait_for(bench(args, progress), deadline)
    except TimeoutError:
        print(f"load: stopped after its deadline ({deadline:.0f} s) or a bounded wait ran out, while waiting for "
              f"{progress.now()}", flush=True)
        return 1


async def bench(args: argparse.Namespace, progress: Progress) -> int:
    run = uuid.uuid4().hex[:8]
    name = f"mcs_bench_load_{run}"
    queue = f"mcs-erp-load:{run}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    progress.waiting_for = f"PostgreSQL at {args.pg_url} to create the database"
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    engine = create_async_engine(url, connect_args={"timeout": 30, "command_timeout": 120})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCS_ERP_")}
    env.update(MCS_ERP_DATABASE_URL=url, MCS_ERP_REDIS_URL=args.redis_url, MCS_ERP_QUEUE_NAME=queue,
               PYTHONUNBUFFERED="1")
    with tempfile.TemporaryDirectory() as tmp:
        deployment = Deployment(env=env, workdir=Path(tmp))
        try:
            progress.waiting_for = "`mcs-erp demo --no-serve` to build the demo school"
            built = await asyncio.to_thread(deployment.cli, "demo", "--no-serve")
            keys = {"admin": re.search(r"API key \(admin\): (\S+)", built)[1]}  # type: ignore[index]
            # The demo's bursar (finance) may not read students; the load's bursar is a user of its own with the
            # viewer role too, so the read-only phase's get_student is allowed to every client.
            for role, user, extra in (("registrar", "registrar", ()), ("bursar", "load-bursar",
                                                                       ("--roles", "finance,viewer"))):
                progress.waiting_for = f"`mcs-erp keys create --user {user}`"
                made = await asyncio.to_thread(deployment.cli, "keys", "create", "--user", user, *extra)
                keys[role] = next(line.strip() for line in made.splitlines() if line.strip().startswith("mcs_"))
            server = deployment.spawn("server", "serve", "--http", f"127.0.0.1:{port}", "--workers", "2")
            workers = [deployment.spawn("worker-1", "worker"), deployment.spawn("worker-2", "worker")]
            progress.waiting_for = "the server's /healthz and both workers' ready lines (see their logs)"
            await asyncio.to_thread(deployment.wait_ready, port, READY_TIMEOUT_S)
            school = await read_school(engine)
            setup, phases, samplers = await load(
                f"http://127.0.0.1:{port}/mcp?toolsets=all", keys, school, clients=args.clients, seconds=args.seconds,
                run=run, call_timeout=args.call_timeout, engine=engine, progress=progress,
                meter=CpuMeter(engine, server.pid, [w.pid for w in workers]))
            reads, mixed = phases
            tally = mixed.tally
            progress.waiting_for = f"the run's export jobs to end (at most {JOBS_DRAIN_S:.0f} s)"
            job_counts = await drain_jobs(engine, run, JOBS_DRAIN_S)
            for status in ("queued", "running", "failed", "cancelled"):
                if job_counts.get(status):
                    tally.error(f"job_{status}", f"{job_counts[status]} export jobs ended {status}")
            progress.waiting_for = "the database to be read back"
            lost, lost_examples = await verify(engine, tally, run)
            balanced = await ledger_balanced(engine)
            jobs_by_worker = await jobs_per_worker(engine, run)
        finally:  # (progress keeps what the run was waiting for: a deadline's message names it, not this)
            await asyncio.to_thread(deployment.stop)
            await engine.dispose()
            try:
                async with admin.connect() as conn:
                    await asyncio.wait_for(conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'),
                                           60)
            finally:
                await admin.dispose()
                redis = Redis.from_url(args.redis_url, socket_timeout=10, socket_connect_timeout=10)
                try:
                    stale = [k async for k in redis.scan_iter(match=f"*{queue}*")]
                    if stale:
                        await redis.delete(*stale)
                finally:
                    await redis.aclose()

    report(args, setup, reads, mixed, samplers, lost=lost, lost_examples=lost_examples, job_counts=job_counts,
           balanced=balanced, jobs_by_worker=jobs_by_worker)
    return 0


def cpu_per_call(phase: Phase, calls: int) -> dict[str, float | None]:
    """The phase's CPU milliseconds per call of each part (CpuMeter) and their total; {} when not measured."""
    if not phase.cpu or not calls:
        return {}
    out: dict[str, float | None] = {part: None if phase.cpu.get(part) is None else
                                    round(phase.cpu[part] * 1000 / calls, 2) for part in CPU_PARTS}
    out["total"] = round(sum(v for v in out.values() if v is not None), 2)
    return out


def cpu_ratio(reads: Phase, read_calls: int, mixed: Phase, calls: int) -> float | None:
    """Read-only CPU per call over the mixed phase's (all parts measured in both), or None."""
    read_cpu, mixed_cpu = cpu_per_call(reads, read_calls), cpu_per_call(mixed, calls)
    if not read_cpu or not mixed_cpu or None in read_cpu.values() or None in mixed_cpu.values():
        return None
    return round(read_cpu["total"] / mixed_cpu["total"], 3) if mixed_cpu["total"] else None


def report(args: argparse.Namespace, setup: Tally, reads: Phase, mixed: Phase, samplers: dict[str, LockSampler],
           *, lost: int, lost_examples: list[str], job_counts: dict[str, int], balanced: bool,
           jobs_by_worker: dict[str, int]) -> None:
    """Print the figures, the top lock waits, the errors, then the JSON line."""
    tally, elapsed = mixed.tally, mixed.elapsed
    calls = len(tally.latencies_ms)
    read_calls = len(reads.tally.latencies_ms)
    read_cps = read_calls / reads.elapsed if reads.elapsed else 0.0
    mixed_cps = calls / elapsed if elapsed else 0.0
    read_p95 = percentile(reads.tally.latencies_ms, 95)
    write_p95 = percentile(tally.write_ms, 95)
    errors = Counter()
    samples: dict[str, str] = {}
    for part in (setup, reads.tally, tally):
        errors.update(part.errors)
        for kind, sample in part.error_samples.items():
            samples.setdefault(kind, sample)
    by_kind = {tool: (len(v), round(percentile(v, 50), 1), round(percentile(v, 95), 1))
               for tool, v in sorted(tally.by_tool_ms.items())}
    waits = samplers["mixed"]
    figures = {
        "clients": args.clients, "seconds": round(elapsed, 1), "calls": calls,
        "calls_per_s": round(mixed_cps, 1),
        "p50_ms": round(percentile(tally.latencies_ms, 50), 1), "p95_ms": round(percentile(tally.latencies_ms, 95), 1),
        "p99_ms": round(percentile(tally.latencies_ms, 99), 1),
        "write_p50_ms": round(percentile(tally.write_ms, 50), 1), "write_p95_ms": round(write_p95, 1),
        "read_only_calls_per_s": round(read_cps, 1), "read_only_p50_ms": round(percentile(reads.tally.latencies_ms,
                                                                                          50), 1),
        "read_only_p95_ms": round(read_p95, 1),
        "calls_per_s_ratio_vs_reads": round(mixed_cps / read_cps, 3) if read_cps else None,
        "write_p95_ratio_vs_reads": round(write_p95 / read_p95, 3) if read_p95 else None,
        "errors": sum(errors.values()), "errors_by_kind": dict(errors),
        "expected_refusals": sum(tally.refusals.values()),
        "writes_succeeded": len(tally.succeeded), "writes_refused": len(tally.failed), "writes_unknown": tally.unknown,
        "lost": lost, "jobs": job_counts, "jobs_by_worker": jobs_by_worker, "ledger_balanced": balanced,
        "server_workers": 2, "job_workers": 2,
        "cpu_ms_per_call": {"read_only": cpu_per_call(reads, read_calls), "mixed": cpu_per_call(mixed, calls)},
        "cpu_per_call_ratio_vs_reads": cpu_ratio(reads, read_calls, mixed, calls),
        "lock_waiting_mean": waits.waiting_mean(), "lock_waiting_peak": waits.peak,
        "lock_waits_top": [{k: w[k] for k in ("waiting", "relation", "query")} for w in waits.top(3)],
    }
    print(f"{args.clients} MCP clients (SDK, Streamable HTTP) against PostgreSQL, server --workers 2, two "
          "`mcs-erp worker` processes; the same clients ran both phases")
    print(f"read-only phase (get_student only): {read_calls} calls in {reads.elapsed:.1f} s = {read_cps:.1f} "
          f"calls/s; p50 {figures['read_only_p50_ms']} ms, p95 {figures['read_only_p95_ms']} ms")
    print(f"mixed phase: {calls} calls in {elapsed:.1f} s = {figures['calls_per_s']} calls/s; latency p50 "
          f"{figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, p99 {figures['p99_ms']} ms; writes p50 "
          f"{figures['write_p50_ms']} ms, p95 {figures['write_p95_ms']} ms")
    print(f"mixed vs read-only: calls/s x{figures['calls_per_s_ratio_vs_reads']} (target >= 0.6), write p95 "
          f"x{figures['write_p95_ratio_vs_reads']} the read-only p95 (target <= 3)")
    for label, phase_cpu in figures["cpu_ms_per_call"].items():
        shown = ", ".join(f"{part} {ms}" for part, ms in phase_cpu.items()) or "not measured"
        print(f"CPU ms per call, {label} phase: {shown}")
    print(f"CPU per call, read-only over mixed: x{figures['cpu_per_call_ratio_vs_reads']} (the calls/s ratio this "
          "run alone on these cores would approach)")
    print(f"{'tool':28} {'calls':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for tool, (n, p50, p95) in by_kind.items():
        print(f"{tool:28} {n:6d} {p50:8.1f} {p95:8.1f}")
    for mode, sampler in samplers.items():
        print(f"lock waits in the {mode} phase ({sampler.samples} samples, {sampler.failed} missed): mean "
              f"{sampler.waiting_mean()} backends waiting, peak {sampler.peak}")
        for w in sampler.top():
            print(f"  {w['waiting']:6.2f}  {w['wait_event']:14} {w['relation']:24} {w['query']}")
        print(f"  other busy backends (mean per sample): {sampler.busy()}")
    print(f"writes: {len(tally.succeeded)} told succeeded, {len(tally.failed)} told failed, "
          f"{tally.unknown} unanswered; lost {lost}; ledger balanced: {balanced}")
    for example in lost_examples:
        print(f"  lost: {example}")
    print(f"export jobs: {job_counts}; by the process that ran them (jobs.worker): {jobs_by_worker}")
    print(f"expected refusals: {dict(tally.refusals)}")
    print(f"errors: {figures['errors']}")
    for kind, count in errors.most_common():
        print(f"  {kind}: {count}  e.g. {samples.get(kind, '')[:300]}")
    print(json.dumps(figures))


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
