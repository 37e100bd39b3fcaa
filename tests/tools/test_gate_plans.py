"""Plans of the academics, attendance, HR and timetable gated commands (issue 15), through tools.invoke.

For each converted command and each new gate: a change between the preview and the release makes the action
stale and writes nothing, and an unchanged one applies exactly its plan. The grading policies' gates: the level
a plan asks for (approve once published or pending results depend on the policy), and create_grading_scale's
is_default refused once anything relies on the default.

This module has its own database: it changes the school's default grading scale, and its first test needs a
school with no classes yet.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import text

from domain.academics import attendance
from domain.kernel.errors import Conflict, StaleAction
from domain.timetable import service as timetable
from domain.timetable.models import ProblemSource
from domain.timetable.solver import SolveResult
from tests.conftest import own_runtime
from tests.factories import make_school, make_user, unique
from tests.gate_helpers import released
from tests.tools.test_timetable_tools import tiny_problem, tiny_solution
from tools.invoke import invoke
from tools.runtime import Runtime

TODAY = date(2026, 10, 14)
YESTERDAY = date(2026, 10, 13)
PASS_FAIL = [{"min_percentage": 50, "letter": "P", "gpa_points": 1, "passing": True, "earns_credit": True},
             {"min_percentage": 0, "letter": "F", "gpa_points": 0, "passing": False, "earns_credit": False}]


@pytest.fixture(scope="module")
async def prt(tmp_path_factory) -> AsyncIterator[Runtime]:
    async with own_runtime(tmp_path_factory, "gate-plans") as runtime:
        yield runtime


@pytest.fixture
def today(monkeypatch):
    monkeypatch.setattr(attendance, "utcnow", lambda: datetime.combine(TODAY, time(9, 0), tzinfo=UTC))


async def one(rt, sql: str, **params):
    async with rt.db.read() as s:
        return (await s.exec(text(sql).bindparams(**params))).one()  # type: ignore[call-overload]


async def audit_count(rt) -> int:
    return (await one(rt, "SELECT count(*) FROM audit_log"))[0]


async def stale(rt, pending, actor, *, approver=None) -> str:
    """Release `pending` (confirm, then approve when queued) expecting it stale; return the message."""
    with pytest.raises(StaleAction) as info:
        decided = await invoke(rt, "confirm_action", {"action_id": pending.action_id}, actor)
        assert decided.status == "queued", decided
        await invoke(rt, "approve_action", {"action_id": pending.action_id}, approver)
    action = await invoke(rt, "get_action", {"action_id": pending.action_id}, actor)
    assert action.status == "stale", action
    return info.value.message


def scale(code_prefix: str = "PF") -> dict:
    return {"code": unique(code_prefix), "name": "Pass/fail", "decimals": 0, "bands": PASS_FAIL}


# ---------------------------------------------------------------- the default grading scale


async def test_the_default_scale_is_set_at_once_only_while_nothing_relies_on_it(prt):
    # A school being set up (no class yet, no default): creating its default scale needs no gate.
    assert (await one(prt, "SELECT count(*) FROM classes"))[0] == 0
    async with prt.db.write() as s:
        registrar = await make_user(s, roles="registrar")
    first = await invoke(prt, "create_grading_scale", {**scale("HON"), "is_default": True}, registrar)
    assert first.is_default
    other = await invoke(prt, "create_grading_scale", scale(), registrar)
    with pytest.raises(Conflict) as info:  # a default exists now
        await invoke(prt, "create_grading_scale", {**scale(), "is_default": True}, registrar)
    assert info.value.field == "is_default" and f"the school's default scale is {first.code}" in info.value.message
    assert "set_default_grading_scale" in info.value.message
    # With no class graded by it, changing the default is confirm-level.
    pending = await invoke(prt, "set_default_grading_scale", {"scale_id": other.scale_id}, registrar)
    assert pending.level == "confirm" and pending.preview["classes_affected"] == 0
    assert pending.preview["before"]["default_scale"] == first.code
    out = await released(prt, pending, registrar)
    assert out["code"] == other.code and out["previous_code"] == first.code
    assert not (await one(prt, "SELECT is_default FROM grading_scales WHERE id = :i", i=first.scale_id))[0]
    back = await released(prt, await invoke(prt, "set_default_grading_scale", {"scale_id": first.scale_id},
                                            registrar), registrar)
    assert back["classes_affected"] == 0 and back["code"] == first.code


async def test_a_class_relying_on_the_default_makes_a_new_default_approve_level_and_stale_when_added(prt):
    school = await make_school(prt, students=1)
    with pytest.raises(Conflict, match="class\\(es\\) grade by the default"):
        await invoke(prt, "create_grading_scale", {**scale(), "is_default": True}, school.registrar)
    made = await invoke(prt, "create_grading_scale", scale(), school.registrar)
    pending = await invoke(prt, "set_default_grading_scale", {"scale_id": made.scale_id}, school.registrar)
    assert pending.level == "approve" and pending.preview["classes_affected"] >= 2
    assert (await invoke(prt, "confirm_action", {"action_id": pending.action_id}, school.registrar)).status == "queued"
    await make_school(prt, students=1)  # two more classes now grade by the default: not what the approver sees
    before = await audit_count(prt)
    with pytest.raises(StaleAction) as info:
        await invoke(prt, "approve_action", {"action_id": pending.action_id}, school.admin)
    assert "classes graded by the default scale changed since the preview" in info.value.message
    assert not (await one(prt, "SELECT is_default FROM grading_scales WHERE id = :i", i=made.scale_id))[0]
    assert await audit_count(prt) == before + 1  # only the action's own 'stale' row

    again = await invoke(prt, "set_default_grading_scale", {"scale_id": made.scale_id}, school.registrar)
    out = await released(prt, again, school.registrar, school.admin)
    assert out["code"] == made.code and out["classes_affected"] == again.preview["classes_affected"]
    defaults = await one(prt, "SELECT count(*), min(id) FROM grading_scales WHERE is_default")
    assert tuple(defaults) == (1, made.scale_id)


# ---------------------------------------------------------------- a class's grading scale


async def test_a_class_scale_is_confirm_level_until_results_exist_and_stale_when_one_is_recorded(prt):
    school = await make_school(prt, students=1)
    made = await invoke(prt, "create_grading_scale", scale(), school.registrar)
    args = {"class_id": school.class_id, "scale_id": made.scale_id}
    pending = await invoke(prt, "set_class_grading_scale", args, school.registrar)
    assert pending.level == "confirm" and pending.preview["recorded_results"] == 0
    assert pending.preview["after"]["grading_scale"] == made.code
    await invoke(prt, "record_grade", {"assessment_id": school.assessment_id, "student_id": school.student_ids[0],
                                       "score": 40}, school.teacher)
    message = await stale(prt, pending, school.registrar)
    assert "gate level changed since the preview (as declared -> approve)" in message, message
    assert (await one(prt, "SELECT grading_scale_id FROM classes WHERE id = :i", i=school.class_id))[0] is None

    again = await invoke(prt, "set_class_grading_scale", args, school.registrar)
    assert again.level == "approve" and again.preview["recorded_results"] == 1
    out = await released(prt, again, school.registrar, school.admin)
    assert out == {"class_id": school.class_id, "class_code": again.preview["class"], "scale_id": made.scale_id,
                   "scale_code": made.code}
    grades = await invoke(prt, "get_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                          school.teacher)
    assert [g.letter for g in grades.grades] == ["F"]  # 40 % on the pass/fail scale


# ---------------------------------------------------------------- a class's categories


async def test_reweighting_a_published_class_needs_approval_and_a_publication_since_the_preview_is_stale(prt):
    school = await make_school(prt, students=1)
    for assessment, score in ((school.assessment_id, 70), (school.assessment2_id, 38)):
        await invoke(prt, "record_grade", {"assessment_id": assessment, "student_id": school.student_ids[0],
                                           "score": score}, school.teacher)
    weights = {"class_id": school.class_id, "categories": [{"code": "TEST", "name": "Tests", "weight": 70},
                                                            {"code": "exam", "name": "Exam", "weight": 30}]}
    pending = await invoke(prt, "set_grading_categories", weights, school.teacher)
    assert pending.level == "confirm" and pending.preview["published_terms"] == []
    publication = await invoke(prt, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                               school.registrar)
    await released(prt, publication, school.registrar, school.admin)
    message = await stale(prt, pending, school.teacher)
    assert "the gate level changed since the preview (as declared -> approve)" in message, message
    assert (await one(prt, "SELECT count(*) FROM grading_categories WHERE class_id = :c", c=school.class_id))[0] == 0

    published = await invoke(prt, "get_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                             school.registrar)
    again = await invoke(prt, "set_grading_categories", weights, school.teacher)
    assert again.level == "approve" and again.preview["published_terms"] == ["Term 1"]
    assert "published term grades stay as frozen" in again.preview["note"]
    out = await released(prt, again, school.teacher, school.admin)
    assert [(c["code"], c["weight"]) for c in out["categories"]] == [("EXAM", 30.0), ("TEST", 70.0)]
    rows = await one(prt, "SELECT count(*), sum(weight_x100) FROM grading_categories WHERE class_id = :c AND "
                          "deleted_at IS NULL", c=school.class_id)
    assert tuple(rows) == (2, 10000)
    frozen = await invoke(prt, "get_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                          school.registrar)
    assert [(g.percentage, g.letter) for g in frozen.grades] == [(g.percentage, g.letter) for g in published.grades]
    assert published.grades[0].percentage == 74.0  # 0.4 x 70 + 0.6 x 76 = 73.6, by the 0-decimal default


async def test_a_category_change_since_the_preview_is_stale_and_removing_one_soft_deletes_it(prt):
    school = await make_school(prt, students=1)
    two = {"class_id": school.class_id, "categories": [{"code": "TEST", "name": "Tests", "weight": 40},
                                                        {"code": "EXAM", "name": "Exam", "weight": 60}]}
    await released(prt, await invoke(prt, "set_grading_categories", two, school.teacher), school.teacher)
    heavier = {"class_id": school.class_id, "categories": [{"code": "TEST", "name": "Tests", "weight": 50},
                                                            {"code": "EXAM", "name": "Exam", "weight": 50}]}
    first = await invoke(prt, "set_grading_categories", heavier, school.teacher)
    assert first.preview["before"]["categories"][0] == {"code": "EXAM", "name": "Exam", "weight": 60.0,
                                                        "drop_lowest": 0}
    second = await invoke(prt, "set_grading_categories", {**heavier, "categories": [
        {"code": "TEST", "name": "Tests", "weight": 30}, {"code": "EXAM", "name": "Exam", "weight": 70}]},
        school.teacher)
    await released(prt, second, school.teacher)
    message = await stale(prt, first, school.teacher)
    assert "weight_x100 (before) for 2 of 2" in message, message
    weights = await one(prt, "SELECT sum(weight_x100 * (CASE WHEN code = 'TEST' THEN 1 ELSE 0 END)) FROM "
                             "grading_categories WHERE class_id = :c AND deleted_at IS NULL", c=school.class_id)
    assert weights[0] == 3000
    # Back to per-assessment weights: the rows are soft-deleted (history), not removed.
    await released(prt, await invoke(prt, "set_grading_categories", {"class_id": school.class_id,
                                                                     "categories": []}, school.teacher),
                   school.teacher)
    left = await one(prt, "SELECT count(*), sum(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END) FROM "
                          "grading_categories WHERE class_id = :c", c=school.class_id)
    assert tuple(left) == (2, 0)


# ---------------------------------------------------------------- change_grade


async def test_change_grade_applies_its_plan_and_is_stale_after_another_change_or_a_publication(prt):
    school = await make_school(prt, students=2)
    s1, s2 = school.student_ids
    for student in (s1, s2):
        await invoke(prt, "record_grade", {"assessment_id": school.assessment_id, "student_id": student,
                                           "score": 60}, school.teacher)
    key = {"assessment_id": school.assessment_id, "student_id": s1}
    first = await invoke(prt, "change_grade", {**key, "score": 65, "comment": "Re-marked"}, school.teacher)
    second = await invoke(prt, "change_grade", {**key, "score": 66}, school.teacher)
    assert first.preview["before"]["score"] == 60 and first.preview["after"] == {"score": 65, "locked": False,
                                                                                 "comment": "Re-marked"}
    out = await released(prt, first, school.teacher)
    assert out["score"] == 65 and out["comment"] == "Re-marked"
    history = await one(prt, "SELECT before_score_x100, after_score_x100, published, requested_by, approved_by, "
                             "action_id FROM grade_changes WHERE student_id = :s", s=s1)
    assert (history[0], history[1], bool(history[2]), *history[3:]) == (
        6000, 6500, False, school.teacher.id, school.teacher.id, first.action_id)
    message = await stale(prt, second, school.teacher)
    assert "grades: score_x100" in message and "version" in message, message

    late = await invoke(prt, "change_grade", {"assessment_id": school.assessment_id, "student_id": s2,
                                              "score": 70}, school.teacher)
    for student in (s1, s2):
        await invoke(prt, "record_grade", {"assessment_id": school.assessment2_id, "student_id": student,
                                           "score": 40}, school.teacher)
    await released(prt, await invoke(prt, "publish_term_grades", {"class_id": school.class_id,
                                                                  "term_id": school.term_id}, school.registrar),
                   school.registrar, school.admin)
    message = await stale(prt, late, school.teacher)
    assert "can no longer be planned" in message and "change_locked_grade" in message, message
    assert (await one(prt, "SELECT score_x100 FROM grades WHERE assessment_id = :a AND student_id = :s",
                      a=school.assessment_id, s=s2))[0] == 6000


# ---------------------------------------------------------------- correct_attendance


async def test_a_correction_applies_its_plan_and_is_stale_after_the_register_changed(prt, today):
    school = await make_school(prt, students=1)
    st = school.student_ids[0]
    await invoke(prt, "take_attendance", {"section_id": school.section_id, "date": YESTERDAY.isoformat(),
                                          "entries": [{"student_id": st, "status": "absent"}]}, school.teacher)
    args = {"student_id": st, "date": YESTERDAY.isoformat(), "reason": "Doctor's note came in"}
    first = await invoke(prt, "correct_attendance", {**args, "status": "excused", "note": "Doctor"},
                         school.teacher)
    assert first.preview["before"] == {"status": "absent", "note": None}
    assert first.preview["after"] == {"status": "excused", "note": "Doctor"}
    second = await invoke(prt, "correct_attendance", {**args, "status": "late"}, school.registrar)
    out = await released(prt, second, school.registrar)
    assert out["status"] == "late" and out["note"] is None
    message = await stale(prt, first, school.teacher)
    assert "attendance_records" in message, message
    row = await one(prt, "SELECT status, note, recorded_by FROM attendance_records WHERE student_id = :s", s=st)
    assert tuple(row) == ("late", None, school.registrar.id)


# ---------------------------------------------------------------- terminate_employee


async def test_a_termination_applies_its_plan_and_is_stale_after_the_record_changed(prt):
    school = await make_school(prt, students=1)
    emp = school.teacher_employee_id
    args = {"employee_id": emp, "termination_date": "2027-01-31", "reason": "Moving abroad"}
    pending = await invoke(prt, "terminate_employee", args, school.admin)
    assert pending.preview["before"]["status"] == "active"
    assert pending.preview["after"]["status"] == "terminated"
    assert pending.preview["after"]["termination_date"] == "2027-01-31"
    await invoke(prt, "update_employee", {"employee_id": emp, "position": "Head of mathematics"}, school.admin)
    message = await stale(prt, pending, school.admin)
    assert "employees" in message and "version" in message, message
    assert (await one(prt, "SELECT status FROM employees WHERE id = :i", i=emp))[0] == "active"

    again = await invoke(prt, "terminate_employee", args, school.admin)
    out = await released(prt, again, school.admin)
    assert out["status"] == "terminated" and out["position"] == "Head of mathematics"
    row = await one(prt, "SELECT status, termination_date, termination_reason FROM employees WHERE id = :i", i=emp)
    assert (row[0], str(row[1])[:10], row[2]) == ("terminated", "2027-01-31", "Moving abroad")


# ---------------------------------------------------------------- publish_timetable


async def test_a_timetable_publication_applies_its_plan_and_is_stale_after_another_was_published(prt):
    school = await make_school(prt, students=1)
    async with prt.db.write() as s:
        row = await timetable.store_problem(s, problem=tiny_problem(), source=ProblemSource.SCHOOL)
        ids = []
        for room in ("r3", "r2"):
            sol = await timetable.save_solution(s, problem_row=row, result=SolveResult(
                status="feasible", solution=tiny_solution(c3_room=room), score=None, seconds=0.0, progress=()))
            ids.append(sol.id)
        problem_id = row.id
    first = await invoke(prt, "publish_timetable", {"solution_id": ids[0]}, school.registrar)
    second = await invoke(prt, "publish_timetable", {"solution_id": ids[1]}, school.registrar)
    assert first.preview["before"]["published_solution_id"] is None and first.preview["lessons_moved"] == 4
    out = await released(prt, second, school.registrar)
    assert out == {"problem_id": problem_id, "solution_id": ids[1], "previous_solution_id": None, "lessons": 4,
                   "lessons_moved": 4}
    message = await stale(prt, first, school.registrar)
    assert "timetable_problems: published_solution_id (before)" in message, message
    assert (await one(prt, "SELECT published_solution_id FROM timetable_problems WHERE id = :i",
                      i=problem_id))[0] == ids[1]

    again = await invoke(prt, "publish_timetable", {"solution_id": ids[0]}, school.registrar)
    assert again.preview["lessons_moved"] == 1 and again.preview["before"]["published_solution_id"] == ids[1]
    out = await released(prt, again, school.registrar)
    assert out["previous_solution_id"] == ids[1] and out["lessons_moved"] == 1
    plan = json.loads((await one(prt, "SELECT plan FROM pending_actions WHERE id = :i", i=again.action_id))[0])
    assert [c["after"] for c in plan["changes"]] == [{"published_solution_id": ids[0]}]
