"""A family's statement of account as a PDF, read back with pypdf: what it prints, over how many pages, in
credit or owing, and the checks that refuse a statement whose balances do not chain.

No database. Each test builds a statement from small factories.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace

import pytest
from pypdf import PdfReader

from domain.fees.statement_document import (
    AgingBuckets,
    FamilyStatement,
    OpenInvoice,
    StatementLine,
    render_family_statement_pdf,
    statement_filename,
    validate_family_statement,
)
from domain.kernel.errors import InvalidInput
from domain.kernel.money import format_money

FROM, TO = dt.date(2026, 7, 1), dt.date(2026, 9, 30)


def pdf_text(pdf: bytes) -> tuple[list[str], str]:
    """Return each page's text and the whole text with runs of whitespace made single spaces."""
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    return pages, " ".join(" ".join(pages).split())


def chain(opening: int, items: list[tuple[dt.date, str, str, str, int, int]]) -> list[StatementLine]:
    """Statement lines from (date, kind, reference, description, charge, payment), with running balances."""
    lines, balance = [], opening
    for date, kind, reference, description, charge, payment in items:
        balance += charge - payment
        lines.append(StatementLine(date, kind, reference, description, charge, payment, balance))
    return lines


def standard_lines(opening: int = 12000) -> list[StatementLine]:
    return chain(opening, [
        (dt.date(2026, 7, 3), "invoice", "INV000012", "Term 3 2026 fees - Ava Nguyễn (Year 7)", 450000, 0),
        (dt.date(2026, 7, 3), "invoice", "INV000013", "Term 3 2026 fees - Zoë Ōtsuka (Year 3)", 380050, 0),
        (dt.date(2026, 7, 20), "payment", "RCT000003", "Payment received, bank transfer", 0, 400000),
        (dt.date(2026, 8, 2), "credit_note", "CN000001", "Sibling discount, Term 3", 0, 38005),
        (dt.date(2026, 8, 15), "refund", "RF000001", "Refund of excursion deposit", 5000, 0),
        (dt.date(2026, 9, 1), "credit_applied", "INV000013", "Credit applied from RCT000003", 0, 0),
    ])


def open_invoice(number: str = "INV000013", *, balance: int = 200000, days_overdue: int = 45,
                 student: str = "Zoë Ōtsuka") -> OpenInvoice:
    return OpenInvoice(number=number, student_name=student, issue_date=dt.date(2026, 7, 3),
                       due_date=dt.date(2026, 8, 16), total=380050, paid=142045, credited=38005,
                       balance=balance, days_overdue=days_overdue)


