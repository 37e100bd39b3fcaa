"""Safe, exact formulas for salary components: parsed and checked once, evaluated as a tree of closures.

A formula is one arithmetic expression over named values, for example
`max(0, base - 100000) * 0.02` or `BASIC * 0.12 if BASIC < 1500000 else 180000`. What is allowed:

- numbers: integer and decimal literals (`12`, `0.05`, `1_000`, `2e3`); every literal is read from its own text
  as an exact `Fraction`, so `0.05` is exactly 1/20, never the float 0.05000000000000000277;
- names: only those the caller allows (the structure decides: `base`, `payment_days`, earlier components'
  codes, `ytd_gross`, ...); every value is an exact Fraction;
- arithmetic: `+ - * /`, unary `-` and `+`, parentheses;
- `min(a, b, ...)` and `max(a, b, ...)` (two arguments or more) and `abs(a)`;
- conditions: comparisons `< <= > >= == !=` (chains such as `0 < x <= 10` too), joined with `and`, `or`,
  `not`, used only as the test of `value if condition else other`.

Everything else is refused when the formula is compiled, with an InvalidInput that names the component, the
construct and what is allowed: attribute access, subscripts, strings, `**`, `//`, `%`, bit operations,
lambdas, comprehensions, keyword arguments, other functions (`round` too: rounding is the payroll engine's
job, once per line), and a condition where an amount is expected (or the reverse).

Bounds, so that no formula is expensive to check or to evaluate (a formula is compiled when a structure is
created and again, with the same checks, at every calculation; domain.payroll.service does both in a worker
thread, never on the event loop, and the bounds keep each cheap besides):

- at most MAX_FORMULA_CHARS (1,000) characters and MAX_FORMULA_NODES (400) operations, names and numbers; evaluation visits
  each node at most once, so it takes at most 400 steps;
- a number literal has at most MAX_LITERAL_DIGITS (18) significant digits, at most MAX_LITERAL_PLACES (12)
  decimal places and is below 10**MAX_LITERAL_MAGNITUDE (10^15); it is checked on its text before it is turned
  into a Fraction (`1e10000000` would otherwise be a 33-million-bit integer);
- every intermediate value (and every value given by name) is a Fraction whose numerator and denominator have at
  most MAX_VALUE_BITS (1,024) bits; an operation giving more stops the evaluation.

So one evaluation is at most 400 arithmetic operations on integers of at most 2,048 bits: under a millisecond
(0.4 ms for the slowest 1,000-character formula we built), which tests/domain/test_payroll_formula.py checks by
counting steps and bits over random formulas.

Evaluation: our own check of the syntax tree runs first and admits only the constructs listed above; the checked
tree is then turned, once, into a tree of small functions (`_build`), one per node, with simpleeval's semantics
(https://github.com/danthedeckie/simpleeval, which evaluated formulas here before: walking the tree on every
evaluation cost 25 us a formula, 0.75 s of a 10,000-employee payroll's three formulas each). Nothing is ever
handed to Python's `eval`.

`Formula.evaluate(..., as_ratio=True)`, which the payroll engine calls, evaluates the same tree a second way
(`_build_ratio`): on each value's own integers, (numerator, denominator) in lowest terms with the denominator above
0, which is what a Fraction holds, without making a Fraction per operation (Python's fractions module is pure
Python). Each operation gives the integers of the Fraction the first way gives (reduced by their gcd), the same
bound is checked on them, and comparisons, min, max and the short-circuits are the same; anything it does not take
on (a value that is not an int or a Fraction, a missing name, a division by zero, a value over the bound) is
evaluated the first way, which gives the value or the error. A property test checks the two ways agree on random
formulas (tests/domain/test_payroll_formula.py).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from math import gcd
from typing import Any, Literal, overload


from domain.kernel.errors import InvalidInput

MAX_FORMULA_CHARS = 1000
MAX_FORMULA_NODES = 400
MAX_LITERAL_DIGITS = 18
MAX_LITERAL_PLACES = 12
MAX_LITERAL_MAGNITUDE = 15
MAX_VALUE_BITS = 1024
FUNCTIONS: dict[str, tuple[int, int | None]] = {"min": (2, None), "max": (2, None), "abs": (1, 1)}
"""The functions a formula may call, with their (fewest, most) positional arguments."""

_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_COMPARISONS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_FORBIDDEN_OPERATORS = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@",
                        ast.LShift: "<<", ast.RShift: ">>", ast.BitAnd: "&", ast.BitOr: "|",
                        ast.BitXor: "^", ast.Invert: "~", ast.In: "in", ast.NotIn: "not in",
                        ast.Is: "is", ast.IsNot: "is not"}
_ALLOWED = ("numbers, allowed names, + - * /, parentheses, min(...), max(...), abs(...), and "
            "'value if condition else other' with comparisons (< <= > >= == !=) joined by and/or/not")

_OPERATORS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_FUNCTIONS = {"min": min, "max": max, "abs": abs}


class _TooLarge(Exception):
    """An intermediate value of an evaluation exceeded MAX_VALUE_BITS."""

    def __init__(self, value: Fraction):
        super().__init__(value)
        self.value = value


def _bits(value: object) -> int:
    if isinstance(value, Fraction):
        return max(value.numerator.bit_length(), value.denominator.bit_length())
    if isinstance(value, int):
        return value.bit_length()
    return 0  # a truth value


def _bounded(op):
    """`op`, refusing a result whose numerator or denominator exceeds MAX_VALUE_BITS."""

    def run(*args):
        result = op(*args)
        if _bits(result) > MAX_VALUE_BITS:
            raise _TooLarge(result)
        return result

    run.__name__ = getattr(op, "__name__", "op")
    return run


_OPERATORS = {key: _bounded(op) for key, op in _OPERATORS.items()}
_FUNCTIONS = {name: _bounded(fn) for name, fn in _FUNCTIONS.items()}


def _fail(where: str, problem: str, field_name: str) -> InvalidInput:
    return InvalidInput(f"{where}: {problem}", field=field_name)


def _describe(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access (a.b)", ast.Subscript: "subscripts (a[b])", ast.Lambda: "lambda",
        ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
        ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
        ast.GeneratorExp: "generators", ast.JoinedStr: "f-strings", ast.NamedExpr: "assignment (:=)",
        ast.Starred: "* unpacking", ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield",
        ast.Slice: "slices",
    }
    return names.get(type(node), type(node).__name__)


class _Checker:
    """Walks a parsed formula, refuses what is not allowed and turns numeric literals into Fractions.

    Each node is checked for what it yields: an amount (a number) or a condition (true/false); an amount
    is expected at the top, in arithmetic and in function arguments, a condition only as the test of
    `x if test else y` and inside and/or/not.
    """

    def __init__(self, text: str, where: str, field_name: str):
        self.text = text
        self.where = where
        self.field = field_name
        self.names: set[str] = set()

    def fail(self, problem: str) -> InvalidInput:
        return _fail(self.where, f"{problem}; a formula may use {_ALLOWED}", self.field)

    def _check_comparison_ops(self, node: ast.expr) -> None:
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) not in _COMPARISONS:
                    raise self.fail(f"comparison '{_FORBIDDEN_OPERATORS.get(type(op), type(op).__name__)}' "
                                    "is not allowed")

    def amount(self, node: ast.expr) -> ast.expr:
        self._check_comparison_ops(node)
        if self._is_condition(node):
            raise self.fail(f"'{ast.unparse(node)}' is a condition (true/false), but an amount is needed "
                            "here; use it as 'value if condition else other'")
        return self.visit(node)

    def condition(self, node: ast.expr) -> ast.expr:
        if not self._is_condition(node):
            raise self.fail(f"'{ast.unparse(node)}' is an amount, but a condition is needed here; compare "
                            "it, e.g. 'x > 0'")
        return self.visit(node)

    @staticmethod
    def _is_condition(node: ast.expr) -> bool:
        return (isinstance(node, (ast.Compare, ast.BoolOp))
                or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)))

    def visit(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            self.names.add(node.id)
            return node
        if isinstance(node, ast.BinOp):
            if type(node.op) not in _ARITHMETIC:
                raise self.fail(f"operator {_FORBIDDEN_OPERATORS.get(type(node.op), type(node.op).__name__)} "
                                "is not allowed")
            node.left = self.amount(node.left)
            node.right = self.amount(node.right)
            return node
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                node.operand = self.condition(node.operand)
                return node
            if isinstance(node.op, (ast.USub, ast.UAdd)):
                node.operand = self.amount(node.operand)
                return node
            raise self.fail(f"operator {_FORBIDDEN_OPERATORS.get(type(node.op), type(node.op).__name__)} "
                            "is not allowed")
        if isinstance(node, ast.Compare):
            self._check_comparison_ops(node)
            node.left = self.amount(node.left)
            node.comparators = [self.amount(c) for c in node.comparators]
            return node
        if isinstance(node, ast.BoolOp):
            node.values = [self.condition(v) for v in node.values]
            return node
        if isinstance(node, ast.IfExp):
            node.test = self.condition(node.test)
            node.body = self.amount(node.body)
            node.orelse = self.amount(node.orelse)
            return node
        if isinstance(node, ast.Call):
            return self._call(node)
        raise self.fail(f"{_describe(node)} is not allowed")

    def _constant(self, node: ast.Constant) -> ast.Constant:
        value = node.value
        if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
            raise self.fail(f"the literal {value!r} is not allowed; only numbers are")
        if isinstance(value, complex):
            raise self.fail(f"the complex number {ast.unparse(node)} is not allowed")
        # Read the literal's own text, so that 0.05 is exactly 1/20; check its size before making it a Fraction.
        source = ast.get_source_segment(self.text, node) or repr(value)
        try:
            # An int literal (0x10 too) is exact already; Python refuses one of over 4,300 digits when parsing.
            decimal = Decimal(value) if isinstance(value, int) else Decimal(source.replace("_", ""))
        except (InvalidOperation, ValueError):  # pragma: no cover - ast only gives int and float literals here
            raise self.fail(f"the number {source!r} cannot be read exactly") from None
        self._check_literal(source, decimal)
        return ast.copy_location(ast.Constant(Fraction(decimal)), node)

    def _check_literal(self, source: str, decimal: Decimal) -> None:
        """Refuse a literal over the bounds (see the module docstring), reading only its digits and exponent."""
        _, digits, exponent = decimal.as_tuple()
        assert isinstance(exponent, int)  # not NaN or infinity: ast gives only finite literals
        significant = list(digits)
        while len(significant) > 1 and significant[-1] == 0:  # 1000 and 1e3 are one significant digit
            significant.pop()
            exponent += 1
        if significant == [0]:
            return
        shown = source if len(source) <= 40 else source[:37] + "..."
        if len(significant) > MAX_LITERAL_DIGITS:
            raise _fail(self.where, f"the number {shown} has {len(significant)} significant digits; at most "
                        f"{MAX_LITERAL_DIGITS} are allowed", self.field)
        if exponent < -MAX_LITERAL_PLACES:
            raise _fail(self.where, f"the number {shown} has {-exponent} decimal places; at most "
                        f"{MAX_LITERAL_PLACES} are allowed", self.field)
        if exponent + len(significant) > MAX_LITERAL_MAGNITUDE:
            raise _fail(self.where, f"the number {shown} is too large; a number must be below "
                        f"10^{MAX_LITERAL_MAGNITUDE}", self.field)

    def _call(self, node: ast.Call) -> ast.Call:
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"calling '{ast.unparse(node.func)}' is not allowed; the functions are "
                            f"{', '.join(FUNCTIONS)}")
        name = node.func.id
        if name not in FUNCTIONS:
            extra = " (rounding is done by the payroll engine, once per line)" if name == "round" else ""
            raise self.fail(f"function {name}() is not allowed{extra}; the functions are "
                            f"{', '.join(FUNCTIONS)}")
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise self.fail(f"* unpacking is not allowed in {name}()")
        fewest, most = FUNCTIONS[name]
        count = len(node.args)
        if count < fewest or (most is not None and count > most):
            wanted = f"exactly {fewest}" if most == fewest else f"{fewest} or more"
            raise self.fail(f"{name}() takes {wanted} argument(s), got {count}")
        node.args = [self.amount(a) for a in node.args]
        return node


Evaluator = Callable[[Mapping[str, Fraction]], object]


def _short_circuit(parts: list[Callable[[Mapping[str, Any]], Any]], conjunction: bool) -> Callable:
    """`and` (conjunction) or `or` of compiled parts, as Python evaluates them: the first falsy (truthy) part's value
    ends it, else the last part's; shared by the Fraction and the pair evaluators."""
    if conjunction:
        def all_of(names: Mapping[str, Any]) -> object:
            value: object = False
            for part in parts:
                value = part(names)
                if not value:
                    return value
            return value
        return all_of

    def any_of(names: Mapping[str, Any]) -> object:
        value: object = False
        for part in parts:
            value = part(names)
            if value:
                return value
        return value
    return any_of


