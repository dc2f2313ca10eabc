"""Webhooks (#14): the tenant's endpoints, each with its latest deliveries (attempt, status, latency, next
retry); add, remove, rotate the signing secret (shown once), enable again, redeliver one event."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from scimhub.admins import trail
from scimhub.admins.vocabulary import AdminAction
from scimhub.events import webhooks
from scimhub.events.targets import UnsafeTarget
from scimhub.events.vocabulary import EVENT_TYPES, PatternRejected
from scimhub.http.hub.rendering import HubError, sentence
from scimhub.http.hub.session import HubPage
from scimhub.tenancy.transaction import tenant_transaction

_DELIVERIES_SHOWN = 20


async def _webhooks(page: HubPage, status: int = 200, **more: Any) -> Response[str]:
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        endpoints = await webhooks.list_endpoints(conn)
        deliveries = {e.id: await webhooks.list_deliveries(conn, e.id, limit=_DELIVERIES_SHOWN) for e in endpoints}
    return page.render(
        "webhooks.html", status=status, endpoints=endpoints, deliveries=deliveries, event_types=EVENT_TYPES, **more
    )


async def _trail(page: HubPage, action: AdminAction, summary: str) -> None:
    async with page.services.db.pool.acquire() as conn:
        await trail.record(conn, page.tenant.id, page.actor, action, summary[:300])


def _endpoint_id(raw: str) -> uuid.UUID:
    try:
        return webhooks.parse_endpoint_id(raw)
    except webhooks.WebhookError as exc:
        raise HubError(404, "No such endpoint", sentence(exc)) from None


@get("/{slug:str}/webhooks", include_in_schema=False)
async def webhooks_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _webhooks(page)


@post("/{slug:str}/webhooks", include_in_schema=False)
async def webhooks_add(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    url = form.get("url", "").strip()
    settings = page.services.settings
    try:
        async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
            made = await webhooks.add_endpoint(
                conn,
                url,
                form.get("events", ""),
                secret_key=settings.secret_key,
                allow_private=settings.webhook_allow_private,
            )
    except (UnsafeTarget, PatternRejected, webhooks.WebhookError) as exc:
        return await _webhooks(page, status=400, error=f"Not added: {sentence(exc)}")
    await _trail(page, AdminAction.WEBHOOK_CREATED, f"added the webhook endpoint {url}")
    return await _webhooks(
        page, new_secret=made.secret, flash="Endpoint added. Copy its signing secret now: it is shown only once."
    )


@post("/{slug:str}/webhooks/{endpoint:str}/remove", include_in_schema=False)
async def webhooks_remove(page: NamedDependency[HubPage], endpoint: FromPath[str]) -> Response[str]:
    try:
        async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
            gone = await webhooks.remove_endpoint(conn, _endpoint_id(endpoint))
    except webhooks.WebhookError as exc:
        raise HubError(404, "No such endpoint", sentence(exc)) from None
    await _trail(page, AdminAction.WEBHOOK_REMOVED, f"removed the webhook endpoint {gone.url}")
    return await _webhooks(page, flash="Endpoint removed.")


@post("/{slug:str}/webhooks/{endpoint:str}/rotate", include_in_schema=False)
async def webhooks_rotate(page: NamedDependency[HubPage], endpoint: FromPath[str]) -> Response[str]:
    try:
        async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
            made = await webhooks.rotate_secret(
                conn, _endpoint_id(endpoint), secret_key=page.services.settings.secret_key
            )
    except webhooks.WebhookError as exc:
        raise HubError(404, "No such endpoint", sentence(exc)) from None
    await _trail(page, AdminAction.WEBHOOK_CHANGED, f"rotated the signing secret of {made.endpoint.url}")
    return await _webhooks(page, new_secret=made.secret, flash="New signing secret: the old one no longer signs.")


@post("/{slug:str}/webhooks/{endpoint:str}/enable", include_in_schema=False)
async def webhooks_enable(page: NamedDependency[HubPage], endpoint: FromPath[str]) -> Response[str]:
    try:
        async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
            on = await webhooks.enable_endpoint(conn, _endpoint_id(endpoint))
    except webhooks.WebhookError as exc:
        raise HubError(404, "No such endpoint", sentence(exc)) from None
    await _trail(page, AdminAction.WEBHOOK_CHANGED, f"enabled the webhook endpoint {on.url}")
    await page.services.nudge_webhooks(page.tenant.id)
    return await _webhooks(page, flash="Endpoint enabled: it resumes where it stopped.")


@post("/{slug:str}/webhooks/{endpoint:str}/redeliver", include_in_schema=False)
async def webhooks_redeliver(
    page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]], endpoint: FromPath[str]
) -> Response[str]:
    position = form.get("position", "")
    if not position.isdigit() or len(position) > 18:
        return await _webhooks(page, status=400, error="Not queued: the event's position is a whole number.")
    try:
        async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
            await webhooks.request_redelivery(conn, _endpoint_id(endpoint), int(position))
    except webhooks.EndpointNotFound as exc:
        raise HubError(404, "No such endpoint", sentence(exc)) from None
    except webhooks.WebhookError as exc:
        return await _webhooks(page, status=400, error=f"Not queued: {sentence(exc)}")
    await page.services.nudge_webhooks(page.tenant.id)
    return await _webhooks(page, flash=f"Event {position} is queued for redelivery.")


ROUTES = [webhooks_page, webhooks_add, webhooks_remove, webhooks_rotate, webhooks_enable, webhooks_redeliver]
