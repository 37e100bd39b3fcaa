"""Use cases of the agent's conversations: threads, runs and what a run records as it goes.

Every function works inside the caller's unit of work and never commits. The loop itself (model calls, tool
calls) lives in workers/agent_loop.py; this module owns the rows and the run's state machine:

    start_run:      queued (a job is created for it)
    claim_run:      queued | running (a restarted worker) -> running
    record_turn:    one model turn (assistant message, its tool calls, usage, steps)
    pause:          running -> awaiting_confirmation (pending actions wait for the human)
    decide:         an awaited action confirmed or rejected; the last one re-queues the run (a new job)
    finish:         running -> completed | limit_reached | failed | cancelled

A thread is private to its owner (admins may read every thread); a run acts as its requester, with the
requester's roles, so the agent can never do more than the human who asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from domain.agent import repository as repo
from domain.agent.feed import mark_changed
from domain.agent.models import (
    FINAL_RUN_STATUSES,
    AgentEvent,
    AgentMessage,
    AgentRun,
    AgentThread,
    AgentToolCall,
    RunStatus,
    ToolCallStatus,
)
from domain.jobs import service as jobs
from domain.jobs.service import Job
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit
from domain.kernel.clock import utcnow
from domain.kernel.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from domain.kernel.models import bump

OPEN_RUN_STATUSES = (RunStatus.QUEUED.value, RunStatus.RUNNING.value, RunStatus.AWAITING_CONFIRMATION.value)
MAX_TITLE = 200


@dataclass(frozen=True)
class Limits:
    """A run's limits: model turns (`max_steps`), input + output tokens over the run (`max_tokens`), and active
    seconds (`max_seconds`; time spent waiting for a human does not count)."""

    max_steps: int
    max_tokens: int
    max_seconds: int


@dataclass
class ToolCallRequest:
    """A tool call as the model made it: the provider's call id, the tool name and the decoded input (None when
    the model sent arguments that are not a JSON object; `raw_arguments` keeps what it sent)."""

    id: str
    name: str
    input: dict[str, Any] | None
    raw_arguments: str = ""


@dataclass
class ToolResult:
    """A tool call's result as the model reads it: `content` (JSON text, or `error: code` and a message)."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@dataclass
class Transcript:
    """A thread's conversation in provider-neutral form, oldest first. Entries are
    {"role": "user", "text"}, {"role": "assistant", "text", "tool_calls": [{id, name, input}]} and
    {"role": "tool", "results": [ToolResult]}. `unfinished` lists the last assistant turn's tool calls
    that have no result yet (a worker died while running them)."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    unfinished: list[ToolCallRequest] = field(default_factory=list)
    last_message_id: int | None = None


@dataclass(frozen=True)
class Usage:
    """A run's usage: model turns, tool calls executed, input and output tokens."""

    steps: int
    tool_calls: int
    input_tokens: int
    output_tokens: int


async def usage(session: AsyncSession, run_id: int) -> Usage:
    """Add up a run's usage from its assistant messages and recorded tool calls."""
    return Usage(*await repo.usage_totals(session, run_id))


async def store_usage(session: AsyncSession, run: AgentRun) -> None:
    """Copy the run's usage onto its row (when a segment stops)."""
    used = await usage(session, run.id or 0)
    run.steps, run.tool_calls = used.steps, used.tool_calls
    run.input_tokens, run.output_tokens = used.input_tokens, used.output_tokens


# -- threads ------------------------------------------------------------------------------------------------


async def create_thread(session: AsyncSession, actor: Actor, *, title: str | None) -> AgentThread:
    """Create a thread owned by `actor`; the title defaults to "New conversation"."""
    thread = AgentThread(owner_id=actor.id, title=(title or "New conversation").strip()[:MAX_TITLE]
                         or "New conversation")
    session.add(thread)
    await session.flush()
    return thread


def ensure_can_see(actor: Actor, owner_id: int, what: str) -> None:
    """Rule: a thread and its runs are visible to their owner and to admins only."""
    if actor.is_admin or actor.id == owner_id:
        return
    raise PermissionDenied(f"{what} belongs to another user; only its owner or an admin can see it")


