"""Secret calendar URLs over HTTP: a feed made through the tool serves its iCalendar at /calendar/<secret>.ics, only
its SHA-256 is stored, a teacher may make one of their own timetable only, and a revoked or wrong URL answers 404."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from icalendar import Calendar

from domain.kernel.errors import NotFound, PermissionDenied
from domain.timetable.models import TimetableFeed
from server.app import create_app
from tests.tools.test_timetable_cover import make_cover_school
from tools.invoke import invoke

BASE = "http://127.0.0.1"


async def test_a_secret_url_serves_the_calendar_until_it_is_revoked(rt):
    school = await make_cover_school(rt)
    a, b = school.codes["A"], school.codes["B"]
    feed = await invoke(rt, "create_timetable_feed", {"problem_id": school.problem_id, "kind": "teacher", "code": a},
                        school.registrar)
    assert feed.url_path.startswith("/calendar/") and feed.url_path.endswith(".ics") and not feed.revoked
    token = feed.url_path.removeprefix("/calendar/").removesuffix(".ics")
    async with rt.db.read() as s:
        row = await s.get(TimetableFeed, feed.feed_id)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash

    app = create_app(rt, own_runtime=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        got = await http.get(feed.url_path)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/calendar")
        events = Calendar.from_ical(got.text).walk("VEVENT")
        assert len(events) == 6 and {str(e["summary"]) for e in events} == {school.classes["7X-MATH"]}
        tampered = token[:-1] + ("x" if token[-1] != "x" else "y")  # a token ending in x stayed itself (1 in 64)
        assert (await http.get(f"/calendar/{tampered}.ics")).status_code == 404
        assert (await http.get(f"/calendar/{'a' * 500}.ics")).status_code == 404
        assert (await http.get(f"/calendar/nosuchschool.{token}.ics")).status_code == 404

        # A teacher makes a feed of their own timetable only, and revokes only their own.
        own = await invoke(rt, "create_timetable_feed", {"problem_id": school.problem_id, "kind": "teacher",
                                                         "code": a.lower()}, school.teacher)
        assert own.code == a
        for kind, code in (("teacher", b), ("section", school.classes["7X-MATH"].rsplit("-", 1)[0])):
            with pytest.raises(PermissionDenied):
                await invoke(rt, "create_timetable_feed", {"problem_id": school.problem_id, "kind": kind,
                                                           "code": code}, school.teacher)
        with pytest.raises(PermissionDenied):
            await invoke(rt, "revoke_timetable_feed", {"feed_id": feed.feed_id}, school.teacher)
        with pytest.raises(PermissionDenied):
            await invoke(rt, "create_timetable_feed", {"problem_id": school.problem_id, "kind": "teacher",
                                                       "code": a}, school.viewer)

        gone = await invoke(rt, "revoke_timetable_feed", {"feed_id": feed.feed_id}, school.registrar)
        assert gone.revoked and gone.url_path is None
        answer = await http.get(feed.url_path)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"
        with pytest.raises(NotFound):
            await invoke(rt, "revoke_timetable_feed", {"feed_id": feed.feed_id}, school.registrar)
        assert (await http.get(own.url_path)).status_code == 200  # the teacher's own feed is untouched
