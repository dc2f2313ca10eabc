"""Writing events into a tenant's outbox (always inside `tenant_transaction`)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from scimhub.audit.events import ActivityEvent, encode_event

_INSERT_ONE = "INSERT INTO audit_outbox (event) VALUES ($1::text::jsonb)"
_INSERT_MANY = "INSERT INTO audit_outbox (event) SELECT e::jsonb FROM unnest($1::text[]) AS e"


async def add_event(conn: asyncpg.Connection, event: ActivityEvent) -> None:
    await conn.execute(_INSERT_ONE, encode_event(event).decode())


async def add_encoded(conn: asyncpg.Connection, events: Sequence[bytes]) -> None:
    await conn.execute(_INSERT_MANY, [e.decode() for e in events])


async def add_event_text(conn: asyncpg.Connection, event: str) -> None:
    await conn.execute(_INSERT_ONE, event)
