"""Delivering a tenant's events to its webhook endpoints: signed (Standard Webhooks), at least once, one
endpoint in position order.

Per endpoint, `deliver_endpoint` leases the endpoint row (`lease_until`: one deliverer at a time; a killed
worker's lease runs out and the beat's sweep takes over), reads the next events after its `cursor` that
its patterns match, and sends them one by one. After each answer, in a transaction: the attempt is recorded
in `webhook_delivery` and the endpoint moves on:
- 2xx: delivered, the cursor advances;
- a 4xx other than 408/429: failed, recorded, not retried, the cursor advances (the receiver refused it);
- anything else (timeout, connection refused, 5xx, 408, 429, a redirect, which is never followed, an address
  refused after DNS): the cursor stays, `next_attempt_at` = now + the next delay of
  SCIMHUB_WEBHOOK_RETRY_SECONDS (seconds first, growing to hours), and the endpoint waits; once it has been
  failing for SCIMHUB_WEBHOOK_DISABLE_AFTER_SECONDS it is disabled, and a `webhook.disabled` trail entry is
  mailed to the tenant's administrators by the security-notice flush (once: the entry is written once, when
  the endpoint goes from enabled to disabled).
The event id is the `webhook-id` header: a receiver dedupes by it (a delivery whose answer was lost is sent
again).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import msgspec
from standardwebhooks.webhooks import Webhook

from scimhub.admins import trail
from scimhub.admins.model import Actor, ActorKind
from scimhub.admins.vocabulary import AdminAction
from scimhub.events import due
from scimhub.events.feed import EVENT_COLUMNS, event_from_row, event_json
from scimhub.events.targets import UnsafeTarget, resolve
from scimhub.events.vocabulary import sql_like_patterns
from scimhub.events.webhooks import decrypt_secret
from scimhub.settings import Settings, retry_delays
from scimhub.tenancy.db import Connection
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction

MAX_RESPONSE = 65_536  # bytes of a receiver's answer read at most (the rest is dropped unread)
PAGE = 50  # events read per lease
SYSTEM = Actor(kind=ActorKind.OPERATOR, name="scimhub (webhook delivery)")
_encode = msgspec.json.Encoder().encode


@dataclass
class Answer:
    status: int | None
    latency_ms: float
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self) -> bool:
        """Not retried: the receiver said the request itself is wrong."""
        return self.status is not None and 400 <= self.status < 500 and self.status not in (408, 429)


@dataclass
class DeliveryResult:
    delivered: int = 0
    failed: int = 0
    retry_in: float | None = None  # seconds until the endpoint's next attempt (a retry is due)
    disabled: list[str] = field(default_factory=list)

    def add(self, other: DeliveryResult) -> None:
        self.delivered += other.delivered
        self.failed += other.failed
        self.disabled += other.disabled
        if other.retry_in is not None:
            self.retry_in = other.retry_in if self.retry_in is None else min(self.retry_in, other.retry_in)


def _lease_seconds(settings: Settings) -> float:
    return settings.webhook_timeout_seconds * 3 + 5


def new_client(settings: Settings) -> httpx.AsyncClient:
    """One client per delivery run (its TLS context and connections are reused from event to event); redirects
    are never followed."""
    return httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False)


async def send(
    client: httpx.AsyncClient, settings: Settings, url: str, secret: str, event_id: str, body: str
) -> Answer:
    """One signed POST; never raises for what the network or the receiver does."""
    started = time.monotonic()
    try:
        address = await resolve(url, allow_private=settings.webhook_allow_private)
    except UnsafeTarget as exc:
        return Answer(None, 0.0, f"refused: {exc}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    shown = f"[{address}]" if ":" in address else address
    pinned = urlunsplit(
        (parts.scheme, f"{shown}:{parts.port}" if parts.port else shown, parts.path or "/", parts.query, "")
    )
    now = dt.datetime.now(dt.UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "scimhub-webhooks/1",
        "host": parts.netloc.rsplit("@", 1)[-1],
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, now, body),
    }
    try:
        async with client.stream(
            "POST", pinned, content=body.encode(), headers=headers, extensions={"sni_hostname": host}
        ) as response:
            got = 0
            async for chunk in response.aiter_raw():
                got += len(chunk)
                if got >= MAX_RESPONSE:
                    break
            status = response.status_code
    except httpx.TimeoutException:
        return Answer(None, _ms(started), "timed out")
    except httpx.HTTPError as exc:
        return Answer(None, _ms(started), f"{type(exc).__name__}: {str(exc)[:200]}")
    error = None
    if 300 <= status < 400:
        error = "redirect (never followed)"
    elif not 200 <= status < 300:
        error = f"answered {status}"
    return Answer(status, _ms(started), error)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


_NEXT_EVENTS = f"""SELECT {EVENT_COLUMNS} FROM event_log WHERE position > $1
      AND (cardinality($2::text[]) = 0 OR type LIKE ANY($2::text[]))
    ORDER BY position LIMIT $3"""  # noqa: S608 - a fixed column list
_EVENT_COLUMNS_OF_E = ", ".join("e." + c.strip() for c in EVENT_COLUMNS.split(","))
_REDELIVERIES = f"""SELECT d.id AS delivery_id, w.url, w.secret_encrypted, {_EVENT_COLUMNS_OF_E}
    FROM webhook_delivery d JOIN webhook_endpoint w ON w.id = d.endpoint_id
    JOIN event_log e ON e.position = d.position
    WHERE d.status = 'redelivered' AND d.attempt = 0 LIMIT 20"""  # noqa: S608 - a fixed column list
_CLAIM = """UPDATE webhook_endpoint SET lease_until = now() + make_interval(secs => $2)
            WHERE id = $1 AND enabled AND (lease_until IS NULL OR lease_until < now())
              AND (next_attempt_at IS NULL OR next_attempt_at <= now())
            RETURNING url, event_types, secret_encrypted, cursor, attempts, failing_since"""


async def _record(
    conn: Connection,
    settings: Settings,
    endpoint_id: Any,
    event: Any,
    attempt: int,
    answer: Answer,
    failing_since: dt.datetime | None,
) -> tuple[str, float | None, bool]:
    """Record one attempt and move the endpoint on; (status, seconds to the retry, just disabled)."""
    if answer.delivered or answer.refused:
        status = "delivered" if answer.delivered else "failed"
        await conn.execute(
            """UPDATE webhook_endpoint SET cursor = $2, attempts = 0, next_attempt_at = NULL,
                   failing_since = CASE WHEN $3 THEN NULL ELSE failing_since END WHERE id = $1""",
            endpoint_id,
            event.position,
            answer.delivered,
        )
        retry, disabled = None, False
    else:
        status = "retrying"
        delays = retry_delays(settings)
        retry = delays[min(attempt - 1, len(delays) - 1)]
        now = dt.datetime.now(dt.UTC)
        since = failing_since or now
        disabled = (now - since).total_seconds() >= settings.webhook_disable_after_seconds and attempt > 1
        await conn.execute(
            """UPDATE webhook_endpoint SET attempts = $2, next_attempt_at = now() + make_interval(secs => $3),
                   failing_since = coalesce(failing_since, now()),
                   enabled = NOT $4, disabled_at = CASE WHEN $4 THEN now() ELSE disabled_at END WHERE id = $1""",
            endpoint_id,
            attempt,
            retry,
            disabled,
        )
    await conn.execute(
        # Nothing is recorded for an endpoint removed while its event was on the way.
        """INSERT INTO webhook_delivery (endpoint_id, position, event_id, attempt, status, response_status,
               latency_ms, error, next_attempt_at)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $9::float8 IS NULL THEN NULL
                  ELSE now() + make_interval(secs => $9::float8) END
           WHERE EXISTS (SELECT 1 FROM webhook_endpoint WHERE id = $1)""",
        endpoint_id,
        event.position,
        event.id,
        attempt,
        status,
        answer.status,
        answer.latency_ms,
        answer.error,
        retry,
    )
    return status, retry, disabled


async def deliver_endpoint(pool: asyncpg.Pool, tenant: Tenant, endpoint_id: Any, settings: Settings) -> DeliveryResult:
    """Send the endpoint's due events in position order until it is caught up or must wait for a retry."""
    async with new_client(settings) as client:
        return await _deliver_endpoint(client, pool, tenant, endpoint_id, settings)


