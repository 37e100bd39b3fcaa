"""Progressive withholding tables as data: pick the table in force on a pay date, compute withholding exactly.

A `TaxTable` is one published table: a code naming the tax (`AU_PAYGW`), an optional filing status (the
ATO's "scale 2", the IRS's "married filing jointly"), the dates it is in force (`effective_from`, optional
`effective_to`, both inclusive), the currency, the pay period its bands are written for (weekly, annual),
the pay frequencies the publication covers, its bands, and its own published rounding rules. A
`TaxTableSet` holds several and picks the one in force (`pick`); `withholding` computes the amount.

Bands are written in MAJOR units of the currency (dollars), as publications print them; a band covers
earnings from its `lower` bound (inclusive) up to the next band's, and its tax is
`base + rate x (earnings - over)`, where `over` is the band's lower bound unless the table says otherwise.
That one form holds both ways publications write bands:

- "tentative amount plus rate of the excess over the lower bound" (IRS Publication 15-T, Philippine BIR):
  `base` is the amount printed for the band, `over` its lower bound;
- "y = a x - b" (ATO Schedule 1): `rate = a`, `base = -b`, `over = 0`.

How a pay period's withholding is computed (each step only if the table asks for it):

1. taxable pay in minor units; under the ATO's monthly rule, an amount ending in 33 cents gets one more cent;
2. convert to the bands' period exactly: pay x (pay periods a year) / (band periods a year) - the ATO's
   "fortnightly / 2", "monthly x 3 / 13", "quarterly / 13" and the IRS's annualising are this one rule;
3. round the earnings as the table says (ATO: ignore cents, then add 99 cents: that is the `x` of the formula);
4. find the band, compute its tax exactly (Fraction), never below zero;
5. round the band-period tax as the table says (ATO: to the nearest dollar, 50 cents up, directly);
6. convert back to the pay period: tax x (band periods a year) / (pay periods a year);
7. round to the table's pay-period rule (ATO: nearest dollar; the default is the nearest minor unit, half
   up) and return integer minor units.

The bundled tables live in `domain/payroll/tables/*.json` (see the README there for sources); today that is
the Australian Taxation Office's Schedule 1 (NAT 1004), for payments from 13 October 2020 to 30 June 2024, from
1 July 2024 to 30 June 2026 (the 2024 schedule, continued unchanged for 2025-26) and from 1 July 2026 to
30 June 2027. `bundled_tax_tables()` loads them once. Each table carries its `citation` (publisher, publication,
NAT number, date of effect, URL) and every `Withholding` carries it on, so a payslip can say which publication
its withholding came from (`Withholding.record()`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from domain.kernel import money
from domain.kernel.errors import InvalidInput

_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
Number = int | Fraction | Decimal


# ---------------------------------------------------------------- exact numbers and rounding


def exact_number(value: object, *, field: str) -> Fraction:
    """Return `value` as a Fraction; raise InvalidInput naming `field` unless it is an exact finite number.

    Accepts int, Fraction, Decimal and decimal strings ("0.3477"); refuses floats (0.1 is not one tenth in
    binary), booleans and anything else.
    """
    kind = type(value)
    if kind is Fraction:  # the common cases first (a payroll checks tens of thousands of numbers a run)
        return value  # type: ignore[return-value]
    if kind is int:
        return Fraction(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidInput(f"{field} is {value!r}, which is not a number; write a decimal such as "
                               "\"0.3477\"", field=field) from None
    if isinstance(value, bool) or not isinstance(value, (int, Fraction, Decimal)):
        raise InvalidInput(f"{field} must be an exact number (int, Fraction, Decimal or a decimal string), "
                           f"not {type(value).__name__} {value!r}; floats cannot hold decimals such as 0.1 "
                           "exactly", field=field)
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidInput(f"{field} must be a finite number, not {value}", field=field)
    return Fraction(value)


def show(value: Fraction) -> str:
    """Write an exact number for a message: as a decimal when it has a short one (0.3477), else a/b."""
    numerator, denominator = value.numerator, value.denominator
    for places in range(9):
        scale = 10**places
        if scale % denominator == 0:  # value x 10^places is whole: integer arithmetic only
            scaled = numerator * (scale // denominator)
            if places == 0:
                return str(scaled)
            sign = "-" if scaled < 0 else ""
            whole, frac = divmod(abs(scaled), scale)
            return f"{sign}{whole}.{frac:0{places}d}"
    return f"{numerator}/{denominator}"


class RoundingMode(StrEnum):
    """How an exact amount is rounded to a unit.

    HALF_UP: to the nearest unit, halves away from zero (2.5 -> 3, -2.5 -> -3; decimal's ROUND_HALF_UP, the
    ATO's "values ending in 50 cents are rounded to the next higher dollar" for the amounts it rounds).
    HALF_EVEN: to the nearest unit, halves to the even neighbour (decimal's ROUND_HALF_EVEN).
    DOWN: toward zero (the ATO's "ignore any cents"; decimal's ROUND_DOWN).
    UP: away from zero (decimal's ROUND_UP).
    """

    HALF_UP = "half_up"
    HALF_EVEN = "half_even"
    DOWN = "down"
    UP = "up"


def _mode(value: object, *, field: str) -> RoundingMode:
    try:
        return RoundingMode(value)  # type: ignore[arg-type]
    except ValueError:
        allowed = ", ".join(m.value for m in RoundingMode)
        raise InvalidInput(f"rounding mode {value!r} is unknown; use one of {allowed}", field=field) from None


def round_to_integer(value: Fraction, mode: RoundingMode) -> int:
    """Round an exact number to an integer with `mode` (halves away from zero for HALF_UP)."""
    # On the integers of the fraction (numerator, denominator > 0): payroll rounds every line with this, so it
    # avoids building intermediate Fractions.
    return _round_ratio(value.numerator, value.denominator, mode)


def _round_ratio(numerator: int, denominator: int, mode: RoundingMode) -> int:
    """round_to_integer of numerator / denominator (denominator > 0), on the integers alone."""
    sign = -1 if numerator < 0 else 1
    floor, rest = divmod(abs(numerator), denominator)  # magnitude = floor + rest / denominator
    if mode is RoundingMode.DOWN or rest == 0:
        result = floor
    elif mode is RoundingMode.UP:
        result = floor + 1
    elif 2 * rest > denominator:
        result = floor + 1
    elif 2 * rest < denominator:
        result = floor
    elif mode is RoundingMode.HALF_EVEN:
        result = floor if floor % 2 == 0 else floor + 1
    else:
        result = floor + 1
    return sign * result


def round_half_up(value: Fraction) -> int:
    """Round an exact number to the nearest integer, halves away from zero (ROUND_HALF_UP): 2.5 -> 3."""
    if type(value) is int:  # whole already (a fixed amount, a sum of lines): itself
        return value
    return _round_ratio(value.numerator, value.denominator, RoundingMode.HALF_UP)


def round_half_up_ratio(numerator: int, denominator: int) -> int:
    """round_half_up of numerator / denominator (denominator above 0, in lowest terms or not), on the integers
    alone: the payroll engine's lines, whose exact amounts it keeps as integers."""
    if denominator == 1:
        return numerator
    whole, rest = divmod(abs(numerator), denominator)
    if 2 * rest >= denominator:  # the nearest integer, or a half (away from zero)
        whole += 1
    return whole if numerator >= 0 else -whole


@dataclass(frozen=True)
class Rounding:
    """Round to a multiple of `unit` (major units of the currency: 1 = whole dollars, 0.01 = cents).

    Raises InvalidInput (field `unit`, `mode`) for a unit that is not above 0 or an unknown mode.
    """

    unit: Fraction
    mode: RoundingMode = RoundingMode.HALF_UP

    def __post_init__(self) -> None:
        unit = exact_number(self.unit, field="unit")
        if unit <= 0:
            raise InvalidInput(f"a rounding unit must be above 0, not {show(unit)}", field="unit")
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "mode", _mode(self.mode, field="mode"))

    def apply(self, value: Fraction) -> Fraction:
        """Return `value` rounded to a multiple of the unit, exactly."""
        return round_to_integer(value / self.unit, self.mode) * self.unit


# ---------------------------------------------------------------- pay frequencies


class PayFrequency(StrEnum):
    """How often an employee is paid, and how many such periods a year has.

    Daily is 260 (5 days x 52 weeks) and the others are the usual counts, as in IRS Publication 15-T's
    Table 3 (semiannually 2, quarterly 4, monthly 12, semimonthly 24, biweekly 26, weekly 52, daily 260);
    fortnightly is the IRS's biweekly. The ATO's weekly equivalents use the same counts: monthly x 3 / 13 is
    x 12 / 52, quarterly / 13 is x 4 / 52.
    """

    DAILY = "daily"
    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    SEMIMONTHLY = "semimonthly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMIANNUAL = "semiannual"
    ANNUAL = "annual"

    @property
    def periods_per_year(self) -> int:
        """The number of such pay periods in a year (weekly 52, monthly 12, ...)."""
        return _PERIODS_PER_YEAR[self]


_PERIODS_PER_YEAR = {
    PayFrequency.DAILY: 260, PayFrequency.WEEKLY: 52, PayFrequency.FORTNIGHTLY: 26,
    PayFrequency.SEMIMONTHLY: 24, PayFrequency.MONTHLY: 12, PayFrequency.QUARTERLY: 4,
    PayFrequency.SEMIANNUAL: 2, PayFrequency.ANNUAL: 1,
}


def pay_frequency(value: object, *, field: str = "frequency") -> PayFrequency:
    """Return `value` as a PayFrequency; raise InvalidInput naming the allowed ones if it is unknown."""
    try:
        return PayFrequency(value)  # type: ignore[arg-type]
    except ValueError:
        allowed = ", ".join(f.value for f in PayFrequency)
        raise InvalidInput(f"pay frequency {value!r} is unknown; use one of {allowed}", field=field) from None


# ---------------------------------------------------------------- bands and tables


@dataclass(frozen=True)
class TaxBand:
    """One band: from `lower` (inclusive, major units per band period) its tax is base + rate x (x - over).

    `over` defaults to `lower` ("plus rate of the excess over the lower bound"); the ATO's y = a x - b is
    TaxBand(lower, rate=a, base=-b, over=0). `rate` is a fraction (0.3477 = 34.77 %), 0..1. Raises
    InvalidInput (field `bands`) for a negative lower bound, a rate outside 0..1 or inexact numbers.
    """

    lower: Fraction
    rate: Fraction
    base: Fraction = Fraction(0)
    over: Fraction | None = None

    def __post_init__(self) -> None:
        lower = exact_number(self.lower, field="bands")
        rate = exact_number(self.rate, field="bands")
        base = exact_number(self.base, field="bands")
        if lower < 0:
            raise InvalidInput(f"a band's lower bound must be 0 or more, not {show(lower)}", field="bands")
        if not 0 <= rate <= 1:
            raise InvalidInput(f"band from {show(lower)} has rate {show(rate)}; a rate is a fraction from 0 "
                               "to 1 (0.3477 for 34.77 %)", field="bands")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "rate", rate)
        object.__setattr__(self, "base", base)
        if self.over is not None:
            object.__setattr__(self, "over", exact_number(self.over, field="bands"))

    def tax(self, earnings: Fraction) -> Fraction:
        """Return this band's exact tax on `earnings` (major units per band period), unrounded."""
        over = self.lower if self.over is None else self.over
        return self.base + self.rate * (earnings - over)


@dataclass(frozen=True)
class TaxTable:
    """One published withholding table in force between two dates; see the module docstring for the steps.

    Fields: `code` names the tax (what a salary component's `table` refers to); `filing_status` the
    jurisdiction's status or scale (None when it has none); `effective_from` and `effective_to` (None:
    open-ended) are inclusive pay dates; `currency` is ISO 4217 and `minor_unit_exponent` its minor unit
    (2 for AUD); `band_period` is the pay period the bands are written for; `pay_frequencies` are the ones the
    publication covers; `bands` start at 0 and rise; `earnings_rounding` (+ `earnings_add`) makes the
    earnings looked up in the bands; `band_period_rounding` rounds the band-period tax; `pay_period_rounding`
    rounds the pay period's tax (default: nearest minor unit, half up); `monthly_33_cents_rule` adds a cent to
    a monthly amount ending in 33 cents (ATO). `name` and `source` say what it is and where it was published;
    `citation` holds the source as (key, text) pairs (`publisher`, `publication`, `nat`, `date_of_effect`, `url`,
    ...; see `citation_dict`).

    Raises InvalidInput naming the field for a bad code, currency, exponent, date range, band order, rounding
    unit finer than the minor unit at the pay-period step, an empty or repeated frequency list, or the 33-cent
    rule on a currency without cents.
    """

    code: str
    effective_from: date
    currency: str
    band_period: PayFrequency
    bands: tuple[TaxBand, ...]
    pay_frequencies: tuple[PayFrequency, ...]
    filing_status: str | None = None
    effective_to: date | None = None
    minor_unit_exponent: int = 2
    earnings_rounding: Rounding | None = None
    earnings_add: Fraction = Fraction(0)
    band_period_rounding: Rounding | None = None
    pay_period_rounding: Rounding | None = None
    monthly_33_cents_rule: bool = False
    name: str = ""
    status_description: str = ""
    source: str = field(default="", repr=False)
    citation: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "citation", _citation(self.citation, where=f"table {self.code}"))
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            raise InvalidInput(f"tax table code {self.code!r} must be a letter then letters, digits or _ "
                               "(at most 40), e.g. AU_PAYGW", field="code")
        if self.filing_status is not None and (not isinstance(self.filing_status, str)
                                               or not _CODE.fullmatch(self.filing_status)):
            raise InvalidInput(f"filing status {self.filing_status!r} of table {self.code} must be a letter "
                               "then letters, digits or _, e.g. scale_2", field="filing_status")
        try:
            money.check_currency(self.currency)
        except InvalidInput as exc:
            raise InvalidInput(f"table {self.code}: {exc.message}", field="currency") from None
        exponent = self.minor_unit_exponent
        if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= 4:
            raise InvalidInput(f"minor_unit_exponent {exponent!r} of table {self.code} must be a whole number "
                               "0..4 (ISO 4217: 2 for AUD and USD, 0 for JPY)", field="minor_unit_exponent")
        if exponent != money.MINOR_UNITS[self.currency]:
            raise InvalidInput(f"minor_unit_exponent {exponent} of table {self.code} disagrees with ISO 4217, "
                               f"which gives {self.currency} {money.MINOR_UNITS[self.currency]} decimals",
                               field="minor_unit_exponent")
        if not isinstance(self.effective_from, date):
            raise InvalidInput(f"table {self.code}: effective_from must be a date, not "
                               f"{self.effective_from!r}", field="effective_from")
        if self.effective_to is not None:
            if not isinstance(self.effective_to, date):
                raise InvalidInput(f"table {self.code}: effective_to must be a date or None, not "
                                   f"{self.effective_to!r}", field="effective_to")
            if self.effective_to < self.effective_from:
                raise InvalidInput(f"table {self.code}: effective_to {self.effective_to} is before "
                                   f"effective_from {self.effective_from}", field="effective_to")
        object.__setattr__(self, "band_period", pay_frequency(self.band_period, field="band_period"))
        frequencies = tuple(pay_frequency(f, field="pay_frequencies") for f in self.pay_frequencies)
        if not frequencies or len(set(frequencies)) != len(frequencies):
            raise InvalidInput(f"table {self.code}: pay_frequencies must list each covered frequency once, "
                               f"got {[f.value for f in frequencies]}", field="pay_frequencies")
        object.__setattr__(self, "pay_frequencies", frequencies)
        bands = tuple(self.bands)
        if not bands or not all(isinstance(b, TaxBand) for b in bands):
            raise InvalidInput(f"table {self.code} needs at least one TaxBand, starting at 0", field="bands")
        if bands[0].lower != 0:
            raise InvalidInput(f"table {self.code}: the first band starts at {show(bands[0].lower)}; it must "
                               "start at 0 so that every amount falls in a band", field="bands")
        for below, above in pairwise(bands):
            if above.lower <= below.lower:
                raise InvalidInput(f"table {self.code}: band lower bounds must rise; {show(above.lower)} "
                                   f"follows {show(below.lower)}", field="bands")
        object.__setattr__(self, "bands", bands)
        object.__setattr__(self, "earnings_add", exact_number(self.earnings_add, field="earnings_add"))
        for name in ("earnings_rounding", "band_period_rounding", "pay_period_rounding"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Rounding):
                raise InvalidInput(f"table {self.code}: {name} must be a Rounding or None", field=name)
        minor = Fraction(1, 10**exponent)
        if self.pay_period_rounding is None:
            object.__setattr__(self, "pay_period_rounding", Rounding(minor, RoundingMode.HALF_UP))
        elif (self.pay_period_rounding.unit / minor).denominator != 1:
            raise InvalidInput(f"table {self.code}: pay_period_rounding unit "
                               f"{show(self.pay_period_rounding.unit)} is finer than the currency's minor unit "
                               f"{show(minor)}", field="pay_period_rounding")
        if not isinstance(self.monthly_33_cents_rule, bool):
            raise InvalidInput(f"table {self.code}: monthly_33_cents_rule must be true or false, not "
                               f"{self.monthly_33_cents_rule!r}", field="monthly_33_cents_rule")
        if self.monthly_33_cents_rule and exponent != 2:
            raise InvalidInput(f"table {self.code}: the 33-cents rule needs a currency with cents "
                               "(minor_unit_exponent 2)", field="monthly_33_cents_rule")
        # withholding's steps from the looked-up earnings on, by (earnings, frequency): the table is immutable, and
        # a payroll's 10,000 pays fall on a few thousand whole-dollar earnings (ATO: cents ignored, then + 99 cents).
        object.__setattr__(self, "_steps", {})
        _table_integers(self)

    @property
    def label(self) -> str:
        """A short name for messages: code, status and dates, e.g. "AU_PAYGW scale_2 2024-07-01..2026-06-30"."""
        status = f" {self.filing_status}" if self.filing_status else ""
        end = self.effective_to.isoformat() if self.effective_to else ""
        return f"{self.code}{status} {self.effective_from.isoformat()}..{end}"

    @property
    def citation_dict(self) -> dict[str, str]:
        """The citation as a dict: {"publisher", "publication", "nat", "date_of_effect", "url", ...} (may be empty)."""
        return dict(self.citation)

    def in_force(self, on: date) -> bool:
        """Return whether the table applies to pay dated `on` (both ends inclusive)."""
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)

    def band_for(self, earnings: Fraction) -> TaxBand:
        """Return the band whose range holds `earnings` (major units per band period, 0 or more)."""
        chosen = self.bands[0]
        for band in self.bands:
            if band.lower <= earnings:
                chosen = band
            else:
                break
        return chosen


