"""Wake-ups for whoever follows a run (its event stream, a chat completion waiting for the answer), pushed when
the transaction that changed the run commits: nobody polls for a run's next event or its end.

    service.add_events(session, run_id, ...)   marks run_id changed in the unit of work (every status change of a
                                               run appends an event, so every change is marked)
    COMMIT                                     the RunFeed attached to the database's write engine wakes this
                                               process's watchers of those runs, and hands the ids to its bridge
                                               (workers/run_feed.py: Redis pub/sub, so streams served by other
                                               processes wake too)
    ROLLBACK                                   nobody is woken

A watcher is armed before it reads the database (`clear()`), so a commit landing between its read and its wait
still wakes it: a wake-up is never lost, at worst one read is repeated. Watchers still wait with a timeout (the
caller's liveness check of the run's worker, and the SSE keep-alive), never on the feed alone.

Pure asyncio and SQLAlchemy session events; the bridge is whatever the entry point plugs in (no Redis here).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

log = logging.getLogger(__name__)
_CHANGED = "agent.changed_runs"  # Session.info key: ids of the runs this unit of work changed
_LISTENING = "agent.feed_listening"
_FEEDS: weakref.WeakKeyDictionary[Engine, RunFeed] = weakref.WeakKeyDictionary()


class FeedBridge(Protocol):
    """Carries committed run ids to the other processes of the same database, and theirs to this one."""

    async def start(self, feed: RunFeed) -> None:
        """Begin delivering other processes' run ids to `feed.wake` (returns once subscribed)."""

    def publish(self, run_ids: frozenset[int]) -> None:
        """Send `run_ids` to the other processes (called after commit, from synchronous code: must not block)."""

    async def stop(self) -> None:
        """Stop delivering and close connections."""


class RunWatch:
    """One follower's wake-up: `clear()` before reading the run, then `wait(timeout)`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        """Arm the watch: a change committed after this call wakes the next `wait`."""
        self._event.clear()

    async def wait(self, timeout_s: float) -> bool:
        """Wait until the run changed (True) or `timeout_s` seconds passed (False)."""
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class RunFeed:
    """The wake-ups of one database's runs in this process (one per runtime), with an optional bridge to other
    processes. `attach(engine)` makes commits on that engine announce the runs they changed."""

    def __init__(self) -> None:
        self._watches: dict[int, set[RunWatch]] = {}
        self.bridge: FeedBridge | None = None
        self._bridge_started = False
        self._bridge_lock: asyncio.Lock | None = None

    def attach(self, engine: Engine) -> None:
        """Announce the runs changed by every transaction committed through `engine` (a write engine)."""
        _FEEDS[engine] = self

    def connect(self, bridge: FeedBridge) -> None:
        """Also send committed run ids through `bridge`, and wake on the ids it receives from elsewhere."""
        self.bridge = bridge
        self._bridge_started = False

    @asynccontextmanager
    async def watch(self, run_id: int) -> AsyncIterator[RunWatch]:
        """Follow run `run_id` for the duration of the block (starting the bridge's subscription on first use)."""
        await self._start_bridge()
        watch = RunWatch()
        self._watches.setdefault(run_id, set()).add(watch)
        try:
            yield watch
        finally:
            watches = self._watches.get(run_id)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._watches[run_id]

    def watching(self) -> int:
        """How many watches are open (all runs)."""
        return sum(len(w) for w in self._watches.values())

    def watched_runs(self) -> list[int]:
        """The ids of the runs followed now."""
        return list(self._watches)

    def wake(self, run_ids: Iterable[int]) -> None:
        """Wake this process's watchers of `run_ids`."""
        for run_id in run_ids:
            for watch in self._watches.get(run_id, ()):
                watch.set()

    def committed(self, run_ids: frozenset[int]) -> None:
        """A transaction changing `run_ids` committed here: wake local watchers and tell the other processes."""
        self.wake(run_ids)
        if self.bridge is not None:
            try:
                self.bridge.publish(run_ids)
            except Exception:  # the commit happened; followers elsewhere fall back on their timeout
                log.warning("could not publish the change of runs %s", sorted(run_ids), exc_info=True)

    async def _start_bridge(self) -> None:
        if self.bridge is None or self._bridge_started:
            return
        if self._bridge_lock is None:
            self._bridge_lock = asyncio.Lock()
        async with self._bridge_lock:
            if self._bridge_started:
                return
            try:
                await self.bridge.start(self)
                self._bridge_started = True
            except Exception:  # followers still wake on their timeout; the next watch tries again
                log.warning("could not subscribe to run changes of other processes", exc_info=True)

    async def close(self) -> None:
        """Stop the bridge (watchers left open fall back on their timeouts)."""
        if self.bridge is not None:
            self._bridge_started = False
            await self.bridge.stop()


def mark_changed(session: AsyncSession, run_id: int) -> None:
    """Record in the unit of work that run `run_id` changed; its followers are woken once it commits."""
    sync = session.sync_session
    if not sync.info.get(_LISTENING):  # once per session; listeners cannot be removed mid-dispatch
        sync.info[_LISTENING] = True
        event.listen(sync, "after_commit", _announce)
        event.listen(sync, "after_rollback", _drop)
    sync.info.setdefault(_CHANGED, set()).add(run_id)


def _announce(sync: Session) -> None:
    """after_commit: wake the followers of the runs the transaction changed."""
    changed = sync.info.pop(_CHANGED, None)
    if not changed:
        return
    feed = _FEEDS.get(sync.bind) if isinstance(sync.bind, Engine) else None
    if feed is not None:
        feed.committed(frozenset(changed))


def _drop(sync: Session) -> None:
    """after_rollback: nothing changed."""
    sync.info.pop(_CHANGED, None)
