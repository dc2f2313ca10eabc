"""`tenant_transaction`: the only way to reach a tenant's tables.

One transaction whose search path and role are set with `set_config(..., true)`, i.e. transaction-local
(never a session-level `SET ROLE`, which would leak to the next user of a pooled connection). PostgreSQL
itself then refuses any access to another tenant's schema: the tenant role has no rights there.

On the web process's `tenancy.fairness.FairPool` the transaction also takes its connection from the tenant's
share of the pool, within the acquire timeout, and its statements run under the pool's statement timeout;
either timeout raises `tenancy.fairness.Busy`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from scimhub.tenancy.db import Connection
from scimhub.tenancy.fairness import Busy, FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import scope_sql


@asynccontextmanager
async def tenant_transaction(
    pool: asyncpg.Pool, tenant: Tenant, *, acquire_timeout: float | None = None
) -> AsyncIterator[Connection]:
    """The tenant's transaction on a pooled connection. `acquire_timeout` overrides a FairPool's own (the
    activity flush waits briefly and retries later instead of holding up other tenants)."""
    if not isinstance(pool, FairPool):
        async with pool.acquire() as conn, scoped(conn, tenant):
            yield conn
        return
    async with pool.tenant_connection(tenant.id, acquire_timeout=acquire_timeout) as conn:
        try:
            async with scoped(conn, tenant, statement_timeout=pool.statement_timeout):
                yield conn
        except asyncpg.QueryCanceledError as exc:  # statement_timeout (57014)
            raise Busy("a database statement took too long", retry_after=5) from exc


@asynccontextmanager
async def scoped(
    conn: Connection, tenant: Tenant, *, statement_timeout: float | None = None
) -> AsyncIterator[Connection]:
    """The same scope on a connection the caller holds (the operator CLI's admin connection)."""
    await conn.execute(scope_sql(tenant.schema, tenant.role, statement_timeout=statement_timeout))
    try:
        yield conn
    except BaseException:
        if not conn.is_closed():
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
