"""Routing: an API key finds its tenant, and every unit of work of a call, a request or a job runs in it; on
PostgreSQL a pooled connection never carries a tenant's search_path into another tenant's unit of work, also after
an error or a cancellation mid-transaction."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from domain.identity.models import User
from domain.identity.service import create_api_key, ensure_user
from domain.jobs import service as jobs
from domain.kernel.actor import Channel
from domain.kernel.db import Database
from domain.kernel.errors import NotFound
from domain.kernel.tenants import TenantStatus, TenantSuspended, current_tenant, set_status, tenant_in_use
from server.auth import ApiKeyMiddleware
from tests.conftest import wait_for
from tests.tenants.helpers import admin_of, tenants_runtime
from tools.invoke import invoke
from workers.execute import execute_job
from workers.handlers import register, unregister
from workers.recovery import arq_job_id
from workers.tenancy import served_tenants

CODES = ("alpha", "beta")


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "routing", CODES) as runtime:
        for code in (None, *CODES):  # one user only each tenant has, named for it
            with tenant_in_use(code):
                async with runtime.db.write() as session:
                    await ensure_user(session, username=f"only_{code or 'default'}", display_name="x", roles="viewer")
        yield runtime


ONLY = {f"only_{code or 'default'}" for code in (None, *CODES)}


async def own_users(db: Database, code: str | None) -> list[str]:
    """The `only_<tenant>` users the unit of work of tenant `code` sees (the same SQL text for every tenant)."""
    with tenant_in_use(code):
        async with db.read() as session:
            stmt = select(User.username).where(User.username.in_(ONLY))  # type: ignore[attr-defined]
            return list((await session.exec(stmt)).all())


async def test_each_tenant_sees_only_its_own_rows(rt):
    for code in (None, *CODES):
        assert await own_users(rt.db, code) == [f"only_{code or 'default'}"]
    with tenant_in_use("alpha"):
        async with rt.db.write() as session:
            await ensure_user(session, username="only_alpha_2", display_name="x", roles="viewer")
    with tenant_in_use("alpha"):
        async with rt.db.read() as session:
            assert await session.get(User, 1) is not None
            assert (await session.exec(select(User.username).where(User.username == "only_alpha_2"))).all()
    assert await own_users(rt.db, "beta") == ["only_beta"] and await own_users(rt.db, None) == ["only_default"]


async def test_a_tool_call_runs_in_its_actors_tenant(rt):
    alpha, beta = await admin_of(rt, "alpha"), await admin_of(rt, "beta")
    created = await invoke(rt, "create_department", {"code": "ALPHA-SCI", "name": "Science"}, alpha)
    assert (await invoke(rt, "list_departments", {}, alpha)).items[0].id == created.id
    assert (await invoke(rt, "list_departments", {}, beta)).items == []
    with pytest.raises(NotFound):
        await invoke(rt, "list_employees", {"department_id": "ALPHA-SCI"}, beta)
    # The audit row of the write is in alpha's log only.
    events = await invoke(rt, "list_audit_events", {}, alpha)
    assert any(e.tool == "create_department" for e in events.items)
    assert not any(e.tool == "create_department" for e in (await invoke(rt, "list_audit_events", {}, beta)).items)
    assert current_tenant() is None  # the call's tenant ended with it


async def test_a_key_finds_its_tenant_and_no_other(rt):
    with tenant_in_use("alpha"):
        async with rt.db.write() as session:
            secret = (await create_api_key(session, username="admin", name="routing")).secret
    assert secret.startswith("mcs_alpha.")
    actor = await rt.actor_for_key(secret, Channel.MCP_HTTP)
    assert actor is not None and actor.tenant == "alpha" and actor.username == "admin"
    # The same secret claimed for another tenant, the default tenant or an unknown one finds nothing.
    body = secret.removeprefix("mcs_alpha.")
    for forged in (f"mcs_beta.{body}", f"mcs_{body}", f"mcs_nowhere.{body}", f"mcs_ALPHA.{body}"):
        assert await rt.actor_for_key(forged, Channel.MCP_HTTP) is None, forged
    async with rt.db.write() as session:
        default_secret = (await create_api_key(session, username="admin", name="routing")).secret
    default_actor = await rt.actor_for_key(default_secret, Channel.MCP_HTTP)
    assert default_actor is not None and default_actor.tenant is None and "." not in default_secret

    async with rt.db.write() as session:
        await set_status(session, code="alpha", status=TenantStatus.SUSPENDED)
    try:
        with pytest.raises(TenantSuspended, match="tenant 'alpha' .* is suspended") as refused:
            await rt.actor_for_key(secret, Channel.MCP_HTTP)
        assert refused.value.http_status == 403 and refused.value.code == "tenant_suspended"
        # Only a valid key learns that its tenant is suspended; any other is just unknown.
        assert await rt.actor_for_key(f"mcs_alpha.{body}x", Channel.MCP_HTTP) is None
        with pytest.raises(TenantSuspended):
            await rt.check_tenant("alpha")
        await rt.check_tenant("beta")
        with pytest.raises(NotFound):
            await rt.check_tenant("nowhere")
    finally:
        async with rt.db.write() as session:
            await set_status(session, code="alpha", status=TenantStatus.ACTIVE)
    assert (await rt.actor_for_key(secret, Channel.MCP_HTTP)).tenant == "alpha"


async def test_a_keys_lookup_reads_the_registry_and_the_key_in_one_unit_of_work_on_postgresql(rt, monkeypatch):
    """On PostgreSQL a key of a tenant on this cluster is looked up in one read (the registry row, then the key from
    the tenant's schema, named in the statement); on SQLite the key is in the tenant's own file: two. The
    Actor is the tenant's either way, and a key of another tenant's user is unknown in this one."""
    from tools.runtime import Runtime

    with tenant_in_use("alpha"):
        async with rt.db.write() as session:
            issued = await create_api_key(session, username=f"lookup_{rt.db.dialect}", roles="viewer")
    reads = 0
    real = Database.read

    def counted(self):
        nonlocal reads
        reads += 1
        return real(self)

    monkeypatch.setattr(Database, "read", counted)
    fresh = Runtime.create(rt.settings.model_copy(update={"key_cache_seconds": 0}))
    try:
        actor = await fresh.actor_for_key(issued.secret, Channel.MCP_HTTP)
        assert actor is not None and actor.tenant == "alpha" and actor.username == issued.user.username
        if rt.db.is_sqlite:  # the registry's file, then the tenant's (Database.read hands that one to its own)
            assert reads >= 2
        else:
            assert reads == 1
        forged = issued.secret.replace("alpha", "beta", 1)  # the same secret presented as beta's key
        assert forged != issued.secret and await fresh.actor_for_key(forged, Channel.MCP_HTTP) is None
    finally:
        await fresh.close()


async def test_the_http_middleware_runs_the_request_in_the_keys_tenant(rt):
    seen: list[tuple[str | None, list[str]]] = []

    async def app(scope, receive, send):
        seen.append((current_tenant(), await own_users(rt.db, current_tenant())))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def call(key: str) -> tuple[int, dict]:
        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "headers": [(b"authorization", f"Bearer {key}".encode())]}
        await ApiKeyMiddleware(app, rt)(scope, None, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], (json.loads(body) if body != b"ok" else {})

    with tenant_in_use("beta"):
        async with rt.db.write() as session:
            beta_key = (await create_api_key(session, username="admin", name="http")).secret
    assert (await call(beta_key))[0] == 200 and seen[-1] == ("beta", ["only_beta"])
    assert current_tenant() is None
    async with rt.db.write() as session:
        await set_status(session, code="beta", status=TenantStatus.SUSPENDED)
    try:
        status, body = await call(beta_key)
        assert status == 403 and body["error"] == "tenant_suspended" and "mcs-erp tenants resume beta" in body["detail"]
        assert len(seen) == 1  # the app never ran
        assert (await call(beta_key.replace("mcs_beta.", "mcs_alpha.")))[0] == 401
    finally:
        async with rt.db.write() as session:
            await set_status(session, code="beta", status=TenantStatus.ACTIVE)


async def test_jobs_run_in_the_tenant_that_started_them(rt):
    ran: list[tuple[str | None, int]] = []

    async def probe(ctx, job_id, params):
        ran.append((current_tenant(), job_id))
        async with ctx.runtime.db.read() as session:
            stmt = select(User.username).where(User.username.in_(ONLY))  # type: ignore[attr-defined]
            return {"tenant": current_tenant(), "users": list((await session.exec(stmt)).all())}

    register("tenant-probe")(probe)
    try:
        started = {}
        for code in CODES:  # each tenant's jobs table numbers its own jobs: the same ids, run apart
            admin = await admin_of(rt, code)
            with tenant_in_use(code):
                async with rt.db.write() as session:
                    job = await jobs.start_job(session, admin, kind="tenant-probe", params={}, idempotency_key=None,
                                               enqueue=rt.jobs.enqueue)
                started[code] = job.id
        for code in CODES:
            done = await wait_for(rt, await admin_of(rt, code), started[code])
            assert done.status == "succeeded", done
            assert done.result["tenant"] == code and done.result["users"][0] == f"only_{code}"
        assert sorted(ran, key=str) == sorted(((code, started[code]) for code in CODES), key=str)
        # A job id of one tenant is nothing in another: executing it there skips it (unknown there).
        unknown = max(started.values()) + 1000
        assert await execute_job(rt, unknown, tenant="alpha") == "skipped"
    finally:
        unregister("tenant-probe")
    assert arq_job_id("q", 1) == "q:job-1"
    assert len({arq_job_id("q", 1), arq_job_id("q", 1, "alpha"), arq_job_id("q", 1, "beta")}) == 3


async def test_a_suspended_tenants_jobs_fail_with_the_reason(rt):
    admin = await admin_of(rt, "beta")
    with tenant_in_use("beta"):
        async with rt.db.write() as session:
            job = await jobs.create_job(session, admin, kind="tenant-probe", params={})
    async with rt.db.write() as session:
        await set_status(session, code="beta", status=TenantStatus.SUSPENDED)
    try:
        assert await execute_job(rt, job.id, tenant="beta") == "failed"
    finally:
        async with rt.db.write() as session:
            await set_status(session, code="beta", status=TenantStatus.ACTIVE)
    out = await invoke(rt, "get_job", {"job_id": job.id}, admin)
    assert out.status == "failed" and "tenant 'beta'" in out.error and "is suspended" in out.error, out
    assert "once it is resumed" in out.error
    assert await execute_job(rt, job.id, tenant="nowhere") == "skipped"


async def test_recovery_hands_back_every_active_tenants_orphaned_jobs(rt):
    ran: list[tuple[str | None, int]] = []

    async def probe(ctx, job_id, params):
        ran.append((current_tenant(), job_id))
        return {}

    register("tenant-probe-2")(probe)
    orphans: dict[str | None, int] = {}
    try:
        for code in (None, *CODES):  # a job queued an hour ago and never handed to a runner, in each tenant
            with tenant_in_use(code):
                async with rt.db.write() as session:
                    job = await jobs.create_job(session, await admin_of(rt, code), kind="tenant-probe-2", params={})
                    job.created_at = job.created_at - timedelta(hours=1)
                    session.add(job)
                orphans[code] = job.id
        async with rt.db.write() as session:
            await set_status(session, code="beta", status=TenantStatus.SUSPENDED)
        try:
            assert await served_tenants(rt) == [None, "alpha"]
            with tenant_in_use("beta"):  # a process bound to one tenant (stdio) serves that one only
                assert await served_tenants(rt) == ["beta"]
            handed = await rt.jobs._recover()
            assert sorted(handed) == sorted([orphans[None], orphans["alpha"]])
            for code in (None, "alpha"):
                with tenant_in_use(code):
                    await rt.jobs.join(orphans[code])
        finally:
            async with rt.db.write() as session:
                await set_status(session, code="beta", status=TenantStatus.ACTIVE)
        assert sorted(ran, key=str) == sorted([(None, orphans[None]), ("alpha", orphans["alpha"])], key=str)
        handed = await rt.jobs._recover()  # beta, active again
        assert handed == [orphans["beta"]]
        with tenant_in_use("beta"):
            await rt.jobs.join(orphans["beta"])
        assert ("beta", orphans["beta"]) in ran
    finally:
        unregister("tenant-probe-2")


async def test_sqlite_tenants_are_files_and_postgresql_tenants_schemas(rt):
    if rt.db.is_sqlite:
        alpha = rt.db.tenant_database("alpha")
        assert alpha is rt.db.tenant_database("alpha") and alpha.url.endswith(".alpha.db")
        assert alpha.tenant == "alpha" and alpha is not rt.db.tenant_database("beta")
    else:
        with pytest.raises(ValueError, match="schema"):
            rt.db.tenant_database("alpha")


# PostgreSQL: one pool for every tenant. pool_size=1 (max_overflow 1) and one unit of work at a time: each unit of
# work below gets the same connection back.

@pytest.fixture
async def small_db(rt):
    if rt.db.is_sqlite:
        pytest.skip("PostgreSQL's search_path: on SQLite each tenant has its own engines")
    db = Database(rt.db.url, pool_size=1)
    yield db
    await db.dispose()


async def search_path_of_write_connection(db: Database) -> str:
    async with db.write_engine.connect() as conn:
        return (await conn.exec_driver_sql("SHOW search_path")).scalar_one()


async def backend_pid(db: Database, code: str | None, *, write: bool) -> int:
    with tenant_in_use(code):
        async with (db.write() if write else db.read()) as session:
            return (await session.exec(text("SELECT pg_backend_pid()"))).scalar_one()  # type: ignore[call-overload]


async def test_statements_prepared_in_one_tenant_are_replanned_in_another(small_db):
    # The same statement on the same connection in turn for each tenant: each reads its own table (the statement
    # names the tenant's schema; SQL written as text would be re-planned for the new search_path).
    pid = await backend_pid(small_db, None, write=False)
    for _ in range(3):
        for code in (*CODES, None, "alpha", None, "beta"):
            assert await own_users(small_db, code) == [f"only_{code or 'default'}"]
    assert await backend_pid(small_db, "beta", write=False) == pid  # it was one connection all along
    for code in (*CODES, None):
        with tenant_in_use(code):
            async with small_db.write() as session:
                stmt = select(User.username).where(User.username.in_(ONLY))  # type: ignore[attr-defined]
                assert (await session.exec(stmt)).all() == [f"only_{code or 'default'}"]


async def test_each_tenants_statements_name_its_schema_so_a_connection_keeps_their_plans(small_db):
    """A SQLAlchemy statement run in a tenant's unit of work names the tenant's schema (schema_translate_map), so on
    a connection serving tenants in turn each tenant's statement is prepared once and keeps its plan (PostgreSQL
    plans a prepared statement again when the search_path it was planned under changed). The default tenant's
    statements stay unqualified; text SQL goes by the search_path, which names the same schema."""
    from sqlalchemy import event

    seen: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    for engine in (small_db.read_engine, small_db.write_engine):
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        for code in ("alpha", "beta", None, "alpha"):
            seen.clear()
            assert await own_users(small_db, code) == [f"only_{code or 'default'}"]
            users = [s for s in seen if "username" in s]
            assert len(users) == 1
            if code is None:
                assert "tenant_" not in users[0]
            else:
                assert f"tenant_{code}.users" in users[0] or f'"tenant_{code}".users' in users[0], users[0]
                assert "tenant_" + ({"alpha": "beta", "beta": "alpha"}[code]) not in users[0]
            with tenant_in_use(code):
                async with small_db.write() as session:
                    seen.clear()
                    await session.exec(select(User.id).where(User.username == "nobody"))  # type: ignore[arg-type]
                    assert (f"tenant_{code}." in seen[-1]) is (code is not None), seen[-1]
                    path = (await session.exec(text("SHOW search_path"))).scalar_one()  # type: ignore[call-overload]
                    assert ("tenant_" in path) is (code is not None) and (code is None or code in path)
        # one connection served all three tenants: it holds a prepared statement of each tenant's own
        with tenant_in_use("alpha"):
            async with small_db.read() as session:
                statements = (await session.exec(text(  # type: ignore[call-overload]
                    "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%username%'"))).all()
        texts = " ".join(row[0] for row in statements)
        assert "tenant_alpha" in texts and "tenant_beta" in texts
    finally:
        for engine in (small_db.read_engine, small_db.write_engine):
            event.remove(engine.sync_engine, "before_cursor_execute", capture)


async def test_a_write_transaction_leaves_no_search_path_behind(small_db):
    default = await search_path_of_write_connection(small_db)
    assert "tenant_" not in default
    with tenant_in_use("alpha"):
        async with small_db.write() as session:
            path = (await session.exec(text("SHOW search_path"))).scalar_one()  # type: ignore[call-overload]
            assert path == "tenant_alpha"
    assert await search_path_of_write_connection(small_db) == default
    # An error inside the transaction: rolled back, and the SET LOCAL with it.
    with pytest.raises(ZeroDivisionError), tenant_in_use("alpha"):
        async with small_db.write() as session:
            await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            raise ZeroDivisionError
    assert await search_path_of_write_connection(small_db) == default
    # A cancellation mid-statement: the connection is rolled back (or replaced), never returned set.
    started = asyncio.Event()

    async def sleeper():
        with tenant_in_use("alpha"):
            async with small_db.write() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
                started.set()
                await session.exec(text("SELECT pg_sleep(10)"))  # type: ignore[call-overload]

    task = asyncio.create_task(sleeper())
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await search_path_of_write_connection(small_db) == default
    assert await own_users(small_db, None) == ["only_default"]
    with tenant_in_use(None):
        async with small_db.write() as session:
            assert "only_default" in (await session.exec(  # type: ignore[call-overload]
                text("SELECT username FROM users WHERE username LIKE 'only_d%'"))).scalars().all()


async def test_a_read_cancelled_mid_statement_leaves_the_next_tenant_its_own(small_db):
    assert await own_users(small_db, "alpha") == ["only_alpha"]
    started = asyncio.Event()

    async def sleeper():
        with tenant_in_use("alpha"):
            async with small_db.read() as session:
                await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
                started.set()
                await session.exec(text("SELECT pg_sleep(10)"))  # type: ignore[call-overload]

    task = asyncio.create_task(sleeper())
    await asyncio.wait_for(started.wait(), 10)
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await own_users(small_db, None) == ["only_default"]
    assert await own_users(small_db, "beta") == ["only_beta"]
    # An error in a tenant's read, then the default tenant's read on the same connection.
    with pytest.raises(Exception, match="no_such_table"), tenant_in_use("beta"):
        async with small_db.read() as session:
            await session.exec(text("SELECT * FROM no_such_table"))  # type: ignore[call-overload]
    assert await own_users(small_db, None) == ["only_default"]


async def reads_at_once(db: Database, codes: tuple[str, ...], while_held=None) -> dict[str, int]:
    """{code: backend pid} of one read unit of work per tenant of `codes`, all held open at once (each on a
    connection of its own); `while_held()` runs while they are, before they are released."""
    entered = [asyncio.Event() for _ in codes]
    release = asyncio.Event()

    async def hold(code: str, entered: asyncio.Event) -> int:
        with tenant_in_use(code):
            async with db.read() as session:
                pid = (await session.exec(text("SELECT pg_backend_pid()"))).scalar_one()  # type: ignore
                entered.set()
                await asyncio.wait_for(release.wait(), 30)
                return pid

    tasks = [asyncio.create_task(hold(code, event)) for code, event in zip(codes, entered)]
    try:
        for event in entered:
            await asyncio.wait_for(event.wait(), 30)
        if while_held is not None:
            while_held()
    finally:
        release.set()
    return dict(zip(codes, await asyncio.gather(*tasks)))


async def test_a_tenant_gets_back_the_connection_it_last_served(rt):
    # One pool for every tenant, which prefers for a tenant an idle connection that last served it (PostgreSQL keeps
    # that connection's plans for the tenant's search_path): two tenants reading at once take two connections; each
    # later read of each tenant gets its own one back, whatever order they come in, and reads only its own rows.
    if rt.db.is_sqlite:
        pytest.skip("PostgreSQL's pool: on SQLite each tenant has its own engines")
    db = Database(rt.db.url, pool_size=2)
    try:
        pids = await reads_at_once(db, CODES[:2])
        assert len(set(pids.values())) == 2
        for code in (CODES[1], CODES[0], CODES[0], CODES[1], CODES[1], CODES[0]):
            assert await backend_pid(db, code, write=False) == pids[code], code
            assert await own_users(db, code) == [f"only_{code}"]
    finally:
        await db.dispose()


async def test_a_connection_opened_for_a_burst_stays_until_idle_for_overflow_idle_s(rt, monkeypatch):
    # TenantAffinePool keeps a connection opened beyond pool_size (a burst) with its caches, where QueuePool closed
    # it as soon as it came back to a full queue; it closes it once idle for OVERFLOW_IDLE_S, and never one in use.
    if rt.db.is_sqlite:
        pytest.skip("PostgreSQL's pool: on SQLite each tenant has its own engines")
    from domain.kernel import db as db_module

    db = Database(rt.db.url, pool_size=1)  # max_overflow 1: two connections at most
    pool = db.read_engine.pool
    try:
        def both_out() -> None:
            assert pool.checkedout() == 2 and pool.overflow() == 1  # type: ignore[attr-defined]

        async def burst() -> dict[str, int]:
            return await reads_at_once(db, CODES, while_held=both_out)

        pids = await burst()
        assert len(set(pids.values())) == 2
        assert pool.checkedin() == 2 and pool.overflow() == 1  # type: ignore[attr-defined]  # both kept
        for code in (CODES[1], CODES[0], CODES[1]):  # each tenant gets its own warm connection back
            assert await backend_pid(db, code, write=False) == pids[code]
        assert await burst() == pids  # a second burst opens nothing new
        monkeypatch.setattr(db_module, "OVERFLOW_IDLE_S", 0.0)
        await asyncio.sleep(0.01)
        kept = await backend_pid(db, CODES[0], write=False)  # returning it closes the other, idle one
        assert kept == pids[CODES[0]]
        assert pool.checkedin() == 1 and pool.overflow() == 0  # type: ignore[attr-defined]
        assert await backend_pid(db, CODES[1], write=False) == kept  # the one left serves every tenant
        assert await own_users(db, CODES[1]) == [f"only_{CODES[1]}"]
    finally:
        await db.dispose()
