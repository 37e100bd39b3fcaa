"""Plans of gated commands: the exact changes a command would make, hashed, compared and applied as they are.

DESIGN.md, "The confirmation gate: plan, then apply". A gated command is a pair: `plan_<command>(session, actor,
args) -> Plan` in its context's `plans.py`, which reads what it needs and returns every change it would make, and
`apply_plan(session, plan, ...)` here, which writes exactly those changes and nothing else. The gate stores the
plan's canonical form and its hash with the pending action; when the action is released it plans again from the
current state, in the same write transaction, and applies only if the new plan's hash equals the approved one.
What was approved is what gets written, whatever the plan read, with no hand-made list of touched rows.

A plan holds:
- `changes`, in the order they are applied:
  - `Insert(table, values, ref)`: a new row; `ref` names it so that later changes can use its id (`NewId(ref)`).
  - `Update(table, id, version, before, after)`: new values for some columns of one row, which must still be at
    `version` (optimistic concurrency: any other write to the row since the plan makes the action stale).
  - `Delete(table, id, version, before)`: a soft delete (`deleted_at`), or a hard one for tables without it
    (rows that were never history, like a cancelled run's draft payslips).
  - `Effect(kind, payload, ref)`: a change another context applies by its own rules, e.g. `finance.posting`
    (a balanced journal entry with its exact lines) applied by `domain.finance.service`. Kinds register with
    `register_effect`; the kernel imports no context.
- `basis`: the rows the plan read without changing them, with their versions (`Read(table, id, version)`): a
  grading scale, a class's category weights. A changed input makes the action stale even when the changes it
  would make are the same.
- `inputs`: the facts the plan rests on, named for a person ("grading scale": "HONOURS (the default grading
  scale)"): hashed, and named in what differs when they change.
- `summary` and `preview`: for a person, derived from the changes; not hashed (names may change, writes not).
- `level`: None, or the gate level ("confirm" or "approve") the command's arguments call for, e.g. a manual
  journal entry above an amount set in settings needs an admin's approval. The gate holds the action at the
  higher of the tool's declared level and this one. Hashed when set (a plan whose level changes is stale).

Values in a plan are plain JSON values or dates, datetimes, Decimals and enums (canonicalised as ISO strings,
strings and their values), or placeholders resolved when the plan is applied: `NOW` (the time of applying),
`ACTION_ID` (the pending action's id), `DECIDED_BY` (the user id of whoever released it), `NewId(ref)`.

Errors: `apply_plan` raises StaleAction when a row to update is no longer at its planned version (a concurrent
write), InvalidInput for an unknown table, column or effect kind (a programming error in a plan function).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Table, delete, insert, select, update
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel.actor import Actor
from domain.kernel.audit import canonical_json
from domain.kernel.clock import utcnow
from domain.kernel.errors import InvalidInput, StaleAction

MAX_SHOWN_DIFFERENCES = 8


class Placeholder(Enum):
    """A value known only when the plan is applied."""

    NOW = "now"
    ACTION_ID = "action_id"
    DECIDED_BY = "decided_by"


NOW = Placeholder.NOW
ACTION_ID = Placeholder.ACTION_ID
DECIDED_BY = Placeholder.DECIDED_BY


@dataclasses.dataclass(frozen=True)
class NewId:
    """The id of a row (or effect result) that an earlier change of the same plan creates, named by its ref."""

    ref: str


@dataclasses.dataclass(frozen=True)
class Insert:
    """Insert one row of `table` with `values`; `ref` names its id for later changes."""

    table: str
    values: Mapping[str, Any]
    ref: str | None = None


@dataclasses.dataclass(frozen=True)
class Update:
    """Set `after` on row `id` of `table`, which must still be at `version` (None: the table has no version);
    `before` holds those columns' values when planned (for previews and for saying what differs)."""

    table: str
    id: int
    version: int | None
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Delete:
    """Remove row `id` of `table`, which must still be at `version` (None: the table has no version): soft (set
    `deleted_at`) when the table has that column, otherwise hard. Hard deletion is for rows that were never
    history, such as a cancelled run's draft payslips; `before` holds the row as planned (previews, differences)."""

    table: str
    id: int
    version: int | None
    before: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Effect:
    """A change applied by the context that owns it (`kind` is "<context>.<name>"), with its exact payload."""

    kind: str
    payload: Mapping[str, Any]
    ref: str | None = None


Change = Insert | Update | Delete | Effect


@dataclasses.dataclass(frozen=True)
class Read:
    """A row the plan read without changing it, at the version it saw; `label` names it for a person."""

    table: str
    id: int
    version: int
    label: str = ""


