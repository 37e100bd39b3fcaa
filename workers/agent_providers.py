"""Model providers of the agent loop: one interface over the official anthropic and openai SDKs.

`provider_for(runtime, name, model)` returns a Provider whose `complete(...)` sends the conversation (the
provider-neutral transcript of domain/agent/service.py) with the tools offered, streams the reply (text deltas go
to `on_text` as they arrive) and returns the whole turn: text, tool calls, token usage.

- anthropic: the Messages API with `tool_use` / `tool_result` blocks, streamed with `messages.stream`.
- openai: Chat Completions with function tools, streamed with `create(stream=True)` and accumulated here (the
  SDK's `chat.completions.stream` helper needs strict schemas, which our tools are not); `agent_base_url`
  points it at any OpenAI-compatible server (vLLM, Ollama, llama.cpp).

Clients are created once per process (`runtime.clients`) so connections are reused between turns. SDK errors
become ProviderError with the provider's status and message (an error the API sends in the middle of a streamed
reply too: it fails the run like any other); the SDKs' own retries (2, with backoff, honouring `x-should-retry`)
stay on. The SDKs are imported when a provider is first made (about a second together), not with this module,
which the agent API and every job worker load.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from domain.agent.service import ToolCallRequest, ToolResult
from domain.kernel.errors import DomainError, InvalidInput
from tools.registry import ToolSpec
from tools.runtime import Runtime

if TYPE_CHECKING:
    import anthropic
    import openai

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1"}
PROVIDERS = tuple(DEFAULT_MODELS)
TextSink = Callable[[str], Awaitable[None]]


class ProviderError(DomainError):
    """The model provider refused or failed the request (status and message from the provider)."""

    code = "provider_error"
    http_status = 502


@dataclass
class ModelTurn:
    """One reply of the model: its text, the tool calls it asks for, tokens used and why it stopped."""

    text: str
    tool_calls: list[ToolCallRequest] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str | None = None


class Provider(Protocol):
    name: str
    model: str

    async def complete(self, *, system: str, entries: list[dict[str, Any]], tools: list[ToolSpec],
                       max_output_tokens: int, on_text: TextSink | None = None) -> ModelTurn:
        """Send the conversation and return the model's next turn; raises ProviderError."""
        ...


def _content_of(result: ToolResult) -> str:
    return result.content or ("(empty result)" if not result.is_error else "error")


# -- Anthropic ----------------------------------------------------------------------------------------------


