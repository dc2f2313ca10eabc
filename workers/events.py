"""Change-event tasks: sequence after the drain, deliver webhooks, sweep, purge (bodies in `scimhub.events`)."""

from __future__ import annotations

from typing import Any

from scimhub import tasks
from scimhub.events import delivery, sequencer
from scimhub.tenancy import directory
from scimhub.tenancy.db import TRANSIENT_ERRORS, AppDatabase
from workers.celery_app import app, settings
from workers.runtime import run


async def sequence_and_nudge(db: AppDatabase, tenant_ids: list[int] | None, *, every: bool = False) -> int:
    """Position these tenants' committed changes (None: those the table statistics show pending, or every
    tenant) and queue the delivery for tenants that got new events."""
    if tenant_ids is None and not every:
        tenant_ids = await sequencer.tenants_with_pending_changes(db.pool)
    result = await sequencer.sequence_tenants(db.pool, db.install_id, tenant_ids)
    with_endpoints = set(await delivery.tenants_with_endpoints(db.pool))
    for tenant_id in result.tenants or []:
        if tenant_id in with_endpoints:
            tasks.enqueue_webhooks(app, tenant_id)
    return result.positioned


async def _deliver(db: AppDatabase, tenant_id: int) -> int:
    async with db.pool.acquire() as conn:
        found = await directory.tenants_by_id(conn, db.install_id, [tenant_id])
    if not found:
        return 0
    result = await delivery.deliver_tenant(db.pool, found[0], settings)
    if result.retry_in is not None:
        tasks.enqueue_webhooks(app, tenant_id, countdown=result.retry_in)
    return result.delivered


@app.task(name=tasks.DELIVER_WEBHOOKS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=5)
def deliver(**fields: Any) -> int:
    job = tasks.decode(tasks.DeliverWebhooks, fields)
    return run(lambda db: _deliver(db, job.tenant_id))


async def _sweep(db: AppDatabase) -> int:
    """Position what the drain's nudges missed, then queue one delivery task per tenant with endpoints: a
    tenant whose receivers are slow (timeouts, DNS) holds up only its own task, never the others' deliveries
    (the sweep once delivered inline and took minutes on a database with many such tenants)."""
    await sequence_and_nudge(db, None)
    tenant_ids = await delivery.tenants_with_endpoints(db.pool)
    for tenant_id in tenant_ids:
        tasks.enqueue_webhooks(app, tenant_id)
    return len(tenant_ids)


@app.task(name=tasks.SWEEP_WEBHOOKS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def sweep() -> int:
    return run(_sweep)


@app.task(name=tasks.PURGE_EVENTS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def purge() -> int:
    return run(lambda db: sequencer.purge(db.pool, db.install_id, settings.event_retention_days))
