"""The pure protocol layer with plain dicts: filters, PATCH dialects and their reported rewrites."""

from __future__ import annotations

from typing import Any

import pytest

from scimhub.scim.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue, NoTarget
from scimhub.scim.filter_binding import parse_bound
from scimhub.scim.filters import And, Compare, Not, Or, Present, ValuePath, parse_filter
from scimhub.scim.matching import matches
from scimhub.scim.patch import MemberDelta, apply_patch
from scimhub.scim.projection import apply_projection, parse_projection
from scimhub.scim.quirks import normalise_patch
from scimhub.scim.resources import canonical_resource
from scimhub.scim.schemas import GROUP_TYPE, USER_TYPE, ResourceType

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(
    rtype: ResourceType, doc: dict[str, Any], *ops: dict[str, Any]
) -> tuple[dict[str, Any], list[str], MemberDelta | None, list[str]]:
    parsed, rewrites = normalise_patch(rtype, {"schemas": [PATCH], "Operations": list(ops)}, max_operations=100)
    new, changed, delta = apply_patch(rtype, doc, parsed, rewrites)
    return new, changed, delta, rewrites


def test_precedence_is_not_then_and_then_or() -> None:
    node = parse_filter('a eq "1" or b eq "2" and not (c pr)')
    assert isinstance(node, Or)
    assert isinstance(node.right, And)
    assert isinstance(node.right.right, Not)
    assert isinstance(node.right.right.inner, Present)


def test_keywords_and_attribute_names_are_case_insensitive() -> None:
    doc = canonical_resource(USER_TYPE, {"userName": "Bob", "active": True}, [])
    assert matches(doc, parse_bound('USERNAME EQ "bob" AND Active Eq TRUE', USER_TYPE))


def test_entra_work_email_value_path_with_sub_attribute() -> None:
    node = parse_bound('emails[type eq "work"].value eq "a@x.test"', USER_TYPE)
    assert isinstance(node, ValuePath)
    doc: dict[str, Any] = {
        "userName": "u",
        "emails": [{"type": "home", "value": "a@x.test"}, {"type": "work", "value": "b@x.test"}],
    }
    assert not matches(doc, node)  # same-element semantics
    doc["emails"].append({"type": "work", "value": "A@x.test"})
    assert matches(doc, node)


