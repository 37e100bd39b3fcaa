"""The one call path: validate, authorize, then run in the unit of work the tool's effect asks for, and answer
with what the caller's roles may see (domain.kernel.schemas.redact: the data-access policy)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.jobs import service as jobs
from domain.jobs.schemas import JobOut
from domain.kernel.actor import Actor
from domain.kernel.audit import append_audit
from domain.kernel.errors import DomainError, InvalidInput, NotFound, PermissionDenied, concurrent_write
from domain.kernel.schemas import redact
from domain.kernel.settings import settings_in_use
from domain.kernel.tenants import current_tenant, tenant_in_use
from tools.output_codes import fill_codes
from tools.references import names_shown, resolve_references
from tools.registry import Effect, ProgressReporter, ToolContext, ToolSpec
from tools.runtime import Runtime

MAX_SHOWN_INPUT = 60
UNKNOWN_TOOL = "unknown"  # the tool an observer is told of for a name not in the catalogue (bounded labels)

log = logging.getLogger(__name__)

CallObserver = Callable[[str, str, float], None]
"""`observer(tool, outcome, seconds)`, told of every finished invoke() of this process: `outcome` is "ok",
"pending" (a destructive call recorded at the gate), the DomainError's code (invalid_input, not_found,
permission_denied, conflict, stale_action, ...), "cancelled", or "internal" (any other exception). Called on the
event loop after the call: it must be cheap and must not block (server/observability.py counts calls)."""

_call_observers: list[CallObserver] = []


def add_call_observer(observer: CallObserver) -> Callable[[], None]:
    """Tell `observer` of every invoke() call from now on; return a function that stops telling it."""
    _call_observers.append(observer)

    def remove() -> None:
        if observer in _call_observers:
            _call_observers.remove(observer)

    return remove


def _notify(tool: str, outcome: str, seconds: float) -> None:
    for observer in tuple(_call_observers):
        try:
            observer(tool, outcome, seconds)
        except Exception:  # an observer's bug must not fail the call it observes
            log.exception("call observer %r failed", observer)


def describe_validation_error(tool: str, exc: ValidationError) -> InvalidInput:
    """Turn pydantic's errors into one message naming each field, the rule broken and the value given."""
    parts = []
    first_field = None
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<arguments>"
        first_field = first_field or loc
        shown = repr(err.get("input"))
        if len(shown) > MAX_SHOWN_INPUT:
            shown = shown[:MAX_SHOWN_INPUT] + f"... ({len(str(err.get('input')))} characters)"
        if err["type"] == "missing":
            parts.append(f"{loc}: this field is required")
        elif err["type"] == "extra_forbidden":
            parts.append(f"{loc}: unknown argument (not part of {tool}'s input schema)")
        else:
            parts.append(f"{loc}: {err['msg']} (got {shown})")
    return InvalidInput(f"invalid arguments for {tool}: " + "; ".join(parts), field=first_field,
                        details={"errors": [{"field": ".".join(str(p) for p in e["loc"]), "rule": e["type"],
                                             "message": e["msg"]} for e in exc.errors()]})


def parse_arguments(spec: ToolSpec, arguments: dict[str, Any] | None) -> BaseModel:
    """Validate raw arguments against the tool's input model; raises InvalidInput naming the fields."""
    if arguments is not None and not isinstance(arguments, dict):
        raise InvalidInput(f"arguments for {spec.name} must be a JSON object, got {type(arguments).__name__}")
    try:
        return spec.input_model.model_validate(arguments or {})
    except ValidationError as exc:
        raise describe_validation_error(spec.name, exc) from None


def authorize(spec: ToolSpec, actor: Actor) -> None:
    """Raise PermissionDenied unless the actor holds one of the tool's roles."""
    if not actor.has_any(spec.roles):
        allowed = ", ".join(sorted(r.value for r in spec.roles))
        yours = ", ".join(sorted(r.value for r in actor.roles)) or "none"
        raise PermissionDenied(f"{spec.name} needs one of the roles: {allowed}; you ({actor.username}) have: {yours}")


def audit_json(model: BaseModel) -> dict[str, Any]:
    return json.loads(model.model_dump_json())


Recorder = Callable[[AsyncSession, BaseModel], Awaitable[None]]
"""`await record(session, out)`: runs inside a write or destructive tool's own transaction, after the tool, so
what the caller writes about the call (the agent loop's tool-call row) commits or rolls back with it."""


