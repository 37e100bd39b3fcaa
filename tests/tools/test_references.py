"""References by id or code, generated from the registry (tools.references).

Every `*_id` / `*_ids` field of every tool's input (nested lines too) must be a Ref. For every reference field
of every tool, on the demo school (plus records made to be ambiguous): an id passes unchanged, the record's code
(in any case) resolves to its id, an unknown code is NotFound naming the field and the closest matches, and a
text naming two records is InvalidInput listing both (for the kinds that can be ambiguous). Id-only kinds refuse
a string naming the field. Then the mistake of issue 16 end to end: list_classes by a teacher's code answers for
that teacher, and a code that names nobody is an error, never another teacher's classes.
"""

from __future__ import annotations

import typing
from datetime import date
from typing import Any

import pytest
from pydantic import BaseModel

from domain.academics import service as academics
from domain.finance import service as finance
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.errors import InvalidInput, NotFound
from domain.kernel.settings import Settings
from domain.kernel.text import fold
from tests.conftest import demo_school_url
from tools.invoke import invoke, parse_arguments
from tools.modules import all_modules
from tools.references import EXAMPLES, ID_ONLY_KINDS, OWNERS, Ref, owner, references_in, resolve_references
from tools.registry import build_catalogue
from tools.runtime import Runtime

CATALOGUE = build_catalogue(all_modules())
REFS = [(spec.name, path, ref) for spec in CATALOGUE.tools.values() for path, ref in references_in(spec.input_model)]
CODED = [item for item in REFS if item[2].codes]
ID_ONLY = [item for item in REFS if not item[2].codes]
TWIN = "Sam Twin"
AMBIGUOUS = {"employee": TWIN, "student": TWIN, "department": "Twin department", "subject": "Twin subject",
             "year_level": "Twin level", "academic_year": "Twin year", "term": "Twin term", "section": "9Z",
             "class": "9Z Twin subject", "account": "Twin account", "family": "Twin family",
             "grading_scale": "Twin scale", "salary_structure": "Twin structure", "fee_item": "Twin fee",
             "discount": "Twin discount", "fee_schedule": "Twin schedule", "journal_entry": "Twin entry",
             "assessment": "Unit test 1"}
"""A text naming two records of the kind in the test school (made by `_twins`)."""
NEVER_AMBIGUOUS = {"invoice": "numbers are unique and an invoice has no name",
                   "payslip": "numbers are unique and a payslip has no name",
                   "payroll_run": "one live run per period of a calendar; a closed run is named only when no live one "
                                  "is (two calendars' runs of one period are told apart by id)",
                   "pay_calendar": "codes are unique and a calendar is named by its code only"}


def _walk_fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        out.append(prefix + name)
        stack = [info.annotation]
        while stack:
            ann = stack.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out += _walk_fields(ann, f"{prefix}{name}[].")
            stack += typing.get_args(ann)
    return out


def test_every_id_field_is_a_reference() -> None:
    missing = []
    for spec in CATALOGUE.tools.values():
        refs = {path.replace("[]", "") for path, _ in references_in(spec.input_model)}
        for path in _walk_fields(spec.input_model):
            if path.endswith(("_id", "_ids")) and path.replace("[]", "") not in refs:
                missing.append(f"{spec.name}.{path}")
    assert not missing, f"declare these with a Ref type of tools/references.py: {missing}"
    assert len(CODED) > 100 and ID_ONLY


def test_every_kind_has_one_owner_and_is_classified() -> None:
    owned = [kind for kinds in OWNERS.values() for kind in kinds]
    assert sorted(owned) == sorted(EXAMPLES) and len(set(owned)) == len(owned)
    for module, kinds in OWNERS.items():
        assert set(__import__(module, fromlist=["x"]).REFERENCE_KINDS) == set(kinds), module
    used = {ref.kind for _, _, ref in REFS}
    assert used <= set(EXAMPLES) | set(ID_ONLY_KINDS)
    assert {ref.kind for _, _, ref in ID_ONLY} <= set(ID_ONLY_KINDS)
    assert set(AMBIGUOUS) | set(NEVER_AMBIGUOUS) == set(EXAMPLES) and not set(AMBIGUOUS) & set(NEVER_AMBIGUOUS)


def test_the_schema_offers_an_id_or_a_code() -> None:
    schema = CATALOGUE.tools["record_grade"].input_schema["properties"]["student_id"]
    assert schema["type"] == ["integer", "string"] and "S2026-0117" in schema["description"]
    assert CATALOGUE.tools["get_job"].input_schema["properties"]["job_id"]["type"] == "integer"


