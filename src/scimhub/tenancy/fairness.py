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

from scimhub.tenancy.session_scope import PUBLIC, UNKNOWN, UNSCOPE_SQL, ScopedConnection, held_scope, record_scope


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


def _sticky_choice(free: Any, tenant_id: int, *, grow: bool = True) -> int:
    """Which free holder a tenant block takes on a sticky pool (issue #13): a connection that already holds
    this tenant's scope (the most recently released one), else (with `grow`) one not opened yet (the pool grows
    to its size before it re-scopes another tenant's connection: asyncpg alone would reuse the few open ones,
    and with several tenants nearly every request re-scoped, which also makes PostgreSQL re-plan each prepared
    statement for the new search path), else the open one released longest ago (the coldest tenant's).
    -1 when there is no such holder."""
    unopened = oldest = -1
    for i in range(len(free) - 1, -1, -1):
        holder = free[i]
        if not holder.is_connected():
            if grow and unopened < 0:
                unopened = i
            continue
        if held_scope(holder._con) == tenant_id:
            return i
        oldest = i
    return unopened if unopened >= 0 else oldest


class FairPool(asyncpg.Pool):
    def __init__(
        self,
        *args: Any,
        per_tenant: int,
        acquire_timeout: float,
        statement_timeout: float | None,
        sticky: bool = False,
        **kwargs: Any,
    ) -> None:
        if sticky:
            kwargs["connection_class"] = ScopedConnection
        super().__init__(*args, **kwargs)
        # Connections keep a tenant's scope between transactions (`tenancy.session_scope`); never behind
        # PgBouncer in transaction mode.
        self.sticky = sticky
        self.per_tenant = per_tenant
        self.acquire_timeout = acquire_timeout
        self.statement_timeout = statement_timeout
        self._slots: dict[int, tuple[asyncio.Semaphore, list[int]]] = {}

    def in_use(self, tenant_id: int) -> int:
        """Connections the tenant holds or waits for (tests and metrics read it)."""
        slot = self._slots.get(tenant_id)
        return slot[1][0] if slot is not None else 0

    async def _acquire(self, timeout: float | None) -> PoolConnectionProxy:  # noqa: ASYNC109 - asyncpg's
        """Every `pool.acquire()` outside `tenant_connection`: a connection with the login's own scope (on a
        sticky pool a free one that holds it, else the open one released longest ago, so that a token lookup
        does not take the scope of the tenant that just used a connection; with none open, asyncpg's way)."""
        free = self._queue._queue  # type: ignore[attr-defined]
        conn: PoolConnectionProxy
        choice = _sticky_choice(free, PUBLIC, grow=False) if self.sticky and free else -1
        if choice >= 0:
            conn = await self._take(free, choice, 0.0)  # an open connection: nothing to wait for
        else:
            conn = await super()._acquire(timeout)  # type: ignore[misc]
        if self.sticky and held_scope(conn) != PUBLIC:
            try:
                record_scope(conn, UNKNOWN)
                await conn.execute(UNSCOPE_SQL)
                record_scope(conn, PUBLIC)
            except BaseException:
                await self.release(conn)
                raise
        return conn

    async def _acquire_before(self, tenant_id: int, seconds: float) -> PoolConnectionProxy:
        """A connection for the tenant's transaction, as it is (`tenancy.transaction` scopes it). A free one
        is taken at once, preferring one that already holds this tenant's scope (sticky pools); otherwise the
        wait is bounded by `seconds`."""
        free = self._queue._queue  # type: ignore[attr-defined]  # the idle holders, taken from the end
        conn: PoolConnectionProxy
        if self.sticky and free:
            return await self._take(free, _sticky_choice(free, tenant_id), seconds)
        if any(holder.is_connected() for holder in free):
            # No timeout: a free connected holder is taken without waiting (and without asyncpg's wait_for
            # task); one still to connect goes the bounded way below.
            conn = await asyncpg.Pool._acquire(self, None)  # type: ignore[attr-defined]
            return conn
        try:
            conn = await asyncpg.Pool._acquire(self, max(0.001, seconds))  # type: ignore[attr-defined]
        except TimeoutError:
            raise Busy("no database connection is free", retry_after=1) from None
        return conn

    async def release(self, connection: PoolConnectionProxy, *, timeout: float | None = None) -> None:  # noqa: ASYNC109 - asyncpg's
        """Back to the pool. A connection with nothing to undo (no transaction open, no cancellation under way,
        neither past its query budget nor of an expired generation) goes back at once, as asyncpg's
        `PoolConnectionHolder.release` would put it (listeners cleared, proxy detached, holder queued,
        inactivity timer re-armed), without the task `asyncio.shield` makes of each release and the timeout
        around a reset that has nothing to send: the pool's reset (`tenancy.db._reset`) only ends an open
        transaction (issue #13). Anything else, and a pool with asyncpg's own reset, takes asyncpg's way."""
        holder = getattr(connection, "_holder", None)
        con = getattr(connection, "_con", None)
        if (
            type(connection) is PoolConnectionProxy
            and self._reset is not None  # type: ignore[attr-defined]
            and holder is not None
            and holder._pool is self
            and holder._in_use is not None
            and con is not None
            and not con.is_closed()
            and con._top_xact is None
            and not con._protocol.is_in_transaction()
            and not con._protocol._is_cancelling()
            and con._protocol.queries_count < holder._max_queries
            and holder._generation == self._generation
        ):
            self._check_init()
            con._on_release()
            holder._timeout = None
            con._listeners.clear()
            con._log_listeners.clear()
            holder._release()
            holder._setup_inactive_callback()
            return
        await super().release(connection, timeout=timeout)

    async def _take(self, free: Any, index: int, seconds: float) -> PoolConnectionProxy:
        """The free holder at `index`, acquired as asyncpg's `Pool._acquire` does (one still to connect
        connects within `seconds`, else Busy; on any failure the holder goes back to the free ones)."""
        holder = free[index]
        del free[index]
        try:
            if holder.is_connected():
                proxy: PoolConnectionProxy = await holder.acquire()
            else:
                async with asyncio.timeout(max(0.001, seconds)):
                    proxy = await holder.acquire()
        except TimeoutError:
            self._queue.put_nowait(holder)  # type: ignore[attr-defined]
            raise Busy("no database connection is free", retry_after=1) from None
        except BaseException:
            self._queue.put_nowait(holder)  # type: ignore[attr-defined]
            raise
        holder._timeout = None
        return proxy

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
                if semaphore.locked():
                    async with asyncio.timeout(timeout):
                        await semaphore.acquire()
                else:
                    await semaphore.acquire()  # free: taken without waiting (no timer to arm)
            except TimeoutError:
                raise Busy("this tenant's share of the database connections is in use", retry_after=1) from None
            try:
                conn = await self._acquire_before(tenant_id, deadline - loop.time())
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
