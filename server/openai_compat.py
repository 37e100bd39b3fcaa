"""mcs-erp as an OpenAI-compatible model: `POST /v1/chat/completions` (streaming and not) and `GET /v1/models`.

Chat front ends that speak the Chat Completions protocol (Open WebUI, LibreChat, a school's own app using the
openai SDK) point their base URL at `http://HOST:PORT/v1` with an mcs-erp API key. Each request is a run of the
agent loop on a new thread holding the conversation the client sent (its system messages become instructions
from the client, its user and assistant messages the history); the reply is what the run said, streamed as
`chat.completion.chunk`s when asked.

A pending action cannot be confirmed by the model. The reply then ends with a message saying what waits and how
to decide it: the user answers `confirm 12` (or `reject 12`) as their next message, or calls
`POST /v1/runs/{run}/confirm`. A `confirm N` / `reject N` message decides action N as the API key's user and the
run that waited for it continues; its continuation is the reply.

A run that fails (or is cancelled) is an error in OpenAI's shape, never a reply (`run_error`): not streamed, an
error status with `{"error": {"message", "type", "param", "code"}}` and `x-should-retry: false`; streamed, after
whatever text was sent, a `data: {"error": {...}}` chunk and `data: [DONE]`, with no finish chunk. A limit
reached is a reply ending with a note, finish_reason `length`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from domain.agent import service as agent
from domain.agent.models import AgentRun, RunStatus
from domain.kernel.actor import Actor
from domain.kernel.errors import DomainError, InvalidInput
from server.agent_api import (
    OPEN_STATUSES,
    PostMessageIn,
    close_if_abandoned,
    decide_action,
    endpoint,
    enqueue_after_commit,
    limits_for,
    model_for,
    parse_body,
    run_json,
    stream_events,
    wait_until_stopped,
)
from server.auth import actor_from_request
from tools import gate
from tools.runtime import Runtime

MODEL_ID = "mcs-erp"
DECISION = re.compile(r"^\s*(confirm|approve|yes|reject|cancel|no)\s+(?:action\s+)?#?(\d{1,10})\s*[.!]?\s*$",
                      re.IGNORECASE)
CONFIRM_WORDS = {"confirm", "approve", "yes"}


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Annotated[str, StringConstraints(max_length=40)]
    text: Annotated[str, StringConstraints(max_length=32_000)] | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Annotated[str, StringConstraints(max_length=32_000)] | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type in ("text", "input_text"))
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionIn(BaseModel):
    """The Chat Completions request; sampling parameters a client sends (temperature, top_p, ...) are accepted
    and ignored: the server's model settings apply."""

    model_config = ConfigDict(extra="ignore")
    model: Annotated[str, StringConstraints(max_length=120)] = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None


def pending_message(run_json_actions: list[dict[str, Any]], run_id: int) -> str:
    """The message a chat client shows when the run waits for the user's decision."""
    lines = []
    for action in run_json_actions:
        n = action["action_id"]
        extra = (" Once you confirm, an admin other than you must approve it before it runs."
                 if action.get("level") == "approve" else "")
        lines.append(f"Action #{n} ({action['tool']}) needs your confirmation before anything changes: "
                     f"{action['summary']}.{extra}\nReply `confirm {n}` to go ahead or `reject {n}` to drop it "
                     f"(API: POST /v1/runs/{run_id}/confirm with {{\"action_id\": {n}}}).")
    return "\n\n".join(lines)


def stop_note(run: AgentRun) -> str:
    """The line a reply ends with when a limit stopped the run (failures and cancellations are errors)."""
    if run.status == RunStatus.LIMIT_REACHED.value:
        return f"[stopped: {run.error or run.stop_reason}]"
    return ""


def run_error(run: AgentRun) -> tuple[int, dict[str, Any]] | None:
    """The HTTP status and OpenAI error object of a run that failed or was cancelled; None for any other run.

    failed:    502 {"type": "server_error", "code": "run_failed"} (the model provider, the run's worker or the
               server failed: the gateway's upstream, hence 502), with the run's error as the message;
    cancelled: 409 {"type": "run_cancelled", "code": "run_cancelled"}.
    """
    where = f"GET /v1/runs/{run.id} shows what it did"
    if run.status == RunStatus.FAILED.value:
        return 502, {"message": f"agent run {run.id} failed: {run.error or 'no reason recorded'} ({where})",
                     "type": "server_error", "param": None, "code": "run_failed"}
    if run.status == RunStatus.CANCELLED.value:
        return 409, {"message": f"agent run {run.id} was cancelled before it finished ({where})",
                     "type": "run_cancelled", "param": None, "code": "run_cancelled"}
    return None


