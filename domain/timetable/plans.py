"""Plans of the timetable's gated commands (domain.kernel.plan): publishing a solution as its problem's timetable.

`plan_publish_timetable(session, actor, args) -> Plan` compares the solution with the published one, raises the
command's errors, and returns the one change it makes (the problem's published solution, at the version
previewed) with the solution it publishes as its basis; the gate applies exactly that plan.
"""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor
from domain.kernel.plan import Plan, Read, Update
from domain.timetable.service import check_publication


async def plan_publish_timetable(session: AsyncSession, actor: Actor, *, solution_id: int) -> Plan:
    """Plan publishing a feasible solution as its problem's current timetable, replacing the published one.
    The preview says how many lessons move (same room, day and period or not). Raises NotFound, Conflict when the
    solution breaks hard constraints (service.check_publication)."""
    pub = await check_publication(session, solution_id=solution_id)
    previous = pub.current.id if pub.current else None
    change = Update("timetable_problems", pub.problem.id or 0, pub.problem.version,
                    before={"published_solution_id": previous},
                    after={"published_solution_id": pub.solution.id or 0})
    basis = [Read("timetable_solutions", pub.solution.id or 0, pub.solution.version,
                  f"timetable solution {pub.solution.id}")]
    preview: dict[str, Any] = {
        "problem": pub.problem.name, "problem_id": pub.problem.id, "lessons": pub.lessons,
        "lessons_moved": pub.moved,
        "before": {"published_solution_id": change.before["published_solution_id"],
                   "soft_cost": pub.current.soft_cost if pub.current else None},
        "after": {"published_solution_id": change.after["published_solution_id"], "soft_cost": pub.solution.soft_cost}}
    summary = (f"Publish solution {pub.solution.id} as the timetable of {pub.problem.name}: "
               + (f"{pub.moved} of {pub.lessons} lessons move" if previous else
                  f"first timetable, {pub.lessons} lessons"))
    return Plan(command="publish_timetable", summary=summary, preview=preview, changes=[change], basis=basis)


def publish_outcome(plan: Plan) -> dict[str, Any]:
    """What a publication wrote, from its applied plan: problem, solution, the one it replaced, lessons, moved."""
    preview = plan.preview
    return {"problem_id": preview["problem_id"], "solution_id": preview["after"]["published_solution_id"],
            "previous_solution_id": preview["before"]["published_solution_id"], "lessons": preview["lessons"],
            "lessons_moved": preview["lessons_moved"]}
