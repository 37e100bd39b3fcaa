"""Stateful property test of the confirmation gate across contexts (issue 15's acceptance).

Random sequences of tool calls (at least 1,000 in all: EXAMPLES x STEPS) by random actors (two teachers, the
registrar, the bursar, the payroll officer, two admins, a viewer) mix gated commands of academics, the ledger,
fees and payroll, the confirmations, approvals, rejections and cancellations that decide them, and the ungated
writes that feed them. Every step is checked against the database itself: a fingerprint of every table (but the
audit log, checked by its own tests) before and after the call gives the rows it inserted, changed and removed.

After every step:
- a call that failed wrote nothing (at most it closed the action it decided as stale, failed or expired);
- a gated call wrote nothing but its pending action; a confirmation of an approve-level action wrote nothing but
  the queueing: nothing gated has an effect before its confirmation, nothing approve-level before an admin who
  is not the requester approves it;
- an executed action wrote exactly its approved plan (the plan stored with the action is re-derived into the
  rows it must have inserted, changed and removed, ledger entries included), and nothing else;
- an action whose rows (the ones it changes or read as its basis) were changed by another write after its
  preview is never executed: it is stale (or fails), and nothing of it is written.

Runs on its own database of the selected backend (SQLite or PostgreSQL), so it sees every row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select
from sqlmodel import SQLModel

from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.leave.rules import to_x100
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel import crypto
from domain.kernel.errors import DomainError
from domain.kernel.plan import canonical_value
from domain.payroll.service import LEAVE_MOVEMENTS, LEAVE_REVERSAL
from tests.conftest import own_runtime
from tests.factories import make_school, make_user, unique
from tests.fees_helpers import make_fee_school
from tools.invoke import invoke
from tools.runtime import Runtime

EXAMPLES = int(__import__("os").environ.get("MCS_ERP_STATEFUL_EXAMPLES", "8"))
STEPS = 125  # 8 x 125 = 1,000 tool calls per backend
IGNORED_TABLES = {"audit_log", "audit_tree", "alembic_version"}
BOOKKEEPING = "pending_actions"
DATA_KEYS = f"gs:{crypto.generate_key()}"
KEYRING = crypto.Keyring(crypto.parse_keys(DATA_KEYS, source="test"), source="test")


@pytest.fixture(scope="module")
async def srt(tmp_path_factory) -> AsyncIterator[Runtime]:
    # A data key of its own: PostgreSQL has no key file beside the database, and set_employee_payment_details
    # encrypts bank accounts (domain.kernel.crypto).
    async with own_runtime(tmp_path_factory, "gate-stateful", in_process_jobs=True,
                           data_keys=SecretStr(DATA_KEYS)) as runtime:
        await watch_changes(runtime)
        yield runtime


# ---------------------------------------------------------------- the database as rows


Key = tuple[str, Any]


def watched() -> list:
    """The tables a fingerprint holds (read at call time: contexts register their models when a runtime starts)."""
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in IGNORED_TABLES]


Tables = dict[str, dict[Key, dict[str, Any]]]
"""A fingerprint: each table's rows by (table, primary key), as canonical JSON values."""


async def watch_changes(rt: Runtime) -> None:
    """Count every write to every watched table, with triggers of the database itself, so a fingerprint re-reads
    only the tables written since the last one (reading all 58 tables at every step was most of this test's
    time). A trigger fires on every INSERT, UPDATE and DELETE whoever runs it, so an unread table is unchanged.
    SQLite counts in a table (its writes are serial, and a rolled-back write rolls its count back); PostgreSQL
    in one sequence per table (statement triggers; a sequence is outside transactions, so counting adds no lock
    or serialization conflict to the writes under test, and a rolled-back write only causes a needless read)."""
    async with rt.db.write_engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("CREATE TABLE fp_changes (name TEXT PRIMARY KEY, n INTEGER NOT NULL)")
            for table in watched():
                for op in ("INSERT", "UPDATE", "DELETE"):
                    await conn.exec_driver_sql(
                        f'CREATE TRIGGER "fp_{table.name}_{op}" AFTER {op} ON "{table.name}" BEGIN '
                        f"INSERT INTO fp_changes (name, n) VALUES ('{table.name}', 1) "
                        "ON CONFLICT (name) DO UPDATE SET n = n + 1; END")
            return
        for table in watched():
            await conn.exec_driver_sql(f'CREATE SEQUENCE "fp_{table.name}"')
            await conn.exec_driver_sql(
                f'CREATE FUNCTION "fp_{table.name}"() RETURNS trigger LANGUAGE plpgsql AS '
                f"$$ BEGIN PERFORM nextval('\"fp_{table.name}\"'); RETURN NULL; END $$")
            await conn.exec_driver_sql(
                f'CREATE TRIGGER "fp_{table.name}" AFTER INSERT OR UPDATE OR DELETE ON "{table.name}" '
                f'FOR EACH STATEMENT EXECUTE FUNCTION "fp_{table.name}"()')


async def _write_counts(conn) -> dict[str, int]:
    if conn.dialect.name == "sqlite":
        return dict((await conn.exec_driver_sql("SELECT name, n FROM fp_changes")).all())
    # named with its schema (the default tenant's), whatever the read connection's search_path is
    union = " UNION ALL ".join(f"SELECT '{t.name}', last_value + CASE WHEN is_called THEN 1 ELSE 0 END "
                               f'FROM public."fp_{t.name}"' for t in watched())
    return dict((await conn.exec_driver_sql(union)).all())


_SEEN: dict[int, tuple[dict[str, int], Tables]] = {}


