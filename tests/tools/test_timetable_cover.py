"""Cover for absent teachers through the tools, on a real database: the proposal waits at the gate, the cover
sheet and a teacher's load read what was published, the weekly cap holds, and bad dates or teachers are refused."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from domain.academics import service as academics
from domain.hr import service as hr
from domain.hr.models import EmploymentType
from domain.kernel.actor import SYSTEM_ACTOR, Actor
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleAction
from domain.timetable import service as timetable
from domain.timetable.problem import Assignment, Solution
from domain.timetable.school import SchoolWeek
from domain.timetable.solver import SolveResult
from tests.factories import make_user, unique
from tools.invoke import invoke

MONDAY, TUESDAY, WEDNESDAY = date(2026, 9, 7), date(2026, 9, 8), date(2026, 9, 9)


@dataclass
class CoverSchool:
    """Five teachers (two of maths, two of science, one of art), two sections and a published timetable:

    - 7X-MATH (A): Monday p0, Tuesday p0, Wednesday p0;  7Y-MATH (B): Monday p0, Tuesday p1;
    - 7X-SCI (C): Monday p1, Tuesday p1;                  7Y-SCI (D): Monday p1, Tuesday p0;
    - 7X-ART (E): Thursday p3."""

    problem_id: int
    codes: dict[str, str]
    ids: dict[str, int]
    classes: dict[str, str]
    rooms: list[str]
    registrar: Actor
    viewer: Actor
    teacher: Actor


async def make_cover_school(rt) -> CoverSchool:
    tag = unique()
    async with rt.db.write() as s:
        dep = await hr.create_department(s, SYSTEM_ACTOR, code=unique("D"), name="Teaching")
        staff = {}
        for name in "ABCDE":
            staff[name] = await hr.create_employee(
                s, SYSTEM_ACTOR, first_name=name, last_name=f"Teacher{tag}", work_email=f"{name}.{tag}@ex.org".lower(),
                position="Teacher", department_id=dep.id, hire_date=date(2020, 1, 6),
                employment_type=EmploymentType.FULL_TIME)
        year = await academics.create_academic_year(s, SYSTEM_ACTOR, code=unique("Y"), name="Cover year",
                                                    start_date=date(2026, 9, 1), end_date=date(2027, 6, 30))
        await academics.create_term(s, SYSTEM_ACTOR, academic_year_id=year.id, number=1, name="Term 1",
                                    start_date=date(2026, 9, 1), end_date=date(2026, 12, 18))
        await academics.create_term(s, SYSTEM_ACTOR, academic_year_id=year.id, number=2, name="Term 2",
                                    start_date=date(2027, 1, 6), end_date=date(2027, 6, 30))
        level = await academics.create_year_level(s, SYSTEM_ACTOR, code=unique("L"), name="Year 7", ordinal=7)
        math = await academics.create_subject(s, SYSTEM_ACTOR, code=unique("M"), name="Maths", weekly_lessons=2)
        sci = await academics.create_subject(s, SYSTEM_ACTOR, code=unique("C"), name="Science", weekly_lessons=2)
        art = await academics.create_subject(s, SYSTEM_ACTOR, code=unique("A"), name="Art", weekly_lessons=1)
        classes = {}
        for letter in "XY":
            section = await academics.create_section(s, SYSTEM_ACTOR, code=unique(f"7{letter}"), name=f"7{letter}",
                                                     year_level_id=level.id, academic_year_id=year.id,
                                                     homeroom_teacher_id=None)
            teachers = {"MATH": "A" if letter == "X" else "B", "SCI": "C" if letter == "X" else "D"}
            for key, subject in (("MATH", math), ("SCI", sci)):
                cls = await academics.create_class(s, SYSTEM_ACTOR, section_id=section.id, subject_id=subject.id,
                                                   teacher_id=staff[teachers[key]].id,
                                                   weekly_lessons=3 if (letter, key) == ("X", "MATH") else None)
                classes[f"7{letter}-{key}"] = cls.code
            if letter == "X":
                cls = await academics.create_class(s, SYSTEM_ACTOR, section_id=section.id, subject_id=art.id,
                                                   teacher_id=staff["E"].id)
                classes["7X-ART"] = cls.code
        for code in ("RA", "RB", "RC"):
            await timetable.create_room(s, code=unique(code), name="Classroom", capacity=30)
        row, problem = await timetable.build_school_problem(
            s, academic_year_id=year.id, week=SchoolWeek(days=5, periods_per_day=4), teacher_max_periods_per_day=None,
            teacher_absences=[])
        room = sorted(r.id for r in problem.rooms)[0]
        other = sorted(r.id for r in problem.rooms)[1]
        c = classes
        placed = [(c["7X-MATH"], room, 0, 0), (c["7X-MATH"], room, 1, 0), (c["7X-MATH"], room, 2, 0),
                  (c["7Y-MATH"], other, 0, 0), (c["7Y-MATH"], other, 1, 1),
                  (c["7X-SCI"], room, 0, 1), (c["7X-SCI"], room, 1, 1),
                  (c["7Y-SCI"], other, 0, 1), (c["7Y-SCI"], other, 1, 0), (c["7X-ART"], room, 3, 3)]
        solution = Solution(tuple(Assignment(*a) for a in placed))
        sol = await timetable.save_solution(s, problem_row=row, result=SolveResult(
            status="feasible", solution=solution, score=None, seconds=0.0, progress=()))
        assert sol.hard_violations == 0
        await timetable.publish(s, solution_id=sol.id)
        registrar = await make_user(s, roles="registrar")
        viewer = await make_user(s, roles="viewer")
        teacher = await make_user(s, roles="teacher", employee_id=staff["A"].id)
    return CoverSchool(problem_id=row.id, codes={k: e.code for k, e in staff.items()},
                       ids={k: e.id for k, e in staff.items()}, classes=classes, rooms=[room, other], registrar=registrar, viewer=viewer,
                       teacher=teacher)


async def propose(rt, school: CoverSchool, teacher: str, start: date, end: date | None = None):
    args = {"problem_id": school.problem_id, "teacher": school.codes[teacher], "start_date": start.isoformat()}
    if end is not None:
        args["end_date"] = end.isoformat()
    return await invoke(rt, "publish_cover", args, school.registrar)


async def sheet(rt, school: CoverSchool, on: date) -> dict[tuple[int, str], tuple[str, str | None, str]]:
    """The day's cover of this school's classes: {(period, class): (kind, cover teacher, room)}."""
    mine = set(school.classes.values())
    out = await invoke(rt, "get_cover_sheet", {"date": on.isoformat(), "limit": 100}, school.viewer)
    return {(r.period, r.course): (r.kind, r.cover_teacher, r.room) for r in out.items if r.course in mine}


async def test_cover_is_proposed_at_the_gate_then_published_and_counted(rt):
    school = await make_cover_school(rt)
    codes, c = school.codes, school.classes
    pending = await propose(rt, school, "A", MONDAY, TUESDAY)
    assert pending.status == "proposed"
    assert pending.preview["counts"] == {"teacher": 1, "study": 1, "uncovered": 0}
    lessons = {(x["date"], x["class"]): x for x in pending.preview["lessons"]}
    # Monday p0: the other maths teacher (B) teaches then: a study period supervised by a free teacher (not B).
    monday = lessons[(MONDAY.isoformat(), c["7X-MATH"])]
    assert monday["kind"] == "study" and monday["cover"] in {codes["C"], codes["D"], codes["E"]}
    assert monday["time"] == "08:00-08:45" and monday["absent"] == codes["A"]
    # Tuesday p0: B is free then and teaches maths.
    assert lessons[(TUESDAY.isoformat(), c["7X-MATH"])]["cover"] == codes["B"]
    assert await sheet(rt, school, TUESDAY) == {}  # nothing is written before the confirmation

    done = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    assert done.status == "executed" and done.result["rows"] == 2
    assert await sheet(rt, school, TUESDAY) == {(0, c["7X-MATH"]): ("teacher", codes["B"], school.rooms[0])}
    load = await invoke(rt, "get_cover_load", {"problem_id": school.problem_id, "teacher": school.ids["B"],
                                               "date": WEDNESDAY.isoformat()}, school.viewer)
    assert (load.week_start, load.week_covers, load.term, load.term_covers, load.max_covers_per_week) == \
        (MONDAY, 1, "Term 1", 1, 3)
    later = await invoke(rt, "get_cover_load", {"problem_id": school.problem_id, "teacher": codes["B"].lower(),
                                                "date": "2026-09-14"}, school.viewer)
    assert (later.week_covers, later.term_covers) == (0, 1)
    outside = await invoke(rt, "get_cover_load", {"problem_id": school.problem_id, "teacher": codes["B"],
                                                  "date": "2026-12-25"}, school.viewer)
    assert (outside.term, outside.term_covers, outside.week_covers) == (None, None, 0)

    # The same absence again: every lesson is covered already.
    with pytest.raises(Conflict, match="already covered"):
        await propose(rt, school, "A", MONDAY, TUESDAY)


async def test_the_weekly_cap_is_never_exceeded(rt, monkeypatch):
    school = await make_cover_school(rt)
    codes, c = school.codes, school.classes
    # With the default cap (3), B covers both of A's lessons on Tuesday and Wednesday.
    wide = await propose(rt, school, "A", TUESDAY, WEDNESDAY)
    assert [x["cover"] for x in wide.preview["lessons"]] == [codes["B"], codes["B"]]
    await invoke(rt, "cancel_action", {"action_id": wide.action_id}, school.registrar)
    # With a cap of 1 a week, Wednesday's lesson goes to a study period: B already covers Tuesday's.
    monkeypatch.setattr(rt.settings, "cover_max_per_week", 1)
    capped = await propose(rt, school, "A", TUESDAY, WEDNESDAY)
    kinds = [(x["date"], x["kind"], x["cover"]) for x in capped.preview["lessons"]]
    assert kinds[0] == (TUESDAY.isoformat(), "teacher", codes["B"])
    assert kinds[1][:2] == (WEDNESDAY.isoformat(), "study") and kinds[1][2] not in (codes["A"], codes["B"])
    assert capped.preview["max_covers_per_week"] == 1
    await invoke(rt, "confirm_action", {"action_id": capped.action_id}, school.registrar)
    load = await invoke(rt, "get_cover_load", {"problem_id": school.problem_id, "teacher": codes["B"],
                                               "date": TUESDAY.isoformat()}, school.viewer)
    assert load.week_covers == 1 and load.max_covers_per_week == 1
    assert c["7X-MATH"] in {course for _, course in await sheet(rt, school, WEDNESDAY)}


async def test_an_absent_cover_teacher_is_replaced_and_a_stale_proposal_refused(rt):
    school = await make_cover_school(rt)
    codes, c = school.codes, school.classes
    first = await propose(rt, school, "A", TUESDAY)
    await invoke(rt, "confirm_action", {"action_id": first.action_id}, school.registrar)
    assert (await sheet(rt, school, TUESDAY))[(0, c["7X-MATH"])][1] == codes["B"]

    # B is now away on Tuesday: B's own lesson and the cover B was to give both need someone.
    pending = await propose(rt, school, "B", TUESDAY)
    assert pending.preview["replaced"] == 1 and pending.preview["counts"]["teacher"] == 0
    stale = await propose(rt, school, "C", TUESDAY)  # C's lesson, planned before B's cover is published
    await invoke(rt, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    day = await sheet(rt, school, TUESDAY)
    # A's and B's maths: no maths teacher left, so study periods; nobody covers twice in one period.
    assert day[(0, c["7X-MATH"])][0] == "study" and day[(1, c["7Y-MATH"])][0] == "study"
    assert day[(0, c["7X-MATH"])][1] not in (codes["A"], codes["B"], codes["D"])  # D teaches Tuesday p0
    assert day[(1, c["7Y-MATH"])][1] not in (codes["A"], codes["B"], codes["C"])  # C teaches Tuesday p1
    with pytest.raises(StaleAction):
        await invoke(rt, "confirm_action", {"action_id": stale.action_id}, school.registrar)
    again = await propose(rt, school, "C", TUESDAY)
    await invoke(rt, "confirm_action", {"action_id": again.action_id}, school.registrar)
    day = await sheet(rt, school, TUESDAY)
    supervisor = day[(1, c["7Y-MATH"])][1]
    kind, who, _ = day[(1, c["7X-SCI"])]
    assert who not in (codes["A"], codes["B"], codes["C"], supervisor)
    assert (kind == "teacher") == (who == codes["D"])  # only D teaches science; D may be supervising already
    covering = [(period, teacher) for (period, _), (_, teacher, _) in day.items() if teacher]
    assert len(covering) == len(set(covering))  # no teacher twice in one period


async def test_public_holidays_need_no_cover(rt, monkeypatch):
    school = await make_cover_school(rt)
    australia_day = date(2027, 1, 26)  # a Tuesday of Term 2
    plain = await propose(rt, school, "A", australia_day)
    assert plain.preview["counts"]["teacher"] == 1  # no holidays known: Tuesday's lesson needs cover
    await invoke(rt, "cancel_action", {"action_id": plain.action_id}, school.registrar)
    monkeypatch.setattr(rt.settings, "timetable_holidays_country", "AU")
    with pytest.raises(InvalidInput, match="2027-01-26 is a public holiday \\(Australia Day\\)"):
        await propose(rt, school, "A", australia_day)
    week = await propose(rt, school, "A", date(2027, 1, 25), date(2027, 1, 27))
    assert [x["date"] for x in week.preview["lessons"]] == ["2027-01-25", "2027-01-27"]


async def test_bad_dates_and_teachers_are_refused(rt):
    school = await make_cover_school(rt)
    with pytest.raises(InvalidInput, match="is outside the terms") as info:
        await propose(rt, school, "A", date(2026, 12, 21))
    assert info.value.field == "start_date" and "Term 1 2026-09-01..2026-12-18" in info.value.message
    with pytest.raises(InvalidInput, match="2026-12-19 is outside the terms") as info:
        await propose(rt, school, "A", date(2026, 12, 14), date(2026, 12, 22))
    assert info.value.field == "end_date"
    with pytest.raises(InvalidInput, match="at most 31 days"):
        await propose(rt, school, "A", date(2026, 9, 1), date(2026, 10, 2))  # 32 days
    with pytest.raises(InvalidInput, match="is before start_date"):
        await propose(rt, school, "A", TUESDAY, MONDAY)
    with pytest.raises(InvalidInput, match="has no lessons from") as info:
        await propose(rt, school, "D", WEDNESDAY)  # D teaches on Monday and Tuesday only
    assert "teaching days: monday, tuesday" in info.value.message
    with pytest.raises(NotFound) as info:
        await invoke(rt, "publish_cover", {"problem_id": school.problem_id, "teacher": "E9999999",
                                           "start_date": MONDAY.isoformat()}, school.registrar)
    assert info.value.field == "teacher"
    with pytest.raises(PermissionDenied):
        await invoke(rt, "publish_cover", {"problem_id": school.problem_id, "teacher": school.codes["A"],
                                           "start_date": MONDAY.isoformat()}, school.teacher)
    with pytest.raises(InvalidInput):
        await invoke(rt, "get_cover_sheet", {"date": "2026-02-30"}, school.viewer)
