"""Platform tools: who am I, a trivial ping used to measure the server's own overhead, the audit log, and the
domain events handlers gave up on (dead letters)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from domain.identity.schemas import MeOut, PingOut, ToolsetAccess
from domain.kernel.actor import Role
from domain.kernel import outbox
from domain.kernel.audit import AuditKeyError, load_public_key, read_audit_log
from domain.kernel.clock import utcnow
from domain.kernel.schemas import AuditEventsOut, audit_chain_out, audit_event_out
from tools.references import AuditEventRef, DomainEventRef, EntityRef
from tools.registry import Effect, Module, ToolContext
from tools.toolsets import Listing
from tools.types import PageInput, ToolInput, encode_cursor, page_of

module = Module("platform", core=True, description="Identity and health of the server.")


class NoInput(ToolInput):
    pass


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def get_me(ctx: ToolContext, args: NoInput) -> MeOut:
    """Say who the caller is and, per toolset, how many tools they may call and whether it is listed now. Call this
    first when unsure what you may do."""
    actor = ctx.actor
    allowed = ctx.runtime.catalogue.for_actor(actor)
    listed = (ctx.listing or Listing()).listed(actor)
    toolsets: dict[str, ToolsetAccess] = {}
    for spec in allowed:
        access = toolsets.setdefault(spec.toolset, ToolsetAccess(toolset=spec.toolset, listed=spec.toolset in listed,
                                                                 reads=0, writes=0, gated=[]))
        if spec.effect is Effect.READ:
            access.reads += 1
        elif spec.effect is Effect.WRITE:
            access.writes += 1
        else:
            access.gated.append(spec.name)
    approver = ctx.runtime.catalogue.get("approve_action")
    return MeOut(user_id=actor.id, username=actor.username, display_name=actor.display_name or actor.username,
                 roles=sorted(r.value for r in actor.roles), channel=str(actor.channel),
                 employee_id=actor.employee_id, tools_total=len(allowed),
                 approves_actions=approver is not None and actor.has_any(approver.roles),
                 toolsets=list(toolsets.values()))


@module.tool(effect=Effect.READ, roles=frozenset(Role))
async def ping(ctx: ToolContext, args: NoInput) -> PingOut:
    """Check that the server answers, with its UTC time; touches no school data."""
    return PingOut(ok=True, server_time=utcnow())


Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
ToolName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
EntityType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


class ListAuditEventsIn(PageInput):
    actor: Username | None = Field(default=None, description="A username or a user id.")
    tool: ToolName | None = Field(default=None, description="e.g. void_invoice.")
    entity: EntityType | None = Field(default=None, description="The entity type touched, e.g. invoices, "
                                                                  "journal_entries, pending_actions.")
    entity_id: EntityRef | None = Field(default=None, description="With entity: that one entity's events.")
    since: datetime | None = Field(default=None, description="Inclusive; UTC when no offset is given.")
    until: datetime | None = Field(default=None, description="Exclusive.")
    event_id: AuditEventRef | None = Field(default=None, description="One event, in full.")
    verify: bool = Field(default=True, description="Check the Merkle tree and the newest checkpoint "
                                                    "(one pass over the log).")


@module.tool(effect=Effect.READ, roles={Role.ADMIN})
async def list_audit_events(ctx: ToolContext, args: ListAuditEventsIn) -> AuditEventsOut:
    """Read the audit log, newest first: who did what, when, through which channel, to which entity (event_id: one
    event in full); and whether the log is intact against its newest signed checkpoint, or which event was edited,
    removed or moved."""
    key = None
    if ctx.runtime.settings.audit_key_file is not None:
        try:
            key = load_public_key(ctx.runtime.settings.audit_key_file)
        except AuditKeyError:
            key = None  # shown as an unchecked signature
    log = await read_audit_log(ctx.session, verify=args.verify, before_id=args.after_id(), limit=args.limit + 1,
                               actor=args.actor, tool=args.tool, entity=args.entity, entity_id=args.entity_id,
                               since=args.since, until=args.until, event_id=args.event_id, public_key=key)
    page, cursor = page_of(log.entries, args.limit)
    signed = None if key is None or log.checkpoint is None else log.checkpoint.signature_ok(key)
    return AuditEventsOut(chain=audit_chain_out(log.verification, log.checkpoint, signed),
                          items=[audit_event_out(e, full=args.event_id is not None) for e in page],
                          next_cursor=cursor)


@module.tool(effect=Effect.READ, roles={Role.ADMIN})
async def list_dead_letters(ctx: ToolContext, args: PageInput) -> outbox.DeadLettersOut:
    """Domain events a handler gave up on after its attempts, newest first, with the last error."""
    rows, before = await outbox.dead_letter_page(ctx.session, before_event_id=args.after_id(), limit=args.limit)
    return outbox.DeadLettersOut(items=[outbox.DeadLetterOut.model_validate(r) for r in rows],
                                 next_cursor=None if before is None else encode_cursor(before))


class RetryDeadLetterIn(ToolInput):
    event_id: DomainEventRef
    handler: ToolName | None = Field(default=None, description="Default: all its dead handlers.")


@module.tool(effect=Effect.WRITE, roles={Role.ADMIN})
async def retry_dead_letter(ctx: ToolContext, args: RetryDeadLetterIn) -> outbox.RetriedOut:
    """Deliver a dead letter again, attempts reset."""
    handlers = await outbox.retry_dead_letter(ctx.session, event_id=args.event_id, handler=args.handler)
    return outbox.RetriedOut(event_id=args.event_id, handlers=handlers)
