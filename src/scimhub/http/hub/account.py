"""My account: my sessions (end one, or all but this one) and changing my password (the current one is
needed; every other session ends)."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from scimhub.admins import accounts, sessions
from scimhub.admins.model import AdminError, SessionInfo
from scimhub.http.admin_access import cleared_session_cookie
from scimhub.http.hub.session import HubPage


async def _account(page: HubPage, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        mine = await sessions.list_sessions(
            conn, page.tenant.id, admin_id=page.principal.admin_id, current=page.principal.session_id
        )
    return page.render("account.html", status=status, sessions=mine, **more)


@get("/{slug:str}/account", include_in_schema=False)
async def account_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _account(page)


@post("/{slug:str}/account/password", include_in_schema=False)
async def account_password(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    try:
        async with page.services.db.pool.acquire() as conn:
            ended = await accounts.change_password(
                conn, page.principal, form.get("current", ""), form.get("password", ""), page.actor
            )
    except AdminError as exc:
        return await _account(page, status=400, error=f"Password not changed: {exc}.")
    return await _account(page, flash=f"Password changed; {ended} other session(s) ended.")


@post("/{slug:str}/account/sessions/{session_id:int}/end", include_in_schema=False)
async def account_end_session(page: NamedDependency[HubPage], session_id: FromPath[int]) -> Response[Any]:
    mine = {s.id for s in await _my_sessions(page)}
    if session_id not in mine:
        return await _account(page, status=404, error="There is no such session of yours.")
    async with page.services.db.pool.acquire() as conn:
        await sessions.end_session(conn, page.tenant.id, session_id, page.actor)
    if session_id == page.principal.session_id:
        return Redirect(f"/hub/{page.tenant.slug}/login", status_code=303, cookies=[cleared_session_cookie()])
    return await _account(page, flash="The session has ended.")


@post("/{slug:str}/account/sessions/end-others", include_in_schema=False)
async def account_end_others(page: NamedDependency[HubPage]) -> Response[str]:
    assert page.principal.admin_id is not None  # noqa: S101 - a hub page is an administrator's session
    async with page.services.db.pool.acquire() as conn:
        n = await sessions.end_other_sessions(
            conn, page.tenant.id, page.principal.admin_id, page.principal.session_id, page.actor
        )
    return await _account(page, flash=f"Ended {n} other session(s).")


async def _my_sessions(page: HubPage) -> list[SessionInfo]:
    async with page.services.db.pool.acquire() as conn:
        return await sessions.list_sessions(conn, page.tenant.id, admin_id=page.principal.admin_id)
