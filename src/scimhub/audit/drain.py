"""Moving outbox rows into the activity log, exactly once, and purging old entries.

One statement per batch deletes the rows from the outbox and inserts them into the log (`ON CONFLICT
(event_id) DO NOTHING`), in one transaction: a batch is either moved completely or not at all, so a worker
killed mid-batch or a redelivered task can neither lose an event nor write one twice. `FOR UPDATE SKIP
LOCKED` lets several workers drain one tenant side by side. The same statement adds the batch's failures to
the tenant's digest bookkeeping.

A batch PostgreSQL refuses for what one of its events holds (a value its column cannot cast, an index row
too large) is moved again row by row where needed (`audit.quarantine.isolate`): the good rows go to the log,
each refused one is logged sanitised and kept as it was in `activity_quarantine`, so a poison row never
blocks the outbox behind it. A tenant whose drain fails otherwise does not stop the others (`drain_tenants`,
`sweep` raise at the end). The beat's sweeps drain nothing themselves: `queue_sweep` pages through the tenants
and queues one bounded drain task per page (#16).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from scimhub.audit.quarantine import isolate, quarantine, refused_by_data
from scimhub.tenancy import directory
from scimhub.tenancy.db import Connection, fetch_one
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.statement_cache import with_limit
from scimhub.tenancy.transaction import tenant_transaction, tenants_with_rows

BATCH = 500

_COLUMNS = (
    "event_id, received_at, duration_ms, request_id, client_ip, user_agent, method, path, operation, "
    "resource_type, resource_id, target, status, outcome, error_type, error_detail, changed, rewrites, "
    "request_body, response_body, repeat, notify"
)
_INTO_LOG = f"""
ins AS (
    INSERT INTO activity_log ({_COLUMNS})
    SELECT r.event_id, r.received_at, r.duration_ms, r.request_id, r.client_ip, r.user_agent, r.method, r.path,
           r.operation, r.resource_type, r.resource_id, r.target, r.status, r.outcome, r.error_type,
           r.error_detail, coalesce(r.changed, '{{}}'), coalesce(r.rewrites, '{{}}'), r.request_body,
           r.response_body, coalesce(r.repeat, 1), coalesce(r.notify, false)
    FROM batch, jsonb_populate_record(NULL::activity_log, batch.event) AS r
    ON CONFLICT (event_id) DO NOTHING
    RETURNING status, notify, repeat, received_at, outcome
), hourly AS (
    INSERT INTO activity_hourly (hour, outcome, n)
    SELECT date_trunc('hour', received_at), outcome, sum(repeat) FROM ins GROUP BY 1, 2
    ON CONFLICT (hour, outcome) DO UPDATE SET n = activity_hourly.n + excluded.n
    RETURNING 1
), failures AS (
    SELECT count(*) FILTER (WHERE notify AND status <> 401) AS n,
           coalesce(sum(repeat) FILTER (WHERE notify AND status = 401), 0) AS auth,
           min(received_at) FILTER (WHERE notify) AS first_at,
           max(received_at) FILTER (WHERE notify) AS last_at
    FROM ins
), noted AS (
    UPDATE notify_state SET
        pending_failures = pending_failures + f.n,
        pending_auth_failures = pending_auth_failures + f.auth,
        first_failure_at = coalesce(first_failure_at, f.first_at),
        last_failure_at = greatest(last_failure_at, f.last_at)
    FROM failures f WHERE f.n > 0 OR f.auth > 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM batch) AS moved, (SELECT count(*) FROM ins) AS inserted,
       (SELECT n + auth FROM failures) AS failures,
       (SELECT extract(epoch FROM max(clock_timestamp() - received_at)) FROM ins) AS lag
"""
# From the outbox (writes' events, committed with the change): moved and deleted in one statement.
_DRAIN = (
    """
WITH batch AS (
    DELETE FROM audit_outbox
    WHERE seq IN (SELECT seq FROM audit_outbox ORDER BY seq LIMIT {limit} FOR UPDATE SKIP LOCKED)
    RETURNING event
), """
    + _INTO_LOG
)
# The same for given outbox rows (the refused-batch path, which has locked and split the batch first).
_DRAIN_ROWS = (
    """
