"""Which pooled connection a tenant block gets on the sticky web pool (`tenancy.fairness._sticky_choice`, issue
#13): one that already holds the tenant's scope, else one not opened yet, else the one released longest ago.
Straight to PostgreSQL only (the first pass of `make test`; through PgBouncer the pool is not sticky and every
block is scoped in its own transaction, `test_session_scope.py` covers that). Each step is awaited in turn,
so the order of releases, and with it the expected connection, is fixed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from scimhub.http.services import Services
from scimhub.tenancy.db import fetch_one
from scimhub.tenancy.fairness import FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.session_scope import held_scope
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction
from tests.support.pools import app_pool
from tests.support.tenants import create_tenant


@pytest.fixture
async def pool_of_four(services: Services) -> AsyncIterator[FairPool]:
    async with app_pool(services, size=4, pool_mode="session", tenant_share=3) as pool:
        assert isinstance(pool, FairPool) and pool.sticky
        yield pool


async def _block(pool: FairPool, tenant: Tenant) -> int:
    """The server pid the tenant's block ran on (checked to run in the tenant's scope)."""
    async with tenant_statement(pool, tenant) as conn:
        pid: int = conn.get_server_pid()
        row = await fetch_one(conn, "SELECT current_user AS who, current_setting('search_path') AS path")
        assert (row["who"], row["path"]) == (tenant.role, tenant.schema)
        assert held_scope(conn) == tenant.id
        return pid


async def test_a_tenant_gets_back_its_own_scoped_connection_and_the_pool_grows_before_it_rescopes(
    pool_of_four: FairPool, database: str
) -> None:
    pool = pool_of_four
    a, b, c, d, e = [(await create_tenant(database)).tenant for _ in range(5)]
    pid_a = await _block(pool, a)
    pid_b = await _block(pool, b)
    assert pid_b != pid_a  # a connection not opened yet, not A's scoped one
    assert await _block(pool, a) == pid_a  # A's own, still scoped: no re-scope
    pid_c = await _block(pool, c)
    pid_d = await _block(pool, d)
    assert len({pid_a, pid_b, pid_c, pid_d}) == 4
    # All four open and free; released in the order B, A, C, D. E holds none: it re-scopes the one released
    # longest ago (B's), and keeps A, C and D theirs.
    assert await _block(pool, e) == pid_b
    for tenant, pid in ((a, pid_a), (c, pid_c), (d, pid_d), (e, pid_b)):
        assert await _block(pool, tenant) == pid
    # B lost its connection; it takes the coldest one now: A's (released first in the loop above).
    assert await _block(pool, b) == pid_a


async def test_concurrent_blocks_of_interleaved_tenants_keep_their_scopes(
    pool_of_four: FairPool, database: str
) -> None:
    """Under contention (more blocks than connections) every block still runs in its own tenant's scope, and the
    pool never opens more than its size."""
    pool = pool_of_four
    tenants = [(await create_tenant(database)).tenant for _ in range(3)]
    pids: set[int] = set()

    async def job(n: int) -> None:
        tenant = tenants[n % 3]
        block = tenant_statement if n % 2 else tenant_transaction
        async with block(pool, tenant) as conn:
            pids.add(conn.get_server_pid())
            row = await fetch_one(conn, "SELECT current_user AS who, current_setting('search_path') AS path")
            assert (row["who"], row["path"]) == (tenant.role, tenant.schema)
            await asyncio.sleep(0)

    for start in range(0, 300, 30):
        await asyncio.gather(*(job(n) for n in range(start, start + 30)))
    assert 1 <= len(pids) <= 4


async def test_a_plain_acquire_takes_the_coldest_open_connection(pool_of_four: FairPool, database: str) -> None:
    """A token lookup or a hub read (`pool.acquire()`) opens nothing while a connection is open, and takes the
    one released longest ago, so the tenant that used a connection last keeps its scope."""
    pool = pool_of_four
    a, b, c, d = [(await create_tenant(database)).tenant for _ in range(4)]
    pids = [await _block(pool, t) for t in (a, b, c, d)]  # all four open and scoped, A's released first
    assert len(set(pids)) == 4
    async with pool.acquire() as conn:
        assert conn.get_server_pid() == pids[0]  # A's, the coldest; no fifth connection
        row = await fetch_one(conn, "SELECT current_setting('search_path') AS path")
        assert row["path"] == "pg_catalog"  # unscoped before it was handed out
    assert await _block(pool, b) == pids[1]  # B kept its scoped connection
    # A's scope is gone with the plain acquire; A re-scopes the coldest now: C's (released C, D, plain, B).
    assert await _block(pool, a) == pids[2]


def _count_tasks(loop: asyncio.AbstractEventLoop) -> list[int]:
    """Counts the tasks the loop makes from now on (the first item)."""
    made = [0]

    def factory(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> asyncio.Task[object]:
        made[0] += 1
        return asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

    loop.set_task_factory(factory)  # type: ignore[arg-type]
    return made


async def test_a_release_with_nothing_to_undo_makes_no_task_and_keeps_the_scope(
    pool_of_four: FairPool, database: str
) -> None:
    pool = pool_of_four
    a = (await create_tenant(database)).tenant
    pid = await _block(pool, a)  # opens and scopes the connection
    loop = asyncio.get_running_loop()
    made = _count_tasks(loop)
    try:
        for _ in range(3):
            assert await _block(pool, a) == pid
        # asyncpg's own release ran in a task of its own (`asyncio.shield`), one per block (issue #13).
        assert made[0] == 0
        async with pool.tenant_connection(a.id) as conn:
            assert conn.get_server_pid() == pid and held_scope(conn) == a.id
    finally:
        loop.set_task_factory(None)


async def test_a_release_with_a_transaction_open_rolls_it_back_the_asyncpg_way(
    pool_of_four: FairPool, database: str
) -> None:
    pool = pool_of_four
    a = (await create_tenant(database)).tenant
    pid = await _block(pool, a)
    async with pool.tenant_connection(a.id) as conn:
        assert conn.get_server_pid() == pid
        await conn.execute("BEGIN")  # left open by its block: the release must end it
        await conn.execute("SELECT set_config('application_name', 'left-open', true)")
    async with pool.tenant_connection(a.id) as conn:
        assert conn.get_server_pid() == pid
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT current_setting('application_name')") == "scimhub"


async def test_a_connection_past_its_query_budget_is_replaced_on_release(services: Services, database: str) -> None:
    a = (await create_tenant(database)).tenant
    async with app_pool(services, size=2, pool_mode="session", tenant_share=1, max_queries=3) as pool:
        assert isinstance(pool, FairPool)
        pids = [await _block(pool, a) for _ in range(4)]
    assert pids[0] != pids[-1]  # closed after its budget, not handed back as it was
