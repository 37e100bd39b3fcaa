"""The shop at scale: 10,000 sales orders (50,000 lines) confirmed, fulfilled and invoiced with their ledger
postings, on PostgreSQL (issue 22's acceptance: under 10 s).

Creates a fresh PostgreSQL database (dropped afterwards): a shop, --products blazer and shirt variants priced on
the families and staff price lists (GST), each received in two deliveries at different unit costs (so the weighted
average moves), and --orders draft orders of --lines lines each (walk-ins and staff at the counter), written as
the setup (not measured). Then measures, in one transaction as the process_sales_orders tool runs it
(domain.inventory.sales.process_orders, `through="invoiced"`):
- seconds: every draft confirmed (the units available at the shop checked under the stock locks), fulfilled (one
  sale move a line at the weighted average, each line's cost, the stock levels and valuations) and invoiced, with
  the ledger postings: the batch's cost of goods sold (Dr 5300 / Cr 1300) and its counter tax invoices (Dr 1210
  Shop counter receivable / Cr 4400 Shop sales + Cr 2310 GST collected) as one summary entry each, as a
  point-of-sale session's closing posts its orders; every move and order names its entry.
Checks afterwards: every order invoiced; one move a line; on hand equals the sum of the moves; the stock's value
equals the 1300 Inventory balance; 4400 Shop sales + 2310 GST equal the orders' total; the trial balance balances.

Baseline, in the same run: every row that step wrote (each table with an `id` column, rows above its high-water
mark: moves, journal entries and lines, audit rows), read back and written again with asyncpg's
`copy_records_to_table` into scratch tables made `LIKE` the real ones: copy_s, and the ratio seconds / copy_s
(these machines' absolute speed drifts, so the ratio is the comparable figure). Every wait is bounded (--timeout
per step, four times that for the run); a run that overstays prints what it was waiting for and exits 1. Prints
the figures, then one line holding a JSON object with `orders`, `lines` and `seconds`.

Usage: uv run python bench/shop.py [--orders 10000] [--lines 5] [--products 60] [--timeout 600]
       [--pg-url postgresql+asyncpg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg
from sqlalchemy import func, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from domain.finance import service as finance
from domain.finance.models import JournalEntry
from domain.inventory import rules, sales, service
from domain.inventory.models import SalesOrder, SalesOrderLine, StockMove
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import ensure_audit_head
from domain.kernel.clock import utcnow
from domain.kernel.db import bulk_insert, reserve_ids
from domain.kernel.settings import Settings
from domain.migrations.schema import migrate
from tools.runtime import Runtime

CURRENCY = "AUD"
DAY = date(2026, 1, 28)  # the week before Term 1: the uniform shop's busiest


async def build(runtime: Runtime, *, orders: int, lines: int, products: int) -> tuple[list[int], int]:
    """The shop, its stock and the draft orders; returns (order ids, their total in minor units)."""
    rng = random.Random(22)
    async with runtime.db.write() as session:
        await ensure_audit_head(session)
        await service.create_location(session, SYSTEM_ACTOR, code="SHOP", name="Uniform shop", kind="shop")
        skus = []
        for n in range(products // 6):
            view = await service.create_product(
                session, SYSTEM_ACTOR, sku=f"U{n:03d}", name=f"Uniform item {n}", category="uniform", unit="each",
                tax_code="GST", currency=CURRENCY, prices={"families": 3_000 + 700 * n, "staff": 2_700 + 600 * n},
                variants=[service.VariantSpec(sku=f"U{n:03d}-{size}", attributes={"size": str(size)})
                          for size in range(6, 17, 2)])
            skus.extend(v.sku for v in view.variants)
        for i, sku in enumerate(skus):
            for units, cost in ((4 * orders * lines // len(skus), 1_200 + 37 * i), (orders * lines // len(skus),
                                                                                    1_250 + 41 * i)):
                await service.record_receipt(session, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=units,
                                             unit_cost_minor=cost, on=date(2026, 1, 12))
    async with runtime.db.write() as session:
        shop = await service.get_location(session, "SHOP")
        catalogue = {sku: await service.get_product(session, sku) for sku in skus}
        prices = await service.prices_of(session, [p.id or 0 for p in catalogue.values()])
        ids = await reserve_ids(session, SalesOrder.__table__, orders)  # type: ignore[attr-defined]
        now = utcnow()
        order_rows, line_rows, total = [], [], 0
        for n, order_id in enumerate(ids):
            staff = n % 5 == 0
            price_list = "staff" if staff else "families"
            chosen = rng.sample(skus, lines)
            amount_sum = gst_sum = 0
            for line_no, sku in enumerate(chosen, start=1):
                product = catalogue[sku]
                quantity = rng.choice((1, 1, 2, 3))
                price = prices[product.id or 0][price_list]
                amount = price * quantity
                gst = rules.gst_included(amount, product.tax_code)
                amount_sum, gst_sum = amount_sum + amount, gst_sum + gst
                line_rows.append({"order_id": order_id, "line_no": line_no, "product_id": product.id,
                                  "quantity": quantity, "unit_price_minor": price, "amount_minor": amount,
                                  "gst_minor": gst, "cost_minor": 0, "returned_quantity": 0})
            total += amount_sum
            order_rows.append({
                "id": order_id, "version": 1, "created_at": now, "updated_at": now, "deleted_at": None,
                "order_number": f"SO{order_id:06d}", "customer_kind": "staff" if staff else "walk_in",
                "family_id": None, "student_id": None, "customer_name": f"Staff {n}" if staff else "Walk-in",
                "price_list": price_list, "location_id": shop.id, "currency": CURRENCY, "status": "draft",
                "order_date": DAY, "total_minor": amount_sum, "gst_minor": gst_sum, "confirmed_on": None,
                "fulfilled_on": None, "invoiced_on": None, "paid_on": None, "cancelled_on": None,
                "invoice_id": None, "invoice_entry_id": None, "payment_method": None, "payment_entry_id": None,
                "created_by": None})
        await bulk_insert(session, SalesOrder.__table__, order_rows)  # type: ignore[attr-defined]
        await bulk_insert(session, SalesOrderLine.__table__, line_rows)  # type: ignore[attr-defined]
    return ids, total


TABLES = ("inventory_moves", "journal_entries", "journal_lines", "audit_log", "inventory_levels",
          "inventory_valuations")


async def high_water(runtime: Runtime) -> dict[str, int]:
    """{table: its largest id} before the measured step."""
    async with runtime.db.read() as session:
        conn = await session.connection()
        return {t: int((await conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}"))).scalar_one())
                for t in TABLES}


async def copy_baseline(url: str, since: dict[str, int], timeout: float) -> tuple[float, dict[str, int]]:
    """Write the measured step's new rows again with COPY into LIKE copies; return (seconds, rows by table)."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        rows = {t: await conn.fetch(f"SELECT * FROM {t} WHERE id > $1 ORDER BY id", since[t], timeout=timeout)
                for t in TABLES}
        rows = {t: r for t, r in rows.items() if r}
        for table in rows:
            await conn.execute(f"CREATE TABLE scratch_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING INDEXES)",
                               timeout=timeout)
        started = time.perf_counter()
        async with conn.transaction():
            for table, records in rows.items():
                await conn.copy_records_to_table(f"scratch_{table}", records=[tuple(r.values()) for r in records],
                                                 columns=list(records[0].keys()), timeout=timeout)
        return time.perf_counter() - started, {t: len(r) for t, r in rows.items()}
    finally:
        await conn.close(timeout=30)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--products", type=int, default=60, help="variants (6 sizes a product)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds any one step may take (the whole run: four times that)")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server URL; a fresh database is created on it and dropped after")
    args = parser.parse_args()
    if (not 1 <= args.orders <= sales.MAX_BATCH or not 1 <= args.lines <= 20 or not 12 <= args.products <= 600
            or args.lines > args.products or not 1 <= args.timeout <= 3600):
        parser.error(f"--orders must be 1..{sales.MAX_BATCH}, --lines 1..20 (at most --products), --products "
                     "12..600 and --timeout 1..3600")
    step = ["the start"]
    try:
        return await asyncio.wait_for(run(args, step), 4 * args.timeout)
    except TimeoutError:
        print(f"shop: a bounded wait ran out (or the run passed {4 * args.timeout:.0f} s) while waiting for "
              f"{step[0]}", flush=True)
        return 1


