"""Rendering helpers of the admin pages: the Jinja environment (autoescaped) and how JSON values are shown.

An action's preview is JSON written by each tool: nested objects become definition lists, lists of objects
become tables, a `before`/`after` pair becomes a comparison table, and numbers are shown exactly as given; money
(a key ending in `_minor` inside an object naming its `currency`) is also shown in major units beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from domain.kernel import money as kernel_money

if TYPE_CHECKING:  # jinja2 is imported when the first admin page is drawn, not when a server starts
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"
MAX_COLUMNS = 12


class Missing:
    """A key one side of a before/after pair does not have (shown as a dash, unlike a null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()


@dataclass(frozen=True)
class ChangeRow:
    """One key of a before/after pair: its two values and whether they differ."""

    key: str
    before: Any
    after: Any
    changed: bool


def kind(value: Any) -> str:
    """Name how a JSON value is shown: missing, none, bool, number, text, mapping, records (a list of objects),
    list."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, dict) for item in value) and len(columns(value)) <= MAX_COLUMNS:
            return "records"
        return "list"
    return "text"


def columns(rows: list[dict[str, Any]]) -> list[str]:
    """The keys of a list of objects, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def change_rows(value: dict[str, Any]) -> list[ChangeRow] | None:
    """The rows of a `before`/`after` comparison when `value` holds both as objects, else None."""
    before, after = value.get("before"), value.get("after")
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    keys = list(dict.fromkeys([*before, *after]))
    return [ChangeRow(str(key), before.get(key, MISSING), after.get(key, MISSING),
                      before.get(key, MISSING) != after.get(key, MISSING)) for key in keys]


def other_items(value: dict[str, Any]) -> dict[str, Any]:
    """The keys of `value` not shown in its before/after comparison."""
    if change_rows(value) is None:
        return value
    return {k: v for k, v in value.items() if k not in ("before", "after")}


def money(value: Any, currency: str | None, key: str | None) -> str | None:
    """Integer minor units under a key ending in `_minor`, with the currency of the object around them, in major
    units for a person ("1,925,000" -> "19,250.00 AUD"); None for anything else (shown as given)."""
    if (not isinstance(value, int) or isinstance(value, bool) or not currency or not key
            or not str(key).endswith("_minor") or currency not in kernel_money.MINOR_UNITS):
        return None
    return kernel_money.format_money(value, currency)


def when(value: datetime | None) -> str:
    """A UTC timestamp as `YYYY-MM-DD HH:MM:SS UTC` (empty for None)."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def duration(start: datetime | None, end: datetime | None) -> str:
    """The time between two timestamps as `1h 02m 03s` / `2m 03s` / `3.2s` (empty when either is missing)."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def build_environment() -> Environment:
    """The admin pages' Jinja environment: every template autoescaped, undefined names are errors."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(kind=kind, columns=columns, change_rows=change_rows, other_items=other_items,
                       missing=MISSING, duration=duration, money=money)
    env.filters.update(when=when)
    return env
