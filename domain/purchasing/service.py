"""Purchasing use cases: suppliers, purchase orders, goods received against them, supplier bills matched to them
(three-way match), accounts payable, supplier payments, and the reports on open orders and what is owed. The only
module of purchasing other contexts import.

Ledger (every posting through domain.finance.service, idempotency keys naming the business event):

- goods received: Dr 1300 Inventory (inventory.record_receipt) / Cr 2160 Goods received not invoiced, the units
  at the order's unit cost;
- a supplier bill: Dr 2160 GRNI (units billed x the order's unit cost), Dr or Cr 5320 Purchase price variance
  (units billed x (billed - ordered unit cost)), Dr 1410 GST receivable (the input tax credits) / Cr 2010 Accounts
  payable (the bill's total);
- a supplier payment: Dr 2010 Accounts payable / Cr 1010 Bank - operating account.

So 2160 holds what was received and not yet billed at the order's cost, 2010 holds exactly the unpaid balance of
every open bill, and 1410 the GST a bill's tax invoice entitles the school to claim (GST Act s 11-20 and s 11-25;
rules.py). The price variance goes to an expense account rather than back into the stock's average, as Odoo's
"price difference account" does: the units billed may have been sold already.

Units: quantities are integer units (1..rules.MAX_QUANTITY a line); unit costs integer minor units of the order's
currency before GST; dates are calendar dates. An order names each product once (by SKU), to be delivered to one
inventory location.

Errors: NotFound (supplier, order number, bill number, SKU, location), InvalidInput (a rule, naming the field),
Conflict (a code or supplier invoice number taken; a step the order's status does not allow; more units received
than ordered; a bill failing the three-way match; a payment above the bill's balance; a currency differing from the
products' or the accounts').
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.fees.rules import AGING_BUCKETS, aging_bucket
from domain.finance import service as finance
from domain.hr import service as hr
from domain.inventory import service as inventory
from domain.kernel import money
from domain.kernel.actor import Actor
from domain.kernel.bank_accounts import check_account_number, check_becs_text, check_bsb
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.plan import ApplyContext, register_effect
from domain.purchasing import repository as repo
from domain.purchasing import rules
from domain.purchasing.models import (
    BillStatus,
    GoodsReceipt,
    GoodsReceiptLine,
    OrderStatus,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    SupplierBill,
    SupplierBillLine,
    SupplierPayment,
)
from domain.purchasing.settings import PurchasingSettings

PURCHASING_ACCOUNTS = {
    "grni": ("2160", "Goods received not invoiced", "liability"),
    "payable": ("2010", "Accounts payable", "liability"),
    "gst_receivable": ("1410", "GST receivable (input tax credits)", "asset"),
    "price_variance": ("5320", "Purchase price variance", "expense"),
    "bank": ("1010", "Bank - operating account", "asset"),
}
OPEN_STATUSES = (OrderStatus.SENT.value, OrderStatus.PARTLY_RECEIVED.value, OrderStatus.RECEIVED.value)
"""Orders still waiting for goods or a bill: sent, partly received, received (not yet fully billed)."""
RECEIVABLE_STATUSES = (OrderStatus.SENT.value, OrderStatus.PARTLY_RECEIVED.value)
BILLABLE_STATUSES = (OrderStatus.PARTLY_RECEIVED.value, OrderStatus.RECEIVED.value)
MAX_NOTES = 500


def _text(value: str | None, *, field: str, max_length: int, required: bool = True) -> str:
    text = (value or "").strip()
    if (required and not text) or len(text) > max_length or any(ord(ch) < 32 for ch in text):
        raise InvalidInput(f"{field} must be {'1' if required else '0'} to {max_length} characters on one line",
                           field=field)
    return text


async def purchasing_accounts(session: AsyncSession, actor: Actor, currency: str, *,
                              roles: Sequence[str] = tuple(PURCHASING_ACCOUNTS)) -> dict[str, int]:
    """The ids of the purchasing accounts of `roles` (PURCHASING_ACCOUNTS' keys), creating the missing ones in
    `currency`; raises InvalidInput (field currency) when one exists in another currency."""
    return await finance.ensure_accounts(
        session, actor, {role: PURCHASING_ACCOUNTS[role] for role in roles}, currency,
        mismatch="not {currency}; purchases are kept in the currency of the payables accounts ({account_currency})")


# ---------------------------------------------------------------- suppliers


async def create_supplier(session: AsyncSession, actor: Actor, *, code: str, name: str, abn: str, currency: str,
                          payment_terms_days: int, bsb: str, account_number: str, account_name: str,
                          email: str | None = None) -> Supplier:
    """Create a supplier and return it. `abn`: 11 digits passing the ABN check digits (ABR, "Format of the ABN":
    hr.check_abn); `payment_terms_days` 0..180 (a bill is due that many days after its date); the bank account
    payments go to, checked as the payroll bank file checks it (domain.kernel.bank_accounts: BSB of 6 digits,
    account number of 5 to 9 digits, account name of 1 to 32 BECS characters). Raises InvalidInput (a rule) and
    Conflict (the code is taken)."""
    clean_code = rules.check_supplier_code(code)
    row = Supplier(code=clean_code, name=_text(name, field="name", max_length=120),
                   abn=hr.check_abn(abn, field="abn"), currency=money.parse_currency(currency),
                   payment_terms_days=rules.check_payment_terms(payment_terms_days), bsb=check_bsb(bsb),
                   account_number=check_account_number(account_number),
                   account_name=check_becs_text((account_name or "").strip(), width=32, field="account_name"),
                   email=_text(email, field="email", max_length=254) if email is not None else None)
    if await repo.supplier_by_code(session, clean_code) is not None:
        raise Conflict(f"supplier code {clean_code} is already used; list_suppliers shows the suppliers",
                       field="code")
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"supplier code {clean_code} was taken meanwhile", field="code") from None
    return row


async def get_supplier(session: AsyncSession, code: str, *, field: str = "supplier") -> Supplier:
    """Return the live supplier of a code (any case); raises NotFound naming `field`."""
    row = await repo.supplier_by_code(session, str(code).strip().upper())
    if row is None:
        raise NotFound(f"{field}: no supplier has the code {code!r}; list_suppliers shows them", field=field)
    return row


async def list_suppliers(session: AsyncSession, *, after_id: int, limit: int, query: str | None = None,
                         active: bool | None = None) -> list[Supplier]:
    """Return up to `limit + 1` live suppliers after `after_id` in id order, with `query` in the code or name."""
    return await repo.suppliers(session, after_id=after_id, limit=limit, query=query, active=active)


def masked_account(account_number: str) -> str:
    """An account number shown with all but its last 3 digits hidden (XXXXX123)."""
    return "X" * (len(account_number) - 3) + account_number[-3:]


# ---------------------------------------------------------------- purchase orders


@dataclass(frozen=True)
class OrderLineSpec:
    """A product to order: its SKU, the units and the unit cost before GST (minor units)."""

    sku: str
    quantity: int
    unit_cost_minor: int


@dataclass(frozen=True)
class OrderView:
    """An order with its supplier and lines (line order)."""

    order: PurchaseOrder
    supplier: Supplier
    lines: list[PurchaseOrderLine]

    @property
    def total_minor(self) -> int:
        """The order's value before GST: units ordered x unit cost over every line."""
        return sum(line.quantity_ordered * line.unit_cost_minor for line in self.lines)


async def create_purchase_order(session: AsyncSession, actor: Actor, *, supplier: str, deliver_to: str,
                                order_date: date, lines: Sequence[OrderLineSpec],
                                expected_date: date | None = None, notes: str = "") -> OrderView:
    """Create a draft purchase order (number PO000042) to a supplier for delivery to a stock location, in the
    supplier's currency, and return it. Each line names an active, stock-holding product once, in the order's
    currency, with 1..MAX_QUANTITY units at a unit cost before GST (minor units). Raises NotFound (supplier,
    deliver_to, lines.N.sku), InvalidInput (no or too many lines, a SKU twice, a quantity or cost out of range,
    expected_date before order_date) and Conflict (an inactive supplier or product, a template, a product kept in
    another currency)."""
    vendor = await get_supplier(session, supplier)
    if not vendor.active:
        raise Conflict(f"supplier {vendor.code} is inactive; orders go to active suppliers", field="supplier")
    location = await inventory.get_location(session, deliver_to, field="deliver_to")
    rules.check_line_count(len(lines), field="lines")
    if expected_date is not None and expected_date < order_date:
        raise InvalidInput(f"expected_date {expected_date} is before order_date {order_date}", field="expected_date")
    clean_notes = _text(notes, field="notes", max_length=MAX_NOTES, required=False)
    rows = []
    for i, spec in enumerate(lines):
        product = await inventory.get_product(session, spec.sku, field=f"lines.{i}.sku")
        if product.is_template:
            raise Conflict(f"lines.{i}.sku: {product.sku} is a template; order one of its variants (get_product "
                           "lists them)", field=f"lines.{i}.sku")
        if not product.active:
            raise Conflict(f"lines.{i}.sku: {product.sku} is inactive and is not ordered", field=f"lines.{i}.sku")
        if product.currency != vendor.currency:
            raise Conflict(f"lines.{i}.sku: {product.sku} is kept in {product.currency}, supplier {vendor.code} "
                           f"bills in {vendor.currency}", field=f"lines.{i}.sku")
        rows.append(PurchaseOrderLine(
            order_id=0, line_no=i + 1, sku=product.sku, description=product.name, tax_code=product.tax_code,
            quantity_ordered=rules.check_quantity(spec.quantity, field=f"lines.{i}.quantity"),
            unit_cost_minor=rules.check_unit_cost(spec.unit_cost_minor, field=f"lines.{i}.unit_cost_minor")))
    if len({row.sku for row in rows}) != len(rows):
        raise InvalidInput("a SKU is ordered twice; give one line per product", field="lines")
    order = PurchaseOrder(number="", supplier_id=vendor.id or 0, status=OrderStatus.DRAFT.value,
                          order_date=order_date, expected_date=expected_date, deliver_to=location.code,
                          currency=vendor.currency, notes=clean_notes)
    await repo.number_row(session, order, "PO")
    for row in rows:
        row.order_id = order.id or 0
        session.add(row)
    await session.flush()
    return OrderView(order, vendor, rows)


async def _order(session: AsyncSession, number: str, *, lock: bool = False,
                 field: str = "order_number") -> PurchaseOrder:
    row = await repo.order_by_number(session, str(number).strip().upper(), lock=lock)
    if row is None:
        raise NotFound(f"{field}: no purchase order has the number {number!r}; list_purchase_orders shows them",
                       field=field)
    return row


async def get_purchase_order(session: AsyncSession, number: str) -> OrderView:
    """Return the order (PO000042) with its supplier and lines; raises NotFound (order_number)."""
    order = await _order(session, number)
    return await _view(session, order)


async def _view(session: AsyncSession, order: PurchaseOrder) -> OrderView:
    vendor = (await repo.suppliers_by_ids(session, [order.supplier_id]))[order.supplier_id]
    return OrderView(order, vendor, await repo.order_lines(session, [order.id or 0]))


async def list_purchase_orders(session: AsyncSession, *, after_id: int, limit: int,
                               statuses: Sequence[str] | None = None,
                               supplier: str | None = None) -> list[OrderView]:
    """Return up to `limit + 1` orders after `after_id` in id order, of the given statuses and supplier, with
    their lines. Raises NotFound (supplier), InvalidInput (an unknown status)."""
    known = {s.value for s in OrderStatus}
    for status in statuses or ():
        if status not in known:
            raise InvalidInput(f"status {status!r} is unknown; the statuses are {', '.join(sorted(known))}",
                               field="status")
    vendor = await get_supplier(session, supplier) if supplier is not None else None
    rows = await repo.orders(session, after_id=after_id, limit=limit, statuses=statuses,
                             supplier_id=vendor.id if vendor else None)
    vendors = await repo.suppliers_by_ids(session, [row.supplier_id for row in rows])
    lines = await repo.order_lines(session, [row.id or 0 for row in rows])
    return [OrderView(row, vendors[row.supplier_id], [ln for ln in lines if ln.order_id == row.id]) for row in rows]


async def _refresh_status(session: AsyncSession, order: PurchaseOrder, lines: Sequence[PurchaseOrderLine]) -> None:
    states = [rules.LineState(ln.quantity_ordered, ln.quantity_received, ln.quantity_billed) for ln in lines]
    bills_paid = await repo.open_bill_count(session, order.id or 0) == 0
    status = rules.order_status(states, sent=order.sent_at is not None, cancelled=order.cancelled_at is not None,
                                closed=order.closed_at is not None, bills_paid=bills_paid)
    if status == OrderStatus.CLOSED.value and order.closed_at is None:
        order.closed_at = utcnow()
    if status != order.status:
        order.status = status
    bump(order)
    session.add(order)
    await session.flush()


async def send_purchase_order(session: AsyncSession, actor: Actor, *, number: str) -> OrderView:
    """Mark a draft order sent to its supplier (goods may now be received against it). Raises NotFound and
    Conflict (not a draft)."""
    order = await _order(session, number, lock=True)
    if order.status != OrderStatus.DRAFT.value:
        raise Conflict(f"{order.number} is {order.status}; only a draft is sent", field="order_number")
    order.sent_at = utcnow()
    view = await _view(session, order)
    await _refresh_status(session, order, view.lines)
    return view


async def cancel_purchase_order(session: AsyncSession, actor: Actor, *, number: str, reason: str) -> OrderView:
    """Cancel an order nothing has been received against (draft or sent); nothing is posted. Raises NotFound,
    InvalidInput (reason) and Conflict (goods received already: close it instead)."""
    clean_reason = _text(reason, field="reason", max_length=200)
    order = await _order(session, number, lock=True)
    if order.status not in (OrderStatus.DRAFT.value, OrderStatus.SENT.value):
        raise Conflict(f"{order.number} is {order.status}; only a draft or sent order with nothing received is "
                       "cancelled (close_purchase_order ends one partly received)", field="order_number")
    order.cancelled_at = utcnow()
    order.notes = (f"{order.notes}\nCancelled: {clean_reason}" if order.notes else f"Cancelled: {clean_reason}")[
        :MAX_NOTES]
    view = await _view(session, order)
    await _refresh_status(session, order, view.lines)
    return view


async def close_purchase_order(session: AsyncSession, actor: Actor, *, number: str) -> OrderView:
    """Close an order that will receive nothing more: the units not yet received are no longer expected. Every
    unit received must be billed first (its bill clears 2160 Goods received not invoiced). Raises NotFound and
    Conflict (a draft, cancelled or closed order; received units not billed)."""
    order = await _order(session, number, lock=True)
    if order.status in (OrderStatus.DRAFT.value, OrderStatus.CANCELLED.value, OrderStatus.CLOSED.value):
        raise Conflict(f"{order.number} is {order.status}; only a sent, received or billed order is closed "
                       "(cancel_purchase_order cancels a draft)", field="order_number")
    view = await _view(session, order)
    unbilled = [f"{ln.sku}: {ln.quantity_received - ln.quantity_billed}" for ln in view.lines
                if ln.quantity_received > ln.quantity_billed]
    if unbilled:
        raise Conflict(f"{order.number} has units received and not billed ({', '.join(unbilled)}); record the "
                       "supplier's bill first", field="order_number")
    order.closed_at = utcnow()
    await _refresh_status(session, order, view.lines)
    return view


# ---------------------------------------------------------------- goods received


@dataclass(frozen=True)
class ReceiptView:
    """A goods receipt, its order and, per line, the order line, the units and inventory's stock move."""

    receipt: GoodsReceipt
    order: PurchaseOrder
    lines: list[tuple[PurchaseOrderLine, GoodsReceiptLine, Any]]


async def receive_goods(session: AsyncSession, actor: Actor, *, number: str, lines: Sequence[tuple[str, int]],
                        on: date, delivery_reference: str = "") -> ReceiptView:
    """Receive units (sku, quantity) against a sent or partly received order, into its location on `on`: each
    line moves stock through inventory.record_receipt at the order's unit cost (Dr 1300 Inventory / Cr 2160 Goods
    received not invoiced) and adds to the line's units received; the order becomes partly received or received.
    Raises NotFound (order_number, lines.N.sku not on the order), InvalidInput (no or too many lines, a SKU twice,
    a quantity out of range, `on` before the order's date) and Conflict (the order's status; more units than
    ordered and not yet received)."""
    order = await _order(session, number, lock=True)
    if order.status not in RECEIVABLE_STATUSES:
        raise Conflict(f"{order.number} is {order.status}; goods are received against a sent or partly received "
                       "order", field="order_number")
    rules.check_line_count(len(lines), field="lines")
    if on < order.order_date:
        raise InvalidInput(f"on {on} is before the order's date {order.order_date}", field="on")
    reference = _text(delivery_reference, field="delivery_reference", max_length=60, required=False)
    view = await _view(session, order)
    by_sku = {ln.sku: ln for ln in view.lines}
    wanted: list[tuple[PurchaseOrderLine, int]] = []
    for i, (sku, quantity) in enumerate(lines):
        line = by_sku.get(str(sku).strip().upper())
        if line is None:
            raise NotFound(f"lines.{i}.sku: {sku!r} is not on {order.number} (it orders {', '.join(by_sku)})",
                           field=f"lines.{i}.sku")
        rules.check_quantity(quantity, field=f"lines.{i}.quantity")
        outstanding = line.quantity_ordered - line.quantity_received
        if quantity > outstanding:
            raise Conflict(f"lines.{i}: {quantity} {line.sku} received but only {outstanding} of the "
                           f"{line.quantity_ordered} ordered are still to come", field=f"lines.{i}.quantity",
                           details={"sku": line.sku, "outstanding": outstanding, "wanted": quantity})
        wanted.append((line, quantity))
    if len({line.id for line, _ in wanted}) != len(wanted):
        raise InvalidInput("a SKU is received twice; give one line per product", field="lines")
    receipt = GoodsReceipt(number="", order_id=order.id or 0, on_date=on, delivery_reference=reference,
                           created_by=actor.id or None)
    await repo.number_row(session, receipt, "GRN")
    out = []
    for line, quantity in sorted(wanted, key=lambda item: item[0].line_no):
        move = await inventory.record_receipt(
            session, actor, sku=line.sku, location=order.deliver_to, quantity=quantity,
            unit_cost_minor=line.unit_cost_minor, on=on, reason=f"{order.number} {receipt.number}",
            source=f"purchase_receipt:{receipt.id}")
        row = GoodsReceiptLine(receipt_id=receipt.id or 0, order_line_id=line.id or 0, quantity=quantity,
                               move_id=move.id or 0)
        session.add(row)
        line.quantity_received += quantity
        session.add(line)
        out.append((line, row, move))
    await session.flush()
    await _refresh_status(session, order, view.lines)
    return ReceiptView(receipt, order, out)


# ---------------------------------------------------------------- supplier bills


@dataclass(frozen=True)
class BillLineSpec:
    """A line of a supplier's tax invoice: the SKU, the units billed and the unit cost before GST (minor units)."""

    sku: str
    quantity: int
    unit_cost_minor: int


@dataclass(frozen=True)
class BillView:
    """A bill with its supplier, order and lines (each with its order line)."""

    bill: SupplierBill
    supplier: Supplier
    order: PurchaseOrder
    lines: list[tuple[PurchaseOrderLine, SupplierBillLine]] = field(default_factory=list)

    @property
    def balance_minor(self) -> int:
        return self.bill.total_minor - self.bill.amount_paid_minor


async def record_supplier_bill(session: AsyncSession, actor: Actor, *, number: str, supplier_reference: str,
                               bill_date: date, lines: Sequence[BillLineSpec],
                               tolerance_bp: int | None = None) -> BillView:
    """Record a supplier's tax invoice against an order (number BILL000042), matched three ways (rules.py): each
    line bills no more units than were received and not yet billed, at a unit cost within `tolerance_bp` basis
    points of the order's (default MCS_ERP_PURCHASE_PRICE_TOLERANCE_BP). Posts Dr 2160 GRNI (units x ordered
    cost), Dr/Cr 5320 Purchase price variance, Dr 1410 GST receivable (10% of each GST line, rounded half up: GST
    Act s 9-70, s 11-25) / Cr 2010 Accounts payable (the total); due `bill_date` + the supplier's payment terms.
    Raises NotFound (order_number, lines.N.sku), InvalidInput (a rule), Conflict (the order's status; the
    supplier's invoice number recorded already; the match failing: every failing line with its figures)."""
    order = await _order(session, number, lock=True)
    if order.status not in BILLABLE_STATUSES:
        raise Conflict(f"{order.number} is {order.status}; a bill is matched to an order with goods received and "
                       "not yet billed", field="order_number")
    reference = rules.check_supplier_reference(supplier_reference)
    rules.check_line_count(len(lines), field="lines")
    view = await _view(session, order)
    vendor = view.supplier
    if await repo.bill_by_reference(session, vendor.id or 0, reference) is not None:
        raise Conflict(f"{vendor.code}'s invoice {reference} is recorded already; list_supplier_bills shows it",
                       field="supplier_reference")
    tolerance = PurchasingSettings().purchase_price_tolerance_bp if tolerance_bp is None else tolerance_bp
    by_sku = {ln.sku: ln for ln in view.lines}
    matched: list[tuple[PurchaseOrderLine, rules.MatchLine]] = []
    for i, spec in enumerate(lines):
        line = by_sku.get(str(spec.sku).strip().upper())
        if line is None:
            raise NotFound(f"lines.{i}.sku: {spec.sku!r} is not on {order.number} (it orders {', '.join(by_sku)})",
                           field=f"lines.{i}.sku")
        matched.append((line, rules.MatchLine(
            line_no=line.line_no, sku=line.sku,
            state=rules.LineState(line.quantity_ordered, line.quantity_received, line.quantity_billed),
            ordered_cost=line.unit_cost_minor, quantity=rules.check_quantity(spec.quantity,
                                                                             field=f"lines.{i}.quantity"),
            unit_cost=rules.check_unit_cost(spec.unit_cost_minor, field=f"lines.{i}.unit_cost_minor"))))
    if len({line.id for line, _ in matched}) != len(matched):
        raise InvalidInput("a SKU is billed twice; give one line per product", field="lines")
    problems = rules.match_problems([m for _, m in matched], tolerance)
    if problems:
        raise Conflict(f"{vendor.code}'s invoice {reference} does not match {order.number}: " + "; ".join(problems),
                       field="lines", details={"problems": problems})
    accounts = await purchasing_accounts(session, actor, order.currency,
                                         roles=("grni", "payable", "gst_receivable", "price_variance"))
    bill_rows = []
    grni = variance = gst_total = subtotal = 0
    for line, m in sorted(matched, key=lambda item: item[0].line_no):
        amount = m.quantity * m.unit_cost
        gst = rules.gst_on(amount, line.tax_code)
        grni += m.quantity * line.unit_cost_minor
        variance += amount - m.quantity * line.unit_cost_minor
        subtotal += amount
        gst_total += gst
        bill_rows.append((line, SupplierBillLine(bill_id=0, order_line_id=line.id or 0, quantity=m.quantity,
                                                 unit_cost_minor=m.unit_cost, amount_minor=amount, gst_minor=gst)))
    total = subtotal + gst_total
    if total > money.MAX_AMOUNT:
        raise InvalidInput(f"the bill's total {total} is above the ledger's largest amount {money.MAX_AMOUNT}",
                           field="lines")
    bill = SupplierBill(number="", supplier_id=vendor.id or 0, order_id=order.id or 0, supplier_reference=reference,
                        bill_date=bill_date, due_date=rules.due_date(bill_date, vendor.payment_terms_days),
                        currency=order.currency, subtotal_minor=subtotal, gst_minor=gst_total, total_minor=total,
                        amount_paid_minor=0, status=BillStatus.OPEN.value if total else BillStatus.PAID.value)
    try:
        await repo.number_row(session, bill, "BILL")
    except IntegrityError:
        raise Conflict(f"{vendor.code}'s invoice {reference} was recorded meanwhile",
                       field="supplier_reference") from None
    for line, row in bill_rows:
        row.bill_id = bill.id or 0
        session.add(row)
        line.quantity_billed += row.quantity
        session.add(line)
    posting = [{"account_id": accounts["grni"], "debit": grni}, {"account_id": accounts["gst_receivable"],
                                                                  "debit": gst_total}]
    posting.append({"account_id": accounts["price_variance"], "debit" if variance > 0 else "credit": abs(variance)})
    posting.append({"account_id": accounts["payable"], "credit": total})
    posting = [ln for ln in posting if ln.get("debit", ln.get("credit"))]
    if total or variance:
        entry = await finance.post_entry(
            session, actor, date=bill_date, memo=f"Supplier bill {bill.number}: {vendor.code} invoice {reference} "
                                                 f"for {order.number}",
            lines=posting, source=f"purchasing_bill:{bill.id}", idempotency_key=f"purchasing_bill:{bill.id}",
            currency=order.currency)
        bill.entry_id = entry.id
        session.add(bill)
    await session.flush()
    await _refresh_status(session, order, view.lines)
    return BillView(bill, vendor, order, bill_rows)


async def get_supplier_bill(session: AsyncSession, number: str, *, lock: bool = False) -> BillView:
    """Return a bill (BILL000042) with its supplier, order and lines; raises NotFound (bill_number)."""
    bill = await repo.bill_by_number(session, str(number).strip().upper(), lock=lock)
    if bill is None:
        raise NotFound(f"bill_number: no supplier bill has the number {number!r}; list_supplier_bills shows them",
                       field="bill_number")
    order = await repo.get_order(session, bill.order_id)
    assert order is not None  # a foreign key
    vendor = (await repo.suppliers_by_ids(session, [bill.supplier_id]))[bill.supplier_id]
    order_lines = {ln.id: ln for ln in await repo.order_lines(session, [order.id or 0])}
    lines = [(order_lines[row.order_line_id], row) for row in await repo.bill_lines(session, [bill.id or 0])]
    return BillView(bill, vendor, order, lines)


async def list_supplier_bills(session: AsyncSession, *, after_id: int, limit: int, supplier: str | None = None,
                              order_number: str | None = None, status: str | None = None) -> list[BillView]:
    """Return up to `limit + 1` bills after `after_id` in id order, of a supplier, an order, a status (open or
    paid). Raises NotFound (supplier, order_number), InvalidInput (status)."""
    if status is not None and status not in {s.value for s in BillStatus}:
        raise InvalidInput(f"status {status!r} is unknown; use open or paid", field="status")
    vendor = await get_supplier(session, supplier) if supplier is not None else None
    order = await _order(session, order_number) if order_number is not None else None
    rows = await repo.bills(session, after_id=after_id, limit=limit, supplier_id=vendor.id if vendor else None,
                            order_id=order.id if order else None, status=status)
    vendors = await repo.suppliers_by_ids(session, [row.supplier_id for row in rows])
    orders = await repo.orders_by_ids(session, [row.order_id for row in rows])
    return [BillView(row, vendors[row.supplier_id], orders[row.order_id]) for row in rows]


# ---------------------------------------------------------------- supplier payments


def check_payment(view: BillView, *, amount_minor: int, paid_on: date) -> None:
    """Raise unless `amount_minor` (1..the bill's balance) may be paid on `paid_on` (on or after the bill's date):
    InvalidInput (amount_minor, paid_on), Conflict (the bill is paid already)."""
    bill = view.bill
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor < 1:
        raise InvalidInput(f"amount_minor must be a whole number of minor units of at least 1, not {amount_minor!r}",
                           field="amount_minor")
    if bill.status != BillStatus.OPEN.value:
        raise Conflict(f"{bill.number} is paid already", field="bill_number")
    if amount_minor > view.balance_minor:
        raise Conflict(f"amount_minor {amount_minor} is more than {bill.number}'s balance {view.balance_minor} "
                       f"{bill.currency} (minor units)", field="amount_minor",
                       details={"balance_minor": view.balance_minor})
    if paid_on < bill.bill_date:
        raise InvalidInput(f"paid_on {paid_on} is before the bill's date {bill.bill_date}", field="paid_on")


async def pay_supplier_bill(session: AsyncSession, actor: Actor, *, bill_number: str, amount_minor: int,
                            paid_on: date, reference: str = "") -> SupplierPayment:
    """Record money paid to a supplier against a bill (number SPAY000042): Dr 2010 Accounts payable / Cr 1010
    Bank; the bill is paid when its balance reaches 0, and its order closes once fully billed and every bill
    paid. Reached through the gate (plans.plan_pay_supplier_bill). Raises NotFound (bill_number), InvalidInput
    (amount_minor, paid_on, reference), Conflict (paid already; more than the balance)."""
    view = await get_supplier_bill(session, bill_number, lock=True)
    check_payment(view, amount_minor=amount_minor, paid_on=paid_on)
    clean_reference = _text(reference, field="reference", max_length=60, required=False)
    bill = view.bill
    accounts = await purchasing_accounts(session, actor, bill.currency, roles=("payable", "bank"))
    payment = SupplierPayment(number="", bill_id=bill.id or 0, supplier_id=bill.supplier_id, amount_minor=amount_minor,
                              paid_on=paid_on, reference=clean_reference, created_by=actor.id or None)
    await repo.number_row(session, payment, "SPAY")
    entry = await finance.post_entry(
        session, actor, date=paid_on, memo=f"Supplier payment {payment.number} to {view.supplier.code} for "
                                           f"{bill.number}",
        lines=[{"account_id": accounts["payable"], "debit": amount_minor},
               {"account_id": accounts["bank"], "credit": amount_minor}],
        source=f"purchasing_payment:{payment.id}", idempotency_key=f"purchasing_payment:{payment.id}",
        currency=bill.currency)
    payment.entry_id = entry.id
    session.add(payment)
    bill.amount_paid_minor += amount_minor
    if bill.amount_paid_minor == bill.total_minor:
        bill.status = BillStatus.PAID.value
    bump(bill)
    session.add(bill)
    await session.flush()
    order = await _order(session, view.order.number, lock=True)
    await _refresh_status(session, order, await repo.order_lines(session, [order.id or 0]))
    return payment


async def get_payment(session: AsyncSession, payment_id: int) -> SupplierPayment:
    """Return a supplier payment; raises NotFound (payment_id)."""
    return await repo.get_payment(session, payment_id)


PAYMENT = "purchasing.payment"
"""The plan effect of a supplier payment (domain.kernel.plan.Effect), applied by pay_supplier_bill."""


async def _apply_payment(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    row = await pay_supplier_bill(session, context.actor, bill_number=payload["bill_number"],
                                  amount_minor=payload["amount_minor"], paid_on=date.fromisoformat(payload["paid_on"]),
                                  reference=payload["reference"])
    return row.id or 0


register_effect(PAYMENT, _apply_payment)


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class OpenOrder:
    """An open order: units and value (before GST) still to be received, and received but not yet billed."""

    view: OrderView
    units_to_receive: int
    value_to_receive: int
    units_to_bill: int
    value_to_bill: int


def open_order(view: OrderView) -> OpenOrder:
    """What an order still waits for (to receive: ordered - received; to bill: received - billed)."""
    lines = view.lines
    return OpenOrder(
        view, sum(ln.quantity_ordered - ln.quantity_received for ln in lines),
        sum((ln.quantity_ordered - ln.quantity_received) * ln.unit_cost_minor for ln in lines),
        sum(ln.quantity_received - ln.quantity_billed for ln in lines),
        sum((ln.quantity_received - ln.quantity_billed) * ln.unit_cost_minor for ln in lines))


async def open_orders(session: AsyncSession, *, after_id: int, limit: int,
                      supplier: str | None = None) -> list[OpenOrder]:
    """Return up to `limit + 1` open orders (sent, partly received, received) after `after_id` in id order, of a
    supplier when given, with what each still waits for. Raises NotFound (supplier)."""
    views = await list_purchase_orders(session, after_id=after_id, limit=limit, statuses=OPEN_STATUSES,
                                       supplier=supplier)
    return [open_order(view) for view in views]


@dataclass(frozen=True)
class SupplierAging:
    """What is owed to one supplier on a day: by aging bucket (fees' AGING_BUCKETS, days past the due date) and
    in all, the number of open bills and the oldest due date, in minor units of `currency`."""

    supplier: Supplier
    currency: str
    buckets: dict[str, int]
    total: int
    bills: int
    oldest_due_date: date


@dataclass(frozen=True)
class PayablesAging:
    as_of: date
    rows: list[SupplierAging]
    totals: dict[str, dict[str, int]]
    """{currency: {bucket: minor units, "total": ...}}"""


async def payables_aging(session: AsyncSession, *, as_of: date, supplier: str | None = None) -> PayablesAging:
    """Age what is owed to suppliers on `as_of`: each open bill dated on or before it, by days past its due date
    (current, 1-30, 31-60, 61-90, over 90), per supplier (most owed first) and in total per currency. Payments
    are counted whatever their date (the balance now). Raises NotFound (supplier)."""
    vendor = await get_supplier(session, supplier) if supplier is not None else None
    rows = [b for b in await repo.open_bills(session, as_of=as_of) if vendor is None or b.supplier_id == vendor.id]
    vendors = await repo.suppliers_by_ids(session, [b.supplier_id for b in rows])
    grouped: dict[int, list[SupplierBill]] = {}
    for bill in rows:
        grouped.setdefault(bill.supplier_id, []).append(bill)
    out = []
    totals: dict[str, dict[str, int]] = {}
    for supplier_id, owed in grouped.items():
        buckets = dict.fromkeys(AGING_BUCKETS, 0)
        for bill in owed:
            buckets[aging_bucket(max(rules.days_past_due(bill.due_date, as_of), 0))] += (
                bill.total_minor - bill.amount_paid_minor)
        currency = owed[0].currency
        total = sum(buckets.values())
        out.append(SupplierAging(vendors[supplier_id], currency, buckets, total, len(owed),
                                 min(b.due_date for b in owed)))
        into = totals.setdefault(currency, dict.fromkeys([*AGING_BUCKETS, "total"], 0))
        for key, value in [*buckets.items(), ("total", total)]:
            into[key] += value
    out.sort(key=lambda row: (-row.total, row.supplier.code))
    return PayablesAging(as_of, out, totals)


async def open_bills_total(session: AsyncSession, currency: str) -> int:
    """The unpaid balance of every open bill in `currency` (minor units): what 2010 Accounts payable must hold."""
    cur = money.parse_currency(currency)
    return sum(b.total_minor - b.amount_paid_minor for b in await repo.open_bills(session) if b.currency == cur)


async def receipt_move_ids(session: AsyncSession) -> list[int]:
    """The inventory stock move of every goods receipt line (for checks that receipts and stock agree)."""
    return await repo.receipt_move_ids(session)
