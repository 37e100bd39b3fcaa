"""The payroll calculation engine: salary structures in, payslips out. Pure: no database, no clock, no I/O.

A `SalaryStructure` is an ordered list of `Component`s, each an earning, a deduction, an employer
contribution or a tax, computed one of four ways:

- fixed: an amount in minor units, optionally prorated by payment days;
- percentage: `percent` % of a named value or an earlier component, optionally prorated;
- formula: a safe expression (see `domain.payroll.formula`) over the named values below;
- tax table: withholding from a published table (see `domain.payroll.tax`) on a taxable base given as a
  formula (default `taxable`).

Components are evaluated in order and a component may use only what is known before it. Names a formula
(or a percentage's `of`) may use, all exact numbers, money in integer minor units of the structure's currency:

- `base`: the contract's pay for one full pay period (a month's salary for a monthly payroll), exact; when a
  contract version changes inside the period, the versions' amounts weighted by their working days (the service);
  less the pay of paid leave taken in the period, which its own lines pay (so a period with leave pays the same);
- `payment_days`, `working_days`, `unpaid_leave_days`: payment_days = working_days - unpaid_leave_days;
- `leave_pay`: the total of the paid leave lines given to this payslip (leave taken and its loading);
- `termination_pay`: the total of the termination lines given (unused leave paid out on termination);
- `super_guarantee_rate`: the super guarantee rate in force on the pay date, a fraction (0.12), given by the
  service from the payroll's jurisdiction (domain/payroll/jurisdiction.py);
- the codes of earlier components: their line amounts as rounded on the payslip;
- `arrears`: the total of the arrears lines given to this payslip (see `compute_arrears`);
- `gross`: earnings plus arrears, leave and termination lines, usable only after the last earning;
- `ote`: ordinary time earnings: gross less termination pay (unused leave paid on termination is not ordinary
  time earnings: ATO SGR 2009/2 paragraphs 316-317), usable only after the last earning;
- `taxable`: taxable earnings plus arrears and leave lines, less pre-tax deductions, usable only after the last
  earning and the last pre-tax deduction; termination lines are not in it (they are withheld by their own tax
  lines, ATO Schedule 7, which the service computes and gives with them);
- `ytd_gross`, `ytd_taxable`, `ytd_tax`, `ytd_net` and `ytd_<CODE>` for every component: year to date
  BEFORE this payslip;
- the structure's declared `inputs` (e.g. `overtime_hours`), given per payslip.

Proration: a prorated component is amount x payment_days / working_days; the usual basic salary is
`Component.percentage("BASIC", "Basic salary", "earning", 100, of="base", prorate=True)`, or the formula
`base * payment_days / working_days`. With no unpaid days the prorated amount is the full amount exactly.

Rounding policy (the only one): every line is computed exactly (Fraction) and rounded ONCE, at line level, to
a whole number of minor units, half up (ROUND_HALF_UP: halves away from zero). Nothing is rounded before
that (a formula's literals are read exactly: `base * 0.05` is base/20). Later components see earlier lines
as rounded, and totals are sums of rounded lines, so the lines always add up exactly to gross pay,
deductions and net pay. A tax-table line is the exception only in that its rounding is the table's own
published rule (the ATO rounds to whole dollars); its taxable base is first rounded half up to minor units,
as published methods start from wages in whole cents.

Totals: gross = earning + arrears + leave + termination lines; deductions = deduction + tax lines; net = gross - deductions;
employer cost = gross + employer contribution lines. A line is never negative (use max(0, ...) in formulas);
net pay may be negative when deductions exceed gross, which the payroll service should refuse or carry over.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from domain.kernel import money
from domain.kernel.errors import InvalidInput
from domain.payroll.categories import check_category, default_category
from domain.payroll.formula import FUNCTIONS, MAX_VALUE_BITS, Formula
from domain.payroll.tax import (
    PayFrequency,
    TaxTableSet,
    Withholding,
    bundled_tax_tables,
    exact_number,
    pay_frequency,
    round_half_up,
    round_half_up_ratio,
    show,
    withholding,
)

Number = int | Fraction | Decimal

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
MAX_NAME_CHARS = 200

PERIOD_NAMES = ("base", "payment_days", "working_days", "unpaid_leave_days", "arrears", "leave_pay",
                "termination_pay")
RATE_NAMES = ("super_guarantee_rate",)
_RATE_NAME_SET = frozenset(RATE_NAMES)
YTD_NAMES = ("ytd_gross", "ytd_taxable", "ytd_tax", "ytd_net")
GROSS = "gross"
OTE = "ote"
TAXABLE = "taxable"
RESERVED_NAMES = frozenset(PERIOD_NAMES + RATE_NAMES + YTD_NAMES + (GROSS, OTE, TAXABLE) + tuple(FUNCTIONS))
"""Names a component code or a structure input may not take: the engine's own names and the functions."""


class ComponentKind(StrEnum):
    """What a component is: an earning (adds to gross pay), a deduction or tax (taken from it), or an employer
    contribution (paid by the school on top, not part of net pay)."""

    EARNING = "earning"
    DEDUCTION = "deduction"
    EMPLOYER_CONTRIBUTION = "employer_contribution"
    TAX = "tax"


class LineKind(StrEnum):
    """A payslip line's kind: a component's kind, arrears (back pay for past periods), leave (paid leave taken and
    its loading) or termination (unused leave paid out on termination); the last three are part of gross pay."""

    EARNING = "earning"
    DEDUCTION = "deduction"
    EMPLOYER_CONTRIBUTION = "employer_contribution"
    TAX = "tax"
    ARREARS = "arrears"
    LEAVE = "leave"
    TERMINATION = "termination"


GROSS_KINDS = frozenset({LineKind.EARNING, LineKind.ARREARS, LineKind.LEAVE, LineKind.TERMINATION})
DEDUCTION_KINDS = frozenset({LineKind.DEDUCTION, LineKind.TAX})


class Method(StrEnum):
    """How a component's amount is computed."""

    FIXED = "fixed"
    PERCENTAGE = "percentage"
    FORMULA = "formula"
    TAX_TABLE = "tax_table"


def _choice(enum: type[StrEnum], value: object, *, what: str, field: str) -> Any:
    try:
        return enum(value)  # type: ignore[call-arg]
    except ValueError:
        allowed = ", ".join(m.value for m in enum)  # type: ignore[attr-defined]
        raise InvalidInput(f"{what} {value!r} is unknown; use one of {allowed}", field=field) from None


