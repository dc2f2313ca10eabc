"""Sign-in with the tenant's identity provider in a real browser (Debian chromium through Playwright) against a
real local OpenID provider (oidc-provider-mock on 127.0.0.1): set up in the hub, sign in, and each refusal
(a replayed state, a wrong audience, an expired ID token, an unknown email) is a clear message and no session;
then password sign-in is switched off."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser.test_hub_browser import shot
from tests.support.cli import run
from tests.support.oidc import OidcProvider
from tests.support.processes import Stack
from tests.support.tenants import create_tenant

pytestmark = pytest.mark.slow
PASSWORD = "a long and private passphrase"


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    s.start_web()
    yield s
    s.stop()


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[OidcProvider]:
    p = OidcProvider(tmp_path / "provider.log")
    yield p
    p.stop()


async def signed_in(context: BrowserContext, base: str, slug: str) -> bool:
    """Whether the browser holds a session: the overview answers instead of the sign-in page."""
    cookies = {ck["name"]: ck["value"] for ck in await context.cookies() if ck["name"] == "scimhub_session"}
    async with httpx.AsyncClient(timeout=10, cookies=cookies) as c:
        r = await c.get(f"{base}/hub/{slug}/")
    return r.status_code == 200


async def via_provider(page: Page, base: str, slug: str, sub: str) -> None:
    await page.goto(f"{base}/hub/{slug}/login")
    await page.click("[data-testid=oidc]")
    await page.get_by_placeholder("sub").fill(sub)
    await page.get_by_role("button", name="Authorize").click()
    await page.wait_for_load_state()


async def test_administrator_signs_in_with_the_identity_provider_and_every_refusal_is_clear(
    stack: Stack,
    browser: Browser,
    database: str,
    provider: OidcProvider,
) -> None:
    assert stack.web is not None
    base = stack.web.url
    t = await create_tenant(database)
    created = run(database, "admin", "create", t.slug, "second@acme.test", "--password-stdin", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()

    # Set up the provider in the hub, signed in with a password.
    await page.goto(f"{base}/hub/{t.slug}/login")
    await page.fill("#email", "second@acme.test")
    await page.fill("#password", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url(f"{base}/hub/{t.slug}/")
    await page.click("text=Sign-in")
    assert await page.text_content("[data-testid=redirect-uri]") == f"{base}/hub/{t.slug}/oidc/callback"
    await page.fill("#issuer", provider.issuer)
    await page.fill("#client_id", "scimhub-hub")
    await page.fill("#client_secret", "client-secret-value")
    await page.click("button:has-text('Save')")
    await page.wait_for_selector("text=Saved")
    await shot(page, "oidc-01-settings")
    await page.click("text=Sign out")
    await page.wait_for_url(f"{base}/hub/{t.slug}/login")

    # The provider vouches for second@acme.test: signed in; the callback's URL is kept for the replay.
    provider.set_user("second", {"email": "second@acme.test", "email_verified": True})
    callbacks: list[str] = []
    page.on("request", lambda req: callbacks.append(req.url) if "/oidc/callback" in req.url else None)
    await shot(page, "oidc-02-sign-in-page")
    await via_provider(page, base, t.slug, "second")
    await page.wait_for_url(f"{base}/hub/{t.slug}/")
    assert await signed_in(context, base, t.slug)
    await shot(page, "oidc-03-signed-in")
    await page.click("text=Sign out")
    await page.wait_for_url(f"{base}/hub/{t.slug}/login")

    # A replayed state: the same callback URL again.
    await page.goto(callbacks[-1])
    assert "already used" in (await page.text_content("[role=alert]") or "")
    assert not await signed_in(context, base, t.slug)
    await shot(page, "oidc-04-replayed-state")

    # A token for another audience, an expired one, an email that is no administrator: each refused.
    cases = [
        ("mallory", {"email": "second@acme.test", "email_verified": True, "aud": "another-app"}, "wrong audience"),
        ("late", {"email": "second@acme.test", "email_verified": True, "exp": 1_000_000_000}, "has expired"),
        ("stranger", {"email": "stranger@evil.test", "email_verified": True}, "not an administrator"),
    ]
    for sub, claims, words in cases:
        provider.set_user(sub, claims)
        await via_provider(page, base, t.slug, sub)
        message = await page.text_content("[role=alert]") or ""
        assert words in message and message.startswith("Not signed in"), (sub, message)
        assert not await signed_in(context, base, t.slug)
        await shot(page, f"oidc-05-refused-{sub}")

    # Signed in again, password sign-in is switched off: the sign-in page offers only the provider.
    await via_provider(page, base, t.slug, "second")
    await page.wait_for_url(f"{base}/hub/{t.slug}/")
    await page.click("text=Sign-in")
    await page.uncheck("[data-testid=password-signin]")
    await page.click("form[action$='/signin-settings/password'] button")
    await page.wait_for_selector("text=Password sign-in is now off")
    await page.click("text=Sign out")
    await page.wait_for_url(f"{base}/hub/{t.slug}/login")
    assert await page.locator("#password").count() == 0
    assert await page.is_visible("[data-testid=oidc]")
    await shot(page, "oidc-06-password-off")

    # The admin trail shows it all, with nothing secret in it.
    log = json.loads(run(database, "admin", "log", t.slug, "--json").stdout)
    failed = [e["summary"] for e in log if e["action"] == "signin.failed"]
    assert len(failed) == 4 and all(s.startswith("identity provider sign-in failed") for s in failed)
    assert "client-secret-value" not in json.dumps(log)
    await context.close()
