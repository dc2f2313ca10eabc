"""Bearer token -> tenant, with a short in-process cache.

The cache keeps answers (including "no such token") for `ttl` seconds, so disable, revoke and rotate take
effect in every web process within that time without any invalidation message. It is keyed by the token's
digest, never by the token.
"""

from __future__ import annotations

import datetime as dt
import time

import asyncpg

from scimhub.tenancy.directory import TENANT_COLUMNS, tenant_from_row
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.tokens import token_digest

# The app login may not read `tenant_token.digest`: `scimhub_use_tenant_token` (public migration m0003) returns
# the one token row with this digest and records its use (at most once a minute), in the same round trip.
_LOOKUP = f"""
SELECT k.expires_at, k.revoked_at, {TENANT_COLUMNS}
FROM public.scimhub_use_tenant_token($1) k JOIN public.tenant t ON t.id = k.tenant_id
"""  # noqa: S608 - a fixed column list, the digest is a bind parameter
_MAX_ENTRIES = 10_000


class TokenResolver:
    def __init__(self, pool: asyncpg.Pool, install_id: str, *, ttl: float = 2.0) -> None:
        self._pool = pool
        self._install_id = install_id
        self._ttl = ttl
        self._cache: dict[bytes, tuple[float, Tenant | None]] = {}

    async def resolve(self, slug: str, token: str) -> Tenant | None:
        """The tenant this token opens at `slug`'s URL, or None (wrong, revoked, expired, other tenant's,
        or the tenant is switched off). The answer does not tell these cases apart."""
        digest = token_digest(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            tenant = hit[1]
        else:
            tenant = await self._lookup(digest)
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            self._cache[digest] = (now + self._ttl, tenant)
        if tenant is None or tenant.slug != slug or not tenant.active:
            return None
        return tenant

    def forget_all(self) -> None:
        self._cache.clear()

    async def _lookup(self, digest: bytes) -> Tenant | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_LOOKUP, digest)
        if row is None or row["revoked_at"] is not None:
            return None
        expires = row["expires_at"]
        if expires is not None and expires <= dt.datetime.now(dt.UTC):
            return None
        return tenant_from_row(self._install_id, row)
