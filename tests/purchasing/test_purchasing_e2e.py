"""Purchasing end to end over MCP (Streamable HTTP, API keys), as a school office buys stock: an admin sets up a
store room, two products and a supplier; the bursar (a `finance` user) asks the "reorder before term" prompt, drafts
and sends a purchase order, receives it in two deliveries, has a mismatched bill refused and records the right one,
then pays it: a small payment on the bursar's confirmation, the rest (above the approval threshold) once an admin
who is not the bursar approves. Afterwards the order is closed, stock and the ledger agree (payables 0, GRNI 0, the
trial balance balanced, GST input tax credits on the books) and the audit log verifies. Runs on the test backend
(SQLite, or PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.server.e2e_helpers import (
    KeySpec,
    call_error,
    call_ok,
    create_keys,
    e2e_database,
    http_clients,
    http_server,
    init_database,
    verify_audit,
)

pytestmark = pytest.mark.e2e

ADMIN_A, ADMIN_B, BURSAR = "admin", "admin-b", "bursar"
BOOKS, PAPER = "BOOK-A4", "PAPER-A4"


async def test_a_purchase_order_is_received_billed_and_paid_over_mcp(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN_A), KeySpec(ADMIN_B, "admin"), KeySpec(BURSAR, "finance")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with clients(ADMIN_A) as admin_a, clients(ADMIN_B) as admin_b, clients(BURSAR) as bursar:
                await call_ok(admin_a, "create_location", {"code": "STORE", "name": "Store room",
                                                           "kind": "store_room"})
                for sku, tax_code in ((BOOKS, "GST_FREE"), (PAPER, "GST")):
                    await call_ok(admin_a, "create_product", {"sku": sku, "name": sku.title(), "category": "books",
                                                              "tax_code": tax_code, "prices": {"families": 600}})
                    await call_ok(admin_a, "set_reorder_point", {"sku": sku, "location": "STORE", "minimum": 50,
                                                                 "reorder_to": 200})
                await call_ok(admin_a, "create_supplier", {
                    "code": "OFFICEPLUS", "name": "Office Plus Pty Ltd", "abn": "51 824 753 556",
                    "payment_terms_days": 30, "bsb": "062-000", "account_number": "10203040",
                    "account_name": "OFFICE PLUS"})
                prompts = {p.name for p in (await bursar.list_prompts()).prompts}
                assert "reorder_before_term" in prompts
                prompt = await bursar.get_prompt("reorder_before_term", {"term_start": "2027-01-28"})
                text = prompt.messages[0].content.text
                assert "2027-01-28" in text and "list_reorder_needs" in text and "$" not in text
                needs = await call_ok(bursar, "list_reorder_needs", {"location": "STORE"})
                assert {(n["sku"], n["to_order"]) for n in needs["items"]} == {(BOOKS, 200), (PAPER, 200)}
                await buy_and_pay(admin_b, bursar)
        assert await verify_audit(db) > 0


async def buy_and_pay(admin_b, bursar) -> None:
    order = await call_ok(bursar, "create_purchase_order", {
        "supplier": "officeplus", "deliver_to": "STORE", "order_date": "2027-01-04", "expected_date": "2027-01-20",
        "lines": [{"sku": BOOKS, "quantity": 200, "unit_cost_minor": 350},
                  {"sku": PAPER, "quantity": 200, "unit_cost_minor": 4_500}]})
    number = order["order_number"]
    assert (order["status"], order["total_minor"]) == ("draft", 200 * 350 + 200 * 4_500)
    await call_ok(bursar, "send_purchase_order", {"order_number": number})
    first = await call_ok(bursar, "receive_purchase_order", {
        "order_number": number, "on": "2027-01-15", "delivery_reference": "DN 5521",
        "lines": [{"sku": BOOKS, "quantity": 200}, {"sku": PAPER, "quantity": 120}]})
    assert first["order_status"] == "partly_received"
    open_orders = await call_ok(bursar, "list_open_purchase_orders", {})
    (row,) = open_orders["items"]
    assert (row["units_to_receive"], row["value_to_receive_minor"]) == (80, 80 * 4_500)
    await call_ok(bursar, "receive_purchase_order", {"order_number": number, "on": "2027-01-19",
                                                      "lines": [{"sku": PAPER, "quantity": 80}]})
    stock = await call_ok(bursar, "get_stock", {"sku": PAPER})
    assert (stock["items"][0]["on_hand"], stock["items"][0]["value_minor"]) == (200, 200 * 4_500)
    refused = await call_error(bursar, "record_supplier_bill", {
        "order_number": number, "supplier_reference": "OP-7781", "bill_date": "2027-01-20",
        "lines": [{"sku": PAPER, "quantity": 201, "unit_cost_minor": 4_500}]})
    assert "201 billed but 200 received" in refused
    bill = await call_ok(bursar, "record_supplier_bill", {
        "order_number": number, "supplier_reference": "OP-7781", "bill_date": "2027-01-20",
        "lines": [{"sku": BOOKS, "quantity": 200, "unit_cost_minor": 350},
                  {"sku": PAPER, "quantity": 200, "unit_cost_minor": 4_550}]})  # within the 2% tolerance
    # GST-free books 70,000; paper 910,000 + GST 91,000
    assert (bill["subtotal_minor"], bill["gst_minor"], bill["total_minor"]) == (980_000, 91_000, 1_071_000)
    assert bill["due_date"] == "2027-02-19" and bill["status"] == "open"
    aging = await call_ok(bursar, "get_payables_aging", {"as_of": "2027-03-01"})
    assert aging["rows"][0]["supplier"] == "OFFICEPLUS" and aging["rows"][0]["buckets"]["days_1_30"] == 1_071_000

    small = await call_ok(bursar, "pay_supplier_bill", {"bill_number": bill["bill_number"], "amount_minor": 71_000,
                                                        "paid_on": "2027-02-10", "reference": "EFT 1"})
    assert small["pending"] and small["preview"]["account_number"] == "XXXXX040"
    done = await call_ok(bursar, "confirm_action", {"action_id": small["action_id"]})
    assert done["status"] == "executed" and done["result"]["bill_balance_minor"] == 1_000_000
    large = await call_ok(bursar, "pay_supplier_bill", {"bill_number": bill["bill_number"],
                                                        "amount_minor": 1_000_000, "paid_on": "2027-02-18"})
    queued = await call_ok(bursar, "confirm_action", {"action_id": large["action_id"]})
    assert queued["status"] == "queued"
    assert "permission_denied" in await call_error(bursar, "approve_action", {"action_id": large["action_id"]})
    paid = await call_ok(admin_b, "approve_action", {"action_id": large["action_id"], "reason": "Invoice checked"})
    assert paid["status"] == "executed"
    assert (paid["result"]["bill_status"], paid["result"]["order_status"]) == ("paid", "closed")

    balances = {row["code"]: row for row in (await call_ok(bursar, "get_trial_balance", {}))["rows"]}
    assert "2010" not in balances or balances["2010"]["debit_balance"] == balances["2010"]["credit_balance"] == 0
    assert "2160" not in balances or balances["2160"]["credit_balance"] == 0
    assert balances["1410"]["debit_balance"] == 91_000  # the input tax credits to claim
    assert balances["5320"]["debit_balance"] == 200 * 50  # 0.50 a ream over the order: a price variance
    assert (await call_ok(bursar, "get_trial_balance", {}))["balanced"]
