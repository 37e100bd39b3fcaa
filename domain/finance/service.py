"""Ledger use cases: the chart of accounts, posting and reversing journal entries, trial balance, ledgers.

Services take the session and the actor, never commit, and append their audit row in the caller's
transaction. Amounts are integer minor units of the entry's currency (ISO 4217). Posted entries are
immutable: this module has no function that edits or deletes an entry or a line; a mistake is corrected by
`reverse_entry`, which posts the mirror entry. Other contexts (payroll, fees) post through `post_entry` with
their own `source` and an idempotency key naming the business event (e.g. "payroll_run:12"), so the same
posting never happens twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import repository as repo
from domain.finance import rules
from domain.finance.models import Account, EntryStatus, JournalEntry, JournalLine
from domain.finance.rules import LineInput
from domain.hr import service as hr
from domain.kernel import money
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit
from domain.kernel.errors import Conflict, DomainError, InvalidInput, NotFound
from domain.kernel.models import bump, snapshot
from domain.kernel.plan import ApplyContext, Effect, NewId, register_effect
from domain.kernel.references import Candidate, pick

MAX_LEDGER_PAGE = 1000
# "Reversal of JE000041: " and a reason of up to rules.MAX_MEMO characters fit the memo column (1200).
MAX_REVERSAL_MEMO = 1200

LineLike = LineInput | Mapping[str, Any]


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class PostedEntry:
    """A journal entry with its lines in line order. `replayed` is True when an earlier identical request
    with the same idempotency key had posted it (nothing was written this time)."""

    entry: JournalEntry
    lines: list[JournalLine]
    replayed: bool = False

    @property
    def id(self) -> int:
        return self.entry.id or 0

    @property
    def total_debit(self) -> int:
        return sum(line.debit for line in self.lines)

    @property
    def total_credit(self) -> int:
        return sum(line.credit for line in self.lines)


@dataclass(frozen=True)
class CheckedEntry:
    """A request that passed every rule: its lines, the accounts they post to, the currency and the total."""

    lines: list[LineInput]
    accounts: dict[int, Account]
    currency: str
    total: int


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account's debit and credit totals (minor units) over the period, and its balance."""

    account: Account
    debit_total: int
    credit_total: int

    @property
    def balance(self) -> int:
        """Balance in the account type's normal direction (positive: its usual side; rules.normal_balance)."""
        return rules.normal_balance(self.account.type, self.debit_total, self.credit_total)

    @property
    def debit_balance(self) -> int:
        """The net balance when it is on the debit side, else 0 (the trial balance's debit column)."""
        return max(self.debit_total - self.credit_total, 0)

    @property
    def credit_balance(self) -> int:
        """The net balance when it is on the credit side, else 0 (the trial balance's credit column)."""
        return max(self.credit_total - self.debit_total, 0)


@dataclass(frozen=True)
class CurrencyTotals:
    """The grand totals of one currency's accounts: they balance when the books are consistent."""

    currency: str
    total_debit: int
    total_credit: int
    total_debit_balance: int
    total_credit_balance: int

    @property
    def balanced(self) -> bool:
        return self.total_debit == self.total_credit and self.total_debit_balance == self.total_credit_balance


@dataclass(frozen=True)
class TrialBalance:
    """Accounts with postings in the period, by currency then code, and grand totals per currency (amounts of
    different currencies are never added)."""

    as_of: dt.date | None
    from_date: dt.date | None
    rows: list[TrialBalanceRow]
    totals: list[CurrencyTotals]

    @property
    def balanced(self) -> bool:
        return all(t.balanced for t in self.totals)


@dataclass(frozen=True)
class LedgerLine:
    """A line of the account with its entry and the running balance after it (normal direction)."""

    line: JournalLine
    entry: JournalEntry
    balance: int


@dataclass(frozen=True)
class AccountLedger:
    """One page of an account's lines in (entry date, line id) order, with the balance before the page's
    first line (`opening_balance`) and after its last (`closing_balance`). `next_after_id` resumes the next
    page (None on the last page)."""

    account: Account
    opening_balance: int
    closing_balance: int
    lines: list[LedgerLine]
    next_after_id: int | None


# ---------------------------------------------------------------- chart of accounts


async def get_account(session: AsyncSession, account_id: int) -> Account:
    """Return the account; raises NotFound (field account_id)."""
    return await repo.get_account_or_raise(session, account_id)


async def accounts_by_ids(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, Account]:
    """Return {id: Account} for the live accounts among `account_ids` (missing ids are left out); one query."""
    return await repo.accounts_by_ids(session, account_ids)


async def list_accounts(session: AsyncSession, *, after_id: int, limit: int, account_type: str | None = None,
                        active: bool | None = None, currency: str | None = None,
                        query: str | None = None) -> list[Account]:
    """Return up to `limit + 1` live accounts after `after_id` in id order, of one type (asset, liability, equity,
    income, expense), active flag or ISO 4217 currency, or with `query` in the code or name (case-insensitive)."""
    return await repo.list_accounts(session, after_id=after_id, limit=limit, account_type=account_type,
                                    active=active, currency=currency, query=query)


async def find_account_by_code(session: AsyncSession, code: str) -> Account | None:
    """Return the live account with that code (case-insensitive), or None."""
    return await repo.get_account_by_code(session, code)


