"""Change-event tasks: sequence after the drain, deliver webhooks, sweep, purge (bodies in `scimhub.events`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scimhub import tasks
from scimhub.events import delivery, due, sequencer
from scimhub.tenancy import directory
from scimhub.tenancy.db import TRANSIENT_ERRORS, AppDatabase
from workers.celery_app import app, settings
from workers.runtime import run


async def sequence_and_nudge(db: AppDatabase, tenant_ids: list[int] | None) -> int:
    """Position these tenants' committed changes (None: those the table statistics show pending) and queue
    the delivery for tenants that got new events. Returns how many events were positioned."""
    positioned, _ = await _sequence_and_nudge(db, tenant_ids)
    return positioned


def _enqueue(tenant_id: int) -> None:
    tasks.enqueue_webhooks(app, tenant_id)


async def _sequence_and_nudge(
    db: AppDatabase, tenant_ids: list[int] | None, enqueue: Callable[[int], None] = _enqueue
) -> tuple[int, set[int]]:
    """`sequence_and_nudge`; also the tenants whose delivery it queued: those that got new events and have
    an enabled endpoint (the sequencer's own statement says so). Their `webhook_due` rows are raised first,
    so a publish the broker loses is made up by the next sweep."""
    if tenant_ids is None:
        tenant_ids = await sequencer.tenants_with_pending_changes(db.pool)
    try:
        result = await sequencer.sequence_tenants(db.pool, db.install_id, tenant_ids)
    except sequencer.SequenceError as exc:
        await _nudge(db, set(exc.result.due), enqueue)
        raise
    queued = set(result.due)
    await _nudge(db, queued, enqueue)
    return result.positioned, queued


async def _nudge(db: AppDatabase, tenant_ids: set[int], enqueue: Callable[[int], None] = _enqueue) -> None:
    await due.mark_due(db.pool, tenant_ids)
    for tenant_id in sorted(tenant_ids):
        enqueue(tenant_id)


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


async def _sweep(
    db: AppDatabase, *, enqueue: Callable[[int], None] = _enqueue, pending: list[int] | None = None
) -> int:
    """Position what the drain's nudges missed (`pending`, None: what the statistics show), then queue one
    delivery task per tenant whose `webhook_due` row says it is due (`due.due_tenants`: one indexed read of
    `public`, not one per tenant schema; #16). A tenant whose endpoints are caught up, wait for a retry, are
    leased by a live run or are disabled has no due row and costs nothing; a tenant whose receivers are slow
    holds up only its own task, and a tenant whose changes cannot be positioned only its own feed: the due
    tenants are queued all the same, then its SequenceError is raised (reported). Returns how many tenants
    were queued."""
    failed: sequencer.SequenceError | None = None
    try:
        _, queued = await _sequence_and_nudge(db, pending, enqueue)
    except sequencer.SequenceError as exc:
        failed, queued = exc, set(exc.result.due)
    for tenant_id in await due.due_tenants(db.pool):
        if tenant_id not in queued:
            enqueue(tenant_id)
            queued.add(tenant_id)
    if failed is not None:
        raise failed
    return len(queued)


async def check_webhooks(db: AppDatabase, tenant_ids: list[int]) -> int:
    """The full sweep's safety net for `webhook_due` (a raise lost to a crash, an endpoint enabled or a
    redelivery asked for while the broker lost its task): these tenants' next due moments, read from their
    schemas."""
    return await due.check_tenants(db.pool, db.install_id, tenant_ids)


@app.task(name=tasks.SWEEP_WEBHOOKS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def sweep() -> int:
    return run(_sweep)


@app.task(name=tasks.PURGE_EVENTS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def purge() -> int:
    return run(lambda db: sequencer.purge(db.pool, db.install_id, settings.event_retention_days))
