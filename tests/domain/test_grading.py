"""The gradebook's grading rules on worked examples: categories, drop-lowest, score states, scales, GPA.

No database. Every expected number is worked out by hand in the comment above its assertion; points and
percentages are exact Fractions (percentages 0..100).
"""

from __future__ import annotations

import decimal
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.academics.grading import (
    DEFAULT_SCALE,
    Assessment,
    Category,
    GradeBand,
    GradingScale,
    RoundingMode,
    ScoreEntry,
    ScoreStatus,
    class_average,
    compute_breakdown,
    gpa,
    round_percentage,
)
from domain.kernel.errors import InvalidInput

F = Fraction
MISSING = ScoreEntry.missing()
EXCUSED = ScoreEntry.excused()


def cat(code: str, weight: int | str, drop_lowest: int = 0) -> Category:
    """A category with its weight in percent."""
    return Category(code, F(weight), drop_lowest)


def item(assessment_id: str, category: str, max_score: int | str) -> Assessment:
    """An assessment worth `max_score` points."""
    return Assessment(assessment_id, category, F(max_score))


def pts(points: int | str) -> ScoreEntry:
    """A scored entry of `points` points ("8.5" for halves)."""
    return ScoreEntry.scored(F(points))


def band(minimum: int | str, letter: str, points: int | str, passing: bool = True,
         earns_credit: bool | None = None) -> GradeBand:
    """A grade band; it earns credit exactly when it passes unless told otherwise."""
    credit = passing if earns_credit is None else earns_credit
    return GradeBand(F(minimum), letter, F(points), passing, credit)


# A plain 90/80/70/60 scale (the one most US secondary schools publish), failing below 60.
TEN_POINT_BANDS = (band(90, "A", 4), band(80, "B", 3), band(70, "C", 2), band(60, "D", 1),
                   band(0, "F", 0, passing=False))


def ten_point(rounding: RoundingMode = RoundingMode.HALF_UP, decimals: int = 0) -> GradingScale:
    return GradingScale("TEN_POINT", TEN_POINT_BANDS, rounding, decimals)


def default_with(rounding: RoundingMode, decimals: int = 0) -> GradingScale:
    return replace(DEFAULT_SCALE, rounding=rounding, decimals=decimals)


# ---------------------------------------------------------------- round_percentage


@pytest.mark.parametrize(
    ("value", "mode", "decimals", "expected"),
    [
        # 89.5 is exactly half-way between 89 and 90; 90 is the even neighbour.
        ("89.5", RoundingMode.HALF_UP, 0, "90"),
        ("89.5", RoundingMode.HALF_EVEN, 0, "90"),
        ("89.5", RoundingMode.DOWN, 0, "89"),
        ("89.5", RoundingMode.UP, 0, "90"),
        # 88.5: half-even goes to 88 (even), half-up to 89.
        ("88.5", RoundingMode.HALF_EVEN, 0, "88"),
        ("88.5", RoundingMode.HALF_UP, 0, "89"),
        # 89.49 is below the half: only UP (ceiling) reaches 90.
        ("89.49", RoundingMode.HALF_UP, 0, "89"),
        ("89.49", RoundingMode.HALF_EVEN, 0, "89"),
        ("89.49", RoundingMode.DOWN, 0, "89"),
        ("89.49", RoundingMode.UP, 0, "90"),
        # 89.01 under UP is 90, under DOWN 89; 89.99 under DOWN stays 89.
        ("89.01", RoundingMode.UP, 0, "90"),
        ("89.99", RoundingMode.DOWN, 0, "89"),
        # Whole numbers are unchanged by every mode.
        ("90", RoundingMode.UP, 0, "90"),
        ("90", RoundingMode.DOWN, 0, "90"),
        # One decimal: 89.45 is half-way between 89.4 and 89.5; 89.4 is the even neighbour (4 is even).
        ("89.45", RoundingMode.HALF_UP, 1, "89.5"),
        ("89.45", RoundingMode.HALF_EVEN, 1, "89.4"),
        ("89.45", RoundingMode.DOWN, 1, "89.4"),
        ("89.45", RoundingMode.UP, 1, "89.5"),
        # 100/3 = 33.333...: two decimals give 33.33, except UP which gives 33.34.
        ("100/3", RoundingMode.HALF_UP, 2, "33.33"),
        ("100/3", RoundingMode.UP, 2, "33.34"),
        # Below zero (never a percentage, but the function is total): half-up goes away from zero,
        # down toward zero, up toward +infinity.
        ("-2.5", RoundingMode.HALF_UP, 0, "-3"),
        ("-2.5", RoundingMode.HALF_EVEN, 0, "-2"),
        ("-2.5", RoundingMode.DOWN, 0, "-2"),
        ("-2.5", RoundingMode.UP, 0, "-2"),
    ],
)
def test_round_percentage(value: str, mode: RoundingMode, decimals: int, expected: str):
    assert round_percentage(F(value), mode, decimals) == F(expected)


