"""Operator actions on tenants: create, list, switch on/off, delete, rotate and revoke tokens.

The operator's CLI runs them on its admin connection; the hub and the admin API on the app role's pool
(which may read and change `public.tenant` and its tokens). Each raises `TenantError` with a sentence fit for
one line of CLI output, and a setting outside `tenancy.rules` raises `SettingRejected` before anything is
written; none of them ever logs a token.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg
import msgspec

from scimhub.tenancy import rules
from scimhub.tenancy.db import Connection, read_install_id
from scimhub.tenancy.directory import find_tenant
from scimhub.tenancy.migrate import Migration, apply_tenant_migrations, load_migrations
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import app_role_name, check_slug, schema_name, tenant_role_name
from scimhub.tenancy.tokens import new_token, token_digest, token_hint


class TenantError(Exception):
    """An operator action that cannot be done (unknown tenant, duplicate slug, ...)."""


class TenantInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    slug: str
    name: str
    status: str
    schema: str
    notify_emails: list[str]
    notify_enabled: bool
    created_at: str
    active_tokens: int = 0


class NotificationSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Who is mailed about provisioning failures, and how often at most (the hub's page, the admin API)."""

    recipients: list[str]
    enabled: bool
    digest_window_minutes: int


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the hub and the admin API show of a usable token: its hint and times, never the token."""

    hint: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    scim_url: str
    token: str
    hint: str


def scim_url(public_url: str, slug: str) -> str:
    return f"{public_url.rstrip('/')}/scim/v2/{slug}"


async def _tenant_id(conn: Connection, slug: str) -> int:
    check_slug(slug)
    tid = await conn.fetchval("SELECT id FROM public.tenant WHERE slug = $1", slug)
    if tid is None:
        raise TenantError(f"no tenant named {slug!r}")
    return int(tid)


async def _issue_token(conn: Connection, tenant_id: int) -> tuple[str, str]:
    token = new_token()
    hint = token_hint(token)
    await conn.execute(
        "INSERT INTO public.tenant_token (tenant_id, digest, hint) VALUES ($1, $2, $3)",
        tenant_id,
        token_digest(token),
        hint,
    )
    return token, hint


async def create_tenant(
    conn: Connection,
    slug: str,
    *,
    public_url: str,
    name: str | None = None,
    notify_emails: Sequence[str] = (),
    migrations: Sequence[Migration] | None = None,
) -> IssuedToken:
    """Create the tenant row, its role and schema, its tables, and a first token (all or nothing)."""
    check_slug(slug)
    emails = rules.check_recipients(notify_emails)
    install_id = await read_install_id(conn)
    migrations = list(migrations) if migrations is not None else load_migrations("migrations.tenant")
    async with conn.transaction():
        try:
            tid = await conn.fetchval(
                "INSERT INTO public.tenant (slug, name, notify_emails) VALUES ($1, $2, $3) RETURNING id",
                slug,
                name or slug,
                emails,
            )
        except asyncpg.UniqueViolationError:
            raise TenantError(f"a tenant named {slug!r} already exists") from None
        role = tenant_role_name(install_id, tid)
        schema = schema_name(tid)
        await conn.execute(f'CREATE ROLE "{role}" NOLOGIN NOINHERIT')
        await conn.execute(f'GRANT "{role}" TO "{app_role_name(install_id)}"')
        await conn.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{role}"')
        token, hint = await _issue_token(conn, tid)
        # Last: from here on the transaction runs as the tenant's role.
        await apply_tenant_migrations(conn, schema, role, migrations)
    return IssuedToken(slug=slug, scim_url=scim_url(public_url, slug), token=token, hint=hint)


MAX_LIST_LIMIT = 1000  # tenants per page of `list_tenants` (the CLI's --limit)


class TenantPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of tenants by slug; `next` is the cursor of the following page (`--after`), None at the end."""

    tenants: list[TenantInfo]
    next: str | None


async def list_tenants(conn: Connection, *, after: str | None = None, limit: int = 100) -> TenantPage:
    """At most `limit` tenants whose slug sorts after `after` (keyset on the unique slug, never OFFSET)."""
    if not 1 <= limit <= MAX_LIST_LIMIT:
        raise rules.SettingRejected(f"--limit must be between 1 and {MAX_LIST_LIMIT}")
    rows = await conn.fetch(
        """SELECT t.id, t.slug, t.name, t.status, t.notify_emails, t.notify_enabled, t.created_at,
                  (SELECT count(*) FROM public.tenant_token k WHERE k.tenant_id = t.id AND k.revoked_at IS NULL
                     AND (k.expires_at IS NULL OR k.expires_at > now())) AS active_tokens
           FROM public.tenant t WHERE $1::text IS NULL OR t.slug > $1 ORDER BY t.slug LIMIT $2""",
        after,
        limit + 1,
    )
    found = [
        TenantInfo(
            id=r["id"],
            slug=r["slug"],
            name=r["name"],
            status=r["status"],
            schema=schema_name(r["id"]),
            notify_emails=list(r["notify_emails"]),
            notify_enabled=r["notify_enabled"],
            created_at=r["created_at"].isoformat(),
            active_tokens=r["active_tokens"],
        )
        for r in rows[:limit]
    ]
    return TenantPage(tenants=found, next=found[-1].slug if len(rows) > limit else None)


