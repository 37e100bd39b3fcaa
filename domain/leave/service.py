"""Leave use cases, and the interface payroll calls (the only module of leave other contexts import).

Leave is its own context, as Odoo's hr_holidays is beside its payroll: leave types and their rules, employees'
requests (requested -> approved through the gate | rejected | cancelled) and the movements ledger of leave hours.
A balance is the sum of an employee's movements of a type; nothing is edited or deleted (a reversal writes the
opposite rows). Payroll, per pay period: `taken_in_period` (approved leave inside the period), `accrual_hours`
(hours accrued for the ordinary hours paid), `post_movements` and `post_payslip_movements` (accrual and taken rows
in bulk), `reverse_movements` (a voided payslip's), `balances` and `termination_payable` (final pay).

Units: hours are exact Fractions in this interface and integer hundredths of an hour in the tables (rounded half
up, domain.leave.rules.to_x100); a day of leave is 7.6 hours unless a request says otherwise (38 hours a week, Fair
Work Act 2009 (Cth) s 62, over 5 days). Working days are Monday to Friday less the public holidays of the country
and state (domain.kernel.workdays): a public holiday inside leave is not leave taken (s 89). The rules of each type
are cited in domain/leave/rules.py.

Errors: NotFound (employee_id, leave_type, request_id), InvalidInput (bad dates, hours, subdivision, movements;
the field named), Conflict (overlapping requests, a request in another status, hours above the balance, LSL before
7 years of service).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import service as hr
from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.workdays import working_dates
from domain.leave import repository as repo
from domain.leave import rules
from domain.leave.models import LeaveRequest, LeaveType, MovementKind, RequestStatus
from domain.leave.rules import (  # completed_years: for payroll (service is the context's only import)
    STANDARD_DAY_HOURS,
    LeaveTaken,
    LeaveTypeInfo,
    Movement,
    PayslipLeave,
    completed_years,
    from_x100,
    to_x100,
)

MAX_SOURCE = 80
MAX_MOVEMENTS = 200_000
"""The most movements one post_movements call takes (a fortnight of 10,000 employees is about 30,000)."""


# ---------------------------------------------------------------- leave types


def type_info(row: LeaveType) -> LeaveTypeInfo:
    """A leave type row as payroll reads it."""
    accrual = (Fraction(row.accrual_numerator, row.accrual_denominator)
               if row.accrual_numerator is not None and row.accrual_denominator else None)
    return LeaveTypeInfo(code=row.code, name=row.name, paid=row.paid, accrual_per_hour=accrual, loading=row.loading,
                         payable_on_termination=row.payable_on_termination, stp_code=row.stp_code,
                         service_years=row.service_years)


async def leave_types(session: AsyncSession) -> list[LeaveTypeInfo]:
    """Return every live leave type (seeded: ANNUAL, PERSONAL, LSL, UNPAID; rules cited in domain/leave/rules.py),
    in id order."""
    return [type_info(row) for row in await repo.leave_types(session)]


async def leave_type_rows(session: AsyncSession) -> list[LeaveType]:
    """Return every live leave type row, in id order (for answers that show the source of its rules)."""
    return await repo.leave_types(session)


async def get_leave_type(session: AsyncSession, code: str, *, field: str = "leave_type") -> LeaveType:
    """Return the live leave type of `code` (any case); raises NotFound naming `field` and the known codes."""
    rows = await repo.leave_types(session)
    wanted = code.strip().upper()
    for row in rows:
        if row.code.upper() == wanted:
            return row
    raise NotFound(f"{field}: no leave type has the code {code!r}; the leave types are "
                   f"{', '.join(r.code for r in rows)} (list_leave_types)", field=field)


def accrual_hours(types: list[LeaveTypeInfo], ordinary_hours: Fraction) -> dict[str, Fraction]:
    """Return the hours each accruing type accrues for `ordinary_hours` paid in a pay period, exactly, by type code
    (domain.leave.rules.accrual_hours: ANNUAL 1/13, PERSONAL 1/26, LSL 1/60 hour per ordinary hour). Stored
    rounded half up to hundredths of an hour by post_movements. Raises InvalidInput for negative hours."""
    return rules.accrual_hours(types, ordinary_hours)


# ---------------------------------------------------------------- payroll's interface


async def taken_in_period(session: AsyncSession, *, employee_ids: list[int], start: date, end: date, country: str,
                          subdivision: str | None) -> dict[int, list[LeaveTaken]]:
    """Return, for each of `employee_ids` (every one a key, [] when none), the approved leave inside the pay period
    start..end: per approved request sharing a day with it, the request's working dates inside the period (Monday
    to Friday less the public holidays of `country`/`subdivision`, the payroll's) and their hours: those dates x
    the request's hours a day, or for an explicit-hours request its hours prorated by working dates (hours x dates
    inside / all its dates). `days` is hours / the request's hours a day (the working dates inside, for whole-day
    requests; 0.5 for a half day). One query per 30,000 employees. Raises InvalidInput for an unknown country or
    subdivision."""
    out: dict[int, list[LeaveTaken]] = {employee_id: [] for employee_id in employee_ids}
    if end < start:
        return out
    types = {t.code: t for t in await leave_types(session)}
    for req, code in await repo.approved_in(session, employee_ids=employee_ids, start=start, end=end):
        all_dates = working_dates(req.start_date, req.end_date, country=country, subdivision=subdivision)
        inside = sum(1 for d in all_dates if start <= d <= end)
        if not inside:
            continue
        per_day = from_x100(req.hours_per_day_x100)
        hours = rules.hours_inside(inside_days=inside, all_days=len(all_dates), hours_per_day=per_day,
                                   total_hours=from_x100(req.hours_x100), explicit=req.explicit_hours)
        kind = types[code]
        out.setdefault(req.employee_id, []).append(LeaveTaken(
            request_id=req.id or 0, type_code=code, paid=kind.paid, loading=kind.loading, stp_code=kind.stp_code,
            hours=hours, days=hours / per_day))
    return out


MOVEMENT_COLUMNS = ("employee_id", "leave_type_id", "kind", "hours_x100", "on_date", "source", "request_id", "note",
                    "created_at")
"""The leave_movements columns the posting functions write, in their records' order."""


