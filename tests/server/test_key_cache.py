"""The API key cache (tools.runtime.Runtime.actor_for_key): an answer is reused for at most key_cache_seconds
after the lookup that made it started, lookups of a key due soon run in the background while callers keep the
cached answer, and concurrent callers of one key share one lookup."""

from __future__ import annotations

import asyncio
import random
import time

import tools.runtime as runtime_module
from domain.identity.service import create_api_key, revoke_api_key
from domain.kernel.actor import Channel
from domain.kernel.settings import Settings
from tests.factories import unique
from tools.runtime import Runtime, _refresh_point


def _counting(monkeypatch, delay_s: float = 0.0) -> list[float]:
    """Count identity.authenticate_key's calls (their start times), each slowed by delay_s."""
    starts: list[float] = []
    real = runtime_module.identity.authenticate_key

    async def counted(session, raw, channel):
        starts.append(time.monotonic())
        if delay_s:
            await asyncio.sleep(delay_s)
        return await real(session, raw, channel)

    monkeypatch.setattr(runtime_module.identity, "authenticate_key", counted)
    return starts


async def _issue(rt: Runtime):
    async with rt.db.write() as session:
        return await create_api_key(session, username=unique("kc-").lower(), roles="viewer")


def test_refresh_points_fall_between_three_quarters_and_095_and_spread_over_keys():
    points = [_refresh_point(f"mcp_http:{i:064x}") for i in range(2000)]
    assert all(0.75 <= p < 0.95 for p in points)
    # spread: each tenth of the range holds some keys (a constant point would fail this)
    buckets = {int((p - 0.75) / 0.02) for p in points}
    assert buckets == set(range(10))


async def test_concurrent_callers_of_a_cold_key_share_one_lookup(database_url, monkeypatch):
    starts = _counting(monkeypatch, delay_s=0.05)
    rt = Runtime.create(Settings(database_url=database_url, key_cache_seconds=3600))
    try:
        issued = await _issue(rt)
        actors = await asyncio.gather(*(rt.actor_for_key(issued.secret, Channel.MCP_HTTP) for _ in range(20)))
        assert all(a is not None and a.username == issued.user.username for a in actors)
        assert len(starts) == 1
        assert not rt._key_lookups  # nothing left in flight
    finally:
        await rt.close()


async def test_a_key_due_soon_is_looked_up_in_the_background_while_callers_keep_the_answer(database_url,
                                                                                          monkeypatch):
    ttl = 2.0
    starts = _counting(monkeypatch, delay_s=0.2)
    rt = Runtime.create(Settings(database_url=database_url, key_cache_seconds=ttl))
    try:
        issued = await _issue(rt)
        assert await rt.actor_for_key(issued.secret, Channel.MCP_HTTP) is not None
        assert len(starts) == 1
        cache_key = next(iter(rt._key_cache))
        cached_at = rt._key_cache[cache_key][0]
        # past the refresh point, before expiry (ages count from the lookup's start)
        await asyncio.sleep(cached_at + ttl * _refresh_point(cache_key) + 0.02 - time.monotonic())
        began = time.monotonic()
        assert await rt.actor_for_key(issued.secret, Channel.MCP_HTTP) is not None
        assert time.monotonic() - began < 0.1  # answered from the cache, not after the 0.2 s lookup
        assert cache_key in rt._key_lookups  # one lookup started, in the background
        await asyncio.sleep(0.05)
        assert await rt.actor_for_key(issued.secret, Channel.MCP_HTTP) is not None
        assert len(starts) == 2  # one more, not a second one while it runs
        await asyncio.sleep(0.3)
        assert not rt._key_lookups and rt._key_cache[cache_key][0] >= starts[1] - 0.01  # the answer was renewed
    finally:
        await rt.close()


async def test_no_answer_is_used_longer_than_key_cache_seconds_after_a_revocation(database_url, monkeypatch):
    """Property: calls at random moments, a revocation among them; no call that starts key_cache_seconds or more
    after the revocation committed is answered with the key's actor, whatever the refreshes did meanwhile."""
    ttl = 0.6
    _counting(monkeypatch, delay_s=0.03)
    for seed in range(3):
        rng = random.Random(seed)
        rt = Runtime.create(Settings(database_url=database_url, key_cache_seconds=ttl))
        try:
            issued = await _issue(rt)
            revoked_at: list[float] = []
            answers: list[tuple[float, bool]] = []

            async def caller() -> None:
                end = time.monotonic() + 2.5
                while time.monotonic() < end:
                    at = time.monotonic()
                    answers.append((at, await rt.actor_for_key(issued.secret, Channel.MCP_HTTP) is not None))
                    await asyncio.sleep(rng.uniform(0, 0.08))

            async def revoker() -> None:
                await asyncio.sleep(rng.uniform(0.3, 1.2))
                async with rt.db.write() as session:
                    await revoke_api_key(session, key_id=issued.key.id)
                revoked_at.append(time.monotonic())

            await asyncio.gather(caller(), caller(), caller(), revoker())
            late = [at for at, accepted in answers if at >= revoked_at[0] + ttl]
            assert late, "the run must reach past the bound"
            assert not [at for at, accepted in answers if accepted and at >= revoked_at[0] + ttl]
            assert any(accepted for at, accepted in answers if at < revoked_at[0])  # accepted before it
        finally:
            await rt.close()


async def test_a_failed_background_lookup_leaves_no_answer_to_reuse(database_url, monkeypatch):
    """A lookup that raised (an outage, a suspended tenant) drops the key's cached answer: the next caller looks
    it up itself and sees the error, instead of reusing the old answer to its end."""
    rt = Runtime.create(Settings(database_url=database_url, key_cache_seconds=3600))
    try:
        issued = await _issue(rt)
        assert await rt.actor_for_key(issued.secret, Channel.MCP_HTTP) is not None

        async def failing(session, raw, channel):
            raise RuntimeError("database gone")

        monkeypatch.setattr(runtime_module.identity, "authenticate_key", failing)
        cache_key = next(iter(rt._key_cache))
        task = rt._look_up_key(cache_key, issued.secret, Channel.MCP_HTTP)
        await asyncio.gather(task, return_exceptions=True)
        assert cache_key not in rt._key_cache and not rt._key_lookups
        try:
            await rt.actor_for_key(issued.secret, Channel.MCP_HTTP)
        except RuntimeError as exc:
            assert "database gone" in str(exc)
        else:
            raise AssertionError("the error must reach the caller")
    finally:
        await rt.close()
