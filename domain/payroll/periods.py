"""Pay periods of a pay calendar: which days a period covers, what it is called, when it is paid. Pure: no I/O.

A monthly calendar's periods are calendar months, labelled YYYY-MM (2026-06). A weekly or fortnightly calendar's
periods are 7 or 14 days long, starting on its anchor date and every 7 or 14 days before and after it, labelled by
their first day, YYYY-MM-DD (2026-06-29). A period's pay date is its last day plus the calendar's pay-day offset
(negative: paid before the period ends, as schools often pay on the Thursday of the second week).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from domain.kernel.errors import InvalidInput
from domain.payroll.tax import PayFrequency

CALENDAR_FREQUENCIES = (PayFrequency.WEEKLY, PayFrequency.FORTNIGHTLY, PayFrequency.MONTHLY)
"""The frequencies a pay calendar may have (issue 18: weekly, fortnightly and monthly pay calendars)."""
MAX_PAY_DAY_OFFSET = 31
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class CalendarRules:
    """What periods a calendar makes: frequency (weekly, fortnightly, monthly), the anchor date weekly and
    fortnightly periods count from, and the pay-day offset in days from a period's last day."""

    frequency: PayFrequency
    anchor_date: date
    pay_day_offset: int = 0

    def __post_init__(self) -> None:
        try:
            frequency = PayFrequency(self.frequency)
        except ValueError:
            frequency = None
        if frequency not in CALENDAR_FREQUENCIES:
            raise InvalidInput(f"pay frequency {self.frequency!r} is not allowed for a pay calendar; use weekly, "
                               "fortnightly or monthly", field="frequency")
        object.__setattr__(self, "frequency", frequency)
        if not -MAX_PAY_DAY_OFFSET <= self.pay_day_offset <= MAX_PAY_DAY_OFFSET:
            raise InvalidInput(f"pay_day_offset {self.pay_day_offset} must be from -{MAX_PAY_DAY_OFFSET} to "
                               f"{MAX_PAY_DAY_OFFSET} days from a period's last day", field="pay_day_offset")

    @property
    def length_days(self) -> int | None:
        """7 (weekly), 14 (fortnightly), None (monthly: calendar months)."""
        return {PayFrequency.WEEKLY: 7, PayFrequency.FORTNIGHTLY: 14}.get(self.frequency)

    def period_containing(self, day: date) -> tuple[date, date]:
        """Return the first and last day of the period that holds `day`."""
        if self.length_days is None:
            return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
        offset = (day - self.anchor_date).days % self.length_days
        start = day - timedelta(days=offset)
        return start, start + timedelta(days=self.length_days - 1)

    def label(self, start: date) -> str:
        """The label of the period starting on `start`: YYYY-MM (monthly) or YYYY-MM-DD."""
        return f"{start.year:04d}-{start.month:02d}" if self.length_days is None else start.isoformat()

    def bounds(self, label: str) -> tuple[date, date]:
        """Return the first and last day of the period `label` names. Raises InvalidInput (field period) when the
        label is malformed, or names a day on which no period of this calendar starts (saying the nearest)."""
        if self.length_days is None:
            match = _MONTH.fullmatch(label or "")
            try:
                if not match:
                    raise ValueError
                start = date(int(match[1]), int(match[2]), 1)
            except ValueError:
                raise InvalidInput(f"period {label!r} must be a month as YYYY-MM (e.g. 2026-11) for a monthly "
                                   "calendar", field="period") from None
            return self.period_containing(start)
        try:
            if not _DAY.fullmatch(label or ""):
                raise ValueError
            start = date.fromisoformat(label)
        except ValueError:
            raise InvalidInput(f"period {label!r} must be the period's first day as YYYY-MM-DD for a "
                               f"{self.frequency.value} calendar", field="period") from None
        first, last = self.period_containing(start)
        if first != start:
            raise InvalidInput(f"no {self.frequency.value} period starts on {label}; the period holding it starts "
                               f"on {first.isoformat()} (periods start on {self.anchor_date.isoformat()} and every "
                               f"{self.length_days} days from it)", field="period")
        return first, last

    def pay_date(self, end: date) -> date:
        """The pay date of the period ending on `end`."""
        return end + timedelta(days=self.pay_day_offset)

    def previous(self, label: str) -> str:
        """The label of the period before `label`."""
        start, _ = self.bounds(label)
        return self.label(self.period_containing(start - timedelta(days=1))[0])
