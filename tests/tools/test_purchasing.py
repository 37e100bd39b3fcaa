"""Purchasing tools through tools.invoke and the gate, on a database of their own (SQLite, or PostgreSQL with
MCS_ERP_TEST_BACKEND: paying suppliers creates the bank account 1010, which other files' tests of the session
database create in another currency): a bursar drafts, sends, receives in two deliveries and bills a purchase
order, then pays it; a payment at or below MCS_ERP_SUPPLIER_PAYMENT_APPROVE_ABOVE_MINOR is confirmed by its
requester, one above it waits for another admin, and one planned before a change of the bill is stale; a
mismatched bill is refused with the line and nothing written; the open orders and payables aging reports; roles
and bad input refused; a property test that a payment writes what its preview showed; concurrent receipts of the
last units and concurrent payments of a whole balance, where exactly one wins."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.finance import service as finance
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleAction
from domain.purchasing import service as purchasing
from tests.conftest import own_runtime
from tests.factories import make_user, unique
from tests.gate_helpers import released
from tools.invoke import invoke

DAY = "2026-02-02"


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "purchasing-tools", currency="AUD") as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def office(rt):
    """Two admins, a finance officer, a teacher (no purchasing tools); a store room and two products."""
    async with rt.db.write() as s:
        people = {"admin": await make_user(s, roles="admin"), "admin2": await make_user(s, roles="admin"),
                  "finance": await make_user(s, roles="finance"), "teacher": await make_user(s, roles="teacher")}
    store = await invoke(rt, "create_location", {"code": unique("ST"), "name": "Store room", "kind": "store_room"},
                         people["finance"])
    skus = []
    for tax_code in ("GST", "GST_FREE"):
        product = await invoke(rt, "create_product", {"sku": unique("P"), "name": "Exercise book", "category": "books",
                                                      "tax_code": tax_code, "prices": {"families": 500}},
                               people["finance"])
        skus.append(product.sku)
    return {**people, "store": store.code, "skus": skus}


async def new_supplier(rt, office) -> str:
    out = await invoke(rt, "create_supplier", {"code": unique("S"), "name": "Books & Co Pty Ltd",
                                               "abn": "51 824 753 556", "payment_terms_days": 14, "bsb": "062000",
                                               "account_number": "1234 5678", "account_name": "BOOKS & CO",
                                               "email": "accounts@example.org"}, office["finance"])
    assert (out.abn, out.bsb, out.account_number_masked) == ("51824753556", "062-000", "XXXXX678")
    return out.code


async def received_and_billed(rt, office, *, quantity: int = 10, cost: int = 2_000) -> tuple[str, str]:
    """An order of `quantity` taxable units received in two deliveries and billed in full: (order, bill)."""
    bursar, sku = office["finance"], office["skus"][0]
    vendor = await new_supplier(rt, office)
    order = await invoke(rt, "create_purchase_order", {
        "supplier": vendor, "deliver_to": office["store"].lower(), "order_date": DAY,
        "lines": [{"sku": sku, "quantity": quantity, "unit_cost_minor": cost}]}, bursar)
    assert (order.status, order.total_minor) == ("draft", quantity * cost)
    sent = await invoke(rt, "send_purchase_order", {"order_number": order.order_number.lower()}, bursar)
    assert sent.status == "sent"
    first = await invoke(rt, "receive_purchase_order", {"order_number": order.order_number, "on": DAY,
                                                        "lines": [{"sku": sku, "quantity": quantity - 1}]}, bursar)
    assert first.order_status == "partly_received" and first.lines[0].value_minor == (quantity - 1) * cost
    second = await invoke(rt, "receive_purchase_order", {"order_number": order.order_number, "on": DAY,
                                                         "lines": [{"sku": sku, "quantity": 1}]}, bursar)
    assert second.order_status == "received"
    bill = await invoke(rt, "record_supplier_bill", {
        "order_number": order.order_number, "supplier_reference": unique("INV-"), "bill_date": DAY,
        "lines": [{"sku": sku, "quantity": quantity, "unit_cost_minor": cost}]}, bursar)
    gst = quantity * cost // 10
    assert (bill.subtotal_minor, bill.gst_minor, bill.total_minor, bill.status) == (quantity * cost, gst,
                                                                                    quantity * cost + gst, "open")
    assert bill.journal_entry_number.startswith("JE") and bill.due_date.isoformat() == "2026-02-16"
    return order.order_number, bill.bill_number


async def test_an_order_is_received_billed_and_paid_through_the_gate(rt, office):
    order, bill = await received_and_billed(rt, office)
    stock = (await invoke(rt, "get_stock", {"sku": office["skus"][0], "location": office["store"]},
                          office["finance"])).items[0]
    assert stock.locations[0].on_hand >= 10
    pending = await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": 22_000, "paid_on": DAY,
                                                     "reference": "EFT 1"}, office["finance"])
    assert pending.preview["account_number"] == "XXXXX678" and pending.preview["balance_after_minor"] == 0
    result = await released(rt, pending, office["finance"])
    assert (result["bill_status"], result["bill_balance_minor"], result["order_status"]) == ("paid", 0, "closed")
    assert result["payment_number"].startswith("SPAY") and result["journal_entry_number"].startswith("JE")
    got = await invoke(rt, "get_purchase_order", {"order_number": order}, office["admin"])
    assert [(ln.quantity_ordered, ln.quantity_received, ln.quantity_billed) for ln in got.lines] == [(10, 10, 10)]
    async with rt.db.read() as s:
        assert (await finance.trial_balance(s)).balanced


async def test_a_large_payment_needs_another_admin_and_a_stale_one_is_refused(rt, office):
    _, bill = await received_and_billed(rt, office, quantity=100, cost=10_000)  # 1,100,000 with GST
    big = await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": 600_000, "paid_on": DAY},
                       office["admin"])
    decided = await invoke(rt, "confirm_action", {"action_id": big.action_id}, office["admin"])
    assert decided.status == "queued"
    with pytest.raises(PermissionDenied):
        await invoke(rt, "approve_action", {"action_id": big.action_id}, office["admin"])
    small = await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": 100_000, "paid_on": DAY},
                         office["admin"])
    await released(rt, small, office["admin"])
    with pytest.raises(StaleAction):  # the bill's balance changed since the large payment was previewed
        await invoke(rt, "approve_action", {"action_id": big.action_id}, office["admin2"])
    again = await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": 600_000, "paid_on": DAY},
                         office["admin"])
    await invoke(rt, "confirm_action", {"action_id": again.action_id}, office["admin"])
    approved = await invoke(rt, "approve_action", {"action_id": again.action_id}, office["admin2"])
    assert approved.status == "executed" and approved.result["bill_balance_minor"] == 400_000
    with pytest.raises(Conflict, match="more than .* balance 400000"):
        await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": 400_001, "paid_on": DAY},
                     office["admin"])


async def test_a_mismatched_bill_is_refused_with_its_line_and_writes_nothing(rt, office):
    bursar, (taxable, free) = office["finance"], office["skus"]
    vendor = await new_supplier(rt, office)
    order = await invoke(rt, "create_purchase_order", {
        "supplier": vendor, "deliver_to": office["store"], "order_date": DAY,
        "lines": [{"sku": taxable, "quantity": 5, "unit_cost_minor": 1_000},
                  {"sku": free, "quantity": 5, "unit_cost_minor": 800}]}, bursar)
    await invoke(rt, "send_purchase_order", {"order_number": order.order_number}, bursar)
    await invoke(rt, "receive_purchase_order", {"order_number": order.order_number, "on": DAY,
                                                "lines": [{"sku": taxable, "quantity": 2}]}, bursar)
    args = {"order_number": order.order_number, "supplier_reference": "A-1", "bill_date": DAY,
            "lines": [{"sku": taxable, "quantity": 2, "unit_cost_minor": 1_100},
                      {"sku": free, "quantity": 1, "unit_cost_minor": 800}]}
    with pytest.raises(Conflict) as caught:
        await invoke(rt, "record_supplier_bill", args, bursar)
    assert "line 1" in str(caught.value) and "outside 2% of the ordered 1000" in str(caught.value)
    assert "line 2" in str(caught.value) and "1 billed but 0 received" in str(caught.value)
    listed = await invoke(rt, "list_supplier_bills", {"order_number": order.order_number}, bursar)
    assert listed.items == []
    report = await invoke(rt, "list_open_purchase_orders", {"supplier": vendor}, bursar)
    (row,) = report.items
    assert (row.units_to_receive, row.value_to_receive_minor, row.units_to_bill, row.value_to_bill_minor) == (
        8, 3 * 1_000 + 5 * 800, 2, 2_000)
    with pytest.raises(Conflict, match="only 3 of the 5 ordered are still to come"):
        await invoke(rt, "receive_purchase_order", {"order_number": order.order_number, "on": DAY,
                                                    "lines": [{"sku": taxable, "quantity": 4}]}, bursar)


async def test_payables_are_aged_per_supplier(rt, office):
    _, bill = await received_and_billed(rt, office, quantity=3, cost=1_000)  # 3,300 due 2026-02-16
    got = await invoke(rt, "get_supplier_bill", {"bill_number": bill}, office["finance"])
    aging = await invoke(rt, "get_payables_aging", {"as_of": "2026-03-20", "supplier": got.supplier},
                         office["finance"])
    (row,) = aging.rows
    assert (row.total_minor, row.buckets.days_31_60, row.open_bills) == (3_300, 3_300, 1)
    everyone = await invoke(rt, "get_payables_aging", {"as_of": "2026-03-20", "limit": 1}, office["finance"])
    assert len(everyone.rows) == 1 and everyone.rows_total >= 1
    assert sum(t.total_minor for t in everyone.totals) >= 3_300


async def test_roles_unknown_records_and_bad_input_are_refused(rt, office):
    with pytest.raises(PermissionDenied):
        await invoke(rt, "list_suppliers", {}, office["teacher"])
    with pytest.raises(InvalidInput) as caught:
        await invoke(rt, "create_supplier", {"code": unique("S"), "name": "X", "abn": "51 824 753 557",
                                             "bsb": "062-000", "account_number": "12345678", "account_name": "X"},
                     office["finance"])
    assert caught.value.field == "abn" and "check digits" in str(caught.value)
    for tool, args, field in [("get_supplier", {"supplier": "NOBODY"}, "supplier"),
                              ("get_purchase_order", {"order_number": "PO999999"}, "order_number"),
                              ("get_supplier_bill", {"bill_number": "BILL999999"}, "bill_number")]:
        with pytest.raises(NotFound) as caught:
            await invoke(rt, tool, args, office["finance"])
        assert caught.value.field == field
    with pytest.raises(InvalidInput):
        await invoke(rt, "create_purchase_order", {"supplier": "X", "deliver_to": "Y", "order_date": DAY,
                                                   "lines": []}, office["finance"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(1, 4_000), min_size=1, max_size=4))
async def test_a_payment_writes_what_its_preview_showed(rt, office, amounts):
    """Preview = what is written: each released payment's amount, balance after and the payables account move
    exactly as its preview said; a payment above the balance is refused at the preview and writes nothing."""
    _, bill = await received_and_billed(rt, office, quantity=3, cost=1_000)  # 3,300
    for amount in amounts:
        before = await invoke(rt, "get_supplier_bill", {"bill_number": bill}, office["finance"])
        payable = await _payable(rt)
        if before.status == "paid" or amount > before.balance_minor:
            with pytest.raises(Conflict):
                await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": amount, "paid_on": DAY},
                             office["finance"])
            assert await _payable(rt) == payable
            continue
        pending = await invoke(rt, "pay_supplier_bill", {"bill_number": bill, "amount_minor": amount,
                                                         "paid_on": DAY}, office["finance"])
        result = await released(rt, pending, office["finance"])
        after = await invoke(rt, "get_supplier_bill", {"bill_number": bill}, office["finance"])
        assert result["amount_minor"] == pending.preview["amount_minor"] == amount
        assert after.balance_minor == result["bill_balance_minor"] == pending.preview["balance_after_minor"]
        assert payable - await _payable(rt) == amount


async def _payable(rt) -> int:
    async with rt.db.read() as s:
        account = await finance.find_account_by_code(s, "2010")
        return await finance.account_balance(s, account.id)


async def test_concurrent_receipts_and_payments_never_take_more_than_there_is(rt, office):
    """Eight receipts of the last 3 units race: exactly one gets them; eight payments of a bill's whole balance
    race: exactly one pays it. The others get a clear refusal and write nothing (row locks on PostgreSQL,
    SQLite's single writer)."""
    bursar, sku = office["finance"], office["skus"][0]
    vendor = await new_supplier(rt, office)
    order = await invoke(rt, "create_purchase_order", {"supplier": vendor, "deliver_to": office["store"],
                                                       "order_date": DAY,
                                                       "lines": [{"sku": sku, "quantity": 3, "unit_cost_minor": 700}]},
                         bursar)
    await invoke(rt, "send_purchase_order", {"order_number": order.order_number}, bursar)

    async def receive() -> str:
        try:
            await invoke(rt, "receive_purchase_order", {"order_number": order.order_number, "on": DAY,
                                                        "lines": [{"sku": sku, "quantity": 3}]}, bursar)
            return "received"
        except Conflict as exc:
            assert "still to come" in str(exc) or "goods are received against" in str(exc), str(exc)
            return "refused"

    results = await asyncio.gather(*(receive() for _ in range(8)))
    assert results.count("received") == 1
    got = await invoke(rt, "get_purchase_order", {"order_number": order.order_number}, bursar)
    assert got.lines[0].quantity_received == 3
    _, bill = await received_and_billed(rt, office, quantity=2, cost=1_000)  # 2,200

    async def pay() -> str:
        try:
            async with rt.db.write() as s:
                await purchasing.pay_supplier_bill(s, bursar, bill_number=bill, amount_minor=2_200,
                                                   paid_on=dt.date(2026, 2, 3))
            return "paid"
        except Conflict as exc:
            assert "paid already" in str(exc) or "balance" in str(exc), str(exc)
            return "refused"

    paid = await asyncio.gather(*(pay() for _ in range(8)))
    assert paid.count("paid") == 1
    listed = await invoke(rt, "get_supplier_bill", {"bill_number": bill}, bursar)
    assert (listed.amount_paid_minor, listed.status) == (2_200, "paid")
