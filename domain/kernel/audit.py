"""The audit log: entries written with no shared lock, integrated after commit into an RFC 9162 Merkle tree, and
signed checkpoints kept outside the database.

Writers. `append_audit` queues an entry in the caller's transaction; just before that transaction commits it is
inserted (one multi-row INSERT, or COPY on PostgreSQL above COPY_FROM entries) with no position in the tree. No
row is shared by writers: an entry exists exactly when its transaction committed, and writers never wait for each
other on the audit log.

Sequencer. `integrate_pending` (run by workers/audit_sequencer.py: a task of the server on the embedded default, a
loop of `mcs-erp worker` with Redis) takes committed entries without a position (oldest id first), gives them the
next consecutive positions and folds their leaf hashes into the tree, all in one transaction together with the tree
state row `audit_tree`: a sequencer killed half way integrated nothing, and its successor starts again from the
same state. Only one sequencer integrates at a time (PostgreSQL: the state row locked FOR UPDATE SKIP LOCKED, the
others skip the round; SQLite: writers are serialized). The leaf data of an entry is the canonical JSON of its
content and id (`leaf_data`); leaf and node hashes are RFC 9162 s 2.1.1's (domain/kernel/merkle.py). Stored per
entry: its position `leaf_index` and `leaf_hash`; per tree: its size, root and frontier (the roots of its perfect
subtrees, at most 64 hashes).

Checkpoints. A checkpoint is one JSON line (keys sorted, compact), signed with Ed25519 by a key file outside the
database (`mcs-erp audit keygen`, setting audit_key_file):

    {"format": "mcs-erp-audit-checkpoint/1", "key_id": "<16 hex>", "leaves": ["<hex>", ...], "leaves_from": M,
     "root": "<hex>", "signature": "<base64>", "subtrees": ["<hex>", ...], "time": "<ISO 8601 UTC>",
     "tree_size": N}

`root` is MTH of the first N entries; `subtrees` the frontier of that tree (each subtree's range follows from N's
set bits, highest first: see merkle.Frontier.ranges), whose fold is `root`; `leaves` (optional, with
`leaves_from`) the leaf hashes of positions leaves_from..N-1 when at most CHECKPOINT_LEAVES entries were integrated
since the previous checkpoint; `key_id` the first 16 hex digits of SHA-256 of the raw public key; `signature` the
Ed25519 signature of the canonical JSON of every other key. The subtrees and leaves are the witnesses that let
`verify` name where today's log differs: a root alone only says that it does.

Verification (`verify_audit_log`) recomputes every leaf from the row content, never trusting stored hashes (an
attacker with write access re-hashes), and checks: positions 0..size-1 each held once; stored leaf hashes against
content; the state row against the recomputed tree; and each checkpoint's signature, subtrees and leaves against
the recomputed tree at its size. It names the first entry that differs (exactly when a checkpoint's leaves cover
it, else the narrowest range between checkpoints' subtrees), or the tail that is missing, and counts the entries
not yet integrated.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path
from typing import Any, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import BigInteger, Column, Index, Text, func, text
from sqlalchemy.event import listen as event_listen
from sqlalchemy.orm import Session
from sqlalchemy.util import await_only
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.kernel import merkle
from domain.kernel.actor import Actor
from domain.kernel.clock import utcnow
from domain.kernel.db import reserve_ids_statement
from domain.kernel.errors import DomainError, InvalidInput, NotFound

COPY_FROM = 100
"""A transaction appending more entries than this writes them with COPY on PostgreSQL."""
INTEGRATE_BATCH = 5000
"""Entries one integration transaction takes at most (integrate_pending's default)."""
CHECKPOINT_LEAVES = 1024
"""A checkpoint carries the leaf hashes integrated since the previous one when there are at most this many."""
CHECKPOINT_FORMAT = "mcs-erp-audit-checkpoint/1"
MAX_CHECKPOINT_LINE = 256 * 1024
"""Characters of one checkpoint line at most (a full one is about 70 KB)."""

_DISABLED = False
"""Benchmarks only (bench/audit.py's baseline): when True, append_audit records nothing. Not a setting."""


class AuditEntry(SQLModel, table=True):
    """One audited step: who, through which channel, which tool, its arguments, before/after, action id; and, once
    integrated, its position in the Merkle tree (`leaf_index`) and leaf hash (hex)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # Partial both: a writer's insert (leaf_index NULL) touches only the pending index, the sequencer's
        # update moves the row from it to the positions' index.
        Index("ix_audit_log_leaf_index", "leaf_index", unique=True, postgresql_where=text("leaf_index IS NOT NULL"),
              sqlite_where=text("leaf_index IS NOT NULL")),
        Index("ix_audit_log_pending", "id", postgresql_where=text("leaf_index IS NULL"),
              sqlite_where=text("leaf_index IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, nullable=False)
    actor_id: int = Field(nullable=False)
    actor_username: str = Field(max_length=120, nullable=False)
    channel: str = Field(max_length=20, nullable=False)
    tool: str = Field(max_length=80, nullable=False, index=True)
    event: str = Field(max_length=40, nullable=False)
    entity: str | None = Field(default=None, max_length=60)
    entity_id: int | None = Field(default=None)
    action_id: int | None = Field(default=None, index=True)
    arguments: str = Field(sa_column=Column(Text, nullable=False))
    before: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    after: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    leaf_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    leaf_hash: str | None = Field(default=None, max_length=64)


class AuditTree(SQLModel, table=True):
    """The Merkle tree's state (one row, id 1), written only by the sequencer and checkpoints: its size, root and
    frontier (JSON list of hex subtree roots), and the newest checkpoint (its size, time and JSON line)."""

    __tablename__ = "audit_tree"

    id: int = Field(default=1, primary_key=True)
    size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    root: str = Field(default=merkle.EMPTY_ROOT.hex(), max_length=64, nullable=False)
    frontier: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    integrated_at: datetime | None = Field(default=None)
    checkpoint_size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    checkpoint_at: datetime | None = Field(default=None)
    checkpoint: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


@dataclass(slots=True)
class AppendedEntry:
    """An entry appended in the current transaction, with AuditEntry's content columns: a plain object (building a
    table model costs more than inserting it, which counts when a payroll run appends 10,000), whose `id` is set
    when the transaction commits (its position in the tree later, by the sequencer)."""

    at: datetime
    actor_id: int
    actor_username: str
    channel: str
    tool: str
    event: str
    entity: str | None
    entity_id: int | None
    action_id: int | None
    arguments: str
    before: str | None
    after: str | None
    id: int | None = None


CONTENT = ("id", "at", "actor_id", "actor_username", "channel", "tool", "event", "entity", "entity_id",
           "action_id", "arguments", "before", "after")
"""The columns an entry's leaf covers."""


