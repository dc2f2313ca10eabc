"""Every Celery task scimhub runs: its name, its queue, its payload, how to enqueue it, and the beat schedule.

The one place a task name is spelled. The web process (drain nudges, test mails) and the workers (which
re-queue due digests) enqueue through the functions here; `workers/*.py` register their task bodies under
these same names, and the beat runs `beat_schedule(settings)`. Names follow STYLE.md: queue prefix, verb,
noun. A payload crosses the broker as the task's keyword arguments (`msgspec.to_builtins` of its Struct) and
a task body turns them back into the Struct with `decode`, so a malformed message fails loudly instead of
half-working.

Enqueueing is a blocking broker call (about a millisecond; up to the broker timeouts of `queue.py` when Redis
is unreachable): call it from a thread in async code. Every task is idempotent (tasks are late-acked, so a
killed worker's task runs again), and retried only for transient errors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import msgspec
from celery import Celery

from scimhub.settings import Settings

AUDIT_QUEUE = "audit"  # the activity pipeline and the housekeeping jobs
EMAIL_QUEUE = "email"  # failure digests (SMTP may be slow; it never holds up the drain)
WEBHOOK_QUEUE = "webhook"  # webhook deliveries (a slow receiver never holds up the drain or the mail)
QUEUES = (AUDIT_QUEUE, EMAIL_QUEUE, WEBHOOK_QUEUE)  # what a worker listens on: `-Q audit,email,webhook`


class TaskSpec(msgspec.Struct, frozen=True):
    name: str
    queue: str


DRAIN = TaskSpec("audit.drain", AUDIT_QUEUE)  # move some tenants' outboxes into their activity logs
SWEEP = TaskSpec("audit.sweep", AUDIT_QUEUE)  # the safety net: drain every tenant with pending events
PURGE_ACTIVITY = TaskSpec("audit.purge", AUDIT_QUEUE)  # activity entries past each tenant's retention
# Housekeeping of the admin hub rides on the audit queue: a queue of its own would need every worker's
# `-Q` changed, for one cheap statement an hour.
PURGE_SESSIONS = TaskSpec("admin.purge_sessions", AUDIT_QUEUE)
FLUSH_DIGESTS = TaskSpec("email.flush_digests", EMAIL_QUEUE)  # claim due digests, queue one send each
SEND_DIGEST = TaskSpec("email.send_digest", EMAIL_QUEUE)  # mail one digest to its tenant's recipients
# Security notices (admin trail entries: token rotated, connector switched off, a new administrator ...):
# the flush claims pending ones and queues one send each (admins/notices.py, notify/admin_notice.py).
FLUSH_NOTICES = TaskSpec("email.flush_admin_notices", EMAIL_QUEUE)
SEND_NOTICE = TaskSpec("email.send_admin_notice", EMAIL_QUEUE)
# Change events (#14): the drain and sweep also position the tenants' committed changes (events.sequencer);
# deliveries run per tenant, and the webhook sweep re-finds due endpoints from PostgreSQL.
PURGE_EVENTS = TaskSpec("audit.purge_events", AUDIT_QUEUE)
DELIVER_WEBHOOKS = TaskSpec("webhook.deliver", WEBHOOK_QUEUE)
SWEEP_WEBHOOKS = TaskSpec("webhook.sweep", WEBHOOK_QUEUE)
ALL = (
    DRAIN,
    SWEEP,
    PURGE_ACTIVITY,
    PURGE_SESSIONS,
    FLUSH_DIGESTS,
    SEND_DIGEST,
    FLUSH_NOTICES,
    SEND_NOTICE,
    PURGE_EVENTS,
    DELIVER_WEBHOOKS,
    SWEEP_WEBHOOKS,
)


class Drain(msgspec.Struct, frozen=True, kw_only=True):
    tenant_ids: list[int]
    # A page of the full sweep: drain and position only the tenants with rows (probed), and check which of
    # these tenants' webhooks are due (the safety net of `events.due`).
    full_sweep: bool = False


class Sweep(msgspec.Struct, frozen=True, kw_only=True):
    full: bool = False  # False: only schemas PostgreSQL's statistics show with outbox rows; True: every tenant


class DeliverWebhooks(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: int


class SendDigest(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: int
    digest_id: uuid.UUID


class SendNotice(msgspec.Struct, frozen=True, kw_only=True):
    trail_id: int


class QueueUnavailable(Exception):
    """The broker could not take the task (Redis down or unreachable). Nothing was queued."""


P = TypeVar("P", bound=msgspec.Struct)


def decode(payload: type[P], fields: Mapping[str, Any]) -> P:
    """A task body's keyword arguments as their payload Struct; msgspec.ValidationError if they do not fit."""
    return msgspec.convert(dict(fields), payload)


