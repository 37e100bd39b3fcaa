"""A job starts as soon as it is handed over, and the first job of a kind loads only what that kind needs.

The first job of a stdio session used to wait seconds: the runner imported every handler module before claiming
it, and with them the model SDKs, OR-Tools and fpdf2, while the event loop answered nothing. Now each kind's
handler module is imported at its first job, heavy libraries load where they are used, and the in-process runner
starts a job the moment the transaction that created it commits (a wake-up, not a poll).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from domain.jobs import service as jobs
from domain.kernel.actor import SYSTEM_ACTOR
from tests.conftest import own_runtime
from tools.invoke import invoke
from workers.handlers import HANDLER_MODULES, register, unregister

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("anthropic", "openai", "fpdf", "fontTools", "ortools", "pandas", "numpy", "jinja2")

# Run in a fresh interpreter: load what a server loads before its first job (the CLI and the whole catalogue),
# then look up each kind's handler in turn (the solver's last: it is the one that needs OR-Tools), recording the
# handler modules and heavy libraries each lookup imported.
PROBE = f"""
import json, sys
HEAVY = {HEAVY!r}
import server.cli
from tools.modules import all_modules
all_modules()
from workers.handlers import HANDLER_MODULES, get_handler
handler_modules = set(HANDLER_MODULES.values())
report = {{"server": sorted(h for h in HEAVY if h in sys.modules), "kinds": {{}}}}
for kind in sorted(HANDLER_MODULES, key=lambda k: (k == "solve_timetable", k)):
    before = set(sys.modules)
    found = get_handler(kind) is not None
    new = set(sys.modules) - before
    report["kinds"][kind] = {{"found": found, "handlers": sorted(new & handler_modules),
                             "heavy": sorted(h for h in HEAVY if h in new)}}
print(json.dumps(report))
"""


def test_a_server_loads_no_heavy_library_and_a_first_job_only_its_own_handler():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["server"] == [], f"imported at start: {report['server']}"
    assert set(report["kinds"]) == set(HANDLER_MODULES)
    for kind, seen in report["kinds"].items():
        assert seen["found"], f"no handler registered by {HANDLER_MODULES[kind]} for {kind}"
        assert set(seen["handlers"]) <= {HANDLER_MODULES[kind]}, (kind, seen)
        # Only the solver needs OR-Tools (with pandas and numpy); documents load fpdf2 when they are drawn, the
        # agent loop its model SDK when a provider is made.
        allowed = {"ortools", "pandas", "numpy"} if kind == "solve_timetable" else set()
        assert set(seen["heavy"]) <= allowed, (kind, seen)
    assert "ortools" in report["kinds"]["solve_timetable"]["heavy"], report  # the probe sees imports


async def test_a_job_starts_when_its_transaction_commits_not_at_a_recovery_poll(tmp_path_factory):
    kind = "test_start_at_once"
    started = asyncio.Event()
    release = asyncio.Event()

    @register(kind)
    async def hold(ctx, job_id, params):
        started.set()
        await release.wait()
        return {"held": True}

    # Heartbeats an hour apart: the runner's recovery round (the only other way a queued job gets started) runs
    # once at start, before the job exists, and not again during this test. So the job can only start through
    # the hand-over after its commit.
    try:
        async with own_runtime(tmp_path_factory, "job-start", in_process_jobs=True,
                               job_heartbeat_seconds=3600) as rt:
            await rt.start(serving=True)
            async with rt.db.write() as session:
                job = await jobs.start_job(session, SYSTEM_ACTOR, kind=kind, params={}, idempotency_key=None,
                                           enqueue=rt.jobs.enqueue)
                job_id = job.id
                assert not started.is_set()  # nothing is handed over before the commit
            await asyncio.wait_for(started.wait(), timeout=60)
            running = await invoke(rt, "get_job", {"job_id": job_id}, SYSTEM_ACTOR)
            assert running.status == "running" and running.attempts == 1, running
            assert running.worker is not None and running.worker.startswith("server:"), running
            release.set()
            await rt.jobs.join(job_id)
            finished = await invoke(rt, "get_job", {"job_id": job_id}, SYSTEM_ACTOR)
            assert finished.status == "succeeded" and finished.result == {"held": True}, finished
    finally:
        release.set()
        unregister(kind)
