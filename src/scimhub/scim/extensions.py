"""A tenant's custom attributes (issue #12): its declared extension schemas, as data, and the resource types
built from them.

The registry is a frozen value made from the rows of the tenant's `scim_attribute` table
(`tenancy/attributes.py`), cached per tenant by `provisioning/extensions.py`; validation, PATCH, filters,
projection, uniqueness and discovery all read the `ResourceType` it builds, so what `/Schemas` says is what
the tenant accepts.

Choices (see README "Custom attributes"):
- declared attributes are simple (string, boolean, integer, decimal, dateTime, reference, binary), single-valued
  or, with `multi_valued`, lists of simple values; complex declared attributes are not offered;
- a lenient tenant (the default) keeps an attribute under an undeclared extension URN, or an undeclared name
  under a declared URN, exactly as sent (any JSON value, complex and lists included: type "any"), returns it,
  and filters it as a string (a number or boolean filter value is compared with its JSON text);
- a strict tenant refuses them with 400 naming the attribute and how to declare it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

from scimhub.scim.errors import InvalidValue
from scimhub.scim.schemas import (
    ATTRIBUTE_NAME,
    ENTERPRISE_USER,
    GROUP_TYPE,
    MAX_URN_LENGTH,
    USER_TYPE,
    Attribute,
    ResourceType,
    Schema,
    custom_urn,
)

TYPES = ("string", "boolean", "integer", "decimal", "dateTime", "reference", "binary")
RESOURCE_TYPES = ("User", "Group")
MODES = ("lenient", "strict")
MAX_DECLARED = 500  # declared attributes per tenant
MAX_UNDECLARED = 100  # undeclared custom attributes one resource may hold (lenient mode)
MAX_DESCRIPTION = 1000


@dataclass(frozen=True)
class Declared:
    """One declared custom attribute: what an administrator typed, checked."""

    resource_type: str
    urn: str
    name: str
    type: str = "string"
    case_exact: bool = False
    unique: bool = False
    required: bool = False
    multi_valued: bool = False
    description: str = ""

    @property
    def path(self) -> str:
        return f"{self.urn}:{self.name}"

    def attribute(self) -> Attribute:
        return Attribute(
            self.name,
            type=self.type,
            multi_valued=self.multi_valued,
            required=self.required,
            case_exact=self.case_exact,
            uniqueness="server" if self.unique else "none",
            description=self.description or f"Custom attribute {self.name}.",
        )


def check_declaration(d: Declared) -> Declared:
    """`d` if it can be declared; `InvalidValue` saying what is wrong otherwise (never half-applied)."""
    if d.resource_type not in RESOURCE_TYPES:
        raise InvalidValue(f"resource type must be User or Group, not {d.resource_type[:40]!r}")
    if not custom_urn(d.urn):
        raise InvalidValue(
            f"{d.urn[:MAX_URN_LENGTH]!r} is not a custom extension URN: it must start with "
            "urn:ietf:params:scim:schemas:extension:, continue with segments of letters, digits, '.', '-' or '_' "
            f"separated by ':', be at most {MAX_URN_LENGTH} characters, and not be the enterprise extension"
        )
    if not ATTRIBUTE_NAME.match(d.name):
        raise InvalidValue(
            f"{d.name[:80]!r} is not a SCIM attribute name (RFC 7643 §2.1): a letter, then letters, digits, "
            "'-' or '_', at most 64 characters"
        )
    if d.type not in TYPES:
        raise InvalidValue(f"type must be one of {', '.join(TYPES)}, not {d.type[:40]!r}")
    if d.unique and d.type in {"boolean", "binary"}:
        raise InvalidValue(f"a {d.type} attribute cannot be unique")
    if d.unique and d.multi_valued:
        raise InvalidValue("a multi-valued attribute cannot be unique")
    if len(d.description) > MAX_DESCRIPTION:
        raise InvalidValue(f"the description is longer than {MAX_DESCRIPTION} characters")
    return d


def index_name(resource_type: str, urn: str, name: str, *, unique: bool) -> str:
    """The tenant-schema index made for a declared attribute (deterministic, so the store can name the
    attribute of a unique violation and removal can drop it)."""
    digest = hashlib.sha256(f"{resource_type}\n{urn.lower()}\n{name.lower()}".encode()).hexdigest()[:16]
    return f"scim_cx_{'u' if unique else 'i'}_{digest}"


def schema_name(urn: str) -> str:
    """A readable name for a custom schema: the URN's last segment before `User`/`Group`, or its last."""
    parts = urn.split(":")
    tail = parts[-1]
    if tail.lower() in {"user", "group"} and len(parts) >= 3:
        return f"{parts[-3]}{tail}"
    return tail


