"""Finance tables: the chart of accounts, journal entries and their lines.

Money is stored as integer minor units (cents for USD, fils for BHD, yen for JPY) plus an ISO 4217 currency
code, never as floats. A journal entry is in one currency: the currency of every account it posts to.
Entries are immutable once posted; the only change an entry ever sees is being marked `reversed` (with
`reversed_by_entry_id`) when its mirror entry is posted.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from domain.finance.rules import AccountType  # noqa: F401 (the enum is a pure rule; kept importable here)
from domain.kernel.models import Entity


class EntryStatus(StrEnum):
    """posted: in force; reversed: in force but cancelled out by its mirror entry (`reversed_by_entry_id`)."""

    POSTED = "posted"
    REVERSED = "reversed"


class Account(Entity, table=True):
    """An account of the chart of accounts: `code` is what accountants say aloud (1000 Cash, 4100 Fees).

    A child account (`parent_id`) has its parent's type and currency. An inactive account keeps its history
    but takes no new postings.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("type IN ('asset', 'liability', 'equity', 'income', 'expense')",
                        name="ck_accounts_type"),
    )

    code: str = Field(max_length=20, unique=True, index=True, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    type: str = Field(max_length=20, nullable=False, index=True)
    currency: str = Field(max_length=3, nullable=False)
    parent_id: int | None = Field(default=None, foreign_key="accounts.id", index=True)
    active: bool = Field(default=True, nullable=False)


class JournalEntry(Entity, table=True):
    """A posted journal entry: its number (JE000042), accounting date, memo, source and currency.

    `source` says where it came from ("manual", "payroll_run:12", "reversal:41"). `idempotency_key` names
    the request that posted it, so the same posting cannot happen twice. A reversal has `reverses_entry_id`
    (unique: an entry is reversed at most once); the entry it reverses gets status reversed and
    `reversed_by_entry_id`.
    """

    __tablename__ = "journal_entries"
    __table_args__ = (
        CheckConstraint("status IN ('posted', 'reversed')", name="ck_journal_entries_status"),
    )

    entry_number: str = Field(max_length=20, unique=True, index=True, nullable=False)
    entry_date: dt.date = Field(nullable=False, index=True)
    memo: str = Field(max_length=1200, nullable=False)
    source: str = Field(max_length=80, nullable=False, index=True)
    status: str = Field(max_length=12, nullable=False, default=EntryStatus.POSTED.value)
    currency: str = Field(max_length=3, nullable=False)
    reverses_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id", unique=True)
    reversed_by_entry_id: int | None = Field(default=None, foreign_key="journal_entries.id")
    idempotency_key: str = Field(max_length=200, unique=True, nullable=False)
    posted_by: int | None = Field(default=None, foreign_key="users.id", index=True)


class JournalLine(SQLModel, table=True):
    """One line of an entry: an account and exactly one of `debit` or `credit` (> 0, integer minor units of
    the entry's currency), optionally the department it is charged to (the cost centre) and a memo.
    Immutable."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        CheckConstraint("(debit > 0 AND credit = 0) OR (debit = 0 AND credit > 0)",
                        name="ck_journal_lines_one_side"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="journal_entries.id", nullable=False, index=True)
    line_no: int = Field(nullable=False)
    account_id: int = Field(foreign_key="accounts.id", nullable=False, index=True)
    debit: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    credit: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    department_id: int | None = Field(default=None, foreign_key="departments.id", index=True)
    memo: str | None = Field(default=None, max_length=500)
