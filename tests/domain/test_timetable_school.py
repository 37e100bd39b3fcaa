"""A school's timetable problem from its classes, rooms and week (domain.timetable.school), solved and scored."""

from __future__ import annotations

from datetime import time

import pytest

from domain.kernel.errors import InvalidInput
from domain.timetable.problem import Room
from domain.timetable.school import (
    TEACHER_LIMIT_WEIGHT,
    ClassBlock,
    SchoolClassLoad,
    SchoolWeek,
    TeacherAbsence,
    school_problem,
)
from domain.timetable.scoring import score
from domain.timetable.solver import solve

ROOMS = [Room(id="R1", capacity=30), Room(id="R2", capacity=30), Room(id="LAB", capacity=20)]


def classes() -> list[SchoolClassLoad]:
    return [SchoolClassLoad(code="7A-MATH", section="7A", teacher="E1", weekly_lessons=5, students=25),
            SchoolClassLoad(code="7A-ART", section="7A", teacher="E2", weekly_lessons=2, students=25),
            SchoolClassLoad(code="7B-MATH", section="7B", teacher="E1", weekly_lessons=5, students=24),
            SchoolClassLoad(code="7B-ART", section="7B", teacher="E2", weekly_lessons=7, students=24)]


def test_classes_become_courses_and_sections_curricula():
    p = school_problem("demo", classes=classes(), rooms=ROOMS, week=SchoolWeek(days=5, periods_per_day=6),
                       teacher_max_periods_per_day=4)
    assert (p.days, p.periods_per_day, p.total_lectures) == (5, 6, 19)
    math = p.course_by_id["7A-MATH"]
    assert (math.teacher, math.lectures, math.students, math.min_working_days) == ("E1", 5, 25, 5)
    assert p.course_by_id["7A-ART"].min_working_days == 2  # spread a class over at most as many days as lessons
    assert p.course_by_id["7B-ART"].min_working_days == 5  # 7 lessons: every day of a 5-day week
    assert {c.id: c.course_ids for c in p.curricula} == {"7A": ("7A-MATH", "7A-ART"), "7B": ("7B-MATH", "7B-ART")}
    limit = p.weights.teacher_max_periods_per_day
    assert limit is not None and (limit.limit, limit.weight) == (4, TEACHER_LIMIT_WEIGHT)
    assert p.period_times[:2] == ("08:00-08:45", "08:50-09:35") and len(p.period_times) == 6


def test_a_teacher_absence_blocks_every_class_of_that_teacher():
    p = school_problem("x", classes=classes(), rooms=ROOMS, week=SchoolWeek(),
                       teacher_absences=[TeacherAbsence("E2", 0, 0), TeacherAbsence("E2", 4, 6)])
    assert sorted((u.course_id, u.day, u.period) for u in p.unavailability) == [
        ("7A-ART", 0, 0), ("7A-ART", 4, 6), ("7B-ART", 0, 0), ("7B-ART", 4, 6)]
    assert p.weights.teacher_max_periods_per_day is None


def test_a_class_block_rules_a_period_out_for_that_class_only():
    p = school_problem("x", classes=classes(), rooms=ROOMS, week=SchoolWeek(),
                       teacher_absences=[TeacherAbsence("E2", 0, 0)],
                       class_blocks=[ClassBlock("7A-ART", 4, 6), ClassBlock("7A-ART", 0, 0)])
    assert sorted((u.course_id, u.day, u.period) for u in p.unavailability) == [
        ("7A-ART", 0, 0), ("7A-ART", 4, 6), ("7B-ART", 0, 0)]  # the shared (0, 0) is listed once


def test_the_problem_solves_feasibly_and_respects_absences():
    p = school_problem("x", classes=classes(), rooms=ROOMS, week=SchoolWeek(days=5, periods_per_day=6),
                       teacher_max_periods_per_day=3, teacher_absences=[TeacherAbsence("E1", 0, p) for p in range(6)])
    result = solve(p, time_limit_s=10, seed=1)
    assert result.solution is not None
    sc = score(p, result.solution)
    assert sc.hard_violations == 0 and len(result.solution.assignments) == 19
    assert not [a for a in result.solution.assignments if a.course_id.endswith("MATH") and a.day == 0]


def test_week_times_follow_start_length_and_breaks():
    week = SchoolWeek(days=5, periods_per_day=3, starts_at=time(7, 30), period_minutes=50, break_minutes=10)
    assert week.period_times() == ("07:30-08:20", "08:30-09:20", "09:30-10:20")
    with pytest.raises(InvalidInput) as info:
        SchoolWeek(periods_per_day=16, starts_at=time(20, 0), period_minutes=60).period_times()
    assert info.value.field == "periods_per_day" and "past midnight" in info.value.message
    with pytest.raises(InvalidInput) as info:
        SchoolWeek(days=8).period_times()
    assert info.value.field == "days" and "1..7" in info.value.message


@pytest.mark.parametrize("change,field,words", [
    ({"classes": []}, "academic_year_id", "no classes with lessons"),
    ({"rooms": []}, "rooms", "create_room first"),
    ({"week": SchoolWeek(days=2, periods_per_day=4)}, "weekly_lessons", "section 7B has 12 lessons a week"),
    ({"classes": [SchoolClassLoad("7A-MATH", "7A", "E1", 36, 20)]}, "weekly_lessons", "class 7A-MATH has 36"),
    ({"teacher_absences": [TeacherAbsence("E9", 0, 0)]}, "teacher_absences", "teacher 'E9' teaches no class"),
    ({"teacher_absences": [TeacherAbsence("E1", 5, 0)]}, "teacher_absences", "outside the week"),
    ({"teacher_absences": [TeacherAbsence("E1", d, p) for d in range(5) for p in range(6)]}, "weekly_lessons",
     "teacher E1 has 10 lessons a week but only 5 periods"),
    ({"class_blocks": [ClassBlock("9Z-MATH", 0, 0)]}, "class_blocks", "class '9Z-MATH' has no lessons"),
    ({"class_blocks": [ClassBlock("7A-ART", 0, 7)]}, "class_blocks", "outside the week"),
    ({"class_blocks": [ClassBlock("7B-ART", d, p) for d in range(5) for p in range(7) if (d, p) != (0, 0)]},
     "class_blocks", "class 7B-ART has 7 lessons a week but only 1 periods left"),
    ({"rooms": [Room("R1", 30)], "week": SchoolWeek(days=2, periods_per_day=6)}, "rooms",
     "19 lessons a week do not fit in 1 rooms x 12 periods"),
])
def test_impossible_school_data_is_refused_naming_what_is_wrong(change, field, words):
    args = {"classes": classes(), "rooms": ROOMS, "week": SchoolWeek(days=5, periods_per_day=7), **change}
    with pytest.raises(InvalidInput) as info:
        school_problem("x", **args)
    assert info.value.field == field and words in info.value.message, info.value.message
