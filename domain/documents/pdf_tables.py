"""Tables and text blocks in generated PDFs: cells, rows, tables that break across pages, section titles and
paragraphs. Shared by every document renderer (report cards, payslips, statements of account).

Text is drawn line by line with `FPDF.text` at positions computed here (not with fpdf2's cells), so a row's
height is known before it is drawn: a table row never splits across pages, its headings repeat on each page
it continues on, and a total row is never left alone at the top of a page. Page breaks come from
`ensure_room`, so a document using these turns fpdf2's automatic page break off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from domain.documents.pdf_text import FONT_FAMILY, INK, PT, RULE, ensure_room, shorten, text_width, wrap

if TYPE_CHECKING:
    from fpdf import FPDF

RGB = tuple[int, int, int]
Layout = tuple[list[list[str]], float]  # each cell's lines, and the row's height in mm

HEAD_FILL: RGB = (233, 236, 239)  # table headings
TOTAL_FILL: RGB = (241, 243, 245)  # a table's total row
ZEBRA_FILL: RGB = (246, 247, 249)  # every other row of a striped table
EMPHASIS_FILL: RGB = (222, 226, 230)  # the figure the reader looks for: net pay, amount due


@dataclass(frozen=True)
class Cell:
    """One table cell's text and look; `align` is L, C or R; `max_lines` cuts a long text with an ellipsis."""

    text: str
    bold: bool = False
    size: float = 8.5
    color: RGB = INK
    align: str = "L"
    max_lines: int | None = None


@dataclass(frozen=True)
class TableStyle:
    """A table's cell padding in mm and its fills; rows are striped only when `zebra_fill` is given."""

    pad_x: float = 1.5
    pad_y: float = 1.3
    head_fill: RGB = HEAD_FILL
    total_fill: RGB = TOTAL_FILL
    zebra_fill: RGB | None = None


PLAIN = TableStyle()


def line_height(size: float) -> float:
    """Return the height in mm of one line of text of `size` pt."""
    return size * PT * 1.3


def fit_lines(text: str, width: float, *, bold: bool = False, size: float,
              max_lines: int | None = None) -> list[str]:
    """Wrap text to `width` mm; past `max_lines` lines, cut the last one short with an ellipsis."""
    lines = wrap(text, width, bold=bold, size=size)
    if max_lines is not None and len(lines) > max_lines:
        lines = [*lines[:max_lines - 1], shorten(" ".join(lines[max_lines - 1:]), width, size=size)]
    return lines


def draw_lines(pdf: FPDF, lines: Sequence[str], *, x: float, y: float, width: float, cell: Cell) -> None:
    """Draw lines of text in the cell's font, colour and alignment, the first line's top at (x, y) mm."""
    pdf.set_font(FONT_FAMILY, "B" if cell.bold else "", cell.size)
    pdf.set_text_color(*cell.color)
    lh = line_height(cell.size)
    for n, line in enumerate(lines):
        if not line:
            continue
        dx = 0.0
        if cell.align != "L":
            free = width - text_width(line, bold=cell.bold, size=cell.size)
            dx = free if cell.align == "R" else free / 2
        # Baseline about 0.8 of the font size below the line's top, as fpdf2's cells place it.
        pdf.text(x + dx, y + n * lh + (lh - cell.size * PT) / 2 + 0.8 * cell.size * PT, line)


def row_layout(row: Sequence[Cell], columns: Sequence[float], *, style: TableStyle = PLAIN) -> Layout:
    """Wrap each cell to its column (widths in mm) and return the lines and the row's height with padding."""
    wrapped = [fit_lines(c.text, w - 2 * style.pad_x, bold=c.bold, size=c.size, max_lines=c.max_lines)
               for c, w in zip(row, columns, strict=True)]
    height = max(len(lines) * line_height(c.size) for lines, c in zip(wrapped, row, strict=True))
    return wrapped, height + 2 * style.pad_y


def draw_row(pdf: FPDF, row: Sequence[Cell], columns: Sequence[float], *, layout: Layout | None = None,
             fill: RGB | None = None, style: TableStyle = PLAIN) -> None:
    """Draw a row at the current position, filled or not, with a rule under it, and move below it."""
    wrapped, height = layout or row_layout(row, columns, style=style)
    y = pdf.get_y()
    if fill:
        pdf.set_fill_color(*fill)
        pdf.rect(pdf.l_margin, y, sum(columns), height, style="F")
    x = pdf.l_margin
    for cell, lines, w in zip(row, wrapped, columns, strict=True):
        draw_lines(pdf, lines, x=x + style.pad_x, y=y + style.pad_y, width=w - 2 * style.pad_x, cell=cell)
        x += w
    pdf.set_draw_color(*RULE)
    pdf.set_line_width(0.2)
    pdf.line(pdf.l_margin, y + height, pdf.l_margin + sum(columns), y + height)
    pdf.set_y(y + height)


def draw_table(pdf: FPDF, heading: Sequence[Cell], rows: Iterable[Sequence[Cell]], columns: Sequence[float], *,
               total: Sequence[Cell] | None = None, style: TableStyle = PLAIN) -> None:
    """Draw headings, rows and an optional total row; a row that does not fit goes whole to a new page under
    the headings repeated, and neither the headings nor the total is left alone on a page."""
    body = list(rows)
    head = row_layout(heading, columns, style=style)
    layouts = [row_layout(row, columns, style=style) for row in body]
    total_layout = row_layout(total, columns, style=style) if total is not None else ([], 0.0)
    first = layouts[0][1] if layouts else 0.0
    ensure_room(pdf, head[1] + first + (total_layout[1] if len(body) <= 1 else 0.0))
    draw_row(pdf, heading, columns, layout=head, fill=style.head_fill, style=style)
    for n, (row, layout) in enumerate(zip(body, layouts, strict=True)):
        keep = total_layout[1] if n == len(body) - 1 else 0.0
        if n and ensure_room(pdf, layout[1] + keep):
            draw_row(pdf, heading, columns, layout=head, fill=style.head_fill, style=style)
        fill = style.zebra_fill if n % 2 else None
        draw_row(pdf, row, columns, layout=layout, fill=fill, style=style)
    if total is not None:
        draw_row(pdf, total, columns, layout=total_layout, fill=style.total_fill, style=style)


def section_title(pdf: FPDF, title: str, *, keep_with: float = 14.0) -> None:
    """Draw a bold section title, first starting a new page unless `keep_with` mm more fit under it."""
    ensure_room(pdf, 7 + keep_with)
    pdf.set_font(FONT_FAMILY, "B", 11)
    pdf.set_text_color(*INK)
    pdf.text(pdf.l_margin, pdf.get_y() + 5, title)
    pdf.set_y(pdf.get_y() + 7)


def paragraph(pdf: FPDF, text: str, *, size: float = 9, bold: bool = False, color: RGB = INK) -> None:
    """Draw text wrapped to the page width, line by line, starting a new page when a line does not fit."""
    cell = Cell(text, bold=bold, size=size, color=color)
    lh = line_height(size)
    for line in wrap(text, pdf.epw, bold=bold, size=size):
        ensure_room(pdf, lh)
        draw_lines(pdf, [line], x=pdf.l_margin, y=pdf.get_y(), width=pdf.epw, cell=cell)
        pdf.set_y(pdf.get_y() + lh)
