"""Strangers are cheap to turn away (issue #11 item 4, sign-in aside): tokens, metric labels, /metrics, test mails.

Where a budget refills with time, the test drives the clock (`TokenResolver(clock=...)`) instead of racing it.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import msgspec
import pytest

from scimhub import admins
from scimhub.app import create_app
from scimhub.http.services import Services, TooManyTestMails
from scimhub.settings import Settings
from scimhub.tenancy.resolver import LookupsExhausted, TokenResolver
from tests.support.scim import assert_error
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle, create_tenant


def random_token() -> str:
    return "shs_" + secrets.token_urlsafe(32)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_malformed_tokens_are_refused_without_a_lookup(services: Services, tenant: TenantHandle) -> None:
    resolver = TokenResolver(services.db.pool, services.db.install_id)
    for token in ("shs_short", "x" * 47, "shs_" + "!" * 43, tenant.token + "x", "Bearer " + tenant.token):
        assert await resolver.resolve(tenant.slug, token) is None
    assert resolver.lookups == 0
    assert await resolver.resolve(tenant.slug, tenant.token) == tenant.tenant and resolver.lookups == 1


async def test_a_flood_of_random_tokens_costs_a_bounded_number_of_lookups(
    services: Services, tenant: TenantHandle
) -> None:
    clock = Clock()
    resolver = TokenResolver(services.db.pool, services.db.install_id, per_second=50, per_client=5, clock=clock)
    refused: list[int] = []
    for _ in range(200):
        try:
            assert await resolver.resolve(tenant.slug, random_token(), "10.0.0.1") is None
        except LookupsExhausted as exc:
            refused.append(exc.retry_after)
    assert resolver.lookups == 10 and refused == [1] * 190  # a burst of twice the per-client rate, then nothing
    # The same wrong token again is answered from the bounded miss cache, at no budget.
    again = random_token()
    clock.now += 1  # five more misses' worth of budget
    assert await resolver.resolve(tenant.slug, again, "10.0.0.1") is None
    assert all([await resolver.resolve(tenant.slug, again, "10.0.0.1") is None for _ in range(50)])
    assert resolver.lookups == 11
    # The tenant's own token, once seen valid, is looked up outside the budget, and so is a new valid
    # token from another address; a new valid token from the flooding address waits for the flood to end.
    assert await resolver.resolve(tenant.slug, tenant.token, "10.0.0.2") == tenant.tenant
    for _ in range(4):
        await resolver.resolve(tenant.slug, random_token(), "10.0.0.1")
    with pytest.raises(LookupsExhausted):
        await resolver.resolve(tenant.slug, random_token(), "10.0.0.1")
    clock.now += 10  # the cached answer expires; the known token still needs no budget
    assert await resolver.resolve(tenant.slug, tenant.token, "10.0.0.1") == tenant.tenant
    # The process-wide budget bounds a flood from many addresses: 100 misses, then refusals.
    lookups = resolver.lookups
    outcomes: list[str] = []
    for i in range(150):
        try:
            found = await resolver.resolve(tenant.slug, random_token(), f"10.1.{i // 250}.{i % 250}")
            outcomes.append("found" if found else "not found")
        except LookupsExhausted:
            outcomes.append("refused")
    assert resolver.lookups - lookups == 100 and outcomes.count("refused") == 50


@pytest.fixture
async def flood_client(settings: Settings, services: Services) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock()
    resolver = TokenResolver(services.db.pool, services.db.install_id, per_client=5, clock=clock)
    app = create_app(settings, services=dataclasses.replace(services, resolver=resolver))
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 4242))  # type: ignore[arg-type]  # Litestar's ASGI types
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        yield c, clock


async def test_random_tokens_over_http_get_401_then_429_and_the_tenant_keeps_working(
    flood_client: tuple[httpx.AsyncClient, Clock], tenant: TenantHandle
) -> None:
    client, _ = flood_client
    assert (await client.get(f"{tenant.base}/Users", headers=tenant.auth)).status_code == 200
    statuses = [
        (await client.get(f"{tenant.base}/Users", headers={"Authorization": f"Bearer {random_token()}"}))
        for _ in range(30)
    ]
    assert [r.status_code for r in statuses] == [401] * 10 + [429] * 20
    assert_error(statuses[-1], 429)
    assert statuses[-1].headers["retry-after"] == "1"
    assert (await client.get(f"{tenant.base}/Users", headers=tenant.auth)).status_code == 200


async def test_junk_paths_never_grow_the_metrics(client: httpx.AsyncClient, tenant: TenantHandle) -> None:
    async def scrape() -> str:
        r = await client.get("/metrics")
        assert r.status_code == 200
        return r.text

    def series(text: str) -> list[str]:
        return [line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")]

    for segment in ("warm", "up"):  # the label sets junk paths make, once
        await client.get(f"/scim/v2/{segment}/{segment}")
        await client.get(f"{tenant.base}/{segment}/{segment}", headers=tenant.auth)
    before = await scrape()
    junk = [secrets.token_hex(8) for _ in range(2000)]
    for i, segment in enumerate(junk):
        if i % 2:
            await client.get(f"/scim/v2/{segment}/{segment}")
        else:
            await client.get(f"{tenant.base}/{segment}/{segment}", headers=tenant.auth)
    after = await scrape()
    assert not any(segment in after for segment in junk)
    assert series(after) == series(before)  # counters move; no series is added
    assert len(after) - len(before) < 1024
    assert 'route="/scim/v2/{tenant}/{unknown}/{id}"' in after


async def test_metrics_are_refused_through_a_proxy_unless_the_token_is_sent(
    client: httpx.AsyncClient, settings: Settings, services: Services
) -> None:
    assert (await client.get("/metrics")).status_code == 200
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        r = await client.get("/metrics", headers={header: "203.0.113.9"})
        assert r.status_code == 403 and "SCIMHUB_METRICS_TOKEN" in r.text
    with_token = msgspec.structs.replace(settings, metrics_token="scrape-secret")
    app = create_app(with_token, services=dataclasses.replace(services, settings=with_token))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1))  # type: ignore[arg-type]  # Litestar's ASGI types
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as remote:
        assert (await remote.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})).status_code == 401
        ok = await remote.get(
            "/metrics", headers={"Authorization": "Bearer scrape-secret", "X-Forwarded-For": "203.0.113.9"}
        )
    assert ok.status_code == 200 and "scimhub_requests_total" in ok.text


async def test_test_mails_are_limited_per_tenant_and_the_api_says_so(
    settings: Settings, services: Services, admin: asyncpg.Connection, database: str
) -> None:
    few = msgspec.structs.replace(settings, test_mail_per_hour=2)
    limited = dataclasses.replace(services, settings=few)
    a = await create_tenant(database, notify_emails=["ops@example.test"])
    b = await create_tenant(database, notify_emails=["ops@example.test"])
    for _ in range(2):
        await limited.send_test_mail(a.tenant)
    with pytest.raises(TooManyTestMails) as raised:
        await limited.send_test_mail(a.tenant)
    assert raised.value.status_code == 429 and int((raised.value.headers or {})["Retry-After"]) > 0
    assert "At most 2 test mails per hour" in raised.value.detail
    await limited.send_test_mail(b.tenant)  # another tenant's own count
    key = await admins.create_api_key(admin, a.tenant.id)
    app = create_app(few, services=limited)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        r = await c.post("/admin/api/notifications/test", headers={"Authorization": f"Bearer {key}"})
    # The admin API's error mapping (http/admin_api/__init__.py:_json_error) keeps the status, the sentence
    # and (since #14's leftovers) the exception's Retry-After header.
    assert r.status_code == 429 and "At most 2 test mails per hour" in r.json()["detail"]
    assert int(r.headers["retry-after"]) > 0


async def test_the_hub_shows_the_test_mail_limit_as_a_page_message(
    settings: Settings, services: Services, admin: asyncpg.Connection, database: str
) -> None:
    few = msgspec.structs.replace(settings, test_mail_per_hour=1)
    limited = dataclasses.replace(services, settings=few)
    t = await create_tenant(database, notify_emails=["ops@example.test"])
    email = f"admin-{uuid.uuid4().hex[:6]}@example.test"
    await admins.create_admin(admin, t.tenant.id, email, "correct horse battery staple")
    await admin.execute("UPDATE public.admin_user SET must_change_password = false WHERE email = $1", email)
    transport = httpx.ASGITransport(app=create_app(few, services=limited))  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as c:
        login = await c.post(f"/hub/{t.slug}/login", data={"email": email, "password": "correct horse battery staple"})
        assert login.status_code == 303
        page = (await c.get(f"/hub/{t.slug}/notifications")).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf
        first = await c.post(f"/hub/{t.slug}/notifications/test", data={"csrf": csrf.group(1)})
        assert first.status_code == 200
        over = await c.post(f"/hub/{t.slug}/notifications/test", data={"csrf": csrf.group(1)})
    assert over.status_code == 429 and over.headers["content-type"].startswith("text/html")
    assert "At most 1 test mails per hour" in over.text and "<form" in over.text
    assert int(over.headers["retry-after"]) > 0


async def test_rate_limit_setting_is_checked(database: str) -> None:
    from tests.support.cli import run

    t: TenantHandle = await create_tenant(database)
    for bad in ("0", "-5", "lots", "1000001"):
        r = run(database, "tenant", "set", t.slug, "--rate-limit", bad)
        assert r.returncode == 2 and "rate limit" in r.stderr
    assert run(database, "tenant", "set", t.slug, "--rate-limit", "40").returncode == 0
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT rate_limit FROM public.tenant WHERE slug = $1", t.slug) == 40
    finally:
        await conn.close()
