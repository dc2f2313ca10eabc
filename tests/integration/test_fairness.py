"""Fair share between tenants (issue #11 item 3), against real web processes, PostgreSQL and Redis.

Slowness is made, not hoped for: the test holds a row lock on a tenant's user, so that tenant's PATCH
requests wait inside PostgreSQL holding their pooled connections for exactly as long as the test says.
Rate limits use a window of an hour, so a burst can never straddle a window boundary however slow the
machine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from scimhub.http.throttle import Throttle
from scimhub.settings import load_settings
from tests.support.cli import run
from tests.support.factories import entra_user, patch_body
from tests.support.processes import LiveServer, RedisProcess, start_web, stop_process
from tests.support.scim import assert_error
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def web_env() -> dict[str, str]:
    return {}


@pytest.fixture
def web(database: str, tmp_path: Path, web_env: dict[str, str]) -> Iterator[LiveServer]:
    server = start_web(database, tmp_path / "web.log", web_env)
    yield server
    stop_process(server.process)


async def create_user(url: str, t: TenantHandle) -> str:
    async with httpx.AsyncClient(base_url=f"{url}/scim/v2/{t.slug}", headers=t.auth, timeout=30) as c:
        r = await c.post("/Users", json=entra_user())
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def lock_waiters(admin: asyncpg.Connection) -> int:
    return int(
        await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
    )


async def patch(url: str, t: TenantHandle, uid: str) -> httpx.Response:
    body = patch_body({"op": "replace", "path": "displayName", "value": "waited"})
    async with httpx.AsyncClient(base_url=f"{url}/scim/v2/{t.slug}", headers=t.auth, timeout=120) as c:
        return await c.patch(f"/Users/{uid}", json=body)


async def get(url: str, t: TenantHandle, path: str = "/Users", **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"{url}/scim/v2/{t.slug}", headers=t.auth, timeout=120) as c:
        return await c.get(path, **kw)


def assert_try_later(r: httpx.Response, status: int) -> None:
    assert_error(r, status)
    assert int(r.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "web_env",
    [
        {
            "SCIMHUB_DB_POOL_SIZE": "4",
            "SCIMHUB_DB_TENANT_SHARE": "2",
            "SCIMHUB_DB_ACQUIRE_TIMEOUT_SECONDS": "1",
            "SCIMHUB_STATEMENT_TIMEOUT_SECONDS": "600",
        }
    ],
)
async def test_a_tenant_holding_its_share_never_queues_another(
    web: LiveServer, admin: asyncpg.Connection, database: str
) -> None:
    a, b = await create_tenant(database), await create_tenant(database)
    uid = await create_user(web.url, a)
    assert (await get(web.url, b)).status_code == 200
    lock = await asyncpg.connect(database)
    try:
        await lock.execute("BEGIN")
        await lock.execute(f"SELECT 1 FROM {a.tenant.schema}.scim_user WHERE id = $1 FOR UPDATE", uid)
        held = [asyncio.create_task(patch(web.url, a, uid)) for _ in range(2)]
        await wait_until(lambda: lock_waiters(admin), lambda n: n == 2, "A's two requests waiting on the lock")
        # A's share (2 of 4 connections) is in use: A's next request waits for it, then gets a 503 ...
        assert_try_later(await get(web.url, a), 503)
        # ... while B, never queued behind A, is served from the connections A cannot take.
        r = await get(web.url, b, params={"filter": 'userName eq "nobody"'})
        assert r.status_code == 200 and r.json()["totalResults"] == 0
        assert not any(t.done() for t in held)
    finally:
        await lock.execute("COMMIT")
        await lock.close()
    assert [(await t).status_code for t in held] == [204, 204]


@pytest.mark.parametrize("web_env", [{"SCIMHUB_STATEMENT_TIMEOUT_SECONDS": "0.5"}])
async def test_a_statement_past_the_timeout_answers_503_and_leaves_nothing_behind(
    web: LiveServer, admin: asyncpg.Connection, database: str
) -> None:
    a = await create_tenant(database)
    uid = await create_user(web.url, a)
    lock = await asyncpg.connect(database)
    try:
        await lock.execute("BEGIN")
        await lock.execute(f"SELECT 1 FROM {a.tenant.schema}.scim_user WHERE id = $1 FOR UPDATE", uid)
        r = await patch(web.url, a, uid)  # waits on the lock until PostgreSQL cancels the statement
    finally:
        await lock.execute("COMMIT")
        await lock.close()
    assert_try_later(r, 503)
    assert "took too long" in r.json()["detail"]
    assert (await get(web.url, a, f"/Users/{uid}")).json()["displayName"] != "waited"  # nothing half-applied
    assert (await patch(web.url, a, uid)).status_code == 204  # the pooled connection is fine afterwards


@pytest.mark.parametrize("web_env", [{"SCIMHUB_RATE_LIMIT_WINDOW_SECONDS": "3600"}])
async def test_a_tenant_over_its_rate_limit_gets_429_and_others_do_not(
    web: LiveServer, admin: asyncpg.Connection, database: str
) -> None:
    a, b = await create_tenant(database), await create_tenant(database)
    r = run(database, "tenant", "set", a.slug, "--rate-limit", "3", env={"SCIMHUB_RATE_LIMIT_WINDOW_SECONDS": "3600"})
    assert r.returncode == 0, r.stderr
    assert "rate limit 3 requests per 3600 s" in r.stdout
    assert run(database, "tenant", "set", a.slug, "--rate-limit", "0").returncode == 2
    burst = await asyncio.gather(*(get(web.url, a) for _ in range(10)))  # sent at once, one hour's window
    statuses = sorted(x.status_code for x in burst)
    assert statuses == [200] * 3 + [429] * 7
    for x in burst:
        if x.status_code == 429:
            assert_try_later(x, 429)
            assert "may send 3 per 3600 s" in x.json()["detail"]
    assert [(await get(web.url, b)).status_code for _ in range(5)] == [200] * 5  # B: the default limit

    async def limited() -> list[Any]:
        return list(
            await admin.fetch(
                f"SELECT repeat, status, operation FROM {a.tenant.schema}.activity_log WHERE status = 429"
            )
        )

    rows = await wait_until(limited, lambda rows: sum(r["repeat"] for r in rows) == 7, "the 429s in A's log")
    assert {r["operation"] for r in rows} == {"Rate limited"} and len(rows) <= 7
    assert run(database, "tenant", "set", a.slug, "--rate-limit", "default").returncode == 0
    trail = await admin.fetch(
        "SELECT actor_kind, summary, changes::text AS changes FROM public.admin_trail"
        " WHERE tenant_id = $1 AND action = 'ratelimit.changed' ORDER BY id",
        a.tenant.id,
    )
    default = f"the default ({load_settings().rate_limit})"
    assert [(r["actor_kind"], json.loads(r["changes"])) for r in trail] == [
        ("operator", [["rate limit", default, "3"]]),
        ("operator", [["rate limit", "3", default]]),
    ]  # the refused 0 changed nothing and left no entry
    shown = run(database, "admin", "log", a.slug, "--action", "ratelimit.changed")
    assert shown.returncode == 0 and "Rate limit changed" in shown.stdout, shown.stdout


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    r = RedisProcess(tmp_path)
    r.start()
    yield r
    r.stop()


async def test_scim_keeps_working_and_limited_while_redis_is_down(
    own_redis: RedisProcess, admin: asyncpg.Connection, database: str, tmp_path: Path
) -> None:
    a = await create_tenant(database)
    assert run(database, "tenant", "set", a.slug, "--rate-limit", "3").returncode == 0
    server = start_web(
        database,
        tmp_path / "web.log",
        {"SCIMHUB_REDIS_URL": own_redis.url, "SCIMHUB_RATE_LIMIT_WINDOW_SECONDS": "3600"},
    )
    try:
        assert [(await get(server.url, a)).status_code for _ in range(2)] == [200, 200]  # counted in Redis
        own_redis.stop()
        # Redis is gone: requests are counted in the process (afresh), and SCIM goes on.
        assert [(await get(server.url, a)).status_code for _ in range(5)] == [200, 200, 200, 429, 429]
        own_redis.start()  # back, empty: after the retry interval Redis counts again, from zero

        async def status() -> int:
            return (await get(server.url, a)).status_code

        await wait_until(status, lambda s: s == 200, "the limit counted in Redis again")
    finally:
        stop_process(server.process)


async def test_quiet_keys_cost_no_round_trip_and_busy_ones_are_counted_whole() -> None:
    # Nothing listens on port 1: any round trip shows as a fallback to counting in process.
    throttle = Throttle("redis://127.0.0.1:1/0")
    assert [await throttle.hit("scim", "quiet", limit=100, seconds=3600) for _ in range(10)] == [None] * 10
    assert throttle.fallbacks == 0  # a tenth of the limit: counted locally, no round trip
    assert await throttle.hit("scim", "quiet", limit=100, seconds=3600) is None
    assert throttle.fallbacks == 1 and throttle.counting_in_process  # the 11th went out, with the 10 before it
    allowed = [await throttle.hit("scim", "quiet", limit=100, seconds=3600) for _ in range(90)]
    assert allowed[:89] == [None] * 89 and allowed[89] is not None and allowed[89] >= 1  # 100 in all, then no