def _chained(first: Callable[[Mapping[str, Any]], Any],
             steps: list[tuple[Callable[[Any, Any], Any], Callable[[Mapping[str, Any]], Any]]]) -> Callable:
    """A chained comparison (`a < b <= c`) of compiled operands, as Python evaluates it: each operand once, stopping
    at the first false step; shared by the Fraction and the pair evaluators (each with its own comparisons)."""
    def compare(names: Mapping[str, Any]) -> object:
        right = first(names)
        result: object = True
        for op, comparator in steps:
            if not result:
                break
            left, right = right, comparator(names)
            result = op(left, right)
        return result
    return compare


def _build(node: ast.expr, observe: Callable[[object], None] | None = None) -> Evaluator:
    """Turn a checked tree (only the constructs `_Checker` admits) into a function of the names' values.

    Built once per formula: a payroll of 10,000 employees evaluates 30,000 formulas, and walking the tree per
    evaluation (as simpleeval does) took 25 us each, a closure tree 3 us. Semantics are simpleeval's: comparisons
    chain and stop at the first false one, `and`/`or` stop at the first deciding value, `x if c else y`
    evaluates only the branch taken; every arithmetic result and function result is bounded (MAX_VALUE_BITS).
    `observe`, when given, is called with every node's value (tests count steps and bits with it)."""
    def wrap(fn: Evaluator) -> Evaluator:
        if observe is None:
            return fn

        def observed(names: Mapping[str, Fraction]) -> object:
            value = fn(names)
            observe(value)
            return value
        return observed

    if isinstance(node, ast.Constant):
        constant = node.value
        return wrap(lambda names: constant)
    if isinstance(node, ast.Name):
        name = node.id
        return wrap(lambda names: names[name])
    if isinstance(node, ast.BinOp):
        op = _OPERATORS[type(node.op)]
        left, right = _build(node.left, observe), _build(node.right, observe)
        return wrap(lambda names: op(left(names), right(names)))
    if isinstance(node, ast.UnaryOp):
        unary = _OPERATORS[type(node.op)]
        operand = _build(node.operand, observe)
        return wrap(lambda names: unary(operand(names)))
    if isinstance(node, ast.BoolOp):
        return wrap(_short_circuit([_build(v, observe) for v in node.values], isinstance(node.op, ast.And)))
    if isinstance(node, ast.Compare):
        return wrap(_chained(_build(node.left, observe), [
            (_OPERATORS[type(op)], _build(c, observe)) for op, c in zip(node.ops, node.comparators, strict=True)]))
    if isinstance(node, ast.IfExp):
        test, body, orelse = (_build(node.test, observe), _build(node.body, observe),
                              _build(node.orelse, observe))
        return wrap(lambda names: body(names) if test(names) else orelse(names))
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        function = _FUNCTIONS[node.func.id]
        args = [_build(a, observe) for a in node.args]
        return wrap(lambda names: function(*[a(names) for a in args]))
    raise AssertionError(f"the checker let {ast.dump(node)} through")  # pragma: no cover


