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
from sqlalchemy.sql.visitors import InternalTraversal

__all__ = ["id_in"]


class _IdIn(ColumnElement[bool]):
    """`column IN ids`, compiled per dialect (see the module docstring).

    The ids are bound parameters, not part of the statement: a statement using id_in is compiled once and found in
    SQLAlchemy's compiled cache after that, as one written with `in_` is (compiling it on every call cost about
    0.7 ms of CPU, list_invoices' students for one). Each form holds its own parameter, the array for PostgreSQL
    and the expanding list elsewhere; a compiler renders one and the other's value goes unused."""

    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" appended where booleans are not native (SQLite)
    inherit_cache = False  # the cache key is made of _traverse_internals: the column and the two parameters
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("listed", InternalTraversal.dp_clauseelement),
                           ("array", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any, ids: list[int]):
        self.column = column
        self.listed = bindparam(None, ids, type_=Integer(), expanding=True)
        self.array = bindparam(None, ids, type_=ARRAY(Integer))


@compiles(_IdIn)
def _in_list(element: _IdIn, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.listed), **kw)


@compiles(_IdIn, "postgresql")
def _any_array(element: _IdIn, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.column == any_(element.array), **kw)


def id_in(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """`column IN ids` for integer ids (any number; an empty list matches nothing): one array parameter on
    PostgreSQL, an IN list elsewhere. Raises TypeError for an id that is not an int (a bool included), so a
    caller's mistake never becomes SQL."""
    values = list(ids)
    for value in values:
        if type(value) is not int:
            raise TypeError(f"id_in takes integer ids, not {type(value).__name__} {value!r}")
    return _IdIn(column, values)
