"""`make bench`, part 2: what the activity pipeline does under the Entra mix at full speed.

Against the bench database and tenants that ops/bench.sh prepared, with the worker and beat running:
1. the cost of the outbox: the same load against two web processes in one run, one with the activity log and
   one without (SCIMHUB_ACTIVITY_LOG=0), alternating, and the rps / p99 ratios;
2. the outbox backlog (sampled every 0.25 s) and the lag from request to activity entry (p50/p99) during the
   load with the activity log on;
3. the drain rate (the drain code the worker runs, on 50,000 queued events) against the API's peak write rate.
Prints the figures and the goals of issue #4 beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from ops.processes import start_web, stop_process
from scimhub.audit import drain as audit_drain
from scimhub.settings import load_settings
from scimhub.tenancy import directory
from scimhub.tenancy.db import AppDatabase, admin_connect, read_install_id

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"user.create", "user.patch", "group.create", "group.patch_members"}


def load(
    loader: list[str], tenants: Path, url_from: str, url_to: str, conc: int, duration: float, out: Path
) -> dict[str, Any]:
    text = tenants.read_text().replace(url_from, url_to)
    tfile = out.with_suffix(".tenants")
    tfile.write_text(text)
    subprocess.run(
        [
            *loader,
            "--tenants",
            str(tfile),
            "-c",
            str(conc),
            "--duration",
            str(duration),
            "--warmup",
            "1",
            "--json-out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def run_schemas(database: str, tenants: Path) -> list[str]:
    """The schemas of the tenants the load drives (the last path segment of each line's SCIM base URL). Only
    those are sampled: a bench database keeps the tenants of earlier runs, and counting every tenant's outbox
    four times a second, one statement each, was work of its own on the "with" side of the comparison."""
    text = await asyncio.to_thread(tenants.read_text)
    slugs = [line.rstrip("/").rsplit("/", 1)[-1] for line in text.split() if "@http" in line]
    conn = await admin_connect(database)
    try:
        install_id = await read_install_id(conn)
        return [t.schema for t in await directory.tenants_by_slug(conn, install_id, slugs)]
    finally:
        await conn.close()


async def sample_backlog(database: str, schemas: list[str], stop: asyncio.Event, samples: list[int]) -> None:
    conn = await admin_connect(database)
    union = " UNION ALL ".join(f'SELECT count(*) AS n FROM "{schema}".audit_outbox' for schema in schemas)
    try:
        while not stop.is_set():
            samples.append(int(await conn.fetchval(f"SELECT coalesce(sum(n), 0) FROM ({union}) AS c")))
            await asyncio.sleep(0.25)
    finally:
        await conn.close()


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--loader-python", required=True)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    run_dir = Path(args.run_dir)
    settings = load_settings()
    database = settings.database_url
    tenants = run_dir / "tenants.txt"
    base = settings.public_url
    loader = [
        args.loader_python,
        "/".join([os.environ.get("SCIMHUB_SHARED", str(ROOT.parent / "shared")), "bench", "scim_load.py"]),
    ]

    schemas = await run_schemas(database, tenants)
    same = {"SCIMHUB_REDIS_URL": settings.redis_url}  # the broker the bench worker listens on
    on = start_web(database, run_dir / "pipeline-on.log", same)
    off = start_web(database, run_dir / "pipeline-off.log", {**same, "SCIMHUB_ACTIVITY_LOG": "0"})
    ratios_rps, ratios_p99, write_rates = [], [], []
    backlog: list[int] = []
    started_at = None
    try:
        for rep in range(args.reps):
            order = [("on", on.url), ("off", off.url)] if rep % 2 == 0 else [("off", off.url), ("on", on.url)]
            result = {}
            for name, url in order:
                stop = asyncio.Event()
                sampler = None
                if name == "on":
                    sampler = asyncio.create_task(sample_backlog(database, schemas, stop, backlog))
                if name == "on" and started_at is None:
                    conn = await admin_connect(database)
                    started_at = await conn.fetchval("SELECT now()")
                    await conn.close()
                out = run_dir / f"pipeline-{name}-{rep}.json"
                result[name] = await asyncio.to_thread(
                    load, loader, tenants, base, url, args.concurrency, args.duration, out
                )
                stop.set()
                if sampler:
                    await sampler
            s_on, s_off = result["on"]["summary"], result["off"]["summary"]
            ratios_rps.append(s_on["rps"] / s_off["rps"])
            ratios_p99.append(s_on["p99_ms"] / s_off["p99_ms"])
            writes = sum(v["count"] for k, v in result["on"]["ops"].items() if k in WRITES)
            write_rates.append(writes / s_on["elapsed_s"])
            print(
                f"pipeline rep {rep + 1}: with activity log {s_on['rps']:.0f} rps p99 {s_on['p99_ms']:.1f} ms; "
                f"without {s_off['rps']:.0f} rps p99 {s_off['p99_ms']:.1f} ms",
                flush=True,
            )
    finally:
        stop_process(on.process)
        stop_process(off.process)

    # Lag from request to activity entry, for this run's entries (the worker drains as it would in production).
    await asyncio.sleep(5)
    conn = await admin_connect(database)
    lags: list[float] = []
    for r in await conn.fetch("SELECT schemaname FROM pg_tables WHERE tablename = 'activity_log'"):
        rows = await conn.fetch(
            f'SELECT extract(epoch FROM logged_at - received_at) AS lag FROM "{r["schemaname"]}".activity_log '
            "WHERE received_at >= $1 AND request_id IS DISTINCT FROM 'drain-bench'",
            started_at,
        )
        lags.extend(float(x["lag"]) for x in rows)
    await conn.close()

    # Drain rate: the worker's code on 50,000 queued events of one tenant.
    db = await AppDatabase.open(settings.app_database_url, size=2, pool_mode=settings.app_database_pool_mode)
    conn = await admin_connect(database)
    tenant = (await directory.tenants_by_id(conn, db.install_id, None))[0]
    await conn.execute(
        f"""INSERT INTO "{tenant.schema}".audit_outbox (event)
            SELECT jsonb_build_object('event_id', gen_random_uuid(), 'received_at', now(), 'duration_ms', 1,
                   'request_id', 'drain-bench', 'method', 'GET', 'path', '/Users', 'operation', 'Lookup',
                   'status', 200, 'outcome', 'success') FROM generate_series(1, 50000)"""
    )
    await conn.close()
    t0 = time.perf_counter()
    moved = (await audit_drain.drain_tenant(db.pool, tenant, max_batches=1000)).moved
    drain_rate = moved / (time.perf_counter() - t0)
    await db.close()

    peak_writes = max(write_rates)
    print()
    print(f"activity pipeline (issue #4), Entra mix at c={args.concurrency}, {args.reps} rep(s):")
    print(
        f"  outbox cost:   rps with/without activity log x{statistics.median(ratios_rps):.2f} "
        f"(cost {100 * (1 - statistics.median(ratios_rps)):.0f}%, goal <= 10%), "
        f"p99 x{statistics.median(ratios_p99):.2f}"
    )
    print(
        f"  lag request -> activity entry: p50 {pct(lags, 50):.2f} s, p99 {pct(lags, 99):.2f} s over {len(lags)} "
        f"entries (goal p99 <= 2 s)"
    )
    print(
        f"  outbox backlog during load: median {statistics.median(backlog) if backlog else 0:.0f}, "
        f"max {max(backlog) if backlog else 0} events"
    )
    print(
        f"  drain rate {drain_rate:,.0f} events/s vs API peak write rate {peak_writes:,.0f} writes/s: "
        f"ratio x{drain_rate / peak_writes:.1f} (goal >= 3)"
    )


if __name__ == "__main__":
    asyncio.run(main())
