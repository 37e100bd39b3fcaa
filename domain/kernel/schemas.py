"""The base of every output schema: the read models each context's tools return (domain/<context>/schemas.py).

Models are built from plain values or straight from rows (`from_attributes`); their class names and
docstrings are published as the titles and descriptions of the tools' output schemas: renaming one changes
the catalogue. The kernel's own read model, the audit log's, is here too.

The data-access policy lives here as well: every output field has a class (`DataClass`: internal unless marked
`Contact[...]`, `Personal[...]` or `Sensitive[...]`), `CLEARANCE` says which roles see each class, and
`redact(out, roles)` nulls every field above the caller's clearance. tools.invoke applies it to every tool's
output, so MCP, the agent API and the CLI answer alike (README "Data-access policy").
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from domain.kernel.actor import Role
from domain.kernel.audit import AuditEntry, AuditVerification, Checkpoint


class OutputModel(BaseModel):
    """Base of every tool's output."""

    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------- the data-access policy


class DataClass(StrEnum):
    """How far an output field may travel: each class is seen only by the roles CLEARANCE gives it."""

    INTERNAL = "internal"
    """The school's working records (codes, names, classes, grades, invoices, ledger, totals): every role
    that may call the tool. The class of every unmarked field."""
    CONTACT = "contact"
    """How to reach a family about its bill: the billing contact's name and email."""
    PERSONAL = "personal"
    """Personal data of students and guardians: dates of birth, addresses, phones, guardians' names, emails."""
    SENSITIVE = "sensitive"
    """Pay: salaries, payslips' amounts and lines, changes in one employee's net pay."""


_ALL_ROLES = frozenset(Role)
CLEARANCE: dict[DataClass, frozenset[Role]] = {
    DataClass.INTERNAL: _ALL_ROLES,
    # A guardian reaches only the family tools, which answer with their own family's records: its billing contact
    # and its children's and its own personal data are theirs to see (domain/family).
    DataClass.CONTACT: frozenset({Role.ADMIN, Role.REGISTRAR, Role.FINANCE, Role.GUARDIAN}),
    DataClass.PERSONAL: frozenset({Role.ADMIN, Role.REGISTRAR, Role.GUARDIAN}),
    DataClass.SENSITIVE: frozenset({Role.ADMIN, Role.HR, Role.PAYROLL}),
}
"""Which roles see each class (README "Data-access policy"). A caller with several roles sees the union."""


@dataclass(frozen=True)
class Classified:
    """The marker `Contact[...]`, `Personal[...]` and `Sensitive[...]` put on a field (Annotated metadata)."""

    data_class: DataClass


T = TypeVar("T")
Contact = Annotated[T, Classified(DataClass.CONTACT)]
Personal = Annotated[T, Classified(DataClass.PERSONAL)]
Sensitive = Annotated[T, Classified(DataClass.SENSITIVE)]
"""`phone: Personal[str | None] = None`: the field's type must allow null, what a caller without the clearance
gets (a test checks every marked field)."""


def field_class(model: type[BaseModel], name: str) -> DataClass:
    """The class of `model`'s field `name`: its marker's, or INTERNAL when unmarked."""
    for item in model.model_fields[name].metadata:
        if isinstance(item, Classified):
            return item.data_class
    return DataClass.INTERNAL


def cleared(roles: Iterable[Role]) -> frozenset[DataClass]:
    """The classes a caller with `roles` may see."""
    held = frozenset(roles)
    return frozenset(c for c, allowed in CLEARANCE.items() if allowed & held)


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds (`list[X] | None` -> [X]), however deep in lists, dicts and unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in nested_models(arg)]


_Plan = tuple[tuple[str, DataClass, bool], ...]
_plans: dict[type[BaseModel], _Plan] = {}


def _plan(model: type[BaseModel], visiting: frozenset[type[BaseModel]] = frozenset()) -> _Plan:
    """The fields of `model` redaction must look at: (name, class, holds a model to look into), cached."""
    if model in _plans:
        return _plans[model]
    steps = []
    for name in model.model_fields:
        data_class = field_class(model, name)
        inner = [m for m in nested_models(model.model_fields[name].annotation) if m not in visiting | {model}]
        deep = any(_plan(m, visiting | {model}) for m in inner)
        if data_class is not DataClass.INTERNAL or deep:
            steps.append((name, data_class, deep))
    plan = tuple(steps)
    if not visiting:
        _plans[model] = plan
    return plan


def _redact(value: Any, classes: frozenset[DataClass]) -> Any:
    if isinstance(value, BaseModel):
        update = {}
        for name, data_class, deep in _plan(type(value)):
            current = getattr(value, name)
            if current is None:
                continue
            if data_class not in classes:
                update[name] = None
            elif deep:
                shown = _redact(current, classes)
                if shown is not current:
                    update[name] = shown
        return value.model_copy(update=update) if update else value
    if isinstance(value, list | tuple):
        items = [_redact(v, classes) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else type(value)(items)
    if isinstance(value, dict):
        shown = {k: _redact(v, classes) for k, v in value.items()}
        return value if all(shown[k] is v for k, v in value.items()) else shown
    return value


def redact(out: BaseModel, roles: Iterable[Role]) -> BaseModel:
    """`out` as a caller with `roles` may see it: every field whose class is above their clearance (CLEARANCE)
    is null, however deep; `out` itself when nothing is withheld. The one place the policy is enforced
    (tools.invoke calls it on every tool's output)."""
    return _redact(out, cleared(roles))


# ---------------------------------------------------------------- the audit log, as list_audit_events reads it

AUDIT_DETAIL_CHARS = 400
"""A listed audit event carries its arguments, before and after only when their JSON is this short in all;
otherwise `details_cut` is true and the event alone (list_audit_events event_id=N) has them in full."""


class AuditCheckpointOut(OutputModel):
    """A signed checkpoint of the audit tree."""

    tree_size: int = Field(description="Entries the checkpoint covers.")
    root: str = Field(description="Root hash (hex).")
    time: datetime = Field(description="Signed at, UTC.")


class AuditChainOut(OutputModel):
    """Whether the audit log is intact: its entries match its Merkle tree and the newest signed checkpoint."""

    verified: bool | None = Field(description="true: intact; false: see problem; null: not checked (verify=false).")
    rows_checked: int = Field(description="Entries checked before the first problem (all of them when intact).")
    problem: str | None = None
    bad_event_id: int | None = Field(default=None, description="The first event found edited or out of place.")
    pending: int = Field(default=0, description="Events not yet in the tree (for seconds).")
    checkpoint: AuditCheckpointOut | None = Field(default=None, description="Newest checkpoint (null: none yet).")
    checkpoint_signature: bool | None = Field(default=None, description="Its signature verifies (null: no key "
                                                                        "here).")


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


def audit_chain_out(verification: AuditVerification | None, checkpoint: Checkpoint | None = None,
                    signature_ok: bool | None = None) -> AuditChainOut:
    """The verification of the log and its newest checkpoint; verified null when it was not checked."""
    point = None if checkpoint is None else AuditCheckpointOut(tree_size=checkpoint.tree_size, root=checkpoint.root,
                                                               time=checkpoint.time)
    if verification is None:
        return AuditChainOut(verified=None, rows_checked=0, checkpoint=point, checkpoint_signature=signature_ok)
    return AuditChainOut(verified=verification.ok, rows_checked=verification.rows, problem=verification.problem,
                         bad_event_id=verification.bad_id, pending=verification.pending, checkpoint=point,
                         checkpoint_signature=signature_ok)


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
