"""Administrators: who may sign in to this tenant's hub (invite, remove, revoke an invitation) and the admin
API keys (create with scopes and an optional expiry, revoke). Every change is in the admin trail."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath

from scimhub.admins import accounts, keys
from scimhub.admins.model import AdminError
from scimhub.admins.scopes import SCOPES
from scimhub.http.hub.session import HubPage


async def _admins(page: HubPage, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        listed = await accounts.list_admins(conn, page.tenant.id)
        api_keys = await keys.list_api_keys(conn, page.tenant.id)
    return page.render(
        "admins.html",
        status=status,
        admins=listed,
        keys=api_keys,
        scopes=SCOPES,
        hub_url=f"{page.services.settings.public_url}/hub/{page.tenant.slug}/login",
        **more,
    )


@get("/{slug:str}/admins", include_in_schema=False)
async def admins_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _admins(page)


@post("/{slug:str}/admins", include_in_schema=False)
async def admins_invite(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    email = form.get("email", "")
    try:
        async with page.services.db.pool.acquire() as conn:
            invitation = await accounts.invite(conn, page.tenant.id, email, page.actor)
    except AdminError as exc:
        return await _admins(page, status=400, error=f"Not invited: {exc}.")
    return await _admins(page, new_password=invitation.password, invited=invitation.admin.email)


@post("/{slug:str}/admins/{admin_id:int}/remove", include_in_schema=False)
async def admins_remove(page: NamedDependency[HubPage], admin_id: FromPath[int]) -> Response[str]:
    try:
        async with page.services.db.pool.acquire() as conn:
            removed = await accounts.remove_admin(conn, page.tenant.id, admin_id, page.actor)
    except AdminError as exc:
        return await _admins(page, status=404 if "no such" in str(exc) else 400, error=f"Not removed: {exc}.")
    return await _admins(page, flash=f"Removed {removed.email}; their sessions have ended.")


@post("/{slug:str}/admins/api-keys", include_in_schema=False)
async def admins_api_key(request: Request[Any, Any, State], page: NamedDependency[HubPage]) -> Response[str]:
    form = await request.form()
    scopes = [str(s) for s in form.getall("scope")] if "scope" in form else []
    days_text = str(form.get("expires_days", "")).strip()
    try:
        days = int(days_text) if days_text else None
    except ValueError:
        return await _admins(page, status=400, error="Not created: the expiry must be a whole number of days.")
    try:
        async with page.services.db.pool.acquire() as conn:
            issued = await keys.issue_api_key(
                conn, page.tenant.id, page.actor, label=str(form.get("label", "")), scopes=scopes, expires_in_days=days
            )
    except AdminError as exc:
        return await _admins(page, status=400, error=f"Not created: {exc}.")
    return await _admins(page, new_key=issued.key, new_key_scopes=issued.info.scopes)


@post("/{slug:str}/admins/api-keys/{key_id:int}/revoke", include_in_schema=False)
async def admins_api_key_revoke(page: NamedDependency[HubPage], key_id: FromPath[int]) -> Response[str]:
    try:
        async with page.services.db.pool.acquire() as conn:
            revoked = await keys.revoke_api_key(conn, page.tenant.id, key_id, page.actor)
    except AdminError as exc:
        return await _admins(page, status=404, error=f"Not revoked: {exc}.")
    return await _admins(page, flash=f"Revoked API key {revoked.label or '(no label)'} {revoked.hint}.")
