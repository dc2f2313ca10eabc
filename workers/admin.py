"""Admin hub housekeeping: expired sign-in sessions (`scimhub.admins`)."""

from __future__ import annotations

from scimhub import admins, tasks
from scimhub.tenancy.db import TRANSIENT_ERRORS, AppDatabase
from workers.celery_app import app
from workers.runtime import run


async def _purge_sessions(db: AppDatabase) -> int:
    async with db.pool.acquire() as conn:
        return await admins.purge_expired_sessions(conn)


@app.task(name=tasks.PURGE_SESSIONS.name, autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, max_retries=3)
def purge_sessions() -> int:
    return run(_purge_sessions)
