"""Sign-in with the tenant's identity provider over HTTP (the in-process app and a real local provider):
settings refused for an issuer that does not answer or answers garbage, a forged state, a state used from
another browser, every refusal in the trail and no session; password sign-in switched off. The browser runs
the whole flow in tests/browser/test_oidc_browser.py."""

from __future__ import annotations

import http.server
import re
import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from scimhub import admins
from scimhub.admins import oidc
from scimhub.admins.oidc_provider import OidcError
from tests.support.oidc import OidcProvider
from tests.support.processes import free_port
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    p = OidcProvider(tmp_path_factory.mktemp("oidc") / "provider.log")
    yield p
    p.stop()


class _Garbage(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<html>this is no OpenID configuration</html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def garbage_issuer() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m
    return m.group(1)


async def hub_admin(
    client: httpx.AsyncClient, admin: asyncpg.Connection, t: TenantHandle
) -> tuple[httpx.AsyncClient, str]:
    email = f"alice-{uuid.uuid4().hex[:6]}@acme.test"
    await admins.create_admin(admin, t.tenant.id, email, PASSWORD)
    c = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    assert (await c.post(f"/hub/{t.slug}/login", data={"email": email, "password": PASSWORD})).status_code == 303
    return c, email


async def save(c: httpx.AsyncClient, t: TenantHandle, issuer: str, secret: str = "s3cret-value") -> httpx.Response:
    page = await c.get(f"/hub/{t.slug}/signin-settings")
    return await c.post(
        f"/hub/{t.slug}/signin-settings",
        data={"csrf": csrf_of(page.text), "issuer": issuer, "client_id": "scimhub-hub", "client_secret": secret},
    )


async def refused(admin: asyncpg.Connection, t: TenantHandle) -> list[str]:
    rows = await admin.fetch(
        "SELECT summary FROM public.admin_trail WHERE tenant_id = $1 AND outcome = 'refused' ORDER BY id", t.tenant.id
    )
    return [r["summary"] for r in rows]


async def test_an_issuer_that_does_not_answer_or_answers_garbage_is_refused_and_nothing_is_saved(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle, garbage_issuer: str
) -> None:
    c, _ = await hub_admin(client, admin, tenant)
    silent = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cases = [
        (silent, "did not answer"),
        (garbage_issuer, "is not JSON"),
        ("https://", "must be an https URL"),
        ("http://login.example.test/v2.0", "must use https"),
    ]
    for issuer, words in cases:
        r = await save(c, tenant, issuer)
        assert r.status_code == 400 and words in r.text, (issuer, r.text[-800:])
    assert await oidc.get_settings(admin, tenant.tenant.id) is None
    assert len(await refused(admin, tenant)) == len(cases)


async def test_the_client_secret_is_stored_encrypted_and_never_shown(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle, provider: OidcProvider
) -> None:
    c, _ = await hub_admin(client, admin, tenant)
    r = await save(c, tenant, provider.issuer, secret="very-secret-client-value")
    assert r.status_code == 200 and "Saved" in r.text
    assert "very-secret-client-value" not in r.text
    stored = await admin.fetchval(
        "SELECT client_secret_encrypted FROM public.tenant_oidc WHERE tenant_id = $1", tenant.tenant.id
    )
    assert "very-secret-client-value" not in stored
    trail = await admin.fetch(
        "SELECT summary, changes::text AS c FROM public.admin_trail WHERE tenant_id = $1", tenant.tenant.id
    )
    assert all("very-secret-client-value" not in r["summary"] + r["c"] for r in trail)
    settings = await oidc.get_settings(admin, tenant.tenant.id)
    assert settings is not None and settings.has_secret and settings.issuer == provider.issuer


async def test_sign_in_with_the_provider_then_forged_and_foreign_states_are_refused(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle, provider: OidcProvider
) -> None:
    c, email = await hub_admin(client, admin, tenant)
    assert (await save(c, tenant, provider.issuer)).status_code == 200
    provider.set_user("alice-http", {"email": email, "email_verified": True})
    browser = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    login = await browser.get(f"/hub/{tenant.slug}/login")
    assert "Sign in with 127.0.0.1" in login.text
    start = await browser.get(f"/hub/{tenant.slug}/oidc/start")
    assert start.status_code == 303
    url = start.headers["location"]
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&"))
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    back = provider.authorize(url, "alice-http")
    callback = urlsplit(back)
    # Another browser (no binding cookie) with the same link: refused, and the state is spent.
    other = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    r = await other.get(f"{callback.path}?{callback.query}")
    assert r.status_code == 400 and "started in another browser" in r.text
    assert "scimhub_session" not in other.cookies
    r = await browser.get(f"{callback.path}?{callback.query}")
    assert r.status_code == 400 and "already used" in r.text
    # A fresh start in the right browser signs in.
    start = await browser.get(f"/hub/{tenant.slug}/oidc/start")
    again = urlsplit(provider.authorize(start.headers["location"], "alice-http"))
    r = await browser.get(f"{again.path}?{again.query}")
    assert r.status_code == 303 and r.headers["location"] == f"/hub/{tenant.slug}/"
    assert (await browser.get(f"/hub/{tenant.slug}/")).status_code == 200
    # A forged state.
    r = await other.get(f"/hub/{tenant.slug}/oidc/callback", params={"state": "forged", "code": "x"})
    assert r.status_code == 400 and "not valid" in r.text and "scimhub_session" not in other.cookies
    summaries = await refused(admin, tenant)
    assert sum("identity provider sign-in failed" in s for s in summaries) == 3
    ok = await admin.fetchval(
        "SELECT count(*) FROM public.admin_trail WHERE tenant_id = $1 AND action = 'signin.succeeded' "
        "AND summary = 'signed in with the identity provider'",
        tenant.tenant.id,
    )
    assert ok == 1


async def test_password_sign_in_can_be_switched_off_only_with_a_provider(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle, provider: OidcProvider
) -> None:
    c, email = await hub_admin(client, admin, tenant)
    page = await c.get(f"/hub/{tenant.slug}/signin-settings")
    with pytest.raises(OidcError):
        await oidc.set_password_signin(admin, tenant.tenant.id, admins.OPERATOR, enabled=False)
    assert (await save(c, tenant, provider.issuer)).status_code == 200
    r = await c.post(f"/hub/{tenant.slug}/signin-settings/password", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200 and "Password sign-in is now off" in r.text
    anon = httpx.AsyncClient(transport=client._transport, base_url=PUBLIC_URL)
    login = await anon.get(f"/hub/{tenant.slug}/login")
    assert 'name="password"' not in login.text and "Sign in with" in login.text
    r = await anon.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 401 and "switched off" in r.text and "scimhub_session" not in anon.cookies
    r = await c.post(f"/hub/{tenant.slug}/signin-settings/remove", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200
    r = await anon.post(f"/hub/{tenant.slug}/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 303