@dataclass(frozen=True)
class Withholding:
    """The amount to withhold from one pay, with the published method's working.

    `amount_minor` is the withholding for the pay period in minor units of `currency`. The working, in major
    units per band period: `earnings` is what was looked up in the bands (the ATO's x), `band` the band
    used, `band_period_tax` its exact tax (the ATO's y before rounding, never below 0) and
    `band_period_tax_rounded` after the table's own rounding. `table_effective_to`, `source` and `citation` say
    which publication the table comes from (see `TaxTable`); `record()` gives all of it as JSON-ready data.
    """

    code: str
    filing_status: str | None
    table_effective_from: date
    currency: str
    frequency: PayFrequency
    taxable_minor: int
    earnings: Fraction
    band: TaxBand
    band_period_tax: Fraction
    band_period_tax_rounded: Fraction
    amount_minor: int
    table_effective_to: date | None = None
    source: str = field(default="", repr=False)
    citation: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    texts: Mapping[str, str] | None = field(default=None, repr=False, compare=False)
    """The record's texts that depend only on the table, the frequency and `earnings` (`withholding` renders them
    once per such step: a payroll withholds 10,000 times from a few hundred steps); None: rendered by record()."""

    def record(self) -> dict[str, Any]:
        """Return the working and the table's citation as JSON-ready data, for a payslip's stored detail.

        Shape: {"table": code, "filing_status", "in_force": "YYYY-MM-DD..YYYY-MM-DD" (open end: ".."),
        "frequency", "taxable_minor", "earnings" (the band period's looked-up earnings, a decimal string in major
        units), "band_from", "rate", "base" (the band, decimal strings), "band_period_tax" (exact, as a decimal
        or a/b), "band_period_tax_rounded", "amount_minor", "citation" ({"publisher", "publication", "nat",
        "date_of_effect", "url", ...})}. The longer `source` text stays with the table, keeping payslip rows small.
        """
        if self.texts is not None:
            texts = self.texts
            return {
                "table": self.code, "filing_status": self.filing_status, "in_force": texts["in_force"],
                "frequency": texts["frequency"], "taxable_minor": self.taxable_minor, "earnings": texts["earnings"],
                "band_from": texts["band_from"], "rate": texts["rate"], "base": texts["base"],
                "band_period_tax": texts["band_period_tax"],
                "band_period_tax_rounded": texts["band_period_tax_rounded"],
                "amount_minor": self.amount_minor, "citation": dict(self.citation),
            }
        fixed = _record_constants(self.code, self.filing_status, self.table_effective_from, self.table_effective_to,
                                  self.frequency, self.band)
        return {
            "table": self.code, "filing_status": self.filing_status, "in_force": fixed["in_force"],
            "frequency": fixed["frequency"], "taxable_minor": self.taxable_minor, "earnings": show(self.earnings),
            "band_from": fixed["band_from"], "rate": fixed["rate"], "base": fixed["base"],
            "band_period_tax": show(self.band_period_tax),
            "band_period_tax_rounded": show(self.band_period_tax_rounded), "amount_minor": self.amount_minor,
            "citation": dict(self.citation),
        }

    def record_json(self) -> str:
        """Return `json.dumps(self.record())`, the same text (what a payslip's `ytd` column stores).

        With a step's texts (`withholding`), everything but `taxable_minor` is the same for every pay of that step
        (its table's code, status and citation, the step's texts and amount): that JSON is rendered once per step,
        kept in the texts under RECORD_JSON with what it was rendered from, and only `taxable_minor` is written per
        pay (10,000 payslips a run: 97 -> about 10 ms)."""
        texts = self.texts
        if type(texts) is not dict or type(self.taxable_minor) is not int:
            return json.dumps(self.record())
        fixed = (self.code, self.filing_status, self.amount_minor, self.citation)
        parts = texts.get(RECORD_JSON)
        if parts is None or parts[0] != fixed:
            # record()'s keys in its order, split around taxable_minor (json.dumps joins a dict's items with ", ",
            # so the pieces render as the whole does); the citation, the longest part, rendered once per table.
            # Rendered once per step, and a run has a step for most of its distinct taxable pays (thousands): the
            # texts quoted by json's own string encoder and joined here rather than two json.dumps of dicts.
            text = encode_basestring_ascii
            if type(self.amount_minor) is int and isinstance(self.code, str) and isinstance(
                    self.filing_status, str | None) and all(isinstance(texts[k], str) for k in _RECORD_TEXTS):
                status = "null" if self.filing_status is None else text(self.filing_status)
                head = (f'{{"table": {text(self.code)}, "filing_status": {status}, "in_force": '
                        f'{text(texts["in_force"])}, "frequency": {text(texts["frequency"])}, "taxable_minor": ')
                tail = (f', "earnings": {text(texts["earnings"])}, "band_from": {text(texts["band_from"])}, '
                        f'"rate": {text(texts["rate"])}, "base": {text(texts["base"])}, "band_period_tax": '
                        f'{text(texts["band_period_tax"])}, "band_period_tax_rounded": '
                        f'{text(texts["band_period_tax_rounded"])}, "amount_minor": {int.__repr__(self.amount_minor)}'
                        f', "citation": {_citation_json(self.citation)}}}')
            else:
                head = json.dumps({"table": self.code, "filing_status": self.filing_status,
                                   "in_force": texts["in_force"], "frequency": texts["frequency"]})[:-1] + (
                    ', "taxable_minor": ')
                tail = ", " + json.dumps({
                    "earnings": texts["earnings"], "band_from": texts["band_from"], "rate": texts["rate"],
                    "base": texts["base"], "band_period_tax": texts["band_period_tax"],
                    "band_period_tax_rounded": texts["band_period_tax_rounded"],
                    "amount_minor": self.amount_minor})[1:-1] + f', "citation": {_citation_json(self.citation)}}}'
            parts = texts[RECORD_JSON] = (fixed, head, tail)
        return f"{parts[1]}{self.taxable_minor}{parts[2]}"


