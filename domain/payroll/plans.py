"""Plans of payroll's gated commands (domain.kernel.plan): the exact rows, ledger entries and accounts each would
write, with a preview derived from them. None of them writes.

- `plan_approve_payroll_run`: the run calculated -> approved, at the version its totals were calculated with.
- `plan_post_payroll_run`: the run's journal entry with its exact lines (finance.posting), the payroll accounts
  it needs that do not exist yet (finance.account effects, created first: the preview lists them), every draft
  payslip done and the run posted pointing at the entry.
- `plan_mark_payroll_run_paid`: the payment entry clears exactly the net pay of the payslips it marks paid, so a
  payslip voided after the preview changes the plan and the action becomes stale.
- `plan_reverse_payroll_run`: its entries reversed (finance.reversal) or, when payslips were voided one by one,
  the others' share mirrored (finance.posting); a reversing payslip with mirrored lines for every live payslip
  (never deleted); the run reversed.
- `plan_void_payslip`: the payslip's share of the posting mirrored, a reversing payslip and its lines, the payslip
  void.
- `plan_cancel_payroll_run`: the run's draft payslips and their lines deleted (they were never history), the run
  cancelled.
- `plan_change_contract_salary`: the current contract version superseded and the new one inserted; approve-level
  when the annual pay changes by more than the setting `salary_change_approve_above_minor`.
- `plan_add_tax_table`: one tax table row per period of the document, checked against the tables in force.

Errors are the services' (same messages and fields): NotFound, Conflict (a run or payslip in another status, a
posting key already used, no payslip to post or pay, a missing account for marking paid), InvalidInput.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.outbox import event_effect
from domain.kernel.plan import (
    NOW,
    Delete,
    Effect,
    Insert,
    NewId,
    Plan,
    Read,
    Update,
    changed_rows,
    inserted_rows,
)
from domain.payroll import repository as repo
from domain.leave import service as leave
from domain.payroll.events import PayslipsPaid
from domain.payroll.models import CessationType, EmploymentContract, PayrollRun, Payslip, PayslipStatus, RunStatus
from domain.payroll.service import (
    PAYROLL_ACCOUNTS,
    check_contract_change,
    check_new_tax_table,
    check_voidable,
    contract_versions,
    ensure_status,
    existing_payroll_accounts,
    get_payslip,
    get_run,
    annual_pay,
    journal_lines,
    LEAVE_MOVEMENTS,
    LEAVE_REVERSAL,
    leave_movements,
    movements_payload,
    next_version,
    reversing_lines,
    reversing_payslip,
    run_preview,
)
from domain.payroll.tax import load_tax_tables, round_half_up

PAYROLL_MISMATCH = "the payroll in {currency}"
ACCOUNT_NAMES = {code: f"{code} {name}" for code, name, _ in PAYROLL_ACCOUNTS.values()}


# ---------------------------------------------------------------- shared pieces


async def _posting(session: AsyncSession, run: PayrollRun, *, sign: int, payslip_ids: list[int] | None,
                   date: date, memo: str, idempotency_key: str, ref: str) -> tuple[list[Effect], Effect | None]:
    """The finance.account effects creating missing payroll accounts and the finance.posting effect of the
    run's payslips (all originals, or `payslip_ids`) with the exact lines; None when there is nothing to post."""
    accounts, creates = await finance.plan_accounts(session, PAYROLL_ACCOUNTS, run.currency,
                                                    mismatch=PAYROLL_MISMATCH)
    slips, kinds = await repo.posting_sums(session, run.id or 0, payslip_ids)
    lines = journal_lines(accounts, slips, kinds, sign=sign)
    if not lines:
        return creates, None
    posting = await finance.plan_posting_with_accounts(
        session, accounts=creates, date=date, memo=memo, lines=lines, source=f"payroll_run:{run.id}",
        idempotency_key=idempotency_key, currency=run.currency, ref=ref)
    return creates, posting


