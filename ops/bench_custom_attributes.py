"""Filter latency on a custom attribute (issue #12) at a tenant with many users, undeclared then declared.

    python -m ops.bench_custom_attributes [--users 1000000] [--lookups 200] [--database-url URL]

A scratch database with one tenant whose users each hold
`urn:ietf:params:scim:schemas:extension:acme:2.0:User:costCode` (as a lenient tenant keeps it when Entra sends
it undeclared). Times Entra's match-before-create lookup (`filter=urn:...:costCode eq "CC-n"`, count 1) through
the SCIM use case (`provisioning.listing.search`: parse, bind against the tenant's registry, SQL, render):
first undeclared (a scan of every document), then after `admins.attributes.declare` made its index (the time
the declaration took is printed too). The database and its roles are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from ops.scale_tenants import drop_scratch
from scimhub.admins import attributes
from scimhub.provisioning import listing
from scimhub.provisioning.context import ScimContext
from scimhub.provisioning.extensions import RegistryCache
from scimhub.scim.listing import parse_list_query
from scimhub.scim.projection import Projection
from scimhub.settings import default_app_database_url
from scimhub.tenancy import tenants
from scimhub.tenancy.db import AppDatabase, admin_connect
from scimhub.tenancy.migrate import migrate
from scimhub.tenancy.transaction import scoped

URN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"
_USERS = """INSERT INTO {schema}.scim_user (id, user_name, version, created, last_modified, doc)
SELECT gen_random_uuid(), 'user' || g || '@acme.test', 1, now(), now(),
       jsonb_build_object('userName', 'user' || g || '@acme.test', $1::text, jsonb_build_object('costCode', 'CC-' || g))
FROM generate_series($2::int, $3::int) g"""


def _line(label: str, times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{label}: median {statistics.median(times):.2f} ms, p99 {p99:.2f} ms ({len(times)} lookups)"


async def _lookups(ctx: ScimContext, cache: RegistryCache, users: int, n: int) -> list[float]:
    rng = random.Random(12)  # noqa: S311 - which user to look up, not a secret
    times = []
    for _ in range(n):
        code = f"cc-{rng.randint(1, users)}"
        t0 = time.perf_counter()
        rtype = await cache.resource_type(ctx.pool, ctx.tenant, "User")
        query = parse_list_query(
            filter_text=f'{URN}:costCode eq "{code}"',
            sort_by=None,
            sort_order=None,
            start_index=None,
            count="1",
            default_count=100,
            max_count=200,
        )
        outcome = await listing.search(ctx, rtype, query, Projection())
        times.append((time.perf_counter() - t0) * 1000)
        if outcome.results != 1:
            raise SystemExit(f"lookup of {code} found {outcome.results} users, not 1")
    return times


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=200)
    ap.add_argument("--undeclared-lookups", type=int, default=10)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_bench_custom")
    args = ap.parse_args()
    url = args.database_url
    app_url = default_app_database_url(url)
    await migrate(url, app_database_url=app_url, progress=lambda _l: None)
    conn = await admin_connect(url)
    db = await AppDatabase.open(app_url, size=2)
    try:
        await tenants.create_tenant(conn, "custom", public_url="http://127.0.0.1")
        tenant = await tenants.get_tenant(conn, "custom")
        t0 = time.perf_counter()
        step = 100_000
        for start in range(1, args.users + 1, step):
            await conn.execute(_USERS.format(schema=tenant.schema), URN, start, min(args.users, start + step - 1))
        await conn.execute(f"VACUUM ANALYZE {tenant.schema}.scim_user")
        print(f"{args.users:,} users, each with {URN}:costCode, in {time.perf_counter() - t0:.1f} s")
        cache = RegistryCache(ttl=3600)
        ctx = ScimContext(pool=db.pool, tenant=tenant, base_url="http://127.0.0.1/scim/v2/custom", schemas=cache)
        await _lookups(ctx, cache, args.users, 2)  # warm-up
        print(
            "  "
            + _line("undeclared (lenient, no index)", await _lookups(ctx, cache, args.users, args.undeclared_lookups))
        )
        d = attributes.declaration("User", URN, "costCode", "string")
        t0 = time.perf_counter()
        async with scoped(conn, tenant) as scope:
            await attributes.declare(scope, d)
        print(f"  declared string costCode (check of every value + index build) in {time.perf_counter() - t0:.1f} s")
        cache.forget(tenant.id)
        await conn.execute(f"ANALYZE {tenant.schema}.scim_user")
        await _lookups(ctx, cache, args.users, 5)  # warm-up
        print("  " + _line("declared (its index)", await _lookups(ctx, cache, args.users, args.lookups)))
    finally:
        await db.close()
        await conn.close()
        await drop_scratch(url)


if __name__ == "__main__":
    asyncio.run(main())