@lru_cache(maxsize=64)
def _citation_json(citation: tuple[tuple[str, str], ...]) -> str:
    """json.dumps(dict(citation)): a table's citation as Withholding.record_json writes it, once per table."""
    return json.dumps(dict(citation))


_RECORD_TEXTS = ("in_force", "frequency", "earnings", "band_from", "rate", "base", "band_period_tax",
                 "band_period_tax_rounded")
"""The texts of a step that Withholding.record_json writes."""

RECORD_JSON = "record_json"
"""The key under which `Withholding.record_json` keeps a step's rendered JSON in its texts: (what it was rendered
from, the text before taxable_minor's value, the text after it)."""


@lru_cache(maxsize=4096)
def _record_constants(code: str, filing_status: str | None, effective_from: date, effective_to: date | None,
                      frequency: PayFrequency, band: TaxBand) -> dict[str, str]:
    """The texts of Withholding.record that are the same for every pay withheld by one table's band at one frequency
    (a payroll records 10,000 withholdings from a few bands): in_force, frequency, band_from, rate, base. Read only."""
    end = effective_to.isoformat() if effective_to else ""
    return {"in_force": f"{effective_from.isoformat()}..{end}", "frequency": frequency.value,
            "band_from": show(band.lower), "rate": show(band.rate), "base": show(band.base)}


