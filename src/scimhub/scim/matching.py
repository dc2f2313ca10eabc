"""Filters evaluated in memory on a canonical document (RFC 7644 §3.4.2.2 semantics).

PATCH uses it on value paths (`emails[type eq "work"]`, `manager[value eq "..."]`); the SQL compiler's
property test (tests/integration/test_filter_oracle.py) uses it as the independent oracle, so the two must
agree on every filter: absent values, case rules (caseExact), `ne` over multi-valued attributes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from scimhub.scim.filters import And, Node, Not, Or, Present, ValuePath
from scimhub.scim.schemas import ResolvedAttr


def _cmp_scalar(actual: Any, op: str, expected: Any, case_exact: bool) -> bool:
    if op == "pr":
        return actual is not None and actual != "" and actual != [] and actual != {}
    if expected is None:
        present = actual is not None and actual != ""
        return (not present) if op == "eq" else present
    if actual is None:
        return op == "ne"
    if isinstance(expected, bool):
        if not isinstance(actual, bool):
            return op == "ne"
        return (actual == expected) if op == "eq" else (actual != expected)
    if isinstance(expected, dt.datetime):
        if isinstance(actual, str):
            try:
                actual = dt.datetime.fromisoformat(actual)
            except ValueError:
                return op == "ne"
        if not isinstance(actual, dt.datetime):
            return op == "ne"
    elif isinstance(expected, str):
        if not isinstance(actual, str):
            return op == "ne"
        if not case_exact:
            actual, expected = actual.lower(), expected.lower()
    elif isinstance(expected, int | float) and (isinstance(actual, bool) or not isinstance(actual, int | float)):
        return op == "ne"
    ops: dict[str, Callable[[Any, Any], Any]] = {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "co": lambda a, b: b in a,
        "sw": lambda a, b: a.startswith(b),
        "ew": lambda a, b: a.endswith(b),
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
    }
    return bool(ops[op](actual, expected))


def _values(doc: dict[str, Any], res: ResolvedAttr, *, relative: bool) -> list[Any]:
    """The values `res` designates in `doc` (a resource, or one element when `relative`)."""
    if relative:
        assert res.sub is not None
        return [doc.get(res.sub.name)]
    container = doc.get(res.schema.id, {}) if res.extension else doc
    if not isinstance(container, dict):
        return [None]
    value = container.get(res.attr.name)
    if res.attr.multi_valued:
        items = value if isinstance(value, list) else []
        if res.sub is None:
            return [items] if items else [None]
        got = [i.get(res.sub.name) if isinstance(i, dict) else None for i in items]
        return got or [None]
    if res.sub is None:
        return [value]
    return [value.get(res.sub.name) if isinstance(value, dict) else None]


def matches(doc: dict[str, Any], node: Node, *, relative: bool = False) -> bool:
    """Does the (canonical) resource document satisfy the bound filter? RFC 7644 §3.4.2.2 semantics:
    on a multi-valued attribute a comparison holds when it holds for any value."""
    if isinstance(node, And):
        return matches(doc, node.left, relative=relative) and matches(doc, node.right, relative=relative)
    if isinstance(node, Or):
        return matches(doc, node.left, relative=relative) or matches(doc, node.right, relative=relative)
    if isinstance(node, Not):
        return not matches(doc, node.inner, relative=relative)
    if isinstance(node, ValuePath):
        res = node.path.resolved
        assert res is not None
        container = doc.get(res.schema.id, {}) if res.extension else doc
        items = container.get(res.attr.name) if isinstance(container, dict) else None
        return any(isinstance(i, dict) and matches(i, node.filter, relative=True) for i in items or [])
    res = node.path.resolved
    assert res is not None
    values = _values(doc, res, relative=relative)
    if isinstance(node, Present):
        return any(_cmp_scalar(v, "pr", None, True) for v in values)
    case_exact = res.leaf.case_exact
    if node.op == "ne":
        return not any(_cmp_scalar(v, "eq", node.value, case_exact) for v in values)
    return any(_cmp_scalar(v, node.op, node.value, case_exact) for v in values)
