"""The timetable solve job: CP-SAT in a thread, best soft cost over time as progress, the solution stored once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from domain.jobs.schemas import JobKind
from domain.timetable import repository as timetable_repo
from domain.timetable import service as timetable
from domain.timetable.models import TimetableSolution
from domain.timetable.changes import changed_problem, compare, total_moved
from domain.timetable.perturbation import resolve
from domain.timetable.solver import solve
from workers.handlers import JobContext, register

PROGRESS_EVERY_S = 1.0  # at most one progress row per second, and at least one (so cancellation is seen)
MAX_CURVE_POINTS = 50
STOP_WAIT_S = 10.0  # how long a cancelled job waits for its solver thread to stop (it checks about every second)


def solution_result(row: TimetableSolution, curve: list[tuple[float, int]] | None = None) -> dict[str, Any]:
    """Return a job's JSON result for a stored solution."""
    out: dict[str, Any] = {"solution_id": row.id, "problem_id": row.problem_id, "status": row.status,
                           "hard_violations": row.hard_violations, "soft_cost": row.soft_cost,
                           "seconds": row.seconds}
    if curve is not None:
        out["best_cost_over_time"] = [[round(s, 2), c] for s, c in curve[-MAX_CURVE_POINTS:]]
    return out


@register(JobKind.SOLVE_TIMETABLE)
async def solve_timetable(ctx: JobContext, job_id: int, params: dict[str, Any]) -> dict[str, Any]:
    """Solve problem `params["problem_id"]` within `time_limit_s` with `seed`; store and return the solution.

    With `params["change"]` (a domain.timetable.changes.TimetableChange as JSON) and `params["base_solution_id"]`
    (the problem's published solution), solve the changed problem with the fewest moves from that timetable
    (domain.timetable.perturbation), store the changed problem with the solution (one transaction), and add to the
    result the published lessons kept, moved (or removed) and the lessons added (domain.timetable.changes.compare).

    Idempotent: when this job already stored a solution (a worker died after the commit), return it unchanged.
    The solver runs in a thread (asyncio.to_thread) so the event loop keeps serving; each improvement is
    reported as progress "best soft cost C at S s" (fraction = elapsed / time limit). A cancellation request
    is seen at the next report (within a second) and stops the solver thread as well.
    """
    async with ctx.runtime.db.read() as session:
        existing = await timetable_repo.solution_of_job(session, job_id)
        if existing is not None:
            return solution_result(existing)
        row = await timetable_repo.get_problem_or_raise(session, int(params["problem_id"]))
        problem = timetable.problem_of(row)
        base = change = None
        if params.get("change") is not None:  # propose_timetable_change: the changed problem, fewest moves
            change = timetable.change_from_json(json.dumps(params["change"]))
            published = await timetable_repo.get_solution_or_raise(session, int(params["base_solution_id"]))
            base = (problem, timetable.solution_of(published))
            problem = changed_problem(problem, change)
    limit = float(params["time_limit_s"])
    loop = asyncio.get_running_loop()
    improved: asyncio.Queue[tuple[float, int, int]] = asyncio.Queue()

    def on_progress(seconds: float, cost: int, bound: int) -> None:  # called from CP-SAT threads
        loop.call_soon_threadsafe(improved.put_nowait, (seconds, cost, bound))

    await ctx.progress(0.0, f"solving {problem.name}: {problem.total_lectures} lectures, {limit:.0f}s limit")
    start = time.monotonic()
    stop = threading.Event()
    if base is None:
        task = asyncio.ensure_future(asyncio.to_thread(solve, problem, time_limit_s=limit, seed=int(params["seed"]),
                                                       workers=2, on_progress=on_progress, stop=stop))
    else:
        task = asyncio.ensure_future(asyncio.to_thread(
            resolve, problem, before_problem=base[0], before=base[1], time_limit_s=limit, seed=int(params["seed"]),
            workers=2, on_progress=on_progress, stop=stop))
    latest: tuple[float, int, int] | None = None
    try:
        while not task.done():
            done, _ = await asyncio.wait({task}, timeout=PROGRESS_EVERY_S)
            while not improved.empty():
                latest = improved.get_nowait()
            if done:
                break
            fraction = min(0.99, (time.monotonic() - start) / limit)
            message = ("searching for a first timetable" if latest is None else
                       f"best soft cost {latest[1]} at {latest[0]:.1f}s (lower bound {latest[2]})")
            await ctx.progress(fraction, message)  # raises JobCancelled when cancel_job asked to stop
    except BaseException:
        # Cancelled (cancel_job, or the worker shutting down): stop the solver thread too, within about a
        # second, so it does not hold both cores for the rest of its time limit.
        stop.set()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        raise
    result = task.result()
    async with ctx.runtime.db.write() as session:
        existing = await timetable_repo.solution_of_job(session, job_id)
        if existing is not None:
            return solution_result(existing)
        row = await timetable_repo.get_problem_or_raise(session, int(params["problem_id"]))
        if change is not None:
            row, _ = await timetable.store_changed_problem(session, base=row, change=change)
        saved = await timetable.save_solution(session, problem_row=row, result=result, job_id=job_id)
        out = solution_result(saved, list(result.progress))
        if base is not None and result.solution is not None:
            c = compare(base[0], base[1], problem, result.solution)
            out.update(lessons_published=c.lessons_published, lessons_kept=c.kept, lessons_moved=total_moved(c),
                       lessons_added=c.added)
        return out
