"""Agent threads, runs, messages, tool calls and run events: a chat assistant's conversation, persisted.

A thread belongs to one user and holds the conversation's messages in order. Posting a user message starts a
run: the server-side tool-calling loop (workers/agent_loop.py) that alternates model turns and tool calls until
the model answers, a limit stops it, or a destructive tool's pending action waits for the human. Everything
the loop learns is written as it goes (assistant messages with their tool calls, each tool call's result,
token usage, the events a client streams), so a run picks up where it stopped after a worker restart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from domain.kernel.clock import utcnow
from domain.kernel.models import Entity


class RunStatus(StrEnum):
    """queued -> running -> completed | awaiting_confirmation (-> queued again once decided) | limit_reached |
    failed | cancelled. Final: completed, limit_reached, failed, cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    COMPLETED = "completed"
    LIMIT_REACHED = "limit_reached"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.LIMIT_REACHED, RunStatus.FAILED,
                                RunStatus.CANCELLED})


class ToolCallStatus(StrEnum):
    """done: the result is final; awaiting: a pending action waits for the human; decided: it was confirmed or
    rejected and the result says how."""

    DONE = "done"
    AWAITING = "awaiting"
    DECIDED = "decided"


class AgentThread(Entity, table=True):
    """A conversation of one user with the agent."""

    __tablename__ = "agent_threads"

    owner_id: int = Field(foreign_key="users.id", nullable=False, index=True)
    title: str = Field(max_length=200, nullable=False)


class AgentRun(Entity, table=True):
    """One run of the loop on a thread: provider and model, limits, usage, status and outcome.

    Usage (`steps`, `tool_calls`, tokens) is the sum over the run's messages and tool calls, stored here when a
    segment stops (finishes, pauses); while it runs, `usage()` adds it up live.

    `max_seconds` bounds the run's active time (waiting for a human does not count); `active_ms` is the time
    spent so far. `awaiting_action_ids` is a JSON list of the pending actions the run waits for.
    """

    __tablename__ = "agent_runs"

    thread_id: int = Field(foreign_key="agent_threads.id", nullable=False, index=True)
    requested_by: int = Field(foreign_key="users.id", nullable=False, index=True)
    status: str = Field(max_length=24, nullable=False, index=True)
    provider: str = Field(max_length=20, nullable=False)
    model: str = Field(max_length=120, nullable=False)
    job_id: int | None = Field(default=None, foreign_key="jobs.id")
    steps: int = Field(default=0, nullable=False)
    tool_calls: int = Field(default=0, nullable=False)
    input_tokens: int = Field(default=0, nullable=False)
    output_tokens: int = Field(default=0, nullable=False)
    max_steps: int = Field(nullable=False)
    max_tokens: int = Field(nullable=False)
    max_seconds: int = Field(nullable=False)
    active_ms: int = Field(default=0, nullable=False)
    stop_reason: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    awaiting_action_ids: str = Field(default="[]", max_length=2000, nullable=False)
    final_message_id: int | None = Field(default=None)
    started_at: datetime | None = Field(default=None)
    finished_at: datetime | None = Field(default=None)


class AgentMessage(SQLModel, table=True):
    """A message of a thread, append-only: a user's text, or an assistant turn (text and tool calls).

    `tool_calls` (assistant only) is a JSON list of {id, name, input}; their results are AgentToolCall rows.
    """

    __tablename__ = "agent_messages"

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="agent_threads.id", nullable=False, index=True)
    run_id: int | None = Field(default=None, foreign_key="agent_runs.id", index=True)
    role: str = Field(max_length=12, nullable=False)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    tool_calls: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    input_tokens: int = Field(default=0, nullable=False)  # the model turn's usage (assistant messages)
    output_tokens: int = Field(default=0, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, nullable=False)


class AgentToolCall(Entity, table=True):
    """One tool call the model made in a run and its result as the model reads it (JSON text or an error).

    Unique per (run, call id): a call whose result is recorded is never executed again, and a write tool's
    result is recorded in the tool's own transaction, so a worker restart cannot run a write twice.
    """

    __tablename__ = "agent_tool_calls"
    __table_args__ = (UniqueConstraint("run_id", "call_id"),)

    run_id: int = Field(foreign_key="agent_runs.id", nullable=False, index=True)
    message_id: int = Field(foreign_key="agent_messages.id", nullable=False)
    call_id: str = Field(max_length=100, nullable=False)
    name: str = Field(max_length=120, nullable=False)
    status: str = Field(max_length=12, nullable=False)
    is_error: bool = Field(default=False, nullable=False)
    result: str = Field(default="", sa_column=Column(Text, nullable=False))
    action_id: int | None = Field(default=None, foreign_key="pending_actions.id")
    tool_ms: float = Field(default=0.0, nullable=False)


class AgentEvent(SQLModel, table=True):
    """An event of a run, in order, for clients that stream it (SSE): its id is the stream's event id.

    Types: run.started, text.delta, tool.call, tool.result, run.awaiting_confirmation, run.resumed,
    run.completed, run.limit_reached, run.failed, run.cancelled. `data` is JSON.
    """

    __tablename__ = "agent_events"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="agent_runs.id", nullable=False, index=True)
    type: str = Field(max_length=40, nullable=False)
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, nullable=False)
