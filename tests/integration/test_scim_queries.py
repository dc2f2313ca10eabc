"""Filters, paging, sorting, projection, .search, PUT and ETags (RFC 7644 §3.4, §3.5.1, §3.14)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.factories import ENTERPRISE, entra_user, patch_body
from tests.support.scim import Scim, assert_error
from tests.support.tenants import TenantHandle


@pytest.fixture
async def people(client: httpx.AsyncClient, tenant: TenantHandle) -> tuple[Scim, list[dict[str, Any]]]:
    scim = Scim(client, tenant)
    rows = [
        ("alice@x.test", "Alice", "Engineering", True, "work"),
        ("bob@x.test", "Bob", "Sales", False, "home"),
        ("carol@y.test", "Carol", "Engineering", True, "work"),
        ("dave@y.test", "Dave", None, True, "other"),
        ("Eve@X.test", "Eve", "Sales", True, "work"),
    ]
    users = []
    for name, given, dept, active, etype in rows:
        ext = {"employeeNumber": given[0]} | ({"department": dept} if dept else {})
        users.append(
            await scim.create_user(
                userName=name,
                name={"givenName": given, "familyName": "Fam"},
                active=active,
                emails=[{"type": etype, "value": name.lower()}],
                displayName=given,
                **{ENTERPRISE: ext},
            )
        )
    return scim, users


async def names(scim: Scim, f: str, **params: str) -> list[str]:
    body = await scim.find("/Users", f, **params)
    return sorted(r["userName"] for r in body["Resources"])


@pytest.mark.parametrize(
    ("filter_text", "expected"),
    [
        ('userName sw "a"', ["alice@x.test"]),
        ('userName ew "X.TEST"', ["Eve@X.test", "alice@x.test", "bob@x.test"]),
        ('userName co "y.t"', ["carol@y.test", "dave@y.test"]),
        ('userName gt "carol@y.test"', ["Eve@X.test", "dave@y.test"]),
        ('userName le "bob@x.test"', ["alice@x.test", "bob@x.test"]),
        ("active eq false", ["bob@x.test"]),
        ("active ne false", ["Eve@X.test", "alice@x.test", "carol@y.test", "dave@y.test"]),
        (f'{ENTERPRISE}:department eq "engineering"', ["alice@x.test", "carol@y.test"]),
        (f"{ENTERPRISE}:department pr", ["Eve@X.test", "alice@x.test", "bob@x.test", "carol@y.test"]),
        (f"not ({ENTERPRISE}:department pr)", ["dave@y.test"]),
        (f'not ({ENTERPRISE}:department eq "Sales")', ["alice@x.test", "carol@y.test", "dave@y.test"]),
        ('name.givenName eq "alice" or name.givenName eq "BOB"', ["alice@x.test", "bob@x.test"]),
        ('(userName sw "a" or userName sw "b") and active eq true', ["alice@x.test"]),
        ('emails[type eq "work" and value co "@y."]', ["carol@y.test"]),
        ('emails.type eq "home"', ["bob@x.test"]),
        ('emails.value ew "x.test" and not (emails.type eq "work")', ["bob@x.test"]),
        (
            'meta.created gt "2000-01-01T00:00:00Z"',
            ["Eve@X.test", "alice@x.test", "bob@x.test", "carol@y.test", "dave@y.test"],
        ),
        ("title pr", []),
        ("title eq null", ["Eve@X.test", "alice@x.test", "bob@x.test", "carol@y.test", "dave@y.test"]),
        ('userName eq "%"', []),
        ('userName co "_"', []),
    ],
)
async def test_filter_grammar(people: tuple[Scim, list[dict[str, Any]]], filter_text: str, expected: list[str]) -> None:
    scim, _ = people
    assert await names(scim, filter_text) == expected


@pytest.mark.parametrize(
    "filter_text",
    [
        'nosuch eq "x"',
        "userName eq",
        'userName xx "a"',
        '(userName eq "a"',
        'userName eq "a")',
        'active eq "yes"',
        "userName eq Test1",
        'emails[value eq "a"',
        'name[givenName eq "a"]',
        "userName gt true",
        "",
        'password eq "x"',
        'members.value eq "x"',
        'userName eq "a" and',
        'urn:bad:schema:userName eq "a"',
    ],
)
async def test_bad_filters_are_400_invalid_filter_never_match_all(
    people: tuple[Scim, list[dict[str, Any]]], filter_text: str
) -> None:
    scim, _ = people
    r = await scim.req("GET", "/Users", params={"filter": filter_text})
    assert_error(r, 400, "invalidFilter")


async def test_paging_start_index_and_count(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, _ = people
    page = await scim.get("/Users", startIndex="2", count="2", sortBy="userName")
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [r["userName"] for r in page["Resources"]] == ["bob@x.test", "carol@y.test"]
    beyond = await scim.get("/Users", startIndex="50")
    assert beyond["totalResults"] == 5 and beyond["Resources"] == []
    zero = await scim.get("/Users", count="0")
    assert zero["totalResults"] == 5 and zero["Resources"] == []
    clamped = await scim.get("/Users", count="100000", startIndex="-3")
    assert clamped["startIndex"] == 1 and clamped["itemsPerPage"] == 5
    assert_error(await scim.req("GET", "/Users", params={"count": "ten"}), 400, "invalidValue")


async def test_sorting(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, _ = people
    desc = await scim.get("/Users", sortBy="name.givenName", sortOrder="descending")
    assert [r["name"]["givenName"] for r in desc["Resources"]] == ["Eve", "Dave", "Carol", "Bob", "Alice"]
    by_email = await scim.get("/Users", sortBy="emails")
    assert by_email["Resources"][0]["userName"] == "alice@x.test"
    assert_error(await scim.req("GET", "/Users", params={"sortBy": "nosuch"}), 400)
    assert_error(await scim.req("GET", "/Users", params={"sortBy": "userName", "sortOrder": "up"}), 400)


async def test_attributes_and_excluded_attributes(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, users = people
    only = await scim.get(
        f"/Users/{users[0]['id']}", attributes="userName,name.givenName," + f"{ENTERPRISE}:department"
    )
    assert only == {
        "schemas": users[0]["schemas"],
        "id": users[0]["id"],
        "userName": "alice@x.test",
        "name": {"givenName": "Alice"},
        ENTERPRISE: {"department": "Engineering"},
    }
    excluded = await scim.get(f"/Users/{users[0]['id']}", excludedAttributes="emails,meta,id")
    assert "emails" not in excluded and "meta" not in excluded and excluded["id"] == users[0]["id"]
    created = await scim.req("POST", "/Users", entra_user(), params={"attributes": "userName"})
    assert created.status_code == 201 and set(created.json()) == {"schemas", "id", "userName"}
    patched = await scim.req(
        "PATCH",
        f"/Users/{users[0]['id']}",
        patch_body({"op": "replace", "path": "title", "value": "CTO"}),
        params={"attributes": "title"},
    )
    assert patched.status_code == 200 and patched.json()["title"] == "CTO" and "userName" not in patched.json()


async def test_post_search(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, _ = people
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "c"',
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    r = await scim.req("POST", "/Users/.search", body)
    assert r.status_code == 200
    assert [x["userName"] for x in r.json()["Resources"]] == ["carol@y.test"]
    root = await scim.req("POST", "/.search", {**body, "filter": 'userName sw "c" or displayName eq "Nobody"'})
    assert root.status_code == 200 and root.json()["totalResults"] == 1
    assert_error(await scim.req("POST", "/Users/.search", {"schemas": ["urn:wrong"]}), 400, "invalidSyntax")


async def test_every_list_endpoint_reads_its_parameters_alike(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    # One parser for GET, POST /Users/.search and the root POST /.search (RFC 7644 §3.4.2, §3.4.3).
    scim, _ = people
    search = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"], "sortBy": "userName"}
    for path in ("/Users/.search", "/.search"):
        assert_error(await scim.req("POST", path, {**search, "sortOrder": "up"}), 400, "invalidValue")
        assert_error(await scim.req("POST", path, {**search, "count": "ten"}), 400, "invalidValue")
        assert_error(await scim.req("POST", path, {**search, "filter": 7}), 400, "invalidFilter")
        desc = await scim.req("POST", path, {**search, "sortOrder": "descending", "count": 2})
        assert desc.status_code == 200 and desc.json()["itemsPerPage"] == 2
    root = await scim.req("POST", "/.search", {**search, "sortOrder": "descending"})
    assert [r["userName"] for r in root.json()["Resources"]][:2] == ["Eve@X.test", "dave@y.test"]  # caseExact false


async def test_start_index_beyond_any_number_is_an_empty_page_not_a_500(
    people: tuple[Scim, list[dict[str, Any]]],
) -> None:
    scim, _ = people
    page = await scim.get("/Users", startIndex="99999999999999999999")
    assert page["totalResults"] == 5 and page["Resources"] == [] and page["itemsPerPage"] == 0


async def test_group_filters_on_members(scim_pair: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, users = scim_pair
    ids = {name: (await scim.create_group())["id"] for name in ("both", "one", "empty")}
    for gid, members in ((ids["both"], users), (ids["one"], users[:1])):
        r = await scim.req(
            "PATCH",
            f"/Groups/{gid}",
            patch_body({"op": "add", "path": "members", "value": [{"value": u["id"]} for u in members]}),
        )
        assert r.status_code == 204

    async def groups(f: str) -> set[str]:
        body = await scim.find("/Groups", f, count="200")
        return {g["id"] for g in body["Resources"]} & set(ids.values())

    assert await groups(f'members.value eq "{users[1]["id"]}"') == {ids["both"]}
    assert await groups(f'members.value ne "{users[1]["id"]}"') == {ids["one"], ids["empty"]}
    assert await groups(f'members ne "{users[0]["id"]}"') == {ids["empty"]}
    assert await groups('members.type ne "User"') == {ids["empty"]}
    assert await groups('members[type eq "User"]') == {ids["both"], ids["one"]}


async def test_put_replaces_the_resource(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, users = people
    u = users[0]
    r = await scim.req(
        "PUT",
        f"/Users/{u['id']}",
        {
            "schemas": u["schemas"],
            "userName": u["userName"],
            "active": True,
            "id": "ignored",
            "meta": {"created": "1999-01-01T00:00:00Z"},
        },
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["id"] == u["id"] and "emails" not in got and "name" not in got
    assert got["meta"]["created"] == u["meta"]["created"]
    assert got == await scim.get(f"/Users/{u['id']}")
    assert_error(await scim.req("PUT", f"/Users/{uuid.uuid4()}", {"userName": "x"}), 404)


async def test_put_group_replaces_members(scim_pair: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, users = scim_pair
    group = await scim.create_group()
    await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": users[0]["id"]}]}),
    )
    r = await scim.req(
        "PUT", f"/Groups/{group['id']}", {"displayName": group["displayName"], "members": [{"value": users[1]["id"]}]}
    )
    assert r.status_code == 200
    assert [m["value"] for m in r.json()["members"]] == [users[1]["id"]]
    assert await scim.members(group["id"]) == {users[1]["id"]}


@pytest.fixture
async def scim_pair(client: httpx.AsyncClient, tenant: TenantHandle) -> tuple[Scim, list[dict[str, Any]]]:
    scim = Scim(client, tenant)
    return scim, [await scim.create_user(), await scim.create_user()]


async def test_etags_if_match_and_if_none_match(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, users = people
    u = users[0]
    r = await scim.req("GET", f"/Users/{u['id']}", headers={"If-None-Match": u["meta"]["version"]})
    assert r.status_code == 304 and r.content == b""
    stale = u["meta"]["version"]
    ok = await scim.req(
        "PATCH",
        f"/Users/{u['id']}",
        patch_body({"op": "replace", "path": "title", "value": "A"}),
        headers={"If-Match": stale},
    )
    assert ok.status_code == 204 and ok.headers["etag"] != stale
    refused = await scim.req(
        "PATCH",
        f"/Users/{u['id']}",
        patch_body({"op": "replace", "path": "title", "value": "B"}),
        headers={"If-Match": stale},
    )
    assert_error(refused, 412)
    assert (await scim.get(f"/Users/{u['id']}"))["title"] == "A"
    assert_error(await scim.req("DELETE", f"/Users/{u['id']}", headers={"If-Match": stale}), 412)
    assert_error(
        await scim.req("PUT", f"/Users/{u['id']}", {"userName": u["userName"]}, headers={"If-Match": stale}), 412
    )
    assert (await scim.req("DELETE", f"/Users/{u['id']}", headers={"If-Match": "*"})).status_code == 204


async def test_read_only_endpoints_refuse_writes_with_405(people: tuple[Scim, list[dict[str, Any]]]) -> None:
    scim, _ = people
    for path in ("/ServiceProviderConfig", "/Schemas", "/ResourceTypes"):
        assert_error(await scim.req("POST", path, {}), 405)