async def get_thread_for(session: AsyncSession, actor: Actor, thread_id: int, *,
                         for_update: bool = False) -> AgentThread:
    """Return a thread the actor may see (`for_update` locks it on PostgreSQL, so two messages posted at once
    cannot both start a run); raises NotFound or PermissionDenied."""
    thread = await repo.get_thread(session, thread_id, for_update=for_update)
    if thread is None or thread.deleted_at is not None:
        raise NotFound(f"no thread with id {thread_id}; create one with POST /v1/threads", field="thread_id")
    ensure_can_see(actor, thread.owner_id, f"thread {thread_id}")
    return thread


async def list_threads(session: AsyncSession, actor: Actor, *, after_id: int, limit: int) -> list[AgentThread]:
    """Return up to `limit + 1` of the actor's threads after `after_id`, oldest first."""
    return await repo.list_threads(session, actor.id, after_id=after_id, limit=limit)


async def thread_messages(session: AsyncSession, thread_id: int) -> list[AgentMessage]:
    """Return every message of a thread, oldest first."""
    return await repo.thread_messages(session, thread_id)


async def add_message(session: AsyncSession, thread_id: int, *, role: str, text: str,
                      run_id: int | None = None, tool_calls: list[dict[str, Any]] | None = None) -> AgentMessage:
    """Append a message to a thread (role user or assistant)."""
    if role not in ("user", "assistant"):
        raise InvalidInput(f"message role {role!r} is not allowed; use user or assistant", field="role")
    message = AgentMessage(thread_id=thread_id, run_id=run_id, role=role, text=text,
                           tool_calls=None if tool_calls is None else json.dumps(tool_calls))
    session.add(message)
    await session.flush()
    return message


# -- runs ---------------------------------------------------------------------------------------------------


async def get_run(session: AsyncSession, run_id: int, *, for_update: bool = False) -> AgentRun:
    """Return a run; raises NotFound."""
    run = await repo.get_run(session, run_id, for_update=for_update)
    if run is None:
        raise NotFound(f"no run with id {run_id}", field="run_id")
    return run


async def get_run_for(session: AsyncSession, actor: Actor, run_id: int, *, for_update: bool = False) -> AgentRun:
    """Return a run the actor may see; raises NotFound or PermissionDenied."""
    run = await get_run(session, run_id, for_update=for_update)
    ensure_can_see(actor, run.requested_by, f"run {run_id}")
    return run


async def open_run_of(session: AsyncSession, thread_id: int) -> AgentRun | None:
    """Return the thread's run that is queued, running or awaiting confirmation, if any."""
    return await repo.open_run_of(session, thread_id, OPEN_RUN_STATUSES)


async def _new_segment_job(session: AsyncSession, actor: Actor, run: AgentRun) -> None:
    segment = await repo.count_events(session, run.id or 0, ("run.queued", "run.resumed"))
    job = await jobs.create_job(session, actor, kind=jobs.JobKind.AGENT_RUN,
                                params={"run_id": run.id, "segment": segment + 1})
    run.job_id = job.id


async def start_run(session: AsyncSession, actor: Actor, thread: AgentThread, *, text: str, provider: str,
                    model: str, limits: Limits) -> AgentRun:
    """Append the user's message to `thread` and queue a run answering it (with its job; the caller enqueues
    `run.job_id` after commit). Raises Conflict while another run of the thread is open, PermissionDenied
    when the actor does not own the thread."""
    if thread.owner_id != actor.id:
        raise PermissionDenied(f"thread {thread.id} belongs to another user; only its owner can post to it")
    if not text.strip():
        raise InvalidInput("the message is empty; send the question or instruction as text", field="content")
    busy = await open_run_of(session, thread.id or 0)
    if busy is not None:
        raise Conflict(f"run {busy.id} of this thread is still {busy.status}; wait for it, confirm or reject its "
                       f"pending action, or cancel it (POST /v1/runs/{busy.id}/cancel) before posting again",
                       field="thread_id")
    run = AgentRun(thread_id=thread.id or 0, requested_by=actor.id, status=RunStatus.QUEUED.value,
                   provider=provider, model=model, max_steps=limits.max_steps, max_tokens=limits.max_tokens,
                   max_seconds=limits.max_seconds)
    session.add(run)
    await session.flush()
    await add_message(session, thread.id or 0, role="user", text=text, run_id=run.id)
    await _new_segment_job(session, actor, run)
    await add_event(session, run.id or 0, "run.queued", {"run_id": run.id, "thread_id": thread.id})
    bump(thread)
    session.add_all([run, thread])
    await append_audit(session, actor, tool="agent_run", event="write", arguments={"thread_id": thread.id},
                       entity="agent_runs", entity_id=run.id, after={"status": run.status, "model": model})
    await session.flush()
    return run


