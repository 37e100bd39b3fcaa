"""Engines and units of work for SQLite (embedded default) and PostgreSQL (production).

A unit of work is one transaction owned by the entry point (a tool call, a CLI command, a job). Services
receive its session, `flush()` when they need ids, and never commit. On SQLite, writes start with
`BEGIN IMMEDIATE` on a one-connection write engine so concurrent writers queue instead of failing with a
stale snapshot; reads use a separate pool and see the last committed state (WAL).

Reads run on their own engine whose connections the database itself makes read-only
(`default_transaction_read_only` on PostgreSQL, `PRAGMA query_only` on SQLite), in autocommit mode: no
BEGIN/ROLLBACK round trips per call, and a read tool cannot write even by mistake. Each statement sees the
last committed state, which on PostgreSQL is what READ COMMITTED gives every statement anyway.

After-commit hooks: code inside a write unit of work registers `after_commit(session, hook)` for work that must
see the transaction committed (enqueueing a job another process will look up, raising a refusal whose record must
be kept). `Database.write()` runs the hooks after its COMMIT, in the order they were registered; a rollback (of
the unit of work, or of the savepoint a hook was registered in) discards them unrun.

Outages: a unit of work's first statement on PostgreSQL pings its pooled connection (a read's RESET search_path, a
write's BEGIN and search_path or ping), and a connection found dead there is replaced once, so the first call after
a database restart gets a fresh connection instead of a dead one (a read skips its ping on a connection that
ended a unit of work well within ALIVE_WINDOW_S and whose socket is open: a restart closes the socket, which the
driver sees); connecting and waiting for a pooled connection are
bounded (CONNECT_TIMEOUT_S, POOL_TIMEOUT_S). A unit of work that cannot reach the database (or Redis, in an
after-commit hook) raises ServiceUnavailable (code `unavailable`, retryable), which every edge answers as "try again".

Tenants (domain/kernel/tenants.py): every unit of work runs for the tenant of its context (`current_tenant()`). On
PostgreSQL one pool serves every tenant of the cluster, and statements built with SQLAlchemy name the tenant's
schema (schema_translate_map: tenant_options), so each tenant's are prepared and planned once per connection. A
write transaction starts with `set_config('search_path', 'tenant_<code>', true)` (SET LOCAL: it ends with the
transaction, committed, rolled back or cut off). A read, which has no transaction (autocommit), sets the path each
statement needs before it, when the connection is on another (_route_statement): a tenant's statement that names
its schema runs on the default path, as the default tenant's do, and any other (SQL written as text) on
`tenant_<code>`; so reads of many tenants on one connection send no SET at all and keep their plans. A read's ping
of its pooled connection is `RESET search_path`, unless the connection is known alive. The pool (TenantAffinePool)
hands a unit of work an idle connection that last served its tenant when there is one, and keeps the connections
a burst opened until they idle. A tenant whose registry row names another database (`database_url`) is served by
that cluster's pool, one per URL. The tenant's schema alone is on its path, not `public`: a table a lagging tenant
lacks fails loudly instead of resolving to the default tenant's. On SQLite a tenant is its own file, with its own
engines, made at first use (`Database.tenant_database`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Select, bindparam, event, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.attributes import instance_dict, instance_state
from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import (BinaryExpression, ClauseElement, CollationClause, ColumnClause, Label,
                                     TextClause)
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.sql.schema import Sequence, Table
from sqlalchemy.sql.selectable import TableClause, TextualSelect
from sqlalchemy.util import await_only, memoized_property
from sqlalchemy.util.queue import AsyncAdaptedQueue
from sqlmodel import select as sqlmodel_select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.orm.session import Session as SQLModelSession
from sqlmodel.sql.expression import SelectOfScalar

from domain.kernel.errors import ServiceUnavailable, unavailable_service
from domain.kernel.tenants import Tenant, current_tenant, schema_of, sqlite_url_of

log = logging.getLogger(__name__)

AfterCommit = Callable[[], Awaitable[None]]
"""`await hook()`: work to do once the unit of work that registered it has committed."""

_HOOKS = "mcs_erp.after_commit"  # session.info key: the registered [(transaction, hook)], in order
_READ_ONLY = "mcs_erp.read_only"  # session.info key: set on the sessions of read units of work, which never commit


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run `await hook()` after the write unit of work of `session` commits, never after a rollback.

    Hooks run in registration order once `Database.write()` has committed. Registered inside a savepoint
    (`begin_nested`) that rolls back, the hook is discarded with the savepoint's work. A hook that raises does not
    undo the commit (it stands) nor stop the hooks after it; once every hook ran, the first exception propagates
    to the caller of `Database.write()` (the gate commits a stale action's record, then raises StaleAction).
    Raises ValueError for the session of a read unit of work (it never commits) or one with no transaction open.
    """
    sync = session.sync_session
    transaction = sync.get_nested_transaction() or sync.get_transaction()
    if session.info.get(_READ_ONLY) or transaction is None:
        raise ValueError("after_commit needs the session of a write unit of work (Database.write()), inside its "
                         "transaction: a read unit of work never commits")
    hooks = session.info.get(_HOOKS)
    if hooks is None:
        hooks = session.info[_HOOKS] = []
        event.listen(sync, "after_soft_rollback", _forget_rolled_back)
    hooks.append((transaction, hook))


