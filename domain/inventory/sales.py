"""The shop's sales orders (issue 22, part 3): draft -> confirmed -> fulfilled -> invoiced -> paid, or cancelled;
returns and refunds (gated: plans.plan_return_sales_order applies `apply_return`); and the sales reports.

Customers: a family (`customer_kind` family: the order names one of its students, is priced on the families
price list, and is charged to the family's fees account through domain.fees.service.charge_family, so the
receivables, aging and the family statement show it, and it is paid like any fee invoice), a staff member
(the staff price list) or a walk-in (the families price list); staff and walk-ins pay at the counter in cash or
by card.

Each step is one use case in the caller's transaction:

- confirm: the units are reserved at the order's location; nothing is posted.
- fulfil: one sale move a line (service.record_sale): Dr 5300 Cost of goods sold / Cr 1300 Inventory at the
  weighted average; the line keeps that cost.
- invoice: a family's order is charged to its fees account (an invoice: Dr 1200 Fees receivable / Cr 4400 Shop
  sales without GST + Cr 2310 GST collected); a counter order posts its tax invoice, Dr 1210 Shop counter
  receivable / Cr 4400 + Cr 2310.
- pay (counter orders): Dr 1030 Shop till cash or 1040 Card settlements receivable / Cr 1210. A family pays its
  fees account (record_payment); its order shows paid once that invoice is.
- cancel (a draft or confirmed order): the reservation is released; nothing is posted.
- return (gated): return moves at the average (Dr 1300 / Cr 5300), and the refund: a family's is a fees credit
  note on the order's invoice (Dr 4400 / Cr 1200, beyond its balance Cr 2200 Family credit) with its GST moved
  back (Dr 2310 / Cr 4400); a counter's is Dr 4400 + Dr 2310 / Cr 1030 cash or 1040 card.

Reserved units are never stored: they are the lines of the confirmed orders (repository.reserved). Confirming
locks the product's valuation and level rows (the order every stock writer takes them in) and refuses units
that are not on hand and unreserved at a location without backorders: Conflict "out of stock: 3 available of
BLZ-10 at SHOP (5 on hand, 2 reserved by confirmed orders), 4 wanted". So stock never goes negative at such a
location, and two concurrent buyers of the last unit get one sale and one "out of stock".

GST: prices are GST-inclusive; a line's GST is 1/11 of its amount for tax code GST (rules.gst_included: A New
Tax System (Goods and Services Tax) Act 1999 ss 9-70, 9-75), 0 for GST_FREE.

Units: quantities are whole units (1..rules.MAX_QUANTITY a line, 1..MAX_LINES lines); money is integer minor
units of the order's currency (the products'). Errors: NotFound (order_id, sku, location, family_id,
student_id), InvalidInput (a rule, naming the field), Conflict (out of stock; a step out of order, naming the
status; a product inactive or a template; a line returned beyond what was sold).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import service as academics
from domain.fees import service as fees
from domain.finance import service as finance
from domain.finance.rules import LineInput
from domain.inventory import repository as repo
from domain.inventory import rules
from domain.inventory import service as stock
from domain.inventory.models import (
    CounterMethod,
    CustomerKind,
    Location,
    PriceList,
    Product,
    SalesOrder,
    SalesOrderLine,
    SalesOrderStatus,
    SalesReturn,
    SalesReturnLine,
    StockMove,
)
from domain.inventory.rules import Pool
from domain.inventory.events import StockBelowReorderPoint
from domain.kernel import money, outbox
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit
from domain.kernel.clock import utcnow
from domain.kernel.db import bulk_insert_records
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.plan import ApplyContext, register_effect

SALES_ACCOUNTS = {
    "sales": ("4400", "Shop sales", "income"),
    "gst": ("2310", "GST collected", "liability"),
    "counter": ("1210", "Shop counter receivable", "asset"),
    "cash": ("1030", "Shop till cash", "asset"),
    "card": ("1040", "Card settlements receivable", "asset"),
}
MAX_LINES = 200
"""The most lines an order (or a return) takes."""
FAMILY_ACCOUNT = "family_account"
"""A return's refund to a family: a credit note on the order's fees invoice."""
Status = SalesOrderStatus


async def sales_accounts(session: AsyncSession, actor: Actor, currency: str) -> dict[str, int]:
    """The ids of the shop's sales accounts (SALES_ACCOUNTS), creating the missing ones in `currency`."""
    return await finance.ensure_accounts(
        session, actor, SALES_ACCOUNTS, currency,
        mismatch="not {currency}; the shop sells in the currency of its sales accounts ({account_currency})")


