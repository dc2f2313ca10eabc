"""`make bench`, part 3: what an attacker or a buggy client does to the other tenants (issue #11).

One run starts its own scimhub web process (granian, one worker, as the Procfile runs it) against a migrated
database, creates two tenants (A, the attacker or buggy client, seeded with `--users-a` users so that
substring filters are slow; B, the victim, with a few hundred users made through the API), then measures
tenant B's SCIM latency (p50/p99 of `GET /Users/{id}` and `GET /Users?filter=userName eq ...` from
`--probe-concurrency` clients) quiet and while each attack runs from a separate process:
- `slow-filters`: tenant A floods with `emails.value co "..."` filters (a sequential scan each);
- `sign-in`: clients hammer the hub's sign-in form with random emails and passwords;
- `junk-paths`: anonymous `GET /scim/v2/<random>/<random>` at full speed;
- `token-flood`: random well-formed tokens (`shs_` + 43 characters) on A's URL.
For each phase it prints B's p50/p99 against the goal (at most x3 of quiet or quiet + 50 ms, whichever is
larger), B's 5xx, the attacker's rate and statuses, the web process's RSS before and after, the size of
/metrics, and PostgreSQL transactions per attacking request (from `pg_stat_database`, less B's own share).

`--pythonpath DIR` runs the web process and the CLI from another source tree (e.g. `git archive w2-base`
unpacked in /tmp), so the same script measures a base commit. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import secrets
import statistics
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ops.processes import BIN, LiveServer, start_web, stop_process
from scimhub.tenancy.db import admin_connect, database_name

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ATTACKS = ("slow-filters", "sign-in", "junk-paths", "token-flood")


@dataclass
class Target:
    slug: str
    token: str
    base: str  # the SCIM base URL


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    attack_statuses: dict[str, int] = field(default_factory=dict)
    attack_requests: int = 0
    attack_seconds: float = 0.0
    rss_before: int = 0
    rss_after: int = 0
    metrics_before: int = 0
    metrics_after: int = 0
    xacts: int = 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def group_rss(pid: int) -> int:
    """Resident memory (bytes) of every process in the process group `pid` leads (granian and its worker)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            pgrp = int(stat.rsplit(")", 1)[1].split()[2])
            if pgrp != pid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(BIN / "scimhub"), *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout


# ------------------------------------------------------------------------------------------------ attackers


