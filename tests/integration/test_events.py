"""Change events: every committed change yields its events, positioned in the order readers can see them.

Writes go through the in-process app (real PostgreSQL tenant schemas); the test positions the pending
changes itself (`events.sequencer`, what the worker runs after the drain) and reads the feed as the CLI and
the APIs do.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.events import feed, sequencer
from scimhub.http.services import Services
from scimhub.tenancy.transaction import tenant_transaction
from tests.support import cli
from tests.support.change_events import read_all, sequence
from tests.support.factories import entra_user, patch_body
from tests.support.scim import Scim, assert_error
from tests.support.tenants import TenantHandle


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_every_kind_of_write_yields_its_event_with_what_changed(
    scim: Scim, services: Services, tenant: TenantHandle
) -> None:
    pool = services.db.pool
    user = await scim.create_user()
    uid = user["id"]
    r = await scim.req("PATCH", f"/Users/{uid}", patch_body({"op": "Replace", "path": "active", "value": "False"}))
    assert r.status_code == 204
    r = await scim.req("PATCH", f"/Users/{uid}", patch_body({"op": "replace", "path": "active", "value": True}))
    assert r.status_code == 204
    r = await scim.req(
        "PATCH", f"/Users/{uid}", patch_body({"op": "replace", "path": "displayName", "value": "New Name"})
    )
    assert r.status_code == 204
    other = await scim.create_user()
    group = await scim.create_group(members=[{"value": uid}])
    gid = group["id"]
    r = await scim.req(
        "PATCH",
        f"/Groups/{gid}",
        patch_body({"op": "add", "path": "members", "value": [{"value": other["id"]}, {"value": uid}]}),
    )
    assert r.status_code == 204
    r = await scim.req("PATCH", f"/Groups/{gid}", patch_body({"op": "remove", "path": f'members[value eq "{uid}"]'}))
    assert r.status_code == 204
    r = await scim.req(
        "PATCH", f"/Groups/{gid}", patch_body({"op": "replace", "path": "displayName", "value": "Renamed"})
    )
    assert r.status_code == 204
    assert (await scim.req("DELETE", f"/Groups/{gid}")).status_code == 204
    assert (await scim.req("DELETE", f"/Users/{uid}")).status_code == 204

    await sequence(pool, tenant.tenant)
    events = await read_all(pool, tenant.tenant)
    assert _types(events) == [
        "user.created",
        "user.deactivated",
        "user.reactivated",
        "user.updated",
        "user.created",
        "group.created",
        "group.member_added",
        "group.member_added",  # only `other`: `uid` was a member already
        "group.member_removed",
        "group.updated",
        "group.deleted",
        "user.deleted",
    ]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["id"] for e in events}) == len(events)
    assert all(e["tenant"] == tenant.slug and e["request_id"] for e in events)
    created = events[0]
    assert created["resource_type"] == "User" and created["resource_id"] == uid
    assert created["data"]["resource"]["userName"] == user["userName"]
    updated = events[3]
    assert updated["data"]["changed"] == ["displayName"]
    assert updated["data"]["resource"]["displayName"] == "New Name"
    assert events[6]["data"]["members"] == [{"value": uid, "type": "User"}]
    assert events[7]["data"]["members"] == [{"value": other["id"], "type": "User"}]
    assert events[8]["data"]["members"] == [{"value": uid, "type": "User"}]
    assert events[9]["data"]["changed"] == ["displayName"]


async def test_failed_and_empty_writes_yield_no_event(scim: Scim, services: Services, tenant: TenantHandle) -> None:
    user = await scim.create_user()
    assert_error(await scim.req("POST", "/Users", entra_user(userName=user["userName"])), 409, "uniqueness")
    same = patch_body({"op": "replace", "path": "displayName", "value": user["displayName"]})
    assert (await scim.req("PATCH", f"/Users/{user['id']}", same)).status_code == 204
    assert_error(await scim.req("DELETE", f"/Users/{uuid.uuid4()}"), 404)
    await sequence(services.db.pool, tenant.tenant)
    assert _types(await read_all(services.db.pool, tenant.tenant)) == ["user.created"]


async def test_a_put_replacing_members_names_exactly_who_came_and_went(
    scim: Scim, services: Services, tenant: TenantHandle
) -> None:
    a, b, c = [await scim.create_user() for _ in range(3)]
    group = await scim.create_group(members=[{"value": a["id"]}, {"value": b["id"]}])
    body = {**group, "members": [{"value": b["id"]}, {"value": c["id"]}]}
    assert (await scim.req("PUT", f"/Groups/{group['id']}", body)).status_code == 200
    await sequence(services.db.pool, tenant.tenant)
    events = (await read_all(services.db.pool, tenant.tenant))[3:]
    assert _types(events) == ["group.created", "group.member_added", "group.member_removed", "group.member_added"]
    assert events[2]["data"]["members"] == [{"value": a["id"], "type": "User"}]
    assert events[3]["data"]["members"] == [{"value": c["id"], "type": "User"}]


async def test_cursor_pages_and_refuses_unknown_and_expired_cursors(
    scim: Scim, services: Services, tenant: TenantHandle, admin: asyncpg.Connection
) -> None:
    pool = services.db.pool
    for _ in range(5):
        await scim.create_user()
    await sequence(pool, tenant.tenant)
    async with tenant_transaction(pool, tenant.tenant) as conn:
        first = await feed.read_feed(conn, tenant.slug, None, 2)
        second = await feed.read_feed(conn, tenant.slug, first.cursor, 2)
        rest = await feed.read_feed(conn, tenant.slug, second.cursor, 10)
        with pytest.raises(feed.CursorRejected, match="ahead"):
            await feed.read_feed(conn, tenant.slug, "99", 10)
        with pytest.raises(feed.CursorRejected, match="not a feed position"):
            await feed.read_feed(conn, tenant.slug, "-1", 10)
    assert [e.position for e in first.events + second.events + rest.events] == [1, 2, 3, 4, 5]
    assert first.has_more and not rest.has_more and rest.cursor == "5"
    # Three events pass the retention (their positioning time moved back); the purge removes them.
    await admin.execute(
        f"UPDATE {tenant.tenant.schema}.event_log SET positioned_at = now() - interval '31 days' WHERE position <= 3"
    )
    assert await sequencer.purge_tenant(pool, tenant.tenant, 30) == 3
    async with tenant_transaction(pool, tenant.tenant) as conn:
        with pytest.raises(feed.CursorExpired, match="expired"):
            await feed.read_feed(conn, tenant.slug, "2", 10)
        kept = await feed.read_feed(conn, tenant.slug, "3", 10)
        fresh = await feed.read_feed(conn, tenant.slug, None, 10)
    assert [e.position for e in kept.events] == [4, 5] == [e.position for e in fresh.events]


async def test_feed_under_32_concurrent_writers_never_misses_or_repeats(
    client: httpx.AsyncClient, services: Services, tenant: TenantHandle
) -> None:
    """32 writers commit in whatever order; sequencers run beside them (two at once, as two workers would)
    and a reader follows the feed all along. What it read, in order, is exactly the final feed: positions
    1..n with no gap, no repeat, and every write's event."""
    pool = services.db.pool
    scim = Scim(client, tenant)
    writes_per_writer = 12
    done = asyncio.Event()
    seen: list[int] = []

    async def writer(i: int) -> None:
        rng = random.Random(i)
        mine: list[str] = []
        for _ in range(writes_per_writer):
            if mine and rng.random() < 0.4:
                uid = rng.choice(mine)
                body = patch_body({"op": "replace", "path": "displayName", "value": uuid.uuid4().hex})
                assert (await scim.req("PATCH", f"/Users/{uid}", body)).status_code == 204
            else:
                mine.append((await scim.create_user())["id"])

    async def sequencer_loop() -> None:
        while not done.is_set():
            await sequence(pool, tenant.tenant)
            await asyncio.sleep(0)

    async def reader() -> None:
        cursor: str | None = None
        while True:
            finished = done.is_set()
            async with tenant_transaction(pool, tenant.tenant) as conn:
                page = await feed.read_feed(conn, tenant.slug, cursor, 7)
            seen.extend(e.position for e in page.events)
            cursor = page.cursor
            if finished and not page.events:
                return
            await asyncio.sleep(0)

    readers = [
        asyncio.create_task(reader()),
        asyncio.create_task(sequencer_loop()),
        asyncio.create_task(sequencer_loop()),
    ]
    await asyncio.gather(*(writer(i) for i in range(32)))
    await sequence(pool, tenant.tenant)
    done.set()
    await asyncio.gather(*readers)
    await sequence(pool, tenant.tenant)
    total = 32 * writes_per_writer
    final = await read_all(pool, tenant.tenant)
    assert len(final) == total
    assert seen == [e["position"] for e in final] == list(range(1, total + 1))
    # A later change of a resource is never positioned before an earlier one: created comes first.
    first_seen: dict[str, str] = {}
    for e in final:
        first_seen.setdefault(e["resource_id"], e["type"])
    assert set(first_seen.values()) == {"user.created"}


