"""finance.rules.check_line_shapes against the rule it states, restated here independently: whatever a line holds
(ints, bools, floats, text, negatives, amounts past the maximum, memos), it accepts exactly the entries the rule
allows, and names the first bad line's field. (Its fast path for the common line must never accept more.)"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.finance.rules import MAX_AMOUNT, MAX_LINE_MEMO, LineInput, check_line_shapes
from domain.kernel.errors import InvalidInput

_values = st.one_of(st.integers(-5, 5), st.sampled_from([0, 1, MAX_AMOUNT, MAX_AMOUNT + 1, True, False, 1.0, "7"]))
_memos = st.one_of(st.none(), st.sampled_from(["", "rent", " ", "x" * MAX_LINE_MEMO, "x" * (MAX_LINE_MEMO + 1)]))
_lines = st.builds(LineInput, account_id=_values, debit=_values, credit=_values,
                   department_id=st.one_of(st.none(), _values), memo=_memos)


def _bad_field(lines: list[LineInput]) -> str | None:
    """The rule: every line has a positive integer account id (and department id when given; bools are not
    ids), integer debit and credit from 0 to MAX_AMOUNT with exactly one above 0, and a memo the text check takes.
    Returns the first offending line's field prefix, or None when the entry is well formed."""
    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for index, line in enumerate(lines):
        if not (is_int(line.account_id) and line.account_id >= 1):
            return f"lines.{index}.account_id"
        if line.department_id is not None and not (is_int(line.department_id) and line.department_id >= 1):
            return f"lines.{index}.department_id"
        for name in ("debit", "credit"):
            value = getattr(line, name)
            if not (is_int(value) and 0 <= value <= MAX_AMOUNT):
                return f"lines.{index}.{name}"
        if (line.debit > 0) == (line.credit > 0):
            return f"lines.{index}"
        if line.memo is not None and (not line.memo.strip() or len(line.memo.strip()) > MAX_LINE_MEMO):
            return f"lines.{index}.memo"
    return None


@settings(max_examples=500, deadline=None)
@given(st.lists(_lines, min_size=2, max_size=4))
def test_check_line_shapes_accepts_exactly_what_the_rule_allows(lines):
    expected = _bad_field(lines)
    if expected is None:
        check_line_shapes(lines)
    else:
        with pytest.raises(InvalidInput) as caught:
            check_line_shapes(lines)
        assert caught.value.field == expected, (caught.value.field, expected, caught.value.message)
