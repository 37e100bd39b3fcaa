"""Payslip documents for a payroll run: one employee's payslip as an A4 PDF, the run's summary as CSV.

Pure: no session, no clock, no files written. The payroll service turns a computed payslip into a
`PayslipDocument` (every amount already an integer number of minor units of one ISO 4217 currency) and calls
`render_payslip_pdf`; the run's export builds one `RunSummaryRow` per payslip and calls
`render_run_summary_csv`. Nothing here computes pay: the document is checked to add up (earning and arrears
lines to gross pay, deduction and tax lines to deductions, gross less deductions to net pay, gross plus
employer contributions to employer cost) and printed as it is.

Layout: the school's name and address; "Payslip" with its number, period, pay date and status; the employee
block (name, code, department, position, payment days and working days); a table of earnings and arrears
and one of deductions and taxes (code, description, type, amount right-aligned), each with its total; net pay
in bold; employer contributions apart, as they are not part of net pay; the year-to-date figures; a footer on
every page naming the payslip and "Page n of N". A void payslip carries a red VOID banner and a VOID
watermark on every page; a payslip that reverses another says which. A payslip of ordinary length (about
thirty lines) fits one page; a longer one continues on the next with the table headings repeated, never
splitting a row or dropping a line.

Font: the bundled DejaVu Sans of `domain.documents.pdf_text`, so names such as
"Zoë Ñúñez" or "Łukasz Żółć" print on any machine; a text holding a character the font cannot draw (CJK,
or a right-to-left script printed unshaped) is refused with InvalidInput naming the field, never printed
with gaps.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Literal, get_args

# The shared PDF toolkit (also the report cards' and statements'): its per-process font cache makes a document
# about three times cheaper to write than fpdf2's `add_font`.
from domain.documents.pdf_tables import (
    EMPHASIS_FILL,
    PLAIN,
    Cell,
    draw_lines,
    draw_table,
    line_height,
    paragraph,
    row_layout,
    section_title,
)
from domain.documents.pdf_text import COMMON as _COMMON
from domain.documents.pdf_text import FONT_FAMILY, PT, a4_document
from domain.documents.pdf_text import INK as _INK
from domain.documents.pdf_text import MARGIN as _MARGIN
from domain.documents.pdf_text import MUTED as _MUTED
from domain.documents.pdf_text import add_fonts as _add_fonts
from domain.documents.pdf_text import drawable as _drawable
from domain.documents.pdf_text import ensure_room as _ensure_room
from domain.documents.pdf_text import shorten as _shorten
from domain.documents.pdf_text import text_width as _text_width
from domain.kernel import money
from domain.kernel.csv_writer import render_csv
from domain.kernel.errors import InvalidInput

if TYPE_CHECKING:
    from fpdf import FPDF

LineKind = Literal["earning", "deduction", "tax", "employer_contribution", "arrears"]
PayslipStatus = Literal["draft", "done", "paid", "void"]

LINE_KINDS: tuple[str, ...] = get_args(LineKind)
STATUSES: tuple[str, ...] = get_args(PayslipStatus)
GROSS_KINDS = frozenset({"earning", "arrears"})
DEDUCTION_KINDS = frozenset({"deduction", "tax"})

MAX_TEXT_CHARS = 200
MAX_CODE_CHARS = 40
MAX_ADDRESS_CHARS = 500


def _format_days(days: int | Fraction | Decimal) -> str:
    """Print a day count exactly: 22, 21.5, or 20 2/3 when it has no finite decimal form."""
    if isinstance(days, int):
        return str(days)
    fraction = Fraction(days)
    denominator = fraction.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:  # a terminating decimal: print it exactly, without trailing zeros
        with localcontext(prec=60):
            text = format((Decimal(fraction.numerator) / Decimal(fraction.denominator)).normalize(), "f")
        return text
    whole, rest = divmod(fraction.numerator, fraction.denominator)
    return f"{whole} {rest}/{fraction.denominator}" if whole else f"{rest}/{fraction.denominator}"


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class PayslipLine:
    """One line of a payslip: its component code (BASIC), description, kind and amount in minor units.

    Earning and arrears lines add up to gross pay; deduction and tax lines to the deductions taken from it;
    employer contributions are paid by the school on top and are not part of net pay. A negative amount (a
    recovered overpayment, a reversal) prints with a minus sign.
    """

    code: str
    name: str
    kind: LineKind
    amount_minor: int

    def __post_init__(self) -> None:
        if self.kind not in LINE_KINDS:
            raise InvalidInput(f"line {self.code!r} has kind {self.kind!r}; allowed kinds are "
                               f"{', '.join(LINE_KINDS)}", field="kind")
        money.check_minor(self.amount_minor, field="amount_minor")


@dataclass(frozen=True)
class PayslipDocument:
    """Everything printed on one employee's payslip for one pay period; amounts are integer minor units of
    `currency` (ISO 4217). Checked on construction: raises InvalidInput naming the numbers that disagree.

    `employer_cost_minor` is gross pay plus the employer contribution lines; the `ytd_*` amounts are the
    year to date including this payslip; `payment_days` is the days paid (exact: int, Fraction or Decimal)
    out of the period's `working_days`; `reverses` is the number of the payslip this one cancels.
    """

    school_name: str
    school_address: str | None
    employee_code: str
    employee_name: str
    department: str
    position: str
    period_label: str
    period_start: date
    period_end: date
    pay_date: date
    currency: str
    lines: tuple[PayslipLine, ...]
    gross_minor: int
    deductions_minor: int
    net_minor: int
    employer_cost_minor: int
    ytd_gross_minor: int
    ytd_tax_minor: int
    ytd_net_minor: int
    payment_days: Fraction | Decimal | int
    working_days: int
    payslip_number: str
    status: PayslipStatus
    reverses: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        money.check_currency(self.currency)
        for i, line in enumerate(self.lines):
            if not isinstance(line, PayslipLine):
                raise InvalidInput(f"lines[{i}] is a {type(line).__name__}, not a PayslipLine",
                                   field=f"lines[{i}]")
        for name in ("gross_minor", "deductions_minor", "net_minor", "employer_cost_minor", "ytd_gross_minor",
                     "ytd_tax_minor", "ytd_net_minor"):
            money.check_minor(getattr(self, name), field=name)
        for name in ("period_start", "period_end", "pay_date"):
            if not isinstance(getattr(self, name), date):
                raise InvalidInput(f"{name} {getattr(self, name)!r} is not a date", field=name)
        if self.period_end < self.period_start:
            raise InvalidInput(f"period_end {self.period_end} is before period_start {self.period_start}",
                               field="period_end")
        if self.status not in STATUSES:
            raise InvalidInput(f"status {self.status!r} is not one of {', '.join(STATUSES)}", field="status")
        days = self.payment_days
        if isinstance(days, bool) or not isinstance(days, int | Fraction | Decimal) \
                or (isinstance(days, Decimal) and not days.is_finite()) or days < 0:
            raise InvalidInput(f"payment_days is {days!r}; give a number of days, 0 or more, as an int, "
                               f"Fraction or Decimal (never a float)", field="payment_days")
        working = self.working_days
        whole = isinstance(working, Fraction) or (isinstance(working, Decimal) and working.is_finite())
        if whole and working == int(working):  # e.g. the payroll engine's Fraction(22)
            working = int(working)
            object.__setattr__(self, "working_days", working)
        if isinstance(working, bool) or not isinstance(working, int) or working < 0:
            raise InvalidInput(f"working_days is {working!r}; give a whole number of days, 0 or more",
                               field="working_days")
        self._check_totals()

    def _check_totals(self) -> None:
        def total(kinds: frozenset[str]) -> int:
            return sum(line.amount_minor for line in self.lines if line.kind in kinds)

        earned = total(GROSS_KINDS)
        if earned != self.gross_minor:
            raise InvalidInput(f"gross_minor is {self.gross_minor} but the earning and arrears lines sum to "
                               f"{earned}; gross pay must equal the sum of its earning and arrears lines",
                               field="gross_minor",
                               details={"gross_minor": self.gross_minor, "lines": earned})
        deducted = total(DEDUCTION_KINDS)
        if deducted != self.deductions_minor:
            raise InvalidInput(f"deductions_minor is {self.deductions_minor} but the deduction and tax lines "
                               f"sum to {deducted}; deductions must equal the sum of the deduction and tax "
                               f"lines",
                               field="deductions_minor",
                               details={"deductions_minor": self.deductions_minor, "lines": deducted})
        net = self.gross_minor - self.deductions_minor
        if net != self.net_minor:
            raise InvalidInput(f"net_minor is {self.net_minor} but gross_minor {self.gross_minor} - "
                               f"deductions_minor {self.deductions_minor} = {net}; net pay must be gross pay "
                               f"less deductions", field="net_minor",
                               details={"net_minor": self.net_minor, "expected": net})
        cost = self.gross_minor + total(frozenset({"employer_contribution"}))
        if cost != self.employer_cost_minor:
            raise InvalidInput(f"employer_cost_minor is {self.employer_cost_minor} but gross_minor "
                               f"{self.gross_minor} + employer contribution lines "
                               f"{cost - self.gross_minor} = {cost}; employer cost is gross pay plus "
                               f"employer contributions", field="employer_cost_minor",
                               details={"employer_cost_minor": self.employer_cost_minor, "expected": cost})


@dataclass(frozen=True)
class RunSummaryRow:
    """One payslip of a payroll run in the run's summary; amounts are integer minor units of `currency`."""

    employee_code: str
    employee_name: str
    department: str
    gross_minor: int
    deductions_minor: int
    net_minor: int
    employer_cost_minor: int
    currency: str

    def __post_init__(self) -> None:
        money.check_currency(self.currency)
        for name in ("gross_minor", "deductions_minor", "net_minor", "employer_cost_minor"):
            money.check_minor(getattr(self, name), field=name)
        if self.gross_minor - self.deductions_minor != self.net_minor:
            raise InvalidInput(f"{self.employee_code}: net_minor is {self.net_minor} but gross_minor "
                               f"{self.gross_minor} - deductions_minor {self.deductions_minor} = "
                               f"{self.gross_minor - self.deductions_minor}", field="net_minor")