def _check_minor(value: object, *, field: str, where: str, allow_negative: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}: {field} is {value!r} ({type(value).__name__}); give a whole number of "
                           "minor units (cents for AUD or USD), never a float or decimal", field=field)
    if value < 0 and not allow_negative:
        raise InvalidInput(f"{where}: {field} is {value}; it must be 0 or more", field=field)
    return value


def _check_identifier(value: object, *, what: str, field: str) -> str:
    if not isinstance(value, str) or not _CODE.fullmatch(value) or keyword.iskeyword(value):
        raise InvalidInput(f"{what} {value!r} must start with a letter and hold only letters, digits and _ "
                           "(at most 40), and not be a Python keyword, so that formulas can name it; e.g. "
                           "BASIC, HRA, overtime_hours", field=field)
    if value in RESERVED_NAMES or value.startswith("ytd_"):
        raise InvalidInput(f"{what} {value!r} is reserved by the engine (names {', '.join(sorted(RESERVED_NAMES))}"
                           " and ytd_*); choose another", field=field)
    return value


# ---------------------------------------------------------------- components and structures


@dataclass(frozen=True)
class Component:
    """One salary component. Build it with `fixed`, `percentage`, `formula` or `tax`.

    `code` is how payslips and formulas name it (a letter, then letters, digits, _; at most 40; not a
    reserved name); `name` is printed on the payslip. `amount_minor` (fixed), `percent` and `of`
    (percentage: 12 means 12 %), `expression` (formula, or the taxable base of a tax-table component) and
    `table` (tax-table code) belong to their method only. `prorate` multiplies a fixed or percentage amount
    by payment_days / working_days. `taxable` (earnings only, default True) counts the earning in taxable pay;
    `pre_tax` (deductions only) takes the deduction off taxable pay. Raises InvalidInput naming the field for
    anything missing, misplaced or malformed, including a formula outside the allowed constructs.
    """

    code: str
    name: str
    kind: ComponentKind
    method: Method
    amount_minor: int | None = None
    percent: Fraction | None = None
    of: str | None = None
    expression: str | None = None
    table: str | None = None
    prorate: bool = False
    taxable: bool = True
    pre_tax: bool = False
    category: str | None = None
    compiled: Formula | None = field(default=None, repr=False, compare=False)

    @classmethod
    def fixed(cls, code: str, name: str, kind: ComponentKind | str, amount_minor: int, *,
              prorate: bool = False, taxable: bool = True, pre_tax: bool = False) -> Component:
        """Return a component of `amount_minor` minor units, prorated by payment days when `prorate`."""
        return cls(code, name, kind, Method.FIXED, amount_minor=amount_minor, prorate=prorate,  # type: ignore[arg-type]
                   taxable=taxable, pre_tax=pre_tax)

    @classmethod
    def percentage(cls, code: str, name: str, kind: ComponentKind | str, percent: Number, *, of: str,
                   prorate: bool = False, taxable: bool = True, pre_tax: bool = False) -> Component:
        """Return a component of `percent` % (exact: 12 or Decimal("12.5")) of `of` (a name or earlier code)."""
        return cls(code, name, kind, Method.PERCENTAGE, percent=percent, of=of, prorate=prorate,  # type: ignore[arg-type]
                   taxable=taxable, pre_tax=pre_tax)

    @classmethod
    def formula(cls, code: str, name: str, kind: ComponentKind | str, expression: str, *,
                taxable: bool = True, pre_tax: bool = False) -> Component:
        """Return a component computed by `expression` (e.g. "max(0, base - 100000) * 0.02"), in minor units."""
        return cls(code, name, kind, Method.FORMULA, expression=expression, taxable=taxable,  # type: ignore[arg-type]
                   pre_tax=pre_tax)

    @classmethod
    def tax(cls, code: str, name: str, *, table: str, taxable_base: str = TAXABLE) -> Component:
        """Return a tax component withholding per tax table `table` on `taxable_base` (a formula)."""
        return cls(code, name, ComponentKind.TAX, Method.TAX_TABLE, expression=taxable_base, table=table)

    def __post_init__(self) -> None:
        _check_identifier(self.code, what="component code", field="code")
        where = f"component {self.code}"
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > MAX_NAME_CHARS:
            raise InvalidInput(f"{where} needs a name of 1 to {MAX_NAME_CHARS} characters, got {self.name!r}",
                               field="name")
        kind = _choice(ComponentKind, self.kind, what=f"{where}: kind", field="kind")
        method = _choice(Method, self.method, what=f"{where}: method", field="method")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "method", method)
        if self.category is not None:
            check_category(self.category, field="category")
        for flag in ("prorate", "taxable", "pre_tax"):
            if not isinstance(getattr(self, flag), bool):
                raise InvalidInput(f"{where}: {flag} must be true or false, not {getattr(self, flag)!r}",
                                   field=flag)
        if not self.taxable and kind is not ComponentKind.EARNING:
            raise InvalidInput(f"{where}: only an earning can be marked not taxable (taxable=False); this is "
                               f"a {kind.value}", field="taxable")
        if self.pre_tax and kind is not ComponentKind.DEDUCTION:
            raise InvalidInput(f"{where}: only a deduction can be pre-tax; this is a {kind.value}",
                               field="pre_tax")
        needs = {
            Method.FIXED: {"amount_minor"},
            Method.PERCENTAGE: {"percent", "of"},
            Method.FORMULA: {"expression"},
            Method.TAX_TABLE: {"expression", "table"},
        }[method]
        for name in ("amount_minor", "percent", "of", "expression", "table"):
            given = getattr(self, name) is not None
            if name in needs and not given:
                raise InvalidInput(f"{where}: a {method.value} component needs {name}", field=name)
            if name not in needs and given:
                raise InvalidInput(f"{where}: {name} does not apply to a {method.value} component (it uses "
                                   f"{', '.join(sorted(needs))})", field=name)
        if self.prorate and method not in (Method.FIXED, Method.PERCENTAGE):
            raise InvalidInput(f"{where}: prorate applies to fixed and percentage components; a formula "
                               "prorates itself with payment_days / working_days", field="prorate")
        if method is Method.FIXED:
            _check_minor(self.amount_minor, field="amount_minor", where=where)
        if method is Method.PERCENTAGE:
            percent = exact_number(self.percent, field="percent")
            if percent < 0:
                raise InvalidInput(f"{where}: percent {show(percent)} is negative; give 0 or more (12 for 12 %)",
                                   field="percent")
            object.__setattr__(self, "percent", percent)
            if not isinstance(self.of, str) or not _CODE.fullmatch(self.of):
                raise InvalidInput(f"{where}: of {self.of!r} must name a value or an earlier component, e.g. "
                                   "base, gross or BASIC", field="of")
        if method is Method.TAX_TABLE:
            if kind is not ComponentKind.TAX:
                raise InvalidInput(f"{where}: a tax-table component must be of kind tax, not {kind.value}",
                                   field="kind")
            if not isinstance(self.table, str) or not _CODE.fullmatch(self.table):
                raise InvalidInput(f"{where}: table {self.table!r} must be a tax table code such as AU_PAYGW",
                                   field="table")
        compiled = None
        if method in (Method.FORMULA, Method.TAX_TABLE):
            compiled = Formula.compile(self.expression, where=where, field_name="expression")
        object.__setattr__(self, "compiled", compiled)

    @property
    def names_used(self) -> frozenset[str]:
        """The names this component reads: its formula's names, or its percentage's `of`."""
        if self.compiled is not None:
            return self.compiled.names
        if self.of is not None:
            return frozenset({self.of})
        return frozenset()