async def fingerprint(rt: Runtime) -> Tables:
    """Every row of every table but the audit log, as canonical JSON values. Tables not written since the last
    fingerprint of `rt` are the last one's (the same dict objects), the others are read again."""
    counts, tables = _SEEN.get(id(rt), ({}, {}))
    out: Tables = {}
    async with rt.db.read() as s:
        conn = await s.connection()
        now = await _write_counts(conn)
        for table in watched():
            if table.name in tables and now.get(table.name) == counts.get(table.name):
                out[table.name] = tables[table.name]
                continue
            pk = [c.name for c in table.primary_key.columns]
            rows: dict[Key, dict[str, Any]] = {}
            for row in (await conn.execute(select(table))).mappings():
                values = {k: canonical_value(v) for k, v in row.items()}
                rows[(table.name, tuple(values[c] for c in pk) if len(pk) != 1 else values[pk[0]])] = values
            out[table.name] = rows
    _SEEN[id(rt)] = (now, out)
    return out


@dataclass
class Diff:
    added: dict[Key, dict[str, Any]]
    changed: dict[Key, tuple[dict[str, Any], dict[str, Any]]]
    removed: dict[Key, dict[str, Any]]
    before: Tables = field(default_factory=dict)  # the fingerprint before the call (rows an effect reads)

    def keys(self) -> set[Key]:
        return set(self.added) | set(self.changed) | set(self.removed)

    def outside(self, *tables: str) -> set[Key]:
        return {k for k in self.keys() if k[0] not in tables}

    def show(self, keys: set[Key]) -> str:
        parts = []
        for k in sorted(keys, key=str)[:12]:
            if k in self.changed:
                a, b = self.changed[k]
                parts.append(f"{k} changed {[c for c in b if a.get(c) != b.get(c)]}")
            else:
                parts.append(f"{k} {'added' if k in self.added else 'removed'}")
        return "; ".join(parts)


def diff(before: Tables, after: Tables) -> Diff:
    d = Diff(added={}, changed={}, removed={}, before=before)
    for name, now in after.items():
        was = before.get(name, {})
        if now is was:
            continue
        d.added.update((k, v) for k, v in now.items() if k not in was)
        d.changed.update((k, (was[k], v)) for k, v in now.items() if k in was and was[k] != v)
        d.removed.update((k, v) for k, v in was.items() if k not in now)
    return d


# ---------------------------------------------------------------- the world and the model


@dataclass
class OpenAction:
    tool: str
    level: str
    requester: Actor
    rows: set[Key]
    touched: list[str] = field(default_factory=list)
    queued: bool = False


@dataclass
class World:
    actors: dict[str, Actor]
    school: Any
    fees: Any
    accounts: list[int]
    payroll_run: int | None
    period: str = ""  # the month of this example's payroll run (PERIODS)
    employees: list[int] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)  # contract numbers
    structures: list[int] = field(default_factory=list)  # the contracts' salary structure, then another
    requests: list[int] = field(default_factory=list)  # leave requests made
    actions: dict[int, OpenAction] = field(default_factory=dict)
    closed: list[int] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    executed: Counter = field(default_factory=Counter)


async def build_world(rt: Runtime) -> World:
    school = await make_school(rt, students=4)
    fee_school = await make_fee_school(rt)
    job = await invoke(rt, "generate_invoices", {"schedule_id": fee_school.schedule_id, "issue_date": "2026-01-27",
                                                 "wait_s": 30}, fee_school.bursar)
    assert job.status == "succeeded", job
    tag = unique("G")
    accounts = []
    for suffix, kind in (("1000", "asset"), ("4000", "income"), ("5000", "expense")):
        out = await invoke(rt, "create_account", {"code": f"{tag}-{suffix}", "name": f"Account {tag} {suffix}",
                                                  "type": kind}, fee_school.bursar)
        accounts.append(out.id)
    async with rt.db.write() as s:
        payroll_officer = await make_user(s, roles="payroll")
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("PD"), name="Payroll test department")
        employees = [await hr.create_employee(
            s, SYSTEM_ACTOR, first_name=f"Pay{i}", last_name=tag, work_email=f"pay{i}.{tag.lower()}@example.org",
            position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
            employment_type=EmploymentType.FULL_TIME) for i in range(2)]
    structures = [(await invoke(rt, "create_salary_structure", {
        "code": unique("ST"), "name": name, "currency": "AUD", "components": [
            {"code": "BASIC", "name": "Basic", "kind": "earning", "method": "fixed", "amount_minor": amount},
            *WITHHELD]}, payroll_officer)).salary_structure_id
        for name, amount in (("Flat", 500000), ("Flat plus", 520000))]
    contracts = [(await invoke(rt, "create_employment_contract", {
        "employee_id": employee.id, "start_date": "2026-01-01", "base_minor": 500000, "currency": "AUD",
        "salary_structure_id": structures[0], "filing_status": "scale_2"}, payroll_officer)).contract_number
        for employee in employees]
    actors = {"teacher": school.teacher, "other_teacher": school.other_teacher, "registrar": school.registrar,
              "bursar": fee_school.bursar, "payroll": payroll_officer, "admin": school.admin,
              "admin2": school.admin2, "viewer": school.viewer}
    return World(actors=actors, school=school, fees=fee_school, accounts=accounts, payroll_run=None,
                 period=PERIODS[len(RUNS) % len(PERIODS)], employees=[e.id for e in employees], contracts=contracts,
                 structures=structures)


WITHHELD = [  # PAYG withholding and super guarantee, which remit_payg and remit_super pay
    {"code": "PAYG", "name": "PAYG withholding", "kind": "tax", "method": "tax_table", "table": "AU_PAYGW",
     "expression": "taxable"},
    {"code": "SUPER", "name": "Superannuation guarantee", "kind": "employer_contribution", "method": "formula",
     "expression": "ote * super_guarantee_rate", "category": "super:L"}]


