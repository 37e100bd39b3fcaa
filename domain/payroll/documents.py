"""What a run's documents print: a PayslipDocument per payslip and the run summary rows, read from the database.

The renderers are in domain/payroll/payslip_document.py; the job that stores the files is workers/payroll.py.
"""

from __future__ import annotations

import json
from collections import defaultdict
from fractions import Fraction

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.hr import service as hr
from domain.payroll.models import PayrollRun, Payslip, PayslipLine
from domain.payroll.payslip_document import PayslipDocument, RunSummaryRow
from domain.payroll.payslip_document import PayslipLine as DocumentLine

PAYSLIP = "payslip"
PAYROLL_SUMMARY = "payroll_summary"


async def run_documents(session: AsyncSession, run: PayrollRun, *, school_name: str,
                        payslip_ids: list[int] | None = None) -> list[tuple[Payslip, PayslipDocument]]:
    """Every payslip of `run` (reversing payslips included; only `payslip_ids` when given) with what its PDF
    prints, by payslip id."""
    stmt = select(Payslip).where(Payslip.run_id == run.id)
    if payslip_ids is not None:
        stmt = stmt.where(col(Payslip.id).in_(payslip_ids))
    slips = list((await session.exec(stmt.order_by(col(Payslip.id)))).all())
    if not slips:
        return []
    lines_of: dict[int, list[PayslipLine]] = defaultdict(list)
    for line in (await session.exec(select(PayslipLine).where(col(PayslipLine.payslip_id).in_(
            [s.id for s in slips])).order_by(col(PayslipLine.position)))).all():
        lines_of[line.payslip_id].append(line)
    employees = await hr.employees_by_id(session, (s.employee_id for s in slips))
    departments = await hr.department_names(session)
    numbers = {s.id: s.number for s in slips}
    out = []
    for slip in slips:
        employee = employees[slip.employee_id]
        lines = lines_of[slip.id or 0]
        ytd = json.loads(slip.ytd or "{}")
        employer = sum(ln.amount_minor for ln in lines if ln.kind == "employer_contribution")
        out.append((slip, PayslipDocument(
            school_name=school_name, school_address=None, employee_code=employee.code,
            employee_name=employee.full_name, department=departments.get(slip.department_id, ""),
            position=employee.position, period_label=run.period_start.strftime("%B %Y"),
            period_start=run.period_start, period_end=run.period_end, pay_date=run.pay_date,
            currency=slip.currency,
            lines=tuple(DocumentLine(ln.code, ln.name, ln.kind, ln.amount_minor) for ln in lines),  # type: ignore[arg-type]
            gross_minor=slip.gross_minor, deductions_minor=slip.deductions_minor, net_minor=slip.net_minor,
            employer_cost_minor=slip.gross_minor + employer, ytd_gross_minor=ytd.get("gross_minor", 0),
            ytd_tax_minor=ytd.get("tax_minor", 0), ytd_net_minor=ytd.get("net_minor", 0),
            payment_days=abs(Fraction(slip.payment_days_x100, 100)), working_days=slip.working_days,
            payslip_number=slip.number, status=slip.status,  # type: ignore[arg-type]
            reverses=numbers.get(slip.reverses_payslip_id) if slip.reverses_payslip_id else None)))
    return out


def payslip_filename(slip: Payslip) -> str:
    """The file name of a payslip's PDF, stored (the documents job) or attached (its email)."""
    return f"payslip-{slip.number}.pdf"


def summary_rows(documents: list[tuple[Payslip, PayslipDocument]]) -> list[RunSummaryRow]:
    """The run summary: one row per payslip (reversals with their negative amounts)."""
    return [RunSummaryRow(employee_code=d.employee_code, employee_name=d.employee_name, department=d.department,
                          gross_minor=d.gross_minor, deductions_minor=d.deductions_minor, net_minor=d.net_minor,
                          employer_cost_minor=d.employer_cost_minor, currency=d.currency) for _, d in documents]
