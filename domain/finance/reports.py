"""Financial statements for the bursar: the income statement, the balance sheet, and CSV renderings of them and
of the trial balance.

Everything here reads the ledger through `service.trial_balance` (itself built on `repo.account_totals`) and
writes nothing. Amounts are integer minor units of each account's ISO 4217 currency; currencies are never added
together, so every statement is grouped per currency. The statements follow the accounting equation
(assets = liabilities + equity + income - expenses) and the statements' layout as any accounting text gives them,
e.g. Horngren's Financial Accounting, ch. 1 "Accounting and the Business Environment". Closing entries, which
move net income into equity at the end of a period (ch. 4 "Completing the Accounting Cycle"), do not exist in
this ledger yet, so the balance sheet shows the current earnings (income - expenses through its date) as a
computed equity line, "Net income to date".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance import rules, service
from domain.finance.rules import AccountType
from domain.kernel import money
from domain.kernel.csv_writer import render_csv
from domain.kernel.errors import InvalidInput

NET_INCOME_TO_DATE = "net_income_to_date"
NET_INCOME_TO_DATE_NAME = "Net income to date"

INCOME_STATEMENT_HEADER = ("section", "code", "name", "type", "currency", "amount_minor", "amount")
BALANCE_SHEET_HEADER = INCOME_STATEMENT_HEADER
TRIAL_BALANCE_HEADER = ("section", "code", "name", "type", "currency", "debit_total_minor", "debit_total",
                        "credit_total_minor", "credit_total", "debit_balance_minor", "debit_balance",
                        "credit_balance_minor", "credit_balance")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class ReportLine:
    """One line of a statement: an account and its amount in the account type's normal direction (integer
    minor units of `currency`; rules.normal_balance). `account_id` is None for a computed line (the balance
    sheet's "Net income to date", whose `code` is NET_INCOME_TO_DATE)."""

    account_id: int | None
    code: str
    name: str
    type: str
    currency: str
    amount: int


@dataclass(frozen=True)
class IncomeStatementCurrency:
    """One currency's income and expense accounts, each list ordered by account code."""

    currency: str
    income: list[ReportLine]
    expenses: list[ReportLine]

    @property
    def total_income(self) -> int:
        return sum(line.amount for line in self.income)

    @property
    def total_expenses(self) -> int:
        return sum(line.amount for line in self.expenses)

    @property
    def net_income(self) -> int:
        """Income - expenses; negative is a net loss."""
        return self.total_income - self.total_expenses


@dataclass(frozen=True)
class IncomeStatement:
    """The income statement of entries dated from_date..to_date (inclusive; None: unbounded), one
    IncomeStatementCurrency per currency, in currency order."""

    from_date: dt.date | None
    to_date: dt.date | None
    currencies: list[IncomeStatementCurrency]


@dataclass(frozen=True)
class BalanceSheetCurrency:
    """One currency's asset, liability and equity accounts (each list ordered by code; equity ends with the
    computed "Net income to date" line) and its totals."""

    currency: str
    assets: list[ReportLine]
    liabilities: list[ReportLine]
    equity: list[ReportLine]
    net_income_to_date: int

    @property
    def total_assets(self) -> int:
        return sum(line.amount for line in self.assets)

    @property
    def total_liabilities(self) -> int:
        return sum(line.amount for line in self.liabilities)

    @property
    def total_equity(self) -> int:
        """Equity accounts plus net income to date."""
        return sum(line.amount for line in self.equity)

    @property
    def total_liabilities_and_equity(self) -> int:
        return self.total_liabilities + self.total_equity

    @property
    def balanced(self) -> bool:
        """The accounting equation holds to the minor unit: assets == liabilities + equity."""
        return self.total_assets == self.total_liabilities_and_equity


@dataclass(frozen=True)
class BalanceSheet:
    """The balance sheet as of a date (None: every entry), one BalanceSheetCurrency per currency, in
    currency order."""

    as_of: dt.date | None
    currencies: list[BalanceSheetCurrency]

    @property
    def balanced(self) -> bool:
        return all(section.balanced for section in self.currencies)


# ---------------------------------------------------------------- statements


def _line(row: service.TrialBalanceRow) -> ReportLine:
    account = row.account
    return ReportLine(account_id=account.id, code=account.code, name=account.name, type=account.type,
                      currency=account.currency, amount=row.balance)


def _of(rows: Iterable[service.TrialBalanceRow], currency: str, account_type: AccountType) -> list[ReportLine]:
    # trial_balance orders its rows by currency then code, so the lines come out in code order.
    return [_line(row) for row in rows
            if row.account.currency == currency and row.account.type == account_type.value]


async def income_statement(session: AsyncSession, *, from_date: dt.date | None = None,
                           to_date: dt.date | None = None, currency: str | None = None) -> IncomeStatement:
    """Return the income statement of the entries dated from_date..to_date (both inclusive, both optional).

    Shape: `currencies`, one IncomeStatementCurrency per currency (only `currency` when given) in currency
    order, listing every income and expense account with postings in the period, by code. Each amount is in
    the account's normal direction, integer minor units: income credit - debit (so a contra-income account such as "Fee
    discounts" shows a negative income), expenses debit - credit. total_income, total_expenses and
    net_income (= income - expenses; the accounting equation's income - expenses, Horngren ch. 1) are per
    currency: amounts in different currencies are never added. Reversed entries and their reversals both count
    (they cancel). Raises InvalidInput when from_date is after to_date (field from_date), a date is not a
    calendar date, or `currency` is not an ISO 4217 code (field currency).
    """
    if from_date is not None:
        rules.check_date(from_date, field="from_date")
    if to_date is not None:
        rules.check_date(to_date, field="to_date")
    if from_date is not None and to_date is not None and from_date > to_date:
        raise InvalidInput(f"from_date {from_date} is after to_date {to_date}; give a period that ends on or "
                           "after the day it starts", field="from_date")
    wanted = None if currency is None else money.parse_currency(currency)
    tb = await service.trial_balance(session, as_of=to_date, from_date=from_date, currency=wanted)
    kinds = {AccountType.INCOME.value, AccountType.EXPENSE.value}
    rows = [row for row in tb.rows if row.account.type in kinds]
    currencies = [IncomeStatementCurrency(currency=code, income=_of(rows, code, AccountType.INCOME),
                                          expenses=_of(rows, code, AccountType.EXPENSE))
                  for code in sorted({row.account.currency for row in rows})]
    return IncomeStatement(from_date=from_date, to_date=to_date, currencies=currencies)


async def balance_sheet(session: AsyncSession, *, as_of: dt.date | None = None,
                        currency: str | None = None) -> BalanceSheet:
    """Return the balance sheet as of `as_of`: balances over every entry dated on or before it (all entries
    when None).

    Shape: `currencies`, one BalanceSheetCurrency per currency (only `currency` when given) in currency
    order, with the asset, liability and equity accounts that have postings, by code, each balance in the
    account's normal direction (integer minor units: assets debit - credit; liabilities and equity credit - debit). Equity ends
    with a computed line "Net income to date" (code NET_INCOME_TO_DATE, account_id None): income - expenses
    through as_of, the current earnings, since the ledger has no closing entries. Totals per currency:
    total_assets, total_liabilities, total_equity (including net income to date) and `balanced`, true when
    assets == liabilities + equity to the minor unit (the accounting equation, Horngren ch. 1; it holds
    whenever every entry balances). Currencies are never added together. Reversed entries and their reversals
    both count (they cancel). Raises InvalidInput when as_of is not a calendar date (field as_of) or
    `currency` is not an ISO 4217 code (field currency).
    """
    if as_of is not None:
        rules.check_date(as_of, field="as_of")
    wanted = None if currency is None else money.parse_currency(currency)
    tb = await service.trial_balance(session, as_of=as_of, currency=wanted)
    currencies: list[BalanceSheetCurrency] = []
    for code in sorted({row.account.currency for row in tb.rows}):
        income = sum(line.amount for line in _of(tb.rows, code, AccountType.INCOME))
        expenses = sum(line.amount for line in _of(tb.rows, code, AccountType.EXPENSE))
        net = income - expenses
        earnings = ReportLine(account_id=None, code=NET_INCOME_TO_DATE, name=NET_INCOME_TO_DATE_NAME,
                              type=AccountType.EQUITY.value, currency=code, amount=net)
        currencies.append(BalanceSheetCurrency(
            currency=code, assets=_of(tb.rows, code, AccountType.ASSET),
            liabilities=_of(tb.rows, code, AccountType.LIABILITY),
            equity=[*_of(tb.rows, code, AccountType.EQUITY), earnings], net_income_to_date=net))
    return BalanceSheet(as_of=as_of, currencies=currencies)


# ---------------------------------------------------------------- CSV


def _amount_row(section: str, code: str, name: str, type_: str, currency: str, amount: int) -> list[str]:
    return [section, code, name, type_, currency, str(amount), money.major_units(amount, currency)]


def _line_row(section: str, line: ReportLine) -> list[str]:
    return _amount_row(section, line.code, line.name, line.type, line.currency, line.amount)


def trial_balance_csv(tb: service.TrialBalance) -> str:
    """Render a trial balance as CSV text (domain.kernel.csv_writer: RFC 4180, CRLF).

    Header: section, code, name, type, currency, then for each of debit_total, credit_total, debit_balance
    and credit_balance a `<name>_minor` column (integer minor units) and a `<name>` column (the same amount in
    major units as an exact decimal string, e.g. "1234.50"; the exponent is money.MINOR_UNITS'). One
    "account" row per account in (currency, code) order, and after each currency's accounts one "total" row
    (code "total", name "Total <currency>", type empty) with that currency's grand totals. Cells that
    begin like a spreadsheet formula get a leading apostrophe (csv_writer.safe_cell).
    """
    def amounts(values: Sequence[int], currency: str) -> list[str]:
        return [text for value in values for text in (str(value), money.major_units(value, currency))]

    rows: list[list[str]] = []
    for totals in tb.totals:
        code = totals.currency
        for row in (r for r in tb.rows if r.account.currency == code):
            account = row.account
            rows.append(["account", account.code, account.name, account.type, code,
                         *amounts((row.debit_total, row.credit_total, row.debit_balance, row.credit_balance),
                                  code)])
        rows.append(["total", "total", f"Total {code}", "", code,
                     *amounts((totals.total_debit, totals.total_credit, totals.total_debit_balance,
                               totals.total_credit_balance), code)])
    return render_csv(TRIAL_BALANCE_HEADER, rows)


def income_statement_csv(stmt: IncomeStatement) -> str:
    """Render an income statement as CSV text (domain.kernel.csv_writer: RFC 4180, CRLF).

    Header: section, code, name, type, currency, amount_minor (integer minor units), amount (major units, an
    exact decimal string such as "1234.50", the exponent from money.MINOR_UNITS). Per currency, in currency
    order: the "income" rows by account code, the "expense" rows by account code, then three "total" rows
    whose code is total_income, total_expenses and net_income (lower-case keys, which no account code can be).
    Amounts are in the normal direction (a contra-income account shows a negative income). Cells that
    begin like a spreadsheet formula get a leading apostrophe (csv_writer.safe_cell).
    """
    rows: list[list[str]] = []
    for section in stmt.currencies:
        code = section.currency
        rows.extend(_line_row("income", line) for line in section.income)
        rows.extend(_line_row("expense", line) for line in section.expenses)
        rows.append(_amount_row("total", "total_income", "Total income", "income", code, section.total_income))
        rows.append(_amount_row("total", "total_expenses", "Total expenses", "expense", code,
                                section.total_expenses))
        rows.append(_amount_row("total", "net_income", "Net income", "", code, section.net_income))
    return render_csv(INCOME_STATEMENT_HEADER, rows)


def balance_sheet_csv(bs: BalanceSheet) -> str:
    """Render a balance sheet as CSV text (domain.kernel.csv_writer: RFC 4180, CRLF).

    Header: section, code, name, type, currency, amount_minor (integer minor units), amount (major units, an
    exact decimal string such as "1234.50", the exponent from money.MINOR_UNITS). Per currency, in currency
    order: the "asset", "liability" and "equity" rows by account code, the equity rows ending with the
    computed line (code net_income_to_date, name "Net income to date"), then four "total" rows whose code is
    total_assets, total_liabilities, total_equity (including net income to date) and
    total_liabilities_and_equity (equal to total_assets when the books balance). Cells that begin like
    a spreadsheet formula get a leading apostrophe (csv_writer.safe_cell).
    """
    rows: list[list[str]] = []
    for section in bs.currencies:
        code = section.currency
        rows.extend(_line_row("asset", line) for line in section.assets)
        rows.extend(_line_row("liability", line) for line in section.liabilities)
        rows.extend(_line_row("equity", line) for line in section.equity)
        rows.append(_amount_row("total", "total_assets", "Total assets", "asset", code, section.total_assets))
        rows.append(_amount_row("total", "total_liabilities", "Total liabilities", "liability", code,
                                section.total_liabilities))
        rows.append(_amount_row("total", "total_equity", "Total equity", "equity", code, section.total_equity))
        rows.append(_amount_row("total", "total_liabilities_and_equity", "Total liabilities and equity", "",
                                code, section.total_liabilities_and_equity))
    return render_csv(BALANCE_SHEET_HEADER, rows)
