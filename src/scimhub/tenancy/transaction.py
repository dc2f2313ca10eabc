"""`tenant_transaction`: the only way to reach a tenant's tables.

One transaction whose search path and role are set with `set_config(..., true)`, i.e. transaction-local
(never a session-level `SET ROLE`, which would leak to the next user of a pooled connection). PostgreSQL
itself then refuses any access to another tenant's schema: the tenant role has no rights there.

On the web process's `tenancy.fairness.FairPool` the transaction also takes its connection from the tenant's
share of the pool, within the acquire timeout, and its statements run under the pool's statement timeout;
either timeout raises `tenancy.fairness.Busy`. A sticky FairPool (straight to PostgreSQL) keeps each
connection scoped to its last tenant between transactions (`tenancy.session_scope`): the scope statement is
sent only when the connection held another scope, and `tenant_statement` (one statement, or reads that need
no common snapshot) sends no `BEGIN`/`COMMIT` at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from scimhub.tenancy.db import Connection
from scimhub.tenancy.fairness import Busy, FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import scope_sql
from scimhub.tenancy.session_scope import UNKNOWN, held_scope, record_scope, session_scope_sql


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
            if pool.sticky:
                async with _sticky(conn, tenant, pool.statement_timeout, transaction=True):
                    yield conn
            else:
                async with scoped(conn, tenant, statement_timeout=pool.statement_timeout):
                    yield conn
        except asyncpg.QueryCanceledError as exc:  # statement_timeout (57014)
            raise Busy("a database statement took too long", retry_after=5) from exc


@asynccontextmanager
async def tenant_statement(
    pool: asyncpg.Pool, tenant: Tenant, *, acquire_timeout: float | None = None
) -> AsyncIterator[Connection]:
    """A tenant connection for a block that sends one statement (a read, or a write whose event rides in the
    same statement): atomic on its own, so a sticky pool runs it without `BEGIN`/`COMMIT`, and without any
    scope statement when the connection already holds this tenant's scope (one round trip in all). Anywhere
    else it is `tenant_transaction`."""
    if not (isinstance(pool, FairPool) and pool.sticky):
        async with tenant_transaction(pool, tenant, acquire_timeout=acquire_timeout) as conn:
            yield conn
        return
    async with pool.tenant_connection(tenant.id, acquire_timeout=acquire_timeout) as conn:
        try:
            async with _sticky(conn, tenant, pool.statement_timeout, transaction=False):
                yield conn
        except asyncpg.QueryCanceledError as exc:  # statement_timeout (57014)
            raise Busy("a database statement took too long", retry_after=5) from exc


@asynccontextmanager
async def _sticky(
    conn: Connection, tenant: Tenant, statement_timeout: float | None, *, transaction: bool
) -> AsyncIterator[Connection]:
    """The tenant's session scope on a connection of a sticky pool (the rules: `tenancy.session_scope`)."""
    rescope = held_scope(conn) != tenant.id
    if rescope:
        record_scope(conn, UNKNOWN)
        sql = session_scope_sql(tenant.schema, tenant.role, statement_timeout=statement_timeout)
        await conn.execute("BEGIN; " + sql if transaction else sql)
        if not transaction:
            record_scope(conn, tenant.id)
    elif transaction:
        await conn.execute("BEGIN")
    try:
        yield conn
    except BaseException:
        record_scope(conn, UNKNOWN)  # a ROLLBACK undoes a scope set inside it; a failure proves nothing
        if transaction and not conn.is_closed():
            await conn.execute("ROLLBACK")
        raise
    if transaction:
        record_scope(conn, UNKNOWN)  # until the COMMIT has made the scope the session's
        await conn.execute("COMMIT")
        record_scope(conn, tenant.id)


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
