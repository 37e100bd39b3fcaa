"""The data-access policy (README "Data-access policy"): every output field has a class, CLEARANCE says which roles
see each class, and tools.invoke nulls what is above the caller's clearance. Proven over the whole registry (every
tool, every role that may call it, a full sample of its output), then by examples through tools.invoke."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from domain.actions.schemas import PendingActionOut
from domain.kernel.actor import SYSTEM_ACTOR, Role
from domain.kernel.errors import PermissionDenied
from domain.kernel.schemas import CLEARANCE, DataClass, cleared, field_class, nested_models, redact
from tests.factories import make_user, unique
from tests.fees_helpers import CURRENCY, make_fee_school
from tools.invoke import invoke
from tools.modules import all_modules
from tools.registry import Effect, ToolSpec, build_catalogue

CATALOGUE = build_catalogue(all_modules())
TOOLS = list(CATALOGUE.tools.values())


def output_model(spec: ToolSpec) -> type[BaseModel]:
    """What the caller gets back: a destructive tool answers with its pending action."""
    return PendingActionOut if spec.effect is Effect.DESTRUCTIVE else spec.output_model


# ---------------------------------------------------------------- a full sample of any output model


def sample(annotation: Any, depth: int = 0) -> Any:
    """A value of `annotation` with every optional part filled (never None where anything else is allowed)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any or annotation is object:
        return {"anything": "x"}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return sample_model(annotation, depth + 1)
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return sample(next((a for a in args if a is not type(None)), type(None)), depth)
    if origin is typing.Annotated:
        return sample(args[0], depth)
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        return [sample(args[0] if args else str, depth)]
    if origin is dict or annotation is dict:
        return {"k": sample(args[1] if args else str, depth)}
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    simple = {bool: True, int: 7, float: 1.5, Decimal: Decimal("1.5"), str: "x", date: date(2026, 1, 1),
              datetime: datetime(2026, 1, 1, 12, 0), type(None): None}
    return simple[annotation] if annotation in simple else "x"


def sample_model(model: type[BaseModel], depth: int = 0) -> BaseModel:
    values = {name: sample(field.annotation, depth) if depth < 6 else None
              for name, field in model.model_fields.items()}
    return model.model_construct(**values)


@dataclass
class Leak:
    path: str
    data_class: DataClass


def leaks(value: Any, classes: frozenset[DataClass], path: str = "") -> list[Leak]:
    """Every field present (not null) in `value`, however deep, whose class is not in `classes`."""
    found = []
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            current = getattr(value, name)
            data_class = field_class(type(value), name)
            if current is not None and data_class not in classes:
                found.append(Leak(f"{path}.{name}", data_class))
            found += leaks(current, classes, f"{path}.{name}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found += leaks(item, classes, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += leaks(item, classes, f"{path}.{key}")
    return found


def classified_fields(model: type[BaseModel], seen: set | None = None) -> list[tuple[type[BaseModel], str, DataClass]]:
    """Every (model, field, class) reachable from `model` whose class is not INTERNAL."""
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    found = []
    for name, field in model.model_fields.items():
        if field_class(model, name) is not DataClass.INTERNAL:
            found.append((model, name, field_class(model, name)))
        for inner in nested_models(field.annotation):
            found += classified_fields(inner, seen)
    return found


# ---------------------------------------------------------------- the policy itself


def test_every_class_has_a_clearance_and_admins_see_everything():
    assert set(CLEARANCE) == set(DataClass)
    assert CLEARANCE[DataClass.INTERNAL] == frozenset(Role)
    assert all(Role.ADMIN in roles for roles in CLEARANCE.values())
    assert cleared({Role.FINANCE}) == {DataClass.INTERNAL, DataClass.CONTACT}
    assert cleared({Role.REGISTRAR}) == {DataClass.INTERNAL, DataClass.CONTACT, DataClass.PERSONAL}
    assert cleared({Role.PAYROLL}) == cleared({Role.HR}) == {DataClass.INTERNAL, DataClass.SENSITIVE}
    assert cleared({Role.TEACHER}) == cleared({Role.VIEWER}) == {DataClass.INTERNAL}
    assert cleared({Role.FINANCE, Role.HR}) == {DataClass.INTERNAL, DataClass.CONTACT, DataClass.SENSITIVE}
    assert cleared(set()) == set()


# ---------------------------------------------------------------- every tool, every role


@pytest.mark.parametrize("spec", TOOLS, ids=[t.name for t in TOOLS])
def test_no_tool_answers_a_role_with_a_field_above_its_clearance(spec):
    full = sample_model(output_model(spec))
    for role in sorted(spec.roles):
        shown = redact(full, {role})
        assert leaks(shown, cleared({role})) == [], (spec.name, role)
        # what the edges send: the JSON of the redacted answer, valid against the published output schema's types
        type(shown).model_validate(shown.model_dump(mode="json"))
    withheld = {(m.__name__, n) for m, n, c in classified_fields(output_model(spec))
                if not all(CLEARANCE[c] & {r} for r in spec.roles)}
    if withheld:  # the sample had them filled: redaction took them away from someone, and only from them
        assert leaks(full, cleared(set())), spec.name
        assert leaks(redact(full, {Role.ADMIN}), cleared({Role.ADMIN})) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=st.sampled_from(TOOLS), roles=st.sets(st.sampled_from(list(Role)), min_size=1))
