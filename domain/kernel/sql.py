"""SQL constructs shared by the contexts' repositories.

`id_in(column, ids)` is `column IN (ids)` for a list of ids that may be long (a whole school's employees): on
PostgreSQL it is `column = ANY($1)` with the ids as ONE array parameter, where an IN list binds one parameter
per id. For 10,000 ids that IN list cost 40 ms to render (SQLAlchemy renders an expanding parameter per
value at every execution) and as much again for the driver and the server to handle 10,000 parameters;
asyncpg sends the array as one binary value. On SQLite it stays an IN list (SQLite has no arrays; it allows
32,766 parameters a statement since 3.32, and callers with more chunk their ids).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Boolean, Integer, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

__all__ = ["id_in"]


class _IdIn(ColumnElement[bool]):
    """`column IN ids`, compiled per dialect (see the module docstring)."""

    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" appended where booleans are not native (SQLite)
    inherit_cache = False  # the ids are part of the element, not a cacheable parameter

    def __init__(self, column: Any, ids: list[int]):
        self.column = column
        self.ids = ids


@compiles(_IdIn)
def _in_list(element: _IdIn, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.ids), **kw)


@compiles(_IdIn, "postgresql")
def _any_array(element: _IdIn, compiler: Any, **kw: Any) -> str:
    array = bindparam(None, element.ids, type_=ARRAY(Integer))
    return compiler.process(element.column == any_(array), **kw)


def id_in(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column IN ids` for integer ids (any number; an empty list matches nothing): one array parameter on
    PostgreSQL, an IN list elsewhere. Raises TypeError for an id that is not an int (a bool included), so a
    caller's mistake never becomes SQL."""
    values = list(ids)
    for value in values:
        if type(value) is not int:
            raise TypeError(f"id_in takes integer ids, not {type(value).__name__} {value!r}")
    return _IdIn(column, values)
