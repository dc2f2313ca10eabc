"""The Celery app. `init_observability` (Sentry) runs before anything imports `celery.worker`, so task
failures are reported (DESIGN.md pitfalls)."""

from __future__ import annotations

from celery import signals

from scimhub.observability import init_observability
from scimhub.queue import make_celery
from scimhub.settings import load_settings

settings = load_settings()
init_observability(settings, component="worker")
app = make_celery(settings, include=["workers.audit", "workers.email", "workers.admin", "workers.events"])


@signals.task_failure.connect
def _count_task_failure(sender: object = None, **_: object) -> None:
    from scimhub import metrics

    name = getattr(sender, "name", "unknown").replace(".", "_")
    metrics.bump(settings.redis_url, f"task_failures_{name}")