def statement(*, opening: int = 12000, lines: list[StatementLine] | None = None,
              **overrides: object) -> FamilyStatement:
    """A statement whose closing balance follows from its lines unless given in `overrides`."""
    lines = standard_lines(opening) if lines is None else lines
    closing = lines[-1].balance if lines else opening
    fields: dict[str, object] = {
        "school_name": "Mount Carmel College", "family_code": "F00042", "family_name": "Nguyễn",
        "billing_name": "Thị Hương Nguyễn", "billing_email": "huong.nguyen@example.com",
        "billing_address": "14 Wattle Street\nFitzroy VIC 3065\nAustralia",
        "students": ["Ava Nguyễn (S2026-0001, Year 7)", "Zoë Ōtsuka (S2026-0002, Year 3)"],
        "currency": "AUD", "from_date": FROM, "to_date": TO, "issued_on": dt.date(2026, 10, 2),
        "opening_balance": opening, "lines": lines, "closing_balance": closing, "credit_available": 0,
        "open_invoices": [open_invoice("INV000012", balance=209045, days_overdue=0, student="Ava Nguyễn"),
                          open_invoice()],
        "aging": AgingBuckets(current=209045, days_1_30=0, days_31_60=200000, days_61_90=0, over_90=0),
        "payment_instructions": "Pay by BPAY, biller code 123456, reference F00042.",
    }
    fields.update(overrides)
    return FamilyStatement(**fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------- what the statement prints


def test_the_statement_prints_the_family_its_references_and_balances():
    s = statement()
    pages, text = pdf_text(render_family_statement_pdf(s))
    assert len(pages) == 1
    for expected in ("Mount Carmel College", "Statement of account", "F00042", "Thị Hương Nguyễn",
                     "14 Wattle Street", "Fitzroy VIC 3065", "huong.nguyen@example.com",
                     "Ava Nguyễn (S2026-0001, Year 7)", "Zoë Ōtsuka (S2026-0002, Year 3)",
                     "Period 2026-07-01 to 2026-09-30", "Issued 2026-10-02",
                     "Pay by BPAY, biller code 123456, reference F00042."):
        assert expected in text, expected
    for line in s.lines:
        assert line.reference in text
    # 12,000 + 450,000 + 380,050 - 400,000 - 38,005 + 5,000 = 409,045 minor units owed.
    assert s.closing_balance == 409045
    assert format_money(409045, "AUD") == "4,090.45 AUD"
    assert "4,090.45 AUD" in text and "Amount due" in text and "In credit" not in text
    assert "Summary, 2026-07-01 to 2026-09-30" in text
    assert "Opening balance Charges Payments and credits Amount due" in text
    assert "120.00 AUD 8,350.50 AUD 4,380.05 AUD 4,090.45 AUD" in text
    # The summary's charges and payments: 835,050 and 438,005.
    assert "8,350.50 AUD" in text and "4,380.05 AUD" in text


def test_the_aging_row_and_open_invoices_are_printed():
    _, text = pdf_text(render_family_statement_pdf(statement()))
    assert "Current 1-30 days 31-60 days 61-90 days Over 90 days Total" in text
    assert "2,090.45 0.00 2,000.00 0.00 0.00 4,090.45" in text
    assert "INV000013 Zoë Ōtsuka 2026-08-16 3,800.50 1,420.45 380.05 2,000.00 45" in text
    assert "INV000012 Ava Nguyễn 2026-08-16" in text and "Not due" in text


def test_the_footer_names_the_statement_and_numbers_the_pages():
    pages, _ = pdf_text(render_family_statement_pdf(statement()))
    assert "Statement of account F00042 · 2026-07-01 to 2026-09-30" in pages[0]
    assert "Page 1 of 1" in pages[0]


def test_a_long_description_is_cut_not_dropped_or_overflowing():
    long = "Excursion to the Great Barrier Reef " * 12
    lines = chain(0, [(dt.date(2026, 8, 1), "invoice", "INV000099", long, 10000, 0)])
    _, text = pdf_text(render_family_statement_pdf(statement(opening=0, lines=lines)))
    assert "INV000099" in text and "Excursion to the" in text and "…" in text
    assert text.count("Great Barrier Reef") < 12


# ---------------------------------------------------------------- many lines, many pages


def test_a_statement_of_120_lines_continues_over_pages_with_every_reference():
    items = []
    for n in range(60):
        day = FROM + dt.timedelta(days=n)
        items.append((day, "invoice", f"INV{n + 100:06d}", f"Canteen account, week {n + 1} - Ava Nguyễn",
                      2550 + n, 0))
        items.append((day, "payment", f"RCT{n + 100:06d}", "Payment received, card", 0, 2000))
    lines = chain(0, items)
    s = statement(opening=0, lines=lines)
    pages, text = pdf_text(render_family_statement_pdf(s))
    assert len(lines) == 120 and len(pages) >= 3
    for line in lines:
        assert line.reference in text, line.reference
    assert all(f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, 1))
    # Every page the table continues on starts with its headings again.
    header = "Date Type Reference Description Charge Payment Balance"
    continued = [" ".join(page.split()) for page in pages[1:] if any(line.reference in page for line in lines)]
    assert len(continued) >= 2 and all(page.startswith(header) for page in continued)
    assert "2026-09-30 Closing balance 1,547.70 1,200.00 347.70" in text


# ---------------------------------------------------------------- repeatable bytes


def test_the_same_statement_gives_the_same_bytes():
    first = render_family_statement_pdf(statement())
    assert first == render_family_statement_pdf(statement())
    created = PdfReader(io.BytesIO(first)).metadata.creation_date
    assert created.date() == dt.date(2026, 10, 2)
    assert first != render_family_statement_pdf(statement(family_name="Ōtsuka"))


# ---------------------------------------------------------------- in credit


def test_a_family_in_credit_is_shown_in_credit():
    lines = chain(5000, [(dt.date(2026, 7, 10), "payment", "RCT000007", "Overpayment, bank transfer", 0, 17000)])
    s = statement(opening=5000, lines=lines, credit_available=12000, open_invoices=[],
                  aging=AgingBuckets(0, 0, 0, 0, 0))
    assert s.closing_balance == -12000
    _, text = pdf_text(render_family_statement_pdf(s))
    assert "In credit" in text and "Amount due" not in text
    assert "120.00 AUD CR" in text  # the summary
    assert "120.00 CR" in text.replace("120.00 AUD CR", "")  # the transactions table's balance column
    assert "-120.00" not in text
    assert "The family is in credit by 120.00 AUD" in text
    assert "Credit available, not yet applied to an invoice: 120.00 AUD" in text
    assert "No open invoices" in text


