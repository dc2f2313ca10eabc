"""The Celery app, configured from settings with the safe settings of DESIGN.md.

`sentry_sdk.init()` runs (through `scimhub.observability`) before anything imports `celery.worker`, so task
failures reach Sentry.
"""

from __future__ import annotations

from celery import Celery

from scimhub.observability import init_observability
from scimhub.settings import load_settings

settings = load_settings()
init_observability(settings, component="worker")

app = Celery("scimhub", broker=settings.redis_url, include=["workers.audit", "workers.email"])
app.conf.update(
    task_acks_late=True,  # a task whose worker dies is redelivered (tasks are idempotent)
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_time_limit=120,
    task_soft_time_limit=100,
    task_ignore_result=True,
    task_default_queue="audit",
    task_routes={"audit.*": {"queue": "audit"}, "email.*": {"queue": "email"}},
    broker_connection_timeout=2,
    broker_connection_retry_on_startup=True,
    broker_pool_limit=4,
    # A hung Redis must not block a publisher forever (DESIGN.md pitfalls).
    broker_transport_options={
        "visibility_timeout": 300,
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
        "max_retries": 1,
        "retry_on_timeout": False,
    },
    beat_schedule={
        "audit-sweep": {"task": "audit.sweep", "schedule": 3.0},
        "audit-purge": {"task": "audit.purge", "schedule": 3600.0},
        "email-flush": {"task": "email.flush_digests", "schedule": 15.0},
    },
    timezone="UTC",
    enable_utc=True,
    worker_hijack_root_logger=False,
)
