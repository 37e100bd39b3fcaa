"""Keeping payroll current: dated payroll rates an admin adds, editing a salary structure, moving contracts between
structures. Issue 18, item 8. The plans of the three gated commands live here (not in plans.py), with the rules
and the few queries they need.

Dated rates. A jurisdiction (domain.payroll.jurisdiction, today AU) bundles the rates known when mcs-erp was
released, such as the super guarantee rate from 1 July 2025 (12 %). A later rate is data, added through the gated
add_payroll_rate and stored in `payroll_rates` (domain/payroll/rates_models.py); `service.added_rates` returns
them as `DatedRate`s for `Jurisdiction.rate(name, pay_date, added=...)`, which the run calculation calls to pick
the rate in force on a payslip's pay date (an added rate wins over a bundled one of the same date). Rules of
`plan_add_payroll_rate`, in order:
1. the jurisdiction is known (InvalidInput, field `jurisdiction`);
2. the name is a known rate: today only `super_guarantee_rate` (InvalidInput, field `name`);
3. the rate is a fraction from 0 to 1 inclusive, at most 6 decimal places ("0.12" is 12 %; the tool takes a
   percent) (InvalidInput, field `rate`);
4. the source is given (InvalidInput, field `source`): a rate without its law or publication cannot be checked;
5. `effective_from` is after the pay date of the latest posted or paid payroll run: a rate from that day or
   earlier would change what posted payslips say they owe (Conflict, field `effective_from`);
6. no rate of that jurisdiction and name was already added for that date (Conflict, field `effective_from`);
7. no run paid on or after `effective_from` is calculated or approved but not posted: its payslips were computed
   with the rate in force before (Conflict naming the run: cancel it and calculate it again once the rate is added,
   or start the rate after its pay date).

Editing a salary structure (`plan_update_salary_structure`): the whole new component list is checked as
create_structure checks it (service.engine_structure compiles every formula in a worker thread, check_tables
finds every tax table), keeping the structure's code and currency. Refused while a payroll run that pays a contract
of the structure is calculated or approved but not posted (Conflict naming the run: its payslips were computed
with the old components; recalculate or cancel it after the change, or post it first). A posted payslip keeps its
lines: history is never recomputed. The preview lists the components added, removed and changed and how many
current contracts use the structure.

Moving contracts (`plan_move_contracts_to_structure`): up to 500 contracts (by number) get a new version on another
structure from `effective_from`, as plan_change_contract_salary does for a salary (the current version superseded,
every other term copied). Rules, in order:
1. the structure exists (NotFound);
2. the numbers are distinct, 1 to 500 (InvalidInput, field `contract_numbers`);
3. each contract exists (NotFound naming the missing ones);
4. each is in the structure's currency and not on that structure already (InvalidInput, `salary_structure_id`);
5. `effective_from` is on or after the contract's start and its current version's effective date, and not after
   its end (InvalidInput, field `effective_from`);
6. `effective_from` is the first day of a pay period of the contract's pay calendar: a payslip is computed by one
   structure, the one of the version in force at the period's end, so a structure applies to whole periods
   (InvalidInput, field `effective_from`, naming the period and the days to start on);
7. no posted or paid period of the contract ends on or after `effective_from` (Conflict: a paid period's
   structure is history, and arrears recompute salary, not structures);
8. no calculated or approved run pays one of them for a period ending on or after `effective_from` (Conflict
   naming the run).

Every function works in the caller's unit of work and never commits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any, Literal

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.plan import NOW, Insert, Plan, Read, Update, inserted_rows
from domain.kernel.schemas import OutputModel
from domain.payroll import service
from domain.payroll.jurisdiction import SUPER_GUARANTEE, DatedRate, jurisdiction
from domain.payroll.models import (
    EmploymentContract,
    PayrollRun,
    Payslip,
    PayslipStatus,
    RunStatus,
    SalaryStructure,
)
from domain.payroll.periods import CalendarRules
from domain.payroll.rates_models import PayrollRate

KNOWN_RATES = {SUPER_GUARANTEE: "the super guarantee charge percentage, a fraction of ordinary time earnings"}
"""The rates an admin may add, by name, with what each is."""
RATE_PLACES = 6
MAX_MOVED = 500
PAID_STATUSES = (RunStatus.POSTED.value, RunStatus.PAID.value)
PENDING_STATUSES = (RunStatus.CALCULATED.value, RunStatus.APPROVED.value)


# ---------------------------------------------------------------- outputs


class PayrollRateOut(OutputModel):
    jurisdiction: str
    name: str
    effective_from: date
    percent: Decimal
    source: str
    origin: Literal["bundled", "added"]


class MovedContractsOut(OutputModel):
    salary_structure_id: int
    salary_structure_code: str
    effective_from: date
    moved: int
    contract_numbers: list[str]


def rate_out(jurisdiction_code: str, rate: DatedRate, origin: Literal["bundled", "added"]) -> PayrollRateOut:
    """A dated rate for a person: the fraction shown as a percent (0.12 -> 12)."""
    percent = Decimal(rate.rate.numerator) * 100 / Decimal(rate.rate.denominator)
    return PayrollRateOut(jurisdiction=jurisdiction_code, name=rate.name, effective_from=rate.effective_from,
                          percent=plain(percent), source=rate.source, origin=origin)


def plain(value: Decimal) -> Decimal:
    """`value` without trailing zeros and never in exponent form (12.50 -> 12.5, 10.0 -> 10, not 1E+1)."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