def _fold(name: str) -> str:
    return name.casefold()


@dataclass(slots=True)
class _StructurePlan:
    """A structure's facts compute_payslip reads for every payslip: where gross and taxable become known, the
    names its components read, each component's percent as a rate, line kind and STP category, its tax tables,
    and the table set it was last checked against."""

    gross_from: int
    taxable_from: int
    names: frozenset[str]
    percent_rates: tuple[Fraction | None, ...]
    line_kinds: tuple[LineKind, ...]
    categories: tuple[str, ...]
    tables: tuple[str, ...]
    bare_names: tuple[str | None, ...] = ()
    checked_against: object = None
    wheres: tuple[str, ...] = ()  # each component's "structure X, component Y", for a formula's errors


@dataclass(frozen=True)
class SalaryStructure:
    """An ordered salary structure in one currency; checked in full when built.

    `components` are evaluated in order; `inputs` are the extra named values each payslip supplies (e.g.
    overtime_hours). Raises InvalidInput naming the component and what is allowed when: the currency is not
    ISO 4217; there are no components; two codes or inputs differ only in case; a component uses a name
    that is unknown, that is a later component or itself, or `gross`/`taxable` before they are known.
    """

    code: str
    currency: str
    components: tuple[Component, ...]
    inputs: tuple[str, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            raise InvalidInput(f"structure code {self.code!r} must be a letter then letters, digits or _ "
                               "(at most 40)", field="code")
        money.check_currency(self.currency)
        components = tuple(self.components) if isinstance(self.components, Iterable) else ()
        if not components:
            raise InvalidInput(f"structure {self.code} has no components; give at least one", field="components")
        for item in components:
            if not isinstance(item, Component):
                raise InvalidInput(f"structure {self.code}: components must be Component, not "
                                   f"{type(item).__name__}", field="components")
        inputs = tuple(self.inputs) if not isinstance(self.inputs, str) else (self.inputs,)
        for name in inputs:
            _check_identifier(name, what=f"structure {self.code}: input", field="inputs")
        seen: dict[str, str] = {}
        for name in [c.code for c in components] + list(inputs):
            folded = _fold(name)
            if folded in seen:
                raise InvalidInput(f"structure {self.code}: {seen[folded]!r} and {name!r} clash; component codes "
                                   "and inputs must differ in more than letter case", field="components")
            seen[folded] = name
        object.__setattr__(self, "components", components)
        object.__setattr__(self, "inputs", inputs)
        # What compute_payslip needs of the structure for every payslip, worked out once (a payroll of 10,000
        # employees computes 10,000 payslips with one structure).
        earnings = [i for i, c in enumerate(components) if c.kind is ComponentKind.EARNING]
        gross_from = earnings[-1] + 1 if earnings else 0
        pre_tax = [i for i, c in enumerate(components) if c.pre_tax]
        object.__setattr__(self, "_plan", _StructurePlan(
            gross_from=gross_from, taxable_from=max([gross_from] + [i + 1 for i in pre_tax]),
            names=frozenset().union(*(c.names_used for c in components)),
            percent_rates=tuple(None if c.percent is None else Fraction(c.percent) / 100 for c in components),
            line_kinds=tuple(LineKind(c.kind.value) for c in components),
            categories=tuple(c.category or default_category(c.kind.value, pre_tax=c.pre_tax) for c in components),
            tables=tuple(dict.fromkeys(c.table for c in components if c.table is not None)),
            bare_names=tuple(c.compiled.bare_name if c.compiled is not None else None for c in components),
            wheres=tuple(f"structure {self.code}, component {c.code}" for c in components)))
        self._check_names()

    @property
    def gross_known_from(self) -> int:
        """The position (0-based) from which `gross` is known: just after the last earning."""
        return self._plan.gross_from  # type: ignore[attr-defined]

    @property
    def taxable_known_from(self) -> int:
        """The position from which `taxable` is known: after the last earning and the last pre-tax deduction."""
        return self._plan.taxable_from  # type: ignore[attr-defined]

    @property
    def tax_tables_used(self) -> tuple[str, ...]:
        """The tax table codes the structure's tax components use, in order, without repeats."""
        return self._plan.tables  # type: ignore[attr-defined]

    def _check_names(self) -> None:
        codes = [c.code for c in self.components]
        position = {code: i for i, code in enumerate(codes)}
        ytd = {f"ytd_{code}" for code in codes}
        fixed_names = set(PERIOD_NAMES) | set(RATE_NAMES) | set(YTD_NAMES) | ytd | set(self.inputs)
        gross_from, taxable_from = self.gross_known_from, self.taxable_known_from
        for i, component in enumerate(self.components):
            where = f"structure {self.code}, component {component.code}"
            field_name = "of" if component.method is Method.PERCENTAGE else "expression"
            for name in sorted(component.names_used):
                if name in fixed_names:
                    continue
                if name in (GROSS, OTE):
                    if i < gross_from:
                        last = self.components[gross_from - 1].code
                        raise InvalidInput(f"{where} uses {name}, which is known only after the last earning "
                                           f"({last}, position {gross_from}); move {component.code} after it or "
                                           "add the earlier earnings by code", field=field_name)
                    continue
                if name == TAXABLE:
                    if i < taxable_from:
                        last = self.components[taxable_from - 1].code
                        raise InvalidInput(f"{where} uses taxable, which is known only after the last earning "
                                           f"and pre-tax deduction ({last}, position {taxable_from}); move "
                                           f"{component.code} after it", field=field_name)
                    continue
                if name == component.code:
                    raise InvalidInput(f"{where} refers to itself; a component may use only components "
                                       "before it", field=field_name)
                if name in position:
                    if position[name] > i:
                        raise InvalidInput(f"{where} uses {name}, which comes later (position "
                                           f"{position[name] + 1}, this is {i + 1}); a component may use only "
                                           "components before it", field=field_name)
                    continue
                allowed = sorted(fixed_names - ytd) + ["ytd_<CODE>"] + codes[:i]
                if i >= gross_from:
                    allowed += [GROSS, OTE]
                if i >= taxable_from:
                    allowed.append(TAXABLE)
                raise InvalidInput(f"{where} uses unknown name {name!r}; allowed here: {', '.join(allowed)}",
                                   field=field_name)

    def check_tables(self, tables: TaxTableSet) -> None:
        """Raise InvalidInput (field `table`) if a tax component names a table code absent from `tables`,
        or one whose currency differs from the structure's."""
        plan = self._plan  # type: ignore[attr-defined]
        if plan.checked_against is tables:  # both immutable: checked once per structure and table set
            return
        self._check_tables(tables)
        plan.checked_against = tables

    def _check_tables(self, tables: TaxTableSet) -> None:
        for component in self.components:
            if component.table is None:
                continue
            found = [t for t in tables.tables if t.code == component.table]
            if not found:
                known = ", ".join(tables.codes()) or "none"
                raise InvalidInput(f"structure {self.code}, component {component.code}: no tax table has code "
                                   f"{component.table!r}; known codes: {known}", field="table")
            if found[0].currency != self.currency:
                raise InvalidInput(f"structure {self.code}, component {component.code}: table {component.table} "
                                   f"is in {found[0].currency}, the structure in {self.currency}",
                                   field="table")


# ---------------------------------------------------------------- inputs, lines, year to date


@dataclass(frozen=True)
class PayPeriod:
    """The pay period a payslip is for: first and last day, the pay date (which picks tax tables), frequency.

    Raises InvalidInput (field `period`, `pay_date` or `frequency`) for dates that are not dates, an end
    before the start, or an unknown frequency.
    """

    start: date
    end: date
    pay_date: date
    frequency: PayFrequency

    def __post_init__(self) -> None:
        for name in ("start", "end", "pay_date"):
            if not isinstance(getattr(self, name), date):
                raise InvalidInput(f"period {name} must be a date, not {getattr(self, name)!r}",
                                   field="pay_date" if name == "pay_date" else "period")
        if self.end < self.start:
            raise InvalidInput(f"period ends {self.end}, before it starts {self.start}", field="period")
        object.__setattr__(self, "frequency", pay_frequency(self.frequency))


@dataclass(frozen=True)
class PayslipLine:
    """One payslip line: component code, printed name, kind and amount in integer minor units; its STP Phase 2
    category (domain/payroll/categories.py; None: its kind's default) and, for leave lines, the hours paid.

    Raises InvalidInput (field `kind`, `amount_minor`, `code` or `name`) for an unknown kind, a non-integer
    amount or an empty code or name.
    """

    code: str
    name: str
    kind: LineKind
    amount_minor: int
    category: str | None = field(default=None, compare=False)
    hours: Fraction | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            raise InvalidInput(f"line code {self.code!r} must be a letter then letters, digits or _ (at most 40)",
                               field="code")
        if self.category is not None:
            check_category(self.category)
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput(f"line {self.code} needs a name", field="name")
        object.__setattr__(self, "kind", _choice(LineKind, self.kind, what=f"line {self.code}: kind",
                                                 field="kind"))
        _check_minor(self.amount_minor, field="amount_minor", where=f"line {self.code}", allow_negative=True)


_new = object.__new__
_set = object.__setattr__


def _engine_line(code: str, name: str, kind: LineKind, amount: int, category: str) -> PayslipLine:
    """A component's line, built without PayslipLine's checks: the component's code, name and category were
    checked when the structure was built, the kind is a LineKind and the amount an int from rounding."""
    line = _new(PayslipLine)
    # Its fields as one dict (the instance's attributes): one call, not one object.__setattr__ per field.
    _set(line, "__dict__", {"code": code, "name": name, "kind": kind, "amount_minor": amount, "category": category,
                            "hours": None})
    return line


@dataclass(frozen=True)
class YearToDate:
    """Year-to-date totals in minor units: gross, taxable, tax, net, and per component (and arrears) code.

    Passed in as the totals BEFORE a payslip and returned on the payslip as the totals AFTER it. Amounts may
    be negative only after reversals; they must be whole numbers. Raises InvalidInput naming the field.
    """

    gross_minor: int = 0
    taxable_minor: int = 0
    tax_minor: int = 0
    net_minor: int = 0
    components: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("gross_minor", "taxable_minor", "tax_minor", "net_minor"):
            _check_minor(getattr(self, name), field=name, where="year to date", allow_negative=True)
        if not isinstance(self.components, Mapping):
            raise InvalidInput("year to date components must map codes to minor units", field="components")
        clean: dict[str, int] = {}
        for code, amount in sorted(self.components.items()):
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise InvalidInput(f"year to date: {code!r} is not a component code", field="components")
            clean[code] = _check_minor(amount, field=f"components[{code}]", where="year to date",
                                       allow_negative=True)
        object.__setattr__(self, "components", MappingProxyType(clean))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, YearToDate):
            return NotImplemented
        return (self.gross_minor, self.taxable_minor, self.tax_minor, self.net_minor, dict(self.components)) == (
            other.gross_minor, other.taxable_minor, other.tax_minor, other.net_minor, dict(other.components))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its fields (a mappingproxy does not pickle): payslips cross to and from the compute process.
        Restored without checking again what was checked when it was made (`_restored_ytd`)."""
        return (_restored_ytd, (self.gross_minor, self.taxable_minor, self.tax_minor, self.net_minor,
                                dict(self.components)))

    def component(self, code: str) -> int:
        """Return the year-to-date amount of component `code` (0 when it has none)."""
        return self.components.get(code, 0)

    def plus(self, *, gross_minor: int, taxable_minor: int, tax_minor: int, net_minor: int,
             lines: Iterable[PayslipLine]) -> YearToDate:
        """Return these totals with one payslip's added (ints added to checked ints: built without the checks)."""
        components = dict(self.components)
        get = components.get
        for line in lines:
            code = line.code
            components[code] = get(code, 0) + line.amount_minor
        if not (type(gross_minor) is int and type(taxable_minor) is int and type(tax_minor) is int
                and type(net_minor) is int):  # ints (a payslip's sums) pass _check_minor with negatives allowed
            for name, value in (("gross_minor", gross_minor), ("taxable_minor", taxable_minor),
                                ("tax_minor", tax_minor), ("net_minor", net_minor)):
                _check_minor(value, field=name, where="year to date", allow_negative=True)
        after = _new(YearToDate)
        _set(after, "__dict__", {"gross_minor": self.gross_minor + gross_minor,
                                 "taxable_minor": self.taxable_minor + taxable_minor,
                                 "tax_minor": self.tax_minor + tax_minor, "net_minor": self.net_minor + net_minor,
                                 "components": MappingProxyType(dict(sorted(components.items())))})
        return after