def _checked(movement: Movement, index: int, type_ids: Mapping[str, int]) -> tuple[int, int]:
    """(leave type id, hours in hundredths rounded half up) of `movement`, the movements[index] of a posting, checked
    as post_movements says (kind and sign, type code, source); raises InvalidInput naming movements[index]."""
    where = f"movements[{index}]"
    hours = movement.hours if isinstance(movement.hours, Fraction) else Fraction(movement.hours)
    rules.check_movement(movement.kind, hours, field=where)
    type_id = type_ids.get(movement.type_code)
    if type_id is None:
        raise InvalidInput(f"{where}: leave type {movement.type_code!r} is unknown; known: {', '.join(type_ids)}",
                           field=where)
    _check_source(movement.source, index)
    return type_id, to_x100(hours)


def _check_source(source: str, index: int) -> None:
    if not source or len(source) > MAX_SOURCE:
        where = f"movements[{index}]"
        raise InvalidInput(f"{where}: the source must have 1 to {MAX_SOURCE} characters", field=where)


async def post_movements(session: AsyncSession, movements: list[Movement]) -> int:
    """Insert `movements` into the ledger (hours rounded half up to hundredths), with multi-row INSERTs and no ORM
    object per row; return how many rows were written. Each movement's hours carry its sign: accrual +, taken and
    payout -, adjustment and reversal either (rules.check_movement). Raises InvalidInput naming `movements[i]` for
    an unknown kind or type code, a wrong sign, a source longer than 80 characters, or more than MAX_MOVEMENTS."""
    if len(movements) > MAX_MOVEMENTS:
        raise InvalidInput(f"{len(movements)} movements at once; at most {MAX_MOVEMENTS}", field="movements")
    type_ids = await repo.type_ids(session)
    now = utcnow()
    records = []
    for index, m in enumerate(movements):
        type_id, hours_x100 = _checked(m, index, type_ids)
        records.append((m.employee_id, type_id, m.kind, hours_x100, m.on, m.source, m.request_id, None, now))
    return await repo.insert_movement_records(session, MOVEMENT_COLUMNS, records)


