"""The module registry: dependency order, refused configurations, registration rules, and the real catalogue's
published shape (descriptions, schemas, annotations, pagination)."""

from __future__ import annotations

import re
from typing import Annotated

import pytest
from pydantic import Field, StringConstraints

from domain.jobs.schemas import JobOut
from domain.kernel.actor import Actor, Role
from domain.kernel.plan import Plan
from domain.kernel.settings import Settings
from tools.gate_policy import GATE_POLICY, declared_level, policy_problems
from tools.modules import all_modules
from tools.registry import (
    Catalogue,
    Effect,
    GateLevel,
    Module,
    ModuleConfigError,
    ToolContext,
    build_catalogue,
)
from tools.runtime import Runtime
from tools.types import MAX_PAGE_SIZE, Name, ToolInput, ToolOutput

# ---------------------------------------------------------------- small modules for the ordering rules


class EchoIn(ToolInput):
    text: Name


class EchoOut(ToolOutput):
    text: str


class UnboundedIn(ToolInput):
    note: str


class UnboundedNestedItem(ToolInput):
    label: str


class UnboundedNestedIn(ToolInput):
    items: list[UnboundedNestedItem] = Field(default_factory=list, max_length=3)


class UnboundedOptionalIn(ToolInput):
    note: str | None = None


class BoundedIn(ToolInput):
    note: Annotated[str, StringConstraints(max_length=10)]
    optional: Annotated[str, StringConstraints(max_length=10)] | None = None


async def echo(ctx: ToolContext, args: EchoIn) -> EchoOut:
    """Echo the text back."""
    return EchoOut(text=args.text)


async def no_doc(ctx: ToolContext, args: EchoIn) -> EchoOut:
    return EchoOut(text=args.text)


async def unbounded(ctx: ToolContext, args: UnboundedIn) -> EchoOut:
    """Take an unbounded string."""
    return EchoOut(text=args.note)


async def unbounded_nested(ctx: ToolContext, args: UnboundedNestedIn) -> EchoOut:
    """Take unbounded strings inside a list."""
    return EchoOut(text="")


async def unbounded_optional(ctx: ToolContext, args: UnboundedOptionalIn) -> EchoOut:
    """Take an optional unbounded string."""
    return EchoOut(text="")


async def bounded(ctx: ToolContext, args: BoundedIn) -> EchoOut:
    """Take bounded strings."""
    return EchoOut(text=args.note)


async def _plan(session, actor: Actor, args: EchoIn) -> Plan:
    return Plan(command="echo", summary="echo", preview={})


def module(name: str, *, depends_on: tuple[str, ...] = (), core: bool = False,
           tools: tuple[str, ...] = ()) -> Module:
    """A module with one echo tool per name in `tools` (default: `<name>_echo`)."""
    mod = Module(name, depends_on=depends_on, core=core, toolset="scratch")
    for tool in tools or (f"{name}_echo",):
        mod.tool(effect=Effect.READ, roles={Role.VIEWER}, name=tool)(echo)
    return mod


# ---------------------------------------------------------------- ordering


def test_dependencies_come_first_whatever_the_declaration_order():
    mods = [module("reports", depends_on=("payroll", "academics")), module("payroll", depends_on=("hr",)),
            module("academics", depends_on=("hr",)), module("hr"), module("platform", core=True)]
    catalogue = build_catalogue(mods)
    order = catalogue.modules
    assert set(order) == {"reports", "payroll", "academics", "hr", "platform"}
    assert order.index("hr") < order.index("payroll") < order.index("reports")
    assert order.index("hr") < order.index("academics") < order.index("reports")
    tool_order = list(catalogue.tools)
    assert tool_order.index("hr_echo") < tool_order.index("payroll_echo") < tool_order.index("reports_echo")


def test_real_modules_are_ordered_with_dependencies_first():
    catalogue = build_catalogue(all_modules())
    by_name = {m.name: m for m in all_modules()}
    for name in catalogue.modules:
        for dep in by_name[name].depends_on:
            assert catalogue.modules.index(dep) < catalogue.modules.index(name), (dep, name)
    assert catalogue.modules.index("hr") < catalogue.modules.index("academics")


