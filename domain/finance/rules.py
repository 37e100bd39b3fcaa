"""Pure rules of the ledger: normal balances, the shape of a journal entry (currencies and amounts are the
kernel's: domain/kernel/money.py).

Nothing here touches the database; every rule raises a named DomainError whose message says what was wrong and
what is allowed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from domain.kernel import money
from domain.kernel.errors import InvalidInput


class AccountType(StrEnum):
    """The five account types of double-entry bookkeeping (the accounting equation
    assets = liabilities + equity + income - expenses)."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"


# Normal balances, the debit/credit rules of double-entry bookkeeping (as any accounting text states them,
# e.g. Horngren's Financial Accounting, ch. 2 "Recording Business Transactions"): assets and expenses increase
# with debits, liabilities, equity and income with credits.
DEBIT_NORMAL = frozenset({AccountType.ASSET, AccountType.EXPENSE})

MIN_LINES = 2
MAX_LINES = 5000
MAX_AMOUNT = money.MAX_AMOUNT  # per line: 1 trillion USD; 5000 such lines still sum inside a 64-bit integer
MAX_MEMO = 1000
MAX_LINE_MEMO = 500
MAX_KEY = 200
ACCOUNT_CODE = re.compile(r"^[0-9A-Z][0-9A-Z.\-]{0,19}$")
SOURCE = re.compile(r"^[a-z][a-z0-9_]{0,39}(:[A-Za-z0-9_.\-]{1,39})?$")


@dataclass(frozen=True)
class LineInput:
    """A requested journal line: an account id and exactly one of `debit` or `credit` > 0, in integer minor
    units of the entry's currency; optionally the department charged (cost centre) and a memo."""

    account_id: int
    debit: int = 0
    credit: int = 0
    department_id: int | None = None
    memo: str | None = None


def is_debit_normal(account_type: str) -> bool:
    """Return True for the types whose normal balance is a debit (asset, expense)."""
    return AccountType(account_type) in DEBIT_NORMAL


def normal_balance(account_type: str, debit: int, credit: int) -> int:
    """Return the balance in the account type's normal direction: debit - credit for assets and expenses,
    credit - debit for liabilities, equity and income. Positive means the account holds its usual balance."""
    return debit - credit if is_debit_normal(account_type) else credit - debit


def check_account_code(code: str) -> str:
    """Return the code in upper case; raises InvalidInput unless it is 1..20 letters, digits, '.' or '-'."""
    upper = code.strip().upper() if isinstance(code, str) else ""
    if not ACCOUNT_CODE.fullmatch(upper):
        raise InvalidInput(f"account code {code!r} must be 1 to 20 letters, digits, '.' or '-', starting "
                           "with a letter or digit (e.g. 1000 or 4100-01)", field="code")
    return upper


def check_account_type(account_type: str) -> AccountType:
    """Return the AccountType; raises InvalidInput naming the five allowed types."""
    try:
        return AccountType(account_type)
    except ValueError:
        allowed = ", ".join(t.value for t in AccountType)
        raise InvalidInput(f"account type {account_type!r} is not one of: {allowed}", field="type") from None


