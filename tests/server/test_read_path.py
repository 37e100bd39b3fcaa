"""The lean read path of the MCP server (issue 19): what the server skips per call, and that skipping it changes
nothing a caller sees."""

from __future__ import annotations

import pytest

import server.mcp_server as mcp_server
from server.mcp_server import build_mcp_server, tracing_installed


async def _no_actor(ctx):  # never called: these tests only build the server
    raise AssertionError("no request is served here")


def _middleware_names(server) -> list[str]:
    return [type(m).__name__ for m in server._lowlevel_server.middleware]


@pytest.mark.parametrize("installed", [False, True])
def test_the_sdks_span_per_message_is_kept_only_when_a_tracer_could_record_it(rt, monkeypatch, installed):
    monkeypatch.setattr(mcp_server, "tracing_installed", lambda: installed)
    names = _middleware_names(build_mcp_server(rt, _no_actor))
    assert ("OpenTelemetryMiddleware" in names) is installed, names


def test_tracing_installed_follows_the_opentelemetry_sdk():
    import importlib.util

    assert tracing_installed() is (importlib.util.find_spec("opentelemetry.sdk") is not None)


async def test_a_verified_key_is_reused_for_key_cache_seconds_and_a_revoked_one_refused_after(database_url,
                                                                                              monkeypatch):
    """The per-call key lookup is a cache hit: one database read per key and channel per key_cache_seconds, which
    is also how long a revoked key may still be accepted by a server that verified it (`mcs-erp keys revoke`)."""
    import tools.runtime as runtime_module
    from domain.identity.service import create_api_key, revoke_api_key
    from domain.kernel.actor import Channel
    from domain.kernel.settings import Settings
    from tests.factories import unique
    from tools.runtime import Runtime

    lookups: list[str] = []
    real = runtime_module.identity.authenticate_key

    async def counted(session, raw, channel):
        lookups.append(raw)
        return await real(session, raw, channel)

    monkeypatch.setattr(runtime_module.identity, "authenticate_key", counted)
    cached = Runtime.create(Settings(database_url=database_url, key_cache_seconds=3600))
    fresh = Runtime.create(Settings(database_url=database_url, key_cache_seconds=0))
    try:
        async with cached.db.write() as session:
            issued = await create_api_key(session, username=unique("cache-").lower(), roles="viewer")
        for _ in range(5):
            actor = await cached.actor_for_key(issued.secret, Channel.MCP_HTTP)
            assert actor is not None and actor.username == issued.user.username
        assert len(lookups) == 1
        assert await cached.actor_for_key(issued.secret, Channel.AGENT) is not None  # its own channel's actor
        assert len(lookups) == 2
        assert await cached.actor_for_key("mcs_" + "x" * 43, Channel.MCP_HTTP) is None
        async with cached.db.write() as session:
            await revoke_api_key(session, key_id=issued.key.id)
        assert await cached.actor_for_key(issued.secret, Channel.MCP_HTTP) is not None  # within the bound
        assert await fresh.actor_for_key(issued.secret, Channel.MCP_HTTP) is None  # past it: refused
    finally:
        await cached.close()
        await fresh.close()


@pytest.mark.parametrize("tool, arguments", [("ping", {}), ("get_me", {}), ("list_students", {"limit": 5}),
                                             ("list_sections", {"limit": 5}), ("list_terms", {"limit": 5})])
async def test_the_text_of_a_result_is_the_json_of_its_structured_content(rt, tool, arguments):
    """call_tool makes the text and the structured content separately (both in pydantic-core): they must agree."""
    import json

    from server.mcp_server import call_tool
    from tests.factories import make_user

    async with rt.db.write() as session:
        admin = await make_user(session, roles="admin")
    result = await call_tool(rt, admin, tool, arguments)
    assert not result.is_error, result.content[0].text
    assert json.loads(result.content[0].text) == result.structured_content


@pytest.mark.parametrize("tool, arguments", [("get_me", {}), ("list_terms", {"limit": 5}),  # (ping tells the time)
                                             ("list_students", {"limit": 5}), ("list_sections", {"limit": 5}),
                                             ("get_student", {"student_id": 0}),
                                             ("no_such_tool", {}), ("list_students", {"limit": "many"})])
