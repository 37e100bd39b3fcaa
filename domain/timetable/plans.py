"""Plans of the timetable's gated commands (domain.kernel.plan): publishing a solution as its problem's timetable,
and publishing cover for an absent teacher.

`plan_publish_timetable(session, actor, args) -> Plan` compares the solution with the published one (for a problem
changed after publication, the base problem's: domain.timetable.changes), raises the command's errors, and returns
the one change it makes (the problem's published solution, at the version previewed) with the solution it
publishes (and a changed problem's base problem) as its basis; the gate applies exactly that plan.

`plan_publish_cover(session, actor, ...) -> Plan` decides cover (service.propose_cover) and returns one
timetable_covers row per lesson (covered, study period or uncovered), each replacing the published row it
supersedes; its basis is the problem (a new timetable makes the action stale) and its inputs the weekly cap and the
published covers it read (a cover published meanwhile makes it stale).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor
from domain.kernel.plan import ACTION_ID, Delete, Insert, Plan, Read, Update, inserted_rows
from domain.timetable.cover import CoverKind
from domain.timetable.changes import Comparison
from domain.timetable.service import check_publication, problem_of, propose_cover


MAX_PREVIEW_LESSONS = 40
"""Lessons a cover or publication preview lists (get_cover_sheet lists every cover once published; a month's absence
is ~150 lessons): the preview stays near 4k tokens."""


async def plan_publish_timetable(session: AsyncSession, actor: Actor, *, solution_id: int) -> Plan:
    """Plan publishing a feasible solution as its problem's current timetable, replacing the published one (for a
    problem changed after publication, the published timetable of the problem it changed).

    The preview counts the published lessons kept, moved (another period, room or teacher), removed and added,
    the moved ones per section and per teacher, and lists up to MAX_PREVIEW_LESSONS moved lessons with their
    weekday, period, time, room and teacher before and after (domain.timetable.changes.compare); a changed
    problem's preview also says what changed. Raises NotFound, Conflict when the solution breaks hard constraints
    (service.check_publication)."""
    pub = await check_publication(session, solution_id=solution_id)
    previous = pub.current.id if pub.current else None
    change = Update("timetable_problems", pub.problem.id or 0, pub.problem.version,
                    before={"published_solution_id": pub.problem.published_solution_id},
                    after={"published_solution_id": pub.solution.id or 0})
    basis = [Read("timetable_solutions", pub.solution.id or 0, pub.solution.version,
                  f"timetable solution {pub.solution.id}")]
    base = pub.current_problem
    if base is not None and base.id != pub.problem.id:  # a changed problem: stale once its base is republished
        basis.append(Read("timetable_problems", base.id or 0, base.version, f"timetable problem {base.id}"))
    preview: dict[str, Any] = {
        "problem": pub.problem.name, "problem_id": pub.problem.id, "lessons": pub.lessons,
        "lessons_moved": pub.moved,
        "before": {"published_solution_id": previous, "soft_cost": pub.current.soft_cost if pub.current else None},
        "after": {"published_solution_id": change.after["published_solution_id"], "soft_cost": pub.solution.soft_cost}}
    if pub.problem.based_on_id is not None:
        preview["based_on_problem_id"] = pub.problem.based_on_id
        preview["change"] = pub.change
    if pub.comparison is not None:
        preview.update(_moves(pub.comparison, times=problem_of(pub.problem).period_times))
    summary = (f"Publish solution {pub.solution.id} as the timetable of {pub.problem.name}: "
               + (f"{pub.moved} of {pub.comparison.lessons_published} published lessons move"
                  if pub.comparison is not None else f"first timetable, {pub.lessons} lessons"))
    return Plan(command="publish_timetable", summary=summary, preview=preview, changes=[change], basis=basis)


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _moves(c: Comparison, *, times: tuple[str, ...]) -> dict[str, Any]:
    """The preview's counts and list of moved lessons (at most MAX_PREVIEW_LESSONS listed)."""
    def at(day: int, period: int, room: str, teacher: str) -> dict[str, Any]:
        return {"weekday": WEEKDAYS[day % 7], "period": period, "time": _times(times, period), "room": room,
                "teacher": teacher}
    listed = [{"class": m.course_id, "sections": list(m.sections),
               "before": at(m.day_before, m.period_before, m.room_before, m.teacher_before),
               "after": at(m.day_after, m.period_after, m.room_after, m.teacher_after)}
              for m in c.moved[:MAX_PREVIEW_LESSONS]]
    return {"lessons_published": c.lessons_published, "lessons_kept": c.kept, "lessons_removed": c.removed,
            "lessons_added": c.added, "moved_by_section": c.by_section, "moved_by_teacher": c.by_teacher,
            "moved_lessons": listed, "moved_not_shown": max(0, len(c.moved) - MAX_PREVIEW_LESSONS)}


