"""Notifications: who is mailed about provisioning failures, how often at most, and a test mail."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency

from scimhub import tasks
from scimhub.admins import actions
from scimhub.http.hub.session import HubPage
from scimhub.http.services import TooManyTestMails
from scimhub.notify import service as notify_service
from scimhub.tenancy import rules, tenants

_RECENT_MAILS = 10


async def _notifications(page: HubPage, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        settings = await tenants.notification_settings(conn, page.tenant.id)
    deliveries = await notify_service.recent_deliveries(page.services.db.pool, page.tenant, limit=_RECENT_MAILS)
    return page.render("notifications.html", status=status, settings=settings, deliveries=deliveries, **more)


@get("/{slug:str}/notifications", include_in_schema=False)
async def notifications_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _notifications(page)


@post("/{slug:str}/notifications", include_in_schema=False)
async def notifications_save(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    try:
        emails = rules.parse_recipients(form.get("recipients", ""))
        window = rules.parse_minutes(form.get("window", "60"), "the digest window")
        async with page.services.db.pool.acquire() as conn:
            await actions.change_notifications(
                conn, page.tenant, page.actor, emails=emails, enabled=form.get("enabled") == "on", window_minutes=window
            )
    except rules.SettingRejected as exc:
        return await _notifications(page, status=400, error=f"Not saved: {exc}.")
    return await _notifications(page, flash="Notification settings saved.")


@post("/{slug:str}/notifications/test", include_in_schema=False)
async def notifications_test(page: NamedDependency[HubPage]) -> Response[str]:
    try:
        await page.services.send_test_mail(page.tenant)
    except tasks.QueueUnavailable:
        return await _notifications(
            page, status=503, error="The mail queue is unavailable right now; try again shortly."
        )
    except TooManyTestMails as exc:  # the page with the limit's sentence, not a raw JSON 429
        response = await _notifications(page, status=429, error=str(exc.detail))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return await _notifications(page, flash="A test message is on its way to the recipients.")
