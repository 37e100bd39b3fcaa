"""FakeLLM against the real official SDKs: sync and async clients, plain and streaming, both providers.

Each conversation is the loop an agent runs: the model calls a tool, the agent sends the tool's result back,
the model answers in text. The SDKs parse the server's replies with their own code, and the recorded
requests show what the SDKs put on the wire.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import anthropic
import openai
import pytest
from anthropic.types import Message, MessageParam

from tests.agent.fake_llm import FakeLLM, ToolCall, Turn, broken_stream_turn, error_turn, text_turn, tool_turn

MODEL_ANTHROPIC = "claude-fake-1"
MODEL_OPENAI = "gpt-fake-1"
MAX_TOKENS = 256
QUESTION = "Which section is Amina Diallo in?"
LEAD_IN = "Let me look her up in the student register."
TOOL_INPUT = {"name": "Amina Diallo", "year": "2025-26"}
TOOL_RESULT = '{"student_id": 42, "section": "Grade 5 A"}'
ANSWER = "Amina Diallo is enrolled in section Grade 5 A for 2025-26."

ANTHROPIC_TOOLS: list[Any] = [
    {
        "name": "find_student",
        "description": "Find a student by name in an academic year.",
        "input_schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "year": {"type": "string"}},
            "required": ["name", "year"],
        },
    },
    {
        "name": "list_sections",
        "description": "List the sections of an academic year.",
        "input_schema": {"type": "object", "properties": {"year": {"type": "string"}}, "required": ["year"]},
    },
]
# Strict tools: the SDK's `chat.completions.stream` helper parses only strict function tools.
OPENAI_TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool["description"],
            "parameters": {**tool["input_schema"], "additionalProperties": False},
            "strict": True,
        },
    }
    for tool in ANTHROPIC_TOOLS
]


def conversation_script(*, tool_call_id: str) -> list[Turn | str]:
    """Return the two turns of the conversation: text then one tool call, then the final answer."""
    return [
        tool_turn(ToolCall(name="find_student", input=TOOL_INPUT, id=tool_call_id), text=LEAD_IN),
        text_turn(ANSWER),
    ]


# Anthropic ------------------------------------------------------------------------------------------------

AnthropicMode = Literal["create", "stream"]


def anthropic_send(client: anthropic.Anthropic, mode: AnthropicMode, messages: list[MessageParam]) -> Message:
    """Send `messages` with the tools offered, through `messages.create` or the `messages.stream` helper."""
    if mode == "create":
        return client.messages.create(
            model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS, tools=ANTHROPIC_TOOLS, messages=messages
        )
    with client.messages.stream(
        model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS, tools=ANTHROPIC_TOOLS, messages=messages
    ) as stream:
        return stream.get_final_message()


async def anthropic_send_async(
    client: anthropic.AsyncAnthropic, mode: AnthropicMode, messages: list[MessageParam]
) -> Message:
    """Async twin of `anthropic_send`."""
    if mode == "create":
        return await client.messages.create(
            model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS, tools=ANTHROPIC_TOOLS, messages=messages
        )
    async with client.messages.stream(
        model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS, tools=ANTHROPIC_TOOLS, messages=messages
    ) as stream:
        return await stream.get_final_message()


def anthropic_follow_up(first: Message) -> list[MessageParam]:
    """Return the second request's messages: the question, the model's tool call, the tool's result."""
    tool_use = next(block for block in first.content if block.type == "tool_use")
    return [
        {"role": "user", "content": QUESTION},
        first.to_param(),
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": TOOL_RESULT}],
        },
    ]


def assert_anthropic_tool_use(message: Message, *, tool_call_id: str) -> None:
    assert message.stop_reason == "tool_use"
    assert message.model == MODEL_ANTHROPIC
    assert [block.type for block in message.content] == ["text", "tool_use"]
    text, tool_use = message.content
    assert text.type == "text" and text.text == LEAD_IN
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == (tool_call_id, "find_student", TOOL_INPUT)
    assert message.usage.output_tokens > 0


def assert_anthropic_answer(message: Message) -> None:
    assert message.stop_reason == "end_turn"
    assert [(block.type, getattr(block, "text", None)) for block in message.content] == [("text", ANSWER)]