def test_a_cycle_is_refused_naming_it():
    mods = [module("a", depends_on=("c",)), module("b", depends_on=("a",)), module("c", depends_on=("b",)),
            module("d")]
    with pytest.raises(ModuleConfigError) as info:
        build_catalogue(mods)
    message = str(info.value)
    assert "cycle" in message
    cycle = re.search(r"cycle: ([a-z -> ]+);", message)
    assert cycle is not None, message
    names = cycle.group(1).split(" -> ")
    assert set(names) == {"a", "b", "c"} and names[0] == names[-1], message


def test_a_module_depending_on_itself_is_a_cycle():
    with pytest.raises(ModuleConfigError, match="cycle"):
        build_catalogue([module("solo", depends_on=("solo",))])


def test_unknown_dependency_is_refused():
    with pytest.raises(ModuleConfigError, match=r"'payroll' depends on 'ledger', which does not exist"):
        build_catalogue([module("payroll", depends_on=("ledger",))])


def test_a_module_declared_twice_is_refused():
    with pytest.raises(ModuleConfigError, match="'hr' is declared twice"):
        build_catalogue([module("hr"), module("hr", tools=("other",))])


def test_a_tool_name_declared_by_two_modules_is_refused():
    mods = [module("hr", tools=("list_people",)),
            module("academics", depends_on=("hr",), tools=("list_people",))]
    with pytest.raises(ModuleConfigError) as info:
        build_catalogue(mods)
    message = str(info.value)
    assert "'list_people'" in message and "'hr'" in message and "'academics'" in message


def test_a_duplicate_tool_in_a_disabled_module_is_not_a_conflict():
    mods = [module("hr", tools=("list_people",)),
            module("academics", depends_on=("hr",), tools=("list_people",))]
    catalogue = build_catalogue(mods, disabled=["academics"])
    assert catalogue.tools["list_people"].module == "hr"


# ---------------------------------------------------------------- disabling modules


def test_disabling_a_leaf_removes_its_tools():
    mods = [module("platform", core=True), module("hr"), module("academics", depends_on=("hr",))]
    catalogue = build_catalogue(mods, disabled=["academics"])
    assert set(catalogue.modules) == {"platform", "hr"}
    assert "academics_echo" not in catalogue.tools and "hr_echo" in catalogue.tools


def test_disabling_a_dependency_of_an_enabled_module_is_refused():
    mods = [module("hr"), module("academics", depends_on=("hr",))]
    with pytest.raises(ModuleConfigError) as info:
        build_catalogue(mods, disabled=["hr"])
    message = str(info.value)
    assert "'academics' depends on disabled module(s) ['hr']" in message
    assert "disable 'academics' too" in message
    assert build_catalogue(mods, disabled=["hr", "academics"]).tools == {}


def test_disabling_a_core_module_is_refused():
    with pytest.raises(ModuleConfigError, match="'platform' is part of the platform core"):
        build_catalogue([module("platform", core=True), module("hr")], disabled=["platform"])


def test_disabling_an_unknown_module_is_refused():
    with pytest.raises(ModuleConfigError, match=r"unknown module\(s\) \['payrol'\]"):
        build_catalogue([module("payroll")], disabled=["payrol"])


async def test_runtime_without_academics_keeps_hr(tmp_path):
    full = build_catalogue(all_modules())
    academics = {name for name, spec in full.tools.items() if spec.module in ("academics", "timetable")}
    hr = {name for name, spec in full.tools.items() if spec.module == "hr"}
    assert academics and hr and "solve_timetable" in academics
    # The timetable is built from academics data, and fees bill its students, so both leave with it; so does the
    # family toolset, which reads both.
    runtime = Runtime.create(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                                      disabled_modules=["academics", "timetable", "fees", "family"]))
    try:
        assert "academics" not in runtime.catalogue.modules and "timetable" not in runtime.catalogue.modules
        assert "fees" not in runtime.catalogue.modules and runtime.catalogue.get("record_payment") is None
        assert not academics & set(runtime.catalogue.tools)
        assert hr <= set(runtime.catalogue.tools)
        assert runtime.catalogue.get("record_grade") is None and runtime.catalogue.get("list_employees")
    finally:
        await runtime.close()


