"""Audit tasks: a few lines each, calling `scimhub.audit.drain` (tested without Celery)."""

from __future__ import annotations

import asyncpg

from scimhub import metrics
from scimhub.audit import drain as audit_drain
from workers.celery_app import app, settings
from workers.runtime import database, run

TRANSIENT = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


async def _drain(tenant_ids: list[int]) -> int:
    db = await database()
    moved = 0
    lag: float | None = None
    for tenant in await audit_drain.tenants_by_id(db.pool, db.install_id, tenant_ids):
        got = await audit_drain.drain_tenant(db.pool, tenant)
        moved += got.moved
        if got.lag_seconds is not None:
            lag = max(lag or 0.0, got.lag_seconds)
    if lag is not None:
        metrics.put(settings.redis_url, "activity_lag_seconds", lag)
    return moved


@app.task(name="audit.drain", autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=60, max_retries=8)
def drain(tenant_ids: list[int]) -> int:
    return run(_drain([int(t) for t in tenant_ids]))


async def _sweep(full: bool) -> int:
    db = await database()
    return (await audit_drain.sweep(db.pool, db.install_id, full=full)).moved


@app.task(name="audit.sweep", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def sweep(full: bool = False) -> int:
    return run(_sweep(bool(full)))


async def _purge() -> int:
    """Activity entries past each tenant's retention, and expired admin hub sessions."""
    from scimhub.admins import purge_expired_sessions

    db = await database()
    removed = await audit_drain.purge(db.pool, db.install_id)
    async with db.pool.acquire() as conn:
        await purge_expired_sessions(conn)
    return removed


@app.task(name="audit.purge", autoretry_for=TRANSIENT, retry_backoff=True, max_retries=3)
def purge() -> int:
    return run(_purge())
