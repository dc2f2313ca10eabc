"""Who calls the admin surfaces (the hub's pages and the admin JSON API), read once per request.

Both surfaces accept the hub's session cookie; the admin API also takes an API key. What is read here is
put into the request by each surface's authentication middleware (`request.user`: a `SignedIn`), checked by
its guards, and handed to the handlers by Litestar dependencies. The tenant always comes from the session or
key, never from the URL or the body.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie, State
from litestar.di import Provide

from scimhub.admins import SESSION_HOURS, Actor, SignedIn, actor_of, find_session
from scimhub.http.services import Services

COOKIE = "scimhub_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})  # the methods that need a CSRF token


def services_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Services:
    services: Services = connection.app.state.services
    return services


def _provide_services(state: State) -> Services:
    services: Services = state.services
    return services


# The web process's long-lived objects, for `services: NamedDependency[Services]`.
provide_services = Provide(_provide_services, sync_to_thread=False)


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The client's address as the server saw it (the admin trail's "from where")."""
    return connection.client.host if connection.client else None


def _provide_actor(request: Request[SignedIn, Any, State]) -> Actor:
    return actor_of(request.user, client_ip(request))


# Who the admin trail names for this request (`actor: NamedDependency[Actor]`): the session's administrator
# or the API key, with the client address.
provide_actor = Provide(_provide_actor, sync_to_thread=False)


async def nudge_notices(request: Request[Any, Any, State]) -> None:
    """After every answered unsafe request of the hub and the admin API: let the security-notice flush run
    now (it finds nothing when the action was not security-relevant; beat's flush is the safety net)."""
    if request.method in UNSAFE_METHODS:
        services_of(request).nudge_notices()


async def signed_in_by_cookie(connection: ASGIConnection[Any, Any, Any, Any]) -> SignedIn | None:
    """The session the cookie names, or None (no cookie, unknown or expired session)."""
    token = connection.cookies.get(COOKIE)
    if not token:
        return None
    services = services_of(connection)
    async with services.db.pool.acquire() as conn:
        return await find_session(conn, services.db.install_id, token)


def session_cookie(token: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=COOKIE,
        value=token,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
        max_age=SESSION_HOURS * 3600,
    )


def cleared_session_cookie() -> Cookie:
    return Cookie(key=COOKIE, value="", max_age=0, path="/", httponly=True, samesite="lax")