# ---------------------------------------------------------------- text validation


def _require_text(value: object, name: str, *, max_chars: int = MAX_TEXT_CHARS) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is empty; give a non-blank text", field=name)
    if len(value) > max_chars:
        raise InvalidInput(f"{name} has {len(value)} characters; at most {max_chars} are allowed", field=name)
    drawable = _drawable()
    missing = sorted({c for c in value if ord(c) not in drawable and c not in "\n\r\t"})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
        raise InvalidInput(f"{name} has characters the payslip font (DejaVu Sans) cannot draw: {shown}; "
                           f"it draws Latin, Greek, Cyrillic, Armenian and Georgian scripts, so give the "
                           f"text in one of them", field=name, details={"characters": missing})


def validate_payslip_document(doc: PayslipDocument) -> None:
    """Raise InvalidInput naming the first field (e.g. `lines[2].name`) that the payslip cannot print."""
    if not isinstance(doc, PayslipDocument):
        raise InvalidInput(f"expected PayslipDocument, got {type(doc).__name__}", field="doc")
    _require_text(doc.school_name, "school_name")
    if doc.school_address is not None:
        _require_text(doc.school_address, "school_address", max_chars=MAX_ADDRESS_CHARS)
    _require_text(doc.employee_code, "employee_code", max_chars=MAX_CODE_CHARS)
    _require_text(doc.employee_name, "employee_name")
    _require_text(doc.department, "department")
    _require_text(doc.position, "position")
    _require_text(doc.period_label, "period_label", max_chars=60)
    _require_text(doc.payslip_number, "payslip_number", max_chars=MAX_CODE_CHARS)
    if doc.reverses is not None:
        _require_text(doc.reverses, "reverses", max_chars=MAX_CODE_CHARS)
    for i, line in enumerate(doc.lines):
        _require_text(line.code, f"lines[{i}].code", max_chars=MAX_CODE_CHARS)
        _require_text(line.name, f"lines[{i}].name")


