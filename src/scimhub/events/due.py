"""Which tenants' webhooks are due: `public.webhook_due` (public m0071), the one table the beat's webhook sweep
reads (#16), so the sweep costs one indexed read whatever the number of tenants, and queues a delivery only
for tenants with something to send.

A tenant's delivery is due when an enabled endpoint is behind the feed (cursor below `event_feed.last_position`)
and neither waits for a retry (`next_attempt_at`) nor is leased by a live run (`lease_until`), or when an
administrator asked for a redelivery; a disabled endpoint is never due. `next_due` reads that moment from the
tenant's schema (now, a later retry or lease end, or none). The row is kept so:
- raised to now (`mark_due`, `version` + 1) after new events are positioned for a tenant with an enabled
  endpoint (the worker, right after the sequencer's commit), after the CLI's `webhook enable` and
  `redeliver` (the hub and the admin API queue the delivery task themselves), and by `check_tenants` (the
  full sweep's pages: the safety net for a raise lost to a crash, or an endpoint enabled or a redelivery
  asked for while the broker lost its task);
- set by each delivery run (`settle`) to the tenant's next due moment, or removed when nothing is left, only
  if `version` is still what the run read before it looked at the endpoints: a raise committed meanwhile is
  never undone, so an event positioned during a run is delivered by the next one.
Every write is a plain statement of the app login on `public` (tenant ids and times only, no tenant scope).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import asyncpg

from scimhub.tenancy import directory
from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_statement

LIMIT = 1000  # tenants one sweep queues at most (the rest are still due at the next sweep)

# In the tenant's scope: the first moment a delivery run would send something, or NULL. The redelivery
# requests are found through tenant m0071's partial index.
_NEXT_DUE = """SELECT least(
    (SELECT min(greatest(coalesce(w.next_attempt_at, now()), coalesce(w.lease_until, now())))
     FROM webhook_endpoint w, event_feed f WHERE w.enabled AND w.cursor < f.last_position),
    (SELECT now() FROM webhook_delivery WHERE status = 'redelivered' AND attempt = 0 LIMIT 1)) AS due_at"""
_MARK = """INSERT INTO public.webhook_due AS d (tenant_id, due_at)
    SELECT t.id, coalesce($2::timestamptz, now()) FROM public.tenant t WHERE t.id = ANY($1::bigint[])
    ON CONFLICT (tenant_id) DO UPDATE SET due_at = least(d.due_at, excluded.due_at), version = d.version + 1"""
_SETTLE = """INSERT INTO public.webhook_due AS d (tenant_id, due_at)
    SELECT t.id, $2::timestamptz FROM public.tenant t WHERE t.id = $1
    ON CONFLICT (tenant_id) DO UPDATE SET due_at = excluded.due_at WHERE d.version IS NOT DISTINCT FROM $3::bigint"""
_SETTLED = "DELETE FROM public.webhook_due WHERE tenant_id = $1 AND version = $2"
_DUE = "SELECT tenant_id FROM public.webhook_due WHERE due_at <= now() ORDER BY due_at, tenant_id LIMIT $1"


async def next_due(pool: asyncpg.Pool, tenant: Tenant) -> dt.datetime | None:
    """When a delivery run for the tenant would next send something (now or later), or None."""
    async with tenant_statement(pool, tenant) as conn:
        at: dt.datetime | None = await conn.fetchval(_NEXT_DUE)
    return at


async def mark_due(pool: asyncpg.Pool, tenant_ids: Iterable[int], at: dt.datetime | None = None) -> None:
    """These tenants' deliveries are due at `at` (now if None), or earlier if they already were."""
    ids = sorted(set(tenant_ids))
    if ids:
        async with pool.acquire() as conn:
            await mark_due_on(conn, ids, at)


async def mark_due_on(conn: Connection, tenant_ids: Iterable[int], at: dt.datetime | None = None) -> None:
    """`mark_due` on a connection the caller holds, outside a tenant scope (the operator CLI's, after
    `webhook enable` or `redeliver`)."""
    ids = sorted(set(tenant_ids))
    if ids:
        await conn.execute(_MARK, ids, at)


async def version(pool: asyncpg.Pool, tenant_id: int) -> int | None:
    """What a delivery run reads before it looks at the endpoints (None: the tenant has no row)."""
    async with pool.acquire() as conn:
        got: int | None = await conn.fetchval("SELECT version FROM public.webhook_due WHERE tenant_id = $1", tenant_id)
    return got


async def settle(pool: asyncpg.Pool, tenant: Tenant, seen: int | None) -> dt.datetime | None:
    """After a delivery run: the tenant's next due moment (or none), kept unless a raise came in since `seen`."""
    at = await next_due(pool, tenant)
    async with pool.acquire() as conn:
        if at is not None:
            await conn.execute(_SETTLE, tenant.id, at, seen)
        elif seen is not None:
            await conn.execute(_SETTLED, tenant.id, seen)
    return at


async def due_tenants(pool: asyncpg.Pool, *, limit: int = LIMIT) -> list[int]:
    """The tenants whose delivery is due now, longest waiting first (what `webhook.sweep` queues)."""
    async with pool.acquire() as conn:
        return [int(r["tenant_id"]) for r in await conn.fetch(_DUE, limit)]


async def check_tenants(pool: asyncpg.Pool, install_id: str, tenant_ids: Iterable[int]) -> int:
    """The safety net (the full sweep's pages, every tenant once a minute, not only those the statistics
    show with endpoints: statistics can be reset, and under Citus live on the nodes): read the next due moment
    of each of these tenants and raise its row to it. A tenant that cannot be read is marked due now (its
    delivery run then succeeds or fails on its own). Returns how many were marked."""
    async with pool.acquire() as conn:
        tenants = await directory.tenants_by_id(conn, install_id, tenant_ids)
    marked = 0
    for tenant in tenants:
        try:
            at = await next_due(pool, tenant)
        except (asyncpg.PostgresError, OSError):
            at = dt.datetime.now(dt.UTC)
        if at is not None:
            await mark_due(pool, [tenant.id], at)
            marked += 1
    return marked
