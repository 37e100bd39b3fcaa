"""Run changes between processes: Redis pub/sub under the RunFeed (domain/agent/feed.py).

With arq workers a run's loop commits in a worker process while its followers (an SSE stream, a chat completion
waiting for the answer) are served by a server process. After each commit that changed runs, the process
publishes their ids on one channel per database, `{queue_name}:agent-runs` (the queue name already namespaces a
database's keys on a shared Redis; run ids are per database), as a comma-separated list; every server process
holds one subscription to it (opened by the first follower, not one per stream) and wakes its local followers.

Delivery is best effort, as pub/sub is: a follower also re-reads the run on a timeout (the worker liveness
check, the keep-alive), so a message lost while Redis reconnects delays a wake-up, never loses the run's end.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from domain.agent.feed import RunFeed

if TYPE_CHECKING:  # redis is imported when a feed connects: an embedded server has no Redis
    from redis.asyncio import Redis

log = logging.getLogger(__name__)
RECONNECT_S = 1.0


def channel_for(queue_name: str) -> str:
    """The pub/sub channel of one database's run changes."""
    return f"{queue_name}:agent-runs"


class RedisFeedBridge:
    """Publish this process's committed run ids on Redis and wake local followers for everyone else's."""

    def __init__(self, redis_url: str, channel: str):
        self.redis_url = redis_url
        self.channel = channel
        self._client: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[Any]] = set()

    def _redis(self) -> Redis:
        if self._client is None:
            from redis.asyncio import Redis

            self._client = Redis.from_url(self.redis_url)
        return self._client

    def publish(self, run_ids: frozenset[int]) -> None:
        """Send `run_ids` in the background (called from a commit hook, which must not block)."""
        task = asyncio.get_running_loop().create_task(self._publish(",".join(map(str, sorted(run_ids)))))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self, message: str) -> None:
        try:
            await self._redis().publish(self.channel, message)
        except Exception:
            log.warning("could not publish run changes %s on %s", message, self.channel, exc_info=True)

    async def start(self, feed: RunFeed) -> None:
        """Subscribe, wait for Redis to confirm it, then deliver messages to `feed.wake` in a task."""
        pubsub = self._redis().pubsub()
        await self._subscribe(pubsub)
        self._listener = asyncio.create_task(self._listen(feed, pubsub), name=f"mcs-erp-run-feed {self.channel}")

    async def _subscribe(self, pubsub: Any) -> None:
        await pubsub.subscribe(self.channel)
        while True:  # the confirmation: from here on every message published on the channel reaches us
            message = await pubsub.get_message(timeout=5.0)
            if message is None:
                raise ConnectionError(f"Redis did not confirm the subscription to {self.channel}")
            if message["type"] == "subscribe":
                return

    async def _listen(self, feed: RunFeed, pubsub: Any) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message["type"] != "message":
                        continue
                    data = message["data"]
                    text = data.decode() if isinstance(data, bytes) else str(data)
                    feed.wake(int(part) for part in text.split(",") if part.strip().isdigit())
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception:
                log.warning("the subscription to %s broke; resubscribing in %ss", self.channel, RECONNECT_S,
                            exc_info=True)
            await asyncio.sleep(RECONNECT_S)
            try:
                await pubsub.aclose()
                pubsub = self._redis().pubsub()
                await self._subscribe(pubsub)
                feed.wake(feed.watched_runs())  # changes may have been missed meanwhile: everyone re-reads
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("could not resubscribe to %s", self.channel, exc_info=True)

    async def stop(self) -> None:
        """Stop listening, let pending publishes finish, close the connection."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


def connect_feed(feed: RunFeed, redis_url: str, queue_name: str) -> None:
    """Carry `feed`'s run changes over Redis pub/sub between the processes sharing `queue_name`."""
    feed.connect(RedisFeedBridge(redis_url, channel_for(queue_name)))
