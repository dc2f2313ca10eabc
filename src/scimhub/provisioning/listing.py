"""Listing and searching Users and Groups (RFC 7644 §3.4.2, §3.4.3): filter, sort, page.

The query is read once by `scim.listing.parse_list_query`; both use cases answer a ListResponse built by
`scim.listing.list_response`, even when nothing matches (Entra's Test Connection, contract §2.1).
"""

from __future__ import annotations

from typing import Any

from scimhub.audit.vocabulary import Operation, operation
from scimhub.provisioning.context import Outcome, ScimContext
from scimhub.provisioning.representation import render_resource, target_name, wants_related
from scimhub.scim.errors import InvalidFilter, InvalidValue
from scimhub.scim.filter_binding import parse_bound
from scimhub.scim.filters import Node
from scimhub.scim.listing import ListQuery, list_response
from scimhub.scim.projection import Projection, parse_projection
from scimhub.scim.schemas import GROUP_TYPE, USER_TYPE, ResourceType
from scimhub.store import resources as store
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction


def _bound_filter(ctx: ScimContext, rtype: ResourceType, query: ListQuery) -> Node | None:
    if query.filter is None:
        return None
    return parse_bound(query.filter, rtype, max_length=ctx.limits.max_filter_length)


async def search(ctx: ScimContext, rtype: ResourceType, query: ListQuery, proj: Projection) -> Outcome:
    """One resource type (`GET /Users`, `POST /Users/.search`). A filtered list is a "Lookup" in the
    activity log (Entra's match before every write, contract §2.3); an unfiltered one a "List users"."""
    node = _bound_filter(ctx, rtype, query)
    sort = query.sort_attribute(rtype)
    async with tenant_statement(ctx.pool, ctx.tenant) as conn:  # the page and its total in one statement
        total, rows = await store.list_page(
            conn,
            rtype,
            node,
            sort_by=sort,
            descending=query.descending,
            offset=query.offset,
            limit=query.count,
            related=wants_related(rtype, proj),
        )
    one = rows[0] if len(rows) == 1 else None
    if one is not None:
        ctx.keep_snapshot(rtype.name, one)  # Entra's match by filter, before its PATCH
    resources = [render_resource(ctx, rtype, r, proj) for r in rows]
    return Outcome(
        200,
        body=list_response(resources, total=total, start_index=query.start_index),
        operation=Operation.LOOKUP if node is not None else operation("List", rtype.name),
        resource_type=rtype.name,
        target=target_name(rtype, one.doc) if one is not None else None,
        results=total,
        resource_id=str(one.id) if one is not None else None,
    )


async def search_all(
    ctx: ScimContext,
    query: ListQuery,
    *,
    attributes: Any,
    excluded: Any,
    types: tuple[ResourceType, ...] = (USER_TYPE, GROUP_TYPE),
) -> Outcome:
    """The root `POST /.search` (RFC 7644 §3.4.3): Users, then Groups, paged as one list.

    A filter or `sortBy` naming an attribute that one type lacks does not fail the search: that type matches
    nothing (filter) or keeps its default order (`sortBy`). A filter is an error only when no type knows it.
    """
    plans: list[tuple[ResourceType, Node | None]] = []
    first_error: InvalidFilter | None = None
    for rtype in types:
        try:
            plans.append((rtype, _bound_filter(ctx, rtype, query)))
        except InvalidFilter as exc:
            first_error = first_error or exc
    if not plans and first_error is not None:
        raise first_error
    resources: list[dict[str, Any]] = []
    total = 0
    offset = query.offset
    async with tenant_transaction(ctx.pool, ctx.tenant) as conn:
        for rtype, node in plans:
            proj = parse_projection(rtype, attributes, excluded)
            try:
                sort = query.sort_attribute(rtype)
            except InvalidValue:
                sort = None
            n, _ = await store.list_page(
                conn, rtype, node, sort_by=None, descending=False, offset=0, limit=0, related=False
            )
            want = query.count - len(resources)
            if want > 0 and offset < n:
                _, rows = await store.list_page(
                    conn,
                    rtype,
                    node,
                    sort_by=sort,
                    descending=query.descending,
                    offset=offset,
                    limit=want,
                    related=wants_related(rtype, proj),
                )
                resources.extend(render_resource(ctx, rtype, r, proj) for r in rows)
            offset = max(0, offset - n)
            total += n
    return Outcome(
        200,
        body=list_response(resources, total=total, start_index=query.start_index),
        operation=Operation.LOOKUP,
        results=total,
    )
