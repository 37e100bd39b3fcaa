"""All SQL of the inventory context. Stock changes lock their summary rows: the product's valuation row, then its
level rows in location id order (one order for every writer, so two moves never wait on each other in a cycle),
with SELECT ... FOR UPDATE on PostgreSQL; SQLite's write transactions already run one at a time (BEGIN IMMEDIATE,
domain.kernel.db)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.inventory.models import (
    Location,
    Product,
    ProductPrice,
    ReorderPoint,
    SalesOrder,
    SalesOrderLine,
    SalesOrderStatus,
    SalesReturn,
    SalesReturnLine,
    StockLevel,
    StockMove,
    Stocktake,
    Valuation,
)
from domain.kernel.clock import utcnow
from domain.kernel.errors import NotFound


def _insert(session: AsyncSession):
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# ---------------------------------------------------------------- products


async def product_by_sku(session: AsyncSession, sku: str) -> Product | None:
    stmt = select(Product).where(Product.sku == sku, col(Product.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def get_product(session: AsyncSession, product_id: int) -> Product | None:
    row = await session.get(Product, product_id)
    return None if row is None or row.deleted_at is not None else row


async def skus_taken(session: AsyncSession, skus: Sequence[str]) -> list[str]:
    stmt = select(Product.sku).where(col(Product.sku).in_(list(skus)))
    return list((await session.exec(stmt)).all())


async def list_products(session: AsyncSession, *, after_id: int, limit: int, category: str | None,
                        query: str | None, active: bool | None, template_id: int | None,
                        stocked_only: bool = False) -> list[Product]:
    """Up to `limit + 1` live products after `after_id` in id order (`stocked_only`: no templates)."""
    stmt = select(Product).where(col(Product.deleted_at).is_(None), col(Product.id) > after_id)
    if category is not None:
        stmt = stmt.where(func.lower(Product.category) == category.lower())
    if query is not None:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(Product.sku).like(like), func.lower(Product.name).like(like)))
    if active is not None:
        stmt = stmt.where(Product.active == active)
    if template_id is not None:
        stmt = stmt.where(Product.template_id == template_id)
    if stocked_only:
        stmt = stmt.where(col(Product.is_template).is_(False))
    return list((await session.exec(stmt.order_by(col(Product.id)).limit(limit + 1))).all())


async def products_by_ids(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Product]:
    if not product_ids:
        return {}
    stmt = select(Product).where(col(Product.id).in_(sorted(set(product_ids))))
    return {row.id or 0: row for row in (await session.exec(stmt)).all()}


async def variants_of(session: AsyncSession, template_id: int) -> list[Product]:
    stmt = (select(Product).where(Product.template_id == template_id, col(Product.deleted_at).is_(None))
            .order_by(col(Product.id)))
    return list((await session.exec(stmt)).all())


async def prices_of(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """{product id: {price list: amount}} for these products."""
    out: dict[int, dict[str, int]] = {pid: {} for pid in product_ids}
    if not product_ids:
        return out
    stmt = select(ProductPrice).where(col(ProductPrice.product_id).in_(list(product_ids)))
    for row in (await session.exec(stmt)).all():
        out.setdefault(row.product_id, {})[row.price_list] = row.amount_minor
    return out


# ---------------------------------------------------------------- locations


async def location_by_code(session: AsyncSession, code: str) -> Location | None:
    stmt = select(Location).where(Location.code == code, col(Location.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def locations(session: AsyncSession) -> list[Location]:
    stmt = select(Location).where(col(Location.deleted_at).is_(None)).order_by(col(Location.id))
    return list((await session.exec(stmt)).all())


# ---------------------------------------------------------------- stock


async def lock_valuation(session: AsyncSession, product_id: int) -> Valuation:
    """The product's valuation row, created when missing and locked for this transaction."""
    table = Valuation.__table__  # type: ignore[attr-defined]
    await session.exec(_insert(session)(table).values(  # type: ignore[call-overload]
        product_id=product_id, quantity=0, value_minor=0, last_unit_cost_minor=0).on_conflict_do_nothing())
    stmt = (select(Valuation).where(Valuation.product_id == product_id)
            .with_for_update().execution_options(populate_existing=True))
    return (await session.exec(stmt)).one()


