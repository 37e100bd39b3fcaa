"""Attendance through tools.invoke on a real database: registers, scope, date rules, corrections, rates.

The school of `make_school` has the academic year 2026-09-01..2027-06-30 and one section whose homeroom
teacher (`teacher`) teaches its maths class while `other_teacher` teaches its science class. "Today" is pinned
with the `today` fixture (the school's date comes from domain.academics.attendance.utcnow).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlmodel import select

from domain.academics import attendance
from domain.academics import service as academics
from domain.academics.attendance_models import AttendanceRecord
from domain.academics.models import Section
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.audit import AuditEntry
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied, StaleAction
from tests.factories import make_school, unique
from tools.invoke import invoke

TODAY = date(2026, 10, 14)  # a Wednesday of the factory's academic year
YESTERDAY = date(2026, 10, 13)


@pytest.fixture
def today(monkeypatch):
    """Pin the school's date (the clock the attendance rules read) to TODAY; call it to move the day."""

    def set_today(day: date) -> None:
        monkeypatch.setattr(attendance, "utcnow", lambda: datetime.combine(day, time(9, 0), tzinfo=UTC))

    set_today(TODAY)
    return set_today


def _entries(student_ids, statuses, notes=None):
    notes = notes or [None] * len(student_ids)
    return [{"student_id": sid, "status": st, **({"note": n} if n else {})}
            for sid, st, n in zip(student_ids, statuses, notes, strict=True)]


async def _take(runtime, school, actor, day, student_ids, statuses, notes=None):
    return await invoke(runtime, "take_attendance", {"section_id": school.section_id, "date": day.isoformat(),
                                                     "entries": _entries(student_ids, statuses, notes)}, actor)


async def _records(runtime, student_ids) -> dict[tuple[int, date], AttendanceRecord]:
    async with runtime.db.read() as s:
        rows = (await s.exec(select(AttendanceRecord).where(
            AttendanceRecord.student_id.in_(student_ids)))).all()  # type: ignore[attr-defined]
        return {(r.student_id, r.on_date): r for r in rows}


# ---------------------------------------------------------------- taking the register


async def test_teacher_takes_todays_register_and_reads_it_back(runtime, today):
    school = await make_school(runtime, students=4)
    ids = school.student_ids
    out = await _take(runtime, school, school.teacher, TODAY, ids, ["present", "absent", "late", "excused"],
                      [None, None, "arrived 09:20", "dentist"])
    assert (out.created, out.updated, out.unchanged) == (4, 0, 0)
    assert (out.counts.present, out.counts.absent, out.counts.late, out.counts.excused) == (1, 1, 1, 1)
    # Only the entries not marked present come back (the caller sent the rest), each with its new record.
    assert [(line.student_id, line.status) for line in out.exceptions] == [
        (ids[1], "absent"), (ids[2], "late"), (ids[3], "excused")]
    assert [line.note for line in out.exceptions] == [None, "arrived 09:20", "dentist"]
    assert all(line.version == 1 and line.outcome == "created" for line in out.exceptions)

    register = await invoke(runtime, "get_attendance_register", {"section_id": school.section_id,
                                                                 "date": TODAY.isoformat()}, school.teacher)
    assert register.taken is True
    assert [s.student_id for s in register.students] == ids
    assert [s.status for s in register.students] == ["present", "absent", "late", "excused"]
    counts = register.counts
    assert (counts.present, counts.absent, counts.late, counts.excused, counts.not_taken) == (1, 1, 1, 1, 0)
    assert "date_of_birth" not in register.model_dump_json()  # no personal data on a register
    assert register.students[0].student_code.startswith("S") and register.students[0].student_name

    records = await _records(runtime, ids)
    assert [line.record_id for line in out.exceptions] == [records[(sid, TODAY)].id for sid in ids[1:]]
    async with runtime.db.read() as s:
        audit = (await s.exec(select(AuditEntry).where(AuditEntry.tool == "take_attendance",
                                                       AuditEntry.actor_id == school.teacher.id))).all()
    assert records[(ids[0], TODAY)].recorded_by == school.teacher.id
    assert [(a.event, a.channel) for a in audit] == [("write", "mcp-stdio")], "one audit row for the one write"


