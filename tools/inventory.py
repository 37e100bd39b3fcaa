"""Shop tools (issue 22, first slice): products and their variants, stock locations, receipts and transfers,
stock on hand and its value, reorder points, stocktakes. Declarations only: the rules and SQL are
domain/inventory's.

Quantities are whole units; money is integer minor units of the product's currency. Every receipt and adjustment
posts its value to the ledger at weighted average cost (domain/inventory/service.py). Applying a stocktake's counts
is gated: confirm, or an admin's approval above MCS_ERP_STOCKTAKE_APPROVE_ABOVE_MINOR.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.inventory import plans, rules, service
from domain.inventory.models import LocationKind, PriceList, StockMove, TaxCode
from domain.inventory.schemas import (
    LocationOut,
    MoveOut,
    ProductOut,
    ReorderNeedOut,
    StockOut,
    StocktakeOut,
    location_out,
    move_out,
    product_out,
    product_view_out,
    reorder_need_out,
    stock_out,
    stocktake_out,
)
from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from tools.references import StocktakeRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import Currency, MinorAmount, Name, Page, PageInput, Query, ShortText, ToolInput, page_of

module = Module("inventory", depends_on=("finance",), description="Shop products, stock locations and stock.")
STOCK_STAFF = frozenset({Role.ADMIN, Role.FINANCE})

Sku = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)]
LocationCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=20)]
Units = Annotated[int, Field(strict=True, ge=1, le=rules.MAX_QUANTITY)]
Count = Annotated[int, Field(strict=True, ge=0, le=rules.MAX_QUANTITY)]
UnitCost = Annotated[int, Field(strict=True, ge=0, le=rules.MAX_UNIT_COST)]
AttributeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]


class Prices(ToolInput):
    families: MinorAmount | None = None
    staff: MinorAmount | None = None

    def as_dict(self) -> dict[str, int]:
        return {name: value for name, value in ((PriceList.FAMILIES.value, self.families),
                                                (PriceList.STAFF.value, self.staff)) if value is not None}


class VariantIn(ToolInput):
    sku: Sku
    attributes: dict[AttributeText, AttributeText] = Field(min_length=1, max_length=5,
                                                           description='E.g. {"size": "10"}.')
    prices: Prices | None = None


class CreateProductIn(ToolInput):
    sku: Sku
    name: Name
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] = "each"
    tax_code: TaxCode = Field(description="GST (10%, in the price) or GST_FREE.")
    currency: Currency | None = None
    prices: Prices = Field(description="GST-inclusive, minor units.")
    variants: list[VariantIn] = Field(default=[], max_length=rules.MAX_VARIANTS)


class ListProductsIn(PageInput):
    category: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)] | None = None
    query: Query | None = None
    active: bool | None = None


class SkuIn(ToolInput):
    sku: Sku


class CreateLocationIn(ToolInput):
    code: LocationCode
    name: Name
    kind: LocationKind
    allow_backorders: bool = False


class ReceiptIn(ToolInput):
    sku: Sku
    location: LocationCode
    quantity: Units
    unit_cost_minor: UnitCost = Field(description="Before GST.")
    on: date
    reason: ShortText = "goods received"


class TransferIn(ToolInput):
    sku: Sku
    from_location: LocationCode
    to_location: LocationCode
    quantity: Units
    on: date


class StockIn(PageInput):
    sku: Sku | None = None
    location: LocationCode | None = None


class ReorderPointIn(ToolInput):
    sku: Sku
    location: LocationCode
    minimum: Count
    reorder_to: Units


class ReorderNeedsIn(PageInput):
    location: LocationCode | None = None


class StartStocktakeIn(ToolInput):
    location: LocationCode
    on: date


class CountIn(ToolInput):
    sku: Sku
    counted: Count


class RecordStocktakeIn(ToolInput):
    stocktake_id: StocktakeRef
    counts: list[CountIn] = Field(min_length=1, max_length=rules.MAX_COUNTS)


async def _move_out(ctx: ToolContext, move: StockMove, sku: str) -> MoveOut:
    codes = {loc.id or 0: loc.code for loc in await service.list_locations(ctx.session)}
    number = (await finance.get_entry(ctx.session, move.entry_id)).entry.entry_number if move.entry_id else None
    return move_out(move, sku, codes, number)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def create_product(ctx: ToolContext, args: CreateProductIn) -> ProductOut:
    """Create a product; with variants (e.g. sizes) a template whose variants each have their own SKU and stock."""
    view = await service.create_product(
        ctx.session, ctx.actor, sku=args.sku, name=args.name, category=args.category, unit=args.unit,
        tax_code=args.tax_code.value, currency=args.currency or ctx.runtime.settings.currency,
        prices=args.prices.as_dict(),
        variants=[service.VariantSpec(sku=v.sku, attributes=v.attributes,
                                      prices=v.prices.as_dict() if v.prices else None) for v in args.variants])
    return product_view_out(view)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def list_products(ctx: ToolContext, args: ListProductsIn) -> Page[ProductOut]:
    """List products by category or text in SKU or name."""
    rows = await service.list_products(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       category=args.category, query=args.query, active=args.active)
    page, cursor = page_of(rows, args.limit)
    prices = await service.prices_of(ctx.session, [p.id or 0 for p in page])
    return Page[ProductOut](items=[product_out(p, prices.get(p.id or 0, {})) for p in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def get_product(ctx: ToolContext, args: SkuIn) -> ProductOut:
    """Get a product by SKU with its prices and variants."""
    return product_view_out(await service.product_view(ctx.session, await service.get_product(ctx.session, args.sku)))


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def create_location(ctx: ToolContext, args: CreateLocationIn) -> LocationOut:
    """Create a stock location: the shop or a store room."""
    return location_out(await service.create_location(ctx.session, ctx.actor, code=args.code, name=args.name,
                                                      kind=args.kind.value, allow_backorders=args.allow_backorders))


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def list_locations(ctx: ToolContext, args: PageInput) -> Page[LocationOut]:
    """List the stock locations."""
    rows = [row for row in await service.list_locations(ctx.session) if (row.id or 0) > args.after_id()]
    page, cursor = page_of(rows, args.limit)
    return Page[LocationOut](items=[location_out(row) for row in page], next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def record_receipt(ctx: ToolContext, args: ReceiptIn) -> MoveOut:
    """Receive stock at a unit cost; re-averages the cost and posts it to inventory."""
    move = await service.record_receipt(ctx.session, ctx.actor, sku=args.sku, location=args.location,
                                        quantity=args.quantity, unit_cost_minor=args.unit_cost_minor, on=args.on,
                                        reason=args.reason)
    return await _move_out(ctx, move, args.sku)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def transfer_stock(ctx: ToolContext, args: TransferIn) -> MoveOut:
    """Move stock between two locations."""
    move = await service.transfer_stock(ctx.session, ctx.actor, sku=args.sku, from_location=args.from_location,
                                        to_location=args.to_location, quantity=args.quantity, on=args.on)
    return await _move_out(ctx, move, args.sku)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def get_stock(ctx: ToolContext, args: StockIn) -> Page[StockOut]:
    """Get stock on hand per location with its value at average cost."""
    rows = await service.stock_of(ctx.session, sku=args.sku, location=args.location, after_id=args.after_id(),
                                  limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda s: s.product.id)
    return Page[StockOut](items=[stock_out(s) for s in page], next_cursor=None if args.sku else cursor)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def set_reorder_point(ctx: ToolContext, args: ReorderPointIn) -> ReorderNeedOut:
    """Set a product's reorder point at a location."""
    point = await service.set_reorder_point(ctx.session, ctx.actor, sku=args.sku, location=args.location,
                                            minimum=args.minimum, reorder_to=args.reorder_to)
    stock = (await service.stock_of(ctx.session, sku=args.sku, location=args.location))[0]
    on_hand = sum(s.on_hand for s in stock.locations)
    return ReorderNeedOut(sku=stock.product.sku, name=stock.product.name, location=args.location, on_hand=on_hand,
                          minimum=point.minimum, reorder_to=point.reorder_to,
                          to_order=rules.reorder_quantity(on_hand, point.minimum, point.reorder_to))


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def list_reorder_needs(ctx: ToolContext, args: ReorderNeedsIn) -> Page[ReorderNeedOut]:
    """List products below their reorder point and how many to order."""
    rows = await service.reorder_needs(ctx.session, location=args.location, after_id=args.after_id(),
                                       limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda need: need.point.id)
    return Page[ReorderNeedOut](items=[reorder_need_out(need) for need in page], next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def start_stocktake(ctx: ToolContext, args: StartStocktakeIn) -> StocktakeOut:
    """Open a stocktake of a location; apply counts with record_stocktake."""
    row = await service.start_stocktake(ctx.session, ctx.actor, location=args.location, on=args.on)
    return stocktake_out(row, args.location)


def _plan_stocktake(session: AsyncSession, actor: Actor, args: RecordStocktakeIn) -> Awaitable[Plan]:
    return plans.plan_record_stocktake(session, actor, stocktake_id=args.stocktake_id,
                                       counts=[(c.sku, c.counted) for c in args.counts])


@module.tool(effect=Effect.DESTRUCTIVE, roles=STOCK_STAFF, gate=GateLevel.CONFIRM, plan=_plan_stocktake)
async def record_stocktake(ctx: ToolContext, args: RecordStocktakeIn) -> StocktakeOut:
    """Apply counted units: differences become adjustments at average cost."""
    row = await service.get_stocktake(ctx.session, args.stocktake_id)
    locations = {loc.id: loc.code for loc in await service.list_locations(ctx.session)}
    return stocktake_out(row, locations.get(row.location_id, "?"))
