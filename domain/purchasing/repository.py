"""All SQL of the purchasing context. A receipt or a bill locks its order's row (SELECT ... FOR UPDATE on
PostgreSQL) before it reads the lines' received and billed units, and a payment locks its bill's row, so two
concurrent writers never both take the same units or the same balance; SQLite's write transactions already run
one at a time (BEGIN IMMEDIATE, domain.kernel.db)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.errors import NotFound
from domain.purchasing.models import (
    BillStatus,
    GoodsReceipt,
    GoodsReceiptLine,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierBill,
    SupplierBillLine,
    SupplierPayment,
)


async def number_row(session: AsyncSession, row: SQLModel, prefix: str, width: int = 6) -> None:
    """Insert `row` and give it its number (prefix + zero-padded id, e.g. PO000042) in the same flush cycle."""
    row.number = f"T{uuid.uuid4().hex[:11]}"  # type: ignore[attr-defined]
    session.add(row)
    await session.flush()
    row.number = f"{prefix}{row.id:0{width}d}"  # type: ignore[attr-defined]
    session.add(row)
    await session.flush()


# ---------------------------------------------------------------- suppliers


async def supplier_by_code(session: AsyncSession, code: str) -> Supplier | None:
    stmt = select(Supplier).where(Supplier.code == code, col(Supplier.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def suppliers(session: AsyncSession, *, after_id: int, limit: int, query: str | None,
                    active: bool | None) -> list[Supplier]:
    stmt = select(Supplier).where(col(Supplier.deleted_at).is_(None), col(Supplier.id) > after_id)
    if query is not None:
        like = f"%{query.lower()}%"
        stmt = stmt.where(func.lower(Supplier.code).like(like) | func.lower(Supplier.name).like(like))
    if active is not None:
        stmt = stmt.where(Supplier.active == active)
    return list((await session.exec(stmt.order_by(col(Supplier.id)).limit(limit + 1))).all())


async def suppliers_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, Supplier]:
    if not ids:
        return {}
    stmt = select(Supplier).where(col(Supplier.id).in_(sorted(set(ids))))
    return {row.id or 0: row for row in (await session.exec(stmt)).all()}


# ---------------------------------------------------------------- orders


async def order_by_number(session: AsyncSession, number: str, *, lock: bool = False) -> PurchaseOrder | None:
    stmt = select(PurchaseOrder).where(PurchaseOrder.number == number, col(PurchaseOrder.deleted_at).is_(None))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def get_order(session: AsyncSession, order_id: int) -> PurchaseOrder | None:
    return await session.get(PurchaseOrder, order_id)


async def orders_by_ids(session: AsyncSession, ids: Sequence[int]) -> dict[int, PurchaseOrder]:
    if not ids:
        return {}
    stmt = select(PurchaseOrder).where(col(PurchaseOrder.id).in_(sorted(set(ids))))
    return {row.id or 0: row for row in (await session.exec(stmt)).all()}


async def order_lines(session: AsyncSession, order_ids: Sequence[int]) -> list[PurchaseOrderLine]:
    if not order_ids:
        return []
    stmt = (select(PurchaseOrderLine).where(col(PurchaseOrderLine.order_id).in_(sorted(set(order_ids))))
            .order_by(col(PurchaseOrderLine.order_id), col(PurchaseOrderLine.line_no)))
    return list((await session.exec(stmt)).all())


async def orders(session: AsyncSession, *, after_id: int, limit: int, statuses: Sequence[str] | None,
                 supplier_id: int | None) -> list[PurchaseOrder]:
    stmt = select(PurchaseOrder).where(col(PurchaseOrder.deleted_at).is_(None), col(PurchaseOrder.id) > after_id)
    if statuses is not None:
        stmt = stmt.where(col(PurchaseOrder.status).in_(list(statuses)))
    if supplier_id is not None:
        stmt = stmt.where(PurchaseOrder.supplier_id == supplier_id)
    return list((await session.exec(stmt.order_by(col(PurchaseOrder.id)).limit(limit + 1))).all())


async def receipts_of(session: AsyncSession, order_id: int) -> list[GoodsReceipt]:
    stmt = select(GoodsReceipt).where(GoodsReceipt.order_id == order_id).order_by(col(GoodsReceipt.id))
    return list((await session.exec(stmt)).all())


async def receipt_lines(session: AsyncSession, receipt_ids: Sequence[int]) -> list[GoodsReceiptLine]:
    if not receipt_ids:
        return []
    stmt = (select(GoodsReceiptLine).where(col(GoodsReceiptLine.receipt_id).in_(list(receipt_ids)))
            .order_by(col(GoodsReceiptLine.id)))
    return list((await session.exec(stmt)).all())


async def receipt_move_ids(session: AsyncSession) -> list[int]:
    """The inventory move of every receipt line."""
    return list((await session.exec(select(GoodsReceiptLine.move_id))).all())


# ---------------------------------------------------------------- bills and payments


async def bill_by_number(session: AsyncSession, number: str, *, lock: bool = False) -> SupplierBill | None:
    stmt = select(SupplierBill).where(SupplierBill.number == number, col(SupplierBill.deleted_at).is_(None))
    if lock:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def bill_by_reference(session: AsyncSession, supplier_id: int, reference: str) -> SupplierBill | None:
    stmt = select(SupplierBill).where(SupplierBill.supplier_id == supplier_id,
                                      func.lower(SupplierBill.supplier_reference) == reference.lower())
    return (await session.exec(stmt)).first()


async def bills(session: AsyncSession, *, after_id: int, limit: int, supplier_id: int | None = None,
                order_id: int | None = None, status: str | None = None) -> list[SupplierBill]:
    stmt = select(SupplierBill).where(col(SupplierBill.deleted_at).is_(None), col(SupplierBill.id) > after_id)
    if supplier_id is not None:
        stmt = stmt.where(SupplierBill.supplier_id == supplier_id)
    if order_id is not None:
        stmt = stmt.where(SupplierBill.order_id == order_id)
    if status is not None:
        stmt = stmt.where(SupplierBill.status == status)
    return list((await session.exec(stmt.order_by(col(SupplierBill.id)).limit(limit + 1))).all())


async def bill_lines(session: AsyncSession, bill_ids: Sequence[int]) -> list[SupplierBillLine]:
    if not bill_ids:
        return []
    stmt = (select(SupplierBillLine).where(col(SupplierBillLine.bill_id).in_(list(bill_ids)))
            .order_by(col(SupplierBillLine.id)))
    return list((await session.exec(stmt)).all())


async def open_bill_count(session: AsyncSession, order_id: int) -> int:
    """How many of an order's bills still have a balance."""
    stmt = select(func.count()).select_from(SupplierBill).where(SupplierBill.order_id == order_id,
                                                                SupplierBill.status == BillStatus.OPEN.value)
    return int((await session.exec(stmt)).one())


async def open_bills(session: AsyncSession, *, as_of: date | None = None) -> list[SupplierBill]:
    """Every bill with a balance (dated on or before `as_of` when given), in id order."""
    stmt = select(SupplierBill).where(col(SupplierBill.deleted_at).is_(None),
                                      SupplierBill.status == BillStatus.OPEN.value)
    if as_of is not None:
        stmt = stmt.where(SupplierBill.bill_date <= as_of)
    return list((await session.exec(stmt.order_by(col(SupplierBill.id)))).all())


async def payments_of(session: AsyncSession, bill_id: int) -> list[SupplierPayment]:
    stmt = select(SupplierPayment).where(SupplierPayment.bill_id == bill_id).order_by(col(SupplierPayment.id))
    return list((await session.exec(stmt)).all())


async def get_payment(session: AsyncSession, payment_id: int) -> SupplierPayment:
    row = await session.get(SupplierPayment, payment_id)
    if row is None:
        raise NotFound(f"no supplier payment has the id {payment_id}", field="payment_id")
    return row
