"""An output that shows an id also shows the code (issue 16, item 3), checked on every tool's output model.

Registry-driven: for every tool's output model (nested models and lists of them walked), every integer field
that holds the id of a record of a kind people name by code (the coded kinds of tools.references.EXAMPLES:
employee E0042, class 7A-MATH, account 1010, invoice INV000042...) must have a sibling field carrying that
code: `<prefix>_code` for `<prefix>_id` (`teacher_id` -> `teacher_code`), or the kind's natural name
(`entry_number`, `invoice_number`, `run_period`), or for a model's own id (`id`, `invoice_id` of InvoiceOut) its
`code` / `number`. A list of ids (`student_ids`) needs the list of codes (`student_codes`).

Ids of kinds without a code (an action, a job, a document...) are listed in NO_CODE, each with why. A new tool
or field showing a coded id without its code fails here, so a model never has to map an id back by itself.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from domain.identity.service import actor_for, get_user_by_username
from domain.kernel.actor import Channel
from domain.kernel.settings import Settings
from tests.conftest import demo_school_url
from tools import output_codes
from tools.invoke import invoke
from tools.modules import all_modules
from tools.output_codes import (
    ALIASES,
    OWN_KIND,
    OWN_NAMES,
    SHOWN_AS,
    code_fields,
    coded_kind,
    own_kind,
    siblings,
)
from tools.references import EXAMPLES, resolve
from tools.registry import build_catalogue
from tools.runtime import Runtime

CATALOGUE = build_catalogue(all_modules())

NO_CODE = {
    # records with an id only: nobody names them by a code (tools.references.ID_ONLY_KINDS)
    "id": "a row with no code of its own (an enrollment, a grade, a guardian, a ledger line)",
    "action_id": "a pending action has an id only",
    "request_id": "a change request is a pending action: an id only",
    "job_id": "a background job has an id only",
    "document_id": "a stored document has an id only",
    "problem_id": "a timetable problem has an id only", "solution_id": "a timetable solution has an id only",
    "previous_solution_id": "a timetable solution has an id only",
    "published_solution_id": "a timetable solution has an id only",
    "event_id": "an audit event has an id only", "bad_event_id": "an audit event has an id only",
    "entity_id": "the id of a row of the table the event names: no kind of its own",
    "actor_id": "a user's id; the answer shows the username beside it",
    "user_id": "a user's id; the answer shows the username beside it",
    "record_id": "an attendance record has an id only",
    "award_id": "a discount award has an id only", "payment_id": "a receipt: shown with its number",
    "credit_note_id": "a credit note: shown with its number", "refund_id": "a refund: shown with its number",
    "contract_id": "a contract has an id only", "room_id": "a room is shown with its name",
    "remittance_id": "a remittance is shown with its number",
    "csv_document_id": "a stored document has an id only", "json_document_id": "a stored document has an id only",
    "move_id": "a stock move has an id only", "stocktake_id": "a stocktake has an id only",
    "order_id": "a sales order: shown with its number (SO000042)",
    "feed_id": "a calendar URL has an id only (its secret is the URL)",
    "notification_id": "a notification (one email) has an id only",
    "person_id": "a notification's recipient: a guardian's, employee's or user's id, its kind beside it",
    "aggregate_id": "an event's aggregate: the id of a row of the kind the event names beside it",
}
"""Field names holding ids of records without a code people use, and why."""


def _kind(model: type[BaseModel], name: str) -> tuple[str | None, str] | None:
    """(kind, prefix) of an id field ("" for the model's own id; kind None when unclassified), or None."""
    own = own_kind(model, name)
    if own:
        return own, ""
    if name == "id" or name in NO_CODE:
        return None
    return coded_kind(name)


def _siblings(kind: str, prefix: str, many: bool) -> set[str]:
    return set(OWN_NAMES) if not prefix else set(siblings(kind, prefix, many))


def missing_codes(model: type[BaseModel], where: str, seen: set[type[BaseModel]]) -> list[str]:
    """Every id field of a coded kind in `model` (and the models it holds) without its code: `Model.field`."""
    if model in seen:
        return []
    seen.add(model)
    out = []
    fields = model.model_fields
    for name, info in fields.items():
        stack = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                out += missing_codes(annotation, where, seen)
            stack += typing.get_args(annotation)
        found = _kind(model, name)
        if found is None:
            continue
        kind, prefix = found
        if kind is None:
            out.append(f"{model.__name__}.{name} (unclassified: add it to ALIASES or NO_CODE)")
        else:
            wanted = _siblings(kind, prefix, name.endswith("_ids")) | {SHOWN_AS.get((model.__name__, name))}
            if not wanted & set(fields):
                out.append(f"{model.__name__}.{name} (needs one of {sorted(wanted - {None})})")
    return out


def gaps() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for spec in CATALOGUE.tools.values():
        for gap in missing_codes(spec.output_model, spec.name, set()):
            found.setdefault(gap, set()).add(spec.name)
    return found


def test_every_coded_id_in_an_output_has_its_code() -> None:
    found = gaps()
    assert not found, "show the code beside these ids (or list a kind without code in NO_CODE):\n" + "\n".join(
        f"{gap}: {sorted(tools)}" for gap, tools in sorted(found.items()))


def test_the_check_sees_a_missing_code() -> None:
    """The walk reaches nested lists and fails on a coded id without its code; an id-only kind passes."""

    class Line(BaseModel):
        account_id: int
        document_id: int

    class Answer(BaseModel):
        teacher_id: int
        teacher_code: str
        lines: list[Line]
        family_ids: list[int]
        family_codes: list[str]

    assert missing_codes(Answer, "t", set()) == [
        "Line.account_id (needs one of ['account_code'])"]

    class Unknown(BaseModel):
        gizmo_id: int

    assert missing_codes(Unknown, "t", set()) == ["Unknown.gizmo_id (unclassified: add it to ALIASES or NO_CODE)"]
    assert set(OWN_KIND.values()) <= set(EXAMPLES) and set(ALIASES.values()) <= set(EXAMPLES)


# --- On the demo school: every code shown is filled, and names the record of the id beside it. ---

DEMO_CALLS: list[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    ("admin", "list_classes", lambda d: {}), ("admin", "list_sections", lambda d: {}),
    ("admin", "list_terms", lambda d: {}), ("admin", "list_teachers", lambda d: {}),
    ("admin", "list_students", lambda d: {}), ("admin", "get_trial_balance", lambda d: {}),
    ("admin", "list_assessments", lambda d: {"class_id": d["class_id"]}),
    ("admin", "get_gradebook", lambda d: {"class_id": d["class_id"], "term_id": d["term_id"]}),
    ("admin", "list_accounts", lambda d: {}), ("admin", "get_account_ledger", lambda d: {"account_id": "1200"}),
    ("bursar", "list_invoices", lambda d: {}), ("bursar", "get_invoice", lambda d: {"invoice_id": d["invoice_id"]}),
    ("bursar", "list_payments", lambda d: {}), ("bursar", "list_fee_items", lambda d: {}),
    ("bursar", "list_fee_schedules", lambda d: {}), ("bursar", "list_discounts", lambda d: {}),
    ("bursar", "list_families", lambda d: {}),
    ("bursar", "get_family_account", lambda d: {"family_id": d["family_id"]}),
    ("admin", "list_employment_contracts", lambda d: {}), ("admin", "list_payroll_runs", lambda d: {}),
    ("admin", "list_payslips", lambda d: {"run_id": d["run_id"]}),
    ("admin", "get_payslip", lambda d: {"payslip_id": d["payslip_id"]}),
]
"""Read tools showing coded ids of most kinds, as a demo persona who may call them."""


@pytest.fixture(scope="module")
async def demo(tmp_path_factory):
    async with demo_school_url(tmp_path_factory.mktemp("output-codes")) as url:
        runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0))
        try:
            actors = {}
            async with runtime.db.read() as session:
                for name in ("admin", "bursar"):
                    actors[name] = actor_for(await get_user_by_username(session, name), Channel.CLI)
            admin, bursar = actors["admin"], actors["bursar"]
            run = (await invoke(runtime, "list_payroll_runs", {"limit": 1}, admin)).items[0]
            ids = {"class_id": (await invoke(runtime, "list_classes", {"limit": 1}, admin)).items[0].id,
                   "term_id": (await invoke(runtime, "list_terms", {"limit": 1}, admin)).items[0].id,
                   "invoice_id": (await invoke(runtime, "list_invoices", {"limit": 1}, bursar)).items[0].invoice_id,
                   "family_id": (await invoke(runtime, "list_families", {"limit": 1}, bursar)).items[0].family_id,
                   "run_id": run.run_id,
                   "payslip_id": (await invoke(runtime, "list_payslips", {"run_id": run.run_id, "limit": 1},
                                               admin)).items[0].payslip_id}
            yield runtime, actors, ids
        finally:
            await runtime.close()


