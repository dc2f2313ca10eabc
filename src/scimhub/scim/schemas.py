"""The schema registry: attribute definitions of RFC 7643 §4 (User, Group) and §4.3 (Enterprise User).

Validation, filters, PATCH paths, projection and the `/Schemas` document all read these definitions, so
discovery can never disagree with behaviour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
# Entra sends this extra schema URI on group creation (contract §2.8); it carries no attributes we keep.
ADSCIM_GROUP_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
# An old Entra example body carries the enterprise URN without its last colon (contract §2.4).
MALFORMED_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"


@dataclass(frozen=True, repr=False)
class Attribute:
    name: str
    # string boolean decimal integer dateTime reference complex binary; "any": an undeclared custom
    # attribute of a lenient tenant, kept as sent (scim/extensions.py)
    type: str = "string"
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"  # readOnly readWrite immutable writeOnly
    returned: str = "default"  # always never default request
    uniqueness: str = "none"
    description: str = ""
    sub_attributes: tuple[Attribute, ...] = ()
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()

    def sub(self, name: str) -> Attribute | None:
        return _find(self.sub_attributes, name)

    def __repr__(self) -> str:
        return f"Attribute({self.name!r})"

    def to_schema(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description or self.name,
            "required": self.required,
        }
        if self.type in {"string", "reference", "binary"}:
            doc["caseExact"] = self.case_exact
        if self.canonical_values:
            doc["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            doc["referenceTypes"] = list(self.reference_types)
        doc["mutability"] = self.mutability
        doc["returned"] = self.returned
        if self.type not in {"complex", "boolean"}:
            doc["uniqueness"] = self.uniqueness
        if self.sub_attributes:
            doc["subAttributes"] = [s.to_schema() for s in self.sub_attributes]
        return doc


# RFC 7643 §2.1: ATTRNAME = ALPHA *(nameChar), nameChar = "-" / "_" / DIGIT / ALPHA (64 characters here).
ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
# The extension namespace (RFC 7643 §10.2.2 registers urn:ietf:params:scim:schemas:extension:...): what a
# tenant may declare and, when lenient, what it keeps undeclared. Segments of letters, digits, '.', '-', '_'.
EXTENSION_NAMESPACE = "urn:ietf:params:scim:schemas:extension:"
EXTENSION_URN = re.compile(
    r"urn:ietf:params:scim:schemas:extension:[A-Za-z0-9][A-Za-z0-9._-]*(?::[A-Za-z0-9][A-Za-z0-9._-]*)*\Z",
    re.IGNORECASE,
)
MAX_URN_LENGTH = 200


def custom_urn(urn: str) -> bool:
    """Is `urn` one a tenant may own: in the extension namespace, well formed, not (under) the enterprise one?"""
    low = urn.lower()
    enterprise = ENTERPRISE_SCHEMA.lower()
    return (
        len(urn) <= MAX_URN_LENGTH
        and bool(EXTENSION_URN.match(urn))
        and low != enterprise
        and not low.startswith(enterprise + ":")  # `...:User:manager:$ref` is the enterprise one's, not a URN
    )


def _find(attrs: tuple[Attribute, ...], name: str) -> Attribute | None:
    low = name.lower()
    for a in attrs:
        if a.name.lower() == low:
            return a
    return None


@dataclass(frozen=True, repr=False)
class Schema:
    id: str
    name: str
    description: str
    attributes: tuple[Attribute, ...]
    # A custom extension of a lenient tenant: an attribute it does not declare is still known, as type
    # "any" (kept as sent, compared as a string); see scim/extensions.py.
    open: bool = False

    def attr(self, name: str) -> Attribute | None:
        found = _find(self.attributes, name)
        if found is None and self.open and ATTRIBUTE_NAME.match(name):
            return Attribute(name, type="any", description="seen, not declared")
        return found

    def declared(self, name: str) -> Attribute | None:
        return _find(self.attributes, name)

    def __repr__(self) -> str:
        return f"Schema({self.id!r})"

    def to_document(self, location: str) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_schema() for a in self.attributes],
            "meta": {"resourceType": "Schema", "location": location},
        }


def _s(name: str, **kw: Any) -> Attribute:
    return Attribute(name, **kw)


def _multi(
    name: str,
    description: str,
    *,
    types: tuple[str, ...] = ("work", "home", "other"),
    value_type: str = "string",
    extra: tuple[Attribute, ...] = (),
) -> Attribute:
    return Attribute(
        name,
        type="complex",
        multi_valued=True,
        description=description,
        sub_attributes=(
            _s("value", type=value_type, description=f"The value of the {name} entry."),
            _s("display", description="A human-readable name, primarily used for display purposes."),
            _s("type", description="A label indicating the attribute's function.", canonical_values=types),
            _s("primary", type="boolean", description="The primary or preferred value."),
            *extra,
        ),
    )


ID = _s(
    "id",
    case_exact=True,
    mutability="readOnly",
    returned="always",
    uniqueness="server",
    description="Unique identifier for the SCIM resource as defined by the service provider.",
)
EXTERNAL_ID = _s(
    "externalId", case_exact=True, description="An identifier for the resource as defined by the provisioning client."
)
META = _s(
    "meta",
    type="complex",
    mutability="readOnly",
    description="Resource metadata.",
    sub_attributes=(
        _s("resourceType", case_exact=True, mutability="readOnly"),
        _s("created", type="dateTime", mutability="readOnly"),
        _s("lastModified", type="dateTime", mutability="readOnly"),
        _s("location", type="reference", case_exact=True, mutability="readOnly", reference_types=("uri",)),
        _s("version", case_exact=True, mutability="readOnly"),
    ),
)
COMMON = (ID, EXTERNAL_ID, META)

USER = Schema(
    USER_SCHEMA,
    "User",
    "User Account",
    (
        _s(
            "userName",
            required=True,
            uniqueness="server",
            description="Unique identifier for the User, typically used by the user to directly authenticate.",
        ),
        _s(
            "name",
            type="complex",
            description="The components of the user's real name.",
            sub_attributes=(
                _s("formatted"),
                _s("familyName"),
                _s("givenName"),
                _s("middleName"),
                _s("honorificPrefix"),
                _s("honorificSuffix"),
            ),
        ),
        _s("displayName", description="The name of the User, suitable for display to end-users."),
        _s("nickName"),
        _s("profileUrl", type="reference", reference_types=("external",)),
        _s("title"),
        _s("userType"),
        _s("preferredLanguage"),
        _s("locale"),
        _s("timezone"),
        _s("active", type="boolean", description="The User's administrative status."),
        _s(
            "password",
            mutability="writeOnly",
            returned="never",
            description="Accepted and discarded: scimhub never stores passwords.",
        ),
        _multi("emails", "Email addresses for the user."),
        _multi(
            "phoneNumbers", "Phone numbers for the User.", types=("work", "home", "mobile", "fax", "pager", "other")
        ),
        _multi("ims", "Instant messaging addresses for the User."),
        _multi("photos", "URLs of photos of the User.", types=("photo", "thumbnail"), value_type="reference"),
        Attribute(
            "addresses",
            type="complex",
            multi_valued=True,
            description="A physical mailing address for this User.",
            sub_attributes=(
                _s("formatted"),
                _s("streetAddress"),
                _s("locality"),
                _s("region"),
                _s("postalCode"),
                _s("country"),
                _s("type", canonical_values=("work", "home", "other")),
                _s("primary", type="boolean"),
            ),
        ),
        Attribute(
            "groups",
            type="complex",
            multi_valued=True,
            mutability="readOnly",
            description="A list of groups to which the user belongs.",
            sub_attributes=(
                _s("value", mutability="readOnly"),
                _s("$ref", type="reference", mutability="readOnly", reference_types=("Group",)),
                _s("display", mutability="readOnly"),
                _s("type", mutability="readOnly", canonical_values=("direct", "indirect")),
            ),
        ),
        _multi("entitlements", "A list of entitlements for the User."),
        _multi("roles", "A list of roles for the User."),
        _multi("x509Certificates", "A list of certificates issued to the User.", value_type="binary"),
    ),
)

ENTERPRISE_USER = Schema(
    ENTERPRISE_SCHEMA,
    "EnterpriseUser",
    "Enterprise User",
    (
        _s("employeeNumber"),
        _s("costCenter"),
        _s("organization"),
        _s("division"),
        _s("department"),
        Attribute(
            "manager",
            type="complex",
            description="The User's manager.",
            sub_attributes=(
                _s("value", description="The id of the SCIM resource representing the User's manager."),
                _s("$ref", type="reference", reference_types=("User",)),
                _s("displayName", mutability="readOnly"),
            ),
        ),
    ),
)

GROUP = Schema(
    GROUP_SCHEMA,
    "Group",
    "Group",
    (
        _s("displayName", required=True, uniqueness="server", description="A human-readable name for the Group."),
        Attribute(
            "members",
            type="complex",
            multi_valued=True,
            description="A list of members of the Group.",
            sub_attributes=(
                _s("value", mutability="immutable", case_exact=True),
                _s("$ref", type="reference", mutability="immutable", reference_types=("User", "Group")),
                _s("display", mutability="readOnly"),
                _s("type", mutability="immutable", canonical_values=("User", "Group")),
            ),
        ),
    ),
)


@dataclass(frozen=True)
class ResourceType:
    name: str
    endpoint: str
    schema: Schema
    extensions: tuple[Schema, ...] = field(default=())
    # Schema URIs a client may send that we accept and do not keep (Entra quirks).
    tolerated: tuple[str, ...] = field(default=())
    # A tenant's custom extensions (scim/extensions.py): "closed" (the built-in types: unknown URNs are
    # dropped as before), "lenient" (undeclared extension URNs kept as sent), "strict" (refused with 400).
    extension_mode: str = "closed"

    def schema_for(self, urn: str) -> Schema | None:
        """A declared schema (core or extension) by URN, any case."""
        low = urn.lower()
        for s in (self.schema, *self.extensions):
            if s.id.lower() == low:
                return s
        return None

    def schema_or_open(self, urn: str) -> Schema | None:
        """`schema_for`, or, for a lenient tenant, an open schema for an undeclared custom extension URN."""
        found = self.schema_for(urn)
        if found is None and self.extension_mode == "lenient" and custom_urn(urn):
            return Schema(urn, urn.rpartition(":")[2] or urn, "undeclared extension", (), open=True)
        return found

    def refuses(self, urn: str) -> bool:
        """Does a strict tenant refuse this URN (a custom extension URN it does not declare)?"""
        return self.extension_mode == "strict" and custom_urn(urn) and self.schema_for(urn) is None

    def custom(self) -> tuple[Schema, ...]:
        """The tenant's declared custom extensions (the enterprise extension is built in)."""
        return tuple(e for e in self.extensions if e.id != ENTERPRISE_SCHEMA)

    def to_document(self, location: str) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.schema.description,
            "schema": self.schema.id,
            "schemaExtensions": [{"schema": e.id, "required": False} for e in self.extensions],
            "meta": {"resourceType": "ResourceType", "location": location},
        }


