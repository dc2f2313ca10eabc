"""A user's PATCH starts from the row this process last read or wrote (`provisioning.snapshots`, issue #13): one
statement fewer, and never a lost update. The other process that changes a user behind the snapshot is played
by a statement on the tenant's table (what another web process's write does: document and version together)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from scimhub.http.services import Services
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.scim import Scim, assert_error
from tests.support.tenants import TenantHandle, create_tenant

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _ops(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(ops)}


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The text of every statement asyncpg sends (each a round trip), as `ops.bench_requests` counts them."""
    sent: list[str] = []
    for name in ("execute", "_execute"):
        original = getattr(asyncpg.Connection, name)

        def counted(self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            if _name != "execute" or len(args) == 1:  # `execute` with arguments goes through `_execute`
                sent.append(str(args[0]))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, name, counted)
    return sent


def _on_users(sent: list[str]) -> int:
    """The statements that read or write `scim_user`: not the recorder's flush, a token lookup or a re-scope,
    which run when their timers and caches say, whatever the test does."""
    return sum("scim_user" in text for text in sent)


async def _behind(services: Services, tenant: TenantHandle, uid: str, **fields: Any) -> None:
    """Another process's write: the document changed (values as JSON values), its version one up."""
    async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
        for key, value in fields.items():
            await conn.execute(
                "UPDATE scim_user SET doc = jsonb_set(doc, ARRAY[$2::text], $3::jsonb), version = version + 1 "
                "WHERE id = $1",
                uuid.UUID(uid),
                key,
                value,
            )


async def _stored(services: Services, tenant: TenantHandle, uid: str) -> tuple[dict[str, Any], int]:
    async with tenant_transaction(services.db.pool, tenant.tenant) as conn:
        row = await conn.fetchrow("SELECT doc, version FROM scim_user WHERE id = $1", uuid.UUID(uid))
    assert row is not None
    return dict(row["doc"]), row["version"]


async def test_a_patch_after_a_read_is_one_statement_fewer(
    scim: Scim, services: Services, statements: list[str]
) -> None:
    uid = (await scim.create_user(displayName="Before"))["id"]
    patch = _ops({"op": "Replace", "path": "displayName", "value": "After"})
    services.snapshots.take(scim.t.tenant.id, uuid.UUID(uid))  # what a restarted process holds: nothing
    statements.clear()
    assert (await scim.req("PATCH", f"/Users/{uid}", patch)).status_code == 204
    assert _on_users(statements) == 2  # the read, then the conditional UPDATE
    await scim.get(f"/Users/{uid}")  # Entra reads, then PATCHes
    used = services.snapshots.used
    statements.clear()
    patch = _ops({"op": "Replace", "path": "displayName", "value": "Again"})
    assert (await scim.req("PATCH", f"/Users/{uid}", patch)).status_code == 204
    assert (_on_users(statements), services.snapshots.used) == (1, used + 1)  # the UPDATE alone
    doc, version = await _stored(services, scim.t, uid)
    assert (doc["displayName"], version) == ("Again", 3)
    assert (await scim.get(f"/Users/{uid}"))["meta"]["version"] == 'W/"3"'


async def test_a_stale_snapshot_loses_nothing_written_behind_it(scim: Scim, services: Services) -> None:
    uid = (await scim.create_user(displayName="Mine", title="Old"))["id"]
    await scim.get(f"/Users/{uid}")
    await _behind(services, scim.t, uid, title="Theirs")
    patch = _ops({"op": "Replace", "path": "displayName", "value": "Patched"})
    assert (await scim.req("PATCH", f"/Users/{uid}", patch)).status_code == 204
    doc, version = await _stored(services, scim.t, uid)
    assert (doc["displayName"], doc["title"], version) == ("Patched", "Theirs", 3)