def test_round_percentage_takes_the_mode_by_name_and_stays_exact():
    result = round_percentage(F("89.45"), "half_even", 1)
    assert result == F(447, 5) and isinstance(result, Fraction)


@pytest.mark.parametrize(
    ("value", "mode", "decimals", "field"),
    [
        (F(1), "nearest", 0, "rounding"),
        (F(1), RoundingMode.HALF_UP, -1, "decimals"),
        (F(1), RoundingMode.HALF_UP, 1.5, "decimals"),
        (89.49, RoundingMode.HALF_UP, 0, "value"),
    ],
)
def test_round_percentage_rejects_bad_arguments(value, mode, decimals, field):
    with pytest.raises(InvalidInput) as err:
        round_percentage(value, mode, decimals)
    assert err.value.field == field


# ---------------------------------------------------------------- categories and the overall percentage


def test_category_percentage_is_points_based_and_weighted():
    # HW (40%): 8/10 and 18/20 -> (8 + 18) / (10 + 20) = 26/30 = 86.666...% (= 260/3), not the mean of
    # 80% and 90% (85%). EXAM (60%): 45/50 = 90%.
    # Overall: (40 x 260/3 + 60 x 90) / 100 = (10400/3 + 16200/3) / 100 = 26600/300 = 266/3 = 88.666...%.
    result = compute_breakdown(
        [cat("HW", 40), cat("EXAM", 60)],
        [item("hw1", "HW", 10), item("hw2", "HW", 20), item("ex1", "EXAM", 50)],
        {"hw1": pts(8), "hw2": pts(18), "ex1": pts(45)},
    )
    hw = result.category("HW")
    assert hw.percentage == F(260, 3)
    assert hw.percentage != F(85)
    assert (hw.points, hw.max_points) == (F(26), F(30))
    assert result.category("EXAM").percentage == F(90)
    assert result.percentage == F(266, 3)
    assert [c.effective_weight for c in result.categories] == [F(40), F(60)]


def test_an_empty_category_is_renormalised_away():
    # HW (40%): 8/10 and 9/10 -> 17/20 = 85%. EXAM (60%): nothing graded yet -> None.
    # Overall: 40 x 85 / 40 = 85%, not 40 x 85 / 100 = 34%.
    result = compute_breakdown(
        [cat("HW", 40), cat("EXAM", 60)],
        [item("hw1", "HW", 10), item("hw2", "HW", 10), item("ex1", "EXAM", 100)],
        {"hw1": pts(8), "hw2": pts(9)},
    )
    assert result.percentage == F(85)
    exam = result.category("EXAM")
    assert exam.percentage is None and exam.effective_weight == 0 and exam.counted == ()
    assert result.category("HW").effective_weight == F(100)


def test_renormalisation_keeps_the_other_categories_relative_weights():
    # HW 20%: 5/10 = 50%. QUIZ 30%: 10/10 = 100%. EXAM 50%: no assessment at all.
    # Overall: (20 x 50 + 30 x 100) / (20 + 30) = (1000 + 3000) / 50 = 80%.
    # Effective weights: HW 20/50 = 40%, QUIZ 30/50 = 60%, EXAM 0.
    result = compute_breakdown(
        [cat("HW", 20), cat("QUIZ", 30), cat("EXAM", 50)],
        [item("hw1", "HW", 10), item("q1", "QUIZ", 10)],
        {"hw1": pts(5), "q1": pts(10)},
    )
    assert result.percentage == F(80)
    assert [c.effective_weight for c in result.categories] == [F(40), F(60), F(0)]


def test_weights_need_not_add_up_to_100():
    # HW weight 1 at 50%, EXAM weight 3 at 90%: (1 x 50 + 3 x 90) / 4 = 320 / 4 = 80%; effective 25% / 75%.
    result = compute_breakdown(
        [cat("HW", 1), cat("EXAM", 3)],
        [item("hw1", "HW", 10), item("ex1", "EXAM", 10)],
        {"hw1": pts(5), "ex1": pts(9)},
    )
    assert result.percentage == F(80)
    assert [c.effective_weight for c in result.categories] == [F(25), F(75)]