def _payslip_text(doc: PayslipDocument) -> Iterator[str]:
    yield from (doc.school_name, doc.school_address or "", doc.employee_code, doc.employee_name,
                doc.department, doc.position, doc.period_label, doc.payslip_number, doc.reverses or "")
    for line in doc.lines:
        yield from (line.code, line.name)


# ---------------------------------------------------------------- layout

_VOID_RED = (176, 0, 32)
_KIND_LABELS = {"earning": "Earning", "arrears": "Arrears", "deduction": "Deduction", "tax": "Tax",
                "employer_contribution": "Employer"}
# Code, description, type, amount, in mm; 180 mm is A4 less the margins.
_LINE_COLUMNS = (28.0, 92.0, 22.0, 38.0)
_CONTRIBUTION_COLUMNS = (28.0, 114.0, 38.0)


def _void_watermark(pdf: FPDF) -> None:
    """Draw VOID across the page, for each page of a void payslip."""
    # Drawn last on each page and translucent, so the tables' filled rows cannot hide it.
    size = 120.0
    width = _text_width("VOID", bold=True, size=size)
    with pdf.local_context(fill_opacity=0.16):
        pdf.set_font(FONT_FAMILY, "B", size)
        pdf.set_text_color(*_VOID_RED)
        with pdf.rotation(angle=45, x=pdf.w / 2, y=pdf.h / 2):
            pdf.text(pdf.w / 2 - width / 2, pdf.h / 2 + 0.35 * size * PT, "VOID")


