"""PATCH application (RFC 7644 §3.5.2) to a canonical document, all or nothing.

`apply_patch` works on a copy and returns it with the names of the attributes that changed; any error
leaves the caller's document untouched. A group's `members` are not kept in the document (one row per
member, see DESIGN.md): operations on them become a `MemberDelta` that the store applies with a few
statements, whatever the group's size.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from typing import Any

from scimhub.scim.errors import InvalidValue, Mutability, NoTarget
from scimhub.scim.filters import And, Compare, Node, Or, matches
from scimhub.scim.quirks import PatchOp, Target
from scimhub.scim.resources import _ABSENT, check_required, coerce_attribute, coerce_members, set_attribute
from scimhub.scim.schemas import Attribute, ResourceType


@dataclass
class MemberDelta:
    """Membership changes in order-independent form: clear (if `remove_all`), then remove, then add."""

    remove_all: bool = False
    add: dict[uuid.UUID, str] = field(default_factory=dict)
    remove: set[uuid.UUID] = field(default_factory=set)
    # Filters that select members by something other than their id; the store evaluates them on the rows.
    remove_where: list[Node] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.remove_all or self.add or self.remove or self.remove_where)

    def do_add(self, member_id: uuid.UUID, member_type: str) -> None:
        self.remove.discard(member_id)
        self.add[member_id] = member_type

    def do_remove(self, member_id: uuid.UUID) -> None:
        self.add.pop(member_id, None)
        self.remove.add(member_id)

    def do_clear(self) -> None:
        self.remove_all = True
        self.add.clear()
        self.remove.clear()
        self.remove_where.clear()


def member_id(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidValue(f"member {str(value)[:80]!r} is not the id of a User or Group in this tenant") from None


def members_to_delta(items: Any) -> list[tuple[uuid.UUID, str]]:
    out = []
    for item in items if items is not _ABSENT else []:
        if "value" not in item:
            raise InvalidValue("each member needs a 'value' with the member's id")
        mtype = item.get("type", "User")
        if mtype not in {"User", "Group"}:
            raise InvalidValue(f"member type must be 'User' or 'Group', got {mtype!r}")
        out.append((member_id(item["value"]), mtype))
    return out


def _ids_in_filter(node: Node) -> list[str] | None:
    """`value eq "a" or value eq "b"` -> ["a", "b"]; None for any other shape."""
    if (
        isinstance(node, Compare)
        and node.op == "eq"
        and isinstance(node.value, str)
        and node.path.resolved is not None
        and node.path.resolved.leaf.name == "value"
    ):
        return [node.value]
    if isinstance(node, Or):
        left, right = _ids_in_filter(node.left), _ids_in_filter(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def _eq_fields(node: Node) -> dict[str, Any] | None:
    """`type eq "work"` (and-ed equalities) -> {"type": "work"}; the element to create when none matches."""
    if (
        isinstance(node, Compare)
        and node.op == "eq"
        and node.value is not None
        and node.path.resolved is not None
        and node.path.resolved.sub is not None
    ):
        return {node.path.resolved.sub.name: node.value}
    if isinstance(node, And):
        left, right = _eq_fields(node.left), _eq_fields(node.right)
        if left is not None and right is not None:
            return {**left, **right}
    return None


class _Doc:
    def __init__(self, rtype: ResourceType, doc: dict[str, Any], rewrites: list[str]) -> None:
        self.rtype = rtype
        self.doc = doc
        self.rewrites = rewrites

    def container(self, t: Target) -> dict[str, Any]:
        if t.res.schema is self.rtype.schema:
            return self.doc
        value = self.doc.get(t.res.schema.id)
        return value if isinstance(value, dict) else {}

    def get(self, t: Target) -> Any:
        return self.container(t).get(t.res.attr.name)

    def put(self, t: Target, value: Any) -> None:
        if value is None or value == [] or value == {}:
            value = _ABSENT
        set_attribute(self.doc, t.res.schema, self.rtype, t.res.attr, value)

    def coerce(self, attr: Attribute, value: Any, where: str) -> Any:
        return coerce_attribute(attr, value, where, self.rewrites)


def _set_primary_unique(items: list[Any], new_items: list[Any]) -> None:
    # RFC 7644 §3.5.2: a value added with primary true makes the others non-primary.
    if any(isinstance(n, dict) and n.get("primary") is True for n in new_items):
        for item in items:
            if isinstance(item, dict) and item not in new_items and item.get("primary") is True:
                item["primary"] = False


def _apply_one(d: _Doc, op: PatchOp, delta: MemberDelta | None) -> None:
    t = op.target
    assert t is not None
    attr, sub = t.res.attr, t.res.sub
    where = t.text or attr.name
    if attr.mutability == "readOnly" or (sub is not None and sub.mutability == "readOnly"):
        raise Mutability(f"{where} is read-only and cannot be changed")
    if attr.mutability == "writeOnly":
        # RFC 7643 §7: write-only values are never returned; scimhub does not even keep them.
        d.rewrites.append(f"{attr.name} accepted and discarded (never stored)")
        return
    if delta is not None and attr.name == "members":
        _apply_members(op, t, delta)
        return
    current = d.get(t)
    if op.op == "remove":
        _remove(d, t, current)
        return
    if op.value is None:
        raise InvalidValue(f"{op.op} of {where} needs a 'value'")
    if t.filter is not None:
        _set_filtered(d, op, t, current)
        return
    if sub is not None:
        new_sub = d.coerce(sub, op.value, where)
        if attr.multi_valued:
            raise NoTarget(f'{where}: name the entry with a filter, e.g. {attr.name}[type eq "work"].{sub.name}')
        base = dict(current) if isinstance(current, dict) else {}
        if new_sub is _ABSENT:
            base.pop(sub.name, None)
        else:
            base[sub.name] = new_sub
        d.put(t, base)
        return
    new = d.coerce(attr, op.value, where)
    if attr.multi_valued:
        items = list(current) if isinstance(current, list) and op.op == "add" else []
        new_items = [] if new is _ABSENT else new
        for item in new_items:
            if item not in items:
                items.append(item)
        _set_primary_unique(items, new_items)
        d.put(t, items)
    elif attr.type == "complex" and isinstance(current, dict) and new is not _ABSENT:
        # RFC 7644 §3.5.2.1/§3.5.2.3: sub-attributes not given are left unchanged.
        d.put(t, {**current, **new})
    else:
        d.put(t, new)


def _remove(d: _Doc, t: Target, current: Any) -> None:
    attr, sub = t.res.attr, t.res.sub
    if t.filter is None:
        if sub is None:
            d.put(t, _ABSENT)
        elif isinstance(current, dict):
            d.put(t, {k: v for k, v in current.items() if k != sub.name})
        elif isinstance(current, list):
            d.put(t, [{k: v for k, v in i.items() if k != sub.name} for i in current])
        return
    if not attr.multi_valued:
        # `manager[value eq "x"]`: remove the manager only if it is still x.
        if isinstance(current, dict) and matches(current, t.filter, relative=True):
            d.put(t, _ABSENT if sub is None else {k: v for k, v in current.items() if k != sub.name})
        return
    items = current if isinstance(current, list) else []
    kept = []
    for item in items:
        if isinstance(item, dict) and matches(item, t.filter, relative=True):
            if sub is not None:
                rest = {k: v for k, v in item.items() if k != sub.name}
                if rest:
                    kept.append(rest)
            continue
        kept.append(item)
    d.put(t, kept)


def _set_filtered(d: _Doc, op: PatchOp, t: Target, current: Any) -> None:
    attr, sub = t.res.attr, t.res.sub
    assert t.filter is not None
    where = t.text
    if not attr.multi_valued:
        if isinstance(current, dict) and matches(current, t.filter, relative=True):
            if sub is not None:
                d.put(t, {**current, sub.name: d.coerce(sub, op.value, where)})
            else:
                d.put(t, d.coerce(attr, op.value, where))
            return
        raise NoTarget(f"{where} matches nothing")
    items = [dict(i) for i in current] if isinstance(current, list) else []
    hit = False
    for i, item in enumerate(items):
        if not matches(item, t.filter, relative=True):
            continue
        hit = True
        if sub is not None:
            value = d.coerce(sub, op.value, where)
            if value is _ABSENT:
                item.pop(sub.name, None)
            else:
                item[sub.name] = value
        else:
            replacement = d.coerce(attr, [op.value] if isinstance(op.value, dict) else op.value, where)
            if replacement is _ABSENT:
                continue
            merged = replacement[0] if op.op == "replace" else {**item, **replacement[0]}
            items[i] = merged
    if not hit:
        fields = _eq_fields(t.filter)
        if fields is None:
            raise NoTarget(f"{where} matches no entry of {attr.name}")
        # Entra replaces `emails[type eq "work"].value` on users that have no work email yet (contract
        # §2.6): the entry is created, as Microsoft's reference server does.
        element = dict(fields)
        if sub is not None:
            element[sub.name] = d.coerce(sub, op.value, where)
        elif isinstance(op.value, dict):
            element.update(op.value)
        coerced = d.coerce(attr, [element], where)
        if coerced is _ABSENT:
            return
        d.rewrites.append(f"{where} matched no entry; added {attr.name} entry {fields}")
        items.extend(coerced)
    d.put(t, [i for i in items if i])


def _apply_members(op: PatchOp, t: Target, delta: MemberDelta) -> None:
    if t.res.sub is not None:
        raise NoTarget(f"{t.text}: members are added or removed whole, not by sub-attribute")
    if op.op == "remove":
        if t.filter is None:
            delta.do_clear()
            return
        ids = _ids_in_filter(t.filter)
        if ids is None:
            delta.remove_where.append(t.filter)
            return
        for raw in ids:
            try:
                delta.do_remove(uuid.UUID(raw))
            except ValueError:
                continue  # not an id: it cannot be a member, so nothing to remove
        return
    if t.filter is not None:
        raise NoTarget(f"{t.text}: add members with path 'members' and a list of {{\"value\": id}}")
    items = coerce_members(op.value, [])
    if op.op == "replace":
        delta.do_clear()
    for mid, mtype in members_to_delta(items):
        delta.do_add(mid, mtype)


def changed_attributes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Names of what differs, for the activity log: `displayName`, `name.givenName`, `department`."""
    out: list[str] = []
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        if ":" in key:  # an extension: name its attributes
            bd = b if isinstance(b, dict) else {}
            ad = a if isinstance(a, dict) else {}
            out.extend(k for k in sorted(set(bd) | set(ad)) if bd.get(k) != ad.get(k))
        elif isinstance(b, dict) and isinstance(a, dict):
            out.extend(f"{key}.{k}" for k in sorted(set(b) | set(a)) if b.get(k) != a.get(k))
        else:
            out.append(key)
    return out


def apply_patch(
    rtype: ResourceType, doc: dict[str, Any], ops: list[PatchOp], rewrites: list[str]
) -> tuple[dict[str, Any], list[str], MemberDelta | None]:
    """The patched copy of `doc`, the changed attribute names, and (for groups) the member changes."""
    d = _Doc(rtype, copy.deepcopy(doc), rewrites)
    delta = MemberDelta() if rtype.name == "Group" else None
    for op in ops:
        if op.target is None:
            continue
        _apply_one(d, op, delta)
    check_required(rtype, d.doc)
    changed = changed_attributes(doc, d.doc)
    if delta is not None and not delta.empty:
        changed.append("members")
    return d.doc, changed, delta
