"""Inventory use cases: products and their variants and prices, locations, stock moves valued at weighted
average cost and posted to the ledger, stock levels, reorder points and stocktakes. The only module of inventory
other contexts import (sales orders and purchasing, in later slices of issue 22, move stock through `record_sale`,
`record_return` and `record_receipt`).

Stock moves are the only way stock changes (`_move`): each locks its product's valuation row and its level rows
(repository), refuses to take a location below 0 units unless the location allows backorders (Conflict "out of
stock: N on hand at SHOP"), writes the move, updates the summaries in the same transaction, and posts the value it
changed as one balanced journal entry through domain.finance.service (idempotency key "inventory_move:<id>"), and
records inventory.StockBelowReorderPoint (events.py) when it takes a location below its reorder point:

| move        | debit                    | credit                   | value                           |
|-------------|--------------------------|--------------------------|---------------------------------|
| receipt     | 1300 Inventory           | 2160 Goods received not invoiced | quantity x unit cost    |
| sale        | 5300 Cost of goods sold  | 1300 Inventory           | at the weighted average         |
| return      | 1300 Inventory           | 5300 Cost of goods sold  | at the weighted average         |
| adjustment  | 1300 / 5310 Inventory adjustments and shrinkage (by sign)  | at the weighted average |
| transfer    | nothing: the value stays | -                        | 0                               |

A move worth 0 posts nothing. The weighted average and its rounding: domain/inventory/rules.py (AASB 102 paras
25, 27): the pool's value changes by exactly what is posted, so the inventory's value equals the balance of 1300
(for products of the accounts' currency) after every move.

Units: quantities are integer units (1..rules.MAX_QUANTITY a move); money is integer minor units of the product's
currency. Errors: NotFound (sku, location, stocktake_id), InvalidInput (a rule, naming the field), Conflict (out of
stock, a SKU or code taken, a template moved, an inactive product received, a stocktake already applied).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import service as finance
from domain.inventory import repository as repo
from domain.inventory import rules
from domain.inventory.events import StockBelowReorderPoint
from domain.inventory.models import (
    Location,
    LocationKind,
    MoveKind,
    PriceList,
    Product,
    ProductPrice,
    ReorderPoint,
    StockMove,
    Stocktake,
    StocktakeStatus,
    TaxCode,
)
from domain.inventory.rules import Pool
from domain.kernel import money, outbox
from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound
from domain.kernel.models import bump
from domain.kernel.plan import ApplyContext, register_effect

INVENTORY_ACCOUNTS = {
    "inventory": ("1300", "Inventory", "asset"),
    "grni": ("2160", "Goods received not invoiced", "liability"),
    "cogs": ("5300", "Cost of goods sold", "expense"),
    "shrinkage": ("5310", "Inventory adjustments and shrinkage", "expense"),
}
MAX_SOURCE = 80
MAX_REASON = 200


def _text(value: str | None, *, field: str, max_length: int) -> str:
    text = (value or "").strip()
    if not text or len(text) > max_length or any(ord(ch) < 32 for ch in text):
        raise InvalidInput(f"{field} must be 1 to {max_length} characters on one line", field=field)
    return text


# ---------------------------------------------------------------- accounts


async def inventory_accounts(session: AsyncSession, actor: Actor, currency: str) -> dict[str, int]:
    """The ids of the inventory accounts (INVENTORY_ACCOUNTS), creating the missing ones in `currency`; raises
    InvalidInput when one exists in another currency."""
    return await finance.ensure_accounts(
        session, actor, INVENTORY_ACCOUNTS, currency,
        mismatch="not {currency}; stock is valued in the currency of the inventory accounts ({account_currency})")


async def inventory_value(session: AsyncSession, currency: str) -> int:
    """The value of every product kept in `currency` (minor units): what account 1300 must hold."""
    return await repo.total_value(session, money.parse_currency(currency))


# ---------------------------------------------------------------- products


@dataclass(frozen=True)
class VariantSpec:
    """A variant of a new template: its SKU, its attribute values ({"size": "10"}) and its prices (the
    template's when None)."""

    sku: str
    attributes: Mapping[str, str]
    prices: Mapping[str, int] | None = None


@dataclass(frozen=True)
class ProductView:
    """A product with its prices ({price list: minor units}) and, for a template, its variants."""

    product: Product
    prices: dict[str, int]
    variants: list[Product]
    variant_prices: dict[int, dict[str, int]]


def _check_prices(prices: Mapping[str, int], *, field: str) -> dict[str, int]:
    known = [p.value for p in PriceList]
    out = {}
    for name, amount in prices.items():
        if name not in known:
            raise InvalidInput(f"{field}: unknown price list {name!r}; the price lists are {', '.join(known)}",
                               field=field)
        out[name] = rules.check_price(amount, field=f"{field}.{name}")
    return out


def _attributes(values: Mapping[str, str], *, field: str) -> str:
    if not values:
        raise InvalidInput(f"{field}: a variant names at least one attribute value, e.g. {{\"size\": \"10\"}}",
                           field=field)
    clean = {_text(k, field=field, max_length=30).lower(): _text(v, field=field, max_length=30)
             for k, v in values.items()}
    text = json.dumps(clean, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if len(text) > 500:
        raise InvalidInput(f"{field}: attributes take at most 500 characters", field=field)
    return text


async def create_product(session: AsyncSession, actor: Actor, *, sku: str, name: str, category: str, unit: str,
                         tax_code: str, currency: str, prices: Mapping[str, int],
                         variants: Sequence[VariantSpec] = ()) -> ProductView:
    """Create a product and return it. With `variants` it is a template (no stock of its own) and each variant is a
    product with its own SKU, attribute values and prices (the template's unless given), e.g. a blazer in sizes 6
    to 16. `prices`: GST-inclusive sale prices by price list (families, staff) in minor units of `currency`;
    `tax_code` GST or GST_FREE (rules.GST_SOURCES). Raises InvalidInput (a rule; more than rules.MAX_VARIANTS
    variants; two variants with the same attribute values) and Conflict (a SKU taken)."""
    code = rules.check_sku(sku)
    clean_name = _text(name, field="name", max_length=120)
    clean_category = _text(category, field="category", max_length=60)
    clean_unit = _text(unit, field="unit", max_length=20)
    if tax_code not in {t.value for t in TaxCode}:
        raise InvalidInput(f"tax_code {tax_code!r} is unknown; use GST (10%) or GST_FREE", field="tax_code")
    cur = money.parse_currency(currency)
    base_prices = _check_prices(prices, field="prices")
    if len(variants) > rules.MAX_VARIANTS:
        raise InvalidInput(f"{len(variants)} variants; at most {rules.MAX_VARIANTS}", field="variants")
    specs = []
    for i, v in enumerate(variants):
        specs.append((rules.check_sku(v.sku, field=f"variants.{i}.sku"),
                      _attributes(v.attributes, field=f"variants.{i}.attributes"),
                      base_prices if v.prices is None else _check_prices(v.prices, field=f"variants.{i}.prices")))
    all_skus = [code] + [s[0] for s in specs]
    if len(set(all_skus)) != len(all_skus):
        raise InvalidInput("each SKU is used once: the template's and its variants' differ", field="variants")
    if len({s[1] for s in specs}) != len(specs):
        raise InvalidInput("two variants have the same attribute values", field="variants")
    taken = await repo.skus_taken(session, all_skus)
    if taken:
        raise Conflict(f"SKU {', '.join(sorted(taken))} is already used; list_products shows the products",
                       field="sku")
    template = Product(sku=code, name=clean_name, category=clean_category, unit=clean_unit, tax_code=tax_code,
                       currency=cur, is_template=bool(specs))
    session.add(template)
    try:
        await session.flush()
        rows = []
        for variant_sku, attrs, variant_prices in specs:
            shown = ", ".join(f"{v}" for v in json.loads(attrs).values())
            row = Product(sku=variant_sku, name=f"{clean_name} ({shown})"[:120], category=clean_category,
                          unit=clean_unit, tax_code=tax_code, currency=cur, template_id=template.id,
                          attributes=attrs)
            session.add(row)
            rows.append((row, variant_prices))
        await session.flush()
    except IntegrityError:
        raise Conflict(f"SKU {code} or one of its variants' was taken meanwhile; try again", field="sku") from None
    for product, product_prices in [(template, base_prices), *rows]:
        for list_name, amount in product_prices.items():
            session.add(ProductPrice(product_id=product.id or 0, price_list=list_name, amount_minor=amount))
    await session.flush()
    return await product_view(session, template)


async def product_view(session: AsyncSession, product: Product) -> ProductView:
    """The product with its prices and variants."""
    variants = await repo.variants_of(session, product.id or 0) if product.is_template else []
    prices = await repo.prices_of(session, [product.id or 0, *(v.id or 0 for v in variants)])
    return ProductView(product=product, prices=prices.get(product.id or 0, {}), variants=variants,
                       variant_prices={v.id or 0: prices.get(v.id or 0, {}) for v in variants})


async def get_product(session: AsyncSession, sku: str, *, field: str = "sku") -> Product:
    """Return the live product of a SKU (any case) or id; raises NotFound naming `field`."""
    text = str(sku).strip()
    row = await repo.product_by_sku(session, text.upper())
    if row is None and text.isdigit():
        row = await repo.get_product(session, int(text))
    if row is None:
        raise NotFound(f"{field}: no product has the SKU {sku!r}; list_products shows them", field=field)
    return row


async def list_products(session: AsyncSession, *, after_id: int, limit: int, category: str | None = None,
                        query: str | None = None, active: bool | None = None,
                        template_id: int | None = None) -> list[Product]:
    """Return up to `limit + 1` live products after `after_id` in id order: of a category, with `query` in the SKU
    or name (case-insensitive), active or not, the variants of a template."""
    return await repo.list_products(session, after_id=after_id, limit=limit, category=category, query=query,
                                    active=active, template_id=template_id)


async def prices_of(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{product id: {price list: minor units}}."""
    return await repo.prices_of(session, product_ids)


# ---------------------------------------------------------------- locations


async def create_location(session: AsyncSession, actor: Actor, *, code: str, name: str, kind: str,
                          allow_backorders: bool = False) -> Location:
    """Create a stock location (kind shop or store_room) and return it; `allow_backorders` lets its on hand go
    below 0. Raises InvalidInput (a rule) and Conflict (the code is taken)."""
    clean = rules.check_location_code(code)
    if kind not in {k.value for k in LocationKind}:
        raise InvalidInput(f"kind {kind!r} is unknown; use shop or store_room", field="kind")
    if await repo.location_by_code(session, clean) is not None:
        raise Conflict(f"location code {clean} is already used; list_locations shows them", field="code")
    row = Location(code=clean, name=_text(name, field="name", max_length=120), kind=kind,
                   allow_backorders=allow_backorders)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(f"location code {clean} was taken meanwhile", field="code") from None
    return row


async def get_location(session: AsyncSession, code: str, *, field: str = "location") -> Location:
    """Return the live location of a code (any case); raises NotFound naming `field` and the known codes."""
    row = await repo.location_by_code(session, str(code).strip().upper())
    if row is None:
        known = ", ".join(loc.code for loc in await repo.locations(session)) or "none yet (create_location)"
        raise NotFound(f"{field}: no location has the code {code!r}; the locations are {known}", field=field)
    return row


async def list_locations(session: AsyncSession) -> list[Location]:
    """Return every live location in id order."""
    return await repo.locations(session)


# ---------------------------------------------------------------- stock moves


def _check_movable(product: Product, *, field: str = "sku") -> None:
    if product.is_template:
        raise Conflict(f"{product.sku} is a template and holds no stock; move one of its variants (get_product "
                       "lists them)", field=field)


def _out_of_stock(product: Product, location: Location, on_hand: int, wanted: int, reserved: int = 0) -> Conflict:
    held = f", {reserved} of them reserved by confirmed sales orders" if reserved else ""
    return Conflict(f"out of stock: {on_hand} on hand of {product.sku} at {location.code}{held}, {wanted} wanted; "
                    f"{location.code} does not allow backorders", field="quantity",
                    details={"on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved,
                             "wanted": wanted, "sku": product.sku, "location": location.code})


async def _move(session: AsyncSession, actor: Actor, *, product: Product, kind: MoveKind,
                from_location: Location | None, to_location: Location | None, quantity: int,
                unit_cost: int | None, reason: str, source: str, on: date, order_id: int | None = None,
                check_reserved: bool = True) -> StockMove:
    """Write one stock move with its summaries and its journal entry (see the module docstring). Units leaving a
    location without backorders must be on hand and not reserved by confirmed sales orders (but `order_id`'s own,
    which its fulfilment takes); an adjustment (`check_reserved` False) records a count, which no reservation
    outranks."""
    _check_movable(product)
    rules.check_quantity(quantity)
    clean_reason = _text(reason, field="reason", max_length=MAX_REASON)
    clean_source = _text(source, field="source", max_length=MAX_SOURCE)
    value = 0
    if kind is not MoveKind.TRANSFER:
        valuation = await repo.lock_valuation(session, product.id or 0)
        pool = Pool(valuation.quantity, valuation.value_minor, valuation.last_unit_cost_minor)
        if kind is MoveKind.RECEIPT:
            pool, value = rules.receive(pool, quantity, rules.check_unit_cost(unit_cost or 0))
        elif to_location is not None:  # a return, a count above the books
            pool, value = rules.restore(pool, quantity)
        else:  # a sale, a count below the books
            pool, taken = rules.issue(pool, quantity)
            value = -taken
    locations = [loc for loc in (from_location, to_location) if loc is not None]
    levels = await repo.lock_levels(session, product.id or 0, [loc.id or 0 for loc in locations])
    if from_location is not None:
        held = levels[from_location.id or 0].on_hand
        if not from_location.allow_backorders:
            taken = (await repo.reserved(session, product.id or 0, from_location.id or 0, except_order_id=order_id)
                     if check_reserved else 0)
            if held - taken < quantity:
                raise _out_of_stock(product, from_location, held, quantity, taken)
        levels[from_location.id or 0].on_hand = held - quantity
        await _alert_below_reorder_point(session, product, from_location, before=held, after=held - quantity)
    if to_location is not None:
        levels[to_location.id or 0].on_hand += quantity
    for level in levels.values():
        session.add(level)
    if kind is not MoveKind.TRANSFER:
        valuation.quantity, valuation.value_minor = pool.quantity, pool.value
        valuation.last_unit_cost_minor = pool.last_unit_cost
        session.add(valuation)
    shown_cost = (unit_cost or 0) if kind is MoveKind.RECEIPT else rules.div_half_up(abs(value), quantity)
    move = StockMove(
        id=await repo.new_move_id(session), product_id=product.id or 0, kind=kind.value,
        from_location_id=from_location.id if from_location else None,
        to_location_id=to_location.id if to_location else None, quantity=quantity, unit_cost_minor=shown_cost,
        value_minor=value, on_date=on, reason=clean_reason, source=clean_source, created_by=actor.id or None)
    if value:
        move.entry_id = await _post(session, actor, product=product, move=move, value=value)
    return await repo.insert_move(session, move)


async def _alert_below_reorder_point(session: AsyncSession, product: Product, location: Location, *, before: int,
                                     after: int) -> None:
    """Record inventory.StockBelowReorderPoint when this move crosses the location's reorder point downwards."""
    point = await repo.reorder_point(session, product.id or 0, location.id or 0)
    if point is None or not after < point.minimum <= before:
        return
    await outbox.record(session, StockBelowReorderPoint(
        product_id=product.id or 0, sku=product.sku, location=location.code, on_hand=after, minimum=point.minimum,
        reorder_to=point.reorder_to, to_order=rules.reorder_quantity(after, point.minimum, point.reorder_to)))


async def _post(session: AsyncSession, actor: Actor, *, product: Product, move: StockMove, value: int) -> int:
    accounts = await inventory_accounts(session, actor, product.currency)
    other = {MoveKind.RECEIPT.value: "grni", MoveKind.SALE.value: "cogs", MoveKind.RETURN.value: "cogs",
             MoveKind.ADJUSTMENT.value: "shrinkage"}[move.kind]
    amount = abs(value)
    inventory_line = {"account_id": accounts["inventory"], "debit" if value > 0 else "credit": amount}
    other_line = {"account_id": accounts[other], "credit" if value > 0 else "debit": amount}
    posted = await finance.post_entry(
        session, actor, date=move.on_date, memo=f"Stock {move.kind} of {move.quantity} {product.sku}: {move.reason}",
        lines=[inventory_line, other_line], source=f"inventory_move:{move.id}",
        idempotency_key=f"inventory_move:{move.id}", currency=product.currency)
    return posted.id


async def record_receipt(session: AsyncSession, actor: Actor, *, sku: str, location: str, quantity: int,
                         unit_cost_minor: int, on: date, reason: str = "goods received",
                         source: str = "receipt") -> StockMove:
    """Receive `quantity` units of an active product into a location at `unit_cost_minor` (minor units of the
    product's currency, before GST): re-averages its cost and posts Dr 1300 Inventory / Cr 2160 Goods received
    not invoiced. Raises NotFound (sku, location), InvalidInput, Conflict (a template; an inactive product)."""
    product = await get_product(session, sku)
    if not product.active:
        raise Conflict(f"{product.sku} is inactive and is not received", field="sku")
    return await _move(session, actor, product=product, kind=MoveKind.RECEIPT, from_location=None,
                       to_location=await get_location(session, location), quantity=quantity,
                       unit_cost=unit_cost_minor, reason=reason, source=source, on=on)


async def record_sale(session: AsyncSession, actor: Actor, *, sku: str, location: str, quantity: int, on: date,
                      reason: str = "sold", source: str = "sale", order_id: int | None = None) -> StockMove:
    """Take `quantity` sold units out of a location at the weighted average cost: Dr 5300 COGS / Cr 1300.
    Raises Conflict "out of stock: N on hand" unless the location holds them, not reserved by confirmed sales
    orders other than `order_id` (the order this sale fulfils), or allows backorders."""
    return await _move(session, actor, product=await get_product(session, sku), kind=MoveKind.SALE,
                       from_location=await get_location(session, location), to_location=None, quantity=quantity,
                       unit_cost=None, reason=reason, source=source, on=on, order_id=order_id)


async def record_return(session: AsyncSession, actor: Actor, *, sku: str, location: str, quantity: int, on: date,
                        reason: str = "returned", source: str = "return") -> StockMove:
    """Put `quantity` returned units back into a location at the weighted average cost: Dr 1300 / Cr 5300."""
    return await _move(session, actor, product=await get_product(session, sku), kind=MoveKind.RETURN,
                       from_location=None, to_location=await get_location(session, location), quantity=quantity,
                       unit_cost=None, reason=reason, source=source, on=on)


async def transfer_stock(session: AsyncSession, actor: Actor, *, sku: str, from_location: str, to_location: str,
                         quantity: int, on: date, reason: str = "transfer") -> StockMove:
    """Move `quantity` units between two locations; the value is unchanged and nothing is posted. Raises
    InvalidInput (the same location twice) and Conflict (out of stock at the source)."""
    source_location = await get_location(session, from_location, field="from_location")
    target = await get_location(session, to_location, field="to_location")
    if source_location.id == target.id:
        raise InvalidInput("from_location and to_location are the same location", field="to_location")
    return await _move(session, actor, product=await get_product(session, sku), kind=MoveKind.TRANSFER,
                       from_location=source_location, to_location=target, quantity=quantity, unit_cost=None,
                       reason=reason, source="transfer", on=on)


async def adjust_stock(session: AsyncSession, actor: Actor, *, sku: str, location: str, change: int, on: date,
                       reason: str, source: str = "adjustment") -> StockMove:
    """Add (change > 0) or remove (change < 0) units at a location at the weighted average cost, against 5310
    Inventory adjustments and shrinkage. Raises InvalidInput (change 0) and Conflict (out of stock)."""
    if isinstance(change, bool) or not isinstance(change, int) or change == 0:
        raise InvalidInput("change must be a non-zero whole number of units", field="change")
    loc = await get_location(session, location)
    return await _move(session, actor, product=await get_product(session, sku), kind=MoveKind.ADJUSTMENT,
                       from_location=loc if change < 0 else None, to_location=loc if change > 0 else None,
                       quantity=abs(change), unit_cost=None, reason=reason, source=source, on=on,
                       check_reserved=False)


# ---------------------------------------------------------------- stock


@dataclass(frozen=True)
class StockAt:
    """Units of a product at a location: on hand, and reserved by confirmed sales orders (derived from them)."""

    location: Location
    on_hand: int
    reserved: int = 0


@dataclass(frozen=True)
class ProductStock:
    """A product's units per location, in total, and their value (minor units; average rounded half up)."""

    product: Product
    locations: list[StockAt]
    quantity: int
    value: int
    average_cost: int | None


async def stock_of(session: AsyncSession, *, sku: str | None = None, location: str | None = None,
                   after_id: int = 0, limit: int = 50) -> list[ProductStock]:
    """Return the stock of one product (sku) or of up to `limit + 1` stocked products after `after_id`: units per
    location (of one location when given), the total over every location, its value and average cost. Raises
    NotFound (sku, location)."""
    loc = await get_location(session, location) if location is not None else None
    if sku is not None:
        products = [await get_product(session, sku)]
    else:
        products = await repo.list_products(session, after_id=after_id, limit=limit, category=None, query=None,
                                            active=None, template_id=None, stocked_only=True)
    ids = [p.id or 0 for p in products]
    by_location = {loc_row.id: loc_row for loc_row in await repo.locations(session)}
    levels = await repo.levels(session, product_ids=ids, location_id=loc.id if loc else None)
    vals = await repo.valuations(session, ids)
    reserved = await repo.reserved_by_level(session, ids)
    out = []
    for product in products:
        held = [StockAt(by_location[lv.location_id], lv.on_hand, reserved.get((lv.product_id, lv.location_id), 0))
                for lv in levels if lv.product_id == product.id]
        val = vals.get(product.id or 0)
        pool = Pool(val.quantity, val.value_minor, val.last_unit_cost_minor) if val else Pool(0, 0, 0)
        out.append(ProductStock(product=product, locations=held, quantity=pool.quantity, value=pool.value,
                                average_cost=pool.average))
    return out


async def on_hand_matches_moves(session: AsyncSession) -> list[str]:
    """Say where a stock level differs from the sum of its moves (an empty list: none does)."""
    sums = await repo.sums_of_moves(session)
    problems = []
    levels = {(lv.product_id, lv.location_id): lv.on_hand for lv in await repo.levels(session)}
    for key in sorted(set(sums) | set(levels)):
        if sums.get(key, 0) != levels.get(key, 0):
            problems.append(f"product {key[0]} at location {key[1]}: level {levels.get(key, 0)}, "
                            f"moves {sums.get(key, 0)}")
    return problems


# ---------------------------------------------------------------- reorder points


async def set_reorder_point(session: AsyncSession, actor: Actor, *, sku: str, location: str, minimum: int,
                            reorder_to: int) -> ReorderPoint:
    """Set when a product is reordered for a location: below `minimum` units, up to `reorder_to` (>= minimum).
    Raises NotFound, InvalidInput, Conflict (a template)."""
    product = await get_product(session, sku)
    _check_movable(product)
    loc = await get_location(session, location)
    rules.check_quantity(minimum, field="minimum", minimum=0)
    rules.check_quantity(reorder_to, field="reorder_to", minimum=1)
    if reorder_to < minimum:
        raise InvalidInput(f"reorder_to {reorder_to} is below minimum {minimum}", field="reorder_to")
    row = await repo.reorder_point(session, product.id or 0, loc.id or 0)
    if row is None:
        row = ReorderPoint(product_id=product.id or 0, location_id=loc.id or 0, minimum=minimum,
                           reorder_to=reorder_to)
    else:
        row.minimum, row.reorder_to = minimum, reorder_to
        bump(row)
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True)
class ReorderNeed:
    point: ReorderPoint
    product: Product
    location: Location
    on_hand: int
    to_order: int


async def reorder_needs(session: AsyncSession, *, location: str | None = None, after_id: int = 0,
                        limit: int = 50) -> list[ReorderNeed]:
    """Return up to `limit + 1` reorder points whose location holds fewer units than the minimum, with the units
    to order up to `reorder_to` (rules.reorder_quantity), in reorder point id order."""
    loc = await get_location(session, location) if location is not None else None
    rows = await repo.reorder_needs(session, location_id=loc.id if loc else None, after_id=after_id, limit=limit)
    by_location = {row.id: row for row in await repo.locations(session)}
    products = await repo.products_by_ids(session, [point.product_id for point, _ in rows])
    out = []
    for point, on_hand in rows:
        product = products[point.product_id]
        out.append(ReorderNeed(point, product, by_location[point.location_id], on_hand,
                               rules.reorder_quantity(on_hand, point.minimum, point.reorder_to)))
    return out


# ---------------------------------------------------------------- stocktakes


async def start_stocktake(session: AsyncSession, actor: Actor, *, location: str, on: date) -> Stocktake:
    """Open a stocktake of a location dated `on`; its counts are applied with record_stocktake (gated)."""
    loc = await get_location(session, location)
    row = Stocktake(location_id=loc.id or 0, on_date=on)
    session.add(row)
    await session.flush()
    return row


async def get_stocktake(session: AsyncSession, stocktake_id: int) -> Stocktake:
    """Return the stocktake; raises NotFound (stocktake_id)."""
    return await repo.get_stocktake_or_raise(session, stocktake_id)


@dataclass(frozen=True)
class CountLine:
    """One counted product: the units on the books, the units counted, the change and its value at the average
    (minor units; + a gain, - a loss)."""

    product: Product
    on_hand: int
    counted: int
    change: int
    value: int


async def count_lines(session: AsyncSession, *, stocktake: Stocktake,
                      counts: Sequence[tuple[str, int]]) -> list[CountLine]:
    """Compare counted units (sku, units) with the books at the stocktake's location. Raises InvalidInput (more
    than rules.MAX_COUNTS lines, a SKU twice, a count out of range), NotFound (a SKU), Conflict (a template; the
    stocktake applied already)."""
    if stocktake.status != StocktakeStatus.OPEN.value:
        raise Conflict(f"stocktake {stocktake.id} was applied already; start a new one", field="stocktake_id")
    if not 1 <= len(counts) <= rules.MAX_COUNTS:
        raise InvalidInput(f"give 1 to {rules.MAX_COUNTS} counts, not {len(counts)}", field="counts")
    products = []
    for i, (sku, counted) in enumerate(counts):
        product = await get_product(session, sku, field=f"counts.{i}.sku")
        _check_movable(product, field=f"counts.{i}.sku")
        rules.check_quantity(counted, field=f"counts.{i}.counted", minimum=0)
        products.append((product, counted))
    if len({p.id for p, _ in products}) != len(products):
        raise InvalidInput("a SKU is counted twice; give one line per product", field="counts")
    ids = [p.id or 0 for p, _ in products]
    held = {lv.product_id: lv.on_hand for lv in await repo.levels(session, product_ids=ids,
                                                                 location_id=stocktake.location_id)}
    vals = await repo.valuations(session, ids)
    out = []
    for product, counted in products:
        on_hand = held.get(product.id or 0, 0)
        change = counted - on_hand
        val = vals.get(product.id or 0)
        pool = Pool(val.quantity, val.value_minor, val.last_unit_cost_minor) if val else Pool(0, 0, 0)
        value = (rules.restore(pool, change)[1] if change > 0 else -rules.issue(pool, -change)[1]
                 if change < 0 else 0)
        out.append(CountLine(product, on_hand, counted, change, value))
    return out


STOCKTAKE = "inventory.stocktake"
"""The plan effect of a stocktake's adjustments (domain.kernel.plan.Effect), applied by apply_counts."""


async def apply_counts(session: AsyncSession, actor: Actor, *, stocktake_id: int,
                       changes: Sequence[Mapping[str, Any]]) -> Stocktake:
    """Write a stocktake's adjustments ({"sku", "change"}: units, + found, - missing) at its location, dated the
    stocktake's date, and mark it applied. Raises Conflict (applied already; out of stock cannot happen: a
    count is never below 0)."""
    stocktake = await repo.get_stocktake_or_raise(session, stocktake_id)
    if stocktake.status != StocktakeStatus.OPEN.value:
        raise Conflict(f"stocktake {stocktake_id} was applied already", field="stocktake_id")
    loc = await session.get(Location, stocktake.location_id)
    for line in changes:
        if line["change"]:
            await adjust_stock(session, actor, sku=line["sku"], location=loc.code if loc else "", change=line["change"],
                               on=stocktake.on_date, reason=f"stocktake {stocktake_id}",
                               source=f"stocktake:{stocktake_id}")
    stocktake.status = StocktakeStatus.APPLIED.value
    stocktake.applied_at = utcnow()
    bump(stocktake)
    session.add(stocktake)
    await session.flush()
    return stocktake


async def _apply_stocktake(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    row = await apply_counts(session, context.actor, stocktake_id=payload["stocktake_id"],
                             changes=payload["changes"])
    return row.id or 0


register_effect(STOCKTAKE, _apply_stocktake)