Ratio = tuple[int, int]
"""An exact value as its integers: (numerator, denominator), in lowest terms, the denominator above 0."""


class _Unhandled(Exception):
    """A value `Formula.ratio` leaves to `evaluate` (which converts it or explains what is wrong)."""


def _bounded_ratio(numerator: int, denominator: int) -> Ratio:
    """(numerator, denominator) reduced to lowest terms (denominator above 0 on entry), refused over MAX_VALUE_BITS
    as `_bounded` refuses the Fraction of the same value."""
    if denominator != 1:
        divisor = gcd(numerator, denominator)
        if divisor != 1:
            numerator //= divisor
            denominator //= divisor
    if numerator.bit_length() > MAX_VALUE_BITS or denominator.bit_length() > MAX_VALUE_BITS:
        raise _Unhandled
    return numerator, denominator


def _add(a: Ratio, b: Ratio) -> Ratio:
    if a[1] == 1 and b[1] == 1:
        return _bounded_ratio(a[0] + b[0], 1)
    return _bounded_ratio(a[0] * b[1] + b[0] * a[1], a[1] * b[1])


def _sub(a: Ratio, b: Ratio) -> Ratio:
    if a[1] == 1 and b[1] == 1:
        return _bounded_ratio(a[0] - b[0], 1)
    return _bounded_ratio(a[0] * b[1] - b[0] * a[1], a[1] * b[1])


