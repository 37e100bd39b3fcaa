"""A class's grading policy, read from the database, and the grading engine applied to stored results.

The policy of a class is its assessment categories (`grading_categories`) and its grading scale (the
class's own, else the school's default scale, else BASIC_SCALE). A class without categories weights each
assessment by its own weight: every assessment is then a category of one, so the same engine
(domain.academics.grading) computes both kinds, renormalising over what is counted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache, partial

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import grading
from domain.academics import repository as repo
from domain.academics.models import (
    Assessment,
    Grade,
    GradeStatus,
    GradingCategory,
    GradingScaleRecord,
    SchoolClass,
    Student,
    TermComment,
)
from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.models import bump

# The 90/80/70/60 letter scale most US secondary schools publish, percentages rounded half up to hundredths:
# the scale of a school that has not set its own (it keeps the letters of rules.DEFAULT_LETTER_SCALE).
BASIC_SCALE = grading.GradingScale(
    code="BASIC",
    bands=(grading.GradeBand(Fraction(90), "A", Fraction(4), passing=True, earns_credit=True),
           grading.GradeBand(Fraction(80), "B", Fraction(3), passing=True, earns_credit=True),
           grading.GradeBand(Fraction(70), "C", Fraction(2), passing=True, earns_credit=True),
           grading.GradeBand(Fraction(60), "D", Fraction(1), passing=True, earns_credit=True),
           grading.GradeBand(Fraction(0), "F", Fraction(0), passing=False, earns_credit=False)),
    rounding=grading.RoundingMode.HALF_UP,
    decimals=2,
)
MAX_SCALE_DECIMALS = 2  # percentages are stored in hundredths


def bands_to_json(bands: Iterable[grading.GradeBand]) -> str:
    """Return bands as JSON (decimals as strings: "89.5"), highest first."""
    return json.dumps([{"min_percentage": _decimal(b.min_percentage), "letter": b.letter,
                        "gpa_points": _decimal(b.gpa_points), "passing": b.passing, "earns_credit": b.earns_credit}
                       for b in bands], separators=(",", ":"))


def scale_of(record: GradingScaleRecord) -> grading.GradingScale:
    """Return the engine's scale for a stored one (validated again)."""
    bands = tuple(grading.GradeBand(Fraction(b["min_percentage"]), b["letter"], Fraction(b["gpa_points"]),
                                    passing=b["passing"], earns_credit=b["earns_credit"])
                  for b in json.loads(record.bands))
    return grading.GradingScale(code=record.code, bands=bands, rounding=record.rounding, decimals=record.decimals)


def _decimal(value: Fraction) -> str:
    """Write a percentage or GPA value with up to 4 decimals, without trailing zeros (89.5, 3.7, 90)."""
    text = f"{float(value):.4f}".rstrip("0").rstrip(".")
    return text


def x100(value: Fraction | None) -> int | None:
    """A rounded percentage (at most 2 decimals) as integer hundredths."""
    return None if value is None else int(value * 100)


@dataclass(frozen=True)
class Policy:
    """How a class grades: categories (empty: each assessment weighted by its own weight) and the scale."""

    categories: tuple[grading.Category, ...]
    scale: grading.GradingScale

    @property
    def by_category(self) -> bool:
        return bool(self.categories)

    def engine_assessments(self, assessments: Iterable[Assessment]
                           ) -> tuple[tuple[grading.Category, ...], list[grading.Assessment]]:
        """Return the categories and the engine's assessments for `assessments` under this policy."""
        items = list(assessments)
        if self.by_category:
            return self.categories, [grading.Assessment(a.id or 0, (a.category or "").upper(),
                                                        Fraction(a.max_score_x100, 100)) for a in items]
        categories = tuple(grading.Category(f"#{a.id}", Fraction(max(a.weight_x100, 1), 100)) for a in items)
        return categories, [grading.Assessment(a.id or 0, f"#{a.id}", Fraction(a.max_score_x100, 100))
                            for a in items]


