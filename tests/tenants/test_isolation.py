"""Isolation you can prove: every read tool, called as tenant A's admin with the ids and codes of a school that
exists only in tenant B, finds nothing of it and writes nothing to B (registry-driven: the read tools and their
arguments are tests/tools/test_read_budget.py's table, so a new read tool is covered the day it is declared).

A is an empty school; B is the demo school (domain/demo/builder.py) completed as the read-budget test completes it
(a queued publication, a solved and published timetable, a statement of account), built in tenant B."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import func, select

from domain.demo.builder import build_demo_school
from domain.kernel.errors import DomainError, InvalidInput, NotFound
from domain.kernel.tenants import tenant_in_use
from domain.migrations.schema import target_metadata
from tests.conftest import DEMO_SEED
from tests.tenants.helpers import admin_of, tenants_runtime
from tests.tools.test_read_budget import ARGUMENTS, Arguments, Demo, _complete, find_demo, read_tools
from tools.invoke import invoke
from tools.registry import ToolSpec
from tools.runtime import Runtime

SCHOOL_WIDE = {"enable_toolsets", "search_employees", "search_students", "find_free_rooms", "get_remittance_report",
               "get_stp_finalisation", "get_leave_liability", "get_fee_collections", "get_sales_by_product",
               "list_slow_movers", "get_shop_takings"}
"""Read tools whose arguments name no record of B (a query, a date, a period): they answer for A's empty school."""

EXTRA: dict[str, Arguments] = {
    "get_cover_load": lambda d: {"teacher": d.teacher_code},
    "get_cover_sheet": lambda d: {},
    "get_timetable_calendar": lambda d: {"kind": "teacher", "code": d.teacher_code},
    "list_dead_letters": lambda d: {},
}
"""Read tools newer than the read-budget table, until it has them."""
ARGS: dict[str, Arguments] = {**EXTRA, **ARGUMENTS}


def generic_arguments(spec: ToolSpec, demo: Demo) -> dict[str, Any]:
    """Arguments for a read tool in neither table, from its input schema: each required field filled with a
    record of B (an id 1, which the demo school has of every kind; its first teacher's code; a school day)."""
    schema = spec.input_model.model_json_schema()
    args: dict[str, Any] = {}
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        options = prop.get("anyOf", [prop])
        types = {o.get("type") for o in options}
        enum = next((o["enum"] for o in options if "enum" in o), None)
        if enum:
            args[name] = enum[0]
        elif "integer" in types:
            args[name] = 1
        elif any(o.get("format") == "date" for o in options):
            args[name] = "2026-09-07"
        else:
            args[name] = demo.teacher_code
    return args


def arguments_of(spec: ToolSpec, demo: Demo) -> tuple[dict[str, Any], bool]:
    """The arguments tool `spec` is called with, and whether they came from a table (else generic_arguments)."""
    if spec.name in ARGS:
        return ARGS[spec.name](demo), True
    return generic_arguments(spec, demo), False


@pytest.fixture(scope="module")
async def rt(tmp_path_factory):
    async with tenants_runtime(tmp_path_factory, "isolation", ["school_a", "school_b"]) as runtime:
        with tenant_in_use("school_b"):
            async with runtime.db.write() as session:
                await build_demo_school(session, seed=DEMO_SEED)
            await _complete(runtime)
        yield runtime


@pytest.fixture(scope="module")
async def demo_b(rt) -> Demo:
    with tenant_in_use("school_b"):
        return await find_demo(rt, await admin_of(rt, "school_b"))


async def row_counts(rt: Runtime, code: str | None) -> dict[str, int]:
    """Rows per table of tenant `code` (the registry aside)."""
    counts = {}
    with tenant_in_use(code):
        async with rt.db.read() as session:
            for name, table in target_metadata.tables.items():
                if name != "tenants":
                    counts[name] = (await session.exec(select(func.count()).select_from(table))).one()[0]
    return counts


def markers(demo: Demo) -> set[str]:
    """Codes of B's records that must never show in an answer to A."""
    return {demo.section_code, demo.teacher_code, demo.room_code}


async def test_every_read_tool_as_a_finds_nothing_of_b_and_writes_nothing(rt, demo_b):
    a_admin, b_admin = await admin_of(rt, "school_a"), await admin_of(rt, "school_b")
    default_admin = await admin_of(rt, None)  # the default tenant: a fresh, empty school
    tools = read_tools(rt, {"admin": a_admin})
    calls = {tool: arguments_of(rt.catalogue.get(tool), demo_b) for tool in tools}
    generic = sorted(tool for tool, (_args, tabled) in calls.items() if not tabled)
    assert len(generic) <= 5, f"add the read tools {generic} to tests/tools/test_read_budget.py ARGUMENTS"
    assert len(tools) >= 60
    before_b, before_default = await row_counts(rt, "school_b"), await row_counts(rt, None)
    assert before_b["students"] >= 600  # B is the demo school
    with tenant_in_use("school_b"):  # B's own admin gets B's records with the same arguments: they are real
        b_answers = {}
        for tool in tools:
            try:
                b_answers[tool] = await invoke(rt, tool, calls[tool][0], b_admin)
            except DomainError:
                assert tool in generic, f"{tool} refused B's own admin its own records"
    not_found, answered = [], []
    forbidden = markers(demo_b) | {str(v) for v in dataclasses.asdict(demo_b).values() if isinstance(v, str)}
    for tool in sorted(tools):
        try:
            out = await invoke(rt, tool, calls[tool][0], a_admin)
        except NotFound:
            not_found.append(tool)
            continue
        except InvalidInput:
            assert tool in generic, f"{tool} refused its table's arguments"
            continue
        answered.append(tool)
        shown = out.model_dump_json()
        leaked = {m for m in forbidden if m in shown}
        assert not leaked, f"{tool} as A's admin shows B's {leaked}"
        if getattr(out, "items", None):  # only what every new school has (reference data a migration seeds)
            fresh = await invoke(rt, tool, calls[tool][0], default_admin)
            fresh_items = {item.model_dump_json() for item in fresh.items}
            assert {item.model_dump_json() for item in out.items} <= fresh_items, \
                f"{tool} lists items for A's empty school that a fresh school has not"
    # A tool given B's records must answer not-found; the others may answer (for A's empty school) or find
    # nothing (no published timetable, no open term), never answer with B's records.
    takes_b_records = {tool for tool in tools if calls[tool][1] and calls[tool][0] and tool not in SCHOOL_WIDE}
    assert takes_b_records <= set(not_found), sorted(takes_b_records - set(not_found))
    assert len(not_found) >= 25 and len(answered) >= 30
    # B's answers to the same calls had data: the isolation, not empty arguments, made A's answers empty.
    assert sum(1 for tool in answered if getattr(b_answers.get(tool), "items", None)) >= 20
    assert await row_counts(rt, "school_b") == before_b
    assert await row_counts(rt, None) == before_default


async def test_b_admin_cannot_reach_a_record_of_a_by_id_either(rt, demo_b):
    a_admin, b_admin = await admin_of(rt, "school_a"), await admin_of(rt, "school_b")
    created = await invoke(rt, "create_department", {"code": "ONLY-A", "name": "Only in A"}, a_admin)
    listed_b = await invoke(rt, "list_departments", {"limit": 100}, b_admin)
    assert "ONLY-A" not in {d.code for d in listed_b.items}
    with pytest.raises(NotFound):
        await invoke(rt, "list_employees", {"department_id": "ONLY-A"}, b_admin)
    assert (await invoke(rt, "list_departments", {}, a_admin)).items[0].id == created.id
