"""The ITC2007 Track 3 scorer on hand-made timetables, the .ctt/.sol formats and their errors.

No database. Expected values are computed by hand in the comments, from the validator's definitions
(Bonutti, De Cesco, Di Gaspero, Schaerf, Annals of OR 2012, UD2; tests/data/itc2007/FORMAT.md).
"""

from __future__ import annotations

import pytest

from domain.timetable.itc2007 import parse_ctt, parse_sol, write_sol
from domain.timetable.problem import (
    Assignment,
    Course,
    Curriculum,
    Problem,
    Room,
    Solution,
    TeacherDayLimit,
    Unavailability,
    Weights,
)
from domain.timetable.scoring import HardViolations, SoftCost, score
from tests.conftest import itc2007_dir

DATA = itc2007_dir()


def small_problem(*, weights: Weights | None = None) -> Problem:
    """2 days x 3 periods; rooms rA (30 seats), rB (10); c1 and c3 share teacher t1; q1 = c1 c2, q2 = c2 c3."""
    return Problem(
        name="small",
        days=2,
        periods_per_day=3,
        courses=(
            Course(id="c1", teacher="t1", lectures=2, min_working_days=2, students=25),
            Course(id="c2", teacher="t2", lectures=2, min_working_days=1, students=10),
            Course(id="c3", teacher="t1", lectures=2, min_working_days=1, students=5),
        ),
        rooms=(Room(id="rA", capacity=30), Room(id="rB", capacity=10)),
        curricula=(Curriculum(id="q1", course_ids=("c1", "c2")), Curriculum(id="q2", course_ids=("c2", "c3"))),
        unavailability=(Unavailability(course_id="c3", day=1, period=0),),
        weights=weights or Weights(),
    )


def sol(*rows: tuple[str, str, int, int]) -> Solution:
    """A solution from (course, room, day, period) rows."""
    return Solution(assignments=tuple(Assignment(*row) for row in rows))


# Each day: c1 rA p0, c2 rB p1, c3 rB p2. q1 (c1 c2) pairs p0-p1 and q2 (c2 c3) pairs p1-p2 on both days,
# c1 uses 2 days, every course keeps one room and fits it: cost 0.
PERFECT = sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 1), ("c3", "rB", 0, 2),
              ("c1", "rA", 1, 0), ("c2", "rB", 1, 1), ("c3", "rB", 1, 2))


def test_perfect_timetable_scores_zero() -> None:
    s = score(small_problem(), PERFECT)
    assert s.hard == HardViolations()
    assert s.soft == SoftCost()
    assert s.feasible and s.soft_cost == 0 and s.skipped == 0


# ---------------------------------------------------------------- hard constraints


def test_lectures_counts_missing_extra_and_repeated_entries() -> None:
    # c1: 1 lecture of 2 -> 1 missing. c2: the rA line repeats (c2, 0, 1) and is skipped -> 1 of 2, 1 missing.
    # c3: 3 lectures of 2 -> 1 extra. Total 3; one skipped line.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 1), ("c2", "rA", 0, 1),
                                   ("c3", "rB", 0, 2), ("c3", "rB", 1, 2), ("c3", "rB", 1, 1)))
    assert s.hard.lectures == 3
    assert s.skipped == 1


def test_lectures_counts_unknown_course_room_and_out_of_range_lines_as_missing() -> None:
    # Skipped like the validator's WARNING lines: c1 in rZ, c2 on day 5, c2 in period 3, course cX.
    # c1 has 1 of 2 (1), c2 0 of 2 (2), c3 0 of 2 (2) -> 5.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c1", "rZ", 1, 0), ("c2", "rB", 5, 1),
                                   ("c2", "rB", 0, 3), ("cX", "rA", 0, 0)))
    assert s.hard.lectures == 5
    assert s.skipped == 4


def test_conflicts_count_each_conflicting_pair_per_period() -> None:
    # (0,0) holds c1, c2, c3: pairs c1-c2 (q1), c2-c3 (q2), c1-c3 (teacher t1) -> 3.
    # (1,1) holds c1 and c2 -> 1 more. Total 4.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 0), ("c3", "rA", 0, 0),
                                   ("c1", "rA", 1, 1), ("c2", "rB", 1, 1), ("c3", "rB", 0, 2)))
    assert s.hard.conflicts == 4


def test_room_occupancy_counts_lectures_beyond_the_first() -> None:
    # (0,0): c1, c2, c3 all in rA -> 3 - 1 = 2. (1,1): c1 and c2 in rB -> 1. Total 3.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rA", 0, 0), ("c3", "rA", 0, 0),
                                   ("c1", "rB", 1, 1), ("c2", "rB", 1, 1), ("c3", "rB", 0, 2)))
    assert s.hard.room_occupancy == 3