async def claim_run(session: AsyncSession, run_id: int) -> AgentRun | None:
    """Mark a queued run (or one a dead worker left running) running and return it; None when there is nothing to
    run (it ended, or waits for a human)."""
    run = await get_run(session, run_id, for_update=True)
    if run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value):
        return None
    resumed = run.started_at is not None
    run.status = RunStatus.RUNNING.value
    run.started_at = run.started_at or utcnow()
    bump(run)
    session.add(run)
    await add_event(session, run_id, "run.started", {"run_id": run_id, "resumed": resumed})
    return run


async def add_event(session: AsyncSession, run_id: int, type_: str, data: dict[str, Any]) -> None:
    """Append an event to a run's stream (a Core INSERT: the loop writes several per step)."""
    await add_events(session, run_id, [(type_, data)])


async def add_events(session: AsyncSession, run_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Append events (type, data) to a run's stream, in order, in one INSERT; the run's followers are woken when
    the transaction commits (domain/agent/feed.py)."""
    if events:
        mark_changed(session, run_id)
        now = utcnow()
        await repo.insert_events(session, [
            {"run_id": run_id, "type": type_, "data": json.dumps(data, default=str), "created_at": now}
            for type_, data in events])


async def events_after(session: AsyncSession, run_id: int, after_id: int, *, limit: int = 500) -> list[AgentEvent]:
    """Return a run's events with id > `after_id`, in order."""
    return await repo.events_after(session, run_id, after_id, limit=limit)


async def transcript(session: AsyncSession, thread_id: int, run_id: int | None = None) -> Transcript:
    """Return the thread's conversation for a model (see Transcript). Tool calls of `run_id` still awaiting a
    human are not part of it; tool calls of other runs without a result are closed as interrupted."""
    out = Transcript()
    messages = await thread_messages(session, thread_id)
    calls = (await repo.tool_calls_of_messages(session, [m.id for m in messages if m.tool_calls])
             if messages else [])
    by_message: dict[int, dict[str, AgentToolCall]] = {}
    for call in calls:
        by_message.setdefault(call.message_id, {})[call.call_id] = call
    for message in messages:
        out.last_message_id = message.id
        if message.role == "user":
            out.entries.append({"role": "user", "text": message.text})
            continue
        requested = json.loads(message.tool_calls) if message.tool_calls else []
        out.entries.append({"role": "assistant", "text": message.text, "tool_calls": requested})
        if not requested:
            continue
        results: list[ToolResult] = []
        recorded = by_message.get(message.id or 0, {})
        for call in requested:
            row = recorded.get(call["id"])
            if row is not None and row.status != ToolCallStatus.AWAITING.value:
                results.append(ToolResult(row.call_id, row.name, row.result, row.is_error))
            elif message.run_id == run_id and message is messages[-1] and row is None:
                out.unfinished.append(ToolCallRequest(call["id"], call["name"], call.get("input"),
                                                      call.get("raw_arguments", "")))
            else:
                results.append(ToolResult(call["id"], call["name"], "error: interrupted\nThis call did not "
                                          "complete; nothing is known of its outcome.", True))
        if results:
            out.entries.append({"role": "tool", "results": results})
    return out


async def record_turn(session: AsyncSession, run_id: int, thread_id: int, *, text: str,
                      tool_calls: list[ToolCallRequest], input_tokens: int, output_tokens: int,
                      results: list[ToolResult] | None = None, tool_ms: dict[str, float] | None = None
                      ) -> AgentMessage:
    """Record one model turn: the assistant message with its usage, and its events; with `results` (calls that
    already ran: reads), their rows and events too. Three statements however many calls: the loop's hot path."""
    calls = [{"id": c.id, "name": c.name, "input": c.input}
             | ({"raw_arguments": c.raw_arguments} if c.input is None else {}) for c in tool_calls]
    message = AgentMessage(thread_id=thread_id, run_id=run_id, role="assistant", text=text,
                           tool_calls=json.dumps(calls) if calls else None, input_tokens=input_tokens,
                           output_tokens=output_tokens)
    message.id = await repo.insert_message(session, {
        "thread_id": thread_id, "run_id": run_id, "role": "assistant", "text": text,
        "tool_calls": message.tool_calls, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "created_at": message.created_at})
    events: list[tuple[str, dict[str, Any]]] = [("tool.call", call) for call in calls]
    if results is not None:
        await _insert_results(session, run_id, message.id or 0, results, set(), tool_ms or {})
        events += _result_events(results)
    await add_events(session, run_id, events)
    return message


def _result_events(results: list[ToolResult]) -> list[tuple[str, dict[str, Any]]]:
    return [("tool.result", {"call_id": r.call_id, "name": r.name, "is_error": r.is_error,
                             "content": r.content[:2000]}) for r in results]


async def _insert_results(session: AsyncSession, run_id: int, message_id: int, results: list[ToolResult],
                          rows_written: set[str], tool_ms: dict[str, float]) -> None:
    now = utcnow()
    rows = [{"run_id": run_id, "message_id": message_id, "call_id": r.call_id, "name": r.name,
             "status": ToolCallStatus.DONE.value, "is_error": r.is_error, "result": r.content, "action_id": None,
             "tool_ms": tool_ms.get(r.call_id, 0.0), "version": 1, "created_at": now, "updated_at": now}
            for r in results if r.call_id not in rows_written]
    if rows:
        await repo.insert_tool_calls(session, rows)


def tool_call_row(run_id: int, message_id: int, result: ToolResult, *, action_id: int | None = None,
                  tool_ms: float = 0.0) -> AgentToolCall:
    """Build the row recording a tool call's result (`action_id` set: it waits for the human)."""
    return AgentToolCall(run_id=run_id, message_id=message_id, call_id=result.call_id, name=result.name,
                         status=(ToolCallStatus.AWAITING if action_id is not None else ToolCallStatus.DONE).value,
                         is_error=result.is_error, result=result.content, action_id=action_id, tool_ms=tool_ms)


async def record_results(session: AsyncSession, run_id: int, message_id: int, results: list[ToolResult],
                         rows_written: set[str], *, tool_ms: dict[str, float]) -> None:
    """Record the results not already written in their tool's transaction, and a tool.result event for each."""
    await _insert_results(session, run_id, message_id, results, rows_written, tool_ms)
    await add_events(session, run_id, _result_events(results))


async def awaiting_calls(session: AsyncSession, run_id: int) -> list[AgentToolCall]:
    """Return the run's tool calls whose pending action waits for the human."""
    return await repo.tool_calls_with_status(session, run_id, ToolCallStatus.AWAITING.value)


async def proposed_by_run(session: AsyncSession, run_id: int) -> set[int]:
    """Return the ids of the pending actions that run `run_id`'s own tool calls proposed (the only actions its
    model may cancel)."""
    return await repo.action_ids_of_run(session, run_id)


async def pause(session: AsyncSession, run: AgentRun, actions: list[dict[str, Any]], *, active_ms: int) -> None:
    """Stop a run to wait for the human's decision on `actions` (pending actions, as the gate returned them)."""
    run.status = RunStatus.AWAITING_CONFIRMATION.value
    run.awaiting_action_ids = json.dumps([a["action_id"] for a in actions])
    await store_usage(session, run)
    run.active_ms += active_ms
    bump(run)
    session.add(run)
    await add_event(session, run.id or 0, "run.awaiting_confirmation", {"run_id": run.id, "actions": actions})


def awaiting_ids(run: AgentRun) -> list[int]:
    return list(json.loads(run.awaiting_action_ids or "[]"))


async def decide(session: AsyncSession, actor: Actor, run: AgentRun, *, action_id: int, decision: str,
                 outcome: dict[str, Any]) -> bool:
    """Record the human's decision on an awaited action as the tool call's result; when no action is left
    waiting, queue the run again (a new job; the caller enqueues `run.job_id` after commit). Returns whether
    the run was queued again."""
    if action_id not in awaiting_ids(run):
        raise InvalidInput(f"run {run.id} is not waiting for action {action_id}; it waits for "
                           f"{awaiting_ids(run) or 'nothing'}", field="action_id")
    for call in await awaiting_calls(session, run.id or 0):
        if call.action_id == action_id:
            call.status = ToolCallStatus.DECIDED.value
            call.result = json.dumps(outcome, default=str)
            bump(call)
            session.add(call)
    remaining = [i for i in awaiting_ids(run) if i != action_id]
    run.awaiting_action_ids = json.dumps(remaining)
    await add_event(session, run.id or 0, "action.decided", {"action_id": action_id, "decision": decision,
                                                             "status": outcome.get("status")})
    requeue = not remaining
    if requeue:
        run.status = RunStatus.QUEUED.value
        await _new_segment_job(session, actor, run)
        await add_event(session, run.id or 0, "run.resumed", {"run_id": run.id})
    bump(run)
    session.add(run)
    await append_audit(session, actor, tool="agent_run", event=f"action_{decision}",
                       arguments={"run_id": run.id, "action_id": action_id}, entity="agent_runs",
                       entity_id=run.id, after={"status": run.status})
    return requeue


async def finish(session: AsyncSession, run: AgentRun, status: RunStatus, *, active_ms: int,
                 stop_reason: str | None = None, error: str | None = None,
                 final_message_id: int | None = None) -> None:
    """Close a run: completed, limit_reached (with `stop_reason`), failed (with `error`) or cancelled."""
    if status not in FINAL_RUN_STATUSES:
        raise ValueError(f"{status} is not a final run status")
    await store_usage(session, run)
    run.status = status.value
    run.stop_reason = stop_reason
    run.error = error
    run.final_message_id = final_message_id or run.final_message_id
    run.active_ms += active_ms
    run.finished_at = utcnow()
    bump(run)
    session.add(run)
    data: dict[str, Any] = {"run_id": run.id, "status": run.status, "steps": run.steps,
                            "input_tokens": run.input_tokens, "output_tokens": run.output_tokens}
    if stop_reason:
        data["stop_reason"] = stop_reason
    if error:
        data["error"] = error
    await add_event(session, run.id or 0, f"run.{status.value}", data)


async def cancel(session: AsyncSession, actor: Actor, run: AgentRun) -> int | None:
    """Cancel an open run as its owner or an admin. A queued or awaiting run ends at once; a running one is asked
    to stop (its job's cancellation) and ends at its next step. Returns the job id whose cancellation was asked
    for, if any. Raises Conflict when the run already ended."""
    ensure_can_see(actor, run.requested_by, f"run {run.id}")
    if run.status in {s.value for s in FINAL_RUN_STATUSES}:
        raise Conflict(f"run {run.id} already ended ({run.status})", field="run_id")
    job_id = None
    if run.job_id is not None:
        job = await jobs.get_job_or_raise(session, run.job_id)
        if not job.is_final:
            await jobs.request_cancel(session, actor, job_id=run.job_id)
            job_id = run.job_id
    for call in await awaiting_calls(session, run.id or 0):  # a later run of the thread reads why they ended
        call.status = ToolCallStatus.DECIDED.value
        call.result = json.dumps({"action_id": call.action_id, "decision": "cancelled", "status": "cancelled",
                                  "note": "The run was cancelled before the user decided; nothing was changed."})
        bump(call)
        session.add(call)
    if run.status != RunStatus.RUNNING.value:
        await finish(session, run, RunStatus.CANCELLED, active_ms=0, stop_reason="cancelled")
    await append_audit(session, actor, tool="agent_run", event="cancelled", arguments={"run_id": run.id},
                       entity="agent_runs", entity_id=run.id, after={"status": run.status})
    return job_id


def abandoned(run: AgentRun, job: Job | None, *, lost_before: datetime | None,
              running_here: frozenset[int] = frozenset()) -> str | None:
    """Rule: why a queued or running run has nothing left to run it, or None while it has.

    - its job failed or was cancelled without closing the run (the handler failed before the loop ran, a
      cancellation while its worker was dead, a server stopped mid-run): "failed" / "cancelled";
    - its job is running but its worker stopped answering: no heartbeat since `lost_before` (the caller gives
      the time: workers/recovery.py LOST_AFTER_BEATS heartbeats ago, twice the silence after which a live worker
      takes an orphaned job over) and no process took it over: "lost". A job this process runs (`running_here`)
      is never lost, whatever its heartbeat says.
    """
    if run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value) or job is None:
        return None
    if job.status in ("failed", "cancelled"):
        return job.status
    if (lost_before is not None and job.status == "running" and job.id not in running_here
            and (job.heartbeat_at or job.started_at or job.created_at) < lost_before):
        return "lost"
    return None


