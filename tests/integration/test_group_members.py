"""Group membership changes (RFC 7644 §3.5.2): removal by filter runs in SQL, in operation order, exactly.

A group's members are rows (one per member), never loaded to be matched in Python: removing members by a
filter is one `DELETE ... WHERE group_id = $1 AND (<filter>)`, and by a value list one `DELETE ... = ANY($2)`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.audit import drain
from scimhub.audit.sanitise import LIMITS, clean_text
from scimhub.http.services import Services
from scimhub.provisioning import patching
from scimhub.provisioning.context import ScimContext
from scimhub.scim.projection import Projection
from scimhub.scim.schemas import GROUP_TYPE
from scimhub.tenancy.db import Connection
from tests.support.change_events import read_all, sequence
from tests.support.factories import patch_body
from tests.support.scim import Scim, assert_error
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle, create_tenant


async def mixed_group(scim: Scim) -> tuple[dict[str, Any], list[str], list[str]]:
    """A group with two User members and two Group members."""
    users = [(await scim.create_user())["id"] for _ in range(2)]
    groups = [(await scim.create_group())["id"] for _ in range(2)]
    group = await scim.create_group()
    members = [{"value": u} for u in users] + [{"value": g, "type": "Group"} for g in groups]
    r = await scim.req(
        "PATCH", f"/Groups/{group['id']}", patch_body({"op": "add", "path": "members", "value": members})
    )
    assert r.status_code == 204, r.text
    assert await scim.members(group["id"]) == {*users, *groups}
    return group, users, groups


async def test_remove_members_by_type_filter_removes_exactly_the_group_members(scim: Scim) -> None:
    group, users, groups = await mixed_group(scim)
    other, _, _ = await mixed_group(scim)
    r = await scim.req(
        "PATCH", f"/Groups/{group['id']}", patch_body({"op": "remove", "path": 'members[type eq "Group"]'})
    )
    assert r.status_code == 204
    assert await scim.members(group["id"]) == set(users)
    assert len(await scim.members(other["id"])) == 4  # another group's rows are untouched
    for gid in groups:  # the member groups themselves still exist
        assert (await scim.req("GET", f"/Groups/{gid}")).status_code == 200
    r = await scim.req(
        "PATCH", f"/Groups/{group['id']}", patch_body({"op": "remove", "path": f'members[value ne "{users[0]}"]'})
    )
    assert r.status_code == 204
    assert await scim.members(group["id"]) == {users[0]}


async def test_filters_and_adds_apply_in_operation_order(scim: Scim) -> None:
    group, users, _ = await mixed_group(scim)
    late = (await scim.create_group())["id"]
    early = (await scim.create_group())["id"]
    r = await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body(
            {"op": "add", "path": "members", "value": [{"value": early, "type": "Group"}]},
            {"op": "remove", "path": 'members[type eq "Group"]'},
            {"op": "add", "path": "members", "value": [{"value": late, "type": "Group"}]},
        ),
    )
    assert r.status_code == 204
    # The filter removed what was there and what was added before it, not what was added after it.
    assert await scim.members(group["id"]) == {*users, late}


async def test_a_filter_on_what_a_member_row_does_not_hold_is_400_and_changes_nothing(scim: Scim) -> None:
    group, users, groups = await mixed_group(scim)
    r = await scim.req(
        "PATCH", f"/Groups/{group['id']}", patch_body({"op": "remove", "path": 'members[display eq "x"]'})
    )
    assert_error(r, 400, "invalidPath")
    assert await scim.members(group["id"]) == {*users, *groups}


class LoggedPool:
    """The app's pool, recording every statement the use case sends."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.statements: list[str] = []

    def _log(self, record: Any) -> None:
        self.statements.append(record.query)

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as conn:
            conn.add_query_logger(self._log)
            try:
                yield conn
            finally:
                conn.remove_query_logger(self._log)


