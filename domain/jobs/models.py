"""The `jobs` table: one row per piece of long work (an export, a timetable solve, a payroll run)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field

from domain.kernel.models import Entity

PROGRESS_SCALE = 1000  # progress is stored in per-mille so the column is an exact integer
WORKER_MAX = 120  # length of `Job.worker`, the identity of the process that ran the latest attempt


class JobStatus(StrEnum):
    """Where a job is: waiting, running, or one of the three final states."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class Job(Entity, table=True):
    """A job: its kind and JSON params, status, progress (per-mille) with a message, JSON result or error.

    `cancel_requested` is set when a running job is asked to stop; its handler stops at its next progress
    report. `idempotency_key` makes a repeated request return the same job instead of starting another.
    `worker` names the process that claimed the latest attempt ("worker:HOST:PID" for an arq worker,
    "server:HOST:PID" for a server running jobs in-process).
    """

    __tablename__ = "jobs"

    kind: str = Field(max_length=80, nullable=False, index=True)
    status: str = Field(max_length=20, nullable=False, default=JobStatus.QUEUED.value, index=True)
    progress_permille: int = Field(default=0, nullable=False)
    progress_message: str | None = Field(default=None, max_length=500)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    result: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    requested_by: int | None = Field(default=None, foreign_key="users.id", index=True)
    attempts: int = Field(default=0, nullable=False)
    started_at: datetime | None = Field(default=None, nullable=True)
    finished_at: datetime | None = Field(default=None, nullable=True)
    heartbeat_at: datetime | None = Field(default=None, nullable=True)  # UTC; a running job's process is alive
    cancel_requested: bool = Field(default=False, nullable=False)
    idempotency_key: str | None = Field(default=None, max_length=200, unique=True, nullable=True)
    worker: str | None = Field(default=None, max_length=WORKER_MAX, nullable=True)

    @property
    def progress(self) -> float:
        """Progress as a fraction 0..1."""
        return self.progress_permille / PROGRESS_SCALE

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES
