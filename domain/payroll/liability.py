"""The leave liability: what the leave employees hold is worth, and the ledger's provision for it.

Names and units: hours are exact fractions (shown as decimal strings), money integer minor units of the contracts'
ISO 4217 currency, each employee's value per leave type rounded half up once (domain/payroll/engine.py).

Rules:
- Which leave: the paid leave types payable on termination (domain.leave: annual leave, long service leave): the
  leave an employer owes whether or not it is taken (AASB 119 "Employee Benefits" paras 13-16: accumulating,
  vesting absences; non-vesting personal/carer's leave is not a liability). Long service leave is valued in full,
  before its qualifying years (conservative).
- Value: balance hours on `as_of` (domain.leave.service.balances) x the ordinary hourly rate of the contract version
  in force that day (service.hourly_rate: annual pay / (52 x ordinary hours a week); Fair Work Act 2009 s 90) x
  (1 + the contract's annual leave loading, for leave types with loading; e.g. 17.5 %).
- Ledger: the provision is account 2140 "Provision for annual and long service leave" (liability) against 5160 "Leave
  expense" (expense), created on first use. `plan_post_leave_provision` posts the difference between the liability
  and the provision's balance on `as_of`: Dr 5160 / Cr 2140 when it grew, the reverse when it shrank.

Errors: InvalidInput (contracts in several currencies), Conflict (the provision already equals the liability).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from pydantic import Field
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.hr import service as hr
from domain.kernel.actor import Actor
from domain.kernel.errors import Conflict, InvalidInput
from domain.kernel.plan import Plan
from domain.kernel.schemas import OutputModel, Sensitive
from domain.leave import service as leave
from domain.payroll import repository as repo
from domain.payroll.engine import round_half_up
from domain.payroll.models import EmploymentContract
from domain.payroll.service import hourly_rate

PROVISION_ACCOUNTS = {
    "leave_expense": ("5160", "Leave expense", "expense"),
    "leave_provision": ("2140", "Provision for annual and long service leave", "liability"),
}
"""The provision's accounts, created on first use (finance.plan_accounts) like payroll's own."""


# ---------------------------------------------------------------- pure rules


def leave_value(hours: Fraction, rate: Fraction, *, loading_x100: int | None, with_loading: bool) -> int:
    """Rule: leave hours valued at the ordinary hourly rate (minor units, exact) plus the loading (hundredths of a
    percent: 1750 = 17.5 %) for a type with loading, rounded half up to minor units. E.g. 152 h at 60.7287... an
    hour (120,000.00 a year, 38 h a week) with 17.5 % loading: 152 x 120,000.00 / 1,976 x 1.175 = 10,846.15."""
    loading = Fraction(loading_x100 or 0, 10_000) if with_loading else Fraction(0)
    return round_half_up(hours * rate * (1 + loading))


def in_force(versions: list[EmploymentContract], on: date) -> list[EmploymentContract]:
    """Rule: per contract, the version in force on `on`: the contract runs that day (start_date <= on <= end_date,
    or no end) and the version is the highest-numbered one effective on or before it."""
    best: dict[str, EmploymentContract] = {}
    for v in versions:
        if v.start_date > on or (v.end_date is not None and v.end_date < on) or v.effective_from > on:
            continue
        if v.contract_number not in best or v.version_no > best[v.contract_number].version_no:
            best[v.contract_number] = v
    return sorted(best.values(), key=lambda v: (v.employee_id, v.contract_number))


def _two_places(value: Fraction) -> str:
    """An exact fraction shown with two decimals, rounded half up (hours, a rate in minor units)."""
    return str((Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP))


# ---------------------------------------------------------------- reading


class LiabilityRowOut(OutputModel):
    employee_id: int
    employee_code: str | None = None
    department_code: str | None = None
    hourly_rate_minor: Sensitive[str | None] = None
    leave: Sensitive[dict[str, Any] | None] = None
    total_minor: Sensitive[int | None] = None


class LeaveLiabilityOut(OutputModel):
    as_of: date
    currency: str | None
    total_minor: int
    by_type_minor: dict[str, int]
    by_department_minor: dict[str, int]
    provision_account: str
    ledger_balance_minor: int = Field(description="The provision on as_of.")
    difference_minor: int
    employees: list[LiabilityRowOut]
    next_cursor: str | None = None


async def _rows(session: AsyncSession, as_of: date) -> tuple[list[dict[str, Any]], str | None]:
    contracts = in_force(await repo.contract_versions_from(session, as_of), as_of)
    currencies = sorted({c.currency for c in contracts})
    if len(currencies) > 1:
        raise InvalidInput(f"contracts in force on {as_of} pay in {', '.join(currencies)}; the leave liability is "
                           "valued in one currency", field="as_of")
    types = [t for t in await leave.leave_types(session) if t.paid and t.payable_on_termination]
    by_employee: dict[int, EmploymentContract] = {}
    for c in contracts:  # one contract per employee (create_contract refuses overlaps): the first by number
        by_employee.setdefault(c.employee_id, c)
    ids = sorted(by_employee)
    held = await leave.balances(session, employee_ids=ids, on=as_of) if ids else {}
    employees = await hr.employees_by_id(session, ids)
    departments = await hr.department_codes(session, {c.department_id for c in by_employee.values()
                                                       if c.department_id is not None})
    rows = []
    for employee_id in ids:
        contract = by_employee[employee_id]
        rate = hourly_rate(contract)
        values = {}
        for t in types:
            hours = held.get(employee_id, {}).get(t.code, Fraction(0))
            if hours == 0:
                continue
            values[t.code] = {"hours": _two_places(hours), "value_minor": leave_value(
                hours, rate, loading_x100=contract.leave_loading_x100, with_loading=t.loading)}
        employee = employees.get(employee_id)
        rows.append({"employee_id": employee_id, "employee_code": employee.code if employee else None,
                     "department_code": departments.get(contract.department_id or 0),
                     "hourly_rate_minor": _two_places(rate), "leave": values,
                     "total_minor": sum(v["value_minor"] for v in values.values())})
    return rows, currencies[0] if currencies else None


async def _provision_balance(session: AsyncSession, as_of: date) -> int:
    code = PROVISION_ACCOUNTS["leave_provision"][0]
    account = await finance.find_account_by_code(session, code)
    return await finance.account_balance(session, account.id or 0, as_of=as_of) if account is not None else 0


async def leave_liability(session: AsyncSession, *, as_of: date, after_id: int = 0, limit: int = 20
                          ) -> tuple[LeaveLiabilityOut, bool]:
    """The leave liability on `as_of`: per employee (a page: employee id above `after_id`, at most `limit`) and
    leave type the hours held and their value (leave_value), totals of all employees by type and department, the
    provision account's ledger balance on `as_of` and the difference. Returns the report and whether more employees
    follow. Raises InvalidInput (contracts in several currencies)."""
    rows, currency = await _rows(session, as_of)
    by_type: dict[str, int] = defaultdict(int)
    by_department: dict[str, int] = defaultdict(int)
    for row in rows:
        for code, v in row["leave"].items():
            by_type[code] += v["value_minor"]
        by_department[row["department_code"] or "(none)"] += row["total_minor"]
    total = sum(row["total_minor"] for row in rows)
    balance = await _provision_balance(session, as_of)
    page = [r for r in rows if r["employee_id"] > after_id]
    code, name, _ = PROVISION_ACCOUNTS["leave_provision"]
    return LeaveLiabilityOut(as_of=as_of, currency=currency, total_minor=total, by_type_minor=dict(sorted(
        by_type.items())), by_department_minor=dict(sorted(by_department.items())), provision_account=f"{code} {name}",
        ledger_balance_minor=balance, difference_minor=total - balance,
        employees=[LiabilityRowOut(**r) for r in page[:limit]]), len(page) > limit


async def plan_post_leave_provision(session: AsyncSession, actor: Actor, *, as_of: date) -> Plan:
    """Plan bringing the provision for leave to the liability on `as_of`: the accounts 5160 and 2140 created when
    missing (finance.account effects), and one journal entry dated `as_of` (key leave_provision:<as_of>:<liability>)
    of the difference: Dr 5160 Leave expense / Cr 2140 Provision when the liability grew, Dr 2140 / Cr 5160 when it
    shrank. Minor units. Raises InvalidInput (no contract in force; several currencies), Conflict (the provision
    already equals the liability)."""
    report, _ = await leave_liability(session, as_of=as_of, limit=0)
    if report.currency is None:
        raise InvalidInput(f"no contract is in force on {as_of}; there is no leave liability to provide for",
                           field="as_of")
    difference = report.difference_minor
    if difference == 0:
        raise Conflict(f"the provision ({report.ledger_balance_minor} minor units on {as_of}) already equals the "
                       "leave liability; nothing to post", field="as_of")
    accounts, creates = await finance.plan_accounts(session, PROVISION_ACCOUNTS, report.currency,
                                                    mismatch="the leave liability in {currency}")
    grow = difference > 0
    lines = [{"account_id": accounts["leave_expense" if grow else "leave_provision"], "debit": abs(difference)},
             {"account_id": accounts["leave_provision" if grow else "leave_expense"], "credit": abs(difference)}]
    posting = await finance.plan_posting_with_accounts(
        session, accounts=creates, date=as_of, memo=f"Leave provision to the liability on {as_of}", lines=lines,
        source="leave_provision", idempotency_key=f"leave_provision:{as_of.isoformat()}:{report.total_minor}",
        currency=report.currency, ref="posting")
    preview = {"as_of": as_of.isoformat(), "currency": report.currency, "liability_minor": report.total_minor,
               "by_type_minor": report.by_type_minor, "provision_before_minor": report.ledger_balance_minor,
               "posting_minor": difference,
               "debit": "5160 Leave expense" if grow else report.provision_account,
               "credit": report.provision_account if grow else "5160 Leave expense",
               "accounts_created": [f"{e.payload['code']} {e.payload['name']}" for e in creates]}
    return Plan(command="post_leave_provision",
                summary=f"{'Raise' if grow else 'Release'} the leave provision by {abs(difference)} "
                        f"{report.currency} (minor units) to {report.total_minor} on {as_of}",
                preview=preview, changes=[*creates, posting],
                inputs={"leave liability": f"{report.total_minor} {report.currency} on {as_of}"})


class ProvisionOut(OutputModel):
    as_of: date
    currency: str | None
    liability_minor: int
    ledger_balance_minor: int = Field(description="The provision on as_of, after posting.")
    journal_entry_id: int
    journal_entry_number: str | None = None


async def provision_out(session: AsyncSession, *, as_of: date, applied_ids: dict[str, int | None]) -> ProvisionOut:
    """What a released post_leave_provision left: the liability, the provision's balance and the entry posted."""
    report, _ = await leave_liability(session, as_of=as_of, limit=0)
    return ProvisionOut(as_of=as_of, currency=report.currency, liability_minor=report.total_minor,
                        ledger_balance_minor=report.ledger_balance_minor, journal_entry_id=applied_ids["posting"] or 0)
