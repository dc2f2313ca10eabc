"""Mailing one security notice (an admin trail entry) to the tenant's administrators: what the
`email.send_admin_notice` task does, tested without Celery. The same delivery rules as failure digests
(`notify.delivery`): results recorded per (entry, recipient), so a redelivered task mails nobody twice; a
permanent SMTP error is recorded as rejected and never retried; a transient one does not stop the other
recipients, raises `TransientMailError` for a retry after `retry_delay`, and after the last one the recipient
is recorded as failed. The mail names the action, who, when, from where and what changed: never a secret
(the trail holds none).
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import jinja2

from scimhub import metrics
from scimhub.admins import notices
from scimhub.notify.delivery import DeliveryOutcome
from scimhub.notify.smtp import PermanentMailError, TransientMailError, parse_smtp_url, send
from scimhub.observability import report_warning
from scimhub.settings import Settings
from scimhub.tenancy.db import AppDatabase

log = logging.getLogger("scimhub.email")
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates" / "email"),
    autoescape=False,  # noqa: S701 - plain text
    trim_blocks=True,
    keep_trailing_newline=True,
)


def build_message(notice: notices.Notice, *, public_url: str, sender: str, recipient: str) -> EmailMessage:
    e = notice.entry
    message = EmailMessage()
    message["Subject"] = f"[scimhub] {notice.tenant_name}: {e.action_label} by {e.actor}"
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(idstring=f"trail{notice.trail_id}", domain="scimhub")
    message["X-Scimhub-Tenant"] = notice.tenant_slug
    message["X-Scimhub-Action"] = e.action
    message.set_content(
        _env.get_template("admin_notice.txt").render(
            n=notice,
            e=e,
            at=e.at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            link=f"{public_url}/hub/{notice.tenant_slug}/audit",
        )
    )
    return message


async def deliver_notice(db: AppDatabase, settings: Settings, trail_id: int, *, final_attempt: bool) -> DeliveryOutcome:
    async with db.pool.acquire() as conn:
        notice = await notices.get_notice(conn, trail_id)
        if notice is None:
            return DeliveryOutcome.NO_SUCH_DIGEST
        if not settings.smtp_url or not notice.recipients:
            await notices.finish(conn, trail_id, "skipped")
            log.warning(
                "security notice not mailed: no SMTP configured or no administrator (tenant %s)", notice.tenant_slug
            )
            return DeliveryOutcome.SKIPPED
        done = await notices.delivered(conn, trail_id)
    target = parse_smtp_url(settings.smtp_url)
    transient: TransientMailError | None = None
    rejected = any(done.get(r) == "rejected" for r in notice.recipients)
    for recipient in notice.recipients:
        if done.get(recipient) in {"sent", "rejected"}:
            continue
        message = build_message(notice, public_url=settings.public_url, sender=settings.mail_from, recipient=recipient)
        status, detail = "sent", None
        try:
            await asyncio.to_thread(send, target, message, recipient)
        except PermanentMailError as exc:
            rejected, status, detail = True, "rejected", exc.reason
            report_warning(f"security notice permanently rejected: {exc.reason}")
        except TransientMailError as exc:
            transient = exc
            if not final_attempt:
                continue
            status, detail = "failed", exc.reason
        async with db.pool.acquire() as conn:
            await notices.record_delivery(conn, trail_id, recipient, status, detail)
        metrics.bump(settings.redis_url, "mails_sent" if status == "sent" else "mails_failed")
    if transient is not None and not final_attempt:
        raise transient
    async with db.pool.acquire() as conn:
        await notices.finish(conn, trail_id, "partial" if rejected or transient else "sent")
    return DeliveryOutcome.SENT


async def claim_pending(db: AppDatabase) -> list[int]:
    async with db.pool.acquire() as conn:
        return await notices.claim_pending(conn)
