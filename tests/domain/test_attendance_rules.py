"""Pure attendance rules: the school's date, register dates, repeated students, planning a register, rates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from domain.academics.attendance import (
    CREATE,
    UNCHANGED,
    UPDATE,
    AttendanceCounts,
    Existing,
    RegisterEntry,
    attendance_rate_x100,
    check_register_date,
    check_unique_students,
    count_statuses,
    plan_register,
    school_today,
)
from domain.academics.attendance_models import AttendanceStatus
from domain.academics.models import AcademicYear
from domain.kernel.errors import Conflict, InvalidInput

YEAR = AcademicYear(code="2026-27", name="2026-27", start_date=date(2026, 9, 1), end_date=date(2027, 6, 30))
TODAY = date(2026, 10, 14)


# ---------------------------------------------------------------- the school's date


@pytest.mark.parametrize("now,tz,expected", [
    (datetime(2026, 10, 14, 23, 30, tzinfo=UTC), "UTC", date(2026, 10, 14)),
    (datetime(2026, 10, 14, 23, 30, tzinfo=UTC), "Europe/Paris", date(2026, 10, 15)),  # 01:30 there
    (datetime(2026, 10, 15, 2, 0, tzinfo=UTC), "America/New_York", date(2026, 10, 14)),  # 22:00 there
])
def test_school_today_is_the_date_in_the_schools_time_zone(now, tz, expected):
    assert school_today(tz, now) == expected


# ---------------------------------------------------------------- register dates


def test_today_and_past_days_of_the_year_are_accepted():
    for day in (TODAY, date(2026, 9, 1), date(2026, 10, 13)):
        check_register_date(day, today=TODAY, year=YEAR, section_code="7B")


def test_a_future_day_is_refused():
    with pytest.raises(InvalidInput) as info:
        check_register_date(date(2026, 10, 15), today=TODAY, year=YEAR, section_code="7B")
    assert info.value.field == "date" and "2026-10-15 is in the future" in info.value.message


@pytest.mark.parametrize("day,today", [(date(2026, 8, 31), TODAY), (date(2027, 7, 1), date(2027, 7, 5))])
def test_a_day_outside_the_academic_year_is_refused(day, today):
    with pytest.raises(InvalidInput) as info:
        check_register_date(day, today=today, year=YEAR, section_code="7B")
    assert info.value.field == "date"
    assert "outside the academic year 2026-27 of section 7B (2026-09-01 to 2027-06-30)" in info.value.message


def test_a_student_given_twice_is_refused_naming_both_entries():
    check_unique_students([3, 1, 2])
    with pytest.raises(InvalidInput) as info:
        check_unique_students([3, 1, 2, 1])
    assert info.value.field == "entries" and "student_id 1" in info.value.message
    assert "entries 1 and 3" in info.value.message


# ---------------------------------------------------------------- planning a register call


def _entry(student_id: int, status: str, note: str | None = None) -> RegisterEntry:
    return RegisterEntry(student_id, AttendanceStatus(status), note)


def test_today_creates_updates_and_leaves_unchanged():
    existing = {1: Existing("present", None, 10), 2: Existing("absent", None, 10)}
    entries = [_entry(1, "present"), _entry(2, "late", "bus"), _entry(3, "absent")]
    outcomes = plan_register(entries, existing, section_id=10, on_date=TODAY, today=TODAY)
    assert outcomes == [UNCHANGED, UPDATE, CREATE]


def test_today_a_record_from_another_section_moves_with_the_student():
    existing = {1: Existing("present", None, 9)}
    assert plan_register([_entry(1, "present")], existing, section_id=10, on_date=TODAY, today=TODAY) == [UPDATE]


def test_a_past_day_adds_missing_records_and_repeats_existing_ones():
    existing = {1: Existing("late", "bus", 10)}
    entries = [_entry(1, "late", "bus"), _entry(2, "present")]
    assert plan_register(entries, existing, section_id=10, on_date=date(2026, 10, 13), today=TODAY) == [
        UNCHANGED, CREATE]


@pytest.mark.parametrize("entry", [_entry(1, "present", "bus"), _entry(1, "late", None),
                                   _entry(1, "late", "car")])
def test_a_past_day_refuses_any_change_of_an_existing_record(entry):
    existing = {1: Existing("late", "bus", 10)}
    with pytest.raises(Conflict) as info:
        plan_register([entry], existing, section_id=10, on_date=date(2026, 10, 13), today=TODAY)
    assert "correct_attendance" in info.value.message and "2026-10-13" in info.value.message


# ---------------------------------------------------------------- rates


def test_count_statuses():
    counts = count_statuses(["present", "late", "present", "absent", "excused", "excused"])
    assert counts == AttendanceCounts(present=2, late=1, absent=1, excused=2)
    assert counts.days_recorded == 6
    with pytest.raises(ValueError):
        count_statuses(["holiday"])


@pytest.mark.parametrize("counts,expected", [
    (AttendanceCounts(present=4, late=1), 10000),                       # 5/5
    (AttendanceCounts(present=2, late=1, absent=1, excused=1), 7500),   # 3/4: the excused day is left out
    (AttendanceCounts(present=1, absent=2, excused=2), 3333),           # 1/3 = 33.333... -> 33.33
    (AttendanceCounts(present=1, late=1, absent=1), 6667),              # 2/3 = 66.666... -> 66.67
    (AttendanceCounts(present=1, absent=7), 1250),                      # 1/8 exactly
    (AttendanceCounts(absent=3), 0),
    (AttendanceCounts(excused=5), None),                                # no counted day: no rate
    (AttendanceCounts(), None),
])
def test_attendance_rate_in_hundredths(counts, expected):
    assert attendance_rate_x100(counts) == expected
    assert counts.rate_x100 == expected


def test_an_excused_day_changes_neither_term_of_the_rate():
    base = AttendanceCounts(present=7, late=2, absent=3)
    assert attendance_rate_x100(base) == attendance_rate_x100(base + AttendanceCounts(excused=4)) == 7500


def test_a_section_total_is_the_sum_of_its_students():
    total = AttendanceCounts(4, 1, 0, 0) + AttendanceCounts(2, 1, 1, 1) + AttendanceCounts(1, 0, 2, 2)
    assert total == AttendanceCounts(present=7, late=2, absent=3, excused=3)
    assert total.rate_x100 == 7500  # (7 + 2) / (7 + 2 + 3), not the mean of 100, 75 and 33.33
