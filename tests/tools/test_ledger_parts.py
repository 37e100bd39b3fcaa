"""finance.post_entries in batches (tests/domain/test_ledger.py has the ledger's rules; these are the batch's)."""

from __future__ import annotations

import datetime as dt

from domain.finance import service as finance
from domain.finance.rules import LineInput
from domain.kernel.actor import SYSTEM_ACTOR
from tests.factories import unique

D = dt.date(2026, 10, 1)


async def accounts(runtime) -> tuple[int, int]:
    """A cash and an income account of their own (unique codes), committed: (cash id, income id)."""
    tag = unique()
    async with runtime.db.write() as s:
        cash = await finance.create_account(s, SYSTEM_ACTOR, code=f"{tag}-1000", name="Cash", type="asset",
                                            currency="USD")
        income = await finance.create_account(s, SYSTEM_ACTOR, code=f"{tag}-4100", name="Fees", type="income",
                                              currency="USD")
    return cash.id or 0, income.id or 0


def requests(cash: int, income: int, count: int, *, memo: str = "Fees") -> list[finance.EntryRequest]:
    lines = [LineInput(account_id=cash, debit=500), LineInput(account_id=income, credit=500)]
    tag = unique("parts")
    return [finance.EntryRequest(date=D, memo=memo, lines=lines, source="test", idempotency_key=f"{tag}-{n}")
            for n in range(count)]


async def test_a_batch_posted_again_is_replayed_whole(runtime):
    """post_entries of a batch whose every key was posted (a job retried after its commit) returns the entries
    posted and writes nothing (it failed: an empty write of no new entry)."""
    cash, income = await accounts(runtime)
    batch = requests(cash, income, 2)
    async with runtime.db.write() as s:
        posted = await finance.post_entries(s, SYSTEM_ACTOR, batch, batch="test.parts")
    async with runtime.db.write() as s:
        assert await finance.post_entries(s, SYSTEM_ACTOR, batch, batch="test.parts") == posted
