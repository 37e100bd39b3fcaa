"""The arq worker behind `mcs-erp worker`: takes job ids from Redis and runs them through execute_job.

The runtime (engine, catalogue) is created in `on_startup`, never at import. `run_job` is idempotent: arq may
deliver a job twice, and a job found running after a worker restart is run again from its params.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from arq.connections import RedisSettings
from arq.worker import Worker as ArqWorker
from arq.worker import func, get_kwargs
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from domain.kernel import heap, offload
from domain.kernel.settings import Settings
from domain.kernel.tenants import tenant_in_use
from tools.runtime import Runtime
from workers.audit_sequencer import start_sequencer, stop_sequencer
from workers.execute import execute_job, process_identity, running_here
from workers.handlers import load_handlers
from workers.recovery import recovery_loop, requeue_on_arq, tenants_with_unfinished_jobs
from workers.notifications import start_sender, stop_sender
from workers.relay import start_worker_relay
from workers.runner import DEFAULT_QUEUE, RUN_JOB, runner_for

log = logging.getLogger(__name__)
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)  # redis-py and the socket's
REDIS_RETRY_MAX_S = 2.0  # the longest pause between two polls while Redis does not answer
STARTUP_CONN_RETRIES = 30  # a worker started while Redis is down tries this many times, a second apart, then exits


class Worker(ArqWorker):
    """arq's Worker, made to outlive a Redis outage (a restart, a failover, a dropped connection).

    arq ends its worker on the first Redis error of a poll (its `main` loop does not catch), so a Redis restart
    would stop every `mcs-erp worker`. Here a poll that fails on a Redis connection error is logged once per
    outage and tried again after a pause growing to REDIS_RETRY_MAX_S; redis-py's pool reconnects on the next
    command. Jobs running meanwhile go on (they need the database, not Redis). A claim cut off half way gives
    its job slot back (arq's `start_jobs` would keep it, and with max_jobs=1 the worker would never poll
    again). Queued jobs that Redis lost with its data are handed back by the recovery (workers/recovery.py).
    """

    _down_since: float | None = None

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            now = self.loop.time()
            if self._down_since is None:
                self._down_since = now
                log.warning("Redis does not answer (%s: %s); polling again until it does", type(exc).__name__, exc)
            await asyncio.sleep(min(REDIS_RETRY_MAX_S, 0.1 + (now - self._down_since) / 2))
            return
        if self._down_since is not None:
            log.warning("Redis answers again after %.1f s; taking jobs", self.loop.time() - self._down_since)
            self._down_since = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for job_id in job_ids:
            try:
                await super().start_jobs([job_id])
            except REDIS_DOWN:
                # arq took the slot (semaphore, counter) before its claim's pipeline failed, and made no task
                self.job_counter -= 1
                self.sem.release()
                raise


async def startup(ctx: dict[str, Any]) -> None:
    """Create the worker's runtime unless one was handed in through `ctx` (tests, embedding), name the worker
    ("worker:HOST:PID", unless `ctx` names it), and start handing orphaned jobs (a killed worker's) back to the
    queue (workers/recovery.py), and run the audit sequencer (workers/audit_sequencer.py)."""
    if "runtime" not in ctx:
        ctx["runtime"] = Runtime.create(Settings(), jobs=runner_for)
        ctx["owns_runtime"] = True
    runtime: Runtime = ctx["runtime"]
    ctx.setdefault("worker_name", process_identity("worker"))  # recorded on every job this worker claims
    load_handlers()  # import every handler now, not inside the first job (it blocks the loop while it imports)
    await offload.warm()  # start the compute process now, not inside the first payroll job
    queue = ctx.get("queue_name") or runtime.settings.queue_name
    every = runtime.settings.job_heartbeat_seconds

    async def recover() -> list[int]:  # the default tenant's orphaned jobs and every active tenant's
        ids: list[int] = []
        for code in await tenants_with_unfinished_jobs(runtime):
            with tenant_in_use(code):
                ids += await requeue_on_arq(runtime, ctx["redis"], queue, running_here=running_here(runtime))
        return ids

    # One round before the first poll, so a burst worker sees the jobs it hands back before it finds the queue
    # empty and exits; then a round every heartbeat.
    try:
        await recover()
    except Exception:
        log.exception("orphaned-job recovery failed at start-up; the recovery loop retries")
    ctx["recovery"] = asyncio.create_task(recovery_loop(every, recover, first_after_s=every))
    # The audit sequencer: a task beside the job loop, not an arq cron job, which would wait behind the one job a
    # worker runs at a time (max_jobs=1); several workers' sequencers take turns on the tree's lock.
    ctx["audit_sequencer"] = start_sequencer(runtime)
    # The outbox relay (workers/relay.py): publishes this worker's events and handles the stream's, beside the jobs.
    ctx["event_relay"] = await start_worker_relay(runtime, ctx["redis"], consumer=ctx["worker_name"], queue_name=queue)
    # The notification sender (workers/notifications.py): sends queued emails over SMTP when smtp_host is set.
    ctx["notification_sender"] = start_sender(runtime)
    frozen = heap.freeze_startup_heap()  # what start-up imported and built lives as long as the worker
    log.info("worker %s ready: taking jobs from queue %s (%d start-up objects frozen out of the garbage collector's "
             "scans)", ctx["worker_name"], queue, frozen)


async def shutdown(ctx: dict[str, Any]) -> None:
    """Stop the recovery and the audit sequencer, and dispose the runtime this worker created."""
    await stop_sequencer(ctx.pop("audit_sequencer", None))
    await stop_sender(ctx.pop("notification_sender", None))
    if (relay := ctx.pop("event_relay", None)) is not None:
        await relay.stop()
    recovery = ctx.pop("recovery", None)
    if recovery is not None:
        recovery.cancel()
        await asyncio.gather(recovery, return_exceptions=True)
    if ctx.pop("owns_runtime", False):
        await ctx.pop("runtime").close()


async def run_job(ctx: dict[str, Any], job_id: int, tenant: str | None = None) -> str:
    """Run job `job_id` of `tenant` (None: the default tenant) in that tenant; returns succeeded, failed,
    cancelled or skipped (already done or unknown)."""
    return await execute_job(ctx["runtime"], job_id, worker=ctx.get("worker_name") or process_identity("worker"),
                             tenant=tenant)


class WorkerSettings:
    """arq settings; `redis_settings` comes from MCS_ERP_REDIS_URL (see worker_options).

    `max_jobs = 1` (MCS_ERP_WORKER_MAX_JOBS): a worker runs one job at a time, and more capacity is more workers
    (compose's `deploy.replicas`, more machines); raise it where workers mostly wait (agent runs talk to a model
    and hold no CPU). arq's default of 10 lets the first worker to poll take every job enqueued
    together (a payroll calculation and a timetable solve) and run CPU-bound handlers side by side on one core
    while the other workers wait. With one job each, a busy worker leaves the queue to the idle ones. (A job
    stays in arq's queue while it runs, so `queue_read_limit` must stay above the jobs running.)
    """

    functions: ClassVar[list[Any]] = [func(run_job, name=RUN_JOB)]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = DEFAULT_QUEUE
    max_tries = 3
    job_timeout = 3600
    max_jobs = 1


def worker_options(redis_url: str, *, queue_name: str = DEFAULT_QUEUE, burst: bool = False,
                   max_jobs: int = WorkerSettings.max_jobs) -> dict[str, Any]:
    """The keyword arguments `Worker(**options)` (with WorkerSettings') needs for this Redis and queue; a worker
    started while Redis is down tries STARTUP_CONN_RETRIES times, a second apart, before it gives up."""
    redis_settings = RedisSettings.from_dsn(redis_url)
    redis_settings.conn_retries = STARTUP_CONN_RETRIES
    return {"redis_settings": redis_settings, "queue_name": queue_name, "burst": burst,
            "max_jobs": max_jobs, "ctx": {"queue_name": queue_name}}


def create_worker(redis_url: str, *, queue_name: str = DEFAULT_QUEUE, burst: bool = False,
                  ctx: dict[str, Any] | None = None, handle_signals: bool = True,
                  max_jobs: int = WorkerSettings.max_jobs) -> Worker:
    """Build a Worker (arq's, surviving Redis outages) running `run_job` (tests pass `ctx={"runtime": ...}` and
    burst=True; `mcs-erp worker` passes max_jobs from its settings)."""
    options = worker_options(redis_url, queue_name=queue_name, burst=burst, max_jobs=max_jobs)
    options["ctx"].update(ctx or {})
    return Worker(functions=WorkerSettings.functions, on_startup=startup, on_shutdown=shutdown,
                  max_tries=WorkerSettings.max_tries, job_timeout=WorkerSettings.job_timeout,
                  handle_signals=handle_signals, **options)


def run_worker(settings_cls: type, **options: Any) -> Worker:
    """Run a Worker (this module's: it outlives Redis outages) until it is stopped, as `arq.run_worker` does
    with arq's own; `mcs-erp worker` runs WorkerSettings with worker_options."""
    worker = Worker(**{**get_kwargs(settings_cls), **options})
    worker.run()
    return worker
