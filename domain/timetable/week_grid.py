"""A week of a published timetable: the grid of a teacher, a section or a room, as HTML and as an A4 PDF to print,
and as a dated week with its cover for the admin pages (`week_view`).

The grid has a row per period of the school day (its number and times) and a column per teaching day; a cell holds
the lessons of that period, each as the class code and what the reader lacks: a teacher's sheet names the room, a
section's the teacher and room, a room's the teacher. Readable in black and white: text and rules only, the
headings on a light grey that prints as such. Pure: the caller gathers the lessons (domain.timetable.rules).

The PDF is drawn with the shared toolkit (domain.documents.pdf_text, pdf_tables) in DejaVu Sans; its creation date
is the publication's, so the same timetable prints the same bytes.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from domain.documents.pdf_tables import Cell, draw_table, paragraph
from domain.documents.pdf_text import COMMON, FONT_FAMILY, MARGIN, a4_document, add_fonts, drawable
from domain.kernel.errors import InvalidInput
from domain.timetable.rules import Lesson

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class WeekGrid:
    """What a printed week shows: title and subtitle, the day and period headings, and each cell's lines by
    (day, period) (an empty cell is a free period)."""

    title: str
    subtitle: str
    days: tuple[str, ...]
    periods: tuple[str, ...]
    cells: dict[tuple[int, int], tuple[str, ...]]


def week_grid(*, kind: str, code: str, problem_name: str, days: int, periods_per_day: int,
              period_times: tuple[str, ...], lessons: Iterable[Lesson]) -> WeekGrid:
    """Return the grid of `lessons` for a `kind` (teacher, section or room) sheet of `code`."""
    cells: dict[tuple[int, int], list[str]] = defaultdict(list)
    for lesson in lessons:
        detail = {"teacher": lesson.room_id, "section": f"{lesson.teacher} · {lesson.room_id}",
                  "room": lesson.teacher}.get(kind, lesson.room_id)
        cells[(lesson.day, lesson.period)].append(f"{lesson.course_id}\n{detail}")
    periods = tuple(f"{p + 1}" + (f"\n{period_times[p]}" if p < len(period_times) else "")
                    for p in range(periods_per_day))
    return WeekGrid(title=f"Timetable: {kind} {code}", subtitle=problem_name, days=WEEKDAYS[:days],
                    periods=periods, cells={k: tuple(v) for k, v in cells.items()})


def render_html(grid: WeekGrid) -> str:
    """Return the grid as a standalone HTML page (escaped text, print styles, black on white)."""
    def text(value: str) -> str:
        return html.escape(value).replace("\n", "<br>")

    head = "".join(f"<th scope=\"col\">{text(d)}</th>" for d in grid.days)
    rows = []
    for p, label in enumerate(grid.periods):
        cells = "".join(f"<td>{'<hr>'.join(text(x) for x in grid.cells.get((d, p), ()))}</td>"
                        for d in range(len(grid.days)))
        rows.append(f"<tr><th scope=\"row\">{text(label)}</th>{cells}</tr>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{text(grid.title)}</title><style>"
            "body{font-family:sans-serif;color:#000;background:#fff;margin:1cm}"
            "table{border-collapse:collapse;width:100%;table-layout:fixed}"
            "th,td{border:1px solid #000;padding:4px;vertical-align:top;font-size:10pt}"
            "thead th{background:#e9ecef}hr{border:0;border-top:1px dashed #000}"
            "@page{size:A4 landscape;margin:1cm}</style></head><body>"
            f"<h1>{text(grid.title)}</h1><p>{text(grid.subtitle)}</p>"
            f"<table><thead><tr><th scope=\"col\">Period</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
            "</table></body></html>\n")


def render_pdf(grid: WeekGrid, *, printed_on: dt.datetime) -> bytes:
    """Return the grid as an A4 PDF (bytes); raises InvalidInput when a code holds a character the font cannot
    draw."""
    texts = [grid.title, grid.subtitle, *grid.days, *grid.periods, *(x for v in grid.cells.values() for x in v)]
    chars = set("".join(texts))
    missing = sorted(c for c in chars if ord(c) not in drawable() and not c.isspace())
    if missing:
        raise InvalidInput(f"the timetable holds characters the PDF font cannot draw: {''.join(missing[:10])}",
                           field="code")
    pdf = a4_document(f"{grid.title} · {grid.subtitle}")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    pdf.set_creation_date(printed_on)
    pdf.set_title(grid.title)
    add_fonts(pdf, common_only=all(ord(c) in COMMON for c in chars))
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, "B", 14)
    pdf.text(pdf.l_margin, pdf.get_y() + 6, grid.title)
    pdf.set_y(pdf.get_y() + 9)
    paragraph(pdf, grid.subtitle, size=9)
    pdf.set_y(pdf.get_y() + 3)
    first = 24.0
    width = (pdf.epw - first) / max(len(grid.days), 1)
    columns = [first, *([width] * len(grid.days))]
    heading = [Cell("Period", bold=True), *(Cell(d, bold=True) for d in grid.days)]
    rows = [[Cell(label, size=8), *(Cell("\n".join(grid.cells.get((d, p), ())), size=8)
                                       for d in range(len(grid.days)))]
            for p, label in enumerate(grid.periods)]
    draw_table(pdf, heading, rows, columns)
    return bytes(pdf.output())


@dataclass(frozen=True)
class GridLesson:
    """One lesson in a week view's cell: the class, what the reader lacks (room, teacher) and, on a date with cover,
    what happens instead (`cover`: 'covered by E0017', 'study period in R105, supervised by E0020', 'uncovered'),
    or a cover the teacher gives or a study period the room holds (`extra`: not in the published timetable)."""

    course_id: str
    detail: str
    cover: str | None = None
    extra: bool = False


@dataclass(frozen=True)
class CoverNote:
    """A published cover of one lesson on one date (domain.timetable.models.TimetableCover as the grid needs it)."""

    on: dt.date
    period: int
    course_id: str
    room: str
    absent_teacher: str
    kind: str
    cover_teacher: str | None
    study_room: str | None


@dataclass(frozen=True)
class WeekView:
    """A dated week of a teacher, section or room: the day headings with their dates, the periods (number from 1,
    'HH:MM-HH:MM' or None) and each cell's lessons by (day, period), day and period from 0."""

    title: str
    subtitle: str
    kind: str
    code: str
    days: tuple[tuple[str, dt.date], ...]
    periods: tuple[tuple[int, str | None], ...]
    cells: dict[tuple[int, int], tuple[GridLesson, ...]]

    @property
    def covers(self) -> int:
        """Return how many lessons of the week carry a cover note or are a cover given."""
        return sum(1 for ls in self.cells.values() for x in ls if x.cover or x.extra)