def _account_label(account_id: Any, names: dict[Any, str]) -> str:
    if isinstance(account_id, NewId):
        return ACCOUNT_NAMES.get(account_id.ref.removeprefix("account:"), account_id.ref) + " (new)"
    return names.get(account_id, str(account_id))


async def _entry_preview(session: AsyncSession, effect: Effect) -> dict[str, Any]:
    """A posting or reversal effect for a person: date, memo, totals and the lines with account codes."""
    payload = effect.payload
    ids = [line["account_id"] for line in payload["lines"] if not isinstance(line["account_id"], NewId)]
    names = {}
    for account_id in set(ids):
        account = await finance.get_account(session, account_id)
        names[account_id] = f"{account.code} {account.name}"
    out: dict[str, Any] = {"date": payload["date"].isoformat(), "memo": payload["memo"],
                           "total_minor": sum(line["debit"] or 0 for line in payload["lines"]),
                           "lines": [{"account": _account_label(line["account_id"], names),
                                      "debit": line["debit"] or 0, "credit": line["credit"] or 0,
                                      "department_id": line["department_id"]} for line in payload["lines"]]}
    if "entry_number" in payload:
        out["reverses"] = payload["entry_number"]
    return out


def _accounts_preview(creates: list[Effect]) -> list[str]:
    return [f"{e.payload['code']} {e.payload['name']} ({e.payload['type']}, {e.payload['currency']})"
            for e in creates]


def _void_changes(slip: Payslip, lines: list[Any]) -> list[Any]:
    """A reversing payslip with the mirrored lines, and the payslip void."""
    ref = f"reversal:{slip.id}"
    changes: list[Any] = [Insert("payslips", {**reversing_payslip(slip), "created_at": NOW}, ref=ref)]
    changes += [Insert("payslip_lines", {**line, "payslip_id": NewId(ref)}) for line in reversing_lines(lines)]
    changes.append(Update("payslips", slip.id or 0, slip.version, before={"status": slip.status, "voided": slip.voided},
                          after={"status": PayslipStatus.VOID.value, "voided": True}))
    return changes


def _leave_preview(movements: list[Any]) -> dict[str, Any]:
    """Leave movements for a person: hours accrued, taken and paid out by leave type, and how many employees."""
    hours: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for m in movements:
        hours[m.kind][m.type_code] += Decimal(m.hours.numerator) / m.hours.denominator
    return {"employees": len({m.employee_id for m in movements}),
            **{kind: {code: str(round(h, 2)) for code, h in sorted(by_type.items())}
               for kind, by_type in sorted(hours.items())}}


def _leave_reversal(slips: list[Payslip], on: date) -> list[Any]:
    """The effect reversing the leave movements the payslips' posting made (none made: nothing reversed)."""
    if not slips:
        return []
    return [Effect(LEAVE_REVERSAL, {"sources": [f"payslip:{s.id}" for s in slips], "on": on}, ref="leave_reversal")]


def _totals_input(run: PayrollRun) -> str:
    return (f"{run.employees} employees, gross {run.gross_minor}, deductions {run.deductions_minor}, employer "
            f"contributions {run.employer_minor}, net {run.net_minor} {run.currency} (minor units)")


# ---------------------------------------------------------------- runs


