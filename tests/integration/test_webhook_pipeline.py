"""Webhooks end to end: real web process, Celery worker and beat, their own Redis, a real HTTP receiver in
the test process, SMTP for the disabled-endpoint mail. Nothing is timed: every wait is for a state (the
receiver holds all events, an endpoint is disabled), retry delays are set short through the settings."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub import admins
from tests.support import cli
from tests.support.factories import entra_group, entra_user, patch_body
from tests.support.processes import Stack
from tests.support.receiver import Receiver
from tests.support.smtp import SmtpServer
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

ENV = {
    "SCIMHUB_WEBHOOK_ALLOW_PRIVATE": "true",
    "SCIMHUB_WEBHOOK_RETRY_SECONDS": "0.2,0.5,1",
    "SCIMHUB_WEBHOOK_TIMEOUT_SECONDS": "2",
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.stop()


def _stack(database: str, tmp: Path, **env: str) -> Stack:
    s = Stack(database, tmp, {**ENV, **env})
    s.redis.start()
    s.start_web()
    s.start_worker(concurrency=2)
    s.start_beat()
    return s


async def _remove_endpoints(admin: asyncpg.Connection, t: TenantHandle) -> None:
    """A test's endpoints go with it: later tests' workers never deliver to a receiver that is gone."""
    await admin.execute(f"DELETE FROM {t.tenant.schema}.webhook_endpoint")


def _add_endpoint(database: str, t: TenantHandle, url: str) -> dict[str, Any]:
    r = cli.run(database, "webhook", "add", t.slug, url, "--json", env=ENV)
    assert r.returncode == 0, r.stderr
    made: dict[str, Any] = json.loads(r.stdout)
    assert made["secret"].startswith("whsec_") and made["cursor"] == 0
    return made


async def _feed_ids(admin: asyncpg.Connection, t: TenantHandle) -> list[str]:
    rows = await admin.fetch(f"SELECT event_id FROM {t.tenant.schema}.event_log ORDER BY position")
    return [str(r["event_id"]) for r in rows]


async def _pending(admin: asyncpg.Connection, t: TenantHandle) -> int:
    return int(await admin.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.event_pending"))


async def _everything_arrived(admin: asyncpg.Connection, t: TenantHandle, receiver: Receiver, writes: int) -> list[str]:
    """Wait until every positioned event reached the receiver; the feed's ids in position order."""

    async def probe() -> tuple[int, int, int]:
        got = {p["id"] for p in receiver.payloads()}
        ids = await _feed_ids(admin, t)
        return len(ids), len(got & set(ids)), await _pending(admin, t)

    await wait_until(probe, lambda p: p[2] == 0 and p[0] >= writes and p[1] == p[0], "every event at the receiver")
    return await _feed_ids(admin, t)


def _check_arrivals(receiver: Receiver, secret: str, ids: list[str]) -> None:
    """Valid signatures; deduplicated by id, exactly the feed, first arrivals in position order."""
    payloads = receiver.verified(secret)
    first: list[str] = []
    for p in payloads:
        if p["id"] not in first:
            first.append(p["id"])
    assert first == ids
    positions = [p["position"] for p in payloads]
    # One endpoint, in position order: a redelivery only ever repeats the event that was being sent.
    assert positions == sorted(positions)