async def lock_levels(session: AsyncSession, product_id: int, location_ids: Sequence[int]) -> dict[int, StockLevel]:
    """{location id: level row} of the product at these locations, created when missing, locked in location id
    order for this transaction."""
    table = StockLevel.__table__  # type: ignore[attr-defined]
    out = {}
    for location_id in sorted(set(location_ids)):
        await session.exec(_insert(session)(table).values(  # type: ignore[call-overload]
            product_id=product_id, location_id=location_id, on_hand=0).on_conflict_do_nothing())
        stmt = (select(StockLevel).where(StockLevel.product_id == product_id, StockLevel.location_id == location_id)
                .with_for_update().execution_options(populate_existing=True))
        out[location_id] = (await session.exec(stmt)).one()
    return out


async def valuations(session: AsyncSession, product_ids: Sequence[int] | None = None) -> dict[int, Valuation]:
    stmt = select(Valuation)
    if product_ids is not None:
        stmt = stmt.where(col(Valuation.product_id).in_(list(product_ids)))
    return {row.product_id: row for row in (await session.exec(stmt)).all()}


async def levels(session: AsyncSession, *, product_ids: Sequence[int] | None = None,
                 location_id: int | None = None) -> list[StockLevel]:
    stmt = select(StockLevel)
    if product_ids is not None:
        stmt = stmt.where(col(StockLevel.product_id).in_(list(product_ids)))
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    return list((await session.exec(stmt.order_by(col(StockLevel.product_id), col(StockLevel.location_id)))).all())


