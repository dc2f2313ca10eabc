"""Each tenant's own prepared statements on a pooled connection (`tenancy.statement_cache`, issue #13).

A statement a tenant block sends is prepared under a text that names the tenant's schema, so tenants sharing a
connection never share a prepared statement (PostgreSQL would re-plan it at every change of search path), and
each still reads only its own rows. Statements outside a tenant block keep their own text. Straight to
PostgreSQL only (the first pass of `make test`): through PgBouncer asyncpg keeps no prepared statement."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from scimhub.audit import drain, outbox
from scimhub.audit.drain import drain_tenant
from scimhub.events.sequencer import sequence_tenant
from scimhub.http.services import Services
from scimhub.store import resources
from scimhub.tenancy.db import Connection
from scimhub.tenancy.fairness import FairPool
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.session_scope import session_scope_statement
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


async def test_a_re_scope_is_one_prepared_statement_of_every_tenant(web_pool: FairPool, database: str) -> None:
    """Tenants taking turns on one connection re-scope it with one statement prepared once for all of them
    (its arguments name the tenant): PostgreSQL neither parses nor plans it again at each re-scope. Each
    tenant still reads only its own rows, and the scope really is the tenant's."""
    tenants = [(await create_tenant(database)).tenant for _ in range(3)]
    for n, tenant in enumerate(tenants, start=1):
        await _add_groups(web_pool, tenant, n)
    for _ in range(3):
        for n, tenant in enumerate(tenants, start=1):
            async with tenant_statement(web_pool, tenant) as conn:
                assert await conn.fetchval(_COUNT, "") == n
                assert await conn.fetchval("SELECT current_user || ' ' || current_setting('search_path')") == (
                    f"{tenant.role} {tenant.schema}"
                )
    async with web_pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements "
            "WHERE statement LIKE '%set_config(''search_path''%' AND statement NOT LIKE '%pg_prepared%'"
        )
    assert [r["statement"] for r in rows] == [
        session_scope_statement(tenants[0].schema, tenants[0].role, statement_timeout=web_pool.statement_timeout)[0]
    ]
    assert rows[0]["runs"] == 9  # every re-scope of the 3 x 3 blocks (each block another tenant than the last)


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


def _batch_estimates(plan: object) -> list[float]:
    """The planner's row estimates of the `unnest` scans in an `EXPLAIN (FORMAT JSON)` plan."""
    found: list[float] = []
    if isinstance(plan, dict):
        if plan.get("Node Type") == "Function Scan" and plan.get("Function Name") == "unnest":
            found.append(plan["Plan Rows"])
        for value in plan.values():
            found += _batch_estimates(value)
    elif isinstance(plan, list):
        for item in plan:
            found += _batch_estimates(item)
    return found