def _mul(a: Ratio, b: Ratio) -> Ratio:
    return _bounded_ratio(a[0] * b[0], a[1] * b[1])


def _div(a: Ratio, b: Ratio) -> Ratio:
    if b[0] == 0:
        raise _Unhandled  # evaluate says which values divide by zero
    if b[0] < 0:
        return _bounded_ratio(-a[0] * b[1], a[1] * -b[0])
    return _bounded_ratio(a[0] * b[1], a[1] * b[0])


_RATIO_ARITHMETIC: dict[type, Callable[[Ratio, Ratio], Ratio]] = {
    ast.Add: _add, ast.Sub: _sub, ast.Mult: _mul, ast.Div: _div}
# a < b on (numerator, denominator) pairs with denominators above 0: a[0] * b[1] < b[0] * a[1]; == and != on the
# lowest terms themselves (one value has one pair).
_RATIO_COMPARISONS: dict[type, Callable[[Ratio, Ratio], bool]] = {
    ast.Lt: lambda a, b: a[0] * b[1] < b[0] * a[1], ast.LtE: lambda a, b: a[0] * b[1] <= b[0] * a[1],
    ast.Gt: lambda a, b: a[0] * b[1] > b[0] * a[1], ast.GtE: lambda a, b: a[0] * b[1] >= b[0] * a[1],
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}