# ---------------------------------------------------------------- rendering


def render_payslip_pdf(doc: PayslipDocument) -> bytes:
    """Render one employee's payslip as an A4 PDF and return its bytes.

    Raises InvalidInput naming the field when a text cannot be printed (see `validate_payslip_document`);
    the amounts were checked when the document was built. Deterministic: the PDF's creation date is the pay
    date, not the clock, so equal documents give equal bytes.
    """
    validate_payslip_document(doc)
    # The payslip number and employee code lead the footer so that they survive when a long name is cut.
    footer = f"Payslip {doc.payslip_number} · {doc.employee_code} · {doc.employee_name} · {doc.period_label}"
    pdf = a4_document(unicodedata.normalize("NFC", footer),
                      before_footer=_void_watermark if doc.status == "void" else None)
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(False)  # the tables keep rows whole with ensure_room instead
    pdf.set_creation_date(datetime.combine(doc.pay_date, time(), tzinfo=UTC))
    pdf.set_title(f"Payslip {doc.payslip_number}: {doc.employee_name}, {doc.period_label}")
    pdf.set_author(doc.school_name)
    _add_fonts(pdf, common_only=all(ord(c) in _COMMON for c in set("".join(_payslip_text(doc)))))
    pdf.add_page()
    _draw_header(pdf, doc)
    _draw_employee(pdf, doc)
    show = _Money(doc.currency)
    earnings = [line for line in doc.lines if line.kind in GROSS_KINDS]
    deductions = [line for line in doc.lines if line.kind in DEDUCTION_KINDS]
    _draw_lines_table(pdf, "Earnings", earnings, "Gross pay", doc.gross_minor, show,
                      empty="No earnings this period.")
    _draw_lines_table(pdf, "Deductions and taxes", deductions, "Total deductions", doc.deductions_minor,
                      show, empty="No deductions this period.")
    _draw_net_pay(pdf, doc, show)
    _draw_employer(pdf, doc, show)
    _draw_year_to_date(pdf, doc, show)
    return bytes(pdf.output())


@dataclass(frozen=True)
class _Money:
    currency: str

    def __call__(self, amount_minor: int) -> str:
        return money.format_money(amount_minor, self.currency, code=False)


