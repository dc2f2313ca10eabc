"""Failure notification mails: real worker and beat, real SMTP server (aiosmtpd on 127.0.0.1), real Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller

from scimhub.tenancy import tenants
from tests.conftest import TenantHandle, create_tenant, free_port
from tests.factories import entra_user
from tests.processes import Stack

pytestmark = pytest.mark.slow
SETTLE = 8  # seconds from the first failure of a quiet period to the mail (30 in production)


class Inbox:
    """aiosmtpd handler: keeps every message; refuses recipients listed in `refuse` with 550."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()
        self.rcpt_attempts: dict[str, int] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:  # noqa: N802
        self.rcpt_attempts[address] = self.rcpt_attempts.get(address, 0) + 1
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content, policy=default)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpts, m in self.messages if address in rcpts]


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_stack(database: str, tmp_path: Path, smtp: SmtpServer) -> Iterator[Stack]:
    s = Stack(
        database,
        tmp_path,
        {
            "SCIMHUB_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "SCIMHUB_MAIL_FROM": "scimhub <noreply@scimhub.test>",
            "SCIMHUB_DIGEST_SETTLE_SECONDS": str(SETTLE),
            "SCIMHUB_DIGEST_FLUSH_SECONDS": "1",
        },
    )
    s.redis.start()
    s.start_web()
    s.start_worker(concurrency=2)
    s.start_beat()
    yield s
    s.stop()


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


async def wait_mail(smtp: SmtpServer, address: str, count: int = 1, timeout: float = 60) -> list[EmailMessage]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(smtp.inbox.to(address)) >= count:
            return smtp.inbox.to(address)
        await asyncio.sleep(0.25)
    return smtp.inbox.to(address)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


async def test_one_failure_is_mailed_within_the_bound(mail_stack: Stack, smtp: SmtpServer, database: str) -> None:
    ops = f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    t = await create_tenant(database, notify_emails=[ops])
    started = time.monotonic()
    await fail_requests(mail_stack, t, 1)
    mails = await wait_mail(smtp, ops)
    elapsed = time.monotonic() - started
    assert len(mails) == 1 and elapsed < SETTLE + 20
    msg = mails[0]
    assert msg["Subject"] == f"[scimhub] {t.slug}: 1 failed provisioning request"
    assert msg.get_body(preferencelist=("html",)) is not None  # multipart: plain text and HTML
    body = text_of(msg)
    assert "Create user" in body and "uniqueness (409)" in body
    assert f"/hub/{t.slug}/activity?outcome=problems" in body
    assert t.token not in msg.as_string()


async def test_burst_of_5000_failures_is_exactly_one_mail_with_the_right_counts(
    mail_stack: Stack, smtp: SmtpServer, database: str
) -> None:
    ops = f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    t = await create_tenant(database, notify_emails=[ops])
    await fail_requests(mail_stack, t, 5000, concurrency=32)
    mails = await wait_mail(smtp, ops)
    await asyncio.sleep(SETTLE + 3)  # nothing else arrives in the window
    assert len(smtp.inbox.to(ops)) == 1
    msg = mails[0]
    assert msg["Subject"] == f"[scimhub] {t.slug}: 5000 failed provisioning requests"
    body = text_of(msg)
    assert "  5000  Create user" in body and "  5000  uniqueness (409)" in body
    assert body.count("Create user") >= 5  # the first failures are listed


async def test_two_tenants_get_separate_mails_without_each_others_content(
    mail_stack: Stack, smtp: SmtpServer, database: str
) -> None:
    a_ops, b_ops = f"a-{uuid.uuid4().hex[:6]}@a.test", f"b-{uuid.uuid4().hex[:6]}@b.test"
    a = await create_tenant(database, notify_emails=[a_ops])
    b = await create_tenant(database, notify_emails=[b_ops])
    await fail_requests(mail_stack, a, 2)
    await fail_requests(mail_stack, b, 3)
    a_mail = (await wait_mail(smtp, a_ops))[0]
    b_mail = (await wait_mail(smtp, b_ops))[0]
    assert "2 failed" in a_mail["Subject"] and "3 failed" in b_mail["Subject"]
    assert b.slug not in a_mail.as_string() and a.slug not in b_mail.as_string()
    assert [rcpts for rcpts, m in smtp.inbox.messages if m is a_mail] == [[a_ops]]


