"""Payroll's SQL: pages of structures, contracts, runs and payslips; a run's payslips and lines; the sums a
posting is made of. Reads only (the writes of payroll's gated commands are plans, domain/payroll/plans.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import JSON, BigInteger, case, cast, func
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.db import codes_by_id
from domain.kernel.sql import id_in
from domain.payroll.models import (
    EmploymentContract,
    PayCalendar,
    PayrollRun,
    Payslip,
    PayslipLine,
    SalaryStructure,
    TaxTableRecord,
)
from domain.payroll.rates_models import PayrollRate
from domain.payroll.remittance_models import Remittance, RemittancePayslip


async def structures_page(session: AsyncSession, *, after_id: int, limit: int) -> list[SalaryStructure]:
    """Salary structures with an id above `after_id`, by id, at most `limit`."""
    return list((await session.exec(select(SalaryStructure).where(col(SalaryStructure.id) > after_id)
                                    .order_by(col(SalaryStructure.id)).limit(limit))).all())


async def contracts_page(session: AsyncSession, *, after_id: int, limit: int, employee_id: int | None,
                         history: bool) -> list[EmploymentContract]:
    """Contract versions with an id above `after_id`, by id, at most `limit`: of one employee when given, only
    the current versions unless `history`."""
    stmt = select(EmploymentContract).where(col(EmploymentContract.id) > after_id)
    if employee_id is not None:
        stmt = stmt.where(EmploymentContract.employee_id == employee_id)
    if not history:
        stmt = stmt.where(col(EmploymentContract.superseded_at).is_(None))
    return list((await session.exec(stmt.order_by(col(EmploymentContract.id)).limit(limit))).all())


async def get_contract(session: AsyncSession, contract_id: int) -> EmploymentContract | None:
    """The contract version with that id, or None."""
    return await session.get(EmploymentContract, contract_id)


async def tax_table_records(session: AsyncSession, ids: Sequence[int]) -> list[TaxTableRecord]:
    """The stored tax tables with these ids, by id."""
    if not ids:
        return []
    return list((await session.exec(select(TaxTableRecord).where(col(TaxTableRecord.id).in_(list(ids)))
                                    .order_by(col(TaxTableRecord.id)))).all())


async def runs_page(session: AsyncSession, *, after_id: int, limit: int) -> list[PayrollRun]:
    """Payroll runs with an id above `after_id`, oldest first, at most `limit`."""
    return list((await session.exec(select(PayrollRun).where(col(PayrollRun.id) > after_id)
                                    .order_by(col(PayrollRun.id)).limit(limit))).all())


async def payslips_page(session: AsyncSession, *, run_id: int, after_id: int, limit: int) -> list[Payslip]:
    """A run's payslips with an id above `after_id`, by id, at most `limit`."""
    return list((await session.exec(select(Payslip).where(Payslip.run_id == run_id, col(Payslip.id) > after_id)
                                    .order_by(col(Payslip.id)).limit(limit))).all())


async def run_payslips(session: AsyncSession, run_id: int, *, statuses: Sequence[str] | None = None,
                       originals: bool = False) -> list[Payslip]:
    """A run's payslips by id: only those in `statuses` when given, only originals (not reversing payslips) when
    `originals`."""
    stmt = select(Payslip).where(Payslip.run_id == run_id)
    if statuses is not None:
        stmt = stmt.where(col(Payslip.status).in_(list(statuses)))
    if originals:
        stmt = stmt.where(col(Payslip.reverses_payslip_id).is_(None))
    return list((await session.exec(stmt.order_by(col(Payslip.id)))).all())


async def count_reversing_payslips(session: AsyncSession, run_id: int) -> int:
    """How many reversing payslips a run has (payslips voided one by one, or by reversing the run)."""
    return (await session.exec(select(func.count()).select_from(Payslip).where(
        Payslip.run_id == run_id, col(Payslip.reverses_payslip_id).is_not(None)))).one()


async def payslip_lines(session: AsyncSession, payslip_ids: Sequence[int]) -> list[PayslipLine]:
    """The lines of these payslips, by payslip id, then position."""
    if not payslip_ids:
        return []
    return list((await session.exec(select(PayslipLine).where(col(PayslipLine.payslip_id).in_(list(payslip_ids)))
                                    .order_by(col(PayslipLine.payslip_id), col(PayslipLine.position)))).all())


