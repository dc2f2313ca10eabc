"""The activity log: one event per request, written where the README says, drained exactly once."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.audit import drain as audit_drain
from scimhub.audit.events import ActivityEvent, encode_event
from scimhub.audit.outbox import add_event_text
from scimhub.audit.recorder import ActivityRecorder
from scimhub.audit.vocabulary import Operation
from scimhub.http.services import Services
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.cli import run
from tests.support.factories import entra_user, patch_body
from tests.support.scim import Scim
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until


async def outbox_count(admin: asyncpg.Connection, t: TenantHandle) -> int:
    return int(await admin.fetchval(f"SELECT count(*) FROM {t.tenant.schema}.audit_outbox"))


async def log_rows(admin: asyncpg.Connection, t: TenantHandle) -> list[dict[str, Any]]:
    rows = await admin.fetch(f"SELECT * FROM {t.tenant.schema}.activity_log ORDER BY received_at, event_id")
    return [dict(r) for r in rows]


async def settle(services: Services, t: TenantHandle) -> None:
    """Everything the requests so far produced is in the activity log: the buffer flushed (or the timer's flush
    under way finished), then the outbox drained."""
    await services.recorder.flush()
    await audit_drain.drain_tenant(services.db.pool, t.tenant)


async def test_answered_write_has_its_event_committed_before_the_answer(
    client: httpx.AsyncClient, admin: asyncpg.Connection, tenant: TenantHandle
) -> None:
    before = await outbox_count(admin, tenant)
    r = await Scim(client, tenant).req("POST", "/Users", entra_user())
    assert r.status_code == 201
    # No flush has run: the write's event is already in the outbox, in the user's own transaction.
    assert await outbox_count(admin, tenant) == before + 1
    event = json.loads(
        await admin.fetchval(f"SELECT event::text FROM {tenant.tenant.schema}.audit_outbox ORDER BY seq DESC LIMIT 1")
    )
    assert event["operation"] == "Create user" and event["status"] == 201
    assert event["resource_id"] == r.json()["id"] and event["target"] == r.json()["userName"]
    assert event["request_id"] == r.headers["x-request-id"]


async def test_every_request_becomes_one_entry_with_plain_words(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    scim = Scim(client, tenant)
    user = await scim.create_user()
    group = await scim.create_group()
    calls = [
        ("GET", f'/Users?filter=userName eq "{uuid.uuid4()}"', None),
        ("GET", f"/Users/{user['id']}", None),
        ("PATCH", f"/Users/{user['id']}", patch_body({"op": "Replace", "path": "active", "value": "False"})),
        ("PATCH", f"/Users/{user['id']}", patch_body({"op": "replace", "path": "active", "value": True})),
        ("PATCH", f"/Users/{user['id']}", patch_body({"op": "replace", "path": "displayName", "value": "Z"})),
        (
            "PATCH",
            f"/Groups/{group['id']}",
            patch_body({"op": "Add", "path": "members", "value": [{"value": user["id"]}]}),
        ),
        (
            "PATCH",
            f"/Groups/{group['id']}",
            patch_body({"op": "Remove", "path": "members", "value": [{"value": user["id"]}]}),
        ),
        ("PATCH", f"/Groups/{group['id']}", patch_body({"op": "Replace", "path": "displayName", "value": "Renamed"})),
        ("POST", "/Users", entra_user(userName=user["userName"])),
        ("GET", f"/Users/{uuid.uuid4()}", None),
        ("GET", "/Schemas", None),
        ("DELETE", f"/Groups/{group['id']}", None),
        ("DELETE", f"/Users/{user['id']}", None),
    ]
    for method, path, body in calls:
        await scim.req(method, path, body)
    await client.get(f"{tenant.base}/Users", headers={"Authorization": "Bearer shs_wrong"})
    await settle(services, tenant)
    rows = await log_rows(admin, tenant)
    ops = [(r["operation"], r["outcome"]) for r in rows]
    assert ops == [
        ("Create user", "success"),
        ("Create group", "success"),
        ("Test connection", "success"),
        ("Get user", "success"),
        ("Disable user", "success"),
        ("Enable user", "success"),
        ("Update user", "success"),
        ("Add members", "success"),
        ("Remove members", "success"),
        ("Rename group", "success"),
        ("Create user", "conflict"),
        ("Get user", "not found"),
        ("Discovery", "success"),
        ("Delete group", "success"),
        ("Delete user", "success"),
        ("Authentication failed", "failure"),
    ]
    disable = rows[4]
    assert disable["changed"] == ["active"] and disable["target"] == user["userName"]
    assert (
        "op 'Replace' read as 'replace'" in disable["rewrites"]
        and "'False' read as false (active)" in disable["rewrites"]
    )
    conflict = rows[10]
    assert (
        conflict["status"] == 409 and conflict["error_type"] == "uniqueness" and conflict["target"] == user["userName"]
    )
    assert conflict["notify"] is True and rows[11]["notify"] is False  # a lookup's 404 is expected
    assert json.loads(conflict["response_body"])["status"] == "409"
    assert all(r["duration_ms"] is not None and r["request_id"] for r in rows)


async def test_failure_bodies_are_kept_without_passwords_or_tokens(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    scim = Scim(client, tenant)
    body = entra_user(password="Sup3r-s3cret!", active="maybe")
    r = await scim.req("POST", "/Users", body)
    assert r.status_code == 400
    await settle(services, tenant)
    row = (await log_rows(admin, tenant))[-1]
    assert row["outcome"] == "failure" and row["error_type"] == "invalidValue"
    assert body["userName"] in row["request_body"]
    everything = json.dumps([str(v) for v in row.values()])
    assert "Sup3r-s3cret!" not in everything
    assert tenant.token not in everything and tenant.token[4:] not in everything


async def test_burst_of_bad_tokens_is_one_entry_per_flush(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    async with services.recorder.paused():  # the timer's flush must not split the burst
        for _ in range(25):
            await client.get(f"{tenant.base}/Users", headers={"Authorization": "Bearer shs_rotated-away"})
    await settle(services, tenant)
    rows = [r for r in await log_rows(admin, tenant) if r["operation"] == "Authentication failed"]
    assert len(rows) == 1 and rows[0]["repeat"] == 25 and rows[0]["status"] == 401
    assert "25 requests" in rows[0]["error_detail"]


async def test_drain_is_idempotent_for_redelivered_events(
    admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    event = ActivityEvent(
        event_id=str(uuid.uuid4()),
        received_at="2026-11-29T10:00:00+00:00",
        duration_ms=1.0,
        request_id="r1",
        client_ip=None,
        user_agent=None,
        method="GET",
        path="/x",
        operation="Lookup",
        status=200,
        outcome="success",
    )
    for _ in range(2):  # the same event reaches the outbox twice (a redelivered batch)
        async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
            await add_event_text(conn, encode_event(event).decode())
    first, second = await asyncio.gather(
        audit_drain.drain_tenant(services.db.pool, tenant.tenant),
        audit_drain.drain_tenant(services.db.pool, tenant.tenant),
    )
    assert first.moved + second.moved == 2 and first.inserted + second.inserted == 1
    assert await outbox_count(admin, tenant) == 0
    assert [r["event_id"] for r in await log_rows(admin, tenant)] == [uuid.UUID(event.event_id)]


async def test_sweep_finds_every_tenant_with_pending_events(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, database: str
) -> None:
    handles = [await create_tenant(database) for _ in range(3)]
    for h in handles:
        await Scim(client, h).req("POST", "/Users", entra_user())
    await audit_drain.sweep(services.db.pool, services.db.install_id, full=True)
    for h in handles:
        assert await outbox_count(admin, h) == 0
        assert len(await log_rows(admin, h)) == 1


async def test_retention_purges_old_entries_only(
    admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    schema = tenant.tenant.schema
    await admin.execute(
        f"""INSERT INTO {schema}.activity_log (event_id, received_at, method, path, operation, status, outcome)
            SELECT gen_random_uuid(), now() - make_interval(days => d), 'GET', '/x', 'Lookup', 200, 'success'
            FROM generate_series(1, 120) AS d"""
    )
    removed = await audit_drain.purge_tenant(services.db.pool, tenant.tenant, 90, chunk=7)
    assert removed == 31  # days 90..120 are older than now() - 90 days (day 90 sits a few ms past it)
    assert await admin.fetchval(f"SELECT count(*) FROM {schema}.activity_log") == 89


async def test_activity_cli_shows_entries_newest_first(
    client: httpx.AsyncClient, services: Services, tenant: TenantHandle, database: str
) -> None:
    scim = Scim(client, tenant)
    user = await scim.create_user()
    await scim.req("POST", "/Users", entra_user(userName=user["userName"]))
    await settle(services, tenant)
    r = run(database, "activity", tenant.slug, "--json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)
    assert [i["operation"] for i in items] == ["Create user", "Create user"]
    assert items[0]["outcome"] == "conflict"
    failures = json.loads(run(database, "activity", tenant.slug, "--outcome", "conflict", "--json").stdout)
    assert len(failures) == 1
    text = run(database, "activity", tenant.slug, "--limit", "1")
    assert "409" in text.stdout and "uniqueness" in text.stdout
    assert run(database, "activity", tenant.slug, "--since", "yesterday").returncode == 2
    assert "no tenant named" in run(database, "activity", "nope-nope").stderr


@pytest.mark.parametrize("n", [250])
async def test_reads_are_flushed_in_batches(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, tenant: TenantHandle, n: int
) -> None:
    scim = Scim(client, tenant)
    await asyncio.gather(*(scim.req("GET", "/Users", params={"count": "1"}) for _ in range(n)))

    async def recorded() -> int:
        return await outbox_count(admin, tenant) + len(await log_rows(admin, tenant))

    # The recorder's own timer and batch size flush them: no explicit flush here.
    assert await wait_until(recorded, lambda got: got >= n, f"{n} read events") == n
    await settle(services, tenant)
    assert len(await log_rows(admin, tenant)) == n


async def test_one_failing_tenant_does_not_stop_the_sweep(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, database: str
) -> None:
    bad, good = await create_tenant(database), await create_tenant(database)
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log ADD CONSTRAINT refuse_all CHECK (false)")
    for h in (bad, good):
        await Scim(client, h).req("POST", "/Users", entra_user())
    with pytest.raises(audit_drain.SweepError, match=bad.slug):
        await audit_drain.sweep(services.db.pool, services.db.install_id, full=True)
    assert len(await log_rows(admin, good)) == 1 and await outbox_count(admin, good) == 0
    assert await outbox_count(admin, bad) == 1  # kept, not lost
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log DROP CONSTRAINT refuse_all")
    await audit_drain.sweep(services.db.pool, services.db.install_id, full=True)
    assert len(await log_rows(admin, bad)) == 1


async def test_a_hanging_nudge_never_holds_up_a_flush(services: Services, tenant: TenantHandle) -> None:
    release = threading.Event()
    calls: list[list[int]] = []

    def nudge(ids: list[int]) -> None:  # a publish to a broker that never answers
        calls.append(ids)
        release.wait()

    recorder = ActivityRecorder(services.db.pool, services.db.install_id, nudge, nudge_interval=0)
    try:
        for _ in range(3):
            recorder.wrote(tenant.tenant.id)
            await recorder.flush()  # each returns although the first nudge is still blocked
        assert not release.is_set()

        async def published() -> int:
            return len(calls)

        await wait_until(published, lambda n: n >= 1, "the nudge thread to start")
        assert calls == [[tenant.tenant.id]]  # one publish in flight at a time; the rest wait for it
    finally:
        release.set()


async def test_a_write_to_a_discovery_endpoint_is_named_other_request(
    client: httpx.AsyncClient, admin: asyncpg.Connection, services: Services, tenant: TenantHandle
) -> None:
    r = await client.post(f"{tenant.base}/Schemas", headers=tenant.auth, json={})
    assert r.status_code == 405
    await settle(services, tenant)
    rows = await log_rows(admin, tenant)
    assert [(row["operation"], row["status"], row["resource_type"]) for row in rows] == [(Operation.OTHER, 405, None)]
