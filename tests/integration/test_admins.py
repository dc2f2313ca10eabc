"""Administrators' lifecycle, scoped API keys and the admin trail, over the hub, the admin API and the CLI
(issue #15)."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import asyncpg
import httpx
import pytest

from scimhub import admins
from scimhub.admins import accounts, keys, sessions
from scimhub.admins.scopes import DEFAULT_SCOPES, SCOPES
from tests.support.cli import run
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle, create_tenant

PASSWORD = "correct horse battery staple"


async def make_admin(admin: asyncpg.Connection, t: TenantHandle, email: str | None = None) -> str:
    email = email or f"admin-{uuid.uuid4().hex[:6]}@{t.slug}.test"
    await admins.create_admin(admin, t.tenant.id, email, PASSWORD)
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


async def trail_rows(admin: asyncpg.Connection, t: TenantHandle) -> list[asyncpg.Record]:
    return await admin.fetch(
        "SELECT actor, action, outcome, summary, changes::text AS changes, client_ip, notice "
        "FROM public.admin_trail WHERE tenant_id = $1 ORDER BY id",
        t.tenant.id,
    )


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# ------------------------------------------------------------------------------------------ scopes


async def test_a_key_outside_its_scopes_gets_403_naming_the_missing_scope(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    key = await admins.create_api_key(admin, tenant.tenant.id, "export", ["activity:read"])
    assert (await client.get("/admin/api/activity", headers=bearer(key))).status_code == 200
    r = await client.post("/admin/api/connector/token", json={}, headers=bearer(key))
    assert r.status_code == 403
    assert r.json() == {
        "status": 403,
        "detail": "this API key lacks the scope 'tokens:write' that this request needs",
        "missing_scope": "tokens:write",
    }
    r = await client.put("/admin/api/connector", json={"active": False}, headers=bearer(key))
    assert r.status_code == 403 and r.json()["missing_scope"] == "connector:write"
    assert await admin.fetchval("SELECT status FROM public.tenant WHERE id = $1", tenant.tenant.id) == "active"
    assert (await client.get("/admin/api/audit", headers=bearer(key))).json()["missing_scope"] == "audit:read"


async def test_every_admin_api_route_declares_a_known_scope(client: httpx.AsyncClient) -> None:
    from scimhub.http.admin_api import ROUTES

    assert ROUTES and all(route.opt["scope"] in SCOPES for route in ROUTES)


async def test_unknown_scopes_and_bad_expiry_are_refused_and_recorded(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    key = await admins.create_api_key(admin, tenant.tenant.id, "boss", ["admins:write"])
    before = await admin.fetchval("SELECT count(*) FROM public.admin_api_key WHERE tenant_id = $1", tenant.tenant.id)
    for body, words in (
        ({"scopes": ["activity:read", "root:everything"]}, "unknown scope 'root:everything'"),
        ({"scopes": []}, "at least one scope"),
        ({"scopes": ["audit:read"], "expires_in_days": 0}, "from 1 to 730"),
    ):
        r = await client.post("/admin/api/api-keys", json=body, headers=bearer(key))
        assert r.status_code == 400 and words in r.json()["detail"], r.text
    after = await admin.fetchval("SELECT count(*) FROM public.admin_api_key WHERE tenant_id = $1", tenant.tenant.id)
    assert after == before
    refused = [r for r in await trail_rows(admin, tenant) if r["outcome"] == "refused"]
    assert [r["action"] for r in refused] == ["apikey.created"] * 3
    assert all(r["actor"] == "API key boss" for r in refused)


async def test_keys_expire_are_revoked_at_once_and_old_keys_keep_the_default_scopes(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    boss = await admins.create_api_key(admin, tenant.tenant.id, "boss", ["admins:write", "admins:read"])
    r = await client.post(
        "/admin/api/api-keys",
        json={"label": "siem", "scopes": ["audit:read", "activity:read"], "expires_in_days": 30},
        headers=bearer(boss),
    )
    assert r.status_code == 201, r.text
    created = r.json()
    siem, key_id = created["key"], created["info"]["id"]
    assert siem.startswith("sha_") and created["info"]["scopes"] == ["activity:read", "audit:read"]
    listed = (await client.get("/admin/api/api-keys", headers=bearer(boss))).json()
    assert siem not in json.dumps(listed) and any(k["hint"] == "…" + siem[-4:] for k in listed)
    stored = await admin.fetchval("SELECT digest FROM public.admin_api_key WHERE id = $1", key_id)
    assert stored != siem.encode() and len(stored) == 32  # a SHA-256 digest, never the key
    assert (await client.get("/admin/api/audit", headers=bearer(siem))).status_code == 200
    # Expiry: brought about in the data, not waited for.
    await admin.execute(
        "UPDATE public.admin_api_key SET expires_at = now() - interval '1 second' WHERE id = $1", key_id
    )
    assert (await client.get("/admin/api/audit", headers=bearer(siem))).status_code == 401
    await admin.execute("UPDATE public.admin_api_key SET expires_at = NULL WHERE id = $1", key_id)
    assert (await client.delete(f"/admin/api/api-keys/{key_id}", headers=bearer(boss))).status_code == 200
    assert (await client.get("/admin/api/audit", headers=bearer(siem))).status_code == 401
    assert (await client.delete(f"/admin/api/api-keys/{key_id}", headers=bearer(boss))).status_code == 404
    assert (await client.delete("/admin/api/api-keys/999999999", headers=bearer(boss))).status_code == 404
    # A key made before scopes existed has the migration's default: every route that existed then.
    old = "sha_" + uuid.uuid4().hex
    await admin.execute(
        "INSERT INTO public.admin_api_key (tenant_id, digest, hint) VALUES ($1, sha256($2::text::bytea), 'x')",
        tenant.tenant.id,
        old,
    )
    scopes = await admin.fetchval(
        "SELECT scopes FROM public.admin_api_key WHERE hint = 'x' AND tenant_id = $1", tenant.tenant.id
    )
    assert tuple(scopes) == DEFAULT_SCOPES
    assert (await client.get("/admin/api/connector", headers=bearer(old))).status_code == 200
    assert (await client.get("/admin/api/admins", headers=bearer(old))).status_code == 403
    actions = [(r["action"], r["outcome"]) for r in await trail_rows(admin, tenant)]
    assert ("apikey.created", "success") in actions and ("apikey.revoked", "success") in actions
    assert actions.count(("apikey.revoked", "refused")) == 2
    assert siem not in json.dumps([dict(r) for r in await trail_rows(admin, tenant)])


# --------------------------------------------------------------------------------------- lifecycle


async def test_removing_an_administrator_ends_its_sessions_at_once_but_never_the_last(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    first = await make_admin(admin, tenant)
    c1 = await signed_in(client, tenant, first)
    page = await c1.get(f"/hub/{tenant.slug}/admins")
    me = await accounts.find_admin_id(admin, tenant.tenant.id, first)
    r = await c1.post(f"/hub/{tenant.slug}/admins/{me}/remove", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 400 and "last administrator" in r.text
    assert await accounts.find_admin_id(admin, tenant.tenant.id, first) == me
    second = await make_admin(admin, tenant)
    c2 = await signed_in(client, tenant, second)
    assert (await c2.get(f"/hub/{tenant.slug}/")).status_code == 200
    other = await accounts.find_admin_id(admin, tenant.tenant.id, second)
    r = await c1.post(f"/hub/{tenant.slug}/admins/{other}/remove", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and f"Removed {second}" in r.text
    assert (await c2.get(f"/hub/{tenant.slug}/")).status_code == 303  # its session ended with it
    r = await c1.post(f"/hub/{tenant.slug}/admins/{other}/remove", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 404
    rows = [(r["action"], r["outcome"]) for r in await trail_rows(admin, tenant)]
    assert rows.count(("admin.removed", "refused")) == 2 and rows.count(("admin.removed", "success")) == 1


async def test_invitations_expire_and_can_be_revoked(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    boss = await make_admin(admin, tenant)
    c = await signed_in(client, tenant, boss)
    page = await c.get(f"/hub/{tenant.slug}/admins")
    new = f"new-{uuid.uuid4().hex[:6]}@x.test"
    r = await c.post(f"/hub/{tenant.slug}/admins", data={"csrf": csrf_of(page.text), "email": new})
    otp = re.search(r'data-testid="otp">([^<]+)<', r.text)
    assert otp and "valid for 72 hours" in r.text
    hours = await admin.fetchval(
        "SELECT extract(epoch FROM invitation_expires_at - created_at) / 3600 FROM public.admin_user "
        "WHERE lower(email) = lower($1)",
        new,
    )
    assert round(float(hours)) == 72
    await admin.execute(
        "UPDATE public.admin_user SET invitation_expires_at = now() - interval '1 second' WHERE email = $1", new
    )
    anon = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    r = await anon.post(f"/hub/{tenant.slug}/login", data={"email": new, "password": otp.group(1)})
    assert r.status_code == 401 and "invitation has expired" in r.text
    listed = (await c.get(f"/hub/{tenant.slug}/admins")).text
    assert "invitation expired" in listed and "Revoke invitation" in listed
    new_id = await accounts.find_admin_id(admin, tenant.tenant.id, new)
    r = await c.post(f"/hub/{tenant.slug}/admins/{new_id}/remove", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and await accounts.find_admin_id(admin, tenant.tenant.id, new) is None
    summaries = [r["summary"] for r in await trail_rows(admin, tenant)]
    assert f"invited {new}" in summaries and any(s.startswith(f"revoked the invitation of {new}") for s in summaries)
    assert otp.group(1) not in json.dumps(summaries)


async def test_password_change_needs_the_current_password_and_ends_the_other_sessions(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = await make_admin(admin, tenant)
    here = await signed_in(client, tenant, email)
    elsewhere = await signed_in(client, tenant, email)
    page = await here.get(f"/hub/{tenant.slug}/account")
    assert page.text.count('/end"') == 2 and "this session" in page.text
    new = "an entirely different passphrase"
    r = await here.post(
        f"/hub/{tenant.slug}/account/password", data={"csrf": csrf_of(page.text), "current": "wrong", "password": new}
    )
    assert r.status_code == 400 and "current password is wrong" in r.text
    assert (await elsewhere.get(f"/hub/{tenant.slug}/")).status_code == 200
    r = await here.post(
        f"/hub/{tenant.slug}/account/password", data={"csrf": csrf_of(page.text), "current": PASSWORD, "password": new}
    )
    assert r.status_code == 200 and "1 other session(s) ended" in r.text
    assert (await elsewhere.get(f"/hub/{tenant.slug}/")).status_code == 303
    assert (await here.get(f"/hub/{tenant.slug}/")).status_code == 200
    rows = [(r["action"], r["outcome"]) for r in await trail_rows(admin, tenant)]
    assert ("password.changed", "refused") in rows and ("password.changed", "success") in rows
    assert new not in json.dumps([dict(r) for r in await trail_rows(admin, tenant)])


async def test_sessions_are_listed_and_ended_one_or_all_others(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = await make_admin(admin, tenant)
    here, a, b = [await signed_in(client, tenant, email) for _ in range(3)]
    mine = await sessions.list_sessions(admin, tenant.tenant.id)
    assert len(mine) == 3 and {s.client_ip for s in mine} == {"127.0.0.1"}
    page = await here.get(f"/hub/{tenant.slug}/account")
    ids = [int(i) for i in re.findall(r"/account/sessions/(\d+)/end", page.text)]
    current = next(s.id for s in mine if s.id == max(ids))  # the newest is `b`'s
    r = await here.post(f"/hub/{tenant.slug}/account/sessions/{current}/end", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and (await b.get(f"/hub/{tenant.slug}/")).status_code == 303
    r = await here.post(f"/hub/{tenant.slug}/account/sessions/end-others", data={"csrf": csrf_of(page.text)})
    assert "Ended 1 other session(s)" in r.text
    assert (await a.get(f"/hub/{tenant.slug}/")).status_code == 303
    assert (await here.get(f"/hub/{tenant.slug}/")).status_code == 200


async def test_admin_api_lists_invites_and_removes_administrators(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    await make_admin(admin, tenant)
    key = await admins.create_api_key(admin, tenant.tenant.id, "hr", ["admins:read", "admins:write"])
    r = await client.post("/admin/api/admins", json={"email": "api@x.test"}, headers=bearer(key))
    assert r.status_code == 201 and r.json()["one_time_password"] and r.json()["administrator"]["status"] == "invited"
    assert (await client.post("/admin/api/admins", json={"email": "nope"}, headers=bearer(key))).status_code == 400
    listed = (await client.get("/admin/api/admins", headers=bearer(key))).json()
    assert "api@x.test" in [a["email"] for a in listed]
    assert all("password" not in json.dumps(a) for a in listed)
    new_id = r.json()["administrator"]["id"]
    assert (await client.delete(f"/admin/api/admins/{new_id}", headers=bearer(key))).status_code == 200
    assert (await client.delete(f"/admin/api/admins/{new_id}", headers=bearer(key))).status_code == 404
    assert (await client.get("/admin/api/sessions", headers=bearer(key))).status_code == 200
    assert (await client.delete("/admin/api/sessions/999999999", headers=bearer(key))).status_code == 404


# ------------------------------------------------------------------------------------------- trail


async def test_the_trail_records_who_what_when_from_where_and_never_a_secret(
    client: httpx.AsyncClient, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database, notify_emails=["ops@x.test"])
    email = await make_admin(admin, t)
    anon = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    await anon.post(f"/hub/{t.slug}/login", data={"email": email, "password": "guess"})
    c = await signed_in(client, t, email)
    html = (await c.get(f"/hub/{t.slug}/connectors/scim")).text
    csrf = csrf_of(html)
    await c.post(f"/hub/{t.slug}/connectors/scim/active", data={"csrf": csrf})  # off
    rotated = await c.post(f"/hub/{t.slug}/connectors/scim/rotate", data={"csrf": csrf, "overlap": "60"})
    token = re.search(r'data-testid="new-token">\s*([^<\s]+)', rotated.text)
    assert token
    await c.post(f"/hub/{t.slug}/connectors/scim/revoke", data={"csrf": csrf, "confirm": "yes"})
    await c.post(f"/hub/{t.slug}/notifications", data={"csrf": csrf, "recipients": "sec@x.test", "window": "30"})
    r = await c.post(f"/hub/{t.slug}/admins/api-keys", data={"csrf": csrf, "label": "ci", "scope": "audit:read"})
    key = re.search(r'data-testid="new-key">([^<]+)<', r.text)
    assert key
    await c.post(f"/hub/{t.slug}/logout", data={"csrf": csrf})
    rows = await trail_rows(admin, t)
    assert [(r["action"], r["outcome"]) for r in rows] == [
        ("admin.invited", "success"),
        ("signin.failed", "refused"),
        ("signin.succeeded", "success"),
        ("connector.switched", "success"),
        ("token.rotated", "success"),
        ("token.revoked", "success"),
        ("notifications.changed", "success"),
        ("apikey.created", "success"),
        ("signin.signed_out", "success"),
    ]
    assert {r["client_ip"] for r in rows[1:]} == {"127.0.0.1"} and rows[0]["client_ip"] is None  # the operator
    rows = rows[1:]  # from the administrator's first attempt on
    assert rows[0]["actor"] == email and rows[2]["actor"] == email
    assert json.loads(rows[2]["changes"]) == [["connector", "on", "off"]]
    assert json.loads(rows[5]["changes"])[0] == ["recipients", "ops@x.test", "sec@x.test"]
    # Security-relevant entries are queued for mail: switched off, rotated, revoked, a new key.
    assert [r["notice"] for r in rows] == ["none", "none", "pending", "pending", "pending", "none", "pending", "none"]
    everything = json.dumps([dict(r) for r in rows])
    for secret in (token.group(1), key.group(1), PASSWORD, "guess", t.token):
        assert secret not in everything
    # The hub page, its filter, its CSV (formula-safe), the API and the CLI all read the same trail.
    c = await signed_in(client, t, email)
    page = await c.get(f"/hub/{t.slug}/audit", params={"action": "token.rotated"})
    assert page.status_code == 200 and page.text.count("<tr>") == 2  # header + one entry
    assert (await c.get(f"/hub/{t.slug}/audit", params={"action": "nonsense"})).status_code == 400
    csv_text = (await c.get(f"/hub/{t.slug}/audit.csv")).text
    assert csv_text.splitlines()[0] == "at,actor_kind,actor,client_ip,action,outcome,summary,changes"
    assert "token.rotated" in csv_text and token.group(1) not in csv_text
    api = await client.get("/admin/api/audit", params={"limit": 3}, headers=bearer(key.group(1)))
    page1 = api.json()
    assert len(page1["items"]) == 3 and page1["next_cursor"]
    page2 = await client.get(
        "/admin/api/audit", params={"limit": 3, "cursor": page1["next_cursor"]}, headers=bearer(key.group(1))
    )
    assert {i["id"] for i in page1["items"]}.isdisjoint({i["id"] for i in page2.json()["items"]})
    bad = await client.get("/admin/api/audit", params={"since": "yesterday"}, headers=bearer(key.group(1)))
    assert bad.status_code == 400
    out = run(database, "admin", "log", t.slug, "--json")
    assert out.returncode == 0, out.stderr
    assert [e["action"] for e in json.loads(out.stdout)][:2] == ["signin.succeeded", "signin.signed_out"]
    text = run(database, "admin", "log", t.slug, "--action", "token.rotated")
    assert "Token generated" in text.stdout and email in text.stdout


async def test_the_trail_csv_keeps_what_strangers_typed_from_running_as_a_formula(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    email = await make_admin(admin, tenant)
    anon = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    typed = ['=HYPERLINK("http://evil.test")', "+1+1", "@SUM(A1)", "-2"]
    for name in typed:
        r = await anon.post(f"/hub/{tenant.slug}/login", data={"email": name, "password": "guess"})
        assert r.status_code == 401
    c = await signed_in(client, tenant, email)
    body = (await c.get(f"/hub/{tenant.slug}/audit.csv", params={"action": "signin.failed"})).text
    actors = [row["actor"] for row in csv.DictReader(io.StringIO(body))]
    assert sorted(actors) == sorted("'" + name for name in typed)


def test_cli_lists_and_removes_administrators_and_lists_and_revokes_keys(database: str) -> None:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    assert run(database, "tenant", "create", slug).returncode == 0
    for email in ("one@acme.test", "two@acme.test"):
        assert run(database, "admin", "create", slug, email).returncode == 0
    listed = json.loads(run(database, "admin", "list", slug, "--json").stdout)
    assert [(a["email"], a["status"]) for a in listed] == [("one@acme.test", "invited"), ("two@acme.test", "invited")]
    assert "one@acme.test" in run(database, "admin", "list", slug).stdout
    key = run(database, "admin", "api-key", slug, "--scope", "audit:read,activity:read", "--expires", "30d", "--json")
    assert key.returncode == 0, key.stderr
    created = json.loads(key.stdout)
    assert created["scopes"] == ["activity:read", "audit:read"]
    keys_listed = json.loads(run(database, "admin", "api-key", "list", slug, "--json").stdout)
    assert [k["id"] for k in keys_listed] == [created["id"]] and created["api_key"] not in json.dumps(keys_listed)
    bad = run(database, "admin", "api-key", slug, "--scope", "everything")
    assert bad.returncode == 2 and "unknown scope 'everything'" in bad.stderr
    assert run(database, "admin", "api-key", "revoke", slug, str(created["id"])).returncode == 0
    again = run(database, "admin", "api-key", "revoke", slug, str(created["id"]))
    assert again.returncode == 1 and "no usable API key" in again.stderr
    assert json.loads(run(database, "admin", "api-key", "list", slug, "--json").stdout) == []
    unknown = run(database, "admin", "remove", slug, "nobody@acme.test")
    assert unknown.returncode == 1 and "not an administrator" in unknown.stderr
    assert run(database, "admin", "remove", slug, "two@acme.test").returncode == 0
    # Neither is active yet (both invited): the last invitation can still be revoked ...
    assert run(database, "admin", "remove", slug, "one@acme.test").returncode == 0
    log = json.loads(run(database, "admin", "log", slug, "--json").stdout)
    assert {e["actor"] for e in log} == {"operator (scimhub CLI)"}
    assert ("admin.removed", "refused") in [(e["action"], e["outcome"]) for e in log]


@pytest.mark.parametrize("slug", ["nope-none"])
def test_cli_admin_commands_on_an_unknown_tenant_say_so(database: str, slug: str) -> None:
    for args in (("list", slug), ("remove", slug, "a@b.test"), ("log", slug), ("api-key", "list", slug)):
        r = run(database, "admin", *args)
        assert r.returncode == 1 and "no tenant named" in r.stderr, args


async def test_the_last_active_administrator_cannot_be_removed_from_the_cli(
    admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    email = await make_admin(admin, t)
    r = run(database, "admin", "remove", t.slug, email)
    assert r.returncode == 1 and "last administrator" in r.stderr
    assert await keys.list_api_keys(admin, t.tenant.id) == []
    assert await accounts.find_admin_id(admin, t.tenant.id, email) is not None
