"""Every request shape of the Entra contract's §2 and §3 (../shared/entra-scim-contract.md), one test each."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.factories import ADSCIM, ENTERPRISE, GROUP, USER, entra_group, entra_user, patch_body
from tests.support.scim import Scim, assert_error
from tests.support.settings import PUBLIC_URL

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
MANAGER = f"{ENTERPRISE}:manager"


# --------------------------------------------------------------------------------- §2.1 Test Connection


async def test_connection_user_query_returns_empty_list_response(scim: Scim) -> None:
    r = await scim.req("GET", "/Users", params={"filter": f'userName eq "{uuid.uuid4()}"'})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json() == {"schemas": [LIST], "totalResults": 0, "Resources": [], "startIndex": 1, "itemsPerPage": 0}


async def test_connection_query_with_plus_encoded_spaces(scim: Scim, client: httpx.AsyncClient) -> None:
    r = await client.get(f"{scim.t.base}/Users?filter=externalId+eq+%22johnwong%22", headers=scim.t.auth)
    assert r.status_code == 200
    assert r.json()["totalResults"] == 0


async def test_connection_group_query_excluding_members(scim: Scim) -> None:
    body = await scim.find("/Groups", f'displayName eq "{uuid.uuid4()}"', excludedAttributes="members")
    assert body["totalResults"] == 0 and body["Resources"] == []


async def test_bad_token_gets_401_on_every_method(scim: Scim, client: httpx.AsyncClient) -> None:
    bad = {"Authorization": "Bearer nope"}
    for method, path in [
        ("GET", "/Users"),
        ("POST", "/Users"),
        ("GET", "/Users/x"),
        ("PUT", "/Users/x"),
        ("PATCH", "/Users/x"),
        ("DELETE", "/Users/x"),
        ("GET", "/Groups"),
        ("POST", "/Groups/.search"),
    ]:
        r = await client.request(method, f"{scim.t.base}{path}", headers=bad, json={})
        assert_error(r, 401)


# ------------------------------------------------------------------------------------ §2.2 discovery


def _has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


async def test_schemas_is_a_list_response_without_nulls(scim: Scim) -> None:
    body = await scim.get("/Schemas")
    assert body["schemas"] == [LIST]
    ids = {s["id"] for s in body["Resources"]}
    assert {USER, ENTERPRISE, GROUP} <= ids
    assert not _has_null(body)
    user = next(s for s in body["Resources"] if s["id"] == USER)
    user_name = next(a for a in user["attributes"] if a["name"] == "userName")
    assert user_name["caseExact"] is False and user_name["uniqueness"] == "server"
    assert user_name["mutability"] == "readWrite"
    one = await scim.get(f"/Schemas/{ENTERPRISE}")
    assert one["id"] == ENTERPRISE


async def test_service_provider_config_and_resource_types(scim: Scim) -> None:
    spc = await scim.get("/ServiceProviderConfig")
    assert spc["patch"]["supported"] is True
    assert spc["filter"]["supported"] is True and spc["filter"]["maxResults"] == 200
    assert spc["etag"]["supported"] is True
    rts = await scim.get("/ResourceTypes")
    assert rts["Resources"][0]["endpoint"] == "/Users"
    assert (await scim.get("/ResourceTypes/Group"))["endpoint"] == "/Groups"


async def test_service_configuration_alias_answers_the_service_provider_config(scim: Scim) -> None:
    # The MS reference collection asks for /serviceConfiguration (known-deviations.txt)
    assert await scim.get("/serviceConfiguration") == await scim.get("/ServiceProviderConfig")


async def test_base_url_answers_200_not_404(scim: Scim) -> None:
    r = await scim.req("GET", "")
    assert r.status_code == 200


# ------------------------------------------------------------------------------- §2.3-2.5 users


async def test_create_entra_user_returns_201_with_full_resource(scim: Scim) -> None:
    body = entra_user()
    r = await scim.req("POST", "/Users", body)
    assert r.status_code == 201
    created = r.json()
    assert r.headers["content-type"].startswith("application/scim+json")
    assert created["schemas"] == [USER, ENTERPRISE]
    uuid.UUID(created["id"])
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["location"] == f"{PUBLIC_URL}/scim/v2/{scim.t.slug}/Users/{created['id']}"
    assert r.headers["location"] == created["meta"]["location"]
    assert r.headers["etag"] == created["meta"]["version"]
    for key in ("externalId", "userName", "active", "displayName", "preferredLanguage", "emails", "name", ENTERPRISE):
        assert created[key] == body[key], key
    assert "roles" not in created  # an empty list is no value
    again = await scim.get(f"/Users/{created['id']}")
    assert again == created


async def test_create_accepts_nulls_and_the_malformed_enterprise_urn(scim: Scim) -> None:
    bad_urn = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"
    body = entra_user(addresses=None, nickName=None, schemas=[USER, bad_urn])
    body[bad_urn] = {"department": "Ops", "manager": None}
    del body[ENTERPRISE]
    r = await scim.req("POST", "/Users", body)
    assert r.status_code == 201, r.text
    assert r.json()[ENTERPRISE] == {"department": "Ops"}
    assert "addresses" not in r.json()


async def test_get_unknown_user_is_404_error(scim: Scim) -> None:
    for rid in (str(uuid.uuid4()), "not-a-uuid", "00919288221112222"):
        assert_error(await scim.req("GET", f"/Users/{rid}"), 404)


async def test_match_by_user_name_external_id_and_case(scim: Scim) -> None:
    user = await scim.create_user()
    for f in (
        f'userName eq "{user["userName"]}"',
        f'userName eq "{user["userName"].upper()}"',
        f'USERNAME eq "{user["userName"]}"',
        f'externalId eq "{user["externalId"]}"',
        f'userName eq "{user["userName"]}" and externalId eq "{user["externalId"]}"',
        f'emails[type eq "work"].value eq "{user["emails"][0]["value"]}"',
        f'urn:ietf:params:scim:schemas:core:2.0:User:userName eq "{user["userName"]}"',
    ):
        body = await scim.find("/Users", f)
        assert body["totalResults"] == 1, f
        assert body["Resources"][0]["id"] == user["id"]
    # externalId is caseExact (RFC 7643 §3.1)
    assert (await scim.find("/Users", f'externalId eq "{user["externalId"].upper()}"'))["totalResults"] == 0


async def test_reference_check_with_id_and_manager(scim: Scim) -> None:
    boss = await scim.create_user()
    user = await scim.create_user()
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "add", "path": MANAGER, "value": boss["id"]}))
    assert r.status_code == 204
    body = await scim.find("/Users", f'id eq "{user["id"]}" and manager eq "{boss["id"]}"', attributes="id")
    assert body["totalResults"] == 1
    assert set(body["Resources"][0]) == {"id", "schemas"}


async def test_duplicate_user_name_is_409_uniqueness_case_insensitively(scim: Scim) -> None:
    user = await scim.create_user()
    for name in (user["userName"], user["userName"].upper()):
        body = assert_error(await scim.req("POST", "/Users", entra_user(userName=name)), 409, "uniqueness")
        assert "userName" in body["detail"]
    assert (await scim.find("/Users", f'userName eq "{user["userName"]}"'))["totalResults"] == 1


async def test_ids_are_never_reused(scim: Scim) -> None:
    user = await scim.create_user()
    assert (await scim.req("DELETE", f"/Users/{user['id']}")).status_code == 204
    again = await scim.create_user(userName=user["userName"])
    assert again["id"] != user["id"]


async def test_lowercase_resource_path_and_unknown_query_parameters(scim: Scim) -> None:
    r = await scim.req("GET", "/users", params={"aadOptscim062020": "", "foo": "bar"})
    assert r.status_code == 200 and r.json()["schemas"] == [LIST]


# ------------------------------------------------------------------------------------ §2.6 PATCH users


async def test_patch_legacy_replace_paths(scim: Scim) -> None:
    user = await scim.create_user()
    ops = [
        {"op": "Replace", "path": "displayName", "value": "New Name"},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@contoso.test"},
        {"op": "Replace", "path": "name.givenName", "value": "Gwen"},
        {"op": "Replace", "path": "name.familyName", "value": "Fam"},
        {"op": "Replace", "path": "externalId", "value": "ext-2"},
        {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "999"},
    ]
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body(*ops))
    assert r.status_code == 204
    got = await scim.get(f"/Users/{user['id']}")
    assert got["displayName"] == "New Name"
    assert got["emails"] == [{"primary": True, "type": "work", "value": "new@contoso.test"}]
    assert got["name"]["givenName"] == "Gwen" and got["name"]["familyName"] == "Fam"
    assert got["externalId"] == "ext-2"
    assert got[ENTERPRISE] == {"employeeNumber": "999", "department": "Sales"}
    assert got["meta"]["version"] != user["meta"]["version"]


async def test_patch_pathless_replace_with_dotted_and_urn_keys(scim: Scim) -> None:
    user = await scim.create_user()
    value = {
        "displayName": "Bjfe",
        "name.givenName": "Kkom",
        "name.familyName": "Unua",
        f"{ENTERPRISE}:employeeNumber": "Aklq",
    }
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "replace", "value": value}))
    assert r.status_code == 204
    got = await scim.get(f"/Users/{user['id']}")
    assert got["displayName"] == "Bjfe"
    assert got["name"] == {**user["name"], "givenName": "Kkom", "familyName": "Unua"}
    assert got[ENTERPRISE]["employeeNumber"] == "Aklq"
    assert "name.givenName" not in got


async def test_patch_work_email_is_added_when_missing(scim: Scim) -> None:
    user = await scim.create_user(emails=None)
    r = await scim.req(
        "PATCH",
        f"/Users/{user['id']}",
        patch_body({"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@x.test"}),
    )
    assert r.status_code == 204
    assert (await scim.get(f"/Users/{user['id']}"))["emails"] == [{"type": "work", "value": "w@x.test"}]


@pytest.mark.parametrize("op", ["Add", "add"])
async def test_patch_add_single_valued_string(scim: Scim, op: str) -> None:
    user = await scim.create_user()
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": op, "path": "nickName", "value": "Babs"}))
    assert r.status_code == 204
    assert (await scim.get(f"/Users/{user['id']}"))["nickName"] == "Babs"


@pytest.mark.parametrize(("disable", "enable"), [("False", "True"), (False, True), ("false", "TRUE")])
async def test_patch_disable_and_enable(scim: Scim, disable: Any, enable: Any) -> None:
    user = await scim.create_user()
    r = await scim.req(
        "PATCH", f"/Users/{user['id']}", patch_body({"op": "Replace", "path": "active", "value": disable})
    )
    assert r.status_code == 204
    got = await scim.get(f"/Users/{user['id']}")
    assert got["active"] is False
    assert (await scim.find("/Users", f'userName eq "{user["userName"]}"'))["Resources"][0]["active"] is False
    r = await scim.req(
        "PATCH", f"/Users/{user['id']}", patch_body({"op": "replace", "path": "active", "value": enable})
    )
    assert r.status_code == 204
    assert (await scim.get(f"/Users/{user['id']}"))["active"] is True


async def test_okta_pathless_deactivate(scim: Scim) -> None:
    user = await scim.create_user()
    r = await scim.req(
        "PATCH",
        f"/Users/{user['id']}",
        patch_body({"op": "replace", "value": {"active": False}}),
        headers={"User-Agent": "Okta SCIM Client 1.0.0"},
    )
    assert r.status_code == 200  # Okta gets the resource back
    assert r.json()["active"] is False


async def test_disabled_user_keeps_group_memberships(scim: Scim) -> None:
    user = await scim.create_user()
    group = await scim.create_group()
    await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "Add", "path": "members", "value": [{"value": user["id"]}]}),
    )
    await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "Replace", "path": "active", "value": "False"}))
    assert await scim.members(group["id"]) == {user["id"]}
    assert [g["value"] for g in (await scim.get(f"/Users/{user['id']}"))["groups"]] == [group["id"]]


async def test_patch_rename_user_name(scim: Scim) -> None:
    user = await scim.create_user()
    new = f"{uuid.uuid4()}@testuser.com"
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "Replace", "path": "userName", "value": new}))
    assert r.status_code == 204
    assert (await scim.find("/Users", f'userName eq "{new}"'))["Resources"][0]["id"] == user["id"]


async def test_patch_rename_to_a_taken_user_name_is_409(scim: Scim) -> None:
    a = await scim.create_user()
    b = await scim.create_user()
    r = await scim.req(
        "PATCH", f"/Users/{b['id']}", patch_body({"op": "replace", "path": "userName", "value": a["userName"]})
    )
    assert_error(r, 409, "uniqueness")
    assert (await scim.get(f"/Users/{b['id']}"))["userName"] == b["userName"]


@pytest.mark.parametrize("op", ["add", "replace", "Add"])
async def test_manager_as_plain_string_is_stored_as_value_object(scim: Scim, op: str) -> None:
    boss = await scim.create_user()
    user = await scim.create_user()
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": op, "path": MANAGER, "value": boss["id"]}))
    assert r.status_code == 204
    assert (await scim.get(f"/Users/{user['id']}"))[ENTERPRISE]["manager"] == {"value": boss["id"]}


async def test_manager_legacy_list_form_and_removals(scim: Scim) -> None:
    boss = await scim.create_user()
    user = await scim.create_user()
    r = await scim.req(
        "PATCH",
        f"/Users/{user['id']}",
        patch_body(
            {"op": "Add", "path": "manager", "value": {"$ref": "http://x/Users/" + boss["id"], "value": boss["id"]}}
        ),
    )
    assert r.status_code == 204, r.text
    assert (await scim.get(f"/Users/{user['id']}"))[ENTERPRISE]["manager"]["value"] == boss["id"]
    # A value filter that does not match leaves the manager alone.
    r = await scim.req(
        "PATCH", f"/Users/{user['id']}", patch_body({"op": "Remove", "path": f'{MANAGER}[value eq "{uuid.uuid4()}"]'})
    )
    assert r.status_code == 204
    assert "manager" in (await scim.get(f"/Users/{user['id']}"))[ENTERPRISE]
    r = await scim.req(
        "PATCH", f"/Users/{user['id']}", patch_body({"op": "Remove", "path": f'manager[value eq "{boss["id"]}"]'})
    )
    assert r.status_code == 204
    got = await scim.get(f"/Users/{user['id']}")
    assert "manager" not in got[ENTERPRISE] and got[ENTERPRISE]["employeeNumber"] == "701984"
    await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "add", "path": MANAGER, "value": boss["id"]}))
    r = await scim.req("PATCH", f"/Users/{user['id']}", patch_body({"op": "Remove", "path": MANAGER}))
    assert r.status_code == 204
    assert "manager" not in (await scim.get(f"/Users/{user['id']}"))[ENTERPRISE]


async def test_patch_unknown_user_is_404(scim: Scim) -> None:
    r = await scim.req(
        "PATCH", f"/Users/{uuid.uuid4()}", patch_body({"op": "replace", "path": "active", "value": False})
    )
    assert_error(r, 404)


# --------------------------------------------------------------------------------------- §2.7 delete


async def test_delete_user_then_404_and_filter_empty(scim: Scim) -> None:
    user = await scim.create_user()
    group = await scim.create_group()
    await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": user["id"]}]}),
    )
    r = await scim.req("DELETE", f"/Users/{user['id']}")
    assert r.status_code == 204 and r.content == b""
    assert_error(await scim.req("GET", f"/Users/{user['id']}"), 404)
    assert (await scim.find("/Users", f'userName eq "{user["userName"]}"'))["totalResults"] == 0
    assert await scim.members(group["id"]) == set()  # RFC 7644 §3.6
    assert_error(await scim.req("DELETE", f"/Users/{user['id']}"), 404)


# ------------------------------------------------------------------------------------------ §2.8 groups


async def test_create_entra_group_with_adscim_schema(scim: Scim) -> None:
    body = entra_group()
    assert ADSCIM in body["schemas"]
    r = await scim.req("POST", "/Groups", body)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["schemas"] == [GROUP]
    assert created["displayName"] == body["displayName"] and created["externalId"] == body["externalId"]
    assert created["members"] == []
    assert created["meta"]["resourceType"] == "Group"


async def test_group_get_and_filter_excluding_members(scim: Scim) -> None:
    user = await scim.create_user()
    group = await scim.create_group()
    await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "Add", "path": "members", "value": [{"value": user["id"]}]}),
    )
    one = await scim.get(f"/Groups/{group['id']}", excludedAttributes="members")
    assert "members" not in one and one["displayName"] == group["displayName"]
    found = await scim.find("/Groups", f'displayName eq "{group["displayName"]}"', excludedAttributes="members")
    assert found["totalResults"] == 1 and "members" not in found["Resources"][0]
    full = await scim.get(f"/Groups/{group['id']}")
    assert full["members"] == [
        {"value": user["id"], "type": "User", "$ref": f"{PUBLIC_URL}/scim/v2/{scim.t.slug}/Users/{user['id']}"}
    ]


async def test_duplicate_group_display_name_is_409(scim: Scim) -> None:
    group = await scim.create_group()
    assert_error(
        await scim.req("POST", "/Groups", entra_group(displayName=group["displayName"].upper())), 409, "uniqueness"
    )


async def test_group_patch_add_members_legacy_and_multiple(scim: Scim) -> None:
    users = [await scim.create_user() for _ in range(3)]
    group = await scim.create_group()
    r = await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "Add", "path": "members", "value": [{"$ref": None, "value": users[0]["id"]}]}),
    )
    assert r.status_code == 204 and r.content == b""
    r = await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body(
            {"op": "add", "path": "members", "value": [{"value": users[1]["id"]}, {"value": users[2]["id"]}]},
            {"op": "add", "path": "members", "value": [{"value": users[0]["id"]}]},
        ),
    )
    assert r.status_code == 204
    assert await scim.members(group["id"]) == {u["id"] for u in users}


async def test_group_remove_with_value_list_removes_only_listed(scim: Scim) -> None:
    users = [await scim.create_user() for _ in range(3)]
    group = await scim.create_group()
    await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "Add", "path": "members", "value": [{"value": u["id"]} for u in users]}),
    )
    r = await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "Remove", "path": "members", "value": [{"$ref": None, "value": users[0]["id"]}]}),
    )
    assert r.status_code == 204
    assert await scim.members(group["id"]) == {users[1]["id"], users[2]["id"]}


async def test_group_remove_member_with_value_filter(scim: Scim) -> None:
    users = [await scim.create_user() for _ in range(2)]
    group = await scim.create_group()
    await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": u["id"]} for u in users]}),
    )
    r = await scim.req(
        "PATCH", f"/Groups/{group['id']}", patch_body({"op": "remove", "path": f'members[value eq "{users[1]["id"]}"]'})
    )
    assert r.status_code == 204
    assert await scim.members(group["id"]) == {users[0]["id"]}


async def test_group_replace_display_name(scim: Scim) -> None:
    group = await scim.create_group()
    r = await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "Replace", "path": "displayName", "value": "…updatedDisplayName"}),
    )
    assert r.status_code == 204
    assert (await scim.get(f"/Groups/{group['id']}"))["displayName"] == "…updatedDisplayName"


async def test_group_add_unknown_member_is_400_and_changes_nothing(scim: Scim) -> None:
    user = await scim.create_user()
    group = await scim.create_group()
    r = await scim.req(
        "PATCH",
        f"/Groups/{group['id']}",
        patch_body({"op": "add", "path": "members", "value": [{"value": user["id"]}, {"value": str(uuid.uuid4())}]}),
    )
    assert_error(r, 400, "invalidValue")
    assert await scim.members(group["id"]) == set()


async def test_delete_group_then_404(scim: Scim) -> None:
    group = await scim.create_group()
    assert (await scim.req("DELETE", f"/Groups/{group['id']}")).status_code == 204
    assert_error(await scim.req("GET", f"/Groups/{group['id']}"), 404)
    assert_error(
        await scim.req("PATCH", f"/Groups/{group['id']}", patch_body({"op": "add", "path": "members", "value": []})),
        404,
    )
