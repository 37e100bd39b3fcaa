"""Fee jobs. Generating a term's invoices: the plan (which students, what each owes) and the writes (every
invoice with its lines, and with `issue` their journal entries) happen in one transaction, so a worker killed
mid-way wrote nothing and the retry starts clean; a re-run after success skips every student already invoiced
for the schedule (and a partial UNIQUE index refuses a second live invoice), so no student is ever billed twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.fees import service as fees
from domain.jobs.schemas import JobKind
from domain.kernel.actor import SYSTEM_ACTOR
from workers.handlers import JobContext, register


@register(JobKind.GENERATE_INVOICES)
async def generate_invoices(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Generate (and issue) schedule `params["schedule_id"]`'s invoices; returns {schedule_id, created, issued,
    total_minor, currency, skipped (count), skipped_students (the first 50 with why), invoice_ids (the first
    200)}."""
    await ctx.progress(0.05, "working out the invoices")
    issue_date = params.get("issue_date")
    async with ctx.runtime.db.write() as session:
        result = await fees.generate_invoices(
            session, SYSTEM_ACTOR, schedule_id=int(params["schedule_id"]), year_level_id=params.get("year_level_id"),
            student_ids=params.get("student_ids"), issue=bool(params.get("issue", True)),
            issue_date=None if issue_date is None else dt.date.fromisoformat(issue_date), job_id=job_id,
            rebill_voided=bool(params.get("rebill_voided", False)))
    return {"schedule_id": result.schedule_id, "created": len(result.invoice_ids), "issued": result.issued,
            "total_minor": result.total, "currency": result.currency, "skipped": len(result.skipped),
            "skipped_students": result.skipped[:50], "invoice_ids": result.invoice_ids[:200]}
