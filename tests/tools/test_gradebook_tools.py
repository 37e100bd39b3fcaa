"""How a class grades, through the tools: weights or categories (renormalised, drop-lowest), missing and excused
results, grading scales with their rounding, publication of exact term grades, and transcripts with GPA.

make_school gives a class with "Unit test 1" (category test, max 100, weight 40) and "Term exam" (category
exam, max 50, weight 60) in term 1. Expected numbers are worked out by hand in the comments.
"""

from __future__ import annotations

import pytest

from domain.kernel.errors import InvalidInput, PermissionDenied
from tests.factories import make_school, unique
from tests.gate_helpers import released
from tools.invoke import invoke


async def record(rt, school, assessment_id, student_id, score=None, status="scored"):
    args = {"assessment_id": assessment_id, "student_id": student_id, "status": status}
    if score is not None:
        args["score"] = score
    return await invoke(rt, "record_grade", args, school.teacher)


async def term_grades(rt, school) -> dict[int, tuple[float | None, str | None]]:
    out = await invoke(rt, "get_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                       school.teacher)
    return {g.student_id: (g.percentage, g.letter) for g in out.grades}


async def test_weights_then_categories_with_missing_and_excused_results(runtime):
    school = await make_school(runtime, students=3)
    s1, s2, s3 = school.student_ids
    await record(runtime, school, school.assessment_id, s1, 80)         # 80 %
    await record(runtime, school, school.assessment2_id, s1, 45)        # 45/50 = 90 %
    await record(runtime, school, school.assessment_id, s2, status="excused")
    await record(runtime, school, school.assessment2_id, s2, status="missing")  # counts as 0
    # Per-assessment weights 40/60: s1 = 0.4 x 80 + 0.6 x 90 = 86; s2 = the exam only = 0; s3 nothing yet.
    assert await term_grades(runtime, school) == {s1: (86.0, "B"), s2: (0.0, "F"), s3: (None, None)}

    pending = await invoke(runtime, "set_grading_categories", {"class_id": school.class_id, "categories": [
        {"code": "test", "name": "Tests", "weight": 30}, {"code": "EXAM", "name": "Exams", "weight": 50},
        {"code": "hw", "name": "Homework", "weight": 20}]}, school.teacher)
    assert pending.level == "confirm" and pending.preview["before"] == {"by_category": False, "categories": []}
    assert [c["code"] for c in pending.preview["after"]["categories"]] == ["EXAM", "HW", "TEST"]
    assert await term_grades(runtime, school) == {s1: (86.0, "B"), s2: (0.0, "F"), s3: (None, None)}  # not yet
    out = await released(runtime, pending, school.teacher)
    assert out["by_category"] and [c["code"] for c in out["categories"]] == ["EXAM", "HW", "TEST"]
    # HW has no results: TEST and EXAM renormalise to 30/80 and 50/80. s1 = 80 x 0.375 + 90 x 0.625 = 86.25.
    assert await term_grades(runtime, school) == {s1: (86.25, "B"), s2: (0.0, "F"), s3: (None, None)}
    listed = await invoke(runtime, "get_grading_categories", {"class_id": school.class_id}, school.viewer)
    assert [(c.code, c.weight) for c in listed.categories] == [("EXAM", 50.0), ("HW", 20.0), ("TEST", 30.0)]

    # Drop-lowest within TEST: a 2/10 quiz is dropped, the unit test's 80 stays.
    quiz = await invoke(runtime, "create_assessment", {"class_id": school.class_id, "term_id": school.term_id,
                                                       "title": "Quiz 1", "max_score": 10, "category": "test"},
                        school.teacher)
    await record(runtime, school, quiz.id, s1, 2)
    # Without dropping, TEST = (80 + 2) / 110 = 74.545..%; s1 = 74.5454 x 0.375 + 90 x 0.625 = 84.2045 -> 84.20.
    assert (await term_grades(runtime, school))[s1] == (84.2, "B")
    await released(runtime, await invoke(runtime, "set_grading_categories", {
        "class_id": school.class_id, "categories": [{"code": "TEST", "name": "Tests", "weight": 30, "drop_lowest": 1},
                                                     {"code": "EXAM", "name": "Exams", "weight": 50}]}, school.teacher),
                   school.teacher)
    assert (await term_grades(runtime, school))[s1] == (86.25, "B")

    gradebook = await invoke(runtime, "get_gradebook", {"class_id": school.class_id, "term_id": school.term_id},
                             school.teacher)
    row = next(r for r in gradebook.rows if r.student_id == s2)
    assert row.statuses == {str(school.assessment_id): "excused", str(school.assessment2_id): "missing"}
    assert row.scores[str(school.assessment_id)] is None and row.running_percentage == 0.0


async def test_category_rules_are_enforced(runtime):
    school = await make_school(runtime, students=1)
    with pytest.raises(InvalidInput) as info:  # "Term exam" is in category exam
        await invoke(runtime, "set_grading_categories", {"class_id": school.class_id, "categories": [
            {"code": "TEST", "name": "Tests", "weight": 100}]}, school.teacher)
    assert info.value.field == "categories" and "'Term exam' (exam)" in info.value.message
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "set_grading_categories", {"class_id": school.class_id, "categories": [
            {"code": "TEST", "name": "Tests", "weight": 50}, {"code": "test", "name": "Again", "weight": 50}]},
                     school.teacher)
    assert "given twice" in info.value.message
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "set_grading_categories", {"class_id": school.class_id, "categories": []},
                     school.other_teacher)
    await released(runtime, await invoke(runtime, "set_grading_categories", {
        "class_id": school.class_id, "categories": [{"code": "TEST", "name": "Tests", "weight": 40},
                                                     {"code": "EXAM", "name": "Exams", "weight": 60}]},
        school.teacher), school.teacher)
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_assessment", {"class_id": school.class_id, "term_id": school.term_id,
                                                    "title": "Essay", "max_score": 20, "category": "project"},
                     school.teacher)
    assert info.value.field == "category" and "one of EXAM, TEST" in info.value.message
    # Removing every category goes back to each assessment's weight; a removed code can come back.
    back = await released(runtime, await invoke(runtime, "set_grading_categories", {
        "class_id": school.class_id, "categories": []}, school.teacher), school.teacher)
    assert not back["by_category"] and back["categories"] == []
    with pytest.raises(InvalidInput, match="already grades by each assessment's own weight; nothing to change"):
        await invoke(runtime, "set_grading_categories", {"class_id": school.class_id, "categories": []},
                     school.teacher)
    again = await released(runtime, await invoke(runtime, "set_grading_categories", {
        "class_id": school.class_id, "categories": [{"code": "TEST", "name": "Tests", "weight": 10},
                                                     {"code": "EXAM", "name": "Exams", "weight": 90}]},
        school.teacher), school.teacher)
    assert [(c["code"], c["weight"]) for c in again["categories"]] == [("EXAM", 90.0), ("TEST", 10.0)]


