"""The long-lived objects a web process holds (pool, token resolver, audit recorder, task publisher), built at
start-up."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from celery import Celery
from litestar.exceptions import TooManyRequestsException

from scimhub import tasks
from scimhub.audit.recorder import ActivityRecorder
from scimhub.events import due
from scimhub.http.throttle import Throttle
from scimhub.notify import service as notify_service
from scimhub.provisioning.context import Limits
from scimhub.provisioning.extensions import RegistryCache
from scimhub.provisioning.snapshots import Snapshots
from scimhub.queue import make_celery
from scimhub.settings import Settings
from scimhub.tenancy.db import AppDatabase
from scimhub.tenancy.fairness import default_share
from scimhub.tenancy.model import Tenant
from scimhub.tenancy.resolver import TokenResolver

log = logging.getLogger("scimhub.web")
_background: set[asyncio.Task[None]] = set()


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class TooManyTestMails(TooManyRequestsException):
    """The tenant sent its test mails for this hour. A 429 whose detail is the sentence to show; Retry-After."""

    def __init__(self, limit: int, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            detail=f"At most {limit} test mails per hour; try again in about {minutes} minute{'s' * (minutes > 1)}.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


@dataclass
class Services:
    settings: Settings
    db: AppDatabase
    resolver: TokenResolver
    limits: Limits
    recorder: ActivityRecorder
    celery: Celery
    throttle: Throttle
    # Each tenant's custom-attribute registry (issue #12), trusted for the token cache's TTL.
    schemas: RegistryCache = field(default_factory=RegistryCache)
    # The users this process last read or wrote, for a PATCH to start from (issue #13).
    snapshots: Snapshots = field(default_factory=Snapshots)
    # What "now" is for rules a request applies with the time (sign-in throttling); tests set the moment.
    clock: Callable[[], dt.datetime] = _utc_now

    @classmethod
    async def start(cls, settings: Settings) -> Services:
        db = await AppDatabase.open(
            settings.app_database_url,
            size=settings.db_pool_size,
            pool_mode=settings.app_database_pool_mode,
            tenant_share=settings.db_tenant_share or default_share(settings.db_pool_size),
            acquire_timeout=settings.db_acquire_timeout_seconds,
            statement_timeout=settings.statement_timeout_seconds or None,
            max_queries=settings.db_connection_max_queries,
            idle_seconds=settings.db_connection_idle_seconds,
        )
        celery = make_celery(settings)
        # The recorder calls this from a thread, at most once per nudge interval (never per request).
        recorder = ActivityRecorder(db.pool, db.install_id, lambda ids: tasks.enqueue_drain(celery, ids))
        recorder.start()
        return cls(
            celery=celery,
            settings=settings,
            db=db,
            resolver=TokenResolver(
                db.pool,
                db.install_id,
                ttl=settings.token_cache_seconds,
                per_second=settings.stranger_lookups_per_second,
                per_client=settings.stranger_lookups_per_client,
            ),
            throttle=Throttle(settings.redis_url),
            limits=Limits(
                max_page_size=settings.max_page_size,
                default_page_size=min(100, settings.max_page_size),
                max_patch_operations=settings.max_patch_operations,
                max_filter_length=settings.max_filter_length,
            ),
            recorder=recorder,
            schemas=RegistryCache(ttl=settings.token_cache_seconds),
        )

    async def send_test_mail(self, tenant: Tenant) -> uuid.UUID:
        """Queue a test notification to the tenant's recipients (the hub's and the API's "send a test mail").
        Raises TooManyTestMails past `test_mail_per_hour` per tenant (a 429 with Retry-After and a sentence
        for the administrator), tasks.QueueUnavailable when the broker cannot take it (the digest row stays
        'pending'; while notifications are on, the digest flush re-queues it after two minutes)."""
        limit = self.settings.test_mail_per_hour
        if limit:
            wait = await self.throttle.hit("test-mail", str(tenant.id), limit=limit, seconds=3600)
            if wait is not None:
                raise TooManyTestMails(limit, wait)
        digest_id = await notify_service.create_test_digest(self.db.pool, tenant)
        try:
            await asyncio.to_thread(tasks.enqueue_digest, self.celery, tenant.id, digest_id)
        except Exception as exc:  # kombu and redis raise many kinds; the caller needs only this one
            raise tasks.QueueUnavailable("the mail queue is unavailable") from exc
        return digest_id

    def nudge_notices(self) -> None:
        """Queue the security-notice flush from a thread, without waiting for it: a hung broker never holds up
        an answer, and a lost nudge only delays the mail until beat's flush."""
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._publish_notice_flush))
        _background.add(task)
        task.add_done_callback(_background.discard)

    def _publish_notice_flush(self) -> None:
        try:
            tasks.enqueue_notice_flush(self.celery)
        except Exception:  # noqa: BLE001 - kombu and redis raise many kinds; beat's flush sends the notice later
            log.warning("could not queue the security-notice flush; beat's flush will send it")

    async def nudge_webhooks(self, tenant_id: int) -> None:
        """Mark the tenant's webhooks due (`events.due`: what the beat's 5-second webhook sweep reads, so a lost
        nudge costs seconds) and queue its delivery from a thread."""
        await due.mark_due(self.db.pool, [tenant_id])
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self._publish_webhooks, tenant_id))
        _background.add(task)
        task.add_done_callback(_background.discard)

    def _publish_webhooks(self, tenant_id: int) -> None:
        try:
            tasks.enqueue_webhooks(self.celery, tenant_id)
        except Exception:  # noqa: BLE001 - kombu and redis raise many kinds; beat's sweep delivers later
            log.warning("could not queue a webhook delivery; beat's webhook sweep will send it")

    async def stop(self) -> None:
        await self.recorder.stop()
        await self.db.close()
