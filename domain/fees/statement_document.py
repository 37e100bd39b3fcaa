"""A family's statement of account as an A4 PDF: what was billed, paid and credited over a period, what is still
owed and how overdue it is.

Pure: no session, no clock, no files written. The fees service builds a `FamilyStatement` from the database
(every amount an integer number of minor units of one ISO 4217 currency) and calls
`render_family_statement_pdf`; nothing here computes a balance. The statement is checked to chain (opening
balance plus each line's charge less its payment gives that line's balance, and the last one the closing
balance) and printed as it is.

Layout: the school's name, "Statement of account" with the family code, the period and issue date; the bill-to
block (billing name, address, email) beside the account block (family code, family name, students); a summary
box (opening balance, charges, payments and credits, and the closing balance as "Amount due" or "In credit");
the transactions, from the balance brought forward to the closing balance, continuing over pages with the
headings repeated and never splitting a row; the open invoices with their totals; the aging of what is open;
the payment instructions. A footer on every page names the statement and its period and numbers the pages.

Money: `domain.kernel.money.format_money`. A negative balance (the family is in credit) prints as the amount
followed by "CR" ("120.00 AUD CR", or "120.00 CR" in a table whose heading names the currency), everywhere.

Font: the shared DejaVu Sans of `domain.documents.pdf_text`, so names such as "Zoë Ōtsuka" or "Nguyễn Văn An"
print on any machine; a text holding a character the font cannot draw (CJK, or a right-to-left script printed
unshaped) is refused with InvalidInput naming the field, never printed with gaps.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from domain.documents.pdf_tables import (
    EMPHASIS_FILL,
    HEAD_FILL,
    Cell,
    TableStyle,
    draw_lines,
    draw_row,
    draw_table,
    fit_lines,
    line_height,
    paragraph,
    row_layout,
    section_title,
)
from domain.documents.pdf_text import (
    COMMON,
    INK,
    MARGIN,
    MUTED,
    a4_document,
    add_fonts,
    drawable,
    shorten,
)
from domain.kernel import money
from domain.kernel.errors import InvalidInput

if TYPE_CHECKING:
    from fpdf import FPDF

LINE_KINDS = ("invoice", "payment", "credit_note", "refund", "void", "credit_applied")
KIND_LABELS = {"invoice": "Invoice", "payment": "Payment", "credit_note": "Credit note", "refund": "Refund",
               "void": "Void", "credit_applied": "Credit applied"}


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class StatementLine:
    """One transaction on the statement, in integer minor units of the statement's currency.

    `charge` increases what the family owes (invoice, refund), `payment` decreases it (payment, credit note,
    void); the other is 0, and both are 0 for a credit applied to an invoice. `balance` is the running balance
    after the line; positive means the family owes the school.
    """

    date: dt.date
    kind: str  # "invoice" | "payment" | "credit_note" | "refund" | "void" | "credit_applied"
    reference: str  # INV000012, RCT000003, CN000001, RF000001
    description: str  # e.g. "Term 2 2026 fees - Ava Nguyen (Year 7)"
    charge: int
    payment: int
    balance: int


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice with money still owed at the statement's end date; amounts in minor units.

    `paid` includes credit applied, `credited` is credit notes, `balance` what is left; `days_overdue` is 0
    when the invoice is not yet due.
    """

    number: str
    student_name: str
    issue_date: dt.date
    due_date: dt.date
    total: int
    paid: int
    credited: int
    balance: int
    days_overdue: int


@dataclass(frozen=True)
class AgingBuckets:
    """The open invoices' balances by days past due at the statement's end date, in minor units."""

    current: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    over_90: int

    @property
    def total(self) -> int:
        """Return the sum of the buckets in minor units."""
        return self.current + self.days_1_30 + self.days_31_60 + self.days_61_90 + self.over_90


