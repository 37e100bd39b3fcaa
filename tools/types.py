"""Shared input types for tool models: bounded strings, ids, codes, money and pagination.

Every string a caller can send has a maximum length (the registry refuses a tool whose input schema has an
unbounded string), so an oversized argument is rejected with the field's name before any work is done.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic_core import PydanticCustomError

from domain.kernel import money
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

MinorAmount = Annotated[int, Field(strict=True, ge=0, le=money.MAX_AMOUNT,
                                   description="Minor units: 125000 is 1,250.00 AUD.")]
"""An amount in integer minor units, 0..MAX_AMOUNT (the ledger's bound on one line); never a float."""

PositiveMinorAmount = Annotated[MinorAmount, Field(ge=1)]
"""A MinorAmount of at least 1, where 0 would mean nothing (a payment, a discount, a credit note)."""

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


class ToolInput(BaseModel):
    """Base of every tool's input: unknown fields are refused so a misspelt argument is never ignored."""

    model_config = ConfigDict(extra="forbid")


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


class Page(ToolOutput, Generic[T]):
    """One page of a list: `items`, and `next_cursor` (null when this is the last page)."""

    items: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next page.")


def encode_cursor(last_id: int) -> str:
    """Return the opaque cursor that resumes after `last_id`."""
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """Return the id a cursor resumes after; raises InvalidInput for a cursor not made by `encode_cursor`."""
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        after = int(value["after"])
        if after < 0:
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
