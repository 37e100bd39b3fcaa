"""Purchasing tools (issue 22, part 4): suppliers, purchase orders, goods received against them, supplier bills
matched three ways, supplier payments (gated), and the reports on open orders and what is owed to each supplier.
Declarations only: the rules and SQL are domain/purchasing's.

Quantities are whole units; money is integer minor units of the order's currency, unit costs before GST. Goods
received move stock through inventory at the order's unit cost; a bill posts accounts payable with its GST input
tax credits; a payment is gated: confirm, or an admin's approval above
MCS_ERP_SUPPLIER_PAYMENT_APPROVE_ABOVE_MINOR.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from domain.purchasing import plans, rules, service
from domain.purchasing.models import BillStatus, OrderStatus
from domain.purchasing.schemas import (
    BillOut,
    OpenOrderOut,
    OrderOut,
    PaymentOut,
    PayablesAgingOut,
    ReceiptOut,
    SupplierOut,
    bill_out,
    open_order_out,
    order_out,
    payables_aging_out,
    payment_out,
    receipt_out,
    supplier_out,
)
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import (
    Currency,
    Email,
    Name,
    Page,
    PageInput,
    PositiveMinorAmount,
    Query,
    ShortText,
    ToolInput,
    decode_cursor,
    encode_cursor,
    page_of,
)

module = Module("purchasing", depends_on=("inventory", "finance"),
                description="Suppliers, purchase orders, goods received, supplier bills and payments.")
PURCHASING_STAFF = frozenset({Role.ADMIN, Role.FINANCE})

SupplierCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=20)]
OrderNumber = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=12)]
BillNumber = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=5, max_length=12)]
Sku = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)]
LocationCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=20)]
Units = Annotated[int, Field(strict=True, ge=1, le=rules.MAX_QUANTITY)]
UnitCost = Annotated[int, Field(strict=True, ge=0, le=rules.MAX_UNIT_COST, description="Before GST.")]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class CreateSupplierIn(ToolInput):
    code: SupplierCode = Field(description="What people call it, e.g. OFFICEWORKS.")
    name: Name
    abn: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=14)] = Field(
        description="11 digits, spaces allowed, e.g. 51 824 753 556.")
    currency: Currency | None = None
    payment_terms_days: int = Field(default=30, strict=True, ge=0, le=rules.MAX_PAYMENT_TERMS_DAYS)
    bsb: Annotated[str, StringConstraints(strip_whitespace=True, min_length=6, max_length=7)] = Field(
        description="062-000 or 062000.")
    account_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=11)]
    account_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    email: Email | None = None


class ListSuppliersIn(PageInput):
    query: Query | None = None
    active: bool | None = None


class SupplierIn(ToolInput):
    supplier: SupplierCode


class OrderLineIn(ToolInput):
    sku: Sku
    quantity: Units
    unit_cost_minor: UnitCost


class CreateOrderIn(ToolInput):
    supplier: SupplierCode
    deliver_to: LocationCode = Field(description="The stock location's code, e.g. STORE.")
    order_date: date
    expected_date: date | None = None
    lines: list[OrderLineIn] = Field(min_length=1, max_length=rules.MAX_LINES)
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class OrderIn(ToolInput):
    order_number: OrderNumber = Field(description="E.g. PO000042.")


class CancelOrderIn(OrderIn):
    reason: ShortText


class ListOrdersIn(PageInput):
    status: OrderStatus | None = None
    supplier: SupplierCode | None = None


class OpenOrdersIn(PageInput):
    supplier: SupplierCode | None = None


class ReceiveLineIn(ToolInput):
    sku: Sku
    quantity: Units


class ReceiveIn(OrderIn):
    lines: list[ReceiveLineIn] = Field(min_length=1, max_length=rules.MAX_LINES)
    on: date
    delivery_reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = Field(
        default="", description="The supplier's delivery docket number.")


class BillLineIn(ToolInput):
    sku: Sku
    quantity: Units
    unit_cost_minor: UnitCost


class RecordBillIn(OrderIn):
    supplier_reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] = (
        Field(description="The supplier's invoice number."))
    bill_date: date
    lines: list[BillLineIn] = Field(min_length=1, max_length=rules.MAX_LINES)


class ListBillsIn(PageInput):
    supplier: SupplierCode | None = None
    order_number: OrderNumber | None = None
    status: BillStatus | None = None


class BillIn(ToolInput):
    bill_number: BillNumber = Field(description="E.g. BILL000042.")


class PayBillIn(BillIn):
    amount_minor: PositiveMinorAmount
    paid_on: date
    reference: Reference | None = None


class AgingIn(PageInput):
    as_of: date
    supplier: SupplierCode | None = None


# ---------------------------------------------------------------- suppliers


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def create_supplier(ctx: ToolContext, args: CreateSupplierIn) -> SupplierOut:
    """Add a supplier with its ABN (check digits verified), payment terms in days and bank account (BSB, number)."""
    row = await service.create_supplier(
        ctx.session, ctx.actor, code=args.code, name=args.name, abn=args.abn,
        currency=args.currency or ctx.runtime.settings.currency, payment_terms_days=args.payment_terms_days,
        bsb=args.bsb, account_number=args.account_number, account_name=args.account_name, email=args.email)
    return supplier_out(row)


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def list_suppliers(ctx: ToolContext, args: ListSuppliersIn) -> Page[SupplierOut]:
    """List suppliers, by text in their code or name."""
    rows = await service.list_suppliers(ctx.session, after_id=args.after_id(), limit=args.limit, query=args.query,
                                        active=args.active)
    page, cursor = page_of(rows, args.limit)
    return Page[SupplierOut](items=[supplier_out(row) for row in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def get_supplier(ctx: ToolContext, args: SupplierIn) -> SupplierOut:
    """Get a supplier by code."""
    return supplier_out(await service.get_supplier(ctx.session, args.supplier))


# ---------------------------------------------------------------- purchase orders


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def create_purchase_order(ctx: ToolContext, args: CreateOrderIn) -> OrderOut:
    """Draft a purchase order: products by SKU, units, unit costs before GST, delivered to a stock location."""
    view = await service.create_purchase_order(
        ctx.session, ctx.actor, supplier=args.supplier, deliver_to=args.deliver_to, order_date=args.order_date,
        expected_date=args.expected_date, notes=args.notes,
        lines=[service.OrderLineSpec(sku=ln.sku, quantity=ln.quantity, unit_cost_minor=ln.unit_cost_minor)
               for ln in args.lines])
    return order_out(view)


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def send_purchase_order(ctx: ToolContext, args: OrderIn) -> OrderOut:
    """Mark a draft purchase order sent to its supplier; goods can then be received against it."""
    return order_out(await service.send_purchase_order(ctx.session, ctx.actor, number=args.order_number))


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def cancel_purchase_order(ctx: ToolContext, args: CancelOrderIn) -> OrderOut:
    """Cancel a draft or sent purchase order nothing was received against."""
    return order_out(await service.cancel_purchase_order(ctx.session, ctx.actor, number=args.order_number,
                                                         reason=args.reason))


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def close_purchase_order(ctx: ToolContext, args: OrderIn) -> OrderOut:
    """Close a purchase order that will receive nothing more (every unit received must be billed)."""
    return order_out(await service.close_purchase_order(ctx.session, ctx.actor, number=args.order_number))


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def get_purchase_order(ctx: ToolContext, args: OrderIn) -> OrderOut:
    """Get a purchase order with its lines: units ordered, received and billed."""
    return order_out(await service.get_purchase_order(ctx.session, args.order_number))


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def list_purchase_orders(ctx: ToolContext, args: ListOrdersIn) -> Page[OrderOut]:
    """List purchase orders by status and supplier."""
    rows = await service.list_purchase_orders(ctx.session, after_id=args.after_id(), limit=args.limit,
                                              statuses=[args.status.value] if args.status else None,
                                              supplier=args.supplier)
    page, cursor = page_of(rows, args.limit, key=lambda view: view.order.id)
    return Page[OrderOut](items=[order_out(view) for view in page], next_cursor=cursor)


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def list_open_purchase_orders(ctx: ToolContext, args: OpenOrdersIn) -> Page[OpenOrderOut]:
    """Report open purchase orders: units and value still to receive, and received but not yet billed."""
    rows = await service.open_orders(ctx.session, after_id=args.after_id(), limit=args.limit,
                                     supplier=args.supplier)
    page, cursor = page_of(rows, args.limit, key=lambda row: row.view.order.id)
    return Page[OpenOrderOut](items=[open_order_out(row) for row in page], next_cursor=cursor)


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def receive_purchase_order(ctx: ToolContext, args: ReceiveIn) -> ReceiptOut:
    """Receive goods against a purchase order (all or part): stock moves in at the order's unit cost."""
    view = await service.receive_goods(ctx.session, ctx.actor, number=args.order_number,
                                       lines=[(ln.sku, ln.quantity) for ln in args.lines], on=args.on,
                                       delivery_reference=args.delivery_reference)
    return receipt_out(view)