def canonical_json(value: Any) -> str:
    """The JSON form hashed by the audit log and the gate: sorted keys, compact separators."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def leaf_data(entry: Any) -> bytes:
    """The leaf data of an entry (an AuditEntry, an AppendedEntry with its id, or a row with CONTENT's names): the
    UTF-8 canonical JSON of its content columns, `at` as ISO 8601 UTC."""
    payload = {name: getattr(entry, name) for name in CONTENT}
    payload["at"] = _utc(payload["at"]).isoformat()  # type: ignore[union-attr]
    return canonical_json(payload).encode()


def entry_leaf_hash(entry: Any) -> str:
    """The RFC 9162 leaf hash (hex) of an entry: SHA-256(0x00 || leaf_data(entry))."""
    return merkle.leaf_hash(leaf_data(entry)).hex()


async def ensure_audit_tree(session: AsyncSession) -> None:
    """Create the tree state row of an empty log (sequencers lock it; writers never touch it)."""
    if await session.get(AuditTree, 1) is None:
        session.add(AuditTree(id=1))
        await session.flush()


ensure_audit_head = ensure_audit_tree  # the v1 name, kept for its callers


_PENDING = "mcs_erp_audit_pending"
_LISTENING = "mcs_erp_audit_listening"


async def append_audit(
    session: AsyncSession,
    actor: Actor,
    *,
    tool: str,
    event: str,
    arguments: dict[str, Any],
    entity: str | None = None,
    entity_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    action_id: int | None = None,
) -> AppendedEntry:
    """Append one entry to the log in the caller's transaction and return it (its id is set when the transaction
    commits).

    `arguments`, `before` and `after` are stored as canonical JSON; callers pass them without secrets. The entries
    are inserted just before the transaction commits, with no lock shared with other writers; the entries of one
    transaction get increasing ids in the order they were appended, and so keep that order in the tree (other
    transactions' entries may come between them); a rolled-back transaction appends nothing. The sequencer integrates them into the tree after the commit.
    """
    entry = AppendedEntry(
        at=utcnow(),
        actor_id=actor.id,
        actor_username=actor.username,
        channel=str(actor.channel),
        tool=tool,
        event=event,
        entity=entity,
        entity_id=entity_id,
        action_id=action_id,
        arguments=canonical_json(arguments),
        before=None if before is None else canonical_json(before),
        after=None if after is None else canonical_json(after),
    )
    if _DISABLED:
        return entry
    _pending(session).append(entry)
    return entry


def append_audit_rendered(session: AsyncSession, actor: Actor, *, tool: str, event: str, entity: str | None,
                          entries: Iterable[tuple[int | None, str, str | None]]) -> int:
    """append_audit for many entries of one tool, event and entity (a payroll run's 10,000 payslips) whose
    `arguments` and `after` the caller has rendered itself, exactly as `canonical_json` renders them (sorted keys,
    compact separators, ASCII): `entries` are (entity_id, arguments JSON, after JSON or None), no `before` and no
    action. The entries are appended in order, each as append_audit would append it, and their count returned."""
    channel = str(actor.channel)
    appended = [AppendedEntry(at=utcnow(), actor_id=actor.id, actor_username=actor.username, channel=channel,
                              tool=tool, event=event, entity=entity, entity_id=entity_id, action_id=None,
                              arguments=arguments, before=None, after=after)
                for entity_id, arguments, after in entries]
    if not _DISABLED:
        _pending(session).extend(appended)
    return len(appended)


def _pending(session: AsyncSession) -> list[AppendedEntry]:
    """This unit of work's entries not yet inserted (inserted before it commits, dropped if it rolls back)."""
    sync = session.sync_session
    if not sync.info.get(_LISTENING):  # once per session (a unit of work); listeners cannot be removed mid-dispatch
        sync.info[_LISTENING] = True
        event_listen(sync, "before_commit", _insert_pending)
        event_listen(sync, "after_rollback", _drop_pending)
    return sync.info.setdefault(_PENDING, [])  # type: ignore[no-any-return]


_INSERT_ONE = (f"INSERT INTO audit_log ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in CONTENT[1:])}) "
               f"VALUES ({', '.join(f'${n}' for n in range(1, len(CONTENT)))}) RETURNING id")


def _insert_pending(sync: Session) -> None:
    """before_commit: give each pending entry its id and insert them all, without a position (no lock taken)."""
    pending = sync.info.pop(_PENDING, None)
    if not pending:
        return
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    postgres = sync.bind is not None and sync.bind.dialect.name == "postgresql"
    if postgres and len(pending) > COPY_FROM:
        # Many entries (a whole school's payroll, 10,000 payslips): their ids from the table's sequence (nextval
        # takes no lock other writers wait for), then one binary COPY in this transaction, run from this
        # synchronous hook on the async driver the way SQLAlchemy's own asyncio layer does (await_only).
        ids = sync.execute(reserve_ids_statement(table.name), {"n": len(pending)}).scalar_one()
        for entry, entry_id in zip(pending, ids, strict=True):
            entry.id = entry_id
        raw = sync.connection().connection.driver_connection
        content = attrgetter(*CONTENT)
        await_only(raw.copy_records_to_table(table.name, records=[content(e) for e in pending], columns=list(CONTENT)))
        return
    if postgres and len(pending) == 1:
        # The common case (one tool call, one entry): straight on the driver, one round trip and none of the
        # statement building a SQLAlchemy execute costs (about a fifth of a small write's CPU on this path).
        entry = pending[0]
        raw = sync.connection().connection.driver_connection
        entry.id = await_only(raw.fetchval(_INSERT_ONE, *(getattr(entry, c) for c in CONTENT[1:])))
        return
    # Otherwise one INSERT ... RETURNING in one round trip, the ids handed back in the entries' order; they
    # increase in that order (PostgreSQL's sequence, SQLite's serialized writers), so one transaction's entries
    # keep their order in the tree.
    columns = [c for c in CONTENT if c != "id"]
    result = sync.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True),
                          [{c: getattr(e, c) for c in columns} for e in pending])
    for entry, entry_id in zip(pending, result.scalars(), strict=True):
        entry.id = entry_id