# ---------------------------------------------------------------- dated rates


async def list_rates(session: AsyncSession, *, jurisdiction_code: str,
                     name: str | None = None) -> list[PayrollRateOut]:
    """Return the bundled and added rates of a jurisdiction (optionally of one name), by name then date (a bundled
    rate before an added one of the same date, which replaces it). Raises InvalidInput for an unknown
    jurisdiction."""
    known = jurisdiction(jurisdiction_code)
    rows = [(r, "bundled") for r in known.rates]
    rows += [(r, "added") for r in await service.added_rates(session, known.code)]
    rows = [(r, origin) for r, origin in rows if name is None or r.name == name]
    rows.sort(key=lambda ro: (ro[0].name, ro[0].effective_from, ro[1] == "added"))
    return [rate_out(known.code, r, origin) for r, origin in rows]  # type: ignore[arg-type]


def check_rate(name: str, rate: Decimal, source: str) -> None:
    """Rules 2 to 4 of a new rate (module docstring); raises InvalidInput naming the field."""
    if name not in KNOWN_RATES:
        raise InvalidInput(f"rate name {name!r} is unknown; known: {', '.join(sorted(KNOWN_RATES))}", field="name")
    try:
        exponent = rate.as_tuple().exponent
        if not rate.is_finite() or not isinstance(exponent, int):
            raise InvalidOperation
    except (AttributeError, InvalidOperation):
        raise InvalidInput(f"rate {rate!r} must be a decimal fraction from 0 to 1 (0.12 is 12 %)",
                           field="rate") from None
    if rate < 0 or rate > 1:
        raise InvalidInput(f"rate {rate * 100:f} % is outside 0 to 100 %", field="rate")
    if -exponent > RATE_PLACES and rate != rate.quantize(Decimal(1).scaleb(-RATE_PLACES)):
        raise InvalidInput(f"rate {rate:f} has more than {RATE_PLACES} decimal places (a percent with more than "
                           f"{RATE_PLACES - 2})", field="rate")
    if not source.strip():
        raise InvalidInput("source must cite the law or publication setting the rate", field="source")


async def latest_posted_run(session: AsyncSession) -> PayrollRun | None:
    """The posted or paid run with the latest pay date (None when nothing was posted)."""
    stmt = (select(PayrollRun).where(col(PayrollRun.status).in_(PAID_STATUSES))
            .order_by(col(PayrollRun.pay_date).desc(), col(PayrollRun.id).desc()).limit(1))
    return (await session.exec(stmt)).first()


async def _pending_runs_paid_from(session: AsyncSession, on: date) -> list[PayrollRun]:
    """Calculated or approved runs paid on or after `on`."""
    stmt = (select(PayrollRun).where(col(PayrollRun.status).in_(PENDING_STATUSES), col(PayrollRun.pay_date) >= on)
            .order_by(col(PayrollRun.pay_date), col(PayrollRun.id)))
    return list((await session.exec(stmt)).all())


