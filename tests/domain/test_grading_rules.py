"""Pure grading rules on worked examples: weighted percentage, rounding, letters, format, score checks.

No database. Scores, maxima and percentages are integer hundredths (x100), weights hundredths of a percent.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from domain.academics.rules import (
    DEFAULT_LETTER_SCALE,
    ScoredItem,
    check_score,
    format_x100,
    letter_for,
    round_half_up_x100,
    weighted_percentage,
)
from domain.kernel.errors import InvalidInput


def item(score: float | None, out_of: float, weight: float) -> ScoredItem:
    """An assessment result in points and percent, converted to the hundredths the rules take."""
    return ScoredItem(None if score is None else round(score * 100), round(out_of * 100), round(weight * 100))


# ---------------------------------------------------------------- weighted_percentage


def test_weighted_percentage_of_two_scored_items():
    # 90/100 weighted 40% and 40/50 weighted 60%: 0.9 x 40 + 0.8 x 60 = 36 + 48 = 84%.
    assert weighted_percentage([item(90, 100, 40), item(40, 50, 60)]) == Fraction(84)


def test_missing_score_is_left_out_and_the_weights_renormalised():
    # Only the 40% item is scored (80/100): the result is 80%, not 80 x 0.4 = 32%.
    assert weighted_percentage([item(80, 100, 40), item(None, 50, 60)]) == Fraction(80)
    # Three items, the middle one missing: (0.5 x 20 + 1.0 x 30) / (20 + 30) = 40 / 50 = 80%.
    assert weighted_percentage([item(5, 10, 20), item(None, 10, 50), item(10, 10, 30)]) == Fraction(80)


def test_a_missing_score_is_not_a_zero():
    with_zero = weighted_percentage([item(80, 100, 40), item(0, 50, 60)])
    without = weighted_percentage([item(80, 100, 40), item(None, 50, 60)])
    assert with_zero == Fraction(32) and without == Fraction(80)


def test_nothing_scored_is_none():
    assert weighted_percentage([]) is None
    assert weighted_percentage([item(None, 100, 40), item(None, 50, 60)]) is None
    # An item with a zero maximum cannot be scored and is left out, like a missing score.
    assert weighted_percentage([ScoredItem(500, 0, 5000)]) is None
    assert weighted_percentage([ScoredItem(500, 0, 5000), item(30, 60, 50)]) == Fraction(50)


def test_weighted_percentage_is_exact():
    # 1/3 of the points: exactly 100/3 %, no float error.
    assert weighted_percentage([item(1, 3, 100)]) == Fraction(100, 3)
    # 17999/20000 = 89.995% exactly (a float would give 89.99499999...).
    assert weighted_percentage([ScoredItem(17999, 20000, 10000)]) == Fraction(89995, 1000)


def test_weighted_percentage_accepts_a_generator():
    assert weighted_percentage(item(s, 10, 10) for s in (10, 5)) == Fraction(75)


# ---------------------------------------------------------------- round_half_up_x100


@pytest.mark.parametrize("percentage,expected", [
    (Fraction("89.995"), 9000),   # a half rounds up ...
    (Fraction("89.994"), 8999),   # ... anything below half down
    (Fraction("89.985"), 8999),   # half up, not to even (banker's rounding would give 8998)
    (Fraction("89.975"), 8998),
    (Fraction("89.9949999"), 8999),
    (Fraction(100, 3), 3333),
    (Fraction(200, 3), 6667),
    (Fraction(0), 0),
    (Fraction(100), 10000),
    (Fraction("-0.005"), -1),     # halves away from zero on the negative side too
    (Fraction("-0.004"), 0),
])
def test_round_half_up_x100(percentage, expected):
    assert round_half_up_x100(percentage) == expected


def test_round_half_up_of_none_is_none():
    assert round_half_up_x100(None) is None


# ---------------------------------------------------------------- letter_for


@pytest.mark.parametrize("percentage_x100,letter", [
    (10000, "A"), (9000, "A"), (8999, "B"), (8000, "B"), (7999, "C"), (7000, "C"), (6999, "D"), (6000, "D"),
    (5999, "F"), (0, "F"), (-100, "F"),
])
def test_letter_at_band_edges(percentage_x100, letter):
    assert letter_for(percentage_x100) == letter


def test_letter_of_none_is_none():
    assert letter_for(None) is None


def test_letter_with_another_scale():
    pass_fail = ((5000, "P"), (0, "F"))
    assert letter_for(5000, pass_fail) == "P" and letter_for(4999, pass_fail) == "F"
    assert DEFAULT_LETTER_SCALE[0] == (9000, "A")


def test_worked_example_from_scores_to_letter():
    # 179.99 of 200 points = 89.995% -> 90.00 after half-up rounding -> an A, not a B.
    pct = round_half_up_x100(weighted_percentage([item(179.99, 200, 100)]))
    assert pct == 9000 and letter_for(pct) == "A"
    # 179.98 of 200 = 89.99% -> B.
    pct = round_half_up_x100(weighted_percentage([item(179.98, 200, 100)]))
    assert pct == 8999 and letter_for(pct) == "B"


# ---------------------------------------------------------------- format_x100


@pytest.mark.parametrize("value,shown", [
    (8450, "84.5"), (8400, "84"), (8405, "84.05"), (8499, "84.99"), (0, "0"), (5, "0.05"), (50, "0.5"),
    (100000, "1000"), (-150, "-1.5"), (-5, "-0.05"), (None, "none"),
])
def test_format_x100(value, shown):
    assert format_x100(value) == shown


# ---------------------------------------------------------------- check_score


def test_scores_from_zero_to_the_maximum_are_accepted():
    for score in (0, 1, 4999, 5000):
        check_score(score, 5000)


def test_score_above_the_maximum_names_the_maximum():
    with pytest.raises(InvalidInput) as info:
        check_score(10500, 10000)
    assert info.value.message == "score 105 is above the assessment's maximum 100"
    assert info.value.field == "score"


def test_score_above_a_fractional_maximum():
    with pytest.raises(InvalidInput) as info:
        check_score(5051, 5050)
    assert "50.51" in info.value.message and "maximum 50.5" in info.value.message


def test_negative_score_states_the_allowed_range():
    with pytest.raises(InvalidInput) as info:
        check_score(-25, 2000)
    assert info.value.message == "score -0.25 is negative; scores go from 0 to 20"
    assert info.value.field == "score"


def test_check_score_uses_the_given_field_name():
    with pytest.raises(InvalidInput) as info:
        check_score(101, 100, field="max_score")
    assert info.value.field == "max_score"
    assert info.value.to_dict() == {"error": "invalid_input", "message": info.value.message,
                                    "field": "max_score"}
