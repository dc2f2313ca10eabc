"""The task catalogue (scimhub/tasks.py): every task the workers register is named there, each periodic job is
its own beat entry, payloads cross the broker intact, and a beat entry run by hand does its job."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import msgspec
import pytest

from scimhub import admins, tasks
from tests.support.processes import Stack
from tests.support.settings import make_settings
from tests.support.tenants import create_tenant
from tests.support.waiting import wait_until

_REGISTERED = """
import json
from workers.celery_app import app
app.loader.import_default_modules()
print(json.dumps({name: t.name for name, t in app.tasks.items() if not name.startswith("celery.")}))
"""


def test_the_workers_register_exactly_the_catalogued_tasks() -> None:
    # In a child process: importing the worker app sets up its logging and Sentry, not this process's.
    out = subprocess.run(
        [sys.executable, "-c", _REGISTERED], capture_output=True, text=True, check=True, env=dict(os.environ)
    )
    registered = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(registered) == sorted(spec.name for spec in tasks.ALL)


def test_each_periodic_job_is_its_own_entry_on_the_queue_of_its_task() -> None:
    schedule = tasks.beat_schedule(make_settings(digest_flush_seconds=15.0))
    by_name = {spec.name: spec for spec in tasks.ALL}
    assert {entry: item["task"] for entry, item in schedule.items()} == {
        "audit-sweep": "audit.sweep",
        "audit-sweep-full": "audit.sweep",
        "audit-purge": "audit.purge",
        "admin-purge-sessions": "admin.purge_sessions",
        "audit-purge-events": "audit.purge_events",  # issue #14: change events past their retention
        "webhook-sweep": "webhook.sweep",  # issue #14: due webhook deliveries, found in PostgreSQL
        "email-flush": "email.flush_digests",
        "email-admin-notices": "email.flush_admin_notices",
    }
    assert schedule["admin-purge-sessions"]["schedule"] == 3600.0
    assert schedule["audit-sweep-full"]["kwargs"] == {"full": True}
    for item in schedule.values():
        assert item["options"]["queue"] == by_name[item["task"]].queue
    assert tasks.routes()["admin.purge_sessions"] == {"queue": tasks.AUDIT_QUEUE}


def test_payloads_cross_the_broker_as_keyword_arguments_and_back() -> None:
    job = tasks.SendDigest(tenant_id=7, digest_id=uuid.uuid4())
    wire = json.loads(json.dumps(msgspec.to_builtins(job)))  # what Celery's JSON serializer carries
    assert tasks.decode(tasks.SendDigest, wire) == job
    assert tasks.decode(tasks.Sweep, {}) == tasks.Sweep(full=False)
    with pytest.raises(msgspec.ValidationError):
        tasks.decode(tasks.Drain, {"tenant_ids": "1,2"})


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    s.start_worker()
    yield s
    s.stop()


@pytest.mark.slow
async def test_session_purge_runs_as_its_own_task_and_keeps_live_sessions(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    t = await create_tenant(database)
    await admins.create_admin(admin, t.tenant.id, f"it-{secrets.token_hex(3)}@acme.test", "a long enough password")
    admin_id = await admin.fetchval("SELECT id FROM public.admin_user WHERE tenant_id = $1", t.tenant.id)
    for digest, expires in (
        (b"expired-" + secrets.token_bytes(8), -60),
        (b"live-" + secrets.token_bytes(8), 3600),
    ):
        await admin.execute(
            """INSERT INTO public.admin_session (digest, admin_id, tenant_id, csrf_token, expires_at)
               VALUES ($1, $2, $3, 'x', now() + make_interval(secs => $4))""",
            digest,
            admin_id,
            t.tenant.id,
            expires,
        )
    # Started identity-provider sign-ins and sign-in attempts go too, once expired or past the throttle's look-back
    # (the worker's app login may delete them, and reads no digest doing so).
    for state, minutes in (("expired", -1), ("live", 10)):
        await admin.execute(
            """INSERT INTO public.admin_oidc_state (state_digest, tenant_id, browser_digest, nonce, code_verifier,
                   expires_at) VALUES ($1, $2, $1, 'n', 'v', now() + make_interval(mins => $3))""",
            f"{state}-{secrets.token_hex(8)}".encode(),
            t.tenant.id,
            minutes,
        )
    for days in (32, 1):
        await admin.execute(
            "INSERT INTO public.admin_signin (tenant_id, email, success, at) VALUES ($1, 'x@acme.test', false, "
            "now() - make_interval(days => $2))",
            t.tenant.id,
            days,
        )
    tasks.enqueue_scheduled(stack.publisher(), make_settings(), "admin-purge-sessions")

    async def left() -> dict[str, list[bool]]:
        rows = await admin.fetch(
            """SELECT 'session' AS kind, expires_at > now() AS live FROM public.admin_session WHERE tenant_id = $1
               UNION ALL SELECT 'state', expires_at > now() FROM public.admin_oidc_state WHERE tenant_id = $1
               UNION ALL SELECT 'attempt', at > now() - interval '2 days' FROM public.admin_signin
                   WHERE tenant_id = $1""",
            t.tenant.id,
        )
        return {kind: [r["live"] for r in rows if r["kind"] == kind] for kind in ("session", "state", "attempt")}

    done = await wait_until(left, lambda found: all(len(v) == 1 for v in found.values()), "the expired rows to go")
    assert done == {"session": [True], "state": [True], "attempt": [True]}