async def write_pending(session: AsyncSession) -> None:
    """Insert the entries appended so far in this transaction now rather than just before it commits (a long
    transaction writing in batches, like a payroll calculation, spreads the work); they still exist exactly when
    the transaction commits, and keep their order."""
    if session.sync_session.info.get(_PENDING):
        await session.run_sync(_insert_pending)


def _drop_pending(sync: Session) -> None:
    """after_rollback: the transaction's entries are dropped with it."""
    sync.info.pop(_PENDING, None)


# ------------------------------------------------------------------------------------------------ the sequencer


def _frontier_of(tree: AuditTree) -> merkle.Frontier:
    return merkle.Frontier(tree.size, [bytes.fromhex(h) for h in json.loads(tree.frontier)])


async def _lock_tree(session: AsyncSession, *, wait: bool = False) -> AuditTree | None:
    """The state row locked for this transaction (created when missing); None when another sequencer holds it and
    `wait` is false (PostgreSQL; SQLite writers are serialized already)."""
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(text("INSERT INTO audit_tree (id, size, root, frontier, checkpoint_size) "
                                "VALUES (1, 0, :root, '[]', 0) ON CONFLICT (id) DO NOTHING"),
                           {"root": merkle.EMPTY_ROOT.hex()})
        stmt = select(AuditTree).where(AuditTree.id == 1).with_for_update(skip_locked=not wait)
        return (await session.exec(stmt.execution_options(populate_existing=True))).first()
    await ensure_audit_tree(session)
    return await session.get(AuditTree, 1, populate_existing=True)


def _integration_fault() -> None:
    """Called between assigning positions and storing them: the tests make it raise, as a sequencer killed
    mid-integration would stop."""


@dataclass(frozen=True)
class Integration:
    """One integration round: entries integrated, the tree's size and root (hex) after it; `skipped` when another
    sequencer held the tree."""

    integrated: int
    size: int
    root: str
    skipped: bool = False