def assert_anthropic_requests(llm: FakeLLM, *, mode: AnthropicMode, tool_call_id: str) -> None:
    """The SDK offered the tools both times and sent the tool call and its result back the second time."""
    assert [r.path for r in llm.requests] == ["/v1/messages", "/v1/messages"]
    for request in llm.requests:
        assert request.provider == "anthropic" and "anthropic-version" in request.headers
        assert "Anthropic/Python" in request.headers["user-agent"]
    first, second = (r.body for r in llm.requests)
    for body in (first, second):
        assert [tool["name"] for tool in body["tools"]] == ["find_student", "list_sections"]
        assert body["tools"][0]["input_schema"]["required"] == ["name", "year"]
        assert body["model"] == MODEL_ANTHROPIC and body["max_tokens"] == MAX_TOKENS
        assert bool(body.get("stream")) is (mode == "stream")
    assert first["messages"] == [{"role": "user", "content": QUESTION}]
    assistant, tool_result = second["messages"][1:]
    assert assistant["role"] == "assistant"
    assert [block["type"] for block in assistant["content"]] == ["text", "tool_use"]
    sent_tool_use = assistant["content"][1]
    assert (sent_tool_use["id"], sent_tool_use["name"], sent_tool_use["input"]) == (
        tool_call_id,
        "find_student",
        TOOL_INPUT,
    )
    assert tool_result == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": tool_call_id, "content": TOOL_RESULT}],
    }


@pytest.mark.parametrize("mode", ["create", "stream"])
def test_anthropic_sync_client_runs_a_tool_call_then_answers(mode: AnthropicMode) -> None:
    with FakeLLM(conversation_script(tool_call_id="toolu_01A")) as llm:
        with anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="test") as client:
            first = anthropic_send(client, mode, [{"role": "user", "content": QUESTION}])
            assert_anthropic_tool_use(first, tool_call_id="toolu_01A")
            second = anthropic_send(client, mode, anthropic_follow_up(first))
            assert_anthropic_answer(second)
            assert_anthropic_requests(llm, mode=mode, tool_call_id="toolu_01A")
            assert llm.remaining == 0


@pytest.mark.parametrize("mode", ["create", "stream"])
async def test_anthropic_async_client_runs_a_tool_call_then_answers(mode: AnthropicMode) -> None:
    async with FakeLLM(conversation_script(tool_call_id="toolu_01B")) as llm:
        async with anthropic.AsyncAnthropic(base_url=llm.anthropic_base_url, api_key="test") as client:
            first = await anthropic_send_async(client, mode, [{"role": "user", "content": QUESTION}])
            assert_anthropic_tool_use(first, tool_call_id="toolu_01B")
            second = await anthropic_send_async(client, mode, anthropic_follow_up(first))
            assert_anthropic_answer(second)
            assert_anthropic_requests(llm, mode=mode, tool_call_id="toolu_01B")


def test_anthropic_stream_events_arrive_in_the_documented_order_and_pieces() -> None:
    with FakeLLM(conversation_script(tool_call_id="toolu_01C")) as llm:
        with anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="test") as client:
            with client.messages.stream(
                model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS, tools=ANTHROPIC_TOOLS, messages=[]
            ) as stream:
                raw = [event for event in stream if not event.type.startswith(("text", "input_json"))]
            events = [event.type for event in raw]
            assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
            assert events.count("content_block_start") == events.count("content_block_stop") == 2
            deltas = [e.delta for e in raw if e.type == "content_block_delta"]
            text_pieces = [d.text for d in deltas if d.type == "text_delta"]
            json_pieces = [d.partial_json for d in deltas if d.type == "input_json_delta"]
            assert len(text_pieces) > 1 and "".join(text_pieces) == LEAD_IN
            assert len(json_pieces) > 1 and json.loads("".join(json_pieces)) == TOOL_INPUT
            message_delta = next(e for e in raw if e.type == "message_delta")
            assert message_delta.delta.stop_reason == "tool_use"

            with client.messages.stream(model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS, messages=[]) as stream:
                assert "".join(stream.text_stream) == ANSWER


# OpenAI ---------------------------------------------------------------------------------------------------

OpenAIMode = Literal["create", "create_stream", "stream_helper"]


@dataclass(frozen=True)
class AssistantReply:
    """What an agent reads from one chat completion, however it arrived."""

    text: str | None
    tool_calls: list[tuple[str, str, dict[str, Any]]]  # (id, name, input)
    finish_reason: str | None
    model: str


def reply_from_completion(completion: Any) -> AssistantReply:
    choice = completion.choices[0]
    calls = [
        (call.id, call.function.name, json.loads(call.function.arguments))
        for call in choice.message.tool_calls or []
    ]
    return AssistantReply(choice.message.content, calls, choice.finish_reason, completion.model)