@pytest.mark.parametrize("status,score,words", [
    ("scored", None, "a scored result needs a score"),
    ("missing", 10, "a missing result has no score"),
    ("excused", 0, "a excused result has no score"),
])
async def test_a_result_has_a_score_exactly_when_scored(runtime, status, score, words):
    school = await make_school(runtime, students=1)
    with pytest.raises(InvalidInput) as info:
        await record(runtime, school, school.assessment_id, school.student_ids[0], score, status)
    assert info.value.field == "score" and words in info.value.message


def us_bands():
    return [{"min_percentage": m, "letter": letter, "gpa_points": p, "passing": m > 0, "earns_credit": m > 0}
            for m, letter, p in ((90, "A-", 3.7), (87, "B+", 3.3), (80, "B", 3.0), (65, "D", 1.0), (0, "F", 0))]


@pytest.mark.parametrize("rounding,letter,percentage", [("half_up", "A-", 90.0), ("half_even", "A-", 90.0),
                                                         ("up", "A-", 90.0), ("down", "B+", 89.0)])
async def test_a_class_scale_rounds_once_at_the_band_edge(runtime, rounding, letter, percentage):
    school = await make_school(runtime, students=1)
    scale = await invoke(runtime, "create_grading_scale", {"code": unique("SC"), "name": "Edge", "rounding": rounding,
                                                           "decimals": 0, "bands": us_bands()}, school.registrar)
    assert [b.letter for b in scale.bands] == ["A-", "B+", "B", "D", "F"] and scale.scale_id
    await released(runtime, await invoke(runtime, "set_class_grading_scale", {
        "class_id": school.class_id, "scale_id": scale.scale_id}, school.registrar), school.registrar)
    await record(runtime, school, school.assessment_id, school.student_ids[0], 89.5)  # 89.5 % exactly
    assert (await term_grades(runtime, school))[school.student_ids[0]] == (percentage, letter)


