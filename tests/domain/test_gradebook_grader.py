"""gradebook.ClassGrader (a class's policy compiled to grade many students from stored results) against
gradebook.student_result (the engine, domain.academics.grading, applied to the same results).

No database: assessments and results are the table models, built in memory. The grader must answer exactly what
the engine answers - the same exact percentage, rounded grade, band, count of ungraded assessments and category
breakdown - or raise the same InvalidInput, for any policy (per-assessment weights, categories with and without
drop-lowest), any scale and any mix of scored, missing, excused, ungraded and out-of-range results.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.academics import grading
from domain.academics.gradebook import BASIC_SCALE, ClassGrader, Policy, plan_for, student_result
from domain.academics.models import Assessment, Grade
from domain.kernel.errors import InvalidInput

CODES = ("HW", "QUIZ", "EXAM")
SCALES = (BASIC_SCALE, grading.DEFAULT_SCALE, replace(BASIC_SCALE, rounding=grading.RoundingMode.HALF_EVEN),
          replace(BASIC_SCALE, rounding=grading.RoundingMode.DOWN, decimals=1),
          replace(grading.DEFAULT_SCALE, rounding=grading.RoundingMode.UP))


def assessment(assessment_id: int, *, max_x100: int, weight_x100: int = 0, category: str | None = None) -> Assessment:
    return Assessment(id=assessment_id, class_id=1, term_id=1, title=f"A{assessment_id}", category=category,
                      max_score_x100=max_x100, weight_x100=weight_x100)


def stored(cells: tuple, assessments: list[Assessment]) -> dict[int, Grade]:
    """The results as student_result takes them: assessment id -> Grade row (no key: not graded)."""
    return {a.id: Grade(assessment_id=a.id, student_id=1, status=cell[0], score_x100=cell[1])
            for a, cell in zip(assessments, cells) if cell is not None}


def assert_same(policy: Policy, assessments: list[Assessment], cells: tuple) -> None:
    try:
        expected = student_result(policy, assessments, stored(cells, assessments))
    except InvalidInput as refused:
        with pytest.raises(InvalidInput) as raised:
            ClassGrader(policy, assessments).result(cells)
        assert (str(raised.value), raised.value.field) == (str(refused), refused.field)
        return
    got = ClassGrader(policy, assessments).result(cells)
    assert got.unrounded == expected.breakdown.percentage
    assert type(got.unrounded) is type(expected.breakdown.percentage)
    assert got.grade == expected.grade
    assert (got.percentage_x100, got.letter, got.not_graded) == (expected.percentage_x100, expected.letter,
                                                                expected.not_graded)
    assert got.breakdown.percentage == expected.breakdown.percentage
    assert got.breakdown.categories == expected.breakdown.categories


@st.composite
def classes(draw: st.DrawFn) -> tuple[Policy, list[Assessment], tuple]:
    """A class's policy and assessments, and one student's results (valid and invalid ones)."""
    by_category = draw(st.booleans())
    count = draw(st.integers(0, 6))
    assessments = [assessment(n + 1, max_x100=draw(st.integers(1, 20_000)), weight_x100=draw(st.integers(0, 10_000)),
                              category=draw(st.sampled_from(CODES)).lower() if draw(st.booleans())
                              else draw(st.sampled_from(CODES)))
                   for n in range(count)]
    categories: tuple[grading.Category, ...] = ()
    if by_category:
        drop = draw(st.booleans())
        categories = tuple(grading.Category(code, Fraction(draw(st.integers(1, 10_000)), 100),
                                            draw(st.integers(0, 2)) if drop else 0) for code in CODES)
    policy = Policy(categories=categories, scale=draw(st.sampled_from(SCALES)))
    cells = []
    for a in assessments:
        kind = draw(st.sampled_from(("none", "scored", "scored", "scored", "missing", "excused", "odd")))
        if kind == "none":
            cells.append(None)
        elif kind == "scored":
            cells.append(("scored", draw(st.integers(0, a.max_score_x100))))
        elif kind in ("missing", "excused"):
            cells.append((kind, draw(st.none() | st.integers(0, a.max_score_x100))))
        else:  # what the engine refuses or reads as 0: above the maximum, negative, no score at all
            cells.append(("scored", draw(st.sampled_from((a.max_score_x100 + 1, -1, None)))))
    return policy, assessments, tuple(cells)


@settings(max_examples=600, deadline=None)
@given(case=classes())
def test_the_grader_answers_what_the_engine_answers(case):
    policy, assessments, cells = case
    assert_same(policy, assessments, cells)


def test_per_assessment_weights_worked_example():
    # 80/100 weighted 40 and 45/50 weighted 60: (0.4 x 80 + 0.6 x 90) = 86; an excused third is left out.
    items = [assessment(1, max_x100=10_000, weight_x100=4_000), assessment(2, max_x100=5_000, weight_x100=6_000),
             assessment(3, max_x100=2_000, weight_x100=5_000)]
    result = ClassGrader(Policy((), BASIC_SCALE), items).result((("scored", 8_000), ("scored", 4_500),
                                                                  ("excused", None)))
    assert (result.unrounded, result.percentage_x100, result.letter, result.not_graded) == (86, 8_600, "B", 0)
    # The missing exam counts as 0 of 50: 0.4 x 80 + 0.6 x 0 = 32 over the weights 40 + 60.
    result = ClassGrader(Policy((), BASIC_SCALE), items).result((("scored", 8_000), ("missing", None), None))
    assert (result.unrounded, result.letter, result.not_graded) == (32, "F", 1)
    assert [c.effective_weight for c in result.breakdown.categories] == [40, 60, 0]


def test_categories_pool_points_and_renormalise_worked_example():
    # TEST (30 %): 80/100 and 2/10 pooled = 82/110; EXAM (50 %): 45/50 = 90 %; HW (20 %) has nothing counted.
    # (30 x 82/110 + 50 x 90) / 80 = (22.3636.. + 45) / 0.8 ... = 84.2045..%, rounded half up to 84.20.
    policy = Policy((grading.Category("EXAM", Fraction(50)), grading.Category("HW", Fraction(20)),
                     grading.Category("TEST", Fraction(30))), BASIC_SCALE)
    items = [assessment(1, max_x100=10_000, category="test"), assessment(2, max_x100=5_000, category="exam"),
             assessment(3, max_x100=1_000, category="Test")]
    result = ClassGrader(policy, items).result((("scored", 8_000), ("scored", 4_500), ("scored", 200)))
    assert result.unrounded == (Fraction(30) * Fraction(8_200, 110) + 50 * 90) / 80
    assert (result.percentage_x100, result.letter) == (8_420, "B")


def test_a_class_the_engine_refuses_is_refused_alike():
    policy = Policy((grading.Category("EXAM", Fraction(50)),), BASIC_SCALE)
    items = [assessment(1, max_x100=10_000, category="exam"), assessment(2, max_x100=5_000, category="essay")]
    with pytest.raises(InvalidInput) as engine:
        plan_for(policy, items)
    with pytest.raises(InvalidInput) as grader:
        ClassGrader(policy, items)
    assert str(grader.value) == str(engine.value) and grader.value.field == "category"
    with pytest.raises(InvalidInput, match="maximum must be above 0"):
        ClassGrader(Policy((), BASIC_SCALE), [assessment(1, max_x100=0, weight_x100=100)])
