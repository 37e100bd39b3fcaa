"""Payroll jurisdictions: the rules a payroll follows because of where the school is. Pure: no I/O.

A `Jurisdiction` names its financial year (the year to date and the end-of-year finalisation run over it), whose
public holidays are not working days (domain.kernel.workdays, the `holidays` package) and its dated rates, such as
the superannuation guarantee. Today one jurisdiction is known: AU.

- Financial year: 1 July to 30 June (Income Tax Assessment Act 1997 s 995-1, "income year"; the ATO's STP
  year-to-date figures and the end-of-year finalisation run over it).
- Super guarantee rate: the charge percentage of the Superannuation Guarantee (Administration) Act 1992 s 19(2),
  by the quarter's start: 10 % from 1 July 2021, 10.5 % from 1 July 2022, 11 % from 1 July 2023, 11.5 % from
  1 July 2024, 12 % from 1 July 2025 (ATO, "Super guarantee percentage",
  https://www.ato.gov.au/tax-rates-and-codes/key-superannuation-rates-and-thresholds/super-guarantee). A salary
  structure reads it as `super_guarantee_rate` (a fraction: 0.12), picked by the payslip's pay date; an admin adds
  a later rate as data (domain/payroll/service.py), never by editing a structure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction

from domain.kernel.errors import InvalidInput

SUPER_GUARANTEE = "super_guarantee_rate"
"""The name of the dated super guarantee rate (a fraction of ordinary time earnings) in formulas and settings."""


@dataclass(frozen=True)
class DatedRate:
    """A rate in force from `effective_from` (inclusive) until the next one of the same name; `source` cites it."""

    name: str
    effective_from: date
    rate: Fraction
    source: str


@dataclass(frozen=True)
class Jurisdiction:
    """Where a payroll runs: `code` (ISO 3166-1, AU), its currency, the month and day its financial year starts,
    the country whose public holidays close working days, and its bundled dated rates."""

    code: str
    name: str
    currency: str
    fy_start_month: int
    fy_start_day: int
    holidays_country: str
    rates: tuple[DatedRate, ...]

    def financial_year(self, on: date) -> tuple[date, date]:
        """Return the first and last day of the financial year holding `on` (AU: 1 July to 30 June)."""
        start = date(on.year, self.fy_start_month, self.fy_start_day)
        if on < start:
            start = date(on.year - 1, self.fy_start_month, self.fy_start_day)
        end = date(start.year + 1, self.fy_start_month, self.fy_start_day).toordinal() - 1
        return start, date.fromordinal(end)

    def financial_year_label(self, on: date) -> str:
        """The financial year of `on` as people write it: 2026-27 for 1 July 2026 to 30 June 2027 (AU)."""
        start, end = self.financial_year(on)
        return f"{start.year}-{end.year % 100:02d}" if start.year != end.year else str(start.year)

    def rate(self, name: str, on: date, *, added: Iterable[DatedRate] = ()) -> DatedRate:
        """Return the rate `name` in force on `on`: the latest effective on or before it among the bundled rates and
        `added` (an admin's, which win on the same date). Raises InvalidInput when none is in force yet."""
        candidates = [r for r in (*self.rates, *added) if r.name == name and r.effective_from <= on]
        if not candidates:
            known = sorted({r.name for r in (*self.rates, *added)})
            raise InvalidInput(f"no {name} is in force in {self.code} on {on}; known rates: {', '.join(known)}",
                               field="name")
        # Stable: the bundled come first, so an added rate of the same date replaces the bundled one.
        return max(enumerate(candidates), key=lambda ir: (ir[1].effective_from, ir[0]))[1]


_SG_SOURCE = ("Superannuation Guarantee (Administration) Act 1992 s 19(2); ATO, Super guarantee percentage, "
              "https://www.ato.gov.au/tax-rates-and-codes/key-superannuation-rates-and-thresholds/super-guarantee")

AU = Jurisdiction(
    code="AU", name="Australia", currency="AUD", fy_start_month=7, fy_start_day=1, holidays_country="AU",
    rates=tuple(DatedRate(SUPER_GUARANTEE, date(year, 7, 1), Fraction(Decimal(pct)) / 100, _SG_SOURCE)
                for year, pct in ((2021, "10"), (2022, "10.5"), (2023, "11"), (2024, "11.5"), (2025, "12"))))

JURISDICTIONS = {AU.code: AU}


def jurisdiction(code: str) -> Jurisdiction:
    """Return the jurisdiction with `code`; raises InvalidInput naming the known ones."""
    try:
        return JURISDICTIONS[code.upper()]
    except (KeyError, AttributeError):
        raise InvalidInput(f"payroll jurisdiction {code!r} is unknown; known: {', '.join(JURISDICTIONS)}",
                           field="jurisdiction") from None
