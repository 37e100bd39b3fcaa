"""The audit log v2 (domain/kernel/audit.py): writers share no lock, the sequencer integrates committed entries into
the Merkle tree, and signed checkpoints catch the forgeries of issue 19: a re-hashed edit, a truncated tail with the
state moved back, re-ordered entries; `verify` names where.

Each test works on its own fresh database (tests.conftest.fresh_database_url, server.cli.prepare_database);
PostgreSQL databases are dropped at the end. The attacker re-hashes with the project's own functions
(entry_leaf_hash, merkle.Frontier), as the issue's did with `_entry_hash`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from domain.kernel import audit, merkle
from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.audit import AuditEntry, AuditTree, append_audit, entry_leaf_hash, verify_audit_log
from domain.kernel.errors import InvalidInput
from domain.kernel.settings import Settings
from server.cli import prepare_database
from tests.conftest import TEMPLATES, drop_pg_database, fresh_database_url
from tests.factories import make_school
from tools.invoke import invoke
from tools.runtime import Runtime
from workers.audit_sequencer import integrate_all, sequence_once, write_checkpoint_now

CLERK = Actor(id=7, username="clerk", roles=frozenset({Role.REGISTRAR}), channel=Channel.CLI)


async def _prepare(url: str) -> None:
    runtime = Runtime.create(Settings(database_url=url))
    try:
        await prepare_database(runtime)
    finally:
        await runtime.close()


@pytest.fixture
async def fresh_runtime(tmp_path) -> AsyncIterator[Runtime]:
    url, pg_name = await fresh_database_url(tmp_path)
    key = tmp_path / "audit.pem"
    audit.generate_key_file(key)
    await TEMPLATES.fill("audit-v2", url, _prepare)  # migrated once per test process, then copied
    runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0, audit_key_file=key,
                                      audit_checkpoint_file=str(tmp_path / "checkpoints.jsonl")))
    yield runtime
    await runtime.close()
    if pg_name:
        await drop_pg_database(pg_name)


async def _append(runtime: Runtime, count: int, *, start: int = 0) -> list[int]:
    """Append `count` entries, each in its own transaction, and return their ids (set at commit)."""
    ids = []
    for n in range(start, start + count):
        async with runtime.db.write() as s:
            entry = await append_audit(s, CLERK, tool="record_grade", event="write",
                                       arguments={"assessment_id": 1, "student_id": n, "score": 50 + n},
                                       entity="grades", entity_id=100 + n, after={"score": 50 + n})
            assert entry.id is None  # inserted when the transaction commits
        ids.append(entry.id)
    return ids


def _checkpoints(runtime: Runtime) -> list[audit.Checkpoint]:
    path = Path(runtime.settings.audit_checkpoint_file)
    return audit.read_checkpoints(path) if path.exists() else []


def _public_key(runtime: Runtime):
    return audit.load_public_key(Path(str(runtime.settings.audit_key_file) + ".pub"))


async def _verify(runtime: Runtime, *, checkpoints: bool = True) -> audit.AuditVerification:
    async with runtime.db.read() as s:
        return await verify_audit_log(s, checkpoints=_checkpoints(runtime) if checkpoints else [],
                                      public_key=_public_key(runtime))


async def _sql(runtime: Runtime, statement: str, **params: Any) -> None:
    async with runtime.db.write() as s:
        await (await s.connection()).execute(text(statement), params)


async def _rehash(runtime: Runtime) -> None:
    """What an attacker with database access does after a forgery: recompute every stored leaf hash from the rows
    and the tree state from those leaves, with the project's own functions."""
    async with runtime.db.write() as s:
        rows = (await s.exec(select(AuditEntry).where(AuditEntry.leaf_index.is_not(None))
                             .order_by(AuditEntry.leaf_index))).all()
        frontier = merkle.Frontier()
        for row in rows:
            row.leaf_hash = entry_leaf_hash(row)
            frontier.append(bytes.fromhex(row.leaf_hash))
            s.add(row)
        tree = await s.get(AuditTree, 1)
        tree.size, tree.root = frontier.size, frontier.root().hex()
        tree.frontier = json.dumps([h.hex() for h in frontier.hashes])
        s.add(tree)


