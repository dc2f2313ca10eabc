"""A big tenant (#16 item 4): 1,000,000 users and a group of 100,000 members, then what an IdP and the hub do.

In a scratch database (default scimhub_scale_big; dropped at the end unless --keep) one tenant `big` is seeded
straight into its schema (INSERT ... SELECT generate_series, as the store writes rows: columns plus the JSONB
document), a group gets --members members, and one web process answers, over HTTP, one request at a time:
userName eq, externalId eq, emails eq (a user in the middle), paging (startIndex 1 and deep, count=100),
member add and remove in the big group (PATCH), and the hub's activity page query. Prints p50/p99 per case.
Usage: python -m ops.scale_big_tenant [--users 1000000] [--members 100000] [--reps 30] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from ops.processes import start_web, stop_process
from ops.scale_tenants import drop_scratch
from scimhub.settings import default_app_database_url
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connect
from scimhub.tenancy.migrate import migrate

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
_SEED_USERS = """INSERT INTO {schema}.scim_user
    (id, user_name, external_id, display_name, active, version, created, last_modified, doc)
SELECT id, un, ext, dn, true, 1, ts, ts,
       jsonb_build_object('userName', un, 'externalId', ext, 'displayName', dn, 'active', true,
         'name', jsonb_build_object('givenName', 'Given' || g, 'familyName', 'Family' || g),
         'emails', jsonb_build_array(jsonb_build_object('value', un, 'type', 'work', 'primary', true)))
