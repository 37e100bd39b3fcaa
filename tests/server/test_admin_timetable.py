"""The admin pages' week grid (issue 24): a section's, teacher's or room's week of the published timetable with the
school's periods and times, its lessons and that week's cover, read back from the HTML."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from html.parser import HTMLParser

import httpx
import pytest

from domain.identity.service import create_api_key
from domain.timetable import service as timetable
from domain.timetable.models import ProblemSource, TimetableCover
from domain.timetable.solver import SolveResult
from server.app import create_app
from tests.conftest import own_runtime
from tests.factories import make_user
from tests.server.test_admin_pages import BASE, sign_in
from tests.tools.test_timetable_tools import tiny_problem, tiny_solution

TUESDAY = date(2026, 10, 13)
TIMES = ("09:00-09:45", "09:50-10:35")


class Grid(HTMLParser):
    """The week-grid table of a page: its header cells and, per body row, the text of each cell."""

    def __init__(self) -> None:
        super().__init__()
        self.head: list[str] = []
        self.rows: list[list[str]] = []
        self._in_grid = self._in_cell = False
        self._part = ""
        self._cell: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "table" and "week-grid" in (dict(attrs).get("class") or ""):
            self._in_grid = True
        elif self._in_grid and tag in ("thead", "tbody"):
            self._part = tag
        elif self._in_grid and tag == "tr" and self._part == "tbody":
            self.rows.append([])
        elif self._in_grid and tag in ("th", "td"):
            self._in_cell, self._cell = True, []
        elif self._in_cell and tag == "br":
            self._cell.append(" ")

    def handle_endtag(self, tag):
        if tag == "table" and self._in_grid:
            self._in_grid = False
        elif self._in_grid and tag in ("th", "td") and self._in_cell:
            text = " ".join("".join(self._cell).split())
            (self.head if self._part == "thead" else self.rows[-1]).append(text)
            self._in_cell = False

    def handle_data(self, data):
        if self._in_cell:
            self._cell.append(data)


def grid_of(html: str) -> Grid:
    parser = Grid()
    parser.feed(html)
    return parser


@pytest.fixture(scope="module")
async def school(tmp_path_factory):
    """A database of its own whose newest published timetable is `tiny_problem` with period times, a cover on
    TUESDAY (t1 away: c1's period-0 lesson covered by t2), and an admin's API key."""
    async with own_runtime(tmp_path_factory, "admin-timetable") as rt:
        async with rt.db.write() as s:
            row = await timetable.store_problem(s, problem=replace(tiny_problem(), period_times=TIMES),
                                                source=ProblemSource.SCHOOL)
            sol = await timetable.save_solution(s, problem_row=row, result=SolveResult(
                status="feasible", solution=tiny_solution(), score=None, seconds=0.0, progress=()))
            await timetable.publish(s, solution_id=sol.id)
            s.add(TimetableCover(problem_id=row.id, on_date=TUESDAY, period=0, course_id="c1", room="r1",
                                 absent_teacher="t1", kind="teacher", cover_teacher="t2"))
            admin = await make_user(s, roles="admin")
            key = (await create_api_key(s, username=admin.username, name="timetable-page")).secret
        app = create_app(rt, own_runtime=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            assert (await sign_in(client, key)).status_code == 303
            yield client


async def test_a_sections_week_shows_periods_times_lessons_and_cover(school):
    page = await school.get("/admin/timetable", params={"kind": "section", "code": "q1", "week": "2026-10-14"})
    assert page.status_code == 200, page.text
    grid = grid_of(page.text)
    assert grid.head == ["Period", "Monday 2026-10-12", "Tuesday 2026-10-13"]  # the week of the date given
    assert [row[0] for row in grid.rows] == ["1 09:00-09:45", "2 09:50-10:35"]
    monday, tuesday = [row[1] for row in grid.rows], [row[2] for row in grid.rows]
    assert monday == ["c1 t1 · r1", "c2 t2 · r2"]
    assert tuesday == ["c1 t1 · r1 t1 away: covered by t2", ""]  # q1 has c1 and c2; c3 is q2's
    assert "1 cover change this week" in page.text
    # The week after has no cover.
    later = grid_of((await school.get("/admin/timetable", params={"kind": "section", "code": "q1",
                                                                   "week": "2026-10-20"})).text)
    assert later.head[2] == "Tuesday 2026-10-20" and later.rows[0][2] == "c1 t1 · r1"


async def test_a_teacher_sees_the_cover_they_give_and_a_room_its_lessons(school):
    grid = grid_of((await school.get("/admin/timetable", params={"kind": "teacher", "code": "t2",
                                                                  "week": TUESDAY.isoformat()})).text)
    assert grid.rows[0][2] == "c1 cover for t1" and grid.rows[1][1] == "c2 r2"
    grid = grid_of((await school.get("/admin/timetable", params={"kind": "room", "code": "r3",
                                                                  "week": TUESDAY.isoformat()})).text)
    assert [row[1:] for row in grid.rows] == [["", ""], ["", "c3 t1"]]


async def test_the_page_lists_the_codes_and_names_what_is_wrong(school):
    page = await school.get("/admin/timetable")
    assert page.status_code == 200 and "week-grid" not in page.text
    for href in ("kind=section&amp;code=q2", "kind=teacher&amp;code=t1", "kind=room&amp;code=r2"):
        assert href in page.text, href
    bad = await school.get("/admin/timetable", params={"kind": "class", "code": "q1"})
    assert bad.status_code == 422 and "kind must be one of: teacher, section, room" in bad.text
    bad = await school.get("/admin/timetable", params={"kind": "section", "code": "<script>x</script>"})
    assert bad.status_code == 422 and "<script>x" not in bad.text and "&lt;script&gt;x" in bad.text
    bad = await school.get("/admin/timetable", params={"code": "q1", "week": "next tuesday"})
    assert bad.status_code == 422 and "week must be a date" in bad.text


async def test_the_week_grid_needs_a_signed_in_admin(school):
    async with httpx.AsyncClient(transport=school._transport, base_url=BASE) as stranger:
        page = await stranger.get("/admin/timetable", params={"kind": "section", "code": "q1"})
    assert page.status_code == 303 and page.headers["location"].endswith("/admin/sign-in")
