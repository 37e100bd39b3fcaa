"""Finance tools: the chart of accounts, manual journal entries and their reversal, trial balance, ledgers, and
the financial statements (income statement, balance sheet), each optionally as CSV.

Every amount is an integer number of minor units (cents for USD, fils for BHD, yen for JPY) of the account's
or entry's ISO 4217 currency, never a float.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import plans, reports, rules, service
from domain.finance.models import AccountType
from domain.finance.rules import LineInput
from domain.finance.schemas import (
    AccountLedgerOut,
    AccountOut,
    BalanceSheetCurrencyOut,
    BalanceSheetOut,
    CurrencyTotalsOut,
    IncomeStatementCurrencyOut,
    IncomeStatementOut,
    JournalEntryOut,
    JournalLineOut,
    LedgerLineOut,
    TrialBalanceOut,
    TrialBalanceRowOut,
    account_out,
    report_lines_out,
)
from domain.kernel.actor import Actor, Role
from domain.kernel.errors import Conflict
from domain.kernel.plan import Plan
from domain.kernel.settings import current_settings
from tools.references import AccountRef, DepartmentRef, JournalEntryRef
from tools.registry import Effect, GateLevel, Module, ToolContext
from tools.types import (
    Currency,
    MinorAmount,
    Name,
    Page,
    PageInput,
    Query,
    Reason,
    ToolInput,
    encode_cursor,
    page_of,
)

module = Module("finance", description="The chart of accounts and the double-entry ledger: manual "
                                       "journal entries, reversals, the trial balance, account ledgers, the "
                                       "income statement and the balance sheet (amounts in integer minor "
                                       "units).")

FINANCE_READERS = frozenset({Role.ADMIN, Role.FINANCE, Role.PAYROLL})
FINANCE_WRITERS = frozenset({Role.ADMIN, Role.FINANCE})
MAX_MANUAL_LINES = 100


def _text(max_length: int, min_length: int = 1) -> Any:
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length)


AccountCode = Annotated[str, _text(20)]
Memo = Annotated[str, _text(rules.MAX_MEMO)]
LineMemo = Annotated[str, _text(rules.MAX_LINE_MEMO)]
EntryKey = Annotated[str, _text(rules.MAX_KEY)]


# ---------------------------------------------------------------- inputs


class CreateAccountIn(ToolInput):
    code: AccountCode = Field(description="Unique; e.g. 1000 (Cash) or 4100 (Tuition fees).")
    name: Name
    type: AccountType = Field(description="Assets and expenses carry debit balances, the others credit.")
    currency: Currency | None = Field(default=None, description="omitted: the school's currency.")
    parent_id: AccountRef | None = Field(default=None, description="Same type and currency; omitted: a "
                                                           "top-level account.")


class ListAccountsIn(PageInput):
    type: AccountType | None = Field(default=None, description="Only accounts of this type.")
    active: bool | None = None
    currency: Currency | None = None
    query: Query | None = Field(default=None, description="Part of the code or name.")


class TrialBalanceIn(ToolInput):
    as_of: dt.date | None = Field(default=None, description="Last day counted (inclusive); omitted: all entries.")
    from_date: dt.date | None = Field(default=None, description="First day counted (inclusive); omitted: from the "
                                                                "first entry.")
    currency: Currency | None = None
    as_csv: bool = False


class IncomeStatementIn(ToolInput):
    from_date: dt.date | None = Field(default=None, description="First day (inclusive); omitted: from the first "
                                                                "entry.")
    to_date: dt.date | None = Field(default=None, description="Last day (inclusive); omitted: the last entry's.")
    currency: Currency | None = Field(default=None, description="omitted: every currency, each on its own.")
    as_csv: bool = False


class BalanceSheetIn(ToolInput):
    as_of: dt.date | None = Field(default=None, description="Last day counted (inclusive); omitted: every entry.")
    currency: Currency | None = Field(default=None, description="omitted: every currency, each on its own.")
    as_csv: bool = False


class AccountLedgerIn(PageInput):
    account_id: AccountRef
    from_date: dt.date | None = Field(default=None, description="First day (inclusive); earlier lines form "
                                                                "the opening balance.")
    to_date: dt.date | None = Field(default=None, description="Last day (inclusive).")


class JournalLineIn(ToolInput):
    account_id: AccountRef
    debit: MinorAmount = Field(default=0, description="Minor units; 0 on a credit line.")
    credit: MinorAmount = Field(default=0, description="Minor units; 0 on a debit line.")
    department_id: DepartmentRef | None = Field(default=None, description="The cost centre charged.")
    memo: LineMemo | None = None


class PostJournalEntryIn(ToolInput):
    date: dt.date
    memo: Memo = Field(description="e.g. 'October electricity bill'.")
    lines: list[JournalLineIn] = Field(min_length=2, max_length=MAX_MANUAL_LINES,
                                       description="Each line has exactly one of debit or credit above 0; "
                                                   "debits add up to credits.")
    idempotency_key: EntryKey = Field(description="e.g. 'electricity-2026-10': the same key and content returns "
                                                  "the entry already posted; other content is refused.")
    currency: Currency | None = Field(default=None, description="The accounts' expected currency; omitted: "
                                                                "not checked.")


class ReverseJournalEntryIn(ToolInput):
    entry_id: JournalEntryRef
    date: dt.date = Field(description="On or after the entry's date.")
    reason: Reason = Field(description="Goes into the reversal's memo.")


# ---------------------------------------------------------------- serialization


async def entry_out(ctx: ToolContext, posted: service.PostedEntry) -> JournalEntryOut:
    accounts = await service.accounts_by_ids(ctx.session, [line.account_id for line in posted.lines])
    entry = posted.entry
    lines = [JournalLineOut(line_no=line.line_no, account_id=line.account_id,
                            account_code=accounts[line.account_id].code,
                            account_name=accounts[line.account_id].name, debit=line.debit, credit=line.credit,
                            department_id=line.department_id, memo=line.memo)
             for line in posted.lines]
    return JournalEntryOut(id=entry.id or 0, entry_number=entry.entry_number, date=entry.entry_date,
                           memo=entry.memo, source=entry.source, status=entry.status, currency=entry.currency,
                           total_debit=posted.total_debit, total_credit=posted.total_credit,
                           reverses_entry_id=entry.reverses_entry_id,
                           reversed_by_entry_id=entry.reversed_by_entry_id, posted_by=entry.posted_by,
                           idempotency_key=entry.idempotency_key, replayed=posted.replayed, lines=lines)


def _line_inputs(args: PostJournalEntryIn) -> list[LineInput]:
    return [LineInput(account_id=line.account_id, debit=line.debit, credit=line.credit,
                      department_id=line.department_id, memo=line.memo) for line in args.lines]


# ---------------------------------------------------------------- chart of accounts


@module.tool(effect=Effect.WRITE, roles=FINANCE_WRITERS)
async def create_account(ctx: ToolContext, args: CreateAccountIn) -> AccountOut:
    """Add an account to the chart of accounts (check list_accounts first: accounts are never deleted)."""
    currency = args.currency or ctx.runtime.settings.currency
    account = await service.create_account(ctx.session, ctx.actor, code=args.code, name=args.name,
                                           type=args.type.value, currency=currency, parent_id=args.parent_id)
    return account_out(account)


@module.tool(effect=Effect.READ, roles=FINANCE_READERS)
async def list_accounts(ctx: ToolContext, args: ListAccountsIn) -> Page[AccountOut]:
    """List the chart of accounts: the accounts that journal entries, the ledger and the reports take."""
    rows = await service.list_accounts(ctx.session, after_id=args.after_id(), limit=args.limit,
                                       account_type=args.type.value if args.type else None, active=args.active,
                                       currency=args.currency, query=args.query)
    page, cursor = page_of(rows, args.limit)
    return Page[AccountOut](items=[account_out(a) for a in page], next_cursor=cursor)


# ---------------------------------------------------------------- reports


@module.tool(effect=Effect.READ, roles=FINANCE_READERS)
async def get_trial_balance(ctx: ToolContext, args: TrialBalanceIn) -> TrialBalanceOut:
    """Get the trial balance: each account's debit and credit totals and balance, with totals per currency, which
    balance when the books are consistent."""
    tb = await service.trial_balance(ctx.session, as_of=args.as_of, from_date=args.from_date,
                                     currency=args.currency)
    rows = [TrialBalanceRowOut(account_id=r.account.id or 0, code=r.account.code, name=r.account.name,
                               type=r.account.type, currency=r.account.currency, debit_total=r.debit_total,
                               credit_total=r.credit_total, balance=r.balance, debit_balance=r.debit_balance,
                               credit_balance=r.credit_balance) for r in tb.rows]
    totals = [CurrencyTotalsOut(currency=t.currency, total_debit=t.total_debit, total_credit=t.total_credit,
                                total_debit_balance=t.total_debit_balance,
                                total_credit_balance=t.total_credit_balance, balanced=t.balanced)
              for t in tb.totals]
    return TrialBalanceOut(as_of=tb.as_of, from_date=tb.from_date, rows=rows, totals=totals,
                           balanced=tb.balanced, csv=reports.trial_balance_csv(tb) if args.as_csv else None)


@module.tool(effect=Effect.READ, roles=FINANCE_READERS)
async def get_income_statement(ctx: ToolContext, args: IncomeStatementIn) -> IncomeStatementOut:
    """Get the income statement (profit and loss; "how did we do this term"): each income and expense account's amount
    over a period and, per currency, total income, expenses and net income (negative: a loss). Fee discounts show as
    negative income."""
    stmt = await reports.income_statement(ctx.session, from_date=args.from_date, to_date=args.to_date,
                                          currency=args.currency)
    blocks = [IncomeStatementCurrencyOut(currency=c.currency, income=report_lines_out(c.income),
                                         expenses=report_lines_out(c.expenses), total_income=c.total_income,
                                         total_expenses=c.total_expenses, net_income=c.net_income)
              for c in stmt.currencies]
    return IncomeStatementOut(from_date=stmt.from_date, to_date=stmt.to_date, currencies=blocks,
                              csv=reports.income_statement_csv(stmt) if args.as_csv else None)


@module.tool(effect=Effect.READ, roles=FINANCE_READERS)
async def get_balance_sheet(ctx: ToolContext, args: BalanceSheetIn) -> BalanceSheetOut:
    """Get the balance sheet at the end of a day ("what do we own and owe"): asset, liability and equity balances with
    net income to date as an equity line (the ledger has no closing entries), and per currency whether assets equal
    liabilities + equity."""
    sheet = await reports.balance_sheet(ctx.session, as_of=args.as_of, currency=args.currency)
    blocks = [BalanceSheetCurrencyOut(currency=c.currency, assets=report_lines_out(c.assets),
                                      liabilities=report_lines_out(c.liabilities), equity=report_lines_out(c.equity),
                                      net_income_to_date=c.net_income_to_date, total_assets=c.total_assets,
                                      total_liabilities=c.total_liabilities, total_equity=c.total_equity,
                                      total_liabilities_and_equity=c.total_liabilities_and_equity,
                                      balanced=c.balanced)
              for c in sheet.currencies]
    return BalanceSheetOut(as_of=sheet.as_of, currencies=blocks, balanced=sheet.balanced,
                           csv=reports.balance_sheet_csv(sheet) if args.as_csv else None)


@module.tool(effect=Effect.READ, roles=FINANCE_READERS)
async def get_account_ledger(ctx: ToolContext, args: AccountLedgerIn) -> AccountLedgerOut:
    """Get one account's journal lines in date order with the running balance in its normal direction, after an opening
    balance of every earlier line. Their entry ids are what reverse_journal_entry takes."""
    ledger = await service.account_ledger(ctx.session, args.account_id, from_date=args.from_date,
                                          to_date=args.to_date, after_id=args.after_id(), limit=args.limit)
    items = [LedgerLineOut(id=row.line.id or 0, entry_id=row.entry.id or 0,
                           entry_number=row.entry.entry_number, date=row.entry.entry_date,
                           entry_memo=row.entry.memo, entry_status=row.entry.status, source=row.entry.source,
                           line_memo=row.line.memo, department_id=row.line.department_id,
                           debit=row.line.debit, credit=row.line.credit, balance=row.balance)
             for row in ledger.lines]
    cursor = None if ledger.next_after_id is None else encode_cursor(ledger.next_after_id)
    return AccountLedgerOut(account=account_out(ledger.account), opening_balance=ledger.opening_balance,
                            closing_balance=ledger.closing_balance, items=items, next_cursor=cursor)


# ---------------------------------------------------------------- posting and reversal


def _plan_post(session: AsyncSession, actor: Actor, args: PostJournalEntryIn) -> Awaitable[Plan]:
    return plans.plan_post_journal_entry(session, actor, date=args.date, memo=args.memo, lines=_line_inputs(args),
                                         idempotency_key=args.idempotency_key, currency=args.currency,
                                         approve_above_minor=current_settings().journal_approve_above_minor)


@module.tool(effect=Effect.DESTRUCTIVE, roles=FINANCE_WRITERS, gate=GateLevel.CONFIRM, plan=_plan_post)
async def post_journal_entry(ctx: ToolContext, args: PostJournalEntryIn) -> JournalEntryOut:
    """Post a manual journal entry (adjustments, accruals, bills; payroll and fees post their own), every account in one
    currency. A posted entry is never edited: reverse_journal_entry corrects it. Above the school's threshold an admin
    must approve it too."""
    entry_id = ctx.applied.ids.get("entry") if ctx.applied is not None else None
    if entry_id is not None:
        return await entry_out(ctx, await service.get_entry(ctx.session, entry_id))
    already = await service.existing_posting(ctx.session, idempotency_key=args.idempotency_key, date=args.date,
                                             memo=args.memo, lines=_line_inputs(args), source=plans.MANUAL_SOURCE,
                                             currency=args.currency)
    if already is None:  # pragma: no cover - a plan without a posting is one whose key had posted the entry
        raise Conflict("the entry was not posted; call post_journal_entry again")
    return await entry_out(ctx, already)


def _plan_reverse(session: AsyncSession, actor: Actor, args: ReverseJournalEntryIn) -> Awaitable[Plan]:
    return plans.plan_reverse_journal_entry(session, actor, entry_id=args.entry_id, date=args.date,
                                            reason=args.reason)


@module.tool(effect=Effect.DESTRUCTIVE, roles=FINANCE_WRITERS, gate=GateLevel.APPROVE, plan=_plan_reverse)
async def reverse_journal_entry(ctx: ToolContext, args: ReverseJournalEntryIn) -> JournalEntryOut:
    """Reverse a posted journal entry, the only way to correct one: post its mirror on the given date with the reason in
    its memo, and mark the original reversed. An entry is reversed once; a reversal is not reversed."""
    assert ctx.applied is not None
    return await entry_out(ctx, await service.get_entry(ctx.session, ctx.applied.ids["reversal"] or 0))
