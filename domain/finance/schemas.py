"""Output schemas of the finance context: what its tools return, and the mappers from its rows."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from domain.finance import reports, rules
from domain.finance.models import Account
from domain.kernel.schemas import OutputModel

CSV_FORMAT = ("RFC 4180 text with CRLF line ends, the header first, then the rows by currency and, within "
              "a section, by account code; a *_minor column is integer minor units, its partner the same amount in major units as an "
              "exact decimal string (123450 USD is 1234.50, 1500 JPY is 1500).")


class AccountOut(OutputModel):
    id: int
    code: str
    name: str
    type: str = Field(description="asset | liability | equity | income | expense")
    currency: str = Field(description="ISO 4217 code of the account's amounts.")
    parent_id: int | None = None
    parent_code: str | None = None
    active: bool
    normal_balance: Literal["debit", "credit"] = Field(description="The side the account's balance normally "
                                                                   "sits on (assets, expenses: debit).")
    version: int


class JournalLineOut(OutputModel):
    line_no: int
    account_id: int
    account_code: str
    account_name: str
    debit: int = Field(description="Integer minor units of the entry's currency.")
    credit: int = Field(description="Integer minor units of the entry's currency.")
    department_id: int | None = None
    department_code: str | None = None
    memo: str | None = None


class JournalEntryOut(OutputModel):
    id: int
    entry_number: str = Field(description="E.g. JE000042.")
    date: dt.date
    memo: str
    source: str = Field(description="What posted it: manual, payroll_run:<id>, reversal:<entry id>, ...")
    status: str = Field(description="posted | reversed (then reversed_by_entry_id is the mirror entry)")
    currency: str = Field(description="ISO 4217 code; every amount is in its minor units.")
    total_debit: int
    total_credit: int
    reverses_entry_id: int | None = None
    reverses_entry_number: str | None = None
    reversed_by_entry_id: int | None = None
    reversed_by_entry_number: str | None = None
    posted_by: int | None = Field(default=None, description="User id of who posted it.")
    idempotency_key: str
    replayed: bool = Field(default=False, description="True when this key had already posted the entry: "
                                                      "nothing was posted this time.")
    lines: list[JournalLineOut]


class TrialBalanceRowOut(OutputModel):
    account_id: int
    code: str
    name: str
    type: str
    currency: str
    debit_total: int = Field(description="Sum of the account's debits, integer minor units.")
    credit_total: int = Field(description="Sum of the account's credits, integer minor units.")
    balance: int = Field(description="Balance in the account's normal direction (debit - credit for assets "
                                     "and expenses, credit - debit otherwise); negative: an unusual balance.")
    debit_balance: int = Field(description="The net balance when on the debit side, else 0.")
    credit_balance: int = Field(description="The net balance when on the credit side, else 0.")


class CurrencyTotalsOut(OutputModel):
    currency: str
    total_debit: int
    total_credit: int
    total_debit_balance: int
    total_credit_balance: int
    balanced: bool = Field(description="True when debits equal credits and debit balances equal credit "
                                       "balances.")


class TrialBalanceOut(OutputModel):
    as_of: dt.date | None = None
    from_date: dt.date | None = None
    rows: list[TrialBalanceRowOut]
    totals: list[CurrencyTotalsOut] = Field(description="Grand totals per currency; currencies are never "
                                                        "added together.")
    balanced: bool
    csv: str | None = Field(default=None, description="Only when as_csv is true: the trial balance as CSV with "
                                                      "the columns section (account | total), code, name, "
                                                      "type, currency, debit_total_minor, debit_total, "
                                                      "credit_total_minor, credit_total, debit_balance_minor, "
                                                      "debit_balance, credit_balance_minor, credit_balance; "
                                                      "after each currency's accounts one total row (code "
                                                      "total). " + CSV_FORMAT)


class ReportLineOut(OutputModel):
    account_id: int | None = Field(default=None, description="The account's id; null for a computed line "
                                                             "(net_income_to_date).")
    code: str = Field(description="The account code, or net_income_to_date for the computed line.")
    name: str
    type: str = Field(description="asset | liability | equity | income | expense")
    currency: str = Field(description="ISO 4217 code of the amount.")
    amount: int = Field(description="Integer minor units in the account's normal direction: assets and "
                                    "expenses debit - credit, the others credit - debit. A negative income "
                                    "is a contra-income account such as fee discounts.")


class IncomeStatementCurrencyOut(OutputModel):
    currency: str = Field(description="ISO 4217 code of every amount in this block.")
    income: list[ReportLineOut] = Field(description="Income accounts with postings in the period, by code.")
    expenses: list[ReportLineOut] = Field(description="Expense accounts with postings in the period, by "
                                                      "code.")
    total_income: int = Field(description="Integer minor units.")
    total_expenses: int = Field(description="Integer minor units.")
    net_income: int = Field(description="total_income - total_expenses, integer minor units; negative: a "
                                        "net loss.")


class IncomeStatementOut(OutputModel):
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    currencies: list[IncomeStatementCurrencyOut] = Field(description="One block per currency, in currency "
                                                                     "order; currencies are never added "
                                                                     "together.")
    csv: str | None = Field(default=None, description="Only when as_csv is true: the statement as CSV with "
                                                      "the columns section (income | expense | total), code, "
                                                      "name, type, currency, amount_minor, amount; per "
                                                      "currency the income rows, the expense rows, then total "
                                                      "rows whose code is total_income, total_expenses and "
                                                      "net_income. " + CSV_FORMAT)


class BalanceSheetCurrencyOut(OutputModel):
    currency: str = Field(description="ISO 4217 code of every amount in this block.")
    assets: list[ReportLineOut] = Field(description="Asset accounts with postings, by code.")
    liabilities: list[ReportLineOut] = Field(description="Liability accounts with postings, by code.")
    equity: list[ReportLineOut] = Field(description="Equity accounts with postings, by code, then the computed "
                                                    "line net_income_to_date.")
    net_income_to_date: int = Field(description="Income - expenses of every entry through as_of (the "
                                                "current earnings; the ledger has no closing entries), "
                                                "integer minor units.")
    total_assets: int = Field(description="Integer minor units.")
    total_liabilities: int = Field(description="Integer minor units.")
    total_equity: int = Field(description="Equity accounts plus net income to date, integer minor units.")
    total_liabilities_and_equity: int = Field(description="Integer minor units.")
    balanced: bool = Field(description="True when total_assets == total_liabilities + total_equity to the "
                                       "minor unit.")


class BalanceSheetOut(OutputModel):
    as_of: dt.date | None = None
    currencies: list[BalanceSheetCurrencyOut] = Field(description="One block per currency, in currency order; "
                                                                  "currencies are never added together.")
    balanced: bool = Field(description="True when every currency's block balances.")
    csv: str | None = Field(default=None, description="Only when as_csv is true: the balance sheet as CSV with "
                                                      "the columns section (asset | liability | equity | "
                                                      "total), code, name, type, currency, amount_minor, "
                                                      "amount; per currency the asset, liability and equity "
                                                      "rows (equity ending with net_income_to_date), then "
                                                      "total rows whose code is total_assets, "
                                                      "total_liabilities, total_equity and "
                                                      "total_liabilities_and_equity. " + CSV_FORMAT)


class LedgerLineOut(OutputModel):
    id: int = Field(description="The journal line's id.")
    entry_id: int
    entry_number: str
    date: dt.date
    entry_memo: str
    entry_status: str
    source: str
    line_memo: str | None = None
    department_id: int | None = None
    department_code: str | None = None
    debit: int
    credit: int
    balance: int = Field(description="Running balance after this line, in the account's normal direction.")


class AccountLedgerOut(OutputModel):
    account: AccountOut
    opening_balance: int = Field(description="Balance before this page's first line (normal direction, "
                                             "integer minor units).")
    closing_balance: int = Field(description="Balance after this page's last line.")
    items: list[LedgerLineOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


def account_out(account: Account) -> AccountOut:
    """An account of the chart, with the side (debit or credit) its type normally carries."""
    return AccountOut(id=account.id or 0, code=account.code, name=account.name, type=account.type,
                      currency=account.currency, parent_id=account.parent_id, active=account.active,
                      normal_balance="debit" if rules.is_debit_normal(account.type) else "credit",
                      version=account.version)


def report_lines_out(lines: list[reports.ReportLine]) -> list[ReportLineOut]:
    """A report's account lines, as computed by domain.finance.reports."""
    return [ReportLineOut(account_id=line.account_id, code=line.code, name=line.name, type=line.type,
                          currency=line.currency, amount=line.amount) for line in lines]
