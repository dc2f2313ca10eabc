"""What a hostile or buggy client sends gets a clear SCIM error or a correct answer, never a 500, and the
activity log keeps working for everyone (issue #11, item 1; the SCIM-input side of item 2).

Limits are checked by what the server answers and stores, never by how long it took; the linear cost of
PATCH is pinned by counting work in tests/unit/test_linear_work.py.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.audit import drain as audit_drain
from scimhub.http.services import Services
from scimhub.scim.characters import MAX_INDEXED_LENGTH, MAX_SEGMENT_LENGTH
from scimhub.scim.schemas import USER_TYPE
from scimhub.store import resources as store
from scimhub.tenancy.transaction import tenant_transaction
from tests.support.factories import ENTERPRISE, entra_group, entra_user, patch_body
from tests.support.processes import LiveServer
from tests.support.scim import Scim, assert_error
from tests.support.tenants import TenantHandle

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"


async def count_users(scim: Scim) -> int:
    return int((await scim.get("/Users", count="0"))["totalResults"])


async def post_raw(scim: Scim, path: str, raw: bytes, method: str = "POST") -> httpx.Response:
    headers = {**scim.t.auth, "Content-Type": "application/scim+json"}
    return await scim.c.request(method, f"{scim.t.base}{path}", content=raw, headers=headers)


async def log_rows(admin: asyncpg.Connection, scim: Scim) -> list[dict[str, Any]]:
    rows = await admin.fetch(f"SELECT * FROM {scim.t.tenant.schema}.activity_log ORDER BY received_at, event_id")
    return [dict(r) for r in rows]


async def settle(services: Services, scim: Scim) -> None:
    await services.recorder.flush()
    await audit_drain.drain_tenant(services.db.pool, scim.t.tenant)


# ------------------------------------------------------------------------------ characters PostgreSQL refuses


async def test_nul_in_user_name_is_400_and_the_activity_log_keeps_working(
    scim: Scim, services: Services, admin: asyncpg.Connection
) -> None:
    """The request of issue #11 that blinded every tenant's activity log: now a 400 whose entry is written,
    and the next request's entry too."""
    r = await scim.req("POST", "/Users", entra_user(userName="x\u0000y"))
    body = assert_error(r, 400, "invalidValue")
    assert "U+0000" in body["detail"] and "'userName'" in body["detail"]
    assert await count_users(scim) == 0
    missing = str(uuid.uuid4())
    assert_error(await scim.req("GET", f"/Users/{missing}"), 404)
    await settle(services, scim)
    rows = await log_rows(admin, scim)
    refused = next(row for row in rows if row["status"] == 400)
    assert refused["error_type"] == "invalidValue" and refused["target"] == "x\ufffdy"
    assert any(row["status"] == 404 and row["resource_id"] == missing for row in rows)


@pytest.mark.parametrize(
    "body",
    [
        entra_user(title="a\u0000"),
        {**entra_user(), "nickName\u0000": "x"},  # a key
        entra_user(name={"givenName": "\u0000"}),
        entra_user(emails=[{"value": "a@b.test", "type": "wo\u0000rk"}]),
        entra_user(**{ENTERPRISE: {"department": "Sa\u0000les"}}),
        entra_user(unknownAttribute="\u0000"),  # ignored attributes are kept in the log's copy of the body
    ],
)
async def test_nul_anywhere_in_a_body_is_400_invalid_value(scim: Scim, body: dict[str, Any]) -> None:
    assert_error(await scim.req("POST", "/Users", body), 400, "invalidValue")
    assert await count_users(scim) == 0


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"x\\ud83dy", b"\\ude00\\ud83d"])
async def test_a_lone_surrogate_in_a_body_is_400_invalid_value(scim: Scim, escape: bytes) -> None:
    raw = json.dumps(entra_user(userName="PLACE")).encode().replace(b"PLACE", escape)
    body = assert_error(await post_raw(scim, "/Users", raw), 400, "invalidValue")
    assert "surrogate" in body["detail"]
    ok = json.dumps(entra_user(userName="PLACE")).encode().replace(b"PLACE", b"\\ud83d\\ude00")  # a pair: fine
    assert (await post_raw(scim, "/Users", ok)).status_code == 201


