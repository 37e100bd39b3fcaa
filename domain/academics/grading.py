"""The gradebook's pure grading rules: score states, weighted categories, drop-lowest, grading scales, GPA.

No database and no I/O: every function takes plain values and returns frozen dataclasses (and named tuples). The services
convert the stored integer hundredths (`score_x100`, `max_score_x100`) with `Fraction(value_x100, 100)`
before calling in.

Arithmetic is exact (`fractions.Fraction`) from the points to the overall percentage; nothing is rounded
on the way, and a percentage is rounded exactly once, by `GradingScale.grade`, with the scale's own
rounding mode and number of decimals. Inputs must be exact numbers (int, Fraction or Decimal): a float
such as 89.49 is not the decimal 89.49, so floats are refused with InvalidInput.

Units: points are the assessment's own points (0..max_score); percentages are 0..100 (not 0..1);
category weights are percentages of the term grade; GPA points are on the 4.0 scale; credits are the
course's credits attempted.

Several names here (`Assessment`, `Grade`) are also table names in `models.py`; import the module
(`from domain.academics import grading`) and write `grading.Grade` where both are needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import NamedTuple, TypeAlias

from domain.kernel.errors import InvalidInput

AssessmentId: TypeAlias = Hashable
"""An assessment's id as the caller knows it (the table's int id, or a code); only equality matters."""

Number: TypeAlias = int | Fraction | Decimal


# ---------------------------------------------------------------- exact numbers


def _exact(value: object, *, field: str) -> Fraction:
    """Return `value` as a Fraction, or raise InvalidInput naming `field` if it is not an exact number."""
    if isinstance(value, bool) or not isinstance(value, (int, Fraction, Decimal)):
        raise InvalidInput(
            f"{field} must be an exact number (int, Fraction or Decimal), not {type(value).__name__} "
            f"{value!r}; floats cannot hold decimals such as 89.49 exactly",
            field=field,
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidInput(f"{field} must be a finite number, not {value}", field=field)
    return Fraction(value)


def _show(value: Fraction) -> str:
    """Write a Fraction for a message: exactly when it is a short decimal (89.5), else to 6 digits."""
    for places in range(0, 7):
        scaled = value * 10**places
        if scaled.denominator == 1:
            if places == 0:
                return str(scaled.numerator)
            sign = "-" if scaled < 0 else ""
            whole, frac = divmod(abs(scaled.numerator), 10**places)
            return f"{sign}{whole}.{frac:0{places}d}"
    return f"{float(value):.6g}"


# ---------------------------------------------------------------- rounding


class RoundingMode(StrEnum):
    """How a percentage is rounded to the scale's decimals.

    HALF_UP: halves away from zero (89.5 -> 90, the rule most gradebooks publish; decimal's ROUND_HALF_UP).
    HALF_EVEN: halves to the even neighbour (89.5 -> 90, 88.5 -> 88; "banker's rounding", IEEE 754's
    roundTiesToEven, decimal's ROUND_HALF_EVEN).
    DOWN: truncate toward zero (89.99 -> 89; decimal's ROUND_DOWN).
    UP: toward +infinity (89.01 -> 90; decimal's ROUND_CEILING - note, not decimal's ROUND_UP, which goes
    away from zero; the two differ only below zero, which a percentage never is).
    """

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"
    UP = "up"


def _coerce_mode(mode: RoundingMode | str, *, field: str = "rounding") -> RoundingMode:
    try:
        return RoundingMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in RoundingMode)
        raise InvalidInput(f"rounding mode {mode!r} is unknown; use one of {allowed}", field=field) from None


def _check_decimals(decimals: object, *, field: str = "decimals") -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0:
        raise InvalidInput(f"decimals must be a whole number 0 or more, not {decimals!r}", field=field)
    return decimals


def _round_ratio(numerator: int, denominator: int, mode: RoundingMode) -> int:
    """numerator / denominator (denominator > 0) rounded to an integer with `mode`, in integers only: DOWN toward
    zero, UP toward +infinity (the ceiling), HALF_UP with ties away from zero, HALF_EVEN with ties to even."""
    floor = numerator // denominator
    if mode is RoundingMode.DOWN:
        return floor if numerator >= 0 or floor * denominator == numerator else floor + 1
    if mode is RoundingMode.UP:
        return -(-numerator // denominator)
    twice_rest = 2 * (numerator - floor * denominator)  # 2 x the part above the floor, in 1/denominator
    if twice_rest < denominator:
        return floor
    if twice_rest > denominator:
        return floor + 1
    if mode is RoundingMode.HALF_EVEN:
        return floor if floor % 2 == 0 else floor + 1
    # HALF_UP: away from zero, so -2.5 -> -3 and 2.5 -> 3.
    return floor + 1 if numerator > 0 else floor


def round_percentage(value: Fraction, mode: RoundingMode | str, decimals: int = 0) -> Fraction:
    """Round `value` exactly to `decimals` decimal places with `mode`; return the result as a Fraction.

    `round_percentage(Fraction(179, 2), "down") == 89`; `round_percentage(Fraction(8949, 100), "half_up", 1)
    == Fraction(895, 10)`. Raises InvalidInput (field `rounding`, `decimals` or `value`) for an unknown
    mode, negative or non-integer decimals, or a value that is not an exact number.
    """
    exact = _exact(value, field="value")
    rounding = _coerce_mode(mode)
    places = _check_decimals(decimals)
    unit = 10**places
    return Fraction(_round_ratio(exact.numerator * unit, exact.denominator, rounding), unit)


# ---------------------------------------------------------------- scores, assessments, categories


class ScoreStatus(StrEnum):
    """The state of a student's result on an assessment once the teacher has entered something.

    SCORED: points were awarded (0..max). MISSING: the teacher marked the work missing; it counts as 0
    points out of the maximum. EXCUSED: the student is exempt; the assessment is left out entirely, as if
    it did not exist for this student. "Not yet graded" is not a status: it is no entry (None).
    """

    SCORED = "scored"
    MISSING = "missing"
    EXCUSED = "excused"


@dataclass(frozen=True)
class ScoreEntry:
    """A student's result on one assessment: points (scored), or missing, or excused.

    Build with `ScoreEntry.scored(points)`, `ScoreEntry.missing()` or `ScoreEntry.excused()`. Points are
    in the assessment's own points, exact, 0 or more; that they do not exceed the maximum is checked
    against the assessment in `compute_breakdown`. Raises InvalidInput (field `points`) for negative or
    inexact points, points on a missing/excused entry, or no points on a scored one.
    """

    status: ScoreStatus
    points: Fraction | None = None

    def __post_init__(self) -> None:
        try:
            status = ScoreStatus(self.status)
        except ValueError:
            allowed = ", ".join(s.value for s in ScoreStatus)
            raise InvalidInput(f"score status {self.status!r} is unknown; use one of {allowed}",
                               field="status") from None
        object.__setattr__(self, "status", status)
        if status is ScoreStatus.SCORED:
            if self.points is None:
                raise InvalidInput("a scored entry needs points; use missing() or excused() otherwise",
                                   field="points")
            points = _exact(self.points, field="points")
            if points < 0:
                raise InvalidInput(f"score {_show(points)} is negative; scores go from 0 to the "
                                   "assessment's maximum", field="points")
            object.__setattr__(self, "points", points)
        elif self.points is not None:
            raise InvalidInput(f"a {status.value} entry carries no points (got {self.points!r}); "
                               "record a score of 0 as scored(0)", field="points")

    @classmethod
    def scored(cls, points: Number) -> ScoreEntry:
        """Return an entry awarding `points` (exact, 0..the assessment's maximum)."""
        return cls(ScoreStatus.SCORED, points)  # type: ignore[arg-type]

    @classmethod
    def missing(cls) -> ScoreEntry:
        """Return an entry for work the teacher marked missing: it counts as 0 points."""
        return cls(ScoreStatus.MISSING)

    @classmethod
    def excused(cls) -> ScoreEntry:
        """Return an entry for an excused student: the assessment is left out of their grade."""
        return cls(ScoreStatus.EXCUSED)


@dataclass(frozen=True)
class Assessment:
    """What grading needs of an assessment: its id, its category code and its maximum points (> 0).

    Raises InvalidInput (field `max_score`) unless the maximum is an exact number above 0, and (field
    `category`) for an empty category code.
    """

    id: AssessmentId
    category: str
    max_score: Fraction

    def __post_init__(self) -> None:
        if not isinstance(self.category, str) or not self.category:
            raise InvalidInput(f"assessment {self.id!r} needs a category code, got {self.category!r}",
                               field="category")
        max_score = _exact(self.max_score, field="max_score")
        if max_score <= 0:
            raise InvalidInput(f"assessment {self.id!r} has maximum {_show(max_score)}; the maximum must be "
                               "above 0", field="max_score")
        object.__setattr__(self, "max_score", max_score)


@dataclass(frozen=True)
class Category:
    """A class's assessment category (e.g. HW, QUIZ, EXAM): its weight in percent and how many to drop.

    `weight` is a percentage of the term grade, above 0; weights need not add up to 100, since they are
    renormalised over the categories that have a counted assessment. `drop_lowest` is how many of the
    student's lowest counted results in the category are left out (0 or more). Raises InvalidInput
    (field `code`, `weight` or `drop_lowest`).
    """

    code: str
    weight: Fraction
    drop_lowest: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise InvalidInput(f"a category needs a non-empty code, got {self.code!r}", field="code")
        weight = _exact(self.weight, field="weight")
        if weight <= 0:
            raise InvalidInput(f"category {self.code} has weight {_show(weight)}%; a weight must be above 0 "
                               "(remove the category instead of weighting it 0)", field="weight")
        object.__setattr__(self, "weight", weight)
        drop = self.drop_lowest
        if isinstance(drop, bool) or not isinstance(drop, int) or drop < 0:
            raise InvalidInput(f"category {self.code} has drop_lowest {drop!r}; it must be a whole number "
                               "0 or more", field="drop_lowest")


# ---------------------------------------------------------------- the breakdown


class CategoryResult(NamedTuple):
    """One category of a student's breakdown.

    `percentage` is points-based and unrounded: sum(points) / sum(max) x 100 over `counted`, or None
    when the category has no counted assessment. `weight` is the configured weight (percent);
    `effective_weight` is the category's share of the overall percentage after renormalisation, in percent
    (the effective weights of the counted categories add up to 100; an uncounted category's is 0).
    `counted` and `dropped` are assessment ids in the order the assessments were given; `points` and
    `max_points` are the sums over `counted`.
    """

    code: str
    weight: Fraction
    percentage: Fraction | None
    points: Fraction
    max_points: Fraction
    counted: tuple[AssessmentId, ...]
    dropped: tuple[AssessmentId, ...]
    total_weight: Fraction = Fraction(0)  # of the counted categories

    @property
    def effective_weight(self) -> Fraction:
        """The category's share of the overall percentage, in percent (0 when it has nothing counted)."""
        if self.percentage is None or not self.total_weight:
            return _ZERO
        return Fraction(self.weight.numerator * self.total_weight.denominator * 100,
                        self.weight.denominator * self.total_weight.numerator)


@dataclass(frozen=True)
class GradeBreakdown:
    """A student's weighted percentage with its categories, in the order the categories were given.

    `percentage` is the overall percentage (0..100), exact and unrounded, or None when no assessment is
    counted in any category; round it once with `GradingScale.grade`. `categories` (CategoryResult each) is
    built when first read: a whole school's term grades need only the percentages, and building 100,000
    category results nobody reads was a third of their cost (issue 19, bench/gradebook.py). A breakdown made
    with `detail` (a caller that computed the percentage another way, as gradebook.ClassGrader does) takes its
    categories from the breakdown `detail()` returns, computed by this module when first read.
    """

    percentage: Fraction | None
    # Per category: (its percentage as an integer pair, or None), points, max points, counted items, dropped ids;
    # and the counted categories' total weight as an integer pair.
    parts: tuple[tuple[Category, tuple[int, int] | None, Fraction, Fraction, list, tuple], ...] = field(
        default=(), repr=False, compare=False)
    weight_pair: tuple[int, int] = field(default=(0, 1), repr=False, compare=False)
    detail: Callable[[], GradeBreakdown] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def categories(self) -> tuple[CategoryResult, ...]:
        if self.detail is not None:
            return self.detail().categories
        total_weight = Fraction(*self.weight_pair)
        return tuple(CategoryResult(code=category.code, weight=category.weight, total_weight=total_weight,
                                    percentage=None if pair is None else Fraction(*pair), points=points,
                                    max_points=max_points, counted=tuple(a.id for _, a, _ in kept), dropped=dropped)
                     for category, pair, points, max_points, kept, dropped in self.parts)

    def category(self, code: str) -> CategoryResult:
        """Return the result of category `code`; raise InvalidInput (field `category`) if there is none."""
        for result in self.categories:
            if result.code == code:
                return result
        known = ", ".join(r.code for r in self.categories) or "none"
        raise InvalidInput(f"category {code!r} is not in this breakdown; it has {known}", field="category")


_ZERO = Fraction(0)


def _drop_order(item: tuple[int, Assessment, Fraction]) -> tuple[Fraction, Fraction, int]:
    position, assessment, points = item
    # Lowest individual percentage first; on a tie the larger maximum first, then the earlier assessment.
    return (points / assessment.max_score, -assessment.max_score, position)


def compute_breakdown(
    categories: Sequence[Category],
    assessments: Sequence[Assessment],
    scores: Mapping[AssessmentId, ScoreEntry | None],
) -> GradeBreakdown:
    """Compute one student's category percentages and overall percentage, exactly and unrounded.

    `categories` are the class's categories (codes unique); `assessments` the term's assessments (ids
    unique, each in one of the categories); `scores` the student's entries by assessment id, where an
    absent id or None means not yet graded.

    Rules, in order:
    1. Counted assessments: scored ones (their points) and missing ones (0 points out of the maximum).
       Excused and not-yet-graded ones are left out entirely.
    2. Drop-lowest, per category: drop min(drop_lowest, counted - 1) assessments, so at least one counted
       assessment always stays. The dropped ones are those with the lowest individual percentage
       (points / max); on a tie, the one with the larger maximum is dropped first (the remaining
       results are all at or above the tied percentage, so removing more points at that percentage can
       only raise the student's category percentage); on a further tie, the one given earlier. This is
       the usual "lowest score" rule, not an optimiser: with unequal maxima, dropping the lowest
       percentage is not always the drop that gives the highest category percentage (Kane & Kane,
       "Dropping Lowest Grades", Mathematics Magazine 78(3), 2005), but it is the rule teachers announce.
    3. Category percentage, points-based: sum(points) / sum(max) x 100 over what is still counted.
    4. Overall: the mean of the category percentages weighted by the category weights, renormalised over
       the categories that have a counted assessment, so an empty category neither counts as 0 nor
       shifts the other categories' relative weight. No counted assessment at all: None.

    Raises InvalidInput naming the field: `categories` (duplicate codes), `assessments` (duplicate ids),
    `category` (an assessment in an unknown category), `scores` (an entry for an unknown assessment or
    not a ScoreEntry), `points` (a score above the assessment's maximum).
    """
    return GradingPlan(categories, assessments).breakdown(scores)


class GradingPlan:
    """A class's categories and assessments, checked once, to grade many students (see compute_breakdown).

    Raises InvalidInput as compute_breakdown does for the categories and assessments.
    """

    def __init__(self, categories: Sequence[Category], assessments: Sequence[Assessment]) -> None:
        by_code: dict[str, Category] = {}
        for category in categories:
            if category.code in by_code:
                raise InvalidInput(f"category code {category.code} appears twice; category codes must be unique",
                                   field="categories")
            by_code[category.code] = category

        known_ids: set[AssessmentId] = set()
        for assessment in assessments:
            if assessment.id in known_ids:
                raise InvalidInput(f"assessment {assessment.id!r} appears twice; assessment ids must be unique",
                                   field="assessments")
            known_ids.add(assessment.id)
            if assessment.category not in by_code:
                known = ", ".join(by_code) or "none"
                raise InvalidInput(f"assessment {assessment.id!r} is in category {assessment.category!r}, which "
                                   f"the class does not have; its categories are {known}", field="category")
        self.categories = tuple(categories)
        self.assessments = tuple(assessments)
        self.by_code = by_code
        self.known_ids = known_ids

    def breakdown(self, scores: Mapping[AssessmentId, ScoreEntry | None]) -> GradeBreakdown:
        """Grade one student: `scores` by assessment id (absent or None: not yet graded)."""
        categories, assessments, by_code, known_ids = (self.categories, self.assessments, self.by_code,
                                                       self.known_ids)
        for assessment_id, entry in scores.items():
            if assessment_id not in known_ids:
                raise InvalidInput(f"there is a score for assessment {assessment_id!r}, which is not one of "
                                   "the assessments being graded", field="scores")
            if entry is not None and not isinstance(entry, ScoreEntry):
                raise InvalidInput(f"the score for assessment {assessment_id!r} must be a ScoreEntry or None, "
                                   f"not {type(entry).__name__}", field="scores")

        counted_by_code: dict[str, list[tuple[int, Assessment, Fraction]]] = {code: [] for code in by_code}
        for position, assessment in enumerate(assessments):
            entry = scores.get(assessment.id)
            if entry is None or entry.status is ScoreStatus.EXCUSED:
                continue
            if entry.status is ScoreStatus.MISSING:
                points = _ZERO
            else:
                assert entry.points is not None  # a scored entry always has points (checked on construction)
                points = entry.points
                limit = assessment.max_score  # points > limit, in integers (cheaper than comparing Fractions)
                if points.numerator * limit.denominator > limit.numerator * points.denominator:
                    raise InvalidInput(f"score {_show(points)} on assessment {assessment.id!r} is above the "
                                       f"assessment's maximum {_show(assessment.max_score)}", field="points")
            counted_by_code[assessment.category].append((position, assessment, points))

        partial: list[tuple[Category, tuple[int, int] | None, Fraction, Fraction, list, tuple]] = []
        # The weights and the weighted sum are kept as integer numerator/denominator pairs and made Fractions
        # once at the end: the same exact value, without normalising after every addition.
        tw_num, tw_den, ws_num, ws_den = 0, 1, 0, 1
        for category in categories:
            counted = counted_by_code[category.code]
            drop_count = min(category.drop_lowest, max(len(counted) - 1, 0))
            if drop_count:
                dropped_positions = {pos for pos, _, _ in sorted(counted, key=_drop_order)[:drop_count]}
                kept = [item for item in counted if item[0] not in dropped_positions]
                dropped = tuple(a.id for pos, a, _ in counted if pos in dropped_positions)
            else:
                kept, dropped = counted, ()
            if len(kept) == 1:  # the common case (a class weighting each assessment): no sums to build
                points, max_points = kept[0][2], kept[0][1].max_score
            else:
                points = sum((p for _, _, p in kept), _ZERO)
                max_points = sum((a.max_score for _, a, _ in kept), _ZERO)
            # points / max_points x 100 as an integer pair, made a Fraction only if the category is read
            percentage = ((points.numerator * max_points.denominator * 100, points.denominator * max_points.numerator)
                          if kept else None)
            if percentage is not None:
                w = category.weight
                tw_num, tw_den = tw_num * w.denominator + w.numerator * tw_den, tw_den * w.denominator
                term_num, term_den = w.numerator * percentage[0], w.denominator * percentage[1]
                ws_num, ws_den = ws_num * term_den + term_num * ws_den, ws_den * term_den
            partial.append((category, percentage, points, max_points, kept, dropped))

        overall = Fraction(ws_num * tw_den, ws_den * tw_num) if tw_num else None
        return GradeBreakdown(overall, tuple(partial), (tw_num, tw_den))


# ---------------------------------------------------------------- grading scales


@dataclass(frozen=True)
class GradeBand:
    """A band of a grading scale: percentages from `min_percentage` up to the next band's minimum.

    `min_percentage` is 0..100 (exact); `gpa_points` is 0 or more on the 4.0 scale; `passing` says the
    band passes the course and `earns_credit` that it earns the course's credits (a band can pass
    without earning credit, never the reverse; that is checked by GradingScale). Raises InvalidInput
    (field `letter`, `min_percentage` or `gpa_points`).
    """

    min_percentage: Fraction
    letter: str
    gpa_points: Fraction
    passing: bool
    earns_credit: bool

    def __post_init__(self) -> None:
        if not isinstance(self.letter, str) or not self.letter.strip():
            raise InvalidInput(f"a grade band needs a letter, got {self.letter!r}", field="letter")
        minimum = _exact(self.min_percentage, field="min_percentage")
        if not 0 <= minimum <= 100:
            raise InvalidInput(f"band {self.letter} starts at {_show(minimum)}%; a band's minimum must be "
                               "from 0 to 100", field="min_percentage")
        points = _exact(self.gpa_points, field="gpa_points")
        if points < 0:
            raise InvalidInput(f"band {self.letter} has {_show(points)} GPA points; GPA points must be 0 or "
                               "more", field="gpa_points")
        object.__setattr__(self, "min_percentage", minimum)
        object.__setattr__(self, "gpa_points", points)


@dataclass(frozen=True, slots=True)
class Grade:
    """A graded percentage: the percentage rounded once by the scale, the unrounded one, and its band."""

    percentage: Fraction
    unrounded: Fraction
    band: GradeBand

    @property
    def letter(self) -> str:
        return self.band.letter

    @property
    def gpa_points(self) -> Fraction:
        return self.band.gpa_points

    @property
    def passing(self) -> bool:
        return self.band.passing

    @property
    def earns_credit(self) -> bool:
        return self.band.earns_credit


@dataclass(frozen=True)
class GradingScale:
    """A grading scale: bands from percentage to letter, and how a percentage is rounded before lookup.

    `bands` may be given highest-first or lowest-first and are kept highest-first. Validated on
    construction; InvalidInput names the problem (field in brackets):
    - the code is empty [code]; there are no bands [bands];
    - `rounding` is not a RoundingMode [rounding]; `decimals` is not a whole number >= 0 [decimals];
    - two bands share a minimum [bands], or the minima are not in one strict order [bands];
    - no band starts at 0, so some percentages would map to nothing [bands];
    - two bands share a letter [bands];
    - a minimum has more decimals than the scale rounds to, so no rounded percentage equals it [bands];
    - a lower band has more GPA points than a higher one [bands];
    - a passing band is below a failing one, or a credit-earning band below one that earns none, or a
      band earns credit without passing [bands].
    """

    code: str
    bands: tuple[GradeBand, ...]
    rounding: RoundingMode = RoundingMode.HALF_UP
    decimals: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not self.code:
            raise InvalidInput(f"a grading scale needs a non-empty code, got {self.code!r}", field="code")
        object.__setattr__(self, "rounding", _coerce_mode(self.rounding))
        _check_decimals(self.decimals)
        bands = tuple(self.bands)
        if not bands:
            raise InvalidInput(f"grading scale {self.code} has no bands; give at least one band starting "
                               "at 0", field="bands")
        for band in bands:
            if not isinstance(band, GradeBand):
                raise InvalidInput(f"grading scale {self.code}: bands must be GradeBand, not "
                                   f"{type(band).__name__}", field="bands")
        minima = [b.min_percentage for b in bands]
        seen: dict[Fraction, str] = {}
        for band in bands:
            if band.min_percentage in seen:
                raise InvalidInput(f"grading scale {self.code}: bands {seen[band.min_percentage]} and "
                                   f"{band.letter} both start at {_show(band.min_percentage)}%; each band "
                                   "needs its own minimum", field="bands")
            seen[band.min_percentage] = band.letter
        descending = all(a > b for a, b in zip(minima, minima[1:]))
        ascending = all(a < b for a, b in zip(minima, minima[1:]))
        if not (descending or ascending):
            order = ", ".join(f"{b.letter} {_show(b.min_percentage)}" for b in bands)
            raise InvalidInput(f"grading scale {self.code}: band minima must be in one order, highest first "
                               f"or lowest first; got {order}", field="bands")
        if not descending:
            bands = tuple(reversed(bands))
        if bands[-1].min_percentage != 0:
            raise InvalidInput(f"grading scale {self.code}: the lowest band ({bands[-1].letter}) starts at "
                               f"{_show(bands[-1].min_percentage)}%; a band must start at 0 so that every "
                               "percentage gets a grade", field="bands")
        letters: set[str] = set()
        for band in bands:
            if band.letter in letters:
                raise InvalidInput(f"grading scale {self.code}: letter {band.letter} is used by two bands; "
                                   "letters must be unique", field="bands")
            letters.add(band.letter)
        unit = 10**self.decimals
        for band in bands:
            if (band.min_percentage * unit).denominator != 1:
                raise InvalidInput(f"grading scale {self.code}: band {band.letter} starts at "
                                   f"{_show(band.min_percentage)}%, which has more than {self.decimals} "
                                   "decimal(s), but percentages are rounded to that many before lookup",
                                   field="bands")
        for higher, lower in zip(bands, bands[1:]):
            if lower.gpa_points > higher.gpa_points:
                raise InvalidInput(f"grading scale {self.code}: band {lower.letter} has more GPA points "
                                   f"({_show(lower.gpa_points)}) than the higher band {higher.letter} "
                                   f"({_show(higher.gpa_points)})", field="bands")
            if lower.passing and not higher.passing:
                raise InvalidInput(f"grading scale {self.code}: band {lower.letter} passes but the higher "
                                   f"band {higher.letter} does not", field="bands")
            if lower.earns_credit and not higher.earns_credit:
                raise InvalidInput(f"grading scale {self.code}: band {lower.letter} earns credit but the "
                                   f"higher band {higher.letter} does not", field="bands")
        for band in bands:
            if band.earns_credit and not band.passing:
                raise InvalidInput(f"grading scale {self.code}: band {band.letter} earns credit without "
                                   "passing; a band that earns credit must pass", field="bands")
        object.__setattr__(self, "bands", bands)
        # For grade(): each band's minimum in units of the rounding (whole numbers, checked above), highest first.
        object.__setattr__(self, "_unit", unit)
        object.__setattr__(self, "_thresholds", tuple((band.min_percentage.numerator * unit)
                                                      // band.min_percentage.denominator for band in bands))
        # grade()'s rounded percentages and their bands by units, made once each (at most 100 x unit + 1 of them):
        # a school's term grades round to a few thousand values.
        object.__setattr__(self, "_graded", {})

    def grade(self, percentage: Fraction | None) -> Grade | None:
        """Round `percentage` once with the scale's mode and decimals and return it with its band.

        None (nothing counted yet) gives None. The band is the highest one whose minimum the rounded
        percentage reaches; above 100 maps to the top band. Raises InvalidInput (field `percentage`) for
        a negative or inexact percentage.
        """
        if percentage is None:
            return None
        exact = percentage if type(percentage) is Fraction else _exact(percentage, field="percentage")
        if exact.numerator < 0:
            raise InvalidInput(f"percentage {_show(exact)} is negative; percentages go from 0 to 100",
                               field="percentage")
        # Rounded and looked up in whole units of the rounding (integers only; the same as round_percentage).
        unit: int = self._unit  # type: ignore[attr-defined]
        units = _round_ratio(exact.numerator * unit, exact.denominator, self.rounding)
        graded: dict[int, tuple[Fraction, GradeBand]] = self._graded  # type: ignore[attr-defined]
        known = graded.get(units)
        if known is None:
            band = next(b for b, t in zip(self.bands, self._thresholds) if units >= t)  # type: ignore[attr-defined]
            known = (Fraction(units, unit), band)
            if units <= 100 * unit:
                graded[units] = known
        return Grade(known[0], exact, known[1])


def _us_band(minimum: int, letter: str, points: str) -> GradeBand:
    passing = minimum > 0
    return GradeBand(Fraction(minimum), letter, Fraction(points), passing=passing, earns_credit=passing)


# The College Board's conversion table ("How to Convert Your GPA to a 4.0 Scale", BigFuture): A+ 97-100
# and A 93-96 are 4.0, A- 90-92 3.7, B+ 87-89 3.3, B 83-86 3.0, B- 80-82 2.7, C+ 77-79 2.3, C 73-76 2.0,
# C- 70-72 1.7, D+ 67-69 1.3, D 65-66 1.0, E/F below 65 0.0. Its ranges are whole percentages, so the
# percentage is rounded to 0 decimals first, half up as most US gradebooks do (89.5 -> 90 -> A-).
# D passes and earns credit; F neither.
DEFAULT_SCALE = GradingScale(
    code="US_4_0",
    bands=(
        _us_band(97, "A+", "4.0"),
        _us_band(93, "A", "4.0"),
        _us_band(90, "A-", "3.7"),
        _us_band(87, "B+", "3.3"),
        _us_band(83, "B", "3.0"),
        _us_band(80, "B-", "2.7"),
        _us_band(77, "C+", "2.3"),
        _us_band(73, "C", "2.0"),
        _us_band(70, "C-", "1.7"),
        _us_band(67, "D+", "1.3"),
        _us_band(65, "D", "1.0"),
        _us_band(0, "F", "0"),
    ),
    rounding=RoundingMode.HALF_UP,
    decimals=0,
)


# ---------------------------------------------------------------- running averages


def class_average(percentages: Iterable[Fraction | None]) -> Fraction | None:
    """Return the mean percentage of the students that have one (None entries are left out), exactly.

    Gives None when no student has a percentage. Raises InvalidInput (field `percentages`) for an entry
    that is not an exact number.
    """
    total = Fraction(0)
    count = 0
    for value in percentages:
        if value is None:
            continue
        total += _exact(value, field="percentages")
        count += 1
    return total / count if count else None


def gpa(grades: Iterable[tuple[Grade | None, Fraction]]) -> Fraction | None:
    """Return the credit-weighted mean of the grades' GPA points, exactly: sum(points x credits) / credits.

    Each item is (grade, credits attempted). Courses with 0 credits and ungraded courses (grade None) are
    left out; failing grades count with their (0) points. Gives None when no course is left. Raises
    InvalidInput (field `credits`) for negative or inexact credits.
    """
    return weighted_gpa((None if grade is None else grade.gpa_points, credits) for grade, credits in grades)


def weighted_gpa(points_and_credits: Iterable[tuple[Number | None, Number]]) -> Fraction | None:
    """Return sum(points x credits) / credits over (GPA points, credits) pairs, exactly (what `gpa` computes from
    grades; transcripts and report cards call it with stored points). Pairs without points or with 0 credits are
    left out; None when none is left. Raises InvalidInput (field `credits`) for negative or inexact credits."""
    total_points = Fraction(0)
    total_credits = Fraction(0)
    for points, credits in points_and_credits:
        exact_credits = _exact(credits, field="credits")
        if exact_credits < 0:
            raise InvalidInput(f"credits {_show(exact_credits)} are negative; credits must be 0 or more",
                               field="credits")
        if points is None or exact_credits == 0:
            continue
        total_points += _exact(points, field="gpa_points") * exact_credits
        total_credits += exact_credits
    return total_points / total_credits if total_credits else None
