"""Payslip PDFs read back with pypdf, exact money formatting, the run summary CSV read back with `csv`, and
the checks that refuse a payslip whose figures do not add up.

No database. Each test builds a payslip or a few summary rows from small factories.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from pypdf import PdfReader

from domain.documents.pdf_text import text_width as _text_width
from domain.kernel.errors import InvalidInput
from domain.kernel.money import format_money
from domain.payroll.payslip_document import (
    RUN_SUMMARY_HEADER,
    PayslipDocument,
    PayslipLine,
    RunSummaryRow,
    render_payslip_pdf,
    render_run_summary_csv,
)

PT_PER_MM = 72 / 25.4


def standard_lines() -> tuple[PayslipLine, ...]:
    return (PayslipLine("BASIC", "Basic salary", "earning", 425000),
            PayslipLine("HOUSE", "Housing allowance", "earning", 60000),
            PayslipLine("ARR-OCT", "Salary arrears, October", "arrears", 12050),
            PayslipLine("PENS", "Pension, employee share", "deduction", 21250),
            PayslipLine("LOAN", "Staff loan repayment", "deduction", 15000),
            PayslipLine("PAYE", "Income tax (PAYE)", "tax", 63812),
            PayslipLine("PENS-ER", "Pension, employer share", "employer_contribution", 34000),
            PayslipLine("NHIF-ER", "Health insurance, employer", "employer_contribution", 5500))


def payslip(*, lines: tuple[PayslipLine, ...] | None = None, name: str = "Amelia Brown",
            currency: str = "USD", status: str = "paid", reverses: str | None = None,
            payment_days: Fraction | Decimal | int = 22,
            **overrides: object) -> PayslipDocument:
    """A payslip whose totals are computed from its lines unless given in `overrides`."""
    lines = standard_lines() if lines is None else lines

    def total(*kinds: str) -> int:
        return sum(line.amount_minor for line in lines if line.kind in kinds)

    gross, deductions = total("earning", "arrears"), total("deduction", "tax")
    fields: dict[str, object] = {
        "school_name": "Mount Carmel School", "school_address": "12 Hill Road, Nairobi",
        "employee_code": "E0042", "employee_name": name, "department": "Mathematics",
        "position": "Senior teacher", "period_label": "November 2026",
        "period_start": date(2026, 11, 1), "period_end": date(2026, 11, 30), "pay_date": date(2026, 11, 27),
        "currency": currency, "lines": lines, "gross_minor": gross, "deductions_minor": deductions,
        "net_minor": gross - deductions, "employer_cost_minor": gross + total("employer_contribution"),
        "ytd_gross_minor": 5_467_050, "ytd_tax_minor": 701_932, "ytd_net_minor": 4_346_018,
        "payment_days": payment_days, "working_days": 22, "payslip_number": "PS-2026-11-0042",
        "status": status, "reverses": reverses}
    fields.update(overrides)
    return PayslipDocument(**fields)  # type: ignore[arg-type]


def pdf_text(pdf: bytes) -> tuple[list[str], str]:
    """Return each page's text and the whole text with runs of whitespace made single spaces."""
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    return pages, " ".join(" ".join(pages).split())


def summary_row(code: str = "E0001", name: str = "Amelia Brown", *, gross: int = 500000,
                deductions: int = 120000, employer: int = 40000, currency: str = "USD",
                department: str = "Mathematics") -> RunSummaryRow:
    return RunSummaryRow(employee_code=code, employee_name=name, department=department, gross_minor=gross,
                         deductions_minor=deductions, net_minor=gross - deductions,
                         employer_cost_minor=gross + employer, currency=currency)


# ---------------------------------------------------------------- what the payslip prints


