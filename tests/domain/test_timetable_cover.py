"""Cover rules (domain.timetable.cover) with plain values: random absences never double-book a teacher or a room,
never exceed the weekly cap, cover only with qualified teachers, decide every lesson once, and are deterministic."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.timetable.cover import Booking, CoverKind, CoverNeed, CoverState, assign_cover, week_of

MONDAY = date(2026, 9, 7)
SUBJECTS = ("MATH", "SCI", "ART")


def _state(data: st.DataObject, needs_out: list[CoverNeed]) -> CoverState:
    """A random school: 3..8 teachers, each teaching some (weekday, period) slots and qualified in some subjects,
    2..5 rooms, absences of 1..3 teachers over 1..10 days, and existing covers and loads."""
    teachers = [f"T{i}" for i in range(data.draw(st.integers(3, 8)))]
    slots = [(d, p) for d in range(5) for p in range(4)]
    teaching: dict[tuple[int, int], set[str]] = {s: set() for s in slots}
    lessons: dict[str, list[tuple[int, int, str]]] = {t: [] for t in teachers}
    qualified: dict[str, set[str]] = {s: set() for s in SUBJECTS}
    rooms = {f"R{i}": data.draw(st.integers(5, 40)) for i in range(data.draw(st.integers(2, 5)))}
    rooms_used: dict[tuple[int, int], set[str]] = {s: set() for s in slots}
    for t in teachers:
        subjects = data.draw(st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=2, unique=True))
        for s in subjects:
            qualified[s].add(t)
        for slot in data.draw(st.lists(st.sampled_from(slots), max_size=8, unique=True)):
            free_rooms = sorted(set(rooms) - rooms_used[slot])
            if not free_rooms:
                continue
            room = free_rooms[0]
            rooms_used[slot].add(room)
            teaching[slot].add(t)
            lessons[t].append((slot[0], slot[1], data.draw(st.sampled_from(subjects))))
    days = [MONDAY + timedelta(days=i) for i in range(data.draw(st.integers(1, 10)))]
    away = data.draw(st.lists(st.sampled_from(teachers), min_size=1, max_size=3, unique=True))
    absent = {d: frozenset(away) for d in days}
    for t in away:
        for d in days:
            for wd, period, subject in lessons[t]:
                if d.weekday() == wd:
                    needs_out.append(CoverNeed(on=d, period=period, course_id=f"{t}-{subject}-{wd}{period}",
                                               room_id="R0", absent_teacher=t, subject=subject,
                                               students=data.draw(st.integers(0, 45))))
    cap = data.draw(st.integers(1, 4))
    week_load = Counter({(t, week_of(MONDAY)): data.draw(st.integers(0, cap)) for t in teachers})
    bookings = [Booking(d, data.draw(st.integers(0, 3)), data.draw(st.sampled_from(teachers)), None)
                for d in days[:2]]
    return CoverState(teachers=frozenset(teachers), qualified={k: frozenset(v) for k, v in qualified.items()},
                      teaching={k: frozenset(v) for k, v in teaching.items()}, rooms=rooms,
                      rooms_used={k: frozenset(v) for k, v in rooms_used.items()}, absent=absent,
                      term_of={d: 1 for d in days}, max_per_week=cap, bookings=bookings, week_load=week_load,
                      term_load=Counter({(t, 1): data.draw(st.integers(0, 9)) for t in teachers}))


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_random_absences_keep_every_rule(data):
    needs: list[CoverNeed] = []
    state = _state(data, needs)
    decisions = assign_cover(needs, state)
    assert [d.need for d in decisions] == sorted(needs, key=lambda n: (n.on, n.period, n.course_id))
    taken = Counter()
    study_rooms = Counter()
    week = Counter(state.week_load)
    booked = {(b.on, b.period, b.teacher) for b in state.bookings}
    for d in decisions:
        n = d.need
        if d.kind == CoverKind.UNCOVERED:
            assert d.teacher is None and d.study_room is None and d.reason
            continue
        assert d.teacher is not None
        assert d.teacher not in state.absent[n.on] and d.teacher not in state.teaching[(n.on.weekday(), n.period)]
        assert (n.on, n.period, d.teacher) not in booked
        taken[(n.on, n.period, d.teacher)] += 1
        week[(d.teacher, week_of(n.on))] += 1
        if d.kind == CoverKind.TEACHER:
            assert d.teacher in state.qualified[n.subject]
        else:
            room = d.study_room
            assert room is not None and room not in state.rooms_used[(n.on.weekday(), n.period)]
            assert state.rooms[room] >= n.students
            study_rooms[(n.on, n.period, room)] += 1
    assert all(v == 1 for v in taken.values()), "a teacher is double-booked"
    assert all(v == 1 for v in study_rooms.values()), "a room holds two study periods"
    added = {k for k in week if week[k] != state.week_load[k]}
    assert all(week[k] <= state.max_per_week for k in added), "the weekly cap is exceeded"
    shuffled = list(needs)
    random.Random(len(needs)).shuffle(shuffled)
    assert assign_cover(shuffled, state) == decisions  # the order of the input does not matter
    assert state.week_load == Counter(state.week_load)  # the state is not changed


def _simple_state(**overrides) -> CoverState:
    base = dict(teachers=frozenset({"A", "B", "C", "D"}), qualified={"MATH": frozenset({"A", "B", "C"})},
                teaching={}, rooms={"R1": 30, "R2": 20}, rooms_used={(0, 0): frozenset({"R1"})},
                absent={MONDAY: frozenset({"A"})}, term_of={MONDAY: 1}, max_per_week=2)
    base.update(overrides)
    return CoverState(**base)  # type: ignore[arg-type]


def _need(period: int = 0, students: int = 25, subject: str | None = "MATH") -> CoverNeed:
    return CoverNeed(on=MONDAY, period=period, course_id=f"7A-MATH-{period}", room_id="R1", absent_teacher="A",
                     subject=subject, students=students)


def test_the_fewest_covers_this_term_go_first_then_the_code():
    state = _simple_state(term_load=Counter({("B", 1): 4, ("C", 1): 1}))
    assert [d.teacher for d in assign_cover([_need(0), _need(1), _need(2)], state)] == ["C", "C", "B"]
    # C reaches the weekly cap of 2 after two covers: the third goes to B although B has more this term.
    even = _simple_state()
    assert [d.teacher for d in assign_cover([_need(0), _need(1)], even)] == ["B", "C"]


def test_a_study_period_takes_the_smallest_free_room_that_seats_the_class_else_uncovered():
    nobody = _simple_state(qualified={"MATH": frozenset()})
    study = assign_cover([_need(0, students=15)], nobody)[0]
    assert (study.kind, study.study_room, study.teacher) == (CoverKind.STUDY, "R2", "B")  # R1 is in use then
    too_big = assign_cover([_need(0, students=25)], nobody)[0]
    assert too_big.kind == CoverKind.UNCOVERED and "no free room seats its 25 students" in (too_big.reason or "")
    busy = _simple_state(qualified={"MATH": frozenset()}, teaching={(0, 0): frozenset({"B", "C", "D"})})
    alone = assign_cover([_need(0, students=5)], busy)[0]
    assert alone.kind == CoverKind.UNCOVERED and "no teacher is free to supervise" in (alone.reason or "")
    unknown = assign_cover([_need(0, students=5, subject=None)], _simple_state())[0]
    assert unknown.kind == CoverKind.STUDY  # a class without a subject (an imported problem): no qualified teacher
