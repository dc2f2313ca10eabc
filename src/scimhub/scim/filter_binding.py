"""Binding a parsed filter to a resource type (RFC 7644 §3.4.2.2): every attribute path resolved, every value typed.

`bind` resolves each path of a `scim.filters` tree against the tenant's resource type (an unknown attribute is
`invalidFilter`, never "match all"; a complex attribute compared as a whole means its `value`), refuses what
cannot be filtered on (`returned: never`) and converts the comparison value to the attribute's type
(dateTime -> an aware datetime; an undeclared custom attribute compares as a string). The SQL compiler and the
in-memory matcher read only bound trees. `parse_bound` is parse + bind, what every search path calls.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from scimhub.scim.errors import InvalidFilter
from scimhub.scim.filters import And, AttrPath, Compare, Node, Not, Or, Present, ValuePath, parse_filter
from scimhub.scim.schemas import ResolvedAttr, ResourceType, resolve


def _bind_value(attr_name: str, type_: str, op: str, value: Any) -> Any:
    if op in {"co", "sw", "ew"} and not isinstance(value, str):
        raise InvalidFilter(f"'{op}' compares strings; {attr_name} needs a quoted string")
    if value is None:
        if op not in {"eq", "ne"}:
            raise InvalidFilter(f"null can only be compared with eq or ne ({attr_name})")
        return None
    if type_ == "any":
        # An undeclared custom attribute (lenient tenant): compared as a string; a number or boolean is
        # compared with its JSON text (`eq true` matches a stored true or "true").
        return value if isinstance(value, str) else json.dumps(value)
    if type_ in {"string", "reference", "binary"}:
        if not isinstance(value, str):
            raise InvalidFilter(f"{attr_name} is a string; compare it with a quoted string")
        return value
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise InvalidFilter(f"{attr_name} is a boolean; compare it with true or false")
        if op not in {"eq", "ne"}:
            raise InvalidFilter(f"{attr_name} is a boolean; only eq and ne apply")
        return value
    if type_ == "dateTime":
        if not isinstance(value, str):
            raise InvalidFilter(f"{attr_name} is a dateTime; compare it with a quoted ISO 8601 timestamp")
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidFilter(f"{value!r} is not an ISO 8601 timestamp ({attr_name})") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    if type_ in {"integer", "decimal"}:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidFilter(f"{attr_name} is a number; compare it with a number")
        return value
    raise InvalidFilter(f"{attr_name} cannot be compared")


def bind(node: Node, rtype: ResourceType, *, within: ResolvedAttr | None = None) -> Node:
    """Resolve every path of `node` against `rtype` (or, inside a value path, against `within`)."""
    if isinstance(node, And):
        return And(bind(node.left, rtype, within=within), bind(node.right, rtype, within=within))
    if isinstance(node, Or):
        return Or(bind(node.left, rtype, within=within), bind(node.right, rtype, within=within))
    if isinstance(node, Not):
        return Not(bind(node.inner, rtype, within=within))
    if isinstance(node, ValuePath):
        if within is not None:
            raise InvalidFilter("value filters cannot nest")
        res = _resolve(node.path, rtype)
        if res.sub is not None or res.attr.type != "complex" or not res.attr.multi_valued:
            raise InvalidFilter(f"{node.path} is not a multi-valued complex attribute; a [filter] cannot follow it")
        return ValuePath(AttrPath(node.path.urn, node.path.name, None, res), bind(node.filter, rtype, within=res))
    path = node.path
    if within is not None:
        if path.urn is not None or path.sub is not None:
            raise InvalidFilter(f"inside {within.attr.name}[...], name a sub-attribute, not {path}")
        sub = within.attr.sub(path.name)
        if sub is None:
            raise InvalidFilter(f"{within.attr.name} has no sub-attribute {path.name!r}")
        res = ResolvedAttr(within.schema, within.attr, sub)
    else:
        res = _resolve(path, rtype)
    if res.attr.returned == "never" or res.leaf.returned == "never":
        raise InvalidFilter(f"{path} cannot be filtered on")
    if res.sub is None and res.attr.type == "complex":
        # `manager eq "id"` / `members eq "id"`: a complex attribute compared as a whole means its value
        # (dialect.COMPLEX_COMPARED_BY_VALUE).
        value_sub = res.attr.sub("value")
        if value_sub is None:
            raise InvalidFilter(f"{path} is complex; name one of its sub-attributes")
        res = ResolvedAttr(res.schema, res.attr, value_sub)
    bound_path = AttrPath(path.urn, path.name, path.sub, res)
    if isinstance(node, Present):
        return Present(bound_path)
    return Compare(bound_path, node.op, _bind_value(str(path), res.leaf.type, node.op, node.value))


def _resolve(path: AttrPath, rtype: ResourceType) -> ResolvedAttr:
    res = resolve(rtype, path.urn, path.name, path.sub)
    if res is None:
        raise InvalidFilter(f"unknown attribute {str(path)!r} for {rtype.name} resources")
    return res


def parse_bound(text: str, rtype: ResourceType, *, max_length: int = 4096) -> Node:
    return bind(parse_filter(text, max_length=max_length), rtype)