def _shown(value: Any) -> list[tuple[BaseModel, str, str, str, bool]]:
    """Every (model, id field, kind, code field, many) of an answer whose id is set."""
    out = []
    if isinstance(value, BaseModel):
        for id_field, kind, code_field, many in code_fields(type(value)):
            if getattr(value, id_field) is not None:
                out.append((value, id_field, kind, code_field, many))
        for name in type(value).model_fields:
            out += _shown(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            out += _shown(item)
    return out


async def test_every_code_shown_on_the_demo_school_names_the_record_of_its_id(demo):
    runtime, actors, ids = demo
    checked: dict[str, int] = {}
    for persona, tool, arguments in DEMO_CALLS:
        out = await invoke(runtime, tool, arguments(ids), actors[persona])
        for model, id_field, kind, code_field, many in _shown(out):
            id_values = getattr(model, id_field) if many else [getattr(model, id_field)]
            codes = getattr(model, code_field) if many else [getattr(model, code_field)]
            assert codes is not None and len(codes) == len(id_values), (tool, code_field)
            async with runtime.db.read() as session:
                for record_id, code in zip(id_values, codes, strict=True):
                    assert code is not None, f"{tool}: {type(model).__name__}.{code_field} is null for id {record_id}"
                    resolved = await resolve(session, kind, code, field=code_field)
                    assert resolved == record_id, f"{tool}: {code_field} {code!r} names {resolved}, not {record_id}"
            checked[kind] = checked.get(kind, 0) + 1
    # the walk saw codes of most kinds (so a broken fill cannot pass by showing nothing)
    assert {"employee", "section", "subject", "academic_year", "term", "year_level", "class", "account",
            "journal_entry", "family", "student", "fee_item", "fee_schedule", "payroll_run", "salary_structure",
            "department"} <= set(checked), sorted(checked)


async def test_codes_are_fetched_in_one_query_per_kind(demo, monkeypatch):
    runtime, actors, _ids = demo
    calls: list[tuple[str, int]] = []
    real = output_codes.owner

    class Counting:
        def __init__(self, kind: str) -> None:
            self.module = real(kind)

        async def reference_codes(self, session, kind, wanted):
            calls.append((kind, len(set(wanted))))
            return await self.module.reference_codes(session, kind, wanted)

    monkeypatch.setattr(output_codes, "owner", Counting)
    page = await invoke(runtime, "list_invoices", {"limit": 50}, actors["bursar"])
    kinds = [kind for kind, _ in calls]
    assert len(page.items) == 50 and sorted(kinds) == sorted(set(kinds)), calls
    assert {"fee_schedule", "term", "journal_entry"} <= set(kinds)
    assert all(out.schedule_code and out.term_code for out in page.items)


def _collected_item_by_item(value: Any, todo: list) -> None:
    """fill_codes' walk as it was before pages were walked a run of one model at a time (the reference)."""
    if isinstance(value, BaseModel):
        for id_field, kind, code_field, many in code_fields(type(value)):
            if getattr(value, code_field) is None and getattr(value, id_field) is not None:
                todo.append((value, id_field, kind, code_field, many))
        for name in output_codes._walked_fields(type(value)):
            inner = getattr(value, name)
            if isinstance(inner, BaseModel | list | tuple | dict):
                _collected_item_by_item(inner, todo)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, BaseModel | list | tuple):
                _collected_item_by_item(item, todo)
            else:
                break
    elif isinstance(value, dict):
        for item in value.values():
            if isinstance(item, BaseModel | list | tuple):
                _collected_item_by_item(item, todo)


