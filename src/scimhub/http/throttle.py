"""Request-rate limits shared by every web process: `limits` (moving window) on Redis, in process while Redis
is unreachable.

A limit is N hits per `seconds` for one key (a tenant's SCIM requests, its test mails), counted in Redis so
that all web processes share it (the storage comes from `redis_clients.limits_storage`, for every form of
SCIMHUB_REDIS_URL). When Redis does not answer within `timeout` (down, unreachable, hung), the
limit is counted in this process instead (`limits`' memory storage) and Redis is tried again after
`retry_redis_after` seconds: SCIM keeps working while Redis is down, each process then enforcing the limit on
its own (so with n processes a tenant may get up to n times its limit until Redis is back). What was counted
in memory is not carried over to Redis.

A round trip to Redis costs ~170 us of CPU per request here (`limits` + redis-py asyncio), so a key's first
tenth of its limit within the current window in this process is counted locally only, and the hits after it
are sent to Redis in chunks of a tenth (`cost=`): one round trip (and one look at the window) per `limit // 10`
hits. When a chunk is refused, or the window has no room for another whole chunk, every later hit of that key
in the window goes to Redis one by one, so the limit is exact near it (give or take a tenth of the limit per
web process when several processes share the key). Counting in process (Redis down), every hit is counted.
Normal traffic (Entra: at most about 25 requests per second against 250) costs no round trip; the Entra mix
of `make bench` at ~150 requests per second per tenant about 0.1 per request (it was one per request).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from scimhub.redis_clients import limits_storage

log = logging.getLogger("scimhub.http")
KEY_PREFIX = "scimhub:limits"


class Throttle:
    def __init__(self, redis_url: str, *, timeout: float = 0.25, retry_redis_after: float = 5.0) -> None:
        self._redis = MovingWindowRateLimiter(limits_storage(redis_url, key_prefix=KEY_PREFIX, timeout=timeout))
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._timeout = timeout
        self._retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0
        self.fallbacks = 0  # times Redis did not answer and the process counted on its own
        # (name, key) -> [window start (monotonic), hits in this window, hits not yet sent, hit-by-hit flag]
        self._local: dict[tuple[str, str], list[float]] = {}

    @property
    def counting_in_process(self) -> bool:
        return time.monotonic() < self._redis_down_until

    async def hit(self, name: str, key: str, *, limit: int, seconds: int) -> int | None:
        """Count one hit of `key` under the limit `name`; None when allowed, else the seconds until the window
        has room again (at least 1), for Retry-After."""
        now = time.monotonic()
        local = self._local.get((name, key))
        if local is None or now - local[0] >= seconds:
            if len(self._local) >= 100_000:  # keys are tenants; a bound all the same
                self._local.clear()
            # [window start, hits in this window, hits not yet sent to the store, 1 once hit by hit]
            local = self._local[(name, key)] = [now, 0, 0, 0]
        chunk = limit // 10
        local[1] += 1
        local[2] += 1
        if local[1] <= chunk:  # quiet: counted here, sent along with the first hit past a tenth
            return None
        if local[2] < chunk and not local[3] and not self.counting_in_process:  # sent with the chunk's last hit
            return None
        cost = int(local[2])
        local[2] = 0
        item = limits.RateLimitItemPerSecond(limit, seconds)
        if not self.counting_in_process:
            try:
                async with asyncio.timeout(self._timeout):
                    wait = await self._count(self._redis, item, name, key, cost)
                if wait is not None or (chunk > 1 and not await self._fits(item, name, key, chunk)):
                    local[3] = 1  # near or past the limit: hit by hit from now on
                return wait
            except Exception as exc:  # noqa: BLE001 - redis-py, OSError, timeouts: count in process instead
                self._redis_down_until = time.monotonic() + self._retry_redis_after
                self.fallbacks += 1
                log.warning(
                    "rate limits counted in process for %.0fs (%s)", self._retry_redis_after, type(exc).__name__
                )
        return await self._count(self._memory, item, name, key, cost)

    async def _fits(self, item: limits.RateLimitItem, name: str, key: str, chunk: int) -> bool:
        """Whether another whole chunk still fits in the window (else the key goes hit by hit)."""
        async with asyncio.timeout(self._timeout):
            stats = await self._redis.get_window_stats(item, name, key)
        return bool(stats.remaining >= chunk)

    @staticmethod
    async def _count(
        limiter: MovingWindowRateLimiter, item: limits.RateLimitItem, name: str, key: str, cost: int
    ) -> int | None:
        if await limiter.hit(item, name, key, cost=cost):
            return None
        if cost > 1 and await limiter.hit(item, name, key):  # the local hits did not fit; this one may
            return None
        stats = await limiter.get_window_stats(item, name, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
