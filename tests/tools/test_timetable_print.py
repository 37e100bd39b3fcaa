"""Printable weeks read back: the PDF's text with pypdf (title, days, period times, each lesson in its cell's
period row), the HTML's cells, escaping, the same bytes twice, and bad input."""

from __future__ import annotations

import base64
import io
import re

import pytest
from pypdf import PdfReader

from domain.kernel.errors import InvalidInput, NotFound
from domain.timetable.rules import Lesson
from domain.timetable.week_grid import render_html, week_grid
from tests.tools.test_timetable_cover import make_cover_school
from tools.invoke import invoke


async def printed(rt, school, kind: str, code: str, output: str = "pdf"):
    """The whole printout, read chunk by chunk (9,000 characters or PDF bytes an answer by default)."""
    args = {"problem_id": school.problem_id, "kind": kind, "code": code, "format": output}
    first = await invoke(rt, "print_timetable", args, school.viewer)
    text, data, offset = first.text or "", base64.b64decode(first.content_base64 or ""), first.next_offset
    while offset is not None:
        chunk = await invoke(rt, "print_timetable", {**args, "offset": offset}, school.viewer)
        text, data, offset = (text + (chunk.text or ""), data + base64.b64decode(chunk.content_base64 or ""),
                              chunk.next_offset)
    assert len(data if output == "pdf" else text) == first.size
    return first.model_copy(update={"text": text if output == "html" else None,
                                    "content_base64": base64.b64encode(data).decode() if output == "pdf" else None})


async def test_a_teachers_week_prints_as_a_pdf_whose_text_reads_back(rt):
    school = await make_cover_school(rt)
    a, math = school.codes["A"], school.classes["7X-MATH"]
    out = await printed(rt, school, "teacher", a)
    data = base64.b64decode(out.content_base64)
    assert out.content_type == "application/pdf" and out.size == len(data) and data.startswith(b"%PDF")
    assert out.filename == f"timetable-teacher-{a}.pdf" and out.text is None
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert f"Timetable: teacher {a}" in text
    for heading in ("Period", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "08:00-08:45", "10:30-11:15"):
        assert heading in text, heading
    flat = re.sub(r"\s", "", text)  # the test's long codes wrap inside their cells
    assert flat.count(math) == 3 and flat.count(school.rooms[0]) == 3  # three lessons a week, each with its room
    # Each lesson sits in the first period's row: between the row's label and the second period's times.
    first_row = flat[flat.index("08:00-08:45"):flat.index("08:50-09:35")]
    assert first_row.count(math) == 3
    again = await printed(rt, school, "teacher", a)
    assert again.content_base64 == out.content_base64  # the same timetable prints the same bytes


async def test_a_sections_week_prints_as_html_and_bad_input_is_refused(rt):
    school = await make_cover_school(rt)
    section = school.classes["7X-MATH"].rsplit("-", 1)[0]
    out = await printed(rt, school, "section", section, "html")
    assert out.content_type.startswith("text/html") and out.content_base64 is None
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", out.text)
    assert len(rows) == 4 and rows[0][0] == "1<br>08:00-08:45"
    monday_first = re.findall(r"<td>(.*?)</td>", rows[0][1])[0]
    assert monday_first == f"{school.classes['7X-MATH']}<br>{school.codes['A']} · {school.rooms[0]}"
    assert len(re.findall(r"<td>(.*?)</td>", rows[0][1])) == 5  # a cell per day, empty ones too
    with pytest.raises(NotFound):
        await printed(rt, school, "room", "NO-SUCH-ROOM")
    with pytest.raises(InvalidInput):
        await printed(rt, school, "room", school.rooms[0], "docx")


def test_html_escapes_what_it_prints():
    grid = week_grid(kind="room", code="<R1>", problem_name="A & B", days=1, periods_per_day=1,
                     period_times=("08:00-08:45",), lessons=[Lesson("7A<script>", "T&1", "<R1>", 0, 0)])
    page = render_html(grid)
    assert "<script>" not in page and "7A&lt;script&gt;<br>T&amp;1" in page and "A &amp; B" in page
