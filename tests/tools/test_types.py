"""tools/types.py: cursors decode only to what the server issues, and no string of a tool input hides text
(control characters, ANSI escapes, bidirectional overrides), with line breaks only in long text fields."""

from __future__ import annotations

import base64
import json
import time
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.kernel.clock import EARLIEST_DATE, LATEST_DATE
from domain.kernel.errors import InvalidInput
from tools.types import (MAX_CURSOR, MAX_INPUT_CHARS, MAX_INPUT_DEPTH, MAX_INPUT_VALUES, SINGLE_LINE_CHARS, LongText,
                         Name, ToolInput, _is_multiline, check_argument_size, decode_cursor, encode_cursor)


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize("after", [1e300, 1e400, 2**31, 2**63, 10**400, -1, 1.0, "5", True, None, [1]])
def test_a_cursor_outside_what_the_server_issues_is_invalid_input_naming_cursor(after):
    with pytest.raises(InvalidInput, match="not one this server issued") as err:
        decode_cursor(_cursor({"after": after}))
    assert err.value.field == "cursor"


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.just("after"), inner)))
@settings(max_examples=200, deadline=None, database=None)
def test_any_decoded_cursor_is_an_issued_position_or_invalid_input(after):
    """Property: whatever JSON a cursor holds, decoding gives a position 0..MAX_CURSOR or InvalidInput (cursor),
    never another exception (1e300 gave an OverflowError further on, on 8be5377)."""
    try:
        position = decode_cursor(_cursor({"after": after}))
    except InvalidInput as exc:
        assert exc.field == "cursor"
    else:
        assert type(position) is int and 0 <= position <= MAX_CURSOR


@given(st.integers(0, MAX_CURSOR))
@settings(max_examples=50, deadline=None, database=None)
def test_issued_cursors_decode_to_their_position(position):
    assert decode_cursor(encode_cursor(position)) == position


class _Sample(ToolInput):
    name: Name
    note: LongText | None = None
    tags: list[Name] = []


@pytest.mark.parametrize(("field", "value", "words"), [
    ("name", "Bob\x00by", "control character (U+0000 at character 4)"),
    ("name", "\x1b[2JBobby", "control character (U+001B at character 1)"),
    ("name", "Bob\x9bby", "control character (U+009B"),
    ("name", "Bob\x7fby", "control character (U+007F"),
    ("name", "Bob\tby", "control character (U+0009"),
    ("name", "Bob\nby", "control character (U+000A"),
    ("name", "Bob\u202aby", "bidirectional override (U+202A"),
    ("name", "Bob\u202eby", "bidirectional override (U+202E"),
    ("name", "Bob\u2066by", "bidirectional override (U+2066"),
    ("name", "Bob\u2069by", "bidirectional override (U+2069"),
    ("note", "Line one\x1b[31m", "control character (U+001B"),
    ("note", "Line one\u202e", "bidirectional override (U+202E"),
    ("note", "Line\x00one", "control character (U+0000"),
    ("tags", ["ok", "bad\x00"], "control character (U+0000"),
])
def test_hidden_characters_are_refused_naming_the_field(field, value, words):
    args = {"name": "Bobby", field: value}
    with pytest.raises(ValidationError) as err:
        _Sample.model_validate(args)
    errors = err.value.errors()
    assert len(errors) == 1 and errors[0]["loc"][0] == field
    assert words in errors[0]["msg"]


def test_long_text_keeps_line_breaks_and_tabs_and_names_keep_unicode():
    sample = _Sample.model_validate({"name": "Zoë O'Brien-Nguyễn 李", "note": "Line one\r\n\tLine two\nדני"})
    assert sample.note == "Line one\r\n\tLine two\nדני" and sample.name == "Zoë O'Brien-Nguyễn 李"


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None, database=None)
def test_no_accepted_name_holds_a_control_or_bidi_character(text):
    """Property: a name that validates holds no Cc character and no bidi override or isolate."""
    try:
        name = _Sample.model_validate({"name": text}).name
    except ValidationError:
        return
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0x202A <= ord(c) <= 0x202E
                   or 0x2066 <= ord(c) <= 0x2069 for c in name)


class _Dated(ToolInput):
    on: date
    at: datetime | None = None


