"""Regression tests for the ways around the four-eyes gate found by an adversary (issue 15), each of which wrote
something other than what the approver saw on the gate that listed touched rows by hand:

- a publication previewed under one grading scale, approved after the registrar made a one-band scale the
  default, froze every student as A;
- a change of a locked grade previewed 74.0 -> 75.0, approved after the teacher re-weighted the categories,
  froze another term grade;
- an action's stored arguments edited after the preview published another class than the preview named.

With plan/apply each is refused as stale (or, for edited arguments, refused outright), and nothing is written.
The payroll bypass (mark_payroll_run_paid after a payslip was voided) is in tests/tools/test_payroll.py, on its
own payroll database. This module has its own database: it changes the school's default grading scale.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from domain.kernel.errors import PermissionDenied, StaleAction
from tests.conftest import own_runtime
from tests.factories import make_school, unique
from tools.invoke import invoke
from tools.runtime import Runtime


@pytest.fixture(scope="module")
async def grt(tmp_path_factory) -> AsyncIterator[Runtime]:
    async with own_runtime(tmp_path_factory, "gate-bypasses") as runtime:
        yield runtime


async def through_gate(rt, out, requester, approver):
    """Release `out` if the call was held at the gate (confirm, then approve when asked); return the result."""
    if not getattr(out, "pending", False):
        return out
    decided = await invoke(rt, "confirm_action", {"action_id": out.action_id}, requester)
    if decided.status == "queued":
        decided = await invoke(rt, "approve_action", {"action_id": out.action_id}, approver)
    assert decided.status == "executed", decided
    return decided


async def score_all(rt, school, scores: list[tuple[float, float]]) -> None:
    for student_id, (unit, exam) in zip(school.student_ids, scores, strict=True):
        await invoke(rt, "record_grade", {"assessment_id": school.assessment_id, "student_id": student_id,
                                          "score": unit}, school.teacher)
        await invoke(rt, "record_grade", {"assessment_id": school.assessment2_id, "student_id": student_id,
                                          "score": exam}, school.teacher)


async def count(rt, sql: str, **params) -> int:
    async with rt.db.read() as s:
        return (await s.exec(text(sql).bindparams(**params))).one()[0]  # type: ignore[call-overload]


async def test_a_new_default_scale_after_the_preview_makes_the_publication_stale(grt):
    school = await make_school(grt, students=3)
    await score_all(grt, school, [(33, 10), (75, 37), (92, 48)])  # 33 % and 20 % -> F; 75/74 -> C; 92/96 -> A
    pending = await invoke(grt, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.registrar)
    letters = pending.preview["letter_distribution"]
    assert letters == {"F": 1, "C": 1, "A": 1}, letters
    assert (await invoke(grt, "confirm_action", {"action_id": pending.action_id}, school.registrar)).status == "queued"
    everyone_passes = [{"min_percentage": 0, "letter": "A", "gpa_points": 4.0, "passing": True,
                        "earns_credit": True}]
    made = await invoke(grt, "create_grading_scale", {"code": unique("ALLA"), "name": "Everyone gets an A",
                                                      "bands": everyone_passes}, school.registrar)
    default = await invoke(grt, "set_default_grading_scale", {"scale_id": made.scale_id}, school.registrar)
    assert default.level == "approve"  # classes grade by the default: a second admin must agree
    await through_gate(grt, default, school.registrar, school.admin)

    with pytest.raises(StaleAction) as info:
        await invoke(grt, "approve_action", {"action_id": pending.action_id}, school.admin)
    message = info.value.message
    assert "grading scale changed since the preview" in message, message
    assert "letter for 2 of 3" in message, message  # the A stays an A; the C and the F would have become A
    assert await count(grt, "SELECT count(*) FROM term_grades WHERE class_id = :c", c=school.class_id) == 0
    assert await count(grt, "SELECT count(*) FROM grades g JOIN assessments a ON a.id = g.assessment_id "
                            "WHERE a.class_id = :c AND g.locked", c=school.class_id) == 0
    action = await invoke(grt, "get_action", {"action_id": pending.action_id}, school.admin)
    assert action.status == "stale" and "grading scale" in (action.error or "")

    # Asked again, the preview shows what would really be frozen, and that is what approval writes.
    again = await invoke(grt, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                         school.registrar)
    assert again.preview["letter_distribution"] == {"A": 3}
    await through_gate(grt, again, school.registrar, school.admin)
    assert await count(grt, "SELECT count(*) FROM term_grades WHERE class_id = :c AND letter = 'A'",
                       c=school.class_id) == 3


async def test_reweighting_after_a_locked_grade_change_was_previewed_makes_it_stale(grt):
    school = await make_school(grt, students=1)
    student = school.student_ids[0]
    await score_all(grt, school, [(70, 38)])  # 0.4 x 70 + 0.6 x 76 = 73.6 -> 74
    published = await invoke(grt, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                             school.registrar)
    await through_gate(grt, published, school.registrar, school.admin)
    change = await invoke(grt, "change_locked_grade", {"assessment_id": school.assessment_id, "student_id": student,
                                                       "score": 73, "reason": "Marking error"}, school.teacher)
    term_grade = change.preview["term_grade"]  # letters depend on the default scale the first test changed
    assert (term_grade["before"]["percentage"], term_grade["after"]["percentage"]) == (74.0, 75.0)
    await invoke(grt, "confirm_action", {"action_id": change.action_id}, school.teacher)
    weights = await invoke(grt, "set_grading_categories", {"class_id": school.class_id, "categories": [
        {"code": "TEST", "name": "Tests", "weight": 70}, {"code": "EXAM", "name": "Exam", "weight": 30}]},
        school.teacher)
    await through_gate(grt, weights, school.teacher, school.admin)

    with pytest.raises(StaleAction) as info:
        await invoke(grt, "approve_action", {"action_id": change.action_id}, school.admin2)
    assert "category" in info.value.message or "categories" in info.value.message, info.value.message
    grades = await invoke(grt, "get_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                          school.registrar)
    assert [g.percentage for g in grades.grades] == [74.0]  # frozen as published
    grade = await invoke(grt, "get_grade", {"assessment_id": school.assessment_id, "student_id": student},
                         school.teacher)
    assert grade.score == 70
    assert await count(grt, "SELECT count(*) FROM grade_changes WHERE student_id = :s AND published",
                       s=student) == 0


async def test_arguments_edited_after_the_preview_are_refused(grt):
    school = await make_school(grt, students=1)
    await score_all(grt, school, [(80, 40)])
    science = await invoke(grt, "create_assessment", {"class_id": school.other_class_id, "term_id": school.term_id,
                                                      "title": "Lab report", "max_score": 20}, school.other_teacher)
    await invoke(grt, "record_grade", {"assessment_id": science.id, "student_id": school.student_ids[0],
                                       "score": 15}, school.other_teacher)
    pending = await invoke(grt, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.registrar)
    await invoke(grt, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    async with grt.db.write() as s:  # someone who can write the database points the action at another class
        await s.exec(text("UPDATE pending_actions SET arguments = :a WHERE id = :i").bindparams(  # type: ignore
            a=f'{{"class_id": {school.other_class_id}, "term_id": {school.term_id}}}', i=pending.action_id))
    with pytest.raises(PermissionDenied, match="arguments were changed after its preview"):
        await invoke(grt, "approve_action", {"action_id": pending.action_id}, school.admin)
    for class_id in (school.class_id, school.other_class_id):
        assert await count(grt, "SELECT count(*) FROM term_grades WHERE class_id = :c", c=class_id) == 0
    action = await invoke(grt, "get_action", {"action_id": pending.action_id}, school.admin)
    assert action.status == "failed"
