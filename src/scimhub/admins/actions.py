"""The tenant's settings changed by its administrators, each written to the admin trail with the change.

One function per action for every surface (hub, admin API, CLI): the change (`tenancy.tenants`) and its trail
entry happen in one transaction, so an entry exists exactly when the change does. What is recorded never
holds a secret: a new token appears as its hint only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from scimhub.admins import trail
from scimhub.admins.model import Actor
from scimhub.admins.vocabulary import AdminAction
from scimhub.tenancy import rules, tenants
from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.tenants import IssuedToken, NotificationSettings


def _on_off(active: bool) -> str:
    return "on" if active else "off"


async def switch_connector(conn: Connection, tenant: Tenant, actor: Actor, *, active: bool) -> None:
    async with conn.transaction():
        before = await conn.fetchval("SELECT status FROM public.tenant WHERE id = $1 FOR UPDATE", tenant.id)
        await tenants.set_status(conn, tenant.slug, "active" if active else "disabled")
        await trail.record(
            conn,
            tenant.id,
            actor,
            AdminAction.CONNECTOR_SWITCHED,
            f"switched the SCIM connector {_on_off(active)}",
            changes=[trail.Change("connector", _on_off(before == "active"), _on_off(active))],
            switched_off=not active,
        )


async def change_rate_limit(conn: Connection, tenant: Tenant, actor: Actor, limit: int | None, *, default: int) -> None:
    """The tenant's own request-rate limit (None: the installation's `default`), with its trail entry when it
    changed: the tenant's administrators can see who changed how many requests their Entra may send."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT rate_limit FROM public.tenant WHERE id = $1 FOR UPDATE", tenant.id)
        await tenants.set_rate_limit(conn, tenant.slug, limit)
        if before == limit:
            return

        def shown(value: int | None) -> str:
            return f"the default ({default})" if value is None else str(value)

        await trail.record(
            conn,
            tenant.id,
            actor,
            AdminAction.RATE_LIMIT_CHANGED,
            f"set the SCIM rate limit to {shown(limit)} requests per window",
            changes=[trail.Change("rate limit", shown(before), shown(limit))],
        )


async def rotate_token(
    conn: Connection, tenant: Tenant, actor: Actor, *, public_url: str, keep_old_for: dt.timedelta | None
) -> IssuedToken:
    async with conn.transaction():
        issued = await tenants.rotate_token(conn, tenant.slug, public_url=public_url, keep_old_for=keep_old_for)
        overlap = f"{int(keep_old_for.total_seconds() // 60)} min" if keep_old_for else "none"
        await trail.record(
            conn,
            tenant.id,
            actor,
            AdminAction.TOKEN_ROTATED,
            f"generated a new Secret Token {issued.hint} (older tokens keep working for: {overlap})",
            changes=[trail.Change("token", None, issued.hint), trail.Change("overlap of older tokens", None, overlap)],
        )
    return issued


async def revoke_tokens(conn: Connection, tenant: Tenant, actor: Actor) -> int:
    async with conn.transaction():
        n = await tenants.revoke_tokens(conn, tenant.slug)
        await trail.record(
            conn,
            tenant.id,
            actor,
            AdminAction.TOKENS_REVOKED,
            f"revoked {n} Secret Token(s): SCIM requests get 401 until a new token is in use",
            changes=[trail.Change("usable tokens", str(n), "0")],
        )
    return n


async def change_notifications(
    conn: Connection,
    tenant: Tenant,
    actor: Actor,
    *,
    emails: Sequence[str] | None = None,
    enabled: bool | None = None,
    window_minutes: int | None = None,
) -> NotificationSettings:
    """Change what is given (None keeps it), by `tenancy.rules`; records each field that changed."""
    checked = rules.check_recipients(emails) if emails is not None else None
    if window_minutes is not None:
        rules.check_digest_window(window_minutes)
    async with conn.transaction():
        before = await tenants.notification_settings(conn, tenant.id)
        await tenants.set_notifications(
            conn, tenant.slug, emails=checked, enabled=enabled, window_minutes=window_minutes
        )
        after = await tenants.notification_settings(conn, tenant.id)
        changes = [
            trail.Change(field, old, new)
            for field, old, new in (
                ("recipients", ", ".join(before.recipients), ", ".join(after.recipients)),
                ("mails", _on_off(before.enabled), _on_off(after.enabled)),
                ("digest window (minutes)", str(before.digest_window_minutes), str(after.digest_window_minutes)),
            )
            if old != new
        ]
        if changes:
            await trail.record(
                conn,
                tenant.id,
                actor,
                AdminAction.NOTIFICATIONS_CHANGED,
                "changed the notification settings: " + ", ".join(c.field for c in changes),
                changes=changes,
            )
    return after