class ChunkAssembler:
    """Assemble `chat.completion.chunk`s by hand, the way an agent loop reading `stream=True` does."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.model = ""
        self.usage: Any = None

    def add(self, chunk: Any) -> None:
        assert chunk.object == "chat.completion.chunk"
        self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                self.text.append(choice.delta.content)
            for delta in choice.delta.tool_calls or []:
                call = self.calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                if delta.function is not None:
                    call["name"] += delta.function.name or ""
                    call["arguments"] += delta.function.arguments or ""
            self.finish_reason = choice.finish_reason or self.finish_reason

    def reply(self) -> AssistantReply:
        assert self.usage is not None and self.usage.total_tokens > 0, "include_usage asked for a usage chunk"
        calls = [(c["id"], c["name"], json.loads(c["arguments"])) for _, c in sorted(self.calls.items())]
        return AssistantReply("".join(self.text) or None, calls, self.finish_reason, self.model)


def openai_kwargs(messages: list[Any]) -> dict[str, Any]:
    return {"model": MODEL_OPENAI, "messages": messages, "tools": OPENAI_TOOLS}


def reply_from_final_completion(completion: Any) -> AssistantReply:
    """Check the helper's parsed arguments (strict tools) agree with the raw ones, then read the reply."""
    for call in completion.choices[0].message.tool_calls or []:
        assert call.function.parsed_arguments == json.loads(call.function.arguments)
    return reply_from_completion(completion)


def openai_send(client: openai.OpenAI, mode: OpenAIMode, messages: list[Any]) -> AssistantReply:
    """Send `messages` with the tools offered: plain, `stream=True` chunks, or the `.stream` helper."""
    if mode == "create":
        return reply_from_completion(client.chat.completions.create(**openai_kwargs(messages)))
    if mode == "create_stream":
        assembler = ChunkAssembler()
        for chunk in client.chat.completions.create(
            **openai_kwargs(messages), stream=True, stream_options={"include_usage": True}
        ):
            assembler.add(chunk)
        return assembler.reply()
    with client.chat.completions.stream(**openai_kwargs(messages)) as stream:
        return reply_from_final_completion(stream.get_final_completion())


async def openai_send_async(
    client: openai.AsyncOpenAI, mode: OpenAIMode, messages: list[Any]
) -> AssistantReply:
    """Async twin of `openai_send`."""
    if mode == "create":
        return reply_from_completion(await client.chat.completions.create(**openai_kwargs(messages)))
    if mode == "create_stream":
        assembler = ChunkAssembler()
        async for chunk in await client.chat.completions.create(
            **openai_kwargs(messages), stream=True, stream_options={"include_usage": True}
        ):
            assembler.add(chunk)
        return assembler.reply()
    async with client.chat.completions.stream(**openai_kwargs(messages)) as stream:
        return reply_from_final_completion(await stream.get_final_completion())


def openai_follow_up(first: AssistantReply) -> list[Any]:
    """Return the second request's messages: the question, the model's tool calls, one tool message each."""
    return [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": first.text,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                for call_id, name, args in first.tool_calls
            ],
        },
        *(
            {"role": "tool", "tool_call_id": call_id, "content": TOOL_RESULT}
            for call_id, _, _ in first.tool_calls
        ),
    ]


def assert_openai_conversation(first: AssistantReply, second: AssistantReply, *, tool_call_id: str) -> None:
    expected_call = (tool_call_id, "find_student", TOOL_INPUT)
    assert first == AssistantReply(LEAD_IN, [expected_call], "tool_calls", MODEL_OPENAI)
    assert second == AssistantReply(ANSWER, [], "stop", MODEL_OPENAI)


def assert_openai_requests(llm: FakeLLM, *, mode: OpenAIMode, tool_call_id: str) -> None:
    """The SDK offered the tools both times and sent the tool call and the tool message back."""
    assert [r.path for r in llm.requests] == ["/v1/chat/completions", "/v1/chat/completions"]
    assert all(r.provider == "openai" and r.headers["authorization"] == "Bearer test" for r in llm.requests)
    first, second = (r.body for r in llm.requests)
    for body in (first, second):
        assert [tool["function"]["name"] for tool in body["tools"]] == ["find_student", "list_sections"]
        assert body["tools"][0]["function"]["strict"] is True
        assert bool(body.get("stream")) is (mode != "create")
    assistant, tool_message = second["messages"][1:]
    assert assistant["tool_calls"] == [
        {
            "id": tool_call_id,
            "type": "function",
            "function": {"name": "find_student", "arguments": json.dumps(TOOL_INPUT)},
        }
    ]
    assert tool_message == {"role": "tool", "tool_call_id": tool_call_id, "content": TOOL_RESULT}