def withholding(table: TaxTable, *, taxable_minor: int, frequency: PayFrequency | str) -> Withholding:
    """Compute the withholding from one pay of `taxable_minor` (minor units) paid at `frequency`.

    Follows the steps in the module docstring, exactly. Raises InvalidInput (field `taxable_minor`) for a
    taxable amount that is not a whole number of minor units or is negative, and (field `frequency`) for a
    frequency the table's publication does not cover.
    """
    if isinstance(taxable_minor, bool) or not isinstance(taxable_minor, int):
        raise InvalidInput(f"taxable pay must be a whole number of minor units, not "
                           f"{type(taxable_minor).__name__} {taxable_minor!r}", field="taxable_minor")
    if taxable_minor < 0:
        raise InvalidInput(f"taxable pay {taxable_minor} is negative; withholding needs 0 or more",
                           field="taxable_minor")
    freq = pay_frequency(frequency)
    if freq not in table.pay_frequencies:
        allowed = ", ".join(f.value for f in table.pay_frequencies)
        raise InvalidInput(f"table {table.label} covers {allowed} pays, not {freq.value}",
                           field="frequency")
    minor = taxable_minor
    if table.monthly_33_cents_rule and freq is PayFrequency.MONTHLY and minor % 100 == 33:
        minor += 1
    # earnings = minor / 10^exponent x the pay's periods a year / the band period's, rounded by the table's unit,
    # plus its addition: worked on integers (numerator, denominator), one Fraction made at the end.
    numerator = minor * freq.periods_per_year
    denominator = 10**table.minor_unit_exponent * table.band_period.periods_per_year
    if table.earnings_rounding is not None:
        unit = table.earnings_rounding.unit
        whole = _round_ratio(numerator * unit.denominator, denominator * unit.numerator, table.earnings_rounding.mode)
        numerator, denominator = whole * unit.numerator, unit.denominator
    add = table.earnings_add
    steps = table._steps  # type: ignore[attr-defined]
    key = (numerator * add.denominator + add.numerator * denominator, denominator * add.denominator, freq)
    known = steps.get(key)  # by the integers, not the Fraction: a Fraction's hash costs a modular inverse
    if known is None:
        index, earnings, tax, rounded, amount = _step(table, key[0], key[1], freq)
        band_texts = table._band_texts  # type: ignore[attr-defined]
        fixed = band_texts.get((index, freq))
        if fixed is None:
            fixed = band_texts[(index, freq)] = _record_constants(table.code, table.filing_status,
                                                                  table.effective_from, table.effective_to, freq,
                                                                  table.bands[index])
        texts = {  # shared by every Withholding of this step (read only but RECORD_JSON; tables are pickled)
            **fixed, "earnings": show(earnings), "band_period_tax": show(tax), "band_period_tax_rounded": show(rounded)}
        known = (earnings, table.bands[index], tax, rounded, amount, texts)
        if len(steps) < 100_000:  # bounded: a table's distinct earnings a payroll can look up
            steps[key] = known
    earnings, band, tax, rounded, amount_minor, texts = known
    # Built as the constructor would (it checks nothing), its attribute dict assigned once instead of one
    # object.__setattr__ per field of the frozen dataclass (10,000 withholdings a payroll run).
    result = object.__new__(Withholding)
    object.__setattr__(result, "__dict__", {
        "code": table.code, "filing_status": table.filing_status, "table_effective_from": table.effective_from,
        "currency": table.currency, "frequency": freq, "taxable_minor": taxable_minor, "earnings": earnings,
        "band": band, "band_period_tax": tax, "band_period_tax_rounded": rounded, "amount_minor": amount_minor,
        "table_effective_to": table.effective_to, "source": table.source, "citation": table.citation,
        "texts": texts})
    return result


