"""The report card PDF, read back with pypdf: what it prints, how it breaks pages, what it refuses.

No database. Each test renders a card or two from small factories and reads the PDF's text.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from domain.academics.report_card import (
    MAX_COMMENT_CHARS,
    AttendanceSummary,
    GradingBand,
    ReportCardData,
    StudentLine,
    SubjectLine,
    render_report_card,
    render_report_cards,
)
from domain.kernel.errors import InvalidInput

SCALE = (GradingBand("90.00", "A", "4.0"), GradingBand("80.00", "B", "3.0"), GradingBand("70.00", "C", "2.0"),
         GradingBand("60.00", "D", "1.0"), GradingBand("0.00", "F", "0.0"))


def subject(name: str = "Mathematics", *, code: str = "7A-MATH", teacher: str | None = "Tess Teacher",
            percentage: str | None = "87.50", letter: str | None = "B",
            comment: str | None = None) -> SubjectLine:
    return SubjectLine(class_code=code, subject_name=name, teacher_name=teacher, percentage=percentage,
                       letter=letter, comment=comment)


def card(*, name: str = "Amelia Brown", code: str = "S2026-0001",
         subjects: tuple[SubjectLine, ...] | None = None,
         attendance: AttendanceSummary | None = None, gpa: str | None = "3.25",
         overall_comment: str | None = "A steady term.") -> ReportCardData:
    return ReportCardData(
        school_name="Mount Carmel School", academic_year="2026-27", term="Term 1",
        issued_on=date(2026, 12, 18),
        student=StudentLine(code=code, full_name=name, year_level="Year 7", section="7A",
                            homeroom_teacher="Harriet Home"),
        subjects=subjects if subjects is not None else (
            subject("Mathematics", code="7A-MATH", percentage="91.25", letter="A",
                    comment="Excellent algebra."),
            subject("English Language", code="7A-ENGL", percentage="78.40", letter="C"),
            subject("Biology", code="7A-BIOL", percentage="64.05", letter="D", comment="Revise cells."),
        ),
        attendance=attendance or AttendanceSummary(days_present=58, days_absent=4, days_late=3,
                                                   days_excused=2, attendance_rate="93.55"),
        grading_scale=SCALE, gpa=gpa, overall_comment=overall_comment,
    )


def pdf_text(pdf: bytes) -> tuple[list[str], str]:
    """Return each page's text and the whole text with runs of whitespace made single spaces."""
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]
    return pages, " ".join(" ".join(pages).split())


# ---------------------------------------------------------------- what the card prints


def test_card_prints_student_subjects_grades_attendance_and_scale():
    pdf = render_report_card(card())
    assert pdf.startswith(b"%PDF-")
    pages, text = pdf_text(pdf)
    assert len(pages) == 1
    for expected in ("Mount Carmel School", "Term 1", "2026-27", "Amelia Brown", "S2026-0001", "Year 7",
                     "Harriet Home", "Mathematics", "English Language", "Biology", "7A-ENGL",
                     "91.25", "78.40", "64.05", "Excellent algebra.", "Revise cells.",
                     "93.55%", "58", "3.25", "A steady term.", "Issued 2026-12-18", "Page 1 of 1"):
        assert expected in text, expected
    # The letters sit in their own cells, after each percentage.
    assert "91.25 A" in text and "78.40 C" in text and "64.05 D" in text
    # The grading scale legend: letters, lower bounds and GPA points.
    assert "Grade A B C D F" in text and "From % 90.00 80.00 70.00 60.00 0.00" in text
    assert "GPA points 4.0 3.0 2.0 1.0 0.0" in text


@pytest.mark.parametrize("name", ["José Ñúñez", "Zoë Ødegård", "Đặng Thị Hương", "Σοφία Παπαδοπούλου",
                                  "Արամ Պետրոսյան", "ნინო ბერიძე"])
def test_non_ascii_names_are_printed_and_extractable(name):
    # Greek and Vietnamese fall in the cut-down font; Armenian and Georgian take the whole DejaVu Sans.
    teacher = "Chloé Müller"
    data = card(name=name, subjects=(subject(teacher=teacher, comment=f"Bravo, {name.split()[0]}!"),))
    _, text = pdf_text(render_report_card(data))
    assert name in text
    assert teacher in text
    assert f"Bravo, {name.split()[0]}!" in text


def test_decomposed_accents_print_as_composed_letters():
    decomposed = "Jose\u0301 N\u0303u\u0301n\u0303ez"  # as some keyboards and imports send "José Ñúñez"
    _, text = pdf_text(render_report_card(card(name=decomposed)))
    assert text.count("José Ñúñez") == 2  # the student block and the footer
    assert "\u0301" not in text and "\u0303" not in text


@pytest.mark.parametrize(("name", "missing"), [("王小明", "王"), ("דוד כהן", "ד")])
def test_a_name_the_font_cannot_draw_is_refused_not_printed_with_gaps(name, missing):
    # DejaVu Sans has no CJK; Hebrew has glyphs but would print left to right, unshaped.
    with pytest.raises(InvalidInput) as exc:
        render_report_card(card(name=name))
    assert exc.value.field == "student.full_name"
    assert missing in exc.value.details["characters"]
    assert "cannot draw" in exc.value.message


def test_ungraded_subject_shows_a_dash_not_a_zero():
    data = card(subjects=(subject("Music", percentage=None, letter=None, teacher=None),), gpa=None,
                overall_comment=None)
    _, text = pdf_text(render_report_card(data))
    assert "Music 7A-MATH — — —" in text
    assert "Summary" not in text and "Term GPA" not in text