async def post_payslip_movements(session: AsyncSession, payslips: Iterable[tuple[int, str, PayslipLeave]], *,
                                 on: date) -> int:
    """Post the movements of payslips, given as (employee id, source such as "payslip:123", its leave) in order:
    the rows post_movements writes for every payslip's payslip_movements dated `on` (the pay date), one after the
    other, in set form: the movements of each distinct PayslipLeave object (payslips with the same leave record
    share one) are made, checked and rounded once, and written for each payslip holding it with its employee and
    source. Returns how many rows were written. Raises InvalidInput as post_movements does, naming the index of the
    first bad movement in the whole list (after the others are checked when there are more than MAX_MOVEMENTS)."""
    type_ids = await repo.type_ids(session)
    now = utcnow()
    # Per leave object, its rows without the employee and source: (leave type id, kind, hours_x100, request id).
    shapes: dict[PayslipLeave, list[tuple[int, str, int, int | None]]] = {}
    records: list[tuple[object, ...]] = []
    for employee_id, source, leave in payslips:
        shape = shapes.get(leave)
        if shape is None:
            movements = payslip_movements(employee_id=employee_id, source=source, on=on, accrued=leave.accrued,
                                          taken=leave.taken, paid_out=leave.paid_out)
            shape = shapes[leave] = [(*_checked(m, len(records) + n, type_ids), m.kind, m.request_id)
                                     for n, m in enumerate(movements)]
        elif shape:
            _check_source(source, len(records))
        records += [(employee_id, type_id, kind, hours_x100, on, source, request_id, None, now)
                    for type_id, hours_x100, kind, request_id in shape]
    if len(records) > MAX_MOVEMENTS:
        raise InvalidInput(f"{len(records)} movements at once; at most {MAX_MOVEMENTS}", field="movements")
    return await repo.insert_movement_records(session, MOVEMENT_COLUMNS, records)


def payslip_movements(*, employee_id: int, source: str, on: date, accrued: Mapping[str, Fraction],
                      taken: Iterable[LeaveTaken], paid_out: Mapping[str, Fraction]) -> list[Movement]:
    """Return the movements of one payslip, for post_movements: + each type's accrued hours, - the hours of each
    approved request taken in it (one movement per request, carrying its id, so the request's approved hours stop
    counting as approved-and-not-yet-taken once paid), - each type's hours paid out on termination; all dated `on`
    (the pay date) with `source` ("payslip:<id>", what reverse_movements reverses). Zero figures are left out."""
    out = [Movement(employee_id=employee_id, type_code=code, kind=MovementKind.ACCRUAL.value, hours=hours, on=on,
                    source=source) for code, hours in sorted(accrued.items()) if hours]
    out += [Movement(employee_id=employee_id, type_code=item.type_code, kind=MovementKind.TAKEN.value,
                     hours=-item.hours, on=on, source=source, request_id=item.request_id)
            for item in taken if item.hours]
    out += [Movement(employee_id=employee_id, type_code=code, kind=MovementKind.PAYOUT.value, hours=-hours, on=on,
                     source=source) for code, hours in sorted(paid_out.items()) if hours]
    return out


async def reverse_movements(session: AsyncSession, *, sources: list[str], on: date) -> int:
    """Write, on `on`, the opposite of every movement of `sources` (kind reversal, the same employee, type, source
    and request), so each source then sums to zero; return how many rows were written. Idempotent: a source that
    already has reversal rows is skipped (a second call writes nothing). Nothing is edited or deleted."""
    rows = await repo.movements_of_sources(session, sources)
    reversed_sources = {row.source for row in rows if row.kind == MovementKind.REVERSAL.value}
    now = utcnow()
    new = [{"employee_id": row.employee_id, "leave_type_id": row.leave_type_id, "kind": MovementKind.REVERSAL.value,
            "hours_x100": -row.hours_x100, "on_date": on, "source": row.source, "request_id": row.request_id,
            "note": None, "created_at": now}
           for row in rows if row.source not in reversed_sources and row.hours_x100 != 0]
    return await repo.insert_movements(session, new)


async def balances(session: AsyncSession, *, employee_ids: list[int],
                   on: date | None = None) -> dict[int, dict[str, Fraction]]:
    """Return each employee's balance in hours by type code (the sum of their movements; movements up to `on`
    inclusive when given). Every employee of `employee_ids` is a key; a type without movements is absent (0). One
    grouped query per 30,000 employees."""
    out: dict[int, dict[str, Fraction]] = {employee_id: {} for employee_id in employee_ids}
    for employee_id, code, hours_x100 in await repo.balances(session, employee_ids, on=on):
        out.setdefault(employee_id, {})[code] = from_x100(hours_x100)
    return out


