"""Timetable calendars (.ics) read back: with `icalendar` field by field (local times in the school's zone,
weekly counts per term, public holidays and covers as EXDATEs, covers given as single events), UIDs and bytes
stable across two exports, and one event read by hand from the raw lines as an independent parser's view."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from icalendar import Calendar

from domain.kernel.errors import InvalidInput, NotFound
from tests.tools.test_timetable_cover import TUESDAY, make_cover_school, propose
from tools.invoke import invoke

ZONE = "Australia/Melbourne"


async def export(rt, school, kind: str, code: str):
    """The whole calendar, read chunk by chunk (each answer holds at most 9,000 characters by default)."""
    args = {"problem_id": school.problem_id, "kind": kind, "code": code}
    first = await invoke(rt, "get_timetable_calendar", args, school.viewer)
    text, offset = first.ics, first.next_offset
    while offset is not None:
        chunk = await invoke(rt, "get_timetable_calendar", {**args, "offset": offset}, school.viewer)
        assert chunk.offset == offset and len(chunk.ics) <= 9_000
        text, offset = text + chunk.ics, chunk.next_offset
    assert len(text) == first.size
    return first.model_copy(update={"ics": text, "next_offset": None})


def events(ics: str) -> dict[str, object]:
    cal = Calendar.from_ical(ics)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def events_all(ics: str) -> list:
    return list(Calendar.from_ical(ics).walk("VEVENT"))


def raw_event(ics: str, uid: str) -> dict[str, str]:
    """One VEVENT's properties by name, read from the text itself (lines unfolded as RFC 5545 3.1 says)."""
    lines = ics.replace("\r\n ", "").split("\r\n")
    start = lines.index(f"UID:{uid}")
    begin = max(i for i in range(start) if lines[i] == "BEGIN:VEVENT")
    end = next(i for i in range(start, len(lines)) if lines[i] == "END:VEVENT")
    return {line.split(":", 1)[0]: line.split(":", 1)[1] for line in lines[begin + 1:end]}


async def test_a_teachers_calendar_repeats_weekly_in_each_term_in_the_school_zone(rt, monkeypatch):
    monkeypatch.setattr(rt.settings, "school_timezone", ZONE)
    monkeypatch.setattr(rt.settings, "timetable_holidays_country", "AU")
    school = await make_cover_school(rt)
    a, math = school.codes["A"], school.classes["7X-MATH"]
    out = await export(rt, school, "teacher", a)
    assert out.filename == f"timetable-teacher-{a}.ics" and out.events == 6  # 3 lessons a week x 2 terms
    got = events(out.ics)
    monday1 = got[f"lesson-{math}-d0p0-term{_term_id(got, math, 0, 1)}@mcs-erp"]
    start = monday1["dtstart"].dt
    assert start == datetime(2026, 9, 7, 8, 0, tzinfo=start.tzinfo) and str(start.tzinfo) == ZONE
    assert start.astimezone(UTC) == datetime(2026, 9, 6, 22, 0, tzinfo=UTC)  # AEST, +10:00
    assert monday1["dtend"].dt - start == (datetime(2026, 1, 1, 8, 45) - datetime(2026, 1, 1, 8, 0))
    assert monday1["rrule"]["FREQ"] == ["WEEKLY"] and monday1["rrule"]["COUNT"] == [15]  # 7 Sep .. 14 Dec
    assert str(monday1["summary"]) == math and "exdate" not in monday1  # no national holiday on those Mondays
    # Term 2 starts on Wednesday 6 January: its Monday series starts on the 11th; Easter Monday is skipped.
    monday2 = got[f"lesson-{math}-d0p0-term{_term_id(got, math, 0, 2)}@mcs-erp"]
    assert monday2["dtstart"].dt.date() == date(2027, 1, 11) and monday2["rrule"]["COUNT"] == [25]
    skipped = [d.dt.date() for d in monday2["exdate"].dts]
    assert skipped == [date(2027, 3, 29)]
    tuesday2 = got[f"lesson-{math}-d1p0-term{_term_id(got, math, 1, 2)}@mcs-erp"]
    assert date(2027, 1, 26) in [d.dt.date() for d in tuesday2["exdate"].dts]  # Australia Day
    assert "BEGIN:VTIMEZONE" in out.ics and f"TZID:{ZONE}" in out.ics

    # An independent reading of the same event from the raw text.
    raw = raw_event(out.ics, str(monday1["uid"]))
    assert raw[f"DTSTART;TZID={ZONE}"] == "20260907T080000" and raw[f"DTEND;TZID={ZONE}"] == "20260907T084500"
    assert raw["RRULE"] == "FREQ=WEEKLY;COUNT=15" and raw["SUMMARY"] == math

    again = await export(rt, school, "teacher", a.lower())
    assert set(events(again.ics)) == set(got) and again.ics == out.ics  # stable UIDs, same bytes