async def create_account(session: AsyncSession, actor: Actor, *, code: str, name: str, type: str,
                         currency: str, parent_id: int | None = None) -> Account:
    """Create an active account of the chart of accounts and return it.

    `code` (1..20 letters, digits, '.', '-'; stored upper case) is unique; `type` is asset, liability,
    equity, income or expense; `currency` an ISO 4217 code (money.MINOR_UNITS). A child account (`parent_id`)
    has its parent's type and currency, and the parent must be active. Raises InvalidInput (a rule, naming
    the field), NotFound (parent_id) and Conflict (the code is taken, also when a concurrent transaction took
    it first: the UNIQUE constraint decides).
    """
    code = rules.check_account_code(code)
    checked_name = rules.check_text(name, field="name", max_length=120) or ""
    account_type = rules.check_account_type(type)
    currency = money.parse_currency(currency)
    if parent_id is not None:
        parent = await repo.get_account_or_raise(session, parent_id, field="parent_id")
        if parent.type != account_type.value:
            raise InvalidInput(f"parent account {parent.code} is of type {parent.type}; a child account has "
                               f"its parent's type, not {account_type.value}", field="parent_id")
        if parent.currency != currency:
            raise InvalidInput(f"parent account {parent.code} is in {parent.currency}; a child account has "
                               f"its parent's currency, not {currency}", field="parent_id")
        if not parent.active:
            raise InvalidInput(f"parent account {parent.code} is inactive; choose an active parent",
                               field="parent_id")
    taken = Conflict(f"account code {code!r} is already used; list_accounts shows the chart of accounts",
                     field="code")
    if await repo.get_account_by_code(session, code):
        raise taken
    account = Account(code=code, name=checked_name, type=account_type.value, currency=currency,
                      parent_id=parent_id, active=True)
    if not await repo.insert_unique(session, account):
        raise taken
    await append_audit(session, actor, tool="finance.create_account", event="account_created",
                       arguments={"code": code, "name": checked_name, "type": account_type.value,
                                  "currency": currency, "parent_id": parent_id},
                       entity="accounts", entity_id=account.id, after=snapshot(account))
    return account


async def accounts_by_codes(session: AsyncSession, codes: Iterable[str]) -> dict[str, Account]:
    """{code upper-cased: live account} for those of `codes` (compared without case) that exist, in one query."""
    return await repo.accounts_by_codes(session, codes)


async def ensure_accounts(session: AsyncSession, actor: Actor, chart: Mapping[str, tuple[str, str, str]],
                          currency: str, *, mismatch: str, found: Mapping[str, Account] | None = None
                          ) -> dict[str, int]:
    """Return {role: account id} for `chart` ({role: (code, name, type)}), creating the missing accounts in
    `currency` (another context's own accounts: payroll's, fees'). Raises InvalidInput (field currency) when one
    exists in another currency: "account 2100 (Net pay payable) is in USD, " followed by `mismatch` formatted
    with `currency` and `account_currency`. `found`: what accounts_by_codes answered for the chart's codes in
    this transaction already (not looked up again)."""
    out = {}
    if found is None:
        found = await repo.accounts_by_codes(session, [code for code, _, _ in chart.values()])  # one query
    for role, (code, name, type_) in chart.items():
        account = found.get(code.upper())
        if account is None:
            account = await create_account(session, actor, code=code, name=name, type=type_, currency=currency)
        elif account.currency != currency:
            raise InvalidInput(f"account {code} ({account.name}) is in {account.currency}, "
                               + mismatch.format(currency=currency, account_currency=account.currency),
                               field="currency")
        out[role] = account.id or 0
    return out


async def set_account_active(session: AsyncSession, actor: Actor, *, account_id: int,
                             active: bool) -> Account:
    """Activate or deactivate an account and return it; an inactive account keeps its history and balance
    but takes no new postings (reversals of its earlier entries still post). Raises NotFound (account_id)."""
    account = await repo.get_account_or_raise(session, account_id)
    if account.active == active:
        return account
    before = snapshot(account)
    account.active = active
    bump(account)
    session.add(account)
    await session.flush()
    await append_audit(session, actor, tool="finance.set_account_active", event="account_updated",
                       arguments={"account_id": account_id, "active": active}, entity="accounts",
                       entity_id=account.id, before=before, after=snapshot(account))
    return account


# ---------------------------------------------------------------- posting


def _as_line(value: LineLike, index: int) -> LineInput:
    if isinstance(value, LineInput):
        return value
    if isinstance(value, Mapping):
        try:
            return LineInput(**value)
        except TypeError as exc:
            raise InvalidInput(f"line {index}: {exc}; a line has account_id, debit, credit, department_id "
                               "and memo", field=f"lines.{index}") from None
    raise InvalidInput(f"line {index} must be a LineInput or a mapping, got {type(value).__name__}",
                       field=f"lines.{index}")


def _normalized(lines: Sequence[LineLike]) -> list[LineInput]:
    if not isinstance(lines, Sequence) or isinstance(lines, str):
        raise InvalidInput("lines must be a list of journal lines", field="lines")
    out = [_as_line(line, i) for i, line in enumerate(lines)]
    return [LineInput(account_id=line.account_id, debit=line.debit, credit=line.credit,
                      department_id=line.department_id,
                      memo=(line.memo.strip() or None) if isinstance(line.memo, str) else line.memo)
            for line in out]