def _forget_rolled_back(session: Session, rolled_back: SessionTransaction) -> None:
    # A hook belongs to the transaction it was registered in and to every transaction enclosing it: when any of
    # them rolls back, the hook's work is gone and the hook must not run.
    def survives(transaction: SessionTransaction | None) -> bool:
        while transaction is not None:
            if transaction is rolled_back:
                return False
            transaction = transaction.parent
        return True

    hooks = session.info.get(_HOOKS)
    if hooks:
        hooks[:] = [(t, hook) for t, hook in hooks if survives(t)]


async def _run_after_commit(session: AsyncSession) -> None:
    hooks = session.info.pop(_HOOKS, None) or []
    first: BaseException | None = None
    for _transaction, hook in hooks:
        try:
            await hook()
        except Exception as exc:  # the commit stands; the next hooks still run; the first error is raised
            if first is None:
                first = exc
            else:
                log.error("after-commit hook %r failed after an earlier one had", hook, exc_info=exc)
    if first is not None:
        raise first


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


PLACEMENTS_PER_QUERY = 1000  # tenants' placements one registry query reads at most (Database.tenant_clusters)
PLACEMENT_TTL_S = 5.0  # how long a process reuses a tenant's cluster read from the registry (its database_url)
CONNECT_TIMEOUT_S = 10.0  # the longest a new PostgreSQL connection may take (asyncpg's connect timeout)
POOL_TIMEOUT_S = 30.0  # the longest a unit of work waits for a pooled connection (SQLAlchemy's default: bursts wait)


_LAST_TENANT = "mcs_erp.last_tenant"  # a pooled connection's info: the tenant (code, None) of its last unit of work
_PATH = "mcs_erp.path"  # a pooled read connection's info: the schema its search_path was set to (None: reset)
_ALIVE_AT = "mcs_erp.alive_at"  # a pooled read connection's info: time.monotonic() when a unit of work on it ended well
_IDLE_SINCE = "mcs_erp.idle_since"  # a pooled connection's info: time.monotonic() when it was last returned
_WANTED = "mcs_erp.wanted"  # a pooled read connection's info, during a read unit of work: its tenant's schema
ALIVE_WINDOW_S = 0.5
"""How long after a read unit of work ended without error its connection is taken as alive without a ping
(Database._route_read; HikariCP's aliveBypassWindowMs default)."""


class _TenantAffineQueue(asyncio.Queue):
    """The idle connections of a pool, handed out to the tenant they last served when one is idle (else the one
    idle longest, as the plain queue does): a connection that served the tenant may be on its search_path already
    (for SQL written as text) and holds its statements prepared. Only the choice of connection changes: every
    statement still runs on the path it needs (_route_statement), so a wrong guess costs a SET or a prepare, never
    another tenant's rows. At most pool_size + max_overflow idle connections are scanned."""

    def _get(self):  # asyncio.Queue's hook: the item get() and get_nowait() return
        idle = self._queue  # type: ignore[attr-defined]
        wanted = current_tenant()
        for index, record in enumerate(idle):
            if record.info.get(_LAST_TENANT, False) == wanted:
                del idle[index]
                return record
        return idle.popleft()

    def _put(self, record):  # asyncio.Queue's hook: a connection returned
        info = record.info
        info[_IDLE_SINCE] = time.monotonic()
        info.pop(_WANTED, None)  # its read unit of work is over: _route_statement no longer routes for it
        self._queue.append(record)  # type: ignore[attr-defined]

    def take_stale(self, idle_s: float):
        """The connection idle longest, taken out of the queue, if it has been idle more than `idle_s` seconds;
        else None."""
        idle = self._queue  # type: ignore[attr-defined]
        if idle and time.monotonic() - idle[0].info.get(_IDLE_SINCE, 0.0) > idle_s:
            return idle.popleft()
        return None


class _TenantAffineAdaptedQueue(AsyncAdaptedQueue):
    room = 0  # idle connections the queue holds beyond maxsize (the pool's size): TenantAffinePool's overflow

    @memoized_property
    def _queue(self) -> asyncio.Queue:
        return _TenantAffineQueue(maxsize=self.maxsize + self.room)


class TenantAffinePool(AsyncAdaptedQueuePool):
    """One pool for every tenant of a cluster (never a pool per tenant), preferring for each unit of work an idle
    connection that last served its tenant (_TenantAffineQueue).

    A connection opened for a burst (beyond pool_size, up to max_overflow more) stays in the pool until it has
    been idle for OVERFLOW_IDLE_S, instead of closing as soon as it is returned to a full queue (QueuePool's way).
    A pool sized to the calls a process serves at once overflows whenever the background loops add one or two
    units of work; QueuePool then closed a connection on nearly every return and opened another for the next
    burst, and each new connection starts with none of PostgreSQL's caches: the catalog of every tenant schema it
    touches, each tenant's statements prepared again and planned six times (PostgreSQL's five custom plans, then
    the generic one). bench/tenants.py, 16 clients on a pool of 16: about 25 connections opened in two minutes, a
    fifth of the 50 tenants' get_student calls planned afresh (pg_stat_statements) against 1 in 1,000 on one
    tenant. HikariCP closes connections beyond its minimum the same way (idleTimeout)."""

    _queue_class = _TenantAffineAdaptedQueue  # type: ignore[assignment]

    def __init__(self, creator: Any, pool_size: int = 5, max_overflow: int = 10, **kw: Any) -> None:
        super().__init__(creator, pool_size=pool_size, max_overflow=max_overflow, **kw)
        self._pool.room = max(0, max_overflow)  # type: ignore[attr-defined]  # before the queue is first made

    def _do_return_conn(self, record: Any) -> None:
        super()._do_return_conn(record)  # into the queue: it has room for every connection the pool may open
        while self._overflow > 0:  # more connections than pool_size: close those idle for OVERFLOW_IDLE_S
            stale = self._pool._queue.take_stale(OVERFLOW_IDLE_S)  # type: ignore[attr-defined]
            if stale is None:
                return
            try:
                stale.close()
            finally:
                self._dec_overflow()