@pytest.mark.parametrize(
    ("operation", "expected_delete"),
    [
        ({"op": "remove", "path": 'members[type eq "Group"]'}, "m.member_type"),
        ({"op": "Remove", "path": "members", "value": [{"value": "<user>"}]}, "member_id = ANY($4::text[]::uuid[])"),
    ],
    ids=["by-filter", "by-value-list"],
)
async def test_member_removal_is_one_delete_and_reads_no_member_rows(
    scim: Scim, services: Services, tenant: TenantHandle, operation: dict[str, Any], expected_delete: str
) -> None:
    group, users, groups = await mixed_group(scim)
    if "value" in operation:
        operation = {**operation, "value": [{"value": users[0]}]}
    logged = LoggedPool(services.db.pool)
    ctx = ScimContext(pool=logged, tenant=tenant.tenant, base_url=f"{PUBLIC_URL}/scim/v2/{tenant.slug}")  # type: ignore[arg-type]
    outcome = await patching.patch(ctx, GROUP_TYPE, group["id"], patch_body(operation), Projection())
    assert outcome.status == 204
    member_statements = [s for s in logged.statements if "scim_group_member" in s]
    # The by-value-list removal is a CTE of the member PATCH's one statement (issue #13), so a DELETE is
    # found by its text, not by how the statement starts; no statement reads member rows anywhere in it.
    deletes = [s for s in member_statements if "DELETE FROM scim_group_member" in s]
    assert len(deletes) == 1 and deletes[0].count("DELETE FROM") == 1, member_statements
    assert expected_delete in deletes[0], member_statements
    for statement in member_statements:
        written = statement.count("DELETE FROM scim_group_member") + statement.count("INSERT INTO scim_group_member")
        assert statement.count("scim_group_member") == written, statement
    if "value" in operation:  # Entra's removal: the whole PATCH is that one statement
        assert len([s for s in logged.statements if "scim_group" in s]) == 1, logged.statements
    left = {*users, *groups} - ({users[0]} if "value" in operation else set(groups))
    assert await scim.members(group["id"]) == left


async def _entries(admin: asyncpg.Connection, t: TenantHandle, request_ids: list[str]) -> list[dict[str, Any]]:
    rows = await admin.fetch(
        f"""SELECT request_id, operation, target, status, outcome, error_type, changed, rewrites
            FROM {t.tenant.schema}.activity_log WHERE request_id = ANY($1::text[])""",
        request_ids,
    )
    by_request = {r["request_id"]: dict(r) for r in rows}
    return [by_request[i] for i in request_ids]