async def check_entry(session: AsyncSession, *, date: dt.date, memo: str, lines: Sequence[LineLike],
                      source: str = "manual", currency: str | None = None, allow_inactive: bool = False,
                      memo_limit: int = rules.MAX_MEMO) -> CheckedEntry:
    """Check a requested entry against every rule without writing anything, and return it checked.

    Rules, in order: a calendar `date`; a memo of 1..`memo_limit` characters; a `source` like "manual" or
    "payroll_run:12"; 2..5000 lines, each with a positive integer account id and exactly one of debit or
    credit > 0 (integer minor units, at most rules.MAX_AMOUNT); every account exists and is active (unless
    `allow_inactive`, for reversals); every account is in one currency (and in `currency` when given); every
    department exists; debits equal credits (the double-entry rule, rules.check_balanced).
    Raises InvalidInput (fields `date`, `memo`, `source`, `currency`, `lines`, `lines.<i>.debit`, ...) or
    NotFound (`lines.<i>.account_id`, `lines.<i>.department_id`); the unbalanced case names both totals.
    """
    rules.check_date(date)
    rules.check_text(memo, field="memo", max_length=memo_limit)
    rules.check_source(source)
    wanted_currency = None if currency is None else money.parse_currency(currency)
    checked = _normalized(lines)
    rules.check_line_shapes(checked)
    accounts = await repo.accounts_by_ids(session, [line.account_id for line in checked])
    for index, line in enumerate(checked):
        account = accounts.get(line.account_id)
        if account is None:
            raise NotFound(f"line {index}: no account with id {line.account_id}; list_accounts shows the "
                           "chart of accounts", field=f"lines.{index}.account_id")
        if not account.active and not allow_inactive:
            raise InvalidInput(f"line {index}: account {account.code} {account.name} is inactive and takes "
                               "no new postings; use an active account", field=f"lines.{index}.account_id")
        department = line.department_id
        if department is not None and await hr.get_department(session, department) is None:
            raise NotFound(f"line {index}: no department with id {department}; list_departments shows them",
                           field=f"lines.{index}.department_id")
    currencies = sorted({a.currency for a in accounts.values()})
    if len(currencies) > 1:
        by_code = sorted(accounts.values(), key=lambda a: a.code)
        listed = ", ".join(f"{a.code} ({a.currency})" for a in by_code)
        raise InvalidInput(f"the lines post to accounts in different currencies: {listed}; an entry is in "
                           "one currency (post one entry per currency)", field="lines")
    entry_currency = currencies[0]
    if wanted_currency is not None and wanted_currency != entry_currency:
        raise InvalidInput(f"the entry's accounts are in {entry_currency}, not {wanted_currency}",
                           field="currency")
    total, _ = rules.check_balanced(checked, entry_currency)
    return CheckedEntry(lines=checked, accounts=accounts, currency=entry_currency, total=total)


def _line_key(line: LineInput | JournalLine) -> tuple:
    return (line.account_id, line.debit, line.credit, line.department_id, line.memo or None)


def _differences(entry: JournalEntry, lines: list[JournalLine], *, date: dt.date, memo: str, source: str,
                 requested: list[LineInput], currency: str | None) -> list[str]:
    diff = []
    if entry.entry_date != date:
        diff.append(f"date {entry.entry_date} vs {date}")
    if entry.memo != memo:
        diff.append("memo")
    if entry.source != source:
        diff.append(f"source {entry.source!r} vs {source!r}")
    if currency is not None and entry.currency != currency.strip().upper():
        diff.append(f"currency {entry.currency} vs {currency}")
    if [_line_key(line) for line in lines] != [_line_key(line) for line in requested]:
        diff.append("lines")
    return diff


async def _replay(session: AsyncSession, entry: JournalEntry, *, key: str, date: dt.date, memo: str,
                  source: str, requested: list[LineInput], currency: str | None = None) -> PostedEntry:
    """Return the entry an idempotency key already posted when the request is the same; Conflict otherwise."""
    lines = await repo.lines_of(session, entry.id or 0)
    diff = _differences(entry, lines, date=date, memo=memo, source=source, requested=requested,
                        currency=currency)
    if diff:
        raise Conflict(f"idempotency_key {key!r} already posted entry {entry.entry_number} (dated "
                       f"{entry.entry_date}) with other content ({'; '.join(diff)}); a key names one "
                       "posting: use a new key for a different entry", field="idempotency_key",
                       details={"entry_id": entry.id, "entry_number": entry.entry_number})
    return PostedEntry(entry, lines, replayed=True)


async def existing_posting(session: AsyncSession, *, idempotency_key: str, date: dt.date, memo: str,
                           lines: Sequence[LineLike], source: str,
                           currency: str | None = None) -> PostedEntry | None:
    """Return the entry `idempotency_key` already posted (`replayed` True) when the request is identical,
    None when the key is unused; raises Conflict (field idempotency_key) naming what differs otherwise."""
    existing = await repo.get_entry_by_key(session, idempotency_key)
    if existing is None:
        return None
    return await _replay(session, existing, key=idempotency_key, date=date, memo=memo.strip(), source=source,
                         requested=_normalized(lines), currency=currency)


def _rows(lines: list[LineInput]) -> list[JournalLine]:
    return [JournalLine(entry_id=0, line_no=i + 1, account_id=line.account_id, debit=line.debit,
                        credit=line.credit, department_id=line.department_id, memo=line.memo)
            for i, line in enumerate(lines)]


def _entry_args(*, date: dt.date, memo: str, source: str, key: str, lines: list[LineInput]) -> dict[str, Any]:
    return {"date": date.isoformat(), "memo": memo, "source": source, "idempotency_key": key,
            "lines": [{"account_id": line.account_id, "debit": line.debit, "credit": line.credit,
                       "department_id": line.department_id, "memo": line.memo} for line in lines]}


def _entry_after(posted: PostedEntry) -> dict[str, Any]:
    entry = posted.entry
    return {"entry_id": entry.id, "entry_number": entry.entry_number, "date": entry.entry_date.isoformat(),
            "currency": entry.currency, "status": entry.status, "total_debit": posted.total_debit,
            "total_credit": posted.total_credit, "reverses_entry_id": entry.reverses_entry_id}


