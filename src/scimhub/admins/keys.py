"""Admin API keys: scoped, optionally expiring, shown once and stored as SHA-256 digests.

A key is `sha_` + 43 url-safe characters; the hub keeps its last four characters as a hint. A key works
until it is revoked or its expiry passes; each use records `last_used_at`. What a key may do is its scopes
(`admins.scopes`); keys made before scopes existed have `DEFAULT_SCOPES` (the migration's column default).
"""

from __future__ import annotations

import secrets

import asyncpg

from scimhub.admins import trail
from scimhub.admins.model import OPERATOR, Actor, AdminError, ApiKeyInfo, IssuedApiKey, NotFound, Principal, SignedIn
from scimhub.admins.scopes import DEFAULT_SCOPES, check_scopes
from scimhub.admins.vocabulary import AdminAction, TrailOutcome
from scimhub.tenancy.db import Connection
from scimhub.tenancy.directory import TENANT_COLUMNS, tenant_from_row
from scimhub.tenancy.tokens import token_digest

API_KEY_PREFIX = "sha_"
MAX_EXPIRY_DAYS = 730
MAX_LABEL = 80

# The app login may not read digest columns: public migration m0021's `scimhub_use_admin_api_key` finds the one
# unrevoked, unexpired key whose digest the caller holds, and records its use.
_API_KEY = f"""
SELECT used.id AS key_id, used.label, used.scopes, t.name AS tenant_name, {TENANT_COLUMNS}
FROM public.scimhub_use_admin_api_key($1) used JOIN public.tenant t ON t.id = used.tenant_id
"""  # noqa: S608 - a fixed column list, the digest is a bind parameter
_INFO = "id, hint, label, scopes, created_at, last_used_at, expires_at"


def check_expiry_days(days: int | None) -> int | None:
    if days is not None and (isinstance(days, bool) or not 1 <= days <= MAX_EXPIRY_DAYS):
        raise AdminError(f"a key's expiry must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}, or none")
    return days


async def create_api_key(
    conn: Connection,
    tenant_id: int,
    label: str = "",
    scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES,
    *,
    expires_in_days: int | None = None,
    actor: Actor | None = None,
) -> str:
    """`issue_api_key` for callers that need only the key."""
    issued = await issue_api_key(
        conn, tenant_id, actor or OPERATOR, label=label, scopes=scopes, expires_in_days=expires_in_days
    )
    return issued.key


async def issue_api_key(
    conn: Connection,
    tenant_id: int,
    actor: Actor,
    *,
    label: str,
    scopes: list[str] | tuple[str, ...],
    expires_in_days: int | None = None,
) -> IssuedApiKey:
    """A new key with these scopes (AdminError for unknown ones or none, recorded as refused)."""
    label = label.strip()[:MAX_LABEL]
    try:
        checked = check_scopes(scopes)
        check_expiry_days(expires_in_days)
    except AdminError as exc:
        await trail.record(
            conn,
            tenant_id,
            actor,
            AdminAction.API_KEY_CREATED,
            f"API key not created: {exc}",
            outcome=TrailOutcome.REFUSED,
        )
        raise
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO public.admin_api_key (tenant_id, digest, hint, label, scopes, expires_at)
               VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::int IS NULL THEN NULL
                                                ELSE now() + make_interval(days => $6::int) END)
               RETURNING {_INFO}""",  # noqa: S608 - a fixed column list
            tenant_id,
            token_digest(key),
            "…" + key[-4:],
            label,
            checked,
            expires_in_days,
        )
        assert row is not None  # noqa: S101 - INSERT ... RETURNING returns its row
        info = ApiKeyInfo(**row)
        await trail.record(
            conn,
            tenant_id,
            actor,
            AdminAction.API_KEY_CREATED,
            f"created API key {label or '(no label)'} {info.hint}",
            changes=[
                trail.Change("key", None, f"{label or '(no label)'} {info.hint}"),
                trail.Change("scopes", None, " ".join(checked)),
                trail.Change("expires", None, info.expires_at.isoformat() if info.expires_at else "never"),
            ],
        )
    return IssuedApiKey(key=key, info=info)


async def list_api_keys(conn: Connection, tenant_id: int) -> list[ApiKeyInfo]:
    """The tenant's usable keys (not revoked, not expired), oldest first."""
    rows = await conn.fetch(
        f"SELECT {_INFO} FROM public.admin_api_key WHERE tenant_id = $1 AND revoked_at IS NULL "  # noqa: S608
        "AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at, id",
        tenant_id,
    )
    return [ApiKeyInfo(**r) for r in rows]


async def revoke_api_key(conn: Connection, tenant_id: int, key_id: int, actor: Actor) -> ApiKeyInfo:
    """Revoke one key of the tenant at once; NotFound (recorded as refused) for a key it does not have."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"UPDATE public.admin_api_key SET revoked_at = now() WHERE id = $2 AND tenant_id = $1 "  # noqa: S608
            f"AND revoked_at IS NULL RETURNING {_INFO}",
            tenant_id,
            key_id,
        )
        if row is not None:
            info = ApiKeyInfo(**row)
            await trail.record(
                conn,
                tenant_id,
                actor,
                AdminAction.API_KEY_REVOKED,
                f"revoked API key {info.label or '(no label)'} {info.hint}",
                changes=[trail.Change("key", f"{info.label or '(no label)'} {info.hint}", None)],
            )
            return info
    await trail.record(
        conn,
        tenant_id,
        actor,
        AdminAction.API_KEY_REVOKED,
        f"tried to revoke API key {key_id}, which this tenant does not have (or it is revoked already)",
        outcome=TrailOutcome.REFUSED,
    )
    raise NotFound(f"this tenant has no usable API key {key_id}")


async def find_api_key(conn: Connection, install_id: str, key: str) -> SignedIn | None:
    """The tenant and scopes of a usable key (its last use is recorded), or None."""
    if not key.startswith(API_KEY_PREFIX) or len(key) > 100:
        return None  # not a key: no database round trip
    row: asyncpg.Record | None = await conn.fetchrow(_API_KEY, token_digest(key))
    if row is None:
        return None
    principal = Principal(
        tenant_id=row["id"], api_key_id=row["key_id"], api_key_label=row["label"], scopes=frozenset(row["scopes"])
    )
    return SignedIn(principal=principal, tenant=tenant_from_row(install_id, row), tenant_name=row["tenant_name"])
