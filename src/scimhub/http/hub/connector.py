"""Connectors > SCIM: the "Is active" switch, the Tenant URL, and the Secret Tokens (rotate, revoke)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Response, get, post
from litestar.di import NamedDependency

from scimhub.admins import actions
from scimhub.http.hub.rendering import HubError, sentence
from scimhub.http.hub.session import HubPage
from scimhub.tenancy import rules, tenants

# The rotation form's choices: how long older tokens keep working, in minutes (the longest is the rules' limit).
OVERLAP_CHOICES = [(0, "no time (stop now)"), (60, "1 hour"), (1440, "24 hours"), (rules.MAX_MINUTES, "7 days")]


async def _connector(page: HubPage, *, active: bool | None = None, status: int = 200, **more: Any) -> Response[str]:
    async with page.services.db.pool.acquire() as conn:
        tokens = await tenants.usable_tokens(conn, page.tenant.id)
    return page.render(
        "connector.html",
        nav="connector",
        status=status,
        tokens=tokens,
        overlap_choices=OVERLAP_CHOICES,
        active=page.tenant.active if active is None else active,
        scim_url=tenants.scim_url(page.services.settings.public_url, page.tenant.slug),
        **more,
    )


@get("/{slug:str}/connectors/scim", include_in_schema=False)
async def connector_page(page: NamedDependency[HubPage]) -> Response[str]:
    return await _connector(page)


@post("/{slug:str}/connectors/scim/active", include_in_schema=False)
async def connector_toggle(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    on = form.get("active") == "on"
    async with page.services.db.pool.acquire() as conn:
        await actions.switch_connector(conn, page.tenant, page.actor, active=on)
    page.services.resolver.forget_all()  # at once in this process; other processes within the cache TTL
    return await _connector(page, active=on, flash=f"The SCIM connector is now {'on' if on else 'off'}.")


@post("/{slug:str}/connectors/scim/rotate", include_in_schema=False)
async def connector_rotate(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    try:
        overlap = rules.parse_minutes(form.get("overlap", "0"), "the overlap of older tokens")
        minutes = rules.check_token_overlap(overlap)
    except rules.SettingRejected as exc:
        raise HubError(400, "Bad overlap", sentence(exc)) from None
    async with page.services.db.pool.acquire() as conn:
        issued = await actions.rotate_token(
            conn,
            page.tenant,
            page.actor,
            public_url=page.services.settings.public_url,
            keep_old_for=dt.timedelta(minutes=minutes),
        )
    page.services.resolver.forget_all()
    return await _connector(
        page,
        new_token=issued.token,
        flash="A new token was generated. Paste it into Entra ID now: it is shown only once.",
    )


@post("/{slug:str}/connectors/scim/revoke", include_in_schema=False)
async def connector_revoke(page: NamedDependency[HubPage], form: NamedDependency[dict[str, str]]) -> Response[str]:
    if form.get("confirm") != "yes":
        return await _connector(page, status=400, error="Tick the box to confirm; no token was revoked.")
    async with page.services.db.pool.acquire() as conn:
        n = await actions.revoke_tokens(conn, page.tenant, page.actor)
    page.services.resolver.forget_all()
    return await _connector(page, flash=f"Revoked {n} token(s). Provisioning stops until a new token is in use.")
