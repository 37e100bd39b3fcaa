"""`mcs-erp demo`: the demo school, a few actions queued for approval, and an API key to use."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel import select

from domain.academics.models import SchoolClass, Term
from domain.demo.builder import DemoSummary, build_demo_school
from domain.identity.service import actor_for, get_user_by_username, rotate_demo_key
from domain.kernel.actor import Channel
from domain.kernel.audit import append_audit
from server.auth import CLI_OPERATOR
from tools.invoke import invoke
from tools.runtime import Runtime

# (requesting user, class code) of the term-1 publications the demo leaves queued for an admin's approval.
QUEUED_PUBLICATIONS = (("registrar", "7A-MATH"), ("registrar", "9C-SCI"), ("principal", "12D-HIST"))


@dataclass(frozen=True)
class DemoKeyReplaced:
    """The demo key a run issued (id and secret) and the earlier demo keys it revoked."""

    key_id: int
    secret: str
    revoked_key_ids: list[int]


@dataclass(frozen=True)
class DemoReport:
    summary: DemoSummary
    queued_actions: list[int]
    key: DemoKeyReplaced

    def describe(self) -> str:
        s = self.summary
        head = "demo school created" if s.created else "demo school already present (nothing rebuilt)"
        lines = [(f"{head}: {s.students} students in {s.sections} sections over {s.year_levels} year levels, "
                  f"{s.employees} staff ({s.teachers} teachers), {s.subjects} subjects, {s.classes} classes, "
                  f"{s.assessments} assessments, {s.grades} grades, {s.rooms} rooms")]
        if s.contracts or s.payroll_periods:
            lines.append(_payroll_line(s))
        if s.families or s.invoices:
            lines.append(f"fees: {s.families} families, {s.invoices} Term 1 invoices, {s.fee_payments} payments "
                         "(some partial, late or missing: get_receivables_aging); Term 2's fee schedule is ready "
                         "to bill (generate_invoices)")
        if self.queued_actions:
            lines.append(f"actions waiting for an admin's approval: {', '.join(f'#{i}' for i in self.queued_actions)}")
        if s.admin_usernames:
            shown = ", ".join(s.admin_usernames[:6]) + (" ..." if len(s.admin_usernames) > 6 else "")
            lines.append(f"users created: {shown} (create API keys for them with `mcs-erp keys create --user NAME`)")
        lines.append(self.describe_keys())
        return "\n".join(lines)

    def describe_keys(self) -> str:
        """What this run did to API keys, e.g. 'API keys: revoked the previous demo key #3; created demo key #4
        for admin (...)'."""
        earlier = self.key.revoked_key_ids
        ids = ", ".join(f"#{i}" for i in earlier)
        revoked = f"revoked the previous demo key{'s' if len(earlier) > 1 else ''} {ids}; " if earlier else ""
        return (f"API keys: {revoked}created demo key #{self.key.key_id} for admin (printed below, once: only its hash "
                "is stored). Each demo run replaces the demo key this way; keys made with `mcs-erp keys create` "
                "are never touched.")


def _payroll_line(s: DemoSummary) -> str:
    """The payroll line: 'payroll: 46 employment contracts, 3 payroll runs posted and paid (2026-03 to
    2026-05), 132 payslips', and when the demo was just built, the month left for the user."""
    periods = s.payroll_periods
    if not periods:
        return f"payroll: {s.contracts} employment contracts, no payroll run posted yet"
    span = periods[0] if len(periods) == 1 else f"{periods[0]} to {periods[-1]}"
    line = (f"payroll: {s.contracts} employment contracts, {len(periods)} payroll "
            f"run{'s' if len(periods) != 1 else ''} posted and paid ({span}), {s.payslips} payslips")
    if s.created:
        year, month = (int(part) for part in periods[-1].split("-"))
        following = f"{year + month // 12:04d}-{month % 12 + 1:02d}"
        line += f"; {following} has no run yet (create_payroll_run, then calculate_payroll_run)"
    return line


async def _queue_publications(runtime: Runtime) -> list[int]:
    queued = []
    async with runtime.db.read() as session:
        term = (await session.exec(select(Term).where(Term.number == 1).order_by(Term.id))).first()
        plans = []
        for username, class_code in QUEUED_PUBLICATIONS:
            user = await get_user_by_username(session, username)
            cls = (await session.exec(select(SchoolClass).where(SchoolClass.code == class_code))).first()
            if user is not None and cls is not None and term is not None:
                plans.append((actor_for(user, Channel.CLI), cls.id, term.id))
    for actor, class_id, term_id in plans:
        pending = await invoke(runtime, "publish_term_grades", {"class_id": class_id, "term_id": term_id}, actor)
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, actor)
        queued.append(pending.action_id)
    return queued


async def replace_demo_key(runtime: Runtime) -> DemoKeyReplaced:
    """Revoke the previous demo keys and issue a new one for 'admin' (identity.rotate_demo_key), audited as the
    CLI operator; keys made with `mcs-erp keys create` are left alone."""
    async with runtime.db.write() as session:
        rotated = await rotate_demo_key(session, username="admin")
        key = rotated.issued.key
        await append_audit(session, CLI_OPERATOR, tool="demo", event="write", entity="api_keys", entity_id=key.id,
                           arguments={"user": "admin", "name": "demo"},
                           after={"key_id": key.id, "prefix": key.prefix, "user": "admin",
                                  "revoked_demo_keys": rotated.revoked})
    return DemoKeyReplaced(key_id=key.id or 0, secret=rotated.issued.secret, revoked_key_ids=rotated.revoked)


async def build_demo(runtime: Runtime, *, seed: int = 42) -> DemoReport:
    """Create the demo school if absent (queueing a few approvals), and a fresh demo API key for 'admin' that
    replaces (revokes) the previous run's demo key."""
    async with runtime.db.write() as session:
        summary = await build_demo_school(session, seed=seed)
    if summary.created and runtime.db.dialect == "postgresql":
        # Statistics for the planner now: the school was written in one go, and autovacuum (when it is on at all)
        # analyses it only after its next naptime, so the first minute of queries was planned blind (an
        # unanalysed class's gradebook took 16 ms instead of 0.4, scanning every term assessment).
        async with runtime.db.write() as session:
            await session.execute(text("ANALYZE"))
    queued = await _queue_publications(runtime) if summary.created else []
    return DemoReport(summary=summary, queued_actions=queued, key=await replace_demo_key(runtime))
