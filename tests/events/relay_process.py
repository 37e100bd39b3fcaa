"""A process the outbox tests kill: `python -m tests.events.relay_process MODE DATABASE_URL REDIS_URL|- QUEUE READY
[AGGREGATES]`.

MODE is one of
  record           record one event per aggregate id (comma-separated AGGREGATES), commit, then wait forever:
                   killed between commit and delivery;
  deliver-hang     run the in-process relay whose handler writes its effect and then waits forever: killed
                   mid-effect;
  publish-hang     publish the unpublished events to Redis and wait forever before stamping them: killed between
                   XADD and commit;
  consume-hang     consume the Redis stream as consumer "doomed" with the hanging handler: killed mid-effect.
READY is a file written when the process reached the point where it waits to be killed.
The handler is named `tests.effect` in every mode, as in the tests, so the inbox is shared with theirs.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from domain.kernel import outbox
from domain.kernel.settings import Settings
from tests.events.helpers import TOPIC, hanging_handler, record_many
from tools.runtime import Runtime
from workers import relay

HANDLER = "tests.effect"


async def main(mode: str, url: str, redis_url: str, queue: str, ready: Path, aggregates: str = "") -> None:
    runtime = Runtime.create(Settings(database_url=url, redis_url=None if redis_url == "-" else redis_url,
                                      queue_name=queue, event_poll_seconds=0.05))
    handlers = outbox.EventHandlers()
    handlers.add(TOPIC, hanging_handler(HANDLER, ready), name=HANDLER)
    forever = asyncio.Event()
    if mode == "record":
        await record_many(runtime.db, aggregates.split(","), per_transaction=3)
        ready.write_text("recorded")
    elif mode == "deliver-hang":
        await relay.InProcessRelay(runtime, handlers).start()
    else:
        from redis.asyncio import Redis

        redis = Redis.from_url(redis_url)
        stream = relay.stream_key(queue)
        if mode == "publish-hang":
            async def hang() -> None:
                ready.write_text("published")
                await forever.wait()

            await relay.publish_once(runtime, redis, stream=stream, after_xadd=hang)
        elif mode == "consume-hang":
            await relay.StreamConsumer(runtime, redis, handlers, stream=stream, consumer="doomed").start()
        else:
            raise SystemExit(f"unknown mode {mode}")
    await forever.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], Path(sys.argv[5]), *sys.argv[6:7]))
