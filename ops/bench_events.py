"""What change events cost and how fast they go out (issue #14).

    python -m ops.bench_events [--writes 2000] [--events 3000] [--database-url URL]

A scratch database with one tenant:
1. the extra cost per SCIM write: the same user update (one transaction: the row `FOR UPDATE`, then the
   UPDATE with its activity event) with and without its change event (built by `events.changes` and
   inserted by the same statement), alternating in rounds; median and p99 per write;
2. the sequencer: pending changes positioned per second (`events.sequencer.sequence_tenant`);
3. delivery: events per second signed and POSTed one by one, in order, to a receiver in another process on
   127.0.0.1 answering 200 (`events.delivery.deliver_tenant`, one endpoint).
The database and its roles are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import time
import uuid

import msgspec

from ops.processes import free_port
from ops.scale_tenants import drop_scratch
from scimhub.events import changes, delivery, sequencer, webhooks
from scimhub.scim.schemas import USER_TYPE
from scimhub.settings import default_app_database_url, load_settings
from scimhub.store import resources
from scimhub.tenancy import tenants
from scimhub.tenancy.db import AppDatabase, admin_connect
from scimhub.tenancy.migrate import migrate
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction

_RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""
_EVENT = msgspec.json.encode(
    {
        "event_id": "x",
        "operation": "Update user",
        "status": 204,
        "changed": ["displayName"],
        "method": "PATCH",
        "path": "/scim/v2/bench/Users/x",
        "outcome": "success",
    }
).decode()


def _doc(i: int) -> dict[str, object]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{i}@bench.test",
        "displayName": f"User {i}",
        "active": True,
        "emails": [{"value": f"user{i}@bench.test", "type": "work", "primary": True}],
        "name": {"givenName": "User", "familyName": str(i)},
    }


async def _write(db: AppDatabase, tenant: Tenant, rid: uuid.UUID, doc: dict[str, object], with_events: bool) -> float:
    t0 = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    async with tenant_transaction(db.pool, tenant) as conn:
        row = await resources.get(conn, USER_TYPE, rid, related=False, for_update=True)
        assert row is not None  # noqa: S101 - a benchmark's own setup
        new = {**row.doc, "displayName": uuid.uuid4().hex}
        text = None
        if with_events:
            text = changes.encode(changes.updated("User", rid, row.doc, new, ["displayName"]), now, "req-1")
        await resources.update(conn, USER_TYPE, rid, new, now, outbox=_EVENT, changes=text)
    return (time.perf_counter() - t0) * 1e6


def _line(label: str, times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{label}: median {statistics.median(times):.0f} us, p99 {p99:.0f} us ({len(times)} writes)"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--database-url", default="postgresql://127.0.0.1:5432/scimhub_bench_events")
    args = ap.parse_args()
    url = args.database_url
    app_url = default_app_database_url(url)
    await migrate(url, app_database_url=app_url, progress=lambda _l: None)
    conn = await admin_connect(url)
    db = await AppDatabase.open(app_url, size=4)
    port = free_port()
    receiver = await asyncio.create_subprocess_exec(sys.executable, "-c", _RECEIVER, str(port))
    try:
        await tenants.create_tenant(conn, "bench", public_url="http://127.0.0.1")
        tenant = await tenants.get_tenant(conn, "bench")
        ids = [uuid.uuid4() for _ in range(200)]
        async with tenant_transaction(db.pool, tenant) as c:
            for i, rid in enumerate(ids):
                await resources.insert(c, USER_TYPE, rid, _doc(i), dt.datetime.now(dt.UTC))
        timed: dict[bool, list[float]] = {True: [], False: []}
        rounds = max(1, args.writes // 100)
        for r in range(rounds + 1):
            for with_events in (False, True) if r % 2 else (True, False):
                batch = [await _write(db, tenant, ids[i % len(ids)], {}, with_events) for i in range(100)]
                if r:  # the first round warms up
                    timed[with_events] += batch
        base, extra = statistics.median(timed[False]), statistics.median(timed[True])
        print(_line("  a user update without its change event", timed[False]))
        print(_line("  with its change event (same statement)", timed[True]))
        print(f"  extra cost per write: {extra - base:+.0f} us median ({(extra - base) / base * 100:+.1f} %)")
        await conn.execute(f"DELETE FROM {tenant.schema}.event_pending")
        await conn.execute(f"DELETE FROM {tenant.schema}.event_log")
        await conn.execute(f"UPDATE {tenant.schema}.event_feed SET last_position = 0")
        async with tenant_transaction(db.pool, tenant) as c:
            made = await webhooks.add_endpoint(
                c,
                f"http://127.0.0.1:{port}/hook",
                None,
                secret_key="bench",  # noqa: S106 - a scratch key
                allow_private=True,
            )
        del made
        for i in range(args.events):
            await _write(db, tenant, ids[i % len(ids)], {}, True)
        t0 = time.perf_counter()
        seq = await sequencer.sequence_tenant(db.pool, tenant)
        seconds = time.perf_counter() - t0
        rate = seq.positioned / seconds
        print(f"  sequencer: {seq.positioned} events positioned in {seconds:.2f} s = {rate:.0f} events/s")
        settings = msgspec.structs.replace(
            load_settings({"SCIMHUB_DATABASE_URL": url}),
            webhook_allow_private=True,
            secret_key="bench",  # noqa: S106
        )
        t0 = time.perf_counter()
        got = await delivery.deliver_tenant(db.pool, tenant, settings)
        seconds = time.perf_counter() - t0
        print(
            f"  delivery to one local receiver: {got.delivered} events in {seconds:.2f} s = "
            f"{got.delivered / seconds:.0f} events/s (signed, one POST each, in order)"
        )
    finally:
        receiver.kill()
        await receiver.wait()
        await db.close()
        await conn.close()
        await drop_scratch(url)


if __name__ == "__main__":
    asyncio.run(main())