async def _integrated(runtime: Runtime) -> list[AuditEntry]:
    async with runtime.db.read() as s:
        return list((await s.exec(select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_entries_are_integrated_after_commit_into_an_rfc_9162_tree(fresh_runtime):
    runtime = fresh_runtime
    empty = await _verify(runtime)
    assert empty.ok and empty.rows == 0 and empty.tree_size == 0
    ids = await _append(runtime, 4)
    school = await make_school(runtime, students=1)
    await invoke(runtime, "record_grade", {"assessment_id": school.assessment_id,
                                           "student_id": school.student_ids[0], "score": 61}, school.teacher)
    before = await _verify(runtime)
    assert before.ok and before.pending >= 5 and before.tree_size == 0, "not integrated yet: counted, not verified"
    integrated, size = await integrate_all(runtime)
    assert integrated == size >= 5
    rows = await _integrated(runtime)
    assert [r.leaf_index for r in rows] == list(range(len(rows))), "positions follow commit (here id) order"
    assert rows[0].id == ids[0] and rows[-1].tool == "record_grade"
    assert all(r.leaf_hash == entry_leaf_hash(r) for r in rows)
    async with runtime.db.read() as s:
        tree = await s.get(AuditTree, 1)
    leaves = [merkle.leaf_hash(audit.leaf_data(r)) for r in rows]
    assert (tree.size, tree.root) == (len(rows), merkle.root(leaves).hex())
    result = await _verify(runtime)
    assert result.ok and result.rows == len(rows) and result.pending == 0
    assert (await integrate_all(runtime)) == (0, len(rows)), "nothing integrated twice"


async def test_a_rolled_back_transaction_appends_nothing_and_one_transaction_keeps_its_order(fresh_runtime):
    with pytest.raises(RuntimeError):
        async with fresh_runtime.db.write() as s:
            await append_audit(s, CLERK, tool="record_grade", event="write", arguments={"n": 0})
            raise RuntimeError("the write fails after its audit entry was appended")
    async with fresh_runtime.db.write() as s:
        first = await append_audit(s, CLERK, tool="first", event="write", arguments={"n": 1})
        second = await append_audit(s, CLERK, tool="second", event="write", arguments={"n": 2})
    assert second.id == first.id + 1
    await integrate_all(fresh_runtime)
    rows = await _integrated(fresh_runtime)
    assert [(r.tool, r.leaf_index) for r in rows] == [("first", 0), ("second", 1)]


async def test_an_edit_that_leaves_the_hashes_is_named_without_a_checkpoint(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 5)
    await integrate_all(runtime)
    await _sql(runtime, 'UPDATE audit_log SET "event" = :e WHERE id = :id', e="approved", id=ids[2])
    result = await _verify(runtime, checkpoints=False)
    assert not result.ok and result.bad_id == ids[2] and result.rows == 2
    assert f"audit row {ids[2]}: its content does not match" in result.problem and "edited" in result.problem


async def test_a_rehashed_edit_passes_the_database_alone_but_not_an_earlier_checkpoint(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 6)
    await integrate_all(runtime)
    await write_checkpoint_now(runtime)
    ids += await _append(runtime, 3, start=6)
    await integrate_all(runtime)
    await write_checkpoint_now(runtime)
    assert (await _verify(runtime)).ok

    await _sql(runtime, "UPDATE audit_log SET actor_username = 'someone-else' WHERE id = :id", id=ids[3])
    await _rehash(runtime)
    alone = await _verify(runtime, checkpoints=False)
    assert alone.ok, "against its own stored hashes a re-hashed edit is invisible: that is the attack"
    caught = await _verify(runtime)
    assert not caught.ok and caught.bad_id == ids[3] and caught.bad_positions == (3, 3)
    assert f"audit row {ids[3]} (position 3) differs from what checkpoint 1 signed" in caught.problem


async def test_without_signed_leaves_the_subtrees_bound_the_first_difference(fresh_runtime, monkeypatch):
    """A checkpoint taken after many entries carries only its subtrees: verify names the range of positions
    between what the checkpoints prove intact and the first subtree that differs."""
    runtime = fresh_runtime
    monkeypatch.setattr(audit, "CHECKPOINT_LEAVES", 0)
    ids = await _append(runtime, 6)
    await integrate_all(runtime)
    await write_checkpoint_now(runtime)  # size 6: subtrees [0, 4) and [4, 6)
    await _sql(runtime, "UPDATE audit_log SET arguments = '{}' WHERE id = :id", id=ids[5])
    await _rehash(runtime)
    result = await _verify(runtime)
    assert not result.ok and result.bad_positions == (4, 5) and result.bad_id is None
    assert f"one of positions 4 to 5 (audit rows {ids[4]} to {ids[5]})" in result.problem


async def test_a_truncated_tail_with_the_state_moved_back_is_named(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 8)
    await integrate_all(runtime)
    await write_checkpoint_now(runtime)
    await _sql(runtime, "DELETE FROM audit_log WHERE id >= :id", id=ids[3])
    alone = await _verify(runtime, checkpoints=False)
    assert not alone.ok and "tree state records 8 entries" in alone.problem
    await _rehash(runtime)  # the state moved back to the 3 entries left
    assert (await _verify(runtime, checkpoints=False)).ok
    caught = await _verify(runtime)
    assert not caught.ok and caught.bad_positions == (3, 7)
    assert "covers 8 entries but the tree holds 3: positions 3 to 7 are missing" in caught.problem


async def test_reordered_entries_are_named(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 5)
    await integrate_all(runtime)
    await write_checkpoint_now(runtime)
    # swap the positions of entries 1 and 3 (through a free position: they are unique)
    await _sql(runtime, "UPDATE audit_log SET leaf_index = 1000 WHERE id = :id", id=ids[1])
    await _sql(runtime, "UPDATE audit_log SET leaf_index = 1 WHERE id = :id", id=ids[3])
    await _sql(runtime, "UPDATE audit_log SET leaf_index = 3 WHERE id = :id", id=ids[1])
    await _rehash(runtime)
    assert (await _verify(runtime, checkpoints=False)).ok
    caught = await _verify(runtime)
    assert not caught.ok and caught.bad_positions == (1, 1) and caught.bad_id == ids[3]


async def test_a_deleted_middle_entry_is_a_gap(fresh_runtime):
    runtime = fresh_runtime
    ids = await _append(runtime, 5)
    await integrate_all(runtime)
    await _sql(runtime, "DELETE FROM audit_log WHERE id = :id", id=ids[2])
    result = await _verify(runtime, checkpoints=False)
    assert not result.ok and result.bad_positions == (2, 2)
    assert f"positions 2 to 2 are missing" in result.problem and f"audit row {ids[3]}" in result.problem


async def test_a_checkpoint_signed_by_another_key_or_altered_fails(fresh_runtime, tmp_path):
    runtime = fresh_runtime
    await _append(runtime, 3)
    await integrate_all(runtime)
    checkpoint = await write_checkpoint_now(runtime)
    other = tmp_path / "other.pem"
    audit.generate_key_file(other)
    key = audit.load_signing_key(other)
    unsigned = audit.Checkpoint(tree_size=checkpoint.tree_size, root=checkpoint.root, time=checkpoint.time,
                                subtrees=checkpoint.subtrees, key_id=checkpoint.key_id, signature="")
    forged = audit._signed(unsigned, base64.b64encode(key.sign(unsigned.signed_bytes())).decode())
    assert checkpoint.signature_ok(_public_key(runtime)) and not forged.signature_ok(_public_key(runtime))
    async with runtime.db.read() as s:
        result = await verify_audit_log(s, checkpoints=[forged], public_key=_public_key(runtime))
    assert not result.ok and "signature does not verify" in result.problem
    line = json.loads(checkpoint.line())
    line["tree_size"] = 2
    with pytest.raises(InvalidInput, match="subtrees"):
        audit.parse_checkpoint(json.dumps(line))


async def test_a_sequencer_killed_mid_integration_loses_nothing_and_integrates_nothing_twice(fresh_runtime,
                                                                                            monkeypatch):
    runtime = fresh_runtime
    ids = await _append(runtime, 7)
    async with runtime.db.write() as s:  # a first batch goes through
        assert (await audit.integrate_pending(s, limit=3)).integrated == 3

    def killed() -> None:
        raise SystemExit("the sequencer's process dies between assigning positions and storing them")

    monkeypatch.setattr(audit, "_integration_fault", killed)
    with pytest.raises(SystemExit):
        async with runtime.db.write() as s:
            await audit.integrate_pending(s, limit=3)
    rows = await _integrated(runtime)
    assert [r.leaf_index for r in rows] == [0, 1, 2, None, None, None, None], "the killed batch left no trace"
    async with runtime.db.read() as s:
        assert (await s.get(AuditTree, 1)).size == 3
    monkeypatch.setattr(audit, "_integration_fault", lambda: None)
    assert await integrate_all(runtime) == (4, 7)
    rows = await _integrated(runtime)
    assert [r.id for r in rows] == ids and [r.leaf_index for r in rows] == list(range(7))
    assert (await _verify(runtime)).ok


async def test_concurrent_writers_and_sequencers_leave_no_gap_and_no_duplicate(fresh_runtime):
    runtime = fresh_runtime
    writers, each = 12, 4

    async def writer(w: int) -> list[int]:
        ids = []
        for n in range(each):
            async with runtime.db.write() as s:
                entry = await append_audit(s, CLERK, tool="concurrent", event="write", arguments={"w": w, "n": n})
                if n % 2:  # two entries in one transaction now and then
                    await append_audit(s, CLERK, tool="concurrent", event="write", arguments={"w": w, "n": -n})
            ids.append(entry.id)
        return ids

    async def sequencer() -> None:
        for _ in range(10):
            await sequence_once(runtime)
            await asyncio.sleep(0)

    results = await asyncio.gather(*(writer(w) for w in range(writers)), sequencer(), sequencer())
    await integrate_all(runtime)
    rows = await _integrated(runtime)
    assert len(rows) == writers * each * 3 // 2
    assert sorted(r.leaf_index for r in rows) == list(range(len(rows))), "no gap, no duplicate"
    assert {i for ids in results[:writers] for i in ids} <= {r.id for r in rows}
    by_tx: dict[tuple[int, int], dict[int, int]] = {}
    for r in rows:  # the two entries of one transaction keep their order (others' entries may come between)
        args = json.loads(r.arguments)
        by_tx.setdefault((args["w"], abs(args["n"])), {})[args["n"]] = r.leaf_index
    assert all(tx[n] < tx[-n] for (_, n), tx in by_tx.items() if n % 2)
    assert (await _verify(runtime)).ok


async def test_scheduled_checkpoints_and_the_cli(fresh_runtime, tmp_path, monkeypatch):
    """keygen refuses to overwrite and makes a 0600 key; `audit checkpoint` and `audit verify --checkpoints`
    round-trip through the CLI; verify exits 1 naming the entry after a re-hashed edit."""
    from typer.testing import CliRunner

    from server.cli import app

    runtime = fresh_runtime
    key = Path(runtime.settings.audit_key_file)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    with pytest.raises(audit.AuditKeyError, match="refusing to overwrite"):
        audit.generate_key_file(key)
    ids = await _append(runtime, 3)
    runtime.settings.audit_checkpoint_seconds = 60
    first = await sequence_once(runtime)
    assert first.integrated == 3 and first.checkpoint is not None and first.checkpoint.tree_size == 3
    assert (await sequence_once(runtime)).checkpoint is None, "not due: nothing new"
    env = {name: None for name in os.environ if name.startswith("MCS_ERP_")}
    env.update({"MCS_ERP_DATABASE_URL": runtime.settings.database_url, "MCS_ERP_AUDIT_KEY_FILE": str(key),
                "MCS_ERP_AUDIT_CHECKPOINT_FILE": runtime.settings.audit_checkpoint_file})

    def cli(*args: str):
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

    assert (await asyncio.to_thread(cli, "audit", "keygen")).exit_code == 1
    await _append(runtime, 2, start=3)
    made = await asyncio.to_thread(cli, "audit", "checkpoint")
    assert made.exit_code == 0, made.output
    assert [c.tree_size for c in _checkpoints(runtime)] == [3, 5]
    printed = await asyncio.to_thread(cli, "audit", "checkpoint", "--stdout")
    assert audit.parse_checkpoint(printed.stdout.strip()).tree_size == 5
    file = runtime.settings.audit_checkpoint_file
    ok = await asyncio.to_thread(cli, "audit", "verify", "--checkpoints", file, "--public-key", f"{key}.pub")
    assert ok.exit_code == 0 and "5 entries verified and consistent with 2 checkpoint(s)" in ok.stdout
    await _sql(runtime, "UPDATE audit_log SET tool = 'other' WHERE id = :id", id=ids[1])
    await _rehash(runtime)
    assert (await asyncio.to_thread(cli, "audit", "verify")).exit_code == 0
    broken = await asyncio.to_thread(cli, "audit", "verify", "--checkpoints", file)
    assert broken.exit_code == 1 and f"audit row {ids[1]} (position 1)" in broken.stderr


async def test_many_entries_in_one_transaction_get_consecutive_ids_and_positions(fresh_runtime):
    """Above COPY_FROM entries PostgreSQL inserts them with COPY."""
    async with fresh_runtime.db.write() as s:
        entries = [await append_audit(s, CLERK, tool="payroll", event="write", arguments={"n": n})
                   for n in range(audit.COPY_FROM + 5)]
    assert [e.id for e in entries] == list(range(entries[0].id, entries[0].id + len(entries)))
    await integrate_all(fresh_runtime)
    assert (await _verify(fresh_runtime)).ok and (await _verify(fresh_runtime)).rows == len(entries)


KILLED_SEQUENCER = """
import asyncio, os, signal, sys
from domain.kernel import audit
from domain.kernel.settings import Settings
from tools.runtime import Runtime
from workers.audit_sequencer import integrate_all

def die():  # SIGKILL: no exception handler, no rollback from this side, no clean-up
    os.kill(os.getpid(), signal.SIGKILL)

audit._integration_fault = die
asyncio.run(integrate_all(Runtime.create(Settings(database_url=sys.argv[1]))))
"""


async def test_a_sequencer_process_killed_mid_integration_loses_nothing(fresh_runtime):
    """The process is SIGKILLed after assigning positions, before storing them: the database rolls its open
    transaction back, and the next sequencer integrates every entry once."""
    runtime = fresh_runtime
    ids = await _append(runtime, 4)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", KILLED_SEQUENCER, runtime.settings.database_url,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-2000:]
    assert [r.leaf_index for r in await _integrated(runtime)] == [None] * 4
    assert await integrate_all(runtime) == (4, 4)
    rows = await _integrated(runtime)
    assert [r.id for r in rows] == ids and [r.leaf_index for r in rows] == [0, 1, 2, 3]
    assert (await _verify(runtime)).ok


async def test_list_audit_events_shows_the_newest_checkpoint_and_whether_it_verifies(fresh_runtime):
    runtime = fresh_runtime
    admin = Actor(id=1, username="admin", roles=frozenset({Role.ADMIN}), channel=Channel.CLI)
    ids = await _append(runtime, 3)
    none_yet = (await invoke(runtime, "list_audit_events", {}, admin)).chain
    assert none_yet.checkpoint is None and none_yet.verified is True and none_yet.pending == 3
    await integrate_all(runtime)
    checkpoint = await write_checkpoint_now(runtime)
    chain = (await invoke(runtime, "list_audit_events", {}, admin)).chain
    assert chain.checkpoint.tree_size == 3 and chain.checkpoint.root == checkpoint.root
    assert chain.checkpoint_signature is True and chain.verified is True and chain.rows_checked == 3
    await _sql(runtime, "UPDATE audit_log SET actor_username = 'nobody' WHERE id = :id", id=ids[0])
    await _rehash(runtime)
    forged = (await invoke(runtime, "list_audit_events", {}, admin)).chain
    assert forged.verified is False and forged.bad_event_id == ids[0] and "checkpoint 1" in forged.problem


async def test_every_position_of_a_rehashed_edit_is_named_exactly(fresh_runtime, monkeypatch):
    """With a checkpoint after each entry, even without signed leaves, consecutive checkpoints pin the first
    entry that differs to one position: for each position in turn, edit it, re-hash, verify, restore."""
    runtime = fresh_runtime
    monkeypatch.setattr(audit, "CHECKPOINT_LEAVES", 0)
    ids = []
    for n in range(7):
        ids += await _append(runtime, 1, start=n)
        await integrate_all(runtime)
        await write_checkpoint_now(runtime)
    for position, row_id in enumerate(ids):
        await _sql(runtime, "UPDATE audit_log SET entity_id = entity_id + 1000 WHERE id = :id", id=row_id)
        await _rehash(runtime)
        result = await _verify(runtime)
        assert not result.ok and result.bad_positions == (position, position) and result.bad_id == row_id, \
            result.problem
        await _sql(runtime, "UPDATE audit_log SET entity_id = entity_id - 1000 WHERE id = :id", id=row_id)
        await _rehash(runtime)
    assert (await _verify(runtime)).ok
