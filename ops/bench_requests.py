"""`make bench`, part 5 (issue #13): database round trips and web-process CPU per SCIM request type.

In process (the app as `scimhub.asgi` builds it, driven through httpx's ASGI transport, no sockets to the
client): for each request type of the Entra mix, `--requests` requests one after the other against one tenant
(so a sticky pool finds its connection scoped: the steady state of Entra's cycles), counting the statements
asyncpg sends (each one round trip) and the process CPU time. The client's own CPU is included; `GET /health`
(no database, no SCIM) is printed as that floor. The activity recorder is paused while counting (its flush, a
statement per tenant every 100 ms, is shared by all the reads of that interval) and flushed after each type.

    python -m ops.bench_requests [--requests 300]   (SCIMHUB_DATABASE_URL etc. as for the server; the rate
    limit is raised to 10**6 per second here, so that it never trips, and costs no Redis round trip)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import httpx

from scimhub.app import create_app
from scimhub.http.services import Services
from scimhub.settings import load_settings
from scimhub.tenancy import tenants
from scimhub.tenancy.db import admin_connect

_COUNT = [0]
_TRACE = os.environ.get("BENCH_TRACE_STATEMENTS") == "1"


def _count_statements() -> None:
    """Every statement asyncpg sends, simple (`execute` without arguments) or extended (the rest)."""
    for name in ("execute", "_execute", "executemany"):
        original = getattr(asyncpg.Connection, name)

        def counted(self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            if _name != "execute" or len(args) == 1:  # `execute` with arguments goes through `_execute`
                _COUNT[0] += 1
            if _TRACE:
                print("   ", _name, str(args[0])[:90].replace("\n", " "))
            return _original(self, *args, **kwargs)

        setattr(asyncpg.Connection, name, counted)


def _user(name: str) -> dict[str, Any]:
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": name,
        "displayName": name,
        "name": {"givenName": "A", "familyName": "B"},
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }


async def main(n: int) -> None:
    os.environ["SCIMHUB_RATE_LIMIT"] = "1000000"
    settings = load_settings()
    conn = await admin_connect(settings.database_url)
    try:
        issued = await tenants.create_tenant(conn, f"rt-{secrets.token_hex(4)}", public_url=settings.public_url)
    finally:
        await conn.close()
    base = "/scim/v2/" + issued.scim_url.rsplit("/", 1)[-1]
    _count_statements()
    services = await Services.start(settings)
    app = create_app(settings, services=services)
    auth = {"Authorization": f"Bearer {issued.token}", "Content-Type": "application/scim+json"}
    ids: list[str] = []
    groups: list[str] = []
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=auth) as client:

        async def filter_miss(i: int) -> httpx.Response:
            return await client.get(f"{base}/Users", params={"filter": f'userName eq "none-{i}@x.test"'})

        async def create_user(i: int) -> httpx.Response:
            r = await client.post(f"{base}/Users", json=_user(f"u{i}-{uuid.uuid4().hex[:8]}@x.test"))
            ids.append(r.json()["id"])
            return r

        async def get_user(i: int) -> httpx.Response:
            return await client.get(f"{base}/Users/{ids[i]}")

        async def patch_user(i: int) -> httpx.Response:
            ops = [{"op": "Replace", "path": "displayName", "value": f"d{i}"}]
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
            return await client.patch(f"{base}/Users/{ids[i]}", json=body)

        async def create_group(i: int) -> httpx.Response:
            name = f"g{i}-{uuid.uuid4().hex[:6]}"
            body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": name}
            r = await client.post(f"{base}/Groups", json=body)
            groups.append(r.json()["id"])
            return r

        async def add_members(i: int) -> httpx.Response:
            members = [{"value": ids[(i * 5 + k) % len(ids)]} for k in range(5)]
            ops = [{"op": "Add", "path": "members", "value": members}]
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops}
            return await client.patch(f"{base}/Groups/{groups[i]}", json=body)

        async def group_filter(i: int) -> httpx.Response:
            params = {"filter": f'displayName eq "g{i}"', "excludedAttributes": "members"}
            return await client.get(f"{base}/Groups", params=params)

        async def health(i: int) -> httpx.Response:
            return await client.get("/health")

        kinds: list[tuple[str, Callable[[int], Awaitable[httpx.Response]]]] = [
            ("GET /health (floor: client + app, no SCIM)", health),
            ("GET /Users?filter (miss)", filter_miss),
            ("POST /Users", create_user),
            ("GET /Users/{id}", get_user),
            ("PATCH /Users/{id} (3 Replace)", patch_user),
            ("POST /Groups", create_group),
            ("PATCH /Groups/{id} (Add 5 members)", add_members),
            ("GET /Groups?filter&excludedAttributes", group_filter),
        ]
        sticky = getattr(services.db.pool, "sticky", False)
        print(f"per request type, {n} requests each, one tenant, in process (pool sticky={sticky}):")
        print(f"  {'request':44} {'statements':>10} {'CPU us':>8}")
        for label, call in kinds:
            await call(0)  # warm: prepared statements, scoped connection
            async with services.recorder.paused():
                _COUNT[0] = 0
                cpu = time.process_time()
                for i in range(1, n + 1):
                    r = await call(i if i < n else n - 1)
                    if r.status_code >= 300:
                        raise SystemExit(f"{label}: {r.status_code} {r.text[:200]}")
                cpu = time.process_time() - cpu
                count = _COUNT[0]
            await services.recorder.flush()
            print(f"  {label:44} {count / n:10.2f} {cpu / n * 1e6:8.0f}")
    await services.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    asyncio.run(main(parser.parse_args().requests))
