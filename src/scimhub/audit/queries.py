"""Reading a tenant's activity log (inside `tenant_transaction`): newest first, filtered, keyset-paged.

The operator CLI, the admin hub and its JSON API all read through here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec
from piccolo.query import WhereRaw

from scimhub.store.tables import ActivityHourly, ActivityLog, fetch

OUTCOMES = ("success", "failure", "not found", "conflict")


class ActivityFilter(msgspec.Struct, kw_only=True, frozen=True):
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: str | None = None  # one of OUTCOMES, or "problems" for everything but success
    operation: str | None = None
    resource_type: str | None = None
    text: str | None = None  # userName / displayName prefix, or a resource id, or a request id


class Cursor(msgspec.Struct, frozen=True):
    received_at: dt.datetime
    event_id: uuid.UUID


_SUMMARY = (
    ActivityLog.event_id,
    ActivityLog.received_at,
    ActivityLog.duration_ms,
    ActivityLog.request_id,
    ActivityLog.client_ip,
    ActivityLog.user_agent,
    ActivityLog.method,
    ActivityLog.path,
    ActivityLog.operation,
    ActivityLog.resource_type,
    ActivityLog.resource_id,
    ActivityLog.target,
    ActivityLog.status,
    ActivityLog.outcome,
    ActivityLog.error_type,
    ActivityLog.error_detail,
    ActivityLog.changed,
    ActivityLog.rewrites,
    ActivityLog.repeat,
)
_BODIES = (ActivityLog.request_body, ActivityLog.response_body)


def _conditions(f: ActivityFilter) -> list[Any]:
    """Piccolo WHERE clauses for the filter; each served by an index of migrations m0002/m0004."""
    where: list[Any] = []
    if f.since is not None:
        where.append(ActivityLog.received_at >= f.since)
    if f.until is not None:
        where.append(ActivityLog.received_at < f.until)
    if f.outcome == "problems":
        where.append(ActivityLog.outcome != "success")
    elif f.outcome:
        where.append(ActivityLog.outcome == f.outcome)
    if f.operation:
        where.append(ActivityLog.operation == f.operation)
    if f.resource_type:
        where.append(ActivityLog.resource_type == f.resource_type)
    if f.text:
        text = f.text.strip()
        like = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        # lower(target) LIKE 'prefix%' uses the text_pattern_ops index on lower(target).
        where.append(WhereRaw("(lower(target) LIKE {} OR resource_id = {} OR request_id = {})", like, text, text))
    return where


async def list_activity(
    conn: asyncpg.Connection, f: ActivityFilter, *, limit: int = 50, after: Cursor | None = None, details: bool = False
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """A page of entries, newest first, and the cursor of the next page (None on the last)."""
    query = ActivityLog.select(*_SUMMARY, *(_BODIES if details else ()))
    for condition in _conditions(f):
        query = query.where(condition)
    if after is not None:
        # (received_at, event_id) < cursor, written so the (received_at DESC, event_id DESC) index serves it.
        query = query.where(WhereRaw("(received_at, event_id) < ({}, {})", after.received_at, after.event_id))
    query = query.order_by(ActivityLog.received_at, ActivityLog.event_id, ascending=False).limit(limit + 1)
    rows = await fetch(conn, query)
    items = [dict(r) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = items[-1]
        cursor = Cursor(last["received_at"], last["event_id"])
    return items, cursor


async def get_entry(conn: asyncpg.Connection, event_id: uuid.UUID) -> dict[str, Any] | None:
    rows = await fetch(conn, ActivityLog.select(*_SUMMARY, *_BODIES).where(ActivityLog.event_id == event_id))
    return dict(rows[0]) if rows else None


async def activity_histogram_rollup(
    conn: asyncpg.Connection, since: dt.datetime, until: dt.datetime, outcome: str | None
) -> list[dict[str, Any]]:
    """Hourly counts by outcome from the rollup the drain maintains (fast at any log size)."""
    query = ActivityHourly.select(ActivityHourly.hour, ActivityHourly.outcome, ActivityHourly.n).where(
        ActivityHourly.hour >= since.replace(minute=0, second=0, microsecond=0), ActivityHourly.hour < until
    )
    if outcome == "problems":
        query = query.where(ActivityHourly.outcome != "success")
    elif outcome:
        query = query.where(ActivityHourly.outcome == outcome)
    return [dict(r) for r in await fetch(conn, query.order_by(ActivityHourly.hour))]
