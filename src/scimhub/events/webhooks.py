"""Webhook endpoints of a tenant (inside its transaction): add, list, remove, rotate the signing secret,
and their deliveries. One home for the CLI, the admin API and the hub.

The signing secret (`whsec_` + base64 of 24 random bytes, Standard Webhooks) is returned once, at creation
or rotation, and stored encrypted (Fernet, key derived from SCIMHUB_SECRET_KEY, as the OIDC client secret):
the worker must decrypt it to sign. It is never logged, listed or put in the trail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import uuid

import msgspec
from cryptography.fernet import Fernet, InvalidToken

from scimhub.events.targets import check_url
from scimhub.events.vocabulary import parse_patterns
from scimhub.tenancy.db import Connection, fetch_one

MAX_ENDPOINTS = 20  # per tenant


class WebhookError(ValueError):
    """A webhook action that cannot be done (unknown id, too many endpoints); the message says why."""


class EndpointNotFound(WebhookError):
    """No endpoint of this tenant has that id (404)."""


class Endpoint(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    url: str
    events: list[str]
    enabled: bool
    cursor: int
    attempts: int
    next_attempt_at: dt.datetime | None
    failing_since: dt.datetime | None
    disabled_at: dt.datetime | None
    created_at: dt.datetime


class CreatedEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    endpoint: Endpoint
    secret: str  # shown once


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    endpoint_id: uuid.UUID
    position: int
    event_id: uuid.UUID
    attempt: int
    attempted_at: dt.datetime
    status: str
    response_status: int | None
    latency_ms: float | None
    error: str | None
    next_attempt_at: dt.datetime | None


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"scimhub-webhook:" + secret_key.encode()).digest()))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def encrypt_secret(secret: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(token: str, secret_key: str) -> str:
    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken:
        raise WebhookError("the endpoint's secret cannot be read with this SCIMHUB_SECRET_KEY: rotate it") from None


_COLUMNS = (
    "id, url, event_types AS events, enabled, cursor, attempts, next_attempt_at, failing_since, disabled_at, created_at"
)

_INSERT = f"""INSERT INTO webhook_endpoint (id, url, event_types, secret_encrypted, cursor)
    VALUES ($1, $2, $3, $4, (SELECT last_position FROM event_feed)) RETURNING {_COLUMNS}"""  # noqa: S608 - a fixed column list
_LIST = f"SELECT {_COLUMNS} FROM webhook_endpoint ORDER BY created_at, id"  # noqa: S608 - a fixed column list
_GET = f"SELECT {_COLUMNS} FROM webhook_endpoint WHERE id = $1"  # noqa: S608 - a fixed column list
_ROTATE = f"UPDATE webhook_endpoint SET secret_encrypted = $2 WHERE id = $1 RETURNING {_COLUMNS}"  # noqa: S608 - a fixed column list
_ENABLE = f"""UPDATE webhook_endpoint SET enabled = true, disabled_at = NULL, failing_since = NULL, attempts = 0,
    next_attempt_at = NULL WHERE id = $1 RETURNING {_COLUMNS}"""  # noqa: S608 - a fixed column list


async def add_endpoint(
    conn: Connection, url: str, events: str | None, *, secret_key: str, allow_private: bool
) -> CreatedEndpoint:
    """A new endpoint; it receives the events positioned after this moment."""
    check_url(url, allow_private=allow_private)
    patterns = parse_patterns(events)
    if await conn.fetchval("SELECT count(*) FROM webhook_endpoint") >= MAX_ENDPOINTS:
        raise WebhookError(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints")
    secret = new_secret()
    row = await fetch_one(
        conn,
        _INSERT,
        uuid.uuid4(),
        url,
        patterns,
        encrypt_secret(secret, secret_key),
    )
    return CreatedEndpoint(endpoint=Endpoint(**dict(row)), secret=secret)


async def list_endpoints(conn: Connection) -> list[Endpoint]:
    rows = await conn.fetch(_LIST)
    return [Endpoint(**dict(r)) for r in rows]


def parse_endpoint_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise WebhookError(f"{raw[:40]!r} is not a webhook endpoint id") from None


async def get_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> Endpoint:
    row = await conn.fetchrow(_GET, endpoint_id)
    if row is None:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return Endpoint(**dict(row))


async def remove_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> Endpoint:
    endpoint = await get_endpoint(conn, endpoint_id)
    await conn.execute("DELETE FROM webhook_endpoint WHERE id = $1", endpoint_id)
    return endpoint


async def rotate_secret(conn: Connection, endpoint_id: uuid.UUID, *, secret_key: str) -> CreatedEndpoint:
    """A new signing secret, effective for the next delivery (the old one stops at once)."""
    secret = new_secret()
    row = await conn.fetchrow(
        _ROTATE,
        endpoint_id,
        encrypt_secret(secret, secret_key),
    )
    if row is None:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return CreatedEndpoint(endpoint=Endpoint(**dict(row)), secret=secret)


async def enable_endpoint(conn: Connection, endpoint_id: uuid.UUID) -> Endpoint:
    """Switch a disabled endpoint on again; it resumes where it stopped."""
    row = await conn.fetchrow(
        _ENABLE,
        endpoint_id,
    )
    if row is None:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return Endpoint(**dict(row))


async def list_deliveries(conn: Connection, endpoint_id: uuid.UUID, *, limit: int = 50) -> list[Delivery]:
    rows = await conn.fetch(
        """SELECT id, endpoint_id, position, event_id, attempt, attempted_at, status, response_status, latency_ms,
                  error, next_attempt_at
           FROM webhook_delivery WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2""",
        endpoint_id,
        limit,
    )
    return [Delivery(**dict(r)) for r in rows]


async def request_redelivery(conn: Connection, endpoint_id: uuid.UUID, position: int) -> None:
    """Send one event again (out of order, at once, outside the endpoint's cursor): a row the delivery task
    picks up (`redeliver`)."""
    await get_endpoint(conn, endpoint_id)
    found = await conn.fetchval("SELECT event_id FROM event_log WHERE position = $1", position)
    if found is None:
        raise WebhookError(f"no event at position {position} (past the retention?)")
    await conn.execute(
        """INSERT INTO webhook_delivery (endpoint_id, position, event_id, attempt, status, next_attempt_at)
           VALUES ($1, $2, $3, 0, 'redelivered', now())""",
        endpoint_id,
        position,
        found,
    )
