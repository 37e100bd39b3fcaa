"""Plans of academics' gated commands (domain.kernel.plan): publishing a class's term grades and changing a
published (locked) score.

Each `plan_<command>(session, actor, args) -> Plan` reads what it needs, raises the command's errors, and returns
every row it would write with the values it would write, plus its basis: the class's grading categories and the
grading scale its letters come from. So a scale made default, a re-weighted category or a score changed after the
preview makes the action stale instead of writing what nobody saw (issue: a publication previewed as
`C:9 D:5 F:7 B:3 A:1` must not freeze every student as A after a new default scale).
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.academics import gradebook, repository as repo, rules
from domain.academics.gradebook import BASIC_SCALE
from domain.academics.models import Grade, GradeStatus, GradingScaleRecord, SchoolClass
from domain.academics.service import (
    TermGradeComputation,
    check_grade_change,
    check_publishable,
    compute_term_grades,
    describe_result,
    term_grade_values,
)
from domain.kernel.actor import Actor
from domain.kernel.plan import ACTION_ID, DECIDED_BY, NOW, Insert, Plan, Read, Update, changed_rows, inserted_rows

PREVIEW_ROWS = 50


def _pct(x100: int | None) -> float | None:
    return None if x100 is None else x100 / 100


async def _policy_basis(session: AsyncSession, cls: SchoolClass, *, scale_code: str | None = None
                        ) -> tuple[list[Read], dict[str, Any]]:
    """The rows a class's grading policy comes from (its live categories, the scale record its letters use) and a
    description of the policy for the plan's inputs."""
    basis = [Read("grading_categories", c.id or 0, c.version, f"{cls.code}'s category {c.code}")
             for c in await repo.categories_of(session, cls.id or 0)]
    record: GradingScaleRecord | None
    if scale_code is not None:
        record = (None if scale_code == BASIC_SCALE.code
                  else await repo.by_code(session, GradingScaleRecord, scale_code))
        which = f"the scale {scale_code} the grades were published with"
    elif cls.grading_scale_id is not None:
        record = await repo.get_live(session, GradingScaleRecord, cls.grading_scale_id)
        which = f"{cls.code}'s grading scale"
    else:
        record = await repo.default_scale(session)
        which = "the default grading scale"
    if record is not None:
        basis.append(Read("grading_scales", record.id or 0, record.version, f"{which} {record.code}"))
    policy = await gradebook.policy_for(session, cls, scale_code=scale_code)
    inputs = {"grading scale": f"{policy.scale.code} ({which})",
              "categories": [f"{c.code} weight {c.weight} drop {c.drop_lowest}" for c in policy.categories]}
    return basis, inputs


# ---------------------------------------------------------------- publish_term_grades


async def plan_publish_term_grades(session: AsyncSession, actor: Actor, *, class_id: int, term_id: int) -> Plan:
    """Plan publishing a class's term grades: one term_grades row per enrolled student (rounded and exact
    percentage, letter, GPA points, pass, credit, the scale's code; published now by `actor`) and every score of
    the term locked. Raises NotFound, InvalidInput, PermissionDenied (compute_term_grades), Conflict when already
    published, InvalidInput with no assessments or students (check_publishable)."""
    comp = await compute_term_grades(session, actor, class_id=class_id, term_id=term_id)
    check_publishable(comp)
    changes: list[Any] = [
        Insert("term_grades", {"class_id": class_id, "term_id": term_id, "student_id": line.student.id or 0,
                               "published_at": NOW, "published_by": actor.id or None,
                               **term_grade_values(line.result, comp.policy)})
        for line in comp.lines]
    changes += [Update("grades", g.id or 0, g.version, before={"locked": g.locked}, after={"locked": True})
                for g in comp.grades]
    basis, inputs = await _policy_basis(session, comp.cls)
    basis.append(Read("classes", comp.cls.id or 0, comp.cls.version, f"class {comp.cls.code}"))
    return Plan(command="publish_term_grades", summary=_publish_summary(comp),
                preview=_publish_preview(comp, changes), changes=changes, basis=basis, inputs=inputs)


def _publish_summary(comp: TermGradeComputation) -> str:
    avg = comp.class_average_x100
    return (f"Publish {comp.term.name} grades of {comp.cls.code} for {len(comp.lines)} students (class average "
            f"{rules.format_x100(avg)}%, {comp.missing} missing scores) and lock them")


def _publish_preview(comp: TermGradeComputation, changes: list[Any]) -> dict[str, Any]:
    """The preview, derived from the rows the plan writes (letters, percentages) and the class's names."""
    rows = [c for c in changes if isinstance(c, Insert)]
    names = {line.student.id: f"{line.student.code} {line.student.full_name}" for line in comp.lines}
    letters: dict[str, int] = {}
    for row in rows:
        letter = row.values["letter"] or "none"
        letters[letter] = letters.get(letter, 0) + 1
    locked = sum(1 for c in changes if isinstance(c, Update))
    avg = comp.class_average_x100
    return {
        "class_id": comp.cls.id, "class": comp.cls.code, "term_id": comp.term.id, "term": comp.term.name,
        "students": len(rows), "assessments": [a.title for a in comp.assessments], "missing_scores": comp.missing,
        "grading_scale": comp.policy.scale.code,
        "class_average": _pct(avg), "letter_distribution": letters,
        "term_grades": [{"student": names.get(row.values["student_id"]),
                         "percentage": _pct(row.values["percentage_x100"]), "letter": row.values["letter"]}
                        for row in rows[:PREVIEW_ROWS]],
        "before": {"published": False, "locked_grades": 0},
        "after": {"published": True, "locked_grades": locked},
    }