@pytest.mark.parametrize(
    "text",
    [
        'nosuch eq "x"',
        "userName eq unquoted",
        'emails[nosuch eq "x"]',
        'a eq "x" b',
        'userName eq "x',
        "userName",
        'active eq "true"',
    ],
)
def test_bad_filters_raise_invalid_filter(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_bound(text, USER_TYPE)


def test_unqualified_extension_attribute_resolves() -> None:
    node = parse_bound('manager eq "m1"', USER_TYPE)
    assert isinstance(node, Compare) and node.path.resolved is not None
    assert node.path.resolved.schema.id == ENT and node.path.resolved.leaf.name == "value"


def test_legacy_dialect_rewrites_are_reported() -> None:
    doc = {"userName": "u", "active": True}
    new, changed, _, rewrites = patch(USER_TYPE, doc, {"op": "Replace", "path": "active", "value": "False"})
    assert new["active"] is False and changed == ["active"]
    assert "op 'Replace' read as 'replace'" in rewrites
    assert "'False' read as false (active)" in rewrites
    assert doc["active"] is True  # the input is never mutated


def test_pathless_dotted_and_urn_keys_become_paths() -> None:
    new, changed, _, rewrites = patch(
        USER_TYPE,
        {"userName": "u", "name": {"familyName": "F"}},
        {"op": "replace", "value": {"name.givenName": "G", f"{ENT}:department": "D"}},
    )
    assert new == {"userName": "u", "name": {"familyName": "F", "givenName": "G"}, ENT: {"department": "D"}}
    assert sorted(changed) == ["department", "name.givenName"]
    assert any("name.givenName" in r and "read as path" in r for r in rewrites)


def test_member_remove_with_value_list_removes_only_listed() -> None:
    a, b = "7f4bc1a3-285e-48ae-8202-5accb43efb0e", "8f4bc1a3-285e-48ae-8202-5accb43efb0e"
    _, _, delta, rewrites = patch(
        GROUP_TYPE,
        {"displayName": "g"},
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": a}]},
        {"op": "Add", "path": "members", "value": [{"value": b}]},
    )
    assert delta is not None and not delta.remove_all
    assert {str(x) for x in delta.remove} == {a} and {str(x) for x in delta.add} == {b}
    assert any("removing only the 1 listed" in r for r in rewrites)


def test_remove_members_without_value_clears_all() -> None:
    _, _, delta, _ = patch(GROUP_TYPE, {"displayName": "g"}, {"op": "remove", "path": "members"})
    assert delta is not None and delta.remove_all


def test_manager_string_and_filtered_removal() -> None:
    new, _, _, rewrites = patch(USER_TYPE, {"userName": "u"}, {"op": "add", "path": f"{ENT}:manager", "value": "m1"})
    assert new[ENT]["manager"] == {"value": "m1"}
    assert any("plain id" in r for r in rewrites)
    kept, changed, _, _ = patch(USER_TYPE, new, {"op": "remove", "path": 'manager[value eq "other"]'})
    assert kept == new and changed == []
    gone, changed, _, _ = patch(USER_TYPE, new, {"op": "remove", "path": 'manager[value eq "m1"]'})
    assert ENT not in gone and changed == ["manager"]


def test_filtered_replace_without_match_needs_equality_filter() -> None:
    with pytest.raises(NoTarget):
        patch(USER_TYPE, {"userName": "u"}, {"op": "replace", "path": 'emails[value co "x"].display', "value": "d"})


def test_add_primary_email_demotes_the_old_primary() -> None:
    doc = {"userName": "u", "emails": [{"value": "a@x", "primary": True}]}
    new, _, _, _ = patch(USER_TYPE, doc, {"op": "add", "path": "emails", "value": [{"value": "b@x", "primary": True}]})
    assert new["emails"] == [{"value": "a@x", "primary": False}, {"value": "b@x", "primary": True}]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"Operations": "x"}, InvalidSyntax),
        ({"schemas": ["bad"], "Operations": []}, InvalidSyntax),
        ({"Operations": [{"op": "replace", "path": "a[b", "value": 1}]}, InvalidPath),
        ({"Operations": [{"op": "replace", "value": 3}]}, InvalidValue),
    ],
)
def test_unreadable_patch_bodies(body: dict[str, Any], error: type[Exception]) -> None:
    def read_and_apply() -> None:  # the refusal may come from reading the body or from applying it
        ops, rewrites = normalise_patch(USER_TYPE, body, max_operations=10)
        apply_patch(USER_TYPE, {"userName": "u"}, ops, rewrites)

    with pytest.raises(error):
        read_and_apply()


def test_projection_keeps_always_returned_attributes() -> None:
    resource = {
        "schemas": ["s"],
        "id": "1",
        "userName": "u",
        "name": {"givenName": "g", "familyName": "f"},
        ENT: {"department": "d", "costCenter": "c"},
        "meta": {"version": 'W/"1"'},
    }
    only = apply_projection(
        resource, USER_TYPE, parse_projection(USER_TYPE, "NAME.givenName," + f"{ENT}:department", None)
    )
    assert only == {"schemas": ["s"], "id": "1", "name": {"givenName": "g"}, ENT: {"department": "d"}}
    without = apply_projection(resource, USER_TYPE, parse_projection(USER_TYPE, None, "id,meta,name.familyName"))
    assert without == {
        "schemas": ["s"],
        "id": "1",
        "userName": "u",
        "name": {"givenName": "g"},
        ENT: {"department": "d", "costCenter": "c"},
    }


def test_a_patch_leaves_the_stored_document_as_it_was_to_the_deepest_value() -> None:
    import copy

    doc: dict[str, Any] = {
        "userName": "u",
        "name": {"givenName": "A", "familyName": "B"},
        "emails": [{"value": "a@example.com", "type": "work", "primary": True}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "m"}, "n": 1.5},
    }
    before = copy.deepcopy(doc)
    new, changed, _, _ = patch(
        USER_TYPE,
        doc,
        {"op": "Replace", "path": "name.familyName", "value": "C"},
        {"op": "Add", "path": "emails", "value": [{"value": "b@example.com", "type": "home"}]},
        {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "w@example.com"},
        {
            "op": "Replace",
            "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
            "value": {"value": "x"},
        },
    )
    assert doc == before  # the copy the patch worked on shares no dict or list with it
    assert new["name"]["familyName"] == "C" and new["emails"][0]["value"] == "w@example.com"
    assert len(new["emails"]) == 2
    assert set(changed) >= {"name.familyName", "emails"}