async def test_patch_paths_and_values_with_nul_or_lone_surrogates_are_400(scim: Scim) -> None:
    user = await scim.create_user()
    path = f"/Users/{user['id']}"
    nul_value = patch_body({"op": "replace", "path": "title", "value": "x\u0000"})
    assert_error(await scim.req("PATCH", path, nul_value), 400, "invalidValue")
    nul_path = patch_body({"op": "replace", "path": "title\u0000", "value": "x"})
    assert_error(await scim.req("PATCH", path, nul_path), 400, "invalidValue")
    pathless = patch_body({"op": "replace", "value": {"displayName": "a\u0000"}})
    assert_error(await scim.req("PATCH", path, pathless), 400, "invalidValue")
    # A filter literal in the path is JSON inside JSON: the body is fine, the literal decodes to a surrogate.
    literal = patch_body({"op": "replace", "path": 'emails[value eq "\\ud800"].type', "value": "work"})
    assert_error(await scim.req("PATCH", path, literal), 400, "invalidPath")
    assert (await scim.get(path))["meta"]["version"] == user["meta"]["version"]


@pytest.mark.parametrize(
    ("params", "scim_type"),
    [
        ({"filter": 'userName eq "a\u0000"'}, "invalidValue"),  # a NUL in the parameter (%00)
        ({"filter": 'userName eq "a\\u0000"'}, "invalidFilter"),  # a literal that decodes to NUL
        ({"filter": 'userName eq "a\\ud800"'}, "invalidFilter"),  # ... to a lone surrogate (was a 500)
        ({"filter": 'emails[value eq "\\udc00"]'}, "invalidFilter"),
        ({"attributes": "userName\u0000"}, "invalidValue"),
        ({"unknownParameter": "\u0000"}, "invalidValue"),  # unknown parameters are ignored, but logged
        ({"sortBy": "\u0000"}, "invalidValue"),
    ],
)
async def test_query_parameters_with_unstorable_characters_are_400(
    scim: Scim, params: dict[str, str], scim_type: str
) -> None:
    assert_error(await scim.req("GET", "/Users", params=params), 400, scim_type)


async def test_search_bodies_and_path_segments_with_nul_are_400(scim: Scim) -> None:
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "filter": 'userName eq "\u0000"'}
    assert_error(await scim.req("POST", "/Users/.search", search), 400, "invalidValue")
    assert_error(await scim.req("POST", "/.search", search), 400, "invalidValue")
    assert_error(await scim.req("GET", "/Users/a%00b"), 400, "invalidValue")
    assert_error(await scim.req("DELETE", "/Groups/%00"), 400, "invalidValue")
    assert_error(await scim.req("GET", "/Us%00ers"), 400, "invalidValue")


# ---------------------------------------------------------------------------------------- over-long values


@pytest.mark.parametrize("attribute", ["userName", "externalId", "displayName"])
async def test_indexed_user_values_over_the_limit_are_400_and_at_the_limit_are_stored(
    scim: Scim, attribute: str
) -> None:
    # 512 four-byte characters (2,048 bytes) fit an index row; one more character is refused, as is 900 KB.
    for too_long in ("u" * (MAX_INDEXED_LENGTH + 1), "u" * 900_000):
        body = assert_error(await scim.req("POST", "/Users", entra_user(**{attribute: too_long})), 400, "invalidValue")
        assert f"the limit is {MAX_INDEXED_LENGTH}" in body["detail"] and attribute in body["detail"]
    longest = "\U0001f600" * MAX_INDEXED_LENGTH
    created = await scim.create_user(**{attribute: longest})
    assert created[attribute] == longest
    assert await count_users(scim) == 1


async def test_indexed_group_values_and_patched_values_over_the_limit_are_400(scim: Scim) -> None:
    long_name = "g" * (MAX_INDEXED_LENGTH + 1)
    assert_error(await scim.req("POST", "/Groups", entra_group(displayName=long_name)), 400, "invalidValue")
    assert_error(await scim.req("POST", "/Groups", entra_group(externalId="e" * 900_000)), 400, "invalidValue")
    group = await scim.create_group()
    rename = patch_body({"op": "replace", "path": "displayName", "value": long_name})
    assert_error(await scim.req("PATCH", f"/Groups/{group['id']}", rename), 400, "invalidValue")
    user = await scim.create_user()
    replace = {**entra_user(), "userName": "u" * 100_000}
    assert_error(await scim.req("PUT", f"/Users/{user['id']}", replace), 400, "invalidValue")
    pathless = patch_body({"op": "replace", "value": {"externalId": "x" * 100_000}})
    assert_error(await scim.req("PATCH", f"/Users/{user['id']}", pathless), 400, "invalidValue")
    assert (await scim.get(f"/Users/{user['id']}"))["meta"]["version"] == user["meta"]["version"]


