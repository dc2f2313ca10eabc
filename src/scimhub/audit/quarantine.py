"""One bad event never holds up another: finding the events PostgreSQL refuses and setting them aside.

A batch of events (the web buffer's, or an outbox batch) is written with one statement. When PostgreSQL
refuses it for what an event *holds* (`refused_by_data`: a data exception of SQLSTATE class 22 such as NUL or
a value its column cannot cast, an index row too large, a missing NOT NULL value, or text Python cannot
encode), `isolate` retries halves of the batch under savepoints until each refused event stands alone; the
others are written in the same transaction. `quarantine` then writes each refused event's sanitised form
(`audit.sanitise.sanitise`, same event id) into the activity log, where the administrator sees it on time,
and keeps the event as it was, byte for byte, with the error's class in the tenant's `activity_quarantine`
(why: the log entry is what happened; the original is the evidence of what made PostgreSQL refuse it, for
the operator, and it follows the tenant's retention and leaves with its schema).

Any other error (PostgreSQL down, a table that refuses every row, a permission) is about the tenant or the
database, not the event: it propagates, and the caller keeps the events for a later try while other tenants
go on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import asyncpg
import msgspec

from scimhub.audit.sanitise import sanitise
from scimhub.tenancy.db import Connection

T = TypeVar("T")
MAX_KEPT = 65_536  # bytes of a refused event kept in the quarantine (bodies are already cut at 16 KiB each)

# SQLSTATEs outside class 22 that still mean "this event's content", not "this tenant's table".
_EVENT_STATES = frozenset({"54000", "23502"})  # program_limit_exceeded (index row size), not_null_violation


def refused_by_data(exc: BaseException) -> bool:
    """Whether PostgreSQL (or the encoding before it) refused a statement for the data it was given."""
    if isinstance(exc, (UnicodeError, msgspec.EncodeError)):
        return True
    if isinstance(exc, asyncpg.DataError):  # class 22, also asyncpg's own "invalid input for query argument"
        return True
    return isinstance(exc, asyncpg.PostgresError) and getattr(exc, "sqlstate", None) in _EVENT_STATES


async def isolate(
    conn: Connection, items: Sequence[T], write: Callable[[Connection, Sequence[T]], Awaitable[object]]
) -> list[tuple[T, BaseException]]:
    """Write `items` with `write` inside the caller's open transaction, halving any part PostgreSQL refuses for
    its data until each refused item stands alone; returns those with their errors. Everything else is
    written. Other errors propagate. Costs two statements per batch with no bad item, about 2 log2(n) more
    per bad item; an explicit stack, so no recursion however large the batch."""
    refused: list[tuple[T, BaseException]] = []
    stack: list[Sequence[T]] = [items]
    while stack:
        part = stack.pop()
        if not part:
            continue
        await conn.execute("SAVEPOINT isolate")
        try:
            await write(conn, part)
        except Exception as exc:
            if not refused_by_data(exc):
                raise
            await conn.execute("ROLLBACK TO SAVEPOINT isolate; RELEASE SAVEPOINT isolate")
            if len(part) == 1:
                refused.append((part[0], exc))
            else:
                mid = len(part) // 2
                stack.extend((part[mid:], part[:mid]))  # the first half is tried first
        else:
            await conn.execute("RELEASE SAVEPOINT isolate")
    return refused


@dataclass
class Quarantined:
    quarantined: int = 0  # refused as they were: kept in activity_quarantine
    sanitised: int = 0  # of those, written to the activity log in sanitised form

    def add(self, other: Quarantined) -> None:
        self.quarantined += other.quarantined
        self.sanitised += other.sanitised


_KEEP = """INSERT INTO activity_quarantine (stage, error_class, event_id, logged, event)
VALUES ($1, $2, $3::text::uuid, $4, $5)"""


async def quarantine(
    conn: Connection,
    refused: Sequence[tuple[bytes, BaseException]],
    *,
    stage: str,
    log: Callable[[Connection, Sequence[bytes]], Awaitable[object]],
) -> Quarantined:
    """For each refused event (inside the caller's transaction): its sanitised form into the log with `log`,
    and the original with its error class into `activity_quarantine`."""
    done = Quarantined()
    for raw, exc in refused:
        clean = sanitise(raw)
        logged = await isolate(conn, [clean], log) == []
        event_id = msgspec.json.decode(clean)["event_id"]
        await conn.execute(_KEEP, stage, type(exc).__name__, event_id, logged, raw[:MAX_KEPT])
        done.quarantined += 1
        done.sanitised += logged
    return done