@pytest.mark.parametrize("mode", ["create", "create_stream", "stream_helper"])
def test_openai_sync_client_runs_a_tool_call_then_answers(mode: OpenAIMode) -> None:
    with FakeLLM(conversation_script(tool_call_id="call_abc")) as llm:
        with openai.OpenAI(base_url=llm.openai_base_url, api_key="test") as client:
            first = openai_send(client, mode, [{"role": "user", "content": QUESTION}])
            second = openai_send(client, mode, openai_follow_up(first))
            assert_openai_conversation(first, second, tool_call_id="call_abc")
            assert_openai_requests(llm, mode=mode, tool_call_id="call_abc")
            assert llm.remaining == 0


@pytest.mark.parametrize("mode", ["create", "create_stream", "stream_helper"])
async def test_openai_async_client_runs_a_tool_call_then_answers(mode: OpenAIMode) -> None:
    async with FakeLLM(conversation_script(tool_call_id="call_def")) as llm:
        async with openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="test") as client:
            first = await openai_send_async(client, mode, [{"role": "user", "content": QUESTION}])
            second = await openai_send_async(client, mode, openai_follow_up(first))
            assert_openai_conversation(first, second, tool_call_id="call_def")
            assert_openai_requests(llm, mode=mode, tool_call_id="call_def")


def test_openai_parallel_tool_calls_without_text_stream_by_index() -> None:
    calls = [
        ToolCall(name="find_student", input={"name": "Amina Diallo", "year": "2025-26"}, id="call_1"),
        ToolCall(name="list_sections", input={"year": "2025-26"}, id="call_2"),
    ]
    with FakeLLM([tool_turn(*calls), tool_turn(*calls)]) as llm:
        with openai.OpenAI(base_url=llm.openai_base_url, api_key="test") as client:
            expected = [(c.id, c.name, c.input) for c in calls]
            plain = openai_send(client, "create", [{"role": "user", "content": QUESTION}])
            streamed = openai_send(client, "create_stream", [{"role": "user", "content": QUESTION}])
            assert plain == streamed == AssistantReply(None, expected, "tool_calls", MODEL_OPENAI)


# The script ----------------------------------------------------------------------------------------------


def test_one_script_is_shared_by_both_providers_and_ids_default_per_provider() -> None:
    script: list[Turn | str] = [
        tool_turn(ToolCall(name="list_sections", input={"year": "2025-26"})),
        tool_turn(ToolCall(name="list_sections", input={"year": "2025-26"})),
        "All sections listed.",
    ]
    with FakeLLM(script) as llm:
        with anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="test") as claude:
            with openai.OpenAI(base_url=llm.openai_base_url, api_key="test") as gpt:
                first = anthropic_send(claude, "create", [{"role": "user", "content": QUESTION}])
                assert [(b.type, getattr(b, "id", None)) for b in first.content] == [
                    ("tool_use", "toolu_1_0")
                ]
                second = openai_send(gpt, "create", [{"role": "user", "content": QUESTION}])
                assert second.tool_calls == [("call_2_0", "list_sections", {"year": "2025-26"})]
                assert llm.remaining == 1
                third = anthropic_send(claude, "stream", [{"role": "user", "content": QUESTION}])
                assert [getattr(block, "text", None) for block in third.content] == ["All sections listed."]
                assert [r.provider for r in llm.requests] == ["anthropic", "openai", "anthropic"]
                assert llm.remaining == 0


@pytest.mark.parametrize("mode", ["create", "stream"])
def test_anthropic_exhausted_script_raises_internal_server_error_without_retries(mode: AnthropicMode) -> None:
    with FakeLLM(["Only one turn."]) as llm:
        with anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="test") as client:
            anthropic_send(client, mode, [{"role": "user", "content": QUESTION}])
            with pytest.raises(anthropic.InternalServerError) as raised:
                anthropic_send(client, mode, [{"role": "user", "content": QUESTION}])
            assert raised.value.status_code == 500
            assert "script exhausted: request 2" in raised.value.message
            assert "only 1 turn(s) were scripted" in raised.value.message
            assert len(llm.requests) == 2  # recorded, and not retried


@pytest.mark.parametrize("mode", ["create", "create_stream", "stream_helper"])
async def test_openai_exhausted_script_raises_internal_server_error_without_retries(mode: OpenAIMode) -> None:
    async with FakeLLM([]) as llm:
        async with openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="test") as client:
            with pytest.raises(openai.InternalServerError) as raised:
                await openai_send_async(client, mode, [{"role": "user", "content": QUESTION}])
            assert raised.value.status_code == 500
            assert "script exhausted: request 1 (POST /v1/chat/completions)" in raised.value.message
            assert len(llm.requests) == 1


