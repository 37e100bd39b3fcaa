"""Render a student's report card as an A4 PDF: plain data in, PDF bytes out.

Pure: no session, no clock, no files written. A service gathers the term grades, attendance and grading
scale into a `ReportCardData` and calls `render_report_card`; a batch job calls `render_report_cards`.

Layout: a header with the school, academic year and term; the student block; one table row per subject
(class code, teacher, percentage, letter, the teacher's comment wrapped in its cell; a row never splits
across pages and the table's headings repeat on each new page); attendance; the grading scale legend; GPA
and overall comment; a footer on every page with the student, the issue date and "Page n of N".

Font: DejaVu Sans (regular and bold), shipped in `domain/academics/fonts/` with its licence (Bitstream Vera
licence, DejaVu changes public domain), so names such as "José Ñúñez", "Zoë Ødegård" or "Đặng Thị" render
on any machine without system fonts. DejaVu Sans covers Latin (Vietnamese included), Greek, Cyrillic,
Armenian, Georgian and more, but not CJK: rather than print a name with letters missing, a text holding a
character the font cannot draw is refused with InvalidInput naming the field (no silent transliteration).
Only the glyphs used are embedded, so a card is ~30 kB.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING

from domain.documents.pdf_tables import (
    PLAIN,
    ZEBRA_FILL,
    Cell,
    TableStyle,
    draw_lines,
    draw_table,
    line_height,
    paragraph,
    row_layout,
    section_title,
)
from domain.documents.pdf_text import COMMON as _COMMON
from domain.documents.pdf_text import INK as _INK
from domain.documents.pdf_text import MARGIN as _MARGIN
from domain.documents.pdf_text import MUTED as _MUTED
from domain.documents.pdf_text import a4_document
from domain.documents.pdf_text import add_fonts as _add_fonts
from domain.documents.pdf_text import drawable as _drawable
from domain.documents.pdf_text import wrap as _wrap
from domain.kernel.errors import InvalidInput

if TYPE_CHECKING:
    from fpdf import FPDF

# A teacher comment is typically under 500 characters; 1000 still fits one table row on one page (about
# 27 lines of 8 pt in the comment column), so a row never has to split. Grade.comment allows 2000.
MAX_COMMENT_CHARS = 1000
MAX_OVERALL_COMMENT_CHARS = 2000
MAX_LETTER_CHARS = 4  # as TermGrade.letter
NOT_GRADED = "—"

_PERCENTAGE = re.compile(r"\d{1,3}(\.\d{1,2})?")
_DECIMAL = re.compile(r"\d{1,2}(\.\d{1,2})?")


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class StudentLine:
    """The student block: code (S2026-0001), full name, year level, section, homeroom teacher."""

    code: str
    full_name: str
    year_level: str
    section: str
    homeroom_teacher: str | None = None


@dataclass(frozen=True)
class SubjectLine:
    """One class on the report card; `percentage` is a decimal string ("87.50") or None when not graded."""

    class_code: str
    subject_name: str
    teacher_name: str | None
    percentage: str | None
    letter: str | None
    comment: str | None = None


@dataclass(frozen=True)
class AttendanceSummary:
    """Days present, absent, late and excused in the term; `attendance_rate` is a percentage string, or None
    when no register counted (printed as a dash)."""

    days_present: int
    days_absent: int
    days_late: int
    days_excused: int
    attendance_rate: str | None


@dataclass(frozen=True)
class GradingBand:
    """One band of the grading scale: from `min_percentage` ("90.00") up, the letter and its GPA points."""

    min_percentage: str
    letter: str
    gpa_points: str


@dataclass(frozen=True)
class ReportCardData:
    """Everything printed on one student's report card for one term. Sequences are stored as tuples."""

    school_name: str
    academic_year: str
    term: str
    issued_on: date
    student: StudentLine
    subjects: tuple[SubjectLine, ...]
    attendance: AttendanceSummary
    grading_scale: tuple[GradingBand, ...]
    gpa: str | None = None
    overall_comment: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "subjects", tuple(self.subjects))
        object.__setattr__(self, "grading_scale", tuple(self.grading_scale))


# ---------------------------------------------------------------- validation


