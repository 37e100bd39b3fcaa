"""Toolsets (issue 16 item 1): the declaration, the listing filter, and the discovery tools through the MCP SDK's
client on the server object (its in-memory transport: the same handlers as stdio and HTTP).

tests/server/test_toolsets_e2e.py drives the same over real stdio and Streamable HTTP servers.
"""

from __future__ import annotations

import dataclasses

import mcp_types as types
import pytest
from mcp import Client
from pydantic import BaseModel

from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.errors import InvalidInput
from server.mcp_server import build_mcp_server
from tests.factories import make_user
from tools.modules import all_modules
from tools.registry import Effect, Module, ToolContext, build_catalogue
from tools.toolsets import (
    ALL,
    BY_NAME,
    DISCOVERY,
    ROLE_DEFAULTS,
    TOOLSETS,
    Listing,
    default_toolsets,
    listed_tools,
    parse_toolsets,
    toolset_problems,
)
from tools.types import ToolInput

CATALOGUE = build_catalogue(all_modules())
SPECS = list(CATALOGUE.tools.values())


def actor_with(*roles: Role) -> Actor:
    return Actor(id=1, username="someone", roles=frozenset(roles), channel=Channel.MCP_STDIO)


def names(specs) -> set[str]:
    return {spec.name for spec in specs}


# ---------------------------------------------------------------- the declaration


def test_every_tool_is_in_exactly_one_declared_toolset():
    for spec in SPECS:
        assert spec.toolset in BY_NAME, spec.name
        assert [t.name for t in TOOLSETS if spec.name in t.tools] == [spec.toolset], spec.name
    assert toolset_problems(SPECS) == []


def test_a_declaration_problem_is_caught():
    specs = [spec for spec in SPECS if spec.name != "get_me"]
    assert "toolset 'me' lists get_me, which is no tool of the catalogue" in toolset_problems(specs)


class EchoIn(ToolInput):
    pass


class EchoOut(BaseModel):
    ok: bool = True


async def echo(ctx: ToolContext, args: EchoIn) -> EchoOut:
    """Echo nothing back."""
    return EchoOut()


def test_the_registry_refuses_a_tool_without_exactly_one_toolset():
    with pytest.raises(TypeError, match="exactly one toolset but is in none: list it once in tools/toolsets.py"):
        Module("scratch").tool(effect=Effect.READ, roles={Role.ADMIN}, name="undeclared_tool")(echo)
    # A declared product tool registered by a module that names its own toolset would be in two.
    with pytest.raises(TypeError, match=r"get_me must belong to exactly one toolset but is in 2 \(me, scratch\)"):
        Module("scratch", toolset="scratch").tool(effect=Effect.READ, roles={Role.ADMIN}, name="get_me")(echo)
    mod = Module("scratch", toolset="scratch")
    mod.tool(effect=Effect.READ, roles={Role.ADMIN}, name="undeclared_tool")(echo)
    assert mod.tools[0].toolset == "scratch"
    assert CATALOGUE.tools["record_grade"].toolset == "gradebook"
    assert CATALOGUE.tools["list_toolsets"].toolset == CATALOGUE.tools["enable_toolsets"].toolset == DISCOVERY


def test_every_role_has_small_useful_defaults():
    assert set(ROLE_DEFAULTS) == set(Role)
    for role in Role:
        listed = names(listed_tools(CATALOGUE, actor_with(role)))
        assert {"list_toolsets", "enable_toolsets", "get_me", "list_pending_actions", "get_action"} <= listed, role
        assert 8 <= len(listed) <= 36, (role, len(listed))