def _least(values: list[Ratio]) -> Ratio:
    best = values[0]
    for value in values[1:]:  # min(): the first of the smallest (equal values have equal pairs)
        if value[0] * best[1] < best[0] * value[1]:
            best = value
    return best


def _greatest(values: list[Ratio]) -> Ratio:
    best = values[0]
    for value in values[1:]:  # max(): the first of the largest
        if value[0] * best[1] > best[0] * value[1]:
            best = value
    return best


def _build_ratio(node: ast.expr) -> Callable[[Mapping[str, Ratio]], Any]:
    """`_build`'s evaluator on (numerator, denominator) pairs (see the module docstring): the same tree, order of
    evaluation, short-circuits and bound; amounts come out as Ratio, conditions as what `_build`'s give."""
    if isinstance(node, ast.Constant):
        constant = (node.value.numerator, node.value.denominator)
        return lambda names: constant
    if isinstance(node, ast.Name):
        name = node.id
        return lambda names: names[name]
    if isinstance(node, ast.BinOp):
        arithmetic = _RATIO_ARITHMETIC[type(node.op)]
        left, right = _build_ratio(node.left), _build_ratio(node.right)
        return lambda names: arithmetic(left(names), right(names))
    if isinstance(node, ast.UnaryOp):
        operand = _build_ratio(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda names: not operand(names)
        if isinstance(node.op, ast.USub):
            def negative(names: Mapping[str, Ratio]) -> Ratio:
                value = operand(names)
                return -value[0], value[1]
            return negative
        return operand  # unary +: the same value
    if isinstance(node, ast.BoolOp):
        return _short_circuit([_build_ratio(v) for v in node.values], isinstance(node.op, ast.And))
    if isinstance(node, ast.Compare):
        return _chained(_build_ratio(node.left), [
            (_RATIO_COMPARISONS[type(op)], _build_ratio(c)) for op, c in zip(node.ops, node.comparators, strict=True)])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _build_ratio(node.test), _build_ratio(node.body), _build_ratio(node.orelse)
        return lambda names: body(names) if test(names) else orelse(names)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_build_ratio(a) for a in node.args]
        if node.func.id == "abs":
            only = args[0]

            def absolute(names: Mapping[str, Ratio]) -> Ratio:
                value = only(names)
                return (-value[0], value[1]) if value[0] < 0 else value
            return absolute
        pick = _least if node.func.id == "min" else _greatest
        return lambda names: pick([a(names) for a in args])
    raise AssertionError(f"the checker let {ast.dump(node)} through")  # pragma: no cover


