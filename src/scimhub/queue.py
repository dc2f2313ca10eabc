"""The Celery application's configuration, shared by the workers and by the web process's publisher.

DESIGN.md: late acks and idempotent tasks; socket timeouts on every broker call so a hung Redis can never
block a publisher or a worker forever. Each task's name, queue, payload and schedule is in `scimhub.tasks`.
"""

from __future__ import annotations

from celery import Celery

from scimhub import tasks
from scimhub.redis_clients import celery_broker
from scimhub.settings import Settings


def make_celery(settings: Settings, *, include: list[str] | None = None) -> Celery:
    broker = celery_broker(settings.redis_url)  # redis://, rediss:// or Sentinel (settings.RedisTarget)
    app = Celery("scimhub", broker=broker.url, include=include or [])
    app.conf.update(
        task_acks_late=True,  # a task whose worker dies is redelivered (every task is idempotent)
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=120,
        task_soft_time_limit=100,
        task_ignore_result=True,
        task_default_queue=tasks.AUDIT_QUEUE,
        task_routes=tasks.routes(),
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
            **broker.transport_options,
        },
        broker_use_ssl=broker.use_ssl,
        beat_schedule=tasks.beat_schedule(settings),
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
