"""The audit sequencer: integrates committed audit entries into the Merkle tree and writes scheduled checkpoints.

It runs as a task of the server process on the embedded default (workers/runner.py's InProcessRunner, no Redis)
and as a task beside the job loop of every `mcs-erp worker` (workers/arq_worker.py), for the default tenant and
every active registered one (sequence_tenants): a task and not an arq job, since a worker runs one job at a time
(max_jobs=1) and integration must not wait behind a payroll run. Several
sequencers may run; the tree's lock lets one integrate at a time and the others skip the round
(domain/kernel/audit.py). Each round: integrate batch after batch until nothing is pending (each batch its own
transaction), then, if audit_key_file is set and audit_checkpoint_seconds have passed since the newest checkpoint
and the tree grew, sign one and append it to the checkpoint sink.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from domain.kernel import audit
from domain.kernel.clock import utcnow
from domain.kernel.settings import Settings
from domain.kernel.tenants import current_tenant, tenant_in_use
from tools.runtime import Runtime
from workers.tenancy import served_tenants, tenants_with

log = logging.getLogger(__name__)
MAX_BATCHES_PER_ROUND = 2000
"""A round integrates at most this many batches (a million entries by default) before it yields to the next."""


@dataclass(frozen=True)
class SequencerRound:
    """What one round did: entries integrated, the tree's size after it, the checkpoint written (or None)."""

    integrated: int
    size: int
    checkpoint: audit.Checkpoint | None


def checkpoint_sink(settings: Settings) -> Path | TextIO:
    """Where checkpoints go: stdout for '-', the audit_checkpoint_file path, or '<audit_key_file>.checkpoints'; for
    a tenant other than the default (the one the code runs in), that file name with '.<tenant>' added, since each
    tenant has its own log and tree. Raises audit.AuditKeyError when neither the file nor the key file is set."""
    if settings.audit_checkpoint_file == "-":
        return sys.stdout
    if settings.audit_checkpoint_file:
        path = Path(settings.audit_checkpoint_file).expanduser()
    elif settings.audit_key_file is None:
        raise audit.AuditKeyError("no audit key: set MCS_ERP_AUDIT_KEY_FILE (create the key with `mcs-erp audit "
                                  "keygen`); checkpoints go beside it unless MCS_ERP_AUDIT_CHECKPOINT_FILE says where")
    else:
        key = Path(settings.audit_key_file).expanduser()
        path = key.with_name(key.name + ".checkpoints")
    tenant = current_tenant()
    return path if tenant is None else path.with_name(f"{path.name}.{tenant}")


SEQUENCER_BATCH = 500
"""Entries one of the sequencer's transactions integrates: small, so that the write transactions of the process it
runs in (a worker's job heartbeats; on SQLite one write connection a process) wait for it a few milliseconds, not
the second a backlog of thousands took."""


async def integrate_all(runtime: Runtime, *, batch: int = SEQUENCER_BATCH) -> tuple[int, int]:
    """Integrate every entry committed so far, one transaction per `batch`; return (integrated, tree size). Stops
    early when another sequencer holds the tree (it integrates them) or after MAX_BATCHES_PER_ROUND batches, and
    lets the event loop run other tasks between batches."""
    total, size = 0, 0
    for _ in range(MAX_BATCHES_PER_ROUND):
        async with runtime.db.read() as session:  # a write transaction (SQLite: the write lock) only when needed
            if not await audit.has_pending(session):
                tree = await session.get(audit.AuditTree, 1)
                size = tree.size if tree is not None else 0
                break
        async with runtime.db.write() as session:
            done = await audit.integrate_pending(session, limit=batch)
        total += done.integrated
        size = done.size
        if done.skipped or done.integrated < batch:
            break
        await asyncio.sleep(0)
    return total, size


