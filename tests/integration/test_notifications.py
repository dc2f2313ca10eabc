"""Failure notification mails end to end: real web, worker, Redis and SMTP server (aiosmtpd on 127.0.0.1).

Time is driven, not waited for: the worker runs with a settle time of 0 and no beat, and each test runs the
beat's digest flush itself once the failures it caused are all in the activity log, so a slow burst can never
be split by a timer. Waits are for conditions (a mail arrived, a digest finished), never for durations. The
settle and window rules themselves are tested with explicit `now` in test_digest_rules.py, the delivery
without Celery in test_delivery.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest
from celery import Celery

from scimhub import tasks
from scimhub.http.services import Services
from scimhub.notify import service
from scimhub.tenancy import tenants
from tests.support.factories import entra_user
from tests.support.processes import Stack
from tests.support.settings import make_settings
from tests.support.smtp import DroppingServer, SmtpServer
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def mail_stack(database: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Stack]:
    """Web and one worker (tasks run one at a time, in queue order); no beat unless a test starts it."""
    s = Stack(
        database,
        tmp_path,
        {
            "SCIMHUB_SMTP_URL": smtp.url,
            "SCIMHUB_MAIL_FROM": "scimhub <noreply@scimhub.test>",
            "SCIMHUB_DIGEST_SETTLE_SECONDS": "0",
            "SCIMHUB_DIGEST_FLUSH_SECONDS": "1",
        },
    )
    s.redis.start()
    s.start_web()
    s.start_worker(concurrency=1)
    yield s
    s.stop()


@pytest.fixture
def celery(mail_stack: Stack) -> Celery:
    return mail_stack.publisher()


def address(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}@acme.test"


async def fail_requests(stack: Stack, t: TenantHandle, n: int, concurrency: int = 16) -> None:
    """n failing provisioning requests: creates of a userName that is taken (409 uniqueness)."""
    assert stack.web is not None
    async with httpx.AsyncClient(
        base_url=f"{stack.web.url}/scim/v2/{t.slug}", timeout=30, headers={"Authorization": f"Bearer {t.token}"}
    ) as c:
        taken = entra_user()
        assert (await c.post("/Users", json=taken)).status_code == 201
        sem = asyncio.Semaphore(concurrency)

        async def one() -> int:
            async with sem:
                return (await c.post("/Users", json=entra_user(userName=taken["userName"]))).status_code

        statuses = await asyncio.gather(*(one() for _ in range(n)))
    assert statuses == [409] * n


async def logged_failures(admin: asyncpg.Connection, t: TenantHandle, n: int) -> None:
    """Wait until the web process has written all n failures into the log (and so into the digest's counts)."""

    async def counted() -> int:
        return int(
            await admin.fetchval(f"SELECT coalesce(sum(repeat), 0) FROM {t.tenant.schema}.activity_log WHERE notify")
        )

    assert await wait_until(counted, lambda got: got >= n, f"{n} failures in {t.slug}'s activity log") == n


async def flush(celery: Celery) -> None:
    """Run the beat's digest flush now."""
    await asyncio.to_thread(tasks.enqueue_scheduled, celery, make_settings(), "email-flush")


async def mails(smtp: SmtpServer, to: str, n: int = 1) -> list[EmailMessage]:
    async def received() -> list[EmailMessage]:
        return smtp.inbox.to(to)

    return await wait_until(received, lambda got: len(got) >= n, f"{n} mail(s) to {to}")


async def finished(admin: asyncpg.Connection, t: TenantHandle) -> list[tuple[str, str]]:
    """Wait until none of the tenant's digests is pending; their (kind, status)."""

    async def digests() -> list[tuple[str, str]]:
        rows = await admin.fetch(f"SELECT kind, status FROM {t.tenant.schema}.notify_digest ORDER BY created_at")
        return [(r["kind"], r["status"]) for r in rows]

    return await wait_until(digests, lambda got: all(status != "pending" for _, status in got), "digests to finish")


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_one_failure_is_mailed_by_the_beat_with_what_failed_and_a_link(
    mail_stack: Stack, smtp: SmtpServer, database: str
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    mail_stack.start_beat()  # here the beat's own timer flushes: a single failure cannot be split
    await fail_requests(mail_stack, t, 1)
    (msg,) = await mails(smtp, ops)
    assert msg["Subject"] == f"[scimhub] {t.slug}: 1 failed provisioning request"
    assert msg.get_body(preferencelist=("html",)) is not None  # multipart: plain text and HTML
    body = text_of(msg)
    assert "Create user" in body and "uniqueness (409)" in body
    assert f"/hub/{t.slug}/activity?outcome=problems" in body
    assert t.token not in msg.as_string()


async def test_burst_of_5000_failures_is_exactly_one_mail_with_the_right_counts(
    mail_stack: Stack, celery: Celery, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    await fail_requests(mail_stack, t, 5000, concurrency=32)
    await logged_failures(admin, t, 5000)  # however long the burst took, it is all in before the flush
    await flush(celery)
    (msg,) = await mails(smtp, ops)
    assert await finished(admin, t) == [("failures", "sent")]  # one digest, nothing pending: no second mail
    assert await admin.fetchval(f"SELECT pending_failures FROM {t.tenant.schema}.notify_state") == 0
    assert len(smtp.inbox.to(ops)) == 1
    assert msg["Subject"] == f"[scimhub] {t.slug}: 5000 failed provisioning requests"
    body = text_of(msg)
    assert "  5000  Create user" in body and "  5000  uniqueness (409)" in body
    assert body.count("Create user") >= 5  # the first failures are listed


async def test_two_tenants_get_separate_mails_without_each_others_content(
    mail_stack: Stack, celery: Celery, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    a_ops, b_ops = address("a"), address("b")
    a = await create_tenant(database, notify_emails=[a_ops])
    b = await create_tenant(database, notify_emails=[b_ops])
    await fail_requests(mail_stack, a, 2)
    await fail_requests(mail_stack, b, 3)
    await logged_failures(admin, a, 2)
    await logged_failures(admin, b, 3)
    await flush(celery)
    (a_mail,) = await mails(smtp, a_ops)
    (b_mail,) = await mails(smtp, b_ops)
    assert "2 failed" in a_mail["Subject"] and "3 failed" in b_mail["Subject"]
    assert b.slug not in a_mail.as_string() and a.slug not in b_mail.as_string()
    assert [rcpts for rcpts, m in smtp.inbox.messages if m is a_mail] == [[a_ops]]


async def test_smtp_down_for_a_while_then_the_mail_arrives(
    mail_stack: Stack, celery: Celery, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    smtp.stop()
    down = DroppingServer(smtp.port)  # the SMTP address drops every connection
    try:
        await fail_requests(mail_stack, t, 1)
        await logged_failures(admin, t, 1)
        await flush(celery)

        async def attempts() -> int:
            return down.connections

        await wait_until(attempts, lambda n: n >= 1, "a delivery attempt while SMTP is down")
        assert smtp.inbox.to(ops) == []
    finally:
        down.stop()
    smtp.start()  # the task's next retry (1 s, 2 s, 4 s ... later) delivers
    await mails(smtp, ops)
    assert await finished(admin, t) == [("failures", "sent")]
    assert len(smtp.inbox.to(ops)) == 1


async def test_rejected_address_is_recorded_and_not_retried(
    mail_stack: Stack, celery: Celery, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    bad, good = address("nobody"), address("ops")
    smtp.inbox.refuse.add(bad)
    t = await create_tenant(database, notify_emails=[bad, good])
    await fail_requests(mail_stack, t, 1)
    await logged_failures(admin, t, 1)
    await flush(celery)
    await mails(smtp, good)
    assert await finished(admin, t) == [("failures", "partial")]  # the task is done: no retry can follow
    assert smtp.inbox.rcpt_attempts[bad] == 1
    rows = {r["recipient"]: r for r in await admin.fetch(f"SELECT * FROM {t.tenant.schema}.notify_delivery")}
    assert rows[bad]["status"] == "rejected" and "550" in rows[bad]["detail"]
    assert rows[good]["status"] == "sent"


async def test_redelivered_send_task_mails_nobody_twice(
    mail_stack: Stack,
    celery: Celery,
    smtp: SmtpServer,
    database: str,
    admin: asyncpg.Connection,
    services: Services,
) -> None:
    ops, last = address("ops"), address("sentinel")
    t = await create_tenant(database, notify_emails=[ops])
    await fail_requests(mail_stack, t, 1)
    await logged_failures(admin, t, 1)
    await flush(celery)
    await mails(smtp, ops)
    digest_id = await admin.fetchval(f"SELECT id FROM {t.tenant.schema}.notify_digest")
    for _ in range(2):  # the same message delivered twice more, as after a worker died before acking it
        await asyncio.to_thread(tasks.enqueue_digest, celery, t.tenant.id, digest_id)
    # The one worker runs tasks in queue order: once a mail queued after them arrives, both have run.
    sentinel = await create_tenant(database, notify_emails=[last])
    test_digest = await service.create_test_digest(services.db.pool, sentinel.tenant)
    await asyncio.to_thread(tasks.enqueue_digest, celery, sentinel.tenant.id, test_digest)
    await mails(smtp, last)
    assert len(smtp.inbox.to(ops)) == 1


async def test_notifications_switched_off_send_nothing_but_keep_the_log(
    mail_stack: Stack, celery: Celery, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    await tenants.set_notifications(admin, t.slug, enabled=False)
    await fail_requests(mail_stack, t, 4)
    await logged_failures(admin, t, 4)
    await flush(celery)

    async def pending() -> int:
        return int(await admin.fetchval(f"SELECT pending_failures FROM {t.tenant.schema}.notify_state"))

    await wait_until(pending, lambda n: n == 0, "the flush to drop the switched-off tenant's counts")
    assert await admin.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.notify_digest") == 0  # nothing to send
    assert smtp.inbox.to(ops) == []
    conflicts = await admin.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.activity_log WHERE outcome = 'conflict'")
    assert conflicts == 4


async def test_authentication_failures_are_named_plainly(
    mail_stack: Stack, celery: Celery, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    ops = address("ops")
    t = await create_tenant(database, notify_emails=[ops])
    assert mail_stack.web is not None
    async with httpx.AsyncClient(
        base_url=f"{mail_stack.web.url}/scim/v2/{t.slug}",
        timeout=10,
        headers={"Authorization": "Bearer shs_an-old-rotated-token"},
    ) as c:
        for _ in range(12):
            assert (await c.get("/Users")).status_code == 401
    await logged_failures(admin, t, 12)  # in one entry or several, by how the recorder's flushes fell
    await flush(celery)
    (msg,) = await mails(smtp, ops)
    assert msg["Subject"] == f"[scimhub] {t.slug}: 12 authentication failures"
    assert "Secret Token in Entra ID" in text_of(msg) and "wrong, revoked or was rotated" in text_of(msg)