async def post_entry(session: AsyncSession, actor: Actor, *, date: dt.date, memo: str,
                     lines: Sequence[LineLike], source: str, idempotency_key: str,
                     currency: str | None = None) -> PostedEntry:
    """Post a balanced journal entry dated `date` and return it with its lines (numbered JE000042).

    `lines` are LineInputs (or mappings with the same keys): `account_id`, exactly one of `debit`/`credit`
    > 0 in integer minor units of the accounts' common currency, optional `department_id` (cost centre) and
    `memo`. `source` says what posted it ("manual", "payroll_run:12"); `currency`, when given, must be the
    accounts'. `idempotency_key` (1..200 characters) names the posting: repeating an identical request
    returns the entry already posted (`replayed` True, nothing written); the same key with another date,
    memo, source or lines raises Conflict (field idempotency_key). This holds under concurrency: the UNIQUE
    constraint on the key decides, and the loser of a race gets the winner's entry or the Conflict. The
    other rules and their errors: see `check_entry`. Appends one audit row (event entry_posted).
    """
    key = rules.check_text(idempotency_key, field="idempotency_key", max_length=rules.MAX_KEY) or ""
    rules.check_date(date)
    requested = _normalized(lines)
    clean_memo = rules.check_text(memo, field="memo", max_length=rules.MAX_MEMO) or ""
    # The key is looked up only when it matters, not before every posting (one query less for each payment, credit
    # note or payroll entry, whose keys are almost always new): when the insert finds it taken (below), and when the
    # request fails a check, since a request already posted is answered with its entry even if it would no longer
    # pass (an account made inactive since).
    try:
        checked = await check_entry(session, date=date, memo=clean_memo, lines=requested, source=source,
                                    currency=currency)
    except DomainError:
        existing = await existing_posting(session, idempotency_key=key, date=date, memo=clean_memo,
                                          lines=requested, source=source, currency=currency)
        if existing is not None:
            return existing
        raise
    entry = JournalEntry(entry_number="", entry_date=date, memo=clean_memo, source=source,
                         status=EntryStatus.POSTED.value, currency=checked.currency, idempotency_key=key,
                         posted_by=actor.id or None)
    rows = _rows(checked.lines)
    inserted = await repo.post_new_entry(session, entry, rows)
    if inserted is None:
        winner = await repo.get_entry_by_key(session, key)
        if winner is None:  # pragma: no cover - the key is the only UNIQUE column a new entry can collide on
            raise Conflict("the entry could not be posted because of a concurrent posting; try again")
        return await _replay(session, winner, key=key, date=date, memo=clean_memo, source=source,
                             requested=requested, currency=currency)
    entry = inserted
    posted = PostedEntry(entry, rows)
    await append_audit(session, actor, tool="finance.post_entry", event="entry_posted",
                       arguments=_entry_args(date=date, memo=clean_memo, source=source, key=key,
                                             lines=checked.lines),
                       entity="journal_entries", entity_id=entry.id, after=_entry_after(posted))
    return posted


POSTING = "finance.posting"
"""The plan effect of one journal entry (domain.kernel.plan.Effect), applied by post_entry."""


def template_text(text: str) -> str:
    """`text` made safe to put in a posting template (its braces doubled), for plan_posting's `ids`."""
    return text.replace("{", "{{").replace("}", "}}")


def _filled(template: str, ids: Mapping[str, Any]) -> str:
    return template.format(**ids) if ids else template


async def plan_posting(session: AsyncSession, *, date: dt.date, memo: str, lines: Sequence[LineLike], source: str,
                       idempotency_key: str, currency: str | None = None, ref: str | None = None,
                       ids: Mapping[str, Any] | None = None) -> Effect:
    """Check a journal entry against every rule (check_entry) without writing it and return it as a plan's
    effect: date, memo, source, idempotency key, currency and the exact lines (account, debit or credit in minor
    units, department, memo) that applying the plan posts.

    `ids` ({name: NewId(ref)}) names rows the same plan creates before this posting: the memo, source and key are
    then templates (str.format, e.g. "refund:{refund}", "Refund RF{refund:06d}"; put free text through
    template_text) filled with those ids when the plan is applied; the memo is checked with 0 for each id. Raises
    what check_entry raises, and Conflict (field idempotency_key) when an entry with that key was posted
    already."""
    zeros = {name: 0 for name in (ids or {})}
    key = rules.check_text(idempotency_key, field="idempotency_key", max_length=rules.MAX_KEY) or ""
    clean_memo = rules.check_text(memo, field="memo", max_length=rules.MAX_MEMO) or ""
    checked = await check_entry(session, date=date, memo=_filled(clean_memo, zeros), lines=lines,
                                source=_filled(source, zeros), currency=currency)
    if not ids and await repo.get_entry_by_key(session, key) is not None:
        raise Conflict(f"an entry with idempotency key {key} is posted already", field="idempotency_key")
    payload: dict[str, Any] = {
        "date": date, "memo": clean_memo, "source": source, "idempotency_key": key, "currency": checked.currency,
        "lines": [{"account_id": line.account_id, "debit": line.debit, "credit": line.credit,
                   "department_id": line.department_id, "memo": line.memo} for line in checked.lines]}
    if ids:
        payload["ids"] = dict(ids)
    return Effect(POSTING, payload, ref=ref)


