"""Leave's pure rules (domain/leave/rules.py) with hand-computed figures, each citing its rule."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import pytest

from domain.kernel.errors import InvalidInput
from domain.kernel.workdays import public_holidays, working_days
from domain.leave.rules import (
    DEFAULT_TYPES,
    LeaveTypeInfo,
    accrual_hours,
    check_movement,
    check_request,
    completed_years,
    days_of,
    from_x100,
    hours_inside,
    overlaps,
    requested_hours,
    to_x100,
)

TYPES = [LeaveTypeInfo(code=t["code"], name=t["name"], paid=t["paid"], accrual_per_hour=t["accrual"],
                       loading=t["loading"], payable_on_termination=t["payable_on_termination"],
                       stp_code=t["stp_code"], service_years=t["service_years"]) for t in DEFAULT_TYPES]
DAY = Fraction(38, 5)  # 7.6 h: 38 h a week (Fair Work Act 2009 s 62) over 5 days


def test_a_fortnight_of_ordinary_hours_accrues_annual_personal_and_long_service_leave():
    # 76 ordinary hours (two 38-hour weeks). Annual: 4 weeks a year = 152 h per 1,976 h = 1/13 (FWA s 87(1)(a),
    # s 87(2)): 76/13 = 5.8461... -> 5.85. Personal: 10 days = 76 h per 1,976 h = 1/26 (s 96): 76/26 = 2.9230...
    # -> 2.92. LSL (Vic): 1/60 (LSL Act 2018 s 6): 76/60 = 1.2666... -> 1.27. Unpaid leave accrues nothing.
    accrued = accrual_hours(TYPES, Fraction(76))
    assert accrued == {"ANNUAL": Fraction(76, 13), "PERSONAL": Fraction(76, 26), "LSL": Fraction(76, 60)}
    assert {code: to_x100(h) for code, h in accrued.items()} == {"ANNUAL": 585, "PERSONAL": 292, "LSL": 127}


def test_a_year_of_ordinary_hours_accrues_exactly_four_weeks_and_ten_days():
    # 52 weeks x 38 h = 1,976 h: annual 1,976/13 = 152 h = 4 x 38 (s 87(1)(a)); personal 1,976/26 = 76 h =
    # 10 days of 7.6 h (s 96(1)). Exact: no rounding drift inside a year's sum.
    accrued = accrual_hours(TYPES, Fraction(1976))
    assert accrued["ANNUAL"] == 152 and accrued["PERSONAL"] == 76
    assert days_of(accrued["PERSONAL"]) == 10 and days_of(accrued["ANNUAL"]) == 20


def test_accrual_refuses_negative_or_absurd_ordinary_hours():
    with pytest.raises(InvalidInput) as exc:
        accrual_hours(TYPES, Fraction(-1))
    assert exc.value.field == "ordinary_hours" and "outside 0..10000" in exc.value.message
    with pytest.raises(InvalidInput):
        accrual_hours(TYPES, Fraction(10_001))
    assert accrual_hours(TYPES, Fraction(0)) == {"ANNUAL": 0, "PERSONAL": 0, "LSL": 0}


def test_hundredths_round_half_up_and_symmetrically_below_zero():
    assert to_x100(Fraction(1, 200)) == 1  # 0.005 h -> 0.01
    assert to_x100(Fraction(1, 201)) == 0  # 0.004975 h -> 0.00
    assert to_x100(Fraction(-1, 200)) == -1  # a reversal is the exact opposite of what it reverses
    assert to_x100(Fraction(-76, 13)) == -to_x100(Fraction(76, 13)) == -585
    assert from_x100(760) == DAY


def test_a_fortnight_in_victoria_skips_the_kings_birthday():
    # Mon 2026-06-01 .. Fri 2026-06-12: 10 weekdays; in VIC the King's Birthday (Mon 8 June 2026) is a public
    # holiday, so 9 working days = 9 x 7.6 = 68.4 h (a public holiday during leave is not leave taken: FWA s 89).
    start, end = date(2026, 6, 1), date(2026, 6, 12)
    assert date(2026, 6, 8) in public_holidays(start, end, country="AU", subdivision="VIC")
    days = working_days(start, end, country="AU", subdivision="VIC")
    assert days == 9
    assert requested_hours(days, hours_per_day=DAY, hours=None) == Fraction(342, 5)  # 68.4
    national = working_days(start, end, country="AU", subdivision=None)
    assert national == 10 and requested_hours(national, hours_per_day=DAY, hours=None) == 76


def test_a_part_day_takes_its_explicit_hours_within_its_working_days():
    assert requested_hours(1, hours_per_day=DAY, hours=Fraction(19, 5)) == Fraction(19, 5)  # 3.8 h: half a day
    with pytest.raises(InvalidInput) as exc:
        requested_hours(1, hours_per_day=DAY, hours=Fraction(25))
    assert exc.value.field == "hours" and "24 hours" in exc.value.message
    with pytest.raises(InvalidInput) as none:
        requested_hours(0, hours_per_day=DAY, hours=None)
    assert none.value.field == "end_date" and "no working day" in none.value.message


@pytest.mark.parametrize(("start", "end", "per_day", "hours", "field", "words"), [
    (date(2026, 6, 12), date(2026, 6, 1), DAY, None, "end_date", "before start_date"),
    (date(2026, 1, 1), date(2027, 1, 2), DAY, None, "end_date", "367 days"),
    (date(1899, 12, 31), date(1900, 1, 2), DAY, None, "start_date", "outside the dates allowed"),
    (date(2199, 12, 30), date(2200, 1, 1), DAY, None, "end_date", "outside the dates allowed"),
    (date(2026, 6, 1), date(2026, 6, 1), Fraction(0), None, "hours_per_day", "above 0"),
    (date(2026, 6, 1), date(2026, 6, 1), Fraction(25), None, "hours_per_day", "at most 24"),
    (date(2026, 6, 1), date(2026, 6, 1), DAY, Fraction(-1), "hours", "above 0"),
    (date(2026, 6, 1), date(2026, 6, 1), DAY, Fraction(0), "hours", "above 0"),
])
def test_bad_requests_are_refused_naming_the_field(start, end, per_day, hours, field, words):
    with pytest.raises(InvalidInput) as exc:
        check_request(start, end, hours_per_day=per_day, hours=hours)
    assert exc.value.field == field and words in exc.value.message


def test_a_year_long_request_is_allowed_and_a_day_more_is_not():
    check_request(date(2028, 1, 1), date(2028, 12, 31), hours_per_day=DAY, hours=None)  # 366 days (leap year)
    with pytest.raises(InvalidInput):
        check_request(date(2027, 1, 1), date(2028, 1, 2), hours_per_day=DAY, hours=None)


def test_hours_inside_a_period_split_whole_days_and_prorate_explicit_hours():
    # A 9-working-day request split 4 + 5 across two fortnights: 4 x 7.6 = 30.4 h and 5 x 7.6 = 38 h.
    assert hours_inside(inside_days=4, all_days=9, hours_per_day=DAY, total_hours=Fraction(342, 5),
                        explicit=False) == Fraction(152, 5)
    assert hours_inside(inside_days=5, all_days=9, hours_per_day=DAY, total_hours=Fraction(342, 5),
                        explicit=False) == 38
    # 10 explicit hours over 4 working days, 1 of them inside: 10 x 1/4 = 2.5 h.
    assert hours_inside(inside_days=1, all_days=4, hours_per_day=DAY, total_hours=Fraction(10),
                        explicit=True) == Fraction(5, 2)
    assert hours_inside(inside_days=0, all_days=4, hours_per_day=DAY, total_hours=Fraction(10), explicit=True) == 0


def test_overlaps_and_completed_years():
    assert overlaps(date(2026, 6, 1), date(2026, 6, 5), date(2026, 6, 5), date(2026, 6, 9))
    assert not overlaps(date(2026, 6, 1), date(2026, 6, 4), date(2026, 6, 5), date(2026, 6, 9))
    # LSL Act 2018 (Vic) s 6, s 9: 7 years of continuous employment; the anniversary itself completes the year.
    assert completed_years(date(2019, 3, 1), date(2026, 3, 1)) == 7
    assert completed_years(date(2019, 3, 1), date(2026, 2, 28)) == 6
    assert completed_years(date(2026, 3, 1), date(2025, 1, 1)) == 0


def test_movements_carry_their_kinds_sign():
    check_movement("accrual", Fraction(585, 100))
    check_movement("taken", Fraction(-76))
    check_movement("adjustment", Fraction(-3))
    check_movement("reversal", Fraction(5))
    with pytest.raises(InvalidInput) as wrong:
        check_movement("taken", Fraction(76), field="movements[3]")
    assert wrong.value.field == "movements[3]" and "negative" in wrong.value.message
    with pytest.raises(InvalidInput) as negative_accrual:
        check_movement("accrual", Fraction(-1))
    assert "positive" in negative_accrual.value.message
    with pytest.raises(InvalidInput) as unknown:
        check_movement("bonus", Fraction(1))
    assert "accrual, taken, payout, adjustment, reversal" in unknown.value.message


def test_the_seeded_types_follow_the_cited_rules():
    by_code = {t.code: t for t in TYPES}
    assert by_code["ANNUAL"].payable_on_termination and by_code["ANNUAL"].loading  # FWA s 90(2)
    assert not by_code["PERSONAL"].payable_on_termination and not by_code["PERSONAL"].loading
    assert by_code["LSL"].service_years == 7 and by_code["LSL"].payable_on_termination  # LSL Act 2018 (Vic) s 9
    assert not by_code["UNPAID"].paid and by_code["UNPAID"].accrual_per_hour is None
    assert by_code["UNPAID"].stp_code is None and {by_code[c].stp_code for c in ("ANNUAL", "PERSONAL", "LSL")} == {"O"}
