"""What a grade call is about, read in one query (academics.service.grade_target, issue 19): the same checks in
the same order as the lookups it replaced, and record_grade's answer with the codes fill_codes would have read."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from domain.academics import repository as repo
from domain.academics import service as academics
from domain.academics.models import Enrollment, EnrollmentStatus, SchoolClass
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.kernel.models import bump
from tests.factories import make_school
from tools.invoke import invoke


async def test_record_grade_answers_with_the_codes_fill_codes_reads_and_one_query_for_its_target(runtime):
    school = await make_school(runtime, students=2)
    student_id = school.student_ids[0]
    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        out = await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": student_id,
                                                     "score": 71.5}, school.teacher)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    async with runtime.db.read() as session:
        assessment_codes = await repo.codes_of(session, "assessment", [school.assessment_id])
        student_codes = await repo.codes_of(session, "student", [student_id])
    assert out.assessment_code == assessment_codes[school.assessment_id]
    assert out.student_code == student_codes[student_id]
    assert (out.score, out.max_score, out.assessment_title, out.status) == (71.5, 100.0, "Unit test 1", "scored")
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "assessments" in s]
    assert len(selects) == 1, selects  # the target's query; nothing read back after the write


async def test_grade_target_refuses_in_the_order_of_its_checks(runtime):
    school = await make_school(runtime, students=2)
    first, second = school.student_ids
    async with runtime.db.read() as session:
        with pytest.raises(NotFound) as no_assessment:
            await academics.grade_target(session, school.teacher, assessment_id=2_000_000_000, student_id=first)
        # scope before the student: another teacher learns nothing about who exists
        with pytest.raises(PermissionDenied):
            await academics.grade_target(session, school.other_teacher, assessment_id=school.assessment_id,
                                         student_id=2_000_000_000)
        with pytest.raises(NotFound) as no_student:
            await academics.grade_target(session, school.teacher, assessment_id=school.assessment_id,
                                         student_id=2_000_000_000)
        target = await academics.grade_target(session, school.teacher, assessment_id=school.assessment_id,
                                               student_id=first)
    assert no_assessment.value.field == "assessment_id" and "list_assessments" in str(no_assessment.value)
    assert no_student.value.field == "student_id" and "no student with id 2000000000" in str(no_student.value)
    assert (target.assessment.id, target.cls.id, target.student.id, target.grade, target.published) == (
        school.assessment_id, school.class_id, first, None, False)

    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": first, "score": 10},
                 school.teacher)
    with pytest.raises(Conflict):  # a result exists: change_grade
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": first,
                                               "score": 20}, school.teacher)
    async with runtime.db.read() as session:
        target = await academics.grade_target(session, school.teacher, assessment_id=school.assessment_id,
                                              student_id=first)
    assert target.grade is not None and target.grade.score_x100 == 1000

    async with runtime.db.write() as session:  # the second student leaves the class
        enrollment = await repo.get_enrollment(session, second, school.class_id)
        assert isinstance(enrollment, Enrollment)
        enrollment.status = EnrollmentStatus.DROPPED.value
        bump(enrollment)
        session.add(enrollment)
    with pytest.raises(InvalidInput) as not_enrolled:
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": second,
                                               "score": 10}, school.teacher)
    assert not_enrolled.value.field == "student_id" and "is not enrolled in" in str(not_enrolled.value)

    async with runtime.db.write() as session:  # the class is deleted: its assessment's grades are refused
        cls = await session.get(SchoolClass, school.class_id)
        assert cls is not None
        cls.deleted_at = utcnow()
        session.add(cls)
    with pytest.raises(NotFound) as no_class:
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": second,
                                               "score": 10}, school.teacher)
    assert "no class with id" in str(no_class.value)
