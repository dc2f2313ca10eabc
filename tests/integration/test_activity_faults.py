"""Nothing is lost when the broker, a worker or the web process fails (real Redis, worker and web processes).

Each test starts its own `redis-server` on a free port and its own scimhub processes, never touching the
machine's shared services, and counts requests sent against entries found in the activity log. Where a fault
must land at a particular moment (a worker killed in the middle of a drain), the test holds the drain there
with a PostgreSQL lock instead of racing it; everything else waits on the final state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from scimhub import tasks
from scimhub.audit.drain import BATCH
from scimhub.tenancy.db import admin_connect, fetch_one
from tests.support.factories import entra_user
from tests.support.processes import Stack, stop_process
from tests.support.tenants import create_tenant
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    yield s
    s.stop()


async def entries(admin: asyncpg.Connection, schema: str) -> tuple[int, int, int]:
    """(entries, distinct event ids, events still in the outbox)"""
    row = await fetch_one(
        admin,
        f"""SELECT count(*) AS n, count(DISTINCT event_id) AS d, (SELECT count(*) FROM {schema}.audit_outbox) AS o
            FROM {schema}.activity_log""",
    )
    return int(row["n"]), int(row["d"]), int(row["o"])


async def all_arrived(admin: asyncpg.Connection, schema: str, expected: int) -> int:
    """Wait until the outbox is empty and at least `expected` entries are in; return how many, each once."""

    async def probe() -> tuple[int, int, int]:
        return await entries(admin, schema)

    n, distinct, _ = await wait_until(probe, lambda e: e[2] == 0 and e[0] >= expected, f"{expected} entries")
    assert n == distinct
    return n


async def send_mix(url: str, slug: str, token: str, writes: int, reads: int) -> list[int]:
    async with httpx.AsyncClient(
        base_url=f"{url}/scim/v2/{slug}", headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as c:
        statuses = [(await c.post("/Users", json=entra_user())).status_code for _ in range(writes)]

        async def lookup() -> int:  # a new random userName each time
            return (await c.get("/Users", params={"filter": f'userName eq "{uuid.uuid4()}"'})).status_code

        statuses += [await lookup() for _ in range(reads)]
    return statuses


async def reads_logged(admin: asyncpg.Connection, schema: str, n: int) -> None:
    """The web process flushed its buffered reads (they go straight into the log, without the broker)."""

    async def count() -> int:
        return int(await admin.fetchval(f"SELECT count(*) FROM {schema}.activity_log WHERE method = 'GET'"))

    await wait_until(count, lambda got: got >= n, f"{n} buffered reads in the log")


async def test_redis_stopped_requests_succeed_and_every_event_arrives_later(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    # That the requests never wait on the broker is pinned exactly, without a clock, by
    # test_activity.py::test_a_hanging_nudge_never_holds_up_a_flush.
    t = await create_tenant(database)
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    assert stack.web is not None
    stack.redis.stop()
    statuses = await send_mix(stack.web.url, t.slug, t.token, writes=10, reads=20)
    assert statuses == [201] * 10 + [200] * 20
    await reads_logged(admin, t.tenant.schema, 20)  # while Redis is down
    stack.redis.start()  # back, empty
    assert await all_arrived(admin, t.tenant.schema, 30) == 30


async def test_redis_restarted_empty_loses_nothing(stack: Stack, admin: asyncpg.Connection, database: str) -> None:
    t = await create_tenant(database)
    stack.start_web()  # no worker yet: nudges pile up in Redis
    assert stack.web is not None
    statuses = await send_mix(stack.web.url, t.slug, t.token, writes=15, reads=15)
    assert all(s < 300 for s in statuses)
    broker = redis.Redis.from_url(stack.redis.url)

    async def queued() -> int:
        return int(broker.llen(tasks.AUDIT_QUEUE))

    await wait_until(queued, lambda n: n >= 1, "a drain nudge waiting in Redis")
    stack.redis.stop()
    stack.redis.start()  # restarted empty: every queued nudge is gone
    stack.start_worker()
    stack.start_beat()
    assert await all_arrived(admin, t.tenant.schema, 30) == 30


async def _fill_outbox(
    admin: asyncpg.Connection,
    schema: str,
    n: int,
    *,
    first_batch_at: dt.datetime | None = None,
    rest_at: dt.datetime | None = None,
) -> None:
    """n events in the outbox; the first BATCH received at `first_batch_at`, the others at `rest_at`."""
    now = dt.datetime.now(dt.UTC)
    await admin.execute(
        f"""INSERT INTO {schema}.audit_outbox (event)
            SELECT jsonb_build_object('event_id', gen_random_uuid(),
                   'received_at', CASE WHEN g <= $2 THEN $3::timestamptz ELSE $4::timestamptz END,
                   'duration_ms', 1, 'request_id', 'bulk-' || g, 'method', 'GET', 'path', '/Users',
                   'operation', 'Lookup', 'status', 200, 'outcome', 'success')
            FROM generate_series(1, $1::int) AS g""",
        n,
        BATCH,
        first_batch_at or now,
        rest_at or now,
    )


async def test_worker_killed_mid_drain_redoes_the_open_batch_and_writes_each_event_once(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    schema = t.tenant.schema
    total = 5 * BATCH
    # The first batch's events and the others fall into different hours of the hourly rollup. Holding an
    # uncommitted rollup row for the second hour makes the drain's second batch wait for this transaction:
    # the worker is killed exactly there, with one batch committed and one open.
    hour = dt.datetime.now(dt.UTC).replace(minute=30, second=0, microsecond=0)
    await _fill_outbox(
        admin, schema, total, first_batch_at=hour - dt.timedelta(hours=3), rest_at=hour - dt.timedelta(hours=1)
    )
    holder = await admin_connect(database)
    hold = holder.transaction()
    await hold.start()
    try:
        await holder.execute(
            f"INSERT INTO {schema}.activity_hourly (hour, outcome, n) "
            "VALUES (date_trunc('hour', $1::timestamptz), 'success', 0)",
            hour - dt.timedelta(hours=1),
        )
        holder_pid = await holder.fetchval("SELECT pg_backend_pid()")
        stack.start_worker()
        await asyncio.to_thread(tasks.enqueue_drain, stack.publisher(), [t.tenant.id])

        async def blocked() -> int:
            return int(
                await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder_pid
                )
            )

        await wait_until(blocked, lambda n: n >= 1, "the drain's second batch to wait for the held row")
        stack.kill_worker()
        assert (await entries(admin, schema))[:2] == (BATCH, BATCH)  # exactly one batch committed
    finally:
        await hold.rollback()  # the dead worker's open batch can now end: it is rolled back, never committed
        await holder.close()
    stack.start_worker()
    stack.start_beat()  # the sweep (and the redelivered task) finish the job
    assert await all_arrived(admin, schema, total) == total
    hourly = await admin.fetchval(f"SELECT sum(n) FROM {schema}.activity_hourly")
    assert hourly == total  # the rollup counted each event once too


async def test_same_batch_delivered_twice_writes_each_event_once(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    total = 20_000
    await _fill_outbox(admin, t.tenant.schema, total)
    stack.start_worker(concurrency=2)
    celery = stack.publisher()
    for _ in range(2):  # one message delivered twice, as after a visibility timeout
        await asyncio.to_thread(tasks.enqueue_drain, celery, [t.tenant.id])
    assert await all_arrived(admin, t.tenant.schema, total) == total


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
    assert await all_arrived(admin, t.tenant.schema, 5) == 5
