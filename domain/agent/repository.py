"""All SQL of the agent context: threads, messages, runs, their events and tool calls.

Only domain/agent/service.py uses this module (the server and the workers go through the service). Every function
works inside the caller's unit of work and never commits; `for_update` locks the row on PostgreSQL only (SQLite
writers are serial).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.agent.models import AgentEvent, AgentMessage, AgentRun, AgentThread, AgentToolCall, RunStatus

# The loop's hot statements, built once so each step reuses their compiled form (the loop writes these every step).
# Core statements on the tables (not the ORM entities), so the session does no ORM bulk bookkeeping for them.
_INSERT_EVENT = insert(AgentEvent.__table__)  # type: ignore[attr-defined]
_INSERT_TOOL_CALL = insert(AgentToolCall.__table__)  # type: ignore[attr-defined]
_INSERT_MESSAGE = insert(AgentMessage.__table__).returning(AgentMessage.__table__.c.id)  # type: ignore[attr-defined]


def is_postgres(session: AsyncSession) -> bool:
    """Whether the session talks to PostgreSQL (row locks are taken there only)."""
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def refresh_for_update(session: AsyncSession, row: SQLModel) -> None:
    """Re-read `row` from the database, locking it on PostgreSQL."""
    await session.refresh(row, with_for_update=is_postgres(session))


# -- usage --------------------------------------------------------------------------------------------------


async def usage_totals(session: AsyncSession, run_id: int) -> tuple[int, int, int, int]:
    """Return a run's (assistant messages, tool calls recorded, input tokens, output tokens)."""
    steps, tokens_in, tokens_out = (await session.exec(select(  # type: ignore[call-overload]
        func.count(), func.coalesce(func.sum(AgentMessage.input_tokens), 0),
        func.coalesce(func.sum(AgentMessage.output_tokens), 0)).where(
        AgentMessage.run_id == run_id, AgentMessage.role == "assistant"))).one()
    calls = (await session.exec(select(func.count()).select_from(AgentToolCall).where(  # type: ignore[call-overload]
        AgentToolCall.run_id == run_id))).one()
    return int(steps), int(calls), int(tokens_in), int(tokens_out)


# -- threads and messages -----------------------------------------------------------------------------------


async def get_thread(session: AsyncSession, thread_id: int, *, for_update: bool = False) -> AgentThread | None:
    """Return the thread with that id (deleted or not), or None."""
    stmt = select(AgentThread).where(AgentThread.id == thread_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def list_threads(session: AsyncSession, owner_id: int, *, after_id: int, limit: int) -> list[AgentThread]:
    """Return up to `limit + 1` live threads of `owner_id` with id > `after_id`, oldest first."""
    stmt = (select(AgentThread).where(AgentThread.owner_id == owner_id, col(AgentThread.id) > after_id,
                                      col(AgentThread.deleted_at).is_(None))
            .order_by(col(AgentThread.id)).limit(limit + 1))
    return list((await session.exec(stmt)).all())


async def thread_messages(session: AsyncSession, thread_id: int) -> list[AgentMessage]:
    """Return every message of a thread, oldest first."""
    stmt = select(AgentMessage).where(AgentMessage.thread_id == thread_id).order_by(col(AgentMessage.id))
    return list((await session.exec(stmt)).all())


async def insert_message(session: AsyncSession, row: dict[str, Any]) -> int:
    """Insert a message (a Core INSERT of the agent_messages columns in `row`) and return its id."""
    return (await session.exec(_INSERT_MESSAGE, params=row)).scalar_one()  # type: ignore[call-overload]


async def assistant_messages(session: AsyncSession, run_id: int, *, after_id: int = 0) -> list[AgentMessage]:
    """Return a run's assistant messages with id > `after_id`, oldest first."""
    stmt = (select(AgentMessage).where(AgentMessage.run_id == run_id, AgentMessage.role == "assistant",
                                       col(AgentMessage.id) > after_id)
            .order_by(col(AgentMessage.id)))
    return list((await session.exec(stmt)).all())


# -- runs ---------------------------------------------------------------------------------------------------


async def get_run(session: AsyncSession, run_id: int, *, for_update: bool = False) -> AgentRun | None:
    """Return the run with that id, or None."""
    stmt = select(AgentRun).where(AgentRun.id == run_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def open_run_of(session: AsyncSession, thread_id: int, open_statuses: tuple[str, ...]) -> AgentRun | None:
    """Return a run of the thread whose status is one of `open_statuses`, if any."""
    stmt = select(AgentRun).where(AgentRun.thread_id == thread_id, col(AgentRun.status).in_(open_statuses))
    return (await session.exec(stmt)).first()


async def runs_awaiting_mention(session: AsyncSession, requested_by: int, action_id: int) -> list[AgentRun]:
    """Return the runs of `requested_by` awaiting confirmation whose awaited action ids (JSON text) contain the
    digits of `action_id`: candidates only, since 12 also matches [112] (the caller checks the decoded list)."""
    stmt = select(AgentRun).where(AgentRun.requested_by == requested_by,
                                  AgentRun.status == RunStatus.AWAITING_CONFIRMATION.value,
                                  col(AgentRun.awaiting_action_ids).contains(str(action_id)))
    return list((await session.exec(stmt)).all())


async def action_ids_of_run(session: AsyncSession, run_id: int) -> set[int]:
    """Return the ids of the pending actions the run's tool calls proposed."""
    stmt = select(AgentToolCall.action_id).where(AgentToolCall.run_id == run_id,
                                                 col(AgentToolCall.action_id).is_not(None))
    return {int(i) for i in (await session.exec(stmt)).all()}


# -- events -------------------------------------------------------------------------------------------------


async def count_events(session: AsyncSession, run_id: int, types: tuple[str, ...]) -> int:
    """Return how many events of a run have one of `types`."""
    count = await session.scalar(select(func.count()).select_from(AgentEvent).where(
        AgentEvent.run_id == run_id, col(AgentEvent.type).in_(types)))
    return int(count or 0)


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert events in one Core INSERT; each row has run_id, type, data (JSON text) and created_at."""
    await session.exec(_INSERT_EVENT, params=rows)  # type: ignore[call-overload]


async def events_after(session: AsyncSession, run_id: int, after_id: int, *, limit: int) -> list[AgentEvent]:
    """Return up to `limit` events of a run with id > `after_id`, in order."""
    stmt = (select(AgentEvent).where(AgentEvent.run_id == run_id, col(AgentEvent.id) > after_id)
            .order_by(col(AgentEvent.id)).limit(limit))
    return list((await session.exec(stmt)).all())


# -- tool calls ---------------------------------------------------------------------------------------------


async def tool_calls_of_messages(session: AsyncSession, message_ids: list[int | None]) -> list[AgentToolCall]:
    """Return the recorded tool calls of those assistant messages."""
    return list((await session.exec(select(AgentToolCall).where(
        col(AgentToolCall.message_id).in_(message_ids)))).all())


async def insert_tool_calls(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert tool-call rows (every column of agent_tool_calls but id) in one Core INSERT."""
    await session.exec(_INSERT_TOOL_CALL, params=rows)  # type: ignore[call-overload]


async def tool_calls_with_status(session: AsyncSession, run_id: int, status: str) -> list[AgentToolCall]:
    """Return a run's tool calls with that status, oldest first."""
    stmt = select(AgentToolCall).where(AgentToolCall.run_id == run_id, AgentToolCall.status == status)
    return list((await session.exec(stmt.order_by(col(AgentToolCall.id)))).all())