@dataclass(frozen=True)
class FamilyStatement:
    """Everything printed on one family's statement of account for `from_date` to `to_date` (inclusive).

    Amounts are integer minor units of `currency` (ISO 4217). `opening_balance` is brought forward at
    `from_date` and `closing_balance` is the balance at `to_date`; both are positive when the family owes the
    school and negative when it is in credit. `credit_available` (>= 0) is credit not yet applied to an
    invoice; `aging` is of `open_invoices` at `to_date`. `billing_address` may hold several lines.
    """

    school_name: str
    family_code: str  # F00042
    family_name: str
    billing_name: str | None
    billing_email: str | None
    billing_address: str | None
    students: list[str]  # "Ava Nguyen (S2026-0001, Year 7)"
    currency: str
    from_date: dt.date
    to_date: dt.date
    issued_on: dt.date
    opening_balance: int
    lines: list[StatementLine]
    closing_balance: int
    credit_available: int
    open_invoices: list[OpenInvoice]
    aging: AgingBuckets
    payment_instructions: str | None = None


# ---------------------------------------------------------------- validation


def _check_int(value: object, field: str, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{field} is {value!r} ({type(value).__name__}); give a whole number of minor units, "
                           f"never a float or decimal", field=field)
    if minimum is not None and value < minimum:
        raise InvalidInput(f"{field} is {value}; it must be {minimum} or more", field=field)
    return value


def _check_date(value: object, field: str) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise InvalidInput(f"{field} {value!r} is not a date", field=field)
    return value


def _check_text(value: object, field: str, *, required: bool) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise InvalidInput(f"{field} is a {type(value).__name__}; give a text", field=field)
    if required and not value.strip():
        raise InvalidInput(f"{field} is empty; give a non-blank text", field=field)
    can_draw = drawable()
    missing = sorted({c for c in unicodedata.normalize("NFC", value)
                      if ord(c) not in can_draw and c not in "\n\r\t"})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
        raise InvalidInput(f"{field} has characters the statement font (DejaVu Sans) cannot draw: {shown}; it "
                           f"draws Latin, Greek, Cyrillic, Armenian and Georgian scripts, so give the text in "
                           f"one of them", field=field, details={"characters": missing})


def _texts(statement: FamilyStatement) -> Iterator[tuple[str, str | None, bool]]:
    """Yield (field, text, required) for every text the statement prints."""
    s = statement
    yield from (("school_name", s.school_name, True), ("family_code", s.family_code, True),
                ("family_name", s.family_name, True), ("billing_name", s.billing_name, False),
                ("billing_email", s.billing_email, False), ("billing_address", s.billing_address, False),
                ("payment_instructions", s.payment_instructions, False))
    for i, student in enumerate(s.students):
        yield f"students[{i}]", student, True
    for i, line in enumerate(s.lines):
        yield from ((f"lines[{i}].reference", line.reference, False),
                    (f"lines[{i}].description", line.description, False))
    for i, invoice in enumerate(s.open_invoices):
        yield from ((f"open_invoices[{i}].number", invoice.number, True),
                    (f"open_invoices[{i}].student_name", invoice.student_name, False))


