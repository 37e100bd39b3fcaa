"""The suite's pure parts: a policy's view of a run rebuilt from either wire format, its row helpers, and the
graders' matching of facts in an answer."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from evals.grading import Grading, money, plain, says
from evals.scripted import Call, PolicyError, Seen, fold, next_turn, pick

RESULT = {"items": [{"id": 3, "first_name": "Pablo", "last_name": "Hernández"},
                    {"id": 9, "first_name": "Pablo", "last_name": "Ortega"}]}


def anthropic_body() -> dict:
    return {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Update Pablo's mark."}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "search_students",
                                           "input": {"query": "Pablo"}},
                                          {"type": "tool_use", "id": "t2", "name": "get_grade", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": json.dumps(RESULT), "is_error": False},
            {"type": "tool_result", "tool_use_id": "t2", "content": "error: invalid_input\nassessment_id is "
                                                                    "required", "is_error": True}]},
    ]}


def openai_body() -> dict:
    return {"messages": [
        {"role": "system", "content": "You are the school's assistant."},
        {"role": "user", "content": "Update Pablo's mark."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search_students",
                                                          "arguments": '{"query": "Pablo"}'}},
            {"id": "c2", "type": "function", "function": {"name": "get_grade", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(RESULT)},
        {"role": "tool", "tool_call_id": "c2", "content": "error: invalid_input\nassessment_id is required"},
    ]}


@pytest.mark.parametrize(("provider", "body"), [("anthropic", anthropic_body()), ("openai", openai_body())])
def test_a_request_in_either_wire_format_gives_the_same_view_of_the_run(provider, body):
    seen = Seen.from_request(provider, body)
    assert seen.request == "Update Pablo's mark." and seen.turns == 1
    assert [(r.name, r.input) for r in seen.results] == [("search_students", {"query": "Pablo"}), ("get_grade", {})]
    assert seen.last("search_students") == RESULT and seen.all("search_students") == [RESULT]
    assert seen.results[1].out is None and seen.results[1].error.startswith("error: invalid_input")
    with pytest.raises(PolicyError, match="no successful get_grade result in the run; it answered: error: "):
        seen.last("get_grade")


def test_a_policy_step_is_chosen_by_the_model_turns_so_far_and_a_run_past_its_end_is_an_error():
    policy = (lambda s: [Call("search_students", {"query": "Pablo"})], lambda s: "Done.")
    assert next_turn(policy, Seen(turns=0)) == [Call("search_students", {"query": "Pablo"})]
    assert next_turn(policy, Seen(turns=1)) == "Done."
    with pytest.raises(PolicyError, match="the policy has 2 steps and the run asks for step 3"):
        next_turn(policy, Seen(turns=2))


def test_pick_matches_names_without_accents_and_refuses_none_or_several():
    assert pick(RESULT, last_name="hernandez")["id"] == 3
    with pytest.raises(PolicyError, match="expected one row with {'first_name': 'Pablo'}, found 2"):
        pick(RESULT, first_name="Pablo")
    with pytest.raises(PolicyError, match="found 0"):
        pick(RESULT, last_name="Smith")
    with pytest.raises(PolicyError, match="expected a list answer"):
        pick({"total": 3}, id=3)
    assert fold("Zoë Hernández") == "zoe hernandez"


def test_an_answer_is_matched_without_case_accents_or_thousands_separators():
    assert plain("The Rao family owes AUD 15,372.25 (Hernández)") == "the rao family owes aud 15372.25 (hernandez)"
    assert says("owes 15,372.25.", "15372.25") and says("93 families", "93") and says("Total: 7.", "7")
    assert not says("193 families", "93") and not says("14.28", "14.2") and not says("2.5", "2")
    assert money(1_537_225) == "15372.25" and money(-5) == "-0.05" and money(100_000) == "1000.00"
    g = Grading(runtime=None, answer="The average is 14.28 out of 20; Lucía López took three days of unpaid leave.")  # type: ignore[arg-type]
    g.mentions("lucia lopez", "UNPAID LEAVE")
    g.mentions_number(Decimal("14.275"))
    g.mentions_any("3 day", "three day")
    g.omits("Ortega")
    assert g.failures == []
    g.mentions_number(Decimal("14.2"))
    g.mentions("15372.25")
    g.omits("López")
    assert g.failures == ["the answer says none of ['14.2', '14.20']", "the answer does not mention ['15372.25']",
                          "the answer wrongly mentions ['López']"]
