"""Consistency under concurrency (#11 item 7), with real concurrent requests against a real web process.

Whatever the interleaving: a deleted user or group never remains a member of a group, a userName is never
taken twice (case-insensitively), and an `If-Match` write never loses another writer's change. Every test
accepts each order the race may take and checks the rows afterwards, so none depends on who wins.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from ops.processes import LiveServer

from scimhub.audit import drain
from scimhub.http.services import Services
from tests.support.change_events import read_all, sequence
from tests.support.factories import entra_group, entra_user, patch_body
from tests.support.scim import Scim, assert_error
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

ROUNDS = 50


@pytest.fixture
async def live(live_server: LiveServer, database: str) -> AsyncIterator[Scim]:
    """A SCIM client of a fresh tenant over a real web process, with room for many requests at once."""
    handle = await create_tenant(database)
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60, limits=limits) as c:
        yield Scim(c, handle)


async def orphans(admin: asyncpg.Connection, t: TenantHandle) -> int:
    """Membership rows whose member or group no longer exists."""
    count: int = await admin.fetchval(
        f"""SELECT count(*) FROM {t.tenant.schema}.scim_group_member m
            WHERE NOT EXISTS (SELECT 1 FROM {t.tenant.schema}.scim_group g WHERE g.id = m.group_id)
               OR (m.member_type = 'User'
                   AND NOT EXISTS (SELECT 1 FROM {t.tenant.schema}.scim_user u WHERE u.id = m.member_id))
               OR (m.member_type = 'Group'
                   AND NOT EXISTS (SELECT 1 FROM {t.tenant.schema}.scim_group g WHERE g.id = m.member_id))"""
    )
    return count


def add_members(*ids: str) -> dict[str, Any]:
    return patch_body({"op": "add", "path": "members", "value": [{"value": i} for i in ids]})


async def test_a_deleted_member_never_stays_in_a_group(live: Scim, admin: asyncpg.Connection) -> None:
    group = await live.create_group()
    kept = await live.create_user()
    for _ in range(ROUNDS):
        users = [await live.create_user() for _ in range(4)]
        nested = await live.create_group()
        doomed = [u["id"] for u in users] + [nested["id"]]
        answers = await asyncio.gather(
            live.req("PATCH", f"/Groups/{group['id']}", add_members(kept["id"], *doomed)),
            *(live.req("DELETE", f"/Users/{i}") for i in doomed[:-1]),
            live.req("DELETE", f"/Groups/{nested['id']}"),
        )
        patch, deletes = answers[0], answers[1:]
        assert [d.status_code for d in deletes] == [204] * len(doomed), [d.text for d in deletes]
        # Either the add came first (and the deletes took the members out again) or a member was gone already.
        if patch.status_code == 400:
            assert_error(patch, 400, "invalidValue")
        else:
            assert patch.status_code in (200, 204), patch.text
        assert await orphans(admin, live.t) == 0
    members = await live.members(group["id"])
    assert members <= {kept["id"]}


async def test_a_deleted_group_keeps_no_member_added_meanwhile(live: Scim, admin: asyncpg.Connection) -> None:
    user = await live.create_user()
    for _ in range(ROUNDS):
        group = await live.create_group()
        patch, delete = await asyncio.gather(
            live.req("PATCH", f"/Groups/{group['id']}", add_members(user["id"])),
            live.req("DELETE", f"/Groups/{group['id']}"),
        )
        assert delete.status_code == 204, delete.text
        assert patch.status_code in (200, 204, 404), patch.text
        assert await orphans(admin, live.t) == 0
    assert (await live.get(f"/Users/{user['id']}")).get("groups", []) == []


async def test_a_user_name_is_taken_once_whatever_the_case(live: Scim, admin: asyncpg.Connection) -> None:
    for n in range(ROUNDS // 5):
        name = f"Racer{n}_{uuid.uuid4().hex[:6]}@contoso.test"
        spellings = [name, name.upper(), name.lower(), name.swapcase(), name.title()] * 2
        answers = await asyncio.gather(*(live.req("POST", "/Users", entra_user(userName=s)) for s in spellings))
        assert sorted(a.status_code for a in answers) == [201] + [409] * (len(spellings) - 1)
        for answer in answers:
            if answer.status_code == 409:
                assert_error(answer, 409, "uniqueness")
        count = await admin.fetchval(
            f"SELECT count(*) FROM {live.t.tenant.schema}.scim_user WHERE lower(user_name) = lower($1)", name
        )
        assert count == 1
    # Renames race too: two users renamed to one name, only one gets it.
    for _ in range(ROUNDS // 5):
        first, second = await live.create_user(), await live.create_user()
        name = f"Same_{uuid.uuid4().hex[:6]}@contoso.test"
        rename = {"op": "replace", "path": "userName"}
        renames = await asyncio.gather(
            live.req("PATCH", f"/Users/{first['id']}", patch_body({**rename, "value": name})),
            live.req("PATCH", f"/Users/{second['id']}", patch_body({**rename, "value": name.upper()})),
        )
        assert sorted(r.status_code for r in renames) in ([200, 409], [204, 409]), [r.text for r in renames]


async def test_if_match_writes_never_lose_a_change(live: Scim) -> None:
    """Writers each add their own value by read-modify-write (PUT of the whole resource with If-Match), retrying
    after 412: every value arrives, and each round has exactly one winner among equal tags."""
    group = await live.create_group(displayName=f"Tagged {uuid.uuid4().hex[:8]}", externalId="start")
    writers = 8

    async def writer(n: int) -> None:
        while True:
            r = await live.req("GET", f"/Groups/{group['id']}", params={"excludedAttributes": "members"})
            assert r.status_code == 200, r.text
            doc = r.json()
            labels = sorted({*doc.get("externalId", "").split(","), f"w{n}"} - {""})
            body = entra_group(displayName=doc["displayName"], externalId=",".join(labels))
            put = await live.req("PUT", f"/Groups/{group['id']}", body, headers={"If-Match": r.headers["ETag"]})
            if put.status_code == 412:
                assert_error(put, 412)
                continue
            assert put.status_code == 200, put.text
            return

    await asyncio.gather(*(writer(n) for n in range(writers)))
    final = await live.get(f"/Groups/{group['id']}")
    assert sorted(final["externalId"].split(",")) == sorted(["start", *(f"w{n}" for n in range(writers))])
    # Every successful PUT raised the version by one: no write was applied over a stale tag.
    assert final["meta"]["version"] == f'W/"{1 + writers}"'

    # Equal tags at once: exactly one wins, the others get 412.
    tag = (await live.req("GET", f"/Groups/{group['id']}")).headers["ETag"]
    answers = await asyncio.gather(
        *(
            live.req(
                "PATCH",
                f"/Groups/{group['id']}",
                patch_body({"op": "replace", "path": "externalId", "value": f"x{n}"}),
                headers={"If-Match": tag},
            )
            for n in range(writers)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses[-(writers - 1) :] == [412] * (writers - 1)
    assert statuses[0] in (200, 204)


async def test_concurrent_patches_of_one_user_never_lose_a_change(live: Scim) -> None:
    """A user's PATCH reads, then writes only if the version is still the one read (issue #13: no row lock, two
    round trips), starting again otherwise: 16 PATCHes at once, each adding its own email, all arrive, and the
    version rose by exactly one per PATCH."""
    user = await live.create_user(userName=f"racer-{uuid.uuid4().hex[:8]}@example.com")
    writers = 16
    answers = await asyncio.gather(
        *(
            live.req(
                "PATCH",
                f"/Users/{user['id']}",
                patch_body({"op": "add", "path": "emails", "value": [{"value": f"w{n}@example.com", "type": "other"}]}),
            )
            for n in range(writers)
        )
    )
    assert all(a.status_code in (200, 204) for a in answers), [a.text for a in answers if a.status_code >= 300]
    final = await live.get(f"/Users/{user['id']}")
    emails = {e["value"] for e in final.get("emails", [])}
    assert {f"w{n}@example.com" for n in range(writers)} <= emails
    assert final["meta"]["version"] == f'W/"{1 + writers}"'


async def test_concurrent_member_patches_of_one_group_lose_nothing(
    live: Scim, services: Services, admin: asyncpg.Connection
) -> None:
    """A group's member PATCH is one statement (issue #13): 16 at once on one group, half adding a member of
    their own, half removing one that was there, lose nothing; each raised the version by exactly one, has
    its activity entry and exactly its change event. Then 8 PATCHes with the same If-Match tag: one wins."""
    writers = 16
    group = await live.create_group()
    gid = group["id"]
    kept = [(await live.create_user())["id"] for _ in range(writers // 2)]
    leaving = [(await live.create_user())["id"] for _ in range(writers // 2)]
    coming = [(await live.create_user())["id"] for _ in range(writers // 2)]
    r = await live.req("PATCH", f"/Groups/{gid}", add_members(*kept, *leaving))
    assert r.status_code == 204, r.text
    start = int((await live.get(f"/Groups/{gid}"))["meta"]["version"].split('"')[1])

    def remove(*members: str) -> dict[str, Any]:
        return patch_body({"op": "Remove", "path": "members", "value": [{"value": m} for m in members]})

    bodies = [add_members(c) for c in coming] + [remove(m) for m in leaving]
    answers = await asyncio.gather(*(live.req("PATCH", f"/Groups/{gid}", body) for body in bodies))
    assert [a.status_code for a in answers] == [204] * writers, [a.text for a in answers if a.status_code != 204]
    final = await live.get(f"/Groups/{gid}")
    assert {m["value"] for m in final["members"]} == {*kept, *coming}
    assert final["meta"]["version"] == f'W/"{start + writers}"'
    assert sorted(int(a.headers["etag"].split('"')[1]) for a in answers) == list(range(start + 1, start + writers + 1))

    request_ids = [a.headers["x-request-id"] for a in answers]
    schema = live.t.tenant.schema

    async def entries() -> list[asyncpg.Record]:
        await drain.drain_tenant(services.db.pool, live.t.tenant)
        return list(
            await admin.fetch(
                f"SELECT request_id, operation, target FROM {schema}.activity_log WHERE request_id = ANY($1::text[])",
                request_ids,
            )
        )

    logged = await wait_until(entries, lambda rows: len(rows) == writers, "an activity entry per member PATCH")
    operations = {r["request_id"]: r["operation"] for r in logged}
    assert [operations[i] for i in request_ids] == ["Add members"] * len(coming) + ["Remove members"] * len(leaving)
    assert {r["target"] for r in logged} == {group["displayName"]}

    await sequence(services.db.pool, live.t.tenant)
    events = [e for e in await read_all(services.db.pool, live.t.tenant) if e["request_id"] in request_ids]
    expected = [("group.member_added", c) for c in coming] + [("group.member_removed", m) for m in leaving]
    by_request = {e["request_id"]: (e["type"], [m["value"] for m in e["data"]["members"]]) for e in events}
    assert len(events) == writers
    assert [by_request[i] for i in request_ids] == [(kind, [member]) for kind, member in expected]

    # An add and a removal of the same member at once: the one with the higher version came last, and the
    # membership is what it left (a removal never reads the member rows of a state older than its version).
    for _ in range(ROUNDS // 10):
        contested = [(await live.create_user())["id"] for _ in range(writers // 2)]
        answers = await asyncio.gather(
            *(live.req("PATCH", f"/Groups/{gid}", body) for c in contested for body in (add_members(c), remove(c)))
        )
        assert [a.status_code for a in answers] == [204] * writers, [a.text for a in answers if a.status_code != 204]
        versions = [int(a.headers["etag"].split('"')[1]) for a in answers]
        members = await live.members(gid)
        for n, c in enumerate(contested):
            added, removed = versions[2 * n], versions[2 * n + 1]
            assert (c in members) == (added > removed), (c, added, removed)
        r = await live.req("PATCH", f"/Groups/{gid}", remove(*contested))
        assert r.status_code == 204, r.text

    tag = (await live.get(f"/Groups/{gid}"))["meta"]["version"]
    tagged = await asyncio.gather(
        *(live.req("PATCH", f"/Groups/{gid}", remove(k), headers={"If-Match": tag}) for k in kept)
    )
    statuses = sorted(a.status_code for a in tagged)
    assert statuses == [204] + [412] * (len(kept) - 1), [a.text for a in tagged]
    for answer in tagged:
        if answer.status_code == 412:
            assert_error(answer, 412)
    winner = kept[[a.status_code for a in tagged].index(204)]
    assert await live.members(gid) == {*kept, *coming} - {winner}