async def plan_rows(rt: Runtime, action_id: int) -> tuple[set[Key], dict[str, Any]]:
    """The rows an action's stored plan changes, removes or read as its basis, and the plan itself."""
    async with rt.db.read() as s:
        conn = await s.connection()
        table = SQLModel.metadata.tables["pending_actions"]
        row = (await conn.execute(select(table.c.plan).where(table.c.id == action_id))).one()
    plan = json.loads(row.plan)
    rows = {(c["table"], c["id"]) for c in plan["changes"] if c["op"] in ("update", "delete")}
    rows |= {(r["table"], r["id"]) for r in plan["basis"]}
    return rows, plan


# ---------------------------------------------------------------- an executed plan against what was written


def _resolve(value: Any, action_id: int, decided_by: int | None) -> Any:
    if isinstance(value, dict) and set(value) == {"$"}:
        return {"action_id": action_id, "decided_by": decided_by}.get(value["$"], ANY)
    if isinstance(value, dict) and set(value) == {"$new"}:
        return ANY
    return value


ANY = object()


def _template(text: str) -> str:
    """A regular expression for a posting's text whose {ref} parts are ids known only when applied."""
    return re.sub(r"\\\{[a-z_]+(?::[0-9a-z]+)?\\\}", r"\\d+", re.escape(text))


def _same(table: str, row: dict[str, Any], name: str, expected: Any) -> bool:
    """row[name] is `expected`; a secret is planned as its keyed fingerprint ('fp:<key>:<hmac>', a plan must hash
    the same when planned again) and written sealed: its token must decrypt to the value of that fingerprint."""
    value = row.get(name)
    if table == "employee_payment_details" and isinstance(expected, str) and expected.startswith("fp:") \
            and crypto.is_token(value):
        purpose = hr.payment_purpose(name, row["employee_id"])
        return KEYRING.fingerprint(KEYRING.decrypt(value, purpose=purpose), purpose=purpose) == expected
    return value == expected


def _matches(table: str, row: dict[str, Any], values: dict[str, Any], action_id: int, decided_by: int | None
             ) -> bool:
    for name, value in values.items():
        expected = _resolve(value, action_id, decided_by)
        if expected is not ANY and not _same(table, row, name, expected):
            return False
    return True


def _lines(rows: list[dict[str, Any]]) -> Counter:
    return Counter((r["account_id"], r["debit"], r["credit"], r.get("department_id")) for r in rows)