def _cover_text(note: CoverNote) -> str:
    if note.kind == "teacher":
        return f"{note.absent_teacher} away: covered by {note.cover_teacher}"
    if note.kind == "study":
        return (f"{note.absent_teacher} away: study period in {note.study_room}"
                + (f", supervised by {note.cover_teacher}" if note.cover_teacher else ""))
    return f"{note.absent_teacher} away: uncovered"


def week_view(*, kind: str, code: str, problem_name: str, days: int, periods_per_day: int,
              period_times: tuple[str, ...], lessons: Iterable[Lesson], monday: dt.date,
              covers: Iterable[CoverNote] = ()) -> WeekView:
    """Return the week from `monday` of a `kind` (teacher, section or room) `code`: its published `lessons`, each
    with the cover published for its date, and the covers that add to the week (a teacher covering a colleague's
    lesson; a room holding a study period). `covers` are the week's published covers of the timetable; the ones
    that concern neither `code` nor its lessons are left out."""
    notes: dict[tuple[int, int, str], CoverNote] = {}
    extra: dict[tuple[int, int], list[GridLesson]] = defaultdict(list)
    for note in covers:
        day = (note.on - monday).days
        if not (0 <= day < days and 0 <= note.period < periods_per_day):
            continue
        notes[(day, note.period, note.course_id)] = note
        if kind == "teacher" and note.cover_teacher == code and note.absent_teacher != code:
            what = "cover" if note.kind == "teacher" else f"study supervision in {note.study_room}"
            extra[(day, note.period)].append(GridLesson(note.course_id, f"{what} for {note.absent_teacher}",
                                                        extra=True))
        if kind == "room" and note.study_room == code:
            extra[(day, note.period)].append(GridLesson(note.course_id, f"study period ({note.cover_teacher or ''})"
                                                        .replace(" ()", ""), extra=True))
    cells: dict[tuple[int, int], list[GridLesson]] = defaultdict(list)
    for lesson in lessons:
        detail = {"teacher": lesson.room_id, "section": f"{lesson.teacher} · {lesson.room_id}",
                  "room": lesson.teacher}.get(kind, lesson.room_id)
        note = notes.get((lesson.day, lesson.period, lesson.course_id))
        cells[(lesson.day, lesson.period)].append(GridLesson(lesson.course_id, detail,
                                                             _cover_text(note) if note else None))
    for key, items in extra.items():
        cells[key].extend(items)
    return WeekView(title=f"Timetable: {kind} {code}", subtitle=problem_name, kind=kind, code=code,
                    days=tuple((WEEKDAYS[d], monday + dt.timedelta(days=d)) for d in range(days)),
                    periods=tuple((p + 1, period_times[p] if p < len(period_times) else None)
                                  for p in range(periods_per_day)),
                    cells={k: tuple(v) for k, v in cells.items()})
