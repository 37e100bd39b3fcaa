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
