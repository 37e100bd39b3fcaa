"""Plans of payroll's gated commands (domain.kernel.plan).

`plan_mark_payroll_run_paid` is the first: the payment entry it plans clears exactly the net pay of the payslips
it marks paid, so a payslip voided after the preview changes the plan (its lines and the entry's amount) and the
action becomes stale, instead of the bank being cleared for the full previewed net.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.kernel.actor import Actor
from domain.kernel.errors import Conflict
from domain.kernel.plan import NewId, Plan, Update, changed_rows
from domain.payroll.models import Payslip, PayslipStatus, RunStatus
from domain.payroll.service import PAYROLL_ACCOUNTS, ensure_status, get_run, run_preview


async def _payroll_account_ids(session: AsyncSession, roles: list[str], currency: str) -> dict[str, int]:
    """The ids of existing payroll accounts by role; a plan never creates accounts. Raises Conflict when one is
    missing or in another currency."""
    out = {}
    for role in roles:
        code, name, _ = PAYROLL_ACCOUNTS[role]
        account = await finance.find_account_by_code(session, code)
        if account is None:
            raise Conflict(f"account {code} ({name}) does not exist; post a payroll run first, which creates it")
        if account.currency != currency:
            raise Conflict(f"account {code} ({account.name}) is in {account.currency}, the payroll in {currency}")
        out[role] = account.id or 0
    return out


async def plan_mark_payroll_run_paid(session: AsyncSession, actor: Actor, *, run_id: int) -> Plan:
    """Plan recording that a posted run's net pay left the bank: one journal entry (key
    payroll_run:<id>:paid, dated the run's pay date) debiting net pay payable and crediting the bank with the net
    pay of the run's posted (done) payslips, in minor units of the run's currency; those payslips become paid and
    the run paid, pointing at the entry. Raises NotFound, Conflict (not posted; no payslip left to pay; a missing
    account)."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.POSTED, doing="marking paid")
    slips = list((await session.exec(select(Payslip).where(
        Payslip.run_id == run_id, Payslip.status == PayslipStatus.DONE.value,
        col(Payslip.reverses_payslip_id).is_(None)).order_by(col(Payslip.id)))).all())
    if not slips:
        raise Conflict(f"payroll run {run_id} has no posted payslip left to pay", field="run_id")
    net = sum(s.net_minor for s in slips)
    accounts = await _payroll_account_ids(session, ["net_payable", "bank"], run.currency)
    payment = await finance.plan_posting(
        session, date=run.pay_date, memo=f"Payroll {run.period} paid", source=f"payroll_run:{run.id}",
        idempotency_key=f"payroll_run:{run.id}:paid", currency=run.currency, ref="payment",
        lines=[{"account_id": accounts["net_payable"], "debit": net},
               {"account_id": accounts["bank"], "credit": net}])
    changes: list[Any] = [payment]
    changes += [Update("payslips", s.id or 0, s.version, before={"status": s.status},
                       after={"status": PayslipStatus.PAID.value}) for s in slips]
    changes.append(Update("payroll_runs", run.id or 0, run.version,
                          before={"status": run.status, "payment_entry_id": run.payment_entry_id},
                          after={"status": RunStatus.PAID.value, "payment_entry_id": NewId("payment")}))
    preview = await run_preview(session, run)
    preview["payment"] = {"date": run.pay_date.isoformat(), "payslips": len(slips), "net_minor": net,
                          "currency": run.currency, "debit": "2100 Net pay payable",
                          "credit": "1010 Bank - operating account"}
    if net != run.net_minor:
        preview["payment"]["note"] = (f"the run's calculated net was {run.net_minor}; payslips voided since posting "
                                      "are not paid")
    preview["before"] = {"status": run.status, "payment_entry_id": run.payment_entry_id}
    preview["after"] = {"status": RunStatus.PAID.value, "paid_payslips": len(slips), "net_paid_minor": net}
    return Plan(command="mark_payroll_run_paid",
                summary=f"Mark payroll {run.period} paid: {len(slips)} payslips, net {net} {run.currency} (minor "
                        "units) from the bank",
                preview=preview, changes=changes)


def paid_run_id(plan: Plan) -> int:
    """The id of the run an applied mark-paid plan changed."""
    return changed_rows(plan, "payroll_runs")[0].id
