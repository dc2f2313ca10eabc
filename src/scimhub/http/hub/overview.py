"""The overview: how many users and groups, recent failures, and whether the connector is on."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency

from scimhub.http.hub.session import HubPage
from scimhub.provisioning.overview import tenant_overview


@get("/{slug:str}/", include_in_schema=False)
async def overview(page: NamedDependency[HubPage]) -> Response[str]:
    seen = await tenant_overview(page.services.db.pool, page.tenant)
    return page.render("overview.html", counts=seen.counts, summary=seen.activity, active=page.tenant.active)
