"""Cover for absent teachers: who takes each lesson of a teacher who is away, decided by pure rules.

Names: a *need* is one lesson of an absent teacher on one date (its period, class, room, subject and students);
a *cover* is a teacher who takes it, a *study period* puts the class in a free room with a *supervisor*, and a
lesson with neither is *uncovered* (reported, never dropped). Days are dates; `period` counts from 0.

The rules, in order, for each need (needs taken by date, period, class code and room: the same inputs give the
same answer):
1. a qualified free teacher: qualified = teaches a class of the lesson's subject this academic year; free = not
   absent that date, no lesson of their own in that weekday's period of the published timetable, no other cover or
   supervision in that period that date, and fewer than `max_per_week` covers in that date's week (Monday to
   Sunday): the weekly cap is never exceeded;
2. else a study period: the smallest free room (no lesson, no other study period then) that seats the class, with
   a free supervisor (any teacher, free as above);
3. else uncovered, with the reason.
Among candidates the fairest goes first: fewest covers this term, then fewest this week, then the teacher code
(Gibbon's Staff Coverage orders its cover list the same way, by the term's covers). A supervision counts as a
cover: it is a period the teacher gives up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum


class CoverKind(StrEnum):
    """How a lesson of an absent teacher is taken: by a teacher, as a supervised study period, or not at all."""

    TEACHER = "teacher"
    STUDY = "study"
    UNCOVERED = "uncovered"


@dataclass(frozen=True)
class CoverNeed:
    """One lesson to cover: `absent_teacher`'s class `course_id` in `room_id`, period `period` of date `on`.

    `subject` is the class's subject code (None when the timetable was not built from the school's classes: only
    a study period can take it); `replaces` is the id of a published cover row this need replaces (the covering
    teacher is now absent, or the lesson was left uncovered), else None."""

    on: date
    period: int
    course_id: str
    room_id: str
    absent_teacher: str
    subject: str | None
    students: int
    replaces: int | None = None


@dataclass(frozen=True)
class Booking:
    """A published cover that takes a teacher (`teacher`) and possibly a room (`room`, a study period's) in period
    `period` of date `on`."""

    on: date
    period: int
    teacher: str | None
    room: str | None


@dataclass(frozen=True)
class CoverDecision:
    """The answer for one need: its kind, the covering or supervising teacher, the study room, and why it is
    uncovered when it is."""

    need: CoverNeed
    kind: CoverKind
    teacher: str | None = None
    study_room: str | None = None
    reason: str | None = None


@dataclass
class CoverState:
    """What the rules read: the timetable's teachers and rooms, who teaches and which rooms are used in each
    (weekday, period) of the published timetable, who is absent on each date, the published covers (`bookings`),
    each teacher's covers by week (Monday) and by term, and the weekly cap."""

    teachers: frozenset[str]
    qualified: Mapping[str, frozenset[str]]
    teaching: Mapping[tuple[int, int], frozenset[str]]
    rooms: Mapping[str, int]
    rooms_used: Mapping[tuple[int, int], frozenset[str]]
    absent: Mapping[date, frozenset[str]]
    term_of: Mapping[date, int]
    max_per_week: int
    bookings: Iterable[Booking] = ()
    week_load: Counter[tuple[str, date]] = field(default_factory=Counter)
    term_load: Counter[tuple[str, int]] = field(default_factory=Counter)


def week_of(day: date) -> date:
    """Return the Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def assign_cover(needs: Iterable[CoverNeed], state: CoverState) -> list[CoverDecision]:
    """Decide every need by the module's rules; return one decision per need, in the order the needs are taken.

    `state` is not changed: the loads and bookings the decisions add are counted on copies."""
    week_load = Counter(state.week_load)
    term_load = Counter(state.term_load)
    busy = {(b.on, b.period, b.teacher) for b in state.bookings if b.teacher}
    rooms_taken = {(b.on, b.period, b.room) for b in state.bookings if b.room}
    out: list[CoverDecision] = []
    for need in sorted(needs, key=lambda n: (n.on, n.period, n.course_id, n.room_id)):
        slot = (need.on.weekday(), need.period)
        monday, term = week_of(need.on), state.term_of.get(need.on, 0)

        def free(teacher: str) -> bool:
            return (teacher not in state.absent.get(need.on, frozenset()) and teacher != need.absent_teacher
                    and teacher not in state.teaching.get(slot, frozenset())
                    and (need.on, need.period, teacher) not in busy
                    and week_load[(teacher, monday)] < state.max_per_week)

        def fairest(pool: Iterable[str]) -> str | None:
            ranked = sorted((term_load[(t, term)], week_load[(t, monday)], t) for t in pool if free(t))
            return ranked[0][2] if ranked else None

        qualified = state.qualified.get(need.subject, frozenset()) if need.subject else frozenset()
        teacher = fairest(qualified & state.teachers)
        decision: CoverDecision
        if teacher is not None:
            decision = CoverDecision(need, CoverKind.TEACHER, teacher=teacher)
        else:
            used = state.rooms_used.get(slot, frozenset())
            rooms = sorted((cap, r) for r, cap in state.rooms.items()
                           if r not in used and (need.on, need.period, r) not in rooms_taken and cap >= need.students)
            supervisor = fairest(state.teachers) if rooms else None
            if rooms and supervisor is not None:
                decision = CoverDecision(need, CoverKind.STUDY, teacher=supervisor, study_room=rooms[0][1])
                rooms_taken.add((need.on, need.period, rooms[0][1]))
            else:
                why = ("no qualified teacher is free" if need.subject else "the class has no subject")
                why += (", and no teacher is free to supervise a study period" if rooms else
                        f", and no free room seats its {need.students} students")
                decision = CoverDecision(need, CoverKind.UNCOVERED, reason=why)
        if decision.teacher is not None:
            busy.add((need.on, need.period, decision.teacher))
            week_load[(decision.teacher, monday)] += 1
            term_load[(decision.teacher, term)] += 1
        out.append(decision)
    return out
