"""When a failure digest is due (notify/service.py), with time driven explicitly: every claim is made at a `now`
the test names, so no rule depends on how fast anything ran. Real PostgreSQL, no Celery, no SMTP."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from scimhub.audit.events import ActivityEvent
from scimhub.http.services import Services
from scimhub.notify import service
from scimhub.notify.service import DigestStatus, TenantNotify
from scimhub.tasks import beat_schedule
from scimhub.tenancy import tenants
from scimhub.tenancy.db import fetch_one
from tests.support.events import failure
from tests.support.events import record as record_events
from tests.support.settings import make_settings
from tests.support.tenants import TenantHandle, create_tenant

SETTLE = dt.timedelta(seconds=30)
WINDOW = dt.timedelta(minutes=60)  # the default digest window
SECOND = dt.timedelta(seconds=1)


async def record(services: Services, t: TenantHandle, *events: ActivityEvent) -> None:
    await record_events(services.db.pool, t.tenant, *events)


async def settings_of(services: Services, t: TenantHandle) -> TenantNotify:
    (tn,) = await service.notify_settings(services.db.pool, services.db.install_id, [t.tenant.id])
    return tn


async def claim(services: Services, t: TenantHandle, now: dt.datetime) -> list[uuid.UUID]:
    return await service.claim_due_digest(services.db.pool, await settings_of(services, t), settle=SETTLE, now=now)


async def sent(services: Services, t: TenantHandle, digest_ids: list[uuid.UUID]) -> None:
    for digest_id in digest_ids:  # what delivery does once the mail is out
        await service.finish_digest(services.db.pool, t.tenant, digest_id, DigestStatus.SENT)


@pytest.fixture
async def ops_tenant(database: str) -> TenantHandle:
    return await create_tenant(database, notify_emails=[f"ops-{uuid.uuid4().hex[:6]}@acme.test"])


async def test_first_failure_after_a_quiet_period_is_due_exactly_one_settle_time_later(
    services: Services, ops_tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    first = dt.datetime.now(dt.UTC)
    await record(services, ops_tenant, failure(first))
    assert await claim(services, ops_tenant, first + SETTLE - SECOND) == []
    # A burst that goes on while the digest settles lands in the same mail.
    await record(services, ops_tenant, *(failure(first + SETTLE - SECOND) for _ in range(4999)))
    (digest_id,) = await claim(services, ops_tenant, first + SETTLE)
    row = await fetch_one(admin, f"SELECT * FROM {ops_tenant.tenant.schema}.notify_digest WHERE id = $1", digest_id)
    assert row["kind"] == "failures" and row["failures"] == 5000 and row["window_start"] == first


async def test_after_a_digest_the_next_waits_for_the_window(services: Services, ops_tenant: TenantHandle) -> None:
    first = dt.datetime.now(dt.UTC)
    await record(services, ops_tenant, failure(first))
    mailed_at = first + SETTLE
    await sent(services, ops_tenant, await claim(services, ops_tenant, mailed_at))
    await record(services, ops_tenant, failure(mailed_at + SECOND))
    assert await claim(services, ops_tenant, mailed_at + WINDOW - SECOND) == []
    (second,) = await claim(services, ops_tenant, mailed_at + WINDOW)
    summary = await service.summarise(
        services.db.pool, await settings_of(services, ops_tenant), second, "http://scim.test"
    )
    assert summary is not None and summary.failures == 1


async def test_a_quiet_window_after_a_digest_brings_one_recovered_note(
    services: Services, ops_tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    first = dt.datetime.now(dt.UTC)
    await record(services, ops_tenant, failure(first))
    mailed_at = first + SETTLE
    await sent(services, ops_tenant, await claim(services, ops_tenant, mailed_at))
    assert await claim(services, ops_tenant, mailed_at + WINDOW - SECOND) == []
    (note,) = await claim(services, ops_tenant, mailed_at + WINDOW)
    await sent(services, ops_tenant, [note])
    assert await claim(services, ops_tenant, mailed_at + 3 * WINDOW) == []  # only one
    kinds = await admin.fetch(f"SELECT kind FROM {ops_tenant.tenant.schema}.notify_digest ORDER BY created_at")
    assert [r["kind"] for r in kinds] == ["failures", "recovered"]


async def test_authentication_failures_count_by_their_repeat(
    services: Services, ops_tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    first = dt.datetime.now(dt.UTC)
    await record(services, ops_tenant, failure(first, status=401, repeat=7), failure(first, status=401, repeat=5))
    (digest_id,) = await claim(services, ops_tenant, first + SETTLE)
    row = await fetch_one(admin, f"SELECT * FROM {ops_tenant.tenant.schema}.notify_digest WHERE id = $1", digest_id)
    assert row["auth_failures"] == 12 and row["failures"] == 0


async def test_notifications_off_drop_pending_counts_and_claim_nothing(
    services: Services, ops_tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    await tenants.set_notifications(admin, ops_tenant.slug, enabled=False)
    first = dt.datetime.now(dt.UTC)
    await record(services, ops_tenant, *(failure(first) for _ in range(4)))
    assert await claim(services, ops_tenant, first + 10 * WINDOW) == []
    schema = ops_tenant.tenant.schema
    assert await admin.fetchval(f"SELECT pending_failures FROM {schema}.notify_state") == 0
    assert await admin.fetchval(f"SELECT count(*) FROM {schema}.notify_digest") == 0
    assert await admin.fetchval(f"SELECT count(*) FROM {schema}.activity_log WHERE notify") == 4


async def test_a_pending_digest_whose_send_was_lost_is_claimed_again(
    services: Services, ops_tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    first = dt.datetime.now(dt.UTC)
    await record(services, ops_tenant, failure(first))
    (digest_id,) = await claim(services, ops_tenant, first + SETTLE)  # its send task never ran
    created = await admin.fetchval(f"SELECT created_at FROM {ops_tenant.tenant.schema}.notify_digest")
    assert await claim(services, ops_tenant, created + dt.timedelta(minutes=2) - SECOND) == []
    assert await claim(services, ops_tenant, created + dt.timedelta(minutes=2) + SECOND) == [digest_id]


async def test_claims_across_tenants_name_each_due_digest(services: Services, database: str) -> None:
    a = await create_tenant(database, notify_emails=["a@a.test"])
    b = await create_tenant(database, notify_emails=["b@b.test"])
    first = dt.datetime.now(dt.UTC)
    await record(services, a, failure(first))
    await record(services, b, failure(first))
    due = await service.claim_due_digests(services.db.pool, services.db.install_id, settle=SETTLE, now=first + SETTLE)
    assert {d.tenant_id for d in due} >= {a.tenant.id, b.tenant.id}


def test_the_beat_flushes_digests_every_flush_interval() -> None:
    """So a first failure is mailed within settle + flush interval (30 s + 15 s by default)."""
    schedule = beat_schedule(make_settings(digest_flush_seconds=15.0))
    assert schedule["email-flush"]["task"] == "email.flush_digests"
    assert schedule["email-flush"]["schedule"] == 15.0
