"""Bearer token -> tenant, with a short in-process cache, and strangers turned away cheaply.

The cache keeps answers for `ttl` seconds, so disable, revoke and rotate take effect in every web process
within that time without any invalidation message. It is keyed by the token's digest, never by the token.

What a stranger costs (issue #11), in this order:
- a token that is not of the shape `tenancy.tokens.new_token` makes (`shs_` + 43 URL-safe characters) is
  refused without a lookup: a regular-expression match;
- a token refused within the last `ttl` seconds is refused again from a bounded cache (`_MAX_MISSES`, oldest
  forgotten first), so a client retrying a rotated-away token costs one lookup per `ttl`;
- every other token whose digest this process has never seen valid is looked up at most
  `_STRANGER_CONCURRENCY` at a time, and only while a miss budget lasts: `per_client` lookups that found no
  token per second for one client address (a burst of twice that) and `per_second` for the whole process.
  A lookup that finds a valid token costs no budget (after a restart every tenant's first request is such a
  lookup). Past the budget, `LookupsExhausted` (429 with Retry-After): a flood of random well-formed tokens
  costs a bounded number of queries per second and never more than two pooled connections, whatever its
  rate. Digests seen valid before (a tenant's own token whose cache entry expired) are looked up outside the
  budget, so a tenant keeps working while strangers flood its URL; a new token from the flooding address
  waits until the flood stops.
Memory is bounded: valid digests by the number of tokens, misses by `_MAX_MISSES`, client buckets by
`_MAX_CLIENTS`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import OrderedDict
from collections.abc import Callable

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
TOKEN_SHAPE = re.compile(r"^shs_[A-Za-z0-9_-]{43}$")
_MAX_VALID = 100_000
_MAX_MISSES = 10_000
_MAX_CLIENTS = 10_000
_STRANGER_CONCURRENCY = 2


class LookupsExhausted(Exception):
    """Too many lookups of unknown tokens right now (from this client, or from everyone); retry after
    `retry_after` seconds. Says nothing about the token."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests with unrecognised tokens")
        self.retry_after = retry_after


class _Bucket:
    """A token bucket: `rate` per second, holding at most `2 * rate`."""

    __slots__ = ("at", "rate", "tokens")

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self.tokens = 2 * rate
        self.at = now

    def ready(self, now: float) -> bool:
        self.tokens = min(2 * self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        return self.tokens >= 1

    def spend(self) -> None:
        self.tokens -= 1


class TokenResolver:
    def __init__(
        self,
        pool: asyncpg.Pool,
        install_id: str,
        *,
        ttl: float = 2.0,
        per_second: int = 100,
        per_client: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._install_id = install_id
        self._ttl = ttl
        self._valid: dict[bytes, tuple[float, Tenant]] = {}
        self._misses: OrderedDict[bytes, float] = OrderedDict()
        self._known: set[bytes] = set()  # digests seen valid at some time: looked up outside the budget
        self._per_client = per_client
        self._clock = clock  # monotonic seconds; tests drive it
        self._everyone = _Bucket(per_second, clock())
        self._clients: OrderedDict[str, _Bucket] = OrderedDict()
        self._strangers = asyncio.Semaphore(_STRANGER_CONCURRENCY)
        self.lookups = 0  # of unknown digests (tests and the benchmark read it)

    async def resolve(self, slug: str, token: str, client: str | None = None) -> Tenant | None:
        """The tenant this token opens at `slug`'s URL, or None (wrong, revoked, expired, other tenant's,
        or the tenant is switched off). The answer does not tell these cases apart. Raises LookupsExhausted
        when an unknown token would need a lookup beyond the budget."""
        if not TOKEN_SHAPE.match(token):
            return None
        digest = token_digest(token)
        now = self._clock()
        hit = self._valid.get(digest)
        if hit is not None and hit[0] > now:
            tenant: Tenant | None = hit[1]
        elif (missed := self._misses.get(digest)) is not None and missed > now:
            return None
        else:
            tenant = await self._lookup_counted(digest, client, now)
        if tenant is None or tenant.slug != slug or not tenant.active:
            return None
        return tenant

    def forget_all(self) -> None:
        self._valid.clear()
        self._misses.clear()

    async def _lookup_counted(self, digest: bytes, client: str | None, now: float) -> Tenant | None:
        if digest in self._known:
            tenant = await self._lookup(digest)
        else:
            bucket = self._client_bucket(client or "-", now)
            if not (bucket.ready(now) and self._everyone.ready(now)):
                raise LookupsExhausted(retry_after=1)
            async with self._strangers:
                self.lookups += 1
                tenant = await self._lookup(digest)
            if tenant is None:
                bucket.spend()
                self._everyone.spend()
        expires = self._clock() + self._ttl
        if tenant is None:
            self._valid.pop(digest, None)
            self._misses[digest] = expires
            self._misses.move_to_end(digest)
            if len(self._misses) > _MAX_MISSES:
                self._misses.popitem(last=False)
        else:
            if len(self._valid) >= _MAX_VALID:
                self._valid.clear()
            self._valid[digest] = (expires, tenant)
            self._misses.pop(digest, None)
            if len(self._known) < _MAX_VALID:
                self._known.add(digest)
        return tenant

    def _client_bucket(self, client: str, now: float) -> _Bucket:
        bucket = self._clients.get(client)
        if bucket is None:
            bucket = self._clients[client] = _Bucket(self._per_client, now)
            if len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(client)
        return bucket

    async def _lookup(self, digest: bytes) -> Tenant | None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(_LOOKUP, digest)
        if row is None or row["revoked_at"] is not None:
            return None
        expires = row["expires_at"]
        if expires is not None and expires <= dt.datetime.now(dt.UTC):
            return None
        return tenant_from_row(self._install_id, row)