def publish_outcome(plan: Plan) -> dict[str, Any]:
    """What a publication wrote, from its applied plan: class and term, students published, scores locked, the
    class average (percent)."""
    return {"class_id": plan.preview["class_id"], "class_code": plan.preview["class"],
            "term_id": plan.preview["term_id"], "published_students": len(inserted_rows(plan, "term_grades")),
            "locked_grades": len(changed_rows(plan, "grades")), "class_average": plan.preview["class_average"]}


# ---------------------------------------------------------------- change_locked_grade


async def plan_change_locked_grade(session: AsyncSession, actor: Actor, *, assessment_id: int, student_id: int,
                                   score_x100: int, reason: str) -> Plan:
    """Plan a grade change request on a locked (published) score: the score, its history row (before/after, the
    term grade before and after, the reason, the requester; who approved and the action are filled when
    applied) and the published term grade recomputed under the scale it was published with and the class's
    current categories. Raises NotFound, InvalidInput (not locked, same score, above the maximum),
    PermissionDenied outside a teacher's classes (check_grade_change)."""
    target = await check_grade_change(session, actor, assessment_id=assessment_id, student_id=student_id,
                                      score_x100=score_x100, locked=True)
    grade, cls, assessment = target.grade, target.cls, target.assessment
    assert grade is not None
    changes: list[Any] = [Update("grades", grade.id or 0, grade.version,
                                 before={"score_x100": grade.score_x100, "status": grade.status},
                                 after={"score_x100": score_x100, "status": GradeStatus.SCORED.value})]
    history: dict[str, Any] = {
        "grade_id": grade.id or 0, "class_id": cls.id or 0, "term_id": assessment.term_id, "student_id": student_id,
        "before_score_x100": grade.score_x100, "before_status": grade.status, "after_score_x100": score_x100,
        "after_status": GradeStatus.SCORED.value, "published": True, "reason": reason,
        "requested_by": actor.id or None, "approved_by": DECIDED_BY, "action_id": ACTION_ID}
    term_grade = await repo.get_term_grade(session, cls.id or 0, assessment.term_id, student_id)
    basis, inputs = await _policy_basis(session, cls, scale_code=term_grade.scale_code if term_grade else None)
    extra: dict[str, Any] = {"reason": reason}
    if term_grade is not None:
        policy = await gradebook.policy_for(session, cls, scale_code=term_grade.scale_code)
        assessments = await repo.assessments_of(session, cls.id or 0, assessment.term_id)
        grades = await repo.grades_for_assessments(session, [a.id or 0 for a in assessments], [student_id])
        by_id = {g.assessment_id: g for g in grades}
        by_id[assessment.id or 0] = Grade(assessment_id=assessment.id or 0, student_id=student_id,
                                          score_x100=score_x100, status=GradeStatus.SCORED.value)
        after = term_grade_values(gradebook.student_result(policy, assessments, by_id), policy)
        before = {k: getattr(term_grade, k) for k in after}
        changed = {k: v for k, v in after.items() if before[k] != v}
        history.update(term_percentage_before_x100=term_grade.percentage_x100,
                       term_letter_before=term_grade.letter, term_percentage_after_x100=after["percentage_x100"],
                       term_letter_after=after["letter"])
        if changed:
            changes.append(Update("term_grades", term_grade.id or 0, term_grade.version,
                                  before={k: before[k] for k in changed}, after=changed))
        else:  # nothing of the frozen grade changes, but it is what the preview showed: it must not change either
            basis.append(Read("term_grades", term_grade.id or 0, term_grade.version,
                              f"{target.student.code}'s published term grade"))
        extra["term_grade"] = {
            "before": {"percentage": _pct(term_grade.percentage_x100), "letter": term_grade.letter},
            "after": {"percentage": _pct(after["percentage_x100"]), "letter": after["letter"]}}
    changes.append(Insert("grade_changes", history))
    preview = {
        "student": f"{target.student.code} {target.student.full_name}", "class": cls.code,
        "assessment": assessment.title, "max_score": _pct(assessment.max_score_x100),
        "before": {"score": _pct(grade.score_x100), "status": grade.status, "comment": grade.comment,
                   "locked": grade.locked},
        "after": {"score": _pct(score_x100), "locked": grade.locked}, **extra}
    return Plan(command="change_locked_grade",
                summary=f"Change the published score of {target.student.full_name} on '{assessment.title}' "
                        f"({cls.code}) from {describe_result(grade)} to {rules.format_x100(score_x100)}: {reason}",
                preview=preview, changes=changes, basis=basis, inputs=inputs)