async def _estimates_in_both_modes(conn: Connection, name: str, statement: str, call: str) -> dict[str, list[float]]:
    """`statement` prepared as `name` (with its parameter types), then the `unnest` row estimates of `call`'s
    plan, custom and generic (inside the caller's transaction: `SET LOCAL`)."""
    await conn.execute(f"PREPARE {name} AS {statement}")
    estimates = {}
    for mode in ("force_custom_plan", "force_generic_plan"):
        await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
        estimates[mode] = _batch_estimates(json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {call}")))
    await conn.execute(f"DEALLOCATE {name.split('(')[0]}")
    return estimates


async def test_the_member_patch_is_planned_once_whatever_its_batch(
    web_pool: FairPool, database: str, admin: asyncpg.Connection
) -> None:
    """Entra's member PATCH (`store.resources.patch_members`, batches of a few ids) gets PostgreSQL's generic
    plan after its first five executions. The planner estimates the batch's size in a custom plan as in the
    generic one: with the ids' array in sight, each custom plan of a small batch looked cheaper, and on the
    bench's tenants (~15,000 users, analysed) the statement was planned again at every execution."""
    tenant = (await create_tenant(database)).tenant
    async with tenant_transaction(web_pool, tenant) as conn:
        users = await conn.fetchval(
            "WITH u AS (INSERT INTO scim_user (id, user_name, version, created, last_modified, doc) "
            "SELECT gen_random_uuid(), 'u' || i || '@x.test', 1, now(), now(), '{}'::jsonb "
            "FROM generate_series(1, 500) AS i RETURNING id) SELECT array_agg(id ORDER BY id) FROM u"
        )
        gid = await conn.fetchval(
            "INSERT INTO scim_group (id, display_name, version, created, last_modified, doc) "
            "VALUES (gen_random_uuid(), 'g', 1, now(), now(), '{}'::jsonb) RETURNING id"
        )
    await admin.execute(f"ANALYZE {tenant.schema}.scim_user, {tenant.schema}.scim_group")  # as autovacuum does
    batch = "{" + ",".join(str(u) for u in users[:5]) + "}"
    async with tenant_transaction(web_pool, tenant) as conn:
        estimates = await _estimates_in_both_modes(
            conn,
            "members(uuid, timestamptz, text[], text[], text[], text, int, text, text, text)",
            resources._PATCH_MEMBERS,
            f"members('{gid}', now(), '{batch}', '{{}}', NULL, '{{}}', 256, '{{}}', '{{}}', '{{}}')",
        )
    assert estimates["force_custom_plan"] == estimates["force_generic_plan"] == [10], estimates
    now = dt.datetime.now(dt.UTC)
    batches = [users[i : i + 5] for i in range(0, 40, 5)]
    batches += [users[35:40], users[0:3]]  # members already in: nothing written, the same plan
    for ids in batches:
        async with tenant_statement(web_pool, tenant) as conn:
            await resources.patch_members(
                conn,
                gid,
                now,
                add=ids,
                remove=[],
                if_match=None,
                outbox=None,  # no activity or change event: this test is about the plan alone
                target_limit=256,
                changes=None,
            )
    async with tenant_statement(web_pool, tenant) as conn:
        plans = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%WITH cur AS (SELECT version FROM scim_group%' "
            "AND statement NOT LIKE '%pg_prepared%'"
        )
        members = await conn.fetchval("SELECT count(*) FROM scim_group_member WHERE group_id = $1", gid)
    assert members == 40
    assert plans is not None
    assert (plans["generic_plans"], plans["custom_plans"]) == (len(batches) - 5, 5)  # PostgreSQL's first five


async def test_the_activity_flush_is_planned_as_its_generic_plan_whatever_its_batch(
    web_pool: FairPool, database: str
) -> None:
    """The recorder's flush (`audit.outbox.log_encoded`, a batch of events of any size) gets the generic plan
    after its first five executions: its custom plans estimate the batch as the generic one does."""
    tenant = (await create_tenant(database)).tenant
    texts = [json.dumps(_event(i)) for i in range(7)]
    async with tenant_transaction(web_pool, tenant) as conn:
        literal = await conn.fetchval("SELECT quote_literal($1::text[]::text)", texts)
        estimates = await _estimates_in_both_modes(
            conn, "flush(text[])", drain.INSERT_EVENTS, f"flush({literal}::text[])"
        )
    assert estimates["force_custom_plan"] == estimates["force_generic_plan"] == [10], estimates
    for n in range(1, 9):
        async with tenant_transaction(web_pool, tenant) as conn:
            await outbox.log_encoded(conn, [json.dumps(_event(100 * n + i)).encode() for i in range(n)])
    async with tenant_statement(web_pool, tenant) as conn:
        plans = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE '%INSERT INTO activity_log%' AND statement NOT LIKE '%pg_prepared%'"
        )
        logged = await conn.fetchval("SELECT count(*) FROM activity_log")
    assert logged == sum(range(1, 9))
    assert plans is not None
    assert (plans["generic_plans"], plans["custom_plans"]) == (3, 5)  # PostgreSQL's first five are custom


def _event(i: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "received_at": "2026-12-02T10:00:00+00:00",
        "method": "GET",
        "path": f'/scim/v2/x/Users?filter=userName eq "u{i}@x.test"',
        "operation": "Lookup",
        "status": 200,
        "outcome": "success",
    }
