"""The host application's read API use cases: a tenant's users, groups and memberships, paged, optionally
"changed since" a time, each one transaction. Cursors are opaque strings (`encode_cursor`)."""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec

from scimhub.store import host_reads
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction

MAX_LIMIT = 500


class ReadRejected(ValueError):
    """A parameter the read API cannot use (400); the message says what to send."""


class Page(msgspec.Struct, frozen=True, kw_only=True):
    resources: list[dict[str, Any]]
    next_cursor: str | None


def _encode(key: tuple[dt.datetime, uuid.UUID] | None) -> str | None:
    if key is None:
        return None
    return base64.urlsafe_b64encode(f"{key[0].isoformat()}|{key[1]}".encode()).decode().rstrip("=")


def _decode(raw: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    if not raw:
        return None
    try:
        when, _, rid = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode().partition("|")
        parsed = dt.datetime.fromisoformat(when)
        if parsed.tzinfo is None:
            raise ValueError(when)
        return parsed, uuid.UUID(rid)
    except (ValueError, UnicodeDecodeError):
        raise ReadRejected("cursor is not one this API returned (pass next_cursor as it came)") from None


def parse_since(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ReadRejected(
            "changed_since must be an ISO 8601 time with a time zone, e.g. 2026-01-31T12:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ReadRejected("changed_since needs a time zone (e.g. a trailing Z)")
    return parsed


def _limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise ReadRejected(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


async def list_resources(
    pool: asyncpg.Pool, tenant: Tenant, rtype: str, *, changed_since: str | None, cursor: str | None, limit: int
) -> Page:
    since, after, n = parse_since(changed_since), _decode(cursor), _limit(limit)
    async with tenant_transaction(pool, tenant) as conn:
        items, last = await host_reads.resources_page(conn, rtype, changed_since=since, after=after, limit=n)
    return Page(resources=items, next_cursor=_encode(last))


async def get_resource(pool: asyncpg.Pool, tenant: Tenant, rtype: str, rid: uuid.UUID) -> dict[str, Any] | None:
    async with tenant_transaction(pool, tenant) as conn:
        return await host_reads.resource(conn, rtype, rid)


async def list_members(
    pool: asyncpg.Pool, tenant: Tenant, gid: uuid.UUID, *, cursor: str | None, limit: int
) -> Page | None:
    """None when the group does not exist."""
    try:
        after = uuid.UUID(cursor) if cursor else None
    except ValueError:
        raise ReadRejected("cursor is not one this API returned (pass next_cursor as it came)") from None
    n = _limit(limit)
    async with tenant_transaction(pool, tenant) as conn:
        if await host_reads.resource(conn, "Group", gid) is None:
            return None
        items, last = await host_reads.members_page(conn, gid, after=after, limit=n)
    return Page(resources=items, next_cursor=str(last) if last else None)
