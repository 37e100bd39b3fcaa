"""Salary formulas: exact arithmetic, the allowed constructs, and everything else refused with a clear error."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.kernel.errors import InvalidInput
from domain.payroll.formula import Formula

F = Fraction
PROPERTY = settings(max_examples=80, deadline=None, database=None)


def run(text: str, **values) -> Fraction:
    """Compile and evaluate `text` with the given values."""
    return Formula.compile(text).evaluate({k: F(v) for k, v in values.items()})


# ---------------------------------------------------------------- exact arithmetic


def test_decimal_literals_are_exact():
    assert run("0.1 + 0.2") == F(3, 10)  # the float sum is 0.30000000000000004
    assert run("base * 0.07", base=100) == 7  # the float product is 7.000000000000001
    assert run("base * 0.05", base=12_345) == F(12_345, 20)


@pytest.mark.parametrize(("text", "expected"), [
    ("1_000", F(1000)), ("2e3", F(2000)), ("1.5E-2", F(3, 200)), (".5", F(1, 2)), ("10.", F(10)),
    ("0.000001", F(1, 10**6)), ("-0.25", F(-1, 4)), ("+3", F(3)),
])
def test_literal_forms(text, expected):
    assert run(text) == expected


@given(base=st.integers(0, 10**10), literal=st.decimals(min_value=0, max_value=1000, places=4))
@PROPERTY
def test_base_times_a_literal_equals_decimal_arithmetic(base, literal):
    text = f"base * {literal}"
    assert run(text, base=base) == F(base) * F(literal)


def test_division_is_exact_not_float():
    assert run("base * payment_days / working_days", base=650_000, payment_days=20, working_days=21) == \
        F(650_000 * 20, 21)


def test_functions_and_conditions():
    assert run("max(0, base - 100000) * 0.02", base=150_000) == 1000
    assert run("max(0, base - 100000) * 0.02", base=90_000) == 0
    assert run("min(base * 0.12, 180000)", base=2_000_000) == 180_000
    assert run("abs(a - b)", a=3, b=10) == 7
    assert run("max(a, b, c)", a=1, b=7, c=3) == 7
    assert run("a * 0.1 if a < 1000 else 100", a=500) == 50
    assert run("a * 0.1 if a < 1000 else 100", a=5000) == 100
    assert run("1 if 0 < a <= 10 and not (b == 3) else 2", a=10, b=4) == 1
    assert run("1 if 0 < a <= 10 and not (b == 3) else 2", a=10, b=3) == 2
    assert run("1 if a > 5 or b != 0 else 0", a=0, b=0) == 0


def test_names_are_collected_without_function_names():
    formula = Formula.compile("max(0, base - 100000) * 0.02 + BASIC if ytd_gross < 5 else 0")
    assert formula.names == {"base", "BASIC", "ytd_gross"}


# ---------------------------------------------------------------- refused when compiled


@pytest.mark.parametrize(("text", "words"), [
    ("base ** 2", "operator ** is not allowed"),
    ("base // 2", "operator // is not allowed"),
    ("base % 2", "operator % is not allowed"),
    ("base & 1", "operator & is not allowed"),
    ("~base", "operator ~ is not allowed"),
    ("base.real", "attribute access"),
    ("base[0]", "subscripts"),
    ("'text'", "literal 'text' is not allowed"),
    ("True", "literal True is not allowed"),
    ("None", "literal None is not allowed"),
    ("1j", "complex number"),
    ("round(base)", "rounding is done by the payroll engine"),
    ("int(base)", "function int() is not allowed"),
    ("__import__('os')", "function __import__() is not allowed"),
    ("base.__class__.__bases__", "attribute access"),
    ("(lambda: 1)()", "calling"),
    ("lambda: 1", "lambda"),
    ("[1, 2]", "lists"),
    ("(1, 2)", "tuples"),
    ("{1: 2}", "dicts"),
    ("[x for x in base]", "comprehensions"),
    ("f'{base}'", "f-strings"),
    ("(base := 1)", "assignment"),
    ("max(base)", "max() takes 2 or more argument(s), got 1"),
    ("abs(base, 1)", "abs() takes exactly 1 argument(s), got 2"),
    ("max(base, 1, key=base)", "takes no keyword arguments"),
    ("max(*base)", "unpacking"),
    ("base in ytd_gross", "comparison 'in' is not allowed"),
    ("base is 1", "comparison 'is' is not allowed"),
    ("base > 100", "is a condition (true/false), but an amount is needed"),
    ("1 if base else 2", "is an amount, but a condition is needed"),
    ("base and 1", "is a condition"),
    ("1 if base > 0 and 5 else 2", "'5' is an amount, but a condition is needed"),
    ("not base", "is a condition"),
    ("1 if not base else 2", "'base' is an amount"),
    ("(base > 1) * 100", "is a condition (true/false), but an amount is needed"),
    ("max(base > 1, 2)", "is a condition"),
])
def test_forbidden_constructs_are_refused(text, words):
    with pytest.raises(InvalidInput) as err:
        Formula.compile(text, where="component PF", field_name="expression")
    assert err.value.field == "expression"
    assert err.value.message.startswith("component PF: ")
    assert words in err.value.message
    assert "a formula may use numbers" in err.value.message  # and says what is allowed


@pytest.mark.parametrize("text", ["base +", "base = 1", "import os", "base; 1", "if base: 1", "base base"])
def test_syntax_errors_are_refused(text):
    with pytest.raises(InvalidInput) as err:
        Formula.compile(text, where="component HRA")
    assert err.value.message.startswith("component HRA: ")
    assert "is not a valid formula" in err.value.message


@pytest.mark.parametrize("text", ["", "   ", None, 12, b"base"])
def test_empty_or_non_text_formulas_are_refused(text):
    with pytest.raises(InvalidInput) as err:
        Formula.compile(text)
    assert err.value.field == "formula"


def test_overlong_and_deeply_nested_formulas_are_refused():
    with pytest.raises(InvalidInput) as err:
        Formula.compile("1 + " * 300 + "1")
    assert "at most 1000" in err.value.message
    with pytest.raises(InvalidInput):
        Formula.compile("-" * 990 + "1")
    with pytest.raises(InvalidInput):
        Formula.compile("(" * 300 + "1" + ")" * 300)


# ---------------------------------------------------------------- refused when evaluated


def test_division_by_zero_names_the_values():
    formula = Formula.compile("base / overtime_hours", where="component OT")
    with pytest.raises(InvalidInput) as err:
        formula.evaluate({"base": F(10), "overtime_hours": F(0)}, where="component OT")
    assert "divides by zero" in err.value.message and "overtime_hours=0" in err.value.message


def test_missing_names_are_reported():
    with pytest.raises(InvalidInput) as err:
        Formula.compile("a + b").evaluate({"a": F(1)})
    assert "no value for b" in err.value.message


@pytest.mark.parametrize("value", [0.5, True, "1", None])
def test_inexact_values_are_refused(value):
    with pytest.raises(InvalidInput) as err:
        Formula.compile("a * 2").evaluate({"a": value})
    assert "exact number" in err.value.message


def test_decimal_and_int_values_are_accepted():
    assert Formula.compile("a * b").evaluate({"a": Decimal("1.5"), "b": 3}) == F(9, 2)
