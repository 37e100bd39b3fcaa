"""Purchasing tables: suppliers, purchase orders and their lines, goods received against them, supplier bills
matched to them, and supplier payments.

Quantities are integer units of the product's unit of measure; money is integer minor units of the order's
currency (ISO 4217), unit costs before GST. The received and billed units of an order line
(`quantity_received`, `quantity_billed`) are summaries of its receipt and bill lines, written in the same
transaction as each receipt or bill under a lock of the order's row (repository.lock_order), never edited
otherwise; a bill's `amount_paid_minor` is the sum of its payments, written with each payment under a lock of the
bill's row. Products and locations are inventory's: a line names them by SKU and code (the codes people say), and
stock moves only through domain.inventory.service.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow
from domain.kernel.models import Entity


class OrderStatus(StrEnum):
    """A purchase order's life (rules.order_status derives it from its lines)."""

    DRAFT = "draft"
    SENT = "sent"
    PARTLY_RECEIVED = "partly_received"
    RECEIVED = "received"
    BILLED = "billed"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class BillStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"


class Supplier(Entity, table=True):
    """Someone the school buys from. `abn`: 11 digits (rules.check_abn); `payment_terms_days`: a bill is due this
    many days after its date; the bank account payments go to (BSB 'xxx-xxx', 5-9 digit account number, the
    account's name as a bank file carries it)."""

    __tablename__ = "purchasing_suppliers"

    code: str = Field(max_length=20, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    abn: str = Field(max_length=11, nullable=False)
    email: str | None = Field(default=None, max_length=254)
    currency: str = Field(max_length=3, nullable=False)
    payment_terms_days: int = Field(nullable=False)
    bsb: str = Field(max_length=7, nullable=False)
    account_number: str = Field(max_length=9, nullable=False)
    account_name: str = Field(max_length=32, nullable=False)
    active: bool = Field(default=True, nullable=False)


class PurchaseOrder(Entity, table=True):
    """An order to a supplier (number PO000042) for delivery to a stock location (`deliver_to`, inventory's
    code). `closed_at`: closed by hand (nothing more will come) or once fully billed and paid."""

    __tablename__ = "purchasing_orders"

    number: str = Field(max_length=12, unique=True, index=True, nullable=False)
    supplier_id: int = Field(foreign_key="purchasing_suppliers.id", nullable=False, index=True)
    status: str = Field(max_length=16, nullable=False, index=True)
    order_date: date = Field(nullable=False)
    expected_date: date | None = Field(default=None)
    deliver_to: str = Field(max_length=20, nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    notes: str = Field(default="", max_length=500, nullable=False)
    sent_at: datetime | None = Field(default=None)
    closed_at: datetime | None = Field(default=None)
    cancelled_at: datetime | None = Field(default=None)


class PurchaseOrderLine(SQLModel, table=True):
    """One product on an order: units ordered at a unit cost before GST, and the units received and billed so
    far (billed <= received <= ordered)."""

    __tablename__ = "purchasing_order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no", name="uq_purchasing_order_lines_order_line"),
        CheckConstraint("quantity_billed <= quantity_received AND quantity_received <= quantity_ordered "
                        "AND quantity_billed >= 0", name="ck_purchasing_order_lines_quantities"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="purchasing_orders.id", nullable=False, index=True)
    line_no: int = Field(nullable=False)
    sku: str = Field(max_length=32, nullable=False)
    description: str = Field(max_length=120, nullable=False)
    tax_code: str = Field(max_length=10, nullable=False)
    quantity_ordered: int = Field(nullable=False)
    unit_cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    quantity_received: int = Field(default=0, nullable=False)
    quantity_billed: int = Field(default=0, nullable=False)


class GoodsReceipt(SQLModel, table=True):
    """Goods received against an order (number GRN000042), into the order's location on `on_date`."""

    __tablename__ = "purchasing_receipts"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=12, unique=True, index=True, nullable=False)
    order_id: int = Field(foreign_key="purchasing_orders.id", nullable=False, index=True)
    on_date: date = Field(nullable=False)
    delivery_reference: str = Field(default="", max_length=60, nullable=False)
    created_by: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


class GoodsReceiptLine(SQLModel, table=True):
    """Units of an order line received, moved into stock by inventory's move `move_id` at the order's unit
    cost."""

    __tablename__ = "purchasing_receipt_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_purchasing_receipt_lines_quantity"),)

    id: int | None = Field(default=None, primary_key=True)
    receipt_id: int = Field(foreign_key="purchasing_receipts.id", nullable=False, index=True)
    order_line_id: int = Field(foreign_key="purchasing_order_lines.id", nullable=False, index=True)
    quantity: int = Field(nullable=False)
    move_id: int = Field(nullable=False)


class SupplierBill(Entity, table=True):
    """A supplier's tax invoice (their `supplier_reference`), matched to an order (number BILL000042): its
    amount before GST, the GST (input tax credits) and the total payable, due `due_date`; `entry_id` is its
    accounts payable journal entry."""

    __tablename__ = "purchasing_bills"
    __table_args__ = (
        UniqueConstraint("supplier_id", "supplier_reference", name="uq_purchasing_bills_supplier_reference"),
        CheckConstraint("amount_paid_minor >= 0 AND amount_paid_minor <= total_minor",
                        name="ck_purchasing_bills_paid"),
    )

    number: str = Field(max_length=12, unique=True, index=True, nullable=False)
    supplier_id: int = Field(foreign_key="purchasing_suppliers.id", nullable=False, index=True)
    order_id: int = Field(foreign_key="purchasing_orders.id", nullable=False, index=True)
    supplier_reference: str = Field(max_length=40, nullable=False)
    bill_date: date = Field(nullable=False)
    due_date: date = Field(nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    subtotal_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_paid_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    status: str = Field(max_length=8, nullable=False, index=True)
    entry_id: int | None = Field(default=None)


class SupplierBillLine(SQLModel, table=True):
    """Units of an order line billed at the supplier's unit cost before GST, their amount and GST."""

    __tablename__ = "purchasing_bill_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_purchasing_bill_lines_quantity"),)

    id: int | None = Field(default=None, primary_key=True)
    bill_id: int = Field(foreign_key="purchasing_bills.id", nullable=False, index=True)
    order_line_id: int = Field(foreign_key="purchasing_order_lines.id", nullable=False, index=True)
    quantity: int = Field(nullable=False)
    unit_cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_minor: int = Field(sa_column=Column(BigInteger, nullable=False))


class SupplierPayment(SQLModel, table=True):
    """Money paid to a supplier against one bill (number SPAY000042), clearing that much of the payable."""

    __tablename__ = "purchasing_payments"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="ck_purchasing_payments_amount"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=12, unique=True, index=True, nullable=False)
    bill_id: int = Field(foreign_key="purchasing_bills.id", nullable=False, index=True)
    supplier_id: int = Field(foreign_key="purchasing_suppliers.id", nullable=False, index=True)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    paid_on: date = Field(nullable=False)
    reference: str = Field(default="", max_length=60, nullable=False)
    entry_id: int | None = Field(default=None)
    created_by: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
