"""Sign-in settings: the tenant's identity provider (OpenID Connect issuer, client id, client secret, never
shown again once saved) and whether password sign-in stays on. Every change, and every refused one (an
issuer that does not answer or answers garbage), is in the admin trail."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency

from scimhub.admins import oidc
from scimhub.admins.oidc_provider import OidcError
from scimhub.http.hub.session import HubPage


async def _settings(page: HubPage, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        current = await oidc.get_settings(conn, page.tenant.id)
    return page.render(
        "signin_settings.html",
        status=status,
        current=current,
        redirect_uri=f"{page.services.settings.public_url}/hub/{page.tenant.slug}/oidc/callback",
        **more,
    )


@get("/{slug:str}/signin-settings", include_in_schema=False)
async def signin_settings_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _settings(page)


@post("/{slug:str}/signin-settings", include_in_schema=False)
async def signin_settings_save(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    try:
        async with page.services.db.pool.acquire() as conn:
            await oidc.save_settings(
                conn,
                page.tenant.id,
                page.actor,
                issuer=form.get("issuer", ""),
                client_id=form.get("client_id", ""),
                client_secret=form.get("client_secret") or None,
                secret_key=page.services.settings.secret_key,
            )
    except OidcError as exc:
        return await _settings(page, status=400, error=f"Not saved: {exc}.", issuer=form.get("issuer", ""))
    return await _settings(page, flash="Saved. Try it: sign out and choose the identity provider's button.")


@post("/{slug:str}/signin-settings/password", include_in_schema=False)
async def signin_settings_password(
    page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]
) -> Response[str]:
    enabled = form.get("password_signin") == "on"
    try:
        async with page.services.db.pool.acquire() as conn:
            await oidc.set_password_signin(conn, page.tenant.id, page.actor, enabled=enabled)
    except OidcError as exc:
        return await _settings(page, status=400, error=f"Not changed: {exc}.")
    return await _settings(page, flash=f"Password sign-in is now {'on' if enabled else 'off'}.")


@post("/{slug:str}/signin-settings/remove", include_in_schema=False)
async def signin_settings_remove(page: NamedDependency[HubPage]) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        await oidc.remove_settings(conn, page.tenant.id, page.actor)
    return await _settings(page, flash="Sign-in with the identity provider was removed; password sign-in is on.")
