"""References a person would use: every tool input that points at a record takes its id or its code.

A field declared with one of the `*Ref` types below (`employee_id: EmployeeRef`) accepts an id (an integer) or
what people call the record (a string: a code like E0042, 7A-MATH, 1010, INV000042, a name like "Pablo
Hernández"). `resolve_references` (called once, by tools.invoke, between validation and the tool) replaces
every string by the id it names, through the `resolve_reference` function of the owning context's service
(domain.kernel.references has the matching rules), so a tool function always receives ints. A string that names
nothing is NotFound, one that names several is InvalidInput; both name the field, what was expected and the
closest matches. Integers pass unchanged: the tool itself reports an id no row has.

Kinds whose records have no code (a pending action, a job, a document, a timetable problem or solution, an
audit event) are `Ref(kind, codes=False)`: an integer only. tests/tools/test_references.py walks every tool's input and fails on
an `*_id` field that is not a Ref, so a new tool cannot forget.
"""

from __future__ import annotations

import importlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError
from sqlmodel.ext.asyncio.session import AsyncSession

MAX_ID = 2_147_483_647
MAX_CODE = 120  # a full name is the longest thing a reference may be


@dataclass(frozen=True)
class Ref:
    """Marks a tool input field as a reference to a record of `kind`; `codes=False` for kinds with ids only."""

    kind: str
    codes: bool = True


EXAMPLES = {
    "employee": "E0042", "department": "MATH", "student": "S2026-0117", "academic_year": "2026-27",
    "term": "Term 1", "year_level": "Y7", "section": "7A", "subject": "MATH", "class": "7A-MATH",
    "assessment": "7A-MATH Unit test 1", "grading_scale": "PASSFAIL", "account": "1010", "journal_entry": "JE000042",
    "salary_structure": "AU_STAFF", "payroll_run": "2026-05", "payslip": "PS202605-3-E0042", "family": "F00042",
    "fee_item": "TUITION", "fee_schedule": "T1-2026", "discount": "SIBLING2", "invoice": "INV000042",
    "pay_calendar": "FORTNIGHTLY",
}
"""Every kind a reference may name by code, with an example code for the input schema."""

OWNERS = {
    "domain.hr.service": ("employee", "department"),
    "domain.academics.service": ("student", "academic_year", "term", "year_level", "section", "subject", "class",
                                 "assessment", "grading_scale"),
    "domain.finance.service": ("account", "journal_entry"),
    "domain.payroll.service": ("salary_structure", "payroll_run", "payslip", "pay_calendar"),
    "domain.fees.service": ("family", "fee_item", "fee_schedule", "discount", "invoice"),
}
"""The service owning each kind: its `resolve_reference` resolves it, its REFERENCE_KINDS says what a reference
looks like (imported on the first resolution, not at start)."""

PEOPLE_LISTERS = {"employee": "search_employees", "student": "search_students", "family": "list_families"}
"""Kinds named after people: an error lists their names (not only codes) to a caller who may call this tool."""

ID_ONLY_KINDS = ("action", "job", "document", "timetable_problem", "timetable_solution", "audit_event", "entity",
                 "sales_order",
                 "leave_request", "stocktake", "timetable_feed", "notification", "domain_event", "guardian", "child",
                 "own_family")
"""Kinds with ids only; "entity" is the id of a row of the table another field names (an audit event's). "child" and
"own_family" are a guardian's own student and family (tools/family.py): ids only, so a code never resolves to, or
is suggested as, another family's record."""


