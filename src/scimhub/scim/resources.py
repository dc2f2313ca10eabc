"""Resources: validate and canonicalise what a client sends, render what we return.

The canonical document keeps attribute names in the schema's case, extension attributes under their schema
URN, values exactly as sent (RFC 7643 §2.1; the contract's "store values exactly as sent"), and nothing
read-only, write-only or null. Every leniency applied is appended to `rewrites` in plain words, for the
activity log.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from scimhub.scim import dialect
from scimhub.scim.characters import check_length
from scimhub.scim.errors import InvalidSyntax, InvalidValue
from scimhub.scim.etag import etag
from scimhub.scim.extensions import check_undeclared_count, how_to_declare
from scimhub.scim.schemas import (
    ENTERPRISE_SCHEMA,
    EXTERNAL_ID,
    GROUP,
    MALFORMED_ENTERPRISE,
    Attribute,
    ResourceType,
    Schema,
    custom_urn,
)

_INTEGER = re.compile(r"[+-]?[0-9]{1,18}\Z")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?\Z")
ABSENT = object()  # "no value": what a null, an empty list or an empty object amounts to (RFC 7643 §2.5)
_READ_ONLY_TOP = {"id", "meta", "schemas"}


def _coerce_simple(attr: Attribute, value: Any, where: str, rewrites: list[str]) -> Any:
    t = attr.type
    if t in {"string", "reference", "binary"}:
        if isinstance(value, str):
            return value
        raise InvalidValue(f"{where} must be a string, got {_kind(value)}")
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            parsed = value.strip().lower() == "true"
            dialect.BOOLEAN_STRING.note(rewrites, given=value, value=str(parsed).lower(), where=where)
            return parsed
        raise InvalidValue(f"{where} must be true or false, got {_kind(value)}")
    if t == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _INTEGER.match(value.strip()):
            dialect.NUMBER_STRING.note(rewrites, given=value, where=where)
            return int(value.strip())
        raise InvalidValue(f"{where} must be an integer, got {_kind(value)}")
    if t == "decimal":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _DECIMAL.match(value.strip()):
            dialect.NUMBER_STRING.note(rewrites, given=value, where=where)
            number = float(value.strip())
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        raise InvalidValue(f"{where} must be a number, got {_kind(value)}")
    if t == "dateTime":
        if isinstance(value, str):
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                return value
        raise InvalidValue(f"{where} must be an ISO 8601 date and time, got {_kind(value)}")
    raise InvalidValue(f"{where} has an unsupported type")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _coerce_complex(attr: Attribute, value: Any, where: str, rewrites: list[str]) -> Any:
    if not isinstance(value, dict):
        raise InvalidValue(f"{where} must be an object with sub-attributes, got {_kind(value)}")
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attr.sub(key)
        if sub is None:
            if sub_value is not None:
                dialect.UNKNOWN_SUB_ATTRIBUTE.note(rewrites, where=f"{where}.{key}")
            continue
        if sub.mutability == "readOnly" or sub_value is None:
            continue
        out[sub.name] = _coerce_simple(sub, sub_value, f"{where}.{sub.name}", rewrites)
    return out or ABSENT


def coerce_attribute(attr: Attribute, value: Any, where: str, rewrites: list[str]) -> Any:
    """A client value for `attr`, checked and coerced; `ABSENT` when it amounts to no value."""
    if value is None:
        return ABSENT  # dialect.NULL_VALUES_IGNORED
    if attr.type == "any":  # an undeclared custom attribute of a lenient tenant: kept as sent
        return ABSENT if value == [] or value == {} else value
    if attr.name == "manager" and isinstance(value, str):
        dialect.MANAGER_PLAIN_ID.note(rewrites)
        value = {"value": value}
    if attr.multi_valued:
        if isinstance(value, dict):
            dialect.SINGLE_OBJECT_AS_LIST.note(rewrites, where=where)
            value = [value]
        if not isinstance(value, list):
            raise InvalidValue(f"{where} must be a list, got {_kind(value)}")
        items = []
        for i, item in enumerate(value):
            if item is None:
                continue
            if attr.type == "complex":
                if isinstance(item, str) and attr.sub("value") is not None:
                    dialect.BARE_STRING_AS_VALUE.note(rewrites, where=where)
                    item = {"value": item}
                got = _coerce_complex(attr, item, f"{where}[{i}]", rewrites)
            else:
                got = _coerce_simple(attr, item, f"{where}[{i}]", rewrites)
            if got is not ABSENT:
                items.append(got)
        if attr.type == "complex" and sum(1 for i in items if i.get("primary") is True) > 1:
            raise InvalidValue(f"at most one entry of {where} may be primary (RFC 7643 §2.4)")
        return items or ABSENT
    if attr.type == "complex":
        return _coerce_complex(attr, value, where, rewrites)
    return _coerce_simple(attr, value, where, rewrites)


def _canonical_schema_urn(rtype: ResourceType, urn: str, rewrites: list[str]) -> Schema | None:
    schema = rtype.schema_for(urn)
    if schema is None and urn.lower() == MALFORMED_ENTERPRISE.lower() and rtype.name == "User":
        dialect.MALFORMED_ENTERPRISE_URN.note(rewrites, given=urn, schema=ENTERPRISE_SCHEMA)
        schema = rtype.schema_for(ENTERPRISE_SCHEMA)
    if schema is None:
        schema = rtype.schema_or_open(urn)
    return schema


def check_schemas(rtype: ResourceType, schemas: Any, rewrites: list[str]) -> None:
    if schemas is None:
        return
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise InvalidSyntax("'schemas' must be a list of schema URIs")
    for urn in schemas:
        if _canonical_schema_urn(rtype, urn, rewrites) is not None:
            continue
        if urn.lower() in rtype.tolerated:
            dialect.TOLERATED_SCHEMA_URI.note(rewrites, given=urn)
            continue
        if rtype.refuses(urn):
            raise InvalidSyntax(
                f"unknown schema URI {urn!r}: this tenant is in strict mode and declares no attribute under it; an "
                "administrator declares its attributes on the hub's Schema page or with `scimhub tenant schema "
                f"add-attribute <tenant> {urn} <name> --type string`"
            )
        known = ", ".join([rtype.schema.id, *(e.id for e in rtype.extensions)])
        raise InvalidSyntax(f"unknown schema URI {urn!r} for a {rtype.name}; this endpoint accepts {known}")


def extension_key(doc: dict[str, Any], urn: str) -> str:
    """The key under which `doc` holds the extension `urn` (any case), else `urn`."""
    return _same_key(doc, urn)


def _same_key(d: dict[str, Any], key: str) -> str:
    """The key of `d` equal to `key` in any case (URNs and names are case-insensitive), else `key`."""
    if key in d:
        return key
    low = key.lower()
    return next((k for k in d if k.lower() == low), key)


def set_attribute(doc: dict[str, Any], schema: Schema, rtype: ResourceType, attr: Attribute, value: Any) -> None:
    if schema is rtype.schema:
        container, urn = doc, ""
    else:
        # URNs compare in any case: an undeclared one stays as first stored, a declared one takes its case.
        urn = extension_key(doc, schema.id)
        if urn != schema.id and rtype.schema_for(schema.id) is not None:
            doc[schema.id] = doc.pop(urn)
            urn = schema.id
        container = doc.setdefault(urn, {})
        if not isinstance(container, dict):
            container = doc[urn] = {}
    name = _same_key(container, attr.name) if attr.type == "any" else attr.name
    if attr.type != "any" and container is not doc:
        old = _same_key(container, attr.name)
        if old != attr.name:
            container.pop(old)
    if value is ABSENT:
        container.pop(name, None)
        if container is not doc and not container:
            doc.pop(urn, None)
    else:
        container[name] = value


def canonical_resource(rtype: ResourceType, body: Any, rewrites: list[str]) -> dict[str, Any]:
    """The canonical document for a POST or PUT body (RFC 7644 §3.3, §3.5.1). Read-only attributes the
    client sent are ignored, as RFC 7643 §2.2 says; required attributes are checked."""
    if not isinstance(body, dict):
        raise InvalidSyntax(f"the request body must be a JSON object describing a {rtype.name}")
    doc: dict[str, Any] = {}
    for key, value in body.items():
        low = key.lower()
        if low == "schemas":
            check_schemas(rtype, value, rewrites)
            continue
        if low in _READ_ONLY_TOP:
            continue  # dialect.READ_ONLY_IGNORED
        if low == "externalid":
            coerced = coerce_attribute(EXTERNAL_ID, value, "externalId", rewrites)
            if coerced is not ABSENT:
                doc["externalId"] = coerced
            continue
        attr = rtype.schema.attr(key)
        if attr is not None:
            _take(doc, rtype, rtype.schema, attr, value, rewrites)
            continue
        if ":" in key:
            schema = _canonical_schema_urn(rtype, key, rewrites)
            if schema is not None and schema is not rtype.schema:
                if value is None:
                    continue
                if not isinstance(value, dict):
                    raise InvalidValue(f"{schema.id} must be an object of {schema.name} attributes")
                for sub_key, sub_value in value.items():
                    sub_attr = schema.attr(sub_key)
                    if sub_attr is None:
                        unknown_custom_attribute(rtype, schema, sub_key)
                        if sub_value is not None:
                            dialect.UNKNOWN_ATTRIBUTE.note(rewrites, name=f"{schema.name}.{sub_key}")
                        continue
                    _take(doc, rtype, schema, sub_attr, sub_value, rewrites)
                continue
            if isinstance(value, dict) and rtype.refuses(key):
                raise InvalidValue(how_to_declare(rtype, key, str(next(iter(value), "<name>"))[:80]))
            urn, _, name = key.rpartition(":")
            schema = _canonical_schema_urn(rtype, urn, rewrites)
            if schema is not None and (attr := schema.attr(name)) is not None:
                _take(doc, rtype, schema, attr, value, rewrites)
                continue
            if schema is not None:
                unknown_custom_attribute(rtype, schema, name)
            if key.lower() in rtype.tolerated:
                continue
            if rtype.refuses(urn):
                raise InvalidValue(how_to_declare(rtype, urn, name[:80]))
            if rtype.refuses(key):
                raise InvalidValue(how_to_declare(rtype, key, "<name>"))
        if value is not None:
            dialect.UNKNOWN_ATTRIBUTE.note(rewrites, name=repr(key))
    check_required(rtype, doc)
    return doc


def unknown_custom_attribute(rtype: ResourceType, schema: Schema, name: str) -> None:
    """Refuse a name under a custom extension that the tenant does not keep: a strict tenant's undeclared
    attribute, or (lenient) a key that is no SCIM attribute name. The enterprise extension drops unknown names
    silently, as before (dialect.UNKNOWN_ATTRIBUTE)."""
    if schema.open:
        raise InvalidValue(
            f"{name[:80]!r} under {schema.id} is not a SCIM attribute name (RFC 7643 §2.1): a letter, then "
            "letters, digits, '-' or '_', at most 64 characters"
        )
    if rtype.extension_mode == "strict" and custom_urn(schema.id):
        raise InvalidValue(how_to_declare(rtype, schema.id, name[:80]))


def _take(
    doc: dict[str, Any], rtype: ResourceType, schema: Schema, attr: Attribute, value: Any, rewrites: list[str]
) -> None:
    if attr.mutability == "readOnly":
        return  # dialect.READ_ONLY_IGNORED (RFC 7643 §2.2)
    if attr.mutability == "writeOnly":
        if value is not None:
            dialect.WRITE_ONLY_DISCARDED.note(rewrites, attribute=attr.name)
        return
    if attr.type == "any" and value is not None:
        dialect.UNDECLARED_EXTENSION_KEPT.note(rewrites, name=f"{schema.id}:{attr.name}")
    if rtype.name == "Group" and attr.name == "members":
        set_attribute(doc, schema, rtype, attr, coerce_members(value, rewrites))
        return
    set_attribute(doc, schema, rtype, attr, coerce_attribute(attr, value, attr.name, rewrites))


def coerce_members(value: Any, rewrites: list[str]) -> Any:
    members = GROUP.attr("members")
    assert members is not None
    return coerce_attribute(members, value, "members", rewrites)


# Stored in indexed columns (store/resources.py): each at most `characters.MAX_INDEXED_LENGTH` characters.
_INDEXED = ("userName", "externalId", "displayName")


def check_required(rtype: ResourceType, doc: dict[str, Any]) -> None:
    """What every stored document satisfies: its required attributes are non-empty strings, and the
    attributes kept in indexed columns fit an index row (`invalidValue` with the limit otherwise)."""
    for attr in rtype.schema.attributes:
        if attr.required:
            value = doc.get(attr.name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidValue(f"{attr.name} is required and must be a non-empty string")
    for name in _INDEXED:
        check_length(doc.get(name), name)
    if rtype.extension_mode == "lenient":
        check_undeclared_count(rtype, doc)
    for ext in rtype.custom():
        for attr in ext.attributes:
            if attr.required:
                container = doc.get(ext.id)
                if not isinstance(container, dict) or container.get(attr.name) in (None, "", []):
                    raise InvalidValue(f"{ext.id}:{attr.name} is required for this tenant's {rtype.name} resources")


def iso(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(
    rtype: ResourceType,
    *,
    id: str,
    doc: dict[str, Any],
    created: dt.datetime,
    last_modified: dt.datetime,
    version: int,
    location: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The resource as returned (RFC 7643 §3: schemas, id, attributes, meta)."""
    # Every extension the document holds, declared or (lenient tenant) kept as sent.
    schemas = [rtype.schema.id, *(k for k, v in doc.items() if ":" in k and isinstance(v, dict))]
    out: dict[str, Any] = {"schemas": schemas, "id": id}
    out.update(doc)
    if extra:
        out.update(extra)
    out["meta"] = {
        "resourceType": rtype.name,
        "created": iso(created),
        "lastModified": iso(last_modified),
        "location": location,
        "version": etag(version),
    }
    return out
