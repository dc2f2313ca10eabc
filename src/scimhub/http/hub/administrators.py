"""Administrators: who may sign in to this tenant's hub, inviting one, and admin API keys."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency

from scimhub import admins
from scimhub.admins import AdminError
from scimhub.http.hub.session import HubPage


async def _admins(page: HubPage, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        listed = await admins.list_admins(conn, page.tenant.id)
        keys = await admins.list_api_keys(conn, page.tenant.id)
    return page.render(
        "admins.html",
        status=status,
        admins=listed,
        keys=keys,
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
            password = await admins.create_admin(conn, page.tenant.id, email)
    except AdminError as exc:
        return await _admins(page, status=400, error=f"Not invited: {exc}.")
    return await _admins(page, new_password=password, invited=email.strip())


@post("/{slug:str}/admins/api-keys", include_in_schema=False)
async def admins_api_key(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        key = await admins.create_api_key(conn, page.tenant.id, form.get("label", ""))
    return await _admins(page, new_key=key)