async def invoke(runtime: Runtime, name: str, arguments: dict[str, Any] | None, actor: Actor, *,
                 progress: ProgressReporter | None = None, record: Recorder | None = None,
                 listing: Any = None) -> BaseModel:
    """Call tool `name` with `arguments` as `actor` and return its typed output.

    `listing` (tools.toolsets.Listing), when the channel keeps one, is what the discovery tools (list_toolsets,
    enable_toolsets) read and widen; it never limits which tools may be called.

    References given as codes or names (`"employee_id": "E0042"`) are resolved to ids before the tool runs
    (tools.references); one that names nothing or several records raises NotFound or InvalidInput.

    `progress`, when the channel gives one, receives the progress of a tool that waits on a job (wait_s).
    Read tools run in a read-only unit of work; write tools in one transaction with their audit row (one per
    call: a job-starting tool's names the job; a tool `audited_by_domain` gets none from here); destructive
    tools record a pending action and return it (nothing else is written). After the commit run the
    transaction's after-commit hooks (domain.kernel.db.after_commit: a job's enqueue, a gate decision's refusal),
    then a job-starting tool called with `wait_s` > 0 waits for its job. Raises the DomainError subclasses of
    domain.kernel.errors; nothing is written when one is raised before the commit, while a refusal raised by an
    after-commit hook (StaleAction, ActionClosed, ...) comes with its record committed. `record` (see Recorder)
    joins the transaction of a write tool or of a destructive tool's pending action; read tools and job-starting
    tools (whose result is known only after the wait) do not call it.

    The output, and what `record` receives, is what the actor's roles may see: every field above their
    clearance is null (domain.kernel.schemas.redact, README "Data-access policy"); the audit row keeps it whole.
    """
    # current_settings() is this runtime's for the whole call; its units of work run in the actor's tenant
    with settings_in_use(runtime.settings), tenant_in_use(actor.tenant or current_tenant()):
        return await _observed(runtime, name, arguments, actor, progress=progress, record=record, listing=listing)


async def _observed(runtime: Runtime, name: str, arguments: dict[str, Any] | None, actor: Actor, *,
                    progress: ProgressReporter | None, record: Recorder | None, listing: Any) -> BaseModel:
    if not _call_observers:
        return await _invoke(runtime, name, arguments, actor, progress=progress, record=record, listing=listing)
    spec = runtime.catalogue.get(name)
    started = time.perf_counter()
    outcome = "internal"
    try:
        out = await _invoke(runtime, name, arguments, actor, progress=progress, record=record, listing=listing)
        outcome = "pending" if spec is not None and spec.effect is Effect.DESTRUCTIVE else "ok"
        return out
    except DomainError as exc:
        outcome = exc.code
        raise
    except IntegrityError:  # the edges translate it into a conflict (domain.kernel.errors.concurrent_write)
        outcome = concurrent_write().code
        raise
    except asyncio.CancelledError:
        outcome = "cancelled"
        raise
    finally:
        _notify(name if spec is not None else UNKNOWN_TOOL, outcome, time.perf_counter() - started)


async def _invoke(runtime: Runtime, name: str, arguments: dict[str, Any] | None, actor: Actor, *,
                  progress: ProgressReporter | None, record: Recorder | None, listing: Any = None) -> BaseModel:
    spec = runtime.catalogue.get(name)
    if spec is None:
        raise NotFound(f"unknown tool {name!r}; tools/list (or `mcs-erp tools`) shows the catalogue")
    args = parse_arguments(spec, arguments)
    authorize(spec, actor)
    args = await resolve_references(runtime.db.read, args, names_for=names_shown(runtime.catalogue, actor))
    if spec.effect is Effect.READ:
        async with runtime.db.read() as session:
            out = await spec.run(ToolContext(session, actor, runtime, listing=listing), args)
            return redact(await fill_codes(session, out), actor.roles)
    if spec.effect is Effect.DESTRUCTIVE:
        from tools.gate import propose

        return redact(await propose(runtime, spec, args, actor, record=record), actor.roles)
    async with runtime.db.write() as session:
        out = await fill_codes(session, await spec.run(ToolContext(session, actor, runtime, progress), args))
        if not spec.audited_by_domain:
            job_id = out.job_id if spec.starts_job and isinstance(out, JobOut) else None
            await append_audit(session, actor, tool=spec.name, event="write", arguments=audit_json(args),
                               entity=None if job_id is None else "jobs", entity_id=job_id, after=audit_json(out))
        out = redact(out, actor.roles)
        if record is not None and not spec.starts_job:
            await record(session, out)
    wait_s = getattr(args, "wait_s", 0) if spec.starts_job else 0
    if isinstance(out, JobOut) and wait_s > 0 and not out.is_final:
        return redact(await jobs.wait_for_job(runtime.db, out.job_id, wait_s=wait_s, progress=progress), actor.roles)
    return out