async def plan_add_payroll_rate(session: AsyncSession, actor: Actor, *, jurisdiction_code: str, name: str,
                                effective_from: date, rate: Decimal, source: str) -> Plan:
    """Plan adding a dated payroll rate: one payroll_rates row (`rate` a fraction, 0.12 is 12 %) in force from
    `effective_from` for payslips paid on or after it, until a later rate of the name. The preview shows the rate
    in force before it and whether it replaces a bundled rate of the same date. Raises InvalidInput (rules 1 to 4
    of the module docstring), Conflict (rule 5: a date on or before the latest posted run's pay date; rule 6: a
    rate already added for that date; rule 7: a run paid from that date awaiting posting)."""
    known = jurisdiction(jurisdiction_code)
    check_rate(name, rate, source)
    posted = await latest_posted_run(session)
    if posted is not None and effective_from <= posted.pay_date:
        raise Conflict(f"effective_from {effective_from} is on or before the pay date {posted.pay_date} of payroll "
                       f"run {posted.period} (posted): a rate from then would change posted payslips; use a date "
                       f"after {posted.pay_date}", field="effective_from")
    added = await service.added_rates(session, known.code)
    if any(r.name == name and r.effective_from == effective_from for r in added):
        raise Conflict(f"a {name} from {effective_from} was already added in {known.code}; list_payroll_rates "
                       "shows it", field="effective_from")
    pending = await _pending_runs_paid_from(session, effective_from)
    if pending:
        raise Conflict(f"payroll run(s) {_runs_named(pending)} are paid on or after {effective_from} and not posted: "
                       "their payslips were computed with the rate in force before; cancel them and calculate again "
                       f"once the rate is added, or start the rate after {max(r.pay_date for r in pending)}",
                       field="effective_from")
    stored = str(plain(rate))
    new = DatedRate(name=name, effective_from=effective_from, rate=Fraction(Decimal(stored)), source=source)
    try:  # what pay dates from `effective_from` get today: the rate this one takes over from
        before = known.rate(name, effective_from, added=added)
    except InvalidInput:
        before = None
    bundled_same_day = next((r for r in known.rates if r.name == name and r.effective_from == effective_from), None)
    shown = rate_out(known.code, new, "added").percent
    preview: dict[str, Any] = {
        "jurisdiction": known.code, "name": name, "effective_from": effective_from.isoformat(),
        "percent": str(shown), "source": source,
        "before": None if before is None else {"percent": str(rate_out(known.code, before, "added").percent),
                                               "effective_from": before.effective_from.isoformat()},
        "replaces_bundled": bundled_same_day is not None,
        "latest_posted_pay_date": None if posted is None else posted.pay_date.isoformat()}
    return Plan(command="add_payroll_rate",
                summary=f"Add {name} {shown} % in {known.code} for pay dates from {effective_from}",
                preview=preview,
                changes=[Insert("payroll_rates", {"jurisdiction": known.code, "name": name,
                                                  "effective_from": effective_from, "rate": stored,
                                                  "source": source}, ref="rate")])


async def added_rate(session: AsyncSession, applied_ids: dict[str, int | None]) -> PayrollRateOut:
    """The rate an applied add-payroll-rate plan inserted."""
    row = await session.get(PayrollRate, applied_ids["rate"])
    if row is None:
        raise NotFound("the added payroll rate is gone", field="rate")
    rate = DatedRate(name=row.name, effective_from=row.effective_from, rate=Fraction(Decimal(row.rate)),
                     source=row.source)
    return rate_out(row.jurisdiction, rate, "added")


# ---------------------------------------------------------------- salary structures


async def _pending_runs_of_structure(session: AsyncSession, structure_id: int) -> list[PayrollRun]:
    """Calculated or approved runs with a payslip of a contract version on the structure."""
    stmt = (select(PayrollRun).join(Payslip, col(Payslip.run_id) == col(PayrollRun.id))
            .join(EmploymentContract, col(EmploymentContract.id) == col(Payslip.contract_id))
            .where(col(PayrollRun.status).in_(PENDING_STATUSES),
                   EmploymentContract.salary_structure_id == structure_id)
            .distinct().order_by(col(PayrollRun.id)))
    return list((await session.exec(stmt)).all())


