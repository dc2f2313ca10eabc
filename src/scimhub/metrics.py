"""Prometheus metrics (prometheus-client).

Web-process metrics live in this process's registry. Worker-side counters (mails sent and failed, task
failures, the last activity lag) are kept in Redis by the workers (`bump`, `put`) and read at scrape time, so
one scrape of any web process shows the whole service. Labels never carry personal data: routes are
templates, tenants are slugs.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from scimhub.audit.backlog import outbox_backlog
from scimhub.redis_clients import async_client, sync_client

if TYPE_CHECKING:
    import asyncpg

    from scimhub.audit.recorder import ActivityRecorder

log = logging.getLogger("scimhub.metrics")
REDIS_PREFIX = "scimhub:metrics:"

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "scimhub_requests_total",
    "SCIM requests by route template, method and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "scimhub_request_duration_seconds",
    "SCIM request latency",
    ["route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
TENANT_REQUESTS = Counter("scimhub_tenant_requests_total", "SCIM requests per tenant", ["tenant"], registry=REGISTRY)
OUTBOX_BACKLOG = Gauge("scimhub_outbox_backlog", "activity events waiting in outboxes (all tenants)", registry=REGISTRY)
ACTIVITY_BUFFERED = Gauge("scimhub_activity_buffered", "read events buffered in this web process", registry=REGISTRY)
ACTIVITY_DROPPED = Gauge(
    "scimhub_activity_dropped_total", "read events dropped by this process's full buffer", registry=REGISTRY
)
# Events PostgreSQL refused as they were (audit.quarantine): kept in the tenant's activity_quarantine, and of
# those the ones logged in sanitised form. stage "flush": this web process's buffer; "drain": all workers;
# "request" (sanitised only): events of this process whose fields were cleaned or cut where they were built.
ACTIVITY_QUARANTINED = Gauge(
    "scimhub_activity_quarantined_total",
    "activity events refused by PostgreSQL as they were, kept in activity_quarantine",
    ["stage"],
    registry=REGISTRY,
)
ACTIVITY_SANITISED = Gauge(
    "scimhub_activity_sanitised_total",
    "refused activity events written to the activity log in sanitised form",
    ["stage"],
    registry=REGISTRY,
)
WORKER = Gauge("scimhub_worker_counter", "counters kept by the Celery workers", ["name"], registry=REGISTRY)
ACTIVITY_LAG = Gauge("scimhub_activity_lag_seconds", "request-to-log lag of the last drained batch", registry=REGISTRY)


_children: dict[tuple[str, ...], Any] = {}
# Label values are bounded here whatever a caller passes: methods outside this set are "OTHER", statuses
# outside 100-599 "other", and past MAX_SERIES label sets (routes are templates, tenants slugs of tenants that
# authenticated) any new one is folded into "{other}", so a client can never grow the registry (issue #11:
# 2,000 junk paths had grown /metrics from 15 KB to 11.9 MB).
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
MAX_SERIES = 5_000


def _child(metric: Any, *labels: str) -> Any:
    key = (metric._name, *labels)
    child = _children.get(key)
    if child is None:
        if len(_children) >= MAX_SERIES:
            labels = tuple("{other}" for _ in labels)
            key = (metric._name, *labels)
            child = _children.get(key)
            if child is not None:
                return child
        child = _children[key] = metric.labels(*labels)
    return child


# (route, method, status, tenant) as a request gives them -> that request's counter, histogram and tenant
# counter children (resolved by `_child` once per combination, so its bounds hold; a dict look-up after).
_observers: dict[tuple[str, str, int, str | None], tuple[Any, Any, Any]] = {}


def observe(route: str, method: str, status: int, seconds: float, tenant: str | None) -> None:
    key = (route, method, status, tenant)
    children = _observers.get(key)
    if children is None:
        if len(_observers) >= MAX_SERIES:
            _observers.clear()
        label = method if method in METHODS else "OTHER"
        code = str(status) if 100 <= status <= 599 else "other"
        children = _observers[key] = (
            _child(REQUESTS, route, label, code),
            _child(LATENCY, route, label),
            _child(TENANT_REQUESTS, tenant) if tenant else None,
        )
    requests, latency, per_tenant = children
    requests.inc()
    latency.observe(seconds)
    if per_tenant is not None:
        per_tenant.inc()


async def refresh_from(pool: asyncpg.Pool, redis_url: str, recorder: ActivityRecorder) -> None:
    """Update the gauges that are read from PostgreSQL and Redis."""
    OUTBOX_BACKLOG.set(float(await outbox_backlog(pool)))
    ACTIVITY_BUFFERED.set(float(recorder.buffered))
    ACTIVITY_DROPPED.set(float(recorder.dropped))
    ACTIVITY_QUARANTINED.labels("flush").set(float(recorder.quarantined))
    ACTIVITY_SANITISED.labels("flush").set(float(recorder.sanitised))
    client = async_client(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=REDIS_PREFIX + "*", count=100)]
        values = await client.mget(keys) if keys else []
        for key, value in zip(keys, values, strict=True):
            name = key.decode()[len(REDIS_PREFIX) :]
            if value is None:
                continue
            if name == "activity_lag_seconds":
                ACTIVITY_LAG.set(float(value))
            elif name == "activity_quarantined_drain":
                ACTIVITY_QUARANTINED.labels("drain").set(float(value))
            elif name == "activity_sanitised_drain":
                ACTIVITY_SANITISED.labels("drain").set(float(value))
            else:
                WORKER.labels(name).set(float(value))
    except Exception as exc:  # noqa: BLE001 - a down Redis must not break the scrape
        log.warning("worker counters unavailable (%s)", type(exc).__name__)
    finally:
        await client.aclose()


def render() -> bytes:
    return generate_latest(REGISTRY)


_clients: dict[str, Any] = {}


def _client(redis_url: str) -> Any:
    """One blocking client per Redis URL and process, kept: a new one per counter opened a connection (TCP,
    `SELECT`, the command, then closed at garbage collection) for every drain a worker ran (issue #13).
    redis-py's pool notices a fork and opens new connections in the child, so Celery's prefork children each
    get their own."""
    client = _clients.get(redis_url)
    if client is None:
        client = _clients[redis_url] = sync_client(redis_url)
    return client


def bump(redis_url: str, name: str, n: int = 1) -> None:
    """A worker-side counter (mails_sent, mails_failed, task_failures_<task>)."""
    try:
        _client(redis_url).incrby(REDIS_PREFIX + name, n)
    except Exception as exc:  # noqa: BLE001
        log.warning("counter %s not updated (%s)", name, type(exc).__name__)


def put(redis_url: str, name: str, value: float) -> None:
    try:
        _client(redis_url).set(REDIS_PREFIX + name, value)
    except Exception as exc:  # noqa: BLE001
        log.warning("gauge %s not updated (%s)", name, type(exc).__name__)
