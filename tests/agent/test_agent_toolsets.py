"""Toolsets in the agent loop (issue 16 item 1): the model is shown the requester's default toolsets, as MCP's
tools/list; enable_toolsets adds toolsets from the next turn; a tool outside them works when called by name."""

from __future__ import annotations

import json

import pytest

from tests.agent.conftest import key_for, point_at
from tests.agent.fake_llm import ToolCall, tool_turn
from tests.agent.test_agent_runs import offered_tools, tool_results
from tests.factories import make_school
from tools.invoke import invoke
from tools.toolsets import listed_tools

pytestmark = pytest.mark.usefixtures("agent_settings")


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_the_model_sees_the_defaults_and_enables_more_during_a_run(rt, llm, api_for, provider):
    school = await make_school(rt, students=2)
    point_at(rt, llm, provider)
    llm.extend([
        # Outside the listing but allowed to a teacher: it works by name (the script marks it as not offered).
        tool_turn(ToolCall(name="get_student", input={"student_id": school.student_ids[0]}, hallucinated=True)),
        tool_turn(ToolCall(name="enable_toolsets", input={"toolsets": ["students"]})),
        tool_turn(ToolCall(name="list_students", input={"section_id": school.section_id})),
        "Your section has 2 students.",
    ])
    api = await api_for(await key_for(rt, school.teacher))
    run = await api.ask("How many students are in my section?")
    done = await api.until_stopped(run["id"])
    assert done["status"] == "completed", done

    shown = {spec.name for spec in listed_tools(rt.catalogue, school.teacher) if spec.offered_to_agents}
    first = offered_tools(llm.requests[0])
    assert first == shown and "list_students" not in first and "enable_toolsets" in first
    by_name = json.loads(tool_results(llm.requests[1])[-1])
    assert by_name["id"] == school.student_ids[0]  # the tool outside the listing ran
    enabled = json.loads(tool_results(llm.requests[2])[-1])
    assert enabled["enabled"] == ["students"] and enabled["session"] is True
    assert offered_tools(llm.requests[2]) == first | {"list_students", "search_students", "get_student",
                                                      "list_enrollments"}
    listed = json.loads(tool_results(llm.requests[3])[-1])
    assert len(listed["items"]) == 2


async def test_a_resumed_run_still_shows_the_toolsets_it_enabled(rt, llm, api_for):
    school = await make_school(rt, students=2)
    await invoke(rt, "record_grade", {"assessment_id": school.assessment_id, "student_id": school.student_ids[0],
                                      "score": 70}, school.teacher)
    point_at(rt, llm, "anthropic")
    llm.extend([
        tool_turn(ToolCall(name="enable_toolsets", input={"toolsets": ["students"]})),
        tool_turn(ToolCall(name="change_grade", input={"assessment_id": school.assessment_id,
                                                       "student_id": school.student_ids[0], "score": 75})),
        "Changed to 75.",
    ])
    api = await api_for(await key_for(rt, school.teacher))
    run = await api.ask("Change the first student's score to 75.")
    paused = await api.until_stopped(run["id"])
    assert paused["status"] == "awaiting_confirmation", paused
    await api.post(f"/v1/runs/{run['id']}/confirm", {})
    done = await api.until_stopped(run["id"])
    assert done["status"] == "completed", done
    # The segment after the pause rebuilt its listing from the transcript: list_students is still shown.
    assert "list_students" not in offered_tools(llm.requests[0])
    assert "list_students" in offered_tools(llm.requests[1]) and "list_students" in offered_tools(llm.requests[2])