async def termination_payable(session: AsyncSession, *, employee_id: int, on: date,
                              service_start: date) -> dict[str, Fraction]:
    """Return the hours of each leave type payable on termination on `on`, by code: the positive balance (movements
    up to `on`) of every type paid out on termination (ANNUAL: Fair Work Act 2009 s 90(2)), and for a type with
    `service_years` (LSL: Long Service Leave Act 2018 (Vic) s 9) only after that many whole years of continuous
    employment from `service_start`. Personal/carer's leave is not paid out. Types with nothing payable are
    absent."""
    types = [t for t in await leave_types(session) if t.payable_on_termination]
    held = (await balances(session, employee_ids=[employee_id], on=on))[employee_id]
    years = rules.completed_years(service_start, on)
    out: dict[str, Fraction] = {}
    for t in types:
        hours = held.get(t.code, Fraction(0))
        if hours <= 0 or (t.service_years is not None and years < t.service_years):
            continue
        out[t.code] = hours
    return out


# ---------------------------------------------------------------- requests


async def _types_by_id(session: AsyncSession) -> dict[int, LeaveType]:
    return {row.id or 0: row for row in await repo.leave_types(session)}


async def type_codes(session: AsyncSession) -> dict[int, str]:
    """{leave type id: code} of every live type (answers show codes, not type ids)."""
    return {type_id: row.code for type_id, row in (await _types_by_id(session)).items()}


def _working_dates(start: date, end: date, *, country: str, subdivision: str | None) -> list[date]:
    """domain.kernel.workdays.working_dates, with an unknown state named as the subdivision (python-holidays
    reports it as NotImplementedError, which workdays reads as an unknown country)."""
    try:
        return working_dates(start, end, country=country, subdivision=subdivision)
    except InvalidInput as exc:
        if subdivision is None or exc.field != "country":
            raise
        try:
            working_dates(start, start, country=country, subdivision=None)
        except InvalidInput:
            raise exc from None
        raise InvalidInput(f"{country} has no state or territory {subdivision!r}; use an ISO 3166-2 code without the "
                           "country, such as VIC, NSW or QLD", field="subdivision") from None


def _label(req: LeaveRequest, code: str) -> str:
    return f"leave request {req.id} ({code} {req.start_date} to {req.end_date}, {req.status})"


async def request_leave(session: AsyncSession, actor: Actor, *, employee_id: int, leave_type: str, start_date: date,
                        end_date: date, hours_per_day: Fraction | None = None, hours: Fraction | None = None,
                        reason: str | None = None, country: str = "AU",
                        subdivision: str | None = None) -> LeaveRequest:
    """Record a leave request (status requested) of a live employee for a leave type code, from start_date to
    end_date inclusive. Its hours: the working days (Monday to Friday less `country`/`subdivision` public holidays,
    which are not leave taken: Fair Work Act 2009 s 89) x hours_per_day (default 7.6), or `hours` for a part day.
    E.g. Mon 2026-06-01 to Fri 2026-06-12 in VIC: 9 working days (King's Birthday, 8 June) = 68.4 h; with national
    holidays only, 10 days = 76 h. At most 366 days; dates 1900-2199.

    Raises NotFound (employee_id, leave_type), InvalidInput (rules.check_request, rules.requested_hours; a start
    after the employee's termination date; an unknown subdivision) and Conflict (another requested or approved
    request of the employee sharing a day)."""
    per_day = Fraction(hours_per_day) if hours_per_day is not None else STANDARD_DAY_HOURS
    explicit = Fraction(hours) if hours is not None else None
    rules.check_request(start_date, end_date, hours_per_day=per_day, hours=explicit)
    employee = await hr.get_employee(session, employee_id)
    kind = await get_leave_type(session, leave_type)
    if employee.termination_date is not None and start_date > employee.termination_date:
        raise InvalidInput(f"employee {employee.code} was terminated on {employee.termination_date}; leave cannot "
                           f"start after that ({start_date})", field="start_date")
    sub = subdivision.strip().upper() if subdivision else None
    days = len(_working_dates(start_date, end_date, country=country, subdivision=sub))
    total = rules.requested_hours(days, hours_per_day=per_day, hours=explicit)
    if to_x100(per_day) != per_day * 100 or (explicit is not None and to_x100(explicit) != explicit * 100):
        raise InvalidInput("hours and hours_per_day take at most two decimal places",
                           field="hours" if explicit is not None else "hours_per_day")
    others = await repo.overlapping_requests(session, employee_id=employee_id, start=start_date, end=end_date)
    if others:
        codes = await type_codes(session)
        shown = "; ".join(_label(o, codes.get(o.leave_type_id, "?")) for o in others[:3])
        raise Conflict(f"employee {employee.code} already has leave on some of these days: {shown}; cancel or "
                       "change that request first", field="start_date")
    row = LeaveRequest(employee_id=employee_id, leave_type_id=kind.id or 0, start_date=start_date, end_date=end_date,
                       hours_per_day_x100=to_x100(per_day), hours_x100=to_x100(total), working_days=days,
                       explicit_hours=explicit is not None, country=country.upper(), subdivision=sub, reason=reason,
                       status=RequestStatus.REQUESTED.value, requested_by=actor.id or None)
    session.add(row)
    await session.flush()
    return row