async def posting_sums(session: AsyncSession, run_id: int, payslip_ids: Sequence[int] | None
                       ) -> tuple[list[tuple[int | None, int, int]], dict[str, int]]:
    """What a posting of a run's original payslips (all, or those of `payslip_ids`) is made of: (department id,
    gross, net) summed per department (a run's 10,000 payslips come back as a few dozen rows, whose sums are what
    journal_lines adds up), and the sum of their lines per kind (minor units)."""
    chosen = select(Payslip.id).where(Payslip.run_id == run_id, col(Payslip.reverses_payslip_id).is_(None))
    if payslip_ids is not None:
        chosen = chosen.where(col(Payslip.id).in_(list(payslip_ids)))
    slips = (await session.exec(select(  # type: ignore[call-overload]
        Payslip.department_id, func.sum(Payslip.gross_minor), func.sum(Payslip.net_minor))
        .where(col(Payslip.id).in_(chosen)).group_by(col(Payslip.department_id))
        .order_by(col(Payslip.department_id)))).all()
    return [(d, int(g or 0), int(n or 0)) for d, g, n in slips], await line_sums(session, run_id, payslip_ids)


async def line_sums(session: AsyncSession, run_id: int, payslip_ids: Sequence[int] | None) -> dict[str, int]:
    """The sum of the lines of a run's original payslips (all, or those of `payslip_ids`) per line kind (minor
    units): posting_sums' second half."""
    chosen = select(Payslip.id).where(Payslip.run_id == run_id, col(Payslip.reverses_payslip_id).is_(None))
    if payslip_ids is not None:
        chosen = chosen.where(col(Payslip.id).in_(list(payslip_ids)))
    kinds = (await session.exec(select(PayslipLine.kind, func.sum(PayslipLine.amount_minor)).where(
        col(PayslipLine.payslip_id).in_(chosen)).group_by(PayslipLine.kind))).all()
    return {kind: int(total or 0) for kind, total in kinds}



async def line_sums_of(session: AsyncSession, payslip_ids: Sequence[int]) -> dict[str, int]:
    """The sum of the lines of the payslips `payslip_ids` per line kind (minor units); {} for none. Found through
    the lines' payslip index alone (post_run has the ids from its UPDATE): line_sums' subquery on payslips visited
    every payslip of the run again (2,000 heap pages for 4,000 payslips: 33 against 12 ms, EXPLAIN ANALYZE)."""
    kinds = (await session.exec(select(PayslipLine.kind, func.sum(PayslipLine.amount_minor)).where(
        id_in(PayslipLine.payslip_id, payslip_ids)).group_by(PayslipLine.kind))).all()
    return {kind: int(total or 0) for kind, total in kinds}


async def leave_records(session: AsyncSession, run_id: int, *, statuses: Sequence[str] = ("draft",)
                        ) -> list[tuple[int, int, str]]:
    """(payslip id, employee id, leave JSON) of a run's original payslips in `statuses`, by id."""
    return list((await session.exec(select(Payslip.id, Payslip.employee_id, Payslip.leave).where(
        Payslip.run_id == run_id, col(Payslip.status).in_(statuses), col(Payslip.reverses_payslip_id).is_(None))
        .order_by(col(Payslip.id)))).all())


async def posted_payslips_after(session: AsyncSession, employee_id: int, day: date) -> list[Payslip]:
    """An employee's live posted (done or paid) original payslips for periods starting after `day`."""
    return list((await session.exec(select(Payslip).where(
        Payslip.employee_id == employee_id, col(Payslip.status).in_(("done", "paid")),
        col(Payslip.reverses_payslip_id).is_(None), col(Payslip.period_start) > day)
        .order_by(col(Payslip.period_start)))).all())


async def calendar_by_code(session: AsyncSession, code: str) -> PayCalendar | None:
    """The live pay calendar with `code`, or None."""
    return (await session.exec(select(PayCalendar).where(PayCalendar.code == code,
                                                         col(PayCalendar.deleted_at).is_(None)))).first()


async def calendars(session: AsyncSession) -> list[PayCalendar]:
    """Every live pay calendar, by id."""
    return list((await session.exec(select(PayCalendar).where(col(PayCalendar.deleted_at).is_(None))
                                    .order_by(col(PayCalendar.id)))).all())


async def added_rate_rows(session: AsyncSession, jurisdiction_code: str) -> list:
    """The live dated rates an admin added for a jurisdiction (payroll_rates), oldest effective date first."""
    return list((await session.exec(select(PayrollRate).where(
        PayrollRate.jurisdiction == jurisdiction_code, col(PayrollRate.deleted_at).is_(None))
        .order_by(col(PayrollRate.effective_from), col(PayrollRate.id)))).all())


