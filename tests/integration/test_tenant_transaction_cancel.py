"""A tenant transaction cancelled at a chosen point (a client that hangs up, a timeout) ends before its
connection goes back to the pool, and the next user of that connection is correctly scoped: also through
PgBouncer in transaction mode (`ops/test.sh`'s second pass), where a connection released mid-transaction
would keep its server connection, and its tenant's role, for whatever statement comes next.

The pool has one connection, so the next user is the very connection that was cancelled. The transaction is
stopped inside a statement that waits for an advisory lock the test holds (seen waiting in pg_stat_activity),
then cancelled once or several times: a cancellation while the ROLLBACK waits for PostgreSQL to acknowledge
the first one used to skip the ROLLBACK, and asyncpg then rolled back at release ("Resetting connection with
an active transaction").
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from scimhub.settings import Settings
from scimhub.tenancy.db import AppDatabase, fetch_one
from scimhub.tenancy.fairness import FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.tenants import TenantHandle

LOCK_KEY = 710_412


@pytest.fixture
async def one_connection(settings: Settings, database: str) -> AsyncIterator[FairPool]:
    db = await AppDatabase.open(
        settings.app_database_url,
        size=1,
        pool_mode=settings.app_database_pool_mode,
        tenant_share=1,
        acquire_timeout=10,
        statement_timeout=30,
    )
    assert isinstance(db.pool, FairPool)
    yield db.pool
    await db.close()


@pytest.fixture
async def loop_warnings() -> AsyncIterator[list[str]]:
    """What asyncpg reports through the loop's exception handler (its reset's warning among them)."""
    loop = asyncio.get_running_loop()
    seen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(str(context.get("message"))))
    yield seen
    loop.set_exception_handler(previous)


async def _wait_for_lock_waiter(admin: asyncpg.Connection) -> None:
    """Until a backend waits for the test's advisory lock (a bounded poll on the state, not a sleep)."""
    for _ in range(500):
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = $1",
            LOCK_KEY,
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the tenant transaction never reached its lock wait")


async def _assert_next_users_are_scoped(pool: FairPool, tenant: Tenant) -> None:
    login = await _login(pool)
    async with pool.acquire() as conn:  # what the token lookup does: public tables, the app login's rights
        assert not conn.is_in_transaction()
        row = await fetch_one(
            conn,
            "SELECT current_user AS who, current_setting('search_path') AS path, "
            "(SELECT count(*) FROM public.tenant WHERE id = $1) AS found",
            tenant.id,
        )
        assert (row["who"], row["path"], row["found"]) == (login, "pg_catalog", 1)
    async with tenant_transaction(pool, tenant) as conn:
        row = await fetch_one(conn, "SELECT current_user AS who, (SELECT count(*) FROM scim_user) AS users")
        assert (row["who"], row["users"]) == (tenant.role, 0)
    assert pool.in_use(tenant.id) == 0


async def _login(pool: FairPool) -> str:
    async with pool.acquire() as conn:
        return str(await conn.fetchval("SELECT session_user"))


@pytest.mark.parametrize("cancels", [1, 2, 3])
async def test_a_cancelled_tenant_transaction_ends_before_its_connection_is_lent_again(
    one_connection: FairPool,
    tenant: TenantHandle,
    admin: asyncpg.Connection,
    loop_warnings: list[str],
    cancels: int,
) -> None:
    pool, t = one_connection, tenant.tenant
    reached: list[str] = []

    async def request() -> None:
        async with tenant_transaction(pool, t) as conn:
            reached.append(await conn.fetchval("SELECT current_user"))
            await conn.execute("SELECT pg_catalog.pg_advisory_xact_lock($1)", LOCK_KEY)
            reached.append("past the lock")  # never: the test holds the lock until the task is cancelled

    await admin.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        task = asyncio.create_task(request())
        await _wait_for_lock_waiter(admin)
        for _ in range(cancels):  # each one reaches the task where the previous one left it
            task.cancel()
            await asyncio.sleep(0)
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await admin.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    assert reached == [t.role]
    assert not [w for w in loop_warnings if "active transaction" in w], loop_warnings
    await _assert_next_users_are_scoped(pool, t)


async def test_a_refused_scope_statement_is_rolled_back_by_the_scope_itself(
    one_connection: FairPool, tenant: TenantHandle, admin: asyncpg.Connection, loop_warnings: list[str]
) -> None:
    """The scope statement is inside the scope's own error handling: when it fails after its BEGIN (here
    set_config of a role that does not exist), the scope rolls back, not asyncpg's reset at release."""
    pool, t = one_connection, tenant.tenant
    ghost = Tenant(id=t.id, slug=t.slug, schema=t.schema, role=t.role + "0", status=t.status)  # no such role
    with pytest.raises(asyncpg.PostgresError):
        async with tenant_transaction(pool, ghost):
            raise AssertionError("a scope with a role that does not exist must not begin")
    assert not [w for w in loop_warnings if "active transaction" in w], loop_warnings
    await _assert_next_users_are_scoped(pool, t)