def test_pick_refuses_two_of_a_name() -> None:
    from domain.kernel.references import Candidate, pick

    cands = [Candidate(1, "A1", "Zoë Smith"), Candidate(2, "A2", "Zoe Smith"), Candidate(3, "A3", "Zoe Smythe")]
    with pytest.raises(InvalidInput) as exc:
        pick(cands, "zoe smith", field="x_id", kind="thing", expected="a thing id")
    assert exc.value.field == "x_id" and [m["id"] for m in exc.value.details["matches"]] == [1, 2]
    assert pick(cands, "a3", field="x_id", kind="thing", expected="a thing id") == 3
    assert pick(cands, "ZOE SMYTHE", field="x_id", kind="thing", expected="a thing id") == 3
    with pytest.raises(NotFound) as missing:
        pick(cands, "Zoe Smit", field="x_id", kind="thing", expected="a thing id")
    assert "A1 Zoë Smith (id 1)" in missing.value.message and "expected a thing id" in missing.value.message


# ---------------------------------------------------------------- on the demo school


async def _twins(runtime: Runtime) -> None:
    """Records two of which share what a person would call them (see AMBIGUOUS); the years are not current."""
    actor = SYSTEM_ACTOR
    async with runtime.db.write() as s:
        deps = [await hr.create_department(s, actor, code=f"TWIN{i}", name="Twin department") for i in (1, 2)]
        for i in (1, 2):
            await hr.create_employee(s, actor, first_name="Sam", last_name="Twin", work_email=f"sam.twin{i}@x.org",
                                     position="Teacher", department_id=deps[0].id, hire_date=date(2020, 1, 6),
                                     employment_type=EmploymentType.FULL_TIME)
        subject = await academics.create_subject(s, actor, code="TWN", name="Twin subject")
        await academics.create_subject(s, actor, code="TWN2", name="Twin subject")
        levels = [await academics.create_year_level(s, actor, code=f"TL{i}", name="Twin level", ordinal=20 + i)
                  for i in (1, 2)]
        teacher = (await hr.list_employees(s, after_id=0, limit=1))[0]
        for i in (1, 2):
            year = await academics.create_academic_year(s, actor, code=f"TWIN-{i}", name="Twin year",
                                                        start_date=date(2040 + i, 9, 1), end_date=date(2041 + i, 6, 30))
            await academics.create_term(s, actor, academic_year_id=year.id, number=1, name="Twin term",
                                        start_date=date(2040 + i, 9, 1), end_date=date(2040 + i, 12, 18))
            section = await academics.create_section(s, actor, code="9Z", name="Twin section",
                                                     year_level_id=levels[0].id, academic_year_id=year.id,
                                                     homeroom_teacher_id=None)
            await academics.create_class(s, actor, section_id=section.id, subject_id=subject.id,
                                         teacher_id=teacher.id)
            await academics.create_student(s, actor, first_name="Sam", last_name="Twin", date_of_birth=date(2014, 1, 1),
                                           year_level_id=levels[0].id, section_id=None, guardians=[])
            await finance.create_account(s, actor, code=f"9{i}99", name="Twin account", type="asset", currency="AUD")
        from domain.fees import service as fees

        for _ in (1, 2):
            await fees.create_family(s, actor, name="Twin family")
    bands = [{"min_percentage": 50, "letter": "P", "gpa_points": 1, "passing": True, "earns_credit": True},
             {"min_percentage": 0, "letter": "F", "gpa_points": 0, "passing": False, "earns_credit": False}]
    basic = {"code": "BASIC", "name": "Basic", "kind": "earning", "method": "percentage", "percent": 100, "of": "base",
             "prorate": True, "taxable": True, "pre_tax": False}
    income = (await invoke(runtime, "list_fee_items", {"limit": 1}, actor)).items[0].income_account_id
    for i in (1, 2):  # references may be given as codes here already
        await invoke(runtime, "create_grading_scale", {"code": f"PF{i}", "name": "Twin scale", "rounding": "half_up",
                                                       "decimals": 0, "is_default": False, "bands": bands}, actor)
        await invoke(runtime, "create_salary_structure", {"code": f"TWS{i}", "name": "Twin structure",
                                                          "currency": "AUD", "components": [basic]}, actor)
        await invoke(runtime, "create_fee_item", {"code": f"TWF{i}", "name": "Twin fee",
                                                  "income_account_id": income}, actor)
        await invoke(runtime, "create_discount", {"code": f"TWD{i}", "name": "Twin discount", "kind": "other",
                                                  "percent": 5, "currency": "AUD"}, actor)
        await invoke(runtime, "create_fee_schedule", {"code": f"TWFS{i}", "name": "Twin schedule", "term_id": "Term 1",
                                                      "currency": "AUD", "due_date": "2026-12-15",
                                                      "lines": [{"fee_item_id": "TUITION", "amount_minor": 1000}]}, actor)
        async with runtime.db.write() as s:
            accounts = [await finance.resolve_reference(s, "account", code, field="account") for code in ("1010", "1200")]
            await finance.post_entry(s, actor, date=date(2026, 11, 2), memo="Twin entry", source="manual",
                                     idempotency_key=f"twin-{i}", currency="AUD",
                                     lines=[{"account_id": accounts[0], "debit": 100, "credit": 0},
                                            {"account_id": accounts[1], "debit": 0, "credit": 100}])


