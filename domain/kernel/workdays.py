"""Working days: Monday to Friday less the public holidays of a country (and one of its states or territories).

Public holidays come from the `holidays` package (python-holidays, maintained from each government's published
lists), never from our own tables. `country` is an ISO 3166-1 alpha-2 code (AU); `subdivision` an ISO 3166-2
subdivision code without the country (VIC, NSW, QLD, ...) or None for the national holidays only (in Australia:
New Year's Day, Australia Day, Good Friday, Easter Monday, Anzac Day, Christmas Day, Boxing Day; the King's
Birthday and the others are declared by each state). Payroll counts a period's working days with these (pro rata
pay, leave hours); the leave context skips public holidays inside a leave request (Fair Work Act 2009 s 89: a
public holiday during annual leave is not annual leave taken).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from domain.kernel.errors import InvalidInput

MAX_SPAN_DAYS = 3_700
"""The longest span counted at once (about ten years): a bound on what a caller's dates can cost."""


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    import holidays  # imported here: a start without payroll stays fast

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise InvalidInput(f"public holidays are not known for country {country!r}; use an ISO 3166-1 code such "
                           "as AU", field="country")
    if subdivision is not None and subdivision not in supported[country]:
        raise InvalidInput(f"{country} has no state or territory {subdivision!r}; use one of "
                           f"{', '.join(sorted(supported[country]))}", field="subdivision")
    found = holidays.country_holidays(country, subdiv=subdivision, years=year)
    return dict(found.items())


def public_holidays(start: date, end: date, *, country: str, subdivision: str | None = None) -> dict[date, str]:
    """Return the public holidays from `start` to `end` inclusive, by date, with their names. Raises InvalidInput
    for an unknown country or subdivision, or a span longer than MAX_SPAN_DAYS."""
    _check_span(start, end)
    out: dict[date, str] = {}
    for year in range(start.year, end.year + 1):
        out.update({d: n for d, n in _holidays(country, subdivision, year).items() if start <= d <= end})
    return dict(sorted(out.items()))


def working_dates(start: date, end: date, *, country: str | None, subdivision: str | None = None) -> list[date]:
    """Return the working days from `start` to `end` inclusive: Monday to Friday, less public holidays (none when
    `country` is None). Empty when `end` is before `start`."""
    if end < start:
        return []
    _check_span(start, end)
    closed = public_holidays(start, end, country=country, subdivision=subdivision) if country else {}
    out = []
    day = start
    while day <= end:
        if day.weekday() < 5 and day not in closed:
            out.append(day)
        day += timedelta(days=1)
    return out


def working_days(start: date, end: date, *, country: str | None, subdivision: str | None = None) -> int:
    """Return how many working days (working_dates) there are from `start` to `end` inclusive."""
    return len(working_dates(start, end, country=country, subdivision=subdivision))


def _check_span(start: date, end: date) -> None:
    if (end - start).days > MAX_SPAN_DAYS:
        raise InvalidInput(f"the span {start} to {end} is longer than {MAX_SPAN_DAYS} days; count a shorter one",
                           field="end")
