"""Signals of the job system that are not caller errors."""

from __future__ import annotations


class JobCancelled(Exception):
    """Raised inside a job's handler (at a progress report) when cancellation was requested: stop now."""

    def __init__(self, job_id: int):
        super().__init__(f"job {job_id} was cancelled")
        self.job_id = job_id
