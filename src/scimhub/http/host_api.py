"""The host application's read API (`/host/api`, #14): every tenant's users, groups, memberships and change
feed, read-only, with one key the operator creates (`scimhub host-key create`; `Authorization: Bearer
shk_...`). Never a tenant's Entra token, never an administrator's key. An initial load then the feed:
take `GET .../events/cursor`, load users and groups (paged, optionally `changed_since`), then follow
`GET .../events?after=CURSOR` (changes made during the load may arrive again: apply them idempotently).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.middleware.authentication import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import FromPath, QueryParameter

from scimhub.events import feed, host_keys
from scimhub.http.admin_access import provide_services, services_of
from scimhub.http.services import Services
from scimhub.http.wire import check_admin_request_text
from scimhub.provisioning import host_reads
from scimhub.tenancy import directory
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction


class HostKeyAuth(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        auth = connection.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            services = services_of(connection)
            async with services.db.pool.acquire() as conn:
                key = await host_keys.find_host_key(conn, auth[7:].strip())
            if key is not None:
                return AuthenticationResult(user=key, auth="host-key")
        raise NotAuthorizedException(detail="send a host application key as 'Authorization: Bearer shk_...'")


async def _tenant(services: Services, slug: str) -> Tenant:
    async with services.db.pool.acquire() as conn:
        tenant = await directory.find_tenant(conn, services.db.install_id, slug)
    if tenant is None:
        raise NotFoundException(detail=f"no tenant {slug[:64]!r}")
    return tenant


@get("/tenants", summary="Every tenant (slug, name, status)")
async def host_tenants(services: NamedDependency[Services]) -> list[dict[str, Any]]:
    async with services.db.pool.acquire() as conn:
        rows = await conn.fetch("SELECT slug, name, status, created_at FROM public.tenant ORDER BY slug")
    return [{"slug": r["slug"], "name": r["name"], "status": r["status"], "created_at": r["created_at"]} for r in rows]


@get("/tenants/{slug:str}/events/cursor", summary="The feed's current cursor (take it before an initial load)")
async def host_events_cursor(services: NamedDependency[Services], slug: FromPath[str]) -> dict[str, str]:
    tenant = await _tenant(services, slug)
    async with tenant_transaction(services.db.pool, tenant) as conn:
        last = await conn.fetchval("SELECT last_position FROM event_feed")
    return {"cursor": str(last)}


@get("/tenants/{slug:str}/events", summary="The change feed after a cursor, oldest first (410: expired)")
async def host_events(
    services: NamedDependency[Services],
    slug: FromPath[str],
    after: Annotated[str | None, QueryParameter(max_length=40)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=feed.MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    tenant = await _tenant(services, slug)
    async with tenant_transaction(services.db.pool, tenant) as conn:
        page = await feed.read_feed(conn, tenant.slug, after, limit)
    return {"events": [feed.event_json(e) for e in page.events], "cursor": page.cursor, "has_more": page.has_more}


def _lister(rtype: str, path: str) -> Any:
    @get(f"/tenants/{{slug:str}}/{path}", summary=f"The tenant's {path}, paged (optionally changed since a time)")
    async def listing(
        services: NamedDependency[Services],
        slug: FromPath[str],
        changed_since: Annotated[str | None, QueryParameter(max_length=64)] = None,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=host_reads.MAX_LIMIT)] = 100,
    ) -> host_reads.Page:
        tenant = await _tenant(services, slug)
        return await host_reads.list_resources(
            services.db.pool, tenant, rtype, changed_since=changed_since, cursor=cursor, limit=limit
        )

    @get(f"/tenants/{{slug:str}}/{path}/{{rid:uuid}}", summary=f"One of the tenant's {path} by id")
    async def one(services: NamedDependency[Services], slug: FromPath[str], rid: FromPath[uuid.UUID]) -> dict[str, Any]:
        tenant = await _tenant(services, slug)
        found = await host_reads.get_resource(services.db.pool, tenant, rtype, rid)
        if found is None:
            raise NotFoundException(detail=f"no {rtype} {rid}")
        return found

    return listing, one


host_users, host_user = _lister("User", "users")
host_groups, host_group = _lister("Group", "groups")


@get("/tenants/{slug:str}/groups/{gid:uuid}/members", summary="A group's members by id, paged")
async def host_members(
    services: NamedDependency[Services],
    slug: FromPath[str],
    gid: FromPath[uuid.UUID],
    cursor: Annotated[str | None, QueryParameter(max_length=64)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=host_reads.MAX_LIMIT)] = 100,
) -> host_reads.Page:
    tenant = await _tenant(services, slug)
    page = await host_reads.list_members(services.db.pool, tenant, gid, cursor=cursor, limit=limit)
    if page is None:
        raise NotFoundException(detail=f"no Group {gid}")
    return page


def _json_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return Response(
        {"status": exc.status_code, "detail": exc.detail}, status_code=exc.status_code, headers=exc.headers or None
    )


def _bad_request(_: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    status = 410 if isinstance(exc, feed.CursorExpired) else 400
    return Response({"status": status, "detail": str(exc)}, status_code=status)


def host_api_router() -> Router:
    return Router(
        path="/host/api",
        route_handlers=[
            host_tenants,
            host_events_cursor,
            host_events,
            host_users,
            host_user,
            host_groups,
            host_group,
            host_members,
        ],
        middleware=[HostKeyAuth],
        before_request=check_admin_request_text,
        dependencies={"services": provide_services},
        exception_handlers={
            HTTPException: _json_error,
            feed.CursorRejected: _bad_request,
            host_reads.ReadRejected: _bad_request,
        },
        tags=["host application"],
    )
