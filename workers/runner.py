"""The two job runners: asyncio tasks in the server process (embedded default) and arq on Redis.

Both are handed a job id after the transaction that created the job committed, and both are idempotent per
id: the in-process runner keeps one task per id, arq gets `_job_id` so a duplicate enqueue is refused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from domain.jobs import repository as jobs_repo
from domain.jobs import service as jobs
from domain.kernel.tenants import current_tenant, tenant_in_use
from tools.runtime import JobRunner, Runtime
from workers.audit_sequencer import start_sequencer, stop_sequencer
from workers.execute import execute_job, process_identity
from workers.recovery import (RUN_JOB, arq_job_id, orphaned_job_ids, recovery_loop,
                              tenants_with_unfinished_jobs)
from workers.notifications import Sender, start_sender, stop_sender
from workers.relay import start_server_relay
from workers.run_feed import connect_feed

if TYPE_CHECKING:  # arq (with redis) is imported by the runner that uses it: the embedded default has no Redis
    from arq.connections import ArqRedis

__all__ = ["DEFAULT_QUEUE", "ArqRunner", "InProcessRunner", "JobRunner", "arq_job_id", "runner_for"]

log = logging.getLogger(__name__)
DEFAULT_QUEUE = "mcs-erp:jobs"
ENQUEUE_TIMEOUT_S = 5.0  # the longest a job's enqueue waits for Redis: a stalled Redis must not hang the call


class InProcessRunner:
    """Run each job as an asyncio task of this process, recorded as run by "server:HOST:PID"; used when
    MCS_ERP_REDIS_URL is not set."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime
        self._tasks: dict[tuple[str | None, int], asyncio.Task[str]] = {}  # by (tenant, job id)
        self._recovery: asyncio.Task[None] | None = None
        self._sequencer: asyncio.Task[None] | None = None
        self._relay: Any = None
        self._sender: Sender | None = None

    async def start(self, *, serving: bool = False) -> None:
        """In a server process (`serving`), run orphaned jobs (their server process died) again, now and every
        heartbeat, and run the audit sequencer (workers/audit_sequencer.py: no worker does it on the embedded
        default), the outbox relay (workers/relay.py) and the notification sender (workers/notifications.py); a
        one-shot CLI command leaves them to the server."""
        if serving and self._recovery is None:
            self._recovery = asyncio.create_task(
                recovery_loop(self.runtime.settings.job_heartbeat_seconds, self._recover), name="mcs-erp-recovery")
            self._sequencer = start_sequencer(self.runtime)
            self._relay = await start_server_relay(self.runtime)
            self._sender = start_sender(self.runtime)

    async def _recover(self) -> list[int]:
        ids: list[int] = []
        for code in await tenants_with_unfinished_jobs(self.runtime):
            with tenant_in_use(code):
                found = [i for i in await orphaned_job_ids(self.runtime) if i not in self.active()]
                for job_id in found:
                    await self.enqueue(job_id)
            ids.extend(found)
        return ids

    async def enqueue(self, job_id: int) -> None:
        """Start job `job_id` of the context's tenant in a task unless a task for it is still running."""
        key = (current_tenant(), job_id)
        task = self._tasks.get(key)
        if task is not None and not task.done():
            return
        # Named at enqueue, not in __init__: a server forked after building its runtime has another pid.
        task = asyncio.create_task(execute_job(self.runtime, job_id, worker=process_identity("server"),
                                               tenant=key[0]),
                                   name=f"mcs-erp-job-{job_id}" + (f"@{key[0]}" if key[0] else ""))
        self._tasks[key] = task
        task.add_done_callback(lambda t, k=key: self._forget(k, t))

    def _forget(self, key: tuple[str | None, int], task: asyncio.Task[str]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("job %s of tenant %s crashed its task", key[1], key[0] or "(default)",
                      exc_info=task.exception())

    async def join(self, job_id: int) -> None:
        """Wait until the task running job `job_id` of the context's tenant (if any) has ended."""
        task = self._tasks.get((current_tenant(), job_id))
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def active(self) -> set[int]:
        """Ids of the jobs of the context's tenant whose task is running now."""
        tenant = current_tenant()
        return {job_id for (of, job_id), task in self._tasks.items() if of == tenant and not task.done()}

    async def stop(self) -> None:
        """Cancel running tasks; their jobs are marked failed (nothing would ever resume them in-process)."""
        if self._recovery is not None:
            self._recovery.cancel()
            await asyncio.gather(self._recovery, return_exceptions=True)
            self._recovery = None
        await stop_sequencer(self._sequencer)
        self._sequencer = None
        await stop_sender(self._sender)
        self._sender = None
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for tenant, job_id in tasks:
            try:
                with tenant_in_use(tenant):
                    async with self.runtime.db.write() as session:
                        job = await jobs_repo.get_job(session, job_id)
                        if job is not None and not job.is_final:
                            await jobs.fail(session, job_id=job_id, error="the server stopped while this job ran; "
                                                                          "start it again")
            except Exception:  # shutting down: the database may already be gone
                log.warning("could not mark job %s failed at shutdown", job_id, exc_info=True)


class ArqRunner:
    """Enqueue jobs on Redis for `mcs-erp worker` processes (arq); used when MCS_ERP_REDIS_URL is set."""

    def __init__(self, redis_url: str, *, queue_name: str = DEFAULT_QUEUE, runtime: Runtime | None = None):
        from arq.connections import RedisSettings

        self.redis_settings = RedisSettings.from_dsn(redis_url)
        self.queue_name = queue_name
        self._pool: ArqRedis | None = None
        self.runtime = runtime  # given: a serving process also publishes its outbox to Redis (workers/relay.py)
        self._relay: Any = None

    async def start(self, *, serving: bool = False) -> None:
        """Open the Redis pool (also done by the first enqueue); orphaned jobs are the workers' to recover."""
        if self._pool is None:
            from arq.connections import create_pool

            self._pool = await create_pool(self.redis_settings, default_queue_name=self.queue_name)
        if serving and self.runtime is not None and self._relay is None:
            self._relay = await start_server_relay(self.runtime, self._pool)

    async def enqueue(self, job_id: int) -> None:
        """Enqueue `run_job(job_id[, tenant])` (the context's tenant, if any: the worker runs the job in it); arq
        ignores it while the same job id of the same tenant is queued or its result is kept.

        Bounded: when Redis has not taken the job within ENQUEUE_TIMEOUT_S (connecting included), raises redis'
        TimeoutError, as it raises its ConnectionError when Redis refuses; a unit of work reports either as
        ServiceUnavailable (domain.kernel.db), and the job, committed, stays queued for the recovery.
        """
        try:
            await asyncio.wait_for(self._enqueue(job_id), ENQUEUE_TIMEOUT_S)
        except TimeoutError as exc:
            from redis.exceptions import TimeoutError as RedisTimeoutError

            raise RedisTimeoutError(f"Redis did not take job {job_id} within {ENQUEUE_TIMEOUT_S:g} s") from exc

    async def _enqueue(self, job_id: int) -> None:
        await self.start()
        assert self._pool is not None
        tenant = current_tenant()
        args = (job_id,) if tenant is None else (job_id, tenant)
        await self._pool.enqueue_job(RUN_JOB, *args, _job_id=arq_job_id(self.queue_name, job_id, tenant),
                                     _queue_name=self.queue_name)

    async def stop(self) -> None:
        """Close the Redis pool."""
        if self._relay is not None:
            await self._relay.stop()
            self._relay = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.aclose()


def runner_for(runtime: Runtime) -> JobRunner:
    """Return arq when the runtime's settings name a Redis, the in-process runner otherwise. With arq, the
    runtime's run feed is also carried over Redis pub/sub (workers/run_feed.py), so a run's followers in this
    process wake when a worker commits a change of it."""
    url = runtime.settings.redis_url
    if not url:
        return InProcessRunner(runtime)
    connect_feed(runtime.runs, url, runtime.settings.queue_name)
    return ArqRunner(url, queue_name=runtime.settings.queue_name, runtime=runtime)
