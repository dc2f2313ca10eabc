"""Audit tasks: decode the payload, call `scimhub.audit.drain` (tested without Celery)."""

from __future__ import annotations

from typing import Any

from scimhub import metrics, tasks
from scimhub.audit import drain as audit_drain
from scimhub.tenancy.db import TRANSIENT_ERRORS
from workers.celery_app import app, settings
from workers.runtime import run


@app.task(
    name=tasks.DRAIN.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=60, max_retries=8
)
def drain(**fields: Any) -> int:
    job = tasks.decode(tasks.Drain, fields)
    result = run(lambda db: audit_drain.drain_tenants(db.pool, db.install_id, job.tenant_ids))
    if result.lag_seconds is not None:
        metrics.put(settings.redis_url, "activity_lag_seconds", result.lag_seconds)
    return result.moved


@app.task(name=tasks.SWEEP.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def sweep(**fields: Any) -> int:
    job = tasks.decode(tasks.Sweep, fields)
    return run(lambda db: audit_drain.sweep(db.pool, db.install_id, full=job.full)).moved


@app.task(name=tasks.PURGE_ACTIVITY.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def purge() -> int:
    return run(lambda db: audit_drain.purge(db.pool, db.install_id))