def _restored_ytd(gross_minor: int, taxable_minor: int, tax_minor: int, net_minor: int,
                  components: dict[str, int]) -> YearToDate:
    """A pickled YearToDate back (its values were checked when it was first made)."""
    ytd = _new(YearToDate)
    for name, value in (("gross_minor", gross_minor), ("taxable_minor", taxable_minor), ("tax_minor", tax_minor),
                        ("net_minor", net_minor), ("components", MappingProxyType(components))):
        _set(ytd, name, value)
    return ytd


_NO_VALUES: Mapping[str, Fraction] = MappingProxyType({})
"""PayInputs' values when none are given (most structures declare no inputs): one mapping, read only."""
_rates_checked: tuple[object, dict[str, Any], Mapping[str, Fraction]] = (None, {}, MappingProxyType({}))
"""The last rates PayInputs checked: (the mapping given, a copy of it, its checked read-only form), reused while
the same unchanged mapping is given again (a payroll run gives one for its 10,000 payslips)."""

_whole_days: dict[tuple[int, int], tuple[Fraction, Fraction, Fraction, Fraction]] = {}
"""_checked_days' answers for whole days, by (working days, unpaid days): a run's payslips have a few."""


def _checked_rates(rates: Any) -> Mapping[str, Fraction]:
    """`rates` checked (RATE_NAMES to exact numbers) in a read-only mapping; the last one reused while the same
    unchanged mapping is given again (a payroll run gives one for its 10,000 payslips). Raises InvalidInput."""
    global _rates_checked
    if not isinstance(rates, Mapping) or not rates.keys() <= _RATE_NAME_SET:
        raise InvalidInput(f"rates must map {', '.join(RATE_NAMES)} to exact fractions", field="rates")
    given, seen, checked = _rates_checked
    if rates is not given or rates != seen:
        checked = MappingProxyType({k: exact_number(v, field=f"rates[{k}]") for k, v in rates.items()})
        _rates_checked = (rates, dict(rates), checked)
    return checked