def _require_text(value: object, name: str, *, max_chars: int = 200) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} is empty; give a non-blank text", field=name)
    if len(value) > max_chars:
        raise InvalidInput(f"{name} has {len(value)} characters; at most {max_chars} are allowed", field=name)
    drawable = _drawable()
    missing = sorted({c for c in value if ord(c) not in drawable and c not in "\n\r\t"})
    if missing:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in missing[:5])
        raise InvalidInput(f"{name} has characters the report card font (DejaVu Sans) cannot draw: {shown}; "
                           f"it draws Latin, Greek, Cyrillic, Armenian and Georgian scripts, so give the "
                           f"text in one of them", field=name, details={"characters": missing})


def _optional_text(value: object, name: str, *, max_chars: int = 200) -> None:
    if value is not None:
        _require_text(value, name, max_chars=max_chars)


def _check_percentage(value: object, name: str) -> None:
    if not isinstance(value, str) or not _PERCENTAGE.fullmatch(value) or Decimal(value) > 100:
        raise InvalidInput(f"{name} {value!r} is not a percentage; give a decimal string from 0 to 100 "
                           f"with at most 2 decimals, e.g. '87.50'", field=name)


def validate_report_card(data: ReportCardData) -> None:
    """Raise InvalidInput naming the first field (e.g. `subjects[2].percentage`) that cannot be printed."""
    if not isinstance(data, ReportCardData):
        raise InvalidInput(f"expected ReportCardData, got {type(data).__name__}", field="data")
    _require_text(data.school_name, "school_name")
    _require_text(data.academic_year, "academic_year", max_chars=40)
    _require_text(data.term, "term", max_chars=60)
    if not isinstance(data.issued_on, date):
        raise InvalidInput(f"issued_on {data.issued_on!r} is not a date", field="issued_on")

    s = data.student
    _require_text(s.code, "student.code", max_chars=40)
    _require_text(s.full_name, "student.full_name")
    _require_text(s.year_level, "student.year_level", max_chars=60)
    _require_text(s.section, "student.section", max_chars=60)
    _optional_text(s.homeroom_teacher, "student.homeroom_teacher")

    for i, line in enumerate(data.subjects):
        p = f"subjects[{i}]"
        _require_text(line.class_code, f"{p}.class_code", max_chars=90)
        _require_text(line.subject_name, f"{p}.subject_name")
        _optional_text(line.teacher_name, f"{p}.teacher_name")
        if line.percentage is not None:
            _check_percentage(line.percentage, f"{p}.percentage")
        _optional_text(line.letter, f"{p}.letter", max_chars=MAX_LETTER_CHARS)
        _optional_text(line.comment, f"{p}.comment", max_chars=MAX_COMMENT_CHARS)

    a = data.attendance
    for name in ("days_present", "days_absent", "days_late", "days_excused"):
        days = getattr(a, name)
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            raise InvalidInput(f"attendance.{name} is {days!r}; give a whole number of days, 0 or more",
                               field=f"attendance.{name}")
    if a.attendance_rate is not None:
        _check_percentage(a.attendance_rate, "attendance.attendance_rate")

    if not data.grading_scale:
        raise InvalidInput("grading_scale is empty; give at least one band", field="grading_scale")
    for i, band in enumerate(data.grading_scale):
        p = f"grading_scale[{i}]"
        _check_percentage(band.min_percentage, f"{p}.min_percentage")
        _require_text(band.letter, f"{p}.letter", max_chars=MAX_LETTER_CHARS)
        if not isinstance(band.gpa_points, str) or not _DECIMAL.fullmatch(band.gpa_points):
            raise InvalidInput(f"{p}.gpa_points {band.gpa_points!r} is not a decimal string such as '4.0'",
                               field=f"{p}.gpa_points")

    if data.gpa is not None and (not isinstance(data.gpa, str) or not _DECIMAL.fullmatch(data.gpa)):
        raise InvalidInput(f"gpa {data.gpa!r} is not a decimal string such as '3.45'", field="gpa")
    _optional_text(data.overall_comment, "overall_comment", max_chars=MAX_OVERALL_COMMENT_CHARS)