async def _apply_posting(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    ids = payload.get("ids") or {}
    posted = await post_entry(session, context.actor, date=payload["date"], memo=_filled(payload["memo"], ids),
                              lines=payload["lines"], source=_filled(payload["source"], ids),
                              idempotency_key=_filled(payload["idempotency_key"], ids),
                              currency=payload["currency"])
    return posted.id


register_effect(POSTING, _apply_posting)


async def get_entry(session: AsyncSession, entry_id: int) -> PostedEntry:
    """Return a journal entry with its lines; raises NotFound (field entry_id)."""
    entry = await repo.get_entry_or_raise(session, entry_id)
    return PostedEntry(entry, await repo.lines_of(session, entry_id))


# ---------------------------------------------------------------- reversal


def reversal_key(entry_id: int) -> str:
    """The idempotency key a reversal gets when the caller gives none."""
    return f"reversal-of-entry:{entry_id}"


def reversal_memo(entry: JournalEntry, reason: str) -> str:
    """The memo of the reversal of `entry`: "Reversal of JE000041: <reason>"."""
    return f"Reversal of {entry.entry_number}: {reason}"


def check_reversible(entry: JournalEntry, date: dt.date) -> None:
    """Rule: an entry is reversed at most once, a reversal is never reversed (post a new entry instead), and
    the reversal is dated on or after the entry. Raises Conflict (field entry_id) or InvalidInput (date)."""
    if entry.reverses_entry_id is not None:
        raise Conflict(f"entry {entry.entry_number} is itself the reversal of entry "
                       f"{entry.reverses_entry_id}; a reversal cannot be reversed: post a new entry instead",
                       field="entry_id")
    if entry.status == EntryStatus.REVERSED.value or entry.reversed_by_entry_id is not None:
        raise Conflict(f"entry {entry.entry_number} was already reversed by entry "
                       f"{entry.reversed_by_entry_id}; an entry is reversed only once", field="entry_id")
    rules.check_date(date)
    if date < entry.entry_date:
        raise InvalidInput(f"the reversal date {date} is before the entry's date {entry.entry_date}; a "
                           "reversal is dated on or after the entry it reverses", field="date")


def _as_inputs(lines: Sequence[JournalLine]) -> list[LineInput]:
    return [LineInput(account_id=line.account_id, debit=line.debit, credit=line.credit,
                      department_id=line.department_id, memo=line.memo) for line in lines]


async def reverse_entry(session: AsyncSession, actor: Actor, entry_id: int, *, date: dt.date, reason: str,
                        idempotency_key: str | None = None) -> PostedEntry:
    """Post the mirror of entry `entry_id` (every debit becomes a credit of the same amount on the same
    account and department, and vice versa) dated `date`, mark the original reversed, and return the reversal.

    The reversal's memo is "Reversal of JE000041: <reason>" (reason 1..1000 characters), its source
    "reversal:<entry_id>"; it posts even to accounts deactivated since. With an `idempotency_key`, repeating
    the identical request returns the reversal already posted; without one, the key is reversal_key(entry_id)
    and a second call raises Conflict. Raises NotFound (entry_id), Conflict (already reversed, also when a
    concurrent reversal committed first: the original row is locked and `reverses_entry_id` is UNIQUE; the
    entry is itself a reversal; the key names another posting) and InvalidInput (date before the entry's
    date, an empty reason). Appends one audit row (event entry_reversed).
    """
    rules.check_date(date)
    clean_reason = rules.check_text(reason, field="reason", max_length=rules.MAX_MEMO) or ""
    key = None if idempotency_key is None else (
        rules.check_text(idempotency_key, field="idempotency_key", max_length=rules.MAX_KEY) or "")
    source = f"reversal:{entry_id}"
    if key is not None:
        existing = await repo.get_entry_by_key(session, key)
        if existing is not None:
            if existing.reverses_entry_id != entry_id:
                raise Conflict(f"idempotency_key {key!r} already posted entry {existing.entry_number}, which "
                               f"is not a reversal of entry {entry_id}; use a new key",
                               field="idempotency_key")
            original = await repo.get_entry_or_raise(session, entry_id)
            mirrored = rules.mirror(_as_inputs(await repo.lines_of(session, entry_id)))
            return await _replay(session, existing, key=key, date=date, source=source, requested=mirrored,
                                 memo=reversal_memo(original, clean_reason))
    original = await repo.get_entry_or_raise(session, entry_id, for_update=True)
    memo = reversal_memo(original, clean_reason)
    mirrored = rules.mirror(_as_inputs(await repo.lines_of(session, entry_id)))
    if key is not None and original.reversed_by_entry_id is not None:
        # A concurrent identical request (same key) committed while this one waited for the row lock.
        winner = await repo.get_entry(session, original.reversed_by_entry_id)
        if winner is not None and winner.idempotency_key == key:
            return await _replay(session, winner, key=key, date=date, memo=memo, source=source,
                                 requested=mirrored)
    check_reversible(original, date)
    before = snapshot(original)
    checked = await check_entry(session, date=date, memo=memo, lines=mirrored, source=source,
                                allow_inactive=True, memo_limit=MAX_REVERSAL_MEMO)
    reversal = JournalEntry(entry_number="", entry_date=date, memo=memo, source=source,
                            status=EntryStatus.POSTED.value, currency=original.currency,
                            reverses_entry_id=original.id, idempotency_key=key or reversal_key(entry_id),
                            posted_by=actor.id or None)
    rows = _rows(checked.lines)
    if not await repo.insert_entry(session, reversal, rows):
        winner = await repo.get_reversal_of(session, entry_id)
        if winner is not None and key is not None and winner.idempotency_key == key:
            return await _replay(session, winner, key=key, date=date, memo=memo, source=source,
                                 requested=mirrored)
        if winner is not None:
            raise Conflict(f"entry {original.entry_number} was already reversed by {winner.entry_number}; an "
                           "entry is reversed only once", field="entry_id")
        raise Conflict(f"idempotency_key {reversal.idempotency_key!r} already names another posting; use a "
                       "new key", field="idempotency_key")
    original.status = EntryStatus.REVERSED.value
    original.reversed_by_entry_id = reversal.id
    bump(original)
    session.add(original)
    await session.flush()
    posted = PostedEntry(reversal, rows)
    await append_audit(session, actor, tool="finance.reverse_entry", event="entry_reversed",
                       arguments={"entry_id": entry_id, "date": date.isoformat(), "reason": clean_reason,
                                  "idempotency_key": idempotency_key},
                       entity="journal_entries", entity_id=original.id, before=before,
                       after={"original": snapshot(original), "reversal": _entry_after(posted)})
    return posted


REVERSAL = "finance.reversal"
"""The plan effect of reversing one journal entry, applied by reverse_entry."""


async def plan_reversal(session: AsyncSession, *, entry_id: int, date: dt.date, reason: str,
                        ref: str | None = None, idempotency_key: str | None = None) -> Effect:
    """Check that entry `entry_id` can be reversed on `date` (check_reversible) without writing anything and
    return the reversal as a plan's effect: the entry (id, number, version), the date, the memo and the exact
    mirrored lines it posts (minor units); with `idempotency_key` (e.g. "invoice-void:42"), the key the reversal is
    posted under (default reversal_key(entry_id)). Raises NotFound (entry_id), Conflict, InvalidInput as
    reverse_entry, and Conflict (field idempotency_key) when the key already names a posting."""
    clean_reason = rules.check_text(reason, field="reason", max_length=rules.MAX_MEMO) or ""
    original = await repo.get_entry_or_raise(session, entry_id)
    check_reversible(original, date)
    mirrored = rules.mirror(_as_inputs(await repo.lines_of(session, entry_id)))
    payload: dict[str, Any] = {
        "entry_id": entry_id, "entry_number": original.entry_number, "entry_version": original.version,
        "date": date, "reason": clean_reason, "memo": reversal_memo(original, clean_reason),
        "lines": [{"account_id": line.account_id, "debit": line.debit, "credit": line.credit,
                   "department_id": line.department_id, "memo": line.memo} for line in mirrored]}
    if idempotency_key is not None:
        key = rules.check_text(idempotency_key, field="idempotency_key", max_length=rules.MAX_KEY) or ""
        if await repo.get_entry_by_key(session, key) is not None:
            raise Conflict(f"an entry with idempotency key {key} is posted already", field="idempotency_key")
        payload["idempotency_key"] = key
    return Effect(REVERSAL, payload, ref=ref)


async def _apply_reversal(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    posted = await reverse_entry(session, context.actor, payload["entry_id"], date=payload["date"],
                                 reason=payload["reason"], idempotency_key=payload.get("idempotency_key"))
    return posted.id


register_effect(REVERSAL, _apply_reversal)


# ---------------------------------------------------------------- reports


async def trial_balance(session: AsyncSession, *, as_of: dt.date | None = None,
                        from_date: dt.date | None = None, currency: str | None = None) -> TrialBalance:
    """Return every account with postings dated from_date..as_of (both inclusive, both optional).

    Per account: debit total, credit total (minor units of its currency), the balance in its normal direction
    and the net debit or credit balance. Grand totals are per currency (amounts of different currencies are
    never added); in each, total debits equal total credits and debit balances equal credit balances, since
    every entry balances. Reversed entries and their reversals both count (they cancel out). Raises
    InvalidInput when from_date is after as_of (field from_date) or `currency` is not ISO 4217.
    """
    if as_of is not None:
        rules.check_date(as_of, field="as_of")
    if from_date is not None:
        rules.check_date(from_date, field="from_date")
    if as_of is not None and from_date is not None and from_date > as_of:
        raise InvalidInput(f"from_date {from_date} is after as_of {as_of}; give a period that ends on or "
                           "after it starts", field="from_date")
    wanted = None if currency is None else money.parse_currency(currency)
    sums = await repo.account_totals(session, as_of=as_of, from_date=from_date)
    accounts = await repo.accounts_by_ids(session, sums)
    rows = [TrialBalanceRow(account=accounts[account_id], debit_total=debit, credit_total=credit)
            for account_id, (debit, credit) in sums.items()
            if account_id in accounts and (wanted is None or accounts[account_id].currency == wanted)]
    rows.sort(key=lambda row: (row.account.currency, row.account.code))
    totals = []
    for code in sorted({row.account.currency for row in rows}):
        of = [row for row in rows if row.account.currency == code]
        totals.append(CurrencyTotals(currency=code, total_debit=sum(r.debit_total for r in of),
                                     total_credit=sum(r.credit_total for r in of),
                                     total_debit_balance=sum(r.debit_balance for r in of),
                                     total_credit_balance=sum(r.credit_balance for r in of)))
    return TrialBalance(as_of=as_of, from_date=from_date, rows=rows, totals=totals)


async def account_balance(session: AsyncSession, account_id: int, *, as_of: dt.date | None = None) -> int:
    """Return the account's balance in its normal direction (integer minor units) over entries dated up to
    `as_of` (inclusive; all entries when None). Raises NotFound (account_id)."""
    account = await repo.get_account_or_raise(session, account_id)
    totals = await repo.account_totals(session, as_of=as_of, account_ids=[account_id])
    debit, credit = totals.get(account_id, (0, 0))
    return rules.normal_balance(account.type, debit, credit)


async def account_ledger(session: AsyncSession, account_id: int, *, from_date: dt.date | None = None,
                         to_date: dt.date | None = None, after_id: int = 0, limit: int = 50) -> AccountLedger:
    """Return one page of an account's journal lines dated from_date..to_date (inclusive, optional), ordered
    by entry date then line id, each with the running balance after it.

    Balances are in the account type's normal direction (rules.normal_balance), integer minor units of the
    account's currency, and include every line before the page (so the first page's opening balance is the
    balance brought forward at from_date). `after_id` is the last line id of the previous page (0: the first
    page); `limit` is 1..1000. Raises NotFound (account_id) and InvalidInput (to_date before from_date, a bad
    limit, an `after_id` that is not a line of this account: field cursor).
    """
    account = await repo.get_account_or_raise(session, account_id)
    if from_date is not None:
        rules.check_date(from_date, field="from_date")
    if to_date is not None:
        rules.check_date(to_date, field="to_date")
    if from_date is not None and to_date is not None and to_date < from_date:
        raise InvalidInput(f"to_date {to_date} is before from_date {from_date}", field="to_date")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LEDGER_PAGE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LEDGER_PAGE}, got {limit!r}",
                           field="limit")
    after = None
    if after_id:
        after = await repo.ledger_cursor_key(session, account_id, after_id)
        if after is None:
            raise InvalidInput(f"the cursor does not point at a line of account {account.code}; pass the "
                               "next_cursor of the previous page of this account, or omit it", field="cursor")
    debit, credit = await repo.sums_before(session, account_id, before_date=from_date, through=after)
    opening = rules.normal_balance(account.type, debit, credit)
    rows = await repo.ledger_lines(session, account_id, from_date=from_date, to_date=to_date, after=after,
                                   limit=limit)
    page = rows[:limit]
    running = opening
    out = []
    for line, entry in page:
        running += rules.normal_balance(account.type, line.debit, line.credit)
        out.append(LedgerLine(line=line, entry=entry, balance=running))
    next_after = (page[-1][0].id or 0) if len(rows) > limit else None
    return AccountLedger(account=account, opening_balance=opening, closing_balance=running, lines=out,
                         next_after_id=next_after)


