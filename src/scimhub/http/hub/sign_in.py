"""Signing in (password, or the tenant's identity provider) and out, and choosing a password after signing
in with a one-time password."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect

from scimhub.admins import SignInBusy, SignInRefused, SignInThrottled, accounts, oidc, sessions, signin
from scimhub.admins.model import AdminError
from scimhub.admins.oidc_provider import OidcError
from scimhub.http.admin_access import COOKIE, cleared_session_cookie, client_ip, session_cookie
from scimhub.http.hub.rendering import html
from scimhub.http.hub.session import FIRST_SIGN_IN_PAGE, HubPage
from scimhub.http.services import Services
from scimhub.tenancy.directory import find_tenant
from scimhub.tenancy.model import Tenant

_UNKNOWN_TENANT_DELAY = 0.2  # about an argon2 check, so an unknown tenant does not answer faster
OIDC_COOKIE = "scimhub_oidc"  # binds a started identity-provider sign-in to this browser


def _status(exc: SignInRefused) -> int:
    if isinstance(exc, SignInThrottled):
        return 429
    return 503 if isinstance(exc, SignInBusy) else 401


async def _login(services: Services, slug: str, *, status: int = 200, **context: Any) -> Response[str]:
    async with services.db.pool.acquire() as conn:
        tenant = await find_tenant(conn, services.db.install_id, slug)
        options = await oidc.sign_in_options(conn, tenant.id if tenant else None)
    context.setdefault("next", "")
    return html("login.html", status=status, slug=slug, principal=None, options=options, **context)


@get("/{slug:str}/login", include_in_schema=False)
async def login_page(
    slug: FromPath[str],
    services: NamedDependency[Services],
    next_path: Annotated[str, QueryParameter(name="next")] = "",
    expired: FromQuery[str | None] = None,
) -> Response[str]:
    flash = "Your session expired; sign in again." if expired == "1" else None
    return await _login(services, slug, next=next_path, flash=flash)


@post("/{slug:str}/login", include_in_schema=False)
async def login_submit(
    request: Request[Any, Any, State],
    slug: FromPath[str],
    services: NamedDependency[Services],
    form: NamedDependency[dict[str, str]],
) -> Response[Any]:
    email, password, nxt = form.get("email", ""), form.get("password", ""), form.get("next", "")
    client = client_ip(request)
    now = services.clock()
    tenant: Tenant | None = None
    try:
        async with services.db.pool.acquire() as conn:
            tenant = await find_tenant(conn, services.db.install_id, slug)
            if tenant is None:
                await signin.refuse_unknown_tenant(conn, email, client, now=now)
            token, principal = await signin.sign_in(
                conn, tenant.id, email, password, client, now=now, user_agent=request.headers.get("user-agent")
            )
    except SignInRefused as exc:
        if tenant is None and not isinstance(exc, SignInThrottled):
            await asyncio.sleep(_UNKNOWN_TENANT_DELAY)  # outside the pooled connection
        return await _login(services, slug, status=_status(exc), next=nxt, email=email, error=str(exc))
    cookie = session_cookie(token, secure=services.settings.public_url.startswith("https://"))
    if principal.must_change_password:
        target = f"/hub/{slug}/password"
    else:
        target = nxt if nxt.startswith(f"/hub/{slug}/") else f"/hub/{slug}/"
    return Redirect(target, status_code=303, cookies=[cookie])


def _redirect_uri(services: Services, slug: str) -> str:
    return f"{services.settings.public_url}/hub/{slug}/oidc/callback"


def _oidc_cookie(slug: str, value: str, *, secure: bool) -> Cookie:
    return Cookie(
        key=OIDC_COOKIE,
        value=value,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=secure,
        path=f"/hub/{slug}/oidc",
        max_age=oidc.STATE_MINUTES * 60 if value else 0,
    )


@get("/{slug:str}/oidc/start", include_in_schema=False)
async def oidc_start(
    slug: FromPath[str],
    services: NamedDependency[Services],
    next_path: Annotated[str, QueryParameter(name="next")] = "",
) -> Response[Any]:
    try:
        async with services.db.pool.acquire() as conn:
            tenant = await find_tenant(conn, services.db.install_id, slug)
            if tenant is None:
                raise OidcError("this tenant has not set up sign-in with an identity provider")
            started = await oidc.start_signin(
                conn,
                tenant.id,
                redirect_uri=_redirect_uri(services, slug),
                next_path=next_path if next_path.startswith(f"/hub/{slug}/") else "",
                secret_key=services.settings.secret_key,
                now=services.clock(),
            )
    except OidcError as exc:
        return await _login(services, slug, status=502, error=f"Sign-in with your identity provider failed: {exc}.")
    secure = services.settings.public_url.startswith("https://")
    return Redirect(started.url, status_code=303, cookies=[_oidc_cookie(slug, started.browser_token, secure=secure)])


@get("/{slug:str}/oidc/callback", include_in_schema=False)
async def oidc_callback(
    request: Request[Any, Any, State],
    slug: FromPath[str],
    services: NamedDependency[Services],
    oidc_state: Annotated[str, QueryParameter(name="state")] = "",
    code: FromQuery[str] = "",
    error: FromQuery[str] = "",
) -> Response[Any]:
    secure = services.settings.public_url.startswith("https://")
    cleared = _oidc_cookie(slug, "", secure=secure)
    try:
        async with services.db.pool.acquire() as conn:
            tenant = await find_tenant(conn, services.db.install_id, slug)
            if tenant is None:
                raise OidcError("this tenant has not set up sign-in with an identity provider")
            token, _principal, nxt = await oidc.finish_signin(
                conn,
                tenant.id,
                state=oidc_state,
                code=code,
                provider_error=error[:100] or None,
                browser_token=request.cookies.get(OIDC_COOKIE, ""),
                redirect_uri=_redirect_uri(services, slug),
                client_ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
                secret_key=services.settings.secret_key,
                now=services.clock(),
            )
    except OidcError as exc:
        page = await _login(services, slug, status=400, error=f"Not signed in: {exc}.")
        page.cookies.append(cleared)
        return page
    target = nxt or f"/hub/{slug}/"
    return Redirect(target, status_code=303, cookies=[session_cookie(token, secure=secure), cleared])


@post("/{slug:str}/logout", include_in_schema=False, opt={FIRST_SIGN_IN_PAGE: True})
async def logout(request: Request[Any, Any, State], page: NamedDependency[HubPage]) -> Response[Any]:
    async with page.services.db.pool.acquire() as conn:
        await sessions.sign_out(conn, request.cookies.get(COOKIE, ""), page.actor, page.tenant.id)
    return Redirect(f"/hub/{page.tenant.slug}/login", status_code=303, cookies=[cleared_session_cookie()])


@get("/{slug:str}/password", include_in_schema=False, opt={FIRST_SIGN_IN_PAGE: True})
async def password_page(page: NamedDependency[HubPage]) -> Response[str]:
    return page.render("password.html")


@post("/{slug:str}/password", include_in_schema=False, opt={FIRST_SIGN_IN_PAGE: True})
async def password_submit(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[Any]:
    """The first sign-in's password page (no current password asked: the one-time password was just typed);
    for anyone else the current password is required. Every other session of the administrator ends."""
    try:
        async with page.services.db.pool.acquire() as conn:
            ended = await accounts.change_password(
                conn, page.principal, form.get("current"), form.get("password", ""), page.actor
            )
    except AdminError as exc:
        return page.render("password.html", status=400, error=str(exc))
    flash = f"Password changed; {ended} other session(s) ended." if ended else None
    if page.principal.must_change_password or not flash:
        return Redirect(f"/hub/{page.tenant.slug}/", status_code=303)
    return page.render("password.html", flash=flash)
