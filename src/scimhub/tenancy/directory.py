"""Finding tenants: the one place that turns a `public.tenant` row into a `Tenant`.

Every caller (token resolver, hub, admin API, CLI, audit drain and purge, notifications, tests) builds its
`Tenant` values here, so a field added to `Tenant` is read from the row once, for all of them. Works on any
connection that may read `public.tenant` (the app role's pool or the operator's admin connection).
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.names import SLUG_RE, schema_name, tenant_role_name

# The columns `tenant_from_row` reads; a query that builds tenants selects at least these (aliased `t.`).
TENANT_COLUMNS = "t.id, t.slug, t.status, t.keep_write_bodies, t.rate_limit"
_SELECT = f"SELECT {TENANT_COLUMNS} FROM public.tenant t"


def tenant_from_row(install_id: str, row: asyncpg.Record) -> Tenant:
    """The `Tenant` value of a row holding at least TENANT_COLUMNS."""
    tid = int(row["id"])
    return Tenant(
        id=tid,
        slug=row["slug"],
        schema=schema_name(tid),
        role=tenant_role_name(install_id, tid),
        status=row["status"],
        keep_write_bodies=row["keep_write_bodies"],
        rate_limit=row["rate_limit"],
    )


async def find_tenant(conn: Connection, install_id: str, slug: str) -> Tenant | None:
    """The tenant named `slug`, or None (also for a string that cannot be a slug)."""
    if not SLUG_RE.match(slug):
        return None
    row = await conn.fetchrow(f"{_SELECT} WHERE t.slug = $1", slug)
    return tenant_from_row(install_id, row) if row is not None else None


async def tenants_by_id(conn: Connection, install_id: str, ids: Iterable[int] | None) -> list[Tenant]:
    """The tenants with these ids (every tenant when `ids` is None), by id; ids of deleted tenants are skipped."""
    if ids is None:
        rows = await conn.fetch(f"{_SELECT} ORDER BY t.id")
    else:
        rows = await conn.fetch(f"{_SELECT} WHERE t.id = ANY($1::bigint[]) ORDER BY t.id", list(ids))
    return [tenant_from_row(install_id, r) for r in rows]


async def tenants_by_slug(conn: Connection, install_id: str, slugs: Iterable[str]) -> list[Tenant]:
    rows = await conn.fetch(f"{_SELECT} WHERE t.slug = ANY($1::text[]) ORDER BY t.id", list(slugs))
    return [tenant_from_row(install_id, r) for r in rows]