# ---------------------------------------------------------------- bills and payments


@module.tool(effect=Effect.WRITE, roles=PURCHASING_STAFF)
async def record_supplier_bill(ctx: ToolContext, args: RecordBillIn) -> BillOut:
    """Record a supplier's invoice against its purchase order; refused unless it matches what was received."""
    view = await service.record_supplier_bill(
        ctx.session, ctx.actor, number=args.order_number, supplier_reference=args.supplier_reference,
        bill_date=args.bill_date,
        lines=[service.BillLineSpec(sku=ln.sku, quantity=ln.quantity, unit_cost_minor=ln.unit_cost_minor)
               for ln in args.lines])
    return bill_out(view)


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def get_supplier_bill(ctx: ToolContext, args: BillIn) -> BillOut:
    """Get a supplier bill with its lines, GST and balance."""
    return bill_out(await service.get_supplier_bill(ctx.session, args.bill_number))


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def list_supplier_bills(ctx: ToolContext, args: ListBillsIn) -> Page[BillOut]:
    """List supplier bills by supplier, purchase order or status (open, paid)."""
    rows = await service.list_supplier_bills(ctx.session, after_id=args.after_id(), limit=args.limit,
                                             supplier=args.supplier, order_number=args.order_number,
                                             status=args.status.value if args.status else None)
    page, cursor = page_of(rows, args.limit, key=lambda view: view.bill.id)
    return Page[BillOut](items=[bill_out(view) for view in page], next_cursor=cursor)