async def new_move_id(session: AsyncSession) -> int:
    """The id the next stock move will have, so that its journal entry can name it before the move (immutable: a
    trigger refuses UPDATE and DELETE) is inserted with its entry's id. PostgreSQL: the id column's sequence;
    SQLite: the largest id + 1, safe because SQLite's write transactions run one at a time (BEGIN IMMEDIATE)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        return int((await conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('inventory_moves', 'id'))"))).scalar_one())
    return int((await conn.execute(text("SELECT coalesce(max(id), 0) + 1 FROM inventory_moves"))).scalar_one())


async def insert_move(session: AsyncSession, move: StockMove) -> StockMove:
    session.add(move)
    await session.flush()
    return move


async def sums_of_moves(session: AsyncSession) -> dict[tuple[int, int], int]:
    """{(product id, location id): units in less units out} over every move (what the levels must equal)."""
    out: dict[tuple[int, int], int] = {}
    for column, sign in ((StockMove.to_location_id, 1), (StockMove.from_location_id, -1)):
        stmt = (select(StockMove.product_id, column, func.sum(StockMove.quantity))
                .where(col(column).is_not(None)).group_by(StockMove.product_id, column))
        for product_id, location_id, total in (await session.exec(stmt)).all():  # type: ignore[call-overload]
            key = (int(product_id), int(location_id))
            out[key] = out.get(key, 0) + sign * int(total)
    return out


async def total_value(session: AsyncSession, currency: str) -> int:
    """The value of every product of `currency` (minor units)."""
    stmt = (select(func.coalesce(func.sum(Valuation.value_minor), 0))
            .join(Product, Product.id == Valuation.product_id).where(Product.currency == currency))
    return int((await session.exec(stmt)).one())


# ---------------------------------------------------------------- reorder points and stocktakes


async def reorder_point(session: AsyncSession, product_id: int, location_id: int) -> ReorderPoint | None:
    stmt = select(ReorderPoint).where(ReorderPoint.product_id == product_id, ReorderPoint.location_id == location_id,
                                      col(ReorderPoint.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def reorder_needs(session: AsyncSession, *, location_id: int | None, after_id: int,
                        limit: int) -> list[tuple[ReorderPoint, int]]:
    """Up to `limit + 1` (reorder point, on hand) after `after_id` whose on hand is below the minimum."""
    on_hand = func.coalesce(StockLevel.on_hand, 0)
    stmt = (select(ReorderPoint, on_hand)
            .outerjoin(StockLevel, (StockLevel.product_id == ReorderPoint.product_id)
                       & (StockLevel.location_id == ReorderPoint.location_id))
            .where(col(ReorderPoint.deleted_at).is_(None), col(ReorderPoint.id) > after_id,
                   on_hand < ReorderPoint.minimum))
    if location_id is not None:
        stmt = stmt.where(ReorderPoint.location_id == location_id)
    rows = (await session.exec(stmt.order_by(col(ReorderPoint.id)).limit(limit + 1))).all()  # type: ignore
    return [(row[0], int(row[1])) for row in rows]


async def get_stocktake_or_raise(session: AsyncSession, stocktake_id: int) -> Stocktake:
    row = await session.get(Stocktake, stocktake_id)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"no stocktake with id {stocktake_id}; start_stocktake starts one", field="stocktake_id")
    return row


# ---------------------------------------------------------------- sales orders and returns


async def reserved(session: AsyncSession, product_id: int, location_id: int, *, except_order_id: int | None = None
                   ) -> int:
    """Units of a product reserved at a location: the lines of its confirmed orders (but `except_order_id`)."""
    stmt = (select(func.coalesce(func.sum(SalesOrderLine.quantity), 0))
            .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
            .where(SalesOrderLine.product_id == product_id, SalesOrder.location_id == location_id,
                   SalesOrder.status == SalesOrderStatus.CONFIRMED.value))
    if except_order_id is not None:
        stmt = stmt.where(SalesOrder.id != except_order_id)
    return int((await session.exec(stmt)).one())


async def reserved_by_level(session: AsyncSession, product_ids: Sequence[int] | None = None
                            ) -> dict[tuple[int, int], int]:
    """{(product id, location id): units reserved by confirmed orders} (of these products when given)."""
    stmt = (select(SalesOrderLine.product_id, SalesOrder.location_id, func.sum(SalesOrderLine.quantity))
            .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
            .where(SalesOrder.status == SalesOrderStatus.CONFIRMED.value)
            .group_by(SalesOrderLine.product_id, SalesOrder.location_id))
    if product_ids is not None:
        stmt = stmt.where(col(SalesOrderLine.product_id).in_(list(product_ids)))
    rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
    return {(int(p), int(loc)): int(total) for p, loc, total in rows}


async def get_order(session: AsyncSession, order_id: int, *, for_update: bool = False) -> SalesOrder | None:
    """The live order, read afresh (process_orders writes orders with set-based UPDATEs)."""
    stmt = (select(SalesOrder).where(SalesOrder.id == order_id, col(SalesOrder.deleted_at).is_(None))
            .execution_options(populate_existing=True))
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def open_order_ids(session: AsyncSession, *, order_date: date, location_id: int | None,
                         limit: int) -> list[int]:
    """Up to `limit + 1` ids of the draft, confirmed and fulfilled orders dated `order_date` (at a location)."""
    stmt = select(SalesOrder.id).where(SalesOrder.order_date == order_date, col(SalesOrder.deleted_at).is_(None),
                                       col(SalesOrder.status).in_((SalesOrderStatus.DRAFT.value,
                                                                   SalesOrderStatus.CONFIRMED.value,
                                                                   SalesOrderStatus.FULFILLED.value)))
    if location_id is not None:
        stmt = stmt.where(SalesOrder.location_id == location_id)
    return [int(i) for i in (await session.exec(stmt.order_by(col(SalesOrder.id)).limit(limit + 1))).all()]


async def order_by_number(session: AsyncSession, number: str) -> SalesOrder | None:
    stmt = select(SalesOrder).where(SalesOrder.order_number == number, col(SalesOrder.deleted_at).is_(None))
    return (await session.exec(stmt)).first()


async def order_lines(session: AsyncSession, order_ids: Sequence[int]) -> dict[int, list[SalesOrderLine]]:
    """{order id: its lines in line order}."""
    out: dict[int, list[SalesOrderLine]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return out
    stmt = (select(SalesOrderLine).where(col(SalesOrderLine.order_id).in_(list(order_ids)))
            .order_by(col(SalesOrderLine.order_id), col(SalesOrderLine.line_no))
            .execution_options(populate_existing=True))
    for row in (await session.exec(stmt)).all():
        out.setdefault(row.order_id, []).append(row)
    return out


async def list_orders(session: AsyncSession, *, after_id: int, limit: int, status: str | None,
                      family_id: int | None, from_date: date | None, to_date: date | None) -> list[SalesOrder]:
    """Up to `limit + 1` live orders after `after_id` in id order."""
    stmt = select(SalesOrder).where(col(SalesOrder.deleted_at).is_(None), col(SalesOrder.id) > after_id)
    if status is not None:
        stmt = stmt.where(SalesOrder.status == status)
    if family_id is not None:
        stmt = stmt.where(SalesOrder.family_id == family_id)
    if from_date is not None:
        stmt = stmt.where(col(SalesOrder.order_date) >= from_date)
    if to_date is not None:
        stmt = stmt.where(col(SalesOrder.order_date) <= to_date)
    return list((await session.exec(stmt.order_by(col(SalesOrder.id)).limit(limit + 1))).all())


async def returns_of(session: AsyncSession, order_id: int) -> list[SalesReturn]:
    stmt = select(SalesReturn).where(SalesReturn.order_id == order_id).order_by(col(SalesReturn.id))
    return list((await session.exec(stmt)).all())


async def number_row(session: AsyncSession, row: SalesOrder | SalesReturn, attribute: str, prefix: str) -> None:
    """Insert `row` and give it its number (prefix + the id zero-padded to 6, e.g. SO000042)."""
    setattr(row, attribute, f"T{uuid.uuid4().hex[:19]}")
    session.add(row)
    await session.flush()
    setattr(row, attribute, f"{prefix}{row.id:06d}")
    session.add(row)
    await session.flush()


SOLD = (SalesOrderStatus.FULFILLED.value, SalesOrderStatus.INVOICED.value, SalesOrderStatus.PAID.value)


async def sales_by_product(session: AsyncSession, *, from_date: date, to_date: date, location_id: int | None,
                           after_id: int, limit: int) -> list[tuple[int, int, int, int, int]]:
    """Up to `limit + 1` (product id, units, amount, GST, cost) of the orders fulfilled from_date..to_date, in
    product id order after `after_id`."""
    stmt = (select(SalesOrderLine.product_id, func.sum(SalesOrderLine.quantity), func.sum(SalesOrderLine.amount_minor),
                   func.sum(SalesOrderLine.gst_minor), func.sum(SalesOrderLine.cost_minor))
            .join(SalesOrder, SalesOrder.id == SalesOrderLine.order_id)
            .where(col(SalesOrder.status).in_(SOLD), col(SalesOrder.fulfilled_on) >= from_date,
                   col(SalesOrder.fulfilled_on) <= to_date, col(SalesOrderLine.product_id) > after_id)
            .group_by(SalesOrderLine.product_id).order_by(SalesOrderLine.product_id).limit(limit + 1))
    if location_id is not None:
        stmt = stmt.where(SalesOrder.location_id == location_id)
    rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
    return [tuple(int(v) for v in row) for row in rows]  # type: ignore[misc]


async def returns_by_product(session: AsyncSession, *, from_date: date, to_date: date, location_id: int | None,
                             product_ids: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
    """{product id: (units, amount, GST, cost)} returned from_date..to_date."""
    if not product_ids:
        return {}
    stmt = (select(SalesReturnLine.product_id, func.sum(SalesReturnLine.quantity),
                   func.sum(SalesReturnLine.amount_minor), func.sum(SalesReturnLine.gst_minor),
                   func.sum(SalesReturnLine.cost_minor))
            .join(SalesReturn, SalesReturn.id == SalesReturnLine.return_id)
            .where(col(SalesReturn.on_date) >= from_date, col(SalesReturn.on_date) <= to_date,
                   col(SalesReturnLine.product_id).in_(list(product_ids)))
            .group_by(SalesReturnLine.product_id))
    if location_id is not None:
        stmt = stmt.where(SalesReturn.location_id == location_id)
    rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
    return {int(row[0]): (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in rows}


async def last_sale_dates(session: AsyncSession, product_ids: Sequence[int], location_id: int | None
                          ) -> dict[int, date]:
    """{product id: the date it last left a location in a sale move}."""
    if not product_ids:
        return {}
    stmt = (select(StockMove.product_id, func.max(StockMove.on_date))
            .where(col(StockMove.product_id).in_(list(product_ids)), StockMove.kind == "sale")
            .group_by(StockMove.product_id))
    if location_id is not None:
        stmt = stmt.where(StockMove.from_location_id == location_id)
    return {int(p): d for p, d in (await session.exec(stmt)).all()}  # type: ignore[call-overload]


async def units_sold_since(session: AsyncSession, product_ids: Sequence[int], since: date, location_id: int | None
                           ) -> dict[int, int]:
    """{product id: units that left in sale moves dated `since` or later}."""
    if not product_ids:
        return {}
    stmt = (select(StockMove.product_id, func.sum(StockMove.quantity))
            .where(col(StockMove.product_id).in_(list(product_ids)), StockMove.kind == "sale",
                   col(StockMove.on_date) >= since)
            .group_by(StockMove.product_id))
    if location_id is not None:
        stmt = stmt.where(StockMove.from_location_id == location_id)
    return {int(p): int(q) for p, q in (await session.exec(stmt)).all()}  # type: ignore[call-overload]


async def stocked_levels(session: AsyncSession, *, location_id: int | None, after_id: int, limit: int
                         ) -> list[tuple[int, int]]:
    """Up to `limit + 1` (product id, units on hand) of products holding units (at a location, or over all), in
    product id order after `after_id`."""
    total = func.sum(StockLevel.on_hand)
    stmt = select(StockLevel.product_id, total).where(col(StockLevel.product_id) > after_id)
    if location_id is not None:
        stmt = stmt.where(StockLevel.location_id == location_id)
    stmt = (stmt.group_by(StockLevel.product_id).having(total > 0).order_by(StockLevel.product_id)
            .limit(limit + 1))
    return [(int(p), int(q)) for p, q in (await session.exec(stmt)).all()]  # type: ignore[call-overload]


async def value_by_category(session: AsyncSession, currency: str) -> list[tuple[str, int, int]]:
    """(category, units, value) of every product of `currency`, by category."""
    stmt = (select(Product.category, func.sum(Valuation.quantity), func.sum(Valuation.value_minor))
            .join(Product, Product.id == Valuation.product_id).where(Product.currency == currency)
            .group_by(Product.category).order_by(Product.category))
    return [(c, int(q), int(v)) for c, q, v in (await session.exec(stmt)).all()]  # type: ignore[call-overload]


async def returned_amounts(session: AsyncSession, order_line_id: int) -> tuple[int, int]:
    """(amount, GST) refunded so far for an order line."""
    stmt = select(func.coalesce(func.sum(SalesReturnLine.amount_minor), 0),
                  func.coalesce(func.sum(SalesReturnLine.gst_minor), 0)).where(
        SalesReturnLine.order_line_id == order_line_id)
    row = (await session.exec(stmt)).one()
    return int(row[0]), int(row[1])


# ---------------------------------------------------------------- many orders at once (sales.process_orders)


@dataclass(frozen=True)
class OrderRow:
    """The columns of an order process_orders reads (no ORM object: it takes thousands at once)."""

    id: int
    order_number: str
    status: str
    customer_kind: str
    customer_name: str
    location_id: int
    currency: str
    order_date: date
    total_minor: int
    gst_minor: int


async def lock_orders(session: AsyncSession, order_ids: Sequence[int]) -> list[OrderRow]:
    """The live orders of these ids, locked for this transaction in id order (FOR UPDATE on PostgreSQL)."""
    table = SalesOrder.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in OrderRow.__dataclass_fields__]
    out: list[OrderRow] = []
    ids = sorted(set(order_ids))
    conn = await session.connection()
    for start in range(0, len(ids), 5000):
        stmt = (select(*columns).where(table.c.id.in_(ids[start:start + 5000]), table.c.deleted_at.is_(None))
                .order_by(table.c.id).with_for_update())
        out.extend(OrderRow(*row) for row in (await conn.execute(stmt)).all())
    return out


async def line_tuples(session: AsyncSession, order_ids: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """(line id, order id, product id, quantity) of these orders' lines, in order id and line order."""
    table = SalesOrderLine.__table__  # type: ignore[attr-defined]
    out: list[tuple[int, int, int, int]] = []
    ids = sorted(set(order_ids))
    conn = await session.connection()
    for start in range(0, len(ids), 5000):
        stmt = (select(table.c.id, table.c.order_id, table.c.product_id, table.c.quantity)
                .where(table.c.order_id.in_(ids[start:start + 5000])).order_by(table.c.order_id, table.c.line_no))
        out.extend(tuple(row) for row in (await conn.execute(stmt)).all())  # type: ignore[misc]
    return out


