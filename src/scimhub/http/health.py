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
    if checks["database"] == "ok":
        async with services.db.pool.acquire() as conn:
            checks["outbox_backlog"] = int(
                await conn.fetchval(
                    "SELECT coalesce(sum(n_live_tup), 0) FROM pg_catalog.pg_stat_user_tables "
                    "WHERE relname = 'audit_outbox'"
                )
            )
    checks["activity_buffered"] = services.recorder._count
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


@get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request[Any, Any, State]) -> Response[bytes]:
    """Prometheus text format. With SCIMHUB_METRICS_TOKEN set, a matching Bearer token is required;
    without it, only loopback clients are served (put the scraper beside the process)."""
    import hmac

    from scimhub import metrics

    services: Services = request.app.state.services
    expected = services.settings.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return Response(b"unauthorized\n", status_code=401, media_type="text/plain")
    elif (request.client.host if request.client else "") not in {"127.0.0.1", "::1", "testclient"}:
        return Response(
            b"forbidden: set SCIMHUB_METRICS_TOKEN to scrape from another host\n",
            status_code=403,
            media_type="text/plain",
        )
    await metrics.refresh_from(services.db.pool, services.settings.redis_url, services.recorder)
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
