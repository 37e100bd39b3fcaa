"""Read models of the inventory context, as tools return them. Money is integer minor units of the product's
currency (`currency`); quantities are integer units of the product's unit of measure."""

from __future__ import annotations

import json
from datetime import date

from pydantic import Field

from domain.inventory.models import Location, Product, StockMove, Stocktake
from domain.inventory.service import ProductStock, ProductView, ReorderNeed
from domain.kernel.schemas import OutputModel


class VariantOut(OutputModel):
    sku: str
    name: str
    attributes: dict[str, str]
    prices: dict[str, int] = Field(description="Minor units by price list, GST included.")
    active: bool


class ProductOut(OutputModel):
    sku: str
    name: str
    category: str
    unit: str
    tax_code: str = Field(description="GST (10%, included in prices) or GST_FREE.")
    currency: str
    prices: dict[str, int] = Field(description="Minor units by price list, GST included.")
    is_template: bool
    template_sku: str | None = None
    attributes: dict[str, str] = {}
    active: bool
    variants: list[VariantOut] = []


def _attrs(product: Product) -> dict[str, str]:
    return json.loads(product.attributes) if product.attributes else {}


def product_out(product: Product, prices: dict[str, int], *, variants: list[VariantOut] | None = None,
                template_sku: str | None = None) -> ProductOut:
    """A product for an answer."""
    return ProductOut(sku=product.sku, name=product.name, category=product.category,
                      unit=product.unit, tax_code=product.tax_code, currency=product.currency, prices=prices,
                      is_template=product.is_template, template_sku=template_sku, attributes=_attrs(product),
                      active=product.active, variants=variants or [])


def product_view_out(view: ProductView) -> ProductOut:
    """A product with its variants."""
    variants = [VariantOut(sku=v.sku, name=v.name, attributes=_attrs(v), prices=view.variant_prices.get(v.id or 0, {}),
                           active=v.active) for v in view.variants]
    return product_out(view.product, view.prices, variants=variants)


class LocationOut(OutputModel):
    code: str
    name: str
    kind: str
    allow_backorders: bool


def location_out(row: Location) -> LocationOut:
    return LocationOut(code=row.code, name=row.name, kind=row.kind, allow_backorders=row.allow_backorders)


class MoveOut(OutputModel):
    move_id: int
    sku: str
    kind: str
    from_location: str | None
    to_location: str | None
    quantity: int
    unit_cost_minor: int
    value_minor: int = Field(description="Change of the inventory's value: + in, - out, 0 for a transfer.")
    on_date: date
    journal_entry_id: int | None
    journal_entry_number: str | None = None


def move_out(move: StockMove, sku: str, codes: dict[int, str], entry_number: str | None = None) -> MoveOut:
    return MoveOut(move_id=move.id or 0, sku=sku, kind=move.kind,
                   from_location=codes.get(move.from_location_id) if move.from_location_id else None,
                   to_location=codes.get(move.to_location_id) if move.to_location_id else None,
                   quantity=move.quantity, unit_cost_minor=move.unit_cost_minor, value_minor=move.value_minor,
                   on_date=move.on_date, journal_entry_id=move.entry_id, journal_entry_number=entry_number)


class StockAtOut(OutputModel):
    location: str
    on_hand: int
    reserved: int = 0


class StockOut(OutputModel):
    sku: str
    name: str
    currency: str
    locations: list[StockAtOut]
    on_hand: int = Field(description="All locations.")
    value_minor: int
    average_cost_minor: int | None


def stock_out(stock: ProductStock) -> StockOut:
    return StockOut(sku=stock.product.sku, name=stock.product.name, currency=stock.product.currency,
                    locations=[StockAtOut(location=s.location.code, on_hand=s.on_hand) for s in stock.locations],
                    on_hand=stock.quantity, value_minor=stock.value, average_cost_minor=stock.average_cost)


class ReorderNeedOut(OutputModel):
    sku: str
    name: str
    location: str
    on_hand: int
    minimum: int
    reorder_to: int
    to_order: int


def reorder_need_out(need: ReorderNeed) -> ReorderNeedOut:
    return ReorderNeedOut(sku=need.product.sku, name=need.product.name, location=need.location.code,
                          on_hand=need.on_hand, minimum=need.point.minimum, reorder_to=need.point.reorder_to,
                          to_order=need.to_order)


class StocktakeOut(OutputModel):
    stocktake_id: int
    location: str
    on_date: date
    status: str


def stocktake_out(row: Stocktake, location: str) -> StocktakeOut:
    return StocktakeOut(stocktake_id=row.id or 0, location=location, on_date=row.on_date, status=row.status)