async def reference_rows(session: AsyncSession, kind: str) -> list:
    """Rows a reference to `kind` is matched against (domain.kernel.references): "salary_structure" (id, code,
    name), "payroll_run" (id, period, status), "payslip" (id, number, employee_id), "pay_calendar" (id, code,
    name)."""
    if kind == "pay_calendar":
        stmt = select(PayCalendar.id, PayCalendar.code, PayCalendar.name).where(col(PayCalendar.deleted_at).is_(None))
        return list((await session.exec(stmt)).all())
    if kind == "salary_structure":
        stmt = select(SalaryStructure.id, SalaryStructure.code, SalaryStructure.name).where(
            col(SalaryStructure.deleted_at).is_(None))
    elif kind == "payroll_run":
        stmt = select(PayrollRun.id, PayrollRun.period, PayrollRun.status).where(col(PayrollRun.deleted_at).is_(None))
    else:
        stmt = select(Payslip.id, Payslip.number, Payslip.employee_id)
    return list((await session.exec(stmt)).all())


CODE_COLUMNS = {"salary_structure": (SalaryStructure.id, SalaryStructure.code),
                "pay_calendar": (PayCalendar.id, PayCalendar.code),
                "payroll_run": (PayrollRun.id, PayrollRun.period), "payslip": (Payslip.id, Payslip.number)}
"""Each kind's id column and the column of the code people use (codes_of)."""


async def codes_of(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code people use for each `kind` record of `ids` (deleted ones too: an old answer still names them), in
    one query: {id: code}. Ids no row has are left out."""
    return await codes_by_id(session, *CODE_COLUMNS[kind], ids)


# ---------------------------------------------------------------- remittances, STP and leave liability (reports)
# Owned by the remittances/STP helper (issue 18): domain/payroll/remittance.py, stp.py and liability.py read here.

POSTED_PAYSLIP_STATUSES = ("done", "paid", "void")
"""Payslips that reached the ledger: posted (done), paid, and voided ones with their reversing payslips (void)."""


def _pay_date_column():
    """A payslip's pay date: its own (payslips.pay_date), else its run's (rows written before it existed)."""
    return func.coalesce(Payslip.pay_date, PayrollRun.pay_date)


_ORIGINAL_LINE = aliased(PayslipLine)
_CATEGORY = func.coalesce(PayslipLine.category, _ORIGINAL_LINE.category)
"""A line's category: its own, else (a reversing payslip's line written without one) its original line's."""


def _with_categories(stmt):
    """`stmt` (over payslip_lines joined to payslips) joined to each reversing line's original line."""
    return stmt.outerjoin(_ORIGINAL_LINE, (_ORIGINAL_LINE.payslip_id == Payslip.reverses_payslip_id)
                          & (_ORIGINAL_LINE.position == PayslipLine.position))


async def remittable_lines(session: AsyncSession, *, kind: str, categories: Sequence[str], pay_date_from: date,
                           pay_date_to: date) -> list[tuple]:
    """The lines of `categories` on posted payslips not yet remitted as `kind`: payslips paid from pay_date_from to
    pay_date_to, and any reversing payslip paid up to pay_date_to whose original was remitted (carried as a
    negative). Rows (payslip id, employee id, pay date, period start, period end, currency, reverses payslip id,
    category, amount minor), by payslip id then line position."""
    pay_date = _pay_date_column()
    remitted = select(RemittancePayslip.payslip_id).where(RemittancePayslip.kind == kind)
    stmt = (select(Payslip.id, Payslip.employee_id, pay_date,
                   func.coalesce(Payslip.period_start, PayrollRun.period_start),
                   func.coalesce(Payslip.period_end, PayrollRun.period_end), Payslip.currency,
                   Payslip.reverses_payslip_id, _CATEGORY, PayslipLine.amount_minor)
            .join(PayrollRun, PayrollRun.id == Payslip.run_id)
            .join(PayslipLine, PayslipLine.payslip_id == Payslip.id))
    stmt = (_with_categories(stmt)
            .where(col(Payslip.status).in_(POSTED_PAYSLIP_STATUSES), _CATEGORY.in_(list(categories)),
                   col(Payslip.id).not_in(remitted), pay_date <= pay_date_to,
                   (pay_date >= pay_date_from) | col(Payslip.reverses_payslip_id).in_(remitted))
            .order_by(col(Payslip.id), col(PayslipLine.position)))
    return list((await session.exec(stmt)).all())


