"""All SQL of the fees context. Only this module knows dialect differences (row locks on PostgreSQL; SQLite
serializes writers anyway) and the multi-row inserts a term's invoices need."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar

from sqlalchemy import bindparam, func, insert, or_, text, union_all, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.fees.models import (
    Allocation,
    CreditNote,
    Discount,
    DiscountAward,
    Family,
    FamilyCredit,
    FamilyMember,
    FeeItem,
    FeeSchedule,
    FeeScheduleLine,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    Refund,
)
from domain.kernel.clock import utcnow
from domain.kernel.db import bulk_insert_records, codes_by_id, reserve_ids
from domain.kernel.errors import NotFound
from domain.kernel.sql import id_in
from domain.kernel.text import name_search

T = TypeVar("T", bound=SQLModel)
CHUNK = 5000  # ids per IN list: SQLite allows 32766 bound parameters

_HINTS: dict[type, tuple[str, str]] = {
    Family: ("family", "list_families"),
    FeeItem: ("fee item", "list_fee_items"),
    FeeSchedule: ("fee schedule", "list_fee_schedules"),
    Discount: ("discount", "list_discounts"),
    Invoice: ("invoice", "list_invoices"),
    Payment: ("payment", "list_payments"),
    CreditNote: ("credit note", "get_invoice"),
}


def _postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def _chunks(ids: Iterable[int]) -> list[list[int]]:
    wanted = sorted(set(ids))
    return [wanted[i:i + CHUNK] for i in range(0, len(wanted), CHUNK)]


async def get_live(session: AsyncSession, model: type[T], row_id: int, *, for_update: bool = False) -> T | None:
    """Return the live row, locked on PostgreSQL when `for_update`."""
    stmt = select(model).where(model.id == row_id)  # type: ignore[attr-defined]
    if for_update and _postgres(session):
        stmt = stmt.with_for_update()
    row = (await session.exec(stmt)).first()
    return None if row is None or getattr(row, "deleted_at", None) is not None else row


async def get_or_raise(session: AsyncSession, model: type[T], row_id: int, *, field: str,
                       for_update: bool = False) -> T:
    """Return the live row; raises NotFound naming the tool that lists valid ids."""
    row = await get_live(session, model, row_id, for_update=for_update)
    if row is None:
        what, hint = _HINTS.get(model, (model.__name__, "the list tools"))
        raise NotFound(f"no {what} with id {row_id}; {hint} shows valid ids", field=field)
    return row


async def by_code(session: AsyncSession, model: type[T], code: str) -> T | None:
    stmt = select(model).where(func.upper(model.code) == code.upper(),  # type: ignore[attr-defined]
                               model.deleted_at.is_(None))  # type: ignore[attr-defined]
    return (await session.exec(stmt)).first()


async def list_rows(session: AsyncSession, model: type[T], *, after_id: int, limit: int, **filters: Any) -> list[T]:
    """Up to limit + 1 live rows after `after_id` in id order, with equality filters (None: any)."""
    stmt = select(model).where(model.id > after_id, model.deleted_at.is_(None))  # type: ignore[attr-defined]
    for key, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(model, key) == value)
    return list((await session.exec(stmt.order_by(model.id).limit(limit + 1))).all())  # type: ignore[attr-defined]


async def number_row(session: AsyncSession, row: SQLModel, attribute: str, prefix: str, width: int) -> None:
    """Insert `row` and give it its number (prefix + zero-padded id, e.g. INV000042) in the same flush cycle."""
    setattr(row, attribute, f"T{uuid.uuid4().hex[:19]}")
    session.add(row)
    await session.flush()
    setattr(row, attribute, f"{prefix}{row.id:0{width}d}")  # type: ignore[attr-defined]
    session.add(row)
    await session.flush()


async def reserve_number(session: AsyncSession, row: SQLModel, attribute: str, prefix: str, width: int) -> bool:
    """On PostgreSQL, give `row` (not written yet) an id from its table's sequence and its number (prefix +
    zero-padded id, e.g. RCT000042), so that one INSERT writes it later, numbered, instead of number_row's INSERT
    and UPDATE; return False elsewhere (SQLite, whose ids come only from writing: use number_row)."""
    if not _postgres(session):
        return False
    (row_id,) = await reserve_ids(session, type(row).__table__, 1)  # type: ignore[attr-defined]
    row.id = row_id  # type: ignore[attr-defined]
    setattr(row, attribute, f"{prefix}{row_id:0{width}d}")
    return True


# ---------------------------------------------------------------- families


async def family_students(session: AsyncSession, family_ids: Iterable[int]) -> dict[int, list[int]]:
    """{family id: student ids (live memberships, in id order)}."""
    out: dict[int, list[int]] = {}
    for chunk in _chunks(family_ids):
        stmt = (select(FamilyMember.family_id, FamilyMember.student_id)
                .where(id_in(FamilyMember.family_id, chunk), col(FamilyMember.deleted_at).is_(None))
                .order_by(FamilyMember.id))
        for family_id, student_id in (await session.exec(stmt)).all():
            out.setdefault(family_id, []).append(student_id)
    return out


async def membership_of(session: AsyncSession, student_id: int) -> FamilyMember | None:
    stmt = select(FamilyMember).where(FamilyMember.student_id == student_id, col(FamilyMember.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def families_of_students(session: AsyncSession, student_ids: Iterable[int]) -> dict[int, int]:
    """{student id: family id} for the students with a live membership."""
    out: dict[int, int] = {}
    for chunk in _chunks(student_ids):
        stmt = select(FamilyMember.student_id, FamilyMember.family_id).where(
            id_in(FamilyMember.student_id, chunk), col(FamilyMember.deleted_at).is_(None))
        out.update(dict((await session.exec(stmt)).all()))
    return out


async def list_families(session: AsyncSession, *, after_id: int, limit: int, query: str | None,
                        student_id: int | None) -> list[Family]:
    stmt = select(Family).where(col(Family.deleted_at).is_(None))
    if student_id is not None:
        stmt = stmt.where(col(Family.id).in_(select(FamilyMember.family_id).where(
            FamilyMember.student_id == student_id, col(FamilyMember.deleted_at).is_(None))))
    if query:
        # Ranked (domain.kernel.text.name_search), `after_id` being the number of rows already returned.
        where, rank = name_search(query, Family.name_folded, Family.code,
                                  others=(func.coalesce(Family.billing_name, ""),))
        stmt = stmt.where(where).order_by(rank, Family.name_folded, Family.id).offset(after_id)
        return list((await session.exec(stmt.limit(limit + 1))).all())
    stmt = stmt.where(col(Family.id) > after_id)
    return list((await session.exec(stmt.order_by(Family.id).limit(limit + 1))).all())


async def families_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Family]:
    out: dict[int, Family] = {}
    for chunk in _chunks(ids):
        stmt = select(Family).where(col(Family.id).in_(chunk))
        out.update({row.id: row for row in (await session.exec(stmt)).all() if row.id is not None})
    return out


# ---------------------------------------------------------------- schedules and discounts


async def schedule_lines(session: AsyncSession, schedule_id: int) -> list[FeeScheduleLine]:
    stmt = select(FeeScheduleLine).where(FeeScheduleLine.fee_schedule_id == schedule_id,
                                         col(FeeScheduleLine.deleted_at).is_(None)).order_by(FeeScheduleLine.id)
    return list((await session.exec(stmt)).all())


async def fee_items_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, FeeItem]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    stmt = select(FeeItem).where(col(FeeItem.id).in_(wanted))
    return {row.id: row for row in (await session.exec(stmt)).all() if row.id is not None}


async def active_discounts(session: AsyncSession) -> list[Discount]:
    stmt = select(Discount).where(Discount.active == True, col(Discount.deleted_at).is_(None))
    return list((await session.exec(stmt.order_by(Discount.code))).all())


async def awards_of_students(session: AsyncSession, student_ids: Iterable[int]) -> dict[int, set[int]]:
    """{student id: ids of the discounts awarded to them (live awards)}."""
    out: dict[int, set[int]] = {}
    for chunk in _chunks(student_ids):
        stmt = select(DiscountAward.student_id, DiscountAward.discount_id).where(
            id_in(DiscountAward.student_id, chunk), col(DiscountAward.deleted_at).is_(None))
        for student_id, discount_id in (await session.exec(stmt)).all():
            out.setdefault(student_id, set()).add(discount_id)
    return out


async def live_award(session: AsyncSession, student_id: int, discount_id: int) -> DiscountAward | None:
    stmt = select(DiscountAward).where(DiscountAward.student_id == student_id,
                                       DiscountAward.discount_id == discount_id,
                                       col(DiscountAward.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def schedule_has_invoices(session: AsyncSession, schedule_id: int) -> bool:
    stmt = select(Invoice.id).where(Invoice.fee_schedule_id == schedule_id).limit(1)
    return (await session.exec(stmt)).first() is not None


# ---------------------------------------------------------------- invoices


async def invoiced_students(session: AsyncSession, schedule_id: int, *, include_void: bool) -> set[int]:
    """Students with an invoice for the schedule (only live ones unless `include_void`)."""
    stmt = select(Invoice.student_id).where(Invoice.fee_schedule_id == schedule_id)
    if not include_void:
        stmt = stmt.where(Invoice.status != InvoiceStatus.VOID.value)
    return set((await session.exec(stmt)).all())


async def reserve_invoice_ids(session: AsyncSession, count: int) -> list[int] | None:
    """`count` new invoice ids, ascending, from the invoices' sequence (PostgreSQL), for invoices written later with
    `insert_invoices_bulk(ids=...)`; None on SQLite, where ids come only from writing the rows."""
    if not _postgres(session):
        return None
    return await reserve_ids(session, Invoice.__table__, count)  # type: ignore[attr-defined]


async def insert_invoices_bulk(session: AsyncSession, invoices: list[dict[str, Any]],
                               lines: list[list[dict[str, Any]]], *, ids: list[int] | None = None) -> list[int]:
    """Insert invoices (column dicts without id and number; `version` 1 unless given) and their lines, numbered INV +
    zero-padded id, and return the ids in order. On PostgreSQL the ids come from the sequence first (or are `ids`,
    from reserve_invoice_ids), so each invoice is written once, numbered, with one binary COPY per table; on SQLite
    multi-row INSERTs, then the numbers (`ids` is PostgreSQL's only: ValueError elsewhere). Raises IntegrityError
    when a UNIQUE index refuses an invoice (a live invoice of the schedule a concurrent run wrote)."""
    now = utcnow()
    base = {"version": 1, "created_at": now, "updated_at": now, "deleted_at": None}
    table = Invoice.__table__  # type: ignore[attr-defined]
    if ids is not None and not _postgres(session):
        raise ValueError("invoice ids are reserved on PostgreSQL only")
    if _postgres(session) and invoices:
        if ids is None:
            ids = await reserve_ids(session, table, len(invoices))
        elif len(ids) != len(invoices):
            raise ValueError(f"{len(ids)} reserved ids for {len(invoices)} invoices")
        # COPY records (tuples) made straight from the dicts, without a merged dict per row: a term's 10,000
        # invoices and 40,000 lines. Every invoice dict has the keys of the first, every line those of the first line.
        own = [c for c in invoices[0] if c not in ("id", "invoice_number")]
        shared = [c for c in base if c not in own]
        defaults, values = tuple(base[c] for c in shared), _row_values(own)
        await bulk_insert_records(session, table, [*shared, *own, "id", "invoice_number"], [
            (*defaults, *values(invoice), invoice_id, f"INV{invoice_id:06d}")
            for invoice, invoice_id in zip(invoices, ids, strict=True)])
        first_line = next((line for invoice_lines in lines for line in invoice_lines), None)
        if first_line is not None:
            own = [c for c in first_line if c not in ("invoice_id", "line_no")]
            shared = [c for c in base if c not in own]
            defaults, values = tuple(base[c] for c in shared), _row_values(own)
            await bulk_insert_records(session, InvoiceLine.__table__,  # type: ignore[attr-defined]
                                      [*shared, *own, "invoice_id", "line_no"], [
                (*defaults, *values(line), invoice_id, n)
                for invoice_id, invoice_lines in zip(ids, lines, strict=True)
                for n, line in enumerate(invoice_lines, start=1)])
        return ids
    rows = [{**base, **invoice, "invoice_number": f"T{uuid.uuid4().hex[:19]}"} for invoice in invoices]
    ids = []
    for start in range(0, len(rows), 2000):
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        result = await session.exec(stmt, params=rows[start:start + 2000])  # type: ignore[call-overload]
        ids.extend(row[0] for row in result.all())
    numbering = update(table).where(table.c.id == bindparam("b_id")).values(invoice_number=bindparam("b_number"))
    await session.exec(numbering, params=[{"b_id": i, "b_number": f"INV{i:06d}"} for i in ids])  # type: ignore[call-overload]
    line_rows = [{**base, **line, "invoice_id": invoice_id, "line_no": n}
                 for invoice_id, invoice_lines in zip(ids, lines, strict=True)
                 for n, line in enumerate(invoice_lines, start=1)]
    for start in range(0, len(line_rows), CHUNK):
        await session.exec(insert(InvoiceLine.__table__),  # type: ignore[call-overload, attr-defined]
                           params=line_rows[start:start + CHUNK])
    return ids


def _row_values(keys: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function giving a row dict's values of `keys` as a tuple, in that order (a COPY record's part)."""
    if len(keys) == 1:
        return lambda row: (row[keys[0]],)
    return itemgetter(*keys)


async def set_issued_bulk(session: AsyncSession, issued: list[dict[str, Any]]) -> None:
    """Mark drafts issued: each dict has b_id, b_status, b_entry, b_issue_date. On PostgreSQL one UPDATE joined to
    the values as arrays (one parameter each, however many invoices); on SQLite an executemany."""
    table = Invoice.__table__  # type: ignore[attr-defined]
    now = utcnow()
    if _postgres(session) and issued:
        await session.exec(text(  # type: ignore[call-overload]
            "UPDATE invoices AS i SET status = v.status, entry_id = v.entry_id, issue_date = v.issue_date, "
            "version = i.version + 1, updated_at = :now "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]), CAST(:entries AS integer[]), "
            "CAST(:dates AS date[])) AS v(id, status, entry_id, issue_date) WHERE i.id = v.id"),
            params={"now": now, "ids": [r["b_id"] for r in issued], "statuses": [r["b_status"] for r in issued],
                    "entries": [r["b_entry"] for r in issued], "dates": [r["b_issue_date"] for r in issued]})
        return
    for start in range(0, len(issued), CHUNK):
        stmt = update(table).where(table.c.id == bindparam("b_id")).values(
            status=bindparam("b_status"), entry_id=bindparam("b_entry"), issue_date=bindparam("b_issue_date"),
            version=table.c.version + 1, updated_at=now)
        await session.exec(stmt, params=issued[start:start + CHUNK])  # type: ignore[call-overload]