def check_effect(plan: dict[str, Any], d: Diff, action_id: int, decided_by: int | None, where: str) -> None:
    """Every row the plan lists was written as listed, and nothing else outside the action's own row."""
    claimed: set[Key] = set()
    refs: dict[str, Any] = {}  # the ids of what earlier changes of the plan created, by ref

    def known(value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"$new"}:
            return refs.get(value["$new"], ANY)
        return value
    for change in plan["changes"]:
        op = change["op"]
        if op == "update":
            key = (change["table"], change["id"])
            assert key in d.changed, f"{where}: {key} was to be updated and was not"
            before, after = d.changed[key]
            for name, value in change["after"].items():
                expected = _resolve(value, action_id, decided_by)
                assert expected is ANY or _same(change["table"], after, name, expected), \
                    f"{where}: {key}.{name} is {after[name]!r}, the plan said {expected!r}"
            if change["version"] is not None:
                assert after["version"] == change["version"] + 1, f"{where}: {key} version"
            other = {c for c in after if before.get(c) != after.get(c)} - set(change["after"]) - {
                "version", "updated_at"}
            assert not other, f"{where}: {key} also changed {other}, which the plan did not list"
            claimed.add(key)
        elif op == "delete":
            key = (change["table"], change["id"])
            assert key in d.removed or (key in d.changed and d.changed[key][1].get("deleted_at")), \
                f"{where}: {key} was to be removed and was not"
            claimed.add(key)
        elif op == "insert":
            candidates = [k for k, row in d.added.items() if k[0] == change["table"] and k not in claimed
                          and _matches(change["table"], row, change["values"], action_id, decided_by)]
            assert candidates, f"{where}: no new {change['table']} row has the planned values {change['values']}"
            claimed.add(candidates[0])
        elif change["kind"] in ("finance.posting", "finance.reversal"):
            payload = change["payload"]
            if change["kind"] == "finance.posting":
                key = _template(payload["idempotency_key"]) if payload.get("ids") else re.escape(
                    payload["idempotency_key"])
                found = [k for k, row in d.added.items() if k[0] == "journal_entries"
                         and re.fullmatch(key, row["idempotency_key"])]
            else:
                found = [k for k, row in d.added.items() if k[0] == "journal_entries"
                         and row["reverses_entry_id"] == payload["entry_id"]]
                original = ("journal_entries", payload["entry_id"])
                assert original in d.changed and d.changed[original][1]["status"] == "reversed", where
                claimed.add(original)
            assert len(found) == 1, (f"{where}: the planned {change['kind']} was not posted once: {found}; planned "
                                     f"{payload}; written {d.show(d.keys())}")
            entry = d.added[found[0]]
            assert entry["entry_date"] == payload["date"], where
            lines = {k: row for k, row in d.added.items() if k[0] == "journal_lines" and row["entry_id"] == found[0][1]}
            planned = [dict(line, account_id=known(line["account_id"])) for line in payload["lines"]]
            assert all(line["account_id"] is not ANY for line in planned), f"{where}: a line's account is unknown"
            assert _lines(list(lines.values())) == _lines(planned), \
                f"{where}: the posted lines differ from the planned ones"
            if change.get("ref"):
                refs[change["ref"]] = found[0][1]
            claimed |= set(lines) | {found[0]}
        elif change["kind"] == "finance.account":  # a missing account the plan creates before posting to it
            payload = change["payload"]
            made = [k for k, row in d.added.items() if k[0] == "accounts" and row["code"] == payload["code"]
                    and row["currency"] == payload["currency"] and row["type"] == payload["type"]]
            assert len(made) == 1, f"{where}: the planned account {payload['code']} was not created once: {made}"
            claimed.add(made[0])
            if change.get("ref"):
                refs[change["ref"]] = made[0][1]
        elif change["kind"] == "fees.document":  # a numbered document row: the planned values, a number added
            payload = change["payload"]
            candidates = [k for k, row in d.added.items() if k[0] == payload["table"] and k not in claimed
                          and _matches(payload["table"], row, payload["values"], action_id, decided_by)]
            assert candidates, f"{where}: no new {payload['table']} row has the planned values {payload['values']}"
            claimed.add(candidates[0])
        elif change["kind"] == "fees.entry_link":  # a document of the same plan pointed at its entry
            assert any(k[0] == change["payload"]["table"] and k in claimed for k in d.added), where
        elif change["kind"] == "fees.credit_guard":  # a check under a lock: writes nothing
            pass
        elif change["kind"] == "payroll.document":  # a remittance's file: one documents row with its bytes
            payload = change["payload"]
            made = [k for k, row in d.added.items() if k[0] == "documents" and k not in claimed
                    and row["kind"] == payload["kind"] and row["filename"] == payload["filename"]
                    and row["content_type"] == payload["content_type"] and row["data"] == payload["text"].encode()]
            assert len(made) == 1, f"{where}: the planned document {payload['filename']} was not stored once: {made}"
            claimed.add(made[0])
            if change.get("ref"):
                refs[change["ref"]] = made[0][1]
        elif change["kind"] == LEAVE_MOVEMENTS:  # posted payslips' leave: one ledger row per planned movement
            types = {row["code"]: row["id"] for row in d.before["leave_types"].values()}
            planned = [(m["employee_id"], types[m["type_code"]], m["kind"], to_x100(Fraction(Decimal(m["hours"]))),
                        str(m["on"])[:10], m["source"], m["request_id"]) for m in change["payload"]["movements"]]
            assert planned, f"{where}: a {LEAVE_MOVEMENTS} effect without movements"
            claimed |= _leave_rows(d, planned, claimed, where)
        elif change["kind"] == LEAVE_REVERSAL:  # voided payslips' leave: the opposite of each unreversed movement
            payload = change["payload"]
            sources = set(payload["sources"])
            held = [row for row in d.before["leave_movements"].values() if row["source"] in sources]
            done = {row["source"] for row in held if row["kind"] == "reversal"}
            planned = [(row["employee_id"], row["leave_type_id"], "reversal", -row["hours_x100"],
                        str(payload["on"])[:10], row["source"], row["request_id"])
                       for row in held if row["source"] not in done and row["hours_x100"]]
            claimed |= _leave_rows(d, planned, claimed, where)
            sums = Counter()
            for row in held + [d.added[k] for k in d.added if k[0] == "leave_movements"]:
                if row["source"] in sources:
                    sums[(row["source"], row["employee_id"], row["leave_type_id"])] += row["hours_x100"]
            assert not +sums and not -sums, f"{where}: the reversed sources do not sum to zero: {sums}"
        elif change["kind"] == "outbox.event":  # the command's domain event: one outbox row with the planned payload
            payload = change["payload"]
            made = [k for k, row in d.added.items() if k[0] == "outbox" and k not in claimed
                    and (row["topic"], row["aggregate"], row["aggregate_id"], row["schema_version"])
                    == (payload["topic"], payload["aggregate"], payload["aggregate_id"], payload["schema_version"])
                    and json.loads(row["payload"]) == payload["payload"]]
            assert len(made) == 1, f"{where}: the planned event {payload['topic']} was not recorded once: {made}"
            claimed.add(made[0])
        else:
            pytest.fail(f"{where}: the test does not know how to check effect {change['kind']}; add it")
    extra = d.outside(BOOKKEEPING) - claimed
    assert not extra, f"{where}: the approval wrote rows its plan did not list: {d.show(extra)}"


def _leave_rows(d: Diff, planned: list[tuple], claimed: set[Key], where: str) -> set[Key]:
    """The new leave_movements rows written for `planned` (employee, type id, kind, hundredths of an hour, date,
    source, request), one distinct row each; fails naming the first planned movement not written."""
    mine: set[Key] = set()
    for movement in planned:
        found = next((k for k, row in d.added.items() if k[0] == "leave_movements" and k not in claimed
                      and k not in mine and row["note"] is None
                      and (row["employee_id"], row["leave_type_id"], row["kind"], row["hours_x100"],
                           row["on_date"], row["source"], row["request_id"]) == movement), None)
        assert found is not None, f"{where}: the planned leave movement {movement} was not written (of {len(planned)})"
        mine.add(found)
    return mine


# ---------------------------------------------------------------- the operations


def _pick(data, items, label):
    return data.draw(st.sampled_from(sorted(items)), label=label)


def _one_of(data, items: list, label: str, default: Any) -> Any:
    """One of `items` (read from the database, so of any length) by a drawn index: the draw itself never depends
    on the database."""
    index = data.draw(st.integers(0, 63), label=label)
    return items[index % len(items)] if items else default


async def _invoice_ids(rt: Runtime, world: World) -> list[int]:
    page = await invoke(rt, "list_invoices", {"schedule_id": world.fees.schedule_id, "limit": 50}, world.fees.bursar)
    return [i.invoice_id for i in page.items]


async def _payslip_ids(rt: Runtime, world: World) -> list[int]:
    if world.payroll_run is None:
        return []
    page = await invoke(rt, "list_payslips", {"run_id": world.payroll_run, "limit": 50}, world.actors["payroll"])
    return [p.payslip_id for p in page.items]