WITH batch AS (DELETE FROM audit_outbox WHERE seq = ANY($1::bigint[]) RETURNING event), """
    + _INTO_LOG
)
_LOCK_BATCH = "SELECT seq, event::text AS event FROM audit_outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
# Straight from the web process's buffer (reads, rejected requests): the same insert and bookkeeping, without
# the detour through the outbox, since these events belong to no transaction. The batch is unnested from behind
# `OFFSET 0`, so a custom plan estimates its size as the generic plan does and PostgreSQL keeps the generic one
# (with the array in sight it planned ~85% of the flushes again, ~0.4 ms each, issue #13).
INSERT_EVENTS = (
    "WITH batch AS (SELECT e::jsonb AS event "
    "FROM (SELECT $1::text[] AS texts OFFSET 0) AS a CROSS JOIN unnest(a.texts) AS e), " + _INTO_LOG
)


@dataclass
class DrainResult:
    moved: int = 0
    inserted: int = 0
    failures: int = 0
    lag_seconds: float | None = None  # the oldest moved event's age when it was moved
    quarantined: int = 0  # outbox rows PostgreSQL refused as they were (kept in activity_quarantine)
    sanitised: int = 0  # of those, logged in sanitised form

    def add(self, other: DrainResult) -> None:
        self.moved += other.moved
        self.inserted += other.inserted
        self.failures += other.failures
        self.quarantined += other.quarantined
        self.sanitised += other.sanitised
        if other.lag_seconds is not None:
            self.lag_seconds = max(self.lag_seconds or 0.0, other.lag_seconds)

    def add_row(self, row: asyncpg.Record) -> None:
        """The counts one `_DRAIN`-shaped statement returned."""
        self.add(
            DrainResult(
                moved=row["moved"],
                inserted=row["inserted"],
                failures=row["failures"] or 0,
                lag_seconds=float(row["lag"]) if row["lag"] is not None else None,
            )
        )


async def _log_events(conn: Connection, events: Sequence[bytes]) -> None:
    # What `audit.outbox.log_encoded` does (that module imports this one, so it cannot be imported here).
    await conn.execute(INSERT_EVENTS, [e.decode() for e in events])


async def _drain_refused_batch(conn: Connection, batch: int) -> DrainResult:
    """A batch the one-statement drain could not move: lock it, move what PostgreSQL takes, quarantine the rest."""
    result = DrainResult()
    rows = await conn.fetch(_LOCK_BATCH, batch)

    async def move(c: Connection, part: Sequence[asyncpg.Record]) -> None:
        result.add_row(await fetch_one(c, _DRAIN_ROWS, [r["seq"] for r in part]))

    refused = await isolate(conn, rows, move)
    if refused:
        await conn.execute("DELETE FROM audit_outbox WHERE seq = ANY($1::bigint[])", [r["seq"] for r, _ in refused])
        originals = [(r["event"].encode(), exc) for r, exc in refused]
        done = await quarantine(conn, originals, stage="drain", log=_log_events)
        result.moved += len(refused)
        result.quarantined += done.quarantined
        result.sanitised += done.sanitised
    return result


async def drain_tenant(
    pool: asyncpg.Pool, tenant: Tenant, *, batch: int = BATCH, max_batches: int = 200
) -> DrainResult:
    """Move the tenant's outbox into its activity log, batch by batch, until the outbox is empty."""
    result = DrainResult()
    for _ in range(max_batches):
        try:
            async with tenant_transaction(pool, tenant) as conn:
                got = DrainResult()
                got.add_row(await fetch_one(conn, with_limit(_DRAIN, batch)))
        except Exception as exc:
            if not refused_by_data(exc):
                raise
            async with tenant_transaction(pool, tenant) as conn:
                got = await _drain_refused_batch(conn, batch)
        result.add(got)
        if got.moved < batch:
            break
    return result


class DrainError(Exception):
    """Some tenants could not be drained; the others were (`result`). Carries the first error as its cause."""

    def __init__(self, message: str, result: DrainResult) -> None:
        super().__init__(message)
        self.result = result


async def drain_tenants(pool: asyncpg.Pool, install_id: str, tenant_ids: Iterable[int]) -> DrainResult:
    """Drain these tenants (the after-commit nudge names them); ids of deleted tenants are skipped. One
    tenant's failure does not stop the others: DrainError at the end (the sweep retries that tenant)."""
    total = DrainResult()
    failed: list[tuple[str, BaseException]] = []
    for tenant in await _tenants(pool, install_id, tenant_ids):
        try:
            total.add(await drain_tenant(pool, tenant))
        except (asyncpg.PostgresError, OSError) as exc:
            failed.append((tenant.slug, exc))
    if failed:
        slugs = ", ".join(slug for slug, _ in failed[:10])
        raise DrainError(f"{len(failed)} tenant(s) could not be drained: {slugs}", total) from failed[0][1]
    return total


async def with_outbox_rows(pool: asyncpg.Pool, install_id: str, tenant_ids: Iterable[int]) -> list[int]:
    """Of these tenants, those whose outbox holds a committed row now (`tenancy.transaction.tenants_with_rows`):
    a full sweep's page drains only where there is something; a row committed just after its probe is the
    nudge's or the next sweep's."""
    return await tenants_with_rows(pool, install_id, tenant_ids, "audit_outbox")


async def _tenants(pool: asyncpg.Pool, install_id: str, ids: Iterable[int] | None) -> list[Tenant]:
    async with pool.acquire() as conn:
        return await directory.tenants_by_id(conn, install_id, ids)