def test_payslip_prints_employee_every_line_totals_net_pay_and_year_to_date():
    pdf = render_payslip_pdf(payslip(name="Zoë Ñúñez", payment_days=Fraction(43, 2)))
    assert pdf.startswith(b"%PDF-")
    pages, text = pdf_text(pdf)
    assert len(pages) == 1
    for expected in ("Mount Carmel School", "12 Hill Road, Nairobi", "Payslip No. PS-2026-11-0042",
                     ("November 2026 · Pay period 2026-11-01 to 2026-11-30 · Pay date 2026-11-27 · "
                      "Status: Paid"), "Employee Zoë Ñúñez Employee code E0042",
                     "Department Mathematics Position Senior teacher", "Payment days 21.5 Working days 22",
                     "Page 1 of 1"):
        assert expected in text, expected
    # Every line in its table: code, description, type, amount in the currency's format.
    for row in ("BASIC Basic salary Earning 4,250.00", "HOUSE Housing allowance Earning 600.00",
                "ARR-OCT Salary arrears, October Arrears 120.50",
                "PENS Pension, employee share Deduction 212.50", "LOAN Staff loan repayment Deduction 150.00",
                "PAYE Income tax (PAYE) Tax 638.12",
                "PENS-ER Pension, employer share 340.00", "NHIF-ER Health insurance, employer 55.00"):
        assert row in text, row
    assert "Gross pay 4,970.50" in text
    assert "Total deductions 1,000.62" in text
    assert "Net pay 3,969.88 USD" in text
    assert "Gross pay Tax Net pay 54,670.50 7,019.32 43,460.18" in text


def test_employer_contributions_are_shown_apart_after_net_pay():
    _, text = pdf_text(render_payslip_pdf(payslip()))
    net_at = text.index("Net pay 3,969.88 USD")
    section_at = text.index("Employer contributions (paid by the school, not part of net pay)")
    assert net_at < section_at < text.index("PENS-ER") < text.index("NHIF-ER")
    # The earnings and deductions tables, above net pay, hold no employer line.
    assert "PENS-ER" not in text[:net_at] and "NHIF-ER" not in text[:net_at]
    assert "Total employer cost (gross pay + employer contributions) 5,365.50" in text


def test_amounts_are_right_aligned_in_their_column():
    starts: dict[str, float] = {}

    def visit(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip() in {"4,250.00", "120.50", "638.12"}:
            starts[text.strip()] = cm[4] + tm[4]

    PdfReader(io.BytesIO(render_payslip_pdf(payslip()))).pages[0].extract_text(visitor_text=visit)
    width = {k: _text_width(k, bold=False, size=8.5) * PT_PER_MM for k in starts}
    assert len(starts) == 3
    # Shorter amounts start further right by exactly the width they lack.
    lacking = width["4,250.00"] - width["120.50"]
    assert starts["120.50"] - starts["4,250.00"] == pytest.approx(lacking, abs=0.05)
    assert starts["638.12"] == pytest.approx(starts["120.50"], abs=0.05)


def test_page_is_a4_portrait():
    page = PdfReader(io.BytesIO(render_payslip_pdf(payslip()))).pages[0]
    assert (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1)) == (595.3, 841.9)


@pytest.mark.parametrize("status", ["draft", "done", "paid"])
def test_only_a_void_payslip_says_void(status):
    _, text = pdf_text(render_payslip_pdf(payslip(status=status)))
    assert "VOID" not in text.upper()
    assert f"Status: {status.capitalize()}" in text


def test_void_payslip_has_a_banner_and_a_watermark():
    _, text = pdf_text(render_payslip_pdf(payslip(status="void")))
    assert "VOID: this payslip has been cancelled. Do not pay it or rely on its figures." in text
    assert text.count("VOID") >= 2  # the banner and the watermark
    assert "Status: Void" in text


def test_a_reversal_names_the_payslip_it_reverses_and_prints_negative_amounts():
    lines = tuple(replace(line, amount_minor=-line.amount_minor) for line in standard_lines())
    _, text = pdf_text(render_payslip_pdf(payslip(lines=lines, reverses="PS-2026-10-0042",
                                                  payslip_number="PS-2026-11-0099")))
    assert "This payslip reverses payslip PS-2026-10-0042" in text
    assert "BASIC Basic salary Earning -4,250.00" in text
    assert "Net pay -3,969.88 USD" in text
    _, plain = pdf_text(render_payslip_pdf(payslip()))
    assert "reverses" not in plain


