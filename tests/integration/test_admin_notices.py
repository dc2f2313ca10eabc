"""Security notices: a security-relevant admin action is mailed to every administrator of the tenant, by the
`email.*admin_notice*` tasks (real Celery worker, real SMTP) and by `notify.admin_notice` called directly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from scimhub import admins
from scimhub.admins import notices
from scimhub.app import create_app
from scimhub.http.services import Services
from scimhub.notify.admin_notice import deliver_notice
from scimhub.notify.delivery import DeliveryOutcome
from tests.support.processes import Stack
from tests.support.settings import make_settings
from tests.support.smtp import SmtpServer
from tests.support.tenants import create_tenant
from tests.support.waiting import wait_until


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


async def test_a_rotated_token_is_mailed_to_every_administrator_once(
    services: Services, admin: asyncpg.Connection, database: str, smtp: SmtpServer
) -> None:
    t = await create_tenant(database)
    people = [f"{n}-{uuid.uuid4().hex[:6]}@acme.test" for n in ("ann", "bob")]
    for email in people:
        await admins.create_admin(admin, t.tenant.id, email, "correct horse battery staple")
    key = await admins.create_api_key(admin, t.tenant.id, "rotator", ["tokens:write"])
    app_settings = make_settings(smtp_url=smtp.url)
    transport = httpx.ASGITransport(app=create_app(app_settings, services=services))  # type: ignore[arg-type]  # Litestar's ASGI types are narrower
    async with httpx.AsyncClient(transport=transport, base_url="http://scim.test") as c:
        r = await c.post("/admin/api/connector/token", json={}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201
    new_token = r.json()["token"]
    trail_id = await admin.fetchval(
        "SELECT id FROM public.admin_trail WHERE tenant_id = $1 AND action = 'token.rotated'", t.tenant.id
    )
    assert await deliver_notice(services.db, app_settings, trail_id, final_attempt=False) == DeliveryOutcome.SENT
    assert await deliver_notice(services.db, app_settings, trail_id, final_attempt=False) == DeliveryOutcome.SENT
    for email in people:
        (mail,) = smtp.inbox.to(email)  # exactly once, though delivered twice
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None
        text = body.get_content()
        assert "Token generated" in mail["Subject"] and "API key rotator" in mail["Subject"]
        assert "API key rotator" in text and "127.0.0.1" in text and f"/hub/{t.slug}/audit" in text
        assert new_token not in text and key not in text and t.token not in text
    assert await admin.fetchval("SELECT notice FROM public.admin_trail WHERE id = $1", trail_id) == "sent"
    async with services.db.pool.acquire() as conn:
        assert await notices.delivered(conn, trail_id) == dict.fromkeys(people, "sent")


@pytest.mark.slow
async def test_the_worker_mails_a_switched_off_connector_after_the_web_nudge(
    admin: asyncpg.Connection, database: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    stack = Stack(database, tmp_path, {"SCIMHUB_SMTP_URL": smtp.url})
    stack.redis.start()
    stack.start_web()
    stack.start_worker()  # no beat: the mail can only come from the web process's nudge
    try:
        assert stack.web is not None
        t = await create_tenant(database)
        email = f"owner-{uuid.uuid4().hex[:6]}@acme.test"
        await admins.create_admin(admin, t.tenant.id, email, "correct horse battery staple")
        key = await admins.create_api_key(admin, t.tenant.id, "ops", ["connector:write"])
        async with httpx.AsyncClient(base_url=stack.web.url, timeout=10) as c:
            r = await c.put("/admin/api/connector", json={"active": False}, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200

        async def mails() -> list[str]:
            return [m["Subject"] for m in smtp.inbox.to(email)]

        subjects = await wait_until(
            mails, lambda s: any("Connector switched" in x for x in s), "the connector notice in the inbox"
        )
        assert any("by API key ops" in s for s in subjects)
    finally:
        stack.stop()
