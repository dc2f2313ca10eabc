"""Fair share of the database pool between tenants, and the timeouts that turn a wait into an answer.

`FairPool` is asyncpg's pool plus three rules `tenant_transaction` applies to every tenant transaction:
- a tenant holds at most `per_tenant` of the pool's connections at once (a semaphore per tenant, made when
  the tenant first asks and dropped when it holds none), so the others always find `size - per_tenant`
  connections that tenant cannot take: one tenant's slow filters never queue another tenant behind them;
- the wait for the tenant's slot and then a pooled connection is at most `acquire_timeout` seconds in all;
- every statement of the transaction is cut off after `statement_timeout` seconds (PostgreSQL's
  `statement_timeout`, set transaction-local in the scope statement, so it includes lock waits and leaves
  nothing behind on the pooled connection).
Either timeout raises `Busy`, which the HTTP layer answers with 503, `Retry-After` and a SCIM error; nothing
hangs. Connections taken with `pool.acquire()` directly (token lookups, the hub's public-table reads) are not
counted against a tenant; they draw on what the shares leave free.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy


class Busy(Exception):
    """No connection within the acquire timeout, or a statement past the statement timeout. `retry_after` is
    the number of seconds a client should wait (the Retry-After header)."""

    def __init__(self, reason: str, *, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def default_share(size: int) -> int:
    """A tenant's share of a pool of `size`: a third (at least one connection, and one less than the pool), so
    with the default web pool of 12 one tenant takes at most 4 and 8 stay for everyone else. A normal Entra
    cycle needs far less: 25 requests per second of a few milliseconds each keep about 0.1 connection busy.
    On a 2-core machine the share is also a CPU share: 8 of one tenant's slow filters left the other tenants
    p99 at 172 ms in `ops/bench_attacks.py`, where 4 leave less room to the flood."""
    return max(1, min(size - 1, size // 3))


class FairPool(asyncpg.Pool):
    def __init__(
        self,
        *args: Any,
        per_tenant: int,
        acquire_timeout: float,
        statement_timeout: float | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.per_tenant = per_tenant
        self.acquire_timeout = acquire_timeout
        self.statement_timeout = statement_timeout
        self._slots: dict[int, tuple[asyncio.Semaphore, list[int]]] = {}

    def in_use(self, tenant_id: int) -> int:
        """Connections the tenant holds or waits for (tests and metrics read it)."""
        slot = self._slots.get(tenant_id)
        return slot[1][0] if slot is not None else 0

    async def _acquire_before(self, seconds: float) -> PoolConnectionProxy:
        try:
            conn: PoolConnectionProxy = await self.acquire(timeout=max(0.001, seconds))
        except TimeoutError:
            raise Busy("no database connection is free", retry_after=1) from None
        return conn

    @asynccontextmanager
    async def tenant_connection(
        self, tenant_id: int, *, acquire_timeout: float | None = None
    ) -> AsyncIterator[PoolConnectionProxy]:
        """A pooled connection counted against the tenant's share; Busy after the acquire timeout."""
        timeout = self.acquire_timeout if acquire_timeout is None else acquire_timeout
        slot = self._slots.get(tenant_id)
        if slot is None:
            slot = self._slots[tenant_id] = (asyncio.Semaphore(self.per_tenant), [0])
        semaphore, users = slot
        users[0] += 1
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            try:
                async with asyncio.timeout(timeout):
                    await semaphore.acquire()
            except TimeoutError:
                raise Busy("this tenant's share of the database connections is in use", retry_after=1) from None
            try:
                conn = await self._acquire_before(deadline - loop.time())
                try:
                    yield conn
                finally:
                    await self.release(conn)
            finally:
                semaphore.release()
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[tenant_id]