async def get_request(session: AsyncSession, request_id: int) -> LeaveRequest:
    """Return the live leave request; raises NotFound (request_id) naming list_leave_requests."""
    return await repo.get_request_or_raise(session, request_id)


async def list_requests(session: AsyncSession, *, after_id: int, limit: int, employee_id: int | None = None,
                        status: str | None = None, from_date: date | None = None,
                        to_date: date | None = None) -> list[LeaveRequest]:
    """Return up to `limit + 1` requests after `after_id` in id order: of one employee, in one status, and/or
    sharing a day with from_date..to_date. Raises InvalidInput when to_date is before from_date, NotFound
    (employee_id) for an employee no row has (an empty page would read as 'no leave')."""
    if from_date is not None and to_date is not None and to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    rows = await repo.list_requests(session, after_id=after_id, limit=limit, employee_id=employee_id,
                                    status=status, from_date=from_date, to_date=to_date)
    if not rows and employee_id is not None:
        await hr.get_employee(session, employee_id)
    return rows


def _ensure_status(req: LeaveRequest, *allowed: RequestStatus, doing: str) -> None:
    if req.status not in {s.value for s in allowed}:
        raise Conflict(f"leave request {req.id} is {req.status}; only a {' or '.join(s.value for s in allowed)} "
                       f"request can be {doing}", field="request_id")


async def reject_request(session: AsyncSession, actor: Actor, *, request_id: int, reason: str) -> LeaveRequest:
    """Reject a requested leave request with a reason (status rejected; the row is kept). Raises NotFound, Conflict
    (not in status requested)."""
    req = await get_request(session, request_id)
    _ensure_status(req, RequestStatus.REQUESTED, doing="rejected")
    return await _decide(session, actor, req, RequestStatus.REJECTED, reason)


async def cancel_request(session: AsyncSession, actor: Actor, *, request_id: int,
                         reason: str | None = None) -> LeaveRequest:
    """Cancel a requested or approved leave request (status cancelled; the row is kept). Raises NotFound, Conflict
    (another status, or an approved request some of whose hours a payslip already paid: void that payslip
    first)."""
    req = await get_request(session, request_id)
    _ensure_status(req, RequestStatus.REQUESTED, RequestStatus.APPROVED, doing="cancelled")
    taken = (await repo.taken_by_request(session, [request_id])).get(request_id, 0)
    if taken:
        raise Conflict(f"leave request {request_id} has {float(from_x100(taken)):g} h already paid in a payslip; "
                       "void that payslip before cancelling the request", field="request_id")
    return await _decide(session, actor, req, RequestStatus.CANCELLED, reason)


async def _decide(session: AsyncSession, actor: Actor, req: LeaveRequest, status: RequestStatus,
                  reason: str | None) -> LeaveRequest:
    req.status = status.value
    req.decided_by = actor.id or None
    req.decided_at = utcnow()
    req.decision_reason = reason
    bump(req)
    session.add(req)
    await session.flush()
    return req


@dataclass(frozen=True)
class Standing:
    """An employee's standing in one leave type, in hours: the balance (sum of movements), the approved leave not
    yet taken (approved requests' hours less what payslips took of them), and what is available (the difference)."""

    code: str
    balance: Fraction
    committed: Fraction

    @property
    def available(self) -> Fraction:
        return self.balance - self.committed


