"""Each tenant's own prepared statements on a pooled connection (`tenancy.statement_cache`, issue #13).

A statement a tenant block sends is prepared under a text that names the tenant's schema, so tenants sharing a
connection never share a prepared statement (PostgreSQL would re-plan it at every change of search path), and
each still reads only its own rows. Statements outside a tenant block keep their own text. Straight to
PostgreSQL only (the first pass of `make test`): through PgBouncer asyncpg keeps no prepared statement."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from scimhub.audit.drain import drain_tenant
from scimhub.events.sequencer import sequence_tenant
from scimhub.http.services import Services
from scimhub.tenancy.db import Connection
from scimhub.tenancy.fairness import FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.statement_cache import statements_of, with_limit
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction
from tests.support.pools import app_pool
from tests.support.tenants import create_tenant

_COUNT = "SELECT count(*) FROM scim_group WHERE display_name <> $1"  # has an argument: asyncpg prepares it
_PLAIN = "SELECT count(*) FROM public.tenant WHERE id > $1"


async def _prepared(conn: Connection) -> set[str]:
    """The texts of the session's prepared statements that count groups or tenants."""
    rows = await conn.fetch("SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%count(*)%'")
    return {r["statement"] for r in rows}


async def _add_groups(pool: asyncpg.Pool, tenant: Tenant, n: int) -> None:
    async with tenant_transaction(pool, tenant) as conn:
        for i in range(n):
            await conn.execute(
                "INSERT INTO scim_group (id, display_name, version, created, last_modified, doc) "
                "VALUES (gen_random_uuid(), $1, 1, now(), now(), '{}'::jsonb)",
                f"{tenant.slug}-{i}",
            )


@pytest.fixture
async def web_pool(services: Services) -> AsyncIterator[FairPool]:
    """A sticky web pool of one connection: every block below runs on the same server session."""
    async with app_pool(services, size=1, pool_mode="session", tenant_share=1) as pool:
        assert isinstance(pool, FairPool) and pool.sticky
        yield pool


@pytest.fixture
async def worker_pool(services: Services) -> AsyncIterator[asyncpg.Pool]:
    """A worker's pool (no shares: `tenant_transaction` scopes each transaction locally) of one connection."""
    async with app_pool(services, size=1, pool_mode="session") as pool:
        assert not isinstance(pool, FairPool)
        yield pool


@pytest.mark.parametrize("block", [tenant_statement, tenant_transaction])
async def test_tenants_on_one_connection_keep_their_own_prepared_statements(
    web_pool: FairPool, database: str, block: object
) -> None:
    pool = web_pool
    a, b = [(await create_tenant(database)).tenant for _ in range(2)]
    await _add_groups(pool, a, 1)
    await _add_groups(pool, b, 3)
    texts: set[str] = set()
    for _ in range(3):  # A, B, A, B, ...: each reads its own rows through its own statement
        for tenant, groups in ((a, 1), (b, 3)):
            async with block(pool, tenant) as conn:  # type: ignore[operator]
                assert await conn.fetchval(_COUNT, "") == groups
                texts = await _prepared(conn)
    assert f"/*{a.schema}*/{_COUNT}" in texts and f"/*{b.schema}*/{_COUNT}" in texts
    assert _COUNT not in texts  # never prepared under the shared text


async def test_statements_outside_a_tenant_block_keep_their_text(web_pool: FairPool, database: str) -> None:
    pool = web_pool
    a = (await create_tenant(database)).tenant
    async with tenant_statement(pool, a) as conn:
        await conn.fetchval(_COUNT, "")
    async with pool.acquire() as conn:  # the same server session, as the app login
        assert await conn.fetchval(_PLAIN, 0) >= 1
        texts = await _prepared(conn)
    assert _PLAIN in texts and not any(t.endswith(_PLAIN) and t != _PLAIN for t in texts)


async def test_a_workers_transactions_keep_each_tenants_statements_apart(
    worker_pool: asyncpg.Pool, database: str
) -> None:
    a, b = [(await create_tenant(database)).tenant for _ in range(2)]
    await _add_groups(worker_pool, a, 2)
    await _add_groups(worker_pool, b, 1)
    texts: set[str] = set()
    for tenant, groups in ((a, 2), (b, 1), (a, 2)):
        async with tenant_transaction(worker_pool, tenant) as conn:
            assert await conn.fetchval(_COUNT, "") == groups
            texts = await _prepared(conn)
    assert {f"/*{a.schema}*/{_COUNT}", f"/*{b.schema}*/{_COUNT}"} <= texts


async def test_a_schema_name_that_is_not_of_a_tenant_is_never_inlined(web_pool: FairPool) -> None:
    async with web_pool.acquire() as conn:
        bad = Tenant(id=1, slug="x", schema="t_1*/ DROP TABLE x; /*", role="sh00_t1")
        with pytest.raises(ValueError, match="tenant schema"), statements_of(conn, bad):
            pass


def test_a_limit_is_inlined_only_as_a_positive_whole_number() -> None:
    assert with_limit("SELECT 1 LIMIT {limit}", 500) == "SELECT 1 LIMIT 500"
    for bad in (0, -1, True, "5; DROP TABLE x", 2.5):
        with pytest.raises(ValueError, match="positive whole number"):
            with_limit("SELECT 1 LIMIT {limit}", bad)  # type: ignore[arg-type]


async def test_the_workers_batches_are_planned_once_not_at_every_execution(
    worker_pool: asyncpg.Pool, database: str
) -> None:
    """The drain's and the sequencer's statements use a generic plan from their first execution on (a
    `LIMIT $1` made PostgreSQL plan a custom one every time)."""
    tenant = (await create_tenant(database)).tenant
    for _ in range(8):
        await drain_tenant(worker_pool, tenant)
        await sequence_tenant(worker_pool, tenant)
    async with tenant_transaction(worker_pool, tenant) as conn:
        rows = await conn.fetch(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE (statement LIKE '%DELETE FROM audit_outbox%' OR statement LIKE '%DELETE FROM event_pending%') "
            "AND statement NOT LIKE '%pg_prepared_statements%'"
        )
    assert len(rows) == 2
    for row in rows:
        assert (row["generic_plans"], row["custom_plans"]) == (8, 0), row["statement"][:80]