def test_long_payslip_continues_on_a_new_page_and_loses_no_line():
    earnings = tuple(PayslipLine(f"E{n:02d}", f"Allowance number {n:02d}", "earning", 1000 * n)
                     for n in range(1, 41))
    deductions = tuple(PayslipLine(f"D{n:02d}", f"Deduction number {n:02d}", "deduction", 100 * n)
                       for n in range(1, 31))
    pages, text = pdf_text(render_payslip_pdf(payslip(lines=earnings + deductions)))
    assert len(pages) >= 2
    for n in range(1, 41):
        amount = format_money(1000 * n, "USD", code=False)
        assert text.count(f"E{n:02d} Allowance number {n:02d} Earning {amount}") == 1, n
    for n in range(1, 31):
        amount = format_money(100 * n, "USD", code=False)
        assert text.count(f"D{n:02d} Deduction number {n:02d} Deduction {amount}") == 1, n
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "Payslip PS-2026-11-0042 · E0042 · Amelia Brown" in page
    # The headings repeat on the page a table continues on.
    assert sum("Code Description Type Amount (USD)" in " ".join(p.split()) for p in pages) >= 3


def test_a_payslip_without_deductions_or_contributions_says_so():
    lines = (PayslipLine("BASIC", "Basic salary", "earning", 300000),)
    _, text = pdf_text(render_payslip_pdf(payslip(lines=lines)))
    assert "No deductions this period. Total deductions 0.00" in text
    assert "No employer contributions this period." in text
    assert "Net pay 3,000.00 USD" in text


def test_payslip_in_yen_prints_whole_yen_and_kuwaiti_dinar_three_decimals():
    lines = (PayslipLine("BASIC", "Basic salary", "earning", 350000),
             PayslipLine("TAX", "Income tax", "tax", 21000))
    _, yen = pdf_text(render_payslip_pdf(payslip(lines=lines, currency="JPY")))
    assert "Amount (JPY)" in yen and "Basic salary Earning 350,000" in yen and "Net pay 329,000 JPY" in yen
    _, dinar = pdf_text(render_payslip_pdf(payslip(lines=lines, currency="KWD")))
    assert "Basic salary Earning 350.000" in dinar and "Net pay 329.000 KWD" in dinar


@pytest.mark.parametrize(("days", "printed"), [(22, "22"), (Decimal("21.50"), "21.5"),
                                               (Fraction(43, 2), "21.5"), (Fraction(64, 3), "21 1/3"),
                                               (Decimal(0), "0")])
def test_payment_days_print_exactly(days, printed):
    _, text = pdf_text(render_payslip_pdf(payslip(payment_days=days)))
    assert f"Payment days {printed} Working days 22" in text


# ---------------------------------------------------------------- reproducible bytes


def test_equal_payslips_give_equal_bytes():
    assert render_payslip_pdf(payslip()) == render_payslip_pdf(payslip())
    # The creation date is the pay date, not the clock, which is what makes the bytes repeatable.
    created = PdfReader(io.BytesIO(render_payslip_pdf(payslip()))).metadata.creation_date
    assert (created.date(), created.utcoffset()) == (date(2026, 11, 27), timedelta(0))
    assert render_payslip_pdf(payslip()) != render_payslip_pdf(payslip(name="Noah Okafor"))


# ---------------------------------------------------------------- names and the font


@pytest.mark.parametrize("name", ["Zoë Ñúñez", "Łukasz Żółć", "Đặng Thị Hương", "Σοφία Παπαδοπούλου",
                                  "Ольга Петренко", "Արամ Պետրոսյան"])
def test_names_the_font_covers_are_printed(name):
    # Armenian falls outside the cut-down font, so that payslip takes the whole DejaVu Sans.
    line = PayslipLine("BONUS", f"Bonus for {name.split()[0]}", "earning", 5000)
    _, text = pdf_text(render_payslip_pdf(payslip(name=name, lines=(*standard_lines(), line))))
    assert f"Employee {name}" in text
    assert f"Bonus for {name.split()[0]} Earning 50.00" in text


@pytest.mark.parametrize(("field", "value", "missing"), [
    ("employee_name", "王小明", "王"),
    ("employee_name", "דוד כהן", "ד"),
    ("department", "数学", "数"),
])
def test_text_the_font_cannot_draw_is_refused_not_printed_with_gaps(field, value, missing):
    with pytest.raises(InvalidInput) as exc:
        render_payslip_pdf(payslip(**{field: value}) if field != "employee_name" else payslip(name=value))
    assert exc.value.field == field
    assert missing in exc.value.details["characters"]
    assert "cannot draw" in exc.value.message


