"""Each tenant's custom-attribute registry as the web process sees it (issue #12): read from the tenant's
schema, built into a frozen `scim.extensions.Registry`, cached per tenant.

A cached registry is trusted for `TTL_SECONDS` (the token cache's 2 s): a declaration made by the CLI, the hub
of another process or the admin API reaches every process within that delay, with no message between them,
as connector switches do. After the TTL one small statement reads the version; the declarations are read
again only when it moved. The process that made a change forgets its entry at once (`forget`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from scimhub.scim.extensions import Declared, Registry, undeclared
from scimhub.scim.schemas import ResourceType
from scimhub.tenancy import attributes as rows
from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_statement, tenant_transaction

TTL_SECONDS = 2.0
MAX_SEEN = 10_000  # (tenant, attribute) pairs remembered as already recorded, per process


def registry_from(state: rows.SchemaState) -> Registry:
    return Registry(
        tuple(
            Declared(
                a.resource_type,
                a.urn,
                a.name,
                a.type,
                case_exact=a.case_exact,
                unique=a.unique,
                required=a.required,
                multi_valued=a.multi_valued,
                description=a.description,
            )
            for a in state.attributes
        ),
        mode=state.mode,
        version=state.version,
    )


@dataclass
class _Entry:
    registry: Registry
    checked_at: float


@dataclass
class RegistryCache:
    clock: Callable[[], float] = time.monotonic
    ttl: float = TTL_SECONDS
    _entries: dict[int, _Entry] = field(default_factory=dict)
    _seen: set[tuple[int, str, str, str]] = field(default_factory=set)

    async def registry(self, pool: asyncpg.Pool, tenant: Tenant) -> Registry:
        now = self.clock()
        entry = self._entries.get(tenant.id)
        if entry is not None and now - entry.checked_at < self.ttl:
            return entry.registry
        if entry is not None:  # one statement to see whether anything changed
            async with tenant_statement(pool, tenant) as conn:
                version = await conn.fetchval("SELECT version FROM scim_schema_setting")
            if version == entry.registry.version:
                entry.checked_at = now
                return entry.registry
        async with tenant_transaction(pool, tenant) as conn:
            registry = registry_from(await rows.load(conn))
        self._entries[tenant.id] = _Entry(registry, now)
        return registry

    async def resource_type(self, pool: asyncpg.Pool, tenant: Tenant, name: str) -> ResourceType:
        return (await self.registry(pool, tenant)).resource_type(name)

    def forget(self, tenant_id: int) -> None:
        self._entries.pop(tenant_id, None)

    def unseen(self, tenant: Tenant, rtype: ResourceType, doc: dict[str, Any]) -> list[tuple[str, str]]:
        """Undeclared custom attributes of `doc` this process has not recorded yet."""
        found = undeclared(rtype, doc)
        return [(u, n) for u, n in found if (tenant.id, rtype.name, u.lower(), n.lower()) not in self._seen]

    def mark_seen(self, tenant: Tenant, rtype: ResourceType, found: list[tuple[str, str]]) -> None:
        if len(self._seen) > MAX_SEEN:
            self._seen.clear()
        self._seen.update((tenant.id, rtype.name, u.lower(), n.lower()) for u, n in found)


def unseen_attributes(
    cache: RegistryCache | None, tenant: Tenant, rtype: ResourceType, doc: dict[str, Any]
) -> list[tuple[str, str]]:
    """The undeclared custom attributes of `doc` still to be recorded (none in strict mode): a create with none
    is one statement, with some it takes a transaction."""
    if rtype.extension_mode != "lenient":
        return []
    return cache.unseen(tenant, rtype, doc) if cache is not None else undeclared(rtype, doc)


async def record_seen(
    conn: Connection, cache: RegistryCache | None, tenant: Tenant, rtype: ResourceType, doc: dict[str, Any]
) -> None:
    """Inside a write's transaction: remember the undeclared attributes `doc` holds (the hub lists them), once
    per process (`check_required` already refused more than `MAX_UNDECLARED` of them)."""
    found = unseen_attributes(cache, tenant, rtype, doc)
    if found:
        await rows.record_seen(conn, rtype.name, found)
        if cache is not None:
            cache.mark_seen(tenant, rtype, found)