@pytest.mark.parametrize(("args", "field"), [
    ({"on": "0001-01-01"}, "on"), ({"on": "9999-12-31"}, "on"), ({"on": "1899-12-31"}, "on"),
    ({"on": "2200-01-01"}, "on"), ({"on": "2026-01-01", "at": "0001-01-01T00:00:00Z"}, "at"),
])
def test_dates_outside_the_business_range_are_refused(args, field):
    with pytest.raises(ValidationError) as err:
        _Dated.model_validate(args)
    (error,) = err.value.errors()
    assert error["loc"] == (field,)
    assert "outside the dates allowed, 1900-01-01 to 2199-12-31" in error["msg"]


def test_the_business_range_is_inclusive():
    assert _Dated.model_validate({"on": "1900-01-01", "at": "2199-12-31T23:59:59Z"}).on == EARLIEST_DATE
    assert _Dated.model_validate({"on": "2199-12-31"}).on == LATEST_DATE


def _nested(depth: int) -> dict:
    doc: dict = {}
    cursor = doc
    for _ in range(depth - 1):
        cursor["x"] = {}
        cursor = cursor["x"]
    return doc


@pytest.mark.parametrize(("arguments", "words"), [
    ({"document": _nested(5000)}, f"document nests more than {MAX_INPUT_DEPTH} levels deep"),
    ({"document": _nested(MAX_INPUT_DEPTH + 1)}, f"more than {MAX_INPUT_DEPTH} levels"),
    ({"document": {"rows": [[0] * 100] * (MAX_INPUT_VALUES // 100)}}, f"more than {MAX_INPUT_VALUES:,} values"),
    ({"document": {"text": "x" * (MAX_INPUT_CHARS + 1)}}, f"more than {MAX_INPUT_CHARS:,} characters"),
    ({"document": {"k" * (MAX_INPUT_CHARS + 1): 1}}, f"more than {MAX_INPUT_CHARS:,} characters"),
])
def test_oversized_arguments_are_refused_fast_naming_the_argument(arguments, words):
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match=words) as err:
        check_argument_size(arguments)
    assert time.perf_counter() - started < 0.5
    assert err.value.field == "document"


def test_arguments_within_the_bounds_pass():
    check_argument_size({"document": _nested(MAX_INPUT_DEPTH)})
    check_argument_size({"document": {"rows": [[0] * 99] * (MAX_INPUT_VALUES // 100 - 1)}, "text": "x" * 1000})


@given(st.recursive(st.integers() | st.text(max_size=3), lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=2), inner, max_size=3), max_leaves=200))
@settings(max_examples=200, deadline=None, database=None)
def test_the_size_check_refuses_exactly_what_exceeds_a_bound(document):
    """Property: check_argument_size refuses a document if and only if it nests deeper than MAX_INPUT_DEPTH."""
    def depth(value) -> int:
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        return 1 + max((depth(child) for child in children), default=0)

    if depth(document) > MAX_INPUT_DEPTH:
        with pytest.raises(InvalidInput):
            check_argument_size({"document": document})
    else:
        check_argument_size({"document": document})


class _Document(ToolInput):
    document: dict[str, Any]


@pytest.mark.parametrize("document", [{"name": "PAYG\x1b[2J"}, {"tables": [{"source": "ATO\u202e"}]},
                                      {"na\x00me": "PAYG"}])
def test_a_free_form_document_holds_no_hidden_character_either(document):
    with pytest.raises(ValidationError, match="must not contain") as err:
        _Document.model_validate({"document": document})
    assert err.value.errors()[0]["loc"] == ("document",)
    assert _Document.model_validate({"document": {"name": "PAYG", "tables": [{"source": "ATO"}]}})


def test_every_string_field_is_one_line_exactly_when_its_schema_says_at_most_254_characters():
    """Registry-driven: a tool's string field keeps line breaks exactly when its published maxLength is over
    SINGLE_LINE_CHARS, so the schema a client reads tells it which fields may hold several lines."""
    from tools.modules import all_modules
    from tools.registry import build_catalogue

    checked = 0
    for spec in build_catalogue(all_modules()).tools.values():
        for name, prop in spec.input_schema["properties"].items():
            options = prop.get("anyOf", [prop])
            lengths = [o["maxLength"] for o in options if "string" in (o.get("type") or []) and "maxLength" in o]
            if not lengths or spec.input_model.model_fields.get(name) is None:
                continue
            assert _is_multiline(spec.input_model, name) == (max(lengths) > SINGLE_LINE_CHARS), (spec.name, name)
            checked += 1
    assert checked > 100
