"""Academics names its teachers through hr.service, one bulk lookup per call, never by reading HR's tables.

list_classes, class_listing, list_teachers, timetable_classes and report_cards_data read each class's teacher
id in academics' own tables and HR's employees in one `employees_by_id` query, whatever the number of classes;
an employee removed from HR keeps naming the classes they taught but is no longer listed as a teacher.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

from sqlalchemy import event, update
from sqlalchemy.engine import Engine

from domain.academics import report_cards
from domain.academics import service as academics
from domain.hr.models import Employee
from tests.factories import make_school


@contextmanager
def employee_queries() -> Iterator[list[str]]:
    """Collect the SQL statements sent meanwhile that read HR's employees table."""
    seen: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        if "employees" in statement.lower():
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


async def _remove_employee(rt, employee_id: int) -> None:
    async with rt.db.write() as session:
        await session.exec(update(Employee).where(Employee.id == employee_id)  # type: ignore[call-overload]
                           .values(deleted_at=datetime(2026, 11, 1, tzinfo=UTC)))


async def test_classes_name_their_teachers_in_one_lookup_and_a_removed_teacher_keeps_the_name(rt):
    first = await make_school(rt, students=1)
    second = await make_school(rt, students=1)
    await _remove_employee(rt, second.teacher_employee_id)
    async with rt.db.read() as session:
        with employee_queries() as few:
            one = await academics.list_classes(session, after_id=0, limit=1)
        with employee_queries() as many:
            listed = await academics.list_classes(session, after_id=0, limit=500)
        with employee_queries() as single:
            got = await academics.class_listing(session, class_id=second.class_id)
        removed = await session.get(Employee, second.teacher_employee_id)
    assert len(one) == 2 and len(listed) >= 4
    assert len(few) == len(many) == len(single) == 1, (few, many, single)
    by_id = {item.cls.id: item for item in listed}
    assert by_id[first.class_id].teacher_name.startswith("Tess Teacher")
    assert by_id[first.other_class_id].teacher_name.startswith("Otto Other")
    assert removed is not None and by_id[second.class_id].teacher_name == removed.full_name
    assert got == by_id[second.class_id] and got.subject_name == "Mathematics"


async def test_list_teachers_leaves_out_an_employee_removed_from_hr_and_still_fills_the_page(rt):
    school = await make_school(rt, students=1)
    later = await make_school(rt, students=1)
    await _remove_employee(rt, school.teacher_employee_id)
    start = school.teacher_employee_id - 1  # the removed teacher is the first after this cursor
    async with rt.db.read() as session:
        with employee_queries() as lookups:
            page = await academics.list_teachers(session, after_id=start, limit=2)
    ids = [employee.id for employee, _ in page]
    assert school.teacher_employee_id not in ids
    # limit + 1 rows, the removed teacher's place taken by the next one (a second batch was read).
    assert len(page) == 3 and ids == sorted(ids) and ids[0] > school.teacher_employee_id
    assert later.teacher_employee_id in ids and all(n == 1 for _, n in page)
    assert len(lookups) == 2


async def test_timetable_classes_and_report_cards_read_hr_once(rt):
    school = await make_school(rt, students=2)
    async with rt.db.read() as session:
        with employee_queries() as lookups:
            _year, classes = await academics.timetable_classes(session, academic_year_id=school.year_id)
        teacher = await session.get(Employee, school.teacher_employee_id)
        assert teacher is not None and len(lookups) == 1 and len(classes) == 2
        assert {c.class_id: c.teacher_code for c in classes}[school.class_id] == teacher.code
        with employee_queries() as lookups:
            cards = await report_cards.report_cards_data(session, section_ids=[school.section_id],
                                                         term_id=school.term_id, school_name="Test School",
                                                         issued_on=date(2026, 12, 1))
    assert len(lookups) == 1 and len(cards) == 2
    for _target, data in cards:
        assert data.student.homeroom_teacher == teacher.full_name
        names = {line.subject_name: line.teacher_name for line in data.subjects}
        assert names["Mathematics"] == teacher.full_name and names["Science"].startswith("Otto Other")
