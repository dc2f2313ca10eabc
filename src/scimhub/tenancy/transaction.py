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

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import asyncpg

from scimhub.tenancy import directory
from scimhub.tenancy.db import Connection
from scimhub.tenancy.fairness import Busy, FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import scope_sql
from scimhub.tenancy.session_scope import (
    UNKNOWN,
    held_scope,
    record_scope,
    session_scope_sql,
    session_scope_statement,
)
from scimhub.tenancy.statement_cache import statements_of


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
    try:  # the scope statement too: its transaction is ended by this block, as in `scoped`
        if rescope:
            record_scope(conn, UNKNOWN)
            if transaction:  # BEGIN and the scope in one simple-protocol message
                sql = session_scope_sql(tenant.schema, tenant.role, statement_timeout=statement_timeout)
                await conn.execute("BEGIN; " + sql)
            else:  # one prepared statement of all tenants (sent before the block's statements are tagged)
                sql, args = session_scope_statement(tenant.schema, tenant.role, statement_timeout=statement_timeout)
                await conn.execute(sql, *args)
                record_scope(conn, tenant.id)
        elif transaction:
            await conn.execute("BEGIN")
        with statements_of(conn, tenant):  # the tenant's own prepared statements (`tenancy.statement_cache`)
            yield conn
    except BaseException:
        record_scope(conn, UNKNOWN)  # a ROLLBACK undoes a scope set inside it; a failure proves nothing
        if transaction:
            with contextlib.suppress(Exception):
                await _end(conn, "ROLLBACK")
        raise
    if transaction:
        record_scope(conn, UNKNOWN)  # until the COMMIT has made the scope the session's
        await _end(conn, "COMMIT")
        record_scope(conn, tenant.id)


@asynccontextmanager
async def scoped(
    conn: Connection, tenant: Tenant, *, statement_timeout: float | None = None
) -> AsyncIterator[Connection]:
    """The same scope on a connection the caller holds (the operator CLI's admin connection).

    The transaction always ends before the connection goes back: whatever is raised, the scope statement
    itself included, and however often the task is cancelled meanwhile (a client that hangs up, a timeout),
    ROLLBACK (or COMMIT) runs to its answer (`_end`). A connection whose transaction cannot be ended, or that
    is lent already inside one, is terminated: it is never lent again in a state nobody knows."""
    with statements_of(conn, tenant):
        if conn.is_in_transaction():
            conn.terminate()
            raise asyncpg.InterfaceError("a pooled connection was lent inside a transaction; it was terminated")
        try:
            await conn.execute(scope_sql(tenant.schema, tenant.role, statement_timeout=statement_timeout))
            yield conn
        except BaseException:
            with contextlib.suppress(Exception):  # the caller's error is the one to tell; a failed end terminated
                await _end(conn, "ROLLBACK")
            raise
        await _end(conn, "COMMIT")


async def _end(conn: Connection, statement: str) -> None:
    """COMMIT or ROLLBACK, shielded from the caller's cancellation: a cancelled caller waits for the answer
    and is cancelled after it (asyncpg's command timeout bounds the wait)."""
    if conn.is_closed():
        return
    ending = asyncio.ensure_future(_finish(conn, statement))
    cancelled = False
    while True:
        try:
            await asyncio.shield(ending)
        except asyncio.CancelledError:
            if ending.done():
                raise
            cancelled = True  # cancelled again while ending: the end goes on; the cancellation comes after
            continue
        break
    if cancelled:
        raise asyncio.CancelledError


async def _finish(conn: Connection, statement: str) -> None:
    """The statement, then proof that the transaction is over (PostgreSQL's ReadyForQuery status); a
    connection without that proof is terminated (through PgBouncer its server connection is closed too)."""
    try:
        await conn.execute(statement)
    except asyncpg.PostgresError:  # refused (a deferred constraint at COMMIT): ended unless still in one
        if conn.is_in_transaction():
            conn.terminate()
        raise
    except BaseException:
        conn.terminate()
        raise
    if conn.is_in_transaction():
        conn.terminate()
        raise asyncpg.InterfaceError("the tenant transaction did not end; the connection was terminated")


async def tenants_with_rows(pool: asyncpg.Pool, install_id: str, tenant_ids: Iterable[int], table: str) -> list[int]:
    """Of these tenants, those whose `table` (a tenant table, named by the caller's constant) holds a committed
    row now: one `EXISTS` each in the tenant's own scope (~3.5 ms on a schema the connection has not touched, far
    less than a drain or a sequencing there), so a full sweep's page works only where there is something. Exact,
    unlike the statistics. A tenant that cannot be probed is kept: its own work then fails or succeeds."""
    async with pool.acquire() as conn:
        tenants = await directory.tenants_by_id(conn, install_id, tenant_ids)
    probe = f"SELECT EXISTS (SELECT 1 FROM {table})"  # noqa: S608 - a constant table name, never input
    found: list[int] = []
    for tenant in tenants:
        try:
            async with tenant_statement(pool, tenant) as conn:
                if not await conn.fetchval(probe):
                    continue
        except (asyncpg.PostgresError, OSError):
            pass
        found.append(tenant.id)
    return found