async def test_register_not_taken_shows_every_student_with_no_status(runtime, today):
    school = await make_school(runtime, students=3)
    await _take(runtime, school, school.teacher, TODAY, school.student_ids[:1], ["late"])
    register = await invoke(runtime, "get_attendance_register", {"section_id": school.section_id,
                                                                 "date": TODAY.isoformat()}, school.registrar)
    assert [s.status for s in register.students] == ["late", None, None]
    assert register.counts.not_taken == 2 and register.counts.late == 1
    empty = await invoke(runtime, "get_attendance_register", {"section_id": school.section_id,
                                                              "date": YESTERDAY.isoformat()}, school.registrar)
    assert empty.taken is False and empty.counts.not_taken == 3


async def test_retaking_todays_register_updates_it(runtime, today):
    school = await make_school(runtime, students=3)
    ids = school.student_ids
    await _take(runtime, school, school.teacher, TODAY, ids, ["present", "present", "absent"])
    again = await _take(runtime, school, school.other_teacher, TODAY, ids, ["present", "late", "absent"],
                        [None, "bus was late", None])
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2)
    # The line that changed (now late) and the absent one, left unchanged; the unchanged present one is counted.
    assert [(line.student_id, line.status, line.outcome, line.version) for line in again.exceptions] == [
        (ids[1], "late", "updated", 2), (ids[2], "absent", "unchanged", 1)]
    assert (again.counts.present, again.counts.late, again.counts.absent) == (1, 1, 1)
    records = await _records(runtime, ids)
    changed = records[(ids[1], TODAY)]
    assert changed.status == "late" and changed.note == "bus was late" and changed.version == 2
    assert changed.recorded_by == school.other_teacher.id
    assert records[(ids[0], TODAY)].version == 1
    assert len(records) == 3


async def test_a_past_day_takes_missing_records_but_refuses_overwrites(runtime, today):
    school = await make_school(runtime, students=3)
    ids = school.student_ids
    late_register = await _take(runtime, school, school.teacher, YESTERDAY, ids[:2], ["present", "absent"])
    assert late_register.created == 2
    with pytest.raises(Conflict) as info:
        await _take(runtime, school, school.teacher, YESTERDAY, [ids[2], ids[1]], ["present", "present"])
    assert "correct_attendance" in info.value.message and info.value.field == "entries"
    records = await _records(runtime, ids)
    assert records[(ids[1], YESTERDAY)].status == "absent"
    assert (ids[2], YESTERDAY) not in records, "the refused call wrote nothing, not even the new record"
    # Re-sending what the register says plus the missing student adds only that student.
    out = await _take(runtime, school, school.teacher, YESTERDAY, ids, ["present", "absent", "late"])
    assert (out.created, out.updated, out.unchanged) == (1, 0, 2)
    after = await _records(runtime, ids)
    assert after[(ids[2], YESTERDAY)].status == "late"
    assert [(line.student_id, line.outcome, line.record_id) for line in out.exceptions] == [
        (ids[1], "unchanged", after[(ids[1], YESTERDAY)].id), (ids[2], "created", after[(ids[2], YESTERDAY)].id)]


async def test_an_all_present_register_answers_with_counts_only(runtime, today):
    school = await make_school(runtime, students=5)
    ids = list(reversed(school.student_ids))  # not in id order: each new record is matched to its own entry
    out = await _take(runtime, school, school.teacher, TODAY, ids, ["present"] * 5)
    assert (out.created, out.counts.present, out.counts.absent, out.exceptions) == (5, 5, 0, [])
    again = await _take(runtime, school, school.teacher, TODAY, ids, ["present", "present", "absent", "present",
                                                                      "late"])
    records = await _records(runtime, ids)
    assert [(line.student_id, line.status, line.record_id) for line in again.exceptions] == [
        (ids[2], "absent", records[(ids[2], TODAY)].id), (ids[4], "late", records[(ids[4], TODAY)].id)]
    assert len({r.id for r in records.values()}) == 5
    late = await _take(runtime, school, school.teacher, YESTERDAY, ids, ["absent", "present", "present", "late",
                                                                         "present"])
    records = await _records(runtime, ids)
    assert [(line.student_id, line.outcome, line.record_id) for line in late.exceptions] == [
        (ids[0], "created", records[(ids[0], YESTERDAY)].id), (ids[3], "created", records[(ids[3], YESTERDAY)].id)]


# ---------------------------------------------------------------- refused input