def test_availability_counts_lectures_in_unavailable_periods() -> None:
    # c3 may not be taught at day 1 period 0; one of its lectures is there -> 1, and nothing else is wrong.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 1), ("c3", "rB", 0, 2),
                                   ("c3", "rB", 1, 0), ("c1", "rA", 1, 1), ("c2", "rB", 1, 2)))
    assert s.hard == HardViolations(availability=1)


# ---------------------------------------------------------------- soft constraints


def test_room_capacity_counts_students_above_capacity_per_lecture() -> None:
    # PERFECT with c1 (25 students) in rB (10 seats) and c2 in rA: (25 - 10) x 2 lectures = 30, weight 1.
    s = score(small_problem(), sol(("c1", "rB", 0, 0), ("c2", "rA", 0, 1), ("c3", "rB", 0, 2),
                                   ("c1", "rB", 1, 0), ("c2", "rA", 1, 1), ("c3", "rB", 1, 2)))
    assert s.soft == SoftCost(room_capacity=30)


def test_min_working_days_counts_missing_days_times_five() -> None:
    # Day 0: c1 p0, c2 p1, c1 p2; day 1: c2 p0, c3 p1, c3 p2.
    # c1 needs 2 days, uses 1 -> 1 x 5 = 5.
    # Compactness: q1 day 0 p0-p1-p2 all adjacent; q1 day 1 c2 p0 alone -> 1 isolated.
    # q2 day 0 c2 p1 alone -> 1 isolated; q2 day 1 p0-p1-p2 adjacent. 2 isolated x 2 = 4.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 1), ("c1", "rA", 0, 2),
                                   ("c2", "rB", 1, 0), ("c3", "rB", 1, 1), ("c3", "rB", 1, 2)))
    assert s.hard.total == 0
    assert s.soft == SoftCost(min_working_days=5, curriculum_compactness=4)


def test_curriculum_compactness_neighbours_only_on_the_same_day() -> None:
    # c2 (0,0), c3 (0,1), c1 (0,2), c2 (1,0), c3 (1,1), c1 (1,2).
    # q1: c2 (0,0) isolated, c1 (0,2) isolated (last period has no "after"), c2 (1,0) isolated (the linear
    # period before it, c1 (0,2), is on another day), c1 (1,2) isolated -> 4.
    # q2: (0,0)-(0,1) and (1,0)-(1,1) adjacent -> 0. 4 x 2 = 8.
    s = score(small_problem(), sol(("c2", "rB", 0, 0), ("c3", "rB", 0, 1), ("c1", "rA", 0, 2),
                                   ("c2", "rB", 1, 0), ("c3", "rB", 1, 1), ("c1", "rA", 1, 2)))
    assert s.hard.total == 0
    assert s.soft == SoftCost(curriculum_compactness=8)


def test_curriculum_compactness_counts_all_k_lectures_and_each_curriculum() -> None:
    # c1 and c2 both at (0,0) (one conflict). q1: period (0,0) holds k = 2 lectures, nothing at (0,1) -> 2;
    # c1 (1,0) with c2 (1,1) adjacent -> 0. q2: c2 (0,0) isolated -> 1 (c2 counts again, in its other
    # curriculum); c3 (0,2) isolated -> 1; c2 (1,1) with c3 (1,2) adjacent. 2 + 2 = 4 isolated x 2 = 8.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 0), ("c1", "rA", 1, 0),
                                   ("c2", "rB", 1, 1), ("c3", "rB", 0, 2), ("c3", "rB", 1, 2)))
    assert s.hard == HardViolations(conflicts=1)
    assert s.soft == SoftCost(curriculum_compactness=8)


def test_room_stability_counts_distinct_rooms_minus_one() -> None:
    # PERFECT with c1 (1,0) in rB and c2 (1,1) in rA: c1 uses rA, rB -> 1; c2 uses rB, rA -> 1; total 2.
    # c1's 25 students in rB (10 seats) -> capacity 15.
    s = score(small_problem(), sol(("c1", "rA", 0, 0), ("c2", "rB", 0, 1), ("c3", "rB", 0, 2),
                                   ("c1", "rB", 1, 0), ("c2", "rA", 1, 1), ("c3", "rB", 1, 2)))
    assert s.soft == SoftCost(room_capacity=15, room_stability=2)


