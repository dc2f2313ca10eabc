"""A stored resource as a client and an administrator see it: its id, its rendered form, its name.

Shared by every use case, so a resource reads the same whichever request returns it (GET, a list, the answer
to a write).
"""

from __future__ import annotations

import uuid
from typing import Any

from scimhub.provisioning.context import ScimContext
from scimhub.scim.errors import NotFound
from scimhub.scim.projection import Projection, apply_projection
from scimhub.scim.resources import render
from scimhub.scim.schemas import ResourceType
from scimhub.store.resources import Row


def parse_id(raw: str, rtype: ResourceType) -> uuid.UUID:
    """A resource id from a URL; ids are UUIDs, so anything else names no resource (404, RFC 7644 §3.12)."""
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"{rtype.name} {raw[:80]!r} not found") from None


def not_found(rtype: ResourceType, rid: uuid.UUID | str) -> NotFound:
    return NotFound(f"{rtype.name} {str(rid)!r} not found")


def target_name(rtype: ResourceType, doc: dict[str, Any]) -> str | None:
    """The name an administrator recognises in the activity log: a user's userName, a group's displayName."""
    value = doc.get("userName" if rtype.name == "User" else "displayName")
    return value if isinstance(value, str) else None


def wants_related(rtype: ResourceType, proj: Projection) -> bool:
    """Will the answer show a user's `groups` / a group's `members` (worth reading them)?"""
    return proj.returns(rtype, "groups" if rtype.name == "User" else "members")


def render_resource(
    ctx: ScimContext, rtype: ResourceType, row: Row, proj: Projection, members: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The resource as returned (RFC 7643 §3), with `$ref` links to related resources (RFC 7643 §4.1.2,
    §4.2), projected by `attributes` / `excludedAttributes` (RFC 7644 §3.9). `members`, when given, replaces
    what `row` holds (a group just written, which shows `members` even when it has none)."""
    rid = str(row.id)
    extra: dict[str, Any] = {}
    related = members if members is not None else row.related
    if related:
        key = "groups" if rtype.name == "User" else "members"
        items = []
        for item in related:
            ref_type = "Group" if rtype.name == "User" else item.get("type", "User")
            items.append({**item, "$ref": ctx.location(ref_type, item["value"])})
        extra[key] = items
    elif rtype.name == "Group" and members is not None:
        extra["members"] = []
    body = render(
        rtype,
        id=rid,
        doc=row.doc,
        created=row.created,
        last_modified=row.last_modified,
        version=row.version,
        location=ctx.location(rtype.name, rid),
        extra=extra,
    )
    return apply_projection(body, rtype, proj)