def _send(celery: Celery, spec: TaskSpec, payload: msgspec.Struct | None = None) -> None:
    kwargs = msgspec.to_builtins(payload) if payload is not None else {}
    celery.send_task(spec.name, kwargs=kwargs, queue=spec.queue)


def enqueue_drain(celery: Celery, tenant_ids: Iterable[int], *, full_sweep: bool = False) -> None:
    _send(celery, DRAIN, Drain(tenant_ids=sorted(tenant_ids), full_sweep=full_sweep))


def enqueue_webhooks(celery: Celery, tenant_id: int, countdown: float | None = None) -> None:
    """Deliver a tenant's due webhook events (now, or after `countdown` seconds for a retry)."""
    celery.send_task(
        DELIVER_WEBHOOKS.name,
        kwargs=msgspec.to_builtins(DeliverWebhooks(tenant_id=tenant_id)),
        queue=DELIVER_WEBHOOKS.queue,
        countdown=countdown,
    )


def enqueue_digest(celery: Celery, tenant_id: int, digest_id: uuid.UUID) -> None:
    _send(celery, SEND_DIGEST, SendDigest(tenant_id=tenant_id, digest_id=digest_id))


def enqueue_notice(celery: Celery, trail_id: int) -> None:
    _send(celery, SEND_NOTICE, SendNotice(trail_id=trail_id))


def enqueue_notice_flush(celery: Celery) -> None:
    """Right after a security-relevant admin action commits (the beat's flush is the safety net)."""
    _send(celery, FLUSH_NOTICES)


def enqueue_scheduled(celery: Celery, settings: Settings, entry: str) -> None:
    """Run one beat entry now, exactly as the beat would send it (tests and operators drive the beat's jobs
    with this instead of waiting for its timer). KeyError for an entry the schedule does not have."""
    item = beat_schedule(settings)[entry]
    celery.send_task(item["task"], kwargs=item["kwargs"], queue=item["options"]["queue"])


def routes() -> dict[str, dict[str, str]]:
    """Celery's `task_routes`: each task to its queue."""
    return {spec.name: {"queue": spec.queue} for spec in ALL}


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Celery's `beat_schedule`: each periodic job is its own entry (and its own task)."""

    def entry(spec: TaskSpec, every: float, payload: msgspec.Struct | None = None) -> dict[str, Any]:
        kwargs = msgspec.to_builtins(payload) if payload is not None else {}
        return {"task": spec.name, "schedule": every, "kwargs": kwargs, "options": {"queue": spec.queue}}

    return {
        # Nudges after commit move events within ~a second; the sweeps catch a lost nudge (Redis restarted
        # empty, a web process killed) within seconds, and the full sweep whatever the statistics miss.
        "audit-sweep": entry(SWEEP, 3.0, Sweep(full=False)),
        "audit-sweep-full": entry(SWEEP, 60.0, Sweep(full=True)),
        "audit-purge": entry(PURGE_ACTIVITY, 3600.0),
        "admin-purge-sessions": entry(PURGE_SESSIONS, 3600.0),
        "audit-purge-events": entry(PURGE_EVENTS, 3600.0),
        # Endpoints with due events or retries, found in PostgreSQL (a lost nudge or countdown, Redis emptied).
        "webhook-sweep": entry(SWEEP_WEBHOOKS, 5.0),
        # A first failure is mailed within settle + this interval (notify/service.py has the rules).
        "email-flush": entry(FLUSH_DIGESTS, settings.digest_flush_seconds),
        # Security notices the web processes' nudge did not bring (a CLI action, Redis briefly away).
        "email-admin-notices": entry(FLUSH_NOTICES, settings.digest_flush_seconds),
    }