async def lock_valuations(session: AsyncSession, product_ids: Sequence[int]) -> dict[int, Valuation]:
    """{product id: valuation row} of these products, created when missing and locked in product id order (the
    order lock_valuation's single writers take them in)."""
    ids = sorted(set(product_ids))
    if not ids:
        return {}
    table = Valuation.__table__  # type: ignore[attr-defined]
    await session.exec(_insert(session)(table).values(  # type: ignore[call-overload]
        [{"product_id": i, "quantity": 0, "value_minor": 0, "last_unit_cost_minor": 0} for i in ids])
        .on_conflict_do_nothing())
    stmt = (select(Valuation).where(col(Valuation.product_id).in_(ids)).order_by(col(Valuation.product_id))
            .with_for_update().execution_options(populate_existing=True))
    return {row.product_id: row for row in (await session.exec(stmt)).all()}


async def lock_level_pairs(session: AsyncSession, pairs: Sequence[tuple[int, int]]
                           ) -> dict[tuple[int, int], StockLevel]:
    """{(product id, location id): level row}, created when missing and locked in (product, location) order."""
    keys = sorted(set(pairs))
    if not keys:
        return {}
    table = StockLevel.__table__  # type: ignore[attr-defined]
    await session.exec(_insert(session)(table).values(  # type: ignore[call-overload]
        [{"product_id": p, "location_id": loc, "on_hand": 0} for p, loc in keys]).on_conflict_do_nothing())
    products = sorted({p for p, _ in keys})
    stmt = (select(StockLevel).where(col(StockLevel.product_id).in_(products))
            .order_by(col(StockLevel.product_id), col(StockLevel.location_id))
            .with_for_update().execution_options(populate_existing=True))
    wanted = set(keys)
    return {(row.product_id, row.location_id): row for row in (await session.exec(stmt)).all()
            if (row.product_id, row.location_id) in wanted}


