"""The beat's sweeps at many tenants (#16): what one sweep task costs, before and after the split.

In a scratch database (default scimhub_scale_sweeps; dropped at the end unless --keep) this creates N tenants
(`ops.scale_tenants.create_all`), gives every one a webhook endpoint, makes --due of them due (the feed ahead
of the cursor) and --backlog of them an outbox row, then times, on a worker's pool (2 connections):
- audit full sweep, before: one task drained and positioned every tenant (`audit_drain.sweep(full=True)` and
  `sequencer.sequence_tenants(None)`, what `audit.sweep(full=True)` ran);
- after: the sweep task (`audit_drain.queue_sweep`: keyset pages, one publish each) and each page's
  `audit.drain(full_sweep=True)` task (probe each tenant, drain and position those with rows, check which
  tenants' webhooks are due; the longest and the sum);
- webhook sweep, before: one `webhook.deliver` per tenant with endpoints (each run timed on a sample of idle
  tenants, times the count); after: `due.due_tenants` (one read of `public.webhook_due`) and the tasks it
  queues, and the full sweep's once-a-minute check of every tenant with endpoints (`due.check_tenants`).
Usage: python -m ops.scale_sweeps [--tenants 2000] [--due 20] [--backlog 20] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from ops.scale_tenants import create_all, drop_scratch
from scimhub.audit import drain as audit_drain
from scimhub.events import delivery, due, sequencer
from scimhub.settings import default_app_database_url, load_settings
from scimhub.tenancy import directory
from scimhub.tenancy.db import AppDatabase, admin_connect
from scimhub.tenancy.migrate import migrate


async def prepare(url: str, due: int, backlog: int) -> None:
    """An endpoint for every tenant; the feed ahead of the first `due`; an outbox row in the last `backlog`."""
    conn = await admin_connect(url)
    try:
        ids = [int(r["id"]) for r in await conn.fetch("SELECT id FROM public.tenant ORDER BY id")]
        for n, tid in enumerate(ids):
            schema = f"t_{tid}"
            await conn.execute(
                f"""INSERT INTO {schema}.webhook_endpoint (id, url, secret_encrypted, cursor)
                    SELECT gen_random_uuid(), 'http://127.0.0.1:9/hook', 'x', 0
                    WHERE NOT EXISTS (SELECT 1 FROM {schema}.webhook_endpoint)"""
            )
            await conn.execute(f"UPDATE {schema}.event_feed SET last_position = $1", 1 if n < due else 0)
            if n >= len(ids) - backlog:
                await conn.execute(
                    f"""INSERT INTO {schema}.audit_outbox (event) VALUES (jsonb_build_object('event_id',
                        gen_random_uuid(), 'received_at', now(), 'duration_ms', 1, 'method', 'GET', 'path', '/x',
                        'operation', 'Lookup', 'status', 200, 'outcome', 'success'))"""
                )
        await conn.execute("SELECT pg_stat_force_next_flush()")
    finally:
        await conn.close()
    await asyncio.sleep(2)  # the statistics the hints read are flushed about once a second


async def measure(app_url: str, sample: int, *, audit: bool = True, before: bool = True) -> dict[str, float | int]:
    settings = load_settings()
    db = await AppDatabase.open(app_url, size=2, max_queries=settings.db_connection_max_queries)
    pool, install = db.pool, db.install_id
    out: dict[str, float | int] = {}
    try:
        if audit:
            # After first, on cold connections; before second, on warm ones (the comparison favours before).
            pages: list[list[int]] = []
            t0 = time.perf_counter()
            out["audit_full_after_queued"] = await audit_drain.queue_sweep(
                pool, install, full=True, enqueue=pages.append
            )
            out["audit_full_after_sweep_task_s"] = time.perf_counter() - t0
            out["audit_full_after_pages"] = len(pages)
            longest = total = 0.0
            for page in pages:  # what `audit.drain(full_sweep=True)` runs (workers/audit.py)
                t0 = time.perf_counter()
                await audit_drain.drain_tenants(pool, install, await audit_drain.with_outbox_rows(pool, install, page))
                await sequencer.sequence_tenants(pool, install, await sequencer.with_pending_rows(pool, install, page))
                await due.check_tenants(pool, install, page)
                took = time.perf_counter() - t0
                longest, total = max(longest, took), total + took
            out["audit_full_after_longest_page_task_s"] = longest
            out["audit_full_after_all_page_tasks_s"] = total

        if audit and before:
            t0 = time.perf_counter()
            await audit_drain.sweep(pool, install, full=True)
            await sequencer.sequence_tenants(pool, install, None)
            out["audit_full_before_s"] = time.perf_counter() - t0

        with_endpoints = await delivery.tenants_with_endpoints(pool)
        out["webhook_before_tasks_per_sweep"] = len(with_endpoints)
        # After: the full sweep's pages check the tenants with endpoints (the safety net, once a minute), and
        # the sweep reads `public.webhook_due` alone.
        t0 = time.perf_counter()
        for start in range(0, len(with_endpoints), audit_drain.SWEEP_PAGE):
            await due.check_tenants(pool, install, with_endpoints[start : start + audit_drain.SWEEP_PAGE])
        out["webhook_after_full_sweep_check_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        due_ids = set(await due.due_tenants(pool))
        out["webhook_after_sweep_s"] = time.perf_counter() - t0
        out["webhook_after_tasks_per_sweep"] = len(due_ids)
        async with pool.acquire() as conn:
            found = await directory.tenants_by_id(conn, install, with_endpoints)
        idle = [t for t in found if t.id not in due_ids][:sample]
        t0 = time.perf_counter()
        for t in idle:
            await delivery.deliver_tenant(pool, t, settings)
        per_task = (time.perf_counter() - t0) / max(len(idle), 1)
        out["webhook_before_idle_deliver_task_ms"] = per_task * 1000
        out["webhook_before_task_seconds_per_sweep"] = per_task * len(with_endpoints)
    finally:
        await db.close()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=2000)
    ap.add_argument("--due", type=int, default=20, help="tenants whose endpoint is behind the feed")
    ap.add_argument("--backlog", type=int, default=20, help="tenants with an outbox row")
    ap.add_argument("--sample", type=int, default=200, help="idle tenants whose old per-tenant task is timed")
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_scale_sweeps")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-audit", action="store_true", help="measure the webhook sweep only")
    ap.add_argument("--skip-before", action="store_true", help="do not time the old full sweep (minutes)")
    args = ap.parse_args()
    url = args.database_url
    app_url = default_app_database_url(url)
    await migrate(url, app_database_url=app_url, progress=lambda _l: None)
    made, secs = await create_all(url, args.tenants, args.workers, 10)
    print(f"created {made} tenants in {secs:.1f}s")
    await prepare(url, args.due, args.backlog)
    out = await measure(app_url, args.sample, audit=not args.skip_audit, before=not args.skip_before)
    for k, v in out.items():
        print(f"  {k:<45} {v:.3f}" if isinstance(v, float) else f"  {k:<45} {v}")
    print("RESULTS " + json.dumps({"tenants": args.tenants, "due": args.due, "backlog": args.backlog, **out}))
    if not args.keep:
        await drop_scratch(url)


if __name__ == "__main__":
    asyncio.run(main())
