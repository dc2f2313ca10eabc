"""10,000 tenants (#16 item 3): create them, migrate them, load 1,000 of them, and weigh PostgreSQL's memory.

In a scratch database (default scimhub_scale_10k; dropped at the end unless --keep) this
1. creates N tenants `scale-00000`... through `tenancy.tenants.create_tenant` (the CLI's code path, role,
   schema, tables and a token each), on --workers connections in parallel, --batch tenants per transaction;
   tenants already there are kept (rerun with --keep to go on);
2. times `scimhub migrate` with nothing pending, then `scimhub migrate --with-tenant-migration` bringing a
   throwaway tenant migration (a probe table, never committed into migrations/) to every tenant;
3. starts one web process and runs the Entra mix (`../shared/bench/scim_load.py`) spread over the first
   --entra-tenants tenants: p50/p99 per operation and overall;
4. touches every tenant through that web process (one filter GET each, `scim_load.py --probe`) and reads
   each pooled backend's memory (/proc/<pid>/status RssAnon, and smaps_rollup Private); then walks every
   tenant schema on one app-login connection and reads its own `pg_backend_memory_contexts` (the catalog
   caches, CacheMemoryContext) before and after, and after a recycle (a new connection).
Usage: python -m ops.scale_tenants [--tenants 10000] [--database-url ...] [--workers 4] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.processes import start_web, stop_process
from scimhub.settings import default_app_database_url
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connect, database_name, fetch_one, with_database
from scimhub.tenancy.migrate import load_migrations, migrate
from scimhub.tenancy.roles import login_role
from scimhub.tenancy.tokens import new_token, token_digest, token_hint

ROOT = Path(__file__).resolve().parents[1]
# ../shared next to a checkout, or next to the worktrees' folder (/work/wt/<name> -> /work/shared).
SHARED = Path(
    os.environ.get(
        "SCIMHUB_SHARED",
        next((str(p) for p in (ROOT.parent / "shared", ROOT.parent.parent / "shared") if p.is_dir()), "../shared"),
    )
)
LOADER_PYTHON = os.environ.get(
    "SCIMHUB_BENCH_PYTHON",
    str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scimhub-bench/venv/bin/python"),
)


def slug(i: int) -> str:
    return f"scale-{i:05d}"


async def create_all(url: str, n: int, workers: int, batch: int) -> tuple[int, float]:
    conn = await admin_connect(url)
    have = {r["slug"] for r in await conn.fetch("SELECT slug FROM public.tenant WHERE slug LIKE 'scale-%'")}
    await conn.close()
    todo = [i for i in range(n) if slug(i) not in have]
    migrations = load_migrations("migrations.tenant")
    queue: asyncio.Queue[list[int]] = asyncio.Queue()
    for k in range(0, len(todo), batch):
        queue.put_nowait(todo[k : k + batch])
    done = 0
    started = time.perf_counter()

    async def worker() -> None:
        nonlocal done
        c = await admin_connect(url)
        try:
            while not queue.empty():
                chunk = queue.get_nowait()
                async with c.transaction():
                    for i in chunk:
                        await tenants.create_tenant(c, slug(i), public_url="http://127.0.0.1", migrations=migrations)
                        # create_tenant ends as the tenant's role (transaction-local, so still set in a batch)
                        await c.execute("RESET ROLE; RESET search_path")
                done += len(chunk)
                if done % 1000 < batch:
                    print(f"  created {done}/{len(todo)} in {time.perf_counter() - started:.0f}s", flush=True)
        finally:
            await c.close()

    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(todo), time.perf_counter() - started


def scimhub(url: str, *args: str) -> tuple[float, str]:
    env = {"SCIMHUB_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    out = subprocess.run(
        [str(Path(sys.executable).parent / "scimhub"), *args], capture_output=True, text=True, env=env, check=True
    )
    return time.perf_counter() - t0, out.stdout


async def issue_tokens(url: str, public: str, count: int | None) -> list[str]:
    """A fresh token for the first `count` scale tenants (all when None), in one statement; `token@tenant URL`."""
    conn = await admin_connect(url)
    try:
        rows = await conn.fetch("SELECT id, slug FROM public.tenant WHERE slug LIKE 'scale-%' ORDER BY slug")
        rows = rows[:count] if count is not None else rows
        tokens = [new_token() for _ in rows]
        await conn.executemany(
            "INSERT INTO public.tenant_token (tenant_id, digest, hint) VALUES ($1, $2, $3)",
            [(r["id"], token_digest(t), token_hint(t)) for r, t in zip(rows, tokens, strict=True)],
        )
    finally:
        await conn.close()
    return [f"{t}@{tenants.scim_url(public, r['slug'])}" for r, t in zip(rows, tokens, strict=True)]


def loader(tenant_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOADER_PYTHON, str(SHARED / "bench" / "scim_load.py"), "--tenants", str(tenant_file), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def status_kb(pid: int, field: str, file: str = "status") -> int:
    text = Path(f"/proc/{pid}/{file}").read_text()
    m = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) if m else -1


async def backend_memory(url: str, login: str) -> list[tuple[int, int, int]]:
    """(pid, RssAnon kB, Private kB) of every backend of the app login in this database."""
    conn = await admin_connect(url)
    try:
        pids = [
            r["pid"]
            for r in await conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = $1", login
            )
        ]
    finally:
        await conn.close()
    return [(pid, status_kb(pid, "RssAnon"), private_kb(pid)) for pid in pids]


def private_kb(pid: int) -> int:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(m) for m in re.findall(r"^Private_(?:Clean|Dirty):\s+(\d+) kB", rollup, re.MULTILINE))


_CONTEXTS = """SELECT sum(total_bytes) AS total,
                      sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' OR parent = 'CacheMemoryContext')
                        AS cache
               FROM pg_backend_memory_contexts"""


async def one_connection_walk(url: str) -> dict[str, float]:
    """Walk every tenant schema on one connection as a request would (its search path, a user filter, a group
    filter, the activity page's query); its own memory contexts before, after, and on a new connection."""
    owner = await admin_connect(url)
    ids = [r["id"] for r in await owner.fetch("SELECT id FROM public.tenant ORDER BY id")]
    await owner.close()
    conn = await admin_connect(url)  # pg_backend_memory_contexts needs pg_read_all_stats: the owner's login
    try:
        before = await fetch_one(conn, _CONTEXTS)
        t0 = time.perf_counter()
        for tid in ids:
            async with conn.transaction():
                await conn.execute("SELECT set_config('search_path', $1, true)", f"t_{tid}")
                await conn.fetch("SELECT id FROM scim_user WHERE lower(user_name) = lower($1)", "x@y.z")
                await conn.fetch("SELECT id FROM scim_group WHERE lower(display_name) = lower($1)", "g")
                await conn.fetch("SELECT event_id FROM activity_log ORDER BY received_at DESC, event_id DESC LIMIT 50")
        walked = time.perf_counter() - t0
        after = await fetch_one(conn, _CONTEXTS)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        rss_after = status_kb(pid, "RssAnon")
    finally:
        await conn.close()
    fresh = await admin_connect(url)
    try:
        recycled = await fetch_one(fresh, _CONTEXTS)
        rss_fresh = status_kb(await fresh.fetchval("SELECT pg_backend_pid()"), "RssAnon")
    finally:
        await fresh.close()
    mb = 1024 * 1024
    return {
        "tenants": len(ids),
        "walk_s": walked,
        "contexts_before_mb": before["total"] / mb,
        "contexts_after_mb": after["total"] / mb,
        "cache_after_mb": after["cache"] / mb,
        "rss_anon_after_mb": rss_after / 1024,
        "contexts_new_connection_mb": recycled["total"] / mb,
        "rss_anon_new_connection_mb": rss_fresh / 1024,
        "kb_per_tenant": (after["total"] - before["total"]) / 1024 / max(len(ids), 1),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_scale_10k")
    ap.add_argument("--redis-url", default=os.environ.get("SCIMHUB_REDIS_URL", "redis://127.0.0.1:6379/12"))
    ap.add_argument("--workers", type=int, default=4, help="parallel connections creating tenants")
    ap.add_argument("--batch", type=int, default=10, help="tenants per creating transaction")
    ap.add_argument("--entra-tenants", type=int, default=1000)
    ap.add_argument("--entra-users", type=int, default=3000, help="user flows of the Entra mix, over those tenants")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument(
        "--max-queries", type=int, default=None, help="SCIMHUB_DB_CONNECTION_MAX_QUERIES of the web process"
    )
    ap.add_argument("--skip", default="", help="comma-separated phases to skip: create,migrate,entra,touch,walk")
    ap.add_argument("--keep", action="store_true", help="keep the scratch database and its tenants")
    args = ap.parse_args()
    url, skip = args.database_url, set(args.skip.split(","))
    app_url = default_app_database_url(url)
    results: dict[str, object] = {"tenants": args.tenants}
    await migrate(url, app_database_url=app_url, progress=lambda _l: None)
    if "create" not in skip:
        made, secs = await create_all(url, args.tenants, args.workers, args.batch)
        results["create"] = {"created": made, "seconds": round(secs, 1), "per_second": round(made / max(secs, 1e-9), 1)}
        print(f"created {made} tenants in {secs:.1f}s ({made / max(secs, 1e-9):.1f}/s, {args.workers} connections)")

    if "migrate" not in skip:
        secs, out = scimhub(url, "migrate")
        results["migrate_nothing_pending_s"] = round(secs, 1)
        print(f"scimhub migrate, nothing pending: {secs:.1f}s; {out.strip().splitlines()[-1]}")
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / f"m9999_scale_probe_{int(time.time())}.sql"
            probe.write_text("CREATE TABLE scale_probe (id bigint PRIMARY KEY, at timestamptz DEFAULT now());\n")
            secs, out = scimhub(url, "migrate", "--with-tenant-migration", str(probe))
        lines = out.strip().splitlines()
        results["migrate_new_migration_s"] = round(secs, 1)
        print(f"scimhub migrate --with-tenant-migration (a probe table to every tenant): {secs:.1f}s; {lines[-1]}")
        print(f"  {sum(1 for line in lines if line.startswith('['))} progress lines, e.g. {lines[2]!r}")

    if "entra" not in skip or "touch" not in skip:
        run_dir = Path(tempfile.mkdtemp(prefix="scale-"))
        env = {"SCIMHUB_REDIS_URL": args.redis_url, "SCIMHUB_RATE_LIMIT": "1000000"}
        if args.max_queries is not None:
            env["SCIMHUB_DB_CONNECTION_MAX_QUERIES"] = str(args.max_queries)
        web = start_web(url, run_dir / "web.log", {"SCIMHUB_APP_DATABASE_URL": app_url, **env})
        try:
            if "entra" not in skip:
                tf = run_dir / "entra.txt"
                tf.write_text("\n".join(await issue_tokens(url, web.url, args.entra_tenants)) + "\n")
                tf.chmod(0o600)
                out_json = run_dir / "entra.json"
                r = loader(
                    tf,
                    "--users",
                    str(args.entra_users),
                    "--group-size",
                    "3",
                    "--member-batch",
                    "3",
                    "--concurrency",
                    str(args.concurrency),
                    "--max-time",
                    "900",
                    "--json-out",
                    str(out_json),
                )
                summary = next((line for line in r.stdout.splitlines() if line.startswith("SUMMARY")), r.stderr[-500:])
                print(f"Entra mix over {args.entra_tenants} tenants, {args.entra_users} user flows: {summary}")
                data = json.loads(out_json.read_text())
                results["entra"] = {
                    "summary": data["summary"],
                    "ops": {
                        k: {f: v[f] for f in ("count", "errors", "p50_ms", "p99_ms")} for k, v in data["ops"].items()
                    },
                }
                for op, v in data["ops"].items():
                    print(
                        f"  {op:<28} n={v['count']:<6} err={v['errors']:<3} "
                        f"p50 {v['p50_ms']:.1f} ms  p99 {v['p99_ms']:.1f} ms"
                    )
            if "touch" not in skip:
                tf = run_dir / "all.txt"
                tf.write_text("\n".join(await issue_tokens(url, web.url, None)) + "\n")
                tf.chmod(0o600)
                t0 = time.perf_counter()
                r = loader(tf, "--probe", "--wait", "10")
                bad = sum(1 for line in r.stdout.splitlines() if line.startswith("PROBE BAD"))
                touched = sum(1 for line in r.stdout.splitlines() if line.startswith("PROBE"))
                print(
                    f"touched {touched} tenants through the web process in {time.perf_counter() - t0:.0f}s ({bad} bad)"
                )
                mem = await backend_memory(url, login_role(app_url))
                results["web_backends"] = [{"pid": p, "rss_anon_kb": a, "private_kb": pr} for p, a, pr in mem]
                for p, a, pr in mem:
                    print(f"  web pool backend {p}: RssAnon {a / 1024:.1f} MB, private {pr / 1024:.1f} MB")
        finally:
            stop_process(web.process)
    if "walk" not in skip:
        walk = await one_connection_walk(url)
        results["one_connection"] = walk
        print(
            f"one connection over {walk['tenants']} tenant schemas ({walk['walk_s']:.0f}s): memory contexts "
            f"{walk['contexts_before_mb']:.1f} -> {walk['contexts_after_mb']:.1f} MB "
            f"(catalog caches {walk['cache_after_mb']:.1f} MB, {walk['kb_per_tenant']:.1f} kB per tenant), "
            f"RssAnon {walk['rss_anon_after_mb']:.1f} MB; a new connection: "
            f"{walk['contexts_new_connection_mb']:.1f} MB contexts, RssAnon {walk['rss_anon_new_connection_mb']:.1f} MB"
        )
    conn = await admin_connect(url)
    size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    await conn.close()
    results["database_size"] = size
    print(f"database size: {size}")
    print("RESULTS " + json.dumps(results, default=float))
    if not args.keep:
        await drop_scratch(url)
        print("dropped the scratch database and its roles (--keep keeps them)")


async def drop_scratch(url: str) -> None:
    conn = await admin_connect(url)
    install = await conn.fetchval("SELECT install_id FROM public.scimhub_installation")
    await conn.close()
    admin = await admin_connect(with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE "{database_name(url)}" WITH (FORCE)')
        for r in await admin.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1", f"sh{install}\\_%"):
            await admin.execute(f'DROP ROLE "{r["rolname"]}"')
        await admin.execute(f'DROP ROLE IF EXISTS "{login_role(default_app_database_url(url))}"')
    finally:
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