def _ratio(value: Fraction) -> tuple[int, int]:
    return value.numerator, value.denominator


def _table_integers(table: TaxTable) -> tuple[Any, ...]:
    """The table's rules on integers, for `_step` (kept on the table, made by __post_init__, or here for a table
    unpickled from code without them): each band's (lower, rate, base, over) as (numerator, denominator) pairs, the
    band-period and pay-period roundings as (unit numerator, unit denominator, mode); and `_band_texts`,
    _record_constants by (band index, frequency)."""
    assert table.pay_period_rounding is not None  # set in __post_init__
    integers = (
        tuple((b.lower.numerator, b.lower.denominator, b.rate.numerator, b.rate.denominator, b.base.numerator,
               b.base.denominator, *_ratio(b.lower if b.over is None else b.over)) for b in table.bands),
        None if table.band_period_rounding is None else (*_ratio(table.band_period_rounding.unit),
                                                         table.band_period_rounding.mode),
        (*_ratio(table.pay_period_rounding.unit), table.pay_period_rounding.mode))
    object.__setattr__(table, "_integers", integers)
    object.__setattr__(table, "_band_texts", {})
    return integers


def _step(table: TaxTable, numerator: int, denominator: int, freq: PayFrequency
          ) -> tuple[int, Fraction, Fraction, Fraction, int]:
    """The working of one looked-up earnings, numerator / denominator (major units per band period, denominator
    above 0): (the band's index in table.bands, the earnings, the band period's tax, that tax rounded, the amount
    withheld in minor units). The module docstring's steps on integers (a common denominator per step, no
    intermediate Fraction): the same figures as `_step_exact`, which works them as Fractions (a property test
    compares the two); a payroll looks up a few thousand distinct earnings, each a step."""
    integers = table.__dict__.get("_integers") or _table_integers(table)
    bands, band_period_rounding, (unit_n, unit_d, mode) = integers
    index = 0
    for i, (lower_n, lower_d, *_) in enumerate(bands):  # the last band whose lower bound is at most the earnings
        if lower_n * denominator <= numerator * lower_d:
            index = i
        else:
            break
    _, _, rate_n, rate_d, base_n, base_d, over_n, over_d = bands[index]
    # tax = base + rate x (earnings - over), never below 0: tax_n / tax_d
    tax_d = base_d * rate_d * denominator * over_d
    tax_n = max(0, base_n * rate_d * denominator * over_d + base_d * rate_n * (numerator * over_d - over_n * denominator))
    if band_period_rounding is None:
        rounded_n, rounded_d = tax_n, tax_d
    else:  # to a multiple of the unit u: round(tax / u) x u
        band_n, band_d, band_mode = band_period_rounding
        rounded_n, rounded_d = _round_ratio(tax_n * band_d, tax_d * band_n, band_mode) * band_n, band_d
    # the pay period's share (x band periods a year / pay periods a year), rounded to its unit, in minor units
    per_pay_n, per_pay_d = rounded_n * table.band_period.periods_per_year, rounded_d * freq.periods_per_year
    amount = _round_ratio(per_pay_n * unit_d, per_pay_d * unit_n, mode) * unit_n * 10**table.minor_unit_exponent
    amount_minor = amount // unit_d if amount >= 0 else -(-amount // unit_d)  # int() of the Fraction: truncated
    return index, Fraction(numerator, denominator), Fraction(tax_n, tax_d), Fraction(rounded_n, rounded_d), amount_minor