async def run(args: argparse.Namespace, step: list[str]) -> int:
    name = f"mcs_bench_shop_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(args.pg_url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 30})
    step[0] = "PostgreSQL to create the database"
    async with admin.connect() as conn:
        await asyncio.wait_for(conn.exec_driver_sql(f'CREATE DATABASE "{name}"'), 60)
    url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
    runtime = Runtime.create(Settings(database_url=url, currency=CURRENCY))
    try:
        step[0] = "the migrations"
        await asyncio.wait_for(migrate(runtime.db.write_engine), args.timeout)
        step[0] = f"the shop and {args.orders} draft orders to be built"
        started = time.perf_counter()
        order_ids, total = await asyncio.wait_for(
            build(runtime, orders=args.orders, lines=args.lines, products=args.products), args.timeout)
        setup_s = time.perf_counter() - started
        since = await high_water(runtime)
        step[0] = "process_orders through invoiced (the measured step)"

        async def process() -> sales.ProcessedOrders:
            async with runtime.db.write() as session:
                return await sales.process_orders(session, SYSTEM_ACTOR, order_ids=order_ids, on=DAY,
                                                  through="invoiced")

        started = time.perf_counter()
        done = await asyncio.wait_for(process(), args.timeout)
        seconds = time.perf_counter() - started
        step[0] = "the checks' queries"
        async with runtime.db.read() as session:
            statuses = dict((await session.exec(  # type: ignore[call-overload]
                select(SalesOrder.status, func.count()).group_by(SalesOrder.status))).all())
            lines = (await session.exec(select(func.count()).select_from(SalesOrderLine))).one()
            moves = (await session.exec(select(func.count()).select_from(StockMove).where(
                StockMove.kind == "sale"))).one()
            entries = (await session.exec(select(func.count()).select_from(JournalEntry).where(
                JournalEntry.source == "sales_orders:batch"))).one()
            problems = await service.on_hand_matches_moves(session)
            value = await service.inventory_value(session, CURRENCY)
            balances = {}
            for code in ("1300", "4400", "2310", "1210"):
                account = await finance.find_account_by_code(session, code)
                balances[code] = await finance.account_balance(session, account.id or 0)
            balanced = (await finance.trial_balance(session)).balanced
        assert statuses == {"invoiced": args.orders} and len(done.invoiced) == args.orders, statuses
        assert lines == moves == done.lines == args.orders * args.lines, (lines, moves, done.lines)
        assert entries == 2 and problems == [] and balanced, (entries, problems[:3])
        assert done.cost_entry_id and done.sales_entry_id
        assert value == balances["1300"], (value, balances)
        assert balances["4400"] + balances["2310"] == balances["1210"] == total, (balances, total)
        step[0] = "the copy baseline (copy_records_to_table into scratch tables)"
        copy_s, copied = await copy_baseline(url, since, args.timeout)
    finally:
        step[0] = "the database to be dropped"
        await runtime.close()
        with contextlib.suppress(Exception):
            async with admin.connect() as conn:
                await asyncio.wait_for(conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'), 60)
        await admin.dispose()
    print(f"setup: {args.products} products, their stock and {args.orders} draft orders in {setup_s:.1f} s")
    print(f"confirm, fulfil and invoice: {seconds:.2f} s for {args.orders} orders ({lines} lines, {moves} stock "
          f"moves, {entries} summary journal entries) = {args.orders / seconds:.0f} orders/s (target: under 10 s)")
    print(f"cost of goods sold {done.cost_minor / 100:,.2f} {CURRENCY}; invoiced {total / 100:,.2f} {CURRENCY} = "
          "4400 + 2310 = 1210; the stock's value = 1300 Inventory; trial balance balanced")
    print(f"baseline: {sum(copied.values())} rows ({', '.join(f'{t} {n}' for t, n in copied.items())}) written "
          f"again with copy_records_to_table in {copy_s:.2f} s: {seconds / copy_s:.2f} x")
    print(json.dumps({"orders": args.orders, "lines": int(lines), "seconds": round(seconds, 2),
                      "copy_s": round(copy_s, 3), "ratio_vs_copy": round(seconds / copy_s, 2),
                      "journal_entries": int(entries), "stock_moves": int(moves), "setup_s": round(setup_s, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
