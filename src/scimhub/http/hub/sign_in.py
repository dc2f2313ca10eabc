"""Signing in and out, and choosing a password after signing in with a one-time password."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from scimhub import admins
from scimhub.admins import AdminError, SignInThrottled
from scimhub.http.admin_access import COOKIE, cleared_session_cookie, session_cookie
from scimhub.http.hub.rendering import html
from scimhub.http.hub.session import FIRST_SIGN_IN_PAGE, HubPage
from scimhub.http.services import Services
from scimhub.tenancy.directory import find_tenant

_UNKNOWN_TENANT_DELAY = 0.2  # about an argon2 check, so an unknown tenant does not answer faster


@get("/{slug:str}/login", include_in_schema=False)
async def login_page(
    slug: FromPath[str],
    next_path: Annotated[str, QueryParameter(name="next")] = "",
    expired: FromQuery[str | None] = None,
) -> Response[str]:
    return html(
        "login.html",
        slug=slug,
        next=next_path,
        principal=None,
        flash="Your session expired; sign in again." if expired == "1" else None,
    )


@post("/{slug:str}/login", include_in_schema=False)
async def login_submit(
    request: Request[Any, Any, State],
    slug: FromPath[str],
    services: NamedDependency[Services],
    form: NamedDependency[dict[str, str]],
) -> Response[Any]:
    email, password, nxt = form.get("email", ""), form.get("password", ""), form.get("next", "")
    client = request.client.host if request.client else None
    try:
        async with services.db.pool.acquire() as conn:
            tenant = await find_tenant(conn, services.db.install_id, slug)
            if tenant is None:
                await asyncio.sleep(_UNKNOWN_TENANT_DELAY)
                raise AdminError("wrong email or password")
            token, principal = await admins.sign_in(conn, tenant.id, email, password, client, now=services.clock())
    except AdminError as exc:
        return html(
            "login.html",
            status=429 if isinstance(exc, SignInThrottled) else 401,
            slug=slug,
            next=nxt,
            email=email,
            principal=None,
            error=str(exc),
        )
    cookie = session_cookie(token, secure=services.settings.public_url.startswith("https://"))
    if principal.must_change_password:
        target = f"/hub/{slug}/password"
    else:
        target = nxt if nxt.startswith(f"/hub/{slug}/") else f"/hub/{slug}/"
    return Redirect(target, status_code=303, cookies=[cookie])


@post("/{slug:str}/logout", include_in_schema=False, opt={FIRST_SIGN_IN_PAGE: True})
async def logout(request: Request[Any, Any, State], page: NamedDependency[HubPage]) -> Response[Any]:
    async with page.services.db.pool.acquire() as conn:
        await admins.sign_out(conn, request.cookies.get(COOKIE, ""))
    return Redirect(f"/hub/{page.tenant.slug}/login", status_code=303, cookies=[cleared_session_cookie()])


@get("/{slug:str}/password", include_in_schema=False, opt={FIRST_SIGN_IN_PAGE: True})
async def password_page(page: NamedDependency[HubPage]) -> Response[str]:
    return page.render("password.html")


@post("/{slug:str}/password", include_in_schema=False, opt={FIRST_SIGN_IN_PAGE: True})
async def password_submit(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[Any]:
    try:
        async with page.services.db.pool.acquire() as conn:
            await admins.change_password(conn, page.principal, form.get("password", ""))
    except AdminError as exc:
        return page.render("password.html", status=400, error=str(exc))
    return Redirect(f"/hub/{page.tenant.slug}/", status_code=303)