async def _contracts_using(session: AsyncSession, structure_id: int, on: date) -> int:
    """How many current contract versions (not superseded, not ended before `on`) use the structure."""
    stmt = select(func.count()).select_from(EmploymentContract).where(
        EmploymentContract.salary_structure_id == structure_id, col(EmploymentContract.superseded_at).is_(None),
        col(EmploymentContract.deleted_at).is_(None),
        (col(EmploymentContract.end_date).is_(None)) | (col(EmploymentContract.end_date) >= on))
    return int((await session.exec(stmt)).one())


def _runs_named(runs: Iterable[PayrollRun]) -> str:
    return ", ".join(f"{r.period} (run {r.id}, {r.status})" for r in runs)


async def checked_components(row: SalaryStructure, components: list[dict[str, Any]],
                             session: AsyncSession) -> str:
    """Return the stored JSON of `components` (dicts of the engine Component fields) for structure `row`, after
    the checks create_structure makes: the engine compiles the whole list in a worker thread (formulas may use only
    values known at their position), and every tax table named exists in the structure's currency. The structure's
    inputs are kept. Raises InvalidInput naming the component."""
    stored = {"components": service.components_json(components),
              "inputs": json.loads(row.components).get("inputs", [])}
    candidate = SalaryStructure(code=row.code, name=row.name, currency=row.currency, components=json.dumps(stored))
    await service.check_structure(session, candidate)
    return candidate.components


def component_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    """Rule: what an edit does to a structure's components, matched by code: codes added, codes removed, and per
    code kept the fields whose values differ ({field: [before, after]}; `position` when it moved)."""
    old = {c["code"]: (i, c) for i, c in enumerate(before)}
    new = {c["code"]: (i, c) for i, c in enumerate(after)}
    changed: dict[str, dict[str, list[Any]]] = {}
    for code in [c["code"] for c in after if c["code"] in old]:
        (i, a), (j, b) = old[code], new[code]
        fields = {k: [a.get(k), b.get(k)] for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}
        if i != j:
            fields["position"] = [i + 1, j + 1]
        if fields:
            changed[code] = fields
    return {"added": [c["code"] for c in after if c["code"] not in old],
            "removed": [c["code"] for c in before if c["code"] not in new], "changed": changed}


async def plan_update_salary_structure(session: AsyncSession, actor: Actor, *, structure_id: int,
                                       components: list[dict[str, Any]], name: str | None = None) -> Plan:
    """Plan replacing a salary structure's whole component list (and optionally its name): one update of the
    structure row at the version read, so an edit since the preview makes the action stale. Every later
    calculation pays by the new list; posted payslips keep their lines. The preview lists the components added,
    removed and changed and how many current contracts use the structure. Raises NotFound, InvalidInput (the
    components, as create_salary_structure; a list equal to today's), Conflict (a calculated or approved run pays
    contracts of the structure: named)."""
    row = await service.get_structure(session, structure_id)
    stored = await checked_components(row, components, session)
    before = json.loads(row.components)["components"]
    after = json.loads(stored)["components"]
    new_name = row.name if name is None else name.strip()
    if before == after and new_name == row.name:
        raise InvalidInput(f"structure {row.code} already has exactly these components; nothing would change",
                           field="components")
    pending = await _pending_runs_of_structure(session, structure_id)
    if pending:
        raise Conflict(f"payroll run(s) {_runs_named(pending)} pay contracts of structure {row.code} and are not "
                       "posted: their payslips were computed with its current components; post them, or cancel "
                       "them and calculate again after the change", field="salary_structure_id")
    diff = component_changes(before, after)
    using = await _contracts_using(session, structure_id, utcnow().date())
    preview = {"structure": row.code, "currency": row.currency, "contracts_using": using,
               **diff, "before": {"name": row.name, "components": len(before)},
               "after": {"name": new_name, "components": len(after)}}
    told = [f"{len(diff[k])} {k}" for k in ("added", "removed", "changed") if diff[k]]
    return Plan(command="update_salary_structure",
                summary=f"Update salary structure {row.code} ({', '.join(told) or 'renamed'}); {using} current "
                        "contracts are paid by it from the next calculation",
                preview=preview,
                changes=[Update("salary_structures", row.id or 0, row.version,
                                before={"name": row.name, "components": row.components},
                                after={"name": new_name, "components": stored})])


