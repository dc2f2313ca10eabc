"""Work on client input is linear or bounded, pinned by counting work (never by timing, issue #11 item 1)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from scimhub.scim import dialect
from scimhub.scim.errors import InvalidFilter, InvalidValue
from scimhub.scim.filter_binding import parse_bound
from scimhub.scim.filters import MAX_TREE_DEPTH, And, Node, Not, Or, ValuePath, parse_filter
from scimhub.scim.matching import matches
from scimhub.scim.patch import MemberDelta, apply_patch
from scimhub.scim.quirks import normalise_patch
from scimhub.scim.schemas import USER_TYPE
from scimhub.store.filter_sql import compile_filter

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class CountingStr(str):
    """A string that counts how often it is compared for equality (what a quadratic dedupe does n² times)."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        CountingStr.compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def _emails(n: int, tag: str) -> list[dict[str, Any]]:
    return [{"value": CountingStr(f"{tag}{i}@x.test"), "type": "work"} for i in range(n)]


@pytest.mark.parametrize("n", [1000, 4000])
def test_adding_emails_compares_a_linear_number_of_values(n: int) -> None:
    doc: dict[str, Any] = {"userName": "u", "emails": _emails(n, "old")}
    ops, rewrites = normalise_patch(
        USER_TYPE,
        {"schemas": [PATCH], "Operations": [{"op": "add", "path": "emails", "value": _emails(n, "new")}]},
        max_operations=10,
    )
    CountingStr.compared = 0
    new, _, _ = apply_patch(USER_TYPE, doc, ops, rewrites)
    assert len(new["emails"]) == 2 * n
    # The former `item not in items` compared about n * 2n values; hashing compares only on hash collisions.
    assert CountingStr.compared <= 4 * n


def test_member_bookkeeping_holds_across_many_steps() -> None:
    # An add or remove forgets an id's earlier add through an index (one lookup), not one pass per step.
    import uuid

    delta = MemberDelta()
    where = parse_filter('type eq "Group"')
    ids = [uuid.uuid4() for _ in range(3000)]
    for i, mid in enumerate(ids):
        delta.do_add(mid, "User")
        if i % 2:
            delta.do_remove_where(where)  # a new step after every other add: 1,500 steps
    for mid in ids[::3]:
        delta.do_remove(mid)
    assert len(delta.steps) == 1500
    assert set(delta.add) == set(ids) - set(ids[::3]) and delta.remove == set(ids[::3])
    delta.do_add(ids[0], "Group")
    assert delta.add[ids[0]] == "Group" and ids[0] not in delta.remove


def _depth(node: Node) -> int:
    stack, deepest = [(node, 1)], 0
    while stack:
        n, d = stack.pop()
        deepest = max(deepest, d)
        if isinstance(n, And | Or):
            stack += [(n.left, d + 1), (n.right, d + 1)]
        elif isinstance(n, Not):
            stack.append((n.inner, d + 1))
        elif isinstance(n, ValuePath):
            stack.append((n.filter, d + 1))
    return deepest


@pytest.mark.parametrize("op", ["or", "and"])
def test_a_long_chain_is_a_balanced_tree_and_every_walker_stays_shallow(op: str) -> None:
    terms = 4000
    text = f" {op} ".join(f'title eq "t{i}"' for i in range(terms))
    node = parse_bound(text, USER_TYPE, max_length=len(text))
    assert _depth(node) <= 14  # log2(4000) + 2, not 4000
    # The walkers recurse as deep as the tree: under a recursion limit far below the chain's length they work.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(_stack()) + 200)
    try:
        where, params = compile_filter(USER_TYPE, node, "u")
        hit = matches({"userName": "u", "title": "t3999"}, node)
    finally:
        sys.setrecursionlimit(limit)
    assert len(params) == terms and where.count(op.upper()) == terms - 1
    assert hit is (op == "or")


def _stack() -> list[Any]:
    import inspect

    return inspect.stack(0)


def test_the_tree_depth_is_bounded_whatever_the_nesting() -> None:
    # 64 levels of `not (a or (...))` stay under MAX_DEPTH but not under the tree bound when each level
    # also chains; either way: a clear invalidFilter, never a RecursionError.
    text = "not (title pr and title pr or " * 63 + "title pr" + ")" * 63
    try:
        node = parse_filter(text, max_length=len(text))
    except InvalidFilter:
        return
    assert _depth(node) <= MAX_TREE_DEPTH


def test_rewrites_are_deduplicated_and_capped() -> None:
    rewrites: list[str] = []
    for i in range(10_000):
        dialect.BARE_STRING_AS_VALUE.note(rewrites, where="emails")
        dialect.BOOLEAN_STRING.note(rewrites, given="True", value="true", where=f"emails[{i}].primary")
    assert len(rewrites) == dialect.MAX_REWRITES + 1
    assert rewrites.count(rewrites[0]) == 1 and rewrites[-1].startswith("…")
    long: list[str] = []
    dialect.UNKNOWN_ATTRIBUTE.note(long, name="x" * 100_000)
    assert len(long[0]) <= dialect.MAX_REWRITE_LENGTH + 1


def test_pathless_keys_are_counted_before_any_is_parsed() -> None:
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {f"k{i}": 1 for i in range(50_001)}}]}
    with pytest.raises(InvalidValue, match="1000"):
        normalise_patch(USER_TYPE, body, max_operations=1000)
    ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    nested = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {ext: {f"k{i}": 1 for i in range(11)}}}]}
    with pytest.raises(InvalidValue):
        normalise_patch(USER_TYPE, nested, max_operations=10)
    ops, _ = normalise_patch(USER_TYPE, nested, max_operations=11)
    assert ops == []  # unknown enterprise attributes: ignored (and reported)