def check_text(value: str, *, field: str, max_length: int, required: bool = True) -> str | None:
    """Return `value` stripped; raises InvalidInput when it is required and empty, or over `max_length`."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    stripped = value.strip()
    if len(stripped) > max_length:
        raise InvalidInput(f"{field} is {len(stripped)} characters long; at most {max_length} are allowed",
                           field=field)
    return stripped if stripped else None


def check_source(source: str) -> str:
    """Return the source; raises InvalidInput unless it reads like "manual" or "payroll_run:12"."""
    if not isinstance(source, str) or not SOURCE.fullmatch(source):
        raise InvalidInput(f"source {source!r} must be a lower-case word, optionally followed by ':' and a "
                           "reference, e.g. 'manual' or 'payroll_run:12'", field="source")
    return source


def check_date(value: dt.date, *, field: str = "date") -> dt.date:
    """Return the calendar date; raises InvalidInput for a datetime or anything else."""
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInput(f"{field} must be a calendar date (YYYY-MM-DD), got {value!r}", field=field)
    return value


def _amount(value: object, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be an integer number of minor units (cents for USD), got "
                           f"{value!r}; amounts are never fractional", field=field)
    if value < 0:
        raise InvalidInput(f"{field} is {value}, a negative amount; debits and credits are zero or positive "
                           "(put a negative debit on the credit side instead)", field=field)
    if value > MAX_AMOUNT:
        raise InvalidInput(f"{field} is {value}, above the largest amount a line may carry ({MAX_AMOUNT} "
                           "minor units)", field=field)
    return value


def _id(value: object, *, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{field} must be a positive integer id, got {value!r}", field=field)
    return value


def check_line_shapes(lines: Sequence[LineInput]) -> None:
    """Rule: an entry has 2..MAX_LINES lines, each with a positive integer account id (and department id,
    when given) and exactly one of debit or credit > 0 (integers up to MAX_AMOUNT).

    Raises InvalidInput naming the line (`lines.<index>.debit`, 0-based) and what is allowed.
    """
    if not isinstance(lines, Sequence) or len(lines) < MIN_LINES:
        count = len(lines) if isinstance(lines, Sequence) else 0
        raise InvalidInput(f"a journal entry needs at least {MIN_LINES} lines (at least one debit and one "
                           f"credit); got {count}", field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"a journal entry has at most {MAX_LINES} lines; got {len(lines)}", field="lines")
    for index, line in enumerate(lines):
        account_id, department_id, debit, credit = line.account_id, line.department_id, line.debit, line.credit
        if (type(account_id) is int and account_id >= 1 and type(debit) is int and type(credit) is int
                and (debit == 0) != (credit == 0) and 0 <= debit <= MAX_AMOUNT and 0 <= credit <= MAX_AMOUNT
                and line.memo is None and (department_id is None or (type(department_id) is int
                                                                     and department_id >= 1))):
            continue  # the common line, checked without building a field name per check (a school's invoicing
            # checks 60,000 lines); any other goes through the checks below, which name what is wrong
        _id(line.account_id, field=f"lines.{index}.account_id")
        if line.department_id is not None:
            _id(line.department_id, field=f"lines.{index}.department_id")
        debit = _amount(line.debit, field=f"lines.{index}.debit")
        credit = _amount(line.credit, field=f"lines.{index}.credit")
        if debit > 0 and credit > 0:
            raise InvalidInput(f"line {index} has both a debit ({debit}) and a credit ({credit}); a line "
                               "carries exactly one of them: split it into two lines", field=f"lines.{index}")
        if debit == 0 and credit == 0:
            raise InvalidInput(f"line {index} has neither a debit nor a credit; give exactly one amount "
                               "greater than 0", field=f"lines.{index}")
        if line.memo is not None:
            check_text(line.memo, field=f"lines.{index}.memo", max_length=MAX_LINE_MEMO)


def totals(lines: Sequence[LineInput]) -> tuple[int, int]:
    """Return (total debits, total credits) in minor units."""
    return sum(line.debit for line in lines), sum(line.credit for line in lines)


def check_balanced(lines: Sequence[LineInput], currency: str) -> tuple[int, int]:
    """Rule of double entry: the debits of an entry equal its credits. Returns the totals; raises InvalidInput
    naming both totals and the difference otherwise."""
    debit, credit = totals(lines)
    if debit != credit:
        raise InvalidInput(
            f"the entry does not balance: debits total {debit} and credits total {credit} (minor units of "
            f"{currency}, i.e. {money.format_money(debit, currency)} vs {money.format_money(credit, currency)}; "
            f"difference {abs(debit - credit)}); a journal entry's debits must equal its credits",
            field="lines",
            details={"total_debit": debit, "total_credit": credit, "currency": currency})
    return debit, credit


def mirror(lines: Sequence[LineInput]) -> list[LineInput]:
    """Return the reversal's lines: the same accounts, departments and memos with debit and credit swapped."""
    return [LineInput(account_id=line.account_id, debit=line.credit, credit=line.debit,
                      department_id=line.department_id, memo=line.memo) for line in lines]