@pytest.mark.parametrize(("role", "listed", "not_listed"), [
    (Role.TEACHER, {"list_classes", "record_grade", "change_grade", "take_attendance", "get_teacher_schedule",
                    "confirm_action"}, {"list_students", "publish_term_grades", "create_subject", "list_invoices"}),
    (Role.FINANCE, {"list_invoices", "record_payment", "get_receivables_aging", "get_trial_balance"},
     {"post_journal_entry", "create_fee_item", "void_invoice", "list_classes"}),
    (Role.REGISTRAR, {"create_student", "enroll_student", "list_classes", "publish_term_grades"},
     {"record_grade", "create_room", "list_employees"}),
    (Role.PAYROLL, {"create_payroll_run", "calculate_payroll_run", "get_payslip", "get_job"},
     {"void_payslip", "create_employment_contract", "list_accounts"}),
    (Role.HR, {"create_employee", "terminate_employee", "create_employment_contract"},
     {"list_classes", "create_payroll_run"}),
    (Role.ADMIN, {"approve_action", "reject_action", "list_jobs"},
     {"create_subject", "record_payment", "create_payroll_run"}),
    (Role.VIEWER, {"list_classes", "get_teacher_schedule"}, {"list_students", "record_grade"}),
])
def test_the_default_listing_of_each_role(role, listed, not_listed):
    actor = actor_with(role)
    shown = names(listed_tools(CATALOGUE, actor))
    assert listed <= shown, listed - shown
    assert not (not_listed & shown), not_listed & shown
    assert shown <= names(CATALOGUE.for_actor(actor))  # never a tool the roles may not call


def test_listing_widens_to_every_allowed_tool_and_never_beyond():
    for role in Role:
        actor = actor_with(role)
        every = listed_tools(CATALOGUE, actor, Listing(widened=parse_toolsets(ALL)))
        assert every == CATALOGUE.for_actor(actor), role
    teacher_and_finance = actor_with(Role.TEACHER, Role.FINANCE)
    both = names(listed_tools(CATALOGUE, teacher_and_finance))
    assert {"record_grade", "list_invoices"} <= both  # the defaults of every role held


def test_parse_toolsets():
    assert parse_toolsets(" fees, Ledger ,,") == {"fees", "ledger"}
    assert parse_toolsets(["all"]) == set(BY_NAME) == parse_toolsets("fees,all")
    assert parse_toolsets("") == frozenset()
    with pytest.raises(InvalidInput) as caught:
        parse_toolsets("fees,feez,ledgr", source="MCS_ERP_TOOLSETS")
    message = caught.value.message
    assert "unknown toolsets 'feez', 'ledgr' in MCS_ERP_TOOLSETS" in message
    assert "gradebook" in message and "billing" in message and "(or all)" in message


def test_enabling_on_a_sessionless_listing_keeps_nothing():
    teacher = actor_with(Role.TEACHER)
    listing = Listing(session=False)
    assert listing.enable(teacher, {"students"}) == ["students"]
    assert listing.enabled == set() and not listing.changed
    kept = Listing()
    assert kept.enable(teacher, {"students", "gradebook"}) == ["students"]  # gradebook is a default already
    assert kept.changed and "students" in kept.listed(teacher) and default_toolsets({Role.TEACHER}) < kept.listed(
        teacher)


# ---------------------------------------------------------------- through the SDK's client


def client_as(runtime, actor: Actor, *, notes: list | None = None, legacy: bool = True) -> Client:
    async def resolve(ctx):
        return actor

    async def on_message(message) -> None:
        if notes is not None and isinstance(message, types.ServerNotification):
            notes.append(message)

    return Client(build_mcp_server(runtime, resolve), mode="legacy" if legacy else "auto",
                  message_handler=on_message)


def tool_names(listing: types.ListToolsResult) -> set[str]:
    return {tool.name for tool in listing.tools}


@pytest.fixture(scope="module")
async def teacher(rt) -> Actor:
    async with rt.db.write() as s:
        return await make_user(s, roles="teacher")