async def _attack(kind: str, conf: dict[str, Any], stop: Any, counts: Any) -> None:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=conf["concurrency"], max_keepalive_connections=conf["concurrency"])
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one() -> None:
            while not stop.is_set():
                try:
                    if kind == "slow-filters":
                        r = await client.get(
                            f"{conf['a_base']}/Users",
                            params={"filter": f'emails.value co "{secrets.token_hex(3)}"', "count": "10"},
                            headers={"Authorization": f"Bearer {conf['a_token']}"},
                        )
                    elif kind == "sign-in":
                        r = await client.post(
                            f"{conf['url']}/hub/{conf['a_slug']}/login",
                            data={"email": f"{secrets.token_hex(6)}@example.test", "password": secrets.token_hex(8)},
                        )
                    elif kind == "junk-paths":
                        r = await client.get(f"{conf['url']}/scim/v2/{secrets.token_hex(6)}/{secrets.token_hex(8)}")
                    else:  # token-flood
                        token = "shs_" + secrets.token_urlsafe(32)
                        r = await client.get(f"{conf['a_base']}/Users", headers={"Authorization": f"Bearer {token}"})
                    statuses[r.status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1

        await asyncio.gather(*(one() for _ in range(conf["concurrency"])))
    for status, n in statuses.items():
        counts[str(status)] = n


def attack_process(kind: str, conf: dict[str, Any], stop: Any, counts: Any) -> None:
    """Runs in its own process, so the attacker's client CPU is not the probe's."""
    asyncio.run(_attack(kind, conf, stop, counts))


# ------------------------------------------------------------------------------------------------ the probe


async def probe(b: Target, ids: list[str], names: list[str], seconds: float, conc: int, phase: Phase) -> None:
    headers = {"Authorization": f"Bearer {b.token}"}
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:

        async def loop(n: int) -> None:
            i = n
            while time.monotonic() < deadline:
                i += 1
                if i % 2:
                    url, params = f"{b.base}/Users/{secrets.choice(ids)}", None
                else:
                    url, params = f"{b.base}/Users", {"filter": f'userName eq "{secrets.choice(names)}"'}
                t0 = time.perf_counter()
                try:
                    r = await client.get(url, params=params)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                phase.latencies.append((time.perf_counter() - t0) * 1000)
                phase.statuses[status] += 1

        await asyncio.gather(*(loop(n) for n in range(conc)))


async def metrics_size(url: str) -> int:
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.get(f"{url}/metrics")
    return len(r.content) if r.status_code == 200 else -1


async def xact_count(database: str) -> int:
    conn = await admin_connect(database)
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        return int(
            await conn.fetchval(
                "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", database_name(database)
            )
        )
    finally:
        await conn.close()


# ------------------------------------------------------------------------------------------------ set-up


async def seed(database: str, env: dict[str, str], users_a: int, users_b: int) -> tuple[Target, Target, list[str]]:
    made = []
    for role in ("a", "b"):
        slug = f"atk-{role}-{secrets.token_hex(3)}"
        out = json.loads(cli(env, "tenant", "create", slug, "--json"))
        made.append(Target(slug, out["token"], out["scim_url"]))
    a, b = made
    # B is a heavy but legitimate tenant: its probe loops faster than the default rate limit allows (a base
    # commit without `--rate-limit` skips this).
    with contextlib.suppress(subprocess.CalledProcessError):
        cli(env, "tenant", "set", b.slug, "--rate-limit", "1000000")
    conn = await admin_connect(database)
    try:
        tid = await conn.fetchval("SELECT id FROM public.tenant WHERE slug = $1", a.slug)
        await conn.execute(
            f"""INSERT INTO t_{int(tid)}.scim_user (id, user_name, external_id, display_name, active, created,
                    last_modified, doc)
                SELECT u.id, u.name, NULL, u.name, true, now(), now(),
                       jsonb_build_object('schemas', jsonb_build_array('{USER}'), 'id', u.id::text,
                           'userName', u.name, 'displayName', u.name, 'active', true,
                           'emails', jsonb_build_array(jsonb_build_object('value', u.name || '@contoso.test',
                                                                          'type', 'work', 'primary', true)))
                FROM (SELECT gen_random_uuid() AS id, 'seed-' || g || '-' || md5(g::text) AS name
                      FROM generate_series(1, $1) AS g) u""",
            users_a,
        )
        await conn.execute(f"ANALYZE t_{int(tid)}.scim_user")
    finally:
        await conn.close()
    return a, b, [f"victim-{i}-{secrets.token_hex(4)}@fabrikam.test" for i in range(users_b)]


async def create_b_users(server: LiveServer, b: Target, names: list[str]) -> list[str]:
    ids = []
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {b.token}"}) as client:
        for name in names:
            r = await client.post(f"{b.base}/Users", json={"schemas": [USER], "userName": name, "active": True})
            r.raise_for_status()
            ids.append(r.json()["id"])
    return ids


# ------------------------------------------------------------------------------------------------ the run


async def run_phase(
    name: str, server: LiveServer, database: str, b: Target, ids: list[str], names: list[str], args: Any, conf: Any
) -> Phase:
    phase = Phase(name)
    phase.rss_before = group_rss(server.process.pid)
    phase.metrics_before = await metrics_size(server.url)
    ctx = mp.get_context("spawn")
    stop, counts, proc = ctx.Event(), ctx.Manager().dict(), None
    if name != "quiet":
        proc = ctx.Process(target=attack_process, args=(name, conf, stop, counts), daemon=True)
        proc.start()
        await asyncio.sleep(args.warmup)  # the attack reaches full speed before the probe starts
    xacts = await xact_count(database)
    started = time.monotonic()
    await probe(b, ids, names, args.duration, args.probe_concurrency, phase)
    if proc is not None:
        stop.set()
        await asyncio.to_thread(proc.join, 60)
        phase.attack_seconds = time.monotonic() - started + args.warmup
        phase.attack_statuses = dict(counts)
        phase.attack_requests = sum(phase.attack_statuses.values())
    await asyncio.sleep(1.5)  # PostgreSQL publishes transaction statistics at most every second
    phase.xacts = await xact_count(database) - xacts
    phase.rss_after = group_rss(server.process.pid)
    phase.metrics_after = await metrics_size(server.url)
    return phase


def report(phases: list[Phase]) -> None:
    quiet = phases[0]
    q99 = pct(quiet.latencies, 99)
    goal = max(3 * q99, q99 + 50)
    per_probe = quiet.xacts / max(1, len(quiet.latencies))
    print()
    print(f"attacks on tenant B (issue #11): goal B p99 <= {goal:.1f} ms (max of x3 quiet, quiet + 50 ms); zero 5xx")
    print(
        f"{'phase':<13} {'B p50':>8} {'B p99':>9} {'goal':>5} {'B n':>6} {'B 5xx':>6} {'atk rps':>8} "
        f"{'atk 5xx':>8} {'RSS MB before->after':>21} {'/metrics KB':>16} {'db xact/atk req':>16}  attacker statuses"
    )
    for ph in phases:
        p50, p99 = pct(ph.latencies, 50), pct(ph.latencies, 99)
        b5xx = sum(n for s, n in ph.statuses.items() if s >= 500 or s == 0)
        a5xx = sum(n for s, n in ph.attack_statuses.items() if int(s) >= 500 or int(s) == 0)
        rps = ph.attack_requests / ph.attack_seconds if ph.attack_seconds else 0.0
        xpr = (ph.xacts - per_probe * len(ph.latencies)) / ph.attack_requests if ph.attack_requests else 0.0
        ok = "ok" if p99 <= goal and b5xx == 0 else "MISS"
        print(
            f"{ph.name:<13} {p50:7.1f}ms {p99:8.1f}ms {ok:>5} {len(ph.latencies):6d} {b5xx:6d} {rps:8.0f} "
            f"{a5xx:8d} {ph.rss_before / 2**20:9.1f} -> {ph.rss_after / 2**20:7.1f} "
            f"{ph.metrics_before / 1024:7.1f}->{ph.metrics_after / 1024:7.1f} {xpr:16.2f}  "
            f"{dict(sorted(ph.attack_statuses.items()))}"
        )
    total_5xx = sum(n for ph in phases for s, n in ph.statuses.items() if s >= 500) + sum(
        n for ph in phases for k, n in ph.attack_statuses.items() if int(k) >= 500
    )
    b_statuses = dict(sum((ph.statuses for ph in phases), Counter()))
    print(f"5xx in the whole run (B and attackers): {total_5xx}; B statuses: {b_statuses}")
    if len(phases) > 1:
        median_p50 = statistics.median(pct(ph.latencies, 50) for ph in phases[1:])
        print(f"median B p50 over the attack phases: {median_p50:.1f} ms")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--database", default=os.environ.get("SCIMHUB_DATABASE_URL", ""))
    ap.add_argument("--redis", default=os.environ.get("SCIMHUB_REDIS_URL", "redis://127.0.0.1:6379/13"))
    ap.add_argument("--run-dir", default=".run/bench-attacks")
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--probe-concurrency", type=int, default=4)
    ap.add_argument("--attack-concurrency", type=int, default=16)
    ap.add_argument("--users-a", type=int, default=50_000)
    ap.add_argument("--users-b", type=int, default=200)
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    ap.add_argument("--pythonpath", default="", help="run the web process and the CLI from this source tree")
    ap.add_argument("--migrate", action="store_true", help="run `scimhub migrate` first")
    args = ap.parse_args()
    if not args.database:
        ap.error("--database or SCIMHUB_DATABASE_URL is required")
    run_dir = Path(args.run_dir)
    await asyncio.to_thread(run_dir.mkdir, parents=True, exist_ok=True)
    extra = {"SCIMHUB_REDIS_URL": args.redis}
    if args.pythonpath:
        extra["PYTHONPATH"] = f"{args.pythonpath}/src:{args.pythonpath}"
    env = {**os.environ, "SCIMHUB_DATABASE_URL": args.database, **extra}
    if args.migrate:
        cli(env, "migrate")
    server = start_web(args.database, run_dir / f"web-{uuid.uuid4().hex[:6]}.log", extra)
    env["SCIMHUB_PUBLIC_URL"] = server.url
    try:
        a, b, names = await seed(args.database, env, args.users_a, args.users_b)
        a.base, b.base = (f"{server.url}/scim/v2/{t.slug}" for t in (a, b))
        ids = await create_b_users(server, b, names)
        conf = {
            "url": server.url,
            "a_base": a.base,
            "a_token": a.token,
            "a_slug": a.slug,
            "concurrency": args.attack_concurrency,
        }
        await probe(b, ids, names, 2, args.probe_concurrency, Phase("warm-up"))
        phases = []
        for name in ("quiet", *[x for x in args.attacks.split(",") if x]):
            phases.append(await run_phase(name, server, args.database, b, ids, names, args, conf))
            print(f"  {name}: done", flush=True)
        report(phases)
    finally:
        stop_process(server.process)


if __name__ == "__main__":
    asyncio.run(main())
