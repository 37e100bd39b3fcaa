"""Gradebook tools beyond single scores: how a class grades (categories, grading scales), bulk import of scores
from CSV, and transcripts.

Registered on the academics module (they read and write academics data and leave with it).
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import grade_import, gradebook, plans, service
from domain.academics.schemas import (
    CategoriesOut,
    ChangeRequestOut,
    ClassScaleOut,
    DefaultScaleOut,
    ImportGradesOut,
    ScaleOut,
    TermCommentOut,
    TranscriptLineOut,
    TranscriptOut,
    categories_out,
    from_x100_or_none,
    scale_out,
    term_grade_change_out,
)
from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from tools.academics import GRADERS, REGISTRY, Weight
from tools.academics import module as academics_module
from tools.jobs import IdempotencyKey, JobKind, JobOut, WaitSeconds, start_job, term_section_params
from tools.references import ClassRef, GradingScaleRef, SectionRef, StudentRef, TermRef, YearLevelRef
from tools.registry import Effect, GateLevel, ToolContext
from tools.types import Code, Name, Page, PageInput, ToolInput, page_of

READERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER, Role.VIEWER})
Percent = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2),
                    WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100,
                                    "description": "Percent, up to two decimal places."})]
GpaPoints = Annotated[Decimal, Field(ge=0, le=10, max_digits=4, decimal_places=2),
                      WithJsonSchema({"type": "number", "minimum": 0, "maximum": 10,
                                      "description": "GPA points, up to two decimal places."})]


# ---------------------------------------------------------------- categories


class CategoryIn(ToolInput):
    code: Code = Field(description="e.g. HW, QUIZ, EXAM (stored upper-case).")
    name: Name
    weight: Weight = Field(
        description="Percent of the term grade, renormalised over the categories a student has results in.")
    drop_lowest: int = Field(default=0, ge=0, le=20, description="A student's lowest results left out (never "
                                                                 "all of them).")


class SetCategoriesIn(ToolInput):
    class_id: ClassRef
    categories: list[CategoryIn] = Field(max_length=20, description="Replaces the class's categories; [] weights "
                                                                    "each assessment by its own weight again.")


def _plan_categories(session: AsyncSession, actor: Actor, args: SetCategoriesIn) -> Awaitable[Plan]:
    return plans.plan_set_grading_categories(session, actor, class_id=args.class_id, categories=[
        gradebook.CategoryInput(code=c.code, name=c.name, weight_x100=int(c.weight * 100), drop_lowest=c.drop_lowest)
        for c in args.categories])


@academics_module.tool(effect=Effect.DESTRUCTIVE, roles=GRADERS, gate=GateLevel.CONFIRM, plan=_plan_categories)
async def set_grading_categories(ctx: ToolContext, args: SetCategoriesIn) -> CategoriesOut:
    """Set how a class's term grade is weighted: categories, each with an optional drop-lowest, in which results count
    by points; every assessment of the class must fall in one. Once the class has published term grades an admin who did
    not ask must approve it too. Teachers only for their own classes."""
    return categories_out(*await gradebook.grading_categories(ctx.session, class_id=args.class_id))


class ClassIdIn(ToolInput):
    class_id: ClassRef


@academics_module.tool(effect=Effect.READ, roles=READERS)
async def get_grading_categories(ctx: ToolContext, args: ClassIdIn) -> CategoriesOut:
    """Show how a class weights its term grade: its categories, or each assessment by its own weight."""
    return categories_out(*await gradebook.grading_categories(ctx.session, class_id=args.class_id))


# ---------------------------------------------------------------- grading scales


class BandIn(ToolInput):
    min_percentage: Percent = Field(description="The band starts at this percentage (after rounding).")
    letter: Annotated[str, Field(min_length=1, max_length=4)]
    gpa_points: GpaPoints = Field(description="e.g. 3.7.")
    passing: bool
    earns_credit: bool = Field(description="Only a passing band can.")


class CreateScaleIn(ToolInput):
    code: Code
    name: Name
    rounding: Literal["half_up", "half_even", "down", "up"] = Field(
        default="half_up", description="How the percentage is rounded, once, before the band lookup.")
    decimals: int = Field(default=0, ge=0, le=2)
    bands: list[BandIn] = Field(min_length=1, max_length=30, description="One must start at 0.")
    is_default: bool = Field(default=False, description="Make it the school's default.")


@academics_module.tool(effect=Effect.WRITE, roles=REGISTRY)
async def create_grading_scale(ctx: ToolContext, args: CreateScaleIn) -> ScaleOut:
    """Create a grading scale: bands from a minimum percentage (after one rounding: 89.5 -> 90 -> A-) to a letter. It
    grades nothing until set_class_grading_scale or set_default_grading_scale uses it (is_default only while no class
    grades by the default)."""
    row = await gradebook.create_scale(ctx.session, code=args.code, name=args.name, rounding=args.rounding,
                                       decimals=args.decimals, is_default=args.is_default, bands=[
        gradebook.BandInput(b.min_percentage, b.letter, b.gpa_points, b.passing, b.earns_credit) for b in args.bands])
    return scale_out(row)


@academics_module.tool(effect=Effect.READ, roles=READERS)
async def list_grading_scales(ctx: ToolContext, args: PageInput) -> Page[ScaleOut]:
    """List the grading scales with their bands; the default one grades classes without their own (with none, the
    built-in BASIC scale: A 90, B 80, C 70, D 60, F)."""
    rows = await gradebook.list_scales(ctx.session, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit)
    return Page[ScaleOut](items=[scale_out(r) for r in page], next_cursor=cursor)


class SetClassScaleIn(ToolInput):
    class_id: ClassRef
    scale_id: GradingScaleRef | None = Field(description="null: the school's default.")


def _plan_class_scale(session: AsyncSession, actor: Actor, args: SetClassScaleIn) -> Awaitable[Plan]:
    return plans.plan_set_class_grading_scale(session, actor, class_id=args.class_id, scale_id=args.scale_id)


@academics_module.tool(effect=Effect.DESTRUCTIVE, roles=REGISTRY, gate=GateLevel.CONFIRM, plan=_plan_class_scale)
async def set_class_grading_scale(ctx: ToolContext, args: SetClassScaleIn) -> ClassScaleOut:
    """Give a class its own grading scale. Once the class has results or published term grades an admin who did not ask
    must approve it too. Published term grades keep their scale."""
    cls = await service.get_class(ctx.session, args.class_id)
    return ClassScaleOut(class_id=cls.id or 0, class_code=cls.code, scale_id=cls.grading_scale_id)


class SetDefaultScaleIn(ToolInput):
    scale_id: GradingScaleRef | None = Field(description="null: no default, the built-in BASIC scale.")


def _plan_default_scale(session: AsyncSession, actor: Actor, args: SetDefaultScaleIn) -> Awaitable[Plan]:
    return plans.plan_set_default_grading_scale(session, actor, scale_id=args.scale_id)


@academics_module.tool(effect=Effect.DESTRUCTIVE, roles=REGISTRY, gate=GateLevel.CONFIRM, plan=_plan_default_scale)
async def set_default_grading_scale(ctx: ToolContext, args: SetDefaultScaleIn) -> DefaultScaleOut:
    """Make a grading scale the school's default for every class without its own. When any class grades by the default
    an admin who did not ask must approve it too. Published term grades keep their scale."""
    assert ctx.plan is not None
    before, after = ctx.plan.preview["before"], ctx.plan.preview["after"]
    return DefaultScaleOut(scale_id=after["scale_id"], code=after["default_scale"],
                           previous_scale_id=before["scale_id"], previous_code=before["default_scale"],
                           classes_affected=ctx.plan.preview["classes_affected"])


MAX_CSV_CHARS = 500_000


class ImportGradesIn(ToolInput):
    class_id: ClassRef
    csv: str = Field(min_length=1, max_length=MAX_CSV_CHARS,
                     description="Header student_code,assessment,score[,comment]; one first score a line; "
                                 "assessment: its id or title; score: points, at most 2 decimals.")


@academics_module.tool(effect=Effect.WRITE, roles=GRADERS)
async def import_grades(ctx: ToolContext, args: ImportGradesIn) -> ImportGradesOut:
    """Import a class's first scores from CSV. Every line is checked first; if any is wrong nothing is written and the
    error names each wrong line and column (header = line 1). Changing a recorded score is change_grade. Teachers only
    for their own classes."""
    result = await grade_import.import_grades(ctx.session, ctx.actor, class_id=args.class_id, text=args.csv)
    return ImportGradesOut(class_id=result.cls.id or 0, class_code=result.cls.code, rows=result.rows,
                           created=result.created, unchanged=result.unchanged)


# ---------------------------------------------------------------- transcripts


class StudentIdIn(ToolInput):
    student_id: StudentRef


@academics_module.tool(effect=Effect.READ, roles=REGISTRY)
async def get_transcript(ctx: ToolContext, args: StudentIdIn) -> TranscriptOut:
    """Get a student's transcript: every published term grade with the changes approved after publication, each term's
    GPA, the cumulative GPA (credit-weighted) and the credits earned."""
    t = await gradebook.transcript(ctx.session, student_id=args.student_id)

    def two(value) -> float | None:
        return None if value is None else round(float(value), 2)

    return TranscriptOut(student_id=t.student.id or 0, student_code=t.student.code, student_name=t.student.full_name,
                         lines=[TranscriptLineOut(academic_year=x.academic_year, term=x.term, class_code=x.class_code,
                                                  subject=x.subject, percentage=from_x100_or_none(x.percentage_x100),
                                                  letter=x.letter, gpa_points=from_x100_or_none(x.gpa_points_x100),
                                                  credits=x.credits_x100 / 100, earns_credit=x.earns_credit,
                                                  history=[term_grade_change_out(c) for c in x.history]) for x in t.lines],
                         term_gpa={str(k): two(v) for k, v in t.term_gpa.items()}, gpa=two(t.gpa),
                         credits_earned=t.credits_earned_x100 / 100)


# ---------------------------------------------------------------- grade change requests


class ListChangeRequestsIn(PageInput):
    status: Literal["open", "decided", "all"] = Field(
        default="open", description="open: waiting for confirmation or an admin; decided: executed, rejected, "
                                    "cancelled, expired, stale or failed.")
    student_id: StudentRef | None = None


@academics_module.tool(effect=Effect.READ, roles=GRADERS)
async def list_grade_change_requests(ctx: ToolContext, args: ListChangeRequestsIn) -> Page[ChangeRequestOut]:
    """List grade change requests (changes of published grades: change_locked_grade), oldest first; teachers see their
    own. An admin who did not ask decides one with approve_action or reject_action."""
    items = await service.grade_change_requests(ctx.session, ctx.actor, status=args.status,
                                                student_id=args.student_id, after_id=args.after_id(),
                                                limit=args.limit)
    page, cursor = page_of(items, args.limit, key=lambda request: request.request_id)
    return Page[ChangeRequestOut](items=page, next_cursor=cursor)


# ---------------------------------------------------------------- report cards


class TermCommentIn(ToolInput):
    class_id: ClassRef
    term_id: TermRef
    student_id: StudentRef
    comment: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        description="null removes it.")


@academics_module.tool(effect=Effect.WRITE, roles=GRADERS)
async def set_term_comment(ctx: ToolContext, args: TermCommentIn) -> TermCommentOut:
    """Write the comment on a student's term in a class that the report card prints. Teachers only for their own
    classes."""
    row = await gradebook.set_term_comment(ctx.session, ctx.actor, class_id=args.class_id, term_id=args.term_id,
                                           student_id=args.student_id, comment=args.comment)
    return TermCommentOut(class_id=args.class_id, term_id=args.term_id, student_id=args.student_id,
                          comment=row.comment if row is not None else None)


class GenerateReportCardsIn(ToolInput):
    term_id: TermRef
    section_id: SectionRef | None = None
    year_level_id: YearLevelRef | None = Field(default=None, description="Every section of this year level in the term's "
                                                               "academic year.")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="The same key returns the same job.")
    wait_s: WaitSeconds = 0


@academics_module.tool(effect=Effect.WRITE, roles=REGISTRY, starts_job=True)
async def generate_report_cards(ctx: ToolContext, args: GenerateReportCardsIn) -> JobOut:
    """Start a job that makes a PDF report card for every enrolled student of a section or year level;
    result.document_ids lists them (get_document). An unpublished class shows its grade as computed now."""
    return await start_job(ctx, kind=JobKind.GENERATE_REPORT_CARDS,
                           params=await term_section_params(ctx.session, args), idempotency_key=args.idempotency_key)