async def count_remittances(session: AsyncSession, kind: str) -> int:
    """How many remittances of `kind` exist (their numbers count on from it)."""
    return (await session.exec(select(func.count()).select_from(Remittance).where(Remittance.kind == kind))).one()


async def remittances_page(session: AsyncSession, *, after_id: int, limit: int, kind: str | None) -> list:
    """Remittances with an id above `after_id` (of one kind when given), by id, at most `limit`."""
    stmt = select(Remittance).where(col(Remittance.id) > after_id, col(Remittance.deleted_at).is_(None))
    if kind is not None:
        stmt = stmt.where(Remittance.kind == kind)
    return list((await session.exec(stmt.order_by(col(Remittance.id)).limit(limit))).all())


async def category_sums(session: AsyncSession, *, pay_date_from: date | None, pay_date_to: date | None
                        ) -> list[tuple[str, str | None, bool, int]]:
    """Sums of the lines of posted payslips paid in the range (either end open) per (kind, category, remitted):
    remitted is whether the payslip was carried by a remittance of the kind its category is paid by (payg lines:
    a payg remittance; super:L, super:RESC and salary_sacrifice:S lines: a super one). Minor units."""
    pay_date = _pay_date_column()
    payg = select(RemittancePayslip.payslip_id).where(RemittancePayslip.kind == "payg")
    super_ = select(RemittancePayslip.payslip_id).where(RemittancePayslip.kind == "super")
    remitted = case((_CATEGORY == "payg", col(Payslip.id).in_(payg)),
                    (_CATEGORY.in_(["super:L", "super:RESC", "salary_sacrifice:S"]), col(Payslip.id).in_(super_)),
                    else_=False)
    stmt = _with_categories(
        select(PayslipLine.kind, _CATEGORY, remitted, func.sum(PayslipLine.amount_minor))
        .join(Payslip, Payslip.id == PayslipLine.payslip_id).join(PayrollRun, PayrollRun.id == Payslip.run_id)
    ).where(col(Payslip.status).in_(POSTED_PAYSLIP_STATUSES))
    if pay_date_from is not None:
        stmt = stmt.where(pay_date >= pay_date_from)
    if pay_date_to is not None:
        stmt = stmt.where(pay_date <= pay_date_to)
    rows = (await session.exec(stmt.group_by(PayslipLine.kind, _CATEGORY, remitted))).all()
    return [(k, c, bool(r), int(total or 0)) for k, c, r, total in rows]


async def ytd_line_sums(session: AsyncSession, employee_ids: Sequence[int], *, pay_date_from: date,
                        pay_date_to: date, run_id: int | None = None) -> list[tuple[int, str, str | None, str, int, int]]:
    """Per employee, line kind, category and code: the sum of amounts (minor units) and of hours (hundredths) over
    the lines of posted payslips (POSTED_PAYSLIP_STATUSES, reversals included, negative) paid from pay_date_from to
    pay_date_to, plus every payslip of `run_id` whatever its status (a calculated run's own pay event). Rows
    (employee id, kind, category, code, amount minor, hours x100)."""
    if not employee_ids:
        return []
    pay_date = _pay_date_column()
    counted = col(Payslip.status).in_(POSTED_PAYSLIP_STATUSES)
    if run_id is not None:
        counted = counted | (Payslip.run_id == run_id)
    stmt = _with_categories(
        select(Payslip.employee_id, PayslipLine.kind, _CATEGORY, PayslipLine.code,
               func.sum(PayslipLine.amount_minor), func.sum(func.coalesce(PayslipLine.hours_x100, 0)))
        .join(Payslip, Payslip.id == PayslipLine.payslip_id).join(PayrollRun, PayrollRun.id == Payslip.run_id)
    ).where(col(Payslip.employee_id).in_(list(employee_ids)), counted, pay_date >= pay_date_from,
            pay_date <= pay_date_to)
    rows = (await session.exec(stmt.group_by(Payslip.employee_id, PayslipLine.kind, _CATEGORY, PayslipLine.code)
                               .order_by(Payslip.employee_id, PayslipLine.code))).all()
    return [(e, k, c, code, int(a or 0), int(h or 0)) for e, k, c, code, a, h in rows]