async def test_future_date_and_dates_outside_the_year_are_refused(runtime, today):
    school = await make_school(runtime, students=1)
    st = school.student_ids
    cases = [(date(2026, 10, 15), "in the future"), (date(2026, 8, 31), "outside the academic year")]
    for day, rule in cases:
        with pytest.raises(InvalidInput) as info:
            await _take(runtime, school, school.teacher, day, st, ["present"])
        assert info.value.field == "date" and rule in info.value.message
    today(date(2027, 7, 2))  # after the year's last day (2027-06-30): not in the future, but outside the year
    with pytest.raises(InvalidInput) as info:
        await _take(runtime, school, school.teacher, date(2027, 7, 1), st, ["present"])
    assert "outside the academic year" in info.value.message and "2027-06-30" in info.value.message
    assert await _records(runtime, st) == {}


async def test_students_not_in_the_section_and_duplicates_are_refused(runtime, today):
    school = await make_school(runtime, students=2)
    elsewhere = await make_school(runtime, students=1)
    ids = school.student_ids
    with pytest.raises(InvalidInput) as info:
        await _take(runtime, school, school.admin, TODAY, [ids[0], elsewhere.student_ids[0]],
                    ["present", "present"])
    assert info.value.field == "entries.1.student_id" and "another section" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await _take(runtime, school, school.admin, TODAY, [ids[0], ids[1], ids[0]], ["present", "absent", "late"])
    assert info.value.field == "entries" and "more than once" in info.value.message
    async with runtime.db.write() as s:
        await academics.update_student(s, SYSTEM_ACTOR, student_id=ids[1], changes={"status": "withdrawn"})
    with pytest.raises(InvalidInput) as info:
        await _take(runtime, school, school.admin, TODAY, [ids[1]], ["absent"])
    assert info.value.field == "entries.0.student_id" and "withdrawn" in info.value.message
    with pytest.raises(NotFound) as info:
        await _take(runtime, school, school.admin, TODAY, [2_000_000_000], ["absent"])
    assert info.value.field == "entries.0.student_id"
    assert await _records(runtime, ids + elsewhere.student_ids) == {}
    for tool, args in (("take_attendance", {"entries": _entries(ids[:1], ["present"])}),
                       ("get_attendance_register", {})):
        with pytest.raises(NotFound) as info:
            await invoke(runtime, tool, {"section_id": 2_000_000_000, "date": TODAY.isoformat(), **args},
                         school.admin)
        assert info.value.field == "section_id" and "no section with id 2000000000" in info.value.message


# ---------------------------------------------------------------- scope


async def test_teachers_keep_only_the_registers_of_their_sections(runtime, today):
    school = await make_school(runtime, students=2)
    other_school = await make_school(runtime, students=1)
    ids = school.student_ids
    # other_teacher teaches the section's science class (not homeroom): allowed.
    out = await _take(runtime, school, school.other_teacher, TODAY, ids[:1], ["present"])
    assert out.created == 1
    # A teacher with no class in the section and not its homeroom teacher: refused, for reads too.
    stranger = other_school.teacher
    with pytest.raises(PermissionDenied) as info:
        await _take(runtime, school, stranger, TODAY, ids[1:], ["absent"])
    assert "not one of your sections" in info.value.message
    for tool, args in [("get_attendance_register", {"section_id": school.section_id, "date": TODAY.isoformat()}),
                       ("get_attendance_rates", {"section_id": school.section_id}),
                       ("get_attendance_rates", {"student_id": ids[0]})]:
        with pytest.raises(PermissionDenied):
            await invoke(runtime, tool, args, stranger)
    with pytest.raises(PermissionDenied):  # viewers hold no attendance role at all
        await invoke(runtime, "get_attendance_register", {"section_id": school.section_id,
                                                          "date": TODAY.isoformat()}, school.viewer)
    assert (ids[1], TODAY) not in await _records(runtime, ids)

    # A homeroom teacher who teaches no class in the section keeps its register.
    async with runtime.db.write() as s:
        year_level_id = (await s.get(Section, school.section_id)).year_level_id
        section = await academics.create_section(s, SYSTEM_ACTOR, code=unique("H"), name="7H",
                                                 year_level_id=year_level_id,
                                                 academic_year_id=school.year_id,
                                                 homeroom_teacher_id=other_school.teacher_employee_id)
        section_id = section.id
    register = await invoke(runtime, "get_attendance_register", {"section_id": section_id,
                                                                 "date": TODAY.isoformat()}, stranger)
    assert register.section_id == section_id and register.students == []


