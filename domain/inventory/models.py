"""Inventory tables: products (templates and their variants), prices per price list, locations, stock moves, the
stock level per product and location, the valuation per product, reorder points and stocktakes.

Quantities are integer units of the product's unit of measure; money is integer minor units of the product's
currency (ISO 4217). Stock moves are the only way stock changes: `inventory_moves` is append-only (no version,
never updated or deleted). `inventory_levels.on_hand` and `inventory_valuations` are summaries of the moves,
written in the same transaction as each move (repository.apply_move) and never edited otherwise: on hand per
(product, location) always equals the moves into it less the moves out of it.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow
from domain.kernel.models import Entity


class TaxCode(StrEnum):
    """GST treatment of a sale (rules.GST_SOURCES cites each)."""

    GST = "GST"
    GST_FREE = "GST_FREE"


class PriceList(StrEnum):
    """Who a sale price is for."""

    FAMILIES = "families"
    STAFF = "staff"


class LocationKind(StrEnum):
    SHOP = "shop"
    STORE_ROOM = "store_room"


class MoveKind(StrEnum):
    """Why stock moved: received from a supplier, sold, returned by a customer, transferred between locations,
    adjusted (a stocktake's count, a write-off)."""

    RECEIPT = "receipt"
    SALE = "sale"
    RETURN = "return"
    TRANSFER = "transfer"
    ADJUSTMENT = "adjustment"


class StocktakeStatus(StrEnum):
    OPEN = "open"
    APPLIED = "applied"


class Product(Entity, table=True):
    """A product people buy or use. A template (`is_template`) groups variants (`template_id`: a blazer in sizes 6
    to 16, each variant its own SKU and stock); a template holds no stock. `attributes` are the variant's
    attribute values as canonical JSON ({"size": "10"}), "" for a product without variants."""

    __tablename__ = "inventory_products"

    sku: str = Field(max_length=32, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    category: str = Field(max_length=60, nullable=False, index=True)
    unit: str = Field(max_length=20, nullable=False)
    tax_code: str = Field(max_length=10, nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    is_template: bool = Field(default=False, nullable=False)
    template_id: int | None = Field(default=None, foreign_key="inventory_products.id", index=True)
    attributes: str = Field(default="", max_length=500, nullable=False)
    active: bool = Field(default=True, nullable=False)


class ProductPrice(SQLModel, table=True):
    """A product's sale price on one price list, tax inclusive, in minor units of the product's currency."""

    __tablename__ = "inventory_prices"
    __table_args__ = (UniqueConstraint("product_id", "price_list", name="uq_inventory_prices_product_list"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="inventory_products.id", nullable=False)
    price_list: str = Field(max_length=20, nullable=False)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))


class Location(Entity, table=True):
    """Where stock is kept: the shop or a store room. `allow_backorders`: its on hand may go below 0 (sold before
    it is received); otherwise a move that would take it below 0 is refused."""

    __tablename__ = "inventory_locations"

    code: str = Field(max_length=20, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    kind: str = Field(max_length=12, nullable=False)
    allow_backorders: bool = Field(default=False, nullable=False)


class StockMove(SQLModel, table=True):
    """One movement of `quantity` units (> 0) of a product: out of `from_location_id` (None: from a supplier or a
    customer, or found by a count) into `to_location_id` (None: to a customer, or lost). `unit_cost_minor` is the
    cost a unit moved at (the weighted average when it leaves); `value_minor` the exact value it changed the
    inventory by (+ in, - out, 0 for a transfer), what the journal entry `entry_id` posted. Append-only."""

    __tablename__ = "inventory_moves"
    __table_args__ = (CheckConstraint("quantity > 0", name="ck_inventory_moves_quantity"),
                      Index("ix_inventory_moves_product", "product_id", "id"))

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="inventory_products.id", nullable=False)
    kind: str = Field(max_length=12, nullable=False)
    from_location_id: int | None = Field(default=None, foreign_key="inventory_locations.id")
    to_location_id: int | None = Field(default=None, foreign_key="inventory_locations.id")
    quantity: int = Field(nullable=False)
    unit_cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    value_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    on_date: date = Field(nullable=False)
    reason: str = Field(max_length=200, nullable=False)
    source: str = Field(max_length=80, nullable=False, index=True)
    entry_id: int | None = Field(default=None)
    created_by: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


class StockLevel(SQLModel, table=True):
    """The units of a product at a location: the sum of its moves (summary, written with each move)."""

    __tablename__ = "inventory_levels"
    __table_args__ = (UniqueConstraint("product_id", "location_id", name="uq_inventory_levels_product_location"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="inventory_products.id", nullable=False)
    location_id: int = Field(foreign_key="inventory_locations.id", nullable=False, index=True)
    on_hand: int = Field(sa_column=Column(BigInteger, nullable=False))


class Valuation(SQLModel, table=True):
    """A product's units over every location and their value (minor units): the weighted average cost is
    value / quantity. `last_unit_cost_minor` values units leaving when none are held (backorders)."""

    __tablename__ = "inventory_valuations"

    id: int | None = Field(default=None, primary_key=True)
    product_id: int = Field(foreign_key="inventory_products.id", unique=True, nullable=False)
    quantity: int = Field(sa_column=Column(BigInteger, nullable=False))
    value_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_unit_cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))


class ReorderPoint(Entity, table=True):
    """Reorder a product at a location when its on hand falls below `minimum`, up to `reorder_to`."""

    __tablename__ = "inventory_reorder_points"
    __table_args__ = (UniqueConstraint("product_id", "location_id", name="uq_inventory_reorder_product_location"),)

    product_id: int = Field(foreign_key="inventory_products.id", nullable=False)
    location_id: int = Field(foreign_key="inventory_locations.id", nullable=False)
    minimum: int = Field(nullable=False)
    reorder_to: int = Field(nullable=False)


class Stocktake(Entity, table=True):
    """A count of a location's stock: open until its counts are applied (through the gate) as adjustments."""

    __tablename__ = "inventory_stocktakes"

    location_id: int = Field(foreign_key="inventory_locations.id", nullable=False, index=True)
    status: str = Field(default=StocktakeStatus.OPEN.value, max_length=10, nullable=False)
    on_date: date = Field(nullable=False)
    applied_at: datetime | None = Field(default=None)


# ---------------------------------------------------------------- sales orders (issue 22, part 3)


class SalesOrderStatus(StrEnum):
    """A sales order's life: draft -> confirmed (its units reserved at its location) -> fulfilled (the units left
    the shop: sale moves, cost of goods sold posted) -> invoiced (charged to the family's account, or a tax invoice
    for the counter) -> paid; or cancelled from draft or confirmed (the reservation is released)."""

    DRAFT = "draft"
    CONFIRMED = "confirmed"
    FULFILLED = "fulfilled"
    INVOICED = "invoiced"
    PAID = "paid"
    CANCELLED = "cancelled"


class CustomerKind(StrEnum):
    """Who buys: a family (charged to its fees account), a staff member or a walk-in (paid at the counter)."""

    FAMILY = "family"
    STAFF = "staff"
    WALK_IN = "walk_in"


class CounterMethod(StrEnum):
    """How a counter sale is paid, or a counter refund paid back."""

    CASH = "cash"
    CARD = "card"


class SalesOrder(Entity, table=True):
    """An order of the shop (SO000042) for one customer at one location, in the location's products' currency.
    Amounts are GST-inclusive integer minor units: `total_minor` is the lines' sum, `gst_minor` the GST inside it
    (rules.gst_included per line). A family's order names the student it is for (a member of the family) and,
    once invoiced, the fees invoice `invoice_id` that charged it; a counter order names the customer and is paid
    in cash or by card (`payment_method`, `payment_entry_id`). Units reserved are derived from the lines of the
    confirmed orders (never stored)."""

    __tablename__ = "inventory_sales_orders"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'confirmed', 'fulfilled', 'invoiced', 'paid', 'cancelled')",
                        name="ck_inventory_sales_orders_status"),
        Index("ix_inventory_sales_orders_status_location", "status", "location_id"),
    )

    order_number: str = Field(max_length=24, unique=True, nullable=False)
    customer_kind: str = Field(max_length=10, nullable=False)
    family_id: int | None = Field(default=None, foreign_key="families.id", index=True)
    student_id: int | None = Field(default=None, foreign_key="students.id")
    customer_name: str = Field(max_length=120, nullable=False)
    price_list: str = Field(max_length=20, nullable=False)
    location_id: int = Field(foreign_key="inventory_locations.id", nullable=False)
    currency: str = Field(max_length=3, nullable=False)
    status: str = Field(max_length=10, nullable=False)
    order_date: date = Field(nullable=False, index=True)
    total_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    confirmed_on: date | None = Field(default=None)
    fulfilled_on: date | None = Field(default=None, index=True)
    invoiced_on: date | None = Field(default=None)
    paid_on: date | None = Field(default=None)
    cancelled_on: date | None = Field(default=None)
    invoice_id: int | None = Field(default=None, foreign_key="invoices.id")
    invoice_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    payment_method: str | None = Field(default=None, max_length=10)
    payment_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    created_by: int | None = Field(default=None)