def _card_text(data: ReportCardData) -> Iterable[str]:
    """Yield every text the card prints from its data."""
    s, a = data.student, data.attendance
    yield from (data.school_name, data.academic_year, data.term, s.code, s.full_name, s.year_level, s.section,
                s.homeroom_teacher or "", data.gpa or "", data.overall_comment or "", a.attendance_rate or "")
    for line in data.subjects:
        yield from (line.class_code, line.subject_name, line.teacher_name or "", line.percentage or "",
                    line.letter or "", line.comment or "")
    for band in data.grading_scale:
        yield from (band.min_percentage, band.letter, band.gpa_points)


def _only_common(data: ReportCardData) -> bool:
    return all(ord(c) in _COMMON for c in set("".join(_card_text(data))))


# ---------------------------------------------------------------- layout

_STRIPED = TableStyle(zebra_fill=ZEBRA_FILL)  # subjects and attendance; the grading scale legend is plain
_TITLE_KEEP = 12.0  # mm kept on the page under a section title


# ---------------------------------------------------------------- rendering


def render_report_card(data: ReportCardData) -> bytes:
    """Render one student's report card as an A4 PDF (one page or more) and return its bytes.

    Raises InvalidInput naming the field when the data cannot be printed (see `validate_report_card`).
    Deterministic: the PDF's creation date is the issue date, so equal data gives equal bytes.
    """
    validate_report_card(data)
    s = data.student
    # The student code leads the footer so that it survives when a long name has to be cut short.
    footer = f"{s.code} · {s.full_name} · {data.term}, {data.academic_year} · Issued {data.issued_on}"
    pdf = a4_document(unicodedata.normalize("NFC", footer))
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(False)  # the tables keep rows whole with ensure_room instead
    pdf.set_creation_date(datetime.combine(data.issued_on, time(), tzinfo=UTC))
    pdf.set_title(f"Report card: {s.full_name}, {data.term} {data.academic_year}")
    pdf.set_author(data.school_name)
    _add_fonts(pdf, common_only=_only_common(data))
    pdf.add_page()
    _draw_header(pdf, data)
    _draw_student(pdf, s)
    _draw_subjects(pdf, data.subjects)
    _draw_attendance(pdf, data.attendance)
    _draw_summary(pdf, data)
    _draw_scale(pdf, data.grading_scale)
    return bytes(pdf.output())


def render_report_cards(datas: Iterable[ReportCardData]) -> list[bytes]:
    """Render one separate PDF per report card, in order, for a batch job to store or send each alone.

    Validates every card before rendering any, so one bad card fails the batch before work is spent;
    raises InvalidInput whose field is prefixed with the card's index, e.g. `[3].student.full_name`.
    """
    cards = list(datas)
    for i, data in enumerate(cards):
        try:
            validate_report_card(data)
        except InvalidInput as exc:
            raise InvalidInput(f"report card {i}: {exc.message}", field=f"[{i}].{exc.field or 'data'}",
                               details=exc.details) from exc
    return [render_report_card(data) for data in cards]


def _draw_header(pdf: FPDF, data: ReportCardData) -> None:
    for line in _wrap(data.school_name, pdf.epw, bold=True, size=16):
        draw_lines(pdf, [line], x=pdf.l_margin, y=pdf.get_y(), width=pdf.epw, cell=Cell(line, bold=True, size=16))
        pdf.set_y(pdf.get_y() + line_height(16))
    # A year's name may already say it ("Academic year 2026-27") or be just its code ("2026-27").
    year = data.academic_year if data.academic_year.lower().startswith("academic year") else \
        f"Academic year {data.academic_year}"
    paragraph(pdf, f"Report card · {data.term} · {year}", size=11, color=_MUTED)
    y = pdf.get_y() + 2
    pdf.set_draw_color(*_INK)
    pdf.set_line_width(0.5)
    pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
    pdf.set_y(y + 4)


