"""Shop tools (issue 22): products and their variants, stock locations, receipts and transfers, stock on hand
(reserved units beside it) and its value, reorder points, stocktakes; sales orders (draft, confirmed, fulfilled,
invoiced, paid, cancelled) for families (charged to their fees account), staff and walk-ins (paid at the counter);
returns and refunds (gated); sales by product, slow movers, and the stock's value beside the ledger. Declarations
only: the rules and SQL are domain/inventory's.

Quantities are whole units; money is integer minor units of the product's currency. Every receipt and adjustment
posts its value to the ledger at weighted average cost (domain/inventory/service.py). Applying a stocktake's counts
is gated: confirm, or an admin's approval above MCS_ERP_STOCKTAKE_APPROVE_ABOVE_MINOR; so is a return (above
MCS_ERP_SHOP_REFUND_APPROVE_ABOVE_MINOR).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.fees import service as fees
from domain.finance import service as finance
from domain.inventory import plans, rules, sales, service
from domain.inventory.models import (
    CounterMethod,
    CustomerKind,
    LocationKind,
    PriceList,
    SalesOrderStatus,
    StockMove,
    TaxCode,
)
from domain.inventory.schemas import (
    LocationOut,
    MoveOut,
    ProductOut,
    ProcessedOut,
    ProductSalesOut,
    ReorderNeedOut,
    SalesOrderOut,
    SalesOrderSummaryOut,
    SlowMoverOut,
    StockOut,
    StocktakeOut,
    StockValuationOut,
    TakingsOut,
    location_out,
    move_out,
    product_out,
    processed_out,
    product_sales_out,
    product_view_out,
    reorder_need_out,
    sales_order_out,
    sales_order_summary_out,
    slow_mover_out,
    stock_out,
    stock_valuation_out,
    stocktake_out,
    takings_out,
)
from domain.kernel.actor import Actor, Role
from domain.kernel.errors import InvalidInput
from domain.kernel.plan import Plan
from tools.references import FamilyRef, SalesOrderRef, StocktakeRef, StudentRef
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



# ---------------------------------------------------------------- sales orders


class OrderLineIn(ToolInput):
    sku: Sku
    quantity: Units


class CreateSalesOrderIn(ToolInput):
    customer_kind: CustomerKind = Field(description="family: charged to its fees account; staff or walk_in: paid "
                                                    "at the counter.")
    family_id: FamilyRef | None = Field(default=None, description="A family's order only.")
    student_id: StudentRef | None = Field(default=None, description="A family's order: the student it is for.")
    customer_name: Name | None = Field(default=None, description="A staff member's name (needed), or a walk-in's.")
    location: LocationCode
    lines: list[OrderLineIn] = Field(min_length=1, max_length=sales.MAX_LINES)
    on: date
    confirm: bool = Field(default=False, description="Confirm at once: reserve the units or refuse out of stock.")


class SalesOrderIn(ToolInput):
    order_id: SalesOrderRef


class OrderStepIn(ToolInput):
    order_id: SalesOrderRef
    on: date


class InvoiceSalesOrderIn(OrderStepIn):
    due_date: date | None = Field(default=None, description="A family's charge; default on + 14 days.")


class PaySalesOrderIn(OrderStepIn):
    method: CounterMethod


class ListSalesOrdersIn(PageInput):
    status: SalesOrderStatus | None = None
    family_id: FamilyRef | None = None
    from_date: date | None = None
    to_date: date | None = None


async def _order(ctx: ToolContext, order_id: int) -> SalesOrderOut:
    view = await sales.order_view(ctx.session, await sales.get_order(ctx.session, order_id))
    family = (await fees.family_codes(ctx.session, {view.order.family_id})).get(view.order.family_id or 0) \
        if view.order.family_id else None
    student = (await academics.get_student(ctx.session, view.order.student_id)).code \
        if view.order.student_id else None
    return sales_order_out(view, family_code=family, student_code=student)


async def _summary(ctx: ToolContext, order_id: int) -> SalesOrderSummaryOut:
    return sales_order_summary_out(await sales.order_view(ctx.session, await sales.get_order(ctx.session, order_id)))


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def create_sales_order(ctx: ToolContext, args: CreateSalesOrderIn) -> SalesOrderOut:
    """Create a shop order priced from the customer's price list; with confirm, reserve its units at once."""
    order = await sales.create_order(
        ctx.session, ctx.actor, customer_kind=args.customer_kind.value, location=args.location,
        lines=[sales.OrderLineSpec(sku=line.sku, quantity=line.quantity) for line in args.lines], on=args.on,
        family_id=args.family_id, student_id=args.student_id, customer_name=args.customer_name,
        confirm=args.confirm)
    return await _order(ctx, order.id or 0)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def get_sales_order(ctx: ToolContext, args: SalesOrderIn) -> SalesOrderOut:
    """Get a shop order with its lines, returns, status and balance."""
    return await _order(ctx, args.order_id)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def list_sales_orders(ctx: ToolContext, args: ListSalesOrdersIn) -> Page[SalesOrderSummaryOut]:
    """List shop orders by status, family or order date (without their lines)."""
    rows = await sales.list_orders(ctx.session, after_id=args.after_id(), limit=args.limit,
                                   status=args.status.value if args.status else None, family_id=args.family_id,
                                   from_date=args.from_date, to_date=args.to_date)
    page, cursor = page_of(rows, args.limit)
    items = [sales_order_summary_out(await sales.order_view(ctx.session, row)) for row in page]
    return Page[SalesOrderSummaryOut](items=items, next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def confirm_sales_order(ctx: ToolContext, args: OrderStepIn) -> SalesOrderSummaryOut:
    """Confirm a draft order: reserve its units, or refuse with out of stock."""
    await sales.confirm_order(ctx.session, ctx.actor, order_id=args.order_id, on=args.on)
    return await _summary(ctx, args.order_id)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def fulfil_sales_order(ctx: ToolContext, args: OrderStepIn) -> SalesOrderSummaryOut:
    """Hand over a confirmed order: its units leave stock at average cost."""
    await sales.fulfil_order(ctx.session, ctx.actor, order_id=args.order_id, on=args.on)
    return await _summary(ctx, args.order_id)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def invoice_sales_order(ctx: ToolContext, args: InvoiceSalesOrderIn) -> SalesOrderSummaryOut:
    """Invoice a fulfilled order: a family's is charged to its fees account, a counter order gets a tax invoice."""
    await sales.invoice_order(ctx.session, ctx.actor, order_id=args.order_id, on=args.on, due_date=args.due_date)
    return await _summary(ctx, args.order_id)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def pay_sales_order(ctx: ToolContext, args: PaySalesOrderIn) -> SalesOrderSummaryOut:
    """Record a counter order's payment in cash or by card."""
    await sales.pay_order(ctx.session, ctx.actor, order_id=args.order_id, method=args.method.value, on=args.on)
    return await _summary(ctx, args.order_id)


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def cancel_sales_order(ctx: ToolContext, args: OrderStepIn) -> SalesOrderSummaryOut:
    """Cancel a draft or confirmed order, releasing its reserved units."""
    await sales.cancel_order(ctx.session, ctx.actor, order_id=args.order_id, on=args.on)
    return await _summary(ctx, args.order_id)


class ReturnSalesOrderIn(ToolInput):
    order_id: SalesOrderRef
    lines: list[OrderLineIn] = Field(min_length=1, max_length=sales.MAX_LINES)
    on: date
    reason: ShortText
    refund_method: Literal["cash", "card", "family_account"] | None = Field(
        default=None, description="cash or card for a counter order; a family's goes to its account.")


def _plan_return(session: AsyncSession, actor: Actor, args: ReturnSalesOrderIn) -> Awaitable[Plan]:
    return plans.plan_return_sales_order(session, actor, order_id=args.order_id,
                                         lines=[(line.sku, line.quantity) for line in args.lines], on=args.on,
                                         reason=args.reason, refund_method=args.refund_method)


@module.tool(effect=Effect.DESTRUCTIVE, roles=STOCK_STAFF, gate=GateLevel.CONFIRM, plan=_plan_return)
async def return_sales_order(ctx: ToolContext, args: ReturnSalesOrderIn) -> SalesOrderOut:
    """Take units of an order back and refund them: to the family's account, or in cash or by card."""
    return await _order(ctx, args.order_id)


class ProcessSalesOrdersIn(ToolInput):
    order_ids: list[SalesOrderRef] | None = Field(default=None, min_length=1, max_length=1000)
    order_date: date | None = Field(default=None, description="Instead of order_ids: every open order of that date.")
    location: LocationCode | None = Field(default=None, description="With order_date.")
    through: Literal["confirmed", "fulfilled", "invoiced"] = "invoiced"
    on: date


@module.tool(effect=Effect.WRITE, roles=STOCK_STAFF)
async def process_sales_orders(ctx: ToolContext, args: ProcessSalesOrdersIn) -> ProcessedOut:
    """Confirm, fulfil and invoice many orders at once (e.g. all of a day's uniform orders), through one step."""
    if (args.order_ids is None) == (args.order_date is None):
        raise InvalidInput("give order_ids or order_date: which orders to process", field="order_ids")
    ids = args.order_ids or await sales.open_order_ids(
        ctx.session, order_date=args.order_date, location=args.location)  # type: ignore[arg-type]
    if not ids:
        return processed_out(None)
    done = await sales.process_orders(ctx.session, ctx.actor, order_ids=ids, on=args.on, through=args.through)
    return processed_out(done)


# ---------------------------------------------------------------- reports


class SalesByProductIn(PageInput):
    from_date: date
    to_date: date
    location: LocationCode | None = None


class SlowMoversIn(PageInput):
    as_of: date
    days: Annotated[int, Field(strict=True, ge=1, le=sales.MAX_REPORT_DAYS)] = 90
    max_units: Count = Field(default=0, description="Sold at most this many units in the window.")
    location: LocationCode | None = None


class StockValuationIn(ToolInput):
    currency: Currency | None = None


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def get_sales_by_product(ctx: ToolContext, args: SalesByProductIn) -> Page[ProductSalesOut]:
    """Report units, sales, returns, cost and margin per product over a period."""
    rows = await sales.sales_by_product(ctx.session, from_date=args.from_date, to_date=args.to_date,
                                        location=args.location, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda row: row.product.id)
    return Page[ProductSalesOut](items=[product_sales_out(row) for row in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def list_slow_movers(ctx: ToolContext, args: SlowMoversIn) -> Page[SlowMoverOut]:
    """List stocked products that sold little or nothing lately, with the value they tie up."""
    rows = await sales.slow_movers(ctx.session, as_of=args.as_of, days=args.days, max_units=args.max_units,
                                   location=args.location, after_id=args.after_id(), limit=args.limit)
    page, cursor = page_of(rows, args.limit, key=lambda row: row.product.id)
    return Page[SlowMoverOut](items=[slow_mover_out(row) for row in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def get_stock_valuation(ctx: ToolContext, args: StockValuationIn) -> StockValuationOut:
    """Get the stock's value by category beside the ledger's inventory balance."""
    return stock_valuation_out(await sales.stock_valuation(
        ctx.session, currency=args.currency or ctx.runtime.settings.currency))


class TakingsIn(ToolInput):
    from_date: date
    to_date: date
    currency: Currency | None = None
    location: LocationCode | None = None


@module.tool(effect=Effect.READ, roles=STOCK_STAFF)
async def get_shop_takings(ctx: ToolContext, args: TakingsIn) -> TakingsOut:
    """Get a period's counter payments and refunds by method, family charges, and the till and card ledger."""
    return takings_out(await sales.takings(ctx.session, from_date=args.from_date, to_date=args.to_date,
                                           currency=args.currency or ctx.runtime.settings.currency,
                                           location=args.location))
