"""academics.compute_all_term_grades on a real database (SQLite, or PostgreSQL with MCS_ERP_TEST_BACKEND):
every class's term grades read with one query of stored results and graded by gradebook.ClassGrader must be
what gradebook.student_result (the engine) gives each enrolled student from their Grade rows, whoever is left out.

The school (tests.factories.make_school) has a class with "Unit test 1" (max 100, weight 40) and "Term exam"
(max 50, weight 60) in term 1, and a second class without assessments. Added here: results of every kind, a
removed result, a removed assessment with results, a term 2 assessment with results, a student who dropped the
class, a removed student, and a third class graded by categories.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from domain.academics import gradebook
from domain.academics import service as academics
from domain.academics.models import (Assessment, Enrollment, Grade, GradingCategory, SchoolClass, Student,
                                     Subject)
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.clock import utcnow
from tests.factories import make_school


async def _expected(session, class_id: int, term_id: int) -> dict[int, gradebook.StudentResult]:
    """Each actively enrolled live student's result by the engine, from the ORM rows, by student id."""
    cls = await session.get(SchoolClass, class_id)
    policy = await gradebook.policy_for(session, cls)
    items = list((await session.exec(select(Assessment).where(
        Assessment.class_id == class_id, Assessment.term_id == term_id,
        Assessment.deleted_at.is_(None)).order_by(Assessment.id))).all())  # type: ignore[union-attr]
    enrolled = (await session.exec(select(Student.id).join(Enrollment, Enrollment.student_id == Student.id).where(
        Enrollment.class_id == class_id, Enrollment.status == "active", Enrollment.deleted_at.is_(None),
        Student.deleted_at.is_(None)))).all()  # type: ignore[union-attr]
    out = {}
    for student_id in sorted(enrolled):
        grades = (await session.exec(select(Grade).where(
            Grade.student_id == student_id, Grade.assessment_id.in_([a.id for a in items]),  # type: ignore
            Grade.deleted_at.is_(None)))).all()  # type: ignore[union-attr]
        out[student_id] = gradebook.student_result(policy, items, {g.assessment_id: g for g in grades})
    return out


async def test_bulk_term_grades_match_the_engine_student_by_student(runtime):
    school = await make_school(runtime, students=6)
    s1, s2, s3, s4, s5, s6 = school.student_ids
    now = utcnow()
    async with runtime.db.write() as s:
        removed_test = Assessment(class_id=school.class_id, term_id=school.term_id, title="Withdrawn quiz",
                                  max_score_x100=1000, weight_x100=5000, category="test", deleted_at=now)
        later = Assessment(class_id=school.class_id, term_id=school.term2_id, title="Term 2 test",
                           max_score_x100=10000, weight_x100=5000, category="test")
        s.add_all([removed_test, later])
        await s.flush()
        a1, a2 = school.assessment_id, school.assessment2_id
        rows = [(a1, s1, 8000, "scored", None), (a2, s1, 4500, "scored", None),     # 0.4 x 80 + 0.6 x 90 = 86
                (a1, s2, None, "excused", None), (a2, s2, None, "missing", None),    # the exam only: 0
                (a1, s3, 3333, "scored", None),                                      # the unit test only: 33.33
                (a1, s4, 9000, "scored", now), (a2, s4, 1000, "scored", None),       # a removed result: 20
                (removed_test.id, s1, 0, "scored", None), (later.id, s1, 0, "scored", None),
                (a1, s5, 10000, "scored", None), (a1, s6, 10000, "scored", None)]
        s.add_all([Grade(assessment_id=a, student_id=st, score_x100=score, status=status, deleted_at=deleted)
                   for a, st, score, status, deleted in rows])
        dropped = (await s.exec(select(Enrollment).where(Enrollment.student_id == s5,
                                                         Enrollment.class_id == school.class_id))).one()
        dropped.status = "dropped"
        removed = await s.get(Student, s6)
        removed.deleted_at = now
        s.add_all([dropped, removed])
        # A third class of the section, by categories: TEST pools a quiz and a test.
        art = Subject(code=f"ART-{school.class_id}", name="Art")
        s.add(art)
        await s.flush()
        third = SchoolClass(section_id=school.section_id, subject_id=art.id,
                            teacher_id=school.teacher_employee_id, academic_year_id=school.year_id,
                            code=f"X-{school.class_id}")
        s.add(third)
        await s.flush()
        s.add_all([GradingCategory(class_id=third.id, code="TEST", name="Tests", weight_x100=3000),
                   GradingCategory(class_id=third.id, code="EXAM", name="Exams", weight_x100=7000)])
        quiz = Assessment(class_id=third.id, term_id=school.term_id, title="Quiz", max_score_x100=2000,
                          weight_x100=100, category="test")
        test = Assessment(class_id=third.id, term_id=school.term_id, title="Test", max_score_x100=10000,
                          weight_x100=100, category="Test")
        exam = Assessment(class_id=third.id, term_id=school.term_id, title="Exam", max_score_x100=5000,
                          weight_x100=100, category="exam")
        s.add_all([quiz, test, exam])
        await s.flush()
        for n, st in enumerate((s1, s2, s3, s4)):
            s.add(Enrollment(student_id=st, class_id=third.id, status="active", enrolled_on=date(2026, 9, 1)))
            s.add_all([Grade(assessment_id=quiz.id, student_id=st, score_x100=500 * n, status="scored"),
                       Grade(assessment_id=test.id, student_id=st, score_x100=9000 - 1000 * n, status="scored")])
            if n != 2:
                s.add(Grade(assessment_id=exam.id, student_id=st, score_x100=4000 + 300 * n,
                            status="missing" if n == 3 else "scored"))
        third_id = third.id

    class_ids = [third_id, school.class_id, school.other_class_id]
    async with runtime.db.read() as s:
        for with_rows in (False, True):
            comps = await academics.compute_all_term_grades(s, SYSTEM_ACTOR, class_ids=class_ids,
                                                            term_id=school.term_id, with_grade_rows=with_rows)
            assert [c.cls.id for c in comps] == class_ids
            for comp in comps:
                expected = await _expected(s, comp.cls.id, school.term_id)
                got = {line.student.id: line.result for line in comp.lines}
                assert list(got) == list(expected)  # by student id, the dropped and the removed left out
                for student_id, result in got.items():
                    want = expected[student_id]
                    assert result.grade == want.grade and result.not_graded == want.not_graded
                    assert result.breakdown.percentage == want.breakdown.percentage
                    assert result.breakdown.categories == want.breakdown.categories
                live = sorted(g.id for g in comp.grades)
                assert live == (sorted(g.id for g in (await s.exec(select(Grade).where(
                    Grade.assessment_id.in_([a.id for a in comp.assessments]),  # type: ignore[attr-defined]
                    Grade.deleted_at.is_(None)))).all()) if with_rows else [])  # type: ignore[union-attr]
            main = comps[1]
            assert {line.student.id: line.percentage_x100 for line in main.lines} == {
                s1: 8600, s2: 0, s3: 3333, s4: 2000}
            assert [line.missing for line in main.lines] == [0, 0, 1, 1]  # a removed result is no result
            assert [(line.student.id, line.percentage_x100) for line in comps[2].lines] == [
                (st, None) for st in sorted((s1, s2, s3, s4, s5))]
            # The third class: s1 TEST (0 + 90) / (20 + 100) = 75 %, EXAM 40/50 = 80 %: 0.3 x 75 + 0.7 x 80 = 78.5.
            assert comps[0].lines[0].percentage_x100 == 7850