def _draw_header(pdf: FPDF, doc: PayslipDocument) -> None:
    paragraph(pdf, doc.school_name, size=16, bold=True)
    if doc.school_address:
        paragraph(pdf, doc.school_address, size=9, color=_MUTED)
    y = pdf.get_y() + 2
    pdf.set_draw_color(*_INK)
    pdf.set_line_width(0.5)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 3)

    y = pdf.get_y()
    draw_lines(pdf, ["Payslip"], x=pdf.l_margin, y=y, width=40, cell=Cell("", bold=True, size=15))
    number = f"No. {doc.payslip_number}"
    draw_lines(pdf, [_shorten(number, pdf.epw - 45, size=10)], x=pdf.l_margin + 45, y=y + 1.2,
               width=pdf.epw - 45, cell=Cell("", size=10, align="R"))
    pdf.set_y(y + line_height(15) + 0.5)
    paragraph(pdf, f"{doc.period_label} · Pay period {doc.period_start} to {doc.period_end} · "
                   f"Pay date {doc.pay_date} · Status: {doc.status.capitalize()}", size=9.5, color=_MUTED)
    pdf.set_y(pdf.get_y() + 2)

    if doc.status == "void":
        text = "VOID: this payslip has been cancelled. Do not pay it or rely on its figures."
        height = line_height(10) + 2 * PLAIN.pad_y + 1
        pdf.set_fill_color(*_VOID_RED)
        pdf.rect(pdf.l_margin, pdf.get_y(), pdf.epw, height, style="F")
        draw_lines(pdf, [text], x=pdf.l_margin + 2, y=pdf.get_y() + PLAIN.pad_y + 0.5, width=pdf.epw - 4,
                   cell=Cell("", bold=True, size=10, color=(255, 255, 255)))
        pdf.set_y(pdf.get_y() + height + 2)
    if doc.reverses is not None:
        paragraph(pdf, f"This payslip reverses payslip {doc.reverses}: its amounts cancel that payslip's.",
                  size=9.5, bold=True)
        pdf.set_y(pdf.get_y() + 2)
    pdf.set_y(pdf.get_y() + 2)


def _draw_employee(pdf: FPDF, doc: PayslipDocument) -> None:
    label, value = 30.0, pdf.epw / 2 - 30.0
    columns = (label, value, label, value)
    rows = ((("Employee", doc.employee_name, True), ("Employee code", doc.employee_code, False)),
            (("Department", doc.department, False), ("Position", doc.position, False)),
            (("Payment days", _format_days(doc.payment_days), False),
             ("Working days", str(doc.working_days), False)))
    for row in rows:
        cells = [c for name, text, bold in row
                 for c in (Cell(name, size=8, color=_MUTED), Cell(text, bold=bold, size=10))]
        wrapped, height = row_layout(cells, columns)
        y = pdf.get_y()
        x = pdf.l_margin
        for cell, lines, w in zip(cells, wrapped, columns, strict=True):
            # Labels sit on the value's first baseline.
            dy = (line_height(10) - line_height(cell.size)) * 0.7 if cell.size < 10 else 0.0
            draw_lines(pdf, lines, x=x, y=y + dy, width=w - PLAIN.pad_x, cell=cell)
            x += w
        pdf.set_y(y + height - 2 * PLAIN.pad_y + 1.2)
    pdf.set_y(pdf.get_y() + 4)


def _draw_lines_table(pdf: FPDF, title: str, lines: Sequence[PayslipLine], total_label: str, total_minor: int,
                      show: _Money, *, empty: str) -> None:
    section_title(pdf, title)
    heading = [Cell("Code", bold=True), Cell("Description", bold=True), Cell("Type", bold=True),
               Cell(f"Amount ({show.currency})", bold=True, align="R")]
    rows = [[Cell(line.code), Cell(line.name), Cell(_KIND_LABELS[line.kind], color=_MUTED),
             Cell(show(line.amount_minor), align="R")] for line in lines]
    if not rows:
        rows = [[Cell(""), Cell(empty, color=_MUTED), Cell(""), Cell("")]]
    total = [Cell(""), Cell(total_label, bold=True), Cell(""),
             Cell(show(total_minor), bold=True, align="R")]
    draw_table(pdf, heading, rows, _LINE_COLUMNS, total=total)
    pdf.set_y(pdf.get_y() + 5)


def _draw_net_pay(pdf: FPDF, doc: PayslipDocument, show: _Money) -> None:
    height = line_height(13) + 2 * PLAIN.pad_y + 1.5
    _ensure_room(pdf, height)
    y = pdf.get_y()
    pdf.set_fill_color(*EMPHASIS_FILL)
    pdf.rect(pdf.l_margin, y, pdf.epw, height, style="F")
    cell = Cell("", bold=True, size=13)
    text_y = y + (height - line_height(13)) / 2
    draw_lines(pdf, ["Net pay"], x=pdf.l_margin + PLAIN.pad_x, y=text_y, width=60, cell=cell)
    draw_lines(pdf, [f"{show(doc.net_minor)} {doc.currency}"], x=pdf.l_margin + 60, y=text_y,
               width=pdf.epw - 60 - PLAIN.pad_x, cell=Cell("", bold=True, size=13, align="R"))
    pdf.set_y(y + height + 6)