@pytest.mark.parametrize(
    ("hw2", "expected"),
    [
        # Excused: left out entirely -> 10/10 = 100%.
        (EXCUSED, F(100)),
        # Not yet graded (no entry): also left out -> 100%.
        (None, F(100)),
        # Missing: counts as 0 of 20 -> 10 / (10 + 20) = 33.333...% (= 100/3).
        (MISSING, F(100, 3)),
        # A real 0 is the same as missing: 100/3 %.
        (pts(0), F(100, 3)),
    ],
    ids=["excused", "ungraded", "missing", "zero"],
)
def test_excused_is_left_out_and_missing_counts_as_zero(hw2: ScoreEntry | None, expected: Fraction):
    result = compute_breakdown(
        [cat("HW", 100)],
        [item("hw1", "HW", 10), item("hw2", "HW", 20)],
        {"hw1": pts(10), "hw2": hw2},
    )
    assert result.percentage == expected
    assert ("hw2" in result.category("HW").counted) is (expected != 100)


def test_a_category_with_only_excused_work_is_renormalised_away():
    # HW 30%: 9/10 = 90%. EXAM 70%: excused -> None. Overall: 90%, not 30 x 90 / 100 = 27%.
    result = compute_breakdown(
        [cat("HW", 30), cat("EXAM", 70)],
        [item("hw1", "HW", 10), item("ex1", "EXAM", 100)],
        {"hw1": pts(9), "ex1": EXCUSED},
    )
    assert result.percentage == F(90)
    assert result.category("EXAM").percentage is None


@pytest.mark.parametrize(
    "scores",
    [{}, {"hw1": None}, {"hw1": EXCUSED}, {"hw1": EXCUSED, "ex1": None}],
    ids=["no-entries", "ungraded", "excused", "excused-and-ungraded"],
)
def test_nothing_counted_is_none(scores):
    result = compute_breakdown(
        [cat("HW", 40), cat("EXAM", 60)], [item("hw1", "HW", 10), item("ex1", "EXAM", 50)], scores,
    )
    assert result.percentage is None
    assert all(c.percentage is None and c.effective_weight == 0 for c in result.categories)
    assert DEFAULT_SCALE.grade(result.percentage) is None


def test_no_categories_and_no_assessments_is_none():
    assert compute_breakdown([], [], {}).percentage is None


def test_a_missing_entry_alone_counts_as_zero_percent_not_none():
    # A missing piece is counted: 0/10 = 0%, so the student has a grade (0%, an F), not "no grade".
    result = compute_breakdown([cat("HW", 100)], [item("hw1", "HW", 10)], {"hw1": MISSING})
    assert result.percentage == F(0)
    grade = DEFAULT_SCALE.grade(result.percentage)
    assert grade is not None and grade.letter == "F" and not grade.passing


def test_fractional_points_are_exact():
    # 8.5/10 and 7.25/10 -> 15.75/20 = 78.75% exactly.
    result = compute_breakdown(
        [cat("HW", 100)], [item("hw1", "HW", 10), item("hw2", "HW", 10)],
        {"hw1": pts("8.5"), "hw2": pts("7.25")},
    )
    assert result.percentage == F("78.75")


# ---------------------------------------------------------------- drop-lowest


def test_drop_lowest_leaves_out_the_lowest_percentage():
    # Drop 1 of 6/10 (60%), 9/10 (90%), 10/10 (100%): hw1 goes -> (9 + 10) / 20 = 95%.
    result = compute_breakdown(
        [cat("HW", 100, drop_lowest=1)],
        [item("hw1", "HW", 10), item("hw2", "HW", 10), item("hw3", "HW", 10)],
        {"hw1": pts(6), "hw2": pts(9), "hw3": pts(10)},
    )
    hw = result.category("HW")
    assert hw.dropped == ("hw1",)
    assert hw.counted == ("hw2", "hw3")
    assert hw.percentage == F(95)


def test_a_missing_piece_is_dropped_first():
    # hw1 missing (0/10 = 0%), 7/10, 9/10; drop 1 -> hw1 goes -> 16/20 = 80%.
    result = compute_breakdown(
        [cat("HW", 100, drop_lowest=1)],
        [item("hw1", "HW", 10), item("hw2", "HW", 10), item("hw3", "HW", 10)],
        {"hw1": MISSING, "hw2": pts(7), "hw3": pts(9)},
    )
    assert result.category("HW").dropped == ("hw1",)
    assert result.percentage == F(80)


def test_drop_tie_goes_to_the_larger_maximum():
    # q1 5/10 and q2 10/20 are both 50%; q3 is 18/20 (90%). Drop 1: the tie goes to the larger maximum,
    # q2 -> (5 + 18) / (10 + 20) = 23/30 = 76.666...% (= 230/3).
    # Dropping q1 instead would give (10 + 18) / 40 = 70%: the larger-maximum rule favours the student.
    result = compute_breakdown(
        [cat("QUIZ", 100, drop_lowest=1)],
        [item("q1", "QUIZ", 10), item("q2", "QUIZ", 20), item("q3", "QUIZ", 20)],
        {"q1": pts(5), "q2": pts(10), "q3": pts(18)},
    )
    assert result.category("QUIZ").dropped == ("q2",)
    assert result.percentage == F(230, 3)