# ---------------------------------------------------------------- moving contracts


@dataclass(frozen=True)
class _PeriodPaid:
    contract_number: str
    period: str
    period_end: date
    run_id: int
    status: str


async def _current_versions(session: AsyncSession, numbers: list[str]) -> dict[str, EmploymentContract]:
    stmt = select(EmploymentContract).where(col(EmploymentContract.contract_number).in_(numbers),
                                            col(EmploymentContract.superseded_at).is_(None))
    return {c.contract_number: c for c in (await session.exec(stmt)).all()}


async def _periods_from(session: AsyncSession, numbers: list[str], on: date) -> list[_PeriodPaid]:
    """The live payslips of the contracts (any version) in runs calculated, approved, posted or paid whose period
    ends on or after `on`."""
    stmt = (select(EmploymentContract.contract_number, PayrollRun.period, PayrollRun.period_end, PayrollRun.id,
                   PayrollRun.status)
            .select_from(Payslip)
            .join(PayrollRun, col(PayrollRun.id) == col(Payslip.run_id))
            .join(EmploymentContract, col(EmploymentContract.id) == col(Payslip.contract_id))
            .where(col(EmploymentContract.contract_number).in_(numbers),
                   col(PayrollRun.status).in_(PENDING_STATUSES + PAID_STATUSES),
                   col(PayrollRun.period_end) >= on, col(Payslip.status) != PayslipStatus.VOID.value,
                   col(Payslip.reverses_payslip_id).is_(None))
            .order_by(col(PayrollRun.period_end), col(EmploymentContract.contract_number)))
    return [_PeriodPaid(*row) for row in (await session.exec(stmt)).all()]  # type: ignore[call-overload]