async def test_member_only_patches_answer_log_and_notify_exactly_as_the_locking_patch(
    scim: Scim,
    client: httpx.AsyncClient,
    database: str,
    services: Services,
    tenant: TenantHandle,
    admin: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Entra's member PATCHes (adds, removals by a value list or by `members[value eq ...]`, with and without
    If-Match) run as one statement (issue #13); the same requests on a twin group the locking way (the fast
    path switched off) give the same statuses, errors, versions, members, activity entries and change events:
    a duplicate add or the removal of a non-member still raises the version and is logged, but names no
    change event; unknown ids and another tenant's ids are 400 and change nothing."""
    users = [(await scim.create_user())["id"] for _ in range(4)]
    nested = (await scim.create_group())["id"]
    stranger = (await Scim(client, await create_tenant(database)).create_user())["id"]  # another tenant's
    unknown = str(uuid.uuid4())
    long_name = "L" * 300
    worlds: dict[str, dict[str, Any]] = {}
    for mode in ("fast", "locking"):
        name = f"{mode}-{long_name}"
        worlds[mode] = {"group": (await scim.create_group(displayName=name))["id"], "name": name, "seen": []}
    u0, u1, u2, u3 = users

    def add(*ids: str) -> dict[str, Any]:
        return {"op": "Add", "path": "members", "value": [{"$ref": None, "value": i} for i in ids]}

    def listed(*ids: str) -> dict[str, Any]:
        return {"op": "Remove", "path": "members", "value": [{"value": i} for i in ids]}

    def steps(gid: str) -> list[tuple[dict[str, Any], dict[str, str] | None]]:
        return [
            (
                patch_body(
                    add(u0, u1), {"op": "add", "path": "members", "value": [{"value": nested, "type": "Group"}]}
                ),
                {"If-Match": 'W/"1"'},
            ),
            (patch_body(add(u0)), None),  # already a member: version +1, logged, no change event
            (patch_body(listed(u3)), None),  # not a member
            (patch_body(listed(u0), add(u2, u3)), {"If-Match": '"4", W/"5"'}),
            (patch_body({"op": "remove", "path": f'members[value eq "{u1}"]'}), None),  # Entra's flag form
            (patch_body(add(unknown, u0)), None),  # 400, nothing added
            (patch_body(add(stranger)), None),  # another tenant's user: 400
            (patch_body(add(u0)), {"If-Match": 'W/"1"'}),  # 412
            (patch_body(add(gid)), None),  # a group is never its own member: ignored, version +1
            (patch_body(listed("not-an-id")), None),  # nothing to do
            (patch_body(add(u1), listed(u1)), None),  # the last operation wins
            (patch_body({"op": "remove", "path": f'members[value eq "{u2.upper()}"]'}, add(u0)), {"If-Match": "*"}),
        ]

    for mode, world in worlds.items():
        if mode == "locking":
            monkeypatch.setattr(patching, "member_only_delta", lambda *args: None)
        for body, headers in steps(world["group"]):
            r = await scim.req("PATCH", f"/Groups/{world['group']}", body, headers=headers or {})
            detail = r.json().get("detail", "").replace(world["group"], "<group>") if r.content else None
            world["seen"].append((r.status_code, r.headers.get("etag"), detail, await scim.members(world["group"])))
            world.setdefault("requests", []).append(r.headers["x-request-id"])
        r = await scim.req(
            "PATCH", f"/Groups/{uuid.uuid4()}", patch_body({"op": "Add", "path": "members", "value": [{"value": u0}]})
        )
        world["seen"].append((r.status_code, None, r.json().get("scimType"), None))
        monkeypatch.undo()
    assert worlds["fast"]["seen"] == worlds["locking"]["seen"]
    statuses = [s[0] for s in worlds["fast"]["seen"]]
    assert statuses == [204, 204, 204, 204, 204, 400, 400, 412, 204, 204, 204, 204, 404]
    assert worlds["fast"]["seen"][-2][1] == 'W/"9"' and worlds["fast"]["seen"][-2][3] == {nested, u0, u3}

    await services.recorder.flush()
    await drain.drain_tenant(services.db.pool, tenant.tenant)
    logged = {mode: await _entries(admin, tenant, w["requests"]) for mode, w in worlds.items()}
    for entry in logged["fast"] + logged["locking"]:
        entry.pop("request_id")
    for mode, entries in logged.items():  # the target is the group's displayName, cut as every target is
        cut = clean_text(worlds[mode]["name"], LIMITS["target"])
        assert len(cut) == LIMITS["target"]
        for entry in entries:
            if entry["status"] < 300:
                assert entry.pop("target") == cut, entry
            else:
                entry.pop("target")
    assert logged["fast"] == logged["locking"]
    assert [e["operation"] for e in logged["fast"] if e["status"] < 300] == [
        "Add members",
        "Add members",
        "Remove members",
        "Update members",
        "Remove members",
        "Add members",
        "Update group",  # nothing to do (no id listed): the locking way, as before
        "Remove members",
        "Update members",
    ]

    await sequence(services.db.pool, tenant.tenant)
    feed_events = await read_all(services.db.pool, tenant.tenant)
    changes = {
        mode: [
            (e["type"], e["request_id"] and w["requests"].index(e["request_id"]), e["data"])
            for e in feed_events
            if e["resource_id"] == w["group"] and e["type"].startswith("group.member")
        ]
        for mode, w in worlds.items()
    }
    assert changes["fast"] == changes["locking"]
    assert changes["fast"] == [
        (
            "group.member_added",
            0,
            {
                "members": sorted(
                    [{"value": u0, "type": "User"}, {"value": u1, "type": "User"}, {"value": nested, "type": "Group"}],
                    key=lambda m: m["value"],
                )
            },
        ),
        ("group.member_removed", 3, {"members": [{"value": u0, "type": "User"}]}),
        (
            "group.member_added",
            3,
            {
                "members": sorted(
                    [{"value": u2, "type": "User"}, {"value": u3, "type": "User"}], key=lambda m: m["value"]
                )
            },
        ),
        ("group.member_removed", 4, {"members": [{"value": u1, "type": "User"}]}),
        ("group.member_removed", 11, {"members": [{"value": u2, "type": "User"}]}),
        ("group.member_added", 11, {"members": [{"value": u0, "type": "User"}]}),
    ]