async def integrate_pending(session: AsyncSession, *, limit: int = INTEGRATE_BATCH) -> Integration:
    """Integrate up to `limit` (1..100,000) committed entries that have no position yet, oldest id first, in the
    caller's transaction: give them the next positions, store their leaf hashes and the new tree state.

    Everything is one transaction, so a failure (or a killed process) before the commit integrates nothing and
    the next round starts from the same state; the state row's lock means no two sequencers integrate at once.
    Raises InvalidInput for a `limit` out of range."""
    if not 1 <= limit <= 100_000:
        raise InvalidInput(f"limit must be 1 to 100000 entries, not {limit}", field="limit")
    tree = await _lock_tree(session)
    if tree is None:
        return Integration(0, 0, "", skipped=True)
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    conn = await session.connection()
    rows = (await conn.execute(select(*(table.c[c] for c in CONTENT)).where(table.c.leaf_index.is_(None))
                               .order_by(table.c.id).limit(limit))).all()
    if not rows:
        return Integration(0, tree.size, tree.root)
    frontier = _frontier_of(tree)
    if len(rows) > FOLD_IN_THREAD_FROM:
        # The hashing (canonical JSON and SHA-256 of every entry) off the event loop: a worker's first round after
        # start-up may fold thousands of entries while its jobs must keep sending heartbeats.
        updates = await asyncio.to_thread(_fold, rows, frontier)
    else:
        updates = _fold(rows, frontier)
    _integration_fault()
    if conn.dialect.name == "postgresql":
        await conn.execute(text(
            "UPDATE audit_log AS a SET leaf_index = v.position, leaf_hash = v.leaf "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:positions AS bigint[]), CAST(:leaves AS text[])) "
            "AS v(id, position, leaf) WHERE a.id = v.id"),
            {"ids": [u["row_id"] for u in updates], "positions": [u["position"] for u in updates],
             "leaves": [u["leaf"] for u in updates]})
    else:
        await conn.execute(text("UPDATE audit_log SET leaf_index = :position, leaf_hash = :leaf WHERE id = :row_id"),
                           updates)
    tree.size = frontier.size
    tree.root = frontier.root().hex()
    tree.frontier = json.dumps([h.hex() for h in frontier.hashes])
    tree.integrated_at = utcnow()
    session.add(tree)
    await session.flush()
    return Integration(len(rows), tree.size, tree.root)


FOLD_IN_THREAD_FROM = 64
"""integrate_pending hashes more entries than this in a worker thread."""


def _fold(rows: Sequence[Any], frontier: merkle.Frontier) -> list[dict[str, Any]]:
    """Append `rows`' leaf hashes to `frontier` in order; return each row's id, position and leaf hash (hex)."""
    updates = []
    for row in rows:
        leaf = merkle.leaf_hash(leaf_data(row))
        updates.append({"row_id": row.id, "position": frontier.size, "leaf": leaf.hex()})
        frontier.append(leaf)
    return updates


async def has_pending(session: AsyncSession) -> bool:
    """Whether any committed entry waits for the sequencer (one probe of the pending index)."""
    return (await session.exec(select(AuditEntry.id).where(AuditEntry.leaf_index.is_(None)).limit(1))).first() \
        is not None


async def pending_count(session: AsyncSession) -> int:
    """How many committed entries wait for the sequencer."""
    return (await session.exec(select(func.count()).select_from(AuditEntry)
                               .where(AuditEntry.leaf_index.is_(None)))).one()


# ------------------------------------------------------------------------------------------------ keys


class AuditKeyError(DomainError):
    """The checkpoint key file is missing, unreadable, too open or not an Ed25519 key."""


def generate_key_file(path: Path) -> Path:
    """Create an Ed25519 signing key at `path` (PKCS#8 PEM, mode 0600) and its public key at `path` + '.pub'
    (SubjectPublicKeyInfo PEM, mode 0644); return the public key's path. Raises AuditKeyError when either file
    exists already (a key is never overwritten: its checkpoints would no longer verify) or cannot be written."""
    path = Path(path).expanduser()
    pub = path.with_name(path.name + ".pub")
    for existing in (path, pub):
        if existing.exists():
            raise AuditKeyError(f"{existing} exists already: refusing to overwrite an audit key (checkpoints signed "
                                "with it would no longer verify)")
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(private)
        fd = os.open(pub, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(public)
    except OSError as exc:
        raise AuditKeyError(f"cannot write the audit key {exc.filename}: {exc.strerror}") from None
    return pub


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file `path`. Raises AuditKeyError when it is missing, readable by group
    or others, or not an Ed25519 private key."""
    path = Path(path).expanduser()
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit key {path}: {exc.strerror} (create one with `mcs-erp audit "
                            "keygen`)") from None
    if mode & 0o077:
        raise AuditKeyError(f"the audit key {path} is readable by others (mode {mode & 0o777:o}): chmod 600 it")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise AuditKeyError(f"{path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file `path` (a public key, or the private key file itself). Raises
    AuditKeyError when it is missing or holds no Ed25519 key."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read the audit key {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        return load_signing_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        raise AuditKeyError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path} is not an Ed25519 key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of SHA-256 of the raw 32-byte public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


# ------------------------------------------------------------------------------------------------ checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: `tree_size` entries with root `root` at `time`, the frontier `subtrees`, optionally the
    leaf hashes of positions `leaves_from`..tree_size-1 (all hex), the signer's `key_id` and the `signature`
    (base64). See the module docstring for its line format."""

    tree_size: int
    root: str
    time: datetime
    subtrees: tuple[str, ...]
    key_id: str
    signature: str
    leaves_from: int | None = None
    leaves: tuple[str, ...] = ()

    def signed_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "tree_size": self.tree_size, "root": self.root,
                                  "time": self.time.isoformat(), "subtrees": list(self.subtrees),
                                  "key_id": self.key_id}
        if self.leaves_from is not None:
            fields["leaves_from"] = self.leaves_from
            fields["leaves"] = list(self.leaves)
        return fields

    def signed_bytes(self) -> bytes:
        return canonical_json(self.signed_fields()).encode()

    def line(self) -> str:
        """The JSON line (without its newline)."""
        return canonical_json({**self.signed_fields(), "signature": self.signature})

    def signature_ok(self, public_key: Ed25519PublicKey) -> bool:
        """Whether the signature is `public_key`'s over the other fields."""
        if key_id(public_key) != self.key_id:
            return False
        try:
            public_key.verify(base64.b64decode(self.signature, validate=True), self.signed_bytes())
        except (InvalidSignature, ValueError):
            return False
        return True


