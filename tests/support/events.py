"""Activity events for tests, written as the web process's recorder writes them."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg

from scimhub.audit.events import ActivityEvent, encode_event
from scimhub.audit.outbox import log_encoded
from scimhub.audit.vocabulary import Operation, Outcome
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.transaction import tenant_transaction


def failure(at: dt.datetime, *, status: int = 409, repeat: int = 1) -> ActivityEvent:
    """A failed create received at `at` that counts toward the digest (a 401 is an authentication failure)."""
    auth = status == 401
    return ActivityEvent(
        event_id=str(uuid.uuid4()),
        received_at=at.isoformat(),
        duration_ms=1.0,
        request_id=uuid.uuid4().hex,
        client_ip=None,
        user_agent=None,
        method="POST",
        path="/scim/v2/x/Users",
        operation=Operation.AUTHENTICATION_FAILED if auth else Operation.CREATE_USER,
        resource_type=None if auth else "User",
        status=status,
        outcome=Outcome.FAILURE if auth else Outcome.CONFLICT,
        error_type="unauthorized" if auth else "uniqueness",
        repeat=repeat,
        notify=True,
    )


async def record(pool: asyncpg.Pool, tenant: Tenant, *events: ActivityEvent) -> None:
    """Into the tenant's activity log, with the digest bookkeeping in the same statement (as a flush does)."""
    async with tenant_transaction(pool, tenant) as conn:
        await log_encoded(conn, [encode_event(e) for e in events])
