"""Database outages: a call that cannot reach the database gets a retryable `unavailable` error, quickly and
without an internal error, and a pool whose connections were cut (a restart) recovers on the next call.

The dead-port tests need no server; the pre-ping tests use a PostgreSQL database of their own (created and
dropped here: its backends are terminated, which must not touch any other test's connections), skipped
locally without PostgreSQL and a failure when CI=true. No shared service is restarted.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
import uuid

import asyncpg
import pytest
import redis.exceptions
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.db import CONNECT_TIMEOUT_S, Database
from domain.kernel.errors import DomainError, ServiceUnavailable, unavailable_service
from domain.kernel.settings import Settings
from server.auth import ApiKeyMiddleware
from server.mcp_server import call_tool
from tests.conftest import PG_ADMIN_URL, create_pg_database, drop_pg_database
from tools.invoke import invoke
from tools.runtime import Runtime

ADMIN = Actor(id=1, username="admin", roles=frozenset({Role.ADMIN}), channel=Channel.MCP_HTTP)


def dead_url() -> str:
    """A PostgreSQL URL on a local port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/nothing"


def wrapped(orig: BaseException, *, invalidated: bool = False, cls: type = sa_exc.OperationalError) -> BaseException:
    return cls("SELECT 1", {}, orig, connection_invalidated=invalidated)


# ---------------------------------------------------------------- which failures mean "unavailable"


@pytest.mark.parametrize(("exc", "service"), [
    (ConnectionRefusedError(111, "Connect call failed"), "database"),
    (ConnectionResetError(104, "reset by peer"), "database"),
    (TimeoutError(), "database"),
    (socket.gaierror(-2, "Name or service not known"), "database"),
    (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), "database"),
    (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"), "database"),
    (asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"), "database"),
    (wrapped(asyncpg.exceptions.InterfaceError("connection is closed"), invalidated=True,
             cls=sa_exc.InterfaceError), "database"),
    (wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("closed")), "database"),
    (sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"), "database"),
    (redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379"), "redis"),
    (redis.exceptions.TimeoutError("Timeout reading from socket"), "redis"),
    (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "redis"),
])
def test_connection_failures_name_their_service(exc, service):
    assert unavailable_service(exc) == service


def test_an_error_raised_while_handling_a_lost_connection_is_not_the_outage():
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError:
            raise KeyError("a bug in the handler") from None
    except KeyError as exc:
        assert exc.__context__ is not None
        assert unavailable_service(exc) is None
    refusal = DomainError("a refusal written for the caller")
    refusal.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    assert unavailable_service(refusal) is None
    cause = RuntimeError("wrapped on purpose")
    cause.__cause__ = redis.exceptions.ConnectionError("Error 111")
    assert unavailable_service(cause) == "redis"  # an explicit `raise ... from` is followed


@pytest.mark.parametrize("exc", [
    ValueError("a bug"),
    KeyError("x"),
    wrapped(sqlite3.OperationalError("database is locked")),  # SQLite's busy writer: a wait, not an outage
    wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key"), cls=sa_exc.IntegrityError),
    wrapped(asyncpg.exceptions.SerializationError("could not serialize access"), cls=sa_exc.DBAPIError),
    asyncpg.exceptions.UndefinedTableError('relation "x" does not exist'),
    redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    DomainError("a refusal"),
])
def test_other_failures_are_not_outages(exc):
    assert unavailable_service(exc) is None


def test_the_error_says_what_is_down_and_when_to_retry():
    error = ServiceUnavailable("database")
    assert error.code == "unavailable" and error.http_status == 503
    assert error.details == {"service": "database", "retryable": True, "retry_after_s": 5}
    assert error.as_text().startswith("error: unavailable\nthe database is unavailable")
    assert "try again in 5 seconds" in error.message
    assert "job queue (Redis)" in ServiceUnavailable("redis").message
    assert isinstance(error, DomainError)  # every edge already translates it once


# ---------------------------------------------------------------- nothing listens


async def test_a_read_on_a_dead_port_is_unavailable_at_once():
    db = Database(dead_url())
    try:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            async with db.read() as session:
                await session.exec(text("SELECT 1"))
        assert caught.value.service == "database"
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)
        with pytest.raises(ServiceUnavailable):
            async with db.write() as session:
                await session.exec(text("SELECT 1"))
        assert time.monotonic() - started < 2 * CONNECT_TIMEOUT_S  # refused, not waited on: never a hang
    finally:
        await db.dispose()


async def test_a_tool_call_on_a_dead_database_answers_unavailable_not_internal():
    runtime = Runtime.create(Settings(database_url=dead_url(), key_cache_seconds=0))
    try:
        with pytest.raises(ServiceUnavailable):
            await invoke(runtime, "list_students", {"limit": 5}, ADMIN)
        with pytest.raises(ServiceUnavailable):
            await invoke(runtime, "create_family", {"name": "Outage family"}, ADMIN)
        result = await call_tool(runtime, ADMIN, "list_students", {"limit": 5})
        assert result.is_error
        shown = result.content[0].text
        assert shown.startswith("error: unavailable\nthe database is unavailable"), shown
        assert "internal" not in shown and "reference" not in shown
    finally:
        await runtime.close()


async def test_an_api_key_that_cannot_be_looked_up_gets_503_with_retry_after():
    runtime = Runtime.create(Settings(database_url=dead_url(), key_cache_seconds=0))
    reached: list[dict] = []

    async def app(scope, receive, send):
        reached.append(scope)

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    try:
        middleware = ApiKeyMiddleware(app, runtime)
        await middleware({"type": "http", "headers": [(b"authorization", b"Bearer mcs_some_key")]}, None, send)
    finally:
        await runtime.close()
    assert not reached  # the request was not let through unauthenticated
    start, body = sent
    assert start["status"] == 503
    assert (b"retry-after", b"5") in start["headers"]
    assert b'"error": "unavailable"' in body["body"]


# ---------------------------------------------------------------- connections cut under a live pool


@pytest.fixture
async def own_pg_database():
    name = f"mcs_test_outage_{uuid.uuid4().hex[:10]}"
    url = await create_pg_database(name)
    yield url, name
    await drop_pg_database(name)


async def terminate_backends(name: str) -> int:
    """Terminate every backend connected to database `name` (ours alone); return how many there were."""
    admin = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            pids = (await conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                                       {"d": name})).scalars().all()
            for pid in pids:
                await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            for _ in range(200):  # wait until they are gone, bounded
                left = (await conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                                           {"d": name})).scalar()
                if not left:
                    break
                await asyncio.sleep(0.01)
            return len(pids)
    finally:
        await admin.dispose()