def _draw_issue_18(data, world: World, kind: str) -> tuple[str, str, dict[str, Any]]:
    """Issue 18's commands. Leave: requests (ungated) inside this example's pay period, so an approved one is
    taken by its run when approved before the run is calculated; approve_leave_request (gated, confirm; admin or
    HR, so the payroll officer is refused); rejections and cancellations (ungated, making a pending approval
    stale); adjust_leave_balance (gated, confirm; a paid balance to take leave from, or below 0 refused). Payroll:
    remit_super and remit_payg of this example's pay date and post_leave_provision (gated, approve; they find
    something to pay only after the run is posted), end_employment_contract and move_contracts_to_structure
    (confirm), update_salary_structure, add_payroll_rate and set_employee_payment_details (approve)."""
    period, employee = world.period, data.draw(st.sampled_from(world.employees), label="employee")
    if kind == "leave":
        step = data.draw(st.sampled_from(["request", "request", "approve", "approve", "reject", "cancel"]),
                         label="leave step")
        if step == "request":
            first = data.draw(st.integers(1, 20), label="first day")
            days = data.draw(st.integers(0, 4), label="days")
            return _pick(data, ["payroll", "admin", "viewer"], "who"), "request_leave", {
                "employee_id": employee, "leave_type": data.draw(st.sampled_from(["ANNUAL", "PERSONAL", "UNPAID"]),
                                                                 label="type"),
                "start_date": f"{period}-{first:02d}", "end_date": f"{period}-{first + days:02d}",
                "reason": "Stateful test leave"}
        request = _one_of(data, world.requests, "request", NO_ACTION)
        if step == "approve":
            return _pick(data, ["admin", "admin", "payroll"], "who"), "approve_leave_request", {"request_id": request}
        if step == "reject":
            return "payroll", "reject_leave_request", {"request_id": request, "reason": "Not this week"}
        return "payroll", "cancel_leave_request", {"request_id": request, "reason": "Plans changed"}
    if kind == "adjust_leave":
        return _pick(data, ["payroll", "admin", "viewer"], "who"), "adjust_leave_balance", {
            "employee_id": employee, "leave_type": data.draw(st.sampled_from(["ANNUAL", "PERSONAL", "UNPAID"]),
                                                             label="type"),
            "hours": data.draw(st.sampled_from(["7.6", "38", "76", "-7.6", "-38"]), label="hours"),
            "on": f"{period}-01", "reason": "Opening balance"}
    if kind == "remit":
        tool = data.draw(st.sampled_from(["remit_super", "remit_payg"]), label="remit")
        return _pick(data, ["payroll", "bursar", "viewer"], "who"), tool, {
            "pay_date_from": f"{period}-24", "pay_date_to": f"{period}-24", "paid_on": f"{period}-28"}
    if kind == "provision":
        return _pick(data, ["payroll", "bursar"], "who"), "post_leave_provision", {"as_of": f"{period}-28"}
    step = data.draw(st.sampled_from(["end", "move", "structure", "rate", "bank"]), label="setup step")
    contract = data.draw(st.sampled_from(world.contracts), label="contract")
    if step == "end":
        return "payroll", "end_employment_contract", {
            "contract_number": contract, "end_date": f"{period}-{data.draw(st.integers(10, 28), label='day'):02d}",
            "cessation_type": "V", "reason": "Resigned"}
    if step == "move":
        return "payroll", "move_contracts_to_structure", {
            "contract_numbers": [contract], "salary_structure_id": world.structures[1],
            "effective_from": f"{period}-01", "reason": "New salary scale"}
    if step == "structure":
        return "payroll", "update_salary_structure", {"salary_structure_id": world.structures[0], "components": [
            {"code": "BASIC", "name": "Basic", "kind": "earning", "method": "fixed",
             "amount_minor": data.draw(st.integers(400000, 600000), label="basic")}, *WITHHELD]}
    if step == "rate":  # far after every pay date here: a rate added does not change the other examples' runs
        return "payroll", "add_payroll_rate", {
            "name": "super_guarantee_rate", "percent": data.draw(st.sampled_from(["12", "12.5"]), label="rate"),
            "effective_from": f"{data.draw(st.integers(2040, 2099), label='year')}-07-01",
            "source": "Stateful test rate"}
    account = data.draw(st.integers(10**7, 10**8 - 1), label="account")
    return _pick(data, ["payroll", "admin", "viewer"], "who"), "set_employee_payment_details", {
        "employee_id": employee, "bsb": "062-000", "account_number": str(account), "account_name": "PAY TEST"}