def publish_outcome(plan: Plan) -> dict[str, Any]:
    """What a publication wrote, from its applied plan: problem, solution, the one it replaced, lessons, moved."""
    preview = plan.preview
    return {"problem_id": preview["problem_id"], "solution_id": preview["after"]["published_solution_id"],
            "previous_solution_id": preview["before"]["published_solution_id"], "lessons": preview["lessons"],
            "lessons_moved": preview["lessons_moved"]}


def _times(times: tuple[str, ...], period: int) -> str | None:
    return times[period] if period < len(times) else None


async def plan_publish_cover(session: AsyncSession, actor: Actor, *, problem_id: int | None, teacher: str,
                             start: date, end: date, max_per_week: int, holidays_country: str | None = None,
                             holidays_subdivision: str | None = None) -> Plan:
    """Plan publishing cover for `teacher` absent from `start` to `end` (service.propose_cover): a row per lesson
    (its covering teacher, study room and supervisor, or uncovered with the reason), each replacing the published
    row it supersedes. The preview lists them with period times, and counts covered, study and uncovered lessons.
    Raises what propose_cover raises."""
    prop = await propose_cover(session, problem_id=problem_id, teacher=teacher, start=start, end=end,
                               max_per_week=max_per_week, holidays_country=holidays_country,
                               holidays_subdivision=holidays_subdivision)
    changes: list[Any] = [Delete("timetable_covers", row.id or 0, row.version,
                                 before={"on_date": row.on_date, "period": row.period, "course_id": row.course_id,
                                         "kind": row.kind, "cover_teacher": row.cover_teacher})
                          for _, row in sorted(prop.replaced.items())]
    lessons = []
    for d in prop.decisions:
        n = d.need
        changes.append(Insert("timetable_covers", {
            "problem_id": prop.problem.id or 0, "on_date": n.on, "period": n.period, "course_id": n.course_id,
            "room": n.room_id, "absent_teacher": n.absent_teacher, "kind": d.kind.value, "cover_teacher": d.teacher,
            "study_room": d.study_room, "action_id": ACTION_ID}))
        lessons.append({"date": n.on.isoformat(), "period": n.period, "time": _times(prop.period_times, n.period),
                        "class": n.course_id, "room": d.study_room or n.room_id, "absent": n.absent_teacher,
                        "kind": d.kind.value, "cover": d.teacher, "reason": d.reason})
    counts = {k.value: sum(1 for d in prop.decisions if d.kind == k) for k in CoverKind}
    preview: dict[str, Any] = {"problem_id": prop.problem.id, "teacher": teacher, "start_date": start.isoformat(),
                               "end_date": end.isoformat(), "max_covers_per_week": max_per_week,
                               "counts": counts, "already_covered": len(prop.kept), "replaced": len(prop.replaced),
                               "lessons": lessons[:MAX_PREVIEW_LESSONS],
                               "lessons_not_shown": max(0, len(lessons) - MAX_PREVIEW_LESSONS)}
    summary = (f"Cover {teacher} from {start} to {end}: {counts['teacher']} by a teacher, {counts['study']} study "
               f"periods, {counts['uncovered']} uncovered")
    return Plan(command="publish_cover", summary=summary, preview=preview, changes=changes,
                basis=[Read("timetable_problems", prop.problem.id or 0, prop.problem.version,
                            f"timetable problem {prop.problem.id}")],
                inputs={"most covers a week": max_per_week,
                        "published covers": f"{len(prop.read)} (last id {max(prop.read, default=0)})"})


def cover_outcome(plan: Plan) -> dict[str, Any]:
    """What a cover publication wrote, from its applied plan: teacher, dates, counts and the lessons."""
    p = plan.preview
    return {"teacher": p["teacher"], "start_date": p["start_date"], "end_date": p["end_date"], "counts": p["counts"],
            "rows": len(inserted_rows(plan, "timetable_covers")), "lessons": p["lessons"],
            "lessons_not_shown": p["lessons_not_shown"]}
