"""Shop tools through tools.invoke and the gate, on the session database (SQLite, or PostgreSQL with
MCS_ERP_TEST_BACKEND): a blazer template with sizes, receipts and a transfer, stock on hand and its value, reorder
needs, a stocktake confirmed by its requester or, above MCS_ERP_STOCKTAKE_APPROVE_ABOVE_MINOR, approved by another
admin (stale when stock moved since the preview), roles refused; and 16 concurrent sales of the last 10 units:
exactly 10 succeed, the others get "out of stock"."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from domain.finance import service as finance
from domain.inventory import service as inventory
from domain.kernel.errors import Conflict, InvalidInput, PermissionDenied, StaleAction
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

DAY = "2026-02-02"


@pytest.fixture(scope="module")
async def shop(rt):
    """Two admins, a finance officer, a teacher (no shop tools); a shop and a store room."""
    async with rt.db.write() as s:
        people = {"admin": await make_user(s, roles="admin"), "admin2": await make_user(s, roles="admin"),
                  "finance": await make_user(s, roles="finance"), "teacher": await make_user(s, roles="teacher")}
    tag = unique()
    store = await invoke(rt, "create_location", {"code": f"ST{tag}", "name": "Store room", "kind": "store_room"},
                         people["finance"])
    front = await invoke(rt, "create_location", {"code": f"SH{tag}", "name": "Shop", "kind": "shop"},
                         people["finance"])
    return {**people, "store": store.code, "shop": front.code, "currency": rt.settings.currency}


async def blazer(rt, shop) -> tuple[str, list[str]]:
    sku = unique("BLZ")
    out = await invoke(rt, "create_product", {
        "sku": sku, "name": "Blazer", "category": "uniform", "tax_code": "GST",
        "prices": {"families": 12_900, "staff": 11_000},
        "variants": [{"sku": f"{sku}-{size}", "attributes": {"size": str(size)}} for size in range(6, 17, 2)]},
        shop["finance"])
    return out.sku, [v.sku for v in out.variants]


async def test_a_blazer_in_sizes_is_received_moved_and_valued(rt, shop):
    sku, sizes = await blazer(rt, shop)
    assert len(sizes) == 6 and sizes[0].endswith("-6")
    got = await invoke(rt, "get_product", {"sku": sku.lower()}, shop["admin"])
    assert got.is_template and got.variants[2].attributes == {"size": "10"}
    assert got.variants[2].prices == {"families": 12_900, "staff": 11_000}
    first = await invoke(rt, "record_receipt", {"sku": sizes[2], "location": shop["store"], "quantity": 10,
                                                "unit_cost_minor": 4_500, "on": DAY}, shop["finance"])
    await invoke(rt, "record_receipt", {"sku": sizes[2], "location": shop["store"], "quantity": 10,
                                        "unit_cost_minor": 5_000, "on": DAY}, shop["finance"])
    assert first.value_minor == 45_000 and first.journal_entry_number.startswith("JE")
    moved = await invoke(rt, "transfer_stock", {"sku": sizes[2], "from_location": shop["store"],
                                                "to_location": shop["shop"], "quantity": 4, "on": DAY},
                         shop["finance"])
    assert moved.value_minor == 0 and moved.journal_entry_id is None
    stock = (await invoke(rt, "get_stock", {"sku": sizes[2]}, shop["finance"])).items[0]
    assert {s.location: s.on_hand for s in stock.locations} == {shop["store"]: 16, shop["shop"]: 4}
    assert (stock.on_hand, stock.value_minor, stock.average_cost_minor) == (20, 95_000, 4_750)
    assert all(s.reserved == 0 for s in stock.locations)
    with pytest.raises(Conflict, match=r"out of stock: 4 on hand"):
        await invoke(rt, "transfer_stock", {"sku": sizes[2], "from_location": shop["shop"],
                                            "to_location": shop["store"], "quantity": 5, "on": DAY}, shop["finance"])
    found = await invoke(rt, "list_products", {"query": sku, "limit": 50}, shop["finance"])
    assert [p.sku for p in found.items] == [sku, *sizes]


async def test_reorder_needs_after_setting_points(rt, shop):
    _, sizes = await blazer(rt, shop)
    await invoke(rt, "record_receipt", {"sku": sizes[0], "location": shop["shop"], "quantity": 1,
                                        "unit_cost_minor": 4_000, "on": DAY}, shop["finance"])
    point = await invoke(rt, "set_reorder_point", {"sku": sizes[0], "location": shop["shop"], "minimum": 3,
                                                   "reorder_to": 12}, shop["finance"])
    assert (point.on_hand, point.to_order) == (1, 11)
    needs = await invoke(rt, "list_reorder_needs", {"location": shop["shop"], "limit": 100}, shop["finance"])
    assert [(n.sku, n.to_order) for n in needs.items if n.sku == sizes[0]] == [(sizes[0], 11)]


async def test_a_small_stocktake_is_confirmed_and_a_large_one_needs_another_admin(rt, shop):
    _, sizes = await blazer(rt, shop)
    await invoke(rt, "record_receipt", {"sku": sizes[1], "location": shop["store"], "quantity": 40,
                                        "unit_cost_minor": 4_500, "on": DAY}, shop["admin"])
    take = await invoke(rt, "start_stocktake", {"location": shop["store"], "on": DAY}, shop["admin"])
    pending = await invoke(rt, "record_stocktake", {"stocktake_id": take.stocktake_id,
                                                    "counts": [{"sku": sizes[1], "counted": 39}]}, shop["admin"])
    assert pending.preview["lines"][0]["change"] == -1 and pending.preview["adjustments_value_minor"] == 4_500
    result = await released(rt, pending, shop["admin"])
    assert result["status"] == "applied"
    take = await invoke(rt, "start_stocktake", {"location": shop["store"], "on": DAY}, shop["admin"])
    args = {"stocktake_id": take.stocktake_id, "counts": [{"sku": sizes[1], "counted": 9}]}  # 30 x 45.00 lost
    pending = await invoke(rt, "record_stocktake", args, shop["admin"])
    decided = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, shop["admin"])
    assert decided.status == "queued"
    with pytest.raises(PermissionDenied):
        await invoke(rt, "approve_action", {"action_id": pending.action_id}, shop["admin"])
    await invoke(rt, "approve_action", {"action_id": pending.action_id}, shop["admin2"])
    stock = (await invoke(rt, "get_stock", {"sku": sizes[1]}, shop["admin"])).items[0]
    assert (stock.on_hand, stock.value_minor) == (9, 9 * 4_500)


async def test_a_stocktake_goes_stale_when_stock_moves_after_the_preview(rt, shop):
    _, sizes = await blazer(rt, shop)
    await invoke(rt, "record_receipt", {"sku": sizes[3], "location": shop["store"], "quantity": 5,
                                        "unit_cost_minor": 100, "on": DAY}, shop["admin"])
    take = await invoke(rt, "start_stocktake", {"location": shop["store"], "on": DAY}, shop["admin"])
    pending = await invoke(rt, "record_stocktake", {"stocktake_id": take.stocktake_id,
                                                    "counts": [{"sku": sizes[3], "counted": 4}]}, shop["admin"])
    await invoke(rt, "transfer_stock", {"sku": sizes[3], "from_location": shop["store"], "to_location": shop["shop"],
                                        "quantity": 1, "on": DAY}, shop["admin"])
    with pytest.raises(StaleAction):
        await invoke(rt, "confirm_action", {"action_id": pending.action_id}, shop["admin"])
    stock = (await invoke(rt, "get_stock", {"sku": sizes[3], "location": shop["store"]}, shop["admin"])).items[0]
    assert stock.locations[0].on_hand == 4  # the transfer only


async def test_roles_and_bad_input_are_refused(rt, shop):
    with pytest.raises(PermissionDenied):
        await invoke(rt, "list_products", {"limit": 5}, shop["teacher"])
    with pytest.raises(InvalidInput) as caught:
        await invoke(rt, "create_product", {"sku": "BAD SKU", "name": "X", "category": "c", "tax_code": "GST",
                                            "prices": {}}, shop["finance"])
    assert caught.value.field == "sku"
    with pytest.raises(InvalidInput):
        await invoke(rt, "record_receipt", {"sku": "X", "location": shop["shop"], "quantity": 1_000_001,
                                            "unit_cost_minor": 1, "on": DAY}, shop["finance"])
    with pytest.raises(InvalidInput):
        await invoke(rt, "record_stocktake", {"stocktake_id": 1, "counts": []}, shop["finance"])


async def test_sixteen_concurrent_sales_of_the_last_ten_units_sell_exactly_ten(rt, shop):
    _, sizes = await blazer(rt, shop)
    await invoke(rt, "record_receipt", {"sku": sizes[4], "location": shop["shop"], "quantity": 10,
                                        "unit_cost_minor": 4_321, "on": DAY}, shop["finance"])

    async def buy() -> str:
        try:
            async with rt.db.write() as s:
                await inventory.record_sale(s, shop["finance"], sku=sizes[4], location=shop["shop"], quantity=1,
                                            on=dt.date(2026, 2, 3))
            return "sold"
        except Conflict as exc:
            assert "out of stock: 0 on hand" in str(exc)
            return "out of stock"

    results = await asyncio.gather(*(buy() for _ in range(16)))
    assert results.count("sold") == 10 and results.count("out of stock") == 6
    async with rt.db.read() as s:
        stock = (await inventory.stock_of(s, sku=sizes[4]))[0]
        assert await inventory.on_hand_matches_moves(s) == []
        value = await inventory.inventory_value(s, shop["currency"])
        account = await finance.find_account_by_code(s, "1300")
        assert value == await finance.account_balance(s, account.id)
    assert (stock.quantity, stock.value) == (0, 0)


async def test_get_stock_pages_through_stocked_products_only(rt, shop):
    template, sizes = await blazer(rt, shop)
    seen, cursor = [], None
    for _ in range(200):
        page = await invoke(rt, "get_stock", {"limit": 3, **({"cursor": cursor} if cursor else {})}, shop["finance"])
        assert len(page.items) <= 3
        seen += [item.sku for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert cursor is None and len(seen) == len(set(seen))
    assert set(sizes) <= set(seen) and template not in seen
