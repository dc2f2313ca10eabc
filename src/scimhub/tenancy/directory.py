"""Finding tenants: the one place that turns a `public.tenant` row into a `Tenant`.

Every caller (token resolver, hub, admin API, CLI, audit drain and purge, notifications, tests) builds its
`Tenant` values here, so a field added to `Tenant` is read from the row once, for all of them. Works on any
connection that may read `public.tenant` (the app role's pool or the operator's admin connection).

Loops over every tenant (migrate, the full sweep, the purge, the digest flush) walk `tenant_pages`: pages of
`PAGE` tenants by id (keyset, never OFFSET), so memory stays flat whatever the number of tenants, and a pool
connection is held only while one page is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

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


PAGE = 500  # tenants per page of `tenant_pages`


async def tenants_after(conn: Connection, install_id: str, after_id: int, limit: int = PAGE) -> list[Tenant]:
    """At most `limit` tenants with an id above `after_id`, by id (one keyset page)."""
    rows = await conn.fetch(f"{_SELECT} WHERE t.id > $1 ORDER BY t.id LIMIT $2", after_id, limit)
    return [tenant_from_row(install_id, r) for r in rows]


async def tenant_pages(
    source: asyncpg.Pool | Connection, install_id: str, *, page: int = PAGE
) -> AsyncIterator[list[Tenant]]:
    """Every tenant, by id, a page at a time. From a pool, each page is read on a connection held only for
    that read (the caller's work between pages holds none); a tenant created meanwhile with a higher id is
    included, one deleted meanwhile may still be in a page already read."""
    after = 0
    while True:
        if isinstance(source, asyncpg.Pool):
            async with source.acquire() as conn:
                found = await tenants_after(conn, install_id, after, page)
        else:
            found = await tenants_after(source, install_id, after, page)
        if not found:
            return
        yield found
        if len(found) < page:
            return
        after = found[-1].id


async def tenants_by_slug(conn: Connection, install_id: str, slugs: Iterable[str]) -> list[Tenant]:
    rows = await conn.fetch(f"{_SELECT} WHERE t.slug = ANY($1::text[]) ORDER BY t.id", list(slugs))
    return [tenant_from_row(install_id, r) for r in rows]
