"""The host application's read API: one operator-made key reads every tenant (users, groups, memberships,
changed since, the feed), read-only; a tenant's token or an admin key is refused."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import httpx

from scimhub import admins
from scimhub.http.services import Services
from tests.support import cli
from tests.support.change_events import sequence
from tests.support.factories import patch_body
from tests.support.scim import Scim
from tests.support.tenants import TenantHandle, create_tenant


def _host_key(database: str) -> dict[str, str]:
    r = cli.run(database, "host-key", "create", "--label", "the product", "--json")
    assert r.returncode == 0, r.stderr
    key = json.loads(r.stdout)["key"]
    assert key.startswith("shk_")
    return {"Authorization": f"Bearer {key}"}


async def test_one_key_loads_every_tenant_then_follows_its_feed(
    client: httpx.AsyncClient, scim: Scim, services: Services, tenant: TenantHandle, database: str
) -> None:
    auth = _host_key(database)
    other = await create_tenant(database)
    users = [await scim.create_user() for _ in range(5)]
    group = await scim.create_group(members=[{"value": u["id"]} for u in users])
    await sequence(services.db.pool, tenant.tenant)
    start = (await client.get(f"/host/api/tenants/{tenant.slug}/events/cursor", headers=auth)).json()["cursor"]
    tenants = (await client.get("/host/api/tenants", headers=auth)).json()
    assert {tenant.slug, other.slug} <= {t["slug"] for t in tenants}
    loaded: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/host/api/tenants/{tenant.slug}/users", params=params, headers=auth)).json()
        loaded += page["resources"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(u["id"] for u in loaded) == sorted(u["id"] for u in users)
    assert all(u["meta"]["resourceType"] == "User" and "userName" in u for u in loaded)
    members = (
        await client.get(
            f"/host/api/tenants/{tenant.slug}/groups/{group['id']}/members", params={"limit": "3"}, headers=auth
        )
    ).json()
    rest = (
        await client.get(
            f"/host/api/tenants/{tenant.slug}/groups/{group['id']}/members",
            params={"cursor": members["next_cursor"]},
            headers=auth,
        )
    ).json()
    assert sorted(m["value"] for m in members["resources"] + rest["resources"]) == sorted(u["id"] for u in users)
    one = await client.get(f"/host/api/tenants/{tenant.slug}/groups/{group['id']}", headers=auth)
    assert one.status_code == 200 and one.json()["displayName"] == group["displayName"]
    # Changed since: only what changed after the moment given.
    mark = dt.datetime.now(dt.UTC).isoformat()
    body = patch_body({"op": "replace", "path": "displayName", "value": "Changed"})
    assert (await scim.req("PATCH", f"/Users/{users[2]['id']}", body)).status_code == 204
    changed = (
        await client.get(f"/host/api/tenants/{tenant.slug}/users", params={"changed_since": mark}, headers=auth)
    ).json()
    assert [u["id"] for u in changed["resources"]] == [users[2]["id"]]
    await sequence(services.db.pool, tenant.tenant)
    follow = (await client.get(f"/host/api/tenants/{tenant.slug}/events", params={"after": start}, headers=auth)).json()
    assert [e["type"] for e in follow["events"]] == ["user.updated"]
    assert (await client.get(f"/host/api/tenants/{other.slug}/users", headers=auth)).json()["resources"] == []


async def test_the_read_api_refuses_other_credentials_writes_and_bad_input(
    client: httpx.AsyncClient, tenant: TenantHandle, admin: asyncpg.Connection, database: str
) -> None:
    admin_key = await admins.create_api_key(admin, tenant.tenant.id, "k", ["events:read"])
    for headers in (
        {},
        tenant.auth,
        {"Authorization": f"Bearer {admin_key}"},
        {"Authorization": "Bearer shk_" + "a" * 43},
    ):
        r = await client.get(f"/host/api/tenants/{tenant.slug}/users", headers=headers)
        assert r.status_code == 401, r.text
    auth = _host_key(database)
    assert (await client.post(f"/host/api/tenants/{tenant.slug}/users", json={}, headers=auth)).status_code == 405
    assert (await client.get("/host/api/tenants/no-such-tenant/users", headers=auth)).status_code == 404
    assert (await client.get(f"/host/api/tenants/{tenant.slug}/users/{uuid.uuid4()}", headers=auth)).status_code == 404
    for params in (
        {"changed_since": "yesterday"},
        {"changed_since": "2026-01-01T00:00:00"},
        {"cursor": "###"},
        {"limit": "0"},
    ):
        r = await client.get(f"/host/api/tenants/{tenant.slug}/users", params=params, headers=auth)
        assert r.status_code == 400, (params, r.text)
    r = await client.get(f"/host/api/tenants/{tenant.slug}/events", params={"after": "5"}, headers=auth)
    assert r.status_code == 400 and "ahead" in r.json()["detail"]
    listed = cli.run(database, "host-key", "list", "--json")
    key_id = json.loads(listed.stdout)[-1]["id"]
    assert cli.run(database, "host-key", "revoke", str(key_id)).returncode == 0
    assert (await client.get("/host/api/tenants", headers=auth)).status_code == 401
