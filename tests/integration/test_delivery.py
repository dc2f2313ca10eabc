"""Mailing a digest (notify/delivery.py), called directly: real PostgreSQL and a real SMTP server (aiosmtpd),
no Celery. The task `email.send_digest` is these calls plus Celery's retry."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from email.message import EmailMessage

import asyncpg
import pytest

from scimhub.http.services import Services
from scimhub.notify import delivery, service
from scimhub.notify.delivery import DeliveryOutcome, deliver_digest
from scimhub.notify.smtp import TransientMailError
from scimhub.settings import Settings
from scimhub.tenancy import tenants
from tests.support.events import failure, record
from tests.support.settings import make_settings
from tests.support.smtp import SmtpServer
from tests.support.tenants import TenantHandle, create_tenant


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(smtp: SmtpServer) -> Settings:
    return make_settings(smtp_url=smtp.url, mail_from="scimhub <noreply@scimhub.test>")


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}@acme.test"


async def due_digest(services: Services, t: TenantHandle, failures: int = 1) -> uuid.UUID:
    """A failures digest of a tenant in a quiet period, claimed as the flush claims it."""
    first = dt.datetime.now(dt.UTC)
    await record(services.db.pool, t.tenant, *(failure(first) for _ in range(failures)))
    (tn,) = await service.notify_settings(services.db.pool, services.db.install_id, [t.tenant.id])
    (digest_id,) = await service.claim_due_digest(services.db.pool, tn, settle=dt.timedelta(0), now=first)
    return digest_id


async def statuses(admin: asyncpg.Connection, t: TenantHandle, digest_id: uuid.UUID) -> tuple[str, dict[str, str]]:
    schema = t.tenant.schema
    digest = await admin.fetchval(f"SELECT status FROM {schema}.notify_digest WHERE id = $1", digest_id)
    rows = await admin.fetch(f"SELECT recipient, status FROM {schema}.notify_delivery WHERE digest_id = $1", digest_id)
    return digest, {r["recipient"]: r["status"] for r in rows}


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_every_recipient_gets_the_digest_once_even_when_the_task_runs_again(
    services: Services, database: str, admin: asyncpg.Connection, smtp: SmtpServer, mail_settings: Settings
) -> None:
    ops, sec = address("ops"), address("sec")
    t = await create_tenant(database, notify_emails=[ops, sec])
    digest_id = await due_digest(services, t, failures=5000)
    for _ in range(2):  # a redelivered task (late acks after a worker died, a visibility timeout)
        got = await deliver_digest(services.db, mail_settings, t.tenant.id, digest_id, final_attempt=False)
        assert got == DeliveryOutcome.SENT
    assert len(smtp.inbox.to(ops)) == 1 and len(smtp.inbox.to(sec)) == 1
    assert await statuses(admin, t, digest_id) == ("sent", {ops: "sent", sec: "sent"})
    msg = smtp.inbox.to(ops)[0]
    assert msg["Subject"] == f"[scimhub] {t.slug}: 5000 failed provisioning requests"
    assert msg["To"] == ops and msg["X-Scimhub-Digest"] == str(digest_id)
    body = text_of(msg)
    assert "  5000  Create user" in body and "  5000  uniqueness (409)" in body
    assert t.token not in msg.as_string()


async def test_a_refused_recipient_is_recorded_and_never_tried_again(
    services: Services, database: str, admin: asyncpg.Connection, smtp: SmtpServer, mail_settings: Settings
) -> None:
    bad, good = address("nobody"), address("ops")
    smtp.inbox.refuse.add(bad)
    t = await create_tenant(database, notify_emails=[bad, good])
    digest_id = await due_digest(services, t)
    for _ in range(2):
        await deliver_digest(services.db, mail_settings, t.tenant.id, digest_id, final_attempt=False)
    assert smtp.inbox.rcpt_attempts[bad] == 1 and len(smtp.inbox.to(good)) == 1
    digest, recipients = await statuses(admin, t, digest_id)
    assert digest == "partial" and recipients == {bad: "rejected", good: "sent"}
    detail = await admin.fetchval(f"SELECT detail FROM {t.tenant.schema}.notify_delivery WHERE recipient = $1", bad)
    assert "550" in detail


async def test_a_transient_error_is_raised_for_a_retry_after_the_others_got_it(
    services: Services, database: str, admin: asyncpg.Connection, smtp: SmtpServer, mail_settings: Settings
) -> None:
    later, ops = address("later"), address("ops")
    smtp.inbox.defer.add(later)
    t = await create_tenant(database, notify_emails=[later, ops])
    digest_id = await due_digest(services, t)
    with pytest.raises(TransientMailError):
        await deliver_digest(services.db, mail_settings, t.tenant.id, digest_id, final_attempt=False)
    assert len(smtp.inbox.to(ops)) == 1
    assert await statuses(admin, t, digest_id) == ("pending", {ops: "sent"})
    # The last retry: still deferred, so it is recorded as failed and the digest is finished.
    assert await deliver_digest(services.db, mail_settings, t.tenant.id, digest_id, final_attempt=True) == (
        DeliveryOutcome.SENT
    )
    assert await statuses(admin, t, digest_id) == ("partial", {ops: "sent", later: "failed"})
    assert len(smtp.inbox.to(ops)) == 1 and smtp.inbox.rcpt_attempts[later] == 2


async def test_smtp_down_is_transient_and_the_next_attempt_delivers(
    services: Services, database: str, admin: asyncpg.Connection, smtp: SmtpServer, mail_settings: Settings
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    digest_id = await due_digest(services, t)
    smtp.stop()
    with pytest.raises(TransientMailError, match="unreachable"):
        await deliver_digest(services.db, mail_settings, t.tenant.id, digest_id, final_attempt=False)
    assert await statuses(admin, t, digest_id) == ("pending", {})
    smtp.start()
    await deliver_digest(services.db, mail_settings, t.tenant.id, digest_id, final_attempt=False)
    assert len(smtp.inbox.to(ops)) == 1
    assert await statuses(admin, t, digest_id) == ("sent", {ops: "sent"})


async def test_nothing_is_mailed_without_smtp_recipients_or_when_switched_off(
    services: Services, database: str, admin: asyncpg.Connection, smtp: SmtpServer, mail_settings: Settings
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    no_smtp = await due_digest(services, t)
    assert await deliver_digest(services.db, make_settings(smtp_url=""), t.tenant.id, no_smtp, final_attempt=False) == (
        DeliveryOutcome.SKIPPED
    )
    nobody = await create_tenant(database)
    no_recipients = await service.create_test_digest(services.db.pool, nobody.tenant)
    assert await deliver_digest(services.db, mail_settings, nobody.tenant.id, no_recipients, final_attempt=False) == (
        DeliveryOutcome.SKIPPED
    )
    off = await create_tenant(database, notify_emails=[ops])
    digest_id = await due_digest(services, off)
    await tenants.set_notifications(admin, off.slug, enabled=False)
    assert await deliver_digest(services.db, mail_settings, off.tenant.id, digest_id, final_attempt=False) == (
        DeliveryOutcome.SKIPPED
    )
    assert smtp.inbox.messages == []
    assert (await statuses(admin, t, no_smtp))[0] == "skipped"
    assert (await statuses(admin, off, digest_id))[0] == "skipped"
    # A test mail goes out even with notifications switched off: it is how an administrator checks the address.
    test_id = await service.create_test_digest(services.db.pool, off.tenant)
    await deliver_digest(services.db, mail_settings, off.tenant.id, test_id, final_attempt=False)
    assert [m["Subject"] for m in smtp.inbox.to(ops)] == [f"[scimhub] {off.slug}: test notification"]


async def test_unknown_tenant_or_digest_mails_nothing(
    services: Services, tenant: TenantHandle, smtp: SmtpServer, mail_settings: Settings
) -> None:
    gone = await deliver_digest(services.db, mail_settings, 2**40, uuid.uuid4(), final_attempt=False)
    missing = await deliver_digest(services.db, mail_settings, tenant.tenant.id, uuid.uuid4(), final_attempt=False)
    assert (gone, missing) == (DeliveryOutcome.TENANT_GONE, DeliveryOutcome.NO_SUCH_DIGEST)
    assert smtp.inbox.messages == []


def test_retries_back_off_from_one_second_to_ten_minutes() -> None:
    delays = [delivery.retry_delay(n) for n in range(delivery.MAX_RETRIES)]
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] + [600] * 7
    assert sum(delays) == 5223  # 87 minutes: the README's "about 1.5 h in all"