_HEX64 = frozenset("0123456789abcdef")


def _hex_hash(value: Any, what: str) -> str:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX64:
        raise InvalidInput(f"{what} must be 64 lowercase hex digits")
    return value


def parse_checkpoint(line: str) -> Checkpoint:
    """Parse one checkpoint line. Raises InvalidInput naming what is wrong (not JSON, a missing or malformed key,
    subtrees that do not fold to the root, leaves outside the tree, a line over MAX_CHECKPOINT_LINE)."""
    if len(line) > MAX_CHECKPOINT_LINE:
        raise InvalidInput(f"a checkpoint line is at most {MAX_CHECKPOINT_LINE} characters")
    try:
        raw = json.loads(line)
    except ValueError:
        raise InvalidInput("a checkpoint line must be one JSON object") from None
    if not isinstance(raw, dict) or raw.get("format") != CHECKPOINT_FORMAT:
        raise InvalidInput(f"not a checkpoint: its format must be {CHECKPOINT_FORMAT}")
    size = raw.get("tree_size")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**63:
        raise InvalidInput("tree_size must be a whole number of entries")
    try:
        time = datetime.fromisoformat(str(raw.get("time")))
    except ValueError:
        raise InvalidInput("time must be an ISO 8601 date and time") from None
    subtrees = raw.get("subtrees")
    if not isinstance(subtrees, list):
        raise InvalidInput("subtrees must be a list of hashes")
    subtrees = tuple(_hex_hash(h, "each subtree hash") for h in subtrees)
    try:
        frontier = merkle.Frontier(size, [bytes.fromhex(h) for h in subtrees])
    except ValueError as exc:
        raise InvalidInput(f"subtrees: {exc}") from None
    root = _hex_hash(raw.get("root"), "root")
    if frontier.root().hex() != root:
        raise InvalidInput("the subtrees do not fold to the root")
    leaves_from, leaves = raw.get("leaves_from"), raw.get("leaves", [])
    if leaves_from is not None:
        if not isinstance(leaves_from, int) or not isinstance(leaves, list) or leaves_from + len(leaves) != size \
                or leaves_from < 0:
            raise InvalidInput("leaves must be the leaf hashes of positions leaves_from to tree_size - 1")
        leaves = tuple(_hex_hash(h, "each leaf hash") for h in leaves)
    signature = raw.get("signature")
    if not isinstance(signature, str) or not signature:
        raise InvalidInput("signature is missing")
    key = raw.get("key_id")
    if not isinstance(key, str) or len(key) != 16:
        raise InvalidInput("key_id must be 16 hex digits")
    return Checkpoint(tree_size=size, root=root, time=time, subtrees=subtrees, key_id=key, signature=signature,
                      leaves_from=leaves_from, leaves=tuple(leaves) if leaves_from is not None else ())


def read_checkpoints(path: Path, *, limit: int = 1_000_000) -> list[Checkpoint]:
    """The checkpoints of the JSON-lines file `path` (blank lines skipped), at most `limit`. Raises InvalidInput
    naming the line of a malformed checkpoint, or a file that cannot be read or holds more than `limit`."""
    out: list[Checkpoint] = []
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                if len(out) >= limit:
                    raise InvalidInput(f"{path} holds more than {limit} checkpoints")
                try:
                    out.append(parse_checkpoint(line.strip()))
                except InvalidInput as exc:
                    raise InvalidInput(f"{path} line {number}: {exc.message}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read the checkpoints {path}: {exc.strerror}") from None
    return out


async def make_checkpoint(session: AsyncSession, key: Ed25519PrivateKey) -> Checkpoint:
    """Sign a checkpoint of the tree as committed now and record it as the newest (in the caller's transaction,
    holding the tree's lock: a checkpoint and an integration never interleave). The caller writes it out
    (write_checkpoint) before committing, so a recorded checkpoint was written."""
    tree = await _lock_tree(session, wait=True)
    assert tree is not None  # waiting, the lock is always granted
    leaves_from: int | None = None
    leaves: tuple[str, ...] = ()
    since = tree.checkpoint_size if tree.checkpoint_size <= tree.size else 0
    if tree.size - since <= CHECKPOINT_LEAVES:
        leaves_from = since
        leaves = tuple((await session.exec(select(AuditEntry.leaf_hash).where(
            AuditEntry.leaf_index >= since, AuditEntry.leaf_index < tree.size).order_by(AuditEntry.leaf_index))).all())
        if len(leaves) != tree.size - since:  # rows moved under us: sign the head without leaves
            leaves_from, leaves = None, ()
    unsigned = Checkpoint(tree_size=tree.size, root=tree.root, time=utcnow().replace(microsecond=0),
                          subtrees=tuple(json.loads(tree.frontier)), key_id=key_id(key.public_key()), signature="",
                          leaves_from=leaves_from, leaves=leaves)
    signature = base64.b64encode(key.sign(unsigned.signed_bytes())).decode()
    checkpoint = _signed(unsigned, signature)
    tree.checkpoint_size = checkpoint.tree_size
    tree.checkpoint_at = utcnow()
    tree.checkpoint = checkpoint.line()
    session.add(tree)
    await session.flush()
    return checkpoint


