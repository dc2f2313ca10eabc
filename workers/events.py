"""Change-event tasks: sequence after the drain, deliver webhooks, sweep, purge (bodies in `scimhub.events`)."""

from __future__ import annotations

from typing import Any

from scimhub import tasks
from scimhub.events import delivery, sequencer
from scimhub.tenancy import directory
from scimhub.tenancy.db import TRANSIENT_ERRORS, AppDatabase
from workers.celery_app import app, settings
from workers.runtime import run


async def sequence_and_nudge(db: AppDatabase, tenant_ids: list[int] | None) -> int:
    """Position these tenants' committed changes (None: those the table statistics show pending) and queue
    the delivery for tenants that got new events. Returns how many events were positioned."""
    positioned, _ = await _sequence_and_nudge(db, tenant_ids)
    return positioned


async def _sequence_and_nudge(db: AppDatabase, tenant_ids: list[int] | None) -> tuple[int, set[int]]:
    """`sequence_and_nudge`; also the tenants whose delivery it queued."""
    if tenant_ids is None:
        tenant_ids = await sequencer.tenants_with_pending_changes(db.pool)
    result = await sequencer.sequence_tenants(db.pool, db.install_id, tenant_ids)
    if not result.tenants:
        return result.positioned, set()
    with_endpoints = set(await delivery.tenants_with_endpoints(db.pool))
    queued = {tenant_id for tenant_id in result.tenants if tenant_id in with_endpoints}
    for tenant_id in sorted(queued):
        tasks.enqueue_webhooks(app, tenant_id)
    return result.positioned, queued


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
    """Position what the drain's nudges missed, then queue one delivery task per tenant that has something due
    (`delivery.due_tenants`: an endpoint behind the feed whose retry time has come and whose lease is free, or
    a requested redelivery), not per tenant with endpoints (#16): idle tenants cost one read and no task, and
    a tenant whose receivers are slow holds up only its own task. Returns how many tenants were queued."""
    _, queued = await _sequence_and_nudge(db, None)
    for tenant_id in await delivery.due_tenants(db.pool, db.install_id):
        if tenant_id not in queued:
            tasks.enqueue_webhooks(app, tenant_id)
            queued.add(tenant_id)
    return len(queued)


@app.task(name=tasks.SWEEP_WEBHOOKS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def sweep() -> int:
    return run(_sweep)


@app.task(name=tasks.PURGE_EVENTS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def purge() -> int:
    return run(lambda db: sequencer.purge(db.pool, db.install_id, settings.event_retention_days))
