"""Token lifecycle: rotation with and without overlap, revoke, the connector switch, no token in logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import asyncpg
import httpx
import pytest

from scimhub.tenancy import tenants
from scimhub.tenancy.tokens import token_digest
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle

CACHE_WAIT = 0.35  # test settings cache token answers for 0.2 s


async def status(client: httpx.AsyncClient, t: TenantHandle, token: str) -> int:
    r = await client.get(f"{t.base}/Users", headers={"Authorization": f"Bearer {token}"})
    return r.status_code


async def test_token_is_stored_only_as_its_digest(admin: asyncpg.Connection, tenant: TenantHandle) -> None:
    rows = await admin.fetch("SELECT * FROM public.tenant_token WHERE tenant_id = $1", tenant.tenant.id)
    assert len(rows) == 1
    assert bytes(rows[0]["digest"]) == token_digest(tenant.token)
    flat = " ".join(str(v) for v in rows[0].values())
    assert tenant.token not in flat and tenant.token[4:] not in flat
    assert len(tenant.token) >= 4 + 43  # 256 bits, url-safe


async def test_rotation_without_overlap_stops_the_old_token(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    assert await status(client, tenant, tenant.token) == 200
    issued = await tenants.rotate_token(admin, tenant.slug, public_url=PUBLIC_URL)
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 401
    assert await status(client, tenant, issued.token) == 200


async def test_rotation_with_overlap_keeps_the_old_token_for_a_while(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    overlap = dt.timedelta(hours=1)
    issued = await tenants.rotate_token(admin, tenant.slug, public_url=PUBLIC_URL, keep_old_for=overlap)
    old, new = await admin.fetch(
        "SELECT created_at, expires_at FROM public.tenant_token WHERE tenant_id = $1 ORDER BY id", tenant.tenant.id
    )
    assert old["expires_at"] == new["created_at"] + overlap and new["expires_at"] is None  # one transaction's now()
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 200
    assert await status(client, tenant, issued.token) == 200
    # The overlap ends: instead of waiting for it, its end is moved to just now.
    await admin.execute(
        "UPDATE public.tenant_token SET expires_at = now() WHERE tenant_id = $1 AND expires_at IS NOT NULL",
        tenant.tenant.id,
    )
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 401
    assert await status(client, tenant, issued.token) == 200


async def test_revoke_stops_every_token(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    assert await tenants.revoke_tokens(admin, tenant.slug) == 1
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 401


async def test_disabled_tenant_gets_401_and_enabled_again_works(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    await tenants.set_status(admin, tenant.slug, "disabled")
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 401
    await tenants.set_status(admin, tenant.slug, "active")
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 200


async def test_last_used_time_is_recorded(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    await asyncio.sleep(CACHE_WAIT)
    assert await status(client, tenant, tenant.token) == 200
    used = await admin.fetchval("SELECT last_used_at FROM public.tenant_token WHERE tenant_id = $1", tenant.tenant.id)
    assert used is not None


async def test_token_never_appears_in_logs(
    client: httpx.AsyncClient, tenant: TenantHandle, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    for token in (tenant.token, "shs_not-a-real-token-but-secret"):
        await client.get(f"{tenant.base}/Users", headers={"Authorization": f"Bearer {token}"})
        await client.post(f"{tenant.base}/Users", headers={"Authorization": f"Bearer {token}"}, content=b"{bad json")
    out, err = capfd.readouterr()
    for token in (tenant.token, "shs_not-a-real-token-but-secret"):
        assert token not in caplog.text
        assert token not in out and token not in err
