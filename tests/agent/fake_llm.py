"""A local HTTP server that answers like the Anthropic Messages API and the OpenAI Chat Completions API.

Tests of the agent drive the real official SDKs (`anthropic`, `openai`) against this server, so the SDKs'
own request building, response parsing, SSE decoding and stream accumulation run exactly as in production;
only the model's replies are scripted.

    with FakeLLM([tool_turn(ToolCall(name="list_sections", input={}, id="toolu_1")), "Done."]) as llm:
        client = anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="test")
        ...
        assert llm.requests[1].body["messages"][-1]["content"][0]["type"] == "tool_result"

Script: ONE shared list of turns. Every request, to either endpoint, consumes the next turn in order and is
recorded in `.requests` (also when it fails). A turn is a final text (a plain `str` or `text_turn(...)`) or
one or more tool calls, optionally preceded by text (`tool_turn(...)`). When the script is exhausted the
server answers HTTP 500 with the provider's JSON error shape, whose message names the request number and the
number of scripted turns; the SDK raises `InternalServerError`. A turn can also script a failure:
`error_turn(401)` answers an HTTP error, `broken_stream_turn(text, after=2)` breaks the stream with the
provider's mid-stream error event. A tool call naming a tool the request did not
offer in `tools` is answered HTTP 400 (`BadRequestError`): a real model cannot call it either. Every error
response carries `x-should-retry: false`, which both SDKs obey, so a failing test fails at once instead
of after the SDK's retries with backoff.

Endpoints (the SDKs' paths): `POST /v1/messages` (Anthropic; base URL `anthropic_base_url`, the server root)
and `POST /v1/chat/completions` (OpenAI; base URL `openai_base_url`, the root plus `/v1`). With
`"stream": true` in the body the reply is Server-Sent Events sent as HTTP/1.1 chunks, one event per chunk:
Anthropic's `message_start`, `content_block_start`, `content_block_delta` (`text_delta`,
`input_json_delta`), `content_block_stop`, `message_delta`, `message_stop` with `event:` and `data:`
lines; OpenAI's `chat.completion.chunk` objects as `data:` lines ending with `data: [DONE]` (and a usage
chunk first when `stream_options.include_usage` is set). Text is streamed a few words per delta and tool
arguments in two JSON fragments, so the SDKs' accumulation is exercised. Field names follow the providers'
API references and were checked against the SDKs' parsers (anthropic 2.12, openai 3.54:
`anthropic/lib/streaming/_messages.py`, `openai/lib/streaming/chat/_completions.py`).

Why the stdlib `ThreadingHTTPServer` rather than uvicorn + starlette: the socket is bound in the
constructor, so the port is known and connections are accepted (queued by the kernel) before the serving
thread even runs, with no readiness polling; it owns no event loop, so the same server serves sync tests
and async tests running on pytest-asyncio's loop without blocking it; and writing each SSE event as one
HTTP chunk is a direct `wfile.write`, with no ASGI streaming machinery between the script and the wire.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self

Provider = Literal["anthropic", "openai"]

ANTHROPIC_PATH = "/v1/messages"
OPENAI_PATH = "/v1/chat/completions"
_PROVIDER_BY_PATH: dict[str, Provider] = {ANTHROPIC_PATH: "anthropic", OPENAI_PATH: "openai"}
SERVE_POLL_INTERVAL = 0.02  # seconds; bounds how long `stop()` waits for the serving loop to notice
IDLE_CONNECTION_TIMEOUT = 5.0  # seconds a kept-alive connection may stay idle before its thread ends
WORDS_PER_TEXT_DELTA = 3


@dataclass(frozen=True, kw_only=True)
class ToolCall:
    """One tool call of a scripted turn; `id` defaults to `toolu_<turn>_<n>` / `call_<turn>_<n>` (OpenAI)."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    hallucinated: bool = False  # a tool the request did not offer, as a confused model may call: not refused


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 503: "api_error",
               529: "overloaded_error"}


