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
from workers import events as events_worker

from scimhub import tasks
from scimhub.audit import drain as audit_drain
from scimhub.events import delivery, due, sequencer, webhooks
from scimhub.http.services import Services
from scimhub.tenancy.transaction import tenant_transaction
from tests.support import cli
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
    # What each queued task does (`audit.drain` of its page, `full_sweep`): probe, then drain those with rows.
    probed: list[int] = []
    for p in pages:
        if set(p) & {t.tenant.id for t in mine}:
            found = await audit_drain.with_outbox_rows(services.db.pool, services.db.install_id, p)
            probed += [i for i in found if i in {t.tenant.id for t in mine}]
            await audit_drain.drain_tenants(services.db.pool, services.db.install_id, found)
    assert probed == ids  # exactly the five with a backlog, not the two without
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
    assert all(len(p) <= audit_drain.SWEEP_PAGE for p in pages)
    failures: list[str] = []
    for page in [p for p in pages if bad.tenant.id in p or good.tenant.id in p]:  # one page, or two
        try:
            await audit_drain.drain_tenants(services.db.pool, services.db.install_id, page)
        except audit_drain.DrainError as exc:
            failures.append(str(exc))
    assert len(failures) == 1 and bad.slug in failures[0] and good.slug not in failures[0]
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


async def _due_rows(admin: asyncpg.Connection, ids: list[int]) -> dict[int, dt.datetime]:
    rows = await admin.fetch("SELECT tenant_id, due_at FROM public.webhook_due WHERE tenant_id = ANY($1)", ids)
    return {int(r["tenant_id"]): r["due_at"] for r in rows}