async def reorder_points_of(session: AsyncSession, pairs: Sequence[tuple[int, int]]
                            ) -> dict[tuple[int, int], ReorderPoint]:
    products = sorted({p for p, _ in pairs})
    if not products:
        return {}
    stmt = select(ReorderPoint).where(col(ReorderPoint.product_id).in_(products),
                                      col(ReorderPoint.deleted_at).is_(None))
    wanted = set(pairs)
    return {(row.product_id, row.location_id): row for row in (await session.exec(stmt)).all()
            if (row.product_id, row.location_id) in wanted}


async def set_line_costs(session: AsyncSession, costs: Sequence[tuple[int, int]]) -> None:
    """Set each order line's cost (line id, minor units): one UPDATE from arrays on PostgreSQL."""
    if not costs:
        return
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(text(
            "UPDATE inventory_sales_order_lines AS l SET cost_minor = v.cost FROM unnest(CAST(:ids AS integer[]), "
            "CAST(:costs AS bigint[])) AS v(id, cost) WHERE l.id = v.id"),
            {"ids": [c[0] for c in costs], "costs": [c[1] for c in costs]})
        return
    table = SalesOrderLine.__table__  # type: ignore[attr-defined]
    await conn.execute(table.update().where(table.c.id == bindparam("b_id")).values(cost_minor=bindparam("b_cost")),
                       [{"b_id": i, "b_cost": c} for i, c in costs])


