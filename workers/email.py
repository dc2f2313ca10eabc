"""Email tasks: flush due digests (beat), send one digest (retried only for transient SMTP errors)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid

import asyncpg

from scimhub import metrics
from scimhub.notify import service
from scimhub.notify.digest import build_message
from scimhub.notify.smtp import PermanentMailError, TransientMailError, parse_smtp_url, send
from workers.celery_app import app, settings
from workers.runtime import database, run

log = logging.getLogger("scimhub.email")
TRANSIENT_DB = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError)


async def _flush() -> int:
    db = await database()
    settle = dt.timedelta(seconds=settings.digest_settle_seconds)
    queued = 0
    for tn in await service.notify_settings(db.pool, db.install_id):
        for digest_id in await service.claim_due_digest(db.pool, tn, settle=settle):
            send_digest.apply_async(args=[tn.tenant.id, str(digest_id)], queue="email")
            queued += 1
    return queued


@app.task(name="email.flush_digests", autoretry_for=TRANSIENT_DB, retry_backoff=True, max_retries=3)
def flush_digests() -> int:
    return run(_flush())


def _report_rejection(reason: str) -> None:
    try:
        import sentry_sdk

        sentry_sdk.capture_message(f"notification mail permanently rejected: {reason}", level="warning")
    except ImportError:  # pragma: no cover
        pass


async def _send(tenant_id: int, digest_id: uuid.UUID, *, final_attempt: bool) -> str:
    db = await database()
    found = await service.notify_settings(db.pool, db.install_id, [tenant_id])
    if not found:
        return "tenant gone"
    tn = found[0]
    summary = await service.summarise(db.pool, tn, digest_id, settings.public_url)
    if summary is None:
        return "no such digest"
    if not settings.smtp_url or (summary.kind != "test" and not tn.enabled) or not tn.recipients:
        await service.finish_digest(db.pool, tn.tenant, digest_id, "skipped")
        log.warning(
            "digest not mailed: no SMTP configured, notifications off, or no recipients (tenant %s)", tn.tenant.slug
        )
        return "skipped"
    target = parse_smtp_url(settings.smtp_url)
    done = await service.delivered(db.pool, tn.tenant, digest_id)
    transient: TransientMailError | None = None
    rejected = False
    for recipient in tn.recipients:
        if done.get(recipient) in {"sent", "rejected"}:
            continue  # a redelivered task: this recipient already has (or refused) this digest
        message = build_message(summary, sender=settings.mail_from, recipient=recipient)
        try:
            await asyncio.to_thread(send, target, message, recipient)
        except PermanentMailError as exc:
            rejected = True
            await service.record_delivery(db.pool, tn.tenant, digest_id, recipient, "rejected", exc.reason)
            metrics.bump(settings.redis_url, "mails_failed")
            _report_rejection(exc.reason)
            continue
        except TransientMailError as exc:
            transient = exc
            if final_attempt:
                await service.record_delivery(db.pool, tn.tenant, digest_id, recipient, "failed", exc.reason)
                metrics.bump(settings.redis_url, "mails_failed")
                _report_rejection(f"gave up after retries: {exc.reason}")
            continue
        await service.record_delivery(db.pool, tn.tenant, digest_id, recipient, "sent")
        metrics.bump(settings.redis_url, "mails_sent")
    if transient is not None and not final_attempt:
        raise transient
    await service.finish_digest(db.pool, tn.tenant, digest_id, "partial" if rejected or transient else "sent")
    return "sent"


@app.task(name="email.send_digest", bind=True, max_retries=12, autoretry_for=TRANSIENT_DB, retry_backoff=True)
def send_digest(self, tenant_id: int, digest_id: str) -> str:  # type: ignore[no-untyped-def]
    final = self.request.retries >= self.max_retries
    try:
        return run(_send(int(tenant_id), uuid.UUID(digest_id), final_attempt=final))
    except TransientMailError as exc:
        # 1 s, 2 s, 4 s ... up to 10 minutes between attempts (about 1.5 hours in all).
        raise self.retry(exc=exc, countdown=min(600, 2**self.request.retries)) from None