def test_a_page_is_walked_for_codes_in_the_order_of_its_items():
    """A list of models is walked a run of one model at a time (output_codes._collect_models): the same fields
    to fill, in the same order, as walking it item by item, whatever the list mixes (models of two kinds, codes
    set or not, nested lists, a scalar that ends the walk as before)."""
    from domain.academics.schemas import EnrollmentRead, SectionRead, StudentSummary
    from tools.types import Page

    def student(n: int, *, coded: bool) -> StudentSummary:
        return StudentSummary(id=n, code=f"S{n}", first_name="A", last_name="B", year_level_id=n % 3 + 1,
                              year_level_code="Y" if coded else None, section_id=None if n % 4 == 0 else n,
                              section_code="S" if coded and n % 2 else None, status="active")

    def enrollment(n: int) -> EnrollmentRead:
        return EnrollmentRead(id=n, student_id=n, class_id=n + 1, status="active", enrolled_on="2026-02-01",
                              class_code="C" if n % 2 else None)

    section = SectionRead(id=9, code="7A", name="7A", year_level_id=1, academic_year_id=2, homeroom_teacher_id=4)
    mixed = [student(1, coded=False), student(2, coded=True), enrollment(3), enrollment(4), student(5, coded=False),
             [student(6, coded=False), enrollment(7)], (enrollment(8),), student(12, coded=False), 5,
             student(13, coded=False)]
    cases = [Page[StudentSummary](items=[student(n, coded=n % 5 == 0) for n in range(1, 30)]), mixed,
             {"a": mixed, "b": [section, student(14, coded=False)]}, [section, section], [],
             [1, student(15, coded=False)]]
    for value in cases:
        walked: list = []
        output_codes._collect(value, walked)
        expected: list = []
        _collected_item_by_item(value, expected)
        assert [(id(v), *rest) for v, *rest in walked] == [(id(v), *rest) for v, *rest in expected]
    walked = []
    output_codes._collect(mixed, walked)
    assert len(walked) > 8 and {kind for _, _, kind, _, _ in walked} >= {"year_level", "section", "class"}
