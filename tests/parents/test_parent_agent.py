"""A guardian through a chat front end (issue 21, part 4): `/v1/chat/completions` with the openai SDK, the run's
model scripted (tests/agent/fake_llm). The model is offered only what a guardian's roles allow and lists by
default (discovery, me, actions, family), never a staff tool; asking for another family's child answers
not_found with nothing of that child; their own child's published grade comes back."""

from __future__ import annotations

import json

import openai
import pytest

from tests.agent.conftest import key_for, point_at
from tests.agent.fake_llm import ToolCall, tool_turn
from tests.agent.test_agent_runs import offered_tools, tool_results
from tests.parents.world import build_world
from tools.toolsets import listed_tools

pytestmark = pytest.mark.usefixtures("agent_settings")


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_a_guardian_asks_a_chat_assistant_about_their_own_child_only(rt, llm, base_url, provider):
    world = await build_world(rt)
    kim = world.guardians["kim"]
    ana, dee = world.students["Ana"], world.students["Dee"]
    point_at(rt, llm, provider)
    llm.extend([tool_turn(ToolCall(name="get_child_transcript", input={"student_id": dee})),
                tool_turn(ToolCall(name="list_students", input={}, hallucinated=True)),
                tool_turn(ToolCall(name="get_child_transcript", input={"student_id": ana})),
                "Ana has 91 in Mathematics."])
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key=await key_for(rt, kim),
                                  max_retries=0) as client:
        reply = await client.chat.completions.create(model="mcs-erp", messages=[
            {"role": "user", "content": "How is Ana doing at school?"}])
    assert reply.choices[0].message.content == "Ana has 91 in Mathematics."

    offered = offered_tools(llm.requests[0])
    assert offered == {spec.name for spec in listed_tools(rt.catalogue, kim) if spec.offered_to_agents}
    assert {"get_my_children", "get_child_transcript", "get_my_family_balance"} <= offered
    assert not offered & {"list_students", "get_student", "list_invoices", "list_families", "invite_guardian"}
    refused = tool_results(llm.requests[1])[-1]
    assert "not_found" in refused and world.student_codes[dee] not in refused and "Dee" not in refused
    denied = tool_results(llm.requests[2])[-1]
    assert "unknown tool 'list_students'" in denied  # a staff tool is not even there for a guardian's run
    own = json.loads(tool_results(llm.requests[3])[-1])
    assert own["student_id"] == ana and [g["percentage"] for g in own["grades"]] == [91.0]