async def test_the_cli_reads_the_feed_by_cursor_and_says_when_it_expired(
    scim: Scim, services: Services, tenant: TenantHandle, admin: asyncpg.Connection, database: str
) -> None:
    for _ in range(3):
        await scim.create_user()
    await sequence(services.db.pool, tenant.tenant)
    first = cli.run(database, "events", tenant.slug, "--limit", "2", "--json")
    assert first.returncode == 0, first.stderr
    page = json.loads(first.stdout)
    assert [e["position"] for e in page["events"]] == [1, 2] and page["has_more"] and page["cursor"] == "2"
    rest = json.loads(cli.run(database, "events", tenant.slug, "--after", page["cursor"], "--json").stdout)
    assert [e["type"] for e in rest["events"]] == ["user.created"] and rest["cursor"] == "3"
    text = cli.run(database, "events", tenant.slug)
    assert text.returncode == 0 and "user.created" in text.stdout and "cursor 3" in text.stdout
    for bad in ("abc", "9"):
        r = cli.run(database, "events", tenant.slug, "--after", bad)
        assert r.returncode == 2 and "cursor" in r.stderr
    await admin.execute(f"UPDATE {tenant.tenant.schema}.event_feed SET purged_through = 2")
    expired = cli.run(database, "events", tenant.slug, "--after", "1")
    assert expired.returncode == 3 and "expired" in expired.stderr