def _listed(items: list[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def check_move(contract: EmploymentContract, structure: SalaryStructure,
               effective_from: date) -> tuple[str, str] | None:
    """Rule: why `contract` (its current version) cannot move to `structure` from `effective_from`, as (the input
    field at fault, the reason), or None when it can."""
    number = contract.contract_number
    if contract.currency != structure.currency:
        return "salary_structure_id", f"{number} is in {contract.currency}, structure {structure.code} in " \
                                      f"{structure.currency}"
    if contract.salary_structure_id == structure.id:
        return "salary_structure_id", f"{number} is already on structure {structure.code}"
    if effective_from < contract.start_date:
        return "effective_from", f"{number} starts on {contract.start_date}, after {effective_from}"
    if effective_from < contract.effective_from:
        return "effective_from", (f"{number}'s current version is in force from {contract.effective_from}, after "
                                  f"{effective_from}")
    if contract.end_date is not None and effective_from > contract.end_date:
        return "effective_from", f"{number} ended on {contract.end_date}, before {effective_from}"
    return None


def check_period_start(contract_number: str, rules: CalendarRules, effective_from: date) -> str | None:
    """Rule: why a move of `contract_number`, paid by a calendar of `rules`, cannot start on `effective_from` (a day
    inside one of its pay periods: start on that period's first day or the next's), or None."""
    first, last = rules.period_containing(effective_from)
    if first == effective_from:
        return None
    return (f"{effective_from} is inside {contract_number}'s {rules.frequency.value} pay period {first} to {last}; "
            f"start on {first} or {last + timedelta(days=1)}")


async def plan_move_contracts_to_structure(session: AsyncSession, actor: Actor, *, contract_numbers: list[str],
                                           structure_id: int, effective_from: date, reason: str) -> Plan:
    """Plan moving contracts to another salary structure from `effective_from`: per contract, its current version
    superseded and a new version (number + 1) on the structure from that date, every other term copied. The target
    structure is the plan's basis (an edit of it since the preview makes the action stale), and so is each
    contract's version. Raises NotFound, InvalidInput, Conflict (the rules of the module docstring)."""
    structure = await service.get_structure(session, structure_id)
    numbers = [n.strip().upper() for n in contract_numbers]
    if not numbers or len(numbers) > MAX_MOVED:
        raise InvalidInput(f"contract_numbers must name 1 to {MAX_MOVED} contracts, not {len(numbers)}",
                           field="contract_numbers")
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise InvalidInput(f"contract_numbers names {_listed(repeated)} more than once", field="contract_numbers")
    current = await _current_versions(session, numbers)
    missing = [n for n in numbers if n not in current]
    if missing:
        raise NotFound(f"no contract {_listed(missing)}; list_employment_contracts shows them",
                       field="contract_numbers")
    problems = [p for p in (check_move(current[n], structure, effective_from) for n in numbers) if p]
    if problems:
        raise InvalidInput(f"cannot move: {_listed([why for _, why in problems], 5)}", field=problems[0][0])
    calendars: dict[int | None, CalendarRules] = {}
    inside = []
    for number in numbers:
        calendar_id = current[number].pay_calendar_id
        if calendar_id not in calendars:
            calendars[calendar_id] = service.calendar_rules(await service.get_calendar(session, calendar_id))
        why = check_period_start(number, calendars[calendar_id], effective_from)
        if why:
            inside.append(why)
    if inside:
        raise InvalidInput(f"a salary structure pays whole pay periods: {_listed(inside, 5)}",
                           field="effective_from")
    periods = await _periods_from(session, numbers, effective_from)
    paid = [p for p in periods if p.status in PAID_STATUSES]
    if paid:
        raise Conflict(
            f"{_listed([f'{p.contract_number} was paid for {p.period} (run {p.run_id})' for p in paid], 5)}: a paid "
            f"period keeps its structure; move from {max(p.period_end for p in paid) + timedelta(days=1)} (the day "
            "after the last paid period) or later", field="effective_from")
    pending = sorted({(p.run_id, p.period, p.status) for p in periods})
    if pending:
        named = ", ".join(f"{period} (run {rid}, {status})" for rid, period, status in pending)
        raise Conflict(f"payroll run(s) {named} pay these contracts and are not posted: post them, or cancel them and "
                       "calculate again after the move", field="contract_numbers")
    changes: list[Any] = []
    moved: list[dict[str, Any]] = []
    for index, number in enumerate(numbers):
        old = current[number]
        values = service.next_version(old, reason=reason, effective_from=effective_from,
                                      salary_structure_id=structure.id)
        changes.append(Update("employment_contracts", old.id or 0, old.version, before={"superseded_at": None},
                              after={"superseded_at": NOW}))
        changes.append(Insert("employment_contracts", values, ref=f"contract:{index}"))
        moved.append({"contract": number, "employee_id": old.employee_id,
                      "from_structure_id": old.salary_structure_id, "version_no": old.version_no + 1})
    sources = await service.reference_codes(session, "salary_structure",
                                            {m["from_structure_id"] for m in moved})
    for item in moved:
        item["from"] = sources.get(item.pop("from_structure_id"), "?")
    preview = {"structure": structure.code, "currency": structure.currency,
               "effective_from": effective_from.isoformat(), "contracts": len(moved), "reason": reason,
               "moves": moved[:100], "more": max(0, len(moved) - 100)}
    return Plan(command="move_contracts_to_structure",
                summary=f"Move {len(moved)} contract(s) to salary structure {structure.code} from {effective_from}",
                preview=preview, changes=changes,
                basis=[Read("salary_structures", structure.id or 0, structure.version,
                            f"salary structure {structure.code}")])


def moved_out(plan: Plan, structure: SalaryStructure) -> MovedContractsOut:
    """What an applied move did: the structure, the date and the contract numbers moved."""
    inserts = inserted_rows(plan, "employment_contracts")
    return MovedContractsOut(salary_structure_id=structure.id or 0, salary_structure_code=structure.code,
                             effective_from=inserts[0].values["effective_from"], moved=len(inserts),
                             contract_numbers=[c.values["contract_number"] for c in inserts])