async def draw_call(rt: Runtime, data, world: World) -> tuple[str, str, dict[str, Any]]:
    """Draw (actor, tool, arguments) for one step: mostly well-formed calls, by the right and the wrong people."""
    school = world.school
    kinds = ["record_grade", "change_grade", "change_locked_grade", "publish", "categories", "scale",
             "post_entry", "reverse_entry", "deactivate", "payment", "void_invoice", "credit_note",
             "payroll_run", "void_payslip", "mark_paid", "leave", "leave", "adjust_leave", "remit", "provision",
             "payroll_setup", "decide", "decide", "decide", "decide", "decide"]
    kind = data.draw(st.sampled_from(kinds), label="kind")
    student = data.draw(st.sampled_from(school.student_ids), label="student")
    assessment = data.draw(st.sampled_from([school.assessment_id, school.assessment2_id]), label="assessment")
    score = data.draw(st.integers(0, 50), label="score")
    grader = data.draw(st.sampled_from(["teacher", "teacher", "other_teacher", "registrar", "admin"]), label="who")
    if kind == "record_grade":
        return grader, "record_grade", {"assessment_id": assessment, "student_id": student, "score": score}
    if kind == "change_grade":
        return grader, "change_grade", {"assessment_id": assessment, "student_id": student, "score": score}
    if kind == "change_locked_grade":
        return grader, "change_locked_grade", {"assessment_id": assessment, "student_id": student, "score": score,
                                               "reason": "Marking error found on review"}
    if kind == "publish":
        return _pick(data, ["registrar", "admin", "teacher"], "who"), "publish_term_grades", {
            "class_id": school.class_id, "term_id": school.term_id}
    if kind == "categories":
        test_weight = data.draw(st.integers(10, 90), label="weight")
        return grader, "set_grading_categories", {"class_id": school.class_id, "categories": [
            {"code": "TEST", "name": "Tests", "weight": test_weight},
            {"code": "EXAM", "name": "Exam", "weight": 100 - test_weight}]}
    if kind == "scale":
        cut = data.draw(st.sampled_from([50, 60, 70]), label="cut")
        return _pick(data, ["registrar", "admin"], "who"), "create_grading_scale", {
            "code": unique("SC"), "name": "Pass/fail", "is_default": data.draw(st.booleans(), label="default"),
            "bands": [{"min_percentage": cut, "letter": "P", "gpa_points": 4, "passing": True, "earns_credit": True},
                      {"min_percentage": 0, "letter": "F", "gpa_points": 0, "passing": False,
                       "earns_credit": False}]}
    if kind == "post_entry":
        amount = data.draw(st.integers(1, 5_000_000), label="amount")
        debit, credit = data.draw(st.permutations(world.accounts), label="accounts")[:2]  # fixed length
        return _pick(data, ["bursar", "admin", "viewer"], "who"), "post_journal_entry", {
            "date": "2026-10-01", "memo": "Stateful test entry", "idempotency_key": unique("st-"),
            "lines": [{"account_id": debit, "debit": amount}, {"account_id": credit, "credit": amount}]}
    if kind == "reverse_entry":
        entry = _one_of(data, world.entries, "entry", 1)
        return _pick(data, ["bursar", "admin"], "who"), "reverse_journal_entry", {
            "entry_id": entry, "date": "2026-10-05", "reason": "Posted in error"}
    if kind == "deactivate":
        return "admin", "<deactivate_account>", {"account_id": data.draw(st.sampled_from(world.accounts)),
                                                 "active": data.draw(st.booleans(), label="active")}
    if kind == "payment":
        family = data.draw(st.sampled_from(sorted(world.fees.families.values())), label="family")
        return "bursar", "record_payment", {"family_id": family, "amount_minor": data.draw(
            st.integers(1, 600_000), label="paid"), "method": "bank_transfer", "received_on": "2026-02-01",
            "idempotency_key": unique("pay-")}
    if kind in ("void_invoice", "credit_note"):
        invoices = await _invoice_ids(rt, world)
        invoice = _one_of(data, invoices, "invoice", 1)
        if kind == "void_invoice":
            return _pick(data, ["bursar", "admin"], "who"), "void_invoice", {
                "invoice_id": invoice, "on": "2026-02-10", "reason": "Billed to the wrong family"}
        return "bursar", "issue_credit_note", {"invoice_id": invoice, "on": "2026-02-10", "reason": "Goodwill",
                                               "amount_minor": data.draw(st.integers(1, 700_000), label="credit")}
    if kind == "payroll_run":
        if world.payroll_run is None:
            return "payroll", "<payroll_run>", {}
        step = _pick(data, ["approve_payroll_run", "post_payroll_run"], "step")
        return "payroll", step, {"run_id": world.payroll_run}
    if kind == "void_payslip":
        slips = await _payslip_ids(rt, world)
        return "payroll", "void_payslip", {"payslip_id": _one_of(data, slips, "payslip", 1),
                                           "on": "2027-06-30", "reason": "Paid to the wrong account"}
    if kind == "mark_paid":
        return "payroll", "mark_payroll_run_paid", {"run_id": world.payroll_run or 1}
    if kind in ("leave", "adjust_leave", "remit", "provision", "payroll_setup"):
        return _draw_issue_18(data, world, kind)
    # decide an action: most often the next right step (the requester confirms, another admin approves), else
    # any decision on any action (open or closed) by anyone
    if data.draw(st.integers(0, 9), label="right step?") < 6 and world.actions:
        action = _one_of(data, sorted(world.actions), "action", NO_ACTION)
        held = world.actions[action]
        if not held.queued:
            who = next(n for n, a in world.actors.items() if a.id == held.requester.id)
            return who, "confirm_action", {"action_id": action}
        who = next(n for n in ("admin", "admin2") if world.actors[n].id != held.requester.id)
        return who, "approve_action", {"action_id": action, "reason": "Checked"}
    ids = sorted(world.actions) or [NO_ACTION]
    if data.draw(st.integers(0, 9), label="closed?") == 0 and world.closed:
        ids = world.closed
    action = _one_of(data, ids, "action", NO_ACTION)
    decision = data.draw(st.sampled_from(["confirm_action", "confirm_action", "approve_action", "approve_action",
                                          "reject_action", "cancel_action"]), label="decision")
    who = data.draw(st.sampled_from(sorted(world.actors)), label="decider")
    if data.draw(st.booleans(), label="mine") and action in world.actions and decision == "confirm_action":
        who = next(n for n, a in world.actors.items() if a.id == world.actions[action].requester.id)
    args: dict[str, Any] = {"action_id": action}
    if decision in ("reject_action", "approve_action"):
        args["reason"] = "Checked"
    return who, decision, args