def _reference_value(value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("reference_type", "Input should be an id (an integer) or a code (a string)")
    if isinstance(value, int):
        if value < 1:
            raise PydanticCustomError("greater_than_equal", "Input should be greater than or equal to 1")
        if value > MAX_ID:
            raise PydanticCustomError("less_than_equal", f"Input should be less than or equal to {MAX_ID}")
        return value
    text = value.strip()
    if not text:
        raise PydanticCustomError("string_too_short", "String should have at least 1 character")
    if len(text) > MAX_CODE:
        raise PydanticCustomError("string_too_long", f"String should have at most {MAX_CODE} characters")
    return text


def ref(kind: str) -> Any:
    """The type of a field referencing a `kind` record by id or code (see the module docstring)."""
    schema = {"type": ["integer", "string"], "minimum": 1, "maxLength": MAX_CODE,
              "description": f"e.g. {EXAMPLES[kind]}"}
    return Annotated[int | str, PlainValidator(_reference_value, json_schema_input_type=int | str),
                     WithJsonSchema(schema), Ref(kind)]


def id_ref(kind: str) -> Any:
    """The type of a field referencing a `kind` record that has no code: an id only."""
    return Annotated[int, Field(strict=True, ge=1, le=MAX_ID), Ref(kind, codes=False)]


EmployeeRef = ref("employee")
DepartmentRef = ref("department")
StudentRef = ref("student")
AcademicYearRef = ref("academic_year")
TermRef = ref("term")
YearLevelRef = ref("year_level")
SectionRef = ref("section")
SubjectRef = ref("subject")
ClassRef = ref("class")
AssessmentRef = ref("assessment")
GradingScaleRef = ref("grading_scale")
AccountRef = ref("account")
JournalEntryRef = ref("journal_entry")
SalaryStructureRef = ref("salary_structure")
PayrollRunRef = ref("payroll_run")
PayslipRef = ref("payslip")
PayCalendarRef = ref("pay_calendar")
FamilyRef = ref("family")
FeeItemRef = ref("fee_item")
FeeScheduleRef = ref("fee_schedule")
DiscountRef = ref("discount")
InvoiceRef = ref("invoice")
ActionRef = id_ref("action")
JobRef = id_ref("job")
DocumentRef = id_ref("document")
TimetableProblemRef = id_ref("timetable_problem")
TimetableSolutionRef = id_ref("timetable_solution")
AuditEventRef = id_ref("audit_event")
EntityRef = id_ref("entity")
LeaveRequestRef = id_ref("leave_request")
StocktakeRef = id_ref("stocktake")
SalesOrderRef = id_ref("sales_order")
TimetableFeedRef = id_ref("timetable_feed")
NotificationRef = id_ref("notification")
DomainEventRef = id_ref("domain_event")
GuardianRef = id_ref("guardian")
ChildRef = id_ref("child")
OwnFamilyRef = id_ref("own_family")


@dataclass(frozen=True)
class RefField:
    """Where a reference sits in an input model: the field, its Ref, whether it is a list of references, and for
    a field holding nested models (a list of lines), the nested model to walk instead."""

    name: str
    ref: Ref | None
    many: bool = False
    nested: type[BaseModel] | None = None


def _walk_annotation(annotation: Any, many: bool = False) -> tuple[Ref | None, bool, type[BaseModel] | None]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        found = next((m for m in annotation.__metadata__ if isinstance(m, Ref)), None)
        if found is not None:
            return found, many, None
        return _walk_annotation(typing.get_args(annotation)[0], many)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            result = _walk_annotation(arg, many)
            if result != (None, many, None):
                return result
        return None, many, None
    if origin in (list, tuple, set, frozenset):
        return _walk_annotation(typing.get_args(annotation)[0], True)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None, many, annotation
    return None, many, None


@cache
def ref_fields(model: type[BaseModel]) -> tuple[RefField, ...]:
    """Return the reference fields of `model`, and the fields holding nested models with references."""
    out = []
    for name, info in model.model_fields.items():
        found = next((m for m in info.metadata if isinstance(m, Ref)), None)
        many, nested = False, None
        if found is None:
            found, many, nested = _walk_annotation(info.annotation)
        if found is not None:
            out.append(RefField(name, found, many))
        elif nested is not None and ref_fields(nested):
            out.append(RefField(name, None, many, nested))
    return tuple(out)


def references_in(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Ref]]:
    """Every reference of `model` with its path (`lines[].account_id`), nested models included."""
    out: list[tuple[str, Ref]] = []
    for item in ref_fields(model):
        path = f"{prefix}{item.name}{'[]' if item.many else ''}"
        if item.ref is not None:
            out.append((path, item.ref))
        elif item.nested is not None:
            out += references_in(item.nested, path + ".")
    return out


Pending = list[tuple[str, str, str, Callable[[int], None]]]


def _collect(args: BaseModel, prefix: str, pending: Pending) -> None:
    for item in ref_fields(type(args)):
        value = getattr(args, item.name)
        if value is None:
            continue
        values = value if item.many else [value]
        for index, element in enumerate(values):
            path = f"{prefix}{item.name}" + (f"[{index}]" if item.many else "")
            if item.nested is not None:
                _collect(element, path + ".", pending)
            elif isinstance(element, str) and item.ref is not None:
                if item.many:
                    def put(new: int, target: list = values, at: int = index) -> None:
                        target[at] = new
                else:
                    def put(new: int, target: BaseModel = args, name: str = item.name) -> None:
                        setattr(target, name, new)
                pending.append((path, item.ref.kind, element, put))


def names_shown(catalogue: Any, actor: Any) -> Callable[[str], bool]:
    """`shown(kind)`: whether `actor` is shown the names of `kind`'s records in a reference's error: always,
    except for people (PEOPLE_LISTERS) when its roles may not call the tool that lists them."""

    def shown(kind: str) -> bool:
        lister = PEOPLE_LISTERS.get(kind)
        if lister is None:
            return True
        spec = catalogue.get(lister)
        return spec is not None and actor.has_any(spec.roles)

    return shown


async def resolve_references(session_factory: Callable[[], Any], args: BaseModel, *,
                             names_for: Callable[[str], bool] | None = None) -> BaseModel:
    """Replace every reference given as a string in `args` (nested lines too) by the id it names, in place, and
    return `args`. Opens a read unit of work (`session_factory()`) only when a string is present. Raises
    NotFound or InvalidInput naming the field (`lines[1].account_id`) and the closest matches, by code, and by
    name too where `names_for(kind)` (default: always; tools.invoke passes `names_shown`)."""
    pending: Pending = []
    _collect(args, "", pending)
    if not pending:
        return args
    resolved: dict[tuple[str, str], int] = {}  # the same text twice (journal lines on one account) is looked up once
    async with session_factory() as session:
        for path, kind, text, put in pending:
            if (kind, text) not in resolved:
                resolved[kind, text] = await resolve(session, kind, text, field=path,
                                                     names=names_for(kind) if names_for else True)
            put(resolved[kind, text])
    return args


def owner(kind: str) -> Any:
    """Return the service module owning `kind` (OWNERS)."""
    name = next(module for module, kinds in OWNERS.items() if kind in kinds)
    return importlib.import_module(name)


async def resolve(session: AsyncSession, kind: str, text: str, *, field: str, names: bool = True) -> int:
    """Return the id of the `kind` record `text` names (its owning service's resolve_reference)."""
    return await owner(kind).resolve_reference(session, kind, text, field=field, names=names)