@pytest.fixture(scope="module")
async def school(tmp_path_factory):
    """A runtime on a copy of the demo school (tests.conftest.demo_school_url, built once per test process) plus
    `_twins`."""
    async with demo_school_url(tmp_path_factory.mktemp("refs")) as url:
        runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
        try:
            await _twins(runtime)
            samples: dict[str, Any] = {}
            async with runtime.db.read() as s:
                for kind in EXAMPLES:
                    cands = await owner(kind).reference_candidates(s, kind)
                    codes = [fold(c.code) for c in cands]
                    unique = [c for c in cands if c.current and codes.count(fold(c.code)) == 1]
                    assert unique, f"the test school has no {kind} with a unique code"
                    samples[kind] = unique[len(unique) // 2]
            yield runtime, samples
        finally:
            await runtime.close()


def _instance(model: type[BaseModel], path: str, value: Any) -> tuple[BaseModel, str]:
    """`model` built without validation holding `value` at `path` (`lines[].account_id`); other references None.
    Returns it and the field name an error should carry (`lines[0].account_id`)."""
    head, _, rest = path.partition(".")
    name = head.removesuffix("[]")
    fields = {n: None for n in model.model_fields}
    if rest:
        info = model.model_fields[name]
        nested = next(a for a in _flatten(info.annotation) if isinstance(a, type) and issubclass(a, BaseModel))
        child, where = _instance(nested, rest, value)
        fields[name] = [child] if head.endswith("[]") else child
        return model.model_construct(**fields), f"{name}[0].{where}" if head.endswith("[]") else f"{name}.{where}"
    if head.endswith("[]"):
        fields[name] = [value]
        return model.model_construct(**fields), f"{name}[0]"
    fields[name] = value
    return model.model_construct(**fields), name


def _flatten(annotation: Any) -> list[Any]:
    out, stack = [], [annotation]
    while stack:
        ann = stack.pop()
        out.append(ann)
        stack += typing.get_args(ann)
    return out


def _value(args: BaseModel, path: str) -> Any:
    head, _, rest = path.partition(".")
    value = getattr(args, head.removesuffix("[]"))
    if head.endswith("[]"):
        value = value[0]
    return _value(value, rest) if rest else value


@pytest.mark.parametrize(("tool", "path", "ref"), CODED, ids=[f"{t}-{p}" for t, p, _ in CODED])
async def test_a_reference_takes_an_id_or_a_code(school, tool: str, path: str, ref: Ref) -> None:
    runtime, samples = school
    sample = samples[ref.kind]
    model = CATALOGUE.tools[tool].input_model
    by_id, _ = _instance(model, path, sample.id)
    assert _value(await resolve_references(runtime.db.read, by_id), path) == sample.id
    by_code, _ = _instance(model, path, sample.code.lower())
    assert _value(await resolve_references(runtime.db.read, by_code), path) == sample.id
    unknown, where = _instance(model, path, sample.code + "QX")
    with pytest.raises(NotFound) as missing:
        await resolve_references(runtime.db.read, unknown)
    assert missing.value.field == where
    assert "expected" in missing.value.message and sample.code in missing.value.message
    assert sample.id in [c["id"] for c in missing.value.details["closest"]]
    if ref.kind in AMBIGUOUS:
        twins, where = _instance(model, path, AMBIGUOUS[ref.kind].upper())
        with pytest.raises(InvalidInput) as two:
            await resolve_references(runtime.db.read, twins)
        assert two.value.field == where and len(two.value.details["matches"]) >= 2
        assert "pass the id or the code" in two.value.message


@pytest.mark.parametrize(("tool", "path", "ref"), ID_ONLY, ids=[f"{t}-{p}" for t, p, _ in ID_ONLY])
def test_an_id_only_reference_refuses_a_code(tool: str, path: str, ref: Ref) -> None:
    spec = CATALOGUE.tools[tool]
    assert "." not in path
    field = path.removesuffix("[]")  # a list of ids (process_sales_orders' order_ids): a code in it is refused too
    with pytest.raises(InvalidInput) as exc:
        parse_arguments(spec, {field: ["X0042"] if path.endswith("[]") else "X0042"})
    assert field in exc.value.message and "valid integer" in exc.value.message


async def test_list_classes_by_a_teachers_code_answers_for_that_teacher(school) -> None:
    runtime, _ = school
    teacher = (await invoke(runtime, "list_classes", {"limit": 1}, SYSTEM_ACTOR)).items[0]
    async with runtime.db.read() as s:
        employee = await hr.get_employee(s, teacher.teacher_id)
    by_code = await invoke(runtime, "list_classes", {"teacher_id": employee.code, "limit": 100}, SYSTEM_ACTOR)
    by_id = await invoke(runtime, "list_classes", {"teacher_id": teacher.teacher_id, "limit": 100}, SYSTEM_ACTOR)
    assert by_code.items and [c.id for c in by_code.items] == [c.id for c in by_id.items]
    assert {c.teacher_id for c in by_code.items} == {teacher.teacher_id}
    with pytest.raises(NotFound) as exc:
        await invoke(runtime, "list_classes", {"teacher_id": "E9999"}, SYSTEM_ACTOR)
    assert exc.value.field == "teacher_id" and "E0042" in exc.value.message
async def test_a_name_with_or_without_accents_names_the_student(school) -> None:
    runtime, _ = school
    found = await invoke(runtime, "search_students", {"query": "Pablo Hernandez"}, SYSTEM_ACTOR)
    pablo = found.items[0]
    assert fold(f"{pablo.first_name} {pablo.last_name}") == "pablo hernandez"
    for text in ("Pablo Hernández", "pablo hernandez", "HERNANDEZ PABLO", pablo.code):
        out = await invoke(runtime, "get_student", {"student_id": text}, SYSTEM_ACTOR)
        assert out.id == pablo.id, text
    with pytest.raises(NotFound) as exc:
        await invoke(runtime, "get_student", {"student_id": "Pablo Hernandes"}, SYSTEM_ACTOR)
    assert pablo.code in exc.value.message and exc.value.field == "student_id"


async def test_search_ignores_case_and_accents_and_ranks_near_matches_first(school) -> None:
    runtime, _ = school
    async with runtime.db.write() as s:
        dep = (await hr.list_departments(s, after_id=0, limit=1))[0][0]
        for first, last in (("Zoë", "Ångström"), ("Zoe", "Angstromberg"), ("Chloë", "Mazoellner")):
            await hr.create_employee(s, SYSTEM_ACTOR, first_name=first, last_name=last,
                                     work_email=f"{fold(first)}.{fold(last)}@x.org", position="Teacher",
                                     department_id=dep.id, hire_date=date(2021, 1, 4),
                                     employment_type=EmploymentType.FULL_TIME)
    names = [f"{e.first_name} {e.last_name}" for e in
             (await invoke(runtime, "search_employees", {"query": "zoe angstrom"}, SYSTEM_ACTOR)).items]
    assert names[:2] == ["Zoë Ångström", "Zoe Angstromberg"]
    ranked = [e.last_name for e in (await invoke(runtime, "search_employees", {"query": "ZOE"}, SYSTEM_ACTOR)).items]
    assert ranked.index("Ångström") < ranked.index("Mazoellner")  # the name starting with it before containing it
    by_word = [e.first_name for e in (await invoke(runtime, "search_employees", {"query": "angstrom"},
                                                   SYSTEM_ACTOR)).items]
    assert by_word[:2] == ["Zoë", "Zoe"]  # a word starting with it: "angstrom" before "angstromberg" (by name)
    students = await invoke(runtime, "search_students", {"query": "hernandez", "limit": 2}, SYSTEM_ACTOR)
    assert len(students.items) == 2 and students.next_cursor
    assert all("hernandez" in fold(s.last_name) for s in students.items)
    rest = await invoke(runtime, "search_students", {"query": "hernandez", "cursor": students.next_cursor,
                                                     "limit": 100}, SYSTEM_ACTOR)
    seen = [s.id for s in students.items] + [s.id for s in rest.items]
    assert len(seen) == len(set(seen)) and rest.next_cursor is None
    exact = await invoke(runtime, "search_students", {"query": f"{students.items[0].code}"}, SYSTEM_ACTOR)
    assert exact.items[0].id == students.items[0].id
    families = await invoke(runtime, "list_families", {"query": "TWIN FAMILY"}, SYSTEM_ACTOR)
    assert [f.name for f in families.items] == ["Twin family", "Twin family"]
    assert (await invoke(runtime, "search_students", {"query": "100%_"}, SYSTEM_ACTOR)).items == []


async def test_outputs_show_the_code_beside_the_id(school) -> None:
    runtime, _ = school
    classes = (await invoke(runtime, "list_classes", {"section_id": "7A", "limit": 3}, SYSTEM_ACTOR)).items
    async with runtime.db.read() as s:
        for cls in classes:
            assert cls.teacher_code == (await hr.get_employee(s, cls.teacher_id)).code
    one = await invoke(runtime, "get_class", {"class_id": classes[0].code}, SYSTEM_ACTOR)
    assert (one.id, one.teacher_code) == (classes[0].id, classes[0].teacher_code)
    spoken = await invoke(runtime, "get_class", {"class_id": f"7a {classes[0].subject_name}"}, SYSTEM_ACTOR)
    assert spoken.id == classes[0].id  # "7A Mathematics" is 7A-MATH
    section = await invoke(runtime, "get_section", {"section_id": "7A"}, SYSTEM_ACTOR)
    assert section.code == "7A" and section.homeroom_teacher_code and section.homeroom_teacher_code.startswith("E")
    student = (await invoke(runtime, "list_students", {"section_id": section.id, "limit": 1}, SYSTEM_ACTOR)).items[0]
    assert (student.section_code, student.year_level_code) == ("7A", "Y7")
    detail = await invoke(runtime, "get_student", {"student_id": student.code}, SYSTEM_ACTOR)
    assert (detail.section_code, detail.year_level_code) == ("7A", "Y7")


async def test_a_teachers_schedule_takes_the_employee_id_or_code_and_never_answers_for_another(school) -> None:
    from types import SimpleNamespace

    from tools.registry import ToolContext
    from tools.timetable import _teacher

    runtime, _ = school
    async with runtime.db.read() as s:
        first, second = (await hr.list_employees(s, after_id=0, limit=2))[:2]
        problem = SimpleNamespace(courses=[SimpleNamespace(teacher=first.code), SimpleNamespace(teacher="t000")])
        ctx = ToolContext(s, SYSTEM_ACTOR, runtime)
        assert await _teacher(ctx, problem, first.id) == first.code
        assert await _teacher(ctx, problem, first.code.lower()) == first.code
        assert await _teacher(ctx, problem, "t000") == "t000"
        with pytest.raises(NotFound) as other:
            await _teacher(ctx, problem, second.id)  # a teacher without lessons: an error, not someone else's
        assert other.value.field == "teacher" and second.code in other.value.message
        assert first.code in other.value.message  # the closest teacher of the timetable is named
        with pytest.raises(NotFound):
            await _teacher(ctx, problem, 2_000_000_000)


async def test_employees_and_payslips_show_the_codes_beside_the_ids(school) -> None:
    runtime, _ = school
    employee = (await invoke(runtime, "search_employees", {"query": "Twin"}, SYSTEM_ACTOR)).items[0]
    assert employee.department_code == "TWIN1"
    detail = await invoke(runtime, "get_employee", {"employee_id": employee.code}, SYSTEM_ACTOR)
    assert (detail.id, detail.department_code) == (employee.id, "TWIN1")
    slips = (await invoke(runtime, "list_payslips", {"run_id": "2026-05", "limit": 3}, SYSTEM_ACTOR)).items
    async with runtime.db.read() as s:
        for slip in slips:
            code = (await hr.get_employee(s, slip.employee_id)).code
            assert slip.employee_code == code and slip.number.endswith(code)
    one = await invoke(runtime, "get_payslip", {"payslip_id": slips[0].number}, SYSTEM_ACTOR)
    assert (one.payslip_id, one.employee_code) == (slips[0].payslip_id, slips[0].employee_code)
    contracts = (await invoke(runtime, "list_employment_contracts", {"employee_id": slips[0].employee_code},
                              SYSTEM_ACTOR)).items
    assert contracts and {c.employee_code for c in contracts} == {slips[0].employee_code}


async def test_invoices_show_the_family_and_student_codes(school) -> None:
    runtime, _ = school
    page = (await invoke(runtime, "list_invoices", {"limit": 2}, SYSTEM_ACTOR)).items
    async with runtime.db.read() as s:
        for inv in page:
            assert inv.student_code == (await academics.get_student(s, inv.student_id)).code
    one = await invoke(runtime, "get_invoice", {"invoice_id": page[0].number.lower()}, SYSTEM_ACTOR)
    assert (one.invoice_id, one.family_code, one.student_code) == (page[0].invoice_id, page[0].family_code,
                                                                  page[0].student_code)
    by_family = await invoke(runtime, "list_invoices", {"family_id": page[0].family_code}, SYSTEM_ACTOR)
    assert by_family.items and {i.family_id for i in by_family.items} == {page[0].family_id}


async def test_a_gated_call_records_the_ids_its_references_name(school) -> None:
    from domain.identity.service import actor_for, get_user_by_username
    from domain.kernel.actor import Channel

    runtime, _ = school
    async with runtime.db.read() as s:
        admin = actor_for(await get_user_by_username(s, "admin"), Channel.CLI)
    invoices = (await invoke(runtime, "list_invoices", {"limit": 100}, admin)).items
    invoice = next(i for i in invoices if i.status == "issued" and i.paid_minor == i.credited_minor == 0)
    pending = await invoke(runtime, "void_invoice", {"invoice_id": invoice.number, "reason": "Billed twice"}, admin)
    assert pending.status == "proposed" and pending.arguments["invoice_id"] == invoice.invoice_id
    await invoke(runtime, "cancel_action", {"action_id": pending.action_id}, admin)


async def test_a_student_is_found_by_a_guardians_name_without_accents(school) -> None:
    runtime, _ = school
    student = (await invoke(runtime, "search_students", {"query": "Pablo Hernández"}, SYSTEM_ACTOR)).items[0]
    guardian = (await invoke(runtime, "get_student", {"student_id": student.id}, SYSTEM_ACTOR)).guardians[0]
    found = await invoke(runtime, "search_students", {"query": fold(guardian.name).upper(), "limit": 100},
                         SYSTEM_ACTOR)
    assert student.id in [s.id for s in found.items]


async def test_a_caller_who_may_not_list_students_is_not_shown_their_names_in_an_error(school) -> None:
    from domain.kernel.actor import Actor, Channel, Role

    runtime, _ = school
    bursar = Actor(id=0, username="bursar", roles=frozenset({Role.FINANCE}), channel=Channel.CLI)
    registrar = Actor(id=0, username="registrar", roles=frozenset({Role.REGISTRAR}), channel=Channel.CLI)
    with pytest.raises(NotFound) as hidden:
        await invoke(runtime, "list_invoices", {"student_id": "Pablo Hernandes"}, bursar)
    with pytest.raises(NotFound) as shown:
        await invoke(runtime, "list_students", {"section_id": "7Q"}, registrar)
    pablo = (await invoke(runtime, "search_students", {"query": "Pablo Hernández"}, registrar)).items[0]
    assert pablo.code in hidden.value.message and "Hernández" not in hidden.value.message
    assert all(set(c) == {"id", "code"} for c in hidden.value.details["closest"])
    assert "name" in shown.value.details["closest"][0] and "Year 7, section" in shown.value.message
    found = await invoke(runtime, "list_invoices", {"student_id": "Pablo Hernández"}, bursar)
    assert {i.student_id for i in found.items} == {pablo.id}  # the name still names the student


async def test_a_list_of_references_mixes_ids_and_codes(school) -> None:
    runtime, samples = school
    invoice = samples["invoice"]
    args = parse_arguments(CATALOGUE.tools["issue_invoices"], {"invoice_ids": [1, invoice.code, invoice.code.lower()]})
    resolved = await resolve_references(runtime.db.read, args)
    assert resolved.invoice_ids == [1, invoice.id, invoice.id]
    bad = parse_arguments(CATALOGUE.tools["issue_invoices"], {"invoice_ids": [invoice.code, "INV999999"]})
    with pytest.raises(NotFound) as exc:
        await resolve_references(runtime.db.read, bad)
    assert exc.value.field == "invoice_ids[1]"
