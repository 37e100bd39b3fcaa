"""Fee writes under concurrency keep their promises: a payment's idempotency key holds when two requests with it
run at the same time (a client retrying while its first call is still running), and two invoice runs racing for
one student write one live invoice (the loser's COPY is refused by the UNIQUE index as an IntegrityError, which the
edges answer as a concurrent write)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from domain.fees import service as fees
from domain.fees.models import Family, Invoice, Payment
from domain.kernel.actor import SYSTEM_ACTOR
from domain.finance.models import JournalEntry
from tests.conftest import own_runtime
from tests.fees_helpers import make_fee_school
from tools.invoke import invoke

WAIT_S = 30  # every wait here is bounded


@pytest.fixture(scope="module")
async def frt(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "fees-concurrency", in_process_jobs=True, currency="AUD") as runtime:
        yield runtime


@pytest.fixture(scope="module")
async def world(frt):
    return await make_fee_school(frt)


async def lock_waiters(frt) -> int:
    """Backends of this database waiting on a lock (PostgreSQL)."""
    async with frt.db.read() as s:
        return int((await s.exec(text(  # type: ignore[call-overload]
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"))).one()[0])


async def test_two_payments_with_one_key_at_once_record_one_payment_and_replay_it(frt, world):
    kim = world.families["Kim"]
    args = {"family_id": kim, "amount_minor": 12_345, "method": "bank_transfer", "received_on": "2026-02-20",
            "idempotency_key": "kim-race-1"}
    postgres = frt.db.dialect == "postgresql"
    if postgres:
        # Hold the family's row lock so both requests are past the start of their transactions and queued on it
        # before either can commit: the race of a retry, made certain.
        async with frt.db.write() as holder:
            await holder.exec(select(Family).where(Family.id == kim).with_for_update())
            calls = [asyncio.create_task(invoke(frt, "record_payment", args, world.bursar)) for _ in range(2)]
            async with asyncio.timeout(WAIT_S):
                while await lock_waiters(frt) < 2:
                    await asyncio.sleep(0.02)
    else:  # SQLite: writers queue on BEGIN IMMEDIATE
        calls = [asyncio.create_task(invoke(frt, "record_payment", args, world.bursar)) for _ in range(2)]
    async with asyncio.timeout(WAIT_S):
        first, second = await asyncio.gather(*calls)
    assert first.payment_id == second.payment_id
    assert sorted([first.replayed, second.replayed]) == [False, True]
    async with frt.db.read() as s:
        payments = (await s.exec(select(func.count()).select_from(Payment).where(
            Payment.idempotency_key == "kim-race-1"))).one()
        entries = (await s.exec(select(func.count()).select_from(JournalEntry).where(
            JournalEntry.source == f"fee_payment:{first.payment_id}"))).one()
    assert (payments, entries) == (1, 1)


async def test_two_invoice_runs_racing_for_a_student_write_one_live_invoice(frt, world):
    eli = world.students["Eli"]  # in the Moe family, Year 8

    async def run():
        async with frt.db.write() as s:
            return await fees.generate_invoices(s, SYSTEM_ACTOR, schedule_id=world.schedule2_id, student_ids=[eli],
                                                issue=False)

    if frt.db.dialect == "postgresql":
        # The first run's invoice stays uncommitted until the second, which did not see it, waits on the index.
        async with frt.db.write() as holder:
            first = await fees.generate_invoices(holder, SYSTEM_ACTOR, schedule_id=world.schedule2_id,
                                                 student_ids=[eli], issue=False)
            second = asyncio.create_task(run())
            async with asyncio.timeout(WAIT_S):
                while await lock_waiters(frt) < 1:
                    await asyncio.sleep(0.02)
        assert len(first.invoice_ids) == 1
        with pytest.raises(IntegrityError, match="uq_invoices_live_student_schedule"):
            async with asyncio.timeout(WAIT_S):
                await second
    else:  # SQLite: the second run starts after the first committed, sees its invoice and skips the student
        first, second_result = await run(), await run()
        assert len(first.invoice_ids) == 1 and second_result.invoice_ids == []
    async with frt.db.read() as s:
        live = (await s.exec(select(func.count()).select_from(Invoice).where(
            Invoice.student_id == eli, Invoice.fee_schedule_id == world.schedule2_id))).one()
    assert live == 1