def test_an_opening_balance_in_credit_prints_as_credit():
    lines = chain(-3000, [(dt.date(2026, 7, 3), "invoice", "INV000021", "Term 3 fees", 10000, 0)])
    _, text = pdf_text(render_family_statement_pdf(statement(opening=-3000, lines=lines)))
    assert "30.00 AUD CR" in text and "Balance brought forward" in text
    assert "70.00 AUD" in text and "Amount due" in text


# ---------------------------------------------------------------- an empty period


def test_an_empty_period_still_renders_its_balance():
    s = statement(opening=25000, lines=[], open_invoices=[open_invoice(balance=25000, days_overdue=95)],
                  aging=AgingBuckets(0, 0, 0, 0, 25000), payment_instructions=None)
    pages, text = pdf_text(render_family_statement_pdf(s))
    assert len(pages) == 1
    assert "No transactions in this period." in text
    assert "250.00 AUD" in text and "Amount due" in text
    assert "0.00 0.00 0.00 0.00 250.00 250.00" in text
    assert "How to pay" not in text


# ---------------------------------------------------------------- refused input


def test_a_line_balance_that_does_not_chain_is_refused_naming_the_line():
    lines = standard_lines()
    lines[2] = replace(lines[2], balance=lines[2].balance + 1)
    with pytest.raises(InvalidInput) as exc:
        render_family_statement_pdf(statement(lines=lines, closing_balance=lines[-1].balance))
    assert exc.value.field == "lines[2].balance"
    assert "RCT000003" in exc.value.message
    assert exc.value.details["expected"] == lines[2].balance - 1


def test_a_closing_balance_that_does_not_follow_from_the_lines_is_refused():
    with pytest.raises(InvalidInput) as exc:
        render_family_statement_pdf(statement(closing_balance=400000))
    assert exc.value.field == "closing_balance"
    assert "closing_balance is 400000" in exc.value.message
    assert "opening_balance 12000 + charges 835050 - payments 438005 = 409045" in exc.value.message


def test_an_empty_period_whose_closing_differs_from_its_opening_is_refused():
    with pytest.raises(InvalidInput) as exc:
        validate_family_statement(statement(opening=100, lines=[], closing_balance=0))
    assert exc.value.field == "closing_balance"


@pytest.mark.parametrize("currency", ["XYZ", "aud", "", "AU"])
def test_an_unknown_currency_is_refused(currency):
    with pytest.raises(InvalidInput) as exc:
        render_family_statement_pdf(statement(currency=currency))
    assert exc.value.field == "currency"
    assert repr(currency) in exc.value.message


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(InvalidInput) as exc:
        render_family_statement_pdf(statement(to_date=dt.date(2026, 6, 30)))
    assert exc.value.field == "to_date"
    assert "before from_date 2026-07-01" in exc.value.message


@pytest.mark.parametrize(("change", "field"), [
    ({"opening_balance": 120.0}, "opening_balance"),
    ({"credit_available": -1}, "credit_available"),
    ({"family_code": " "}, "family_code"),
    ({"family_name": "王"}, "family_name"),
])
def test_bad_fields_are_refused(change, field):
    with pytest.raises(InvalidInput) as exc:
        render_family_statement_pdf(statement(**change))
    assert exc.value.field == field


def test_a_line_of_unknown_kind_or_negative_charge_is_refused():
    lines = standard_lines()
    with pytest.raises(InvalidInput) as exc:
        validate_family_statement(statement(lines=[replace(lines[0], kind="fee"), *lines[1:]]))
    assert exc.value.field == "lines[0].kind" and "credit_note" in exc.value.message
    negative = chain(0, [(FROM, "invoice", "INV000001", "Fees", -100, 0)])
    with pytest.raises(InvalidInput) as exc:
        validate_family_statement(statement(opening=0, lines=negative))
    assert exc.value.field == "lines[0].charge"


# ---------------------------------------------------------------- file name


def test_the_file_name_holds_the_family_code_and_end_date():
    assert statement_filename(statement()) == "statement-F00042-2026-09-30.pdf"
    assert statement_filename(statement(family_code="F/00 42")) == "statement-F-00-42-2026-09-30.pdf"