async def call(rt: Runtime, world: World, who: str, tool: str, args: dict[str, Any]) -> Any:
    """Make the call (a few test-only writes go straight to the service, as an admin console would)."""
    actor = world.actors[who]
    if tool == "<deactivate_account>":
        async with rt.db.write() as s:
            return await finance.set_account_active(s, actor, account_id=args["account_id"], active=args["active"])
    if tool == "<payroll_run>":
        period = world.period
        run = await invoke(rt, "create_payroll_run", {"period": period, "pay_date": f"{period}-24",
                                                      "currency": "AUD"}, actor)
        RUNS.append(run.run_id)
        job = await invoke(rt, "calculate_payroll_run", {"run_id": run.run_id, "wait_s": 30}, actor)
        assert job.status == "succeeded", job
        world.payroll_run = run.run_id
        return run
    out = await invoke(rt, tool, args, actor)
    if tool == "request_leave":
        world.requests.append(out.request_id)
    return out


# One payroll month per example (the module's database keeps one live run per period).
PERIODS = [f"2026-{m:02d}" for m in range(7, 13)] + [f"2027-{m:02d}" for m in range(1, 7)]
RUNS: list[int] = []


# ---------------------------------------------------------------- the property


DECISIONS = {"confirm_action", "approve_action", "reject_action", "cancel_action"}
NO_ACTION = 10**9  # an id no action has: actions left open by earlier examples are not this example's to decide
PAYROLL_SETUP = {"<payroll_run>"}


async def check_step(rt: Runtime, world: World, who: str, tool: str, args: dict[str, Any], out: Any,
                     error: DomainError | None, d: Diff, where: str) -> None:
    actor = world.actors[who]
    if tool in PAYROLL_SETUP:
        return  # set-up of a run (create + calculation job): not a gated step
    if error is not None:
        allowed = {k for k in d.keys() if k[0] == BOOKKEEPING}
        assert d.keys() == allowed, f"{where}: failed ({error.code}: {error.message}) but wrote {d.show(d.keys())}"
        action_id = args.get("action_id")
        if tool in DECISIONS and action_id in world.actions and (BOOKKEEPING, action_id) in d.changed:
            world.closed.append(action_id)
            del world.actions[action_id]
        return
    if getattr(out, "pending", False):  # a gated call: its pending action and nothing else
        assert d.keys() == {(BOOKKEEPING, out.action_id)}, f"{where}: the proposal wrote {d.show(d.keys())}"
        rows, _ = await plan_rows(rt, out.action_id)
        world.actions[out.action_id] = OpenAction(tool, out.level, actor, rows)
        return
    if tool in DECISIONS:
        action_id = args["action_id"]
        open_action = world.actions.get(action_id)
        status = out.status
        assert open_action is not None, f"{where}: decided ({status}) an action this example never proposed"
        if status == "queued":
            assert open_action.level == "approve", f"{where}: queued {open_action}"
            assert tool == "confirm_action" and actor.id == open_action.requester.id, where
            assert d.keys() == {(BOOKKEEPING, action_id)}, f"{where}: queueing wrote {d.show(d.keys())}"
            open_action.queued = True
            return
        if status == "executed":
            assert open_action is not None, f"{where}: executed an action the model did not hold open"
            if open_action.level == "confirm":
                assert tool == "confirm_action" and actor.id == open_action.requester.id, f"{where}: {tool} by {who}"
            else:
                assert tool == "approve_action" and actor.is_admin and actor.id != open_action.requester.id, \
                    f"{where}: four eyes broken: {tool} by {who}, requested by {open_action.requester.username}"
            assert not open_action.touched, \
                f"{where}: executed although its rows changed since the preview: {open_action.touched}"
            _, plan = await plan_rows(rt, action_id)
            check_effect(plan, d, action_id, actor.id if tool == "approve_action" else open_action.requester.id,
                         where)
            world.executed[open_action.tool] += 1
            for key in d.keys():
                if key[0] == "journal_entries" and key in d.added:
                    world.entries.append(key[1])
        else:
            assert d.keys() <= {(BOOKKEEPING, action_id)}, f"{where}: {status} wrote {d.show(d.keys())}"
        world.actions.pop(action_id, None)
        world.closed.append(action_id)
        changed = d.outside(BOOKKEEPING)
    else:
        changed = d.outside()  # an ungated write
        for key in d.added:
            if key[0] == "journal_entries":
                world.entries.append(key[1])
    touched = set(changed) - set(d.added)
    for action_id, open_action in world.actions.items():
        hit = open_action.rows & touched
        if hit:
            open_action.touched.append(f"{tool} changed {sorted(hit, key=str)[:3]}")