def lost_message(job: Job, now: datetime) -> str:
    """The error of a run whose worker was lost (see `abandoned`)."""
    last = job.heartbeat_at or job.started_at or job.created_at
    return (f"the worker running this run ({job.worker or 'unknown'}) stopped answering: no heartbeat for "
            f"{(now - last).total_seconds():.1f} s, and no other worker took the run over; nothing more will run. "
            "Send the message again to start a new run")


async def reconcile(session: AsyncSession, run: AgentRun, *, lost_before: datetime | None = None,
                    running_here: frozenset[int] = frozenset()) -> str | None:
    """Close a queued or running run that has nothing left to run it (`abandoned`): failed with its job's error,
    cancelled, or failed with its job when its worker was lost (the job row is locked and checked again, so a
    worker taking the job over at the same moment wins: `mark_running` then finds it running with a fresh
    heartbeat, or this finds it final). Returns what was found ("failed", "cancelled", "lost") or None."""
    if run.status not in (RunStatus.QUEUED.value, RunStatus.RUNNING.value) or run.job_id is None:
        return None
    job = await jobs.get_job(session, run.job_id)
    why = abandoned(run, job, lost_before=lost_before, running_here=running_here)
    if why is None or job is None:
        return None
    if why == "lost":
        await repo.refresh_for_update(session, job)
        if abandoned(run, job, lost_before=lost_before, running_here=running_here) != "lost":
            return None
        error = lost_message(job, utcnow())
        await jobs.fail(session, job_id=job.id or 0, error=error)
        await finish(session, run, RunStatus.FAILED, active_ms=0, error=error)
        return why
    status = RunStatus.CANCELLED if why == "cancelled" else RunStatus.FAILED
    await finish(session, run, status, active_ms=0, error=job.error if status is RunStatus.FAILED else None,
                 stop_reason="cancelled" if status is RunStatus.CANCELLED else None)
    return why


async def run_texts(session: AsyncSession, run: AgentRun, *, after_message_id: int = 0) -> list[str]:
    """Return what the run's assistant turns after message `after_message_id` said, oldest first: each turn's
    text stripped, turns that said nothing left out."""
    return [m.text.strip() for m in await repo.assistant_messages(session, run.id or 0, after_id=after_message_id)
            if m.text.strip()]


async def run_text(session: AsyncSession, run: AgentRun) -> str:
    """Return the text the run's assistant turns said, joined by blank lines (what a chat client shows)."""
    return "\n\n".join(await run_texts(session, run))


async def awaiting_run_for(session: AsyncSession, actor: Actor, action_id: int) -> AgentRun | None:
    """Return the actor's run (one they requested) that awaits confirmation of action `action_id`, if any."""
    for run in await repo.runs_awaiting_mention(session, actor.id, action_id):
        if action_id in awaiting_ids(run):
            return run
    return None
