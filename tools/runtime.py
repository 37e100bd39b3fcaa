"""The runtime a process builds in its lifespan: settings, database, tool catalogue, job runner, key cache, and
the feed that wakes a run's followers (domain/agent/feed.py)."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.agent.feed import RunFeed
from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel
from domain.kernel.db import Database
from domain.kernel.errors import DomainError
from domain.kernel.settings import Settings
from domain.kernel import offload, tenants
from domain.kernel.tenants import tenant_in_use
from tools.registry import Catalogue, build_catalogue

log = logging.getLogger(__name__)


class JobRunner(Protocol):
    """Runs recorded jobs: an asyncio task in this process, or an arq job on Redis (workers/runner.py).

    `enqueue` is called only after the transaction that created the job committed, and is idempotent: a job
    id already queued or running is not started twice.
    """

    async def start(self, *, serving: bool = False) -> None:
        """Connect; `serving` (a long-lived server process) also hands orphaned jobs to be run again."""

    async def stop(self) -> None: ...

    async def enqueue(self, job_id: int) -> None: ...


class NoJobRunner:
    """The runner of a runtime built without one (a CLI command, a test): starting a job is refused clearly.

    Entry points choose the real runner (server/runtime.py: arq on Redis or tasks in this process), since
    the runners live in workers/, a layer above tools/.
    """

    async def start(self, *, serving: bool = False) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""

    async def enqueue(self, job_id: int) -> None:
        raise DomainError(f"job {job_id} was recorded but this process has no job runner; start the server or "
                          "`mcs-erp worker` to run it")


@dataclass
class Runtime:
    """Everything a call needs besides its arguments and actor. Created once per process, never at import."""

    settings: Settings
    db: Database
    jobs: JobRunner = field(default=None)  # type: ignore[assignment]  # set by create()
    _catalogue: Catalogue | None = None  # built at first use: see `catalogue`
    _key_cache: dict[str, tuple[float, Actor | None]] = field(default_factory=dict)
    _key_lookups: dict[str, asyncio.Task] = field(default_factory=dict)  # in flight, one per cache key
    clients: dict[str, Any] = field(default_factory=dict)  # long-lived clients of this process (model providers)
    runs: RunFeed = field(default_factory=RunFeed)  # wakes a run's followers when a change of it commits

    @classmethod
    def create(cls, settings: Settings | None = None, *,
               jobs: Callable[[Runtime], JobRunner] | None = None) -> Runtime:
        """Build the runtime from settings (read from the environment when not given).

        `jobs` builds the job runner for the new runtime (entry points pass workers.runner.runner_for: arq on
        Redis when MCS_ERP_REDIS_URL is set, asyncio tasks in this process otherwise); without it, starting a
        job is refused. The runner connects lazily or in `start()`.
        """
        settings = settings or Settings()
        offload.configure(settings.compute_processes)
        # A tenant's cluster (tenants.database_url) is re-read as often as a key's lookup: `tenants move` waits
        # that long, the tenant suspended, before copying it.
        runtime = cls(settings=settings, db=Database(settings.database_url,
                                                     pool_size=settings.database_pool_size,
                                                     placement_ttl_s=settings.key_cache_seconds))
        runtime.runs.attach(runtime.db.write_engine.sync_engine)
        # A SQLite tenant's file has its own write engine (domain.kernel.db.Database.tenant_database). Run ids are
        # per tenant, so another tenant's run of the same id wakes a follower for nothing: it reads its own again.
        runtime.db.engine_listeners.append(lambda engine: runtime.runs.attach(engine.sync_engine))
        runtime.jobs = jobs(runtime) if jobs is not None else NoJobRunner()
        return runtime

    @property
    def catalogue(self) -> Catalogue:
        """The enabled tools (settings.disabled_modules off), built at first use: importing every tool module,
        and with them the whole domain, is most of a process's start, and a stdio server answers `initialize`
        before it needs a tool. Raises ModuleConfigError for a bad module configuration (build_catalogue)."""
        if self._catalogue is None:
            from tools.modules import all_modules

            self._catalogue = build_catalogue(all_modules(), disabled=self.settings.disabled_modules)
        return self._catalogue

    async def start(self, *, serving: bool = False) -> None:
        """Start what needs a running event loop (the job runner); called from lifespans. `serving`: this is a
        server process that lives on (not a one-shot CLI command), so the catalogue is built now (a bad module
        configuration stops it here, and no request pays for the build) and the runner may resume orphaned jobs.
        Raises ModuleConfigError (see `catalogue`)."""
        if serving:
            self.catalogue  # noqa: B018
        await self.jobs.start(serving=serving)

    async def close(self) -> None:
        """Stop the job runner and any key lookup in flight, then close every database connection."""
        for task in list(self._key_lookups.values()):
            task.cancel()
        if self.jobs is not None:
            await self.jobs.stop()
        await self.runs.close()
        await self.db.dispose()

    async def actor_for_key(self, raw_key: str, channel: Channel) -> Actor | None:
        """Resolve an API key to its Actor (in the key's tenant), reusing a lookup for `key_cache_seconds` (the
        delay of a revocation or a tenant's suspension). Raises TenantSuspended for a key of a suspended tenant,
        ServiceUnavailable when the lookup could not reach the database.

        An answer is never older than key_cache_seconds, counted from the start of the lookup that made it. So
        that the lookups of many keys do not fall due together and hold up their callers (a server of 50 schools
        whose keys were first seen in the same second looked all 50 up again in the same second, every
        key_cache_seconds: bench/tenants.py's slow tail), a key is looked up again in the background once its
        answer is past a point between three quarters and 0.95 of key_cache_seconds, the point fixed per key (a
        hash of it), while callers keep the cached answer. Only a caller holding no answer, or an expired one,
        waits for a lookup; concurrent callers of one key share one lookup."""
        ttl = self.settings.key_cache_seconds
        if ttl <= 0:  # no reuse: every call reads the key now
            return await self._authenticate(raw_key, channel)
        cache_key = f"{channel}:{identity.hash_key(raw_key)}"
        now = time.monotonic()
        hit = self._key_cache.get(cache_key)
        if hit is not None and now - hit[0] < ttl:
            if now - hit[0] >= ttl * _refresh_point(cache_key) and cache_key not in self._key_lookups:
                self._look_up_key(cache_key, raw_key, channel)
            return hit[1]
        lookup = self._key_lookups.get(cache_key) or self._look_up_key(cache_key, raw_key, channel)
        return await asyncio.shield(lookup)  # a caller cut off leaves the shared lookup to the others

    def _look_up_key(self, cache_key: str, raw_key: str, channel: Channel) -> asyncio.Task:
        """Start the one lookup of `cache_key` in flight; its answer goes into the cache when it completes."""

        async def look_up() -> Actor | None:
            started = time.monotonic()
            try:
                actor = await self._authenticate(raw_key, channel)
            except BaseException:
                self._key_cache.pop(cache_key, None)  # a suspended tenant's key (or an outage): callers ask again
                raise
            if len(self._key_cache) > 10_000:
                self._key_cache.clear()
            self._key_cache[cache_key] = (started, actor)
            return actor

        task = asyncio.get_running_loop().create_task(look_up())
        self._key_lookups[cache_key] = task
        task.add_done_callback(lambda done: self._lookup_done(cache_key, done))
        return task

    def _lookup_done(self, cache_key: str, task: asyncio.Task) -> None:
        if self._key_lookups.get(cache_key) is task:
            del self._key_lookups[cache_key]
        if not task.cancelled() and task.exception() is not None:  # retrieved: a background refresh's own error
            log.debug("API key lookup failed: %r", task.exception())

    async def _authenticate(self, raw_key: str, channel: Channel) -> Actor | None:
        code = identity.tenant_of_key(raw_key)
        tenant = None
        read_with_registry, actor = False, None
        if code is not None:
            with tenant_in_use(None):  # the registry lives with the default tenant
                async with self.db.read() as session:
                    tenant = await tenants.get_tenant(session, code)
                    # PostgreSQL, the tenant on this cluster: its key is read in the same unit of work, the
                    # statement naming the tenant's schema (one read per lookup instead of two).
                    if tenant is not None and not self.db.is_sqlite and tenant.database_url in (None, self.db.url):
                        with tenant_in_use(code):
                            actor = await identity.authenticate_key(session, raw_key, channel,
                                                                    schema=tenant.schema_name)
                        read_with_registry = True
            if tenant is None:
                return None
            self.db.note_placement(code, tenant.database_url)  # read anyway: the key's calls need not read it again
        if not read_with_registry:
            with tenant_in_use(code):
                async with self.db.read() as session:
                    actor = await identity.authenticate_key(session, raw_key, channel)
        if actor is not None and tenant is not None:  # only a valid key learns that its tenant is suspended
            tenants.refuse_suspended(tenant)
        return actor

    async def check_tenant(self, code: str | None) -> None:
        """Raise NotFound unless tenant `code` is registered, TenantSuspended when it is suspended (None: the
        default tenant, always served)."""
        if code is None:
            return
        with tenant_in_use(None):
            async with self.db.read() as session:
                tenants.refuse_suspended(await tenants.get_tenant_or_raise(session, code))

    async def actor_for_user(self, username: str, channel: Channel) -> Actor | None:
        """Return the Actor of a configured user (stdio, CLI), or None when no such user exists."""
        async with self.db.read() as session:
            user = await identity.get_user_by_username(session, username)
            return None if user is None else identity.actor_for(user, channel)


def _refresh_point(cache_key: str) -> float:
    """The share of key_cache_seconds (0.75 to 0.95) after which `cache_key`'s answer is looked up again in the
    background: fixed per key, spread evenly over keys (CRC-32 of the key)."""
    return 0.75 + 0.2 * (zlib.crc32(cache_key.encode()) % 1024) / 1024
