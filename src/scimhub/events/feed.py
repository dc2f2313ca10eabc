"""Reading a tenant's feed with a cursor (inside a tenant transaction): the CLI, the admin API and the
host application's API all call `read_feed`.

A cursor is the position of the last event the reader has processed (`0`, or none, reads from the oldest
kept event). Positions only grow and are handed out in visibility order (`events.sequencer`), so reading
`position > cursor ORDER BY position` never misses an event and never shows one twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from scimhub.tenancy.db import Connection, fetch_one

MAX_LIMIT = 1000


class FeedEvent(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    position: int
    type: str
    tenant: str
    resource_type: str
    resource_id: str
    occurred_at: dt.datetime
    request_id: str | None
    data: dict[str, Any]


class FeedPage(msgspec.Struct, frozen=True, kw_only=True):
    events: list[FeedEvent]
    cursor: str  # pass it as `after` to read on (the last event's position, or the cursor given)
    has_more: bool


class CursorRejected(ValueError):
    """A cursor that is not a position of this feed (400)."""


class CursorExpired(CursorRejected):
    """A cursor older than the retention: events after it were purged (410). Start again from a fresh load."""


def parse_cursor(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit() or len(raw) > 18:
        raise CursorRejected(f"cursor {raw[:40]!r} is not a feed position (a whole number the feed returned)")
    return int(raw)


def event_from_row(slug: str, r: Any) -> FeedEvent:
    return FeedEvent(
        id=r["event_id"],
        position=r["position"],
        type=r["type"],
        tenant=slug,
        resource_type=r["resource_type"],
        resource_id=r["resource_id"],
        occurred_at=r["occurred_at"],
        request_id=r["request_id"],
        data=r["data"],
    )


EVENT_COLUMNS = "position, event_id, type, resource_type, resource_id, occurred_at, request_id, data"
_PAGE = f"SELECT {EVENT_COLUMNS} FROM event_log WHERE position > $1 ORDER BY position LIMIT $2"  # noqa: S608 - constants


async def read_feed(conn: Connection, slug: str, after: str | None, limit: int) -> FeedPage:
    """Events after the cursor, oldest first. CursorExpired when the retention purge removed events after
    it; CursorRejected for a cursor the feed never handed out (ahead of the last position)."""
    if not 1 <= limit <= MAX_LIMIT:
        raise CursorRejected(f"limit must be between 1 and {MAX_LIMIT}")
    cursor = parse_cursor(after)
    state = await fetch_one(conn, "SELECT last_position, purged_through FROM event_feed")
    if cursor > state["last_position"]:
        raise CursorRejected(f"cursor {cursor} is ahead of this feed (its last position is {state['last_position']})")
    if after not in (None, "") and cursor < state["purged_through"]:
        raise CursorExpired(
            f"cursor {cursor} has expired: events up to position {state['purged_through']} are past the "
            "retention and were removed; load the directory again and follow the feed from its latest cursor"
        )
    rows = await conn.fetch(_PAGE, cursor, limit + 1)
    events = [event_from_row(slug, r) for r in rows[:limit]]
    return FeedPage(events=events, cursor=str(events[-1].position if events else cursor), has_more=len(rows) > limit)


def event_json(e: FeedEvent) -> dict[str, Any]:
    """An event as the feed, the CLI and webhooks send it (Standard Webhooks payload: `type`, `timestamp`,
    `data`, plus the event's id, position, tenant and resource)."""
    return {
        "id": str(e.id),
        "type": e.type,
        "timestamp": e.occurred_at.isoformat(),
        "position": e.position,
        "tenant": e.tenant,
        "resource_type": e.resource_type,
        "resource_id": e.resource_id,
        "request_id": e.request_id,
        "data": e.data,
    }