OVERFLOW_IDLE_S = 60.0
"""How long a connection opened beyond the pool's size may stay idle before the pool closes it (TenantAffinePool;
HikariCP's idleTimeout, 10 minutes by default, at least 10 s)."""
STATEMENT_CACHE_SIZE = 512  # prepared statements a PostgreSQL connection keeps (asyncpg's LRU; its default is 100)


def tenant_options(schema: str | None) -> dict[str, Any] | None:
    """The execution options of a unit of work in tenant schema `schema` (None: the default tenant, none).

    Statements built with SQLAlchemy name the tenant's schema (`schema_translate_map` maps the models' unset schema
    to it), so each tenant's statements are statements of their own on a connection: asyncpg prepares them once per
    connection and PostgreSQL keeps their plans across tenants (STATEMENT_CACHE_SIZE of them). A prepared
    statement with unqualified names is planned again whenever the connection's search_path changed since it was
    planned; with 50 schools on one pool that was nearly every read (bench/tenants.py). Such a statement needs no
    search_path: a read runs it on the default path (_route_statement); a write's transaction sets the tenant's,
    for the SQL written as text, and both name the same schema."""
    return None if schema is None else {"schema_translate_map": {None: schema}}


def _postgresql_engine(url: str, *, pool_size: int, read_only: bool = False) -> AsyncEngine:
    # No pool_pre_ping: a unit of work's first statement is its connection's ping (Database._route_read,
    # Database._begin_write), which replaces a connection that died with its server (a PostgreSQL restart, a
    # failover, an idle timeout) there and then instead of failing the call. SQLAlchemy's pre-ping of a write
    # connection is three round trips (BEGIN, an empty query, ROLLBACK: its form for pgbouncer's transaction mode)
    # before the unit of work's own BEGIN. The engine's other users (migrations and tenant moves, CLI commands of
    # a process of their own) take connections unpinged. The two timeouts bound how long a call can wait when the
    # server is down or every connection is busy: it then fails with ServiceUnavailable (see Database.read), never
    # hangs.
    connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S, "prepared_statement_cache_size": STATEMENT_CACHE_SIZE}
    options: dict[str, Any] = {}
    if read_only:
        connect_args["server_settings"] = {"default_transaction_read_only": "on"}
        options["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=POOL_TIMEOUT_S,
                                 connect_args=connect_args, poolclass=TenantAffinePool, **options)
    if read_only:
        event.listen(engine.sync_engine, "before_cursor_execute", _route_statement)
    return engine


# Functions a statement may call and still run on the default search_path for a tenant: each is pg_catalog's, which
# PostgreSQL searches before the path, and no migration defines one of these names in any schema (public, the
# default tenant's, only the migrations write to). A function not named here may be a tenant's own or an
# extension's, found through the path: its statement runs on the tenant's path. Functions that take an object's
# name as text (nextval, to_regclass, ...) are left out.
_CATALOG_FUNCTIONS = frozenset({
    "abs", "array_agg", "avg", "bool_and", "bool_or", "ceil", "char_length", "coalesce", "concat", "count",
    "current_date", "current_timestamp", "date_trunc", "dense_rank", "distinct", "floor", "greatest", "json_agg",
    "jsonb_agg", "lag", "lead", "least", "length", "lower", "max", "min", "mod", "now", "nullif", "rank", "round",
    "row_number", "string_agg", "substring", "sum", "trim", "unnest", "upper",
})
_NAMES_SCHEMA = "_mcs_erp_names_schema"  # a Compiled's __dict__: whether its statement is _names_schema's


def _names_schema(statement: Any) -> bool:
    """Whether `statement`, run with a schema_translate_map for its tables, resolves every name the same under any
    search_path: it reads only Tables (each rendered with the tenant's schema, or one of its own) and calls only
    _CATALOG_FUNCTIONS, with no SQL written as text (text(), literal_column(), a lightweight table()), no custom
    operator and no sequence. A statement this cannot tell about counts as not naming its schema."""
    if not isinstance(statement, ClauseElement):
        return False
    for element in visitors.iterate(statement):
        if isinstance(element, (TextClause, TextualSelect, Sequence)):
            return False
        if isinstance(element, TableClause) and not isinstance(element, Table):
            return False
        if isinstance(element, ColumnClause) and element.is_literal and element.name != "*":  # count(*) is safe
            return False
        if isinstance(element, FunctionElement) and (getattr(element, "packagenames", ())
                                                     or getattr(element, "name", "").lower()
                                                     not in _CATALOG_FUNCTIONS):
            return False
        if isinstance(element, BinaryExpression) and isinstance(element.operator, custom_op):
            return False
        if isinstance(element, CollationClause):
            return False
    return True