class SalesOrderLine(SQLModel, table=True):
    """`quantity` units of a product at `unit_price_minor` (GST-inclusive, from the order's price list when the
    line was added); `amount_minor` = quantity x unit price, `gst_minor` the GST inside it; `cost_minor` the
    cost of goods sold its sale move took at fulfilment (0 before); `returned_quantity` the units returned."""

    __tablename__ = "inventory_sales_order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0 AND returned_quantity >= 0 AND returned_quantity <= quantity",
                        name="ck_inventory_sales_order_lines_quantity"),
        Index("ix_inventory_sales_order_lines_product", "product_id", "order_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(foreign_key="inventory_sales_orders.id", nullable=False, index=True)
    line_no: int = Field(nullable=False)
    product_id: int = Field(foreign_key="inventory_products.id", nullable=False)
    quantity: int = Field(nullable=False)
    unit_price_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    cost_minor: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    returned_quantity: int = Field(default=0, nullable=False)


class SalesReturn(SQLModel, table=True):
    """Units of an order brought back (RT000042), applied through the gate: stock back into `location_id` at the
    weighted average cost, and `amount_minor` (GST-inclusive; `gst_minor` inside it) credited to the family's
    account (`credit_note_id`, a fees credit note on the order's invoice) or refunded at the counter in cash or
    by card (`refund_method`, `entry_id`)."""

    __tablename__ = "inventory_sales_returns"

    id: int | None = Field(default=None, primary_key=True)
    return_number: str = Field(max_length=24, unique=True, nullable=False)
    order_id: int = Field(foreign_key="inventory_sales_orders.id", nullable=False, index=True)
    location_id: int = Field(foreign_key="inventory_locations.id", nullable=False)
    on_date: date = Field(nullable=False, index=True)
    reason: str = Field(max_length=200, nullable=False)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    refund_method: str = Field(max_length=14, nullable=False)
    credit_note_id: int | None = Field(default=None, foreign_key="fee_credit_notes.id")
    entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    created_by: int | None = Field(default=None)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


class SalesReturnLine(SQLModel, table=True):
    """`quantity` units of an order line returned: `amount_minor` refunded (the line's unit price x units, GST
    inside: `gst_minor`), `cost_minor` the value the return move put back into stock."""

    __tablename__ = "inventory_sales_return_lines"

    id: int | None = Field(default=None, primary_key=True)
    return_id: int = Field(foreign_key="inventory_sales_returns.id", nullable=False, index=True)
    order_line_id: int = Field(foreign_key="inventory_sales_order_lines.id", nullable=False, index=True)
    product_id: int = Field(foreign_key="inventory_products.id", nullable=False)
    quantity: int = Field(nullable=False)
    amount_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    gst_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
    cost_minor: int = Field(sa_column=Column(BigInteger, nullable=False))
