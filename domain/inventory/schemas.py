"""Read models of the inventory context, as tools return them. Money is integer minor units of the product's
currency (`currency`); quantities are integer units of the product's unit of measure."""

from __future__ import annotations

import json
from datetime import date

from pydantic import Field

from domain.inventory.models import Location, Product, SalesReturn, StockMove, Stocktake
from domain.inventory.sales import OrderView, ProcessedOrders, ProductSales, SlowMover, StockValuation, Takings
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
    reserved: int = Field(default=0, description="Units of confirmed sales orders not yet fulfilled.")


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
                    locations=[StockAtOut(location=s.location.code, on_hand=s.on_hand, reserved=s.reserved)
                               for s in stock.locations],
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



# ---------------------------------------------------------------- sales orders, returns, reports


class OrderLineOut(OutputModel):
    line_no: int
    sku: str
    name: str
    quantity: int
    unit_price_minor: int = Field(description="GST included, as amount_minor.")
    amount_minor: int
    gst_minor: int
    cost_minor: int = Field(description="Cost of goods sold at fulfilment.")
    returned_quantity: int


class ReturnOut(OutputModel):
    return_number: str = Field(description="E.g. RT000042.")
    on_date: date
    reason: str
    refund_method: str = Field(description="family_account (a credit note), cash or card.")
    refund_minor: int
    gst_minor: int
    stock_value_back_minor: int


class SalesOrderSummaryOut(OutputModel):
    order_id: int
    order_number: str = Field(description="E.g. SO000042.")
    status: str = Field(description="draft | confirmed (units reserved) | fulfilled | invoiced | paid | cancelled")
    customer_kind: str
    customer_name: str
    location: str
    currency: str
    order_date: date
    total_minor: int = Field(description="GST included.")
    balance_minor: int = Field(description="Still owed once invoiced (a family's: its fees invoice's balance).")
    invoice_number: str | None = None


class SalesOrderOut(SalesOrderSummaryOut):
    family_id: int | None = None
    family_code: str | None = None
    student_id: int | None = None
    student_code: str | None = None
    price_list: str
    gst_minor: int = Field(description="The GST inside the total.")
    invoice_id: int | None = None
    payment_method: str | None = None
    confirmed_on: date | None = None
    fulfilled_on: date | None = None
    invoiced_on: date | None = None
    paid_on: date | None = None
    cancelled_on: date | None = None
    lines: list[OrderLineOut]
    returns: list[ReturnOut]


def return_out(row: SalesReturn) -> ReturnOut:
    return ReturnOut(return_number=row.return_number, on_date=row.on_date, reason=row.reason,
                     refund_method=row.refund_method, refund_minor=row.amount_minor, gst_minor=row.gst_minor,
                     stock_value_back_minor=row.cost_minor)


def sales_order_summary_out(view: OrderView) -> SalesOrderSummaryOut:
    """An order's status and amounts, without its lines."""
    order = view.order
    return SalesOrderSummaryOut(
        order_id=order.id or 0, order_number=order.order_number, status=view.status,
        customer_kind=order.customer_kind, customer_name=order.customer_name, location=view.location.code,
        currency=order.currency, order_date=order.order_date, total_minor=order.total_minor,
        balance_minor=view.balance_minor, invoice_number=view.invoice_number)


def sales_order_out(view: OrderView, *, family_code: str | None = None,
                    student_code: str | None = None) -> SalesOrderOut:
    """An order with its lines and returns."""
    order = view.order
    lines = [OrderLineOut(line_no=line.line_no, sku=view.products[line.product_id].sku,
                          name=view.products[line.product_id].name, quantity=line.quantity,
                          unit_price_minor=line.unit_price_minor, amount_minor=line.amount_minor,
                          gst_minor=line.gst_minor, cost_minor=line.cost_minor,
                          returned_quantity=line.returned_quantity) for line in view.lines]
    return SalesOrderOut(
        **sales_order_summary_out(view).model_dump(), family_id=order.family_id, family_code=family_code,
        student_id=order.student_id, student_code=student_code, price_list=order.price_list,
        gst_minor=order.gst_minor, invoice_id=order.invoice_id, payment_method=order.payment_method,
        confirmed_on=order.confirmed_on, fulfilled_on=order.fulfilled_on, invoiced_on=order.invoiced_on,
        paid_on=order.paid_on, cancelled_on=order.cancelled_on, lines=lines,
        returns=[return_out(r) for r in view.returns])