USER_TYPE = ResourceType("User", "/Users", USER, (ENTERPRISE_USER,), (MALFORMED_ENTERPRISE.lower(),))
GROUP_TYPE = ResourceType("Group", "/Groups", GROUP, (), (ADSCIM_GROUP_SCHEMA.lower(),))
RESOURCE_TYPES = {"User": USER_TYPE, "Group": GROUP_TYPE}
ALL_SCHEMAS = (USER, ENTERPRISE_USER, GROUP)
_CORE_IDS = frozenset({USER_SCHEMA, GROUP_SCHEMA})


@dataclass(frozen=True)
class ResolvedAttr:
    """An attribute path resolved against a resource type: `schema` holds `attr`, `sub` is optional."""

    schema: Schema
    attr: Attribute
    sub: Attribute | None = None

    @property
    def extension(self) -> bool:
        return self.schema.id not in _CORE_IDS

    @property
    def dotted(self) -> str:
        base = self.attr.name if not self.sub else f"{self.attr.name}.{self.sub.name}"
        return f"{self.schema.id}:{base}" if self.extension else base

    @property
    def leaf(self) -> Attribute:
        return self.sub or self.attr


def resolve(rtype: ResourceType, urn: str | None, name: str, sub: str | None) -> ResolvedAttr | None:
    """Find `[urn:]name[.sub]` in `rtype` (names case-insensitive, RFC 7644 §3.10); None when unknown."""
    if urn:
        schema = rtype.schema_or_open(urn)
        if schema is None:
            return None
        attr = schema.attr(name) or (_find(COMMON, name) if schema is rtype.schema else None)
    else:
        schema = rtype.schema
        attr = _find(COMMON, name) or schema.attr(name)
        if attr is None:
            # Entra's legacy forms name extension attributes unqualified (`manager`); resolve them when
            # exactly one extension has the name (dialect.UNQUALIFIED_EXTENSION_ATTRIBUTE).
            hits = [(e, a) for e in rtype.extensions if (a := e.declared(name)) is not None]
            if len(hits) == 1:
                schema, attr = hits[0]
    if attr is None:
        return None
    if sub is None:
        return ResolvedAttr(schema, attr)
    sub_attr = attr.sub(sub)
    if sub_attr is None:
        return None
    return ResolvedAttr(schema, attr, sub_attr)
