"""The payroll engine: salary structures, proration, the one rounding policy, year to date, arrears.

No database. Amounts are integer minor units (cents of AUD unless a test says otherwise); every expected
number is worked out by hand in the comment above its assertion. Tax lines use the bundled ATO Schedule 1
tables (see test_payroll_tax.py for the ATO's own worked examples).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.kernel.errors import InvalidInput
from domain.payroll.engine import (
    ArrearsPeriod,
    Component,
    LineKind,
    PayInputs,
    PayPeriod,
    Payslip,
    PayslipLine,
    SalaryStructure,
    YearToDate,
    compute_arrears,
    compute_payslip,
)
from domain.payroll.tax import PayFrequency, TaxBand, TaxTable, TaxTableSet

F = Fraction
EARNING, DEDUCTION, TAX, EMPLOYER = "earning", "deduction", "tax", "employer_contribution"
PROPERTY = settings(max_examples=60, deadline=None, database=None)


# ---------------------------------------------------------------- factories


def basic() -> Component:
    """The basic salary: 100 % of the contract base, prorated by payment days."""
    return Component.percentage("BASIC", "Basic salary", EARNING, 100, of="base", prorate=True)


def structure(*components: Component, inputs: tuple[str, ...] = (), currency: str = "AUD",
              code: str = "TEST") -> SalaryStructure:
    """A structure of `components` in `currency`."""
    return SalaryStructure(code, currency, components, inputs)


def month(pay_date: date = date(2025, 3, 28), frequency: str = "monthly") -> PayPeriod:
    """March 2025, paid on the 28th (inside the ATO's 2024 schedule)."""
    return PayPeriod(date(2025, 3, 1), date(2025, 3, 31), pay_date, PayFrequency(frequency))


def pay(base_minor: int = 650_000, *, working_days: int | Fraction = 21, unpaid: int | Fraction = 0,
        values: dict | None = None, scale: str | None = "scale_2", ytd: YearToDate | None = None,
        arrears: tuple[PayslipLine, ...] = ()) -> PayInputs:
    """One employee's inputs: a $6,500.00 monthly base, 21 working days, scale 2, nothing year to date."""
    return PayInputs(base_minor=base_minor, working_days=working_days, unpaid_leave_days=unpaid,
                     values=values or {}, filing_status=scale, ytd=ytd or YearToDate(), arrears=arrears)


def amounts(payslip: Payslip) -> dict[str, int]:
    """Line amounts by code."""
    return {line.code: line.amount_minor for line in payslip.lines}


SCHOOL = structure(
    basic(),
    Component.fixed("TRAVEL", "Travel allowance", EARNING, 25_000, prorate=True),
    Component.formula("SENIOR", "Seniority allowance", EARNING, "max(0, base - 600000) * 0.02"),
    Component.percentage("SALSAC", "Salary sacrifice", DEDUCTION, 5, of="BASIC", pre_tax=True),
    Component.tax("PAYG", "PAYG withholding", table="AU_PAYGW"),
    Component.formula("UNION", "Union fees", DEDUCTION, "min(gross * 0.01, 5000)"),
    Component.percentage("SUPER", "Superannuation guarantee", EMPLOYER, F(23, 2), of="gross"),
)


# ---------------------------------------------------------------- a worked payslip


def test_worked_monthly_payslip():
    payslip = compute_payslip(SCHOOL, month(), pay(unpaid=1))
    # BASIC: 650,000 x 20/21 = 619,047.619... -> 619,048 (half up, once).
    # TRAVEL: 25,000 x 20/21 = 23,809.523... -> 23,810.
    # SENIOR: (650,000 - 600,000) x 0.02 = 1,000 (not prorated: a formula prorates itself).
    # SALSAC: 5 % of 619,048 = 30,952.4 -> 30,952 (pre-tax).
    # taxable = 619,048 + 23,810 + 1,000 - 30,952 = 612,906 -> $6,129.06 a month.
    # PAYG (2024 scale 2): 6,129.06 x 3 / 13 = 1,414.39 -> x = 1,414.99, band 1,282..2,596:
    #   0.32 x 1,414.99 - 176.5769 = 276.2199 -> $276; x 13 / 3 = 1,196 -> 119,600.
    # gross = 619,048 + 23,810 + 1,000 = 643,858; UNION = min(6,438.58, 5,000) = 5,000.
    # SUPER = 11.5 % of 643,858 = 74,043.67 -> 74,044.
    assert amounts(payslip) == {"BASIC": 619_048, "TRAVEL": 23_810, "SENIOR": 1_000, "SALSAC": 30_952,
                                "PAYG": 119_600, "UNION": 5_000, "SUPER": 74_044}
    assert payslip.gross_minor == 643_858
    assert payslip.taxable_minor == 612_906
    assert payslip.tax_minor == 119_600
    assert payslip.deductions_minor == 30_952 + 119_600 + 5_000
    assert payslip.net_minor == 643_858 - 155_552
    assert payslip.employer_contributions_minor == 74_044
    assert payslip.employer_cost_minor == 643_858 + 74_044
    assert payslip.payment_days == 20 and payslip.working_days == 21
    assert [line.kind for line in payslip.lines] == [LineKind.EARNING] * 3 + [
        LineKind.DEDUCTION, LineKind.TAX, LineKind.DEDUCTION, LineKind.EMPLOYER_CONTRIBUTION]
    (working,) = payslip.withholdings
    assert working.earnings == F("1414.99") and working.band_period_tax_rounded == 276


@given(base=st.integers(0, 5_000_000), unpaid=st.integers(0, 21))
@PROPERTY
def test_a_computed_payslip_adds_up_and_a_one_name_tax_base_is_that_formula(base, unpaid):
    payslip = compute_payslip(SCHOOL, month(), pay(base, unpaid=unpaid))
    payslip.check()  # built without the check: its totals are its lines' sums
    # The tax base "taxable" is read straight from the values; written as arithmetic it goes through the formula.
    spelled = structure(*[Component.tax("PAYG", "PAYG withholding", table="AU_PAYGW", taxable_base="taxable * 1")
                          if c.code == "PAYG" else c for c in SCHOOL.components])
    assert SCHOOL.components[4].compiled.bare_name == "taxable" and spelled.components[4].compiled.bare_name is None
    assert compute_payslip(spelled, month(), pay(base, unpaid=unpaid)) == payslip


def test_full_payment_days_pay_the_contract_amounts_exactly():
    payslip = compute_payslip(SCHOOL, month(), pay())
    assert payslip.line("BASIC").amount_minor == 650_000
    assert payslip.line("TRAVEL").amount_minor == 25_000


def test_a_whole_month_unpaid_pays_nothing_prorated():
    payslip = compute_payslip(SCHOOL, month(), pay(unpaid=21))
    assert payslip.line("BASIC").amount_minor == 0
    assert payslip.line("TRAVEL").amount_minor == 0
    assert payslip.line("SENIOR").amount_minor == 1_000  # a formula not using payment days is unaffected


def test_half_days_are_exact():
    # 650,000 x 20.5 / 21 = 634,523.809... -> 634,524.
    payslip = compute_payslip(structure(basic()), month(), pay(unpaid=F(1, 2)))
    assert payslip.line("BASIC").amount_minor == 634_524
    assert payslip.payment_days == F(41, 2)


def test_each_line_is_rounded_once_half_up():
    # 5 % of 12,345 = 617.25 -> 617; 5 % of 12,350 = 617.5 -> 618 (half up); 5 % of 12,330 = 616.5 -> 617.
    s = structure(basic(), Component.percentage("PF", "Provident fund", DEDUCTION, 5, of="BASIC"))
    assert compute_payslip(s, month(), pay(12_345)).line("PF").amount_minor == 617
    assert compute_payslip(s, month(), pay(12_350)).line("PF").amount_minor == 618
    assert compute_payslip(s, month(), pay(12_330)).line("PF").amount_minor == 617


def test_later_components_see_earlier_lines_as_rounded():
    # BASIC = 100 x 1/3 = 33.33... -> 33; TRIPLE = BASIC x 3 = 99 (not 100: it sees the rounded 33).
    s = structure(basic(), Component.formula("TRIPLE", "Triple", EARNING, "BASIC * 3"))
    payslip = compute_payslip(s, month(), pay(100, working_days=3, unpaid=2))
    assert amounts(payslip) == {"BASIC": 33, "TRIPLE": 99}


def test_formula_literals_are_exact_in_lines():
    # 100 x 1.005 = 100.5 exactly -> 101; in floats 100 * 1.005 is 100.49999999999999, which would give 100.
    s = structure(Component.formula("X", "X", EARNING, "base * 1.005"))
    assert compute_payslip(s, month(), pay(100)).line("X").amount_minor == 101


@given(base=st.integers(0, 10**9), literal=st.decimals(min_value=0, max_value=10, places=4))
@PROPERTY
def test_formula_lines_equal_decimal_arithmetic_rounded_half_up(base, literal):
    s = structure(Component.formula("X", "X", EARNING, f"base * {literal}"))
    expected = int((Decimal(base) * literal).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert compute_payslip(s, month(), pay(base)).line("X").amount_minor == expected


# ---------------------------------------------------------------- names: gross, taxable, inputs, ytd


def test_structure_inputs_are_named_values():
    s = structure(basic(), Component.formula("OT", "Overtime", EARNING,
                                             "base / working_days / 8 * 1.5 * overtime_hours"),
                  inputs=("overtime_hours",))
    # 650,000 / 21 / 8 x 1.5 x 10 = 58,035.714... -> 58,036.
    payslip = compute_payslip(s, month(), pay(values={"overtime_hours": 10}))
    assert payslip.line("OT").amount_minor == 58_036


def test_missing_and_undeclared_inputs_are_refused():
    s = structure(basic(), inputs=("overtime_hours",))
    with pytest.raises(InvalidInput) as err:
        compute_payslip(s, month(), pay())
    assert err.value.field == "values" and "needs input(s) overtime_hours" in err.value.message
    with pytest.raises(InvalidInput) as err:
        compute_payslip(s, month(), pay(values={"overtime_hours": 1, "bonus": 5}))
    assert err.value.field == "values" and "no input(s) bonus" in err.value.message


def test_taxable_excludes_non_taxable_earnings_and_pre_tax_deductions():
    s = structure(
        basic(),
        Component.fixed("MEAL", "Meal allowance", EARNING, 10_000, taxable=False),
        Component.fixed("SALSAC", "Salary sacrifice", DEDUCTION, 50_000, pre_tax=True),
        Component.formula("CHECK", "Taxable echo", EMPLOYER, "taxable"),
        Component.formula("GROSSX", "Gross echo", EMPLOYER, "gross"),
    )
    payslip = compute_payslip(s, month(), pay())
    # taxable = 650,000 - 50,000 = 600,000; gross = 650,000 + 10,000 = 660,000.
    assert payslip.line("CHECK").amount_minor == 600_000 == payslip.taxable_minor
    assert payslip.line("GROSSX").amount_minor == 660_000 == payslip.gross_minor


def test_pre_tax_deductions_cannot_exceed_taxable_pay():
    s = structure(basic(), Component.fixed("SALSAC", "Salary sacrifice", DEDUCTION, 700_000, pre_tax=True))
    with pytest.raises(InvalidInput) as err:
        compute_payslip(s, month(), pay())
    assert err.value.field == "taxable_minor" and "-50000" in err.value.message


def test_year_to_date_in_and_out():
    # A provident fund capped at 1,000,000 a year: 12 % of BASIC, but never past the cap.
    s = structure(basic(), Component.formula("PF", "Provident fund", DEDUCTION,
                                             "min(BASIC * 0.12, max(0, 1000000 - ytd_PF))"))
    ytd = YearToDate()
    lines = []
    for _ in range(14):
        payslip = compute_payslip(s, month(), pay(ytd=ytd))
        lines.append(payslip.line("PF").amount_minor)
        assert payslip.ytd.gross_minor == ytd.gross_minor + payslip.gross_minor
        assert payslip.ytd.net_minor == ytd.net_minor + payslip.net_minor
        ytd = payslip.ytd
    # 12 % of 650,000 = 78,000 a month; after 12 months 936,000, then 64,000, then 0.
    assert lines == [78_000] * 12 + [64_000, 0]
    assert ytd.component("PF") == 1_000_000
    assert ytd.component("BASIC") == 14 * 650_000 == ytd.gross_minor == ytd.taxable_minor
    assert ytd.component("NOPE") == 0


def test_year_to_date_tax_adds_up():
    ytd = YearToDate(gross_minor=1, taxable_minor=2, tax_minor=3, net_minor=4, components={"PAYG": 3})
    payslip = compute_payslip(SCHOOL, month(), pay(ytd=ytd))
    assert payslip.ytd.tax_minor == 3 + payslip.tax_minor
    assert payslip.ytd.component("PAYG") == 3 + payslip.line("PAYG").amount_minor
    assert payslip.ytd.taxable_minor == 2 + payslip.taxable_minor


@pytest.mark.parametrize(("field", "value"), [("gross_minor", 1.5), ("tax_minor", "3"), ("net_minor", True)])
def test_year_to_date_needs_whole_minor_units(field, value):
    with pytest.raises(InvalidInput) as err:
        YearToDate(**{field: value})
    assert err.value.field == field


def test_year_to_date_components_are_checked_and_read_only():
    with pytest.raises(InvalidInput):
        YearToDate(components={"PF": 1.0})
    with pytest.raises(InvalidInput):
        YearToDate(components={"not a code": 1})
    ytd = YearToDate(components={"PF": 1})
    with pytest.raises(TypeError):
        ytd.components["PF"] = 2  # type: ignore[index]
    assert ytd == YearToDate(components={"PF": 1}) and ytd != YearToDate(components={"PF": 2})


# ---------------------------------------------------------------- structures refuse bad formulas and order


def test_a_component_may_not_use_a_later_one():
    with pytest.raises(InvalidInput) as err:
        structure(Component.formula("HRA", "Housing", EARNING, "BASIC * 0.4"), basic())
    assert err.value.field == "expression"
    assert "component HRA uses BASIC, which comes later (position 2, this is 1)" in err.value.message


def test_a_component_may_not_use_itself():
    with pytest.raises(InvalidInput) as err:
        structure(Component.formula("HRA", "Housing", EARNING, "HRA + 1"))
    assert "refers to itself" in err.value.message


def test_unknown_names_list_what_is_allowed():
    with pytest.raises(InvalidInput) as err:
        structure(basic(), Component.formula("HRA", "Housing", EARNING, "basic * 0.4"))
    message = err.value.message
    assert "unknown name 'basic'" in message
    assert "BASIC" in message and "payment_days" in message and "ytd_<CODE>" in message
    allowed = [name.strip() for name in message.split("allowed here:")[1].split(",")]
    assert "gross" not in allowed and "taxable" not in allowed  # not yet known at an earning
    assert "ytd_gross" in allowed


def test_percentage_of_an_unknown_name_is_refused():
    with pytest.raises(InvalidInput) as err:
        structure(basic(), Component.percentage("PF", "PF", DEDUCTION, 12, of="BASC"))
    assert err.value.field == "of" and "unknown name 'BASC'" in err.value.message


def test_gross_only_after_the_last_earning():
    with pytest.raises(InvalidInput) as err:
        structure(basic(), Component.percentage("PF", "PF", DEDUCTION, 12, of="gross"),
                  Component.fixed("BONUS", "Bonus", EARNING, 1))
    assert "gross, which is known only after the last earning (BONUS, position 3)" in err.value.message


def test_taxable_only_after_pre_tax_deductions():
    with pytest.raises(InvalidInput) as err:
        structure(basic(), Component.tax("PAYG", "PAYG", table="AU_PAYGW"),
                  Component.fixed("SALSAC", "Salary sacrifice", DEDUCTION, 1, pre_tax=True))
    assert "taxable, which is known only after the last earning and pre-tax deduction (SALSAC" in \
        err.value.message


def test_syntax_errors_name_the_component():
    with pytest.raises(InvalidInput) as err:
        structure(basic(), Component.formula("HRA", "Housing", EARNING, "BASIC * "))
    assert err.value.message.startswith("component HRA: ")


def test_formulas_with_forbidden_constructs_name_the_component():
    with pytest.raises(InvalidInput) as err:
        Component.formula("HRA", "Housing", EARNING, "BASIC.__class__")
    assert err.value.message.startswith("component HRA: ") and "attribute access" in err.value.message


@pytest.mark.parametrize("code", ["base", "gross", "taxable", "ytd_PF", "min", "if", "1ST", "has space", "",
                                  "A" * 41, None])
def test_bad_component_codes(code):
    with pytest.raises(InvalidInput) as err:
        Component.fixed(code, "X", EARNING, 1)
    assert err.value.field == "code"


def test_codes_and_inputs_must_differ_beyond_case():
    with pytest.raises(InvalidInput) as err:
        structure(basic(), Component.fixed("basic", "Again", EARNING, 1))
    assert "'BASIC' and 'basic' clash" in err.value.message
    with pytest.raises(InvalidInput):
        structure(basic(), inputs=("Basic",))
    with pytest.raises(InvalidInput) as err:
        structure(basic(), inputs=("payment_days",))
    assert "reserved" in err.value.message


@pytest.mark.parametrize(("make", "field"), [
    (lambda: Component("X", "X", EARNING, "fixed"), "amount_minor"),  # type: ignore[arg-type]
    (lambda: Component("X", "X", EARNING, "fixed", amount_minor=1, of="base"), "of"),  # type: ignore[arg-type]
    (lambda: Component("X", "X", EARNING, "percentage", percent=F(5)), "of"),  # type: ignore[arg-type]
    (lambda: Component("X", "X", EARNING, "formula"), "expression"),  # type: ignore[arg-type]
    (lambda: Component("X", "X", EARNING, "divination", amount_minor=1), "method"),  # type: ignore[arg-type]
    (lambda: Component.fixed("X", "X", "bonus", 1), "kind"),
    (lambda: Component.fixed("X", "", EARNING, 1), "name"),
    (lambda: Component.fixed("X", "X", EARNING, -1), "amount_minor"),
    (lambda: Component.fixed("X", "X", EARNING, 10.5), "amount_minor"),  # type: ignore[arg-type]
    (lambda: Component.fixed("X", "X", EARNING, True), "amount_minor"),
    (lambda: Component.percentage("X", "X", EARNING, -5, of="base"), "percent"),
    (lambda: Component.percentage("X", "X", EARNING, 0.05, of="base"), "percent"),  # type: ignore[arg-type]
    (lambda: Component.percentage("X", "X", EARNING, 5, of="base + 1"), "of"),
    (lambda: Component.fixed("X", "X", DEDUCTION, 1, taxable=False), "taxable"),
    (lambda: Component.fixed("X", "X", EARNING, 1, pre_tax=True), "pre_tax"),
    (lambda: Component.fixed("X", "X", EARNING, 1, prorate="yes"), "prorate"),  # type: ignore[arg-type]
    (lambda: Component("X", "X", EARNING, "formula", expression="base", prorate=True), "prorate"),  # type: ignore[arg-type]
    (lambda: Component("X", "X", EARNING, "tax_table", expression="base", table="AU_PAYGW"), "kind"),  # type: ignore[arg-type]
    (lambda: Component.tax("X", "X", table="not a code"), "table"),
    (lambda: Component.tax("X", "X", table="AU_PAYGW", taxable_base=""), "expression"),
])
def test_bad_components_are_refused(make, field):
    with pytest.raises(InvalidInput) as err:
        make()
    assert err.value.field == field


def test_bad_structures_are_refused():
    with pytest.raises(InvalidInput) as err:
        SalaryStructure("S", "AUD", ())
    assert err.value.field == "components"
    with pytest.raises(InvalidInput) as err:
        SalaryStructure("S", "aud", (basic(),))
    assert err.value.field == "currency"
    with pytest.raises(InvalidInput) as err:
        SalaryStructure("S", "AUD", ("BASIC",))  # type: ignore[arg-type]
    assert err.value.field == "components"
    with pytest.raises(InvalidInput) as err:
        SalaryStructure("bad code", "AUD", (basic(),))
    assert err.value.field == "code"


# ---------------------------------------------------------------- bad inputs and evaluation errors


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"base_minor": -1, "working_days": 21}, "base_minor"),
    ({"base_minor": 100.0, "working_days": 21}, "base_minor"),
    ({"base_minor": 100, "working_days": 0}, "working_days"),
    ({"base_minor": 100, "working_days": 21.5}, "working_days"),
    ({"base_minor": 100, "working_days": 21, "unpaid_leave_days": 22}, "unpaid_leave_days"),
    ({"base_minor": 100, "working_days": 21, "unpaid_leave_days": -1}, "unpaid_leave_days"),
    ({"base_minor": 100, "working_days": 21, "values": {"x": 0.5}}, "values[x]"),
    ({"base_minor": 100, "working_days": 21, "filing_status": 2}, "filing_status"),
    ({"base_minor": 100, "working_days": 21, "arrears": (PayslipLine("B", "B", "earning", 1),)}, "arrears"),
    ({"base_minor": 100, "working_days": 21, "ytd": {}}, "ytd"),
    ({"base_minor": 100, "working_days": True}, "working_days"),
    ({"base_minor": 100, "working_days": 21, "unpaid_leave_days": True}, "unpaid_leave_days"),
    ({"base_minor": 100, "working_days": 21, "rates": {"other_rate": Fraction(1, 10)}}, "rates"),
    ({"base_minor": 100, "working_days": 21, "leave": [PayslipLine("B", "B", "earning", 1)]}, "leave"),
])
def test_bad_pay_inputs_are_refused(kwargs, field):
    with pytest.raises(InvalidInput) as err:
        PayInputs(**kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(("working", "unpaid"), [(21, 1), (21, 0), (21, 21), (Fraction(21), Fraction(1)),
                                                 (21, Fraction(1, 2)), (Decimal("21"), 1), ("21", "0.5")])
def test_pay_inputs_hold_exact_days_whatever_exact_numbers_they_are_given(working, unpaid):
    inputs = PayInputs(base_minor=100, working_days=working, unpaid_leave_days=unpaid, leave=[], arrears=[])
    assert (type(inputs.working_days), type(inputs.unpaid_leave_days), type(inputs.payment_days)) == (
        Fraction, Fraction, Fraction)
    def exact(number):
        return Fraction(Decimal(number)) if isinstance(number, str) else Fraction(number)
    assert inputs.payment_days == exact(working) - exact(unpaid)
    assert (inputs.leave, inputs.arrears, inputs.base_minor, type(inputs.base_minor)) == ((), (), 100, int)


@given(base=st.one_of(st.integers(0, 3 * 10**7), st.fractions(min_value=0, max_value=3 * 10**7,
                                                               max_denominator=260)),
       working=st.integers(1, 31), data=st.data(), scale=st.sampled_from(["scale_1", "scale_2", "scale_3"]),
       rate=st.fractions(min_value=0, max_value=1, max_denominator=1000))
@PROPERTY
def test_trusted_pay_inputs_are_the_checked_ones_and_pay_the_same(base, working, data, scale, rate):
    unpaid = data.draw(st.one_of(st.integers(0, working),
                                 st.fractions(min_value=0, max_value=working, max_denominator=2)))
    leave = (PayslipLine("LEAVE_AL", "Annual leave", LineKind.LEAVE, 76_000, category="paid_leave:O", hours=F(15)),)
    arrears = compute_arrears([ArrearsPeriod("2025-02", 600_000, 650_000)])
    ytd = YearToDate().plus(gross_minor=650_000, taxable_minor=617_500, tax_minor=120_000, net_minor=530_000,
                            lines=(PayslipLine("BASIC", "Basic salary", LineKind.EARNING, 650_000),))
    given_ = {"base_minor": base, "working_days": working, "unpaid_leave_days": unpaid, "filing_status": scale,
              "arrears": arrears, "leave": leave, "termination": (), "termination_tax": (),
              "rates": {"super_guarantee_rate": rate}, "ytd": ytd}
    trusted, checked = PayInputs.trusted(**given_), PayInputs(**given_)
    assert trusted == checked
    assert (trusted.payment_days, type(trusted.working_days), trusted.values) == (working - F(unpaid), Fraction, {})
    s = structure(basic(), Component.formula("SUPER", "Super", EMPLOYER, "gross * super_guarantee_rate"),
                  Component.tax("PAYG", "PAYG", table="AU_PAYGW"))
    assert compute_payslip(s, month(), trusted) == compute_payslip(s, month(), checked)


@pytest.mark.parametrize(("days", "field"), [({"working_days": 0, "unpaid_leave_days": 0}, "working_days"),
                                             ({"working_days": 21, "unpaid_leave_days": 22}, "unpaid_leave_days"),
                                             ({"working_days": 21, "unpaid_leave_days": F(-1, 2)},
                                              "unpaid_leave_days")])
def test_trusted_pay_inputs_still_refuse_impossible_days(days, field):
    with pytest.raises(InvalidInput) as err:
        PayInputs.trusted(base_minor=100, filing_status=None, arrears=(), leave=(), termination=(),
                          termination_tax=(), rates={}, ytd=YearToDate(), **days)
    assert err.value.field == field


def test_bad_periods_are_refused():
    with pytest.raises(InvalidInput) as err:
        PayPeriod(date(2025, 3, 31), date(2025, 3, 1), date(2025, 3, 28), PayFrequency.MONTHLY)
    assert err.value.field == "period"
    with pytest.raises(InvalidInput) as err:
        PayPeriod(date(2025, 3, 1), date(2025, 3, 31), "2025-03-28", PayFrequency.MONTHLY)  # type: ignore[arg-type]
    assert err.value.field == "pay_date"
    with pytest.raises(InvalidInput) as err:
        PayPeriod(date(2025, 3, 1), date(2025, 3, 31), date(2025, 3, 28), "bimonthly")  # type: ignore[arg-type]
    assert err.value.field == "frequency"


def test_a_negative_line_is_refused_with_a_hint():
    s = structure(basic(), Component.formula("ADJ", "Adjustment", EARNING, "1000 - BASIC"))
    with pytest.raises(InvalidInput) as err:
        compute_payslip(s, month(), pay())
    assert err.value.field == "amount_minor" and "max(0, ...)" in err.value.message


def test_division_by_zero_names_the_component():
    s = structure(basic(), Component.formula("RATE", "Hourly", EARNING, "BASIC / hours"), inputs=("hours",))
    with pytest.raises(InvalidInput) as err:
        compute_payslip(s, month(), pay(values={"hours": 0}))
    assert "component RATE" in err.value.message and "divides by zero" in err.value.message


def test_tax_table_errors_surface():
    with pytest.raises(InvalidInput) as err:  # the ATO tables are in AUD
        compute_payslip(replace(SCHOOL, currency="USD"), month(), pay())
    assert err.value.field == "table" and "AUD" in err.value.message
    with pytest.raises(InvalidInput) as err:
        compute_payslip(structure(basic(), Component.tax("T", "T", table="NOPE")), month(), pay())
    assert err.value.field == "table" and "AU_PAYGW" in err.value.message
    with pytest.raises(InvalidInput) as err:
        compute_payslip(SCHOOL, month(frequency="semimonthly"), pay())
    assert err.value.field == "frequency"
    with pytest.raises(InvalidInput) as err:
        compute_payslip(SCHOOL, month(), pay(scale=None))
    assert err.value.field == "filing_status"
    with pytest.raises(InvalidInput) as err:
        compute_payslip(SCHOOL, month(pay_date=date(2027, 7, 3)), pay())
    assert err.value.field == "pay_date"


def test_tax_tables_can_be_given():
    flat = TaxTable(code="FLAT", effective_from=date(2025, 1, 1), currency="KES",
                    band_period=PayFrequency.MONTHLY, bands=(TaxBand(F(0), F(1, 10)),),
                    pay_frequencies=(PayFrequency.MONTHLY,))
    s = structure(basic(), Component.tax("PAYE", "PAYE", table="FLAT", taxable_base="BASIC * 0.5"),
                  currency="KES")
    # 10 % of half of 650,000 = 32,500.
    payslip = compute_payslip(s, month(), pay(scale=None), tax_tables=TaxTableSet((flat,)))
    assert payslip.line("PAYE").amount_minor == 32_500
    # An employee's filing status is not given to a tax that has none.
    assert compute_payslip(s, month(), pay(scale="scale_2"), tax_tables=TaxTableSet((flat,))) == payslip


def test_the_structure_needs_no_tables_without_tax_components():
    payslip = compute_payslip(structure(basic()), month(), pay(scale=None), tax_tables=TaxTableSet())
    assert payslip.net_minor == 650_000


# ---------------------------------------------------------------- the payslip checks itself


def test_a_payslip_that_does_not_add_up_is_refused():
    good = compute_payslip(SCHOOL, month(), pay())
    with pytest.raises(InvalidInput) as err:
        replace(good, net_minor=good.net_minor + 1)
    assert err.value.field == "lines" and f"net_minor is {good.net_minor + 1}" in err.value.message
    with pytest.raises(InvalidInput) as err:
        replace(good, lines=good.lines[1:])
    assert "gross_minor" in err.value.message and "employer_cost_minor" in err.value.message
    with pytest.raises(InvalidInput) as err:
        replace(good, tax_minor=0)
    assert "tax_minor is 0" in err.value.message


def test_payslip_line_lookup():
    payslip = compute_payslip(SCHOOL, month(), pay())
    with pytest.raises(InvalidInput) as err:
        payslip.line("NOPE")
    assert "BASIC" in err.value.message


@pytest.mark.parametrize(("args", "field"), [
    (("B", "Basic", "salary", 1), "kind"), (("B", "Basic", "earning", 1.0), "amount_minor"),
    (("", "Basic", "earning", 1), "code"), (("B", " ", "earning", 1), "name"),
])
def test_bad_payslip_lines(args, field):
    with pytest.raises(InvalidInput) as err:
        PayslipLine(*args)
    assert err.value.field == field


# ---------------------------------------------------------------- arrears


def test_arrears_per_period_rounded_once_and_zero_periods_dropped():
    lines = compute_arrears([
        ArrearsPeriod("2025-01", old_minor=600_000, new_minor=650_000),
        # 50,000 x 20/21 = 47,619.047... -> 47,619 (the period had one unpaid day).
        ArrearsPeriod("2025-02", old_minor=600_000, new_minor=650_000, payment_days=20, working_days=21),
        ArrearsPeriod("2025-03", old_minor=650_000, new_minor=650_000),
        # A retroactive cut: -100 x 1/2 = -50 -> a recovery line.
        ArrearsPeriod("2025-04", old_minor=700, new_minor=600, payment_days=1, working_days=2),
        # 3 x 1/2 = 1.5 -> 2 (half up); -3 x 1/2 = -1.5 -> -2 (half away from zero).
        ArrearsPeriod("2025-05", old_minor=0, new_minor=3, payment_days=1, working_days=2),
        ArrearsPeriod("2025-06", old_minor=3, new_minor=0, payment_days=1, working_days=2),
    ])
    assert [(ln.name, ln.amount_minor) for ln in lines] == [
        ("Arrears 2025-01", 50_000), ("Arrears 2025-02", 47_619), ("Arrears 2025-04", -50),
        ("Arrears 2025-05", 2), ("Arrears 2025-06", -2)]
    assert all(ln.kind is LineKind.ARREARS and ln.code == "ARREARS" for ln in lines)


def test_arrears_count_in_gross_and_taxable_after_the_earnings():
    arrears = compute_arrears([ArrearsPeriod("2025-01", 600_000, 650_000)], code="RETRO", name="Back pay")
    s = structure(basic(), Component.percentage("PF", "PF", DEDUCTION, 10, of="gross"),
                  Component.formula("ECHO", "Arrears echo", EMPLOYER, "arrears"))
    payslip = compute_payslip(s, month(), pay(arrears=arrears))
    # gross = 650,000 + 50,000; PF = 70,000; the arrears line sits right after the last earning.
    assert [line.code for line in payslip.lines] == ["BASIC", "RETRO", "PF", "ECHO"]
    assert payslip.gross_minor == payslip.taxable_minor == 700_000
    assert payslip.line("PF").amount_minor == 70_000
    assert payslip.line("ECHO").amount_minor == 50_000
    assert payslip.ytd.component("RETRO") == 50_000


@pytest.mark.parametrize(("make", "field"), [
    (lambda: ArrearsPeriod("", 1, 2), "label"),
    (lambda: ArrearsPeriod("2025-01", -1, 2), "old_minor"),
    (lambda: ArrearsPeriod("2025-01", 1, 2.5), "new_minor"),
    (lambda: ArrearsPeriod("2025-01", 1, 2, payment_days=3), "payment_days"),
    (lambda: ArrearsPeriod("2025-01", 1, 2, payment_days=5, working_days=4), "payment_days"),
    (lambda: ArrearsPeriod("2025-01", 1, 2, payment_days=0, working_days=0), "payment_days"),
    (lambda: compute_arrears([ArrearsPeriod("a", 1, 2), ArrearsPeriod("a", 1, 3)]), "periods"),
    (lambda: compute_arrears(["2025-01"]), "periods"),  # type: ignore[list-item]
    (lambda: compute_arrears([], code="no code"), "code"),
    (lambda: compute_arrears([], name=""), "name"),
])
def test_bad_arrears_are_refused(make, field):
    with pytest.raises(InvalidInput) as err:
        make()
    assert err.value.field == field


@given(old=st.integers(0, 10**8), new=st.integers(0, 10**8), working=st.integers(1, 31), data=st.data())
@PROPERTY
def test_arrears_are_antisymmetric_and_within_half_a_unit(old, new, working, data):
    paid = data.draw(st.integers(0, working))
    forward = compute_arrears([ArrearsPeriod("p", old, new, paid, working)])
    backward = compute_arrears([ArrearsPeriod("p", new, old, paid, working)])
    exact = F(new - old) * paid / working
    assert sum(ln.amount_minor for ln in forward) == -sum(ln.amount_minor for ln in backward)
    assert abs(sum(ln.amount_minor for ln in forward) - exact) <= F(1, 2)


# ---------------------------------------------------------------- properties over random structures

FORMULA_TEMPLATES = (
    "{a} * {r}",
    "max(0, {a} - {k}) * {r}",
    "min({a}, {k})",
    "{a} * payment_days / working_days",
    "{a} * {r} if {a} > {k} else {k2}",
    "abs({a} - {k}) / 3",
)


@st.composite
def random_structures(draw) -> SalaryStructure:
    """Random valid structures: earnings first, then deductions, contributions and maybe one tax line."""
    components: list[Component] = [basic()]
    earlier = ["base", "BASIC"]

    def rate() -> str:
        return str(draw(st.decimals(min_value=0, max_value=2, places=draw(st.integers(0, 4)))))

    def one(code: str, kind: str, names: list[str]) -> Component:
        method = draw(st.sampled_from(["fixed", "percentage", "formula"]))
        prorate = draw(st.booleans())
        if method == "fixed":
            return Component.fixed(code, code, kind, draw(st.integers(0, 10**7)), prorate=prorate)
        if method == "percentage":
            percent = draw(st.decimals(min_value=0, max_value=150, places=2))
            return Component.percentage(code, code, kind, percent, of=draw(st.sampled_from(names)),
                                        prorate=prorate)
        template = draw(st.sampled_from(FORMULA_TEMPLATES))
        text = template.format(a=draw(st.sampled_from(names)), r=rate(), k=draw(st.integers(0, 10**6)),
                               k2=draw(st.integers(0, 10**6)))
        return Component.formula(code, code, kind, text)

    for index in range(draw(st.integers(0, 3))):
        code = f"E{index}"
        components.append(one(code, EARNING, earlier))
        earlier.append(code)
    after = [*earlier, "gross"]
    for index in range(draw(st.integers(0, 4))):
        code = f"D{index}"
        kind = draw(st.sampled_from([DEDUCTION, EMPLOYER]))
        components.append(one(code, kind, after))
        after.append(code)
    if draw(st.booleans()):
        components.append(Component.tax("PAYG", "PAYG", table="AU_PAYGW"))
    return SalaryStructure("RANDOM", "AUD", tuple(components))


@st.composite
def random_inputs(draw) -> PayInputs:
    working = draw(st.integers(1, 31))
    unpaid = draw(st.fractions(min_value=0, max_value=working, max_denominator=2))
    return PayInputs(base_minor=draw(st.integers(0, 3 * 10**7)), working_days=working,
                     unpaid_leave_days=unpaid, filing_status=draw(st.sampled_from(
                         ["scale_1", "scale_2", "scale_3", "scale_5", "scale_6"])))


@given(s=random_structures(), inputs=random_inputs(),
       frequency=st.sampled_from(["weekly", "fortnightly", "monthly", "quarterly"]))
@PROPERTY
def test_lines_always_sum_to_gross_deductions_and_net(s, inputs, frequency):
    payslip = compute_payslip(s, month(frequency=frequency), inputs)
    by_kind: dict[LineKind, int] = {}
    for line in payslip.lines:
        assert isinstance(line.amount_minor, int) and line.amount_minor >= 0
        by_kind[line.kind] = by_kind.get(line.kind, 0) + line.amount_minor
    assert payslip.gross_minor == by_kind.get(LineKind.EARNING, 0)
    assert payslip.deductions_minor == by_kind.get(LineKind.DEDUCTION, 0) + by_kind.get(LineKind.TAX, 0)
    assert payslip.net_minor == payslip.gross_minor - payslip.deductions_minor
    assert payslip.employer_cost_minor == payslip.gross_minor + by_kind.get(LineKind.EMPLOYER_CONTRIBUTION, 0)
    assert [line.code for line in payslip.lines] == [c.code for c in s.components]
    assert payslip.ytd.gross_minor == payslip.gross_minor and payslip.ytd.net_minor == payslip.net_minor
    assert all(payslip.ytd.component(line.code) == line.amount_minor for line in payslip.lines)


@given(s=random_structures(), inputs=random_inputs())
@PROPERTY
def test_year_to_date_is_the_sum_of_the_payslips(s, inputs):
    ytd = YearToDate()
    payslips = []
    for _ in range(3):
        payslip = compute_payslip(s, month(), replace(inputs, ytd=ytd))
        payslips.append(payslip)
        ytd = payslip.ytd
    assert ytd.gross_minor == sum(p.gross_minor for p in payslips)
    assert ytd.taxable_minor == sum(p.taxable_minor for p in payslips)
    assert ytd.tax_minor == sum(p.tax_minor for p in payslips)
    assert ytd.net_minor == sum(p.net_minor for p in payslips)


@given(base=st.integers(0, 10**9), amount=st.integers(0, 10**8), working=st.integers(1, 31),
       percent=st.decimals(min_value=0, max_value=200, places=3))
@PROPERTY
def test_full_payment_days_equal_the_unprorated_amounts(base, amount, working, percent):
    s = structure(basic(), Component.fixed("FIX", "Fixed", EARNING, amount, prorate=True),
                  Component.percentage("PCT", "Percent", EARNING, percent, of="base", prorate=True),
                  Component.formula("FRM", "Formula", EARNING, "base * payment_days / working_days"))
    unprorated = structure(basic(), Component.fixed("FIX", "Fixed", EARNING, amount),
                           Component.percentage("PCT", "Percent", EARNING, percent, of="base"),
                           Component.formula("FRM", "Formula", EARNING, "base"))
    full = amounts(compute_payslip(s, month(), pay(base, working_days=working)))
    assert full == amounts(compute_payslip(unprorated, month(), pay(base, working_days=working)))
    assert full["BASIC"] == full["FRM"] == base and full["FIX"] == amount


@given(base=st.integers(0, 10**9), working=st.integers(1, 31), data=st.data())
@PROPERTY
def test_proration_is_monotone_and_within_half_a_unit(base, working, data):
    fewer = data.draw(st.integers(0, working))
    more = data.draw(st.integers(fewer, working))
    s = structure(basic())
    paid_more = compute_payslip(s, month(), pay(base, working_days=working, unpaid=fewer)).line("BASIC")
    paid_less = compute_payslip(s, month(), pay(base, working_days=working, unpaid=more)).line("BASIC")
    assert 0 <= paid_less.amount_minor <= paid_more.amount_minor <= base
    assert abs(paid_more.amount_minor - F(base) * (working - fewer) / working) <= F(1, 2)
