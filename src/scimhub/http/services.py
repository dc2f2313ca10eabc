"""The long-lived objects a web process holds (pool, token resolver, audit recorder), built at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scimhub.audit.recorder import ActivityRecorder
from scimhub.provisioning.context import Limits
from scimhub.queue import make_celery
from scimhub.settings import Settings
from scimhub.tenancy.db import AppDatabase
from scimhub.tenancy.resolver import TokenResolver


@dataclass
class Services:
    settings: Settings
    db: AppDatabase
    resolver: TokenResolver
    limits: Limits
    recorder: ActivityRecorder
    celery: Any = None

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = await AppDatabase.open(settings.database_url, size=settings.db_pool_size)
        celery = make_celery(settings)

        def nudge(tenant_ids: list[int]) -> None:
            celery.send_task("audit.drain", args=[tenant_ids], queue="audit")

        recorder = ActivityRecorder(db.pool, db.install_id, nudge)
        recorder.start()
        return cls(
            celery=celery,
            settings=settings,
            db=db,
            resolver=TokenResolver(db.pool, db.install_id, ttl=settings.token_cache_seconds),
            limits=Limits(
                max_page_size=settings.max_page_size,
                default_page_size=min(100, settings.max_page_size),
                max_patch_operations=settings.max_patch_operations,
                max_filter_length=settings.max_filter_length,
            ),
            recorder=recorder,
        )

    def publish(self, task: str, args: list[Any], queue: str) -> None:
        """Publish a Celery task (blocking: call from a thread)."""
        self.celery.send_task(task, args=args, queue=queue)

    async def stop(self) -> None:
        await self.recorder.stop()
        await self.db.close()