@dataclass(frozen=True)
class Formula:
    """A checked formula: its text, the names it uses, and its parsed tree (with exact literals).

    Build it with `Formula.compile`; evaluate it with `evaluate`. `names` is the set of names the formula
    reads (not function names), so a caller can check them against what it allows.
    """

    text: str
    names: frozenset[str]
    _tree: ast.expr = field(repr=False, compare=False)
    _run: Evaluator = field(repr=False, compare=False)
    _run_ratio: Callable[[Mapping[str, Ratio]], Any] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def compile(cls, text: object, *, where: str = "formula", field_name: str = "formula") -> Formula:
        """Parse and check `text`; return a Formula.

        `where` names the formula in messages (e.g. "component PF"). Raises InvalidInput (field
        `field_name`) for a non-string or empty text, a text over 1000 characters, a syntax error, or any
        construct outside the allowed ones (see the module docstring).
        """
        if not isinstance(text, str):
            raise _fail(where, f"a formula must be text, not {type(text).__name__} {text!r}", field_name)
        stripped = text.strip()
        if not stripped:
            raise _fail(where, "the formula is empty; write an expression such as 'base * 0.05'", field_name)
        if len(stripped) > MAX_FORMULA_CHARS:
            raise _fail(where, f"the formula has {len(stripped)} characters; at most {MAX_FORMULA_CHARS} "
                        "are allowed", field_name)
        try:
            tree = ast.parse(stripped, mode="eval")
        except SyntaxError as exc:
            detail = exc.msg if exc.offset is None else f"{exc.msg} at character {exc.offset}"
            raise _fail(where, f"'{stripped}' is not a valid formula ({detail}); write one expression "
                        "such as 'max(0, base - 100000) * 0.02'", field_name) from None
        except (RecursionError, MemoryError, ValueError):
            raise _fail(where, "the formula is nested too deeply or cannot be read", field_name) from None
        nodes = sum(1 for node in ast.walk(tree.body) if isinstance(node, ast.expr))
        if nodes > MAX_FORMULA_NODES:
            raise _fail(where, f"the formula has {nodes} operations, names and numbers; at most "
                        f"{MAX_FORMULA_NODES} are allowed", field_name)
        checker = _Checker(stripped, where, field_name)
        try:
            body = checker.amount(tree.body)
        except RecursionError:
            raise _fail(where, "the formula is nested too deeply", field_name) from None
        return cls(stripped, frozenset(checker.names), body, _build(body), _build_ratio(body))

    @property
    def bare_name(self) -> str | None:
        """The name the formula is, when it is nothing but one name (a tax component's base `taxable`), else None."""
        return self._tree.id if isinstance(self._tree, ast.Name) else None

    @overload
    def evaluate(self, values: Mapping[str, Any], *, where: str = ..., field_name: str = ...,
                 as_ratio: Literal[False] = ...) -> Fraction: ...

    @overload
    def evaluate(self, values: Mapping[str, Any], *, where: str = ..., field_name: str = ...,
                 as_ratio: Literal[True]) -> Ratio: ...

    def evaluate(self, values: Mapping[str, Any], *, where: str = "formula", field_name: str = "formula",
                 as_ratio: bool = False) -> Fraction | Ratio:
        """Evaluate the formula exactly with `values` (name -> exact number); return a Fraction, or with `as_ratio`
        its integers (numerator, denominator), in lowest terms with the denominator above 0, worked out on integer
        pairs (`_build_ratio`; what the payroll engine asks for: the same value, no Fraction made per operation).

        Raises InvalidInput (field `field_name`) when a name the formula uses has no value, a value is not
        an exact number or exceeds MAX_VALUE_BITS, the formula divides by zero, or an intermediate value
        exceeds MAX_VALUE_BITS.
        """
        if as_ratio:
            return self._ratio(values, where, field_name)
        return self._fraction(values, where, field_name)

    def _fraction(self, values: Mapping[str, Any], where: str, field_name: str) -> Fraction:
        if not self.names <= values.keys():
            missing = sorted(self.names - set(values))
            raise _fail(where, f"no value for {', '.join(missing)} in '{self.text}'", field_name)
        exact: dict[str, Fraction] = {}
        for name in self.names:
            value = values[name]
            kind = type(value)
            if kind is not Fraction and kind is not int:
                if isinstance(value, bool) or not isinstance(value, (int, Fraction, Decimal)):
                    raise _fail(where, f"value of {name} must be an exact number (int, Fraction or Decimal), "
                                f"not {type(value).__name__} {value!r}", field_name)
            value = exact[name] = value if kind is Fraction else Fraction(value)
            if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_VALUE_BITS:
                raise _fail(where, f"value of {name} is too large: its numerator or denominator has more than "
                            f"{MAX_VALUE_BITS} bits", field_name)
        try:
            result = self._run(exact)
        except ZeroDivisionError:
            raise _fail(where, f"'{self.text}' divides by zero with "
                        f"{_show_values(exact, self.names)}", field_name) from None
        except _TooLarge:
            raise _fail(where, f"'{self.text}' gives an intermediate value whose numerator or denominator has "
                        f"more than {MAX_VALUE_BITS} bits with {_show_values(exact, self.names)}",
                        field_name) from None
        if isinstance(result, bool) or not isinstance(result, (int, Fraction)):  # pragma: no cover
            raise _fail(where, f"'{self.text}' did not give an amount", field_name)
        return result if type(result) is Fraction else Fraction(result)

    def _ratio(self, values: Mapping[str, Any], where: str, field_name: str) -> Ratio:
        """evaluate(as_ratio=True): on integer pairs; what they do not take on, as a Fraction (see the module
        docstring)."""
        run = self._run_ratio
        if run is not None:
            pairs: dict[str, Ratio] = {}
            try:
                for name in self.names:
                    value = values[name]  # KeyError: evaluate names the missing values
                    kind = type(value)
                    if kind is int:
                        pair = (value, 1)
                    elif kind is Fraction:
                        pair = (value.numerator, value.denominator)
                    else:  # a Decimal, or what evaluate refuses
                        raise _Unhandled
                    if pair[0].bit_length() > MAX_VALUE_BITS or pair[1].bit_length() > MAX_VALUE_BITS:
                        raise _Unhandled
                    pairs[name] = pair
                return run(pairs)  # type: ignore[no-any-return]
            except (_Unhandled, KeyError):
                pass
        result = self._fraction(values, where, field_name)
        return result.numerator, result.denominator


def _show_values(values: Mapping[str, Fraction], names: Iterable[str]) -> str:
    shown = ", ".join(f"{n}={values[n]}" for n in sorted(names))
    return shown or "no names"