FROM (SELECT g, gen_random_uuid() AS id, 'user' || g || '@big.example' AS un, 'ext-' || g AS ext,
             'User ' || g AS dn, timestamptz '2026-01-01' + g * interval '1 second' AS ts
      FROM generate_series($1::bigint, $2::bigint) g) s"""


def pct(times: list[float], q: float) -> float:
    s = sorted(times)
    return s[min(len(s) - 1, int(len(s) * q))]


async def timed(
    reps: int, call: Callable[[int], Awaitable[httpx.Response]], expect: tuple[int, ...] = (200,)
) -> list[float]:
    out = []
    for i in range(reps):
        t0 = time.perf_counter()
        r = await call(i)
        out.append((time.perf_counter() - t0) * 1000)
        if r.status_code not in expect:
            raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:300]}")
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_scale_big")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    url = args.database_url
    app_url = default_app_database_url(url)
    await migrate(url, app_database_url=app_url, progress=lambda _l: None)
    conn = await admin_connect(url)
    token = None
    if not await conn.fetchval("SELECT 1 FROM public.tenant WHERE slug = 'big'"):
        token = (await tenants.create_tenant(conn, "big", public_url="http://127.0.0.1")).token
    tenant = await tenants.get_tenant(conn, "big")
    schema = tenant.schema
    have = int(await conn.fetchval(f"SELECT count(*) FROM {schema}.scim_user"))
    t0 = time.perf_counter()
    step = 100_000
    for start in range(have + 1, args.users + 1, step):
        await conn.execute(_SEED_USERS.format(schema=schema), start, min(start + step - 1, args.users))
        print(f"  seeded users {min(start + step - 1, args.users)}/{args.users}", flush=True)
    gid = await conn.fetchval(f"SELECT id FROM {schema}.scim_group WHERE display_name = 'big group'")
    if gid is None:
        gid = uuid.uuid4()
        await conn.execute(
            f"""INSERT INTO {schema}.scim_group (id, display_name, version, created, last_modified, doc)
                VALUES ($1, 'big group', 1, now(), now(), '{{"displayName": "big group"}}'::jsonb)""",
            gid,
        )
        await conn.execute(
            f"""INSERT INTO {schema}.scim_group_member (group_id, member_id)
                SELECT $1, id FROM {schema}.scim_user ORDER BY created LIMIT $2""",
            gid,
            args.members,
        )
    for table in ("scim_user", "scim_group_member"):  # as autovacuum leaves them: statistics, visibility map
        await conn.execute(f"VACUUM (ANALYZE) {schema}.{table}")
    seeded = time.perf_counter() - t0
    members = await conn.fetchval(f"SELECT count(*) FROM {schema}.scim_group_member WHERE group_id = $1", gid)
    size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    if token is None:
        token = (await tenants.rotate_token(conn, "big", public_url="http://127.0.0.1")).token
    outsiders = [
        r["id"]
        for r in await conn.fetch(
            f"""SELECT id FROM {schema}.scim_user u WHERE NOT EXISTS (SELECT 1 FROM {schema}.scim_group_member m
                WHERE m.group_id = $1 AND m.member_id = u.id) ORDER BY created DESC LIMIT $2""",
            gid,
            args.reps,
        )
    ]
    await conn.close()
    print(
        f"tenant big: {args.users} users, a group of {members} members "
        f"({seeded:.0f}s to seed what was missing; database {size})"
    )

    run_dir = Path(tempfile.mkdtemp(prefix="scale-big-"))
    web = start_web(
        url,
        run_dir / "web.log",
        {"SCIMHUB_APP_DATABASE_URL": app_url, "SCIMHUB_REDIS_URL": args.redis_url, "SCIMHUB_RATE_LIMIT": "1000000"},
    )
    results: dict[str, list[float]] = {}
    try:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        async with httpx.AsyncClient(base_url=f"{web.url}/scim/v2/big", headers=headers, timeout=120) as c:

            def flt(expr: str) -> str:
                return "/Users?" + urllib.parse.urlencode({"filter": expr})

            mid = args.users // 2
            cases: dict[str, Callable[[int], Awaitable[httpx.Response]]] = {
                "userName eq": lambda i: c.get(flt(f'userName eq "user{mid + i}@big.example"')),
                "externalId eq": lambda i: c.get(flt(f'externalId eq "ext-{mid + i}"')),
                "emails eq": lambda i: c.get(flt(f'emails eq "user{mid + i}@big.example"')),
                "emails.value eq": lambda i: c.get(flt(f'emails.value eq "user{mid + i}@big.example"')),
                "page startIndex=1 count=100": lambda i: c.get("/Users?startIndex=1&count=100"),
                "page startIndex=500001 count=100": lambda i: c.get(f"/Users?startIndex={mid + 1}&count=100"),
                "page startIndex=999901 count=100": lambda i: c.get(f"/Users?startIndex={args.users - 99}&count=100"),
                "group get (excludedAttributes=members)": lambda i: c.get(f"/Groups/{gid}?excludedAttributes=members"),
            }
            for name, call in cases.items():
                await call(0)  # warm the plan and the cache once
                results[name] = await timed(args.reps, call)

            def patch(op: str, uid: Any) -> Callable[[int], Awaitable[httpx.Response]]:
                body: dict[str, Any] = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"]}
                if op == "add":
                    body["Operations"] = [{"op": "add", "path": "members", "value": [{"value": str(uid)}]}]
                else:
                    body["Operations"] = [{"op": "remove", "path": f'members[value eq "{uid}"]'}]
                return lambda i: c.patch(f"/Groups/{gid}", json=body)

            adds, removes = [], []
            for uid in outsiders:
                adds += await timed(1, patch("add", uid), expect=(200, 204))
                removes += await timed(1, patch("remove", uid), expect=(200, 204))
            results["member add (PATCH, 100k group)"] = adds
            results["member remove (PATCH, 100k group)"] = removes
    finally:
        stop_process(web.process)

    conn = await admin_connect(url)
    try:
        from scimhub.audit.activity_filter import ActivityFilter
        from scimhub.audit.queries import list_activity
        from scimhub.tenancy.transaction import scoped

        entries = await conn.fetchval(f"SELECT count(*) FROM {schema}.activity_log")
        hub: list[float] = []
        async with scoped(conn, tenant):
            for _ in range(args.reps):
                t0 = time.perf_counter()
                await list_activity(conn, ActivityFilter(), limit=50)
                hub.append((time.perf_counter() - t0) * 1000)
        results[f"hub activity page (50 of {entries} entries)"] = hub
    finally:
        await conn.close()

    print(f"one request at a time through one web process, {args.reps} each (ms):")
    for name, times in results.items():
        print(f"  {name:<44} p50 {statistics.median(times):7.1f}  p99 {pct(times, 0.99):7.1f}")
    if not args.keep:
        await drop_scratch(url)
        print("dropped the scratch database and its roles (--keep keeps them)")


if __name__ == "__main__":
    asyncio.run(main())
