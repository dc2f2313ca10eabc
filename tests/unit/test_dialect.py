"""The dialect catalogue (`scim.dialect`) is complete and true: every rule's code names it, every test it cites
exists, every rewrite message comes from a rule; and the rules no other test pins, pinned here."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from scimhub.scim import dialect
from scimhub.scim.patch import apply_patch
from scimhub.scim.projection import apply_projection, parse_projection
from scimhub.scim.quirks import normalise_patch
from scimhub.scim.resources import canonical_resource
from scimhub.scim.schemas import GROUP_TYPE, USER_TYPE

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
A, B = "7f4bc1a3-285e-48ae-8202-5accb43efb0e", "8f4bc1a3-285e-48ae-8202-5accb43efb0e"


def _definition(where: str) -> tuple[Path, ast.AST, str]:
    module, _, qualname = where.partition(":")
    path = SRC / (module.replace(".", "/") + ".py")
    assert path.exists(), f"{where}: no module {path}"
    source = path.read_text()
    node: ast.AST = ast.parse(source)
    for part in qualname.split("."):
        found = [
            n
            for n in ast.iter_child_nodes(node)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and n.name == part
        ]
        assert found, f"{where}: no {part} in {path.name}"
        node = found[0]
    return path, node, source


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def _note_calls() -> list[tuple[Path, str]]:
    """Every `dialect.<RULE>.note(...)` in src, as (file, rule name)."""
    return [
        (path, node.func.value.attr)
        for path in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "note"
        and isinstance(node.func.value, ast.Attribute)
        and isinstance(node.func.value.value, ast.Name)
        and node.func.value.value.id == "dialect"
    ]


def test_rule_names_are_their_module_names_and_unique() -> None:
    names = [r.name for r in dialect.RULES]
    assert len(names) == len(set(names))
    for rule in dialect.RULES:
        assert getattr(dialect, rule.name) is rule
        assert rule.clients and rule.sends and rule.reading and rule.source and rule.where and rule.tests


@pytest.mark.parametrize("rule", dialect.RULES, ids=lambda r: r.name)
def test_every_place_a_rule_names_applies_it(rule: dialect.Rule) -> None:
    for where in rule.where:
        _, node, source = _definition(where)
        segment = ast.get_source_segment(source, node) or ""
        assert f"dialect.{rule.name}" in segment, f"{where} does not name dialect.{rule.name}"


@pytest.mark.parametrize("rule", dialect.RULES, ids=lambda r: r.name)
def test_every_test_a_rule_cites_exists(rule: dialect.Rule) -> None:
    for ref in rule.tests:
        file, _, name = ref.partition("::")
        path = ROOT / file
        assert path.exists(), ref
        assert name in _test_names(path), f"{ref}: no such test"


def test_every_rewrite_message_comes_from_a_rule() -> None:
    by_name = {r.name: r for r in dialect.RULES}
    noted = set()
    for path, name in _note_calls():
        assert name in by_name, f"{path}: dialect.{name} is not in the catalogue"
        assert by_name[name].message is not None, f"{path}: dialect.{name} leaves no message"
        noted.add(name)
    assert noted == {r.name for r in dialect.RULES if r.message is not None}
    for path in SRC.rglob("*.py"):
        if path.name == "dialect.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                named = (isinstance(owner, ast.Name) and owner.id == "rewrites") or (
                    isinstance(owner, ast.Attribute) and owner.attr == "rewrites"
                )
                assert not (named and node.func.attr in {"append", "extend", "insert"}), (
                    f"{path}:{node.lineno}: a rewrite message written by hand; add a rule to scim.dialect"
                )


def test_replace_active_false_is_found_in_the_catalogue() -> None:
    # The newcomer's question (issue #10): where is Replace active "False" handled?
    hits = [r for r in dialect.RULES if '"False"' in r.sends]
    assert [r.name for r in hits] == ["BOOLEAN_STRING"]
    assert hits[0].where == ("scimhub.scim.resources:_coerce_simple",)


# ---------------------------------------------------------------------- rules no integration test pins


def patch(rtype: Any, doc: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], Any, list[str]]:
    ops, rewrites = normalise_patch(rtype, body, max_operations=100)
    new, _, delta = apply_patch(rtype, doc, ops, rewrites)
    return new, delta, rewrites


def test_patch_body_without_schemas_is_read_as_patchop() -> None:
    new, _, rewrites = patch(
        USER_TYPE, {"userName": "u"}, {"Operations": [{"op": "add", "path": "title", "value": "T"}]}
    )
    assert new["title"] == "T"
    assert rewrites == ["missing 'schemas' read as the PatchOp schema"]


def test_patch_member_names_in_any_case() -> None:
    body = {"SCHEMAS": [PATCH], "operations": [{"OP": "add", "Path": "title", "VALUE": "T"}]}
    new, _, rewrites = patch(USER_TYPE, {"userName": "u"}, body)
    assert new["title"] == "T" and rewrites == []


def test_pathless_read_only_attribute_is_ignored() -> None:
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"groups": [], "title": "T", "id": "x"}}]}
    new, _, rewrites = patch(USER_TYPE, {"userName": "u"}, body)
    assert new == {"userName": "u", "title": "T"}
    assert rewrites == ["ignored read-only attribute 'groups'"]


def test_remove_with_a_value_list_on_emails_removes_only_those() -> None:
    doc = {"userName": "u", "emails": [{"value": "a@x.test"}, {"value": "b@x.test"}, {"value": "c@x.test"}]}
    body = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "emails", "value": [{"value": "B@X.test"}]}]}
    new, _, rewrites = patch(USER_TYPE, doc, body)
    assert new["emails"] == [{"value": "a@x.test"}, {"value": "c@x.test"}]  # emails.value is not caseExact
    assert rewrites == ["remove of emails with a value list read as removing only the 1 listed"]


def test_single_object_for_a_multi_valued_attribute_is_a_list_of_one() -> None:
    rewrites: list[str] = []
    doc = canonical_resource(USER_TYPE, {"userName": "u", "emails": {"value": "a@x.test"}}, rewrites)
    assert doc["emails"] == [{"value": "a@x.test"}]
    assert rewrites == ["single object for multi-valued emails read as a list of one"]


def test_bare_strings_in_members_are_values() -> None:
    body = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "members", "value": [A, {"value": B}]}]}
    _, delta, rewrites = patch(GROUP_TYPE, {"displayName": "g"}, body)
    assert {str(m) for m in delta.add} == {A, B}
    assert rewrites == ['bare string in members read as {"value": ...}']


def test_unknown_attributes_are_ignored_and_reported() -> None:
    rewrites: list[str] = []
    ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    body = {
        "userName": "u",
        "adreses": [{"country": "X"}],
        ent: {"badge": "7"},
        "name": {"givenName": "G", "nick": "N"},
    }
    doc = canonical_resource(USER_TYPE, body, rewrites)
    assert doc == {"userName": "u", "name": {"givenName": "G"}}
    assert rewrites == [
        "ignored unknown attribute 'adreses'",
        "ignored unknown attribute EnterpriseUser.badge",
        "ignored unknown sub-attribute name.nick",
    ]
    group: list[str] = []
    members = {"displayName": "g", "members": [{"value": A, "displayName": "new User"}]}
    assert canonical_resource(GROUP_TYPE, members, group)["members"] == [{"value": A}]
    assert group == ["ignored unknown sub-attribute members[0].displayName"]


def test_value_filter_in_attributes_reads_as_the_attribute() -> None:
    resource = {"schemas": ["s"], "id": "1", "userName": "u", "emails": [{"type": "work", "value": "a@x"}]}
    proj = parse_projection(USER_TYPE, 'emails[type eq "work"]', None)
    assert apply_projection(resource, USER_TYPE, proj) == {"schemas": ["s"], "id": "1", "emails": resource["emails"]}