async def set_order_steps(session: AsyncSession, rows: Sequence[dict]) -> None:
    """Write each order's step: dicts of id, status, confirmed_on, fulfilled_on, invoiced_on, paid_on and
    invoice_entry_id (None keeps the column); the version goes up by one. One UPDATE from arrays on PostgreSQL."""
    if not rows:
        return
    conn = await session.connection()
    now = utcnow()
    columns = ("confirmed_on", "fulfilled_on", "invoiced_on", "paid_on")
    if conn.dialect.name == "postgresql":
        sets = ", ".join(f"{c} = coalesce(v.{c}, o.{c})" for c in columns)
        await conn.execute(text(
            f"UPDATE inventory_sales_orders AS o SET status = v.status, {sets}, "
            "invoice_entry_id = coalesce(v.entry, o.invoice_entry_id), version = o.version + 1, updated_at = :now "
            "FROM unnest(CAST(:ids AS integer[]), CAST(:statuses AS varchar[]), CAST(:c AS date[]), "
            "CAST(:f AS date[]), CAST(:i AS date[]), CAST(:p AS date[]), CAST(:entries AS integer[])) "
            "AS v(id, status, confirmed_on, fulfilled_on, invoiced_on, paid_on, entry) WHERE o.id = v.id"),
            {"now": now, "ids": [r["id"] for r in rows], "statuses": [r["status"] for r in rows],
             "c": [r.get("confirmed_on") for r in rows], "f": [r.get("fulfilled_on") for r in rows],
             "i": [r.get("invoiced_on") for r in rows], "p": [r.get("paid_on") for r in rows],
             "entries": [r.get("invoice_entry_id") for r in rows]})
        return
    table = SalesOrder.__table__  # type: ignore[attr-defined]
    for row in rows:
        values = {"status": row["status"], "version": table.c.version + 1, "updated_at": now}
        values |= {c: row[c] for c in (*columns, "invoice_entry_id") if row.get(c) is not None}
        await conn.execute(table.update().where(table.c.id == row["id"]).values(**values))


