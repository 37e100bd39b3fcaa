"""The shop end to end over MCP (Streamable HTTP, API keys, the official MCP client), on the test backend (SQLite, or
PostgreSQL with MCS_ERP_TEST_BACKEND=postgresql, where the acceptance counts):

- 16 concurrent clients each order (and take) one of the last 10 blazers of a size: exactly 10 are sold, the other
  6 are told "out of stock", and the shop's stock, reservations and ledger agree afterwards;
- a family buys a blazer charged to its account; its statement of account (the PDF, read back) shows the order;
  the blazer is returned through the gate (a preview, then the requester's confirmation) and credited to the
  family's account: the stock is back and the family owes nothing for it.
"""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from mcp import Client
from pypdf import PdfReader

from domain.documents.schemas import MAX_CHUNK_BYTES
from tests.server.e2e_helpers import (
    KeySpec,
    call_error,
    call_ok,
    create_keys,
    e2e_database,
    http_clients,
    http_server,
    init_database,
    seed_school,
)

pytestmark = pytest.mark.e2e

ADMIN, SHOPKEEPER = "admin", "shopkeeper"
DAY = "2026-09-07"
BUYERS = 16
LAST_UNITS = 10


async def blazer(client: Client) -> list[str]:
    """A shop location and a blazer in sizes 8 and 10 (families 129.00, staff 110.00, GST); the variants' SKUs."""
    await call_ok(client, "create_location", {"code": "SHOP", "name": "Uniform shop", "kind": "shop"})
    product = await call_ok(client, "create_product", {
        "sku": "BLZ", "name": "Blazer", "category": "uniform", "tax_code": "GST",
        "prices": {"families": 12_900, "staff": 11_000},
        "variants": [{"sku": f"BLZ-{size}", "attributes": {"size": str(size)}} for size in (8, 10)]})
    return [variant["sku"] for variant in product["variants"]]


async def test_sixteen_clients_order_the_last_ten_units_and_exactly_ten_are_sold(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN), KeySpec(SHOPKEEPER, "finance")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with clients(ADMIN) as admin:
                _, sku = await blazer(admin)
                await call_ok(admin, "record_receipt", {"sku": sku, "location": "SHOP", "quantity": LAST_UNITS,
                                                        "unit_cost_minor": 4_321, "on": DAY})

            async def buy(n: int) -> str:
                async with clients(SHOPKEEPER) as client:
                    result = await client.call_tool("create_sales_order", {
                        "customer_kind": "staff", "customer_name": f"Buyer {n}", "location": "SHOP",
                        "lines": [{"sku": sku, "quantity": 1}], "on": DAY, "confirm": True})
                    text = result.content[0].text if result.content else ""
                    if result.is_error:
                        assert "out of stock" in text and "0 available" in text, text
                        return "out of stock"
                    order = result.structured_content
                    done = await call_ok(client, "fulfil_sales_order", {"order_id": order["order_id"], "on": DAY})
                    assert done["status"] == "fulfilled", done
                    got = await call_ok(client, "get_sales_order", {"order_id": order["order_id"]})
                    assert got["lines"][0]["cost_minor"] == 4_321, got
                    return "sold"

            results = await asyncio.gather(*(buy(n) for n in range(BUYERS)))
            assert results.count("sold") == LAST_UNITS and results.count("out of stock") == BUYERS - LAST_UNITS
            async with clients(ADMIN) as admin:
                stock = (await call_ok(admin, "get_stock", {"sku": sku}))["items"][0]
                assert (stock["on_hand"], stock["value_minor"]) == (0, 0), stock
                assert stock["locations"][0]["reserved"] == 0, stock
                fulfilled = await call_ok(admin, "list_sales_orders", {"status": "fulfilled", "limit": 50})
                assert len(fulfilled["items"]) == LAST_UNITS
                valuation = await call_ok(admin, "get_stock_valuation", {})
                assert valuation["difference_minor"] == 0 and valuation["ledger_minor"] == 0, valuation
                late = await call_error(admin, "create_sales_order", {
                    "customer_kind": "walk_in", "location": "SHOP", "lines": [{"sku": sku, "quantity": 1}],
                    "on": DAY, "confirm": True})
                assert "out of stock: 0 available" in late