async def queries_sent(db: Database, *, write: bool = False) -> list[str]:
    """The list the driver's query logger fills from now on, on the pooled connection (pool_size 1) of `db`'s write
    or read engine."""
    sent: list[str] = []
    async with (db.write() if write else db.read()) as session:
        driver = (await (await session.connection()).get_raw_connection()).driver_connection
    driver.add_query_logger(lambda record: sent.append(record.query))
    return sent


async def backend_pid(db: Database, *, write: bool = False) -> int:
    async with (db.write() if write else db.read()) as session:
        return (await session.exec(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_pool_whose_connections_were_killed_recovers_on_the_next_call(own_pg_database):
    url, name = own_pg_database
    db = Database(url, pool_size=2)
    try:
        before = (await backend_pid(db), await backend_pid(db, write=True))
        assert await terminate_backends(name) >= 2  # both pooled connections, as a restart would
        after = (await backend_pid(db), await backend_pid(db, write=True))  # pre-ping replaced them
        assert after[0] != before[0] and after[1] != before[1]
    finally:
        await db.dispose()


async def test_a_connection_cut_during_a_unit_of_work_is_unavailable_then_recovers(own_pg_database):
    url, name = own_pg_database
    db = Database(url, pool_size=1)
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            async with db.write() as session:
                await session.exec(text("SELECT 1"))
                await terminate_backends(name)
                await session.exec(text("SELECT 2"))
        assert caught.value.service == "database"
        assert await backend_pid(db, write=True) > 0  # the next unit of work has a fresh connection
    finally:
        await db.dispose()


async def test_a_write_pings_with_its_first_statement_not_a_pre_ping(own_pg_database):
    """A write unit of work's connection is pinged by its first statement (BEGIN, then SELECT 1 or the tenant's
    search_path), not by SQLAlchemy's pre-ping, whose BEGIN, empty query and ROLLBACK came before the unit of
    work's own BEGIN: the driver's simple queries of one unit of work are its BEGIN and COMMIT alone."""
    url, name = own_pg_database
    db = Database(url, pool_size=1)
    try:
        sent = await queries_sent(db, write=True)
        async with db.write() as session:
            assert (await session.exec(text("SELECT 2"))).scalar_one() == 2
        assert sent == ["BEGIN;", "COMMIT;"]
        assert await terminate_backends(name) >= 1
        async with db.write() as session:  # the ping found the connection dead: a fresh one, no error
            assert (await session.exec(text("SELECT 3"))).scalar_one() == 3
    finally:
        await db.dispose()


# ---------------------------------------------------------------- a read's search_path, skipped when it is already set


# Kinds of statement a read may run, each reading the marker of the schema it resolves `marker` in: the one that
# names its schema (a Table, rendered with the tenant's schema) runs on the default path; the others resolve it
# through the search_path (text, a literal column, a function not known to be pg_catalog's) and run on the tenant's.
MARKER = sa.Table("marker", sa.MetaData(), sa.Column("v", sa.Text))
READ_KINDS = {
    "table": lambda: sa.select(MARKER.c.v),
    "text": lambda: text("SELECT v FROM marker"),
    "literal": lambda: sa.select(sa.literal_column("v")).select_from(MARKER),
    "function": lambda: sa.select(sa.func.concat_ws("", MARKER.c.v)),
}


async def test_a_read_sets_the_path_a_statement_needs_only_when_the_connection_is_not_on_it(own_pg_database,
                                                                                           monkeypatch):
    """Database._route_read and _route_statement: a tenant's statement that names its schema runs on the default
    path, any other statement of a tenant on the tenant's own, the default tenant's on the default path; a SET (or
    RESET) is sent only when the connection is on another path. Property: over random sequences of reads on ONE
    pooled connection, each of the default tenant or one of two tenants, each of one to three statements of random
    kinds (READ_KINDS), each placement read from the registry (on the default tenant's path) in between or not,
    every statement reads its own tenant's marker, and the path statements sent are exactly those the rule
    needs: none for a statement on the path the connection is on."""
    import random

    from domain.kernel.tenants import Tenant, tenant_in_use

    from domain.kernel import db as db_module

    monkeypatch.setattr(db_module, "ALIVE_WINDOW_S", 3600.0)  # no ping between reads however slow the machine
    url, _ = own_pg_database
    setup = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with setup.connect() as conn:
            await conn.run_sync(lambda sync: Tenant.__table__.create(sync))  # type: ignore[attr-defined]
            for schema in ("public", "tenant_north", "tenant_south"):
                if schema != "public":
                    await conn.execute(text(f"CREATE SCHEMA {schema}"))
                await conn.execute(text(f"CREATE TABLE {schema}.marker (v text)"))
                await conn.execute(text(f"INSERT INTO {schema}.marker VALUES ('{schema}')"))
    finally:
        await setup.dispose()
    for seed in range(4):
        db = Database(url, pool_size=1, placement_ttl_s=0 if seed == 0 else 60)  # 0: the registry read every time
        rng = random.Random(seed)
        try:
            sent = await queries_sent(db)
            path = "public"  # the read above reset the path
            placed: set[str] = set()  # tenants whose placement the database holds (seed 0: none, ever)
            for _ in range(80):
                code = rng.choice([None, "north", "south"])
                own = "public" if code is None else f"tenant_{code}"
                kinds = [rng.choice(sorted(READ_KINDS)) for _ in range(rng.randint(1, 3))]
                sent.clear()
                with tenant_in_use(code):
                    async with db.read() as session:
                        for kind in kinds:
                            assert (await session.exec(READ_KINDS[kind]())).scalar_one() == own, (code, kind)
                expected = []
                if code is not None and code not in placed and path != "public":
                    expected.append("RESET search_path")  # the placement's read, on the default tenant's path, first
                    path = "public"
                if seed and code is not None:
                    placed.add(code)
                for kind in kinds:
                    needed = "public" if code is None or kind == "table" else own
                    if needed != path:
                        expected.append("RESET search_path" if needed == "public" else f"SET search_path TO {own}")
                        path = needed
                assert [q for q in sent if "search_path" in q] == expected, (seed, code, kinds)
        finally:
            await db.dispose()


async def test_a_read_after_the_alive_window_pings_again(own_pg_database, monkeypatch):
    """A connection idle longer than ALIVE_WINDOW_S is pinged by its path statement again."""
    from domain.kernel import db as db_module

    url, _ = own_pg_database
    db = Database(url, pool_size=1)
    try:
        sent = await queries_sent(db)
        async with db.read() as session:
            await session.exec(text("SELECT 1"))
        assert not [q for q in sent if "search_path" in q]
        monkeypatch.setattr(db_module, "ALIVE_WINDOW_S", 0.0)
        async with db.read() as session:
            await session.exec(text("SELECT 1"))
        assert [q for q in sent if "search_path" in q] == ["RESET search_path"]
    finally:
        await db.dispose()