def _term_id(got: dict, course: str, day: int, number: int) -> int:
    """The term id in the UIDs of `course`'s lesson on `day` period 0, for the term `number` (1 or 2)."""
    ids = sorted(int(uid.split("-term")[1].split("@")[0]) for uid in got if uid.startswith(f"lesson-{course}-d{day}p0"))
    return ids[number - 1]


async def test_covers_show_in_the_teachers_calendars(rt, monkeypatch):
    monkeypatch.setattr(rt.settings, "school_timezone", ZONE)
    school = await make_cover_school(rt)
    a, b, math = school.codes["A"], school.codes["B"], school.classes["7X-MATH"]
    pending = await propose(rt, school, "A", TUESDAY)
    await invoke(rt, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    away = events((await export(rt, school, "teacher", a)).ics)
    tuesday = next(e for uid, e in away.items() if uid.startswith(f"lesson-{math}-d1p0") and
                   e["dtstart"].dt.date() < date(2027, 1, 1))
    assert [d.dt for d in tuesday["exdate"].dts] == [datetime(2026, 9, 8, 8, 0, tzinfo=tuesday["dtstart"].dt.tzinfo)]
    covering = (await export(rt, school, "teacher", b))
    cover = [e for uid, e in events(covering.ics).items() if uid.startswith("cover-")]
    assert len(cover) == 1 and covering.events == 2 * 2 + 1  # B's 2 lessons a week x 2 terms, and the cover
    assert str(cover[0]["summary"]) == f"Cover: {math}" and "rrule" not in cover[0]
    assert cover[0]["dtstart"].dt == datetime(2026, 9, 8, 8, 0, tzinfo=cover[0]["dtstart"].dt.tzinfo)
    # The section's feed replaces that one occurrence of its series (same UID, RECURRENCE-ID) to name the cover.
    section = events_all((await export(rt, school, "section", math.rsplit("-", 1)[0])).ics)
    changed = [e for e in section if "recurrence-id" in e]
    assert len(changed) == 1 and str(changed[0]["summary"]) == f"{math} (cover: {b})"
    when = changed[0]["recurrence-id"].dt
    assert when == datetime(2026, 9, 8, 8, 0, tzinfo=when.tzinfo) and str(when.tzinfo) == ZONE
    series = [e for e in section if str(e["uid"]) == str(changed[0]["uid"]) and "recurrence-id" not in e]
    assert len(series) == 1 and series[0]["rrule"]["COUNT"] == [16]  # 1 Sep .. 15 Dec: the series is unchanged


async def test_section_and_room_calendars_and_bad_input(rt, monkeypatch):
    school = await make_cover_school(rt)
    section = next(iter(events((await export(rt, school, "room", school.rooms[0])).ics).values()))
    assert str(section["location"]) == school.rooms[0]
    curriculum = school.classes["7X-MATH"].rsplit("-", 1)[0]
    got = await export(rt, school, "section", curriculum)
    assert got.events == (3 + 2 + 1) * 2  # 7X: maths 3, science 2, art 1 a week, over 2 terms
    with pytest.raises(NotFound) as info:
        await export(rt, school, "section", "NOPE")
    assert info.value.field == "code"
    with pytest.raises(InvalidInput):
        await invoke(rt, "get_timetable_calendar", {"problem_id": school.problem_id, "kind": "student",
                                                    "code": "x"}, school.viewer)
    whole = await export(rt, school, "section", curriculum)
    part = await invoke(rt, "get_timetable_calendar", {"problem_id": school.problem_id, "kind": "section",
                                                       "code": curriculum, "offset": 10, "max_chars": 20},
                        school.viewer)
    assert part.ics == whole.ics[10:30] and part.next_offset == 30
    with pytest.raises(InvalidInput) as info:
        await invoke(rt, "get_timetable_calendar", {"problem_id": school.problem_id, "kind": "section",
                                                    "code": curriculum, "offset": whole.size}, school.viewer)
    assert info.value.field == "offset"
    monkeypatch.setattr(rt.settings, "school_timezone", "Mars/Olympus")
    with pytest.raises(InvalidInput, match="unknown time zone"):
        await export(rt, school, "room", school.rooms[0])
