"""Plans of academics' gated commands (domain.kernel.plan): publishing a class's term grades, changing a score
(before and after publication), correcting a past day's attendance, and changing a grading policy that results
depend on (a class's categories, a class's grading scale, the school's default scale).

Each `plan_<command>(session, actor, args) -> Plan` reads what it needs, raises the command's errors, and returns
every row it would write with the values it would write, plus its basis: the class's grading categories and the
grading scale its letters come from. So a scale made default, a re-weighted category or a score changed after the
preview makes the action stale instead of writing what nobody saw (issue: a publication previewed as
`C:9 D:5 F:7 B:3 A:1` must not freeze every student as A after a new default scale).
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from datetime import date

from domain.academics import attendance, gradebook, repository as repo, rules
from domain.academics.attendance_models import AttendanceStatus
from domain.academics.events import TermGradesPublished
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
from domain.kernel.errors import InvalidInput
from domain.kernel.outbox import event_effect
from domain.kernel.plan import (
    ACTION_ID,
    DECIDED_BY,
    NOW,
    Delete,
    Insert,
    Plan,
    Read,
    Update,
    changed_rows,
    inserted_rows,
)

PREVIEW_ROWS = 50
APPROVE = "approve"  # Plan.level: the gate holds the action for an admin who did not ask


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
    changes.append(event_effect(TermGradesPublished(class_id=class_id, class_code=comp.cls.code, term_id=term_id,
                                                    students=len(comp.lines))))
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



# ---------------------------------------------------------------- change_grade


def _grade_history(target: Any, score_x100: int, *, published: bool, reason: str | None, actor: Actor
                   ) -> dict[str, Any]:
    grade = target.grade
    return {"grade_id": grade.id or 0, "class_id": target.cls.id or 0, "term_id": target.assessment.term_id,
            "student_id": target.student.id or 0, "before_score_x100": grade.score_x100,
            "before_status": grade.status, "after_score_x100": score_x100, "after_status": GradeStatus.SCORED.value,
            "published": published, "reason": reason, "requested_by": actor.id or None, "approved_by": DECIDED_BY,
            "action_id": ACTION_ID}


async def plan_change_grade(session: AsyncSession, actor: Actor, *, assessment_id: int, student_id: int,
                            score_x100: int, comment: str | None) -> Plan:
    """Plan changing an existing, unpublished result to a score: the grade row (score, status scored, the
    comment when given) at the version previewed, and its history row (before/after, the requester; who
    confirmed and the action are filled when applied). A publication since the preview locks the grade, so the
    plan no longer plans (stale). Raises NotFound (no result yet), GradeLocked (published), InvalidInput (same
    score, above the maximum), PermissionDenied outside a teacher's classes (check_grade_change)."""
    target = await check_grade_change(session, actor, assessment_id=assessment_id, student_id=student_id,
                                      score_x100=score_x100, locked=False)
    grade = target.grade
    assert grade is not None
    before: dict[str, Any] = {"score_x100": grade.score_x100, "status": grade.status}
    after: dict[str, Any] = {"score_x100": score_x100, "status": GradeStatus.SCORED.value}
    if comment is not None:
        before["comment"], after["comment"] = grade.comment, comment
    changes: list[Any] = [Update("grades", grade.id or 0, grade.version, before=before, after=after),
                          Insert("grade_changes", _grade_history(target, score_x100, published=False, reason=None,
                                                                 actor=actor))]
    preview: dict[str, Any] = {
        "student": f"{target.student.code} {target.student.full_name}", "class": target.cls.code,
        "assessment": target.assessment.title, "max_score": _pct(target.assessment.max_score_x100),
        "before": {"score": _pct(grade.score_x100), "status": grade.status, "comment": grade.comment,
                   "locked": grade.locked},
        "after": {"score": _pct(score_x100), "locked": grade.locked}}
    if comment is not None:
        preview["after"]["comment"] = comment
    return Plan(command="change_grade",
                summary=f"Change {target.student.full_name}'s score on '{target.assessment.title}' "
                        f"({target.cls.code}) from {describe_result(grade)} to {rules.format_x100(score_x100)}",
                preview=preview, changes=changes)


# ---------------------------------------------------------------- correct_attendance


