"""What the activity log's b-trees cost (issue #13): the drain of realistic events into a big log with all of
its indexes, and with some of them dropped inside a transaction that is rolled back (nothing changes).

Runs against the scratch database of `ops/bench_activity.py` (its tenant "big"; fill it first with
`python -m ops.bench_activity --rows 1000000 --keep`). Alternates the variants; prints events/s and WAL bytes
per event for each.

    python -m ops.bench_activity_indexes [--database-url ...] [--events 20000] [--reps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg

from scimhub.audit.drain import _DRAIN, BATCH
from scimhub.tenancy.db import fetch_one

_FILL = """INSERT INTO audit_outbox (event)
SELECT jsonb_build_object('event_id', gen_random_uuid(), 'received_at', clock_timestamp(), 'duration_ms', 2.5,
       'request_id', md5(random()::text), 'client_ip', '10.0.0.1', 'user_agent', 'Azure AD SCIM', 'method', 'PATCH',
       'path', '/scim/v2/big/Users/' || gen_random_uuid(),
       'operation', (ARRAY['Lookup', 'Create user', 'Update user', 'Get user', 'Add members'])[1 + g % 5],
       'resource_type', 'User', 'resource_id', gen_random_uuid()::text,
       'target', 'user' || g || '-' || md5(random()::text) || '@corp.test',
       'status', CASE WHEN g % 50 = 0 THEN 400 ELSE 200 END,
       'outcome', CASE WHEN g % 50 = 0 THEN 'failure' ELSE 'success' END,
       'notify', g % 50 = 0, 'changed', jsonb_build_array('displayName'))
FROM generate_series(1, $1) AS g"""
_SECONDARY = [
    "activity_log_received",
    "activity_log_outcome",
    "activity_log_target",
    "activity_log_resource",
    "activity_log_notify",
    "activity_log_operation",
    "activity_log_request",
]
VARIANTS: dict[str, list[str]] = {
    "all 8 b-trees": [],
    "without operation": ["activity_log_operation"],
    "without target, resource, request": ["activity_log_target", "activity_log_resource", "activity_log_request"],
    "primary key only": _SECONDARY,
}


async def _run(conn: asyncpg.Connection, drop: list[str], events: int) -> tuple[float, float]:
    tr = conn.transaction()
    await tr.start()
    try:
        for index in drop:
            await conn.execute(f"DROP INDEX {index}")
        await conn.execute(_FILL, events)
        wal_start = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
        started = time.perf_counter()
        while (await fetch_one(conn, _DRAIN, BATCH))["moved"]:
            pass
        elapsed = time.perf_counter() - started
        wal = await conn.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)", wal_start)
    finally:
        await tr.rollback()
    return events / elapsed, float(wal) / events


async def main(database_url: str, events: int, reps: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        schema = await conn.fetchval("SELECT 't_' || id FROM public.tenant WHERE slug = 'big'")
        if schema is None:
            raise SystemExit("no tenant 'big': run python -m ops.bench_activity --keep first")
        await conn.execute(f"SET search_path = {schema}")
        entries = await conn.fetchval("SELECT count(*) FROM activity_log")
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
        for rep in range(reps):
            order = list(VARIANTS) if rep % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                results[name].append(await _run(conn, VARIANTS[name], events))
    finally:
        await conn.close()
    base = statistics.median(rate for rate, _ in results["all 8 b-trees"])
    print(f"drain of {events:,} events into a log of {entries:,} entries, {reps} alternated run(s) each:")
    for name, runs in results.items():
        rate = statistics.median(r for r, _ in runs)
        wal = statistics.median(w for _, w in runs)
        print(
            f"  {name:36} {rate:8,.0f} events/s ({1e6 / rate:5.0f} us per event, x{rate / base:.2f}), "
            f"WAL {wal:5.0f} B/event"
        )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_activity_bench")
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    asyncio.run(main(args.database_url, args.events, args.reps))
