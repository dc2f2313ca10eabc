"""Admin API routes for who may act on the tenant: administrators (invite, remove), API keys (create with
scopes and expiry, revoke) and sessions (list, end). `admins:read` to list, `admins:write` to change; every
change and every refused attempt is in the admin trail."""

from __future__ import annotations

import msgspec
from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from scimhub.admins import Actor, accounts, keys, sessions
from scimhub.admins.model import AdminInfo, ApiKeyInfo, SessionInfo
from scimhub.http.services import Services
from scimhub.tenancy.model import Tenant


class NewAdministrator(msgspec.Struct):
    email: str


class InvitedAdministrator(msgspec.Struct):
    administrator: AdminInfo
    one_time_password: str | None  # shown only in this answer


class NewApiKey(msgspec.Struct):
    scopes: list[str]
    label: str = ""
    expires_in_days: int | None = None


class CreatedApiKey(msgspec.Struct):
    key: str  # shown only in this answer
    info: ApiKeyInfo


class Ended(msgspec.Struct):
    status: str


@get("/admins", summary="The tenant's administrators", opt={"scope": "admins:read"})
async def api_admins(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> list[AdminInfo]:
    async with services.db.pool.acquire() as conn:
        return await accounts.list_admins(conn, tenant.id)


@post(
    "/admins",
    summary="Invite an administrator (a one-time password, valid 72 hours, shown only in this answer)",
    status_code=201,
    opt={"scope": "admins:write"},
)
async def api_admin_invite(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[NewAdministrator],
) -> InvitedAdministrator:
    async with services.db.pool.acquire() as conn:
        invitation = await accounts.invite(conn, tenant.id, data.email, actor)
    return InvitedAdministrator(invitation.admin, invitation.password)


@delete(
    "/admins/{admin_id:int}",
    summary="Remove an administrator (or revoke an invitation); its sessions end at once",
    status_code=200,
    opt={"scope": "admins:write"},
)
async def api_admin_remove(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    admin_id: FromPath[int],
) -> AdminInfo:
    async with services.db.pool.acquire() as conn:
        return await accounts.remove_admin(conn, tenant.id, admin_id, actor)


@get("/api-keys", summary="The tenant's usable admin API keys (hints only)", opt={"scope": "admins:read"})
async def api_keys(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> list[ApiKeyInfo]:
    async with services.db.pool.acquire() as conn:
        return await keys.list_api_keys(conn, tenant.id)


@post(
    "/api-keys",
    summary="Create an admin API key with scopes (the key is shown only in this answer)",
    status_code=201,
    opt={"scope": "admins:write"},
)
async def api_key_create(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    data: JSONBody[NewApiKey],
) -> CreatedApiKey:
    async with services.db.pool.acquire() as conn:
        issued = await keys.issue_api_key(
            conn, tenant.id, actor, label=data.label, scopes=data.scopes, expires_in_days=data.expires_in_days
        )
    return CreatedApiKey(issued.key, issued.info)


@delete("/api-keys/{key_id:int}", summary="Revoke an admin API key", status_code=200, opt={"scope": "admins:write"})
async def api_key_revoke(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    key_id: FromPath[int],
) -> ApiKeyInfo:
    async with services.db.pool.acquire() as conn:
        return await keys.revoke_api_key(conn, tenant.id, key_id, actor)


@get("/sessions", summary="The administrators' hub sessions", opt={"scope": "admins:read"})
async def api_sessions(tenant: NamedDependency[Tenant], services: NamedDependency[Services]) -> list[SessionInfo]:
    async with services.db.pool.acquire() as conn:
        return await sessions.list_sessions(conn, tenant.id)


@delete("/sessions/{session_id:int}", summary="End a hub session", status_code=200, opt={"scope": "admins:write"})
async def api_session_end(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    actor: NamedDependency[Actor],
    session_id: FromPath[int],
) -> Ended:
    async with services.db.pool.acquire() as conn:
        await sessions.end_session(conn, tenant.id, session_id, actor)
    return Ended("ended")


ROUTES: list[HTTPRouteHandler] = [
    api_admins,
    api_admin_invite,
    api_admin_remove,
    api_keys,
    api_key_create,
    api_key_revoke,
    api_sessions,
    api_session_end,
]
