"""`tenant_transaction`: the only way to reach a tenant's tables.

One transaction whose search path and role are set with `set_config(..., true)`, i.e. transaction-local
(never a session-level `SET ROLE`, which would leak to the next user of a pooled connection). PostgreSQL
itself then refuses any access to another tenant's schema: the tenant role has no rights there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import scope_sql


@asynccontextmanager
async def tenant_transaction(pool: asyncpg.Pool, tenant: Tenant) -> AsyncIterator[Connection]:
    async with pool.acquire() as conn, scoped(conn, tenant):
        yield conn


@asynccontextmanager
async def scoped(conn: Connection, tenant: Tenant) -> AsyncIterator[Connection]:
    """The same scope on a connection the caller holds (the operator CLI's admin connection)."""
    await conn.execute(scope_sql(tenant.schema, tenant.role))
    try:
        yield conn
    except BaseException:
        if not conn.is_closed():
            await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