def test_drop_tie_on_percentage_and_maximum_goes_to_the_earlier_assessment():
    # q1 5/10 and q2 5/10 tie completely; q3 10/10. Drop 1: q1 (given first) -> (5 + 10) / 20 = 75%.
    result = compute_breakdown(
        [cat("QUIZ", 100, drop_lowest=1)],
        [item("q1", "QUIZ", 10), item("q2", "QUIZ", 10), item("q3", "QUIZ", 10)],
        {"q1": pts(5), "q2": pts(5), "q3": pts(10)},
    )
    assert result.category("QUIZ").dropped == ("q1",)
    assert result.percentage == F(75)


def test_drop_two_drops_the_two_lowest_and_reports_them_in_assessment_order():
    # 9/10 (90%), 2/10 (20%), 7/10 (70%), 4/10 (40%); drop 2 -> hw2 and hw4 go -> (9 + 7) / 20 = 80%.
    result = compute_breakdown(
        [cat("HW", 100, drop_lowest=2)],
        [item(f"hw{n}", "HW", 10) for n in range(1, 5)],
        {"hw1": pts(9), "hw2": pts(2), "hw3": pts(7), "hw4": pts(4)},
    )
    assert result.category("HW").dropped == ("hw2", "hw4")
    assert result.percentage == F(80)


@pytest.mark.parametrize(
    ("scores", "dropped", "expected"),
    [
        # drop_lowest 3 but only 2 counted: drop 1 (4/10), keep 8/10 -> 80%.
        ({"hw1": pts(4), "hw2": pts(8)}, ("hw1",), F(80)),
        # Only 1 counted: nothing is dropped -> 4/10 = 40%.
        ({"hw1": pts(4)}, (), F(40)),
        # Excused and ungraded work is not counted, so it does not make room to drop: 3 entries but only
        # hw2 (4/10) and hw3 (8/10) counted -> drop hw2 -> 80%.
        ({"hw1": EXCUSED, "hw2": pts(4), "hw3": pts(8)}, ("hw2",), F(80)),
        # Everything missing: 3 counted zeros, drop 2 (hw1, hw2 - all tie, earlier first), keep hw3 -> 0%.
        ({"hw1": MISSING, "hw2": MISSING, "hw3": MISSING}, ("hw1", "hw2"), F(0)),
    ],
    ids=["two-counted", "one-counted", "excused-not-counted", "all-missing"],
)
def test_drop_lowest_never_drops_the_last_counted_assessment(scores, dropped, expected):
    result = compute_breakdown(
        [cat("HW", 100, drop_lowest=3)],
        [item("hw1", "HW", 10), item("hw2", "HW", 10), item("hw3", "HW", 10)],
        scores,
    )
    hw = result.category("HW")
    assert hw.dropped == dropped
    assert len(hw.counted) >= 1
    assert result.percentage == expected


def test_drop_lowest_follows_the_lowest_percentage_not_the_best_outcome():
    # X 4/10 (40%), Y 45/100 (45%), Z 100/100. Drop 1: the rule drops X, the lowest percentage ->
    # (45 + 100) / 200 = 72.5%. Dropping Y would have given (4 + 100) / 110 = 94.5...% - the documented
    # rule is the announced "lowest score", not an optimiser.
    result = compute_breakdown(
        [cat("HW", 100, drop_lowest=1)],
        [item("x", "HW", 10), item("y", "HW", 100), item("z", "HW", 100)],
        {"x": pts(4), "y": pts(45), "z": pts(100)},
    )
    assert result.category("HW").dropped == ("x",)
    assert result.percentage == F("72.5")


