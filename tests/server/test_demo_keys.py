"""The demo's API key: each `mcs-erp demo` run replaces the previous demo key, and never touches another key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlmodel import select

from domain.identity.models import ApiKey
from domain.identity.service import authenticate_key, create_api_key
from domain.kernel.actor import Channel
from domain.kernel.audit import AuditEntry, ensure_audit_head, verify_audit_chain
from domain.kernel.clock import utcnow
from domain.migrations.schema import migrate
from domain.kernel.settings import Settings
from server.cli import prepare_database
from server.demo import replace_demo_key
from tests.conftest import drop_pg_database, fresh_database_url
from tools.runtime import Runtime

PRE_DEMO_FLAG = "09d01aa1262d"  # the revision before api_keys.demo


@pytest.fixture
async def own_runtime(tmp_path) -> AsyncIterator[Runtime]:
    """A runtime on a database of its own: demo keys are global, so no other test's keys may be in it."""
    url, pg_name = await fresh_database_url(tmp_path)
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
    try:
        yield runtime
    finally:
        await runtime.close()
        if pg_name:
            await drop_pg_database(pg_name)


async def _active(runtime: Runtime) -> dict[int, ApiKey]:
    async with runtime.db.read() as session:
        keys = (await session.exec(select(ApiKey).where(ApiKey.revoked_at.is_(None)))).all()  # type: ignore
    return {key.id: key for key in keys}


async def test_three_demo_runs_leave_one_demo_key_and_the_operators_keys(own_runtime):
    rt = own_runtime
    await prepare_database(rt)
    async with rt.db.write() as session:  # an operator's keys, one of them even named 'demo'
        laptop = await create_api_key(session, username="admin", name="laptop")
        named_demo = await create_api_key(session, username="bursar", roles="finance", name="demo")

    runs = [await replace_demo_key(rt) for _ in range(3)]

    assert runs[0].revoked_key_ids == []
    assert runs[1].revoked_key_ids == [runs[0].key_id]
    assert runs[2].revoked_key_ids == [runs[1].key_id]
    active = await _active(rt)
    assert sorted(active) == sorted([laptop.key.id, named_demo.key.id, runs[2].key_id])
    assert [k.id for k in active.values() if k.demo] == [runs[2].key_id]
    async with rt.db.read() as session:
        assert await authenticate_key(session, runs[2].secret, Channel.MCP_HTTP) is not None
        for earlier in runs[:2]:
            assert await authenticate_key(session, earlier.secret, Channel.MCP_HTTP) is None
        for kept in (laptop, named_demo):
            assert (await authenticate_key(session, kept.secret, Channel.MCP_HTTP)) is not None
        # every replacement is audited: which key was made, which were revoked; the chain stays intact
        rows = (await session.exec(select(AuditEntry).where(AuditEntry.tool == "demo")
                                   .order_by(AuditEntry.id))).all()  # type: ignore[arg-type]
        assert [(row.entity_id, json.loads(row.after or "{}")["revoked_demo_keys"]) for row in rows] == [
            (run.key_id, run.revoked_key_ids) for run in runs]
        assert (await verify_audit_chain(session)).ok


async def test_the_migration_marks_earlier_demo_keys_but_not_an_operators_key_named_demo(own_runtime):
    """Demo runs before the `demo` column named their keys 'demo' and did not audit them; `keys create` audits
    every key, so a key named 'demo' with a `keys create` audit row is an operator's and stays unmarked."""
    rt = own_runtime
    await migrate(rt.db.write_engine, PRE_DEMO_FLAG)
    async with rt.db.write_engine.begin() as conn:  # ids left to the database: PostgreSQL's sequences move on
        user_id = (await conn.execute(text(
            "INSERT INTO users (username, display_name, roles, version, created_at, updated_at) "
            "VALUES ('admin', 'Administrator', 'admin', 1, :t, :t) RETURNING id"), {"t": utcnow()})).scalar_one()
        ids = {}
        for label, name in (("demo1", "demo"), ("demo2", "demo"), ("operator_demo", "demo"), ("laptop", "laptop")):
            ids[label] = (await conn.execute(text(
                "INSERT INTO api_keys (user_id, name, prefix, key_hash, created_at) "
                "VALUES (:user, :name, 'mcs_x', :hash, :t) RETURNING id"),
                {"user": user_id, "name": name, "hash": label.ljust(64, "0"), "t": utcnow()})).scalar_one()
        await conn.execute(text("INSERT INTO audit_log (at, actor_id, actor_username, channel, tool, event, entity, "
                                "entity_id, arguments, prev_hash, hash) VALUES (:t, 0, 'cli-operator', 'cli', "
                                "'keys create', 'write', 'api_keys', :key, '{}', :h, :h)"),
                           {"t": utcnow(), "key": ids["operator_demo"], "h": "0" * 64})
    await migrate(rt.db.write_engine)
    async with rt.db.read() as session:
        marked = {key.id: key.demo for key in (await session.exec(select(ApiKey))).all()}
    assert marked == {ids["demo1"]: True, ids["demo2"]: True, ids["operator_demo"]: False, ids["laptop"]: False}

    async with rt.db.write() as session:  # so the next demo run revokes both earlier demo keys, and only them
        await ensure_audit_head(session)
    run = await replace_demo_key(rt)
    assert run.revoked_key_ids == [ids["demo1"], ids["demo2"]]
    assert sorted(await _active(rt)) == sorted([ids["operator_demo"], ids["laptop"], run.key_id])