async def test_a_posting_that_creates_its_accounts_writes_exactly_its_plan(srt):
    """Deterministic companion of the random sequences for the longest plans: posting a school's first payroll run
    creates the missing payroll accounts (it runs first in this module, before any run posted them) (finance.account
    effects), posts to them (NewId lines) and writes its payslips' leave movements (payroll.leave_movements: the
    accruals and the annual leave an approved request took, after an adjusted opening balance); voiding a payslip
    then reverses its leave (payroll.leave_reversal). The run's super and PAYG withholding are remitted between
    (remit_super's SuperStream files: payroll.document effects). Bank details set and changed first: the plan carries the
    secrets' keyed fingerprints, the rows their sealed tokens."""
    world = await build_world(srt)
    payroll, admin = world.actors["payroll"], world.actors["admin"]
    employee = world.employees[0]

    async def released(tool: str, args: dict[str, Any], requester: Actor) -> dict[str, Any]:
        pending = await invoke(srt, tool, args, requester)
        assert getattr(pending, "pending", False), pending
        before = await fingerprint(srt)
        done, decided_by = await invoke(srt, "confirm_action", {"action_id": pending.action_id}, requester), requester
        if done.status == "queued":
            before = await fingerprint(srt)
            done, decided_by = await invoke(srt, "approve_action", {"action_id": pending.action_id}, admin), admin
        assert done.status == "executed", done
        _, plan = await plan_rows(srt, pending.action_id)
        check_effect(plan, diff(before, await fingerprint(srt)), pending.action_id, decided_by.id, tool)
        return plan

    for bsb, account in (("062-000", "12345678"), ("062-001", "87654321")):  # inserted, then updated
        await released("set_employee_payment_details", {"employee_id": employee, "bsb": bsb, "account_number": account,
                                                        "account_name": "PAY TEST"}, payroll)
    await released("adjust_leave_balance", {"employee_id": employee, "leave_type": "ANNUAL", "hours": "38",
                                            "on": f"{world.period}-01", "reason": "Opening balance"}, payroll)
    request = await call(srt, world, "payroll", "request_leave", {
        "employee_id": employee, "leave_type": "ANNUAL", "start_date": f"{world.period}-13",
        "end_date": f"{world.period}-14", "reason": "Two days off"})
    await released("approve_leave_request", {"request_id": request.request_id}, admin)
    await call(srt, world, "payroll", "<payroll_run>", {})
    for tool in ("approve_payroll_run", "post_payroll_run"):
        plan = await released(tool, {"run_id": world.payroll_run}, payroll)
    kinds = [c.get("kind") for c in plan["changes"] if c["op"] == "effect"]
    assert kinds.count("finance.posting") == 1 and "finance.account" in kinds, kinds
    movements = next(c["payload"]["movements"] for c in plan["changes"] if c.get("kind") == LEAVE_MOVEMENTS)
    assert {(m["employee_id"], m["kind"], m["request_id"]) for m in movements if m["kind"] == "taken"} == {
        (employee, "taken", request.request_id)}, movements
    dates = {"pay_date_from": f"{world.period}-24", "pay_date_to": f"{world.period}-24",
             "paid_on": f"{world.period}-28"}
    plan = await released("remit_super", dates, payroll)
    assert [c["payload"]["kind"] for c in plan["changes"] if c.get("kind") == "payroll.document"] == [
        "superstream_saff", "superstream_json"], plan["changes"]
    await released("remit_payg", dates, payroll)
    page = await invoke(srt, "list_payslips", {"run_id": world.payroll_run, "limit": 50}, payroll)
    slip = next(p.payslip_id for p in page.items if p.employee_id == employee)
    plan = await released("void_payslip", {"payslip_id": slip, "on": f"{world.period}-31",
                                           "reason": "Paid to the wrong account"}, payroll)
    assert [c["payload"]["sources"] for c in plan["changes"] if c.get("kind") == LEAVE_REVERSAL] == [
        [f"payslip:{slip}"]], plan["changes"]


# The database is external state: a failing example cannot be replayed or shrunk, so only the generate phase
# runs, and the failing step is named in the assertion itself.
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          phases=[Phase.generate])
@given(data=st.data())
async def test_random_sequences_keep_the_gate_honest(srt, data):
    world = await build_world(srt)
    before = await fingerprint(srt)
    for number in range(STEPS):
        who, tool, args = await draw_call(srt, data, world)
        where = f"step {number}: {who} {tool}({args})"
        out, error = None, None
        try:
            out = await call(srt, world, who, tool, args)
        except DomainError as exc:
            error = exc
        after = await fingerprint(srt)
        try:
            await check_step(srt, world, who, tool, args, out, error, diff(before, after), where)
        except (AssertionError, pytest.fail.Exception) as exc:
            # The database cannot be replayed to the failing example: say what failed before Hypothesis tries.
            print(f"GATE INVARIANT BROKEN: {exc}")
            raise
        before = after
        OUTCOMES[(tool, error.code if error else getattr(out, "status", "ok"))] += 1
    EXECUTED.update(world.executed)


OUTCOMES: Counter = Counter()
EXECUTED: Counter = Counter()


def test_the_sequences_reached_the_gated_commands():
    """The random sequences above must have released gated commands of every context they drive, found stale
    ones and refused wrong deciders; otherwise they proved little. (Runs after them: pytest keeps file order.)"""
    print(dict(EXECUTED), dict(OUTCOMES))
    calls = sum(OUTCOMES.values())
    assert calls >= EXAMPLES * STEPS
    assert sum(EXECUTED.values()) >= EXAMPLES and len(EXECUTED) >= min(4, EXAMPLES), \
        f"only {dict(EXECUTED)} were executed in {calls} calls"
    stale = sum(n for (tool, outcome), n in OUTCOMES.items() if tool in DECISIONS and outcome == "stale_action")
    queued = sum(n for (tool, outcome), n in OUTCOMES.items() if outcome == "queued")
    refused = sum(n for (tool, outcome), n in OUTCOMES.items() if tool in DECISIONS and outcome == "permission_denied")
    assert stale and queued and refused, f"stale {stale}, queued {queued}, refused deciders {refused} in {calls} calls"
    # Issue 18's gated commands are drawn too (_draw_issue_18). Which of them execute varies from run to run: the
    # remittances and a leave taken by a run need a posted run, which takes four right decisions in a row, so the
    # test asks only that several were proposed; payroll.leave_movements and payroll.leave_reversal are checked
    # every run by the deterministic test above.
    proposed = {tool for (tool, outcome), n in OUTCOMES.items() if tool in ISSUE_18 and outcome == "proposed"}
    assert len(proposed) >= min(3, EXAMPLES), f"only {sorted(proposed)} of issue 18's gated commands were proposed"


ISSUE_18 = {"approve_leave_request", "adjust_leave_balance", "end_employment_contract", "add_payroll_rate",
            "update_salary_structure", "move_contracts_to_structure", "remit_super", "remit_payg",
            "post_leave_provision", "set_employee_payment_details"}
