"""The gate through tools.invoke on a real database: pending, confirm, approve (four eyes), stale, audit."""

from __future__ import annotations

import pytest
from sqlmodel import select

from domain.academics.models import Grade
from domain.kernel.audit import AuditEntry, verify_audit_chain
from domain.kernel.errors import ActionClosed, GradeLocked, PermissionDenied, StaleAction
from tests.factories import make_school
from tools.invoke import invoke


async def _score(runtime, assessment_id, student_id):
    async with runtime.db.read() as s:
        grade = (await s.exec(select(Grade).where(Grade.assessment_id == assessment_id,
                                                  Grade.student_id == student_id))).first()
        return None if grade is None else grade.score_x100


async def test_change_grade_waits_for_confirmation_and_is_audited(runtime):
    school = await make_school(runtime)
    st = school.student_ids[0]
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": st, "score": 78},
                 school.teacher)
    pending = await invoke(runtime, "change_grade",
                           {"assessment_id": school.assessment_id, "student_id": st, "score": 84}, school.teacher)
    assert pending.pending and pending.status == "proposed"
    assert pending.preview["before"]["score"] == 78 and pending.preview["after"]["score"] == 84
    assert await _score(runtime, school.assessment_id, st) == 7800
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.admin)
    done = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.teacher)
    assert done.status == "executed"
    assert await _score(runtime, school.assessment_id, st) == 8400
    with pytest.raises(ActionClosed):
        await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.teacher)
    async with runtime.db.read() as s:
        events = [e.event for e in (await s.exec(select(AuditEntry).where(
            AuditEntry.action_id == pending.action_id).order_by(AuditEntry.id))).all()]
        assert events == ["proposed", "executed"]
        assert (await verify_audit_chain(s)).ok


async def test_publish_needs_a_second_admin_and_locks_grades(runtime):
    school = await make_school(runtime, students=2)
    for st in school.student_ids:
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": st,
                                               "score": 90}, school.teacher)
    pending = await invoke(runtime, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.admin)
    queued = await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.admin)
    assert queued.status == "queued"
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.teacher)
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.admin)
    done = await invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.admin2)
    assert done.status == "executed" and done.result["published_students"] == 2
    with pytest.raises(GradeLocked):
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment2_id,
                                               "student_id": school.student_ids[0], "score": 40}, school.teacher)
    with pytest.raises(GradeLocked):
        await invoke(runtime, "change_grade", {"assessment_id": school.assessment_id,
                                               "student_id": school.student_ids[0], "score": 50}, school.teacher)


async def test_action_is_stale_when_its_row_changed(runtime):
    school = await make_school(runtime)
    st = school.student_ids[0]
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": st, "score": 60},
                 school.teacher)
    first = await invoke(runtime, "change_grade", {"assessment_id": school.assessment_id, "student_id": st,
                                                   "score": 70}, school.teacher)
    second = await invoke(runtime, "change_grade", {"assessment_id": school.assessment_id, "student_id": st,
                                                    "score": 80}, school.teacher)
    await invoke(runtime, "confirm_action", {"action_id": second.action_id}, school.teacher)
    with pytest.raises(StaleAction):
        await invoke(runtime, "confirm_action", {"action_id": first.action_id}, school.teacher)
    assert await _score(runtime, school.assessment_id, st) == 8000
    action = await invoke(runtime, "get_action", {"action_id": first.action_id}, school.teacher)
    assert action.status == "stale"


async def test_teacher_cannot_grade_another_teachers_class(runtime):
    school = await make_school(runtime)
    with pytest.raises(PermissionDenied):
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id,
                                               "student_id": school.student_ids[0], "score": 50},
                     school.other_teacher)
    assert await _score(runtime, school.assessment_id, school.student_ids[0]) is None


async def test_two_admins_approving_at_once_execute_it_once_and_the_record_says_so(runtime):
    import asyncio

    school = await make_school(runtime, students=2)
    async with runtime.db.write() as s:
        from tests.factories import make_user

        admin3 = await make_user(s, roles="admin")
    for st in school.student_ids:
        await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": st,
                                               "score": 80}, school.teacher)
    pending = await invoke(runtime, "publish_term_grades", {"class_id": school.class_id, "term_id": school.term_id},
                           school.admin)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, school.admin)
    outcomes = await asyncio.gather(
        invoke(runtime, "approve_action", {"action_id": pending.action_id}, school.admin2),
        invoke(runtime, "approve_action", {"action_id": pending.action_id}, admin3), return_exceptions=True)
    done = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, Exception)]
    assert len(done) == 1 and done[0].status == "executed"
    assert len(refused) == 1 and isinstance(refused[0], ActionClosed), refused
    record = await invoke(runtime, "get_action", {"action_id": pending.action_id}, school.admin)
    assert record.status == "executed" and record.decided_by == done[0].decided_by and record.error is None
    async with runtime.db.read() as s:
        events = [e.event for e in (await s.exec(select(AuditEntry).where(
            AuditEntry.action_id == pending.action_id).order_by(AuditEntry.id))).all()]
    assert events == ["proposed", "queued", "approved"]


async def _audit_rows_after(runtime, last_id: int) -> list[tuple[str, str, int | None]]:
    async with runtime.db.read() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id))).all()
        return [(r.tool, r.event, r.action_id) for r in rows]


async def _last_audit_id(runtime) -> int:
    async with runtime.db.read() as s:
        last = (await s.exec(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))).first()
        return last or 0


async def test_a_decision_is_audited_once_and_a_refusal_is_committed_before_it_is_raised(runtime):
    """confirm_action is a write tool whose audit rows are the gate's own (one per transition, none from invoke);
    a stale decision is committed as stale, then StaleAction raised (after the commit)."""
    school = await make_school(runtime)
    st = school.student_ids[0]
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id, "student_id": st, "score": 60},
                 school.teacher)
    first = await invoke(runtime, "change_grade", {"assessment_id": school.assessment_id, "student_id": st,
                                                   "score": 70}, school.teacher)
    second = await invoke(runtime, "change_grade", {"assessment_id": school.assessment_id, "student_id": st,
                                                    "score": 80}, school.teacher)
    before = await _last_audit_id(runtime)
    await invoke(runtime, "confirm_action", {"action_id": second.action_id}, school.teacher)
    executed = await _audit_rows_after(runtime, before)
    assert executed == [("change_grade", "executed", second.action_id)]
    before = await _last_audit_id(runtime)
    with pytest.raises(StaleAction):
        await invoke(runtime, "confirm_action", {"action_id": first.action_id}, school.teacher)
    assert await _audit_rows_after(runtime, before) == [("change_grade", "stale", first.action_id)]
    stale = await invoke(runtime, "get_action", {"action_id": first.action_id}, school.teacher)
    assert stale.status == "stale" and stale.error
    assert await _score(runtime, school.assessment_id, st) == 8000
