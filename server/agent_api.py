"""The agent API over HTTP (`/v1`, API key as for MCP): threads, runs, their event stream, and the human's
decision on a run's pending action.

    POST /v1/threads                      {"title"?}                         -> 201 thread
    GET  /v1/threads                      ?after=&limit=                     -> your threads
    GET  /v1/threads/{id}                                                    -> thread with its messages
    POST /v1/threads/{id}/messages        {"content", "model"?, "max_steps"?, "max_tokens"?, "max_seconds"?}
                                                                             -> 202 run (queued; a job runs it)
    GET  /v1/runs/{id}                                                       -> run: status, usage, text, actions
    GET  /v1/runs/{id}/events             SSE; resume with Last-Event-ID or ?after=
    POST /v1/runs/{id}/confirm            {"action_id"?}                     -> run (queued again)
    POST /v1/runs/{id}/reject             {"action_id"?, "reason"?}          -> run (queued again)
    POST /v1/runs/{id}/cancel                                                -> run

Errors are `{"error": code, "detail": message}` with the DomainError's HTTP status. The OpenAI-compatible
`/v1/chat/completions` and `/v1/models` are in server/openai_compat.py and share what is here.

Following a run (its event stream, a chat completion waiting for the answer) is pushed, not polled: a follower
sleeps on the runtime's run feed (domain/agent/feed.py), which the commit of any change of the run wakes, in this
process or over Redis pub/sub from an arq worker (workers/run_feed.py). It also wakes once a job heartbeat to
check the run's job: a job that failed without closing its run, or whose worker went silent for LOST_AFTER_BEATS
heartbeats with no worker taking it over, closes the run as failed (`close_if_abandoned`) and the stream ends
with its `run.failed` event. Keep-alive comments fill quiet periods only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from domain.actions import repository as actions_repo
from domain.actions.models import ActionStatus
from domain.agent import service as agent
from domain.agent.models import AgentRun, RunStatus
from domain.jobs import repository as jobs_repo
from domain.kernel.actor import Actor
from domain.kernel.db import after_commit
from domain.kernel.errors import (
    ActionClosed,
    Conflict,
    DomainError,
    InvalidInput,
    PermissionDenied,
    StaleAction,
    concurrent_write,
)
from server.auth import actor_from_request
from tools import gate
from domain.actions.schemas import action_out, pending_out
from tools.invoke import describe_validation_error
from tools.runtime import Runtime
from workers.agent_loop import action_summary, decision_outcome
from workers.agent_providers import DEFAULT_MODELS
from workers.execute import running_here
from workers.recovery import lost_before

log = logging.getLogger("mcs_erp.agent_api")
KEEPALIVE_S = 15.0
Content = Annotated[str, StringConstraints(min_length=1, max_length=32_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateThreadIn(_Body):
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class PostMessageIn(_Body):
    content: Content = Field(description="The user's message.")
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)] | None = None
    max_steps: int | None = Field(default=None, ge=1)
    max_tokens: int | None = Field(default=None, ge=1000)
    max_seconds: int | None = Field(default=None, ge=1)


class DecideIn(_Body):
    action_id: int | None = Field(default=None, ge=1)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=1000)] | None = None


def error_response(exc: DomainError, *, openai_shape: bool = False) -> JSONResponse:
    """`{"error": code, "detail": message, "field"?}`, or with `openai_shape` the OpenAI error object
    `{"error": {"message", "type", "param", "code"}}` that OpenAI-compatible clients read."""
    if openai_shape:
        return JSONResponse({"error": {"message": exc.message, "type": exc.code, "param": exc.field,
                                       "code": exc.code}}, status_code=exc.http_status)
    body: dict[str, Any] = {"error": exc.code, "detail": exc.message}
    if exc.field:
        body["field"] = exc.field
    return JSONResponse(body, status_code=exc.http_status)


async def parse_body(request: Request, model: type[BaseModel]) -> Any:
    """Parse a JSON body into `model`; raises InvalidInput naming the fields and rules broken."""
    raw = await request.body()
    try:
        data = json.loads(raw or b"{}")
    except json.JSONDecodeError:
        raise InvalidInput("the request body is not JSON; send a JSON object") from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise describe_validation_error(request.url.path, exc) from None


def path_id(request: Request, name: str) -> int:
    raw = request.path_params[name]
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a positive integer, got {raw!r}", field=name) from None
    if value < 1:
        raise InvalidInput(f"{name} must be a positive integer, got {raw!r}", field=name)
    return value


def endpoint(fn: Callable[[Request], Awaitable[Response]], *,
             openai_shape: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Translate DomainErrors (and unexpected failures, with a log reference) into JSON error responses."""

    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except DomainError as exc:
            return error_response(exc, openai_shape=openai_shape)
        except IntegrityError:
            return error_response(concurrent_write(), openai_shape=openai_shape)
        except Exception:
            ref = uuid.uuid4().hex[:12]
            log.exception("%s %s failed (ref %s)", request.method, request.url.path, ref)
            message = f"the server failed unexpectedly (reference {ref})"
            body = ({"error": {"message": message, "type": "internal", "param": None, "code": "internal"}}
                    if openai_shape else {"error": "internal", "detail": message})
            return JSONResponse(body, status_code=500)

    return wrapped


