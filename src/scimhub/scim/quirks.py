"""PATCH dialects -> RFC 7644 §3.5.2 form, in one step that says what it rewrote.

Entra ID's default ("non-flag") dialect and its `aadOptscim062020` dialect, and Okta's, all come through here
(contract §2.6, §2.8, §7.2). The result is a list of `PatchOp` with parsed, bound paths, and the rewrites in
plain words (the activity log shows them to administrators). Every rewrite is a rule of the catalogue
`scim.dialect` (op names in any case, path-less values with dotted keys, remove with a value list, a value
filter on a single-valued attribute, ...); value coercions ("'False' read as false", manager as a plain id)
happen where values are checked (`resources.coerce_attribute`) and report into the same list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimhub.scim import dialect
from scimhub.scim.errors import InvalidFilter, InvalidPath, InvalidSyntax, InvalidValue
from scimhub.scim.extensions import how_to_declare
from scimhub.scim.filter_binding import bind
from scimhub.scim.filters import Node, parse_path
from scimhub.scim.schemas import ResolvedAttr, ResourceType, custom_urn, resolve

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
    """One operation in RFC form; `target` None: nothing to do (an ignored path-less key)."""

    op: str  # add, replace or remove
    target: Target | None
    value: Any
    # remove only the entries with these values (Entra's remove with a value list, dialect.REMOVE_VALUE_LIST)
    listed: tuple[str, ...] | None = None
    # A remove whose path is (or may be) a whole extension's URN: when the resource holds that extension, all of
    # it goes, declared and undeclared attributes alike; otherwise `target` (None for a declared extension, the
    # path read as `urn:name` for an undeclared one, since `...:2.0:User:badge` reads either way).
    extension: str | None = None


def parse_target(rtype: ResourceType, text: Any) -> Target:
    """A PATCH `path` (RFC 7644 §3.5.2), read by the filter grammar's parser and resolved against `rtype`.

    A value filter may follow any complex attribute, single-valued too (`manager[value eq "..."]`, which
    Entra sends to remove a manager); its paths are bound relative to that attribute. Anything unreadable or
    unknown is `invalidPath`.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidPath("'path' must be a non-empty attribute path")
    text = text.strip()
    shown = _shown(text)
    try:
        expr = parse_path(text)
    except InvalidFilter as exc:
        raise InvalidPath(f"malformed path {shown}: {exc.detail}") from None
    if expr.filter is None:
        res = resolve(rtype, expr.attr.urn, expr.attr.name, expr.attr.sub)
        if res is None and expr.attr.urn is not None and rtype.extension_mode == "strict" and custom_urn(expr.attr.urn):
            raise InvalidPath(how_to_declare(rtype, expr.attr.urn, expr.attr.name[:80]))
        if res is None:
            raise InvalidPath(f"unknown attribute {shown} for {rtype.name} resources")
        return Target(res, None, text)
    res = resolve(rtype, expr.attr.urn, expr.attr.name, None)
    if res is None:
        raise InvalidPath(f"unknown attribute {str(expr.attr)!r} for {rtype.name} resources")
    if res.attr.type != "complex":
        raise InvalidPath(f"{res.attr.name} is not complex; a value filter cannot follow it")
    try:
        filt = bind(expr.filter, rtype, within=res)
    except InvalidFilter as exc:
        raise InvalidPath(f"bad value filter in path {shown}: {exc.detail}") from None
    if expr.sub is not None:
        sub = res.attr.sub(expr.sub)
        if sub is None:
            raise InvalidPath(f"{res.attr.name} has no sub-attribute {expr.sub!r}")
        res = ResolvedAttr(res.schema, res.attr, sub)
    return Target(res, filt, text)


def _shown(text: str) -> str:
    """A path as an error quotes it; one that names password is not quoted (the detail reaches the log)."""
    return "(not repeated: it names password)" if "password" in text.lower() else repr(text)