# ---------------------------------------------------------------- corrections through the gate


async def test_correct_attendance_waits_for_confirmation(runtime, today):
    school = await make_school(runtime, students=2)
    st = school.student_ids[0]
    await _take(runtime, school, school.teacher, YESTERDAY, [st], ["absent"])
    pending = await invoke(runtime, "correct_attendance",
                           {"student_id": st, "date": YESTERDAY.isoformat(), "status": "excused",
                            "note": "doctor's note", "reason": "Parent brought a doctor's note"}, school.teacher)
    assert pending.pending and pending.status == "proposed"
    assert pending.preview["before"] == {"status": "absent", "note": None}
    assert pending.preview["after"] == {"status": "excused", "note": "doctor's note"}
    assert pending.preview["reason"] == "Parent brought a doctor's note"
    assert (await _records(runtime, [st]))[(st, YESTERDAY)].status == "absent", "nothing changes before confirm"
    with pytest.raises(PermissionDenied):  # only the requester confirms a confirm-level action
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.admin)
    done = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.teacher)
    assert done.status == "executed" and done.result["status"] == "excused"
    record = (await _records(runtime, [st]))[(st, YESTERDAY)]
    assert (record.status, record.note, record.version) == ("excused", "doctor's note", 2)
    async with runtime.db.read() as s:
        events = [e.event for e in (await s.exec(select(AuditEntry).where(
            AuditEntry.action_id == pending.action_id).order_by(AuditEntry.id))).all()]
    assert events == ["proposed", "executed"]


async def test_a_correction_is_stale_when_the_record_changed_after_its_preview(runtime, today):
    school = await make_school(runtime, students=1)
    st = school.student_ids[0]
    await _take(runtime, school, school.teacher, YESTERDAY, [st], ["absent"])
    args = {"student_id": st, "date": YESTERDAY.isoformat(), "reason": "Register was wrong"}
    first = await invoke(runtime, "correct_attendance", {**args, "status": "excused"}, school.teacher)
    second = await invoke(runtime, "correct_attendance", {**args, "status": "present"}, school.teacher)
    await invoke(runtime, "confirm_action", {"action_id": second.action_id}, school.teacher)
    with pytest.raises(StaleAction):
        await invoke(runtime, "confirm_action", {"action_id": first.action_id}, school.teacher)
    assert (await _records(runtime, [st]))[(st, YESTERDAY)].status == "present"
    assert (await invoke(runtime, "get_action", {"action_id": first.action_id}, school.teacher)).status == "stale"


async def test_correct_attendance_refuses_today_missing_records_no_change_and_strangers(runtime, today):
    school = await make_school(runtime, students=2)
    stranger = (await make_school(runtime, students=1)).teacher
    st, other = school.student_ids
    await _take(runtime, school, school.teacher, TODAY, [st], ["absent"])
    await _take(runtime, school, school.teacher, YESTERDAY, [st], ["absent"])
    base = {"student_id": st, "status": "present", "reason": "Was on a school trip"}
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "correct_attendance", {**base, "date": TODAY.isoformat()}, school.teacher)
    assert info.value.field == "date" and "take_attendance" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "correct_attendance", {**base, "date": "2026-10-20"}, school.teacher)
    assert info.value.field == "date" and "in the future" in info.value.message
    with pytest.raises(NotFound) as info:
        await invoke(runtime, "correct_attendance", {**base, "student_id": other, "date": YESTERDAY.isoformat()},
                     school.teacher)
    assert "take_attendance adds" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "correct_attendance", {**base, "status": "absent", "date": YESTERDAY.isoformat()},
                     school.teacher)
    assert info.value.field == "status" and "nothing to change" in info.value.message
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "correct_attendance", {**base, "date": YESTERDAY.isoformat()}, stranger)
    with pytest.raises(InvalidInput) as info:  # a reason of 3..500 characters is required
        await invoke(runtime, "correct_attendance", {**base, "reason": "no", "date": YESTERDAY.isoformat()},
                     school.teacher)
    assert info.value.field == "reason"
    assert (await _records(runtime, [st]))[(st, YESTERDAY)].version == 1