def limits_for(runtime: Runtime, body: PostMessageIn) -> agent.Limits:
    """The run's limits: the server's settings, lowered (never raised) by the request."""
    s = runtime.settings

    def pick(name: str, asked: int | None, ceiling: int) -> int:
        if asked is None:
            return ceiling
        if asked > ceiling:
            raise InvalidInput(f"{name} may be at most {ceiling} on this server (MCS_ERP_AGENT_{name.upper()}), "
                               f"got {asked}", field=name)
        return asked

    return agent.Limits(max_steps=pick("max_steps", body.max_steps, s.agent_max_steps),
                        max_tokens=pick("max_tokens", body.max_tokens, s.agent_max_tokens),
                        max_seconds=pick("max_seconds", body.max_seconds, s.agent_max_seconds))


def model_for(runtime: Runtime, asked: str | None) -> tuple[str, str]:
    provider = runtime.settings.agent_provider
    return provider, asked or runtime.settings.agent_model or DEFAULT_MODELS[provider]


async def run_json(runtime: Runtime, run: AgentRun, *, session=None) -> dict[str, Any]:
    """A run as the API returns it: status and why it stopped, usage, limits, the text it said, and the pending
    actions it waits for (with previews and where to decide them)."""

    async def build(s) -> dict[str, Any]:
        awaiting = []
        for action_id in agent.awaiting_ids(run):
            action = await actions_repo.get_action(s, action_id)
            if action is not None:
                awaiting.append(action_summary(pending_out(action), run.id or 0) | {"status": action.status})
        live = run.status in (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
        used = await agent.usage(s, run.id or 0) if live else agent.Usage(run.steps, run.tool_calls,
                                                                           run.input_tokens, run.output_tokens)
        return {"id": run.id, "thread_id": run.thread_id, "status": run.status, "stop_reason": run.stop_reason,
                "error": run.error, "provider": run.provider, "model": run.model, "job_id": run.job_id,
                "steps": used.steps, "tool_calls": used.tool_calls,
                "usage": {"input_tokens": used.input_tokens, "output_tokens": used.output_tokens},
                "limits": {"max_steps": run.max_steps, "max_tokens": run.max_tokens,
                           "max_seconds": run.max_seconds},
                "active_seconds": run.active_ms / 1000, "text": await agent.run_text(s, run),
                "awaiting_actions": awaiting, "events": f"/v1/runs/{run.id}/events",
                "created_at": run.created_at.isoformat(),
                "finished_at": run.finished_at.isoformat() if run.finished_at else None}

    if session is not None:
        return await build(session)
    async with runtime.db.read() as s:
        return await build(s)


def thread_json(thread) -> dict[str, Any]:
    return {"id": thread.id, "title": thread.title, "created_at": thread.created_at.isoformat(),
            "updated_at": thread.updated_at.isoformat()}


def enqueue_after_commit(runtime: Runtime, session: AsyncSession, run: AgentRun) -> None:
    """Hand the run's new job (`run.job_id`, created in this write unit of work) to the job runner once the unit
    of work commits, never after a rollback (domain.kernel.db.after_commit): a worker never looks for a run or
    job that is not committed yet. A failing enqueue raises from `Database.write()` after the commit (the job
    stays queued: a serving process hands queued jobs to a runner again)."""
    job_id = run.job_id or 0

    async def hand_over() -> None:
        await runtime.jobs.enqueue(job_id)

    after_commit(session, hand_over)


async def start_run(runtime: Runtime, actor: Actor, thread_id: int, body: PostMessageIn) -> AgentRun:
    """Post the user's message to a thread and queue its run (committed, then enqueued)."""
    provider, model = model_for(runtime, body.model)
    limits = limits_for(runtime, body)
    async with runtime.db.write() as session:
        thread = await agent.get_thread_for(session, actor, thread_id, for_update=True)
        run = await agent.start_run(session, actor, thread, text=body.content, provider=provider, model=model,
                                    limits=limits)
        enqueue_after_commit(runtime, session, run)
    return run


async def decide_action(runtime: Runtime, actor: Actor, run_id: int, *, confirm: bool, action_id: int | None,
                        reason: str | None) -> AgentRun:
    """Confirm or reject a pending action a run waits for, as a human, and queue the run again once nothing is
    left waiting. Only the run's owner confirms (the gate's rule: the requester confirms); the owner rejects
    (the action is cancelled) and so may an admin (rejected, with the reason). Raises Conflict when the run is
    not waiting, InvalidInput for an action it does not wait for, PermissionDenied."""
    async with runtime.db.read() as session:
        run = await agent.get_run_for(session, actor, run_id)
    if run.status != RunStatus.AWAITING_CONFIRMATION.value:
        raise Conflict(f"run {run_id} is {run.status}, not awaiting_confirmation: there is nothing to decide",
                       field="run_id")
    waiting = agent.awaiting_ids(run)
    if action_id is None:
        if len(waiting) != 1:
            raise InvalidInput(f"run {run_id} waits for actions {waiting}; say which one with action_id",
                               field="action_id")
        action_id = waiting[0]
    if action_id not in waiting:
        raise InvalidInput(f"run {run_id} does not wait for action {action_id}; it waits for {waiting}",
                           field="action_id")
    owner = actor.id == run.requested_by
    if confirm and not owner:
        raise PermissionDenied(f"only the user who started run {run_id} can confirm its actions")
    if not confirm and not owner and not actor.is_admin:
        raise PermissionDenied(f"only the user who started run {run_id} or an admin can reject its actions")
    error = None
    try:
        if confirm:
            decided = await gate.confirm(runtime, actor, action_id)
        else:
            status = ActionStatus.CANCELLED if owner else ActionStatus.REJECTED
            decided = await gate.close(runtime, actor, action_id, status=status,
                                       reason=reason or "rejected in the chat by the user")
        action = json.loads(decided.model_dump_json())
    except (StaleAction, ActionClosed) as exc:
        error = exc.message
        async with runtime.db.read() as session:
            action = json.loads(action_out(await actions_repo.get_action_or_raise(session, action_id))
                                .model_dump_json())
    decision = "confirmed" if confirm else "rejected"
    async with runtime.db.write() as session:
        run = await agent.get_run_for(session, actor, run_id, for_update=True)
        if run.status != RunStatus.AWAITING_CONFIRMATION.value or action_id not in agent.awaiting_ids(run):
            raise Conflict(f"action {action_id} of run {run_id} was decided at the same time by another request",
                           field="action_id")
        requeue = await agent.decide(session, actor, run, action_id=action_id, decision=decision,
                                     outcome=decision_outcome(action, decision, error))
        if requeue:
            enqueue_after_commit(runtime, session, run)
    return run


OPEN_STATUSES = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def check_every_s(runtime: Runtime) -> float:
    """How often a follower of a run re-reads it without being woken: once a heartbeat of its job (to see a
    lost worker), at most every KEEPALIVE_S."""
    return min(max(runtime.settings.job_heartbeat_seconds, 0.05), KEEPALIVE_S)


def liveness(runtime: Runtime) -> dict[str, Any]:
    """The arguments of agent.abandoned/reconcile for this process: when a silent job's worker counts as lost,
    and the jobs this process runs itself (never lost)."""
    return {"lost_before": lost_before(runtime.settings), "running_here": running_here(runtime)}


async def _job_of(session, run: AgentRun):
    return await jobs_repo.get_job(session, run.job_id) if run.job_id is not None else None


async def close_if_abandoned(runtime: Runtime, run_id: int) -> AgentRun:
    """Close the run when nothing is left to run it (its job failed or was cancelled without closing it, or its
    worker was lost: agent.abandoned) and return it as it is now. Reads only, unless there is something to close."""
    async with runtime.db.read() as session:
        run = await agent.get_run(session, run_id)
        job = await _job_of(session, run) if run.status in OPEN_STATUSES else None
    if agent.abandoned(run, job, **liveness(runtime)) is None:
        return run
    async with runtime.db.write() as session:
        run = await agent.get_run(session, run_id, for_update=True)
        why = await agent.reconcile(session, run, **liveness(runtime))
    if why is not None:
        log.warning("run %s closed: its job was %s", run_id, why)
    return run


async def stream_events(runtime: Runtime, run_id: int, after: int) -> AsyncIterator[tuple[int, str, str]]:
    """Yield (id, type, data) of a run's events after `after` until the run stops (ends or waits for a human)
    and every event up to that point was sent; (0, "", "") is a keep-alive, after KEEPALIVE_S without events.

    Pushed, not polled: the loop sleeps until a commit changing the run wakes it (runtime.runs, in this process or
    over Redis from a worker), or until `check_every_s`, when it checks the run's job is still alive; a run whose
    job failed or lost its worker is closed here (`close_if_abandoned`) and its final event sent at once.
    """
    last = after
    clock = asyncio.get_running_loop()
    every = check_every_s(runtime)
    async with runtime.runs.watch(run_id) as changed:
        quiet_since = clock.time()
        while True:
            changed.clear()  # armed before reading: a commit after this point wakes the wait below
            async with runtime.db.read() as session:
                # Status first: events committed with a status change are then visible to the events query.
                run = await agent.get_run(session, run_id)
                events = await agent.events_after(session, run_id, last)
                job = await _job_of(session, run) if not events and run.status in OPEN_STATUSES else None
            for event in events:
                last = event.id or last
                yield last, event.type, event.data
            if events:
                quiet_since = clock.time()
                continue
            if run.status not in OPEN_STATUSES:
                return
            if agent.abandoned(run, job, **liveness(runtime)) is not None:
                closed = await close_if_abandoned(runtime, run_id)
                if closed.status not in OPEN_STATUSES:
                    continue  # its final event is there to send
            left = KEEPALIVE_S - (clock.time() - quiet_since)
            if not await changed.wait(min(every, max(left, 0.0))) and clock.time() - quiet_since >= KEEPALIVE_S:
                quiet_since = clock.time()
                yield 0, "", ""


async def wait_until_stopped(runtime: Runtime, run_id: int, *, timeout_s: float) -> AgentRun:
    """Wait until a run leaves queued/running (or `timeout_s` passes) and return it: woken by the commits that
    change it, checking its job's liveness every `check_every_s` as stream_events does."""
    clock = asyncio.get_running_loop()
    deadline = clock.time() + timeout_s
    async with runtime.runs.watch(run_id) as changed:
        while True:
            changed.clear()
            run = await close_if_abandoned(runtime, run_id)
            left = deadline - clock.time()
            if run.status not in OPEN_STATUSES or left <= 0:
                return run
            await changed.wait(min(check_every_s(runtime), left))


def agent_routes(runtime: Runtime) -> list[Route]:
    """The /v1 routes of the agent API (the caller wraps them in the API key middleware)."""

    @endpoint
    async def create_thread(request: Request) -> Response:
        actor = actor_from_request(request)
        body = await parse_body(request, CreateThreadIn)
        async with runtime.db.write() as session:
            thread = await agent.create_thread(session, actor, title=body.title)
            out = thread_json(thread)
        return JSONResponse(out, status_code=201)

    @endpoint
    async def list_threads(request: Request) -> Response:
        actor = actor_from_request(request)
        try:
            after = int(request.query_params.get("after", "0"))
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            raise InvalidInput("after and limit must be integers") from None
        if not 1 <= limit <= 100 or after < 0:
            raise InvalidInput("limit must be 1..100 and after >= 0", field="limit")
        async with runtime.db.read() as session:
            rows = await agent.list_threads(session, actor, after_id=after, limit=limit)
        page = rows[:limit]
        return JSONResponse({"items": [thread_json(t) for t in page],
                             "next_after": page[-1].id if len(rows) > limit else None})

    @endpoint
    async def get_thread(request: Request) -> Response:
        actor = actor_from_request(request)
        thread_id = path_id(request, "thread_id")
        async with runtime.db.read() as session:
            thread = await agent.get_thread_for(session, actor, thread_id)
            messages = await agent.thread_messages(session, thread_id)
        return JSONResponse(thread_json(thread) | {"messages": [
            {"id": m.id, "role": m.role, "text": m.text, "run_id": m.run_id,
             "tool_calls": json.loads(m.tool_calls) if m.tool_calls else [], "created_at": m.created_at.isoformat()}
            for m in messages]})

    @endpoint
    async def post_message(request: Request) -> Response:
        actor = actor_from_request(request)
        thread_id = path_id(request, "thread_id")
        body = await parse_body(request, PostMessageIn)
        run = await start_run(runtime, actor, thread_id, body)
        return JSONResponse(await run_json(runtime, run), status_code=202)

    @endpoint
    async def get_run(request: Request) -> Response:
        actor = actor_from_request(request)
        run_id = path_id(request, "run_id")
        async with runtime.db.read() as session:
            await agent.get_run_for(session, actor, run_id)
        run = await close_if_abandoned(runtime, run_id)
        return JSONResponse(await run_json(runtime, run))

    @endpoint
    async def run_events(request: Request) -> Response:
        actor = actor_from_request(request)
        run_id = path_id(request, "run_id")
        raw_after = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        try:
            after = int(raw_after)
        except ValueError:
            raise InvalidInput(f"Last-Event-ID / after must be an event id, got {raw_after!r}") from None
        async with runtime.db.read() as session:
            await agent.get_run_for(session, actor, run_id)

        async def body() -> AsyncIterator[str]:
            async for event_id, type_, data in stream_events(runtime, run_id, after):
                yield f"id: {event_id}\nevent: {type_}\ndata: {data}\n\n" if type_ else ": keep-alive\n\n"

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    def decider(confirm: bool):
        @endpoint
        async def decide(request: Request) -> Response:
            actor = actor_from_request(request)
            run_id = path_id(request, "run_id")
            body = await parse_body(request, DecideIn)
            run = await decide_action(runtime, actor, run_id, confirm=confirm, action_id=body.action_id,
                                      reason=body.reason)
            return JSONResponse(await run_json(runtime, run))

        return decide

    @endpoint
    async def cancel_run(request: Request) -> Response:
        actor = actor_from_request(request)
        run_id = path_id(request, "run_id")
        async with runtime.db.write() as session:
            run = await agent.get_run_for(session, actor, run_id, for_update=True)
            awaiting = agent.awaiting_ids(run) if run.status == RunStatus.AWAITING_CONFIRMATION.value else []
            await agent.cancel(session, actor, run)
        for action_id in awaiting:  # nothing will decide them now
            try:
                await gate.close(runtime, actor, action_id, status=ActionStatus.CANCELLED,
                                 reason="the agent run was cancelled")
            except DomainError:
                pass
        return JSONResponse(await run_json(runtime, run))

    return [
        Route("/threads", create_thread, methods=["POST"]),
        Route("/threads", list_threads, methods=["GET"]),
        Route("/threads/{thread_id}", get_thread, methods=["GET"]),
        Route("/threads/{thread_id}/messages", post_message, methods=["POST"]),
        Route("/runs/{run_id}", get_run, methods=["GET"]),
        Route("/runs/{run_id}/events", run_events, methods=["GET"]),
        Route("/runs/{run_id}/confirm", decider(True), methods=["POST"]),
        Route("/runs/{run_id}/reject", decider(False), methods=["POST"]),
        Route("/runs/{run_id}/cancel", cancel_run, methods=["POST"]),
    ]