async def standings(session: AsyncSession, *, employee_id: int, leave_types: list[LeaveType],
                    exclude_request: int | None = None) -> dict[str, Standing]:
    """Return the employee's Standing in each of `leave_types` by code (approved requests other than
    `exclude_request`), in three queries whatever the number of types."""
    held = (await balances(session, employee_ids=[employee_id]))[employee_id]
    wanted = {kind.id or 0: kind.code for kind in leave_types}
    only = next(iter(wanted)) if len(wanted) == 1 else None
    approved = [row for row in await repo.approved_hours(session, employee_id=employee_id, leave_type_id=only,
                                                         exclude_id=exclude_request) if row[1] in wanted]
    taken = await repo.taken_by_request(session, [r for r, _, _ in approved])
    committed: dict[str, Fraction] = {code: Fraction(0) for code in wanted.values()}
    for request_id, type_id, hours_x100 in approved:
        committed[wanted[type_id]] += from_x100(max(0, hours_x100 - taken.get(request_id, 0)))
    return {code: Standing(code=code, balance=held.get(code, Fraction(0)), committed=committed[code])
            for code in wanted.values()}


async def standing(session: AsyncSession, *, employee_id: int, leave_type: LeaveType,
                   exclude_request: int | None = None) -> Standing:
    """Return the employee's Standing in `leave_type` (approved requests other than `exclude_request`)."""
    found = await standings(session, employee_id=employee_id, leave_types=[leave_type],
                            exclude_request=exclude_request)
    return found[leave_type.code]


async def check_approval(session: AsyncSession, req: LeaveRequest) -> tuple[LeaveType, Standing]:
    """Check a request may be approved and return its type and the employee's standing in it (before approval).

    Rules: the request is in status requested (Conflict); the employee not terminated before it starts (Conflict);
    LSL-like types (service_years) only after that many
    years of continuous employment from the hire date to the first day of leave (Long Service Leave Act 2018 (Vic)
    s 6; Conflict); a paid type only when its hours are within the available balance (balance less approved leave
    not yet taken; Conflict naming the balance: leave in advance is not supported). Unpaid leave needs no balance.
    """
    _ensure_status(req, RequestStatus.REQUESTED, doing="approved")
    kind = (await _types_by_id(session)).get(req.leave_type_id)
    if kind is None:
        raise NotFound(f"leave request {req.id}'s leave type no longer exists", field="request_id")
    employee = await hr.get_employee(session, req.employee_id)
    if employee.termination_date is not None and req.start_date > employee.termination_date:
        raise Conflict(f"employee {employee.code} was terminated on {employee.termination_date}, before this leave "
                       f"starts ({req.start_date}); reject or cancel the request", field="request_id")
    if kind.service_years is not None:
        years = rules.completed_years(employee.hire_date, req.start_date)
        if years < kind.service_years:
            raise Conflict(f"{kind.name} may be taken only after {kind.service_years} years of continuous "
                           f"employment; {employee.code} has {years} (hired {employee.hire_date}) on "
                           f"{req.start_date} ({kind.source})", field="request_id")
    held = await standing(session, employee_id=req.employee_id, leave_type=kind, exclude_request=req.id)
    hours = from_x100(req.hours_x100)
    if kind.paid and hours > held.available:
        raise Conflict(f"leave request {req.id} takes {float(hours):g} h of {kind.code} but {employee.code}'s "
                       f"balance is {float(held.balance):g} h ({float(held.committed):g} h already approved and not "
                       f"yet taken, {float(held.available):g} h available); leave in advance is not supported",
                       field="request_id")
    return kind, held


# ---------------------------------------------------------------- balances and adjustments


async def employee_standings(session: AsyncSession, employee_id: int) -> list[tuple[LeaveType, Standing]]:
    """Return the live employee's standing in every leave type, in type order. Raises NotFound (employee_id)."""
    await hr.get_employee(session, employee_id)
    kinds = await repo.leave_types(session)
    found = await standings(session, employee_id=employee_id, leave_types=kinds)
    return [(kind, found[kind.code]) for kind in kinds]


def check_adjustment(kind: LeaveType, held: Standing, hours: Fraction) -> None:
    """Rule: an adjustment is of a paid type, not zero, in hundredths of an hour, and leaves the balance at 0 or
    more (leave in advance is not supported). Raises InvalidInput naming hours or leave_type."""
    if not kind.paid:
        raise InvalidInput(f"{kind.code} ({kind.name}) is not paid and has no balance to adjust", field="leave_type")
    if hours == 0:
        raise InvalidInput("hours must not be 0: give the hours to add (positive) or remove (negative)",
                           field="hours")
    if to_x100(hours) != hours * 100:
        raise InvalidInput("hours take at most two decimal places", field="hours")
    if held.balance + hours < 0:
        raise InvalidInput(f"removing {float(-hours):g} h would leave {kind.code} at "
                           f"{float(held.balance + hours):g} h (balance {float(held.balance):g} h); a balance "
                           "cannot go below 0", field="hours")
