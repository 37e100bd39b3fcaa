"""A published timetable as an iCalendar feed (RFC 5545, written with the `icalendar` package): one weekly
recurring event per lesson and term, in the school's time zone.

Rules:
- each lesson (a weekday and period of the published timetable) repeats weekly (RRULE FREQ=WEEKLY;COUNT=n) from
  its first weekday on or after the term's first day to the term's last day: the weeks between terms have none;
- its public holidays (and, in a teacher's feed, the dates the teacher is away and covered) are EXDATEs;
- in a teacher's feed, each lesson the teacher covers is a single event (cover changes included); in a section's
  feed, a covered lesson's occurrence is replaced (RECURRENCE-ID, the series' UID) by one naming who takes it and
  where;
- times are local times of the school's time zone (TZID, with its VTIMEZONE), as the period times say;
- UIDs name the lesson, not the export: `lesson-<class>-d<day>p<period>-term<id>@<domain>` and
  `cover-<id>@<domain>`, so a calendar app that refreshes the feed updates its events instead of adding copies;
  DTSTAMP is the publication's time, so the same timetable exports the same bytes.
Pure: the caller gathers the lessons, terms, holidays and covers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from domain.kernel.errors import InvalidInput
from domain.timetable.rules import Lesson

UID_DOMAIN = "mcs-erp"
PRODID = "-//mcs-erp//timetable//EN"


@dataclass(frozen=True)
class FeedTerm:
    """A term the lessons repeat in: id, name, first and last day."""

    id: int
    name: str
    start: date
    end: date


class CoverView(StrEnum):
    """How a feed shows a published cover: the covering teacher's own event, the absent teacher's removed
    occurrence, or the section's occurrence changed to name the cover."""

    GIVEN = "given"
    AWAY = "away"
    CHANGED = "changed"


@dataclass(frozen=True)
class FeedCover:
    """A published cover as one feed shows it (`view`); `cover_teacher` None means the lesson is uncovered."""

    id: int
    on: date
    period: int
    course_id: str
    room: str
    absent_teacher: str
    view: CoverView
    cover_teacher: str | None = None


def _times(period_times: tuple[str, ...], period: int) -> tuple[time, time]:
    if period >= len(period_times):
        raise InvalidInput("this timetable has no period times (an imported problem): a calendar needs them",
                           field="problem_id")
    start, end = period_times[period].split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def _first_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def timetable_calendar(*, name: str, lessons: Iterable[Lesson], period_times: tuple[str, ...],
                       terms: Iterable[FeedTerm], timezone: str, holidays: Mapping[date, str],
                       covers: Iterable[FeedCover] = (), stamp: datetime) -> bytes:
    """Return the iCalendar text (bytes, CRLF lines) of `lessons` over `terms` (see the module docstring).

    `stamp` is the DTSTAMP of every event (a UTC datetime: the publication's). Raises InvalidInput for an unknown
    time zone or a timetable without period times."""
    from icalendar import Calendar, Event  # imported here: only feeds need it

    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise InvalidInput(f"unknown time zone {timezone!r} (MCS_ERP_SCHOOL_TIMEZONE): use an IANA name such as "
                           "Australia/Melbourne", field="school_timezone") from None
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", timezone)
    away = {(c.on, c.period, c.course_id) for c in covers if c.view == CoverView.AWAY}
    changed = {(c.on, c.period, c.course_id): c for c in covers if c.view == CoverView.CHANGED}
    for lesson in lessons:
        begin, finish = _times(period_times, lesson.period)
        for term in sorted(terms, key=lambda t: t.start):
            first = _first_on_or_after(term.start, lesson.day)
            if first > term.end:
                continue
            count = (term.end - first).days // 7 + 1
            dates = [first + timedelta(weeks=w) for w in range(count)]
            skipped = [d for d in dates if d in holidays or (d, lesson.period, lesson.course_id) in away]
            event = Event()
            event.add("uid", f"lesson-{lesson.course_id}-d{lesson.day}p{lesson.period}-term{term.id}@{UID_DOMAIN}")
            event.add("dtstamp", stamp)
            event.add("dtstart", datetime.combine(first, begin, zone))
            event.add("dtend", datetime.combine(first, finish, zone))
            event.add("rrule", {"freq": "weekly", "count": count})
            if skipped:
                event.add("exdate", [datetime.combine(d, begin, zone) for d in skipped])
            event.add("summary", lesson.course_id)
            event.add("location", lesson.room_id)
            event.add("description", f"Teacher: {lesson.teacher}. {term.name}.")
            cal.add_component(event)
            for d in dates:
                cover = changed.get((d, lesson.period, lesson.course_id))
                if cover is None or d in holidays:
                    continue
                moved = Event()
                moved.add("uid", event["uid"])
                moved.add("recurrence-id", datetime.combine(d, begin, zone))
                moved.add("dtstamp", stamp)
                moved.add("dtstart", datetime.combine(d, begin, zone))
                moved.add("dtend", datetime.combine(d, finish, zone))
                moved.add("summary", f"{lesson.course_id} (cover: {cover.cover_teacher or 'none'})")
                moved.add("location", cover.room)
                moved.add("description", f"{lesson.teacher} is away; "
                                         + (f"{cover.cover_teacher} takes the lesson." if cover.cover_teacher
                                            else "no cover was found."))
                cal.add_component(moved)
    for cover in sorted((c for c in covers if c.view == CoverView.GIVEN), key=lambda c: (c.on, c.period, c.id)):
        begin, finish = _times(period_times, cover.period)
        event = Event()
        event.add("uid", f"cover-{cover.id}@{UID_DOMAIN}")
        event.add("dtstamp", stamp)
        event.add("dtstart", datetime.combine(cover.on, begin, zone))
        event.add("dtend", datetime.combine(cover.on, finish, zone))
        event.add("summary", f"Cover: {cover.course_id}")
        event.add("location", cover.room)
        event.add("description", f"Covering {cover.absent_teacher}.")
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