@pytest.mark.parametrize("disabled,expected", [
    (["hr"], "'academics' depends on disabled module(s) ['hr']"),
    (["academics"], "'timetable' depends on disabled module(s) ['academics']"),
    (["platform"], "'platform' is part of the platform core"),
    (["actions"], "'actions' is part of the platform core"),
    (["timetable-typo"], "cannot disable unknown module(s)"),
])
async def test_runtime_refuses_a_bad_module_configuration(tmp_path, disabled, expected):
    # The catalogue is built at its first use (a stdio server answers `initialize` before that) and by a
    # serving runtime's start: both refuse the configuration.
    runtime = Runtime.create(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
                                      disabled_modules=disabled))
    try:
        with pytest.raises(ModuleConfigError, match=re.escape(expected)):
            await runtime.start(serving=True)
        with pytest.raises(ModuleConfigError, match=re.escape(expected)):
            runtime.catalogue  # noqa: B018
    finally:
        await runtime.close()


# ---------------------------------------------------------------- registration rules


def test_a_tool_with_an_unbounded_string_is_refused():
    mod = Module("scratch", toolset="scratch")
    with pytest.raises(TypeError) as info:
        mod.tool(effect=Effect.WRITE, roles={Role.ADMIN})(unbounded)
    assert "without a maximum length" in str(info.value) and "note" in str(info.value)
    assert mod.tools == []


@pytest.mark.parametrize("fn,field_path", [(unbounded_nested, "items[].label"), (unbounded_optional, "note")])
def test_unbounded_strings_are_found_nested_and_optional(fn, field_path):
    with pytest.raises(TypeError) as info:
        Module("scratch", toolset="scratch").tool(effect=Effect.WRITE, roles={Role.ADMIN})(fn)
    assert field_path in str(info.value)


def test_bounded_strings_are_accepted():
    mod = Module("scratch", toolset="scratch")
    mod.tool(effect=Effect.WRITE, roles={Role.ADMIN})(bounded)
    assert [spec.name for spec in mod.tools] == ["bounded"]


def test_registration_needs_a_docstring_and_a_gate_only_on_destructive_tools():
    mod = Module("scratch", toolset="scratch")
    with pytest.raises(TypeError, match="needs a docstring"):
        mod.tool(effect=Effect.READ, roles={Role.ADMIN})(no_doc)
    with pytest.raises(TypeError, match=r"destructive tool wipe needs a gate level .* and a plan function \(plan="):
        mod.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, name="wipe")(echo)
    with pytest.raises(TypeError, match=r"destructive tool wipe needs a gate level .* and a plan function \(plan="):
        mod.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, name="wipe", gate=GateLevel.CONFIRM)(echo)
    with pytest.raises(TypeError, match=r"destructive tool wipe needs a gate level .* and a plan function"):
        mod.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, name="wipe", plan=_plan)(echo)
    with pytest.raises(TypeError, match="only destructive tools take a gate"):
        mod.tool(effect=Effect.WRITE, roles={Role.ADMIN}, name="save", gate=GateLevel.CONFIRM,
                 plan=_plan)(echo)
    assert mod.tools == []
    mod.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, name="wipe", gate=GateLevel.APPROVE,
             plan=_plan)(echo)
    spec = mod.tools[0]
    assert spec.gate is GateLevel.APPROVE and spec.annotations()["destructiveHint"] is True
    assert "queues it for another admin to approve" in spec.full_description()


# ---------------------------------------------------------------- the real catalogue's published shape

CATALOGUE: Catalogue = build_catalogue(all_modules())
SPECS = list(CATALOGUE.tools.values())


class StartIn(ToolInput):
    wait_s: int = 0


async def start_echo_job(ctx: ToolContext, args: StartIn) -> JobOut:
    """Start a job."""
    raise AssertionError("never called")


async def start_without_wait(ctx: ToolContext, args: EchoIn) -> JobOut:
    """Start a job without a wait_s."""
    raise AssertionError("never called")


def test_job_starting_and_self_audited_tools_are_write_tools():
    mod = Module("scratch", toolset="scratch")
    with pytest.raises(TypeError, match="must return JobOut and take wait_s"):
        mod.tool(effect=Effect.WRITE, roles={Role.ADMIN}, starts_job=True)(echo)
    with pytest.raises(TypeError, match="must return JobOut and take wait_s"):
        mod.tool(effect=Effect.WRITE, roles={Role.ADMIN}, starts_job=True)(start_without_wait)
    with pytest.raises(TypeError, match="are for write tools"):
        mod.tool(effect=Effect.READ, roles={Role.ADMIN}, starts_job=True)(start_echo_job)
    with pytest.raises(TypeError, match="are for write tools"):
        mod.tool(effect=Effect.READ, roles={Role.ADMIN}, audited_by_domain=True)(echo)
    assert mod.tools == []
    mod.tool(effect=Effect.WRITE, roles={Role.ADMIN}, starts_job=True)(start_echo_job)
    assert mod.tools[0].starts_job and not mod.tools[0].audited_by_domain


