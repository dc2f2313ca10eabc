"""Admin API route for the admin audit trail (`audit:read`): filtered, keyset paged, newest first."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromQuery, QueryParameter

from scimhub.admins import trail
from scimhub.admins.trail import TrailEntry
from scimhub.http.services import Services
from scimhub.tenancy.model import Tenant


class TrailPage(msgspec.Struct):
    items: list[TrailEntry]
    next_cursor: str | None


@get("/audit", summary="The admin audit trail: who did what, when, from where", opt={"scope": "audit:read"})
async def api_audit(
    tenant: NamedDependency[Tenant],
    services: NamedDependency[Services],
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    outcome: FromQuery[str | None] = None,
    by: Annotated[str | None, QueryParameter(name="actor")] = None,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
) -> TrailPage:
    f = trail.parse_trail_filter(since=since, until=until, action=action, outcome=outcome, actor=by)
    after = trail.decode_cursor(cursor)
    async with services.db.pool.acquire() as conn:
        items, last = await trail.list_trail(conn, tenant.id, f, limit=limit, after=after)
    return TrailPage(items, trail.encode_cursor(last))


ROUTES: list[HTTPRouteHandler] = [api_audit]
