"""Shared input types for tool models: bounded strings, ids, codes, money and pagination.

Every string a caller can send has a maximum length (the registry refuses a tool whose input schema has an
unbounded string), so an oversized argument is rejected with the field's name before any work is done.

Every string of every tool input (ToolInput and its nested models) is also checked for characters that hide or
disguise text (`check_text`): control characters (C0 such as NUL and ESC, which starts an ANSI terminal escape,
DEL, C1) and the bidirectional overrides and isolates U+202A..U+202E and U+2066..U+2069 (a name that reads one
way and sorts or prints another). A field of at most SINGLE_LINE_CHARS (254, an e-mail's most) characters
(codes, names, e-mails, keys, short text) is one line; a longer text field (notes, reasons, addresses, memos, a
CSV) may also hold newlines, carriage returns and tabs. Every date (and datetime) is held to the business range
of domain.kernel.clock, 1900-01-01..2199-12-31. Raw arguments are bounded in nesting, values and characters before validation
(check_argument_size), so a deeply nested or huge free-form document (add_tax_table's) is refused at once.
"""

from __future__ import annotations

import base64
import json
import re
import typing
from collections.abc import Iterable
from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationInfo,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from domain.kernel import money
from domain.kernel.clock import date_range_problem
from domain.kernel.errors import InvalidInput
from domain.kernel.schemas import OutputModel

Id = Annotated[int, Field(strict=True, ge=1, le=2_147_483_647)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=1000)]


def _currency(value: str) -> str:
    try:
        return money.parse_currency(value)
    except InvalidInput as exc:
        raise PydanticCustomError("currency_code", exc.message.replace("{", "{{").replace("}", "}}")) from None


Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=3, max_length=3),
                     AfterValidator(_currency)]
"""An ISO 4217 code the product supports (domain.kernel.money.MINOR_UNITS), returned in capitals (" usd " is
USD); anything else is refused naming what is allowed."""

MinorAmount = Annotated[int, Field(strict=True, ge=0, le=money.MAX_AMOUNT)]
"""An amount in integer minor units, 0..MAX_AMOUNT (the ledger's bound on one line); never a float. Its field's
name ends in _minor, and the server's instructions (prompts/guide.md, agent_system.md) say what minor units are."""

PositiveMinorAmount = Annotated[MinorAmount, Field(ge=1)]
"""A MinorAmount of at least 1, where 0 would mean nothing (a payment, a discount, a credit note)."""

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


SINGLE_LINE_CHARS = 254
"""A string field of at most this many characters is one line of text; a longer one may hold line breaks, tabs."""

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_ONE_LINE_REFUSED = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")
_TEXT_REFUSED = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]")  # keeps \t \n \r


def check_text(value: str, *, multiline: bool = False) -> str:
    """Return `value`, or raise PydanticCustomError("text_control_character") naming the first character it
    refuses (see the module docstring) and its position."""
    found = (_TEXT_REFUSED if multiline else _ONE_LINE_REFUSED).search(value)
    if found is None:
        return value
    char = found.group()
    kind = "a bidirectional override" if 0x202A <= ord(char) <= 0x2069 else "a control character"
    allowed = ("; only line breaks and tabs are allowed among control characters" if multiline
               else "; write it on one line, without control or bidirectional formatting characters")
    raise PydanticCustomError("text_control_character",
                              f"must not contain {kind} (U+{ord(char):04X} at character {found.start() + 1}){allowed}")


def _lengths_of(metadata: Any) -> list[int]:
    """The max_length of each constraint in `metadata` (StringConstraints, MaxLen, or a Field(...) holding them)."""
    found: list[int] = []
    for meta in metadata:
        if isinstance(getattr(meta, "max_length", None), int):
            found.append(meta.max_length)
        found += _lengths_of(getattr(meta, "metadata", ()))  # Annotated[str, Field(max_length=...)]
    return found