async def test_a_patch_that_changes_nothing_on_the_snapshot_is_checked_on_the_stored_user(
    scim: Scim, services: Services
) -> None:
    uid = (await scim.create_user(displayName="Same"))["id"]
    await scim.get(f"/Users/{uid}")
    await _behind(services, scim.t, uid, displayName="Changed elsewhere")
    # On the snapshot this PATCH changes nothing; on the stored user it changes the name back.
    patch = _ops({"op": "Replace", "path": "displayName", "value": "Same"})
    assert (await scim.req("PATCH", f"/Users/{uid}", patch)).status_code == 204
    doc, version = await _stored(services, scim.t, uid)
    assert (doc["displayName"], version) == ("Same", 3)


async def test_operations_that_fail_on_a_stale_snapshot_are_judged_on_the_stored_user(
    scim: Scim, services: Services
) -> None:
    uid = (await scim.create_user())["id"]
    await scim.get(f"/Users/{uid}")
    emails = [{"value": "w@example.com", "type": "work"}, {"value": "h@example.com", "type": "home"}]
    await _behind(services, scim.t, uid, emails=emails)
    # Not an `eq` filter, so no entry is made for it: on the snapshot (no such email) 400 noTarget; on the
    # stored user it names the home email.
    patch = _ops({"op": "Replace", "path": 'emails[value sw "h@"].display', "value": "Home"})
    r = await scim.req("PATCH", f"/Users/{uid}", patch)
    assert r.status_code == 204, r.text
    doc, version = await _stored(services, scim.t, uid)
    assert [e.get("display") for e in doc["emails"]] == [None, "Home"]
    assert version == 3
    # The same PATCH on a user that has no such email is refused, and nothing is written.
    other = (await scim.create_user())["id"]
    await scim.get(f"/Users/{other}")
    assert_error(await scim.req("PATCH", f"/Users/{other}", patch), 400, "noTarget")
    assert (await _stored(services, scim.t, other))[1] == 1


async def test_a_tenant_never_patches_from_another_tenants_snapshot(
    scim: Scim, services: Services, database: str
) -> None:
    uid = (await scim.create_user(displayName="Tenant A's"))["id"]
    await scim.get(f"/Users/{uid}")
    other = await create_tenant(database)
    patch = _ops({"op": "Replace", "path": "displayName", "value": "B was here"})
    r = await scim.c.request(
        "PATCH",
        f"{other.base}/Users/{uid}",
        json=patch,
        headers={**other.auth, "Content-Type": "application/scim+json"},
    )
    assert_error(r, 404)
    doc, version = await _stored(services, scim.t, uid)
    assert (doc["displayName"], version) == ("Tenant A's", 1)


async def test_a_patch_with_if_match_is_judged_on_the_stored_user(scim: Scim, services: Services) -> None:
    uid = (await scim.create_user())["id"]
    await scim.get(f"/Users/{uid}")  # snapshot at version 1
    await _behind(services, scim.t, uid, title="Elsewhere")  # version 2
    patch = _ops({"op": "Replace", "path": "title", "value": "Mine"})
    r = await scim.req("PATCH", f"/Users/{uid}", patch, headers={"If-Match": 'W/"2"'})
    assert r.status_code == 204, r.text  # the stored version, not the snapshot's, is what If-Match names
    doc, version = await _stored(services, scim.t, uid)
    assert (doc["title"], version) == ("Mine", 3)


async def test_a_refused_update_from_a_snapshot_gets_the_answer_a_read_gets(scim: Scim, services: Services) -> None:
    """Behind PgBouncer the refused UPDATE ends its transaction: the fresh read must run in a block of its own
    (it answered 500 when it ran in the same one)."""
    taken = (await scim.create_user())["userName"]
    uid = (await scim.create_user())["id"]  # kept by its POST
    await scim.get(f"/Users/{uid}")
    patch = _ops({"op": "Replace", "path": "userName", "value": taken.upper()})
    assert_error(await scim.req("PATCH", f"/Users/{uid}", patch), 409, "uniqueness")
    assert (await _stored(services, scim.t, uid))[1] == 1
    patch = _ops({"op": "Replace", "path": "displayName", "value": "Still patchable"})
    assert (await scim.req("PATCH", f"/Users/{uid}", patch)).status_code == 204
    assert (await _stored(services, scim.t, uid))[0]["displayName"] == "Still patchable"