def validate_family_statement(statement: FamilyStatement) -> None:
    """Raise InvalidInput naming the first field (e.g. `lines[3].balance`) that is wrong or cannot be printed.

    Checks: the currency is one `domain.kernel.money.MINOR_UNITS` knows; `to_date` is not before `from_date`;
    amounts are integers (charges, payments, `credit_available` and invoice amounts not negative); each line's
    kind is one of LINE_KINDS; the balances chain (opening balance + charge - payment of each line gives its
    balance, and the last balance is `closing_balance`); every text can be drawn by the font.
    """
    s = statement
    if not isinstance(s, FamilyStatement):
        raise InvalidInput(f"expected FamilyStatement, got {type(s).__name__}", field="statement")
    money.check_currency(s.currency)
    for name in ("from_date", "to_date", "issued_on"):
        _check_date(getattr(s, name), name)
    if s.to_date < s.from_date:
        raise InvalidInput(f"to_date {s.to_date} is before from_date {s.from_date}; a statement's period must "
                           f"end on or after its start", field="to_date")
    _check_int(s.opening_balance, "opening_balance")
    _check_int(s.closing_balance, "closing_balance")
    _check_int(s.credit_available, "credit_available", minimum=0)
    balance = s.opening_balance
    for i, line in enumerate(s.lines):
        if not isinstance(line, StatementLine):
            raise InvalidInput(f"lines[{i}] is a {type(line).__name__}, not a StatementLine", field=f"lines[{i}]")
        _check_date(line.date, f"lines[{i}].date")
        if line.kind not in LINE_KINDS:
            raise InvalidInput(f"lines[{i}] ({line.reference}) has kind {line.kind!r}; allowed kinds are "
                               f"{', '.join(LINE_KINDS)}", field=f"lines[{i}].kind")
        _check_int(line.charge, f"lines[{i}].charge", minimum=0)
        _check_int(line.payment, f"lines[{i}].payment", minimum=0)
        _check_int(line.balance, f"lines[{i}].balance")
        expected = balance + line.charge - line.payment
        if line.balance != expected:
            raise InvalidInput(f"lines[{i}] ({line.reference}) has balance {line.balance} but the previous "
                               f"balance {balance} + charge {line.charge} - payment {line.payment} = {expected}; "
                               f"each line's balance must follow from the one before",
                               field=f"lines[{i}].balance",
                               details={"balance": line.balance, "expected": expected})
        balance = expected
    if s.closing_balance != balance:
        charges = sum(line.charge for line in s.lines)
        payments = sum(line.payment for line in s.lines)
        raise InvalidInput(f"closing_balance is {s.closing_balance} but opening_balance {s.opening_balance} + "
                           f"charges {charges} - payments {payments} = {balance}; the closing balance must be "
                           f"the opening balance plus the period's lines", field="closing_balance",
                           details={"closing_balance": s.closing_balance, "expected": balance})
    for i, invoice in enumerate(s.open_invoices):
        if not isinstance(invoice, OpenInvoice):
            raise InvalidInput(f"open_invoices[{i}] is a {type(invoice).__name__}, not an OpenInvoice",
                               field=f"open_invoices[{i}]")
        _check_date(invoice.issue_date, f"open_invoices[{i}].issue_date")
        _check_date(invoice.due_date, f"open_invoices[{i}].due_date")
        for name in ("total", "paid", "credited", "days_overdue"):
            _check_int(getattr(invoice, name), f"open_invoices[{i}].{name}", minimum=0)
        _check_int(invoice.balance, f"open_invoices[{i}].balance")
    if not isinstance(s.aging, AgingBuckets):
        raise InvalidInput(f"aging is a {type(s.aging).__name__}, not AgingBuckets", field="aging")
    for name in ("current", "days_1_30", "days_31_60", "days_61_90", "over_90"):
        _check_int(getattr(s.aging, name), f"aging.{name}")
    for field, text, required in _texts(s):
        _check_text(text, field, required=required)


def statement_filename(statement: FamilyStatement) -> str:
    """Return the statement's file name, "statement-F00042-2026-09-30.pdf" (family code and end date)."""
    code = re.sub(r"[^A-Za-z0-9_-]+", "-", statement.family_code).strip("-") or "family"
    return f"statement-{code}-{statement.to_date.isoformat()}.pdf"


# ---------------------------------------------------------------- money


def _balance(minor: int, currency: str, *, code: bool = True) -> str:
    """An amount for a person; a negative one (the family in credit) as its size followed by "CR"."""
    text = money.format_money(abs(minor), currency, code=code)
    return f"{text} CR" if minor < 0 else text


# ---------------------------------------------------------------- layout

_BODY = 8.0  # table text size, pt
_TABLE = TableStyle(pad_y=1.2)
_cell = partial(Cell, size=_BODY)  # a table cell in the body text size
# Date, type, reference, description, charge, payment, balance, in mm; 180 mm is A4 less the margins.
_LINE_COLUMNS = (22.0, 20.0, 21.0, 44.0, 23.0, 23.0, 27.0)
# Invoice, student, due date, total, paid, credited, balance, days overdue.
_INVOICE_COLUMNS = (21.0, 33.0, 20.0, 22.0, 21.0, 21.0, 24.0, 18.0)
_DESCRIPTION_LINES = 3  # a longer description is cut with an ellipsis
_ADDRESS_LINES = 6