async def policies_for(session: AsyncSession, classes: Iterable[SchoolClass]) -> dict[int, Policy]:
    """Return the grading policy of each class, by class id, with one query per kind of row (bulk)."""
    items = list(classes)
    categories = await repo.categories_of_classes(session, [c.id or 0 for c in items])
    default = await repo.default_scale(session)
    scales: dict[int | None, grading.GradingScale] = {None: scale_of(default) if default else BASIC_SCALE}
    out = {}
    for cls in items:
        if cls.grading_scale_id not in scales:
            record = await repo.get_live(session, GradingScaleRecord, cls.grading_scale_id)  # type: ignore[arg-type]
            scales[cls.grading_scale_id] = scale_of(record) if record is not None else scales[None]
        out[cls.id or 0] = Policy(categories=tuple(grading.Category(c.code, Fraction(c.weight_x100, 100),
                                                                    c.drop_lowest)
                                                   for c in categories.get(cls.id or 0, ())),
                                  scale=scales[cls.grading_scale_id])
    return out


async def policy_for(session: AsyncSession, cls: SchoolClass, *, scale_code: str | None = None) -> Policy:
    """Return the grading policy of `cls` (its categories and scale); `scale_code` asks for that scale instead
    of the class's current one (a published grade keeps the scale it was published with; an unknown code falls
    back to the class's scale)."""
    policy = (await policies_for(session, [cls]))[cls.id or 0]
    if scale_code is None or scale_code == policy.scale.code:
        return policy
    if scale_code == BASIC_SCALE.code:
        return replace(policy, scale=BASIC_SCALE)
    named = await repo.by_code(session, GradingScaleRecord, scale_code)
    return replace(policy, scale=scale_of(named)) if named is not None else policy


def entry_of(grade: Grade | None) -> grading.ScoreEntry | None:
    """The engine's entry for a stored result (None: not graded yet)."""
    return None if grade is None else _entry(grade.status, grade.score_x100)


@lru_cache(maxsize=65536)
def _entry(status: str, score_x100: int | None) -> grading.ScoreEntry:
    # Entries are immutable and scores repeat across a school, so each (status, score) is built once.
    if status == GradeStatus.MISSING.value:
        return grading.ScoreEntry.missing()
    if status == GradeStatus.EXCUSED.value:
        return grading.ScoreEntry.excused()
    return grading.ScoreEntry.scored(Fraction(score_x100 or 0, 100))


class StudentResult:
    """A student's computed grade in a class and term: the graded percentage (`grade`; None: nothing counted yet),
    how many assessments have no result yet (`not_graded`), and the breakdown behind the grade (`breakdown`,
    whose `percentage` is the exact one the grade rounds).

    Made by student_result with its breakdown, or by ClassGrader.result with the class's grader and the
    student's results, from which the breakdown is made when first read. A school's term grades make 20,000 of
    these: slots, and no breakdown object until one is read, keep them cheap to make and for the garbage
    collector to scan (issue 19, bench/gradebook.py).
    """

    __slots__ = ("grade", "not_graded", "_breakdown", "_grader", "_cells")

    def __init__(self, breakdown: grading.GradeBreakdown | None, grade: grading.Grade | None, not_graded: int, *,
                 grader: ClassGrader | None = None, cells: tuple[ResultCell, ...] = ()) -> None:
        self.grade = grade
        self.not_graded = not_graded
        self._breakdown = breakdown
        self._grader = grader
        self._cells = cells

    @property
    def breakdown(self) -> grading.GradeBreakdown:
        if self._breakdown is None:
            assert self._grader is not None  # made by ClassGrader.result
            exact = self.grade.unrounded if self.grade else None
            self._breakdown = grading.GradeBreakdown(exact, detail=partial(self._grader.breakdown, self._cells))
        return self._breakdown

    @property
    def unrounded(self) -> Fraction | None:
        """The exact percentage the grade rounds (the breakdown's), None when nothing is counted yet."""
        return self.grade.unrounded if self.grade else None

    @property
    def percentage_x100(self) -> int | None:
        return x100(self.grade.percentage) if self.grade else None

    @property
    def letter(self) -> str | None:
        return self.grade.letter if self.grade else None

    def __eq__(self, other: object) -> bool:
        # As the dataclass it was: equal breakdowns are equal percentages, which equal grades hold (`unrounded`).
        if not isinstance(other, StudentResult):
            return NotImplemented
        return (self.grade, self.not_graded) == (other.grade, other.not_graded)

    def __hash__(self) -> int:
        return hash((self.grade, self.not_graded))

    def __repr__(self) -> str:
        return f"StudentResult(grade={self.grade!r}, not_graded={self.not_graded})"