def _plan_payment(session: AsyncSession, actor: Actor, args: PayBillIn) -> Awaitable[Plan]:
    return plans.plan_pay_supplier_bill(session, actor, bill_number=args.bill_number, amount_minor=args.amount_minor,
                                        paid_on=args.paid_on, reference=args.reference or "")


@module.tool(effect=Effect.DESTRUCTIVE, roles=PURCHASING_STAFF, gate=GateLevel.CONFIRM, plan=_plan_payment)
async def pay_supplier_bill(ctx: ToolContext, args: PayBillIn) -> PaymentOut:
    """Pay a supplier bill (all or part) from the bank account; clears that much of accounts payable."""
    assert ctx.applied is not None
    payment = await service.get_payment(ctx.session, ctx.applied.ids["payment"] or 0)
    return payment_out(payment, await service.get_supplier_bill(ctx.session, args.bill_number))


@module.tool(effect=Effect.READ, roles=PURCHASING_STAFF)
async def get_payables_aging(ctx: ToolContext, args: AgingIn) -> PayablesAgingOut:
    """Report what is owed to each supplier on a day, aged by days past due."""
    report = await service.payables_aging(ctx.session, as_of=args.as_of, supplier=args.supplier)
    offset = decode_cursor(args.cursor) if args.cursor else 0
    end = offset + args.limit
    return payables_aging_out(report, offset, args.limit, encode_cursor(end) if end < len(report.rows) else None)
