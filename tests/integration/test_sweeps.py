"""The beat's sweeps at many tenants (#16): the audit sweep only pages through tenants and queues one bounded
drain task per page; the webhook sweep queues a delivery only for tenants that have something due. Run
against real PostgreSQL (and, for the end-to-end case, a real Redis and worker); nothing is timed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import msgspec
import pytest

from scimhub import tasks
from scimhub.audit import drain as audit_drain
from scimhub.events import delivery, sequencer, webhooks
from scimhub.http.services import Services
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.processes import Stack
from tests.support.receiver import Receiver
from tests.support.settings import make_settings
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until


async def _fill_outbox(admin: asyncpg.Connection, t: TenantHandle, n: int) -> None:
    await admin.execute(
        f"""INSERT INTO {t.tenant.schema}.audit_outbox (event)
            SELECT jsonb_build_object('event_id', gen_random_uuid(), 'received_at', now(), 'duration_ms', 1,
                   'request_id', 'sweep-' || g, 'method', 'GET', 'path', '/Users', 'operation', 'Lookup',
                   'status', 200, 'outcome', 'success')
            FROM generate_series(1, $1::int) AS g""",
        n,
    )


async def _counts(admin: asyncpg.Connection, t: TenantHandle) -> tuple[int, int]:
    """(rows in the outbox, entries in the log)"""
    schema = t.tenant.schema
    row = await admin.fetchrow(
        f"SELECT (SELECT count(*) FROM {schema}.audit_outbox) AS o, (SELECT count(*) FROM {schema}.activity_log) AS l"
    )
    assert row is not None
    return int(row["o"]), int(row["l"])


async def test_full_sweep_queues_every_tenant_once_in_bounded_keyset_pages_and_drains_nothing_itself(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    mine = [await create_tenant(database) for _ in range(7)]
    with_backlog = mine[1:6]  # five tenants in a row: pages of 2 must split them at least twice
    for i, t in enumerate(with_backlog):
        await _fill_outbox(admin, t, i + 1)
    every = [int(r["id"]) for r in await admin.fetch("SELECT id FROM public.tenant ORDER BY id")]
    pages: list[list[int]] = []
    queued = await audit_drain.queue_sweep(
        services.db.pool, services.db.install_id, full=True, enqueue=pages.append, page=2
    )
    # Every tenant exactly once, in id order, in pages of at most 2: a page boundary skips nobody.
    assert all(1 <= len(p) <= 2 for p in pages)
    flat = [i for p in pages for i in p]
    assert flat == every and queued == len(every)
    ids = [t.tenant.id for t in with_backlog]
    boundaries = [p[-1] for p in pages[:-1]]
    assert len([b for b in boundaries if ids[0] <= b < ids[-1]]) >= 2
    # The sweep itself moved nothing.
    assert [await _counts(admin, t) for t in with_backlog] == [(i + 1, 0) for i in range(len(with_backlog))]
    # What each queued task does (`audit.drain` of its page) empties every outbox.
    for p in pages:
        if set(p) & set(ids):
            await audit_drain.drain_tenants(services.db.pool, services.db.install_id, p)
    assert [await _counts(admin, t) for t in with_backlog] == [(0, i + 1) for i in range(len(with_backlog))]


async def test_a_failing_page_keeps_its_tenants_rows_for_the_next_sweep(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    bad, good = await create_tenant(database), await create_tenant(database)
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log ADD CONSTRAINT refuse_all CHECK (false)")
    for t in (bad, good):
        await _fill_outbox(admin, t, 3)
    pages: list[list[int]] = []
    await audit_drain.queue_sweep(services.db.pool, services.db.install_id, full=True, enqueue=pages.append)
    page = next(p for p in pages if bad.tenant.id in p)
    assert good.tenant.id in page  # created one after the other: the same page of SWEEP_PAGE
    assert len(page) <= audit_drain.SWEEP_PAGE
    with pytest.raises(audit_drain.DrainError, match=bad.slug):
        await audit_drain.drain_tenants(services.db.pool, services.db.install_id, page)
    assert await _counts(admin, good) == (0, 3)
    assert await _counts(admin, bad) == (3, 0)  # kept, not lost
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log DROP CONSTRAINT refuse_all")
    pages.clear()
    await audit_drain.queue_sweep(services.db.pool, services.db.install_id, full=True, enqueue=pages.append)
    await audit_drain.drain_tenants(
        services.db.pool, services.db.install_id, next(p for p in pages if bad.tenant.id in p)
    )
    assert await _counts(admin, bad) == (0, 3)


async def test_quick_sweep_pages_the_tenants_the_statistics_name(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    mine = [await create_tenant(database) for _ in range(3)]
    for t in mine:
        await _fill_outbox(admin, t, 1)
    await admin.execute("SELECT pg_stat_force_next_flush()")
    ids = {t.tenant.id for t in mine}

    async def named() -> set[int]:
        return {t.id for t in await audit_drain.tenants_with_pending_outbox(services.db.pool, services.db.install_id)}

    await wait_until(named, lambda got: ids <= got, "the statistics to show the three outboxes")
    pages: list[list[int]] = []
    await audit_drain.queue_sweep(services.db.pool, services.db.install_id, full=False, enqueue=pages.append, page=1)
    assert all(len(p) == 1 for p in pages)
    assert ids <= {p[0] for p in pages}
    for t in mine:
        await audit_drain.drain_tenant(services.db.pool, t.tenant)


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    yield s
    s.stop()


@pytest.mark.slow
async def test_the_full_sweep_task_queues_drains_a_real_worker_runs(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    mine = [await create_tenant(database) for _ in range(3)]
    for t in mine:
        await _fill_outbox(admin, t, 4)
    stack.start_worker()  # no beat: only the sweep sent here runs
    tasks.enqueue_scheduled(stack.publisher(), make_settings(), "audit-sweep-full")

    async def left() -> list[tuple[int, int]]:
        return [await _counts(admin, t) for t in mine]

    assert await wait_until(left, lambda c: all(o == 0 for o, _ in c), "the queued drains") == [(0, 4)] * 3


# --- webhook.sweep: only tenants with something due ---------------------------------------------------------


async def _endpoint(services: Services, t: TenantHandle, url: str = "http://127.0.0.1:9/hook") -> uuid.UUID:
    async with tenant_transaction(services.db.pool, t.tenant) as conn:
        made = await webhooks.add_endpoint(conn, url, None, secret_key=services.settings.secret_key, allow_private=True)
    return made.endpoint.id


async def _feed_at(admin: asyncpg.Connection, t: TenantHandle, position: int) -> None:
    await admin.execute(f"UPDATE {t.tenant.schema}.event_feed SET last_position = $1", position)


async def test_webhook_sweep_finds_exactly_the_tenants_with_a_due_endpoint(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    cases: dict[str, tuple[bool, str]] = {
        "caught_up": (False, "cursor = 5"),
        "behind": (True, "cursor = 2"),
        "retry_later": (False, "cursor = 2, attempts = 1, next_attempt_at = $1::timestamptz + interval '1 hour'"),
        "retry_due": (True, "cursor = 2, attempts = 1, next_attempt_at = $1::timestamptz - interval '1 hour'"),
        "disabled": (False, "cursor = 2, enabled = false, disabled_at = $1::timestamptz"),
        "leased": (False, "cursor = 2, lease_until = $1::timestamptz + interval '1 hour'"),
        "lease_expired": (True, "cursor = 2, lease_until = $1::timestamptz - interval '1 hour'"),
        "redelivery": (True, "cursor = 5"),
    }
    made: dict[str, TenantHandle] = {}
    for name, (_, change) in cases.items():
        t = made[name] = await create_tenant(database)
        endpoint = await _endpoint(services, t)
        await _feed_at(admin, t, 5)
        # $1 (the one `now` the offsets are taken from) is typed even where a change does not use it.
        sql = f"UPDATE {t.tenant.schema}.webhook_endpoint SET {change} WHERE id = $2 AND $1::timestamptz IS NOT NULL"
        await admin.execute(sql, now, endpoint)
        if name == "redelivery":
            await admin.execute(
                f"""INSERT INTO {t.tenant.schema}.webhook_delivery (endpoint_id, position, event_id, attempt, status)
                    VALUES ($1, 5, gen_random_uuid(), 0, 'redelivered')""",
                endpoint,
            )
    none = await create_tenant(database)  # no endpoint at all
    await _feed_at(admin, none, 5)
    await admin.execute("SELECT pg_stat_force_next_flush()")
    ids = {t.tenant.id: name for name, t in made.items()}

    async def named() -> set[int]:
        return set(await delivery.tenants_with_endpoints(services.db.pool))

    await wait_until(named, lambda got: set(ids) <= got, "the statistics to show every endpoint")
    due = await delivery.due_tenants(services.db.pool, services.db.install_id)
    assert sorted(ids[i] for i in due if i in ids) == sorted(n for n, (d, _) in cases.items() if d)
    assert none.tenant.id not in due
    for name, t in made.items():
        assert await delivery.is_due(services.db.pool, t.tenant) is cases[name][0], name
        await admin.execute(f"DELETE FROM {t.tenant.schema}.webhook_endpoint")


async def test_a_delivery_run_leaves_its_tenant_not_due_until_a_new_event(
    admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    receiver = Receiver()
    receiver.start()
    try:
        await _endpoint(services, tenant, receiver.url)
        pool = services.db.pool
        assert await delivery.is_due(pool, tenant.tenant) is False  # a new endpoint starts at the feed's end
        await admin.execute(
            f"""INSERT INTO {tenant.tenant.schema}.event_pending (change) VALUES (jsonb_build_object(
                   'occurred_at', now(), 'request_id', 'r1', 'events', jsonb_build_array(jsonb_build_object(
                   'type', 'user.created', 'resource_type', 'User', 'resource_id', 'u1'))))"""
        )
        assert await delivery.is_due(pool, tenant.tenant) is False  # pending, not yet positioned
        await sequencer.sequence_tenant(pool, tenant.tenant)
        assert await delivery.is_due(pool, tenant.tenant) is True
        allow = msgspec.structs.replace(services.settings, webhook_allow_private=True, webhook_retry_seconds="0")
        got = await delivery.deliver_tenant(pool, tenant.tenant, allow)
        assert got.delivered == 1 and len(receiver.received) == 1
        assert await delivery.is_due(pool, tenant.tenant) is False
    finally:
        receiver.stop()
        await admin.execute(f"DELETE FROM {tenant.tenant.schema}.webhook_endpoint")
