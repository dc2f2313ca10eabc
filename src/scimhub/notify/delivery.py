"""Mailing one claimed digest to its tenant's recipients: what the `email.send_digest` task does, tested
without Celery (tests/integration/test_delivery.py calls `deliver_digest` against an aiosmtpd server).

What a caller can rely on:
- no recipient gets a digest twice: each attempt's result is recorded per (digest, recipient), and a
  redelivered or retried call skips recipients that have it ('sent') or refused it ('rejected');
- a permanent SMTP error (5xx) is recorded as 'rejected' for that recipient, reported to Sentry (the reply
  code only), and never retried;
- a transient one (4xx, connection refused or dropped) does not stop the other recipients; then
  `TransientMailError` is raised so the caller retries after `retry_delay(attempt)`; on the final attempt the
  recipient is recorded as 'failed' instead and the digest finishes as 'partial';
- with no SMTP configured, notifications switched off (a test digest still goes out) or no recipients, the
  digest is marked 'skipped' and nothing is mailed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from enum import StrEnum

from scimhub import metrics
from scimhub.notify import service
from scimhub.notify.digest import build_message
from scimhub.notify.service import DigestStatus, RecipientStatus
from scimhub.notify.smtp import PermanentMailError, TransientMailError, parse_smtp_url, send
from scimhub.observability import report_warning
from scimhub.settings import Settings
from scimhub.tenancy.db import AppDatabase

log = logging.getLogger("scimhub.email")

# Retries of a digest whose SMTP server keeps failing transiently: 1 s, 2 s, 4 s ... 512 s, then 10 minutes
# seven times: 5,223 s (about 1.5 h, as the README promises) before the recipients still missing are recorded
# as 'failed'. An SMTP relay down for maintenance or greylisting for an hour still gets the mail.
MAX_RETRIES = 17


def retry_delay(retries_so_far: int) -> int:
    """Seconds to wait before the next attempt, after `retries_so_far` retries."""
    return int(min(600, 2**retries_so_far))


class DeliveryOutcome(StrEnum):
    SENT = "sent"  # every recipient was tried; the digest is 'sent' or 'partial'
    SKIPPED = "skipped"
    TENANT_GONE = "tenant gone"
    NO_SUCH_DIGEST = "no such digest"


async def deliver_digest(
    db: AppDatabase, settings: Settings, tenant_id: int, digest_id: uuid.UUID, *, final_attempt: bool
) -> DeliveryOutcome:
    """Mail the digest to every recipient that does not have it yet. Raises TransientMailError (after trying
    every recipient) when one failed transiently and this is not the final attempt."""
    found = await service.notify_settings(db.pool, db.install_id, [tenant_id])
    if not found:
        return DeliveryOutcome.TENANT_GONE
    tn = found[0]
    summary = await service.summarise(db.pool, tn, digest_id, settings.public_url)
    if summary is None:
        return DeliveryOutcome.NO_SUCH_DIGEST
    if not settings.smtp_url or (summary.kind != "test" and not tn.enabled) or not tn.recipients:
        await service.finish_digest(db.pool, tn.tenant, digest_id, DigestStatus.SKIPPED)
        log.warning(
            "digest not mailed: no SMTP configured, notifications off, or no recipients (tenant %s)", tn.tenant.slug
        )
        return DeliveryOutcome.SKIPPED
    target = parse_smtp_url(settings.smtp_url)
    done = await service.delivered(db.pool, tn.tenant, digest_id)
    transient: TransientMailError | None = None
    # A redelivered task must not turn a partial digest into a sent one: earlier refusals count.
    rejected = any(done.get(r) == RecipientStatus.REJECTED for r in tn.recipients)
    for recipient in tn.recipients:
        if done.get(recipient) in {RecipientStatus.SENT, RecipientStatus.REJECTED}:
            continue  # a redelivered task: this recipient already has (or refused) this digest
        message = build_message(summary, sender=settings.mail_from, recipient=recipient)
        try:
            await asyncio.to_thread(send, target, message, recipient)
        except PermanentMailError as exc:
            rejected = True
            await service.record_delivery(
                db.pool, tn.tenant, digest_id, recipient, RecipientStatus.REJECTED, exc.reason
            )
            metrics.bump(settings.redis_url, "mails_failed")
            report_warning(f"notification mail permanently rejected: {exc.reason}")
            continue
        except TransientMailError as exc:
            transient = exc
            if final_attempt:
                await service.record_delivery(
                    db.pool, tn.tenant, digest_id, recipient, RecipientStatus.FAILED, exc.reason
                )
                metrics.bump(settings.redis_url, "mails_failed")
                report_warning(f"notification mail permanently rejected: gave up after retries: {exc.reason}")
            continue
        await service.record_delivery(db.pool, tn.tenant, digest_id, recipient, RecipientStatus.SENT)
        metrics.bump(settings.redis_url, "mails_sent")
    if transient is not None and not final_attempt:
        raise transient
    status = DigestStatus.PARTIAL if rejected or transient else DigestStatus.SENT
    await service.finish_digest(db.pool, tn.tenant, digest_id, status)
    return DeliveryOutcome.SENT