def _route_statement(conn: Any, _cursor: Any, _statement: str, _parameters: Any, context: Any,
                     _executemany: bool) -> None:
    """The read engine's before_cursor_execute hook: before each statement of a read unit of work, the
    connection's search_path the statement needs, set if the connection is on another one (Database._route_read).

    A tenant's statement built with SQLAlchemy that names the tenant's schema for each table (_names_schema, with
    the unit of work's schema_translate_map) needs none: it runs on the default path, where every other tenant's
    such statements run too, so PostgreSQL keeps its plan (a prepared statement is planned again when the
    search_path changed since it was planned). Any other statement of a tenant (SQL written as text, a function
    found through the path) runs on the tenant's own path, `SET search_path TO tenant_<code>`; the default
    tenant's on the default path (RESET). The path is recorded (_PATH) only once its SET has answered, and
    forgotten before a SET is sent, so a SET cut off midway never leaves a connection taken for another path."""
    info = conn.info
    wanted = info.get(_WANTED, False)
    if wanted is False:  # not in a read unit of work (the engine used directly: migrations, the CLI, tests)
        return
    needed = wanted
    if wanted is not None and context.compiled is not None:
        translate = context.execution_options.get("schema_translate_map")
        if translate is not None and translate.get(None) == wanted:
            names = context.compiled.__dict__.get(_NAMES_SCHEMA)
            if names is None:  # once per compiled statement: SQLAlchemy caches it, for every tenant
                names = context.compiled.__dict__[_NAMES_SCHEMA] = _names_schema(context.compiled.statement)
            if names:
                needed = None
    if info.get(_PATH, False) == needed:
        return
    info.pop(_PATH, None)
    driver = conn.connection.driver_connection
    await_only(driver.execute("RESET search_path" if needed is None else f"SET search_path TO {needed}"))
    info[_PATH] = needed


def _unavailable(exc: Exception) -> ServiceUnavailable | None:
    """The ServiceUnavailable a lost or refused connection (to the database, or to Redis in an after-commit hook)
    is answered with (every edge shows it as a retryable "try again" error); None for any other exception."""
    service = unavailable_service(exc)
    if service is None:
        return None
    if type(exc).__name__ == "TimeoutError" and type(exc).__module__.startswith("sqlalchemy"):
        return ServiceUnavailable(service, f"no database connection was free within {POOL_TIMEOUT_S:g} s (the "
                                           "database is overloaded or restarting); try again in a few seconds")
    log.warning("%s unavailable: %s: %s", service, type(exc).__name__, exc)
    return ServiceUnavailable(service)


_SEEN = "mcs_erp.seen"  # a write session's info: {identity key: (state, attribute values)} it loaded or inserted
MAX_SEEN = 256  # rows a write unit of work remembers for codes_by_id; a bulk job's thousands are not all kept


class _WriteSession(SQLModelSession):
    """The session of a write unit of work: it remembers the attribute values of the first MAX_SEEN rows it loads or
    inserts (each object's own `__dict__`, which SQLAlchemy updates in place, and its state), so that codes_by_id
    can answer from them. The objects themselves are not kept: the identity map still holds them weakly, and a row
    selected again after its object was dropped (FOR UPDATE, after waiting for a lock) is loaded fresh, as before.
    The family record_payment locked and the journal entry it posted are dropped by the time the tool's answer asks
    for their codes, which cost a query each (about a fifth of a small write's CPU)."""


@event.listens_for(_WriteSession, "loaded_as_persistent")
@event.listens_for(_WriteSession, "pending_to_persistent")
def _keep_seen(session: Session, instance: Any) -> None:
    seen = session.info.get(_SEEN)
    if seen is None:
        seen = session.info[_SEEN] = {}
    state = instance_state(instance)
    if len(seen) < MAX_SEEN or state.key in seen:  # a row loaded again: its new object's values
        seen[state.key] = (state, instance_dict(instance))


_SET_TENANT_PATH = text("SELECT set_config('search_path', :path, true)")  # a write's path, for its transaction
_PING = text("SELECT 1")


class _ReadSession(AsyncSession):
    """The session of a read unit of work: a select of named columns (_named_columns: table columns and labelled
    expressions, each name once, so rows and not objects, keyed alike by Core and the ORM) runs on the unit of
    work's connection as Core does, with the same SQL, parameters, tenant schema, rows and keys, skipping the ORM's
    execution around it (its compile state, loading and result set-up: about 0.15 ms of CPU a statement, a third
    of a get_student query's; bench/mcp_latency.py). A select of entities or of unnamed expressions (which the ORM
    and Core name differently: `length` and `length_1`), and every other statement, runs as AsyncSession runs it.
    A read unit of work has nothing to flush first: it never writes."""

    async def exec(self, statement: Any, *, params: Any = None, execution_options: Any = None,
                   bind_arguments: Any = None, **kwargs: Any) -> Any:
        if isinstance(statement, Select) and bind_arguments is None and not kwargs and _named_columns(statement):
            conn = await self.connection()
            result = await conn.execute(statement, params, execution_options=execution_options or {})
            return result.scalars() if isinstance(statement, SelectOfScalar) else result
        return await super().exec(statement, params=params, bind_arguments=bind_arguments, **kwargs,
                                  **({"execution_options": execution_options} if execution_options else {}))


