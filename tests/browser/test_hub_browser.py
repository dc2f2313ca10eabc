"""The admin hub in a real browser: Debian's chromium driven by Playwright, against real processes.

Screenshots of every page are kept in test-artifacts/screenshots/ (CI artefacts).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from playwright.async_api import Browser, Page

from tests.support.cli import run
from tests.support.factories import entra_user
from tests.support.processes import Stack
from tests.support.tenants import create_tenant
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
NEW_PASSWORD = "a long and private passphrase"


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    s.start_web()
    s.start_worker()
    s.start_beat()
    yield s
    s.stop()


async def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def scim_status(url: str, token: str) -> int:
    async with httpx.AsyncClient(timeout=10) as c:
        return (await c.get(f"{url}/Users", headers={"Authorization": f"Bearer {token}"})).status_code


async def wait_for_log(admin: asyncpg.Connection, schema: str, where: str) -> None:
    async def entries() -> int:
        return int(await admin.fetchval(f"SELECT count(*) FROM {schema}.activity_log WHERE {where}"))

    await wait_until(entries, lambda n: n > 0, f"an activity entry where {where}")


async def test_administrator_connects_entra_and_watches_provisioning(
    stack: Stack, browser: Browser, database: str, admin: asyncpg.Connection, tmp_path: Path
) -> None:
    assert stack.web is not None
    base = stack.web.url
    t = await create_tenant(database)
    scim_url = f"{base}/scim/v2/{t.slug}"
    created = run(database, "admin", "create", t.slug, "it-admin@acme.test", "--json", env={"SCIMHUB_PUBLIC_URL": base})
    otp = json.loads(created.stdout)["password"]
    context = await browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 900})
    page = await context.new_page()

    # Sign in with the keyboard only, then choose a password.
    await page.goto(f"{base}/hub/{t.slug}/login")
    await shot(page, "01-sign-in")
    await page.keyboard.type("it-admin@acme.test")  # the email field has autofocus
    await page.keyboard.press("Tab")
    await page.keyboard.type(otp)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base}/hub/{t.slug}/password")
    await page.fill("#new", NEW_PASSWORD)
    await page.click("text=Save password")
    await page.wait_for_url(f"{base}/hub/{t.slug}/")
    assert await page.is_visible("text=No provisioning activity yet")
    await shot(page, "02-overview-empty")

    # Connectors > SCIM: switch off -> SCIM gets 401 at once; on -> 200.
    await page.click("text=Connectors > SCIM")
    assert await page.input_value("#tenant-url") == scim_url
    await shot(page, "03-connector")
    assert await scim_status(scim_url, t.token) == 200
    await page.click("[data-testid=toggle]")
    await page.wait_for_selector("text=now off")
    assert await page.text_content("[data-testid=connector-state]") == "off"
    assert await scim_status(scim_url, t.token) == 401
    await page.click("[data-testid=toggle]")
    await page.wait_for_selector("text=now on")
    assert await scim_status(scim_url, t.token) == 200

    # Rotate the token: the new one is shown once and works; the old one stops.
    await page.click("[data-testid=rotate]")
    new_token = (await page.text_content("[data-testid=new-token]") or "").strip()
    assert new_token.startswith("shs_") and new_token != t.token
    await shot(page, "04-token-rotated")
    assert await scim_status(scim_url, new_token) == 200
    assert await scim_status(scim_url, t.token) == 401
    await page.click("text=Connectors > SCIM")
    assert await page.locator("[data-testid=new-token]").count() == 0  # never shown again
    assert new_token not in await page.content()

    # Cause a 409 through SCIM, then find it in the activity log.
    async with httpx.AsyncClient(base_url=scim_url, headers={"Authorization": f"Bearer {new_token}"}, timeout=10) as c:
        body = entra_user()
        assert (await c.post("/Users", json=body)).status_code == 201
        assert (await c.post("/Users", json=body)).status_code == 409
    await wait_for_log(admin, t.tenant.schema, "status = 409")
    await page.click("text=Provisioning activity")
    await page.select_option("select[name=outcome]", "conflict")
    await page.click("button:has-text('Filter')")
    await page.wait_for_url("**outcome=conflict**")
    rows = page.locator("[data-testid=activity] tbody tr")
    assert await rows.count() == 1
    assert "409" in (await rows.first.text_content() or "")
    await shot(page, "05-activity-conflicts")

    # The detail view: request as received, error detail.
    await rows.first.locator("a").click()
    await page.wait_for_selector("[data-testid=error-detail]")
    assert "already used" in (await page.text_content("[data-testid=error-detail]") or "")
    assert body["userName"] in (await page.text_content("[data-testid=request-body]") or "")
    await shot(page, "06-activity-detail")

    # CSV export of the current filter.
    await page.go_back()
    async with page.expect_download() as download_info:
        await page.click("[data-testid=csv]")
    download = await download_info.value
    path = tmp_path / "activity.csv"
    await download.save_as(str(path))
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [r["status"] for r in table] == ["409"] and table[0]["target"] == body["userName"]

    # Notifications and administrators pages.
    await page.click("text=Notifications")
    await page.fill("#recipients", "ops@acme.test\nsecurity@acme.test")
    await page.click("button:has-text('Save')")
    await page.wait_for_selector("text=Notification settings saved")
    await shot(page, "07-notifications")
    await page.click("text=Administrators")
    await shot(page, "08-admins")
    await page.click("text=Overview")
    assert await page.text_content("[data-testid=users]") == "1"
    await shot(page, "09-overview")
    await page.click("text=Sign out")
    await page.wait_for_url(f"{base}/hub/{t.slug}/login")
    await context.close()
