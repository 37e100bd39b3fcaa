"""Compact JSON Schemas for the published catalogue: each thing said once.

pydantic's schemas say a lot that a reader of `tools/list` pays for and learns nothing from. `compact` rewrites
one (into a new dict) as a smaller JSON Schema (2020-12) that accepts and refuses the same inputs:

- no `title` (pydantic derives one from every field and model name: "Student Id" for `student_id`);
- `anyOf: [X, {"type": "null"}]` becomes `"type": [X's types..., "null"]` when X is a plain typed schema (an
  `enum` gains `null`): JSON Schema's one-key "or null"; a `$ref` or a union keeps its `anyOf`. When both the
  field and its type carry a description, the field's is kept: the type's is the same on every such field;
- no `"default": null` (an optional input left out is null anyway) and no `additionalProperties: true` (the
  JSON Schema default);
- a `$defs` entry referenced once is put in place of its `$ref` (only what is shared stays in `$defs`), and
  only the `$defs` the schema still references are kept (following refs between defs);
- no description at the root: it is the input or output model's docstring, and the tool's description says
  what the tool takes and answers.

An output schema (`output=True`) is the shape of the answer, for the clients that validate or type a result
(no LLM API takes an output schema: Anthropic's tools and OpenAI's functions have an input schema only, so a
model reads what an answer means in the tool's description, where it is said once). It keeps every type,
nullability, enum, format and nesting, and drops what only repeats: field descriptions, defaults,
`required` (the server sends every field of an answer, null where the type allows it, so `required` only
listed the property names again), and `"type": "object"` on a nested schema that has `properties` (an answer's
nested value is always an object there; the root keeps its type, as MCP requires).

Every keyword of an input schema that validates (type, enum, const, format, pattern, minimum, maximum,
minLength, maxLength, minItems, maxItems, required, additionalProperties: false, items, $ref) is kept; the
tools validate their input with pydantic, not with these schemas, so nothing a tool accepts changes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_SCHEMA_MAPS = ("properties", "$defs", "patternProperties", "dependentSchemas")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
                  "unevaluatedProperties", "unevaluatedItems")
_NOT_MERGEABLE = ("$ref", "anyOf", "oneOf", "allOf", "const", "not")
_ANNOTATIONS = {"description", "title", "default", "examples"}


def compact(schema: dict[str, Any], *, output: bool = False) -> dict[str, Any]:
    """Return `schema` without titles, empty defaults and unused `$defs`, its nullable unions in one key; with
    `output`, the answer's shape only (no descriptions, defaults, `required`, or nested `"type": "object"`)."""
    root = _compact(_inline_single_use(schema), output=output)
    if output:
        kind = root.get("type")
        root = _untyped_objects(root)
        root["type"] = kind if kind is not None else "object"
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


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """Put each `$defs` entry referenced once (and not by itself) in place of its `$ref`: only what is shared
    stays shared. The field's keywords beside the `$ref` (its description) win over the def's."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict) or not defs:
        return schema
    counts = Counter(_ref_list({key: value for key, value in schema.items() if key != "$defs"}))
    for sub in defs.values():
        counts.update(_ref_list(sub))
    once = {name for name in defs if counts[name] == 1 and name not in _reachable(name, defs)}
    inlined: set[str] = set()

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(value) for value in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        name = ref.removeprefix("#/$defs/") if isinstance(ref, str) else None
        if name in once:
            beside = {key: value for key, value in node.items() if key != "$ref"}
            target = inline(defs[name])
            if not (set(beside) & set(target)) - _ANNOTATIONS:
                inlined.add(name)
                return {**target, **beside}
        return {key: inline(value) for key, value in node.items()}

    out = {key: inline(value) for key, value in schema.items() if key != "$defs"}
    kept = {name: inline(sub) for name, sub in defs.items()}
    kept = {name: sub for name, sub in kept.items() if name not in inlined}
    return {"$defs": kept, **out} if kept else out


def _reachable(name: str, defs: dict[str, Any]) -> set[str]:
    """The defs reachable by `$ref` from def `name` (it is among them when it is recursive)."""
    seen: set[str] = set()
    pending = set(_ref_list(defs[name]))
    while pending:
        current = pending.pop()
        if current in seen or current not in defs:
            continue
        seen.add(current)
        pending |= set(_ref_list(defs[current]))
    return seen


def _ref_list(node: Any) -> list[str]:
    """The `$defs` names `node` references, once per `$ref`."""
    found: list[str] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            found.append(ref.removeprefix("#/$defs/"))
        for value in node.values():
            found += _ref_list(value)
    elif isinstance(node, list):
        for value in node:
            found += _ref_list(value)
    return found


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
    return set(_ref_list(node))


def _untyped_objects(node: Any) -> Any:
    """`node` without `"type": "object"` wherever `properties` is beside it (output schemas only)."""
    if isinstance(node, list):
        return [_untyped_objects(value) for value in node]
    if not isinstance(node, dict):
        return node
    out = {key: _untyped_objects(value) for key, value in node.items()}
    if out.get("type") == "object" and "properties" in out:
        del out["type"]
    return out