async def year_to_date_sums(session: AsyncSession, employee_ids: Sequence[int], *, statuses: Sequence[str],
                            other_than_run: int, pay_date_from: date, pay_date_to: date
                            ) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, str, str, int]]]:
    """Sums over the payslips of `employee_ids` in `statuses` paid from pay_date_from to pay_date_to (their own pay
    date), except those of run `other_than_run`, worked in the database (one row per employee, not per payslip):
    rows (employee id, gross, net, taxable) per employee, where a payslip's taxable pay is its `ytd` record's
    period_taxable_minor (its gross when the record has none), and rows (employee id, line code, line kind, amount)
    per employee, code and kind. Minor units, ints."""
    if not employee_ids:
        return [], []
    chosen = (id_in(Payslip.employee_id, list(employee_ids)), col(Payslip.status).in_(list(statuses)),
              Payslip.run_id != other_than_run, col(Payslip.pay_date) >= pay_date_from,
              col(Payslip.pay_date) <= pay_date_to)
    if session.bind is not None and session.bind.dialect.name == "postgresql":  # ytd is text: read as json there
        recorded = cast(cast(func.nullif(Payslip.ytd, ""), JSON)["period_taxable_minor"].as_string(), BigInteger)
    else:  # SQLite's json_extract reads the text itself (CAST AS JSON would give the text numeric affinity)
        recorded = func.json_extract(func.nullif(Payslip.ytd, ""), "$.period_taxable_minor")
    totals = (await session.exec(select(  # type: ignore[call-overload]
        Payslip.employee_id, func.sum(Payslip.gross_minor), func.sum(Payslip.net_minor),
        func.sum(func.coalesce(recorded, Payslip.gross_minor))).where(*chosen).group_by(Payslip.employee_id))).all()
    lines = (await session.exec(select(  # type: ignore[call-overload]
        Payslip.employee_id, PayslipLine.code, PayslipLine.kind, func.sum(PayslipLine.amount_minor))
        .join(Payslip, Payslip.id == PayslipLine.payslip_id).where(*chosen)
        .group_by(Payslip.employee_id, PayslipLine.code, PayslipLine.kind))).all()
    return ([(e, int(g or 0), int(n or 0), int(t or 0)) for e, g, n, t in totals],
            [(e, code, kind, int(a or 0)) for e, code, kind, a in lines])

async def run_employee_ids(session: AsyncSession, run_id: int, *, after_id: int, limit: int) -> list[int]:
    """The ids of the employees a run has payslips for, above `after_id`, ascending, at most `limit`."""
    return list((await session.exec(select(Payslip.employee_id).where(
        Payslip.run_id == run_id, col(Payslip.employee_id) > after_id).distinct()
        .order_by(Payslip.employee_id).limit(limit))).all())


async def paid_employee_ids(session: AsyncSession, *, pay_date_from: date, pay_date_to: date, after_id: int,
                            limit: int) -> list[int]:
    """The ids of the employees with a posted payslip paid from pay_date_from to pay_date_to, above `after_id`,
    ascending, at most `limit` (an end-of-year finalisation's payees)."""
    pay_date = _pay_date_column()
    return list((await session.exec(
        select(Payslip.employee_id).join(PayrollRun, PayrollRun.id == Payslip.run_id).where(
            col(Payslip.status).in_(POSTED_PAYSLIP_STATUSES), pay_date >= pay_date_from, pay_date <= pay_date_to,
            col(Payslip.employee_id) > after_id).distinct().order_by(Payslip.employee_id).limit(limit))).all())


async def contract_versions_from(session: AsyncSession, on: date) -> list[EmploymentContract]:
    """Every live contract version that may be in force on `on` (started by then, not ended before it, effective by
    then), by id; liability.in_force picks each contract's version."""
    return list((await session.exec(select(EmploymentContract).where(
        col(EmploymentContract.deleted_at).is_(None), EmploymentContract.start_date <= on,
        EmploymentContract.effective_from <= on,
        col(EmploymentContract.end_date).is_(None) | (EmploymentContract.end_date >= on))
        .order_by(col(EmploymentContract.id)))).all())


async def remittances_paid(session: AsyncSession, *, paid_from: date, paid_to: date, limit: int) -> list[Remittance]:
    """The live remittances paid from paid_from to paid_to (inclusive), the latest `limit`, oldest first."""
    rows = (await session.exec(select(Remittance).where(
        col(Remittance.deleted_at).is_(None), Remittance.paid_on >= paid_from, Remittance.paid_on <= paid_to)
        .order_by(col(Remittance.id).desc()).limit(limit))).all()
    return list(reversed(rows))