async def plan_approve_payroll_run(session: AsyncSession, actor: Actor, *, run_id: int) -> Plan:
    """Plan approving a calculated run: its status calculated -> approved at the version its totals were calculated
    with (a recalculation since makes the action stale). Nothing is posted. Raises NotFound, Conflict."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.CALCULATED, doing="approving")
    preview = await run_preview(session, run)
    preview["before"] = {"status": run.status}
    preview["after"] = {"status": RunStatus.APPROVED.value}
    return Plan(command="approve_payroll_run",
                summary=f"Approve payroll {run.period}: {run.employees} employees, net {run.net_minor} "
                        f"{run.currency} (minor units)",
                preview=preview, inputs={"run totals": _totals_input(run)},
                changes=[Update("payroll_runs", run.id or 0, run.version, before={"status": run.status},
                                after={"status": RunStatus.APPROVED.value})])


async def plan_post_payroll_run(session: AsyncSession, actor: Actor, *, run_id: int) -> Plan:
    """Plan posting an approved run: the payroll accounts missing from the chart created first (finance.account,
    listed in the preview's accounts_created), one balanced journal entry dated the pay date (key
    payroll_run:<id>:post) with salary expense per department, employer contributions, taxes and deductions
    payable and net pay payable (minor units of the run's currency), every draft payslip done, the run posted
    pointing at the entry. Raises NotFound, Conflict (status; no payslips), InvalidInput (an account in another
    currency)."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.APPROVED, doing="posting")
    creates, posting = await _posting(session, run, sign=1, payslip_ids=None, date=run.pay_date,
                                      memo=f"Payroll {run.period}", idempotency_key=f"payroll_run:{run.id}:post",
                                      ref="posting")
    if posting is None:
        raise Conflict(f"payroll run {run_id} has no payslips to post", field="run_id")
    drafts = await repo.run_payslips(session, run.id or 0, statuses=[PayslipStatus.DRAFT.value])
    movements = leave_movements(await repo.leave_records(session, run.id or 0), run.pay_date)
    changes: list[Any] = [*creates, posting]
    if movements:
        changes.append(Effect(LEAVE_MOVEMENTS, movements_payload(movements), ref="leave"))
    changes += [Update("payslips", s.id or 0, s.version, before={"status": s.status},
                       after={"status": PayslipStatus.DONE.value}) for s in drafts]
    changes.append(Update("payroll_runs", run.id or 0, run.version,
                          before={"status": run.status, "journal_entry_id": run.journal_entry_id},
                          after={"status": RunStatus.POSTED.value, "journal_entry_id": NewId("posting")}))
    preview = await run_preview(session, run)
    preview["posting"] = await _entry_preview(session, posting)
    preview["accounts_created"] = _accounts_preview(creates)
    preview["before"] = {"status": run.status, "journal_entry_id": run.journal_entry_id}
    preview["after"] = {"status": RunStatus.POSTED.value, "payslips_done": len(drafts),
                        "accounts_created": len(creates)}
    preview["leave"] = _leave_preview(movements)
    created = f"; creates accounts {', '.join(e.payload['code'] for e in creates)}" if creates else ""
    return Plan(command="post_payroll_run",
                summary=f"Post payroll {run.period}: {run.employees} employees, net {run.net_minor} {run.currency} "
                        f"(minor units), one journal entry of {preview['posting']['total_minor']}{created}",
                preview=preview, changes=changes, inputs={"run totals": _totals_input(run)})


async def plan_mark_payroll_run_paid(session: AsyncSession, actor: Actor, *, run_id: int) -> Plan:
    """Plan recording that a posted run's net pay left the bank: one journal entry (key
    payroll_run:<id>:paid, dated the run's pay date) debiting net pay payable and crediting the bank with the net
    pay of the run's posted (done) payslips, in minor units of the run's currency; those payslips become paid and
    the run paid, pointing at the entry. Raises NotFound, Conflict (not posted; no payslip left to pay; a missing
    account)."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.POSTED, doing="marking paid")
    slips = await repo.run_payslips(session, run_id, statuses=[PayslipStatus.DONE.value], originals=True)
    if not slips:
        raise Conflict(f"payroll run {run_id} has no posted payslip left to pay", field="run_id")
    net = sum(s.net_minor for s in slips)
    accounts = await existing_payroll_accounts(session, ["net_payable", "bank"], run.currency)
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
    changes.append(event_effect(PayslipsPaid(run_id=run.id or 0, period=run.period, pay_date=run.pay_date,
                                             payslips=len(slips))))
    return Plan(command="mark_payroll_run_paid",
                summary=f"Mark payroll {run.period} paid: {len(slips)} payslips, net {net} {run.currency} (minor "
                        "units) from the bank",
                preview=preview, changes=changes)


async def plan_cancel_payroll_run(session: AsyncSession, actor: Actor, *, run_id: int) -> Plan:
    """Plan cancelling a draft or calculated run (nothing was posted): every payslip of the run (all draft) and
    its lines deleted (they were never history), the run cancelled. Raises NotFound, Conflict."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.DRAFT, RunStatus.CALCULATED, doing="cancelling")
    slips = await repo.run_payslips(session, run.id or 0)
    lines = await repo.payslip_lines(session, [s.id or 0 for s in slips])
    changes: list[Any] = [Delete("payslip_lines", ln.id or 0, None,
                                 before={"payslip_id": ln.payslip_id, "code": ln.code, "amount_minor": ln.amount_minor})
                          for ln in lines]
    changes += [Delete("payslips", s.id or 0, s.version,
                       before={"number": s.number, "status": s.status, "net_minor": s.net_minor}) for s in slips]
    changes.append(Update("payroll_runs", run.id or 0, run.version, before={"status": run.status},
                          after={"status": RunStatus.CANCELLED.value}))
    preview = await run_preview(session, run)
    preview["removes"] = {"payslips": len(slips), "payslip_lines": len(lines),
                          "net_minor": sum(s.net_minor for s in slips), "currency": run.currency}
    preview["before"] = {"status": run.status, "payslips": len(slips)}
    preview["after"] = {"status": RunStatus.CANCELLED.value, "payslips": 0}
    return Plan(command="cancel_payroll_run",
                summary=f"Cancel payroll {run.period}: delete its {len(slips)} draft payslips (net {run.net_minor} "
                        f"{run.currency}, minor units); nothing was posted",
                preview=preview, changes=changes)


async def plan_reverse_payroll_run(session: AsyncSession, actor: Actor, *, run_id: int, on: date,
                                   reason: str) -> Plan:
    """Plan reversing a posted or paid run on `on`, by the same rule as voiding each of its payslips (issue 18, M4):
    its posting reversed or, when some payslips were voided one by one (their share already mirrored), the others'
    share mirrored by one entry (key payroll_run:<id>:reverse); the bank payment is NOT reversed (the money left the
    bank and did not come back), so a paid run's net pay shows as owed back by the employees on net pay payable,
    as after void_payslip; every live payslip voided by a reversing payslip with the opposite lines (never
    deleted) and its leave movements reversed; the run reversed. Raises NotFound, Conflict, InvalidInput (a date
    before an entry's)."""
    run = await get_run(session, run_id)
    ensure_status(run, RunStatus.POSTED, RunStatus.PAID, doing="reversing")
    changes: list[Any] = []
    slips = [s for s in await repo.run_payslips(session, run.id or 0, originals=True)
             if s.status != PayslipStatus.VOID.value]
    voided_before = await repo.count_reversing_payslips(session, run.id or 0)
    if run.journal_entry_id is not None and not voided_before:
        changes.append(await finance.plan_reversal(session, entry_id=run.journal_entry_id, date=on, reason=reason,
                                                   ref="posting_reversal"))
    elif slips:
        creates, mirror = await _posting(session, run, sign=-1, payslip_ids=[s.id or 0 for s in slips], date=on,
                                         memo=f"Reversal of payroll {run.period}: {reason}"[:500],
                                         idempotency_key=f"payroll_run:{run.id}:reverse", ref="posting_reversal")
        changes += creates + ([mirror] if mirror is not None else [])
    lines = await repo.payslip_lines(session, [s.id or 0 for s in slips])
    for slip in slips:
        changes += _void_changes(slip, [ln for ln in lines if ln.payslip_id == slip.id])
    changes += _leave_reversal(slips, on)
    changes.append(Update("payroll_runs", run.id or 0, run.version, before={"status": run.status},
                          after={"status": RunStatus.REVERSED.value}))
    preview = await run_preview(session, run)
    entries = [c for c in changes if isinstance(c, Effect) and c.kind in (finance.POSTING, finance.REVERSAL)]
    paid_back = sum(s.net_minor for s in slips if s.status == PayslipStatus.PAID.value)
    preview["reversal"] = {"on": on.isoformat(), "reason": reason,
                           "entries_reversed": [e for e in (run.journal_entry_id,) if e
                                                and any(c.payload.get("entry_id") == e for c in entries)],
                           "entries": [await _entry_preview(session, e) for e in entries],
                           "payslips_voided": len(slips), "paid_net_owed_back": paid_back,
                           "bank_payment": "kept: the net pay paid is owed back by the employees (net pay payable)"
                           if paid_back else None}
    preview["before"] = {"status": run.status}
    preview["after"] = {"status": RunStatus.REVERSED.value, "payslips_voided": len(slips)}
    return Plan(command="reverse_payroll_run",
                summary=f"Reverse payroll {run.period}: void {len(slips)} payslips and reverse its entries",
                preview=preview, changes=changes, inputs={"run totals": _totals_input(run)})


def run_of(plan: Plan) -> int:
    """The id of the run an applied run plan changed."""
    return changed_rows(plan, "payroll_runs")[-1].id


# ---------------------------------------------------------------- payslips


async def plan_void_payslip(session: AsyncSession, actor: Actor, *, payslip_id: int, on: date, reason: str) -> Plan:
    """Plan voiding one posted or paid payslip on `on`: a journal entry mirroring its share of the run's posting
    (key payslip:<id>:void), a reversing payslip with the opposite lines (nothing is deleted), the payslip void.
    A paid payslip's net pay then shows as owed back on net pay payable. The run is the plan's basis. Raises
    NotFound, Conflict."""
    slip = await get_payslip(session, payslip_id)
    run = await get_run(session, slip.run_id)
    check_voidable(slip, run)
    creates, mirror = await _posting(session, run, sign=-1, payslip_ids=[payslip_id], date=on,
                                     memo=f"Void payslip {slip.number}: {reason}"[:500],
                                     idempotency_key=f"payslip:{payslip_id}:void", ref="void_entry")
    lines = await repo.payslip_lines(session, [payslip_id])
    changes: list[Any] = [*creates, *([mirror] if mirror is not None else []), *_void_changes(slip, lines),
                          *_leave_reversal([slip], on)]
    preview = {"payslip": slip.number, "employee_id": slip.employee_id, "period": slip.period,
               "status": slip.status, "currency": slip.currency,
               "before": {"status": slip.status, "gross_minor": slip.gross_minor, "net_minor": slip.net_minor},
               "after": {"status": PayslipStatus.VOID.value, "reversing_payslip": f"{slip.number}-R"},
               "lines": [{"code": ln.code, "kind": ln.kind, "amount_minor": ln.amount_minor} for ln in lines],
               "paid_net_owed_back": slip.net_minor if slip.status == PayslipStatus.PAID.value else 0,
               "entry": None if mirror is None else await _entry_preview(session, mirror)}
    return Plan(command="void_payslip",
                summary=f"Void payslip {slip.number}: gross {slip.gross_minor}, net {slip.net_minor} {slip.currency} "
                        "(minor units)",
                preview=preview, changes=changes,
                basis=[Read("payroll_runs", run.id or 0, run.version, f"payroll run {run.period}")])


def voided_payslip_id(plan: Plan) -> int:
    """The id of the payslip an applied void plan voided."""
    return changed_rows(plan, "payslips")[-1].id


# ---------------------------------------------------------------- contracts and tax tables


def annual_change(contract: EmploymentContract, after_minor: int) -> int:
    """Rule: how much changing `contract`'s base to `after_minor` moves annual pay, in minor units (absolute, rounded
    half up): the change of service.annual_pay (a monthly base x 12, an hourly rate x its hours a month x 12 or
    its ordinary hours a week x 52, an annual salary)."""
    changed = EmploymentContract.model_validate(contract.model_dump() | {"base_minor": after_minor})
    return round_half_up(abs(annual_pay(changed) - annual_pay(contract)))


async def plan_change_contract_salary(session: AsyncSession, actor: Actor, *, contract_number: str,
                                      base_minor: int, effective_from: date, reason: str,
                                      approve_above_minor: int) -> Plan:
    """Plan a salary change: the contract's current version superseded and a new version (number + 1) with
    `base_minor` (monthly salary or hourly rate, minor units) from `effective_from` (a past date is paid as arrears
    by the next run). The plan needs an admin's approval (level approve) when annual pay moves by more than
    `approve_above_minor` (annual_change; the setting salary_change_approve_above_minor), else the requester's
    confirmation. Raises NotFound, InvalidInput (check_contract_change)."""
    versions = await contract_versions(session, contract_number)
    current = versions[-1]
    check_contract_change(current, effective_from=effective_from, base_minor=base_minor, end_date=None)
    annual = annual_change(current, base_minor)
    level = "approve" if annual > approve_above_minor else "confirm"
    new = next_version(current, reason=reason, effective_from=effective_from, base_minor=base_minor)
    changes: list[Any] = [
        Update("employment_contracts", current.id or 0, current.version, before={"superseded_at": None},
               after={"superseded_at": NOW}),
        Insert("employment_contracts", new, ref="contract")]
    preview = {"contract": current.contract_number, "employee_id": current.employee_id,
               "before": {"base_minor": current.base_minor, "version_no": current.version_no,
                          "effective_from": current.effective_from.isoformat()},
               "after": {"base_minor": base_minor, "version_no": current.version_no + 1,
                         "effective_from": effective_from.isoformat()},
               "currency": current.currency, "backdated": effective_from <= utcnow().date(),
               "annual_change_minor": annual, "approval": {
                   "level": level, "threshold_minor": approve_above_minor,
                   "why": (f"annual pay moves by {annual}, above {approve_above_minor}: an admin other than the "
                           "requester approves" if level == "approve" else
                           f"annual pay moves by {annual}, at most {approve_above_minor}: the requester confirms")}}
    return Plan(command="change_contract_salary",
                summary=f"Change contract {current.contract_number} base from {current.base_minor} to {base_minor} "
                        f"{current.currency} (minor units) from {effective_from}",
                preview=preview, changes=changes, level=level,
                inputs={"salary change approval threshold": f"{approve_above_minor} {current.currency} (minor "
                                                            "units of annual pay)"})


async def plan_end_employment_contract(session: AsyncSession, actor: Actor, *, contract_number: str, end_date: date,
                                       cessation_type: str, reason: str) -> Plan:
    """Plan ending a contract (issue 18, M2): its current version superseded and a new version, identical but for
    `end_date` (the last day employed and paid) and the STP Phase 2 `cessation_type` (CessationType: V voluntary,
    I ill health, D deceased, R redundancy, F dismissal, C contract cessation, T transfer). The run of the period
    holding the end date pays the working days up to it and the final pay: unused leave payable on termination
    (FWA s 90(2); LSL per state) with its ATO Schedule 7 withholding; no later run pays it. The preview shows the
    leave balances the final pay starts from. Raises NotFound, InvalidInput (an end before the contract starts, an
    unknown cessation type), Conflict (already ended; a posted payslip for a period after the end: void it first)."""
    versions = await contract_versions(session, contract_number)
    current = versions[-1]
    try:
        cessation = CessationType(cessation_type)
    except ValueError:
        raise InvalidInput(f"cessation_type {cessation_type!r} is unknown; use one of "
                           + ", ".join(f"{c.value} ({c.name.lower().replace('_', ' ')})" for c in CessationType),
                           field="cessation_type") from None
    if end_date < current.start_date:
        raise InvalidInput(f"end_date {end_date} is before contract {contract_number} starts ({current.start_date})",
                           field="end_date")
    if current.cessation_type is not None:
        raise Conflict(f"contract {contract_number} already ended on {current.end_date} ({current.cessation_type})",
                       field="contract_number")
    later = await repo.posted_payslips_after(session, current.employee_id, end_date)
    if later:
        raise Conflict(f"payslips {', '.join(s.number for s in later[:5])} pay periods after {end_date}; void them "
                       "(void_payslip) before ending the contract on that date", field="end_date")
    new = next_version(current, reason=reason, end_date=end_date, cessation_type=cessation.value)
    balances = (await leave.balances(session, employee_ids=[current.employee_id])).get(current.employee_id, {})
    preview = {"contract": current.contract_number, "employee_id": current.employee_id,
               "before": {"end_date": current.end_date.isoformat() if current.end_date else None,
                          "version_no": current.version_no},
               "after": {"end_date": end_date.isoformat(), "cessation_type": cessation.value,
                         "version_no": current.version_no + 1},
               "final_pay": {"paid_by": "the run of the pay period holding the end date",
                             "leave_balances_hours": {code: str(round(Decimal(h.numerator) / h.denominator, 2))
                                                      for code, h in sorted(balances.items())}}}
    return Plan(command="end_employment_contract",
                summary=f"End contract {current.contract_number} on {end_date} ({cessation.name.lower()}); the next "
                        "run pays up to that day and the final pay",
                preview=preview, changes=[
                    Update("employment_contracts", current.id or 0, current.version, before={"superseded_at": None},
                           after={"superseded_at": NOW}),
                    Insert("employment_contracts", new, ref="contract")])


def new_contract_id(applied_ids: dict[str, int | None]) -> int:
    """The id of the contract version an applied salary change inserted."""
    return applied_ids["contract"] or 0


async def plan_add_tax_table(session: AsyncSession, actor: Actor, *, document: dict[str, Any]) -> Plan:
    """Plan adding a withholding tax table document (the shape of domain/payroll/tables/*.json): one tax_tables
    row per period, checked against the tables in force (no overlap of one code and filing status, one currency
    per code). Raises InvalidInput naming what is wrong."""
    new = await check_new_tax_table(session, document)
    changes: list[Any] = []
    for index, period in enumerate(document.get("tables", [])):
        single = dict(document, tables=[period])
        first = load_tax_tables(single)[0]
        # Sorted keys: the stored arguments the gate plans from again are canonical JSON, in another key order.
        changes.append(Insert("tax_tables", {"code": first.code, "effective_from": first.effective_from,
                                             "effective_to": first.effective_to,
                                             "data": json.dumps(single, sort_keys=True),
                                             "source": str(period.get("source", ""))[:500]}, ref=f"table:{index}"))
    periods = sorted({(t.effective_from.isoformat(), t.effective_to.isoformat() if t.effective_to else None)
                      for t in new})
    return Plan(command="add_tax_table",
                summary=f"Add tax table {new[0].code}: {len(new)} table(s) for {periods}",
                preview={"code": new[0].code, "currency": new[0].currency, "periods": periods,
                         "filing_statuses": sorted({t.filing_status or "" for t in new}),
                         "bands": sum(len(t.bands) for t in new),
                         "sources": sorted({t.source[:300] for t in new})},
                changes=changes)


def added_tax_table_ids(plan: Plan, applied_ids: dict[str, int | None]) -> list[int]:
    """The ids of the tax table rows an applied add-tax-table plan inserted."""
    return [applied_ids[c.ref] or 0 for c in inserted_rows(plan, "tax_tables") if c.ref is not None]