def test_the_gate_decisions_audit_themselves_and_the_job_tools_start_jobs():
    assert {s.name for s in SPECS if s.audited_by_domain} == {"confirm_action", "cancel_action", "approve_action",
                                                             "reject_action"}
    assert {s.name for s in SPECS if s.starts_job} == {"export_term_grades", "generate_report_cards",
                                                       "solve_timetable", "propose_timetable_change",
                                                       "calculate_payroll_run", "generate_payroll_documents",
                                                       "generate_invoices"}


def _ids(specs):
    return [spec.name for spec in specs]


def test_catalogue_is_not_empty_and_names_are_snake_case_verbs():
    assert len(SPECS) >= 40
    for spec in SPECS:
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)+|ping", spec.name), spec.name


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_tool_is_described_for_a_model(spec):
    assert spec.description.strip() and len(spec.description.split()) >= 3, spec.name
    assert spec.title
    published = spec.full_description()
    assert published.startswith(spec.description.strip())
    # The roles are not repeated in the description: a caller is only listed the tools its roles allow.
    assert "Roles: " not in published
    assert ("Gated: the call only previews it; confirm_action" in published) == (spec.effect is Effect.DESTRUCTIVE)
    assert spec.roles, f"{spec.name} allows no role at all"


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_schemas_are_objects(spec):
    assert spec.output_schema["type"] == "object"
    assert spec.output_schema.get("properties")
    inp = spec.input_schema
    assert inp["type"] == "object" and "properties" in inp
    assert inp.get("additionalProperties") is False, f"{spec.name} must refuse unknown arguments"
    anthropic = spec.anthropic_tool()
    assert anthropic["name"] == spec.name and anthropic["input_schema"] is not None
    openai = spec.openai_tool()
    assert openai["type"] == "function" and openai["function"]["name"] == spec.name
    assert openai["function"]["parameters"]["type"] == "object"


@pytest.mark.parametrize("spec", SPECS, ids=_ids(SPECS))
def test_annotations_match_the_effect(spec):
    hints = spec.annotations()
    assert hints["title"] == spec.title and hints["openWorldHint"] is False
    if spec.effect is Effect.READ:
        assert hints["readOnlyHint"] is True and hints["destructiveHint"] is False
        assert hints["idempotentHint"] is True
        assert spec.gate is None and spec.plan is None
    elif spec.effect is Effect.DESTRUCTIVE:
        assert hints["readOnlyHint"] is False and hints["destructiveHint"] is True
        assert spec.gate in (GateLevel.CONFIRM, GateLevel.APPROVE) and spec.plan is not None
        assert "the call only previews it" in spec.full_description()
        assert spec.output_schema["properties"]["pending"], "a destructive tool returns the pending action"
    else:
        assert hints["readOnlyHint"] is False
        assert spec.gate is None and spec.plan is None


def test_releasing_actions_is_marked_destructive_and_not_offered_to_agents():
    for name in ("confirm_action", "approve_action"):
        spec = CATALOGUE.tools[name]
        assert spec.annotations()["destructiveHint"] is True
        assert spec.offered_to_agents is False
    assert CATALOGUE.tools["approve_action"].roles == frozenset({Role.ADMIN})
    assert CATALOGUE.tools["reject_action"].roles == frozenset({Role.ADMIN})
    assert CATALOGUE.tools["change_locked_grade"].gate is GateLevel.APPROVE
    assert CATALOGUE.tools["change_grade"].gate is GateLevel.CONFIRM


LIST_SPECS = [spec for spec in SPECS if spec.name.startswith("list_")]
# list_* tools without a cursor, each bounded by a required scope instead. DESIGN.md says list tools paginate, so
# this holds only list_toolsets (the fixed declaration of tools/toolsets.py, two dozen rows, named by issue 16): a
# bounded per-scope read is a get_* tool (get_term_grades, get_gradebook).
UNPAGINATED: dict[str, set[str]] = {"list_toolsets": set()}


def test_there_are_list_tools():
    assert len(LIST_SPECS) >= 10


