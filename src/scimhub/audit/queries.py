"""Reading a tenant's activity log (inside `tenant_transaction`): newest first, filtered, keyset-paged.

The operator CLI, the admin hub and its JSON API all read through here, and get `ActivityEntry` values.
The filter and the page cursor (`ActivityFilter`, `Cursor`) are defined, and read from what people type,
in `audit.activity_filter`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
from piccolo.query import WhereRaw

from scimhub.audit.activity_filter import ActivityFilter, Cursor
from scimhub.audit.vocabulary import PROBLEMS, Outcome
from scimhub.store.filter_sql import escape_like
from scimhub.store.tables import ActivityHourly, ActivityLog, fetch
from scimhub.tenancy.db import Connection, fetch_one


class ActivityEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the activity log. The bodies are read only for the detail view (`get_entry`)."""

    event_id: uuid.UUID
    received_at: dt.datetime
    duration_ms: float | None
    request_id: str | None
    method: str
    path: str
    operation: str
    resource_type: str | None
    resource_id: str | None
    target: str | None
    status: int
    outcome: str
    error_type: str | None
    error_detail: str | None
    changed: list[str]
    rewrites: list[str]
    repeat: int
    client_ip: str | None
    user_agent: str | None
    request_body: str | None = None
    response_body: str | None = None


class HourlyCount(msgspec.Struct, frozen=True):
    hour: dt.datetime
    outcome: str
    n: int


class ActivitySummary(msgspec.Struct, frozen=True, kw_only=True):
    """The overview page's figures."""

    last_request_at: dt.datetime | None
    last_success_at: dt.datetime | None
    last_failure_at: dt.datetime | None
    problems_24h: int  # requests that count toward the failure mail, last 24 hours


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
    if f.outcome == PROBLEMS:
        where.append(ActivityLog.outcome != Outcome.SUCCESS.value)
    elif f.outcome:
        where.append(ActivityLog.outcome == f.outcome)
    if f.operation:
        where.append(ActivityLog.operation == f.operation)
    if f.resource_type:
        where.append(ActivityLog.resource_type == f.resource_type)
    if f.text:
        text = f.text.strip()
        like = escape_like(text.lower()) + "%"
        # lower(target) LIKE 'prefix%' uses the text_pattern_ops index on lower(target).
        where.append(WhereRaw("(lower(target) LIKE {} OR resource_id = {} OR request_id = {})", like, text, text))
    return where


async def list_activity(
    conn: Connection, f: ActivityFilter, *, limit: int = 50, after: Cursor | None = None, details: bool = False
) -> tuple[list[ActivityEntry], Cursor | None]:
    """A page of entries, newest first, and the cursor of the next page (None on the last)."""
    query = ActivityLog.select(*_SUMMARY, *(_BODIES if details else ()))
    for condition in _conditions(f):
        query = query.where(condition)
    if after is not None:
        # (received_at, event_id) < cursor, written so the (received_at DESC, event_id DESC) index serves it.
        query = query.where(WhereRaw("(received_at, event_id) < ({}, {})", after.received_at, after.event_id))
    query = query.order_by(ActivityLog.received_at, ActivityLog.event_id, ascending=False).limit(limit + 1)
    rows = await fetch(conn, query)
    items = [ActivityEntry(**r) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = items[-1]
        cursor = Cursor(last.received_at, last.event_id)
    return items, cursor


async def get_entry(conn: Connection, event_id: uuid.UUID) -> ActivityEntry | None:
    rows = await fetch(conn, ActivityLog.select(*_SUMMARY, *_BODIES).where(ActivityLog.event_id == event_id))
    return ActivityEntry(**rows[0]) if rows else None


async def activity_histogram_rollup(
    conn: Connection, since: dt.datetime, until: dt.datetime, outcome: str | None
) -> list[HourlyCount]:
    """Hourly counts by outcome from the rollup the drain maintains (fast at any log size)."""
    query = ActivityHourly.select(ActivityHourly.hour, ActivityHourly.outcome, ActivityHourly.n).where(
        ActivityHourly.hour >= since.replace(minute=0, second=0, microsecond=0), ActivityHourly.hour < until
    )
    if outcome == PROBLEMS:
        query = query.where(ActivityHourly.outcome != Outcome.SUCCESS.value)
    elif outcome:
        query = query.where(ActivityHourly.outcome == outcome)
    rows = await fetch(conn, query.order_by(ActivityHourly.hour))
    return [HourlyCount(r["hour"], r["outcome"], r["n"]) for r in rows]


async def activity_summary(conn: Connection) -> ActivitySummary:
    row = await fetch_one(
        conn,
        """SELECT (SELECT max(received_at) FROM activity_log) AS last_request_at,
                  (SELECT max(received_at) FROM activity_log WHERE outcome = $1) AS last_success_at,
                  (SELECT max(received_at) FROM activity_log WHERE outcome = $2) AS last_failure_at,
                  (SELECT coalesce(sum(repeat), 0) FROM activity_log
                    WHERE outcome <> $1 AND notify AND received_at > now() - interval '24 hours') AS problems_24h""",
        Outcome.SUCCESS.value,
        Outcome.FAILURE.value,
    )
    return ActivitySummary(**row)
