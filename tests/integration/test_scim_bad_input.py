"""Bad input gets a clear SCIM error (never a 500), within bounded time, and nothing is half-applied."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from tests.support.factories import ENTERPRISE, entra_user, patch_body
from tests.support.scim import Scim, assert_error


async def count_users(scim: Scim) -> int:
    return int((await scim.get("/Users", count="0"))["totalResults"])


@pytest.mark.parametrize("raw", [b"{bad json", b"", b"   ", b"[1,2", b"\xff\xfe", b'{"userName": "x",}', b"null"])
async def test_malformed_json_is_400_invalid_syntax(scim: Scim, client: httpx.AsyncClient, raw: bytes) -> None:
    before = await count_users(scim)
    r = await client.post(
        f"{scim.t.base}/Users", content=raw, headers={**scim.t.auth, "Content-Type": "application/scim+json"}
    )
    assert_error(r, 400, "invalidSyntax")
    assert await count_users(scim) == before


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        "a string",
        {"userName": 5},
        {"userName": ""},
        {"userName": ["a"]},
        {"userName": "x", "active": "maybe"},
        {"userName": "x", "emails": "a@b.c"},
        {"userName": "x", "emails": [{"value": 7}]},
        {"userName": "x", "name": "Full Name"},
        {"userName": "x", ENTERPRISE: "Sales"},
        {"userName": "x", "emails": [{"value": "a@x", "primary": True}, {"value": "b@x", "primary": True}]},
        {"displayName": "missing userName"},
    ],
)
async def test_wrong_json_types_and_missing_user_name_are_400(scim: Scim, body: Any) -> None:
    before = await count_users(scim)
    r = await scim.req("POST", "/Users", body)
    err = assert_error(r, 400)
    assert err["scimType"] in {"invalidValue", "invalidSyntax"}
    assert await count_users(scim) == before


async def test_unknown_schema_urn_is_refused(scim: Scim) -> None:
    r = await scim.req(
        "POST", "/Users", entra_user(schemas=["urn:ietf:params:scim:schemas:core:2.0:User", "urn:example:unknown"])
    )
    body = assert_error(r, 400, "invalidSyntax")
    assert "urn:example:unknown" in body["detail"]


async def test_read_only_attributes_sent_by_the_client_are_ignored(scim: Scim) -> None:
    fake_id = str(uuid.uuid4())
    r = await scim.req(
        "POST",
        "/Users",
        entra_user(
            id=fake_id,
            groups=[{"value": fake_id}],
            meta={"created": "1999-01-01T00:00:00Z", "version": 'W/"99"'},
            password="hunter2",
        ),
    )
    assert r.status_code == 201
    got = await scim.get(f"/Users/{r.json()['id']}")
    assert got["id"] != fake_id
    assert "groups" not in got and "password" not in got
    assert not got["meta"]["created"].startswith("1999") and got["meta"]["version"] == 'W/"1"'


async def test_password_is_never_stored_or_returned(scim: Scim, services: Any) -> None:
    user = await scim.create_user(password="s3cret-pass")
    await scim.req(
        "PATCH", f"/Users/{user['id']}", patch_body({"op": "add", "path": "password", "value": "other-pass"})
    )
    from scimhub.tenancy.transaction import tenant_transaction

    async with tenant_transaction(services.db.pool, scim.t.tenant) as conn:
        doc = await conn.fetchval("SELECT doc::text FROM scim_user WHERE id = $1", uuid.UUID(user["id"]))
    assert "s3cret-pass" not in doc and "other-pass" not in doc
    assert "password" not in await scim.get(f"/Users/{user['id']}")


async def test_filter_of_10000_characters_is_400(scim: Scim) -> None:
    f = " or ".join(f'userName eq "{i:05d}"' for i in range(500))
    assert len(f) > 10_000
    assert_error(await scim.req("GET", "/Users", params={"filter": f}), 400, "invalidFilter")


async def test_filter_with_500_nested_clauses_is_400(scim: Scim) -> None:
    f = "(" * 500 + 'userName eq "a"' + ")" * 500
    assert_error(await scim.req("GET", "/Users", params={"filter": f}), 400, "invalidFilter")
    f2 = "not (" * 300 + 'userName eq "a"' + ")" * 300
    assert_error(await scim.req("GET", "/Users", params={"filter": f2[:4000]}), 400, "invalidFilter")


async def test_patch_with_10000_operations_is_400_and_changes_nothing(scim: Scim) -> None:
    user = await scim.create_user()
    ops = [{"op": "replace", "path": "displayName", "value": f"n{i}"} for i in range(10_000)]
    body = assert_error(await scim.req("PATCH", f"/Users/{user['id']}", patch_body(*ops)), 400)
    assert "10000 operations" in body["detail"]
    assert (await scim.get(f"/Users/{user['id']}"))["displayName"] == user["displayName"]


async def test_body_of_10_megabytes_is_413(scim: Scim, client: httpx.AsyncClient) -> None:
    before = await count_users(scim)
    payload = json.dumps(entra_user(displayName="x" * (10 * 1024 * 1024))).encode()
    r = await client.post(
        f"{scim.t.base}/Users", content=payload, headers={**scim.t.auth, "Content-Type": "application/scim+json"}
    )
    assert_error(r, 413)
    assert await count_users(scim) == before


async def test_patch_applies_completely_or_not_at_all(scim: Scim) -> None:
    user = await scim.create_user()
    ops = [
        {"op": "replace", "path": "displayName", "value": "Changed"},
        {"op": "replace", "path": "active", "value": "not-a-bool"},
    ]
    assert_error(await scim.req("PATCH", f"/Users/{user['id']}", patch_body(*ops)), 400, "invalidValue")
    got = await scim.get(f"/Users/{user['id']}")
    assert got["displayName"] == user["displayName"] and got["meta"]["version"] == user["meta"]["version"]


async def test_group_patch_is_atomic_across_members_and_attributes(scim: Scim) -> None:
    user = await scim.create_user()
    group = await scim.create_group()
    other = await scim.create_group()
    ops = [
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]},
        {"op": "replace", "path": "displayName", "value": other["displayName"]},  # taken: 409
    ]
    assert_error(await scim.req("PATCH", f"/Groups/{group['id']}", patch_body(*ops)), 409, "uniqueness")
    assert await scim.members(group["id"]) == set()
    assert (await scim.get(f"/Groups/{group['id']}"))["displayName"] == group["displayName"]


@pytest.mark.parametrize(
    ("operations", "scim_type"),
    [
        ([{"op": "frobnicate", "path": "title", "value": "x"}], "invalidSyntax"),
        ([{"op": "replace", "path": "nosuch", "value": "x"}], "invalidPath"),
        ([{"op": "replace", "path": "emails[type eq", "value": "x"}], "invalidPath"),
        ([{"op": "remove"}], "noTarget"),
        ([{"op": "replace", "path": "id", "value": "x"}], "mutability"),
        ([{"op": "replace", "path": "groups", "value": []}], "mutability"),
        ([{"op": "replace", "value": "not an object"}], "invalidValue"),
        ([{"op": "replace", "path": "userName", "value": None}], "invalidValue"),
        (["not an op"], "invalidSyntax"),
        ([], "invalidSyntax"),
    ],
)
async def test_bad_patch_operations_are_clear_errors(scim: Scim, operations: list[Any], scim_type: str) -> None:
    user = await scim.create_user()
    assert_error(await scim.req("PATCH", f"/Users/{user['id']}", patch_body(*operations)), 400, scim_type)
    assert (await scim.get(f"/Users/{user['id']}"))["meta"]["version"] == user["meta"]["version"]


async def test_patch_without_patchop_schema_is_refused(scim: Scim) -> None:
    user = await scim.create_user()
    r = await scim.req("PATCH", f"/Users/{user['id']}", {"schemas": ["urn:wrong"], "Operations": []})
    assert_error(r, 400, "invalidSyntax")


async def test_unknown_endpoint_and_method_are_scim_errors(scim: Scim, client: httpx.AsyncClient) -> None:
    assert_error(await scim.req("GET", "/Widgets"), 404)
    assert_error(await scim.req("POST", f"/Users/{uuid.uuid4()}", {}), 405)
    r = await client.request("TRACE", f"{scim.t.base}/Users", headers=scim.t.auth)
    assert r.status_code in (404, 405) and r.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


async def test_json_content_type_is_accepted_too(scim: Scim, client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{scim.t.base}/Users",
        content=json.dumps(entra_user()).encode(),
        headers={**scim.t.auth, "Content-Type": "application/json"},
    )
    assert r.status_code == 201
