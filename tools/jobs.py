"""Tools of the job system: read a job's progress and result, list jobs, cancel one; and the grade export job.

A tool that starts a job records it and commits first, then hands its id to the runtime's job runner, so a
worker never looks for a row that is not there yet (DESIGN.md, "Jobs").
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from domain.academics import service as academics
from domain.jobs import service as jobs
from domain.jobs.models import Job
from domain.kernel.actor import Role
from domain.kernel.audit import append_audit
from domain.kernel.errors import InvalidInput
from tools.academics import module as academics_module
from tools.registry import Effect, Module, ToolContext
from tools.types import Id, Page, PageInput, ToolInput, ToolOutput, page_of

log = logging.getLogger(__name__)
module = Module("jobs", core=True, description="Long-running work (exports, solves, runs) and its progress.")
EVERYONE = frozenset(Role)
EXPORT_TERM_GRADES = "export_term_grades"

IdempotencyKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
MAX_WAIT_S = 300
WaitSeconds = Annotated[int, Field(
    ge=0, le=MAX_WAIT_S, description=f"Seconds (0..{MAX_WAIT_S}) to wait for the job to finish before returning "
                                     "it; while waiting, an MCP client that sent a progress token receives "
                                     "progress notifications. 0 returns the queued job at once.")]
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
POLL_S = 0.25
JobKind = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]


class JobOut(ToolOutput):
    job_id: int
    kind: str = Field(description="What the job does, e.g. export_term_grades.")
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float = Field(description="Fraction done, 0..1.")
    progress_message: str | None = Field(default=None, description="What the job is doing now.")
    params: dict[str, Any] = Field(description="The arguments the job runs with.")
    result: dict[str, Any] | None = Field(default=None, description="Set when status is succeeded.")
    error: str | None = Field(default=None, description="Why it failed, when status is failed.")
    requested_by: int | None = Field(default=None, description="User id of the requester.")
    attempts: int = Field(description="Runs started (more than 1 after a worker restart).")
    cancel_requested: bool
    idempotency_key: str | None = None
    created_at: datetime = Field(description="UTC.")
    started_at: datetime | None = Field(default=None, description="UTC, of the latest attempt.")
    finished_at: datetime | None = Field(default=None, description="UTC.")
    worker: str | None = Field(default=None, description="The process that ran the latest attempt: "
                                                         "worker:HOST:PID for a `mcs-erp worker`, server:HOST:PID "
                                                         "for a server running jobs itself; null while queued.")


def job_out(job: Job) -> JobOut:
    """Serialize a job row for a tool result."""
    result = jobs.result_of(job)
    return JobOut(job_id=job.id or 0, kind=job.kind, status=job.status, progress=job.progress,
                  progress_message=job.progress_message, params=jobs.params_of(job),
                  result=result if isinstance(result, dict) or result is None else {"value": result},
                  error=job.error, requested_by=job.requested_by, attempts=job.attempts,
                  cancel_requested=job.cancel_requested, idempotency_key=job.idempotency_key,
                  created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                  worker=job.worker)


class JobIdIn(ToolInput):
    job_id: Id


class ListJobsIn(PageInput):
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = Field(
        default=None, description="Only jobs in this status.")
    kind: JobKind | None = Field(default=None, description="Only jobs of this kind, e.g. export_term_grades.")
    mine: bool = Field(default=False, description="Only jobs I requested (non-admins always see only theirs).")


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def get_job(ctx: ToolContext, args: JobIdIn) -> JobOut:
    """Get one job: status (queued, running, succeeded, failed, cancelled), progress 0..1 with a message,
    and its result once succeeded (or error once failed).

    Tools that start long work return a job at once; call this again until the status is final. Only the
    requester or an admin may read a job.
    """
    return job_out(await jobs.get_job_for(ctx.session, ctx.actor, job_id=args.job_id))


@module.tool(effect=Effect.READ, roles=EVERYONE)
async def list_jobs(ctx: ToolContext, args: ListJobsIn) -> Page[JobOut]:
    """List jobs, oldest first, filtered by status or kind. Admins see everyone's; others only their own."""
    rows = await jobs.list_jobs_for(ctx.session, ctx.actor, after_id=args.after_id(), limit=args.limit,
                                    status=args.status, kind=args.kind, mine=args.mine)
    page, cursor = page_of(rows, args.limit)
    return Page[JobOut](items=[job_out(j) for j in page], next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=EVERYONE)
