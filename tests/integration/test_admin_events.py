"""The change feed and webhooks through the admin API (scopes events:read, webhooks:write) and the hub page
(endpoints, deliveries, redeliver), in-process app, real PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from scimhub import admins
from scimhub.events import delivery
from scimhub.http.services import Services
from tests.support.change_events import sequence
from tests.support.receiver import Receiver
from tests.support.scim import Scim
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle, create_tenant

PASSWORD = "correct horse battery staple"


async def _key(admin: asyncpg.Connection, t: TenantHandle, *scopes: str) -> dict[str, str]:
    key = await admins.create_api_key(admin, t.tenant.id, "host app", list(scopes))
    return {"Authorization": f"Bearer {key}"}


async def test_feed_through_the_admin_api_pages_and_says_410_for_an_expired_cursor(
    client: httpx.AsyncClient,
    scim: Scim,
    services: Services,
    tenant: TenantHandle,
    admin: asyncpg.Connection,
    database: str,
) -> None:
    for _ in range(3):
        await scim.create_user()
    await sequence(services.db.pool, tenant.tenant)
    auth = await _key(admin, tenant, "events:read")
    first = await client.get("/admin/api/events", params={"limit": 2}, headers=auth)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["position"] for e in page["events"]] == [1, 2] and page["has_more"] and page["cursor"] == "2"
    assert page["events"][0]["type"] == "user.created" and page["events"][0]["tenant"] == tenant.slug
    rest = (await client.get("/admin/api/events", params={"after": page["cursor"]}, headers=auth)).json()
    assert [e["position"] for e in rest["events"]] == [3] and not rest["has_more"]
    bad = await client.get("/admin/api/events", params={"after": "x1"}, headers=auth)
    assert bad.status_code == 400 and "not a feed position" in bad.json()["detail"]
    await admin.execute(f"UPDATE {tenant.tenant.schema}.event_feed SET purged_through = 2")
    gone = await client.get("/admin/api/events", params={"after": "1"}, headers=auth)
    assert gone.status_code == 410 and "expired" in gone.json()["detail"]
    other = await create_tenant(database)
    theirs = (await client.get("/admin/api/events", headers=await _key(admin, other, "events:read"))).json()
    assert theirs["events"] == []  # a key reads its own tenant's feed only


async def test_webhooks_through_the_admin_api_need_their_scopes_and_land_in_the_trail(
    client: httpx.AsyncClient, services: Services, tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    reader = await _key(admin, tenant, "events:read")
    writer = await _key(admin, tenant, "events:read", "webhooks:write")
    refused = await client.post("/admin/api/webhooks", json={"url": "https://example.com/x"}, headers=reader)
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "webhooks:write"
    for body in ({"url": "https://me:pw@example.com/x"}, {"url": "https://example.com/x", "events": ["user.exploded"]}):
        r = await client.post("/admin/api/webhooks", json=body, headers=writer)
        assert r.status_code == 400, r.text
    assert (await client.get("/admin/api/webhooks", headers=reader)).json() == []
    made = await client.post(
        "/admin/api/webhooks", json={"url": "https://example.com/x", "events": ["user.*"]}, headers=writer
    )
    assert made.status_code == 201, made.text
    secret, eid = made.json()["secret"], made.json()["endpoint"]["id"]
    assert secret.startswith("whsec_") and made.json()["endpoint"]["events"] == ["user.*"]
    listed = (await client.get("/admin/api/webhooks", headers=reader)).json()
    assert [e["id"] for e in listed] == [eid] and secret not in str(listed)
    rotated = await client.post(f"/admin/api/webhooks/{eid}/rotate-secret", headers=writer)
    assert rotated.status_code == 201 and rotated.json()["secret"] not in (secret, None)
    assert (await client.get(f"/admin/api/webhooks/{uuid.uuid4()}/deliveries", headers=reader)).status_code == 404
    assert (await client.get(f"/admin/api/webhooks/{eid}/deliveries", headers=reader)).json() == []
    assert (await client.delete(f"/admin/api/webhooks/{eid}", headers=writer)).status_code == 200
    assert (await client.delete(f"/admin/api/webhooks/{eid}", headers=writer)).status_code == 404
    rows = await admin.fetch(
        """SELECT action, summary, notice FROM public.admin_trail
           WHERE tenant_id = $1 AND action LIKE 'webhook.%' ORDER BY id""",
        tenant.tenant.id,
    )
    assert [(r["action"], r["notice"]) for r in rows] == [
        ("webhook.created", "pending"),
        ("webhook.changed", "pending"),
        ("webhook.removed", "none"),
    ]
    assert all(secret not in r["summary"] for r in rows)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


async def test_the_hub_lists_endpoints_with_their_deliveries_and_redelivers_one(
    client: httpx.AsyncClient,
    scim: Scim,
    services: Services,
    tenant: TenantHandle,
    admin: asyncpg.Connection,
    receiver: Receiver,
) -> None:
    email = f"admin-{uuid.uuid4().hex[:6]}@example.test"
    await admins.create_admin(admin, tenant.tenant.id, email, PASSWORD)
    await admin.execute("UPDATE public.admin_user SET must_change_password = false WHERE email = $1", email)
    c = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    assert (await c.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": PASSWORD})).status_code == 303
    page = await c.get(f"/hub/{tenant.slug}/webhooks")
    assert page.status_code == 200 and "No endpoint yet" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    bad = await c.post(f"/hub/{tenant.slug}/webhooks", data={"csrf": csrf.group(1), "url": "ftp://example.com/"})
    assert bad.status_code == 400 and "Not added" in bad.text and "No endpoint yet" in bad.text
    added = await c.post(f"/hub/{tenant.slug}/webhooks", data={"csrf": csrf.group(1), "url": receiver.url})
    assert added.status_code == 200 and "whsec_" in added.text  # the tests allow http://127.0.0.1 targets
    await scim.create_user()
    await sequence(services.db.pool, tenant.tenant)
    assert (await delivery.deliver_tenant(services.db.pool, tenant.tenant, services.settings)).delivered == 1
    page = await c.get(f"/hub/{tenant.slug}/webhooks")
    assert "delivered" in page.text and receiver.url in page.text and " ms" in page.text
    eid = re.search(r"/webhooks/([0-9a-f-]{36})/redeliver", page.text)
    assert eid
    queued = await c.post(
        f"/hub/{tenant.slug}/webhooks/{eid.group(1)}/redeliver", data={"csrf": csrf.group(1), "position": "1"}
    )
    assert queued.status_code == 200 and "queued for redelivery" in queued.text
    # Marked due as well as nudged: a lost nudge is made up by the 5-second webhook sweep (`events.due`).
    assert await admin.fetchval("SELECT count(*) FROM public.webhook_due WHERE tenant_id = $1", tenant.tenant.id) == 1
    missing = await c.post(
        f"/hub/{tenant.slug}/webhooks/{eid.group(1)}/redeliver", data={"csrf": csrf.group(1), "position": "99"}
    )
    assert missing.status_code == 400
    await delivery.redeliver_requested(services.db.pool, tenant.tenant, services.settings)
    assert [p["position"] for p in receiver.payloads()] == [1, 1]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # same event id: the receiver dedupes
    await c.aclose()
