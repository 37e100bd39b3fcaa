"""Engines and units of work for SQLite (embedded default) and PostgreSQL (production).

A unit of work is one transaction owned by the entry point (a tool call, a CLI command, a job). Services
receive its session, `flush()` when they need ids, and never commit. On SQLite, writes start with
`BEGIN IMMEDIATE` on a one-connection write engine so concurrent writers queue instead of failing with a
stale snapshot; reads use a separate pool and see the last committed state (WAL).

Reads run on their own engine whose connections the database itself makes read-only
(`default_transaction_read_only` on PostgreSQL, `PRAGMA query_only` on SQLite), in autocommit mode: no
BEGIN/ROLLBACK round trips per call, and a read tool cannot write even by mistake. Each statement sees the
last committed state, which on PostgreSQL is what READ COMMITTED gives every statement anyway.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int, read_only: bool = False) -> AsyncEngine:
    # Every unit of work ends with its own COMMIT or ROLLBACK (reads are autocommit), so the pool need not roll
    # back again when a connection returns: one driver round trip less per unit of work.
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, pool_timeout=60,
                                 pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through every SQLite test
        # Take transaction control from the driver so BEGIN is ours (SQLAlchemy's documented recipe).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if not read_only:
        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised through every SQLite test
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The process's engines and session factories; created in a lifespan, disposed at shutdown."""

    def __init__(self, url: str, *, pool_size: int = 10):
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=pool_size,
                                              read_only=True).execution_options(isolation_level="AUTOCOMMIT")
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=1)
        else:
            self.read_engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, isolation_level="AUTOCOMMIT",
                connect_args={"server_settings": {"default_transaction_read_only": "on"}})
            self.write_engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)
        self._read_sessions = async_sessionmaker(self.read_engine, class_=AsyncSession, expire_on_commit=False,
                                                 autoflush=True)
        self._write_sessions = async_sessionmaker(self.write_engine, class_=AsyncSession,
                                                  expire_on_commit=False, autoflush=True)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a read unit of work: it never commits; closing it rolls back whatever the code inside did."""
        async with self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """Open a write unit of work: one transaction, committed on success, rolled back on any error."""
        async with self._write_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.read_engine.dispose()
        await self.write_engine.dispose()
