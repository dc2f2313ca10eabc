"""PATCH dialects -> RFC 7644 §3.5.2 form, in one step that says what it rewrote.

Entra ID's default ("non-flag") dialect and its `aadOptscim062020` dialect, and Okta's, all come through here
(contract §2.6, §2.8, §7.2). The result is a list of `PatchOp` with parsed, bound paths and the rewrites in
plain words (the activity log shows them to administrators):

- op names in any case ("op 'Replace' read as 'replace'");
- a path-less add/replace whose value object has dotted (`name.givenName`) or URN-qualified keys: each key
  becomes its own op with that path;
- `remove` on a multi-valued attribute carrying a `value` list (Entra's member removal): remove exactly the
  listed entries, never all of them;
- a value filter on a single-valued complex attribute (`manager[value eq "..."]`): applies when it matches.
Value coercions ("'False' read as false", manager as a plain id) happen where values are checked
(`resources.coerce_attribute`) and report into the same list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimhub.scim.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue
from scimhub.scim.filters import AttrPath, Compare, Node, Or, bind, parse_filter, split_attr_path
from scimhub.scim.schemas import ResolvedAttr, ResourceType, resolve

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
_OPS = ("add", "replace", "remove")


@dataclass(frozen=True)
class Target:
    """A parsed PATCH path: `attr`, `attr.sub`, `attr[filter]` or `attr[filter].sub`."""

    res: ResolvedAttr  # attr (and sub when written `attr.sub`)
    filter: Node | None = None
    text: str = ""


@dataclass(frozen=True)
class PatchOp:
    op: str
    target: Target | None
    value: Any


def parse_path(rtype: ResourceType, text: str) -> Target:
    if not isinstance(text, str) or not text.strip():
        raise InvalidPath("'path' must be a non-empty attribute path")
    text = text.strip()
    filt: Node | None = None
    sub_after: str | None = None
    head = text
    if "[" in text:
        head, _, rest = text.partition("[")
        inner, close, tail = rest.rpartition("]")
        if not close:
            raise InvalidPath(f"unbalanced '[' in path {text!r}")
        if tail:
            if not tail.startswith(".") or "." in tail[1:] or not tail[1:]:
                raise InvalidPath(f"malformed path {text!r}")
            sub_after = tail[1:]
        try:
            filt_raw = parse_filter(inner)
        except InvalidFilter as exc:
            raise InvalidPath(f"bad value filter in path {text!r}: {exc.detail}") from None
    try:
        ap = split_attr_path(head)
    except InvalidPath:
        raise InvalidPath(f"malformed path {text!r}") from None
    if filt is None and "[" in text:
        if ap.sub is not None:
            raise InvalidPath(f"a value filter must follow an attribute, not a sub-attribute, in {text!r}")
        res = resolve(rtype, ap.urn, ap.name, None)
        if res is None:
            raise InvalidPath(f"unknown attribute {head!r} for {rtype.name} resources")
        if res.attr.type != "complex":
            raise InvalidPath(f"{res.attr.name} is not complex; a value filter cannot follow it")
        try:
            filt = bind(filt_raw, rtype, within=res)
        except InvalidFilter as exc:
            raise InvalidPath(f"bad value filter in path {text!r}: {exc.detail}") from None
        if sub_after is not None:
            sub = res.attr.sub(sub_after)
            if sub is None:
                raise InvalidPath(f"{res.attr.name} has no sub-attribute {sub_after!r}")
            res = ResolvedAttr(res.schema, res.attr, sub)
        return Target(res, filt, text)
    res = resolve(rtype, ap.urn, ap.name, ap.sub)
    if res is None:
        raise InvalidPath(f"unknown attribute {head!r} for {rtype.name} resources")
    return Target(res, None, text)


def _value_filter(res: ResolvedAttr, values: list[str]) -> Node:
    """`value eq "a" or value eq "b"` inside `res[...]`, bound."""
    sub = res.attr.sub("value")
    assert sub is not None
    inner = ResolvedAttr(res.schema, res.attr, sub)
    node: Node | None = None
    for v in values:
        cmp = Compare(AttrPath(None, "value", None, inner), "eq", v)
        node = cmp if node is None else Or(node, cmp)
    assert node is not None
    return node


def _get(d: dict[str, Any], name: str) -> Any:
    for k, v in d.items():
        if k.lower() == name:
            return v
    return None


def normalise_patch(rtype: ResourceType, body: Any, *, max_operations: int) -> tuple[list[PatchOp], list[str]]:
    """Every supported dialect -> RFC form. Raises a SCIM error for anything it cannot read."""
    rewrites: list[str] = []
    if not isinstance(body, dict):
        raise InvalidSyntax("the PATCH body must be a JSON object with 'schemas' and 'Operations'")
    schemas = _get(body, "schemas")
    if schemas is not None and (not isinstance(schemas, list) or PATCH_SCHEMA not in schemas):
        raise InvalidSyntax(f"a PATCH body must list the schema {PATCH_SCHEMA!r}")
    if schemas is None:
        rewrites.append("missing 'schemas' read as the PatchOp schema")
    raw_ops = _get(body, "operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("'Operations' must be a non-empty list of operations")
    if len(raw_ops) > max_operations:
        raise InvalidValue(f"the PATCH has {len(raw_ops)} operations; the limit is {max_operations}")
    ops: list[PatchOp] = []
    for i, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise InvalidSyntax(f"operation {i + 1} must be an object with 'op', 'path' and 'value'")
        op_raw = _get(raw, "op")
        if not isinstance(op_raw, str) or op_raw.lower() not in _OPS:
            raise InvalidSyntax(f"operation {i + 1}: 'op' must be add, replace or remove, got {op_raw!r}")
        op = op_raw.lower()
        if op_raw != op:
            rewrites.append(f"op {op_raw!r} read as {op!r}")
        path = _get(raw, "path")
        value = _get(raw, "value")
        if path is None or (isinstance(path, str) and not path.strip()):
            if op == "remove":
                raise InvalidPath(f"operation {i + 1}: remove needs a 'path' (RFC 7644 §3.5.2.2)", scim_type="noTarget")
            ops.extend(_expand_pathless(rtype, op, value, i, rewrites))
            continue
        ext = rtype.schema_for(path.strip()) if isinstance(path, str) and ":" in path else None
        if ext is not None and ext is not rtype.schema:
            # The whole extension as the path (RFC 7644 §3.10): its attributes one by one.
            if op == "remove":
                ops.extend(
                    PatchOp("remove", parse_path(rtype, f"{ext.id}:{a.name}"), None)
                    for a in ext.attributes
                    if a.mutability != "readOnly"
                )
            else:
                ops.extend(_expand_pathless(rtype, op, {ext.id: value}, i, rewrites))
            continue
        target = parse_path(rtype, path)
        if (
            op == "remove"
            and value is not None
            and target.filter is None
            and target.res.attr.multi_valued
            and target.res.sub is None
        ):
            values = _listed_values(value, i)
            if values:
                rewrites.append(
                    f"remove of {target.res.attr.name} with a value list read as removing only the {len(values)} listed"
                )
                target = Target(target.res, _value_filter(target.res, values), target.text)
            value = None
        if target.filter is not None and not target.res.attr.multi_valued:
            rewrites.append(f"value filter on single-valued {target.res.attr.name} applied to its one value")
        ops.append(PatchOp(op, target, value))
    return ops, rewrites


def _listed_values(value: Any, i: int) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, dict):
            v = _get(item, "value")
        else:
            v = item
        if not isinstance(v, str):
            raise InvalidValue(f"operation {i + 1}: each entry to remove needs a string 'value'")
        out.append(v)
    return out


def _expand_pathless(rtype: ResourceType, op: str, value: Any, i: int, rewrites: list[str]) -> list[PatchOp]:
    if not isinstance(value, dict):
        raise InvalidValue(f"operation {i + 1}: without a 'path', 'value' must be an object of attributes")
    out: list[PatchOp] = []
    for key, v in value.items():
        low = key.lower()
        if low in {"schemas", "id", "meta"}:
            continue
        ext = rtype.schema_for(key) if ":" in key else None
        if ext is not None and ext is not rtype.schema:
            if not isinstance(v, dict):
                raise InvalidValue(f"operation {i + 1}: {key} must be an object of attributes")
            for sub_key, sub_v in v.items():
                out.append(_pathless_one(rtype, op, f"{ext.id}:{sub_key}", sub_v, rewrites, quiet=True))
            continue
        out.append(_pathless_one(rtype, op, key, v, rewrites, quiet=False))
    return [o for o in out if o.target is not None]


def _pathless_one(rtype: ResourceType, op: str, key: str, value: Any, rewrites: list[str], *, quiet: bool) -> PatchOp:
    try:
        target = parse_path(rtype, key)
    except InvalidPath:
        if key.lower() in rtype.tolerated:
            return PatchOp(op, None, None)
        rewrites.append(f"ignored unknown attribute {key!r}")
        return PatchOp(op, None, None)
    if target.res.attr.mutability == "readOnly":
        rewrites.append(f"ignored read-only attribute {key!r}")
        return PatchOp(op, None, None)
    if not quiet and ("." in key.rpartition(":")[2] or ":" in key):
        rewrites.append(f"path-less {op} key {key!r} read as path")
    return PatchOp(op, target, value)