async def plan_correct_attendance(session: AsyncSession, actor: Actor, *, student_id: int, on_date: date,
                                  status: AttendanceStatus, note: str | None, reason: str, today: date) -> Plan:
    """Plan correcting a student's record of a past school day: the record's status (and note, when given) and
    who recorded it (the requester), at the version previewed. `today` is the school's calendar date. The
    reason is kept with the pending action and its audit rows. Raises what attendance.check_correction raises
    (NotFound, InvalidInput for today, a future day or no change, PermissionDenied outside the requester's
    sections)."""
    target = await attendance.check_correction(session, actor, student_id=student_id, on_date=on_date,
                                               status=status, note=note, today=today)
    record = target.record
    before: dict[str, Any] = {"status": record.status, "recorded_by": record.recorded_by}
    after: dict[str, Any] = {"status": status.value, "recorded_by": actor.id or None}
    if note is not None:
        before["note"], after["note"] = record.note, note
    change = Update("attendance_records", record.id or 0, record.version, before=before, after=after)
    preview = {
        "student": f"{target.student.code} {target.student.full_name}", "section": target.section.code,
        "date": record.on_date.isoformat(), "reason": reason,
        "before": {"status": record.status, "note": record.note},
        "after": {"status": change.after["status"], "note": change.after.get("note", record.note)}}
    return Plan(command="correct_attendance",
                summary=f"Correct {target.student.full_name}'s attendance on {record.on_date} "
                        f"({target.section.code}) from {record.status} to {status.value}: {reason}",
                preview=preview, changes=[change])


# ---------------------------------------------------------------- grading policies: what depends on them


async def _dependants(session: AsyncSession, cls: SchoolClass) -> tuple[list[str], int]:
    """The names of the terms whose grades of `cls` are published, and how many results it has recorded."""
    terms = await repo.published_terms_of_class(session, cls.id or 0)
    return [t.name for t in terms], await repo.count_results_of_class(session, cls.id or 0)


def _categories_shown(rows: Any) -> list[dict[str, Any]]:
    return [{"code": r.code, "name": r.name, "weight": _pct(r.weight_x100), "drop_lowest": r.drop_lowest}
            for r in rows]


# ---------------------------------------------------------------- set_grading_categories


async def plan_set_grading_categories(session: AsyncSession, actor: Actor, *, class_id: int,
                                      categories: list[gradebook.CategoryInput]) -> Plan:
    """Plan replacing a class's assessment categories (an empty list: each assessment's own weight again): the
    category rows inserted, updated (name, weight, drop-lowest; a removed code revived) and soft-deleted, the
    assessments whose category is stored upper-case, and the class's version (so pending publications and
    grade change requests of the class, which read the old weights, become stale).

    Gate policy: confirm; approve (an admin who did not ask) when the class has published term grades. Those
    frozen grades are not recomputed, but a grade change request on them (change_locked_grade) recomputes the
    term grade with the weights of the day, so the weights are a policy published results depend on.

    Raises InvalidInput when nothing would change, and what gradebook.check_categories raises.
    """
    check = await gradebook.check_categories(session, actor, class_id=class_id, categories=categories)
    cls = check.cls
    changes: list[Any] = []
    for a in check.assessments:
        if check.wanted and a.category is not None and a.category != a.category.strip().upper():
            changes.append(Update("assessments", a.id or 0, a.version, before={"category": a.category},
                                  after={"category": a.category.strip().upper()}))
    live = [r for r in check.rows.values() if r.deleted_at is None]
    for code, c in check.wanted.items():
        row = check.rows.get(code)
        values = {"name": c.name, "weight_x100": c.weight_x100, "drop_lowest": c.drop_lowest}
        if row is None:
            changes.append(Insert("grading_categories", {"class_id": cls.id or 0, "code": code, **values}))
            continue
        current = {"name": row.name, "weight_x100": row.weight_x100, "drop_lowest": row.drop_lowest}
        differing = {k: v for k, v in values.items() if current[k] != v}
        if row.deleted_at is not None:
            changes.append(Update("grading_categories", row.id or 0, row.version,
                                  before={**current, "deleted_at": row.deleted_at},
                                  after={**values, "deleted_at": None}))
        elif differing:
            changes.append(Update("grading_categories", row.id or 0, row.version,
                                  before={k: current[k] for k in differing}, after=differing))
    for row in live:
        if row.code not in check.wanted:
            changes.append(Delete("grading_categories", row.id or 0, row.version,
                                  before={"code": row.code, "weight_x100": row.weight_x100}))
    if not changes:
        how = "by these categories" if check.wanted else "by each assessment's own weight"
        raise InvalidInput(f"{cls.code} already grades {how}; nothing to change", field="categories")
    changes.append(Update("classes", cls.id or 0, cls.version, before={}, after={}))
    published, results = await _dependants(session, cls)
    after_rows = sorted(check.wanted.values(), key=lambda c: c.code)
    preview = {
        "class_id": cls.id, "class": cls.code, "published_terms": published, "recorded_results": results,
        "before": {"by_category": bool(live), "categories": _categories_shown(sorted(live, key=lambda r: r.code))},
        "after": {"by_category": bool(after_rows), "categories": _categories_shown(after_rows)},
        "note": ("published term grades stay as frozen; a later change of a published score recomputes its term "
                 "grade with these weights" if published else
                 "the class's running term grades are recomputed with these weights")}
    shown = ", ".join(f"{c.code} {_pct(c.weight_x100)}" for c in after_rows) or "each assessment's own weight"
    return Plan(command="set_grading_categories",
                summary=f"Weight the term grades of {cls.code} by {shown}"
                        + (f" (term grades published: {', '.join(published)})" if published else ""),
                preview=preview, changes=changes,
                level=APPROVE if published else None)