def pdf_text(data: bytes) -> str:
    """The PDF's text with its line breaks (a table cell wraps) as single spaces."""
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split())


async def test_a_family_buys_a_blazer_on_account_and_returns_it_through_the_gate(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN), KeySpec(SHOPKEEPER, "finance")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with clients(ADMIN) as admin, clients(SHOPKEEPER) as shop:
                school = await seed_school(admin)
                ada = school.student_ids[0]
                family = await call_ok(shop, "create_family", {"name": "Lovelace family", "student_ids": [ada]})
                sku, _ = await blazer(admin)
                await call_ok(shop, "record_receipt", {"sku": sku, "location": "SHOP", "quantity": 3,
                                                       "unit_cost_minor": 5_000, "on": DAY})
                order = await call_ok(shop, "create_sales_order", {
                    "customer_kind": "family", "family_id": family["family_id"], "student_id": ada, "location": "SHOP",
                    "lines": [{"sku": sku, "quantity": 1}], "on": DAY, "confirm": True})
                assert (order["status"], order["total_minor"], order["gst_minor"]) == ("confirmed", 12_900, 1_173)
                await call_ok(shop, "fulfil_sales_order", {"order_id": order["order_id"], "on": DAY})
                invoiced = await call_ok(shop, "invoice_sales_order", {"order_id": order["order_id"], "on": DAY})
                assert invoiced["status"] == "invoiced" and invoiced["balance_minor"] == 12_900, invoiced
                refused = await call_error(shop, "pay_sales_order", {"order_id": order["order_id"], "on": DAY,
                                                                     "method": "cash"})
                assert "record_payment" in refused

                account = await call_ok(shop, "get_family_account", {"family_id": family["family_id"], "as_of": DAY})
                assert account["balance_minor"] == 12_900, account
                statement = await call_ok(shop, "generate_family_statement", {
                    "family_id": family["family_id"], "from_date": "2026-09-01", "to_date": DAY})
                assert statement["closing_balance_minor"] == 12_900 and statement["lines"] == 1, statement
                document = await call_ok(shop, "get_document", {"document_id": statement["document_id"],
                                                                "max_bytes": MAX_CHUNK_BYTES})
                text = pdf_text(base64.b64decode(document["content_base64"]))
                assert f"School shop order {order['order_number']}" in text and "129.00" in text, text

                pending = await call_ok(shop, "return_sales_order", {
                    "order_id": order["order_id"], "lines": [{"sku": sku, "quantity": 1}], "on": DAY,
                    "reason": "too small"})
                assert pending["pending"] and pending["status"] == "proposed", pending
                preview = pending["preview"]
                assert (preview["refund_minor"], preview["gst_minor"], preview["stock_value_back_minor"],
                        preview["refund_method"]) == (12_900, 1_173, 5_000, "family_account"), preview
                done = await call_ok(shop, "confirm_action", {"action_id": pending["action_id"]})
                assert done["status"] == "executed", done

                after = await call_ok(shop, "get_sales_order", {"order_id": order["order_id"]})
                assert after["lines"][0]["returned_quantity"] == 1 and after["balance_minor"] == 0, after
                (returned,) = after["returns"]
                assert (returned["refund_minor"], returned["gst_minor"], returned["stock_value_back_minor"]) == (
                    preview["refund_minor"], preview["gst_minor"], preview["stock_value_back_minor"])
                account = await call_ok(shop, "get_family_account", {"family_id": family["family_id"], "as_of": DAY})
                assert account["balance_minor"] == 0, account
                stock = (await call_ok(shop, "get_stock", {"sku": sku}))["items"][0]
                assert (stock["on_hand"], stock["value_minor"]) == (3, 15_000), stock
                valuation = await call_ok(shop, "get_stock_valuation", {})
                assert valuation["difference_minor"] == 0 and valuation["value_minor"] == 15_000, valuation
                again = await call_error(shop, "return_sales_order", {
                    "order_id": order["order_id"], "lines": [{"sku": sku, "quantity": 1}], "on": DAY,
                    "reason": "again"})
                assert "cannot come back: 1 sold, 1 returned already" in again
