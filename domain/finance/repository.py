"""All SQL of the finance context."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from operator import itemgetter

from sqlalchemy import String, and_, any_, bindparam, func, insert, or_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key
from sqlalchemy.orm.attributes import instance_state
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.finance.models import Account, JournalEntry, JournalLine
from domain.finance.rules import LineInput
from domain.kernel.clock import utcnow
from domain.kernel.db import bulk_insert_records, codes_by_id, reserve_ids
from domain.kernel.errors import NotFound


def _postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


# ---------------------------------------------------------------- accounts


async def get_account(session: AsyncSession, account_id: int) -> Account | None:
    row = await session.get(Account, account_id)
    return None if row is None or row.deleted_at is not None else row


async def get_account_or_raise(session: AsyncSession, account_id: int, *,
                               field: str = "account_id") -> Account:
    row = await get_account(session, account_id)
    if row is None:
        raise NotFound(f"no account with id {account_id}; list_accounts shows the chart of accounts",
                       field=field)
    return row


_BY_CODE = "finance.accounts_by_code"  # session.info: {code upper-cased: (id, account)} get_account_by_code found;
# the account is held here, as the identity map holds objects weakly and a caller may drop it before the next lookup


async def get_account_by_code(session: AsyncSession, code: str) -> Account | None:
    """The live account with that code (case-insensitive), or None; no query when this session found it already
    and holds it loaded and unchanged since (_loaded_accounts), still live and of that code: a fees tool reads
    1200 Fees receivable for the fees' currency, then receivables_aging again for its ledger balance."""
    wanted = code.upper()
    known = session.info.get(_BY_CODE)
    if known is not None and wanted in known:
        loaded = _loaded_accounts(session, [known[wanted][0]])
        if loaded is not None and loaded[0].deleted_at is None and loaded[0].code.upper() == wanted:
            return loaded[0]
    stmt = select(Account).where(func.upper(Account.code) == wanted,
                                 Account.deleted_at.is_(None))  # type: ignore[union-attr]
    row = (await session.exec(stmt)).first()
    if row is not None and row.id is not None:
        session.info.setdefault(_BY_CODE, {})[wanted] = (row.id, row)
    return row


async def accounts_by_codes(session: AsyncSession, codes: Iterable[str]) -> dict[str, Account]:
    """{code upper-cased: live account} for those of `codes` (compared without case) that exist, in one query."""
    wanted = sorted({code.upper() for code in codes})
    if not wanted:
        return {}
    stmt = (select(Account).where(func.upper(Account.code).in_(wanted),  # type: ignore[attr-defined]
                                  Account.deleted_at.is_(None))  # type: ignore[union-attr]
            .order_by(Account.id))
    out: dict[str, Account] = {}
    for row in (await session.exec(stmt)).all():
        out.setdefault(row.code.upper(), row)
    return out


