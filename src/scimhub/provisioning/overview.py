"""A tenant at a glance for its administrators: what is provisioned and how provisioning went lately."""

from __future__ import annotations

import asyncpg
import msgspec

from scimhub.audit.queries import ActivitySummary, activity_summary
from scimhub.store.resources import ResourceCounts, count_resources
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction


class TenantOverview(msgspec.Struct, frozen=True, kw_only=True):
    counts: ResourceCounts
    activity: ActivitySummary


async def tenant_overview(pool: asyncpg.Pool, tenant: Tenant) -> TenantOverview:
    """Resource counts and the activity summary, read in one tenant transaction (one consistent snapshot)."""
    async with tenant_transaction(pool, tenant) as conn:
        return TenantOverview(counts=await count_resources(conn), activity=await activity_summary(conn))