async def test_smtp_down_for_a_while_then_the_mail_arrives(mail_stack: Stack, smtp: SmtpServer, database: str) -> None:
    ops = f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    t = await create_tenant(database, notify_emails=[ops])
    smtp.stop()
    await fail_requests(mail_stack, t, 1)
    await asyncio.sleep(SETTLE + 6)  # the digest is due and its first attempts fail
    assert smtp.inbox.to(ops) == []
    smtp.start()
    assert len(await wait_mail(smtp, ops, timeout=90)) == 1


async def test_rejected_address_is_recorded_and_not_retried(
    mail_stack: Stack, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    bad, good = f"nobody-{uuid.uuid4().hex[:6]}@acme.test", f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    smtp.inbox.refuse.add(bad)
    t = await create_tenant(database, notify_emails=[bad, good])
    await fail_requests(mail_stack, t, 1)
    assert len(await wait_mail(smtp, good)) == 1
    await asyncio.sleep(6)
    assert smtp.inbox.rcpt_attempts[bad] == 1
    rows = {r["recipient"]: r for r in await admin.fetch(f"SELECT * FROM {t.tenant.schema}.notify_delivery")}
    assert rows[bad]["status"] == "rejected" and "550" in rows[bad]["detail"]
    assert rows[good]["status"] == "sent"


async def test_redelivered_send_task_mails_nobody_twice(
    mail_stack: Stack, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    ops = f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    t = await create_tenant(database, notify_emails=[ops])
    await fail_requests(mail_stack, t, 1)
    assert len(await wait_mail(smtp, ops)) == 1
    digest_id = await admin.fetchval(f"SELECT id FROM {t.tenant.schema}.notify_digest")
    from scimhub.queue import make_celery
    from tests.conftest import make_settings

    celery = make_celery(make_settings(redis_url=mail_stack.redis.url))
    for _ in range(2):
        celery.send_task("email.send_digest", args=[t.tenant.id, str(digest_id)], queue="email")
    await asyncio.sleep(5)
    assert len(smtp.inbox.to(ops)) == 1


async def test_notifications_switched_off_send_nothing_but_keep_the_log(
    mail_stack: Stack, smtp: SmtpServer, database: str, admin: asyncpg.Connection
) -> None:
    ops = f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    t = await create_tenant(database, notify_emails=[ops])
    await tenants.set_notifications(admin, t.slug, enabled=False)
    await fail_requests(mail_stack, t, 4)
    await asyncio.sleep(SETTLE + 6)
    assert smtp.inbox.to(ops) == []
    conflicts = await admin.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.activity_log WHERE outcome = 'conflict'")
    assert conflicts == 4


async def test_authentication_failures_are_named_plainly(mail_stack: Stack, smtp: SmtpServer, database: str) -> None:
    ops = f"ops-{uuid.uuid4().hex[:6]}@acme.test"
    t = await create_tenant(database, notify_emails=[ops])
    assert mail_stack.web is not None
    async with httpx.AsyncClient(
        base_url=f"{mail_stack.web.url}/scim/v2/{t.slug}",
        timeout=10,
        headers={"Authorization": "Bearer shs_an-old-rotated-token"},
    ) as c:
        for _ in range(12):
            assert (await c.get("/Users")).status_code == 401
    msg = (await wait_mail(smtp, ops))[0]
    assert msg["Subject"] == f"[scimhub] {t.slug}: 12 authentication failures"
    assert "Secret Token in Entra ID" in text_of(msg) and "wrong, revoked or was rotated" in text_of(msg)
