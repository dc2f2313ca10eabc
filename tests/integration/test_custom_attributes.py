"""Custom attributes (issue #12): Entra's documented flows against the app, per-tenant declarations through the
real `scimhub` CLI, strict mode, discovery per tenant, uniqueness, the index, type changes and bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from scimhub.http.services import Services
from tests.support import cli
from tests.support.factories import USER, entra_user
from tests.support.scim import Scim, assert_error
from tests.support.tenants import create_tenant

EXT = "urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User"
ATTR = f"{EXT}:CustomAttribute"
ACME = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"


def _schema(database: str, services: Services, scim: Scim, *args: str) -> str:
    r = cli.run(database, "tenant", "schema", *args)
    assert r.returncode == 0, r.stderr
    services.schemas.forget(scim.t.tenant.id)  # this test's process: as the hub's own process does
    return r.stdout


def _declare(database: str, services: Services, scim: Scim, urn: str, name: str, *flags: str) -> str:
    return _schema(database, services, scim, "add-attribute", scim.t.slug, urn, name, *flags)


async def _doc(admin: asyncpg.Connection, scim: Scim, uid: str) -> dict[str, Any]:
    raw = await admin.fetchval(f"SELECT doc::text FROM {scim.t.tenant.schema}.scim_user WHERE id = $1", uuid.UUID(uid))
    return dict(json.loads(raw))


def _user(**ext: Any) -> dict[str, Any]:
    body = entra_user(**ext)
    body["schemas"] = [*body["schemas"], EXT]
    return body


# ------------------------------------------------------------------------------ (1) lenient, Entra's flows


async def test_entra_create_with_undeclared_extension_round_trips(
    scim: Scim, admin: asyncpg.Connection, database: str
) -> None:
    r = await scim.req("POST", "/Users", _user(**{EXT: {"CustomAttribute": "blue"}}))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created[EXT] == {"CustomAttribute": "blue"}
    assert EXT in created["schemas"]
    assert (await _doc(admin, scim, created["id"]))[EXT] == {"CustomAttribute": "blue"}
    got = await scim.get(f"/Users/{created['id']}")
    assert got[EXT] == {"CustomAttribute": "blue"} and EXT in got["schemas"]
    # shown to the admin as seen, not declared
    listed = json.loads(cli.run(database, "tenant", "schema", "list", scim.t.slug, "--json").stdout)
    assert {"resource_type": "User", "urn": EXT, "name": "CustomAttribute"}.items() <= listed["seen_not_declared"][
        0
    ].items()


async def test_entra_patch_by_path_pathless_replace_and_remove(scim: Scim, admin: asyncpg.Connection) -> None:
    uid = (await scim.create_user())["id"]
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": ATTR, "value": "red"}],
    }
    r = await scim.req("PATCH", f"/Users/{uid}", add)
    assert r.status_code == 204, r.text
    assert (await _doc(admin, scim, uid))[EXT] == {"CustomAttribute": "red"}
    replace = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "value": {ATTR: "green", "displayName": "D"}}],
    }
    r = await scim.req("PATCH", f"/Users/{uid}", replace)
    assert r.status_code == 204, r.text
    doc = await _doc(admin, scim, uid)
    assert doc[EXT] == {"CustomAttribute": "green"} and doc["displayName"] == "D"
    got = await scim.get(f"/Users/{uid}")
    assert got[EXT] == {"CustomAttribute": "green"} and EXT in got["schemas"]
    remove = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": ATTR}],
    }
    r = await scim.req("PATCH", f"/Users/{uid}", remove)
    assert r.status_code == 204, r.text
    assert EXT not in await _doc(admin, scim, uid)
    assert EXT not in (await scim.get(f"/Users/{uid}"))["schemas"]


async def test_match_by_custom_attribute_then_create(scim: Scim) -> None:
    code = f"cc-{uuid.uuid4().hex[:8]}"
    flt = f'{ATTR} eq "{code.upper()}"'
    assert (await scim.find("/Users", flt))["totalResults"] == 0
    created = await scim.create_user(**{EXT: {"CustomAttribute": code}}, schemas=[USER, EXT])
    found = await scim.find("/Users", flt)
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == created["id"]
    assert (await scim.find("/Users", f'{ATTR} sw "cc-"'))["totalResults"] == 1
    assert (await scim.find("/Users", f"{ATTR} pr"))["totalResults"] == 1
    # projection
    only = await scim.get(f"/Users/{created['id']}", attributes=ATTR)
    assert only[EXT] == {"CustomAttribute": code} and "userName" not in only
    without = await scim.get(f"/Users/{created['id']}", excludedAttributes=ATTR)
    assert EXT not in without


async def test_undeclared_booleans_are_kept_as_sent_and_filter_as_strings(scim: Scim) -> None:
    created = await scim.create_user(**{EXT: {"Flag": True}}, schemas=[USER, EXT])
    assert created[EXT] == {"Flag": True}
    assert (await scim.find("/Users", f'{EXT}:Flag eq "true"'))["totalResults"] == 1
    assert (await scim.find("/Users", f"{EXT}:Flag eq true"))["totalResults"] == 1


# --------------------------------------------------------------------- (2) declared, strict, discovery


async def test_entra_string_booleans_and_numbers_follow_declared_types(
    scim: Scim, database: str, services: Services, admin: asyncpg.Connection
) -> None:
    _declare(database, services, scim, ACME, "isContractor", "--type", "boolean")
    _declare(database, services, scim, ACME, "level", "--type", "integer")
    _declare(database, services, scim, ACME, "rate", "--type", "decimal")
    body = entra_user(**{ACME: {"isContractor": "True", "level": "42", "rate": "2.5"}})
    body["schemas"].append(ACME)
    r = await scim.req("POST", "/Users", body)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert (await _doc(admin, scim, uid))[ACME] == {"isContractor": True, "level": 42, "rate": 2.5}
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "value": {f"{ACME}:isContractor": "False", f"{ACME}:level": "7"}}],
    }
    assert (await scim.req("PATCH", f"/Users/{uid}", patch)).status_code == 204
    assert (await _doc(admin, scim, uid))[ACME] == {"isContractor": False, "level": 7, "rate": 2.5}
    assert (await scim.find("/Users", f"{ACME}:level gt 5"))["totalResults"] == 1
    assert (await scim.find("/Users", f"{ACME}:level lt 5"))["totalResults"] == 0
    assert (await scim.find("/Users", f"{ACME}:isContractor eq false"))["totalResults"] == 1
    # a wrong-type value: a clear 400, nothing changed
    bad = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": f"{ACME}:level", "value": "seven"}],
    }
    body_err = assert_error(await scim.req("PATCH", f"/Users/{uid}", bad), 400, "invalidValue")
    assert "level" in body_err["detail"]
    assert (await _doc(admin, scim, uid))[ACME]["level"] == 7


async def test_two_tenants_same_urn_different_types_and_own_discovery(
    scim: Scim, database: str, services: Services, client: Any
) -> None:
    other = Scim(client, await create_tenant(database))
    _declare(database, services, scim, ACME, "costCode", "--type", "integer")
    _declare(database, services, other, ACME, "costCode", "--type", "string", "--case-exact")
    assert (await scim.req("POST", "/Users", entra_user(**{ACME: {"costCode": 12}}))).status_code == 201
    assert_error(await scim.req("POST", "/Users", entra_user(**{ACME: {"costCode": "x1"}})), 400, "invalidValue")
    assert (await other.req("POST", "/Users", entra_user(**{ACME: {"costCode": "x1"}}))).status_code == 201
    assert_error(await other.req("POST", "/Users", entra_user(**{ACME: {"costCode": 12}})), 400, "invalidValue")
    mine = await scim.get(f"/Schemas/{ACME}")
    theirs = await other.get(f"/Schemas/{ACME}")
    assert mine["attributes"][0]["type"] == "integer" and theirs["attributes"][0]["type"] == "string"
    third = Scim(client, await create_tenant(database))
    assert ACME not in {s["id"] for s in (await third.get("/Schemas"))["Resources"]}
    rt = await scim.get("/ResourceTypes/User")
    assert {"schema": ACME, "required": False} in rt["schemaExtensions"]
    rt3 = await third.get("/ResourceTypes/User")
    assert all(e["schema"] != ACME for e in rt3["schemaExtensions"])


async def test_strict_mode_refuses_undeclared_with_how_to_declare(
    scim: Scim, database: str, services: Services
) -> None:
    _schema(database, services, scim, "mode", scim.t.slug, "strict")
    r = await scim.req("POST", "/Users", _user(**{EXT: {"CustomAttribute": "blue"}}))
    detail = assert_error(r, 400)["detail"]
    assert EXT in detail and "add-attribute" in detail
    uid = (await scim.create_user())["id"]
    op = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "value": {ATTR: "green"}}],
    }
    detail = assert_error(await scim.req("PATCH", f"/Users/{uid}", op), 400)["detail"]
    assert "CustomAttribute" in detail and "add-attribute" in detail
    _declare(database, services, scim, EXT, "CustomAttribute", "--type", "string")
    assert (await scim.req("PATCH", f"/Users/{uid}", op)).status_code == 204
    detail = assert_error(
        await scim.req("POST", "/Users", _user(**{EXT: {"CustomAttribute": "b", "Other": "x"}})), 400
    )["detail"]
    assert f"{EXT}:Other" in detail


# ------------------------------------------------------------------------------ (3) unique, index, sort


async def test_unique_custom_attribute_gives_409_and_index_is_used(
    scim: Scim, database: str, services: Services, admin: asyncpg.Connection
) -> None:
    out = _declare(database, services, scim, ACME, "badge", "--type", "string", "--unique")
    assert "declared" in out
    await scim.create_user(**{ACME: {"badge": "B-1"}})
    r = await scim.req("POST", "/Users", entra_user(**{ACME: {"badge": "b-1"}}))
    assert "badge" in assert_error(r, 409, "uniqueness")["detail"]
    for i in range(3):
        await scim.create_user(**{ACME: {"badge": f"B-{i + 2}"}})
    asc = await scim.get("/Users", sortBy=f"{ACME}:badge", filter=f"{ACME}:badge pr")
    assert [u[ACME]["badge"] for u in asc["Resources"]] == ["B-1", "B-2", "B-3", "B-4"]
    await admin.execute(f"SET search_path = {scim.t.tenant.schema}")
    await admin.execute("SET enable_seqscan = off")
    plan = "\n".join(
        r[0]
        for r in await admin.fetch(
            f"EXPLAIN SELECT id FROM scim_user u WHERE lower((u.doc->'{ACME}'->>'badge')) = lower('b-2'::text)"
        )
    )
    assert "scim_cx_u_" in plan, plan


# ------------------------------------------------------------------------------ (5) safe changes


async def test_type_change_with_and_without_convertible_data(
    scim: Scim, database: str, services: Services, admin: asyncpg.Connection
) -> None:
    a = await scim.create_user(**{EXT: {"Level": "3"}}, schemas=[USER, EXT])  # kept as sent (a string)
    r = cli.run(database, "tenant", "schema", "add-attribute", scim.t.slug, EXT, "Level", "--type", "integer")
    assert r.returncode == 0, r.stderr
    assert "1 value(s) converted" in r.stdout
    assert (await _doc(admin, scim, a["id"]))[EXT] == {"Level": 3}
    services.schemas.forget(scim.t.tenant.id)
    await scim.create_user(**{EXT: {"Level": 4}}, schemas=[USER, EXT])
    b = await scim.create_user(**{EXT: {"Note": "x"}}, schemas=[USER, EXT])
    _declare(database, services, scim, EXT, "Note", "--type", "string")
    r = cli.run(database, "tenant", "schema", "add-attribute", scim.t.slug, EXT, "Note", "--type", "integer")
    assert r.returncode == 1 and "not a valid integer" in r.stderr and b["id"] in r.stderr
    listed = json.loads(cli.run(database, "tenant", "schema", "list", scim.t.slug, "--json").stdout)
    assert {a["name"]: a["type"] for a in listed["attributes"]}["Note"] == "string"  # nothing changed
    # removal keeps the values until confirmed
    _schema(database, services, scim, "remove-attribute", scim.t.slug, EXT, "Note")
    assert (await _doc(admin, scim, b["id"]))[EXT]["Note"] == "x"
    assert (await scim.get(f"/Users/{b['id']}"))[EXT]["Note"] == "x"
    r = cli.run(database, "tenant", "schema", "remove-attribute", scim.t.slug, EXT, "Note", "--delete-values")
    assert r.returncode == 1 and (await _doc(admin, scim, b["id"]))[EXT]["Note"] == "x"
    _schema(database, services, scim, "remove-attribute", scim.t.slug, EXT, "Note", "--delete-values", "--yes")
    assert EXT not in await _doc(admin, scim, b["id"])


# ------------------------------------------------------------------------------ (6) bad input


@pytest.mark.parametrize(
    ("urn", "name", "wants"),
    [
        ("urn:example:custom:2.0:User", "costCode", "not a custom extension URN"),
        ("urn:ietf:params:scim:schemas:core:2.0:User", "costCode", "not a custom extension URN"),
        ("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "x", "not a custom extension URN"),
        (ACME, "1abc", "not a SCIM attribute name"),
        (ACME, "cost code", "not a SCIM attribute name"),
        (ACME, "a" * 65, "not a SCIM attribute name"),
    ],
)
async def test_bad_declarations_are_refused(database: str, tenant: Any, urn: str, name: str, wants: str) -> None:
    r = cli.run(database, "tenant", "schema", "add-attribute", tenant.slug, urn, name, "--type", "string")
    assert r.returncode == 1 and wants in r.stderr, r.stderr
    listed = json.loads(cli.run(database, "tenant", "schema", "list", tenant.slug, "--json").stdout)
    assert listed["attributes"] == []


async def test_bad_custom_values_are_clear_400s_and_nothing_is_written(scim: Scim, admin: asyncpg.Connection) -> None:
    before = await admin.fetchval(f"SELECT count(*) FROM {scim.t.tenant.schema}.scim_user")
    many = {f"a{i}": "x" for i in range(10_000)}
    detail = assert_error(await scim.req("POST", "/Users", _user(**{EXT: many})), 400, "invalidValue")["detail"]
    assert "at most 100 undeclared" in detail
    assert_error(await scim.req("POST", "/Users", _user(**{EXT: {"bad name": "x"}})), 400, "invalidValue")
    assert_error(await scim.req("POST", "/Users", _user(**{EXT: "not an object"})), 400, "invalidValue")
    assert await admin.fetchval(f"SELECT count(*) FROM {scim.t.tenant.schema}.scim_user") == before
    uid = (await scim.create_user())["id"]
    ops = [{"op": "Add", "path": f"{EXT}:a{i}", "value": "x"} for i in range(150)]
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
    assert_error(await scim.req("PATCH", f"/Users/{uid}", body), 400, "invalidValue")
    assert EXT not in await _doc(admin, scim, uid)


# ------------------------------------------------------------------------------ (4) hub and admin API


async def test_hub_lists_seen_attributes_and_declares_in_one_step(
    scim: Scim, client: Any, admin: asyncpg.Connection
) -> None:
    from tests.integration.test_hub import csrf_of, make_admin, signed_in

    await scim.create_user(**{EXT: {"CustomAttribute": "blue"}}, schemas=[USER, EXT])
    c = await signed_in(client, scim.t, await make_admin(admin, scim.t))
    page = await c.get(f"/hub/{scim.t.slug}/schema")
    assert page.status_code == 200 and f"{EXT}:CustomAttribute" in page.text and 'data-testid="seen-row"' in page.text
    r = await c.post(
        f"/hub/{scim.t.slug}/schema/declare",
        data={
            "csrf": csrf_of(page.text),
            "resource_type": "User",
            "urn": EXT,
            "name": "CustomAttribute",
            "type": "string",
        },
    )
    assert r.status_code == 200 and "declared custom attribute" in r.text, r.text[:2000]
    assert 'data-testid="seen-row"' not in r.text and 'data-testid="declared-row"' in r.text
    # the change reaches SCIM discovery at once in this process
    assert any(s["id"] == EXT for s in (await scim.get("/Schemas"))["Resources"])
    bad = await c.post(
        f"/hub/{scim.t.slug}/schema/declare",
        data={"csrf": csrf_of(r.text), "resource_type": "User", "urn": "urn:x:y", "name": "a", "type": "string"},
    )
    assert bad.status_code == 400 and "not a custom extension URN" in bad.text
    trail = await admin.fetch(
        "SELECT summary FROM public.admin_trail WHERE tenant_id = $1 AND action = 'schema.changed'", scim.t.tenant.id
    )
    assert [t["summary"] for t in trail] == [f"declared custom attribute {EXT}:CustomAttribute (User, string)"]


async def test_admin_api_declares_lists_and_removes(scim: Scim, client: Any, admin: asyncpg.Connection) -> None:
    from scimhub import admins

    key = await admins.create_api_key(admin, scim.t.tenant.id, "ci", scopes=("schema:read", "schema:write"))
    auth = {"Authorization": f"Bearer {key}"}
    body = {"urn": ACME, "name": "costCode", "type": "string", "unique": True}
    r = await client.post("/admin/api/schema/attributes", json=body, headers=auth)
    assert r.status_code == 200, r.text
    listed = (await client.get("/admin/api/schema", headers=auth)).json()
    assert listed["mode"] == "lenient" and [a["name"] for a in listed["attributes"]] == ["costCode"]
    await scim.create_user(**{ACME: {"costCode": "A"}})
    assert_error(await scim.req("POST", "/Users", entra_user(**{ACME: {"costCode": "a"}})), 409, "uniqueness")
    bad = await client.post("/admin/api/schema/attributes", json={**body, "type": "float"}, headers=auth)
    assert bad.status_code == 400 and "type must be one of" in bad.json()["detail"]
    r = await client.put("/admin/api/schema/mode", json={"mode": "strict"}, headers=auth)
    assert r.status_code == 200, r.text
    r = await client.delete("/admin/api/schema/attributes", params={"urn": ACME, "name": "costCode"}, headers=auth)
    assert r.status_code == 200 and "values are kept" in r.json()["summary"]
    # removed: no longer unique, its index is gone; strict mode now refuses it
    assert_error(await scim.req("POST", "/Users", entra_user(**{ACME: {"costCode": "a"}})), 400)
    readonly = await admins.create_api_key(admin, scim.t.tenant.id, "ro", scopes=("schema:read",))
    r = await client.put(
        "/admin/api/schema/mode", json={"mode": "lenient"}, headers={"Authorization": f"Bearer {readonly}"}
    )
    assert r.status_code == 403


async def test_put_and_groups_keep_custom_extensions(
    scim: Scim, database: str, services: Services, admin: asyncpg.Connection
) -> None:
    created = await scim.create_user(**{EXT: {"CustomAttribute": "blue"}}, schemas=[USER, EXT])
    put_body = _user(userName=created["userName"], **{EXT: {"CustomAttribute": "violet"}})
    r = await scim.req("PUT", f"/Users/{created['id']}", put_body)
    assert r.status_code == 200 and r.json()[EXT] == {"CustomAttribute": "violet"}, r.text
    r = await scim.req("PUT", f"/Users/{created['id']}", entra_user(userName=created["userName"]))
    assert r.status_code == 200 and EXT not in r.json()  # PUT replaces: the extension is gone
    gext = "urn:ietf:params:scim:schemas:extension:acme:2.0:Group"
    _declare(database, services, scim, gext, "site", "--type", "string", "--resource-type", "Group")
    g = await scim.req(
        "POST",
        "/Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", gext], "displayName": "G1", gext: {"site": "Oslo"}},
    )
    assert g.status_code == 201 and g.json()[gext] == {"site": "Oslo"}, g.text
    assert (await scim.find("/Groups", f'{gext}:site eq "oslo"'))["totalResults"] == 1
    rt = await scim.get("/ResourceTypes/Group")
    assert {"schema": gext, "required": False} in rt["schemaExtensions"]
    users_rt = await scim.get("/ResourceTypes/User")
    assert all(e["schema"] != gext for e in users_rt["schemaExtensions"])
    # A member added and the whole extension removed in one PATCH: both happen (not the member-only statement).
    both = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": created["id"]}]},
            {"op": "remove", "path": gext},
        ],
    }
    r = await scim.req("PATCH", f"/Groups/{g.json()['id']}", both)
    assert r.status_code == 204, r.text
    got = await scim.get(f"/Groups/{g.json()['id']}")
    assert gext not in got and [m["value"] for m in got["members"]] == [created["id"]]


async def test_required_declared_attribute_is_checked(scim: Scim, database: str, services: Services) -> None:
    _declare(database, services, scim, ACME, "costCenter", "--type", "string", "--required")
    detail = assert_error(await scim.req("POST", "/Users", entra_user()), 400, "invalidValue")["detail"]
    assert f"{ACME}:costCenter is required" in detail
    assert (await scim.req("POST", "/Users", entra_user(**{ACME: {"costCenter": "X"}}))).status_code == 201
    assert [s["required"] for s in (await scim.get(f"/Schemas/{ACME}"))["attributes"]] == [True]


async def test_multi_valued_declared_attribute_and_unique_over_duplicates(
    scim: Scim, database: str, services: Services, admin: asyncpg.Connection
) -> None:
    _declare(database, services, scim, ACME, "skills", "--type", "string", "--multi-valued")
    _declare(database, services, scim, ACME, "levels", "--type", "integer", "--multi-valued")
    u = await scim.create_user(**{ACME: {"skills": ["Go", "SQL"], "levels": ["3", 5]}})
    assert u[ACME] == {"skills": ["Go", "SQL"], "levels": [3, 5]}
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": f"{ACME}:skills", "value": ["Rust", "SQL"]}],
    }
    assert (await scim.req("PATCH", f"/Users/{u['id']}", add)).status_code == 204
    assert (await _doc(admin, scim, u["id"]))[ACME]["skills"] == ["Go", "SQL", "Rust"]
    assert (await scim.find("/Users", f'{ACME}:skills eq "rust"'))["totalResults"] == 1
    assert (await scim.find("/Users", f'{ACME}:skills ne "rust"'))["totalResults"] == 0
    assert (await scim.find("/Users", f"{ACME}:levels gt 4"))["totalResults"] == 1
    assert (await scim.find("/Users", f"{ACME}:levels gt 5"))["totalResults"] == 0
    assert (await scim.find("/Users", f"{ACME}:skills pr"))["totalResults"] == 1
    # two users share a value: it cannot be declared unique, and nothing changes
    await scim.create_user(**{EXT: {"Badge": "same"}}, schemas=[USER, EXT])
    await scim.create_user(**{EXT: {"Badge": "SAME"}}, schemas=[USER, EXT])
    r = cli.run(
        database, "tenant", "schema", "add-attribute", scim.t.slug, EXT, "Badge", "--type", "string", "--unique"
    )
    assert r.returncode == 1 and "cannot be declared unique" in r.stderr, r.stderr
    listed = json.loads(cli.run(database, "tenant", "schema", "list", scim.t.slug, "--json").stdout)
    assert "Badge" not in {a["name"] for a in listed["attributes"]}
    # strict mode: an undeclared extension object names its first attribute
    _schema(database, services, scim, "mode", scim.t.slug, "strict")
    other = "urn:ietf:params:scim:schemas:extension:other:1.0:User"
    detail = assert_error(await scim.req("POST", "/Users", entra_user(**{other: {"x1": "v"}})), 400)["detail"]
    assert f"{other}:x1 is not declared" in detail


async def test_a_tenant_declares_at_most_500_attributes(scim: Scim, database: str, admin: asyncpg.Connection) -> None:
    schema = scim.t.tenant.schema
    await admin.execute(
        f"INSERT INTO {schema}.scim_attribute (resource_type, urn, name, type) "
        f"SELECT 'User', '{ACME}', 'a' || g, 'string' FROM generate_series(1, 500) g"
    )
    r = cli.run(database, "tenant", "schema", "add-attribute", scim.t.slug, ACME, "oneMore", "--type", "string")
    assert r.returncode == 1 and "at most 500 custom attributes" in r.stderr, r.stderr
    assert await admin.fetchval(f"SELECT count(*) FROM {schema}.scim_attribute") == 500
    # changing one already declared is still allowed
    r = cli.run(database, "tenant", "schema", "add-attribute", scim.t.slug, ACME, "a1", "--type", "integer")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "declared-plus-undeclared"])
async def test_removing_a_whole_extension_removes_all_of_it(
    scim: Scim, admin: asyncpg.Connection, database: str, services: Services, declared: bool
) -> None:
    if declared:  # one attribute declared, the other still undeclared (lenient): both go
        _declare(database, services, scim, EXT, "CustomAttribute", "--type", "string")
    r = await scim.req("POST", "/Users", _user(**{EXT: {"CustomAttribute": "blue", "Other": "x"}}))
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    keep = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": f"{EXT}:Missing"}],
    }
    assert (await scim.req("PATCH", f"/Users/{uid}", keep)).status_code == 204
    assert (await _doc(admin, scim, uid))[EXT] == {"CustomAttribute": "blue", "Other": "x"}  # an attribute path
    remove = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": EXT}],
    }
    r = await scim.req("PATCH", f"/Users/{uid}", remove)
    assert r.status_code == 204, r.text
    assert EXT not in await _doc(admin, scim, uid)
    got = await scim.get(f"/Users/{uid}")
    assert EXT not in got and EXT not in got["schemas"]
    r = await scim.req("PATCH", f"/Users/{uid}", remove)  # again: nothing left to remove, nothing else touched
    assert r.status_code == 204, r.text
    assert (await scim.get(f"/Users/{uid}"))["userName"] == got["userName"]
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    add = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": f"{ent}:department", "value": "R&D"}],
    }
    assert (await scim.req("PATCH", f"/Users/{uid}", add)).status_code == 204
    gone = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Remove", "path": ent}]}
    assert (await scim.req("PATCH", f"/Users/{uid}", gone)).status_code == 204
    assert ent not in await _doc(admin, scim, uid)


async def test_a_whole_extension_with_a_required_attribute_cannot_be_removed(
    scim: Scim, admin: asyncpg.Connection, database: str, services: Services
) -> None:
    _declare(database, services, scim, EXT, "CustomAttribute", "--type", "string", "--required")
    r = await scim.req("POST", "/Users", _user(**{EXT: {"CustomAttribute": "blue"}}))
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    remove = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Remove", "path": EXT}],
    }
    r = await scim.req("PATCH", f"/Users/{uid}", remove)
    assert_error(r, 400, "invalidValue")
    assert (await _doc(admin, scim, uid))[EXT] == {"CustomAttribute": "blue"}