async def tenants_with_pending_outbox(pool: asyncpg.Pool, install_id: str) -> list[Tenant]:
    """A cheap hint from PostgreSQL's table statistics: schemas whose outbox has live rows. Statistics can be
    reset or lag, so a periodic full sweep (`full=True`) stays the safety net."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT schemaname FROM pg_catalog.pg_stat_user_tables
               WHERE relname = 'audit_outbox' AND n_live_tup > 0 AND schemaname LIKE 't\\_%'"""
        )
    ids = [int(r["schemaname"][2:]) for r in rows if r["schemaname"][2:].isdigit()]
    return await _tenants(pool, install_id, ids) if ids else []


class SweepError(DrainError):
    """A sweep's DrainError (its name kept for callers and tests that expect a sweep's failure)."""


SWEEP_PAGE = 100  # tenants per drain task a sweep queues (each task's work is bounded by it, not by the total)


async def sweep_pages(
    pool: asyncpg.Pool, install_id: str, *, full: bool, page: int = SWEEP_PAGE
) -> AsyncIterator[list[Tenant]]:
    """The tenants a sweep visits, at most `page` at a time, by id. A full sweep walks every tenant in keyset
    pages (`directory.tenant_pages`: a connection only while a page is read); a quick one the tenants the
    statistics name, in pages of the same size."""
    if full:
        async for found in directory.tenant_pages(pool, install_id, page=page):
            yield found
        return
    named = await tenants_with_pending_outbox(pool, install_id)
    for start in range(0, len(named), page):
        yield named[start : start + page]


async def queue_sweep(
    pool: asyncpg.Pool,
    install_id: str,
    *,
    full: bool,
    enqueue: Callable[[list[int]], None],
    page: int = SWEEP_PAGE,
) -> int:
    """What the beat's sweep does (#16): page through the tenants and hand each page to `enqueue` (the worker
    queues one `audit.drain` task per page), without draining anything itself, so the sweep's own time is a
    keyset read and a publish per page whatever the number of tenants, and each drain task's work is bounded
    by its page. Nothing is lost by a drain task that fails or is killed: its rows stay in the outboxes, its
    message is redelivered (late acks) or, if the broker lost it, the next sweep queues the page again.
    Returns how many tenants were queued."""
    queued = 0
    async for found in sweep_pages(pool, install_id, full=full, page=page):
        if found:
            enqueue([t.id for t in found])
            queued += len(found)
    return queued


async def sweep(pool: asyncpg.Pool, install_id: str, *, full: bool) -> DrainResult:
    """Drain every tenant with pending events here, page by page (tests and operators; the beat's sweep queues
    the pages instead: `queue_sweep`). One tenant's failure does not stop the others: the sweep goes on and
    raises SweepError at the end, so the failure is reported and retried."""
    total = DrainResult()
    failed: list[tuple[str, BaseException]] = []
    async for page in sweep_pages(pool, install_id, full=full):
        for tenant in page:
            try:
                got = await drain_tenant(pool, tenant)
            except (asyncpg.PostgresError, OSError) as exc:
                failed.append((tenant.slug, exc))
                continue
            total.add(got)
    if failed:
        slugs = ", ".join(slug for slug, _ in failed[:10])
        raise SweepError(f"{len(failed)} tenant(s) could not be drained: {slugs}", total) from failed[0][1]
    return total


async def purge_tenant(pool: asyncpg.Pool, tenant: Tenant, retention_days: int, *, chunk: int = 10_000) -> int:
    """Delete activity entries older than the tenant's retention, in chunks (short transactions)."""
    removed = 0
    while True:
        async with tenant_transaction(pool, tenant) as conn:
            result = await conn.execute(
                """DELETE FROM activity_log WHERE event_id IN (
                       SELECT event_id FROM activity_log WHERE received_at < now() - make_interval(days => $1)
                       LIMIT $2)""",
                retention_days,
                chunk,
            )
        n = int(result.split()[-1])
        removed += n
        if n < chunk:
            async with tenant_transaction(pool, tenant) as conn:
                await conn.execute(
                    "DELETE FROM activity_hourly WHERE hour < date_trunc('hour', now() - make_interval(days => $1))",
                    retention_days,
                )
                await conn.execute(
                    "DELETE FROM activity_quarantine WHERE quarantined_at < now() - make_interval(days => $1)",
                    retention_days,
                )
            return removed


async def purge(pool: asyncpg.Pool, install_id: str) -> int:
    """Purge every tenant, walking them a page at a time (`directory.tenant_pages`)."""
    removed = 0
    async for page in directory.tenant_pages(pool, install_id):
        async with pool.acquire() as conn:
            retention = {
                r["id"]: r["retention_days"]
                for r in await conn.fetch(
                    "SELECT id, retention_days FROM public.tenant WHERE id = ANY($1::bigint[])", [t.id for t in page]
                )
            }
        for tenant in page:
            removed += await purge_tenant(pool, tenant, retention.get(tenant.id, 90))
    return removed