@dataclasses.dataclass
class Plan:
    """What a gated command would do: its changes and the basis it read (hashed), a summary and a preview."""

    command: str
    summary: str
    preview: dict[str, Any]
    changes: list[Change] = dataclasses.field(default_factory=list)
    basis: list[Read] = dataclasses.field(default_factory=list)
    inputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    level: str | None = None

    def canonical(self) -> dict[str, Any]:
        """The hashed form: the command, every change, the basis and the inputs, as JSON values (and the level,
        when the plan sets one)."""
        canonical = {"command": self.command,
                     "changes": [_canonical_change(c) for c in self.changes],
                     "inputs": canonical_value(self.inputs),
                     "basis": sorted(({"table": r.table, "id": r.id, "version": r.version, "label": r.label}
                                      for r in self.basis), key=lambda r: (r["table"], r["id"]))}
        if self.level is not None:
            canonical["level"] = self.level
        return canonical

    def digest(self) -> str:
        """The SHA-256 of the canonical form (hex)."""
        return plan_digest(self.canonical())


def plan_digest(canonical: Mapping[str, Any]) -> str:
    """The SHA-256 (hex) of a plan's canonical form."""
    return hashlib.sha256(canonical_json(canonical).encode()).hexdigest()


def canonical_value(value: Any) -> Any:
    """A plan value as JSON: dates and datetimes as ISO strings, Decimals as strings, enums by value,
    placeholders as {"$": name}, new ids as {"$new": ref}; mappings and sequences recursively."""
    if isinstance(value, Placeholder):
        return {"$": value.value}
    if isinstance(value, NewId):
        return {"$new": value.ref}
    if isinstance(value, Enum):
        return canonical_value(value.value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_value(v) for v in value]
    return value


def _canonical_change(change: Change) -> dict[str, Any]:
    if isinstance(change, Insert):
        return {"op": "insert", "table": change.table, "ref": change.ref, "values": canonical_value(change.values)}
    if isinstance(change, Update):
        return {"op": "update", "table": change.table, "id": change.id, "version": change.version,
                "before": canonical_value(change.before), "after": canonical_value(change.after)}
    if isinstance(change, Delete):
        return {"op": "delete", "table": change.table, "id": change.id, "version": change.version,
                "before": canonical_value(change.before)}
    return {"op": "effect", "kind": change.kind, "ref": change.ref, "payload": canonical_value(change.payload)}


# ---------------------------------------------------------------- saying what differs


def _shown(value: Any, limit: int = 120) -> str:
    text = "none" if value is None else (", ".join(map(str, value)) if isinstance(value, list) else str(value))
    return text if len(text) <= limit else text[:limit] + "..."


def _target(change: Mapping[str, Any]) -> str:
    return change["kind"] if change["op"] == "effect" else change["table"]


