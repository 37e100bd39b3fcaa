"""Compact JSON Schemas for the published catalogue: each thing said once.

pydantic's schemas say a lot that a reader of `tools/list` pays for and learns nothing from. `compact` rewrites
one (into a new dict) as a smaller JSON Schema (2020-12) that accepts and refuses the same inputs:

- no `title` (pydantic derives one from every field and model name: "Student Id" for `student_id`);
- `anyOf: [X, {"type": "null"}]` becomes `"type": [X's types..., "null"]` when X is a plain typed schema (an
  `enum` gains `null`): JSON Schema's one-key "or null"; a `$ref` or a union keeps its `anyOf`. When both the
  field and its type carry a description, the field's is kept: the type's is the same on every such field;
- no `"default": null` (an optional input left out is null anyway) and no `additionalProperties: true` (the
  JSON Schema default);
- only the `$defs` the schema still references (following refs between defs);
- no description at the root: it is the input or output model's docstring, and the tool's description says
  what the tool takes and answers.

An output schema (`output=True`) is the shape of the answer, for the clients that validate or type a result
(no LLM API takes an output schema: Anthropic's tools and OpenAI's functions have an input schema only, so a
model reads what an answer means in the tool's description, where it is said once). It keeps every type,
nullability, enum, format and nesting, and drops what only repeats: field descriptions, defaults, and
`required` (the server sends every field of an answer, null where the type allows it, so `required` only
listed the property names again).

Every keyword of an input schema that validates (type, enum, const, format, pattern, minimum, maximum,
minLength, maxLength, minItems, maxItems, required, additionalProperties: false, items, $ref) is kept; the
tools validate their input with pydantic, not with these schemas, so nothing a tool accepts changes.
"""

from __future__ import annotations

from typing import Any

_SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
                  "unevaluatedProperties", "unevaluatedItems")
_NOT_MERGEABLE = ("$ref", "anyOf", "oneOf", "allOf", "const", "not")


def compact(schema: dict[str, Any], *, output: bool = False) -> dict[str, Any]:
    """Return `schema` without titles, empty defaults and unused `$defs`, its nullable unions in one key; with
    `output`, the answer's shape only (no descriptions, defaults or `required`)."""
    root = _compact(schema, output=output)
    root.pop("description", None)  # the model's docstring: the tool's description says what the tool takes
    if "$defs" in root:
        used = _used_defs(root)
        root["$defs"] = {name: sub for name, sub in root["$defs"].items() if name in used}
        if not root["$defs"]:
            del root["$defs"]
    return root


def _compact(node: Any, *, output: bool) -> Any:
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" or (key == "additionalProperties" and value is True):
            continue
        if key == "default" and (output or value is None):
            continue
        if output and key in ("description", "required"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _compact(sub, output=output) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_compact(sub, output=output) for sub in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = _compact(value, output=output)
        else:
            out[key] = value
    return _nullable_in_one_key(out)


def _nullable_in_one_key(node: dict[str, Any]) -> dict[str, Any]:
    """`{"anyOf": [{"type": T, ...}, {"type": "null"}], ...}` -> `{"type": [T, "null"], ..., ...}`."""
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    other = options[0] if options[1] == {"type": "null"} else options[1]
    kind = other.get("type")
    if not isinstance(kind, str | list) or any(key in other for key in _NOT_MERGEABLE):
        return node
    rest = {key: value for key, value in node.items() if key != "anyOf"}
    if (set(rest) & set(other)) - {"description"}:
        return node
    # The field's own description (outside) says what it is here; the type's (inside: "Integer minor units ...")
    # is the same on every field of that type, so the field's wins.
    merged = {**other, "type": [*(kind if isinstance(kind, list) else [kind]), "null"], **rest}
    if "enum" in merged:
        merged["enum"] = [*merged["enum"], None]
    return merged


def _used_defs(root: dict[str, Any]) -> set[str]:
    """The `$defs` names reachable by `$ref` from the schema outside `$defs`, following refs inside defs."""
    defs = root.get("$defs", {})
    used: set[str] = set()
    pending = _refs({key: value for key, value in root.items() if key != "$defs"})
    while pending:
        name = pending.pop()
        if name in used or name not in defs:
            continue
        used.add(name)
        pending |= _refs(defs[name])
    return used


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.add(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found
