"""Gradebook tools beyond single scores: how a class grades (categories, grading scales), bulk import of scores
from CSV, and transcripts.

Registered on the academics module (they read and write academics data and leave with it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema

from domain.academics import grade_import, gradebook
from domain.academics import repository as repo
from domain.academics.models import GradingCategory, GradingScaleRecord, SchoolClass
from domain.kernel.actor import Role
from tools.academics import module as academics_module
from tools.registry import Effect, ToolContext
from tools.types import Code, Id, Name, Page, PageInput, ToolInput, ToolOutput, page_of

GRADERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER})
REGISTRY = frozenset({Role.ADMIN, Role.REGISTRAR})
READERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER, Role.VIEWER})
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2),
                    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100,
                                    "description": "Percent, up to two decimal places."})]
GpaPoints = Annotated[Decimal, Field(ge=0, le=10, max_digits=4, decimal_places=2),
                      WithJsonSchema({"type": "number", "minimum": 0, "maximum": 10,
                                      "description": "GPA points, up to two decimal places."})]
Weight = Annotated[Decimal, Field(gt=0, le=100, max_digits=5, decimal_places=2),
                   WithJsonSchema({"type": "number", "exclusiveMinimum": 0, "maximum": 100,
                                   "description": "Percent of the term grade, up to two decimal places."})]


def _pct(value_x100: int | None) -> float | None:
    return None if value_x100 is None else value_x100 / 100


# ---------------------------------------------------------------- categories


class CategoryIn(ToolInput):
    code: Code = Field(description="Short code, e.g. HW, QUIZ, EXAM (stored upper-case).")
    name: Name
    weight: Weight = Field(
        description="Percent of the term grade, above 0; weights are renormalised over the categories a student "
                    "has results in.")
    drop_lowest: int = Field(default=0, ge=0, le=20, description="How many of a student's lowest results in the "
                                                                 "category are left out (never all of them).")


class SetCategoriesIn(ToolInput):
    class_id: Id
    categories: list[CategoryIn] = Field(max_length=20, description="The class's categories (replaces them; an "
                                                                    "empty list weights each assessment again).")


class CategoryOut(ToolOutput):
    code: str
    name: str
    weight: float = Field(description="Percent of the term grade.")
    drop_lowest: int


class CategoriesOut(ToolOutput):
    class_id: int
    class_code: str
    by_category: bool = Field(description="False: each assessment counts with its own weight.")
    categories: list[CategoryOut]


def _categories_out(cls: SchoolClass, rows: list[GradingCategory]) -> CategoriesOut:
    return CategoriesOut(class_id=cls.id or 0, class_code=cls.code, by_category=bool(rows),
                         categories=[CategoryOut(code=r.code, name=r.name, weight=r.weight_x100 / 100,
                                                 drop_lowest=r.drop_lowest) for r in rows])


@academics_module.tool(effect=Effect.WRITE, roles=GRADERS)
async def set_grading_categories(ctx: ToolContext, args: SetCategoriesIn) -> CategoriesOut:
    """Set how a class's term grade is weighted: categories (e.g. HW 20, QUIZ 30, EXAM 50) with an optional
    drop-lowest, replacing the current ones; within a category results count by points. Every assessment of the
    class must fall in one of them. An empty list goes back to each assessment's own weight. Published term
    grades are not recomputed. Teachers only for their own classes."""
    cls, rows = await gradebook.set_categories(ctx.session, ctx.actor, class_id=args.class_id, categories=[
        gradebook.CategoryInput(code=c.code, name=c.name, weight_x100=int(c.weight * 100), drop_lowest=c.drop_lowest)
        for c in args.categories])
    return _categories_out(cls, rows)


class ClassIdIn(ToolInput):
    class_id: Id


@academics_module.tool(effect=Effect.READ, roles=READERS)
async def get_grading_categories(ctx: ToolContext, args: ClassIdIn) -> CategoriesOut:
    """Show how a class weights its term grade: its categories, or that each assessment counts with its own
    weight."""
    cls = await repo.get_or_raise(ctx.session, SchoolClass, args.class_id, field="class_id")
    return _categories_out(cls, await repo.categories_of(ctx.session, args.class_id))


# ---------------------------------------------------------------- grading scales


class BandIn(ToolInput):
    min_percentage: Percent = Field(description="The band starts at this percentage (after rounding).")
    letter: Annotated[str, Field(min_length=1, max_length=4)]
    gpa_points: GpaPoints = Field(description="GPA points of the band, e.g. 3.7.")
    passing: bool = Field(description="The band passes the course.")
    earns_credit: bool = Field(description="The band earns the course's credits (only a passing band can).")


class CreateScaleIn(ToolInput):
    code: Code
    name: Name
    rounding: Literal["half_up", "half_even", "down", "up"] = Field(
        default="half_up", description="How the percentage is rounded, once, before the band lookup.")
    decimals: int = Field(default=0, ge=0, le=2, description="Decimals the percentage is rounded to, 0..2.")
    bands: list[BandIn] = Field(min_length=1, max_length=30, description="The bands; one must start at 0.")
    is_default: bool = Field(default=False, description="Make it the school's scale for classes without their own.")


class BandOut(ToolOutput):
    min_percentage: float
    letter: str
    gpa_points: float
    passing: bool
    earns_credit: bool


class ScaleOut(ToolOutput):
    scale_id: int | None = Field(description="Null for the built-in BASIC scale (A 90, B 80, C 70, D 60).")
    code: str
    name: str
    rounding: str
    decimals: int
    is_default: bool
    bands: list[BandOut] = Field(description="Highest first.")


def _scale_out(row: GradingScaleRecord) -> ScaleOut:
    scale = gradebook.scale_of(row)
    return ScaleOut(scale_id=row.id, code=row.code, name=row.name, rounding=row.rounding, decimals=row.decimals,
                    is_default=row.is_default, bands=[BandOut(min_percentage=float(b.min_percentage), letter=b.letter,
                                                              gpa_points=float(b.gpa_points), passing=b.passing,
                                                              earns_credit=b.earns_credit) for b in scale.bands])


@academics_module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_grading_scale(ctx: ToolContext, args: CreateScaleIn) -> ScaleOut:
    """Create a grading scale: bands from a minimum percentage to a letter with GPA points, pass and credit,
    and the rounding applied once before looking the band up (e.g. half_up to 0 decimals: 89.5 -> 90 -> A-).
    is_default makes it the school's scale. Refuses bands that leave percentages without a grade."""
    row = await gradebook.create_scale(ctx.session, code=args.code, name=args.name, rounding=args.rounding,
                                       decimals=args.decimals, is_default=args.is_default, bands=[
        gradebook.BandInput(b.min_percentage, b.letter, b.gpa_points, b.passing, b.earns_credit) for b in args.bands])
    return _scale_out(row)


