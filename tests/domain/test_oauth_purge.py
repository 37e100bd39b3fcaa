"""Expired OAuth codes and tokens are deleted a day after their expiry, and nothing else is
(domain.oauth.service.purge_expired, run hourly by every relay: workers.relay._Wakeable.purge_sign_ins)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel, Role
from domain.kernel.clock import utcnow
from domain.kernel.errors import InvalidInput
from domain.oauth import service as oauth
from domain.oauth.models import OAuthCode, OAuthGrant, OAuthToken
from domain.oauth.rules import CODE_PREFIX, hash_secret, new_secret
from tests.conftest import own_runtime
from workers.relay import InProcessRelay

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


async def _grant(session, username: str) -> int:
    """A user's consent with its code exchanged for a token pair; returns the grant's id."""
    issued = await identity.create_api_key(session, username=username, roles="admin")
    actor = Actor(id=issued.user.id or 0, username=username, roles=frozenset({Role.ADMIN}), channel=Channel.MCP_HTTP)
    raw, grant = await oauth.grant_consent(session, actor, key_id=issued.key.id or 0, client_id="purge-client",
                                           client_name="Purge test", scopes=["academics"],
                                           resource="http://127.0.0.1/mcp", code_challenge=CHALLENGE,
                                           redirect_uri="http://127.0.0.1:9/cb", redirect_uri_explicit=True)
    record = await oauth.load_code(session, raw)
    assert record is not None
    await oauth.exchange_code(session, code_id=record.id, client_id="purge-client")
    return grant.id or 0


async def _rows(session, model) -> dict[int, object]:
    return {row.id: row.expires_at for row in (await session.exec(select(model))).all()}


async def test_only_codes_and_tokens_a_day_past_expiry_go_and_grants_stay(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "oauth-purge") as rt:
        now = utcnow()
        async with rt.db.write() as s:
            grant_ids = [await _grant(s, f"purge_user_{n}") for n in range(3)]
            # More codes and tokens, with expiries spread from three days ago to three days ahead: the boundary
            # (a day before now) must be honoured whatever the mix.
            rng = random.Random(7)
            for n in range(60):
                at = now + timedelta(minutes=rng.randint(-3 * 24 * 60, 3 * 24 * 60))
                grant_id = rng.choice(grant_ids)
                if n % 3 == 0:
                    s.add(OAuthCode(code_hash=hash_secret(new_secret(CODE_PREFIX, None)), grant_id=grant_id,
                                    code_challenge=CHALLENGE, redirect_uri="http://127.0.0.1:9/cb",
                                    redirect_uri_explicit=True, expires_at=at))
                else:
                    s.add(OAuthToken(token_hash=hash_secret(f"t{n}"), kind=rng.choice(["access", "refresh"]),
                                     grant_id=grant_id, scopes="academics", expires_at=at))
            await s.flush()
            codes, tokens = await _rows(s, OAuthCode), await _rows(s, OAuthToken)
        cutoff = now - timedelta(days=1)  # the rule (oauth.PURGE_AFTER), not the constant: a test that can fail
        expect_gone = sum(at < cutoff for at in [*codes.values(), *tokens.values()])
        assert 0 < expect_gone < len(codes) + len(tokens)  # the mix has rows on both sides of the boundary

        async with rt.db.write() as s:
            assert await oauth.purge_expired(s, now=now) == expect_gone
        async with rt.db.read() as s:
            assert await _rows(s, OAuthCode) == {i: at for i, at in codes.items() if at >= cutoff}
            assert await _rows(s, OAuthToken) == {i: at for i, at in tokens.items() if at >= cutoff}
            assert sorted((await s.exec(select(OAuthGrant.id))).all()) == sorted(grant_ids)
        async with rt.db.write() as s:  # nothing more to do at the same time
            assert await oauth.purge_expired(s, now=now) == 0


async def test_a_batch_is_bounded_and_the_relay_purges_every_batch(tmp_path_factory):
    async with own_runtime(tmp_path_factory, "oauth-purge-batches") as rt:
        old = utcnow() - timedelta(days=2)
        async with rt.db.write() as s:
            grant_id = await _grant(s, "purge_batches")
            for n in range(7):
                s.add(OAuthToken(token_hash=hash_secret(f"b{n}"), kind="access", grant_id=grant_id,
                                 scopes="academics", expires_at=old))
            await s.exec(update(OAuthCode).values(expires_at=old))  # type: ignore[call-overload]
        async with rt.db.write() as s:
            assert await oauth.purge_expired(s, limit=3) == 3 + 1  # three tokens, and the one code
        async with rt.db.write() as s:
            with pytest.raises(InvalidInput, match="limit must be 1 or more"):
                await oauth.purge_expired(s, limit=0)
        relay = InProcessRelay(rt, lambda: None)  # type: ignore[arg-type,return-value]
        assert await relay.purge_sign_ins() == 4
        async with rt.db.read() as s:
            kinds = sorted(t.kind for t in (await s.exec(select(OAuthToken))).all())
        assert kinds == ["access", "refresh"]  # the grant's live pair stays
