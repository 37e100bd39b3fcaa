"""The runtime a process builds in its lifespan: settings, database, tool catalogue, key cache."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from domain.identity import service as identity
from domain.kernel.actor import Actor, Channel
from domain.kernel.db import Database
from domain.kernel.settings import Settings
from tools.registry import Catalogue, build_catalogue


@dataclass
class Runtime:
    """Everything a call needs besides its arguments and actor. Created once per process, never at import."""

    settings: Settings
    db: Database
    catalogue: Catalogue
    _key_cache: dict[str, tuple[float, Actor | None]] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings | None = None) -> Runtime:
        """Build the runtime from settings (read from the environment when not given)."""
        from tools.modules import all_modules

        settings = settings or Settings()
        catalogue = build_catalogue(all_modules(), disabled=settings.disabled_modules)
        return cls(settings=settings, db=Database(settings.database_url), catalogue=catalogue)

    async def close(self) -> None:
        await self.db.dispose()

    async def actor_for_key(self, raw_key: str, channel: Channel) -> Actor | None:
        """Resolve an API key to its Actor, reusing a lookup for `key_cache_seconds` (revocation delay)."""
        cache_key = f"{channel}:{identity.hash_key(raw_key)}"
        now = time.monotonic()
        hit = self._key_cache.get(cache_key)
        if hit is not None and now - hit[0] < self.settings.key_cache_seconds:
            return hit[1]
        async with self.db.read() as session:
            actor = await identity.authenticate_key(session, raw_key, channel)
        if len(self._key_cache) > 10_000:
            self._key_cache.clear()
        self._key_cache[cache_key] = (now, actor)
        return actor

    async def actor_for_user(self, username: str, channel: Channel) -> Actor | None:
        """Return the Actor of a configured user (stdio, CLI), or None when no such user exists."""
        async with self.db.read() as session:
            user = await identity.get_user_by_username(session, username)
            return None if user is None else identity.actor_for(user, channel)
