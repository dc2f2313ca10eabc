"""Tenant isolation: tokens open only their own tenant, PostgreSQL refuses every cross-tenant access."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import httpx
import pytest

from scimhub.http.services import Services
from scimhub.tenancy.db import fetch_one
from scimhub.tenancy.roles import login_role
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.tenants import TenantHandle, create_tenant

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_401(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["schemas"] == [SCIM_ERROR]
    assert body["status"] == "401"
    assert r.headers["content-type"].startswith("application/scim+json")


async def test_token_opens_its_own_tenant(client: httpx.AsyncClient, tenant: TenantHandle) -> None:
    r = await client.get(f"{tenant.base}/Users", headers=tenant.auth)
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0


async def test_token_on_another_tenants_url_gets_401(client: httpx.AsyncClient, database: str) -> None:
    a = await create_tenant(database)
    b = await create_tenant(database)
    assert_401(await client.get(f"{b.base}/Users", headers=a.auth))
    assert_401(await client.post(f"{b.base}/Users", headers=a.auth, json={"userName": "x"}))


async def test_unknown_tenant_and_wrong_token_answer_alike(client: httpx.AsyncClient, tenant: TenantHandle) -> None:
    unknown = await client.get("/scim/v2/no-such-tenant/Users", headers=tenant.auth)
    wrong = await client.get(f"{tenant.base}/Users", headers={"Authorization": "Bearer shs_wrong"})
    assert_401(unknown)
    assert_401(wrong)
    assert unknown.json() == wrong.json()


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "bearer a b",
        "Token abc",
        "Bearer " + "x" * 5000,
        "non-token",
    ],
)
async def test_malformed_authorization_gets_401_not_500(
    client: httpx.AsyncClient, tenant: TenantHandle, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_401(await client.get(f"{tenant.base}/Users", headers=headers))


async def test_discovery_needs_a_token_too(client: httpx.AsyncClient, tenant: TenantHandle) -> None:
    for path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes", ""):
        assert_401(await client.get(f"{tenant.base}{path}"))


async def test_query_outside_tenant_transaction_reaches_no_tenant_table(
    services: Services, tenant: TenantHandle
) -> None:
    async with services.db.pool.acquire() as conn:
        with pytest.raises(asyncpg.UndefinedTableError):
            await conn.fetch("SELECT * FROM scim_user")
        # Even qualified, the app role has no rights on any tenant schema.
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f"SELECT * FROM {tenant.tenant.schema}.scim_user")


async def test_query_forced_into_another_tenants_schema_is_refused(services: Services, database: str) -> None:
    a = await create_tenant(database)
    b = await create_tenant(database)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(services.db.pool, a.tenant) as conn:
            await conn.fetch(f"SELECT * FROM {b.tenant.schema}.scim_user")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(services.db.pool, a.tenant) as conn:
            await conn.execute(f"DELETE FROM {b.tenant.schema}.scim_user")
    # A tenant role cannot read the token table either.
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction(services.db.pool, a.tenant) as conn:
            await conn.fetch("SELECT * FROM public.tenant_token")


async def test_concurrent_scoped_transactions_never_cross_tenants(services: Services, database: str) -> None:
    handles = [await create_tenant(database) for _ in range(20)]
    pool = services.db.pool
    rng = random.Random(7)
    jobs = [rng.choice(handles) for _ in range(200)]

    async def job(h: TenantHandle, n: int) -> None:
        async with tenant_transaction(pool, h.tenant) as conn:
            await conn.execute(
                "INSERT INTO scim_group (id, display_name, version, created, last_modified, doc) "
                "VALUES (gen_random_uuid(), $1, 1, now(), now(), '{}'::jsonb)",
                f"{h.slug}:{n}",
            )
            await asyncio.sleep(rng.random() / 100)
            names = [r["display_name"] for r in await conn.fetch("SELECT display_name FROM scim_group")]
            assert all(name.startswith(h.slug + ":") for name in names), names

    await asyncio.gather(*(job(h, i) for i, h in enumerate(jobs)))
    for h in handles:
        async with tenant_transaction(pool, h.tenant) as conn:
            names = [r["display_name"] for r in await conn.fetch("SELECT display_name FROM scim_group")]
        assert len(names) == sum(1 for j in jobs if j is h)
        assert all(name.startswith(h.slug + ":") for name in names)
    # No pooled connection keeps a tenant's role or search path: each is the app login, as it logged in.
    conns = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        for conn in conns:
            row = await fetch_one(conn, "SELECT current_user AS who, current_setting('search_path') AS path")
            assert row["who"] == login_role(services.settings.app_database_url)
            assert row["path"] == "pg_catalog"
    finally:
        for conn in conns:
            await pool.release(conn)


async def test_rolled_back_transaction_leaves_no_scope_behind(services: Services, tenant: TenantHandle) -> None:
    with pytest.raises(RuntimeError):
        async with tenant_transaction(services.db.pool, tenant.tenant):
            raise RuntimeError("boom")
    async with services.db.pool.acquire() as conn:
        row = await fetch_one(conn, "SELECT current_user AS who, current_setting('search_path') AS path")
    assert row["path"] == "pg_catalog"
    assert row["who"] == login_role(services.settings.app_database_url)