async def invoices_by_ids(session: AsyncSession, ids: Iterable[int], *, for_update: bool = False) -> dict[int, Invoice]:
    out: dict[int, Invoice] = {}
    for chunk in _chunks(ids):
        stmt = select(Invoice).where(col(Invoice.id).in_(chunk)).order_by(Invoice.id)
        if for_update and _postgres(session):
            stmt = stmt.with_for_update()
        out.update({row.id: row for row in (await session.exec(stmt)).all() if row.id is not None})
    return out


async def lines_of_invoices(session: AsyncSession, ids: Iterable[int]) -> dict[int, list[InvoiceLine]]:
    out: dict[int, list[InvoiceLine]] = {}
    for chunk in _chunks(ids):
        stmt = select(InvoiceLine).where(col(InvoiceLine.invoice_id).in_(chunk)).order_by(
            InvoiceLine.invoice_id, InvoiceLine.line_no)
        for row in (await session.exec(stmt)).all():
            out.setdefault(row.invoice_id, []).append(row)
    return out


async def draft_ids(session: AsyncSession, *, schedule_id: int | None, invoice_ids: list[int] | None) -> list[int]:
    stmt = select(Invoice.id).where(Invoice.status == InvoiceStatus.DRAFT.value)
    if schedule_id is not None:
        stmt = stmt.where(Invoice.fee_schedule_id == schedule_id)
    if invoice_ids is not None:
        stmt = stmt.where(col(Invoice.id).in_(invoice_ids))
    return list((await session.exec(stmt.order_by(Invoice.id))).all())