def plan_for(policy: Policy, assessments: list[Assessment]) -> grading.GradingPlan:
    """The engine's checked plan for a class's assessments under its policy (build once per class)."""
    categories, items = policy.engine_assessments(assessments)
    return grading.GradingPlan(categories, items)


def student_result(policy: Policy, assessments: list[Assessment], grades: Mapping[int, Grade], *,
                   plan: grading.GradingPlan | None = None) -> StudentResult:
    """Grade one student: `grades` maps assessment id -> their stored result (missing key: not graded);
    `plan` (plan_for) saves rebuilding the class's plan for each student."""
    plan = plan or plan_for(policy, assessments)
    entries = {aid: _entry(g.status, g.score_x100) for aid, g in grades.items()}
    breakdown = plan.breakdown(entries)
    not_graded = len(assessments) - len(grades)
    return StudentResult(breakdown, policy.scale.grade(breakdown.percentage), not_graded)


_EXCUSED, _MISSING = GradeStatus.EXCUSED.value, GradeStatus.MISSING.value
_ENGINE, _ONE_EACH, _GROUPED = "engine", "one each", "grouped"

ResultCell = tuple[str, int | None] | None
"""A student's stored result on one assessment: (status, score_x100), or None when nothing is recorded yet."""


class ClassGrader:
    """A class's grading policy compiled for its assessments in a term, to grade each of its students.

    `result(cells)` grades one student from `cells`, their results in the order of `assessments` (ResultCell
    each), and answers what student_result answers for the same results: the same exact percentage, grade and
    count of assessments not graded yet (tests/domain/test_gradebook_grader.py compares the two). It computes
    the weighted percentage in integers from tables made once per class, the rules of
    grading.compute_breakdown applied to stored hundredths:
    - a category's percentage is 100 x sum(score_x100) / sum(max_score_x100) over its counted assessments
      (scored ones, and missing ones as 0; excused and ungraded ones left out);
    - the overall percentage is the mean of the counted categories' percentages weighted by their weights,
      renormalised over them. The weights are put over their common denominator as integers; when each
      category holds one assessment (a class weighting each assessment: the usual case), each assessment's
      term is a precomputed integer coefficient over the least common multiple of the maxima, so a student
      costs a multiply-add per result and one Fraction;
    - the breakdown's categories are computed by the engine only when read.
    A class whose categories drop lowest results goes through the engine for every student, and so does a
    result the engine refuses (a negative score, or one above the assessment's maximum), raising its error.

    Raises InvalidInput on construction as plan_for does (an assessment in a category the class does not have,
    a maximum not above 0, duplicate codes).
    """

    def __init__(self, policy: Policy, assessments: list[Assessment]) -> None:
        self.policy = policy
        self.assessments = assessments
        self.size = len(assessments)
        self.position = {a.id or 0: p for p, a in enumerate(assessments)}
        self._plan: grading.GradingPlan | None = None
        self._mode = self._compile()

    @property
    def plan(self) -> grading.GradingPlan:
        """The engine's checked plan for the class (plan_for), built when first needed."""
        if self._plan is None:
            self._plan = plan_for(self.policy, self.assessments)
        return self._plan

    def _compile(self) -> str:
        items, policy = self.assessments, self.policy
        maxima = [a.max_score_x100 for a in items]
        if policy.by_category:
            index = {c.code: n for n, c in enumerate(policy.categories)}
            of = [index.get((a.category or "").upper()) for a in items]
            weights = [c.weight for c in policy.categories]
            simple = (len(index) == len(policy.categories) and None not in of
                      and not any(c.drop_lowest for c in policy.categories))
        else:
            of = list(range(len(items)))
            weights = [Fraction(max(a.weight_x100, 1), 100) for a in items]
            simple = True
        if not (simple and all(m > 0 for m in maxima) and len(self.position) == len(items)):
            self.plan  # noqa: B018 - the engine's checks raise what plan_for raises for this class
            return _ENGINE
        common = math.lcm(*(w.denominator for w in weights)) if weights else 1
        integer_weights = [w.numerator * (common // w.denominator) for w in weights]
        categories: list[int] = [n for n in of if n is not None]
        if len(set(categories)) == len(categories):
            # Each counted assessment's term K x 100 x score / max is K x (L / max) x score / L, L the maxima's lcm.
            self._lcm = math.lcm(*maxima) if maxima else 1
            self._table = [(m, integer_weights[n], integer_weights[n] * (self._lcm // m))
                           for m, n in zip(maxima, categories)]
            return _ONE_EACH
        self._weights = integer_weights
        self._table = list(zip(categories, maxima))  # type: ignore[arg-type]
        return _GROUPED

    def result(self, cells: tuple[ResultCell, ...]) -> StudentResult:
        """Grade one student from their results in the order of the assessments (see the class docstring).
        Raises InvalidInput as student_result does for a result the engine refuses."""
        not_graded = 0
        if self._mode is _ONE_EACH:
            total = weight = 0
            for cell, (maximum, k, coefficient) in zip(cells, self._table):
                if cell is None:
                    not_graded += 1
                    continue
                status, score = cell
                if status == _EXCUSED:
                    continue
                if score and status != _MISSING:
                    if score < 0 or score > maximum:
                        return self._by_engine(cells)
                    total += coefficient * score
                weight += k
            percentage = Fraction(100 * total, self._lcm * weight) if weight else None
        elif self._mode is _GROUPED:
            scores, maxima = [0] * len(self._weights), [0] * len(self._weights)
            for cell, (n, maximum) in zip(cells, self._table):
                if cell is None:
                    not_graded += 1
                    continue
                status, score = cell
                if status == _EXCUSED:
                    continue
                if score and status != _MISSING:
                    if score < 0 or score > maximum:
                        return self._by_engine(cells)
                    scores[n] += score
                maxima[n] += maximum
            # sum of K x score / max over the counted categories, as one integer pair
            numerator, denominator, weight = 0, 1, 0
            for k, score, maximum in zip(self._weights, scores, maxima):
                if maximum:
                    numerator, denominator = numerator * maximum + k * score * denominator, denominator * maximum
                    weight += k
            percentage = Fraction(100 * numerator, denominator * weight) if weight else None
        else:
            return self._by_engine(cells)
        return StudentResult(None, self.policy.scale.grade(percentage), not_graded, grader=self, cells=cells)

    def breakdown(self, cells: tuple[ResultCell, ...]) -> grading.GradeBreakdown:
        """The engine's breakdown (grading.GradingPlan.breakdown) of one student's results, as `result` takes them."""
        entries = {a.id or 0: _entry(*cell) for a, cell in zip(self.assessments, cells) if cell is not None}
        return self.plan.breakdown(entries)

    def _by_engine(self, cells: tuple[ResultCell, ...]) -> StudentResult:
        breakdown = self.breakdown(cells)
        return StudentResult(breakdown, self.policy.scale.grade(breakdown.percentage), cells.count(None))


def class_average_x100(results: Iterable[StudentResult], scale: grading.GradingScale) -> int | None:
    """The class average of the students' unrounded percentages, rounded once by the scale, in hundredths."""
    average = grading.class_average(r.unrounded for r in results)
    graded = scale.grade(average)
    return x100(graded.percentage) if graded else None


# ---------------------------------------------------------------- categories and scales (use cases)


@dataclass(frozen=True)
class CategoryInput:
    """A category as a caller sets it: code (stored upper-case), name, weight in hundredths of a percent,
    how many lowest results to drop."""

    code: str
    name: str
    weight_x100: int
    drop_lowest: int = 0


@dataclass(frozen=True)
class CategoriesCheck:
    """A checked replacement of a class's categories: the class, the categories wanted by upper-case code, the
    class's assessments, and its category rows (deleted ones too, by code: a removed code can come back)."""

    cls: SchoolClass
    wanted: dict[str, CategoryInput]
    assessments: list[Assessment]
    rows: dict[str, GradingCategory]


async def check_categories(session: AsyncSession, actor: Actor, *, class_id: int,
                           categories: list[CategoryInput]) -> CategoriesCheck:
    """Check a replacement of a class's assessment categories (nothing written; plans.plan_set_grading_categories
    writes it). An empty list goes back to per-assessment weights.

    Every existing assessment of the class must fall in one of the new categories (matched case-insensitively,
    then stored upper-case). Raises InvalidInput (duplicate codes, a weight <= 0, negative drop_lowest, an
    assessment left without a category), NotFound, PermissionDenied outside a teacher's classes.
    """
    from domain.academics.service import ensure_teaches

    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    ensure_teaches(actor, cls)
    wanted: dict[str, CategoryInput] = {}
    for c in categories:
        code = c.code.strip().upper()
        if code in wanted:
            raise InvalidInput(f"category {code} is given twice; codes must be unique", field="categories")
        grading.Category(code, Fraction(c.weight_x100, 100), c.drop_lowest)  # validates weight and drop_lowest
        wanted[code] = replace(c, code=code)
    assessments = await repo.assessments_of(session, class_id)
    if wanted:
        stray = [a for a in assessments if (a.category or "").strip().upper() not in wanted]
        if stray:
            shown = ", ".join(f"'{a.title}' ({a.category or 'no category'})" for a in stray[:10])
            raise InvalidInput(f"{len(stray)} assessment(s) of {cls.code} would have no category: {shown}; "
                               f"include their categories (given: {', '.join(wanted)})", field="categories")
    rows = {r.code: r for r in await repo.categories_of(session, class_id, include_deleted=True)}
    return CategoriesCheck(cls, wanted, assessments, rows)


@dataclass(frozen=True)
class BandInput:
    """A band as a caller gives it: minimum percentage, letter, GPA points (exact decimals), pass, credit."""

    min_percentage: Decimal
    letter: str
    gpa_points: Decimal
    passing: bool
    earns_credit: bool


async def create_scale(session: AsyncSession, *, code: str, name: str, rounding: str, decimals: int,
                       bands: list[BandInput], is_default: bool) -> GradingScaleRecord:
    """Store a grading scale after validating it (domain.academics.grading.GradingScale); `is_default` makes it
    the school's scale for classes without their own, only while nothing depends on the default (see
    `check_default_unused`). Raises Conflict for a taken code or a default that classes rely on, InvalidInput
    naming what is wrong with the bands, the rounding or the decimals (0..2: percentages are kept in
    hundredths)."""
    code = code.strip().upper()
    if not 0 <= decimals <= MAX_SCALE_DECIMALS:
        raise InvalidInput(f"decimals is {decimals}; a scale rounds to 0..{MAX_SCALE_DECIMALS} decimals",
                           field="decimals")
    if await repo.by_code(session, GradingScaleRecord, code):
        raise Conflict(f"grading scale code {code!r} is already used", field="code")
    scale = grading.GradingScale(code=code, rounding=rounding, decimals=decimals, bands=tuple(
        grading.GradeBand(b.min_percentage, b.letter.strip(), b.gpa_points, passing=b.passing,
                          earns_credit=b.earns_credit) for b in bands))
    if is_default:
        await check_default_unused(session)
    row = GradingScaleRecord(code=code, name=name, rounding=scale.rounding.value, decimals=scale.decimals,
                             bands=bands_to_json(scale.bands), is_default=is_default)
    session.add(row)
    await session.flush()
    return row


async def check_default_unused(session: AsyncSession) -> None:
    """Rule (issue 15, the gate policy): a new scale may be made the school's default at its creation only while
    nothing depends on the default, i.e. the school has no default scale yet and no class grades by it (a
    school being set up). Otherwise changing the default changes the letters of every class without its own
    scale, so it is set_default_grading_scale, which needs an admin's approval. Raises Conflict."""
    current = await default_scale(session)
    relying = await repo.classes_on_default_scale(session)
    if current is None and not relying:
        return
    why = []
    if current is not None:
        why.append(f"the school's default scale is {current.code}")
    if relying:
        shown = ", ".join(c.code for c in relying[:5]) + (f" and {len(relying) - 5} more" if len(relying) > 5
                                                          else "")
        why.append(f"{len(relying)} class(es) grade by the default ({shown})")
    raise Conflict(f"is_default is refused: {' and '.join(why)}. Create the scale without is_default, then "
                   "set_default_grading_scale (it shows which classes change and needs an admin's approval)",
                   field="is_default")


async def grading_categories(session: AsyncSession, *, class_id: int) -> tuple[SchoolClass, list[GradingCategory]]:
    """Return a live class and its live assessment categories by code (none: each assessment counts with its own
    weight); raises NotFound (class_id)."""
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    return cls, await repo.categories_of(session, class_id)


async def list_scales(session: AsyncSession, *, after_id: int, limit: int) -> list[GradingScaleRecord]:
    """Return up to `limit + 1` live grading scales after `after_id` in id order (scale_of reads their bands)."""
    return await repo.list_rows(session, GradingScaleRecord, after_id=after_id, limit=limit)


async def default_scale(session: AsyncSession) -> GradingScaleRecord | None:
    """Return the school's default grading scale record, or None (the built-in BASIC scale grades then)."""
    return await repo.default_scale(session)


async def set_term_comment(session: AsyncSession, actor: Actor, *, class_id: int, term_id: int, student_id: int,
                           comment: str | None) -> TermComment | None:
    """Write (or with None, remove) a teacher's comment on a student's term in a class, for the report card.

    Raises NotFound, PermissionDenied outside a teacher's classes, InvalidInput when the term is of another
    year or the student is not enrolled in the class. Returns the comment row, or None once removed.
    """
    from domain.academics.service import _term_of_class, ensure_teaches, grade_enrollment

    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    ensure_teaches(actor, cls)
    await _term_of_class(session, cls, term_id)
    await grade_enrollment(session, cls, student_id)
    row = await repo.term_comment(session, class_id, term_id, student_id)
    if comment is None:
        if row is not None and row.deleted_at is None:
            row.deleted_at = utcnow()
            bump(row)
            session.add(row)
            await session.flush()
        return None
    if row is None:
        row = TermComment(class_id=class_id, term_id=term_id, student_id=student_id, comment=comment,
                          written_by=actor.id or None)
    else:
        row.comment, row.written_by, row.deleted_at = comment, actor.id or None, None
        bump(row)
    session.add(row)
    await session.flush()
    return row


# ---------------------------------------------------------------- transcripts


@dataclass(frozen=True)
class TermGradeChange:
    """A change of a published term grade: before and after (hundredths, letter), why, who asked and approved."""

    at: datetime
    percentage_before_x100: int | None
    letter_before: str | None
    percentage_after_x100: int | None
    letter_after: str | None
    reason: str | None
    requested_by: int | None
    approved_by: int | None
    action_id: int | None


@dataclass(frozen=True)
class TranscriptLine:
    """One published term grade of a student, with the changes approved after publication (oldest first)."""

    academic_year: str
    term: str
    term_id: int
    class_code: str
    subject: str
    percentage_x100: int | None
    letter: str | None
    gpa_points_x100: int | None
    credits_x100: int
    earns_credit: bool | None
    history: tuple[TermGradeChange, ...]


@dataclass(frozen=True)
class Transcript:
    """A student's published term grades across terms, with term and cumulative GPA and credits earned."""

    student: Student
    lines: list[TranscriptLine]
    term_gpa: dict[int, Fraction | None]
    gpa: Fraction | None
    credits_earned_x100: int


async def transcript(session: AsyncSession, *, student_id: int) -> Transcript:
    """Return the transcript of a student: every published term grade, oldest term first. GPA is the
    credit-weighted mean of the stored GPA points (as grading.gpa computes it from grades); a term grade
    without a percentage is left out. Raises NotFound."""
    student = await repo.get_or_raise(session, Student, student_id, field="student_id")
    changes: dict[tuple[int, int], list[TermGradeChange]] = {}
    for c in await repo.published_changes_of_student(session, student_id):
        changes.setdefault((c.class_id, c.term_id), []).append(TermGradeChange(
            at=c.created_at, percentage_before_x100=c.term_percentage_before_x100, letter_before=c.term_letter_before,
            percentage_after_x100=c.term_percentage_after_x100, letter_after=c.term_letter_after, reason=c.reason,
            requested_by=c.requested_by, approved_by=c.approved_by, action_id=c.action_id))
    lines = []
    for tg, cls, subject, term, year in await repo.published_grades_of_student(session, student_id):
        lines.append(TranscriptLine(academic_year=year.name, term=term.name, term_id=term.id or 0,
                                    class_code=cls.code, subject=subject.name, percentage_x100=tg.percentage_x100,
                                    letter=tg.letter, gpa_points_x100=tg.gpa_points_x100,
                                    credits_x100=subject.credits_x100, earns_credit=tg.earns_credit,
                                    history=tuple(changes.get((cls.id or 0, term.id or 0), ()))))

    def gpa_of(items: list[TranscriptLine]) -> Fraction | None:
        return grading.weighted_gpa((None if x.gpa_points_x100 is None else Fraction(x.gpa_points_x100, 100),
                                     Fraction(x.credits_x100, 100)) for x in items)

    terms = {x.term_id for x in lines}
    return Transcript(student=student, lines=lines,
                      term_gpa={t: gpa_of([x for x in lines if x.term_id == t]) for t in sorted(terms)},
                      gpa=gpa_of(lines), credits_earned_x100=sum(x.credits_x100 for x in lines if x.earns_credit))
