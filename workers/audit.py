"""Audit tasks: decode the payload, call `scimhub.audit.drain` (tested without Celery)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from scimhub import metrics, tasks
from scimhub.audit import drain as audit_drain
from scimhub.events import sequencer
from scimhub.tenancy.db import TRANSIENT_ERRORS, AppDatabase
from workers.celery_app import app, settings
from workers.events import check_webhooks, sequence_and_nudge
from workers.runtime import run


def _counted(job: Callable[[AppDatabase], Awaitable[audit_drain.DrainResult]]) -> int:
    """Run a drain and count what it set aside (`metrics.ACTIVITY_QUARANTINED`), also when some tenant failed."""
    try:
        result = run(job)
    except audit_drain.DrainError as exc:
        _count(exc.result)
        raise
    _count(result)
    return result.moved


def _count(result: audit_drain.DrainResult) -> None:
    if result.quarantined:
        metrics.bump(settings.redis_url, "activity_quarantined_drain", result.quarantined)
    if result.sanitised:
        metrics.bump(settings.redis_url, "activity_sanitised_drain", result.sanitised)
    if result.lag_seconds is not None:
        metrics.put(settings.redis_url, "activity_lag_seconds", result.lag_seconds)


@app.task(
    name=tasks.DRAIN.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=8
)
def drain(**fields: Any) -> int:
    job = tasks.decode(tasks.Drain, fields)
    try:
        moved = _counted(lambda db: _drain(db, job))
    except audit_drain.DrainError:
        # The tenants that failed keep their rows for the next sweep; the others' changes are positioned anyway.
        run(lambda db: _after_drain(db, job))
        raise
    run(lambda db: _after_drain(db, job))
    return moved


async def _drain(db: AppDatabase, job: tasks.Drain) -> audit_drain.DrainResult:
    ids = job.tenant_ids
    if job.full_sweep:  # a page of every tenant: most have nothing, and a probe costs far less than a drain
        ids = await audit_drain.with_outbox_rows(db.pool, db.install_id, ids)
    return await audit_drain.drain_tenants(db.pool, db.install_id, ids)


async def _after_drain(db: AppDatabase, job: tasks.Drain) -> None:
    """The same nudge positions the tenants' change events (#14) and queues their webhooks; a full sweep's page
    positions only where changes wait, and checks which of its tenants' webhooks are due."""
    if not job.full_sweep:
        await sequence_and_nudge(db, job.tenant_ids)
        return
    await sequence_and_nudge(db, await sequencer.with_pending_rows(db.pool, db.install_id, job.tenant_ids))
    await check_webhooks(db, job.tenant_ids)


async def _queue_sweep(db: AppDatabase, *, full: bool) -> int:
    """Queue one `audit.drain` per page of tenants (the full sweep: every tenant, which also positions every
    tenant's changes; the quick one: those the statistics show with outbox rows), and position what the
    statistics show pending. Drains nothing here: its time does not grow with the tenants' backlogs (#16)."""
    queued = await audit_drain.queue_sweep(
        db.pool, db.install_id, full=full, enqueue=lambda ids: tasks.enqueue_drain(app, ids, full_sweep=full)
    )
    if not full:
        await sequence_and_nudge(db, None)
    return queued


@app.task(name=tasks.SWEEP.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def sweep(**fields: Any) -> int:
    """Returns how many tenants were queued for a drain."""
    job = tasks.decode(tasks.Sweep, fields)
    return run(lambda db: _queue_sweep(db, full=job.full))


@app.task(name=tasks.PURGE_ACTIVITY.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def purge() -> int:
    return run(lambda db: audit_drain.purge(db.pool, db.install_id))
