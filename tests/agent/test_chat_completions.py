"""`/v1/chat/completions` with the openai SDK's own client pointed at mcs-erp (the way Open WebUI or a school's
app would use it), while mcs-erp's loop talks to the scripted model through the anthropic or openai SDK."""

from __future__ import annotations

import openai
import pytest
from sqlmodel import select

from domain.agent.models import AgentMessage, AgentRun
from tests.agent.conftest import key_for, point_at
from tests.agent.fake_llm import ToolCall, tool_turn
from tests.agent.test_agent_runs import grade_school, score

pytestmark = pytest.mark.usefixtures("agent_settings")


@pytest.fixture
async def client_for(base_url):
    clients: list[openai.AsyncOpenAI] = []

    async def make(key: str) -> openai.AsyncOpenAI:
        client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_a_chat_client_gets_the_runs_answer(rt, llm, client_for):
    school = await grade_school(rt)
    point_at(rt, llm, "anthropic")
    llm.extend([tool_turn(ToolCall(name="list_terms", input={"academic_year_id": school.year_id})),
                "This year has 2 terms: Term 1 and Term 2."])
    client = await client_for(await key_for(rt, school.teacher))
    models = await client.models.list()
    assert [m.id for m in models.data] == ["mcs-erp"]
    reply = await client.chat.completions.create(model="mcs-erp", messages=[
        {"role": "system", "content": "Answer in one sentence."},
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "How many terms are there this year?"}])
    assert reply.choices[0].message.content == "This year has 2 terms: Term 1 and Term 2."
    assert reply.choices[0].finish_reason == "stop" and reply.model == "mcs-erp"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    sent = llm.requests[0].body["messages"]
    texts = [b["text"] for m in sent for b in (m["content"] if isinstance(m["content"], list) else [])
             if b.get("type") == "text"]
    assert "Instructions from my chat client:\nAnswer in one sentence." in texts
    assert "Hello! How can I help?" in texts and texts[-1] == "How many terms are there this year?"


async def test_streaming_chat_completion(rt, llm, client_for):
    school = await grade_school(rt)
    point_at(rt, llm, "openai")
    llm.extend([tool_turn(ToolCall(name="list_terms", input={}), text="Checking the calendar."),
                "There are two terms."])
    client = await client_for(await key_for(rt, school.teacher))
    stream = await client.chat.completions.create(model="mcs-erp", stream=True,
                                                  stream_options={"include_usage": True},
                                                  messages=[{"role": "user", "content": "How many terms?"}])
    pieces, finishes, usage = [], [], None
    async for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)
    assert "".join(pieces) == "Checking the calendar.\n\nThere are two terms."
    assert len([p for p in pieces if p]) >= 2, "the text arrives in pieces"
    assert finishes[-1] == "stop" and usage is not None and usage.total_tokens > 0


@pytest.mark.parametrize("stream", [False, True])
async def test_a_pending_action_asks_the_user_and_confirm_n_resumes_the_run(rt, llm, client_for, stream):
    school = await grade_school(rt)
    a, st0 = school.assessment_id, school.student_ids[0]
    point_at(rt, llm, "anthropic")
    llm.extend([tool_turn(ToolCall(name="change_grade", input={"assessment_id": a, "student_id": st0, "score": 84})),
                "Done: the score is now 84."])
    client = await client_for(await key_for(rt, school.teacher))

    async def say(messages) -> str:
        if not stream:
            reply = await client.chat.completions.create(model="mcs-erp", messages=messages)
            return reply.choices[0].message.content or ""
        parts = []
        async for chunk in await client.chat.completions.create(model="mcs-erp", messages=messages, stream=True):
            parts += [c.delta.content or "" for c in chunk.choices]
        return "".join(parts)

    history = [{"role": "user", "content": "Change Stu0's unit test score to 84."}]
    first = await say(history)
    async with rt.db.read() as s:
        run = (await s.exec(select(AgentRun).where(AgentRun.requested_by == school.teacher.id)
                            .order_by(AgentRun.id.desc()))).first()
    action_id = __import__("json").loads(run.awaiting_action_ids)[0]
    assert f"Reply `confirm {action_id}`" in first and "change_grade" in first
    assert await score(rt, a, st0) == 7800
    history += [{"role": "assistant", "content": first}, {"role": "user", "content": f"confirm {action_id}"}]
    second = await say(history)
    assert second == "Done: the score is now 84."
    assert await score(rt, a, st0) == 8400
    async with rt.db.read() as s:
        done = await s.get(AgentRun, run.id)
        messages = (await s.exec(select(AgentMessage).where(AgentMessage.thread_id == run.thread_id))).all()
    assert done.status == "completed"
    assert len([m for m in messages if m.role == "user"]) == 1, "the same run continued; no new thread message"


async def test_bad_chat_requests_are_refused(rt, llm, client_for):
    school = await grade_school(rt)
    point_at(rt, llm, "anthropic")
    client = await client_for(await key_for(rt, school.teacher))
    with pytest.raises(openai.UnprocessableEntityError, match="last message must be the user's"):
        await client.chat.completions.create(model="mcs-erp", messages=[{"role": "assistant", "content": "hi"}])
    with pytest.raises(openai.UnprocessableEntityError, match="messages"):
        await client.chat.completions.create(model="mcs-erp", messages=[])
    bad_key = await client_for("mcs_not-a-key")
    with pytest.raises(openai.AuthenticationError):
        await bad_key.chat.completions.create(model="mcs-erp", messages=[{"role": "user", "content": "hi"}])
    assert llm.requests == []