async def test_scales_are_validated(runtime):
    school = await make_school(runtime, students=1)
    bands = us_bands()[:-1]  # no band at 0
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_grading_scale", {"code": unique("SC"), "name": "Gap", "bands": bands},
                     school.registrar)
    assert info.value.field == "bands" and "must start at 0" in info.value.message
    fractional = us_bands()
    fractional[0]["min_percentage"] = 89.5
    with pytest.raises(InvalidInput) as info:
        await invoke(runtime, "create_grading_scale", {"code": unique("SC"), "name": "Half", "decimals": 0,
                                                       "bands": fractional}, school.registrar)
    assert "more than 0 decimal" in info.value.message
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "create_grading_scale", {"code": unique("SC"), "name": "X", "bands": us_bands()},
                     school.teacher)


async def test_published_term_grades_are_exact_and_the_transcript_has_gpa(runtime):
    school = await make_school(runtime, students=1)
    s1 = school.student_ids[0]
    scale = await invoke(runtime, "create_grading_scale", {"code": unique("SC"), "name": "US", "bands": us_bands()},
                         school.registrar)
    await released(runtime, await invoke(runtime, "set_class_grading_scale", {
        "class_id": school.class_id, "scale_id": scale.scale_id}, school.registrar), school.registrar)
    await record(runtime, school, school.assessment_id, s1, 87)   # 87 %, weight 40
    await record(runtime, school, school.assessment2_id, s1, 44)  # 88 %, weight 60 -> 87.6 -> 88 -> B+ 3.3
    pending = await invoke(runtime, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.registrar)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.registrar)
    await invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.admin)

    transcript = await invoke(runtime, "get_transcript", {"student_id": s1}, school.registrar)
    assert [(x.subject, x.percentage, x.letter, x.gpa_points, x.credits) for x in transcript.lines] == [
        ("Mathematics", 88.0, "B+", 3.3, 1.0)]
    assert transcript.gpa == 3.3 and transcript.credits_earned == 1.0
    assert transcript.term_gpa == {str(school.term_id): 3.3}
    assert transcript.lines[0].history == []
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "get_transcript", {"student_id": s1}, school.teacher)

    # After publication a change is a request: original, proposed, reason, requester; an admin decides it.
    change = await invoke(runtime, "change_locked_grade", {"assessment_id": school.assessment2_id, "student_id": s1,
                                                           "score": 50, "reason": "Marking error on page 2"},
                          school.teacher)
    assert change.preview["term_grade"]["after"] == {"percentage": 95.0, "letter": "A-"}  # 0.4x87 + 0.6x100 = 94.8
    await invoke(runtime, "confirm_action", {"action_id": change.action_id}, school.teacher)
    open_requests = await invoke(runtime, "list_grade_change_requests", {"student_id": s1}, school.registrar)
    (request,) = open_requests.items
    assert (request.request_id, request.status, request.reason) == (change.action_id, "queued",
                                                                     "Marking error on page 2")
    assert request.original["score"] == 44 and request.proposed["score"] == 50
    assert request.requested_by == school.teacher.username and request.decided_by is None
    mine = await invoke(runtime, "list_grade_change_requests", {}, school.other_teacher)
    assert mine.items == []  # teachers see their own requests only
    with pytest.raises(PermissionDenied):  # not by the requester, not by a non-admin
        await invoke(runtime, "approve_action", {"action_id": change.action_id}, school.registrar)
    await invoke(runtime, "approve_action", {"action_id": change.action_id, "reason": "Checked the paper"},
                 school.admin)
    decided = await invoke(runtime, "list_grade_change_requests", {"status": "decided", "student_id": s1},
                           school.registrar)
    assert [(r.status, r.decided_by, r.decision_reason) for r in decided.items] == [
        ("executed", school.admin.username, "Checked the paper")]
    assert (await invoke(runtime, "list_grade_change_requests", {"student_id": s1}, school.registrar)).items == []

    after = await invoke(runtime, "get_transcript", {"student_id": s1}, school.registrar)
    assert [(x.percentage, x.letter, x.gpa_points) for x in after.lines] == [(95.0, "A-", 3.7)]
    assert after.gpa == 3.7
    (history,) = after.lines[0].history
    assert history.before == {"percentage": 88.0, "letter": "B+"} and history.after == {"percentage": 95.0,
                                                                                          "letter": "A-"}
    assert (history.reason, history.requested_by, history.approved_by, history.request_id) == (
        "Marking error on page 2", school.teacher.id, school.admin.id, change.action_id)
