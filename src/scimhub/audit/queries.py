"""Reading a tenant's activity log (inside `tenant_transaction`): newest first, filtered, keyset-paged.

The operator CLI, the admin hub and its JSON API all read through here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import msgspec

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


_FIELDS = (
    "event_id, received_at, duration_ms, request_id, client_ip, user_agent, method, path, operation, "
    "resource_type, resource_id, target, status, outcome, error_type, error_detail, changed, rewrites, repeat"
)


def _where(f: ActivityFilter, params: list[Any]) -> str:
    clauses = []

    def p(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if f.since is not None:
        clauses.append(f"received_at >= {p(f.since)}")
    if f.until is not None:
        clauses.append(f"received_at < {p(f.until)}")
    if f.outcome == "problems":
        clauses.append("outcome <> 'success'")
    elif f.outcome:
        clauses.append(f"outcome = {p(f.outcome)}")
    if f.operation:
        clauses.append(f"operation = {p(f.operation)}")
    if f.resource_type:
        clauses.append(f"resource_type = {p(f.resource_type)}")
    if f.text:
        text = f.text.strip()
        like = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clauses.append(f"(lower(target) LIKE {p(like)} OR resource_id = {p(text)} OR request_id = {p(text)})")
    return " AND ".join(clauses) or "true"


async def list_activity(conn: asyncpg.Connection, f: ActivityFilter, *, limit: int = 50,
                        after: Cursor | None = None, details: bool = False) -> tuple[list[dict[str, Any]], Cursor | None]:
    """A page of entries, newest first, and the cursor of the next page (None on the last)."""
    params: list[Any] = []
    where = _where(f, params)
    if after is not None:
        params.extend([after.received_at, after.event_id])
        where += f" AND (received_at, event_id) < (${len(params) - 1}, ${len(params)})"
    params.append(limit + 1)
    fields = _FIELDS + (", request_body, response_body" if details else "")
    rows = await conn.fetch(
        f"SELECT {fields} FROM activity_log WHERE {where} "  # noqa: S608 - only placeholders interpolated
        f"ORDER BY received_at DESC, event_id DESC LIMIT ${len(params)}",
        *params,
    )
    items = [dict(r) for r in rows[:limit]]
    cursor = None
    if len(rows) > limit:
        last = items[-1]
        cursor = Cursor(last["received_at"], last["event_id"])
    return items, cursor


async def get_entry(conn: asyncpg.Connection, event_id: uuid.UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_FIELDS}, request_body, response_body FROM activity_log WHERE event_id = $1",
                              event_id)
    return dict(row) if row is not None else None


async def activity_histogram(conn: asyncpg.Connection, f: ActivityFilter, *, bucket: str) -> list[dict[str, Any]]:
    """Requests per hour or day, split by outcome, for the chart."""
    assert bucket in {"hour", "day"}
    params: list[Any] = []
    where = _where(f, params)
    rows = await conn.fetch(
        f"SELECT date_trunc('{bucket}', received_at) AS bucket, outcome, sum(repeat)::bigint AS n "  # noqa: S608
        f"FROM activity_log WHERE {where} GROUP BY 1, 2 ORDER BY 1",
        *params,
    )
    return [dict(r) for r in rows]


async def activity_histogram_rollup(conn: asyncpg.Connection, since: dt.datetime, until: dt.datetime,
                                    outcome: str | None) -> list[dict[str, Any]]:
    """Hourly counts by outcome from the rollup the drain maintains (fast at any log size)."""
    params: list[Any] = [since.replace(minute=0, second=0, microsecond=0), until]
    where = "hour >= $1 AND hour < $2"
    if outcome == "problems":
        where += " AND outcome <> 'success'"
    elif outcome:
        params.append(outcome)
        where += " AND outcome = $3"
    rows = await conn.fetch(f"SELECT hour, outcome, n FROM activity_hourly WHERE {where} ORDER BY hour", *params)  # noqa: S608
    return [dict(r) for r in rows]