def test_drop_lowest_is_per_category():
    # HW drops 1: 2/10 goes, 8/10 stays -> 80%. EXAM drops none: 2/10 and 8/10 -> 50%.
    # Overall at 50/50: (80 + 50) / 2 = 65%.
    result = compute_breakdown(
        [cat("HW", 50, drop_lowest=1), cat("EXAM", 50)],
        [item("hw1", "HW", 10), item("hw2", "HW", 10), item("ex1", "EXAM", 10), item("ex2", "EXAM", 10)],
        {"hw1": pts(2), "hw2": pts(8), "ex1": pts(2), "ex2": pts(8)},
    )
    assert result.category("HW").percentage == F(80)
    assert result.category("EXAM").dropped == ()
    assert result.category("EXAM").percentage == F(50)
    assert result.percentage == F(65)


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ScoreEntry.scored(F(-1)), "points"),
        (lambda: ScoreEntry.scored(8.5), "points"),
        (lambda: ScoreEntry(ScoreStatus.SCORED), "points"),
        (lambda: ScoreEntry(ScoreStatus.MISSING, F(0)), "points"),
        (lambda: ScoreEntry("late", F(1)), "status"),
        (lambda: Category("HW", F(0)), "weight"),
        (lambda: Category("HW", F(-5)), "weight"),
        (lambda: Category("HW", F(40), drop_lowest=-1), "drop_lowest"),
        (lambda: Category("HW", F(40), drop_lowest=1.5), "drop_lowest"),
        (lambda: Category("", F(40)), "code"),
        (lambda: Assessment("hw1", "HW", F(0)), "max_score"),
        (lambda: Assessment("hw1", "HW", F(-10)), "max_score"),
        (lambda: Assessment("hw1", "", F(10)), "category"),
    ],
    ids=["negative-points", "float-points", "scored-without-points", "missing-with-points", "bad-status",
         "zero-weight", "negative-weight", "negative-drop", "fractional-drop", "empty-code", "zero-max",
         "negative-max", "no-category"],
)
def test_construction_rejects_bad_values(build, field):
    with pytest.raises(InvalidInput) as err:
        build()
    assert err.value.field == field


def test_a_decimal_is_accepted_as_exact():
    from decimal import Decimal

    assert ScoreEntry.scored(Decimal("8.45")).points == F(169, 20)


@pytest.mark.parametrize(
    ("categories", "assessments", "scores", "field", "message"),
    [
        ([cat("HW", 40), cat("HW", 60)], [], {}, "categories", "HW appears twice"),
        ([cat("HW", 100)], [item("hw1", "HW", 10), item("hw1", "HW", 10)], {}, "assessments",
         "'hw1' appears twice"),
        ([cat("HW", 100)], [item("lab1", "LAB", 10)], {}, "category", "'LAB', which the class does not have"),
        ([cat("HW", 100)], [item("hw1", "HW", 10)], {"hw9": pts(1)}, "scores", "'hw9'"),
        ([cat("HW", 100)], [item("hw1", "HW", 10)], {"hw1": 8}, "scores", "ScoreEntry or None"),
        ([cat("HW", 100)], [item("hw1", "HW", 100)], {"hw1": pts(105)}, "points",
         "score 105 on assessment 'hw1' is above the assessment's maximum 100"),
    ],
    ids=["duplicate-category", "duplicate-assessment", "unknown-category", "unknown-assessment",
         "not-a-score-entry", "over-max"],
)
def test_compute_breakdown_rejects_inconsistent_input(categories, assessments, scores, field, message):
    with pytest.raises(InvalidInput) as err:
        compute_breakdown(categories, assessments, scores)
    assert err.value.field == field
    assert message in err.value.message


def test_points_equal_to_the_maximum_are_allowed():
    result = compute_breakdown([cat("HW", 100)], [item("hw1", "HW", 100)], {"hw1": pts(100)})
    assert result.percentage == F(100)


def test_breakdown_category_lookup_names_the_known_codes():
    result = compute_breakdown([cat("HW", 100)], [], {})
    with pytest.raises(InvalidInput, match="it has HW"):
        result.category("EXAM")


# ---------------------------------------------------------------- grading scales


@pytest.mark.parametrize(
    ("mode", "rounded", "letter", "points"),
    [
        # 89.5 -> 90 (half up), 90 (half even: 90 is even), 90 (up) -> A- 3.7; 89 (down) -> B+ 3.3.
        (RoundingMode.HALF_UP, "90", "A-", "3.7"),
        (RoundingMode.HALF_EVEN, "90", "A-", "3.7"),
        (RoundingMode.UP, "90", "A-", "3.7"),
        (RoundingMode.DOWN, "89", "B+", "3.3"),
    ],
)
def test_89_5_at_the_a_minus_edge_under_each_mode(mode, rounded, letter, points):
    grade = default_with(mode).grade(F("89.5"))
    assert grade is not None
    assert grade.percentage == F(rounded)
    assert grade.unrounded == F("89.5")
    assert (grade.letter, grade.gpa_points) == (letter, F(points))


@pytest.mark.parametrize(
    ("mode", "letter"),
    [
        # 89.49 -> 89 under half up, half even and down (B+); only up takes it to 90 (A-).
        (RoundingMode.HALF_UP, "B+"),
        (RoundingMode.HALF_EVEN, "B+"),
        (RoundingMode.DOWN, "B+"),
        (RoundingMode.UP, "A-"),
    ],
)
def test_89_49_under_each_mode(mode, letter):
    grade = default_with(mode).grade(F("89.49"))
    assert grade is not None and grade.letter == letter


