"""A pool of the app login of the tests' own size and mode, closed when the block ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from scimhub.http.services import Services
from scimhub.tenancy.db import AppDatabase


@asynccontextmanager
async def app_pool(services: Services, **options: Any) -> AsyncIterator[asyncpg.Pool]:
    """`AppDatabase.open(..., **options)` on the test installation's app login."""
    db = await AppDatabase.open(services.settings.app_database_url, **options)
    try:
        yield db.pool
    finally:
        await db.close()
