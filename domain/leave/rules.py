"""Pure rules of leave: accrual, the hours a request takes, the bounds of a request, rounding. No I/O.

Names and units: hours are exact `Fraction`s here; stored as integer hundredths of an hour (`*_x100`), rounded half
up (half away from zero for negative figures, so a reversal is the exact opposite) by `to_x100`. A day of leave is
7.6 hours unless a request says otherwise: 38 ordinary hours a week (Fair Work Act 2009 (Cth) s 62, the maximum
weekly hours of the National Employment Standards) over 5 days.

The default leave types (seeded by the migration f2b8d4c1e6a3, as DEFAULT_TYPES says):
- ANNUAL, annual leave: paid; 4 weeks a year for each year of service (Fair Work Act 2009 s 87(1)(a)), accruing
  progressively according to ordinary hours (s 87(2)): 4 x 38 h over 52 x 38 h = 1/13 hour per ordinary hour;
  annual leave loading applies (its rate, e.g. 17.5 %, is the award's or contract's: payroll applies it); paid out
  on termination (s 90(2)); a public holiday during annual leave is not annual leave taken (s 89). STP Phase 2
  paid leave type O.
- PERSONAL, personal/carer's leave: paid; 10 days a year (s 96(1)), accruing progressively according to ordinary
  hours (s 96(2)): 76 h over 1,976 h = 1/26 hour per ordinary hour; not paid out on termination (the NES pay out
  only annual leave, s 90(2)). STP O.
- LSL, long service leave (Victoria): paid; Long Service Leave Act 2018 (Vic) s 6: after 7 years of continuous
  employment an employee is entitled to 1/60 of the total period of continuous employment (less leave taken),
  accrued here as 1/60 hour per ordinary hour paid (the Act counts continuous employment, not hours: for an
  employee paid their ordinary hours throughout the two agree; periods of absence counted by ss 12-14 are not
  modelled). It may be taken only after 7 years (s 6; leave in advance by agreement, s 8, is not supported) and
  is paid out on termination after 7 years of continuous employment (s 9, "What happens if employment ends before
  leave is taken?"; its exceptions, e.g. death (s 10), are not modelled). Public holidays are not LSL taken (s 7).
  Section numbers are those of the Act as enacted (the table of provisions of the Long Service Leave Bill 2017,
  which became the Act); unverified against the current compilation: check them before relying on them.
- UNPAID, unpaid leave: not paid, accrues nothing, no STP leave code: payroll treats its days as unpaid days.

Errors: InvalidInput naming the field (start_date, end_date, hours, hours_per_day, ordinary_hours) and what is
allowed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from domain.kernel.clock import date_range_problem
from domain.kernel.errors import InvalidInput

HOURS_SCALE = 100
"""Stored hours are integer hundredths of an hour."""

STANDARD_DAY_HOURS = Fraction(38, 5)
"""7.6 hours: 38 ordinary hours a week (Fair Work Act 2009 s 62) over 5 working days."""

MAX_REQUEST_DAYS = 366
"""The longest leave request, in calendar days (a year, a leap year's too)."""

MAX_HOURS_PER_DAY = 24

MAX_ORDINARY_HOURS = 10_000
"""A bound on the ordinary hours of one pay period passed to accrual_hours (a month has at most 744 hours)."""

FWA = "Fair Work Act 2009 (Cth)"
LSL_VIC = "Long Service Leave Act 2018 (Vic)"


@dataclass(frozen=True)
class LeaveTypeInfo:
    """A leave type as payroll reads it: `accrual_per_hour` hours accrue per ordinary hour paid (None: it does not
    accrue), `loading` whether annual leave loading applies, `stp_code` its STP Phase 2 paid leave code;
    `service_years` the years of continuous service before it may be taken or paid out (LSL: 7), else None."""

    code: str
    name: str
    paid: bool
    accrual_per_hour: Fraction | None
    loading: bool
    payable_on_termination: bool
    stp_code: str | None
    service_years: int | None = None


@dataclass(frozen=True)
class LeaveTaken:
    """The part of an approved request inside a pay period: its hours and working days there."""

    request_id: int
    type_code: str
    paid: bool
    loading: bool
    stp_code: str | None
    hours: Fraction
    days: Fraction


@dataclass(frozen=True, eq=False)
class PayslipLeave:
    """A payslip's leave as posting reads it: hours accrued and paid out on termination by leave type code, and the
    approved requests taken. Compared and hashed by identity: payslips with the same leave record (most of a run's)
    share one object, so their movements are worked out once (service.post_payslip_movements)."""

    accrued: Mapping[str, Fraction]
    taken: tuple[LeaveTaken, ...]
    paid_out: Mapping[str, Fraction]


@dataclass(frozen=True)
class Movement:
    """One signed change of a leave balance, in hours: + for accrual (and a positive adjustment), - for taken and
    payout; `source` names what made it ("payslip:123")."""

    employee_id: int
    type_code: str
    kind: str
    hours: Fraction
    on: date
    source: str
    request_id: int | None = None


DEFAULT_TYPES: tuple[dict, ...] = (
    {"code": "ANNUAL", "name": "Annual leave", "paid": True, "accrual": Fraction(1, 13), "loading": True,
     "payable_on_termination": True, "service_years": None, "stp_code": "O",
     "source": f"{FWA} s 87(1)(a), s 87(2) (4 weeks a year, accruing with ordinary hours), s 89, s 90(2)"},
    {"code": "PERSONAL", "name": "Personal/carer's leave", "paid": True, "accrual": Fraction(1, 26),
     "loading": False, "payable_on_termination": False, "service_years": None, "stp_code": "O",
     "source": f"{FWA} s 96(1), s 96(2) (10 days a year, accruing with ordinary hours)"},
    {"code": "LSL", "name": "Long service leave (Victoria)", "paid": True, "accrual": Fraction(1, 60),
     "loading": False, "payable_on_termination": True, "service_years": 7, "stp_code": "O",
     "source": f"{LSL_VIC} s 6 (1/60 of continuous employment, after 7 years), s 7, s 9 (paid on termination "
               "after 7 years)"},
    {"code": "UNPAID", "name": "Unpaid leave", "paid": False, "accrual": None, "loading": False,
     "payable_on_termination": False, "service_years": None, "stp_code": None,
     "source": "No entitlement: unpaid days reduce pay"},
)
"""The leave types every school starts with (the migration seeds a copy of these)."""


# ---------------------------------------------------------------- hours and rounding


def to_x100(hours: Fraction | Decimal | int) -> int:
    """Return `hours` in integer hundredths of an hour, rounded half up (half away from zero when negative)."""
    value = hours if isinstance(hours, Fraction) else Fraction(hours)
    numerator, denominator = value.numerator * HOURS_SCALE, value.denominator
    whole, rest = divmod(abs(numerator), denominator)  # integers only: payroll rounds tens of thousands at once
    if 2 * rest >= denominator:
        whole += 1
    return -whole if numerator < 0 else whole


def from_x100(value: int) -> Fraction:
    """Return stored hundredths of an hour as exact hours."""
    return Fraction(value, HOURS_SCALE)


def hours_decimal(hours: Fraction) -> Decimal:
    """Return hours as a Decimal of exactly two places (rounded half up), for answers: 80 h is 80.00."""
    return Decimal(to_x100(hours)).scaleb(-2)


def days_of(hours: Fraction, hours_per_day: Fraction = STANDARD_DAY_HOURS) -> Fraction:
    """Return how many days of `hours_per_day` (default 7.6) `hours` are, exactly."""
    return Fraction(hours) / hours_per_day


def accrual_hours(types: list[LeaveTypeInfo], ordinary_hours: Fraction) -> dict[str, Fraction]:
    """Return the hours each accruing type accrues for `ordinary_hours` paid in a pay period, exactly, by type
    code: ordinary hours x the type's accrual per ordinary hour (ANNUAL 1/13: Fair Work Act 2009 s 87(2); PERSONAL
    1/26: s 96(2); LSL 1/60: Long Service Leave Act 2018 (Vic) s 6). Types that do not accrue are left out. E.g.
    76 ordinary hours (a fortnight of 38-hour weeks): ANNUAL 76/13 = 5.846... (stored 5.85), PERSONAL 76/26 =
    2.923... (stored 2.92), LSL 76/60 = 1.266... (stored 1.27). Raises InvalidInput (ordinary_hours) when negative
    or above MAX_ORDINARY_HOURS."""
    hours = Fraction(ordinary_hours)
    if hours < 0 or hours > MAX_ORDINARY_HOURS:
        raise InvalidInput(f"ordinary hours {float(hours):g} are outside 0..{MAX_ORDINARY_HOURS} for one pay period",
                           field="ordinary_hours")
    return {t.code: hours * t.accrual_per_hour for t in types if t.accrual_per_hour is not None}


# ---------------------------------------------------------------- requests


def check_request(start: date, end: date, *, hours_per_day: Fraction, hours: Fraction | None) -> None:
    """Check a leave request's bounds: both dates within 1900-01-01..2199-12-31 (domain.kernel.clock), the end on
    or after the start, at most MAX_REQUEST_DAYS (366) calendar days, hours a day above 0 and at most 24, explicit
    hours (a part day) above 0. Raises InvalidInput naming the field."""
    for name, value in (("start_date", start), ("end_date", end)):
        problem = date_range_problem(value)
        if problem:
            raise InvalidInput(f"{name}: {problem}", field=name)
    if end < start:
        raise InvalidInput(f"end_date {end} is before start_date {start}; a request ends on or after its start",
                           field="end_date")
    length = (end - start).days + 1
    if length > MAX_REQUEST_DAYS:
        raise InvalidInput(f"the request spans {length} days, more than the {MAX_REQUEST_DAYS} allowed; split it "
                           "into requests of at most a year", field="end_date")
    if not 0 < hours_per_day <= MAX_HOURS_PER_DAY:
        raise InvalidInput(f"hours_per_day {float(hours_per_day):g} must be above 0 and at most "
                           f"{MAX_HOURS_PER_DAY}", field="hours_per_day")
    if hours is not None and hours <= 0:
        raise InvalidInput(f"hours {float(hours):g} must be above 0 (omit it to take whole days)", field="hours")


def requested_hours(working_days: int, *, hours_per_day: Fraction, hours: Fraction | None) -> Fraction:
    """Return the hours a request takes: its working days x hours a day, or the explicit `hours` of a part-day
    request, which may not exceed its working days x 24 hours. Public holidays are not working days, so they are
    not leave taken (Fair Work Act 2009 s 89; Long Service Leave Act 2018 (Vic) s 7). Raises InvalidInput when the
    request holds no working day (field end_date) or the explicit hours exceed that bound (field hours)."""
    if working_days <= 0:
        raise InvalidInput("the request holds no working day (only weekends and public holidays); public holidays "
                           "are not leave taken (Fair Work Act 2009 s 89)", field="end_date")
    if hours is None:
        return working_days * Fraction(hours_per_day)
    most = working_days * MAX_HOURS_PER_DAY
    if hours > most:
        raise InvalidInput(f"hours {float(hours):g} exceed the {most} hours of its {working_days} working day(s)",
                           field="hours")
    return Fraction(hours)


def hours_inside(*, inside_days: int, all_days: int, hours_per_day: Fraction, total_hours: Fraction,
                 explicit: bool) -> Fraction:
    """Return the hours of a request falling on `inside_days` of its `all_days` working days: those days x its
    hours a day, or for an explicit-hours request its hours prorated by working days (total x inside / all)."""
    if inside_days <= 0 or all_days <= 0:
        return Fraction(0)
    if explicit:
        return Fraction(total_hours) * inside_days / all_days
    return inside_days * Fraction(hours_per_day)


def overlaps(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    """Whether two inclusive date ranges share a day."""
    return a_start <= b_end and b_start <= a_end


def completed_years(start: date, on: date) -> int:
    """Return the whole years from `start` to `on` (the anniversary counts: 2019-03-01 to 2026-03-01 is 7)."""
    if on < start:
        return 0
    years = on.year - start.year
    if (on.month, on.day) < (start.month, start.day):
        years -= 1
    return years


KINDS = ("accrual", "taken", "payout", "adjustment", "reversal")

SIGNS = {"accrual": 1, "taken": -1, "payout": -1}
"""The sign each kind of movement must have (+ adds to the balance, - takes from it); adjustments and reversals
take either."""


def check_movement(kind: str, hours: Fraction, *, field: str = "movements") -> None:
    """Check a movement's kind (accrual, taken, payout, adjustment, reversal) and that its hours have the kind's
    sign (SIGNS). Raises InvalidInput naming `field`."""
    if kind not in KINDS:
        raise InvalidInput(f"movement kind {kind!r} is unknown; use one of {', '.join(KINDS)}", field=field)
    sign = SIGNS.get(kind)
    if sign is not None and (hours.numerator < 0 if sign > 0 else hours.numerator > 0):
        raise InvalidInput(f"a {kind} movement of {float(hours):g} h has the wrong sign: {kind} hours are "
                           f"{'positive' if sign > 0 else 'negative'} (they {'add to' if sign > 0 else 'take from'} "
                           "the balance)", field=field)