async def _deliver_endpoint(
    client: httpx.AsyncClient, pool: asyncpg.Pool, tenant: Tenant, endpoint_id: Any, settings: Settings
) -> DeliveryResult:
    result = DeliveryResult()
    while True:
        async with tenant_transaction(pool, tenant) as conn:
            ep = await conn.fetchrow(_CLAIM, endpoint_id, _lease_seconds(settings))
            if ep is None:
                return result
            patterns = sql_like_patterns(list(ep["event_types"]))
            rows = await conn.fetch(
                _NEXT_EVENTS,
                ep["cursor"],
                patterns,
                PAGE,
            )
            if not rows:
                # Caught up: skip what the patterns do not match, up to what this snapshot has positioned.
                await conn.execute(
                    """UPDATE webhook_endpoint SET lease_until = NULL,
                           cursor = greatest(cursor, (SELECT last_position FROM event_feed)) WHERE id = $1""",
                    endpoint_id,
                )
                return result
        secret = decrypt_secret(ep["secret_encrypted"], settings.secret_key)
        attempts, failing_since = ep["attempts"], ep["failing_since"]
        for row in rows:
            event = event_from_row(tenant.slug, row)
            body = _encode(event_json(event)).decode()
            answer = await send(client, settings, ep["url"], secret, str(event.id), body)
            attempt = attempts + 1
            async with tenant_transaction(pool, tenant) as conn:
                status, retry, disabled = await _record(
                    conn, settings, endpoint_id, event, attempt, answer, failing_since
                )
            if status == "retrying":
                if disabled:
                    result.disabled.append(ep["url"])
                    await _tell_administrators(pool, tenant, ep["url"])
                else:
                    result.retry_in = retry
                await _release(pool, tenant, endpoint_id)
                return result
            attempts = 0
            if status == "delivered":
                result.delivered += 1
                failing_since = None
            else:
                result.failed += 1
        await _release(pool, tenant, endpoint_id)


