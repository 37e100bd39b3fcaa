"""Fees end to end over MCP (Streamable HTTP, API keys), as a bursar bills a term: an admin sets up the school,
the fee items, a term's fee schedule and a sibling discount; the bursar (a `finance` user) puts the students
in families, invoices the year level with the generate_invoices job (twice: the second run bills nobody), records
a partial and then a full payment, and asks to void an unpaid invoice, which waits until an admin who is not
the requester approves it. The aging report and the ledger then agree to the cent, the trial balance balances,
and the family's statement is a PDF. Runs on the test backend (SQLite, or PostgreSQL)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from mcp import Client

from domain.documents.schemas import MAX_CHUNK_BYTES
from tests.agent.test_agent_worker import rows
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
    verify_audit,
)

pytestmark = pytest.mark.e2e

ADMIN_A, ADMIN_B, BURSAR = "admin", "admin-b", "bursar"
TUITION, TRANSPORT = 500_000, 50_000  # AUD cents a term
WAIT_S = 60


async def setup_fees(admin: Client, level_id: int, term_id: int) -> dict[str, Any]:
    """As an admin: income accounts, two fee items, Term 1's schedule (due 2026-09-30) and a 10 % sibling
    discount on tuition from the second child."""
    tuition_account = await call_ok(admin, "create_account", {"code": "4100", "name": "Tuition fees",
                                                               "type": "income", "currency": "AUD"})
    transport_account = await call_ok(admin, "create_account", {"code": "4110", "name": "Transport fees",
                                                                "type": "income", "currency": "AUD"})
    tuition = await call_ok(admin, "create_fee_item", {"code": "TUITION", "name": "Tuition",
                                                       "income_account_id": tuition_account["id"]})
    transport = await call_ok(admin, "create_fee_item", {"code": "TRANSPORT", "name": "School bus",
                                                         "income_account_id": transport_account["id"]})
    schedule = await call_ok(admin, "create_fee_schedule", {
        "code": "T1-2026", "name": "Term 1 2026 fees", "term_id": term_id, "currency": "AUD",
        "due_date": "2026-09-30",
        "lines": [{"fee_item_id": tuition["fee_item_id"], "amount_minor": TUITION, "year_level_id": level_id},
                  {"fee_item_id": transport["fee_item_id"], "amount_minor": TRANSPORT}]})
    assert [line["amount_minor"] for line in schedule["lines"]] == [TUITION, TRANSPORT], schedule
    discount = await call_ok(admin, "create_discount", {"code": "SIBLING", "name": "Sibling discount",
                                                        "kind": "sibling", "percent": 10, "sibling_position": 2,
                                                        "fee_item_id": tuition["fee_item_id"]})
    assert discount["percent"] == 10 and discount["account_id"] is None, discount
    return schedule


async def test_a_term_is_billed_paid_and_corrected_over_mcp(tmp_path):
    async with e2e_database(tmp_path) as db:
        await init_database(db)
        keys = await create_keys(db, [KeySpec(ADMIN_A), KeySpec(ADMIN_B, "admin"), KeySpec(BURSAR, "finance")])
        async with http_server(db) as server:
            clients = http_clients(server, keys)
            async with clients(ADMIN_A) as admin_a, clients(ADMIN_B) as admin_b, clients(BURSAR) as bursar:
                school = await seed_school(admin_a)
                schedule = await setup_fees(admin_a, school.level_id, school.term_id)
                await bill_pay_and_void(db, school, schedule, admin_b=admin_b, bursar=bursar)
        assert await verify_audit(db) > 0


async def bill_pay_and_void(db, school, schedule, *, admin_b: Client, bursar: Client) -> None:
    ada, alan, grace = school.student_ids  # born 2014-03-01, -02, -03: Ada is the eldest
    siblings = await call_ok(bursar, "create_family", {"name": "Lovelace-Turing family", "billing_name": "Pat Parent",
                                                       "billing_email": "pat@example.org",
                                                       "student_ids": [ada, alan]})
    hopper = await call_ok(bursar, "create_family", {"name": "Hopper family", "student_ids": [grace]})
    assert siblings["code"].startswith("F") and siblings["student_ids"] == [ada, alan]

    # Invoice the year level: a job; running it again bills nobody twice.
    job = await call_ok(bursar, "generate_invoices", {"schedule_id": schedule["schedule_id"],
                                                      "year_level_id": school.level_id,
                                                      "issue_date": "2026-09-01", "wait_s": WAIT_S})
    assert job["status"] == "succeeded", job.get("error")
    assert job["result"]["created"] == 3 and job["result"]["issued"] == 3, job
    again = await call_ok(bursar, "generate_invoices", {"schedule_id": schedule["schedule_id"],
                                                        "year_level_id": school.level_id,
                                                        "issue_date": "2026-09-01", "wait_s": WAIT_S})
    assert again["status"] == "succeeded" and again["result"]["created"] == 0, again
    invoices = {i["student_id"]: i for i in (await call_ok(bursar, "list_invoices",
                                                           {"schedule_id": schedule["schedule_id"]}))["items"]}
    full, sibling = TUITION + TRANSPORT, TUITION + TRANSPORT - TUITION // 10
    assert {s: i["total_minor"] for s, i in invoices.items()} == {ada: full, alan: sibling, grace: full}
    assert {i["status"] for i in invoices.values()} == {"issued"}
    assert len(await rows(db.url, "SELECT id FROM journal_entries WHERE source LIKE 'invoice:%'")) == 3

    # A partial payment goes to the earliest due invoice first (Ada's: same due date, lower number)...
    first = await call_ok(bursar, "record_payment", {"family_id": siblings["family_id"], "amount_minor": 300_000,
                                                     "method": "bank_transfer", "received_on": "2026-09-10",
                                                     "reference": "BT 1001", "idempotency_key": "bt-1001"})
    assert [(a["invoice_id"], a["amount_minor"]) for a in first["allocations"]] == [
        (invoices[ada]["invoice_id"], 300_000)]
    ada_invoice = await call_ok(bursar, "get_invoice", {"invoice_id": invoices[ada]["invoice_id"]})
    assert ada_invoice["status"] == "partially_paid" and ada_invoice["balance_minor"] == full - 300_000
    # ... and the rest settles both invoices of the family.
    rest = full + sibling - 300_000
    second = await call_ok(bursar, "record_payment", {"family_id": siblings["family_id"], "amount_minor": rest,
                                                      "method": "card", "received_on": "2026-09-25",
                                                      "idempotency_key": "card-2002"})
    assert second["to_family_credit_minor"] == 0 and sum(a["amount_minor"] for a in second["allocations"]) == rest
    family = await call_ok(bursar, "get_family_account", {"family_id": siblings["family_id"],
                                                          "as_of": "2026-09-30"})
    assert family["owed_minor"] == 0 and family["open_invoices"] == [] and family["credit_minor"] == 0

    # Voiding Grace's unpaid invoice waits for an admin who is not the requester.
    pending = await call_ok(bursar, "void_invoice", {"invoice_id": invoices[grace]["invoice_id"],
                                                     "on": "2026-10-05", "reason": "Grace left the school"})
    assert pending["pending"] is True and pending["level"] == "approve", pending
    assert pending["preview"]["after"] == {"status": "void", "balance_minor": 0}, pending["preview"]
    queued = await call_ok(bursar, "confirm_action", {"action_id": pending["action_id"]})
    assert queued["status"] == "queued", queued
    refused = await call_error(bursar, "approve_action", {"action_id": pending["action_id"]})
    assert refused.startswith("error: permission_denied"), refused
    still = await call_ok(bursar, "get_invoice", {"invoice_id": invoices[grace]["invoice_id"]})
    assert still["status"] == "issued"
    done = await call_ok(admin_b, "approve_action", {"action_id": pending["action_id"], "reason": "Left in week 5"})
    assert done["status"] == "executed" and done["result"]["status"] == "void", done
    again_refused = await call_error(admin_b, "approve_action", {"action_id": pending["action_id"]})
    assert again_refused.startswith("error:"), again_refused
    voided = await call_ok(bursar, "get_invoice", {"invoice_id": invoices[grace]["invoice_id"]})
    assert voided["void_entry_id"] and voided["balance_minor"] == 0

    # The aging report and the ledger agree, before and after the void.
    receivable = (await call_ok(bursar, "list_accounts", {"query": "1200"}))["items"]
    assert [(a["code"], a["name"]) for a in receivable] == [("1200", "Fees receivable")]
    for as_of, owed in (("2026-09-20", full + sibling - 300_000 + full), ("2026-10-04", full),
                        ("2026-10-05", 0), ("2026-11-30", 0)):
        aging = await call_ok(bursar, "get_receivables_aging", {"as_of": as_of})
        ledger = await call_ok(bursar, "get_account_ledger", {"account_id": receivable[0]["id"], "to_date": as_of,
                                                             "limit": 100})
        assert aging["totals"]["total"] == owed == ledger["closing_balance"], (as_of, aging["totals"], ledger)
        assert aging["agrees_with_ledger"] is True and aging["ledger_receivable_minor"] == owed
    october = await call_ok(bursar, "get_receivables_aging", {"as_of": "2026-10-04", "group_by": "student"})
    assert [(r["student_id"], r["buckets"]["days_1_30"]) for r in october["rows"]] == [(grace, full)]
    trial = await call_ok(bursar, "get_trial_balance", {})
    by_code = {row["code"]: row for row in trial["rows"]}
    assert trial["balanced"] is True and by_code["1200"]["balance"] == 0
    assert by_code["4100"]["balance"] == 2 * TUITION  # Grace's tuition was reversed with her invoice
    assert by_code["1010"]["balance"] == full + sibling  # what the family paid

    # The family's statement of account is a PDF the bursar can fetch.
    statement = await call_ok(bursar, "generate_family_statement", {"family_id": siblings["family_id"],
                                                                    "from_date": "2026-09-01",
                                                                    "to_date": "2026-09-30"})
    assert statement["closing_balance_minor"] == 0 and statement["lines"] == 4, statement
    document = await call_ok(bursar, "get_document", {"document_id": statement["document_id"],
                                                        "max_bytes": MAX_CHUNK_BYTES})
    assert base64.b64decode(document["content_base64"]).startswith(b"%PDF")
    assert hopper["family_id"] != siblings["family_id"]
