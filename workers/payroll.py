"""The payroll calculation job: every payslip computed with progress (employees done / total), then written in
one transaction. A worker killed mid-calculation wrote nothing; the retry computes again and writes exactly one
payslip per employee (the run's draft payslips are replaced, and a partial UNIQUE index allows one live payslip
per employee and month). Nothing reaches the ledger: posting is a separate, approved action."""

from __future__ import annotations

from typing import Any

from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import append_audit
from domain.payroll import service as payroll
from workers.handlers import JobContext, register

CALCULATE_PAYROLL_RUN = "calculate_payroll_run"


@register(CALCULATE_PAYROLL_RUN)
async def calculate_payroll_run(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Calculate run `params["run_id"]`; returns {run_id, payslips, totals, skipped}."""
    run_id = int(params["run_id"])

    async def progress(done: int, total: int) -> None:
        await ctx.progress(min(done / max(total, 1), 0.99) * 0.9, f"{done} of {total} employees calculated")

    async with ctx.runtime.db.read() as session:
        computation = await payroll.compute_run(session, run_id, progress=progress)
    await ctx.progress(0.9, f"writing {len(computation.payslips)} payslips")
    async with ctx.runtime.db.write() as session:
        done = await payroll.store_run(session, computation)
        run = done.run
        result = {"run_id": run_id, "payslips": done.payslips, "skipped": done.skipped,
                  "totals": {"gross_minor": run.gross_minor, "deductions_minor": run.deductions_minor,
                             "employer_contributions_minor": run.employer_minor, "net_minor": run.net_minor,
                             "currency": run.currency}}
        await append_audit(session, SYSTEM_ACTOR, tool=CALCULATE_PAYROLL_RUN, event="calculated",
                           arguments={"run_id": run_id, "job_id": job_id}, entity="payroll_runs", entity_id=run_id,
                           after=result)
    return result