def test_teacher_max_periods_per_day_extension() -> None:
    # Day 0: c1 p0, c3 p1, c3 p2 -> teacher t1 teaches 3 lectures; limit 2, weight 3 -> (3 - 2) x 3 = 3.
    # Day 1: c1 p0, c2 p1, c2 p2. q1: c1 (0,0) isolated (c3 is not in q1) -> 1; day 1 adjacent.
    # q2: day 0 p1-p2 and day 1 p1-p2 adjacent. Compactness 1 x 2 = 2. Off by default -> 0.
    timetable = sol(("c1", "rA", 0, 0), ("c3", "rB", 0, 1), ("c3", "rB", 0, 2),
                    ("c1", "rA", 1, 0), ("c2", "rB", 1, 1), ("c2", "rB", 1, 2))
    weights = Weights(teacher_max_periods_per_day=TeacherDayLimit(weight=3, limit=2))
    s = score(small_problem(weights=weights), timetable)
    assert s.hard.total == 0
    assert s.soft == SoftCost(curriculum_compactness=2, teacher_max_periods_per_day=3)
    assert score(small_problem(), timetable).soft == SoftCost(curriculum_compactness=2)


def test_track_description_worked_example_totals() -> None:
    # FORMAT.md: 2 room-occupancy + 3 conflict violations; soft 8 + 15 + 4 + 3 = 30.
    s_hard = HardViolations(conflicts=3, room_occupancy=2)
    s_soft = SoftCost(room_capacity=8, min_working_days=15, curriculum_compactness=4, room_stability=3)
    assert (s_hard.total, s_soft.total) == (5, 30)


# ---------------------------------------------------------------- formats


def test_sol_round_trip() -> None:
    problem = small_problem()
    text = write_sol(problem, PERFECT)
    assert text.splitlines()[0] == "c1 rA 0 0"
    assert parse_sol(problem, text) == PERFECT
    assert parse_sol(problem, text.replace("\n", "  \r\n")) == PERFECT


@pytest.mark.parametrize("stem,courses,rooms,days,ppd,curricula,constraints", [
    ("comp01", 30, 6, 5, 6, 14, 53),
    ("comp05", 54, 9, 6, 6, 139, 771),
    ("comp07", 131, 20, 5, 5, 77, 667),
])
def test_parse_real_instances(stem: str, courses: int, rooms: int, days: int, ppd: int, curricula: int,
                              constraints: int) -> None:
    p = parse_ctt((DATA / f"{stem}.ctt").read_text())
    assert (len(p.courses), len(p.rooms), p.days, p.periods_per_day, len(p.curricula), len(p.unavailability)) == (
        courses, rooms, days, ppd, curricula, constraints)
    assert all(r.id.startswith("r") for r in p.rooms)
    assert p.weights == Weights()


def test_parse_comp01_first_course() -> None:
    p = parse_ctt((DATA / "comp01.ctt").read_text())
    assert p.name == "Fis0506-1"
    assert p.courses[0] == Course(id="c0001", teacher="t000", lectures=6, min_working_days=4, students=130)


TINY = """Name: tiny
Courses: 1
Rooms: 1
Days: 1
Periods_per_day: 2
Curricula: 1
Constraints: 1

COURSES:
c1 t1 1 1 5

ROOMS:
r1 10

CURRICULA:
q1 1 c1

UNAVAILABILITY_CONSTRAINTS:
c1 0 1

END.
"""


def test_parse_tiny_instance() -> None:
    p = parse_ctt(TINY)
    assert p.unavailable == frozenset({("c1", 0, 1)})


@pytest.mark.parametrize("old,new,message", [
    ("Courses: 1", "Courses: one", "line 2: Courses must be an integer"),
    ("Rooms: 1", "Room: 1", "line 3: expected 'Rooms: <value>'"),
    ("c1 t1 1 1 5", "c1 t1 1 1", "line 10: a course line needs 5 fields"),
    ("c1 t1 1 1 5", "c1 t1 x 1 5", "line 10: NumLectures must be an integer"),
    ("r1 10", "r1", "line 13: a room line needs 2 fields"),
    ("q1 1 c1", "q1 2 c1", "line 16: curriculum q1 announces 2 courses but lists 1"),
    ("q1 1 c1", "q1 1 c9", "line 16: curriculum q1 names unknown course 'c9'"),
    ("c1 0 1", "c1 0 2", "line 19: day 0 period 2 is outside"),
    ("ROOMS:", "ROOM:", "line 12: expected section 'ROOMS:'"),
    ("END.", "", "end of file: expected 'END.'"),
])
def test_parse_ctt_malformed(old: str, new: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_ctt(TINY.replace(old, new, 1))


def test_parse_ctt_truncated() -> None:
    with pytest.raises(ValueError, match="unexpected end of file"):
        parse_ctt(TINY.split("ROOMS:")[0])


@pytest.mark.parametrize("text,message", [
    ("c1 rA 0", "line 1: expected 'CourseID RoomID Day Period'"),
    ("c1 rA 0 0\ncX rA 0 0", "line 2: unknown course 'cX'"),
    ("c1 rZ 0 0", "line 1: unknown room 'rZ'"),
    ("c1 rA 2 0", "line 1: day 2 period 0 is outside"),
    ("c1 rA 0 -1", "line 1: Period must be at least 0"),
])
def test_parse_sol_malformed(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_sol(small_problem(), text)
