"""Liveness, readiness and the Prometheus scrape."""

from __future__ import annotations

import asyncio
import hmac
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency

from scimhub import metrics
from scimhub.audit.backlog import outbox_backlog
from scimhub.http.admin_access import provide_services
from scimhub.http.services import Services
from scimhub.redis_clients import async_client

_CHECK_SECONDS = 2
_LOOPBACK = frozenset({"127.0.0.1", "::1", "testclient"})
# Headers a reverse proxy adds: with one of them a loopback peer is that proxy, not a local scraper.
FORWARDING_HEADERS = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-real-ip",
        "x-client-ip",
        "true-client-ip",
        "cf-connecting-ip",
    }
)


@get("/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


async def _ping_redis(redis_url: str) -> None:
    client = async_client(redis_url)
    try:
        await client.ping()
    finally:
        await client.aclose()


@get("/ready", include_in_schema=False, dependencies={"services": provide_services})
async def ready(services: NamedDependency[Services]) -> Response[dict[str, Any]]:
    """503 unless PostgreSQL and Redis answer within 2 s each; says which one did not (never why in detail)."""
    checks: dict[str, Any] = {}
    backlog: int | None = None
    try:
        # Reading the outbox backlog is the database check: it needs a pooled connection and a query.
        backlog = await asyncio.wait_for(outbox_backlog(services.db.pool), timeout=_CHECK_SECONDS)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable ({type(exc).__name__})"
    try:
        await asyncio.wait_for(_ping_redis(services.settings.redis_url), timeout=_CHECK_SECONDS)
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["redis"] = f"unavailable ({type(exc).__name__})"
    if backlog is not None:
        checks["outbox_backlog"] = backlog
    checks["activity_buffered"] = services.recorder.buffered
    ok = checks["database"] == "ok" and checks["redis"] == "ok"
    return Response({"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503)


@get("/metrics", include_in_schema=False, dependencies={"services": provide_services})
async def metrics_endpoint(request: Request[Any, Any, State], services: NamedDependency[Services]) -> Response[bytes]:
    """Prometheus text format. With SCIMHUB_METRICS_TOKEN set, a matching Bearer token is required;
    without it, only loopback clients whose request carries no forwarding header are served (put the scraper
    beside the process): a reverse proxy on the same host connects from loopback too, and it says so."""
    expected = services.settings.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return Response(b"unauthorized\n", status_code=401, media_type="text/plain")
    elif (request.client.host if request.client else "") not in _LOOPBACK or any(
        request.headers.get(name) is not None for name in FORWARDING_HEADERS
    ):
        return Response(
            b"forbidden: set SCIMHUB_METRICS_TOKEN to scrape through a proxy or from another host\n",
            status_code=403,
            media_type="text/plain",
        )
    await metrics.refresh_from(services.db.pool, services.settings.redis_url, services.recorder)
    return Response(metrics.render(), media_type="text/plain; version=0.0.4")