# ---------------------------------------------------------------- many postings at once


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """One entry of a batch for `post_entries`: the same fields `post_entry` takes."""

    date: dt.date
    memo: str
    lines: list[LineInput]
    source: str
    idempotency_key: str


async def post_entries(session: AsyncSession, actor: Actor, requests: Sequence[EntryRequest], *,
                       batch: str) -> dict[str, int]:
    """Post many balanced entries at once and return {idempotency key: entry id} for every request.

    The rules are `post_entry`'s, checked for every request before anything is written (the accounts are
    read once): a calendar date, a memo, a source, 2..5000 lines with one positive amount each, active accounts
    in one currency per entry, debits equal to credits. A key already posted with the identical content returns
    that entry (nothing written for it); with other content raises Conflict (field idempotency_key). The new
    entries and their lines are written with multi-row statements, and one audit row (event entries_posted,
    tool `batch`, e.g. "fees.issue_invoices") lists them. Raises InvalidInput / NotFound naming the request
    (`requests.<i>.lines.<j>.debit`) and Conflict when a concurrent transaction posted one of the keys first
    (retrying returns its entries).
    """
    if not requests:
        return {}
    keys = [rules.check_text(r.idempotency_key, field="idempotency_key", max_length=rules.MAX_KEY) or ""
            for r in requests]
    if len(set(keys)) != len(keys):
        raise InvalidInput("two entries of the batch share an idempotency key; a key names one posting",
                           field="idempotency_key")
    done = await repo.entries_by_keys(session, keys)
    fresh = [(key, request) for key, request in zip(keys, requests, strict=True) if key not in done]
    for key, request in zip(keys, requests, strict=True):
        if key in done:
            await _replay(session, done[key], key=key, date=request.date, memo=request.memo.strip(),
                          source=request.source, requested=_normalized(request.lines))
    accounts = await repo.accounts_by_ids(session, {line.account_id for _, r in fresh for line in r.lines})
    departments = {line.department_id for _, r in fresh for line in r.lines if line.department_id is not None}
    for department in sorted(departments):
        if await hr.get_department(session, department) is None:
            raise NotFound(f"no department with id {department}; list_departments shows them",
                           field="lines.department_id")
    entries, lines, total = [], [], 0
    # An entry's line checks (shapes, accounts, one currency, balance) depend on its lines alone, and a batch's
    # requests often share one list of lines (a term's 10,000 invoices have a few dozen kinds): each list is checked
    # once, keyed by identity (the requests keep the lists alive, and nothing changes them during this call).
    checked_lines: dict[int, tuple[str, int]] = {}
    for index, (key, request) in enumerate(fresh):
        where = f"requests.{index}"
        try:
            rules.check_date(request.date)
            memo = rules.check_text(request.memo, field="memo", max_length=rules.MAX_MEMO) or ""
            rules.check_source(request.source)
        except InvalidInput as exc:
            raise InvalidInput(f"entry {key!r}: {exc.message}", field=f"{where}.{exc.field}") from None
        known = checked_lines.get(id(request.lines))
        if known is None:
            known = checked_lines[id(request.lines)] = _check_batch_lines(key, where, request.lines, accounts)
        currency, amount = known
        total += amount
        entries.append({"entry_date": request.date, "memo": memo, "source": request.source,
                        "status": EntryStatus.POSTED.value, "currency": currency, "reverses_entry_id": None,
                        "reversed_by_entry_id": None, "idempotency_key": key, "posted_by": actor.id or None})
        lines.append(request.lines)
    try:
        ids = await repo.insert_entries_bulk(session, entries, lines)
    except IntegrityError:
        raise Conflict("a concurrent request posted some of these entries first; try again (the entries "
                       "already posted are returned, not posted twice)") from None
    posted = {**{key: row.id or 0 for key, row in done.items()},
              **{key: entry_id for (key, _), entry_id in zip(fresh, ids, strict=True)}}
    if ids:
        await append_audit(session, actor, tool=batch, event="entries_posted",
                           arguments={"entries": len(ids), "first_key": fresh[0][0], "last_key": fresh[-1][0]},
                           entity="journal_entries", entity_id=ids[0],
                           after={"entry_ids": ids, "total_debit": total})
    return posted


