"""Money: ISO 4217 currency codes, integer minor units, the one `Money` value and the one formatter.

Every amount in mcs-erp is an integer count of the currency's minor unit (cents for AUD and USD, yen for JPY,
fils for KWD) next to an ISO 4217 code. Never a float: 0.1 is not one tenth in binary, and a ledger must add
up to the cent.

Names:
- `MINOR_UNITS`: the supported codes and their minor-unit exponents (AUD 2, JPY 0, KWD 3).
- `parse_currency(value)`: what a caller typed (" aud ") -> the code ("AUD"); for inputs.
- `check_currency(value)`: an exact code, already in canonical form; for values the domain builds.
- `minor_unit_exponent(code)`: the number of decimals of the currency's minor unit.
- `check_amount(value, field=...)`: an integer amount of minor units within 0..MAX_AMOUNT (or 1..MAX_AMOUNT).
- `Money(minor, currency)`: an amount in one currency; adding or comparing two currencies is refused.
- `format_money(minor, currency)`: for a person, "19,250.00 AUD"; `major_units(minor, currency)`: for a
  spreadsheet, "19250.00". Exact integer arithmetic, any size.

Errors: every check raises InvalidInput naming the field, saying what was given and what is allowed;
arithmetic across currencies raises CurrencyMismatch (an InvalidInput on `currency`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from domain.kernel.errors import InvalidInput

# ISO 4217 list one ("Current currency & funds code list"), active currency codes with the "Minor unit" column,
# as published by SIX Financial Information AG, the ISO 4217 maintenance agency:
# https://www.six-group.com/en/products-services/financial-information/data-standards.html (list_one.xml,
# 2025 edition). Left out on purpose, since a school keeps no books in them: precious metals (XAU, XAG, XPT,
# XPD), bond-market units (XBA..XBD), fund and indexed units (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW),
# XDR, XSU, XUA, and the test and "no currency" codes XTS and XXX.
_THREE_DECIMALS = ("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND")
_NO_DECIMALS = ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
                "XAF", "XOF", "XPF")
_TWO_DECIMALS = ("AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
                 "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
                 "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
                 "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
                 "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP",
                 "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
                 "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK",
                 "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
                 "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP",
                 "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VED", "VES", "WST", "XCD", "XCG",
                 "YER", "ZAR", "ZMW", "ZWG", "ZWL")

MINOR_UNITS: Mapping[str, int] = MappingProxyType(dict(sorted(
    {**dict.fromkeys(_TWO_DECIMALS, 2), **dict.fromkeys(_NO_DECIMALS, 0), **dict.fromkeys(_THREE_DECIMALS, 3)}
    .items())))
"""Supported ISO 4217 code -> exponent of its minor unit (decimals shown): AUD 2, JPY 0, KWD 3."""

MAX_AMOUNT = 10**14
"""The largest amount one input may carry, in minor units: 1 trillion USD. The ledger's bound on a journal
line (domain/finance/rules.py): 5000 such lines still sum inside a signed 64-bit database integer."""

_EXAMPLES = "AUD, USD, EUR, GBP, KES or JPY"


class CurrencyMismatch(InvalidInput):
    """Two amounts in different currencies were added, subtracted or compared."""


def _allowed() -> str:
    return (f"give a three-letter code such as {_EXAMPLES}: one of the {len(MINOR_UNITS)} active currencies "
            "of ISO 4217 list one, as published by SIX (precious metals, fund and test codes are not kept)")


def check_currency(value: object, *, field: str = "currency") -> str:
    """Return `value` when it is a supported ISO 4217 code written exactly (three capital letters, in
    MINOR_UNITS); raises InvalidInput naming `field` otherwise, a lower-case code included ("usd": write USD).
    For codes the domain already holds; inputs from people go through `parse_currency`."""
    if isinstance(value, str) and value in MINOR_UNITS:
        return value
    if isinstance(value, str) and value.strip().upper() in MINOR_UNITS:
        raise InvalidInput(f"{field} {value!r} is not an ISO 4217 currency code as written; codes are three "
                           f"capital letters with no spaces: {value.strip().upper()}", field=field)
    raise InvalidInput(f"{field} {value!r} is not an ISO 4217 currency code this product supports; "
                       f"{_allowed()}", field=field)


def parse_currency(value: object, *, field: str = "currency") -> str:
    """Return the ISO 4217 code a caller typed, stripped and in capitals (" usd " -> "USD"); raises
    InvalidInput naming `field` for anything that is not a supported code (MINOR_UNITS)."""
    if isinstance(value, str) and value.strip().upper() in MINOR_UNITS:
        return value.strip().upper()
    raise InvalidInput(f"{field} {value!r} is not an ISO 4217 currency code this product supports; "
                       f"{_allowed()}", field=field)


def minor_unit_exponent(currency: str, *, field: str = "currency") -> int:
    """Return the decimals of the currency's minor unit per ISO 4217 (JPY 0, USD 2, KWD 3); raises
    InvalidInput for a code not in MINOR_UNITS (see `check_currency`)."""
    return MINOR_UNITS[check_currency(currency, field=field)]


def check_minor(value: object, *, field: str = "amount_minor") -> int:
    """Return `value` when it is an integer (any sign, any size); raises InvalidInput naming `field` for a
    float, Decimal, bool, string or None: amounts are whole numbers of minor units."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} is {value!r} ({type(value).__name__}); give a whole number of minor units "
                           "(cents for USD: 1250 is 12.50 USD), never a float or decimal", field=field)
    return value