def _named_columns(statement: Select) -> bool:
    """Whether `statement` selects table columns and labelled expressions alone, no name twice."""
    names = set()
    for column in statement._raw_columns:  # what select() was given, before an entity expands to its columns
        if not isinstance(column, ColumnClause | Label) or column.name in names:
            return False
        names.add(column.name)
    return True


class Database:
    """The process's engines and session factories; created in a lifespan, disposed at shutdown."""

    def __init__(self, url: str, *, pool_size: int = 10, tenant: str | None = None,
                 placement_ttl_s: float = PLACEMENT_TTL_S, cluster_of: Database | None = None):
        self.url = url
        self.pool_size = pool_size
        self.tenant = tenant  # set on a SQLite tenant's own Database: it routes nothing further
        self.placement_ttl_s = placement_ttl_s
        self.cluster_of = cluster_of  # set on another cluster's Database: it routes by schema, never further
        self._tenant_databases: dict[str, Database] = {}  # SQLite: each tenant's file, opened at first use
        self._clusters: dict[str, Database] = {}  # PostgreSQL: the other clusters' pools, by URL
        self._placements: dict[str, tuple[float, str | None]] = {}  # code -> (read at, its database_url)
        self.engine_listeners: list[Callable[[AsyncEngine], None]] = []  # told of each tenant's new write engine
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.read_engine = _sqlite_engine(url, immediate=False, pool_size=pool_size,
                                              read_only=True).execution_options(isolation_level="AUTOCOMMIT")
            self.write_engine = _sqlite_engine(url, immediate=True, pool_size=1)
        else:
            self.read_engine = _postgresql_engine(url, pool_size=pool_size, read_only=True)
            self.write_engine = _postgresql_engine(url, pool_size=pool_size)
        self._read_sessions = async_sessionmaker(self.read_engine, class_=_ReadSession, expire_on_commit=False,
                                                 autoflush=True, info={_READ_ONLY: True})
        self._write_sessions = async_sessionmaker(self.write_engine, class_=AsyncSession,
                                                  sync_session_class=_WriteSession, expire_on_commit=False,
                                                  autoflush=True)

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    def tenant_database(self, code: str) -> Database:
        """The Database of tenant `code`'s own SQLite file (`<stem>.<code>.db`), opened at first use and disposed
        with this one. Raises ValueError on PostgreSQL, where tenants are schemas of this database."""
        if not self.is_sqlite:
            raise ValueError("on PostgreSQL a tenant is a schema of this database, not a database of its own")
        database = self._tenant_databases.get(code)
        if database is None:
            database = Database(sqlite_url_of(self.url, code), pool_size=self.pool_size, tenant=code)
            self._tenant_databases[code] = database
            for listener in self.engine_listeners:
                listener(database.write_engine)
        return database

    def cluster_database(self, url: str) -> Database:
        """The Database (one pool pair) of the PostgreSQL cluster at `url`, made at first use and disposed with this
        one: every tenant placed there shares it, routed by its schema. `url` equal to this database's: self."""
        if url == self.url or self.cluster_of is not None:
            return self
        database = self._clusters.get(url)
        if database is None:
            database = Database(url, pool_size=self.pool_size, cluster_of=self)
            self._clusters[url] = database
            for listener in self.engine_listeners:
                listener(database.write_engine)
        return database

    def cluster_urls(self) -> list[str]:
        """The URLs of the other clusters this Database has a pool for, in order."""
        return sorted(self._clusters)

    def note_placement(self, code: str, url: str | None) -> None:
        """Remember tenant `code`'s database_url, just read from the registry by the caller (an API key's lookup),
        for placement_ttl_s: the units of work of the key's calls then skip reading it again."""
        self._placements[code] = (time.monotonic(), url)

    def forget_placement(self, code: str) -> None:
        """Drop the remembered cluster of tenant `code` (after `mcs-erp tenants move`, in the process that moved)."""
        self._placements.pop(code, None)

    async def _placement(self, code: str) -> str | None:
        """The database_url of tenant `code` in the registry (None: this database), re-read after placement_ttl_s
        (how long a server may route to a moved tenant's old cluster; the move waits that long, the tenant
        suspended, before it copies)."""
        now = time.monotonic()
        hit = self._placements.get(code)
        if hit is not None and now - hit[0] < self.placement_ttl_s:
            return hit[1]
        async with self._read_sessions() as session:
            await self._route_read(session, None)  # the registry lives with the default tenant
            url = (await session.exec(sqlmodel_select(Tenant.database_url).where(Tenant.code == code))).first()
        self._remember_placements({code: url}, now)
        return url

    def _remember_placements(self, urls: dict[str, str | None], now: float) -> None:
        """Keep each tenant's database_url just read from the registry (None: this database), as read at `now`."""
        if len(self._placements) > 100_000:
            self._placements.clear()
        self._placements.update((code, (now, url)) for code, url in urls.items())

    async def tenant_clusters(self, codes: Sequence[str]) -> dict[str, Database]:
        """{code: the Database holding that tenant's PostgreSQL schema}: this one, or the pool of another cluster
        where the registry places the tenant. The placements not remembered (placement_ttl_s, as a unit of work
        routes) are read in one query per PLACEMENTS_PER_QUERY codes, not one each. On SQLite, and on another
        cluster's Database, this one for every code."""
        if self.is_sqlite or self.cluster_of is not None:
            return {code: self for code in codes}
        now = time.monotonic()
        stale = [code for code in dict.fromkeys(codes)
                 if (hit := self._placements.get(code)) is None or now - hit[0] >= self.placement_ttl_s]
        for start in range(0, len(stale), PLACEMENTS_PER_QUERY):
            chunk = stale[start:start + PLACEMENTS_PER_QUERY]
            async with self._read_sessions() as session:
                await self._route_read(session, None)  # the registry lives with the default tenant
                urls = dict((await session.exec(sqlmodel_select(Tenant.code, Tenant.database_url)
                                                .where(Tenant.code.in_(chunk)))).all())  # type: ignore[attr-defined]
            self._remember_placements({code: urls.get(code) for code in chunk}, now)
        out: dict[str, Database] = {}
        for code in codes:
            url = self._placements[code][1] if code in self._placements else await self._placement(code)
            out[code] = self if url is None else self.cluster_database(url)  # this database's own url: self
        return out

    async def _routes_to(self) -> tuple[Database | None, str | None]:
        """(the Database to hand the unit of work to, or None; the tenant's PostgreSQL schema, or None) of the
        context: a SQLite tenant's own file; on PostgreSQL the tenant's cluster (when its registry row names
        another) or this one, and its schema."""
        code = current_tenant()
        if code is None or self.tenant is not None:
            return None, None
        if self.is_sqlite:
            return self.tenant_database(code), None
        if self.cluster_of is None:
            url = await self._placement(code)
            if url is not None and url != self.url:
                return self.cluster_database(url), None
        return None, schema_of(code)

    async def _route_read(self, session: AsyncSession, schema: str | None) -> dict[str, Any]:
        # The read engine has no pre-ping: the first statement of a read unit of work is the ping, `RESET
        # search_path`, unless the connection is known alive. Then each statement runs on the path it needs
        # (_route_statement, the engine's before_cursor_execute hook): a tenant's statements that name its schema,
        # and the default tenant's, on the default path; any other statement of a tenant on the tenant's own. So
        # a read of one tenant after another's on the same connection sends no SET at all when its statements
        # name their schema (nearly all of them: SQLAlchemy's, with tenant_options), and PostgreSQL keeps their
        # plans. bench/tenants.py, get_student from 16 clients spread over 50 tenants: a SET before every read
        # that switched tenants cost about 0.5 ms of the server's CPU per call, and the p95 was 1.3 x one
        # tenant's; without it, 1.0 x. A connection found dead at the ping (a restart, an idle timeout) is
        # invalidated and the unit of work takes a fresh one, once, as a pre-ping did. Straight to the driver in
        # the simple query protocol: nothing to prepare.
        #
        # Skipped ping (ALIVE_WINDOW_S): a unit of work on the connection ended without error less than
        # ALIVE_WINDOW_S ago, its path is known, and its socket is open (asyncpg's is_closed: a restart or
        # pg_terminate_backend closes it, which the event loop has seen by then). HikariCP skips its liveness test
        # the same way (aliveBypassWindowMs, 500 ms by default). The path is recorded (_PATH) only once its SET or
        # RESET has answered, and forgotten before one is sent, so one cut off midway never leaves a connection
        # taken for another path. Returns the connection's info, for `read` to mark it alive at the end.
        for attempt in (1, 2):
            conn = await session.connection(execution_options=tenant_options(schema))
            info = conn.info
            try:
                # The pool's guess for the next unit of work (_TenantAffineQueue): the tenant of this one (the
                # registry's read for a tenant's placement is on the default tenant's).
                info[_LAST_TENANT] = current_tenant() if schema is not None else None
                info[_WANTED] = schema  # what _route_statement routes each statement by, until the pool has it back
                driver = (await conn.get_raw_connection()).driver_connection
                if (info.get(_PATH, False) is not False
                        and time.monotonic() - info.get(_ALIVE_AT, -ALIVE_WINDOW_S) < ALIVE_WINDOW_S
                        and not driver.is_closed()):  # type: ignore[union-attr]
                    return info
                info.pop(_PATH, None)
                await driver.execute("RESET search_path")  # type: ignore[union-attr]
                info[_PATH] = None
                return info
            except Exception as exc:
                if attempt == 2 or unavailable_service(exc) is None:
                    raise
                log.info("a pooled read connection was dead (%s); taking a fresh one", type(exc).__name__)
                await conn.invalidate()
                await session.rollback()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _begin_write(self, session: AsyncSession, schema: str | None) -> None:
        # A write's first statement is the ping of its pooled connection (the engine has no pre-ping): the tenant's
        # search_path, `set_config('search_path', 'tenant_<code>', true)` (SET LOCAL: it ends with the transaction,
        # however it ends), or `SELECT 1` for the default tenant; the driver sends the transaction's BEGIN before
        # it. Two round trips, where SQLAlchemy's pre-ping took three before the BEGIN and the path. A connection
        # found dead there (a restart, an idle timeout) is invalidated and the unit of work takes a fresh one, once:
        # nothing of the unit of work has run yet.
        statement, params = (_SET_TENANT_PATH, {"path": schema}) if schema is not None else (_PING, {})
        for attempt in (1, 2):
            conn = await session.connection(execution_options=tenant_options(schema))
            try:
                await conn.execute(statement, params)
                conn.info[_LAST_TENANT] = current_tenant()
                return
            except Exception as exc:
                if attempt == 2 or unavailable_service(exc) is None:
                    raise
                log.info("a pooled write connection was dead (%s); taking a fresh one", type(exc).__name__)
                await conn.invalidate()
                await session.rollback()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a read unit of work: it never commits; closing it rolls back whatever the code inside did.

        Raises ServiceUnavailable (code `unavailable`, retryable) when the database refused, dropped or timed out
        the connection (domain.kernel.errors.unavailable_service), after at most CONNECT_TIMEOUT_S to connect
        or POOL_TIMEOUT_S waiting for a pooled connection.
        """
        try:
            own, schema = await self._routes_to()
        except Exception as exc:
            error = _unavailable(exc)
            if error is None:
                raise
            raise error from exc
        if own is not None:
            async with own.read() as session:
                yield session
            return
        try:
            async with self._read_sessions() as session:
                if self.is_sqlite:
                    yield session
                else:
                    info = await self._route_read(session, schema)
                    yield session
                    info[_ALIVE_AT] = time.monotonic()  # it answered this unit of work (_route_read)
        except Exception as exc:
            error = _unavailable(exc)
            if error is None:
                raise
            raise error from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """Open a write unit of work: one transaction, committed on success, rolled back on any error.

        After the commit, the hooks registered with `after_commit` run in order (see there: a hook's exception
        propagates from here with the commit kept); after a rollback, none runs.

        Raises ServiceUnavailable as `read` does, and for a Redis connection failure in an after-commit hook (a
        job's enqueue: the job is committed and stays queued; recovery hands it to a worker once Redis is back).
        A connection lost during COMMIT leaves the outcome unknown, which the error's message cannot tell: a
        caller retries through an idempotency key or reads back first.
        """
        try:
            own, schema = await self._routes_to()
        except Exception as exc:
            error = _unavailable(exc)
            if error is None:
                raise
            raise error from exc
        if own is not None:
            async with own.write() as session:
                yield session
            return
        try:
            async with self._write_sessions() as session:
                if self.is_sqlite:
                    await session.begin()  # its BEGIN IMMEDIATE comes with the first statement
                else:
                    await self._begin_write(session, schema)  # the transaction began with its first statement
                # Leaving this block by an exception closes the session, which rolls the transaction back.
                yield session
                await session.commit()
                await _run_after_commit(session)
        except Exception as exc:
            error = _unavailable(exc)
            if error is None:
                raise
            raise error from exc

    async def dispose(self) -> None:
        """Close every pooled connection (the SQLite tenants' files' too)."""
        for database in (*self._tenant_databases.values(), *self._clusters.values()):
            await database.dispose()
        self._tenant_databases.clear()
        self._clusters.clear()
        await self.read_engine.dispose()
        await self.write_engine.dispose()


_CODES_STATEMENTS: dict[tuple[Any, str, str], Any] = {}  # (mapped class, id key, code key) -> its select, built once


def _codes_statement(id_column: Any, code_column: Any) -> Any:
    # Built once per kind, the ids bound at execution (an expanding IN): building the select on every call cost
    # more CPU than running it (SQLAlchemy's coercions and cache key), and every answer that shows a code runs one.
    key = (id_column.class_, id_column.key, code_column.key)
    statement = _CODES_STATEMENTS.get(key)
    if statement is None:
        statement = _CODES_STATEMENTS[key] = select(id_column, code_column).where(
            id_column.in_(bindparam("ids", expanding=True)))
    return statement


def _codes_in_session(session: AsyncSession, id_column: Any, code_column: Any,
                      wanted: list[int]) -> tuple[dict[int, str], list[int]]:
    """({id: code} of the rows of `wanted` the write unit of work of `session` loaded or inserted, their code
    loaded; the ids left to query). The values are what this transaction read or wrote, its own change not flushed
    yet included (a query autoflushes it first); a change made by a Core UPDATE of the code column, which no code
    does, would not be seen. A session with a deletion pending is always queried, and so is a row inserted in a
    savepoint since rolled back."""
    seen = session.info.get(_SEEN)
    if not seen or session.sync_session.deleted:
        return {}, wanted
    mapper = sa_inspect(id_column.class_)
    name = code_column.key
    found: dict[int, str] = {}
    missing: list[int] = []
    for row_id in wanted:
        key = mapper.identity_key_from_primary_key((row_id,))
        state, values = seen.get(key, (None, None))
        # Still the row's: a savepoint's rollback takes the identity of the rows it inserted; an object still held
        # is still the session's (not expunged). The code loaded, not expired (expiring removes the value; loading
        # it again would be a query anyway).
        if state is not None and state.key == key and not state.was_deleted and (
                state.obj() is None or state.persistent) and name in values:
            found[row_id] = values[name]
        else:
            missing.append(row_id)
    return found, missing


async def codes_by_id(session: AsyncSession, id_column: Any, code_column: Any, ids: Iterable[int]) -> dict[int, str]:
    """{id: code} for the rows of `ids` (`id_column` and `code_column`: ORM attributes of one mapped class, such as
    `Family.id` and `Family.code`; deleted rows included: an old answer still names them), in at most one query;
    ids no row has are left out. A write unit of work answers from the rows it loaded or inserted (its session
    remembers their values: _WriteSession) and queries only the others. Each context's `repository.codes_of` serves
    its kinds through this."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    found, missing = _codes_in_session(session, id_column, code_column, wanted)
    if missing:
        rows = (await session.exec(_codes_statement(id_column, code_column), params={"ids": missing})).all()
        found.update((row[0], row[1]) for row in rows)
    return found


async def bulk_insert(session: AsyncSession, table: Any, rows: list[dict[str, Any]], *,
                      with_ids: bool = False) -> list[int]:
    """Insert `rows` (dicts of `table`'s columns, all with the same keys) in the caller's transaction: one binary
    COPY on PostgreSQL (asyncpg's copy_records_to_table, several times faster than INSERTs for a school's whole
    payroll), one executemany on SQLite. With `with_ids`, the rows get ids first (from the table's sequence on
    PostgreSQL, from INSERT ... RETURNING on SQLite) and those ids are returned in the order of `rows`. A
    constraint's refusal (a UNIQUE index, a check) raises SQLAlchemy's IntegrityError on both, as an INSERT's does,
    so callers and the edges handle a COPY's refusal as they handle an INSERT's."""
    if not rows:
        return []
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        if with_ids:
            result = await conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows)
            return [row.id for row in result.all()]
        await conn.execute(table.insert(), rows)
        return []
    columns = [c for c in rows[0] if not (with_ids and c == "id")]  # a reserved id replaces one given
    values = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    return await bulk_insert_records(session, table, columns, [values(row) for row in rows], with_ids=with_ids)