def _signed(unsigned: Checkpoint, signature: str) -> Checkpoint:
    return Checkpoint(tree_size=unsigned.tree_size, root=unsigned.root, time=unsigned.time,
                      subtrees=unsigned.subtrees, key_id=unsigned.key_id, signature=signature,
                      leaves_from=unsigned.leaves_from, leaves=unsigned.leaves)


def write_checkpoint(checkpoint: Checkpoint, sink: Path | TextIO) -> None:
    """Append the checkpoint's line to the file `sink` (created 0644 if missing; opened append-only, locked with
    flock against other writers, fsynced) or write it to the text stream `sink` (stdout). Raises AuditKeyError
    when the file cannot be written."""
    line = checkpoint.line() + "\n"
    if not isinstance(sink, Path):
        sink.write(line)
        sink.flush()
        return
    try:
        sink.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise AuditKeyError(f"cannot append to the audit checkpoints {sink}: {exc.strerror}") from None


async def newest_checkpoint(session: AsyncSession) -> Checkpoint | None:
    """The newest checkpoint recorded in the database (None before the first, or when its line is unreadable)."""
    tree = await session.get(AuditTree, 1)
    if tree is None or not tree.checkpoint:
        return None
    with contextlib.suppress(InvalidInput):
        return parse_checkpoint(tree.checkpoint)
    return None