# ---------------------------------------------------------------- rendering


def render_family_statement_pdf(statement: FamilyStatement) -> bytes:
    """Render one family's statement of account as an A4 PDF (one page or more) and return its bytes.

    Amounts are integer minor units of `statement.currency`, printed with `money.format_money`; a negative balance
    prints as in credit ("120.00 AUD CR"). Raises InvalidInput naming the field when the statement is wrong or
    cannot be printed (see `validate_family_statement`). Deterministic: the PDF's creation date is the issue
    date, not the clock, so equal statements give equal bytes.
    """
    validate_family_statement(statement)
    s = _normalized(statement)
    pdf = a4_document(f"Statement of account {s.family_code} · {s.from_date} to {s.to_date}")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)  # the tables keep rows whole with ensure_room instead
    pdf.set_creation_date(dt.datetime.combine(s.issued_on, dt.time(), tzinfo=dt.UTC))
    pdf.set_title(f"Statement of account {s.family_code}: {s.family_name}, {s.from_date} to {s.to_date}")
    pdf.set_author(s.school_name)
    text = "".join(t for _, t, _ in _texts(s) if t)
    add_fonts(pdf, common_only=all(ord(c) in COMMON for c in set(text)))
    pdf.add_page()
    _draw_header(pdf, s)
    _draw_family(pdf, s)
    _draw_summary(pdf, s)
    _draw_transactions(pdf, s)
    _draw_open_invoices(pdf, s)
    _draw_aging(pdf, s)
    if s.payment_instructions and s.payment_instructions.strip():
        section_title(pdf, "How to pay", keep_with=line_height(9) * 2)
        paragraph(pdf, s.payment_instructions)
    return bytes(pdf.output())


def _normalized(statement: FamilyStatement) -> FamilyStatement:
    """The statement with its family texts in NFC, so that "e" + U+0301 prints as the one glyph "é"."""
    def nfc(text: str | None) -> str | None:
        return unicodedata.normalize("NFC", text) if text is not None else None

    s = statement
    return FamilyStatement(
        school_name=nfc(s.school_name) or "", family_code=nfc(s.family_code) or "",
        family_name=nfc(s.family_name) or "", billing_name=nfc(s.billing_name),
        billing_email=nfc(s.billing_email), billing_address=nfc(s.billing_address),
        students=[nfc(student) or "" for student in s.students], currency=s.currency, from_date=s.from_date,
        to_date=s.to_date, issued_on=s.issued_on, opening_balance=s.opening_balance, lines=s.lines,
        closing_balance=s.closing_balance, credit_available=s.credit_available, open_invoices=s.open_invoices,
        aging=s.aging, payment_instructions=nfc(s.payment_instructions))


def _draw_header(pdf: FPDF, s: FamilyStatement) -> None:
    paragraph(pdf, s.school_name, size=16, bold=True)
    y = pdf.get_y() + 2
    pdf.set_draw_color(*INK)
    pdf.set_line_width(0.5)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 3)
    y = pdf.get_y()
    draw_lines(pdf, ["Statement of account"], x=pdf.l_margin, y=y, width=80, cell=_cell("", bold=True, size=15))
    code = shorten(f"Family {s.family_code}", pdf.epw - 85, size=10)
    draw_lines(pdf, [code], x=pdf.l_margin + 85, y=y + 1.2, width=pdf.epw - 85,
               cell=_cell("", size=10, align="R"))
    pdf.set_y(y + line_height(15) + 0.5)
    paragraph(pdf, f"Period {s.from_date} to {s.to_date} · Issued {s.issued_on} · Amounts in {s.currency}",
              size=9.5, color=MUTED)
    pdf.set_y(pdf.get_y() + 4)