def _draw_student(pdf: FPDF, s: StudentLine) -> None:
    label, value = 34.0, pdf.epw / 2 - 34.0
    rows = ((("Student", s.full_name, True), ("Student code", s.code, False)),
            (("Year level", s.year_level, False), ("Section", s.section, False)),
            (("Homeroom teacher", s.homeroom_teacher or NOT_GRADED, False), ("", "", False)))
    for row in rows:
        cells = [c for name, text, bold in row
                 for c in (Cell(name, size=8, color=_MUTED), Cell(text, bold=bold, size=10))]
        wrapped, height = row_layout(cells, (label, value, label, value))
        y = pdf.get_y()
        x = pdf.l_margin
        for cell, lines, w in zip(cells, wrapped, (label, value, label, value), strict=True):
            # Labels sit on the value's first baseline.
            dy = (line_height(10) - line_height(cell.size)) * 0.7 if cell.size < 10 else 0.0
            draw_lines(pdf, lines, x=x, y=y + dy, width=w, cell=cell)
            x += w
        pdf.set_y(y + height - 2 * PLAIN.pad_y + 1.2)
    pdf.set_y(pdf.get_y() + 3)


# Subject, class, teacher, %, letter, comment, in mm; 180 mm is A4 less the margins.
_SUBJECT_COLUMNS = (32.0, 21.0, 28.0, 14.0, 15.0, 70.0)


def _draw_subjects(pdf: FPDF, subjects: Sequence[SubjectLine]) -> None:
    section_title(pdf, "Subjects", keep_with=_TITLE_KEEP)
    if not subjects:
        paragraph(pdf, "No subjects are graded this term.", color=_MUTED)
        pdf.set_y(pdf.get_y() + 4)
        return
    heading = [Cell(title, bold=True, align=align) for title, align in (
        ("Subject", "L"), ("Class", "L"), ("Teacher", "L"), ("%", "R"), ("Letter", "C"), ("Comment", "L"))]
    rows = ([Cell(line.subject_name, bold=True),
             Cell(line.class_code),
             Cell(line.teacher_name or NOT_GRADED),
             Cell(line.percentage or NOT_GRADED, align="R"),
             Cell(line.letter or NOT_GRADED, bold=True, align="C"),
             Cell(line.comment or "", size=7.5, color=_MUTED)] for line in subjects)
    draw_table(pdf, heading, rows, _SUBJECT_COLUMNS, style=_STRIPED)
    pdf.set_y(pdf.get_y() + 5)


def _draw_attendance(pdf: FPDF, a: AttendanceSummary) -> None:
    section_title(pdf, "Attendance", keep_with=_TITLE_KEEP)
    heading = [Cell(t, bold=True, align="C") for t in
               ("Days present", "Days absent", "Days late", "Days excused", "Attendance rate")]
    days = (a.days_present, a.days_absent, a.days_late, a.days_excused)
    row = [Cell(str(n), size=9, align="C") for n in days]
    rate = NOT_GRADED if a.attendance_rate is None else f"{a.attendance_rate}%"
    row.append(Cell(rate, bold=True, size=9, align="C"))
    draw_table(pdf, heading, [row], [pdf.epw / 5] * 5, style=_STRIPED)
    pdf.set_y(pdf.get_y() + 5)


def _draw_summary(pdf: FPDF, data: ReportCardData) -> None:
    if data.gpa is None and data.overall_comment is None:
        return
    section_title(pdf, "Summary", keep_with=_TITLE_KEEP)
    if data.gpa is not None:
        y = pdf.get_y()
        draw_lines(pdf, ["Term GPA"], x=pdf.l_margin, y=y + 0.5, width=30, cell=Cell("", size=9.5))
        draw_lines(pdf, [data.gpa], x=pdf.l_margin + 30, y=y, width=40, cell=Cell("", bold=True, size=11))
        pdf.set_y(y + 7)
    if data.overall_comment is not None:
        paragraph(pdf, data.overall_comment)
    pdf.set_y(pdf.get_y() + 5)


def _draw_scale(pdf: FPDF, scale: Sequence[GradingBand]) -> None:
    bands = sorted(scale, key=lambda band: Decimal(band.min_percentage), reverse=True)
    label = 30.0
    columns = (label, *[(pdf.epw - label) / len(bands)] * len(bands))
    section_title(pdf, "Grading scale", keep_with=3 * 6.0)
    rows = [[Cell(name, bold=True, size=8),
             *(Cell(v, bold=name == "Grade", size=8, align="C") for v in values)]
            for name, values in (("Grade", [b.letter for b in bands]),
                                 ("From %", [b.min_percentage for b in bands]),
                                 ("GPA points", [b.gpa_points for b in bands]))]
    draw_table(pdf, rows[0], rows[1:], columns)
