"""The activity log at 10 million entries in one tenant: how long the hub's queries take.

Fills one tenant of a scratch database with N synthetic entries (default 10,000,000 over 90 days; 2% failures,
3% conflicts), refreshes the hourly rollup, then times each query the hub and the admin API run (median of 5).
Usage: python ops/bench_activity.py [--rows 10000000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import time

from scimhub.audit.activity_filter import ActivityFilter
from scimhub.audit.queries import activity_histogram_rollup, get_entry, list_activity
from scimhub.audit.vocabulary import PROBLEMS, Operation, Outcome
from scimhub.settings import default_app_database_url
from scimhub.tenancy import tenants
from scimhub.tenancy.db import AppDatabase, admin_connect, fetch_one
from scimhub.tenancy.migrate import migrate
from scimhub.tenancy.transaction import tenant_transaction

FILL = """
INSERT INTO {s}.activity_log (event_id, received_at, logged_at, duration_ms, request_id, method, path, operation,
    resource_type, resource_id, target, status, outcome, error_type, error_detail, notify)
SELECT gen_random_uuid(), now() - (g::float8 * 90 * 86400 / {n}) * interval '1 second', now(), 3.5, 'bench-' || g,
       CASE WHEN g % 4 = 0 THEN 'POST' ELSE 'GET' END, '/scim/v2/x/Users',
       (ARRAY['Lookup','Create user','Update user','Get user','Add members'])[1 + g % 5], 'User',
       md5(g::text), 'user' || g || '@corp.test',
       CASE WHEN g % 50 = 0 THEN 400 WHEN g % 33 = 0 THEN 409 ELSE 200 END,
       CASE WHEN g % 50 = 0 THEN 'failure' WHEN g % 33 = 0 THEN 'conflict' ELSE 'success' END,
       CASE WHEN g % 50 = 0 THEN 'invalidValue' END, CASE WHEN g % 50 = 0 THEN 'active must be true or false' END,
       g % 50 = 0
FROM generate_series({lo}, {hi}) AS g
"""


async def timed(fn, reps: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_activity_bench")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    url = args.database_url
    await migrate(url, app_database_url=default_app_database_url(url), progress=lambda _l: None)
    conn = await admin_connect(url)
    if not await conn.fetchval("SELECT 1 FROM public.tenant WHERE slug = 'big'"):
        await tenants.create_tenant(conn, "big", public_url="http://127.0.0.1")
    t = await tenants.get_tenant(conn, "big")
    have = await conn.fetchval(f"SELECT count(*) FROM {t.schema}.activity_log")
    t0 = time.perf_counter()
    step = 1_000_000
    for lo in range(have + 1, args.rows + 1, step):
        hi = min(args.rows, lo + step - 1)
        await conn.execute(FILL.format(s=t.schema, n=args.rows, lo=lo, hi=hi))
        print(f"  filled {hi:,} rows ({time.perf_counter() - t0:.0f}s)", flush=True)
    if have < args.rows:
        await conn.execute(f"TRUNCATE {t.schema}.activity_hourly")
        await conn.execute(
            f"INSERT INTO {t.schema}.activity_hourly SELECT date_trunc('hour', received_at), outcome, "
            f"sum(repeat) FROM {t.schema}.activity_log GROUP BY 1, 2"
        )
        await conn.execute(f"ANALYZE {t.schema}.activity_log")
    total = await conn.fetchval(f"SELECT count(*) FROM {t.schema}.activity_log")
    sample = await fetch_one(
        conn, f"SELECT event_id, target, resource_id FROM {t.schema}.activity_log WHERE request_id = 'bench-4242'"
    )
    await conn.close()
    db = await AppDatabase.open(default_app_database_url(url), size=2)
    now = dt.datetime.now(dt.UTC)
    queries = {
        "newest page (50)": ActivityFilter(),
        "failures only": ActivityFilter(outcome=Outcome.FAILURE),
        "all but success, last 24 h": ActivityFilter(outcome=PROBLEMS, since=now - dt.timedelta(days=1)),
        "operation = Add members": ActivityFilter(operation=Operation.ADD_MEMBERS),
        "text: userName prefix": ActivityFilter(text=sample["target"]),
        "text: resource id": ActivityFilter(text=sample["resource_id"]),
        "a week, 30 days ago": ActivityFilter(since=now - dt.timedelta(days=37), until=now - dt.timedelta(days=30)),
    }
    print(f"activity log of one tenant: {total:,} entries")
    async with tenant_transaction(db.pool, t) as c:
        for name, f in queries.items():
            ms = await timed(lambda f=f: list_activity(c, f, limit=50))
            print(f"  {name:<32} {ms:8.1f} ms")
        _, cursor = await list_activity(c, ActivityFilter(), limit=50)
        for _ in range(99):
            _, cursor = await list_activity(c, ActivityFilter(), limit=50, after=cursor)
        ms = await timed(lambda: list_activity(c, ActivityFilter(), limit=50, after=cursor))
        print(f"  {'page 101 (keyset)':<32} {ms:8.1f} ms")
        ms = await timed(lambda: get_entry(c, sample["event_id"]))
        print(f"  {'detail view':<32} {ms:8.1f} ms")
        for days in (1, 7, 90):
            ms = await timed(lambda days=days: activity_histogram_rollup(c, now - dt.timedelta(days=days), now, None))
            print(f"  {f'chart, {days} day(s)':<32} {ms:8.1f} ms")
        ms = await timed(
            lambda: c.fetchrow(
                """SELECT (SELECT max(received_at) FROM activity_log WHERE outcome = 'success'),
                      (SELECT max(received_at) FROM activity_log WHERE outcome = 'failure'),
                      (SELECT coalesce(sum(repeat), 0) FROM activity_log WHERE outcome <> 'success' AND notify
                        AND received_at > now() - interval '24 hours')"""
            )
        )
        print(f"  {'overview figures':<32} {ms:8.1f} ms")
    await db.close()
    if not args.keep:
        from ops.scale_tenants import drop_scratch

        await drop_scratch(url)


if __name__ == "__main__":
    asyncio.run(main())
