"""Inventory services on a real database of their own (SQLite, or PostgreSQL with MCS_ERP_TEST_BACKEND): products
with variants and prices, locations, receipts re-averaging the cost, sales and adjustments at the average, transfers,
out of stock refused unless the location allows backorders, stocktakes planned and applied as the gate does,
reorder needs; and a hypothesis property test: after every step of a random sequence of receipts, sales, returns,
transfers, adjustments and stocktakes, on hand equals the sum of the moves, no location without backorders is
negative, the inventory's value equals the ledger's 1300 Inventory balance and the trial balance balances."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, text
from sqlmodel import select

from domain.finance import service as finance
from domain.inventory import plans, service
from domain.inventory.models import StockLevel, StockMove
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.kernel.outbox import OutboxEvent
from domain.kernel.plan import ApplyContext, apply_plan
from domain.kernel.settings import Settings
from server.cli import prepare_database
from tests.conftest import drop_pg_database, fresh_database_url
from tests.factories import unique
from tools.runtime import Runtime

CURRENCY = "AUD"
DAY = dt.date(2026, 2, 2)


@pytest.fixture(scope="module")
async def inv_rt(tmp_path_factory):
    url, pg_name = await fresh_database_url(tmp_path_factory.mktemp("inventory"))
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0, currency=CURRENCY))
    await prepare_database(runtime)
    async with runtime.db.write() as s:
        await service.create_location(s, SYSTEM_ACTOR, code="SHOP", name="Uniform shop", kind="shop")
        await service.create_location(s, SYSTEM_ACTOR, code="STORE", name="Store room", kind="store_room")
        await service.create_location(s, SYSTEM_ACTOR, code="ONLINE", name="Online pre-orders", kind="shop",
                                      allow_backorders=True)
    yield runtime
    await runtime.close()
    if pg_name:
        await drop_pg_database(pg_name)


async def product(rt, *, variants: int = 0, sku: str | None = None) -> service.ProductView:
    code = sku or unique("P")
    specs = [service.VariantSpec(sku=f"{code}-{6 + 2 * i}", attributes={"size": str(6 + 2 * i)})
             for i in range(variants)]
    async with rt.db.write() as s:
        return await service.create_product(s, SYSTEM_ACTOR, sku=code, name="Blazer", category="uniform",
                                            unit="each", tax_code="GST", currency=CURRENCY,
                                            prices={"families": 12_900, "staff": 11_000}, variants=specs)


async def books(rt) -> tuple[int, int, bool, list[str], list[tuple[int, int, int]]]:
    """(inventory value, 1300 balance, trial balance balanced, level problems, negative levels)."""
    async with rt.db.read() as s:
        value = await service.inventory_value(s, CURRENCY)
        account = await finance.find_account_by_code(s, "1300")
        ledger = await finance.account_balance(s, account.id) if account else 0
        balanced = (await finance.trial_balance(s)).balanced
        problems = await service.on_hand_matches_moves(s)
        negative = [(lv.product_id, lv.location_id, lv.on_hand)
                    for lv in (await s.exec(select(StockLevel).where(StockLevel.on_hand < 0))).all()]
        locations = {loc.id: loc for loc in await service.list_locations(s)}
    negative = [n for n in negative if not locations[n[1]].allow_backorders]
    return value, ledger, balanced, problems, negative


async def test_a_template_with_variants_each_its_own_sku_and_prices(inv_rt):
    view = await product(inv_rt, variants=6)
    assert view.product.is_template and [v.sku for v in view.variants][-1].endswith("-16")
    assert view.variant_prices[view.variants[0].id] == {"families": 12_900, "staff": 11_000}
    async with inv_rt.db.write() as s:
        with pytest.raises(Conflict, match="template and holds no stock"):
            await service.record_receipt(s, SYSTEM_ACTOR, sku=view.product.sku, location="SHOP", quantity=1,
                                         unit_cost_minor=100, on=DAY)
        with pytest.raises(Conflict, match="already used"):
            await service.create_product(s, SYSTEM_ACTOR, sku=view.variants[0].sku.lower(), name="Again",
                                         category="uniform", unit="each", tax_code="GST", currency=CURRENCY,
                                         prices={})


@pytest.mark.parametrize("change, field", [
    ({"tax_code": "VAT"}, "tax_code"), ({"prices": {"teachers": 5}}, "prices"),
    ({"prices": {"families": -1}}, "prices.families"), ({"sku": "bad sku"}, "sku"), ({"name": " "}, "name"),
    ({"variants": [service.VariantSpec(sku="V1", attributes={})]}, "variants.0.attributes"),
    ({"variants": [service.VariantSpec(sku="V1", attributes={"size": "6"}),
                   service.VariantSpec(sku="V2", attributes={"size": "6"})]}, "variants"),
    ({"variants": [service.VariantSpec(sku=f"V{i}", attributes={"n": str(i)}) for i in range(51)]}, "variants"),
])
async def test_bad_products_are_refused_naming_the_field(inv_rt, change, field):
    args = {"sku": unique("Q"), "name": "Tie", "category": "uniform", "unit": "each", "tax_code": "GST",
            "currency": CURRENCY, "prices": {"families": 1500}} | change
    async with inv_rt.db.write() as s:
        with pytest.raises(InvalidInput) as caught:
            await service.create_product(s, SYSTEM_ACTOR, **args)
    assert caught.value.field == field


async def test_receipts_re_average_sales_leave_at_the_average_and_post_to_the_ledger(inv_rt):
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        first = await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="STORE", quantity=3,
                                             unit_cost_minor=1000, on=DAY)
        await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="STORE", quantity=1, unit_cost_minor=1400,
                                     on=DAY)
        moved = await service.transfer_stock(s, SYSTEM_ACTOR, sku=sku, from_location="STORE", to_location="SHOP",
                                             quantity=2, on=DAY)
        sale = await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1, on=DAY)
        entry = await finance.get_entry(s, sale.entry_id)
    assert first.value_minor == 3000 and first.entry_id is not None
    assert moved.value_minor == 0 and moved.entry_id is None
    assert sale.value_minor == -1100 and sale.unit_cost_minor == 1100
    accounts = {line.account_id: (line.debit, line.credit) for line in entry.lines}
    async with inv_rt.db.read() as s:
        cogs = await finance.find_account_by_code(s, "5300")
        stock = (await service.stock_of(s, sku=sku))[0]
    assert accounts[cogs.id] == (1100, 0)
    assert {a.location.code: a.on_hand for a in stock.locations} == {"STORE": 2, "SHOP": 1}
    assert (stock.quantity, stock.value, stock.average_cost) == (3, 3300, 1100)
    value, ledger, balanced, problems, negative = await books(inv_rt)
    assert value == ledger and balanced and problems == [] and negative == []


async def test_out_of_stock_is_refused_with_the_units_on_hand_unless_backorders_are_allowed(inv_rt):
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=2, unit_cost_minor=500,
                                     on=DAY)
    async with inv_rt.db.write() as s:
        with pytest.raises(Conflict, match="out of stock: 2 on hand of .* at SHOP, 3 wanted") as caught:
            await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=3, on=DAY)
        assert caught.value.details["on_hand"] == 2
        with pytest.raises(Conflict, match="out of stock: 0 on hand"):
            await service.transfer_stock(s, SYSTEM_ACTOR, sku=sku, from_location="STORE", to_location="SHOP",
                                         quantity=1, on=DAY)
    async with inv_rt.db.write() as s:
        sale = await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="ONLINE", quantity=3, on=DAY)
        stock = (await service.stock_of(s, sku=sku, location="ONLINE"))[0]
    assert sale.value_minor == -1000 - 500  # the 2 held at the average, the third at the last cost
    assert stock.locations[0].on_hand == -3 and stock.quantity == -1
    value, ledger, balanced, problems, negative = await books(inv_rt)
    assert value == ledger and balanced and problems == [] and negative == []


@pytest.mark.parametrize("call, field", [
    (lambda s, sku: service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=0,
                                           unit_cost_minor=1, on=DAY), "quantity"),
    (lambda s, sku: service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1_000_001,
                                           unit_cost_minor=1, on=DAY), "quantity"),
    (lambda s, sku: service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1,
                                           unit_cost_minor=-1, on=DAY), "unit_cost_minor"),
    (lambda s, sku: service.transfer_stock(s, SYSTEM_ACTOR, sku=sku, from_location="SHOP", to_location="shop",
                                           quantity=1, on=DAY), "to_location"),
    (lambda s, sku: service.adjust_stock(s, SYSTEM_ACTOR, sku=sku, location="SHOP", change=0, on=DAY,
                                         reason="count"), "change"),
    (lambda s, sku: service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1, on=DAY,
                                        reason=""), "reason"),
])
async def test_bad_moves_are_refused_and_write_nothing(inv_rt, call, field):
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1, unit_cost_minor=1,
                                     on=DAY)
    async with inv_rt.db.read() as s:
        before = (await s.exec(select(func.count()).select_from(StockMove))).one()
    async with inv_rt.db.write() as s:
        with pytest.raises(InvalidInput) as caught:
            await call(s, sku)
    assert caught.value.field == field
    async with inv_rt.db.read() as s:
        assert (await s.exec(select(func.count()).select_from(StockMove))).one() == before


async def test_unknown_sku_and_location_are_not_found(inv_rt):
    async with inv_rt.db.write() as s:
        with pytest.raises(NotFound, match="no product has the SKU 'NOPE-1'") as caught:
            await service.record_sale(s, SYSTEM_ACTOR, sku="NOPE-1", location="SHOP", quantity=1, on=DAY)
    assert caught.value.field == "sku"
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        with pytest.raises(NotFound, match="the locations are SHOP, STORE, ONLINE") as caught:
            await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="ATTIC", quantity=1, on=DAY)
    assert caught.value.field == "location"


async def apply_stocktake(rt, stocktake_id: int, counts, threshold: int = 10**9):
    async with rt.db.write() as s:
        plan = await plans.plan_record_stocktake(s, SYSTEM_ACTOR, stocktake_id=stocktake_id, counts=counts,
                                                 approve_above_minor=threshold)
        await apply_plan(s, plan, ApplyContext(actor=SYSTEM_ACTOR, action_id=None, decided_by=None))
    return plan


async def test_a_stocktake_turns_counts_into_adjustments_at_the_average(inv_rt):
    a, b = (await product(inv_rt)).product.sku, (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        await service.record_receipt(s, SYSTEM_ACTOR, sku=a, location="STORE", quantity=10, unit_cost_minor=300,
                                     on=DAY)
        await service.record_receipt(s, SYSTEM_ACTOR, sku=b, location="STORE", quantity=4, unit_cost_minor=250,
                                     on=DAY)
        take = await service.start_stocktake(s, SYSTEM_ACTOR, location="STORE", on=DAY)
    async with inv_rt.db.write() as s:
        plan = await plans.plan_record_stocktake(s, SYSTEM_ACTOR, stocktake_id=take.id, counts=[(a, 7), (b, 5)],
                                                 approve_above_minor=1000)
    assert [line["change"] for line in plan.preview["lines"]] == [-3, 1]
    assert plan.preview["adjustments_value_minor"] == 900 + 250 and plan.level == "approve"
    plan = await apply_stocktake(inv_rt, take.id, [(a, 7), (b, 5)])
    assert plan.level is None
    async with inv_rt.db.read() as s:
        stocks = {st.product.sku: st for st in await service.stock_of(s, sku=a) + await service.stock_of(s, sku=b)}
        shrinkage = await finance.find_account_by_code(s, "5310")
        assert await finance.account_balance(s, shrinkage.id) >= 900 - 250
    assert (stocks[a].quantity, stocks[a].value) == (7, 2100)
    assert (stocks[b].quantity, stocks[b].value) == (5, 1250)
    with pytest.raises(Conflict, match="applied already"):
        await apply_stocktake(inv_rt, take.id, [(a, 7)])
    value, ledger, balanced, problems, negative = await books(inv_rt)
    assert value == ledger and balanced and problems == [] and negative == []


async def test_a_move_since_the_plan_changes_it(inv_rt):
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=5, unit_cost_minor=100,
                                     on=DAY)
        take = await service.start_stocktake(s, SYSTEM_ACTOR, location="SHOP", on=DAY)
        first = await plans.plan_record_stocktake(s, SYSTEM_ACTOR, stocktake_id=take.id, counts=[(sku, 4)])
    async with inv_rt.db.write() as s:
        await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1, on=DAY)
        second = await plans.plan_record_stocktake(s, SYSTEM_ACTOR, stocktake_id=take.id, counts=[(sku, 4)])
    assert first.digest() != second.digest() and second.preview["lines"][0]["change"] == 0


@pytest.mark.parametrize("counts, field", [([], "counts"), ([("X", 1)] * 501, "counts"),
                                           ([("NOPE-9", 1)], "counts.0.sku")])
async def test_bad_counts_are_refused(inv_rt, counts, field):
    async with inv_rt.db.write() as s:
        take = await service.start_stocktake(s, SYSTEM_ACTOR, location="SHOP", on=DAY)
    async with inv_rt.db.write() as s:
        with pytest.raises(DomainError) as caught:
            await plans.plan_record_stocktake(s, SYSTEM_ACTOR, stocktake_id=take.id, counts=counts)
    assert caught.value.field == field


async def test_reorder_needs_list_what_is_below_its_point(inv_rt):
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=3, unit_cost_minor=100,
                                     on=DAY)
        await service.set_reorder_point(s, SYSTEM_ACTOR, sku=sku, location="SHOP", minimum=5, reorder_to=20)
        await service.set_reorder_point(s, SYSTEM_ACTOR, sku=sku, location="STORE", minimum=0, reorder_to=10)
        with pytest.raises(InvalidInput, match="below minimum"):
            await service.set_reorder_point(s, SYSTEM_ACTOR, sku=sku, location="SHOP", minimum=5, reorder_to=4)
    async with inv_rt.db.read() as s:
        needs = [n for n in await service.reorder_needs(s, limit=1000) if n.product.sku == sku]
    assert [(n.location.code, n.on_hand, n.to_order) for n in needs] == [("SHOP", 3, 17)]


# ---------------------------------------------------------------- the property test

STEP = st.tuples(st.sampled_from(["receipt", "sale", "return", "transfer", "adjust", "stocktake"]),
                 st.integers(0, 2), st.integers(0, 2), st.integers(1, 7), st.integers(0, 997))
LOCATIONS = ("SHOP", "STORE", "ONLINE")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
async def test_on_hand_value_and_ledger_agree_after_every_step(inv_rt, steps):
    skus = [v.sku for v in (await product(inv_rt, variants=2)).variants]
    for kind, p, loc, quantity, cost in steps:
        sku, where, other = skus[p % 2], LOCATIONS[loc], LOCATIONS[(loc + 1) % 3]
        try:
            if kind == "stocktake":
                async with inv_rt.db.write() as s:
                    take = await service.start_stocktake(s, SYSTEM_ACTOR, location=where, on=DAY)
                await apply_stocktake(inv_rt, take.id, [(sku, quantity), (skus[(p + 1) % 2], cost % 5)])
                continue
            async with inv_rt.db.write() as s:
                if kind == "receipt":
                    await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location=where, quantity=quantity,
                                                 unit_cost_minor=cost, on=DAY)
                elif kind == "sale":
                    await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location=where, quantity=quantity, on=DAY)
                elif kind == "return":
                    await service.record_return(s, SYSTEM_ACTOR, sku=sku, location=where, quantity=quantity, on=DAY)
                elif kind == "transfer":
                    await service.transfer_stock(s, SYSTEM_ACTOR, sku=sku, from_location=where, to_location=other,
                                                 quantity=quantity, on=DAY)
                else:
                    await service.adjust_stock(s, SYSTEM_ACTOR, sku=sku, location=where,
                                               change=quantity if cost % 2 else -quantity, on=DAY, reason="count")
        except Conflict as exc:
            assert "out of stock" in str(exc) and where != "ONLINE"
        value, ledger, balanced, problems, negative = await books(inv_rt)
        assert value == ledger, (kind, value, ledger)
        assert balanced and problems == [] and negative == []


async def test_stock_moves_are_immutable_in_the_database(inv_rt):
    sku = (await product(inv_rt)).product.sku
    async with inv_rt.db.write() as s:
        move = await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=2,
                                            unit_cost_minor=700, on=DAY)
        entry = await finance.get_entry(s, move.entry_id)
    assert entry.entry.source == f"inventory_move:{move.id}" and entry.total_debit == 1400
    for statement in (f"UPDATE inventory_moves SET quantity = 5 WHERE id = {move.id}",
                      f"DELETE FROM inventory_moves WHERE id = {move.id}"):
        with pytest.raises(Exception, match="immutable"):
            async with inv_rt.db.write() as s:
                await s.exec(text(statement))
    async with inv_rt.db.read() as s:
        assert (await s.get(StockMove, move.id)).quantity == 2


async def test_crossing_a_reorder_point_records_one_low_stock_event(inv_rt):
    sku = (await product(inv_rt)).product.sku

    async def events() -> list[dict]:
        async with inv_rt.db.read() as s:
            rows = (await s.exec(select(OutboxEvent).where(
                OutboxEvent.topic == "inventory.StockBelowReorderPoint").order_by(OutboxEvent.id))).all()
        return [row.payload if isinstance(row.payload, dict) else json.loads(row.payload) for row in rows
                if (row.payload if isinstance(row.payload, dict) else json.loads(row.payload))["sku"] == sku]

    async with inv_rt.db.write() as s:
        await service.record_receipt(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=6, unit_cost_minor=100,
                                     on=DAY)
        await service.set_reorder_point(s, SYSTEM_ACTOR, sku=sku, location="SHOP", minimum=5, reorder_to=20)
        await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=1, on=DAY)  # 6 -> 5
    assert await events() == []
    async with inv_rt.db.write() as s:
        await service.record_sale(s, SYSTEM_ACTOR, sku=sku, location="SHOP", quantity=2, on=DAY)  # 5 -> 3
        await service.transfer_stock(s, SYSTEM_ACTOR, sku=sku, from_location="SHOP", to_location="STORE",
                                     quantity=1, on=DAY)  # 3 -> 2: still below, no second event
    found = await events()
    assert len(found) == 1
    assert {k: found[0][k] for k in ("location", "on_hand", "minimum", "to_order")} == {
        "location": "SHOP", "on_hand": 3, "minimum": 5, "to_order": 17}