async def test_tools_list_shows_the_default_toolsets_and_enable_adds_one_with_list_changed(rt, teacher):
    notes: list = []
    async with client_as(rt, teacher, notes=notes) as client:
        before = tool_names(await client.list_tools())
        assert before == names(listed_tools(rt.catalogue, teacher))
        assert "list_students" not in before

        toolsets = (await client.call_tool("list_toolsets", {})).structured_content
        rows = {row["name"]: row for row in toolsets["items"]}
        assert rows["gradebook"] == {**rows["gradebook"], "listed": True, "default": True}
        assert rows["students"]["listed"] is False and rows["students"]["tools"] == 4  # the reads a teacher may call
        assert rows["fees"]["tools"] == 0 and "called by name" in toolsets["note"]

        result = await client.call_tool("enable_toolsets", {"toolsets": ["students"]})
        out = result.structured_content
        assert not result.is_error and out["enabled"] == ["students"] and out["session"] is True
        assert set(out["tools_added"]) == {"list_students", "search_students", "get_student", "list_enrollments"}
        assert any(isinstance(n.root if hasattr(n, "root") else n, types.ToolListChangedNotification)
                   for n in notes), notes
        after = tool_names(await client.list_tools())
        assert after == before | set(out["tools_added"])

        again = (await client.call_tool("enable_toolsets", {"toolsets": ["students"]})).structured_content
        assert again["enabled"] == [] and again["tools_added"] == []


async def test_enable_refuses_unknown_and_forbidden_toolsets(rt, teacher):
    async with client_as(rt, teacher) as client:
        unknown = await client.call_tool("enable_toolsets", {"toolsets": ["gradebok"]})
        assert unknown.is_error
        text = unknown.content[0].text
        assert text.startswith("error: invalid_input") and "'gradebok'" in text and "gradebook" in text
        forbidden = await client.call_tool("enable_toolsets", {"toolsets": ["fees", "students"]})
        assert forbidden.is_error and forbidden.content[0].text.startswith("error: permission_denied")
        assert "fees" in forbidden.content[0].text and "students" in forbidden.content[0].text
        empty = await client.call_tool("enable_toolsets", {"toolsets": []})
        assert empty.is_error and "toolsets" in empty.content[0].text
        assert "list_students" not in tool_names(await client.list_tools())  # nothing was enabled


async def test_a_tool_outside_the_listing_works_by_name_and_roles_still_apply(rt, teacher):
    async with client_as(rt, teacher) as client:
        listed = tool_names(await client.list_tools())
        assert "list_students" not in listed and "list_invoices" not in listed
        students = await client.call_tool("list_students", {"limit": 1})
        assert not students.is_error and "items" in students.structured_content
        refused = await client.call_tool("list_invoices", {})
        assert refused.is_error and refused.content[0].text.startswith("error: permission_denied")


async def test_the_setting_widens_every_listing_and_refuses_unknown_names(rt, teacher):
    widened = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"toolsets": ["students", "fees"]}))
    async with client_as(widened, teacher) as client:
        shown = tool_names(await client.list_tools())
    assert {"list_students", "record_grade"} <= shown and "list_invoices" not in shown  # roles still filter
    everything = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"toolsets": ["all"]}))
    async with client_as(everything, teacher) as client:
        assert tool_names(await client.list_tools()) == names(rt.catalogue.for_actor(teacher))
    wrong = dataclasses.replace(rt, settings=rt.settings.model_copy(update={"toolsets": ["fess"]}))
    with pytest.raises(InvalidInput, match="unknown toolset 'fess' in MCS_ERP_TOOLSETS; the toolsets are: "):
        build_mcp_server(wrong, lambda ctx: teacher)


async def test_at_2026_07_28_enabling_is_announced_to_subscriptions_listen(rt, teacher):
    """stdio (one connection per process) keeps what enable_toolsets adds at the sessionless protocol version too;
    the change reaches the client's subscriptions/listen stream."""
    import anyio

    async with client_as(rt, teacher, legacy=False) as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(tools_list_changed=True) as subscription:
            out = (await client.call_tool("enable_toolsets", {"toolsets": ["students"]})).structured_content
            assert out["session"] is True and out["enabled"] == ["students"]
            with anyio.fail_after(10):
                event = await anext(aiter(subscription))
        assert type(event).__name__ == "ToolsListChanged"
        assert "list_students" in tool_names(await client.list_tools())