def _max_lengths(annotation: Any) -> list[int]:
    found = _lengths_of(getattr(annotation, "__metadata__", ()))
    for arg in typing.get_args(annotation):
        found += _max_lengths(arg)
    return found


@cache
def _is_multiline(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields[name]
    lengths = _max_lengths(field.annotation) + _lengths_of(field.metadata)
    return bool(lengths) and max(lengths) > SINGLE_LINE_CHARS


def _check_values(value: Any, multiline: bool) -> None:
    if isinstance(value, str):
        check_text(value, multiline=multiline)
    elif isinstance(value, (date, datetime)):
        problem = date_range_problem(value)
        if problem is not None:
            raise PydanticCustomError("date_range", problem)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            _check_values(item, multiline)
    elif isinstance(value, dict):  # a free-form document (add_tax_table's): its keys and values too
        for key, item in value.items():
            _check_values(key, multiline)
            _check_values(item, multiline)


MAX_INPUT_DEPTH = 16
MAX_INPUT_VALUES = 20_000
MAX_INPUT_CHARS = 1_000_000
"""Bounds on a tool's raw arguments, checked before they are validated: nesting (an object or list inside
another counts one level; a tax table document is 8 deep), values (objects, lists, scalars; the bundled tax
table document has 533), and characters of all strings and keys (an import's CSV has at most 500,000)."""


def check_argument_size(arguments: Any) -> None:
    """Raise InvalidInput, naming the top-level argument, when `arguments` nests deeper than MAX_INPUT_DEPTH, holds
    more than MAX_INPUT_VALUES values or more than MAX_INPUT_CHARS characters; walks without recursion and stops
    at the first bound exceeded, so a 5,000-deep document is refused after 17 levels."""
    if not isinstance(arguments, dict):
        return
    values = chars = 0
    for name, top in arguments.items():
        stack: list[tuple[Any, int]] = [(top, 1)]
        while stack:
            value, depth = stack.pop()
            values += 1
            if depth > MAX_INPUT_DEPTH:
                raise InvalidInput(f"{name} nests more than {MAX_INPUT_DEPTH} levels deep (objects and lists inside "
                                   "one another); flatten it", field=str(name))
            if values > MAX_INPUT_VALUES:
                raise InvalidInput(f"{name}: the arguments hold more than {MAX_INPUT_VALUES:,} values; send less at "
                                   "once", field=str(name))
            if isinstance(value, dict):
                chars += sum(len(k) for k in value if isinstance(k, str))
                stack.extend((item, depth + 1) for item in value.values())
            elif isinstance(value, (list, tuple)):
                stack.extend((item, depth + 1) for item in value)
            elif isinstance(value, str):
                chars += len(value)
            if chars > MAX_INPUT_CHARS:
                raise InvalidInput(f"{name}: the arguments hold more than {MAX_INPUT_CHARS:,} characters; send less "
                                   "at once", field=str(name))


class ToolInput(BaseModel):
    """Base of every tool's input: unknown fields are refused so a misspelt argument is never ignored; no string
    holds a control or bidirectional formatting character (check_text; line breaks only in long text fields); every
    date and datetime lies within domain.kernel.clock's EARLIEST_DATE..LATEST_DATE (1900-01-01..2199-12-31)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        check_argument_size(data)
        return data

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is not None:
            _check_values(value, _is_multiline(cls, info.field_name))
        return value


class ChangeInput(ToolInput):
    """Base of an input that changes fields of one record, named by the field `target` (a class attribute, e.g.
    "student_id"): every other field is optional (None: left as it is), and at least one must be given, else a
    ValueError names them."""

    target: ClassVar[str]

    @model_validator(mode="after")
    def _some_change(self):
        if not self.model_dump(exclude_none=True, exclude={self.target}):
            fields = [name for name in type(self).model_fields if name != self.target]
            raise ValueError(f"give at least one field to change: {', '.join(fields[:-1])} or {fields[-1]}")
        return self


ToolOutput = OutputModel
"""Base of every tool's output: domain.kernel.schemas.OutputModel (output schemas live in the domain)."""


class PageInput(ToolInput):
    """Cursor pagination: pass `next_cursor` from the previous page to get the next one."""

    cursor: Annotated[str | None, StringConstraints(max_length=200)] = None
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    def after_id(self) -> int:
        """Decode the cursor into the last id already returned (0 for the first page)."""
        return decode_cursor(self.cursor)


T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Page(ToolOutput, Generic[T]):
    """One page of a list: `items`, and `next_cursor` (null when this is the last page)."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")

    def __class_getitem__(cls, item: Any) -> Any:  # type: ignore[override]
        # Page[X] once per X: pydantic's own lookup of a parametrized class (its generic-types cache, keyed with
        # weak references) cost about 10-20 us on every list tool's call.
        hit = _PAGES.get((cls, item))
        if hit is None:
            hit = _PAGES[(cls, item)] = super().__class_getitem__(item)  # type: ignore[misc]
        return hit


_PAGES: dict[tuple[Any, Any], Any] = {}  # (Page, item type) -> Page[item type]


def models_of(model: type[M], rows: Iterable[Any]) -> list[M]:
    """`[model.model_validate(row) for row in rows]` (attributes read, as from_attributes does) in one call into
    pydantic-core: for a page of 50 rows about half the time of validating them one by one.

    Rows of a select of named columns (SQLAlchemy's Row, a named tuple: `_fields` names each value once) are
    handed over as dicts of their values, which pydantic-core reads about three times as fast as a Row's
    attributes (each a lookup by name in Python): list_students' page of 25 rows, 107 -> 33 us. The same values
    under the same names, so the same models; a model that forbids or keeps extra keys reads attributes as
    before."""
    items = rows if isinstance(rows, list) else list(rows)
    if items and _by_name(model, getattr(items[0], "_fields", None)):
        names = items[0]._fields
        items = [dict(zip(names, row)) for row in items]
    return _list_adapter(model).validate_python(items, from_attributes=True)


@cache
def _by_name(model: type[BaseModel], names: tuple[str, ...] | None) -> bool:
    """Whether rows with the fields `names` may be validated as `model` from dicts of their values: each name once
    (a Row may repeat one) and extra keys ignored by the model, as attributes it has no field for are."""
    return (isinstance(names, tuple) and len(set(names)) == len(names)
            and model.model_config.get("extra") in (None, "ignore"))


@cache
def _list_adapter(model: type) -> TypeAdapter:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def encode_cursor(last_id: int) -> str:
    """Return the opaque cursor that resumes after `last_id`."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


MAX_CURSOR = 2_147_483_647
"""The largest position a cursor may name: the largest id (Id) or ranked offset; a larger one was not issued."""


def decode_cursor(cursor: str | None) -> int:
    """Return the id a cursor resumes after; raises InvalidInput (field cursor) for a cursor not made by
    `encode_cursor`: not base64 JSON, no integer `after`, or one outside 0..MAX_CURSOR (`1e300` too)."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        after = value["after"]
        if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_CURSOR:
            raise ValueError
        return after
    except Exception:
        raise InvalidInput("cursor is not one this server issued; pass the next_cursor of the previous page "
                           "or omit it to start from the first page", field="cursor") from None


def page_of(items: list, limit: int, *, key=lambda item: item.id) -> tuple[list, str | None]:
    """Split `limit + 1` fetched rows into the page and its next cursor."""
    if len(items) > limit:
        page = items[:limit]
        return page, encode_cursor(key(page[-1]))
    return items, None


def ranked_page_of(items: list, limit: int, offset: int) -> tuple[list, str | None]:
    """Split `limit + 1` fetched rows of a ranked search (ordered by relevance, not id) into the page and the
    cursor of the next one, which resumes after `offset + limit` rows."""
    if len(items) > limit:
        return items[:limit], encode_cursor(offset + limit)
    return items, None