def _step_exact(table: TaxTable, earnings: Fraction, freq: PayFrequency
                ) -> tuple[int, Fraction, Fraction, Fraction, int]:
    """`_step` worked with Fractions, as the module docstring writes the steps (the reference the tests compare
    `_step` with)."""
    band = table.band_for(earnings)
    tax = max(Fraction(0), band.tax(earnings))
    rounded = tax if table.band_period_rounding is None else table.band_period_rounding.apply(tax)
    per_pay = rounded * table.band_period.periods_per_year / freq.periods_per_year
    assert table.pay_period_rounding is not None  # set in __post_init__
    amount = table.pay_period_rounding.apply(per_pay) * 10**table.minor_unit_exponent
    return table.bands.index(band), earnings, tax, rounded, int(amount)


UNUSED_LEAVE_FLAT_RATE = Fraction(32, 100)
"""ATO Schedule 7 (NAT 3351), "Tax table for unused leave payments on termination of employment", for payments
from 13 October 2020: 32 % of unused annual and long service leave paid on a genuine redundancy, invalidity or
early retirement scheme (post-17 August 1993), and the cap on a normal termination's payment under $300."""
UNUSED_LEAVE_SMALL_MINOR = 30_000
"""$300 in cents: below it, a normal termination's unused leave withholds the lesser of the marginal-rate amount
and 32 % (ATO Schedule 7)."""


def unused_leave_withholding(table: TaxTable, *, normal_minor: int, payment_minor: int,
                             frequency: PayFrequency | str, genuine_redundancy: bool = False) -> int:
    """Return the PAYG withholding (minor units) from unused leave paid on termination, by ATO Schedule 7 (NAT 3351).

    Genuine redundancy, invalidity or an early retirement scheme: 32 % of the payment. A normal termination
    (post-17 August 1993 leave): the marginal-rate method the schedule prescribes: (1) withhold on the employee's
    normal gross earnings for a pay period (`normal_minor`, the last full period's, with this `table`); (2) divide
    the payment by the pay periods in a year (52, 26, 12); (3) ignore cents; (4) add it to the normal earnings;
    (5) withhold on that; (6) subtract (1) from (5); (7) multiply by the pay periods in a year. A payment under $300
    withholds the lesser of that and 32 %. Amounts withheld are whole dollars (32 % rounded half up to the dollar).
    Raises InvalidInput for negative amounts (field `taxable_minor`) or a frequency the table does not cover.
    """
    if payment_minor < 0 or normal_minor < 0:
        raise InvalidInput("unused leave paid and normal earnings must be 0 or more minor units", field="taxable_minor")
    if payment_minor == 0:
        return 0
    scale = 10**table.minor_unit_exponent
    flat = round_half_up(Fraction(payment_minor) * UNUSED_LEAVE_FLAT_RATE / scale) * scale
    if genuine_redundancy:
        return flat
    freq = pay_frequency(frequency)
    per_period = payment_minor // freq.periods_per_year // scale * scale
    base = withholding(table, taxable_minor=normal_minor, frequency=freq).amount_minor
    topped = withholding(table, taxable_minor=normal_minor + per_period, frequency=freq).amount_minor
    marginal = (topped - base) * freq.periods_per_year
    return min(marginal, flat) if payment_minor < UNUSED_LEAVE_SMALL_MINOR else marginal


