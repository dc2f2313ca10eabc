"""One asyncio loop and one database pool per worker process, shared by its tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from scimhub.settings import load_settings
from scimhub.tenancy.db import AppDatabase

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_db: AppDatabase | None = None


def run(job: Callable[[AppDatabase], Awaitable[T]]) -> T:
    """Run `job(database)` to completion on this process's loop (a Celery task body is synchronous)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
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
