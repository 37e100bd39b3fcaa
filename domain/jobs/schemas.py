"""Typed names and read models of the job system: the kinds of job the product runs, and a job as callers see it."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.jobs.models import Job


class JobKind(StrEnum):
    """Every kind of job the product runs, declared once: the tool (or service) that starts one records it with
    its kind, and the worker's handler registry (workers/handlers.py) runs it by kind. The value is stored in
    `jobs.kind` and shown to callers, so it never changes once released."""

    EXPORT_TERM_GRADES = "export_term_grades"  # workers/exports.py
    GENERATE_REPORT_CARDS = "generate_report_cards"  # workers/report_cards.py
    SOLVE_TIMETABLE = "solve_timetable"  # workers/timetable.py
    CALCULATE_PAYROLL_RUN = "calculate_payroll_run"  # workers/payroll.py
    GENERATE_PAYROLL_DOCUMENTS = "generate_payroll_documents"  # workers/payroll.py
    GENERATE_INVOICES = "generate_invoices"  # workers/fees.py
    AGENT_RUN = "agent_run"  # one segment of an agent run; workers/agent_loop.py


# A job as a tool returns it: status, progress, params and result or error. (No docstring: it would become the
# description of every job-starting tool's published output schema.)
class JobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

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

    @property
    def is_final(self) -> bool:
        """Whether the job ended (succeeded, failed or cancelled)."""
        return self.status in ("succeeded", "failed", "cancelled")


def job_out(job: Job) -> JobOut:
    """Return a job row as a JobOut (a result that is not a JSON object is wrapped as {"value": result})."""
    result = None if job.result is None else json.loads(job.result)
    return JobOut(job_id=job.id or 0, kind=job.kind, status=job.status, progress=job.progress,  # type: ignore[arg-type]
                  progress_message=job.progress_message, params=json.loads(job.params or "{}"),
                  result=result if isinstance(result, dict) or result is None else {"value": result},
                  error=job.error, requested_by=job.requested_by, attempts=job.attempts,
                  cancel_requested=job.cancel_requested, idempotency_key=job.idempotency_key,
                  created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                  worker=job.worker)