# ------------------------------------------------------------------------------------------------ verification


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of verify_audit_log: `ok`; `rows` integrated entries checked (before the first problem when not
    ok); the first `problem` found, with `bad_id` (the entry named, when one is) and `bad_positions` (the [first,
    last] positions the first difference lies in); `pending` entries not yet integrated; the recomputed
    `tree_size`; and how many checkpoints were checked."""

    ok: bool
    rows: int
    problem: str | None = None
    bad_id: int | None = None
    bad_positions: tuple[int, int] | None = None
    pending: int = 0
    tree_size: int = 0
    checkpoints: int = 0
    problems: tuple[str, ...] = field(default=())


@dataclass
class _CheckpointState:
    checkpoint: Checkpoint
    number: int
    first_bad: tuple[int, int] | None = None  # the first subtree [start, end) that differs
    intact: bool = False


async def verify_audit_log(session: AsyncSession, *, checkpoints: Sequence[Checkpoint] = (),
                           public_key: Ed25519PublicKey | None = None, batch: int = 5000) -> AuditVerification:
    """Recompute the tree from the rows' content and check it against the stored hashes, the state row and each
    checkpoint (its signature too, when `public_key` is given; a checkpoint signed by another key fails).

    Reads the integrated entries in position order, `batch` (100..50,000) at a time: one pass over the log and
    O(log n) memory besides the checkpoints. The problem reported is the one at the smallest position; see the
    module docstring for how a difference is localised."""
    if not 100 <= batch <= 50_000:
        raise InvalidInput(f"batch must be 100 to 50000 rows, not {batch}", field="batch")
    problems: list[tuple[int, str, int | None, tuple[int, int] | None]] = []  # (position, text, id, range)
    states = [_CheckpointState(c, n) for n, c in enumerate(checkpoints, start=1)]
    for state in states:
        if public_key is not None and not state.checkpoint.signature_ok(public_key):
            problems.append((-1, f"checkpoint {state.number} (size {state.checkpoint.tree_size}, "
                                 f"{state.checkpoint.time.isoformat()}): its signature does not verify with this "
                                 "key", None, None))
    by_size: dict[int, list[_CheckpointState]] = {}
    for state in states:
        by_size.setdefault(state.checkpoint.tree_size, []).append(state)
    witnessed = sorted(((s.checkpoint.leaves_from, s) for s in states if s.checkpoint.leaves_from is not None),
                       key=lambda pair: pair[0])
    ids_at: dict[int, int] = {}  # position -> id of the entry after a gap (one at most)
    frontier = merkle.Frontier()
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    conn = await session.connection()
    leaf_problem: tuple[int, str, int | None] | None = None
    witness_problem: tuple[int, str, int | None] | None = None
    gap: tuple[int, int] | None = None
    after = -1
    rows_ok = 0
    w = 0

    def check_checkpoints_at_size() -> None:
        for state in by_size.get(frontier.size, ()):
            ranges = frontier.ranges()
            for (start, end), mine, theirs in zip(ranges, frontier.hashes, state.checkpoint.subtrees, strict=True):
                if mine.hex() != theirs:
                    state.first_bad = (start, end)
                    break
            else:
                state.intact = True

    check_checkpoints_at_size()  # size 0
    while gap is None:
        rows = (await conn.execute(select(*(table.c[c] for c in CONTENT), table.c.leaf_index, table.c.leaf_hash)
                                   .where(table.c.leaf_index > after, table.c.leaf_index.is_not(None))
                                   .order_by(table.c.leaf_index).limit(batch))).all()
        if not rows:
            break
        for row in rows:
            position = row.leaf_index
            if position < frontier.size:  # only with the unique index dropped: two entries claim one position
                problems.append((position, f"audit row {row.id} claims position {position}, which another entry "
                                           "holds (positions were forged)", row.id, (position, position)))
                gap = (frontier.size, frontier.size + 1)
                break
            if position != frontier.size:
                gap = (frontier.size, position)
                ids_at[position] = row.id
                break
            leaf = merkle.leaf_hash(leaf_data(row))
            if leaf_problem is None and leaf.hex() != row.leaf_hash:
                leaf_problem = (position, f"audit row {row.id}: its content does not match its stored leaf hash "
                                          f"(the row was edited; position {position})", row.id)
            while w < len(witnessed) and witnessed[w][1].checkpoint.tree_size <= position:
                w += 1  # sorted by start: a range ended before this position never covers a later one
            if witness_problem is None:
                for start, state in witnessed[w:]:
                    if start > position:
                        break
                    if position < state.checkpoint.tree_size and \
                            state.checkpoint.leaves[position - start] != leaf.hex():
                        witness_problem = (position, f"audit row {row.id} (position {position}) differs from what "
                                                     f"checkpoint {state.number} signed (edited, replaced or "
                                                     "moved)", row.id)
                        break
            if leaf_problem is None and witness_problem is None:
                rows_ok += 1
            frontier.append(leaf)
            check_checkpoints_at_size()
        after = rows[-1].leaf_index
    size = frontier.size
    if gap is not None and gap[1] in ids_at:
        problems.append((gap[0], f"positions {gap[0]} to {gap[1] - 1} are missing from the tree (entries deleted or "
                                 f"moved); the next is audit row {ids_at[gap[1]]}", None, (gap[0], gap[1] - 1)))
    for found in (leaf_problem, witness_problem):
        if found is not None:
            problems.append((found[0], found[1], found[2], (found[0], found[0])))
    # Checkpoints: the tail they cover that is missing now, and the narrowest range a difference lies in.
    intact_to = max([s.checkpoint.tree_size for s in states if s.intact] + [0])
    failing = [s for s in states if s.first_bad is not None]
    for state in failing:  # the subtrees before a checkpoint's first differing one are intact too
        intact_to = max(intact_to, state.first_bad[0])  # type: ignore[index]
    if failing:
        end = min(s.first_bad[1] for s in failing)  # type: ignore[index]
        first, last = intact_to, end - 1
        names = await _ids_at(conn, [first, last])
        where = (f"audit row {names.get(first)} (position {first})" if first == last else
                 f"one of positions {first} to {last} (audit rows {names.get(first)} to {names.get(last)})")
        culprit = min(failing, key=lambda s: s.checkpoint.tree_size)
        problems.append((first, f"the log differs from checkpoint {culprit.number} (size "
                                f"{culprit.checkpoint.tree_size}, {culprit.checkpoint.time.isoformat()}): the first "
                                f"entry that differs is {where}", names.get(first) if first == last else None,
                         (first, last)))
    for state in states:
        if state.checkpoint.tree_size > size and gap is None:
            problems.append((size, f"checkpoint {state.number} ({state.checkpoint.time.isoformat()}) covers "
                                   f"{state.checkpoint.tree_size} entries but the tree holds {size}: positions "
                                   f"{size} to {state.checkpoint.tree_size - 1} are missing (the tail was deleted "
                                   "or moved back)", None, (size, state.checkpoint.tree_size - 1)))
            break
    tree = await session.get(AuditTree, 1)
    stored = (tree.size, tree.root) if tree is not None else (0, merkle.EMPTY_ROOT.hex())
    if gap is None and stored != (size, frontier.root().hex()):
        problems.append((min(size, stored[0]), f"the tree state records {stored[0]} entries with another root than "
                                               f"the {size} integrated entries give (the state or the newest "
                                               "entries were altered or deleted)", None, None))
    pending = await pending_count(session)
    if not problems:
        return AuditVerification(True, rows_ok, pending=pending, tree_size=size, checkpoints=len(states))
    problems.sort(key=lambda p: p[0])
    position, problem, bad_id, bad_range = problems[0]
    if bad_range is not None and bad_range[0] != bad_range[1]:  # a range: name its entry when one is known exactly
        exact = [p for p in problems if p[3] is not None and p[3][0] == p[3][1] and bad_range[0] <= p[0] <= bad_range[1]]
        if exact:
            position, problem, bad_id, bad_range = exact[0]
            problem = f"{problem}; {problems[0][1]}"
    return AuditVerification(False, min(rows_ok, max(position, 0)), problem, bad_id, bad_range, pending=pending,
                             tree_size=size, checkpoints=len(states), problems=tuple(p[1] for p in problems))


async def _ids_at(conn: Any, positions: Iterable[int]) -> dict[int, int]:
    table = AuditEntry.__table__  # type: ignore[attr-defined]
    wanted = sorted(set(positions))
    rows = (await conn.execute(select(table.c.leaf_index, table.c.id)
                               .where(table.c.leaf_index.in_(wanted)))).all()
    return {r.leaf_index: r.id for r in rows}


verify_audit_chain = verify_audit_log  # the v1 name, kept for its callers


async def list_audit_entries(session: AsyncSession, *, after_id: int = 0, limit: int = 50,
                             tool: str | None = None, action_id: int | None = None) -> list[AuditEntry]:
    """Return audit entries with id greater than `after_id`, oldest first, optionally filtered."""
    stmt = select(AuditEntry).where(AuditEntry.id > after_id)
    if tool:
        stmt = stmt.where(AuditEntry.tool == tool)
    if action_id is not None:
        stmt = stmt.where(AuditEntry.action_id == action_id)
    return list((await session.exec(stmt.order_by(AuditEntry.id).limit(limit))).all())


def _utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime; a naive one is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def search_audit_entries(session: AsyncSession, *, before_id: int = 0, limit: int = 20,
                               actor: str | None = None, tool: str | None = None, entity: str | None = None,
                               entity_id: int | None = None, since: datetime | None = None,
                               until: datetime | None = None, event_id: int | None = None) -> list[AuditEntry]:
    """Return up to `limit` audit entries newest first, with id below `before_id` (0: from the newest).

    Filters: `actor` (a username, or a user id given as digits), `tool`, `entity` (a table name such as
    invoices or pending_actions) with optionally its `entity_id`, the time range `since` (inclusive) to `until`
    (exclusive; naive datetimes are UTC), and `event_id` (that one entry). Raises InvalidInput for `until` not
    after `since`, or `entity_id` without `entity` (ids are per entity type).
    """
    since, until = _utc(since), _utc(until)
    if since is not None and until is not None and until <= since:
        raise InvalidInput(f"until ({until.isoformat()}) must be after since ({since.isoformat()})", field="until")
    if entity_id is not None and entity is None:
        raise InvalidInput("entity_id needs entity (the entity type, e.g. invoices): ids are per type",
                           field="entity_id")
    stmt = select(AuditEntry)
    if before_id > 0:
        stmt = stmt.where(AuditEntry.id < before_id)
    if actor:
        stmt = stmt.where(AuditEntry.actor_id == int(actor) if actor.isdigit()
                          else AuditEntry.actor_username == actor)
    if tool:
        stmt = stmt.where(AuditEntry.tool == tool)
    if entity:
        stmt = stmt.where(AuditEntry.entity == entity)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEntry.at < until)
    if event_id is not None:
        stmt = stmt.where(AuditEntry.id == event_id)
    return list((await session.exec(stmt.order_by(AuditEntry.id.desc()).limit(limit))).all())


@dataclass(frozen=True)
class AuditLogPage:
    """A page of audit entries (newest first) with the log's verification against its newest checkpoint (None
    when it was not verified) and that checkpoint (None before the first)."""

    entries: list[AuditEntry]
    verification: AuditVerification | None
    checkpoint: Checkpoint | None = None


async def read_audit_log(session: AsyncSession, *, verify: bool = True, before_id: int = 0, limit: int = 20,
                         actor: str | None = None, tool: str | None = None, entity: str | None = None,
                         entity_id: int | None = None, since: datetime | None = None,
                         until: datetime | None = None, event_id: int | None = None,
                         public_key: Ed25519PublicKey | None = None) -> AuditLogPage:
    """Return a page of audit entries (search_audit_entries: newest first, the same filters), the newest checkpoint
    and, with `verify`, the whole log's verification against it (verify_audit_log: one pass over the log; its
    signature checked with `public_key` when given).
    Raises what search_audit_entries raises, and NotFound (on a first page with nothing) for an `event_id` that
    is no event, or an `entity`'s `entity_id` that no event names."""
    entries = await search_audit_entries(session, before_id=before_id, limit=limit, actor=actor, tool=tool,
                                         entity=entity, entity_id=entity_id, since=since, until=until,
                                         event_id=event_id)
    if not entries and before_id == 0:
        await _check_named(session, entity=entity, entity_id=entity_id, event_id=event_id)
    checkpoint = await newest_checkpoint(session)
    verification = None
    if verify:
        verification = await verify_audit_log(session, checkpoints=[checkpoint] if checkpoint else [],
                                               public_key=public_key)
    return AuditLogPage(entries, verification, checkpoint)


async def _check_named(session: AsyncSession, *, entity: str | None, entity_id: int | None,
                       event_id: int | None) -> None:
    """Raise NotFound for an event id that is no event, or an entity no event names: an empty page would read
    as 'nothing happened to it'."""
    if event_id is not None and await session.get(AuditEntry, event_id) is None:
        raise NotFound(f"no audit event with id {event_id}", field="event_id")
    if entity is not None and entity_id is not None:
        named = (await session.exec(select(AuditEntry.id).where(AuditEntry.entity == entity,
                                                                AuditEntry.entity_id == entity_id).limit(1))).first()
        if named is None:
            raise NotFound(f"no audit event names {entity} with id {entity_id}", field="entity_id")