async def test_tool_call_the_request_did_not_offer_is_a_bad_request() -> None:
    async with FakeLLM([tool_turn(ToolCall(name="delete_school", input={}))] * 2) as llm:
        async with anthropic.AsyncAnthropic(base_url=llm.anthropic_base_url, api_key="test") as claude:
            with pytest.raises(anthropic.BadRequestError, match="calls tool 'delete_school'"):
                await anthropic_send_async(claude, "stream", [{"role": "user", "content": QUESTION}])
            async with openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="test") as gpt:
                with pytest.raises(openai.BadRequestError, match="offered no tools"):
                    await gpt.chat.completions.create(
                        model=MODEL_OPENAI, messages=[{"role": "user", "content": QUESTION}]
                    )
                assert len(llm.requests) == 2


async def test_scripted_error_status_is_the_providers_error_without_retries() -> None:
    async with FakeLLM([error_turn(401, "invalid x-api-key"), error_turn(500, "overloaded")]) as llm:
        async with anthropic.AsyncAnthropic(base_url=llm.anthropic_base_url, api_key="test") as claude:
            with pytest.raises(anthropic.AuthenticationError) as denied:
                await anthropic_send_async(claude, "stream", [{"role": "user", "content": QUESTION}])
        async with openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="test") as gpt:
            with pytest.raises(openai.InternalServerError) as failed:
                await openai_send_async(gpt, "create_stream", [{"role": "user", "content": QUESTION}])
        assert denied.value.status_code == 401 and denied.value.body["error"]["message"] == "invalid x-api-key"
        assert failed.value.status_code == 500 and failed.value.body["message"] == "overloaded"
        assert len(llm.requests) == 2  # not retried


async def test_a_broken_stream_starts_answering_then_raises_the_providers_mid_stream_error() -> None:
    turn = broken_stream_turn("There are three terms in the school year.", after=4, message="Internal server error")
    async with FakeLLM([turn, turn]) as llm:
        async with anthropic.AsyncAnthropic(base_url=llm.anthropic_base_url, api_key="test") as claude:
            texts: list[str] = []
            with pytest.raises(anthropic.APIStatusError, match="Internal server error"):
                async with claude.messages.stream(model=MODEL_ANTHROPIC, max_tokens=MAX_TOKENS,
                                                  messages=[{"role": "user", "content": QUESTION}]) as stream:
                    async for text in stream.text_stream:
                        texts.append(text)
            # message_start, content_block_start and two text deltas arrived before the error
            assert "".join(texts) == "There are three terms in the "
        async with openai.AsyncOpenAI(base_url=llm.openai_base_url, api_key="test") as gpt:
            pieces: list[str] = []
            with pytest.raises(openai.APIError, match="Internal server error"):
                chunks = await gpt.chat.completions.create(model=MODEL_OPENAI, stream=True,
                                                           messages=[{"role": "user", "content": QUESTION}])
                async for chunk in chunks:
                    pieces += [c.delta.content or "" for c in chunk.choices]
            # the role chunk and three text chunks (the whole text) arrived, but no finish chunk: the error instead
            assert "".join(pieces) == "There are three terms in the school year."
    with pytest.raises(ValueError, match="error_after counts events"):
        broken_stream_turn("x", after=-1)
    with pytest.raises(ValueError, match="HTTP error status"):
        error_turn(200)


def test_turn_needs_text_or_tool_calls() -> None:
    with pytest.raises(ValueError, match="needs a text, tool calls, or both"):
        Turn()
    with pytest.raises(ValueError, match="at least one ToolCall"):
        tool_turn(text="thinking aloud")


def test_extend_appends_turns_and_stop_closes_the_port() -> None:
    llm = FakeLLM().start()
    llm.extend(["Late answer."])
    with anthropic.Anthropic(base_url=llm.anthropic_base_url, api_key="test", max_retries=0) as client:
        message = anthropic_send(client, "create", [{"role": "user", "content": QUESTION}])
        assert [getattr(b, "text", None) for b in message.content] == ["Late answer."]
        llm.stop()
        with pytest.raises(anthropic.APIConnectionError):
            anthropic_send(client, "create", [{"role": "user", "content": QUESTION}])


def test_wrong_base_url_is_a_not_found_naming_the_served_paths() -> None:
    with FakeLLM(["Never sent."]) as llm:
        with openai.OpenAI(base_url=llm.url, api_key="test") as client:  # missing the `/v1` suffix
            with pytest.raises(openai.NotFoundError, match="serves /v1/messages and /v1/chat/completions"):
                client.chat.completions.create(**openai_kwargs([{"role": "user", "content": QUESTION}]))
            assert [r.path for r in llm.requests] == ["/chat/completions"]
            assert llm.remaining == 1
