"""Plain request-body factories with keyword overrides (Entra's documented shapes, contract §2)."""

from __future__ import annotations

import uuid
from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def entra_user(**overrides: Any) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:12]
    body: dict[str, Any] = {
        "schemas": [USER, ENTERPRISE],
        "externalId": str(uuid.uuid4()),
        "userName": f"Test_User_{tag}@contoso.test",
        "active": True,
        "displayName": "givenName familyName",
        "preferredLanguage": "en-US",
        "emails": [{"primary": True, "type": "work", "value": f"Test_User_{tag}@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": [],
        ENTERPRISE: {"employeeNumber": "701984", "department": "Sales"},
    }
    body.update(overrides)
    return body


def entra_group(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemas": [GROUP, ADSCIM],
        "externalId": str(uuid.uuid4()),
        "displayName": f"Group {uuid.uuid4().hex[:10]}",
        "meta": {"resourceType": "Group"},
    }
    body.update(overrides)
    return body


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}
