"""Pure grading rules: score checks, the weighted term percentage, rounding and the letter scale."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from domain.kernel.errors import InvalidInput

# The letter scale most US secondary schools publish (90/80/70/60); percentages are in hundredths.
DEFAULT_LETTER_SCALE: tuple[tuple[int, str], ...] = ((9000, "A"), (8000, "B"), (7000, "C"), (6000, "D"), (0, "F"))


def format_x100(value: int | None) -> str:
    """Show a hundredths integer as a decimal: 8450 -> '84.5', 8400 -> '84'."""
    if value is None:
        return "none"
    whole, frac = divmod(abs(value), 100)
    sign = "-" if value < 0 else ""
    return f"{sign}{whole}" if frac == 0 else f"{sign}{whole}.{frac:02d}".rstrip("0")


def check_score(score_x100: int, max_score_x100: int, *, field: str = "score") -> None:
    """Raise InvalidInput unless 0 <= score <= the assessment's maximum."""
    if score_x100 < 0:
        raise InvalidInput(f"score {format_x100(score_x100)} is negative; scores go from 0 to "
                           f"{format_x100(max_score_x100)}", field=field)
    if score_x100 > max_score_x100:
        raise InvalidInput(f"score {format_x100(score_x100)} is above the assessment's maximum "
                           f"{format_x100(max_score_x100)}", field=field)


@dataclass(frozen=True)
class ScoredItem:
    """One assessment result for the term grade: score and maximum in hundredths, weight in hundredths of %."""

    score_x100: int | None
    max_score_x100: int
    weight_x100: int


def weighted_percentage(items: Iterable[ScoredItem]) -> Fraction | None:
    """Return the exact weighted percentage over the scored items, or None when nothing is scored.

    Each item contributes score/max x weight; weights are renormalised over the items that have a score,
    so a missing score neither counts as zero nor changes the other items' relative weight.
    """
    total_weight = 0
    acc = Fraction(0)
    for item in items:
        if item.score_x100 is None or item.max_score_x100 <= 0:
            continue
        acc += Fraction(item.score_x100, item.max_score_x100) * item.weight_x100
        total_weight += item.weight_x100
    if total_weight == 0:
        return None
    return acc / total_weight * 100


def round_half_up_x100(percentage: Fraction | None) -> int | None:
    """Round a percentage to hundredths, halves away from zero (89.995 -> 90.00), as an integer x100."""
    if percentage is None:
        return None
    scaled = percentage * 100
    return int(scaled + Fraction(1, 2)) if scaled >= 0 else -int(-scaled + Fraction(1, 2))


def letter_for(percentage_x100: int | None,
               scale: tuple[tuple[int, str], ...] = DEFAULT_LETTER_SCALE) -> str | None:
    """Return the letter of the first band whose lower bound the percentage reaches."""
    if percentage_x100 is None:
        return None
    for lower, letter in scale:
        if percentage_x100 >= lower:
            return letter
    return scale[-1][1]