def test_a_line_description_the_font_cannot_draw_names_the_line():
    lines = (*standard_lines(), PayslipLine("BONUS", "ボーナス", "earning", 5000))
    with pytest.raises(InvalidInput) as exc:
        render_payslip_pdf(payslip(lines=lines))
    assert exc.value.field == "lines[8].name"


@pytest.mark.parametrize("field", ["employee_name", "employee_code", "school_name", "payslip_number"])
def test_blank_text_is_refused(field):
    doc = payslip(name="  ") if field == "employee_name" else payslip(**{field: ""})
    with pytest.raises(InvalidInput) as exc:
        render_payslip_pdf(doc)
    assert exc.value.field == field


# ---------------------------------------------------------------- money


@pytest.mark.parametrize(("currency", "decimals"), [("USD", 2), ("JPY", 0), ("KWD", 3)])
def test_amounts_print_with_the_kernels_formatter(currency, decimals):
    # Amounts are domain.kernel.money.format_money's (tests/domain/test_money.py), with the currency's exponent.
    doc = payslip(currency=currency)
    _, text = pdf_text(render_payslip_pdf(doc))
    net = format_money(doc.net_minor, currency)
    assert net in text
    assert len(net.removesuffix(f" {currency}").partition(".")[2]) == decimals


@pytest.mark.parametrize("currency", ["usd", "XAU", "ABC"])
def test_unsupported_currencies_are_refused(currency):
    with pytest.raises(InvalidInput) as info:
        payslip(currency=currency)
    assert info.value.field == "currency" and "ISO 4217" in info.value.message


# ---------------------------------------------------------------- the figures must add up


def test_lines_not_summing_to_gross_are_refused_with_both_numbers():
    with pytest.raises(InvalidInput) as exc:
        payslip(gross_minor=500000, net_minor=500000 - 100062)
    assert exc.value.field == "gross_minor"
    assert "gross_minor is 500000" in exc.value.message and "sum to 497050" in exc.value.message


def test_lines_not_summing_to_deductions_are_refused_with_both_numbers():
    with pytest.raises(InvalidInput) as exc:
        payslip(deductions_minor=90000, net_minor=497050 - 90000)
    assert exc.value.field == "deductions_minor"
    assert "deductions_minor is 90000" in exc.value.message and "sum to 100062" in exc.value.message


def test_net_pay_not_gross_less_deductions_is_refused_with_the_numbers():
    with pytest.raises(InvalidInput) as exc:
        payslip(net_minor=400000)
    assert exc.value.field == "net_minor"
    assert "net_minor is 400000" in exc.value.message
    assert "gross_minor 497050 - deductions_minor 100062 = 396988" in exc.value.message
    assert exc.value.details == {"net_minor": 400000, "expected": 396988}


def test_employer_cost_not_gross_plus_contributions_is_refused():
    with pytest.raises(InvalidInput) as exc:
        payslip(employer_cost_minor=497050)
    assert exc.value.field == "employer_cost_minor"
    assert "497050 + employer contribution lines 39500 = 536550" in exc.value.message


@pytest.mark.parametrize(("change", "field"), [
    ({"gross_minor": 4970.50}, "gross_minor"),
    ({"ytd_net_minor": Decimal("1.5")}, "ytd_net_minor"),
    ({"payment_days": 21.5}, "payment_days"),
    ({"payment_days": -1}, "payment_days"),
    ({"working_days": -2}, "working_days"),
    ({"status": "cancelled"}, "status"),
    ({"currency": "dollars"}, "currency"),
    ({"period_end": date(2026, 10, 31)}, "period_end"),
    ({"pay_date": "2026-11-27"}, "pay_date"),
])
def test_bad_fields_are_refused_on_construction(change, field):
    with pytest.raises(InvalidInput) as exc:
        payslip(**change)
    assert exc.value.field == field


def test_whole_working_days_given_as_a_fraction_are_taken_as_an_int():
    assert payslip(working_days=Fraction(22)).working_days == 22
    assert type(payslip(working_days=Fraction(22)).working_days) is int
    with pytest.raises(InvalidInput) as exc:
        payslip(working_days=Fraction(43, 2))
    assert exc.value.field == "working_days"


