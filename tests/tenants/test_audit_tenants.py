"""Each tenant's audit log is integrated and checkpointed by the sequencer of a process serving the default
tenant: every active tenant's entries reach its own tree, and its checkpoints go to its own file (the default's
file name with '.<tenant>'), which `verify` proves against that tenant's log only."""

from __future__ import annotations

from domain.kernel import audit
from domain.kernel.actor import SYSTEM_ACTOR
from domain.kernel.tenants import tenant_in_use
from tests.conftest import BACKEND
from tests.tenants.helpers import tenants_runtime
from workers.audit_sequencer import checkpoint_sink, sequence_tenants


async def _append(runtime, code: str | None, n: int) -> None:
    with tenant_in_use(code):
        async with runtime.db.write() as session:
            for i in range(n):
                await audit.append_audit(session, SYSTEM_ACTOR, tool="test", event="noted",
                                         arguments={"tenant": code, "i": i})


async def test_every_active_tenant_is_integrated_and_checkpointed_in_its_own_file(tmp_path_factory, tmp_path):
    key = tmp_path / "audit.key"
    audit.generate_key_file(key)
    async with tenants_runtime(tmp_path_factory, "audit-tenants", ["north", "south"], audit_key_file=str(key),
                               audit_checkpoint_seconds=1) as runtime:
        await _append(runtime, None, 2)
        await _append(runtime, "north", 3)
        await _append(runtime, "south", 1)
        rounds = await sequence_tenants(runtime)
        assert set(rounds) == {None, "north", "south"}
        sizes = {}
        for code in (None, "north", "south"):
            with tenant_in_use(code):
                async with runtime.db.read() as session:
                    assert not await audit.has_pending(session), code
                    sizes[code] = (await session.get(audit.AuditTree, 1)).size
                assert checkpoint_sink(runtime.settings).name == (
                    "audit.key.checkpoints" if code is None else f"audit.key.checkpoints.{code}")
        assert sizes["north"] - sizes["south"] == 2, sizes  # each tree holds its own tenant's entries only
        for code in ("north", "south"):
            [checkpoint] = audit.read_checkpoints(tmp_path / f"audit.key.checkpoints.{code}")
            assert checkpoint.tree_size == sizes[code]
        again = await sequence_tenants(runtime)
        assert all(r.integrated == 0 and r.checkpoint is None for r in again.values()), "nothing done twice"
        if BACKEND == "postgresql":  # the probe (workers.tenancy.tenants_with) finds nothing to do anywhere
            assert again == {}, again

        public_key = audit.load_signing_key(key).public_key()
        north = audit.read_checkpoints(tmp_path / "audit.key.checkpoints.north")
        for code, holds in (("north", True), ("south", False)):  # north's checkpoint proves north's log only
            with tenant_in_use(code):
                async with runtime.db.read() as session:
                    verified = await audit.verify_audit_log(session, checkpoints=north, public_key=public_key)
            assert verified.ok is holds, (code, verified)


async def test_the_cli_checkpoints_and_verifies_one_tenants_log(tmp_path_factory, tmp_path):
    import asyncio
    import os

    from typer.testing import CliRunner

    from server.cli import app

    key = tmp_path / "audit.key"
    audit.generate_key_file(key)
    async with tenants_runtime(tmp_path_factory, "audit-cli-tenants", ["north", "south"]) as runtime:
        await _append(runtime, "north", 4)
        await _append(runtime, "south", 2)
        env = {name: None for name in os.environ if name.startswith("MCS_ERP_")}
        env.update({"MCS_ERP_DATABASE_URL": runtime.settings.database_url, "MCS_ERP_AUDIT_KEY_FILE": str(key)})

        def cli(*args: str):
            return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)

        made = await asyncio.to_thread(cli, "audit", "checkpoint", "--tenant", "north")
        assert made.exit_code == 0, made.output
        [checkpoint] = audit.read_checkpoints(tmp_path / "audit.key.checkpoints.north")
        assert not (tmp_path / "audit.key.checkpoints").exists(), "the default tenant's file is not touched"
        file = str(tmp_path / "audit.key.checkpoints.north")
        ok = await asyncio.to_thread(cli, "audit", "verify", "--tenant", "north", "--checkpoints", file)
        assert ok.exit_code == 0 and f"{checkpoint.tree_size} entries verified" in ok.stdout, ok.output
        other = await asyncio.to_thread(cli, "audit", "verify", "--tenant", "south", "--checkpoints", file)
        assert other.exit_code == 1, other.output
        unknown = await asyncio.to_thread(cli, "audit", "verify", "--tenant", "nowhere")
        assert unknown.exit_code == 1 and "nowhere" in unknown.output