@dataclass(frozen=True)
class TaxTableSet:
    """Tax tables by code, filing status and dates; picks the one in force on a pay date.

    Raises InvalidInput (field `tables`) when two tables with the same code and filing status are in force
    on a common day, when one code mixes currencies, or when one code has tables with and without filing
    statuses.
    """

    tables: tuple[TaxTable, ...] = ()

    def __post_init__(self) -> None:
        tables = tuple(self.tables)
        for table in tables:
            if not isinstance(table, TaxTable):
                raise InvalidInput(f"a tax table set holds TaxTable, not {type(table).__name__}",
                                   field="tables")
        by_code: dict[str, list[TaxTable]] = {}
        for table in tables:
            by_code.setdefault(table.code, []).append(table)
        for code, group in by_code.items():
            currencies = {t.currency for t in group}
            if len(currencies) > 1:
                raise InvalidInput(f"tax {code} has tables in {', '.join(sorted(currencies))}; one code "
                                   "is one currency", field="tables")
            if len({t.filing_status is None for t in group}) > 1:
                raise InvalidInput(f"tax {code} has tables with and without a filing status; give every "
                                   "table of a code a status, or none", field="tables")
            keyed: dict[str | None, list[TaxTable]] = {}
            for table in group:
                keyed.setdefault(table.filing_status, []).append(table)
            for same in keyed.values():
                same.sort(key=lambda t: t.effective_from)
                for earlier, later in pairwise(same):
                    if earlier.effective_to is None or earlier.effective_to >= later.effective_from:
                        raise InvalidInput(f"tables {earlier.label} and {later.label} are both in force on "
                                           f"{later.effective_from}; end the earlier one the day before",
                                           field="tables")
        object.__setattr__(self, "tables", tables)
        # Answers of filing_statuses and pick, which a payroll asks once per payslip; the set is immutable.
        object.__setattr__(self, "_memo", {})

    def codes(self) -> tuple[str, ...]:
        """Return the tax codes in the set, sorted."""
        return tuple(sorted({t.code for t in self.tables}))

    def filing_statuses(self, code: str) -> tuple[str, ...]:
        """Return the filing statuses tax `code` has in the set, sorted (empty when it has none)."""
        if not isinstance(code, str):
            return ()
        key = ("statuses", code)
        found = self._memo.get(key)  # type: ignore[attr-defined]
        if found is None:
            found = self._memo[key] = tuple(sorted({t.filing_status for t in self.tables  # type: ignore[attr-defined]
                                                    if t.code == code and t.filing_status}))
        return found

    def merged(self, other: TaxTableSet | Iterable[TaxTable]) -> TaxTableSet:
        """Return a set holding these tables and `other`'s (checked again for overlaps)."""
        extra = other.tables if isinstance(other, TaxTableSet) else tuple(other)
        return TaxTableSet(self.tables + extra)

    def pick(self, code: str, *, on: date, filing_status: str | None = None) -> TaxTable:
        """Return the table of tax `code` (and `filing_status`) in force on pay date `on`.

        Raises InvalidInput: field `table` for an unknown code; field `filing_status` when the code needs a
        status and none or an unknown one is given, or one is given to a code without statuses; field
        `pay_date` when no table of that code and status is in force on `on` (the message lists the dates
        the set covers).
        """
        if not (isinstance(code, str) and isinstance(on, date) and isinstance(filing_status, (str, type(None)))):
            return self._pick(code, on=on, filing_status=filing_status)  # which explains what is wrong
        key = ("pick", code, on, filing_status)
        found = self._memo.get(key)  # type: ignore[attr-defined]
        if found is None:
            found = self._memo[key] = self._pick(code, on=on, filing_status=filing_status)  # type: ignore[attr-defined]
        return found

    def _pick(self, code: str, *, on: date, filing_status: str | None) -> TaxTable:
        group = [t for t in self.tables if t.code == code]
        if not group:
            known = ", ".join(self.codes()) or "none"
            raise InvalidInput(f"no tax table has code {code!r}; known codes: {known}", field="table")
        statuses = self.filing_statuses(code)
        if statuses:
            if filing_status is None:
                raise InvalidInput(f"tax {code} needs a filing status: one of {', '.join(statuses)}",
                                   field="filing_status")
            if filing_status not in statuses:
                raise InvalidInput(f"tax {code} has no filing status {filing_status!r}; use one of "
                                   f"{', '.join(statuses)}", field="filing_status")
        elif filing_status is not None:
            raise InvalidInput(f"tax {code} has no filing statuses; give none (got {filing_status!r})",
                               field="filing_status")
        if not isinstance(on, date):
            raise InvalidInput(f"pay date must be a date, not {on!r}", field="pay_date")
        candidates = [t for t in group if t.filing_status == filing_status]
        for table in candidates:
            if table.in_force(on):
                return table
        covered = ", ".join(
            f"{t.effective_from}..{t.effective_to or 'open'}"
            for t in sorted(candidates, key=lambda t: t.effective_from))
        raise InvalidInput(f"no {code} table{' for ' + filing_status if filing_status else ''} is in force on "
                           f"{on}; the tables cover {covered}", field="pay_date")


def compute_withholding(tables: TaxTableSet, code: str, *, taxable_minor: int, pay_date: date,
                        frequency: PayFrequency | str, filing_status: str | None = None) -> Withholding:
    """Pick the table of `code` in force on `pay_date` and return the withholding from one pay.

    `taxable_minor` is the pay period's taxable pay in minor units of the table's currency. Raises what
    `TaxTableSet.pick` and `withholding` raise.
    """
    table = tables.pick(code, on=pay_date, filing_status=filing_status)
    return withholding(table, taxable_minor=taxable_minor, frequency=frequency)


# ---------------------------------------------------------------- loading tables from data

_NOTATIONS = ("a_x_minus_b", "base_plus_rate_over")


def _get(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise InvalidInput(f"{where}: {key!r} is missing", field=key)
    return data[key]


def _date(value: object, *, field: str, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"{where}: {field} {value!r} is not a date; write YYYY-MM-DD", field=field) from None


def _rounding(value: object, *, field: str, where: str) -> Rounding | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: {field} must be an object with unit and mode", field=field)
    return Rounding(exact_number(_get(value, "unit", where), field=field), _mode(value.get("mode", "half_up"),
                                                                                   field=field))


def _citation(value: object, *, where: str) -> tuple[tuple[str, str], ...]:
    """Return a citation (a mapping, or (key, text) pairs) as a tuple of pairs; raise InvalidInput otherwise."""
    if value is None:
        return ()
    pairs = value.items() if isinstance(value, Mapping) else value
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Iterable):
        raise InvalidInput(f"{where}: citation must be an object of texts, e.g. {{\"publication\": ..., "
                           "\"url\": ...}", field="citation")
    out: list[tuple[str, str]] = []
    for pair in pairs:
        if (not isinstance(pair, tuple) or len(pair) != 2 or not all(isinstance(x, str) for x in pair)
                or not pair[0].strip() or not pair[1].strip()):
            raise InvalidInput(f"{where}: each citation entry must be a non-empty key with non-empty text, not "
                               f"{pair!r}", field="citation")
        out.append(pair)
    if len({k for k, _ in out}) != len(out):
        raise InvalidInput(f"{where}: citation repeats a key", field="citation")
    return tuple(out)