async def set_status(conn: Connection, slug: str, status: str) -> None:
    tid = await _tenant_id(conn, slug)
    await conn.execute("UPDATE public.tenant SET status = $2, updated_at = now() WHERE id = $1", tid, status)


async def set_notifications(
    conn: Connection,
    slug: str,
    *,
    emails: Sequence[str] | None = None,
    enabled: bool | None = None,
    window_minutes: int | None = None,
) -> None:
    """Change what is given (None keeps the current value); recipients and window follow `tenancy.rules`."""
    checked = rules.check_recipients(emails) if emails is not None else None
    if window_minutes is not None:
        rules.check_digest_window(window_minutes)
    tid = await _tenant_id(conn, slug)
    await conn.execute(
        """UPDATE public.tenant SET notify_emails = coalesce($2, notify_emails),
               notify_enabled = coalesce($3, notify_enabled),
               digest_window_minutes = coalesce($4, digest_window_minutes), updated_at = now()
           WHERE id = $1""",
        tid,
        checked,
        enabled,
        window_minutes,
    )


async def set_rate_limit(conn: Connection, slug: str, limit: int | None) -> None:
    """The tenant's own request-rate limit (None: the installation's default); `tenancy.rules.check_rate_limit`.
    Web processes see it within the token cache's lifetime (the limit rides on the resolved tenant)."""
    checked = rules.check_rate_limit(limit)
    tid = await _tenant_id(conn, slug)
    await conn.execute("UPDATE public.tenant SET rate_limit = $2, updated_at = now() WHERE id = $1", tid, checked)


async def notification_settings(conn: Connection, tenant_id: int) -> NotificationSettings:
    row = await conn.fetchrow(
        "SELECT notify_emails, notify_enabled, digest_window_minutes FROM public.tenant WHERE id = $1", tenant_id
    )
    if row is None:
        raise TenantError(f"no tenant with id {tenant_id}")
    return NotificationSettings(
        recipients=list(row["notify_emails"]),
        enabled=row["notify_enabled"],
        digest_window_minutes=row["digest_window_minutes"],
    )


async def delete_tenant(conn: Connection, slug: str) -> None:
    """Drop the tenant's schema (all its data), its role and its tokens."""
    tid = await _tenant_id(conn, slug)
    install_id = await read_install_id(conn)
    role = tenant_role_name(install_id, tid)
    async with conn.transaction():
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema_name(tid)}" CASCADE')
        await conn.execute("DELETE FROM public.tenant WHERE id = $1", tid)
        if await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await conn.execute(f'DROP ROLE "{role}"')


async def rotate_token(
    conn: Connection, slug: str, *, public_url: str, keep_old_for: dt.timedelta | None = None
) -> IssuedToken:
    """Issue a new token; the tenant's older tokens expire now, or after `keep_old_for` (at most 7 days)."""
    if keep_old_for is not None:
        rules.check_overlap_duration(keep_old_for)
    tid = await _tenant_id(conn, slug)
    async with conn.transaction():
        await conn.execute(
            """UPDATE public.tenant_token SET expires_at = least(coalesce(expires_at, 'infinity'), now() + $2)
               WHERE tenant_id = $1 AND revoked_at IS NULL""",
            tid,
            keep_old_for or dt.timedelta(0),
        )
        token, hint = await _issue_token(conn, tid)
    return IssuedToken(slug=slug, scim_url=scim_url(public_url, slug), token=token, hint=hint)


async def revoke_tokens(conn: Connection, slug: str) -> int:
    """Revoke every token of the tenant at once; returns how many were still usable."""
    tid = await _tenant_id(conn, slug)
    result = await conn.execute(
        """UPDATE public.tenant_token SET revoked_at = now()
           WHERE tenant_id = $1 AND revoked_at IS NULL""",
        tid,
    )
    return int(result.split()[-1])


async def get_tenant(conn: Connection, slug: str) -> Tenant:
    check_slug(slug)
    tenant = await find_tenant(conn, await read_install_id(conn), slug)
    if tenant is None:
        raise TenantError(f"no tenant named {slug!r}")
    return tenant


async def usable_tokens(conn: Connection, tenant_id: int) -> list[TokenInfo]:
    """Hints and times of the tenant's tokens that still open its URL, newest first."""
    rows = await conn.fetch(
        """SELECT hint, created_at, last_used_at, expires_at FROM public.tenant_token
           WHERE tenant_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
           ORDER BY created_at DESC""",
        tenant_id,
    )
    return [TokenInfo(**r) for r in rows]
