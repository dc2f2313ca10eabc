"""Nothing is lost when the broker, a worker or the web process fails (real Redis, worker and web processes).

Each test starts its own `redis-server` on a free port and its own scimhub processes, never touching the
machine's shared services, and counts requests sent against entries found in the activity log.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import create_tenant, stop_process
from tests.factories import entra_user
from tests.processes import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    yield s
    s.stop()


async def entries(admin: asyncpg.Connection, schema: str) -> tuple[int, int]:
    row = await admin.fetchrow(f"SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM {schema}.activity_log")
    return int(row["n"]), int(row["d"])


async def wait_for_entries(admin: asyncpg.Connection, schema: str, expected: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline:
        n, distinct = await entries(admin, schema)
        assert n == distinct
        if n >= expected:
            await asyncio.sleep(1.0)  # and nothing more arrives afterwards
            return (await entries(admin, schema))[0]
        await asyncio.sleep(0.25)
    return n


async def send_mix(url: str, slug: str, token: str, writes: int, reads: int) -> list[int]:
    statuses = []
    async with httpx.AsyncClient(
        base_url=f"{url}/scim/v2/{slug}", headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as c:
        for _ in range(writes):
            statuses.append((await c.post("/Users", json=entra_user())).status_code)
        for _ in range(reads):
            statuses.append((await c.get("/Users", params={"filter": f'userName eq "{uuid.uuid4()}"'})).status_code)
    return statuses


async def test_redis_stopped_requests_succeed_and_every_event_arrives_later(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    assert stack.web is not None
    stack.redis.stop()
    started = time.monotonic()
    statuses = await send_mix(stack.web.url, t.slug, t.token, writes=10, reads=20)
    elapsed = time.monotonic() - started
    assert statuses == [201] * 10 + [200] * 20
    assert elapsed < 15, f"30 requests took {elapsed:.1f}s with Redis down"
    await asyncio.sleep(1)
    stack.redis.start()  # back, empty
    assert await wait_for_entries(admin, t.tenant.schema, 30) == 30


async def test_redis_restarted_empty_loses_nothing(stack: Stack, admin: asyncpg.Connection, database: str) -> None:
    t = await create_tenant(database)
    stack.start_web()  # no worker yet: nudges pile up in Redis
    assert stack.web is not None
    statuses = await send_mix(stack.web.url, t.slug, t.token, writes=15, reads=15)
    assert all(s < 300 for s in statuses)
    await asyncio.sleep(0.5)
    stack.redis.stop()
    stack.redis.start()  # restarted empty: every queued nudge is gone
    stack.start_worker()
    stack.start_beat()
    assert await wait_for_entries(admin, t.tenant.schema, 30) == 30


async def _fill_outbox(admin: asyncpg.Connection, schema: str, n: int) -> None:
    await admin.execute(
        f"""INSERT INTO {schema}.audit_outbox (event)
            SELECT jsonb_build_object('event_id', gen_random_uuid(), 'received_at', now(), 'duration_ms', 1,
                   'request_id', 'bulk-' || g, 'method', 'GET', 'path', '/Users', 'operation', 'Lookup',
                   'status', 200, 'outcome', 'success')
            FROM generate_series(1, {n}) AS g"""
    )


async def test_worker_killed_mid_batch_redoes_it_and_writes_each_event_once(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    total = 40_000
    await _fill_outbox(admin, t.tenant.schema, total)
    stack.start_worker()
    from scimhub.queue import make_celery
    from tests.conftest import make_settings

    celery = make_celery(make_settings(redis_url=stack.redis.url))
    celery.send_task("audit.drain", args=[[t.tenant.id]], queue="audit")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (await entries(admin, t.tenant.schema))[0] == 0:
        await asyncio.sleep(0.02)
    moved_before_kill = (await entries(admin, t.tenant.schema))[0]
    stack.kill_worker()
    assert 0 < moved_before_kill < total, "the kill must land while the drain is under way"
    stack.start_worker()
    stack.start_beat()  # the sweep (and the redelivered task) finish the job
    assert await wait_for_entries(admin, t.tenant.schema, total, timeout=90) == total
    assert await admin.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.audit_outbox") == 0


async def test_same_batch_delivered_twice_writes_each_event_once(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    total = 20_000
    await _fill_outbox(admin, t.tenant.schema, total)
    stack.start_worker(concurrency=2)
    from scimhub.queue import make_celery
    from tests.conftest import make_settings

    celery = make_celery(make_settings(redis_url=stack.redis.url))
    for _ in range(2):  # one message delivered twice, as after a visibility timeout
        celery.send_task("audit.drain", args=[[t.tenant.id]], queue="audit")
    assert await wait_for_entries(admin, t.tenant.schema, total, timeout=90) == total


async def test_web_killed_right_after_answering_a_write_keeps_its_event(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    stack.start_web()
    assert stack.web is not None
    async with httpx.AsyncClient(
        base_url=f"{stack.web.url}/scim/v2/{t.slug}", headers={"Authorization": f"Bearer {t.token}"}, timeout=15
    ) as c:
        statuses = [(await c.post("/Users", json=entra_user())).status_code for _ in range(5)]
    stop_process(stack.web.process, signal.SIGKILL)
    stack.web = None
    assert statuses == [201] * 5
    stack.start_worker()
    stack.start_beat()
    assert await wait_for_entries(admin, t.tenant.schema, 5) == 5
