"""Connections that keep a tenant's scope between requests (`tenancy.session_scope`, issue #13): whatever the
order of tenants, failures and cancellations, a tenant block runs as that tenant's role on that tenant's
schema, and a plain `pool.acquire()` as the app login. Straight to PostgreSQL the pool is sticky; through
PgBouncer (the second pass of `make test`) it is not, and the same assertions hold."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from scimhub.http.services import Services
from scimhub.tenancy.db import AppDatabase, Connection, fetch_one
from scimhub.tenancy.fairness import FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.roles import login_role
from scimhub.tenancy.session_scope import UNKNOWN, held_scope
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction
from tests.support.tenants import TenantHandle, create_tenant


async def _scope(conn: Connection) -> tuple[str, str]:
    row = await fetch_one(conn, "SELECT current_user AS who, current_setting('search_path') AS path")
    return row["who"], row["path"]


async def _assert_tenant(conn: Connection, tenant: Tenant) -> None:
    assert await _scope(conn) == (tenant.role, tenant.schema)
    names = [r["display_name"] for r in await conn.fetch("SELECT display_name FROM scim_group")]
    assert names == [tenant.slug]  # its own row, and only it


async def _tenants_with_a_row(database: str, services: Services, n: int) -> list[TenantHandle]:
    handles = [await create_tenant(database) for _ in range(n)]
    for h in handles:
        async with tenant_transaction(services.db.pool, h.tenant) as conn:
            await conn.execute(
                "INSERT INTO scim_group (id, display_name, version, created, last_modified, doc) "
                "VALUES (gen_random_uuid(), $1, 1, now(), now(), '{}'::jsonb)",
                h.tenant.slug,
            )
    return handles


@pytest.fixture
async def one_connection(services: Services) -> AsyncIterator[FairPool]:
    """A web pool of one connection: every block below reuses the same server session."""
    settings = services.settings
    db = await AppDatabase.open(
        settings.app_database_url, size=1, pool_mode=settings.app_database_pool_mode, tenant_share=1
    )
    assert isinstance(db.pool, FairPool)
    assert db.pool.sticky == (settings.app_database_pool_mode == "session")
    try:
        yield db.pool
    finally:
        await db.close()


async def test_interleaved_tenants_on_one_connection_always_get_their_own_scope(
    services: Services, database: str, one_connection: FairPool
) -> None:
    pool = one_connection
    a, b = await _tenants_with_a_row(database, services, 2)
    async with tenant_statement(pool, a.tenant) as conn:
        await _assert_tenant(conn, a.tenant)
    async with tenant_statement(pool, a.tenant) as conn:  # same tenant again: no scope statement needed
        await _assert_tenant(conn, a.tenant)
        if pool.sticky:
            assert held_scope(conn) == a.tenant.id
    async with tenant_transaction(pool, b.tenant) as conn:
        await _assert_tenant(conn, b.tenant)
    # B's scope was set inside a transaction that rolls back: the session falls back to B's (committed) scope
    # or A's; the record must not claim B, so B's next block re-scopes.
    async with tenant_statement(pool, a.tenant) as conn:
        await _assert_tenant(conn, a.tenant)

    async def failing_transaction() -> None:
        async with tenant_transaction(pool, b.tenant) as conn:
            await _assert_tenant(conn, b.tenant)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing_transaction()
    async with pool.acquire() as conn:
        assert await _scope(conn) == (login_role(services.settings.app_database_url), "pg_catalog")
    async with tenant_statement(pool, b.tenant) as conn:
        await _assert_tenant(conn, b.tenant)
    # A failed statement, then a cancelled one: the next block of another tenant still gets its own scope.

    async def failing_statement() -> None:
        async with tenant_statement(pool, a.tenant) as conn:
            await conn.fetch("SELECT * FROM no_such_table")

    with pytest.raises(asyncpg.UndefinedTableError):
        await failing_statement()
    async with tenant_statement(pool, b.tenant) as conn:
        await _assert_tenant(conn, b.tenant)
    started = asyncio.Event()

    async def slow() -> None:
        async with tenant_statement(pool, a.tenant) as conn:
            started.set()
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with tenant_statement(pool, b.tenant) as conn:
        await _assert_tenant(conn, b.tenant)
    async with pool.acquire() as conn:
        assert await _scope(conn) == (login_role(services.settings.app_database_url), "pg_catalog")
        if pool.sticky:
            assert held_scope(conn) != UNKNOWN


async def test_a_thousand_interleaved_blocks_never_see_another_tenants_scope(services: Services, database: str) -> None:
    pool = services.db.pool
    handles = await _tenants_with_a_row(database, services, 6)
    rng = random.Random(13)
    login = login_role(services.settings.app_database_url)

    async def job(n: int) -> None:
        h = rng.choice(handles)
        kind = n % 5
        if kind == 4:  # the login's own work between tenant requests (token lookups, the hub)
            async with pool.acquire() as conn:
                assert await _scope(conn) == (login, "pg_catalog")
            return
        try:
            block = tenant_statement if kind < 2 else tenant_transaction
            async with block(pool, h.tenant) as conn:
                await _assert_tenant(conn, h.tenant)
                await asyncio.sleep(rng.random() / 500)
                await _assert_tenant(conn, h.tenant)
                if kind == 3:
                    raise LookupError("a failing block")
        except LookupError:
            pass

    for start in range(0, 1000, 50):
        await asyncio.gather(*(job(n) for n in range(start, start + 50)))


async def test_every_app_session_runs_without_jit(services: Services, database: str) -> None:
    """The app login's sessions have `jit` off (`tenancy.roles._LOGIN_SETTINGS`), in a tenant block and out,
    straight to PostgreSQL and through PgBouncer: with it on, PostgreSQL compiled the change sequencer's
    statement on every run (~250 ms of CPU for a statement that moves a few rows), enough to keep a core busy
    behind an Entra cycle (issue #13)."""
    pool = services.db.pool
    (handle,) = await _tenants_with_a_row(database, services, 1)
    async with tenant_statement(pool, handle.tenant) as conn:
        assert await conn.fetchval("SELECT current_setting('jit')") == "off"
    async with tenant_transaction(pool, handle.tenant) as conn:
        assert await conn.fetchval("SELECT current_setting('jit')") == "off"
        plan = await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) SELECT count(*) FROM event_pending p, "
            "jsonb_array_elements(p.change -> 'events') e, generate_series(1, 100000) g"
        )
        assert "JIT" not in str(plan)  # a plan above jit_above_cost that PostgreSQL would have compiled
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT current_setting('jit')") == "off"
