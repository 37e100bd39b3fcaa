"""What the outbox tests share: a table of handler effects (outside the product's schema), handlers writing it,
and events recorded in their own committed transactions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel import outbox
from domain.kernel.db import Database

TOPIC = "tests.ThingHappened"
OTHER_TOPIC = "tests.OtherThing"
AGGREGATE = "tests.thing"

effects_metadata = MetaData()
effects = Table("test_event_effects", effects_metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("event_id", Integer, nullable=False),
                Column("handler", String(120), nullable=False),
                Column("aggregate_id", String(60), nullable=False),
                Column("sequence", Integer, nullable=False))


async def create_effects_table(db: Database) -> None:
    """Create the effects table (once per database)."""
    async with db.write_engine.begin() as conn:
        await conn.run_sync(effects_metadata.create_all)


async def write_effect(session: AsyncSession, event: outbox.Event, handler: str) -> None:
    """The effect of a test handler: one row naming the event, in the handler's transaction."""
    await session.exec(insert(effects).values(event_id=event.id, handler=handler,  # type: ignore[call-overload]
                                              aggregate_id=event.aggregate_id, sequence=event.sequence))


def effect_writer(name: str):
    """A handler that writes its effect row, named `name`."""

    async def handle(session: AsyncSession, event: outbox.Event) -> None:
        await write_effect(session, event, name)

    handle.__qualname__ = name
    return handle


def hanging_handler(name: str, started: Path | None = None):
    """A handler that writes its effect, then (touching `started`) waits forever: killed mid-effect."""

    async def handle(session: AsyncSession, event: outbox.Event) -> None:
        await write_effect(session, event, name)
        await session.flush()
        if started is not None:
            started.write_text(str(event.id))
        await asyncio.Event().wait()

    return handle


async def record_many(db: Database, aggregate_ids: Iterable[str], *, topic: str = TOPIC,
                      per_transaction: int = 1) -> list[int]:
    """Record one event per aggregate id given (in that order), `per_transaction` to a committed transaction;
    returns their ids."""
    ids: list[int] = []
    batch = list(aggregate_ids)
    for start in range(0, len(batch), per_transaction):
        async with db.write() as session:
            for aggregate_id in batch[start:start + per_transaction]:
                row = await outbox.record_event(session, topic, AGGREGATE, aggregate_id, {"n": len(ids)})
                ids.append(row.id or 0)
    return ids


async def effect_rows(db: Database) -> list[tuple[int, str, str, int]]:
    """Every effect written, in the order written: (event id, handler, aggregate id, sequence)."""
    async with db.read() as session:
        rows = await session.exec(select(effects.c.event_id, effects.c.handler, effects.c.aggregate_id,  # type: ignore[call-overload]
                                         effects.c.sequence).order_by(effects.c.id))
        return [tuple(r) for r in rows.all()]
