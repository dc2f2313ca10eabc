"""The admin JSON API (`/admin/api`): the hub's data for automation, documented in the OpenAPI schema (/schema).

Authenticated by an admin API key (`Authorization: Bearer sha_...`) or by the hub session cookie; with the
cookie, every unsafe method also needs the session's CSRF token in `X-CSRF-Token`. The tenant always comes
from the key or session: an entry of another tenant is simply not found (404). Checked once per request
before any handler, in this order: `AdminApiAuth` (who), `csrf_header`, `scope_allowed` (a key may call a
route only with the scope the route declares in `opt["scope"]`; else 403 naming the missing scope). Every
route must declare one of `admins.scopes.SCOPES` (checked when the router is built). Handlers get the tenant
and the trail's actor as dependencies.

| module | routes |
|---|---|
| `tenant_routes` | activity log, connector, Secret Token, notification settings |
| `schema` | custom attributes (issue #12): list, declare, remove, delete values, mode |
| `people` | administrators, API keys, sessions |
| `trail` | the admin audit trail |
| `events` | the change feed, webhook endpoints and their deliveries (#14) |
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult

from scimhub.admins import AdminError, NotFound, SignedIn, csrf_matches, find_api_key
from scimhub.admins.scopes import SCOPES
from scimhub.audit.activity_filter import FilterRejected
from scimhub.events.feed import CursorExpired, CursorRejected
from scimhub.events.targets import UnsafeTarget
from scimhub.events.vocabulary import PatternRejected
from scimhub.events.webhooks import EndpointNotFound, WebhookError
from scimhub.http.activity_params import provide_activity_query
from scimhub.http.admin_access import (
    UNSAFE_METHODS,
    nudge_notices,
    provide_actor,
    provide_services,
    services_of,
    signed_in_by_cookie,
)
from scimhub.http.admin_api import events, people, schema, tenant_routes, trail
from scimhub.http.wire import check_admin_request_text
from scimhub.scim.errors import InvalidValue
from scimhub.tenancy import rules
from scimhub.tenancy.model import Tenant

BY_KEY, BY_SESSION = "api-key", "session"  # request.auth: how the caller signed in
SCOPE = "scope"  # route `opt` key: the scope a key needs for the route


class MissingScope(PermissionDeniedException):
    def __init__(self, scope: str) -> None:
        super().__init__(detail=f"this API key lacks the scope {scope!r} that this request needs")
        self.scope = scope


class AdminApiAuth(AbstractAuthenticationMiddleware):
    """An admin API key, else the hub's session cookie; neither: 401."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        auth = connection.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            services = services_of(connection)
            async with services.db.pool.acquire() as conn:
                by_key = await find_api_key(conn, services.db.install_id, auth[7:].strip())
            if by_key is not None:
                return AuthenticationResult(user=by_key, auth=BY_KEY)
        else:
            by_session = await signed_in_by_cookie(connection)
            if by_session is not None:
                return AuthenticationResult(user=by_session, auth=BY_SESSION)
        raise NotAuthorizedException(detail="send an admin API key as 'Authorization: Bearer <key>' or sign in")


def csrf_header(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A cookie-authenticated unsafe method needs the session's CSRF token (a key is not sent by browsers)."""
    assert isinstance(connection, Request)  # noqa: S101 - the guards of HTTP handlers get the request
    if connection.method not in UNSAFE_METHODS or connection.auth != BY_SESSION:
        return
    signed_in: SignedIn = connection.user
    if not csrf_matches(signed_in.principal, connection.headers.get("x-csrf-token", "")):
        raise PermissionDeniedException(detail="missing or wrong X-CSRF-Token")


def scope_allowed(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """A key needs the route's scope; a session (an administrator) may do everything in its tenant."""
    if connection.scope.get("method") == "OPTIONS" or connection.auth != BY_KEY:
        return
    signed_in: SignedIn = connection.user
    needed = str(handler.opt[SCOPE])
    if signed_in.principal.scopes is None or needed not in signed_in.principal.scopes:
        raise MissingScope(needed)


def _tenant(request: Request[SignedIn, str, State]) -> Tenant:
    return request.user.tenant


def _json_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"status": exc.status_code, "detail": exc.detail}
    if isinstance(exc, MissingScope):
        body["missing_scope"] = exc.scope
    # The exception's headers go along (a 429's Retry-After, a 401's WWW-Authenticate).
    return Response(body, status_code=exc.status_code, headers=exc.headers or None)


def _bad_request(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A value the rules refuse (`FilterRejected`, `SettingRejected`, `AdminError`, text the database cannot
    store: `InvalidValue`): 400 with the rule's words; something the tenant does not have (`NotFound`): 404."""
    status = 404 if isinstance(exc, NotFound) else 410 if isinstance(exc, CursorExpired) else 400
    if isinstance(exc, EndpointNotFound):
        status = 404
    return Response({"status": status, "detail": str(exc)}, status_code=status)


ROUTES: list[HTTPRouteHandler] = [*tenant_routes.ROUTES, *people.ROUTES, *trail.ROUTES, *schema.ROUTES, *events.ROUTES]


def admin_api_router() -> Router:
    for route in ROUTES:
        if route.opt.get(SCOPE) not in SCOPES:
            raise RuntimeError(f"admin API route {route.paths} declares no known scope in opt['scope']")
    return Router(
        path="/admin/api",
        route_handlers=ROUTES,
        middleware=[AdminApiAuth],
        guards=[csrf_header, scope_allowed],
        # Client text is checked once, before any handler (http/wire.py): what PostgreSQL cannot store is 400.
        before_request=check_admin_request_text,
        dependencies={
            "services": provide_services,
            "tenant": Provide(_tenant, sync_to_thread=False),
            "actor": provide_actor,
            "activity": provide_activity_query,
        },
        exception_handlers={
            HTTPException: _json_error,
            FilterRejected: _bad_request,
            rules.SettingRejected: _bad_request,
            AdminError: _bad_request,
            InvalidValue: _bad_request,
            CursorRejected: _bad_request,  # CursorExpired (its subclass): 410
            WebhookError: _bad_request,
            UnsafeTarget: _bad_request,
            PatternRejected: _bad_request,
        },
        after_response=nudge_notices,
        tags=["admin"],
    )


__all__ = ["BY_KEY", "BY_SESSION", "AdminApiAuth", "admin_api_router", "csrf_header", "scope_allowed"]
