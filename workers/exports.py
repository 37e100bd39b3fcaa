"""The grade export job: a term's percentages and letters, class by class, as CSV."""

from __future__ import annotations

from typing import Any

from domain.academics import repository as academics_repo
from domain.academics import service as academics
from domain.jobs.schemas import JobKind
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.csv_writer import render_csv
from workers.handlers import JobContext, register

CSV_HEADER = ("class_code", "student_code", "student_name", "percentage", "letter")


def format_percentage(percentage_x100: int | None) -> str:
    """Render a percentage in hundredths as '87.50' ('' when there is none yet)."""
    if percentage_x100 is None:
        return ""
    return f"{percentage_x100 // 100}.{percentage_x100 % 100:02d}"


EXPORT_BATCH = 25
"""Classes whose term grades one read computes (academics.compute_all_term_grades: a handful of queries per batch
whatever its size); progress is reported after each batch. A section's ten classes are one batch: computing them
class by class cost the worker and PostgreSQL 212-243 ms of CPU per job, in one batch without grade rows 71-79 ms
(bench/load.py's export jobs, the load helper's measurement)."""


@register(JobKind.EXPORT_TERM_GRADES)
async def export_term_grades(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Compute every class's term grades of the sections in `params` and return {"csv", "rows"}.

    Params: term_id and section_ids (resolved by the export_term_grades tool). Reports progress per batch of
    EXPORT_BATCH classes. Grades come from academics.compute_all_term_grades (weighted percentage, rounded half up,
    letter by the grading scale; what compute_term_grades answers class by class); running it again gives the
    same CSV, so a re-run after a worker restart is harmless.
    """
    term_id = int(params["term_id"])
    async with ctx.runtime.db.read() as session:
        class_ids: list[tuple[str, int]] = []
        for section_id in params["section_ids"]:
            after = 0
            while True:
                rows = await academics_repo.list_classes(session, after_id=after, limit=500, section_id=section_id,
                                                         teacher_id=None, subject_id=None)
                class_ids += [(cls.code, cls.id or 0) for cls, _subject in rows[:500]]
                if len(rows) <= 500:
                    break
                after = rows[499][0].id or 0
    class_ids.sort()
    lines: list[tuple[str, ...]] = []
    await ctx.progress(0.0, f"{len(class_ids)} classes to export")
    for start in range(0, len(class_ids), EXPORT_BATCH):
        batch = [class_id for _code, class_id in class_ids[start:start + EXPORT_BATCH]]
        async with ctx.runtime.db.read() as session:
            computed = await academics.compute_all_term_grades(session, SYSTEM_ACTOR, class_ids=batch,
                                                               term_id=term_id, with_grade_rows=False)
        for comp in computed:
            for line in sorted(comp.lines, key=lambda ln: ln.student.code):
                lines.append((comp.cls.code, line.student.code, line.student.full_name,
                              format_percentage(line.percentage_x100), line.letter or ""))
        done = start + len(batch)
        await ctx.progress(done / len(class_ids), f"{done} of {len(class_ids)} classes: {len(lines)} students")
    # domain.kernel.csv_writer: a student named "=HYPERLINK(...)" comes out as text, not as a formula.
    return {"csv": render_csv(CSV_HEADER, lines, line_end="\n"), "rows": len(lines)}
