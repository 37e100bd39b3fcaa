"""Working days less public holidays (domain.kernel.workdays, the `holidays` package), counted by hand."""

from __future__ import annotations

from datetime import date

import pytest

from domain.kernel.errors import InvalidInput
from domain.kernel.workdays import MAX_SPAN_DAYS, public_holidays, working_dates, working_days


@pytest.mark.parametrize(("start", "end", "subdivision", "expected"), [
    (date(2026, 6, 1), date(2026, 6, 30), None, 22),  # 22 weekdays, no national holiday
    (date(2026, 6, 1), date(2026, 6, 30), "VIC", 21),  # less the King's Birthday, Monday 8 June
    (date(2026, 4, 1), date(2026, 4, 30), None, 20),  # less Good Friday (3) and Easter Monday (6); Anzac Day a Saturday
    (date(2025, 12, 1), date(2025, 12, 31), None, 21),  # less Christmas Day (Thu) and Boxing Day (Fri)
    (date(2026, 6, 1), date(2026, 6, 14), "VIC", 9),  # a fortnight holding the King's Birthday
])
def test_working_days_are_weekdays_less_public_holidays(start, end, subdivision, expected):
    assert working_days(start, end, country="AU", subdivision=subdivision) == expected


def test_the_holidays_and_dates_themselves():
    assert public_holidays(date(2026, 6, 1), date(2026, 6, 30), country="AU", subdivision="VIC") == {
        date(2026, 6, 8): "King's Birthday"}
    days = working_dates(date(2026, 6, 5), date(2026, 6, 9), country="AU", subdivision="VIC")
    assert days == [date(2026, 6, 5), date(2026, 6, 9)]
    assert working_days(date(2026, 6, 8), date(2026, 6, 8), country=None) == 1  # no country: Monday to Friday
    assert working_dates(date(2026, 6, 9), date(2026, 6, 8), country="AU") == []


def test_bad_places_and_spans_are_refused_naming_the_field():
    with pytest.raises(InvalidInput, match="'ZZ'") as unknown:
        working_days(date(2026, 6, 1), date(2026, 6, 30), country="ZZ")
    assert unknown.value.field == "country"
    with pytest.raises(InvalidInput, match="no state or territory 'XYZ'.*VIC") as state:
        working_days(date(2026, 6, 1), date(2026, 6, 30), country="AU", subdivision="XYZ")
    assert state.value.field == "subdivision"
    with pytest.raises(InvalidInput, match=f"longer than {MAX_SPAN_DAYS} days"):
        working_days(date(2000, 1, 1), date(2030, 1, 1), country="AU")
