"""Plans of the ledger's gated commands (domain.kernel.plan): a manual journal entry and the reversal of an entry.

Each returns the exact journal lines the gate will post (a `finance.posting` or `finance.reversal` effect, integer
minor units of the entry's currency) and a preview derived from them: the lines with their accounts, the totals,
and every account's balance before and after (in its normal direction). Nothing here writes.

Gate level of a manual entry (DESIGN.md, "The confirmation gate"; issue 15): an entry whose total debits are above
`approve_above_minor` (the setting MCS_ERP_JOURNAL_APPROVE_ABOVE_MINOR) needs an admin's approval, others the
requester's confirmation. The threshold is an input of the plan: changing it after the preview makes the action
stale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import repository as repo
from domain.finance import rules
from domain.finance import service as finance
from domain.finance.models import Account
from domain.finance.rules import LineInput
from domain.kernel import money
from domain.kernel.actor import Actor
from domain.kernel.plan import Plan, Read

MANUAL_SOURCE = "manual"
APPROVE = "approve"


def _label(account: Account) -> str:
    return f"{account.code} {account.name}"


def _lines(payload_lines: Sequence[Mapping[str, Any]]) -> list[LineInput]:
    return [LineInput(account_id=line["account_id"], debit=line["debit"], credit=line["credit"],
                      department_id=line["department_id"], memo=line["memo"]) for line in payload_lines]


def _posted(lines: Sequence[Any]) -> list[LineInput]:
    return [LineInput(account_id=line.account_id, debit=line.debit, credit=line.credit,
                      department_id=line.department_id, memo=line.memo) for line in lines]


def preview_lines(lines: Sequence[LineInput], accounts: Mapping[int, Account]) -> list[dict[str, Any]]:
    """The lines for a person: number, account id and "code name", debit, credit (minor units), department, memo."""
    return [{"line": i + 1, "account_id": line.account_id, "account": _label(accounts[line.account_id]),
             "debit": line.debit, "credit": line.credit, "department_id": line.department_id, "memo": line.memo}
            for i, line in enumerate(lines)]


async def balances(session: AsyncSession, accounts: Mapping[int, Account],
                   lines: Sequence[LineInput]) -> tuple[dict[str, int], dict[str, int]]:
    """Each account's current balance ("code name": minor units, normal direction) and its balance once `lines`
    are posted."""
    totals = await repo.account_totals(session, account_ids=list(accounts))
    before, after = {}, {}
    for account_id, account in sorted(accounts.items(), key=lambda item: item[1].code):
        debit, credit = totals.get(account_id, (0, 0))
        label = _label(account)
        before[label] = rules.normal_balance(account.type, debit, credit)
        after[label] = before[label] + sum(rules.normal_balance(account.type, line.debit, line.credit)
                                           for line in lines if line.account_id == account_id)
    return before, after


async def plan_post_journal_entry(session: AsyncSession, actor: Actor, *, date: dt.date, memo: str,
                                  lines: Sequence[LineInput], idempotency_key: str, currency: str | None,
                                  approve_above_minor: int) -> Plan:
    """Plan posting a manual journal entry (source "manual"): one `finance.posting` effect with the exact lines
    (finance.plan_posting), at approve level when its total debits (minor units) are above `approve_above_minor`.

    When `idempotency_key` already posted the identical entry, the plan changes nothing (the preview names the
    entry, `already_posted`). Raises what finance.check_entry raises (InvalidInput, NotFound naming the line and
    field), and Conflict (field idempotency_key) when the key posted another entry."""
    already = await finance.existing_posting(session, idempotency_key=idempotency_key, date=date, memo=memo,
                                             lines=lines, source=MANUAL_SOURCE, currency=currency)
    if already is not None:
        accounts = await repo.accounts_by_ids(session, [line.account_id for line in already.lines])
        posted = _posted(already.lines)
        now, _ = await balances(session, accounts, [])
        entry = already.entry
        preview = {"date": date.isoformat(), "memo": memo, "currency": entry.currency,
                   "idempotency_key": idempotency_key, "lines": preview_lines(posted, accounts),
                   "totals": {"debit": already.total_debit, "credit": already.total_credit, "balanced": True,
                              "amount": money.format_money(already.total_debit, entry.currency)},
                   "before": {"balances": now}, "after": {"balances": now},
                   "already_posted": entry.entry_number}
        return Plan(command="post_journal_entry",
                    summary=f"Return {entry.entry_number}, already posted with this idempotency key",
                    preview=preview, basis=[Read("journal_entries", entry.id or 0, entry.version, entry.entry_number)])
    posting = await finance.plan_posting(session, date=date, memo=memo, lines=lines, source=MANUAL_SOURCE,
                                         idempotency_key=idempotency_key, currency=currency, ref="entry")
    planned = _lines(posting.payload["lines"])
    entry_currency = posting.payload["currency"]
    total = sum(line.debit for line in planned)
    accounts = await repo.accounts_by_ids(session, [line.account_id for line in planned])
    before, after = await balances(session, accounts, planned)
    amount = money.format_money(total, entry_currency)
    needs_approval = total > approve_above_minor
    preview = {"date": date.isoformat(), "memo": posting.payload["memo"], "currency": entry_currency,
               "idempotency_key": idempotency_key, "lines": preview_lines(planned, accounts),
               "totals": {"debit": total, "credit": total, "balanced": True, "amount": amount},
               "approval": {"needs_admin": needs_approval, "approve_above_minor": approve_above_minor},
               "before": {"balances": before}, "after": {"balances": after}}
    return Plan(command="post_journal_entry",
                summary=f"Post a manual journal entry dated {date} for {amount} ({len(planned)} lines): "
                        f"{posting.payload['memo'][:120]}",
                preview=preview, changes=[posting], level=APPROVE if needs_approval else None,
                inputs={"approval threshold": f"manual entries above {approve_above_minor} minor units need an "
                                              "admin's approval"})


async def plan_reverse_journal_entry(session: AsyncSession, actor: Actor, *, entry_id: int, date: dt.date,
                                     reason: str) -> Plan:
    """Plan reversing a posted entry: one `finance.reversal` effect (finance.plan_reversal) posting its exact mirror
    dated `date` and marking it reversed. Raises NotFound (entry_id), Conflict (already reversed, a reversal) and
    InvalidInput (a date before the entry's, an empty reason)."""
    reversal = await finance.plan_reversal(session, entry_id=entry_id, date=date, reason=reason, ref="reversal")
    original = await finance.get_entry(session, entry_id)
    entry = original.entry
    current = _posted(original.lines)
    mirrored = _lines(reversal.payload["lines"])
    accounts = await repo.accounts_by_ids(session, [line.account_id for line in current])
    before, after = await balances(session, accounts, mirrored)
    total = money.format_money(original.total_debit, entry.currency)
    preview = {
        "entry": entry.entry_number, "entry_date": entry.entry_date.isoformat(), "entry_memo": entry.memo,
        "currency": entry.currency, "reason": reversal.payload["reason"],
        "original_lines": preview_lines(current, accounts),
        "reversal": {"date": date.isoformat(), "memo": reversal.payload["memo"],
                     "lines": preview_lines(mirrored, accounts)},
        "totals": {"debit": original.total_credit, "credit": original.total_debit, "balanced": True,
                   "amount": total},
        "before": {"status": entry.status, "balances": before},
        "after": {"status": "reversed", "balances": after},
    }
    return Plan(command="reverse_journal_entry",
                summary=f"Reverse {entry.entry_number} ({entry.entry_date}, {total}: {entry.memo[:80]}) on {date}: "
                        f"{reversal.payload['reason'][:120]}",
                preview=preview, changes=[reversal])