async def open_invoices_of_family(session: AsyncSession, family_id: int, *, currency: str | None = None,
                                  for_update: bool = False) -> list[Invoice]:
    """The family's issued invoices with a balance, earliest due first."""
    stmt = select(Invoice).where(Invoice.family_id == family_id, col(Invoice.status).in_(
        [InvoiceStatus.ISSUED.value, InvoiceStatus.PARTIALLY_PAID.value]))
    if currency is not None:
        stmt = stmt.where(Invoice.currency == currency)
    if for_update and _postgres(session):
        stmt = stmt.with_for_update()
    return list((await session.exec(stmt.order_by(Invoice.due_date, Invoice.id))).all())


async def list_invoices(session: AsyncSession, *, after_id: int, limit: int, family_id: int | None,
                        student_id: int | None, schedule_id: int | None, statuses: list[str] | None,
                        overdue_on: dt.date | None) -> list[Invoice]:
    stmt = select(Invoice).where(col(Invoice.id) > after_id)
    for column, value in ((Invoice.family_id, family_id), (Invoice.student_id, student_id),
                          (Invoice.fee_schedule_id, schedule_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if statuses:
        stmt = stmt.where(col(Invoice.status).in_(statuses))
    if overdue_on is not None:
        stmt = stmt.where(Invoice.due_date < overdue_on, col(Invoice.status).in_(
            [InvoiceStatus.ISSUED.value, InvoiceStatus.PARTIALLY_PAID.value]))
    return list((await session.exec(stmt.order_by(Invoice.id).limit(limit + 1))).all())


# ---------------------------------------------------------------- as of a date (aging, statements)


async def receivable_invoices(session: AsyncSession, *, as_of: dt.date, family_id: int | None = None,
                              year_level_student_ids: list[int] | None = None) -> list[Invoice]:
    """Invoices issued on or before `as_of` and not voided by then (their amounts are read with the
    allocations and credit notes dated up to `as_of`)."""
    stmt = select(Invoice).where(col(Invoice.issue_date).is_not(None), col(Invoice.issue_date) <= as_of,
                                 or_(col(Invoice.voided_on).is_(None), col(Invoice.voided_on) > as_of))
    if family_id is not None:
        stmt = stmt.where(Invoice.family_id == family_id)
    if year_level_student_ids is not None:
        stmt = stmt.where(col(Invoice.student_id).in_(year_level_student_ids))
    return list((await session.exec(stmt.order_by(Invoice.due_date, Invoice.id))).all())


async def settled_by(session: AsyncSession, *, as_of: dt.date, family_id: int | None = None) -> dict[int, int]:
    """{invoice id: allocations + credit notes applied dated up to `as_of`}."""
    out: dict[int, int] = {}
    alloc = select(Allocation.invoice_id, func.sum(Allocation.amount)).where(Allocation.allocated_on <= as_of)
    notes = select(CreditNote.invoice_id, func.sum(CreditNote.applied)).where(CreditNote.issued_on <= as_of)
    if family_id is not None:
        alloc = alloc.where(col(Allocation.invoice_id).in_(select(Invoice.id).where(Invoice.family_id == family_id)))
        notes = notes.where(CreditNote.family_id == family_id)
    # One statement for both sums (a family's account reads them on every call).
    both = union_all(alloc.group_by(Allocation.invoice_id), notes.group_by(CreditNote.invoice_id))
    for invoice_id, amount in (await session.exec(both)).all():  # type: ignore[call-overload]
        out[invoice_id] = out.get(invoice_id, 0) + int(amount or 0)
    return out


@dataclass(frozen=True)
class OpenGroup:
    """What a family (or one of its students) owes on invoices of one due date: the balance (minor units), how many
    invoices and the lowest invoice id among them (rows of open_invoice_groups)."""

    family_id: int
    family_code: str
    family_name: str
    student_id: int | None
    due_date: dt.date
    balance: int
    invoices: int
    first_invoice_id: int


async def open_invoice_groups(session: AsyncSession, *, as_of: dt.date, currency: str, by_student: bool,
                              student_ids: list[int] | None = None) -> list[OpenGroup]:
    """The invoices in `currency` with money owed on `as_of`, summed per family (and student, with `by_student`) and
    due date, in one query: the invoices receivable_invoices reads (issued by then, not voided by then; of
    `student_ids` when given) less what settled_by says was allocated and credited by then, those with a balance
    above 0. Earliest due date first, then the lowest invoice id: the order their first invoices come in."""
    if student_ids is not None and not student_ids:
        return []
    allocated = (select(Allocation.invoice_id.label("invoice_id"),  # type: ignore[attr-defined]
                        func.sum(Allocation.amount).label("amount"))
                 .where(Allocation.allocated_on <= as_of).group_by(Allocation.invoice_id).subquery())
    credited = (select(CreditNote.invoice_id.label("invoice_id"),  # type: ignore[attr-defined]
                       func.sum(CreditNote.applied).label("amount"))
                .where(CreditNote.issued_on <= as_of).group_by(CreditNote.invoice_id).subquery())
    owed = (select(Invoice.id, Invoice.family_id, Invoice.student_id, Invoice.due_date,
                   (Invoice.total - func.coalesce(allocated.c.amount, 0) - func.coalesce(credited.c.amount, 0))
                   .label("balance"))
            .outerjoin(allocated, allocated.c.invoice_id == Invoice.id)
            .outerjoin(credited, credited.c.invoice_id == Invoice.id)
            .where(col(Invoice.issue_date).is_not(None), col(Invoice.issue_date) <= as_of,
                   or_(col(Invoice.voided_on).is_(None), col(Invoice.voided_on) > as_of),
                   Invoice.currency == currency))
    if student_ids is not None:
        owed = owed.where(id_in(Invoice.student_id, student_ids))
    rows = owed.subquery()
    keys = [rows.c.family_id, Family.code, Family.name, *([rows.c.student_id] if by_student else [])]
    first = func.min(rows.c.id)
    stmt = (select(*keys, rows.c.due_date, func.sum(rows.c.balance), func.count(), first)
            .select_from(rows).join(Family, Family.id == rows.c.family_id).where(rows.c.balance > 0)
            .group_by(*keys, rows.c.due_date).order_by(rows.c.due_date, first))
    out = []
    for row in (await session.exec(stmt)).all():  # type: ignore[call-overload]
        family_id, code, name, *student, due_date, balance, invoices, first_id = row
        out.append(OpenGroup(family_id=family_id, family_code=code, family_name=name,
                             student_id=student[0] if student else None, due_date=due_date, balance=int(balance),
                             invoices=int(invoices), first_invoice_id=first_id))
    return out


async def credit_balances(session: AsyncSession, *, as_of: dt.date | None = None,
                          family_id: int | None = None) -> dict[tuple[int, str], int]:
    """{(family id, currency): credit held} from the credit movements dated up to `as_of` (all when None)."""
    stmt = select(FamilyCredit.family_id, FamilyCredit.currency, func.sum(FamilyCredit.amount))
    if as_of is not None:
        stmt = stmt.where(FamilyCredit.occurred_on <= as_of)
    if family_id is not None:
        stmt = stmt.where(FamilyCredit.family_id == family_id)
    rows = (await session.exec(stmt.group_by(FamilyCredit.family_id, FamilyCredit.currency))).all()
    return {(family, currency): int(amount or 0) for family, currency, amount in rows}


async def credit_movements(session: AsyncSession, family_id: int, currency: str) -> list[FamilyCredit]:
    """The family's credit movements in `currency`, in id order (their sum is the credit it holds)."""
    stmt = (select(FamilyCredit).where(FamilyCredit.family_id == family_id, FamilyCredit.currency == currency)
            .order_by(col(FamilyCredit.id)))
    return list((await session.exec(stmt)).all())


async def set_entry(session: AsyncSession, table: str, row_id: int, entry_id: int) -> None:
    """Point row `row_id` of a fees document table (credit notes, refunds) at the journal entry it posted."""
    model = {"fee_credit_notes": CreditNote, "fee_refunds": Refund}[table]
    row = await session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {table} row with id {row_id}")
    row.entry_id = entry_id
    session.add(row)
    await session.flush()


async def last_payment_dates(session: AsyncSession, family_ids: Iterable[int]) -> dict[int, dt.date]:
    out: dict[int, dt.date] = {}
    for chunk in _chunks(family_ids):
        stmt = (select(Payment.family_id, func.max(Payment.received_on))
                .where(col(Payment.family_id).in_(chunk)).group_by(Payment.family_id))
        out.update(dict((await session.exec(stmt)).all()))
    return out


async def family_history(session: AsyncSession, family_id: int) -> dict[str, list[Any]]:
    """Every invoice, payment, credit note and refund of the family (for its statement)."""
    out: dict[str, list[Any]] = {}
    for key, model in (("invoices", Invoice), ("payments", Payment), ("credit_notes", CreditNote),
                       ("refunds", Refund)):
        stmt = select(model).where(model.family_id == family_id).order_by(model.id)  # type: ignore[attr-defined]
        out[key] = list((await session.exec(stmt)).all())
    return out


async def allocations_of_payment(session: AsyncSession, payment_id: int) -> list[Allocation]:
    stmt = select(Allocation).where(Allocation.payment_id == payment_id).order_by(Allocation.id)
    return list((await session.exec(stmt)).all())


async def allocations_of_invoice(session: AsyncSession, invoice_id: int) -> list[Allocation]:
    stmt = select(Allocation).where(Allocation.invoice_id == invoice_id).order_by(Allocation.id)
    return list((await session.exec(stmt)).all())


async def credit_notes_of_invoice(session: AsyncSession, invoice_id: int) -> list[CreditNote]:
    stmt = select(CreditNote).where(CreditNote.invoice_id == invoice_id).order_by(CreditNote.id)
    return list((await session.exec(stmt)).all())


async def payment_by_key(session: AsyncSession, key: str) -> Payment | None:
    return (await session.exec(select(Payment).where(Payment.idempotency_key == key))).first()


async def refund_by_key(session: AsyncSession, key: str) -> Refund | None:
    return (await session.exec(select(Refund).where(Refund.idempotency_key == key))).first()


async def credit_by_key(session: AsyncSession, key: str) -> FamilyCredit | None:
    return (await session.exec(select(FamilyCredit).where(FamilyCredit.idempotency_key == key))).first()


async def list_payments(session: AsyncSession, *, after_id: int, limit: int, family_id: int | None,
                        from_date: dt.date | None, to_date: dt.date | None) -> list[Payment]:
    stmt = select(Payment).where(col(Payment.id) > after_id)
    if family_id is not None:
        stmt = stmt.where(Payment.family_id == family_id)
    if from_date is not None:
        stmt = stmt.where(Payment.received_on >= from_date)
    if to_date is not None:
        stmt = stmt.where(Payment.received_on <= to_date)
    return list((await session.exec(stmt.order_by(Payment.id).limit(limit + 1))).all())


async def allocations_of_family_credit(session: AsyncSession, credit_id: int) -> list[Allocation]:
    stmt = select(Allocation).where(Allocation.credit_id == credit_id).order_by(Allocation.id)
    return list((await session.exec(stmt)).all())


async def collections(session: AsyncSession, *, from_date: dt.date, to_date: dt.date,
                      currency: str) -> dict[str, Any]:
    """Payments and refunds dated from_date..to_date in `currency`: {"payments": [(method, count, amount,
    to credit)], "refunds": (count, amount)}."""
    stmt = (select(Payment.method, func.count(), func.sum(Payment.amount), func.sum(Payment.unallocated))
            .where(Payment.received_on >= from_date, Payment.received_on <= to_date, Payment.currency == currency)
            .group_by(Payment.method).order_by(Payment.method))
    payments = [(method, int(count), int(amount or 0), int(credit or 0))
                for method, count, amount, credit in (await session.exec(stmt)).all()]
    refund_stmt = select(func.count(), func.sum(Refund.amount)).where(
        Refund.refunded_on >= from_date, Refund.refunded_on <= to_date, Refund.currency == currency)
    count, amount = (await session.exec(refund_stmt)).one()
    return {"payments": payments, "refunds": (int(count), int(amount or 0))}


async def reference_rows(session: AsyncSession, kind: str) -> list:
    """Rows a reference to a live `kind` is matched against (domain.kernel.references): id, code (an invoice's
    number), name, and for a family its billing name."""
    if kind == "family":
        stmt = select(Family.id, Family.code, Family.name, Family.billing_name).where(col(Family.deleted_at).is_(None))
    elif kind == "invoice":
        stmt = select(Invoice.id, Invoice.invoice_number).where(col(Invoice.deleted_at).is_(None))
    else:
        model = {"fee_item": FeeItem, "fee_schedule": FeeSchedule, "discount": Discount}[kind]
        stmt = select(model.id, model.code, model.name).where(col(model.deleted_at).is_(None))
    return list((await session.exec(stmt)).all())


CODE_COLUMNS = {"family": (Family.id, Family.code), "fee_item": (FeeItem.id, FeeItem.code),
                "fee_schedule": (FeeSchedule.id, FeeSchedule.code), "discount": (Discount.id, Discount.code),
                "invoice": (Invoice.id, Invoice.invoice_number)}
"""Each kind's id column and the column of the code people use (codes_of)."""


async def codes_of(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code people use for each `kind` record of `ids` (deleted ones too: an old answer still names them), in
    one query: {id: code}. Ids no row has are left out."""
    return await codes_by_id(session, *CODE_COLUMNS[kind], ids)

async def families_billing(session: AsyncSession, student_ids: Iterable[int], *,
                               family_id: int | None = None) -> list[Family]:
    """Return the live families with a live member among `student_ids` (only `family_id` when given), by id: a
    guardian's families, the scope put into the query."""
    ids = sorted(set(student_ids))
    if not ids:
        return []
    stmt = select(Family).where(col(Family.deleted_at).is_(None), col(Family.id).in_(
        select(FamilyMember.family_id).where(col(FamilyMember.student_id).in_(ids),
                                             col(FamilyMember.deleted_at).is_(None))))
    if family_id is not None:
        stmt = stmt.where(Family.id == family_id)
    return list((await session.exec(stmt.order_by(Family.id))).all())