async def cancel_job(ctx: ToolContext, args: JobIdIn) -> JobOut:
    """Cancel a job you requested (admins: any job). A queued job is cancelled at once; a running job stops at
    its next progress report (status stays running with cancel_requested true until then).

    A job that already ended (succeeded, failed, cancelled) cannot be cancelled.
    """
    return job_out(await jobs.request_cancel(ctx.session, ctx.actor, job_id=args.job_id))


async def start_job(ctx: ToolContext, *, tool: str, arguments: dict[str, Any], kind: str,
                    params_from_session, idempotency_key: str | None, wait_s: int = 0) -> JobOut:
    """Record a job (and its audit row) in one committed transaction, then enqueue it; return it queued, or,
    with `wait_s` > 0, as it stands when it ends or `wait_s` seconds have passed (see `wait_for_job`).

    `params_from_session(session)` validates the request and returns the job's params; it raises DomainErrors.
    """
    async with ctx.runtime.db.write() as session:
        params = await params_from_session(session)
        job = await jobs.create_job(session, ctx.actor, kind=kind, params=params, idempotency_key=idempotency_key)
        out = job_out(job)
        await append_audit(session, ctx.actor, tool=tool, event="write", arguments=arguments, entity="job",
                           entity_id=job.id, after=json.loads(out.model_dump_json()))
    if out.status == "queued":
        # After the commit: the runner (another process with arq) must find the row. Enqueueing is idempotent,
        # so a repeated idempotency key re-enqueues a job whose first enqueue was lost.
        await ctx.runtime.jobs.enqueue(out.job_id)
    if wait_s > 0 and out.status not in FINAL_STATUSES:
        return await wait_for_job(ctx, out.job_id, wait_s=wait_s)
    return out


async def wait_for_job(ctx: ToolContext, job_id: int, *, wait_s: float) -> JobOut:
    """Poll a job every POLL_S seconds until it ends or `wait_s` seconds pass, and return it as it stands.

    Each change of progress goes to `ctx.progress` (MCP notifications/progress, total 1.0): the value never
    decreases and strictly increases between notifications, as the MCP specification requires. Each poll is its
    own read, so a job running in another process (arq) is seen as it commits.
    """
    deadline = time.monotonic() + wait_s
    seen: tuple[float, str | None] | None = None  # the job's (progress, message) last reported
    sent = -1.0  # the last progress value sent
    while True:
        async with ctx.runtime.db.read() as session:
            out = job_out(await jobs.get_job_or_raise(session, job_id))
        final = out.status in FINAL_STATUSES
        message = f"job {job_id} {out.status}" if final else out.progress_message
        if ctx.progress is not None and (out.progress, message) != seen:
            value = 1.0 if final else min(max(out.progress, sent + 1e-6), 1.0)
            if value > sent:
                await ctx.progress(value, 1.0, message)
                sent = value
            seen = (out.progress, message)
        remaining = deadline - time.monotonic()
        if final or remaining <= 0:
            return out
        await asyncio.sleep(min(POLL_S, remaining))


class ExportTermGradesIn(ToolInput):
    term_id: Id = Field(description="The term whose grades are exported (list_terms shows ids).")
    section_id: Id | None = Field(default=None, description="Export this section's classes.")
    year_level_id: Id | None = Field(default=None, description="Export the classes of every section of this year "
                                                               "level in the term's academic year.")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description="Any unique string (1..100 chars); repeating a call with the same key returns "
                                  "the same job instead of starting another.")
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
@academics_module.tool(effect=Effect.WRITE, roles={Role.ADMIN, Role.REGISTRAR}, manages_transaction=True)
async def export_term_grades(ctx: ToolContext, args: ExportTermGradesIn) -> JobOut:
    """Start a job that exports a term's grades as CSV for a section, or for every section of a year level.

    Returns the job at once (status queued), or after up to wait_s seconds; poll get_job(job_id) until status
    is succeeded, then
    result.csv holds one row per enrolled student and class with the header
    class_code,student_code,student_name,percentage,letter (percentage with 2 decimals, empty when the
    student has no score yet) and result.rows the number of rows. Nothing is published or changed.
    """
    return await start_job(ctx, tool=EXPORT_TERM_GRADES, arguments=json.loads(args.model_dump_json()),
                           kind=EXPORT_TERM_GRADES, params_from_session=lambda s: term_section_params(s, args),
                           idempotency_key=args.idempotency_key, wait_s=args.wait_s)