async def test_the_wire_result_is_what_the_sdk_makes_of_the_result_model(rt, tool, arguments):
    """The tools/call handler returns call_tool_wire's dict, which the SDK passes on as it is: it must be exactly
    the SDK's dump of call_tool's CallToolResult (errors included)."""
    from server.mcp_server import call_tool, call_tool_wire
    from tests.factories import make_user

    async with rt.db.write() as session:
        admin = await make_user(session, roles="admin")
    model = await call_tool(rt, admin, tool, arguments)
    assert await call_tool_wire(rt, admin, tool, arguments) == model.model_dump(by_alias=True, mode="json",
                                                                                exclude_none=True)


async def test_a_read_runs_a_select_of_columns_as_core_with_the_orms_rows(rt):
    """A read unit of work runs a select of columns alone on its connection (domain.kernel.db._ReadSession), not
    through the ORM's execution: the same rows as the ORM gives (a write unit of work's session still runs it
    through the ORM), scalars for a select of one column, and a select of entities still goes through the ORM."""
    from sqlalchemy import event, func
    from sqlalchemy.orm import Session
    from sqlmodel import select

    from domain.identity.models import User
    from tests.factories import make_user

    async with rt.db.write() as session:
        await make_user(session, roles="viewer")
        await make_user(session, roles="admin")
    orm_executions: list[object] = []

    def count(state) -> None:
        orm_executions.append(state.statement)

    columns = select(User.id, User.username.label("name"), func.length(User.username).label("length")).order_by(
        User.id)
    unnamed = select(User.id, func.length(User.username)).order_by(User.id)  # Core would call it length_1
    event.listen(Session, "do_orm_execute", count)
    try:
        async with rt.db.write() as session:
            through_orm = (await session.exec(columns)).all()
            ids_through_orm = (await session.exec(select(User.id).order_by(User.id))).all()
        assert len(orm_executions) == 2
        async with rt.db.read() as session:
            rows = (await session.exec(columns)).all()
            ids = (await session.exec(select(User.id).order_by(User.id))).all()
            first = (await session.exec(columns)).first()
            assert orm_executions[2:] == []  # neither went through the ORM
            users = (await session.exec(select(User).order_by(User.id))).all()
            assert len(orm_executions) == 3  # entities do
            lengths = (await session.exec(unnamed)).all()
            assert len(orm_executions) == 4 and lengths[0]._fields == ("id", "length")  # and unnamed expressions
    finally:
        event.remove(Session, "do_orm_execute", count)
    assert len(rows) >= 2 and rows == through_orm and first == through_orm[0]
    assert [tuple(row) for row in rows] == [tuple(row) for row in through_orm]
    assert rows[0]._fields == through_orm[0]._fields == ("id", "name", "length")
    assert ids == ids_through_orm and all(isinstance(i, int) for i in ids)
    assert [user.id for user in users] == ids


async def test_models_of_rows_of_named_columns_are_the_models_their_attributes_make(rt):
    """tools.types.models_of hands rows of a select of named columns to pydantic-core as dicts of their values:
    the same models as validating each row's attributes (None and dates too); a model that forbids extra keys,
    or rows naming a column twice, are read by attribute as before."""
    from datetime import date

    from pydantic import BaseModel, ConfigDict
    from sqlalchemy import literal, null, select

    from tools.types import _by_name, models_of

    class Shown(BaseModel):
        model_config = ConfigDict(from_attributes=True)
        id: int
        code: str
        section_id: int | None = None
        born: date | None = None
        note: str = "none"  # no column: its default

    class Strict(Shown):
        model_config = ConfigDict(from_attributes=True, extra="forbid")

    stmt = select(literal(7).label("id"), literal("S-7").label("code"), null().label("section_id"),
                  literal(date(2014, 3, 1)).label("born"), literal("unused").label("extra"))
    async with rt.db.read() as session:
        rows = list((await session.exec(stmt)).all()) * 3
    assert _by_name(Shown, rows[0]._fields) and not _by_name(Strict, rows[0]._fields)
    assert not _by_name(Shown, ("id", "id")) and not _by_name(Shown, None)
    for model in (Shown, Strict):
        made = models_of(model, rows)
        assert made == [model.model_validate(row, from_attributes=True) for row in rows]
        assert made[0].model_dump() == {"id": 7, "code": "S-7", "section_id": None, "born": date(2014, 3, 1),
                                        "note": "none"}
    assert models_of(Shown, []) == [] and models_of(Shown, iter(rows[:1])) == models_of(Shown, rows[:1])
