"""Discovery documents (RFC 7643 §5-§7, RFC 7644 §4), generated from the schema registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scimhub.scim.errors import NotFound
from scimhub.scim.listing import list_response
from scimhub.scim.schemas import ALL_SCHEMAS, RESOURCE_TYPES, ResourceType, Schema


def service_provider_config(base_url: str, *, max_results: int) -> dict[str, Any]:
    """RFC 7643 §5: what this service supports (PATCH, filter, sort, ETags; no bulk, no password change)."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
        "documentationUri": f"{base_url}/ServiceProviderConfig",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "The tenant's Secret Token, sent as 'Authorization: Bearer <token>'.",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }


def _list(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Discovery lists are never paged (RFC 7644 §4: the service provider returns them all)."""
    return list_response(resources, total=len(resources))


_BUILT_IN = tuple(RESOURCE_TYPES.values())


def _schemas(rtypes: Sequence[ResourceType]) -> list[Schema]:
    """The built-in schemas, then each tenant's declared custom extensions (issue #12; the registry the
    validation reads). A URN declared for Users and Groups alike is listed once, with the attributes of both."""
    out = list(ALL_SCHEMAS)
    index: dict[str, int] = {}
    for rt in rtypes:
        for ext in rt.custom():
            at = index.get(ext.id.lower())
            if at is None:
                index[ext.id.lower()] = len(out)
                out.append(Schema(ext.id, ext.name, ext.description, ext.attributes))
            else:
                seen = out[at]
                extra = tuple(a for a in ext.attributes if seen.declared(a.name) is None)
                out[at] = Schema(seen.id, seen.name, seen.description, seen.attributes + extra)
    return out


def schemas_document(base_url: str, rtypes: Sequence[ResourceType] = _BUILT_IN) -> dict[str, Any]:
    return _list([s.to_document(f"{base_url}/Schemas/{s.id}") for s in _schemas(rtypes)])


def schema_document(base_url: str, schema_id: str, rtypes: Sequence[ResourceType] = _BUILT_IN) -> dict[str, Any]:
    for s in _schemas(rtypes):
        if s.id.lower() == schema_id.lower():
            return s.to_document(f"{base_url}/Schemas/{s.id}")
    raise NotFound(f"schema {schema_id[:200]!r} not found")


def resource_types_document(base_url: str, rtypes: Sequence[ResourceType] = _BUILT_IN) -> dict[str, Any]:
    return _list([rt.to_document(f"{base_url}/ResourceTypes/{rt.name}") for rt in rtypes])


def resource_type_document(base_url: str, name: str, rtypes: Sequence[ResourceType] = _BUILT_IN) -> dict[str, Any]:
    for rt in rtypes:
        if rt.name.lower() == name.lower():
            return rt.to_document(f"{base_url}/ResourceTypes/{rt.name}")
    raise NotFound(f"resource type {name[:200]!r} not found")
