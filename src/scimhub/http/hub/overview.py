"""The overview: how many users and groups, recent failures, and whether the connector is on."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from scimhub.audit.queries import activity_summary
from scimhub.http.hub.session import HubPage
from scimhub.store.resources import count_resources
from scimhub.tenancy.transaction import tenant_transaction


@get("/{slug:str}/", include_in_schema=False)
async def overview(page: NamedDependency[HubPage]) -> Response[str]:
    async with tenant_transaction(page.services.db.pool, page.tenant) as conn:
        counts = await count_resources(conn)
        summary = await activity_summary(conn)
    return page.render("overview.html", counts=counts, summary=summary, active=page.tenant.active)
