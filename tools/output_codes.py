"""An output that shows an id also shows the code (issue 16, item 3): `teacher_id 17` comes with `teacher_code
E0017`, so a model never maps an id back to what people call the record, nor mistakes it for a code.

Which output field holds the code of which id is declared by name: `<prefix>_id` of a coded kind (a key of
tools.references.EXAMPLES, or a role in ALIASES: `teacher_id` is an employee's) has its code in
`<prefix>_code`, or the kind's natural name (NATURAL: `entry_number`, `run_period`); a list `<prefix>_ids` in
`<prefix>_codes`. `fill_codes` (called by tools.invoke on every answer, before redaction) fills each such
sibling the tool left null with one query per kind (each owning service's `reference_codes`), so a tool
builds its answer from rows and ids and the codes come in one batch. tests/tools/test_output_codes.py fails
on an output model showing a coded id without its sibling.
"""

from __future__ import annotations

import re
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from tools.references import EXAMPLES, owner

ALIASES = {
    "teacher": "employee", "homeroom_teacher": "employee", "entry": "journal_entry",
    "void_entry": "journal_entry", "payment_entry": "journal_entry", "reverses_entry": "journal_entry",
    "reversed_by_entry": "journal_entry", "run": "payroll_run", "schedule": "fee_schedule",
    "scale": "grading_scale", "previous_scale": "grading_scale",
    "income_account": "account", "deposit_account": "account", "parent": "account",
    "reverses_payslip": "payslip", "structure": "salary_structure",
}
"""Field prefixes naming a coded kind by its role (`teacher_id` is an employee's id; `parent_id` is only an
account's parent in an output)."""

NATURAL = {"journal_entry": ("_number",), "invoice": ("_number",), "payslip": ("_number",),
           "payroll_run": ("_period",)}
"""Kinds whose code has another name: an entry's number JE000042, an invoice's INV000042, a run's period."""

OWN_NAMES = ("code", "number", "entry_number", "period", "name", "title")
"""A model's own id (`id`, or `invoice_id` of InvoiceOut) is shown with one of these."""

OWN_KIND = {
    "AcademicYearRead": "academic_year", "TermRead": "term", "YearLevelRead": "year_level", "SectionRead": "section",
    "SubjectRead": "subject", "ClassRead": "class", "StudentSummary": "student", "StudentRead": "student",
    "AssessmentRead": "assessment", "AccountOut": "account", "JournalEntryOut": "journal_entry",
    "DepartmentRead": "department", "EmployeeRead": "employee", "EmployeeSummary": "employee",
    "FamilyOut": "family", "FeeItemOut": "fee_item", "FeeScheduleOut": "fee_schedule", "DiscountOut": "discount",
    "InvoiceOut": "invoice", "OpenInvoiceOut": "invoice", "ScaleOut": "grading_scale",
    "DefaultScaleOut": "grading_scale", "StructureOut": "salary_structure", "RunOut": "payroll_run",
    "PayslipOut": "payslip", "TeacherRead": "employee", "PayCalendarOut": "pay_calendar",
}
"""Models that ARE a record of a coded kind: their `id` (or `<kind>_id`) is shown with their own code."""

SHOWN_AS = {("DefaultScaleOut", "previous_scale_id"): "previous_code",
            ("ReportLineOut", "account_id"): "code", ("TrialBalanceRowOut", "account_id"): "code"}
"""Coded ids whose code was named before this rule (kept: answers stay compatible)."""


def own_kind(model: type[BaseModel], name: str) -> str | None:
    """The kind of `model` when `name` is its own id field (`id`, `invoice_id` of InvoiceOut), else None."""
    own = OWN_KIND.get(model.__name__)
    if own is None or not name.endswith("_id"):
        return own if name == "id" else None
    prefix = name[:-3]
    return own if prefix == own or ("_" not in prefix and prefix != "parent" and ALIASES.get(prefix) == own) \
        else None


def coded_kind(name: str) -> tuple[str | None, str] | None:
    """(kind, prefix) of a field `<prefix>_id` / `<prefix>_ids` (kind None when the prefix names no coded
    kind), or None when `name` is no id field."""
    match = re.fullmatch(r"(.+)_ids?", name)
    if not match:
        return None
    prefix = match.group(1)
    return (prefix if prefix in EXAMPLES else ALIASES.get(prefix)), prefix


def siblings(kind: str, prefix: str, many: bool) -> tuple[str, ...]:
    """The field names that may carry the code of a `<prefix>_id` (`<prefix>_ids` when `many`) of `kind`."""
    names = tuple(prefix + suffix for suffix in ("_code", *NATURAL.get(kind, ())))
    return tuple(name + "s" for name in names) if many else names


