"""Discovery documents (RFC 7643 §5-§7, RFC 7644 §4), generated from the schema registry."""

from __future__ import annotations

from typing import Any

from scimhub.scim.errors import NotFound
from scimhub.scim.listing import list_response
from scimhub.scim.schemas import ALL_SCHEMAS, RESOURCE_TYPES


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


def schemas_document(base_url: str) -> dict[str, Any]:
    return _list([s.to_document(f"{base_url}/Schemas/{s.id}") for s in ALL_SCHEMAS])


def schema_document(base_url: str, schema_id: str) -> dict[str, Any]:
    for s in ALL_SCHEMAS:
        if s.id.lower() == schema_id.lower():
            return s.to_document(f"{base_url}/Schemas/{s.id}")
    raise NotFound(f"schema {schema_id[:200]!r} not found")


def resource_types_document(base_url: str) -> dict[str, Any]:
    return _list([rt.to_document(f"{base_url}/ResourceTypes/{rt.name}") for rt in RESOURCE_TYPES.values()])


def resource_type_document(base_url: str, name: str) -> dict[str, Any]:
    for rt in RESOURCE_TYPES.values():
        if rt.name.lower() == name.lower():
            return rt.to_document(f"{base_url}/ResourceTypes/{rt.name}")
    raise NotFound(f"resource type {name[:200]!r} not found")
