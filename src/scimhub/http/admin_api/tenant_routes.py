"""Admin API routes for the tenant's provisioning: the activity log, the connector, the Secret Token and the
failure notification settings. Each declares the scope a key needs (`opt={"scope": ...}`); changes go through
`admins.actions`, so each is in the admin trail."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec
from litestar import delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from scimhub import tasks
from scimhub.admins import Actor, actions
from scimhub.audit.activity_filter import encode_cursor
from scimhub.audit.queries import ActivityEntry, get_entry, list_activity
from scimhub.http.activity_params import ActivityQuery
from scimhub.http.services import Services
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.tenants import NotificationSettings, TokenInfo
from scimhub.tenancy.transaction import tenant_transaction


class ActivityPage(msgspec.Struct):
    items: list[ActivityEntry]
    next_cursor: str | None


class Connector(msgspec.Struct):
    active: bool
    tenant_url: str
    tokens: list[TokenInfo]


class ConnectorUpdate(msgspec.Struct):
    active: bool


class TokenRotation(msgspec.Struct):
    keep_old_for_minutes: int = 0


class NewToken(msgspec.Struct):
    tenant_url: str
    token: str


class Accepted(msgspec.Struct):
    status: str


@get("/activity", summary="List activity entries, newest first (keyset paged)", opt={"scope": "activity:read"})
async def api_activity(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    activity: NamedDependency[ActivityQuery],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> ActivityPage:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        items, nxt = await list_activity(conn, activity.filter, limit=limit, after=activity.after)
    return ActivityPage(items, encode_cursor(nxt))


@get(
    "/activity/{event_id:uuid}",
    summary="One activity entry with the request and response kept",
    opt={"scope": "activity:read"},
)
async def api_activity_entry(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services], event_id: FromPath[uuid.UUID]
) -> ActivityEntry:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        entry = await get_entry(conn, event_id)
    if entry is None:
        raise NotFoundException(detail="no such activity entry")
    return entry


async def _connector(services: Services, tenant: Tenant, active: bool) -> Connector:
    async with services.db.pool.acquire() as conn:
        tokens = await tenants.usable_tokens(conn, tenant.id)
    return Connector(active, tenants.scim_url(services.settings.public_url, tenant.slug), tokens)


@get("/connector", summary="The SCIM connector: switch, Tenant URL, token hints", opt={"scope": "connector:read"})
async def api_connector(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> Connector:
    return await _connector(services, tenant, tenant.active)


@put("/connector", summary="Switch the SCIM connector on or off", opt={"scope": "connector:write"})
async def api_connector_update(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[ConnectorUpdate],
) -> Connector:
    async with services.db.pool.acquire() as conn:
        await actions.switch_connector(conn, tenant, actor, active=data.active)
    services.resolver.forget_all()
    return await _connector(services, tenant, data.active)


@post(
    "/connector/token",
    summary="Generate a new Secret Token (shown only in this response)",
    status_code=201,
    opt={"scope": "tokens:write"},
)
async def api_token_rotate(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[TokenRotation],
) -> NewToken:
    minutes = rules.check_token_overlap(data.keep_old_for_minutes)
    async with services.db.pool.acquire() as conn:
        issued = await actions.rotate_token(
            conn,
            tenant,
            actor,
            public_url=services.settings.public_url,
            keep_old_for=dt.timedelta(minutes=minutes),
        )
    services.resolver.forget_all()
    return NewToken(issued.scim_url, issued.token)


@delete("/connector/token", summary="Revoke every Secret Token", status_code=200, opt={"scope": "tokens:write"})
async def api_token_revoke(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services], actor: NamedDependency[Actor]
) -> Accepted:
    async with services.db.pool.acquire() as conn:
        await actions.revoke_tokens(conn, tenant, actor)
    services.resolver.forget_all()
    return Accepted("revoked")


@get("/notifications", summary="Failure notification settings", opt={"scope": "notifications:read"})
async def api_notifications(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services]
) -> NotificationSettings:
    async with services.db.pool.acquire() as conn:
        return await tenants.notification_settings(conn, tenant.id)


@put("/notifications", summary="Change failure notification settings", opt={"scope": "notifications:write"})
async def api_notifications_update(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[NotificationSettings],
) -> NotificationSettings:
    emails = rules.check_recipients(data.recipients)
    async with services.db.pool.acquire() as conn:
        return await actions.change_notifications(
            conn, tenant, actor, emails=emails, enabled=data.enabled, window_minutes=data.digest_window_minutes
        )


@post(
    "/notifications/test",
    summary="Send a test email to the recipients",
    status_code=202,
    opt={"scope": "notifications:write"},
)
async def api_notifications_test(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> Accepted:
    """202 once the mail is queued; 503 when the mail queue cannot take it now (see `Services.send_test_mail`)."""
    try:
        await services.send_test_mail(tenant)
    except tasks.QueueUnavailable:
        raise ServiceUnavailableException("the mail queue is unavailable right now; try again shortly") from None
    return Accepted("queued")


ROUTES: list[HTTPRouteHandler] = [
    api_activity,
    api_activity_entry,
    api_connector,
    api_connector_update,
    api_token_rotate,
    api_token_revoke,
    api_notifications,
    api_notifications_update,
    api_notifications_test,
]