def _get(d: dict[str, Any], name: str) -> Any:
    # dialect.PATCH_KEYS_ANY_CASE
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
        dialect.MISSING_PATCH_SCHEMAS.note(rewrites)
    raw_ops = _get(body, "operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidSyntax("'Operations' must be a non-empty list of operations")
    if len(raw_ops) > max_operations:
        raise InvalidValue(f"the PATCH has {len(raw_ops)} operations; the limit is {max_operations}")
    ops: list[PatchOp] = []
    counted = 0  # operations after expansion: a path-less value counts one per attribute it names

    def count(n: int) -> None:
        nonlocal counted
        counted += n
        if counted > max_operations:
            raise InvalidValue(
                f"the PATCH has more than {max_operations} operations once each attribute of a path-less value "
                f"counts as one; the limit is {max_operations}"
            )

    for i, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise InvalidSyntax(f"operation {i + 1} must be an object with 'op', 'path' and 'value'")
        op_raw = _get(raw, "op")
        if not isinstance(op_raw, str) or op_raw.lower() not in _OPS:
            raise InvalidSyntax(f"operation {i + 1}: 'op' must be add, replace or remove, got {op_raw!r}")
        op = op_raw.lower()
        if op_raw != op:
            dialect.OP_NAME_CASE.note(rewrites, given=op_raw, op=op)
        path = _get(raw, "path")
        value = _get(raw, "value")
        if path is None or (isinstance(path, str) and not path.strip()):
            if op == "remove":
                raise InvalidPath(f"operation {i + 1}: remove needs a 'path' (RFC 7644 §3.5.2.2)", scim_type="noTarget")
            count(_pathless_size(value))
            ops.extend(_expand_pathless(rtype, op, value, i, rewrites))
            continue
        ext = rtype.schema_for(path.strip()) if isinstance(path, str) and ":" in path else None
        if ext is None and isinstance(path, str) and isinstance(value, dict) and op != "remove":
            ext = rtype.schema_or_open(path.strip())  # Okta: the whole undeclared extension as the path
        if ext is not None and ext is not rtype.schema:
            # The whole extension as the path (RFC 7644 §3.10): its attributes one by one.
            if op == "remove":
                count(1)
                ops.append(PatchOp("remove", None, None, extension=ext.id))
            else:
                count(_pathless_size({ext.id: value}))
                ops.extend(_expand_pathless(rtype, op, {ext.id: value}, i, rewrites))
            continue
        count(1)
        target = parse_target(rtype, path)
        if op == "remove" and target.filter is None and target.res.attr.type == "any" and custom_urn(path.strip()):
            # A lenient tenant's undeclared extension removed whole, or one of its attributes: the resource says
            # which (`scim.patch.apply_patch`).
            ops.append(PatchOp(op, target, None, extension=path.strip()))
            continue
        if (
            op == "remove"
            and value is not None
            and target.filter is None
            and target.res.attr.multi_valued
            and target.res.sub is None
        ):
            values = _listed_values(value, i)
            if values:
                dialect.REMOVE_VALUE_LIST.note(rewrites, attribute=target.res.attr.name, count=len(values))
                ops.append(PatchOp(op, target, None, tuple(values)))
                continue
            value = None  # an empty list lists nothing: the remove is a plain remove of the attribute
        if target.filter is not None and not target.res.attr.multi_valued:
            dialect.FILTER_ON_SINGLE_VALUED.note(rewrites, attribute=target.res.attr.name)
        ops.append(PatchOp(op, target, value))
    return ops, rewrites


def _listed_values(value: Any, i: int) -> list[str]:
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        v = _get(item, "value") if isinstance(item, dict) else item
        if not isinstance(v, str):
            raise InvalidValue(f"operation {i + 1}: each entry to remove needs a string 'value'")
        out.append(v)
    return out


def _pathless_size(value: Any) -> int:
    """How many operations a path-less value expands into: one per key, one per attribute of an extension
    object (counted before any key is parsed, so an oversized value costs no parsing)."""
    if not isinstance(value, dict):
        return 1
    return sum(len(v) if ":" in k and isinstance(v, dict) else 1 for k, v in value.items()) or 1


def _expand_pathless(rtype: ResourceType, op: str, value: Any, i: int, rewrites: list[str]) -> list[PatchOp]:
    if not isinstance(value, dict):
        raise InvalidValue(f"operation {i + 1}: without a 'path', 'value' must be an object of attributes")
    out: list[PatchOp] = []
    for key, v in value.items():
        low = key.lower()
        if low in {"schemas", "id", "meta"}:
            continue
        ext = rtype.schema_for(key) if ":" in key else None
        if ext is None and ":" in key and isinstance(v, dict):
            ext = rtype.schema_or_open(key)
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
        target = parse_target(rtype, key)
    except InvalidPath as exc:
        if key.lower() in rtype.tolerated:
            return PatchOp(op, None, None)
        urn = key.rpartition(":")[0]
        if rtype.extension_mode != "closed" and custom_urn(urn):
            raise exc  # a strict tenant's undeclared custom attribute, or a name that is no SCIM name
        dialect.UNKNOWN_ATTRIBUTE.note(rewrites, name=repr(key))
        return PatchOp(op, None, None)
    if target.res.attr.mutability == "readOnly":
        dialect.READ_ONLY_IGNORED.note(rewrites, key=key)
        return PatchOp(op, None, None)
    if not quiet and ("." in key.rpartition(":")[2] or ":" in key):
        dialect.PATHLESS_KEY_AS_PATH.note(rewrites, op=op, key=key)
    return PatchOp(op, target, value)
