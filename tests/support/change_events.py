"""Change events for tests: position a tenant's pending changes now, read its whole feed."""

from __future__ import annotations

from typing import Any

import asyncpg

from scimhub.events import feed, sequencer
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction


async def sequence(pool: asyncpg.Pool, tenant: Tenant) -> int:
    return (await sequencer.sequence_tenant(pool, tenant)).positioned


async def read_all(pool: asyncpg.Pool, tenant: Tenant, after: str | None = None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = after
    while True:
        async with tenant_transaction(pool, tenant) as conn:
            page = await feed.read_feed(conn, tenant.slug, cursor, 500)
        out += [feed.event_json(e) for e in page.events]
        cursor = page.cursor
        if not page.has_more:
            return out
