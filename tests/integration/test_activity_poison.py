"""One bad event never delays another, and one tenant never delays another (issue #11 item 2).

Poison is fed three ways: through HTTP where a request can carry it (a NUL in a body or a path), straight into
the recorder (events built by hand, as a bug elsewhere could build them), and straight into an outbox (rows
the one-statement drain cannot cast). Each time the other events, and the other tenants, get through.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis

from scimhub import metrics, tasks
from scimhub.audit import drain as audit_drain
from scimhub.audit.events import ActivityEvent
from scimhub.audit.recorder import ActivityRecorder, FlushError
from scimhub.audit.sanitise import LIMITS, bounded, clean_text, sanitise
from scimhub.http.services import Services
from scimhub.notify import service as notify_service
from tests.support.events import failure, record
from tests.support.processes import LiveServer, Stack
from tests.support.tenants import TenantHandle, create_tenant
from tests.support.waiting import wait_until

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def event(**overrides: Any) -> ActivityEvent:
    fields: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "received_at": dt.datetime.now(dt.UTC).isoformat(),
        "duration_ms": 1.0,
        "request_id": uuid.uuid4().hex,
        "client_ip": None,
        "user_agent": None,
        "method": "GET",
        "path": "/scim/v2/x/Users",
        "operation": "Get user",
        "status": 404,
        "outcome": "not found",
    }
    fields.update(overrides)
    return ActivityEvent(**fields)


async def log_of(admin: asyncpg.Connection, t: TenantHandle) -> list[dict[str, Any]]:
    rows = await admin.fetch(f"SELECT * FROM {t.tenant.schema}.activity_log ORDER BY received_at, event_id")
    return [dict(r) for r in rows]


async def quarantine_of(admin: asyncpg.Connection, t: TenantHandle) -> list[dict[str, Any]]:
    rows = await admin.fetch(f"SELECT * FROM {t.tenant.schema}.activity_quarantine ORDER BY id")
    return [dict(r) for r in rows]


def random_text(n: int) -> str:
    """Text that does not compress (so an index entry of it really is `n` bytes)."""
    return secrets.token_urlsafe(n)[:n]


# ------------------------------------------------------------------------------------------------ pure rules


def test_clean_text_removes_what_postgresql_refuses_and_cuts_to_the_limit() -> None:
    assert clean_text("x\x00y\ud800z", 100) == "x\ufffdy\ufffdz"
    assert clean_text("abcdef", 4) == "abc…"
    same = "plain"
    assert clean_text(same, 10) is same


def test_bounded_cuts_every_request_field_to_its_limit() -> None:
    e = event(path="/" + "p" * 5000, resource_id="r" * 5000, target="t\x00" * 500, user_agent="u" * 999)
    assert bounded(e) is True
    assert len(e.path) == LIMITS["path"] and len(e.resource_id or "") == LIMITS["resource_id"]
    assert "\x00" not in (e.target or "") and len(e.target or "") == LIMITS["target"]
    assert bounded(e) is False  # nothing left to change


@pytest.mark.parametrize(
    "raw",
    [
        b'{"status": "abc", "method": "GET", "path": "/x"}',
        b'{"event_id": "not-a-uuid", "received_at": "yesterday", "status": 70000, "repeat": -3}',
        b'{"path": "\\u0000", "target": "\\ud800", "changed": [1, "\\u0000"], "notify": "yes"}',
        b"\xff\xfe not json at all",
        b"[1, 2, 3]",
    ],
)
def test_sanitise_makes_an_event_of_anything(raw: bytes) -> None:
    clean = json.loads(sanitise(raw))
    uuid.UUID(clean["event_id"])  # raises unless valid
    dt.datetime.fromisoformat(clean["received_at"])
    assert isinstance(clean["status"], int) and 0 <= clean["status"] <= 999 and clean["repeat"] >= 1
    assert clean["method"] and clean["path"] and clean["operation"] and clean["outcome"]
    assert "\x00" not in json.dumps(clean) and isinstance(clean["notify"], bool)


def test_sanitise_keeps_a_valid_event_id() -> None:
    eid = str(uuid.uuid4())
    assert json.loads(sanitise(json.dumps({"event_id": eid, "path": "a\x00"}).encode()))["event_id"] == eid


# ------------------------------------------------------------------------------------------------ through HTTP


async def test_poison_request_on_one_tenant_never_blinds_another(
    live_server: LiveServer, admin: asyncpg.Connection, database: str
) -> None:
    a, b = await create_tenant(database), await create_tenant(database)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as c:
        poison = b'{"schemas":["' + USER.encode() + b'"],"userName":"x\\u0000y"}'
        r = await c.post(
            f"/scim/v2/{a.slug}/Users", content=poison, headers={**a.auth, "Content-Type": "application/scim+json"}
        )
        assert r.status_code != 201  # refused (400 once the SCIM layer checks it; 500 before): either way logged
        r = await c.get(f"/scim/v2/{a.slug}/Users/%00{random_text(4000)}", headers=a.auth)
        assert r.status_code == 400  # a NUL and an over-long segment: refused by `http/wire.py`, logged all the same
        missing = str(uuid.uuid4())
        r = await c.get(f"/scim/v2/{b.slug}/Users/{missing}", headers=b.auth)
        assert r.status_code == 404

        async def b_entries() -> list[dict[str, Any]]:
            return await log_of(admin, b)

        # The web process's own timer flushes; nothing here forces it.
        rows = await wait_until(b_entries, lambda rows: len(rows) == 1, "tenant B's 404 in its activity log")
        assert rows[0]["status"] == 404 and rows[0]["resource_id"] == missing
        a_rows = await wait_until(lambda: log_of(admin, a), lambda rows: len(rows) == 2, "tenant A's two entries")
        create = next(row for row in a_rows if row["method"] == "POST")
        assert create["target"] == "x\ufffdy"
        assert all("\x00" not in json.dumps([str(v) for v in row.values()]) for row in a_rows)
        assert any(len(row["resource_id"] or "") == LIMITS["resource_id"] for row in a_rows)
        scrape = (await c.get("/metrics")).text
    assert 'scimhub_activity_sanitised_total{stage="request"}' in scrape
    line = next(x for x in scrape.splitlines() if x.startswith('scimhub_activity_sanitised_total{stage="request"}'))
    assert float(line.split()[-1]) >= 2


# ------------------------------------------------------------------------------------------------ the recorder


async def test_recorder_sets_aside_poison_events_and_writes_the_rest_on_time(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    a, b = await create_tenant(database), await create_tenant(database)
    recorder = ActivityRecorder(services.db.pool, services.db.install_id, None)
    poisons = [
        event(path="/scim/v2/a/Users/\x00"),  # NUL: UntranslatableCharacterError
        event(target="lone \ud800 surrogate"),  # not UTF-8 at all
        event(resource_id=random_text(9000)),  # index row too large: ProgramLimitExceededError
        event(status="abc"),  # a value its column cannot cast: InvalidTextRepresentationError
    ]
    good_a, good_b = event(), event()
    for e in [poisons[0], good_a, *poisons[1:]]:
        recorder.buffer(a.tenant, e)
    recorder.buffer(b.tenant, good_b)
    await recorder.flush()  # one flush: nothing raised, nothing left behind
    assert recorder.buffered == 0
    assert [str(r["event_id"]) for r in await log_of(admin, b)] == [good_b.event_id]
    logged = {str(r["event_id"]): r for r in await log_of(admin, a)}
    assert set(logged) == {good_a.event_id, *(p.event_id for p in poisons)}  # sanitised, same ids
    assert "\ufffd" in logged[poisons[0].event_id]["path"] and logged[poisons[3].event_id]["status"] == 0
    assert len(logged[poisons[2].event_id]["resource_id"]) == LIMITS["resource_id"]
    kept = await quarantine_of(admin, a)
    assert sorted(k["error_class"] for k in kept) == sorted(
        [
            "UntranslatableCharacterError",
            "InvalidTextRepresentationError",
            "ProgramLimitExceededError",
            "InvalidTextRepresentationError",
        ]
    )
    assert all(k["stage"] == "flush" and k["logged"] for k in kept)
    assert {str(k["event_id"]) for k in kept} == {p.event_id for p in poisons}
    assert b"\\u0000" in next(bytes(k["event"]) for k in kept if str(k["event_id"]) == poisons[0].event_id)
    assert (recorder.quarantined, recorder.sanitised, recorder.flushed) == (4, 4, 6)


async def test_a_failing_tenant_never_stops_the_other_tenants_flush(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    bad, good = await create_tenant(database), await create_tenant(database)
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log ADD CONSTRAINT refuse_all CHECK (false)")
    recorder = ActivityRecorder(services.db.pool, services.db.install_id, None, interval=0.05)
    recorder.start()
    try:
        kept = event()
        recorder.buffer(bad.tenant, kept)
        for _ in range(3):
            recorder.buffer(good.tenant, event())
        # The recorder's timer writes the good tenant's events while the bad one's keep failing.
        await wait_until(lambda: log_of(admin, good), lambda rows: len(rows) == 3, "the good tenant's entries")
        late = event()
        recorder.buffer(good.tenant, late)
        await wait_until(lambda: log_of(admin, good), lambda rows: len(rows) == 4, "a later event of the good tenant")
        with pytest.raises(FlushError, match=bad.slug):
            await recorder.flush()
        assert recorder.buffered == 1 and await quarantine_of(admin, bad) == []  # kept, not quarantined
        await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log DROP CONSTRAINT refuse_all")
        await recorder.flush()
        assert [str(r["event_id"]) for r in await log_of(admin, bad)] == [kept.event_id]
    finally:
        await recorder.stop()


async def test_token_failures_of_a_failing_tenant_are_kept_and_others_written(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    bad, good = await create_tenant(database), await create_tenant(database)
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log ADD CONSTRAINT refuse_all CHECK (false)")
    recorder = ActivityRecorder(services.db.pool, services.db.install_id, None)
    for slug in (bad.slug, good.slug, bad.slug):
        recorder.auth_failure(slug, event(status=401, operation="Authentication failed", outcome="failure"))
    with pytest.raises(FlushError, match=bad.slug):
        await recorder.flush()
    assert [r["repeat"] for r in await log_of(admin, good)] == [1]
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log DROP CONSTRAINT refuse_all")
    await recorder.flush()
    assert [r["repeat"] for r in await log_of(admin, bad)] == [2]


# ------------------------------------------------------------------------------------------------ the drain


async def add_outbox(admin: asyncpg.Connection, t: TenantHandle, *events: dict[str, Any]) -> None:
    for e in events:
        await admin.execute(
            f"INSERT INTO {t.tenant.schema}.audit_outbox (event) VALUES ($1::text::jsonb)", json.dumps(e)
        )


def _plain(e: ActivityEvent) -> dict[str, Any]:
    return {f: getattr(e, f) for f in e.__struct_fields__}


async def test_drain_moves_good_rows_past_poison_rows_and_quarantines_them(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    a = await create_tenant(database)
    good = [_plain(event(method="POST", status=201, outcome="success")) for _ in range(5)]
    poisons = [
        {**_plain(event()), "status": 70000},  # smallint out of range
        {**_plain(event()), "received_at": "not a time"},
        {**_plain(event()), "resource_id": random_text(9000)},  # index row too large
        {k: v for k, v in _plain(event()).items() if k != "method"},  # NOT NULL method missing
    ]
    await add_outbox(admin, a, good[0], poisons[0], good[1], poisons[1], good[2], poisons[2], good[3], poisons[3])
    await add_outbox(admin, a, good[4])
    result = await audit_drain.drain_tenant(services.db.pool, a.tenant)
    assert (result.moved, result.quarantined, result.sanitised) == (9, 4, 4)
    assert await admin.fetchval(f"SELECT count(*) FROM {a.tenant.schema}.audit_outbox") == 0
    logged = {str(r["event_id"]) for r in await log_of(admin, a)}
    assert logged == {e["event_id"] for e in good + poisons}
    kept = await quarantine_of(admin, a)
    assert sorted(k["error_class"] for k in kept) == sorted(
        [
            "NumericValueOutOfRangeError",
            "InvalidDatetimeFormatError",
            "ProgramLimitExceededError",
            "NotNullViolationError",
        ]
    )
    assert all(k["stage"] == "drain" and k["logged"] for k in kept)


async def test_a_failing_tenant_never_stops_a_drain_of_others(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    bad, good = await create_tenant(database), await create_tenant(database)
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log ADD CONSTRAINT refuse_all CHECK (false)")
    for t in (bad, good):
        await add_outbox(admin, t, _plain(event()))
    with pytest.raises(audit_drain.DrainError, match=bad.slug) as raised:
        await audit_drain.drain_tenants(services.db.pool, services.db.install_id, [bad.tenant.id, good.tenant.id])
    assert raised.value.result.moved == 1 and len(await log_of(admin, good)) == 1
    assert await admin.fetchval(f"SELECT count(*) FROM {bad.tenant.schema}.audit_outbox") == 1  # kept
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.activity_log DROP CONSTRAINT refuse_all")


async def test_a_failing_tenant_never_stops_the_digests_of_others(
    admin: asyncpg.Connection, services: Services, database: str
) -> None:
    bad = await create_tenant(database, notify_emails=["ops@example.test"])
    good = await create_tenant(database, notify_emails=["ops@example.test"])
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    for t in (bad, good):
        await record(services.db.pool, t.tenant, failure(at))
    await admin.execute(f"ALTER TABLE {bad.tenant.schema}.notify_state RENAME TO notify_state_gone")
    try:
        due = await notify_service.claim_due_digests(
            services.db.pool, services.db.install_id, settle=dt.timedelta(0), now=dt.datetime.now(dt.UTC)
        )
    finally:
        await admin.execute(f"ALTER TABLE {bad.tenant.schema}.notify_state_gone RENAME TO notify_state")
    assert good.tenant.id in {d.tenant_id for d in due} and bad.tenant.id not in {d.tenant_id for d in due}


# ------------------------------------------------------------------------------------------------ real worker


@pytest.fixture
def stack(database: str, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(database, tmp_path)
    s.redis.start()
    yield s
    s.stop()


@pytest.mark.slow
async def test_worker_drain_quarantines_a_poison_row_and_counts_it(
    stack: Stack, admin: asyncpg.Connection, database: str
) -> None:
    a, b = await create_tenant(database), await create_tenant(database)
    good_a, good_b = _plain(event()), _plain(event())
    await add_outbox(admin, a, {**_plain(event()), "duration_ms": "slow"}, good_a)
    await add_outbox(admin, b, good_b)
    stack.start_worker()
    tasks.enqueue_drain(stack.publisher(), [a.tenant.id, b.tenant.id])
    await wait_until(lambda: log_of(admin, b), lambda rows: len(rows) == 1, "tenant B's entry")
    await wait_until(lambda: log_of(admin, a), lambda rows: len(rows) == 2, "tenant A's good and sanitised entries")
    assert [k["error_class"] for k in await quarantine_of(admin, a)] == ["InvalidTextRepresentationError"]
    client = redis.Redis.from_url(stack.redis.url)
    assert int(client.get(metrics.REDIS_PREFIX + "activity_quarantined_drain") or 0) == 1
    client.close()
