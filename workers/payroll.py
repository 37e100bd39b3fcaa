"""Payroll jobs. The calculation: every payslip computed with progress (employees done / total) and written in
one transaction (on PostgreSQL each batch is written while the next is computed: payroll.calculate_run). A worker killed mid-calculation wrote nothing; the retry computes again and writes exactly one
payslip per employee (the run's draft payslips are replaced, and a partial UNIQUE index allows one live payslip
per employee and month). Nothing reaches the ledger: posting is a separate, approved action. The documents: a
payslip PDF per payslip and the run summary CSV, stored as documents."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from domain.documents import service as documents
from domain.jobs.schemas import JobKind
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import append_audit
from domain.payroll import documents as payroll_documents
from domain.payroll import service as payroll
from domain.payroll.payslip_document import render_payslip_pdf, render_run_summary_csv
from workers.handlers import JobContext, register


@register(JobKind.CALCULATE_PAYROLL_RUN)
async def calculate_payroll_run(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Calculate run `params["run_id"]`; returns {run_id, payslips, totals, skipped}."""
    run_id = int(params["run_id"])

    async def progress(done: int, total: int) -> None:
        await ctx.progress(min(done / max(total, 1), 0.99) * 0.9, f"{done} of {total} employees calculated")

    computation = None
    if ctx.runtime.db.is_sqlite:  # compute first: SQLite's one writer would wait for the whole calculation
        async with ctx.runtime.db.read() as session:
            computation = await payroll.compute_run(session, run_id, progress=progress)
        await ctx.progress(0.9, f"writing {len(computation.payslips)} payslips")
    async with ctx.runtime.db.write() as session:
        if computation is None:  # PostgreSQL: each batch is written while the next one is computed
            done = await payroll.calculate_run(session, run_id, progress=progress)
        else:
            done = await payroll.store_run(session, computation)
        run = done.run
        run.job_id = job_id
        session.add(run)
        result = {"run_id": run_id, "payslips": done.payslips, "skipped": done.skipped,
                  "totals": {"gross_minor": run.gross_minor, "deductions_minor": run.deductions_minor,
                             "employer_contributions_minor": run.employer_minor, "net_minor": run.net_minor,
                             "currency": run.currency}}
        await append_audit(session, SYSTEM_ACTOR, tool=JobKind.CALCULATE_PAYROLL_RUN.value, event="calculated",
                           arguments={"run_id": run_id, "job_id": job_id}, entity="payroll_runs", entity_id=run_id,
                           after=result)
    return result


@register(JobKind.GENERATE_PAYROLL_DOCUMENTS)
async def generate_payroll_documents(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Store a payslip PDF (kind payslip) for every payslip of run `params["run_id"]` and the run summary CSV
    (kind payroll_summary); return their document ids. Idempotent: a file this job already stored is skipped,
    so a re-run after a worker restart completes the set without duplicates. Rendering runs in a thread."""
    run_id = int(params["run_id"])
    async with ctx.runtime.db.read() as session:
        run = await payroll.get_run(session, run_id)
        docs = await payroll_documents.run_documents(session, run, school_name=ctx.runtime.settings.school_name)
        stored = {d.filename for d in await documents.of_job(session, job_id)}
    total = len(docs)
    last = time.monotonic()
    for index, (slip, doc) in enumerate(docs, start=1):
        filename = payroll_documents.payslip_filename(slip)
        if filename not in stored:
            pdf = await asyncio.to_thread(render_payslip_pdf, doc)
            async with ctx.runtime.db.write() as session:
                await documents.store(session, kind=payroll_documents.PAYSLIP, filename=filename,
                                      content_type="application/pdf", data=pdf, job_id=job_id,
                                      tool=JobKind.GENERATE_PAYROLL_DOCUMENTS.value)
        if time.monotonic() - last >= 1.0 or index == total:
            await ctx.progress(0.95 * index / max(total, 1), f"{index} of {total} payslips")
            last = time.monotonic()
    summary_name = f"payroll-{run.period}-run-{run_id}.csv"
    if summary_name not in stored and docs:
        csv_text = render_run_summary_csv(payroll_documents.summary_rows(docs))
        async with ctx.runtime.db.write() as session:
            await documents.store(session, kind=payroll_documents.PAYROLL_SUMMARY, filename=summary_name,
                                  content_type="text/csv", data=csv_text.encode(), job_id=job_id,
                                  tool=JobKind.GENERATE_PAYROLL_DOCUMENTS.value)
    async with ctx.runtime.db.read() as session:
        files = await documents.of_job(session, job_id)
    summary = [d.id for d in files if d.kind == payroll_documents.PAYROLL_SUMMARY]
    return {"run_id": run_id, "payslip_documents": len([d for d in files if d.kind == payroll_documents.PAYSLIP]),
            "payslip_document_ids": [d.id for d in files if d.kind == payroll_documents.PAYSLIP],
            "summary_document_id": summary[0] if summary else None}