@pytest.mark.parametrize(
    ("value", "mode", "rounded", "letter", "passing"),
    [
        # 59.5 on the 90/80/70/60 scale: 60 (half up, half even - 60 is even - and up) is a passing D;
        # 59 (down) is an F.
        ("59.5", RoundingMode.HALF_UP, "60", "D", True),
        ("59.5", RoundingMode.HALF_EVEN, "60", "D", True),
        ("59.5", RoundingMode.UP, "60", "D", True),
        ("59.5", RoundingMode.DOWN, "59", "F", False),
        # 58.5 under half even goes to 58 (even), still an F; 59.49 under half up is 59, an F.
        ("58.5", RoundingMode.HALF_EVEN, "58", "F", False),
        ("59.49", RoundingMode.HALF_UP, "59", "F", False),
    ],
)
def test_the_pass_line_at_60(value, mode, rounded, letter, passing):
    grade = ten_point(mode).grade(F(value))
    assert grade is not None
    assert (grade.percentage, grade.letter, grade.passing, grade.earns_credit) == (
        F(rounded), letter, passing, passing)


@pytest.mark.parametrize(
    ("value", "mode", "letter", "passing"),
    [
        # College Board table: D is 65-66, F below 65. 64.5 -> 65 (half up) is a passing D; 64 (down) an F.
        ("64.5", RoundingMode.HALF_UP, "D", True),
        ("64.5", RoundingMode.DOWN, "F", False),
    ],
)
def test_the_pass_line_of_the_default_scale(value, mode, letter, passing):
    grade = default_with(mode).grade(F(value))
    assert grade is not None and (grade.letter, grade.passing) == (letter, passing)


@pytest.mark.parametrize(
    ("value", "mode", "rounded", "letter"),
    [
        # One decimal: 89.95 -> 90.0 (half up) is an A-; 89.9 (down) a B+. 89.94 -> 89.9 (half up) a B+.
        ("89.95", RoundingMode.HALF_UP, "90", "A-"),
        ("89.95", RoundingMode.DOWN, "89.9", "B+"),
        ("89.94", RoundingMode.HALF_UP, "89.9", "B+"),
    ],
)
def test_rounding_to_one_decimal(value, mode, rounded, letter):
    grade = default_with(mode, decimals=1).grade(F(value))
    assert grade is not None and (grade.percentage, grade.letter) == (F(rounded), letter)


@pytest.mark.parametrize(
    ("value", "letter", "points"),
    [
        # The College Board conversion table, band by band.
        ("100", "A+", "4.0"), ("97", "A+", "4.0"), ("96", "A", "4.0"), ("93", "A", "4.0"),
        ("92", "A-", "3.7"), ("89", "B+", "3.3"), ("86", "B", "3.0"), ("82", "B-", "2.7"),
        ("79", "C+", "2.3"), ("76", "C", "2.0"), ("72", "C-", "1.7"), ("69", "D+", "1.3"),
        ("65", "D", "1.0"), ("64", "F", "0"), ("0", "F", "0"),
    ],
)
def test_default_scale_follows_the_college_board_table(value, letter, points):
    grade = DEFAULT_SCALE.grade(F(value))
    assert grade is not None and (grade.letter, grade.gpa_points) == (letter, F(points))


def test_default_scale_is_half_up_to_whole_percentages():
    assert (DEFAULT_SCALE.rounding, DEFAULT_SCALE.decimals) == (RoundingMode.HALF_UP, 0)
    assert [b.letter for b in DEFAULT_SCALE.bands] == [
        "A+", "A", "A-", "B+", "B", "B-", "C+", "C", "C-", "D+", "D", "F"]


def test_the_percentage_is_rounded_once_at_the_end():
    # HW (50%): 179/200 = 89.5%. EXAM (50%): 447/500 = 89.4%. Overall: (89.5 + 89.4) / 2 = 89.45% ->
    # half up to 0 decimals -> 89 -> B+. Rounding the categories first (90 and 89 -> 89.5 -> 90) would
    # wrongly give an A-.
    result = compute_breakdown(
        [cat("HW", 50), cat("EXAM", 50)],
        [item("hw1", "HW", 200), item("ex1", "EXAM", 500)],
        {"hw1": pts(179), "ex1": pts(447)},
    )
    assert result.percentage == F("89.45")
    grade = DEFAULT_SCALE.grade(result.percentage)
    assert grade is not None and (grade.percentage, grade.letter) == (F(89), "B+")


def test_grade_of_none_is_none_and_negative_is_refused():
    assert DEFAULT_SCALE.grade(None) is None
    with pytest.raises(InvalidInput) as err:
        DEFAULT_SCALE.grade(F(-1))
    assert err.value.field == "percentage"