@pytest.mark.parametrize("spec", LIST_SPECS, ids=_ids(LIST_SPECS))
def test_list_tools_paginate(spec):
    props = spec.input_schema["properties"]
    if spec.name in UNPAGINATED:
        assert "cursor" not in props, f"{spec.name} paginates now: remove it from UNPAGINATED"
        assert UNPAGINATED[spec.name] <= set(spec.input_schema.get("required", []))
        return
    assert "limit" in props, spec.name
    assert props["limit"]["default"] <= 50, spec.name
    assert props["limit"]["minimum"] == 1 and props["limit"]["maximum"] <= MAX_PAGE_SIZE
    assert "cursor" not in spec.input_schema.get("required", []) and "limit" not in spec.input_schema.get(
        "required", [])
    out = spec.output_schema["properties"]
    assert "next_cursor" in out and "items" in out, f"{spec.name} must return a page"


# ---------------------------------------------------------------- the gate policy, reviewed as a whole


def test_every_write_tool_has_a_declared_gate_policy():
    problems = policy_problems(SPECS)
    assert not problems, "\n".join(problems)


def test_every_gated_entry_is_a_destructive_tool_at_that_level():
    for name, policy in GATE_POLICY.items():
        spec = CATALOGUE.tools[name]
        level = declared_level(policy)
        assert (level is None) == (spec.effect is Effect.WRITE), (name, policy)
        assert level is None or spec.gate is GateLevel(level), (name, policy, spec.gate)


def test_a_new_write_tool_without_a_policy_is_caught():
    mod = Module("scratch", toolset="scratch")
    mod.tool(effect=Effect.WRITE, roles={Role.ADMIN}, name="wipe_everything")(echo)
    mod.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, name="erase_history", gate=GateLevel.APPROVE,
             plan=_plan)(echo)
    mod.tool(effect=Effect.READ, roles={Role.ADMIN}, name="read_things")(echo)
    specs = list(build_catalogue([mod]).tools.values())
    problems = policy_problems(specs, {})
    assert len(problems) == 2, problems
    assert any("wipe_everything (write) has no gate policy" in p for p in problems)
    assert any("erase_history (destructive) has no gate policy" in p for p in problems)
    assert not any("read_things" in p for p in problems)


@pytest.mark.parametrize("policy,words", [
    ({"wipe_everything": "ungated: nothing depends on it", "erase_history": "gated: approve",
      "gone_tool": "ungated: x"}, "lists gone_tool, which is no write or destructive tool"),
    ({"wipe_everything": "gated: confirm", "erase_history": "gated: approve"}, "wipe_everything is a write tool "
                                                                             "but its policy says gated"),
    ({"wipe_everything": "ungated: fine", "erase_history": "ungated: fine"}, "erase_history is destructive"),
    ({"wipe_everything": "ungated: fine", "erase_history": "gated: confirm"}, "gated at approve but its policy "
                                                                            "says confirm"),
    ({"wipe_everything": "ungated:   ", "erase_history": "gated: approve"}, "not 'ungated:   '"),
    ({"wipe_everything": "ungated: fine", "erase_history": "gated: maybe"}, "'gated: confirm|approve"),
])
def test_a_policy_that_disagrees_with_the_declarations_is_caught(policy, words):
    mod = Module("scratch", toolset="scratch")
    mod.tool(effect=Effect.WRITE, roles={Role.ADMIN}, name="wipe_everything")(echo)
    mod.tool(effect=Effect.DESTRUCTIVE, roles={Role.ADMIN}, name="erase_history", gate=GateLevel.APPROVE,
             plan=_plan)(echo)
    problems = policy_problems(build_catalogue([mod]).tools.values(), policy)
    assert len(problems) == 1 and words in problems[0], problems


def test_the_grading_policy_gates_of_issue_15():
    """Changing a scale a class uses, the default scale, or a class's weights is gated; creating a scale is not
    (is_default is refused once anything relies on the default)."""
    for name in ("set_grading_categories", "set_class_grading_scale", "set_default_grading_scale"):
        spec = CATALOGUE.tools[name]
        assert spec.effect is Effect.DESTRUCTIVE and spec.gate is GateLevel.CONFIRM and spec.plan is not None
        assert "approve" in GATE_POLICY[name], name  # a plan raises it when results depend on the policy
    assert CATALOGUE.tools["create_grading_scale"].effect is Effect.WRITE
