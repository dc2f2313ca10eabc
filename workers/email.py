"""Email tasks: decode the payload, call `scimhub.notify` (the rules and the delivery are tested without Celery)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celery import Task

from scimhub import tasks
from scimhub.notify import admin_notice, delivery, service
from scimhub.notify.smtp import TransientMailError
from scimhub.tenancy.db import TRANSIENT_ERRORS
from workers.celery_app import app, settings
from workers.runtime import run


@app.task(name=tasks.FLUSH_DIGESTS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def flush_digests() -> int:
    settle = dt.timedelta(seconds=settings.digest_settle_seconds)
    due = run(lambda db: service.claim_due_digests(db.pool, db.install_id, settle=settle))
    for digest in due:
        tasks.enqueue_digest(app, digest.tenant_id, digest.digest_id)
    return len(due)


@app.task(
    name=tasks.SEND_DIGEST.name,
    bind=True,
    max_retries=delivery.MAX_RETRIES,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
)
def send_digest(self: Task[Any, Any], /, **fields: Any) -> str:
    job = tasks.decode(tasks.SendDigest, fields)
    final = self.request.retries >= delivery.MAX_RETRIES
    try:
        return run(lambda db: delivery.deliver_digest(db, settings, job.tenant_id, job.digest_id, final_attempt=final))
    except TransientMailError as exc:
        raise self.retry(exc=exc, countdown=delivery.retry_delay(self.request.retries)) from None


@app.task(name=tasks.FLUSH_NOTICES.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def flush_admin_notices() -> int:
    due = run(admin_notice.claim_pending)
    for trail_id in due:
        tasks.enqueue_notice(app, trail_id)
    return len(due)


@app.task(
    name=tasks.SEND_NOTICE.name,
    bind=True,
    max_retries=delivery.MAX_RETRIES,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=True,
)
def send_admin_notice(self: Task[Any, Any], /, **fields: Any) -> str:
    job = tasks.decode(tasks.SendNotice, fields)
    final = self.request.retries >= delivery.MAX_RETRIES
    try:
        return run(lambda db: admin_notice.deliver_notice(db, settings, job.trail_id, final_attempt=final))
    except TransientMailError as exc:
        raise self.retry(exc=exc, countdown=delivery.retry_delay(self.request.retries)) from None