def _text(value: str | None, *, field: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text or len(text) > max_length or any(ord(ch) < 32 for ch in text):
        raise InvalidInput(f"{field} must be 1 to {max_length} characters on one line", field=field)
    return text


def check_reason(reason: str) -> str:
    """Return the reason stripped; raises InvalidInput unless 1 to 200 characters on one line."""
    return _text(reason, field="reason", max_length=200)


# ---------------------------------------------------------------- reading orders


@dataclass(frozen=True)
class OrderView:
    """An order with its lines, their products, its location, and its returns. `status` is the stored one but
    for a family's invoiced order whose fees invoice is fully settled: paid (it is paid through the family's
    account). `balance_minor`: what is still owed on it (its invoice's balance for a family)."""

    order: SalesOrder
    lines: list[SalesOrderLine]
    products: dict[int, Product]
    location: Location
    returns: list[SalesReturn]
    status: str
    invoice_number: str | None
    balance_minor: int


async def get_order(session: AsyncSession, order_id: int, *, for_update: bool = False) -> SalesOrder:
    """Return the order; raises NotFound (order_id)."""
    row = await repo.get_order(session, order_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no sales order with id {order_id}; list_sales_orders shows them", field="order_id")
    return row


async def order_view(session: AsyncSession, order: SalesOrder) -> OrderView:
    """The order with its lines, products, location, returns, shown status and balance."""
    lines = (await repo.order_lines(session, [order.id or 0]))[order.id or 0]
    products = await repo.products_by_ids(session, [line.product_id for line in lines])
    location = await session.get(Location, order.location_id)
    status, number, balance = order.status, None, 0
    if order.invoice_id is not None:
        invoice = await fees.get_invoice(session, order.invoice_id)
        number, balance = invoice.invoice_number, fees.balance_of(invoice)
        if order.status == Status.INVOICED.value and invoice.status == "paid":
            status = Status.PAID.value
    elif order.status == Status.INVOICED.value:
        balance = order.total_minor
    return OrderView(order=order, lines=lines, products=products, location=location,  # type: ignore[arg-type]
                     returns=await repo.returns_of(session, order.id or 0), status=status, invoice_number=number,
                     balance_minor=balance)


async def list_orders(session: AsyncSession, *, after_id: int = 0, limit: int = 50, status: str | None = None,
                      family_id: int | None = None, from_date: dt.date | None = None,
                      to_date: dt.date | None = None) -> list[SalesOrder]:
    """Return up to `limit + 1` orders after `after_id` in id order: of a stored status, a family, ordered
    from_date..to_date. Raises InvalidInput (an unknown status), NotFound (family_id)."""
    if status is not None and status not in {s.value for s in Status}:
        raise InvalidInput(f"status {status!r} is unknown; use one of {', '.join(s.value for s in Status)}",
                           field="status")
    if family_id is not None:
        await fees.get_family(session, family_id)
    return await repo.list_orders(session, after_id=after_id, limit=limit, status=status, family_id=family_id,
                                  from_date=from_date, to_date=to_date)


# ---------------------------------------------------------------- creating and confirming


@dataclass(frozen=True)
class OrderLineSpec:
    """A line to order: a product (SKU) and its units."""

    sku: str
    quantity: int


async def _customer(session: AsyncSession, *, kind: str, family_id: int | None, student_id: int | None,
                    customer_name: str | None) -> tuple[str, str, int | None, int | None]:
    """(customer name, price list, family id, student id) of the order's customer."""
    if kind not in {k.value for k in CustomerKind}:
        raise InvalidInput(f"customer_kind {kind!r} is unknown; use family, staff or walk_in", field="customer_kind")
    if kind == CustomerKind.FAMILY.value:
        if family_id is None or student_id is None:
            raise InvalidInput("a family's order names family_id and the student_id it is for (one of the "
                               "family's students)", field="family_id" if family_id is None else "student_id")
        family = await fees.get_family(session, family_id)
        await academics.get_student(session, student_id)
        members = (await fees.family_students(session, [family_id])).get(family_id, [])
        if student_id not in {s.id for s in members}:
            raise InvalidInput(f"student {student_id} is not a member of family {family.code}; the family's "
                               f"students are {', '.join(s.code for s in members) or 'none yet'}",
                               field="student_id")
        return family.name[:120], PriceList.FAMILIES.value, family_id, student_id
    if family_id is not None or student_id is not None:
        raise InvalidInput(f"a {kind} order is paid at the counter and names no family_id or student_id",
                           field="family_id")
    if kind == CustomerKind.STAFF.value:
        return _text(customer_name, field="customer_name", max_length=120), PriceList.STAFF.value, None, None
    name = "Walk-in" if customer_name is None or not customer_name.strip() else customer_name
    return _text(name, field="customer_name", max_length=120), PriceList.FAMILIES.value, None, None


async def create_order(session: AsyncSession, actor: Actor, *, customer_kind: str, location: str,
                       lines: Sequence[OrderLineSpec], on: dt.date, family_id: int | None = None,
                       student_id: int | None = None, customer_name: str | None = None,
                       confirm: bool = False) -> SalesOrder:
    """Create a draft order (SO000042) dated `on` at a location: each line priced from the customer's price list
    (families for a family or a walk-in, staff for staff), GST-inclusive, with the GST inside it. With `confirm`,
    confirm it at once (confirm_order). Raises NotFound (location, a SKU, the family), InvalidInput (1..MAX_LINES
    lines, a SKU twice, units, no price on the list, products of two currencies, the customer's fields) and
    Conflict (a template, an inactive product; out of stock when confirming)."""
    name, price_list, family, student = await _customer(session, kind=customer_kind, family_id=family_id,
                                                        student_id=student_id, customer_name=customer_name)
    loc = await stock.get_location(session, location)
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput(f"give 1 to {MAX_LINES} lines, not {len(lines)}", field="lines")
    products: list[tuple[Product, int]] = []
    for i, spec in enumerate(lines):
        product = await stock.get_product(session, spec.sku, field=f"lines.{i}.sku")
        if product.is_template:
            raise Conflict(f"{product.sku} is a template; order one of its variants (get_product lists them)",
                           field=f"lines.{i}.sku")
        if not product.active:
            raise Conflict(f"{product.sku} is inactive and is not sold", field=f"lines.{i}.sku")
        products.append((product, rules.check_quantity(spec.quantity, field=f"lines.{i}.quantity")))
    if len({p.id for p, _ in products}) != len(products):
        raise InvalidInput("a SKU is ordered twice; give one line per product with its total units", field="lines")
    currencies = {p.currency for p, _ in products}
    if len(currencies) != 1:
        raise InvalidInput(f"the products are in {', '.join(sorted(currencies))}; an order is in one currency",
                           field="lines")
    prices = await repo.prices_of(session, [p.id or 0 for p, _ in products])
    order = SalesOrder(order_number="", customer_kind=customer_kind, family_id=family, student_id=student,
                       customer_name=name, price_list=price_list, location_id=loc.id or 0,
                       currency=currencies.pop(), status=Status.DRAFT.value, order_date=on, total_minor=0,
                       gst_minor=0, created_by=actor.id or None)
    rows = []
    for i, (product, quantity) in enumerate(products):
        price = prices.get(product.id or 0, {}).get(price_list)
        if price is None:
            raise InvalidInput(f"{product.sku} has no {price_list} price; set one before selling it to "
                               f"{customer_kind.replace('_', '-')} customers", field=f"lines.{i}.sku")
        amount = price * quantity
        if amount > money.MAX_AMOUNT:
            raise InvalidInput(f"line {i}: {quantity} x {price} is above {money.MAX_AMOUNT} minor units",
                               field=f"lines.{i}.quantity")
        rows.append(SalesOrderLine(order_id=0, line_no=i + 1, product_id=product.id or 0, quantity=quantity,
                                   unit_price_minor=price, amount_minor=amount,
                                   gst_minor=rules.gst_included(amount, product.tax_code)))
    order.total_minor = sum(r.amount_minor for r in rows)
    order.gst_minor = sum(r.gst_minor for r in rows)
    if order.total_minor > money.MAX_AMOUNT:
        raise InvalidInput(f"the order's total {order.total_minor} is above {money.MAX_AMOUNT} minor units",
                           field="lines")
    await repo.number_row(session, order, "order_number", "SO")
    for row in rows:
        row.order_id = order.id or 0
        session.add(row)
    await session.flush()
    if confirm:
        return await confirm_order(session, actor, order_id=order.id or 0, on=on)
    return order


async def _step(session: AsyncSession, order_id: int, *, allowed: Sequence[str], doing: str) -> SalesOrder:
    """The order locked for this transaction; raises Conflict unless its status is one of `allowed`."""
    order = await get_order(session, order_id, for_update=True)
    if order.status not in allowed:
        raise Conflict(f"sales order {order.order_number} is {order.status}; only a {' or '.join(allowed)} order "
                       f"can be {doing}", field="order_id", details={"status": order.status})
    return order


def _check_on(order: SalesOrder, on: dt.date, *, field: str = "on") -> dt.date:
    if not isinstance(on, dt.date) or on < order.order_date:
        raise InvalidInput(f"{field} {on} is before the order's date {order.order_date}", field=field)
    return on


async def confirm_order(session: AsyncSession, actor: Actor, *, order_id: int, on: dt.date) -> SalesOrder:
    """Confirm a draft order on `on`: its units become reserved at its location. Each line's units must be on hand
    and not reserved by other confirmed orders, unless the location allows backorders (checked under the
    product's valuation and level locks, so concurrent orders of the last units sell each unit once). Raises
    NotFound, Conflict (not a draft; "out of stock: N available of SKU at LOC ..."), InvalidInput (on before the
    order's date)."""
    order = await _step(session, order_id, allowed=(Status.DRAFT.value,), doing="confirmed")
    _check_on(order, on)
    lines = (await repo.order_lines(session, [order_id]))[order_id]
    location = await session.get(Location, order.location_id)
    products = await repo.products_by_ids(session, [line.product_id for line in lines])
    for line in sorted(lines, key=lambda line: line.product_id):
        # the locks every stock writer takes, in one order: the valuation, then the level (repository)
        await repo.lock_valuation(session, line.product_id)
        level = (await repo.lock_levels(session, line.product_id, [order.location_id]))[order.location_id]
        if location is not None and not location.allow_backorders:
            taken = await repo.reserved(session, line.product_id, order.location_id)
            available = level.on_hand - taken
            if available < line.quantity:
                sku = products[line.product_id].sku
                raise Conflict(f"out of stock: {max(available, 0)} available of {sku} at {location.code} "
                               f"({level.on_hand} on hand, {taken} reserved by confirmed orders), {line.quantity} "
                               f"wanted; {location.code} does not allow backorders", field="lines",
                               details={"sku": sku, "location": location.code, "on_hand": level.on_hand,
                                        "reserved": taken, "available": available, "wanted": line.quantity})
    order.status, order.confirmed_on = Status.CONFIRMED.value, on
    bump(order)
    session.add(order)
    await session.flush()
    return order


async def cancel_order(session: AsyncSession, actor: Actor, *, order_id: int, on: dt.date) -> SalesOrder:
    """Cancel a draft or confirmed order on `on`; a confirmed order's reservation is released. Raises NotFound and
    Conflict (fulfilled or later: the units left; bring them back with return_sales_order)."""
    order = await _step(session, order_id, allowed=(Status.DRAFT.value, Status.CONFIRMED.value),
                        doing="cancelled (a fulfilled order's units come back with return_sales_order)")
    _check_on(order, on)
    order.status, order.cancelled_on = Status.CANCELLED.value, on
    bump(order)
    session.add(order)
    await session.flush()
    return order


# ---------------------------------------------------------------- fulfilling, invoicing, paying


async def fulfil_order(session: AsyncSession, actor: Actor, *, order_id: int, on: dt.date) -> SalesOrder:
    """Fulfil a confirmed order on `on`: each line leaves its location as a sale move at the weighted average cost
    (Dr 5300 / Cr 1300; service.record_sale), which the line keeps as `cost_minor`; the reservation ends. Raises
    NotFound, Conflict (not confirmed), InvalidInput (on before the order's date)."""
    order = await _step(session, order_id, allowed=(Status.CONFIRMED.value,), doing="fulfilled")
    _check_on(order, on)
    lines = (await repo.order_lines(session, [order_id]))[order_id]
    products = await repo.products_by_ids(session, [line.product_id for line in lines])
    location = await session.get(Location, order.location_id)
    for line in sorted(lines, key=lambda line: line.product_id):
        move = await stock.record_sale(session, actor, sku=products[line.product_id].sku,
                                       location=location.code if location else "", quantity=line.quantity, on=on,
                                       reason=f"sales order {order.order_number}", source=f"sales_order:{order_id}",
                                       order_id=order_id)
        line.cost_minor = -move.value_minor
        session.add(line)
    order.status, order.fulfilled_on = Status.FULFILLED.value, on
    bump(order)
    session.add(order)
    await session.flush()
    return order


def _describe(line: SalesOrderLine, product: Product) -> str:
    return f"{line.quantity} x {product.name} ({product.sku})"[:200]


async def invoice_order(session: AsyncSession, actor: Actor, *, order_id: int, on: dt.date,
                        due_date: dt.date | None = None) -> SalesOrder:
    """Invoice a fulfilled order on `on`. A family's order is charged to the family's fees account
    (fees.charge_family: an invoice due on `due_date`, default `on` + 14 days, with a line a product crediting
    4400 Shop sales without GST and one crediting 2310 GST collected); a counter order posts its tax invoice
    (Dr 1210 Shop counter receivable / Cr 4400, Cr 2310; key "sales_order:<id>:invoice"). An order worth 0 is
    paid at once. Raises NotFound, Conflict (not fulfilled), InvalidInput (dates)."""
    order = await _step(session, order_id, allowed=(Status.FULFILLED.value,), doing="invoiced")
    _check_on(order, on)
    due = due_date or on + dt.timedelta(days=14)
    if due < on:
        raise InvalidInput(f"due_date {due} is before the invoice date {on}", field="due_date")
    accounts = await sales_accounts(session, actor, order.currency)
    order.invoiced_on = on
    if order.total_minor == 0:
        order.status, order.paid_on = Status.PAID.value, on
    elif order.customer_kind == CustomerKind.FAMILY.value:
        lines = (await repo.order_lines(session, [order_id]))[order_id]
        products = await repo.products_by_ids(session, [line.product_id for line in lines])
        charges = [fees.ChargeLine(description=_describe(line, products[line.product_id]),
                                   account_id=accounts["sales"], amount=line.amount_minor - line.gst_minor)
                   for line in lines if line.amount_minor - line.gst_minor > 0]
        if order.gst_minor:
            charges.append(fees.ChargeLine(description=f"GST included in {order.order_number}",
                                           account_id=accounts["gst"], amount=order.gst_minor))
        invoice = await fees.charge_family(session, actor, family_id=order.family_id or 0,
                                           student_id=order.student_id or 0, currency=order.currency,
                                           issue_date=on, due_date=due, memo=f"School shop order {order.order_number}",
                                           lines=charges)
        order.invoice_id, order.invoice_entry_id = invoice.id, invoice.entry_id
        order.status = Status.INVOICED.value
    else:
        entry_lines = [LineInput(account_id=accounts["counter"], debit=order.total_minor)]
        if order.total_minor - order.gst_minor:
            entry_lines.append(LineInput(account_id=accounts["sales"], credit=order.total_minor - order.gst_minor))
        if order.gst_minor:
            entry_lines.append(LineInput(account_id=accounts["gst"], credit=order.gst_minor))
        posted = await finance.post_entry(
            session, actor, date=on, memo=f"Tax invoice {order.order_number}: {order.customer_name}",
            lines=entry_lines, source=f"sales_order:{order_id}", idempotency_key=f"sales_order:{order_id}:invoice",
            currency=order.currency)
        order.invoice_entry_id = posted.id
        order.status = Status.INVOICED.value
    bump(order)
    session.add(order)
    await session.flush()
    return order


async def pay_order(session: AsyncSession, actor: Actor, *, order_id: int, method: str, on: dt.date
                    ) -> SalesOrder:
    """Record a counter order's payment at the till on `on`, in cash or by card: Dr 1030 Shop till cash or 1040
    Card settlements receivable / Cr 1210 (key "sales_order:<id>:payment"). Raises NotFound, InvalidInput (the
    method; the date), Conflict (not invoiced; a family's order, which is paid through the family's fees account
    with record_payment)."""
    order = await _step(session, order_id, allowed=(Status.INVOICED.value,), doing="paid")
    if order.customer_kind == CustomerKind.FAMILY.value:
        raise Conflict(f"sales order {order.order_number} is charged to the family's account (invoice "
                       f"{order.invoice_id}); the family pays it with record_payment", field="order_id")
    if method not in {m.value for m in CounterMethod}:
        raise InvalidInput(f"method {method!r} is not a counter method; use cash or card", field="method")
    if on < (order.invoiced_on or order.order_date):
        raise InvalidInput(f"on {on} is before the order was invoiced ({order.invoiced_on})", field="on")
    accounts = await sales_accounts(session, actor, order.currency)
    posted = await finance.post_entry(
        session, actor, date=on, memo=f"Payment of {order.order_number} by {method}: {order.customer_name}",
        lines=[LineInput(account_id=accounts[method], debit=order.total_minor),
               LineInput(account_id=accounts["counter"], credit=order.total_minor)],
        source=f"sales_order:{order_id}", idempotency_key=f"sales_order:{order_id}:payment", currency=order.currency)
    order.status, order.paid_on, order.payment_method, order.payment_entry_id = (
        Status.PAID.value, on, method, posted.id)
    bump(order)
    session.add(order)
    await session.flush()
    return order


# ---------------------------------------------------------------- returns (gated)


@dataclass(frozen=True)
class ReturnLinePlan:
    """A line of a planned return: the order line, its product, the units, the refund (GST inside) and the value
    the units come back into stock at (the weighted average now: rules.restore)."""

    line: SalesOrderLine
    product: Product
    quantity: int
    amount: int
    gst: int
    cost: int


@dataclass(frozen=True)
class ReturnPlan:
    order: SalesOrder
    location: Location
    lines: list[ReturnLinePlan]
    refund_method: str
    amount: int
    gst: int
    cost: int


async def check_return(session: AsyncSession, *, order_id: int, lines: Sequence[OrderLineSpec], on: dt.date,
                       refund_method: str | None) -> ReturnPlan:
    """Check a return of units of an order and value it: the order is invoiced (a family's) or paid (a counter
    order's), each SKU one of its lines with no more units than sold less returned, `on` not before the
    invoice; a family's refund is a credit on its account (family_account), a counter's is cash or card. The
    refund of a line is its unit price x units, GST inside as on the order; all of a line's units refund exactly
    the rest of its amount. Raises NotFound, InvalidInput, Conflict (the status; more units than can come
    back)."""
    order = await get_order(session, order_id)
    is_family = order.customer_kind == CustomerKind.FAMILY.value
    if order.status not in ((Status.INVOICED.value, Status.PAID.value) if is_family else (Status.PAID.value,)):
        raise Conflict(f"sales order {order.order_number} is {order.status}; a return is for a "
                       f"{'invoiced' if is_family else 'paid'} order (cancel_sales_order cancels one not yet "
                       "fulfilled)", field="order_id", details={"status": order.status})
    if on < (order.invoiced_on or order.order_date):
        raise InvalidInput(f"on {on} is before the order was invoiced ({order.invoiced_on})", field="on")
    if is_family:
        method = FAMILY_ACCOUNT
        if refund_method not in (None, FAMILY_ACCOUNT):
            raise InvalidInput(f"a family's order is refunded to its account ({FAMILY_ACCOUNT}), not "
                               f"{refund_method!r}; refund_family_credit pays credit back", field="refund_method")
    else:
        if refund_method not in {m.value for m in CounterMethod}:
            raise InvalidInput(f"refund_method {refund_method!r}: a counter order is refunded in cash or by card",
                               field="refund_method")
        method = refund_method
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput(f"give 1 to {MAX_LINES} lines, not {len(lines)}", field="lines")
    order_lines = (await repo.order_lines(session, [order_id]))[order_id]
    products = await repo.products_by_ids(session, [line.product_id for line in order_lines])
    by_sku = {products[line.product_id].sku: line for line in order_lines}
    seen, planned = set(), []
    vals = await repo.valuations(session, [line.product_id for line in order_lines])
    for i, spec in enumerate(lines):
        sku = rules.check_sku(spec.sku, field=f"lines.{i}.sku")
        line = by_sku.get(sku)
        if line is None:
            raise InvalidInput(f"{sku} is not on sales order {order.order_number}; its SKUs are "
                               f"{', '.join(sorted(by_sku))}", field=f"lines.{i}.sku")
        if sku in seen:
            raise InvalidInput(f"{sku} is returned twice; give one line per product", field="lines")
        seen.add(sku)
        quantity = rules.check_quantity(spec.quantity, field=f"lines.{i}.quantity")
        left = line.quantity - line.returned_quantity
        if quantity > left:
            raise Conflict(f"{quantity} units of {sku} cannot come back: {line.quantity} sold, "
                           f"{line.returned_quantity} returned already", field=f"lines.{i}.quantity",
                           details={"sold": line.quantity, "returned": line.returned_quantity})
        if quantity == left:  # the rest of the line: whatever rounding earlier partial returns left
            returned = await repo.returned_amounts(session, line.id or 0)
            amount, gst = line.amount_minor - returned[0], line.gst_minor - returned[1]
        else:
            amount = line.unit_price_minor * quantity
            gst = rules.div_half_up(line.gst_minor * quantity, line.quantity)
        val = vals.get(line.product_id)
        pool = Pool(val.quantity, val.value_minor, val.last_unit_cost_minor) if val else Pool(0, 0, 0)
        planned.append(ReturnLinePlan(line=line, product=products[line.product_id], quantity=quantity,
                                      amount=amount, gst=gst, cost=rules.restore(pool, quantity)[1]))
    location = await session.get(Location, order.location_id)
    return ReturnPlan(order=order, location=location, lines=planned, refund_method=method,  # type: ignore[arg-type]
                      amount=sum(p.amount for p in planned), gst=sum(p.gst for p in planned),
                      cost=sum(p.cost for p in planned))


SALES_RETURN = "inventory.sales_return"
"""The plan effect of a return (domain.kernel.plan.Effect), applied by apply_return."""


async def apply_return(session: AsyncSession, actor: Actor, *, order_id: int, lines: Sequence[Mapping[str, Any]],
                       on: dt.date, reason: str, refund_method: str) -> SalesReturn:
    """Write a planned return (RT000042): each line's units back into the order's location at the weighted average
    (service.record_return), the line's returned units, and the refund: a family's as a fees credit note on the
    order's invoice (Dr 4400 / Cr 1200, the excess over its balance to 2200 Family credit) with the GST moved
    back out of 4400 (Dr 2310 / Cr 4400); a counter's as Dr 4400 (without GST) + Dr 2310 / Cr 1030 cash or 1040
    card. `lines`: {"sku", "quantity"}. Raises what check_return raises."""
    clean_reason = _text(reason, field="reason", max_length=200)
    order = await get_order(session, order_id, for_update=True)  # first: two returns of one line check in turn
    plan = await check_return(session, order_id=order_id, on=on, refund_method=refund_method,
                              lines=[OrderLineSpec(sku=line["sku"], quantity=line["quantity"]) for line in lines])
    row = SalesReturn(return_number="", order_id=order_id, location_id=order.location_id, on_date=on,
                      reason=clean_reason, amount_minor=plan.amount, gst_minor=plan.gst, cost_minor=0,
                      refund_method=plan.refund_method, created_by=actor.id or None)
    await repo.number_row(session, row, "return_number", "RT")
    cost = 0
    for item in sorted(plan.lines, key=lambda p: p.product.id or 0):
        move = await stock.record_return(session, actor, sku=item.product.sku, location=plan.location.code,
                                         quantity=item.quantity, on=on, reason=f"return {row.return_number}",
                                         source=f"sales_return:{row.id}")
        cost += move.value_minor
        item.line.returned_quantity += item.quantity
        session.add(item.line)
        session.add(SalesReturnLine(return_id=row.id or 0, order_line_id=item.line.id or 0,
                                    product_id=item.product.id or 0, quantity=item.quantity, amount_minor=item.amount,
                                    gst_minor=item.gst, cost_minor=move.value_minor))
    row.cost_minor = cost
    accounts = await sales_accounts(session, actor, order.currency)
    if plan.amount and plan.refund_method == FAMILY_ACCOUNT:
        note = await fees.issue_credit_note(session, actor, invoice_id=order.invoice_id or 0, amount=plan.amount,
                                            on=on, reason=f"Shop return {row.return_number} of "
                                                          f"{order.order_number}: {clean_reason}",
                                            account_id=accounts["sales"])
        row.credit_note_id = note.id
        if plan.gst:
            posted = await finance.post_entry(
                session, actor, date=on, memo=f"GST of return {row.return_number} (credit note "
                                              f"{note.credit_note_number})",
                lines=[LineInput(account_id=accounts["gst"], debit=plan.gst),
                       LineInput(account_id=accounts["sales"], credit=plan.gst)],
                source=f"sales_return:{row.id}", idempotency_key=f"sales_return:{row.id}:gst",
                currency=order.currency)
            row.entry_id = posted.id
    elif plan.amount:
        entry_lines = [LineInput(account_id=accounts[plan.refund_method], credit=plan.amount)]
        if plan.amount - plan.gst:
            entry_lines.append(LineInput(account_id=accounts["sales"], debit=plan.amount - plan.gst))
        if plan.gst:
            entry_lines.append(LineInput(account_id=accounts["gst"], debit=plan.gst))
        posted = await finance.post_entry(
            session, actor, date=on, memo=f"Refund of return {row.return_number} ({order.order_number}) by "
                                          f"{plan.refund_method}: {clean_reason}"[:1000],
            lines=entry_lines, source=f"sales_return:{row.id}", idempotency_key=f"sales_return:{row.id}:refund",
            currency=order.currency)
        row.entry_id = posted.id
    session.add(row)
    bump(order)
    session.add(order)
    await append_audit(session, actor, tool="inventory.return_sales_order", event="sales_returned",
                       arguments={"order_id": order_id, "lines": [dict(line) for line in lines],
                                  "on": on.isoformat(), "refund_method": plan.refund_method},
                       entity="inventory_sales_returns", entity_id=row.id or 0,
                       after={"return_number": row.return_number, "amount_minor": plan.amount,
                              "gst_minor": plan.gst, "cost_minor": cost, "currency": order.currency})
    await session.flush()
    return row


async def _apply_return(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    row = await apply_return(session, context.actor, order_id=payload["order_id"], lines=payload["lines"],
                             on=dt.date.fromisoformat(payload["on"]), reason=payload["reason"],
                             refund_method=payload["refund_method"])
    return row.id or 0


register_effect(SALES_RETURN, _apply_return)


async def get_return(session: AsyncSession, return_id: int) -> SalesReturn:
    """Return the return; raises NotFound (return_id)."""
    row = await session.get(SalesReturn, return_id)
    if row is None:
        raise NotFound(f"no sales return with id {return_id}", field="return_id")
    return row


# ---------------------------------------------------------------- reports


@dataclass(frozen=True)
class ProductSales:
    """A product's sales in a period (minor units; GST-inclusive amounts with the GST inside them): units sold
    (orders fulfilled in it) and returned (returns dated in it), net units, net sales without GST, net cost of
    goods sold and the gross margin (net sales without GST less net cost)."""

    product: Product
    units_sold: int
    units_returned: int
    sales_minor: int
    gst_minor: int
    returns_minor: int
    returns_gst_minor: int
    cost_minor: int
    returns_cost_minor: int

    @property
    def net_units(self) -> int:
        return self.units_sold - self.units_returned

    @property
    def net_sales_ex_gst_minor(self) -> int:
        return (self.sales_minor - self.gst_minor) - (self.returns_minor - self.returns_gst_minor)

    @property
    def net_cost_minor(self) -> int:
        return self.cost_minor - self.returns_cost_minor

    @property
    def margin_minor(self) -> int:
        return self.net_sales_ex_gst_minor - self.net_cost_minor


MAX_REPORT_DAYS = 3660


def _period(from_date: dt.date, to_date: dt.date) -> None:
    if to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    if (to_date - from_date).days > MAX_REPORT_DAYS:
        raise InvalidInput(f"a period is at most {MAX_REPORT_DAYS} days", field="to_date")


async def sales_by_product(session: AsyncSession, *, from_date: dt.date, to_date: dt.date,
                           location: str | None = None, after_id: int = 0, limit: int = 50) -> list[ProductSales]:
    """Return up to `limit + 1` products sold from_date..to_date (inclusive; by the date their order was
    fulfilled) in product id order after `after_id`, with what came back in returns dated in the period. Raises
    InvalidInput (the period: to_date first, over MAX_REPORT_DAYS days), NotFound (location)."""
    _period(from_date, to_date)
    loc = await stock.get_location(session, location) if location is not None else None
    rows = await repo.sales_by_product(session, from_date=from_date, to_date=to_date,
                                       location_id=loc.id if loc else None, after_id=after_id, limit=limit)
    ids = [row[0] for row in rows]
    products = await repo.products_by_ids(session, ids)
    back = await repo.returns_by_product(session, from_date=from_date, to_date=to_date,
                                         location_id=loc.id if loc else None, product_ids=ids)
    out = []
    for product_id, units, amount, gst, cost in rows:
        r_units, r_amount, r_gst, r_cost = back.get(product_id, (0, 0, 0, 0))
        out.append(ProductSales(product=products[product_id], units_sold=units, units_returned=r_units,
                                sales_minor=amount, gst_minor=gst, returns_minor=r_amount, returns_gst_minor=r_gst,
                                cost_minor=cost, returns_cost_minor=r_cost))
    return out


@dataclass(frozen=True)
class SlowMover:
    """A product holding units that sold at most `max_units` in the window: its units on hand, their value at the
    average (minor units), the units sold in the window and the date it last sold (None: never)."""

    product: Product
    on_hand: int
    value_minor: int
    units_sold: int
    last_sold: dt.date | None


async def slow_movers(session: AsyncSession, *, as_of: dt.date, days: int = 90, max_units: int = 0,
                      location: str | None = None, after_id: int = 0, limit: int = 50) -> list[SlowMover]:
    """Return up to `limit + 1` products holding units (at a location, or in all) that sold no more than
    `max_units` units in the `days` days up to `as_of` (inclusive), in product id order after `after_id`: what
    ties up the shop's money. Raises InvalidInput (days 1..3660; max_units 0..MAX_QUANTITY), NotFound."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_REPORT_DAYS:
        raise InvalidInput(f"days must be 1 to {MAX_REPORT_DAYS}, not {days!r}", field="days")
    rules.check_quantity(max_units, field="max_units", minimum=0)
    loc = await stock.get_location(session, location) if location is not None else None
    since = as_of - dt.timedelta(days=days - 1)
    out: list[SlowMover] = []
    cursor = after_id
    while len(out) <= limit:
        held = await repo.stocked_levels(session, location_id=loc.id if loc else None, after_id=cursor,
                                         limit=max(limit, 200))
        if not held:
            break
        ids = [product_id for product_id, _ in held]
        sold = await repo.units_sold_since(session, ids, since, loc.id if loc else None)
        last = await repo.last_sale_dates(session, ids, loc.id if loc else None)
        products = await repo.products_by_ids(session, ids)
        vals = await repo.valuations(session, ids)
        for product_id, on_hand in held:
            if sold.get(product_id, 0) > max_units:
                continue
            val = vals.get(product_id)
            pool = Pool(val.quantity, val.value_minor, val.last_unit_cost_minor) if val else Pool(0, 0, 0)
            out.append(SlowMover(product=products[product_id], on_hand=on_hand,
                                 value_minor=rules.value_at_average(pool, on_hand) if pool.quantity > 0 else 0,
                                 units_sold=sold.get(product_id, 0), last_sold=last.get(product_id)))
            if len(out) > limit:
                break
        if len(held) <= max(limit, 200):
            break
        cursor = held[-1][0]
    return out


@dataclass(frozen=True)
class StockValuation:
    """The stock's units and value by category (minor units of `currency`), its total, the balance of 1300
    Inventory on the books, and their difference (0 when they agree)."""

    currency: str
    categories: list[tuple[str, int, int]]
    value_minor: int
    ledger_minor: int

    @property
    def difference_minor(self) -> int:
        return self.value_minor - self.ledger_minor


async def stock_valuation(session: AsyncSession, *, currency: str) -> StockValuation:
    """Return the value of the stock of `currency`'s products by category, beside the ledger's 1300 Inventory
    balance (0 when the account does not exist yet). Raises InvalidInput (currency)."""
    cur = money.parse_currency(currency)
    categories = await repo.value_by_category(session, cur)
    account = await finance.find_account_by_code(session, stock.INVENTORY_ACCOUNTS["inventory"][0])
    ledger = (await finance.account_balance(session, account.id)
              if account is not None and account.currency == cur else 0)
    return StockValuation(currency=cur, categories=categories, value_minor=sum(v for _, _, v in categories),
                          ledger_minor=ledger)


@dataclass(frozen=True)
class Takings:
    """What the shop took and gave back in a period (minor units of `currency`): counter payments and refunds by
    method (cash, card; (method, count, amount)), what families were charged on account and credited back, and the
    period's movement of the till and card accounts on the ledger (1030, 1040: debits less credits), which a
    count of the till and the card settlements should match."""

    currency: str
    from_date: dt.date
    to_date: dt.date
    payments: list[tuple[str, int, int]]
    refunds: list[tuple[str, int, int]]
    family_charges: tuple[int, int]
    family_credits: tuple[int, int]
    ledger: dict[str, int]

    def net(self, method: str) -> int:
        """Payments less refunds in `method` (cash or card)."""
        return (sum(a for m, _, a in self.payments if m == method)
                - sum(a for m, _, a in self.refunds if m == method))


async def takings(session: AsyncSession, *, from_date: dt.date, to_date: dt.date, currency: str,
                  location: str | None = None) -> Takings:
    """Return the shop's takings from_date..to_date (inclusive) in `currency`: counter payments (by the day an
    order was paid) and refunds (by the return's date) by method, family charges (by invoice date) and credits,
    and the movement of 1030 Shop till cash and 1040 Card settlements receivable over the period (all locations:
    the ledger does not know them). Raises InvalidInput (the period, currency), NotFound (location)."""
    _period(from_date, to_date)
    cur = money.parse_currency(currency)
    loc = await stock.get_location(session, location) if location is not None else None
    rows = await repo.takings(session, from_date=from_date, to_date=to_date, location_id=loc.id if loc else None)
    charged = [(n, a) for kind, n, a in rows["charges"] if kind == CustomerKind.FAMILY.value]
    credited = [(n, a) for method, n, a in rows["refunds"] if method == FAMILY_ACCOUNT]
    ledger = {}
    for role in ("cash", "card"):
        account = await finance.find_account_by_code(session, SALES_ACCOUNTS[role][0])
        moved = 0
        if account is not None and account.currency == cur:
            tb = await finance.trial_balance(session, as_of=to_date, from_date=from_date, currency=cur)
            moved = sum(r.debit_total - r.credit_total for r in tb.rows if r.account.id == account.id)
        ledger[SALES_ACCOUNTS[role][0]] = moved
    return Takings(currency=cur, from_date=from_date, to_date=to_date,
                   payments=[r for r in rows["payments"]],
                   refunds=[r for r in rows["refunds"] if r[0] != FAMILY_ACCOUNT],
                   family_charges=(sum(n for n, _ in charged), sum(a for _, a in charged)),
                   family_credits=(sum(n for n, _ in credited), sum(a for _, a in credited)), ledger=ledger)


# ---------------------------------------------------------------- many orders at once


MAX_BATCH = 10_000
"""The most orders one process_orders call takes."""
STEPS = ("confirmed", "fulfilled", "invoiced")


@dataclass(frozen=True)
class ProcessedOrders:
    """What process_orders did: the orders it confirmed, fulfilled and invoiced (ids), the lines it moved, and the
    cost of goods sold and the sales it posted (minor units of `currency`, GST included in sales) with the journal
    entries that posted them (None: nothing to post)."""

    currency: str | None
    confirmed: list[int]
    fulfilled: list[int]
    invoiced: list[int]
    lines: int
    cost_minor: int
    sales_minor: int
    cost_entry_id: int | None = None
    sales_entry_id: int | None = None


async def process_orders(session: AsyncSession, actor: Actor, *, order_ids: Sequence[int], on: dt.date,
                         through: str = "invoiced", due_date: dt.date | None = None) -> ProcessedOrders:
    """Take many orders of one currency forward at once, dated `on` ("fulfil all of today's uniform orders"): drafts
    are confirmed, confirmed orders fulfilled and fulfilled ones invoiced, up to the step `through` (confirmed,
    fulfilled or invoiced); orders already past it are left as they are. The rules of confirm_order,
    fulfil_order and invoice_order, in one transaction and set-based:

    - the orders are locked in id order, then every product's valuation row and level rows, in the order single
      writers take them;
    - confirming checks each (product, location)'s units wanted against what is on hand and not reserved by
      other confirmed orders: if any is short at a location without backorders nothing is written (Conflict
      listing up to 10 shortfalls);
    - fulfilling takes each product's lines in order id order from its pool at the weighted average (rules.issue,
      as one move after another would, so each line's cost is what fulfil_order would give it), writes one sale
      move a line (one COPY on PostgreSQL) and updates each level and valuation once; crossing a reorder point
      records its event;
    - the ledger gets one summary entry for the batch's cost of goods sold (Dr 5300 / Cr 1300) and one for its
      counter invoices (Dr 1210 Shop counter receivable / Cr 4400 Shop sales + Cr 2310 GST collected), as a
      point-of-sale session's closing posts its day's orders (Odoo's POS posts one entry a session); the orders
      and their lines and moves keep the detail, and each move and order names its batch entry. A family's order
      is charged to its account with its own fees invoice (invoice_order).

    Raises InvalidInput (1..MAX_BATCH ids, a step, orders of two currencies, `on` before an order's date),
    NotFound (an id) and Conflict (a cancelled order; out of stock)."""
    if through not in STEPS:
        raise InvalidInput(f"through {through!r} is not a step; use one of {', '.join(STEPS)}", field="through")
    if not 1 <= len(order_ids) <= MAX_BATCH:
        raise InvalidInput(f"give 1 to {MAX_BATCH} order ids, not {len(order_ids)}", field="order_ids")
    orders = await repo.lock_orders(session, order_ids)
    missing = sorted(set(order_ids) - {order.id for order in orders})
    if missing:
        raise NotFound(f"no sales order with id {missing[0]}; list_sales_orders shows them", field="order_ids")
    currencies = {order.currency for order in orders}
    if len(currencies) > 1:
        raise InvalidInput(f"the orders are in {', '.join(sorted(currencies))}; process one currency at a time",
                           field="order_ids")
    for order in orders:
        if order.status == Status.CANCELLED.value:
            raise Conflict(f"sales order {order.order_number} is cancelled", field="order_ids")
        if on < order.order_date:
            raise InvalidInput(f"on {on} is before the date of order {order.order_number} ({order.order_date})",
                               field="on")
    goal = STEPS.index(through)
    to_confirm = [o for o in orders if o.status == Status.DRAFT.value]
    to_fulfil = [o for o in orders if o.status in (Status.DRAFT.value, Status.CONFIRMED.value)] if goal >= 1 else []
    to_invoice = ([o for o in orders if o.status in (Status.DRAFT.value, Status.CONFIRMED.value,
                                                      Status.FULFILLED.value)] if goal >= 2 else [])
    lines = await repo.line_tuples(session, [o.id for o in to_confirm + to_fulfil])
    by_order: dict[int, list[tuple[int, int, int, int]]] = {}
    for line in lines:
        by_order.setdefault(line[1], []).append(line)
    location_of = {o.id: o.location_id for o in orders}
    pairs = {(line[2], location_of[line[1]]) for line in lines}
    valuations = await repo.lock_valuations(session, [p for p, _ in pairs])
    levels = await repo.lock_level_pairs(session, list(pairs))
    locations = {loc.id: loc for loc in await repo.locations(session)}
    products = await repo.products_by_ids(session, [p for p, _ in pairs])
    if to_confirm:
        await _check_available(session, to_confirm, by_order, levels=levels, locations=locations, products=products)
    steps: dict[int, dict[str, Any]] = {o.id: {"id": o.id, "status": Status.CONFIRMED.value, "confirmed_on": on}
                                        for o in to_confirm}
    cost, moved, cost_entry = 0, 0, None
    if to_fulfil:
        cost, moved, cost_entry = await _fulfil_many(session, actor, to_fulfil, by_order, on=on,
                                                     valuations=valuations, levels=levels, locations=locations,
                                                     products=products)
        for order in to_fulfil:
            steps.setdefault(order.id, {"id": order.id})
            steps[order.id] |= {"status": Status.FULFILLED.value, "fulfilled_on": on}
    counter = [o for o in to_invoice if o.customer_kind != CustomerKind.FAMILY.value]
    sold, sales_entry = await _invoice_many(session, actor, counter, on=on, steps=steps) if counter else (0, None)
    await repo.set_order_steps(session, list(steps.values()))
    for order in to_invoice:
        if order.customer_kind == CustomerKind.FAMILY.value:  # charged through fees: an invoice each
            await invoice_order(session, actor, order_id=order.id, on=on, due_date=due_date)
            sold += order.total_minor
    await append_audit(session, actor, tool="inventory.process_sales_orders", event="sales_orders_processed",
                       arguments={"order_ids": len(order_ids), "on": on.isoformat(), "through": through},
                       entity="inventory_sales_orders", entity_id=orders[0].id,
                       after={"confirmed": len(to_confirm), "fulfilled": len(to_fulfil),
                              "invoiced": len(to_invoice), "lines": moved, "cost_minor": cost,
                              "cost_entry_id": cost_entry, "sales_entry_id": sales_entry})
    return ProcessedOrders(currency=orders[0].currency, confirmed=[o.id for o in to_confirm],
                           fulfilled=[o.id for o in to_fulfil], invoiced=[o.id for o in to_invoice], lines=moved,
                           cost_minor=cost, sales_minor=sold, cost_entry_id=cost_entry, sales_entry_id=sales_entry)


async def _check_available(session: AsyncSession, orders: Sequence[repo.OrderRow],
                           by_order: Mapping[int, list[tuple[int, int, int, int]]], *,
                           levels: Mapping[tuple[int, int], Any], locations: Mapping[int, Location],
                           products: Mapping[int, Product]) -> None:
    """Raise Conflict unless every (product, location) holds the units these drafts want, unreserved."""
    wanted: dict[tuple[int, int], int] = {}
    for order in orders:
        for _, _, product_id, quantity in by_order.get(order.id, []):
            key = (product_id, order.location_id)
            wanted[key] = wanted.get(key, 0) + quantity
    reserved = await repo.reserved_by_level(session, sorted({p for p, _ in wanted}))
    short = []
    for (product_id, location_id), units in sorted(wanted.items()):
        if locations[location_id].allow_backorders:
            continue
        available = levels[(product_id, location_id)].on_hand - reserved.get((product_id, location_id), 0)
        if units > available:
            short.append(f"{products[product_id].sku} at {locations[location_id].code}: {max(available, 0)} "
                         f"available, {units} wanted")
    if short:
        raise Conflict(f"out of stock: {'; '.join(short[:10])}{' ...' if len(short) > 10 else ''}; nothing was "
                       "confirmed", field="order_ids", details={"short": len(short)})


def _span(orders: Sequence[repo.OrderRow]) -> str:
    return (f"{len(orders)} sales order(s) {orders[0].order_number}"
            f"{'..' + orders[-1].order_number if len(orders) > 1 else ''}")


async def _fulfil_many(session: AsyncSession, actor: Actor, orders: Sequence[repo.OrderRow],
                       by_order: Mapping[int, list[tuple[int, int, int, int]]], *, on: dt.date,
                       valuations: Mapping[int, Any], levels: Mapping[tuple[int, int], Any],
                       locations: Mapping[int, Location], products: Mapping[int, Product]
                       ) -> tuple[int, int, int | None]:
    """Fulfil locked orders at once (process_orders); return (cost of goods sold, lines moved, its entry)."""
    pools = {pid: Pool(v.quantity, v.value_minor, v.last_unit_cost_minor) for pid, v in valuations.items()}
    on_hand = {key: level.on_hand for key, level in levels.items()}
    before = dict(on_hand)
    costs: list[tuple[int, int]] = []
    moves: list[tuple[int, int, int, int, int]] = []  # (order id, location id, product id, quantity, value taken)
    issue = rules.issue
    for order in orders:  # in order id order: each product's lines leave its pool as one move after another would
        for line_id, order_id, product_id, quantity in by_order.get(order.id, []):
            key = (product_id, order.location_id)
            if on_hand[key] < quantity and not locations[order.location_id].allow_backorders:
                raise stock._out_of_stock(products[product_id], locations[order.location_id], on_hand[key],
                                          quantity)
            on_hand[key] -= quantity
            pools[product_id], taken = issue(pools[product_id], quantity)
            costs.append((line_id, taken))
            moves.append((order_id, order.location_id, product_id, quantity, taken))
    total = sum(taken for *_, taken in moves)
    entry = None
    if total:
        accounts = await stock.inventory_accounts(session, actor, orders[0].currency)
        debit, credit = ((accounts["cogs"], accounts["inventory"]) if total > 0
                         else (accounts["inventory"], accounts["cogs"]))
        key = f"sales_orders:{uuid.uuid4().hex}:cogs"
        posted = await finance.post_entries(session, actor, [finance.EntryRequest(
            date=on, memo=f"Cost of goods sold: {_span(orders)}",
            lines=[LineInput(account_id=debit, debit=abs(total)), LineInput(account_id=credit, credit=abs(total))],
            source="sales_orders:batch", idempotency_key=key)], batch="inventory.process_sales_orders")
        entry = posted[key]
    now, by = utcnow(), actor.id or None
    numbers = {o.id: o.order_number for o in orders}
    div = rules.div_half_up
    columns = ("product_id", "kind", "from_location_id", "to_location_id", "quantity", "unit_cost_minor",
               "value_minor", "on_date", "reason", "source", "entry_id", "created_by", "created_at")
    records = [(product_id, "sale", location_id, None, quantity, div(taken, quantity), -taken, on,
                f"sales order {numbers[order_id]}", f"sales_order:{order_id}", entry if taken else None, by, now)
               for order_id, location_id, product_id, quantity, taken in moves]
    await bulk_insert_records(session, StockMove.__table__, columns, records)  # type: ignore[attr-defined]
    for product_id, pool in pools.items():
        valuations[product_id].quantity, valuations[product_id].value_minor = pool.quantity, pool.value
    for key, units in on_hand.items():
        levels[key].on_hand = units
    await repo.set_summaries(session, list(levels.values()), list(valuations.values()))
    await repo.set_line_costs(session, costs)
    points = await repo.reorder_points_of(session, list(levels))
    for key, point in points.items():
        after = on_hand[key]
        if after < point.minimum <= before[key]:
            await outbox.record(session, StockBelowReorderPoint(
                product_id=key[0], sku=products[key[0]].sku, location=locations[key[1]].code, on_hand=after,
                minimum=point.minimum, reorder_to=point.reorder_to,
                to_order=rules.reorder_quantity(after, point.minimum, point.reorder_to)))
    return total, len(moves), entry


async def _invoice_many(session: AsyncSession, actor: Actor, orders: Sequence[repo.OrderRow], *, on: dt.date,
                        steps: dict[int, dict[str, Any]]) -> tuple[int, int | None]:
    """Post the counter orders' tax invoices as one summary entry (process_orders); return (their total, the
    entry)."""
    total = gst = 0
    for order in orders:
        step = steps.setdefault(order.id, {"id": order.id})
        step["invoiced_on"] = on
        if order.total_minor == 0:
            step |= {"status": Status.PAID.value, "paid_on": on}
        else:
            step["status"] = Status.INVOICED.value
            total, gst = total + order.total_minor, gst + order.gst_minor
    if not total:
        return 0, None
    accounts = await sales_accounts(session, actor, orders[0].currency)
    lines = [LineInput(account_id=accounts["counter"], debit=total)]
    if total - gst:
        lines.append(LineInput(account_id=accounts["sales"], credit=total - gst))
    if gst:
        lines.append(LineInput(account_id=accounts["gst"], credit=gst))
    key = f"sales_orders:{uuid.uuid4().hex}:invoice"
    posted = await finance.post_entries(session, actor, [finance.EntryRequest(
        date=on, memo=f"Tax invoices: {_span(orders)}", lines=lines, source="sales_orders:batch",
        idempotency_key=key)], batch="inventory.process_sales_orders")
    for order in orders:
        if order.total_minor:
            steps[order.id]["invoice_entry_id"] = posted[key]
    return total, posted[key]


async def open_order_ids(session: AsyncSession, *, order_date: dt.date, location: str | None = None) -> list[int]:
    """The ids of the draft, confirmed and fulfilled orders dated `order_date` (at a location), in id order.
    Raises NotFound (location) and InvalidInput (more than MAX_BATCH: give their ids in parts)."""
    loc = await stock.get_location(session, location) if location is not None else None
    ids = await repo.open_order_ids(session, order_date=order_date, location_id=loc.id if loc else None,
                                    limit=MAX_BATCH)
    if len(ids) > MAX_BATCH:
        raise InvalidInput(f"more than {MAX_BATCH} open orders are dated {order_date}; give order_ids in parts",
                           field="order_date")
    return ids