def _draw_employer(pdf: FPDF, doc: PayslipDocument, show: _Money) -> None:
    lines = [line for line in doc.lines if line.kind == "employer_contribution"]
    section_title(pdf, "Employer contributions (paid by the school, not part of net pay)")
    heading = [Cell("Code", bold=True), Cell("Description", bold=True),
               Cell(f"Amount ({show.currency})", bold=True, align="R")]
    rows = [[Cell(line.code), Cell(line.name), Cell(show(line.amount_minor), align="R")]
            for line in lines]
    if not rows:
        rows = [[Cell(""), Cell("No employer contributions this period.", color=_MUTED), Cell("")]]
    total = [Cell(""), Cell("Total employer cost (gross pay + employer contributions)", bold=True),
             Cell(show(doc.employer_cost_minor), bold=True, align="R")]
    draw_table(pdf, heading, rows, _CONTRIBUTION_COLUMNS, total=total)
    pdf.set_y(pdf.get_y() + 5)


def _draw_year_to_date(pdf: FPDF, doc: PayslipDocument, show: _Money) -> None:
    section_title(pdf, f"Year to date ({show.currency})")
    columns = [pdf.epw / 3] * 3
    heading = [Cell(t, bold=True, align="R") for t in ("Gross pay", "Tax", "Net pay")]
    row = [Cell(show(v), size=9.5, align="R")
           for v in (doc.ytd_gross_minor, doc.ytd_tax_minor, doc.ytd_net_minor)]
    draw_table(pdf, heading, [row], columns)


# ---------------------------------------------------------------- run summary

RUN_SUMMARY_HEADER = ("employee_code", "employee_name", "department", "currency", "gross", "deductions",
                      "net", "employer_cost")


def render_run_summary_csv(rows: Iterable[RunSummaryRow]) -> str:
    """Render a payroll run's summary as CSV text: a header, one row per payslip in order, and a TOTAL row.

    Columns: employee_code, employee_name, department, currency, gross, deductions, net, employer_cost; the
    amounts are exact decimal strings in major units (123456 USD minor units is "1234.56", 1500 JPY is
    "1500"). Written by domain.kernel.csv_writer (RFC 4180, lines end in CRLF; a cell that begins like a
    spreadsheet formula is prefixed with an apostrophe, a plain number such as "-12.50" is not).
    Raises InvalidInput when the rows are not all in one currency or there are none.
    """
    rows = list(rows)
    if not rows:
        raise InvalidInput("the payroll run has no payslips to summarize; give at least one row",
                           field="rows")
    for i, row in enumerate(rows):
        if not isinstance(row, RunSummaryRow):
            raise InvalidInput(f"rows[{i}] is a {type(row).__name__}, not a RunSummaryRow",
                               field=f"rows[{i}]")
    currency = rows[0].currency
    others = sorted({row.currency for row in rows} - {currency})
    if others:
        first = next(i for i, row in enumerate(rows) if row.currency != currency)
        raise InvalidInput(f"a run summary is in one currency, but rows[{first}] "
                           f"({rows[first].employee_code}) is in {rows[first].currency} while rows[0] is in "
                           f"{currency}; summarize each currency separately", field=f"rows[{first}].currency",
                           details={"currencies": [currency, *others]})
    lines: list[list[str]] = []
    totals = [0, 0, 0, 0]
    for row in rows:
        amounts = (row.gross_minor, row.deductions_minor, row.net_minor, row.employer_cost_minor)
        totals = [t + a for t, a in zip(totals, amounts, strict=True)]
        lines.append([row.employee_code, row.employee_name, row.department, currency,
                      *(money.major_units(a, currency) for a in amounts)])
    lines.append(["TOTAL", "", "", currency, *(money.major_units(t, currency) for t in totals)])
    return render_csv(RUN_SUMMARY_HEADER, lines)