# ---------------------------------------------------------------- set_class_grading_scale


def _scale_name(record: GradingScaleRecord | None, default: GradingScaleRecord | None) -> str:
    if record is not None:
        return record.code
    return f"the school's default ({default.code if default else BASIC_SCALE.code})"


async def plan_set_class_grading_scale(session: AsyncSession, actor: Actor, *, class_id: int,
                                       scale_id: int | None) -> Plan:
    """Plan giving a class its own grading scale (None: the school's default again): the class's scale id at
    the version previewed, with the scale chosen as the basis.

    Gate policy: confirm while the class has no results; approve (an admin who did not ask) once it has
    recorded results or published term grades: its letters, GPA points and passes change (published grades
    keep the scale they were published with, but the class's next terms are graded by the new one).

    Raises NotFound (class, scale), InvalidInput when the class already uses that scale.
    """
    cls = await repo.get_or_raise(session, SchoolClass, class_id, field="class_id")
    record = None
    if scale_id is not None:
        record = await repo.get_or_raise(session, GradingScaleRecord, scale_id, field="scale_id")
    default = await repo.default_scale(session)
    current = (await repo.get_live(session, GradingScaleRecord, cls.grading_scale_id)
               if cls.grading_scale_id is not None else None)
    if cls.grading_scale_id == scale_id:
        raise InvalidInput(f"{cls.code} already grades by {_scale_name(record, default)}; nothing to change",
                           field="scale_id")
    basis = [Read("grading_scales", r.id or 0, r.version, f"the grading scale {r.code}")
             for r in (record if record is not None else default,) if r is not None]
    published, results = await _dependants(session, cls)
    before, after = _scale_name(current, default), _scale_name(record, default)
    preview = {"class_id": cls.id, "class": cls.code, "published_terms": published, "recorded_results": results,
               "before": {"scale_id": cls.grading_scale_id, "grading_scale": before},
               "after": {"scale_id": scale_id, "grading_scale": after},
               "note": "published term grades keep the scale they were published with"}
    return Plan(command="set_class_grading_scale",
                summary=f"Grade {cls.code} by {after} instead of {before}"
                        + (f" ({results} results recorded)" if results else ""),
                preview=preview, basis=basis,
                changes=[Update("classes", cls.id or 0, cls.version, before={"grading_scale_id": cls.grading_scale_id},
                                after={"grading_scale_id": scale_id})],
                inputs={"grading scale": after},
                level=APPROVE if published or results else None)


# ---------------------------------------------------------------- set_default_grading_scale


async def plan_set_default_grading_scale(session: AsyncSession, actor: Actor, *, scale_id: int | None) -> Plan:
    """Plan making a stored scale the school's default (None: no default, the built-in BASIC scale grades): the
    current default's flag cleared and the new one's set, at the versions previewed; the classes graded by the
    default are an input (a class that starts or stops relying on it makes the action stale).

    Gate policy: confirm while no class grades by the default; approve (an admin who did not ask) otherwise:
    their letters, GPA points and passes change (published term grades keep the scale they were published
    with). Issue 15: a default made after a publication was previewed must not freeze other letters.

    Raises NotFound (scale), InvalidInput when it is the default already.
    """
    record = None
    if scale_id is not None:
        record = await repo.get_or_raise(session, GradingScaleRecord, scale_id, field="scale_id")
    current = await repo.default_scale(session)
    if (current.id if current else None) == scale_id:
        raise InvalidInput(f"{record.code if record else 'the built-in ' + BASIC_SCALE.code} is already the "
                           "school's default grading scale; nothing to change", field="scale_id")
    changes: list[Any] = []
    if current is not None:
        changes.append(Update("grading_scales", current.id or 0, current.version, before={"is_default": True},
                              after={"is_default": False}))
    if record is not None:
        changes.append(Update("grading_scales", record.id or 0, record.version, before={"is_default": False},
                              after={"is_default": True}))
    relying = await repo.classes_on_default_scale(session)
    codes = [c.code for c in relying]
    before = current.code if current else f"{BASIC_SCALE.code} (built in)"
    after = record.code if record else f"{BASIC_SCALE.code} (built in)"
    preview = {"before": {"scale_id": current.id if current else None, "default_scale": before},
               "after": {"scale_id": scale_id, "default_scale": after},
               "classes_affected": len(codes), "classes": codes[:PREVIEW_ROWS],
               "note": "published term grades keep the scale they were published with"}
    return Plan(command="set_default_grading_scale",
                summary=f"Make {after} the school's default grading scale instead of {before} "
                        f"({len(codes)} class(es) grade by it)",
                preview=preview, changes=changes,
                inputs={"classes graded by the default scale": codes},
                level=APPROVE if codes else None)
