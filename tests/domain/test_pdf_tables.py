"""The shared PDF table toolkit, read back with pypdf: page breaks that repeat the headings and keep rows whole,
a total row kept with the last row, striping, and text cut to a number of lines.

No database. Each test draws one table on a fresh A4 document and reads its text and where it was printed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from fpdf import FPDF
from pypdf import PdfReader

from domain.documents.pdf_tables import (
    PLAIN,
    ZEBRA_FILL,
    Cell,
    TableStyle,
    draw_table,
    fit_lines,
    row_layout,
)
from domain.documents.pdf_text import FOOTER_TOP, MARGIN, a4_document, add_fonts, text_width

PT_PER_MM = 72 / 25.4
FOOTER = "Table under test"
COLUMNS = (30.0, 110.0, 40.0)
HEADING = [Cell("Code", bold=True), Cell("Description", bold=True), Cell("Amount", bold=True, align="R")]
TOTAL = [Cell(""), Cell("TOTAL-ROW", bold=True), Cell("999.00", bold=True, align="R")]


def document() -> FPDF:
    pdf = a4_document(FOOTER)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    add_fonts(pdf, common_only=True)
    pdf.add_page()
    return pdf


def row(n: int, *, lines: int = 1) -> list[Cell]:
    """A row whose description wraps to about `lines` lines, from "first-NN" to "last-NN"."""
    filler = " ".join(["filler words"] * 9 * (lines - 1))
    return [Cell(f"R{n:02d}"), Cell(f"first-{n:02d} {filler} last-{n:02d}".replace("  ", " ")),
            Cell(f"{n}.00", align="R")]


def printed(pdf: FPDF) -> list[list[tuple[str, float]]]:
    """Return each page's text fragments with their baseline's height above the page's foot, in mm."""
    pages = []
    for page in PdfReader(io.BytesIO(bytes(pdf.output()))).pages:
        fragments: list[tuple[str, float]] = []

        def visit(text: str, cm: Sequence[float], tm: Sequence[float], font: object, size: float,
                  fragments: list[tuple[str, float]] = fragments) -> None:
            if text.strip():
                fragments.append((text.strip(), (cm[5] + tm[5]) / PT_PER_MM))

        page.extract_text(visitor_text=visit)
        pages.append(fragments)
    return pages


def body(page: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The fragments of a page less its footer."""
    return [(text, y) for text, y in page if FOOTER not in text and not text.startswith("Page ")]


def page_text(page: list[tuple[str, float]]) -> str:
    return " ".join(text for text, _ in page)


def test_a_table_longer_than_a_page_repeats_its_headings_and_never_splits_a_row():
    pdf = document()
    rows = [row(n, lines=1 + n % 4) for n in range(1, 61)]
    description = row_layout(rows[2], COLUMNS)[0][1]
    assert len(description) >= 3 and description[-1].endswith("last-03")  # a row of several lines
    draw_table(pdf, HEADING, rows, COLUMNS)
    pages = printed(pdf)

    assert len(pages) >= 3
    foot = 297.0 - FOOTER_TOP  # mm above the page's foot where the body must stop
    for number, page in enumerate(pages, start=1):
        texts = body(page)
        # Every page starts with the headings, and nothing but the footer is printed below the body's end.
        assert [text for text, _ in texts[:3]] == ["Code", "Description", "Amount"], number
        assert all(y > foot for _, y in texts), number
    for n in range(1, 61):
        # Each row is printed once, all its lines on one page.
        holding = [i for i, page in enumerate(pages) if f"first-{n:02d}" in page_text(page)]
        assert len(holding) == 1, n
        assert f"last-{n:02d}" in page_text(pages[holding[0]]), n
        assert sum(f"first-{n:02d}" in page_text(page) for page in pages) == 1


def start_near_the_foot(pdf: FPDF, rows: list[list[Cell]]) -> None:
    """Place the table so that its last row fits above the footer but the total row after it does not."""
    head = row_layout(HEADING, COLUMNS)[1]
    height = sum(row_layout(r, COLUMNS)[1] for r in rows)
    total = row_layout(TOTAL, COLUMNS)[1]
    pdf.set_y(FOOTER_TOP - head - height - total / 2)


def test_the_total_row_is_kept_with_the_last_row_on_a_new_page():
    pdf = document()
    rows = [row(n) for n in range(1, 6)]
    start_near_the_foot(pdf, rows)
    draw_table(pdf, HEADING, rows, COLUMNS, total=TOTAL)
    first, second = (page_text(body(page)) for page in printed(pdf))

    assert "first-04" in first and "first-05" not in first and "TOTAL-ROW" not in first
    assert second.startswith("Code Description Amount R05 first-05")
    assert second.endswith("TOTAL-ROW 999.00")


def test_without_a_total_the_last_row_stays_on_its_page():
    pdf = document()
    rows = [row(n) for n in range(1, 6)]
    start_near_the_foot(pdf, rows)
    draw_table(pdf, HEADING, rows, COLUMNS)
    pages = printed(pdf)
    assert len(pages) == 1
    assert "first-05" in page_text(pages[0])


def test_the_headings_are_never_left_alone_at_the_foot_of_a_page():
    pdf = document()
    rows = [row(n, lines=3) for n in range(1, 4)]
    head = row_layout(HEADING, COLUMNS)[1]
    pdf.set_y(FOOTER_TOP - head - 1)  # room for the headings, not for a row under them
    draw_table(pdf, HEADING, rows, COLUMNS)
    first, second = (page_text(body(page)) for page in printed(pdf))
    assert first == ""
    assert second.startswith("Code Description Amount R01 first-01")


def test_only_a_striped_table_fills_every_other_row():
    def content(style: TableStyle) -> bytes:
        pdf = document()
        draw_table(pdf, HEADING, [row(n) for n in range(1, 5)], COLUMNS, style=style)
        return PdfReader(io.BytesIO(bytes(pdf.output()))).pages[0].get_contents().get_data()

    zebra = " ".join(f"{c / 255:.4f}" for c in ZEBRA_FILL).encode() + b" rg"  # as fpdf2 writes colours
    striped = content(TableStyle(zebra_fill=ZEBRA_FILL))
    assert zebra in striped
    assert striped.count(b" re f") == content(PLAIN).count(b" re f") + 2  # rows 2 and 4
    assert zebra not in content(PLAIN)


def test_a_cell_cut_to_its_lines_ends_with_an_ellipsis_and_fits_its_width():
    text = "Excursion to the Great Barrier Reef " * 12
    lines = fit_lines(text, 40.0, size=8, max_lines=3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(text_width(line, bold=False, size=8) <= 40.0 for line in lines)
    assert fit_lines("Short text", 40.0, size=8, max_lines=3) == ["Short text"]
