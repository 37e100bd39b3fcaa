"""Time in one place: timestamps are timezone-aware UTC datetimes (stored as UTC on both databases); the range
of business dates (EARLIEST_DATE..LATEST_DATE) that every tool input is held to (tools.types.ToolInput)."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)
"""The range of every date the product takes as business data (payments, invoices, entries, terms, births, hire
dates, report ranges), in this one place: 1900-01-01 covers the oldest birth date or hire date a school records,
and 2199-12-31 is far beyond any academic year or payment schedule; what lies outside (0001-01-01, 9999-12-31) is
a typing slip or a probe, not a date. It also keeps every date inside what both databases, the ledger's period
arithmetic and a spreadsheet (whose calendar starts in 1900) handle."""


def date_range_problem(value: date | datetime) -> str | None:
    """Return why `value` (a date, or a datetime's date) is outside EARLIEST_DATE..LATEST_DATE, or None."""
    day = value.date() if isinstance(value, datetime) else value
    if EARLIEST_DATE <= day <= LATEST_DATE:
        return None
    return f"{day.isoformat()} is outside the dates allowed, {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"
