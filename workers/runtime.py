"""One asyncio loop and one database pool per worker process, shared by its tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from scimhub.settings import load_settings
from scimhub.tenancy.db import AppDatabase

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_db: AppDatabase | None = None


def run(coro: Coroutine[Any, Any, T]) -> T:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


async def database() -> AppDatabase:
    global _db
    if _db is None:
        _db = await AppDatabase.open(load_settings().database_url, size=2)
    return _db
