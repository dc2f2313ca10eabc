"""Reading one User or Group by id (RFC 7644 §3.4.1), with `If-None-Match` (§3.14)."""

from __future__ import annotations

from scimhub.audit.vocabulary import operation
from scimhub.provisioning.context import Outcome, ScimContext
from scimhub.provisioning.representation import not_found, parse_id, render_resource, target_name, wants_related
from scimhub.scim.etag import etag, not_modified
from scimhub.scim.projection import Projection
from scimhub.scim.schemas import ResourceType
from scimhub.store import resources as store
from scimhub.tenancy.transaction import tenant_statement


async def get(
    ctx: ScimContext, rtype: ResourceType, raw_id: str, proj: Projection, if_none_match: str | None = None
) -> Outcome:
    """200 with the resource, 304 without a body when `If-None-Match` names its current tag, or 404."""
    rid = parse_id(raw_id, rtype)
    outcome = Outcome(200, operation=operation("Get", rtype.name), resource_type=rtype.name, resource_id=str(rid))
    async with tenant_statement(ctx.pool, ctx.tenant) as conn:  # one statement
        row = await store.get(conn, rtype, rid, related=wants_related(rtype, proj))
    if row is None:
        raise not_found(rtype, rid)
    ctx.keep_snapshot(rtype.name, row)  # Entra PATCHes what it just read
    outcome.target = target_name(rtype, row.doc)
    outcome.etag = etag(row.version)
    if not_modified(if_none_match, row.version):
        outcome.status = 304
        return outcome
    outcome.body = render_resource(ctx, rtype, row, proj)
    return outcome
