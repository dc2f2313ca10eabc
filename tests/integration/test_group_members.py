"""Group membership changes (RFC 7644 §3.5.2): removal by filter runs in SQL, in operation order, exactly.

A group's members are rows (one per member), never loaded to be matched in Python: removing members by a
filter is one `DELETE ... WHERE group_id = $1 AND (<filter>)`, and by a value list one `DELETE ... = ANY($2)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from scimhub.http.services import Services
from scimhub.provisioning import patching
from scimhub.provisioning.context import ScimContext
from scimhub.scim.projection import Projection
from scimhub.scim.schemas import GROUP_TYPE
from scimhub.tenancy.db import Connection
from tests.support.factories import patch_body
from tests.support.scim import Scim, assert_error
from tests.support.settings import PUBLIC_URL
from tests.support.tenants import TenantHandle


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
        ({"op": "Remove", "path": "members", "value": [{"value": "<user>"}]}, "member_id = ANY($2::uuid[])"),
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
    deletes = [s for s in member_statements if s.lstrip().startswith("DELETE")]
    assert len(deletes) == 1 and expected_delete in deletes[0], member_statements
    assert not [s for s in member_statements if s.lstrip().startswith("SELECT")], member_statements
    left = {*users, *groups} - ({users[0]} if "value" in operation else set(groups))
    assert await scim.members(group["id"]) == left
