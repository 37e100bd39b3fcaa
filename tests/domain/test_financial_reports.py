"""The pure pieces of the financial statements: totals of statement blocks, major-unit amounts, and the CSV
renderers of the trial balance, income statement and balance sheet (built from plain values, no database)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from domain.finance import reports
from domain.finance.models import Account
from domain.finance.reports import (
    BalanceSheet,
    BalanceSheetCurrency,
    IncomeStatement,
    IncomeStatementCurrency,
    ReportLine,
)
from domain.finance.service import CurrencyTotals, TrialBalance, TrialBalanceRow


def line(code: str, name: str, type_: str, amount: int, *, currency: str = "USD",
         account_id: int | None = 1) -> ReportLine:
    return ReportLine(account_id=account_id, code=code, name=name, type=type_, currency=currency, amount=amount)


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


# ---------------------------------------------------------------- statement blocks


def test_income_statement_block_totals_count_contra_income_as_negative():
    block = IncomeStatementCurrency(
        currency="USD",
        income=[line("4100", "Tuition", "income", 320000), line("4190", "Fee discounts", "income", -20000)],
        expenses=[line("5100", "Salaries", "expense", 150000), line("5200", "Utilities", "expense", 8000)])
    assert (block.total_income, block.total_expenses, block.net_income) == (300000, 158000, 142000)
    loss = IncomeStatementCurrency(currency="USD", income=[], expenses=[line("5100", "Salaries", "expense", 10)])
    assert loss.net_income == -10


def test_balance_sheet_block_balances_only_to_the_minor_unit():
    earnings = line(reports.NET_INCOME_TO_DATE, reports.NET_INCOME_TO_DATE_NAME, "equity", 142000,
                    account_id=None)
    block = BalanceSheetCurrency(
        currency="USD", assets=[line("1000", "Cash", "asset", 742000), line("1200", "Receivable", "asset", 50000)],
        liabilities=[line("2000", "Payable", "liability", 150000)],
        equity=[line("3000", "Capital", "equity", 500000), earnings], net_income_to_date=142000)
    assert (block.total_assets, block.total_liabilities, block.total_equity) == (792000, 150000, 642000)
    assert block.total_liabilities_and_equity == 792000 and block.balanced
    off = BalanceSheetCurrency(currency="USD", assets=[line("1000", "Cash", "asset", 792001)],
                               liabilities=block.liabilities, equity=block.equity, net_income_to_date=142000)
    assert not off.balanced
    assert BalanceSheet(as_of=None, currencies=[block]).balanced
    assert not BalanceSheet(as_of=None, currencies=[block, off]).balanced


# ---------------------------------------------------------------- CSV


def test_income_statement_csv_lists_each_currency_with_its_totals():
    stmt = IncomeStatement(from_date=dt.date(2026, 1, 1), to_date=dt.date(2026, 12, 31), currencies=[
        IncomeStatementCurrency(currency="BHD", income=[line("4100", "Tuition", "income", 1234, currency="BHD")],
                                expenses=[]),
        IncomeStatementCurrency(
            currency="USD",
            income=[line("4100", "Tuition, term 1", "income", 320000),
                    line("4190", "Fee discounts", "income", -20000)],
            expenses=[line("5100", 'Salaries "teaching"', "expense", 150000)]),
    ])
    rows = parse(reports.income_statement_csv(stmt))
    assert rows == [
        ["section", "code", "name", "type", "currency", "amount_minor", "amount"],
        ["income", "4100", "Tuition", "income", "BHD", "1234", "1.234"],
        ["total", "total_income", "Total income", "income", "BHD", "1234", "1.234"],
        ["total", "total_expenses", "Total expenses", "expense", "BHD", "0", "0.000"],
        ["total", "net_income", "Net income", "", "BHD", "1234", "1.234"],
        ["income", "4100", "Tuition, term 1", "income", "USD", "320000", "3200.00"],
        ["income", "4190", "Fee discounts", "income", "USD", "-20000", "-200.00"],
        ["expense", "5100", 'Salaries "teaching"', "expense", "USD", "150000", "1500.00"],
        ["total", "total_income", "Total income", "income", "USD", "300000", "3000.00"],
        ["total", "total_expenses", "Total expenses", "expense", "USD", "150000", "1500.00"],
        ["total", "net_income", "Net income", "", "USD", "150000", "1500.00"],
    ]
    text = reports.income_statement_csv(stmt)
    assert text.endswith("\r\n") and text == reports.income_statement_csv(stmt), "deterministic"


def test_an_empty_statement_is_just_the_header():
    empty = IncomeStatement(from_date=None, to_date=None, currencies=[])
    assert parse(reports.income_statement_csv(empty)) == [list(reports.INCOME_STATEMENT_HEADER)]
    assert parse(reports.balance_sheet_csv(BalanceSheet(as_of=None, currencies=[]))) == [
        list(reports.BALANCE_SHEET_HEADER)]


def test_balance_sheet_csv_ends_equity_with_net_income_and_totals_each_side():
    earnings = line(reports.NET_INCOME_TO_DATE, reports.NET_INCOME_TO_DATE_NAME, "equity", -300, currency="JPY",
                    account_id=None)
    bs = BalanceSheet(as_of=dt.date(2026, 3, 31), currencies=[BalanceSheetCurrency(
        currency="JPY", assets=[line("1000", "Cash", "asset", 9700, currency="JPY")],
        liabilities=[line("2000", "Payable", "liability", 0, currency="JPY")],
        equity=[line("3000", "Capital", "equity", 10000, currency="JPY"), earnings], net_income_to_date=-300)])
    rows = parse(reports.balance_sheet_csv(bs))
    assert rows[1:] == [
        ["asset", "1000", "Cash", "asset", "JPY", "9700", "9700"],
        ["liability", "2000", "Payable", "liability", "JPY", "0", "0"],
        ["equity", "3000", "Capital", "equity", "JPY", "10000", "10000"],
        ["equity", "net_income_to_date", "Net income to date", "equity", "JPY", "-300", "-300"],
        ["total", "total_assets", "Total assets", "asset", "JPY", "9700", "9700"],
        ["total", "total_liabilities", "Total liabilities", "liability", "JPY", "0", "0"],
        ["total", "total_equity", "Total equity", "equity", "JPY", "9700", "9700"],
        ["total", "total_liabilities_and_equity", "Total liabilities and equity", "", "JPY", "9700", "9700"],
    ]


def test_trial_balance_csv_has_minor_and_major_columns_and_a_total_per_currency():
    cash = Account(id=1, code="1000", name="Cash", type="asset", currency="EUR")
    fees = Account(id=2, code="4100", name="Tuition", type="income", currency="EUR")
    yen = Account(id=3, code="1000-JP", name="Yen cash", type="asset", currency="JPY")
    yen_fees = Account(id=4, code="4100-JP", name="Yen tuition", type="income", currency="JPY")
    tb = TrialBalance(as_of=None, from_date=None, rows=[
        TrialBalanceRow(account=cash, debit_total=100050, credit_total=50),
        TrialBalanceRow(account=fees, debit_total=50, credit_total=100050),
        TrialBalanceRow(account=yen, debit_total=700, credit_total=0),
        TrialBalanceRow(account=yen_fees, debit_total=0, credit_total=700),
    ], totals=[CurrencyTotals("EUR", 100100, 100100, 100000, 100000), CurrencyTotals("JPY", 700, 700, 700, 700)])
    rows = parse(reports.trial_balance_csv(tb))
    assert rows == [
        list(reports.TRIAL_BALANCE_HEADER),
        ["account", "1000", "Cash", "asset", "EUR", "100050", "1000.50", "50", "0.50", "100000", "1000.00", "0",
         "0.00"],
        ["account", "4100", "Tuition", "income", "EUR", "50", "0.50", "100050", "1000.50", "0", "0.00", "100000",
         "1000.00"],
        ["total", "total", "Total EUR", "", "EUR", "100100", "1001.00", "100100", "1001.00", "100000", "1000.00",
         "100000", "1000.00"],
        ["account", "1000-JP", "Yen cash", "asset", "JPY", "700", "700", "0", "0", "700", "700", "0", "0"],
        ["account", "4100-JP", "Yen tuition", "income", "JPY", "0", "0", "700", "700", "0", "0", "700", "700"],
        ["total", "total", "Total JPY", "", "JPY", "700", "700", "700", "700", "700", "700", "700", "700"],
    ]


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+1", "-Discounts", "@SUM(A1)"])
def test_names_a_spreadsheet_would_run_as_formulas_are_defused(name):
    stmt = IncomeStatement(from_date=None, to_date=None, currencies=[IncomeStatementCurrency(
        currency="USD", income=[line("4100", name, "income", 1)], expenses=[])])
    assert parse(reports.income_statement_csv(stmt))[1][2] == f"'{name}"