async def awaiting_run_for(runtime: Runtime, actor: Actor, action_id: int) -> AgentRun | None:
    """Return the actor's run that waits for action `action_id`, if any."""
    async with runtime.db.read() as session:
        return await agent.awaiting_run_for(session, actor, action_id)


async def begin(runtime: Runtime, actor: Actor, body: ChatCompletionIn) -> tuple[AgentRun, int, int]:
    """Start (or continue, after `confirm N`) the run answering this request. Returns the run, the event id and
    the message id after which its reply starts."""
    if body.messages[-1].role != "user":
        raise InvalidInput("the last message must be the user's (role user)", field="messages")
    last = body.messages[-1].text().strip()
    decision = DECISION.match(last)
    if decision:
        action_id = int(decision.group(2))
        confirm = decision.group(1).lower() in CONFIRM_WORDS
        waiting = await awaiting_run_for(runtime, actor, action_id)
        if waiting is not None:
            async with runtime.db.read() as session:
                events = await agent.events_after(session, waiting.id or 0, 0, limit=100_000)
                messages = await agent.thread_messages(session, waiting.thread_id)
            run = await decide_action(runtime, actor, waiting.id or 0, confirm=confirm, action_id=action_id,
                                      reason=None)
            return run, events[-1].id if events else 0, messages[-1].id if messages else 0
        # Not one of a waiting run's actions (decided elsewhere, or from another client): decide it here and tell
        # the model what happened as part of the user's message.
        try:
            if confirm:
                outcome = (await gate.confirm(runtime, actor, action_id)).model_dump(mode="json")
            else:
                from domain.actions.models import ActionStatus

                outcome = (await gate.close(runtime, actor, action_id, status=ActionStatus.CANCELLED,
                                            reason="rejected in the chat by the user")).model_dump(mode="json")
        except DomainError as exc:
            outcome = {"action_id": action_id, "error": exc.message}
        last = (f"{last}\n\n[mcs-erp: the user {'confirmed' if confirm else 'rejected'} action {action_id}; "
                f"outcome: {json.dumps({k: outcome.get(k) for k in ('status', 'summary', 'error', 'result')})}]")
    instructions = "\n\n".join(m.text() for m in body.messages[:-1] if m.role in ("system", "developer") and m.text())
    history = [m for m in body.messages[:-1] if m.role in ("user", "assistant") and m.text().strip()]
    provider, model = model_for(runtime, None)
    limits = limits_for(runtime, PostMessageIn(content=last or "(empty)"))
    async with runtime.db.write() as session:
        first_user = next((m.text() for m in body.messages if m.role == "user"), last)
        thread = await agent.create_thread(session, actor, title=first_user[:80])
        if instructions:
            await agent.add_message(session, thread.id or 0, role="user",
                                    text=f"Instructions from my chat client:\n{instructions}")
            await agent.add_message(session, thread.id or 0, role="assistant", text="Understood.")
        for message in history:
            await agent.add_message(session, thread.id or 0, role=message.role, text=message.text())
        run = await agent.start_run(session, actor, thread, text=last, provider=provider, model=model,
                                    limits=limits)
        enqueue_after_commit(runtime, session, run)
    return run, 0, 0


def openai_endpoint(fn):
    """`endpoint` with errors in the OpenAI shape."""
    return endpoint(fn, openai_shape=True)


def completion_id(run_id: int) -> str:
    return f"chatcmpl-mcs-{run_id}"