async def accounts_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Account]:
    """{id: live account} for those of `ids` that exist, in one query; none when the session's transaction
    loaded each of them already (a payment's posting checks the fee accounts it has just looked up by code)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    loaded = _loaded_accounts(session, wanted)
    if loaded is not None:
        return {row.id: row for row in loaded if row.deleted_at is None and row.id is not None}
    stmt = select(Account).where(Account.id.in_(wanted), Account.deleted_at.is_(None))  # type: ignore[union-attr]
    return {row.id: row for row in (await session.exec(stmt)).all() if row.id is not None}


def _loaded_accounts(session: AsyncSession, ids: list[int]) -> list[Account] | None:
    """The accounts of `ids` from the session's identity map when every one of them is there with its columns
    loaded and unchanged since (not expired, not modified), else None. What a select would return in the same
    transaction: READ COMMITTED lets a second select see a concurrent commit, but the first read is as valid."""
    out = []
    identity_map = session.sync_session.identity_map
    for account_id in ids:
        row = identity_map.get(identity_key(Account, account_id))
        if row is None:
            return None
        state = instance_state(row)
        if state.expired_attributes or state.modified or state.deleted:
            return None
        out.append(row)
    return out


async def list_accounts(session: AsyncSession, *, after_id: int, limit: int, account_type: str | None = None,
                        active: bool | None = None, currency: str | None = None,
                        query: str | None = None) -> list[Account]:
    """Return up to `limit + 1` live accounts after `after_id` in id order, filtered."""
    stmt = select(Account).where(Account.id > after_id, Account.deleted_at.is_(None))  # type: ignore[union-attr]
    if account_type is not None:
        stmt = stmt.where(Account.type == account_type)
    if active is not None:
        stmt = stmt.where(Account.active == active)
    if currency is not None:
        stmt = stmt.where(Account.currency == currency)
    if query:
        like = f"%{query.lower()}%"
        stmt = stmt.where(or_(func.lower(Account.code).like(like), func.lower(Account.name).like(like)))
    return list((await session.exec(stmt.order_by(Account.id).limit(limit + 1))).all())  # type: ignore[arg-type]


async def insert_unique(session: AsyncSession, row: SQLModel) -> bool:
    """Insert `row` in a savepoint; return False (and leave the transaction usable) when a UNIQUE constraint
    refuses it, e.g. a code another transaction committed first."""
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        return False
    return True


# ---------------------------------------------------------------- journal entries


async def get_entry(session: AsyncSession, entry_id: int, *, for_update: bool = False) -> JournalEntry | None:
    """Return the entry, locking it on PostgreSQL when `for_update` (SQLite writers are serialized anyway)."""
    stmt = select(JournalEntry).where(JournalEntry.id == entry_id)
    if for_update and _postgres(session):
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def get_entry_or_raise(session: AsyncSession, entry_id: int, *, field: str = "entry_id",
                             for_update: bool = False) -> JournalEntry:
    row = await get_entry(session, entry_id, for_update=for_update)
    if row is None:
        raise NotFound(f"no journal entry with id {entry_id}; get_account_ledger shows entries with their "
                       "ids", field=field)
    return row


async def get_entry_by_key(session: AsyncSession, idempotency_key: str) -> JournalEntry | None:
    stmt = select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
    return (await session.exec(stmt)).first()


async def get_reversal_of(session: AsyncSession, entry_id: int) -> JournalEntry | None:
    stmt = select(JournalEntry).where(JournalEntry.reverses_entry_id == entry_id)
    return (await session.exec(stmt)).first()


async def lines_of(session: AsyncSession, entry_id: int) -> list[JournalLine]:
    stmt = select(JournalLine).where(JournalLine.entry_id == entry_id).order_by(JournalLine.line_no)
    return list((await session.exec(stmt)).all())


async def post_new_entry(session: AsyncSession, entry: JournalEntry, lines: list[JournalLine]) -> JournalEntry | None:
    """Insert a new entry (not a reversal: insert_entry) numbered JE + its zero-padded id, and its lines; return it
    as the session now holds it, or None, with nothing inserted and the transaction still usable, when a UNIQUE
    constraint refuses it (its idempotency key, taken by a transaction that committed first).

    PostgreSQL: three statements, no savepoint: the id reserved from the sequence (so the number goes in with
    the row), the entry's INSERT ... ON CONFLICT DO NOTHING (a refusal is no row back rather than an error that
    would need a savepoint to roll back to) and the lines' INSERT, against insert_entry's five (savepoint, INSERT,
    UPDATE of the number, lines, release). Elsewhere: insert_entry."""
    if not _postgres(session):
        return entry if await insert_entry(session, entry, lines) else None
    (entry_id,) = await reserve_ids(session, JournalEntry.__table__, 1)  # type: ignore[attr-defined]
    values = {column.key: getattr(entry, column.key) for column in JournalEntry.__table__.columns}  # type: ignore
    values.update(id=entry_id, entry_number=f"JE{entry_id:06d}")
    stmt = pg_insert(JournalEntry).on_conflict_do_nothing().returning(JournalEntry)
    inserted = (await session.exec(stmt, params=[values])).scalars().first()  # type: ignore[call-overload]
    if inserted is None:
        return None
    for line in lines:
        line.entry_id = entry_id
    session.add_all(lines)
    await session.flush()
    return inserted


async def insert_entry(session: AsyncSession, entry: JournalEntry, lines: list[JournalLine]) -> bool:
    """Insert an entry (numbered JE + its zero-padded id) and its lines in one savepoint.

    Returns False, with nothing inserted and the transaction still usable, when a UNIQUE constraint refuses
    the entry: its idempotency key, or the entry it reverses, was taken by a transaction that committed first.
    """
    entry.entry_number = f"T{uuid.uuid4().hex[:19]}"  # unique until the id is known, in the same transaction
    try:
        async with session.begin_nested():
            session.add(entry)
            await session.flush()
            entry.entry_number = f"JE{entry.id:06d}"
            for line in lines:
                line.entry_id = entry.id or 0
                session.add(line)
            await session.flush()
    except IntegrityError:
        return False
    return True


# ---------------------------------------------------------------- balances


def _int(value: object) -> int:
    return int(value or 0)  # PostgreSQL's sum(bigint) is numeric (a Decimal)


async def account_totals(session: AsyncSession, *, as_of: dt.date | None = None,
                         from_date: dt.date | None = None,
                         account_ids: Iterable[int] | None = None) -> dict[int, tuple[int, int]]:
    """Return {account_id: (debit total, credit total)} over entries dated from_date..as_of (inclusive), for
    every account with lines or only for `account_ids`."""
    stmt = (select(JournalLine.account_id, func.sum(JournalLine.debit), func.sum(JournalLine.credit))
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id))  # type: ignore[arg-type]
    if account_ids is not None:
        stmt = stmt.where(JournalLine.account_id.in_(sorted(set(account_ids))))  # type: ignore[attr-defined]
    if as_of is not None:
        stmt = stmt.where(JournalEntry.entry_date <= as_of)
    if from_date is not None:
        stmt = stmt.where(JournalEntry.entry_date >= from_date)
    stmt = stmt.group_by(JournalLine.account_id)
    rows = (await session.exec(stmt)).all()
    return {account_id: (_int(debit), _int(credit)) for account_id, debit, credit in rows}


def _after(key: tuple[dt.date, int]):
    day, line_id = key
    return or_(JournalEntry.entry_date > day, and_(JournalEntry.entry_date == day, JournalLine.id > line_id))


async def ledger_cursor_key(session: AsyncSession, account_id: int,
                            line_id: int) -> tuple[dt.date, int] | None:
    """Return the (entry date, line id) ordering key of a line of the account, or None."""
    stmt = (select(JournalEntry.entry_date).join(JournalLine, JournalLine.entry_id == JournalEntry.id)
            .where(JournalLine.id == line_id, JournalLine.account_id == account_id))
    day = (await session.exec(stmt)).first()
    return None if day is None else (day, line_id)


async def ledger_lines(session: AsyncSession, account_id: int, *, from_date: dt.date | None,
                       to_date: dt.date | None, after: tuple[dt.date, int] | None,
                       limit: int) -> list[tuple[JournalLine, JournalEntry]]:
    """Return up to `limit + 1` (line, entry) pairs of the account in (entry date, line id) order."""
    stmt = (select(JournalLine, JournalEntry).join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
            .where(JournalLine.account_id == account_id))  # type: ignore[arg-type]
    if from_date is not None:
        stmt = stmt.where(JournalEntry.entry_date >= from_date)
    if to_date is not None:
        stmt = stmt.where(JournalEntry.entry_date <= to_date)
    if after is not None:
        stmt = stmt.where(_after(after))
    stmt = stmt.order_by(JournalEntry.entry_date, JournalLine.id).limit(limit + 1)  # type: ignore[arg-type]
    return [(line, entry) for line, entry in (await session.exec(stmt)).all()]


async def sums_before(session: AsyncSession, account_id: int, *, before_date: dt.date | None = None,
                      through: tuple[dt.date, int] | None = None) -> tuple[int, int]:
    """Return the account's (debit, credit) totals of lines dated before `before_date`, or of lines up to and
    including the ordering key `through`; (0, 0) when neither is given."""
    if before_date is None and through is None:
        return 0, 0
    stmt = (select(func.sum(JournalLine.debit), func.sum(JournalLine.credit))
            .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)  # type: ignore[arg-type]
            .where(JournalLine.account_id == account_id))
    if through is not None:
        stmt = stmt.where(~_after(through))
    else:
        stmt = stmt.where(JournalEntry.entry_date < before_date)
    debit, credit = (await session.exec(stmt)).one()
    return _int(debit), _int(credit)


async def entries_by_keys(session: AsyncSession, keys: list[str]) -> dict[str, JournalEntry]:
    """Return {idempotency key: entry} of the keys already posted (chunked: SQLite caps bound parameters)."""
    out: dict[str, JournalEntry] = {}
    if _postgres(session):
        # One array parameter, however many keys: an IN list of 10,000 keys costs SQLAlchemy a parameter each to
        # render at every execution (as domain.kernel.sql.id_in explains for ids).
        wanted = bindparam("keys", list(keys), type_=ARRAY(String))
        stmt = select(JournalEntry).where(col(JournalEntry.idempotency_key) == any_(wanted))
        return {row.idempotency_key: row for row in (await session.exec(stmt)).all()}
    for start in range(0, len(keys), 5000):
        stmt = select(JournalEntry).where(JournalEntry.idempotency_key.in_(keys[start:start + 5000]))  # type: ignore[attr-defined]
        out.update({row.idempotency_key: row for row in (await session.exec(stmt)).all()})
    return out


ENTRY_COLUMNS = ("entry_date", "memo", "source", "status", "currency", "reverses_entry_id", "reversed_by_entry_id",
                 "idempotency_key", "posted_by")
"""The columns of an entry insert_entries_bulk takes (each entry dict has these keys)."""
LINE_COLUMNS = ("entry_id", "line_no", "account_id", "debit", "credit", "department_id", "memo")


async def insert_entries_bulk(session: AsyncSession, entries: list[dict], lines: list[Sequence[LineInput]]) -> list[int]:
    """Insert many entries (dicts of ENTRY_COLUMNS) and their lines (each entry's LineInputs, in order; one sequence
    may serve several entries), numbered JE + zero-padded id, and return the ids in order: on PostgreSQL with ids
    from the sequence first and one binary COPY per table of records made straight from the dicts and lines (a term's
    invoicing writes 10,000 entries and 50,000 lines: no dict per row), on SQLite with a few multi-row statements.

    Raises IntegrityError (inside a savepoint, so the transaction stays usable) when a UNIQUE constraint
    refuses an entry: an idempotency key a concurrent transaction posted first.
    """
    if not entries:  # every request of a batch replayed: nothing to write (an empty statement would fail)
        return []
    now = utcnow()
    if _postgres(session):
        # Ids from the sequence first: each entry is written once, numbered, with one COPY per table.
        values = itemgetter(*ENTRY_COLUMNS)
        async with session.begin_nested():
            table = JournalEntry.__table__  # type: ignore[attr-defined]
            ids = await reserve_ids(session, table, len(entries))
            await bulk_insert_records(
                session, table, (*ENTRY_COLUMNS, "id", "entry_number", "version", "created_at", "updated_at",
                                 "deleted_at"),
                [(*values(entry), entry_id, f"JE{entry_id:06d}", 1, now, now, None)
                 for entry, entry_id in zip(entries, ids, strict=True)])
            await bulk_insert_records(session, JournalLine.__table__, LINE_COLUMNS, [  # type: ignore[attr-defined]
                (entry_id, n, line.account_id, line.debit, line.credit, line.department_id, line.memo)
                for entry_id, entry_lines in zip(ids, lines, strict=True)
                for n, line in enumerate(entry_lines, start=1)])
        return ids
    async with session.begin_nested():
        rows = [{**entry, "entry_number": f"T{uuid.uuid4().hex[:19]}", "version": 1, "created_at": now,
                 "updated_at": now, "deleted_at": None} for entry in entries]
        ids: list[int] = []
        table = JournalEntry.__table__  # type: ignore[attr-defined]
        for start in range(0, len(rows), 2000):
            stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            result = await session.exec(stmt, params=rows[start:start + 2000])  # type: ignore[call-overload]
            ids.extend(row[0] for row in result.all())
        numbering = update(table).where(table.c.id == bindparam("b_id")).values(entry_number=bindparam("b_number"))
        await session.exec(numbering, params=[{"b_id": i, "b_number": f"JE{i:06d}"} for i in ids])  # type: ignore[call-overload]
        line_rows = [dict(zip(LINE_COLUMNS, (entry_id, n, line.account_id, line.debit, line.credit,
                                             line.department_id, line.memo), strict=True))
                     for entry_id, entry_lines in zip(ids, lines, strict=True)
                     for n, line in enumerate(entry_lines, start=1)]
        line_table = JournalLine.__table__  # type: ignore[attr-defined]
        for start in range(0, len(line_rows), 5000):
            await session.exec(insert(line_table), params=line_rows[start:start + 5000])  # type: ignore[call-overload]
    return ids


async def reference_rows(session: AsyncSession, kind: str) -> list:
    """Rows a reference to a live `kind` ("account": id, code, name; "journal_entry": id, entry_number, memo) is
    matched against (domain.kernel.references)."""
    if kind == "account":
        stmt = select(Account.id, Account.code, Account.name).where(Account.deleted_at.is_(None))  # type: ignore
    else:
        stmt = select(JournalEntry.id, JournalEntry.entry_number, JournalEntry.memo).where(
            JournalEntry.deleted_at.is_(None))  # type: ignore[union-attr]
    return list((await session.exec(stmt)).all())


CODE_COLUMNS = {"account": (Account.id, Account.code), "journal_entry": (JournalEntry.id, JournalEntry.entry_number)}
"""Each kind's id column and the column of the code people use (codes_of)."""


async def codes_of(session: AsyncSession, kind: str, ids: Iterable[int]) -> dict[int, str]:
    """The code people use for each `kind` record of `ids` (deleted ones too: an old answer still names them), in
    one query: {id: code}. Ids no row has are left out."""
    return await codes_by_id(session, *CODE_COLUMNS[kind], ids)