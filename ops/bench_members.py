"""What the membership integrity triggers (tenant migration m0006) cost on member adds in a 20,000-member group.

    python -m ops.bench_members [--members 20000] [--adds 300] [--database-url URL]

A scratch database with one tenant: a group of N members, then single-member adds (one transaction each, the
statement `store.add_members` runs for a PATCH) and a 1,000-member bulk add, with the triggers and after
dropping them. Prints median and p99 per add. The database and its roles are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg

from ops.scale_tenants import drop_scratch
from scimhub.settings import default_app_database_url
from scimhub.store import resources
from scimhub.tenancy import tenants
from scimhub.tenancy.db import AppDatabase, admin_connect
from scimhub.tenancy.migrate import migrate
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction

_USERS = """INSERT INTO {schema}.scim_user (id, user_name, version, created, last_modified, doc)
SELECT gen_random_uuid(), 'u' || g || '-' || $1, 1, now(), now(), '{{}}'::jsonb FROM generate_series(1, $2) g
RETURNING id"""


async def _new_users(conn: asyncpg.Connection, schema: str, n: int) -> list[uuid.UUID]:
    rows = await conn.fetch(_USERS.format(schema=schema), uuid.uuid4().hex, n)
    return [r["id"] for r in rows]


async def _time_adds(db: AppDatabase, tenant: Tenant, gid: uuid.UUID, users: list[uuid.UUID]) -> list[float]:
    times = []
    for uid in users:
        t0 = time.perf_counter()
        async with tenant_transaction(db.pool, tenant) as conn:
            await resources.add_members(conn, gid, {uid: "User"})
        times.append((time.perf_counter() - t0) * 1000)
    return times


async def _time_bulk(db: AppDatabase, tenant: Tenant, gid: uuid.UUID, users: list[uuid.UUID]) -> float:
    t0 = time.perf_counter()
    async with tenant_transaction(db.pool, tenant) as conn:
        await resources.add_members(conn, gid, dict.fromkeys(users, "User"))
    return (time.perf_counter() - t0) * 1000


def _line(label: str, times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{label}: median {statistics.median(times):.2f} ms, p99 {p99:.2f} ms ({len(times)} adds)"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=20_000)
    ap.add_argument("--adds", type=int, default=300)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_bench_members")
    args = ap.parse_args()
    url = args.database_url
    app_url = default_app_database_url(url)
    await migrate(url, app_database_url=app_url, progress=lambda _l: None)
    conn = await admin_connect(url)
    db = await AppDatabase.open(app_url, size=2)
    try:
        await tenants.create_tenant(conn, "members", public_url="http://127.0.0.1")
        tenant = await tenants.get_tenant(conn, "members")
        schema = tenant.schema
        gid = uuid.uuid4()
        await conn.execute(
            f"INSERT INTO {schema}.scim_group (id, display_name, version, created, last_modified, doc) "
            "VALUES ($1, 'big', 1, now(), now(), '{}'::jsonb)",
            gid,
        )
        members = await _new_users(conn, schema, args.members)
        await conn.execute(
            f"INSERT INTO {schema}.scim_group_member (group_id, member_id) SELECT $1, unnest($2::uuid[])", gid, members
        )
        await conn.execute(f"ANALYZE {schema}.scim_user; ANALYZE {schema}.scim_group_member")
        print(f"a group of {args.members} members")
        for with_triggers in (True, False):
            label = "with the m0006 triggers" if with_triggers else "without them"
            await _time_adds(db, tenant, gid, await _new_users(conn, schema, 20))  # warm-up
            adds = await _time_adds(db, tenant, gid, await _new_users(conn, schema, args.adds))
            bulk = await _time_bulk(db, tenant, gid, await _new_users(conn, schema, 1000))
            print(f"  {_line(label, adds)}; 1,000 members in one add: {bulk:.1f} ms")
            if with_triggers:
                await conn.execute(f"DROP TRIGGER scim_group_member_exists ON {schema}.scim_group_member")
    finally:
        await db.close()
        await conn.close()
        await drop_scratch(url)


if __name__ == "__main__":
    asyncio.run(main())