def test_any_mix_of_roles_sees_no_more_than_its_roles_allow(spec, roles):
    shown = redact(sample_model(output_model(spec)), roles)
    assert leaks(shown, cleared(roles)) == []


def test_every_classified_field_may_be_null():
    """A caller without the clearance gets null: the field's type (and so the output schema) must allow it."""
    bad = []
    for spec in TOOLS:
        for model, name, _ in classified_fields(output_model(spec)):
            try:
                TypeAdapter(model.model_fields[name].annotation).validate_python(None)
            except ValidationError:
                bad.append(f"{model.__name__}.{name}")
    assert bad == []


PERSONAL_LOOKING = ("phone", "email", "birth", "address", "guardian", "salary", "base_minor", "ytd")
INTERNAL_ON_PURPOSE = {
    ("EmployeeRead", "work_email"),  # the school's own address for a member of staff
    ("StructureOut", "salary_structure_id"),  # ids, not amounts
    ("ContractOut", "salary_structure_id"),
    ("ContractOut", "salary_structure_code"),  # the structure's code (AU_STAFF), not an amount
}


def test_a_field_that_looks_personal_is_classified():
    """Unmarked fields are INTERNAL: a new phone, email, address, date of birth or salary must say its class."""
    unmarked = set()
    for spec in TOOLS:
        for model in [output_model(spec), *_all_nested(output_model(spec))]:
            for name in model.model_fields:
                if any(word in name for word in PERSONAL_LOOKING) and field_class(model, name) is DataClass.INTERNAL:
                    unmarked.add((model.__name__, name))
    assert unmarked == INTERNAL_ON_PURPOSE


def _all_nested(model: type[BaseModel], seen: set | None = None) -> list[type[BaseModel]]:
    seen = set() if seen is None else seen
    for field in model.model_fields.values():
        for inner in nested_models(field.annotation):
            if inner not in seen:
                seen.add(inner)
                _all_nested(inner, seen)
    return list(seen)


def test_a_gated_tool_returns_nothing_its_roles_may_not_see():
    """A released action's result (ActionOut.result, stored as JSON) is the tool's whole answer: no gated tool's
    answer may hold a field above the clearance of any role that may call it."""
    bad = [(spec.name, model.__name__, name, role.value)
           for spec in TOOLS if spec.effect is Effect.DESTRUCTIVE
           for model, name, data_class in classified_fields(spec.output_model)
           for role in spec.roles if role not in CLEARANCE[data_class]]
    assert bad == []


def test_the_student_lists_carry_no_personal_data_at_all():
    for name in ("list_students", "search_students", "list_enrollments", "get_gradebook", "get_term_grades",
                 "get_attendance_register"):
        assert classified_fields(CATALOGUE.tools[name].output_model) == [], name


