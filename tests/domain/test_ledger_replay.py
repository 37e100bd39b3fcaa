"""post_entry looks an idempotency key up only when it matters (issue 19: one query less per payment, credit note or
payroll entry): a new key goes straight to the insert, a key already taken is found by the insert and replayed, and
a request already posted is replayed even when it would no longer pass its checks."""

from __future__ import annotations

import pytest

from domain.finance import repository as finance_repo
from domain.finance import service
from domain.kernel.errors import Conflict, InvalidInput
from tests.domain.test_ledger import credit, debit, make_books, post
from tests.factories import unique


@pytest.fixture
def key_lookups(monkeypatch) -> list[str]:
    """The keys post_entry looked up (finance repository's get_entry_by_key), in order."""
    seen: list[str] = []
    real = finance_repo.get_entry_by_key

    async def counted(session, idempotency_key):
        seen.append(idempotency_key)
        return await real(session, idempotency_key)

    monkeypatch.setattr(finance_repo, "get_entry_by_key", counted)
    return seen


async def test_a_new_key_is_not_looked_up_and_a_taken_one_is_replayed(runtime, key_lookups):
    books = await make_books(runtime)
    key = unique("fresh-")
    lines = [debit(books.cash, 500), credit(books.fees, 500)]
    first = await post(runtime, books.clerk, lines, key=key, memo="Fee")
    assert not first.replayed and key_lookups == []
    again = await post(runtime, books.clerk, lines, key=key, memo="Fee")
    assert again.replayed and again.id == first.id and key_lookups == [key]
    with pytest.raises(Conflict, match="other content"):
        await post(runtime, books.clerk, [debit(books.cash, 501), credit(books.fees, 501)], key=key, memo="Fee")


async def test_a_posted_request_is_replayed_after_its_account_was_made_inactive(runtime, key_lookups):
    books = await make_books(runtime)
    key = unique("inactive-")
    lines = [debit(books.bank, 700), credit(books.fees, 700)]
    first = await post(runtime, books.clerk, lines, key=key, memo="Fee")
    async with runtime.db.write() as s:
        await service.set_account_active(s, books.clerk, account_id=books.fees.id, active=False)
    again = await post(runtime, books.clerk, lines, key=key, memo="Fee")
    assert again.replayed and again.id == first.id
    with pytest.raises(InvalidInput, match="inactive"):  # a new key with the same lines is refused as before
        await post(runtime, books.clerk, lines, key=unique("inactive-"), memo="Fee")