def _bands(rows: object, notation: str, where: str) -> tuple[TaxBand, ...]:
    if not isinstance(rows, Sequence) or isinstance(rows, (str, bytes)) or not rows:
        raise InvalidInput(f"{where}: bands must be a non-empty list", field="bands")
    bands: list[TaxBand] = []
    if notation == "a_x_minus_b":
        lower = Fraction(0)
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidInput(f"{where}: band {index + 1} must be an object", field="bands")
            last = index == len(rows) - 1
            less_than = row.get("less_than")
            if (less_than is None) != last:
                raise InvalidInput(f"{where}: band {index + 1} must have less_than "
                                   f"{'null (the last band is open)' if last else 'set'}", field="bands")
            a = exact_number(_get(row, "a", where), field="bands")
            b = exact_number(_get(row, "b", where), field="bands")
            bands.append(TaxBand(lower=lower, rate=a, base=-b, over=Fraction(0)))
            if not last:
                upper = exact_number(less_than, field="bands")
                if upper <= lower:
                    raise InvalidInput(f"{where}: band limits must rise; less_than {show(upper)} follows "
                                       f"{show(lower)}", field="bands")
                lower = upper
    else:
        for index, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise InvalidInput(f"{where}: band {index + 1} must be an object", field="bands")
            over = row.get("over")
            bands.append(TaxBand(
                lower=exact_number(_get(row, "from", where), field="bands"),
                rate=exact_number(_get(row, "rate", where), field="bands"),
                base=exact_number(row.get("base", 0), field="bands"),
                over=None if over is None else exact_number(over, field="bands"),
            ))
    return tuple(bands)


def load_tax_tables(data: Mapping[str, Any]) -> tuple[TaxTable, ...]:
    """Build the tables described by one document (the shape of `domain/payroll/tables/*.json`).

    Shape: {code, name, currency, minor_unit_exponent, method: {band_period, pay_frequencies, band_notation
    ("a_x_minus_b": rows {less_than, a, b}; "base_plus_rate_over": rows {from, rate, base, over?}),
    earnings_rounding?: {unit, mode, add?}, band_period_rounding?, pay_period_rounding?,
    monthly_33_cents_rule?}, tables: [{effective_from, effective_to?, source, citation?: {publisher?,
    publication, nat?, date_of_effect?, url, ...: text}, filing_statuses: {status:
    {description, bands}}} or {..., bands} for a jurisdiction without statuses]}. Numbers are decimal strings
    (or ints, or Decimals); floats are refused. Raises InvalidInput naming what is missing or wrong.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("a tax table document must be an object", field="tables")
    code = _get(data, "code", "tax table document")
    where = f"tax tables {code}"
    method = _get(data, "method", where)
    if not isinstance(method, Mapping):
        raise InvalidInput(f"{where}: method must be an object", field="method")
    notation = method.get("band_notation", "base_plus_rate_over")
    if notation not in _NOTATIONS:
        raise InvalidInput(f"{where}: band_notation {notation!r} is unknown; use one of "
                           f"{', '.join(_NOTATIONS)}", field="band_notation")
    earnings = method.get("earnings_rounding")
    earnings_add = Fraction(0)
    if isinstance(earnings, Mapping) and "add" in earnings:
        earnings_add = exact_number(earnings["add"], field="earnings_rounding")
    frequencies = _get(method, "pay_frequencies", where)
    if not isinstance(frequencies, Sequence) or isinstance(frequencies, str):
        raise InvalidInput(f"{where}: pay_frequencies must be a list", field="pay_frequencies")
    common: dict[str, Any] = {
        "code": code,
        "name": str(data.get("name", "")),
        "currency": _get(data, "currency", where),
        "minor_unit_exponent": data.get("minor_unit_exponent", 2),
        "band_period": pay_frequency(_get(method, "band_period", where), field="band_period"),
        "pay_frequencies": tuple(pay_frequency(f, field="pay_frequencies") for f in frequencies),
        "earnings_rounding": _rounding(earnings, field="earnings_rounding", where=where),
        "earnings_add": earnings_add,
        "band_period_rounding": _rounding(method.get("band_period_rounding"), field="band_period_rounding",
                                          where=where),
        "pay_period_rounding": _rounding(method.get("pay_period_rounding"), field="pay_period_rounding",
                                         where=where),
        "monthly_33_cents_rule": method.get("monthly_33_cents_rule", False),
    }
    entries = _get(data, "tables", where)
    if not isinstance(entries, Sequence) or isinstance(entries, str) or not entries:
        raise InvalidInput(f"{where}: tables must be a non-empty list", field="tables")
    out: list[TaxTable] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where}: each entry of tables must be an object", field="tables")
        start = _date(_get(entry, "effective_from", where), field="effective_from", where=where)
        end_raw = entry.get("effective_to")
        end = None if end_raw is None else _date(end_raw, field="effective_to", where=where)
        at = f"{where} from {start}"
        source = str(entry.get("source", ""))
        citation = _citation(entry.get("citation"), where=at)
        if "filing_statuses" in entry:
            statuses = entry["filing_statuses"]
            if not isinstance(statuses, Mapping) or not statuses:
                raise InvalidInput(f"{at}: filing_statuses must be a non-empty object", field="filing_statuses")
            for status, spec in statuses.items():
                if not isinstance(spec, Mapping):
                    raise InvalidInput(f"{at}: filing status {status} must be an object with bands",
                                       field="filing_statuses")
                out.append(TaxTable(
                    **common, filing_status=status, effective_from=start, effective_to=end, source=source,
                    citation=citation,
                    status_description=str(spec.get("description", "")),
                    bands=_bands(_get(spec, "bands", f"{at} {status}"), notation, f"{at} {status}"),
                ))
        else:
            out.append(TaxTable(**common, effective_from=start, effective_to=end, source=source,
                                citation=citation, bands=_bands(_get(entry, "bands", at), notation, at)))
    return tuple(out)


def load_tax_table_text(text: str) -> tuple[TaxTable, ...]:
    """Parse one JSON document (decimals read exactly, never as floats) and build its tables.

    Raises InvalidInput (field `tables`) for text that is not JSON, and what `load_tax_tables` raises.
    """
    try:
        data = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"tax table file is not valid JSON: {exc}", field="tables") from None
    return load_tax_tables(data)


def load_tax_table_file(path: str | Path) -> tuple[TaxTable, ...]:
    """Read one JSON tax table file (UTF-8) and build its tables; see `load_tax_tables` for the shape."""
    return load_tax_table_text(Path(path).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def bundled_tax_tables() -> TaxTableSet:
    """Return the tables shipped in `domain/payroll/tables/*.json`, loaded once per process."""
    folder = resources.files("domain.payroll").joinpath("tables")
    tables: list[TaxTable] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            tables.extend(load_tax_table_text(entry.read_text(encoding="utf-8")))
    return TaxTableSet(tuple(tables))