def _draw_family(pdf: FPDF, s: FamilyStatement) -> None:
    """The bill-to block on the left, the account (family code, family, students) on the right."""
    half = pdf.epw / 2 - 4
    label = _cell("", size=8, color=MUTED)
    top = pdf.get_y()

    def column(x: float, blocks: Sequence[tuple[str, Sequence[tuple[str, bool]]]]) -> float:
        y = top
        for title, values in blocks:
            draw_lines(pdf, [title], x=x, y=y, width=half, cell=label)
            y += line_height(8)
            for value, bold in values:
                cell = _cell("", bold=bold, size=9.5)
                lines = fit_lines(value, half, bold=bold, size=9.5, max_lines=_ADDRESS_LINES)
                draw_lines(pdf, lines, x=x, y=y, width=half, cell=cell)
                y += len(lines) * line_height(9.5)
            y += 1.5
        return y

    bill_to: list[tuple[str, bool]] = [(s.billing_name or s.family_name, True)]
    address = [line.strip() for line in (s.billing_address or "").splitlines() if line.strip()]
    if len(address) > _ADDRESS_LINES:
        address = [*address[:_ADDRESS_LINES - 1], ", ".join(address[_ADDRESS_LINES - 1:])]
    bill_to += [(line, False) for line in address]
    if s.billing_email:
        bill_to.append((s.billing_email, False))
    students = [(student, False) for student in s.students] or [("None enrolled", False)]
    left = column(pdf.l_margin, [("Bill to", bill_to)])
    right = column(pdf.l_margin + pdf.epw / 2 + 4,
                   [("Family code", [(s.family_code, True)]), ("Family", [(s.family_name, False)]),
                    ("Students" if len(s.students) != 1 else "Student", students)])
    pdf.set_y(max(left, right) + 3)


def _draw_summary(pdf: FPDF, s: FamilyStatement) -> None:
    charges = sum(line.charge for line in s.lines)
    payments = sum(line.payment for line in s.lines)
    in_credit = s.closing_balance < 0
    columns = [pdf.epw / 4] * 4
    heading = [_cell("Opening balance", bold=True, align="R"),
               _cell("Charges", bold=True, align="R"), _cell("Payments and credits", bold=True, align="R"),
               _cell("In credit" if in_credit else "Amount due", bold=True, size=10, align="R")]
    row = [_cell(_balance(s.opening_balance, s.currency), size=10, align="R"),
           _cell(money.format_money(charges, s.currency), size=10, align="R"),
           _cell(money.format_money(payments, s.currency), size=10, align="R"),
           _cell(_balance(s.closing_balance, s.currency), bold=True, size=11, align="R")]
    head, layout = row_layout(heading, columns, style=_TABLE), row_layout(row, columns, style=_TABLE)
    section_title(pdf, f"Summary, {s.from_date} to {s.to_date}", keep_with=head[1] + layout[1])
    draw_row(pdf, heading, columns, layout=head, fill=HEAD_FILL, style=_TABLE)
    draw_row(pdf, row, columns, layout=layout, fill=EMPHASIS_FILL, style=_TABLE)
    pdf.set_y(pdf.get_y() + 1.5)
    if in_credit:
        credit = money.format_money(-s.closing_balance, s.currency)
        paragraph(pdf, f"The family is in credit by {credit}: nothing is due.", size=9, bold=True)
    if s.credit_available > 0:
        paragraph(pdf, f"Credit available, not yet applied to an invoice: "
                       f"{money.format_money(s.credit_available, s.currency)}.", size=9)
    pdf.set_y(pdf.get_y() + 5)