def check_amount(value: object, *, field: str = "amount_minor", minimum: int = 0,
                 maximum: int = MAX_AMOUNT) -> int:
    """Return an input amount: integer minor units in minimum..maximum (default 0..MAX_AMOUNT; pass
    minimum=1 where zero means nothing). Raises InvalidInput naming `field` and the bounds otherwise."""
    amount = check_minor(value, field=field)
    if not minimum <= amount <= maximum:
        raise InvalidInput(f"{field} is {amount}; an amount is {minimum} to {maximum} minor units", field=field)
    return amount


def _split(minor: object, currency: str) -> tuple[str, int, int, int]:
    exponent = minor_unit_exponent(currency)
    amount = check_minor(minor)
    whole, frac = divmod(abs(amount), 10**exponent)
    return ("-" if amount < 0 else ""), whole, frac, exponent


def format_money(minor: int, currency: str, *, code: bool = True) -> str:
    """Render integer minor units for a person, exactly: format_money(1925000, "AUD") == "19,250.00 AUD",
    format_money(-5, "USD") == "-0.05 USD", format_money(1500, "JPY") == "1,500 JPY",
    format_money(1234, "KWD") == "1.234 KWD"; code=False leaves the code off ("19,250.00", for a table whose
    header names the currency). Decimals are the currency's ISO 4217 minor unit; thousands separated by
    commas; a negative amount starts with "-". Integer arithmetic only, any size. Raises InvalidInput for a
    non-integer amount or an unsupported code."""
    sign, whole, frac, exponent = _split(minor, currency)
    text = f"{sign}{whole:,}" + (f".{frac:0{exponent}d}" if exponent else "")
    return f"{text} {currency}" if code else text


def major_units(minor: int, currency: str) -> str:
    """Return integer minor units as a plain exact decimal string in major units, the form spreadsheets and
    `Decimal` read back: major_units(123450, "USD") == "1234.50", major_units(-5, "USD") == "-0.05",
    major_units(1500, "JPY") == "1500", major_units(1234, "BHD") == "1.234". Raises like `format_money`."""
    sign, whole, frac, exponent = _split(minor, currency)
    return f"{sign}{whole}" + (f".{frac:0{exponent}d}" if exponent else "")


@dataclass(frozen=True, slots=True)
class Money:
    """An amount: `minor` integer minor units of `currency`, a supported ISO 4217 code in capitals.

    Adds, subtracts, negates and compares only with Money of the same currency (CurrencyMismatch otherwise);
    multiplies only by an integer (a division needs a rounding rule, which belongs to the rule that divides).
    `str(m)` is `format_money`. Raises InvalidInput for a non-integer amount or an unsupported code."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        check_minor(self.minor, field="minor")
        check_currency(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return 0 in `currency`."""
        return cls(0, currency)

    @classmethod
    def total(cls, amounts: Iterable[Money], *, currency: str) -> Money:
        """Return the sum of `amounts` (zero in `currency` when empty); raises CurrencyMismatch for an amount
        in another currency."""
        result = cls.zero(currency)
        for amount in amounts:
            result = result + amount
        return result

    def _same(self, other: object, verb: str) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot {verb} Money and {type(other).__name__}; wrap the amount as "
                            f"Money(minor, {self.currency!r})")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot {verb} {self} and {other}: amounts in different currencies are never "
                                   "combined; keep them apart or convert one at a stated rate first",
                                   field="currency")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.minor + self._same(other, "add").minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.minor - self._same(other, "subtract").minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.minor), self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError(f"Money multiplies only by an integer, not {type(factor).__name__}: a fraction "
                            "needs a rounding rule, stated where the rule divides")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        return self.minor < self._same(other, "compare").minor

    def __le__(self, other: Money) -> bool:
        return self.minor <= self._same(other, "compare").minor

    def __gt__(self, other: Money) -> bool:
        return self.minor > self._same(other, "compare").minor

    def __ge__(self, other: Money) -> bool:
        return self.minor >= self._same(other, "compare").minor

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)

    def major(self) -> str:
        """Return the amount in major units as an exact decimal string ("19250.00"), see `major_units`."""
        return major_units(self.minor, self.currency)
