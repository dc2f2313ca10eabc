"""One asyncio loop and one database pool per worker process, shared by its tasks.

The loop is uvloop's, as in the web process (granian `--loop uvloop`): a drain task is a few dozen database
round trips (a tenant transaction per tenant, then the change sequencer's), and with the stdlib loop's Python
transport code the worker took 41-55 us of CPU per answered request under the Entra mix, 38-41 with uvloop
(3 alternated 12 s runs at c=64, issue #13)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import uvloop

from scimhub.settings import load_settings
from scimhub.tenancy.db import AppDatabase

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_db: AppDatabase | None = None


def run(job: Callable[[AppDatabase], Awaitable[T]]) -> T:
    """Run `job(database)` to completion on this process's loop (a Celery task body is synchronous)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = uvloop.new_event_loop()
    return _loop.run_until_complete(_with_database(job))


async def _with_database(job: Callable[[AppDatabase], Awaitable[T]]) -> T:
    global _db
    if _db is None:
        settings = load_settings()
        _db = await AppDatabase.open(
            settings.app_database_url,
            size=2,
            pool_mode=settings.app_database_pool_mode,
            max_queries=settings.db_connection_max_queries,
            idle_seconds=settings.db_connection_idle_seconds,
        )
    return await job(_db)
