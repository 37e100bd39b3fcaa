"""Text in generated PDFs: the bundled DejaVu Sans fonts, which characters they can draw, and measuring,
wrapping and shortening text to a width. Shared by every document renderer (report cards, payslips,
statements of account); their tables and text blocks are drawn with `domain.documents.pdf_tables`.

The fonts are DejaVu Sans (fonts/, with its licence): they cover Latin with its extensions, Greek and Cyrillic,
so the names a school prints nearly always render; renderers refuse text outside `drawable()` by name rather
than print empty boxes.

fpdf2 and fontTools are imported when the first document is drawn or measured, not with this module: fpdf2
brings numpy and Pillow, about a second of a server's start that most sessions never print anything with.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from copy import deepcopy
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVuSans"
FONT_FILES = {"": FONT_DIR / "DejaVuSans.ttf", "B": FONT_DIR / "DejaVuSans-Bold.ttf"}
PT = 25.4 / 72  # mm per point


# The scripts a school's names and comments are nearly always in: Latin with its extensions (Vietnamese
# included), combining marks, Greek, Cyrillic, and the punctuation and symbols of ordinary text. A document whose
# text stays inside uses a copy of DejaVu Sans cut down to these ~1,900 of its 6,250 glyphs: fpdf2 subsets
# the font again for every PDF it writes, and the smaller font makes that about three times faster. Any other
# document uses the whole font, so nothing DejaVu Sans can draw is lost.
COMMON_RANGES = ((0x20, 0x7E), (0xA0, 0x52F), (0x1E00, 0x1EFF), (0x2000, 0x206F), (0x20A0, 0x20CF),
                  (0x2100, 0x214F), (0x2190, 0x21FF), (0x2212, 0x2212), (0x25A0, 0x25FF), (0xFB00, 0xFB06),
                  (0xFFFD, 0xFFFD))
COMMON = frozenset(cp for first, last in COMMON_RANGES for cp in range(first, last + 1))
# Tables fpdf2 drops when it embeds a font anyway (it does no text shaping here).
_UNUSED_TABLES = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "kern", "meta"]


@cache
def _font_bytes(style: str, common_only: bool) -> bytes:
    """Return the bundled font file, or its cut-down copy for `COMMON` text, made once per process."""
    from fontTools import subset as ftsubset
    from fontTools import ttLib

    data = FONT_FILES[style].read_bytes()
    if not common_only:
        return data
    font = ttLib.TTFont(BytesIO(data), recalcTimestamp=False)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, glyph_names=True,
                               layout_features=[], name_IDs=["*"], name_languages=["*"])
    options.drop_tables += _UNUSED_TABLES
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(unicodes=COMMON)
    subsetter.subset(font)
    out = BytesIO()
    font.save(out)
    return out.getvalue()


@cache
def _font_template(style: str, common_only: bool) -> TTFFont:
    """Parse a font once per process into fpdf2's font object (widths, cmap, descriptor)."""
    from fpdf import FPDF
    from fpdf.fonts import TTFFont

    source = BytesIO(_font_bytes(style, common_only)) if common_only else FONT_FILES[style]
    return TTFFont(FPDF(), source, f"{FONT_FAMILY.lower()}{style}", style)  # type: ignore[arg-type]


@cache
def _char_widths(style: str) -> tuple[dict[int, int], int]:
    """Return each code point's advance width in 1/1000 em, and the width drawn for a missing glyph."""
    template = _font_template(style, False)
    return dict(template.cw), template.desc.missing_width


# Hebrew, Arabic and the other right-to-left scripts: DejaVu Sans has glyphs for many of them, but a document
# lays text out left to right without shaping, so they would print in the wrong order and letter forms.
_RIGHT_TO_LEFT = ((0x0590, 0x08FF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFF))


@cache
def drawable() -> frozenset[int]:
    """Return the code points both bundled styles have a glyph for, less right-to-left scripts."""
    rtl = {cp for first, last in _RIGHT_TO_LEFT for cp in range(first, last + 1)}
    return frozenset(_char_widths("")[0]).intersection(_char_widths("B")[0]).difference(rtl)