async def _mixed_writes(base: str, t: TenantHandle, n: int, writers: int = 4) -> int:
    """`n` SCIM writes of every kind from `writers` concurrent clients; returns how many succeeded."""
    ok = 0

    async def one(worker: int) -> None:
        nonlocal ok
        rng = random.Random(worker)
        users: list[str] = []
        groups: list[str] = []
        async with httpx.AsyncClient(base_url=f"{base}/scim/v2/{t.slug}", headers=t.auth, timeout=30) as c:
            for i in range(n // writers):
                pick = rng.random()
                if not users or pick < 0.35:
                    r = await c.post("/Users", json=entra_user())
                    users.append(r.json()["id"])
                elif pick < 0.55:
                    body = patch_body({"op": "replace", "path": "displayName", "value": uuid.uuid4().hex})
                    r = await c.patch(f"/Users/{rng.choice(users)}", json=body)
                elif pick < 0.65:
                    active = rng.choice(["False", "True"])
                    r = await c.patch(
                        f"/Users/{rng.choice(users)}",
                        json=patch_body({"op": "Replace", "path": "active", "value": active}),
                    )
                elif pick < 0.75 or not groups:
                    r = await c.post("/Groups", json=entra_group(members=[{"value": rng.choice(users)}]))
                    groups.append(r.json()["id"])
                elif pick < 0.9:
                    body = patch_body({"op": "add", "path": "members", "value": [{"value": rng.choice(users)}]})
                    r = await c.patch(f"/Groups/{rng.choice(groups)}", json=body)
                else:
                    r = await c.delete(f"/Users/{users.pop(rng.randrange(len(users)))}")
                assert r.status_code < 300, (i, r.status_code, r.text)
                ok += 1

    await asyncio.gather(*(one(w) for w in range(writers)))
    return ok


async def test_1000_mixed_writes_arrive_once_each_signed_in_position_order(
    database: str, tmp_path: Path, admin: asyncpg.Connection, receiver: Receiver
) -> None:
    t = await create_tenant(database)
    stack = _stack(database, tmp_path)
    try:
        assert stack.web is not None
        made = _add_endpoint(database, t, receiver.url)
        assert await _mixed_writes(stack.web.url, t, 1000) == 1000
        ids = await _everything_arrived(admin, t, receiver, 1000)
        _check_arrivals(receiver, made["secret"], ids)
        assert len(receiver.received) == len(ids)  # nothing failed, so nothing was sent twice
    finally:
        stack.stop()
        await _remove_endpoints(admin, t)


async def test_receiver_down_then_up_gets_everything(
    database: str, tmp_path: Path, admin: asyncpg.Connection, receiver: Receiver
) -> None:
    t = await create_tenant(database)
    stack = _stack(database, tmp_path)
    try:
        assert stack.web is not None
        made = _add_endpoint(database, t, receiver.url)
        receiver.stop()  # connection refused from now on
        assert await _mixed_writes(stack.web.url, t, 40) == 40

        async def retries() -> int:
            return int(
                await admin.fetchval(
                    f"SELECT count(*) FROM {t.tenant.schema}.webhook_delivery WHERE status = 'retrying'"
                )
            )

        await wait_until(retries, lambda n: n >= 3, "three failed attempts while the receiver is down")
        receiver.start()
        ids = await _everything_arrived(admin, t, receiver, 40)
        _check_arrivals(receiver, made["secret"], ids)
        assert len(receiver.received) == len(ids)
    finally:
        stack.stop()
        await _remove_endpoints(admin, t)


async def test_worker_killed_mid_delivery_and_redis_emptied_loses_nothing(
    database: str, tmp_path: Path, admin: asyncpg.Connection, receiver: Receiver
) -> None:
    t = await create_tenant(database)
    stack = _stack(database, tmp_path)
    try:
        assert stack.web is not None
        made = _add_endpoint(database, t, receiver.url)
        receiver.hold.clear()  # the first delivery is held open by the receiver
        assert await _mixed_writes(stack.web.url, t, 60) == 60
        await asyncio.to_thread(receiver.waiting.wait, 120)
        assert receiver.waiting.is_set()
        stack.kill_worker()
        if stack.beat is not None:
            stack.beat.kill()
            stack.beat = None
        stack.redis.stop()
        stack.redis.start()  # empty: every queued delivery and nudge is gone
        receiver.hold.set()  # the held request is answered to nobody: its event must be sent again
        stack.start_worker(concurrency=2)
        stack.start_beat()
        ids = await _everything_arrived(admin, t, receiver, 60)
        _check_arrivals(receiver, made["secret"], ids)
        assert len({p["id"] for p in receiver.payloads()}) == len(ids)
        assert len(receiver.received) > len(ids)  # the held one was sent again: at least once, deduped by id
    finally:
        stack.stop()
        await _remove_endpoints(admin, t)


async def test_an_endpoint_failing_for_the_window_is_disabled_and_mailed_once(
    database: str, tmp_path: Path, admin: asyncpg.Connection, receiver: Receiver
) -> None:
    t = await create_tenant(database)
    smtp = SmtpServer()
    smtp.start()
    stack = _stack(
        database,
        tmp_path,
        SCIMHUB_SMTP_URL=smtp.url,
        SCIMHUB_WEBHOOK_DISABLE_AFTER_SECONDS="1",
        SCIMHUB_DIGEST_FLUSH_SECONDS="1",
    )
    try:
        assert stack.web is not None
        email = f"owner-{uuid.uuid4().hex[:6]}@acme.test"
        await admins.create_admin(admin, t.tenant.id, email, "correct horse battery staple")
        made = _add_endpoint(database, t, receiver.url)
        receiver.answer = lambda _r: (503, {})
        assert await _mixed_writes(stack.web.url, t, 4, writers=1) == 4

        async def disabled() -> tuple[bool, int]:
            row = await admin.fetchrow(
                f"SELECT enabled FROM {t.tenant.schema}.webhook_endpoint WHERE id = $1", uuid.UUID(made["id"])
            )
            assert row is not None
            return bool(row["enabled"]), len([m for m in smtp.inbox.to(email) if "Webhook disabled" in m["Subject"]])

        await wait_until(disabled, lambda s: not s[0] and s[1] >= 1, f"the endpoint of {t.slug} disabled and mailed")

        async def notice() -> list[str]:
            rows = await admin.fetch(
                "SELECT notice FROM public.admin_trail WHERE tenant_id = $1 AND action = 'webhook.disabled'",
                t.tenant.id,
            )
            return [r["notice"] for r in rows]

        assert await wait_until(notice, lambda n: n == ["sent"], "the notice recorded as sent") == ["sent"]
        tried = len(receiver.received)
        # Disabled: the sweeps and flushes go on, but nothing more is sent and nobody is mailed again.
        r = cli.run(database, "webhook", "list", t.slug, "--json", env=ENV)
        assert r.returncode == 0 and json.loads(r.stdout)[0]["enabled"] is False
        assert len(receiver.received) == tried
        assert len([m for m in smtp.inbox.to(email) if "Webhook disabled" in m["Subject"]]) == 1
    finally:
        stack.stop()
        smtp.stop()
        await _remove_endpoints(admin, t)
