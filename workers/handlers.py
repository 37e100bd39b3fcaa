"""Job handlers by kind, and the context a handler runs with.

A handler is `async def handler(ctx: JobContext, job_id: int, params: dict) -> dict` returning the job's
JSON-ready result. It takes ids, not objects, and must be safe to run again from its params (a worker that
dies mid-job leaves it running; the next run starts over). It reports progress with `await ctx.progress(...)`,
which also raises JobCancelled when cancellation was requested, so long loops should report regularly.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from domain.jobs import service as jobs
from domain.jobs.errors import JobCancelled
from domain.jobs.schemas import JobKind
from tools.runtime import Runtime

__all__ = ["Handler", "JobCancelled", "JobContext", "get_handler", "register", "unregister"]

# Modules whose import registers the product's handlers; loaded on first lookup, never at package import.
BUILTIN_HANDLER_MODULES = ("workers.exports", "workers.timetable", "workers.report_cards", "workers.agent_loop",
                           "workers.payroll", "workers.fees")


@dataclass
class JobContext:
    """What a handler receives: the process's runtime, the job's id and which attempt this is."""

    runtime: Runtime
    job_id: int
    attempt: int

    async def progress(self, fraction: float, message: str | None = None) -> None:
        """Record progress (0..1) in its own short transaction; raises JobCancelled when asked to stop."""
        async with self.runtime.db.write() as session:
            await jobs.report_progress(session, job_id=self.job_id, fraction=fraction, message=message)


Handler = Callable[[JobContext, int, dict[str, Any]], Awaitable[dict[str, Any]]]
_HANDLERS: dict[str, Handler] = {}
_loaded = False


def register(kind: JobKind | str) -> Callable[[Handler], Handler]:
    """Register `handler` for job `kind` (one handler per kind): the product's kinds are domain.jobs.schemas.JobKind;
    a plain string registers a kind of its own (tests use temporary ones)."""

    def decorate(fn: Handler) -> Handler:
        if kind in _HANDLERS and _HANDLERS[kind] is not fn:
            raise ValueError(f"job kind {kind!r} already has a handler")
        _HANDLERS[kind] = fn
        return fn

    return decorate


def unregister(kind: str) -> None:
    """Remove the handler of `kind` (tests register temporary kinds)."""
    _HANDLERS.pop(kind, None)


def get_handler(kind: JobKind | str) -> Handler | None:
    """Return the handler of `kind`, or None."""
    global _loaded
    if not _loaded:
        for name in BUILTIN_HANDLER_MODULES:
            importlib.import_module(name)
        _loaded = True
    return _HANDLERS.get(kind)
