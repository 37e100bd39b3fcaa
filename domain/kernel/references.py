"""Matching what a person calls a record (a code, a name) to its id, with the closest matches on a miss.

Each context's `service.resolve_reference(session, kind, text, field=...)` fetches the `Candidate`s of a kind
and calls `pick`. Rules, in order:
1. a candidate whose code equals `text` (case and accents ignored: "e0042" is E0042);
2. else a candidate whose name or alias equals it ("Pablo Hernandez", "Hernández Pablo", "Term 1");
3. else, when `text` is all digits, the candidate with that id ("17");
Several matches at one step: the one in the current academic year (`current`) if only one is; otherwise
InvalidInput (ambiguous) listing them. No match: NotFound naming the field, what was expected and the closest
matches (codes and names). A reference never silently answers for another record.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field

from domain.kernel.errors import InvalidInput, NotFound
from domain.kernel.text import fold

MAX_SHOWN = 5


@dataclass(frozen=True)
class Candidate:
    """A record as a reference may name it: id, code, display name, other names people use, and whether it
    belongs to the current academic year (preferred when a code repeats across years, e.g. section 7A)."""

    id: int
    code: str
    name: str = ""
    aliases: tuple[str, ...] = dc_field(default=())
    current: bool = True

    def label(self, *, names: bool = True) -> str:
        """`E0042 Pablo Hernández (id 42)`; without the name when `names` is False."""
        plain = not names or not self.name or fold(self.name) == fold(self.code)
        return f"{self.code if plain else f'{self.code} {self.name}'} (id {self.id})"

    def shown(self, *, names: bool = True) -> dict[str, object]:
        """The candidate as an error's details list it: id, code and (when `names`) name."""
        return {"id": self.id, "code": self.code, **({"name": self.name} if names else {})}


def _narrow(found: list[Candidate]) -> list[Candidate]:
    if len(found) > 1:
        current = [c for c in found if c.current]
        if len(current) == 1:
            return current
    return found


def closest(candidates: Iterable[Candidate], text: str, *, limit: int = MAX_SHOWN) -> list[Candidate]:
    """Return up to `limit` candidates nearest to `text`: containing it or it them first, then by similarity."""
    key = fold(text)
    scored = []
    for cand in candidates:
        keys = [fold(cand.code), fold(cand.name), *(fold(a) for a in cand.aliases)]
        keys = [k for k in keys if k]
        contains = any(key in k or k in key for k in keys) if key else False
        ratio = max((difflib.SequenceMatcher(None, key, k).ratio() for k in keys), default=0.0)
        if contains or ratio >= 0.5:
            scored.append((not contains, -ratio, cand.id, cand))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored[:limit]]


def pick(candidates: Sequence[Candidate], text: str, *, field: str, kind: str, expected: str,
         names: bool = True) -> int:
    """Return the id of the one candidate `text` names (see the module's rules).

    `kind` names the record ("employee"), `expected` what a reference looks like ("an employee id or code like
    E0042"). Raises NotFound (no match) or InvalidInput (ambiguous), both naming `field` and listing the
    candidates they mean by code, and by name too unless `names` is False (a caller who may not list that kind's
    records is not shown the names of people it could not look up)."""
    key = fold(text)
    by_code = [c for c in candidates if fold(c.code) == key]
    found = _narrow(by_code)
    if not found:
        by_name = [c for c in candidates if key and (fold(c.name) == key or any(fold(a) == key for a in c.aliases))]
        found = _narrow(by_name)
    if not found and key.isdigit():
        found = [c for c in candidates if c.id == int(key)]
    if len(found) == 1:
        return found[0].id
    if found:
        shown = "; ".join(c.label(names=names) for c in found[:MAX_SHOWN])
        more = f" and {len(found) - MAX_SHOWN} more" if len(found) > MAX_SHOWN else ""
        raise InvalidInput(f"{field}: {text!r} matches {len(found)} {kind}s: {shown}{more}; pass the id or the "
                           f"code of the one you mean ({expected})", field=field,
                           details={"matches": [c.shown(names=names) for c in found]})
    near = closest(candidates, text)
    hint = ("closest: " + "; ".join(c.label(names=names) for c in near)) if near else (
        f"there are {len(candidates)} {kind}s and none is close" if candidates else f"there is no {kind} yet")
    raise NotFound(f"{field}: no {kind} has the code or name {text!r}; expected {expected}; {hint}", field=field,
                   details={"closest": [c.shown(names=names) for c in near]})