def openai_compat_routes(runtime: Runtime) -> list[Route]:
    """`/chat/completions` and `/models`, to mount under /v1 behind the API key middleware."""

    @openai_endpoint
    async def chat_completions(request: Request) -> Response:
        actor = actor_from_request(request)
        body = await parse_body(request, ChatCompletionIn)
        run, after_event, after_message = await begin(runtime, actor, body)
        run_id = run.id or 0
        created = int(time.time())
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_stream(runtime, run_id, after_event, created, include_usage),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        limit_s = runtime.settings.agent_max_seconds + 60
        run = await wait_until_stopped(runtime, run_id, timeout_s=limit_s)
        failure = run_error(run)
        if failure is None and run.status in OPEN_STATUSES:
            failure = 504, {"message": f"agent run {run_id} is still {run.status} after {limit_s} s; follow it "
                                       f"with GET /v1/runs/{run_id}", "type": "timeout", "param": None,
                            "code": "run_timeout"}
        if failure is not None:
            # The server already retried the provider; a client retrying would start the same work again.
            return JSONResponse({"error": failure[1]}, status_code=failure[0], headers={"x-should-retry": "false"})
        text, finish = await _reply(runtime, run, after_message)
        return JSONResponse({
            "id": completion_id(run_id), "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish,
                         "logprobs": None}],
            "usage": {"prompt_tokens": run.input_tokens, "completion_tokens": run.output_tokens,
                      "total_tokens": run.input_tokens + run.output_tokens}})

    @openai_endpoint
    async def models(request: Request) -> Response:
        actor_from_request(request)
        return JSONResponse({"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0,
                                                         "owned_by": "mcs-erp"}]})

    return [Route("/chat/completions", chat_completions, methods=["POST"]),
            Route("/models", models, methods=["GET"])]


async def _reply(runtime: Runtime, run: AgentRun, after_message: int) -> tuple[str, str]:
    async with runtime.db.read() as session:
        texts = await agent.run_texts(session, run, after_message_id=after_message)
        info = await run_json(runtime, run, session=session)
    if run.status == RunStatus.AWAITING_CONFIRMATION.value:
        texts.append(pending_message(info["awaiting_actions"], run.id or 0))
    note = stop_note(run)
    if note:
        texts.append(note)
    finish = "length" if run.status == RunStatus.LIMIT_REACHED.value else "stop"
    return "\n\n".join(texts), finish


async def _stream(runtime: Runtime, run_id: int, after_event: int, created: int,
                  include_usage: bool) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        payload: dict[str, Any] = {"id": completion_id(run_id), "object": "chat.completion.chunk",
                                   "created": created, "model": MODEL_ID,
                                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                                "logprobs": None}]}
        if include_usage:
            payload["usage"] = None
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    said = False
    gap = False  # a tool step came between two pieces of text: separate them
    async for _, type_, data in stream_events(runtime, run_id, after_event):
        if type_ == "text.delta":
            text = json.loads(data)["text"]
            yield chunk({"content": ("\n\n" if said and gap else "") + text})
            said, gap = True, False
        elif type_ in ("tool.call", "tool.result"):
            gap = True
        elif not type_:
            yield ": keep-alive\n\n"
    run = await close_if_abandoned(runtime, run_id)
    failure = run_error(run)
    if failure is not None:
        # OpenAI's convention for a stream that fails: an error object as a data chunk (the SDKs raise it),
        # then the end of the stream; no finish chunk, so no client takes a failed run's text for an answer.
        yield f"data: {json.dumps({'error': failure[1]})}\n\n"
        yield "data: [DONE]\n\n"
        return
    info = await run_json(runtime, run)
    tail = []
    if run.status == RunStatus.AWAITING_CONFIRMATION.value:
        tail.append(pending_message(info["awaiting_actions"], run_id))
    if stop_note(run):
        tail.append(stop_note(run))
    if tail:
        yield chunk({"content": ("\n\n" if said else "") + "\n\n".join(tail)})
    yield chunk({}, "length" if run.status == RunStatus.LIMIT_REACHED.value else "stop")
    if include_usage:
        usage = {"prompt_tokens": run.input_tokens, "completion_tokens": run.output_tokens,
                 "total_tokens": run.input_tokens + run.output_tokens}
        yield f"data: {json.dumps({'id': completion_id(run_id), 'object': 'chat.completion.chunk', 'created': created, 'model': MODEL_ID, 'choices': [], 'usage': usage})}\n\n"
    yield "data: [DONE]\n\n"
