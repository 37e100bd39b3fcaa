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

__all__ = ["Handler", "JobCancelled", "JobContext", "get_handler", "load_handlers", "register", "unregister"]

# The module whose import registers each kind's handler: imported at the first lookup of that kind, never at
# package import, and only that one, so a server's first payroll job does not wait for the agent loop's model SDKs
# or the timetable solver to load (that took seconds, during which the event loop answered nothing).
HANDLER_MODULES: dict[str, str] = {
    JobKind.EXPORT_TERM_GRADES: "workers.exports",
    JobKind.GENERATE_REPORT_CARDS: "workers.report_cards",
    JobKind.SOLVE_TIMETABLE: "workers.timetable",
    JobKind.CALCULATE_PAYROLL_RUN: "workers.payroll",
    JobKind.GENERATE_PAYROLL_DOCUMENTS: "workers.payroll",
    JobKind.GENERATE_INVOICES: "workers.fees",
    JobKind.AGENT_RUN: "workers.agent_loop",
}


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
    """Return the handler of `kind` (importing its module the first time), or None for an unknown kind."""
    if kind not in _HANDLERS and kind in HANDLER_MODULES:
        importlib.import_module(HANDLER_MODULES[kind])
    return _HANDLERS.get(kind)


PRELOADED_LIBRARIES = ("anthropic", "openai", "ortools.sat.python.cp_model", "fpdf")
"""The heavy libraries handlers import where they use them (a server starts without them): a worker process
imports them before its first job, as an import inside a job blocks the event loop (seconds on a loaded machine)
and with it the job's heartbeats, so the run's followers could take the worker for lost."""


def load_handlers() -> None:
    """Import every handler module and the heavy libraries they use now (a worker process, before it takes its
    first job)."""
    for name in (*dict.fromkeys(HANDLER_MODULES.values()), *PRELOADED_LIBRARIES):
        importlib.import_module(name)