def test_redaction_keeps_an_answer_with_nothing_to_withhold_as_it_is():
    full = sample_model(CATALOGUE.tools["get_student"].output_model)
    assert redact(full, {Role.REGISTRAR}) is full
    shown = redact(full, {Role.TEACHER})
    assert shown.guardians is None and shown.date_of_birth is None and full.guardians is not None
    assert shown.code == full.code and shown.first_name == full.first_name


# ---------------------------------------------------------------- examples through tools.invoke


async def test_a_bursar_sees_billing_contacts_but_no_guardian_while_admins_and_registrars_do(rt):
    world = await make_fee_school(rt)
    job = await invoke(rt, "generate_invoices", {"schedule_id": world.schedule_id, "issue_date": "2026-01-20",
                                                 "wait_s": 30}, world.bursar)
    assert job.status == "succeeded", job
    args = {"as_of": "2026-03-20", "currency": CURRENCY, "limit": 100}
    async with rt.db.write() as s:
        registrar = await make_user(s, roles="registrar")
        teacher = await make_user(s, roles="teacher")  # linked to no employee: teaches no one
        viewer = await make_user(s, roles="viewer")
    ours = set(world.families.values())

    as_bursar = [f for f in (await invoke(rt, "get_fee_reminders", args, world.bursar)).families
                 if f.family_id in ours]
    assert len(as_bursar) == 3
    for family in as_bursar:
        assert family.guardians is None
        assert family.billing_contact is not None and family.billing_contact.email.endswith("@example.org")
    as_json = (await invoke(rt, "get_fee_reminders", args, world.bursar)).model_dump_json()
    assert "+61 400" not in as_json and "'s parent" not in as_json

    as_admin = [f for f in (await invoke(rt, "get_fee_reminders", args, world.admin)).families
                if f.family_id in ours]
    assert all(f.guardians and all(g.phone == "+61 400 000 000" for g in f.guardians) for f in as_admin)

    for first in ("Ana", "Dee", "Eli"):
        families = await invoke(rt, "list_families", {"student_id": world.students[first]}, world.bursar)
        assert [f.family_id for f in families.items] == [f.family_id for f in families.items if f.family_id in ours]
        assert all(f.billing_email and f.billing_name for f in families.items) and families.items
        assert "+61 400" not in families.model_dump_json() and "@example.org" in families.model_dump_json()

    ana = world.students["Ana"]
    for actor in (registrar, world.admin):
        student = await invoke(rt, "get_student", {"student_id": ana}, actor)
        assert student.date_of_birth == date(2012, 5, 1) and student.guardians[0].phone == "+61 400 000 000"
    hidden = await invoke(rt, "get_student", {"student_id": ana}, viewer)
    assert hidden.date_of_birth is None and hidden.guardians is None
    assert (hidden.code, hidden.first_name) == (student.code, student.first_name)
    with pytest.raises(PermissionDenied, match="is not one of your students"):  # tests/tools/test_roster_scope.py
        await invoke(rt, "get_student", {"student_id": ana}, teacher)


async def test_a_write_answers_with_what_the_caller_may_see_and_audits_it_whole(rt):
    """create_family as a bursar: the billing address is stored (and audited) but not shown back to them."""
    async with rt.db.write() as s:
        bursar = await make_user(s, roles="finance")
    name = unique("Privacy family ")
    out = await invoke(rt, "create_family", {"name": name, "billing_name": "Pat Parent",
                                             "billing_email": "pat@example.org",
                                             "billing_address": "1 School Road"}, bursar)
    assert out.billing_email == "pat@example.org" and out.billing_address is None
    newest = (await invoke(rt, "list_audit_events", {"tool": "create_family", "limit": 1, "verify": False},
                           SYSTEM_ACTOR)).items[0]
    event = (await invoke(rt, "list_audit_events", {"event_id": newest.event_id, "verify": False},
                          SYSTEM_ACTOR)).items[0]
    assert event.after["name"] == name and event.after["billing_address"] == "1 School Road"