def _check_batch_lines(key: str, where: str, lines: Sequence[LineInput],
                       accounts: Mapping[int, Account]) -> tuple[str, int]:
    """Check the lines of the batch entry `key` (request `where`): shapes, live and active accounts in one currency,
    debits equal to credits. Returns (the entry's currency, its total debit); raises InvalidInput / NotFound naming
    the request and line."""
    try:
        rules.check_line_shapes(lines)
    except InvalidInput as exc:
        raise InvalidInput(f"entry {key!r}: {exc.message}", field=f"{where}.{exc.field}") from None
    currencies = set()
    for number, line in enumerate(lines):
        account = accounts.get(line.account_id)
        if account is None:
            raise NotFound(f"entry {key!r} line {number}: no account with id {line.account_id}",
                           field=f"{where}.lines.{number}.account_id")
        if not account.active:
            raise InvalidInput(f"entry {key!r} line {number}: account {account.code} is inactive and takes "
                               "no new postings", field=f"{where}.lines.{number}.account_id")
        currencies.add(account.currency)
    if len(currencies) != 1:
        raise InvalidInput(f"entry {key!r} posts to accounts in {sorted(currencies)}; an entry is in one "
                           "currency", field=f"{where}.lines")
    currency = currencies.pop()
    amount, _ = rules.check_balanced(lines, currency)
    return currency, amount


# ---------------------------------------------------------------- plans that create accounts (payroll's first posting)


ACCOUNT = "finance.account"
"""The plan effect of creating one account (code, name, type, currency), applied by create_account; its ref
(account:<code>) names the new account's id for the lines of a later posting in the same plan (NewId)."""


async def plan_accounts(session: AsyncSession, chart: Mapping[str, tuple[str, str, str]], currency: str, *,
                        mismatch: str) -> tuple[dict[str, int | NewId], list[Effect]]:
    """ensure_accounts without writing: {role: the existing account's id, or NewId("account:<code>") for a
    missing one}, and one finance.account effect per missing account (created in `currency` when the plan is
    applied, before the lines that post to it). Raises InvalidInput (field currency) as ensure_accounts does."""
    wanted = money.parse_currency(currency)
    ids: dict[str, int | NewId] = {}
    creates: list[Effect] = []
    for role, (code, name, type_) in chart.items():
        account = await find_account_by_code(session, code)
        if account is None:
            ref = f"account:{rules.check_account_code(code)}"
            creates.append(Effect(ACCOUNT, {"code": rules.check_account_code(code), "name": name,
                                            "type": rules.check_account_type(type_).value, "currency": wanted},
                                  ref=ref))
            ids[role] = NewId(ref)
        elif account.currency != wanted:
            raise InvalidInput(f"account {code} ({account.name}) is in {account.currency}, "
                               + mismatch.format(currency=wanted, account_currency=account.currency),
                               field="currency")
        else:
            ids[role] = account.id or 0
    return ids, creates