@dataclass(frozen=True, kw_only=True)
class Turn:
    """One scripted model reply: `text`, then `tool_calls` (a final answer when there are none).

    Failures: `error_status` answers that HTTP status with the provider's error body instead of a reply (401 a
    bad key, 500 a server error); `error_after` streams the first `error_after` events of the reply, then the
    provider's mid-stream error event (Anthropic `event: error`, OpenAI `data: {"error": ...}`) carrying
    `error_message`, and ends the stream, as an API failing in the middle of an answer does (a non-streamed
    request gets a 500 instead).
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    delay_s: float = 0.0  # the server waits this long before answering (a slow model; a worker killed meanwhile)
    error_status: int | None = None
    error_after: int | None = None
    error_message: str = "scripted failure"

    def __post_init__(self) -> None:
        if not self.text and not self.tool_calls and self.error_status is None:
            raise ValueError("a scripted turn needs a text, tool calls, or both; got neither")
        if self.error_status is not None and not 400 <= self.error_status <= 599:
            raise ValueError(f"error_status must be an HTTP error status 400..599, got {self.error_status}")
        if self.error_after is not None and self.error_after < 0:
            raise ValueError(f"error_after counts events sent before the error (>= 0), got {self.error_after}")


def error_turn(status: int, message: str = "scripted failure") -> Turn:
    """Return a turn the server answers with HTTP `status` and the provider's error body saying `message`."""
    return Turn(error_status=status, error_message=message)


def broken_stream_turn(text: str, *, after: int = 2, message: str = "Internal server error") -> Turn:
    """Return a turn whose stream starts answering `text` and breaks after `after` events with an error event."""
    return Turn(text=text, error_after=after, error_message=message)


def text_turn(text: str) -> Turn:
    """Return a final-answer turn: the model replies `text` and stops (`end_turn` / `stop`)."""
    return Turn(text=text)


def tool_turn(*calls: ToolCall, text: str = "") -> Turn:
    """Return a turn in which the model says `text` (may be empty) and then calls `calls`."""
    if not calls:
        raise ValueError("tool_turn needs at least one ToolCall")
    return Turn(text=text, tool_calls=tuple(calls))


@dataclass(frozen=True, kw_only=True)
class RecordedRequest:
    """One request the server received: which API, its path, lower-cased headers and the JSON body."""

    provider: Provider | None
    path: str
    headers: dict[str, str]
    body: Any