# ---------------------------------------------------------------- rates


WEEK = [date(2026, 10, d) for d in (5, 6, 7, 8, 9)]  # Monday 5 .. Friday 9 October 2026
# A hand-made week for three students; the fourth has no record.
WEEK_STATUSES = {
    0: ["present", "present", "present", "present", "late"],   # P4 L1          -> 5/5 = 100.00
    1: ["present", "absent", "late", "excused", "present"],    # P2 L1 A1 E1    -> 3/4 = 75.00
    2: ["absent", "absent", "present", "excused", "excused"],  # P1 A2 E2       -> 1/3 = 33.33
}


async def _week(runtime, school):
    for i, day in enumerate(WEEK):
        idx = sorted(WEEK_STATUSES)
        await _take(runtime, school, school.teacher, day, [school.student_ids[j] for j in idx],
                    [WEEK_STATUSES[j][i] for j in idx])


async def test_rates_of_a_section_on_a_hand_made_week(runtime, today):
    school = await make_school(runtime, students=4)
    await _week(runtime, school)
    rates = await invoke(runtime, "get_attendance_rates", {"section_id": school.section_id}, school.teacher)
    assert (rates.from_date, rates.to_date) == (date(2026, 9, 1), TODAY)  # the academic year so far
    by_student = {line.student_id: line for line in rates.students}
    a, b, c, d = (by_student[sid] for sid in school.student_ids)
    assert (a.days_recorded, a.present, a.late, a.absent, a.excused, a.attendance_rate) == (5, 4, 1, 0, 0, 100.0)
    assert (b.days_recorded, b.present, b.late, b.absent, b.excused, b.attendance_rate) == (5, 2, 1, 1, 1, 75.0)
    assert (c.days_recorded, c.present, c.late, c.absent, c.excused, c.attendance_rate) == (5, 1, 0, 2, 2, 33.33)
    assert (d.days_recorded, d.attendance_rate) == (0, None)
    total = rates.total
    # present 7, late 2, absent 3, excused 3: (7 + 2) / (7 + 2 + 3) = 9/12 = 75.00
    assert (total.days_recorded, total.present, total.late, total.absent, total.excused) == (15, 7, 2, 3, 3)
    assert total.attendance_rate == 75.0
    assert "excused" in rates.rate_definition


async def test_rates_of_one_student_and_of_a_period(runtime, today):
    school = await make_school(runtime, students=3)
    await _week(runtime, school)
    one = await invoke(runtime, "get_attendance_rates", {"student_id": school.student_ids[2]}, school.registrar)
    assert one.section_id is None and one.student_id == school.student_ids[2]
    assert [line.attendance_rate for line in one.students] == [33.33] and one.total.attendance_rate == 33.33
    # Tuesday 6 and Wednesday 7 only: student 1 was absent, then late -> 1/2 = 50.00.
    period = await invoke(runtime, "get_attendance_rates",
                          {"section_id": school.section_id, "student_id": school.student_ids[1],
                           "from_date": "2026-10-06", "to_date": "2026-10-07"}, school.teacher)
    line = period.students[0]
    assert (line.days_recorded, line.absent, line.late, line.attendance_rate) == (2, 1, 1, 50.0)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "get_attendance_rates", {"section_id": school.section_id, "from_date": "2026-10-07",
                                                       "to_date": "2026-10-06"}, school.teacher)
    assert info.value.field == "to_date"
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "get_attendance_rates", {}, school.teacher)
    assert info.value.field == "section_id"


async def test_a_correction_changes_the_rates(runtime, today):
    school = await make_school(runtime, students=1)
    st = school.student_ids[0]
    await _take(runtime, school, school.teacher, WEEK[0], [st], ["absent"])
    await _take(runtime, school, school.teacher, WEEK[1], [st], ["present"])
    before = await invoke(runtime, "get_attendance_rates", {"student_id": st}, school.teacher)
    assert before.total.attendance_rate == 50.0
    pending = await invoke(runtime, "correct_attendance", {"student_id": st, "date": WEEK[0].isoformat(),
                                                           "status": "excused", "reason": "Medical appointment"},
                           school.teacher)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.teacher)
    after = await invoke(runtime, "get_attendance_rates", {"student_id": st}, school.teacher)
    assert (after.total.excused, after.total.absent, after.total.attendance_rate) == (1, 0, 100.0)