def test_bands_may_be_given_lowest_first():
    scale = GradingScale("TEN_POINT", tuple(reversed(TEN_POINT_BANDS)))
    assert scale.bands == TEN_POINT_BANDS
    assert scale == ten_point()
    grade = scale.grade(F(85))
    assert grade is not None and grade.letter == "B"


def test_a_band_may_pass_without_earning_credit():
    # D passes the course but earns no credit (a common rule for prerequisites); F neither.
    scale = GradingScale("P_NO_CREDIT", (band(70, "C", 2), band(60, "D", 1, earns_credit=False),
                                         band(0, "F", 0, passing=False)))
    grade = scale.grade(F(62))
    assert grade is not None and (grade.letter, grade.passing, grade.earns_credit) == ("D", True, False)


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        (dict(code=""), "code", "non-empty code"),
        (dict(bands=()), "bands", "has no bands"),
        (dict(bands=(band(90, "A", 4), band(90, "A-", "3.7"), band(0, "F", 0, passing=False))), "bands",
         "A and A- both start at 90%"),
        (dict(bands=(band(90, "A", 4), band(0, "F", 0, passing=False), band(80, "B", 3))), "bands",
         "in one order"),
        (dict(bands=(band(90, "A", 4), band(60, "D", 1))), "bands", "must start at 0"),
        (dict(bands=(band(90, "A", 4), band(80, "A", 3), band(0, "F", 0, passing=False))), "bands",
         "letter A is used by two bands"),
        (dict(bands=(band("89.5", "A", 4), band(0, "F", 0, passing=False))), "bands",
         "starts at 89.5%, which has more than 0 decimal(s)"),
        (dict(bands=(band(90, "A", 3), band(80, "B", 4), band(0, "F", 0, passing=False))), "bands",
         "band B has more GPA points (4) than the higher band A (3)"),
        (dict(bands=(band(90, "A", 4, passing=False), band(60, "D", 1), band(0, "F", 0, passing=False))),
         "bands", "band D passes but the higher band A does not"),
        (dict(bands=(band(90, "A", 4, earns_credit=False), band(60, "D", 1),
                     band(0, "F", 0, passing=False))), "bands", "band D earns credit but the higher band A"),
        (dict(bands=(band(90, "A", 4), band(0, "F", 0, passing=False, earns_credit=True))), "bands",
         "band F earns credit without passing"),
        (dict(rounding="nearest"), "rounding", "'nearest' is unknown"),
        (dict(decimals=-1), "decimals", "0 or more"),
    ],
    ids=["empty-code", "no-bands", "duplicate-minimum", "unordered", "no-band-at-0", "duplicate-letter",
         "minimum-off-grid", "gpa-increasing-downward", "passing-below-failing", "credit-below-no-credit",
         "credit-without-passing", "unknown-rounding", "negative-decimals"],
)
def test_a_scale_that_breaks_a_rule_is_refused(kwargs, field, message):
    args = dict(code="S", bands=TEN_POINT_BANDS, rounding=RoundingMode.HALF_UP, decimals=0) | kwargs
    with pytest.raises(InvalidInput) as err:
        GradingScale(**args)
    assert err.value.field == field
    assert message in err.value.message


def test_a_minimum_with_decimals_is_fine_when_the_scale_rounds_to_them():
    # 89.5 is on the grid of a one-decimal scale: 89.46 -> 89.5 (half up) reaches A.
    scale = GradingScale("S", (band("89.5", "A", 4), band(0, "F", 0, passing=False)), decimals=1)
    grade = scale.grade(F("89.46"))
    assert grade is not None and grade.letter == "A"


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: band(101, "A", 4), "min_percentage"),
        (lambda: band(-1, "A", 4), "min_percentage"),
        (lambda: GradeBand(90.0, "A", F(4), True, True), "min_percentage"),
        (lambda: band(90, "A", -1), "gpa_points"),
        (lambda: band(90, " ", 4), "letter"),
    ],
    ids=["over-100", "negative", "float", "negative-gpa", "blank-letter"],
)
def test_a_band_with_a_bad_value_is_refused(build, field):
    with pytest.raises(InvalidInput) as err:
        build()
    assert err.value.field == field


# ---------------------------------------------------------------- class average and GPA


def test_class_average_leaves_out_students_without_a_grade():
    # 80, 90 and 85 have grades; two students have none: (80 + 90 + 85) / 3 = 255 / 3 = 85, not
    # 255 / 5 = 51 as if the two were zeros.
    assert class_average([F(80), None, F(90), None, F(85)]) == F(85)


def test_class_average_is_exact():
    # (100 + 0 + 0) / 3 = 33.333...% exactly.
    assert class_average([F(100), F(0), F(0)]) == F(100, 3)


