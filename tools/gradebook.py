"""Gradebook tools beyond single scores: bulk import of a class's scores from CSV.

Registered on the academics module (they read and write academics data and leave with it).
"""

from __future__ import annotations

from pydantic import Field

from domain.academics import grade_import
from domain.kernel.actor import Role
from tools.academics import module as academics_module
from tools.registry import Effect, ToolContext
from tools.types import Id, ToolInput, ToolOutput

GRADERS = frozenset({Role.ADMIN, Role.REGISTRAR, Role.TEACHER})
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
