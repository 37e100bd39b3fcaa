"""All SQL of the inventory context. Stock changes lock their summary rows: the product's valuation row, then its
level rows in location id order (one order for every writer, so two moves never wait on each other in a cycle),
with SELECT ... FOR UPDATE on PostgreSQL; SQLite's write transactions already run one at a time (BEGIN IMMEDIATE,
domain.kernel.db)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.inventory.models import (
    Location,
    Product,
    ProductPrice,
    ReorderPoint,
    StockLevel,
    StockMove,
    Stocktake,
    Valuation,
)
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