def test_a_line_with_a_float_amount_or_unknown_kind_is_refused():
    with pytest.raises(InvalidInput, match=r"amount_minor is 12\.5 \(float\)"):
        PayslipLine("BASIC", "Basic salary", "earning", 12.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="kind 'bonus'"):
        PayslipLine("BASIC", "Basic salary", "bonus", 100)  # type: ignore[arg-type]


# ---------------------------------------------------------------- run summary CSV


def test_run_summary_csv_reads_back_to_the_same_exact_totals():
    rows = [summary_row("E0001", "Amelia Brown", gross=500000, deductions=120033, employer=40001),
            summary_row("E0002", "Núñez, Zoë", gross=437050, deductions=85062, employer=34000,
                        department="Science, Lab"),
            summary_row("E0003", 'Liam "Lee" O\'Brien', gross=1, deductions=0, employer=0),
            summary_row("E0004", "Łukasz Żółć", gross=0, deductions=0, employer=0)]
    text = render_run_summary_csv(rows)
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == RUN_SUMMARY_HEADER
    assert table[0] == ["employee_code", "employee_name", "department", "currency", "gross", "deductions",
                        "net", "employer_cost"]
    assert table[1] == ["E0001", "Amelia Brown", "Mathematics", "USD", "5000.00", "1200.33", "3799.67",
                        "5400.01"]
    assert table[2][:3] == ["E0002", "Núñez, Zoë", "Science, Lab"]
    assert table[3][1] == 'Liam "Lee" O\'Brien' and table[3][4] == "0.01"
    assert '"Núñez, Zoë"' in text  # a name holding a comma is quoted, not split
    body, total = table[1:-1], table[-1]
    assert len(body) == 4
    assert total == ["TOTAL", "", "", "USD", "9370.51", "2050.95", "7319.56", "10110.52"]
    for column in range(4, 8):
        assert sum(Decimal(row[column]) for row in body) == Decimal(total[column])


def test_run_summary_in_yen_and_dinar_uses_their_minor_units():
    yen = list(csv.reader(io.StringIO(render_run_summary_csv([summary_row(gross=350000, deductions=21000,
                                                                          currency="JPY")]))))
    assert yen[1][3:] == ["JPY", "350000", "21000", "329000", "390000"]
    dinar_rows = [summary_row(gross=1234, deductions=5, employer=1, currency="KWD")]
    dinar = list(csv.reader(io.StringIO(render_run_summary_csv(dinar_rows))))
    assert dinar[-1] == ["TOTAL", "", "", "KWD", "1.234", "0.005", "1.229", "1.235"]


def test_run_summary_refuses_mixed_currencies_naming_them():
    rows = [summary_row("E0001"), summary_row("E0002"), summary_row("E0003", currency="EUR")]
    with pytest.raises(InvalidInput) as exc:
        render_run_summary_csv(rows)
    assert exc.value.field == "rows[2].currency"
    assert "E0003" in exc.value.message and "EUR" in exc.value.message and "USD" in exc.value.message
    assert exc.value.details["currencies"] == ["USD", "EUR"]


def test_run_summary_refuses_an_empty_run():
    with pytest.raises(InvalidInput, match="no payslips"):
        render_run_summary_csv([])


def test_run_summary_row_must_add_up():
    with pytest.raises(InvalidInput, match="net_minor is 1 but gross_minor 10 - deductions_minor 2 = 8"):
        RunSummaryRow("E0001", "Amelia Brown", "Mathematics", 10, 2, 1, 10, "USD")


def test_run_summary_defuses_spreadsheet_formulas_in_names_but_not_negative_amounts():
    formula = '=HYPERLINK("http://evil.example","x")'
    rows = [summary_row("E0001", formula, gross=-1000, deductions=0, employer=0)]
    table = list(csv.reader(io.StringIO(render_run_summary_csv(rows))))
    assert table[1][1] == "'=HYPERLINK(\"http://evil.example\",\"x\")"
    assert table[1][4] == "-10.00" and table[-1][4] == "-10.00"
