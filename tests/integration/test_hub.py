"""The admin hub and admin API over HTTP: sign-in, sessions, CSRF, tenant boundaries, bad input."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import uuid
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from litestar import Litestar

from scimhub import admins
from scimhub.admins.scopes import SCOPES
from scimhub.app import create_app
from scimhub.audit import drain as audit_drain
from scimhub.audit.vocabulary import OPERATIONS, OUTCOME_FILTERS
from scimhub.http.services import Services
from scimhub.queue import make_celery
from scimhub.settings import Settings
from scimhub.tenancy.db import fetch_one
from tests.support.cli import run
from tests.support.factories import entra_user
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle, create_tenant

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
    set_cookie = next(iter(cookie))
    assert set_cookie.has_nonstandard_attr("HttpOnly") or set_cookie.has_nonstandard_attr("httponly")


async def test_wrong_password_and_throttling(
    settings: Settings, services: Services, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    # The app's clock stands still at `moment` unless the test moves it: the throttle's 2 s are the test's 2 s.
    start = dt.datetime.now(dt.UTC)
    moment = [start]
    app = create_app(settings, services=dataclasses.replace(services, clock=lambda: moment[0]))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    email = await make_admin(admin, tenant)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        login = f"/hub/{tenant.slug}/login"
        answers = [await client.post(login, data={"email": email, "password": "nope"}) for _ in range(7)]
        assert [a.status_code for a in answers] == [401] * 5 + [429] * 2
        assert "try again in 2 seconds" in answers[-1].text
        recorded = await admin.fetchval(
            "SELECT count(*) FROM public.admin_signin WHERE tenant_id = $1 AND NOT success", tenant.tenant.id
        )
        assert recorded == 5  # throttled attempts are refused before the password is even checked
        r = await client.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": PASSWORD})
        assert r.status_code == 429  # still throttled, even with the right password
        waits = [
            await admins.throttle_seconds(
                admin, tenant.tenant.id, email, "127.0.0.1", now=start + dt.timedelta(seconds=s)
            )
            for s in (0, 0.5, 1, 1.5, 2)
        ]
        assert waits == [2, 2, 1, 1, 0]
        moment[0] = start + dt.timedelta(seconds=2)  # the wait is over: the right password signs in
        r = await client.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": PASSWORD})
        assert r.status_code == 303


async def test_test_mail_is_503_while_the_mail_queue_is_unavailable(
    settings: Settings, services: Services, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    # A broker nobody listens on (port 1 of the loopback): every enqueue fails.
    dead = msgspec.structs.replace(settings, redis_url="redis://127.0.0.1:1/0")
    app = create_app(settings, services=dataclasses.replace(services, celery=make_celery(dead)))
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    key = await admins.create_api_key(admin, tenant.tenant.id)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        c = await signed_in(client, tenant, await make_admin(admin, tenant))
        csrf = csrf_of((await c.get(f"/hub/{tenant.slug}/notifications")).text)
        hub = await c.post(f"/hub/{tenant.slug}/notifications/test", data={"csrf": csrf})
        assert hub.status_code == 503 and "The mail queue is unavailable right now" in hub.text
        api = await client.post("/admin/api/notifications/test", headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == 503
    assert api.json() == {"status": 503, "detail": "the mail queue is unavailable right now; try again shortly"}


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


# ------------------------------------------------------------------ one rule for CLI, hub and admin API

RECIPIENT_CASES = [
    ("a@x.test, b@y.test", ["a@x.test", "b@y.test"]),
    ("a@x.test; b@y.test\nc@z.test", ["a@x.test", "b@y.test", "c@z.test"]),
    ("a@x.test,,A@X.test", ["a@x.test"]),  # blanks skipped, duplicates in any case dropped
    ("", []),  # clears
    ("nope", None),
    ("a@x.test, <b@y.test>", None),
    (",".join(f"r{i}@x.test" for i in range(21)), None),  # at most 20
]


@pytest.mark.parametrize(("text", "expected"), RECIPIENT_CASES)
async def test_cli_hub_and_api_accept_the_same_recipient_lists(
    client: httpx.AsyncClient, admin: asyncpg.Connection, database: str, text: str, expected: list[str] | None
) -> None:
    t = await create_tenant(database, notify_emails=["before@x.test"])
    c = await signed_in(client, t, await make_admin(admin, t))
    key = await admins.create_api_key(admin, t.tenant.id)

    async def stored() -> list[str]:
        return list(await admin.fetchval("SELECT notify_emails FROM public.tenant WHERE id = $1", t.tenant.id))

    async def reset() -> None:
        await admin.execute("UPDATE public.tenant SET notify_emails = '{before@x.test}' WHERE id = $1", t.tenant.id)

    cli = run(database, "tenant", "set", t.slug, "--notify-email", text)
    assert (cli.returncode == 0) == (expected is not None), cli.stderr
    assert await stored() == (expected if expected is not None else ["before@x.test"])
    await reset()

    csrf = csrf_of((await c.get(f"/hub/{t.slug}/notifications")).text)
    form = {"csrf": csrf, "recipients": text, "window": "60", "enabled": "on"}
    hub = await c.post(f"/hub/{t.slug}/notifications", data=form)
    assert hub.status_code == (200 if expected is not None else 400), hub.text[:300]
    assert await stored() == (expected if expected is not None else ["before@x.test"])
    await reset()

    body = {"recipients": re.split(r"[,;\n]", text), "enabled": True, "digest_window_minutes": 60}
    api = await client.put("/admin/api/notifications", json=body, headers={"Authorization": f"Bearer {key}"})
    assert api.status_code == (200 if expected is not None else 400), api.text
    assert await stored() == (expected if expected is not None else ["before@x.test"])
    if expected is not None:
        assert api.json()["recipients"] == expected
    else:
        assert api.json()["detail"] and "Not saved" in hub.text and cli.returncode == 2


@pytest.mark.parametrize("window", ["0", "10081", "soon"])
async def test_digest_window_outside_the_rules_is_refused_by_cli_hub_and_api(
    client: httpx.AsyncClient, admin: asyncpg.Connection, database: str, window: str
) -> None:
    t = await create_tenant(database)
    c = await signed_in(client, t, await make_admin(admin, t))
    key = await admins.create_api_key(admin, t.tenant.id)
    if window.isdigit():  # argparse itself refuses a non-number (exit 2, its own usage message)
        cli = run(database, "tenant", "set", t.slug, "--digest-window", window)
        assert cli.returncode == 2 and "digest window" in cli.stderr and "Traceback" not in cli.stderr
        api = await client.put(
            "/admin/api/notifications",
            json={"recipients": [], "enabled": True, "digest_window_minutes": int(window)},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert api.status_code == 400 and "digest window" in api.json()["detail"]
    csrf = csrf_of((await c.get(f"/hub/{t.slug}/notifications")).text)
    hub = await c.post(f"/hub/{t.slug}/notifications", data={"csrf": csrf, "recipients": "", "window": window})
    assert hub.status_code == 400 and "digest window" in hub.text
    assert await admin.fetchval("SELECT digest_window_minutes FROM public.tenant WHERE id = $1", t.tenant.id) == 60


async def test_token_overlap_beyond_seven_days_is_refused_by_cli_hub_and_api(
    client: httpx.AsyncClient, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    c = await signed_in(client, t, await make_admin(admin, t))
    key = await admins.create_api_key(admin, t.tenant.id)
    cli = run(database, "tenant", "token", "rotate", t.slug, "--keep-old-for", "8d")
    assert cli.returncode == 2 and "7 days" in cli.stderr
    api = await client.post(
        "/admin/api/connector/token", json={"keep_old_for_minutes": 10081}, headers={"Authorization": f"Bearer {key}"}
    )
    assert api.status_code == 400 and "10080" in api.json()["detail"]
    csrf = csrf_of((await c.get(f"/hub/{t.slug}/connectors/scim")).text)
    hub = await c.post(f"/hub/{t.slug}/connectors/scim/rotate", data={"csrf": csrf, "overlap": "10081"})
    assert hub.status_code == 400 and "10080" in hub.text
    assert await admin.fetchval("SELECT count(*) FROM public.tenant_token WHERE tenant_id = $1", t.tenant.id) == 1


async def test_activity_filter_lists_every_operation_and_outcome_of_the_vocabulary(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    page = (await c.get(f"/hub/{tenant.slug}/activity")).text
    operations = re.findall(r"<option\s*>([^<]+)</option>", page)
    assert [o for o in operations if o not in ("User", "Group")] == list(OPERATIONS)
    assert "List users" in operations and "List groups" in operations
    assert re.findall(r'<option value="([^"]+)"', page)[: len(OUTCOME_FILTERS)] == list(OUTCOME_FILTERS)
    key = await admins.create_api_key(admin, tenant.tenant.id)
    for op in ("List users", "Create widget"):
        hub = await c.get(f"/hub/{tenant.slug}/activity", params={"operation": op})
        api = await client.get(
            "/admin/api/activity", params={"operation": op}, headers={"Authorization": f"Bearer {key}"}
        )
        known = op in OPERATIONS
        assert (hub.status_code, api.status_code) == ((200, 200) if known else (400, 400))
        assert known or "use one of" in api.json()["detail"]


async def test_older_entries_link_pages_through_the_log(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    await admin.execute(
        f"""INSERT INTO {tenant.tenant.schema}.activity_log
              (event_id, received_at, method, path, operation, status, outcome, target)
            SELECT gen_random_uuid(), now() - make_interval(mins => n), 'GET', '/Users', 'Lookup', 200, 'success',
                   'user-' || n
            FROM generate_series(1, 60) AS n"""
    )
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    first = (await c.get(f"/hub/{tenant.slug}/activity")).text
    m = re.search(r'href="([^"]+)" data-testid="older"', first)
    assert m, "a page of 50 out of 60 links to older entries"
    second = await c.get(m.group(1).replace("&amp;", "&"))
    assert second.status_code == 200, second.text[:300]
    targets = re.findall(r"<td>(user-\d+)</td>", second.text)
    assert targets == [f"user-{n}" for n in range(51, 61)]
    assert 'data-testid="older"' not in second.text


# ------------------------------------------------------------------------- the plumbing, every route


async def _tenant_state(admin: asyncpg.Connection, tenant: TenantHandle) -> dict[str, Any]:
    """What any unsafe hub or API route could change: status, recipients, and how many tokens, admins, usable
    keys, sessions and identity-provider settings."""
    row = await fetch_one(
        admin,
        """SELECT t.status, t.notify_emails, (SELECT count(*) FROM public.tenant_token k WHERE k.tenant_id = t.id
                    AND k.revoked_at IS NULL) AS tokens,
                  (SELECT count(*) FROM public.admin_user a WHERE a.tenant_id = t.id) AS admins,
                  (SELECT count(*) FROM public.admin_api_key a WHERE a.tenant_id = t.id
                    AND a.revoked_at IS NULL) AS keys,
                  (SELECT count(*) FROM public.admin_session s WHERE s.tenant_id = t.id) AS sessions,
                  (SELECT count(*) FROM public.tenant_oidc o WHERE o.tenant_id = t.id) AS oidc
           FROM public.tenant t WHERE t.id = $1""",
        tenant.tenant.id,
    )
    return dict(row)


def _unsafe_routes(app: Litestar, prefix: str) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for route in app.routes
        if route.path.startswith(prefix)
        for method in route.methods
        if method in ("POST", "PUT", "PATCH", "DELETE")
    )


async def test_every_unsafe_hub_and_cookie_api_route_needs_the_csrf_token(
    client: httpx.AsyncClient, admin: asyncpg.Connection, settings: Settings, services: Services, tenant: TenantHandle
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    app = create_app(settings, services=services)
    hub_routes = [(m, p) for m, p in _unsafe_routes(app, "/hub/") if not p.endswith("/login")]
    api_routes = _unsafe_routes(app, "/admin/api/")
    # A new route is checked here too (#14 added the webhook routes: 5 in the hub, 5 in the API).
    assert len(hub_routes) == 25 and len(api_routes) == 18
    before = await _tenant_state(admin, tenant)
    form = {
        "active": "off",
        "confirm": "yes",
        "overlap": "0",
        "recipients": "x@y.test",
        "window": "5",
        "email": "new@x.test",
        "label": "k",
        "password": "a brand new password",
    }
    for method, path in hub_routes:
        url = re.sub(r"\{\w+:int\}", "1", path.replace("{slug:str}", tenant.slug))
        url = re.sub(r"\{\w+:str\}", str(uuid.uuid4()), url)
        r = await c.request(method, url, data={**form, "csrf": "forged"})
        assert r.status_code == 403 and "nothing was changed" in r.text, (method, path)
    for method, path in api_routes:
        url = re.sub(r"\{\w+:uuid\}", str(uuid.uuid4()), re.sub(r"\{\w+:int\}", "1", path))
        r = await c.request(method, url, json={"active": False, "recipients": [], "enabled": False})
        assert r.status_code == 403, (method, path)
    assert await _tenant_state(admin, tenant) == before
    assert (await c.get(f"/hub/{tenant.slug}/")).status_code == 200  # still signed in: logout was refused too


async def test_text_the_database_cannot_store_gets_400_on_every_hub_and_api_route(
    client: httpx.AsyncClient, admin: asyncpg.Connection, settings: Settings, services: Services, tenant: TenantHandle
) -> None:
    c = await signed_in(client, tenant, await make_admin(admin, tenant))
    csrf = csrf_of((await c.get(f"/hub/{tenant.slug}/connectors/scim")).text)
    key = await admins.create_api_key(admin, tenant.tenant.id, "all", sorted(SCOPES))
    app = create_app(settings, services=services)
    before = await _tenant_state(admin, tenant)
    nul = "x\x00y"
    fields = ("active", "confirm", "overlap", "recipients", "window", "email", "label", "password", "current")
    form = dict.fromkeys((*fields, "issuer", "client_id", "client_secret", "password_signin", "scope"), nul)
    for method, path in _unsafe_routes(app, "/hub/"):  # the sign-in form too
        url = re.sub(r"\{\w+:int\}", "1", path.replace("{slug:str}", tenant.slug))
        url = re.sub(r"\{\w+:str\}", str(uuid.uuid4()), url)
        r = await c.request(method, url, data={**form, "csrf": csrf})
        assert r.status_code == 400 and "U+0000" in r.text and "Nothing was changed" in r.text, (method, path)
    for page in ("audit", "activity", "login"):
        r = await c.get(f"/hub/{tenant.slug}/{page}", params={"actor": nul, "search": nul, "next": nul})
        assert r.status_code == 400 and "U+0000" in r.text, page
    body = {"active": nul, "recipients": [nul], "email": nul, "label": nul, "scopes": [nul], "keep_old_minutes": nul}
    api_routes = sorted(
        (method, route.path) for route in app.routes if route.path.startswith("/admin/api/") for method in route.methods
    )
    for method, path in api_routes:
        if method in ("HEAD", "OPTIONS"):
            continue
        url = re.sub(r"\{\w+:uuid\}", str(uuid.uuid4()), re.sub(r"\{\w+:int\}", "1", path))
        r = await client.request(
            method, url, params={"actor": nul}, json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert r.status_code == 400 and "U+0000" in r.json()["detail"], (method, path, r.text)
        if method != "GET":
            r = await client.request(method, url, json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 400 and "U+0000" in r.json()["detail"], (method, path, r.text)
    assert await _tenant_state(admin, tenant) == before
    assert (await c.get(f"/hub/{tenant.slug}/")).status_code == 200  # still signed in: logout was refused too


async def test_one_time_password_leads_to_the_password_page_first(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = f"otp-{uuid.uuid4().hex[:6]}@{tenant.slug}.test"
    otp = await admins.create_admin(admin, tenant.tenant.id, email)
    assert otp
    c = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    r = await c.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": otp})
    assert r.status_code == 303 and r.headers["location"] == f"/hub/{tenant.slug}/password"
    for path in ("/", "/activity", "/connectors/scim"):
        r = await c.get(f"/hub/{tenant.slug}{path}")
        assert r.status_code == 303 and r.headers["location"] == f"/hub/{tenant.slug}/password", path
    page = await c.get(f"/hub/{tenant.slug}/password")
    assert page.status_code == 200
    r = await c.post(f"/hub/{tenant.slug}/password", data={"csrf": csrf_of(page.text), "password": "short"})
    assert r.status_code == 400 and "12 characters" in r.text
    r = await c.post(f"/hub/{tenant.slug}/password", data={"csrf": csrf_of(page.text), "password": PASSWORD})
    assert r.status_code == 303 and r.headers["location"] == f"/hub/{tenant.slug}/"
    assert (await c.get(f"/hub/{tenant.slug}/activity")).status_code == 200


async def test_options_on_hub_and_api_paths_is_answered_without_a_session(
    client: httpx.AsyncClient, tenant: TenantHandle
) -> None:
    for path in (f"/hub/{tenant.slug}/", f"/hub/{tenant.slug}/activity.csv", "/admin/api/activity"):
        r = await client.request("OPTIONS", path)
        assert r.status_code == 204 and not r.content, path