async def test_webhook_sweep_finds_exactly_the_tenants_with_a_due_endpoint(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(hours=1)
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
    ids = {t.tenant.id: name for name, t in made.items()}
    pool = services.db.pool
    try:
        # The full sweep's check fills `webhook_due`.
        every = [*ids, none.tenant.id]
        marked = await due.check_tenants(pool, services.db.install_id, every)
        assert marked == 6  # the four due now, and the two whose retry or lease ends in an hour
        rows = await _due_rows(admin, every)
        assert {ids[i] for i in rows} == {"behind", "retry_due", "lease_expired", "redelivery", "retry_later", "leased"}
        assert rows[made["retry_later"].tenant.id] == later and rows[made["leased"].tenant.id] == later
        # What the sweep queues: exactly the tenants due now.
        queued = await due.due_tenants(pool, limit=1_000_000)
        assert sorted(ids[i] for i in queued if i in ids) == sorted(n for n, (d, _) in cases.items() if d)
        assert none.tenant.id not in queued
    finally:
        await admin.execute("DELETE FROM public.webhook_due WHERE tenant_id = ANY($1)", list(ids))
        for t in made.values():
            await admin.execute(f"DELETE FROM {t.tenant.schema}.webhook_endpoint")


async def test_a_delivery_run_settles_its_tenant_and_never_undoes_a_raise_that_came_in_meanwhile(
    admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    receiver = Receiver()
    receiver.start()
    pool, tid = services.db.pool, tenant.tenant.id
    allow = msgspec.structs.replace(services.settings, webhook_allow_private=True, webhook_retry_seconds="0")
    try:
        await _endpoint(services, tenant, receiver.url)
        assert await due.next_due(pool, tenant.tenant) is None  # a new endpoint starts at the feed's end
        await admin.execute(
            f"""INSERT INTO {tenant.tenant.schema}.event_pending (change) VALUES (jsonb_build_object(
                   'occurred_at', now(), 'request_id', 'r1', 'events', jsonb_build_array(jsonb_build_object(
                   'type', 'user.created', 'resource_type', 'User', 'resource_id', 'u1'))))"""
        )
        install = services.db.install_id
        assert await sequencer.with_pending_rows(pool, install, [tid]) == [tid]  # a full sweep's page sequences it
        positioned = await sequencer.sequence_tenant(pool, tenant.tenant)
        assert await sequencer.with_pending_rows(pool, install, [tid]) == []
        assert positioned.due == [tid]  # new events and an enabled endpoint: the worker raises the row
        await due.mark_due(pool, positioned.due)
        assert tid in await due.due_tenants(pool, limit=1_000_000)
        got = await delivery.deliver_tenant(pool, tenant.tenant, allow)
        assert got.delivered == 1 and len(receiver.received) == 1
        assert tid not in await _due_rows(admin, [tid])  # caught up: settled away
        # A raise between a run's start and its end stays: the next sweep queues the tenant again.
        seen = await due.version(pool, tid)
        await due.mark_due(pool, [tid])
        assert await due.settle(pool, tenant.tenant, seen) is None  # nothing due as the run saw it...
        assert tid in await due.due_tenants(pool, limit=1_000_000)  # ...but the raise is kept
        await delivery.deliver_tenant(pool, tenant.tenant, allow)
        assert tid not in await _due_rows(admin, [tid])
        # A disabled endpoint behind the feed is never due.
        await admin.execute(f"UPDATE {tenant.tenant.schema}.webhook_endpoint SET enabled = false, cursor = 0")
        assert await due.next_due(pool, tenant.tenant) is None
    finally:
        receiver.stop()
        await admin.execute("DELETE FROM public.webhook_due WHERE tenant_id = $1", tid)
        await admin.execute(f"DELETE FROM {tenant.tenant.schema}.webhook_endpoint")


async def test_the_clis_enable_and_redeliver_make_the_tenant_due_for_the_sweep(
    admin: asyncpg.Connection, services: Services, tenant: TenantHandle, database: str
) -> None:
    pool, tid = services.db.pool, tenant.tenant.id
    endpoint = await _endpoint(services, tenant)
    await admin.execute(
        f"""INSERT INTO {tenant.tenant.schema}.event_pending (change) VALUES (jsonb_build_object(
               'occurred_at', now(), 'request_id', 'r1', 'events', jsonb_build_array(jsonb_build_object(
               'type', 'user.created', 'resource_type', 'User', 'resource_id', 'u1'))))"""
    )
    await sequencer.sequence_tenant(pool, tenant.tenant)
    await admin.execute(f"UPDATE {tenant.tenant.schema}.webhook_endpoint SET enabled = false")
    try:
        assert tid not in await due.due_tenants(pool, limit=1_000_000)  # no worker raised it: disabled
        r = cli.run(database, "webhook", "redeliver", tenant.slug, str(endpoint), "1")
        assert r.returncode == 0, r.stderr
        assert tid in await due.due_tenants(pool, limit=1_000_000)
        await admin.execute("DELETE FROM public.webhook_due WHERE tenant_id = $1", tid)
        r = cli.run(database, "webhook", "enable", tenant.slug, str(endpoint))
        assert r.returncode == 0, r.stderr
        assert tid in await due.due_tenants(pool, limit=1_000_000)
    finally:
        await admin.execute("DELETE FROM public.webhook_due WHERE tenant_id = $1", tid)
        await admin.execute(f"DELETE FROM {tenant.tenant.schema}.webhook_endpoint")


async def test_a_tenant_whose_changes_cannot_be_positioned_does_not_stop_the_webhook_sweep(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    """One tenant's change PostgreSQL refuses to position (here a change event without its resource) fails
    that tenant's sequencing at every sweep. The webhook sweep still queues every tenant that is due (a worker
    killed mid-delivery leaves its tenant due: only this sweep delivers it again), then reports the failure."""
    poisoned, waiting = [await create_tenant(database) for _ in range(2)]
    await admin.execute(
        f"""INSERT INTO {poisoned.tenant.schema}.event_pending (change)
            VALUES ('{{"request_id": "r1", "events": [{{"type": "user.created"}}]}}'::jsonb)"""
    )
    pool = services.db.pool
    try:
        with pytest.raises(sequencer.SequenceError, match=poisoned.slug):  # refused, and stays so
            await sequencer.sequence_tenants(pool, services.db.install_id, [poisoned.tenant.id])
        await due.mark_due(pool, {waiting.tenant.id}, at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))  # first in line
        queued: list[int] = []
        with pytest.raises(sequencer.SequenceError, match=poisoned.slug):
            await events_worker._sweep(services.db, enqueue=queued.append, pending=[poisoned.tenant.id])
        assert waiting.tenant.id in queued
    finally:  # the poison must not reach the other tests' sweeps
        await admin.execute(f"DELETE FROM {poisoned.tenant.schema}.event_pending")
        await admin.execute("DELETE FROM public.webhook_due WHERE tenant_id = $1", waiting.tenant.id)