async def write_checkpoint_now(runtime: Runtime, sink: Path | TextIO | None = None) -> audit.Checkpoint:
    """Sign a checkpoint of the tree as it is now, append it to `sink` (default: checkpoint_sink) and record it
    as the newest. Raises audit.AuditKeyError without a usable key file or sink."""
    settings = runtime.settings
    if settings.audit_key_file is None:
        raise audit.AuditKeyError("no audit key: set MCS_ERP_AUDIT_KEY_FILE (create the key with `mcs-erp audit "
                                  "keygen`)")
    key = audit.load_signing_key(settings.audit_key_file)
    target = checkpoint_sink(settings) if sink is None else sink
    async with runtime.db.write() as session:
        checkpoint = await audit.make_checkpoint(session, key)
        audit.write_checkpoint(checkpoint, target)  # before the commit: a recorded checkpoint was written
    return checkpoint


async def _checkpoint_due(runtime: Runtime) -> bool:
    every = runtime.settings.audit_checkpoint_seconds
    if every <= 0 or runtime.settings.audit_key_file is None:
        return False
    async with runtime.db.read() as session:
        tree = await session.get(audit.AuditTree, 1)
    if tree is None or (tree.checkpoint is not None and tree.checkpoint_size == tree.size):
        return False
    return tree.checkpoint_at is None or utcnow() - tree.checkpoint_at >= timedelta(seconds=every)


async def sequence_once(runtime: Runtime) -> SequencerRound:
    """One round: integrate what is pending, then write a checkpoint if one is due."""
    integrated, size = await integrate_all(runtime)
    checkpoint = await write_checkpoint_now(runtime) if await _checkpoint_due(runtime) else None
    return SequencerRound(integrated, size, checkpoint)


PENDING = "leaf_index IS NULL"  # an entry to integrate (the partial index ix_audit_log_pending answers it)
UNCHECKPOINTED = "checkpoint IS NULL OR checkpoint_size <> size"  # a tree grown since its newest checkpoint


async def sequence_tenants(runtime: Runtime) -> dict[str | None, SequencerRound]:
    """One round for each tenant this process serves (workers.tenancy.served_tenants) that has something to do, in
    turn: entries to integrate, or, when checkpoints are on (audit_key_file, audit_checkpoint_seconds), a tree grown
    since its newest checkpoint (workers.tenancy.tenants_with finds them: one statement per cluster on PostgreSQL).
    Each tenant's log, tree and checkpoint file are its own. The rounds by tenant code (None: the default), of the
    tenants served."""
    codes = await served_tenants(runtime)
    busy = set(await tenants_with(runtime, codes, "audit_log", PENDING))
    settings = runtime.settings
    if settings.audit_checkpoint_seconds > 0 and settings.audit_key_file is not None:
        busy.update(await tenants_with(runtime, [c for c in codes if c not in busy], "audit_tree", UNCHECKPOINTED))
    rounds = {}
    for code in codes:
        if code in busy:
            with tenant_in_use(code):
                rounds[code] = await sequence_once(runtime)
    return rounds


async def sequencer_loop(runtime: Runtime, *, every: float | None = None) -> None:
    """Run rounds every `every` seconds (audit_sequencer_seconds) until cancelled; a failed round is logged (once
    while it keeps failing the same way) and the next one tries again (a database outage, a missing key file)."""
    every = runtime.settings.audit_sequencer_seconds if every is None else every
    last_error = None
    while True:
        try:
            await sequence_tenants(runtime)
            last_error = None
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the same failure round after round is logged once, with its traceback
            if repr(exc) != last_error:
                log.exception("audit sequencer round failed; retrying every %.1f s", every)
            last_error = repr(exc)
        await asyncio.sleep(every)


def start_sequencer(runtime: Runtime) -> asyncio.Task[None]:
    """Start sequencer_loop as a task of this process (cancel it to stop)."""
    return asyncio.create_task(sequencer_loop(runtime), name="mcs-erp-audit-sequencer")


async def stop_sequencer(task: asyncio.Task[None] | None) -> None:
    """Cancel a task start_sequencer made and wait for it to end."""
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