async def test_an_over_long_id_in_the_url_is_400_and_a_short_unknown_one_404(scim: Scim) -> None:
    body = assert_error(await scim.req("GET", "/Users/" + "a" * 60_000), 400, "invalidValue")
    assert f"the limit is {MAX_SEGMENT_LENGTH}" in body["detail"]
    assert_error(await scim.req("PATCH", "/Groups/" + "b" * 10_000, patch_body()), 400, "invalidValue")
    assert_error(await scim.req("GET", "/Users/not-an-id"), 404)


async def test_an_error_about_a_huge_value_is_a_short_answer(scim: Scim) -> None:
    user = await scim.create_user()
    op = {"op": "x" * 500_000, "path": "title", "value": "t"}
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body(op))
    assert_error(r, 400, "invalidSyntax")
    assert len(r.content) < 2_000


# ----------------------------------------------------------------------------------- large and repeated work


async def test_patch_adding_8000_emails_applies_them_once_each(scim: Scim) -> None:
    user = await scim.create_user(emails=[])
    emails = [{"value": f"e{i}@big.test", "type": "other"} for i in range(8000)]
    ops = patch_body(
        {"op": "add", "path": "emails", "value": emails},
        {"op": "add", "path": "emails", "value": emails[:4000]},  # already there: not added twice
    )
    r = await scim.req("PATCH", f"/Users/{user['id']}", ops)
    assert r.status_code == 204, r.text
    got = await scim.get(f"/Users/{user['id']}")
    assert len(got["emails"]) == 8000 and {e["value"] for e in got["emails"]} == {e["value"] for e in emails}


async def test_a_pathless_replace_counts_each_attribute_against_the_operation_limit(scim: Scim) -> None:
    user = await scim.create_user()
    many = {f"unknown{i}": "x" for i in range(1001)}  # one operation, 1,001 attributes
    body = assert_error(
        await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "replace", "value": many})), 400
    )
    assert "1000" in body["detail"]
    few = {"displayName": "Renamed", "title": "Boss", ENTERPRISE: {"department": "Ops"}}
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "replace", "value": few}))
    assert r.status_code == 204
    assert (await scim.get(f"/Users/{user['id']}"))["title"] == "Boss"


async def test_rewrites_of_a_large_body_stay_few(scim: Scim, services: Services, admin: asyncpg.Connection) -> None:
    # 5,000 bare strings and "True" primaries: one rewrite note per rule and place, not one per entry.
    emails: list[Any] = [f"e{i}@x.test" for i in range(5000)]
    emails[0] = {"value": "first@x.test", "primary": "True"}
    r = await scim.req("POST", "/Users", entra_user(emails=emails, **{f"junk{i}": 1 for i in range(500)}))
    assert r.status_code == 201, r.text
    await settle(services, scim)
    (row,) = [row for row in await log_rows(admin, scim) if row["status"] == 201]
    assert 2 <= len(row["rewrites"]) <= 51


async def _users(services: Services, scim: Scim, n: int) -> list[str]:
    """n users, inserted by the store directly (setting the scene, not under test)."""
    ids = [uuid.uuid4() for _ in range(n)]
    now = dt.datetime.now(dt.UTC)
    async with tenant_transaction(services.db.pool, scim.t.tenant) as conn:
        for i, rid in enumerate(ids):
            await store.insert(conn, USER_TYPE, rid, {"userName": f"member{i}-{rid.hex[:6]}@x.test"}, now)
    return [str(i) for i in ids]


async def test_adding_and_removing_2000_listed_members_in_one_patch(scim: Scim, services: Services) -> None:
    ids = await _users(services, scim, 2000)
    group = await scim.create_group()
    path = f"/Groups/{group['id']}"
    add = patch_body({"op": "add", "path": "members", "value": [{"value": i} for i in ids]})
    assert (await scim.req("PATCH", path, add)).status_code == 204
    assert await scim.members(group["id"]) == set(ids)
    # Entra's dialect: remove with a value list (dialect.REMOVE_VALUE_LIST); 2,000 listed ids (was a 500).
    remove = patch_body({"op": "Remove", "path": "members", "value": [{"value": i} for i in ids]})
    assert (await scim.req("PATCH", path, remove)).status_code == 204
    assert await scim.members(group["id"]) == set()
    # The same 2,000 as 1,000 operations of 2 each, and as one operation per id.
    assert (await scim.req("PATCH", path, add)).status_code == 204
    ops = [
        {"op": "remove", "path": "members", "value": [{"value": a}, {"value": b}]}
        for a, b in zip(ids[::2], ids[1::2], strict=True)
    ]
    assert (await scim.req("PATCH", path, patch_body(*ops))).status_code == 204
    assert await scim.members(group["id"]) == set()