def _draw_transactions(pdf: FPDF, s: FamilyStatement) -> None:
    currency = s.currency
    section_title(pdf, f"Transactions ({currency})")
    heading = [_cell(t, bold=True) for t in ("Date", "Type", "Reference", "Description")] + \
        [_cell(t, bold=True, align="R") for t in ("Charge", "Payment", "Balance")]
    rows = [[_cell(str(s.from_date)), _cell(""), _cell(""), _cell("Balance brought forward", color=MUTED),
             _cell(""), _cell(""), _cell(_balance(s.opening_balance, currency, code=False), align="R")]]
    for line in s.lines:
        rows.append([_cell(str(line.date)), _cell(KIND_LABELS[line.kind], color=MUTED),
                     _cell(unicodedata.normalize("NFC", line.reference)),
                     _cell(unicodedata.normalize("NFC", line.description), max_lines=_DESCRIPTION_LINES),
                     _cell(_balance(line.charge, currency, code=False) if line.charge else "", align="R"),
                     _cell(_balance(line.payment, currency, code=False) if line.payment else "", align="R"),
                     _cell(_balance(line.balance, currency, code=False), align="R")])
    if not s.lines:
        rows.append([_cell(""), _cell(""), _cell(""), _cell("No transactions in this period.", color=MUTED),
                     _cell(""), _cell(""), _cell("")])
    total = [_cell(str(s.to_date), bold=True), _cell(""), _cell(""),
             _cell("In credit" if s.closing_balance < 0 else "Closing balance", bold=True),
             _cell(_balance(sum(line.charge for line in s.lines), currency, code=False), bold=True, align="R"),
             _cell(_balance(sum(line.payment for line in s.lines), currency, code=False), bold=True, align="R"),
             _cell(_balance(s.closing_balance, currency, code=False), bold=True, align="R")]
    draw_table(pdf, heading, rows, _LINE_COLUMNS, total=total, style=_TABLE)
    pdf.set_y(pdf.get_y() + 6)


def _draw_open_invoices(pdf: FPDF, s: FamilyStatement) -> None:
    currency = s.currency
    section_title(pdf, f"Open invoices at {s.to_date} ({currency})")
    heading = [_cell(t, bold=True) for t in ("Invoice", "Student", "Due date")] + \
        [_cell(t, bold=True, align="R") for t in ("Total", "Paid", "Credited", "Balance", "Days overdue")]
    rows = [[_cell(unicodedata.normalize("NFC", inv.number)),
             _cell(unicodedata.normalize("NFC", inv.student_name), max_lines=2), _cell(str(inv.due_date)),
             *(_cell(_balance(v, currency, code=False), align="R") for v in (inv.total, inv.paid, inv.credited)),
             _cell(_balance(inv.balance, currency, code=False), bold=True, align="R"),
             _cell(str(inv.days_overdue) if inv.days_overdue else "Not due",
                   color=INK if inv.days_overdue else MUTED, align="R")]
            for inv in s.open_invoices]
    if not rows:
        paragraph(pdf, "No open invoices: every invoice is paid.", size=9, color=MUTED)
        pdf.set_y(pdf.get_y() + 6)
        return
    total = [_cell("Total", bold=True), _cell(""), _cell(""),
             *(_cell(_balance(sum(getattr(inv, name) for inv in s.open_invoices), currency, code=False), bold=True,
                     align="R") for name in ("total", "paid", "credited", "balance")),
             _cell("")]
    draw_table(pdf, heading, rows, _INVOICE_COLUMNS, total=total, style=_TABLE)
    pdf.set_y(pdf.get_y() + 6)


def _draw_aging(pdf: FPDF, s: FamilyStatement) -> None:
    a = s.aging
    columns = [pdf.epw / 6] * 6
    heading = [_cell(t, bold=True, align="R")
               for t in ("Current", "1-30 days", "31-60 days", "61-90 days", "Over 90 days", "Total")]
    row = [_cell(_balance(v, s.currency, code=False), size=9, align="R")
           for v in (a.current, a.days_1_30, a.days_31_60, a.days_61_90, a.over_90)]
    row.append(_cell(_balance(a.total, s.currency, code=False), bold=True, size=9, align="R"))
    head, layout = row_layout(heading, columns, style=_TABLE), row_layout(row, columns, style=_TABLE)
    section_title(pdf, f"Aging by days past due at {s.to_date} ({s.currency})", keep_with=head[1] + layout[1])
    draw_row(pdf, heading, columns, layout=head, fill=HEAD_FILL, style=_TABLE)
    draw_row(pdf, row, columns, layout=layout, style=_TABLE)
    pdf.set_y(pdf.get_y() + 6)