@pytest.mark.parametrize("percentages", [[], [None, None]], ids=["no-students", "no-grades"])
def test_class_average_without_grades_is_none(percentages):
    assert class_average(percentages) is None


def test_gpa_is_weighted_by_credits():
    # A (4.0) x 4 credits + B+ (3.3) x 3 + F (0) x 1 = 16 + 9.9 + 0 = 25.9 over 8 credits = 3.2375 (259/80).
    # The A- in a 0-credit course and the ungraded 2-credit course are left out.
    a, b_plus, a_minus, f = (DEFAULT_SCALE.grade(F(v)) for v in (95, 88, 91, 40))
    assert gpa([(a, F(4)), (b_plus, F(3)), (f, F(1)), (a_minus, F(0)), (None, F(2))]) == F(259, 80)


def test_gpa_equal_credits_is_the_plain_mean():
    # A- (3.7) and C (2.0), 3 credits each: (3.7 + 2.0) / 2 = 2.85.
    a_minus, c = DEFAULT_SCALE.grade(F(91)), DEFAULT_SCALE.grade(F(75))
    assert gpa([(a_minus, F(3)), (c, F(3))]) == F("2.85")


@pytest.mark.parametrize(
    "items",
    [[], [(DEFAULT_SCALE.grade(F(95)), F(0))], [(None, F(3))]],
    ids=["no-courses", "only-zero-credit", "only-ungraded"],
)
def test_gpa_without_credits_is_none(items):
    assert gpa(items) is None


def test_gpa_refuses_negative_credits():
    with pytest.raises(InvalidInput) as err:
        gpa([(DEFAULT_SCALE.grade(F(95)), F(-1))])
    assert err.value.field == "credits"


# Rounding in integers (grading._round_ratio, used by round_percentage and GradingScale.grade) against an
# independent oracle: the decimal module's quantize, with a precision wide enough to hold every value exactly.
_DECIMAL_MODES = {RoundingMode.HALF_UP: decimal.ROUND_HALF_UP, RoundingMode.HALF_EVEN: decimal.ROUND_HALF_EVEN,
                  RoundingMode.DOWN: decimal.ROUND_DOWN, RoundingMode.UP: decimal.ROUND_CEILING}


def _quantized(value: Fraction, mode: RoundingMode, decimals: int) -> Fraction:
    """value rounded to `decimals` places by decimal.quantize: exact when value's denominator divides 10**k, else
    via the exact integer quotient and remainder (a tie needs an exact remainder, never a float)."""
    with decimal.localcontext() as ctx:
        ctx.prec = 200
        unit = 10**decimals
        scaled = value * unit
        sign = "-" if scaled < 0 else ""
        whole, rest = divmod(abs(scaled.numerator), scaled.denominator)
        # rest/denominator as 40 exact-enough digits plus a sticky digit that keeps "above a tie" above it
        digits = (rest * 10**40) // scaled.denominator
        sticky = 1 if (rest * 10**40) % scaled.denominator else 0
        text = f"{sign}{whole}.{digits:040d}{sticky}"
        return Fraction(Decimal(text).quantize(Decimal(1), rounding=_DECIMAL_MODES[mode])) / unit


@settings(max_examples=400, deadline=None)
@given(numerator=st.integers(-10**7, 10**7), denominator=st.integers(1, 10**5),
       mode=st.sampled_from(list(_DECIMAL_MODES)), decimals=st.integers(0, 3))
def test_rounding_agrees_with_decimal_quantize(numerator, denominator, mode, decimals):
    value = Fraction(numerator, denominator)
    assert round_percentage(value, mode, decimals) == _quantized(value, mode, decimals)


@settings(max_examples=300, deadline=None)
@given(numerator=st.integers(0, 10**6), denominator=st.integers(1, 10**4),
       mode=st.sampled_from(list(_DECIMAL_MODES)))
def test_a_scale_grades_as_rounding_then_comparing_fractions(numerator, denominator, mode):
    """GradingScale.grade looks the band up in whole units of its rounding; the band must be the highest whose
    minimum the rounded percentage (as a Fraction) reaches, at every tie and edge."""
    scale = GradingScale("ONE_DECIMAL", tuple(DEFAULT_SCALE.bands), rounding=mode, decimals=1)
    for grading_scale in (scale, GradingScale("WHOLE", tuple(DEFAULT_SCALE.bands), rounding=mode)):
        value = Fraction(numerator, denominator)
        graded = grading_scale.grade(value)
        rounded = _quantized(value, mode, grading_scale.decimals)
        assert graded.percentage == rounded and graded.unrounded == value
        assert graded.band == next(b for b in grading_scale.bands if rounded >= b.min_percentage)
