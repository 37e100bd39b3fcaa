"""Text folding for name search and references: case and accents do not matter ("Hernandez" is "Hernández").

`fold` is the one definition, used both to maintain the folded columns (students.name_folded, ...) on every
write and to fold what a caller typed, so SQLite and PostgreSQL compare the same strings with a plain LIKE.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import and_, case, event, func, or_
from sqlmodel import Field

LIKE_ESCAPE = "\\"
BASE_LETTERS = str.maketrans({"ł": "l", "đ": "d", "ø": "o", "ħ": "h", "ŧ": "t", "ı": "i", "æ": "ae", "œ": "oe",
                              "þ": "th", "ð": "d"})
"""Letters that carry their mark in the letter itself (NFKD leaves them whole): their base letters, so "Lukasz"
finds "Łukasz" and "Oystein" finds "Øystein"."""


def fold(text: str | None) -> str:
    """Return `text` case-folded, without accents (NFKD minus combining marks, BASE_LETTERS), spaces collapsed:
    "Zoë  O'Neil" is "zoe o'neil", "Straße" is "strasse", "Łukasz" is "lukasz"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().translate(BASE_LETTERS).split())


def like_escaped(text: str) -> str:
    """Return `text` with LIKE's wildcards (% and _) and the escape character escaped (use ESCAPE LIKE_ESCAPE)."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


FOLDED_MAX = 250


def folded_column(*sources: str) -> Any:
    """A `name_folded` field: `fold` of the `sources` columns joined by a space, indexed for search. Every ORM
    write keeps it (`keep_folded`); a Core insert that does not give it computes it (the column default)."""

    def default(context: Any) -> str:
        params = context.get_current_parameters()
        return fold(" ".join(str(params.get(s) or "") for s in sources))

    return Field(default="", max_length=FOLDED_MAX, nullable=False, index=True,
                 sa_column_kwargs={"server_default": "", "default": default})


def keep_folded(model: type, *sources: str, column: str = "name_folded") -> None:
    """Keep `model.<column>` equal to `fold` of its `sources` on every ORM insert and update (the domain's
    writes); registered once, beside the model."""

    def refresh(_mapper: Any, _connection: Any, target: Any) -> None:
        value = fold(" ".join(str(getattr(target, s) or "") for s in sources))[:FOLDED_MAX]
        if getattr(target, column, None) != value:
            setattr(target, column, value)

    event.listen(model, "before_insert", refresh)
    event.listen(model, "before_update", refresh)


def name_search(query: str, folded: Any, *codes: Any, others: tuple[Any, ...] = ()) -> tuple[Any, Any]:
    """Return `(where, rank)` SQL expressions for finding `query` (folded: case and accents ignored) in a folded
    name column, code columns and other text columns, portable to SQLite and PostgreSQL (a plain LIKE on
    folded text). A row matches when the name holds every word of the query, or a code or other column holds
    the query. `rank` orders near matches first: 0 the name or a code is the query; 1 the name or a code starts
    with it; 2 a later word of the name does; 3 anything else that matches."""
    q = fold(query)
    pattern = like_escaped(q)
    words = [like_escaped(w) for w in q.split()] or [pattern]
    lowered = [func.lower(c) for c in codes]
    name_has_all = and_(*(folded.like(f"%{w}%", escape=LIKE_ESCAPE) for w in words))
    where = or_(name_has_all, *(c.like(f"%{pattern}%", escape=LIKE_ESCAPE) for c in lowered),
                *(func.lower(o).like(f"%{pattern}%", escape=LIKE_ESCAPE) for o in others))
    rank = case(
        (or_(folded == q, *(c == q for c in lowered)), 0),
        (or_(folded.like(f"{pattern}%", escape=LIKE_ESCAPE), *(c.like(f"{pattern}%", escape=LIKE_ESCAPE)
                                                                 for c in lowered)), 1),
        (folded.like(f"% {pattern}%", escape=LIKE_ESCAPE), 2),
        else_=3)
    return where, rank