def test_card_without_subjects_says_so():
    _, text = pdf_text(render_report_card(card(subjects=())))
    assert "No subjects are graded this term." in text


def test_page_is_a4_portrait():
    page = PdfReader(io.BytesIO(render_report_card(card()))).pages[0]
    assert (round(float(page.mediabox.width), 1), round(float(page.mediabox.height), 1)) == (595.3, 841.9)


def test_equal_data_gives_equal_bytes():
    assert render_report_card(card()) == render_report_card(card())
    # The creation date is the issue date, not the clock, which is what makes the bytes repeatable.
    created = PdfReader(io.BytesIO(render_report_card(card()))).metadata.creation_date
    assert (created.date(), created.utcoffset()) == (date(2026, 12, 18), timedelta(0))
    assert render_report_card(card()) != render_report_card(card(name="Noah Okafor"))


# ---------------------------------------------------------------- page breaks


def test_many_subjects_with_long_comments_span_pages_and_lose_nothing():
    comment = ("Works with care and asks good questions; needs to check answers before handing work in "
               "and to read the feedback on each piece. ") * 3
    lines = tuple(subject(f"Subject {n:02d}", code=f"7A-S{n:02d}", percentage=f"{50 + n}.{n:02d}", letter="B",
                          comment=f"{comment[:MAX_COMMENT_CHARS - 20]} end-of-{n:02d}")
                  for n in range(1, 26))
    pages, text = pdf_text(render_report_card(card(name="Zoë Ødegård", subjects=lines)))

    assert len(pages) >= 3
    for n in range(1, 26):
        assert text.count(f"Subject {n:02d} 7A-S{n:02d}") == 1, n  # each row printed once, never split
        assert f"{50 + n}.{n:02d} B" in text
        assert f"end-of-{n:02d}" in text  # the comment's last words survive wrapping
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
        assert "S2026-0001 · Zoë Ødegård" in page  # the footer names the student on every page
    # Table headings repeat on every page the table continues on.
    assert sum("Subject Class Teacher % Letter Comment" in " ".join(p.split()) for p in pages) >= 2
    assert "Attendance rate" in pages[-1] or "Attendance rate" in pages[-2]


def test_a_word_longer_than_the_comment_column_is_broken_not_cut():
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    _, text = pdf_text(render_report_card(card(subjects=(subject(comment=f"Spelled {word} right."),))))
    assert word in text.replace(" ", "")


# ---------------------------------------------------------------- batches


def test_render_report_cards_returns_one_pdf_per_card_in_order():
    names = ["José Ñúñez", "Amelia Brown", "Đặng Thị"]
    pdfs = render_report_cards(card(name=n, code=f"S2026-{i:04d}") for i, n in enumerate(names, start=1))
    assert len(pdfs) == 3
    for i, (pdf, name) in enumerate(zip(pdfs, names, strict=True), start=1):
        _, text = pdf_text(pdf)
        assert name in text and f"S2026-{i:04d}" in text


def test_render_report_cards_names_the_bad_card_before_rendering_any():
    bad = card(name="   ")
    with pytest.raises(InvalidInput) as exc:
        render_report_cards([card(), bad])
    assert exc.value.field == "[1].student.full_name"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: replace(d, student=replace(d.student, full_name="")), "student.full_name"),
    (lambda d: replace(d, student=replace(d.student, code="  ")), "student.code"),
    (lambda d: replace(d, school_name=""), "school_name"),
    (lambda d: replace(d, attendance=replace(d.attendance, days_absent=-1)), "attendance.days_absent"),
    (lambda d: replace(d, attendance=replace(d.attendance, days_late=2.5)), "attendance.days_late"),
    (lambda d: replace(d, attendance=replace(d.attendance, attendance_rate="101.00")),
     "attendance.attendance_rate"),
    (lambda d: replace(d, subjects=(subject(), subject(percentage="-3"))), "subjects[1].percentage"),
    (lambda d: replace(d, subjects=(subject(percentage="87.5%"),)), "subjects[0].percentage"),
    (lambda d: replace(d, subjects=(subject(name=""),)), "subjects[0].subject_name"),
    (lambda d: replace(d, subjects=(subject(letter="ABCDE"),)), "subjects[0].letter"),
    (lambda d: replace(d, subjects=(subject(comment="x" * (MAX_COMMENT_CHARS + 1)),)), "subjects[0].comment"),
    (lambda d: replace(d, grading_scale=()), "grading_scale"),
    (lambda d: replace(d, grading_scale=(GradingBand("90", "A", "four"),)), "grading_scale[0].gpa_points"),
    (lambda d: replace(d, gpa="3,5"), "gpa"),
    (lambda d: replace(d, issued_on="2026-12-18"), "issued_on"),
])
def test_bad_input_raises_invalid_input_naming_the_field(change, field):
    with pytest.raises(InvalidInput) as exc:
        render_report_card(change(card()))
    assert exc.value.field == field
    assert field.split(".")[-1].split("[")[0] in exc.value.message


def test_negative_attendance_message_says_what_is_allowed():
    data = card(attendance=AttendanceSummary(days_present=10, days_absent=-2, days_late=0, days_excused=0,
                                             attendance_rate="83.33"))
    with pytest.raises(InvalidInput, match=r"attendance\.days_absent is -2; give a whole number of days"):
        render_report_card(data)
