"""Liveness and readiness."""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from litestar import Request, Response, get
from litestar.datastructures import State

from scimhub.http.services import Services


@get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _check_db(services: Services) -> str:
    async with services.db.pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    return "ok"


async def _check_redis(services: Services) -> str:
    client = aioredis.from_url(services.settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    try:
        await client.ping()
    finally:
        await client.aclose()
    return "ok"


@get("/ready", include_in_schema=False)
async def ready(request: Request[Any, Any, State]) -> Response[dict[str, Any]]:
    services: Services = request.app.state.services
    checks: dict[str, Any] = {}
    ok = True
    for name, check in (("database", _check_db), ("redis", _check_redis)):
        try:
            checks[name] = await asyncio.wait_for(check(services), timeout=2)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            checks[name] = f"unavailable ({type(exc).__name__})"
            ok = False
    extra = services.extras.get("ready_checks")
    if extra is not None:
        more, more_ok = await extra()
        checks.update(more)
        ok = ok and more_ok
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)