async def bulk_insert_records(session: AsyncSession, table: Any, columns: Sequence[str],
                              records: Sequence[tuple[Any, ...]], *, with_ids: bool = False) -> list[int]:
    """Insert `records` (tuples of the values of `columns`, in that order) in the caller's transaction: bulk_insert
    without a dict per row, for the largest writes (a payroll's 10,000 payslips and 60,000 lines: the dicts and
    their conversion cost the writing process more than the database's COPY of them). One binary COPY on
    PostgreSQL, one executemany on SQLite; raises IntegrityError for a constraint's refusal, as bulk_insert does.
    With `with_ids` (`columns` must not name id: ValueError), the records get ids first (one reserve_ids query on
    PostgreSQL, INSERT ... RETURNING on SQLite) and those ids are returned in the order of `records`, ascending."""
    if not records:
        return []
    if with_ids and "id" in columns:
        raise ValueError("with_ids gives the ids; `columns` must not name id")
    conn = await session.connection()
    if conn.dialect.name != "postgresql":
        params = [dict(zip(columns, record, strict=True)) for record in records]
        if with_ids:
            result = await conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), params)
            return [row.id for row in result.all()]
        await conn.execute(table.insert(), params)
        return []
    ids: list[int] = []
    if with_ids:
        ids = await reserve_ids(session, table, len(records))
        columns = ["id", *columns]
        records = [(row_id, *record) for row_id, record in zip(ids, records, strict=True)]
    raw = await conn.get_raw_connection()
    try:
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            table.name, records=records, columns=list(columns))
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(f"COPY {table.name}", None, exc) from exc
    return ids


async def reserve_ids(session: AsyncSession, table: Any, count: int) -> list[int]:
    """`count` new ids of `table` (PostgreSQL only: from its id column's sequence, in one query), so rows can carry
    what derives from their id (a number such as INV000042) before one COPY writes them. Ascending; as one array in
    one row (10,000 rows of one id each cost the driver and SQLAlchemy a tenth of a second more)."""
    if count <= 0:
        return []
    conn = await session.connection()
    return list((await conn.execute(reserve_ids_statement(table.name), {"n": count})).scalar_one())


def reserve_ids_statement(table_name: str) -> Any:
    """The query behind reserve_ids (parameter `n`): n new ids of `table_name`'s id sequence, ascending, as one array
    in one row; for a synchronous caller (the audit log's before-commit hook) to run the same way."""
    # The sequence is looked up once (a FROM item), not per id: pg_get_serial_sequence in the select list ran once
    # per row, 40 ms of 10,000 ids against 6.5 ms (the fees helper's measurement, issue 19).
    return text(f"SELECT array_agg(id ORDER BY id) FROM (SELECT nextval(seq) AS id FROM "
                f"CAST(pg_get_serial_sequence('{table_name}', 'id') AS regclass) AS seq, generate_series(1, :n)) "
                "AS reserved")