def anthropic_messages(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transcript as Messages API `messages`: assistant turns as text + tool_use blocks, tool results as a
    user turn of tool_result blocks; consecutive user turns are merged (the API wants them alternating)."""
    out: list[dict[str, Any]] = []

    def user_blocks(blocks: list[dict[str, Any]]) -> None:
        if out and out[-1]["role"] == "user":
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": "user", "content": blocks})

    for entry in entries:
        if entry["role"] == "user":
            user_blocks([{"type": "text", "text": entry["text"]}])
        elif entry["role"] == "assistant":
            blocks: list[dict[str, Any]] = []
            if entry["text"]:
                blocks.append({"type": "text", "text": entry["text"]})
            for call in entry.get("tool_calls") or []:
                blocks.append({"type": "tool_use", "id": call["id"], "name": call["name"],
                               "input": call["input"] if isinstance(call.get("input"), dict) else {}})
            out.append({"role": "assistant", "content": blocks or [{"type": "text", "text": "(no reply)"}]})
        else:
            user_blocks([{"type": "tool_result", "tool_use_id": r.call_id, "content": _content_of(r),
                          "is_error": r.is_error} for r in entry["results"]])
    return out


class AnthropicProvider:
    """The Messages API through the official `anthropic` SDK, streamed."""

    name = "anthropic"

    def __init__(self, client: anthropic.AsyncAnthropic, model: str):
        self.client = client
        self.model = model

    async def complete(self, *, system: str, entries: list[dict[str, Any]], tools: list[ToolSpec],
                       max_output_tokens: int, on_text: TextSink | None = None) -> ModelTurn:
        import anthropic

        try:
            async with self.client.messages.stream(
                    model=self.model, max_tokens=max_output_tokens, system=system,
                    messages=anthropic_messages(entries),  # type: ignore[arg-type]
                    tools=[spec.anthropic_tool() for spec in tools]) as stream:  # type: ignore[misc]
                async for event in stream:
                    if event.type == "text" and on_text is not None and event.text:
                        await on_text(event.text)
                message = await stream.get_final_message()
        except anthropic.APIStatusError as exc:
            raise ProviderError(_status_failure("the Anthropic API", exc.status_code, exc)) from None
        except anthropic.APIConnectionError as exc:
            raise ProviderError(f"could not reach the Anthropic API ({exc.message})") from None
        except anthropic.APIError as exc:
            raise ProviderError(f"the Anthropic API failed: {_api_message(exc)}") from None
        text = "".join(block.text for block in message.content if block.type == "text")
        calls = [ToolCallRequest(block.id, block.name, block.input if isinstance(block.input, dict) else None,
                                 json.dumps(block.input))
                 for block in message.content if block.type == "tool_use"]
        return ModelTurn(text=text, tool_calls=calls, input_tokens=message.usage.input_tokens,
                         output_tokens=message.usage.output_tokens, stop_reason=message.stop_reason)


# -- OpenAI -------------------------------------------------------------------------------------------------


def openai_messages(system: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transcript as Chat Completions `messages`: a system message, assistant messages with `tool_calls`
    (arguments as JSON strings), one `tool` message per result."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}]
    for entry in entries:
        if entry["role"] == "user":
            out.append({"role": "user", "content": entry["text"]})
        elif entry["role"] == "assistant":
            message: dict[str, Any] = {"role": "assistant", "content": entry["text"] or None}
            calls = entry.get("tool_calls") or []
            if calls:
                message["tool_calls"] = [
                    {"id": c["id"], "type": "function",
                     "function": {"name": c["name"], "arguments": json.dumps(c["input"]) if isinstance(
                         c.get("input"), dict) else c.get("raw_arguments", "{}")}} for c in calls]
            elif not entry["text"]:
                message["content"] = "(no reply)"
            out.append(message)
        else:
            out.extend({"role": "tool", "tool_call_id": r.call_id, "content": _content_of(r)}
                       for r in entry["results"])
    return out


def _decode_arguments(raw: str) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class OpenAIProvider:
    """Chat Completions through the official `openai` SDK, streamed; any OpenAI-compatible server via base_url."""

    name = "openai"

    def __init__(self, client: openai.AsyncOpenAI, model: str, *, official: bool):
        self.client = client
        self.model = model
        self.official = official  # api.openai.com takes max_completion_tokens; compatible servers max_tokens

    async def complete(self, *, system: str, entries: list[dict[str, Any]], tools: list[ToolSpec],
                       max_output_tokens: int, on_text: TextSink | None = None) -> ModelTurn:
        import openai

        cap = {"max_completion_tokens" if self.official else "max_tokens": max_output_tokens}
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        usage = None
        finish = None
        try:
            stream = await self.client.chat.completions.create(
                model=self.model, messages=openai_messages(system, entries),  # type: ignore[arg-type]
                tools=[spec.openai_tool() for spec in tools] or openai.omit,  # type: ignore[arg-type]
                stream=True, stream_options={"include_usage": True}, **cap)
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        if on_text is not None:
                            await on_text(delta.content)
                    for call in delta.tool_calls or []:
                        slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = call.id or slot["id"]
                        if call.function is not None:
                            slot["name"] = call.function.name or slot["name"]
                            slot["arguments"] += call.function.arguments or ""
                    finish = choice.finish_reason or finish
        except openai.APIStatusError as exc:
            raise ProviderError(_status_failure("the OpenAI-compatible API", exc.status_code, exc)) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(f"could not reach the OpenAI-compatible API ({exc.message})") from None
        except openai.APIError as exc:  # an error sent in the middle of the stream (`data: {"error": ...}`)
            raise ProviderError(f"the OpenAI-compatible API failed in the middle of its reply: "
                                f"{_api_message(exc)}") from None
        requests = [ToolCallRequest(slot["id"] or f"call_{index}", slot["name"], _decode_arguments(slot["arguments"]),
                                    slot["arguments"]) for index, slot in sorted(calls.items())]
        return ModelTurn(text="".join(text), tool_calls=requests,
                         input_tokens=usage.prompt_tokens if usage else 0,
                         output_tokens=usage.completion_tokens if usage else 0, stop_reason=finish)


def _status_failure(api: str, status: int, exc: Any) -> str:
    """The run's error for an API's error answer; a 200 is an error event sent in the middle of a stream."""
    if status == 200:
        return f"{api} failed in the middle of its reply: {_api_message(exc)}"
    return f"{api} answered {status}: {_api_message(exc)}"


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)  # Anthropic {"type": "error", "error": {...}}; openai hands the inner object
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
    return str(getattr(exc, "message", exc))[:500]


def provider_for(runtime: Runtime, name: str, model: str) -> Provider:
    """Return the provider `name` (anthropic | openai) for `model`, configured from the runtime's settings
    (agent_base_url, agent_api_key); its SDK client is created once per process and reused."""
    settings = runtime.settings
    key = settings.agent_api_key.get_secret_value() if settings.agent_api_key else None
    cache_key = f"agent:{name}:{settings.agent_base_url}:{hash(key)}"
    client = runtime.clients.get(cache_key)
    if name == "anthropic":
        if client is None:
            import anthropic

            client = anthropic.AsyncAnthropic(api_key=key or _env_key("ANTHROPIC_API_KEY"),
                                              base_url=settings.agent_base_url)
            runtime.clients[cache_key] = client
        return AnthropicProvider(client, model)
    if name == "openai":
        if client is None:
            import openai

            client = openai.AsyncOpenAI(api_key=key or _env_key("OPENAI_API_KEY"), base_url=settings.agent_base_url)
            runtime.clients[cache_key] = client
        return OpenAIProvider(client, model, official=settings.agent_base_url is None)
    raise InvalidInput(f"unknown model provider {name!r}; use one of {', '.join(PROVIDERS)}", field="provider")


def _env_key(variable: str) -> str:
    import os

    value = os.environ.get(variable)
    if not value:
        raise ProviderError(f"no API key for the model provider: set MCS_ERP_AGENT_API_KEY (or {variable})")
    return value
