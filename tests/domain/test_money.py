"""The kernel's money (domain/kernel/money.py): ISO 4217 codes and exponents, amounts, Money and the formatter."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.kernel import money
from domain.kernel.errors import InvalidInput
from domain.kernel.money import MAX_AMOUNT, MINOR_UNITS, CurrencyMismatch, Money, format_money, major_units
from domain.kernel.settings import Settings

# ---------------------------------------------------------------- codes and exponents


def test_exponents_follow_iso_4217():
    assert (money.minor_unit_exponent("JPY"), money.minor_unit_exponent("AUD"), money.minor_unit_exponent("KWD")) \
        == (0, 2, 3)
    assert {code for code, exp in MINOR_UNITS.items() if exp == 3} == {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR",
                                                                       "TND"}
    assert {"KRW", "VND", "ISK", "CLP", "XAF", "XOF", "UGX"} <= {c for c, e in MINOR_UNITS.items() if e == 0}
    assert all(len(code) == 3 and code.isalpha() and code.isupper() for code in MINOR_UNITS)
    assert list(MINOR_UNITS) == sorted(MINOR_UNITS)


@pytest.mark.parametrize("code", ["XAU", "XXX", "XTS", "XDR", "CLF", "HRK", "ABC"])
def test_metals_funds_test_and_withdrawn_codes_are_not_kept(code):
    with pytest.raises(InvalidInput) as info:
        money.minor_unit_exponent(code)
    assert info.value.field == "currency"
    assert f"{code!r} is not an ISO 4217 currency code this product supports" in info.value.message
    assert "such as AUD, USD, EUR, GBP, KES or JPY" in info.value.message


def test_inputs_are_normalised_but_domain_codes_must_be_exact():
    assert money.parse_currency(" usd ") == "USD"
    assert money.parse_currency("Kes") == "KES"
    assert money.check_currency("USD") == "USD"
    with pytest.raises(InvalidInput) as info:
        money.check_currency("usd", field="rows[2].currency")
    assert info.value.field == "rows[2].currency"
    assert "three capital letters with no spaces: USD" in info.value.message


@pytest.mark.parametrize("bad", ["US", "USDX", "dollars", "", "U S", None, 840, b"USD"])
def test_anything_else_is_refused_naming_the_field(bad):
    for check in (money.parse_currency, money.check_currency):
        with pytest.raises(InvalidInput) as info:
            check(bad, field="to_currency")
        assert info.value.field == "to_currency" and "ISO 4217" in info.value.message


# ---------------------------------------------------------------- amounts


def test_amounts_are_integers_within_the_ledgers_bound():
    assert money.check_amount(0) == 0 and money.check_amount(MAX_AMOUNT) == MAX_AMOUNT
    assert MAX_AMOUNT == 10**14
    for bad, words in ((1.0, "never a float"), (Decimal("12.50"), "never a float"), (True, "never a float"),
                       ("100", "whole number"), (-1, "0 to 100000000000000"), (MAX_AMOUNT + 1, "0 to")):
        with pytest.raises(InvalidInput) as info:
            money.check_amount(bad, field="lines.0.amount")
        assert info.value.field == "lines.0.amount" and words in info.value.message, (bad, info.value.message)
    with pytest.raises(InvalidInput) as info:
        money.check_amount(0, field="amount", minimum=1)
    assert "amount is 0; an amount is 1 to" in info.value.message


# ---------------------------------------------------------------- formatting


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (1925000, "AUD", "19,250.00 AUD"), (0, "USD", "0.00 USD"), (-5, "USD", "-0.05 USD"),
    (-123456789, "USD", "-1,234,567.89 USD"), (100, "EUR", "1.00 EUR"),
    (1500, "JPY", "1,500 JPY"), (0, "JPY", "0 JPY"), (-2500000, "JPY", "-2,500,000 JPY"),
    (1234, "KWD", "1.234 KWD"), (5, "BHD", "0.005 BHD"), (-1234567, "KWD", "-1,234.567 KWD"),
    (MAX_AMOUNT, "USD", "1,000,000,000,000.00 USD"),
    (10**20 + 1, "USD", "1,000,000,000,000,000,000.01 USD"),  # beyond a float's 53 bits: still exact
])
def test_format_money_uses_the_currencys_exponent(minor, currency, text):
    assert format_money(minor, currency) == text
    assert format_money(minor, currency, code=False) == text.removesuffix(f" {currency}")
    assert str(Money(minor, currency)) == text


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (123450, "USD", "1234.50"), (5, "USD", "0.05"), (-5, "USD", "-0.05"), (0, "USD", "0.00"),
    (-123456789, "EUR", "-1234567.89"), (1500, "JPY", "1500"), (-7, "JPY", "-7"), (1234, "BHD", "1.234"),
    (-1, "KWD", "-0.001"), (10**14, "USD", "1000000000000.00"),
])
def test_major_units_are_exact_decimal_strings(minor, currency, text):
    # The CSV exports' major-unit columns (finance reports, payroll run summary).
    assert major_units(minor, currency) == text
    assert Money(minor, currency).major() == text


@given(minor=st.integers(min_value=-(10**18), max_value=10**18), currency=st.sampled_from(sorted(MINOR_UNITS)))
def test_major_units_read_back_to_the_same_minor_units(minor, currency):
    text = major_units(minor, currency)
    exponent = MINOR_UNITS[currency]
    assert Decimal(text) * 10**exponent == minor
    assert ("." in text) == (exponent > 0) and "," not in text and "e" not in text.lower()
    assert Decimal(format_money(minor, currency, code=False).replace(",", "")) == Decimal(text)


@pytest.mark.parametrize(("amount", "currency"), [(12.5, "USD"), (Decimal("12.50"), "USD"), (True, "USD"),
                                                  (None, "USD"), (100, "usd"), (100, "US"), (100, None),
                                                  (100, "XAU")])
def test_format_money_refuses_non_integers_and_bad_codes(amount, currency):
    with pytest.raises(InvalidInput):
        format_money(amount, currency)
    with pytest.raises(InvalidInput):
        major_units(amount, currency)


# ---------------------------------------------------------------- Money


def test_money_adds_subtracts_and_compares_within_one_currency():
    a, b = Money(1050, "AUD"), Money(-300, "AUD")
    assert a + b == Money(750, "AUD")
    assert a - b == Money(1350, "AUD")
    assert -a == Money(-1050, "AUD") and abs(b) == Money(300, "AUD")
    assert a * 3 == 3 * a == Money(3150, "AUD")
    assert b < a and a >= b and max(a, b) == a
    assert Money.total([a, b, a], currency="AUD") == Money(1800, "AUD")
    assert Money.total([], currency="JPY") == Money.zero("JPY") == Money(0, "JPY")
    assert Money(1, "AUD") != Money(1, "NZD")
    assert len({Money(1, "AUD"), Money(1, "AUD"), Money(1, "NZD")}) == 2


@pytest.mark.parametrize("operation", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a < b, lambda a, b: a >= b,
    lambda a, b: Money.total([a, b], currency=a.currency),
])
def test_mixed_currencies_are_refused(operation):
    with pytest.raises(CurrencyMismatch) as info:
        operation(Money(100, "AUD"), Money(100, "USD"))
    assert isinstance(info.value, InvalidInput) and info.value.field == "currency"
    assert "1.00 AUD and 1.00 USD" in info.value.message and "different currencies" in info.value.message


def test_money_holds_only_integers_and_known_codes():
    for minor, currency, field in ((1.5, "AUD", "minor"), (Decimal(1), "AUD", "minor"), (True, "AUD", "minor"),
                                   (1, "aud", "currency"), (1, "XXX", "currency")):
        with pytest.raises(InvalidInput) as info:
            Money(minor, currency)
        assert info.value.field == field
    with pytest.raises(TypeError, match="only by an integer"):
        Money(100, "AUD") * 0.5
    with pytest.raises(TypeError, match="wrap the amount"):
        Money(100, "AUD") + 5


def test_the_schools_currency_setting_is_a_supported_code():
    assert Settings(currency=" aud ").currency == "AUD"
    with pytest.raises(ValidationError) as info:
        Settings(currency="XYZ")
    assert "MCS_ERP_CURRENCY 'XYZ' is not an ISO 4217 currency code" in str(info.value)
