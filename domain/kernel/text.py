"""Text folding for name search and references: case and accents do not matter ("Hernandez" is "Hernández").

`fold` is the one definition, used both to maintain the folded columns (students.name_folded, ...) on every
write and to fold what a caller typed, so SQLite and PostgreSQL compare the same strings with a plain LIKE.
"""

from __future__ import annotations

import unicodedata

LIKE_ESCAPE = "\\"


def fold(text: str | None) -> str:
    """Return `text` case-folded, without accents (NFKD minus combining marks), spaces collapsed: "Zoë  O'Neil"
    is "zoe o'neil", "Straße" is "strasse"."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def like_escaped(text: str) -> str:
    """Return `text` with LIKE's wildcards (% and _) and the escape character escaped (use ESCAPE LIKE_ESCAPE)."""
    return (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))
