"""ITC2007 .ctt files over the size limits (domain.timetable.problem.SIZE_LIMITS) are refused naming the limits,
from the header before the rest is read; the competition instances stay within them."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.timetable.itc2007 import MAX_CTT_CHARS, parse_ctt
from domain.timetable.problem import SIZE_LIMITS

DATA = Path(__file__).parents[1] / "data" / "itc2007"


def header(**sizes: int) -> str:
    values = {"Courses": 1, "Rooms": 1, "Days": 5, "Periods_per_day": 6, "Curricula": 0, "Constraints": 0, **sizes}
    return "Name: Probe\n" + "".join(f"{key}: {values[key]}\n" for key in
                                     ("Courses", "Rooms", "Days", "Periods_per_day", "Curricula", "Constraints"))


def test_the_issue_17_file_is_refused_at_once_naming_the_limits():
    """10^6 days x 10^6 periods and 99,999,999 lectures: stored on 8be5377, so a solve could start on it."""
    text = (header(Days=10**6, Periods_per_day=10**6, Courses=1) + "\nCOURSES:\nc1 t1 99999999 1 10\n"
            "\nROOMS:\nr1 30\n\nCURRICULA:\n\nUNAVAILABILITY_CONSTRAINTS:\n\nEND.\n")
    started = time.perf_counter()
    with pytest.raises(ValueError) as err:
        parse_ctt(text)
    assert time.perf_counter() - started < 0.5
    assert "Days 1,000,000 (at most 7)" in str(err.value)
    assert "Periods_per_day 1,000,000 (at most 16)" in str(err.value)


@pytest.mark.parametrize("key", ["Days", "Periods_per_day", "Courses", "Rooms", "Curricula", "Constraints"])
def test_each_declared_size_over_its_limit_is_refused_before_reading_on(key):
    with pytest.raises(ValueError, match=f"{key} {SIZE_LIMITS[key] + 1:,} \\(at most {SIZE_LIMITS[key]:,}\\)"):
        parse_ctt(header(**{key: SIZE_LIMITS[key] + 1}))  # no sections follow: refused from the header alone


@pytest.mark.parametrize(("course", "words"), [
    ("c1 t1 99999999 1 10", "99,999,999 lectures in all (at most 10,000)"),
    ("c1 t1 31 1 10", "NumLectures 31 (at most the week's 30 periods)"),
    ("c1 t1 2 6 10", "MinWorkingDays 6 (at most the 5 days)"),
    ("c1 t1 2 1 100001", "NumStudents 100,001 (at most 100,000)"),
])
def test_a_course_beyond_the_week_or_the_limits_is_refused(course, words):
    text = header() + f"\nCOURSES:\n{course}\n\nROOMS:\nr1 30\n\nCURRICULA:\n\nUNAVAILABILITY_CONSTRAINTS:\n\nEND.\n"
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_ctt(text)


@pytest.mark.parametrize("name", ["comp01.ctt", "comp05.ctt", "comp07.ctt"])
def test_the_competition_instances_are_within_the_limits(name):
    assert parse_ctt((DATA / name).read_text()).size_problems() == []


@given(days=st.integers(1, 10**7), ppd=st.integers(1, 10**7), courses=st.integers(0, 10**8),
       rooms=st.integers(0, 10**8), curricula=st.integers(0, 10**8), constraints=st.integers(0, 10**8))
@settings(max_examples=200, deadline=None, database=None)
def test_no_header_over_a_limit_gets_past_the_header(days, ppd, courses, rooms, curricula, constraints):
    """Property: a header declaring any size over its limit is refused naming it, whatever follows."""
    sizes = {"Days": days, "Periods_per_day": ppd, "Courses": courses, "Rooms": rooms, "Curricula": curricula,
             "Constraints": constraints}
    over = [key for key, value in sizes.items() if value > SIZE_LIMITS[key]]
    with pytest.raises(ValueError) as err:
        parse_ctt(header(**sizes))  # the sections are missing: within the limits, that is the error instead
    message = str(err.value)
    if over:
        assert "too large" in message and all(f"{key} {sizes[key]:,}" in message for key in over)
    else:
        assert "too large" not in message


def test_a_file_over_the_character_limit_is_refused_before_it_is_split():
    text = header() + " " * MAX_CTT_CHARS
    with pytest.raises(ValueError, match=re.escape(f"{len(text):,} characters (at most {MAX_CTT_CHARS:,})")):
        parse_ctt(text)