class ProductSalesOut(OutputModel):
    sku: str
    name: str
    category: str
    currency: str
    units_sold: int
    units_returned: int
    net_units: int
    sales_minor: int = Field(description="Of the orders fulfilled in the period, GST included.")
    returns_minor: int = Field(description="Refunded for returns dated in the period, GST included.")
    net_sales_ex_gst_minor: int
    net_cost_minor: int = Field(description="Cost of goods sold less the cost of returns.")
    margin_minor: int = Field(description="net_sales_ex_gst_minor - net_cost_minor.")


def product_sales_out(row: ProductSales) -> ProductSalesOut:
    return ProductSalesOut(sku=row.product.sku, name=row.product.name, category=row.product.category,
                           currency=row.product.currency, units_sold=row.units_sold,
                           units_returned=row.units_returned, net_units=row.net_units, sales_minor=row.sales_minor,
                           returns_minor=row.returns_minor, net_sales_ex_gst_minor=row.net_sales_ex_gst_minor,
                           net_cost_minor=row.net_cost_minor, margin_minor=row.margin_minor)


class SlowMoverOut(OutputModel):
    sku: str
    name: str
    category: str
    currency: str
    on_hand: int
    value_minor: int = Field(description="The units on hand at the weighted average cost.")
    units_sold: int = Field(description="In the window.")
    last_sold: date | None = Field(default=None, description="None: never sold.")


def slow_mover_out(row: SlowMover) -> SlowMoverOut:
    return SlowMoverOut(sku=row.product.sku, name=row.product.name, category=row.product.category,
                        currency=row.product.currency, on_hand=row.on_hand, value_minor=row.value_minor,
                        units_sold=row.units_sold, last_sold=row.last_sold)


class CategoryValueOut(OutputModel):
    category: str
    units: int
    value_minor: int


class StockValuationOut(OutputModel):
    currency: str
    categories: list[CategoryValueOut]
    value_minor: int = Field(description="The stock at weighted average cost.")
    ledger_minor: int = Field(description="The balance of 1300 Inventory.")
    difference_minor: int = Field(description="value - ledger: 0 when the stock agrees with the ledger.")


def stock_valuation_out(row: StockValuation) -> StockValuationOut:
    return StockValuationOut(currency=row.currency,
                             categories=[CategoryValueOut(category=c, units=u, value_minor=v)
                                         for c, u, v in row.categories],
                             value_minor=row.value_minor, ledger_minor=row.ledger_minor,
                             difference_minor=row.difference_minor)


class ProcessedOut(OutputModel):
    currency: str | None
    confirmed: int
    fulfilled: int
    invoiced: int
    lines: int = Field(description="Lines whose units left stock.")
    cost_minor: int = Field(description="Cost of goods sold posted.")
    sales_minor: int = Field(description="Invoiced, GST included.")


def processed_out(done: ProcessedOrders | None) -> ProcessedOut:
    """What process_orders did (None: there was nothing to do)."""
    if done is None:
        return ProcessedOut(currency=None, confirmed=0, fulfilled=0, invoiced=0, lines=0, cost_minor=0,
                            sales_minor=0)
    return ProcessedOut(currency=done.currency, confirmed=len(done.confirmed), fulfilled=len(done.fulfilled),
                        invoiced=len(done.invoiced), lines=done.lines, cost_minor=done.cost_minor,
                        sales_minor=done.sales_minor)


class MethodTotalOut(OutputModel):
    method: str
    count: int
    amount_minor: int


class TakingsOut(OutputModel):
    currency: str
    from_date: date
    to_date: date
    payments: list[MethodTotalOut] = Field(description="Counter orders paid in the period.")
    refunds: list[MethodTotalOut] = Field(description="Counter refunds dated in the period.")
    net_cash_minor: int
    net_card_minor: int
    family_charged_minor: int = Field(description="Charged to families' accounts (fees invoices).")
    family_credited_minor: int = Field(description="Credited back to families' accounts for returns.")
    ledger_cash_minor: int = Field(description="1030 Shop till cash: debits less credits in the period.")
    ledger_card_minor: int = Field(description="1040 Card settlements receivable: debits less credits.")


def takings_out(row: Takings) -> TakingsOut:
    return TakingsOut(currency=row.currency, from_date=row.from_date, to_date=row.to_date,
                      payments=[MethodTotalOut(method=m, count=n, amount_minor=a) for m, n, a in row.payments],
                      refunds=[MethodTotalOut(method=m, count=n, amount_minor=a) for m, n, a in row.refunds],
                      net_cash_minor=row.net("cash"), net_card_minor=row.net("card"),
                      family_charged_minor=row.family_charges[1], family_credited_minor=row.family_credits[1],
                      ledger_cash_minor=row.ledger["1030"], ledger_card_minor=row.ledger["1040"])