@dataclass(frozen=True)
class Registry:
    declared: tuple[Declared, ...] = ()
    mode: str = "lenient"
    version: int = 0
    _types: dict[str, ResourceType] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for base in (USER_TYPE, GROUP_TYPE):
            by_urn: dict[str, list[Declared]] = {}
            cased: dict[str, str] = {}
            for d in self.declared:
                if d.resource_type == base.name:
                    key = d.urn.lower()
                    cased.setdefault(key, d.urn)
                    by_urn.setdefault(key, []).append(d)
            schemas = tuple(
                Schema(
                    cased[key],
                    schema_name(cased[key]),
                    f"Custom extension {cased[key]}",
                    tuple(d.attribute() for d in items),
                    open=self.mode == "lenient",
                )
                for key, items in by_urn.items()
            )
            builtin = (ENTERPRISE_USER,) if base.name == "User" else ()
            self._types[base.name] = dataclasses.replace(
                base, extensions=(*builtin, *schemas), extension_mode=self.mode
            )

    def resource_type(self, name: str) -> ResourceType:
        return self._types[name]

    def find(self, resource_type: str, urn: str, name: str) -> Declared | None:
        low_urn, low_name = urn.lower(), name.lower()
        for d in self.declared:
            if d.resource_type == resource_type and d.urn.lower() == low_urn and d.name.lower() == low_name:
                return d
        return None


def undeclared(rtype: ResourceType, doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(URN, name) of every undeclared custom attribute `doc` holds (what a lenient tenant kept as sent)."""
    out: list[tuple[str, str]] = []
    for key, value in doc.items():
        if ":" not in key or not isinstance(value, dict) or not custom_urn(key):
            continue
        schema = rtype.schema_for(key)
        out.extend((key, name) for name in value if schema is None or schema.declared(name) is None)
    return out


def check_undeclared_count(rtype: ResourceType, doc: dict[str, Any]) -> list[tuple[str, str]]:
    found = undeclared(rtype, doc)
    if len(found) > MAX_UNDECLARED:
        raise InvalidValue(
            f"a {rtype.name} may hold at most {MAX_UNDECLARED} undeclared custom attributes, this one would hold "
            f"{len(found)}; declare the ones you need (scimhub tenant schema add-attribute) or send fewer"
        )
    return found


def how_to_declare(rtype: ResourceType, urn: str, name: str) -> str:
    return (
        f"{urn}:{name} is not declared for {rtype.name} resources of this tenant, which is in strict mode; "
        f"an administrator declares it on the hub's Schema page or with `scimhub tenant schema add-attribute "
        f"<tenant> {urn} {name} --type string` (or switches the tenant to lenient mode)"
    )


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def index_expression(d: Declared) -> str | None:
    """The expression `store/filter_sql.py` compiles a filter on `d` to, over the bare `doc` column: what the
    index made when `d` is declared is built on (the same tree, so the planner uses it). None for a type no
    immutable expression serves (dateTime's text -> timestamptz cast depends on the session's time zone;
    multi-valued lists are searched element by element)."""
    if d.multi_valued or d.type == "dateTime":
        return None
    value = f"(doc->{_lit(d.urn)}->{_lit(d.name)})"
    if d.type == "boolean":
        return value
    if d.type in {"integer", "decimal"}:
        return f"(CASE WHEN jsonb_typeof({value}) = 'number' THEN ({value})::numeric END)"
    text = f"(doc->{_lit(d.urn)}->>{_lit(d.name)})"
    return text if d.case_exact else f"lower({text})"


def index_ddl(d: Declared, table: str, *, concurrently: bool = False) -> str | None:
    expr = index_expression(d)
    if expr is None:
        return None
    name = index_name(d.resource_type, d.urn, d.name, unique=d.unique)
    how = "UNIQUE INDEX" if d.unique else "INDEX"
    conc = " CONCURRENTLY" if concurrently else ""
    return f"CREATE {how}{conc} IF NOT EXISTS {name} ON {table} (({expr}))"


# How existing values are checked before a declaration takes effect (declare, or a type change): a value
# is `fits` as stored, `converts` (Entra's strings, or a number/boolean becoming text) and is rewritten,
# or neither, and the declaration is refused. `v` is the JSONB value.
CONVERSION: dict[str, tuple[str, str, str]] = {
    # type: (fits, converts, converted value)
    "string": ("jsonb_typeof(v) = 'string'", "jsonb_typeof(v) IN ('number', 'boolean')", "to_jsonb(v #>> '{}')"),
    "reference": ("jsonb_typeof(v) = 'string'", "false", "v"),
    "binary": ("jsonb_typeof(v) = 'string'", "false", "v"),
    "boolean": (
        "jsonb_typeof(v) = 'boolean'",
        "jsonb_typeof(v) = 'string' AND lower(btrim(v #>> '{}')) IN ('true', 'false')",
        "to_jsonb(lower(btrim(v #>> '{}')) = 'true')",
    ),
    "integer": (
        "jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^-?[0-9]+$'",
        "jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') ~ '^[+-]?[0-9]{1,18}$'",
        "to_jsonb(btrim(v #>> '{}')::bigint)",
    ),
    "decimal": (
        "jsonb_typeof(v) = 'number'",
        "jsonb_typeof(v) = 'string' AND btrim(v #>> '{}') ~ '^[+-]?([0-9]{1,30}(\\.[0-9]{0,30})?|\\.[0-9]{1,30})$'",
        "to_jsonb(btrim(v #>> '{}')::numeric)",
    ),
    "dateTime": (
        (
            "jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ "
            "'^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?$'"
        ),
        "false",
        "v",
    ),
}