async def set_summaries(session: AsyncSession, levels: Sequence[StockLevel], valuations: Sequence[Valuation]) -> None:
    """Write changed level and valuation rows (already loaded and locked)."""
    for row in [*levels, *valuations]:
        session.add(row)
    await session.flush()


async def takings(session: AsyncSession, *, from_date: date, to_date: date, location_id: int | None
                  ) -> dict[str, list[tuple[str, int, int]]]:
    """What the shop took and gave back from_date..to_date: {"payments": [(method, orders, amount)], "refunds":
    [(method, returns, amount)], "charges": [("family_account", orders, amount)]} (minor units)."""
    payments = (select(SalesOrder.payment_method, func.count(), func.sum(SalesOrder.total_minor))
                .where(col(SalesOrder.paid_on) >= from_date, col(SalesOrder.paid_on) <= to_date,
                       col(SalesOrder.payment_method).is_not(None)).group_by(SalesOrder.payment_method))
    refunds = (select(SalesReturn.refund_method, func.count(), func.sum(SalesReturn.amount_minor))
               .where(col(SalesReturn.on_date) >= from_date, col(SalesReturn.on_date) <= to_date)
               .group_by(SalesReturn.refund_method))
    charges = (select(SalesOrder.customer_kind, func.count(), func.sum(SalesOrder.total_minor))
               .where(col(SalesOrder.invoiced_on) >= from_date, col(SalesOrder.invoiced_on) <= to_date,
                      col(SalesOrder.invoice_id).is_not(None)).group_by(SalesOrder.customer_kind))
    if location_id is not None:
        payments = payments.where(SalesOrder.location_id == location_id)
        refunds = refunds.where(SalesReturn.location_id == location_id)
        charges = charges.where(SalesOrder.location_id == location_id)
    out = {}
    for name, stmt in (("payments", payments), ("refunds", refunds), ("charges", charges)):
        rows = (await session.exec(stmt)).all()  # type: ignore[call-overload]
        out[name] = sorted((str(k), int(n), int(total)) for k, n, total in rows)
    return out
