"""Admin API routes of change events (#14): the tenant's feed, its webhook endpoints and their deliveries.
Reading needs `events:read`, changing `webhooks:write`; every change is in the admin trail (adding and
changing an endpoint are mailed to the administrators). A signing secret is in the answer of its creation or
rotation only."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from scimhub.admins import Actor, trail
from scimhub.admins.vocabulary import AdminAction
from scimhub.events import feed, webhooks
from scimhub.http.services import Services
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction


class NewEndpoint(msgspec.Struct):
    url: Annotated[str, msgspec.Meta(max_length=2048)]
    # event types or user.*, group.*; empty: every event
    events: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=20)] = []


class Redelivery(msgspec.Struct):
    position: Annotated[int, msgspec.Meta(ge=1, le=2**62)]


class Done(msgspec.Struct):
    status: str


async def _trail(services: Services, tenant: Tenant, actor: Actor, action: AdminAction, summary: str) -> None:
    async with services.db.pool.acquire() as conn:
        await trail.record(conn, tenant.id, actor, action, summary[:300])


@get(
    "/events",
    summary="The change feed after a cursor, oldest first (410: the cursor has expired)",
    opt={"scope": "events:read"},
)
async def api_events(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    after: Annotated[str | None, QueryParameter(max_length=40)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=feed.MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        page = await feed.read_feed(conn, tenant.slug, after, limit)
    return {"events": [feed.event_json(e) for e in page.events], "cursor": page.cursor, "has_more": page.has_more}


@get("/webhooks", summary="Webhook endpoints", opt={"scope": "events:read"})
async def api_webhooks(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> list[webhooks.Endpoint]:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        return await webhooks.list_endpoints(conn)


@post(
    "/webhooks",
    summary="Add a webhook endpoint (its signing secret is shown only here)",
    status_code=201,
    opt={"scope": "webhooks:write"},
)
async def api_webhook_add(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[NewEndpoint],
) -> webhooks.CreatedEndpoint:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        made = await webhooks.add_endpoint(
            conn,
            data.url,
            ",".join(data.events),
            secret_key=services.settings.secret_key,
            allow_private=services.settings.webhook_allow_private,
        )
    await _trail(services, tenant, actor, AdminAction.WEBHOOK_CREATED, f"added the webhook endpoint {data.url}")
    return made


@delete(
    "/webhooks/{endpoint_id:uuid}",
    summary="Remove a webhook endpoint",
    status_code=200,
    opt={"scope": "webhooks:write"},
)
async def api_webhook_remove(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    endpoint_id: FromPath[uuid.UUID],
) -> Done:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        gone = await webhooks.remove_endpoint(conn, endpoint_id)
    await _trail(services, tenant, actor, AdminAction.WEBHOOK_REMOVED, f"removed the webhook endpoint {gone.url}")
    return Done("removed")


@post(
    "/webhooks/{endpoint_id:uuid}/rotate-secret",
    summary="A new signing secret (shown only here; the old one stops at once)",
    status_code=201,
    opt={"scope": "webhooks:write"},
)
async def api_webhook_rotate(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    endpoint_id: FromPath[uuid.UUID],
) -> webhooks.CreatedEndpoint:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        made = await webhooks.rotate_secret(conn, endpoint_id, secret_key=services.settings.secret_key)
    summary = f"rotated the signing secret of {made.endpoint.url}"
    await _trail(services, tenant, actor, AdminAction.WEBHOOK_CHANGED, summary)
    return made


@post(
    "/webhooks/{endpoint_id:uuid}/enable",
    summary="Enable a disabled endpoint again",
    status_code=200,
    opt={"scope": "webhooks:write"},
)
async def api_webhook_enable(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    endpoint_id: FromPath[uuid.UUID],
) -> webhooks.Endpoint:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        endpoint = await webhooks.enable_endpoint(conn, endpoint_id)
    await _trail(services, tenant, actor, AdminAction.WEBHOOK_CHANGED, f"enabled the webhook endpoint {endpoint.url}")
    await services.nudge_webhooks(tenant.id)
    return endpoint


@get(
    "/webhooks/{endpoint_id:uuid}/deliveries",
    summary="An endpoint's latest delivery attempts",
    opt={"scope": "events:read"},
)
async def api_webhook_deliveries(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    endpoint_id: FromPath[uuid.UUID],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 50,
) -> list[webhooks.Delivery]:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        await webhooks.get_endpoint(conn, endpoint_id)
        return await webhooks.list_deliveries(conn, endpoint_id, limit=limit)


@post(
    "/webhooks/{endpoint_id:uuid}/redeliver",
    summary="Send one event to the endpoint again (queued; the next delivery run sends it)",
    status_code=202,
    opt={"scope": "webhooks:write"},
)
async def api_webhook_redeliver(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    endpoint_id: FromPath[uuid.UUID],
    data: JSONBody[Redelivery],
) -> Done:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        await webhooks.request_redelivery(conn, endpoint_id, data.position)
    await services.nudge_webhooks(tenant.id)
    return Done("queued")


ROUTES: list[HTTPRouteHandler] = [
    api_events,
    api_webhooks,
    api_webhook_add,
    api_webhook_remove,
    api_webhook_rotate,
    api_webhook_enable,
    api_webhook_deliveries,
    api_webhook_redeliver,
]