async def _apply_account(session: AsyncSession, context: ApplyContext, payload: Mapping[str, Any]) -> int:
    account = await create_account(session, context.actor, code=payload["code"], name=payload["name"],
                                   type=payload["type"], currency=payload["currency"])
    return account.id or 0


register_effect(ACCOUNT, _apply_account)


async def plan_posting_with_accounts(session: AsyncSession, *, accounts: Sequence[Effect], date: dt.date, memo: str,
                                     lines: Sequence[Mapping[str, Any]], source: str, idempotency_key: str,
                                     currency: str | None = None, ref: str | None = None) -> Effect:
    """plan_posting for an entry whose lines may post to accounts the same plan creates first (`accounts`, the
    finance.account effects of plan_accounts; a line names one by its NewId). Such a line is checked against the
    account as it will be created (active, in its currency); everything else as check_entry checks it. With no
    new account this is plan_posting. Raises what plan_posting raises."""
    if not accounts:
        return await plan_posting(session, date=date, memo=memo, lines=lines, source=source,
                                  idempotency_key=idempotency_key, currency=currency, ref=ref)
    new = {a.ref: a.payload for a in accounts}
    key = rules.check_text(idempotency_key, field="idempotency_key", max_length=rules.MAX_KEY) or ""
    rules.check_date(date)
    clean_memo = rules.check_text(memo, field="memo", max_length=rules.MAX_MEMO) or ""
    rules.check_source(source)
    wanted_currency = None if currency is None else money.parse_currency(currency)
    requested = _normalized(lines)
    for index, line in enumerate(requested):
        if isinstance(line.account_id, NewId) and line.account_id.ref not in new:
            raise InvalidInput(f"line {index} posts to {line.account_id.ref}, which this plan does not create",
                               field=f"lines.{index}.account_id")
    # The shapes (ids, amounts) with a stand-in id for each new account.
    shaped = [dataclasses.replace(line, account_id=1) if isinstance(line.account_id, NewId) else line
              for line in requested]
    rules.check_line_shapes(shaped)
    existing = await repo.accounts_by_ids(session, [line.account_id for line in requested
                                                    if not isinstance(line.account_id, NewId)])
    currencies = set()
    for index, line in enumerate(requested):
        if isinstance(line.account_id, NewId):
            currencies.add(new[line.account_id.ref]["currency"])
        else:
            account = existing.get(line.account_id)
            if account is None:
                raise NotFound(f"line {index}: no account with id {line.account_id}; list_accounts shows the "
                               "chart of accounts", field=f"lines.{index}.account_id")
            if not account.active:
                raise InvalidInput(f"line {index}: account {account.code} {account.name} is inactive and takes "
                                   "no new postings; use an active account", field=f"lines.{index}.account_id")
            currencies.add(account.currency)
        if line.department_id is not None and await hr.get_department(session, line.department_id) is None:
            raise NotFound(f"line {index}: no department with id {line.department_id}; list_departments shows "
                           "them", field=f"lines.{index}.department_id")
    if len(currencies) > 1:
        raise InvalidInput(f"the lines post to accounts in different currencies: {sorted(currencies)}; an entry is "
                           "in one currency (post one entry per currency)", field="lines")
    entry_currency = currencies.pop()
    if wanted_currency is not None and wanted_currency != entry_currency:
        raise InvalidInput(f"the entry's accounts are in {entry_currency}, not {wanted_currency}", field="currency")
    rules.check_balanced(shaped, entry_currency)
    if await repo.get_entry_by_key(session, key) is not None:
        raise Conflict(f"an entry with idempotency key {key} is posted already", field="idempotency_key")
    return Effect(POSTING, {"date": date, "memo": clean_memo, "source": source, "idempotency_key": key,
                            "currency": entry_currency,
                            "lines": [{"account_id": line.account_id, "debit": line.debit, "credit": line.credit,
                                       "department_id": line.department_id, "memo": line.memo}
                                      for line in requested]}, ref=ref)


REFERENCE_KINDS = {
    "account": "an account id or code like 1100 (or its name)",
    "journal_entry": "a journal entry id or number like JE000042",
}
"""The records of finance a tool input may name by id or code, and what such a reference looks like."""


async def reference_candidates(session: AsyncSession, kind: str) -> list[Candidate]:
    """Return every live `kind` record (a REFERENCE_KINDS key) as a reference may name it: id, code, name
    and aliases (domain.kernel.references.Candidate)."""
    rows = await repo.reference_rows(session, kind)
    candidates = [Candidate(r[0], r[1], r[2] or "") for r in rows]
    return candidates


async def resolve_reference(session: AsyncSession, kind: str, text: str, *, field: str,
                            names: bool = True) -> int:
    """Return the id of the live `kind` (a REFERENCE_KINDS key) that `text` names (domain.kernel.references:
    code, then name, then digits as an id). An account's code is digits ("1100"): a code is tried before an
    id. Raises NotFound with the closest matches, or InvalidInput when `text` names several. `names=False`
    lists them by code only (domain.kernel.references.pick)."""
    return pick(await reference_candidates(session, kind), text, field=field, kind=kind.replace("_", " "),
                expected=REFERENCE_KINDS[kind], names=names)


async def reference_codes(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code of each `kind` record (a REFERENCE_KINDS key) of `ids`, in one query: what an answer shows beside
    an id (tools.output_codes), and what a reference to it accepts."""
    return await repo.codes_of(session, kind, ids)