def _checked_days(working: Any, unpaid: Any) -> tuple[Fraction, Fraction, Fraction, Fraction]:
    """(working days, unpaid days, payment days, payment / working days), exactly, from a pay's working days
    (above 0) and unpaid days (0..working days). Raises InvalidInput naming the field."""
    if type(working) is int and type(unpaid) is int and working > 0 and 0 <= unpaid <= working:
        known = _whole_days.get((working, unpaid))  # whole days (most payslips): Fractions made once
        if known is None:
            known = (Fraction(working), Fraction(unpaid), Fraction(working - unpaid), Fraction(working - unpaid,
                                                                                                 working))
            if len(_whole_days) < 4096:
                _whole_days[(working, unpaid)] = known
        return known
    working = exact_number(working, field="working_days")
    if working <= 0:
        raise InvalidInput(f"working_days is {show(working)}; a pay period needs more than 0 working days",
                           field="working_days")
    unpaid = exact_number(unpaid, field="unpaid_leave_days")
    if not 0 <= unpaid <= working:
        raise InvalidInput(f"unpaid_leave_days is {show(unpaid)}; it must be from 0 to the period's "
                           f"{show(working)} working days", field="unpaid_leave_days")
    payment = working - unpaid
    return working, unpaid, payment, payment / working


@dataclass(frozen=True)
class PayInputs:
    """What one employee's payslip needs besides the structure and the period.

    `base_minor`: the contract's pay for a full pay period, minor units, 0 or more: a whole number, or an exact
    Fraction when versions are blended or leave pay is taken out of it (the module docstring's `base`).
    `working_days`: the period's working days (exact, above 0; the service counts them from the calendar).
    `unpaid_leave_days`: unpaid leave (and days not employed), 0..working_days; payment days are the rest.
    `values`: the structure's inputs by name (exact numbers). `filing_status`: the employee's status for the
    structure's tax tables (ATO: scale_1..scale_6). `arrears`: arrears lines from `compute_arrears`. `leave`:
    paid leave lines (kind leave). `termination`: unused leave paid out on termination (kind termination) and
    `termination_tax`: the tax lines withheld from them (kind tax, ATO Schedule 7), placed last. `rates`: dated
    rates by name (RATE_NAMES: super_guarantee_rate as a fraction). `ytd`: year to date before this payslip.
    Raises InvalidInput naming the field.
    """

    base_minor: Number
    working_days: Number
    unpaid_leave_days: Number = 0
    values: Mapping[str, Number] = field(default_factory=dict)
    filing_status: str | None = None
    arrears: tuple[PayslipLine, ...] = ()
    ytd: YearToDate = field(default_factory=YearToDate)
    leave: tuple[PayslipLine, ...] = ()
    termination: tuple[PayslipLine, ...] = ()
    termination_tax: tuple[PayslipLine, ...] = ()
    rates: Mapping[str, Number] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The checks below take the common case first, on the plain types a payroll run passes 10,000 times (ints
        # for whole amounts and days, empty tuples and mappings): the same checks and errors for every input.
        base = self.base_minor if type(self.base_minor) is int else exact_number(self.base_minor, field="base_minor")
        if base < 0:
            raise InvalidInput(f"pay inputs: base_minor is {show(Fraction(base))}; it must be 0 or more",
                               field="base_minor")
        object.__setattr__(self, "base_minor", self.base_minor if isinstance(self.base_minor, int) else base)
        for name, kind in (("leave", LineKind.LEAVE), ("termination", LineKind.TERMINATION),
                           ("termination_tax", LineKind.TAX)):
            lines = getattr(self, name)
            if lines == ():
                continue
            lines = tuple(lines)
            for line in lines:
                if not isinstance(line, PayslipLine) or line.kind is not kind:
                    raise InvalidInput(f"{name} must be payslip lines of kind {kind.value}, not {line!r}", field=name)
            object.__setattr__(self, name, lines)
        object.__setattr__(self, "rates", _checked_rates(self.rates))
        days = _checked_days(self.working_days, self.unpaid_leave_days)
        object.__setattr__(self, "working_days", days[0])
        object.__setattr__(self, "unpaid_leave_days", days[1])
        object.__setattr__(self, "_payment_days", days[2])
        object.__setattr__(self, "_ratio", days[3])
        if not isinstance(self.values, Mapping):
            raise InvalidInput("values must map input names to exact numbers", field="values")
        object.__setattr__(self, "values", _NO_VALUES if not self.values else MappingProxyType(
            {str(k): exact_number(v, field=f"values[{k}]") for k, v in self.values.items()}))
        if self.filing_status is not None and not isinstance(self.filing_status, str):
            raise InvalidInput(f"filing_status must be text such as scale_2, not {self.filing_status!r}",
                               field="filing_status")
        if self.arrears != ():
            arrears = tuple(self.arrears)
            for line in arrears:
                if not isinstance(line, PayslipLine) or line.kind is not LineKind.ARREARS:
                    raise InvalidInput(f"arrears must be arrears lines from compute_arrears, not {line!r}",
                                       field="arrears")
            object.__setattr__(self, "arrears", arrears)
        if not isinstance(self.ytd, YearToDate):
            raise InvalidInput("ytd must be a YearToDate", field="ytd")

    @property
    def payment_days(self) -> Fraction:
        """Working days less unpaid leave days, exactly."""
        return self._payment_days  # type: ignore[attr-defined]

    @classmethod
    def trusted(cls, *, base_minor: int | Fraction, working_days: int, unpaid_leave_days: int | Fraction,
                filing_status: str | None, arrears: tuple[PayslipLine, ...], leave: tuple[PayslipLine, ...],
                termination: tuple[PayslipLine, ...], termination_tax: tuple[PayslipLine, ...],
                rates: Mapping[str, Number], ytd: YearToDate) -> PayInputs:
        """Return PayInputs from the payroll service, whose inputs are made where it reads them: `base_minor` an int
        or Fraction, 0 or more; the line tuples PayslipLines of their kinds (arrears, leave, termination, tax);
        `ytd` a YearToDate; no values. Only the days (a period may have no working days) and the rates are checked,
        as the constructor checks them, with its errors; the rest is taken as given (10,000 payslips a run: the
        constructor's checks were about an eighth of computing one). Outside callers use the constructor."""
        working, unpaid, payment, ratio = _checked_days(working_days, unpaid_leave_days)
        inputs = _new(cls)
        _set(inputs, "__dict__", {
            "base_minor": base_minor, "working_days": working, "unpaid_leave_days": unpaid, "values": _NO_VALUES,
            "filing_status": filing_status, "arrears": arrears, "ytd": ytd, "leave": leave,
            "termination": termination, "termination_tax": termination_tax, "rates": _checked_rates(rates),
            "_payment_days": payment, "_ratio": ratio})
        return inputs


# ---------------------------------------------------------------- the payslip


@dataclass(frozen=True)
class Payslip:
    """A computed payslip: lines and totals in integer minor units of `currency`, and year to date after it.

    Checked on construction (`check`): gross is the earning and arrears lines, deductions the deduction and
    tax lines, tax the tax lines, net = gross - deductions, employer contributions their lines, employer cost
    = gross + employer contributions, exactly. `withholdings` keeps each tax-table line's working.
    """

    structure_code: str
    currency: str
    pay_date: date
    frequency: PayFrequency
    lines: tuple[PayslipLine, ...]
    gross_minor: int
    deductions_minor: int
    net_minor: int
    employer_contributions_minor: int
    employer_cost_minor: int
    taxable_minor: int
    tax_minor: int
    payment_days: Fraction
    working_days: Fraction
    ytd: YearToDate
    withholdings: tuple[Withholding, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise InvalidInput (field `lines`) naming the totals that do not match the lines exactly."""
        money.check_currency(self.currency)
        lines = tuple(self.lines)
        for line in lines:
            if not isinstance(line, PayslipLine):
                raise InvalidInput(f"payslip lines must be PayslipLine, not {type(line).__name__}", field="lines")

        by_kind: dict[LineKind, int] = {}
        for line in lines:
            by_kind[line.kind] = by_kind.get(line.kind, 0) + line.amount_minor

        def total(kinds: Iterable[LineKind]) -> int:
            return sum(by_kind.get(kind, 0) for kind in kinds)

        expected = {
            "gross_minor": total(GROSS_KINDS),
            "deductions_minor": total(DEDUCTION_KINDS),
            "tax_minor": total((LineKind.TAX,)),
            "employer_contributions_minor": total((LineKind.EMPLOYER_CONTRIBUTION,)),
        }
        expected["net_minor"] = expected["gross_minor"] - expected["deductions_minor"]
        expected["employer_cost_minor"] = expected["gross_minor"] + expected["employer_contributions_minor"]
        wrong = [f"{name} is {getattr(self, name)!r} but the lines give {value}"
                 for name, value in expected.items() if getattr(self, name) != value]
        if wrong:
            raise InvalidInput(f"payslip does not add up: {'; '.join(wrong)}", field="lines")

    def line(self, code: str) -> PayslipLine:
        """Return the line with component code `code`; raise InvalidInput (field `code`) if there is none."""
        for line in self.lines:
            if line.code == code:
                return line
        raise InvalidInput(f"payslip has no line {code!r}; it has {', '.join(ln.code for ln in self.lines)}",
                           field="code")


def _proration(inputs: PayInputs) -> Fraction:
    return inputs._ratio  # type: ignore[attr-defined]  # payment days / working days (_checked_days)


def compute_payslip(structure: SalaryStructure, period: PayPeriod, inputs: PayInputs, *,
                    tax_tables: TaxTableSet | None = None) -> Payslip:
    """Compute one employee's payslip for `period` under `structure`; return a checked Payslip.

    Components are evaluated in order with the names in the module docstring; every line is rounded once,
    half up, to minor units (tax-table lines by the table's own rule); arrears lines are placed after the
    last earning and count in gross and taxable pay. `tax_tables` defaults to the bundled tables. The
    payslip's `ytd` is `inputs.ytd` plus this payslip.

    Raises InvalidInput: field `values` when an input the structure declares is missing or an undeclared one
    is given; field `expression` when a formula divides by zero; field `amount_minor` when a line comes out
    negative; field `taxable_minor` when pre-tax deductions exceed taxable earnings; and what
    `TaxTableSet.pick` and `withholding` raise (unknown table, filing status, no table in force on the pay
    date, a frequency the table does not cover).
    """
    if not isinstance(structure, SalaryStructure):
        raise InvalidInput("structure must be a SalaryStructure", field="structure")
    if not isinstance(period, PayPeriod):
        raise InvalidInput("period must be a PayPeriod", field="period")
    if not isinstance(inputs, PayInputs):
        raise InvalidInput("inputs must be PayInputs", field="inputs")
    wanted, given = structure.inputs, inputs.values
    missing = [name for name in wanted if name not in given] if wanted else []
    extra = sorted(set(given) - set(wanted)) if given else []  # most structures declare none, given none
    if missing:
        raise InvalidInput(f"structure {structure.code} needs input(s) {', '.join(missing)}; got "
                           f"{', '.join(sorted(inputs.values)) or 'none'}", field="values")
    if extra:
        declared = ", ".join(structure.inputs) or "none"
        raise InvalidInput(f"structure {structure.code} has no input(s) {', '.join(extra)}; its inputs are "
                           f"{declared}", field="values")
    tables = tax_tables
    if tables is None and structure.tax_tables_used:
        tables = bundled_tax_tables()
    if tables is not None:
        structure.check_tables(tables)

    plan: _StructurePlan = structure._plan  # type: ignore[attr-defined]
    ratio = _proration(inputs)
    whole_period = ratio == 1  # nothing unpaid: prorating changes nothing (most payslips)
    # Most payslips have no arrears, leave or termination lines: no generator run for them.
    arrears_total = sum(line.amount_minor for line in inputs.arrears) if inputs.arrears else 0
    leave_total = sum(line.amount_minor for line in inputs.leave) if inputs.leave else 0
    termination_total = sum(line.amount_minor for line in inputs.termination) if inputs.termination else 0
    missing_rates = [name for name in RATE_NAMES if name not in inputs.rates and name in plan.names]
    if missing_rates:
        raise InvalidInput(f"structure {structure.code} uses {', '.join(missing_rates)}, which these pay inputs do "
                           "not give (the payroll service gives the jurisdiction's rate in force)", field="rates")
    # Exact values, as ints where they are whole (int and Fraction arithmetic mix exactly; Formula.evaluate makes
    # Fractions of the names it reads): only the names the structure's components read.
    values: dict[str, int | Fraction] = {}
    needed = plan.names
    if needed:
        ytd = inputs.ytd
        offered: dict[str, Any] = {
            "base": inputs.base_minor, "payment_days": inputs.payment_days, "working_days": inputs.working_days,
            "unpaid_leave_days": inputs.unpaid_leave_days, "arrears": arrears_total, "leave_pay": leave_total,
            "termination_pay": termination_total, "ytd_gross": ytd.gross_minor, "ytd_taxable": ytd.taxable_minor,
            "ytd_tax": ytd.tax_minor, "ytd_net": ytd.net_minor, **inputs.rates, **inputs.values}
        for name in needed:
            if name in offered:
                values[name] = offered[name]
            elif name.startswith("ytd_"):
                values[name] = ytd.component(name[4:])

    gross = arrears_total + leave_total + termination_total
    taxable = arrears_total + leave_total
    lines: list[PayslipLine] = []
    withholdings: list[Withholding] = []
    gross_from, taxable_from = plan.gross_from, plan.taxable_from

    def reach(position: int) -> None:
        if position == gross_from:
            values[GROSS] = gross
            values[OTE] = gross - termination_total
            lines.extend(inputs.arrears)
            lines.extend(inputs.leave)
            lines.extend(inputs.termination)
        if position == taxable_from:
            values[TAXABLE] = taxable

    # Each line's exact amount as its integers, numerator / denominator (denominator above 0, not necessarily in
    # lowest terms: rounding gives the same either way), rounded once; no Fraction made per component.
    prorate_n, prorate_d = ratio.numerator, ratio.denominator
    for position, component in enumerate(structure.components):
        if position == gross_from or position == taxable_from:  # two positions of a structure's components
            reach(position)
        method = component.method
        if method is Method.FIXED:
            assert component.amount_minor is not None
            numerator, denominator = component.amount_minor, 1
        elif method is Method.PERCENTAGE:
            assert component.of is not None
            rate = plan.percent_rates[position]
            value = values[component.of]
            numerator, denominator = value.numerator, value.denominator  # an int or a Fraction (exact values)
            if rate != 1:
                numerator, denominator = rate.numerator * numerator, rate.denominator * denominator
        else:
            assert component.compiled is not None
            bare = plan.bare_names[position]
            known = values.get(bare) if bare is not None else None
            if type(known) is int and known.bit_length() <= MAX_VALUE_BITS:
                numerator, denominator = known, 1  # a formula that is one name (a tax's base "taxable") of a whole
            else:                                  # amount: its value
                numerator, denominator = component.compiled.evaluate(values, where=plan.wheres[position],
                                                                     field_name="expression", as_ratio=True)
        if component.prorate and not whole_period:
            numerator, denominator = numerator * prorate_n, denominator * prorate_d
        rounded = numerator if denominator == 1 else round_half_up_ratio(numerator, denominator)
        if method is Method.TAX_TABLE:
            assert tables is not None and component.table is not None
            base_minor = rounded
            if base_minor < 0:
                raise InvalidInput(f"structure {structure.code}, component {component.code}: the taxable base "
                                   f"'{component.expression}' is {base_minor} minor units; it must be 0 or more",
                                   field="taxable_minor")
            # The employee's status goes only to taxes that have statuses (a flat levy has none).
            status = inputs.filing_status if tables.filing_statuses(component.table) else None
            table = tables.pick(component.table, on=period.pay_date, filing_status=status)
            result = withholding(table, taxable_minor=base_minor, frequency=period.frequency)
            withholdings.append(result)
            amount = result.amount_minor
        else:
            amount = rounded
        if amount < 0:
            raise InvalidInput(f"structure {structure.code}, component {component.code} comes to {amount} minor "
                               f"units (exactly {show(Fraction(numerator, denominator))}); a line must be 0 or "
                               "more; wrap the formula in max(0, ...)", field="amount_minor")
        if component.code in needed:
            values[component.code] = amount
        if component.kind is ComponentKind.EARNING:
            gross += amount
            if component.taxable:
                taxable += amount
        elif component.pre_tax:
            taxable -= amount
        lines.append(_engine_line(component.code, component.name, plan.line_kinds[position], amount,
                                  plan.categories[position]))
    reach(len(structure.components))
    lines.extend(inputs.termination_tax)

    if taxable < 0:
        raise InvalidInput(f"structure {structure.code}: pre-tax deductions exceed taxable earnings, leaving "
                           f"taxable pay of {taxable} minor units; it must be 0 or more", field="taxable_minor")
    # The totals by kind in one pass over the lines (GROSS_KINDS, DEDUCTION_KINDS: deduction and tax lines).
    gross_total = other_deductions = tax = contributions = 0
    for ln in lines:
        kind = ln.kind
        if kind in GROSS_KINDS:
            gross_total += ln.amount_minor
        elif kind is LineKind.TAX:
            tax += ln.amount_minor
        elif kind in DEDUCTION_KINDS:
            other_deductions += ln.amount_minor
        elif kind is LineKind.EMPLOYER_CONTRIBUTION:
            contributions += ln.amount_minor
    deductions = other_deductions + tax
    net = gross_total - deductions
    final = tuple(lines)
    # Built without Payslip.check: its totals are the sums of its lines by construction just above, its lines are
    # PayslipLines and its currency the structure's, checked when the structure was built (10,000 payslips a run).
    slip = _new(Payslip)
    _set(slip, "__dict__", {
        "structure_code": structure.code, "currency": structure.currency, "pay_date": period.pay_date,
        "frequency": period.frequency, "lines": final, "gross_minor": gross_total, "deductions_minor": deductions,
        "net_minor": net, "employer_contributions_minor": contributions,
        "employer_cost_minor": gross_total + contributions, "taxable_minor": taxable, "tax_minor": tax,
        "payment_days": inputs.payment_days, "working_days": inputs.working_days,
        "ytd": inputs.ytd.plus(gross_minor=gross_total, taxable_minor=taxable, tax_minor=tax, net_minor=net,
                               lines=final),
        "withholdings": tuple(withholdings)})
    return slip


# ---------------------------------------------------------------- arrears (retro pay)


@dataclass(frozen=True)
class ArrearsPeriod:
    """One past pay period whose contract amount changed retroactively.

    `label` names the period on the payslip ("2025-03"); `old_minor` is the full-period amount the old contract
    paid and `new_minor` the amount the new one pays, both in minor units; `payment_days` and `working_days`
    (both or neither) prorate the difference as that period's payslip was prorated. Raises InvalidInput
    naming the field.
    """

    label: str
    old_minor: int
    new_minor: int
    payment_days: Number | None = None
    working_days: Number | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip() or len(self.label) > 40:
            raise InvalidInput(f"an arrears period needs a label of 1 to 40 characters, got {self.label!r}",
                               field="label")
        _check_minor(self.old_minor, field="old_minor", where=f"arrears period {self.label}")
        _check_minor(self.new_minor, field="new_minor", where=f"arrears period {self.label}")
        if (self.payment_days is None) != (self.working_days is None):
            raise InvalidInput(f"arrears period {self.label}: give payment_days and working_days together, or "
                               "neither (no proration)", field="payment_days")
        if self.working_days is not None:
            working = exact_number(self.working_days, field="working_days")
            paid = exact_number(self.payment_days, field="payment_days")
            if working <= 0 or not 0 <= paid <= working:
                raise InvalidInput(f"arrears period {self.label}: payment_days {show(paid)} must be from 0 to "
                                   f"working_days {show(working)}, which must be above 0", field="payment_days")
            object.__setattr__(self, "working_days", working)
            object.__setattr__(self, "payment_days", paid)

    @property
    def difference(self) -> Fraction:
        """The exact amount owed for the period: (new - old) x payment_days / working_days, unrounded."""
        diff = Fraction(self.new_minor - self.old_minor)
        if self.working_days is None:
            return diff
        return diff * Fraction(self.payment_days) / Fraction(self.working_days)  # type: ignore[arg-type]


def compute_arrears(periods: Sequence[ArrearsPeriod], *, code: str = "ARREARS",
                    name: str = "Arrears") -> tuple[PayslipLine, ...]:
    """Return one arrears line per past period whose difference is not zero, in the order given.

    Each line is `code`, "`name` `label`", kind arrears, amount = the period's exact difference rounded once,
    half up, to minor units (the engine's one rounding policy); a pay cut applied retroactively gives a
    negative line (a recovery). Raises InvalidInput for a bad code or name (field `code`, `name`), periods
    that are not ArrearsPeriod, or a label used twice (field `periods`).
    """
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise InvalidInput(f"arrears code {code!r} must be a letter then letters, digits or _ (at most 40)",
                           field="code")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("arrears lines need a name", field="name")
    labels: set[str] = set()
    lines: list[PayslipLine] = []
    for period in periods:
        if not isinstance(period, ArrearsPeriod):
            raise InvalidInput(f"periods must be ArrearsPeriod, not {type(period).__name__}", field="periods")
        if period.label in labels:
            raise InvalidInput(f"arrears period {period.label!r} is given twice", field="periods")
        labels.add(period.label)
        amount = round_half_up(period.difference)
        if amount:
            lines.append(PayslipLine(code, f"{name} {period.label}", LineKind.ARREARS, amount))
    return tuple(lines)
