"""Scripted policies: what a competent agent would do on a task, written as steps over the results it has seen.

A policy is a tuple of steps. Step n answers the model's n-th turn of the run: it reads `Seen` (every tool call
made so far in the run and its result, parsed from the conversation the model was sent) and returns the tool
calls to make (`[Call(...), ...]`) or the final answer (a `str`). Because a step only reads what the tools
answered, a policy proves that the task can be done through the tools alone, with nothing looked up behind the
agent's back.

`Seen.from_request(provider, body)` rebuilds what the model was sent from a request body in either wire format
(Anthropic Messages, OpenAI Chat Completions); `next_turn(policy, seen)` picks the step. The CI suite
(tests/evals) serves these turns from a scripted model speaking both wire formats, so the real SDKs and the
product's agent loop run exactly as with a real model.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """One tool call a step makes: the tool's name and its arguments (a JSON object)."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """A tool call of the run and its result: `out` the parsed JSON (None when the result was an error or not
    JSON), `error` the error text (None when the call succeeded)."""

    name: str
    input: dict[str, Any]
    out: Any
    error: str | None


class PolicyError(Exception):
    """A scripted step could not find what it needed in the results (the tools answered something unexpected)."""


@dataclass
class Seen:
    """What the model was sent in this run: the user's request, its own turns so far and every tool result."""

    request: str = ""
    turns: int = 0  # the model's turns since the request (the step to answer is turns + 1)
    results: list[Result] = field(default_factory=list)

    def last(self, name: str) -> Any:
        """Return the parsed result of the latest successful call of tool `name`; raises PolicyError."""
        for result in reversed(self.results):
            if result.name == name and result.error is None:
                return result.out
        errors = [r.error for r in self.results if r.name == name and r.error]
        raise PolicyError(f"no successful {name} result in the run" + (f"; it answered: {errors[-1][:300]}"
                                                                       if errors else ""))

    def all(self, name: str) -> list[Any]:
        """Return the parsed results of every successful call of tool `name`, in order."""
        return [r.out for r in self.results if r.name == name and r.error is None]

    @classmethod
    def from_request(cls, provider: str, body: dict[str, Any]) -> Seen:
        """Rebuild what the model was sent from a request body (`provider`: anthropic | openai)."""
        return _from_anthropic(body) if provider == "anthropic" else _from_openai(body)


Step = Callable[[Seen], "list[Call] | str"]
Policy = tuple[Step, ...]


def next_turn(policy: Policy, seen: Seen) -> list[Call] | str:
    """Return the step answering the model's next turn; raises PolicyError when the policy has no step left."""
    if seen.turns >= len(policy):
        raise PolicyError(f"the policy has {len(policy)} steps and the run asks for step {seen.turns + 1}")
    return policy[seen.turns](seen)


def _parse(content: str) -> tuple[Any, str | None]:
    if content.startswith("error:"):
        return None, content
    try:
        return json.loads(content), None
    except ValueError:
        return None, None if content else "empty result"


def _from_anthropic(body: dict[str, Any]) -> Seen:
    seen = Seen()
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for message in body.get("messages") or []:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if message["role"] == "assistant":
            seen.turns += 1
            for block in blocks:
                if block["type"] == "tool_use":
                    calls[block["id"]] = (block["name"], block.get("input") or {})
            continue
        for block in blocks:
            if block["type"] == "text" and not calls:
                seen.request, seen.turns, seen.results = block["text"], 0, []
            elif block["type"] == "tool_result":
                text = block["content"] if isinstance(block["content"], str) else "".join(
                    b.get("text", "") for b in block["content"])
                name, arguments = calls.get(block["tool_use_id"], ("?", {}))
                out, error = _parse(text)
                seen.results.append(Result(name, arguments, out, error if not block.get("is_error") else text))
    return seen


def _from_openai(body: dict[str, Any]) -> Seen:
    seen = Seen()
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    for message in body.get("messages") or []:
        role = message["role"]
        if role == "user":
            seen.request, seen.turns, seen.results = message["content"], 0, []
            calls.clear()
        elif role == "assistant":
            seen.turns += 1
            for call in message.get("tool_calls") or []:
                try:
                    arguments = json.loads(call["function"]["arguments"] or "{}")
                except ValueError:
                    arguments = {}
                calls[call["id"]] = (call["function"]["name"], arguments)
        elif role == "tool":
            name, arguments = calls.get(message["tool_call_id"], ("?", {}))
            out, error = _parse(message["content"])
            seen.results.append(Result(name, arguments, out, error))
    return seen


def fold(text: str) -> str:
    """Return `text` lower-cased without accents, as a person matches names ("Hernández" -> "hernandez")."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(ch))


def items(out: Any) -> list[dict[str, Any]]:
    """Return the rows of a list answer: its `items` (or the first list field), or the answer when it is a list."""
    if isinstance(out, list):
        return out
    if isinstance(out, dict):
        if isinstance(out.get("items"), list):
            return out["items"]
        for value in out.values():
            if isinstance(value, list) and (not value or isinstance(value[0], dict)):
                return value
    raise PolicyError(f"expected a list answer, got {str(out)[:200]}")


def pick(rows: Any, **where: Any) -> dict[str, Any]:
    """Return the one row of `rows` whose fields match `where` (strings compared folded); raises PolicyError."""
    found = [row for row in items(rows) if all(_same(row.get(k), v) for k, v in where.items())]
    if len(found) != 1:
        raise PolicyError(f"expected one row with {where}, found {len(found)}")
    return found[0]


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, str) and isinstance(wanted, str):
        return fold(value) == fold(wanted)
    return value == wanted