async def test_a_long_or_chain_filter_is_answered(scim: Scim) -> None:
    user = await scim.create_user()
    terms = [f'userName eq "{user["userName"]}"'] + [f'id eq "{uuid.uuid4()}"' for _ in range(80)]
    got = await scim.get("/Users", filter=" or ".join(terms))
    assert got["totalResults"] == 1
    chain = " or ".join(["id pr"] * 450)  # 4,095 characters: a tree of depth 10, not 450
    assert (await scim.get("/Users", filter=chain))["totalResults"] == 1
    values = " or ".join(f'value eq "v{i}@x"' for i in range(150))
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "remove", "path": f"emails[{values}]"}))
    assert r.status_code == 204, r.text


async def test_a_deeply_nested_body_in_a_failing_request_is_logged(
    scim: Scim, services: Services, admin: asyncpg.Connection
) -> None:
    deep = b'{"userName": 5, "x": ' + b"[" * 600 + b"]" * 600 + b"}"
    assert_error(await post_raw(scim, "/Users", deep), 400, "invalidValue")
    await settle(services, scim)
    (row,) = [row for row in await log_rows(admin, scim) if row["status"] == 400]
    assert "nested too deeply" in row["request_body"]


# ------------------------------------------------------------------------------------ paging parameter shapes


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"startIndex": "99999999999999999999"}, (200, 0)),  # issue #11: was a 500
        ({"startIndex": "9" * 5000}, (200, 0)),  # beyond every tenant: an empty page
        ({"count": "99999999999999999999"}, (200, 2)),  # clamped to the maximum page
        ({"count": "-99999999999999999999"}, (200, 0)),  # totals only
        ({"startIndex": "-7", "count": "1"}, (200, 1)),
        ({"count": "1e3"}, (400, None)),
        ({"count": "1.5"}, (400, None)),
        ({"count": "\u0663"}, (400, None)),  # an Arabic-Indic digit is no ASCII whole number
        ({"startIndex": "1_0"}, (400, None)),
    ],
)
async def test_start_index_and_count_in_the_query_string(
    scim: Scim, params: dict[str, str], expected: tuple[int, int | None]
) -> None:
    await scim.create_user()
    await scim.create_user()
    r = await scim.req("GET", "/Users", params=params)
    status, items = expected
    if status == 400:
        assert_error(r, 400, "invalidValue")
        return
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == 2 and r.json()["itemsPerPage"] == items


@pytest.mark.parametrize(
    ("field", "value", "status"),
    [
        ("startIndex", 1.5, 400),
        ("count", 1.5, 400),
        ("count", 2.0, 200),
        ("startIndex", "2", 200),
        ("startIndex", "x", 400),
        ("count", None, 200),
        ("startIndex", 10**30, 200),
        ("count", 10**30, 200),
        ("startIndex", -5, 200),
        ("count", -5, 200),
        ("count", 1e308, 200),
        ("count", True, 400),
        ("count", [1], 400),
        ("startIndex", {"a": 1}, 400),
        ("count", "9" * 5000, 200),
    ],
)
async def test_start_index_and_count_shapes_in_a_search_request(
    scim: Scim, field: str, value: Any, status: int
) -> None:
    await scim.create_user()
    r = await scim.req("POST", "/Users/.search", {field: value})
    if status == 400:
        assert_error(r, 400, "invalidValue")
    else:
        assert r.status_code == 200, r.text
        assert r.json()["totalResults"] == 1
    r = await scim.req("POST", "/.search", {field: value})
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("/Users/%00", 400),
        ("/Users/%ED%A0%80", 404),  # not UTF-8: the server decodes it as U+FFFD, which names no user
        ("/Users?filter=userName%20eq%20%22%00%22", 400),
        ("/Users?filter=userName%20eq%20%22%ED%A0%80%22", 200),
        ("/Users?%00=1", 400),
        ("/Users?count=%ED%A0%80", 400),
        ("/Us%FFers", 404),
    ],
)
async def test_raw_encodings_through_a_real_http_server(
    live_server: LiveServer, tenant: TenantHandle, raw: str, status: int
) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, headers=tenant.auth) as c:
        r = await c.get(f"/scim/v2/{tenant.slug}{raw}")
    if status >= 400:
        assert_error(r, status)
    else:
        assert r.status_code == status, r.text