@academics_module.tool(effect=Effect.READ, roles=READERS)
async def list_grading_scales(ctx: ToolContext, args: PageInput) -> Page[ScaleOut]:
    """List the school's grading scales with their bands; the default one grades classes without their own
    (with none, the built-in BASIC scale: A 90, B 80, C 70, D 60, F, rounded half up to hundredths)."""
    rows = await repo.list_rows(ctx.session, GradingScaleRecord, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[ScaleOut](items=[_scale_out(r) for r in page], next_cursor=cursor)


class SetClassScaleIn(ToolInput):
    class_id: Id
    scale_id: Id | None = Field(description="The scale (list_grading_scales); null: the school's default.")


class ClassScaleOut(ToolOutput):
    class_id: int
    class_code: str
    scale_id: int | None


@academics_module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def set_class_grading_scale(ctx: ToolContext, args: SetClassScaleIn) -> ClassScaleOut:
    """Give a class its own grading scale, or null to use the school's default. Published term grades keep the
    scale they were published with."""
    cls = await gradebook.set_class_scale(ctx.session, class_id=args.class_id, scale_id=args.scale_id)
    return ClassScaleOut(class_id=cls.id or 0, class_code=cls.code, scale_id=cls.grading_scale_id)
MAX_CSV_CHARS = 500_000


class ImportGradesIn(ToolInput):
    class_id: Id = Field(description="The class whose scores the file holds.")
    csv: str = Field(min_length=1, max_length=MAX_CSV_CHARS,
                     description="CSV text with the header student_code,assessment,score[,comment]: one first "
                                 "score per line; assessment is the id or the title; score in points, at most "
                                 "2 decimals.")


class ImportGradesOut(ToolOutput):
    class_id: int
    class_code: str
    rows: int = Field(description="Score lines read.")
    created: int = Field(description="Scores recorded.")
    unchanged: int = Field(description="Lines whose identical score was already recorded (a repeated import).")


@academics_module.tool(effect=Effect.WRITE, roles=GRADERS)
async def import_grades(ctx: ToolContext, args: ImportGradesIn) -> ImportGradesOut:
    """Import a class's first scores from CSV in one go. Every line is checked first (the student is enrolled,
    the assessment belongs to the class, the score is within its maximum, not already different, not locked);
    if any line is wrong nothing is written and the error lists each wrong line and column (header = line 1).
    Changing a recorded score stays change_grade. Teachers only for their own classes."""
    result = await grade_import.import_grades(ctx.session, ctx.actor, class_id=args.class_id, text=args.csv)
    return ImportGradesOut(class_id=result.cls.id or 0, class_code=result.cls.code, rows=result.rows,
                           created=result.created, unchanged=result.unchanged)


# ---------------------------------------------------------------- transcripts


class StudentIdIn(ToolInput):
    student_id: Id


class TranscriptLineOut(ToolOutput):
    academic_year: str
    term: str
    class_code: str
    subject: str
    percentage: float | None
    letter: str | None
    gpa_points: float | None
    credits: float
    earns_credit: bool | None
    changed_after_publication: bool = Field(description="An approved change altered it after publication.")


class TranscriptOut(ToolOutput):
    student_id: int
    student_code: str
    student_name: str
    lines: list[TranscriptLineOut] = Field(description="Published term grades, oldest term first.")
    term_gpa: dict[str, float | None] = Field(description="GPA per term id (credit-weighted GPA points).")
    gpa: float | None = Field(description="Cumulative GPA over every published term grade, 2 decimals.")
    credits_earned: float


@academics_module.tool(effect=Effect.READ, roles=REGISTRY)
async def get_transcript(ctx: ToolContext, args: StudentIdIn) -> TranscriptOut:
    """Get a student's transcript: every published term grade (percentage, letter, GPA points, credits) across
    terms and years, each term's GPA and the cumulative GPA (credit-weighted), and credits earned."""
    t = await gradebook.transcript(ctx.session, student_id=args.student_id)

    def two(value) -> float | None:
        return None if value is None else round(float(value), 2)

    return TranscriptOut(student_id=t.student.id or 0, student_code=t.student.code, student_name=t.student.full_name,
                         lines=[TranscriptLineOut(academic_year=x.academic_year, term=x.term, class_code=x.class_code,
                                                  subject=x.subject, percentage=_pct(x.percentage_x100),
                                                  letter=x.letter, gpa_points=_pct(x.gpa_points_x100),
                                                  credits=x.credits_x100 / 100, earns_credit=x.earns_credit,
                                                  changed_after_publication=x.changed) for x in t.lines],
                         term_gpa={str(k): two(v) for k, v in t.term_gpa.items()}, gpa=two(t.gpa),
                         credits_earned=t.credits_earned_x100 / 100)
