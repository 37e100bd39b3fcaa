"""Tools of the job system: read a job's progress and result, list jobs, cancel one; and the grade export job.

A tool that starts a job is a write tool declared `starts_job=True`: it records the job in its transaction with
`start_job` (domain.jobs.service.start_job), which enqueues it once the transaction committed, so a worker never
looks for a row that is not there yet (DESIGN.md, "Jobs"); tools.invoke then waits for it when asked (wait_s).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from domain.academics import service as academics
from domain.jobs import service as jobs
from domain.jobs.schemas import JobKind, JobOut, job_out
from domain.kernel.actor import STAFF_ROLES, Role
from domain.kernel.errors import InvalidInput
from tools.academics import module as academics_module
from tools.references import JobRef, SectionRef, TermRef, YearLevelRef
from tools.registry import Effect, Module, ToolContext
from tools.types import Page, PageInput, ToolInput, page_of

__all__ = ["IdempotencyKey", "JobKind", "JobOut", "WaitSeconds", "job_out", "start_job", "term_section_params",
           "wait_for_job"]

log = logging.getLogger(__name__)
module = Module("jobs", core=True, description="Long-running work (exports, solves, runs) and its progress.")
EVERYONE = STAFF_ROLES  # every member of staff; guardians reach the family tools only

IdempotencyKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_WAIT_S = 300
WaitSeconds = Annotated[int, Field(ge=0, le=MAX_WAIT_S)]
"""Seconds a job-starting tool waits for its job to end (with progress notifications); 0 answers at once: get_job's
description says so once."""
KindFilter = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class JobIdIn(ToolInput):
    job_id: JobRef


class ListJobsIn(PageInput):
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None
    kind: KindFilter | None = Field(default=None, description="e.g. export_term_grades.")
    mine: bool = Field(default=False, description="Only jobs I requested (for an admin).")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_job(ctx: ToolContext, args: JobIdIn) -> JobOut:
    """Get one job: its status, progress (0..1) with a message, and its result (or error) once it ends. Tools that start
    long work answer with a job (or wait up to wait_s); call this until the status is final. Only the requester or an
    admin may read it."""
    return job_out(await jobs.get_job_for(ctx.session, ctx.actor, job_id=args.job_id))


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def list_jobs(ctx: ToolContext, args: ListJobsIn) -> Page[JobOut]:
    """List jobs, oldest first. Admins see everyone's; others only their own."""
    rows = await jobs.list_jobs_for(ctx.session, ctx.actor, after_id=args.after_id(), limit=args.limit,
                                    status=args.status, kind=args.kind, mine=args.mine)
    page, cursor = page_of(rows, args.limit)
    return Page[JobOut](items=[job_out(j) for j in page], next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=EVERYONE)
async def cancel_job(ctx: ToolContext, args: JobIdIn) -> JobOut:
    """Cancel a job you requested (admins: any job) that has not ended: a queued one at once, a running one at its next
    progress report."""
    return job_out(await jobs.request_cancel(ctx.session, ctx.actor, job_id=args.job_id))


async def start_job(ctx: ToolContext, *, kind: JobKind, params: dict[str, Any],
                    idempotency_key: str | None) -> JobOut:
    """Record a job of `kind` with `params` in the tool's transaction, enqueued once it commits (see
    domain.jobs.service.start_job), and return it; for the body of a tool declared `starts_job=True`."""
    return job_out(await jobs.start_job(ctx.session, ctx.actor, kind=kind, params=params,
                                        idempotency_key=idempotency_key, enqueue=ctx.runtime.jobs.enqueue))


async def wait_for_job(ctx: ToolContext, job_id: int, *, wait_s: float) -> JobOut:
    """Wait up to `wait_s` seconds for a job to end, telling `ctx.progress` (domain.jobs.service.wait_for_job)."""
    return await jobs.wait_for_job(ctx.runtime.db, job_id, wait_s=wait_s, progress=ctx.progress)


class ExportTermGradesIn(ToolInput):
    term_id: TermRef
    section_id: SectionRef | None = None
    year_level_id: YearLevelRef | None = Field(default=None, description="Every section of this year level in the "
                                                                         "term's academic year.")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="The same key returns the same job.")
    wait_s: WaitSeconds = 0


async def term_section_params(session, args) -> dict[str, Any]:
    """Validate `args.term_id` with `args.section_id` and/or `args.year_level_id` (a section, or every section
    of a year level in the term's year) and return the job params with the resolved `section_ids`.
    Raises NotFound, or InvalidInput naming the field when they do not fit together."""
    section = year_level = None
    if args.section_id is not None:
        section = await academics.get_section(session, args.section_id)
    if args.year_level_id is not None:
        year_level = await academics.get_year_level(session, args.year_level_id)
    term = await academics.get_term(session, args.term_id)
    if section is None and year_level is None:
        raise InvalidInput("give section_id or year_level_id (or both) to say which classes to export",
                           field="section_id")
    if section is not None:
        if section.academic_year_id != term.academic_year_id:
            raise InvalidInput(f"term {term.name} is not in the academic year of section {section.code}",
                               field="term_id")
        if year_level is not None and section.year_level_id != year_level.id:
            raise InvalidInput(f"section {section.code} is not in year level {year_level.code}",
                               field="year_level_id")
        section_ids = [section.id]
    else:
        section_ids = await academics.section_ids(session, year_level_id=year_level.id or 0,  # type: ignore[union-attr]
                                                  academic_year_id=term.academic_year_id)
    return {"term_id": term.id, "section_id": args.section_id, "year_level_id": args.year_level_id,
            "section_ids": section_ids}


# Registered on the academics module: the export reads academics data and leaves with it when it is disabled.
@academics_module.tool(effect=Effect.WRITE, roles={Role.ADMIN, Role.REGISTRAR}, starts_job=True)
async def export_term_grades(ctx: ToolContext, args: ExportTermGradesIn) -> JobOut:
    """Start a job exporting a term's grades as CSV; once succeeded, result.csv has a row per enrolled student and
    class: class_code, student_code, student_name, percentage, letter."""
    return await start_job(ctx, kind=JobKind.EXPORT_TERM_GRADES,
                           params=await term_section_params(ctx.session, args), idempotency_key=args.idempotency_key)
