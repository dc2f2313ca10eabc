"""The admin JSON API: the hub's data for automation, documented in the OpenAPI schema (/schema).

Authenticated by an admin API key (`Authorization: Bearer sha_...`) or by the hub session cookie; with the
cookie, writes also need the session's CSRF token in `X-CSRF-Token`. The tenant always comes from the key or
session: an entry of another tenant is simply not found (404).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post, put
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, ValidationException
from litestar.params import FromPath, Parameter

from scimhub import admins
from scimhub.audit.queries import get_entry, list_activity
from scimhub.http.hub import COOKIE, HubError, activity_filter, encode_cursor, parse_recipients, tenant_value
from scimhub.http.services import Services
from scimhub.notify import service as notify_service
from scimhub.tenancy import tenants
from scimhub.tenancy.transaction import tenant_transaction


class ActivityItem(msgspec.Struct):
    event_id: uuid.UUID
    received_at: dt.datetime
    duration_ms: float | None
    request_id: str | None
    method: str
    path: str
    operation: str
    resource_type: str | None
    resource_id: str | None
    target: str | None
    status: int
    outcome: str
    error_type: str | None
    error_detail: str | None
    changed: list[str]
    rewrites: list[str]
    repeat: int
    client_ip: str | None = None
    user_agent: str | None = None
    request_body: str | None = None
    response_body: str | None = None


class ActivityPage(msgspec.Struct):
    items: list[ActivityItem]
    next_cursor: str | None


class TokenInfo(msgspec.Struct):
    hint: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None


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


class Notifications(msgspec.Struct):
    recipients: list[str]
    enabled: bool
    digest_window_minutes: int


class Accepted(msgspec.Struct):
    status: str


async def principal_of(request: Request[Any, Any, State], *, write: bool) -> tuple[Services, admins.Principal, Any]:
    services: Services = request.app.state.services
    auth = request.headers.get("authorization", "")
    async with services.db.pool.acquire() as conn:
        if auth.lower().startswith("bearer "):
            p = await admins.api_key_principal(conn, auth[7:].strip())
        else:
            token = request.cookies.get(COOKIE)
            p = await admins.session_principal(conn, token) if token else None
            if p is not None and write:
                given = request.headers.get("x-csrf-token", "")
                if not hmac.compare_digest(given.encode(), (p.csrf_token or "").encode()):
                    raise HTTPException(status_code=403, detail="missing or wrong X-CSRF-Token")
        if p is None:
            raise NotAuthorizedException(detail="send an admin API key as 'Authorization: Bearer <key>' or sign in")
        row = await conn.fetchrow("SELECT * FROM public.tenant WHERE id = $1", p.tenant_id)
    return services, p, row


def _bad(exc: HubError) -> ValidationException:
    return ValidationException(detail=exc.message)


@get("/activity", summary="List activity entries, newest first (keyset paged)")
async def api_activity(
    request: Request[Any, Any, State],
    since: str | None = None,
    until: str | None = None,
    outcome: str | None = None,
    operation: str | None = None,
    resource_type: Annotated[str | None, Parameter(query="type")] = None,
    q: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
) -> ActivityPage:
    services, _, row = await principal_of(request, write=False)
    try:
        f, after = activity_filter(
            {
                "since": since,
                "until": until,
                "outcome": outcome,
                "operation": operation,
                "type": resource_type,
                "q": q,
                "cursor": cursor,
            }
        )
    except HubError as exc:
        raise _bad(exc) from None
    async with tenant_transaction(services.db.pool, tenant_value(services, row)) as conn:
        items, nxt = await list_activity(conn, f, limit=limit, after=after)
    return ActivityPage([msgspec.convert(i, ActivityItem) for i in items], encode_cursor(nxt))


@get("/activity/{event_id:uuid}", summary="One activity entry with the request and response kept")
async def api_activity_entry(request: Request[Any, Any, State], event_id: FromPath[uuid.UUID]) -> ActivityItem:
    services, _, row = await principal_of(request, write=False)
    async with tenant_transaction(services.db.pool, tenant_value(services, row)) as conn:
        entry = await get_entry(conn, event_id)
    if entry is None:
        raise NotFoundException(detail="no such activity entry")
    return msgspec.convert(entry, ActivityItem)


async def _connector(services: Services, tenant_id: int, slug: str) -> Connector:
    async with services.db.pool.acquire() as conn:
        rows = await tenants.usable_tokens(conn, tenant_id)
        status = await conn.fetchval("SELECT status FROM public.tenant WHERE id = $1", tenant_id)
    return Connector(
        status == "active",
        tenants.scim_url(services.settings.public_url, slug),
        [msgspec.convert(r, TokenInfo) for r in rows],
    )


@get("/connector", summary="The SCIM connector: switch, Tenant URL, token hints")
async def api_connector(request: Request[Any, Any, State]) -> Connector:
    services, _, row = await principal_of(request, write=False)
    return await _connector(services, row["id"], row["slug"])


@put("/connector", summary="Switch the SCIM connector on or off")
async def api_connector_update(request: Request[Any, Any, State], data: ConnectorUpdate) -> Connector:
    services, _, row = await principal_of(request, write=True)
    async with services.db.pool.acquire() as conn:
        await tenants.set_status(conn, row["slug"], "active" if data.active else "disabled")
    services.resolver.forget_all()
    return await _connector(services, row["id"], row["slug"])


@post("/connector/token", summary="Generate a new Secret Token (shown only in this response)", status_code=201)
async def api_token_rotate(request: Request[Any, Any, State], data: TokenRotation) -> NewToken:
    services, _, row = await principal_of(request, write=True)
    if not 0 <= data.keep_old_for_minutes <= 10080:
        raise ValidationException(detail="keep_old_for_minutes must be between 0 and 10080")
    async with services.db.pool.acquire() as conn:
        issued = await tenants.rotate_token(
            conn,
            row["slug"],
            public_url=services.settings.public_url,
            keep_old_for=dt.timedelta(minutes=data.keep_old_for_minutes),
        )
    services.resolver.forget_all()
    return NewToken(issued.scim_url, issued.token)


@delete("/connector/token", summary="Revoke every Secret Token", status_code=200)
async def api_token_revoke(request: Request[Any, Any, State]) -> Accepted:
    services, _, row = await principal_of(request, write=True)
    async with services.db.pool.acquire() as conn:
        await tenants.revoke_tokens(conn, row["slug"])
    services.resolver.forget_all()
    return Accepted("revoked")


@get("/notifications", summary="Failure notification settings")
async def api_notifications(request: Request[Any, Any, State]) -> Notifications:
    _, _, row = await principal_of(request, write=False)
    return Notifications(list(row["notify_emails"]), row["notify_enabled"], row["digest_window_minutes"])


@put("/notifications", summary="Change failure notification settings")
async def api_notifications_update(request: Request[Any, Any, State], data: Notifications) -> Notifications:
    services, _, row = await principal_of(request, write=True)
    try:
        emails = parse_recipients("\n".join(data.recipients))
    except admins.AdminError as exc:
        raise ValidationException(detail=str(exc)) from None
    if not 1 <= data.digest_window_minutes <= 10080:
        raise ValidationException(detail="digest_window_minutes must be between 1 and 10080")
    async with services.db.pool.acquire() as conn:
        await tenants.set_notifications(
            conn, row["slug"], emails=emails, enabled=data.enabled, window_minutes=data.digest_window_minutes
        )
    return Notifications(emails, data.enabled, data.digest_window_minutes)


@post("/notifications/test", summary="Send a test email to the recipients", status_code=202)
async def api_notifications_test(request: Request[Any, Any, State]) -> Accepted:
    services, _, row = await principal_of(request, write=True)
    digest_id = await notify_service.create_test_digest(services.db.pool, tenant_value(services, row))
    await asyncio.to_thread(services.publish, "email.send_digest", [row["id"], str(digest_id)], "email")
    return Accepted("queued")


def _json_error(request: Request[Any, Any, State], exc: HTTPException) -> Response[Any]:
    return Response({"status": exc.status_code, "detail": exc.detail}, status_code=exc.status_code)


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
        exception_handlers={HTTPException: _json_error},
        tags=["admin"],
    )
