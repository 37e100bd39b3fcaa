"""All SQL of OAuth sign-in (domain/oauth/models.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from domain.identity.service import get_user, key_is_active
from domain.kernel.sql import id_in
from domain.oauth.models import OAuthClient, OAuthCode, OAuthGrant, OAuthToken


async def get_client(session: AsyncSession, client_id: str) -> OAuthClient | None:
    """Return the registered client `client_id`, or None."""
    return await session.get(OAuthClient, client_id)


async def code_with_grant(session: AsyncSession, code_hash: str) -> tuple[OAuthCode, OAuthGrant] | None:
    """Return the code stored under `code_hash` and its grant, or None."""
    stmt = (select(OAuthCode, OAuthGrant).join(OAuthGrant, OAuthGrant.id == OAuthCode.grant_id)  # type: ignore
            .where(OAuthCode.code_hash == code_hash))
    row = (await session.exec(stmt)).first()
    return None if row is None else (row[0], row[1])


async def token_with_grant(session: AsyncSession, token_hash: str, kind: str) -> tuple[OAuthToken, OAuthGrant] | None:
    """Return the token of `kind` stored under `token_hash` and its grant, or None."""
    stmt = (select(OAuthToken, OAuthGrant).join(OAuthGrant, OAuthGrant.id == OAuthToken.grant_id)  # type: ignore
            .where(OAuthToken.token_hash == token_hash, OAuthToken.kind == kind))
    row = (await session.exec(stmt)).first()
    return None if row is None else (row[0], row[1])


async def user_is_live(session: AsyncSession, user_id: int) -> bool:
    """Return True when user `user_id` exists and is not deleted."""
    user = await get_user(session, user_id)
    return user is not None and user.deleted_at is None


async def grant_is_live(session: AsyncSession, grant: OAuthGrant) -> bool:
    """Return True when `grant` is not revoked, its user is live and the API key it was signed in with is not
    revoked."""
    return (grant.revoked_at is None and await user_is_live(session, grant.user_id)
            and await key_is_active(session, key_id=grant.key_id, user_id=grant.user_id))


async def mark_code_used(session: AsyncSession, code_id: int, at: datetime) -> bool:
    """Stamp code `code_id` used unless it already was; return whether this call did (one exchange wins a race)."""
    result = await session.exec(update(OAuthCode).where(OAuthCode.id == code_id,  # type: ignore[arg-type]
                                                        OAuthCode.used_at.is_(None))  # type: ignore[union-attr]
                                .values(used_at=at))
    return result.rowcount == 1


async def mark_refresh_rotated(session: AsyncSession, token_id: int, at: datetime) -> bool:
    """Stamp refresh token `token_id` rotated unless it already was or is revoked; return whether this call did."""
    result = await session.exec(update(OAuthToken).where(OAuthToken.id == token_id,  # type: ignore[arg-type]
                                                         OAuthToken.rotated_at.is_(None),  # type: ignore[union-attr]
                                                         OAuthToken.revoked_at.is_(None))  # type: ignore
                                .values(rotated_at=at))
    return result.rowcount == 1


async def revoke_grant_tokens(session: AsyncSession, grant_id: int, at: datetime, *, kind: str | None = None) -> int:
    """Revoke the live tokens of grant `grant_id` (of `kind` only, when given); return how many."""
    stmt = update(OAuthToken).where(OAuthToken.grant_id == grant_id,  # type: ignore[arg-type]
                                    OAuthToken.revoked_at.is_(None))  # type: ignore[union-attr]
    if kind is not None:
        stmt = stmt.where(OAuthToken.kind == kind)  # type: ignore[arg-type]
    return (await session.exec(stmt.values(revoked_at=at))).rowcount


async def live_grants(session: AsyncSession, *, user_id: int, client_id: str | None = None,
                      limit: int = 200) -> list[OAuthGrant]:
    """Return the user's grants not revoked (of `client_id` only, when given), newest first, at most `limit`."""
    stmt = select(OAuthGrant).where(OAuthGrant.user_id == user_id,  # type: ignore[arg-type]
                                    OAuthGrant.revoked_at.is_(None))  # type: ignore[union-attr]
    if client_id is not None:
        stmt = stmt.where(OAuthGrant.client_id == client_id)  # type: ignore[arg-type]
    return list((await session.exec(stmt.order_by(OAuthGrant.id.desc()).limit(limit))).all())  # type: ignore


async def delete_expired(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete, in the caller's transaction, up to `limit` authorization codes and up to `limit` tokens whose
    expires_at is before `before`, the oldest first; return how many rows went."""
    deleted = 0
    for model in (OAuthCode, OAuthToken):
        ids = list((await session.exec(select(model.id).where(model.expires_at < before)  # type: ignore[union-attr]
                                       .order_by(model.id).limit(limit))).all())  # type: ignore[union-attr]
        if ids:
            await session.exec(delete(model).where(id_in(model.id, ids)))  # type: ignore[call-overload]
            deleted += len(ids)
    return deleted
