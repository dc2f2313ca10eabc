"""Writing events into a tenant's outbox or straight into its log (always inside `tenant_transaction`)."""

from __future__ import annotations

from collections.abc import Sequence

from scimhub.audit.drain import INSERT_EVENTS
from scimhub.tenancy.db import Connection

_INSERT_ONE = "INSERT INTO audit_outbox (event) VALUES ($1::text::jsonb)"


async def log_encoded(conn: Connection, events: Sequence[bytes]) -> None:
    """Buffered events straight into the activity log (idempotent by event id), with the digest bookkeeping."""
    await conn.execute(INSERT_EVENTS, [e.decode() for e in events])


async def add_event_text(conn: Connection, event: str) -> None:
    await conn.execute(_INSERT_ONE, event)