async def _release(pool: asyncpg.Pool, tenant: Tenant, endpoint_id: Any) -> None:
    async with tenant_transaction(pool, tenant) as conn:
        await conn.execute("UPDATE webhook_endpoint SET lease_until = NULL WHERE id = $1", endpoint_id)


async def _tell_administrators(pool: asyncpg.Pool, tenant: Tenant, url: str) -> None:
    """A trail entry the security-notice flush mails to every administrator of the tenant, once."""
    async with pool.acquire() as conn:
        await trail.record(
            conn,
            tenant.id,
            SYSTEM,
            AdminAction.WEBHOOK_DISABLED,
            f"disabled the webhook endpoint {url[:200]}: it kept failing; enable it again once it answers",
            changes=[trail.Change("enabled", "yes", "no")],
        )


async def deliver_tenant(pool: asyncpg.Pool, tenant: Tenant, settings: Settings) -> DeliveryResult:
    """Every due endpoint of the tenant, then the redeliveries an administrator asked for; then the tenant's
    `webhook_due` row is set to its next due moment (`due.settle`: a raise since this run began stays). A run
    that raises leaves the row as it was: still due, the next sweep queues the tenant again."""
    seen = await due.version(pool, tenant.id)
    async with tenant_transaction(pool, tenant) as conn:
        ids = [r["id"] for r in await conn.fetch("SELECT id FROM webhook_endpoint WHERE enabled ORDER BY id")]
    total = DeliveryResult()
    for endpoint_id in ids:
        total.add(await deliver_endpoint(pool, tenant, endpoint_id, settings))
    await redeliver_requested(pool, tenant, settings)
    await due.settle(pool, tenant, seen)
    return total


async def redeliver_requested(pool: asyncpg.Pool, tenant: Tenant, settings: Settings) -> int:
    """Send each event an administrator asked to redeliver once, and record the answer in its row."""
    async with tenant_transaction(pool, tenant) as conn:
        rows = await conn.fetch(_REDELIVERIES)
    for r in rows:
        event = event_from_row(tenant.slug, r)
        async with new_client(settings) as client:
            answer = await send(
                client,
                settings,
                r["url"],
                decrypt_secret(r["secret_encrypted"], settings.secret_key),
                str(event.id),
                _encode(event_json(event)).decode(),
            )
        async with tenant_transaction(pool, tenant) as conn:
            await conn.execute(
                """UPDATE webhook_delivery SET attempt = 1, attempted_at = now(), response_status = $2,
                       latency_ms = $3, error = $4, next_attempt_at = NULL WHERE id = $1""",
                r["delivery_id"],
                answer.status,
                answer.latency_ms,
                answer.error,
            )
    return len(rows)


async def tenants_with_endpoints(pool: asyncpg.Pool) -> list[int]:
    """Tenants whose schema has webhook endpoints (table statistics: the beat's sweep, cheap)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT schemaname FROM pg_catalog.pg_stat_user_tables
               WHERE relname = 'webhook_endpoint' AND n_live_tup > 0 AND schemaname LIKE 't\\_%'"""
        )
    return [int(r["schemaname"][2:]) for r in rows if r["schemaname"][2:].isdigit()]
