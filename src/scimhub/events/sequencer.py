"""Giving committed changes their per-tenant positions: `event_pending` -> `event_log`.

The ordering guarantee: a reader that has seen position p has seen every event positioned below p, and
never sees an event appear later below a position it has read. How: positions are handed out only to
committed pending rows (a row is visible to the sequencer only once its write committed), and only while the
tenant's advisory lock is held (`pg_advisory_xact_lock(_LOCK_CLASS, tenant id)`, taken by a statement of its
own before the batch is read, so the batch's snapshot sees everything the previous holder committed). Moving
the batch, numbering it and raising `event_feed.last_position` are one statement in that transaction, which
commits before the lock is released: the next sequencer numbers after it, and a reader's snapshot that holds
the later batch holds the earlier one too. Changes of one resource keep their order: a later write waits on
the earlier one's row lock, so its pending row has a larger `seq` and is never visible before the earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg

from scimhub.tenancy import directory
from scimhub.tenancy.db import fetch_one
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.statement_cache import with_limit
from scimhub.tenancy.transaction import tenant_transaction, tenants_with_rows

BATCH = 500
_LOCK_CLASS = 0x5C14  # the advisory lock's first key; the tenant id is the second
_LOCK = "SELECT pg_advisory_xact_lock($1, $2)"
_SEQUENCE = """
WITH batch AS (
    DELETE FROM event_pending WHERE seq IN (SELECT seq FROM event_pending ORDER BY seq LIMIT {limit})
    RETURNING seq, change
), items AS (
    SELECT row_number() OVER (ORDER BY b.seq, e.ord) AS n, b.change, e.item
    FROM batch b, jsonb_array_elements(b.change -> 'events') WITH ORDINALITY AS e(item, ord)
), feed AS (
    SELECT last_position FROM event_feed
), ins AS (
    INSERT INTO event_log (position, event_id, type, resource_type, resource_id, occurred_at, request_id, data)
    SELECT feed.last_position + i.n, gen_random_uuid(), i.item ->> 'type', i.item ->> 'resource_type',
           i.item ->> 'resource_id', (i.change ->> 'occurred_at')::timestamptz, i.change ->> 'request_id',
           coalesce(i.item -> 'data', '{}'::jsonb)
    FROM items i, feed
    RETURNING position
), bumped AS (
    UPDATE event_feed SET last_position = last_position + (SELECT count(*) FROM items)
    WHERE (SELECT count(*) FROM items) > 0
    RETURNING last_position
)
SELECT (SELECT count(*) FROM batch) AS moved, (SELECT count(*) FROM ins) AS positioned,
       (SELECT last_position FROM bumped) AS last_position,
       EXISTS (SELECT 1 FROM webhook_endpoint WHERE enabled) AS webhooks
"""


@dataclass
class SequenceResult:
    moved: int = 0  # pending rows (requests)
    positioned: int = 0  # events
    tenants: list[int] | None = None  # tenants that got new events
    due: list[int] = field(default_factory=list)  # of those, the ones with an enabled webhook endpoint

    def add(self, other: SequenceResult) -> None:
        self.moved += other.moved
        self.positioned += other.positioned
        if other.tenants:
            self.tenants = (self.tenants or []) + other.tenants
        self.due += other.due


async def sequence_tenant(
    pool: asyncpg.Pool, tenant: Tenant, *, batch: int = BATCH, max_batches: int = 200
) -> SequenceResult:
    """Position the tenant's committed pending changes, batch by batch, until none is left."""
    result = SequenceResult()
    webhooks = False
    for _ in range(max_batches):
        async with tenant_transaction(pool, tenant) as conn:
            await conn.execute(_LOCK, _LOCK_CLASS, tenant.id)
            row = await fetch_one(conn, with_limit(_SEQUENCE, batch))
        result.moved += row["moved"]
        result.positioned += row["positioned"]
        webhooks = webhooks or (row["webhooks"] and row["positioned"] > 0)
        if row["moved"] < batch:
            break
    if result.positioned:
        result.tenants = [tenant.id]
    if webhooks:
        result.due = [tenant.id]
    return result


class SequenceError(Exception):
    def __init__(self, message: str, result: SequenceResult) -> None:
        super().__init__(message)
        self.result = result


async def sequence_tenants(pool: asyncpg.Pool, install_id: str, tenant_ids: Iterable[int] | None) -> SequenceResult:
    """These tenants (None: every tenant); one tenant's failure does not stop the others (SequenceError at
    the end)."""
    async with pool.acquire() as conn:
        tenants = await directory.tenants_by_id(conn, install_id, tenant_ids)
    total = SequenceResult()
    failed: list[tuple[str, BaseException]] = []
    for tenant in tenants:
        try:
            total.add(await sequence_tenant(pool, tenant))
        except (asyncpg.PostgresError, OSError) as exc:
            failed.append((tenant.slug, exc))
    if failed:
        slugs = ", ".join(slug for slug, _ in failed[:10])
        raise SequenceError(f"{len(failed)} tenant(s) could not be sequenced: {slugs}", total) from failed[0][1]
    return total


async def with_pending_rows(pool: asyncpg.Pool, install_id: str, tenant_ids: Iterable[int]) -> list[int]:
    """Of these tenants, those with committed pending changes now: what a full sweep's page sequences
    (`tenancy.transaction.tenants_with_rows`)."""
    return await tenants_with_rows(pool, install_id, tenant_ids, "event_pending")


async def tenants_with_pending_changes(pool: asyncpg.Pool) -> list[int]:
    """A cheap hint from the table statistics (the full sweep is the safety net, as for the activity drain)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT schemaname FROM pg_catalog.pg_stat_user_tables
               WHERE relname = 'event_pending' AND n_live_tup > 0 AND schemaname LIKE 't\\_%'"""
        )
    return [int(r["schemaname"][2:]) for r in rows if r["schemaname"][2:].isdigit()]


async def purge_tenant(pool: asyncpg.Pool, tenant: Tenant, retention_days: int, *, chunk: int = 10_000) -> int:
    """Delete events positioned longer ago than the retention, oldest first, and remember the highest position
    removed (`event_feed.purged_through`: a cursor below it is expired)."""
    removed = 0
    while True:
        async with tenant_transaction(pool, tenant) as conn:
            row = await fetch_one(
                conn,
                """WITH gone AS (
                       DELETE FROM event_log WHERE position IN (
                           SELECT position FROM event_log
                           WHERE positioned_at < now() - make_interval(days => $1) ORDER BY position LIMIT $2)
                       RETURNING position),
                   noted AS (UPDATE event_feed
                             SET purged_through = greatest(purged_through, (SELECT max(position) FROM gone))
                             WHERE EXISTS (SELECT 1 FROM gone) RETURNING 1)
                   SELECT count(*) AS n FROM gone""",
                retention_days,
                chunk,
            )
        removed += int(row["n"])
        if row["n"] < chunk:
            return removed


async def purge(pool: asyncpg.Pool, install_id: str, retention_days: int) -> int:
    async with pool.acquire() as conn:
        tenants = await directory.tenants_by_id(conn, install_id, None)
    return sum([await purge_tenant(pool, t, retention_days) for t in tenants])
