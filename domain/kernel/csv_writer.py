"""The one CSV writer of the product: every export (term grades, the payroll run summary, the ledger's reports)
renders its rows with `render_csv`, so no export can forget to neutralise a cell.

Rule (OWASP, "CSV Injection"): a cell that begins with =, +, -, @, a tab or a carriage return is run by a
spreadsheet as a formula (`=HYPERLINK(...)`, `+cmd|' /C calc'!A0`), so it is written with a leading apostrophe
(`'=HYPERLINK(...)`), which spreadsheets show as text. A cell that is a plain negative decimal number (`-12.50`,
`-1500`) is a value, not a formula, and is written as it is, so negative amounts stay numbers. The rule applies
to every cell, whatever its column: a header, a code, a name and an amount alike.

RFC 4180 via the `csv` module: fields with commas, quotes or line breaks are quoted; lines end in CRLF unless
the caller asks otherwise.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEGATIVE_NUMBER = re.compile(r"-\d+(\.\d+)?")


def safe_cell(value: object) -> str:
    """Return `value` as the text of a CSV cell, with an apostrophe before it when a spreadsheet would read it
    as a formula (it begins with = + - @ TAB CR and is not a plain negative number such as -12.50). None is ''."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _NEGATIVE_NUMBER.fullmatch(text):
        return "'" + text
    return text


def render_csv(header: Sequence[object], rows: Iterable[Sequence[object]], *, line_end: str = "\r\n") -> str:
    """Render `header` and `rows` as CSV text, every cell through `safe_cell`; `line_end` ends each line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow([safe_cell(v) for v in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()