def add_fonts(pdf: FPDF, *, common_only: bool) -> None:
    """Give the document the bundled fonts without parsing the TTF files again.

    fpdf2's `add_font` parses the whole font (about 25 ms a style), which alone would cost half the
    20 cards/s budget. The per-process template's widths, cmap and descriptor are read-only and shared;
    the document gets its own fontTools object over the cached bytes (fpdf2 subsets it in place when it
    writes the PDF), its own subset map and missing-glyph list. Falls back to `add_font` should a later
    fpdf2 change its font object.
    """
    from fontTools import ttLib

    for style, path in FONT_FILES.items():
        key = f"{FONT_FAMILY.lower()}{style}"
        try:
            template = _font_template(style, common_only)
            shared = (template.ttfont, template.cw, template.glyph_ids, template.subset,
                      template.missing_glyphs)
            font = deepcopy(template, {id(obj): obj for obj in shared})
            font.i = len(pdf.fonts) + 1
            # Subsetting keeps each glyph's outline, so its bounding box need not be recomputed on save;
            # skipping that (recalcBBoxes) halves the time fpdf2 spends embedding the font.
            font.ttfont = ttLib.TTFont(BytesIO(_font_bytes(style, common_only)), lazy=True,
                                       recalcTimestamp=False, recalcBBoxes=False)
            font.missing_glyphs = []
            font.subset = type(template.subset)(font)
            pdf.fonts[key] = font
        except (AttributeError, TypeError):  # pragma: no cover - only with an fpdf2 whose TTFFont differs
            pdf.fonts.pop(key, None)
            pdf.add_font(FONT_FAMILY, style, path)


def text_width(text: str, *, bold: bool, size: float) -> float:
    """Return the width of a line of text in mm."""
    widths, missing = _char_widths("B" if bold else "")
    return sum(widths.get(ord(c), missing) for c in text) * size / 1000 * PT


def wrap(text: str, width: float, *, bold: bool = False, size: float = 8.5) -> list[str]:
    """Break text into lines no wider than `width` mm: at spaces, keeping newlines, splitting long words."""
    lines: list[str] = []
    space = text_width(" ", bold=bold, size=size)
    text = unicodedata.normalize("NFC", text)  # "e" + U+0301 prints as the one glyph "é"
    for paragraph in text.splitlines() or [""]:
        line, line_w = "", 0.0
        for word in paragraph.split():
            word_w = text_width(word, bold=bold, size=size)
            if line and line_w + space + word_w <= width:
                line, line_w = f"{line} {word}", line_w + space + word_w
                continue
            if line:
                lines.append(line)
            while word_w > width and len(word) > 1:  # a word longer than the column: break it by characters
                cut = len(word) - 1
                while cut > 1 and text_width(word[:cut], bold=bold, size=size) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
                word_w = text_width(word, bold=bold, size=size)
            line, line_w = word, word_w
        lines.append(line)
    return lines


def shorten(text: str, width: float, *, size: float) -> str:
    """Cut a one-line text to `width` mm, ending it with an ellipsis when it had to be cut."""
    if text_width(text, bold=False, size=size) <= width:
        return text
    while text and text_width(f"{text}…", bold=False, size=size) > width:
        text = text[:-1]
    return f"{text.rstrip()}…"


# ---------------------------------------------------------------- the A4 page every document uses

MARGIN = 15.0  # mm
FOOTER_TOP = 297.0 - 14.0  # body text stops above this line (A4 is 297 mm tall)
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (173, 181, 189)


def a4_document(footer_left: str, *, before_footer: Callable[[FPDF], None] | None = None) -> FPDF:
    """Return a new A4 portrait document in mm whose footer, under a rule, names what it is (`footer_left`) on
    the left and numbers the pages on the right ("Page 2 of 3").

    `before_footer(pdf)`, when given, draws on each page just before its footer, last of all (a watermark).
    """
    return _a4_document_class()(footer_left, before_footer)


@cache
def _a4_document_class() -> type[FPDF]:
    """Define the A4 document class on first use (fpdf2 is imported then, see the module's docstring)."""
    from fpdf import FPDF

    class A4Document(FPDF):
        def __init__(self, footer_left: str, before_footer: Callable[[FPDF], None] | None) -> None:
            super().__init__(orientation="P", unit="mm", format="A4")
            self._footer_left = footer_left
            self._before_footer = before_footer

        def footer(self) -> None:
            if self._before_footer is not None:
                self._before_footer(self)
            self.set_draw_color(*RULE)
            self.set_line_width(0.2)
            self.line(self.l_margin, FOOTER_TOP + 2, self.w - self.r_margin, FOOTER_TOP + 2)
            self.set_font(FONT_FAMILY, "", 7.5)
            self.set_text_color(*MUTED)
            self.text(self.l_margin, FOOTER_TOP + 6, shorten(self._footer_left, self.epw - 30, size=7.5))
            # A cell, not text(): fpdf2 replaces the "{nb}" alias (the page count) only inside cells.
            self.set_xy(self.l_margin, FOOTER_TOP + 3.4)
            self.cell(self.epw, 4, f"Page {self.page_no()} of {{nb}}", align="R")

    return A4Document


def ensure_room(pdf: FPDF, height: float) -> bool:
    """Start a new page when `height` mm no longer fits above the footer; return whether it did."""
    if pdf.get_y() + height <= FOOTER_TOP:
        return False
    pdf.add_page()
    return True
