"""The base of every output schema: the read models each context's tools return (domain/<context>/schemas.py).

Models are built from plain values or straight from rows (`from_attributes`); their class names and
docstrings are published as the titles and descriptions of the tools' output schemas: renaming one changes
the catalogue. The kernel's own read model, the audit log's, is here too.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.kernel.audit import AuditEntry, AuditVerification


class OutputModel(BaseModel):
    """Base of every tool's output."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- the audit log, as list_audit_events reads it

AUDIT_DETAIL_CHARS = 400
"""A listed audit event carries its arguments, before and after only when their JSON is this short in all;
otherwise `details_cut` is true and the event alone (list_audit_events event_id=N) has them in full."""


class AuditChainOut(OutputModel):
    """Whether the hash chain of the whole audit log is intact: no row edited, deleted or reordered."""

    verified: bool | None = Field(description="true: intact; false: see problem; null: not checked (verify=false).")
    rows_checked: int = Field(description="Rows walked before the first problem (all of them when intact).")
    problem: str | None = None
    bad_event_id: int | None = Field(default=None, description="The first event found edited or out of chain.")


class AuditEventOut(OutputModel):
    """One audited step: when, who (and through which channel), which tool, what it touched."""

    event_id: int
    at: datetime = Field(description="UTC.")
    actor: str = Field(description="The username of who acted.")
    actor_id: int
    channel: str
    tool: str
    event: str = Field(description="write, proposed, queued, executed, ... or a domain event name.")
    entity: str | None = Field(default=None, description="The entity type touched, e.g. invoices.")
    entity_id: int | None = None
    action_id: int | None = Field(default=None, description="The pending action it belongs to (get_action).")
    arguments: Any = None
    before: Any = None
    after: Any = None
    details_cut: bool = Field(default=False, description="arguments, before and after were left out for length: "
                                                         "list_audit_events(event_id=...) has them.")


class AuditEventsOut(OutputModel):
    """The chain's verification first, then a page of audit events, newest first."""

    chain: AuditChainOut
    items: list[AuditEventOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` to get the next (older) page.")


def audit_chain_out(verification: AuditVerification | None) -> AuditChainOut:
    """The verification of the chain; all nulls (verified null) when it was not walked."""
    if verification is None:
        return AuditChainOut(verified=None, rows_checked=0)
    return AuditChainOut(verified=verification.ok, rows_checked=verification.rows, problem=verification.problem,
                         bad_event_id=verification.bad_id)


def audit_event_out(entry: AuditEntry, *, full: bool = False) -> AuditEventOut:
    """An audit entry; its arguments, before and after only when `full` or short (AUDIT_DETAIL_CHARS in all)."""
    texts = (entry.arguments, entry.before, entry.after)
    cut = not full and sum(len(t or "") for t in texts) > AUDIT_DETAIL_CHARS
    arguments, before, after = (None, None, None) if cut else (
        None if t is None else json.loads(t) for t in texts)
    return AuditEventOut(event_id=entry.id or 0, at=entry.at, actor=entry.actor_username, actor_id=entry.actor_id,
                         channel=entry.channel, tool=entry.tool, event=entry.event, entity=entry.entity,
                         entity_id=entry.entity_id, action_id=entry.action_id, arguments=arguments, before=before,
                         after=after, details_cut=cut)