def differences(approved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Say, for a person, how the plan now differs from the approved one (both canonical forms): the basis rows
    that changed, and per table the rows added, gone or with other values, naming the columns.

    An empty list means the plans are equal."""
    out: list[str] = []
    old_basis = {(r["table"], r["id"]): r for r in approved.get("basis", [])}
    new_basis = {(r["table"], r["id"]): r for r in current.get("basis", [])}
    for key in sorted(old_basis.keys() | new_basis.keys()):
        before, after = old_basis.get(key), new_basis.get(key)
        label = (before or after or {}).get("label") or f"{key[0]} {key[1]}"
        if before is None:
            out.append(f"the plan now also depends on {label}")
        elif after is None:
            out.append(f"the plan no longer depends on {label}")
        elif before["version"] != after["version"]:
            out.append(f"{label} changed since the preview (version {before['version']} -> {after['version']})")
    if approved.get("level") != current.get("level"):
        out.append(f"the gate level changed since the preview ({approved.get('level') or 'as declared'} -> "
                   f"{current.get('level') or 'as declared'})")
    old_inputs, new_inputs = approved.get("inputs", {}), current.get("inputs", {})
    for name in sorted(old_inputs.keys() | new_inputs.keys()):
        if canonical_json(old_inputs.get(name)) != canonical_json(new_inputs.get(name)):
            out.append(f"the {name} changed since the preview ({_shown(old_inputs.get(name))} -> "
                       f"{_shown(new_inputs.get(name))})")
    old_changes, new_changes = list(approved.get("changes", [])), list(current.get("changes", []))
    targets = sorted({_target(c) for c in old_changes} | {_target(c) for c in new_changes})
    for target in targets:
        olds = [c for c in old_changes if _target(c) == target]
        news = [c for c in new_changes if _target(c) == target]
        out += _table_differences(target, olds, news)
    if not out and canonical_json(approved) != canonical_json(current):
        out.append("the order of the changes differs")
    return out


def _row_key(change: Mapping[str, Any], index: int) -> Any:
    if change["op"] in ("update", "delete"):
        return ("id", change["id"])
    return ("new", index)


def _table_differences(target: str, olds: list[Mapping[str, Any]], news: list[Mapping[str, Any]]) -> list[str]:
    if canonical_json(olds) == canonical_json(news):
        return []
    old_by = {_row_key(c, i): c for i, c in enumerate(olds)}
    new_by = {_row_key(c, i): c for i, c in enumerate(news)}
    added = [k for k in new_by if k not in old_by]
    gone = [k for k in old_by if k not in new_by]
    changed_columns: dict[str, int] = {}
    changed_rows = 0
    for key in old_by.keys() & new_by.keys():
        a, b = old_by[key], new_by[key]
        if canonical_json(a) == canonical_json(b):
            continue
        changed_rows += 1
        fields = _field_values(a)
        other = _field_values(b)
        for name in sorted(fields.keys() | other.keys()):
            if canonical_json(fields.get(name)) != canonical_json(other.get(name)):
                changed_columns[name] = changed_columns.get(name, 0) + 1
    total = max(len(olds), len(news))
    parts = []
    if changed_rows:
        named = ", ".join(f"{name} for {n} of {total}" for name, n in
                          sorted(changed_columns.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SHOWN_DIFFERENCES])
        parts.append(f"{target}: {named} differ")
    if added:
        parts.append(f"{target}: {len(added)} more row(s) than at the preview")
    if gone:
        parts.append(f"{target}: {len(gone)} row(s) of the preview are no longer part of it")
    return parts


def _field_values(change: Mapping[str, Any]) -> dict[str, Any]:
    if change["op"] == "update":
        values = {f"{k} (before)": v for k, v in change["before"].items()}
        values.update(change["after"])
        values["version"] = change["version"]
        return values
    if change["op"] == "insert":
        return dict(change["values"])
    if change["op"] == "delete":
        return {**{f"{k} (before)": v for k, v in change["before"].items()}, "version": change["version"]}
    return dict(change["payload"])


# ---------------------------------------------------------------- applying


@dataclasses.dataclass(frozen=True)
class ApplyContext:
    """Who applies a plan and for which action: the requester (the actor effects run as), the action's id and
    the user who released it (the requester on confirm, the approving admin on approve)."""

    actor: Actor
    action_id: int | None
    decided_by: int | None
    reason: str | None = None


EffectApplier = Callable[[AsyncSession, ApplyContext, Mapping[str, Any]], Awaitable[int | None]]
"""`await applier(session, context, payload) -> id | None`: apply one effect of its kind (payload with
placeholders already resolved) and return the id of what it created, if anything."""

_effect_appliers: dict[str, EffectApplier] = {}


def register_effect(kind: str, applier: EffectApplier) -> None:
    """Register the applier of effects of `kind` ("<context>.<name>"); a context does this when imported."""
    existing = _effect_appliers.get(kind)
    if existing is not None and existing is not applier:
        raise ValueError(f"effect kind {kind!r} is registered twice")
    _effect_appliers[kind] = applier


@dataclasses.dataclass
class Applied:
    """What applying a plan created: the ids of its refs, and how many rows it inserted and updated per table."""

    ids: dict[str, int | None] = dataclasses.field(default_factory=dict)
    inserted: dict[str, int] = dataclasses.field(default_factory=dict)
    updated: dict[str, int] = dataclasses.field(default_factory=dict)
    deleted: dict[str, int] = dataclasses.field(default_factory=dict)
    effects: dict[str, int] = dataclasses.field(default_factory=dict)


def _table(name: str) -> Table:
    table = SQLModel.metadata.tables.get(name)
    if table is None:
        raise InvalidInput(f"a plan names unknown table {name!r}")
    return table


def _resolve(value: Any, context: ApplyContext, ids: Mapping[str, int | None], now: dt.datetime) -> Any:
    if isinstance(value, Placeholder):
        return {Placeholder.NOW: now, Placeholder.ACTION_ID: context.action_id,
                Placeholder.DECIDED_BY: context.decided_by}[value]
    if isinstance(value, NewId):
        if value.ref not in ids:
            raise InvalidInput(f"a plan uses the id of {value.ref!r} before the change that creates it")
        return ids[value.ref]
    if isinstance(value, Mapping):
        return {k: _resolve(v, context, ids, now) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_resolve(v, context, ids, now) for v in value]
    return value


def _check_columns(table: Table, names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in table.c]
    if unknown:
        raise InvalidInput(f"a plan names unknown column(s) {unknown} of table {table.name}")


async def apply_plan(session: AsyncSession, plan: Plan, context: ApplyContext) -> Applied:
    """Write exactly `plan`'s changes, in order, in the caller's transaction; return what was created.

    Inserted rows of versioned tables get version 1 and created/updated stamps; updated rows get their version
    incremented and `updated_at` stamped. Raises StaleAction when a row is no longer at its planned version."""
    applied = Applied()
    now = utcnow()
    await session.flush()
    conn = await session.connection()
    for read in plan.basis:
        # Lock what the plan read (FOR SHARE on PostgreSQL; SQLite's BEGIN IMMEDIATE already keeps writers out)
        # and check it is still the version planned: a concurrent commit since the plan read it makes it stale.
        table = _table(read.table)
        current = (await conn.execute(select(table.c.version).where(table.c.id == read.id)
                                      .with_for_update(read=True))).scalar_one_or_none()
        if current != read.version:
            raise StaleAction(f"{read.label or f'{read.table} {read.id}'} changed while the action was being "
                              f"applied (version {read.version} planned, now {current}); nothing was changed")
    for change in plan.changes:
        if isinstance(change, Insert):
            table = _table(change.table)
            values = _resolve(dict(change.values), context, applied.ids, now)
            _check_columns(table, list(values))
            for stamp in ("created_at", "updated_at"):
                if stamp in table.c and stamp not in values:
                    values[stamp] = now
            if "version" in table.c and "version" not in values:
                values["version"] = 1
            new_id = (await conn.execute(insert(table).values(**values).returning(table.c.id))).scalar_one()
            if change.ref is not None:
                applied.ids[change.ref] = new_id
            applied.inserted[table.name] = applied.inserted.get(table.name, 0) + 1
        elif isinstance(change, Update):
            table = _table(change.table)
            values = _resolve(dict(change.after), context, applied.ids, now)
            _check_columns(table, list(values))
            stmt = update(table).where(table.c.id == change.id)
            if change.version is not None:
                stmt = stmt.where(table.c.version == change.version)
                values["version"] = change.version + 1
            if "updated_at" in table.c and "updated_at" not in values:
                values["updated_at"] = now
            result = await conn.execute(stmt.values(**values))
            if result.rowcount != 1:
                raise StaleAction(f"{table.name} {change.id} changed while the action was being applied "
                                  f"(expected version {change.version}); nothing was changed")
            applied.updated[table.name] = applied.updated.get(table.name, 0) + 1
        elif isinstance(change, Delete):
            table = _table(change.table)
            if "deleted_at" in table.c:
                values = {"deleted_at": now}
                if change.version is not None:
                    values["version"] = change.version + 1
                if "updated_at" in table.c:
                    values["updated_at"] = now
                stmt = update(table).where(table.c.id == change.id, table.c.deleted_at.is_(None)).values(**values)
            else:
                stmt = delete(table).where(table.c.id == change.id)
            if change.version is not None:
                stmt = stmt.where(table.c.version == change.version)
            result = await conn.execute(stmt)
            if result.rowcount != 1:
                raise StaleAction(f"{table.name} {change.id} changed while the action was being applied "
                                  f"(expected version {change.version}); nothing was changed")
            applied.deleted[table.name] = applied.deleted.get(table.name, 0) + 1
        else:
            applier = _effect_appliers.get(change.kind)
            if applier is None:
                raise InvalidInput(f"a plan names effect kind {change.kind!r}, which no context registered")
            payload = _resolve(dict(change.payload), context, applied.ids, now)
            made = await applier(session, context, payload)
            if change.ref is not None:
                applied.ids[change.ref] = made
            applied.effects[change.kind] = applied.effects.get(change.kind, 0) + 1
    # Rows written above with Core statements may be held, older, in the session's identity map: expire those
    # (only those: the caller's other objects, such as the pending action, stay loaded).
    written = set(applied.inserted) | set(applied.updated) | set(applied.deleted)
    for obj in list(session.identity_map.values()):
        if getattr(getattr(obj, "__table__", None), "name", None) in written:
            session.expire(obj)
    return applied


def changed_rows(plan: Plan, table: str) -> list[Update]:
    """The updates `plan` makes to `table`, in order."""
    return [c for c in plan.changes if isinstance(c, Update) and c.table == table]


def inserted_rows(plan: Plan, table: str) -> list[Insert]:
    """The inserts `plan` makes into `table`, in order."""
    return [c for c in plan.changes if isinstance(c, Insert) and c.table == table]


def effects(plan: Plan, kind: str) -> list[Effect]:
    """The effects of `kind` in `plan`, in order."""
    return [c for c in plan.changes if isinstance(c, Effect) and c.kind == kind]