class _ScriptedReplyError(Exception):
    """A request the script cannot answer; sent back as the provider's JSON error with `status`."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class FakeLLM:
    """Serve scripted turns over the Anthropic and OpenAI wire formats on 127.0.0.1 (a free port).

    Use as `with FakeLLM(turns) as llm:` or `async with FakeLLM(turns) as llm:`; `start()` / `stop()`
    do the same by hand. Attributes: `url` (server root), `anthropic_base_url`, `openai_base_url`,
    `requests` (every `RecordedRequest`, in arrival order), `remaining` (turns not yet consumed);
    `extend(turns)` appends to the script.
    """

    def __init__(self, turns: Sequence[Turn | str] = (), *, model: str | None = None) -> None:
        self._turns: list[Turn] = [_as_turn(t) for t in turns]
        self._next_turn = 0
        self._lock = threading.Lock()
        self._model = model
        self.requests: list[RecordedRequest] = []
        self._connections: set[socket.socket] = set()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        host, port = self._server.server_address[:2]
        self.url = f"http://{host}:{port}"

    @property
    def anthropic_base_url(self) -> str:
        """Return the `base_url` for `anthropic.Anthropic` (the SDK appends `/v1/messages`)."""
        return self.url

    @property
    def openai_base_url(self) -> str:
        """Return the `base_url` for `openai.OpenAI` (the SDK appends `/chat/completions`)."""
        return f"{self.url}/v1"

    @property
    def remaining(self) -> int:
        """Return how many scripted turns have not been consumed yet."""
        with self._lock:
            return len(self._turns) - self._next_turn

    def extend(self, turns: Sequence[Turn | str]) -> None:
        """Append `turns` to the script."""
        with self._lock:
            self._turns.extend(_as_turn(t) for t in turns)

    def start(self) -> Self:
        """Start serving in a daemon thread; the port is already bound, so clients may connect at once."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": SERVE_POLL_INTERVAL},
                name=f"FakeLLM {self.url}",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and cut kept-alive connections (their threads end)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client closed it already

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    def _take_turn(self, request: RecordedRequest) -> tuple[int, Turn]:
        """Record `request` and return (1-based turn number, turn); raise when the script is exhausted."""
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            if self._next_turn >= len(self._turns):
                raise _ScriptedReplyError(
                    500,
                    "api_error",
                    f"FakeLLM script exhausted: request {number} (POST {request.path}) arrived but only "
                    f"{len(self._turns)} turn(s) were scripted and all were consumed",
                )
            turn = self._turns[self._next_turn]
            self._next_turn += 1
            return self._next_turn, turn

    def _record_only(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _model_for(self, body: dict[str, Any]) -> str:
        return self._model or str(body.get("model") or "fake-model")


class _QuietServer(ThreadingHTTPServer):
    """Does not print a traceback when a client hangs up mid-reply (a run's time limit cut the call short)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def _as_turn(turn: Turn | str) -> Turn:
    return text_turn(turn) if isinstance(turn, str) else turn


def _handler_for(llm: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(_FakeLLMHandler):
        fake = llm

    return Handler


class _FakeLLMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked transfer encoding for streams
    timeout = IDLE_CONNECTION_TIMEOUT
    fake: FakeLLM

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        with self.fake._lock:
            self.fake._connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest shows the recorded requests and SDK errors when a test fails."""

    def do_GET(self) -> None:
        self._send_error(None, 404, "not_found_error", f"FakeLLM serves only POST; got GET {self.path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        provider = _PROVIDER_BY_PATH.get(path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = json.loads(raw) if raw else None
        except ValueError as exc:
            self.fake._record_only(RecordedRequest(provider=provider, path=path, headers=headers, body=raw))
            self._send_error(provider, 400, "invalid_request_error", f"request body is not JSON: {exc}")
            return
        request = RecordedRequest(provider=provider, path=path, headers=headers, body=body)
        if provider is None:
            self.fake._record_only(request)
            self._send_error(
                None, 404, "not_found_error", f"FakeLLM serves {ANTHROPIC_PATH} and {OPENAI_PATH}; got {path}"
            )
            return
        try:
            if not isinstance(body, dict):
                self.fake._record_only(request)
                raise _ScriptedReplyError(400, "invalid_request_error", "request body must be a JSON object")
            number, turn = self.fake._take_turn(request)
            _check_tools_offered(provider, body, turn, number)
            if turn.delay_s:
                time.sleep(turn.delay_s)
            if turn.error_status is not None:
                raise _ScriptedReplyError(turn.error_status, ERROR_TYPES.get(turn.error_status, "api_error"),
                                          turn.error_message)
            reply = _Reply(number=number, turn=turn, model=self.fake._model_for(body), prompt_chars=len(raw))
            if turn.error_after is not None and not body.get("stream"):
                raise _ScriptedReplyError(500, "api_error", turn.error_message)
            if body.get("stream"):
                events = reply.anthropic_events() if provider == "anthropic" else reply.openai_chunks(body)
                if turn.error_after is not None:
                    events = _broken(events, turn.error_after, _stream_error(provider, turn.error_message))
                self._send_stream(events)
            elif provider == "anthropic":
                self._send_json(200, reply.anthropic_message())
            else:
                self._send_json(200, reply.openai_completion())
        except _ScriptedReplyError as exc:
            self._send_error(provider, exc.status, exc.error_type, exc.message)

    def _send_json(self, status: int, payload: Any, *, retry: bool = True) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if not retry:
            self.send_header("x-should-retry", "false")
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, provider: Provider | None, status: int, error_type: str, message: str) -> None:
        """Answer with the provider's error body; both SDKs read `error.message` from either shape."""
        if provider == "openai":
            payload: dict[str, Any] = {
                "error": {"message": message, "type": error_type, "param": None, "code": None}
            }
        else:
            payload = {"type": "error", "error": {"type": error_type, "message": message}}
        self._send_json(status, payload, retry=False)

    def _send_stream(self, events: Iterator[str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in events:
            data = event.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _broken(events: Iterator[str], after: int, error: str) -> Iterator[str]:
    """The first `after` events, then `error` (the stream ends there, without the events that close it)."""
    for index, event in enumerate(events):
        if index == after:
            break
        yield event
    yield error


def _stream_error(provider: Provider, message: str) -> str:
    """The event an API sends when it fails in the middle of a streamed reply."""
    if provider == "anthropic":
        return _sse({"type": "error", "error": {"type": "api_error", "message": message}}, event="error")
    return _sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def _offered_tool_names(provider: Provider, body: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for tool in body.get("tools") or []:
        if provider == "anthropic":
            names.add(tool.get("name", ""))
        else:
            names.add((tool.get("function") or {}).get("name", ""))
    return names


def _check_tools_offered(provider: Provider, body: dict[str, Any], turn: Turn, number: int) -> None:
    """Refuse a scripted tool call the request did not offer: the agent under test forgot the tool."""
    offered = _offered_tool_names(provider, body)
    for call in turn.tool_calls:
        if call.name not in offered and not call.hallucinated:
            raise _ScriptedReplyError(
                400,
                "invalid_request_error",
                f"FakeLLM turn {number} calls tool {call.name!r}, but the request offered "
                f"{sorted(offered) or 'no tools'}",
            )


def _text_pieces(text: str) -> list[str]:
    """Split `text` into deltas of a few words each, keeping the whitespace so they join back exactly."""
    words = text.split(" ")
    pieces = [
        " ".join(words[i : i + WORDS_PER_TEXT_DELTA]) for i in range(0, len(words), WORDS_PER_TEXT_DELTA)
    ]
    return [p + " " for p in pieces[:-1]] + pieces[-1:]


def _json_pieces(arguments: str) -> list[str]:
    """Split a JSON document in two fragments (as the APIs stream partial JSON), or one if it is tiny."""
    middle = len(arguments) // 2
    return [arguments[:middle], arguments[middle:]] if middle else [arguments]


def _sse(data: Any, *, event: str | None = None) -> str:
    lines = f"event: {event}\n" if event else ""
    return f"{lines}data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


@dataclass(frozen=True, kw_only=True)
class _Reply:
    """The wire forms of one scripted turn."""

    number: int
    turn: Turn
    model: str
    prompt_chars: int

    @property
    def input_tokens(self) -> int:
        return max(1, self.prompt_chars // 4)

    @property
    def output_tokens(self) -> int:
        return max(1, len(self.turn.text.split()) + 10 * len(self.turn.tool_calls))

    def tool_id(self, index: int, prefix: str) -> str:
        call = self.turn.tool_calls[index]
        return call.id or f"{prefix}_{self.number}_{index}"

    # Anthropic Messages API -----------------------------------------------------------------------------

    @property
    def anthropic_stop_reason(self) -> str:
        return "tool_use" if self.turn.tool_calls else "end_turn"

    def anthropic_blocks(self) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = []
        if self.turn.text:
            blocks.append({"type": "text", "text": self.turn.text})
        for i, call in enumerate(self.turn.tool_calls):
            blocks.append(
                {"type": "tool_use", "id": self.tool_id(i, "toolu"), "name": call.name, "input": call.input}
            )
        return blocks

    def anthropic_message(self, *, streaming_start: bool = False) -> dict[str, Any]:
        return {
            "id": f"msg_fake_{self.number}",
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [] if streaming_start else self.anthropic_blocks(),
            "stop_reason": None if streaming_start else self.anthropic_stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": 1 if streaming_start else self.output_tokens,
            },
        }

    def anthropic_events(self) -> Iterator[str]:
        yield _sse(
            {"type": "message_start", "message": self.anthropic_message(streaming_start=True)},
            event="message_start",
        )
        for index, block in enumerate(self.anthropic_blocks()):
            if block["type"] == "text":
                start = {"type": "text", "text": ""}
                deltas = [{"type": "text_delta", "text": piece} for piece in _text_pieces(block["text"])]
            else:
                start = {**block, "input": {}}
                deltas = [
                    {"type": "input_json_delta", "partial_json": piece}
                    for piece in _json_pieces(json.dumps(block["input"]))
                ]
            yield _sse(
                {"type": "content_block_start", "index": index, "content_block": start},
                event="content_block_start",
            )
            for delta in deltas:
                yield _sse(
                    {"type": "content_block_delta", "index": index, "delta": delta},
                    event="content_block_delta",
                )
            yield _sse({"type": "content_block_stop", "index": index}, event="content_block_stop")
        yield _sse(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.anthropic_stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": self.output_tokens},
            },
            event="message_delta",
        )
        yield _sse({"type": "message_stop"}, event="message_stop")

    # OpenAI Chat Completions API ------------------------------------------------------------------------

    @property
    def openai_finish_reason(self) -> str:
        return "tool_calls" if self.turn.tool_calls else "stop"

    @property
    def openai_usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    def openai_tool_calls(self) -> list[dict[str, Any]]:
        return [
            {
                "id": self.tool_id(i, "call"),
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.input)},
            }
            for i, call in enumerate(self.turn.tool_calls)
        ]

    def openai_completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.turn.text or None, "refusal": None}
        if self.turn.tool_calls:
            message["tool_calls"] = self.openai_tool_calls()
        return {
            "id": f"chatcmpl-fake-{self.number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": self.openai_finish_reason}
            ],
            "usage": self.openai_usage,
        }

    def openai_chunks(self, body: dict[str, Any]) -> Iterator[str]:
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            payload: dict[str, Any] = {
                "id": f"chatcmpl-fake-{self.number}",
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                payload["usage"] = None
            return _sse(payload)

        yield chunk({"role": "assistant", "content": "", "refusal": None})
        if self.turn.text:
            for piece in _text_pieces(self.turn.text):
                yield chunk({"content": piece})
        for index, call in enumerate(self.openai_tool_calls()):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for piece in _json_pieces(call["function"]["arguments"]):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, self.openai_finish_reason)
        if include_usage:
            yield _sse(
                {
                    "id": f"chatcmpl-fake-{self.number}",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": self.model,
                    "choices": [],
                    "usage": self.openai_usage,
                }
            )
        yield _sse("[DONE]")
