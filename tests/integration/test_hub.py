"""The admin hub and admin API over HTTP: sign-in, sessions, CSRF, tenant boundaries, bad input."""

from __future__ import annotations

import json
import re
import uuid

import asyncpg
import httpx
import pytest

from scimhub import admins
from scimhub.audit import drain as audit_drain
from scimhub.http.services import Services
from tests.conftest import PUBLIC_URL, TenantHandle, create_tenant
from tests.factories import entra_user
from tests.integration.test_cli import run

PASSWORD = "correct horse battery staple"


async def make_admin(admin: asyncpg.Connection, t: TenantHandle, email: str | None = None) -> str:
    email = email or f"admin-{uuid.uuid4().hex[:6]}@{t.slug}.test"
    await admins.create_admin(admin, t.tenant.id, email, PASSWORD)
    await admin.execute(
        "UPDATE public.admin_user SET must_change_password = false WHERE lower(email) = lower($1)", email
    )
    return email


async def signed_in(app_client: httpx.AsyncClient, t: TenantHandle, email: str) -> httpx.AsyncClient:
    c = httpx.AsyncClient(transport=app_client._transport, base_url=PUBLIC_URL)
    r = await c.post(f"/hub/{t.slug}/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


async def test_sign_in_and_pages_render(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = await make_admin(admin, tenant)
    c = await signed_in(client, tenant, email)
    for path in ("/", "/connectors/scim", "/notifications", "/activity", "/admins"):
        r = await c.get(f"/hub/{tenant.slug}{path}")
        assert r.status_code == 200, (path, r.text[:500])
        assert "text/html" in r.headers["content-type"]
    overview = (await c.get(f"/hub/{tenant.slug}/")).text
    assert "No provisioning activity yet" in overview  # the empty state says what to do next
    connector = (await c.get(f"/hub/{tenant.slug}/connectors/scim")).text
    assert f"{PUBLIC_URL}/scim/v2/{tenant.slug}" in connector
    assert tenant.token not in connector and tenant.token[-4:] in connector  # only the hint
    cookie = c.cookies.jar
    set_cookie = [x for x in cookie][0]
    assert set_cookie.has_nonstandard_attr("HttpOnly") or "httponly" in str(set_cookie._rest).lower()


async def test_wrong_password_and_throttling(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = await make_admin(admin, tenant)
    statuses = []
    for _ in range(7):
        r = await client.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": "nope"})
        statuses.append(r.status_code)
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    assert "try again in" in r.text
    recorded = await admin.fetchval(
        "SELECT count(*) FROM public.admin_signin WHERE tenant_id = $1 AND NOT success", tenant.tenant.id
    )
    assert recorded == 5  # throttled attempts are refused before the password is even checked
    r = await client.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 429  # still throttled, even with the right password


async def test_admin_of_one_tenant_gets_404_for_another(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, database: str
) -> None:
    a = await create_tenant(database)
    b = await create_tenant(database)
    c = await signed_in(client, a, await make_admin(admin, a))
    await client.post(f"{b.base}/Users", json=entra_user(), headers=b.auth)
    await services.recorder.flush()
    await audit_drain.drain_tenant(services.db.pool, b.tenant)
    b_event = await admin.fetchval(f"SELECT event_id FROM {b.tenant.schema}.activity_log LIMIT 1")
    for path in ("/", "/connectors/scim", "/notifications", "/activity", f"/activity/{b_event}", "/activity.csv"):
        r = await c.get(f"/hub/{b.slug}{path}")
        assert r.status_code == 404, path
        assert b.slug not in r.text or "no such page" in r.text.lower()
    html = (await c.get(f"/hub/{a.slug}/connectors/scim")).text
    r = await c.post(f"/hub/{b.slug}/connectors/scim/active", data={"csrf": csrf_of(html), "active": "off"})
    assert r.status_code == 404
    assert await admin.fetchval("SELECT status FROM public.tenant WHERE id = $1", b.tenant.id) == "active"
    # Same through the API with a's session: b's entry is not found.
    assert (await c.get(f"/admin/api/activity/{b_event}")).status_code == 404
    key = await admins.create_api_key(admin, a.tenant.id)
    r = await client.get(f"/admin/api/activity/{b_event}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 404
    items = (await client.get("/admin/api/activity", headers={"Authorization": f"Bearer {key}"})).json()["items"]
    assert all(i["event_id"] != str(b_event) for i in items)


async def test_forged_csrf_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    for data in ({"active": "off"}, {"active": "off", "csrf": "forged"}):
        r = await c.post(f"/hub/{tenant.slug}/connectors/scim/active", data=data)
        assert r.status_code == 403 and "nothing was changed" in r.text
    assert await admin.fetchval("SELECT status FROM public.tenant WHERE id = $1", tenant.tenant.id) == "active"
    r = await c.put("/admin/api/connector", json={"active": False})
    assert r.status_code == 403  # a cookie-authenticated write needs X-CSRF-Token
    assert await admin.fetchval("SELECT status FROM public.tenant WHERE id = $1", tenant.tenant.id) == "active"


async def test_expired_session_goes_back_to_sign_in(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    await admin.execute(
        "UPDATE public.admin_session SET expires_at = now() - interval '1 second' WHERE tenant_id = $1",
        tenant.tenant.id,
    )
    r = await c.get(f"/hub/{tenant.slug}/activity")
    assert r.status_code == 303 and r.headers["location"].startswith(f"/hub/{tenant.slug}/login?")
    assert "expired=1" in r.headers["location"]
    page = await c.get(r.headers["location"])
    assert "session expired" in page.text
    r = await c.post(f"/hub/{tenant.slug}/connectors/scim/active", data={"csrf": "x", "active": "off"})
    assert r.status_code == 303
    assert (await client.get(f"/hub/{tenant.slug}/")).status_code == 303  # no cookie at all


@pytest.mark.parametrize(
    "query",
    [
        "since=yesterday",
        "until=2026-13-45T99:00",
        "outcome=bogus",
        "type=Widget",
        "cursor=garbage",
        "since=2026-11-29T10:00&until=2026-11-28T10:00",
        "q=" + "%" * 300,
        "operation=" + "x" * 500,
    ],
)
async def test_malformed_filters_are_clear_errors_never_500(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle, query: str
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    r = await c.get(f"/hub/{tenant.slug}/activity?{query}")
    assert r.status_code in (200, 400), r.text[:300]
    key = await admins.create_api_key(admin, tenant.tenant.id)
    api = await client.get(f"/admin/api/activity?{query}", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code in (200, 400)
    if r.status_code == 400:
        assert api.status_code == 400 and api.json()["detail"]


async def test_admin_api_with_key(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    key = await admins.create_api_key(admin, tenant.tenant.id, "ci")
    auth = {"Authorization": f"Bearer {key}"}
    user = entra_user()
    await client.post(f"{tenant.base}/Users", json=user, headers=tenant.auth)
    await client.post(f"{tenant.base}/Users", json=user, headers=tenant.auth)
    await services.recorder.flush()
    await audit_drain.drain_tenant(services.db.pool, tenant.tenant)
    page = (await client.get("/admin/api/activity", params={"outcome": "conflict"}, headers=auth)).json()
    assert [i["status"] for i in page["items"]] == [409] and page["next_cursor"] is None
    first = (await client.get("/admin/api/activity", params={"limit": 1}, headers=auth)).json()
    second = (
        await client.get("/admin/api/activity", params={"limit": 1, "cursor": first["next_cursor"]}, headers=auth)
    ).json()
    assert first["items"][0]["event_id"] != second["items"][0]["event_id"]
    conn = (await client.get("/admin/api/connector", headers=auth)).json()
    assert conn["active"] is True and conn["tenant_url"].endswith(f"/scim/v2/{tenant.slug}")
    r = await client.post("/admin/api/connector/token", json={"keep_old_for_minutes": 0}, headers=auth)
    assert r.status_code == 201
    new_token = r.json()["token"]
    assert (
        await client.get(f"{tenant.base}/Users", headers={"Authorization": f"Bearer {new_token}"})
    ).status_code == 200
    assert (await client.get(f"{tenant.base}/Users", headers=tenant.auth)).status_code == 401
    r = await client.put(
        "/admin/api/notifications",
        json={"recipients": ["a@x.test"], "enabled": True, "digest_window_minutes": 30},
        headers=auth,
    )
    assert r.status_code == 200 and r.json()["digest_window_minutes"] == 30
    bad = await client.put(
        "/admin/api/notifications",
        json={"recipients": ["nope"], "enabled": True, "digest_window_minutes": 30},
        headers=auth,
    )
    assert bad.status_code == 400
    assert (await client.get("/admin/api/activity", headers={"Authorization": "Bearer sha_wrong"})).status_code == 401
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/admin/api/activity" in schema["paths"] and "/admin/api/connector/token" in schema["paths"]


async def test_switching_the_connector_off_fails_scim_at_once(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    assert (await client.get(f"{tenant.base}/Users", headers=tenant.auth)).status_code == 200
    html = (await c.get(f"/hub/{tenant.slug}/connectors/scim")).text
    r = await c.post(f"/hub/{tenant.slug}/connectors/scim/active", data={"csrf": csrf_of(html), "active": "off"})
    assert r.status_code == 200 and "now off" in r.text
    assert (await client.get(f"{tenant.base}/Users", headers=tenant.auth)).status_code == 401


def test_admin_create_cli(database: str) -> None:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run(database, "tenant", "create", slug).returncode == 0
    r = run(database, "admin", "create", slug, "boss@acme.test", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["email"] == "boss@acme.test" and len(data["password"]) >= 16
    assert data["hub_url"] == f"{PUBLIC_URL}/hub/{slug}/login"
    again = run(database, "admin", "create", slug, "BOSS@acme.test")
    assert again.returncode == 1 and "already an administrator" in again.stderr
    assert run(database, "admin", "create", slug, "not-an-email").returncode == 1
    assert run(database, "admin", "create", "nope-none", "x@y.test").returncode == 1