@cache
def code_fields(model: type[BaseModel]) -> tuple[tuple[str, str, str, bool], ...]:
    """(id field, kind, code field, many) for every coded id of `model` whose code field it declares (own ids
    excluded: a tool always sets a record's own code)."""
    out = []
    fields = model.model_fields
    for name in fields:
        if name == "id" or own_kind(model, name):
            continue
        found = coded_kind(name)
        if found is None or found[0] is None:
            continue
        kind, prefix = found
        shown = SHOWN_AS.get((model.__name__, name))
        names = (shown,) if shown else siblings(kind, prefix, name.endswith("_ids"))
        target = next((n for n in names if n in fields), None)
        if target is not None:
            out.append((name, kind, target, name.endswith("_ids")))
    return tuple(out)


@cache
def _nested(model: type[BaseModel]) -> bool:
    """Whether `model` or a model it holds declares a code field (so a walk is worth it)."""
    return any(True for _ in _models_in(model, set()))


def _models_in(model: type[BaseModel], seen: set) -> typing.Iterator[type[BaseModel]]:
    if model in seen:
        return
    seen.add(model)
    if code_fields(model):
        yield model
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from _models_in(annotation, seen)
            stack += typing.get_args(annotation)


@cache
def _walked_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of `model` that may hold a model declaring a code field: those whose annotation names such a
    model, or says nothing about what it holds (Any, object, a type variable). The others (scalars, models with
    no code field however deep) are not visited: walking every field of every item of a 50-row page cost about
    0.3 ms a call."""
    names = []
    for name, info in model.model_fields.items():
        stack = [info.annotation]
        while stack:
            annotation = stack.pop()
            if annotation is Any or annotation is object or isinstance(annotation, typing.TypeVar) or (
                    isinstance(annotation, type) and issubclass(annotation, BaseModel) and _nested(annotation)):
                names.append(name)
                break
            stack += typing.get_args(annotation)
    return tuple(names)


def _collect(value: Any, todo: list[tuple[BaseModel, str, str, str, bool]]) -> None:
    if isinstance(value, BaseModel):
        for id_field, kind, code_field, many in code_fields(type(value)):
            if getattr(value, code_field) is None and getattr(value, id_field) is not None:
                todo.append((value, id_field, kind, code_field, many))
        for name in _walked_fields(type(value)):
            inner = getattr(value, name)
            if isinstance(inner, BaseModel | list | tuple | dict):
                _collect(inner, todo)
    elif isinstance(value, list | tuple):
        if value and isinstance(value[0], BaseModel):
            _collect_models(value, todo)
            return
        for item in value:
            if isinstance(item, BaseModel | list | tuple):
                _collect(item, todo)
            else:
                break  # a list of scalars holds no model
    elif isinstance(value, dict):
        for item in value.values():
            if isinstance(item, BaseModel | list | tuple):
                _collect(item, todo)


def _collect_models(items: list | tuple, todo: list[tuple[BaseModel, str, str, str, bool]]) -> None:
    """_collect over a list of models (a page's items), in the same order: the code fields and the fields to walk
    of a run of items of one model are looked up once for the run, not per item. Items that are not models are
    collected as _collect does."""
    index, count = 0, len(items)
    while index < count:
        model = type(items[index])
        if not issubclass(model, BaseModel):
            _collect(items[index:], todo)
            return
        end = index + 1
        while end < count and type(items[end]) is model:
            end += 1
        fields, walked = code_fields(model), _walked_fields(model)
        for value in items[index:end] if fields or walked else ():
            for id_field, kind, code_field, many in fields:
                if getattr(value, code_field) is None and getattr(value, id_field) is not None:
                    todo.append((value, id_field, kind, code_field, many))
            for name in walked:
                inner = getattr(value, name)
                if isinstance(inner, BaseModel | list | tuple | dict):
                    _collect(inner, todo)
        index = end


async def fill_codes(session: AsyncSession, out: BaseModel) -> BaseModel:
    """Fill, in place, every code field of `out` (nested models and lists too) that is null while its id is
    set, with one query per kind; return `out`. A code no row has (a dangling id) stays null."""
    if not _nested(type(out)):
        return out
    todo: list[tuple[BaseModel, str, str, str, bool]] = []
    _collect(out, todo)
    wanted: dict[str, set[int]] = {}
    for value, id_field, kind, _, many in todo:
        ids = getattr(value, id_field)
        wanted.setdefault(kind, set()).update(ids if many else [ids])
    codes = {kind: await owner(kind).reference_codes(session, kind, ids) for kind, ids in wanted.items()}
    for value, id_field, kind, code_field, many in todo:
        ids = getattr(value, id_field)
        found = codes[kind]
        code = [found.get(i) for i in ids] if many else found.get(ids)
        object.__setattr__(value, code_field, code) if type(value).model_config.get("frozen") else \
            setattr(value, code_field, code)
    return out
