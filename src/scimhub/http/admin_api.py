"""The admin JSON API: the hub's data for automation, documented in the OpenAPI schema (/schema).

Authenticated by an admin API key (`Authorization: Bearer sha_...`) or by the hub session cookie; with the
cookie, every unsafe method also needs the session's CSRF token in `X-CSRF-Token`. The tenant always comes
from the key or session: an entry of another tenant is simply not found (404). Both checks run once per
request (`AdminApiAuth`, `csrf_header`) before any handler; handlers get the tenant as a dependency.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
)
from litestar.handlers import BaseRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import FromPath, JSONBody, QueryParameter

from scimhub import tasks
from scimhub.admins import SignedIn, csrf_matches, find_api_key
from scimhub.audit.activity_filter import FilterRejected, encode_cursor
from scimhub.audit.queries import ActivityEntry, get_entry, list_activity
from scimhub.http.activity_params import ActivityQuery, provide_activity_query
from scimhub.http.admin_access import UNSAFE_METHODS, provide_services, services_of, signed_in_by_cookie
from scimhub.http.services import Services
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.tenants import NotificationSettings, TokenInfo
from scimhub.tenancy.transaction import tenant_transaction

_BY_KEY, _BY_SESSION = "api-key", "session"  # request.auth: how the caller signed in


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


class AdminApiAuth(AbstractAuthenticationMiddleware):
    """An admin API key, else the hub's session cookie; neither: 401."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        auth = connection.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            services = services_of(connection)
            async with services.db.pool.acquire() as conn:
                by_key = await find_api_key(conn, services.db.install_id, auth[7:].strip())
            if by_key is not None:
                return AuthenticationResult(user=by_key, auth=_BY_KEY)
        else:
            by_session = await signed_in_by_cookie(connection)
            if by_session is not None:
                return AuthenticationResult(user=by_session, auth=_BY_SESSION)
        raise NotAuthorizedException(detail="send an admin API key as 'Authorization: Bearer <key>' or sign in")


def csrf_header(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A cookie-authenticated unsafe method needs the session's CSRF token (a key is not sent by browsers)."""
    assert isinstance(connection, Request)  # noqa: S101 - the guards of HTTP handlers get the request
    if connection.method not in UNSAFE_METHODS or connection.auth != _BY_SESSION:
        return
    signed_in: SignedIn = connection.user
    if not csrf_matches(signed_in.principal, connection.headers.get("x-csrf-token", "")):
        raise PermissionDeniedException(detail="missing or wrong X-CSRF-Token")


def _tenant(request: Request[SignedIn, str, State]) -> Tenant:
    return request.user.tenant


@get("/activity", summary="List activity entries, newest first (keyset paged)")
async def api_activity(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    activity: NamedDependency[ActivityQuery],
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> ActivityPage:
    async with tenant_transaction(services.db.pool, tenant) as conn:
        items, nxt = await list_activity(conn, activity.filter, limit=limit, after=activity.after)
    return ActivityPage(items, encode_cursor(nxt))


@get("/activity/{event_id:uuid}", summary="One activity entry with the request and response kept")
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


@get("/connector", summary="The SCIM connector: switch, Tenant URL, token hints")
async def api_connector(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> Connector:
    return await _connector(services, tenant, tenant.active)


@put("/connector", summary="Switch the SCIM connector on or off")
async def api_connector_update(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services], data: JSONBody[ConnectorUpdate]
) -> Connector:
    async with services.db.pool.acquire() as conn:
        await tenants.set_status(conn, tenant.slug, "active" if data.active else "disabled")
    services.resolver.forget_all()
    return await _connector(services, tenant, data.active)


@post("/connector/token", summary="Generate a new Secret Token (shown only in this response)", status_code=201)
async def api_token_rotate(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services], data: JSONBody[TokenRotation]
) -> NewToken:
    minutes = rules.check_token_overlap(data.keep_old_for_minutes)
    async with services.db.pool.acquire() as conn:
        issued = await tenants.rotate_token(
            conn, tenant.slug, public_url=services.settings.public_url, keep_old_for=dt.timedelta(minutes=minutes)
        )
    services.resolver.forget_all()
    return NewToken(issued.scim_url, issued.token)


@delete("/connector/token", summary="Revoke every Secret Token", status_code=200)
async def api_token_revoke(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> Accepted:
    async with services.db.pool.acquire() as conn:
        await tenants.revoke_tokens(conn, tenant.slug)
    services.resolver.forget_all()
    return Accepted("revoked")


@get("/notifications", summary="Failure notification settings")
async def api_notifications(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services]
) -> NotificationSettings:
    async with services.db.pool.acquire() as conn:
        return await tenants.notification_settings(conn, tenant.id)


@put("/notifications", summary="Change failure notification settings")
async def api_notifications_update(
    tenant: NamedDependency[Tenant], services: NamedDependency[Services], data: JSONBody[NotificationSettings]
) -> NotificationSettings:
    emails = rules.check_recipients(data.recipients)
    async with services.db.pool.acquire() as conn:
        await tenants.set_notifications(
            conn, tenant.slug, emails=emails, enabled=data.enabled, window_minutes=data.digest_window_minutes
        )
    return NotificationSettings(
        recipients=emails, enabled=data.enabled, digest_window_minutes=data.digest_window_minutes
    )


@post("/notifications/test", summary="Send a test email to the recipients", status_code=202)
async def api_notifications_test(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> Accepted:
    """202 once the mail is queued; 503 when the mail queue cannot take it now (see `Services.send_test_mail`)."""
    try:
        await services.send_test_mail(tenant)
    except tasks.QueueUnavailable:
        raise ServiceUnavailableException("the mail queue is unavailable right now; try again shortly") from None
    return Accepted("queued")


def _json_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return Response({"status": exc.status_code, "detail": exc.detail}, status_code=exc.status_code)


def _bad_request(_: Request[Any, Any, Any], exc: ValueError) -> Response[Any]:
    """A filter or setting the rules refuse (`FilterRejected`, `SettingRejected`): 400 with the rule's words."""
    return Response({"status": 400, "detail": str(exc)}, status_code=400)


def admin_api_router() -> Router:
    return Router(
        path="/admin/api",
        route_handlers=[
            api_activity,
            api_activity_entry,
            api_connector,
            api_connector_update,
            api_token_rotate,
            api_token_revoke,
            api_notifications,
            api_notifications_update,
            api_notifications_test,
        ],
        middleware=[AdminApiAuth],
        guards=[csrf_header],
        dependencies={
            "services": provide_services,
            "tenant": Provide(_tenant, sync_to_thread=False),
            "activity": provide_activity_query,
        },
        exception_handlers={
            HTTPException: _json_error,
            FilterRejected: _bad_request,
            rules.SettingRejected: _bad_request,
        },
        tags=["admin"],
    )
