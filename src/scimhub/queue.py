"""The Celery application's configuration, shared by the workers and by the web process's publisher.

DESIGN.md: late acks and idempotent tasks; socket timeouts on every broker call so a hung Redis can never
block a publisher or a worker forever.
"""

from __future__ import annotations

from celery import Celery

from scimhub.settings import Settings

BEAT_SCHEDULE = {
    "audit-sweep": {"task": "audit.sweep", "schedule": 3.0, "kwargs": {"full": False}},
    "audit-sweep-full": {"task": "audit.sweep", "schedule": 60.0, "kwargs": {"full": True}},
    "audit-purge": {"task": "audit.purge", "schedule": 3600.0},
}


def make_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    app = Celery("scimhub", broker=settings.redis_url, include=include or [])
    app.conf.update(
        task_acks_late=True,  # a task whose worker dies is redelivered (every task is idempotent)
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=120,
        task_soft_time_limit=100,
        task_ignore_result=True,
        task_default_queue="audit",
        task_routes={"audit.*": {"queue": "audit"}, "email.*": {"queue": "email"}},
        task_publish_retry=False,  # the web never waits on a broken broker; the beat sweep covers it
        broker_connection_timeout=2,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        broker_pool_limit=4,
        broker_transport_options={
            "visibility_timeout": 300,  # a task running longer is redelivered: tasks are idempotent
            "socket_timeout": 2,
            "socket_connect_timeout": 2,
            "retry_on_timeout": False,
            "max_retries": 1,
        },
        beat_schedule={
            **BEAT_SCHEDULE,
            "email-flush": {"task": "email.flush_digests", "schedule": settings.digest_flush_seconds},
        },
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
